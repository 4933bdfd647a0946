//! One error shape for every response: `{"code", "message", "details"}`,
//! with extractors that turn malformed requests into that shape too.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::ops::OpsError;
use crate::store::StoreError;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: unauthorized, forbidden, not_found, conflict,
    /// bad_request, invalid, rule_error, beacon_refused, altered, too_large,
    /// timeout, internal.
    pub code: String,
    /// What the code means, in the request's language (Accept-Language;
    /// zh-CN by default).
    pub title: String,
    pub message: String,
    /// Structured details (e.g. file, line and column of a rule error).
    pub details: serde_json::Value,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: serde_json::Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: serde_json::Value::Null }
    }
    pub fn unauthorized(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
    }
    pub fn forbidden(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", m)
    }
    pub fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", m)
    }
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m)
    }
    pub fn invalid(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m)
    }
    pub fn internal(m: impl std::fmt::Display) -> ApiError {
        // Details stay in the server log; the client gets a generic message.
        tracing::error!("internal error: {m}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }
    pub fn with_details(mut self, d: serde_json::Value) -> ApiError {
        self.details = d;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let lang = super::lang::current();
        let title = crate::i18n::api_error_title(self.code, lang).unwrap_or(self.code).to_string();
        let body = ErrorBody { code: self.code.to_string(), title, message: self.message, details: self.details };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(format!("{m} not found")),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Other(m) => ApiError::internal(m),
            StoreError::Sql(e) => ApiError::internal(e),
        }
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> ApiError {
        match e {
            OpsError::Store(s) => s.into(),
            OpsError::Invalid(m) => ApiError::invalid(m),
            OpsError::Internal(m) => ApiError::internal(m),
            OpsError::RuleTestFile { file, message } => {
                ApiError::invalid(format!("{file}: {message}")).with_details(serde_json::json!({ "file": file }))
            }
            OpsError::RuleTests { total, failed } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rule_tests_failed",
                format!("{} of {total} rule tests fail", failed.len()),
            )
            .with_details(serde_json::to_value(failed).unwrap_or_default()),
            OpsError::Rule(r) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "rule_error", r.to_string())
                .with_details(serde_json::to_value(&r).unwrap_or_default()),
            OpsError::Data(d) => ApiError::invalid(d.to_string()),
            OpsError::Draw(d) => ApiError::invalid(d.to_string()),
            OpsError::Results(r @ crate::data::results::ResultsError::Altered { .. }) => {
                // Not an internal fault: stored evidence was changed, and
                // the caller should know which.
                ApiError::new(StatusCode::CONFLICT, "altered", r.to_string())
            }
            OpsError::Results(r) => ApiError::internal(r),
            OpsError::Beacon { plan, message } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "beacon_refused",
                format!("plan {plan}: beacon refused: {message}"),
            ),
            OpsError::Trust(t) => ApiError::invalid(t.to_string()),
            OpsError::Output(o) => ApiError::internal(o),
            OpsError::Field { field, reason } => ApiError::invalid(format!("{field}: {reason}"))
                .with_details(serde_json::json!({ "field": field, "reason": reason })),
            OpsError::Denied(d) => ApiError::forbidden(d.0),
            OpsError::Cancelled(m) => ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", m),
        }
    }
}

/// Integers that also accept JSON numbers with a zero fraction (`2523.0`),
/// as many JSON encoders write them; anything else is refused.
pub mod int {
    use serde::{Deserialize, Deserializer, de::Error};

    fn whole<E: Error>(n: &serde_json::Number) -> Result<i64, E> {
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
            _ => Err(E::custom(format!("{n} is not an integer"))),
        }
    }

    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        whole(&serde_json::Number::deserialize(d)?)
    }

    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?.map(|n| whole(&n)).transpose()
    }

    pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        opt_i64(d)?.map(|i| u32::try_from(i).map_err(|_| D::Error::custom(format!("{i} is out of range")))).transpose()
    }

    pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let i = i64(d)?;
        u64::try_from(i).map_err(|_| D::Error::custom(format!("{i} is negative")))
    }
}

/// JSON body extractor whose rejections use [`ErrorBody`].
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(match r {
                JsonRejection::JsonDataError(e) => ApiError::invalid(e.body_text()),
                JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(e.body_text()),
                JsonRejection::MissingJsonContentType(e) => {
                    ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", e.body_text())
                }
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.body_text())
                }
                other => ApiError::bad_request(other.body_text()),
            }),
        }
    }
}

/// Path extractor whose rejections use [`ErrorBody`].
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|r: PathRejection| ApiError::bad_request(r.body_text()))
    }
}

/// Query extractor whose rejections use [`ErrorBody`].
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|r: QueryRejection| ApiError::bad_request(r.body_text()))
    }
}
