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

use crate::i18n::Text;
use crate::ops::OpsError;
use crate::store::StoreError;
use crate::tr;

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
    /// What went wrong, in the request's language; names and values (a
    /// field, a plan id, a file) keep their form.
    pub message: String,
    /// Structured details (e.g. file, line and column of a rule error; a
    /// refused field's name and, in the request's language, the reason).
    pub details: serde_json::Value,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    /// Both languages; the response picks the request's.
    pub message: Text,
    pub details: serde_json::Value,
    /// A refused field's reason, put into `details.reason` in the
    /// request's language.
    reason: Option<Text>,
    /// `details` in Chinese, when they hold text (a failed rule test's
    /// failures): answered instead of `details` to a zh-CN request.
    details_zh: Option<serde_json::Value>,
}

impl ApiError {
    /// `message`: a [`Text`] in both languages (`tr!`), or a `String` for
    /// a text from outside credo (a parser's message), shown as it is.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<Text>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: serde_json::Value::Null,
            reason: None,
            details_zh: None,
        }
    }
    pub fn unauthorized(m: impl Into<Text>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
    }
    pub fn forbidden(m: impl Into<Text>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", m)
    }
    pub fn not_found(m: impl Into<Text>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", m)
    }
    pub fn bad_request(m: impl Into<Text>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m)
    }
    pub fn invalid(m: impl Into<Text>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m)
    }
    pub fn internal(m: impl std::fmt::Display) -> ApiError {
        // Details stay in the server log; the client gets a generic message.
        tracing::error!("internal error: {m}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            tr!("内部错误，详见服务器日志", "internal error; see the server log"),
        )
    }
    pub fn with_details(mut self, d: serde_json::Value) -> ApiError {
        self.details = d;
        self
    }
    /// Details that hold text, in each language.
    pub fn with_details_in(mut self, zh: serde_json::Value, en: serde_json::Value) -> ApiError {
        self.details = en;
        self.details_zh = Some(zh);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let lang = super::lang::current();
        let title = crate::i18n::api_error_title(self.code, lang).unwrap_or(self.code).to_string();
        let mut details = match (lang, self.details_zh) {
            (crate::i18n::Lang::Zh, Some(zh)) => zh,
            _ => self.details,
        };
        if let (Some(reason), Some(d)) = (&self.reason, details.as_object_mut()) {
            d.insert("reason".into(), reason.get(lang).into());
        }
        let message = self.message.get(lang).to_string();
        let body = ErrorBody { code: self.code.to_string(), title, message, details };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(_) => ApiError::not_found(e.text()),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Other(m) => ApiError::internal(m),
            StoreError::Sql(e) => ApiError::internal(e),
        }
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> ApiError {
        let text = e.text();
        match e {
            OpsError::Store(s) => s.into(),
            OpsError::Rejected(t) => ApiError::invalid(t),
            OpsError::Unavailable(t) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "insufficient_memory", t),
            OpsError::Internal(m) => ApiError::internal(m),
            OpsError::Fault(t) => ApiError::internal(t),
            OpsError::RuleTestFile { file, .. } => {
                ApiError::invalid(text).with_details(serde_json::json!({ "file": file }))
            }
            OpsError::RuleTests { failed, .. } => {
                let json = |lang| serde_json::Value::Array(failed.iter().map(|f| f.json(lang)).collect());
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "rule_tests_failed", text)
                    .with_details_in(json(crate::i18n::Lang::Zh), json(crate::i18n::Lang::En))
            }
            OpsError::Rule(r) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "rule_error", text)
                .with_details(serde_json::to_value(&r).unwrap_or_default()),
            OpsError::Data(_) => ApiError::invalid(text),
            OpsError::Draw(_) => ApiError::invalid(text),
            OpsError::Results(crate::data::results::ResultsError::Altered { .. }) => {
                // Not an internal fault: stored evidence was changed, and
                // the caller should know which.
                ApiError::new(StatusCode::CONFLICT, "altered", text)
            }
            OpsError::Results(r) => ApiError::internal(r),
            OpsError::Beacon { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "beacon_refused", text),
            OpsError::Trust(_) => ApiError::invalid(text),
            OpsError::Output(o) => ApiError::internal(o),
            OpsError::Field { field, reason } => {
                let mut e =
                    ApiError::invalid(text).with_details(serde_json::json!({ "field": field, "reason": reason.en() }));
                e.reason = Some(reason);
                e
            }
            OpsError::Denied(d) => ApiError::forbidden(d.0),
            OpsError::Cancelled(_) => ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", text),
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

/// A rejection of axum's (English, naming the offending value): in
/// Chinese after a sentence saying what was wrong, in English as it is.
fn framed(zh: &str, axum_text: String) -> Text {
    Text::new(format!("{zh}：{axum_text}"), axum_text)
}

/// JSON body extractor whose rejections use [`ErrorBody`].
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(match r {
                JsonRejection::JsonDataError(e) => ApiError::invalid(framed("请求体的 JSON 不符合要求", e.body_text())),
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::bad_request(framed("请求体不是有效的 JSON", e.body_text()))
                }
                JsonRejection::MissingJsonContentType(e) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    framed("需要 Content-Type: application/json", e.body_text()),
                ),
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", framed("请求体过大", e.body_text()))
                }
                other => ApiError::bad_request(framed("请求无效", other.body_text())),
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
            .map_err(|r: PathRejection| ApiError::bad_request(framed("路径参数无效", r.body_text())))
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
            .map_err(|r: QueryRejection| ApiError::bad_request(framed("查询参数无效", r.body_text())))
    }
}
