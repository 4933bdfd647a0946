//! The HTTP API: every endpoint and role boundary in-process (no socket),
//! and one full cycle against a real server on a loopback port.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use credo::api::{self, AppState, ServeOptions};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::*;

pub struct Api {
    pub _dir: tempfile::TempDir,
    pub state: Arc<AppState>,
    pub regulator: String,
}

pub fn setup() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let opts = ServeOptions {
        data_dir: dir.path().join("data"),
        listen: String::new(),
        dataset: sample(),
        rules: root().join("rules"),
        as_of: None,
    };
    let (state, token) = api::prepare(&opts).unwrap();
    Api { _dir: dir, state, regulator: token.expect("first start makes a regulator token") }
}

impl Api {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, text) = self.raw(method, path, token, body.map(|b| b.to_string()), "application/json").await;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    /// [`Api::call`] with `Accept-Language: lang`.
    pub async fn call_in(
        &self,
        lang: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let body = body.map(|b| b.to_string());
        let (status, text) = self.raw_in(Some(lang), method, path, token, body, "application/json").await;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        content_type: &str,
    ) -> (StatusCode, String) {
        self.raw_in(None, method, path, token, body, content_type).await
    }

    async fn raw_in(
        &self,
        lang: Option<&str>,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        content_type: &str,
    ) -> (StatusCode, String) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(l) = lang {
            req = req.header("accept-language", l);
        }
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", content_type);
        }
        let req = req.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
        let resp = api::app(self.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn token(&self, role: &str, officer: Option<&str>) -> String {
        let (s, b) = self
            .call(
                Method::POST,
                "/tokens",
                Some(&self.regulator),
                Some(json!({ "role": role, "officer_id": officer, "label": role })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["token"].as_str().unwrap().to_string()
    }

    pub async fn plan(&self, release_at: &str) -> (i64, String) {
        let (s, b) = self
            .call(
                Method::POST,
                "/plans",
                Some(&self.regulator),
                Some(json!({ "name": "test plan", "kind": "random", "departments": ["MR", "MPA"], "run": 1, "release_at": release_at })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        (b["id"].as_i64().unwrap(), b["secret"].as_str().unwrap().to_string())
    }
}

pub fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_protected_endpoint_needs_a_token() {
    let api = setup();
    let protected: &[(Method, &str)] = &[
        (Method::POST, "/tokens"),
        (Method::GET, "/rules"),
        (Method::POST, "/rules"),
        (Method::GET, "/rules/1"),
        (Method::POST, "/rules/1/activate"),
        (Method::POST, "/rules/1/diff"),
        (Method::GET, "/jobs/1"),
        (Method::GET, "/runs"),
        (Method::POST, "/runs"),
        (Method::GET, "/runs/1"),
        (Method::GET, "/runs/1/entities/914403001922038216"),
        (Method::GET, "/plans"),
        (Method::POST, "/plans"),
        (Method::GET, "/plans/1"),
        (Method::POST, "/plans/1/reveal"),
        (Method::POST, "/plans/1/cancel"),
        (Method::GET, "/plans/1/visits"),
        (Method::GET, "/plans/1/bundle"),
        (Method::POST, "/plans/1/verify"),
        (Method::POST, "/plans/1/publish"),
        (Method::GET, "/officers/me/assignments"),
        (Method::POST, "/officers/me/assignments/1/1/result"),
        (Method::GET, "/entities/914403001922038216"),
        (Method::GET, "/audit"),
        (Method::GET, "/audit/verify"),
    ];
    for (m, p) in protected {
        let (s, b) = api.call(m.clone(), p, None, Some(json!({}))).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
        let (s, b) = api.call(m.clone(), p, Some("credo_not_a_token"), Some(json!({}))).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // Public endpoints need none.
    for p in ["/health", "/openapi.json", "/public/plans", "/public/key", "/public/checkpoint"] {
        assert_eq!(api.call(Method::GET, p, None, None).await.0, StatusCode::OK, "{p}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_are_enforced() {
    let api = setup();
    let auditor = api.token("auditor", None).await;
    let officer = api.token("officer", Some("MR-370100-0001")).await;
    let reg = Some(api.regulator.as_str());
    // Auditors read and verify but change nothing.
    assert_eq!(api.call(Method::GET, "/runs", Some(&auditor), None).await.0, StatusCode::OK);
    assert_eq!(api.call(Method::GET, "/audit", Some(&auditor), None).await.0, StatusCode::OK);
    for (m, p, b) in [
        (Method::POST, "/runs", json!({ "as_of": "2026-06-30" })),
        (Method::POST, "/tokens", json!({ "role": "auditor" })),
        (Method::POST, "/rules/1/activate", json!({})),
        (Method::POST, "/plans", json!({})),
        (Method::GET, "/officers/me/assignments", json!({})),
    ] {
        let (s, body) = api.call(m, p, Some(&auditor), Some(b)).await;
        assert_error(s, &body, StatusCode::FORBIDDEN, "forbidden");
    }
    // Officers see only their own assignments.
    for p in ["/runs", "/plans", "/audit", "/rules", "/entities/914403001922038216"] {
        let (s, body) = api.call(Method::GET, p, Some(&officer), None).await;
        assert_error(s, &body, StatusCode::FORBIDDEN, "forbidden");
    }
    let (s, body) = api.call(Method::GET, "/officers/me/assignments", Some(&officer), None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // Regulators cannot act as officers.
    let (s, body) = api.call(Method::GET, "/officers/me/assignments", reg, None).await;
    assert_error(s, &body, StatusCode::FORBIDDEN, "forbidden");
    // Tokens: bad role, officer without id, unknown officer.
    for b in [
        json!({ "role": "king" }),
        json!({ "role": "officer" }),
        json!({ "role": "officer", "officer_id": "X-1" }),
        json!({ "role": "auditor", "officer_id": "MR-370100-0001" }),
    ] {
        let (s, body) = api.call(Method::POST, "/tokens", reg, Some(b)).await;
        assert_error(s, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_the_error_shape() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let (s, b) = api.raw(Method::POST, "/runs", reg, Some("{not json".into()), "application/json").await;
    let b: Value = serde_json::from_str(&b).unwrap();
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (s, b) = api.call(Method::POST, "/runs", reg, Some(json!({ "as_of": "2026-02-30" }))).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (s, b) = api.call(Method::POST, "/runs", reg, Some(json!({ "as_of": "2026-06-30", "colour": 1 }))).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (s, b) = api.raw(Method::POST, "/runs", reg, Some("{}".into()), "text/plain").await;
    let b: Value = serde_json::from_str(&b).unwrap();
    assert_error(s, &b, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let (s, b) = api.call(Method::GET, "/plans/abc", reg, None).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (s, b) = api.call(Method::GET, "/plans/999", reg, None).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = api.call(Method::GET, "/nowhere", None, None).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = api.call(Method::DELETE, "/runs", reg, None).await;
    assert_error(s, &b, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let huge = format!("{{\"files\": {{\"rules.toml\": \"{}\"}}}}", "x".repeat(3 * 1024 * 1024));
    let (s, b) = api.raw(Method::POST, "/rules", reg, Some(huge), "application/json").await;
    let b: Value = serde_json::from_str(&b).unwrap();
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    let (s, b) = api.call(Method::GET, "/runs/1/entities/91440300192203821X", reg, None).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (s, b) = api.call(Method::GET, "/entities/914403001922038216", reg, None).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_upload_check_activate_and_diff() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    // A syntax error: 422 with file, line and column.
    let mut broken = default_rules();
    let tier =
        broken["files"]["tier.rhai"].as_str().unwrap().replace("if serious.len() > 0 {", "if serious.len() > 0 {{");
    broken["files"]["tier.rhai"] = json!(tier);
    let (s, b) = api.call(Method::POST, "/rules", reg, Some(broken)).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "rule_error");
    assert_eq!(b["details"]["file"], "tier.rhai", "{b}");
    assert!(b["details"]["line"].is_number() && b["details"]["column"].is_number(), "{b}");
    // A rule that breaks its own tests: 422 listing the failing cases.
    let mut failing = default_rules();
    let toml = failing["files"]["rules.toml"]
        .as_str()
        .unwrap()
        .replace("probability_by_tier = [0.0, 0.05, 0.15, 0.6]", "probability_by_tier = [0.0, 0.06, 0.15, 0.6]");
    failing["files"]["rules.toml"] = json!(toml);
    let (s, b) = api.call(Method::POST, "/rules", reg, Some(failing)).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "rule_tests_failed");
    assert!(
        b["details"].as_array().unwrap().iter().any(|c| c["case"] == "tier 2 is inspected with a low probability"),
        "{b}"
    );
    // A path outside the rule set is refused.
    let (s, b) = api.call(Method::POST, "/rules", reg, Some(json!({ "files": { "../etc/passwd": "x" } }))).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    // A real change (with its tests updated) is stored, diffed, activated.
    let mut change = default_rules();
    let toml = relabel_rules(change["files"]["rules.toml"].as_str().unwrap(), "2026.3");
    change["files"]["rules.toml"] = json!(toml);
    let tier =
        change["files"]["tier.rhai"].as_str().unwrap().replace("if general.len() >= 2 {", "if general.len() >= 3 {");
    change["files"]["tier.rhai"] = json!(tier);
    let cases = change["files"]["tests/tiers.toml"].as_str().unwrap().replace(
        "name = \"two general penalties within disclosure are general dishonesty\"\nas_of = \"2026-06-30\"",
        "name = \"two general penalties within disclosure are general dishonesty\"\nas_of = \"2026-06-30\"\n# now three are needed",
    );
    change["files"]["tests/tiers.toml"] = json!(cases.replace(
        "[case.expect]\ntier = 3\nexplanation_contains = [\"2 general penalties\", \"P-1, P-2\"]",
        "[case.expect]\ntier = 2"
    ));
    let (s, b) = api.call(Method::POST, "/rules", reg, Some(change)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = b["id"].as_i64().unwrap();
    let (s, b) =
        api.call(Method::POST, &format!("/rules/{id}/diff"), reg, Some(json!({ "as_of": "2026-06-30" }))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let job = b["job"].as_i64().unwrap();
    let mut done = Value::Null;
    for _ in 0..100 {
        let (_, j) = api.call(Method::GET, &format!("/jobs/{job}"), reg, None).await;
        if j["status"] != "running" {
            done = j;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(done["status"], "done", "{done}");
    assert!(done["result"]["matrix"][2][1].as_u64().unwrap() > 0, "some tier-3 entities move to tier 2: {done}");
    let (s, b) = api.call(Method::POST, &format!("/rules/{id}/activate"), reg, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["active"], true);
    let (_, list) = api.call(Method::GET, "/rules", reg, None).await;
    assert_eq!(list.as_array().unwrap().iter().filter(|v| v["active"] == true).count(), 1);
    let (_, log) = api.call(Method::GET, "/audit?subject=rules", reg, None).await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "rules.activate" && e["actor"].as_str().unwrap().starts_with("regulator:")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_are_background_work_with_results_per_entity() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let (s, b) = api.call(Method::POST, "/runs", reg, Some(json!({ "as_of": "2025-12-31" }))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = b["id"].as_i64().unwrap();
    let mut run = Value::Null;
    for _ in 0..100 {
        let (_, r) = api.call(Method::GET, &format!("/runs/{id}"), reg, None).await;
        if r["status"] != "running" {
            run = r;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(run["status"], "done", "{run}");
    assert!(run["summary"]["tiers"].is_object(), "{run}");
    let uscc = std::fs::read_to_string(sample().join("entities.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let (s, r) = api.call(Method::GET, &format!("/runs/{id}/entities/{uscc}"), reg, None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r["explanation"].as_array().unwrap().iter().any(|d| d["stage"] == "tier"), "{r}");
    let (s, r) = api.call(Method::GET, &format!("/entities/{uscc}?as_of=2026-06-30"), reg, None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r["points"].as_array().unwrap().len() >= 2, "{r}");
}

impl Api {
    /// A GET with an Accept-Language header: status, Content-Language, JSON.
    async fn get_in(&self, path: &str, token: Option<&str>, lang: Option<&str>) -> (StatusCode, String, Value) {
        let mut req = Request::builder().method(Method::GET).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(l) = lang {
            req = req.header("accept-language", l);
        }
        let resp = api::app(self.state.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status();
        let content_language =
            resp.headers().get("content-language").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, content_language, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chinese_by_default_english_on_request() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    // The blacklisted entity of the sample: 严重失信 by default.
    let path = "/entities/913706812026899267?as_of=2026-06-30";
    let (s, lang, t) = api.get_in(path, reg, None).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(lang, "zh-CN");
    assert_eq!(t["tier_name"], "严重失信", "{t}");
    assert!(t["explanation"].as_str().unwrap().contains("信用等级 4（严重失信）"), "{t}");
    assert_eq!(t["points"][0]["tier_name"].as_str().map(|n| n.is_empty()), Some(false), "{t}");
    let (s, lang, t) = api.get_in(path, reg, Some("en-US,en;q=0.9,zh;q=0.1")).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(lang, "en");
    assert_eq!(t["tier_name"], "serious dishonesty", "{t}");
    assert!(t["explanation"].as_str().unwrap().contains("tier 4: "), "{t}");
    // Errors keep their stable code and say what it means in the language.
    let (s, _, b) = api.get_in("/entities/91440300192203821X", reg, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!((b["code"].as_str(), b["title"].as_str()), (Some("bad_request"), Some("请求有误")), "{b}");
    let (_, _, b) = api.get_in("/runs", None, Some("en")).await;
    assert_eq!((b["code"].as_str(), b["title"].as_str()), (Some("unauthorized"), Some("not authenticated")), "{b}");
    // The public disclosure names tiers by the plan's names, signed in
    // the language asked for; the machine keys do not change.
    let (id, _) = api.plan("2099-01-01T00:00:00+08:00").await;
    let (s, lang, zh) = api.get_in(&format!("/public/plans/{id}"), None, None).await;
    assert_eq!((s, lang.as_str()), (StatusCode::OK, "zh-CN"), "{zh}");
    let (_, _, en) = api.get_in(&format!("/public/plans/{id}"), None, Some("en")).await;
    let labels = |d: &Value| -> Vec<String> {
        d["strata"].as_array().unwrap().iter().map(|s| s["label"].as_str().unwrap().to_string()).collect()
    };
    assert!(labels(&zh).iter().any(|l| l.starts_with("严重失信") || l.starts_with("一般失信")), "{zh}");
    assert!(labels(&en).iter().any(|l| l.contains("dishonesty")), "{en}");
    assert_eq!(zh["strata"].as_array().map(|a| a.len()), en["strata"].as_array().map(|a| a.len()));
    assert_eq!(zh["strata"][0]["key"], en["strata"][0]["key"]);
    assert_eq!((zh["lang"].as_str(), en["lang"].as_str()), (Some("zh-CN"), Some("en")));
}

impl Api {
    /// A POST with an Accept-Language header: status and JSON.
    async fn post_in(&self, path: &str, token: &str, body: Value, lang: Option<&str>) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json");
        if let Some(l) = lang {
            req = req.header("accept-language", l);
        }
        let resp = api::app(self.state.clone()).oneshot(req.body(Body::from(body.to_string())).unwrap()).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

/// Issue #13, item 1: error messages, not only their titles, are in the
/// request's language; codes, field names and values keep their form.
#[tokio::test(flavor = "multi_thread")]
async fn error_messages_speak_the_request_language() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let (s, lang, zh) = api.get_in("/plans/999", reg, None).await;
    assert_eq!((s, lang.as_str()), (StatusCode::NOT_FOUND, "zh-CN"), "{zh}");
    assert_eq!((zh["code"].as_str(), zh["message"].as_str()), (Some("not_found"), Some("未找到计划 999")), "{zh}");
    let (s, _, en) = api.get_in("/plans/999", reg, Some("en")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!((en["code"].as_str(), en["message"].as_str()), (Some("not_found"), Some("plan 999 not found")), "{en}");

    let (_, _, zh) = api.get_in("/entities/91440300192203821X", reg, None).await;
    assert!(zh["message"].as_str().unwrap().starts_with("“91440300192203821X”不是有效的统一社会信用代码"), "{zh}");
    let (_, _, en) = api.get_in("/entities/91440300192203821X", reg, Some("en")).await;
    assert!(en["message"].as_str().unwrap().starts_with("'91440300192203821X' is not a valid credit code"), "{en}");

    let body = json!({ "role": "auditor", "expires_in_days": 0 });
    let (s, zh) = api.post_in("/tokens", &api.regulator, body.clone(), None).await;
    assert_error(s, &zh, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(zh["message"], "expires_in_days：0；应在 1 至 3650 天之间", "{zh}");
    assert_eq!(
        (zh["details"]["field"].as_str(), zh["details"]["reason"].as_str()),
        (Some("expires_in_days"), Some("0；应在 1 至 3650 天之间"))
    );
    let (s, en) = api.post_in("/tokens", &api.regulator, body, Some("en")).await;
    assert_error(s, &en, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(en["message"], "expires_in_days: 0; between 1 and 3650 days", "{en}");
    assert_eq!(en["details"]["reason"], "0; between 1 and 3650 days", "{en}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plans_release_and_officers() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let other_reg = api.token("regulator", None).await;
    let auditor = api.token("auditor", None).await;

    // A plan released far in the future: only its creator sees the draw.
    let (future, secret) = api.plan("2099-01-01T00:00:00+08:00").await;
    let (s, b) = api
        .call(Method::POST, &format!("/plans/{future}/reveal"), reg, Some(json!({ "secret": "00".repeat(32) })))
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (s, b) =
        api.call(Method::POST, &format!("/plans/{future}/reveal"), reg, Some(json!({ "secret": secret }))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) =
        api.call(Method::POST, &format!("/plans/{future}/reveal"), reg, Some(json!({ "secret": secret }))).await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    let (s, visits) = api.call(Method::GET, &format!("/plans/{future}/visits"), reg, None).await;
    assert_eq!(s, StatusCode::OK);
    for t in [&other_reg, &auditor] {
        let (s, b) = api.call(Method::GET, &format!("/plans/{future}/visits"), Some(t), None).await;
        assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
        let (s, b) = api.call(Method::GET, &format!("/plans/{future}/bundle"), Some(t), None).await;
        assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    }
    let officer = visits.as_array().unwrap().iter().find(|v| v["unstaffed"].is_null()).unwrap()["officers"][0]
        .as_str()
        .unwrap()
        .to_string();
    let tok = api.token("officer", Some(&officer)).await;
    let (_, mine) = api.call(Method::GET, "/officers/me/assignments", Some(&tok), None).await;
    assert!(
        mine.as_array().unwrap().iter().all(|a| a["plan"] != future),
        "unreleased assignments must not be visible: {mine}"
    );

    // A released plan: auditors see and verify; its officers fetch and report.
    let (id, secret) = api.plan("2026-07-01T09:00:00+08:00").await;
    let (s, _) = api.call(Method::POST, &format!("/plans/{id}/reveal"), reg, Some(json!({ "secret": secret }))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = api.call(Method::GET, &format!("/plans/{id}/visits"), Some(&auditor), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, r) = api.call(Method::POST, &format!("/plans/{id}/verify"), Some(&auditor), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["identical"], true, "{r}");
    // The frozen frame changed or gone under the store: the auditor gets a
    // report naming it, as `credo draw verify` does, not a server error.
    let frame = api.state.store.frame_path(id).unwrap();
    let kept = std::fs::read_to_string(&frame).unwrap();
    assert!(kept.contains("\nname="), "no name line in the frame file");
    let path = format!("/plans/{id}/verify");
    let verify = || api.call_in("en", Method::POST, &path, Some(&auditor), None);
    std::fs::write(&frame, kept.replacen("\nname=", "\nname=x", 1)).unwrap();
    let (s, r) = verify().await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["identical"], false, "{r}");
    assert!(r["report"].as_str().unwrap().contains("the frame file was altered"), "{r}");
    std::fs::remove_file(&frame).unwrap();
    let (s, r) = verify().await;
    assert_eq!((s, &r["identical"]), (StatusCode::OK, &json!(false)), "{r}");
    assert!(r["report"].as_str().unwrap().contains(&frame.display().to_string()), "{r}");
    std::fs::write(&frame, &kept).unwrap();
    let (_, r) = verify().await;
    assert_eq!(r["identical"], true, "{r}");
    let (s, bundle) = api.raw(Method::GET, &format!("/plans/{id}/bundle"), Some(&auditor), None, "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(bundle.starts_with("#credo-draw-bundle v2\n") && bundle.contains("\n[signature]\n"));
    let visit = v.as_array().unwrap().iter().find(|x| x["unstaffed"].is_null()).unwrap().clone();
    let officer = visit["officers"][0].as_str().unwrap().to_string();
    let outsider = v
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|x| x["officers"].as_array().unwrap().iter())
        .map(|o| o.as_str().unwrap().to_string())
        .find(|o| !visit["officers"].as_array().unwrap().iter().any(|x| x == o))
        .unwrap();
    let tok = api.token("officer", Some(&officer)).await;
    let other = api.token("officer", Some(&outsider)).await;
    let (_, mine) = api.call(Method::GET, "/officers/me/assignments", Some(&tok), None).await;
    assert!(mine.as_array().unwrap().iter().any(|a| a["plan"] == id && a["visit"] == visit["seq"]), "{mine}");
    // An officer files for their own department (its code starts the id).
    let dept = officer.split('-').next().unwrap();
    let path = format!("/officers/me/assignments/{id}/{}/result", visit["seq"]);
    let body = json!({ "department": dept, "result": "violation", "inspected_on": "2026-07-05", "notes": "expired goods on sale" });
    let (s, b) = api.call(Method::POST, &path, Some(&other), Some(body.clone())).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = api
        .call(
            Method::POST,
            &path,
            Some(&tok),
            Some(json!({ "department": dept, "result": "sunny", "inspected_on": "2026-07-05" })),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (s, b) = api.call(Method::POST, &path, Some(&tok), Some(body.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = api.call(Method::POST, &path, Some(&tok), Some(body)).await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");

    // The public sees every plan from its creation, and its results once
    // released; publishing records the disclosure in the audit log.
    let (s, b) = api.call(Method::GET, &format!("/public/plans/{id}"), None, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b["commitment"].is_string() && b["signature"]["value"].is_string(), "{b}");
    let (s, b) = api.call(Method::GET, "/public/plans/999", None, None).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = api.call(Method::POST, &format!("/plans/{id}/publish"), Some(&auditor), None).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(api.call(Method::POST, &format!("/plans/{id}/publish"), reg, None).await.0, StatusCode::OK);
    let (s, d) = api.call(Method::GET, &format!("/public/plans/{id}"), None, None).await;
    assert_eq!(s, StatusCode::OK);
    let found = d["draw"]["visits"].as_array().unwrap().iter().find(|x| x["seq"] == visit["seq"]).unwrap().clone();
    assert_eq!(found["results"][0][1], "violation", "{found}");
    assert!(!d.to_string().contains(&officer), "no officer ids in public");
    // Cancelling a drawn plan is refused; the audit chain is intact.
    let (s, b) = api.call(Method::POST, &format!("/plans/{id}/cancel"), reg, Some(json!({ "reason": "x" }))).await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    let (_, v) = api.call(Method::GET, "/audit/verify", Some(&auditor), None).await;
    assert!(v["chain"]["Intact"].is_object() && v["intact"] == true, "{v}");
}

/// What an auditor and the public get to check the store with: its key,
/// signed checkpoints, every plan from its creation (cancelled ones too),
/// beacons refused when the plan does not name them, altered results
/// files refused and reported.
#[tokio::test(flavor = "multi_thread")]
async fn trust_material_is_public_and_signed() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let auditor = api.token("auditor", None).await;
    let (s, key) = api.call(Method::GET, "/public/key", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let public_key = credo::trust::PublicKey::from_hex(key["public_key"].as_str().unwrap()).unwrap();
    let private =
        std::fs::read_to_string(credo::store::signing::key_path(&api._dir.path().join("data/credo.db"))).unwrap();
    assert!(!key.to_string().contains(private.trim()));

    // A beacon source without a rule is refused; a plan without a beacon
    // refuses one at the reveal.
    let (s, b) = api
        .call(
            Method::POST,
            "/plans",
            reg,
            Some(json!({ "name": "x", "kind": "random", "departments": ["MR"], "run": 1,
                "release_at": "2026-07-01T09:00:00+08:00", "beacon_source": "a lottery" })),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (a, secret) = api.plan("2026-07-01T09:00:00+08:00").await;
    let (s, b) = api
        .call(Method::POST, &format!("/plans/{a}/reveal"), reg, Some(json!({ "secret": secret, "beacon": "abc" })))
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "beacon_refused");
    assert!(b["message"].as_str().unwrap().contains("计划未指定随机信标"), "zh-CN by default: {b}");

    // Listed and disclosed from creation, signed.
    let (_, list) = api.call(Method::GET, "/public/plans", None, None).await;
    let listed = list.as_array().unwrap().iter().find(|p| p["id"] == a).unwrap().clone();
    assert_eq!(listed["status"], "committed");
    let (_, text) = api.raw(Method::GET, &format!("/public/plans/{a}"), None, None, "").await;
    let doc = credo::trust::verify_document(&text, Some(&public_key)).unwrap();
    assert_eq!(doc.doc_type, "credo-disclosure-v2");
    assert_eq!(doc.body["commitment"], listed["commitment"]);
    assert_eq!(doc.body["frame_hash"], listed["frame_hash"]);
    assert!(doc.body["draw"].is_null());

    // Cancelled: still listed, with the time; the next plan over the same
    // population says it replaces it.
    let (s, _) = api.call(Method::POST, &format!("/plans/{a}/cancel"), reg, Some(json!({ "reason": "re-plan" }))).await;
    assert_eq!(s, StatusCode::OK);
    let (b, _) = api.plan("2026-07-01T09:00:00+08:00").await;
    let (_, list) = api.call(Method::GET, "/public/plans", None, None).await;
    let cancelled = list.as_array().unwrap().iter().find(|p| p["id"] == a).unwrap().clone();
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["cancelled_at"].is_string(), "{cancelled}");
    let next = list.as_array().unwrap().iter().find(|p| p["id"] == b).unwrap().clone();
    assert_eq!(next["replaces"][0], cancelled["plan_id"], "{next}");
    let (_, d) = api.call(Method::GET, &format!("/public/plans/{a}"), None, None).await;
    assert_eq!(d["replaced_by"][0], next["plan_id"], "{d}");

    // The checkpoint: signed head of the audit log.
    let (s, text) = api.raw(Method::GET, "/public/checkpoint", None, None, "").await;
    assert_eq!(s, StatusCode::OK);
    let cp = credo::ops::read_checkpoint(&text, &public_key).unwrap();
    let (_, log) = api.call(Method::GET, "/audit", Some(&auditor), None).await;
    assert_eq!(cp.entries, log.as_array().unwrap().len() as i64);
    assert_eq!(cp.head, log.as_array().unwrap().last().unwrap()["hash"], "{cp:?}");

    // An altered results file is refused when read and named by the audit.
    let results = credo::store::results_dir(&api._dir.path().join("data/credo.db")).join("run-1.parquet");
    let mut bytes = std::fs::read(&results).unwrap();
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x55;
    std::fs::write(&results, &bytes).unwrap();
    let (s, b) = api
        .call(
            Method::POST,
            "/plans",
            reg,
            Some(json!({ "name": "x", "kind": "random", "departments": ["MR"], "run": 1, "release_at": "2026-07-01T09:00:00+08:00" })),
        )
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "altered");
    let (_, v) = api.call(Method::GET, "/audit/verify", Some(&auditor), None).await;
    assert_eq!(v["intact"], false, "{v}");
    assert!(v["differences"].to_string().contains("results_files"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_document_lists_every_route() {
    let api = setup();
    let (s, doc) = api.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    // Every route the router serves, with its method, and nothing else.
    let mut documented = 0;
    for r in credo::api::ROUTES {
        let op = &paths[r.path][r.method.to_lowercase()];
        assert!(op.is_object(), "{} {} missing from the OpenAPI document", r.method, r.path);
        documented += 1;
    }
    let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(operations, documented, "the document has operations the router does not serve");
    // Every schema the document names is in it.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in text.split("\"#/components/schemas/").skip(1).map(|s| &s[..s.find('"').unwrap()]) {
        assert!(schemas.contains_key(name), "the document names schema {name} but does not hold it");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

/// One request over a real socket (HTTP/1.1, connection close).
pub fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    http_with(addr, method, path, token, body, "")
}

/// [`http`] with extra header lines (each ending in `\r\n`).
pub fn http_with(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    headers: &str,
) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status: u16 = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    // The server answers with chunked or sized bodies; strip chunk framing.
    let body = if out.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut rest = body;
        let mut joined = String::new();
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            joined.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        joined
    } else {
        body.to_string()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

#[test]
fn full_cycle_against_a_real_server() {
    let api = setup();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = api::app(api.state.clone());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let reg = Some(api.regulator.as_str());

    // Upload rules (same logic, new version), activate.
    let mut rules = default_rules();
    let toml = relabel_rules(rules["files"]["rules.toml"].as_str().unwrap(), "2026.2-cycle");
    rules["files"]["rules.toml"] = json!(toml);
    let (s, b) = http(&addr, "POST", "/rules", reg, Some(&rules));
    assert_eq!(s, 201, "{b}");
    let rid = b["id"].as_i64().unwrap();
    assert_eq!(http(&addr, "POST", &format!("/rules/{rid}/activate"), reg, None).0, 200);
    // Classify.
    let (s, b) = http(&addr, "POST", "/runs", reg, Some(&json!({ "as_of": "2026-06-30" })));
    assert_eq!(s, 202, "{b}");
    let run = b["id"].as_i64().unwrap();
    let mut status = String::new();
    for _ in 0..200 {
        let (_, r) = http(&addr, "GET", &format!("/runs/{run}"), reg, None);
        status = r["status"].as_str().unwrap().to_string();
        if status != "running" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(status, "done");
    // Create a plan, reveal it.
    let (s, p) = http(
        &addr,
        "POST",
        "/plans",
        reg,
        Some(
            &json!({ "name": "cycle", "kind": "random", "departments": ["MR"], "run": run, "release_at": "2026-07-01T00:00:00Z" }),
        ),
    );
    assert_eq!(s, 201, "{p}");
    let plan = p["id"].as_i64().unwrap();
    let (s, r) = http(&addr, "POST", &format!("/plans/{plan}/reveal"), reg, Some(&json!({ "secret": p["secret"] })));
    assert_eq!(s, 200, "{r}");
    // An officer fetches and submits.
    let (_, visits) = http(&addr, "GET", &format!("/plans/{plan}/visits"), reg, None);
    let visit = visits.as_array().unwrap().iter().find(|v| v["unstaffed"].is_null()).unwrap().clone();
    let officer = visit["officers"][0].as_str().unwrap();
    let (s, t) = http(&addr, "POST", "/tokens", reg, Some(&json!({ "role": "officer", "officer_id": officer })));
    assert_eq!(s, 201);
    let otok = t["token"].as_str().unwrap().to_string();
    let (s, mine) = http(&addr, "GET", "/officers/me/assignments", Some(&otok), None);
    assert_eq!(s, 200);
    assert!(mine.as_array().unwrap().iter().any(|a| a["plan"] == plan && a["visit"] == visit["seq"]), "{mine}");
    let (s, b) = http(
        &addr,
        "POST",
        &format!("/officers/me/assignments/{plan}/{}/result", visit["seq"]),
        Some(&otok),
        Some(&json!({ "department": "MR", "result": "compliant", "inspected_on": "2026-07-02" })),
    );
    assert_eq!(s, 201, "{b}");
    // The public sees the result once published.
    assert_eq!(http(&addr, "POST", &format!("/plans/{plan}/publish"), reg, None).0, 200);
    let (s, d) = http(&addr, "GET", &format!("/public/plans/{plan}"), None, None);
    assert_eq!(s, 200);
    let shown = d["draw"]["visits"].as_array().unwrap().iter().find(|v| v["seq"] == visit["seq"]).unwrap().clone();
    assert_eq!(shown["results"][0][1], "compliant", "{shown}");
    // An auditor verifies the draw.
    let (s, t) = http(&addr, "POST", "/tokens", reg, Some(&json!({ "role": "auditor" })));
    assert_eq!(s, 201);
    let atok = t["token"].as_str().unwrap().to_string();
    let (s, v) = http(&addr, "POST", &format!("/plans/{plan}/verify"), Some(&atok), None);
    assert_eq!(s, 200);
    assert_eq!(v["identical"], true, "{v}");
}
