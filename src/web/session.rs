//! Signing in and out. A pasted token becomes the session: it is checked
//! against the store, then kept in an HttpOnly, SameSite=Strict cookie
//! scoped to the console (the token never appears in a URL the server
//! sees: `credo serve` prints a sign-in link whose fragment, read by the
//! page's script, fills the form). Holds no other page.

use axum::Form;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use maud::html;

use super::WebState;
use super::page::{Ctx, SESSION_COOKIE};
use crate::i18n::console::Ui;
use crate::ops::policy::{Action, Resource};

/// `/`: the console.
pub async fn root() -> Redirect {
    Redirect::to(super::BASE)
}

/// The first page the principal's role may see; sign-in when signed out.
pub async fn home(ctx: Ctx) -> Redirect {
    Redirect::to(landing(&ctx))
}

fn landing(ctx: &Ctx) -> &'static str {
    if ctx.who.is_none() {
        "/console/signin"
    } else if ctx.may(Action::ReadRuns, Resource::Store) {
        "/console/dashboard"
    } else if ctx.may(Action::ReadOwnAssignments, Resource::Store) {
        "/console/assignments"
    } else {
        "/console/public"
    }
}

fn form(ctx: &Ctx, error: Option<&str>) -> maud::Markup {
    html! {
        p { (ctx.t(Ui::SignInHelp)) }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form #signin method="post" action="/console/signin" {
            (ctx.csrf_field())
            label for="token" { (ctx.t(Ui::Token)) }
            input #token type="password" name="token" autocomplete="off" required;
            button type="submit" { (ctx.t(Ui::SignIn)) }
        }
    }
}

pub async fn signin_page(ctx: Ctx) -> Response {
    let title = ctx.t(Ui::SignIn);
    ctx.page(title, form(&ctx, None))
}

#[derive(serde::Deserialize)]
pub struct SignIn {
    #[serde(default)]
    authenticity_token: String,
    #[serde(default)]
    token: String,
}

pub async fn signin(
    axum::extract::State(st): axum::extract::State<WebState>,
    ctx: Ctx,
    Form(f): Form<SignIn>,
) -> Response {
    if let Err(r) = ctx.check_csrf(&f.authenticity_token) {
        return r;
    }
    let token = f.token.trim().to_string();
    let principal = if token.is_empty() || token.len() > 128 {
        None
    } else {
        st.app.store.authenticate(&token, &crate::store::now()).ok().flatten()
    };
    let Some(p) = principal else {
        let title = ctx.t(Ui::SignIn);
        return ctx.page_with(StatusCode::UNAUTHORIZED, title, form(&ctx, Some(ctx.t(Ui::BadToken))));
    };
    let cookie =
        Cookie::build((SESSION_COOKIE, token)).path(super::BASE).http_only(true).same_site(SameSite::Strict).build();
    let signed = Ctx { who: Some(p), ..ctx };
    let to = landing(&signed);
    (CookieJar::new().add(cookie), Redirect::to(to)).into_response()
}

#[derive(serde::Deserialize)]
pub struct Csrf {
    #[serde(default)]
    authenticity_token: String,
}

pub async fn signout(ctx: Ctx, Form(f): Form<Csrf>) -> Response {
    if let Err(r) = ctx.check_csrf(&f.authenticity_token) {
        return r;
    }
    let gone = Cookie::build((SESSION_COOKIE, "")).path(super::BASE).build();
    (CookieJar::new().remove(gone), Redirect::to("/console/signin")).into_response()
}
