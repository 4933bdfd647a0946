//! Rule versions with effective dates: schedule a version, read the
//! schedule. Which version a run uses is `ops::rule_versions::resolve`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{CanChangeRules, CanReadRules};
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::model::Date;
use crate::ops::rule_versions as ops;
use crate::store::ScheduledRules;

type S = State<Arc<AppState>>;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSchedule {
    /// In force from this day: classifications as of this day or later
    /// use the version (unless a later-starting one is in force).
    #[schema(value_type = String, format = Date)]
    pub effective_from: Date,
    /// In force until the day before this one; open-ended if omitted.
    #[schema(value_type = Option<String>, format = Date)]
    pub effective_until: Option<Date>,
}

#[utoipa::path(post, path = "/rules/{id}/schedule", tag = "rules", params(("id" = i64, Path)), request_body = RuleSchedule,
    security(("bearer" = [])), responses((status = 200, body = ScheduledRules), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn schedule_rules(
    State(st): S,
    CanChangeRules(auth): CanChangeRules,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<RuleSchedule>,
) -> Result<Json<ScheduledRules>, ApiError> {
    let store = st.store.clone();
    blocking(move || Ok(Json(ops::schedule(&store, &auth.0, id, b.effective_from, b.effective_until)?))).await
}

#[utoipa::path(get, path = "/rules/schedule", tag = "rules", security(("bearer" = [])),
    responses((status = 200, body = Vec<ScheduledRules>)))]
pub async fn rule_schedule(State(st): S, _: CanReadRules) -> Result<Json<Vec<ScheduledRules>>, ApiError> {
    let store = st.store.clone();
    blocking(move || Ok(Json(store.rule_schedule()?))).await
}
