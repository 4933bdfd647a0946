//! Decisions as entities hold them ([`DecisionRef`]).
//!
//! Most entities of a run share a few decisions (a tier's standard reason,
//! "no repeated violations"). Held by `Arc`, each entity's copy of each
//! shared decision was two atomic updates of one counter that every core
//! writes (taken by a stage, dropped after the spill, taken again when the
//! spill is read, dropped by the results writer): about 5% of a 15M run.
//! A decision that names no records is instead interned for the life of the
//! process: kept once, by content, and held as a plain reference, so
//! copying and dropping it touch nothing shared, and it has a number the
//! spill writes instead of its text.
//!
//! Invariants: an interned decision is never freed or changed, and its
//! number always names it; at most [`MAX_INTERNED`] are kept (a bound on
//! memory, estimated at about 20 MB for a few hundred bytes a decision, not
//! measured: beyond it a decision is held by `Arc` as before,
//! with the same content, so only speed differs); a decision naming records
//! (an entity's own) is never interned. What a reference holds is never
//! visible in results: equality, rendering and serialisation are the
//! decision's.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use hashbrown::HashTable;
use rustc_hash::FxHasher;

use super::Decision;

/// Most decisions a process interns.
pub const MAX_INTERNED: usize = 1 << 16;

/// A decision held by an entity: interned (shared by content for the life
/// of the process) or held by reference count.
#[derive(Clone)]
pub struct DecisionRef(Repr);

#[derive(Clone)]
enum Repr {
    Interned(&'static Entry),
    Counted(Arc<Decision>),
}

struct Entry {
    number: u32,
    decision: Decision,
}

/// Interned decisions by content, in shards so that workers interning
/// their calls' decisions at once seldom wait for each other.
const SHARDS: usize = 16;

struct Interner {
    shards: [Mutex<HashTable<&'static Entry>>; SHARDS],
    /// Numbers given so far (at most the table's length).
    next: AtomicU32,
    /// Interned decisions by number: read without a lock (each set once).
    numbered: Box<[OnceLock<&'static Entry>]>,
}

fn interner() -> &'static Interner {
    static INTERNER: OnceLock<Interner> = OnceLock::new();
    INTERNER.get_or_init(|| Interner::new(MAX_INTERNED))
}

fn content_hash(d: &Decision) -> u64 {
    let mut h = FxHasher::default();
    (d.stage as u8).hash(&mut h);
    d.rule.hash(&mut h);
    d.clause.hash(&mut h);
    d.reason.hash(&mut h);
    d.reason_zh.hash(&mut h);
    d.inputs.hash(&mut h);
    h.finish()
}

impl Interner {
    fn new(max: usize) -> Interner {
        Interner {
            shards: std::array::from_fn(|_| Mutex::new(HashTable::new())),
            next: AtomicU32::new(0),
            numbered: (0..max).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The interned decision equal to `d`, added if new; `d` back when the
    /// table is full.
    fn intern(&self, d: Decision) -> Result<&'static Entry, Decision> {
        let hash = content_hash(&d);
        let shard = &self.shards[(hash >> 32) as usize % SHARDS];
        // A panic elsewhere while the lock was held leaves the table as it
        // was (an insert is one step): its content stays good.
        let mut table = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(e) = table.find(hash, |e| e.decision == d) {
            return Ok(e);
        }
        // Each number is given once (never past the table, so the count
        // cannot wrap however many decisions a full table refuses).
        let max = self.numbered.len() as u32;
        let Ok(number) = self.next.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < max).then_some(n + 1))
        else {
            return Err(d);
        };
        let entry: &'static Entry = Box::leak(Box::new(Entry { number, decision: d }));
        // Its slot is empty: the number is new.
        let set = self.numbered[number as usize].set(entry);
        debug_assert!(set.is_ok(), "interned decision number {number} given twice");
        table.insert_unique(hash, entry, |e| content_hash(&e.decision));
        Ok(entry)
    }
}

impl DecisionRef {
    /// A decision many entities may hold (a stage's answer): interned when
    /// it names no records and there is room, otherwise counted.
    pub fn shared(d: Decision) -> DecisionRef {
        if !d.inputs.is_empty() {
            return DecisionRef::own(d);
        }
        match interner().intern(d) {
            Ok(e) => DecisionRef(Repr::Interned(e)),
            Err(d) => DecisionRef::own(d),
        }
    }

    /// A decision of one entity (naming its records, or read back from a
    /// stored result): never interned.
    pub fn own(d: Decision) -> DecisionRef {
        DecisionRef(Repr::Counted(Arc::new(d)))
    }

    /// The decision's address: the same for every copy of this reference,
    /// and unique among decisions held at once.
    pub fn addr(&self) -> usize {
        std::ptr::from_ref::<Decision>(self) as usize
    }

    /// Whether no other reference to this decision exists (an entity's own
    /// decision): no other entity's list can hold it.
    pub fn held_alone(&self) -> bool {
        matches!(&self.0, Repr::Counted(a) if Arc::strong_count(a) == 1)
    }

    /// The number of an interned decision.
    pub fn number(&self) -> Option<u32> {
        match &self.0 {
            Repr::Interned(e) => Some(e.number),
            Repr::Counted(_) => None,
        }
    }

    /// The interned decision numbered `n`, if there is one.
    pub fn numbered(n: u32) -> Option<DecisionRef> {
        interner().numbered.get(n as usize)?.get().map(|e| DecisionRef(Repr::Interned(e)))
    }
}

impl std::ops::Deref for DecisionRef {
    type Target = Decision;
    fn deref(&self) -> &Decision {
        match &self.0 {
            Repr::Interned(e) => &e.decision,
            Repr::Counted(a) => a,
        }
    }
}

impl std::fmt::Debug for DecisionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl PartialEq for DecisionRef {
    fn eq(&self, other: &DecisionRef) -> bool {
        **self == **other
    }
}

impl Eq for DecisionRef {}

impl serde::Serialize for DecisionRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Stage;

    fn decision(reason: &str, inputs: &[&str]) -> Decision {
        Decision {
            stage: Stage::Tier,
            rule: "tier.rhai:tier".into(),
            clause: "（三）一".into(),
            reason: reason.into(),
            reason_zh: Some(format!("{reason} zh")),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn equal_decisions_are_interned_once_and_numbered() {
        let a = DecisionRef::shared(decision("interned once", &[]));
        let b = DecisionRef::shared(decision("interned once", &[]));
        assert_eq!(a.addr(), b.addr());
        let n = a.number().expect("interned");
        assert_eq!(b.number(), Some(n));
        let back = DecisionRef::numbered(n).expect("numbered");
        assert_eq!(back.addr(), a.addr());
        assert_eq!(*back, decision("interned once", &[]));
        // A different text (or Chinese form) is another decision.
        let c = DecisionRef::shared(Decision { reason_zh: None, ..decision("interned once", &[]) });
        assert_ne!(c.addr(), a.addr());
        assert_ne!(c, a);
        assert!(!a.held_alone());
    }

    #[test]
    fn a_decision_naming_records_is_its_own() {
        let a = DecisionRef::shared(decision("names records", &["R1"]));
        let b = DecisionRef::shared(decision("names records", &["R1"]));
        assert_eq!(a.number(), None);
        assert_ne!(a.addr(), b.addr());
        assert_eq!(a, b);
        assert!(a.held_alone());
        let copy = a.clone();
        assert!(!a.held_alone() && copy.addr() == a.addr());
        drop(copy);
        assert!(a.held_alone());
        let own = DecisionRef::own(decision("stored", &[]));
        assert_eq!(own.number(), None);
        assert!(own.held_alone());
    }

    #[test]
    fn serialises_as_the_decision() {
        let d = decision("as serialised", &[]);
        let r = DecisionRef::shared(d.clone());
        assert_eq!(serde_json::to_string(&r).unwrap(), serde_json::to_string(&d).unwrap());
        assert_eq!(format!("{r:?}"), format!("{d:?}"));
    }

    /// A full table interns nothing more: the decision is counted instead,
    /// and a known one is still found.
    #[test]
    fn a_full_table_refuses_new_decisions() {
        let small = Interner::new(2);
        let a = small.intern(decision("first", &[])).expect("room");
        assert!(small.intern(decision("second", &[])).is_ok());
        assert_eq!(small.intern(decision("third", &[])).err(), Some(decision("third", &[])));
        // Refusals do not use up numbers.
        assert_eq!(small.next.load(Ordering::Relaxed), 2);
        assert!(std::ptr::eq(small.intern(decision("first", &[])).expect("known"), a));
        assert_eq!(small.numbered[1].get().map(|e| e.decision.reason.as_str()), Some("second"));
    }

    #[test]
    fn numbers_past_the_table_name_nothing() {
        assert!(DecisionRef::numbered(MAX_INTERNED as u32).is_none());
        assert!(DecisionRef::numbered(u32::MAX).is_none());
    }

    /// Interning from many threads at once gives each content one entry.
    #[test]
    fn interning_on_many_threads_agrees() {
        let refs: Vec<Vec<usize>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..200).map(|i| DecisionRef::shared(decision(&format!("many {i}"), &[])).addr()).collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(refs.windows(2).all(|w| w[0] == w[1]));
    }
}
