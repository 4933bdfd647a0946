//! The audit log: read and verified (province level only).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::{CanReadAudit, CanVerifyAudit};
use super::error::{ApiError, ApiQuery};
use super::handlers::*;
use crate::ops;
use crate::ops::limits;
use crate::store::{AuditEntry, ChainReport};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this subject (e.g. plan/3) and its parts; taken
    /// literally (`%` and `_` are not wildcards). At most 200 characters.
    #[param(max_length = 200)]
    pub subject: Option<String>,
}

#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery), security(("bearer" = [])), responses((status = 200, body = Vec<AuditEntry>)))]
pub async fn audit_log(
    State(st): S,
    CanReadAudit(auth): CanReadAudit,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    if let Some(s) = &q.subject {
        limits::text("subject", s, limits::SUBJECT)?;
    }
    let store = st.store.clone();
    Ok(Json(
        blocking(move || {
            let entries = store.read_long(|c| crate::store::audit::entries(c, q.subject.as_deref()))?;
            // Secrets of unreleased plans are the creator's alone.
            Ok(ops::access::audit_view(&store, &auth.0, entries, now())?)
        })
        .await?,
    ))
}

#[utoipa::path(get, path = "/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "The chain (intact with its head, or the first altered or missing entry), every difference between the tables and the audit payloads, every altered results file; `intact` when there is none. Reasons and messages in the request's language (Accept-Language, zh-CN by default)")))]
pub async fn audit_verify(State(st): S, _: CanVerifyAudit) -> Result<Json<serde_json::Value>, ApiError> {
    let lang = super::lang::current();
    let store = st.store.clone();
    let r = blocking(move || Ok(ops::verify_store(&store, None)?)).await?;
    let mut v = serde_json::to_value(&r).map_err(ApiError::internal)?;
    // The texts in the request's language; fields and codes as serialised.
    if let ChainReport::Broken { reason, .. } = &r.chain {
        v["chain"]["Broken"]["reason"] = reason.text().get(lang).into();
    }
    if let Some(ChainReport::Broken { reason, .. }) = &r.checkpoint {
        v["checkpoint"]["Broken"]["reason"] = reason.text().get(lang).into();
    }
    for (i, d) in r.differences.iter().enumerate() {
        v["differences"][i]["message"] = d.message.get(lang).into();
    }
    Ok(Json(v))
}
