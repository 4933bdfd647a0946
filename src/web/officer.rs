//! The officer's pages, made for a phone: released assignments only, a
//! visit with its items, team and place, and the result form with clear
//! errors. What an officer may see and file is `ops::policy`'s answer
//! (through `ops::submit_result` for filing).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::WebState;
use super::page::{Ctx, Signed, blocking, now};
use crate::i18n::console::{Ui, result_name};
use crate::model::Uscc;
use crate::model::region::divisions;
use crate::ops;
use crate::ops::policy::{Action, Resource};
use crate::store::{OfficerVisit, ResultRecord};

type St = State<WebState>;

fn released(v: &OfficerVisit) -> bool {
    chrono::DateTime::parse_from_rfc3339(&v.release_at).map(|t| now() >= t).unwrap_or(false)
}

/// The officer's released visits (unreleased ones are never read out).
async fn my_visits(st: &WebState, ctx: &Ctx) -> Result<Vec<OfficerVisit>, Response> {
    if !ctx.may(Action::ReadOwnAssignments, Resource::Store) {
        return Err(ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden)));
    }
    let Some(officer) = ctx.principal().officer_id.clone() else {
        return Err(ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden)));
    };
    let store = st.app.store.clone();
    let rows = blocking(move || Ok(store.officer_visits(&officer)?)).await.map_err(|e| ctx.fail(e))?;
    Ok(rows.into_iter().filter(released).collect())
}

pub async fn list(State(st): St, Signed(ctx): Signed) -> Response {
    let visits = match my_visits(&st, &ctx).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = html! {
        @if visits.is_empty() { p #no-assignments { (ctx.t(Ui::NoAssignments)) } }
        ul.cards-list #assignments {
            @for v in &visits {
                li.visit-card data-plan=(v.visit.plan_id) {
                    a href=(format!("/console/assignments/{}/{}", v.visit.plan_id, v.visit.seq)) {
                        strong { (v.visit.name) }
                        span.hash { (v.visit.uscc) }
                        span.meta { (v.plan_name) " · #" (v.visit.seq) }
                    }
                }
            }
        }
    };
    let title = ctx.t(Ui::Assignments);
    ctx.page(title, body)
}

fn place(uscc: &str) -> String {
    Uscc::parse(uscc).map(|u| divisions().name(u.division()).to_string()).unwrap_or_default()
}

fn visit_page(ctx: &Ctx, v: &OfficerVisit, results: &[ResultRecord], form: &ResultForm, error: Option<&str>) -> Markup {
    let me = ctx.principal().officer_id.clone().unwrap_or_default();
    let department = ctx.principal().department.clone().unwrap_or_default();
    let lang = ctx.lang;
    html! {
        dl {
            dt { (ctx.t(Ui::Entity)) } dd #entity { (v.visit.name) }
            dt { (ctx.t(Ui::CreditCode)) } dd.hash { (v.visit.uscc) }
            dt { (ctx.t(Ui::Address)) } dd { (place(&v.visit.uscc)) }
            dt { (ctx.t(Ui::Plans)) } dd { (v.plan_name) }
            dt { (ctx.t(Ui::Items)) } dd { ul { @for (d, i) in &v.visit.items { li { (d) " · " (i) } } } }
            dt { (ctx.t(Ui::CoOfficers)) } dd { ul { @for o in &v.visit.officers { li { (o) @if *o == me { " ✓" } } } } }
        }
        @if !results.is_empty() {
            h2 { (ctx.t(Ui::Results)) }
            ul #results { @for r in results { li { (r.department) " · " (result_name(&r.result, lang)) " · " (r.inspected_on) " · " (r.officer_id) } } }
        }
        h2 { (ctx.t(Ui::SubmitResult)) }
        @if let Some(e) = error { p.error #form-error role="alert" { (e) } }
        form.stack #result-form method="post" {
            (ctx.csrf_field())
            input type="hidden" name="department" value=(department);
            label for="result" { (ctx.t(Ui::Result)) }
            select #result name="result" required {
                @for r in crate::model::InspectionResult::ALL {
                    option value=(r.as_str()) selected[form.result == r.as_str()] { (result_name(r.as_str(), lang)) }
                }
            }
            label for="commitment_status" { (ctx.t(Ui::CommitmentStatus)) }
            select #commitment_status name="commitment_status" {
                option value="" { "—" }
                option value="fulfilled" selected[form.commitment_status == "fulfilled"] { "fulfilled" }
                option value="breached" selected[form.commitment_status == "breached"] { "breached" }
            }
            label for="inspected_on" { (ctx.t(Ui::InspectedOn)) }
            input #inspected_on type="date" name="inspected_on" value=(form.inspected_on) required;
            label for="notes" { (ctx.t(Ui::Notes)) }
            textarea #notes name="notes" maxlength="2000" { (form.notes) }
            button #submit-result type="submit" { (ctx.t(Ui::SubmitResult)) }
        }
    }
}

/// One released visit of the officer's, or not found.
async fn find(st: &WebState, ctx: &Ctx, plan: i64, seq: i64) -> Result<(OfficerVisit, Vec<ResultRecord>), Response> {
    let visits = my_visits(st, ctx).await?;
    let Some(v) = visits.into_iter().find(|v| v.visit.plan_id == plan && v.visit.seq == seq) else {
        return Err(ctx.error(StatusCode::NOT_FOUND, ctx.t(Ui::NotFound)));
    };
    let store = st.app.store.clone();
    let results = blocking(move || Ok(store.results_of_plan(plan)?)).await.map_err(|e| ctx.fail(e))?;
    Ok((v, results.into_iter().filter(|r| r.seq == seq).collect()))
}

pub async fn visit(State(st): St, Signed(ctx): Signed, Path((plan, seq)): Path<(i64, i64)>) -> Response {
    let (v, results) = match find(&st, &ctx, plan, seq).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let form = ResultForm { inspected_on: ops::limits::today().to_string(), ..ResultForm::default() };
    let body = visit_page(&ctx, &v, &results, &form, None);
    ctx.page(&v.visit.name, body)
}

#[derive(serde::Deserialize, Default)]
pub struct ResultForm {
    #[serde(default)]
    authenticity_token: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    commitment_status: String,
    #[serde(default)]
    inspected_on: String,
    #[serde(default)]
    notes: String,
}

pub async fn submit(
    State(st): St,
    Signed(ctx): Signed,
    Path((plan, seq)): Path<(i64, i64)>,
    Form(f): Form<ResultForm>,
) -> Response {
    if let Err(r) = ctx.check_csrf(&f.authenticity_token) {
        return r;
    }
    let (v, _) = match find(&st, &ctx, plan, seq).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (store, who, dataset) = (st.app.store.clone(), ctx.principal().clone(), st.app.dataset.path.clone());
    let (department, result, status, notes, date) =
        (f.department.clone(), f.result.clone(), f.commitment_status.clone(), f.notes.clone(), f.inspected_on.clone());
    // A breached commitment check reads the dataset: it waits its turn.
    let permit = if status == "breached" {
        match st.app.reserve_work() {
            Ok(t) => Some(t.wait().await),
            Err(e) => return ctx.fail(e),
        }
    } else {
        None
    };
    let saved = blocking(move || {
        let _permit = permit;
        let inspected_on: crate::model::Date = date.trim().parse().map_err(|e| {
            ops::limits::field(
                "inspected_on",
                crate::tr!("“{date}”不是日期（YYYY-MM-DD）：{e}", "'{date}' is not a date (YYYY-MM-DD): {e}"),
            )
        })?;
        let new = ops::NewResult {
            plan,
            visit: seq,
            department: &department,
            result: &result,
            commitment_status: Some(status.as_str()).filter(|s| !s.is_empty()),
            inspected_on,
            notes: &notes,
        };
        Ok(ops::submit_result(&store, &who, &new, ops::limits::today(), Some(&dataset))?)
    })
    .await;
    let store = st.app.store.clone();
    let results = blocking(move || Ok(store.results_of_plan(plan)?))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.seq == seq)
        .collect::<Vec<_>>();
    match saved {
        Ok(_) => {
            let form = ResultForm { inspected_on: f.inspected_on.clone(), ..ResultForm::default() };
            let body = html! {
                p.notice #saved role="status" { (ctx.t(Ui::ResultSaved)) }
                (visit_page(&ctx, &v, &results, &form, None))
            };
            ctx.page(&v.visit.name, body)
        }
        Err(e) => {
            let body = visit_page(&ctx, &v, &results, &f, Some(e.message.get(ctx.lang)));
            ctx.page_with(e.status, &v.visit.name, body)
        }
    }
}
