//! A run's per-entity results as a Parquet file sorted by credit code
//! (credo-results-v3), with an index that makes point lookups cheap and
//! every read verified.
//!
//! v3 keeps each entity's decisions in two columns instead of v2's
//! `explanation`: `decisions_shared`, the JSON array of those naming no
//! records (a few distinct lists per row group, so its dictionary stays
//! small), and `decisions_own`, empty or `[[position,decision],...]` for
//! those naming the entity's records. A reader splices them back into
//! the array v2 kept ([`crate::classify::merge_decisions`]); v2 and v1 files are still read.
//!
//! v2 adds a `detail` column (the entity's records with the status the
//! rules gave them, exemptions, accumulation, blacklist end: what its
//! timeline shows) and a sidecar of propagation paths
//! (`run-N.paths.jsonl`, one line per entity a path touches, in credit-code
//! order, hashed in blocks recorded in the index). v1 files are still read
//! (without detail or paths).
//!
//! The file is written in row groups of [`GROUP_ROWS`] rows. While it is
//! written, the bytes of each row group (and of the footer) are hashed as
//! they pass, and an index records each group's first credit code, byte
//! range and SHA-256. The index is a small JSON file beside the results;
//! the store records the SHA-256 of both files. A reader checks the index
//! and the footer against those hashes when it opens the file, and checks
//! a row group's bytes every time it reads one, so a changed results file
//! is an error, never a served answer.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use polars::prelude::*;
use sha2::{Digest, Sha256};

use super::columns::{self, Col, ParquetOut};
use crate::classify::EntityResult;
use crate::engine::Stage;

/// Rows per row group: a point lookup reads and checks one group.
pub const GROUP_ROWS: usize = 4096;
/// Bytes of a data page (before compression). A point lookup decompresses
/// only the page of each column that holds the entity's row, so pages are
/// small: with Parquet's default 1 MB page, a column's chunk was one page
/// and a lookup decompressed the whole row group (about 1 MB at 15M).
const PAGE_BYTES: usize = 16 * 1024;
const FORMAT: &str = "credo-results-v3";
/// The format before the decisions were split in two columns; still read.
const FORMAT_V2: &str = "credo-results-v2";
/// The format before the detail column and the paths sidecar; still read.
const FORMAT_V1: &str = "credo-results-v1";
/// Entities per block of the paths sidecar: a lookup reads and checks one
/// block (about 25 KB; 256 entities made 190 KB at 15M). The sidecar's
/// bytes do not depend on it, only the index's block list.
const PATH_BLOCK: usize = 32;

/// One entity's stored result, as the API serves it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct StoredResult {
    pub uscc: String,
    pub name: String,
    pub city: u32,
    pub county: u32,
    pub tier: u8,
    pub risk: String,
    pub probability_ppm: u32,
    pub tolerance_until: Option<String>,
    pub key_attention: bool,
    pub blacklisted: bool,
    pub departments: Vec<String>,
    /// Why the supervision rule gave this probability.
    #[serde(skip)]
    pub supervision_reason: String,
    /// The decisions, as JSON text: kept as read (the row group's hash was
    /// checked), and parsed only when the result is served, so reading a
    /// whole run for a plan parses no explanation.
    #[serde(serialize_with = "raw_json")]
    #[schema(value_type = Vec<Object>)]
    pub explanation: String,
    /// The entity's records, exemptions, accumulation and blacklist end as
    /// JSON ([`Detail`]); `None` in a v1 file.
    #[serde(skip)]
    pub detail: Option<String>,
}

/// What a v2 results file keeps of an entity beyond its tier: what its
/// timeline shows.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Detail {
    pub records: Vec<StoredRecord>,
    pub exemptions: Vec<String>,
    pub accumulation: crate::model::AccumulationLevel,
    pub blacklisted_until: Option<crate::model::Date>,
}

/// A record as a results file keeps it.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct StoredRecord {
    pub kind: String,
    pub id: String,
    pub date: crate::model::Date,
    /// "" without a record_status stage.
    pub status: String,
}

impl StoredRecord {
    /// The record line a classification gave, or `None` for a kind or
    /// status this credo does not know.
    pub fn line(&self) -> Option<crate::classify::RecordLine> {
        use crate::engine::RecordKind as K;
        let kind = [K::Penalty, K::AbnormalListing, K::Complaint, K::CommitmentBreach, K::Inspection, K::Reminder]
            .into_iter()
            .map(K::as_str)
            .find(|k| *k == self.kind)?;
        let status = match self.status.as_str() {
            "" => None,
            s => Some(s.parse().ok()?),
        };
        Some(crate::classify::RecordLine { kind, id: self.id.as_str().into(), date: self.date, status })
    }
}

/// An entity's detail as serde writes it: the reference [`write_detail`]
/// is held to.
#[cfg(test)]
#[derive(serde::Serialize)]
struct DetailOut<'a> {
    records: &'a [crate::classify::RecordLine],
    exemptions: &'a [String],
    accumulation: crate::model::AccumulationLevel,
    blacklisted_until: Option<crate::model::Date>,
}

/// Appends an entity's detail as JSON: the bytes `serde_json` writes for
/// [`DetailOut`], written directly (keys as literals; a text copied as it
/// is unless it holds a character JSON escapes). Every entity of a run
/// has one, so this is on the results writer's path; `tests` hold it to
/// serde_json over generated details.
fn write_detail(out: &mut String, r: &EntityResult) {
    use crate::model::json::{date, string, strings};
    out.push_str("{\"records\":[");
    for (i, l) in r.records.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"kind\":");
        string(out, l.kind);
        out.push_str(",\"id\":");
        string(out, &l.id);
        out.push_str(",\"date\":");
        date(out, l.date);
        out.push_str(",\"status\":");
        string(out, l.status_code());
        out.push('}');
    }
    out.push_str("],\"exemptions\":");
    strings(out, r.exemptions.iter().map(String::as_str));
    out.push_str(",\"accumulation\":");
    string(out, r.accumulation.as_str());
    out.push_str(",\"blacklisted_until\":");
    match r.blacklisted_until {
        Some(d) => date(out, d),
        None => out.push_str("null"),
    }
    out.push('}');
}

/// A stored decision as written (the engine's `Decision`).
#[derive(serde::Deserialize)]
struct DecisionText {
    stage: String,
    rule: String,
    clause: String,
    reason: String,
    #[serde(default)]
    reason_zh: Option<String>,
    inputs: Vec<String>,
}

impl StoredResult {
    /// The decisions, as the run took them.
    pub fn decisions(&self) -> Result<Vec<crate::engine::Decision>, serde_json::Error> {
        use serde::de::Error as _;
        let texts: Vec<DecisionText> = serde_json::from_str(&self.explanation)?;
        texts
            .into_iter()
            .map(|d| {
                let stage = Stage::ALL
                    .iter()
                    .copied()
                    .find(|s| s.name() == d.stage)
                    .ok_or_else(|| serde_json::Error::custom(format!("unknown stage {}", d.stage)))?;
                Ok(crate::engine::Decision {
                    stage,
                    rule: d.rule.into(),
                    clause: d.clause.into(),
                    reason: d.reason,
                    reason_zh: d.reason_zh,
                    inputs: d.inputs,
                })
            })
            .collect()
    }

    /// The detail column, if the file has one.
    pub fn detail(&self) -> Result<Option<Detail>, serde_json::Error> {
        self.detail.as_deref().map(serde_json::from_str).transpose()
    }
}

/// What a plan takes of an entity's result in a run
/// ([`Reader::for_each_tier`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTier {
    pub uscc: String,
    pub city: u32,
    pub county: u32,
    pub tier: u8,
    pub risk: String,
    pub probability_ppm: u32,
    /// Why the supervision rule gave this probability.
    pub supervision_reason: String,
}

/// An entity's tier in a run: what a point of its timeline shows.
#[derive(Clone, Debug)]
pub struct StoredPoint {
    pub tier: u8,
    pub risk: String,
    pub probability_ppm: u32,
    pub key_attention: bool,
    pub blacklisted: bool,
}

/// The propagation paths that touch one entity, as the run found them.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct EntityPaths {
    pub uscc: String,
    /// Persons flagged because of this entity (it is the source).
    pub flagged_persons: Vec<crate::propagate::FlaggedPerson>,
    /// Entities this entity's flag reached.
    pub reached_from_here: Vec<crate::propagate::ReachedEntity>,
    /// Paths by which other blacklisted entities reach this one.
    pub reached_by: Vec<crate::propagate::ReachedEntity>,
}

fn raw_json<S: serde::Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    let raw: &serde_json::value::RawValue = serde_json::from_str(text).map_err(serde::ser::Error::custom)?;
    serde::Serialize::serialize(raw, s)
}

/// Why results could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("results file {path}: {message}")]
    Io { path: String, message: String },
    /// The file or its index does not match what the store recorded.
    #[error("results file {path} was altered: {what}")]
    Altered { path: String, what: String },
}

fn io(path: &Path, e: impl std::fmt::Display) -> ResultsError {
    ResultsError::Io { path: path.display().to_string(), message: e.to_string() }
}

/// A byte range of the file and its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Span {
    pub offset: u64,
    pub len: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Group {
    /// Credit code of the group's first row.
    pub first: String,
    pub rows: usize,
    #[serde(flatten)]
    pub span: Span,
}

/// The index beside a results file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Index {
    pub format: String,
    pub rows: usize,
    pub groups: Vec<Group>,
    pub footer: Span,
    /// SHA-256 of the whole results file.
    pub file_sha256: String,
    /// Blocks of the propagation paths sidecar (v2): each block's first
    /// credit code, entity count, byte range and SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<Group>>,
}

/// What the store records of a results file: `sha256:`-prefixed hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub rows: usize,
    pub file_hash: String,
    pub index_hash: String,
}

/// The index file of a results file.
pub fn index_path(path: &Path) -> PathBuf {
    path.with_extension("index.json")
}

/// The propagation paths sidecar of a results file.
pub fn paths_path(path: &Path) -> PathBuf {
    path.with_extension("paths.jsonl")
}

/// Hashes bytes as they are written and notes where each row group ends.
struct Tap<W: Write> {
    inner: W,
    state: Arc<Mutex<TapState>>,
}

#[derive(Default)]
struct TapState {
    written: u64,
    file: Sha256,
    span: Sha256,
}

impl<W: Write> Write for Tap<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.written += n as u64;
        s.file.update(&buf[..n]);
        s.span.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn hex_sha(h: Sha256) -> String {
    hex::encode(h.finalize())
}

/// Writes a results file shard by shard; rows must arrive in credit-code
/// order (as a classification emits them).
pub struct Writer {
    path: PathBuf,
    tmp: PathBuf,
    inner: Option<ParquetOut<Tap<BufWriter<File>>>>,
    state: Arc<Mutex<TapState>>,
    /// Rows of an unfinished group, carried to the next shard.
    pending: Vec<EntityResult>,
    texts: crate::classify::Texts,
    groups: Vec<Group>,
    last_end: u64,
    rows: usize,
    paths: Option<Vec<Group>>,
}

/// The columns of a results file (v1 and v2 have `explanation` instead of
/// the two decisions columns; v1 lacks `detail`).
const COLUMNS: [(&str, DataType); 15] = [
    ("uscc", DataType::String),
    ("name", DataType::String),
    ("city", DataType::UInt32),
    ("county", DataType::UInt32),
    ("tier", DataType::UInt32),
    ("risk", DataType::String),
    ("probability_ppm", DataType::UInt32),
    ("tolerance_until", DataType::String),
    ("key_attention", DataType::Boolean),
    ("blacklisted", DataType::Boolean),
    ("departments", DataType::String),
    ("supervision_reason", DataType::String),
    ("decisions_shared", DataType::String),
    ("decisions_own", DataType::String),
    ("detail", DataType::String),
];

fn schema() -> Schema {
    COLUMNS.into_iter().map(|(n, t)| Field::new(n.into(), t)).collect()
}

/// The supervision decision's reason: what a plan's frame cites.
pub fn supervision_reason(r: &EntityResult) -> String {
    supervision_reason_of(r).to_string()
}

fn supervision_reason_of(r: &EntityResult) -> &str {
    r.decisions.iter().rev().find(|d| d.stage() == Stage::Supervision).map_or("", |d| d.decision().reason.as_str())
}

fn frame(rows: &[&EntityResult], texts: &mut crate::classify::Texts) -> Vec<Col> {
    // Every row's detail JSON in one buffer, cut at the offsets.
    let mut detail = String::with_capacity(rows.len() * 160);
    let mut ends = Vec::with_capacity(rows.len());
    for r in rows {
        write_detail(&mut detail, r);
        ends.push(detail.len());
    }
    // The shared decisions (a few distinct lists), and each entity's own
    // written one after another into one buffer.
    let mut own = String::new();
    let mut own_ends = Vec::with_capacity(rows.len());
    let shared: Vec<Arc<str>> = rows
        .iter()
        .map(|r| {
            let t = texts.decisions_split(r, &mut own);
            own_ends.push(own.len());
            t
        })
        .collect();
    let departments = departments_column(rows.iter().map(|r| &r.departments));
    vec![
        Col::Unique(Column::new("uscc".into(), rows.iter().map(|r| r.uscc.as_str()).collect::<Vec<_>>())),
        Col::Unique(Column::new("name".into(), rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>())),
        Col::Polars(Column::new("city".into(), rows.iter().map(|r| r.city).collect::<Vec<u32>>())),
        Col::Polars(Column::new("county".into(), rows.iter().map(|r| r.county).collect::<Vec<u32>>())),
        Col::Polars(Column::new("tier".into(), rows.iter().map(|r| u32::from(r.tier)).collect::<Vec<u32>>())),
        Col::Text(columns::shared("risk", rows.iter().map(|r| r.risk_code()))),
        Col::Polars(Column::new(
            "probability_ppm".into(),
            rows.iter().map(|r| r.probability_ppm).collect::<Vec<u32>>(),
        )),
        Col::Polars(Column::new(
            "tolerance_until".into(),
            rows.iter().map(|r| r.tolerance_until.map(|d| d.to_string())).collect::<Vec<_>>(),
        )),
        Col::Polars(Column::new("key_attention".into(), rows.iter().map(|r| r.key_attention).collect::<Vec<_>>())),
        Col::Polars(Column::new("blacklisted".into(), rows.iter().map(|r| r.blacklisted).collect::<Vec<_>>())),
        Col::Text(columns::shared("departments", departments.iter().map(|t| &**t))),
        Col::Text(columns::shared("supervision_reason", rows.iter().map(|r| supervision_reason_of(r)))),
        Col::Text(columns::shared("decisions_shared", shared.iter().map(|t| &**t))),
        Col::Text(columns::packed("decisions_own", own, &own_ends)),
        Col::Text(columns::packed("detail", detail, &ends)),
    ]
}

/// The departments column (names joined by ";"), each distinct list
/// joined once.
pub(crate) fn departments_column<'a>(lists: impl Iterator<Item = &'a Arc<[Arc<str>]>>) -> Vec<Arc<str>> {
    let mut joined: rustc_hash::FxHashMap<*const [Arc<str>], Arc<str>> = Default::default();
    lists
        .map(|list| {
            joined
                .entry(Arc::as_ptr(list))
                .or_insert_with(|| list.iter().map(|d| &**d).collect::<Vec<_>>().join(";").into())
                .clone()
        })
        .collect()
}

impl Writer {
    /// Starts `path` (written under a temporary name, renamed on finish).
    pub fn create(path: &Path) -> Result<Writer, ResultsError> {
        Writer::with_pages(path, PAGE_BYTES)
    }

    /// [`Writer::create`] with data pages of `page_bytes` (tests compare
    /// page sizes).
    fn with_pages(path: &Path, page_bytes: usize) -> Result<Writer, ResultsError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let tmp = path.with_extension("parquet.partial");
        let file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        let state = Arc::new(Mutex::new(TapState::default()));
        let tap = Tap { inner: BufWriter::with_capacity(1 << 20, file), state: state.clone() };
        // LZ4: the file is read in small pieces by the server, and written
        // once per run; speed matters more than size.
        // No min/max statistics: lookups find their row group by the
        // index, never by statistics, and min/max over the explanation and
        // detail texts cost a comparison of every long string and keep
        // whole texts in the footer until the file is finished.
        let inner = ParquetOut::new(
            tap,
            &schema(),
            polars_parquet::write::CompressionOptions::Lz4Raw,
            polars_parquet::write::StatisticsOptions {
                min_value: false,
                max_value: false,
                distinct_count: false,
                null_count: false,
                binary_statistics_truncate_length: None,
            },
            Some(page_bytes),
        )
        .map_err(|e| io(&tmp, e))?;
        Ok(Writer {
            path: path.to_path_buf(),
            tmp,
            inner: Some(inner),
            state,
            pending: Vec::new(),
            texts: Default::default(),
            groups: Vec::new(),
            last_end: 0,
            rows: 0,
            paths: None,
        })
    }

    pub fn write(&mut self, rows: &[EntityResult]) -> Result<(), ResultsError> {
        let (t0, cpu0) = (std::time::Instant::now(), super::log_cpu());
        let mut framed = std::time::Duration::ZERO;
        let mut rest = rows;
        if !self.pending.is_empty() {
            let take = (GROUP_ROWS - self.pending.len()).min(rest.len());
            self.pending.extend(rest[..take].iter().cloned());
            rest = &rest[take..];
            if self.pending.len() == GROUP_ROWS {
                let pending = std::mem::take(&mut self.pending);
                framed += self.group(&pending.iter().collect::<Vec<_>>())?;
            }
        }
        let mut chunks = rest.chunks_exact(GROUP_ROWS);
        for chunk in chunks.by_ref() {
            framed += self.group(&chunk.iter().collect::<Vec<_>>())?;
        }
        self.pending.extend(chunks.remainder().iter().cloned());
        self.texts.clear();
        // Where a shard's writing goes, as the stages and the spill log
        // theirs: CPU time making its columns (texts included), then
        // encoding, compressing, hashing and writing them; and wall time.
        let encoded = super::log_cpu().saturating_sub(cpu0).saturating_sub(framed);
        tracing::debug!(rows = rows.len(), ?framed, ?encoded, wall = ?t0.elapsed(), "results file parts");
        Ok(())
    }

    fn flush_group(&mut self) -> Result<(), ResultsError> {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            return Ok(());
        }
        self.group(&pending.iter().collect::<Vec<_>>()).map(drop)
    }

    /// Writes one row group; the CPU time its columns took (for the debug
    /// log; zero when it is off).
    fn group(&mut self, rows: &[&EntityResult]) -> Result<std::time::Duration, ResultsError> {
        let cpu0 = super::log_cpu();
        let cols = frame(rows, &mut self.texts);
        let framed = super::log_cpu().saturating_sub(cpu0);
        self.inner.as_mut().expect("writer open").write(cols).map_err(|e| io(&self.tmp, e))?;
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let span = std::mem::take(&mut s.span);
        self.groups.push(Group {
            first: rows[0].uscc.to_string(),
            rows: rows.len(),
            span: Span { offset: self.last_end, len: s.written - self.last_end, sha256: hex_sha(span) },
        });
        self.last_end = s.written;
        self.rows += rows.len();
        Ok(framed)
    }

    /// Writes the propagation paths sidecar: for every entity a path
    /// touches, one JSON line in credit-code order, hashed in blocks of
    /// [`PATH_BLOCK`] whose spans the index records.
    pub fn paths(&mut self, p: &crate::propagate::Propagation) -> Result<(), ResultsError> {
        use std::collections::BTreeMap;
        let mut by: BTreeMap<crate::model::Uscc, EntityPaths> = BTreeMap::new();
        fn at(by: &mut BTreeMap<crate::model::Uscc, EntityPaths>, u: crate::model::Uscc) -> &mut EntityPaths {
            by.entry(u).or_insert_with(|| EntityPaths { uscc: u.to_string(), ..Default::default() })
        }
        for f in &p.persons {
            at(&mut by, f.source).flagged_persons.push(f.clone());
        }
        for e in &p.entities {
            at(&mut by, e.source).reached_from_here.push(e.clone());
            at(&mut by, e.uscc).reached_by.push(e.clone());
        }
        let path = paths_path(&self.path);
        let mut out = BufWriter::new(File::create(&path).map_err(|e| io(&path, e))?);
        let mut groups = Vec::new();
        let mut offset = 0u64;
        let entries: Vec<&EntityPaths> = by.values().collect();
        for block in entries.chunks(PATH_BLOCK) {
            let mut bytes = Vec::new();
            for e in block {
                serde_json::to_writer(&mut bytes, e).map_err(|e| io(&path, e))?;
                bytes.push(b'\n');
            }
            out.write_all(&bytes).map_err(|e| io(&path, e))?;
            groups.push(Group {
                first: block[0].uscc.clone(),
                rows: block.len(),
                span: Span { offset, len: bytes.len() as u64, sha256: hex::encode(Sha256::digest(&bytes)) },
            });
            offset += bytes.len() as u64;
        }
        out.flush().map_err(|e| io(&path, e))?;
        self.paths = Some(groups);
        Ok(())
    }

    /// Writes the footer and the index, and moves both into place.
    pub fn finish(mut self) -> Result<Sealed, ResultsError> {
        self.flush_group()?;
        let inner = self.inner.take().expect("writer open");
        // Flushed and dropped before the file is hashed.
        inner.finish().map(drop).map_err(|e| io(&self.tmp, e))?;
        let (footer, file_sha256) = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let span = std::mem::take(&mut s.span);
            let file = std::mem::take(&mut s.file);
            (Span { offset: self.last_end, len: s.written - self.last_end, sha256: hex_sha(span) }, hex_sha(file))
        };
        let index = Index {
            format: FORMAT.into(),
            rows: self.rows,
            groups: std::mem::take(&mut self.groups),
            footer,
            file_sha256,
            paths: self.paths.take(),
        };
        let text = serde_json::to_vec(&index).map_err(|e| io(&self.path, e))?;
        let index_file = index_path(&self.path);
        std::fs::write(&index_file, &text).map_err(|e| io(&index_file, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| io(&self.path, e))?;
        Ok(Sealed {
            rows: index.rows,
            file_hash: format!("sha256:{}", index.file_sha256),
            index_hash: format!("sha256:{}", hex::encode(Sha256::digest(&text))),
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.inner.is_some() {
            // Not finished: an error or a panic; leave no partial file.
            let _ = std::fs::remove_file(&self.tmp);
            if self.paths.is_some() {
                let _ = std::fs::remove_file(paths_path(&self.path));
            }
        }
    }
}

/// An open, checked results file.
pub struct Reader {
    path: PathBuf,
    /// The results file, open for positioned reads (no open or seek per
    /// lookup; lookups on several threads share it).
    file: File,
    index: Index,
    metadata: polars::io::parquet::metadata::FileMetadataRef,
    /// The columns' Arrow types, from the checked footer (once, not per
    /// lookup).
    schema: ArrowSchema,
    /// Each row group's first row in the file.
    starts: Vec<usize>,
}

impl Reader {
    /// Opens a results file, checking its index and footer against the
    /// hashes the store recorded.
    pub fn open(path: &Path, index_hash: &str) -> Result<Reader, ResultsError> {
        let altered = |what: String| ResultsError::Altered { path: path.display().to_string(), what };
        let index_file = index_path(path);
        let text = std::fs::read(&index_file).map_err(|e| io(&index_file, e))?;
        let found = format!("sha256:{}", hex::encode(Sha256::digest(&text)));
        if found != index_hash {
            return Err(altered(format!("its index hashes to {found}, the store recorded {index_hash}")));
        }
        let index: Index = serde_json::from_slice(&text).map_err(|e| io(&index_file, e))?;
        if ![FORMAT, FORMAT_V2, FORMAT_V1].contains(&index.format.as_str()) {
            return Err(io(path, format!("format {} is not {FORMAT}", index.format)));
        }
        let mut f = File::open(path).map_err(|e| io(path, e))?;
        check_span(&mut f, &index.footer).map_err(|e| match e {
            SpanError::Io(e) => io(path, e),
            SpanError::Differs(found) => {
                altered(format!("its footer hashes to {found}, the index has {}", index.footer.sha256))
            }
        })?;
        let file = f.try_clone().map_err(|e| io(path, e))?;
        let metadata = ParquetReader::new(f).get_metadata().map_err(|e| io(path, e))?.clone();
        if metadata.row_groups.len() != index.groups.len() {
            return Err(altered(format!(
                "its footer has {} row groups, the index {}",
                metadata.row_groups.len(),
                index.groups.len()
            )));
        }
        let schema = polars::io::parquet::read::infer_schema(&metadata).map_err(|e| io(path, e))?;
        let starts = index
            .groups
            .iter()
            .scan(0, |at, g| {
                let start = *at;
                *at += g.rows;
                Some(start)
            })
            .collect();
        Ok(Reader { path: path.to_path_buf(), file, index, metadata, schema, starts })
    }

    pub fn rows(&self) -> usize {
        self.index.rows
    }

    /// The credit code of the file's first row, if it has rows.
    pub fn first_uscc(&self) -> Option<&str> {
        self.index.groups.first().map(|g| g.first.as_str())
    }

    /// Reads and checks row group `g`, and the rows of it.
    fn group(&self, g: usize, columns: Option<Vec<String>>) -> Result<DataFrame, ResultsError> {
        let group = &self.index.groups[g];
        let mut f = File::open(&self.path).map_err(|e| io(&self.path, e))?;
        check_span(&mut f, &group.span).map_err(|e| match e {
            SpanError::Io(e) => io(&self.path, e),
            SpanError::Differs(found) => ResultsError::Altered {
                path: self.path.display().to_string(),
                what: format!("row group {g} hashes to {found}, the index has {}", group.span.sha256),
            },
        })?;
        let offset = self.starts[g];
        let mut r = ParquetReader::new(f).with_columns(columns).with_slice(Some((offset, group.rows)));
        r.set_metadata(self.metadata.clone());
        r.finish().map_err(|e| io(&self.path, e))
    }

    /// The bytes of row group `g`, read once and checked against the
    /// index: a point lookup decodes from these, never from the file again.
    fn group_bytes(&self, g: usize) -> Result<Vec<u8>, ResultsError> {
        let group = &self.index.groups[g];
        read_span_at(&self.file, &group.span).map_err(|e| match e {
            SpanError::Io(e) => io(&self.path, e),
            SpanError::Differs(found) => ResultsError::Altered {
                path: self.path.display().to_string(),
                what: format!("row group {g} hashes to {found}, the index has {}", group.span.sha256),
            },
        })
    }

    /// Decodes `columns` of row group `g` from its checked `bytes`: every
    /// row, or only row `row` (the pages of a column that do not hold it
    /// are not even decompressed). A column the file lacks (a v1 file's
    /// detail) is left out.
    fn decode(&self, g: usize, bytes: &[u8], columns: &[&str], row: Option<usize>) -> Result<DataFrame, ResultsError> {
        use polars::io::parquet::read::_internal::to_deserializer;
        let span = &self.index.groups[g].span;
        let altered = |what: String| ResultsError::Altered { path: self.path.display().to_string(), what };
        let rg = &self.metadata.row_groups[g];
        if rg.num_rows() != self.index.groups[g].rows {
            return Err(altered(format!(
                "row group {g} has {} rows in the footer, {} in the index",
                rg.num_rows(),
                self.index.groups[g].rows
            )));
        }
        let mut out = Vec::with_capacity(columns.len());
        for &name in columns {
            let (Some(field), Some(chunks)) = (self.schema.get(name), rg.columns_under_root_iter(name)) else {
                continue;
            };
            let mut pieces = Vec::new();
            for chunk in chunks {
                let r = chunk.byte_range();
                let end = span.offset + span.len;
                if r.start < span.offset || r.end > end {
                    return Err(altered(format!(
                        "column {name} of row group {g} lies at {}..{}, outside the group's bytes {}..{end}",
                        r.start, r.end, span.offset
                    )));
                }
                let piece = bytes[(r.start - span.offset) as usize..(r.end - span.offset) as usize].to_vec();
                pieces.push((chunk, piece.into()));
            }
            let filter = row.map(|r| polars_parquet::read::Filter::Range(r..r + 1));
            let (arrays, _) = to_deserializer(pieces, field.clone(), filter).map_err(|e| io(&self.path, e))?;
            let series = Series::try_from((PlSmallStr::from(name), arrays)).map_err(|e| io(&self.path, e))?;
            out.push(Column::from(series));
        }
        DataFrame::new_infer_height(out).map_err(|e| io(&self.path, e))
    }

    /// The checked bytes of the row group that would hold `uscc` and the
    /// entity's row in it, if the run has it: the group's credit codes
    /// are decoded, nothing else.
    fn locate(&self, uscc: &str) -> Result<Option<(usize, Vec<u8>, usize)>, ResultsError> {
        let g = self.index.groups.partition_point(|x| x.first.as_str() <= uscc);
        if g == 0 {
            return Ok(None);
        }
        let bytes = self.group_bytes(g - 1)?;
        let codes = self.decode(g - 1, &bytes, &["uscc"], None)?;
        Ok(position(&codes, uscc).map_err(|e| io(&self.path, e))?.map(|at| (g - 1, bytes, at)))
    }

    /// One entity's result, if the run has it. The row group is read and
    /// checked whole; only the entity's row is decoded (a reveal looks up
    /// every drawn entity, the server one entity per request).
    pub fn get(&self, uscc: &str) -> Result<Option<StoredResult>, ResultsError> {
        let Some((g, bytes, at)) = self.locate(uscc)? else { return Ok(None) };
        // A v1 or v2 file has its decisions whole in `explanation`.
        let columns: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).chain(["explanation"]).collect();
        let df = self.decode(g, &bytes, &columns, Some(at))?;
        Ok(stored(&df).map_err(|e| io(&self.path, e))?.pop())
    }

    /// One entity's tier, probability and flags in the run (only those
    /// columns of its row are decoded; the row group is checked as always).
    pub fn point(&self, uscc: &str) -> Result<Option<StoredPoint>, ResultsError> {
        let Some((g, bytes, at)) = self.locate(uscc)? else { return Ok(None) };
        let columns = ["tier", "risk", "probability_ppm", "key_attention", "blacklisted"];
        let df = self.decode(g, &bytes, &columns, Some(at))?;
        let read = || -> PolarsResult<Option<StoredPoint>> {
            Ok(Some(StoredPoint {
                tier: df.column("tier")?.u32()?.get(0).unwrap_or(0).min(255) as u8,
                risk: df.column("risk")?.str()?.get(0).unwrap_or("").to_string(),
                probability_ppm: df.column("probability_ppm")?.u32()?.get(0).unwrap_or(0),
                key_attention: df.column("key_attention")?.bool()?.get(0).unwrap_or(false),
                blacklisted: df.column("blacklisted")?.bool()?.get(0).unwrap_or(false),
            }))
        };
        read().map_err(|e| io(&self.path, e))
    }

    /// Calls `each(uscc, name, county)` for every entity in credit-code
    /// order until it returns false; reads the credit code, name and county
    /// columns only, one checked row group at a time (memory follows the
    /// group, not the run).
    pub fn scan_names(&self, each: &mut dyn FnMut(&str, &str, u32) -> bool) -> Result<(), ResultsError> {
        let columns: Vec<String> = ["uscc", "name", "county"].iter().map(|c| c.to_string()).collect();
        for g in 0..self.index.groups.len() {
            let df = self.group(g, Some(columns.clone()))?;
            let mut go = || -> PolarsResult<bool> {
                let (u, n, c) = (df.column("uscc")?.str()?, df.column("name")?.str()?, df.column("county")?.u32()?);
                for ((u, n), c) in u.iter().zip(n.iter()).zip(c.iter()) {
                    if !each(u.unwrap_or(""), n.unwrap_or(""), c.unwrap_or(0)) {
                        return Ok(false);
                    }
                }
                Ok(true)
            };
            if !go().map_err(|e| io(&self.path, e))? {
                break;
            }
        }
        Ok(())
    }

    /// The propagation paths that touch an entity: `None` when the file
    /// keeps no paths (v1), empty when none touches it. The sidecar's
    /// block is checked against the index.
    pub fn paths_of(&self, uscc: &str) -> Result<Option<EntityPaths>, ResultsError> {
        let Some(blocks) = &self.index.paths else { return Ok(None) };
        let b = blocks.partition_point(|x| x.first.as_str() <= uscc);
        if b == 0 {
            return Ok(Some(EntityPaths { uscc: uscc.to_string(), ..Default::default() }));
        }
        let path = paths_path(&self.path);
        let block = &blocks[b - 1];
        let mut f = File::open(&path).map_err(|e| io(&path, e))?;
        let bytes = read_span(&mut f, &block.span).map_err(|e| match e {
            SpanError::Io(e) => io(&path, e),
            SpanError::Differs(found) => ResultsError::Altered {
                path: path.display().to_string(),
                what: format!("paths block {} hashes to {found}, the index has {}", b - 1, block.span.sha256),
            },
        })?;
        // The entity's line starts with its credit code (a path inside a
        // line names entities too, never at a line's start).
        let key = format!("{{\"uscc\":\"{uscc}\",");
        let line = memchr::memmem::find_iter(&bytes, key.as_bytes()).find(|&at| at == 0 || bytes[at - 1] == b'\n');
        if let Some(at) = line {
            let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |n| at + n);
            return serde_json::from_slice(&bytes[at..end]).map(Some).map_err(|e| io(&path, e));
        }
        Ok(Some(EntityPaths { uscc: uscc.to_string(), ..Default::default() }))
    }

    /// Every entity's tier, risk, probability, place and reason, group by
    /// group, in credit-code order: only those columns are read (a plan
    /// needs no decisions, records or names; at 1M reading every column
    /// took 1.5–2.0 s).
    pub fn for_each_tier(&self, each: &mut dyn FnMut(Vec<StoredTier>)) -> Result<(), ResultsError> {
        let columns: Vec<String> = TIER_COLUMNS.iter().map(|c| c.to_string()).collect();
        for g in 0..self.index.groups.len() {
            let df = self.group(g, Some(columns.clone()))?;
            each(tiers(&df).map_err(|e| io(&self.path, e))?);
        }
        Ok(())
    }

    /// Every result, group by group, in credit-code order.
    pub fn for_each(&self, each: &mut dyn FnMut(Vec<StoredResult>)) -> Result<(), ResultsError> {
        for g in 0..self.index.groups.len() {
            let df = self.group(g, None)?;
            each(stored(&df).map_err(|e| io(&self.path, e))?);
        }
        Ok(())
    }
}

enum SpanError {
    Io(std::io::Error),
    Differs(String),
}

fn check_span(f: &mut File, span: &Span) -> Result<(), SpanError> {
    read_span(f, span).map(drop)
}

/// The bytes of a span, checked against its hash, by a positioned read
/// (the file's offset is not used, so threads may share it).
fn read_span_at(f: &File, span: &Span) -> Result<Vec<u8>, SpanError> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; span.len as usize];
    f.read_exact_at(&mut buf, span.offset).map_err(SpanError::Io)?;
    let found = hex::encode(Sha256::digest(&buf));
    if found != span.sha256 {
        return Err(SpanError::Differs(found));
    }
    Ok(buf)
}

/// The bytes of a span, checked against its hash.
fn read_span(f: &mut File, span: &Span) -> Result<Vec<u8>, SpanError> {
    f.seek(SeekFrom::Start(span.offset)).map_err(SpanError::Io)?;
    let mut buf = vec![0u8; span.len as usize];
    f.read_exact(&mut buf).map_err(SpanError::Io)?;
    let found = hex::encode(Sha256::digest(&buf));
    if found != span.sha256 {
        return Err(SpanError::Differs(found));
    }
    Ok(buf)
}

/// Checks a results file's paths sidecar, block by block, against its
/// index (which the store's hash covers): what `credo audit verify` adds
/// to the file and index hashes. Nothing to check for a v1 file.
pub fn check_paths(path: &Path) -> Result<(), ResultsError> {
    let index_file = index_path(path);
    let text = std::fs::read(&index_file).map_err(|e| io(&index_file, e))?;
    let index: Index = serde_json::from_slice(&text).map_err(|e| io(&index_file, e))?;
    let Some(blocks) = index.paths else { return Ok(()) };
    let sidecar = paths_path(path);
    let mut f = File::open(&sidecar).map_err(|e| io(&sidecar, e))?;
    let mut end = 0;
    for (b, block) in blocks.iter().enumerate() {
        read_span(&mut f, &block.span).map_err(|e| match e {
            SpanError::Io(e) => io(&sidecar, e),
            SpanError::Differs(found) => ResultsError::Altered {
                path: sidecar.display().to_string(),
                what: format!("paths block {b} hashes to {found}, the index has {}", block.span.sha256),
            },
        })?;
        end = block.span.offset + block.span.len;
    }
    let len = f.metadata().map_err(|e| io(&sidecar, e))?.len();
    if len != end {
        return Err(ResultsError::Altered {
            path: sidecar.display().to_string(),
            what: format!("it has {len} bytes, the index covers {end}"),
        });
    }
    Ok(())
}

/// The row of a credit code in a row group.
fn position(df: &DataFrame, uscc: &str) -> PolarsResult<Option<usize>> {
    Ok(df.column("uscc")?.str()?.iter().position(|u| u == Some(uscc)))
}

/// A text column's values.
fn texts(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(df.column(name)?.str()?.downcast_iter().flat_map(|a| a.iter()).map(|v| v.map(str::to_string)).collect())
}

/// A whole-number column's values (0 for none).
fn u32s(df: &DataFrame, name: &str) -> PolarsResult<Vec<u32>> {
    Ok(df.column(name)?.u32()?.downcast_iter().flat_map(|a| a.iter()).map(|v| v.copied().unwrap_or(0)).collect())
}

/// The columns [`StoredTier`] is read from.
const TIER_COLUMNS: [&str; 7] = ["uscc", "city", "county", "tier", "risk", "probability_ppm", "supervision_reason"];

fn tiers(df: &DataFrame) -> PolarsResult<Vec<StoredTier>> {
    let (uscc, city, county, tier) = (texts(df, "uscc")?, u32s(df, "city")?, u32s(df, "county")?, u32s(df, "tier")?);
    let (risk, ppm, reason) = (texts(df, "risk")?, u32s(df, "probability_ppm")?, texts(df, "supervision_reason")?);
    Ok((0..uscc.len())
        .map(|i| StoredTier {
            uscc: uscc[i].clone().unwrap_or_default(),
            city: city[i],
            county: county[i],
            tier: tier[i].min(255) as u8,
            risk: risk[i].clone().unwrap_or_default(),
            probability_ppm: ppm[i],
            supervision_reason: reason[i].clone().unwrap_or_default(),
        })
        .collect())
}

fn stored(df: &DataFrame) -> PolarsResult<Vec<StoredResult>> {
    let text = |name: &str| texts(df, name);
    let bools = |name: &str| -> PolarsResult<Vec<bool>> {
        Ok(df.column(name)?.bool()?.downcast_iter().flat_map(|a| a.iter()).map(|v| v.unwrap_or(false)).collect())
    };
    // The columns a plan reads, read as it reads them.
    let tiers = tiers(df)?;
    let name = text("name")?;
    let tolerance = text("tolerance_until")?;
    let key_attention = bools("key_attention")?;
    let blacklisted = bools("blacklisted")?;
    let departments = text("departments")?;
    let has = |c: &str| df.get_column_names().iter().any(|n| n.as_str() == c);
    // v3 keeps the decisions in two columns; v1 and v2 whole.
    let explanation = if has("decisions_shared") {
        let (shared, own) = (text("decisions_shared")?, text("decisions_own")?);
        shared
            .iter()
            .zip(&own)
            .map(|(s, o)| {
                crate::classify::merge_decisions(s.as_deref().unwrap_or("[]"), o.as_deref().unwrap_or(""))
                    .map(Some)
                    .map_err(|e| polars_err!(ComputeError: "a row's decisions do not read back: {e}"))
            })
            .collect::<PolarsResult<Vec<_>>>()?
    } else {
        text("explanation")?
    };
    // A v1 file has no detail column.
    let detail = if has("detail") { text("detail")? } else { vec![None; tiers.len()] };
    let mut out = Vec::with_capacity(tiers.len());
    for (i, t) in tiers.into_iter().enumerate() {
        out.push(StoredResult {
            uscc: t.uscc,
            name: name[i].clone().unwrap_or_default(),
            city: t.city,
            county: t.county,
            tier: t.tier,
            risk: t.risk,
            probability_ppm: t.probability_ppm,
            tolerance_until: tolerance[i].clone(),
            key_attention: key_attention[i],
            blacklisted: blacklisted[i],
            departments: departments[i]
                .as_deref()
                .unwrap_or("")
                .split(';')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            supervision_reason: t.supervision_reason,
            explanation: explanation[i].clone().unwrap_or_else(|| "[]".into()),
            detail: detail[i].clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Decision;
    use crate::model::{AccumulationLevel, Uscc};

    fn uscc(n: u64) -> Uscc {
        let mut body = [b'0'; 8];
        for (i, c) in format!("{:08}", n + 1).bytes().enumerate() {
            body[i] = c;
        }
        Uscc::assemble(b'9', b'1', 370102, body).expect("a valid code")
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// The detail written directly is the detail serde_json writes, for
        /// any record ids and exemptions (quotes, backslashes, control
        /// characters, non-ASCII) and any date chrono holds.
        #[test]
        fn detail_is_what_serde_json_writes(
            records in proptest::collection::vec(
                ("[a-zA-Z0-9\"\\\\\\x00-\\x1f\\x7f济é -]{0,8}", -200_000i32..4_000_000, 0usize..6, 0usize..8),
                0..6,
            ),
            exemptions in proptest::collection::vec("[a-z0-9\"\\\\\\x01\\n济]{0,6}", 0..3),
            accumulation in 0usize..3,
            until in proptest::option::of(-200_000i32..4_000_000),
        ) {
            use crate::classify::RecordLine;
            use crate::model::RecordStatus;
            let kinds = ["penalty", "abnormal_listing", "complaint", "commitment_breach", "inspection", "reminder"];
            let date = |n: i32| crate::model::Date::from_num_days_from_ce_opt(n).expect("a date chrono holds");
            let mut r = entity(1);
            r.records = records
                .iter()
                .map(|(id, day, kind, status)| RecordLine {
                    kind: kinds[*kind],
                    id: id.as_str().into(),
                    date: date(*day),
                    status: RecordStatus::ALL.get(*status).copied(),
                })
                .collect();
            r.exemptions = exemptions;
            r.accumulation = AccumulationLevel::ALL[accumulation];
            r.blacklisted_until = until.map(date);
            let mut direct = String::new();
            write_detail(&mut direct, &r);
            let reference = serde_json::to_vec(&DetailOut {
                records: &r.records,
                exemptions: &r.exemptions,
                accumulation: r.accumulation,
                blacklisted_until: r.blacklisted_until,
            })
            .expect("serializes");
            proptest::prop_assert_eq!(direct, String::from_utf8(reference).expect("utf-8"));
        }
    }

    fn entity(n: u64) -> EntityResult {
        let date = crate::data::table::parse_date("2026-01-15").unwrap();
        EntityResult {
            uscc: uscc(n),
            name: format!("主体{n}"),
            city: 370100,
            county: 370102 + (n % 3) as u32,
            tier: (n % 4) as u8 + 1,
            risk: None,
            probability_ppm: (n * 37 % 1_000_000) as u32,
            tolerance_until: (n.is_multiple_of(5)).then_some(date),
            exemptions: if n.is_multiple_of(7) { vec![format!("P{n}")] } else { Vec::new() },
            accumulation: AccumulationLevel::None,
            key_attention: n.is_multiple_of(2),
            blacklisted: n.is_multiple_of(11),
            blacklisted_until: (n.is_multiple_of(11)).then_some(date),
            departments: vec![Arc::<str>::from("市场监管"), Arc::from(format!("部门{}", n % 4).as_str())].into(),
            decisions: vec![crate::engine::DecisionRef::own(Decision {
                stage: Stage::Tier,
                rule: "tier.rhai:tier".into(),
                clause: "c".into(),
                reason: format!("reason {n}"),
                reason_zh: None,
                inputs: vec![format!("P{n}")],
            })],
            records: Vec::new(),
            row: n as u32,
        }
    }

    /// What a stored result says, every field.
    fn said(r: &StoredResult) -> String {
        format!("{} {} {:?} {:?}", serde_json::to_string(r).unwrap(), r.supervision_reason, r.detail, r.tolerance_until)
    }

    /// A results file of three row groups (the last one short).
    fn written(dir: &Path) -> (PathBuf, Sealed, usize) {
        let n = 2 * GROUP_ROWS + 100;
        let path = dir.join("run-1.parquet");
        let mut w = Writer::create(&path).unwrap();
        let rows: Vec<EntityResult> = (0..n as u64).map(|i| entity(i * 2)).collect();
        for shard in rows.chunks(3000) {
            w.write(shard).unwrap();
        }
        (path, w.finish().unwrap(), n)
    }

    /// A v1 or v2 file's decisions, whole in `explanation`, read as a v3
    /// file's two columns do.
    #[test]
    fn decisions_read_whole_or_split() {
        let one = |n: &str, v: &str| Column::new(n.into(), [v]);
        let common = || {
            vec![
                one("uscc", "91370102000000010X"),
                one("name", "n"),
                Column::new("city".into(), [370100u32]),
                Column::new("county".into(), [370102u32]),
                Column::new("tier".into(), [2u32]),
                one("risk", "low"),
                Column::new("probability_ppm".into(), [1000u32]),
                one("tolerance_until", "2027-01-01"),
                Column::new("key_attention".into(), [false]),
                Column::new("blacklisted".into(), [false]),
                one("departments", "A;B"),
                one("supervision_reason", "r"),
            ]
        };
        let whole = r#"[{"stage":"tier"},{"stage":"record_status","inputs":["R1"]},{"stage":"supervision"}]"#;
        let mut v2 = common();
        v2.push(one("explanation", whole));
        let mut v3 = common();
        v3.push(one("decisions_shared", r#"[{"stage":"tier"},{"stage":"supervision"}]"#));
        v3.push(one("decisions_own", r#"[[1,{"stage":"record_status","inputs":["R1"]}]]"#));
        for cols in [v2, v3] {
            let got = stored(&DataFrame::new_infer_height(cols).unwrap()).unwrap();
            assert_eq!(got[0].explanation, whole);
            assert_eq!(got[0].departments, ["A", "B"]);
        }
        let mut bad = common();
        bad.push(one("decisions_shared", "[]"));
        bad.push(one("decisions_own", r#"[[3,{}]]"#));
        let e = stored(&DataFrame::new_infer_height(bad).unwrap()).unwrap_err().to_string();
        assert!(e.contains("do not read back"), "{e}");
    }

    #[test]
    fn a_point_lookup_reads_what_a_whole_read_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (path, sealed, n) = written(dir.path());
        let r = Reader::open(&path, &sealed.index_hash).unwrap();
        assert_eq!(r.index.groups.len(), 3);
        let mut all = Vec::new();
        r.for_each(&mut |rows| all.extend(rows)).unwrap();
        assert_eq!(all.len(), n);
        // A plan's read (its columns only) gives every row's fields as the whole read.
        let mut tiers = Vec::new();
        r.for_each_tier(&mut |rows| tiers.extend(rows)).unwrap();
        let whole: Vec<StoredTier> = all
            .iter()
            .map(|w| StoredTier {
                uscc: w.uscc.clone(),
                city: w.city,
                county: w.county,
                tier: w.tier,
                risk: w.risk.clone(),
                probability_ppm: w.probability_ppm,
                supervision_reason: w.supervision_reason.clone(),
            })
            .collect();
        assert_eq!(tiers, whole);
        // Each group's first, second and last row, and one in the middle.
        let mut picks = Vec::new();
        for g in 0..3 {
            let (start, rows) = (r.starts[g], r.index.groups[g].rows);
            picks.extend([start, start + 1, start + rows / 2, start + rows - 1]);
        }
        for i in picks {
            let want = &all[i];
            let got = r.get(&want.uscc).unwrap().unwrap_or_else(|| panic!("{} found", want.uscc));
            assert_eq!(said(&got), said(want), "row {i}");
            let p = r.point(&want.uscc).unwrap().unwrap();
            assert_eq!(
                (p.tier, p.risk.as_str(), p.probability_ppm, p.key_attention, p.blacklisted),
                (want.tier, want.risk.as_str(), want.probability_ppm, want.key_attention, want.blacklisted),
                "row {i}"
            );
        }
        // Codes the run does not have: before the first, between two rows,
        // after the last.
        for missing in [
            uscc(0).as_str().replace("91370102", "91370101"),
            uscc(1).as_str().to_string(),
            uscc(2 * n as u64 + 1).as_str().to_string(),
        ] {
            assert!(r.get(&missing).unwrap().is_none(), "{missing}");
            assert!(r.point(&missing).unwrap().is_none(), "{missing}");
        }
    }

    /// Parquet's default page (1 MB), what files were written with before
    /// [`PAGE_BYTES`].
    const DEFAULT_PAGE: usize = 1024 * 1024;

    #[test]
    fn small_pages_change_the_bytes_not_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let n = 2 * GROUP_ROWS + 100;
        let rows: Vec<EntityResult> = (0..n as u64).map(|i| entity(i * 2)).collect();
        let mut read = Vec::new();
        for (name, page) in [("big.parquet", DEFAULT_PAGE), ("small.parquet", PAGE_BYTES)] {
            let path = dir.path().join(name);
            let mut w = Writer::with_pages(&path, page).unwrap();
            for shard in rows.chunks(3000) {
                w.write(shard).unwrap();
            }
            let sealed = w.finish().unwrap();
            let r = Reader::open(&path, &sealed.index_hash).unwrap();
            let mut all = Vec::new();
            r.for_each(&mut |rows| all.extend(rows.iter().map(said))).unwrap();
            // Point lookups in every page of the small file's columns.
            let looked: Vec<String> =
                (0..n).step_by(97).map(|i| said(&r.get(rows[i].uscc.as_str()).unwrap().unwrap())).collect();
            assert_eq!(looked, (0..n).step_by(97).map(|i| all[i].clone()).collect::<Vec<_>>(), "{name}");
            read.push((std::fs::read(&path).unwrap(), all, r.index.groups.iter().map(|g| g.rows).collect::<Vec<_>>()));
        }
        let (big, small) = (&read[0], &read[1]);
        assert_ne!(big.0, small.0, "the page size changes the file's bytes");
        assert_eq!(big.1.len(), n);
        assert_eq!(big.1, small.1, "every field of every row reads back the same");
        assert_eq!(big.2, small.2, "same row groups");
    }

    #[test]
    fn a_row_group_changed_after_the_file_was_opened_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, sealed, _) = written(dir.path());
        let r = Reader::open(&path, &sealed.index_hash).unwrap();
        let (first, second) = (uscc(0), uscc(2 * (GROUP_ROWS as u64 + 5)));
        assert!(r.get(first.as_str()).unwrap().is_some());
        assert!(r.get(second.as_str()).unwrap().is_some());
        // One byte near the end of the second row group: in its last
        // columns, which a point lookup does not decode.
        let span = r.index.groups[1].span.clone();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[(span.offset + span.len - 40) as usize] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        for err in [r.get(second.as_str()).map(drop), r.point(second.as_str()).map(drop)] {
            match err {
                Err(ResultsError::Altered { what, .. }) => assert!(what.contains("row group 1"), "{what}"),
                other => panic!("a changed row group was read: {other:?}"),
            }
        }
        // The other groups are still served.
        assert!(r.get(first.as_str()).unwrap().is_some());
    }
}

/// Where a point lookup's time goes, on a stored run:
/// `CREDO_RESULTS_FILE=<run-N.parquet> cargo test --release --lib
/// results::timing -- --ignored --nocapture` (reads the index hash from
/// the index file itself, so it checks the groups, not the store's hash).
#[cfg(test)]
mod timing {
    use std::time::Instant;

    use super::*;

    #[test]
    #[ignore]
    fn timing() {
        let Ok(path) = std::env::var("CREDO_RESULTS_FILE") else { return };
        let path = PathBuf::from(path);
        let text = std::fs::read(index_path(&path)).unwrap();
        let r = Reader::open(&path, &format!("sha256:{}", hex::encode(Sha256::digest(&text)))).unwrap();
        let n = r.index.groups.len();
        let picks: Vec<usize> = (0..200).map(|i| i * n / 200).collect();
        let columns: Vec<&str> = COLUMNS.iter().map(|(c, _)| *c).collect();
        let (mut read, mut codes, mut row, mut paths, mut whole) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &g in &picks {
            let uscc = r.index.groups[g].first.clone();
            let t = Instant::now();
            let bytes = r.group_bytes(g).unwrap();
            let t1 = Instant::now();
            let df = r.decode(g, &bytes, &["uscc"], None).unwrap();
            let at = position(&df, &uscc).unwrap().unwrap();
            let t2 = Instant::now();
            r.decode(g, &bytes, &columns, Some(at)).unwrap();
            let t3 = Instant::now();
            r.paths_of(&uscc).unwrap();
            let t4 = Instant::now();
            r.get(&uscc).unwrap().unwrap();
            let t5 = Instant::now();
            read += (t1 - t).as_secs_f64();
            codes += (t2 - t1).as_secs_f64();
            row += (t3 - t2).as_secs_f64();
            paths += (t4 - t3).as_secs_f64();
            whole += (t5 - t4).as_secs_f64();
        }
        let ms = |s: f64| s * 1e3 / picks.len() as f64;
        eprintln!(
            "per lookup: read+check {:.3} ms, credit codes {:.3} ms, the row {:.3} ms, paths {:.3} ms; get {:.3} ms",
            ms(read),
            ms(codes),
            ms(row),
            ms(paths),
            ms(whole)
        );
        for &c in &columns {
            let t = Instant::now();
            for &g in &picks {
                let bytes = r.group_bytes(g).unwrap();
                r.decode(g, &bytes, &[c], Some(7)).unwrap();
            }
            eprintln!("  {c}: {:.3} ms with the read", ms(t.elapsed().as_secs_f64()));
        }
    }
}
