//! Reading one table file (CSV or Parquet) in batches of typed columns
//! with polars, without letting anything slip: ragged rows, blank lines,
//! bad UTF-8, a wrong header or a wrong Parquet type are all problems,
//! never skipped. A file is hashed as it is read, and only one batch of it
//! is in memory at a time.
//!
//! Parquet is the fast path: its columns arrive typed (dates as dates,
//! booleans as booleans) through polars' lazy scan, a projection of the
//! table's columns and a slice per batch. CSV is read twice: a first pass
//! checks its shape (one memchr scan) and hashes it, and a second hands
//! whole records, a few tens of megabytes at a time, to polars as text.
//!
//! Long on purpose: the CSV shape scan and the readers it feeds agree on
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
    /// Seconds spent reading and parsing the file.
    pub secs: f64,
}

/// Rows per batch: a few hundred megabytes of columns at most. Two
/// batches are in memory at once (one decoded ahead), so half a million
/// keeps the loader's peak where one batch of a million had it.
const BATCH_ROWS: usize = 1 << 19;
/// CSV bytes per batch.
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
    Rows(Vec<T>, Vec<u32>),
}

pub fn scan<T: TableRow>(dir: &Path, problems: &mut Problems, each: &mut dyn FnMut(Batch<T>)) -> Scanned {
    let started = std::time::Instant::now();
    let mut out = Scanned { file: format!("{}.csv", T::TABLE), format: Format::Csv, rows: 0, digest: None, secs: 0.0 };
    let (path, format) = match locate(dir, T::TABLE) {
        Ok(found) => found,
        Err(p) => {
            problems.push(p);
            return out;
        }
    };
    out.format = format;
    out.file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match format {
        Format::Csv => scan_csv::<T>(&path, &mut out, problems, each),
        Format::Parquet => scan_parquet::<T>(&path, &mut out, problems, each),
    }
    out.secs = started.elapsed().as_secs_f64();
    out
}

/// Parses the rows of one batch (columns by name) in parallel chunks.
fn parse_batch<T: TableRow>(
    file: &str,
    df: &DataFrame,
    first_row: usize,
    problems: &mut Problems,
    each: &mut dyn FnMut(Batch<T>),
) {
    let columns: Vec<(&'static str, Cells<'_>)> = T::COLUMNS
        .iter()
        .map(|c| {
            let cells = df.column(c.name).ok().map_or(Cells::Absent, |col| Cells::of(col.as_materialized_series()));
            (c.name, cells)
        })
        .collect();
    const CHUNK: usize = 65_536;
    let height = df.height();
    let parts: Vec<(Vec<T>, Vec<u32>, Problems)> = (0..height.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut problems = Problems::default();
            let mut rows = Vec::new();
            let mut row_no = Vec::new();
            let mut reader = RowReader::new(file, columns.clone(), first_row, &mut problems);
            for i in c * CHUNK..((c + 1) * CHUNK).min(height) {
                reader.index = i;
                if let Some(row) = T::parse(&mut reader) {
                    rows.push(row);
                    row_no.push((first_row + i + 1) as u32);
                }
            }
            drop(reader);
            (rows, row_no, problems)
        })
        .collect();
    let t = std::time::Instant::now();
    let mut rows = Vec::with_capacity(height);
    let mut row_no = Vec::with_capacity(height);
    for (r, n, p) in parts {
        rows.extend(r);
        row_no.extend(n);
        problems.0.extend(p.0);
    }
    each(Batch::Rows(rows, row_no));
    tracing::debug!(table = T::TABLE, elapsed = ?t.elapsed(), "built");
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
            let rows = parquet_rows(path).map_err(|e| unreadable(&e))?;
            out.rows = rows;
            each(Batch::Expect(rows));
            // Batches are decoded one ahead of parsing: polars decodes
            // batch k+1 while batch k is parsed and built, so both cores
            // work (at most two batches are in memory).
            let (tx, rx) = std::sync::mpsc::sync_channel::<PolarsResult<(usize, DataFrame)>>(1);
            let decoder = scope.spawn(move || {
                let mut offset = 0usize;
                while offset < rows {
                    let len = BATCH_ROWS.min(rows - offset);
                    let t0 = std::time::Instant::now();
                    let decoded = lf.clone().select(present.clone()).slice(offset as i64, len as IdxSize).collect();
                    let decoded = decoded.map(|mut df| {
                        df.rechunk_mut();
                        (offset, df)
                    });
                    tracing::debug!(table = T::TABLE, decode = ?t0.elapsed(), "decoded");
                    let failed = decoded.is_err();
                    if tx.send(decoded).is_err() || failed {
                        break;
                    }
                    offset += len;
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
            Format::Parquet => parquet_rows(&path).ok().map(|r| (r as u64, true)),
            Format::Csv => std::fs::metadata(&path).ok().map(|m| (m.len() / CSV_BYTES_PER_ROW, false)),
        };
        if let Some((rows, exact)) = rows {
            out.push(TableRows { table, rows, exact });
        }
    }
    out
}

/// Rows in a Parquet file, from its footer.
fn parquet_rows(path: &Path) -> PolarsResult<usize> {
    let f = std::fs::File::open(path)?;
    ParquetReader::new(f).num_rows()
}

fn scan_csv<T: TableRow>(path: &Path, out: &mut Scanned, problems: &mut Problems, each: &mut dyn FnMut(Batch<T>)) {
    let file = out.file.clone();
    let unreadable = |e: &dyn std::fmt::Display| {
        Problem::file(&file, "unreadable file", format!("cannot read {}: {e}", path.display()))
    };
    // First pass: shape, encoding and hash.
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
    // Second pass: whole records to polars, every column as text (types
    // are checked cell by cell by the table's parser, so nothing is
    // inferred or coerced here).
    let schema: Schema = shape.header.iter().map(|n| Field::new(n.as_str().into(), DataType::String)).collect();
    let schema = Arc::new(schema);
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            problems.push(unreadable(&e));
            return;
        }
    };
    for cut in &shape.cuts {
        let mut bytes = vec![0u8; (cut.end - cut.start) as usize];
        if let Err(e) = f.seek(SeekFrom::Start(cut.start)).and_then(|_| f.read_exact(&mut bytes)) {
            problems.push(unreadable(&e));
            return;
        }
        let result = CsvReadOptions::default()
            .with_has_header(false)
            .with_schema(Some(schema.clone()))
            .with_parse_options(CsvParseOptions::default().with_missing_is_null(true))
            .into_reader_with_file_handle(std::io::Cursor::new(bytes))
            .finish();
        let df = match result {
            Ok(df) => df,
            Err(e) => {
                problems.push(Problem::file(&file, "unparsable file", format!("CSV could not be parsed: {e}")));
                return;
            }
        };
        if df.height() != cut.rows {
            problems.push(Problem::file(
                &file,
                "row count mismatch",
                format!(
                    "the file has {} data rows but the CSV reader produced {}; refusing to guess which",
                    shape.rows,
                    shape.rows - cut.rows + df.height()
                ),
            ));
            return;
        }
        let mut df = df;
        df.rechunk_mut();
        parse_batch::<T>(&file, &df, cut.first_row, problems, each);
    }
}

/// A byte range of whole records.
struct Cut {
    start: u64,
    end: u64,
    first_row: usize,
    rows: usize,
}

struct CsvShape {
    header: Vec<String>,
    rows: usize,
    cuts: Vec<Cut>,
}

/// One pass over the raw bytes, fed in pieces: valid UTF-8, a header, and
/// the same number of fields on every record (quotes respected). Blank
/// lines inside the file are problems: a lost row must not pass for
/// formatting. Jumps from one comma, quote or newline to the next
/// (memchr), so it runs at memory speed. Notes record boundaries every
/// few tens of megabytes for the second pass.
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
        }
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

    fn feed(&mut self, piece: &[u8]) {
        if piece.is_empty() {
            return;
        }
        self.check_utf8(piece);
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
                    } else if blank && p + 1 == piece.len() {
                        self.blank_pending = Some(self.line);
                    } else {
                        let line = self.line;
                        self.end_record(!blank, line);
                    }
                    self.fields = 0;
                    self.record_start = at + 1;
                    self.field_start = at + 1;
                    self.line += 1;
                    if !self.in_header && at + 1 - self.cut_start >= BATCH_BYTES {
                        self.cut(at + 1);
                    }
                }
            }
        }
        self.base += piece.len() as u64;
        self.last_byte = piece[piece.len() - 1];
    }

    fn cut(&mut self, end: u64) {
        if end > self.cut_start && self.rows > self.cut_first_row {
            self.cuts.push(Cut {
                start: self.cut_start,
                end,
                first_row: self.cut_first_row,
                rows: self.rows - self.cut_first_row,
            });
        }
        self.cut_start = end;
        self.cut_first_row = self.rows;
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
}
