//! Reading one table file (CSV or Parquet) into text columns with polars,
//! without letting anything slip: ragged rows, blank lines, bad UTF-8, a
//! wrong header or a wrong Parquet type are all problems, never skipped.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use rayon::prelude::*;

use super::problem::{Problem, Problems};
use super::table::{ColumnSpec, RowReader, TableRow};

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

/// A table's rows with their 1-based source row numbers (kept so checks
/// across tables can name the row).
pub struct Loaded<T> {
    pub rows: Vec<T>,
    pub row_no: Vec<u32>,
    pub file: String,
    /// Length and SHA-256 of the file's bytes, when it could be read.
    pub digest: Option<(u64, [u8; 32])>,
}

/// Reads a whole file and its SHA-256 (SHA-NI makes this memory speed).
/// Length and SHA-256 of a file.
type Digest = (u64, [u8; 32]);

fn read_file(path: &Path, file: &str, problems: &mut Problems) -> Option<(Vec<u8>, Digest)> {
    match std::fs::read(path) {
        Ok(b) => {
            let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&b).into();
            let len = b.len() as u64;
            Some((b, (len, digest)))
        }
        Err(e) => {
            problems.push(Problem::file(file, "unreadable file", format!("cannot read {}: {e}", path.display())));
            None
        }
    }
}

/// Reads and parses one table. Rows with problems are left out of `rows`
/// but every one of their problems is in `problems`; callers must refuse
/// the dataset when `problems` is not empty.
pub fn load_table<T: TableRow>(dir: &Path, problems: &mut Problems) -> Loaded<T> {
    let mut loaded = Loaded { rows: Vec::new(), row_no: Vec::new(), file: format!("{}.csv", T::TABLE), digest: None };
    let (path, format) = match locate(dir, T::TABLE) {
        Ok(found) => found,
        Err(p) => {
            problems.push(p);
            return loaded;
        }
    };
    loaded.file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let file = loaded.file.clone();
    let Some((bytes, digest)) = read_file(&path, &file, problems) else { return loaded };
    loaded.digest = Some(digest);
    let df = match format {
        Format::Csv => read_csv(bytes, &file, T::COLUMNS, problems),
        Format::Parquet => read_parquet(bytes, &file, T::COLUMNS, problems),
    };
    let Some(df) = df else { return loaded };
    let arrays: Vec<(&'static str, &super::table::TextArray)> = T::COLUMNS
        .iter()
        .filter_map(|c| {
            let col = df.column(c.name).ok()?;
            Some((c.name, col.str().ok()?.downcast_as_array()))
        })
        .collect();
    // Rows are parsed in parallel chunks, each with its own problems, and
    // joined in row order.
    const CHUNK: usize = 65_536;
    let height = df.height();
    let parts: Vec<(Vec<T>, Vec<u32>, Problems)> = (0..height.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut problems = Problems::default();
            let mut rows = Vec::new();
            let mut row_no = Vec::new();
            let mut reader = RowReader::new(&file, arrays.clone(), &mut problems);
            for i in c * CHUNK..((c + 1) * CHUNK).min(height) {
                reader.index = i;
                if let Some(row) = T::parse(&mut reader) {
                    rows.push(row);
                    row_no.push(i as u32 + 1);
                }
            }
            drop(reader);
            (rows, row_no, problems)
        })
        .collect();
    loaded.rows.reserve(height);
    loaded.row_no.reserve(height);
    for (rows, row_no, p) in parts {
        loaded.rows.extend(rows);
        loaded.row_no.extend(row_no);
        problems.0.extend(p.0);
    }
    loaded
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

/// Adds empty columns for optional columns the file leaves out, so every
/// column of the spec exists.
fn add_absent_optional(mut df: DataFrame, columns: &[ColumnSpec]) -> Option<DataFrame> {
    let height = df.height();
    for c in columns {
        if df.column(c.name).is_err() {
            let empty = Column::full_null(c.name.into(), height, &DataType::String);
            df.with_column(empty).ok()?;
        }
    }
    Some(df)
}

fn read_csv(bytes: Vec<u8>, file: &str, columns: &[ColumnSpec], problems: &mut Problems) -> Option<DataFrame> {
    let shape = prescan_csv(file, &bytes, problems)?;
    if !check_header(file, &shape.header, columns, problems) {
        return None;
    }
    // Every column as text: types are checked cell by cell by the table's
    // parser, so nothing is inferred or coerced here.
    let schema: Schema = shape.header.iter().map(|n| Field::new(n.as_str().into(), DataType::String)).collect();
    let result = CsvReadOptions::default()
        .with_has_header(true)
        .with_schema(Some(Arc::new(schema)))
        .with_parse_options(CsvParseOptions::default().with_missing_is_null(true))
        .into_reader_with_file_handle(std::io::Cursor::new(bytes))
        .finish();
    let df = match result {
        Ok(df) => df,
        Err(e) => {
            problems.push(Problem::file(file, "unparsable file", format!("CSV could not be parsed: {e}")));
            return None;
        }
    };
    if df.height() != shape.rows {
        problems.push(Problem::file(
            file,
            "row count mismatch",
            format!(
                "the file has {} data rows but the CSV reader produced {}; refusing to guess which",
                shape.rows,
                df.height()
            ),
        ));
        return None;
    }
    let mut df = add_absent_optional(df, columns)?;
    df.rechunk_mut();
    Some(df)
}

struct CsvShape {
    header: Vec<String>,
    rows: usize,
}

/// Records seen so far by [`prescan_csv`].
struct Scan<'a> {
    file: &'a str,
    header: Vec<String>,
    rows: usize,
    problems: &'a mut Problems,
}

impl Scan<'_> {
    /// Ends a data record of `fields + 1` fields.
    fn end_record(&mut self, fields: usize, touched: bool, line: usize, at_eof: bool) {
        if !touched {
            if !at_eof {
                self.problems.push(Problem::file(self.file, "blank line", format!("line {line} is blank")));
            }
        } else {
            self.rows += 1;
            if fields + 1 != self.header.len() {
                self.problems.push(Problem {
                    file: self.file.into(),
                    row: Some(self.rows),
                    line: Some(line),
                    column: None,
                    kind: "wrong field count".into(),
                    reason: format!("has {} fields, the header has {}", fields + 1, self.header.len()),
                });
            }
        }
    }
}

/// One pass over the raw bytes: valid UTF-8, a header, and the same number
/// of fields on every record (quotes respected). Blank lines inside the
/// file are problems: a lost row must not pass for formatting. Jumps from
/// one comma, quote or newline to the next (memchr), so it runs at memory
/// speed.
fn prescan_csv(file: &str, bytes: &[u8], problems: &mut Problems) -> Option<CsvShape> {
    if let Err(e) = std::str::from_utf8(bytes) {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        problems.push(Problem::file(file, "bad encoding", format!("line {line} is not valid UTF-8")));
        return None;
    }
    let before = problems.len();
    let mut scan = Scan { file, header: Vec::new(), rows: 0, problems };
    let mut in_header = true;
    let mut in_quotes = false;
    // Fields completed in the current record; where the record and the
    // current field start; the current line number.
    let mut fields = 0usize;
    let mut record_start = 0usize;
    let mut field_start = 0usize;
    let mut line = 1usize;
    let mut skip_quote = false;
    let header_field = |from: usize, to: usize| {
        let t = &bytes[from..to];
        let t = t.strip_suffix(b"\r").unwrap_or(t);
        let t = t.strip_prefix(b"\"").and_then(|x| x.strip_suffix(b"\"")).unwrap_or(t);
        String::from_utf8_lossy(t).into_owned()
    };
    for p in memchr::memchr3_iter(b',', b'\n', b'"', bytes) {
        let c = bytes[p];
        if in_quotes {
            match c {
                b'"' if skip_quote => skip_quote = false,
                b'"' if bytes.get(p + 1) == Some(&b'"') => skip_quote = true,
                b'"' => in_quotes = false,
                b'\n' => line += 1,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_quotes = true,
            b',' => {
                if in_header {
                    scan.header.push(header_field(field_start, p));
                }
                fields += 1;
                field_start = p + 1;
            }
            _ => {
                let end = if p > record_start && bytes[p - 1] == b'\r' { p - 1 } else { p };
                let blank = end == record_start && fields == 0;
                if in_header && !blank {
                    scan.header.push(header_field(field_start, p));
                    in_header = false;
                } else {
                    scan.end_record(fields, !blank, line, p + 1 >= bytes.len());
                }
                fields = 0;
                record_start = p + 1;
                field_start = p + 1;
                line += 1;
            }
        }
    }
    if in_quotes {
        scan.problems.push(Problem::file(
            file,
            "unterminated quote",
            format!("a quoted field opened before line {line} never closes"),
        ));
    } else if record_start < bytes.len() {
        // A last record without a final newline.
        if in_header {
            scan.header.push(header_field(field_start, bytes.len()));
        } else {
            scan.end_record(fields, true, line, true);
        }
    }
    let Scan { header, rows, problems, .. } = scan;
    if header.is_empty() {
        problems.push(Problem::file(file, "empty file", "the file is empty; it needs at least a header line"));
        return None;
    }
    if problems.len() != before {
        return None;
    }
    Some(CsvShape { header, rows })
}

fn read_parquet(bytes: Vec<u8>, file: &str, columns: &[ColumnSpec], problems: &mut Problems) -> Option<DataFrame> {
    let df = match ParquetReader::new(std::io::Cursor::new(bytes)).finish() {
        Ok(df) => df,
        Err(e) => {
            problems.push(Problem::file(file, "unparsable file", format!("Parquet could not be read: {e}")));
            return None;
        }
    };
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    if !check_header(file, &names, columns, problems) {
        return None;
    }
    let mut out = Vec::with_capacity(columns.len());
    let before = problems.len();
    for c in columns {
        let Ok(col) = df.column(c.name) else { continue };
        let dtype = col.dtype();
        let text_ok = matches!(dtype, DataType::String | DataType::Null);
        if dtype != &c.kind.dtype() && !text_ok {
            problems.push(Problem::file(
                file,
                "wrong column type",
                format!("column '{}' has type {dtype}, expected {} (or text)", c.name, c.kind.dtype()),
            ));
            continue;
        }
        match col.cast(&DataType::String) {
            Ok(s) => out.push(s),
            Err(e) => problems.push(Problem::file(file, "wrong column type", format!("column '{}': {e}", c.name))),
        }
    }
    if problems.len() != before {
        return None;
    }
    let df = DataFrame::new_infer_height(out).ok()?;
    let mut df = add_absent_optional(df, columns)?;
    df.rechunk_mut();
    Some(df)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str) -> (Option<(Vec<String>, usize)>, Vec<String>) {
        let mut ps = Problems::default();
        let shape = prescan_csv("t.csv", text.as_bytes(), &mut ps);
        (shape.map(|s| (s.header, s.rows)), ps.0.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn counts_rows_and_header() {
        let (shape, ps) = scan("a,b\n1,2\n\"x,y\",3\n");
        assert!(ps.is_empty(), "{ps:?}");
        assert_eq!(shape, Some((vec!["a".into(), "b".into()], 2)));
        let (shape, _) = scan("a,b\r\n1,2\r\n3,4");
        assert_eq!(shape, Some((vec!["a".into(), "b".into()], 2)));
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
    }

    #[test]
    fn unterminated_quote_and_bad_utf8() {
        let (_, ps) = scan("a,b\n\"1,2\n");
        assert!(ps[0].contains("never closes"), "{ps:?}");
        let mut ps = Problems::default();
        assert!(prescan_csv("t.csv", b"a,b\n1,\xff\n", &mut ps).is_none());
        assert!(ps.0[0].reason.contains("line 2 is not valid UTF-8"));
    }
}
