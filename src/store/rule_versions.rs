//! When rule versions are in force: each may have an effective period
//! (`effective_from`, optional `effective_until`, exclusive), scheduled
//! ahead of time; and which version a run used, and why.

use crate::tr;
use rusqlite::{OptionalExtension, params};

use super::{Result, Store, StoreError, audit};
use crate::model::AuditAction;

/// A stored rule version and when it is in force.
#[derive(Clone, Debug, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct ScheduledRules {
    pub id: i64,
    pub hash: String,
    pub label: String,
    /// The version used when none is scheduled for a date.
    pub active: bool,
    /// In force from this day (YYYY-MM-DD), if scheduled.
    pub effective_from: Option<String>,
    /// In force until the day before this one, if bounded.
    pub effective_until: Option<String>,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduledRules> {
    Ok(ScheduledRules {
        id: r.get("id")?,
        hash: r.get("hash")?,
        label: r.get("label")?,
        active: r.get("active")?,
        effective_from: r.get("effective_from")?,
        effective_until: r.get("effective_until")?,
    })
}

const COLUMNS: &str = "id, hash, label, active, effective_from, effective_until";

impl Store {
    /// Every rule version with its effective period, by id.
    pub fn rule_schedule(&self) -> Result<Vec<ScheduledRules>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM rule_versions ORDER BY id"))?;
            Ok(stmt.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Sets (or replaces) a version's effective period, audited.
    pub fn schedule_rules(&self, id: i64, from: &str, until: Option<&str>, actor: &str) -> Result<ScheduledRules> {
        self.write(|tx| {
            let hash: Option<String> =
                tx.query_row("SELECT hash FROM rule_versions WHERE id = ?1", [id], |r| r.get(0)).optional()?;
            let hash = hash.ok_or_else(|| StoreError::NotFound(tr!("规则版本 {id}", "rule version {id}")))?;
            tx.execute(
                "UPDATE rule_versions SET effective_from = ?2, effective_until = ?3 WHERE id = ?1",
                params![id, from, until],
            )?;
            audit::append(
                tx,
                actor,
                AuditAction::RulesSchedule,
                &format!("rules/{id}"),
                &serde_json::json!({ "hash": hash, "effective_from": from, "effective_until": until }),
            )?;
            Ok(tx.query_row(&format!("SELECT {COLUMNS} FROM rule_versions WHERE id = ?1"), [id], row)?)
        })
    }

    /// Records which rule version a run uses and why (audited).
    pub fn set_run_rules(&self, run: i64, version: Option<i64>, choice: &str, actor: &str) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE runs SET rule_version = ?2, rule_choice = ?3 WHERE id = ?1",
                params![run, version, choice],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(tr!("运行 {run}", "run {run}")));
            }
            audit::append(
                tx,
                actor,
                AuditAction::RunRules,
                &format!("run/{run}"),
                &serde_json::json!({ "rule_version": version, "rule_choice": choice }),
            )?;
            Ok(())
        })
    }
}
