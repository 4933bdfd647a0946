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
    b.build().unwrap()
}
