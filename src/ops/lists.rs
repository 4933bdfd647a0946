//! The supervision lists (key attention, serious dishonesty) as of a date:
//! which entities a classification puts on them, and the decisions that
//! put them there. The dataset given includes officers' submitted results
//! (`add_submitted`), as every classification does.
//!
//! Never formats: front ends render the entries.

use super::Result;
use crate::classify::{self, EntityResult};
use crate::engine::{DecisionRef, RuleSet, Stage};
use crate::model::Date;
use crate::snapshot::Snapshot;

/// A supervision list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    /// Key attention: repeated violations, flags from blacklisted entities.
    KeyAttention,
    /// The serious-dishonesty blacklist.
    Blacklist,
}

impl List {
    /// Whether a classified entity is on this list.
    pub fn holds(self, r: &EntityResult) -> bool {
        match self {
            List::KeyAttention => r.key_attention,
            List::Blacklist => r.blacklisted,
        }
    }

    /// Whether a decision is one of the reasons for this list.
    pub fn reason(self, d: &DecisionRef) -> bool {
        match self {
            List::KeyAttention => matches!(d.stage(), Stage::Accumulation | Stage::EntityLink),
            List::Blacklist => d.stage() == Stage::Blacklist,
        }
    }
}

/// An entity on a list, with the decisions that put it there.
#[derive(Debug)]
pub struct Listed {
    pub entity: EntityResult,
    pub reasons: Vec<DecisionRef>,
}

/// The entities on `list` as of `as_of` (only those with inspection items
/// of `department`, if given), in dataset order.
pub fn list(s: &Snapshot, rules: &RuleSet, as_of: Date, list: List, department: Option<&str>) -> Result<Vec<Listed>> {
    let mut listed = Vec::new();
    classify::classify(s, rules, as_of, &Default::default(), &|_| {}, &mut |shard| {
        listed.extend(
            shard
                .into_iter()
                .filter(|r| list.holds(r) && department.is_none_or(|d| r.departments.iter().any(|x| &**x == d))),
        );
        Ok(())
    })?;
    listed.sort_by_key(|r| r.row);
    Ok(listed
        .into_iter()
        .map(|entity| {
            let reasons = entity.decisions.iter().filter(|d| list.reason(d)).cloned().collect();
            Listed { entity, reasons }
        })
        .collect())
}
