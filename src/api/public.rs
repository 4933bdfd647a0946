//! What anyone may read: the list of plans, each plan's signed
//! disclosure (cached per state), the store's key and latest checkpoint.
//! Never personal data.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiPath, ErrorBody};
use super::handlers::*;
use crate::ops;
use crate::plan::PlanKind;

#[derive(Serialize, ToSchema)]
pub struct PublicPlan {
    pub id: i64,
    /// `{store_id}/{id}`.
    pub plan_id: String,
    pub name: String,
    #[schema(value_type = String)]
    pub kind: PlanKind,
    /// committed, revealed or cancelled: every plan is listed from its
    /// creation, cancelled ones too.
    #[schema(value_type = String)]
    pub status: crate::model::PlanStatus,
    pub created_at: String,
    /// Published before the reveal, these make a re-roll impossible to hide.
    pub commitment: String,
    pub frame_hash: String,
    pub release_at: String,
    pub cancelled_at: Option<String>,
    /// Cancelled plans this plan replaces.
    pub replaces: Vec<String>,
    pub published_at: Option<String>,
}

#[utoipa::path(get, path = "/public/plans", tag = "public", responses((status = 200, body = Vec<PublicPlan>)))]
pub async fn public_plans(State(st): S) -> Result<Json<Vec<PublicPlan>>, ApiError> {
    let store = st.store.clone();
    let plans = blocking(move || Ok(store.plans()?)).await?;
    Ok(Json(
        plans
            .into_iter()
            .map(|p| PublicPlan {
                id: p.id,
                plan_id: ops::global_plan_id(&st.store, p.id),
                name: p.name,
                kind: p.kind,
                status: p.status,
                created_at: p.created_at,
                commitment: p.commitment,
                frame_hash: p.frame_hash,
                release_at: p.release_at,
                cancelled_at: p.cancelled_at,
                replaces: p.replaces,
                published_at: p.published_at,
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/public/plans/{id}", tag = "public", params(("id" = i64, Path)),
    responses((status = 200, description = "The signed disclosure (credo-disclosure-v2): plan, commitment, frame hash, provenance, beacon, cancellation, strata and (after release) results; no personal data"), (status = 404, body = ErrorBody)))]
pub async fn public_plan(State(st): S, ApiPath(id): ApiPath<i64>) -> Result<Response, ApiError> {
    let st2 = st.clone();
    let lang = super::lang::current();
    blocking(move || {
        let p = st2.store.plan(id)?;
        // A later plan may name this one as replaced: the plan count is
        // part of what the cached page depends on.
        let plans = st2.store.plan_count()?;
        let key =
            (format!("{}|{plans}", p.status), p.published_at.clone(), released(&p), st2.store.results_version(id)?);
        let text = st2.disclosure(id, key, lang)?;
        Ok(([(header::CONTENT_TYPE, "application/json")], text.as_ref().clone()).into_response())
    })
    .await
}

#[derive(Serialize, ToSchema)]
pub struct StoreKey {
    pub store_id: String,
    /// Ed25519 public key (hex) that signs bundles, disclosures and checkpoints.
    pub public_key: String,
    pub algorithm: String,
}

#[utoipa::path(get, path = "/public/key", tag = "public", responses((status = 200, body = StoreKey)))]
pub async fn public_key(State(st): S) -> Json<StoreKey> {
    Json(StoreKey {
        store_id: st.store.identity().store_id.clone(),
        public_key: st.store.identity().public_key().to_hex(),
        algorithm: crate::trust::ALGORITHM.into(),
    })
}

#[utoipa::path(get, path = "/public/checkpoint", tag = "public",
    responses((status = 200, description = "The signed head of the audit log (credo-checkpoint-v1): entry number and hash; keep it to detect truncation and rewrites later"), (status = 422, body = ErrorBody, description = "The audit log is broken")))]
pub async fn public_checkpoint(State(st): S) -> Result<Response, ApiError> {
    let store = st.store.clone();
    let text = blocking(move || Ok(ops::checkpoint(&store)?)).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}
