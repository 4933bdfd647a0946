//! What the first half of a run (tolerance → blacklist) leaves for the
//! second (propagation → supervision → results), per shard: each entity's
//! decisions so far and the status of each of its records. A record is
//! written as its status byte alone: the snapshot, which lives for the
//! whole run, lists the entity's records again in the same order
//! ([`super::facts::listed`]), with their kind, id and date. Encoded as bytes
//! so that, on runs of more than one shard, it waits on disk instead of in
//! memory. Decisions are shared by many entities, so a shard's distinct
//! decisions are written once and entities refer to them by number.
//!
//! A shard is encoded as independent chunks of [`CHUNK`] entities (each
//! with its own table of decisions), so that encoding and decoding run on
//! every core; a header gives each chunk's length.
//!
//! Decisions that many entities share (a tier's standard decision, say)
//! are not written at all: they are interned for the process
//! ([`DecisionRef`]), chunks refer to them by their number, and they read
//! back as the same references. The rest (an entity's own decisions,
//! naming its records, and any beyond the interned table's bound) are
//! written per chunk.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::engine::{Decision, DecisionRef, EntityState, OwnKind, Stage, Text};
use crate::model::RecordStatus;

/// One entity's part of a shard.
pub struct Spilled<'a> {
    decisions: Vec<Pending<'a>>,
    /// One byte per record, in the order of the entity's records (checked
    /// when decoded: read them with [`Spilled::statuses`]).
    statuses: &'a [u8],
}

/// A record without a status (no record_status stage).
const NO_STATUS: u8 = u8::MAX;

/// A decision as read back: ready, or an own decision in compact form
/// waiting for the ids of the entity's records.
enum Pending<'a> {
    Ready(DecisionRef),
    Own {
        template: u32,
        kind: OwnKind,
        /// Per named record its position (and for notes its note's
        /// number), 4 (or 8) bytes each.
        named: &'a [u8],
    },
}

impl Spilled<'_> {
    /// The entity's decisions, given the id of its record at each position
    /// (as the snapshot lists them): `None` if an own decision names a
    /// position past them.
    pub fn decisions(&mut self, id: impl Fn(usize) -> Option<Text>) -> Option<Vec<DecisionRef>> {
        std::mem::take(&mut self.decisions)
            .into_iter()
            .map(|d| match d {
                Pending::Ready(d) => Some(d),
                Pending::Own { template, kind, named } => {
                    let step = if kind == OwnKind::Notes { 8 } else { 4 };
                    let word = |c: &[u8]| u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    let named = named.chunks_exact(step).map(|c| {
                        let p = word(c);
                        let note = if step == 8 { word(&c[4..]) } else { 0 };
                        id(p as usize).map(|id| (p, id, note))
                    });
                    DecisionRef::from_parts(template, kind, named)
                }
            })
            .collect()
    }

    /// The status of each of the entity's records, in order.
    pub fn statuses(&self) -> impl ExactSizeIterator<Item = Option<RecordStatus>> + '_ {
        self.statuses.iter().map(|&b| RecordStatus::ALL.get(usize::from(b)).copied())
    }
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.out.extend_from_slice(s.as_bytes());
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

/// A spill that does not read back as it was written (a disk fault, or a
/// file changed under the run).
#[derive(Debug, thiserror::Error)]
#[error("intermediate results of shard {0} are damaged: {1}")]
pub struct SpillError(pub usize, pub Damage);

/// What is wrong with a spill's bytes.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    #[error("truncated")]
    Truncated,
    #[error("{0}")]
    NotText(#[from] std::str::Utf8Error),
    #[error("bad stage")]
    BadStage,
    #[error("bad record status")]
    BadRecordStatus,
    #[error("bad decision")]
    BadDecision,
    /// Not as many entities, or records of an entity, as the snapshot has.
    #[error("does not match the dataset")]
    Mismatch,
    #[error("trailing bytes")]
    TrailingBytes,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Damage> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or(Damage::Truncated)?;
        let out = &self.b[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, Damage> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Damage> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| Damage::Truncated)?))
    }
    fn str(&mut self) -> Result<&'a str, Damage> {
        let n = self.u32()? as usize;
        Ok(std::str::from_utf8(self.take(n)?)?)
    }
}

/// Entities per independently encoded chunk of a shard.
pub(super) const CHUNK: usize = 4096;

/// A reference to an interned decision, by its number
/// ([`DecisionRef::number`]); otherwise, to the chunk's own table.
const SHARED_BIT: u32 = 1 << 31;

/// An own decision in compact form follows: its template's number, its
/// kind (0 inputs, 1 notes), how many records it names, then per record
/// its position among the entity's records and, for notes, its note's
/// number. (Never a shared code: interned numbers are far below it.)
const OWN_CODE: u32 = u32::MAX;

/// Encodes the states of a shard.
pub fn encode(states: &[EntityState]) -> Vec<u8> {
    use rayon::prelude::*;
    let chunks: Vec<Vec<u8>> = states.par_chunks(CHUNK).map(encode_chunk).collect();
    let mut w = Writer { out: Vec::with_capacity(4 + 4 * chunks.len() + chunks.iter().map(Vec::len).sum::<usize>()) };
    w.u32(chunks.len() as u32);
    for c in &chunks {
        w.u32(c.len() as u32);
    }
    for c in &chunks {
        w.out.extend_from_slice(c);
    }
    w.out
}

fn encode_chunk(states: &[EntityState]) -> Vec<u8> {
    // The entities first, numbering the chunk's own decisions as they
    // come (one lookup per decision held by more than one entity); the
    // table then goes in front.
    let mut body = Writer { out: Vec::with_capacity(4 + states.len() * 32) };
    let mut codes: FxHashMap<usize, u32> = FxHashMap::default();
    let mut order: Vec<&DecisionRef> = Vec::new();
    body.u32(states.len() as u32);
    for s in states {
        body.u32(s.decisions.len() as u32);
        for d in &s.decisions {
            if let Some((template, kind, named)) = d.compact_parts() {
                // Kept compact when it names the entity's own records at
                // their positions (it does unless an answer was shared by
                // entities whose records differ in what it names).
                let records = &s.facts.records;
                let mut count = 0u32;
                let mut fits = true;
                for (p, id, _) in named {
                    fits &= records.get(p as usize).is_some_and(|r| r.id.as_str() == id);
                    count += 1;
                }
                if fits {
                    body.u32(OWN_CODE);
                    body.u32(template);
                    body.u8(u8::from(kind == OwnKind::Notes));
                    body.u32(count);
                    for (p, _, note) in d.compact_parts().into_iter().flat_map(|(.., named)| named) {
                        body.u32(p);
                        if kind == OwnKind::Notes {
                            body.u32(note);
                        }
                    }
                    continue;
                }
            }
            let code = if let Some(n) = d.number() {
                n | SHARED_BIT
            } else if d.held_alone() {
                // Held by this entity alone: in no other list.
                order.push(d);
                (order.len() - 1) as u32
            } else {
                *codes.entry(d.addr()).or_insert_with(|| {
                    order.push(d);
                    (order.len() - 1) as u32
                })
            };
            body.u32(code);
        }
        body.u32(s.facts.records.len() as u32);
        body.out.extend(s.facts.records.iter().map(|r| r.status.map_or(NO_STATUS, |s| s as u8)));
    }
    let mut w = Writer { out: Vec::with_capacity(4 + order.len() * 96 + body.out.len()) };
    w.u32(order.len() as u32);
    for d in order.iter().map(|d| d.decision()) {
        w.u8(Stage::ALL.iter().position(|s| *s == d.stage).unwrap_or(0) as u8);
        w.str(&d.rule);
        w.str(&d.clause);
        w.str(&d.reason);
        // Absent and empty are told apart by a flag byte.
        w.u8(u8::from(d.reason_zh.is_some()));
        w.str(d.reason_zh.as_deref().unwrap_or(""));
        w.u32(d.inputs.len() as u32);
        for i in &d.inputs {
            w.str(i);
        }
    }
    w.out.extend_from_slice(&body.out);
    w.out
}

/// Decodes what [`encode`] wrote.
pub fn decode(shard: usize, bytes: &[u8]) -> Result<Vec<Spilled<'_>>, SpillError> {
    use rayon::prelude::*;
    let err = |e: Damage| SpillError(shard, e);
    let mut r = Reader { b: bytes, at: 0 };
    let n = r.u32().map_err(err)? as usize;
    let mut lens = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        lens.push(r.u32().map_err(err)? as usize);
    }
    let mut chunks: Vec<&[u8]> = Vec::with_capacity(lens.len());
    let mut at = r.at;
    for len in lens {
        let end = at.checked_add(len).filter(|&e| e <= bytes.len()).ok_or(err(Damage::Truncated))?;
        chunks.push(&bytes[at..end]);
        at = end;
    }
    if at != bytes.len() {
        return Err(err(Damage::TrailingBytes));
    }
    let decoded: Vec<Vec<Spilled<'_>>> =
        chunks.into_par_iter().map(decode_chunk).collect::<Result<_, _>>().map_err(err)?;
    Ok(decoded.into_iter().flatten().collect())
}

fn decode_chunk(bytes: &[u8]) -> Result<Vec<Spilled<'_>>, Damage> {
    let mut r = Reader { b: bytes, at: 0 };
    let n = r.u32()? as usize;
    let mut table: Vec<DecisionRef> = Vec::with_capacity(n.min(1 << 16));
    let mut texts: rustc_hash::FxHashSet<Arc<str>> = Default::default();
    for _ in 0..n {
        let stage = *Stage::ALL.get(r.u8()? as usize).ok_or(Damage::BadStage)?;
        let mut shared = |s: &str| -> Arc<str> {
            match texts.get(s) {
                Some(t) => t.clone(),
                None => {
                    let t: Arc<str> = s.into();
                    texts.insert(t.clone());
                    t
                }
            }
        };
        let rule = shared(r.str()?);
        let clause = shared(r.str()?);
        let reason = r.str()?.to_string();
        let has_zh = r.u8()? == 1;
        let zh = r.str()?;
        let reason_zh = has_zh.then(|| zh.to_string());
        let k = r.u32()? as usize;
        let mut inputs = Vec::with_capacity(k.min(1024));
        for _ in 0..k {
            inputs.push(r.str()?.to_string());
        }
        table.push(DecisionRef::own(Decision { stage, rule, clause, reason, reason_zh, inputs }));
    }
    let entities = r.u32()? as usize;
    let mut out = Vec::with_capacity(entities.min(CHUNK));
    for _ in 0..entities {
        let k = r.u32()? as usize;
        let mut decisions = Vec::with_capacity(k.min(64));
        for _ in 0..k {
            let i = r.u32()?;
            if i == OWN_CODE {
                let template = r.u32()?;
                let kind = match r.u8()? {
                    0 => OwnKind::Inputs,
                    1 => OwnKind::Notes,
                    _ => return Err(Damage::BadDecision),
                };
                let n = r.u32()? as usize;
                let step = if kind == OwnKind::Notes { 8 } else { 4 };
                let named = r.take(n.checked_mul(step).ok_or(Damage::Truncated)?)?;
                let notes = named.chunks_exact(8).map(|c| u32::from_le_bytes([c[4], c[5], c[6], c[7]]));
                if !DecisionRef::parts_exist(template, notes.take(if step == 8 { n } else { 0 })) {
                    return Err(Damage::BadDecision);
                }
                decisions.push(Pending::Own { template, kind, named });
                continue;
            }
            let d = if i & SHARED_BIT != 0 {
                DecisionRef::numbered(i & !SHARED_BIT)
            } else {
                table.get(i as usize).cloned()
            };
            decisions.push(Pending::Ready(d.ok_or(Damage::BadDecision)?));
        }
        let k = r.u32()? as usize;
        let statuses = r.take(k)?;
        if statuses.iter().any(|&b| b != NO_STATUS && usize::from(b) >= RecordStatus::ALL.len()) {
            return Err(Damage::BadRecordStatus);
        }
        out.push(Spilled { decisions, statuses });
    }
    if r.at != bytes.len() {
        return Err(Damage::TrailingBytes);
    }
    Ok(out)
}

/// Where shards wait between the two halves of a run: in memory for a
/// single shard, otherwise in files under a private directory that is
/// removed when the run ends (or fails). Files are written by a thread of
/// their own, so that the run's thread goes on to the next shard instead
/// of waiting on the disk (at most one shard waits for the writer); the
/// first shard read back waits until every file is written, and a write's
/// error is reported there.
pub enum Spill {
    Memory(Vec<Option<Vec<u8>>>),
    Disk(DiskSpill),
}

/// Shards in files, and the thread writing them.
pub struct DiskSpill {
    dir: TempDir,
    writer: Option<Writing>,
}

struct Writing {
    shards: std::sync::mpsc::SyncSender<(usize, Vec<u8>)>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl Writing {
    /// Waits for every file sent so far; the first write's error, if any.
    fn finish(self) -> std::io::Result<()> {
        drop(self.shards);
        self.thread.join().unwrap_or_else(|_| Err(std::io::Error::other("the spill writer stopped")))
    }
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for DiskSpill {
    fn drop(&mut self) {
        // The writer stops before its directory is removed.
        if let Some(w) = self.writer.take() {
            let _ = w.finish();
        }
    }
}

fn shard_path(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("{shard}.bin"))
}

/// How long a spill directory of a process that no longer runs must have
/// been left unchanged before it is removed (a live run changes its
/// directory with every shard).
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the spill directories in `base` that runs left behind when they
/// ended without cleaning up (killed, or the machine stopped): those of a
/// process that no longer runs, unchanged for `stale_after`. A directory
/// of a running process (this one included), or anywhere processes cannot
/// be told (no `/proc`), is left alone. Returns how many were removed.
fn remove_stale(base: &Path, stale_after: std::time::Duration) -> usize {
    if !Path::new("/proc/self").exists() {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(base) else { return 0 };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("credo-spill-"))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, n)| n.parse::<u64>().ok().and(pid.parse::<u32>().ok()))
        else {
            continue;
        };
        if pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let old = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if old.is_some_and(|age| age >= stale_after) && e.file_type().is_ok_and(|t| t.is_dir()) {
            match std::fs::remove_dir_all(e.path()) {
                Ok(()) => {
                    removed += 1;
                    tracing::info!(path = %e.path().display(), "removed a spill directory a stopped run left behind");
                }
                Err(err) => {
                    tracing::warn!(path = %e.path().display(), %err, "could not remove a stale spill directory")
                }
            }
        }
    }
    removed
}

impl Spill {
    pub fn new(shards: usize, dir: Option<&Path>) -> std::io::Result<Spill> {
        if shards <= 1 {
            return Ok(Spill::Memory(vec![None; shards]));
        }
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let base = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
        remove_stale(&base, STALE_AFTER);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = base.join(format!("credo-spill-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>)>(1);
        let at = path.clone();
        let thread = std::thread::Builder::new().name("credo-spill".into()).spawn(move || {
            for (shard, bytes) in rx {
                std::fs::File::create(shard_path(&at, shard))?.write_all(&bytes)?;
            }
            Ok(())
        })?;
        Ok(Spill::Disk(DiskSpill { dir: TempDir(path), writer: Some(Writing { shards: tx, thread }) }))
    }

    pub fn put(&mut self, shard: usize, bytes: Vec<u8>) -> std::io::Result<()> {
        match self {
            Spill::Memory(v) => {
                v[shard] = Some(bytes);
                Ok(())
            }
            Spill::Disk(d) => {
                let Some(w) = &d.writer else {
                    return Err(std::io::Error::other("shards are being read back: no more are written"));
                };
                if w.shards.send((shard, bytes)).is_err() {
                    // The writer stopped on an error: it is reported here.
                    let w = d.writer.take().expect("present");
                    return Err(w.finish().err().unwrap_or_else(|| std::io::Error::other("the spill writer stopped")));
                }
                Ok(())
            }
        }
    }

    pub fn take(&mut self, shard: usize) -> std::io::Result<Vec<u8>> {
        match self {
            Spill::Memory(v) => Ok(v[shard].take().unwrap_or_default()),
            Spill::Disk(d) => {
                if let Some(w) = d.writer.take() {
                    w.finish()?;
                }
                let path = shard_path(&d.dir.0, shard);
                let out = std::fs::read(&path)?;
                let _ = std::fs::remove_file(&path);
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{RecordFacts, RecordKind};
    use crate::model::*;

    const KINDS: &[RecordKind] = &[
        RecordKind::Penalty,
        RecordKind::AbnormalListing,
        RecordKind::Complaint,
        RecordKind::CommitmentBreach,
        RecordKind::Inspection,
        RecordKind::Reminder,
    ];

    /// Interned when it names no records (as a stage's answer is).
    fn decision(stage: Stage, reason: &str, zh: Option<&str>, inputs: &[&str]) -> DecisionRef {
        DecisionRef::shared(Decision {
            stage,
            rule: "tier.rhai:tier".into(),
            clause: "（三）一".into(),
            reason: reason.into(),
            reason_zh: zh.map(str::to_string),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// More entities than a chunk, with shared and own decisions and
    /// records with and without a status.
    fn states() -> Vec<EntityState> {
        let on = |d: i32| Date::from_num_days_from_ce_opt(738_000 + d).expect("date");
        let mut base = crate::engine::probe::probes().swap_remove(0);
        base.records.clear();
        let shared = decision(Stage::Tier, "spill: tier 1", Some("一级"), &[]);
        let empty_zh = decision(Stage::Tolerance, "spill: none", Some(""), &[]);
        // Held by several entities but not interned (as beyond the
        // interned table's bound).
        let counted = DecisionRef::own(decision(Stage::Blacklist, "spill: counted", None, &[]).decision().clone());
        let template = decision(Stage::RecordStatus, "", None, &[]);
        (0..CHUNK * 2 + 7)
            .map(|i| {
                let mut f = base.clone();
                for j in 0..i % 4 {
                    let mut r = RecordFacts::new(
                        KINDS[(i + j) % KINDS.len()],
                        &format!("R\"{i}-{j}é"),
                        on(j as i32),
                        "MR".into(),
                    );
                    r.status = (j % 2 == 0).then_some(RecordStatus::ALL[(i + j) % RecordStatus::ALL.len()]);
                    f.records.push(r);
                }
                let mut st = EntityState::new(f);
                st.decisions.push(shared.clone());
                if i % 3 == 0 {
                    st.decisions.push(empty_zh.clone());
                }
                if i % 4 != 0 {
                    st.decisions.push(decision(Stage::RecordStatus, &format!("own {i}"), None, &["a", "b"]));
                }
                if i % 5 == 0 {
                    st.decisions.push(counted.clone());
                }
                // Own decisions in compact form: naming records by position
                // (the last first), and a record_status decision's notes.
                let ids: Vec<String> = st.facts.records.iter().rev().map(|r| r.id.to_string()).collect();
                if i % 4 >= 2 {
                    let d = Decision {
                        inputs: ids.clone(),
                        ..decision(Stage::Tier, "spill: names", None, &[]).decision().clone()
                    };
                    let own = DecisionRef::for_entity(d, &st.facts);
                    assert!(own.compact_parts().is_some());
                    st.decisions.push(own);
                }
                if i % 4 == 3 {
                    let notes =
                        [(0, RecordStatus::Expired, "ended", Some("届满")), (2, RecordStatus::Exempt, "first", None)];
                    let own = DecisionRef::with_note_texts(&template, &notes, &st.facts);
                    assert!(own.compact_parts().is_some());
                    st.decisions.push(own);
                }
                st
            })
            .collect()
    }

    /// Each entity's decisions as read back, given its records' ids.
    fn decided(states: &[EntityState], back: Vec<Spilled>) -> Vec<Vec<DecisionRef>> {
        back.into_iter()
            .zip(states)
            .map(|(mut sp, st)| {
                sp.decisions(|p| st.facts.records.get(p).map(|r| r.id.clone())).expect("the records it names")
            })
            .collect()
    }

    fn same_decisions(states: &[EntityState], back: Vec<Spilled>) -> Vec<Vec<DecisionRef>> {
        assert_eq!(back.len(), states.len());
        for (st, sp) in states.iter().zip(&back) {
            let statuses: Vec<Option<RecordStatus>> = sp.statuses().collect();
            assert_eq!(statuses, st.facts.records.iter().map(|r| r.status).collect::<Vec<_>>());
        }
        let back = decided(states, back);
        for (st, got) in states.iter().zip(&back) {
            let want: Vec<&Decision> = st.decisions.iter().map(DecisionRef::decision).collect();
            let got: Vec<&Decision> = got.iter().map(DecisionRef::decision).collect();
            assert_eq!(got, want);
        }
        back
    }

    #[test]
    fn a_shard_reads_back_as_written() {
        let states = states();
        let bytes = encode(&states);
        let back = same_decisions(&states, decode(3, &bytes).expect("decodes"));
        // An interned decision reads back as itself (by its number).
        assert_eq!(back[0][0].addr(), states[0].decisions[0].addr());
        assert_eq!(back[0][0].addr(), back[CHUNK + 1][0].addr());
        assert!(back[0][0].number().is_some());
        // An entity's own decisions read back equal, as new ones.
        assert_ne!(back[1][1].addr(), states[1].decisions[1].addr());
        assert!(back[1][1].held_alone());
        // Those in compact form read back compact, with their texts.
        let compact = |i: usize| back[i].iter().filter(|d| d.compact_parts().is_some()).count();
        assert_eq!((compact(2), compact(3), compact(CHUNK + 7)), (1, 2, 2));
        for (d, want) in back[7].iter().zip(&states[7].decisions) {
            for lang in [crate::i18n::Lang::En, crate::i18n::Lang::Zh] {
                assert_eq!(d.render(lang), want.decision().render(lang));
            }
            let mut json = String::new();
            d.write_json(&mut json);
            assert_eq!(json, serde_json::to_string(want.decision()).expect("json"));
        }
        // A counted decision several entities hold is written once per
        // chunk and read back as one decision within it.
        let counted = |i: usize| back[i].iter().find(|d| d.stage() == Stage::Blacklist).expect("held").addr();
        assert_eq!(counted(0), counted(5));
        assert_ne!(counted(0), counted(CHUNK + 5 - CHUNK % 5));
        assert_ne!(
            counted(0),
            states[0].decisions.iter().find(|d| d.stage() == Stage::Blacklist).expect("held").addr()
        );
    }

    /// Interned decisions are written as their number alone: the chunk's
    /// table is empty.
    #[test]
    fn interned_decisions_are_written_as_numbers() {
        let base = states().swap_remove(0).facts;
        let d = decision(Stage::Tier, "spill: by number", None, &[]);
        let mut st = EntityState::new(base.as_ref().clone());
        st.decisions = vec![d.clone(), d.clone()];
        let bytes = encode(std::slice::from_ref(&st));
        // Header, chunk length; no decisions in the table; one entity with
        // two numbers, then its records' statuses.
        assert_eq!(&bytes[8..12], &0u32.to_le_bytes());
        assert_eq!(&bytes[12..16], &1u32.to_le_bytes());
        assert_eq!(&bytes[16..20], &2u32.to_le_bytes());
        let code = (d.number().expect("interned") | SHARED_BIT).to_le_bytes();
        assert_eq!(&bytes[20..24], &code);
        assert_eq!(&bytes[24..28], &code);
        let back = decided(std::slice::from_ref(&st), decode(0, &bytes).expect("decodes"));
        assert_eq!(back[0][1].addr(), d.addr());
        // A number no decision has is damage.
        let mut bad = bytes.clone();
        bad[20..24].copy_from_slice(&(SHARED_BIT | (crate::engine::MAX_INTERNED as u32 + 1)).to_le_bytes());
        assert_eq!(decode(4, &bad).err().map(|e| (e.0, e.1.to_string())), Some((4, "bad decision".into())));
    }

    /// The decisions of `states()` held by their entities only.
    fn own_decisions() -> Vec<EntityState> {
        states()
            .into_iter()
            .map(|mut st| {
                st.decisions = st.decisions.iter().map(|d| DecisionRef::own(d.decision().clone())).collect();
                st
            })
            .collect()
    }

    #[test]
    fn without_shared_decisions_a_chunk_writes_its_own_table() {
        let states = own_decisions();
        let bytes = encode(&states);
        let back = same_decisions(&states, decode(0, &bytes).expect("decodes"));
        assert!(back.iter().flatten().all(|d| d.number().is_none() && d.compact_parts().is_none()));
    }

    /// A record is its status byte alone; a byte that is no status is
    /// damage.
    #[test]
    fn a_record_is_its_status() {
        let mut st = states().swap_remove(1);
        st.decisions.clear();
        assert_eq!(st.facts.records.len(), 1);
        let bytes = encode(std::slice::from_ref(&st));
        // Header, chunk length, no decisions, one entity with none, one record.
        assert_eq!(bytes.len(), 4 + 4 + 4 + 4 + 4 + 4 + 1);
        let status = |b: &[u8]| decode(2, b).map(|sp| sp[0].statuses().collect::<Vec<_>>());
        assert_eq!(status(&bytes).expect("decodes"), vec![st.facts.records[0].status]);
        let mut none = bytes.clone();
        *none.last_mut().unwrap() = NO_STATUS;
        assert_eq!(status(&none).expect("decodes"), vec![None]);
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() = RecordStatus::ALL.len() as u8;
        assert_eq!(status(&bad).err().map(|e| e.1.to_string()), Some("bad record status".into()));
    }

    fn spill_base(name: &str) -> PathBuf {
        let base = std::env::temp_dir().join(format!("credo-spill-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&base).expect("base");
        base
    }

    /// Shards written by the spill's thread read back as given, in any
    /// order; none is written once reading began, and the directory goes
    /// with the spill.
    #[test]
    fn shards_on_disk_read_back_and_are_removed() {
        let base = spill_base("ok");
        let mut s = Spill::new(3, Some(&base)).expect("spill");
        for k in 0..3 {
            s.put(k, vec![k as u8; 1000 + k]).expect("put");
        }
        for k in [1, 0, 2] {
            assert_eq!(s.take(k).expect("take"), vec![k as u8; 1000 + k]);
        }
        assert!(s.put(0, vec![1]).is_err(), "no shard is written once they are read");
        drop(s);
        assert_eq!(std::fs::read_dir(&base).expect("base").count(), 0, "the spill's directory is removed");
        std::fs::remove_dir(&base).expect("empty");
    }

    /// Only the directories of processes that no longer run, unchanged
    /// for long enough, are removed; anything else in the directory stays.
    #[test]
    fn stale_spill_directories_of_stopped_runs_are_removed() {
        let base = spill_base("stale");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        let make = |name: &str, aged: bool| {
            let d = base.join(name);
            std::fs::create_dir_all(&d).expect("dir");
            std::fs::write(d.join("0.bin"), b"x").expect("file");
            if aged {
                std::fs::File::open(&d).expect("open").set_modified(old).expect("aged");
            }
            d
        };
        // No process has this number (above Linux's pid_max).
        let dead = make("credo-spill-4294967295-0", true);
        let recent = make("credo-spill-4294967294-3", false);
        let mine = make(&format!("credo-spill-{}-7", std::process::id()), true);
        let other = make("credo-spill-notes", true);
        let not_ours = make("credo-spill-4294967295-x", true);
        assert_eq!(remove_stale(&base, STALE_AFTER), 1);
        assert!(!dead.exists(), "a stopped run's old directory is removed");
        for kept in [&recent, &mine, &other, &not_ours] {
            assert!(kept.exists(), "{} is kept", kept.display());
        }
        std::fs::remove_dir_all(&base).expect("cleaned");
    }

    /// A write that fails on the writer's thread is reported when shards
    /// are read back, with its cause (not as the missing file of a shard
    /// the writer never reached).
    #[test]
    fn a_failed_write_is_reported_when_shards_are_read() {
        let base = spill_base("fail");
        let mut s = Spill::new(2, Some(&base)).expect("spill");
        // Shard 0's file cannot be created: a directory has its name.
        let Spill::Disk(d) = &s else { panic!("two shards wait on disk") };
        std::fs::create_dir(shard_path(&d.dir.0, 0)).expect("in the way");
        s.put(0, vec![1]).expect("handed to the writer");
        let e = s.take(1).expect_err("the write failed");
        assert_eq!(e.kind(), std::io::ErrorKind::IsADirectory);
        drop(s);
        std::fs::remove_dir_all(&base).expect("cleaned");
    }

    #[test]
    fn damaged_bytes_are_an_error_naming_the_shard() {
        // Own decisions only, so that the chunk's table is written.
        let states = own_decisions();
        let bytes = encode(&states);
        let damage = |b: &[u8]| decode(5, b).err().map(|e| (e.0, e.1.to_string()));
        assert_eq!(damage(&bytes[..bytes.len() - 1]), Some((5, "truncated".into())));
        assert_eq!(damage(&bytes[..2]), Some((5, "truncated".into())));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(damage(&longer), Some((5, "trailing bytes".into())));
        // The first chunk's first decision's stage (after the header and
        // the chunk's decision count).
        let chunks = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        let mut bad = bytes.clone();
        bad[4 + 4 * chunks + 4] = 200;
        assert_eq!(damage(&bad), Some((5, "bad stage".into())));
    }
}
