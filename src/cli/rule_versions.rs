//! `credo rules versions add | list`, and which rule set a `credo
//! classify --rule-version` run uses: rule versions stored in the store,
//! with effective dates (a rule change scheduled ahead of time).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::{CliError, Outcome};
use crate::engine::{RuleSet, RuleSource};
use crate::model::Date;
use crate::model::access::Principal;
use crate::ops::rule_versions::{self as ops, RuleChoice};
use crate::store::Store;
use crate::tr;

#[derive(Subcommand)]
pub enum VersionsCommand {
    /// Store a rule set directory as a version; optionally schedule it
    /// (in force from --from, until the day before --until) or make it
    /// the active version (used when none is scheduled for a date).
    Add {
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        /// In force from this day (e.g. 2027-01-01).
        #[arg(long)]
        from: Option<Date>,
        /// In force until the day before this one.
        #[arg(long, requires = "from")]
        until: Option<Date>,
        #[arg(long)]
        activate: bool,
    },
    /// Schedule a stored version.
    Schedule {
        id: i64,
        #[arg(long)]
        from: Date,
        #[arg(long)]
        until: Option<Date>,
    },
    /// Stored versions with their effective periods, and which one is in
    /// force on a date.
    List {
        #[arg(long)]
        on: Option<Date>,
    },
}

pub fn run(cmd: VersionsCommand, store: &Path, lang: crate::i18n::Lang) -> Result<Outcome, CliError> {
    let store = Store::open(store)?;
    let operator = Principal::operator("cli");
    match cmd {
        VersionsCommand::Add { rules, from, until, activate } => {
            let rs = super::classify::load_rules(&rules)?;
            let files = serde_json::to_value(&rs.source().files)?;
            let (id, created) = store.add_rule_version(rs.hash(), &rs.label(), &files, "cli")?;
            let (label, hash) = (rs.label(), rs.hash());
            if created {
                say!(lang, "规则版本 {id}：{label} {hash}", "rule version {id}: {label} {hash}");
            } else {
                say!(
                    lang,
                    "规则版本 {id}：{label} {hash}（已存储）",
                    "rule version {id}: {label} {hash} (already stored)"
                );
            }
            if let Some(from) = from {
                let v = ops::schedule(&store, &operator, id, from, until)?;
                let from = v.effective_from.unwrap_or_default();
                match v.effective_until {
                    Some(u) => say!(
                        lang,
                        "  自 {from} 起生效，至 {u} 止（不含）",
                        "  in force from {from} until {u} (exclusive)"
                    ),
                    None => say!(lang, "  自 {from} 起生效", "  in force from {from}"),
                }
            }
            if activate {
                store.activate_rules(id, "cli")?;
                say!(lang, "  已启用", "  active");
            }
        }
        VersionsCommand::Schedule { id, from, until } => {
            let v = ops::schedule(&store, &operator, id, from, until)?;
            let from = v.effective_from.unwrap_or_default();
            say!(lang, "规则版本 {id}：自 {from} 起生效", "rule version {id}: in force from {from}");
        }
        VersionsCommand::List { on } => {
            for v in store.rule_schedule()? {
                println!(
                    "{:>4}  {:<28} {}  {}{}{}",
                    v.id,
                    v.label,
                    &v.hash,
                    v.effective_from.as_deref().map(|f| from_word(f, lang)).unwrap_or_default(),
                    v.effective_until.as_deref().map(|u| until_word(u, lang)).unwrap_or_default(),
                    match (v.active, lang) {
                        (false, _) => "",
                        (true, crate::i18n::Lang::Zh) => "当前启用",
                        (true, crate::i18n::Lang::En) => "active",
                    }
                );
            }
            if let Some(on) = on {
                let (id, why) = ops::resolve(&store, on, None)?;
                match lang {
                    crate::i18n::Lang::Zh => {
                        println!("{on}：规则版本 {id}，{}", super::classify::choice_zh(&why))
                    }
                    crate::i18n::Lang::En => println!("on {on}: rule version {id}, {why}"),
                }
            }
        }
    }
    Ok(Outcome::Ok)
}

/// The rule set of a run: `--rule-version` (a stored version's id, or
/// `in-force`: the one in force on the as-of date) or the directory.
pub fn rules_for_run(
    store: &Store,
    dir: &Path,
    version: Option<&str>,
    as_of: Date,
) -> Result<(RuleSet, Option<i64>, RuleChoice), CliError> {
    let Some(v) = version else {
        let rules = super::classify::load_rules(dir)?;
        return Ok((rules, None, RuleChoice::Directory(dir.display().to_string())));
    };
    let named = match v {
        "in-force" => None,
        id => Some(id.parse::<i64>().map_err(|_| {
            CliError(tr!(
                "--rule-version：“{id}”既不是已存储版本的 id，也不是 in-force",
                "--rule-version: '{id}' is not a stored version's id nor 'in-force'"
            ))
        })?),
    };
    let (id, why) = ops::resolve(store, as_of, named)?;
    let files: std::collections::BTreeMap<String, String> = serde_json::from_value(store.rule_files(id)?)?;
    let rules = RuleSet::compile(&RuleSource { files })
        .map_err(|e| CliError::framed(tr!("规则版本 {id} 无法加载：", "rule version {id} does not load:"), e))?;
    Ok((rules, Some(id), why))
}

/// "from {day} " of a scheduled version's line, in `lang`.
fn from_word(day: &str, lang: crate::i18n::Lang) -> String {
    match lang {
        crate::i18n::Lang::Zh => format!("自 {day} 起 "),
        crate::i18n::Lang::En => format!("from {day} "),
    }
}

/// "until {day} " (exclusive) of a scheduled version's line, in `lang`.
fn until_word(day: &str, lang: crate::i18n::Lang) -> String {
    match lang {
        crate::i18n::Lang::Zh => format!("至 {day} 止（不含） "),
        crate::i18n::Lang::En => format!("until {day} "),
    }
}
