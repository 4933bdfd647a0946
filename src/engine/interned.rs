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
//! A decision naming an entity's records (its own: a record_status
//! answer's notes, a tier reason citing records) is kept compact: an
//! interned template (the decision without its inputs) and the records it
//! names, by position and id, with an interned [`Note`] each for
//! record_status. Its reason and JSON are written from those parts when
//! the results are written, and the spill writes numbers and positions,
//! not texts; [`DecisionRef::decision`] makes the whole decision once, on
//! demand.
//!
//! Invariants: an interned value (decision, template or note) is never
//! freed or changed, and its number always names it; at most
//! [`MAX_INTERNED`] decisions and as many notes are kept (a bound on
//! memory, estimated at about 20 MB each for a few hundred bytes a value,
//! not measured: beyond it a value is held by `Arc`, whole, with the same
//! content, so only speed differs). What a reference holds is never
//! visible in results: equality, rendering and serialisation are the
//! decision's (`tests` hold compact forms to the whole decision's text and
//! JSON).

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use hashbrown::HashTable;
use rustc_hash::FxHasher;

use super::Decision;
use super::facts::{EntityFacts, Text};
use crate::i18n::Lang;
use crate::model::RecordStatus;

/// Most decisions a process interns; as many notes again.
pub const MAX_INTERNED: usize = 1 << 16;

/// A decision held by an entity: interned (shared by content for the life
/// of the process), an entity's own in compact form, or held by reference
/// count.
#[derive(Clone)]
pub struct DecisionRef(Repr);

#[derive(Clone)]
enum Repr {
    Interned(&'static Entry<Decision>),
    Own(Arc<Own>),
    Counted(Arc<Decision>),
}

/// A value interned for the life of the process, and its number.
#[derive(Debug)]
pub(super) struct Entry<T: 'static> {
    number: u32,
    value: T,
}

/// A decision naming an entity's records, kept as what it is made of: an
/// interned template (stage, rule, clause, and for [`Named::Inputs`] the
/// reason) and the records it names, by position among the entity's
/// records and id. Its text is made only when it is written
/// ([`DecisionRef::write_json`], [`DecisionRef::render_into`]), or once
/// when it is read as a [`Decision`].
struct Own {
    template: &'static Entry<Decision>,
    named: Named,
    full: OnceLock<Box<Decision>>,
}

enum Named {
    /// The records a stage's answer named (`inputs`), in its order.
    Inputs(Box<[(u32, Text)]>),
    /// A record_status answer's notable records, each with its note.
    Notes(Box<[(u32, Text, &'static Entry<Note>)]>),
}

/// What a record_status rule said of one notable record: its status and
/// reason (the `en` form, or its only text) and the `zh` form if given.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Note {
    pub status: RecordStatus,
    /// The status's Chinese name.
    pub zh_status: &'static str,
    pub reason: String,
    pub zh: Option<String>,
    /// Whether its texts are written in JSON as they are (no escapes).
    plain: bool,
}

impl Note {
    pub fn new(status: RecordStatus, reason: String, zh: Option<String>) -> Note {
        use crate::model::json::is_plain;
        let zh_status = crate::i18n::record_status_name(status.as_str(), Lang::Zh);
        let plain = is_plain(&reason) && zh.as_deref().is_none_or(is_plain) && is_plain(zh_status);
        Note { status, zh_status, reason, zh, plain }
    }
}

/// A note as an answer holds it: interned when there is room.
#[derive(Clone, Debug)]
pub(super) enum NoteRef {
    Interned(&'static Entry<Note>),
    Counted(Arc<Note>),
}

impl NoteRef {
    pub(super) fn new(n: Note) -> NoteRef {
        match notes_interner().intern(n) {
            Ok(e) => NoteRef::Interned(e),
            Err(n) => NoteRef::Counted(Arc::new(n)),
        }
    }

    fn as_note(&self) -> &Note {
        match self {
            NoteRef::Interned(e) => &e.value,
            NoteRef::Counted(n) => n,
        }
    }
}

impl PartialEq for NoteRef {
    fn eq(&self, other: &NoteRef) -> bool {
        self.as_note() == other.as_note()
    }
}

/// Content hashing for interned values.
trait Content: Eq + Send + Sync + 'static {
    fn content_hash(&self) -> u64;
}

impl Content for Decision {
    fn content_hash(&self) -> u64 {
        let mut h = FxHasher::default();
        (self.stage as u8).hash(&mut h);
        self.rule.hash(&mut h);
        self.clause.hash(&mut h);
        self.reason.hash(&mut h);
        self.reason_zh.hash(&mut h);
        self.inputs.hash(&mut h);
        h.finish()
    }
}

impl Content for Note {
    fn content_hash(&self) -> u64 {
        let mut h = FxHasher::default();
        self.hash(&mut h);
        h.finish()
    }
}

/// Interned values by content, in shards so that workers interning
/// their calls' values at once seldom wait for each other.
const SHARDS: usize = 16;

struct Interner<T: 'static> {
    shards: [Mutex<HashTable<&'static Entry<T>>>; SHARDS],
    /// Numbers given so far (at most the table's length).
    next: AtomicU32,
    /// Interned values by number: read without a lock (each set once).
    numbered: Box<[OnceLock<&'static Entry<T>>]>,
}

fn decisions() -> &'static Interner<Decision> {
    static INTERNER: OnceLock<Interner<Decision>> = OnceLock::new();
    INTERNER.get_or_init(|| Interner::new(MAX_INTERNED))
}

fn notes_interner() -> &'static Interner<Note> {
    static INTERNER: OnceLock<Interner<Note>> = OnceLock::new();
    INTERNER.get_or_init(|| Interner::new(MAX_INTERNED))
}

impl<T: Content> Interner<T> {
    fn new(max: usize) -> Interner<T> {
        Interner {
            shards: std::array::from_fn(|_| Mutex::new(HashTable::new())),
            next: AtomicU32::new(0),
            numbered: (0..max).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The interned value equal to `v`, added if new; `v` back when the
    /// table is full.
    fn intern(&self, v: T) -> Result<&'static Entry<T>, T> {
        let hash = v.content_hash();
        let shard = &self.shards[(hash >> 32) as usize % SHARDS];
        // A panic elsewhere while the lock was held leaves the table as it
        // was (an insert is one step): its content stays good.
        let mut table = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(e) = table.find(hash, |e| e.value == v) {
            return Ok(e);
        }
        // Each number is given once (never past the table, so the count
        // cannot wrap however many values a full table refuses).
        let max = self.numbered.len() as u32;
        let Ok(number) = self.next.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < max).then_some(n + 1))
        else {
            return Err(v);
        };
        let entry: &'static Entry<T> = Box::leak(Box::new(Entry { number, value: v }));
        // Its slot is empty: the number is new.
        let set = self.numbered[number as usize].set(entry);
        debug_assert!(set.is_ok(), "interned number {number} given twice");
        table.insert_unique(hash, entry, |e| e.value.content_hash());
        Ok(entry)
    }

    fn numbered(&self, n: u32) -> Option<&'static Entry<T>> {
        self.numbered.get(n as usize)?.get().copied()
    }
}

/// What an own decision in compact form names: the records a stage's
/// answer cited (`inputs`), or a record_status answer's notable records,
/// each with its note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnKind {
    Inputs,
    Notes,
}

impl DecisionRef {
    /// A decision many entities may hold (a stage's answer): interned when
    /// it names no records and there is room, otherwise counted.
    pub fn shared(d: Decision) -> DecisionRef {
        if !d.inputs.is_empty() {
            return DecisionRef::own(d);
        }
        match decisions().intern(d) {
            Ok(e) => DecisionRef(Repr::Interned(e)),
            Err(d) => DecisionRef::own(d),
        }
    }

    /// A stage's answer for entity `f`: as [`DecisionRef::shared`], but a
    /// decision naming records is kept compact (its template interned,
    /// the records by position and id) when there is room.
    pub fn for_entity(d: Decision, f: &EntityFacts) -> DecisionRef {
        if d.inputs.is_empty() {
            return DecisionRef::shared(d);
        }
        let mut named = Vec::with_capacity(d.inputs.len());
        for id in &d.inputs {
            match f.records.iter().position(|r| r.id.as_str() == id) {
                Some(p) => named.push((p as u32, f.records[p].id.clone())),
                None => return DecisionRef::own(d),
            }
        }
        let template = Decision { inputs: Vec::new(), ..d };
        match decisions().intern(template) {
            Ok(t) => DecisionRef::compact(t, Named::Inputs(named.into())),
            Err(template) => DecisionRef::own(Decision {
                inputs: named.into_iter().map(|(_, id)| id.to_string()).collect(),
                ..template
            }),
        }
    }

    /// A record_status decision for entity `f` from its answer's notes:
    /// `template` (the answer's shared decision) filled with `f`'s records.
    /// Compact when the template and every note are interned.
    pub(super) fn with_notes(template: &DecisionRef, notes: &[(usize, &NoteRef)], f: &EntityFacts) -> DecisionRef {
        if let Repr::Interned(t) = &template.0 {
            let named: Option<Vec<(u32, Text, &'static Entry<Note>)>> = notes
                .iter()
                .map(|(i, n)| match n {
                    NoteRef::Interned(e) => Some((*i as u32, f.records[*i].id.clone(), *e)),
                    NoteRef::Counted(_) => None,
                })
                .collect();
            if let Some(named) = named {
                return DecisionRef::compact(t, Named::Notes(named.into()));
            }
        }
        let items: Vec<(&str, &Note)> = notes.iter().map(|(i, n)| (f.records[*i].id.as_str(), n.as_note())).collect();
        DecisionRef::own(notes_decision(template.decision(), &items))
    }

    /// [`DecisionRef::with_notes`] from notes' texts (`index`, status,
    /// reason, `zh`), for tests outside the engine.
    #[cfg(test)]
    pub(crate) fn with_note_texts(
        template: &DecisionRef,
        notes: &[(usize, RecordStatus, &str, Option<&str>)],
        f: &EntityFacts,
    ) -> DecisionRef {
        let refs: Vec<(usize, NoteRef)> = notes
            .iter()
            .map(|(i, status, reason, zh)| {
                (*i, NoteRef::new(Note::new(*status, reason.to_string(), zh.map(str::to_string))))
            })
            .collect();
        let named: Vec<(usize, &NoteRef)> = refs.iter().map(|(i, n)| (*i, n)).collect();
        DecisionRef::with_notes(template, &named, f)
    }

    fn compact(template: &'static Entry<Decision>, named: Named) -> DecisionRef {
        DecisionRef(Repr::Own(Arc::new(Own { template, named, full: OnceLock::new() })))
    }

    /// A decision of one entity (naming its records, or read back from a
    /// stored result): never interned.
    pub fn own(d: Decision) -> DecisionRef {
        DecisionRef(Repr::Counted(Arc::new(d)))
    }

    /// The decision's address: the same for every copy of this reference,
    /// and unique among decisions held at once.
    pub fn addr(&self) -> usize {
        match &self.0 {
            Repr::Interned(e) => std::ptr::from_ref(*e) as usize,
            Repr::Own(o) => Arc::as_ptr(o) as usize,
            Repr::Counted(d) => Arc::as_ptr(d) as usize,
        }
    }

    /// Whether no other reference to this decision exists (an entity's own
    /// decision): no other entity's list can hold it.
    pub fn held_alone(&self) -> bool {
        match &self.0 {
            Repr::Interned(_) => false,
            Repr::Own(o) => Arc::strong_count(o) == 1,
            Repr::Counted(d) => Arc::strong_count(d) == 1,
        }
    }

    /// The number of an interned decision.
    pub fn number(&self) -> Option<u32> {
        match &self.0 {
            Repr::Interned(e) => Some(e.number),
            Repr::Own(_) | Repr::Counted(_) => None,
        }
    }

    /// The interned decision numbered `n`, if there is one.
    pub fn numbered(n: u32) -> Option<DecisionRef> {
        decisions().numbered(n).map(|e| DecisionRef(Repr::Interned(e)))
    }

    /// The stage that took the decision.
    pub fn stage(&self) -> super::Stage {
        self.head().stage
    }

    /// The interned decision whose stage, rule and clause this one has.
    fn head(&self) -> &Decision {
        match &self.0 {
            Repr::Interned(e) => &e.value,
            Repr::Own(o) => &o.template.value,
            Repr::Counted(d) => d,
        }
    }

    /// Whether the decision names records.
    pub fn names_records(&self) -> bool {
        match &self.0 {
            Repr::Interned(e) => !e.value.inputs.is_empty(),
            Repr::Own(_) => true,
            Repr::Counted(d) => !d.inputs.is_empty(),
        }
    }

    /// The ids of the records the decision names, in order.
    pub fn inputs(&self) -> Vec<&str> {
        match &self.0 {
            Repr::Interned(e) => e.value.inputs.iter().map(String::as_str).collect(),
            Repr::Own(o) => o.ids().collect(),
            Repr::Counted(d) => d.inputs.iter().map(String::as_str).collect(),
        }
    }

    /// The compact form's parts for the spill: its template's number, its
    /// kind, and per named record its position among the entity's
    /// records, its id and (for notes) its note's number. `None` for a
    /// decision not in compact form.
    pub fn compact_parts(&self) -> Option<(u32, OwnKind, impl Iterator<Item = (u32, &str, u32)> + '_)> {
        let Repr::Own(o) = &self.0 else { return None };
        let (kind, a, b) = match &o.named {
            Named::Inputs(v) => (OwnKind::Inputs, Some(v.iter().map(|(p, id)| (*p, id.as_str(), 0))), None),
            Named::Notes(v) => (OwnKind::Notes, None, Some(v.iter().map(|(p, id, n)| (*p, id.as_str(), n.number)))),
        };
        Some((o.template.number, kind, a.into_iter().flatten().chain(b.into_iter().flatten())))
    }

    /// Whether an interned decision numbered `template` and (for notes)
    /// interned notes numbered `notes` exist.
    pub fn parts_exist(template: u32, notes: impl Iterator<Item = u32>) -> bool {
        decisions().numbered(template).is_some() && notes.into_iter().all(|n| notes_interner().numbered(n).is_some())
    }

    /// A compact decision read back from the spill: the template and notes
    /// by number, each named record by position and id. `None` when a
    /// number names nothing interned.
    pub fn from_parts(
        template: u32,
        kind: OwnKind,
        named: impl Iterator<Item = Option<(u32, Text, u32)>>,
    ) -> Option<DecisionRef> {
        let t = decisions().numbered(template)?;
        let named = match kind {
            OwnKind::Inputs => Named::Inputs(named.map(|x| x.map(|(p, id, _)| (p, id))).collect::<Option<_>>()?),
            OwnKind::Notes => Named::Notes(
                named
                    .map(|x| x.and_then(|(p, id, n)| notes_interner().numbered(n).map(|e| (p, id, e))))
                    .collect::<Option<_>>()?,
            ),
        };
        Some(DecisionRef::compact(t, named))
    }

    /// Appends the decision as JSON, as [`Decision::write_json`] writes it.
    pub fn write_json(&self, out: &mut String) {
        use crate::model::json::{string, strings};
        let Repr::Own(o) = &self.0 else { return self.head().write_json(out) };
        let t = &o.template.value;
        super::json_head(t.stage, &t.rule, &t.clause, out);
        match &o.named {
            Named::Inputs(_) => {
                out.push_str(",\"reason\":");
                string(out, &t.reason);
                if let Some(zh) = &t.reason_zh {
                    out.push_str(",\"reason_zh\":");
                    string(out, zh);
                }
            }
            Named::Notes(v) => {
                let items = || v.iter().map(|(_, id, n)| (id.as_str(), &n.value));
                // Its texts need no escapes (the usual case): the reason is
                // written in place; otherwise made first, then escaped.
                let plain = v.iter().all(|(_, id, n)| n.value.plain && crate::model::json::is_plain(id));
                let reason = |lang: Lang, out: &mut String| {
                    if plain {
                        out.push('"');
                        notes_reason(items(), lang, out);
                        out.push('"');
                    } else {
                        let mut text = String::new();
                        notes_reason(items(), lang, &mut text);
                        string(out, &text);
                    }
                };
                out.push_str(",\"reason\":");
                reason(Lang::En, out);
                if v.iter().any(|(.., n)| n.value.zh.is_some()) {
                    out.push_str(",\"reason_zh\":");
                    reason(Lang::Zh, out);
                }
            }
        }
        out.push_str(",\"inputs\":");
        strings(out, o.ids());
        out.push('}');
    }

    /// Appends the decision's text in `lang`, as [`Decision::render_into`].
    pub fn render_into(&self, lang: Lang, out: &mut String) {
        let Repr::Own(o) = &self.0 else { return self.head().render_into(lang, out) };
        let t = &o.template.value;
        match &o.named {
            Named::Inputs(_) => out.push_str(t.reason_in(lang)),
            Named::Notes(v) => {
                let zh = lang == Lang::Zh && v.iter().any(|(.., n)| n.value.zh.is_some());
                notes_reason(
                    v.iter().map(|(_, id, n)| (id.as_str(), &n.value)),
                    if zh { Lang::Zh } else { Lang::En },
                    out,
                );
            }
        }
        render_tail(&t.rule, &t.clause, o.ids(), lang, out);
    }

    /// [`DecisionRef::render_into`] as a text of its own.
    pub fn render(&self, lang: Lang) -> String {
        let mut s = String::new();
        self.render_into(lang, &mut s);
        s
    }
}

impl Own {
    fn ids(&self) -> impl Iterator<Item = &str> + '_ {
        let (a, b) = match &self.named {
            Named::Inputs(v) => (Some(v.iter().map(|(_, id)| id.as_str())), None),
            Named::Notes(v) => (None, Some(v.iter().map(|(_, id, _)| id.as_str()))),
        };
        a.into_iter().flatten().chain(b.into_iter().flatten())
    }

    /// The decision in full (made on first use).
    fn full(&self) -> &Decision {
        self.full.get_or_init(|| {
            let t = &self.template.value;
            Box::new(match &self.named {
                Named::Inputs(v) => Decision { inputs: v.iter().map(|(_, id)| id.to_string()).collect(), ..t.clone() },
                Named::Notes(v) => {
                    let items: Vec<(&str, &Note)> = v.iter().map(|(_, id, n)| (id.as_str(), &n.value)).collect();
                    notes_decision(t, &items)
                }
            })
        })
    }
}

/// `" [rule clause]"` and the named records, as [`Decision::render_into`]
/// ends.
pub(super) fn render_tail<'a>(
    rule: &str,
    clause: &str,
    mut inputs: impl Iterator<Item = &'a str>,
    lang: Lang,
    out: &mut String,
) {
    out.push_str(" [");
    out.push_str(rule);
    out.push(' ');
    out.push_str(clause);
    out.push(']');
    if let Some(first) = inputs.next() {
        let sep = if lang == Lang::Zh { "、" } else { ", " };
        out.push_str(" (");
        out.push_str(first);
        for i in inputs {
            out.push_str(sep);
            out.push_str(i);
        }
        out.push(')');
    }
}

/// A record_status decision's reason from its notes: `"{id} {status}:
/// {reason}"` joined by `"; "`, or in Chinese `"{id} {zh_status}：{zh}"`
/// (the reason when a note has no `zh`) joined by `"；"`.
fn notes_reason<'a>(items: impl Iterator<Item = (&'a str, &'a Note)>, lang: Lang, out: &mut String) {
    for (n, (id, note)) in items.enumerate() {
        match lang {
            Lang::En => {
                if n > 0 {
                    out.push_str("; ");
                }
                out.push_str(id);
                out.push(' ');
                out.push_str(note.status.as_str());
                out.push_str(": ");
                out.push_str(&note.reason);
            }
            Lang::Zh => {
                if n > 0 {
                    out.push('；');
                }
                out.push_str(id);
                out.push(' ');
                out.push_str(note.zh_status);
                out.push('：');
                out.push_str(note.zh.as_deref().unwrap_or(&note.reason));
            }
        }
    }
}

/// A record_status decision in full: `template`'s stage, rule and clause,
/// the reason made from the notes, the named records as inputs.
fn notes_decision(template: &Decision, items: &[(&str, &Note)]) -> Decision {
    let mut reason = String::new();
    notes_reason(items.iter().copied(), Lang::En, &mut reason);
    let reason_zh = items.iter().any(|(_, n)| n.zh.is_some()).then(|| {
        let mut zh = String::new();
        notes_reason(items.iter().copied(), Lang::Zh, &mut zh);
        zh
    });
    Decision {
        stage: template.stage,
        rule: template.rule.clone(),
        clause: template.clause.clone(),
        reason,
        reason_zh,
        inputs: items.iter().map(|(id, _)| id.to_string()).collect(),
    }
}

impl DecisionRef {
    /// The decision in full. An own decision in compact form is made in
    /// full on first use and kept; the writers use
    /// [`DecisionRef::write_json`] and [`DecisionRef::render_into`]
    /// instead, which make none.
    pub fn decision(&self) -> &Decision {
        match &self.0 {
            Repr::Interned(e) => &e.value,
            Repr::Own(o) => o.full(),
            Repr::Counted(a) => a,
        }
    }
}

impl std::fmt::Debug for DecisionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.decision().fmt(f)
    }
}

impl PartialEq for DecisionRef {
    fn eq(&self, other: &DecisionRef) -> bool {
        self.decision() == other.decision()
    }
}

impl Eq for DecisionRef {}

impl serde::Serialize for DecisionRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.decision().serialize(s)
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
        assert_eq!(*back.decision(), decision("interned once", &[]));
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
        assert_eq!(small.numbered[1].get().map(|e| e.value.reason.as_str()), Some("second"));
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

    /// A compact own decision reads, renders and serialises as the whole
    /// decision written out by hand: notes (with and without Chinese, with
    /// a text JSON escapes) and named inputs; a record it cannot place
    /// leaves it whole.
    #[test]
    fn compact_own_decisions_are_the_whole_decisions() {
        use crate::engine::facts::RecordFacts;
        let on = chrono::NaiveDate::from_ymd_opt(2025, 1, 2).expect("date");
        let mut f = crate::engine::probe::probes().swap_remove(0);
        f.records.clear();
        for id in ["P-1", "P\"2"] {
            f.records.push(RecordFacts::new(crate::engine::facts::RecordKind::Penalty, id, on, "MR".into()));
        }
        let template = DecisionRef::shared(decision("", &[]));
        let notes =
            [(1, RecordStatus::Expired, "ended", Some("届满")), (0, RecordStatus::Exempt, "first \"time\"", None)];
        let own = DecisionRef::with_note_texts(&template, &notes, &f);
        assert!(own.compact_parts().is_some());
        let whole = Decision {
            reason: "P\"2 expired: ended; P-1 exempt: first \"time\"".into(),
            reason_zh: Some(format!(
                "P\"2 {}：届满；P-1 {}：first \"time\"",
                crate::i18n::record_status_name("expired", Lang::Zh),
                crate::i18n::record_status_name("exempt", Lang::Zh)
            )),
            inputs: vec!["P\"2".into(), "P-1".into()],
            ..decision("", &[])
        };
        let same = |r: &DecisionRef, d: &Decision| {
            for lang in [Lang::En, Lang::Zh] {
                assert_eq!(r.render(lang), d.render(lang));
            }
            let mut json = String::new();
            r.write_json(&mut json);
            assert_eq!(json, serde_json::to_string(d).expect("json"));
            assert_eq!(r.decision(), d);
        };
        same(&own, &whole);

        let named = Decision { inputs: vec!["P\"2".into(), "P-1".into()], ..decision("names two", &[]) };
        let inputs = DecisionRef::for_entity(named.clone(), &f);
        assert!(inputs.compact_parts().is_some());
        same(&inputs, &named);

        let unknown = Decision { inputs: vec!["elsewhere".into()], ..decision("names another", &[]) };
        let kept = DecisionRef::for_entity(unknown.clone(), &f);
        assert!(kept.compact_parts().is_none());
        same(&kept, &unknown);
    }
}
