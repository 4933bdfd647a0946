//! Approvals revoked because the commitment that stood in for them
//! (告知承诺制) was found breached by its own department's officer.
//! Recorded with the result that found the breach, in its transaction, at
//! most once per commitment; audited with a payload the row is rebuilt from.

use rusqlite::{OptionalExtension, Transaction, params};

use super::plans::{ResultRecord, insert_result};
use super::{Result, Store, audit, now};
use crate::model::AuditAction;

/// A revoked approval as stored.
#[derive(Clone, Debug, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct RevocationRecord {
    pub id: i64,
    /// The entity's credit code.
    pub uscc: String,
    /// The breached commitment.
    pub commitment_id: String,
    /// The approval it stood in for (告知承诺制 事项).
    pub approval_item: String,
    /// The department whose officer found the breach (the commitment's).
    pub department: String,
    /// The result that found it, on visit `seq` of plan `plan_id`.
    pub result_id: i64,
    pub plan_id: i64,
    pub seq: i64,
    /// The inspection date of that result: the approval is revoked from
    /// this day.
    pub revoked_on: String,
    pub recorded_at: String,
    /// Who filed the result (`officer:<roster id>`).
    pub recorded_by: String,
}

/// An approval a result's breach revokes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRevocation {
    pub commitment_id: String,
    pub approval_item: String,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RevocationRecord> {
    Ok(RevocationRecord {
        id: r.get("id")?,
        uscc: r.get("uscc")?,
        commitment_id: r.get("commitment_id")?,
        approval_item: r.get("approval_item")?,
        department: r.get("department")?,
        result_id: r.get("result_id")?,
        plan_id: r.get("plan_id")?,
        seq: r.get("seq")?,
        revoked_on: r.get("revoked_on")?,
        recorded_at: r.get("recorded_at")?,
        recorded_by: r.get("recorded_by")?,
    })
}

/// Records one revocation for result `id` (audited), unless the
/// commitment's approval is already revoked.
fn insert(tx: &Transaction<'_>, result: &ResultRecord, id: i64, v: &NewRevocation) -> Result<()> {
    let exists: Option<i64> = tx
        .query_row(
            "SELECT id FROM approval_revocations WHERE uscc = ?1 AND commitment_id = ?2",
            params![result.uscc, v.commitment_id],
            |x| x.get(0),
        )
        .optional()?;
    if exists.is_some() {
        return Ok(());
    }
    let (recorded_at, by) = (now(), format!("officer:{}", result.officer_id));
    tx.execute(
        "INSERT INTO approval_revocations (uscc, commitment_id, approval_item, department, result_id, plan_id, seq,
         revoked_on, recorded_at, recorded_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            result.uscc,
            v.commitment_id,
            v.approval_item,
            result.department,
            id,
            result.plan_id,
            result.seq,
            result.inspected_on,
            recorded_at,
            by
        ],
    )?;
    let rid = tx.last_insert_rowid();
    audit::append(
        tx,
        &by,
        AuditAction::ApprovalRevoke,
        &format!("revocation/{rid}"),
        &serde_json::json!({ "uscc": result.uscc, "commitment_id": v.commitment_id,
            "approval_item": v.approval_item, "department": result.department, "result_id": id,
            "plan_id": result.plan_id, "seq": result.seq, "revoked_on": result.inspected_on,
            "recorded_at": recorded_at, "recorded_by": by }),
    )?;
    Ok(())
}

impl Store {
    /// Records an officer's result and the approvals its breach revokes,
    /// in one transaction (both audited): either all land or none.
    pub fn submit_result_revoking(&self, r: &ResultRecord, revoked: &[NewRevocation]) -> Result<i64> {
        self.write(|tx| {
            let id = insert_result(tx, r)?;
            for v in revoked {
                insert(tx, r, id, v)?;
            }
            Ok(id)
        })
    }

    /// Revoked approvals, of one entity or all, oldest first.
    pub fn revocations(&self, uscc: Option<&str>) -> Result<Vec<RevocationRecord>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT * FROM approval_revocations WHERE ?1 IS NULL OR uscc = ?1 ORDER BY revoked_on, id")?;
            Ok(stmt.query_map([uscc], row)?.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
