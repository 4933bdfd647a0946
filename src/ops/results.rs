//! Officers' results: filed for a visit (the policy decides who may,
//! the fields are bounded, the values checked against the plan's kind),
//! and read back as the classification sees them.
//!
//! Never accepts a result before the plan's release or after today.

use super::{OpsError, Result, access, limits, policy};
use crate::model::access::Principal;
use crate::model::*;
use crate::plan::PlanKind;
use crate::snapshot::{Snapshot, SubmittedResult};
use crate::store::{ResultRecord, Store};
use crate::tr;

/// Officers' submitted results as the classification sees them.
pub fn submitted(results: &[ResultRecord]) -> Result<Vec<SubmittedResult>> {
    results
        .iter()
        .map(|r| {
            let bad = |e: &dyn std::fmt::Display| OpsError::Internal(format!("stored result {}: {e}", r.id));
            Ok(SubmittedResult {
                inspection_id: format!("plan{}-visit{}-{}", r.plan_id, r.seq, r.department),
                uscc: Uscc::parse(&r.uscc).map_err(|e| bad(&e))?,
                department: r.department.clone(),
                officer_id: r.officer_id.clone(),
                inspected_on: crate::data::table::parse_date(&r.inspected_on).map_err(|e| bad(&e))?,
                result: r.result.parse().map_err(|e| bad(&e))?,
                commitment_status: r.commitment_status.as_deref().map(str::parse).transpose().map_err(|e| bad(&e))?,
            })
        })
        .collect()
}

/// Adds every result officers submitted so far to a snapshot.
pub fn add_submitted(store: &Store, s: &mut Snapshot) -> Result<()> {
    let results = submitted(&store.all_results()?)?;
    s.add_results(&results).map_err(|e| OpsError::Invalid(e.to_string()))?;
    super::objections::add_objections(store, s)
}

/// A result an officer files for a visit.
pub struct NewResult<'a> {
    pub plan: i64,
    pub visit: i64,
    pub department: &'a str,
    pub result: &'a str,
    pub commitment_status: Option<&'a str>,
    pub inspected_on: Date,
    pub notes: &'a str,
}

/// Records an officer's result for a visit: the policy decides (the
/// officer is on the team, the plan is released, the department is the
/// officer's own and has items in the visit), the fields are bounded, and
/// the date lies between the release and `today`.
pub fn submit_result(store: &Store, officer: &Principal, r: &NewResult<'_>, today: Date) -> Result<i64> {
    let (plan_id, seq, department, result, commitment_status, inspected_on, notes) =
        (r.plan, r.visit, r.department, r.result, r.commitment_status, r.inspected_on, r.notes);
    limits::text("department", department, limits::CODE)?;
    limits::text("result", result, limits::CODE)?;
    limits::text("notes", notes, limits::NOTES)?;
    if let Some(c) = commitment_status {
        limits::text("commitment_status", c, limits::CODE)?;
    }
    limits::past_date("inspected_on", inspected_on, today)?;
    let plan = store.plan(plan_id)?;
    let visit = store.visit(plan_id, seq)?;
    let facts = access::plan_facts(&plan, chrono::Utc::now().fixed_offset());
    policy::decide(
        officer,
        policy::Action::SubmitResult,
        policy::Resource::Visit { plan: &facts, team: &visit.officers, items: &visit.items, department },
    )?;
    let officer = officer.officer_id.as_deref().unwrap_or_default();
    result.parse::<InspectionResult>().map_err(|e| OpsError::Rejected(tr!("检查结果 {e}", "result {e}")))?;
    match (plan.kind, commitment_status.map(str::parse::<CommitmentStatus>)) {
        (PlanKind::CommitmentCheck, None) => {
            return Err(OpsError::Rejected(tr!(
                "承诺核查需要承诺的状态：fulfilled（已履行）或 breached（未履行）",
                "a commitment check needs the commitment's status: fulfilled or breached"
            )));
        }
        (PlanKind::CommitmentCheck, Some(Ok(CommitmentStatus::Fulfilled | CommitmentStatus::Breached))) => {}
        (PlanKind::CommitmentCheck, Some(_)) => {
            let s = commitment_status.unwrap_or_default();
            return Err(OpsError::Rejected(tr!(
                "承诺状态“{s}”不是 fulfilled 或 breached",
                "commitment status '{s}' is not fulfilled or breached"
            )));
        }
        (PlanKind::Random, Some(_)) => {
            return Err(OpsError::Rejected(tr!(
                "只有承诺核查才报告承诺状态",
                "only commitment checks report a commitment status"
            )));
        }
        (PlanKind::Random, None) => {}
    }
    let release = chrono::DateTime::parse_from_rfc3339(&plan.release_at)
        .map_err(OpsError::internal(format!("plan {plan_id}: stored release time")))?;
    if inspected_on < release.date_naive() {
        let release_at = &plan.release_at;
        return Err(OpsError::Rejected(tr!(
            "检查日期 {inspected_on} 早于计划的发布时间（{release_at}）",
            "the inspection date {inspected_on} is before the plan's release ({release_at})"
        )));
    }
    Ok(store.submit_result(&crate::store::ResultRecord {
        id: 0,
        plan_id,
        seq,
        uscc: visit.uscc,
        officer_id: officer.to_string(),
        department: department.to_string(),
        inspected_on: inspected_on.to_string(),
        result: result.to_string(),
        commitment_status: commitment_status.map(str::to_string),
        notes: notes.to_string(),
        submitted_at: String::new(),
    })?)
}
