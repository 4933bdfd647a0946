//! Creating inspection plans (from a fresh or a stored classification):
//! the request checked, the frame built over the creator's jurisdiction
//! and frozen, the commitment recorded before any result can exist.
//! Revealing is in `reveal`, the public side in `disclosure`, officers'
//! results in `results`.
//!
//! New plans are credo-draw-v2: the frame names the beacon (or none) and
//! the plan's provenance, plan ids are `{store_id}/{n}`, bundles and
//! disclosures are signed with the store's key, and a disclosure exists
//! from the moment a plan is created (with its commitment and frame hash),
//! so the draw cannot be re-rolled unseen. Plans made by an older credo
//! (credo-draw-v1) keep revealing, exporting and verifying as before.

use std::collections::BTreeSet;

use chrono::Datelike;
use serde::Serialize;

use super::{OpsError, Result, RunRequest, begin_run, execute_run, run_results};
use super::{limits, policy};
use crate::classify;
use crate::data::LoadedDataset;
use crate::draw::{self, Spec};
use crate::engine::RuleSet;
use crate::model::access::{Jurisdiction, Principal};
use crate::model::*;
use crate::model::{PlanStatus, RunStatus};
use crate::plan::{self, FrameIdentity, History, InspectedBy, PlanParams};
use crate::snapshot::Snapshot;
use crate::store::{PlanRecord, Store, StoreError};
use crate::tr;

/// A plan just created. `secret` is set only when credo generated it: it
/// is shown once and never stored until the reveal.
#[derive(Debug, Serialize)]
pub struct CreatedPlan {
    pub id: i64,
    /// `{store_id}/{id}`: unique across stores.
    pub plan_id: String,
    pub run_id: i64,
    pub frame_hash: String,
    pub commitment: String,
    pub secret: Option<String>,
    pub stats: plan::FrameStats,
    /// Cancelled plans over the same population this plan replaces.
    pub replaces: Vec<String>,
    /// Earlier plans whose visits excluded entities from this frame.
    pub excluded_by: Vec<String>,
}

/// A plan's id across stores: `{store_id}/{number}`.
pub fn global_plan_id(store: &Store, number: i64) -> String {
    format!("{}/{number}", store.identity().store_id)
}

/// Cancelled plans over the same population as `params` (same dataset,
/// as-of date, kind and departments) that no plan replaces yet.
fn replaced_plans(store: &Store, plans: &[PlanRecord], dataset_hash: &str, params: &PlanParams) -> Vec<String> {
    let mut departments = params.departments.clone();
    departments.sort();
    departments.dedup();
    let already: BTreeSet<&String> = plans.iter().flat_map(|p| &p.replaces).collect();
    plans
        .iter()
        .filter(|p| p.status == PlanStatus::Cancelled && p.dataset_hash == dataset_hash && p.kind == params.kind)
        .filter(|p| {
            serde_json::from_value::<PlanParams>(p.params.clone()).is_ok_and(|q| {
                let mut d = q.departments.clone();
                d.sort();
                d.dedup();
                q.as_of == params.as_of && d == departments
            })
        })
        .map(|p| global_plan_id(store, p.id))
        .filter(|id| !already.contains(id))
        .collect()
}

/// 32 bytes from the operating system's random source.
pub fn new_secret() -> Result<[u8; 32]> {
    let mut s = [0u8; 32];
    getrandom::fill(&mut s)
        .map_err(OpsError::internal(tr!("操作系统的随机源不可用", "no operating-system randomness")))?;
    Ok(s)
}

pub fn parse_hex(what: &str, s: &str) -> Result<Vec<u8>> {
    hex::decode(s.trim())
        .map_err(|e| OpsError::Rejected(tr!("{what} 不是十六进制：{e}", "{what} is not hexadecimal: {e}")))
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
    creator: &Principal,
) -> Result<CreatedPlan> {
    check_plan_request(creator, params)?;
    params.validate(&loaded.snapshot.departments)?;
    let actor = &creator.actor();
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
    let classified = Classified {
        snapshot: &loaded.snapshot,
        entities: &entities,
        dataset_hash: &loaded.hash,
        run_id: run,
        rules_hash: rules.hash(),
    };
    create_plan_with(store, &classified, params, commitment, creator, &Cancel::never())
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
    creator: &Principal,
    cancel: &Cancel,
) -> Result<CreatedPlan> {
    check_plan_request(creator, params)?;
    let run = store.run(run_id)?;
    params.validate(&loaded.snapshot.departments)?;
    let entities = classified_from_run(store, loaded, run_id, params)?;
    cancel.check()?;
    let classified = Classified {
        snapshot: &loaded.snapshot,
        entities: &entities,
        dataset_hash: &loaded.hash,
        run_id,
        rules_hash: &run.rules_hash,
    };
    create_plan_with(store, &classified, params, commitment, creator, cancel)
}

/// What a finished run said of each entity, for a plan over `loaded` as
/// of `params.as_of`: refused unless the run is finished, of the same
/// dataset and of the same date.
pub(super) fn classified_from_run(
    store: &Store,
    loaded: &LoadedDataset,
    run_id: i64,
    params: &PlanParams,
) -> Result<Vec<plan::PlanEntity>> {
    let run = store.run(run_id)?;
    if run.status != RunStatus::Done {
        let status = &run.status;
        return Err(StoreError::Conflict(tr!(
            "运行 {run_id} 的状态为 {status}；计划需要已完成的运行",
            "run {run_id} is {status}; a plan needs a finished run"
        ))
        .into());
    }
    if run.dataset_hash != loaded.hash {
        let (classified, given) = (&run.dataset_hash, &loaded.hash);
        return Err(OpsError::Rejected(tr!(
            "运行 {run_id} 分级分类的数据集是 {classified}，不是已加载的 {given}",
            "run {run_id} classified dataset {classified}, not the loaded {given}"
        )));
    }
    if run.as_of != params.as_of.to_string() {
        let (run_as_of, plan_as_of) = (&run.as_of, &params.as_of);
        return Err(OpsError::Rejected(tr!(
            "运行 {run_id} 的评价日期是 {run_as_of}，计划的是 {plan_as_of}",
            "run {run_id} is as of {run_as_of}, the plan as of {plan_as_of}"
        )));
    }
    let mut entities = Vec::new();
    let mut bad = None;
    run_results(store, run_id)?.for_each_tier(&mut |rows| {
        for r in &rows {
            match stored_plan_entity(r) {
                Ok(e) => entities.push(e),
                Err(e) => {
                    bad.get_or_insert(e);
                }
            }
        }
    })?;
    match bad {
        Some(e) => Err(e),
        None => Ok(entities),
    }
}

/// A stored run's result as the plan sees it.
fn stored_plan_entity(r: &crate::data::results::StoredTier) -> Result<plan::PlanEntity> {
    Ok(plan::PlanEntity {
        uscc: Uscc::parse(&r.uscc).map_err(OpsError::internal(tr!("存储的检查结果 {}", "stored result {}", r.uscc)))?,
        tier: r.tier,
        risk: r.risk.clone(),
        probability_ppm: r.probability_ppm,
        city: r.city,
        county: r.county,
        supervision_reason: r.supervision_reason.clone(),
    })
}

/// The stored rule version a run classified with: a plan made from the
/// run takes its draw defaults from it. A run whose rule set the store
/// does not hold is refused rather than given other defaults.
pub fn run_rule_version(store: &Store, run: &crate::store::RunRecord) -> Result<i64> {
    store.rule_versions()?.into_iter().find(|v| v.hash == run.rules_hash).map(|v| v.id).ok_or_else(|| {
        StoreError::Conflict(tr!(
            "运行 {} 使用的规则 {} 不在存储中：依据该运行制定计划之前请先上传这些规则（POST /rules），以便计划采用其抽取默认值",
            "run {} classified with rules {} that the store does not hold: upload them (POST /rules) before planning \
             from this run, so the plan takes their draw defaults",
            run.id,
            run.rules_hash
        ))
        .into()
    })
}

/// The checks every plan request passes before any work: the creator may
/// plan, and every field is within its bounds.
pub(super) fn check_plan_request(creator: &Principal, params: &PlanParams) -> Result<()> {
    policy::decide(creator, policy::Action::CreatePlan, policy::Resource::Store)?;
    limits::required_text("name", &params.name, limits::NAME)?;
    if params.departments.is_empty() {
        return Err(limits::field(
            "departments",
            tr!("计划至少需要一个参与部门", "a plan needs at least one participating department"),
        ));
    }
    limits::list("departments", &params.departments, limits::DEPARTMENTS, limits::CODE)?;
    limits::date("as_of", params.as_of)?;
    limits::time("release_at", &params.release_at)?;
    limits::text("beacon_source", &params.beacon_source, limits::BEACON_SOURCE)?;
    if !params.beacon_published_at.is_empty() {
        limits::time("beacon_published_at", &params.beacon_published_at)?;
    }
    Ok(())
}

/// Whether the caller still waits for the work: long operations check it
/// between phases and stop (without writing anything) once it is set.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Option<std::sync::Arc<std::sync::atomic::AtomicBool>>);

impl Cancel {
    /// Work nobody cancels (the CLI: Ctrl-C ends the process).
    pub fn never() -> Cancel {
        Cancel(None)
    }

    /// A flag the caller sets when it stops waiting.
    pub fn new() -> (Cancel, std::sync::Arc<std::sync::atomic::AtomicBool>) {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        (Cancel(Some(flag.clone())), flag)
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
    }

    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(OpsError::Cancelled(tr!("请求在工作完成前已结束", "the request ended before the work did")))
        } else {
            Ok(())
        }
    }
}

/// A plan's classification: the dataset, what the run said of each
/// entity, and where it came from.
struct Classified<'a> {
    snapshot: &'a Snapshot,
    entities: &'a [plan::PlanEntity],
    dataset_hash: &'a str,
    run_id: i64,
    rules_hash: &'a str,
}

/// A plan covers its creator's jurisdiction: a county regulator's frame
/// holds the county's entities only (`None`: the province, all of them).
pub(super) fn in_jurisdiction(entities: &[plan::PlanEntity], j: Jurisdiction) -> Option<Vec<plan::PlanEntity>> {
    (j != Jurisdiction::PROVINCE).then(|| entities.iter().filter(|e| j.contains_code(e.county)).cloned().collect())
}

/// Random inspections within the once-a-year window ending on the plan's
/// as-of date: in the dataset, and drawn by the store's earlier plans.
pub(super) fn plan_history(store: &Store, s: &Snapshot, params: &PlanParams) -> Result<History> {
    let (window, as_of) = (params.once_a_year_window, params.as_of);
    let mut history = History::from_snapshot(s, window.start(as_of), as_of);
    let drawn = match window {
        crate::engine::YearWindow::Calendar => store.drawn_in_year(as_of.year())?,
        crate::engine::YearWindow::Rolling => store.drawn_between(window.start(as_of), as_of)?,
    };
    for v in drawn {
        if let Ok(u) = Uscc::parse(&v.uscc) {
            history
                .random_this_year
                .entry(u)
                .or_insert(InspectedBy::Plan { plan_id: global_plan_id(store, v.plan_id), visit: v.seq });
        }
    }
    Ok(history)
}

fn create_plan_with(
    store: &Store,
    origin: &Classified<'_>,
    params: &PlanParams,
    commitment: Option<[u8; 32]>,
    creator: &Principal,
    cancel: &Cancel,
) -> Result<CreatedPlan> {
    let s = origin.snapshot;
    let actor = &creator.actor();
    let jurisdiction = creator.jurisdiction;
    let local: Vec<plan::PlanEntity>;
    let entities = match in_jurisdiction(origin.entities, jurisdiction) {
        Some(l) => {
            local = l;
            &local[..]
        }
        None => origin.entities,
    };
    let (secret, commitment) = match commitment {
        Some(c) => (None, c),
        None => {
            let s = new_secret()?;
            (Some(s), draw::commitment(&s))
        }
    };
    let history = plan_history(store, s, params)?;
    let plans = store.plans()?;
    // The plan id is part of the frame; it is the next id of the plans table.
    let next_id = plans.last().map_or(1, |p| p.id + 1);
    let created_at = crate::store::now();
    let kind = params.kind;
    let replaces = replaced_plans(store, &plans, origin.dataset_hash, params);
    let provenance = draw::Provenance {
        store_id: store.identity().store_id.clone(),
        plan_number: next_id as u64,
        kind: kind.as_str().to_string(),
        name: params.name.clone(),
        created_at: created_at.clone(),
        as_of: params.as_of.to_string(),
        dataset_hash: origin.dataset_hash.to_string(),
        rules_hash: origin.rules_hash.to_string(),
        run_id: origin.run_id as u64,
        release_at: params.release_at.clone(),
        replaces: replaces.clone(),
        excluded_by: Vec::new(),
    };
    let identity = FrameIdentity { plan_id: global_plan_id(store, next_id), commitment, provenance: Some(provenance) };
    let (frame, stats) = plan::build_frame(s, entities, params, &identity, &history)?;
    cancel.check()?;
    let excluded_by = frame.v2().map(|h| h.provenance.excluded_by.clone()).unwrap_or_default();
    let frame_hash = hex::encode(frame.hash());
    let text = plan::frame_file(&frame);
    let params_json = serde_json::to_value(params).map_err(OpsError::internal(tr!("计划参数", "plan parameters")))?;
    let stats_json = serde_json::to_value(&stats).map_err(OpsError::internal(tr!("抽查框统计", "frame statistics")))?;
    let commitment_hex = hex::encode(commitment);
    let beacon_published_at = params.beacon_published_utc();
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
            created_at: &created_at,
            spec: Spec::V2.as_str(),
            beacon_rule: params.beacon_rule.as_str(),
            beacon_published_at: &beacon_published_at,
            replaces: &replaces,
            excluded_by: &excluded_by,
            creator_principal: (creator.id != 0).then_some(creator.id),
            jurisdiction: jurisdiction.code(),
        },
        |id| {
            // The store's own state (another writer took the id, a
            // directory it cannot write): never the caller's doing.
            if id != next_id {
                return Err(StoreError::Other(format!(
                    "plan id {id} differs from the id {next_id} written into its frame"
                )));
            }
            let path = store.frame_path(id)?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Other(format!("{}: {e}", dir.display())))?;
            }
            std::fs::write(&path, &text).map_err(|e| StoreError::Other(format!("{}: {e}", path.display())))
        },
    )?;
    Ok(CreatedPlan {
        id,
        plan_id: global_plan_id(store, id),
        run_id: origin.run_id,
        frame_hash,
        commitment: commitment_hex,
        secret: secret.map(hex::encode),
        stats,
        replaces,
        excluded_by,
    })
}
