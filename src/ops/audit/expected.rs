//! What the audit log says the tables must hold: one pass over the log,
//! one arm per action (the match is exhaustive, so a new action has to
//! say what it rebuilds), each turning its entry's payload into the
//! columns of the row it wrote.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{AuditAction, ObjectionStatus, PlanStatus, RunStatus};
use crate::store::AuditEntry;

/// One row's expected columns, each with the entry that set it.
pub(super) type Row = BTreeMap<&'static str, (Option<String>, i64)>;

/// A result's key: plan, visit, department.
pub(super) type ResultKey = (i64, i64, String);

/// Every audited row, by table.
#[derive(Default)]
pub(super) struct Expected<'e> {
    /// The first `store.identity` entry.
    pub identity: Option<&'e AuditEntry>,
    pub runs: BTreeMap<i64, Row>,
    pub plans: BTreeMap<i64, Row>,
    pub results: BTreeMap<ResultKey, (Value, &'e AuditEntry)>,
    pub objections: BTreeMap<i64, Row>,
    pub revocations: BTreeMap<i64, Row>,
}

pub(super) fn payload(e: &AuditEntry) -> Value {
    serde_json::from_str(&e.payload).unwrap_or(Value::Null)
}

/// A JSON value as the text a table column holds.
pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Sets the columns of the row an entry is about.
struct Setter<'r> {
    row: &'r mut Row,
    seq: i64,
}

impl Setter<'_> {
    fn set(&mut self, k: &'static str, v: Option<String>) {
        self.row.insert(k, (v, self.seq));
    }
}

/// The row of `map` an entry with subject `{kind}/{id}` is about.
fn row<'r>(map: &'r mut BTreeMap<i64, Row>, e: &AuditEntry, kind: &str) -> Option<Setter<'r>> {
    let id = e.subject.strip_prefix(kind)?.strip_prefix('/')?.parse().ok()?;
    Some(Setter { row: map.entry(id).or_default(), seq: e.seq })
}

impl<'e> Expected<'e> {
    pub fn from_log(entries: &'e [AuditEntry]) -> Expected<'e> {
        let mut x = Expected::default();
        for e in entries {
            // Text that is no action: the entry was altered (the chain
            // check names it) or written by a newer credo.
            let Some(action) = e.action_kind() else { continue };
            let p = payload(e);
            match action {
                AuditAction::StoreIdentity => {
                    x.identity.get_or_insert(e);
                }
                AuditAction::RunStart => run_start(&mut x.runs, e, &p),
                AuditAction::RunRules => run_rules(&mut x.runs, e, &p),
                AuditAction::RunFinish => run_finish(&mut x.runs, e, &p),
                AuditAction::RunFail => run_fail(&mut x.runs, e, &p),
                AuditAction::PlanCreate => plan_create(&mut x.plans, e, &p),
                AuditAction::PlanReveal => plan_reveal(&mut x.plans, e, &p),
                AuditAction::PlanCancel => plan_cancel(&mut x.plans, e, &p),
                AuditAction::PlanPublish => plan_publish(&mut x.plans, e, &p),
                AuditAction::ResultSubmit => result_submit(&mut x.results, e, p),
                AuditAction::ObjectionFile => objection_file(&mut x.objections, e, &p),
                AuditAction::ObjectionDecide => objection_decide(&mut x.objections, e, &p),
                AuditAction::ApprovalRevoke => approval_revoke(&mut x.revocations, e, &p),
                // Not rebuilt: principals and tokens are checked against
                // their hashes on every use, rule versions are addressed
                // by the hash of their files, imports and jobs leave no
                // row the other tables depend on.
                AuditAction::PrincipalCreate
                | AuditAction::TokenCreate
                | AuditAction::TokenRevoke
                | AuditAction::RulesAdd
                | AuditAction::RulesActivate
                | AuditAction::RulesSchedule
                | AuditAction::DatasetImport
                | AuditAction::JobStart
                | AuditAction::JobFinish => {}
            }
        }
        x
    }
}

fn run_start(runs: &mut BTreeMap<i64, Row>, e: &AuditEntry, p: &Value) {
    let Some(mut r) = row(runs, e, "run") else { return };
    r.set("dataset_hash", text(&p["dataset_hash"]));
    r.set("rules_hash", text(&p["rules_hash"]));
    r.set("as_of", text(&p["as_of"]));
    r.set("status", Some(RunStatus::Running.to_string()));
}

fn run_rules(runs: &mut BTreeMap<i64, Row>, e: &AuditEntry, p: &Value) {
    let Some(mut r) = row(runs, e, "run") else { return };
    r.set("rule_version", text(&p["rule_version"]));
    r.set("rule_choice", text(&p["rule_choice"]));
}

fn run_finish(runs: &mut BTreeMap<i64, Row>, e: &AuditEntry, p: &Value) {
    let Some(mut r) = row(runs, e, "run") else { return };
    r.set("status", Some(RunStatus::Done.to_string()));
    r.set("entities", text(&p["entities"]));
    if !p["results_hash"].is_null() {
        r.set("results_hash", text(&p["results_hash"]));
        r.set("results_index_hash", text(&p["results_index_hash"]));
    }
}

fn run_fail(runs: &mut BTreeMap<i64, Row>, e: &AuditEntry, p: &Value) {
    let Some(mut r) = row(runs, e, "run") else { return };
    r.set("status", Some(RunStatus::Failed.to_string()));
    r.set("error", text(&p["error"]));
}

fn plan_create(plans: &mut BTreeMap<i64, Row>, e: &AuditEntry, p: &Value) {
    let Some(mut r) = row(plans, e, "plan") else { return };
    for k in ["name", "kind", "dataset_hash", "rules_hash", "frame_hash", "commitment", "beacon_source", "release_at"] {
        r.set(k, text(&p[k]));
    }
    r.set("run_id", text(&p["run"]));
    r.set("params", Some(p["params"].to_string()));
    r.set("status", Some(PlanStatus::Committed.to_string()));
    // Recorded by credo-draw-v2 plans only.
    for k in ["created_at", "spec", "beacon_rule", "beacon_published_at"] {
        if !p[k].is_null() {
            r.set(k, text(&p[k]));
        }
    }
    for k in ["replaces", "excluded_by", "frame_stats"] {
        if !p[k].is_null() {
            r.set(k, Some(p[k].to_string()));
        }
    }
}

fn plan_reveal(plans: &mut BTreeMap<i64, Row>, e: &AuditEntry, p: &Value) {
    let Some(mut r) = row(plans, e, "plan") else { return };
    r.set("status", Some(PlanStatus::Revealed.to_string()));
    for k in ["secret", "beacon", "result_hash"] {
        r.set(k, text(&p[k]));
    }
    for k in ["revealed_at", "beacon_value", "beacon_supplied_at"] {
        if p.get(k).is_some() {
            r.set(k, text(&p[k]));
        }
    }
    r.set("visits", text(&p["visits"]));
    r.set("staffed", text(&p["staffed"]));
}

fn plan_cancel(plans: &mut BTreeMap<i64, Row>, e: &AuditEntry, p: &Value) {
    let Some(mut r) = row(plans, e, "plan") else { return };
    r.set("status", Some(PlanStatus::Cancelled.to_string()));
    r.set("cancelled_reason", text(&p["reason"]));
    if !p["cancelled_at"].is_null() {
        r.set("cancelled_at", text(&p["cancelled_at"]));
    }
}

fn plan_publish(plans: &mut BTreeMap<i64, Row>, e: &AuditEntry, p: &Value) {
    let Some(mut r) = row(plans, e, "plan") else { return };
    r.set("published", Some("yes".into()));
    if !p["published_at"].is_null() {
        r.set("published_at", text(&p["published_at"]));
    }
}

fn result_submit<'e>(results: &mut BTreeMap<ResultKey, (Value, &'e AuditEntry)>, e: &'e AuditEntry, p: Value) {
    let mut parts = e.subject.split('/');
    let (Some("plan"), Some(plan), Some("visit"), Some(seq)) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let (Ok(plan), Ok(seq)) = (plan.parse(), seq.parse()) else { return };
    let dept = p["department"].as_str().unwrap_or_default().to_string();
    results.insert((plan, seq, dept), (p, e));
}

fn objection_file(objections: &mut BTreeMap<i64, Row>, e: &AuditEntry, p: &Value) {
    let Some(mut r) = row(objections, e, "objection") else { return };
    for k in ["uscc", "record_id", "region", "reason", "filed_on", "filed_at", "filed_by"] {
        r.set(k, text(&p[k]));
    }
    r.set("status", Some(ObjectionStatus::Open.to_string()));
}

fn objection_decide(objections: &mut BTreeMap<i64, Row>, e: &AuditEntry, p: &Value) {
    let Some(mut r) = row(objections, e, "objection") else { return };
    for k in ["status", "decided_on", "decision_reason", "decided_at", "decided_by"] {
        r.set(k, text(&p[k]));
    }
}

fn approval_revoke(revocations: &mut BTreeMap<i64, Row>, e: &AuditEntry, p: &Value) {
    let Some(mut r) = row(revocations, e, "revocation") else { return };
    for k in [
        "uscc",
        "commitment_id",
        "approval_item",
        "department",
        "result_id",
        "plan_id",
        "seq",
        "revoked_on",
        "recorded_at",
        "recorded_by",
    ] {
        r.set(k, text(&p[k]));
    }
}
