//! Officers' results: filed for a visit (the policy decides who may,
//! the fields are bounded, the values checked against the plan's kind),
//! and read back as the classification sees them.
//!
//! Never accepts a result before the plan's release or after today.
//! A breached commitment check settles only the entity's pending
//! commitments of the result's department (its own department on the
//! visit, as the policy checked), and revokes the approvals they stood in
//! for, recorded with the result.

use std::path::Path;

use super::{OpsError, Result, access, limits, policy};
use crate::model::access::Principal;
use crate::model::*;
use crate::plan::PlanKind;
use crate::snapshot::{Snapshot, SubmittedResult};
use crate::store::{NewRevocation, PlanRecord, ResultRecord, RevocationRecord, Store};
use crate::tr;

/// Officers' submitted results as the classification sees them.
pub fn submitted(results: &[ResultRecord]) -> Result<Vec<SubmittedResult>> {
    results
        .iter()
        .map(|r| {
            let bad = |e: &dyn std::fmt::Display| {
                OpsError::Fault(tr!("内部错误：存储的检查结果 {}：{e}", "stored result {}: {e}", r.id))
            };
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
    s.add_results(&results).map_err(unknown_entity)?;
    super::objections::add_objections(store, s)
}

/// A result for an entity the dataset does not hold.
fn unknown_entity(e: crate::snapshot::UnknownEntity) -> OpsError {
    OpsError::Rejected(tr!("主体 {} 不在数据集中", "entity {} is not in the dataset", e.0))
}

/// The approvals a breached commitment-check result revokes: the entity's
/// pending approval-substitute commitments that the result settles (of its
/// department, or of none) once every earlier result is applied, and that
/// name an approval item. `s` is the dataset without officers' results.
pub fn revoked_by(store: &Store, mut s: Snapshot, result: &SubmittedResult) -> Result<Vec<NewRevocation>> {
    add_submitted(store, &mut s)?;
    let settled = s.add_results_settling(std::slice::from_ref(result)).map_err(unknown_entity)?;
    Ok(settled
        .iter()
        .filter(|x| x.status == CommitmentStatus::Breached)
        .filter_map(|x| {
            let c = &s.commitments.rows()[x.commitment as usize];
            c.approval_item.map(|a| NewRevocation {
                commitment_id: s.text(c.commitment_id).to_string(),
                approval_item: s.text(a).to_string(),
            })
        })
        .collect())
}

/// The dataset a breached commitment check reads the entity's commitments
/// from: `dataset` (else the store's imported one), refused unless it is
/// the dataset the plan was drawn from.
fn plan_dataset(store: &Store, plan: &PlanRecord, dataset: Option<&Path>) -> Result<Snapshot> {
    let path = match dataset {
        Some(p) => p.to_path_buf(),
        None => match store.latest_dataset()? {
            Some((_, p)) => p.into(),
            None => {
                return Err(OpsError::Rejected(tr!(
                    "未履行的承诺核查需要计划所用的数据集（其中的承诺）；请给出 --data",
                    "a breached commitment check needs the plan's dataset (its commitments); give --data"
                )));
            }
        },
    };
    let loaded = crate::data::load(&path)?;
    if loaded.hash != plan.dataset_hash {
        let (shown, found, want, id) = (path.display(), &loaded.hash, &plan.dataset_hash, plan.id);
        return Err(OpsError::Rejected(tr!(
            "数据集 {shown}（{found}）不是计划 {id} 抽取时所用的数据集（{want}）",
            "the dataset {shown} ({found}) is not the one plan {id} was drawn from ({want})"
        )));
    }
    Ok(loaded.snapshot)
}

/// An entity's approvals revoked by `as_of`, oldest first.
pub fn revocations_of(store: &Store, uscc: &Uscc, as_of: Date) -> Result<Vec<RevocationRecord>> {
    let on = as_of.to_string();
    Ok(store.revocations(Some(uscc.as_str()))?.into_iter().filter(|r| r.revoked_on <= on).collect())
}

/// Fills a timeline's revoked approvals from the store (the timeline
/// itself is made from the dataset).
pub fn add_revocations(store: &Store, t: &mut super::Timeline) -> Result<()> {
    t.revocations = revocations_of(store, &t.entity.uscc, t.as_of)?;
    Ok(())
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
/// the date lies between the release and `today`. A breached commitment
/// check reads the entity's commitments from `dataset` (else the store's
/// imported dataset; either must be the plan's) and records the approvals
/// it revokes with the result.
pub fn submit_result(
    store: &Store,
    officer: &Principal,
    r: &NewResult<'_>,
    today: Date,
    dataset: Option<&Path>,
) -> Result<i64> {
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
        .map_err(OpsError::internal(tr!("计划 {plan_id}：存储的发布时间", "plan {plan_id}: stored release time")))?;
    if inspected_on < release.date_naive() {
        let release_at = &plan.release_at;
        return Err(OpsError::Rejected(tr!(
            "检查日期 {inspected_on} 早于计划的发布时间（{release_at}）",
            "the inspection date {inspected_on} is before the plan's release ({release_at})"
        )));
    }
    let record = ResultRecord {
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
    };
    let breached = matches!(commitment_status.map(str::parse), Some(Ok(CommitmentStatus::Breached)));
    let revoked = if breached {
        let snapshot = plan_dataset(store, &plan, dataset)?;
        let this = submitted(std::slice::from_ref(&record))?;
        revoked_by(store, snapshot, &this[0])?
    } else {
        Vec::new()
    };
    Ok(store.submit_result_revoking(&record, &revoked)?)
}
