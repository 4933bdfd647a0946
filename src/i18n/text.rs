//! A text in both languages, for messages made where the reader's language
//! is not known yet: errors raised in `ops`, `store` or `data` travel with
//! both forms and the front end (CLI, API, console) picks one.

use std::fmt;

use super::Lang;

/// A message in zh-CN and en. `Display` shows the English form (logs,
/// `to_string`); readers get [`Text::get`] in their language.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Text {
    zh: String,
    en: String,
}

impl Text {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Text {
        Text { zh: zh.into(), en: en.into() }
    }

    /// A text with one form, shown as is in both languages: a value that
    /// comes from elsewhere (a path, an operating-system or parser message,
    /// a message of a module whose texts are not translated yet).
    pub fn same(s: impl Into<String>) -> Text {
        let s = s.into();
        Text { zh: s.clone(), en: s }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }

    pub fn zh(&self) -> &str {
        &self.zh
    }

    pub fn en(&self) -> &str {
        &self.en
    }

    /// Both forms rewritten by `f`, which is told the language.
    pub fn map(&self, f: impl Fn(Lang, &str) -> String) -> Text {
        Text { zh: f(Lang::Zh, &self.zh), en: f(Lang::En, &self.en) }
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.en)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::same(s)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::same(s)
    }
}

/// A [`Text`] from two format strings over the same arguments:
/// `tr!("计划 {id}", "plan {id}")`, `tr!("{} 条", "{} rows", n)`.
#[macro_export]
macro_rules! tr {
    ($zh:literal, $en:literal $(,)?) => {
        $crate::i18n::Text::new(format!($zh), format!($en))
    };
    ($zh:literal, $en:literal, $($arg:tt)*) => {
        $crate::i18n::Text::new(format!($zh, $($arg)*), format!($en, $($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_and_english_display() {
        let plan = 3;
        let t = crate::tr!("计划 {plan}", "plan {plan}");
        assert_eq!(t.get(Lang::Zh), "计划 3");
        assert_eq!(t.get(Lang::En), "plan 3");
        assert_eq!(t.to_string(), "plan 3");
        assert_eq!(Text::from("x").get(Lang::Zh), "x");
    }
}
