//! The endpoints. Each checks the caller's role, then calls `ops` or
//! `store` off the async workers.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{
    Auth, CanChangeRules, CanCreatePlan, CanListTokens, CanReadAudit, CanReadJobs, CanReadRules, CanReadRuns,
    CanStartDiff, CanStartRun, CanVerifyAudit, OfficerAuth, Reader, Regulator,
};
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody, int};
use crate::engine::{RuleSet, RuleSource};
use crate::model::access::Role;
use crate::model::{Date, Uscc};
use crate::ops;
use crate::ops::limits;
use crate::ops::policy::{Action, Resource};
use crate::plan::{PlanKind, PlanParams, SelectionMode};
use crate::store::{AuditEntry, Job, PlanRecord, RuleVersion, RunRecord, VisitRecord};

type S = State<Arc<AppState>>;

/// Runs blocking work (SQLite, classification, draws) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Utc::now().fixed_offset()
}

fn released(plan: &PlanRecord) -> bool {
    chrono::DateTime::parse_from_rfc3339(&plan.release_at).map(|t| now() >= t).unwrap_or(false)
}

/// Asks the policy about `action` on a stored plan; a plan outside the
/// caller's jurisdiction is answered as not found (its existence is not
/// the caller's business).
fn may_on_plan(auth: &Auth, action: Action, plan: &PlanRecord) -> Result<(), ApiError> {
    let facts = ops::access::plan_facts(plan, now());
    if auth.may(Action::ReadPlan, Resource::Plan(&facts)).is_err() && auth.0.role != Role::Officer {
        return Err(ApiError::not_found(format!("plan {} not found", plan.id)));
    }
    auth.may(action, Resource::Plan(&facts))
        .map_err(|e| ApiError::forbidden(format!("plan {} (released {}): {}", plan.id, plan.release_at, e.message)))
}

/// A plan by id, read off the async workers, with the policy's answer.
async fn plan_for(st: &Arc<AppState>, auth: &Auth, action: Action, id: i64) -> Result<PlanRecord, ApiError> {
    let store = st.store.clone();
    let plan = blocking(move || Ok(store.plan(id)?)).await?;
    may_on_plan(auth, action, &plan)?;
    Ok(plan)
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub dataset: String,
    pub dataset_hash: String,
    pub active_rules: Option<i64>,
}

#[utoipa::path(get, path = "/health", tag = "public", responses((status = 200, body = Health)))]
pub async fn health(State(st): S) -> Result<Json<Health>, ApiError> {
    let store = st.store.clone();
    let active = blocking(move || Ok(store.active_rules()?)).await?;
    Ok(Json(Health {
        status: "ok".into(),
        dataset: st.dataset.label.clone(),
        dataset_hash: st.dataset.hash.clone(),
        active_rules: active,
    }))
}

#[utoipa::path(get, path = "/openapi.json", tag = "public", responses((status = 200, description = "This document")))]
pub async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], super::openapi::document()).into_response()
}

// ------------------------------------------------------------------ tokens

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// regulator, auditor or officer.
    #[schema(value_type = String)]
    pub role: Role,
    /// Required for (and only for) officer tokens: an id on the roster.
    #[schema(max_length = 64)]
    pub officer_id: Option<String>,
    /// Regulators and auditors: the province (370000), a city or a county
    /// code; the creator's own if omitted, and never wider than it.
    #[serde(default, deserialize_with = "int::opt_u32")]
    #[schema(value_type = Option<u32>)]
    pub jurisdiction: Option<u32>,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub label: String,
    /// Lifetime in days (1 to 3650; default 90 for officers, 365 otherwise).
    #[serde(default, deserialize_with = "int::opt_u32")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
    /// Issue another token for this existing principal.
    #[serde(default, deserialize_with = "int::opt_i64")]
    #[schema(value_type = Option<i64>)]
    pub principal: Option<i64>,
}

#[utoipa::path(post, path = "/tokens", tag = "access", request_body = NewToken, security(("bearer" = [])),
    responses((status = 201, body = crate::store::IssuedToken), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(st): S,
    Regulator(auth): Regulator,
    ApiJson(b): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<crate::store::IssuedToken>), ApiError> {
    let st2 = st.clone();
    let req = ops::access::TokenRequest {
        role: b.role,
        officer_id: b.officer_id,
        jurisdiction: b.jurisdiction,
        label: b.label,
        expires_in_days: b.expires_in_days,
        principal: b.principal,
    };
    let issued =
        blocking(move || Ok(ops::access::create_token(&st2.store, &st2.dataset.officers, &auth.0, &req)?)).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

#[utoipa::path(get, path = "/tokens", tag = "access", security(("bearer" = [])),
    responses((status = 200, body = Vec<crate::store::TokenInfo>, description = "Tokens of principals in the caller's jurisdiction: ids, principals, expiry, revocation; never a token's text or hash"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(st): S,
    CanListTokens(auth): CanListTokens,
) -> Result<Json<Vec<crate::store::TokenInfo>>, ApiError> {
    let store = st.store.clone();
    Ok(Json(blocking(move || Ok(ops::access::list_tokens(&store, &auth.0)?)).await?))
}

#[utoipa::path(delete, path = "/tokens/{id}", tag = "access", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = crate::store::TokenInfo, description = "Revoked: refused from the next request on"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke_token(
    State(st): S,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<crate::store::TokenInfo>, ApiError> {
    let store = st.store.clone();
    Ok(Json(blocking(move || Ok(ops::access::revoke_token(&store, &auth.0, id)?)).await?))
}

// ------------------------------------------------------------------- rules

#[utoipa::path(get, path = "/rules", tag = "rules", security(("bearer" = [])),
    responses((status = 200, body = Vec<RuleVersion>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_rules(State(st): S, _: CanReadRules) -> Result<Json<Vec<RuleVersion>>, ApiError> {
    let store = st.store.clone();
    Ok(Json(blocking(move || Ok(store.rule_versions()?)).await?))
}

#[derive(Serialize, ToSchema)]
pub struct RuleVersionDetail {
    #[serde(flatten)]
    pub version: RuleVersion,
    /// The files of the version, by path.
    pub files: BTreeMap<String, String>,
}

#[utoipa::path(get, path = "/rules/{id}", tag = "rules", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = RuleVersionDetail), (status = 404, body = ErrorBody)))]
pub async fn get_rules(
    State(st): S,
    _: CanReadRules,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RuleVersionDetail>, ApiError> {
    let store = st.store.clone();
    blocking(move || {
        let version = store
            .rule_versions()?
            .into_iter()
            .find(|v| v.id == id)
            .ok_or_else(|| ApiError::not_found(format!("rule version {id} not found")))?;
        let files: BTreeMap<String, String> =
            serde_json::from_value(store.rule_files(id)?).map_err(ApiError::internal)?;
        Ok(Json(RuleVersionDetail { version, files }))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRules {
    /// rules.toml, the .rhai scripts and tests/*.toml, by path (at most 64
    /// files, paths of at most 128 characters; the whole body at most 2 MB).
    pub files: BTreeMap<String, String>,
}

#[derive(Serialize, ToSchema)]
pub struct RulesStored {
    pub id: i64,
    pub hash: String,
    pub label: String,
    /// false if an identical version was already stored.
    pub created: bool,
    pub tests_passed: usize,
}

#[utoipa::path(post, path = "/rules", tag = "rules", request_body = NewRules, security(("bearer" = [])),
    responses((status = 201, body = RulesStored), (status = 422, body = ErrorBody, description = "A rule does not compile, a check fails (details: file, line, column), or a rule test fails")))]
pub async fn upload_rules(
    State(st): S,
    CanChangeRules(auth): CanChangeRules,
    ApiJson(b): ApiJson<NewRules>,
) -> Result<(StatusCode, Json<RulesStored>), ApiError> {
    if b.files.len() > limits::RULE_FILES {
        return Err(ApiError::from(limits::field(
            "files",
            format!("{} files; at most {}", b.files.len(), limits::RULE_FILES),
        )));
    }
    for path in b.files.keys() {
        limits::text("files", path, limits::RULE_PATH).map_err(ApiError::from)?;
        let ok = path == "rules.toml"
            || (path.ends_with(".rhai") && !path.contains('/'))
            || (path.starts_with("tests/") && path.ends_with(".toml") && path.matches('/').count() == 1);
        if !ok || path.contains("..") || path.contains('\\') {
            return Err(ApiError::invalid(format!("'{path}' is not rules.toml, a .rhai script or tests/*.toml")));
        }
    }
    let store = st.store.clone();
    let actor = auth.actor();
    blocking(move || {
        let src = RuleSource { files: b.files };
        let rules = RuleSet::compile(&src).map_err(ops::OpsError::from)?;
        let outcomes = crate::ruletest::run(&rules).map_err(|e| match e {
            crate::ruletest::TestError::Rule(r) => ApiError::from(ops::OpsError::Rule(r)),
            crate::ruletest::TestError::File(f, m) => {
                ApiError::invalid(format!("{f}: {m}")).with_details(serde_json::json!({ "file": f }))
            }
        })?;
        let failed: Vec<_> = outcomes.iter().filter(|o| !o.failures.is_empty()).collect();
        if !failed.is_empty() {
            let details: Vec<_> = failed
                .iter()
                .map(|o| serde_json::json!({ "file": o.file, "case": o.name, "failures": o.failures }))
                .collect();
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rule_tests_failed",
                format!("{} of {} rule tests fail", failed.len(), outcomes.len()),
            )
            .with_details(serde_json::Value::Array(details)));
        }
        let files = serde_json::to_value(&src.files).map_err(ApiError::internal)?;
        let (id, created) = store.add_rule_version(rules.hash(), &rules.label(), &files, &actor)?;
        Ok((
            if created { StatusCode::CREATED } else { StatusCode::OK },
            Json(RulesStored {
                id,
                hash: rules.hash().to_string(),
                label: rules.label(),
                created,
                tests_passed: outcomes.len(),
            }),
        ))
    })
    .await
}

#[utoipa::path(post, path = "/rules/{id}/activate", tag = "rules", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = RuleVersion), (status = 404, body = ErrorBody)))]
pub async fn activate_rules(
    State(st): S,
    CanChangeRules(auth): CanChangeRules,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RuleVersion>, ApiError> {
    st.rules_compiled(id).await?;
    let store = st.store.clone();
    let actor = auth.actor();
    blocking(move || {
        store.activate_rules(id, &actor)?;
        Ok(Json(
            store
                .rule_versions()?
                .into_iter()
                .find(|v| v.id == id)
                .ok_or_else(|| ApiError::not_found("rule version"))?,
        ))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffRequest {
    #[schema(value_type = String, format = Date)]
    pub as_of: Date,
    /// Sample entities per migration cell (at most 50).
    #[serde(default = "two", deserialize_with = "int::u64")]
    #[schema(value_type = u64, maximum = 50)]
    pub samples: u64,
}

fn two() -> u64 {
    2
}

#[derive(Serialize, ToSchema)]
pub struct JobStarted {
    pub job: i64,
}

#[utoipa::path(post, path = "/rules/{id}/diff", tag = "rules", params(("id" = i64, Path)), request_body = DiffRequest, security(("bearer" = [])),
    responses((status = 202, body = JobStarted, description = "The impact of this version against the active one, computed in the background; poll /jobs/{job}")))]
pub async fn diff_rules(
    State(st): S,
    CanStartDiff(auth): CanStartDiff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<DiffRequest>,
) -> Result<(StatusCode, Json<JobStarted>), ApiError> {
    if b.samples > limits::SAMPLES {
        return Err(ApiError::from(limits::field(
            "samples",
            format!("{}; at most {} per cell", b.samples, limits::SAMPLES),
        )));
    }
    limits::date("as_of", b.as_of).map_err(ApiError::from)?;
    let new = st.rules_compiled(id).await?;
    let (_, old) = st.active_rules_compiled().await?;
    let store = st.store.clone();
    let actor = auth.actor();
    let turn = st.reserve_work()?;
    let request = serde_json::json!({ "rules": id, "as_of": b.as_of, "samples": b.samples });
    let job = blocking(move || Ok(store.create_job("rules.diff", &actor, &request)?)).await?;
    let (st2, actor) = (st.clone(), auth.actor());
    tokio::spawn(async move {
        let permit = turn.wait().await;
        let _ = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let result = (|| -> Result<serde_json::Value, String> {
            let loaded = st2.load_dataset().map_err(|e| e.message)?;
            let options = crate::classify::Options::default();
            let d = crate::classify::diff::diff(&loaded.snapshot, &old, &new, b.as_of, &options, b.samples as usize)
                .map_err(|e| e.to_string())?;
            Ok(serde_json::json!({
                "from": old.label(), "from_hash": old.hash(), "to": new.label(), "to_hash": new.hash(), "as_of": b.as_of,
                "matrix": d.matrix, "probability_changed": d.probability_changed,
                "expected_by_department": d.expected_by_department, "expected_by_city": d.expected_by_city,
                "samples": d.samples.iter().map(|(x, y)| serde_json::json!({
                    "uscc": x.uscc, "name": x.name, "tier_before": x.tier, "tier_after": y.tier,
                    "before": x.explanation(), "after": y.explanation(),
                })).collect::<Vec<_>>(),
                "text": d.to_string(),
            }))
        })();
        if let Err(e) = st2.store.finish_job(job, &actor, result) {
            tracing::error!("job {job}: {e}");
        }
        })
        .await;
    });
    Ok((StatusCode::ACCEPTED, Json(JobStarted { job })))
}

#[utoipa::path(get, path = "/jobs/{id}", tag = "rules", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Job), (status = 404, body = ErrorBody)))]
pub async fn get_job(State(st): S, _: CanReadJobs, ApiPath(id): ApiPath<i64>) -> Result<Json<Job>, ApiError> {
    let store = st.store.clone();
    Ok(Json(blocking(move || Ok(store.job(id)?)).await?))
}

// -------------------------------------------------------------------- runs

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    #[schema(value_type = String, format = Date)]
    pub as_of: Date,
    /// A rule version; if omitted, the one in force on `as_of`
    /// (scheduled), else the active one. The run records which, and why.
    #[serde(default, deserialize_with = "int::opt_i64")]
    #[schema(value_type = Option<i64>)]
    pub rules: Option<i64>,
}

#[utoipa::path(post, path = "/runs", tag = "classification", request_body = NewRun, security(("bearer" = [])),
    responses((status = 202, body = RunRecord, description = "Started in the background; poll /runs/{id}")))]
pub async fn start_run(
    State(st): S,
    CanStartRun(auth): CanStartRun,
    ApiJson(b): ApiJson<NewRun>,
) -> Result<(StatusCode, Json<RunRecord>), ApiError> {
    limits::date("as_of", b.as_of).map_err(ApiError::from)?;
    // The version named, else the one in force on the date, else the active one.
    let store = st.store.clone();
    let (version, choice) = blocking(move || Ok(ops::rule_versions::resolve(&store, b.as_of, b.rules)?)).await?;
    let rules = st.rules_compiled(version).await?;
    let turn = st.reserve_work()?;
    let st2 = st.clone();
    let actor = auth.actor();
    let rules2 = rules.clone();
    let run = blocking(move || {
        let id = ops::begin_run(&st2.store, &st2.dataset.hash, &st2.dataset.label, &rules2, b.as_of, &actor)?;
        ops::rule_versions::record_choice(&st2.store, id, Some(version), &choice, &actor)?;
        Ok(st2.store.run(id)?)
    })
    .await?;
    let (st3, id, actor) = (st.clone(), run.id, auth.actor());
    tokio::spawn(async move {
        let permit = turn.wait().await;
        let _ = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let outcome = (|| -> Result<(), ApiError> {
                let loaded = st3.load_dataset()?;
                let req = ops::RunRequest {
                    run: id,
                    snapshot: &loaded.snapshot,
                    rules: &rules,
                    as_of: b.as_of,
                    actor: &actor,
                    output: None,
                    options: &crate::classify::Options::default(),
                };
                ops::execute_run(&st3.store, &req, &|_| {}, &mut |_| {})?;
                Ok(())
            })();
            if let Err(e) = outcome {
                tracing::warn!("run {id} failed: {}", e.message);
                // A failure before the run itself started (the dataset) is
                // recorded too; a run that failed records its own.
                if st3.store.run(id).is_ok_and(|r| r.status == "running") {
                    let _ = st3.store.fail_run(id, &actor, &e.message);
                }
            }
        })
        .await;
    });
    Ok((StatusCode::ACCEPTED, Json(run)))
}

#[utoipa::path(get, path = "/runs", tag = "classification", security(("bearer" = [])), responses((status = 200, body = Vec<RunRecord>)))]
pub async fn list_runs(State(st): S, _: CanReadRuns) -> Result<Json<Vec<RunRecord>>, ApiError> {
    let store = st.store.clone();
    Ok(Json(blocking(move || Ok(store.runs()?)).await?))
}

#[utoipa::path(get, path = "/runs/{id}", tag = "classification", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = RunRecord, description = "Status, progress and (when done) the summary"), (status = 404, body = ErrorBody)))]
pub async fn get_run(State(st): S, _: CanReadRuns, ApiPath(id): ApiPath<i64>) -> Result<Json<RunRecord>, ApiError> {
    let store = st.store.clone();
    Ok(Json(blocking(move || Ok(store.run(id)?)).await?))
}

#[utoipa::path(get, path = "/runs/{id}/entities/{uscc}", tag = "classification", params(("id" = i64, Path), ("uscc" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = crate::data::results::StoredResult, description = "The entity's result and its explanation"), (status = 404, body = ErrorBody)))]
pub async fn run_entity(
    State(st): S,
    Reader(auth): Reader,
    ApiPath((id, uscc)): ApiPath<(i64, String)>,
) -> Result<Json<crate::data::results::StoredResult>, ApiError> {
    let u =
        Uscc::parse(&uscc).map_err(|e| ApiError::bad_request(format!("'{uscc}' is not a valid credit code: {e}")))?;
    let st2 = st.clone();
    blocking(move || {
        let run = st2.store.run(id)?;
        if run.status != "done" {
            return Err(ApiError::new(StatusCode::CONFLICT, "conflict", format!("run {id} is {}", run.status)));
        }
        let found = st2.results(id)?.get(u.as_str()).map_err(ops::OpsError::from)?;
        let found = found.ok_or_else(|| ApiError::not_found(format!("entity {u} in run {id}")))?;
        auth.may(Action::ReadEntity, Resource::Place(found.county))?;
        Ok(Json(found))
    })
    .await
}

// ------------------------------------------------------------------- plans

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    #[schema(max_length = 200, min_length = 1)]
    pub name: String,
    pub kind: PlanKind,
    /// Participating departments (a joint plan if several; each once).
    #[schema(max_items = 16, min_items = 1)]
    pub departments: Vec<String>,
    /// The finished classification run the frame is built from.
    #[serde(deserialize_with = "int::i64")]
    pub run: i64,
    pub mode: Option<SelectionMode>,
    /// Quota share per stratum (quota mode).
    pub ratio: Option<f64>,
    /// When officers may see their assignments (RFC 3339).
    #[schema(max_length = 64)]
    pub release_at: String,
    /// Public randomness named in advance (who publishes what, where);
    /// empty: the plan explicitly has no beacon.
    #[serde(default)]
    #[schema(max_length = 300)]
    pub beacon_source: String,
    /// How the published value becomes bytes: text, digits or hex
    /// (required with a beacon source).
    #[schema(max_length = 16)]
    pub beacon_rule: Option<String>,
    /// When the beacon value will be published (RFC 3339, after now).
    #[serde(default)]
    #[schema(max_length = 64)]
    pub beacon_published_at: String,
    /// SHA-256 of your own secret (hex). Without it credo makes a secret
    /// and returns it once.
    #[schema(max_length = 64)]
    pub commitment: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PlanCreated {
    pub id: i64,
    /// `{store_id}/{id}`: unique across stores.
    pub plan_id: String,
    pub run_id: i64,
    pub frame_hash: String,
    pub commitment: String,
    /// Only when credo made the secret: keep it private until the reveal.
    pub secret: Option<String>,
    #[schema(value_type = Object)]
    pub stats: crate::plan::FrameStats,
    /// Cancelled plans over the same population this plan replaces.
    pub replaces: Vec<String>,
    /// Earlier plans whose visits excluded entities from this frame.
    pub excluded_by: Vec<String>,
}

#[utoipa::path(post, path = "/plans", tag = "draws", request_body = NewPlan, security(("bearer" = [])),
    responses((status = 201, body = PlanCreated), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_plan(
    State(st): S,
    CanCreatePlan(auth): CanCreatePlan,
    ApiJson(b): ApiJson<NewPlan>,
) -> Result<(StatusCode, Json<PlanCreated>), ApiError> {
    // Bounds first, before any work or any wait.
    limits::required_text("name", &b.name, limits::NAME)?;
    limits::list("departments", &b.departments, limits::DEPARTMENTS, limits::CODE)?;
    let commitment = match &b.commitment {
        None => None,
        Some(c) => {
            limits::text("commitment", c, limits::HEX32)?;
            let v = hex::decode(c).map_err(|e| limits::field("commitment", format!("not hex: {e}")))?;
            Some(<[u8; 32]>::try_from(v).map_err(|_| limits::field("commitment", "must be 32 bytes (64 hex digits)"))?)
        }
    };
    let beacon_rule = match b.beacon_rule.as_deref() {
        None if b.beacon_source.is_empty() => crate::draw::BeaconRule::None,
        None => return Err(ApiError::invalid("a beacon source needs beacon_rule: text, digits or hex")),
        Some(r) => r.parse().map_err(ApiError::invalid)?,
    };
    let permit = st.reserve_work()?.wait().await;
    // The plan lock moves into the blocking work and is released when
    // that work ends, not when the request does: the next plan's id is
    // written into this plan's frame.
    let guard = st.plan_lock.clone().lock_owned().await;
    let (cancel, flag) = ops::Cancel::new();
    let _stop = CancelOnDrop(flag);
    let (st2, creator) = (st.clone(), auth.0.clone());
    blocking(move || {
        let (_permit, _guard) = (permit, guard);
        cancel.check()?;
        let run = st2.store.run(b.run)?;
        let as_of = crate::data::table::parse_date(&run.as_of).map_err(ApiError::internal)?;
        let rules_id = st2.store.rule_versions()?.into_iter().find(|v| v.hash == run.rules_hash).map(|v| v.id);
        let defaults = match rules_id {
            Some(id) => st2.rules(id)?.manifest.draw.clone(),
            None => crate::engine::DrawDefaults::default(),
        };
        let mut params = PlanParams::with_defaults(&b.name, b.kind, b.departments, as_of, &defaults);
        if let Some(m) = b.mode {
            params.mode = m;
        }
        if let Some(r) = b.ratio {
            // One share named for the plan replaces the rules' shares by tier.
            params.ratio = r;
            params.quota_ratio_by_tier.clear();
        }
        params.release_at = b.release_at;
        params.beacon_source = b.beacon_source;
        params.beacon_rule = beacon_rule;
        params.beacon_published_at = b.beacon_published_at;
        cancel.check()?;
        let loaded = st2.load_dataset()?;
        cancel.check()?;
        let c = ops::create_plan_from_run(&st2.store, &loaded, b.run, &params, commitment, &creator, &cancel)?;
        Ok((
            StatusCode::CREATED,
            Json(PlanCreated {
                id: c.id,
                plan_id: c.plan_id,
                run_id: c.run_id,
                frame_hash: c.frame_hash,
                commitment: c.commitment,
                secret: c.secret,
                stats: c.stats,
                replaces: c.replaces,
                excluded_by: c.excluded_by,
            }),
        ))
    })
    .await
}

/// Sets a work's cancel flag when the request that started it ends
/// (answered, timed out or disconnected); finished work ignores it.
struct CancelOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[utoipa::path(get, path = "/plans", tag = "draws", security(("bearer" = [])), responses((status = 200, body = Vec<PlanRecord>)))]
pub async fn list_plans(State(st): S, Reader(auth): Reader) -> Result<Json<Vec<PlanRecord>>, ApiError> {
    let store = st.store.clone();
    let plans = blocking(move || Ok(store.plans()?)).await?;
    let t = now();
    Ok(Json(
        plans
            .into_iter()
            .filter(|p| auth.may(Action::ReadPlan, Resource::Plan(&ops::access::plan_facts(p, t))).is_ok())
            .map(|p| ops::access::plan_view(&auth.0, p, t))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/plans/{id}", tag = "draws", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PlanRecord), (status = 404, body = ErrorBody)))]
pub async fn get_plan(
    State(st): S,
    Reader(auth): Reader,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PlanRecord>, ApiError> {
    let p = plan_for(&st, &auth, Action::ReadPlan, id).await?;
    Ok(Json(ops::access::plan_view(&auth.0, p, now())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reveal {
    /// The secret (hex) the plan committed to.
    #[schema(max_length = 64)]
    pub secret: String,
    /// The beacon value exactly as the plan's beacon source published it
    /// (omit it when the plan names no beacon; refused then, and refused
    /// empty when the plan names one). For a credo-draw-v1 plan: hex bytes.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub beacon: String,
}

#[utoipa::path(post, path = "/plans/{id}/reveal", tag = "draws", params(("id" = i64, Path)), request_body = Reveal, security(("bearer" = [])),
    responses((status = 200, body = ops::Revealed), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody, description = "The secret does not match the commitment")))]
pub async fn reveal_plan(
    State(st): S,
    Regulator(auth): Regulator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<Reveal>,
) -> Result<Json<ops::Revealed>, ApiError> {
    limits::text("secret", &b.secret, limits::HEX32)?;
    limits::text("beacon", &b.beacon, limits::BEACON_VALUE)?;
    let secret = hex::decode(b.secret.trim()).map_err(|e| limits::field("secret", format!("not hex: {e}")))?;
    plan_for(&st, &auth, Action::RevealPlan, id).await?;
    let beacon = b.beacon;
    let (st2, actor) = (st.clone(), auth.actor());
    blocking(move || {
        // Names of the drawn entities, from the plan's classification run.
        let run = st2.store.plan(id)?.run_id;
        let results = st2.results(run)?;
        let names = |u: &Uscc| results.get(u.as_str()).ok().flatten().map(|r| r.name).unwrap_or_default();
        Ok(Json(ops::reveal_plan(&st2.store, &names, id, &secret, &beacon, &actor)?))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cancel {
    #[schema(max_length = 500, min_length = 1)]
    pub reason: String,
}

#[utoipa::path(post, path = "/plans/{id}/cancel", tag = "draws", params(("id" = i64, Path)), request_body = Cancel, security(("bearer" = [])),
    responses((status = 200, body = PlanRecord), (status = 409, body = ErrorBody)))]
pub async fn cancel_plan(
    State(st): S,
    Regulator(auth): Regulator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<Cancel>,
) -> Result<Json<PlanRecord>, ApiError> {
    limits::required_text("reason", &b.reason, limits::REASON)?;
    plan_for(&st, &auth, Action::CancelPlan, id).await?;
    let (store, actor) = (st.store.clone(), auth.actor());
    blocking(move || {
        store.cancel_plan(id, &actor, &b.reason)?;
        Ok(Json(store.plan(id)?))
    })
    .await
}

#[utoipa::path(get, path = "/plans/{id}/visits", tag = "draws", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<VisitRecord>), (status = 403, body = ErrorBody, description = "Not released yet and not the creator")))]
pub async fn plan_visits(
    State(st): S,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<VisitRecord>>, ApiError> {
    plan_for(&st, &auth, Action::ReadVisits, id).await?;
    let store = st.store.clone();
    Ok(Json(blocking(move || Ok(store.visits(id)?)).await?))
}

#[utoipa::path(get, path = "/plans/{id}/bundle", tag = "draws", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The self-contained bundle (text/plain; credo-draw-v2 bundles are signed by the store)", content_type = "text/plain"), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn plan_bundle(State(st): S, auth: Auth, ApiPath(id): ApiPath<i64>) -> Result<Response, ApiError> {
    plan_for(&st, &auth, Action::ReadBundle, id).await?;
    let store = st.store.clone();
    let text = blocking(move || Ok(ops::export_bundle(&store, id)?)).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct VerifyReport {
    pub identical: bool,
    pub report: String,
}

#[utoipa::path(post, path = "/plans/{id}/verify", tag = "draws", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = VerifyReport), (status = 409, body = ErrorBody)))]
pub async fn verify_plan(
    State(st): S,
    Reader(auth): Reader,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<VerifyReport>, ApiError> {
    plan_for(&st, &auth, Action::VerifyPlan, id).await?;
    let store = st.store.clone();
    let r = blocking(move || Ok(ops::verify_plan(&store, id)?)).await?;
    Ok(Json(VerifyReport { identical: r.is_identical(), report: r.to_string() }))
}

#[utoipa::path(post, path = "/plans/{id}/publish", tag = "draws", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The public disclosure now served at /public/plans/{id}")))]
pub async fn publish_plan(
    State(st): S,
    Regulator(auth): Regulator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    plan_for(&st, &auth, Action::PublishPlan, id).await?;
    let (store, actor) = (st.store.clone(), auth.actor());
    let lang = super::lang::current();
    blocking(move || {
        let d = ops::disclosure(&store, id, now(), lang)?;
        let text = ops::signed_disclosure(&store, &d, false)?;
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
        store.mark_published(id, &actor, &digest)?;
        Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
    })
    .await
}

// ---------------------------------------------------------------- officers

#[derive(Serialize, ToSchema)]
pub struct Assignment {
    pub plan: i64,
    pub plan_name: String,
    pub kind: String,
    pub visit: i64,
    pub uscc: String,
    pub name: String,
    /// (department, item code).
    pub items: Vec<(String, String)>,
    /// The whole team, this officer included.
    pub officers: Vec<String>,
    pub release_at: String,
}

#[utoipa::path(get, path = "/officers/me/assignments", tag = "officers", security(("bearer" = [])),
    responses((status = 200, body = Vec<Assignment>, description = "Released assignments of the calling officer"), (status = 403, body = ErrorBody)))]
pub async fn my_assignments(State(st): S, OfficerAuth(auth): OfficerAuth) -> Result<Response, ApiError> {
    let officer = auth.0.officer_id.clone().ok_or_else(|| ApiError::forbidden("not an officer token"))?;
    let t = now();
    // The list changes only when a plan is revealed (new assignments) or
    // one of its plans' release times passes: a count (an index-only read,
    // like the token's) tells whether the encoded list is still current.
    let count = st.store.assignment_count(&officer)?;
    if let Some(list) = st.cached_assignments(&officer, count, t) {
        return Ok(([(header::CONTENT_TYPE, "application/json")], list.body.clone()).into_response());
    }
    let st2 = st.clone();
    let list = blocking(move || {
        let rows = st2.store.officer_visits(&officer)?;
        let mut valid_until: Option<chrono::DateTime<chrono::FixedOffset>> = None;
        let mut list = Vec::with_capacity(rows.len());
        for r in rows {
            match chrono::DateTime::parse_from_rfc3339(&r.release_at) {
                Ok(at) if t >= at => list.push(Assignment {
                    plan: r.visit.plan_id,
                    plan_name: r.plan_name,
                    kind: r.plan_kind,
                    visit: r.visit.seq,
                    uscc: r.visit.uscc,
                    name: r.visit.name,
                    items: r.visit.items,
                    officers: r.visit.officers,
                    release_at: r.release_at,
                }),
                Ok(at) => valid_until = Some(valid_until.map_or(at, |v| v.min(at))),
                Err(_) => {}
            }
        }
        let body = serde_json::to_vec(&list).map_err(ApiError::internal)?;
        let list = Arc::new(super::AssignmentList { count, valid_until, body: body.into() });
        st2.cache_assignments(&officer, list.clone());
        Ok(list)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], list.body.clone()).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResult {
    /// The officer's own department (it must have items in the visit).
    #[schema(max_length = 64)]
    pub department: String,
    /// compliant, issues_corrected, violation or not_found.
    #[schema(max_length = 64)]
    pub result: String,
    /// Commitment checks: fulfilled or breached.
    #[schema(max_length = 64)]
    pub commitment_status: Option<String>,
    /// Not before the plan's release, not in the future.
    #[schema(value_type = String, format = Date)]
    pub inspected_on: Date,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub notes: String,
}

#[derive(Serialize, ToSchema)]
pub struct ResultStored {
    pub id: i64,
}

#[utoipa::path(post, path = "/officers/me/assignments/{plan}/{visit}/result", tag = "officers",
    params(("plan" = i64, Path), ("visit" = i64, Path)), request_body = NewResult, security(("bearer" = [])),
    responses((status = 201, body = ResultStored), (status = 403, body = ErrorBody, description = "Not this officer's assignment, or not released"), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn submit_result(
    State(st): S,
    OfficerAuth(auth): OfficerAuth,
    ApiPath((plan, visit)): ApiPath<(i64, i64)>,
    ApiJson(b): ApiJson<NewResult>,
) -> Result<(StatusCode, Json<ResultStored>), ApiError> {
    let store = st.store.clone();
    blocking(move || {
        let new = ops::NewResult {
            plan,
            visit,
            department: &b.department,
            result: &b.result,
            commitment_status: b.commitment_status.as_deref(),
            inspected_on: b.inspected_on,
            notes: &b.notes,
        };
        let id = ops::submit_result(&store, &auth.0, &new, limits::today())?;
        Ok((StatusCode::CREATED, Json(ResultStored { id })))
    })
    .await
}

// ---------------------------------------------------------------- entities

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// Evaluation date (YYYY-MM-DD); the latest run's date if omitted.
    #[param(value_type = Option<String>, format = Date)]
    pub as_of: Option<Date>,
}

#[utoipa::path(get, path = "/entities/{uscc}", tag = "entities", params(("uscc" = String, Path), AsOf), security(("bearer" = [])),
    responses((status = 200, description = "Tier over time, records, tolerance, exemptions, commitments, repairs, blacklist and propagation paths"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn entity_timeline(
    State(st): S,
    Reader(auth): Reader,
    ApiPath(uscc): ApiPath<String>,
    ApiQuery(q): ApiQuery<AsOf>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let u =
        Uscc::parse(&uscc).map_err(|e| ApiError::bad_request(format!("'{uscc}' is not a valid credit code: {e}")))?;
    if let Some(d) = q.as_of {
        limits::date("as_of", d)?;
    }
    let (_, rules) = st.active_rules_compiled().await?;
    let permit = st.reserve_work()?.wait().await;
    let st2 = st.clone();
    let lang = super::lang::current();
    blocking(move || {
        let _permit = permit;
        let as_of = match q.as_of {
            Some(d) => d,
            None => {
                let run = st2.store.latest_run()?.ok_or_else(|| ApiError::invalid("no finished run; give as_of"))?;
                crate::data::table::parse_date(&run.as_of).map_err(ApiError::internal)?
            }
        };
        let loaded = st2.load_dataset()?;
        if let Some(e) = loaded.snapshot.entities.find(&u) {
            auth.may(Action::ReadEntity, Resource::Place(loaded.snapshot.entities.region[e as usize]))?;
        }
        let t = ops::entity_timeline(&loaded.snapshot, &rules, u, as_of, lang)?;
        Ok(Json(serde_json::to_value(&t).map_err(ApiError::internal)?))
    })
    .await
}

// ------------------------------------------------------------------ public

#[derive(Serialize, ToSchema)]
pub struct PublicPlan {
    pub id: i64,
    /// `{store_id}/{id}`.
    pub plan_id: String,
    pub name: String,
    pub kind: String,
    /// committed, revealed or cancelled: every plan is listed from its
    /// creation, cancelled ones too.
    pub status: String,
    pub created_at: String,
    /// Published before the reveal, these make a re-roll impossible to hide.
    pub commitment: String,
    pub frame_hash: String,
    pub release_at: String,
    pub cancelled_at: Option<String>,
    /// Cancelled plans this plan replaces.
    pub replaces: Vec<String>,
    pub published_at: Option<String>,
}

#[utoipa::path(get, path = "/public/plans", tag = "public", responses((status = 200, body = Vec<PublicPlan>)))]
pub async fn public_plans(State(st): S) -> Result<Json<Vec<PublicPlan>>, ApiError> {
    let store = st.store.clone();
    let plans = blocking(move || Ok(store.plans()?)).await?;
    Ok(Json(
        plans
            .into_iter()
            .map(|p| PublicPlan {
                id: p.id,
                plan_id: ops::global_plan_id(&st.store, p.id),
                name: p.name,
                kind: p.kind,
                status: p.status,
                created_at: p.created_at,
                commitment: p.commitment,
                frame_hash: p.frame_hash,
                release_at: p.release_at,
                cancelled_at: p.cancelled_at,
                replaces: p.replaces,
                published_at: p.published_at,
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/public/plans/{id}", tag = "public", params(("id" = i64, Path)),
    responses((status = 200, description = "The signed disclosure (credo-disclosure-v2): plan, commitment, frame hash, provenance, beacon, cancellation, strata and (after release) results; no personal data"), (status = 404, body = ErrorBody)))]
pub async fn public_plan(State(st): S, ApiPath(id): ApiPath<i64>) -> Result<Response, ApiError> {
    let st2 = st.clone();
    let lang = super::lang::current();
    blocking(move || {
        let p = st2.store.plan(id).map_err(|_| ApiError::not_found(format!("no plan {id}")))?;
        // A later plan may name this one as replaced: the plan count is
        // part of what the cached page depends on.
        let plans = st2.store.plan_count()?;
        let key =
            (format!("{}|{plans}", p.status), p.published_at.clone(), released(&p), st2.store.results_version(id)?);
        let text = st2.disclosure(id, key, lang)?;
        Ok(([(header::CONTENT_TYPE, "application/json")], text.as_ref().clone()).into_response())
    })
    .await
}

#[derive(Serialize, ToSchema)]
pub struct StoreKey {
    pub store_id: String,
    /// Ed25519 public key (hex) that signs bundles, disclosures and checkpoints.
    pub public_key: String,
    pub algorithm: String,
}

#[utoipa::path(get, path = "/public/key", tag = "public", responses((status = 200, body = StoreKey)))]
pub async fn public_key(State(st): S) -> Json<StoreKey> {
    Json(StoreKey {
        store_id: st.store.identity().store_id.clone(),
        public_key: st.store.identity().public_key().to_hex(),
        algorithm: crate::trust::ALGORITHM.into(),
    })
}

#[utoipa::path(get, path = "/public/checkpoint", tag = "public",
    responses((status = 200, description = "The signed head of the audit log (credo-checkpoint-v1): entry number and hash; keep it to detect truncation and rewrites later"), (status = 422, body = ErrorBody, description = "The audit log is broken")))]
pub async fn public_checkpoint(State(st): S) -> Result<Response, ApiError> {
    let store = st.store.clone();
    let text = blocking(move || Ok(ops::checkpoint(&store)?)).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}

// ------------------------------------------------------------------- audit

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this subject (e.g. plan/3) and its parts; taken
    /// literally (`%` and `_` are not wildcards). At most 200 characters.
    #[param(max_length = 200)]
    pub subject: Option<String>,
}

#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery), security(("bearer" = [])), responses((status = 200, body = Vec<AuditEntry>)))]
pub async fn audit_log(
    State(st): S,
    CanReadAudit(auth): CanReadAudit,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    if let Some(s) = &q.subject {
        limits::text("subject", s, limits::SUBJECT)?;
    }
    let store = st.store.clone();
    Ok(Json(
        blocking(move || {
            let entries = store.read_long(|c| crate::store::audit::entries(c, q.subject.as_deref()))?;
            // Secrets of unreleased plans are the creator's alone.
            Ok(ops::access::audit_view(&store, &auth.0, entries, now())?)
        })
        .await?,
    ))
}

#[utoipa::path(get, path = "/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "The chain (intact with its head, or the first altered or missing entry), every difference between the tables and the audit payloads, every altered results file; `intact` when there is none")))]
pub async fn audit_verify(State(st): S, _: CanVerifyAudit) -> Result<Json<serde_json::Value>, ApiError> {
    let store = st.store.clone();
    let r = blocking(move || Ok(ops::verify_store(&store, None)?)).await?;
    Ok(Json(serde_json::to_value(r).map_err(ApiError::internal)?))
}
