//! The language of a response, from `Accept-Language` (zh-CN by default):
//! a middleware puts it in a task-local for the request, so handlers and
//! the error type read it without threading it through every call, and
//! every response says which language it speaks (`Content-Language`).

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::i18n::Lang;

tokio::task_local! {
    static LANG: Lang;
}

/// The language of the request being served (zh-CN outside a request).
/// Read it before moving work to a blocking thread.
pub fn current() -> Lang {
    LANG.try_with(|l| *l).unwrap_or_default()
}

/// Negotiates the language of each request.
pub async fn negotiate(req: Request, next: Next) -> Response {
    let lang = Lang::from_accept_language(req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));
    let mut res = LANG.scope(lang, next.run(req)).await;
    res.headers_mut().insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.tag()));
    res
}
