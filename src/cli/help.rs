//! The command line's help in the chosen language: clap derive's help is
//! static, so the built command tree gets its about and argument texts from
//! the catalogue (`i18n::help`) before parsing. The language comes from
//! `--lang` on the command line, else `CREDO_LANG`, else zh-CN.

use std::ffi::OsString;

use clap::Command;

use crate::i18n::Lang;
use crate::i18n::help::{headings, help};

/// The language asked for by `--lang X` / `--lang=X` (before a `--`),
/// else by `CREDO_LANG`; zh-CN when neither names a language credo
/// speaks (clap then reports a bad `--lang` value itself).
pub fn lang_of(args: &[OsString], env: Option<OsString>) -> Lang {
    let mut it = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--lang" {
            return it.next().and_then(|v| Lang::parse(&v).ok()).unwrap_or_default();
        }
        if let Some(v) = a.strip_prefix("--lang=") {
            return Lang::parse(v).unwrap_or_default();
        }
    }
    env.and_then(|v| Lang::parse(&v.to_string_lossy()).ok()).unwrap_or_default()
}

/// `cmd`, built, with every help text in `lang`. Keys the catalogue has no
/// entry for are passed to `missing` (the test collects them; at run time
/// the derive's English text stays).
pub fn localise(mut cmd: Command, lang: Lang, missing: &mut dyn FnMut(String)) -> Command {
    cmd.build();
    let path = cmd.get_name().to_string();
    walk(&mut cmd, &path, lang, missing);
    cmd
}

fn lookup(key: &str, shared: Option<&str>, lang: Lang, missing: &mut dyn FnMut(String)) -> Option<&'static str> {
    let found = help(key, lang).or_else(|| shared.and_then(|s| help(s, lang)));
    if found.is_none() {
        missing(key.to_string());
    }
    found
}

/// Localises `cmd`, known in the catalogue as `path`, and its subcommands.
fn walk(cmd: &mut Command, path: &str, lang: Lang, missing: &mut dyn FnMut(String)) {
    let is_help = cmd.get_name() == "help" && path.ends_with(" help");
    let about_key = if is_help { "* help" } else { path };
    let about = lookup(about_key, None, lang, missing);
    let h = headings(lang);
    let mut c = std::mem::take(cmd);
    if let Some(text) = about {
        c = c.about(text).long_about(None);
    }
    c = c.mut_args(|a| {
        let id = a.get_id().as_str().to_string();
        let key = format!("{path}:{id}");
        let shared = format!("*:{id}");
        let text = if a.is_global_set() || id == "help" || id == "version" {
            lookup(&shared, None, lang, missing)
        } else {
            lookup(&key, Some(&shared), lang, missing)
        };
        let mut a = match text {
            Some(t) => a.help(t).long_help(None),
            None => a,
        };
        if lang == Lang::Zh && a.get_help_heading().is_none() {
            let heading = if a.is_positional() { h.arguments } else { h.options };
            a = a.help_heading(heading);
        }
        a
    });
    if lang == Lang::Zh {
        c = c.subcommand_help_heading(h.commands).help_template(format!(
            "{{before-help}}{{about-with-newline}}\n{} {{usage}}\n\n{{all-args}}{{after-help}}",
            h.usage
        ));
    }
    *cmd = c;
    // The copies of the tree under a `help` subcommand are named like the
    // commands they stand for.
    let prefix = if is_help { path.strip_suffix(" help").unwrap_or(path).to_string() } else { path.to_string() };
    for sub in cmd.get_subcommands_mut() {
        let sub_path = format!("{prefix} {}", sub.get_name());
        walk(sub, &sub_path, lang, missing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_and_argument_has_help_in_both_languages() {
        let mut used = std::collections::BTreeSet::new();
        for lang in [Lang::Zh, Lang::En] {
            let mut missing = Vec::new();
            let cmd = localise(super::super::Cli::command(), lang, &mut |k| missing.push(k));
            missing.sort();
            missing.dedup();
            assert!(missing.is_empty(), "{lang}: no help text for {missing:#?}");
            collect(&cmd, &mut used);
        }
        for (key, zh, en) in crate::i18n::help::HELP {
            assert!(!zh.is_empty() && !en.is_empty(), "{key}");
            assert!(zh.chars().any(|c| c as u32 >= 0x4E00), "{key}: the zh-CN text has no Chinese: {zh}");
            assert!(used.contains(*zh) && used.contains(*en), "{key}: an entry no command or argument uses");
        }
    }

    #[test]
    fn a_new_argument_without_a_catalogue_entry_is_reported() {
        let cmd =
            Command::new("credo").subcommand(Command::new("draw").arg(clap::Arg::new("brand_new").long("brand-new")));
        let mut missing = Vec::new();
        localise(cmd, Lang::Zh, &mut |k| missing.push(k));
        assert!(missing.contains(&"credo draw:brand_new".to_string()), "{missing:?}");
    }

    /// Every about and help text in the tree.
    fn collect(cmd: &Command, used: &mut std::collections::BTreeSet<String>) {
        if let Some(a) = cmd.get_about() {
            used.insert(a.to_string());
        }
        for a in cmd.get_arguments() {
            if let Some(h) = a.get_help() {
                used.insert(h.to_string());
            }
        }
        for s in cmd.get_subcommands() {
            collect(s, used);
        }
    }

    #[test]
    fn the_language_comes_from_the_command_line_then_the_environment() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(lang_of(&args(&["credo", "--help"]), None), Lang::Zh);
        assert_eq!(lang_of(&args(&["credo", "draw", "--lang", "en", "--help"]), None), Lang::En);
        assert_eq!(lang_of(&args(&["credo", "--lang=en"]), Some("zh".into())), Lang::En);
        assert_eq!(lang_of(&args(&["credo", "--lang", "zh-CN"]), Some("en".into())), Lang::Zh);
        assert_eq!(lang_of(&args(&["credo", "--help"]), Some("en".into())), Lang::En);
        assert_eq!(lang_of(&args(&["credo", "--", "--lang", "en"]), None), Lang::Zh);
        assert_eq!(lang_of(&args(&["credo", "--lang", "fr"]), Some("en".into())), Lang::Zh);
    }
}
