//! Golden vectors of credo-draw-v2: the seed tag, the frame hash over
//! [plan] [provenance] [strata] [frame] [officers], the beacon rule and
//! the signature. Any change in the v2 encoding fails here (the v1 vectors
//! in golden.rs stay as they were).
use super::fixtures as common;

use credo::draw::*;

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}

/// The golden v2 bundle: the fixture with beacon rule digits, the value
/// "5 2 7" (bytes "527"), signed by the fixture key.
pub fn golden_v2() -> String {
    let f = common::frame_v2(2, 2, BeaconRule::Digits);
    let (beacon, r) = draw_v2(&f, &common::secret(), &common::reveal().value).unwrap();
    assert_eq!(beacon, b"527");
    Bundle::render_v2(&f, &common::secret(), &beacon, &common::reveal(), &r, Some(&common::signing_key())).unwrap()
}

#[test]
fn v2_seed_and_hashes() {
    let f = common::frame_v2(2, 2, BeaconRule::Digits);
    assert_eq!(f.spec(), Spec::V2);
    assert_eq!(hex::encode(f.hash()), "d18214cd433ec63dd126c4158508c9ddc75840660ecce285433d3871da9a2582");
    let seed = Spec::V2.derive_seed(&f.hash(), &common::secret(), b"527");
    assert_eq!(hex::encode(seed.0), "067b3ee8dfe3521bfd3756c93b07174d9931a2ffb74bb78fe7d4dae3d7459560");
    // The v2 seed differs from v1's for the same inputs (its own tag).
    assert_ne!(seed, derive_seed(&f.hash(), &common::secret(), b"527"));
    let r = draw(&f, &common::secret(), b"527").unwrap();
    assert_eq!(hex::encode(r.hash()), "68d5054a84d34b7df0c7c7ac3ed43eb304e8922cb9648836b5a45a6ccf06983d");
    assert_eq!(
        common::signing_key().public_key().to_hex(),
        "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7"
    );
}

#[test]
fn golden_bundle_v2() {
    let text = golden_v2();
    let report = verify_with(
        &text,
        &VerifyOptions { public_key: Some(common::signing_key().public_key()), beacon_value: Some("5 2 7".into()) },
    );
    assert!(report.is_identical(), "{report}");
    assert!(report.to_string().ends_with(&format!("credo-draw-v2, signed by {}", common::signing_key().public_key())));
    let parsed = Bundle::parse_full(&text).unwrap();
    assert_eq!(parsed.spec, Spec::V2);
    assert_eq!(parsed.reveal, Some(common::reveal()));
    settings().bind(|| insta::assert_snapshot!("golden_bundle_v2", text));
}

#[test]
fn beacon_rules() {
    assert_eq!(BeaconRule::Digits.bytes("5 2 7").unwrap(), b"527");
    assert_eq!(BeaconRule::Text.bytes("CWL 3D 527").unwrap(), b"CWL 3D 527");
    assert_eq!(BeaconRule::Hex.bytes("00FFab").unwrap(), vec![0, 255, 171]);
    assert_eq!(BeaconRule::None.bytes("").unwrap(), b"");
    assert!(BeaconRule::None.bytes("abc").unwrap_err().to_string().contains("names no beacon"));
    for r in [BeaconRule::Text, BeaconRule::Digits, BeaconRule::Hex] {
        assert!(r.bytes("").unwrap_err().to_string().contains("beacon value is empty"), "{r}");
    }
    assert!(BeaconRule::Digits.bytes("no digits").is_err());
    assert!(BeaconRule::Hex.bytes("abc").is_err());
    assert!(BeaconRule::Text.bytes(" 527").is_err());
}
