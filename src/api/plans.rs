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
use crate::plan::{PlanKind, SelectionMode};
use crate::store::{PlanRecord, VisitRecord};

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
    responses((status = 201, body = PlanCreated), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The imported dataset is missing or changed on disk (dataset_unavailable)"),
        (status = 429, body = ErrorBody, description = "Too many dataset-wide tasks are waiting")))]
pub async fn create_plan(
    State(st): S,
    CanCreatePlan(auth): CanCreatePlan,
    ApiJson(b): ApiJson<NewPlan>,
) -> Result<(StatusCode, Json<PlanCreated>), ApiError> {
    // Bounds first, before any work or any wait.
    let request = plan_request(b).check()?;
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
        let params = request.params(&st2.store, |id| st2.rules(id))?;
        cancel.check()?;
        let loaded = st2.load_dataset()?;
        cancel.check()?;
        let c = ops::create_plan_from_run(
            &st2.store,
            &loaded,
            request.run(),
            &params,
            request.commitment(),
            &creator,
            &cancel,
        )?;
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

/// The plan request as `ops` takes it (the same for creation and preview).
fn plan_request(b: NewPlan) -> ops::PlanRequest {
    ops::PlanRequest {
        name: b.name,
        kind: b.kind,
        departments: b.departments,
        run: b.run,
        mode: b.mode,
        ratio: b.ratio,
        release_at: b.release_at,
        beacon_source: b.beacon_source,
        beacon_rule: b.beacon_rule,
        beacon_published_at: b.beacon_published_at,
        commitment: b.commitment,
    }
}

/// One county × department of a plan preview.
#[derive(Serialize, ToSchema)]
pub struct CapacityCellView {
    /// The entities' county (division code) and its name.
    pub county: u32,
    pub county_name: String,
    /// Where the officers come from: the county's city, or the county.
    pub area: u32,
    pub department: String,
    pub expected_visits: f64,
    /// Active officers of the department serving the area.
    pub officers: usize,
    /// Of them, qualified for the area's expected visits.
    pub qualified: usize,
    /// Visits an officer may make in one plan.
    pub cap: u32,
    /// Expected officer-visits of the department in the whole area.
    pub area_officer_visits: f64,
    /// Qualified officers × cap.
    pub area_capacity: u64,
    /// Expected visits no team can be formed for.
    pub visits_without_team: f64,
    /// Why the cell cannot be staffed: no_officer, not_qualified,
    /// too_few_for_team or over_cap; null when it can.
    #[schema(value_type = Option<String>)]
    pub shortfall: Option<crate::model::StaffingShortfall>,
    /// The reason in the response's language (Accept-Language).
    pub reason: Option<String>,
}

/// A draft plan's staffing, before it is committed: nothing is stored.
#[derive(Serialize, ToSchema)]
pub struct PlanPreviewBody {
    #[schema(value_type = String, format = Date)]
    pub as_of: crate::model::Date,
    pub kind: PlanKind,
    pub mode: SelectionMode,
    pub departments: Vec<String>,
    pub officers_per_visit: u32,
    pub max_visits_per_officer: u32,
    /// city or county: where an entity's officers must come from.
    pub officers_from: String,
    #[schema(value_type = Object)]
    pub stats: crate::plan::FrameStats,
    pub expected_visits: f64,
    /// Whether every county × department can be staffed.
    pub staffable: bool,
    /// How many cannot.
    pub unstaffable: usize,
    pub cells: Vec<CapacityCellView>,
}

#[utoipa::path(post, path = "/plans/preview", tag = "draws", request_body = NewPlan, security(("bearer" = [])),
    responses((status = 200, body = PlanPreviewBody, description = "The draft plan's staffing; nothing is stored"),
        (status = 422, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The imported dataset is missing or changed on disk (dataset_unavailable)"),
        (status = 429, body = ErrorBody, description = "Too many dataset-wide tasks are waiting")))]
pub async fn preview_plan(
    State(st): S,
    CanCreatePlan(auth): CanCreatePlan,
    ApiJson(b): ApiJson<NewPlan>,
) -> Result<Json<PlanPreviewBody>, ApiError> {
    let request = plan_request(b).check()?;
    let lang = super::lang::current();
    let permit = st.reserve_work()?.wait().await;
    let (cancel, flag) = ops::Cancel::new();
    let _stop = CancelOnDrop(flag);
    let (st2, caller) = (st.clone(), auth.0.clone());
    blocking(move || {
        let _permit = permit;
        let params = request.params(&st2.store, |id| st2.rules(id))?;
        let loaded = st2.load_dataset()?;
        cancel.check()?;
        let p = ops::capacity::preview_plan_from_run(&st2.store, &loaded, request.run(), &params, &caller, &cancel)?;
        let divisions = crate::model::region::divisions();
        let cells = p
            .cells
            .iter()
            .map(|c| CapacityCellView {
                county: c.county,
                county_name: divisions.name(c.county).to_string(),
                area: c.area,
                department: c.department.clone(),
                expected_visits: c.expected_visits,
                officers: c.officers,
                qualified: c.qualified,
                cap: c.cap,
                area_officer_visits: c.area_officer_visits,
                area_capacity: c.area_capacity,
                visits_without_team: c.visits_without_team,
                shortfall: c.shortfall,
                reason: c.shortfall.map(|s| crate::i18n::capacity::shortfall_text(s, lang).to_string()),
            })
            .collect();
        Ok(Json(PlanPreviewBody {
            as_of: p.as_of,
            kind: p.kind,
            mode: p.mode,
            departments: p.departments.clone(),
            officers_per_visit: p.officers_per_visit,
            max_visits_per_officer: p.max_visits_per_officer,
            officers_from: match p.officers_from {
                crate::engine::OfficerArea::City => "city".into(),
                crate::engine::OfficerArea::County => "county".into(),
            },
            staffable: p.staffable(),
            unstaffable: p.unstaffable().count(),
            stats: p.stats,
            expected_visits: p.expected_visits,
            cells,
        }))
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
    let secret = hex::decode(b.secret.trim())
        .map_err(|e| limits::field("secret", crate::tr!("不是十六进制：{e}", "not hex: {e}")))?;
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
    let lang = super::lang::current();
    let r = blocking(move || Ok(ops::verify_plan(&store, id)?)).await?;
    Ok(Json(VerifyReport { identical: r.is_identical(), report: r.text().get(lang).to_string() }))
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
