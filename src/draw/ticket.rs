//! Seeds and tickets: SHA-256 and the first 64 bits of a ChaCha20 block.

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::DrawError;
use crate::model::Uscc;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The 32-byte seed of one draw (see [`derive_seed`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seed(pub [u8; 32]);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Seed({})", hex::encode(self.0))
    }
}

/// The domain-separation tag that starts the seed preimage.
const SEED_TAG: &[u8] = b"credo-draw-v1\0";

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Hash {
    Sha256::digest(data).into()
}

/// The commitment recorded at plan creation: SHA-256(secret).
pub fn commitment(secret: &[u8]) -> Hash {
    sha256(secret)
}

/// Checks a revealed secret against the plan's commitment. Secrets shorter
/// than 16 bytes are refused: they could be found from the commitment by
/// brute force before the draw.
pub fn check_commitment(committed: &Hash, secret: &[u8]) -> Result<(), DrawError> {
    if secret.len() < 16 {
        return Err(DrawError::SecretTooShort(secret.len()));
    }
    let computed = commitment(secret);
    if &computed != committed {
        return Err(DrawError::CommitmentMismatch {
            computed: hex::encode(computed),
            committed: hex::encode(committed),
        });
    }
    Ok(())
}

/// seed = SHA-256("credo-draw-v1\0" || frame_hash || u32_be(len secret) ||
/// secret || u32_be(len beacon) || beacon).
pub fn derive_seed(frame_hash: &Hash, secret: &[u8], beacon: &[u8]) -> Seed {
    derive_seed_tagged(SEED_TAG, frame_hash, secret, beacon)
}

/// The seed preimage with another version's tag (credo-draw-v2 uses
/// `"credo-draw-v2\0"`).
pub(crate) fn derive_seed_tagged(tag: &[u8], frame_hash: &Hash, secret: &[u8], beacon: &[u8]) -> Seed {
    let mut h = Sha256::new();
    h.update(tag);
    h.update(frame_hash);
    h.update(u32::try_from(secret.len()).expect("secret under 4 GiB").to_be_bytes());
    h.update(secret);
    h.update(u32::try_from(beacon.len()).expect("beacon under 4 GiB").to_be_bytes());
    h.update(beacon);
    Seed(h.finalize().into())
}

/// The first 64 bits of the ChaCha20 keystream for `key` (20 rounds, block
/// counter 0, nonce 0), read as a little-endian u64 — exactly what
/// `ChaCha20Rng::from_seed(key).next_u64()` returns (tested against it).
/// Written out because only 8 of the 256 bytes rand_chacha computes per call
/// are needed, which makes it about 1.6 times faster.
pub fn chacha20_first_u64(key: &[u8; 32]) -> u64 {
    #[inline(always)]
    fn qr(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(16);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(12);
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(8);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(7);
    }
    let mut s = [0u32; 16];
    s[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    for (i, w) in key.chunks_exact(4).enumerate() {
        s[4 + i] = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
    }
    // Words 12..=15 (block counter and nonce) stay zero.
    let (c0, c1) = (s[0], s[1]);
    for _ in 0..10 {
        qr(&mut s, 0, 4, 8, 12);
        qr(&mut s, 1, 5, 9, 13);
        qr(&mut s, 2, 6, 10, 14);
        qr(&mut s, 3, 7, 11, 15);
        qr(&mut s, 0, 5, 10, 15);
        qr(&mut s, 1, 6, 11, 12);
        qr(&mut s, 2, 7, 8, 13);
        qr(&mut s, 3, 4, 9, 14);
    }
    u64::from(s[0].wrapping_add(c0)) | (u64::from(s[1].wrapping_add(c1)) << 32)
}

const IV: [u32; 8] =
    [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19];

fn state_to_key(state: &[u32; 8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    for (k, w) in key.chunks_exact_mut(4).zip(state) {
        k.copy_from_slice(&w.to_be_bytes());
    }
    key
}

/// Entity ticket: key = SHA-256(seed || uscc), ticket = first u64 of
/// ChaCha20(key).
pub fn entity_ticket(seed: &Seed, uscc: &Uscc) -> u64 {
    EntityTicketer::new(seed).ticket(uscc)
}

/// Officer ticket for one visit: key = SHA-256(seed || uscc || officer_id
/// as UTF-8), ticket = first u64 of ChaCha20(key).
pub fn officer_ticket(seed: &Seed, uscc: &Uscc, officer_id: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.0);
    h.update(uscc.as_bytes());
    h.update(officer_id.as_bytes());
    chacha20_first_u64(&h.finalize().into())
}

/// Entity tickets with the SHA-256 padding prepared once: seed || uscc is
/// 50 bytes, so each ticket is one compression of a 64-byte block whose
/// only changing part is the 18 USCC bytes.
#[derive(Clone)]
pub struct EntityTicketer {
    block: [u8; 64],
}

impl EntityTicketer {
    pub fn new(seed: &Seed) -> Self {
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&seed.0);
        block[50] = 0x80;
        block[56..].copy_from_slice(&(50u64 * 8).to_be_bytes());
        EntityTicketer { block }
    }

    pub fn ticket(&self, uscc: &Uscc) -> u64 {
        let mut block = self.block;
        block[32..50].copy_from_slice(uscc.as_bytes());
        let mut state = IV;
        sha2::block_api::compress256(&mut state, std::slice::from_ref(&block));
        chacha20_first_u64(&state_to_key(&state))
    }
}

/// Tickets of all `usccs`, in the same order, computed in parallel.
pub fn entity_tickets(seed: &Seed, usccs: &[Uscc]) -> Vec<u64> {
    let t = EntityTicketer::new(seed);
    usccs.par_iter().with_min_len(4096).map(|u| t.ticket(u)).collect()
}

/// Officer tickets for one visit with the message prepared once: the
/// officer's part of the padded SHA-256 message is precomputed per officer
/// ([`OfficerTail`]) and copied behind seed || uscc. When the message takes
/// two blocks, the first block is seed || uscc || the first 14 bytes of the
/// officer id; officers are visited in id order, so consecutive officers
/// often share those 14 bytes (ids like "370100-MR-00012"), and the state
/// after the first block is reused.
pub(crate) struct VisitTicketer {
    buf: [u8; 128],
    first_block: Option<([u8; 14], [u32; 8])>,
}

/// The bytes after seed || uscc in the padded SHA-256 message of an
/// officer ticket: officer_id, 0x80, zeros, the bit length. `None` when the
/// message needs more than two blocks (officer ids over 69 bytes).
#[derive(Clone)]
pub(crate) struct OfficerTail {
    tail: Option<([u8; 78], u8)>,
}

impl OfficerTail {
    pub(crate) fn new(officer_id: &str) -> Self {
        let id = officer_id.as_bytes();
        let len = 50 + id.len();
        let blocks = (len + 9).div_ceil(64);
        if blocks > 2 {
            return OfficerTail { tail: None };
        }
        let mut msg = [0u8; 128];
        msg[50..len].copy_from_slice(id);
        msg[len] = 0x80;
        let end = blocks * 64;
        msg[end - 8..end].copy_from_slice(&((len as u64) * 8).to_be_bytes());
        let mut tail = [0u8; 78];
        tail.copy_from_slice(&msg[50..]);
        OfficerTail { tail: Some((tail, blocks as u8)) }
    }
}

impl VisitTicketer {
    pub(crate) fn new(seed: &Seed, uscc: &Uscc) -> Self {
        let mut buf = [0u8; 128];
        buf[..32].copy_from_slice(&seed.0);
        buf[32..50].copy_from_slice(uscc.as_bytes());
        VisitTicketer { buf, first_block: None }
    }

    pub(crate) fn ticket(&mut self, tail: &OfficerTail, officer_id: &str) -> u64 {
        match &tail.tail {
            Some((bytes, 1)) => {
                self.buf[50..].copy_from_slice(bytes);
                let b0: [u8; 64] = self.buf[..64].try_into().expect("64 bytes");
                let mut state = IV;
                sha2::block_api::compress256(&mut state, &[b0]);
                chacha20_first_u64(&state_to_key(&state))
            }
            Some((bytes, _)) => {
                let prefix: [u8; 14] = bytes[..14].try_into().expect("14 bytes");
                let mut state = match &self.first_block {
                    Some((p, st)) if *p == prefix => *st,
                    _ => {
                        self.buf[50..64].copy_from_slice(&prefix);
                        let b0: [u8; 64] = self.buf[..64].try_into().expect("64 bytes");
                        let mut st = IV;
                        sha2::block_api::compress256(&mut st, &[b0]);
                        self.first_block = Some((prefix, st));
                        st
                    }
                };
                let b1: [u8; 64] = bytes[14..].try_into().expect("64 bytes");
                sha2::block_api::compress256(&mut state, &[b1]);
                chacha20_first_u64(&state_to_key(&state))
            }
            None => {
                let mut h = Sha256::new();
                h.update(&self.buf[..50]);
                h.update(officer_id.as_bytes());
                chacha20_first_u64(&h.finalize().into())
            }
        }
    }
}

/// The probability-mode threshold: floor(ppm × 2^64 / 1 000 000), exact in
/// 128-bit arithmetic. An entity is selected iff its ticket is below it;
/// 1 000 000 ppm gives 2^64 (always), 0 gives 0 (never).
pub fn probability_threshold(ppm: u32) -> u128 {
    (u128::from(ppm) << 64) / 1_000_000
}

/// The quota-mode target: max(ceil(ratio·n/10^6), ceil(min_ratio·n/10^6)),
/// capped at n.
pub fn quota_target(population: u64, ratio_ppm: u32, min_ratio_ppm: u32) -> u64 {
    let ceil = |r: u32| (u128::from(r) * u128::from(population)).div_ceil(1_000_000);
    let k = ceil(ratio_ppm).max(ceil(min_ratio_ppm)).min(u128::from(population));
    k as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference definition of a ticket from a key (rand_chacha is a
    /// test oracle only): `ChaCha20Rng::from_seed(key).next_u64()`.
    fn chacha20_first_u64_reference(key: &[u8; 32]) -> u64 {
        use rand_chacha::rand_core::{Rng, SeedableRng};
        rand_chacha::ChaCha20Rng::from_seed(*key).next_u64()
    }

    fn seed() -> Seed {
        Seed(sha256(b"unit test seed"))
    }

    #[test]
    fn fast_chacha_matches_rand_chacha() {
        let mut key = [0u8; 32];
        for i in 0..20_000u32 {
            key = sha256(&[&key[..], &i.to_le_bytes()].concat());
            assert_eq!(chacha20_first_u64(&key), chacha20_first_u64_reference(&key), "key {}", hex::encode(key));
        }
    }

    #[test]
    fn rfc7539_block_function_first_words() {
        // RFC 8439 §2.3.2 uses counter 1 and a nonce, so check instead the
        // well-known all-zero key/nonce keystream (counter 0):
        // 76b8e0ada0f13d90405d6ae55386bd28...
        assert_eq!(chacha20_first_u64(&[0u8; 32]).to_le_bytes(), [0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90]);
    }

    #[test]
    fn entity_ticket_matches_plain_definition() {
        let s = seed();
        for body in [*b"MA3C4Y7K", *b"12345678", *b"ABCDEFGH"] {
            let u = Uscc::assemble(b'9', b'1', 370102, body).unwrap();
            let key: [u8; 32] = Sha256::new().chain_update(s.0).chain_update(u.as_bytes()).finalize().into();
            assert_eq!(entity_ticket(&s, &u), chacha20_first_u64_reference(&key));
        }
    }

    #[test]
    fn officer_ticket_fast_path_matches_for_all_lengths() {
        let s = seed();
        let u = Uscc::assemble(b'9', b'1', 370102, *b"MA3C4Y7K").unwrap();
        let mut vt = VisitTicketer::new(&s, &u);
        for len in 1..200 {
            let id: String = (0..len).map(|i| char::from(b'A' + (i % 26) as u8)).collect();
            let key: [u8; 32] = Sha256::new()
                .chain_update(s.0)
                .chain_update(u.as_bytes())
                .chain_update(id.as_bytes())
                .finalize()
                .into();
            let want = chacha20_first_u64_reference(&key);
            assert_eq!(officer_ticket(&s, &u, &id), want, "len {len}");
            assert_eq!(vt.ticket(&OfficerTail::new(&id), &id), want, "len {len}");
        }
    }

    #[test]
    fn first_block_reuse_for_shared_prefixes() {
        let s = seed();
        let u = Uscc::assemble(b'9', b'1', 370102, *b"MA3C4Y7K").unwrap();
        let mut vt = VisitTicketer::new(&s, &u);
        for n in 0..300 {
            for id in [format!("370100-MR-{n:05}"), format!("370100-MR-{n:05}-X"), format!("MR{n}")] {
                assert_eq!(vt.ticket(&OfficerTail::new(&id), &id), officer_ticket(&s, &u, &id), "{id}");
            }
        }
    }

    #[test]
    fn thresholds_and_targets() {
        assert_eq!(probability_threshold(1_000_000), 1u128 << 64);
        assert_eq!(probability_threshold(0), 0);
        assert_eq!(probability_threshold(500_000), 1u128 << 63);
        assert_eq!(probability_threshold(1), 18_446_744_073_709);
        assert_eq!(quota_target(0, 50_000, 0), 0);
        assert_eq!(quota_target(1, 1, 0), 1);
        assert_eq!(quota_target(100, 50_000, 0), 5);
        assert_eq!(quota_target(101, 50_000, 0), 6);
        assert_eq!(quota_target(101, 10_000, 30_000), 4);
        assert_eq!(quota_target(10, 2_000_000, 0), 10);
    }

    #[test]
    fn commitment_is_checked() {
        let secret = [7u8; 32];
        let c = commitment(&secret);
        assert!(check_commitment(&c, &secret).is_ok());
        assert!(matches!(check_commitment(&c, &[8u8; 32]), Err(DrawError::CommitmentMismatch { .. })));
        assert_eq!(check_commitment(&sha256(b"short"), b"short"), Err(DrawError::SecretTooShort(5)));
    }
}
