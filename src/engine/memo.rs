//! The per-run memory of answers to small, recurring stage inputs.

use rustc_hash::FxHashMap;

use super::Decision;
use super::answer::Answer;
use super::facts::{EntityFacts, FieldMask, RecordParts};
use std::sync::Arc;

/// Answers to small inputs of a stage, kept across the shards of a run so
/// common inputs (an entity with no records, a tier and a risk) are
/// evaluated once per run, not once per shard. Inputs that name records
/// are unique to their entity and are not kept.
///
/// Memory is bounded: two generations of at most [`StageMemo::MAX_ENTRIES`]
/// each; when the newer one is full it becomes the older one and the older
/// one is dropped. Inputs that keep coming back stay, rare ones are
/// evaluated again if they return (rules are pure functions of their
/// inputs, so results never depend on what is remembered). Unbounded, the
/// memos of a 15M run held 5.7 million answers.
///
/// It also keeps answers by what their call actually read
/// ([`Observed`]).
#[derive(Default)]
pub struct StageMemo {
    newer: FxHashMap<Box<[u8]>, (Answer, Arc<Decision>)>,
    older: FxHashMap<Box<[u8]>, (Answer, Arc<Decision>)>,
    pub(super) observed: Observed,
}

/// Answers by the fields their call read, when it read fewer than the
/// stage declares (a blacklist rule that returns early for tiers 1-3 reads
/// only the tier): every entity that agrees on those fields gets the same
/// answer without a call and without its whole key being built.
///
/// Why this is sound: a rule is a deterministic function of what it reads,
/// and it learns an entity's fields only through the entity's getters, each
/// of which marks its field as read (`host::EntityView::need`; `as_of`, the
/// one unmarked getter, is the same for every entity of a run). So a call
/// for an entity that agrees with an earlier one on every field that call
/// read takes the same path, reads the same values and returns the same
/// value. Only answers of calls that read no records and that name no
/// record (`inputs` empty; not `record_status`, whose answer has one status
/// per record) are kept: nothing of the answer, nor of its checks, depends
/// on fields outside the key, and a key stays a few bytes.
#[derive(Default)]
pub(super) struct Observed {
    /// The distinct read sets seen, in the order first seen.
    pub(super) masks: Vec<FieldMask>,
    /// By the read set's bits and the key over those fields.
    answers: FxHashMap<Box<[u8]>, (Answer, Arc<Decision>)>,
}

impl Observed {
    /// Read sets tried per entity, at most.
    pub(super) const MAX_MASKS: usize = 8;

    /// Appends the lookup key of `mask` (its bits, then the entity's key
    /// over those fields) to `out`, which is cleared first.
    pub(super) fn key(f: &EntityFacts, mask: FieldMask, parts: RecordParts, tmp: &mut Vec<u8>, out: &mut Vec<u8>) {
        f.key(mask, parts, tmp);
        out.clear();
        out.extend_from_slice(&mask.0.to_le_bytes());
        out.extend_from_slice(tmp);
    }

    pub(super) fn get(&self, k: &[u8]) -> Option<&(Answer, Arc<Decision>)> {
        self.answers.get(k)
    }

    /// Keeps an answer whose call read only `mask`; bounded like the memo
    /// (results never depend on what is kept).
    pub(super) fn insert(&mut self, mask: FieldMask, k: Box<[u8]>, v: (Answer, Arc<Decision>)) {
        if !self.masks.contains(&mask) {
            if self.masks.len() >= Self::MAX_MASKS {
                return;
            }
            self.masks.push(mask);
        }
        if self.answers.len() >= StageMemo::MAX_ENTRIES {
            self.answers.clear();
        }
        self.answers.insert(k, v);
    }
}

impl StageMemo {
    /// Longest input kept, in bytes of its key.
    pub(super) const MAX_KEY: usize = 96;
    /// Answers per generation. Measured at 3M entities: unbounded, 2^17 and
    /// 2^15 give the same calls within 0.001% (inputs that recur are few
    /// and stay; the rest are unique to their entity) and peak memory falls
    /// from 1.29 to 1.15 GB with 2^15.
    pub(super) const MAX_ENTRIES: usize = 1 << 15;

    pub(super) fn get(&self, k: &[u8]) -> Option<&(Answer, Arc<Decision>)> {
        self.newer.get(k).or_else(|| self.older.get(k))
    }

    pub(super) fn insert(&mut self, k: Box<[u8]>, v: (Answer, Arc<Decision>)) {
        if self.newer.len() >= Self::MAX_ENTRIES {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(k, v);
    }

    /// Answers remembered by whole key.
    pub fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
