//! The reproducible "double random" inspection draw (双随机: random entities,
//! random officers), algorithm versions `credo-draw-v1` and `credo-draw-v2`.
//!
//! Why it exists: a random inspection is only fair if nobody can steer it.
//! The regulator commits to a secret before the draw (so it cannot re-roll),
//! every random number is derived from public inputs plus that secret with
//! SHA-256 and ChaCha20 (so anybody can re-derive it), and the whole draw is
//! exported as a self-contained text bundle that an auditor can check years
//! later with their own tools, from `docs/draw-spec.md` alone
//! (`docs/verify_draw.py` is such an independent checker).
//!
//! Flow: build a [`Frame`] with [`FrameBuilder`] (plan, strata, entities,
//! officers — all eligibility decisions already made elsewhere in credo),
//! call [`draw`] with the revealed secret and the beacon, export with
//! [`Bundle::render`], check with [`verify`]. Large frames can be drawn in
//! shards with [`select_shard`] + [`merge`] + [`assign`].
//!
//! credo-draw-v2 ([`FrameBuilder::new_v2`]) adds to the frame a beacon rule
//! (a plan names its public randomness and how its published value becomes
//! bytes, or says it has none) and the plan's provenance, and to the bundle
//! the published beacon value, when it was supplied, and an Ed25519
//! signature of the issuing store. v1 bundles keep verifying byte for byte.

mod assign;
mod bundle;
mod frame;
mod select;
mod text;
mod ticket;
mod verify;

pub use assign::{Item, Outcome, Visit, assign};
pub use bundle::Bundle;
pub use bundle::{BeaconReveal, BundleSignature, MAGIC, MAGIC_V2, ParsedBundle, SIGNATURE_TYPE};
pub use frame::{
    BeaconRefused, BeaconRule, EntityRef, Frame, FrameBuilder, NewEntity, Officer, Plan, Provenance, Stratum,
    StratumMode, UnknownBeaconRule, V2Header, is_utc_time,
};
pub use select::{
    Candidate, Pick, Selection, ShardSelection, StratumCount, frame_tickets, merge, select, select_shard,
};
pub use ticket::{
    EntityTicketer, Hash, Seed, chacha20_first_u64, check_commitment, commitment, derive_seed, entity_ticket,
    entity_tickets, officer_ticket, probability_threshold, quota_target, sha256,
};
pub use verify::{Report, VerifyOptions, verify, verify_with};

use crate::model::Uscc;

/// The first algorithm version. It is part of the seed derivation and of
/// every v1 bundle.
pub const SPEC_VERSION: &str = "credo-draw-v1";

/// The current algorithm version (beacon binding, provenance, signatures).
pub const SPEC_VERSION_V2: &str = "credo-draw-v2";

/// An algorithm version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spec {
    V1,
    V2,
}

impl Spec {
    pub fn as_str(self) -> &'static str {
        match self {
            Spec::V1 => SPEC_VERSION,
            Spec::V2 => SPEC_VERSION_V2,
        }
    }

    /// The seed of a draw under this version (docs/draw-spec.md §4).
    pub fn derive_seed(self, frame_hash: &Hash, secret: &[u8], beacon: &[u8]) -> Seed {
        match self {
            Spec::V1 => derive_seed(frame_hash, secret, beacon),
            Spec::V2 => ticket::derive_seed_tagged(b"credo-draw-v2\0", frame_hash, secret, beacon),
        }
    }
}

impl std::fmt::Display for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong when building a frame, drawing or parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrawError {
    #[error("invalid plan: {0}")]
    Plan(String),
    #[error("stratum '{key}': {message}")]
    Stratum { key: String, message: String },
    #[error("entity {uscc}: {message}")]
    Entity { uscc: Uscc, message: String },
    #[error("entity {0} appears more than once")]
    DuplicateEntity(Uscc),
    #[error("officer '{id}': {message}")]
    Officer { id: String, message: String },
    #[error("the frame is too large: {0}")]
    TooLarge(String),
    #[error("the revealed secret is {0} bytes; at least 16 are required")]
    SecretTooShort(usize),
    #[error("commitment does not match secret: SHA-256(secret) is {computed}, the plan committed to {committed}")]
    CommitmentMismatch { computed: String, committed: String },
    #[error("shards do not fit together: {0}")]
    Shards(String),
    #[error("line {line}, column {column}: {message}")]
    Parse { line: usize, column: usize, message: String },
    #[error("beacon: {0}")]
    Beacon(BeaconRefused),
}

impl DrawError {
    /// What the user reads, in both languages (`Display` is the English).
    /// Hashes, codes and ids keep their form; the detail a variant carries
    /// (a parser's or a check's message) is shown as it was written.
    pub fn text(&self) -> crate::i18n::Text {
        use crate::tr;
        match self {
            DrawError::Plan(m) => tr!("计划无效：{m}", "invalid plan: {m}"),
            DrawError::Stratum { key, message } => tr!("分层 '{key}'：{message}", "stratum '{key}': {message}"),
            DrawError::Entity { uscc, message } => tr!("主体 {uscc}：{message}", "entity {uscc}: {message}"),
            DrawError::DuplicateEntity(u) => tr!("主体 {u} 出现了不止一次", "entity {u} appears more than once"),
            DrawError::Officer { id, message } => tr!("执法人员 '{id}'：{message}", "officer '{id}': {message}"),
            DrawError::TooLarge(m) => tr!("抽查框过大：{m}", "the frame is too large: {m}"),
            DrawError::SecretTooShort(n) => tr!(
                "揭示的秘密值只有 {n} 字节；至少需要 16 字节",
                "the revealed secret is {n} bytes; at least 16 are required"
            ),
            DrawError::CommitmentMismatch { computed, committed } => tr!(
                "承诺值与秘密值不符：SHA-256(秘密值) 为 {computed}，计划承诺的是 {committed}",
                "commitment does not match secret: SHA-256(secret) is {computed}, the plan committed to {committed}"
            ),
            DrawError::Shards(m) => tr!("分片无法拼合：{m}", "shards do not fit together: {m}"),
            DrawError::Parse { line, column, message } => {
                tr!("第 {line} 行第 {column} 列：{message}", "line {line}, column {column}: {message}")
            }
            DrawError::Beacon(m) => {
                let m = m.text();
                crate::i18n::Text::new(format!("随机信标：{}", m.zh()), format!("beacon: {}", m.en()))
            }
        }
    }
}

/// The result of a draw: per-stratum counts and the ordered visits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawResult {
    /// Per stratum, in strata-table order (ascending key bytes).
    pub counts: Vec<StratumCount>,
    /// Every selected entity, in processing order: ascending (ticket, USCC).
    pub visits: Vec<Visit>,
}

impl DrawResult {
    /// The canonical text of the result: the `[counts]` and `[visits]`
    /// sections of a bundle, byte for byte.
    pub fn canonical_text(&self) -> String {
        let mut s = String::new();
        bundle::render_counts(&mut s, &self.counts);
        bundle::render_visits(&mut s, &self.visits);
        s
    }

    /// SHA-256 of [`DrawResult::canonical_text`].
    pub fn hash(&self) -> Hash {
        sha256(self.canonical_text().as_bytes())
    }

    /// Number of visits that got officers.
    pub fn staffed(&self) -> usize {
        self.visits.iter().filter(|v| matches!(v.outcome, Outcome::Staffed(_))).count()
    }
}

/// Runs the whole draw on one frame: checks the secret against the plan's
/// commitment, derives the seed from the frame hash, the secret and the
/// beacon (by the frame's algorithm version), selects entities and assigns
/// officers. For a v2 frame, `beacon` must be what the plan's beacon rule
/// makes of a published value (see [`draw_v2`]).
pub fn draw(frame: &Frame, secret: &[u8], beacon: &[u8]) -> Result<DrawResult, DrawError> {
    check_commitment(&frame.plan().commitment, secret)?;
    let seed = frame.spec().derive_seed(&frame.hash(), secret, beacon);
    draw_with_seed(frame, &seed)
}

/// The draw of a credo-draw-v2 frame from the published beacon value: the
/// plan's beacon rule turns it into bytes, and refuses a value when the
/// plan named no beacon, or an empty one when it named one. Returns the
/// beacon bytes with the result.
pub fn draw_v2(frame: &Frame, secret: &[u8], beacon_value: &str) -> Result<(Vec<u8>, DrawResult), DrawError> {
    let h = frame.v2().ok_or_else(|| DrawError::Plan("the frame is credo-draw-v1; it has no beacon rule".into()))?;
    let beacon = h.beacon_rule.bytes(beacon_value).map_err(DrawError::Beacon)?;
    let result = draw(frame, secret, &beacon)?;
    Ok((beacon, result))
}

/// The draw for an already derived seed (no commitment check).
pub fn draw_with_seed(frame: &Frame, seed: &Seed) -> Result<DrawResult, DrawError> {
    let shard = select_shard(frame, seed, &frame.populations())?;
    let selection = merge(std::slice::from_ref(&shard))?;
    assign(&selection, &[frame], seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_in_both_languages_and_display_the_english() {
        let e = DrawError::SecretTooShort(8);
        assert_eq!(e.text().zh(), "揭示的秘密值只有 8 字节；至少需要 16 字节");
        assert_eq!(e.text().en(), e.to_string());
        let e = DrawError::Parse { line: 3, column: 7, message: "bad".into() };
        assert_eq!(e.text().zh(), "第 3 行第 7 列：bad");
        assert_eq!(e.text().en(), e.to_string());
    }
}
