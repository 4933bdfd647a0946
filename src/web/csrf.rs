//! CSRF protection of console forms, by the double-submit pattern: a
//! random token in an HttpOnly, SameSite=Strict cookie scoped to the
//! console, the same token in every form, and a POST accepted only when
//! both are present and equal (and, when the browser names an `Origin`,
//! only from this host). Cookies and randomness come from maintained
//! crates (axum-extra, getrandom); a CSRF crate was not taken because the
//! maintained ones (axum_csrf) enable features of hashing crates polars
//! shares, which would recompile polars.

use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use sha2::{Digest, Sha256};

pub const COOKIE: &str = "credo_csrf";

/// This browser's token: the cookie's, or a new one to set.
#[derive(Clone)]
pub struct CsrfToken {
    value: String,
    /// Made for this response (there was no valid cookie): no form could
    /// have carried it yet.
    fresh: bool,
    /// The request named no `Origin`, or this host.
    same_origin: bool,
}

impl CsrfToken {
    pub fn from_headers(headers: &HeaderMap) -> CsrfToken {
        let jar = CookieJar::from_headers(headers);
        // Browsers send `Origin: null` when they withhold it (privacy
        // settings): only a named other origin is refused.
        let same_origin = match (headers.get(ORIGIN), headers.get(HOST)) {
            (None, _) => true,
            (Some(o), _) if o.as_bytes() == b"null" => true,
            (Some(o), Some(h)) => o
                .to_str()
                .ok()
                .and_then(|o| o.split_once("://"))
                .is_some_and(|(_, rest)| h.to_str().is_ok_and(|h| rest == h)),
            (Some(_), None) => false,
        };
        match jar.get(COOKIE).map(|c| c.value()) {
            Some(v) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                CsrfToken { value: v.to_string(), fresh: false, same_origin }
            }
            _ => {
                let mut bytes = [0u8; 32];
                // Without OS randomness no form can be trusted: an empty
                // token never verifies.
                let value = if getrandom::fill(&mut bytes).is_ok() { hex::encode(bytes) } else { String::new() };
                CsrfToken { value, fresh: true, same_origin }
            }
        }
    }

    /// The value of every form's hidden `authenticity_token` field.
    pub fn form_value(&self) -> &str {
        &self.value
    }

    /// Whether a submitted form's token is this browser's cookie token.
    /// Compared as digests, so the time taken says nothing of the token.
    pub fn verify(&self, sent: &str) -> bool {
        !self.fresh
            && self.same_origin
            && !self.value.is_empty()
            && Sha256::digest(sent.as_bytes()) == Sha256::digest(self.value.as_bytes())
    }

    /// The cookie to set when the token is new.
    pub fn cookie(&self) -> Option<Cookie<'static>> {
        (self.fresh && !self.value.is_empty()).then(|| {
            Cookie::build((COOKIE, self.value.clone()))
                .path(super::BASE)
                .http_only(true)
                .same_site(SameSite::Strict)
                .build()
        })
    }
}
