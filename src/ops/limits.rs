//! Bounds on everything a client sends: every string and list has a
//! maximum (the OpenAPI schema states the same numbers), dates lie in a
//! sane range, and results are not dated in the future. The API and the
//! CLI check through here, so both refuse the same input the same way.

use super::{OpsError, Result};
use crate::i18n::Text;
use crate::model::Date;
use crate::tr;

/// Plan names, token labels.
pub const NAME: usize = 200;
pub const LABEL: usize = 100;
/// Officers' notes on a result.
pub const NOTES: usize = 2000;
/// A cancellation reason.
pub const REASON: usize = 500;
/// Who publishes the beacon, what and where.
pub const BEACON_SOURCE: usize = 300;
/// A published beacon value, as supplied.
pub const BEACON_VALUE: usize = 200;
/// Department codes, officer ids, result words, RFC 3339 times.
pub const CODE: usize = 64;
/// Hex of a secret or commitment (32 bytes).
pub const HEX32: usize = 64;
/// An audit subject filter.
pub const SUBJECT: usize = 200;
/// Departments of one plan.
pub const DEPARTMENTS: usize = 16;
/// Files of an uploaded rule set, and the length of their paths.
pub const RULE_FILES: usize = 64;
pub const RULE_PATH: usize = 128;
/// Sample entities per migration cell of a rule diff.
pub const SAMPLES: u64 = 50;
/// Days a token may live.
pub const TOKEN_DAYS: u32 = 3650;

/// Dates outside this range are refused as typing mistakes.
pub fn earliest_date() -> Date {
    Date::from_ymd_opt(1990, 1, 1).expect("a valid date")
}
pub fn latest_date() -> Date {
    Date::from_ymd_opt(2100, 12, 31).expect("a valid date")
}

/// A field refused: its name and why.
pub fn field(name: &str, reason: impl Into<Text>) -> OpsError {
    OpsError::Field { field: name.to_string(), reason: reason.into() }
}

/// At most `max` characters.
pub fn text(name: &str, value: &str, max: usize) -> Result<()> {
    let n = value.chars().count();
    if n > max {
        Err(field(name, tr!("{n} 个字符；最多允许 {max} 个", "{n} characters; at most {max} are allowed")))
    } else {
        Ok(())
    }
}

/// Not empty (after trimming) and at most `max` characters.
pub fn required_text(name: &str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(field(name, tr!("不能为空", "must not be empty")));
    }
    text(name, value, max)
}

/// At most `max` items, none repeated, each at most `item_max` characters.
pub fn list(name: &str, values: &[String], max: usize, item_max: usize) -> Result<()> {
    if values.len() > max {
        let n = values.len();
        return Err(field(name, tr!("{n} 项；最多允许 {max} 项", "{n} items; at most {max} are allowed")));
    }
    let mut seen = std::collections::BTreeSet::new();
    for v in values {
        text(name, v, item_max)?;
        if !seen.insert(v.as_str()) {
            return Err(field(name, tr!("“{v}”重复列出", "'{v}' is listed twice")));
        }
    }
    Ok(())
}

/// Within [`earliest_date`] and [`latest_date`].
pub fn date(name: &str, d: Date) -> Result<()> {
    if d < earliest_date() || d > latest_date() {
        let (from, to) = (earliest_date(), latest_date());
        return Err(field(name, tr!("{d} 不在 {from} 至 {to} 之间", "{d} is outside {from} to {to}")));
    }
    Ok(())
}

/// A sane date that is not after `today`.
pub fn past_date(name: &str, d: Date, today: Date) -> Result<()> {
    date(name, d)?;
    if d > today {
        return Err(field(name, tr!("{d} 是将来的日期（今天是 {today}）", "{d} is in the future (today is {today})")));
    }
    Ok(())
}

/// An RFC 3339 time with a sane date.
pub fn time(name: &str, value: &str) -> Result<chrono::DateTime<chrono::FixedOffset>> {
    text(name, value, CODE)?;
    let t = chrono::DateTime::parse_from_rfc3339(value).map_err(|e| {
        field(
            name,
            tr!(
                "“{value}”不是 RFC 3339 时间（如 2026-07-01T09:00:00+08:00）：{e}",
                "'{value}' is not RFC 3339 (e.g. 2026-07-01T09:00:00+08:00): {e}"
            ),
        )
    })?;
    date(name, t.date_naive())?;
    Ok(t)
}

/// Today in China (UTC+8), the calendar inspection dates are written in.
pub fn today() -> Date {
    let china = chrono::FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    chrono::Utc::now().with_timezone(&china).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_name_the_field_and_the_reason() {
        assert!(text("name", &"x".repeat(200), NAME).is_ok());
        let e = text("name", &"x".repeat(201), NAME).unwrap_err().to_string();
        assert!(e.contains("name") && e.contains("201 characters"), "{e}");
        let e = list("departments", &["MR".into(), "MR".into()], 16, 16).unwrap_err().to_string();
        assert!(e.contains("listed twice"), "{e}");
        let zh = list("departments", &["MR".into(), "MR".into()], 16, 16).unwrap_err().text();
        assert_eq!(zh.get(crate::i18n::Lang::Zh), "departments：“MR”重复列出");
        let today = Date::from_ymd_opt(2026, 7, 1).unwrap();
        assert!(past_date("inspected_on", Date::from_ymd_opt(2099, 12, 31).unwrap(), today).is_err());
        assert!(past_date("inspected_on", today, today).is_ok());
        assert!(date("as_of", Date::from_ymd_opt(1000, 1, 1).unwrap()).is_err());
        assert!(required_text("reason", "  ", REASON).is_err());
    }
}
