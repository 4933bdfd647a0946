//! What the first half of a run (tolerance → blacklist) leaves for the
//! second (propagation → supervision → results), per shard: each entity's
//! decisions so far and its records with their status. Encoded as bytes
//! so that, on runs of more than one shard, it waits on disk instead of in
//! memory. Decisions are shared by many entities, so a shard's distinct
//! decisions are written once and entities refer to them by number.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::RecordLine;
use crate::engine::{Decision, EntityState, RecordKind, Stage};
use crate::model::{Date, RecordStatus};

/// One entity's part of a shard.
pub struct Spilled {
    pub decisions: Vec<Arc<Decision>>,
    pub records: Vec<RecordLine>,
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
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
    #[error("bad record kind")]
    BadRecordKind,
    #[error("bad record status")]
    BadRecordStatus,
    #[error("bad decision")]
    BadDecision,
    #[error("bad date")]
    BadDate,
    #[error("trailing bytes")]
    TrailingBytes,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Damage> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or(Damage::Truncated)?;
        let out = &self.b[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, Damage> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| Damage::Truncated)?))
    }
    fn str(&mut self) -> Result<&str, Damage> {
        let n = self.u32()? as usize;
        Ok(std::str::from_utf8(self.take(n)?)?)
    }
}

const KINDS: &[RecordKind] = &[
    RecordKind::Penalty,
    RecordKind::AbnormalListing,
    RecordKind::Complaint,
    RecordKind::CommitmentBreach,
    RecordKind::Inspection,
    RecordKind::Reminder,
];

/// Encodes the states of a shard.
pub fn encode(states: &[EntityState]) -> Vec<u8> {
    let mut w = Writer { out: Vec::new() };
    let mut table: FxHashMap<*const Decision, u32> = FxHashMap::default();
    let mut order: Vec<&Arc<Decision>> = Vec::new();
    for s in states {
        for d in &s.decisions {
            table.entry(Arc::as_ptr(d)).or_insert_with(|| {
                order.push(d);
                (order.len() - 1) as u32
            });
        }
    }
    w.u32(order.len() as u32);
    for d in &order {
        w.u32(Stage::ALL.iter().position(|s| *s == d.stage).unwrap_or(0) as u32);
        w.str(&d.rule);
        w.str(&d.clause);
        w.str(&d.reason);
        // Absent and empty are told apart by a flag byte as a u32.
        w.u32(u32::from(d.reason_zh.is_some()));
        w.str(d.reason_zh.as_deref().unwrap_or(""));
        w.u32(d.inputs.len() as u32);
        for i in &d.inputs {
            w.str(i);
        }
    }
    w.u32(states.len() as u32);
    for s in states {
        w.u32(s.decisions.len() as u32);
        for d in &s.decisions {
            w.u32(table[&Arc::as_ptr(d)]);
        }
        w.u32(s.facts.records.len() as u32);
        for r in &s.facts.records {
            w.u32(KINDS.iter().position(|k| *k == r.kind).unwrap_or(0) as u32);
            w.str(&r.id);
            w.u32(chrono::Datelike::num_days_from_ce(&r.date) as u32);
            w.u32(r.status.map_or(u32::MAX, |s| s as u32));
        }
    }
    w.out
}

/// Decodes what [`encode`] wrote.
pub fn decode(shard: usize, bytes: &[u8]) -> Result<Vec<Spilled>, SpillError> {
    let err = |e: Damage| SpillError(shard, e);
    let mut r = Reader { b: bytes, at: 0 };
    let n = r.u32().map_err(err)? as usize;
    let mut table: Vec<Arc<Decision>> = Vec::with_capacity(n);
    let mut rules: FxHashMap<String, Arc<str>> = FxHashMap::default();
    let mut shared = |s: &str| -> Arc<str> { rules.entry(s.to_string()).or_insert_with(|| s.into()).clone() };
    for _ in 0..n {
        let stage = *Stage::ALL.get(r.u32().map_err(err)? as usize).ok_or_else(|| err(Damage::BadStage))?;
        let rule = shared(r.str().map_err(err)?);
        let clause = shared(r.str().map_err(err)?);
        let reason = r.str().map_err(err)?.to_string();
        let has_zh = r.u32().map_err(err)? == 1;
        let zh = r.str().map_err(err)?;
        let reason_zh = has_zh.then(|| zh.to_string());
        let k = r.u32().map_err(err)? as usize;
        let mut inputs = Vec::with_capacity(k.min(1024));
        for _ in 0..k {
            inputs.push(r.str().map_err(err)?.to_string());
        }
        table.push(Arc::new(Decision { stage, rule, clause, reason, reason_zh, inputs }));
    }
    let entities = r.u32().map_err(err)? as usize;
    let mut out = Vec::with_capacity(entities);
    for _ in 0..entities {
        let k = r.u32().map_err(err)? as usize;
        let mut decisions = Vec::with_capacity(k.min(64));
        for _ in 0..k {
            let i = r.u32().map_err(err)? as usize;
            decisions.push(table.get(i).ok_or_else(|| err(Damage::BadDecision))?.clone());
        }
        let k = r.u32().map_err(err)? as usize;
        let mut records = Vec::with_capacity(k.min(1024));
        for _ in 0..k {
            let kind = *KINDS.get(r.u32().map_err(err)? as usize).ok_or_else(|| err(Damage::BadRecordKind))?;
            let id = r.str().map_err(err)?.to_string();
            let days = r.u32().map_err(err)? as i32;
            let date = Date::from_num_days_from_ce_opt(days).ok_or_else(|| err(Damage::BadDate))?;
            let status = match r.u32().map_err(err)? {
                u32::MAX => None,
                s => Some(*RecordStatus::ALL.get(s as usize).ok_or_else(|| err(Damage::BadRecordStatus))?),
            };
            records.push(RecordLine { kind: kind.as_str(), id, date, status });
        }
        out.push(Spilled { decisions, records });
    }
    if r.at != bytes.len() {
        return Err(err(Damage::TrailingBytes));
    }
    Ok(out)
}

/// Where shards wait between the two halves of a run: in memory for a
/// single shard, otherwise in files under a private directory that is
/// removed when the run ends (or fails).
pub enum Spill {
    Memory(Vec<Option<Vec<u8>>>),
    Disk(TempDir),
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Spill {
    pub fn new(shards: usize, dir: Option<&Path>) -> std::io::Result<Spill> {
        if shards <= 1 {
            return Ok(Spill::Memory(vec![None; shards]));
        }
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let base = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = base.join(format!("credo-spill-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Spill::Disk(TempDir(path)))
    }

    pub fn put(&mut self, shard: usize, bytes: Vec<u8>) -> std::io::Result<()> {
        match self {
            Spill::Memory(v) => {
                v[shard] = Some(bytes);
                Ok(())
            }
            Spill::Disk(dir) => {
                let mut f = std::fs::File::create(dir.0.join(format!("{shard}.bin")))?;
                f.write_all(&bytes)
            }
        }
    }

    pub fn take(&mut self, shard: usize) -> std::io::Result<Vec<u8>> {
        match self {
            Spill::Memory(v) => Ok(v[shard].take().unwrap_or_default()),
            Spill::Disk(dir) => {
                let path = dir.0.join(format!("{shard}.bin"));
                let mut out = Vec::new();
                std::fs::File::open(&path)?.read_to_end(&mut out)?;
                let _ = std::fs::remove_file(&path);
                Ok(out)
            }
        }
    }
}
