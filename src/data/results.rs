//! A run's per-entity results as a Parquet file sorted by credit code
//! (credo-results-v1), with an index that makes point lookups cheap and
//! every read verified.
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
const FORMAT: &str = "credo-results-v1";

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
    ]
    .into_iter()
    .map(|(n, t)| Field::new(n.into(), t))
    .collect()
}

/// The supervision decision's reason: what a plan's frame cites.
pub fn supervision_reason(r: &EntityResult) -> String {
    r.decisions.iter().rev().find(|d| d.stage == Stage::Supervision).map(|d| d.reason.clone()).unwrap_or_default()
}

fn frame(rows: &[&EntityResult], texts: &mut crate::classify::Texts) -> PolarsResult<DataFrame> {
    let s = |f: &dyn Fn(&EntityResult) -> String| rows.iter().map(|r| f(r)).collect::<Vec<String>>();
    DataFrame::new_infer_height(vec![
        Column::new("uscc".into(), s(&|r| r.uscc.to_string())),
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
        Column::new("departments".into(), s(&|r| r.departments.iter().map(|d| &**d).collect::<Vec<_>>().join(";"))),
        Column::new("supervision_reason".into(), s(&supervision_reason)),
        Column::new(
            "explanation".into(),
            rows.iter()
                .map(|r| texts.decisions_json(r))
                .collect::<Vec<_>>()
                .iter()
                .map(|t| &**t)
                .collect::<Vec<&str>>(),
        ),
    ])
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
        if index.format != FORMAT {
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
    f.seek(SeekFrom::Start(span.offset)).map_err(SpanError::Io)?;
    let mut buf = vec![0u8; span.len as usize];
    f.read_exact(&mut buf).map_err(SpanError::Io)?;
    let found = hex::encode(Sha256::digest(&buf));
    if found != span.sha256 {
        return Err(SpanError::Differs(found));
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
        });
    }
    Ok(out)
}
