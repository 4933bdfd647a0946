//! Issue #13, item 1, for API clients: the refusals that were English only
//! (a rule set's failing tests and malformed test files, an upload's
//! paths, a plan's beacon rule) answer in the request's language, zh-CN by
//! default; codes, details' machine names and English texts keep their form.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::api::{Api, assert_error, setup};
use crate::common::*;

/// A request with a JSON body as the regulator, in `lang` (none: the
/// default): status and JSON.
async fn send(api: &Api, method: Method, path: &str, body: &Value, lang: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {}", api.regulator))
        .header("content-type", "application/json");
    if let Some(l) = lang {
        req = req.header("accept-language", l);
    }
    let resp =
        credo::api::app(api.state.clone()).oneshot(req.body(Body::from(body.to_string())).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn default_rules() -> Value {
    let src = credo::data::rules::read_rule_dir(&root().join("rules")).unwrap();
    json!({ "files": src.files })
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_test_refusals_speak_the_request_language() {
    let api = setup();

    // A rule set that fails its own tests: the message and every failure
    // line in the request's language; file and case as written.
    let mut failing = default_rules();
    let toml = failing["files"]["rules.toml"]
        .as_str()
        .unwrap()
        .replace("probability_by_tier = [0.0, 0.05, 0.15, 0.6]", "probability_by_tier = [0.0, 0.06, 0.15, 0.6]");
    failing["files"]["rules.toml"] = json!(toml);
    let case = "tier 2 is inspected with a low probability";
    let failures = |b: &Value| -> String {
        let c = b["details"].as_array().unwrap().iter().find(|c| c["case"] == case).expect("the failing case");
        c["failures"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect::<Vec<_>>().join("\n")
    };
    let (s, zh) = send(&api, Method::POST, "/rules", &failing, None).await;
    assert_error(s, &zh, StatusCode::UNPROCESSABLE_ENTITY, "rule_tests_failed");
    assert_eq!(zh["message"], "70 条规则测试中有 5 条未通过", "{zh}");
    assert!(failures(&zh).contains("probability\n      期望 0.050000\n      实得 0.060000"), "{zh}");
    let (s, en) = send(&api, Method::POST, "/rules", &failing, Some("en")).await;
    assert_error(s, &en, StatusCode::UNPROCESSABLE_ENTITY, "rule_tests_failed");
    assert_eq!(en["message"], "5 of 70 rule tests fail", "{en}");
    assert!(failures(&en).contains("probability\n      expected 0.050000\n      got      0.060000"), "{en}");
    assert!(!failures(&en).contains("期望"), "{en}");

    // A malformed test file: which file and case, and why.
    let mut dup = default_rules();
    dup["files"]["tests/dup.toml"] =
        json!("[[case]]\nname = \"dup\"\nas_of = \"2026-06-30\"\n[case.entity]\n[[case.others]]\nlabel = \"main\"\n");
    let (s, zh) = send(&api, Method::POST, "/rules", &dup, None).await;
    assert_error(s, &zh, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(zh["message"], "规则测试文件 tests/dup.toml：用例“dup”：主体标签“main”用了两次", "{zh}");
    assert_eq!(zh["details"]["file"], "tests/dup.toml", "{zh}");
    let (_, en) = send(&api, Method::POST, "/rules", &dup, Some("en")).await;
    assert_eq!(en["message"], "tests/dup.toml: case 'dup': entity label 'main' is used twice", "{en}");

    // A path outside the rule set.
    let outside = json!({ "files": { "../etc/passwd": "x" } });
    let (s, zh) = send(&api, Method::POST, "/rules", &outside, None).await;
    assert_error(s, &zh, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(zh["message"], "“../etc/passwd”不是 rules.toml、.rhai 脚本或 tests/*.toml", "{zh}");
    let (_, en) = send(&api, Method::POST, "/rules", &outside, Some("en")).await;
    assert_eq!(en["message"], "'../etc/passwd' is not rules.toml, a .rhai script or tests/*.toml", "{en}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_beacon_refusals_speak_the_request_language() {
    let api = setup();
    let plan = |rule: Option<&str>| {
        json!({ "name": "p", "kind": "random", "departments": ["MR"], "run": 1,
                "release_at": "2099-01-01T00:00:00+08:00", "beacon_source": "a lottery", "beacon_rule": rule })
    };
    let (s, zh) = send(&api, Method::POST, "/plans", &plan(None), None).await;
    assert_error(s, &zh, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(zh["message"], "给出了随机信标来源，须同时给出 beacon_rule：text、digits 或 hex", "{zh}");
    let (_, en) = send(&api, Method::POST, "/plans", &plan(None), Some("en")).await;
    assert_eq!(en["message"], "a beacon source needs beacon_rule: text, digits or hex", "{en}");
    let (s, zh) = send(&api, Method::POST, "/plans", &plan(Some("dice")), None).await;
    assert_error(s, &zh, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(zh["message"], "随机信标规则“dice”不是 none、text、digits、hex 之一", "{zh}");
    let (_, en) = send(&api, Method::POST, "/plans", &plan(Some("dice")), Some("en")).await;
    assert_eq!(en["message"], "beacon rule 'dice' is not one of none, text, digits, hex", "{en}");
}
