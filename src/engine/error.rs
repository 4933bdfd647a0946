//! Rule errors that point at the rule: file, line and column, the line
//! itself with a caret, the entry and the entity being evaluated.

use std::fmt;

use crate::i18n::{Lang, Text};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuleError {
    /// File within the rule set, e.g. `tier.rhai` or `rules.toml`.
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    /// `message` in Chinese, when credo wrote it (a manifest's refusal);
    /// `None` for Rhai's and the rules' own texts, shown as written.
    #[serde(skip)]
    pub message_zh: Option<String>,
    /// The entry (stage) being evaluated, if any.
    pub entry: Option<String>,
    /// The entity being evaluated, if any.
    pub entity: Option<String>,
    /// The source line the position points at.
    pub source_line: Option<String>,
}

impl RuleError {
    pub fn at(file: &str, line: Option<usize>, column: Option<usize>, message: String) -> RuleError {
        RuleError {
            file: file.into(),
            line,
            column,
            message,
            message_zh: None,
            entry: None,
            entity: None,
            source_line: None,
        }
    }

    /// An error in credo's own words, in both languages.
    pub fn said(file: &str, line: Option<usize>, column: Option<usize>, message: Text) -> RuleError {
        let mut e = RuleError::at(file, line, column, message.en().to_string());
        e.message_zh = Some(message.zh().to_string());
        e
    }

    /// Attaches the text of the line the error points at.
    pub fn with_source(mut self, text: &str) -> RuleError {
        if let Some(l) = self.line {
            self.source_line = text.lines().nth(l.saturating_sub(1)).map(str::to_string);
        }
        self
    }

    pub fn location(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", self.file),
            (Some(l), None) => format!("{}:{l}", self.file),
            _ => self.file.clone(),
        }
    }
}

impl RuleError {
    /// What the user reads, in both languages: the place (file, line,
    /// column), the message (Rhai's or the rule's own, as written), the
    /// line with a caret, the rule and the entity.
    pub fn text(&self) -> Text {
        Text::new(self.render(Lang::Zh), self.render(Lang::En))
    }

    fn render(&self, lang: Lang) -> String {
        let zh = self.message_zh.as_deref().unwrap_or(&self.message);
        let mut f = match (lang, self.line, self.column) {
            (Lang::En, ..) => format!("{}: {}", self.location(), self.message),
            (Lang::Zh, Some(l), Some(c)) => format!("{}（第 {l} 行第 {c} 列）：{zh}", self.location()),
            (Lang::Zh, Some(l), None) => format!("{}（第 {l} 行）：{zh}", self.location()),
            (Lang::Zh, None, _) => format!("{}：{zh}", self.location()),
        };
        if let (Some(src), Some(line)) = (&self.source_line, self.line) {
            let gutter = line.to_string();
            f.push_str(&format!("\n{} |\n{gutter} | {src}", " ".repeat(gutter.len())));
            if let Some(col) = self.column {
                let pad: String =
                    src.chars().take(col.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
                f.push_str(&format!("\n{} | {pad}^", " ".repeat(gutter.len())));
            }
        }
        if let Some(entry) = &self.entry {
            f.push_str(&match (lang, &self.entity) {
                (Lang::En, None) => format!("\n  in rule `{entry}`"),
                (Lang::En, Some(e)) => format!("\n  in rule `{entry}` evaluating entity {e}"),
                (Lang::Zh, None) => format!("\n  出错的规则：`{entry}`"),
                (Lang::Zh, Some(e)) => format!("\n  出错的规则：`{entry}`，正在评估主体 {e}"),
            });
        }
        f
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

impl std::error::Error for RuleError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_position_line_and_caret() {
        let mut e = RuleError::at("tier.rhai", Some(2), Some(9), "Unknown property 'grade'".into())
            .with_source("fn tier(e) {\n    let g = e.grade;\n}");
        e.entry = Some("tier".into());
        e.entity = Some("914403001922038216".into());
        assert_eq!(
            e.to_string(),
            "tier.rhai:2:9: Unknown property 'grade'\n  |\n2 |     let g = e.grade;\n  |         ^\n  in rule `tier` evaluating entity 914403001922038216"
        );
        assert_eq!(
            e.text().zh(),
            "tier.rhai:2:9（第 2 行第 9 列）：Unknown property 'grade'\n  |\n2 |     let g = e.grade;\n  |         ^\n  出错的规则：`tier`，正在评估主体 914403001922038216"
        );
        assert_eq!(e.text().en(), e.to_string());
    }
}
