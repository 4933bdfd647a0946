//! Objections to records (异议申诉): filed, then upheld or rejected once.
//! Every step is audited with a payload the row can be rebuilt from.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store, StoreError, audit, now};
use crate::model::AuditAction;
use crate::model::objection::ObjectionStatus;
use crate::tr;

/// An objection as stored.
#[derive(Clone, Debug, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct ObjectionRecord {
    pub id: i64,
    /// The entity's credit code.
    pub uscc: String,
    /// The disputed record's id (decision number, listing, complaint,
    /// commitment or inspection id).
    pub record_id: String,
    /// The entity's county: whose regulators decide it.
    pub region: u32,
    pub reason: String,
    /// From this day the record is disputed.
    pub filed_on: String,
    pub filed_at: String,
    pub filed_by: String,
    /// open, upheld or rejected.
    #[schema(value_type = String)]
    pub status: ObjectionStatus,
    pub decided_on: Option<String>,
    pub decision_reason: Option<String>,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
}

/// An objection to record.
pub struct NewObjection<'a> {
    pub uscc: &'a str,
    pub record_id: &'a str,
    pub region: u32,
    pub reason: &'a str,
    pub filed_on: &'a str,
    pub filed_by: &'a str,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectionRecord> {
    let status: String = r.get("status")?;
    Ok(ObjectionRecord {
        id: r.get("id")?,
        uscc: r.get("uscc")?,
        record_id: r.get("record_id")?,
        region: r.get("region")?,
        reason: r.get("reason")?,
        filed_on: r.get("filed_on")?,
        filed_at: r.get("filed_at")?,
        filed_by: r.get("filed_by")?,
        status: status.parse().map_err(|e: crate::model::UnknownCode| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.to_string().into())
        })?,
        decided_on: r.get("decided_on")?,
        decision_reason: r.get("decision_reason")?,
        decided_at: r.get("decided_at")?,
        decided_by: r.get("decided_by")?,
    })
}

fn get(c: &rusqlite::Connection, id: i64) -> Result<ObjectionRecord> {
    c.query_row("SELECT * FROM objections WHERE id = ?1", [id], row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(tr!("异议 {id}", "objection {id}")))
}

impl Store {
    /// Files an objection (audited). Refused while another objection to
    /// the same record is open.
    pub fn file_objection(&self, o: &NewObjection<'_>) -> Result<ObjectionRecord> {
        self.write(|tx| {
            let open: Option<i64> = tx
                .query_row(
                    "SELECT id FROM objections WHERE uscc = ?1 AND record_id = ?2 AND status = 'open'",
                    params![o.uscc, o.record_id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = open {
                let (record, uscc) = (&o.record_id, &o.uscc);
                return Err(StoreError::Conflict(tr!(
                    "{uscc} 的记录 {record} 已有未处理的异议 {id}",
                    "record {record} of {uscc} is already disputed by objection {id}, still open"
                )));
            }
            let filed_at = now();
            tx.execute(
                "INSERT INTO objections (uscc, record_id, region, reason, filed_on, filed_at, filed_by, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open')",
                params![o.uscc, o.record_id, o.region, o.reason, o.filed_on, filed_at, o.filed_by],
            )?;
            let id = tx.last_insert_rowid();
            audit::append(
                tx,
                o.filed_by,
                AuditAction::ObjectionFile,
                &format!("objection/{id}"),
                &serde_json::json!({ "id": id, "uscc": o.uscc, "record_id": o.record_id, "region": o.region,
                    "reason": o.reason, "filed_on": o.filed_on, "filed_at": filed_at, "filed_by": o.filed_by,
                    "status": "open" }),
            )?;
            get(tx, id)
        })
    }

    /// Decides an open objection (audited): upheld or rejected, once.
    pub fn decide_objection(
        &self,
        id: i64,
        outcome: ObjectionStatus,
        decided_on: &str,
        reason: &str,
        actor: &str,
    ) -> Result<ObjectionRecord> {
        if outcome == ObjectionStatus::Open {
            return Err(StoreError::Other("an objection is decided upheld or rejected".into()));
        }
        self.write(|tx| {
            let o = get(tx, id)?;
            if o.status != ObjectionStatus::Open {
                let (status, on, by) =
                    (&o.status, o.decided_on.as_deref().unwrap_or("?"), o.decided_by.as_deref().unwrap_or("?"));
                return Err(StoreError::Conflict(tr!(
                    "异议 {id} 已于 {on} 由 {by} 处理为 {status}",
                    "objection {id} was already {status} on {on} by {by}"
                )));
            }
            let decided_at = now();
            tx.execute(
                "UPDATE objections SET status = ?2, decided_on = ?3, decision_reason = ?4, decided_at = ?5,
                 decided_by = ?6 WHERE id = ?1",
                params![id, outcome.as_str(), decided_on, reason, decided_at, actor],
            )?;
            audit::append(
                tx,
                actor,
                AuditAction::ObjectionDecide,
                &format!("objection/{id}"),
                &serde_json::json!({ "id": id, "uscc": o.uscc, "record_id": o.record_id, "status": outcome,
                    "decided_on": decided_on, "decision_reason": reason, "decided_at": decided_at,
                    "decided_by": actor }),
            )?;
            get(tx, id)
        })
    }

    pub fn objection(&self, id: i64) -> Result<ObjectionRecord> {
        self.read(|c| get(c, id))
    }

    /// Objections, oldest first, optionally of one entity and in one status.
    pub fn objections(&self, uscc: Option<&str>, status: Option<ObjectionStatus>) -> Result<Vec<ObjectionRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT * FROM objections WHERE (?1 IS NULL OR uscc = ?1) AND (?2 IS NULL OR status = ?2) ORDER BY id",
            )?;
            Ok(stmt.query_map(params![uscc, status.map(|s| s.as_str())], row)?.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
