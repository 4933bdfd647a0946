//! The web console: server-rendered pages for regulators, auditors,
//! officers and the public, served by `credo serve` beside the API:
//! regulators' dashboard, rules (versions, upload with its tests, impact),
//! plans and entities; auditors' log and verification; officers'
//! assignments; the public's plans.
//!
//! Invariants: pages parse, authorise and format, nothing else: they call
//! `ops` (and the store's plain reads, as the API does), never SQL, and
//! what a page shows is `ops::policy`'s answer for its principal. Every
//! text comes from the `i18n` catalogue (zh-CN first). Sessions are the
//! token in an HttpOnly, SameSite=Strict cookie; every form carries a CSRF
//! token; pages send a strict Content-Security-Policy and run no inline
//! script; assets are embedded in the binary.

mod assets;
mod audit;
mod charts;
mod csrf;
mod dashboard;
mod entity;
mod layout;
mod officer;
mod page;
mod plans;
mod public;
mod rules;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::api::AppState;

/// Where the console lives.
pub const BASE: &str = "/console";

/// The console's policy for the browser: nothing from elsewhere, no
/// inline script or style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       form-action 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The largest bundle the auditor's page takes (a province's frame is
/// larger: `credo draw verify --bundle` reads any size).
pub const BUNDLE_LIMIT: usize = 256 * 1024 * 1024;

/// What console handlers share.
#[derive(Clone)]
pub struct WebState {
    pub app: Arc<AppState>,
}

/// The console's routes, with their own limits and headers (merged into
/// [`crate::api::app`]; not part of the API or its OpenAPI document).
pub fn router(app: Arc<AppState>) -> Router {
    let state = WebState { app };
    Router::new()
        .route("/", get(session::root))
        .route(BASE, get(session::home))
        .route("/console/signin", get(session::signin_page).post(session::signin))
        .route("/console/signout", post(session::signout))
        .route("/console/static/{file}", get(assets::serve))
        .route("/console/dashboard", get(dashboard::page))
        .route("/console/plans", get(plans::list).post(plans::create))
        .route("/console/plans/new", get(plans::wizard).post(plans::preview))
        .route("/console/plans/{id}", get(plans::detail))
        .route("/console/plans/{id}/reveal", post(plans::reveal))
        .route("/console/plans/{id}/publish", post(plans::publish))
        .route("/console/plans/{id}/cancel", post(plans::cancel))
        .route("/console/plans/{id}/verify", post(audit::verify))
        .route("/console/rules", get(rules::page).post(rules::upload))
        .route("/console/rules/{id}/diff", post(rules::diff))
        .route("/console/rules/{id}/activate", post(rules::activate))
        .route("/console/rules/jobs/{id}", get(rules::job))
        .route("/console/entities", get(entity::search))
        .route("/console/entities/{uscc}", get(entity::timeline))
        .route("/console/assignments", get(officer::list))
        .route("/console/assignments/{plan}/{visit}", get(officer::visit).post(officer::submit))
        .route("/console/audit", get(audit::page))
        .route("/console/audit/verify", post(audit::verify_by_number))
        // A bundle holds its whole frame: far larger than any form.
        .route("/console/audit/verify-bundle", post(audit::verify_bundle).layer(DefaultBodyLimit::max(BUNDLE_LIMIT)))
        .route("/console/public", get(public::list))
        .route("/console/public/{id}", get(public::plan))
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(DefaultBodyLimit::max(crate::api::BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            crate::api::REQUEST_TIMEOUT,
        ))
        .with_state(state)
}
