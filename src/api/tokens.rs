//! Tokens: issued for principals (officers on the roster only), listed
//! without secrets, revoked. The rules are `ops::access`'s.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{Auth, CanListTokens, Regulator};
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody, int};
use super::handlers::*;
use crate::model::access::Role;
use crate::ops;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// regulator, auditor, officer or agent.
    #[schema(value_type = String)]
    pub role: Role,
    /// Required for (and only for) officer tokens: an id on the roster.
    #[schema(max_length = 64)]
    pub officer_id: Option<String>,
    /// Regulators and auditors: the province (370000), a city or a county
    /// code; the creator's own if omitted, and never wider than it.
    #[serde(default, deserialize_with = "int::opt_u32")]
    #[schema(value_type = Option<u32>)]
    pub jurisdiction: Option<u32>,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub label: String,
    /// Lifetime in days (1 to 3650; default 90 for officers, 365 otherwise).
    #[serde(default, deserialize_with = "int::opt_u32")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
    /// Required for (and only for) agent tokens: the credit code of the
    /// entity the agent acts for (it files objections to that entity's
    /// records only).
    #[schema(max_length = 64)]
    pub uscc: Option<String>,
    /// Issue another token for this existing principal.
    #[serde(default, deserialize_with = "int::opt_i64")]
    #[schema(value_type = Option<i64>)]
    pub principal: Option<i64>,
}

#[utoipa::path(post, path = "/tokens", tag = "access", request_body = NewToken, security(("bearer" = [])),
    responses((status = 201, body = crate::store::IssuedToken), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(st): S,
    Regulator(auth): Regulator,
    ApiJson(b): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<crate::store::IssuedToken>), ApiError> {
    let st2 = st.clone();
    if let Some(uscc) = b.uscc {
        let req =
            ops::access::AgentTokenRequest { role: b.role, uscc, label: b.label, expires_in_days: b.expires_in_days };
        let issued = blocking(move || Ok(ops::access::create_agent_token(&st2.store, &auth.0, &req)?)).await?;
        return Ok((StatusCode::CREATED, Json(issued)));
    }
    let req = ops::access::TokenRequest {
        role: b.role,
        officer_id: b.officer_id,
        jurisdiction: b.jurisdiction,
        label: b.label,
        expires_in_days: b.expires_in_days,
        principal: b.principal,
    };
    let issued =
        blocking(move || Ok(ops::access::create_token(&st2.store, &st2.dataset.officers, &auth.0, &req)?)).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

#[utoipa::path(get, path = "/tokens", tag = "access", security(("bearer" = [])),
    responses((status = 200, body = Vec<crate::store::TokenInfo>, description = "Tokens of principals in the caller's jurisdiction: ids, principals, expiry, revocation; never a token's text or hash"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(st): S,
    CanListTokens(auth): CanListTokens,
) -> Result<Json<Vec<crate::store::TokenInfo>>, ApiError> {
    let store = st.store.clone();
    Ok(Json(blocking(move || Ok(ops::access::list_tokens(&store, &auth.0)?)).await?))
}

#[utoipa::path(delete, path = "/tokens/{id}", tag = "access", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = crate::store::TokenInfo, description = "Revoked: refused from the next request on"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke_token(
    State(st): S,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<crate::store::TokenInfo>, ApiError> {
    let store = st.store.clone();
    Ok(Json(blocking(move || Ok(ops::access::revoke_token(&store, &auth.0, id)?)).await?))
}
