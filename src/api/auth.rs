//! Bearer tokens: a missing, unknown, revoked or expired token is 401.
//! What the principal may do is `ops::policy`'s decision; the role
//! extractors below only ask it early, so a caller without the role gets
//! 403 whatever the body.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::model::access::Principal;
use crate::ops::policy::{self, Action, Resource};
use crate::tr;

/// The caller, from `Authorization: Bearer <token>`.
pub struct Auth(pub Principal);

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized(tr!("缺少 Authorization: Bearer <令牌>", "missing Authorization: Bearer <token>"))
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .ok_or_else(|| {
                ApiError::unauthorized(tr!(
                    "Authorization 请求头须为“Bearer <令牌>”",
                    "the Authorization header must be 'Bearer <token>'"
                ))
            })?
            .to_string();
        // Every request asks the store (no cache), so a revoked or expired
        // token is refused at once. The lookup is the one piece of SQL on
        // an async worker: a single indexed read of a prepared statement on
        // a pooled read-only connection, which in WAL mode never waits for
        // the writer; a hop to the blocking pool would cost more than it.
        let principal = state.store.authenticate(&token, &crate::store::now())?.ok_or_else(|| {
            ApiError::unauthorized(tr!("令牌未知、已吊销或已过期", "unknown, revoked or expired token"))
        })?;
        Ok(Auth(principal))
    }
}

impl Auth {
    /// Asks the policy; 403 with its reason when it refuses.
    pub fn may(&self, action: Action, resource: Resource<'_>) -> Result<(), ApiError> {
        policy::decide(&self.0, action, resource).map_err(|d| ApiError::forbidden(d.0))
    }

    pub fn actor(&self) -> String {
        self.0.actor()
    }
}

/// Extractors that ask the policy about a store-wide action before
/// anything else of the request is read.
macro_rules! action_extractor {
    ($name:ident, $action:expr) => {
        /// The caller, once the policy allowed the action.
        #[allow(dead_code)]
        pub struct $name(pub Auth);

        impl FromRequestParts<Arc<AppState>> for $name {
            type Rejection = ApiError;
            async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
                let auth = Auth::from_request_parts(parts, state).await?;
                auth.may($action, Resource::Store)?;
                Ok($name(auth))
            }
        }
    };
}

action_extractor!(CanListTokens, Action::ListTokens);
action_extractor!(CanReadRules, Action::ReadRules);
action_extractor!(CanChangeRules, Action::ChangeRules);
action_extractor!(CanStartDiff, Action::StartDiffJob);
action_extractor!(CanReadJobs, Action::ReadJob);
action_extractor!(CanReadRuns, Action::ReadRuns);
action_extractor!(CanStartRun, Action::StartRun);
action_extractor!(CanCreatePlan, Action::CreatePlan);
action_extractor!(CanReadAudit, Action::ReadAudit);
action_extractor!(CanVerifyAudit, Action::VerifyAudit);
action_extractor!(OfficerAuth, Action::ReadOwnAssignments);

/// A regulator or an auditor: the roles that may read plans and entities
/// at all (which plan or entity is decided per resource).
pub struct Reader(pub Auth);

impl FromRequestParts<Arc<AppState>> for Reader {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        if matches!(auth.0.role, crate::model::access::Role::Officer | crate::model::access::Role::Agent) {
            let role = auth.0.role;
            return Err(ApiError::forbidden(tr!(
                "此操作需要 regulator 或 auditor 角色；该令牌是 {role} 令牌",
                "this needs the role regulator or auditor; the token is an {role} token"
            )));
        }
        Ok(Reader(auth))
    }
}

/// A regulator (token creation, plan changes: which ones is decided per
/// resource).
pub struct Regulator(pub Auth);

impl FromRequestParts<Arc<AppState>> for Regulator {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        if auth.0.role != crate::model::access::Role::Regulator {
            let role = auth.0.role;
            return Err(ApiError::forbidden(tr!(
                "此操作需要 regulator 角色；该令牌是 {role} 令牌",
                "this needs the role regulator; the token is a {role} token"
            )));
        }
        Ok(Regulator(auth))
    }
}
