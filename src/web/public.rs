//! The public pages, without sign-in: every plan from its creation
//! (commitment and frame hash first, cancelled ones too) and, once drawn
//! and released, the drawn entities and results. Built from the public
//! disclosure (`ops::disclosure`), which holds no personal data: no
//! officers, no persons.

use axum::extract::{Path, State};
use axum::response::Response;
use maud::html;

use super::WebState;
use super::page::{Ctx, blocking, now};
use crate::i18n::console::{Ui, plan_status_name, result_name};
use crate::ops;

type St = State<WebState>;

pub async fn list(State(st): St, ctx: Ctx) -> Response {
    let store = st.app.store.clone();
    let plans = match blocking(move || Ok(store.plans()?)).await {
        Ok(p) => p,
        Err(e) => return ctx.fail(e),
    };
    let body = html! {
        @if plans.is_empty() { p { (ctx.t(Ui::NoPlans)) } }
        ul.list #public-plans {
            @for p in plans.iter().rev() {
                li {
                    a href=(format!("/console/public/{}", p.id)) { "#" (p.id) " " (p.name) }
                    span.status { (plan_status_name(p.status, ctx.lang)) }
                    @if p.published_at.is_some() { span.status { (ctx.t(Ui::Published)) } }
                    span.meta.hash { (ctx.t(Ui::Commitment)) " " (p.commitment.get(..16).unwrap_or(&p.commitment)) "…" }
                }
            }
        }
    };
    let title = ctx.t(Ui::PublishedPlans);
    ctx.page(title, body)
}

pub async fn plan(State(st): St, ctx: Ctx, Path(id): Path<i64>) -> Response {
    let (store, lang) = (st.app.store.clone(), ctx.lang);
    let d = match blocking(move || Ok(ops::disclosure(&store, id, now(), lang)?)).await {
        Ok(d) => d,
        Err(e) => return ctx.fail(e),
    };
    let body = html! {
        dl {
            dt { "ID" } dd { (d.plan_id) }
            dt { (ctx.t(Ui::Status)) } dd #status { (plan_status_name(d.status, lang)) }
            dt { (ctx.t(Ui::Departments)) } dd { (d.departments.join(", ")) }
            dt { (ctx.t(Ui::AsOf)) } dd { (d.as_of) }
            dt { (ctx.t(Ui::ReleaseAt)) } dd { (d.release_at) }
            dt { (ctx.t(Ui::Commitment)) } dd.hash { (d.commitment) }
            dt { (ctx.t(Ui::FrameHash)) } dd.hash { (d.frame_hash) }
            dt { (ctx.t(Ui::Eligible)) } dd { (d.eligible) }
        }
        h2 { (ctx.t(Ui::Stratum)) }
        div.scroll {
            table #strata {
                thead { tr { th { (ctx.t(Ui::Stratum)) } th { (ctx.t(Ui::Population)) } th { (ctx.t(Ui::Selected)) } } }
                tbody { @for s in &d.strata {
                    tr { td { (s.label) } td.num { (s.population) } td.num { (s.selected.map(|n| n.to_string()).unwrap_or_default()) } }
                } }
            }
        }
        @if let Some(draw) = &d.draw {
            h2 { (ctx.t(Ui::Visits)) }
            ul.cards-list #public-visits {
                @for v in &draw.visits {
                    li.visit-card {
                        strong { (v.name.as_deref().unwrap_or("")) }
                        span.hash { (v.uscc) }
                        span.meta { (v.items.join(", ")) }
                        @if v.unstaffed { span.warn { (ctx.t(Ui::Unstaffed)) } }
                        @for (dep, r) in &v.results { span.status { (dep) " " (result_name(r, lang)) } }
                    }
                }
            }
        } @else {
            p { (ctx.t(Ui::NotReleased)) }
        }
    };
    let title = format!("#{} {}", d.plan, d.name);
    ctx.page(&title, body)
}
