//! Inspection plans in the store: created with a commitment and a frozen
//! frame, revealed (drawn) once, cancelled or published; their visits,
//! per-officer assignments and submitted results. Every change is audited,
//! with a payload from which `ops::audit_tables` rebuilds the row.
//!
//! Slightly over 500 lines: each write is one SQL transaction with its
//! audit entry, kept next to the row mappings it writes.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store, StoreError, audit, code, now};
use crate::model::{AuditAction, PlanStatus};
use crate::plan::PlanKind;
use crate::tr;

/// A plan as stored.
#[derive(Clone, Debug, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct PlanRecord {
    pub id: i64,
    pub created_at: String,
    pub created_by: String,
    pub name: String,
    #[schema(value_type = String)]
    pub kind: PlanKind,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    pub run_id: i64,
    pub dataset_hash: String,
    pub rules_hash: String,
    pub frame_hash: String,
    #[schema(value_type = Object)]
    pub frame_stats: serde_json::Value,
    pub commitment: String,
    pub beacon_source: String,
    pub release_at: String,
    /// `committed`, `revealed` or `cancelled`.
    #[schema(value_type = String)]
    pub status: PlanStatus,
    pub secret: Option<String>,
    pub beacon: Option<String>,
    pub result_hash: Option<String>,
    pub revealed_at: Option<String>,
    pub cancelled_reason: Option<String>,
    pub published_at: Option<String>,
    /// `credo-draw-v1` or `credo-draw-v2`.
    pub spec: String,
    /// v2: none, text, digits or hex.
    pub beacon_rule: String,
    /// v2: when the beacon value is public (UTC), empty for none.
    pub beacon_published_at: String,
    /// v2: the published beacon value, as supplied at the reveal.
    pub beacon_value: Option<String>,
    pub beacon_supplied_at: Option<String>,
    pub cancelled_at: Option<String>,
    /// Cancelled plans (global ids) this plan replaces.
    pub replaces: Vec<String>,
    /// Earlier plans (global ids) whose visits excluded entities from the frame.
    pub excluded_by: Vec<String>,
    /// The principal that created the plan (none: the store's operator, or
    /// a plan made before principals existed).
    pub creator_principal: Option<i64>,
    /// The creator's jurisdiction (GB/T 2260 code), which the plan covers.
    pub jurisdiction: u32,
}

/// One drawn visit.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct VisitRecord {
    pub plan_id: i64,
    pub seq: i64,
    pub uscc: String,
    pub name: String,
    pub stratum: String,
    pub ticket: String,
    /// (department, item code) pairs.
    pub items: Vec<(String, String)>,
    pub officers: Vec<String>,
    pub unstaffed: Option<String>,
}

/// A visit on an officer's list, with its plan's name, kind and release.
#[derive(Clone, Debug, PartialEq)]
pub struct OfficerVisit {
    pub visit: VisitRecord,
    pub release_at: String,
    pub plan_name: String,
    pub plan_kind: PlanKind,
}

/// A result an officer submitted for a visit.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ResultRecord {
    pub id: i64,
    pub plan_id: i64,
    pub seq: i64,
    pub uscc: String,
    pub officer_id: String,
    pub department: String,
    pub inspected_on: String,
    /// compliant, issues_corrected, violation, not_found.
    pub result: String,
    /// For commitment checks: fulfilled or breached.
    pub commitment_status: Option<String>,
    pub notes: String,
    pub submitted_at: String,
}

/// What a new plan records.
pub struct NewPlan<'a> {
    pub actor: &'a str,
    pub name: &'a str,
    pub kind: PlanKind,
    pub params: &'a serde_json::Value,
    pub run_id: i64,
    pub dataset_hash: &'a str,
    pub rules_hash: &'a str,
    pub frame_hash: &'a str,
    pub frame_stats: &'a serde_json::Value,
    pub commitment: &'a str,
    pub beacon_source: &'a str,
    pub release_at: &'a str,
    /// Written into the frame's provenance, so given rather than taken.
    pub created_at: &'a str,
    pub spec: &'a str,
    pub beacon_rule: &'a str,
    pub beacon_published_at: &'a str,
    pub replaces: &'a [String],
    pub excluded_by: &'a [String],
    pub creator_principal: Option<i64>,
    pub jurisdiction: u32,
}

/// What a reveal records.
pub struct Reveal<'a> {
    pub plan: i64,
    pub actor: &'a str,
    /// Hex.
    pub secret: &'a str,
    /// Hex of the beacon bytes.
    pub beacon: &'a str,
    /// v2: the published value and when it was supplied.
    pub beacon_value: Option<&'a str>,
    pub beacon_supplied_at: Option<&'a str>,
    pub result_hash: &'a str,
    pub visits: &'a [VisitRecord],
}

/// A staffed visit of a revealed random plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrawnVisit {
    pub uscc: String,
    pub plan_id: i64,
    pub seq: i64,
}

fn plan_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PlanRecord> {
    let id: i64 = r.get("id")?;
    let row = move || format!("plan {id}");
    Ok(PlanRecord {
        id,
        created_at: r.get("created_at")?,
        created_by: r.get("created_by")?,
        name: r.get("name")?,
        kind: code(r, "kind")?,
        params: json_column(r, row, "params")?,
        run_id: r.get("run_id")?,
        dataset_hash: r.get("dataset_hash")?,
        rules_hash: r.get("rules_hash")?,
        frame_hash: r.get("frame_hash")?,
        frame_stats: json_column(r, row, "frame_stats")?,
        commitment: r.get("commitment")?,
        beacon_source: r.get("beacon_source")?,
        release_at: r.get("release_at")?,
        status: code(r, "status")?,
        secret: r.get("secret")?,
        beacon: r.get("beacon")?,
        result_hash: r.get("result_hash")?,
        revealed_at: r.get("revealed_at")?,
        cancelled_reason: r.get("cancelled_reason")?,
        published_at: r.get("published_at")?,
        spec: r.get("spec")?,
        beacon_rule: r.get("beacon_rule")?,
        beacon_published_at: r.get("beacon_published_at")?,
        beacon_value: r.get("beacon_value")?,
        beacon_supplied_at: r.get("beacon_supplied_at")?,
        cancelled_at: r.get("cancelled_at")?,
        replaces: json_column(r, row, "replaces")?,
        excluded_by: json_column(r, row, "excluded_by")?,
        creator_principal: r.get("creator_principal")?,
        jurisdiction: r.get("jurisdiction")?,
    })
}

/// A JSON column read strictly: text that is not the JSON of a `T` is an
/// error naming the column, never a default (a stored plan or draw is
/// evidence: a changed row must not read as an empty one).
/// `row` names the row ("plan 3", "plan 3 visit 7"), so that one damaged
/// row among many is found; it is made only for an error.
fn json_column<T: serde::de::DeserializeOwned>(
    r: &rusqlite::Row<'_>,
    row: impl FnOnce() -> String,
    name: &str,
) -> rusqlite::Result<T> {
    let text: String = r.get(name)?;
    serde_json::from_str(&text).map_err(|e| {
        let i = r.as_ref().column_index(name).unwrap_or_default();
        let shown: String = text.chars().take(80).collect();
        let more = if shown.len() < text.len() { "..." } else { "" };
        let why = format!("{}: column {name} is not the JSON it should be ({e}): {shown:?}{more}", row());
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, why.into())
    })
}

fn visit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VisitRecord> {
    let (plan_id, seq): (i64, i64) = (r.get("plan_id")?, r.get("seq")?);
    let row = move || format!("plan {plan_id} visit {seq}");
    Ok(VisitRecord {
        plan_id,
        seq,
        uscc: r.get("uscc")?,
        name: r.get("name")?,
        stratum: r.get("stratum")?,
        ticket: r.get("ticket")?,
        items: json_column(r, row, "items")?,
        officers: json_column(r, row, "officers")?,
        unstaffed: r.get("unstaffed")?,
    })
}

fn result_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ResultRecord> {
    Ok(ResultRecord {
        id: r.get("id")?,
        plan_id: r.get("plan_id")?,
        seq: r.get("seq")?,
        uscc: r.get("uscc")?,
        officer_id: r.get("officer_id")?,
        department: r.get("department")?,
        inspected_on: r.get("inspected_on")?,
        result: r.get("result")?,
        commitment_status: r.get("commitment_status")?,
        notes: r.get("notes")?,
        submitted_at: r.get("submitted_at")?,
    })
}

impl Store {
    /// Where a plan's frozen frame lives.
    pub fn frame_path(&self, plan: i64) -> Result<std::path::PathBuf> {
        let dir = self.dir.as_ref().ok_or_else(|| StoreError::Other("an in-memory store keeps no frames".into()))?;
        Ok(dir.join("frames").join(format!("plan-{plan}.bundle")))
    }

    /// Records a plan with its commitment, before any result can exist.
    /// `write_frame` stores the frame file for the new id inside the same
    /// transaction's lifetime: if it fails, the plan is not created.
    pub fn create_plan(&self, p: &NewPlan<'_>, write_frame: impl FnOnce(i64) -> Result<()>) -> Result<i64> {
        let replaces = serde_json::to_string(p.replaces).unwrap_or_default();
        let excluded_by = serde_json::to_string(p.excluded_by).unwrap_or_default();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO plans (created_at, created_by, name, kind, params, run_id, dataset_hash, rules_hash, frame_hash,
                 frame_stats, commitment, beacon_source, release_at, status, spec, beacon_rule, beacon_published_at,
                 replaces, excluded_by, creator_principal, jurisdiction)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'committed', ?14, ?15, ?16, ?17, ?18,
                 ?19, ?20)",
                params![
                    p.created_at,
                    p.actor,
                    p.name,
                    p.kind.as_str(),
                    p.params.to_string(),
                    p.run_id,
                    p.dataset_hash,
                    p.rules_hash,
                    p.frame_hash,
                    p.frame_stats.to_string(),
                    p.commitment,
                    p.beacon_source,
                    p.release_at,
                    p.spec,
                    p.beacon_rule,
                    p.beacon_published_at,
                    replaces,
                    excluded_by,
                    p.creator_principal,
                    p.jurisdiction
                ],
            )?;
            let id = tx.last_insert_rowid();
            write_frame(id)?;
            audit::append(
                tx,
                p.actor,
                AuditAction::PlanCreate,
                &format!("plan/{id}"),
                &serde_json::json!({
                    "name": p.name, "kind": p.kind, "params": p.params, "run": p.run_id,
                    "dataset_hash": p.dataset_hash, "rules_hash": p.rules_hash, "frame_hash": p.frame_hash,
                    "commitment": p.commitment, "beacon_source": p.beacon_source, "release_at": p.release_at,
                    "created_at": p.created_at, "spec": p.spec, "beacon_rule": p.beacon_rule,
                    "beacon_published_at": p.beacon_published_at, "replaces": p.replaces, "excluded_by": p.excluded_by,
                    "frame_stats": p.frame_stats,
                    "creator_principal": p.creator_principal, "jurisdiction": p.jurisdiction,
                }),
            )?;
            Ok(id)
        })
    }

    pub fn plan(&self, id: i64) -> Result<PlanRecord> {
        self.read(|c| {
            c.query_row("SELECT * FROM plans WHERE id = ?1", [id], plan_row)
                .optional()?
                .ok_or_else(|| StoreError::NotFound(tr!("计划 {id}", "plan {id}")))
        })
    }

    pub fn plans(&self) -> Result<Vec<PlanRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT * FROM plans ORDER BY id")?;
            Ok(stmt.query_map([], plan_row)?.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Stores a draw's visits and marks the plan revealed (audited with the
    /// secret, the beacon and the result hash, from which the visits can be
    /// checked). A plan is drawn once.
    pub fn reveal_plan(&self, r: &Reveal<'_>) -> Result<()> {
        let id = r.plan;
        self.write(|tx| {
            let status: PlanStatus = tx
                .query_row("SELECT status FROM plans WHERE id = ?1", [id], |r| code(r, "status"))
                .optional()?
                .ok_or_else(|| StoreError::NotFound(tr!("计划 {id}", "plan {id}")))?;
            if status != PlanStatus::Committed {
                return Err(StoreError::Conflict(tr!(
                    "计划 {id} 的状态为 {status}；只有已承诺的计划可以公开抽取，且只能一次",
                    "plan {id} is {status}; only a committed plan can be revealed, once"
                )));
            }
            {
                let mut v = tx.prepare(
                    "INSERT INTO visits (plan_id, seq, uscc, name, stratum, ticket, items, officers, unstaffed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                let mut a = tx.prepare("INSERT INTO assignments (officer_id, plan_id, seq) VALUES (?1, ?2, ?3)")?;
                for x in r.visits {
                    v.execute(params![
                        id,
                        x.seq,
                        x.uscc,
                        x.name,
                        x.stratum,
                        x.ticket,
                        serde_json::to_string(&x.items).unwrap_or_default(),
                        serde_json::to_string(&x.officers).unwrap_or_default(),
                        x.unstaffed
                    ])?;
                    for o in &x.officers {
                        a.execute(params![o, id, x.seq])?;
                    }
                }
            }
            let revealed_at = now();
            tx.execute(
                "UPDATE plans SET status = 'revealed', secret = ?2, beacon = ?3, result_hash = ?4, revealed_at = ?5,
                 beacon_value = ?6, beacon_supplied_at = ?7 WHERE id = ?1",
                params![id, r.secret, r.beacon, r.result_hash, revealed_at, r.beacon_value, r.beacon_supplied_at],
            )?;
            let staffed = r.visits.iter().filter(|v| v.unstaffed.is_none()).count();
            audit::append(
                tx,
                r.actor,
                AuditAction::PlanReveal,
                &format!("plan/{id}"),
                &serde_json::json!({
                    "secret": r.secret, "beacon": r.beacon, "result_hash": r.result_hash,
                    "visits": r.visits.len(), "staffed": staffed, "revealed_at": revealed_at,
                    "beacon_value": r.beacon_value, "beacon_supplied_at": r.beacon_supplied_at,
                }),
            )?;
            Ok(())
        })
    }

    /// Cancels a plan that has not been drawn (audited, with the time: a
    /// cancelled plan stays public).
    pub fn cancel_plan(&self, id: i64, actor: &str, reason: &str) -> Result<()> {
        self.write(|tx| {
            let at = now();
            let n = tx.execute(
                "UPDATE plans SET status = 'cancelled', cancelled_reason = ?2, cancelled_at = ?3
                 WHERE id = ?1 AND status = 'committed'",
                params![id, reason, at],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(tr!(
                    "计划 {id} 不是已承诺的计划；已抽取的计划不能取消",
                    "plan {id} is not a committed plan; a drawn plan cannot be cancelled"
                )));
            }
            audit::append(
                tx,
                actor,
                AuditAction::PlanCancel,
                &format!("plan/{id}"),
                &serde_json::json!({ "reason": reason, "cancelled_at": at }),
            )?;
            Ok(())
        })
    }

    pub fn mark_published(&self, id: i64, actor: &str, digest: &str) -> Result<()> {
        self.write(|tx| {
            let at = now();
            tx.execute("UPDATE plans SET published_at = ?2 WHERE id = ?1", params![id, at])?;
            audit::append(
                tx,
                actor,
                AuditAction::PlanPublish,
                &format!("plan/{id}"),
                &serde_json::json!({ "disclosure_sha256": digest, "published_at": at }),
            )?;
            Ok(())
        })
    }

    pub fn visits(&self, plan: i64) -> Result<Vec<VisitRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT * FROM visits WHERE plan_id = ?1 ORDER BY seq")?;
            Ok(stmt.query_map([plan], visit_row)?.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub fn visit(&self, plan: i64, seq: i64) -> Result<VisitRecord> {
        self.read(|c| {
            c.query_row("SELECT * FROM visits WHERE plan_id = ?1 AND seq = ?2", params![plan, seq], visit_row)
                .optional()?
                .ok_or_else(|| StoreError::NotFound(tr!("计划 {plan} 的检查任务 {seq}", "visit {seq} of plan {plan}")))
        })
    }

    /// An officer's visits across revealed plans, with each plan's release
    /// time (the caller decides what may be seen).
    pub fn officer_visits(&self, officer: &str) -> Result<Vec<OfficerVisit>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT v.*, p.release_at AS release_at, p.name AS plan_name, p.kind AS plan_kind FROM assignments a
                 JOIN visits v ON v.plan_id = a.plan_id AND v.seq = a.seq
                 JOIN plans p ON p.id = a.plan_id
                 WHERE a.officer_id = ?1 AND p.status = 'revealed' ORDER BY a.plan_id, a.seq",
            )?;
            let rows = stmt
                .query_map([officer], |r| {
                    Ok(OfficerVisit {
                        visit: visit_row(r)?,
                        release_at: r.get("release_at")?,
                        plan_name: r.get("plan_name")?,
                        plan_kind: code(r, "plan_kind")?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// How many assignments an officer has. Assignments are only ever
    /// added (at a reveal; a revealed plan is never cancelled), so the
    /// count identifies the officer's list: a cache key.
    pub fn assignment_count(&self, officer: &str) -> Result<i64> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT COUNT(*) FROM assignments WHERE officer_id = ?1")?;
            Ok(stmt.query_row([officer], |r| r.get(0))?)
        })
    }

    pub fn plan_count(&self) -> Result<i64> {
        self.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM plans", [], |r| r.get(0))?))
    }

    /// Staffed visits of revealed random plans whose frame year is `year`
    /// (for "at most one random inspection a year").
    pub fn drawn_in_year(&self, year: i32) -> Result<Vec<DrawnVisit>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT v.uscc, v.plan_id, v.seq FROM visits v JOIN plans p ON p.id = v.plan_id
                 WHERE p.status = 'revealed' AND p.kind = 'random' AND v.unstaffed IS NULL
                 AND substr(json_extract(p.params, '$.as_of'), 1, 4) = ?1 ORDER BY v.plan_id, v.seq",
            )?;
            Ok(stmt
                .query_map([year.to_string()], |r| {
                    Ok(DrawnVisit { uscc: r.get(0)?, plan_id: r.get(1)?, seq: r.get(2)? })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Staffed visits of revealed random plans whose as-of date is from
    /// `from` to `to`, both included (a rolling once-a-year window).
    pub fn drawn_between(&self, from: crate::model::Date, to: crate::model::Date) -> Result<Vec<DrawnVisit>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT v.uscc, v.plan_id, v.seq FROM visits v JOIN plans p ON p.id = v.plan_id
                 WHERE p.status = 'revealed' AND p.kind = 'random' AND v.unstaffed IS NULL
                 AND json_extract(p.params, '$.as_of') BETWEEN ?1 AND ?2 ORDER BY v.plan_id, v.seq",
            )?;
            Ok(stmt
                .query_map([from.to_string(), to.to_string()], |r| {
                    Ok(DrawnVisit { uscc: r.get(0)?, plan_id: r.get(1)?, seq: r.get(2)? })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Every (officer, plan, visit) assignment.
    pub fn assignments(&self) -> Result<Vec<(String, i64, i64)>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT officer_id, plan_id, seq FROM assignments ORDER BY plan_id, seq, officer_id")?;
            Ok(stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Records an officer's result for a visit (audited). One result per
    /// department per visit.
    pub fn submit_result(&self, r: &ResultRecord) -> Result<i64> {
        self.write(|tx| insert_result(tx, r))
    }

    pub fn results_of_plan(&self, plan: i64) -> Result<Vec<ResultRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT * FROM inspection_results WHERE plan_id = ?1 ORDER BY seq, department")?;
            Ok(stmt.query_map([plan], result_row)?.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// (number of results, newest result id) of a plan: changes whenever a
    /// result is added, for caches of derived documents.
    pub fn results_version(&self, plan: i64) -> Result<(i64, i64)> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM inspection_results WHERE plan_id = ?1",
                [plan],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
    }

    /// Every submitted result, for classification to use as records.
    pub fn all_results(&self) -> Result<Vec<ResultRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT * FROM inspection_results ORDER BY id")?;
            Ok(stmt.query_map([], result_row)?.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

/// Inserts an officer's result (audited), refusing a second one for the
/// same visit and department.
pub(super) fn insert_result(tx: &rusqlite::Transaction<'_>, r: &ResultRecord) -> Result<i64> {
    let exists: Option<i64> = tx
        .query_row(
            "SELECT id FROM inspection_results WHERE plan_id = ?1 AND seq = ?2 AND department = ?3",
            params![r.plan_id, r.seq, r.department],
            |x| x.get(0),
        )
        .optional()?;
    if let Some(id) = exists {
        let (department, seq, plan) = (&r.department, r.seq, r.plan_id);
        return Err(StoreError::Conflict(tr!(
            "计划 {plan} 检查任务 {seq} 的 {department} 结果已提交（结果 {id}）",
            "a {department} result for visit {seq} of plan {plan} was already submitted (result {id})"
        )));
    }
    let submitted_at = now();
    tx.execute(
        "INSERT INTO inspection_results (plan_id, seq, uscc, officer_id, department, inspected_on, result,
             commitment_status, notes, submitted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            r.plan_id,
            r.seq,
            r.uscc,
            r.officer_id,
            r.department,
            r.inspected_on,
            r.result,
            r.commitment_status,
            r.notes,
            submitted_at
        ],
    )?;
    let id = tx.last_insert_rowid();
    audit::append(
        tx,
        &format!("officer:{}", r.officer_id),
        AuditAction::ResultSubmit,
        &format!("plan/{}/visit/{}", r.plan_id, r.seq),
        &serde_json::json!({ "id": id, "uscc": r.uscc, "department": r.department, "result": r.result,
                "commitment_status": r.commitment_status, "inspected_on": r.inspected_on,
                "officer_id": r.officer_id, "notes": r.notes, "submitted_at": submitted_at }),
    )?;
    Ok(id)
}
