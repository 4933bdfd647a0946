//! What every page handler starts from: the request's language (`?lang=`,
//! then the `credo_lang` cookie, then `Accept-Language`; zh-CN by
//! default), the signed-in principal (from the session cookie, checked
//! against the store on every request, so a revoked token ends the
//! session at once), the CSRF token, and how a page or an error is
//! answered. Decides nothing about who may see what: that is
//! `ops::policy`.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use maud::Markup;

use super::WebState;
use super::csrf::CsrfToken;
use crate::api::ApiError;
use crate::i18n::Lang;
use crate::i18n::console::Ui;
use crate::model::access::Principal;
use crate::ops::policy::{self, Action, Resource};

pub const SESSION_COOKIE: &str = "credo_session";
pub const LANG_COOKIE: &str = "credo_lang";

/// The request as a page sees it.
pub struct Ctx {
    pub lang: Lang,
    /// Set when `?lang=` chose the language: remembered in a cookie.
    pub(super) lang_chosen: bool,
    pub who: Option<Principal>,
    pub csrf: CsrfToken,
    pub uri: Uri,
}

#[derive(serde::Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

impl FromRequestParts<WebState> for Ctx {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Ctx, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let asked =
            Query::<LangQuery>::try_from_uri(&parts.uri).ok().and_then(|q| q.0.lang).and_then(|l| Lang::parse(&l).ok());
        let lang =
            asked.or_else(|| jar.get(LANG_COOKIE).and_then(|c| Lang::parse(c.value()).ok())).unwrap_or_else(|| {
                Lang::from_accept_language(
                    parts.headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()),
                )
            });
        // The token lookup is a single indexed read on a pooled read-only
        // connection, as in the API's bearer check.
        let who = match jar.get(SESSION_COOKIE).map(|c| c.value().to_string()) {
            Some(t) if !t.is_empty() && t.len() <= 128 => {
                state.app.store.authenticate(&t, &crate::store::now()).ok().flatten()
            }
            _ => None,
        };
        let csrf = CsrfToken::from_headers(&parts.headers);
        Ok(Ctx { lang, lang_chosen: asked.is_some(), who, csrf, uri: parts.uri.clone() })
    }
}

/// A signed-in request; signed-out ones are sent to the sign-in page.
pub struct Signed(pub Ctx);

impl FromRequestParts<WebState> for Signed {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Signed, Response> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        if ctx.who.is_none() {
            return Err(Redirect::to("/console/signin").into_response());
        }
        Ok(Signed(ctx))
    }
}

impl Ctx {
    pub fn t(&self, key: Ui) -> &'static str {
        key.text(self.lang)
    }

    /// The signed-in principal (a [`Signed`] context always has one).
    pub fn principal(&self) -> &Principal {
        self.who.as_ref().expect("a signed-in page")
    }

    /// Whether the policy lets the principal do `action` on `resource`.
    pub fn may(&self, action: Action, resource: Resource<'_>) -> bool {
        self.who.as_ref().is_some_and(|p| policy::decide(p, action, resource).is_ok())
    }

    /// The hidden form field every form carries.
    pub fn csrf_field(&self) -> Markup {
        maud::html! { input type="hidden" name="authenticity_token" value=(self.csrf.form_value()); }
    }

    /// Checks a submitted form's CSRF token: 403 when it is missing or
    /// does not match this browser's cookie.
    pub fn check_csrf(&self, sent: &str) -> Result<(), Response> {
        if !self.csrf.verify(sent) {
            return Err(self.error(StatusCode::FORBIDDEN, self.t(Ui::CsrfRefused)));
        }
        Ok(())
    }

    /// A page in the layout, with the cookies it needs.
    pub fn page(&self, title: &str, body: Markup) -> Response {
        self.page_with(StatusCode::OK, title, body)
    }

    pub fn page_with(&self, status: StatusCode, title: &str, body: Markup) -> Response {
        let html = super::layout::layout(self, title, body);
        let mut jar = CookieJar::new();
        if self.lang_chosen {
            jar = jar.add(
                Cookie::build((LANG_COOKIE, self.lang.tag()))
                    .path("/")
                    .same_site(SameSite::Strict)
                    .http_only(true)
                    .max_age(time::Duration::days(365))
                    .build(),
            );
        }
        if let Some(c) = self.csrf.cookie() {
            jar = jar.add(c);
        }
        (status, jar, Html(html.into_string())).into_response()
    }

    /// An error page with a message.
    pub fn error(&self, status: StatusCode, message: &str) -> Response {
        let title = match status {
            StatusCode::FORBIDDEN => self.t(Ui::Forbidden),
            StatusCode::NOT_FOUND => self.t(Ui::NotFound),
            _ => self.t(Ui::Error),
        };
        self.page_with(status, title, maud::html! { p.error role="alert" { (message) } })
    }

    /// An error from `ops`, the store or the policy, as a page.
    pub fn fail(&self, e: impl Into<ApiError>) -> Response {
        let e = e.into();
        self.error(e.status, e.message.get(self.lang))
    }
}

/// Runs blocking work (SQLite, draws) off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

pub fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Utc::now().fixed_offset()
}
