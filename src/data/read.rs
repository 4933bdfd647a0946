//! Reading one table file (CSV or Parquet) in batches of typed columns,
//! without letting anything slip: ragged rows, blank lines, bad UTF-8, a
//! wrong header or a wrong Parquet type are all problems, never skipped. A
//! file is hashed as it is read, and only one batch of it (and the next,
//! read ahead) is in memory at a time.
//!
//! Parquet is the fast path: its columns arrive typed (dates as dates,
//! booleans as booleans) through polars' lazy scan, a projection of the
//! table's columns and a slice of whole row groups per batch (so no group
//! is decompressed twice). CSV goes through one tokenizer
//! of our own ([`Prescan`]; polars' CSV reader is not used for datasets):
//! a shape pass over the whole file checks its shape, counts its rows and
//! hashes it, so the consumer can reserve exactly and a badly shaped file
//! gets its shape problems and no cell problems; then a value pass runs
//! the same tokenizer over the file's records again, a few tens of
//! megabytes at a time, in parallel spans, into the text columns the
//! table's parser reads.
//!
//! Long on purpose: the CSV tokenizer and the readers it feeds agree on
//! record boundaries and row numbers, so they stay side by side.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rayon::prelude::*;
use sha2::Digest as _;

use super::problem::{Problem, Problems};
use super::table::{Cells, ColumnSpec, RowReader, TableRow};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

/// Finds `{table}.csv` or `{table}.parquet` in `dir`.
pub fn locate(dir: &Path, table: &str) -> Result<(PathBuf, Format), Problem> {
    let csv = dir.join(format!("{table}.csv"));
    let parquet = dir.join(format!("{table}.parquet"));
    match (csv.is_file(), parquet.is_file()) {
        (true, false) => Ok((csv, Format::Csv)),
        (false, true) => Ok((parquet, Format::Parquet)),
        (true, true) => Err(Problem::file(
            &format!("{table}.*"),
            "ambiguous file",
            format!("both {table}.csv and {table}.parquet exist; keep one"),
        )),
        (false, false) => Err(Problem::file(
            &format!("{table}.csv"),
            "missing file",
            format!("no {table}.csv or {table}.parquet in {}", dir.display()),
        )),
    }
}

/// Length and SHA-256 of a file.
pub type Digest = (u64, [u8; 32]);

/// What reading a table found out about its file.
pub struct Scanned {
    pub file: String,
    pub format: Format,
    /// Data rows in the file (including rows with problems).
    pub rows: usize,
    /// Set when the whole file could be read.
    pub digest: Option<Digest>,
    /// Seconds from the file's start to its end: reading and parsing it,
    /// and [`Scanned::waited`].
    pub secs: f64,
    /// Seconds of [`Scanned::secs`] spent handing batches over (waiting
    /// while the consumer, the snapshot builder, is still busy with
    /// earlier ones): a table that follows a slow one shows a long time
    /// for few rows, and this says why.
    pub waited: f64,
}

/// Rows per batch: a few hundred megabytes of columns at most. Two
/// batches of columns are in memory at once (one decoded ahead), so half
/// a million keeps the loader's peak where one batch of a million had it
/// (`data::check` holds one parsed batch more, while one is built).
const BATCH_ROWS: usize = 1 << 19;
/// CSV bytes per batch (whole records).
const BATCH_BYTES: u64 = 64 << 20;

/// Reads and parses one table batch by batch, calling `each` with the
/// rows of a batch that parsed and their 1-based row numbers. Every
/// problem is in `problems`; callers must refuse the dataset when it is
/// not empty. Rows are parsed in parallel; batches arrive in file order.
/// What a scan hands its consumer: first the number of rows the file holds
/// (known before any row is parsed, so the consumer can reserve exactly
/// once instead of growing by doubling), then the parsed rows of each batch
/// with their row numbers.
pub enum Batch<T> {
    Expect(usize),
    /// A batch's rows in the parts they were parsed in, in file order:
    /// each part's rows and their row numbers. The parts are not joined
    /// (joining copied every row of the dataset once more into fresh
    /// memory).
    Rows(Vec<(Vec<T>, Vec<u32>)>),
}

pub fn scan<T: TableRow>(dir: &Path, problems: &mut Problems, each: &mut dyn FnMut(Batch<T>)) -> Scanned {
    let started = std::time::Instant::now();
    let mut out = Scanned {
        file: format!("{}.csv", T::TABLE),
        format: Format::Csv,
        rows: 0,
        digest: None,
        secs: 0.0,
        waited: 0.0,
    };
    let (path, format) = match locate(dir, T::TABLE) {
        Ok(found) => found,
        Err(p) => {
            problems.push(p);
            return out;
        }
    };
    out.format = format;
    out.file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut waited = std::time::Duration::ZERO;
    let mut timed = |batch: Batch<T>| {
        let t = std::time::Instant::now();
        each(batch);
        waited += t.elapsed();
    };
    match format {
        Format::Csv => scan_csv::<T>(&path, &mut out, problems, &mut timed),
        Format::Parquet => scan_parquet::<T>(&path, &mut out, problems, &mut timed),
    }
    out.secs = started.elapsed().as_secs_f64();
    out.waited = waited.as_secs_f64();
    out
}

/// Parses the rows of one batch (columns by name) in parallel chunks.
///
/// A Parquet batch arrives with its columns in several pieces (one per
/// row group the batch spans); instead of copying each column into one
/// piece, the batch is cut where any column's piece ends, so every column
/// of a segment is one piece (a zero-copy slice), and each segment is
/// parsed as it is.
fn parse_batch<T: TableRow>(
    file: &str,
    df: &DataFrame,
    first_row: usize,
    problems: &mut Problems,
    each: &mut dyn FnMut(Batch<T>),
) {
    const CHUNK: usize = 65_536;
    let segments: Vec<(usize, DataFrame)> = segments(df);
    let segment_columns: Vec<Vec<(&'static str, Cells<'_>)>> = segments
        .iter()
        .map(|(_, seg)| {
            T::COLUMNS
                .iter()
                .map(|c| {
                    let cells =
                        seg.column(c.name).ok().map_or(Cells::Absent, |col| Cells::of(col.as_materialized_series()));
                    (c.name, cells)
                })
                .collect()
        })
        .collect();
    // (segment, rows of it), in file order.
    let mut tasks: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
    for (k, (_, seg)) in segments.iter().enumerate() {
        let height = seg.height();
        tasks.extend((0..height.div_ceil(CHUNK)).map(|c| (k, c * CHUNK..((c + 1) * CHUNK).min(height))));
    }
    let parts: Vec<(Vec<T>, Vec<u32>, Problems)> = tasks
        .into_par_iter()
        .map(|(k, range)| {
            let start = segments[k].0;
            parse_rows::<T>(file, segment_columns[k].clone(), first_row + start, range)
        })
        .collect();
    hand_over(parts, problems, each);
}

/// `df` cut into segments (with the row each starts at) in which every
/// column is a single piece: zero-copy slices at every end of a column's
/// pieces.
fn segments(df: &DataFrame) -> Vec<(usize, DataFrame)> {
    let height = df.height();
    let mut cuts = vec![0, height];
    for c in df.columns() {
        let mut at = 0;
        for len in c.as_materialized_series().chunk_lengths() {
            at += len;
            cuts.push(at.min(height));
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|w| {
            let mut seg = df.slice(w[0] as i64, w[1] - w[0]);
            // A no-op unless a column still has several pieces (empty
            // ones at a cut).
            seg.rechunk_mut();
            (w[0], seg)
        })
        .collect()
}

/// Parses rows `range` of a batch whose first row follows `first_row`
/// rows of the file: the rows that parsed, their 1-based row numbers, and
/// the problems.
fn parse_rows<T: TableRow>(
    file: &str,
    columns: Vec<(&'static str, Cells<'_>)>,
    first_row: usize,
    range: std::ops::Range<usize>,
) -> (Vec<T>, Vec<u32>, Problems) {
    let mut problems = Problems::default();
    let mut rows = Vec::with_capacity(range.len());
    let mut row_no = Vec::with_capacity(range.len());
    let mut reader = RowReader::new(file, columns, first_row, &mut problems);
    for i in range {
        reader.index = i;
        if let Some(row) = T::parse(&mut reader) {
            rows.push(row);
            row_no.push((first_row + i + 1) as u32);
        }
    }
    drop(reader);
    (rows, row_no, problems)
}

/// Hands over the parsed parts of a batch, in file order, with their
/// problems.
fn hand_over<T: TableRow>(
    parts: Vec<(Vec<T>, Vec<u32>, Problems)>,
    problems: &mut Problems,
    each: &mut dyn FnMut(Batch<T>),
) {
    let mut rows = Vec::with_capacity(parts.len());
    for (r, n, p) in parts {
        problems.0.extend(p.0);
        if !r.is_empty() {
            rows.push((r, n));
        }
    }
    each(Batch::Rows(rows));
}

/// Checks a header against the table's columns: every required column
/// present, no unknown or repeated names.
fn check_header(file: &str, names: &[String], columns: &[ColumnSpec], problems: &mut Problems) -> bool {
    let before = problems.len();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            problems.push(Problem::file(file, "bad header", format!("column '{n}' appears twice")));
        } else if !columns.iter().any(|c| c.name == n) {
            let known: Vec<_> = columns.iter().map(|c| c.name).collect();
            let hint = if n.starts_with('\u{feff}') {
                " (the file starts with a byte-order mark; save as UTF-8 without BOM)"
            } else {
                ""
            };
            problems.push(Problem::file(
                file,
                "bad header",
                format!("unknown column '{n}'{hint}; expected columns: {}", known.join(", ")),
            ));
        }
    }
    for c in columns.iter().filter(|c| c.required) {
        if !names.iter().any(|n| n == c.name) {
            problems.push(Problem::file(file, "bad header", format!("required column '{}' is missing", c.name)));
        }
    }
    problems.len() == before
}

fn hash_file(path: &Path) -> std::io::Result<Digest> {
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        len += n as u64;
        h.update(&buf[..n]);
    }
    Ok((len, h.finalize().into()))
}

fn scan_parquet<T: TableRow>(path: &Path, out: &mut Scanned, problems: &mut Problems, each: &mut dyn FnMut(Batch<T>)) {
    let file = out.file.clone();
    let unreadable =
        |e: &dyn std::fmt::Display| Problem::file(&file, "unparsable file", format!("Parquet could not be read: {e}"));
    // Hashing runs beside the scan: the file is read from the page cache.
    let (digest, scanned) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| hash_file(path));
        let scanned = (|| -> Result<(), Problem> {
            let path_str = path.to_string_lossy().into_owned();
            let lf = LazyFrame::scan_parquet(PlRefPath::from(path_str.as_str()), ScanArgsParquet::default())
                .map_err(|e| unreadable(&e))?;
            let schema = lf.clone().collect_schema().map_err(|e| unreadable(&e))?;
            let names: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
            let mut local = Problems::default();
            if !check_header(&file, &names, T::COLUMNS, &mut local) {
                return Err(local.0.remove(0)).inspect_err(|_| problems.0.extend(local.0));
            }
            let mut wrong = Vec::new();
            for c in T::COLUMNS {
                let Some(dtype) = schema.get(c.name) else { continue };
                let text_ok = matches!(dtype, DataType::String | DataType::Null);
                if dtype != &c.kind.dtype() && !text_ok {
                    wrong.push(Problem::file(
                        &file,
                        "wrong column type",
                        format!("column '{}' has type {dtype}, expected {} (or text)", c.name, c.kind.dtype()),
                    ));
                }
            }
            if let Some(first) = wrong.first().cloned() {
                problems.0.extend(wrong.into_iter().skip(1));
                return Err(first);
            }
            let present: Vec<Expr> =
                T::COLUMNS.iter().filter(|c| schema.get(c.name).is_some()).map(|c| col(c.name)).collect();
            let groups = parquet_groups(path).map_err(|e| unreadable(&e))?;
            let rows = groups.iter().sum();
            out.rows = rows;
            each(Batch::Expect(rows));
            // Batches are decoded up to two ahead of parsing: polars
            // decodes batches k+1 and k+2 while batch k is parsed and
            // built, so both cores work (at most three decoded batches are
            // in memory).
            let (tx, rx) = std::sync::mpsc::sync_channel::<PolarsResult<(usize, DataFrame)>>(2);
            let decoder = scope.spawn(move || {
                for (offset, len) in batches(&groups, BATCH_ROWS) {
                    let t0 = std::time::Instant::now();
                    let decoded = lf.clone().select(present.clone()).slice(offset as i64, len as IdxSize).collect();
                    // Not rechunked: see [`parse_batch`].
                    let decoded = decoded.map(|df| (offset, df));
                    tracing::debug!(table = T::TABLE, decode = ?t0.elapsed(), "decoded");
                    let failed = decoded.is_err();
                    if tx.send(decoded).is_err() || failed {
                        break;
                    }
                }
            });
            for decoded in rx {
                let (offset, df) = decoded.map_err(|e| unreadable(&e))?;
                let t0 = std::time::Instant::now();
                parse_batch::<T>(&file, &df, offset, problems, each);
                tracing::debug!(table = T::TABLE, parse = ?t0.elapsed(), "parsed");
            }
            decoder.join().map_err(|_| unreadable(&"the decoder stopped"))?;
            Ok(())
        })();
        let digest = hashing.join().unwrap_or_else(|_| Err(std::io::Error::other("hashing stopped")));
        (digest, scanned)
    });
    match scanned {
        Ok(()) => match digest {
            Ok(d) => out.digest = Some(d),
            Err(e) => {
                problems.push(Problem::file(&file, "unreadable file", format!("cannot read {}: {e}", path.display())))
            }
        },
        Err(p) => problems.push(p),
    }
}

/// How many rows a table holds, known before it is read: exact for
/// Parquet (its footer), estimated from the file's size for CSV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableRows {
    pub table: &'static str,
    pub rows: u64,
    pub exact: bool,
}

/// Average bytes of a CSV row in credo's datasets (7.1 GB for the 127
/// million rows of a 15M-entity dataset): how CSV rows are estimated.
pub const CSV_BYTES_PER_ROW: u64 = 56;

/// [`TableRows`] of the table files found in `dir` (a missing or
/// unreadable file counts nothing; loading reports it).
pub fn table_rows(dir: &Path) -> Vec<TableRows> {
    let mut out = Vec::new();
    for (table, _) in super::table::TABLES {
        let Ok((path, format)) = locate(dir, table) else { continue };
        let rows = match format {
            Format::Parquet => parquet_groups(&path).ok().map(|g| (g.iter().sum::<usize>() as u64, true)),
            Format::Csv => std::fs::metadata(&path).ok().map(|m| (m.len() / CSV_BYTES_PER_ROW, false)),
        };
        if let Some((rows, exact)) = rows {
            out.push(TableRows { table, rows, exact });
        }
    }
    out
}

/// Rows of each row group of a Parquet file, from its footer.
fn parquet_groups(path: &Path) -> PolarsResult<Vec<usize>> {
    let f = std::fs::File::open(path)?;
    Ok(ParquetReader::new(f).get_metadata()?.row_groups.iter().map(|g| g.num_rows()).collect())
}

/// `(offset, rows)` of each batch a file of row groups of `groups` rows
/// is read in: whole row groups, as many as fit in `max` rows (at least
/// one), so that no row group is decompressed for two batches (a slice
/// decodes every row group it touches whole: a batch boundary inside a
/// group decoded it twice; decoding the generator's roles at 3M took
/// 0.98 CPU-s against 0.62 by whole groups). A group of more than `max`
/// rows is cut into equal slices of at most `max`, which bounds memory as
/// before. Covers every row once, in order.
fn batches(groups: &[usize], max: usize) -> Vec<(usize, usize)> {
    let max = max.max(1);
    let mut out = Vec::new();
    let (mut start, mut len) = (0usize, 0usize);
    for &g in groups.iter().filter(|&&g| g > 0) {
        if len > 0 && len + g > max {
            out.push((start, len));
            start += len;
            len = 0;
        }
        if g > max {
            let parts = g.div_ceil(max);
            let mut at = 0;
            for k in 0..parts {
                let end = g * (k + 1) / parts;
                out.push((start + at, end - at));
                at = end;
            }
            start += g;
        } else {
            len += g;
        }
    }
    if len > 0 {
        out.push((start, len));
    }
    out
}

fn scan_csv<T: TableRow>(path: &Path, out: &mut Scanned, problems: &mut Problems, each: &mut dyn FnMut(Batch<T>)) {
    let file = out.file.clone();
    let unreadable = |e: &dyn std::fmt::Display| {
        Problem::file(&file, "unreadable file", format!("cannot read {}: {e}", path.display()))
    };
    // Shape pass: shape, encoding, row count, record boundaries and hash.
    let before = problems.len();
    let mut pre = Prescan::new(&file);
    let mut hasher = sha2::Sha256::new();
    let mut len = 0u64;
    let read = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0u8; 8 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
            pre.feed(&buf[..n]);
        }
        Ok(())
    })();
    if let Err(e) = read {
        problems.push(unreadable(&e));
        return;
    }
    let shape = pre.finish(problems);
    let Some(shape) = shape.filter(|_| problems.len() == before) else { return };
    out.rows = shape.rows;
    out.digest = Some((len, hasher.finalize().into()));
    if !check_header(&file, &shape.header, T::COLUMNS, problems) {
        return;
    }
    each(Batch::Expect(shape.rows));
    // Value pass over a file known to be well shaped, so no row reaches
    // the consumer before every shape problem is known.
    let header = &shape.header;
    let at: Vec<Option<usize>> = T::COLUMNS.iter().map(|c| header.iter().position(|n| n == c.name)).collect();
    let failed = read_batches(path, &file, &shape, &mut |spans| {
        let t0 = std::time::Instant::now();
        let parts: Vec<(Vec<T>, Vec<u32>, Problems)> = spans
            .par_iter()
            .map(|span| {
                let columns = T::COLUMNS
                    .iter()
                    .zip(&at)
                    .map(|(c, i)| {
                        (c.name, i.map_or(Cells::Absent, |i| Cells::Text(span.columns[i].downcast_as_array())))
                    })
                    .collect();
                parse_rows::<T>(&file, columns, span.first_row, 0..span.rows)
            })
            .collect();
        hand_over(parts, problems, each);
        tracing::debug!(table = T::TABLE, parse = ?t0.elapsed(), "parsed");
    });
    if let Some(p) = failed {
        problems.push(p);
    }
}

/// Records of a CSV batch, tokenised: one text column per header field
/// (empty fields are null, as polars' `missing_is_null` had them).
struct Span {
    first_row: usize,
    rows: usize,
    columns: Vec<StringChunked>,
}

/// Reads the cuts of a well-shaped file and tokenises their spans in
/// parallel into text columns, one batch ahead: the next batch is read and
/// tokenised while `each` parses and builds this one (at most two batches
/// of columns in memory, as on the Parquet path). Returns the problem that
/// stopped it, if any.
fn read_batches(path: &Path, file: &str, shape: &CsvShape, each: &mut dyn FnMut(Vec<Span>)) -> Option<Problem> {
    let unreadable = |e: &dyn std::fmt::Display| {
        Problem::file(file, "unreadable file", format!("cannot read {}: {e}", path.display()))
    };
    let width = shape.header.len();
    std::thread::scope(|scope| {
        // A rendezvous: the next batch waits in the reader, not in the channel.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Span>, Problem>>(0);
        scope.spawn(move || {
            let mut f = match std::fs::File::open(path) {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.send(Err(unreadable(&e)));
                    return;
                }
            };
            for cut in &shape.cuts {
                let t0 = std::time::Instant::now();
                let mut bytes = vec![0u8; (cut.end - cut.start) as usize];
                if let Err(e) = f.seek(SeekFrom::Start(cut.start)).and_then(|_| f.read_exact(&mut bytes)) {
                    let _ = tx.send(Err(unreadable(&e)));
                    return;
                }
                let spans: Vec<(usize, usize, &[u8])> =
                    cut.spans().map(|(s, e, first, rows)| (first, rows, &bytes[s..e])).collect();
                let spans: Result<Vec<Span>, Problem> = spans
                    .into_par_iter()
                    .map(|(first_row, rows, bytes)| {
                        let columns = tokenize(file, width, rows, bytes).ok_or_else(|| {
                            Problem::file(
                                file,
                                "unreadable file",
                                "the file changed while it was read; check it again".to_string(),
                            )
                        })?;
                        Ok(Span { first_row, rows, columns })
                    })
                    .collect();
                drop(bytes);
                tracing::debug!(file, tokenise = ?t0.elapsed(), "tokenised");
                let failed = spans.is_err();
                if tx.send(spans).is_err() || failed {
                    return;
                }
            }
        });
        for spans in rx {
            match spans {
                Ok(spans) => each(spans),
                Err(p) => return Some(p),
            }
        }
        None
    })
}

/// The text columns of `rows` whole records of `width` fields, through the
/// same tokenizer as the shape pass. `None` when the bytes are not what
/// the shape pass saw (the file changed in between).
fn tokenize(file: &str, width: usize, rows: usize, bytes: &[u8]) -> Option<Vec<StringChunked>> {
    // Only the last record of a file may lack its newline.
    let owned;
    let bytes = if bytes.ends_with(b"\n") {
        bytes
    } else {
        owned = [bytes, b"\n"].concat();
        &owned
    };
    let mut sink = Columns {
        columns: (0..width).map(|i| StringChunkedBuilder::new(format!("{i}").into(), rows)).collect(),
        at: 0,
        text: String::new(),
        bad: false,
    };
    let mut pre = Prescan::for_values(file, width);
    pre.feed_into(bytes, &mut sink);
    let ok = !sink.bad && pre.found.is_empty() && !pre.in_quotes && !pre.quote_pending && pre.rows == rows;
    ok.then(|| sink.columns.into_iter().map(|c| c.finish()).collect())
}

/// Where the tokenizer hands the fields of data records: nowhere in the
/// shape pass, into text columns in the value pass.
trait Fields {
    const VALUES: bool;
    /// One field as written (quotes kept, the `\r` of a CRLF removed).
    fn field(&mut self, raw: &[u8]);
    fn end_record(&mut self);
}

/// The shape pass: fields are only counted.
struct NoValues;

impl Fields for NoValues {
    const VALUES: bool = false;
    fn field(&mut self, _: &[u8]) {}
    fn end_record(&mut self) {}
}

/// The value pass: one text column per header field.
struct Columns {
    columns: Vec<StringChunkedBuilder>,
    /// The field of the record next.
    at: usize,
    /// A value being unquoted.
    text: String,
    /// A field that was not UTF-8 or a record of the wrong width.
    bad: bool,
}

impl Fields for Columns {
    const VALUES: bool = true;
    fn field(&mut self, raw: &[u8]) {
        let Some(column) = self.columns.get_mut(self.at) else {
            self.bad = true;
            return;
        };
        self.at += 1;
        let Ok(raw) = std::str::from_utf8(raw) else {
            self.bad = true;
            return column.append_null();
        };
        if raw.is_empty() {
            column.append_null();
        } else if memchr::memchr(b'"', raw.as_bytes()).is_none() {
            column.append_value(raw);
        } else {
            unquote(raw, &mut self.text);
            column.append_value(&self.text);
        }
    }
    fn end_record(&mut self) {
        self.bad |= self.at != self.columns.len();
        self.at = 0;
    }
}

/// A field's value, read by the tokenizer's quote rule: a quote opens a
/// quoted part, inside it a doubled quote stands for one and a single one
/// closes it. `"x,y"` is `x,y` and `"say ""hi"""` is `say "hi"`.
fn unquote(raw: &str, out: &mut String) {
    out.clear();
    let bytes = raw.as_bytes();
    let (mut quoted, mut from, mut i) = (false, 0, 0);
    while let Some(q) = memchr::memchr(b'"', &bytes[i..]).map(|q| q + i) {
        out.push_str(&raw[from..q]);
        if quoted && bytes.get(q + 1) == Some(&b'"') {
            out.push('"');
            i = q + 2;
        } else {
            quoted = !quoted;
            i = q + 1;
        }
        from = i;
    }
    out.push_str(&raw[from..]);
}

/// A byte range of whole records, with record boundaries about every
/// [`SPAN_BYTES`] inside it (offsets and the rows before them).
struct Cut {
    start: u64,
    end: u64,
    first_row: usize,
    rows: usize,
    marks: Vec<(u64, usize)>,
}

impl Cut {
    /// The spans of the cut: start and end in the cut's bytes, first row
    /// and row count.
    fn spans(&self) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        let bounds: Vec<(u64, usize)> = std::iter::once((self.start, self.first_row))
            .chain(self.marks.iter().copied())
            .chain(std::iter::once((self.end, self.first_row + self.rows)))
            .collect();
        (0..bounds.len() - 1)
            .map(move |i| {
                let ((s, first), (e, next)) = (bounds[i], bounds[i + 1]);
                ((s - self.start) as usize, (e - self.start) as usize, first, next - first)
            })
            .filter(|span| span.3 > 0)
    }
}

struct CsvShape {
    header: Vec<String>,
    rows: usize,
    cuts: Vec<Cut>,
}

/// CSV bytes per span: the pieces of a batch tokenised and parsed in parallel.
const SPAN_BYTES: u64 = 1 << 20;

/// The CSV tokenizer, fed in pieces: valid UTF-8, a header, and the same
/// number of fields on every record (quotes respected). Blank lines inside
/// the file are problems: a lost row must not pass for formatting. Jumps
/// from one comma, quote or newline to the next (memchr), so it runs at
/// memory speed. The shape pass runs it over the whole file and notes
/// record boundaries (batches of [`BATCH_BYTES`], spans of [`SPAN_BYTES`]);
/// the value pass runs it again over each span of a well-shaped file,
/// handing every field to [`Columns`], so both passes split records and
/// fields by the same rules.
struct Prescan<'a> {
    file: &'a str,
    /// Problems of this file; only the encoding problem is kept if there is one.
    found: Problems,
    header: Vec<String>,
    /// The bytes from the start of the file to the end of the header.
    header_bytes: Vec<u8>,
    in_header: bool,
    rows: usize,
    in_quotes: bool,
    skip_quote: bool,
    /// A quote ended the last piece inside quotes: the next byte decides.
    quote_pending: bool,
    fields: usize,
    line: usize,
    /// Absolute offsets: where the next piece starts, where the current
    /// record and field started.
    base: u64,
    record_start: u64,
    field_start: u64,
    last_byte: u8,
    /// A blank line ended the last piece: a problem unless the file ends there.
    blank_pending: Option<usize>,
    /// Bytes after the last newline of the pieces so far, not yet checked
    /// for UTF-8, and the lines before them.
    utf8_rest: Vec<u8>,
    utf8_lines: usize,
    bad_utf8: Option<Problem>,
    cuts: Vec<Cut>,
    cut_start: u64,
    cut_first_row: usize,
    /// Span boundaries inside the current cut, and the last one.
    marks: Vec<(u64, usize)>,
    mark_at: u64,
    batch_bytes: u64,
    span_bytes: u64,
}

impl<'a> Prescan<'a> {
    fn new(file: &'a str) -> Prescan<'a> {
        Prescan {
            file,
            found: Problems::default(),
            header: Vec::new(),
            header_bytes: Vec::new(),
            in_header: true,
            rows: 0,
            in_quotes: false,
            skip_quote: false,
            quote_pending: false,
            fields: 0,
            line: 1,
            base: 0,
            record_start: 0,
            field_start: 0,
            last_byte: b'\n',
            blank_pending: None,
            utf8_rest: Vec::new(),
            utf8_lines: 0,
            bad_utf8: None,
            cuts: Vec::new(),
            cut_start: 0,
            cut_first_row: 0,
            marks: Vec::new(),
            mark_at: 0,
            batch_bytes: BATCH_BYTES,
            span_bytes: SPAN_BYTES,
        }
    }

    /// The tokenizer for the records of a span (no header, `width` fields).
    fn for_values(file: &'a str, width: usize) -> Prescan<'a> {
        let mut pre = Prescan::new(file);
        pre.in_header = false;
        pre.header = vec![String::new(); width];
        pre.batch_bytes = u64::MAX;
        pre.span_bytes = u64::MAX;
        pre
    }

    /// Checks the piece up to its last newline (a character never spans a
    /// newline); the rest waits for the next piece.
    fn check_utf8(&mut self, piece: &[u8]) {
        if self.bad_utf8.is_some() {
            return;
        }
        let Some(last_nl) = memchr::memrchr(b'\n', piece) else {
            self.utf8_rest.extend_from_slice(piece);
            return;
        };
        let mut text = std::mem::take(&mut self.utf8_rest);
        text.extend_from_slice(&piece[..=last_nl]);
        self.check_utf8_text(&text);
        self.utf8_lines += memchr::memchr_iter(b'\n', &text).count();
        self.utf8_rest = piece[last_nl + 1..].to_vec();
    }

    fn check_utf8_text(&mut self, text: &[u8]) {
        if self.bad_utf8.is_some() {
            return;
        }
        if let Err(e) = std::str::from_utf8(text) {
            let line = self.utf8_lines + memchr::memchr_iter(b'\n', &text[..e.valid_up_to()]).count() + 1;
            self.bad_utf8 = Some(Problem::file(self.file, "bad encoding", format!("line {line} is not valid UTF-8")));
        }
    }

    fn header_field(&self, from: u64, to: u64) -> String {
        let t = &self.header_bytes[from as usize..(to as usize).min(self.header_bytes.len())];
        let t = t.strip_suffix(b"\r").unwrap_or(t);
        let t = t.strip_prefix(b"\"").and_then(|x| x.strip_suffix(b"\"")).unwrap_or(t);
        String::from_utf8_lossy(t).into_owned()
    }

    /// Ends a data record of `fields + 1` fields.
    fn end_record(&mut self, touched: bool, line: usize) {
        if !touched {
            self.found.push(Problem::file(self.file, "blank line", format!("line {line} is blank")));
            return;
        }
        self.rows += 1;
        if self.fields + 1 != self.header.len() {
            self.found.push(Problem {
                file: self.file.into(),
                row: Some(self.rows),
                line: Some(line),
                column: None,
                kind: "wrong field count".into(),
                reason: format!("has {} fields, the header has {}", self.fields + 1, self.header.len()),
            });
        }
    }

    /// The shape pass over one piece.
    fn feed(&mut self, piece: &[u8]) {
        self.feed_into(piece, &mut NoValues);
    }

    /// The field of a data record from `from` to `to` (absolute offsets),
    /// when it lies in this piece (always, in the value pass).
    fn field_in<'p>(&self, piece: &'p [u8], from: u64, to: u64) -> &'p [u8] {
        let from = from.saturating_sub(self.base) as usize;
        let to = (to.saturating_sub(self.base) as usize).max(from);
        piece.get(from..to).unwrap_or_default()
    }

    fn feed_into<F: Fields>(&mut self, piece: &[u8], sink: &mut F) {
        if piece.is_empty() {
            return;
        }
        if !F::VALUES {
            self.check_utf8(piece);
        }
        if let Some(line) = self.blank_pending.take() {
            self.found.push(Problem::file(self.file, "blank line", format!("line {line} is blank")));
        }
        if self.in_header {
            self.header_bytes.extend_from_slice(piece);
        }
        let mut from = 0usize;
        if self.quote_pending {
            self.quote_pending = false;
            if piece[0] == b'"' {
                from = 1;
            } else {
                self.in_quotes = false;
            }
        }
        for p in memchr::memchr3_iter(b',', b'\n', b'"', &piece[from..]).map(|p| p + from) {
            let c = piece[p];
            let at = self.base + p as u64;
            if self.in_quotes {
                match c {
                    b'"' if self.skip_quote => self.skip_quote = false,
                    b'"' => match piece.get(p + 1) {
                        Some(b'"') => self.skip_quote = true,
                        Some(_) => self.in_quotes = false,
                        None => self.quote_pending = true,
                    },
                    b'\n' => self.line += 1,
                    _ => {}
                }
                continue;
            }
            match c {
                b'"' => self.in_quotes = true,
                b',' => {
                    if self.in_header {
                        let f = self.header_field(self.field_start, at);
                        self.header.push(f);
                    } else if F::VALUES {
                        sink.field(self.field_in(piece, self.field_start, at));
                    }
                    self.fields += 1;
                    self.field_start = at + 1;
                }
                _ => {
                    let before = if p > 0 { piece[p - 1] } else { self.last_byte };
                    let end = if at > self.record_start && before == b'\r' { at - 1 } else { at };
                    let blank = end == self.record_start && self.fields == 0;
                    if self.in_header && !blank {
                        let f = self.header_field(self.field_start, at);
                        self.header.push(f);
                        self.in_header = false;
                        self.header_bytes = Vec::new();
                        self.cut_start = at + 1;
                        self.mark_at = at + 1;
                    } else if blank && p + 1 == piece.len() {
                        self.blank_pending = Some(self.line);
                    } else {
                        if F::VALUES && !blank {
                            sink.field(self.field_in(piece, self.field_start, end));
                            sink.end_record();
                        }
                        let line = self.line;
                        self.end_record(!blank, line);
                    }
                    self.fields = 0;
                    self.record_start = at + 1;
                    self.field_start = at + 1;
                    self.line += 1;
                    if !self.in_header {
                        if at + 1 - self.cut_start >= self.batch_bytes {
                            self.cut(at + 1);
                        } else if at + 1 - self.mark_at >= self.span_bytes && self.rows > self.cut_first_row {
                            self.marks.push((at + 1, self.rows));
                            self.mark_at = at + 1;
                        }
                    }
                }
            }
        }
        self.base += piece.len() as u64;
        self.last_byte = piece[piece.len() - 1];
    }

    fn cut(&mut self, end: u64) {
        let marks = std::mem::take(&mut self.marks);
        if end > self.cut_start && self.rows > self.cut_first_row {
            self.cuts.push(Cut {
                start: self.cut_start,
                end,
                first_row: self.cut_first_row,
                rows: self.rows - self.cut_first_row,
                marks,
            });
        }
        self.cut_start = end;
        self.cut_first_row = self.rows;
        self.mark_at = end;
    }

    fn finish(mut self, problems: &mut Problems) -> Option<CsvShape> {
        let rest = std::mem::take(&mut self.utf8_rest);
        self.check_utf8_text(&rest);
        if let Some(p) = self.bad_utf8.take() {
            problems.push(p);
            return None;
        }
        if self.quote_pending {
            self.in_quotes = false;
        }
        let len = self.base;
        if self.in_quotes {
            self.found.push(Problem::file(
                self.file,
                "unterminated quote",
                format!("a quoted field opened before line {} never closes", self.line),
            ));
        } else if self.record_start < len {
            // A last record without a final newline.
            if self.in_header {
                let f = self.header_field(self.field_start, len);
                self.header.push(f);
                self.in_header = false;
                self.cut_start = len;
            } else {
                let line = self.line;
                self.end_record(true, line);
            }
        }
        self.cut(len);
        let found = std::mem::take(&mut self.found);
        let Prescan { header, rows, cuts, .. } = self;
        let failed = !found.is_empty();
        problems.0.extend(found.0);
        if header.is_empty() {
            problems.push(Problem::file(self.file, "empty file", "the file is empty; it needs at least a header line"));
            return None;
        }
        (!failed).then_some(CsvShape { header, rows, cuts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_take_whole_row_groups() {
        // The generator's roles at 3M: one group a batch.
        assert_eq!(batches(&[440_844, 441_807, 10], 1 << 19), vec![(0, 440_844), (440_844, 441_817)]);
        // Entities: groups of 200,000, two a batch.
        assert_eq!(batches(&[200_000; 5], 1 << 19), vec![(0, 400_000), (400_000, 400_000), (800_000, 200_000)]);
        // A group larger than a batch is cut evenly; empty groups and files give nothing.
        assert_eq!(batches(&[5, 0, 10], 4), vec![(0, 2), (2, 3), (5, 3), (8, 3), (11, 4)]);
        assert_eq!(batches(&[], 4), vec![]);
    }

    proptest::proptest! {
        /// Every row once, in order; no batch over the bound; a group
        /// split only when it alone is over it.
        #[test]
        fn batches_cover_every_row_once(groups in proptest::collection::vec(0usize..50, 0..20), max in 1usize..60) {
            let got = batches(&groups, max);
            let mut at = 0;
            for &(o, n) in &got {
                proptest::prop_assert_eq!(o, at);
                proptest::prop_assert!(n >= 1 && n <= max);
                at += n;
            }
            proptest::prop_assert_eq!(at, groups.iter().sum::<usize>());
            let mut start = 0;
            for &g in &groups {
                let cut = got.iter().any(|&(o, _)| o > start && o < start + g);
                proptest::prop_assert!(!cut || g > max, "group at {} of {} cut", start, g);
                start += g;
            }
        }
    }

    fn scan_pieces(text: &[u8], piece: usize) -> (Option<(Vec<String>, usize)>, Vec<String>) {
        let mut ps = Problems::default();
        let mut pre = Prescan::new("t.csv");
        for chunk in text.chunks(piece.max(1)) {
            pre.feed(chunk);
        }
        let shape = pre.finish(&mut ps);
        (shape.map(|s| (s.header, s.rows)), ps.0.iter().map(|p| p.to_string()).collect())
    }

    fn scan(text: &str) -> (Option<(Vec<String>, usize)>, Vec<String>) {
        let whole = scan_pieces(text.as_bytes(), usize::MAX);
        // The same answer whatever the pieces.
        for piece in 1..8 {
            assert_eq!(scan_pieces(text.as_bytes(), piece), whole, "pieces of {piece} bytes: {text:?}");
        }
        whole
    }

    #[test]
    fn counts_rows_and_header() {
        let (shape, ps) = scan("a,b\n1,2\n\"x,y\",3\n");
        assert!(ps.is_empty(), "{ps:?}");
        assert_eq!(shape, Some((vec!["a".into(), "b".into()], 2)));
        let (shape, _) = scan("a,b\r\n1,2\r\n3,4");
        assert_eq!(shape, Some((vec!["a".into(), "b".into()], 2)));
        let (shape, ps) = scan("a,b\n\"say \"\"hi\"\"\",2\n\"multi\nline\",3\n");
        assert!(ps.is_empty(), "{ps:?}");
        assert_eq!(shape.map(|s| s.1), Some(2));
    }

    #[test]
    fn ragged_and_blank_lines_are_problems() {
        let (shape, ps) = scan("a,b\n1,2\n\n3\n4,5,6\n");
        assert!(shape.is_none());
        assert_eq!(
            ps,
            vec![
                "t.csv: line 3 is blank",
                "t.csv row 2 (line 4): has 1 fields, the header has 2",
                "t.csv row 3 (line 5): has 3 fields, the header has 2",
            ]
        );
        // A blank line at the very end is only the end of the file.
        let (shape, ps) = scan("a,b\n1,2\n\n");
        assert!(ps.is_empty(), "{ps:?}");
        assert_eq!(shape.map(|s| s.1), Some(1));
    }

    #[test]
    fn unterminated_quote_and_bad_utf8() {
        let (_, ps) = scan("a,b\n\"1,2\n");
        assert!(ps[0].contains("never closes"), "{ps:?}");
        let (shape, ps) = scan_pieces(b"a,b\n1,2\n1,\xff\n", 3);
        assert!(shape.is_none());
        assert_eq!(ps, vec!["t.csv: line 3 is not valid UTF-8"]);
        // A character split across pieces is fine.
        let (shape, ps) = scan("a,b\n1,济南\n");
        assert!(ps.is_empty(), "{ps:?}");
        assert_eq!(shape.map(|s| s.1), Some(1));
    }

    #[test]
    fn cuts_cover_every_record_once() {
        let mut text = String::from("a,b\n");
        for i in 0..1000 {
            text.push_str(&format!("{i},\"x\ny\"\n"));
        }
        let mut pre = Prescan::new("t.csv");
        for chunk in text.as_bytes().chunks(777) {
            pre.feed(chunk);
        }
        let mut ps = Problems::default();
        let shape = pre.finish(&mut ps).expect("shape");
        assert_eq!(shape.rows, 1000);
        let covered: usize = shape.cuts.iter().map(|c| c.rows).sum();
        assert_eq!(covered, 1000);
        assert_eq!(shape.cuts[0].start, 4);
        assert_eq!(shape.cuts.last().map(|c| c.end), Some(text.len() as u64));
    }

    /// The old second pass: polars' CSV reader over the records, every
    /// column as text (an empty value and a missing one both read as
    /// missing by the table's parser, so both are `None` here).
    fn polars_values(header: &[String], records: &[u8]) -> Vec<Vec<Option<String>>> {
        if records.is_empty() {
            // The old code never gave polars an empty batch (it refuses one).
            return vec![Vec::new(); header.len()];
        }
        let schema: Schema = header.iter().map(|n| Field::new(n.as_str().into(), DataType::String)).collect();
        let df = CsvReadOptions::default()
            .with_has_header(false)
            .with_schema(Some(Arc::new(schema)))
            .with_parse_options(CsvParseOptions::default().with_missing_is_null(true))
            .into_reader_with_file_handle(std::io::Cursor::new(records.to_vec()))
            .finish()
            .expect("polars reads it");
        header
            .iter()
            .map(|n| {
                let col = df.column(n).expect("column");
                let col = col.str().expect("text");
                (0..col.len()).map(|i| col.get(i).filter(|s| !s.is_empty()).map(str::to_string)).collect()
            })
            .collect()
    }

    /// Both passes of our tokenizer, with small batches and spans: the
    /// header and the values column by column.
    fn our_values(text: &[u8], batch: u64, span: u64) -> (Vec<String>, Vec<Vec<Option<String>>>) {
        let mut pre = Prescan::new("t.csv");
        pre.batch_bytes = batch;
        pre.span_bytes = span;
        for chunk in text.chunks(5) {
            pre.feed(chunk);
        }
        let mut ps = Problems::default();
        let shape = pre.finish(&mut ps).expect("well shaped");
        assert!(ps.is_empty(), "{ps:?}");
        let mut columns = vec![Vec::new(); shape.header.len()];
        let mut next_row = 0;
        for cut in &shape.cuts {
            assert_eq!(cut.first_row, next_row);
            let bytes = &text[cut.start as usize..cut.end as usize];
            for (start, end, first_row, rows) in cut.spans() {
                assert_eq!(first_row, next_row);
                next_row += rows;
                let spans = tokenize("t.csv", shape.header.len(), rows, &bytes[start..end]).expect("tokenised");
                for (i, c) in spans.iter().enumerate() {
                    assert_eq!(c.chunks().len(), 1);
                    columns[i].extend((0..c.len()).map(|r| c.get(r).filter(|s| !s.is_empty()).map(str::to_string)));
                }
            }
        }
        assert_eq!(next_row, shape.rows);
        (shape.header, columns)
    }

    /// Our values equal polars' on `text`, whatever the batch and span sizes.
    fn same_as_polars(text: &str) -> Vec<Vec<Option<String>>> {
        let records = &text.as_bytes()[text.find('\n').map_or(text.len(), |n| n + 1)..];
        let (header, whole) = our_values(text.as_bytes(), BATCH_BYTES, SPAN_BYTES);
        assert_eq!(whole, polars_values(&header, records), "{text:?}");
        for (batch, span) in [(1, 1), (7, 3), (20, 5), (40, 1000)] {
            assert_eq!(
                our_values(text.as_bytes(), batch, span).1,
                whole,
                "batches of {batch}, spans of {span}: {text:?}"
            );
        }
        whole
    }

    fn col(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| (!v.is_empty()).then(|| v.to_string())).collect()
    }

    #[test]
    fn values_are_unquoted_like_polars() {
        let v = same_as_polars("a,b\n1,\"x,y\"\n\"say \"\"hi\"\"\",\"multi\nline\"\n,\"\"\n济南,\"\"\"\"\n");
        assert_eq!(v, vec![col(&["1", "say \"hi\"", "", "济南"]), col(&["x,y", "multi\nline", "", "\""])]);
        // CRLF, with and without quotes, and no final newline.
        let v = same_as_polars("a,b\r\n1,2\r\n\"3\",\"4\"\r\n5,\"6\r\n7\"");
        assert_eq!(v, vec![col(&["1", "3", "5"]), col(&["2", "4", "6\r\n7"])]);
        // A blank line at the very end is the end of the file. Polars read
        // it as a row of nulls, so the old two readers disagreed on the row
        // count and such a file was refused ("row count mismatch").
        let text = "a,b\n1,2\n\n";
        assert_eq!(our_values(text.as_bytes(), BATCH_BYTES, SPAN_BYTES).1, vec![col(&["1"]), col(&["2"])]);
        assert_eq!(our_values(text.as_bytes(), 1, 1).1, vec![col(&["1"]), col(&["2"])]);
        assert_eq!(polars_values(&["a".into(), "b".into()], b"1,2\n\n"), vec![col(&["1", ""]), col(&["2", ""])]);
        let v = same_as_polars("a,b,c\n,,\n x ,y, \n");
        assert_eq!(v, vec![col(&["", " x "]), col(&["", "y"]), col(&["", " "])]);
        // A header alone: no rows.
        assert_eq!(same_as_polars("a,b\n"), vec![col(&[]), col(&[])]);
    }

    #[test]
    fn unquote_follows_the_tokenizer() {
        let mut out = String::new();
        for (raw, value) in [
            ("\"x,y\"", "x,y"),
            ("\"say \"\"hi\"\"\"", "say \"hi\""),
            ("\"\"", ""),
            ("\"\"\"\"", "\""),
            // A quote inside an unquoted field opens a quoted part, as the
            // shape pass has always counted fields.
            ("ab\"c,d\"e", "abc,de"),
        ] {
            unquote(raw, &mut out);
            assert_eq!(out, value, "{raw}");
        }
    }

    #[test]
    fn a_changed_file_is_not_tokenised() {
        assert!(tokenize("t.csv", 2, 2, b"1,2\n3,4\n").is_some());
        // Other row counts, widths, an open quote or bad UTF-8 than the
        // shape pass saw.
        assert!(tokenize("t.csv", 2, 1, b"1,2\n3,4\n").is_none());
        assert!(tokenize("t.csv", 2, 2, b"1,2\n3\n").is_none());
        assert!(tokenize("t.csv", 2, 2, b"1,2\n3,4,5\n").is_none());
        assert!(tokenize("t.csv", 2, 1, b"1,\"2\n").is_none());
        assert!(tokenize("t.csv", 2, 1, b"1,\xff\n").is_none());
    }

    proptest::proptest! {
        /// Random well-formed CSV (quoted fields with commas, quotes,
        /// newlines and CRs; CRLF or LF; with or without a final newline):
        /// our values are the fields written, and polars' too.
        #[test]
        fn random_csv_reads_back(
            rows in proptest::collection::vec(proptest::collection::vec("[a济 ,\"\r\n]{0,6}", 3), 0..40),
            crlf: bool,
            final_newline: bool,
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = format!("a,b,c{eol}");
            for (i, row) in rows.iter().enumerate() {
                let fields: Vec<String> = row
                    .iter()
                    .map(|f| {
                        if f.contains([',', '"', '\r', '\n']) || f.starts_with(' ') {
                            format!("\"{}\"", f.replace('"', "\"\""))
                        } else {
                            f.clone()
                        }
                    })
                    .collect();
                text.push_str(&fields.join(","));
                if i + 1 < rows.len() || final_newline {
                    text.push_str(eol);
                }
            }
            let written: Vec<Vec<Option<String>>> =
                (0..3).map(|c| rows.iter().map(|r| (!r[c].is_empty()).then(|| r[c].clone())).collect()).collect();
            let records = &text.as_bytes()[text.find('\n').map_or(text.len(), |n| n + 1)..];
            let header = vec!["a".to_string(), "b".to_string(), "c".to_string()];
            proptest::prop_assert_eq!(&polars_values(&header, records), &written);
            for (batch, span) in [(BATCH_BYTES, SPAN_BYTES), (30, 7), (1, 1)] {
                proptest::prop_assert_eq!(&our_values(text.as_bytes(), batch, span).1, &written);
            }
        }
    }

    /// Scans `departments.csv` holding `text`: the batches as they came and
    /// the problems.
    fn scan_departments(text: &[u8]) -> (Vec<String>, Vec<String>, Scanned) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("departments.csv"), text).expect("write");
        let mut problems = Problems::default();
        let mut got = Vec::new();
        let scanned = super::scan::<crate::model::Department>(dir.path(), &mut problems, &mut |b| match b {
            Batch::Expect(n) => got.push(format!("expect {n}")),
            Batch::Rows(parts) => {
                for (rows, nos) in parts {
                    got.extend(rows.iter().zip(&nos).map(|(r, n)| format!("{n}: {}|{}", r.code, r.name)))
                }
            }
        });
        (got, problems.0.iter().map(|p| p.to_string()).collect(), scanned)
    }

    /// The time a table's consumer keeps the reader waiting is counted
    /// apart, and within the table's time.
    #[test]
    fn waiting_for_the_consumer_is_counted_apart() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("departments.csv"), "code,name\nD1,一\nD2,二\n").expect("write");
        let mut problems = Problems::default();
        let pause = std::time::Duration::from_millis(60);
        let scanned = super::scan::<crate::model::Department>(dir.path(), &mut problems, &mut |b| {
            if let Batch::Rows(_) = b {
                std::thread::sleep(pause);
            }
        });
        assert!(problems.is_empty());
        assert!(scanned.waited >= pause.as_secs_f64(), "{}", scanned.waited);
        assert!(scanned.waited <= scanned.secs, "{} > {}", scanned.waited, scanned.secs);
        let (_, _, quick) = scan_departments(b"code,name\nD1,x\n");
        assert!(quick.waited < pause.as_secs_f64(), "{}", quick.waited);
    }

    #[test]
    fn scans_a_table_in_one_tokenizer() {
        let text = "code,name\r\nD1,\"市场监管局, 济南\"\r\nD2,\"say \"\"hi\"\"\"\r\n\"D3\",Last";
        let (got, ps, scanned) = scan_departments(text.as_bytes());
        assert!(ps.is_empty(), "{ps:?}");
        assert_eq!(got, vec!["expect 3", "1: D1|市场监管局, 济南", "2: D2|say \"hi\"", "3: D3|Last"]);
        assert_eq!(scanned.rows, 3);
        let digest: [u8; 32] = sha2::Sha256::digest(text.as_bytes()).into();
        assert_eq!(scanned.digest, Some((text.len() as u64, digest)));
        // Cell problems name the row.
        let (got, ps, _) = scan_departments(b"code,name\nD1,\"two\nlines\"\nD2, x\n");
        assert_eq!(got, vec!["expect 2"]);
        assert_eq!(
            ps,
            vec![
                "departments.csv row 1 (line 2) column name: 'two\\nlines' contains a control character",
                "departments.csv row 2 (line 3) column name: ' x' has leading or trailing spaces",
            ]
        );
    }

    /// `text` as table `T`'s CSV file, scanned: each row handed over as
    /// `row number: show(row)`, and the problems.
    fn scan_rows<T: TableRow>(text: &str, show: impl Fn(&T) -> String) -> (Vec<String>, Vec<String>) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(format!("{}.csv", T::TABLE)), text).expect("write");
        let mut problems = Problems::default();
        let mut got = Vec::new();
        super::scan::<T>(dir.path(), &mut problems, &mut |b| {
            if let Batch::Rows(parts) = b {
                for (rows, nos) in parts {
                    got.extend(rows.iter().zip(&nos).map(|(r, n)| format!("{n}: {}", show(r))))
                }
            }
        });
        (got, problems.0.iter().map(|p| p.to_string()).collect())
    }

    /// A short text (an evaluation's source and grade) is read as a text
    /// is, however long, and refused for the same reasons.
    #[test]
    fn short_texts_are_read_and_checked_as_texts() {
        let long = "中国诚信信用管理股份有限公司"; // 42 bytes: past the inline 24
        let text = format!(
            "uscc,kind,source,evaluated_on,grade\n\
             913706812026899267,market,{long},2025-12-31,AA\n\
             913706812026899267,composite,NPCIC,2025-12-31,B\n\
             913706812026899267,composite, NPCIC,2025-12-31,B\n\
             913706812026899267,composite,\"NP\u{7}CIC\",2025-12-31,B\n"
        );
        let (got, problems) =
            scan_rows::<crate::model::CreditEvaluation>(&text, |r| format!("{}|{}", r.source, r.grade));
        assert_eq!(got, [format!("1: {long}|AA"), "2: NPCIC|B".to_string()]);
        assert_eq!(
            problems,
            [
                "evaluations.csv row 3 (line 4) column source: ' NPCIC' has leading or trailing spaces",
                "evaluations.csv row 4 (line 5) column source: 'NP\\u{7}CIC' contains a control character",
            ]
        );
    }

    /// A list of short texts (an inspection's officers) is split as a
    /// list is, an empty cell is no officer, and the cell is refused for
    /// the same reasons as a text.
    #[test]
    fn short_lists_are_read_and_checked_as_lists() {
        let head = "inspection_id,uscc,department,inspected_on,kind,result,officers";
        let row =
            |id: &str, officers: &str| format!("{id},913706812026899267,MR,2025-12-31,random,compliant,{officers}");
        let text = [
            head.to_string(),
            row("JC-1", "MR-0001;MR-0002;"),
            row("JC-2", ""),
            row("JC-3", "\"MR-0001;\u{1}\""),
            row("JC-4", "MR-0001; "),
        ]
        .join("\n");
        let (got, problems) =
            scan_rows::<crate::model::InspectionRecord>(&text, |r| format!("{}|{:?}", r.inspection_id, r.officers));
        assert_eq!(got, ["1: JC-1|[\"MR-0001\", \"MR-0002\"]", "2: JC-2|[]"]);
        assert_eq!(
            problems,
            [
                "inspections.csv row 3 (line 4) column officers: 'MR-0001;\\u{1}' contains a control character",
                "inspections.csv row 4 (line 5) column officers: 'MR-0001; ' has leading or trailing spaces",
            ]
        );
    }

    #[test]
    fn a_badly_shaped_file_gets_shape_problems_only() {
        // A bad cell early and a ragged row late: the ragged row alone, and
        // no rows handed over.
        let (got, ps, scanned) = scan_departments(b"code,name\nD1, x\nD2\n");
        assert_eq!(got, Vec::<String>::new());
        assert_eq!(ps, vec!["departments.csv row 2 (line 3): has 1 fields, the header has 2"]);
        assert_eq!(scanned.digest, None);
        // A byte-order mark is a header problem with a hint.
        let (got, ps, _) = scan_departments("\u{feff}code,name\nD1,x\n".as_bytes());
        assert_eq!(got, Vec::<String>::new());
        assert!(ps[0].contains("byte-order mark"), "{ps:?}");
    }

    /// A text column made of pieces, as polars hands a batch spanning
    /// several row groups over.
    fn pieces(name: &str, parts: &[&[&str]]) -> Column {
        let mut s = Series::new(name.into(), parts[0]);
        for p in &parts[1..] {
            s.append(&Series::new(name.into(), *p)).expect("same type");
        }
        assert_eq!(s.n_chunks(), parts.len());
        s.into()
    }

    /// Parses a batch whose columns are in pieces that end at different
    /// rows: the rows and problems of a batch starting at file row 11.
    fn parse_pieces<T: TableRow>(df: &DataFrame) -> (Vec<(T, u32)>, Vec<String>) {
        let mut problems = Problems::default();
        let mut got = Vec::new();
        parse_batch::<T>("t.parquet", df, 10, &mut problems, &mut |b| {
            if let Batch::Rows(parts) = b {
                for (rows, nos) in parts {
                    got.extend(rows.into_iter().zip(nos))
                }
            }
        });
        (got, problems.0.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn a_batch_in_pieces_is_parsed_without_copying_it_into_one() {
        let df = DataFrame::new_infer_height(vec![
            pieces("code", &[&["D1", "D2", "D3"], &["D4", "D5"]]),
            pieces("name", &[&["a"], &["b", "c", " x", "e"]]),
        ])
        .expect("frame");
        assert_eq!(segments(&df).iter().map(|(at, s)| (*at, s.height())).collect::<Vec<_>>(), [(0, 1), (1, 2), (3, 2)]);
        for (_, seg) in segments(&df) {
            assert!(seg.columns().iter().all(|c| c.as_materialized_series().n_chunks() == 1));
        }
        let (got, ps) = parse_pieces::<crate::model::Department>(&df);
        let got: Vec<String> = got.iter().map(|(d, no)| format!("{no}: {}|{}", d.code, d.name)).collect();
        assert_eq!(got, ["11: D1|a", "12: D2|b", "13: D3|c", "15: D5|e"]);
        assert_eq!(ps, ["t.parquet row 14 (line 15) column name: ' x' has leading or trailing spaces"]);
    }

    #[test]
    fn a_repeated_credit_code_is_parsed_once_and_reported_every_time() {
        let (a, b) = ("914403001922038216", "91440300192203821X");
        let person = "00112233445566778899aabbccddeeff";
        let df = DataFrame::new_infer_height(vec![
            pieces("uscc", &[&[a, a, b], &[b, a, ""]]),
            pieces("person_id", &[&[person; 6]]),
            pieces("role", &[&["principal"; 3], &["director"; 3]]),
            pieces("since", &[&["2020-01-01", "2021-01-01", "2020-01-01", "2020-01-01", "2022-01-01", "2020-01-01"]]),
        ])
        .expect("frame");
        let (got, ps) = parse_pieces::<crate::model::Role>(&df);
        let got: Vec<String> = got.iter().map(|(r, no)| format!("{no}: {} {} {}", r.uscc, r.role, r.since)).collect();
        assert_eq!(
            got,
            [
                format!("11: {a} principal 2020-01-01"),
                format!("12: {a} principal 2021-01-01"),
                format!("15: {a} director 2022-01-01")
            ]
        );
        let bad = format!(
            "column uscc: invalid credit code '{b}': check character (GB 32100, character 18) should be '6', found 'X'"
        );
        assert_eq!(
            ps,
            [
                format!("t.parquet row 13 (line 14) {bad}"),
                format!("t.parquet row 14 (line 15) {bad}"),
                "t.parquet row 16 (line 17) column uscc: required value is missing".to_string(),
            ]
        );
    }

    #[test]
    fn many_batches_and_spans_arrive_in_order() {
        // About 3 MB: several spans of a batch, tokenised in parallel.
        let mut text = String::from("code,name\n");
        let n = 60_000;
        for i in 0..n {
            text.push_str(&format!("D{i},\"name {i}, with a comma and \"\"quotes\"\" to make it long\"\n"));
        }
        let (got, ps, scanned) = scan_departments(text.as_bytes());
        assert!(ps.is_empty(), "{ps:?}");
        assert_eq!(scanned.rows, n);
        assert_eq!(got[0], format!("expect {n}"));
        assert_eq!(got.len(), n + 1);
        for (i, line) in got[1..].iter().enumerate() {
            let want = format!("{}: D{i}|name {i}, with a comma and \"quotes\" to make it long", i + 1);
            assert_eq!(line, &want);
        }
    }
}
