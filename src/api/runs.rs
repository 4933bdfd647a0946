//! Classification runs: started in the background (bounded queue), listed,
//! read, and one entity's stored result.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{CanReadRuns, CanStartRun, Reader};
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody, int};
use super::handlers::*;
use crate::classify::DEFAULT_SHARD_SIZE;
use crate::model::{Date, Uscc};
use crate::ops;
use crate::ops::limits;
use crate::ops::memory::MemoryLimit;
use crate::ops::policy::{Action, Resource};
use crate::store::RunRecord;
use crate::tr;

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
    responses((status = 202, body = RunRecord, description = "Started in the background; poll /runs/{id}"),
        (status = 503, body = ErrorBody, description = "The run would not fit in the server's memory (insufficient_memory): what it needs and what there is")))]
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
    // A run that cannot fit in memory is refused now (503), not killed
    // by the kernel later.
    let dir = st.dataset.path.clone();
    blocking(move || Ok(ops::memory::preflight(&dir, DEFAULT_SHARD_SIZE, MemoryLimit::Auto)?)).await?;
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
                // Checked again: memory may have gone while the run queued.
                let fits = ops::memory::preflight(&st3.dataset.path, DEFAULT_SHARD_SIZE, MemoryLimit::Auto)?;
                // Freed memory reused while the run is well under its
                // estimate; handed back when the run ends.
                let _keeping = ops::retain::Keeping::begin(fits.estimate.peak_bytes);
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
                if st3.store.run(id).is_ok_and(|r| r.status == crate::model::RunStatus::Running) {
                    let _ = st3.store.fail_run(id, &actor, e.message.en());
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
    let u = Uscc::parse(&uscc).map_err(|e| {
        ApiError::bad_request(e.text().map(|lang, e| match lang {
            crate::i18n::Lang::Zh => format!("“{uscc}”不是有效的统一社会信用代码：{e}"),
            crate::i18n::Lang::En => format!("'{uscc}' is not a valid credit code: {e}"),
        }))
    })?;
    let st2 = st.clone();
    blocking(move || {
        let run = st2.store.run(id)?;
        if run.status != crate::model::RunStatus::Done {
            let status = &run.status;
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                tr!("运行 {id} 的状态为 {status}", "run {id} is {status}"),
            ));
        }
        let found = st2.results(id)?.get(u.as_str()).map_err(ops::OpsError::from)?;
        let found =
            found.ok_or_else(|| ApiError::not_found(tr!("未找到运行 {id} 中的主体 {u}", "entity {u} in run {id}")))?;
        auth.may(Action::ReadEntity, Resource::Place(found.county))?;
        Ok(Json(found))
    })
    .await
}
