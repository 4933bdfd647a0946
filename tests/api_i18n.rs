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

/// `/audit/verify`: why the chain breaks and what a table says that its
/// audit entries do not, in the request's language; field names, table
/// codes and hashes as they are.
#[tokio::test(flavor = "multi_thread")]
async fn audit_verify_speaks_the_request_language() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let (id, _) = api.plan("2026-07-01T09:00:00+08:00").await;
    let db = rusqlite::Connection::open(api._dir.path().join("data/credo.db")).unwrap();
    db.execute("UPDATE plans SET name = 'renamed' WHERE id = ?1", [id]).unwrap();
    let last: i64 = db.query_row("SELECT max(seq) FROM audit_log", [], |r| r.get(0)).unwrap();
    db.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = ?1", [last]).unwrap();

    let (s, zh) = api.call(Method::GET, "/audit/verify", reg, None).await;
    assert_eq!(s, StatusCode::OK, "{zh}");
    assert_eq!(zh["intact"], false, "{zh}");
    assert_eq!(zh["chain"]["Broken"]["seq"], last, "{zh}");
    assert_eq!(zh["chain"]["Broken"]["reason"], format!("第 {last} 条已被改动：其内容的哈希与记录的哈希不符"), "{zh}");
    let renamed = |v: &Value| {
        let d = v["differences"].as_array().unwrap().iter().find(|d| d["row"] == format!("plan {id}")).cloned();
        d.expect("the renamed plan")
    };
    assert_eq!(renamed(&zh)["table"], "plans", "{zh}");
    assert!(
        renamed(&zh)["message"].as_str().unwrap().starts_with("表中 name 为 'renamed'，审计日志记录的是 '"),
        "{zh}"
    );

    let (_, en) = api.call_in("en", Method::GET, "/audit/verify", reg, None).await;
    assert_eq!(
        en["chain"]["Broken"]["reason"],
        format!("entry {last} was altered: its content does not hash to its hash")
    );
    assert_eq!(renamed(&en)["table"], "plans", "{en}");
    assert!(
        renamed(&en)["message"]
            .as_str()
            .unwrap()
            .starts_with("name is 'renamed' in the table, the audit log recorded '"),
        "{en}"
    );
}

/// A beacon a plan does not name: why, in the request's language, with
/// the value as given.
#[tokio::test(flavor = "multi_thread")]
async fn beacon_refusal_details_speak_the_request_language() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let (id, secret) = api.plan("2026-07-01T09:00:00+08:00").await;
    let path = format!("/plans/{id}/reveal");
    let body = json!({ "secret": secret, "beacon": "abc" });
    let (s, zh) = api.call(Method::POST, &path, reg, Some(body.clone())).await;
    assert_error(s, &zh, StatusCode::UNPROCESSABLE_ENTITY, "beacon_refused");
    assert_eq!(zh["message"], format!("计划 {id}：随机信标被拒绝：计划未指定随机信标，却给出了信标值“abc”"), "{zh}");
    let (s, en) = api.call_in("en", Method::POST, &path, reg, Some(body)).await;
    assert_error(s, &en, StatusCode::UNPROCESSABLE_ENTITY, "beacon_refused");
    assert_eq!(
        en["message"],
        format!("plan {id}: beacon refused: the plan names no beacon, but the beacon value 'abc' was given"),
        "{en}"
    );
}

/// A credit code that is not one (the model's own check) and a rule set
/// whose rules.toml credo refuses: why, in the request's language.
#[tokio::test(flavor = "multi_thread")]
async fn model_and_manifest_refusals_speak_the_request_language() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let (s, zh) = api.call(Method::GET, "/runs/1/entities/9144", reg, None).await;
    assert_error(s, &zh, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(zh["message"], "“9144”不是有效的统一社会信用代码：必须是 18 个字符，实为 4 个", "{zh}");
    let (_, en) = api.call_in("en", Method::GET, "/runs/1/entities/9144", reg, None).await;
    assert_eq!(en["message"], "'9144' is not a valid credit code: must be 18 characters, found 4", "{en}");

    let mut bad = default_rules();
    let toml = bad["files"]["rules.toml"].as_str().unwrap().replace("min_ratio = 0.03", "min_ratio = 2.0");
    bad["files"]["rules.toml"] = json!(toml);
    let (s, zh) = send(&api, Method::POST, "/rules", &bad, None).await;
    assert_error(s, &zh, StatusCode::UNPROCESSABLE_ENTITY, "rule_error");
    assert!(zh["message"].as_str().unwrap().contains("rules.toml：draw.min_ratio 须在 0 到 1 之间，实为 2"), "{zh}");
    let (_, en) = send(&api, Method::POST, "/rules", &bad, Some("en")).await;
    assert!(
        en["message"].as_str().unwrap().contains("rules.toml: draw.min_ratio must be between 0 and 1, found 2"),
        "{en}"
    );
}
