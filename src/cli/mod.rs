//! The `credo` command line: parses arguments (clap) and calls the library.
//! No business logic lives here; exit codes mean 0 ok, 1 findings or failed
//! checks, 2 usage or input errors.

/// Prints a line in the chosen language: `say!(lang, "计划 {id}", "plan {id}")`
/// (both forms take the same arguments; only the chosen one is formatted).
macro_rules! say {
    ($lang:expr, $zh:literal, $en:literal $(, $($arg:tt)*)?) => {
        match $lang {
            $crate::i18n::Lang::Zh => println!($zh $(, $($arg)*)?),
            $crate::i18n::Lang::En => println!($en $(, $($arg)*)?),
        }
    };
}

mod classify;
mod datasets;
mod draw;
mod entity;
mod help;
mod objection;
mod plan;
mod rule_versions;
mod serve;
mod usage_error;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::i18n::Text;

#[derive(Parser)]
#[command(name = "credo", version, about = "Rules engine for differentiated credit supervision")]
struct Cli {
    /// The embedded store (SQLite file; created if missing).
    #[arg(long, global = true, env = "CREDO_STORE", default_value = "credo-data/credo.db")]
    store: std::path::PathBuf,
    /// Worker threads (default: one per core, and the main thread takes
    /// part in the parallel work it starts). Results do not depend on it.
    #[arg(long, global = true, env = "CREDO_THREADS")]
    threads: Option<usize>,
    /// Output language: zh-CN (default, 中文) or en.
    #[arg(long, global = true, env = "CREDO_LANG", default_value = "zh-CN")]
    lang: crate::i18n::Lang,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate, check and summarise datasets.
    #[command(subcommand)]
    Datasets(datasets::DatasetsCommand),
    /// Classify every entity of a dataset with a rule set, as of a date.
    Classify(classify::ClassifyArgs),
    /// Check, test and compare rule sets.
    #[command(subcommand)]
    Rules(classify::RulesCommand),
    /// One entity's credit over time, records and propagation paths.
    #[command(subcommand)]
    Entity(entity::EntityCommand),
    /// Blacklist propagation to persons and their other entities.
    Propagate(entity::PropagateArgs),
    /// The key-attention list and the blacklist (risk warnings per department).
    Lists(entity::ListsArgs),
    /// Objections to records (异议申诉): file, decide, list.
    #[command(subcommand)]
    Objection(objection::ObjectionCommand),
    /// Inspection plans and reproducible double-random draws.
    #[command(subcommand)]
    Draw(draw::DrawCommand),
    /// Draft plans before they are committed: staffing per county × department.
    #[command(subcommand)]
    Plan(plan::PlanCommand),
    /// Run the HTTP API (first start: imports the sample, classifies, prints a regulator token).
    Serve(serve::ServeArgs),
    /// Access tokens for the HTTP API.
    #[command(subcommand)]
    Tokens(serve::TokensCommand),
    /// Verify the store: audit log, tables, results files; checkpoints and the store's key.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain, rebuild runs, plans, visits and results from the
    /// audit payloads and compare them with the tables, check every results
    /// file; with --checkpoint, also detect truncation and rewrites.
    Verify {
        /// A signed checkpoint published earlier (`credo audit checkpoint`,
        /// GET /public/checkpoint).
        #[arg(long)]
        checkpoint: Option<std::path::PathBuf>,
        /// The key the checkpoint must be signed with (hex or a file);
        /// defaults to the store's own key.
        #[arg(long, requires = "checkpoint")]
        public_key: Option<String>,
    },
    /// Write the signed checkpoint of the audit log's head (publish it).
    Checkpoint {
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// The store's id and public key (what auditors check signatures with).
    Key,
    /// List audit entries (optionally for one subject, e.g. plan/3).
    Log {
        #[arg(long)]
        subject: Option<String>,
    },
}

/// What a command reports back: its exit status.
pub enum Outcome {
    Ok,
    /// Checks ran and found problems (exit 1).
    Findings,
}

/// What most commands classify: a dataset, a rule set and a date (one
/// definition, so every command names and documents them alike).
#[derive(clap::Args)]
pub struct Inputs {
    /// Dataset directory.
    #[arg(long)]
    pub data: std::path::PathBuf,
    /// Rule set directory (rules.toml and scripts).
    #[arg(long, default_value = "rules")]
    pub rules: std::path::PathBuf,
    /// The evaluation date: results are as known on this day.
    #[arg(long)]
    pub as_of: crate::model::Date,
}

/// An error for the user, in both languages: printed once in the chosen
/// one, exit 2.
#[derive(Debug)]
pub struct CliError(pub Text);

impl CliError {
    /// A message with one form (a path and the system's error).
    pub fn same(s: impl Into<String>) -> CliError {
        CliError(Text::same(s))
    }

    /// A file that cannot be read or written: its path and the system's
    /// message (as it is), framed in Chinese.
    pub fn file(path: impl std::fmt::Display, e: impl std::fmt::Display) -> CliError {
        CliError(Text::new(format!("无法读写文件 {path}：{e}"), format!("{path}: {e}")))
    }

    /// `head`, then the error's own text on the next line, in each
    /// language (a rule error keeps its place, line and caret).
    pub fn framed<E: std::fmt::Display + 'static>(head: Text, e: E) -> CliError {
        let detail = CliError::from(e).0;
        CliError(Text::new(format!("{}\n{}", head.zh(), detail.zh()), format!("{}\n{}", head.en(), detail.en())))
    }
}

impl<E: std::fmt::Display + 'static> From<E> for CliError {
    /// Errors that know their Chinese give it; any other shows its text.
    fn from(e: E) -> Self {
        let any: &dyn std::any::Any = &e;
        if let Some(e) = any.downcast_ref::<crate::ops::OpsError>() {
            CliError(e.text())
        } else if let Some(e) = any.downcast_ref::<crate::store::StoreError>() {
            CliError(e.text())
        } else if let Some(e) = any.downcast_ref::<crate::data::DataError>() {
            CliError(e.text())
        } else if let Some(e) = any.downcast_ref::<crate::engine::RuleError>() {
            CliError(e.text())
        } else if let Some(e) = any.downcast_ref::<crate::classify::ClassifyError>() {
            CliError(e.text())
        } else if let Some(e) = any.downcast_ref::<crate::ruletest::TestError>() {
            CliError(e.text())
        } else if let Some(e) = any.downcast_ref::<crate::draw::DrawError>() {
            CliError(e.text())
        } else if let Some(e) = any.downcast_ref::<crate::trust::TrustError>() {
            CliError(e.text())
        } else if let Some(t) = any.downcast_ref::<Text>() {
            CliError(t.clone())
        } else if let Some(e) = any.downcast_ref::<crate::model::UsccError>() {
            CliError(e.text())
        } else if let Some(e) = any.downcast_ref::<crate::model::HexError>() {
            CliError(e.text())
        } else if let Some(e) = any.downcast_ref::<crate::ops::memory::SizeError>() {
            CliError(e.text())
        } else if let Some(e) = any.downcast_ref::<crate::draw::BeaconRefused>() {
            CliError(e.text())
        } else {
            CliError(Text::same(e.to_string()))
        }
    }
}

/// `credo … | head` closes the pipe early: stop quietly with the status
/// a shell gives a process ended by SIGPIPE (128 + 13), as Unix tools do,
/// instead of printing a panic. Every other panic is reported as usual.
fn quiet_on_broken_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info.payload_as_str().unwrap_or("");
        if text.starts_with("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info);
    }));
}

pub fn run() -> ExitCode {
    quiet_on_broken_pipe();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let help_lang = help::lang_of(&args, std::env::var_os("CREDO_LANG"));
    let cmd = help::localise(<Cli as clap::CommandFactory>::command(), help_lang, &mut |_| {});
    let parsed = cmd.try_get_matches_from(args).and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            match usage_error::render(&e, help_lang) {
                Some(text) => eprint!("{text}"),
                None => {
                    let _ = e.print();
                }
            }
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    // A default pool that cannot be set up leaves rayon's own (the same
    // results, the main thread outside the pool); a number asked for
    // that cannot be had is the user's error.
    if let (Err(e), Some(n)) = (crate::ops::set_up_threads(cli.threads), cli.threads) {
        match cli.lang {
            crate::i18n::Lang::Zh => eprintln!("错误：无法设置 {n} 个线程：{e}"),
            crate::i18n::Lang::En => eprintln!("error: cannot set up {n} threads: {e}"),
        }
        return ExitCode::from(2);
    }
    // Diagnostics (e.g. per-table load timings) go to stderr when RUST_LOG
    // asks for them; `serve` logs at info by default.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let store = cli.store;
    let lang = cli.lang;
    let result = match cli.command {
        Command::Datasets(c) => datasets::run(c, lang),
        Command::Classify(a) => classify::classify_cmd(a, &store, lang),
        Command::Rules(c) => classify::rules_cmd(c, &store, lang),
        Command::Audit(c) => audit(c, &store, lang),
        Command::Draw(c) => draw::run(c, &store, lang),
        Command::Plan(c) => plan::run(c, &store, lang),
        Command::Objection(c) => objection::run(c, &store, lang),
        Command::Entity(c) => entity::entity(c, &store, lang),
        Command::Propagate(a) => entity::propagate(a, &store, lang),
        Command::Lists(a) => entity::lists(a, &store, lang),
        Command::Serve(a) => serve::serve(a, lang),
        Command::Tokens(c) => serve::tokens(c, &store, lang),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(CliError(msg)) => {
            match lang {
                crate::i18n::Lang::Zh => eprintln!("错误：{}", msg.zh()),
                crate::i18n::Lang::En => eprintln!("error: {}", msg.en()),
            }
            ExitCode::from(2)
        }
    }
}

/// A progress bar on stderr for long work; hidden when stderr is not a
/// terminal so logs and tests stay clean.
pub(crate) fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

fn audit(cmd: AuditCommand, store: &std::path::Path, lang: crate::i18n::Lang) -> Result<Outcome, CliError> {
    let store = crate::store::Store::open(store)?;
    match cmd {
        AuditCommand::Verify { checkpoint, public_key } => {
            let checkpoint = match checkpoint {
                None => None,
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| CliError::file(path.display(), e))?;
                    let key = match public_key {
                        Some(k) => draw::read_public_key(&k)?,
                        None => store.identity().public_key(),
                    };
                    let c = crate::ops::read_checkpoint(&text, &key).map_err(|e| {
                        let (path, e) = (path.display(), e.text());
                        CliError(e.map(|lang, e| match lang {
                            crate::i18n::Lang::Zh => format!("检查点 {path}：{e}"),
                            crate::i18n::Lang::En => format!("checkpoint {path}: {e}"),
                        }))
                    })?;
                    Some(c)
                }
            };
            let r = crate::ops::verify_store(&store, checkpoint.as_ref())?;
            match &r.chain {
                crate::store::ChainReport::Intact { entries, head } => {
                    say!(
                        lang,
                        "审计链     完整：{entries} 条，链头 {head}",
                        "chain      intact: {entries} entries, head {head}"
                    )
                }
                crate::store::ChainReport::Broken { seq, reason } => {
                    let reason = reason.text();
                    let reason = reason.get(lang);
                    say!(lang, "审计链     在第 {seq} 条断裂：{reason}", "chain      BROKEN at entry {seq}: {reason}")
                }
            }
            match (&r.checkpoint, &checkpoint) {
                (Some(crate::store::ChainReport::Broken { reason, .. }), _) => {
                    let reason = reason.text();
                    let reason = reason.get(lang);
                    say!(lang, "检查点     未通过：{reason}", "checkpoint FAILED: {reason}")
                }
                (Some(_), Some(c)) => say!(
                    lang,
                    "检查点     通过：第 {} 条的哈希仍为 {}",
                    "checkpoint ok: entry {} still has hash {}",
                    c.entries,
                    c.head
                ),
                _ => {}
            }
            let checked: Vec<String> = r
                .checked
                .iter()
                .map(|(k, n)| match lang {
                    crate::i18n::Lang::Zh => format!("{} {n}", checked_zh(k)),
                    crate::i18n::Lang::En => format!("{n} {k}"),
                })
                .collect();
            let checked = checked.join(match lang {
                crate::i18n::Lang::Zh => "，",
                crate::i18n::Lang::En => ", ",
            });
            let n = r.differences.len();
            if r.differences.is_empty() {
                say!(lang, "数据表     完整：{checked}", "tables     intact: {checked}");
            } else {
                say!(lang, "数据表     与审计日志有 {n} 处不一致", "tables     {n} difference(s) with the audit log");
                for (i, d) in r.differences.iter().enumerate() {
                    let d = d.text();
                    let d = d.get(lang);
                    match (lang, i) {
                        (crate::i18n::Lang::Zh, 0) => println!("  首处：{d}"),
                        (crate::i18n::Lang::Zh, _) => println!("  另有：{d}"),
                        (crate::i18n::Lang::En, 0) => println!("  first: {d}"),
                        (crate::i18n::Lang::En, _) => println!("  also:  {d}"),
                    }
                }
            }
            if r.intact {
                say!(lang, "完整", "intact");
                Ok(Outcome::Ok)
            } else {
                Ok(Outcome::Findings)
            }
        }
        AuditCommand::Checkpoint { out } => {
            let text = crate::ops::checkpoint(&store)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, format!("{text}\n")).map_err(|e| CliError::file(path.display(), e))?;
                    say!(lang, "已写入 {}", "wrote {}", path.display());
                }
                None => println!("{text}"),
            }
            Ok(Outcome::Ok)
        }
        AuditCommand::Key => {
            let (id, key) = (&store.identity().store_id, store.identity().public_key());
            say!(lang, "存储标识   {id}", "store_id   {id}");
            say!(lang, "公钥       {key}", "public_key {key}");
            Ok(Outcome::Ok)
        }
        AuditCommand::Log { subject } => {
            for e in store.read(|c| crate::store::audit::entries(c, subject.as_deref()))? {
                println!(
                    "{:>6} {} {:<10} {:<16} {:<12} {} {}",
                    e.seq,
                    e.at,
                    e.actor,
                    e.action,
                    e.subject,
                    &e.hash[..16],
                    e.payload
                );
            }
            Ok(Outcome::Ok)
        }
    }
}

/// What `credo audit verify` counted, in Chinese.
fn checked_zh(what: &str) -> &str {
    match what {
        "store identity" => "存储身份",
        "runs" => "分级分类运行",
        "results files" => "结果文件",
        "plans" => "计划",
        "frames" => "抽查框",
        "visits" => "检查任务",
        "inspection results" => "检查结果",
        "objections" => "异议",
        "approval revocations" => "审批撤销",
        other => other,
    }
}
