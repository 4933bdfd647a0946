//! The regulator's dashboard: the latest run's tiers overall and by city,
//! blacklist and key-attention counts, expected visits, and tiers across
//! runs. Reads `ops::console::dashboard` (which asks the policy).

use axum::response::Response;
use maud::html;

use super::charts;
use super::page::{Signed, blocking};
use crate::i18n::console::Ui;
use crate::i18n::tier_name;
use crate::model::region::divisions;

pub async fn page(axum::extract::State(st): axum::extract::State<super::WebState>, Signed(ctx): Signed) -> Response {
    let (store, who) = (st.app.store.clone(), ctx.principal().clone());
    let d = match blocking(move || Ok(crate::ops::console::dashboard(&store, &who)?)).await {
        Ok(d) => d,
        Err(e) => return ctx.fail(e),
    };
    let lang = ctx.lang;
    let title = ctx.t(Ui::Dashboard);
    let Some((run, f)) = &d.latest else {
        return ctx.page(title, html! { p { (ctx.t(Ui::NoRun)) } });
    };
    let tiers: Vec<(String, f64, &'static str)> = (1..=4u8)
        .map(|t| (tier_name(t, lang).to_string(), f.tier(t) as f64, ["t1", "t2", "t3", "t4"][t as usize - 1]))
        .collect();
    let cities: Vec<(String, [usize; 4])> =
        f.tiers_by_city.iter().map(|(c, counts)| (divisions().name(*c).to_string(), *counts)).collect();
    let departments: Vec<(String, f64, &'static str)> =
        f.expected_by_department.iter().map(|(k, v)| (k.clone(), *v, "bar")).collect();
    let xs: Vec<String> = d.trend.iter().map(|(r, _)| format!("#{} {}", r.id, r.as_of)).collect();
    let series: Vec<(&'static str, Vec<usize>)> = (1..=4u8)
        .map(|t| (["t1", "t2", "t3", "t4"][t as usize - 1], d.trend.iter().map(|(_, f)| f.tier(t)).collect()))
        .collect();
    let body = html! {
        p.meta { (ctx.t(Ui::LatestRun)) " #" (run.id) " · " (ctx.t(Ui::AsOf)) " " (run.as_of) " · " (run.rules_label) }
        section.cards {
            div.card { span.k { (ctx.t(Ui::Entities)) } span.v #entities { (f.entities) } }
            @for t in 1..=4u8 {
                div class=(format!("card tier t{t}b")) data-tier=(t) {
                    span.k { (tier_name(t, lang)) } span.v { (f.tier(t)) }
                }
            }
            div.card { span.k { (ctx.t(Ui::Blacklisted)) } span.v #blacklisted { (f.blacklisted) } }
            div.card { span.k { (ctx.t(Ui::KeyAttention)) } span.v #key-attention { (f.key_attention) } }
            div.card { span.k { (ctx.t(Ui::ExpectedVisits)) } span.v { (format!("{:.1}", f.expected_total)) } }
        }
        section {
            h2 { (ctx.t(Ui::TierDistribution)) }
            (charts::bars(ctx.t(Ui::TierDistribution), &tiers))
        }
        section {
            h2 { (ctx.t(Ui::ByCity)) }
            ul.legend { @for t in 1..=4u8 { li class=(format!("t{t}b")) { (tier_name(t, lang)) } } }
            (charts::stacked(ctx.t(Ui::ByCity), &cities))
        }
        section {
            h2 { (ctx.t(Ui::ExpectedVisits)) }
            (charts::bars(ctx.t(Ui::ExpectedVisits), &departments))
        }
        section {
            h2 { (ctx.t(Ui::Trend)) }
            (charts::lines(ctx.t(Ui::Trend), &xs, &series))
        }
    };
    ctx.page(title, body)
}
