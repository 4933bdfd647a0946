//! Rule versions with effective dates: a version is in force from its
//! `effective_from` until the day before its optional `effective_until`,
//! so a rule change can be scheduled ("new rules from 2027-01-01"). A
//! classification as of a date uses the version in force on that date
//! (the latest `effective_from` on or before it), unless a version is
//! named; when none is scheduled for the date, the active version. Each
//! run records the version and why.

use std::fmt;

use super::{Result, limits, policy};
use crate::model::Date;
use crate::model::access::Principal;
use crate::store::{ScheduledRules, Store};
use crate::tr;

/// Why a run uses a rule version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleChoice {
    /// The caller named it.
    Named,
    /// Scheduled: in force on the date, effective from `from`.
    InForce { on: Date, from: Date },
    /// No version is scheduled for the date: the active one.
    Active { on: Date },
    /// A rule directory, not a stored version (the CLI's `--rules`).
    Directory(String),
}

impl fmt::Display for RuleChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleChoice::Named => write!(f, "named"),
            RuleChoice::InForce { on, from } => write!(f, "in force on {on} (effective from {from})"),
            RuleChoice::Active { on } => write!(f, "active (none scheduled for {on})"),
            RuleChoice::Directory(d) => write!(f, "directory {d}"),
        }
    }
}

fn date_of(v: &ScheduledRules, t: &str) -> Result<Date> {
    crate::data::table::parse_date(t).map_err(|e| {
        super::OpsError::Rejected(tr!("规则版本 {}：生效日期 {e}", "rule version {}: effective date {e}", v.id))
    })
}

/// The scheduled version in force on `on`, with its start, if any.
pub fn in_force(store: &Store, on: Date) -> Result<Option<(i64, Date)>> {
    let mut best: Option<(Date, i64)> = None;
    for v in store.rule_schedule()? {
        let Some(from) = v.effective_from.as_deref() else { continue };
        let from = date_of(&v, from)?;
        let until = v.effective_until.as_deref().map(|u| date_of(&v, u)).transpose()?;
        if from <= on && until.is_none_or(|u| on < u) && best.is_none_or(|b| (from, v.id) > b) {
            best = Some((from, v.id));
        }
    }
    Ok(best.map(|(from, id)| (id, from)))
}

/// The version a classification as of `as_of` uses, and why.
pub fn resolve(store: &Store, as_of: Date, named: Option<i64>) -> Result<(i64, RuleChoice)> {
    if let Some(id) = named {
        store.rule_files(id)?;
        return Ok((id, RuleChoice::Named));
    }
    if let Some((id, from)) = in_force(store, as_of)? {
        return Ok((id, RuleChoice::InForce { on: as_of, from }));
    }
    let id = store.active_rules()?.ok_or_else(|| {
        super::OpsError::Rejected(tr!(
            "没有为 {as_of} 安排的规则版本，也没有启用的版本",
            "no rule version is scheduled for {as_of} or active"
        ))
    })?;
    Ok((id, RuleChoice::Active { on: as_of }))
}

/// Schedules a version: in force from `from`, until the day before
/// `until` if given (rules are province-wide: a province regulator's).
pub fn schedule(store: &Store, by: &Principal, id: i64, from: Date, until: Option<Date>) -> Result<ScheduledRules> {
    policy::decide(by, policy::Action::ChangeRules, policy::Resource::Store)?;
    limits::date("effective_from", from)?;
    if let Some(u) = until {
        limits::date("effective_until", u)?;
        if u <= from {
            return Err(limits::field(
                "effective_until",
                tr!("{u} 不晚于 effective_from {from}", "{u} is not after effective_from {from}"),
            ));
        }
    }
    let until = until.map(|u| u.to_string());
    Ok(store.schedule_rules(id, &from.to_string(), until.as_deref(), &by.actor())?)
}

/// Records the version a run uses and why.
pub fn record_choice(store: &Store, run: i64, version: Option<i64>, why: &RuleChoice, actor: &str) -> Result<()> {
    Ok(store.set_run_rules(run, version, &why.to_string(), actor)?)
}
