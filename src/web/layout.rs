//! The frame around every page: head (stylesheet, deferred script, phone
//! viewport), the navigation the principal's role allows (asked of
//! `ops::policy`), the language switch and sign-out. Renders only.

use maud::{DOCTYPE, Markup, html};

use super::page::Ctx;
use crate::i18n::Lang;
use crate::i18n::console::Ui;
use crate::ops::policy::{Action, Resource};

pub fn layout(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    let other = match ctx.lang {
        Lang::Zh => Lang::En,
        Lang::En => Lang::Zh,
    };
    let switch = format!("{}?lang={}", ctx.uri.path(), other.tag());
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (ctx.t(Ui::Brand)) }
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/console" { (ctx.t(Ui::Brand)) }
                    nav {
                        @if ctx.may(Action::ReadRuns, Resource::Store) {
                            a href="/console/dashboard" { (ctx.t(Ui::Dashboard)) }
                            a href="/console/plans" { (ctx.t(Ui::Plans)) }
                            a href="/console/entities" { (ctx.t(Ui::EntitySearch)) }
                        }
                        @if ctx.may(Action::ReadRules, Resource::Store) {
                            a href="/console/rules" { (ctx.t(Ui::Rules)) }
                        }
                        @if ctx.may(Action::ReadOwnAssignments, Resource::Store) {
                            a href="/console/assignments" { (ctx.t(Ui::Assignments)) }
                        }
                        @if ctx.may(Action::ReadAudit, Resource::Store) {
                            a href="/console/audit" { (ctx.t(Ui::Audit)) }
                        }
                        a href="/console/public" { (ctx.t(Ui::Public)) }
                    }
                    div.tools {
                        a #lang-switch href=(switch) hreflang=(other.tag()) { (ctx.t(Ui::Language)) }
                        @if let Some(p) = &ctx.who {
                            span.who { (p.actor()) }
                            form.inline method="post" action="/console/signout" {
                                (ctx.csrf_field())
                                button #signout type="submit" { (ctx.t(Ui::SignOut)) }
                            }
                        } @else {
                            a href="/console/signin" { (ctx.t(Ui::SignIn)) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}
