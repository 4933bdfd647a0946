//! Inspection plans: create (from a fresh or a stored classification),
//! reveal, export, verify, disclose, and officers' results.

use chrono::Datelike;
use serde::Serialize;

use super::{OpsError, Result, RunRequest, begin_run, execute_run, run_results};
use crate::classify;
use crate::data::LoadedDataset;
use crate::draw::{self, Bundle, DrawResult, Outcome, Visit};
use crate::engine::RuleSet;
use crate::model::*;
use crate::plan::{self, History, PlanKind, PlanParams};
use crate::snapshot::Snapshot;
use crate::store::{PlanRecord, Store, StoreError, VisitRecord};

/// A plan just created. `secret` is set only when credo generated it: it
/// is shown once and never stored until the reveal.
#[derive(Debug, Serialize)]
pub struct CreatedPlan {
    pub id: i64,
    pub run_id: i64,
    pub frame_hash: String,
    pub commitment: String,
    pub secret: Option<String>,
    pub stats: plan::FrameStats,
}

/// 32 bytes from the operating system's random source.
pub fn new_secret() -> Result<[u8; 32]> {
    let mut s = [0u8; 32];
    getrandom::fill(&mut s).map_err(|e| OpsError::Invalid(format!("no operating-system randomness: {e}")))?;
    Ok(s)
}

pub fn parse_hex(what: &str, s: &str) -> Result<Vec<u8>> {
    hex::decode(s.trim()).map_err(|e| OpsError::Invalid(format!("{what} is not hexadecimal: {e}")))
}

/// Creates a plan: classifies, builds and freezes the frame, records the
/// commitment (before any result can exist) and writes the frame file.
/// `loaded` holds the dataset with officers' submitted results added.
pub fn create_plan(
    store: &Store,
    loaded: &LoadedDataset,
    dataset_label: &str,
    rules: &RuleSet,
    params: &PlanParams,
    commitment: Option<[u8; 32]>,
    actor: &str,
) -> Result<CreatedPlan> {
    params.validate(&loaded.snapshot.departments).map_err(OpsError::Invalid)?;
    let run = begin_run(store, &loaded.hash, dataset_label, rules, params.as_of, actor)?;
    let mut entities: Vec<plan::PlanEntity> = Vec::new();
    let req = RunRequest {
        run,
        snapshot: &loaded.snapshot,
        rules,
        as_of: params.as_of,
        actor,
        output: None,
        options: &classify::Options::default(),
    };
    execute_run(store, &req, &|_| {}, &mut |shard| entities.extend(shard.iter().map(plan::PlanEntity::from_result)))?;
    let origin = Origin { dataset_hash: &loaded.hash, run_id: run, rules_hash: rules.hash() };
    create_plan_with(store, &loaded.snapshot, &origin, &entities, params, commitment, actor)
}

/// Creates a plan from a finished run in the store (the classification a
/// regulator has reviewed): same dataset, same as-of date. `loaded` holds
/// the dataset with officers' submitted results added.
pub fn create_plan_from_run(
    store: &Store,
    loaded: &LoadedDataset,
    run_id: i64,
    params: &PlanParams,
    commitment: Option<[u8; 32]>,
    actor: &str,
) -> Result<CreatedPlan> {
    let run = store.run(run_id)?;
    if run.status != "done" {
        return Err(StoreError::Conflict(format!("run {run_id} is {}; a plan needs a finished run", run.status)).into());
    }
    if run.dataset_hash != loaded.hash {
        return Err(OpsError::Invalid(format!(
            "run {run_id} classified dataset {}, not the loaded {}",
            run.dataset_hash, loaded.hash
        )));
    }
    if run.as_of != params.as_of.to_string() {
        return Err(OpsError::Invalid(format!("run {run_id} is as of {}, the plan as of {}", run.as_of, params.as_of)));
    }
    params.validate(&loaded.snapshot.departments).map_err(OpsError::Invalid)?;
    let mut entities = Vec::new();
    let mut bad = None;
    run_results(store, run_id)?.for_each(&mut |rows| {
        for r in &rows {
            match plan::PlanEntity::from_stored(r) {
                Ok(e) => entities.push(e),
                Err(e) => {
                    bad.get_or_insert(e);
                }
            }
        }
    })?;
    if let Some(e) = bad {
        return Err(OpsError::Invalid(e));
    }
    let origin = Origin { dataset_hash: &loaded.hash, run_id, rules_hash: &run.rules_hash };
    create_plan_with(store, &loaded.snapshot, &origin, &entities, params, commitment, actor)
}

/// Where a plan's classification came from.
struct Origin<'a> {
    dataset_hash: &'a str,
    run_id: i64,
    rules_hash: &'a str,
}

fn create_plan_with(
    store: &Store,
    s: &Snapshot,
    origin: &Origin<'_>,
    entities: &[plan::PlanEntity],
    params: &PlanParams,
    commitment: Option<[u8; 32]>,
    actor: &str,
) -> Result<CreatedPlan> {
    let (secret, commitment) = match commitment {
        Some(c) => (None, c),
        None => {
            let s = new_secret()?;
            (Some(s), draw::commitment(&s))
        }
    };
    let mut history = History::from_snapshot(s, params.as_of);
    for (uscc, by) in store.drawn_in_year(params.as_of.year())? {
        if let Ok(u) = Uscc::parse(&uscc) {
            history.random_this_year.entry(u).or_insert(by);
        }
    }
    // The plan id is part of the frame; it is the next id of the plans table.
    let next_id = store.plans()?.last().map_or(1, |p| p.id + 1);
    let (frame, stats) = plan::build_frame(s, entities, params, &next_id.to_string(), commitment, &history)
        .map_err(OpsError::Invalid)?;
    let frame_hash = hex::encode(frame.hash());
    let text = plan::frame_file(&frame);
    let params_json = serde_json::to_value(params).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let stats_json = serde_json::to_value(&stats).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let kind = match params.kind {
        PlanKind::Random => "random",
        PlanKind::CommitmentCheck => "commitment_check",
    };
    let commitment_hex = hex::encode(commitment);
    let id = store.create_plan(
        &crate::store::NewPlan {
            actor,
            name: &params.name,
            kind,
            params: &params_json,
            run_id: origin.run_id,
            dataset_hash: origin.dataset_hash,
            rules_hash: origin.rules_hash,
            frame_hash: &frame_hash,
            frame_stats: &stats_json,
            commitment: &commitment_hex,
            beacon_source: &params.beacon_source,
            release_at: &params.release_at,
        },
        |id| {
            if id != next_id {
                return Err(format!("plan id {id} differs from the id {next_id} written into its frame"));
            }
            let path = store.frame_path(id).map_err(|e| e.to_string())?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))
        },
    )?;
    Ok(CreatedPlan {
        id,
        run_id: origin.run_id,
        frame_hash,
        commitment: commitment_hex,
        secret: secret.map(hex::encode),
        stats,
    })
}

/// Reads a plan's frozen frame and checks it is the one committed to.
pub fn load_frame(store: &Store, plan: &PlanRecord) -> Result<draw::Frame> {
    let path = store.frame_path(plan.id)?;
    let text = std::fs::read_to_string(&path).map_err(|e| OpsError::Invalid(format!("{}: {e}", path.display())))?;
    let frame = plan::read_frame_file(&text).map_err(OpsError::Invalid)?;
    let hash = hex::encode(frame.hash());
    if hash != plan.frame_hash {
        return Err(OpsError::Invalid(format!(
            "the stored frame of plan {} hashes to {hash}, but the plan committed to {}: the frame file was altered",
            plan.id, plan.frame_hash
        )));
    }
    Ok(frame)
}

/// The summary of a revealed draw.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revealed {
    pub plan: i64,
    pub visits: usize,
    pub staffed: usize,
    pub unstaffed: usize,
    pub result_hash: String,
}

/// Reveals the secret and draws: checks it against the commitment, runs
/// credo-draw-v1 over the frozen frame, stores visits and assignments.
pub fn reveal_plan(
    store: &Store,
    names: &dyn Fn(&Uscc) -> String,
    id: i64,
    secret: &[u8],
    beacon: &[u8],
    actor: &str,
) -> Result<Revealed> {
    let plan = store.plan(id)?;
    if plan.status != "committed" {
        return Err(StoreError::Conflict(format!(
            "plan {id} is {}; only a committed plan can be revealed, once",
            plan.status
        ))
        .into());
    }
    let frame = load_frame(store, &plan)?;
    let result = draw::draw(&frame, secret, beacon)?;
    let visits: Vec<VisitRecord> = result
        .visits
        .iter()
        .enumerate()
        .map(|(i, v)| VisitRecord {
            plan_id: id,
            seq: i as i64 + 1,
            uscc: v.uscc.to_string(),
            name: names(&v.uscc),
            stratum: v.stratum.clone(),
            ticket: v.ticket.to_string(),
            items: v.items.iter().map(|x| (x.department.clone(), x.code.clone())).collect(),
            officers: match &v.outcome {
                Outcome::Staffed(o) => o.clone(),
                Outcome::Unstaffed(_) => Vec::new(),
            },
            unstaffed: match &v.outcome {
                Outcome::Unstaffed(r) => Some(r.clone()),
                Outcome::Staffed(_) => None,
            },
        })
        .collect();
    let result_hash = hex::encode(result.hash());
    store.reveal_plan(id, actor, &hex::encode(secret), &hex::encode(beacon), &result_hash, &visits)?;
    let staffed = result.staffed();
    Ok(Revealed { plan: id, visits: visits.len(), staffed, unstaffed: visits.len() - staffed, result_hash })
}

/// The stored draw as a [`DrawResult`] (what the store says happened).
fn stored_result(store: &Store, frame: &draw::Frame, id: i64) -> Result<DrawResult> {
    let visits = store.visits(id)?;
    let mut out = Vec::with_capacity(visits.len());
    for v in &visits {
        out.push(Visit {
            uscc: Uscc::parse(&v.uscc).map_err(|e| OpsError::Invalid(format!("stored visit {}: {e}", v.seq)))?,
            stratum: v.stratum.clone(),
            ticket: v.ticket.parse().map_err(|_| OpsError::Invalid(format!("stored visit {}: bad ticket", v.seq)))?,
            items: v.items.iter().map(|(d, c)| draw::Item { department: d.clone(), code: c.clone() }).collect(),
            outcome: match &v.unstaffed {
                Some(r) => Outcome::Unstaffed(r.clone()),
                None => Outcome::Staffed(v.officers.clone()),
            },
        });
    }
    let populations = frame.populations();
    let counts = frame
        .strata()
        .iter()
        .zip(populations)
        .map(|(s, population)| draw::StratumCount {
            key: s.key.clone(),
            population,
            selected: out.iter().filter(|v| v.stratum == s.key).count() as u64,
        })
        .collect();
    Ok(DrawResult { counts, visits: out })
}

/// The self-contained bundle of a revealed plan, from what the store holds.
pub fn export_bundle(store: &Store, id: i64) -> Result<String> {
    let plan = store.plan(id)?;
    if plan.status != "revealed" {
        return Err(StoreError::Conflict(format!(
            "plan {id} is {}; only a revealed plan has a draw to export",
            plan.status
        ))
        .into());
    }
    let frame = load_frame(store, &plan)?;
    let secret = parse_hex("the stored secret", plan.secret.as_deref().unwrap_or(""))?;
    let beacon = parse_hex("the stored beacon", plan.beacon.as_deref().unwrap_or(""))?;
    let result = stored_result(store, &frame, id)?;
    Ok(Bundle::render_parts(&frame, &secret, &beacon, &result))
}

/// Re-derives a plan's draw from its stored frame and secret and compares
/// it with the stored visits.
pub fn verify_plan(store: &Store, id: i64) -> Result<draw::Report> {
    let text = export_bundle(store, id)?;
    Ok(draw::verify(&text))
}

/// The public disclosure of a plan: what was planned and, once released,
/// what was found. No personal data: no person hashes, no officer ids, and
/// individual businesses (whose names are often personal names) by code only.
#[derive(Debug, Serialize)]
pub struct Disclosure {
    pub plan: i64,
    pub name: String,
    pub kind: String,
    pub departments: Vec<String>,
    pub items: Vec<(String, String)>,
    pub as_of: String,
    pub status: String,
    pub frame_hash: String,
    pub commitment: String,
    pub beacon_source: String,
    pub release_at: String,
    pub eligible: u64,
    pub strata: Vec<DisclosedStratum>,
    /// Present once the plan is revealed.
    pub draw: Option<DisclosedDraw>,
    /// Head of the audit log when the disclosure was made.
    pub audit_head: String,
}

#[derive(Debug, Serialize)]
pub struct DisclosedStratum {
    pub key: String,
    pub population: u64,
    pub selected: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct DisclosedDraw {
    pub secret: String,
    pub beacon: String,
    pub result_hash: String,
    pub visits: Vec<DisclosedVisit>,
}

#[derive(Debug, Serialize)]
pub struct DisclosedVisit {
    pub seq: i64,
    pub uscc: String,
    /// Omitted for individual businesses.
    pub name: Option<String>,
    pub items: Vec<String>,
    pub officers: usize,
    pub unstaffed: bool,
    /// Results submitted, by department: compliant, violation, ...
    pub results: Vec<(String, String)>,
}

/// Builds the disclosure. Visits are included only after the release time
/// (`now`, RFC 3339), so publishing cannot tip anyone off. The audit head
/// is the newest entry's hash; with `verify_chain` the whole chain is
/// checked first and a broken chain refuses the disclosure.
pub fn disclosure(store: &Store, id: i64, now: chrono::DateTime<chrono::FixedOffset>) -> Result<Disclosure> {
    disclosure_with(store, id, now, true)
}

pub fn disclosure_with(
    store: &Store,
    id: i64,
    now: chrono::DateTime<chrono::FixedOffset>,
    verify_chain: bool,
) -> Result<Disclosure> {
    let plan = store.plan(id)?;
    let frame = load_frame(store, &plan)?;
    let params: PlanParams =
        serde_json::from_value(plan.params.clone()).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let populations = frame.populations();
    let released = chrono::DateTime::parse_from_rfc3339(&plan.release_at).map(|t| now >= t).unwrap_or(false);
    let drawn = plan.status == "revealed";
    let result = if drawn { Some(stored_result(store, &frame, id)?) } else { None };
    let strata = frame
        .strata()
        .iter()
        .zip(&populations)
        .map(|(s, &population)| DisclosedStratum {
            key: s.key.clone(),
            population,
            selected: result.as_ref().map(|r| r.visits.iter().filter(|v| v.stratum == s.key).count() as u64),
        })
        .collect();
    let mut items: Vec<(String, String)> = Vec::new();
    for e in frame.entities() {
        for (d, c) in e.items() {
            if !items.iter().any(|(a, b)| a == d && b == c) {
                items.push((d.to_string(), c.to_string()));
            }
        }
    }
    items.sort();
    let draw = if drawn && released {
        let results = store.results_of_plan(id)?;
        let visits = store
            .visits(id)?
            .into_iter()
            .map(|v| {
                let individual = v.uscc.as_bytes().get(1) == Some(&b'2');
                DisclosedVisit {
                    seq: v.seq,
                    name: (!individual).then(|| v.name.clone()),
                    items: v.items.iter().map(|(_, c)| c.clone()).collect(),
                    officers: v.officers.len(),
                    unstaffed: v.unstaffed.is_some(),
                    results: results
                        .iter()
                        .filter(|r| r.seq == v.seq)
                        .map(|r| (r.department.clone(), r.result.clone()))
                        .collect(),
                    uscc: v.uscc,
                }
            })
            .collect();
        Some(DisclosedDraw {
            secret: plan.secret.clone().unwrap_or_default(),
            beacon: plan.beacon.clone().unwrap_or_default(),
            result_hash: plan.result_hash.clone().unwrap_or_default(),
            visits,
        })
    } else {
        None
    };
    let audit_head = if verify_chain {
        match store.read(crate::store::audit::verify)? {
            crate::store::ChainReport::Intact { head, .. } => head,
            crate::store::ChainReport::Broken { seq, reason } => {
                return Err(OpsError::Invalid(format!(
                    "the audit log is broken at entry {seq}: {reason}; refusing to publish"
                )));
            }
        }
    } else {
        store.read(crate::store::audit::head)?
    };
    Ok(Disclosure {
        plan: id,
        name: plan.name,
        kind: plan.kind,
        departments: params.departments,
        items,
        as_of: params.as_of.to_string(),
        status: plan.status,
        frame_hash: plan.frame_hash,
        commitment: plan.commitment,
        beacon_source: plan.beacon_source,
        release_at: plan.release_at,
        eligible: populations.iter().sum(),
        strata,
        draw,
        audit_head,
    })
}

/// Records an officer's result for a visit: the officer must be assigned
/// to it, the department must have items in it, and the plan's release
/// time must have passed (nobody inspects before the release).
#[allow(clippy::too_many_arguments)]
pub fn submit_result(
    store: &Store,
    plan_id: i64,
    seq: i64,
    officer: &str,
    department: &str,
    result: &str,
    commitment_status: Option<&str>,
    inspected_on: Date,
    notes: &str,
) -> Result<i64> {
    let plan = store.plan(plan_id)?;
    let visit = store.visit(plan_id, seq)?;
    if !visit.officers.iter().any(|o| o == officer) {
        return Err(OpsError::Invalid(format!("officer {officer} is not assigned to visit {seq} of plan {plan_id}")));
    }
    if !visit.items.iter().any(|(d, _)| d == department) {
        return Err(OpsError::Invalid(format!("visit {seq} of plan {plan_id} has no {department} items")));
    }
    result.parse::<InspectionResult>().map_err(|e| OpsError::Invalid(format!("result {e}")))?;
    match (plan.kind.as_str(), commitment_status) {
        ("commitment_check", None) => {
            return Err(OpsError::Invalid(
                "a commitment check needs the commitment's status: fulfilled or breached".into(),
            ));
        }
        ("commitment_check", Some(s)) if s != "fulfilled" && s != "breached" => {
            return Err(OpsError::Invalid(format!("commitment status '{s}' is not fulfilled or breached")));
        }
        ("random", Some(_)) => {
            return Err(OpsError::Invalid("only commitment checks report a commitment status".into()));
        }
        _ => {}
    }
    let release =
        chrono::DateTime::parse_from_rfc3339(&plan.release_at).map_err(|e| OpsError::Invalid(e.to_string()))?;
    if inspected_on < release.date_naive() {
        return Err(OpsError::Invalid(format!(
            "the inspection date {inspected_on} is before the plan's release ({})",
            plan.release_at
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

/// Entity names by credit code, for visits.
pub fn name_lookup(s: &Snapshot) -> impl Fn(&Uscc) -> String + '_ {
    move |u| s.entities.find(u).map(|e| s.entities.name(e).to_string()).unwrap_or_default()
}
