//! `credo classify` and `credo rules test | check | diff` through the binary.

use std::path::Path;

use crate::common::*;

/// The sample classified as of 2026-06-30 into `out`.
fn classify_sample(out: &Path, store: &Path, extra: &[&str]) -> std::process::Output {
    classify(store, &sample(), "2026-06-30", out, extra)
}

/// The part of classify's output that does not vary between runs.
fn stable(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| !l.starts_with("wrote ") && !l.starts_with("run ") && !l.starts_with("time: "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn default_rules_pass_their_tests() {
    let o = credo(&["rules", "test", "--rules", root().join("rules").to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("PASS: "), "{}", stdout(&o));
    assert!(!stdout(&o).contains("FAIL"), "{}", stdout(&o));
}

#[test]
fn classify_sample_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.csv");
    let o = classify_sample(&out, &tmp.path().join("s.db"), &["--explain", "4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    snapshot_settings().bind(|| insta::assert_snapshot!("classify_sample", stable(&stdout(&o))));
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(csv.lines().count(), 10_001, "one row per entity plus the header");
    assert!(csv.starts_with("uscc,name,city,county,tier,tier_name,risk,probability,tolerance_until,exemptions,"));
}

#[test]
fn classification_is_byte_identical_across_runs_and_thread_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (tmp.path().join("a.csv"), tmp.path().join("b.csv"), tmp.path().join("c.parquet"));
    let d = tmp.path().join("d.parquet");
    assert!(classify_sample(&a, &tmp.path().join("s.db"), &[]).status.success());
    assert!(classify_sample(&b, &tmp.path().join("s.db"), &["--threads", "1"]).status.success());
    assert!(classify_sample(&c, &tmp.path().join("s.db"), &["--threads", "2"]).status.success());
    assert!(classify_sample(&d, &tmp.path().join("s.db"), &["--threads", "1"]).status.success());
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "1 thread and all threads differ (CSV)");
    assert!(std::fs::read(&c).unwrap() == std::fs::read(&d).unwrap(), "1 thread and 2 threads differ (Parquet)");
    // Every run was recorded, with the dataset and rule-set hashes.
    let o = credo(&["--store", tmp.path().join("s.db").to_str().unwrap(), "audit", "log"]);
    let log = stdout(&o);
    assert_eq!(log.matches("run.finish").count(), 4, "{log}");
    assert!(log.contains("\"dataset_hash\":\"sha256:"), "{log}");
    assert!(log.contains("\"rules_hash\":\"sha256:"), "{log}");
    let o = credo(&["--store", tmp.path().join("s.db").to_str().unwrap(), "audit", "verify"]);
    // 8 entries for the runs, 1 for the store's identity; the runs table
    // and every results file match what the log recorded.
    let out = stdout(&o);
    assert!(o.status.success() && out.starts_with("chain      intact: 9 entries"), "{out}");
    assert!(out.contains("4 results files, 4 runs") && out.trim_end().ends_with("intact"), "{out}");
}

/// The binary keeps freed memory for reuse during a run (`ops::retain`,
/// its allocator registered by `main`), unless the user set mimalloc's
/// delay; the results are the same either way.
#[test]
fn a_run_keeps_freed_memory_unless_the_user_set_the_allocators_delay() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &Path, env: &[(&str, &str)]| {
        let args = classify_args(&tmp.path().join("s.db"), &sample(), "2026-06-30", out, &[]);
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_credo"));
        c.env("CREDO_LANG", "en")
            .env("RUST_LOG", "credo::ops::retain=debug")
            .env_remove("MIMALLOC_PURGE_DELAY")
            .env_remove("MIMALLOC_RESET_DELAY");
        let o = c.envs(env.iter().copied()).args(&args).output().expect("run credo");
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    let (kept, chosen) = (tmp.path().join("kept.parquet"), tmp.path().join("chosen.parquet"));
    let log = run(&kept, &[]);
    assert!(log.contains("freed memory kept for reuse"), "{log}");
    let log = run(&chosen, &[("MIMALLOC_PURGE_DELAY", "1000")]);
    assert!(!log.contains("kept for reuse"), "{log}");
    assert!(std::fs::read(&kept).unwrap() == std::fs::read(&chosen).unwrap(), "the results differ");
}

/// `--interpreted` runs every rule in Rhai alone: the same output, and
/// the per-stage counts of compiled calls are gone.
#[test]
fn the_compiled_fast_path_and_rhai_alone_write_the_same_results() {
    let tmp = tempfile::tempdir().unwrap();
    let (fast, slow) = (tmp.path().join("fast.csv"), tmp.path().join("slow.csv"));
    let a = classify_sample(&fast, &tmp.path().join("s.db"), &[]);
    let b = classify_sample(&slow, &tmp.path().join("s.db"), &["--interpreted"]);
    assert!(a.status.success() && b.status.success(), "{}{}", stderr(&a), stderr(&b));
    assert!(std::fs::read(&fast).unwrap() == std::fs::read(&slow).unwrap(), "the two outputs differ");
    let record_status = |o: &std::process::Output| {
        stdout(o).lines().find(|l| l.trim_start().starts_with("record_status")).unwrap_or_default().to_string()
    };
    assert!(record_status(&a).ends_with(" compiled"), "{}", stdout(&a));
    assert!(!record_status(&b).contains("compiled"), "{}", stdout(&b));
}

/// Two stores in one directory keep their results apart: each run 1 has
/// its own results file (`<store>.results/`), and both audits stay intact.
/// A store made when results lived in `results/` is still read there.
#[test]
fn two_stores_in_one_directory_keep_their_results_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.db"), tmp.path().join("b.db"));
    assert!(classify_sample(&tmp.path().join("a.csv"), &a, &[]).status.success());
    assert!(classify(&b, &sample(), "2025-06-30", &tmp.path().join("b.csv"), &[]).status.success());
    let (ra, rb) =
        (credo::store::results_dir(&a).join("run-1.parquet"), credo::store::results_dir(&b).join("run-1.parquet"));
    assert!(ra.exists() && rb.exists() && ra != rb, "{} {}", ra.display(), rb.display());
    assert_ne!(std::fs::read(&ra).unwrap(), std::fs::read(&rb).unwrap(), "two dates, two results");
    for store in [&a, &b] {
        let o = credo(&["--store", store.to_str().unwrap(), "audit", "verify"]);
        assert!(o.status.success() && stdout(&o).trim_end().ends_with("intact"), "{}", stdout(&o));
    }

    // The older layout: a's results moved to `results/` next to the store.
    let legacy = tmp.path().join("results");
    std::fs::rename(credo::store::results_dir(&a), &legacy).unwrap();
    let o = credo(&["--store", a.to_str().unwrap(), "audit", "verify"]);
    assert!(o.status.success() && stdout(&o).trim_end().ends_with("intact"), "{}", stdout(&o));
    assert!(stdout(&o).contains("1 results files"), "{}", stdout(&o));
}

/// Shards change only memory: a run cut into ten shards (spilled to disk
/// between its two halves) writes the same bytes as a run in one.
#[test]
fn classification_is_identical_for_any_shard_size() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.csv"), tmp.path().join("b.csv"));
    let spill = tmp.path().join("spill");
    std::fs::create_dir_all(&spill).unwrap();
    let o = classify_sample(&a, &tmp.path().join("s.db"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = classify_sample(
        &b,
        &tmp.path().join("s.db"),
        &["--shard-size", "1000", "--spill-dir", spill.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "one shard and ten shards differ");
    // The spill is gone when the run ends.
    assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 0);
}

/// Every entity's result (tier, probability, explanation, blacklist,
/// propagation) on a generated dataset of 20,000 entities, pinned by the
/// SHA-256 of the output's lines in credit-code order. The digest was made
/// by credo before the columnar rewrite (which classified row by row in
/// dataset order): the rewrite changed no result.
#[test]
fn results_are_pinned_on_a_generated_dataset() {
    use sha2::{Digest, Sha256};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let o = credo(&["datasets", "generate", "--entities", "20000", "--seed", "11", "--out", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = tmp.path().join("out.csv");
    let o = classify(&tmp.path().join("s.db"), &data, "2026-06-30", &out, &["--shard-size", "7000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].sort_unstable();
    let mut h = Sha256::new();
    for l in &lines {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    assert_eq!(hex::encode(h.finalize()), "19cf4fd03824d9443185f0fc8ee24f0e1d3ac65067dc0956edc4fd9596d79b51");
}

/// issue #13: output files carry the numeric tier and its name, in
/// Chinese by default and in English with --lang en.
#[test]
fn classify_names_tiers_in_chinese_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |lang: Option<&str>, out: &str| {
        let out = tmp.path().join(out);
        let mut args: Vec<String> = lang.map(|l| vec!["--lang".to_string(), l.to_string()]).unwrap_or_default();
        args.extend(classify_args(&tmp.path().join("s.db"), &sample(), "2026-06-30", &out, &["--explain", "1"]));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = credo_default_lang(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        (stdout(&o), std::fs::read_to_string(&out).unwrap())
    };
    let (printed, zh) = run(None, "zh.csv");
    assert!(printed.contains("信用等级: 1 诚信守法"), "{printed}");
    // The summary table speaks Chinese too, and no English label is left.
    for label in ["已分级分类主体：", "各市信用等级", "风险等级", "预计每年随机抽查", "重点关注名单", "严重失信名单"]
    {
        assert!(printed.contains(label), "{label}: {printed}");
    }
    for english in ["entities classified", "tiers by city", "risk levels", "key-attention list", "rule calls"] {
        assert!(!printed.contains(english), "{english}: {printed}");
    }
    let header: Vec<&str> = zh.lines().next().unwrap().split(',').collect();
    assert_eq!(&header[4..6], ["tier", "tier_name"]);
    for (tier, name) in [("1", "诚信守法"), ("2", "轻微失信"), ("3", "一般失信"), ("4", "严重失信")] {
        assert!(zh.lines().any(|l| l.split(',').nth(4) == Some(tier) && l.split(',').nth(5) == Some(name)), "{name}");
    }
    let (printed, en) = run(Some("en"), "en.csv");
    assert!(printed.contains("tiers: 1 trustworthy"), "{printed}");
    assert!(en.lines().any(|l| l.split(',').nth(5) == Some("serious dishonesty")));
    // The same rows and numbers in both languages.
    assert_eq!(zh.lines().count(), en.lines().count());
}

#[test]
fn classify_refuses_a_broken_dataset() {
    let dir = copy_dir(&sample());
    edit_line(&dir.path().join("entities.csv"), 2, |l| l.replacen("91", "9I", 1));
    let tmp = tempfile::tempdir().unwrap();
    let o = classify(&tmp.path().join("s.db"), dir.path(), "2026-06-30", &tmp.path().join("x.csv"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("entities.csv row 1 (line 2) column uscc"), "{}", stderr(&o));
    assert!(!tmp.path().join("x.csv").exists());
}

/// A copy of the default rules with one edit to one script.
fn broken_rules(file: &str, edit: impl FnOnce(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["", "tests"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for e in std::fs::read_dir(root().join("rules").join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), dir.path().join(sub).join(e.file_name())).unwrap();
            }
        }
    }
    let p = dir.path().join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, edit(&text)).unwrap();
    dir
}

fn rules_test(dir: &Path) -> (Option<i32>, String) {
    let started = std::time::Instant::now();
    let o = credo(&["rules", "test", "--rules", dir.to_str().unwrap()]);
    assert!(started.elapsed().as_secs() < 30, "a broken rule must not hang");
    (o.status.code(), stderr(&o))
}

#[test]
fn broken_rules_give_positioned_errors_and_exit_2() {
    let grade = "    let grade = e.composite_grade;";
    type Edit = Box<dyn Fn(&str) -> String>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "syntax error",
            Box::new(|t: &str| t.replace("if serious.len() > 0 {", "if serious.len() > 0 {{")),
            "tier.rhai:",
        ),
        (
            "endless loop",
            Box::new(move |t: &str| {
                t.replace(grade, &format!("{grade}\n    let i = 0;\n    while true {{ i += 1; }}"))
            }),
            "more than 500000 operations",
        ),
        (
            "missing field",
            Box::new(move |t: &str| t.replace(grade, "    let grade = e.composite_grad;")),
            "tier.rhai:79:19: Unknown property 'composite_grad'",
        ),
        (
            "division by zero",
            Box::new(move |t: &str| t.replace(grade, &format!("{grade}\n    let x = 1 / serious.len();"))),
            "tier.rhai:80:15: Division by zero",
        ),
        (
            "index out of range",
            Box::new(move |t: &str| t.replace(grade, &format!("{grade}\n    let first = serious[3];"))),
            "tier.rhai:80:25: Array index 3 out of bounds",
        ),
        (
            "endless recursion",
            Box::new(|t: &str| {
                t.replace("fn tier(e) {", "fn forever(n) { forever(n + 1) }\nfn tier(e) {\n    forever(0);")
            }),
            "endless recursion",
        ),
        (
            "wrong return type",
            Box::new(|t: &str| {
                t.replace(
                    "#{ tier: 1, reason: #{ zh: \"无相关失信行为\", en: \"no relevant dishonesty\" } }",
                    "\"one\"",
                )
            }),
            "`tier` returned string; expected #{ tier: 1..=4",
        ),
        (
            "undeclared field",
            Box::new(|t: &str| {
                t.replace("let grade = e.composite_grade;", "let grade = e.composite_grade;\n    let s = e.status;")
            }),
            "rule `tier` reads `status` but rules.toml does not list \"status\" in entries.tier.reads",
        ),
    ];
    for (what, edit, expected) in cases {
        let dir = broken_rules("tier.rhai", edit);
        let (code, err) = rules_test(dir.path());
        assert_eq!(code, Some(2), "{what}: {err}");
        assert!(err.contains(expected), "{what}: expected {expected:?} in:\n{err}");
        assert!(err.contains("tier.rhai:"), "{what}: no position in:\n{err}");
    }
}

#[test]
fn rules_check_refuses_statements_outside_functions_and_unknown_keys() {
    type Edit = Box<dyn Fn(&str) -> String>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "let outside a function",
            Box::new(|t: &str| format!("{t}\nlet threshold = 5;\n")),
            "refused: `let` outside a function",
        ),
        (
            "loop outside a function",
            Box::new(|t: &str| t.replace("fn tier(e) {", "loop {}\nfn tier(e) {")),
            "refused: a statement outside a function",
        ),
        (
            "misspelt key",
            Box::new(|t: &str| t.replace("#{ tier: 1, reason:", "#{ tier: 1, tierr: 2, reason:")),
            "unknown key(s) tierr in the returned map",
        ),
    ];
    for (what, edit, expected) in cases {
        let dir = broken_rules("tier.rhai", edit);
        let o = credo(&["rules", "check", "--rules", dir.path().to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(expected), "{what}: expected {expected:?} in:\n{err}");
        assert!(err.contains("tier.rhai:"), "{what}: no position in:\n{err}");
    }
    // A constant outside a function is fine.
    let dir = broken_rules("tier.rhai", |t| format!("const LIMIT = 5;\n{t}"));
    let o = credo(&["rules", "check", "--rules", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_manifest_error_names_the_line() {
    let dir = broken_rules("rules.toml", |t| {
        t.replace("reads = [\"industry\", \"new_economy\"]", "reads = [\"industry\", \"colour\"]")
    });
    let (code, err) = rules_test(dir.path());
    assert_eq!(code, Some(2));
    assert!(err.contains("entries.tolerance.reads: unknown field 'colour'"), "{err}");
}

#[test]
fn a_failing_rule_test_shows_a_diff_and_exits_1() {
    let dir = broken_rules("rules.toml", |t| {
        t.replace("probability_by_tier = [0.0, 0.05, 0.15, 0.6]", "probability_by_tier = [0.0, 0.06, 0.15, 0.6]")
    });
    let o = credo(&["rules", "test", "--rules", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("FAIL tier 2 is inspected with a low probability"), "{out}");
    assert!(out.contains("probability\n      expected 0.050000\n      got      0.060000"), "{out}");
}

#[test]
fn rules_diff_shows_migration_and_movers() {
    let dir = broken_rules("tier.rhai", |t| t.replace("if general.len() >= 2 {", "if general.len() >= 1 {"));
    let o = credo(&[
        "rules",
        "diff",
        "--from",
        root().join("rules").to_str().unwrap(),
        "--to",
        dir.path().to_str().unwrap(),
        "--data",
        sample().to_str().unwrap(),
        "--as-of",
        "2026-06-30",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("tier migration (rows: before, columns: after)"), "{out}");
    assert!(out.contains("tier 2 → 3"), "{out}");
    assert!(out.contains("before: ") && out.contains("after:  "), "{out}");
    // Rule-set hashes change with every edit of the default rules; the
    // migration and the movers are what is pinned.
    let body: String =
        out.lines().filter(|l| !l.starts_with("from ") && !l.starts_with("to ")).collect::<Vec<_>>().join("\n");
    snapshot_settings().bind(|| insta::assert_snapshot!("rules_diff_one_general_penalty", body));
}

#[test]
fn a_run_that_would_not_fit_in_memory_is_refused_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let (store, out) = (dir.path().join("s.db"), dir.path().join("o.csv"));
    // English: what it needs, what the limit is, and how to go on.
    let o = classify(&store, &sample(), "2026-06-30", &out, &["--max-memory", "50M"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("not enough memory, the dataset was not read"), "{e}");
    assert!(e.contains("the limit given by --max-memory is 50 MB"), "{e}");
    assert!(!out.exists(), "nothing written");
    // Chinese by default, and through the environment.
    let args = classify_args(&store, &sample(), "2026-06-30", &out, &[]);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_credo"))
        .env_remove("CREDO_LANG")
        .env("CREDO_MAX_MEMORY", "50M")
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("内存不足，未读取数据集") && e.contains("50 MB"), "{e}");
    // A limit it fits in, and no check at all, both run.
    for limit in ["64G", "off"] {
        let o = classify(&store, &sample(), "2026-06-30", &out, &["--max-memory", limit]);
        assert!(o.status.success(), "{limit}: {}", stderr(&o));
    }
    // A size that is not one is refused by the parser.
    let o = classify(&store, &sample(), "2026-06-30", &out, &["--max-memory", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("lots"), "{}", stderr(&o));
}

#[test]
fn output_cut_short_by_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let args = classify_args(
        &dir.path().join("s.db"),
        &sample(),
        "2026-06-30",
        &dir.path().join("o.csv"),
        &["--explain", "10000"],
    );
    // Ten thousand explanations: far more than a pipe holds, so credo is
    // still writing when the reader (like `head`) stops reading.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_credo"))
        .env("CREDO_LANG", "en")
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The read end is closed here (dropped).
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(141), "{err}");
}
