//! An entity's timeline from the stored runs (`ops::run_timeline`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Reader;
use super::error::{ApiError, ApiPath, ApiQuery, ErrorBody};
use super::handlers::*;
use crate::model::{Date, Uscc};
use crate::ops;
use crate::ops::limits;
use crate::ops::policy::{Action, Resource};
use crate::tr;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// The as-of date of a finished run (YYYY-MM-DD); the latest run if
    /// omitted. A date no run covers is refused (422) naming the dates that
    /// exist: start a run for it first.
    #[param(value_type = Option<String>, format = Date)]
    pub as_of: Option<Date>,
}

#[utoipa::path(get, path = "/entities/{uscc}", tag = "entities", params(("uscc" = String, Path), AsOf), security(("bearer" = [])),
    responses((status = 200, description = "From the stored runs, not the dataset: the as-of run's result (tier, explanation, records with their status, exemptions, blacklist, propagation paths), the tier in every finished run up to that date, objections, and approvals revoked by breached commitments (from the store)"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "The run's results file was altered", body = ErrorBody), (status = 422, description = "No finished run is as of that date (the message names the dates that exist)", body = ErrorBody)))]
pub async fn entity_timeline(
    State(st): S,
    Reader(auth): Reader,
    ApiPath(uscc): ApiPath<String>,
    ApiQuery(q): ApiQuery<AsOf>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let u = Uscc::parse(&uscc).map_err(|e| {
        ApiError::bad_request(tr!(
            "“{uscc}”不是有效的统一社会信用代码：{e}",
            "'{uscc}' is not a valid credit code: {e}"
        ))
    })?;
    if let Some(d) = q.as_of {
        limits::date("as_of", d)?;
    }
    let lang = super::lang::current();
    // Point lookups in the runs' results files: no dataset, no work permit.
    blocking(move || {
        let run = ops::covering_run(&st.store, q.as_of)?;
        let stored = ops::run_result(&*st.results(run.id)?, run.id, &u)?;
        auth.may(Action::ReadEntity, Resource::Place(stored.county))?;
        let t = ops::run_timeline(&st.store, &|id| st.open_results(id), &run, &stored, lang)?;
        Ok(Json(serde_json::to_value(&t).map_err(ApiError::internal)?))
    })
    .await
}
