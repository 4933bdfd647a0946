//! Problems found in a dataset, and how they are reported: every one named
//! by file, row and column, grouped and counted when there are many.

use std::collections::BTreeMap;
use std::fmt::{self, Write};

use crate::i18n::Lang;

/// One thing wrong with one cell, row, file or reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Problem {
    pub file: String,
    /// 1-based data row (the header is row 0); `None` for file-level problems.
    pub row: Option<usize>,
    /// The line in a text file when it is not `row + 1` (blank lines or
    /// quoted newlines before it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub column: Option<String>,
    /// A short stable category used for grouping, e.g. "invalid credit code".
    pub kind: String,
    /// The full reason, naming the offending value.
    pub reason: String,
}

impl Problem {
    pub fn file(file: &str, kind: &str, reason: impl Into<String>) -> Problem {
        Problem { file: file.into(), row: None, line: None, column: None, kind: kind.into(), reason: reason.into() }
    }

    pub fn cell(file: &str, row: usize, column: &str, kind: &str, reason: impl Into<String>) -> Problem {
        Problem {
            file: file.into(),
            row: Some(row),
            line: None,
            column: Some(column.into()),
            kind: kind.into(),
            reason: reason.into(),
        }
    }
}

impl Problem {
    /// The problem in `lang`: in Chinese, where (file, row, line, column)
    /// and what kind of problem in words, then the reason; file and column
    /// names keep their form.
    pub fn render(&self, lang: Lang) -> String {
        match lang {
            Lang::En => self.to_string(),
            Lang::Zh => {
                let mut out = self.file.clone();
                if let Some(row) = self.row {
                    let _ = write!(out, " 第 {row} 行（文本第 {} 行）", self.line.unwrap_or(row + 1));
                }
                if let Some(col) = &self.column {
                    let _ = write!(out, " {col} 列");
                }
                let kind = crate::i18n::problem_kind(&self.kind, Lang::Zh);
                match crate::i18n::problem_reason_zh(&self.reason) {
                    Some(reason) => {
                        let _ = write!(out, "：{reason}");
                    }
                    None => {
                        let _ = write!(out, "：{kind}：{}", self.reason);
                    }
                }
                out
            }
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(row) = self.row {
            // Row r of data sits on line r + 1, after the header.
            write!(f, " row {row} (line {})", self.line.unwrap_or(row + 1))?;
        }
        if let Some(col) = &self.column {
            write!(f, " column {col}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// All problems of a dataset, in file, row and column order.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, p: Problem) {
        self.0.push(p);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn sort(&mut self) {
        self.0.sort();
    }

    /// Every problem on its own line when there are at most `limit`;
    /// otherwise grouped by file, column and kind with a count and the
    /// first few rows of each group.
    pub fn render(&self, limit: usize) -> String {
        self.render_in(limit, Lang::En)
    }

    /// [`Problems::render`] in `lang`.
    pub fn render_in(&self, limit: usize, lang: Lang) -> String {
        let zh = lang == Lang::Zh;
        let mut out = String::new();
        if self.0.len() <= limit {
            for p in &self.0 {
                let _ = writeln!(out, "{}", p.render(lang));
            }
        } else {
            let mut groups: BTreeMap<(&str, Option<&str>, &str), Vec<&Problem>> = BTreeMap::new();
            for p in &self.0 {
                groups.entry((&p.file, p.column.as_deref(), &p.kind)).or_default().push(p);
            }
            for ((file, column, kind), ps) in groups {
                let n = ps.len();
                if zh {
                    let col = column.map(|c| format!(" {c} 列")).unwrap_or_default();
                    let kind = crate::i18n::problem_kind(kind, lang);
                    let _ = writeln!(out, "{file}{col}：{kind}：{n} 行");
                } else {
                    let col = column.map(|c| format!(" column {c}")).unwrap_or_default();
                    let _ = writeln!(out, "{file}{col}: {kind}: {n} row(s)");
                }
                for p in ps.iter().take(5) {
                    let _ = writeln!(out, "    {}", p.render(lang));
                }
                if n > 5 {
                    let more = n - 5;
                    let _ = if zh {
                        writeln!(out, "    …… 另有 {more} 处")
                    } else {
                        writeln!(out, "    ... and {more} more")
                    };
                }
            }
        }
        let n = self.0.len();
        let _ = if zh { write!(out, "共 {n} 个问题") } else { write!(out, "{n} problem(s)") };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_or_grouped() {
        let mut ps = Problems::default();
        for row in 1..=8 {
            ps.push(Problem::cell("entities.csv", row, "uscc", "invalid credit code", format!("bad code {row}")));
        }
        let each = ps.render(100);
        assert!(each.contains("entities.csv row 3 (line 4) column uscc: bad code 3"));
        let grouped = ps.render(4);
        assert!(grouped.contains("entities.csv column uscc: invalid credit code: 8 row(s)"));
        assert!(grouped.contains("... and 3 more"));
        assert!(grouped.ends_with("8 problem(s)"));
        let zh = ps.render_in(100, Lang::Zh);
        assert!(zh.contains("entities.csv 第 3 行（文本第 4 行） uscc 列：统一社会信用代码无效：bad code 3"), "{zh}");
        assert!(ps.render_in(4, Lang::Zh).ends_with("共 8 个问题"));
        let missing = Problem::cell("roles.csv", 2, "since", "missing value", "required value is missing");
        assert_eq!(missing.render(Lang::Zh), "roles.csv 第 2 行（文本第 3 行） since 列：缺少必填值");
    }
}
