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

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use credo::data::{self, Format};
use credo::model::{Date, Severity, Uscc};
use credo::snapshot::RoleGraph;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n = common::entities(15_000_000);
    let dir = common::dataset(n, Format::Parquet);
    let as_of = Date::from_ymd_opt(2026, 6, 30).unwrap();
    let rules = common::rules();

    let t = Instant::now();
    let s = data::load(&dir).expect("load").snapshot;
    println!(
        "load + check: {:.1}s ({} entities, {} roles), peak {}",
        t.elapsed().as_secs_f64(),
        s.len(),
        s.roles.len(),
        common::gb(common::peak_rss())
    );

    let t = Instant::now();
    let mut sources: Vec<(Uscc, Vec<String>, Date)> = Vec::new();
    for e in 0..s.len() as u32 {
        for p in s.penalties.of(e) {
            if p.severity == Severity::Serious
                && p.intentional
                && p.harmful
                && p.decided_on <= as_of
                && p.disclosure_until >= as_of
            {
                sources.push((s.entities.uscc[e as usize], vec![s.text(p.decision_no).to_string()], p.decided_on));
            }
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

    let t = Instant::now();
    let graph = RoleGraph::new(&s);
    println!("role graph by person: {:.2}s", t.elapsed().as_secs_f64());
    let mut best = f64::MAX;
    let mut result = None;
    for _ in 0..3 {
        let t = Instant::now();
        let p = credo::propagate::run(&s, &graph, &rules, &sources, as_of, 1).expect("propagate");
        best = best.min(t.elapsed().as_secs_f64());
        result = Some(p);
    }
    let p = result.unwrap();
    println!(
        "propagation (best of 3): {best:.2}s: {} persons flagged, {} entities reached; peak {}",
        p.persons.len(),
        p.entities.len(),
        common::gb(common::peak_rss())
    );
}
