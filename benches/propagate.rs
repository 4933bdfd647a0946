//! Propagation benchmark over a generated dataset (15,000,000 entities
//! unless CREDO_BENCH_ENTITIES says otherwise; CREDO_BENCH_DATA names an
//! existing dataset directory to reuse).
//!
//!     cargo bench --bench propagate
//!
//! Sources are the entities the default blacklist rule lists (a counted
//! serious, intentional, harmful penalty within its disclosure period;
//! computed here in Rust so the figure is the graph work alone), then the
//! propagation runs with the default rule set's link rules. Prints the
//! time of each phase and the peak resident memory.

use std::path::PathBuf;
use std::time::Instant;

use credo::data::{self, Format, generate::GenerateOptions};
use credo::engine::RuleSet;
use credo::model::{Date, Severity, Uscc};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let n: u64 = std::env::var("CREDO_BENCH_ENTITIES").ok().and_then(|s| s.parse().ok()).unwrap_or(15_000_000);
    let dir = std::env::var("CREDO_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-data/propagate-{n}")));
    if !dir.join("entities.csv").exists() {
        eprintln!("generating {n} entities into {} ...", dir.display());
        let opts = GenerateOptions {
            entities: n,
            seed: 15,
            out: dir.clone(),
            format: Format::Csv,
            until: GenerateOptions::default_until(),
            chunk: 200_000,
        };
        data::generate::generate(&opts, &|_| {}).expect("generate");
    }
    let as_of = Date::from_ymd_opt(2026, 6, 30).unwrap();
    let rules = RuleSet::compile(
        &data::rules::read_rule_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap(),
    )
    .unwrap();

    let t = Instant::now();
    let ds = data::load(&dir).expect("load").dataset;
    println!(
        "load + check: {:.1}s ({} entities, {} roles), peak {:.0} MB",
        t.elapsed().as_secs_f64(),
        ds.entities.len(),
        ds.roles.len(),
        peak_rss_mb()
    );

    let t = Instant::now();
    let mut sources: Vec<(Uscc, Vec<String>, Date)> = Vec::new();
    for p in &ds.penalties {
        if p.severity == Severity::Serious
            && p.intentional
            && p.harmful
            && p.decided_on <= as_of
            && p.disclosure_until >= as_of
        {
            sources.push((p.uscc, vec![p.decision_no.clone()], p.decided_on));
        }
    }
    sources.sort_by_key(|a| a.0);
    sources.dedup_by(|b, a| {
        if a.0 == b.0 {
            a.1.append(&mut b.1);
            a.2 = a.2.max(b.2);
            true
        } else {
            false
        }
    });
    println!("sources: {} blacklisted entities ({:.2}s)", sources.len(), t.elapsed().as_secs_f64());

    let mut best = f64::MAX;
    let mut result = None;
    for _ in 0..3 {
        let t = Instant::now();
        let p = credo::propagate::run(&ds, &rules, &sources, as_of, 1).expect("propagate");
        best = best.min(t.elapsed().as_secs_f64());
        result = Some(p);
    }
    let p = result.unwrap();
    println!(
        "propagation (best of 3): {best:.2}s: {} persons flagged, {} entities reached; peak {:.0} MB",
        p.persons.len(),
        p.entities.len(),
        peak_rss_mb()
    );
}
