//! `credo classify`, `credo rules test | check | diff`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};

use super::{CliError, Outcome};
use crate::classify;
use crate::data;
use crate::engine::{RuleSet, Stage};
use crate::i18n::Lang;
use crate::model::Date;
use crate::ops;
use crate::store::Store;
use crate::tr;

#[derive(Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    inputs: super::Inputs,
    /// Use a rule version stored in the store instead of --rules: its id,
    /// or `in-force` (the version in force on --as-of, else the active one).
    #[arg(long)]
    rule_version: Option<String>,
    /// Output file, .csv or .parquet.
    #[arg(long)]
    out: PathBuf,
    /// Print this many explained entities after the summary.
    #[arg(long, default_value_t = 0)]
    explain: usize,
    /// Evaluate every rule in Rhai alone, without the compiled fast path
    /// (slower, same results: a cross-check of the fast path).
    #[arg(long)]
    interpreted: bool,
    #[command(flatten)]
    shards: ShardArgs,
}

/// How a run is cut into shards (results never depend on it; the output
/// file's row groups follow the shards, so its bytes do, not its rows).
#[derive(Args, Clone)]
pub struct ShardArgs {
    /// Entities per shard: memory follows the shard, not the dataset.
    #[arg(long, default_value_t = classify::DEFAULT_SHARD_SIZE)]
    shard_size: usize,
    /// Where shards wait between the two halves of a run (default: the
    /// system's temporary directory).
    #[arg(long)]
    spill_dir: Option<PathBuf>,
    /// The memory a run may use: `auto` (what the machine or its container
    /// has available), `off`, or a size such as 4G. Checked before the
    /// dataset is read.
    #[arg(long, env = "CREDO_MAX_MEMORY", default_value = "auto")]
    max_memory: ops::memory::MemoryLimit,
}

impl ShardArgs {
    pub fn options(&self) -> classify::Options {
        classify::Options { shard_size: self.shard_size, spill_dir: self.spill_dir.clone() }
    }

    /// Refuses, before reading it, a dataset whose run would not fit in
    /// memory (see `ops::memory`).
    pub fn preflight(&self, data: &Path) -> Result<ops::memory::Fits, CliError> {
        let fits = ops::memory::preflight(data, self.shard_size, self.max_memory)?;
        tracing::debug!(?fits, "memory check");
        Ok(fits)
    }
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Compile and check a rule set (every entry point, on probe entities).
    Check {
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
    },
    /// Run the rule set's tests (rules/tests/*.toml).
    Test {
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        /// Also list passing cases.
        #[arg(short, long)]
        verbose: bool,
    },
    /// What a rule change does: tier migration, change in expected
    /// inspections, and sample entities that move, with both explanations.
    Diff {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        to: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        as_of: Date,
        /// Sample entities listed per migration cell.
        #[arg(long, default_value_t = 2)]
        samples: usize,
        #[command(flatten)]
        shards: ShardArgs,
    },
    /// Rule versions in the store, with effective dates (scheduled changes).
    #[command(subcommand)]
    Versions(super::rule_versions::VersionsCommand),
}

/// Compiles the rule set in `dir`; a broken rule is a usage error (exit 2).
pub fn load_rules(dir: &Path) -> Result<RuleSet, CliError> {
    let src = data::rules::read_rule_dir(dir).map_err(CliError::from)?;
    RuleSet::compile(&src)
        .map_err(|e| CliError::framed(tr!("规则集 {} 无法加载：", "rule set {} does not load:", dir.display()), e))
}

fn spinner() -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"));
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// Wall-clock time per phase, printed after a run so users see where the
/// time went.
#[derive(Default)]
pub struct Timings(std::sync::Mutex<Vec<(String, Instant)>>);

impl Timings {
    pub fn mark(&self, label: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push((label.to_string(), Instant::now()));
    }

    /// Time per phase; a phase repeated per shard ("facts 2/15") is summed.
    pub fn render(&self) -> String {
        let marks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut phases: Vec<(String, f64)> = Vec::new();
        for w in marks.windows(2) {
            let label = w[0].0.split(' ').next().unwrap_or("").to_string();
            let secs = (w[1].1 - w[0].1).as_secs_f64();
            match phases.iter_mut().find(|(l, _)| *l == label) {
                Some(p) => p.1 += secs,
                None => phases.push((label, secs)),
            }
        }
        phases.iter().map(|(l, s)| format!("{l} {s:.2}s")).collect::<Vec<_>>().join(", ")
    }
}

/// Entities a user asked to see explained: the first `n` of tier 2 or
/// worse in dataset order.
struct Explained {
    n: usize,
    lang: crate::i18n::Lang,
    picked: Vec<(u32, String)>,
}

impl Explained {
    fn see(&mut self, results: &[classify::EntityResult]) {
        for r in results.iter().filter(|r| r.tier > 1) {
            if self.picked.len() < self.n || self.picked.last().is_some_and(|(row, _)| *row > r.row) {
                let at = self.picked.partition_point(|(row, _)| *row < r.row);
                self.picked.insert(
                    at,
                    (
                        r.row,
                        format!(
                            "\n{} {} [{}]\n  {}",
                            r.uscc,
                            r.name,
                            crate::i18n::tier_name(r.tier, self.lang),
                            r.explanation_in(self.lang)
                        ),
                    ),
                );
                self.picked.truncate(self.n);
            }
        }
    }
}

pub fn classify_cmd(a: ClassifyArgs, store_path: &Path, lang: crate::i18n::Lang) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let timings = Timings::default();
    timings.mark("rules");
    let store = Store::open(store_path)?;
    let (mut rules, version, choice) =
        super::rule_versions::rules_for_run(&store, &a.inputs.rules, a.rule_version.as_deref(), a.inputs.as_of)?;
    rules.set_native(!a.interpreted);
    let native_before = rules.native_stages();
    let fits = a.shards.preflight(&a.inputs.data)?;
    // Freed memory reused while the run is well under its estimate.
    let _keeping = ops::retain::Keeping::begin(fits.estimate.peak_bytes);
    timings.mark("load");
    let pb = spinner();
    let loaded = data::load_with(&a.inputs.data, &|table| {
        pb.set_message(match lang {
            Lang::Zh => format!("读取 {table}"),
            Lang::En => format!("reading {table}"),
        })
    });
    pb.finish_and_clear();
    let mut loaded = loaded?;
    ops::add_submitted(&store, &mut loaded.snapshot).map_err(CliError::from)?;
    let run = ops::begin_run(&store, &loaded.hash, &a.inputs.data.display().to_string(), &rules, a.inputs.as_of, "cli")
        .map_err(CliError::from)?;
    // A stored version is recorded with why it was chosen (a directory
    // run is known by its rules hash).
    if let Some(v) = version {
        ops::rule_versions::record_choice(&store, run, version, &choice, "cli")?;
        match lang {
            Lang::Zh => println!("规则版本 {v}：{}", choice_zh(&choice)),
            Lang::En => println!("rule version {v}: {choice}"),
        }
    }
    let pb = spinner();
    let mut explained = Explained { n: a.explain, lang, picked: Vec::new() };
    let options = a.shards.options();
    let req = ops::RunRequest {
        run,
        snapshot: &loaded.snapshot,
        rules: &rules,
        as_of: a.inputs.as_of,
        actor: "cli",
        output: Some((&a.out, lang)),
        options: &options,
    };
    let result = ops::execute_run(
        &store,
        &req,
        &|stage| {
            timings.mark(stage);
            pb.set_message(match lang {
                Lang::Zh => format!("分级分类：{stage}"),
                Lang::En => format!("classifying: {stage}"),
            });
        },
        &mut |shard| explained.see(shard),
    );
    pb.finish_and_clear();
    let c = result.map_err(|e| CliError::framed(tr!("分级分类失败：", "classification failed:"), e))?;
    timings.mark("end");

    let (data, as_of, label) = (a.inputs.data.display(), a.inputs.as_of, rules.label());
    say!(lang, "运行 {run}：{data}，评价日期 {as_of}，规则 {label}", "run {run}: {data} as of {as_of} with {label}");
    say!(lang, "数据集 {}\n规则   {}", "dataset {}\nrules   {}", loaded.hash, rules.hash());
    println!();
    print!("{}", c.summary.render(lang));
    println!("{}", tier_legend(&c.summary, lang));
    println!();
    say!(lang, "各阶段的规则调用（相同输入只计算一次）：", "rule calls per stage (distinct inputs evaluated once):");
    // Calls the compiled fast path answered in this run, and those it
    // handed to Rhai (the counts before the run are the probe check's).
    let native: Vec<(Stage, u64, u64)> = rules
        .native_stages()
        .into_iter()
        .map(|(st, calls, bails)| {
            let (c0, b0) = native_before.iter().find(|(s, ..)| *s == st).map_or((0, 0), |(_, c, b)| (*c, *b));
            (st, calls - c0, bails - b0)
        })
        .collect();
    for (stage, stats) in &c.stages {
        let (name, entities, calls) = (stage.name(), stats.entities, stats.calls);
        let how = match native.iter().find(|(s, ..)| s == stage) {
            None => String::new(),
            Some((_, fast, 0)) => tr!("，编译执行 {fast}", ", {fast} compiled").get(lang).to_string(),
            Some((_, fast, slow)) => {
                tr!("，编译执行 {fast}，Rhai 执行 {slow}", ", {fast} compiled, {slow} in Rhai").get(lang).to_string()
            }
        };
        say!(
            lang,
            "  {name:<14} {entities:>10} 个主体 {calls:>9} 次调用{how}",
            "  {name:<14} {entities:>10} entities {calls:>9} calls{how}"
        );
    }
    for (_, text) in &explained.picked {
        println!("{text}");
    }
    let (out, secs) = (a.out.display(), started.elapsed().as_secs_f64());
    say!(lang, "\n已写入 {out}，用时 {secs:.1} 秒", "\nwrote {out} in {secs:.1}s");
    say!(lang, "各阶段用时：{}", "time: {}", timings.render());
    Ok(Outcome::Ok)
}

/// Why a stored rule version was chosen, in Chinese (`RuleChoice`'s
/// `Display` is the English).
pub(crate) fn choice_zh(choice: &ops::rule_versions::RuleChoice) -> String {
    use ops::rule_versions::RuleChoice;
    match choice {
        RuleChoice::Named => "按名称指定".to_string(),
        RuleChoice::InForce { on, from } => format!("{on} 时有效（自 {from} 起生效）"),
        RuleChoice::Active { on } => format!("当前启用的版本（{on} 没有已排期的版本）"),
        RuleChoice::Directory(d) => format!("目录 {d}"),
    }
}

/// The tiers with the plan's names and their counts, in `lang`.
fn tier_legend(s: &classify::Summary, lang: crate::i18n::Lang) -> String {
    let head = match lang {
        crate::i18n::Lang::Zh => "信用等级",
        crate::i18n::Lang::En => "tiers",
    };
    let parts: Vec<String> = (1..=4u8)
        .map(|t| format!("{t} {} {}", crate::i18n::tier_name(t, lang), s.tiers.get(&t).copied().unwrap_or(0)))
        .collect();
    format!("\n{head}: {}", parts.join(" · "))
}

pub fn rules_cmd(cmd: RulesCommand, store: &Path, lang: Lang) -> Result<Outcome, CliError> {
    match cmd {
        RulesCommand::Versions(c) => super::rule_versions::run(c, store, lang),
        RulesCommand::Check { rules } => {
            let r = load_rules(&rules)?;
            say!(lang, "通过：{}（{}）", "ok: {} ({})", r.label(), r.hash());
            for stage in Stage::ALL {
                if let Some(e) = r.manifest.entries.get(stage) {
                    let (name, reads) = (stage.name(), e.reads.names().join(", "));
                    let (file, function, clause) = (&e.file, &e.function, &e.clause);
                    say!(
                        lang,
                        "  {name:<14} {file}:{function} {clause} 读取 [{reads}]",
                        "  {name:<14} {file}:{function} {clause} reads [{reads}]"
                    );
                }
            }
            Ok(Outcome::Ok)
        }
        RulesCommand::Test { rules, verbose } => {
            let r = load_rules(&rules)?;
            let outcomes = crate::ruletest::run(&r)
                .map_err(|e| CliError::framed(tr!("规则测试无法运行：", "rule tests could not run:"), e))?;
            print!("{}", crate::ruletest::render(&outcomes, verbose, lang));
            if outcomes.is_empty() {
                return Err(CliError(tr!(
                    "{}/tests 中没有规则测试",
                    "no rule tests found in {}/tests",
                    rules.display()
                )));
            }
            Ok(if outcomes.iter().any(|o| !o.failures.is_empty()) { Outcome::Findings } else { Outcome::Ok })
        }
        RulesCommand::Diff { from, to, data: dir, as_of, samples, shards } => {
            let old = load_rules(&from)?;
            let new = load_rules(&to)?;
            shards.preflight(&dir)?;
            let loaded = data::load(&dir)?;
            let pb = spinner();
            pb.set_message(match lang {
                Lang::Zh => "用两套规则分别分级分类",
                Lang::En => "classifying with both rule sets",
            });
            let diff = ops::rules::diff(&loaded.snapshot, &old, &new, as_of, &shards.options(), samples);
            pb.finish_and_clear();
            let diff = diff.map_err(|e| {
                CliError::framed(tr!("分级分类因规则错误而停止：", "classification stopped by a rule error:"), e)
            })?;
            say!(
                lang,
                "原规则 {}（{}）\n新规则 {}（{}）\n数据   {}，评价日期 {as_of}\n",
                "from {} ({})\nto   {} ({})\ndata {} as of {as_of}\n",
                old.label(),
                old.hash(),
                new.label(),
                new.hash(),
                loaded.hash
            );
            print!(
                "{}",
                match lang {
                    Lang::Zh => &diff.text_zh,
                    Lang::En => &diff.text,
                }
            );
            Ok(Outcome::Ok)
        }
    }
}
