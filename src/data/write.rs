//! Writing tables in batches (CSV or Parquet) so datasets far larger than
//! memory can be produced chunk by chunk.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use polars::io::csv::write::BatchedWriter as CsvBatched;
use polars::io::parquet::write::BatchedWriter as ParquetBatched;
use polars::prelude::*;

use super::FileError;
use super::read::Format;
use super::table::TableRow;

/// A table file being written batch by batch.
pub struct TableSink {
    inner: Option<Inner>,
    path: std::path::PathBuf,
    schema: Schema,
}

// One sink per table file: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Csv(CsvBatched<BufWriter<File>>),
    Parquet(ParquetBatched<BufWriter<File>>),
}

fn err(path: &Path, e: impl std::fmt::Display) -> FileError {
    FileError::new(path, e)
}

impl TableSink {
    pub fn create<T: TableRow>(dir: &Path, format: Format) -> Result<TableSink, FileError> {
        let path = dir.join(format!("{}.{}", T::TABLE, format.extension()));
        let schema: Schema = T::COLUMNS.iter().map(|c| Field::new(c.name.into(), c.kind.dtype())).collect();
        let file = BufWriter::with_capacity(1 << 20, File::create(&path).map_err(|e| err(&path, e))?);
        let inner = match format {
            Format::Csv => {
                Inner::Csv(CsvWriter::new(file).include_header(true).batched(&schema).map_err(|e| err(&path, e))?)
            }
            Format::Parquet => Inner::Parquet(
                ParquetWriter::new(file)
                    .with_compression(ParquetCompression::Zstd(None))
                    .batched(&schema)
                    .map_err(|e| err(&path, e))?,
            ),
        };
        Ok(TableSink { inner: Some(inner), path, schema })
    }

    /// Appends rows; an empty batch is a no-op.
    pub fn write<T: TableRow>(&mut self, rows: &[T]) -> Result<(), FileError> {
        if rows.is_empty() {
            return Ok(());
        }
        let df = DataFrame::new_infer_height(T::columns(rows)).map_err(|e| err(&self.path, e))?;
        debug_assert_eq!(df.schema().len(), self.schema.len());
        match self.inner.as_mut().expect("sink not finished") {
            Inner::Csv(w) => w.write_batch(&df),
            Inner::Parquet(w) => w.write_batch(&df),
        }
        .map_err(|e| err(&self.path, e))
    }

    pub fn finish(mut self) -> Result<(), FileError> {
        let path = self.path.clone();
        match self.inner.take().expect("sink finished once") {
            Inner::Csv(mut w) => w.finish().map_err(|e| err(&path, e)),
            Inner::Parquet(w) => w.finish().map(|_| ()).map_err(|e| err(&path, e)),
        }?;
        Ok(())
    }
}

/// Writes a whole table at once.
pub fn write_table<T: TableRow>(dir: &Path, format: Format, rows: &[T]) -> Result<(), FileError> {
    let mut sink = TableSink::create::<T>(dir, format)?;
    sink.write(rows)?;
    sink.finish()
}
