//! The auditor's pages: the audit log with a subject filter, plan
//! verification and the verification of an uploaded bundle ("identical"
//! or the first difference), and the current signed checkpoint to
//! download. Reads through `ops`; the policy decides.

use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::WebState;
use super::page::{Signed, blocking, now};
use crate::i18n::console::Ui;
use crate::ops;
use crate::ops::policy::{Action, Resource};

type St = State<WebState>;

/// Entries shown at once (newest first).
const SHOWN: usize = 200;

#[derive(serde::Deserialize)]
pub struct Filter {
    subject: Option<String>,
    actor: Option<String>,
}

pub async fn page(State(st): St, Signed(ctx): Signed, Query(q): Query<Filter>) -> Response {
    if !ctx.may(Action::ReadAudit, Resource::Store) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let subject = q.subject.clone().filter(|s| !s.is_empty());
    let actor = q.actor.clone().unwrap_or_default();
    let (store, who) = (st.app.store.clone(), ctx.principal().clone());
    let entries = blocking(move || {
        if let Some(s) = &subject {
            ops::limits::text("subject", s, ops::limits::SUBJECT)?;
        }
        let entries = store.read_long(|c| crate::store::audit::entries(c, subject.as_deref()))?;
        Ok(ops::access::audit_view(&store, &who, entries, now())?)
    })
    .await;
    let entries = match entries {
        Ok(e) => e,
        Err(e) => return ctx.fail(e),
    };
    let shown: Vec<_> =
        entries.iter().rev().filter(|e| actor.is_empty() || e.actor.contains(&actor)).take(SHOWN).collect();
    let body = html! {
        section {
            h2 { (ctx.t(Ui::Checkpoint)) }
            p { a.button #checkpoint href="/public/checkpoint" download="credo-checkpoint.json" { (ctx.t(Ui::DownloadCheckpoint)) } }
        }
        section {
            h2 { (ctx.t(Ui::VerifyPlan)) }
            form.inline-form #verify-plan method="post" action="/console/audit/verify" {
                (ctx.csrf_field())
                label for="plan" { (ctx.t(Ui::Plans)) " ID" }
                input #plan name="plan" type="number" min="1" required;
                button type="submit" { (ctx.t(Ui::Verify)) }
            }
        }
        section {
            h2 { (ctx.t(Ui::VerifyBundle)) }
            form.inline-form #verify-bundle method="post" action="/console/audit/verify-bundle" enctype="multipart/form-data" {
                (ctx.csrf_field())
                label for="bundle" { (ctx.t(Ui::BundleFile)) }
                input #bundle name="bundle" type="file" required;
                button type="submit" { (ctx.t(Ui::Verify)) }
            }
        }
        section {
            h2 { (ctx.t(Ui::Audit)) }
            form.inline-form #audit-filter method="get" action="/console/audit" {
                label for="subject" { (ctx.t(Ui::Subject)) }
                input #subject name="subject" value=(q.subject.as_deref().unwrap_or("")) placeholder="plan/1";
                label for="actor" { (ctx.t(Ui::Actor)) }
                input #actor name="actor" value=(actor);
                button type="submit" { (ctx.t(Ui::Filter)) }
            }
            div.scroll {
                table #audit {
                    thead { tr { th { "#" } th { (ctx.t(Ui::At)) } th { (ctx.t(Ui::Actor)) } th { (ctx.t(Ui::Action)) } th { (ctx.t(Ui::Subject)) } } }
                    tbody {
                        @for e in &shown {
                            tr { td { (e.seq) } td { (e.at) } td { (e.actor) } td { (e.action) } td { (e.subject) } }
                        }
                    }
                }
            }
        }
    };
    let title = ctx.t(Ui::Audit);
    ctx.page(title, body)
}

#[derive(serde::Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    authenticity_token: String,
    #[serde(default)]
    plan: i64,
}

/// From a plan's page.
pub async fn verify(State(st): St, Signed(ctx): Signed, Path(id): Path<i64>, Form(f): Form<VerifyForm>) -> Response {
    if let Err(r) = ctx.check_csrf(&f.authenticity_token) {
        return r;
    }
    verify_plan(st, ctx, id).await
}

/// From the audit page, by plan number.
pub async fn verify_by_number(State(st): St, Signed(ctx): Signed, Form(f): Form<VerifyForm>) -> Response {
    if let Err(r) = ctx.check_csrf(&f.authenticity_token) {
        return r;
    }
    verify_plan(st, ctx, f.plan).await
}

/// Re-derives a plan's draw from its bundle and says whether it matches.
async fn verify_plan(st: WebState, ctx: super::page::Ctx, id: i64) -> Response {
    let store = st.app.store.clone();
    let plan = match blocking(move || Ok(store.plan(id)?)).await {
        Ok(p) => p,
        Err(e) => return ctx.fail(e),
    };
    let facts = ops::access::plan_facts(&plan, now());
    if !ctx.may(Action::ReadPlan, Resource::Plan(&facts)) {
        return ctx.error(StatusCode::NOT_FOUND, ctx.t(Ui::NotFound));
    }
    if !ctx.may(Action::VerifyPlan, Resource::Plan(&facts)) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let store = st.app.store.clone();
    let report = match blocking(move || Ok(ops::verify_plan(&store, id)?)).await {
        Ok(r) => r,
        Err(e) => return ctx.fail(e),
    };
    let back = format!("/console/plans/{id}");
    let title = format!("{} #{id}", ctx.t(Ui::VerifyPlan));
    verdict_page(&ctx, &title, &report, &back)
}

/// "Identical" or the first difference, with the verifier's report.
fn verdict_page(ctx: &super::page::Ctx, title: &str, report: &crate::draw::Report, back: &str) -> Response {
    let body = html! {
        @if report.is_identical() {
            p.notice #verdict data-identical="true" role="status" { (ctx.t(Ui::Identical)) }
        } @else {
            p.error #verdict data-identical="false" role="alert" { (ctx.t(Ui::FirstDifference)) }
        }
        pre.report { (report.text().get(ctx.lang)) }
        p { a href=(back) { (ctx.t(Ui::Back)) } }
    };
    ctx.page(title, body)
}

/// An uploaded bundle (`credo draw export`), verified as
/// `credo draw verify --bundle` does, against this store's key.
pub async fn verify_bundle(State(st): St, Signed(ctx): Signed, mut form: Multipart) -> Response {
    let (mut csrf, mut bundle) = (String::new(), None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                match field.bytes().await {
                    Ok(b) if name == "authenticity_token" => csrf = String::from_utf8_lossy(&b).into_owned(),
                    Ok(b) if name == "bundle" => bundle = Some(b),
                    Ok(_) => {}
                    Err(e) => return ctx.fail(ops::limits::field("bundle", e.body_text())),
                }
            }
            Ok(None) => break,
            Err(e) => return ctx.fail(ops::limits::field("bundle", e.body_text())),
        }
    }
    if let Err(r) = ctx.check_csrf(&csrf) {
        return r;
    }
    if !ctx.may(Action::ReadAudit, Resource::Store) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let Some(bundle) = bundle.filter(|b| !b.is_empty()) else {
        return ctx.fail(ops::limits::field("bundle", crate::tr!("没有上传文件", "no file was uploaded")));
    };
    let store = st.app.store.clone();
    let report = match blocking(move || Ok(ops::verify_uploaded_bundle(&store, &bundle))).await {
        Ok(r) => r,
        Err(e) => return ctx.fail(e),
    };
    let title = ctx.t(Ui::VerifyBundle);
    verdict_page(&ctx, title, &report, "/console/audit")
}
