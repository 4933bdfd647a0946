//! What every endpoint shares (running work off the async workers, a
//! plan read with the policy's answer) and the service's own endpoints
//! (health, the OpenAPI document). The endpoints of each resource sit in
//! their own module beside their request and response types; each checks
//! the caller through the shared policy, then calls `ops` or `store` off
//! the async workers. Never decides anything the CLI would not.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Auth;
use super::error::ApiError;
use crate::model::access::Role;
use crate::ops;
use crate::ops::policy::{Action, Resource};
use crate::store::PlanRecord;
use crate::tr;

pub(super) type S = State<Arc<AppState>>;

/// Runs blocking work (SQLite, classification, draws) off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

pub(super) fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Utc::now().fixed_offset()
}

pub(super) fn released(plan: &PlanRecord) -> bool {
    chrono::DateTime::parse_from_rfc3339(&plan.release_at).map(|t| now() >= t).unwrap_or(false)
}

/// Asks the policy about `action` on a stored plan; a plan outside the
/// caller's jurisdiction is answered as not found (its existence is not
/// the caller's business).
pub(super) fn may_on_plan(auth: &Auth, action: Action, plan: &PlanRecord) -> Result<(), ApiError> {
    let facts = ops::access::plan_facts(plan, now());
    if auth.may(Action::ReadPlan, Resource::Plan(&facts)).is_err() && auth.0.role != Role::Officer {
        let id = plan.id;
        return Err(ApiError::not_found(tr!("未找到计划 {id}", "plan {id} not found")));
    }
    auth.may(action, Resource::Plan(&facts)).map_err(|e| {
        let (id, at) = (plan.id, &plan.release_at);
        ApiError::forbidden(e.message.map(|lang, m| match lang {
            crate::i18n::Lang::Zh => format!("计划 {id}（发布于 {at}）：{m}"),
            crate::i18n::Lang::En => format!("plan {id} (released {at}): {m}"),
        }))
    })
}

/// A plan by id, read off the async workers, with the policy's answer.
pub(super) async fn plan_for(st: &Arc<AppState>, auth: &Auth, action: Action, id: i64) -> Result<PlanRecord, ApiError> {
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
