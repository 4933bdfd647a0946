//! Blacklist propagation on small hand-built graphs (chain, cycle, a person
//! heading five companies, a repaired source record), with the expected
//! paths pinned by insta snapshots; and on the bundled sample.

use credo::classify;
use credo::data::rules::read_rule_dir;
use credo::engine::{RuleSet, RuleSource};
use credo::model::*;

use crate::common::*;

fn date(s: &str) -> Date {
    Date::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn uscc(n: u64) -> Uscc {
    let mut body = [b'0'; 8];
    let mut x = n + 1;
    for b in body.iter_mut().rev() {
        *b = credo::model::uscc::ALPHABET[(x % 31) as usize];
        x /= 31;
    }
    Uscc::assemble(b'9', b'1', 370102, body).unwrap()
}

fn person(label: &str) -> PersonId {
    use sha2::{Digest, Sha256};
    PersonId(Sha256::digest(label.as_bytes())[..16].try_into().unwrap())
}

/// A graph: entities 0..n, roles (entity, person, role), and the entities
/// blacklisted by a serious, intentional, harmful penalty in 2025.
fn graph(n: u64, roles: &[(u64, &str, RoleKind)], blacklisted: &[u64]) -> Dataset {
    let mut ds = Dataset::default();
    for i in 0..n {
        ds.entities.push(MarketEntity {
            uscc: uscc(i),
            name: format!("entity {i}"),
            entity_type: EntityType::LimitedCompany,
            region: 370102,
            industry: IndustryCode::parse("F5212").unwrap(),
            registered_on: date("2015-01-01"),
            status: EntityStatus::Active,
            key_fields: KeyFields::default(),
            new_economy: None,
        });
    }
    for (e, p, r) in roles {
        ds.roles.push(Role { uscc: uscc(*e), person_id: person(p), role: *r, since: date("2010-01-01"), until: None });
    }
    for &b in blacklisted {
        ds.penalties.push(Penalty {
            decision_no: format!("P-{b}").into(),
            uscc: uscc(b),
            department: "MR".into(),
            decided_on: date("2025-06-01"),
            severity: Severity::Serious,
            intentional: true,
            harmful: true,
            disclosure_until: date("2028-06-01"),
            fulfilled_on: Some(date("2025-07-01")),
        });
    }
    ds
}

fn rules(max_depth: Option<u8>) -> RuleSet {
    let mut src: RuleSource = read_rule_dir(&root().join("rules")).unwrap();
    if let Some(d) = max_depth {
        let t = src.files.get_mut("rules.toml").unwrap();
        *t = t.replace("propagate_years = 3", &format!("propagate_years = 3\npropagate_max_depth = {d}"));
    }
    RuleSet::compile(&src).unwrap()
}

/// The propagation result as readable lines, entity numbers for codes.
fn paths(ds: &Dataset, rules: &RuleSet) -> String {
    let mut full = ds.clone();
    full.complete_references();
    let snapshot = credo::data::snapshot_of(&full).unwrap();
    let (c, results) = classify::classify_all(&snapshot, rules, date("2026-06-30")).unwrap();
    let name = |s: String| {
        let mut s = s;
        for i in 0..ds.entities.len() as u64 {
            s = s.replace(&uscc(i).to_string(), &format!("E{i}"));
        }
        for p in ["zhang", "li", "wang", "zhao", "qian", "sun"] {
            s = s.replace(&format!("person:{}", &person(p).to_string()[..12]), p);
        }
        s
    };
    let mut out = format!("sources {}\n", c.propagation.sources);
    for p in &c.propagation.persons {
        out.push_str(&name(format!(
            "person depth {} until {}: {} [{}]\n",
            p.depth,
            p.until,
            p.path,
            p.source_records.join(",")
        )));
    }
    for e in &c.propagation.entities {
        out.push_str(&name(format!("entity depth {} {}: {}\n", e.depth, e.effect, e.path)));
    }
    for r in &results {
        if r.key_attention || r.probability_ppm > 0 {
            out.push_str(&name(format!(
                "result {}: tier {} risk {} p={:.2}{}\n",
                r.uscc,
                r.tier,
                r.risk_code(),
                r.probability(),
                if r.key_attention { " key-attention" } else { "" }
            )));
        }
    }
    out
}

#[test]
fn chain_is_followed_to_the_depth_limit() {
    use RoleKind::*;
    // E0 (blacklisted) -zhang- E1 -li- E2 -wang- E3
    let ds = graph(
        4,
        &[
            (0, "zhang", LegalRepresentative),
            (1, "zhang", LegalRepresentative),
            (1, "li", LegalRepresentative),
            (2, "li", LegalRepresentative),
            (2, "wang", LegalRepresentative),
            (3, "wang", LegalRepresentative),
        ],
        &[0],
    );
    let one = paths(&ds, &rules(None));
    let two = paths(&ds, &rules(Some(2)));
    assert!(one.contains("E1") && !one.contains("-> E2"), "{one}");
    assert!(two.contains("-> E2") && !two.contains("-> E3"), "{two}");
    snapshot_settings().bind(|| {
        insta::assert_snapshot!("propagation_chain_depth_1", one);
        insta::assert_snapshot!("propagation_chain_depth_2", two);
    });
}

#[test]
fn a_cycle_ends() {
    use RoleKind::*;
    // E0 (blacklisted) and E1 and E2 all run by zhang and li: a cycle.
    let ds = graph(
        3,
        &[
            (0, "zhang", LegalRepresentative),
            (1, "zhang", Principal),
            (2, "zhang", LegalRepresentative),
            (1, "li", LegalRepresentative),
            (2, "li", Principal),
            (0, "li", Principal),
        ],
        &[0],
    );
    let out = paths(&ds, &rules(Some(5)));
    assert_eq!(out.matches("entity depth").count(), 2, "each entity reached once per source:\n{out}");
    snapshot_settings().bind(|| insta::assert_snapshot!("propagation_cycle", out));
}

#[test]
fn a_person_heading_five_companies_flags_all_of_them() {
    use RoleKind::*;
    let mut roles = vec![(0, "zhao", LegalRepresentative)];
    for i in 1..=5 {
        roles.push((i, "zhao", if i == 5 { Director } else { LegalRepresentative }));
    }
    roles.push((6, "zhao", Shareholder));
    let ds = graph(7, &roles, &[0]);
    let out = paths(&ds, &rules(None));
    assert_eq!(out.matches("key_attention: ").count(), 4, "{out}");
    assert_eq!(out.matches("raise_risk: ").count(), 1, "{out}");
    assert!(!out.contains("-> E6"), "a shareholding does not carry the flag:\n{out}");
    snapshot_settings().bind(|| insta::assert_snapshot!("propagation_five_companies", out));
}

#[test]
fn a_repaired_source_record_takes_everything_derived_with_it() {
    use RoleKind::*;
    let mut ds = graph(2, &[(0, "qian", LegalRepresentative), (1, "qian", LegalRepresentative)], &[0]);
    let before = paths(&ds, &rules(None));
    assert!(before.contains("-> E1"), "{before}");
    ds.commitments.push(Commitment {
        commitment_id: "CN-R".into(),
        uscc: uscc(0),
        kind: CommitmentKind::Repair,
        made_on: date("2026-06-10"),
        subject: "P-0".into(),
        status: CommitmentStatus::Pending,
        checked_on: None,
        department: None,
        approval_item: None,
    });
    ds.repairs.push(RepairApplication {
        repair_id: "R-0".into(),
        uscc: uscc(0),
        record_id: "P-0".into(),
        applied_on: date("2026-06-10"),
        commitment_id: Some("CN-R".into()),
    });
    let after = paths(&ds, &rules(None));
    assert_eq!(after, "sources 0\n", "the repair removes the blacklist and every path from it");
    snapshot_settings().bind(|| insta::assert_snapshot!("propagation_repaired_source_before", before));
}

#[test]
fn sample_propagation_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("p.csv");
    let o = credo(&[
        "propagate",
        "--data",
        sample().to_str().unwrap(),
        "--rules",
        root().join("rules").to_str().unwrap(),
        "--as-of",
        "2026-06-30",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(&out).unwrap();
    let entities: Vec<&str> = csv.lines().filter(|l| l.starts_with("entity,")).take(5).collect();
    let text = format!(
        "{}\nfirst reached entities:\n{}",
        stdout(&o).lines().skip(1).filter(|l| !l.starts_with("wrote")).collect::<Vec<_>>().join("\n"),
        entities.join("\n")
    );
    snapshot_settings().bind(|| insta::assert_snapshot!("sample_propagation", text));
}

/// Issue #13, item 5: the tier effect of a propagated flag is a rules
/// parameter. Absent (the default rules), the reached company keeps its
/// tier; with `propagated_flag_min_tier = 4` it is 严重失信, the
/// decision says why, and supervision sees the new tier. Out of range is
/// refused when the rules are compiled.
#[test]
fn a_propagated_flag_raises_the_tier_only_when_the_rules_say_so() {
    use RoleKind::*;
    // E0 (blacklisted) -zhang- E1
    let ds = graph(2, &[(0, "zhang", LegalRepresentative), (1, "zhang", LegalRepresentative)], &[0]);
    let classify = |rules: &RuleSet| {
        let mut full = ds.clone();
        full.complete_references();
        let snapshot = credo::data::snapshot_of(&full).unwrap();
        let (_, results) = classify::classify_all(&snapshot, rules, date("2026-06-30")).unwrap();
        results.into_iter().find(|r| r.uscc == uscc(1)).unwrap()
    };
    let before = classify(&rules(None));
    assert_eq!(before.tier, 1, "{}", before.explanation());

    let mut src: RuleSource = read_rule_dir(&root().join("rules")).unwrap();
    let t = src.files.get_mut("rules.toml").unwrap();
    *t = t.replace("propagate_years = 3", "propagate_years = 3\npropagated_flag_min_tier = 4");
    let after = classify(&RuleSet::compile(&src).unwrap());
    assert_eq!(after.tier, 4, "{}", after.explanation());
    assert!(after.explanation().contains("tier 1 -> 4: a blacklist flag reached it"), "{}", after.explanation());
    assert!(after.explanation_in(credo::i18n::Lang::Zh).contains("信用等级由 1 调整为 4"));
    assert!(after.probability_ppm > before.probability_ppm, "supervision sees tier 4");

    let t = src.files.get_mut("rules.toml").unwrap();
    *t = t.replace("propagated_flag_min_tier = 4", "propagated_flag_min_tier = 7");
    let err = RuleSet::compile(&src).err().expect("tier 7 is refused").to_string();
    assert!(err.contains("rules.toml") && err.contains("propagated_flag_min_tier"), "{err}");
}
