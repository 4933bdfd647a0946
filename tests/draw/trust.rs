//! credo-draw-v2 against the manipulations it exists to catch: a beacon
//! swapped, dropped or smuggled in, a bundle re-signed or altered after
//! signing, and plans that name a beacon inconsistently.
use super::fixtures as common;
use super::golden_v2::golden_v2;

use credo::draw::*;
use credo::trust::SigningKey;

fn different(r: &Report) -> String {
    assert!(!r.is_identical(), "expected a difference, got {r}");
    r.to_string()
}

fn key_opts() -> VerifyOptions {
    VerifyOptions { public_key: Some(common::signing_key().public_key()), beacon_value: None }
}

/// A consistent, signed v2 bundle drawn with `beacon` bytes and recording
/// `value`, as a dishonest store could produce it.
fn forged(rule: BeaconRule, value: &str, beacon: &[u8]) -> String {
    let f = common::frame_v2(2, 2, rule);
    let r = draw(&f, &common::secret(), beacon).unwrap();
    let reveal = BeaconReveal { value: value.into(), supplied_at: common::reveal().supplied_at };
    Bundle::render_v2(&f, &common::secret(), beacon, &reveal, &r, Some(&common::signing_key())).unwrap()
}

#[test]
fn beacon_swap_is_named() {
    // Drawn with another value: consistent in itself, but not the value
    // the beacon source published.
    let text = forged(BeaconRule::Digits, "1 2 3", b"123");
    assert!(verify_with(&text, &key_opts()).is_identical());
    let m = different(&verify_with(&text, &VerifyOptions { beacon_value: Some("5 2 7".into()), ..key_opts() }));
    assert!(m.contains("the beacon was swapped") && m.contains("'1 2 3'") && m.contains("'5 2 7'"), "{m}");
    // The published value recorded, other bytes used.
    let m = different(&verify(&forged(BeaconRule::Digits, "5 2 7", b"123")));
    assert!(m.contains("rule digits makes bytes 353237") && m.contains("the draw used 313233"), "{m}");
}

#[test]
fn beacon_drop_is_named() {
    let m = different(&verify(&forged(BeaconRule::Digits, "", b"")));
    assert!(m.contains("the beacon was dropped") && m.contains("China Welfare Lottery"), "{m}");
    // And the draw refuses it up front.
    let f = common::frame_v2(2, 2, BeaconRule::Digits);
    let e = draw_v2(&f, &common::secret(), "").unwrap_err();
    assert!(e.to_string().contains("the beacon value is empty"), "{e}");
}

#[test]
fn beacon_for_a_plan_without_one_is_named() {
    let m = different(&verify(&forged(BeaconRule::None, "abc", b"abc")));
    assert!(m.contains("names no beacon") && m.contains("'abc'"), "{m}");
    let m = different(&verify(&forged(BeaconRule::None, "", b"abc")));
    assert!(m.contains("names no beacon") && m.contains("616263"), "{m}");
    let f = common::frame_v2(2, 2, BeaconRule::None);
    assert!(draw_v2(&f, &common::secret(), "abc").unwrap_err().to_string().contains("names no beacon"));
    let (beacon, _) = draw_v2(&f, &common::secret(), "").unwrap();
    assert!(beacon.is_empty());
}

#[test]
fn a_beacon_supplied_before_its_publication_is_named() {
    let f = common::frame_v2(2, 2, BeaconRule::Digits);
    let r = draw(&f, &common::secret(), b"527").unwrap();
    let early = BeaconReveal { value: "5 2 7".into(), supplied_at: "2026-03-01T13:29:59Z".into() };
    let text = Bundle::render_v2(&f, &common::secret(), b"527", &early, &r, None).unwrap();
    let m = different(&verify(&text));
    assert!(m.contains("before its announced publication"), "{m}");
}

#[test]
fn plans_must_name_their_beacon_consistently() {
    let mut h = common::beacon_header(BeaconRule::Digits);
    h.beacon_published_at = h.provenance.created_at.clone();
    let mut p = common::plan(2, 2);
    p.plan_id = format!("{}/7", common::STORE_ID);
    let e = FrameBuilder::new_v2(p.clone(), h, common::strata(), common::officers()).err().unwrap();
    assert!(e.to_string().contains("could be known before the commitment"), "{e}");
    let mut q = p.clone();
    q.beacon_source = String::new();
    let e = FrameBuilder::new_v2(q, common::beacon_header(BeaconRule::Digits), common::strata(), common::officers())
        .err()
        .unwrap();
    assert!(e.to_string().contains("the beacon source is empty"), "{e}");
    let e =
        FrameBuilder::new_v2(p.clone(), common::beacon_header(BeaconRule::None), common::strata(), common::officers())
            .err()
            .unwrap();
    assert!(e.to_string().contains("beacon rule none"), "{e}");
    let mut other = p;
    other.plan_id = "7".into();
    let e =
        FrameBuilder::new_v2(other, common::beacon_header(BeaconRule::Digits), common::strata(), common::officers())
            .err()
            .unwrap();
    assert!(e.to_string().contains("store and plan number make"), "{e}");
}

#[test]
fn signatures_are_checked() {
    let text = golden_v2();
    // Another key than the store's.
    let other = SigningKey::from_seed(&[9; 32]).public_key();
    let m = different(&verify_with(&text, &VerifyOptions { public_key: Some(other), beacon_value: None }));
    assert!(m.contains("signature") && m.contains("not by the given key"), "{m}");
    // A flipped bit of the signature.
    let at = text.find("\nsignature=").unwrap() + 12;
    let mut bad = text.clone().into_bytes();
    bad[at] = if bad[at] == b'0' { b'1' } else { b'0' };
    let m = different(&verify(&String::from_utf8(bad).unwrap()));
    assert!(m.contains("not a valid signature"), "{m}");
    // Re-derived consistently with a changed visit and re-signed by another
    // key: valid in itself, refused against the store's key.
    let f = common::frame_v2(2, 2, BeaconRule::Digits);
    let (beacon, mut r) = draw_v2(&f, &common::secret(), "5 2 7").unwrap();
    r.visits.swap(0, 1);
    let resigned = Bundle::render_v2(
        &f,
        &common::secret(),
        &beacon,
        &common::reveal(),
        &r,
        Some(&SigningKey::from_seed(&[9; 32])),
    )
    .unwrap();
    let m = different(&verify_with(&resigned, &key_opts()));
    assert!(m.contains("not by the given key"), "{m}");
    // The same change with the manifest re-hashed but the old signature.
    let mut spliced = golden_v2();
    let sig_at = spliced.find("[signature]").unwrap();
    let old_sig = spliced.split_off(sig_at);
    let unsigned = Bundle::render_v2(&f, &common::secret(), &beacon, &common::reveal(), &r, None).unwrap();
    let m = different(&verify(&(unsigned + old_sig.as_str())));
    assert!(m.contains("not a valid signature") && m.contains("changed after signing"), "{m}");
    // An unsigned bundle checked against a key.
    let unsigned = Bundle::render_v2(&f, &common::secret(), &beacon, &common::reveal(), &r, None).unwrap();
    let m = different(&verify_with(&unsigned, &key_opts()));
    assert!(m.contains("not signed"), "{m}");
    let _ = spliced;
}

#[test]
fn every_single_byte_change_of_a_v2_bundle_is_detected() {
    let text = golden_v2();
    let bytes = text.as_bytes();
    for pos in 0..bytes.len() {
        for replacement in [bytes[pos] ^ 0x01, b'\n'] {
            if replacement == bytes[pos] {
                continue;
            }
            let mut t = bytes.to_vec();
            t[pos] = replacement;
            let Ok(t) = String::from_utf8(t) else { continue };
            let r = verify_with(&t, &key_opts());
            assert!(!r.is_identical(), "change at byte {pos} to {replacement:#x} went unnoticed");
        }
    }
}

#[test]
fn v1_bundles_still_verify_and_carry_no_signature() {
    let f = common::frame(2, 2);
    let r = draw(&f, &common::secret(), &common::beacon()).unwrap();
    let text = Bundle::render_parts(&f, &common::secret(), &common::beacon(), &r);
    assert!(text.starts_with(MAGIC));
    let report = verify(&text);
    assert!(report.is_identical(), "{report}");
    let m = different(&verify_with(&text, &key_opts()));
    assert!(m.contains("credo-draw-v1 bundle carries no signature"), "{m}");
}
