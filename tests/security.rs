//! Issue #11: least privilege decided by one policy (a table over every
//! route), principals with jurisdictions, revocable expiring tokens,
//! secrets withheld until release, bounded input, cancelled work. Each
//! finding of the issue has a test named after it, which failed before.

use axum::http::{Method, StatusCode};
use credo::model::access::{Jurisdiction, Principal, Role};
use credo::ops::policy::{Action, PlanFacts, Resource, decide};
use serde_json::{Value, json};

use crate::api::{assert_error, setup};
use crate::common::*;

// ------------------------------------------------------------ the table

const CITY: u32 = 370100; // Jinan
const OWN: u32 = 370102; // a county of Jinan
const OTHER: u32 = 370202; // a county of Qingdao
/// The entity an agent principal acts for, and another one.
const AGENT_OF: &str = "92370832MA99C1K82N";
const OTHER_ENTITY: &str = "91370102MA3C0X0X0X";

fn principal(role: Role, jurisdiction: u32) -> Principal {
    Principal {
        id: 7,
        role,
        officer_id: (role == Role::Officer).then(|| "MR-370100-0001".to_string()),
        department: (role == Role::Officer).then(|| "MR".to_string()),
        jurisdiction: Jurisdiction::new(jurisdiction).unwrap(),
        label: "p".into(),
        entity: (role == Role::Agent).then(|| AGENT_OF.to_string()),
    }
}

/// What the policy must answer, written out independently of it: for a
/// city-level principal of each role, a resource in its own or another
/// jurisdiction, of its own or another department, before or after the
/// release, created by itself or by someone else. For an agent, "own
/// department" stands for its own entity.
fn expected(a: Action, role: Role, own_dept: bool, own_place: bool, released: bool, creator: bool) -> bool {
    use Action::*;
    let (reg, aud, off) = (role == Role::Regulator, role == Role::Auditor, role == Role::Officer);
    let agent = role == Role::Agent;
    match a {
        ReadPublic => true,
        CreateToken | RevokeToken => reg && own_place,
        ListTokens | StartDiffJob | CreatePlan => reg,
        ReadRules | ReadRuns | ReadJob => reg || aud,
        // Province-wide: a city principal never.
        ChangeRules | StartRun | ReadAudit | VerifyAudit => false,
        ReadEntity | ReadPlan => (reg || aud) && own_place,
        ReadPlanSecret | ReadBundle => (reg || aud) && own_place && (released || creator),
        // A city regulator is a superior of a plan made in its county.
        ReadVisits | VerifyPlan => (reg || aud) && own_place && (released || creator || reg),
        RevealPlan | CancelPlan | PublishPlan => reg && own_place,
        ReadOwnAssignments => off,
        SubmitResult => off && own_dept && released,
        FileObjection => (reg && own_place) || (agent && own_dept),
        DecideObjection => reg && own_place,
        ReadObjections => (reg || aud) && own_place,
    }
}

#[test]
fn policy_table_covers_every_route() {
    let mut checked = 0;
    for r in credo::api::ROUTES {
        let (method, path, action) = (r.method, r.path, r.action);
        for role in Role::ALL {
            let p = principal(role, CITY);
            for own_dept in [true, false] {
                for own_place in [true, false] {
                    for released in [false, true] {
                        for creator in [true, false] {
                            let place = if own_place { OWN } else { OTHER };
                            let dept = if own_dept { "MR" } else { "MPA" };
                            let plan = PlanFacts {
                                creator: Some(if creator { p.id } else { 99 }),
                                jurisdiction: Jurisdiction::new(place).unwrap(),
                                released,
                            };
                            let team = vec!["MR-370100-0001".to_string(), "MPA-370100-0002".to_string()];
                            let items = vec![(dept.to_string(), format!("{dept}-01"))];
                            let resource = match action {
                                Action::CreateToken | Action::RevokeToken => {
                                    Resource::Principal { id: 99, jurisdiction: plan.jurisdiction }
                                }
                                Action::ReadEntity | Action::DecideObjection | Action::ReadObjections => {
                                    Resource::Place(place)
                                }
                                Action::FileObjection => {
                                    Resource::Entity { uscc: if own_dept { AGENT_OF } else { OTHER_ENTITY }, place }
                                }
                                Action::ReadPlan
                                | Action::ReadPlanSecret
                                | Action::ReadBundle
                                | Action::ReadVisits
                                | Action::VerifyPlan
                                | Action::RevealPlan
                                | Action::CancelPlan
                                | Action::PublishPlan => Resource::Plan(&plan),
                                Action::SubmitResult => {
                                    Resource::Visit { plan: &plan, team: &team, items: &items, department: dept }
                                }
                                _ => Resource::Store,
                            };
                            let got = decide(&p, action, resource);
                            let want = expected(action, role, own_dept, own_place, released, creator);
                            assert_eq!(
                                got.is_ok(),
                                want,
                                "{method} {path} ({action:?}) for a {role} of {CITY}: own department {own_dept}, \
                                 own jurisdiction {own_place}, released {released}, creator {creator}: {got:?}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, credo::api::ROUTES.len() * Role::ALL.len() * 16);
}

#[test]
fn policy_edges_province_county_and_peers() {
    let province = principal(Role::Regulator, 370000);
    let county = principal(Role::Regulator, OWN);
    for a in [Action::ChangeRules, Action::StartRun, Action::ReadAudit, Action::VerifyAudit] {
        assert!(decide(&province, a, Resource::Store).is_ok(), "{a:?}");
        assert!(decide(&county, a, Resource::Store).is_err(), "{a:?}");
    }
    // A county regulator does not see the city's plans; a peer of the
    // creator (same jurisdiction, not the creator) sees nothing early.
    let city_plan = PlanFacts { creator: Some(99), jurisdiction: Jurisdiction::new(CITY).unwrap(), released: true };
    assert!(decide(&county, Action::ReadPlan, Resource::Plan(&city_plan)).is_err());
    let early = PlanFacts { creator: Some(99), jurisdiction: Jurisdiction::new(OWN).unwrap(), released: false };
    assert!(decide(&county, Action::ReadVisits, Resource::Plan(&early)).is_err());
    assert!(decide(&county, Action::ReadPlanSecret, Resource::Plan(&early)).is_err());
    // Everyone may give up their own tokens.
    let officer = principal(Role::Officer, CITY);
    let own = Resource::Principal { id: officer.id, jurisdiction: officer.jurisdiction };
    assert!(decide(&officer, Action::RevokeToken, own).is_ok());
    // Not on the team: refused whatever the department.
    let plan = PlanFacts { creator: None, jurisdiction: Jurisdiction::PROVINCE, released: true };
    let team = vec!["MR-370100-0002".to_string()];
    let items = vec![("MR".to_string(), "MR-01".to_string())];
    let visit = Resource::Visit { plan: &plan, team: &team, items: &items, department: "MR" };
    assert!(decide(&officer, Action::SubmitResult, visit).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_table_matches_the_openapi_document() {
    let api = setup();
    let (_, doc) = api.call(Method::GET, "/openapi.json", None, None).await;
    let mut documented = std::collections::BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for m in ops.as_object().unwrap().keys() {
            documented.insert((m.to_uppercase(), path.clone()));
        }
    }
    let table: std::collections::BTreeSet<_> =
        credo::api::ROUTES.iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
    assert_eq!(documented, table, "every route has a policy action and an OpenAPI entry");
}

// ---------------------------------------------------------- the findings

/// A released joint MR+MPA plan and one of its visits with both
/// departments' items and officers of both.
async fn joint_visit(api: &crate::api::Api) -> (i64, Value) {
    let (id, secret) = api.plan("2026-07-01T09:00:00+08:00").await;
    let reg = Some(api.regulator.as_str());
    let (s, b) = api.call(Method::POST, &format!("/plans/{id}/reveal"), reg, Some(json!({ "secret": secret }))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, visits) = api.call(Method::GET, &format!("/plans/{id}/visits"), reg, None).await;
    let visit = visits
        .as_array()
        .unwrap()
        .iter()
        .find(|v| {
            let items = v["items"].to_string();
            let officers = v["officers"].to_string();
            v["unstaffed"].is_null()
                && items.contains("\"MR\"")
                && items.contains("\"MPA\"")
                && officers.contains("\"MR-")
                && officers.contains("\"MPA-")
        })
        .expect("a joint visit with officers of both departments")
        .clone();
    (id, visit)
}

/// Where an officer of a visit posts their result.
fn result_path(plan: i64, visit: &Value) -> String {
    format!("/officers/me/assignments/{plan}/{}/result", visit["seq"])
}

/// A result for `department`, inspected on `on`, with `extra` fields.
fn result_body(department: &str, on: &str, extra: Value) -> Value {
    let mut body = json!({ "department": department, "result": "compliant", "inspected_on": on });
    if let (Some(b), Some(x)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(x.clone());
    }
    body
}

/// The first officer of a joint visit posts a result for their own
/// department (inspected on `on`, with `extra` fields).
async fn first_officer_submits(api: &crate::api::Api, on: &str, extra: Value) -> (StatusCode, Value) {
    let (id, visit) = joint_visit(api).await;
    let officer = visit["officers"][0].as_str().unwrap();
    let dept = officer.split('-').next().unwrap();
    let tok = api.token("officer", Some(officer)).await;
    api.call(Method::POST, &result_path(id, &visit), Some(&tok), Some(result_body(dept, on, extra))).await
}

/// H1: an MPA officer on a joint visit filed MR's result (201), and the MR
/// officer then got 409.
#[tokio::test(flavor = "multi_thread")]
async fn h1_officers_file_only_their_own_departments_results() {
    let api = setup();
    let (id, visit) = joint_visit(&api).await;
    let officers: Vec<String> =
        visit["officers"].as_array().unwrap().iter().map(|o| o.as_str().unwrap().to_string()).collect();
    let mpa = officers.iter().find(|o| o.starts_with("MPA-")).unwrap();
    let mr = officers.iter().find(|o| o.starts_with("MR-")).unwrap();
    let (mpa_tok, mr_tok) = (api.token("officer", Some(mpa)).await, api.token("officer", Some(mr)).await);
    let path = result_path(id, &visit);
    let body = |d: &str| result_body(d, "2026-07-05", json!({}));
    let (s, b) = api.call(Method::POST, &path, Some(&mpa_tok), Some(body("MR"))).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    // The reason, in the default language (zh-CN).
    assert!(b["message"].as_str().unwrap().contains("只能为本部门提交结果"), "{b}");
    let (s, b) = api.call(Method::POST, &path, Some(&mr_tok), Some(body("MR"))).await;
    assert_eq!(s, StatusCode::CREATED, "the MR officer files MR's result: {b}");
    let (s, b) = api.call(Method::POST, &path, Some(&mpa_tok), Some(body("MPA"))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

/// M1: a second regulator token with the same label saw the other's
/// unreleased plan, and unlabelled regulators shared one audit identity.
#[tokio::test(flavor = "multi_thread")]
async fn m1_regulators_are_principals_not_labels() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let mk = |label: &'static str| {
        let api = &api;
        async move {
            let (s, b) =
                api.call(Method::POST, "/tokens", reg, Some(json!({ "role": "regulator", "label": label }))).await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            (b["token"].as_str().unwrap().to_string(), b["principal"]["id"].as_i64().unwrap())
        }
    };
    let ((a, a_id), (b, b_id)) = (mk("ops").await, mk("ops").await);
    assert_ne!(a_id, b_id);
    let (s, p) = api
        .call(
            Method::POST,
            "/plans",
            Some(&a),
            Some(json!({ "name": "early", "kind": "random", "departments": ["MR"], "run": 1, "release_at": "2099-01-01T00:00:00Z" })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let id = p["id"].as_i64().unwrap();
    let (s, r) =
        api.call(Method::POST, &format!("/plans/{id}/reveal"), Some(&a), Some(json!({ "secret": p["secret"] }))).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(api.call(Method::GET, &format!("/plans/{id}/visits"), Some(&a), None).await.0, StatusCode::OK);
    for path in [format!("/plans/{id}/visits"), format!("/plans/{id}/bundle")] {
        let (s, body) = api.call(Method::GET, &path, Some(&b), None).await;
        assert_error(s, &body, StatusCode::FORBIDDEN, "forbidden");
    }
    let (_, log) = api.call(Method::GET, &format!("/audit?subject=plan/{id}"), reg, None).await;
    let actors: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert!(actors.iter().all(|x| *x == format!("regulator:{a_id}")), "{actors:?}");
}

/// M3: tokens could be neither revoked nor expired.
#[tokio::test(flavor = "multi_thread")]
async fn m3_tokens_expire_and_are_revoked_at_once() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let (s, t) = api
        .call(Method::POST, "/tokens", reg, Some(json!({ "role": "officer", "officer_id": "MR-370100-0001" })))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (tok, tid) = (t["token"].as_str().unwrap().to_string(), t["id"].as_i64().unwrap());
    // Officers: 90 days by default.
    let expires = chrono::DateTime::parse_from_rfc3339(t["expires_at"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    assert!((89..=90).contains(&days), "{t}");
    assert_eq!(api.call(Method::GET, "/officers/me/assignments", Some(&tok), None).await.0, StatusCode::OK);
    // Listed without secrets.
    let (s, list) = api.call(Method::GET, "/tokens", reg, None).await;
    assert_eq!(s, StatusCode::OK);
    let text = list.to_string();
    assert!(!text.contains(&tok) && !text.contains(&credo::store::access::token_hash(&tok)), "{list}");
    assert!(
        list.as_array().unwrap().iter().any(|x| x["id"] == tid && x["principal"]["officer_id"] == "MR-370100-0001")
    );
    // The officer may not list or revoke others' tokens; revocation is at once.
    let (s, b) = api.call(Method::GET, "/tokens", Some(&tok), None).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = api.call(Method::DELETE, &format!("/tokens/{tid}"), reg, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b["revoked_at"].is_string());
    let (s, b) = api.call(Method::GET, "/officers/me/assignments", Some(&tok), None).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = api.call(Method::DELETE, &format!("/tokens/{tid}"), reg, None).await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    // An expired token: 401.
    let store = &api.state.store;
    let p = store.tokens().unwrap().into_iter().find(|t| t.id == tid).unwrap().principal;
    let old = store.issue_token(&p, "old", Some("2020-01-01T00:00:00Z"), "test").unwrap();
    let (s, b) = api.call(Method::GET, "/officers/me/assignments", Some(&old.token), None).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    // Out-of-range lifetimes are refused, naming the field.
    let (s, b) = api.call(Method::POST, "/tokens", reg, Some(json!({ "role": "auditor", "expires_in_days": 0 }))).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(b["details"]["field"], "expires_in_days", "{b}");
}

/// M5: auditors and other regulators saw the secret right after the
/// reveal, in GET /plans/{id} and in the audit log.
#[tokio::test(flavor = "multi_thread")]
async fn m5_secret_is_the_creators_until_release() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let auditor = api.token("auditor", None).await;
    let other = api.token("regulator", None).await;
    let (id, secret) = api.plan("2099-01-01T00:00:00Z").await;
    let (s, _) = api.call(Method::POST, &format!("/plans/{id}/reveal"), reg, Some(json!({ "secret": secret }))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, mine) = api.call(Method::GET, &format!("/plans/{id}"), reg, None).await;
    assert_eq!(mine["secret"], secret.as_str(), "the creator sees it");
    for t in [&auditor, &other] {
        let (s, p) = api.call(Method::GET, &format!("/plans/{id}"), Some(t), None).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert!(p["secret"].is_null(), "{p}");
        let (_, list) = api.call(Method::GET, "/plans", Some(t), None).await;
        assert!(!list.to_string().contains(&secret), "{list}");
    }
    let (_, log) = api.call(Method::GET, &format!("/audit?subject=plan/{id}"), Some(&auditor), None).await;
    assert!(!log.to_string().contains(&secret), "{log}");
    assert!(log.to_string().contains(credo::ops::access::WITHHELD), "{log}");
    let (_, log) = api.call(Method::GET, &format!("/audit?subject=plan/{id}"), reg, None).await;
    assert!(log.to_string().contains(&secret), "the creator's own audit view has it");
    // After the release everyone who reads the plan sees it.
    let (id, secret) = api.plan("2026-07-01T00:00:00Z").await;
    api.call(Method::POST, &format!("/plans/{id}/reveal"), reg, Some(json!({ "secret": secret }))).await;
    let (_, p) = api.call(Method::GET, &format!("/plans/{id}"), Some(&auditor), None).await;
    assert_eq!(p["secret"], secret.as_str());
}

/// M4: a 1.9 MB plan name was accepted (and slowed the public list);
/// officers could post 1.9 MB notes; duplicate departments passed.
#[tokio::test(flavor = "multi_thread")]
async fn m4_strings_and_lists_are_bounded() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let plan = |name: String, departments: Value| json!({ "name": name, "kind": "random", "departments": departments, "run": 1, "release_at": "2026-07-01T00:00:00Z" });
    let cases = [
        (plan("x".repeat(1_900_000), json!(["MR"])), "name"),
        (plan("ok".into(), json!(["MR", "MR"])), "departments"),
        (plan("ok".into(), json!(vec!["MR"; 100_000])), "departments"),
        (plan("  ".into(), json!(["MR"])), "name"),
    ];
    for (body, field) in cases {
        let (s, b) = api.call(Method::POST, "/plans", reg, Some(body)).await;
        assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(b["details"]["field"], field, "{b}");
    }
    let (_, list) = api.call(Method::GET, "/public/plans", None, None).await;
    assert!(list.as_array().unwrap().is_empty(), "nothing was stored: {list}");
    // Notes over 2,000 characters.
    let (s, b) = first_officer_submits(&api, "2026-07-05", json!({ "notes": "n".repeat(2001) })).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(b["details"]["field"], "notes");
    // The OpenAPI document states the bounds.
    let (_, doc) = api.call(Method::GET, "/openapi.json", None, None).await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["NewPlan"]["properties"]["name"]["maxLength"], 200, "{}", schemas["NewPlan"]);
    assert_eq!(schemas["NewPlan"]["properties"]["departments"]["maxItems"], 16);
    assert_eq!(schemas["NewResult"]["properties"]["notes"]["maxLength"], 2000);
}

/// M2: a timed-out plan creation kept running after its lock was released
/// and failed with "plan id 15 differs from the id 11 written into its
/// frame". Now the request's end cancels the work, and the lock lives as
/// long as the work.
#[tokio::test(flavor = "multi_thread")]
async fn m2_abandoned_plan_creation_stops_and_holds_its_lock() {
    let api = setup();
    let reg = api.regulator.clone();
    let body = json!({ "name": "abandoned", "kind": "random", "departments": ["MR"], "run": 1, "release_at": "2026-07-01T00:00:00Z" });
    // The client gives up after 5 ms: long before the dataset is read.
    let r = tokio::time::timeout(
        std::time::Duration::from_millis(5),
        api.call(Method::POST, "/plans", Some(&reg), Some(body.clone())),
    )
    .await;
    assert!(r.is_err(), "the request was abandoned");
    // Plans made meanwhile and after get consistent ids.
    let (a, _) = api.plan("2026-07-01T00:00:00Z").await;
    let (b, _) = api.plan("2026-07-01T00:00:00Z").await;
    assert_eq!(b, a + 1);
    let (_, list) = api.call(Method::GET, "/plans", Some(&reg), None).await;
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(!names.contains(&"abandoned"), "the abandoned work stopped: {names:?}");
    let (_, v) = api.call(Method::GET, "/audit/verify", Some(&reg), None).await;
    assert_eq!(v["intact"], true, "{v}");
}

/// Low findings: auditors started diff jobs; results dated 2099; the CLI
/// made an officer token for anyone; `%` matched every subject; `2523.0`
/// was refused as an integer; interrupted jobs left no audit entry.
#[tokio::test(flavor = "multi_thread")]
async fn low_findings() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let auditor = api.token("auditor", None).await;
    let (s, b) = api.call(Method::POST, "/rules/1/diff", Some(&auditor), Some(json!({ "as_of": "2026-06-30" }))).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");

    let (s, b) = first_officer_submits(&api, "2099-12-31", json!({})).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(b["details"]["field"], "inspected_on", "{b}");

    let (s, all) = api.call(Method::GET, "/audit?subject=%25", reg, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(all.as_array().unwrap().len(), 0, "% is not a wildcard: {all}");
    let (_, plans) = api.call(Method::GET, "/audit?subject=plan/_", reg, None).await;
    assert_eq!(plans.as_array().unwrap().len(), 0, "_ is not a wildcard");

    // 1.0 is the integer 1; 1.5 is not an integer.
    let body = |run: Value| json!({ "name": "float", "kind": "random", "departments": ["MR"], "run": run, "release_at": "2026-07-01T00:00:00Z" });
    let (s, b) = api.call(Method::POST, "/plans", reg, Some(body(json!(1.0)))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = api.call(Method::POST, "/plans", reg, Some(body(json!(1.5)))).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    // An interrupted job is marked failed with an audit entry.
    let store = &api.state.store;
    let job = store.create_job(credo::model::JobKind::RulesDiff, "regulator:1", &json!({})).unwrap();
    assert_eq!(store.fail_interrupted().unwrap(), 1);
    let entries = store.read(|c| credo::store::audit::entries(c, Some(&format!("job/{job}")))).unwrap();
    assert_eq!(entries.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["job.start", "job.finish"]);
}

/// The CLI goes through the same checks: no officer token for an id that
/// is not on the roster; tokens are listed and revoked.
#[test]
fn cli_tokens_check_the_roster_and_revoke() {
    let api = setup();
    let store = api._dir.path().join("data/credo.db");
    let s = store.to_str().unwrap();
    let o = credo(&["--store", s, "tokens", "create", "--role", "officer", "--officer-id", "NOBODY'; --"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("not on the roster"), "{}", stderr(&o));
    let o = credo(&["--store", s, "tokens", "create", "--role", "auditor", "--jurisdiction", "370102"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let token = stdout(&o).trim().to_string();
    let list = stdout(&credo(&["--store", s, "tokens", "list"]));
    assert!(!list.contains(&token), "{list}");
    let line = list.lines().find(|l| l.contains("370102")).expect("the county auditor is listed");
    let id = line.split_whitespace().next().unwrap();
    let o = credo(&["--store", s, "tokens", "revoke", id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(api.state.store.authenticate(&token, &credo::store::now()).unwrap().is_none());
    let o = credo(&["--store", s, "tokens", "create", "--role", "regulator", "--jurisdiction", "110000"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Jurisdictions: the first token is province-level; a county regulator
/// plans only its county (and sees only its plans); a city regulator sees
/// its counties' plans; entities elsewhere are refused.
#[tokio::test(flavor = "multi_thread")]
async fn jurisdictions_bound_what_regulators_see_and_plan() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let (_, list) = api.call(Method::GET, "/tokens", reg, None).await;
    assert_eq!(list[0]["principal"]["jurisdiction"], 370000, "{list}");
    let token = |j: u32| {
        let api = &api;
        async move {
            let (s, b) =
                api.call(Method::POST, "/tokens", reg, Some(json!({ "role": "regulator", "jurisdiction": j }))).await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            b["token"].as_str().unwrap().to_string()
        }
    };
    // The county with the most entities in the sample.
    let entities = std::fs::read_to_string(sample().join("entities.csv")).unwrap();
    let mut counts = std::collections::BTreeMap::<u32, usize>::new();
    for l in entities.lines().skip(1) {
        *counts.entry(l.split(',').nth(3).unwrap().parse().unwrap()).or_default() += 1;
    }
    let (&county, &n) = counts.iter().max_by_key(|(_, n)| **n).unwrap();
    let city = credo::model::region::divisions().city_of(county).unwrap();
    let other_county = credo::model::region::divisions().counties_of(city).find(|d| d.code != county).unwrap().code;
    let (c, ci, oc) = (token(county).await, token(city).await, token(other_county).await);
    // A county regulator cannot make a city token.
    let (s, b) =
        api.call(Method::POST, "/tokens", Some(&c), Some(json!({ "role": "auditor", "jurisdiction": city }))).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, p) = api
        .call(
            Method::POST,
            "/plans",
            Some(&c),
            Some(json!({ "name": "county", "kind": "random", "departments": ["MR"], "run": 1, "release_at": "2026-07-01T00:00:00Z" })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(p["stats"]["entities"].as_u64().unwrap() as usize, n, "the county's entities only: {p}");
    let id = p["id"].as_i64().unwrap();
    assert_eq!(api.call(Method::GET, &format!("/plans/{id}"), Some(&ci), None).await.0, StatusCode::OK);
    assert_eq!(api.call(Method::GET, &format!("/plans/{id}"), Some(&oc), None).await.0, StatusCode::NOT_FOUND);
    let (_, theirs) = api.call(Method::GET, "/plans", Some(&oc), None).await;
    assert!(theirs.as_array().unwrap().is_empty(), "{theirs}");
    // Entities of another county are not the county regulator's.
    let uscc = entities.lines().skip(1).find(|l| l.split(',').nth(3) == Some(&other_county.to_string()));
    if let Some(l) = uscc {
        let u = l.split(',').next().unwrap();
        let (s, b) = api.call(Method::GET, &format!("/runs/1/entities/{u}"), Some(&c), None).await;
        assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(api.call(Method::GET, &format!("/runs/1/entities/{u}"), Some(&oc), None).await.0, StatusCode::OK);
    }
    // Province-wide work is the province's.
    let (s, b) = api.call(Method::POST, "/runs", Some(&ci), Some(json!({ "as_of": "2026-06-30" }))).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
}

/// The officer's list is cached (for the load target) but never stale: a
/// plan whose release time passes shows up at once.
#[tokio::test(flavor = "multi_thread")]
async fn cached_assignments_follow_releases() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    // Far enough ahead for plan creation on a busy machine.
    let release = chrono::Utc::now() + chrono::Duration::seconds(20);
    let soon = release.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (id, secret) = api.plan(&soon).await;
    let (s, _) = api.call(Method::POST, &format!("/plans/{id}/reveal"), reg, Some(json!({ "secret": secret }))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, visits) = api.call(Method::GET, &format!("/plans/{id}/visits"), reg, None).await;
    let officer = visits.as_array().unwrap().iter().find(|v| v["unstaffed"].is_null()).unwrap()["officers"][0]
        .as_str()
        .unwrap()
        .to_string();
    let tok = api.token("officer", Some(&officer)).await;
    let (_, before) = api.call(Method::GET, "/officers/me/assignments", Some(&tok), None).await;
    assert!(chrono::Utc::now() < release, "the setup took longer than the release delay");
    assert!(before.as_array().unwrap().iter().all(|a| a["plan"] != id), "{before}");
    let wait = (release - chrono::Utc::now()).to_std().unwrap_or_default() + std::time::Duration::from_millis(1100);
    tokio::time::sleep(wait).await;
    let (_, after) = api.call(Method::GET, "/officers/me/assignments", Some(&tok), None).await;
    assert!(after.as_array().unwrap().iter().any(|a| a["plan"] == id), "released now: {after}");
}
