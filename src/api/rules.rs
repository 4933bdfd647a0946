//! Rule versions: listed, read, uploaded (only once they compile and
//! pass their own tests), activated, and their impact against the active
//! version computed as a background job.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{CanChangeRules, CanReadJobs, CanReadRules, CanStartDiff};
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody, int};
use super::handlers::*;
use crate::engine::RuleSource;
use crate::model::Date;
use crate::ops;
use crate::ops::limits;
use crate::store::{Job, RuleVersion};
use crate::tr;

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
            .ok_or_else(|| ApiError::not_found(tr!("未找到规则版本 {id}", "rule version {id} not found")))?;
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
    ops::rules::check_upload(&b.files)?;
    let store = st.store.clone();
    let actor = auth.actor();
    blocking(move || {
        let (rules, stored) = ops::rules::add_rules(&store, RuleSource { files: b.files }, &actor)?;
        Ok((
            if stored.created { StatusCode::CREATED } else { StatusCode::OK },
            Json(RulesStored {
                id: stored.id,
                hash: rules.hash().to_string(),
                label: rules.label(),
                created: stored.created,
                tests_passed: stored.tests_passed,
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
                .ok_or_else(|| ApiError::not_found(tr!("未找到规则版本 {id}", "rule version {id} not found")))?,
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
    let job = start_diff(&st, id, b.as_of, b.samples as usize, &auth.actor()).await?;
    Ok((StatusCode::ACCEPTED, Json(JobStarted { job })))
}

/// Starts the impact of version `id` against the active version over the
/// imported dataset as of a date, as a background job (the API's and the
/// console's): the job's id.
pub(crate) async fn start_diff(
    st: &std::sync::Arc<crate::api::AppState>,
    id: i64,
    as_of: Date,
    samples: usize,
    actor: &str,
) -> Result<i64, ApiError> {
    limits::date("as_of", as_of).map_err(ApiError::from)?;
    let new = st.rules_compiled(id).await?;
    let (_, old) = st.active_rules_compiled().await?;
    let store = st.store.clone();
    let turn = st.reserve_work()?;
    let request = serde_json::json!({ "rules": id, "as_of": as_of, "samples": samples });
    let who = actor.to_string();
    let job = blocking(move || Ok(store.create_job(crate::model::JobKind::RulesDiff, &who, &request)?)).await?;
    let (st2, actor) = (st.clone(), actor.to_string());
    tokio::spawn(async move {
        let permit = turn.wait().await;
        let _ = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let outcome = match (|| -> Result<serde_json::Value, ApiError> {
                let loaded = st2.load_dataset()?;
                let options = crate::classify::Options::default();
                let d = ops::rules::diff(&loaded.snapshot, &old, &new, as_of, &options, samples)?;
                serde_json::to_value(d).map_err(ApiError::internal)
            })() {
                Ok(v) => crate::store::JobOutcome::Done(v),
                Err(e) => crate::store::JobOutcome::Failed(e.message.to_string()),
            };
            if let Err(e) = st2.store.finish_job(job, &actor, &outcome) {
                tracing::error!("job {job}: {e}");
            }
        })
        .await;
    });
    Ok(job)
}

#[utoipa::path(get, path = "/jobs/{id}", tag = "rules", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Job), (status = 404, body = ErrorBody)))]
pub async fn get_job(State(st): S, _: CanReadJobs, ApiPath(id): ApiPath<i64>) -> Result<Json<Job>, ApiError> {
    let store = st.store.clone();
    Ok(Json(blocking(move || Ok(store.job(id)?)).await?))
}
