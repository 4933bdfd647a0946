//! The rule stages alone, per call: tolerance, record_status,
//! accumulation, tier and blacklist over the facts of a generated dataset,
//! in shards as a run has them, on a pool of `CREDO_BENCH_THREADS` workers
//! (1 by default, so the figure is per core), `CREDO_BENCH_REPEAT` times
//! (3 by default; the fastest of each stage is kept, as this machine's
//! speed drifts). Prints each stage's time, its distinct inputs (each one
//! call) and the time per call; with
//! `CREDO_BENCH_RHAI=1` the same again with Rhai alone
//! (`RuleSet::set_native(false)`), and both must agree on every tier.
//!
//! ```sh
//! cargo bench --bench rules                       # 1,000,000 entities
//! CREDO_BENCH_DATA=/path/to/dataset cargo bench --bench rules
//! ```
//!
//! Loading the dataset and building the facts are not timed.

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use credo::classify;
use credo::data::{self, Format};
use credo::engine::{EntityState, RuleSet, Stage, StageMemo};
use credo::model::Date;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const STAGES: [Stage; 5] = [Stage::Tolerance, Stage::RecordStatus, Stage::Accumulation, Stage::Tier, Stage::Blacklist];

/// Runs the stages over `facts` in shards; each stage's seconds and calls,
/// and every entity's tier.
fn run(set: &RuleSet, facts: &[credo::engine::EntityFacts]) -> (Vec<(f64, usize)>, Vec<Option<u8>>) {
    let mut memos: Vec<StageMemo> = STAGES.iter().map(|_| StageMemo::default()).collect();
    let mut per: Vec<(f64, usize)> = vec![(0.0, 0); STAGES.len()];
    let mut tiers = Vec::with_capacity(facts.len());
    for chunk in facts.chunks(classify::DEFAULT_SHARD_SIZE) {
        let mut states: Vec<EntityState> = chunk.iter().cloned().map(EntityState::new).collect();
        for (n, stage) in STAGES.iter().enumerate() {
            let t = Instant::now();
            let stats = set.run_stage(*stage, &mut states, &mut memos[n]).expect("stage");
            per[n].0 += t.elapsed().as_secs_f64();
            per[n].1 += stats.calls;
        }
        tiers.extend(states.iter().map(|s| s.facts.stages.tier));
    }
    (per, tiers)
}

fn print(label: &str, per: &[(f64, usize)]) {
    println!("\n{label}\n  stage            seconds      calls   µs/call");
    for (stage, (secs, calls)) in STAGES.iter().zip(per) {
        let each = if *calls > 0 { format!("{:>9.2}", secs * 1e6 / *calls as f64) } else { format!("{:>9}", "-") };
        println!("  {:<14} {secs:>9.3} {calls:>10} {each}", stage.name());
    }
    println!("  total          {:>9.3}", per.iter().map(|p| p.0).sum::<f64>());
}

fn main() {
    let threads: usize = common::env_or("CREDO_BENCH_THREADS", 1);
    let repeat: usize = common::env_or("CREDO_BENCH_REPEAT", 3).max(1);
    let with_rhai = std::env::var("CREDO_BENCH_RHAI").is_ok_and(|v| v == "1");
    let dir = common::dataset(common::entities(1_000_000), Format::Parquet);
    let as_of = Date::from_ymd_opt(2026, 6, 30).expect("date");
    let loaded = data::load(&dir).expect("load");
    let s = &loaded.snapshot;
    let facts = common::facts(s, as_of);
    println!(
        "dataset: {} ({} entities with facts), {threads} worker(s), fastest of {repeat}",
        dir.display(),
        facts.len()
    );
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
    // The fastest of `repeat` runs, stage by stage.
    let best = |set: &RuleSet| {
        let (mut per, tiers) = pool.install(|| run(set, &facts));
        for _ in 1..repeat {
            let (again, _) = pool.install(|| run(set, &facts));
            for (p, a) in per.iter_mut().zip(again) {
                p.0 = p.0.min(a.0);
            }
        }
        (per, tiers)
    };
    let rules = common::rules();
    let (fast, fast_tiers) = best(&rules);
    print("compiled fast path", &fast);
    if with_rhai {
        let mut interpreted = common::rules();
        interpreted.set_native(false);
        let (slow, slow_tiers) = best(&interpreted);
        print("Rhai alone", &slow);
        assert!(fast_tiers == slow_tiers, "the fast path and Rhai alone disagree");
        let total = |p: &[(f64, usize)]| p.iter().map(|x| x.0).sum::<f64>();
        println!("\nRhai alone / fast path: {:.2}x", total(&slow) / total(&fast).max(1e-9));
    }
}
