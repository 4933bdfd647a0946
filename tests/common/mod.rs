//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (where Cargo.toml is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The default rule set as the body of `POST /rules`.
pub fn default_rules() -> serde_json::Value {
    let src = credo::data::rules::read_rule_dir(&root().join("rules")).unwrap();
    serde_json::json!({ "files": src.files })
}

/// A `rules.toml` text under another version label (so another rule set
/// hash), whatever version the default rules have now.
pub fn relabel_rules(toml: &str, version: &str) -> String {
    let line = toml.lines().find(|l| l.starts_with("version = ")).expect("rules.toml has a version line");
    let text = toml.replacen(line, &format!("version = \"{version}\""), 1);
    assert_ne!(text, toml, "version {version} is the default rules' own");
    text
}

pub fn sample() -> PathBuf {
    root().join("datasets/sample")
}

/// `credo --lang LANG serve` on a loopback port of the system's choosing,
/// its first start in `data` over the sample, and a reader of what it
/// prints (its language from `--lang` alone, not the environment).
pub fn spawn_serve(lang: &str, data: &Path) -> (std::process::Child, std::io::BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_credo"))
        .env_remove("CREDO_LANG")
        .args(["--lang", lang, "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--dataset")
        .arg(sample())
        .arg("--rules")
        .arg(root().join("rules"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start credo serve");
    let out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    (child, out)
}

/// Runs the `credo` binary built for these tests.
/// Runs credo in English: most tests pin English output; the Chinese
/// default is tested with [`credo_default_lang`].
pub fn credo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_credo")).env("CREDO_LANG", "en").args(args).output().expect("run credo")
}

/// Runs credo in its default language (zh-CN), whatever the environment.
pub fn credo_default_lang(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_credo")).env_remove("CREDO_LANG").args(args).output().expect("run credo")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `credo --store STORE classify --data DATA --rules rules/ --as-of AS_OF
/// --out OUT EXTRA...`: the classification the CLI tests set up, with the
/// default rules.
pub fn classify_args(store: &Path, data: &Path, as_of: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let rules = root().join("rules");
    let mut args: Vec<String> = ["--store", path_str(store), "classify", "--data", path_str(data)]
        .into_iter()
        .chain(["--rules", path_str(&rules), "--as-of", as_of, "--out", path_str(out)])
        .map(str::to_string)
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Runs [`classify_args`] (in English).
pub fn classify(store: &Path, data: &Path, as_of: &str, out: &Path, extra: &[&str]) -> Output {
    let args = classify_args(store, data, as_of, out, extra);
    credo(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Copies every file of a directory (flat) into a new temporary directory.
pub fn copy_dir(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
        }
    }
    dir
}

/// insta settings writing snapshots to the top-level `snapshots/`.
pub fn snapshot_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(root().join("snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}

/// Replaces line `n` (1-based) of a text file using `f`.
pub fn edit_line(path: &Path, n: usize, f: impl FnOnce(&str) -> String) {
    let text = std::fs::read_to_string(path).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[n - 1] = f(&lines[n - 1]);
    std::fs::write(path, lines.join("\n") + "\n").expect("write");
}

/// Appends a line to a text file.
pub fn append_line(path: &Path, line: &str) {
    let mut text = std::fs::read_to_string(path).expect("read");
    text.push_str(line);
    text.push('\n');
    std::fs::write(path, text).expect("write");
}

pub fn line(path: &Path, n: usize) -> String {
    std::fs::read_to_string(path).expect("read").lines().nth(n - 1).expect("line").to_string()
}

/// A temporary directory holding a store, and the CLI run against it.
pub struct StoreDir {
    pub dir: tempfile::TempDir,
}

impl StoreDir {
    pub fn new() -> StoreDir {
        StoreDir { dir: tempfile::tempdir().expect("tempdir") }
    }
    pub fn store(&self) -> String {
        self.path("s.db")
    }
    /// A file's path in the directory.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().expect("utf-8 path").to_string()
    }
    /// `credo --store <store> args...`.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--store".to_string(), self.store()];
        all.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        credo(&refs)
    }
    /// Like [`StoreDir::run`], asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "{args:?}: {}{}", stdout(&o), stderr(&o));
        stdout(&o)
    }
}
