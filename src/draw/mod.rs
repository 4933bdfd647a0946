//! The reproducible "double random" inspection draw (双随机: random entities,
//! random officers), algorithm version `credo-draw-v1`.
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

mod assign;
mod bundle;
mod frame;
mod select;
mod text;
mod ticket;
mod verify;

pub use assign::{Item, Outcome, Visit, assign};
pub use bundle::Bundle;
pub use frame::{EntityRef, Frame, FrameBuilder, NewEntity, Officer, Plan, Stratum, StratumMode};
pub use select::{
    Candidate, Pick, Selection, ShardSelection, StratumCount, frame_tickets, merge, select, select_shard,
};
pub use ticket::{
    EntityTicketer, Hash, Seed, chacha20_first_u64, chacha20_first_u64_reference, check_commitment, commitment,
    derive_seed, entity_ticket, entity_tickets, officer_ticket, probability_threshold, quota_target, sha256,
};
pub use verify::{Report, verify};

use crate::model::Uscc;

/// The algorithm version this module implements. It is part of the seed
/// derivation and of every bundle.
pub const SPEC_VERSION: &str = "credo-draw-v1";

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
/// beacon, selects entities and assigns officers.
pub fn draw(frame: &Frame, secret: &[u8], beacon: &[u8]) -> Result<DrawResult, DrawError> {
    check_commitment(&frame.plan().commitment, secret)?;
    let seed = derive_seed(&frame.hash(), secret, beacon);
    draw_with_seed(frame, &seed)
}

/// The draw for an already derived seed (no commitment check).
pub fn draw_with_seed(frame: &Frame, seed: &Seed) -> Result<DrawResult, DrawError> {
    let shard = select_shard(frame, seed, &frame.populations())?;
    let selection = merge(std::slice::from_ref(&shard))?;
    assign(&selection, &[frame], seed)
}
