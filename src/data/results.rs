//! A run's per-entity results as a Parquet file sorted by credit code
//! (credo-results-v2), with an index that makes point lookups cheap and
//! every read verified.
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

use crate::classify::EntityResult;
use crate::engine::Stage;

/// Rows per row group: a point lookup reads and checks one group.
pub const GROUP_ROWS: usize = 4096;
const FORMAT: &str = "credo-results-v2";
/// The format before the detail column and the paths sidecar; still read.
const FORMAT_V1: &str = "credo-results-v1";
/// Entities per block of the paths sidecar.
const PATH_BLOCK: usize = 256;

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
        Some(crate::classify::RecordLine { kind, id: self.id.clone(), date: self.date, status })
    }
}

#[derive(serde::Serialize)]
struct DetailOut<'a> {
    records: &'a [crate::classify::RecordLine],
    exemptions: &'a [String],
    accumulation: crate::model::AccumulationLevel,
    blacklisted_until: Option<crate::model::Date>,
}

/// Appends an entity's detail as JSON ("{}" if it cannot be written).
fn write_detail(out: &mut Vec<u8>, r: &EntityResult) {
    let d = DetailOut {
        records: &r.records,
        exemptions: &r.exemptions,
        accumulation: r.accumulation,
        blacklisted_until: r.blacklisted_until,
    };
    let start = out.len();
    if serde_json::to_writer(&mut *out, &d).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"{}");
    }
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
    inner: Option<polars::io::parquet::write::BatchedWriter<Tap<BufWriter<File>>>>,
    state: Arc<Mutex<TapState>>,
    /// Rows of an unfinished group, carried to the next shard.
    pending: Vec<EntityResult>,
    texts: crate::classify::Texts,
    groups: Vec<Group>,
    last_end: u64,
    rows: usize,
    paths: Option<Vec<Group>>,
}

fn schema() -> Schema {
    [
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
        ("explanation", DataType::String),
        ("detail", DataType::String),
    ]
    .into_iter()
    .map(|(n, t)| Field::new(n.into(), t))
    .collect()
}

/// The supervision decision's reason: what a plan's frame cites.
pub fn supervision_reason(r: &EntityResult) -> String {
    supervision_reason_of(r).to_string()
}

fn supervision_reason_of(r: &EntityResult) -> &str {
    r.decisions.iter().rev().find(|d| d.stage == Stage::Supervision).map_or("", |d| d.reason.as_str())
}

fn frame(rows: &[&EntityResult], texts: &mut crate::classify::Texts) -> PolarsResult<DataFrame> {
    // Every row's detail JSON in one buffer, cut at the offsets.
    let mut detail = Vec::with_capacity(rows.len() * 160);
    let mut ends = Vec::with_capacity(rows.len());
    for r in rows {
        write_detail(&mut detail, r);
        ends.push(detail.len());
    }
    let detail = String::from_utf8(detail).map_err(|e| PolarsError::ComputeError(e.to_string().into()))?;
    let details: Vec<&str> = ends
        .iter()
        .scan(0, |start, &end| {
            let t = &detail[*start..end];
            *start = end;
            Some(t)
        })
        .collect();
    let departments = departments_column(rows.iter().map(|r| &r.departments));
    let explanations: Vec<Arc<str>> = rows.iter().map(|r| texts.decisions_json(r)).collect();
    DataFrame::new_infer_height(vec![
        Column::new("uscc".into(), rows.iter().map(|r| r.uscc.as_str()).collect::<Vec<_>>()),
        Column::new("name".into(), rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>()),
        Column::new("city".into(), rows.iter().map(|r| r.city).collect::<Vec<u32>>()),
        Column::new("county".into(), rows.iter().map(|r| r.county).collect::<Vec<u32>>()),
        Column::new("tier".into(), rows.iter().map(|r| u32::from(r.tier)).collect::<Vec<u32>>()),
        Column::new("risk".into(), rows.iter().map(|r| r.risk_code()).collect::<Vec<_>>()),
        Column::new("probability_ppm".into(), rows.iter().map(|r| r.probability_ppm).collect::<Vec<u32>>()),
        Column::new(
            "tolerance_until".into(),
            rows.iter().map(|r| r.tolerance_until.map(|d| d.to_string())).collect::<Vec<_>>(),
        ),
        Column::new("key_attention".into(), rows.iter().map(|r| r.key_attention).collect::<Vec<_>>()),
        Column::new("blacklisted".into(), rows.iter().map(|r| r.blacklisted).collect::<Vec<_>>()),
        Column::new("departments".into(), departments.iter().map(|t| &**t).collect::<Vec<&str>>()),
        Column::new("supervision_reason".into(), rows.iter().map(|r| supervision_reason_of(r)).collect::<Vec<_>>()),
        Column::new("explanation".into(), explanations.iter().map(|t| &**t).collect::<Vec<&str>>()),
        Column::new("detail".into(), details),
    ])
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
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let tmp = path.with_extension("parquet.partial");
        let file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        let state = Arc::new(Mutex::new(TapState::default()));
        let tap = Tap { inner: BufWriter::with_capacity(1 << 20, file), state: state.clone() };
        // LZ4: the file is read in small pieces by the server, and written
        // once per run; speed matters more than size.
        let inner = ParquetWriter::new(tap)
            .with_compression(ParquetCompression::Lz4Raw)
            .batched(&schema())
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
        let mut rest = rows;
        if !self.pending.is_empty() {
            let take = (GROUP_ROWS - self.pending.len()).min(rest.len());
            self.pending.extend(rest[..take].iter().cloned());
            rest = &rest[take..];
            if self.pending.len() == GROUP_ROWS {
                let pending = std::mem::take(&mut self.pending);
                self.group(&pending.iter().collect::<Vec<_>>())?;
            }
        }
        let mut chunks = rest.chunks_exact(GROUP_ROWS);
        for chunk in chunks.by_ref() {
            self.group(&chunk.iter().collect::<Vec<_>>())?;
        }
        self.pending.extend(chunks.remainder().iter().cloned());
        self.texts.clear();
        Ok(())
    }

    fn flush_group(&mut self) -> Result<(), ResultsError> {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            return Ok(());
        }
        self.group(&pending.iter().collect::<Vec<_>>())
    }

    /// Writes one row group.
    fn group(&mut self, rows: &[&EntityResult]) -> Result<(), ResultsError> {
        let mut df = frame(rows, &mut self.texts).map_err(|e| io(&self.tmp, e))?;
        df.rechunk_mut();
        self.inner.as_mut().expect("writer open").write_batch(&df).map_err(|e| io(&self.tmp, e))?;
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let span = std::mem::take(&mut s.span);
        self.groups.push(Group {
            first: rows[0].uscc.to_string(),
            rows: rows.len(),
            span: Span { offset: self.last_end, len: s.written - self.last_end, sha256: hex_sha(span) },
        });
        self.last_end = s.written;
        self.rows += rows.len();
        Ok(())
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
        inner.finish().map_err(|e| io(&self.tmp, e))?;
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
    index: Index,
    metadata: polars::io::parquet::metadata::FileMetadataRef,
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
        if index.format != FORMAT && index.format != FORMAT_V1 {
            return Err(io(path, format!("format {} is not {FORMAT}", index.format)));
        }
        let mut f = File::open(path).map_err(|e| io(path, e))?;
        check_span(&mut f, &index.footer).map_err(|e| match e {
            SpanError::Io(e) => io(path, e),
            SpanError::Differs(found) => {
                altered(format!("its footer hashes to {found}, the index has {}", index.footer.sha256))
            }
        })?;
        let metadata = ParquetReader::new(f).get_metadata().map_err(|e| io(path, e))?.clone();
        Ok(Reader { path: path.to_path_buf(), index, metadata })
    }

    pub fn rows(&self) -> usize {
        self.index.rows
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
        let offset: usize = self.index.groups[..g].iter().map(|x| x.rows).sum();
        let mut r = ParquetReader::new(f).with_columns(columns).with_slice(Some((offset, group.rows)));
        r.set_metadata(self.metadata.clone());
        r.finish().map_err(|e| io(&self.path, e))
    }

    /// One entity's result, if the run has it.
    pub fn get(&self, uscc: &str) -> Result<Option<StoredResult>, ResultsError> {
        let g = self.index.groups.partition_point(|x| x.first.as_str() <= uscc);
        if g == 0 {
            return Ok(None);
        }
        let df = self.group(g - 1, None)?;
        // Only the entity's own row is built (its explanation checked as
        // JSON): a reveal looks up every drawn entity.
        let Some(at) = position(&df, uscc).map_err(|e| io(&self.path, e))? else { return Ok(None) };
        Ok(stored(&df.slice(at as i64, 1)).map_err(|e| io(&self.path, e))?.pop())
    }

    /// One entity's tier, probability and flags in the run (only those
    /// columns are decoded; the row group is checked as always).
    pub fn point(&self, uscc: &str) -> Result<Option<StoredPoint>, ResultsError> {
        let g = self.index.groups.partition_point(|x| x.first.as_str() <= uscc);
        if g == 0 {
            return Ok(None);
        }
        let columns = ["uscc", "tier", "risk", "probability_ppm", "key_attention", "blacklisted"];
        let df = self.group(g - 1, Some(columns.iter().map(|c| c.to_string()).collect()))?;
        let read = || -> PolarsResult<Option<StoredPoint>> {
            let Some(at) = position(&df, uscc)? else { return Ok(None) };
            Ok(Some(StoredPoint {
                tier: df.column("tier")?.u32()?.get(at).unwrap_or(0).min(255) as u8,
                risk: df.column("risk")?.str()?.get(at).unwrap_or("").to_string(),
                probability_ppm: df.column("probability_ppm")?.u32()?.get(at).unwrap_or(0),
                key_attention: df.column("key_attention")?.bool()?.get(at).unwrap_or(false),
                blacklisted: df.column("blacklisted")?.bool()?.get(at).unwrap_or(false),
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
        let key = format!("{{\"uscc\":\"{uscc}\",");
        for line in bytes.split(|c| *c == b'\n') {
            if line.starts_with(key.as_bytes()) {
                return serde_json::from_slice(line).map(Some).map_err(|e| io(&path, e));
            }
        }
        Ok(Some(EntityPaths { uscc: uscc.to_string(), ..Default::default() }))
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

fn stored(df: &DataFrame) -> PolarsResult<Vec<StoredResult>> {
    let text = |name: &str| -> PolarsResult<Vec<Option<String>>> {
        Ok(df.column(name)?.str()?.downcast_iter().flat_map(|a| a.iter()).map(|v| v.map(str::to_string)).collect())
    };
    let u32s = |name: &str| -> PolarsResult<Vec<u32>> {
        Ok(df.column(name)?.u32()?.downcast_iter().flat_map(|a| a.iter()).map(|v| v.copied().unwrap_or(0)).collect())
    };
    let bools = |name: &str| -> PolarsResult<Vec<bool>> {
        Ok(df.column(name)?.bool()?.downcast_iter().flat_map(|a| a.iter()).map(|v| v.unwrap_or(false)).collect())
    };
    let uscc = text("uscc")?;
    let name = text("name")?;
    let city = u32s("city")?;
    let county = u32s("county")?;
    let tier: Vec<u8> = u32s("tier")?.into_iter().map(|t| t.min(255) as u8).collect();
    let risk = text("risk")?;
    let ppm = u32s("probability_ppm")?;
    let tolerance = text("tolerance_until")?;
    let key_attention = bools("key_attention")?;
    let blacklisted = bools("blacklisted")?;
    let departments = text("departments")?;
    let reason = text("supervision_reason")?;
    let explanation = text("explanation")?;
    // A v1 file has no detail column.
    let detail = if df.get_column_names().iter().any(|c| c.as_str() == "detail") {
        text("detail")?
    } else {
        vec![None; uscc.len()]
    };
    let mut out = Vec::with_capacity(uscc.len());
    for i in 0..uscc.len() {
        out.push(StoredResult {
            uscc: uscc[i].clone().unwrap_or_default(),
            name: name[i].clone().unwrap_or_default(),
            city: city[i],
            county: county[i],
            tier: tier[i],
            risk: risk[i].clone().unwrap_or_default(),
            probability_ppm: ppm[i],
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
            supervision_reason: reason[i].clone().unwrap_or_default(),
            explanation: explanation[i].clone().unwrap_or_else(|| "[]".into()),
            detail: detail[i].clone(),
        });
    }
    Ok(out)
}
