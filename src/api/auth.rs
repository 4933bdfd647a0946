//! Bearer tokens and roles: a missing or unknown token is 401; a known
//! token without the needed role is 403.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::store::Principal;

/// The caller, from `Authorization: Bearer <token>`.
pub struct Auth(pub Principal);

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be 'Bearer <token>'"))?
            .to_string();
        let store = state.store.clone();
        let principal = tokio::task::spawn_blocking(move || store.principal(&token))
            .await
            .map_err(ApiError::internal)??
            .ok_or_else(|| ApiError::unauthorized("unknown token"))?;
        Ok(Auth(principal))
    }
}

impl Auth {
    /// Fails with 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[&str]) -> Result<&Principal, ApiError> {
        if roles.contains(&self.0.role.as_str()) {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the role {}; the token is a {} token",
                roles.join(" or "),
                self.0.role
            )))
        }
    }

    pub fn actor(&self) -> String {
        self.0.actor()
    }
}

/// Extractors that check the role before anything else of the request is
/// read, so a caller without the role gets 403 whatever the body.
macro_rules! role_extractor {
    ($name:ident, $($role:literal),+) => {
        pub struct $name(pub Auth);

        impl FromRequestParts<Arc<AppState>> for $name {
            type Rejection = ApiError;
            async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
                let auth = Auth::from_request_parts(parts, state).await?;
                auth.require(&[$($role),+])?;
                Ok($name(auth))
            }
        }
    };
}

role_extractor!(Regulator, "regulator");
role_extractor!(Reader, "regulator", "auditor");
role_extractor!(OfficerAuth, "officer");
