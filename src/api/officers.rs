//! An officer's own side: released assignments (cached until they
//! change) and the results the officer files.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::OfficerAuth;
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use super::handlers::*;
use crate::model::Date;
use crate::ops;
use crate::ops::limits;
use crate::plan::PlanKind;
use crate::tr;

#[derive(Serialize, ToSchema)]
pub struct Assignment {
    pub plan: i64,
    pub plan_name: String,
    #[schema(value_type = String)]
    pub kind: PlanKind,
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
    let officer = auth
        .0
        .officer_id
        .clone()
        .ok_or_else(|| ApiError::forbidden(tr!("不是检查人员令牌", "not an officer token")))?;
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
    responses((status = 201, body = ResultStored), (status = 403, body = ErrorBody, description = "Not this officer's assignment, or not released"), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "A breached commitment check waits for dataset-wide work, and too many are waiting")))]
pub async fn submit_result(
    State(st): S,
    OfficerAuth(auth): OfficerAuth,
    ApiPath((plan, visit)): ApiPath<(i64, i64)>,
    ApiJson(b): ApiJson<NewResult>,
) -> Result<(StatusCode, Json<ResultStored>), ApiError> {
    let (store, dataset) = (st.store.clone(), st.dataset.path.clone());
    // A breached commitment check reads the dataset (the entity's
    // commitments): dataset-wide work, so it waits its turn like a run.
    let permit = match b.commitment_status.as_deref() {
        Some("breached") => Some(st.reserve_work()?.wait().await),
        _ => None,
    };
    blocking(move || {
        let _permit = permit;
        let new = ops::NewResult {
            plan,
            visit,
            department: &b.department,
            result: &b.result,
            commitment_status: b.commitment_status.as_deref(),
            inspected_on: b.inspected_on,
            notes: &b.notes,
        };
        let id = ops::submit_result(&store, &auth.0, &new, limits::today(), Some(&dataset))?;
        Ok((StatusCode::CREATED, Json(ResultStored { id })))
    })
    .await
}
