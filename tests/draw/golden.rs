//! Golden vectors: any change in tickets, selection, assignment or the
//! bundle encoding fails here.
use super::fixtures as common;

use credo::draw::*;

/// The reference definition of a ticket from a key (rand_chacha is a test
/// oracle, not a dependency of credo): `ChaCha20Rng::from_seed(key).next_u64()`.
fn chacha20_first_u64_reference(key: &[u8; 32]) -> u64 {
    use rand_chacha::rand_core::{Rng, SeedableRng};
    rand_chacha::ChaCha20Rng::from_seed(*key).next_u64()
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn ticket_vectors() {
    let seed = Seed(sha256(b"credo-draw-v1 golden seed"));
    assert_eq!(hex::encode(seed.0), "70c93d7bd9ab38deeefbead88f89498fe04b25b44e5f343fec63f54b93ee61ff");
    let expected = [
        ("91370102000000000N", 0x22ee889172ac49f8u64),
        ("91370102000000019K", 0x3107f881a1d5765d),
        ("91370102000000027E", 0x526f0f8defa8dc0f),
        ("913701020000000359", 0x03fede2dd3ee239d),
    ];
    for (n, (code, ticket)) in expected.iter().enumerate() {
        let u = common::uscc(370102, n as u64);
        assert_eq!(u.as_str(), *code);
        assert_eq!(entity_ticket(&seed, &u), *ticket, "{code}");
        let key = sha256(&[&seed.0[..], u.as_bytes()].concat());
        assert_eq!(chacha20_first_u64_reference(&key), *ticket, "{code} via ChaCha20Rng");
    }
    let u = common::uscc(370102, 0);
    assert_eq!(officer_ticket(&seed, &u, "MR-JN-01"), 0xaae950395d28d333);
    assert_eq!(chacha20_first_u64(&[0u8; 32]), 0x903df1a0ade0b876);
}

#[test]
fn fixture_seed_and_hashes() {
    let f = common::frame(2, 2);
    assert_eq!(hex::encode(f.hash()), "6d24eb3be90e27a0a7944b1c94ee3caba1e6d06a9c1bea2b1ef5b35f0d3db477");
    let seed = derive_seed(&f.hash(), &common::secret(), &common::beacon());
    assert_eq!(hex::encode(seed.0), "337a1338154aef651ab92dcb1d0aa55a5756ad906d707edfba229b4379a14e09");
    let r = draw(&f, &common::secret(), &common::beacon()).unwrap();
    assert_eq!(hex::encode(r.hash()), "b01469039d4041fafc29c3414cb4974d5d7c389b3cdcc7ade04a2c3fbc4277ad");
    assert_eq!(r.visits.len(), 13);
    assert_eq!(r.visits[1].outcome, Outcome::Staffed(vec!["MPA-JN-02".into(), "MR-JN-01".into(), "EM-JN-01".into()]));
}

#[test]
fn golden_bundle() {
    let f = common::frame(2, 2);
    let r = draw(&f, &common::secret(), &common::beacon()).unwrap();
    let text = Bundle::render_parts(&f, &common::secret(), &common::beacon(), &r);
    settings().bind(|| insta::assert_snapshot!("golden_bundle", text));
}
