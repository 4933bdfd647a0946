//! Writing classification results (one row per entity) as CSV or Parquet,
//! chosen by the output file's extension.

use std::path::Path;

use polars::prelude::*;

use crate::classify::EntityResult;

pub const COLUMNS: &[&str] = &[
    "uscc",
    "name",
    "city",
    "county",
    "tier",
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

fn frame(rows: &[EntityResult]) -> PolarsResult<DataFrame> {
    let probability: Vec<String> = rows.iter().map(|r| format!("{:.6}", r.probability())).collect();
    DataFrame::new_infer_height(vec![
        Column::new("uscc".into(), rows.iter().map(|r| r.uscc.to_string()).collect::<Vec<_>>()),
        Column::new("name".into(), rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>()),
        Column::new("city".into(), rows.iter().map(|r| r.city.to_string()).collect::<Vec<_>>()),
        Column::new("county".into(), rows.iter().map(|r| r.county.to_string()).collect::<Vec<_>>()),
        Column::new("tier".into(), rows.iter().map(|r| i32::from(r.tier)).collect::<Vec<_>>()),
        Column::new("risk".into(), rows.iter().map(|r| &*r.risk).collect::<Vec<_>>()),
        // Decimal text with six places: exact parts per million, no float noise.
        Column::new("probability".into(), probability),
        Column::new("tolerance_until".into(), rows.iter().map(|r| r.tolerance_until).collect::<Vec<_>>()),
        Column::new("exemptions".into(), rows.iter().map(|r| r.exemptions.join(";")).collect::<Vec<_>>()),
        Column::new("accumulation".into(), rows.iter().map(|r| &*r.accumulation).collect::<Vec<_>>()),
        Column::new("key_attention".into(), rows.iter().map(|r| r.key_attention).collect::<Vec<_>>()),
        Column::new("blacklisted".into(), rows.iter().map(|r| r.blacklisted).collect::<Vec<_>>()),
        Column::new("blacklisted_until".into(), rows.iter().map(|r| r.blacklisted_until).collect::<Vec<_>>()),
        Column::new(
            "departments".into(),
            rows.iter().map(|r| r.departments.iter().map(|d| &**d).collect::<Vec<_>>().join(";")).collect::<Vec<_>>(),
        ),
        Column::new("explanation".into(), rows.iter().map(EntityResult::explanation).collect::<Vec<_>>()),
    ])
}

/// Writes results to `path` (`.csv` or `.parquet`), in chunks.
pub fn write_results(path: &Path, rows: &[EntityResult]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
    }
    let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).map_err(|e| err(&e))?);
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    const CHUNK: usize = 250_000;
    match ext {
        "csv" => {
            let schema = frame(&rows[..0]).map_err(|e| err(&e))?.schema().as_ref().clone();
            let mut w = CsvWriter::new(file).include_header(true).batched(&schema).map_err(|e| err(&e))?;
            for chunk in rows.chunks(CHUNK) {
                w.write_batch(&frame(chunk).map_err(|e| err(&e))?).map_err(|e| err(&e))?;
            }
            w.finish().map_err(|e| err(&e))
        }
        "parquet" => {
            let schema = frame(&rows[..0]).map_err(|e| err(&e))?.schema().as_ref().clone();
            let mut w = ParquetWriter::new(file)
                .with_compression(ParquetCompression::Zstd(None))
                .batched(&schema)
                .map_err(|e| err(&e))?;
            for chunk in rows.chunks(CHUNK) {
                w.write_batch(&frame(chunk).map_err(|e| err(&e))?).map_err(|e| err(&e))?;
            }
            w.finish().map(|_| ()).map_err(|e| err(&e))
        }
        _ => Err(format!("{}: the output must end in .csv or .parquet", path.display())),
    }
}
