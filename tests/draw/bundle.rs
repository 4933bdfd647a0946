//! Bundle round trip, tamper detection, and readable differences.
use super::fixtures as common;

use credo::draw::*;

fn golden() -> Bundle {
    let frame = common::frame(2, 2);
    let result = draw(&frame, &common::secret(), &common::beacon()).unwrap();
    Bundle { frame, secret: common::secret(), beacon: common::beacon(), result }
}

#[test]
fn export_then_verify_is_identical() {
    let b = golden();
    let text = b.render();
    let report = verify(&text);
    assert!(report.is_identical(), "{report}");
    assert!(report.to_string().starts_with("identical (13 visits, 7 staffed"), "{report}");
    assert_eq!(Bundle::parse(&text).unwrap(), b);
    assert_eq!(Bundle::parse(&text).unwrap().render(), text);
}

#[test]
fn every_single_byte_change_is_detected() {
    let text = golden().render();
    let bytes = text.as_bytes();
    let mut checked = 0;
    for pos in 0..bytes.len() {
        for replacement in [bytes[pos] ^ 0x01, b'0', b'\t', b'\n'] {
            if replacement == bytes[pos] {
                continue;
            }
            let mut t = bytes.to_vec();
            t[pos] = replacement;
            let Ok(t) = String::from_utf8(t) else {
                continue;
            };
            let report = verify(&t);
            assert!(!report.is_identical(), "change at byte {pos} to {replacement:#x} went unnoticed");
            checked += 1;
        }
    }
    // Deleting or inserting a byte too.
    for pos in (0..bytes.len()).step_by(7) {
        let mut t = bytes.to_vec();
        t.remove(pos);
        if let Ok(t) = String::from_utf8(t) {
            assert!(!verify(&t).is_identical(), "deleting byte {pos} went unnoticed");
        }
        let mut t = bytes.to_vec();
        t.insert(pos, b'7');
        if let Ok(t) = String::from_utf8(t) {
            assert!(!verify(&t).is_identical(), "inserting at byte {pos} went unnoticed");
        }
    }
    // Multi-byte characters anywhere (never a panic, never identical).
    for pos in (0..bytes.len()).step_by(3) {
        if !text.is_char_boundary(pos) {
            continue;
        }
        let t = format!("{}é{}", &text[..pos], &text[pos..]);
        assert!(!verify(&t).is_identical(), "inserting é at byte {pos} went unnoticed");
        let line_end = text[pos..].find('\n').map_or(text.len(), |e| pos + e);
        let t = format!("{}中{}", &text[..pos], &text[line_end..]);
        assert!(!verify(&t).is_identical(), "replacing the rest of the line at {pos} went unnoticed");
    }
    assert!(checked > 3 * bytes.len());
}

#[test]
fn consistent_forgery_is_caught_by_re_derivation() {
    let mut b = golden();
    let Outcome::Staffed(team) = &mut b.result.visits[1].outcome else { panic!("visit 2 is staffed") };
    let original = team.join(",");
    team[0] = "MPA-JN-01".into();
    let report = verify(&b.render());
    let msg = report.to_string();
    assert!(
        msg.contains(&format!("visit 2 (uscc {}): bundle lists officers [MPA-JN-01,", b.result.visits[1].uscc))
            && msg.contains(&format!("re-derivation gives [{original}]")),
        "{msg}"
    );
}

#[test]
fn dropped_visit_is_caught() {
    let mut b = golden();
    b.result.visits.remove(4);
    let msg = verify(&b.render()).to_string();
    assert!(msg.contains("visit 5 (uscc"), "{msg}");
}

#[test]
fn wrong_secret_is_caught() {
    let mut b = golden();
    b.secret[0] ^= 1;
    let msg = verify(&b.render()).to_string();
    assert!(msg.contains("commitment does not match secret"), "{msg}");
    assert!(matches!(draw(&b.frame, &b.secret, &b.beacon), Err(DrawError::CommitmentMismatch { .. })));
}

#[test]
fn hash_mismatch_names_the_section() {
    let text = golden().render();
    let t = text.replacen("MPA-JN-02\tMPA\t370100\tyes", "MPA-JN-02\tMPA\t370100\tno", 1);
    let msg = verify(&t).to_string();
    assert!(msg.contains("section [officers]") && msg.contains("hash mismatch"), "{msg}");
}

#[test]
fn parse_errors_name_line_and_column() {
    let text = golden().render();
    let t = text.replacen("officers_per_visit=2", "officers_per_visit=02", 1);
    match Bundle::parse(&t) {
        Err(DrawError::Parse { line: 15, column: 20, message }) => {
            assert!(message.contains("leading zeros"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn texts_with_tabs_and_newlines_round_trip() {
    let mut plan = common::plan(2, 2);
    plan.plan_id = "plan\twith\ttabs\nand 100% newlines".into();
    let strata = vec![Stratum { key: "a%b\tc".into(), mode: StratumMode::Probability }];
    let mut b = FrameBuilder::new(plan, strata, common::officers()).unwrap();
    let persons = [common::person(1)];
    b.push(NewEntity {
        uscc: common::uscc(370102, 5),
        stratum: "a%b\tc",
        probability_ppm: 1_000_000,
        exclusion: Some("一级：非必要不打扰\n(tier 1)"),
        city: 370100,
        items: &[],
        persons: &persons,
        recent_officers: &[],
    })
    .unwrap();
    let frame = b.build().unwrap();
    let result = draw(&frame, &common::secret(), &[]).unwrap();
    let bundle = Bundle { frame, secret: common::secret(), beacon: vec![], result };
    let text = bundle.render();
    assert!(text.contains("plan_id=plan%09with%09tabs%0Aand 100%25 newlines"));
    assert!(verify(&text).is_identical(), "{}", verify(&text));
    assert_eq!(Bundle::parse(&text).unwrap(), bundle);
}
