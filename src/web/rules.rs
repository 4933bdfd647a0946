//! Rules for regulators: the active version and its parameters, every
//! stored version, uploading a new one (its files as a multipart form; it
//! is stored only once it compiles and its rule tests pass, each case
//! shown), and its impact against the active version (the API's
//! background diff job: a migration matrix and expected visits by
//! department and city). Every action is `ops`'s or the API's job; the
//! policy decides which forms appear.

use std::collections::BTreeMap;

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::WebState;
use super::charts;
use super::page::{Ctx, Signed, blocking};
use crate::api::ApiError;
use crate::engine::RuleSource;
use crate::i18n::console::Ui;
use crate::i18n::tier_name;
use crate::model::JobStatus;
use crate::model::region::divisions;
use crate::ops::policy::{Action, Resource};
use crate::ops::{self, OpsError};

type St = State<WebState>;

/// `key = value` lines of a TOML table, nested keys joined by dots.
fn flat(table: &toml::Table) -> Vec<(String, String)> {
    let mut out = Vec::new();
    flatten("", table, &mut out);
    out
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, String)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            other => out.push((key, other.to_string())),
        }
    }
}

fn kv_table(id: &str, rows: &[(String, String)], ctx: &Ctx) -> Markup {
    html! {
        div.scroll {
            table id=(id) {
                thead { tr { th { (ctx.t(Ui::Param)) } th { (ctx.t(Ui::Value)) } } }
                tbody { @for (k, v) in rows { tr { td { code { (k) } } td { code { (v) } } } } }
            }
        }
    }
}

pub async fn page(State(st): St, Signed(ctx): Signed) -> Response {
    if !ctx.may(Action::ReadRules, Resource::Store) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let store = st.app.store.clone();
    let (versions, latest) = match blocking(move || Ok((store.rule_versions()?, store.latest_run()?))).await {
        Ok(v) => v,
        Err(e) => return ctx.fail(e),
    };
    let active = match versions.iter().find(|v| v.active) {
        Some(v) => match st.app.rules_compiled(v.id).await {
            Ok(r) => Some((v.clone(), r)),
            Err(e) => return ctx.fail(e),
        },
        None => None,
    };
    let as_of = latest.map(|r| r.as_of).unwrap_or_default();
    let may_change = ctx.may(Action::ChangeRules, Resource::Store);
    let may_diff = ctx.may(Action::StartDiffJob, Resource::Store);
    let body = html! {
        @if let Some((v, rules)) = &active {
            section #active-rules {
                h2 { (ctx.t(Ui::ActiveVersion)) }
                dl {
                    dt { (ctx.t(Ui::Version)) } dd #active-label { "#" (v.id) " " (v.label) }
                    dt { (ctx.t(Ui::Hash)) } dd.hash { (v.hash) }
                    dt { (ctx.t(Ui::Created)) } dd { (v.created_at) " · " (v.created_by) }
                }
                h3 { (ctx.t(Ui::Params)) }
                (kv_table("params", &flat(&rules.manifest.params), &ctx))
                h3 { (ctx.t(Ui::DrawDefaults)) }
                @let draw = match toml::Value::try_from(&rules.manifest.draw) {
                    Ok(toml::Value::Table(t)) => flat(&t),
                    _ => Vec::new(),
                };
                (kv_table("draw-defaults", &draw, &ctx))
            }
        }
        section {
            h2 { (ctx.t(Ui::RuleVersions)) }
            div.scroll {
                table #rule-versions {
                    thead { tr { th { "#" } th { (ctx.t(Ui::Version)) } th { (ctx.t(Ui::Created)) } th { (ctx.t(Ui::Actions)) } } }
                    tbody {
                        @for v in versions.iter().rev() {
                            tr data-version=(v.id) {
                                td { (v.id) }
                                td { (v.label) @if v.active { " " span.status { (ctx.t(Ui::Active)) } } br; small.hash { (v.hash) } }
                                td { (v.created_at) br; small { (v.created_by) } }
                                td {
                                    @if !v.active {
                                        @if may_diff { (diff_form(&ctx, v.id, &as_of)) }
                                        @if may_change { (activate_form(&ctx, v.id)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if may_change {
            section {
                h2 { (ctx.t(Ui::UploadRules)) }
                form.stack #rules-upload method="post" action="/console/rules" enctype="multipart/form-data" {
                    (ctx.csrf_field())
                    label for="rule-files" { (ctx.t(Ui::RuleFiles)) }
                    input #rule-files type="file" name="files" multiple accept=".toml,.rhai" required;
                    label for="rule-test-files" { (ctx.t(Ui::RuleTestFiles)) }
                    input #rule-test-files type="file" name="tests" multiple accept=".toml";
                    button type="submit" { (ctx.t(Ui::UploadAndTest)) }
                }
            }
        }
    };
    let title = ctx.t(Ui::Rules);
    ctx.page(title, body)
}

fn diff_form(ctx: &Ctx, id: i64, as_of: &str) -> Markup {
    html! {
        form.inline-form.diff method="post" action=(format!("/console/rules/{id}/diff")) {
            (ctx.csrf_field())
            label for=(format!("as_of-{id}")) { (ctx.t(Ui::AsOf)) }
            input id=(format!("as_of-{id}")) name="as_of" type="date" value=(as_of) required;
            button type="submit" { (ctx.t(Ui::ComputeImpact)) }
        }
    }
}

fn activate_form(ctx: &Ctx, id: i64) -> Markup {
    html! {
        form.inline.activate method="post" action=(format!("/console/rules/{id}/activate")) {
            (ctx.csrf_field())
            button type="submit" { (ctx.t(Ui::Activate)) }
        }
    }
}

/// What an upload form sent.
struct Upload {
    csrf: String,
    files: BTreeMap<String, String>,
}

/// Reads the multipart form: `files` (rules.toml and scripts, kept by
/// their file name) and `tests` (kept as `tests/<name>`).
async fn read_upload(mut form: Multipart) -> Result<Upload, OpsError> {
    let bad = |m: String| ops::limits::field("files", m);
    let mut up = Upload { csrf: String::new(), files: BTreeMap::new() };
    while let Some(field) = form.next_field().await.map_err(|e| bad(e.body_text()))? {
        let name = field.name().unwrap_or_default().to_string();
        let file = field.file_name().map(str::to_string);
        let bytes = field.bytes().await.map_err(|e| bad(e.body_text()))?;
        match (name.as_str(), file) {
            ("authenticity_token", _) => up.csrf = String::from_utf8_lossy(&bytes).into_owned(),
            // A file input with nothing chosen sends an empty part.
            ("files" | "tests", Some(f)) if f.is_empty() && bytes.is_empty() => {}
            (kind @ ("files" | "tests"), Some(f)) => {
                // Browsers send the base name; take no directory from it.
                let base = f.rsplit(['/', '\\']).next().unwrap_or_default().to_string();
                let path = if kind == "tests" { format!("tests/{base}") } else { base };
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|e| bad(format!("{path} is not UTF-8 text (byte {})", e.utf8_error().valid_up_to())))?;
                if up.files.insert(path.clone(), text).is_some() {
                    return Err(bad(format!("{path} is given twice")));
                }
            }
            _ => {}
        }
    }
    Ok(up)
}

pub async fn upload(State(st): St, Signed(ctx): Signed, form: Multipart) -> Response {
    // An unreadable form changes nothing: refused with its reason.
    let up = match read_upload(form).await {
        Ok(u) => u,
        Err(e) => return ctx.fail(e),
    };
    if let Err(r) = ctx.check_csrf(&up.csrf) {
        return r;
    }
    if !ctx.may(Action::ChangeRules, Resource::Store) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let (store, actor) = (st.app.store.clone(), ctx.principal().actor());
    let stored = blocking(move || {
        ops::rules::check_upload(&up.files)?;
        match ops::rules::add_rules(&store, RuleSource { files: up.files }, &actor) {
            Ok((rules, stored)) => Ok(Ok((rules.label(), rules.hash().to_string(), stored))),
            Err(OpsError::RuleTests { total, failed }) => Ok(Err((total, failed))),
            Err(e) => Err(ApiError::from(e)),
        }
    })
    .await;
    let store = st.app.store.clone();
    let as_of = blocking(move || Ok(store.latest_run()?)).await.ok().flatten().map(|r| r.as_of).unwrap_or_default();
    let body = match stored {
        Err(e) => return ctx.fail(e),
        Ok(Ok((label, hash, stored))) => html! {
            p.notice #rules-stored role="status" data-version=(stored.id) {
                @if stored.created { (ctx.t(Ui::RulesStored)) } @else { (ctx.t(Ui::RulesExisting)) }
            }
            dl {
                dt { (ctx.t(Ui::Version)) } dd { "#" (stored.id) " " (label) }
                dt { (ctx.t(Ui::Hash)) } dd.hash { (hash) }
            }
            div.scroll {
                table #rule-tests {
                    thead { tr { th { (ctx.t(Ui::File)) } th { (ctx.t(Ui::TestCase)) } th { (ctx.t(Ui::Status)) } } }
                    tbody {
                        @for c in &stored.cases {
                            tr.passed { td { (c.file) } td { (c.case) } td { (ctx.t(Ui::Passed)) } }
                        }
                    }
                }
            }
            @if ctx.may(Action::StartDiffJob, Resource::Store) { (diff_form(&ctx, stored.id, &as_of)) }
            p { a href="/console/rules" { (ctx.t(Ui::Back)) } }
        },
        Ok(Err((total, failed))) => html! {
            p.error #rules-failed role="alert" { (ctx.t(Ui::RuleTestsFailed)) " " (failed.len()) " / " (total) }
            div.scroll {
                table #rule-tests {
                    thead { tr { th { (ctx.t(Ui::File)) } th { (ctx.t(Ui::TestCase)) } th { (ctx.t(Ui::Status)) } } }
                    tbody {
                        @for c in &failed {
                            tr.failed {
                                td { (c.file) } td { (c.case) }
                                td { (ctx.t(Ui::Failed)) @for f in &c.failures { pre { (f.get(ctx.lang)) } } }
                            }
                        }
                    }
                }
            }
            p { (ctx.t(Ui::Passed)) ": " (total - failed.len()) }
            p { a href="/console/rules" { (ctx.t(Ui::Back)) } }
        },
    };
    let title = ctx.t(Ui::UploadRules);
    ctx.page(title, body)
}

#[derive(serde::Deserialize)]
pub struct DiffForm {
    #[serde(default)]
    authenticity_token: String,
    #[serde(default)]
    as_of: String,
}

/// Samples per migration cell the console asks for.
const SAMPLES: usize = 2;

pub async fn diff(
    State(st): St,
    Signed(ctx): Signed,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<DiffForm>,
) -> Response {
    if let Err(r) = ctx.check_csrf(&f.authenticity_token) {
        return r;
    }
    if !ctx.may(Action::StartDiffJob, Resource::Store) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let as_of = match crate::data::table::parse_date_text(f.as_of.trim()) {
        Ok(d) => d,
        Err(e) => return ctx.fail(ops::limits::field("as_of", e)),
    };
    match crate::api::start_diff(&st.app, id, as_of, SAMPLES, &ctx.principal().actor()).await {
        Ok(job) => Redirect::to(&format!("/console/rules/jobs/{job}")).into_response(),
        Err(e) => ctx.fail(e),
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    authenticity_token: String,
}

pub async fn activate(
    State(st): St,
    Signed(ctx): Signed,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<CsrfOnly>,
) -> Response {
    if let Err(r) = ctx.check_csrf(&f.authenticity_token) {
        return r;
    }
    if !ctx.may(Action::ChangeRules, Resource::Store) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    // As the API: a version is activated only once it compiles here.
    if let Err(e) = st.app.rules_compiled(id).await {
        return ctx.fail(e);
    }
    let (store, actor) = (st.app.store.clone(), ctx.principal().actor());
    match blocking(move || Ok(store.activate_rules(id, &actor)?)).await {
        Ok(()) => Redirect::to("/console/rules").into_response(),
        Err(e) => ctx.fail(e),
    }
}

/// A diff job: running (the page refreshes itself), failed, or its
/// impact.
pub async fn job(State(st): St, Signed(ctx): Signed, Path(id): Path<i64>) -> Response {
    if !ctx.may(Action::ReadJob, Resource::Store) {
        return ctx.error(StatusCode::FORBIDDEN, ctx.t(Ui::Forbidden));
    }
    let store = st.app.store.clone();
    let job = match blocking(move || Ok(store.job(id)?)).await {
        Ok(j) => j,
        Err(e) => return ctx.fail(e),
    };
    let title = format!("{} · job {id}", ctx.t(Ui::Impact));
    let body = match (job.status, &job.result) {
        (JobStatus::Done, Some(result)) => match serde_json::from_value::<ops::rules::RulesDiff>(result.clone()) {
            Ok(d) => impact(&ctx, &d),
            Err(e) => return ctx.fail(ApiError::internal(format!("job {id}: {e}"))),
        },
        (JobStatus::Failed, _) | (JobStatus::Done, None) => html! {
            p.error #job-failed role="alert" { (ctx.t(Ui::JobFailed)) (job.error.as_deref().unwrap_or("")) }
        },
        (JobStatus::Running, _) => html! {
            p.notice #job-running role="status" data-refresh="2" { (ctx.t(Ui::Computing)) " " (job.progress) }
            p { a href=(format!("/console/rules/jobs/{id}")) { (ctx.t(Ui::Refresh)) } }
        },
    };
    ctx.page(&title, body)
}

/// The impact of a new version: the migration matrix, expected visits by
/// department and by city, and examples.
fn impact(ctx: &Ctx, d: &ops::rules::RulesDiff) -> Markup {
    let lang = ctx.lang;
    let departments: Vec<(String, f64, &'static str)> =
        d.expected_by_department.iter().map(|(k, v)| (k.clone(), v.1, "bar")).collect();
    let change = |before: f64, after: f64| format!("{:+.1}", after - before);
    html! {
        p.meta { (d.from) " → " (d.to) " · " (ctx.t(Ui::AsOf)) " " (d.as_of) }
        section {
            h2 { (ctx.t(Ui::MigrationMatrix)) }
            div.scroll {
                table #migration {
                    thead { tr {
                        th { (ctx.t(Ui::Before)) " \\ " (ctx.t(Ui::After)) }
                        @for to in 1..=4u8 { th class=(format!("t{to}b")) { (tier_name(to, lang)) } }
                    } }
                    tbody {
                        @for from in 1..=4u8 {
                            tr {
                                th class=(format!("t{from}b")) { (tier_name(from, lang)) }
                                @for to in 1..=4u8 {
                                    @let n = d.matrix[from as usize - 1][to as usize - 1];
                                    td.num.same[from == to] data-from=(from) data-to=(to) { (n) }
                                }
                            }
                        }
                    }
                }
            }
            p { (ctx.t(Ui::ProbabilityChanged)) ": " span #probability-changed { (d.probability_changed) } }
        }
        section {
            h2 { (ctx.t(Ui::ExpectedByDepartment)) }
            (charts::bars(ctx.t(Ui::ExpectedByDepartment), &departments))
            div.scroll {
                table #expected-by-department {
                    thead { tr { th { (ctx.t(Ui::Department)) } th { (ctx.t(Ui::Before)) } th { (ctx.t(Ui::After)) } th { (ctx.t(Ui::Change)) } } }
                    tbody {
                        @for (k, (b, a)) in &d.expected_by_department {
                            tr { td { (k) } td.num { (format!("{b:.1}")) } td.num { (format!("{a:.1}")) } td.num { (change(*b, *a)) } }
                        }
                    }
                }
            }
        }
        section {
            h2 { (ctx.t(Ui::ExpectedByCity)) }
            div.scroll {
                table #expected-by-city {
                    thead { tr { th { (ctx.t(Ui::City)) } th { (ctx.t(Ui::Before)) } th { (ctx.t(Ui::After)) } th { (ctx.t(Ui::Change)) } } }
                    tbody {
                        @for (c, (b, a)) in &d.expected_by_city {
                            tr { td { (divisions().name(*c)) } td.num { (format!("{b:.1}")) } td.num { (format!("{a:.1}")) } td.num { (change(*b, *a)) } }
                        }
                    }
                }
            }
        }
        @if !d.samples.is_empty() {
            section {
                h2 { (ctx.t(Ui::Samples)) }
                div.scroll {
                    table #samples {
                        thead { tr { th { (ctx.t(Ui::Entity)) } th { (ctx.t(Ui::Before)) } th { (ctx.t(Ui::After)) } } }
                        tbody {
                            @for s in &d.samples {
                                tr {
                                    td { a href=(format!("/console/entities/{}", s.uscc)) { (s.name) } br; small.hash { (s.uscc) } }
                                    td { (tier_name(s.tier_before, lang)) br; small { (s.before) } }
                                    td { (tier_name(s.tier_after, lang)) br; small { (s.after) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/console/rules" { (ctx.t(Ui::Back)) } }
    }
}
