//! Shared fixtures: a small, fixed joint-inspection frame.
#![allow(dead_code)]

use credo::draw::*;
use credo::model::uscc::ALPHABET;
use credo::model::{PersonId, Uscc};

/// A valid USCC for (division, n): the eight organisation-code characters
/// are n written in base 31 with the USCC alphabet.
pub fn uscc(division: u32, n: u64) -> Uscc {
    let mut body = [b'0'; 8];
    let mut x = n;
    for b in body.iter_mut().rev() {
        *b = ALPHABET[(x % 31) as usize];
        x /= 31;
    }
    Uscc::assemble(b'9', b'1', division, body).expect("valid code")
}

/// Person id number n (deterministic 16 bytes).
pub fn person(n: u32) -> PersonId {
    let h = sha256(&n.to_be_bytes());
    PersonId(h[..16].try_into().unwrap())
}

/// The golden secret: bytes 0x00..=0x1f.
pub fn secret() -> Vec<u8> {
    (0u8..32).collect()
}

pub fn beacon() -> Vec<u8> {
    b"CWL 3D 2026-03-01: 527".to_vec()
}

pub fn plan(officers_per_visit: u32, cap: u32) -> Plan {
    Plan {
        plan_id: "SD-2026-JOINT-001".into(),
        departments: vec!["MR".into(), "MPA".into(), "EM".into()],
        officers_per_visit,
        max_visits_per_officer: cap,
        commitment: commitment(&secret()),
        beacon_source: "China Welfare Lottery 3D draw of 2026-03-01".into(),
    }
}

pub fn strata() -> Vec<Stratum> {
    vec![
        Stratum { key: "tier=2|city=370100".into(), mode: StratumMode::Probability },
        Stratum {
            key: "tier=3|city=370100".into(),
            mode: StratumMode::Quota { ratio_ppm: 300_000, min_ratio_ppm: 100_000 },
        },
        Stratum { key: "tier=3|city=370200".into(), mode: StratumMode::Quota { ratio_ppm: 500_000, min_ratio_ppm: 0 } },
    ]
}

fn officer(id: &str, dept: &str, city: u32, quals: &[&str], active: bool, persons: &[u32]) -> Officer {
    Officer {
        officer_id: id.into(),
        department: dept.into(),
        city,
        qualifications: quals.iter().map(|s| s.to_string()).collect(),
        active,
        persons: persons.iter().map(|&p| person(p)).collect(),
    }
}

pub fn officers() -> Vec<Officer> {
    vec![
        officer("EM-JN-01", "EM", 370100, &["EM-01", "EM-02"], true, &[101]),
        officer("EM-QD-01", "EM", 370200, &["EM-01"], true, &[102]),
        officer("MPA-JN-01", "MPA", 370100, &["MPA-03"], true, &[103, 1]),
        officer("MPA-JN-02", "MPA", 370100, &["MPA-03", "MPA-05"], true, &[104]),
        officer("MPA-JN-03", "MPA", 370100, &["MPA-05"], true, &[105]),
        officer("MPA-QD-01", "MPA", 370200, &["MPA-03"], false, &[106]),
        officer("MR-JN-01", "MR", 370100, &["MR-01", "MR-02"], true, &[107]),
        officer("MR-JN-02", "MR", 370100, &["MR-01"], true, &[108]),
        officer("MR-JN-03", "MR", 370100, &["MR-01", "MR-02"], true, &[109, 2]),
        officer("MR-JN-04", "MR", 370100, &["MR-01", "MR-02"], false, &[110]),
        officer("MR-QD-01", "MR", 370200, &["MR-01"], true, &[111]),
        officer("MR-QD-02", "MR", 370200, &["MR-01", "MR-02"], true, &[112]),
        officer("MR-QD-03", "MR", 370200, &["MR-01"], true, &[113]),
    ]
}

/// 30 entities: 12 tier-2 and 10 tier-3 in Jinan (370100), 8 tier-3 in
/// Qingdao (370200); some ineligible, persons 1 and 2 related to officers.
pub fn frame(officers_per_visit: u32, cap: u32) -> Frame {
    let mut b = FrameBuilder::new(plan(officers_per_visit, cap), strata(), officers()).unwrap();
    push_entities(&mut b);
    b.build().unwrap()
}

/// The store id of the credo-draw-v2 fixture.
pub const STORE_ID: &str = "5f0c2a9e-7b1d-4c3e-9a8f-2d6b1e4c7a90";

/// The v2 fixture's signing key (seed bytes 0x20..=0x3f).
pub fn signing_key() -> credo::trust::SigningKey {
    let seed: [u8; 32] = core::array::from_fn(|i| 0x20 + i as u8);
    credo::trust::SigningKey::from_seed(&seed)
}

/// The beacon the v2 fixture names: a lottery draw, its decimal digits.
pub fn beacon_header(rule: BeaconRule) -> V2Header {
    V2Header {
        beacon_rule: rule,
        beacon_published_at: if rule == BeaconRule::None { String::new() } else { "2026-03-01T13:30:00Z".into() },
        provenance: Provenance {
            store_id: STORE_ID.into(),
            plan_number: 7,
            kind: "random".into(),
            name: "2026 H1 joint random inspection, Jinan and Qingdao".into(),
            created_at: "2026-02-27T09:00:00Z".into(),
            as_of: "2026-02-26".into(),
            dataset_hash: "sha256:4b0f1a93c2d7e85f6a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f".into(),
            rules_hash: "sha256:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d".into(),
            run_id: 12,
            release_at: "2026-03-02T09:00:00+08:00".into(),
            replaces: vec![format!("{STORE_ID}/6")],
            excluded_by: vec![format!("{STORE_ID}/3")],
        },
    }
}

/// The fixture as a credo-draw-v2 frame with beacon rule `rule`.
pub fn frame_v2(officers_per_visit: u32, cap: u32, rule: BeaconRule) -> Frame {
    let mut p = plan(officers_per_visit, cap);
    p.plan_id = format!("{STORE_ID}/7");
    p.beacon_source = if rule == BeaconRule::None {
        String::new()
    } else {
        "China Welfare Lottery 3D, draw 2026058 of 2026-03-01, www.cwl.gov.cn".into()
    };
    let mut b = FrameBuilder::new_v2(p, beacon_header(rule), strata(), officers()).unwrap();
    push_entities(&mut b);
    b.build().unwrap()
}

/// The published beacon value of the v2 fixture and when it was supplied.
pub fn reveal() -> BeaconReveal {
    BeaconReveal { value: "5 2 7".into(), supplied_at: "2026-03-01T14:02:11Z".into() }
}

fn push_entities(b: &mut FrameBuilder) {
    let item_sets: [&[(&str, &str)]; 4] = [
        &[("MR", "MR-01")],
        &[("MR", "MR-01"), ("MPA", "MPA-03")],
        &[("MR", "MR-02"), ("EM", "EM-01")],
        &[("MPA", "MPA-05"), ("MR", "MR-01"), ("EM", "EM-02")],
    ];
    for n in 0..30u64 {
        let (city, stratum, division) = match n {
            0..=11 => (370100, "tier=2|city=370100", 370102),
            12..=21 => (370100, "tier=3|city=370100", 370103),
            _ => (370200, "tier=3|city=370200", 370202),
        };
        let exclusion = match n {
            3 => Some("already randomly inspected in 2026"),
            14 => Some("tier 1: not disturbed unless asked"),
            25 => Some("no applicable inspection item"),
            _ => None,
        };
        let items: &[(&str, &str)] = if n == 25 { &[] } else { item_sets[(n % 4) as usize] };
        let persons = [person(1000 + n as u32), person((n % 3) as u32)];
        let recent: &[&str] = if n % 5 == 0 { &["MR-JN-01"] } else { &[] };
        b.push(NewEntity {
            uscc: uscc(division, 1000 + n * 7919),
            stratum,
            probability_ppm: [0, 250_000, 500_000, 1_000_000][(n % 4) as usize],
            exclusion,
            city,
            items,
            persons: &persons,
            recent_officers: recent,
        })
        .unwrap();
    }
}
