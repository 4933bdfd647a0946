//! `credo classify`, `credo rules test | check | diff`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};

use super::{CliError, Outcome};
use crate::classify::{self, Classification};
use crate::data;
use crate::engine::{RuleSet, Stage};
use crate::model::Date;
use crate::ops;
use crate::store::Store;

#[derive(Args)]
pub struct ClassifyArgs {
    /// Dataset directory.
    #[arg(long)]
    data: PathBuf,
    /// Rule set directory (rules.toml and scripts).
    #[arg(long, default_value = "rules")]
    rules: PathBuf,
    /// The evaluation date: results are as known on this day.
    #[arg(long)]
    as_of: Date,
    /// Output file, .csv or .parquet.
    #[arg(long)]
    out: PathBuf,
    /// Print this many explained entities after the summary.
    #[arg(long, default_value_t = 0)]
    explain: usize,
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
    },
}

/// Compiles the rule set in `dir`; a broken rule is a usage error (exit 2).
pub fn load_rules(dir: &Path) -> Result<RuleSet, CliError> {
    let src = data::rules::read_rule_dir(dir).map_err(CliError)?;
    RuleSet::compile(&src).map_err(|e| CliError(format!("rule set {} does not load:\n{e}", dir.display())))
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

    pub fn render(&self) -> String {
        let marks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut parts = Vec::new();
        for w in marks.windows(2) {
            parts.push(format!("{} {:.2}s", w[0].0, (w[1].1 - w[0].1).as_secs_f64()));
        }
        parts.join(", ")
    }
}

/// Runs a classification with a spinner naming the stage.
pub fn run_classification(
    ds: &crate::model::Dataset,
    rules: &RuleSet,
    as_of: Date,
    timings: &Timings,
) -> Result<Classification, CliError> {
    let pb = spinner();
    let result = classify::classify(ds, rules, as_of, &|stage| {
        timings.mark(stage);
        pb.set_message(format!("classifying: {stage}"));
    });
    pb.finish_and_clear();
    result.map_err(|e| CliError(format!("classification stopped by a rule error:\n{e}")))
}

pub fn classify_cmd(a: ClassifyArgs, store_path: &Path) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let timings = Timings::default();
    timings.mark("rules");
    let rules = load_rules(&a.rules)?;
    timings.mark("load");
    let loaded = data::load(&a.data)?;
    let store = Store::open(store_path)?;
    let pb = spinner();
    let result = ops::classify_into_store(
        &store,
        &loaded,
        &a.data.display().to_string(),
        &rules,
        a.as_of,
        "cli",
        Some(&a.out),
        &|stage| {
            timings.mark(stage);
            pb.set_message(format!("classifying: {stage}"));
        },
    );
    pb.finish_and_clear();
    let (run_id, c) = result.map_err(|e| CliError(format!("classification failed:\n{e}")))?;
    timings.mark("end");

    println!("run {run_id}: {} as of {} with {}", a.data.display(), a.as_of, rules.label());
    println!("dataset {}\nrules   {}", loaded.hash, rules.hash());
    println!();
    print!("{}", c.summary);
    println!();
    println!("rule calls per stage (distinct inputs evaluated once):");
    for (stage, stats) in &c.stages {
        println!("  {:<14} {:>10} entities {:>9} calls", stage.name(), stats.entities, stats.calls);
    }
    for r in c.results.iter().filter(|r| r.tier > 1).take(a.explain) {
        println!("\n{} {}\n  {}", r.uscc, r.name, r.explanation());
    }
    println!("\nwrote {} in {:.1}s", a.out.display(), started.elapsed().as_secs_f64());
    println!("time: {}", timings.render());
    Ok(Outcome::Ok)
}

pub fn rules_cmd(cmd: RulesCommand) -> Result<Outcome, CliError> {
    match cmd {
        RulesCommand::Check { rules } => {
            let r = load_rules(&rules)?;
            println!("ok: {} ({})", r.label(), r.hash());
            for stage in Stage::ALL {
                if let Some(e) = r.manifest.entries.get(stage) {
                    println!(
                        "  {:<14} {}:{} {} reads [{}]",
                        stage.name(),
                        e.file,
                        e.function,
                        e.clause,
                        e.reads.names().join(", ")
                    );
                }
            }
            Ok(Outcome::Ok)
        }
        RulesCommand::Test { rules, verbose } => {
            let r = load_rules(&rules)?;
            let outcomes = crate::ruletest::run(&r).map_err(|e| CliError(format!("rule tests could not run:\n{e}")))?;
            print!("{}", crate::ruletest::render(&outcomes, verbose));
            if outcomes.is_empty() {
                return Err(CliError(format!("no rule tests found in {}/tests", rules.display())));
            }
            Ok(if outcomes.iter().any(|o| !o.failures.is_empty()) { Outcome::Findings } else { Outcome::Ok })
        }
        RulesCommand::Diff { from, to, data: dir, as_of, samples } => {
            let old = load_rules(&from)?;
            let new = load_rules(&to)?;
            let loaded = data::load(&dir)?;
            let a = run_classification(&loaded.dataset, &old, as_of, &Timings::default())?;
            let b = run_classification(&loaded.dataset, &new, as_of, &Timings::default())?;
            let diff = crate::classify::diff::diff(&a, &b, samples);
            println!(
                "from {} ({})\nto   {} ({})\ndata {} as of {as_of}\n",
                old.label(),
                old.hash(),
                new.label(),
                new.hash(),
                loaded.hash
            );
            print!("{diff}");
            Ok(Outcome::Ok)
        }
    }
}
