//! clap's parse errors (an unknown argument, a missing one, a bad value …)
//! in the chosen language. clap writes them in English only, so in Chinese
//! they are rendered here from the error's kind and context, keeping the
//! offending argument and value, clap's suggestions and the usage line.
//! English keeps clap's own text; help and version output are untouched.

use clap::error::{ContextKind, ContextValue, ErrorKind};

use crate::i18n::Lang;
use crate::i18n::help::headings;

/// The Chinese text of a parse error, or `None` when clap's own output
/// should be printed (English, help, version, an error without context).
pub fn render(e: &clap::Error, lang: Lang) -> Option<String> {
    if lang == Lang::En {
        return None;
    }
    let message = message(e)?;
    let mut out = format!("错误：{message}");
    let mut tips = Vec::new();
    for (kind, what) in [
        (ContextKind::SuggestedSubcommand, "子命令"),
        (ContextKind::SuggestedArg, "参数"),
        (ContextKind::SuggestedValue, "取值"),
    ] {
        match e.get(kind) {
            Some(ContextValue::String(s)) => tips.push(format!("存在相近的{what}：'{s}'")),
            Some(ContextValue::Strings(v)) if !v.is_empty() => {
                let names: Vec<String> = v.iter().map(|s| format!("'{s}'")).collect();
                tips.push(format!("存在相近的{what}：{}", names.join("、")));
            }
            _ => {}
        }
    }
    if let Some(ContextValue::StyledStrs(v)) = e.get(ContextKind::Suggested) {
        tips.extend(v.iter().map(|s| suggestion(&s.to_string())));
    }
    if !tips.is_empty() {
        out.push('\n');
        for t in tips {
            out.push_str(&format!("\n  提示：{t}"));
        }
    }
    if let Some(ContextValue::StyledStr(usage)) = e.get(ContextKind::Usage) {
        let usage = usage.to_string();
        let usage =
            usage.strip_prefix("Usage:").map_or(usage.clone(), |rest| format!("{}{rest}", headings(lang).usage));
        out.push_str(&format!("\n\n{usage}"));
    }
    out.push_str("\n\n更多信息请运行 '--help'。\n");
    Some(out)
}

fn string(e: &clap::Error, kind: ContextKind) -> Option<&str> {
    match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s),
        _ => None,
    }
}

fn number(e: &clap::Error, kind: ContextKind) -> Option<isize> {
    match e.get(kind) {
        Some(ContextValue::Number(n)) => Some(*n),
        _ => None,
    }
}

/// `[可选值：a、b]` after a message, when clap lists the valid values.
fn values_list(e: &clap::Error, kind: ContextKind, name: &str) -> String {
    match e.get(kind) {
        Some(ContextValue::Strings(v)) if !v.is_empty() => format!("\n  [{name}：{}]", v.join("、")),
        _ => String::new(),
    }
}

/// The first sentence, in Chinese, from the kind and context; `None` for
/// kinds that are not errors (help, version) or lack their context.
fn message(e: &clap::Error) -> Option<String> {
    let arg = string(e, ContextKind::InvalidArg);
    let value = string(e, ContextKind::InvalidValue);
    Some(match e.kind() {
        ErrorKind::UnknownArgument => format!("无法识别的参数 '{}'", arg?),
        ErrorKind::InvalidSubcommand => format!("无法识别的子命令 '{}'", string(e, ContextKind::InvalidSubcommand)?),
        ErrorKind::MissingSubcommand => format!(
            "'{}' 需要一个子命令，但未给出{}",
            string(e, ContextKind::InvalidSubcommand)?,
            values_list(e, ContextKind::ValidSubcommand, "子命令")
        ),
        ErrorKind::MissingRequiredArgument => match e.get(ContextKind::InvalidArg) {
            Some(ContextValue::Strings(v)) => {
                let list: String = v.iter().map(|a| format!("\n  {a}")).collect();
                format!("缺少以下必需参数：{list}")
            }
            _ => return None,
        },
        ErrorKind::InvalidValue => {
            let (arg, value) = (arg?, value?);
            let head = if value.is_empty() {
                format!("参数 '{arg}' 需要一个值，但未给出")
            } else {
                format!("参数 '{arg}' 的值 '{value}' 无效")
            };
            format!("{head}{}", values_list(e, ContextKind::ValidValue, "可选值"))
        }
        ErrorKind::ValueValidation => {
            let (arg, value) = (arg?, value?);
            let why = std::error::Error::source(e).map(source_reason);
            match why {
                Some(why) => format!("参数 '{arg}' 的值 '{value}' 无效：{why}"),
                None => format!("参数 '{arg}' 的值 '{value}' 无效"),
            }
        }
        ErrorKind::TooManyValues => format!("参数 '{}' 多出了值 '{}'，不再需要更多的值", arg?, value?),
        ErrorKind::TooFewValues => format!(
            "参数 '{}' 至少需要 {} 个值，只给出了 {} 个",
            arg?,
            number(e, ContextKind::MinValues)?,
            number(e, ContextKind::ActualNumValues)?
        ),
        ErrorKind::WrongNumberOfValues => format!(
            "参数 '{}' 需要 {} 个值，但给出了 {} 个",
            arg?,
            number(e, ContextKind::ExpectedNumValues)?,
            number(e, ContextKind::ActualNumValues)?
        ),
        ErrorKind::ArgumentConflict => {
            let prior = match e.get(ContextKind::PriorArg) {
                Some(ContextValue::String(p)) => Some(format!("'{p}'")),
                Some(ContextValue::Strings(v)) => {
                    Some(v.iter().map(|p| format!("'{p}'")).collect::<Vec<_>>().join("、"))
                }
                _ => None,
            };
            match (arg, string(e, ContextKind::InvalidSubcommand), prior) {
                (Some(a), _, Some(p)) if p == format!("'{a}'") => format!("参数 '{a}' 不能重复使用"),
                (Some(a), _, Some(p)) => format!("参数 '{a}' 不能与 {p} 同时使用"),
                (Some(a), _, None) => format!("参数 '{a}' 不能与其他已给出的参数同时使用"),
                (None, Some(s), Some(p)) => format!("子命令 '{s}' 不能与 {p} 同时使用"),
                _ => "给出的参数相互冲突".to_string(),
            }
        }
        ErrorKind::NoEquals => format!("给参数 '{}' 赋值时需要等号", arg?),
        ErrorKind::InvalidUtf8 => "参数不是有效的 UTF-8".to_string(),
        _ => return None,
    })
}

/// Why a value parser refused a value, in Chinese where the error type is
/// known; other parsers' messages as they are.
fn source_reason(source: &(dyn std::error::Error + 'static)) -> String {
    use std::num::IntErrorKind;
    if let Some(e) = source.downcast_ref::<crate::i18n::UnknownLang>() {
        return format!("未知语言 '{}'：请用 zh-CN（默认）或 en", e.0);
    }
    if let Some(e) = source.downcast_ref::<crate::ops::memory::SizeError>() {
        return e.text().zh().to_string();
    }
    if let Some(e) = source.downcast_ref::<std::num::ParseIntError>() {
        return match e.kind() {
            IntErrorKind::Empty => "值为空".to_string(),
            IntErrorKind::InvalidDigit => "不是有效的整数".to_string(),
            IntErrorKind::PosOverflow => "数值过大".to_string(),
            IntErrorKind::NegOverflow => "数值过小".to_string(),
            _ => e.to_string(),
        };
    }
    if source.downcast_ref::<std::num::ParseFloatError>().is_some() {
        return "不是有效的数字".to_string();
    }
    if let Some(e) = source.downcast_ref::<chrono::ParseError>() {
        use chrono::format::ParseErrorKind as K;
        let why = match e.kind() {
            K::OutOfRange => "日期超出范围",
            K::Impossible | K::NotEnough => "不存在这样的日期",
            K::Invalid => "含有无效字符",
            K::TooShort => "输入过早结束",
            K::TooLong => "末尾有多余的字符",
            _ => "格式不对",
        };
        return format!("不是有效的日期（YYYY-MM-DD）：{why}");
    }
    source.to_string()
}

/// clap's tips (`to pass 'x' as a value, use '-- x'`, …) in Chinese; a
/// tip not recognised stays as clap wrote it.
fn suggestion(tip: &str) -> String {
    let quoted: Vec<&str> = tip.split('\'').skip(1).step_by(2).collect();
    if tip.starts_with("to pass '") && quoted.len() == 2 {
        format!("若要把 '{}' 作为值传入，请用 '{}'", quoted[0], quoted[1])
    } else if tip.starts_with("subcommand '") && quoted.len() == 2 {
        format!("子命令 '{}' 存在；要使用它，请去掉它前面的 '{}'", quoted[0], quoted[1])
    } else if tip.ends_with("' exists") && quoted.len() == 1 {
        format!("存在 '{}'", quoted[0])
    } else {
        tip.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, Command};

    fn cmd() -> Command {
        Command::new("credo")
            .arg(Arg::new("ratio").long("ratio").value_parser(clap::value_parser!(f64)))
            .arg(Arg::new("mode").long("mode").value_parser(["probability", "quota"]))
            .arg(Arg::new("data").long("data").required(true))
    }

    fn zh(args: &[&str]) -> String {
        let e = cmd().try_get_matches_from(args).unwrap_err();
        render(&e, Lang::Zh).expect("a Chinese rendering")
    }

    #[test]
    fn parse_errors_in_chinese_keep_the_argument_value_and_usage() {
        let out = zh(&["credo", "--data", "d", "--ratoi", "0.1"]);
        assert!(out.starts_with("错误：无法识别的参数 '--ratoi'"), "{out}");
        assert!(out.contains("提示：存在相近的参数：'--ratio'"), "{out}");
        assert!(out.contains("用法： credo") && out.ends_with("更多信息请运行 '--help'。\n"), "{out}");
        let out = zh(&["credo", "--data", "d", "--mode", "fast"]);
        assert!(
            out.starts_with("错误：参数 '--mode <mode>' 的值 'fast' 无效\n  [可选值：probability、quota]"),
            "{out}"
        );
        let out = zh(&["credo", "--data", "d", "--ratio", "x"]);
        assert!(out.starts_with("错误：参数 '--ratio <ratio>' 的值 'x' 无效：不是有效的数字"), "{out}");
        let out = zh(&["credo"]);
        assert!(out.starts_with("错误：缺少以下必需参数：\n  --data <data>"), "{out}");
    }

    #[test]
    fn english_help_and_version_keep_clap_s_output() {
        let e = cmd().try_get_matches_from(["credo", "--nope"]).unwrap_err();
        assert_eq!(render(&e, Lang::En), None);
        let e = cmd().try_get_matches_from(["credo", "--help"]).unwrap_err();
        assert_eq!(render(&e, Lang::Zh), None);
    }

    #[test]
    fn tips_are_translated_or_kept() {
        assert_eq!(suggestion("to pass '-x' as a value, use '-- -x'"), "若要把 '-x' 作为值传入，请用 '-- -x'");
        assert_eq!(suggestion("'draw --plan' exists"), "存在 'draw --plan'");
        assert_eq!(suggestion("something new"), "something new");
    }
}
