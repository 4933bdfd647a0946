//! Objections to records (异议申诉): file, decide, list. The handlers parse
//! and call `ops::objections`; the policy decides who may (regulators of
//! the entity's jurisdiction file and decide; auditors read too).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Auth;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::model::Date;
use crate::model::objection::{ObjectionOutcome, ObjectionStatus};
use crate::ops::limits;
use crate::ops::objections as ops;
use crate::ops::policy::{Action, Resource};
use crate::store::ObjectionRecord;
use crate::tr;

type S = State<Arc<AppState>>;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

/// Asks the policy about an action in the caller's own jurisdiction: a
/// caller whose role may never do it is refused before any work.
fn may_at_all(auth: &Auth, action: Action) -> Result<(), ApiError> {
    auth.may(action, Resource::Place(auth.0.jurisdiction.code()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewObjection {
    /// The entity's credit code.
    #[schema(max_length = 64)]
    pub uscc: String,
    /// The disputed record: decision number, listing, complaint,
    /// commitment or inspection id.
    #[schema(max_length = 100)]
    pub record_id: String,
    /// Why the record is disputed.
    #[schema(max_length = 500)]
    pub reason: String,
    /// From when the record is disputed (not before it arose, not in the
    /// future); today (China time) if omitted.
    #[schema(value_type = Option<String>, format = Date)]
    pub filed_on: Option<Date>,
}

#[utoipa::path(post, path = "/objections", tag = "objections", request_body = NewObjection, security(("bearer" = [])),
    responses((status = 201, body = ObjectionRecord), (status = 404, body = ErrorBody, description = "No such entity"),
        (status = 409, body = ErrorBody, description = "The record is already disputed, or the imported dataset is missing or changed on disk (dataset_unavailable)"), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "Too many dataset-wide tasks are waiting")))]
pub async fn file_objection(
    State(st): S,
    auth: Auth,
    ApiJson(b): ApiJson<NewObjection>,
) -> Result<(StatusCode, Json<ObjectionRecord>), ApiError> {
    // Before any work: a regulator of some place, or the entity's agent.
    auth.may(Action::FileObjection, Resource::Entity { uscc: &b.uscc, place: auth.0.jurisdiction.code() })?;
    // The record is looked up in the dataset: dataset-wide work.
    let permit = st.reserve_work()?.wait().await;
    let st2 = st.clone();
    blocking(move || {
        let _permit = permit;
        let loaded = st2.load_dataset()?;
        let req =
            ops::FileObjection { uscc: &b.uscc, record_id: &b.record_id, reason: &b.reason, filed_on: b.filed_on };
        let o = ops::file_objection(&st2.store, &loaded.snapshot, &auth.0, &req, limits::today())?;
        Ok((StatusCode::CREATED, Json(o)))
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectionDecision {
    /// `upheld` (the record is corrected) or `rejected` (it stands).
    #[schema(max_length = 64, example = "upheld")]
    pub outcome: String,
    #[schema(max_length = 500)]
    pub reason: String,
    /// Not before the objection was filed, not in the future; today (China
    /// time) if omitted.
    #[schema(value_type = Option<String>, format = Date)]
    pub decided_on: Option<Date>,
}

#[utoipa::path(post, path = "/objections/{id}/decide", tag = "objections", params(("id" = i64, Path)),
    request_body = ObjectionDecision, security(("bearer" = [])),
    responses((status = 200, body = ObjectionRecord), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Already decided"), (status = 422, body = ErrorBody)))]
pub async fn decide_objection(
    State(st): S,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<ObjectionDecision>,
) -> Result<Json<ObjectionRecord>, ApiError> {
    may_at_all(&auth, Action::DecideObjection)?;
    limits::text("outcome", &b.outcome, limits::CODE)?;
    let outcome: ObjectionOutcome = b.outcome.parse().map_err(|_| {
        let o = &b.outcome;
        limits::field("outcome", crate::tr!("“{o}”不是 upheld 或 rejected", "'{o}' is not upheld or rejected"))
    })?;
    let store = st.store.clone();
    blocking(move || {
        let req = ops::DecideObjection { id, outcome, reason: &b.reason, decided_on: b.decided_on };
        Ok(Json(ops::decide_objection(&store, &auth.0, &req, limits::today())?))
    })
    .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ObjectionQuery {
    /// Only this entity's objections.
    #[param(max_length = 64)]
    pub uscc: Option<String>,
    /// Only objections in this status: open, upheld or rejected.
    #[param(max_length = 64)]
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/objections", tag = "objections", params(ObjectionQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<ObjectionRecord>), (status = 422, body = ErrorBody)))]
pub async fn list_objections(
    State(st): S,
    auth: Auth,
    ApiQuery(q): ApiQuery<ObjectionQuery>,
) -> Result<Json<Vec<ObjectionRecord>>, ApiError> {
    may_at_all(&auth, Action::ReadObjections)?;
    let status = match &q.status {
        None => None,
        Some(s) => {
            limits::text("status", s, limits::CODE)?;
            Some(s.parse::<ObjectionStatus>().map_err(|e| limits::field("status", e.text()))?)
        }
    };
    let store = st.store.clone();
    blocking(move || Ok(Json(ops::list_objections(&store, &auth.0, q.uscc.as_deref(), status)?))).await
}

#[utoipa::path(get, path = "/objections/{id}", tag = "objections", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = ObjectionRecord), (status = 404, body = ErrorBody)))]
pub async fn get_objection(
    State(st): S,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ObjectionRecord>, ApiError> {
    may_at_all(&auth, Action::ReadObjections)?;
    let store = st.store.clone();
    blocking(move || {
        let o = store.objection(id)?;
        // One outside the caller's jurisdiction is not the caller's business.
        if auth.may(Action::ReadObjections, Resource::Place(o.region)).is_err() {
            return Err(ApiError::not_found(tr!("未找到异议 {id}", "objection {id} not found")));
        }
        Ok(Json(o))
    })
    .await
}
