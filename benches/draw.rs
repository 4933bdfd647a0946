//! Benchmark of the credo-draw-v1 draw on a synthetic province-sized frame.
//!
//! `cargo bench --bench draw` (N = 15 000 000 entities, override with
//! CREDO_BENCH_ENTITIES). Shape: 16 cities (Shandong's prefecture codes),
//! tiers 1-4 (tier 1 excluded, tier 2 probability 0.1-0.8 %, tier 3 quota
//! 1 % (min 0.5 %), tier 4 quota 3 %), a joint MR+MPA+EM plan, 40 000 officers
//! in 10 departments (so 250 per city and department), each qualified for
//! about 60 % of their department's items. Then the reveal path as the
//! store runs it: the frame file read, parsed, hashed and drawn.

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use credo::draw::*;
use credo::model::uscc::ALPHABET;
use credo::model::{PersonId, Uscc};

const CITIES: [u32; 16] = [
    370100, 370200, 370300, 370400, 370500, 370600, 370700, 370800, 370900, 371000, 371100, 371300, 371400, 371500,
    371600, 371700,
];
const DEPTS: [&str; 10] = ["AGRI", "CULT", "ECO", "EM", "HEALTH", "HOUS", "MPA", "MR", "TAX", "TRANS"];
const OFFICERS: usize = 40_000;

fn mix(mut x: u64) -> u64 {
    // splitmix64: synthetic data only.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn person(n: u64) -> PersonId {
    let mut p = [0u8; 16];
    p[..8].copy_from_slice(&mix(n).to_le_bytes());
    p[8..].copy_from_slice(&mix(n ^ 0xdead_beef).to_le_bytes());
    PersonId(p)
}

fn uscc(division: u32, n: u64) -> Uscc {
    let mut body = [b'0'; 8];
    let mut x = n;
    for b in body.iter_mut().rev() {
        *b = ALPHABET[(x % 31) as usize];
        x /= 31;
    }
    Uscc::assemble(b'9', b'1', division, body).expect("valid")
}

fn items_of(dept: &str) -> Vec<String> {
    let n = match dept {
        "MR" => 10,
        _ => 6,
    };
    (1..=n).map(|i| format!("{dept}-{i:02}")).collect()
}

fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let n: usize = common::env_or("CREDO_BENCH_ENTITIES", 15_000_000);
    println!(
        "credo-draw-v1 bench: {n} entities, {} cities, {OFFICERS} officers, {} threads",
        CITIES.len(),
        rayon::current_num_threads()
    );
    let secret = [42u8; 32];
    let t0 = Instant::now();
    let plan = Plan {
        plan_id: "BENCH-2026-JOINT".into(),
        departments: vec!["MR".into(), "MPA".into(), "EM".into()],
        officers_per_visit: 2,
        max_visits_per_officer: 40,
        commitment: commitment(&secret),
        beacon_source: String::new(),
    };
    let mut strata = Vec::new();
    for t in 1..=4 {
        for c in CITIES {
            let mode = match t {
                3 => StratumMode::Quota { ratio_ppm: 10_000, min_ratio_ppm: 5_000 },
                4 => StratumMode::Quota { ratio_ppm: 30_000, min_ratio_ppm: 0 },
                _ => StratumMode::Probability,
            };
            strata.push(Stratum { key: format!("tier={t}|city={c}"), mode });
        }
    }
    let keys: Vec<String> = strata.iter().map(|s| s.key.clone()).collect();
    let mut officers = Vec::with_capacity(OFFICERS);
    for i in 0..OFFICERS {
        let city = CITIES[i % 16];
        let dept = DEPTS[(i / 16) % 10];
        let h = mix(i as u64 + 7);
        let quals: Vec<String> = items_of(dept)
            .into_iter()
            .enumerate()
            .filter(|(k, _)| (mix(h + *k as u64) % 10) < 6)
            .map(|(_, q)| q)
            .collect();
        let mut persons = vec![person(1_000_000_000 + i as u64)];
        // Some relatives are persons of entities (conflicts of interest).
        for r in 0..(h % 3) {
            persons.push(person(mix(h + 100 + r) % (2 * n as u64 + 1)));
        }
        officers.push(Officer {
            officer_id: format!("{city}-{dept}-{:05}", i / 160),
            department: dept.into(),
            city,
            qualifications: quals,
            active: !h.is_multiple_of(20),
            persons,
        });
    }
    let mut b = FrameBuilder::new(plan, strata, officers).unwrap();
    b.reserve(n);
    let item_tables: Vec<Vec<String>> = ["EM", "MPA", "MR"].iter().map(|d| items_of(d)).collect();
    let mut items: Vec<(&str, &str)> = Vec::with_capacity(4);
    let mut recent_buf = String::new();
    for i in 0..n {
        let ci = i * 16 / n;
        let city = CITIES[ci];
        let h = mix(i as u64);
        let tier = match h % 100 {
            0..=4 => 1,
            5..=64 => 2,
            65..=89 => 3,
            _ => 4,
        };
        let r = (h >> 8) % 100;
        let exclusion = if tier == 1 {
            Some("tier 1: not disturbed unless asked")
        } else if r < 8 {
            Some("already randomly inspected in 2026")
        } else if r < 10 {
            Some("no applicable inspection item")
        } else {
            None
        };
        items.clear();
        if r >= 10 {
            fn pick(t: &[String], s: u64) -> &str {
                &t[(s % t.len() as u64) as usize]
            }
            items.push(("MR", pick(&item_tables[2], h >> 16)));
            if (h >> 24).is_multiple_of(4) {
                items.push(("MR", pick(&item_tables[2], h >> 28)));
            }
            if (h >> 32) % 10 < 3 {
                items.push(("MPA", pick(&item_tables[1], h >> 36)));
            }
            if (h >> 40).is_multiple_of(4) {
                items.push(("EM", pick(&item_tables[0], h >> 44)));
            }
        }
        let persons = [person(2 * i as u64), person(2 * i as u64 + 1)];
        recent_buf.clear();
        if (h >> 48).is_multiple_of(50) {
            recent_buf.push_str(&format!("{city}-MR-{:05}", (h >> 52) % 250));
        }
        let recent_one = [recent_buf.as_str()];
        let recent: &[&str] = if recent_buf.is_empty() { &[] } else { &recent_one };
        b.push(NewEntity {
            uscc: uscc(city + 2 + (i % 3) as u32, i as u64),
            stratum: &keys[(tier - 1) * 16 + ci],
            probability_ppm: 1_000 + ((h >> 56) % 8) as u32 * 1_000,
            exclusion,
            city,
            items: &items,
            persons: &persons,
            recent_officers: recent,
        })
        .unwrap();
    }
    let frame = b.build().unwrap();
    let build = t0.elapsed();
    println!("frame built in {:.2?} (setup, not timed as draw); VmHWM {}", build, vm_hwm());

    let t = Instant::now();
    let frame_hash = frame.hash();
    let hash_time = t.elapsed();
    let seed = derive_seed(&frame_hash, &secret, b"");

    let t = Instant::now();
    let tickets = frame_tickets(&frame, &seed);
    let tickets_time = t.elapsed();

    let t = Instant::now();
    let shard = select(&frame, &tickets, &frame.populations()).unwrap();
    let selection = merge(std::slice::from_ref(&shard)).unwrap();
    let select_time = t.elapsed();

    let t = Instant::now();
    let result = assign(&selection, &[&frame], &seed).unwrap();
    let assign_time = t.elapsed();
    let total = tickets_time + select_time + assign_time;

    let staffed = result.staffed();
    println!(
        "frame hash   {:>9.3?}  (canonical encoding streamed through SHA-256; not part of the draw budget)",
        hash_time
    );
    println!("tickets      {:>9.3?}  ({:.1} M entities/s)", tickets_time, n as f64 / tickets_time.as_secs_f64() / 1e6);
    println!("selection    {:>9.3?}", select_time);
    println!(
        "assignment   {:>9.3?}  ({} visits, {} staffed, {} unstaffed)",
        assign_time,
        result.visits.len(),
        staffed,
        result.visits.len() - staffed
    );
    println!("total draw   {:>9.3?}  ({:.2} M entities/s)", total, n as f64 / total.as_secs_f64() / 1e6);
    println!("peak RSS (VmHWM) {}", vm_hwm());
    println!("result SHA-256 {}", hex::encode(result.hash()));

    // The reveal as `ops::reveal_plan` does it: the frozen frame file read
    // and parsed, hashed, the commitment checked and the draw run.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("plan-1.bundle");
    std::fs::write(&path, credo::plan::frame_file(&frame)).expect("write the frame file");
    let expected = result.hash();
    drop(result);
    drop(selection);
    drop(shard);
    drop(tickets);
    drop(frame);
    let t = Instant::now();
    let text = std::fs::read_to_string(&path).expect("read the frame file");
    let read_time = t.elapsed();
    let t = Instant::now();
    let frame = credo::plan::read_frame_file(&text).expect("parse the frame file");
    drop(text);
    let parse_time = t.elapsed();
    let t = Instant::now();
    let revealed = draw(&frame, &secret, b"").expect("the reveal draws");
    let draw_time = t.elapsed();
    assert_eq!(revealed.hash(), expected, "the reveal from the frame file draws what the frame in memory drew");
    println!(
        "reveal path  {:>9.3?}  (read {:.3?}, parse {:.3?}, hash + draw {:.3?}: the same result)",
        read_time + parse_time + draw_time,
        read_time,
        parse_time,
        draw_time
    );
    println!("peak RSS (VmHWM) {}", vm_hwm());
}
