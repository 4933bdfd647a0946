//! Inspection plans: create (from a fresh or a stored classification),
//! reveal, export, verify, disclose, and officers' results.
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
use super::{access, limits, policy};
use crate::classify;
use crate::data::LoadedDataset;
use crate::draw::{self, BeaconReveal, Bundle, DrawResult, Outcome, Spec, Visit};
use crate::engine::RuleSet;
use crate::model::access::{Jurisdiction, Principal};
use crate::model::*;
use crate::model::{PlanStatus, RunStatus};
use crate::plan::{self, FrameIdentity, History, InspectedBy, PlanKind, PlanParams};
use crate::snapshot::Snapshot;
use crate::store::{PlanRecord, Store, StoreError, VisitRecord};

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
    getrandom::fill(&mut s).map_err(OpsError::internal("no operating-system randomness"))?;
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
    let origin = Origin { dataset_hash: &loaded.hash, run_id: run, rules_hash: rules.hash() };
    create_plan_with(store, &loaded.snapshot, &origin, &entities, params, commitment, creator, &Cancel::never())
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
    if run.status != RunStatus::Done {
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
    params.validate(&loaded.snapshot.departments)?;
    let mut entities = Vec::new();
    let mut bad = None;
    run_results(store, run_id)?.for_each(&mut |rows| {
        for r in &rows {
            match stored_plan_entity(r) {
                Ok(e) => entities.push(e),
                Err(e) => {
                    bad.get_or_insert(e);
                }
            }
        }
    })?;
    if let Some(e) = bad {
        return Err(e);
    }
    cancel.check()?;
    let origin = Origin { dataset_hash: &loaded.hash, run_id, rules_hash: &run.rules_hash };
    create_plan_with(store, &loaded.snapshot, &origin, &entities, params, commitment, creator, cancel)
}

/// A stored run's result as the plan sees it.
fn stored_plan_entity(r: &crate::data::results::StoredResult) -> Result<plan::PlanEntity> {
    Ok(plan::PlanEntity {
        uscc: Uscc::parse(&r.uscc).map_err(OpsError::internal(format!("stored result {}", r.uscc)))?,
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
        StoreError::Conflict(format!(
            "run {} classified with rules {} that the store does not hold: upload them (POST /rules) before planning \
             from this run, so the plan takes their draw defaults",
            run.id, run.rules_hash
        ))
        .into()
    })
}

/// The checks every plan request passes before any work: the creator may
/// plan, and every field is within its bounds.
fn check_plan_request(creator: &Principal, params: &PlanParams) -> Result<()> {
    policy::decide(creator, policy::Action::CreatePlan, policy::Resource::Store)?;
    limits::required_text("name", &params.name, limits::NAME)?;
    if params.departments.is_empty() {
        return Err(limits::field("departments", "a plan needs at least one participating department"));
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
            Err(OpsError::Cancelled("the request ended before the work did".into()))
        } else {
            Ok(())
        }
    }
}

/// Where a plan's classification came from.
struct Origin<'a> {
    dataset_hash: &'a str,
    run_id: i64,
    rules_hash: &'a str,
}

#[allow(clippy::too_many_arguments)]
fn create_plan_with(
    store: &Store,
    s: &Snapshot,
    origin: &Origin<'_>,
    entities: &[plan::PlanEntity],
    params: &PlanParams,
    commitment: Option<[u8; 32]>,
    creator: &Principal,
    cancel: &Cancel,
) -> Result<CreatedPlan> {
    let actor = &creator.actor();
    // A plan covers its creator's jurisdiction: a county regulator's frame
    // holds the county's entities only.
    let jurisdiction = creator.jurisdiction;
    let local: Vec<plan::PlanEntity>;
    let entities = if jurisdiction == Jurisdiction::PROVINCE {
        entities
    } else {
        local = entities.iter().filter(|e| jurisdiction.contains_code(e.county)).cloned().collect();
        &local[..]
    };
    let (secret, commitment) = match commitment {
        Some(c) => (None, c),
        None => {
            let s = new_secret()?;
            (Some(s), draw::commitment(&s))
        }
    };
    let mut history = History::from_snapshot(s, params.as_of);
    for v in store.drawn_in_year(params.as_of.year())? {
        if let Ok(u) = Uscc::parse(&v.uscc) {
            history
                .random_this_year
                .entry(u)
                .or_insert(InspectedBy::Plan { plan_id: global_plan_id(store, v.plan_id), visit: v.seq });
        }
    }
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
    let params_json = serde_json::to_value(params).map_err(OpsError::internal("plan parameters"))?;
    let stats_json = serde_json::to_value(&stats).map_err(OpsError::internal("frame statistics"))?;
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

/// Reads a plan's frozen frame and checks it is the one committed to.
pub fn load_frame(store: &Store, plan: &PlanRecord) -> Result<draw::Frame> {
    let path = store.frame_path(plan.id)?;
    let text = std::fs::read_to_string(&path).map_err(OpsError::internal(path.display()))?;
    let frame = plan::read_frame_file(&text).map_err(OpsError::internal(path.display()))?;
    let hash = hex::encode(frame.hash());
    if hash != plan.frame_hash {
        return Err(OpsError::Internal(format!(
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
/// the draw over the frozen frame, stores visits and assignments.
///
/// `beacon` is the value the plan's beacon source published, as published
/// (credo-draw-v2: the plan's rule makes bytes of it; a value is refused
/// when the plan named no beacon, an empty one when it named one, and any
/// before the announced publication time). For a plan made by an older
/// credo (credo-draw-v1) it is the beacon bytes in hex, as before.
pub fn reveal_plan(
    store: &Store,
    names: &dyn Fn(&Uscc) -> String,
    id: i64,
    secret: &[u8],
    beacon: &str,
    actor: &str,
) -> Result<Revealed> {
    let plan = store.plan(id)?;
    if plan.status != PlanStatus::Committed {
        return Err(StoreError::Conflict(format!(
            "plan {id} is {}; only a committed plan can be revealed, once",
            plan.status
        ))
        .into());
    }
    let frame = load_frame(store, &plan)?;
    let value = beacon.trim();
    let (beacon, result, reveal) = match frame.v2() {
        None => {
            let bytes = parse_hex("the beacon (hex, for a credo-draw-v1 plan)", value)?;
            let result = draw::draw(&frame, secret, &bytes)?;
            (bytes, result, None)
        }
        Some(h) => {
            let now = crate::store::now();
            if h.beacon_rule != draw::BeaconRule::None && !value.is_empty() && now < h.beacon_published_at {
                return Err(OpsError::Beacon {
                    plan: id,
                    message: format!(
                        "the beacon is not published until {} (now {now}); a value given earlier cannot be the published one",
                        h.beacon_published_at
                    ),
                });
            }
            let (bytes, result) = draw::draw_v2(&frame, secret, value).map_err(|e| match e {
                draw::DrawError::Beacon(message) => OpsError::Beacon { plan: id, message },
                other => other.into(),
            })?;
            let supplied_at = if h.beacon_rule == draw::BeaconRule::None { String::new() } else { now };
            (bytes, result, Some(BeaconReveal { value: value.to_string(), supplied_at }))
        }
    };
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
    let (secret_hex, beacon_hex) = (hex::encode(secret), hex::encode(&beacon));
    store.reveal_plan(&crate::store::Reveal {
        plan: id,
        actor,
        secret: &secret_hex,
        beacon: &beacon_hex,
        beacon_value: reveal.as_ref().map(|r| r.value.as_str()),
        beacon_supplied_at: reveal.as_ref().map(|r| r.supplied_at.as_str()),
        result_hash: &result_hash,
        visits: &visits,
    })?;
    let staffed = result.staffed();
    Ok(Revealed { plan: id, visits: visits.len(), staffed, unstaffed: visits.len() - staffed, result_hash })
}

/// The stored draw as a [`DrawResult`] (what the store says happened).
pub(crate) fn stored_result(store: &Store, frame: &draw::Frame, id: i64) -> Result<DrawResult> {
    let visits = store.visits(id)?;
    let mut out = Vec::with_capacity(visits.len());
    for v in &visits {
        out.push(Visit {
            uscc: Uscc::parse(&v.uscc).map_err(OpsError::internal(format!("stored visit {}", v.seq)))?,
            stratum: v.stratum.clone(),
            ticket: v.ticket.parse().map_err(|_| OpsError::Internal(format!("stored visit {}: bad ticket", v.seq)))?,
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

/// The self-contained bundle of a revealed plan, from what the store holds;
/// a credo-draw-v2 bundle is signed with the store's key.
pub fn export_bundle(store: &Store, id: i64) -> Result<String> {
    let plan = store.plan(id)?;
    if plan.status != PlanStatus::Revealed {
        return Err(StoreError::Conflict(format!(
            "plan {id} is {}; only a revealed plan has a draw to export",
            plan.status
        ))
        .into());
    }
    let frame = load_frame(store, &plan)?;
    let stored = |what: &str, s: Option<&str>| {
        hex::decode(s.unwrap_or("").trim()).map_err(OpsError::internal(format!("plan {id}: {what}")))
    };
    let secret = stored("the stored secret", plan.secret.as_deref())?;
    let beacon = stored("the stored beacon", plan.beacon.as_deref())?;
    let result = stored_result(store, &frame, id)?;
    match frame.spec() {
        Spec::V1 => Ok(Bundle::render_parts(&frame, &secret, &beacon, &result)),
        Spec::V2 => {
            let reveal = BeaconReveal {
                value: plan.beacon_value.clone().unwrap_or_default(),
                supplied_at: plan.beacon_supplied_at.clone().unwrap_or_default(),
            };
            let key = store.identity().signing_key();
            Ok(Bundle::render_v2(&frame, &secret, &beacon, &reveal, &result, Some(key))?)
        }
    }
}

/// Re-derives a plan's draw from its stored frame and secret and compares
/// it with the stored visits, and the stored result hash with both the
/// visits and the audit log (so a changed visit or result hash shows).
pub fn verify_plan(store: &Store, id: i64) -> Result<draw::Report> {
    let text = export_bundle(store, id)?;
    let key = store.identity().public_key();
    let spec_v2 = text.starts_with(draw::MAGIC_V2);
    let options = draw::VerifyOptions { public_key: spec_v2.then_some(key), beacon_value: None };
    let report = draw::verify_with(&text, &options);
    let draw::Report::Identical { result_hash, .. } = &report else {
        return Ok(report);
    };
    let plan = store.plan(id)?;
    let computed = hex::encode(result_hash);
    let stored = plan.result_hash.clone().unwrap_or_default();
    let differ = |message: String| draw::Report::Different { line: None, column: None, message };
    if stored != computed {
        return Ok(differ(format!(
            "plan {id}: the plans table records result hash {stored}, but the stored visits hash to {computed}"
        )));
    }
    let audited = store
        .read(|c| crate::store::audit::entries(c, Some(&format!("plan/{id}"))))?
        .into_iter()
        .rev()
        .find(|e| e.action == "plan.reveal")
        .and_then(|e| serde_json::from_str::<serde_json::Value>(&e.payload).ok())
        .and_then(|p| p["result_hash"].as_str().map(str::to_string));
    match audited {
        Some(a) if a == computed => Ok(report),
        Some(a) => Ok(differ(format!(
            "plan {id}: the audit log recorded result hash {a} at the reveal, but the stored visits hash to {computed}"
        ))),
        None => Ok(differ(format!("plan {id}: the audit log has no reveal entry for this plan"))),
    }
}

/// The document type of a disclosure.
pub const DISCLOSURE_TYPE: &str = "credo-disclosure-v2";

/// The public disclosure of a plan: what was planned (from the moment the
/// plan is created: its commitment and frame hash, published before the
/// reveal, are what make a re-roll impossible to hide), whether it was
/// cancelled and replaced, and, once drawn and released, what was found.
/// No personal data: no person hashes, no officer ids, and individual
/// businesses (whose names are often personal names) by code only.
#[derive(Debug, Serialize)]
pub struct Disclosure {
    /// `credo-disclosure-v2`.
    #[serde(rename = "type")]
    pub doc_type: &'static str,
    /// The language of the labels (zh-CN or en); machine fields do not
    /// depend on it.
    pub lang: &'static str,
    /// The number of the plan in its store.
    pub plan: i64,
    /// `{store_id}/{plan}`: unique across stores.
    pub plan_id: String,
    pub store_id: String,
    /// credo-draw-v1 or credo-draw-v2.
    pub spec: String,
    pub name: String,
    pub kind: PlanKind,
    pub departments: Vec<String>,
    pub items: Vec<(String, String)>,
    pub as_of: String,
    pub created_at: String,
    /// The classification run, and the hashes of what it classified.
    pub run_id: i64,
    pub dataset_hash: String,
    pub rules_hash: String,
    pub status: PlanStatus,
    pub frame_hash: String,
    pub commitment: String,
    pub beacon: DisclosedBeacon,
    pub release_at: String,
    pub cancelled_at: Option<String>,
    pub cancelled_reason: Option<String>,
    /// Cancelled plans this plan replaces, and the plans that replace it.
    pub replaces: Vec<String>,
    pub replaced_by: Vec<String>,
    /// Earlier plans whose visits excluded entities from this frame.
    pub excluded_by: Vec<String>,
    pub eligible: u64,
    /// Excluded entities by kind of reason (with its source).
    pub excluded: std::collections::BTreeMap<String, usize>,
    pub strata: Vec<DisclosedStratum>,
    /// Present once the plan is revealed and released.
    pub draw: Option<DisclosedDraw>,
    /// Head of the audit log when the disclosure was made.
    pub audit_head: String,
    pub audit_entries: i64,
}

/// The beacon a plan named in advance (or none), and once revealed the
/// value it was drawn with.
#[derive(Debug, Serialize)]
pub struct DisclosedBeacon {
    /// none, text, digits or hex (empty for a credo-draw-v1 plan).
    pub rule: String,
    pub source: String,
    pub published_at: String,
    pub value: Option<String>,
    pub supplied_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DisclosedStratum {
    /// The machine key of the frame (`tier=2|city=370100`).
    pub key: String,
    /// The key in words, in the disclosure's language (tiers by the
    /// plan's names: 诚信守法 … 严重失信).
    pub label: String,
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
/// is the newest entry's hash; the whole chain is checked first and a
/// broken chain refuses the disclosure.
pub fn disclosure(
    store: &Store,
    id: i64,
    now: chrono::DateTime<chrono::FixedOffset>,
    lang: crate::i18n::Lang,
) -> Result<Disclosure> {
    disclosure_with(store, id, now, AuditHead::Verified, lang)
}

/// Which audit head a disclosure names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditHead {
    /// The head of a chain checked from its first entry (publishing).
    Verified,
    /// The newest entry as it stands (serving a page that is rebuilt
    /// often; `credo audit verify` checks the chain).
    Latest,
}

/// [`disclosure`] naming the audit head `head`.
pub fn disclosure_with(
    store: &Store,
    id: i64,
    now: chrono::DateTime<chrono::FixedOffset>,
    head: AuditHead,
    lang: crate::i18n::Lang,
) -> Result<Disclosure> {
    let plan = store.plan(id)?;
    let frame = load_frame(store, &plan)?;
    let params: PlanParams = serde_json::from_value(plan.params.clone())
        .map_err(OpsError::internal(format!("plan {id}: stored parameters")))?;
    let stats: plan::FrameStats = serde_json::from_value(plan.frame_stats.clone()).unwrap_or_default();
    let populations = frame.populations();
    let released = chrono::DateTime::parse_from_rfc3339(&plan.release_at).map(|t| now >= t).unwrap_or(false);
    let drawn = plan.status == PlanStatus::Revealed;
    let result = if drawn { Some(stored_result(store, &frame, id)?) } else { None };
    let strata = frame
        .strata()
        .iter()
        .zip(&populations)
        .map(|(s, &population)| DisclosedStratum {
            label: crate::i18n::stratum_label(&s.key, lang),
            key: s.key.clone(),
            population,
            selected: result.as_ref().map(|r| r.visits.iter().filter(|v| v.stratum == s.key).count() as u64),
        })
        .collect();
    let mut items: BTreeSet<(String, String)> = BTreeSet::new();
    for e in frame.entities() {
        for (d, c) in e.items() {
            items.insert((d.to_string(), c.to_string()));
        }
    }
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
    let (audit_entries, audit_head) = match head {
        AuditHead::Verified => match store.read_long(crate::store::audit::verify)? {
            crate::store::ChainReport::Intact { entries, head } => (entries, head),
            crate::store::ChainReport::Broken { seq, reason } => {
                return Err(OpsError::Internal(format!(
                    "the audit log is broken at entry {seq}: {reason}; refusing to publish"
                )));
            }
        },
        AuditHead::Latest => store.read(crate::store::audit::head_entry)?,
    };
    let plan_id = global_plan_id(store, id);
    let replaced_by = store
        .plans()?
        .into_iter()
        .filter(|p| p.replaces.contains(&plan_id))
        .map(|p| global_plan_id(store, p.id))
        .collect();
    let v2 = frame.v2();
    let revealed = drawn.then_some(());
    Ok(Disclosure {
        doc_type: DISCLOSURE_TYPE,
        lang: lang.tag(),
        plan: id,
        plan_id,
        store_id: store.identity().store_id.clone(),
        spec: plan.spec,
        name: plan.name,
        kind: plan.kind,
        departments: params.departments,
        items: items.into_iter().collect(),
        as_of: params.as_of.to_string(),
        created_at: plan.created_at,
        run_id: plan.run_id,
        dataset_hash: plan.dataset_hash,
        rules_hash: plan.rules_hash,
        status: plan.status,
        frame_hash: plan.frame_hash,
        commitment: plan.commitment,
        beacon: DisclosedBeacon {
            rule: v2.map(|h| h.beacon_rule.to_string()).unwrap_or_default(),
            source: plan.beacon_source,
            published_at: plan.beacon_published_at,
            value: revealed.and(plan.beacon_value),
            supplied_at: revealed.and(plan.beacon_supplied_at),
        },
        release_at: plan.release_at,
        cancelled_at: plan.cancelled_at,
        cancelled_reason: plan.cancelled_reason,
        replaces: plan.replaces,
        replaced_by,
        excluded_by: plan.excluded_by,
        eligible: populations.iter().sum(),
        excluded: stats.excluded,
        strata,
        draw,
        audit_head,
        audit_entries,
    })
}

/// How a signed document is laid out as text (its signature and digest
/// do not depend on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One line (served over HTTP).
    Compact,
    /// Indented (written to a file for people).
    Pretty,
}

/// The disclosure as signed JSON text (the store's key; see
/// docs/draw-spec.md §11) in a layout.
pub fn signed_disclosure(store: &Store, d: &Disclosure, layout: Layout) -> Result<String> {
    Ok(signed_disclosure_digest(store, d, layout)?.0)
}

/// The signed disclosure as text, and its digest: the SHA-256 (hex) of the
/// signed document's canonical JSON (`trust::canonical_json`), the same
/// whatever the layout.
fn signed_disclosure_digest(store: &Store, d: &Disclosure, layout: Layout) -> Result<(String, String)> {
    let value = serde_json::to_value(d).map_err(OpsError::internal("disclosure"))?;
    let signed = crate::trust::sign_document(store.identity().signing_key(), value)?;
    let canonical = crate::trust::canonical_json(&signed)?;
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(canonical.as_bytes()));
    let text = match layout {
        Layout::Compact => serde_json::to_string(&signed),
        Layout::Pretty => serde_json::to_string_pretty(&signed),
    };
    Ok((text.map_err(OpsError::internal("disclosure"))?, digest))
}

/// A disclosure just published.
#[derive(Debug)]
pub struct Published {
    pub disclosure: Disclosure,
    /// The signed document in the layout asked for.
    pub text: String,
    /// SHA-256 of the signed document's canonical JSON, as audited.
    pub digest: String,
}

/// Publishes a plan's disclosure: builds it over a verified audit chain,
/// signs it and records the publication (audited with the digest, which
/// is the same for either layout).
pub fn publish(
    store: &Store,
    id: i64,
    now: chrono::DateTime<chrono::FixedOffset>,
    lang: crate::i18n::Lang,
    layout: Layout,
    actor: &str,
) -> Result<Published> {
    let disclosure = disclosure(store, id, now, lang)?;
    let (text, digest) = signed_disclosure_digest(store, &disclosure, layout)?;
    store.mark_published(id, actor, &digest)?;
    Ok(Published { disclosure, text, digest })
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
    result.parse::<InspectionResult>().map_err(|e| OpsError::Invalid(format!("result {e}")))?;
    match (plan.kind, commitment_status.map(str::parse::<CommitmentStatus>)) {
        (PlanKind::CommitmentCheck, None) => {
            return Err(OpsError::Invalid(
                "a commitment check needs the commitment's status: fulfilled or breached".into(),
            ));
        }
        (PlanKind::CommitmentCheck, Some(Ok(CommitmentStatus::Fulfilled | CommitmentStatus::Breached))) => {}
        (PlanKind::CommitmentCheck, Some(_)) => {
            let s = commitment_status.unwrap_or_default();
            return Err(OpsError::Invalid(format!("commitment status '{s}' is not fulfilled or breached")));
        }
        (PlanKind::Random, Some(_)) => {
            return Err(OpsError::Invalid("only commitment checks report a commitment status".into()));
        }
        (PlanKind::Random, None) => {}
    }
    let release = chrono::DateTime::parse_from_rfc3339(&plan.release_at)
        .map_err(OpsError::internal(format!("plan {plan_id}: stored release time")))?;
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

/// Checks a public disclosure against a bundle: the disclosure's
/// signature (by `key`, or else by the key that signed the bundle), and
/// that both name the same plan, commitment and frame hash (and, once the
/// disclosure shows the draw, the same secret, beacon and result). Returns
/// a one-line summary, or the first difference as an error.
pub fn check_disclosure(bundle: &str, disclosure: &str, key: Option<&crate::trust::PublicKey>) -> Result<String> {
    let parsed = Bundle::parse_full(bundle)?;
    let key = key.copied().or(parsed.signature.as_ref().map(|s| s.public_key));
    let doc = crate::trust::verify_document(disclosure, key.as_ref())?;
    if doc.doc_type != DISCLOSURE_TYPE {
        return Err(OpsError::Invalid(format!("a {} document is not a {DISCLOSURE_TYPE}", doc.doc_type)));
    }
    let b = &parsed.bundle;
    let d = &doc.body;
    let differ = |what: &str, bundle: &str, disclosed: &serde_json::Value| {
        Err(OpsError::Invalid(format!("{what}: the bundle has {bundle}, the disclosure {disclosed}")))
    };
    let frame_hash = hex::encode(b.frame.hash());
    let commitment = hex::encode(b.frame.plan().commitment);
    if d["plan_id"].as_str() != Some(b.frame.plan().plan_id.as_str()) {
        return differ("plan id", &b.frame.plan().plan_id, &d["plan_id"]);
    }
    if d["commitment"].as_str() != Some(commitment.as_str()) {
        return differ("commitment", &commitment, &d["commitment"]);
    }
    if d["frame_hash"].as_str() != Some(frame_hash.as_str()) {
        return differ("frame hash", &frame_hash, &d["frame_hash"]);
    }
    let mut summary =
        format!("signed by {}; plan {}, commitment and frame hash match", doc.signer, b.frame.plan().plan_id);
    if !d["draw"].is_null() {
        let result = hex::encode(b.result.hash());
        for (what, mine, theirs) in [
            ("secret", hex::encode(&b.secret), &d["draw"]["secret"]),
            ("beacon", hex::encode(&b.beacon), &d["draw"]["beacon"]),
            ("result hash", result, &d["draw"]["result_hash"]),
        ] {
            if theirs.as_str() != Some(mine.as_str()) {
                return differ(what, &mine, theirs);
            }
        }
        summary.push_str(", and so do the secret, beacon and result");
    }
    Ok(summary)
}
