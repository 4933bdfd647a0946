//! Issue #13, item 8: rule versions with effective dates. A version can be
//! scheduled ("new rules from 2027-01-01"); a classification as of a date
//! uses the version in force on it unless one is named, and the run
//! records which version and why.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::api::{assert_error, setup};
use crate::common::*;

/// The default rules under another version label (a different hash).
fn rules_2027() -> tempfile::TempDir {
    let dir = copy_dir(&root().join("rules"));
    let toml = dir.path().join("rules.toml");
    let text = relabel_rules(&std::fs::read_to_string(&toml).unwrap(), "2027.1");
    std::fs::write(&toml, text).unwrap();
    dir
}

#[test]
fn a_scheduled_rule_version_is_used_from_its_effective_date() {
    let s = StoreDir::new();
    let next = rules_2027();
    let rules = root().join("rules");
    let out = s.ok(&["rules", "versions", "add", "--rules", rules.to_str().unwrap(), "--activate"]);
    assert!(out.contains("rule version 1") && out.contains("active"), "{out}");
    let out = s.ok(&["rules", "versions", "add", "--rules", next.path().to_str().unwrap(), "--from", "2027-01-01"]);
    assert!(out.contains("rule version 2") && out.contains("in force from 2027-01-01"), "{out}");

    let out = s.ok(&["rules", "versions", "list", "--on", "2026-12-31"]);
    assert!(out.contains("on 2026-12-31: rule version 1, active (none scheduled for 2026-12-31)"), "{out}");
    let out = s.ok(&["rules", "versions", "list", "--on", "2027-01-01"]);
    assert!(out.contains("on 2027-01-01: rule version 2, in force on 2027-01-01 (effective from 2027-01-01)"), "{out}");

    let data = sample();
    let classify = |as_of: &str, version: &str| {
        let out_file = s.path(&format!("out-{as_of}-{version}.csv"));
        s.ok(&[
            "classify",
            "--data",
            data.to_str().unwrap(),
            "--as-of",
            as_of,
            "--rule-version",
            version,
            "--out",
            &out_file,
        ])
    };
    let out = classify("2027-01-01", "in-force");
    assert!(out.contains("rule version 2: in force on 2027-01-01 (effective from 2027-01-01)"), "{out}");
    assert!(out.contains("2027.1"), "{out}");
    let out = classify("2026-06-30", "in-force");
    assert!(out.contains("rule version 1: active (none scheduled for 2026-06-30)"), "{out}");
    let out = classify("2027-03-01", "1");
    assert!(out.contains("rule version 1: named") && out.contains("2026.2"), "{out}");

    // Bounded: from 2027-01-01 until 2027-06-30 (exclusive).
    s.ok(&["rules", "versions", "schedule", "2", "--from", "2027-01-01", "--until", "2027-06-30"]);
    let out = s.ok(&["rules", "versions", "list", "--on", "2027-06-30"]);
    assert!(out.contains("on 2027-06-30: rule version 1, active"), "{out}");

    let bad = s.run(&["rules", "versions", "schedule", "2", "--from", "2027-01-01", "--until", "2026-01-01"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("effective_until: 2026-01-01 is not after effective_from 2027-01-01"),
        "{}",
        stderr(&bad)
    );
    let bad = s.run(&["rules", "versions", "schedule", "9", "--from", "2027-01-01"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("rule version 9 not found"), "{}", stderr(&bad));
    let out_file = s.path("x.csv");
    let bad = s.run(&[
        "classify",
        "--data",
        data.to_str().unwrap(),
        "--as-of",
        "2026-06-30",
        "--rule-version",
        "latest",
        "--out",
        &out_file,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--rule-version: 'latest'"), "{}", stderr(&bad));

    let log = s.ok(&["audit", "log", "--subject", "rules/2"]);
    assert!(log.contains("rules.schedule") && log.contains("2027-06-30"), "{log}");
    s.ok(&["audit", "verify"]);

    // A run's rule version and choice edited beside the log: audit verify
    // names each against the run.rules entry.
    let db = rusqlite::Connection::open(s.store()).unwrap();
    db.execute("UPDATE runs SET rule_version = 1, rule_choice = 'named' WHERE id = 1", []).unwrap();
    let o = s.run(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("first: runs: run 1: rule_version is '1' in the table, the audit log recorded '2' (audit entry"),
        "{out}"
    );
    assert!(
        out.contains(
            "runs: run 1: rule_choice is 'named' in the table, the audit log recorded 'in force on 2027-01-01"
        ),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_use_the_rule_version_in_force_on_their_date() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let dir = rules_2027();
    let src = credo::data::rules::read_rule_dir(dir.path()).unwrap();
    let (s, b) = api.call(Method::POST, "/rules", reg, Some(json!({ "files": src.files }))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = b["id"].as_i64().unwrap();

    let auditor = api.token("auditor", None).await;
    let schedule = json!({ "effective_from": "2027-01-01" });
    let (s, b) = api.call(Method::POST, &format!("/rules/{id}/schedule"), Some(&auditor), Some(schedule.clone())).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = api
        .call(
            Method::POST,
            &format!("/rules/{id}/schedule"),
            reg,
            Some(json!({ "effective_from": "2027-01-01", "effective_until": "2027-01-01" })),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(b["details"]["field"], "effective_until", "{b}");
    let (s, b) = api.call(Method::POST, "/rules/99/schedule", reg, Some(schedule.clone())).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = api.call(Method::POST, &format!("/rules/{id}/schedule"), reg, Some(schedule)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["effective_from"], "2027-01-01", "{b}");
    let (s, b) = api.call(Method::GET, "/rules/schedule", Some(&auditor), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b.as_array().unwrap().len(), 2, "{b}");

    let run = |as_of: &'static str, rules: Option<i64>| {
        let api = &api;
        async move {
            let (s, b) = api.call(Method::POST, "/runs", reg, Some(json!({ "as_of": as_of, "rules": rules }))).await;
            assert_eq!(s, StatusCode::ACCEPTED, "{b}");
            b
        }
    };
    let b = run("2027-02-01", None).await;
    assert_eq!(b["rule_version"], id, "{b}");
    assert_eq!(b["rule_choice"], "in force on 2027-02-01 (effective from 2027-01-01)", "{b}");
    let b = run("2026-06-30", None).await;
    assert_eq!(b["rule_version"], 1, "{b}");
    assert_eq!(b["rule_choice"], "active (none scheduled for 2026-06-30)", "{b}");
    let b = run("2027-02-01", Some(1)).await;
    assert_eq!(b["rule_version"], 1, "{b}");
    assert_eq!(b["rule_choice"], "named", "{b}");
}
