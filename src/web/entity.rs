//! An entity for regulators: search by credit code or name in the latest
//! run, then its timeline (tier over time, every record with the status
//! the rules gave it, the tier explanation in the page's language,
//! propagation paths, objections and revoked approvals) from `ops::run_timeline`, as the
//! API's `/entities/{uscc}`: both read the runs' results files, never the
//! dataset. Entities outside the principal's jurisdiction are neither found
//! nor shown (`ops::policy`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::WebState;
use super::page::{Signed, blocking};
use crate::api::ApiError;
use crate::i18n::console::Ui;
use crate::i18n::{record_kind_name, record_status_name, tier_name};
use crate::model::Uscc;
use crate::model::region::divisions;
use crate::ops;
use crate::ops::policy::{Action, Resource};

type St = State<WebState>;

/// Matches shown at most.
const SHOWN: usize = 50;

#[derive(serde::Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub async fn search(State(st): St, Signed(ctx): Signed, Query(q): Query<SearchQuery>) -> Response {
    if !ctx.may(Action::ReadRuns, Resource::Store) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let query = q.q.trim().to_string();
    if let Err(e) = ops::limits::text("q", &query, ops::limits::NAME) {
        return ctx.fail(e);
    }
    // A credit code goes straight to its page (which says if it is unknown).
    if let Ok(u) = Uscc::parse(&query.to_ascii_uppercase()) {
        return Redirect::to(&format!("/console/entities/{u}")).into_response();
    }
    let found = if query.is_empty() {
        None
    } else {
        let (app, who, q2) = (st.app.clone(), ctx.principal().clone(), query.clone());
        match blocking(move || {
            let run = ops::covering_run(&app.store, None)?;
            Ok(ops::search_entities(&*app.results(run.id)?, &who, &q2, SHOWN)?)
        })
        .await
        {
            Ok(f) => Some(f),
            Err(e) => return ctx.fail(e),
        }
    };
    let body = html! {
        form.inline-form #entity-search method="get" action="/console/entities" {
            label for="q" { (ctx.t(Ui::SearchHint)) }
            input #q name="q" value=(query) required maxlength="200" placeholder=(ctx.t(Ui::SearchHint));
            button type="submit" { (ctx.t(Ui::Search)) }
        }
        @if let Some(found) = &found {
            @if found.is_empty() { p #no-match { (ctx.t(Ui::NoMatch)) } }
            ul.list #matches {
                @for e in found {
                    li {
                        a href=(format!("/console/entities/{}", e.uscc)) { (e.name) }
                        span.meta.hash { (e.uscc) }
                        span.meta { (divisions().name(e.region)) }
                    }
                }
            }
        }
    };
    let title = ctx.t(Ui::EntitySearch);
    ctx.page(title, body)
}

#[derive(serde::Deserialize)]
pub struct AsOfQuery {
    as_of: Option<String>,
}

pub async fn timeline(
    State(st): St,
    Signed(ctx): Signed,
    Path(code): Path<String>,
    Query(q): Query<AsOfQuery>,
) -> Response {
    let u = match Uscc::parse(code.trim()) {
        Ok(u) => u,
        Err(e) => {
            return ctx.error(StatusCode::BAD_REQUEST, &format!("'{code}' is not a valid credit code: {e}"));
        }
    };
    let as_of = match q.as_of.as_deref().filter(|d| !d.is_empty()).map(crate::data::table::parse_date_text) {
        None => None,
        Some(Ok(d)) => match ops::limits::date("as_of", d) {
            Ok(()) => Some(d),
            Err(e) => return ctx.fail(e),
        },
        Some(Err(e)) => return ctx.fail(ops::limits::field("as_of", e)),
    };
    let (app, who, lang) = (st.app.clone(), ctx.principal().clone(), ctx.lang);
    let done = blocking(move || {
        let run = ops::covering_run(&app.store, as_of)?;
        let stored = ops::run_result(&*app.results(run.id)?, run.id, &u);
        // Outside the jurisdiction: not found, as a missing entity.
        let stored = match stored {
            Ok(r) if ops::policy::decide(&who, Action::ReadEntity, Resource::Place(r.county)).is_ok() => r,
            Ok(_) => {
                return Err(ApiError::not_found(crate::tr!(
                    "未找到运行 {} 中的主体 {u}",
                    "entity {u} in run {}",
                    run.id
                )));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(ops::run_timeline(&app.store, &|id| app.open_results(id), &run, &stored, lang)?)
    })
    .await;
    let t = match done {
        Ok(v) => v,
        Err(e) => return ctx.fail(e),
    };
    let r = &t.result;
    let yes = |b: bool| if b { ctx.t(Ui::Yes) } else { "—" };
    let body = html! {
        form.inline-form #entity-search method="get" action="/console/entities" {
            label for="q" { (ctx.t(Ui::SearchHint)) }
            input #q name="q" required maxlength="200";
            button type="submit" { (ctx.t(Ui::Search)) }
        }
        dl #entity {
            dt { (ctx.t(Ui::CreditCode)) } dd.hash #uscc { (t.entity.uscc) }
            dt { (ctx.t(Ui::Address)) } dd { (divisions().name(t.entity.region)) }
            dt { (ctx.t(Ui::AsOf)) } dd #as-of { (t.as_of) " · " (ctx.t(Ui::FromRun)) " #" (t.run) }
            dt { (ctx.t(Ui::Tier)) } dd #tier data-tier=(r.tier) { span class=(format!("status t{}b", r.tier)) { (t.tier_name) } }
            dt { (ctx.t(Ui::Risk)) } dd { (t.risk_name) }
            dt { (ctx.t(Ui::Probability)) } dd { (format!("{:.2}%", r.probability() * 100.0)) }
            dt { (ctx.t(Ui::Blacklisted)) } dd { (yes(r.blacklisted)) @if let Some(u) = r.blacklisted_until { " → " (u) } }
            dt { (ctx.t(Ui::KeyAttention)) } dd { (yes(r.key_attention)) }
        }
        section {
            h2 { (ctx.t(Ui::Explanation)) }
            p #explanation { (t.explanation) }
        }
        section {
            h2 { (ctx.t(Ui::TierHistory)) }
            div.scroll {
                table #timeline {
                    thead { tr {
                        th { (ctx.t(Ui::Date)) } th { (ctx.t(Ui::Tier)) } th { (ctx.t(Ui::Risk)) }
                        th { (ctx.t(Ui::Probability)) } th { (ctx.t(Ui::Blacklisted)) } th { (ctx.t(Ui::KeyAttention)) }
                    } }
                    tbody {
                        @for p in &t.points {
                            tr {
                                td { (p.date) } td class=(format!("t{}b", p.tier)) { (tier_name(p.tier, ctx.lang)) }
                                td { (crate::i18n::risk_name(&p.risk, ctx.lang)) }
                                td.num { (format!("{:.2}%", p.probability * 100.0)) }
                                td { (yes(p.blacklisted)) } td { (yes(p.key_attention)) }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { (ctx.t(Ui::Records)) }
            @if r.records.is_empty() { p { (ctx.t(Ui::NoneYet)) } }
            @else {
                div.scroll {
                    table #records {
                        thead { tr { th { (ctx.t(Ui::Date)) } th { (ctx.t(Ui::Kind)) } th { "ID" } th { (ctx.t(Ui::Status)) } } }
                        tbody {
                            @for rec in &r.records {
                                tr { td { (rec.date) } td { (record_kind_name(rec.kind, ctx.lang)) } td.hash { (rec.id) } td { (record_status_name(rec.status_code(), ctx.lang)) } }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { (ctx.t(Ui::Propagation)) }
            @if t.flagged_persons.is_empty() && t.reached_from_here.is_empty() && t.reached_by.is_empty() {
                p #no-propagation { (ctx.t(Ui::NoneYet)) }
            }
            @if !t.flagged_persons.is_empty() {
                h3 { (ctx.t(Ui::FlaggedPersons)) }
                ul.list #flagged-persons {
                    @for p in &t.flagged_persons { li { code { (p.path) } " · " (p.reason) } }
                }
            }
            @if !t.reached_from_here.is_empty() {
                h3 { (ctx.t(Ui::ReachedFromHere)) }
                ul.list #reached-from-here {
                    @for e in &t.reached_from_here {
                        li { a href=(format!("/console/entities/{}", e.uscc)) { (e.uscc) } " · " code { (e.path) } " · " (reached_reason(e, ctx.lang)) }
                    }
                }
            }
            @if !t.reached_by.is_empty() {
                h3 { (ctx.t(Ui::ReachedBy)) }
                ul.list #reached-by {
                    @for e in &t.reached_by {
                        li { a href=(format!("/console/entities/{}", e.source)) { (e.source) } " · " code { (e.path) } " · " (reached_reason(e, ctx.lang)) }
                    }
                }
            }
        }
        section {
            h2 { (ctx.t(Ui::Objections)) }
            @if t.objections.is_empty() { p { (ctx.t(Ui::NoneYet)) } }
            @else {
                div.scroll {
                    table #objections {
                        thead { tr { th { "ID" } th { (ctx.t(Ui::Records)) } th { (ctx.t(Ui::Date)) } th { (ctx.t(Ui::Reason)) } th { (ctx.t(Ui::Status)) } } }
                        tbody {
                            @for o in &t.objections {
                                tr {
                                    td { (o.id) } td.hash { (o.record_id) } td { (o.filed_on) } td { (o.reason) }
                                    td {
                                        (crate::i18n::objection_status_name(o.status, ctx.lang))
                                        @if let Some(d) = o.decided_on { " " (d) }
                                        @if let Some(why) = &o.decision_reason { br; small { (why) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !t.revocations.is_empty() {
            section {
                h2 { (ctx.t(Ui::RevokedApprovals)) }
                ul.list #revocations {
                    @for v in &t.revocations {
                        li {
                            (v.revoked_on) " · " (v.approval_item) " · " (ctx.t(Ui::Department)) " " (v.department)
                            " · " span.hash { (v.commitment_id) } " · " (ctx.t(Ui::RevokedBy)) " " (v.plan_id) "/" (v.seq)
                        }
                    }
                }
            }
        }
        @if !t.detail_stored { p.note #no-detail { (ctx.t(Ui::RunKeepsNoDetail)) } }
        p.note #from-run { (ctx.t(Ui::EntityFromRuns)) }
    };
    let title = t.entity.name.clone();
    ctx.page(&title, body)
}

fn reached_reason(e: &crate::propagate::ReachedEntity, lang: crate::i18n::Lang) -> &str {
    match (lang, &e.reason_zh) {
        (crate::i18n::Lang::Zh, Some(zh)) => zh,
        _ => &e.reason,
    }
}
