//! An entity's timeline as of a date.

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
    /// Evaluation date (YYYY-MM-DD); the latest run's date if omitted.
    #[param(value_type = Option<String>, format = Date)]
    pub as_of: Option<Date>,
}

#[utoipa::path(get, path = "/entities/{uscc}", tag = "entities", params(("uscc" = String, Path), AsOf), security(("bearer" = [])),
    responses((status = 200, description = "Tier over time, records, tolerance, exemptions, commitments, approvals revoked by breached commitments, repairs, blacklist and propagation paths"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
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
    let (_, rules) = st.active_rules_compiled().await?;
    let permit = st.reserve_work()?.wait().await;
    let st2 = st.clone();
    let lang = super::lang::current();
    blocking(move || {
        let _permit = permit;
        let as_of = match q.as_of {
            Some(d) => d,
            None => {
                let run = st2.store.latest_run()?.ok_or_else(|| {
                    ApiError::invalid(tr!("没有已完成的运行；请给出 as_of", "no finished run; give as_of"))
                })?;
                crate::data::table::parse_date(&run.as_of).map_err(ApiError::internal)?
            }
        };
        let loaded = st2.load_dataset()?;
        if let Some(e) = loaded.snapshot.entities.find(&u) {
            auth.may(Action::ReadEntity, Resource::Place(loaded.snapshot.entities.region[e as usize]))?;
        }
        let mut t = ops::entity_timeline(&loaded.snapshot, &rules, u, as_of, lang)?;
        ops::add_revocations(&st2.store, &mut t)?;
        Ok(Json(serde_json::to_value(&t).map_err(ApiError::internal)?))
    })
    .await
}
