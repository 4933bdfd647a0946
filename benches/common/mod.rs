//! Set-up shared by the benchmarks: generated datasets, cached between
//! runs, and the default rule set.

#![allow(dead_code)]

use std::path::PathBuf;

use credo::data::{self, Format, generate::GenerateOptions};
use credo::engine::{EntityFacts, RuleSet};
use credo::model::Date;
use credo::snapshot::Snapshot;

/// The number in the environment variable `name`, or `default` when it is
/// unset. A value that is not a number stops the benchmark, naming it (a
/// typo such as `3GB` must not run quietly with the default).
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Err(_) => default,
        Ok(s) => s.trim().parse().unwrap_or_else(|_| panic!("{name}={s:?} is not a number")),
    }
}

/// Entities from `CREDO_BENCH_ENTITIES`, or `default`.
pub fn entities(default: u64) -> u64 {
    env_or("CREDO_BENCH_ENTITIES", default)
}

/// A generated dataset of `n` entities (seed 1) in `format`, made once into
/// the target directory and reused; `CREDO_BENCH_DATA` names an existing one.
pub fn dataset(n: u64, format: Format) -> PathBuf {
    if let Ok(dir) = std::env::var("CREDO_BENCH_DATA") {
        return PathBuf::from(dir);
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-data/{}-{n}", format.extension()));
    if !dir.join(format!("entities.{}", format.extension())).exists() {
        eprintln!("generating {n} entities into {} ...", dir.display());
        let opts = GenerateOptions {
            entities: n,
            seed: 1,
            out: dir.clone(),
            format,
            until: GenerateOptions::default_until(),
            chunk: 200_000,
        };
        data::generate::generate(&opts, &|_| {}).expect("generate");
    }
    dir
}

/// Facts of every entity of `s` registered on or before `as_of`, with its
/// records and evaluations (all a rule may read), in credit-code order.
pub fn facts(s: &Snapshot, as_of: Date) -> Vec<EntityFacts> {
    let texts = credo::classify::facts::SymbolTexts::new(s);
    let ids: Vec<u32> = (0..s.len() as u32).filter(|&e| s.entities.registered_on[e as usize] <= as_of).collect();
    let need = credo::classify::facts::Need { records: true, evaluations: true };
    credo::classify::facts::build(s, &texts, &ids, as_of, need)
}

pub fn rules() -> RuleSet {
    let src = data::rules::read_rule_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")).expect("rules");
    RuleSet::compile(&src).expect("compile")
}

/// Peak resident memory of this process so far, in bytes (Linux).
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        })
        .map_or(0, |kb| kb * 1024)
}

/// CPU time of this process so far, all threads, as (user, system)
/// seconds (Linux: `/proc/self/stat`'s `utime` and `stime`, in the
/// kernel's fixed 100 ticks a second). On two cores, wall time follows
/// their sum. System time is mostly the kernel handing the process
/// memory: on a virtual machine whose freed memory goes back to its host,
/// the part of a side's time that depends on what ran before it.
pub fn cpu_split() -> (f64, f64) {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses and
            // may hold spaces: state is field 3, utime 14, stime 15.
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| f.get(i)?.parse::<u64>().ok().map(|t| t as f64 / 100.0);
            Some((ticks(11)?, ticks(12)?))
        })
        .unwrap_or((0.0, 0.0))
}

pub fn gb(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / 1e9)
}
