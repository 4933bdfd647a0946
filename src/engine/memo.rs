//! The per-run memory of answers to small, recurring stage inputs.

use std::hash::Hasher;

use hashbrown::HashTable;
use rustc_hash::FxHasher;

use super::DecisionRef;
use super::answer::Answer;
use super::facts::{EntityFacts, FieldMask, RecordParts};

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
    /// Answers by whole key.
    pub(super) whole: Whole,
    pub(super) observed: Observed,
}

/// Answers by whole key, in two generations (a part of [`StageMemo`] of
/// its own, so a stage can add to it while its entities still hold
/// answers found in [`Observed`]).
#[derive(Default)]
pub(super) struct Whole {
    newer: Answers,
    older: Answers,
}

/// The hash of a key, computed once per entity (where keys are built, in
/// parallel) and used by every table a key is looked up in: no key is
/// hashed twice, and bytes are compared only on equal hashes.
pub(super) fn key_hash(k: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(k);
    h.finish()
}

/// An answer and its decision, as a stage applies them.
type Kept = (Answer, DecisionRef);

/// Answers by key, each stored with its key's hash.
#[derive(Default)]
pub(super) struct Answers(HashTable<(u64, Box<[u8]>, Kept)>);

impl Answers {
    pub(super) fn get(&self, hash: u64, k: &[u8]) -> Option<&Kept> {
        self.0.find(hash, |(h, key, _)| *h == hash && **key == *k).map(|(_, _, v)| v)
    }

    /// Keeps `v` for `k` (replacing an answer kept for it).
    pub(super) fn insert(&mut self, hash: u64, k: Box<[u8]>, v: Kept) {
        match self.0.entry(hash, |(h, key, _)| *h == hash && *key == k, |(h, _, _)| *h) {
            hashbrown::hash_table::Entry::Occupied(mut o) => o.get_mut().2 = v,
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert((hash, k, v));
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
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
    /// The distinct read sets seen, the one that answered most entities
    /// so far first (each entity tries them in this order; which one
    /// answers changes nothing but the time spent).
    pub(super) masks: Vec<FieldMask>,
    /// Entities answered by each of `masks`, so far.
    hits: Vec<u64>,
    /// Entities that tried each of `masks`, so far (answered or not).
    tries: Vec<u64>,
    /// By the read set's bits and the key over those fields.
    answers: Answers,
}

impl Observed {
    /// Read sets tried per entity, at most.
    pub(super) const MAX_MASKS: usize = 8;
    /// Tries before a read set is judged by how often it answers.
    pub(super) const TRIAL: u64 = 4096;

    /// The read sets worth trying, by position in `masks`, in that order:
    /// those still on trial, and those that answered at least one entity
    /// in four that tried them. A try costs a key over the set's fields
    /// and a lookup; a miss then costs the whole key anyway, so a set that
    /// rarely answers costs more than it saves (at 3M, supervision's three
    /// sets answered about 10% of the entities between them, and every
    /// other entity built three keys before its whole one). Which sets
    /// are tried changes no answer, only the time spent.
    pub(super) fn worth_trying(&self) -> Vec<usize> {
        (0..self.masks.len()).filter(|&i| self.worth(i)).collect()
    }

    fn worth(&self, i: usize) -> bool {
        self.tries[i] < Self::TRIAL || self.hits[i] * 4 >= self.tries[i]
    }

    /// The lookup key of `mask` (its bits, then the entity's key over
    /// those fields) in `out`, which is cleared first.
    pub(super) fn key(f: &EntityFacts, mask: FieldMask, parts: RecordParts, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&mask.0.to_le_bytes());
        f.append_key(mask, parts, out);
    }

    /// The answer for a lookup key made by [`Observed::key`].
    pub(super) fn get(&self, k: &[u8]) -> Option<&Kept> {
        self.answers.get(key_hash(k), k)
    }

    /// Keeps an answer whose call read only `mask`; bounded like the memo
    /// (results never depend on what is kept). An answer under a read set
    /// no longer tried is not kept: no entity would look for it.
    pub(super) fn insert(&mut self, mask: FieldMask, k: Box<[u8]>, v: Kept) {
        match self.masks.iter().position(|m| *m == mask) {
            Some(i) if !self.worth(i) => return,
            Some(_) => {}
            None => {
                if self.masks.len() >= Self::MAX_MASKS {
                    return;
                }
                self.masks.push(mask);
                self.hits.push(0);
                self.tries.push(0);
            }
        }
        if self.answers.len() >= StageMemo::MAX_ENTRIES {
            self.answers.clear();
        }
        self.answers.insert(key_hash(&k), k, v);
    }

    /// Counts what trying the read sets at positions `tried` (in that
    /// order) did for `entities` entities: `hits[j]` of them were answered
    /// by `masks[tried[j]]`, and each entity tried the sets in order until
    /// one answered. Then puts the read sets that answered most first.
    pub(super) fn count(&mut self, tried: &[usize], hits: &[u64], entities: u64) {
        let mut left = entities;
        for (&i, &n) in tried.iter().zip(hits) {
            self.tries[i] += left;
            self.hits[i] += n;
            left = left.saturating_sub(n);
        }
        let mut order: Vec<usize> = (0..self.masks.len()).collect();
        // Stable: equal counts keep the order first seen.
        order.sort_by_key(|&i| std::cmp::Reverse(self.hits[i]));
        self.masks = order.iter().map(|&i| self.masks[i]).collect();
        self.hits = order.iter().map(|&i| self.hits[i]).collect();
        self.tries = order.iter().map(|&i| self.tries[i]).collect();
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

    /// Answers remembered by whole key.
    pub fn len(&self) -> usize {
        self.whole.newer.len() + self.whole.older.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Whole {
    /// The answer kept for key `k`, whose hash is `hash` ([`key_hash`]).
    pub(super) fn get(&self, hash: u64, k: &[u8]) -> Option<&Kept> {
        self.newer.get(hash, k).or_else(|| self.older.get(hash, k))
    }

    pub(super) fn insert(&mut self, hash: u64, k: Box<[u8]>, v: Kept) {
        if self.newer.len() >= StageMemo::MAX_ENTRIES {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(hash, k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Stage;

    fn answer(tier: u8) -> Kept {
        let d = crate::engine::Decision {
            stage: Stage::Tier,
            rule: "tier.rhai:tier".into(),
            clause: "(一)".into(),
            reason: format!("tier {tier}"),
            reason_zh: None,
            inputs: Vec::new(),
        };
        (Answer::Tier { tier }, DecisionRef::shared(d))
    }

    fn reason(a: Option<&Kept>) -> Option<String> {
        a.map(|a| a.1.decision().reason.clone())
    }

    #[test]
    fn keys_with_equal_hashes_are_told_apart_by_their_bytes() {
        let mut t = Answers::default();
        // One hash for every key: only the bytes tell them apart.
        t.insert(7, b"a".as_slice().into(), answer(1));
        t.insert(7, b"ab".as_slice().into(), answer(2));
        t.insert(7, b"".as_slice().into(), answer(3));
        assert_eq!(t.len(), 3);
        assert_eq!(reason(t.get(7, b"a")).as_deref(), Some("tier 1"));
        assert_eq!(reason(t.get(7, b"ab")).as_deref(), Some("tier 2"));
        assert_eq!(reason(t.get(7, b"")).as_deref(), Some("tier 3"));
        assert!(t.get(7, b"b").is_none());
        // The right bytes under another hash are not found.
        assert!(t.get(8, b"a").is_none());
        // A key kept again replaces its answer.
        t.insert(7, b"ab".as_slice().into(), answer(4));
        assert_eq!(t.len(), 3);
        assert_eq!(reason(t.get(7, b"ab")).as_deref(), Some("tier 4"));
    }

    /// An `Observed` with three read sets, each with one answer, in the
    /// order first seen.
    fn three_sets() -> (Observed, [FieldMask; 3]) {
        let mut o = Observed::default();
        let sets = [FieldMask(1), FieldMask(2), FieldMask(4)];
        for (n, m) in sets.into_iter().enumerate() {
            o.insert(m, vec![n as u8].into(), answer(1));
        }
        (o, sets)
    }

    #[test]
    fn read_sets_that_answer_most_are_tried_first() {
        let (mut o, [a, b, c]) = three_sets();
        assert_eq!(o.masks, [a, b, c]);
        o.count(&[0, 1, 2], &[1, 5, 1], 10);
        assert_eq!(o.masks, [b, a, c], "equal counts keep the order first seen");
        // Each set was tried by the entities the sets before it left.
        assert_eq!(o.tries, [9, 10, 4]);
        // Counts add up across stages' shards, in the new order.
        o.count(&[0, 1, 2], &[0, 3, 10], 20);
        assert_eq!(o.masks, [c, b, a]);
        assert_eq!(o.hits, [11, 5, 4]);
        assert_eq!(o.tries, [21, 29, 30]);
    }

    /// A read set stays on trial for `TRIAL` tries, then is tried only
    /// while it answers at least one entity in four; sets not tried keep
    /// their counts, and the others' tries follow from what was tried.
    #[test]
    fn read_sets_that_rarely_answer_are_no_longer_tried() {
        let (mut o, [a, b, c]) = three_sets();
        assert_eq!(o.worth_trying(), [0, 1, 2], "every new set is on trial");
        let n = Observed::TRIAL;
        // Of 4n entities, a answers half, b a quarter of what a left and c
        // one in a hundred of the rest.
        o.count(&[0, 1, 2], &[2 * n, n / 2, n / 100], 4 * n);
        assert_eq!(o.masks, [a, b, c]);
        assert_eq!(o.tries, [4 * n, 2 * n, 3 * n / 2]);
        assert_eq!(o.worth_trying(), [0, 1], "c answered fewer than one in four");
        // Only a and b are tried now: c's counts stay as they were.
        o.count(&[0, 1], &[0, 0], n);
        assert_eq!(o.tries, [5 * n, 3 * n, 3 * n / 2]);
        assert_eq!(o.worth_trying(), [0], "b now answered fewer than one in four");
        // Answers under a set no longer tried are not kept; under one
        // tried, they are.
        let kept = o.answers.len();
        o.insert(c, vec![9].into(), answer(2));
        assert_eq!(o.answers.len(), kept);
        o.insert(a, vec![9].into(), answer(2));
        assert_eq!(o.answers.len(), kept + 1);
        // A set that answered exactly one in four stays; one more miss
        // and it is no longer tried.
        let mut p = Observed::default();
        p.insert(a, vec![0].into(), answer(1));
        p.count(&[0], &[n / 4], n);
        assert_eq!(p.worth_trying(), [0]);
        p.count(&[0], &[0], 1);
        assert!(p.worth_trying().is_empty());
    }

    #[test]
    fn an_observed_key_is_the_read_set_then_the_entity_key_over_it() {
        let f = crate::engine::probe::probes()[1].clone();
        let m = FieldMask::default().with(crate::engine::Field::Tier).with(crate::engine::Field::Industry);
        let (mut k, mut whole) = (vec![9; 3], Vec::new());
        Observed::key(&f, m, RecordParts::ALL, &mut k);
        f.key(m, RecordParts::ALL, &mut whole);
        assert_eq!(k[..4], m.0.to_le_bytes());
        assert_eq!(k[4..], whole[..]);
    }
}
