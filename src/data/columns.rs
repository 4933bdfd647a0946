//! Text columns handed to polars without copying each row's text, and
//! Parquet written from them without polars guessing what we know.
//!
//! `Column::new(name, Vec<&str>)` copies every row's bytes into polars'
//! buffers. A results writer's long texts (explanations, decisions as
//! JSON) are shared by most rows of a shard, and its detail texts are
//! written into one buffer already: copying them row by row was about a
//! sixth of each writer thread's time (stop 29, `perf`). Here a text
//! column ([`Text`]) is a list of distinct texts, each copied once (a text
//! built in one buffer is not copied at all), and for every row the index
//! of its text.
//!
//! Written to Parquet by [`ParquetOut`], such a column is handed over as
//! a dictionary (those indices and texts) when that is worth it, so the
//! writer does not find the distinct texts again. polars' own writer
//! hashed every row's text twice to decide and build a dictionary (an
//! estimate of the distinct count, then the dictionary itself): in a 3M
//! run of stop 31's binary under `perf record -F 499`, 1,883 of 33,823
//! samples (3.8 CPU-s of 68), all on polars' two pool threads. The file is
//! what `ParquetWriter` writes over `Column::new`'s columns, byte for
//! byte: the same values, a dictionary where polars would make one
//! (distinct texts at most three quarters of the rows, or 128 rows or
//! fewer), in the order rows first use them. The one exception is
//! [`Col::Unique`], plain in any group of more than 128 rows: polars'
//! estimate had made a dictionary of the names in 116 of 15M's 300
//! shards, each larger than plain.

use std::io::Write;

use polars::prelude::*;
use polars_arrow::array::{Array, DictionaryArray, MutableBinaryViewArray, PrimitiveArray, Utf8ViewArray, View};
use polars_arrow::datatypes::{ArrowDataType, ArrowSchemaRef, IntegerType};
use polars_buffer::Buffer;
use polars_parquet::write::{
    CompressionOptions, Encoding, FileWriter, ParquetType, StatisticsOptions, Version, WriteOptions,
    get_dtype_encoding, row_group_iter,
};
use rustc_hash::FxHashMap;

/// Most bytes in one buffer: a view's offset is a `u32`.
const BUFFER_MAX: usize = u32::MAX as usize;

/// Views over buffers being filled.
struct Views {
    views: Vec<View>,
    buffers: Vec<Buffer<u8>>,
    current: Vec<u8>,
}

impl Views {
    fn with_capacity(rows: usize) -> Views {
        Views { views: Vec::with_capacity(rows), buffers: Vec::new(), current: Vec::new() }
    }

    /// Copies `text` (longer than a view holds inline) into the current
    /// buffer and returns its view.
    fn copy(&mut self, text: &str) -> View {
        let bytes = text.as_bytes();
        if self.current.len() + bytes.len() > BUFFER_MAX {
            self.seal();
        }
        let offset = self.current.len() as u32;
        self.current.extend_from_slice(bytes);
        View::new_from_bytes(bytes, self.buffers.len() as u32, offset)
    }

    /// The view of `text`: inline when short, else copied.
    fn push(&mut self, text: &str) {
        let view = if text.len() <= View::MAX_INLINE_SIZE as usize {
            View::new_inline(text.as_bytes())
        } else {
            self.copy(text)
        };
        self.views.push(view);
    }

    /// `texts` copied into views (short ones inline), the buffer's room
    /// reserved up front: grown by doubling, it was copied again at every
    /// growth (about half of the copying into it, in a 3M profile of the
    /// results writer).
    fn copied<'a>(texts: impl ExactSizeIterator<Item = &'a str> + Clone) -> Utf8ViewArray {
        let mut v = Views::with_capacity(texts.len());
        let long: usize = texts.clone().map(str::len).filter(|&n| n > View::MAX_INLINE_SIZE as usize).sum();
        v.current.reserve(long.min(BUFFER_MAX));
        for t in texts {
            v.push(t);
        }
        v.array()
    }

    fn seal(&mut self) {
        if !self.current.is_empty() {
            self.buffers.push(Buffer::from(std::mem::take(&mut self.current)));
        }
    }

    fn array(mut self) -> Utf8ViewArray {
        self.seal();
        views_array(self.views.into_iter(), &self.buffers)
    }
}

/// A text array of `views` over `buffers`.
fn views_array(views: impl Iterator<Item = View>, buffers: &[Buffer<u8>]) -> Utf8ViewArray {
    // Each view was made from a `&str` by `View::new_inline` or
    // `new_from_bytes` with the index and offset of the buffer its bytes
    // were copied to (or, for `packed`, lie in); polars takes the buffers
    // by reference count, not by copy.
    let mut array = MutableBinaryViewArray::<str>::with_capacity(views.size_hint().0);
    array.extend_non_null_views(views, buffers);
    array.freeze()
}

/// A text column: its distinct texts, in the order rows first use them,
/// and for every row the index of its text.
pub(crate) struct Text {
    name: PlSmallStr,
    keys: Vec<u32>,
    values: Utf8ViewArray,
}

impl Text {
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether Parquet gets it as a dictionary: polars' own rule (see the
    /// module), with the distinct count known instead of estimated.
    fn as_dictionary(&self) -> bool {
        self.keys.len() <= 128 || self.values.len() * 4 <= self.keys.len() * 3
    }

    /// One view per row, over the distinct texts' buffers (nothing copied).
    fn rows(&self) -> Utf8ViewArray {
        let views = self.values.views();
        views_array(self.keys.iter().map(|&k| views[k as usize]), self.values.data_buffers())
    }

    /// The column as polars holds it (for CSV and frames).
    pub(crate) fn column(&self) -> Column {
        StringChunked::with_chunk(self.name.clone(), self.rows()).into_column()
    }

    /// The array Parquet gets, and its encoding.
    fn arrow(self) -> (Box<dyn Array>, Encoding) {
        if !self.as_dictionary() {
            return (self.rows().boxed(), Encoding::Plain);
        }
        let dtype = ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(ArrowDataType::Utf8View), false);
        let keys = PrimitiveArray::<u32>::from_vec(self.keys);
        let array = DictionaryArray::<u32>::try_new(dtype, keys, self.values.boxed())
            .expect("every key indexes a distinct text");
        (array.boxed(), Encoding::RleDictionary)
    }
}

/// Distinct texts found by content, in first use: each row's key.
struct Distinct<'a> {
    index: FxHashMap<&'a str, u32>,
    texts: Vec<&'a str>,
}

/// Room reserved for the distinct values of `rows` rows: enough that a
/// results file's group of 4,096 rows (about a thousand distinct
/// explanations and details) does not grow its tables while filling
/// them (growing was about two fifths of their cost in a 3M profile).
fn room(rows: usize) -> usize {
    rows.min(2048)
}

impl<'a> Distinct<'a> {
    fn with_room(rows: usize) -> Distinct<'a> {
        Distinct {
            index: FxHashMap::with_capacity_and_hasher(room(rows), Default::default()),
            texts: Vec::with_capacity(room(rows)),
        }
    }

    fn key(&mut self, t: &'a str) -> u32 {
        *self.index.entry(t).or_insert_with(|| {
            self.texts.push(t);
            self.texts.len() as u32 - 1
        })
    }
}

/// A text column whose rows share their texts: each distinct text is
/// copied once. Rows are matched first by address (a shared text is one
/// allocation), so a long text is hashed once per distinct address, not
/// once per row.
pub(crate) fn shared<'a>(name: &str, texts: impl ExactSizeIterator<Item = &'a str>) -> Text {
    let rows = texts.len();
    let mut keys = Vec::with_capacity(rows);
    let mut by_address: FxHashMap<(usize, usize), u32> =
        FxHashMap::with_capacity_and_hasher(room(rows), Default::default());
    let mut distinct = Distinct::with_room(rows);
    // Runs of rows with the same text are common (neighbouring entities
    // share their explanation): the previous row's text is tried first.
    let mut last: Option<((usize, usize), u32)> = None;
    for t in texts {
        let address = (t.as_ptr() as usize, t.len());
        let key = match last {
            Some((a, k)) if a == address => k,
            _ => {
                let k = *by_address.entry(address).or_insert_with(|| distinct.key(t));
                last = Some((address, k));
                k
            }
        };
        keys.push(key);
    }
    Text { name: name.into(), keys, values: Views::copied(distinct.texts.iter().copied()) }
}

/// A text column of rows written one after another into `text`: row `i`
/// ends at `ends[i]` (and starts where row `i - 1` ended). `text` becomes
/// the column's buffer: no row is copied. Equal rows share one distinct
/// text (found by content).
pub(crate) fn packed(name: &str, text: String, ends: &[usize]) -> Text {
    assert_eq!(ends.last().copied().unwrap_or(0), text.len(), "the last row ends where the text does");
    let mut keys = Vec::with_capacity(ends.len());
    let mut firsts: Vec<(usize, usize)> = Vec::new();
    {
        let mut distinct = Distinct::with_room(ends.len());
        let mut start = 0;
        for &end in ends {
            let k = distinct.key(&text[start..end]);
            if k as usize == firsts.len() {
                firsts.push((start, end));
            }
            keys.push(k);
            start = end;
        }
    }
    let values = if text.len() > BUFFER_MAX {
        // Offsets would not fit a view: copy the distinct texts instead.
        Views::copied(firsts.iter().map(|&(start, end)| &text[start..end]))
    } else {
        let views: Vec<View> = firsts
            .iter()
            // A text of 12 bytes or fewer is held inline by the view.
            .map(|&(start, end)| View::new_from_bytes(&text.as_bytes()[start..end], 0, start as u32))
            .collect();
        views_array(views.into_iter(), &[Buffer::from(text.into_bytes())])
    };
    Text { name: name.into(), keys, values }
}

/// A column of a frame written by [`ParquetOut`].
pub(crate) enum Col {
    /// Written as polars would (its encoding for the type).
    Polars(Column),
    /// Every row (nearly) its own text, such as a credit code or a name:
    /// written plain, without estimating how many are distinct (as polars
    /// would, in a group of more than 128 rows).
    Unique(Column),
    /// Texts rows share.
    Text(Text),
}

impl Col {
    fn len(&self) -> usize {
        match self {
            Col::Polars(c) | Col::Unique(c) => c.len(),
            Col::Text(t) => t.len(),
        }
    }
}

/// The columns as a polars frame (CSV, tests).
pub(crate) fn frame(cols: &[Col]) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(
        cols.iter()
            .map(|c| match c {
                Col::Polars(c) | Col::Unique(c) => c.clone(),
                Col::Text(t) => t.column(),
            })
            .collect(),
    )
}

/// A Parquet file written one row group per [`ParquetOut::write`], as
/// polars' `ParquetWriter` writes a frame of one chunk (the same schema
/// in the footer), with each column's encoding chosen by what its
/// [`Col`] says.
pub(crate) struct ParquetOut<W: Write> {
    writer: FileWriter<W>,
    schema: ArrowSchemaRef,
    /// The Parquet types of the schema's columns.
    fields: Vec<ParquetType>,
    options: WriteOptions,
}

impl<W: Write> ParquetOut<W> {
    pub(crate) fn new(
        w: W,
        schema: &Schema,
        compression: CompressionOptions,
        statistics: StatisticsOptions,
        data_page_size: Option<usize>,
    ) -> PolarsResult<ParquetOut<W>> {
        let schema = schema.to_arrow(CompatLevel::newest());
        let options = WriteOptions { statistics, compression, version: Version::V1, data_page_size };
        let writer = FileWriter::try_new(w, schema.clone(), options)?;
        let fields = writer.parquet_schema().fields().to_vec();
        Ok(ParquetOut { writer, schema: schema.into(), fields, options })
    }

    /// Writes `cols`, in the schema's order and types, as one row group.
    pub(crate) fn write(&mut self, cols: Vec<Col>) -> PolarsResult<()> {
        polars_ensure!(cols.len() == self.schema.len(), ComputeError: "{} columns for a schema of {}", cols.len(), self.schema.len());
        let rows = cols.first().map_or(0, Col::len);
        if rows == 0 {
            return Ok(());
        }
        let mut arrays = Vec::with_capacity(cols.len());
        let mut encodings = Vec::with_capacity(cols.len());
        for (col, field) in cols.into_iter().zip(self.schema.iter_values()) {
            polars_ensure!(col.len() == rows, ComputeError: "column {} has {} rows, not {rows}", field.name, col.len());
            // polars makes a dictionary of any 128 rows or fewer.
            let plain = matches!(col, Col::Unique(_)) && rows > 128;
            let (array, encoding) = match col {
                Col::Polars(c) | Col::Unique(c) => {
                    polars_ensure!(c.dtype().to_arrow(CompatLevel::newest()) == field.dtype, ComputeError: "column {} is {}, not the schema's type", field.name, c.dtype());
                    let array = c.as_materialized_series().rechunk().to_arrow(0, CompatLevel::newest());
                    (array, if plain { vec![Encoding::Plain] } else { get_dtype_encoding(&field.dtype) })
                }
                Col::Text(t) => {
                    polars_ensure!(field.dtype == ArrowDataType::Utf8View, ComputeError: "column {} is text, the schema's is not", field.name);
                    let (array, encoding) = t.arrow();
                    (array, vec![encoding])
                }
            };
            arrays.push(array);
            encodings.push(encoding);
        }
        let batch = polars_arrow::record_batch::RecordBatchT::try_new(rows, self.schema.clone(), arrays)?;
        let group = row_group_iter(batch, Buffer::from(encodings), self.fields.clone(), self.options);
        self.writer.write(rows as u64, group)
    }

    /// Writes the footer and flushes (an error is reported, not left to a
    /// buffer's drop); returns the writer.
    pub(crate) fn finish(mut self) -> PolarsResult<W> {
        self.writer.end(None)?;
        let mut w = self.writer.into_inner();
        w.flush()?;
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(c: &Column) -> Vec<Option<String>> {
        let t = c.str().expect("text");
        (0..t.len()).map(|i| t.get(i).map(str::to_string)).collect()
    }

    /// The columns hold the same values as `Column::new` over the same
    /// texts: short (inline) and long, shared and not, empty, non-ASCII;
    /// equal texts at different addresses are one distinct text.
    #[test]
    fn same_values_as_a_copied_column() {
        let long: std::sync::Arc<str> = "一个很长的说明文字，不止十二个字节 [tier.rhai:tier （三）一]".into();
        let again: std::sync::Arc<str> = long.to_string().into();
        let other: std::sync::Arc<str> = "another text longer than twelve bytes".into();
        let rows: Vec<&str> =
            vec![&long, "", "short", &other, &long, "exactly12byt", "thirteen byte", &again, "济南", "short", &long];
        let copied = Column::new("t".into(), rows.clone());
        let by_view = shared("t", rows.iter().copied());
        assert_eq!(by_view.values.len(), 7, "distinct by content");
        assert_eq!(by_view.keys, [0, 1, 2, 3, 0, 4, 5, 0, 6, 2, 0]);
        let by_view = by_view.column();
        assert_eq!(values(&by_view), values(&copied));
        assert_eq!(by_view.name().as_str(), "t");
        assert!(by_view.as_materialized_series().equals(copied.as_materialized_series()));

        let mut text = String::new();
        let mut ends = Vec::new();
        for r in &rows {
            text.push_str(r);
            ends.push(text.len());
        }
        let in_place = packed("t", text, &ends);
        assert_eq!(in_place.values.len(), 7);
        let in_place = in_place.column();
        assert_eq!(values(&in_place), values(&copied));
        assert!(in_place.as_materialized_series().equals(copied.as_materialized_series()));

        assert_eq!(shared("t", std::iter::empty()).len(), 0);
        assert_eq!(packed("t", String::new(), &[]).len(), 0);
    }

    /// Rows of one buffer, cut at their ends.
    fn in_one(texts: &[String]) -> (String, Vec<usize>) {
        let mut text = String::new();
        let mut ends = Vec::new();
        for t in texts {
            text.push_str(t);
            ends.push(text.len());
        }
        (text, ends)
    }

    /// A frame of every kind of column over `n` rows: texts shared by
    /// many rows, texts nearly every row has alone, numbers, flags, dates
    /// with gaps.
    fn texts(n: usize) -> (Vec<String>, Vec<String>) {
        let shared: Vec<String> = (0..n).map(|i| format!("row {} {}", i % 7, "x".repeat(i % 40))).collect();
        let unique: Vec<String> = (0..n).map(|i| format!("9137{:014}", i * 7919)).collect();
        (shared, unique)
    }

    fn ours(n: usize) -> Vec<Col> {
        let (a, u) = texts(n);
        let (text, ends) = in_one(&a);
        vec![
            Col::Text(shared("a", a.iter().map(String::as_str))),
            Col::Text(packed("b", text, &ends)),
            Col::Unique(Column::new("u".into(), u.iter().map(String::as_str).collect::<Vec<_>>())),
            Col::Text(shared("v", u.iter().map(String::as_str))),
            Col::Polars(Column::new("n".into(), (0..n as u32).map(|i| i % 5).collect::<Vec<u32>>())),
            Col::Polars(Column::new("f".into(), (0..n).map(|i| i % 3 == 0).collect::<Vec<_>>())),
            Col::Polars(Column::new(
                "d".into(),
                (0..n)
                    .map(|i| {
                        (i % 4 != 0)
                            .then(|| chrono::NaiveDate::from_ymd_opt(2026, 1, 1 + (i % 28) as u32).expect("day"))
                    })
                    .collect::<Vec<_>>(),
            )),
        ]
    }

    fn theirs(n: usize) -> DataFrame {
        let (a, u) = texts(n);
        let mut cols = vec![
            Column::new("a".into(), a.iter().map(String::as_str).collect::<Vec<_>>()),
            Column::new("b".into(), a.iter().map(String::as_str).collect::<Vec<_>>()),
            Column::new("u".into(), u.iter().map(String::as_str).collect::<Vec<_>>()),
            Column::new("v".into(), u.iter().map(String::as_str).collect::<Vec<_>>()),
        ];
        cols.extend(ours(n).into_iter().skip(4).map(|c| match c {
            Col::Polars(c) => c,
            _ => unreachable!(),
        }));
        DataFrame::new_infer_height(cols).expect("frame")
    }

    /// What [`ParquetOut`] writes is byte for byte what polars' own writer
    /// writes over the same values as plain columns, where both agree on
    /// which columns get a dictionary (clear cardinalities): a large group,
    /// a small one (128 rows or fewer: always a dictionary), and none.
    #[test]
    fn writes_the_bytes_polars_writes() {
        for (compression, statistics) in [
            (ParquetCompression::Lz4Raw, StatisticsOptions::empty()),
            (ParquetCompression::Zstd(None), StatisticsOptions::default()),
        ] {
            for n in [5000, 100, 0] {
                let schema = frame(&ours(n)).expect("frame").schema().as_ref().clone();
                let mut out = ParquetOut::new(Vec::new(), &schema, compression.into(), statistics, None).expect("out");
                out.write(ours(n)).expect("write");
                let mine = out.finish().expect("finish");

                let mut df = theirs(n);
                let mut polars = Vec::new();
                ParquetWriter::new(&mut polars)
                    .with_compression(compression)
                    .with_statistics(statistics)
                    .finish(&mut df)
                    .expect("polars writes");
                let first = mine.iter().zip(&polars).position(|(a, b)| a != b);
                assert!(
                    mine == polars,
                    "{n} rows, {compression:?}: {} bytes against polars' {}, first difference at {first:?}",
                    mine.len(),
                    polars.len()
                );

                let back = ParquetReader::new(std::io::Cursor::new(mine)).finish().expect("read");
                assert!(back.equals_missing(&theirs(n)), "{n} rows read back");
            }
        }
    }

    /// Mostly distinct texts are written plain, others as a dictionary.
    #[test]
    fn a_dictionary_only_where_polars_would_make_one() {
        let (a, u) = texts(5000);
        assert!(shared("a", a.iter().map(String::as_str)).as_dictionary());
        assert!(!shared("u", u.iter().map(String::as_str)).as_dictionary());
        assert!(shared("u", u[..128].iter().map(String::as_str)).as_dictionary());
        assert!(!shared("u", u[..129].iter().map(String::as_str)).as_dictionary());
        // Exactly three quarters distinct: a dictionary.
        let quarter: Vec<&str> = (0..400).map(|i| if i % 4 == 3 { u[0].as_str() } else { u[i].as_str() }).collect();
        assert!(shared("q", quarter.iter().copied()).as_dictionary());
    }

    /// A column of the wrong length or type is refused, not written.
    #[test]
    fn refuses_columns_that_do_not_fit_the_schema() {
        let schema = frame(&ours(10)).expect("frame").schema().as_ref().clone();
        let mut out =
            ParquetOut::new(Vec::new(), &schema, CompressionOptions::Uncompressed, StatisticsOptions::empty(), None)
                .expect("out");
        let mut cols = ours(10);
        cols.pop();
        assert!(out.write(cols).is_err(), "a column missing");
        let mut cols = ours(10);
        cols[4] = Col::Polars(Column::new("n".into(), vec![1i64; 10]));
        assert!(out.write(cols).is_err(), "a column of another type");
        let mut cols = ours(10);
        cols[5] = Col::Polars(Column::new("f".into(), vec![true; 9]));
        assert!(out.write(cols).is_err(), "a column of another length");
        let mut cols = ours(10);
        cols[4] = Col::Text(shared("n", ["x"; 10].into_iter()));
        assert!(out.write(cols).is_err(), "text where the schema has numbers");
    }
}
