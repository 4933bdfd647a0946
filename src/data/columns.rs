//! Text columns handed to polars without copying each row's text.
//!
//! `Column::new(name, Vec<&str>)` copies every row's bytes into polars'
//! buffers. A results writer's long texts (explanations, decisions as
//! JSON) are shared by most rows of a shard, and its detail texts are
//! written into one buffer already: copying them row by row was about a
//! sixth of each writer thread's time (stop 29, `perf`). Here a text
//! column is a view array whose views point into buffers made once: each
//! distinct text (by address) is copied once, and a text built in one
//! buffer is not copied at all. The column's values, and so the file's
//! content, are the same as `Column::new` gives.

use polars::prelude::*;
use polars_arrow::array::{MutableBinaryViewArray, View};
use polars_buffer::Buffer;
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

    fn seal(&mut self) {
        if !self.current.is_empty() {
            self.buffers.push(Buffer::from(std::mem::take(&mut self.current)));
        }
    }

    fn column(mut self, name: &str) -> Column {
        self.seal();
        // Each view was made from a `&str` by `View::new_inline` or
        // `new_from_bytes` with the index and offset of the buffer its
        // bytes were copied to (or, for `packed`, lie in); polars takes
        // the buffers by reference count, not by copy.
        let mut array = MutableBinaryViewArray::<str>::with_capacity(self.views.len());
        array.extend_non_null_views(self.views.into_iter(), &self.buffers);
        StringChunked::with_chunk(name.into(), array.freeze()).into_column()
    }
}

/// A text column whose rows share their texts: each distinct text (by
/// address and length) is copied once, and rows holding the same text
/// share its bytes.
pub(crate) fn shared<'a>(name: &str, texts: impl ExactSizeIterator<Item = &'a str>) -> Column {
    let mut v = Views::with_capacity(texts.len());
    let mut seen: FxHashMap<(usize, usize), View> = FxHashMap::default();
    // Runs of rows with the same text are common (neighbouring entities
    // share their explanation): the previous row's text is tried first.
    let mut last: Option<((usize, usize), View)> = None;
    for t in texts {
        let key = (t.as_ptr() as usize, t.len());
        let view = if t.len() <= View::MAX_INLINE_SIZE as usize {
            View::new_inline(t.as_bytes())
        } else if let Some((k, view)) = last
            && k == key
        {
            view
        } else {
            let view = match seen.get(&key) {
                Some(view) => *view,
                None => {
                    let view = v.copy(t);
                    seen.insert(key, view);
                    view
                }
            };
            last = Some((key, view));
            view
        };
        v.views.push(view);
    }
    v.column(name)
}

/// A text column of rows written one after another into `text`: row `i`
/// ends at `ends[i]` (and starts where row `i - 1` ended). `text` becomes
/// the column's buffer: no row is copied.
pub(crate) fn packed(name: &str, text: String, ends: &[usize]) -> Column {
    assert_eq!(ends.last().copied().unwrap_or(0), text.len(), "the last row ends where the text does");
    if text.len() > BUFFER_MAX {
        // Offsets would not fit a view: copy row by row instead.
        let mut start = 0;
        let rows: Vec<&str> = ends
            .iter()
            .map(|&end| {
                let t = &text[start..end];
                start = end;
                t
            })
            .collect();
        return Column::new(name.into(), rows);
    }
    let mut v = Views::with_capacity(ends.len());
    let mut start = 0;
    for &end in ends {
        let t = &text[start..end];
        let view = View::new_from_bytes(t.as_bytes(), 0, start as u32);
        v.views.push(view);
        start = end;
    }
    v.current = text.into_bytes();
    v.column(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(c: &Column) -> Vec<Option<String>> {
        let t = c.str().expect("text");
        (0..t.len()).map(|i| t.get(i).map(str::to_string)).collect()
    }

    /// The columns hold the same values as `Column::new` over the same
    /// texts: short (inline) and long, shared and not, empty, non-ASCII.
    #[test]
    fn same_values_as_a_copied_column() {
        let long: std::sync::Arc<str> = "一个很长的说明文字，不止十二个字节 [tier.rhai:tier （三）一]".into();
        let other: std::sync::Arc<str> = "another text longer than twelve bytes".into();
        let rows: Vec<&str> = vec![&long, "", "short", &other, &long, "exactly12byt", "thirteen byte", &long, "济南"];
        let copied = Column::new("t".into(), rows.clone());
        let by_view = shared("t", rows.iter().copied());
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
        assert_eq!(values(&in_place), values(&copied));
        assert!(in_place.as_materialized_series().equals(copied.as_materialized_series()));

        assert_eq!(shared("t", std::iter::empty()).len(), 0);
        assert_eq!(packed("t", String::new(), &[]).len(), 0);
    }

    /// A Parquet file written from the columns reads back as the texts.
    #[test]
    fn write_and_read_back() {
        let texts: Vec<String> = (0..5000).map(|i| format!("row {} {}", i % 7, "x".repeat(i % 40))).collect();
        let mut text = String::new();
        let mut ends = Vec::new();
        for t in &texts {
            text.push_str(t);
            ends.push(text.len());
        }
        let mut df =
            DataFrame::new_infer_height(vec![shared("a", texts.iter().map(String::as_str)), packed("b", text, &ends)])
                .expect("frame");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.parquet");
        ParquetWriter::new(std::fs::File::create(&path).expect("create")).finish(&mut df).expect("write");
        let back = ParquetReader::new(std::fs::File::open(&path).expect("open")).finish().expect("read");
        for name in ["a", "b"] {
            let got = values(back.column(name).expect("column"));
            let want: Vec<Option<String>> = texts.iter().cloned().map(Some).collect();
            assert_eq!(got, want, "column {name}");
        }
    }
}
