//! Inspection plans: created from a stored run, listed, read, revealed,
//! cancelled, their visits, bundle, verification and publication.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Auth, CanCreatePlan, Reader, Regulator};
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody, int};
use super::handlers::*;
use crate::model::Uscc;
use crate::ops;
use crate::ops::limits;
use crate::ops::policy::{Action, Resource};
use crate::plan::{PlanKind, PlanParams, SelectionMode};
use crate::store::{PlanRecord, VisitRecord};
use crate::tr;

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
            Some(crate::model::parse_hex32(c).map_err(|e| limits::field("commitment", e.0))?)
        }
    };
    let beacon_rule = match b.beacon_rule.as_deref() {
        None if b.beacon_source.is_empty() => crate::draw::BeaconRule::None,
        None => {
            return Err(ApiError::invalid(tr!(
                "指定信标来源时需要 beacon_rule：text、digits 或 hex",
                "a beacon source needs beacon_rule: text, digits or hex"
            )));
        }
        Some(r) => r.parse().map_err(|e: crate::draw::UnknownBeaconRule| ApiError::invalid(e.to_string()))?,
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
        let defaults = st2.rules(ops::run_rule_version(&st2.store, &run)?)?.manifest.draw.clone();
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
        let p = ops::publish(&store, id, now(), lang, ops::Layout::Compact, &actor)?;
        Ok(([(header::CONTENT_TYPE, "application/json")], p.text).into_response())
    })
    .await
}
