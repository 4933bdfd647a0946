//! Classification benchmark: the full default rule set over a generated
//! dataset (1,000,000 entities unless CREDO_BENCH_ENTITIES says otherwise),
//! next to a hand-written Rust version of the default record-status and
//! tier rules as the baseline.
//!
//!     cargo bench --bench classify
//!
//! The dataset is generated once into target/bench-data/ (or
//! CREDO_BENCH_DATA) and reused. Printed: time per phase, entities per
//! second for the classification (facts, every stage, propagation,
//! per-entity results) and end to end (with loading and writing), and the
//! Rhai/Rust ratio.

use std::path::PathBuf;
use std::time::Instant;

use credo::classify;
use credo::data::{self, Format, generate::GenerateOptions};
use credo::engine::{EntityFacts, RuleSet};
use credo::model::{Date, Severity};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: u64 = std::env::var("CREDO_BENCH_ENTITIES").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let dir = std::env::var("CREDO_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-data/classify-{n}")));
    if !dir.join("entities.csv").exists() {
        eprintln!("generating {n} entities into {} ...", dir.display());
        let opts = GenerateOptions {
            entities: n,
            seed: 1,
            out: dir.clone(),
            format: Format::Csv,
            until: GenerateOptions::default_until(),
            chunk: 200_000,
        };
        data::generate::generate(&opts, &|_| {}).expect("generate");
    }
    let as_of = Date::from_ymd_opt(2026, 6, 30).unwrap();
    let rules_src =
        data::rules::read_rule_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")).expect("rules");

    let t = Instant::now();
    let rules = RuleSet::compile(&rules_src).expect("compile");
    let compile = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let loaded = data::load(&dir).expect("load");
    let load = t.elapsed().as_secs_f64();
    let entities = loaded.dataset.entities.len() as f64;
    println!("dataset: {} ({} entities, {})", dir.display(), entities, loaded.hash);
    println!("threads: {}", rayon::current_num_threads());
    println!("compile rules: {compile:.3}s   load + check + hash (CSV): {load:.2}s");

    // Best of three runs of the classification proper.
    let mut best = f64::MAX;
    let mut marks_best = String::new();
    let mut result = None;
    for _ in 0..3 {
        let marks = std::sync::Mutex::new(Vec::<(String, Instant)>::new());
        let t = Instant::now();
        let c = classify::classify(&loaded.dataset, &rules, as_of, &|s| {
            marks.lock().unwrap().push((s.to_string(), Instant::now()))
        })
        .expect("classify");
        let secs = t.elapsed().as_secs_f64();
        let end = Instant::now();
        if secs < best {
            best = secs;
            let m = marks.lock().unwrap();
            marks_best = m
                .iter()
                .zip(m.iter().skip(1).map(|x| x.1).chain(std::iter::once(end)))
                .map(|((l, a), b)| format!("{l} {:.3}s", (b - *a).as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", ");
        }
        result = Some(c);
    }
    let c = result.unwrap();
    println!("classification (best of 3): {best:.3}s = {:.0} entities/s", entities / best);
    println!("  {marks_best}");
    for (stage, stats) in &c.stages {
        println!("  {:<14} {:>9} distinct inputs", stage.name(), stats.calls);
    }

    let out = std::env::temp_dir().join("credo-bench-classify.parquet");
    let t = Instant::now();
    data::output::write_results(&out, &c.results).expect("write");
    let write = t.elapsed().as_secs_f64();
    println!("write results (Parquet): {write:.2}s");
    println!(
        "end to end (load CSV + classify + write): {:.2}s = {:.0} entities/s",
        load + best + write,
        entities / (load + best + write)
    );

    // Baseline: the default record-status and tier rules written in Rust,
    // over the same facts.
    let facts = classify::facts::build(&loaded.dataset, as_of).facts;
    let t = Instant::now();
    let tiers: Vec<u8> = {
        use rayon::prelude::*;
        facts.par_iter().map(rust_tier).collect()
    };
    let rust = t.elapsed().as_secs_f64();
    let agree = tiers.iter().zip(&c.results).filter(|(a, b)| **a == b.tier).count();
    println!(
        "baseline: hand-written Rust tier rule over the same facts: {rust:.3}s = {:.0} entities/s",
        entities / rust
    );
    println!("agreement with the Rhai rule set on tiers: {agree} of {}", tiers.len());
    let rhai_tier: f64 = ["record_status", "accumulation", "tier"]
        .iter()
        .filter_map(|s| marks_best.split(", ").find(|m| m.starts_with(s)))
        .filter_map(|m| m.rsplit(' ').next()?.trim_end_matches('s').parse::<f64>().ok())
        .sum();
    println!(
        "Rhai record_status + accumulation + tier stages: {rhai_tier:.3}s, {:.0}x the Rust baseline",
        rhai_tier / rust
    );
}

fn months(d: Date, m: i32) -> Date {
    if m >= 0 {
        d.checked_add_months(chrono::Months::new(m as u32)).unwrap()
    } else {
        d.checked_sub_months(chrono::Months::new((-m) as u32)).unwrap()
    }
}

fn within_months(d: Date, as_of: Date, m: i32) -> bool {
    d <= as_of && d > months(as_of, -m)
}

/// records.rhai (record_status, accumulation) and tier.rhai, by hand.
fn rust_tier(f: &EntityFacts) -> u8 {
    use credo::engine::RecordKind as K;
    let as_of = f.as_of;
    let mut status = Vec::with_capacity(f.records.len());
    for (i, r) in f.records.iter().enumerate() {
        let s = match r.kind {
            K::Penalty => {
                let min = match r.severity {
                    Some(Severity::Minor) => 0,
                    Some(Severity::General) => 3,
                    _ => 12,
                };
                let repaired = r.repair.as_ref().is_some_and(|rep| {
                    r.fulfilled_on.is_some_and(|fo| fo <= rep.applied_on)
                        && months(r.date, min) <= rep.applied_on
                        && matches!(
                            rep.commitment,
                            Some(credo::model::CommitmentStatus::Fulfilled | credo::model::CommitmentStatus::Pending)
                        )
                });
                let first_minor = r.severity == Some(Severity::Minor)
                    && !r.intentional
                    && !r.harmful
                    && !f.records[..i].iter().any(|e| {
                        e.kind == K::Penalty && e.severity == Some(Severity::Minor) && within_months(e.date, r.date, 24)
                    });
                if repaired {
                    "repaired"
                } else if r.disclosure_until.is_some_and(|d| d < as_of) {
                    "expired"
                } else if first_minor {
                    "exempt"
                } else {
                    "counted"
                }
            }
            K::AbnormalListing => {
                if r.removed_on.is_some() {
                    "cleared"
                } else {
                    "counted"
                }
            }
            K::Complaint | K::Inspection => {
                if within_months(r.date, as_of, 12) {
                    "counted"
                } else {
                    "expired"
                }
            }
            K::CommitmentBreach => {
                if within_months(r.date, as_of, 36) {
                    "counted"
                } else {
                    "expired"
                }
            }
        };
        status.push(s);
    }
    let violations = f
        .records
        .iter()
        .zip(&status)
        .filter(|(r, s)| {
            let v = (r.kind == K::Penalty && r.severity != Some(Severity::Serious))
                || matches!(r.kind, K::Complaint | K::Inspection);
            v && (**s == "counted" || **s == "exempt") && within_months(r.date, as_of, 12)
        })
        .count();
    let accumulation = if violations >= 4 {
        2
    } else if violations >= 2 {
        1
    } else {
        0
    };
    let (mut serious, mut general, mut minor, mut breaches, mut listings) = (0, 0, 0, 0, 0);
    for (r, s) in f.records.iter().zip(&status) {
        if *s != "counted" {
            continue;
        }
        match (r.kind, r.severity) {
            (K::Penalty, Some(Severity::Serious)) => serious += 1,
            (K::Penalty, Some(Severity::General)) => general += 1,
            (K::Penalty, _) => minor += 1,
            (K::CommitmentBreach, _) => breaches += 1,
            (K::AbnormalListing, _) => listings += 1,
            _ => minor += 1,
        }
    }
    let grade = f.composite_grade.as_deref().unwrap_or("");
    let industry = f.industry_grades.iter().map(|(_, g)| g.as_str()).max().unwrap_or("");
    let market = f.market_rating.as_deref().unwrap_or("");
    if serious > 0 || (grade == "D" && general > 0) {
        4
    } else if general >= 2 || breaches > 0 || accumulation == 2 || grade == "D" || industry == "D" {
        3
    } else if general == 1
        || minor > 0
        || listings > 0
        || accumulation == 1
        || grade == "C"
        || industry == "C"
        || ["CCC", "CC", "C"].contains(&market)
    {
        2
    } else {
        1
    }
}
