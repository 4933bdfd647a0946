//! The dataset's tables: which files and columns exist, and how each model
//! type becomes columns (for writing) and comes back from text cells (for
//! loading). Writing and reading of a table sit side by side so they cannot
//! drift apart.
//!
//! Long on purpose: one `TableRow` per table (columns out, cells in).

use polars::prelude::*;

use super::problem::{Problem, Problems};
use crate::model::*;

/// Logical type of a column. CSV holds text; Parquet holds the matching
/// Arrow type (String, Date, Boolean).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Date,
    Bool,
}

impl Kind {
    pub fn dtype(self) -> DataType {
        match self {
            Kind::Text => DataType::String,
            Kind::Date => DataType::Date,
            Kind::Bool => DataType::Boolean,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

const fn req(name: &'static str, kind: Kind) -> ColumnSpec {
    ColumnSpec { name, kind, required: true }
}

const fn opt(name: &'static str, kind: Kind) -> ColumnSpec {
    ColumnSpec { name, kind, required: false }
}

use Kind::{Bool, Date as D, Text as T};

/// The Arrow array behind a single-chunk text column.
pub type TextArray = <StringType as PolarsDataType>::Array;
/// The Arrow arrays behind single-chunk date (physical) and boolean columns.
pub type DateArray = <Int32Type as PolarsDataType>::Array;
pub type BoolArray = <BooleanType as PolarsDataType>::Array;

/// A model type stored as one table of the dataset.
pub trait TableRow: Sized + Send {
    /// File stem: `entities` for `entities.csv` / `entities.parquet`.
    const TABLE: &'static str;
    const COLUMNS: &'static [ColumnSpec];
    fn columns(rows: &[Self]) -> Vec<Column>;
    /// Reads one row; every problem is recorded in the reader, and `None`
    /// means the row had at least one.
    fn parse(r: &mut RowReader<'_>) -> Option<Self>;
}

/// The cells of one column of a batch: text (CSV, or Parquet text), or
/// typed (Parquet dates and booleans).
#[derive(Clone, Copy)]
pub enum Cells<'a> {
    Text(&'a TextArray),
    Date(&'a DateArray),
    Bool(&'a BoolArray),
    /// An optional column the file leaves out.
    Absent,
}

impl<'a> Cells<'a> {
    /// The cells of a single-chunk column.
    pub fn of(s: &'a Series) -> Cells<'a> {
        match s.dtype() {
            DataType::String => s.str().map_or(Cells::Absent, |c| Cells::Text(c.downcast_as_array())),
            DataType::Date => s.date().map_or(Cells::Absent, |c| Cells::Date(c.physical().downcast_as_array())),
            DataType::Boolean => s.bool().map_or(Cells::Absent, |c| Cells::Bool(c.downcast_as_array())),
            _ => Cells::Absent,
        }
    }
}

/// A name's address and length: equal for equal `&'static` names only.
fn address(name: &'static str) -> (usize, usize) {
    (name.as_ptr() as usize, name.len())
}

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01 (Arrow's day 0).
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Cells of one batch of a table, read row by row with typed accessors
/// that record a [`Problem`] for every bad cell instead of stopping.
pub struct RowReader<'a> {
    file: &'a str,
    columns: Vec<(&'static str, Cells<'a>)>,
    /// Rows of the file before this batch.
    first_row: usize,
    /// 0-based index into the batch.
    pub index: usize,
    pub problems: &'a mut Problems,
    /// The column looked up last: parsers read columns in order, so the
    /// next lookup usually finds the one after it.
    last: std::cell::Cell<usize>,
    /// For each column, the address and length of the name it was last
    /// found by (at first the table's own). A parser passes the same
    /// literal every row, which the compiler need not merge with the
    /// table's, so from the second row on a column is found by address,
    /// without comparing names. Names are `&'static`: memory that is never
    /// reused, so an equal address and length is an equal name.
    found_by: Vec<std::cell::Cell<(usize, usize)>>,
    /// The credit code read last, as text and parsed: rows of one entity
    /// come together, so a code is usually parsed once per run of rows.
    last_uscc: Option<(&'a str, Uscc)>,
}

impl<'a> RowReader<'a> {
    pub fn new(
        file: &'a str,
        columns: Vec<(&'static str, Cells<'a>)>,
        first_row: usize,
        problems: &'a mut Problems,
    ) -> Self {
        let found_by = columns.iter().map(|(name, _)| std::cell::Cell::new(address(name))).collect();
        RowReader {
            file,
            columns,
            first_row,
            index: 0,
            problems,
            last: std::cell::Cell::new(0),
            found_by,
            last_uscc: None,
        }
    }

    /// The 1-based data row number reported in problems.
    pub fn row(&self) -> usize {
        self.first_row + self.index + 1
    }

    fn cells(&self, col: &'static str) -> Cells<'a> {
        let n = self.columns.len();
        if n == 0 {
            return Cells::Absent;
        }
        let start = if self.last.get() < n { self.last.get() } else { 0 };
        let addr = address(col);
        // The next column, by the address of the name it was found by
        // before; failing that, every column from there on, by address and
        // then by name. Positions wrap by comparison, not `%`: two
        // divisions a cell were half of this function's samples in a load
        // profile.
        let mut i = start;
        for _ in 0..n {
            if self.found_by[i].get() == addr {
                self.last.set(i + 1);
                return self.columns[i].1;
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        for _ in 0..n {
            if self.columns[i].0 == col {
                self.found_by[i].set(addr);
                self.last.set(i + 1);
                return self.columns[i].1;
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        Cells::Absent
    }

    fn raw(&self, col: &'static str) -> Option<&'a str> {
        match self.cells(col) {
            Cells::Text(arr) => arr.get(self.index).filter(|s| !s.is_empty()),
            _ => None,
        }
    }

    /// A typed date cell: `Some(None)` when null, `None` when the column is text.
    fn typed_date(&self, col: &'static str) -> Option<Option<Date>> {
        match self.cells(col) {
            Cells::Date(arr) => Some(
                arr.get(self.index)
                    .and_then(|d| d.checked_add(EPOCH_DAYS_FROM_CE))
                    .and_then(Date::from_num_days_from_ce_opt),
            ),
            _ => None,
        }
    }

    fn problem(&mut self, col: &str, kind: &str, reason: String) {
        let row = self.row();
        self.problems.push(Problem::cell(self.file, row, col, kind, reason));
    }

    /// A required cell, parsed; records "missing value" or the parse error.
    pub fn req<V, E: std::fmt::Display>(
        &mut self,
        col: &'static str,
        kind: &str,
        parse: impl FnOnce(&str) -> Result<V, E>,
    ) -> Option<V> {
        match self.raw(col) {
            None => {
                self.problem(col, "missing value", "required value is missing".into());
                None
            }
            Some(s) => self.parsed(col, kind, s, parse),
        }
    }

    /// An optional cell: `Some(None)` when empty, `None` when present but bad.
    pub fn opt<V, E: std::fmt::Display>(
        &mut self,
        col: &'static str,
        kind: &str,
        parse: impl FnOnce(&str) -> Result<V, E>,
    ) -> Option<Option<V>> {
        match self.raw(col) {
            None => Some(None),
            Some(s) => self.parsed(col, kind, s, parse).map(Some),
        }
    }

    fn parsed<V, E: std::fmt::Display>(
        &mut self,
        col: &'static str,
        kind: &str,
        s: &str,
        parse: impl FnOnce(&str) -> Result<V, E>,
    ) -> Option<V> {
        match parse(s) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(col, kind, e.to_string());
                None
            }
        }
    }

    pub fn text(&mut self, col: &'static str) -> Option<String> {
        self.req(col, "invalid text", parse_text)
    }
    /// A required short text ([`RowReader::text`], the same problems),
    /// held inline when it fits.
    pub fn short(&mut self, col: &'static str) -> Option<crate::model::Short> {
        self.req(col, "invalid text", parse_short)
    }
    /// A required credit code ([`RowReader::req`], the same problems); the
    /// text of the previous valid code is not parsed again.
    pub fn uscc(&mut self, col: &'static str) -> Option<Uscc> {
        let Some(s) = self.raw(col) else {
            self.problem(col, "missing value", "required value is missing".into());
            return None;
        };
        if let Some((last, u)) = self.last_uscc
            && last == s
        {
            return Some(u);
        }
        let u = self.parsed(col, "invalid credit code", s, |s| {
            Uscc::parse(s).map_err(|e| format!("invalid credit code '{s}': {e}"))
        })?;
        self.last_uscc = Some((s, u));
        Some(u)
    }
    pub fn person(&mut self, col: &'static str) -> Option<PersonId> {
        self.req(col, "invalid person id", PersonId::parse)
    }
    pub fn date(&mut self, col: &'static str) -> Option<Date> {
        match self.typed_date(col) {
            Some(Some(d)) => Some(d),
            Some(None) => {
                self.problem(col, "missing value", "required value is missing".into());
                None
            }
            None => self.req(col, "invalid date", parse_date),
        }
    }
    pub fn opt_date(&mut self, col: &'static str) -> Option<Option<Date>> {
        match self.typed_date(col) {
            Some(d) => Some(d),
            None => self.opt(col, "invalid date", parse_date),
        }
    }
    pub fn bool(&mut self, col: &'static str) -> Option<bool> {
        if let Cells::Bool(arr) = self.cells(col) {
            return match arr.get(self.index) {
                Some(b) => Some(b),
                None => {
                    self.problem(col, "missing value", "required value is missing".into());
                    None
                }
            };
        }
        self.req(col, "invalid boolean", parse_bool)
    }
    pub fn code<C: std::str::FromStr<Err = UnknownCode>>(&mut self, col: &'static str) -> Option<C> {
        self.req(col, "invalid code", |s| s.parse())
    }
    pub fn opt_code<C: std::str::FromStr<Err = UnknownCode>>(&mut self, col: &'static str) -> Option<Option<C>> {
        self.opt(col, "invalid code", |s| s.parse())
    }
    pub fn division(&mut self, col: &'static str, city_only: bool) -> Option<u32> {
        self.req(col, "invalid division code", |s| parse_division(s, city_only))
    }
    /// A `;`-separated list of texts (an empty cell is an empty list),
    /// refused as a text is.
    pub fn list(&mut self, col: &'static str) -> Option<Vec<String>> {
        self.items(col)
    }
    /// An optional short text ([`RowReader::short`]).
    pub fn opt_short(&mut self, col: &'static str) -> Option<Option<crate::model::Short>> {
        self.opt(col, "invalid text", parse_short)
    }
    /// A list of short texts ([`RowReader::list`], the same problems),
    /// each held inline when it fits.
    pub fn short_list(&mut self, col: &'static str) -> Option<Vec<crate::model::Short>> {
        self.items(col)
    }
    /// The items of a list cell, each made a `T` from its text (the cell
    /// itself is never copied whole).
    fn items<T: for<'s> From<&'s str>>(&mut self, col: &'static str) -> Option<Vec<T>> {
        let list = |s: &str| check_text(s).map(|()| list_items(s).map(T::from).collect());
        self.opt(col, "invalid text", list).map(Option::unwrap_or_default)
    }

    /// Records a problem about relations between cells of this row.
    pub fn row_problem(&mut self, col: &str, kind: &str, reason: String) {
        self.problem(col, kind, reason);
    }
}

pub fn parse_text(s: &str) -> Result<String, InvalidValue> {
    check_text(s).map(|()| s.to_string())
}

/// [`parse_text`] into a [`crate::model::Short`].
fn parse_short(s: &str) -> Result<crate::model::Short, InvalidValue> {
    check_text(s).map(|()| s.into())
}

/// Why `s` is not a text a dataset may hold: padded, or holding a control
/// character.
fn check_text(s: &str) -> Result<(), InvalidValue> {
    if padded(s) {
        return Err(InvalidValue(format!("'{s}' has leading or trailing spaces")));
    }
    if has_control(s) {
        return Err(InvalidValue(format!("'{}' contains a control character", s.escape_debug())));
    }
    Ok(())
}

/// `s.trim() != s`, by its first and last characters only (a text is
/// trimmed exactly when one of them is white space).
fn padded(s: &str) -> bool {
    s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace)
}

/// `s.chars().any(char::is_control)` without decoding characters: the
/// control characters (general category Cc) are U+0000–U+001F, U+007F and
/// U+0080–U+009F, in UTF-8 a byte below 0x20, 0x7F, or 0xC2 followed by
/// 0x80–0x9F. Bytes are scanned for those leads first (most texts have
/// none, Chinese ones included: their lead bytes are 0xE0 and above).
fn has_control(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c < 0x20 || c == 0x7F || c == 0xC2) {
        return false;
    }
    b.iter()
        .enumerate()
        .any(|(i, &c)| c < 0x20 || c == 0x7F || (c == 0xC2 && b.get(i + 1).is_some_and(|&n| (0x80..0xA0).contains(&n))))
}

/// Dates are ISO 8601 calendar dates, `YYYY-MM-DD`, nothing else.
/// [`parse_date`], with why not in both languages (forms and queries).
pub fn parse_date_text(s: &str) -> Result<Date, crate::i18n::Text> {
    parse_date(s).map_err(|e| {
        let zh = if e.0.ends_with("no such day") {
            format!("“{s}”不是有效日期（YYYY-MM-DD）：没有这一天")
        } else {
            format!("“{s}”不是日期（YYYY-MM-DD）")
        };
        crate::i18n::Text::new(zh, e.0)
    })
}

pub fn parse_date(s: &str) -> Result<Date, InvalidValue> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(InvalidValue(format!("'{s}' is not a date (YYYY-MM-DD)")));
    }
    match (digits(0..4), digits(5..7), digits(8..10)) {
        (Some(y), Some(m), Some(d)) => Date::from_ymd_opt(y as i32, m, d)
            .ok_or_else(|| InvalidValue(format!("'{s}' is not a valid date (YYYY-MM-DD): no such day"))),
        _ => Err(InvalidValue(format!("'{s}' is not a date (YYYY-MM-DD)"))),
    }
}

pub fn parse_bool(s: &str) -> Result<bool, InvalidValue> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(InvalidValue(format!("'{s}' is not a boolean (true or false)"))),
    }
}

pub fn parse_division(s: &str, city_only: bool) -> Result<u32, InvalidValue> {
    let code: u32 = s.parse().map_err(|_| InvalidValue(format!("'{s}' is not a division code")))?;
    match region::divisions().get(code) {
        None => Err(InvalidValue(format!("'{s}' is not a Shandong city or county division code"))),
        Some(d) if city_only && !d.is_city => {
            Err(InvalidValue(format!("'{s}' ({}) is a county; a city code is required", d.name)))
        }
        Some(_) => Ok(code),
    }
}

/// `;`-separated lists.
pub fn split_list(s: &str) -> Vec<String> {
    list_items(s).map(str::to_string).collect()
}

/// The items of a `;`-separated list (empty ones skipped).
fn list_items(s: &str) -> impl Iterator<Item = &str> {
    s.split(';').filter(|p| !p.is_empty())
}

fn text_col<'a>(name: &str, values: impl Iterator<Item = &'a str>) -> Column {
    Column::new(name.into(), values.collect::<Vec<_>>())
}

fn opt_text_col<'a>(name: &str, values: impl Iterator<Item = Option<&'a str>>) -> Column {
    Column::new(name.into(), values.collect::<Vec<_>>())
}

fn date_col(name: &str, values: impl Iterator<Item = Date>) -> Column {
    Column::new(name.into(), values.collect::<Vec<_>>())
}

fn opt_date_col(name: &str, values: impl Iterator<Item = Option<Date>>) -> Column {
    Column::new(name.into(), values.collect::<Vec<_>>())
}

fn bool_col(name: &str, values: impl Iterator<Item = bool>) -> Column {
    Column::new(name.into(), values.collect::<Vec<_>>())
}

fn owned_col(name: &str, values: impl Iterator<Item = String>) -> Column {
    Column::new(name.into(), values.collect::<Vec<_>>())
}

impl TableRow for MarketEntity {
    const TABLE: &'static str = "entities";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("uscc", T),
        req("name", T),
        req("entity_type", T),
        req("region", T),
        req("industry", T),
        req("registered_on", D),
        req("status", T),
        opt("key_fields", T),
        opt("new_economy", T),
    ];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            text_col("uscc", rows.iter().map(|r| r.uscc.as_str())),
            text_col("name", rows.iter().map(|r| r.name.as_str())),
            text_col("entity_type", rows.iter().map(|r| r.entity_type.as_str())),
            owned_col("region", rows.iter().map(|r| r.region.to_string())),
            text_col("industry", rows.iter().map(|r| r.industry.as_str())),
            date_col("registered_on", rows.iter().map(|r| r.registered_on)),
            text_col("status", rows.iter().map(|r| r.status.as_str())),
            Column::new(
                "key_fields".into(),
                rows.iter().map(|r| (!r.key_fields.is_empty()).then(|| r.key_fields.to_list())).collect::<Vec<_>>(),
            ),
            opt_text_col("new_economy", rows.iter().map(|r| r.new_economy.map(NewEconomy::as_str))),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let uscc = r.uscc("uscc");
        let name = r.text("name");
        let entity_type = r.code("entity_type");
        let region = r.division("region", false);
        let industry = r.req("industry", "invalid industry code", IndustryCode::parse);
        let registered_on = r.date("registered_on");
        let status = r.code("status");
        let key_fields = r.opt("key_fields", "invalid code", KeyFields::parse_list);
        let new_economy = r.opt_code("new_economy");
        Some(MarketEntity {
            uscc: uscc?,
            name: name?,
            entity_type: entity_type?,
            region: region?,
            industry: industry?,
            registered_on: registered_on?,
            status: status?,
            key_fields: key_fields?.unwrap_or_default(),
            new_economy: new_economy?,
        })
    }
}

impl TableRow for Person {
    const TABLE: &'static str = "persons";
    const COLUMNS: &'static [ColumnSpec] = &[req("person_id", T), req("region", T)];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            owned_col("person_id", rows.iter().map(|r| r.person_id.to_string())),
            owned_col("region", rows.iter().map(|r| r.region.to_string())),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let person_id = r.person("person_id");
        let region = r.division("region", false);
        Some(Person { person_id: person_id?, region: region? })
    }
}

impl TableRow for Role {
    const TABLE: &'static str = "roles";
    const COLUMNS: &'static [ColumnSpec] =
        &[req("uscc", T), req("person_id", T), req("role", T), req("since", D), opt("until", D)];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            text_col("uscc", rows.iter().map(|r| r.uscc.as_str())),
            owned_col("person_id", rows.iter().map(|r| r.person_id.to_string())),
            text_col("role", rows.iter().map(|r| r.role.as_str())),
            date_col("since", rows.iter().map(|r| r.since)),
            opt_date_col("until", rows.iter().map(|r| r.until)),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let uscc = r.uscc("uscc");
        let person_id = r.person("person_id");
        let role = r.code("role");
        let since = r.date("since");
        let until = r.opt_date("until");
        if let (Some(s), Some(Some(u))) = (since, until)
            && u < s
        {
            r.row_problem("until", "date order", format!("until {u} is before since {s}"));
            return None;
        }
        Some(Role { uscc: uscc?, person_id: person_id?, role: role?, since: since?, until: until? })
    }
}

impl TableRow for CreditEvaluation {
    const TABLE: &'static str = "evaluations";
    const COLUMNS: &'static [ColumnSpec] =
        &[req("uscc", T), req("kind", T), req("source", T), req("evaluated_on", D), req("grade", T)];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            text_col("uscc", rows.iter().map(|r| r.uscc.as_str())),
            text_col("kind", rows.iter().map(|r| r.kind.as_str())),
            text_col("source", rows.iter().map(|r| r.source.as_str())),
            date_col("evaluated_on", rows.iter().map(|r| r.evaluated_on)),
            text_col("grade", rows.iter().map(|r| r.grade.as_str())),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let uscc = r.uscc("uscc");
        let kind: Option<EvaluationKind> = r.code("kind");
        let source = r.short("source");
        let evaluated_on = r.date("evaluated_on");
        let grade = r.short("grade");
        if let (Some(k), Some(g)) = (kind, &grade)
            && !grade_scale(k).contains(&g.as_str())
        {
            r.row_problem(
                "grade",
                "invalid grade",
                format!("'{g}' is not a {k} grade ({})", grade_scale(k).join(", ")),
            );
            return None;
        }
        Some(CreditEvaluation { uscc: uscc?, kind: kind?, source: source?, evaluated_on: evaluated_on?, grade: grade? })
    }
}

impl TableRow for Penalty {
    const TABLE: &'static str = "penalties";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("decision_no", T),
        req("uscc", T),
        req("department", T),
        req("decided_on", D),
        req("severity", T),
        req("intentional", Bool),
        req("harmful", Bool),
        req("disclosure_until", D),
        opt("fulfilled_on", D),
    ];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            text_col("decision_no", rows.iter().map(|r| r.decision_no.as_str())),
            text_col("uscc", rows.iter().map(|r| r.uscc.as_str())),
            text_col("department", rows.iter().map(|r| r.department.as_str())),
            date_col("decided_on", rows.iter().map(|r| r.decided_on)),
            text_col("severity", rows.iter().map(|r| r.severity.as_str())),
            bool_col("intentional", rows.iter().map(|r| r.intentional)),
            bool_col("harmful", rows.iter().map(|r| r.harmful)),
            date_col("disclosure_until", rows.iter().map(|r| r.disclosure_until)),
            opt_date_col("fulfilled_on", rows.iter().map(|r| r.fulfilled_on)),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let decision_no = r.short("decision_no");
        let uscc = r.uscc("uscc");
        let department = r.short("department");
        let decided_on = r.date("decided_on");
        let severity = r.code("severity");
        let intentional = r.bool("intentional");
        let harmful = r.bool("harmful");
        let disclosure_until = r.date("disclosure_until");
        let fulfilled_on = r.opt_date("fulfilled_on");
        if let (Some(d), Some(u)) = (decided_on, disclosure_until)
            && u < d
        {
            r.row_problem("disclosure_until", "date order", format!("disclosure ends {u}, before the decision on {d}"));
            return None;
        }
        if let (Some(d), Some(Some(f))) = (decided_on, fulfilled_on)
            && f < d
        {
            r.row_problem("fulfilled_on", "date order", format!("fulfilled {f}, before the decision on {d}"));
            return None;
        }
        Some(Penalty {
            decision_no: decision_no?,
            uscc: uscc?,
            department: department?,
            decided_on: decided_on?,
            severity: severity?,
            intentional: intentional?,
            harmful: harmful?,
            disclosure_until: disclosure_until?,
            fulfilled_on: fulfilled_on?,
        })
    }
}

impl TableRow for AbnormalListing {
    const TABLE: &'static str = "abnormal_listings";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("listing_id", T),
        req("uscc", T),
        req("department", T),
        req("listed_on", D),
        req("reason", T),
        opt("removed_on", D),
    ];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            text_col("listing_id", rows.iter().map(|r| r.listing_id.as_str())),
            text_col("uscc", rows.iter().map(|r| r.uscc.as_str())),
            text_col("department", rows.iter().map(|r| r.department.as_str())),
            date_col("listed_on", rows.iter().map(|r| r.listed_on)),
            text_col("reason", rows.iter().map(|r| r.reason.as_str())),
            opt_date_col("removed_on", rows.iter().map(|r| r.removed_on)),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let listing_id = r.short("listing_id");
        let uscc = r.uscc("uscc");
        let department = r.short("department");
        let listed_on = r.date("listed_on");
        let reason = r.code("reason");
        let removed_on = r.opt_date("removed_on");
        if let (Some(l), Some(Some(x))) = (listed_on, removed_on)
            && x < l
        {
            r.row_problem("removed_on", "date order", format!("removed {x}, before being listed on {l}"));
            return None;
        }
        Some(AbnormalListing {
            listing_id: listing_id?,
            uscc: uscc?,
            department: department?,
            listed_on: listed_on?,
            reason: reason?,
            removed_on: removed_on?,
        })
    }
}

impl TableRow for Complaint {
    const TABLE: &'static str = "complaints";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("complaint_id", T),
        req("uscc", T),
        req("hotline", T),
        req("department", T),
        req("received_on", D),
        req("status", T),
        opt("concluded_on", D),
    ];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            text_col("complaint_id", rows.iter().map(|r| r.complaint_id.as_str())),
            text_col("uscc", rows.iter().map(|r| r.uscc.as_str())),
            text_col("hotline", rows.iter().map(|r| r.hotline.as_str())),
            text_col("department", rows.iter().map(|r| r.department.as_str())),
            date_col("received_on", rows.iter().map(|r| r.received_on)),
            text_col("status", rows.iter().map(|r| r.status.as_str())),
            opt_date_col("concluded_on", rows.iter().map(|r| r.concluded_on)),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let complaint_id = r.short("complaint_id");
        let uscc = r.uscc("uscc");
        let hotline = r.code("hotline");
        let department = r.short("department");
        let received_on = r.date("received_on");
        let status = r.code("status");
        let concluded_on = r.opt_date("concluded_on");
        match (status, concluded_on, received_on) {
            (Some(s), Some(None), _) if s != ComplaintStatus::Pending => {
                r.row_problem(
                    "concluded_on",
                    "missing value",
                    format!("a {s} complaint needs the date it was concluded"),
                );
                return None;
            }
            (_, Some(Some(c)), Some(rcv)) if c < rcv => {
                r.row_problem("concluded_on", "date order", format!("concluded {c}, before being received on {rcv}"));
                return None;
            }
            _ => {}
        }
        Some(Complaint {
            complaint_id: complaint_id?,
            uscc: uscc?,
            hotline: hotline?,
            department: department?,
            received_on: received_on?,
            status: status?,
            concluded_on: concluded_on?,
        })
    }
}

impl TableRow for Commitment {
    const TABLE: &'static str = "commitments";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("commitment_id", T),
        req("uscc", T),
        req("kind", T),
        req("made_on", D),
        req("subject", T),
        req("status", T),
        opt("checked_on", D),
        // Both optional, so datasets made before them stay valid.
        opt("department", T),
        opt("approval_item", T),
    ];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            text_col("commitment_id", rows.iter().map(|r| r.commitment_id.as_str())),
            text_col("uscc", rows.iter().map(|r| r.uscc.as_str())),
            text_col("kind", rows.iter().map(|r| r.kind.as_str())),
            date_col("made_on", rows.iter().map(|r| r.made_on)),
            text_col("subject", rows.iter().map(|r| r.subject.as_str())),
            text_col("status", rows.iter().map(|r| r.status.as_str())),
            opt_date_col("checked_on", rows.iter().map(|r| r.checked_on)),
            opt_text_col("department", rows.iter().map(|r| r.department.as_deref())),
            opt_text_col("approval_item", rows.iter().map(|r| r.approval_item.as_deref())),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let commitment_id = r.short("commitment_id");
        let uscc = r.uscc("uscc");
        let kind = r.code("kind");
        let made_on = r.date("made_on");
        let subject = r.short("subject");
        let status = r.code("status");
        let checked_on = r.opt_date("checked_on");
        let department = r.opt_short("department");
        let approval_item = r.opt_short("approval_item");
        match (status, checked_on, made_on) {
            (Some(s), Some(None), _) if s != CommitmentStatus::Pending => {
                r.row_problem("checked_on", "missing value", format!("a {s} commitment needs the date it was checked"));
                return None;
            }
            (_, Some(Some(c)), Some(m)) if c < m => {
                r.row_problem("checked_on", "date order", format!("checked {c}, before it was made on {m}"));
                return None;
            }
            _ => {}
        }
        Some(Commitment {
            commitment_id: commitment_id?,
            uscc: uscc?,
            kind: kind?,
            made_on: made_on?,
            subject: subject?,
            status: status?,
            checked_on: checked_on?,
            department: department?,
            approval_item: approval_item?,
        })
    }
}

impl TableRow for InspectionRecord {
    const TABLE: &'static str = "inspections";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("inspection_id", T),
        req("uscc", T),
        req("department", T),
        req("inspected_on", D),
        req("kind", T),
        req("result", T),
        opt("officers", T),
    ];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            text_col("inspection_id", rows.iter().map(|r| r.inspection_id.as_str())),
            text_col("uscc", rows.iter().map(|r| r.uscc.as_str())),
            text_col("department", rows.iter().map(|r| r.department.as_str())),
            date_col("inspected_on", rows.iter().map(|r| r.inspected_on)),
            text_col("kind", rows.iter().map(|r| r.kind.as_str())),
            text_col("result", rows.iter().map(|r| r.result.as_str())),
            owned_col("officers", rows.iter().map(|r| r.officers.join(";"))),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let inspection_id = r.short("inspection_id");
        let uscc = r.uscc("uscc");
        let department = r.short("department");
        let inspected_on = r.date("inspected_on");
        let kind = r.code("kind");
        let result = r.code("result");
        let officers = r.short_list("officers");
        Some(InspectionRecord {
            inspection_id: inspection_id?,
            uscc: uscc?,
            department: department?,
            inspected_on: inspected_on?,
            kind: kind?,
            result: result?,
            officers: officers?,
        })
    }
}

impl TableRow for RepairApplication {
    const TABLE: &'static str = "repairs";
    const COLUMNS: &'static [ColumnSpec] =
        &[req("repair_id", T), req("uscc", T), req("record_id", T), req("applied_on", D), opt("commitment_id", T)];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            text_col("repair_id", rows.iter().map(|r| r.repair_id.as_str())),
            text_col("uscc", rows.iter().map(|r| r.uscc.as_str())),
            text_col("record_id", rows.iter().map(|r| r.record_id.as_str())),
            date_col("applied_on", rows.iter().map(|r| r.applied_on)),
            opt_text_col("commitment_id", rows.iter().map(|r| r.commitment_id.as_deref())),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let repair_id = r.short("repair_id");
        let uscc = r.uscc("uscc");
        let record_id = r.short("record_id");
        let applied_on = r.date("applied_on");
        let commitment_id = r.opt_short("commitment_id");
        Some(RepairApplication {
            repair_id: repair_id?,
            uscc: uscc?,
            record_id: record_id?,
            applied_on: applied_on?,
            commitment_id: commitment_id?,
        })
    }
}

impl TableRow for Department {
    const TABLE: &'static str = "departments";
    const COLUMNS: &'static [ColumnSpec] = &[req("code", T), req("name", T)];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            text_col("code", rows.iter().map(|r| r.code.as_str())),
            text_col("name", rows.iter().map(|r| r.name.as_str())),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let code = r.text("code");
        let name = r.text("name");
        Some(Department { code: code?, name: name? })
    }
}

impl TableRow for InspectionItem {
    const TABLE: &'static str = "inspection_items";
    const COLUMNS: &'static [ColumnSpec] =
        &[req("item_code", T), req("department", T), req("name", T), req("industries", T), opt("key_field", T)];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            text_col("item_code", rows.iter().map(|r| r.item_code.as_str())),
            text_col("department", rows.iter().map(|r| r.department.as_str())),
            text_col("name", rows.iter().map(|r| r.name.as_str())),
            owned_col("industries", rows.iter().map(|r| r.industries.join(";"))),
            opt_text_col("key_field", rows.iter().map(|r| r.key_field.map(KeyField::as_str))),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let item_code = r.text("item_code");
        let department = r.text("department");
        let name = r.text("name");
        let industries = r.req("industries", "invalid industry prefix", parse_industry_prefixes);
        let key_field = r.opt_code("key_field");
        Some(InspectionItem {
            item_code: item_code?,
            department: department?,
            name: name?,
            industries: industries?,
            key_field: key_field?,
        })
    }
}

/// `*` or `;`-separated prefixes of GB/T 4754 codes (`C27`, `F5151`).
fn parse_industry_prefixes(s: &str) -> Result<Vec<String>, InvalidValue> {
    let list = split_list(s);
    for p in &list {
        let b = p.as_bytes();
        let ok = p == "*"
            || (!b.is_empty()
                && b.len() <= 5
                && crate::model::industry::SECTIONS.iter().any(|sec| sec.0 as u8 == b[0])
                && b[1..].iter().all(u8::is_ascii_digit));
        if !ok {
            return Err(InvalidValue(format!("'{p}' is not '*' or a GB/T 4754 prefix such as C27 or F5151")));
        }
    }
    if list.is_empty() {
        return Err(InvalidValue("no industries listed (use * for all)".into()));
    }
    Ok(list)
}

impl TableRow for Officer {
    const TABLE: &'static str = "officers";
    const COLUMNS: &'static [ColumnSpec] = &[
        req("officer_id", T),
        req("department", T),
        req("region", T),
        opt("qualifications", T),
        req("active", Bool),
        req("person_id", T),
    ];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            text_col("officer_id", rows.iter().map(|r| r.officer_id.as_str())),
            text_col("department", rows.iter().map(|r| r.department.as_str())),
            owned_col("region", rows.iter().map(|r| r.region.to_string())),
            owned_col("qualifications", rows.iter().map(|r| r.qualifications.join(";"))),
            bool_col("active", rows.iter().map(|r| r.active)),
            owned_col("person_id", rows.iter().map(|r| r.person_id.to_string())),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let officer_id = r.text("officer_id");
        let department = r.text("department");
        let region = r.division("region", false);
        let qualifications = r.list("qualifications");
        let active = r.bool("active");
        let person_id = r.person("person_id");
        Some(Officer {
            officer_id: officer_id?,
            department: department?,
            region: region?,
            qualifications: qualifications?,
            active: active?,
            person_id: person_id?,
        })
    }
}

impl TableRow for OfficerRelation {
    const TABLE: &'static str = "officer_relations";
    const COLUMNS: &'static [ColumnSpec] = &[req("officer_id", T), req("person_id", T), req("relation", T)];
    fn columns(rows: &[Self]) -> Vec<Column> {
        vec![
            text_col("officer_id", rows.iter().map(|r| r.officer_id.as_str())),
            owned_col("person_id", rows.iter().map(|r| r.person_id.to_string())),
            text_col("relation", rows.iter().map(|r| r.relation.as_str())),
        ]
    }
    fn parse(r: &mut RowReader<'_>) -> Option<Self> {
        let officer_id = r.text("officer_id");
        let person_id = r.person("person_id");
        let relation = r.code("relation");
        Some(OfficerRelation { officer_id: officer_id?, person_id: person_id?, relation: relation? })
    }
}

/// Every table of a dataset, in the order they are loaded and hashed.
pub const TABLES: &[(&str, &[ColumnSpec])] = &[
    (MarketEntity::TABLE, MarketEntity::COLUMNS),
    (Person::TABLE, Person::COLUMNS),
    (Role::TABLE, Role::COLUMNS),
    (CreditEvaluation::TABLE, CreditEvaluation::COLUMNS),
    (Penalty::TABLE, Penalty::COLUMNS),
    (AbnormalListing::TABLE, AbnormalListing::COLUMNS),
    (Complaint::TABLE, Complaint::COLUMNS),
    (Commitment::TABLE, Commitment::COLUMNS),
    (InspectionRecord::TABLE, InspectionRecord::COLUMNS),
    (RepairApplication::TABLE, RepairApplication::COLUMNS),
    (Department::TABLE, Department::COLUMNS),
    (InspectionItem::TABLE, InspectionItem::COLUMNS),
    (Officer::TABLE, Officer::COLUMNS),
    (OfficerRelation::TABLE, OfficerRelation::COLUMNS),
];

#[cfg(test)]
mod tests {
    use super::*;
    use polars_arrow::array::Utf8ViewArray;
    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The byte checks say what the character checks say, for any
        /// text: white space and control characters anywhere, of every
        /// width (the strategy mixes ASCII, C0/C1 controls, Unicode spaces,
        /// Chinese and any other character).
        #[test]
        fn text_checks_agree_with_the_character_checks(
            s in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::char::range('\u{0}', '\u{7f}'),
                    proptest::char::range('\u{80}', '\u{bf}'),
                    proptest::prelude::Just('\u{3000}'),
                    proptest::prelude::Just('\u{a0}'),
                    proptest::prelude::Just('\u{85}'),
                    proptest::char::range('\u{4e00}', '\u{4e20}'),
                    proptest::prelude::any::<char>(),
                ],
                0..12,
            ).prop_map(|v| v.into_iter().collect::<String>())
        ) {
            proptest::prop_assert_eq!(padded(&s), s.trim() != s, "{:?}", s);
            proptest::prop_assert_eq!(has_control(&s), s.chars().any(char::is_control), "{:?}", s);
        }
    }

    /// A cell is found by its column's name whatever the address of the
    /// name a parser passes (another codegen unit's literal may not be the
    /// table's), in any order, with the same name at two addresses, and
    /// again once found by address; a name of no column finds nothing.
    #[test]
    fn cells_are_found_by_name_at_any_address() {
        let arrays: Vec<Utf8ViewArray> = ["a", "b", "c"]
            .iter()
            .map(|c| Utf8ViewArray::from_slice_values([format!("{c}0"), format!("{c}1")]))
            .collect();
        let mut problems = Problems::default();
        let columns =
            vec![("a", Cells::Text(&arrays[0])), ("b", Cells::Text(&arrays[1])), ("c", Cells::Text(&arrays[2]))];
        let mut r = RowReader::new("t.csv", columns, 0, &mut problems);
        let elsewhere = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
        let (a, b, c) = (elsewhere("a"), elsewhere("b"), elsewhere("c"));
        assert!(!std::ptr::eq(a, "a"), "the test needs a name at another address");
        for order in [[a, b, c], [c, a, b], [b, b, a], ["c", "b", "a"], [a, "a", c], [c, c, c]] {
            for row in 0..2 {
                r.index = row;
                for col in order {
                    assert_eq!(r.raw(col), Some(format!("{col}{row}").as_str()), "{order:?} row {row}");
                }
                assert_eq!(r.raw("d"), None);
            }
        }
        // A name at an address once used for another column's name is still
        // told apart by its content (addresses are compared with lengths).
        let ab = elsewhere("ab");
        let (a_of_ab, b_of_ab): (&'static str, &'static str) = (&ab[..1], &ab[1..]);
        r.index = 1;
        assert_eq!(r.raw(a_of_ab), Some("a1"));
        assert_eq!(r.raw(b_of_ab), Some("b1"));
        assert_eq!(r.raw(ab), None);
    }
}
