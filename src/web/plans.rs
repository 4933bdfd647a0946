//! Plans for regulators (and auditors, read-only): the list, the wizard
//! (preview the frame's staffing, then create and commit), reveal,
//! publish and cancel, and a plan's visits, results progress and
//! unstaffed visits with their reasons. Every action is `ops`'s; which
//! plans and buttons appear is `ops::policy`'s answer.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::WebState;
use super::page::{Ctx, Signed, blocking, now};
use crate::i18n::console::{Ui, plan_status_name, result_name};
use crate::model::{PlanStatus, Uscc};
use crate::ops;
use crate::ops::policy::{Action, Resource};
use crate::plan::PlanKind;
use crate::store::PlanRecord;

type St = State<WebState>;

pub async fn list(State(st): St, Signed(ctx): Signed) -> Response {
    if !ctx.may(Action::ReadRuns, Resource::Store) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let store = st.app.store.clone();
    let plans = match blocking(move || Ok(store.plans()?)).await {
        Ok(p) => p,
        Err(e) => return ctx.fail(e),
    };
    let t = now();
    let visible: Vec<PlanRecord> = plans
        .into_iter()
        .filter(|p| ctx.may(Action::ReadPlan, Resource::Plan(&ops::access::plan_facts(p, t))))
        .rev()
        .collect();
    let body = html! {
        @if ctx.may(Action::CreatePlan, Resource::Store) {
            p { a.button #new-plan href="/console/plans/new" { (ctx.t(Ui::NewPlan)) } }
        }
        @if visible.is_empty() { p { (ctx.t(Ui::NoPlans)) } }
        ul.list #plans {
            @for p in &visible {
                li {
                    a href=(format!("/console/plans/{}", p.id)) { "#" (p.id) " " (p.name) }
                    span.status { (plan_status_name(p.status, ctx.lang)) }
                    @if p.published_at.is_some() { span.status { (ctx.t(Ui::Published)) } }
                    span.meta { (ctx.t(Ui::ReleaseAt)) " " (p.release_at) }
                }
            }
        }
    };
    let title = ctx.t(Ui::Plans);
    ctx.page(title, body)
}

/// The wizard's fields (first and second step).
fn random() -> PlanKind {
    PlanKind::Random
}

impl Default for PlanForm {
    fn default() -> Self {
        PlanForm {
            authenticity_token: String::new(),
            name: String::new(),
            kind: PlanKind::Random,
            departments: String::new(),
            run: Default::default(),
            release_at: String::new(),
        }
    }
}

#[derive(serde::Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    authenticity_token: String,
    #[serde(default)]
    name: String,
    #[serde(default = "random")]
    kind: PlanKind,
    /// Department codes, separated by commas or spaces.
    #[serde(default)]
    departments: String,
    #[serde(default)]
    release_at: String,
    #[serde(default)]
    run: i64,
}

impl PlanForm {
    fn departments(&self) -> Vec<String> {
        self.departments.split([',', ' ', '，']).filter(|d| !d.is_empty()).map(str::to_string).collect()
    }
    fn kind(&self) -> PlanKind {
        self.kind
    }
}

fn plan_fields(ctx: &Ctx, f: &PlanForm) -> Markup {
    html! {
        input type="hidden" name="run" value=(f.run);
        label for="name" { (ctx.t(Ui::PlanName)) }
        input #name name="name" value=(f.name) required maxlength="200";
        label for="kind" { (ctx.t(Ui::Kind)) }
        select #kind name="kind" {
            option value=(PlanKind::Random.as_str()) selected[f.kind == PlanKind::Random] { (ctx.t(Ui::Random)) }
            option value=(PlanKind::CommitmentCheck.as_str()) selected[f.kind == PlanKind::CommitmentCheck] { (ctx.t(Ui::CommitmentCheck)) }
        }
        label for="departments" { (ctx.t(Ui::Departments)) }
        input #departments name="departments" value=(f.departments) required;
        label for="release_at" { (ctx.t(Ui::ReleaseAt)) " (RFC 3339)" }
        input #release_at name="release_at" value=(f.release_at) required;
    }
}

/// Step 1: the plan's fields, defaults from the latest run and roster.
pub async fn wizard(State(st): St, Signed(ctx): Signed) -> Response {
    if !ctx.may(Action::CreatePlan, Resource::Store) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let store = st.app.store.clone();
    let run = match blocking(move || Ok(store.latest_run()?)).await {
        Ok(Some(r)) => r.id,
        Ok(None) => return ctx.error(StatusCode::CONFLICT, ctx.t(Ui::NoRun)),
        Err(e) => return ctx.fail(e),
    };
    let mut departments: Vec<&str> = st.app.dataset.officers.iter().map(|o| o.department.as_str()).collect();
    departments.sort();
    departments.dedup();
    // Now, in UTC: an inspection dated today (UTC) is then never before
    // the release date.
    let release = chrono::Utc::now();
    let f = PlanForm {
        name: String::new(),
        kind: PlanKind::Random,
        departments: departments.join(","),
        release_at: release.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        run,
        ..PlanForm::default()
    };
    let body = html! {
        form.stack #plan-wizard method="post" action="/console/plans/new" {
            (ctx.csrf_field())
            (plan_fields(&ctx, &f))
            button #preview type="submit" { (ctx.t(Ui::Preview)) }
        }
    };
    let title = ctx.t(Ui::NewPlan);
    ctx.page(title, body)
}

/// Step 2: the staffing preview, and the button that creates the plan.
/// The same preview as `credo plan preview` and `POST /plans/preview`:
/// the frame built as creation builds it, expected visits per county ×
/// department against the officers who may make them, each cell that
/// cannot be staffed with its reason. Nothing is stored.
pub async fn preview(State(st): St, Signed(ctx): Signed, Form(f): Form<PlanForm>) -> Response {
    use crate::i18n::capacity::{Cap, shortfall_text};
    if let Err(r) = ctx.check_csrf(&f.authenticity_token) {
        return r;
    }
    if !ctx.may(Action::CreatePlan, Resource::Store) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let request = match ops::PlanRequest::basic(&f.name, f.kind(), f.departments(), f.run, &f.release_at).check() {
        Ok(r) => r,
        Err(e) => return ctx.fail(e),
    };
    let turn = match st.app.reserve_work() {
        Ok(t) => t,
        Err(e) => return ctx.fail(e),
    };
    let permit = turn.wait().await;
    let (app, caller) = (st.app.clone(), ctx.principal().clone());
    let previewed = blocking(move || {
        let _permit = permit;
        let params = request.params(&app.store, |id| app.rules(id))?;
        let loaded = app.load_dataset()?;
        Ok(ops::capacity::preview_plan_from_run(
            &app.store,
            &loaded,
            request.run(),
            &params,
            &caller,
            &ops::Cancel::never(),
        )?)
    })
    .await;
    let p = match previewed {
        Ok(p) => p,
        Err(e) => return ctx.fail(e),
    };
    let lang = ctx.lang;
    let divisions = crate::model::region::divisions();
    let unstaffable = p.unstaffable().count();
    let body = html! {
        h2 { (ctx.t(Ui::StaffingPreview)) }
        dl {
            dt { (Cap::Entities.text(lang)) } dd { (p.stats.entities) }
            dt { (Cap::Eligible.text(lang)) } dd { (p.stats.eligible) }
            dt { (Cap::ExpectedVisits.text(lang)) } dd #expected-visits { (format!("{:.1}", p.expected_visits)) }
        }
        @if unstaffable == 0 {
            p.notice #staffable role="status" { (Cap::AllStaffable.text(lang)) }
        } @else {
            p.warn #unstaffable role="status" { (Cap::Unstaffable.text(lang)) ": " (unstaffable) " " (Cap::Cells.text(lang)) }
        }
        div.scroll {
            table #staffing {
                thead { tr {
                    th { (Cap::County.text(lang)) }
                    th { (Cap::Department.text(lang)) }
                    th { (Cap::ExpectedVisits.text(lang)) }
                    th { (Cap::Officers.text(lang)) }
                    th { (Cap::Qualified.text(lang)) }
                    th { (Cap::OfficerVisits.text(lang)) }
                    th { (Cap::Capacity.text(lang)) }
                    th { (Cap::WithoutTeam.text(lang)) }
                    th { (Cap::Status.text(lang)) }
                } }
                tbody {
                    @for c in &p.cells {
                        tr.short[c.shortfall.is_some()] {
                            td { (divisions.name(c.county)) " " span.code { (c.county) } }
                            td { (c.department) }
                            td.num { (format!("{:.1}", c.expected_visits)) }
                            td.num { (c.officers) }
                            td.num { (c.qualified) }
                            td.num { (format!("{:.1}", c.area_officer_visits)) }
                            td.num { (c.area_capacity) }
                            td.num { (format!("{:.1}", c.visits_without_team)) }
                            td { @match c.shortfall {
                                Some(s) => { (shortfall_text(s, lang)) }
                                None => { (Cap::Staffable.text(lang)) }
                            } }
                        }
                    }
                }
            }
        }
        form.stack #plan-create method="post" action="/console/plans" {
            (ctx.csrf_field())
            (plan_fields(&ctx, &f))
            button #create type="submit" { (ctx.t(Ui::CreateAndCommit)) }
        }
    };
    let title = ctx.t(Ui::NewPlan);
    ctx.page(title, body)
}

/// Creates and commits the plan; shows the secret once, with the reveal
/// form filled in.
pub async fn create(State(st): St, Signed(ctx): Signed, Form(f): Form<PlanForm>) -> Response {
    if let Err(r) = ctx.check_csrf(&f.authenticity_token) {
        return r;
    }
    if !ctx.may(Action::CreatePlan, Resource::Store) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let request = match ops::PlanRequest::basic(&f.name, f.kind(), f.departments(), f.run, &f.release_at).check() {
        Ok(r) => r,
        Err(e) => return ctx.fail(e),
    };
    let turn = match st.app.reserve_work() {
        Ok(t) => t,
        Err(e) => return ctx.fail(e),
    };
    let permit = turn.wait().await;
    let guard = st.app.plan_turn().await;
    let (app, creator) = (st.app.clone(), ctx.principal().clone());
    let created = blocking(move || {
        let (_permit, _guard) = (permit, guard);
        // The same assembly as the API's: the draw defaults of the run's
        // stored rule version, then the wizard's fields.
        let params = request.params(&app.store, |id| app.rules(id))?;
        let loaded = app.load_dataset()?;
        Ok(ops::create_plan_from_run(
            &app.store,
            &loaded,
            request.run(),
            &params,
            None,
            &creator,
            &ops::Cancel::never(),
        )?)
    })
    .await;
    let c = match created {
        Ok(c) => c,
        Err(e) => return ctx.fail(e),
    };
    let body = html! {
        p.notice role="status" { (ctx.t(Ui::PlanCreated)) }
        dl {
            dt { "ID" } dd #plan-id { (c.plan_id) }
            dt { (ctx.t(Ui::Commitment)) } dd.hash { (c.commitment) }
            dt { (ctx.t(Ui::FrameHash)) } dd.hash { (c.frame_hash) }
            dt { (ctx.t(Ui::Eligible)) } dd { (c.stats.eligible) " / " (c.stats.entities) }
        }
        @if let Some(secret) = &c.secret {
            p.warn { (ctx.t(Ui::KeepSecret)) }
            (reveal_form(&ctx, c.id, secret))
        }
        p { a href=(format!("/console/plans/{}", c.id)) { (ctx.t(Ui::Open)) " #" (c.id) } }
    };
    let title = ctx.t(Ui::PlanCreated);
    ctx.page_with(StatusCode::CREATED, title, body)
}

fn reveal_form(ctx: &Ctx, id: i64, secret: &str) -> Markup {
    html! {
        form.stack #reveal method="post" action=(format!("/console/plans/{id}/reveal")) {
            (ctx.csrf_field())
            label for="secret" { (ctx.t(Ui::Secret)) }
            input #secret name="secret" value=(secret) required autocomplete="off" spellcheck="false";
            label for="beacon" { (ctx.t(Ui::Beacon)) }
            input #beacon name="beacon";
            button type="submit" { (ctx.t(Ui::Reveal)) }
        }
    }
}

/// A plan the principal may read (not found otherwise, as in the API).
async fn readable(st: &WebState, ctx: &Ctx, id: i64) -> Result<PlanRecord, Response> {
    let store = st.app.store.clone();
    let plan = blocking(move || Ok(store.plan(id)?)).await.map_err(|e| ctx.fail(e))?;
    if !ctx.may(Action::ReadPlan, Resource::Plan(&ops::access::plan_facts(&plan, now()))) {
        return Err(ctx.error(StatusCode::NOT_FOUND, ctx.t(Ui::NotFound)));
    }
    Ok(plan)
}

pub async fn detail(State(st): St, Signed(ctx): Signed, Path(id): Path<i64>) -> Response {
    let plan = match readable(&st, &ctx, id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let facts = ops::access::plan_facts(&plan, now());
    let see_visits = ctx.may(Action::ReadVisits, Resource::Plan(&facts));
    let store = st.app.store.clone();
    let (visits, results) = if see_visits {
        match blocking(move || Ok((store.visits(id)?, store.results_of_plan(id)?))).await {
            Ok(v) => v,
            Err(e) => return ctx.fail(e),
        }
    } else {
        (Vec::new(), Vec::new())
    };
    let staffed = visits.iter().filter(|v| v.unstaffed.is_none()).count();
    let mut done: Vec<i64> = results.iter().map(|r| r.seq).collect();
    done.sort();
    done.dedup();
    let lang = ctx.lang;
    let body = html! {
        dl {
            dt { (ctx.t(Ui::Status)) } dd #status { (plan_status_name(plan.status, lang)) }
            dt { (ctx.t(Ui::Created)) } dd { (plan.created_at) " · " (plan.created_by) }
            dt { (ctx.t(Ui::ReleaseAt)) } dd { (plan.release_at) @if !facts.released { " · " (ctx.t(Ui::NotReleased)) } }
            dt { (ctx.t(Ui::Published)) } dd #published { (plan.published_at.as_deref().unwrap_or(ctx.t(Ui::NotPublished))) }
            dt { (ctx.t(Ui::Commitment)) } dd.hash { (plan.commitment) }
            dt { (ctx.t(Ui::FrameHash)) } dd.hash { (plan.frame_hash) }
        }
        div.actions {
            @if plan.status == PlanStatus::Committed && ctx.may(Action::RevealPlan, Resource::Plan(&facts)) {
                (reveal_form(&ctx, id, ""))
            }
            @if plan.status == PlanStatus::Revealed && plan.published_at.is_none() && ctx.may(Action::PublishPlan, Resource::Plan(&facts)) {
                form #publish method="post" action=(format!("/console/plans/{id}/publish")) {
                    (ctx.csrf_field())
                    button type="submit" { (ctx.t(Ui::Publish)) }
                }
            }
            @if plan.status == PlanStatus::Revealed && ctx.may(Action::VerifyPlan, Resource::Plan(&facts)) {
                form #verify method="post" action=(format!("/console/plans/{id}/verify")) {
                    (ctx.csrf_field())
                    button type="submit" { (ctx.t(Ui::Verify)) }
                }
            }
            @if plan.status == PlanStatus::Committed && ctx.may(Action::CancelPlan, Resource::Plan(&facts)) {
                form.stack #cancel method="post" action=(format!("/console/plans/{id}/cancel")) {
                    (ctx.csrf_field())
                    label for="reason" { (ctx.t(Ui::CancelReason)) }
                    input #reason name="reason" required maxlength="500";
                    button.danger type="submit" { (ctx.t(Ui::Cancel)) }
                }
            }
        }
        @if see_visits && !visits.is_empty() {
            h2 { (ctx.t(Ui::Visits)) }
            p #progress {
                (ctx.t(Ui::Visits)) " " (visits.len()) " · " (ctx.t(Ui::Staffed)) " " (staffed)
                " · " (ctx.t(Ui::Unstaffed)) " " (visits.len() - staffed)
                " · " (ctx.t(Ui::Progress)) " " (done.len()) "/" (staffed)
            }
            progress max=(staffed.max(1)) value=(done.len()) {}
            div.scroll {
                table #visits {
                    thead { tr {
                        th { "#" } th { (ctx.t(Ui::Entity)) } th { (ctx.t(Ui::Items)) }
                        th { (ctx.t(Ui::Officers)) } th { (ctx.t(Ui::Results)) }
                    } }
                    tbody {
                        @for v in &visits {
                            tr class=[v.unstaffed.as_ref().map(|_| "unstaffed")] {
                                td { (v.seq) }
                                td { (v.name) br; small.hash { (v.uscc) } }
                                td { @for (d, i) in &v.items { (d) ":" (i) " " } }
                                td {
                                    @if let Some(why) = &v.unstaffed { span.warn title=(ctx.t(Ui::UnstaffedReason)) { (crate::i18n::unstaffed_reason(why, ctx.lang)) } }
                                    @else { (v.officers.join(", ")) }
                                }
                                td { @for r in results.iter().filter(|r| r.seq == v.seq) { (r.department) " " (result_name(&r.result, lang)) " " } }
                            }
                        }
                    }
                }
            }
        }
    };
    let title = format!("#{} {}", plan.id, plan.name);
    ctx.page(&title, body)
}

#[derive(serde::Deserialize)]
pub struct RevealForm {
    #[serde(default)]
    authenticity_token: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    beacon: String,
}

pub async fn reveal(State(st): St, Signed(ctx): Signed, Path(id): Path<i64>, Form(f): Form<RevealForm>) -> Response {
    if let Err(r) = ctx.check_csrf(&f.authenticity_token) {
        return r;
    }
    let plan = match readable(&st, &ctx, id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !ctx.may(Action::RevealPlan, Resource::Plan(&ops::access::plan_facts(&plan, now()))) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let (app, actor) = (st.app.clone(), ctx.principal().actor());
    let done = blocking(move || {
        ops::limits::text("secret", &f.secret, ops::limits::HEX32)?;
        ops::limits::text("beacon", &f.beacon, ops::limits::BEACON_VALUE)?;
        let secret = ops::parse_hex("secret", &f.secret)?;
        let results = app.results(plan.run_id)?;
        let names = |u: &Uscc| results.get(u.as_str()).ok().flatten().map(|r| r.name).unwrap_or_default();
        Ok(ops::reveal_plan(&app.store, &names, id, &secret, f.beacon.trim(), &actor)?)
    })
    .await;
    match done {
        Ok(_) => Redirect::to(&format!("/console/plans/{id}")).into_response(),
        Err(e) => ctx.fail(e),
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    authenticity_token: String,
}

pub async fn publish(State(st): St, Signed(ctx): Signed, Path(id): Path<i64>, Form(f): Form<CsrfOnly>) -> Response {
    if let Err(r) = ctx.check_csrf(&f.authenticity_token) {
        return r;
    }
    let plan = match readable(&st, &ctx, id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !ctx.may(Action::PublishPlan, Resource::Plan(&ops::access::plan_facts(&plan, now()))) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let (store, actor, lang) = (st.app.store.clone(), ctx.principal().actor(), ctx.lang);
    let done = blocking(move || {
        // The one publication path: the same recorded digest as the API's and the CLI's.
        ops::publish(&store, id, now(), lang, ops::Layout::Compact, &actor)?;
        Ok(())
    })
    .await;
    match done {
        Ok(()) => Redirect::to(&format!("/console/plans/{id}")).into_response(),
        Err(e) => ctx.fail(e),
    }
}

#[derive(serde::Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    authenticity_token: String,
    #[serde(default)]
    reason: String,
}

pub async fn cancel(State(st): St, Signed(ctx): Signed, Path(id): Path<i64>, Form(f): Form<CancelForm>) -> Response {
    if let Err(r) = ctx.check_csrf(&f.authenticity_token) {
        return r;
    }
    let plan = match readable(&st, &ctx, id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !ctx.may(Action::CancelPlan, Resource::Plan(&ops::access::plan_facts(&plan, now()))) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let (store, actor) = (st.app.store.clone(), ctx.principal().actor());
    let done = blocking(move || {
        ops::limits::required_text("reason", &f.reason, ops::limits::REASON)?;
        Ok(store.cancel_plan(id, &actor, &f.reason)?)
    })
    .await;
    match done {
        Ok(()) => Redirect::to(&format!("/console/plans/{id}")).into_response(),
        Err(e) => ctx.fail(e),
    }
}
