//! The operations the CLI and the HTTP API share: run a classification into
//! the store, create, reveal, cancel, export, verify and publish plans.
//! Each is one function over the library, so both front ends behave the
//! same and hold no business logic.

use std::sync::Arc;

use chrono::Datelike;
use serde::Serialize;

use crate::classify::{self, Classification};
use crate::data::{DataError, LoadedDataset};
use crate::draw::{self, Bundle, DrawError, DrawResult, Outcome, Visit};
use crate::engine::{RuleError, RuleSet};
use crate::model::*;
use crate::plan::{self, History, PlanKind, PlanParams};
use crate::store::{NewRun, PlanRecord, Store, StoreError, StoredResult, VisitRecord};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Rule(#[from] RuleError),
    #[error("{0}")]
    Data(#[from] DataError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Draw(#[from] DrawError),
}

pub type Result<T> = std::result::Result<T, OpsError>;

/// What the store keeps of each entity's result.
pub fn stored_results(c: &Classification) -> Vec<StoredResult> {
    c.results
        .iter()
        .map(|r| StoredResult {
            uscc: r.uscc.to_string(),
            name: r.name.clone(),
            city: r.city,
            county: r.county,
            tier: r.tier,
            risk: r.risk.to_string(),
            probability_ppm: r.probability_ppm,
            tolerance_until: r.tolerance_until.map(|d| d.to_string()),
            key_attention: r.key_attention,
            blacklisted: r.blacklisted,
            departments: r.departments.iter().map(|d| d.to_string()).collect(),
            explanation: serde_json::value::to_raw_value(&r.decisions).expect("decisions serialize"),
        })
        .collect()
}

/// The dataset with every result officers submitted so far.
pub fn dataset_with_results(store: &Store, loaded: &LoadedDataset) -> Result<Dataset> {
    let mut ds = loaded.dataset.clone();
    plan::apply_results(&mut ds, &store.all_results()?).map_err(OpsError::Invalid)?;
    Ok(ds)
}

/// Records that a classification run starts (audited) and returns its id.
pub fn begin_run(
    store: &Store,
    loaded: &LoadedDataset,
    dataset_label: &str,
    rules: &RuleSet,
    as_of: Date,
    actor: &str,
) -> Result<i64> {
    Ok(store.start_run(&NewRun {
        actor,
        dataset: dataset_label,
        dataset_hash: &loaded.hash,
        rules_hash: rules.hash(),
        rules_label: &rules.label(),
        as_of: &as_of.to_string(),
    })?)
}

/// Runs a begun classification over the dataset plus submitted results,
/// writes the output file if asked, and records the results (or the
/// failure) in the store.
#[allow(clippy::too_many_arguments)]
pub fn execute_run(
    store: &Store,
    run: i64,
    loaded: &LoadedDataset,
    rules: &RuleSet,
    as_of: Date,
    actor: &str,
    output: Option<&std::path::Path>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Classification> {
    let ds = match dataset_with_results(store, loaded) {
        Ok(ds) => ds,
        Err(e) => {
            store.fail_run(run, actor, &e.to_string())?;
            return Err(e);
        }
    };
    execute_run_on(store, run, &ds, rules, as_of, actor, output, progress)
}

/// [`execute_run`] over a dataset that already holds the submitted results.
#[allow(clippy::too_many_arguments)]
fn execute_run_on(
    store: &Store,
    run: i64,
    ds: &Dataset,
    rules: &RuleSet,
    as_of: Date,
    actor: &str,
    output: Option<&std::path::Path>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Classification> {
    let outcome = (|| -> Result<Classification> {
        let c = classify::classify(ds, rules, as_of, &|s| {
            progress(s);
            let _ = store.set_run_progress(run, s);
        })?;
        if let Some(path) = output {
            progress("write");
            crate::data::output::write_results(path, &c.results).map_err(OpsError::Invalid)?;
        }
        Ok(c)
    })();
    let c = match outcome {
        Ok(c) => c,
        Err(e) => {
            store.fail_run(run, actor, &e.to_string())?;
            return Err(e);
        }
    };
    progress("store");
    let summary = serde_json::to_value(&c.summary).map_err(|e| OpsError::Invalid(e.to_string()))?;
    store.finish_run(run, actor, &summary, output.map(|p| p.display().to_string()).as_deref(), &stored_results(&c))?;
    Ok(c)
}

/// [`begin_run`] then [`execute_run`].
#[allow(clippy::too_many_arguments)]
pub fn classify_into_store(
    store: &Store,
    loaded: &LoadedDataset,
    dataset_label: &str,
    rules: &RuleSet,
    as_of: Date,
    actor: &str,
    output: Option<&std::path::Path>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(i64, Classification)> {
    let run = begin_run(store, loaded, dataset_label, rules, as_of, actor)?;
    let c = execute_run(store, run, loaded, rules, as_of, actor, output, progress)?;
    Ok((run, c))
}

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
pub fn create_plan(
    store: &Store,
    loaded: &LoadedDataset,
    dataset_label: &str,
    rules: &RuleSet,
    params: &PlanParams,
    commitment: Option<[u8; 32]>,
    actor: &str,
) -> Result<CreatedPlan> {
    params.validate(&loaded.dataset).map_err(OpsError::Invalid)?;
    let ds = dataset_with_results(store, loaded)?;
    let run_id = begin_run(store, loaded, dataset_label, rules, params.as_of, actor)?;
    let c = execute_run_on(store, run_id, &ds, rules, params.as_of, actor, None, &|_| {})?;
    let entities: Vec<plan::PlanEntity> = c.results.iter().map(plan::PlanEntity::from_result).collect();
    create_plan_with(store, &ds, &loaded.hash, run_id, rules.hash(), &entities, params, commitment, actor)
}

/// Creates a plan from a finished run in the store (the classification a
/// regulator has reviewed): same dataset, same as-of date.
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
    params.validate(&loaded.dataset).map_err(OpsError::Invalid)?;
    let entities = store
        .results(run_id)?
        .iter()
        .map(plan::PlanEntity::from_stored)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(OpsError::Invalid)?;
    let ds = dataset_with_results(store, loaded)?;
    create_plan_with(store, &ds, &loaded.hash, run_id, &run.rules_hash, &entities, params, commitment, actor)
}

#[allow(clippy::too_many_arguments)]
fn create_plan_with(
    store: &Store,
    ds: &Dataset,
    dataset_hash: &str,
    run_id: i64,
    rules_hash: &str,
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
    let mut history = History::from_dataset(ds, params.as_of);
    for (uscc, by) in store.drawn_in_year(params.as_of.year())? {
        if let Ok(u) = Uscc::parse(&uscc) {
            history.random_this_year.entry(u).or_insert(by);
        }
    }
    // The plan id is part of the frame; it is the next id of the plans table.
    let next_id = store.plans()?.last().map_or(1, |p| p.id + 1);
    let (frame, stats) = plan::build_frame(ds, entities, params, &next_id.to_string(), commitment, &history)
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
            run_id,
            dataset_hash,
            rules_hash,
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
    Ok(CreatedPlan { id, run_id, frame_hash, commitment: commitment_hex, secret: secret.map(hex::encode), stats })
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

/// Entity names by credit code, for visits.
pub fn name_lookup(ds: &Dataset) -> impl Fn(&Uscc) -> String + '_ {
    let index: Arc<rustc_hash::FxHashMap<Uscc, usize>> = Arc::new(classify::facts::entity_index(ds));
    move |u| index.get(u).map(|&i| ds.entities[i].name.clone()).unwrap_or_default()
}

/// Everything credo knows about one entity as of a date: its tier over
/// time, its records and their status, tolerance, exemptions, commitments,
/// repairs, blacklist status and every propagation path that touches it.
#[derive(Debug, Serialize)]
pub struct Timeline {
    pub entity: MarketEntity,
    pub as_of: Date,
    pub points: Vec<TimelinePoint>,
    pub result: classify::EntityResult,
    pub explanation: String,
    pub commitments: Vec<Commitment>,
    pub repairs: Vec<RepairApplication>,
    /// Persons flagged because of this entity, and entities they reached.
    pub flagged_persons: Vec<crate::propagate::FlaggedPerson>,
    pub reached_from_here: Vec<crate::propagate::ReachedEntity>,
    /// Paths by which other blacklisted entities reach this one.
    pub reached_by: Vec<crate::propagate::ReachedEntity>,
}

#[derive(Debug, Serialize)]
pub struct TimelinePoint {
    pub date: Date,
    pub tier: u8,
    pub risk: String,
    pub probability: f64,
    pub blacklisted: bool,
    pub key_attention: bool,
}

/// The part of a dataset within `hops` person links of an entity: enough
/// to classify it and run propagation to that depth exactly as a full run
/// would, in a fraction of the time.
pub fn neighbourhood(ds: &Dataset, uscc: Uscc, hops: u8) -> Dataset {
    use rustc_hash::FxHashSet;
    let mut entities: FxHashSet<Uscc> = std::iter::once(uscc).collect();
    let mut frontier = entities.clone();
    for _ in 0..hops {
        let persons: FxHashSet<PersonId> =
            ds.roles.iter().filter(|r| frontier.contains(&r.uscc)).map(|r| r.person_id).collect();
        let next: FxHashSet<Uscc> = ds
            .roles
            .iter()
            .filter(|r| persons.contains(&r.person_id) && !entities.contains(&r.uscc))
            .map(|r| r.uscc)
            .collect();
        entities.extend(next.iter().copied());
        frontier = next;
        if frontier.is_empty() {
            break;
        }
    }
    let keep = |u: &Uscc| entities.contains(u);
    Dataset {
        entities: ds.entities.iter().filter(|e| keep(&e.uscc)).cloned().collect(),
        persons: Vec::new(),
        roles: ds.roles.iter().filter(|r| keep(&r.uscc)).cloned().collect(),
        evaluations: ds.evaluations.iter().filter(|r| keep(&r.uscc)).cloned().collect(),
        penalties: ds.penalties.iter().filter(|r| keep(&r.uscc)).cloned().collect(),
        abnormal_listings: ds.abnormal_listings.iter().filter(|r| keep(&r.uscc)).cloned().collect(),
        complaints: ds.complaints.iter().filter(|r| keep(&r.uscc)).cloned().collect(),
        commitments: ds.commitments.iter().filter(|r| keep(&r.uscc)).cloned().collect(),
        inspections: ds.inspections.iter().filter(|r| keep(&r.uscc)).cloned().collect(),
        repairs: ds.repairs.iter().filter(|r| keep(&r.uscc)).cloned().collect(),
        departments: ds.departments.clone(),
        inspection_items: ds.inspection_items.clone(),
        officers: Vec::new(),
        officer_relations: Vec::new(),
    }
}

/// `results` are officers' submitted results (from the store), applied to
/// the entity's neighbourhood only, not to a copy of the whole dataset.
pub fn entity_timeline(
    ds: &Dataset,
    results: &[crate::store::ResultRecord],
    rules: &RuleSet,
    uscc: Uscc,
    as_of: Date,
) -> Result<Timeline> {
    let entity = ds
        .entities
        .iter()
        .find(|e| e.uscc == uscc)
        .cloned()
        .ok_or_else(|| StoreError::NotFound(format!("entity {uscc} in the dataset")))?;
    if entity.registered_on > as_of {
        return Err(OpsError::Invalid(format!("{uscc} was registered on {}, after {as_of}", entity.registered_on)));
    }
    let depth =
        rules.int_param("propagate_max_depth").unwrap_or(1).clamp(1, i64::from(crate::propagate::MAX_DEPTH)) as u8;
    // Entities within depth+1 person links: enough for every path of
    // length `depth` that starts or ends at this entity.
    let mut sub = neighbourhood(ds, uscc, depth + 1);
    plan::apply_results(&mut sub, results).map_err(OpsError::Invalid)?;
    let mut dates: Vec<Date> = ((as_of.year() - 4)..as_of.year())
        .filter_map(|y| Date::from_ymd_opt(y, 12, 31))
        .filter(|d| *d >= entity.registered_on)
        .collect();
    dates.push(as_of);
    let mut points = Vec::new();
    let mut last = None;
    for d in dates {
        let c = classify::classify(&sub, rules, d, &|_| {})?;
        let r = c.results.into_iter().find(|r| r.uscc == uscc).expect("registered entity is classified");
        points.push(TimelinePoint {
            date: d,
            tier: r.tier,
            risk: r.risk.to_string(),
            probability: r.probability(),
            blacklisted: r.blacklisted,
            key_attention: r.key_attention,
        });
        if d == as_of {
            last = Some((r, c.propagation));
        }
    }
    let (result, propagation) = last.expect("as-of point");
    Ok(Timeline {
        explanation: result.explanation(),
        commitments: sub.commitments.iter().filter(|c| c.uscc == uscc && c.made_on <= as_of).cloned().collect(),
        repairs: sub.repairs.iter().filter(|r| r.uscc == uscc && r.applied_on <= as_of).cloned().collect(),
        flagged_persons: propagation.persons.iter().filter(|p| p.source == uscc).cloned().collect(),
        reached_from_here: propagation.entities.iter().filter(|e| e.source == uscc).cloned().collect(),
        reached_by: propagation.entities.iter().filter(|e| e.uscc == uscc).cloned().collect(),
        entity,
        as_of,
        points,
        result,
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
