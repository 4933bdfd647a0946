//! Writing classification results (one row per entity) as CSV or Parquet,
//! chosen by the output file's extension.

use std::path::Path;

use polars::prelude::*;

use polars_parquet::write::{CompressionOptions, StatisticsOptions, ZstdLevel};

use super::columns::{self, Col, ParquetOut};
use crate::classify::EntityResult;
use crate::i18n::Lang;

pub const COLUMNS: &[&str] = &[
    "uscc",
    "name",
    "city",
    "county",
    "tier",
    "tier_name",
    "risk",
    "probability",
    "tolerance_until",
    "exemptions",
    "accumulation",
    "key_attention",
    "blacklisted",
    "blacklisted_until",
    "departments",
    "explanation",
];

fn frame(rows: &[EntityResult], texts: &mut crate::classify::Texts, lang: Lang) -> Vec<Col> {
    // Codes and probabilities take few distinct values: each is formatted
    // once per batch, not once per row. `format!("{:.6}", r.probability())`
    // without float formatting: six places of a whole number of millionths
    // are its digits.
    let codes = distinct_texts(rows.iter().flat_map(|r| [r.city, r.county]), |c| c.to_string());
    let ppm =
        distinct_texts(rows.iter().map(|r| r.probability_ppm), |p| format!("{}.{:06}", p / 1_000_000, p % 1_000_000));
    let departments = super::results::departments_column(rows.iter().map(|r| &r.departments));
    let explanations: Vec<std::sync::Arc<str>> = rows.iter().map(|r| texts.explanation(r, lang)).collect();
    vec![
        Col::Unique(Column::new("uscc".into(), rows.iter().map(|r| r.uscc.as_str()).collect::<Vec<_>>())),
        Col::Unique(Column::new("name".into(), rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>())),
        Col::Text(columns::shared("city", rows.iter().map(|r| &*codes[&r.city]))),
        Col::Text(columns::shared("county", rows.iter().map(|r| &*codes[&r.county]))),
        Col::Polars(Column::new("tier".into(), rows.iter().map(|r| i32::from(r.tier)).collect::<Vec<_>>())),
        Col::Text(columns::shared("tier_name", rows.iter().map(|r| crate::i18n::tier_name(r.tier, lang)))),
        Col::Text(columns::shared("risk", rows.iter().map(|r| r.risk_code()))),
        // Decimal text with six places: exact parts per million, no float noise.
        Col::Text(columns::shared("probability", rows.iter().map(|r| &*ppm[&r.probability_ppm]))),
        Col::Polars(Column::new("tolerance_until".into(), rows.iter().map(|r| r.tolerance_until).collect::<Vec<_>>())),
        Col::Polars(Column::new("exemptions".into(), rows.iter().map(|r| r.exemptions.join(";")).collect::<Vec<_>>())),
        Col::Text(columns::shared("accumulation", rows.iter().map(|r| r.accumulation.as_str()))),
        Col::Polars(Column::new("key_attention".into(), rows.iter().map(|r| r.key_attention).collect::<Vec<_>>())),
        Col::Polars(Column::new("blacklisted".into(), rows.iter().map(|r| r.blacklisted).collect::<Vec<_>>())),
        Col::Polars(Column::new(
            "blacklisted_until".into(),
            rows.iter().map(|r| r.blacklisted_until).collect::<Vec<_>>(),
        )),
        Col::Text(columns::shared("departments", departments.iter().map(|t| &**t))),
        Col::Text(columns::shared("explanation", explanations.iter().map(|t| &**t))),
    ]
}

/// The text of each distinct key.
fn distinct_texts(
    keys: impl Iterator<Item = u32>,
    show: impl Fn(u32) -> String,
) -> rustc_hash::FxHashMap<u32, Box<str>> {
    let mut texts = rustc_hash::FxHashMap::default();
    for k in keys {
        texts.entry(k).or_insert_with(|| show(k).into_boxed_str());
    }
    texts
}

/// Writes results to `path` (`.csv` or `.parquet`, by extension) shard
/// by shard, as a classification produces them.
pub struct OutputWriter {
    path: std::path::PathBuf,
    /// The language of tier names and explanations (columns stay the same).
    lang: Lang,
    inner: Option<Inner>,
}

// One writer per run: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Csv(polars::io::csv::write::BatchedWriter<std::io::BufWriter<std::fs::File>>),
    Parquet(ParquetOut<std::io::BufWriter<std::fs::File>>),
}

/// A results file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct OutputError {
    pub path: String,
    pub message: String,
}

impl OutputWriter {
    pub fn create(path: &Path, lang: Lang) -> Result<OutputWriter, OutputError> {
        let err = |e: &dyn std::fmt::Display| OutputError { path: path.display().to_string(), message: e.to_string() };
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "csv" && ext != "parquet" {
            return Err(err(&"the output must end in .csv or .parquet"));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
        }
        let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).map_err(|e| err(&e))?);
        let schema =
            columns::frame(&frame(&[], &mut Default::default(), lang)).map_err(|e| err(&e))?.schema().as_ref().clone();
        let inner = if ext == "csv" {
            Inner::Csv(CsvWriter::new(file).include_header(true).batched(&schema).map_err(|e| err(&e))?)
        } else {
            Inner::Parquet(
                ParquetOut::new(
                    file,
                    &schema,
                    // Level 1: about half the CPU of the default 3 for a
                    // slightly larger file (written while the run goes on).
                    CompressionOptions::Zstd(Some(ZstdLevel::try_new(1).map_err(|e| err(&e))?)),
                    StatisticsOptions::default(),
                    None,
                )
                .map_err(|e| err(&e))?,
            )
        };
        Ok(OutputWriter { path: path.to_path_buf(), lang, inner: Some(inner) })
    }

    fn err(&self, e: &dyn std::fmt::Display) -> OutputError {
        OutputError { path: self.path.display().to_string(), message: e.to_string() }
    }

    pub fn write(&mut self, rows: &[EntityResult]) -> Result<(), OutputError> {
        const CHUNK: usize = 250_000;
        let mut texts = crate::classify::Texts::default();
        let (t0, cpu0, mut framed) = (std::time::Instant::now(), super::log_cpu(), std::time::Duration::ZERO);
        for chunk in rows.chunks(CHUNK) {
            let cpu = super::log_cpu();
            let cols = frame(chunk, &mut texts, self.lang);
            framed += super::log_cpu().saturating_sub(cpu);
            match self.inner.as_mut().expect("writer open") {
                Inner::Csv(w) => columns::frame(&cols).and_then(|df| w.write_batch(&df)),
                Inner::Parquet(w) => w.write(cols),
            }
            .map_err(|e| self.err(&e))?;
        }
        // As the results file logs its parts: CPU time for the columns,
        // then the rest; and wall time.
        let encoded = super::log_cpu().saturating_sub(cpu0).saturating_sub(framed);
        tracing::debug!(rows = rows.len(), ?framed, ?encoded, wall = ?t0.elapsed(), "output file parts");
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), OutputError> {
        match self.inner.take().expect("writer open") {
            Inner::Csv(mut w) => w.finish().map_err(|e| self.err(&e)),
            Inner::Parquet(w) => w.finish().map(drop).map_err(|e| self.err(&e)),
        }
    }
}

/// Writes results to `path` (`.csv` or `.parquet`) at once.
pub fn write_results(path: &Path, rows: &[EntityResult], lang: Lang) -> Result<(), OutputError> {
    let mut w = OutputWriter::create(path, lang)?;
    w.write(rows)?;
    w.finish()
}
