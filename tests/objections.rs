//! Issue #13, item 7: objections to records (异议申诉), through the CLI and
//! the API. While an objection is open the rules see the record as
//! disputed (by default it does not count); a regulator upholds or rejects
//! it; every step is audited and shows in the entity's timeline; a
//! classification as of a date sees the objection as it stood then.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::api::{assert_error, setup};
use crate::common::*;

/// An entity of the sample whose one record is a serious penalty
/// (tier 4 until 2028-07-08).
const ENTITY: &str = "92370832MA99C1K82N";
const RECORD: &str = "济宁市监罚〔2025〕118176号";

fn show(s: &StoreDir, as_of: &str) -> String {
    let data = sample();
    s.ok(&["entity", "show", ENTITY, "--data", data.to_str().unwrap(), "--as-of", as_of])
}

fn tier_on(out: &str, date: &str) -> String {
    let line = out.lines().find(|l| l.trim_start().starts_with(date)).unwrap_or_else(|| panic!("{date}: {out}"));
    line.split_whitespace().nth(2).unwrap().to_string()
}

#[test]
fn a_disputed_record_does_not_count_until_the_objection_is_rejected() {
    let s = StoreDir::new();
    let data = sample();
    let data = data.to_str().unwrap();
    // Filing opens the store; the entity is tier 4 before.
    assert_eq!(tier_on(&show(&s, "2026-06-30"), "2026-06-30"), "4");
    let filed = s.ok(&[
        "objection",
        "file",
        ENTITY,
        "--record",
        RECORD,
        "--reason",
        "the decision was annulled on review",
        "--filed-on",
        "2026-01-10",
        "--data",
        data,
    ]);
    assert!(filed.contains("open") && filed.contains(RECORD), "{filed}");

    let out = show(&s, "2026-06-30");
    assert_eq!(tier_on(&out, "2026-06-30"), "1", "{out}");
    assert_eq!(tier_on(&out, "2025-12-31"), "4", "before the objection was filed: {out}");
    assert!(out.contains("disputed") && out.contains("objections"), "{out}");
    assert!(out.contains("the decision was annulled on review"), "{out}");

    // A second objection to the same record while the first is open.
    let again = s.run(&["objection", "file", ENTITY, "--record", RECORD, "--reason", "x", "--data", data]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("already disputed by objection 1"), "{}", stderr(&again));
    // A record the entity does not have, a date in the future, before the record.
    for (args, want) in [
        (vec!["--record", "NO-SUCH", "--reason", "x"], "record_id: 92370832MA99C1K82N has no record 'NO-SUCH'"),
        (
            vec!["--record", RECORD, "--reason", "x", "--filed-on", "2099-01-01"],
            "filed_on: 2099-01-01 is in the future",
        ),
        (
            vec!["--record", RECORD, "--reason", "x", "--filed-on", "2025-01-01"],
            "filed_on: 2025-01-01 is before record",
        ),
        (vec!["--record", RECORD, "--reason", "  "], "reason: must not be empty"),
    ] {
        let mut all = vec!["objection", "file", ENTITY, "--data", data];
        all.extend(args);
        let o = s.run(&all);
        assert_eq!(o.status.code(), Some(2), "{all:?}");
        assert!(stderr(&o).contains(want), "{all:?}: {}", stderr(&o));
    }

    let early =
        s.run(&["objection", "decide", "1", "--outcome", "rejected", "--reason", "x", "--decided-on", "2026-01-01"]);
    assert_eq!(early.status.code(), Some(2));
    assert!(stderr(&early).contains("decided_on: 2026-01-01 is before objection 1 was filed"), "{}", stderr(&early));
    let decided = s.ok(&[
        "objection",
        "decide",
        "1",
        "--outcome",
        "rejected",
        "--reason",
        "the review upheld the decision",
        "--decided-on",
        "2026-02-01",
    ]);
    assert!(decided.contains("rejected") && decided.contains("the review upheld the decision"), "{decided}");
    let twice = s.run(&["objection", "decide", "1", "--outcome", "upheld", "--reason", "x"]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(stderr(&twice).contains("objection 1 was already rejected on 2026-02-01"), "{}", stderr(&twice));
    let missing = s.run(&["objection", "decide", "7", "--outcome", "upheld", "--reason", "x"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("objection 7 not found"), "{}", stderr(&missing));

    // Rejected: the penalty counts again; as of a date while it was open,
    // it was disputed.
    assert_eq!(tier_on(&show(&s, "2026-06-30"), "2026-06-30"), "4");
    let then = show(&s, "2026-01-20");
    assert_eq!(tier_on(&then, "2026-01-20"), "1", "{then}");
    assert!(!then.contains("the review upheld the decision"), "not decided yet on that date: {then}");

    let list: serde_json::Value = serde_json::from_str(&s.ok(&["objection", "list", "--json"])).unwrap();
    assert_eq!(list[0]["status"], "rejected", "{list}");
    assert_eq!(list[0]["filed_by"], "cli", "{list}");
    assert_eq!(s.ok(&["objection", "list", "--status", "open"]).trim(), "");
    let zh = credo_default_lang(&["--store", &s.store(), "objection", "list"]);
    assert!(stdout(&zh).contains("异议不成立"), "{}", stdout(&zh));

    // Audited, and the store still verifies.
    let log = s.ok(&["audit", "log", "--subject", "objection/1"]);
    assert!(log.contains("objection.file") && log.contains("objection.decide"), "{log}");
    let out = s.ok(&["audit", "verify"]);
    assert!(out.contains("1 objections"), "{out}");

    // The objections table edited beside the log: audit verify names the
    // row, the column and the entry that says what it must be.
    let db = rusqlite::Connection::open(s.store()).unwrap();
    db.execute("UPDATE objections SET status = 'upheld' WHERE id = 1", []).unwrap();
    let o = s.run(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(
            "first: objections: objection 1: status is 'upheld' in the table, the audit log recorded 'rejected' (audit entry"
        ),
        "{}",
        stdout(&o)
    );
    db.execute("UPDATE objections SET status = 'rejected' WHERE id = 1", []).unwrap();
    s.ok(&["audit", "verify"]);
    db.execute(
        "INSERT INTO objections (uscc, record_id, region, reason, filed_on, filed_at, filed_by, status)
         SELECT uscc, record_id, region, 'smuggled in', filed_on, filed_at, filed_by, 'open' FROM objections WHERE id = 1",
        [],
    )
    .unwrap();
    let o = s.run(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("objections: objection 2: the objection has no audit entry: it was added outside credo"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn objections_through_the_api() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let auditor = api.token("auditor", None).await;
    let body = json!({ "uscc": ENTITY, "record_id": RECORD, "reason": "wrong entity", "filed_on": "2026-01-10" });

    let (s, b) = api.call(Method::POST, "/objections", Some(&auditor), Some(body.clone())).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = api
        .call(Method::POST, "/objections", reg, Some(json!({ "uscc": "123", "record_id": RECORD, "reason": "x" })))
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(b["details"]["field"], "uscc", "{b}");
    let (s, b) = api
        .call(Method::POST, "/objections", reg, Some(json!({ "uscc": ENTITY, "record_id": "NO-SUCH", "reason": "x" })))
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(b["details"]["field"], "record_id", "{b}");

    let (s, b) = api.call(Method::POST, "/objections", reg, Some(body.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = b["id"].as_i64().unwrap();
    assert_eq!(b["status"], "open", "{b}");
    let (s, b) = api.call(Method::POST, "/objections", reg, Some(body)).await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");

    let (s, b) = api.call(Method::GET, &format!("/objections?uscc={ENTITY}"), Some(&auditor), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b.as_array().unwrap().len(), 1, "{b}");
    let (s, b) = api.call(Method::GET, "/objections?status=pending", reg, None).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    // The timeline shows the stored runs: the first run's tier 4 with the
    // objection open beside it, until a run sees the disputed record.
    let (s, b) = api.call(Method::GET, &format!("/entities/{ENTITY}?as_of=2026-06-30"), reg, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["run"].as_i64(), b["result"]["tier"].as_i64()), (Some(1), Some(4)), "{b}");
    assert_eq!(b["objections"][0]["status"], "open", "{b}");
    let (s, r) = api.call(Method::POST, "/runs", reg, Some(json!({ "as_of": "2026-06-30" }))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    for _ in 0..300 {
        let (_, r) = api.call(Method::GET, &format!("/runs/{}", r["id"]), reg, None).await;
        if r["status"] != "running" {
            assert_eq!(r["status"], "done", "{r}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (s, b) = api.call(Method::GET, &format!("/entities/{ENTITY}?as_of=2026-06-30"), reg, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["run"].as_i64(), b["result"]["tier"].as_i64()), (Some(2), Some(1)), "{b}");
    assert_eq!(b["objections"][0]["status"], "open", "{b}");

    let decide = json!({ "outcome": "upheld", "reason": "confirmed by the county bureau", "decided_on": "2026-02-01" });
    let (s, b) =
        api.call(Method::POST, &format!("/objections/{id}/decide"), Some(&auditor), Some(decide.clone())).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = api
        .call(
            Method::POST,
            &format!("/objections/{id}/decide"),
            reg,
            Some(json!({ "outcome": "maybe", "reason": "x" })),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (s, b) = api.call(Method::POST, &format!("/objections/{id}/decide"), reg, Some(decide.clone())).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "upheld", "{b}");
    let (s, b) = api.call(Method::POST, &format!("/objections/{id}/decide"), reg, Some(decide)).await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    let (s, b) = api.call(Method::GET, "/objections/999", reg, None).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");

    // Upheld: the record stands corrected, and the timeline shows both steps.
    let (_, b) = api.call(Method::GET, &format!("/entities/{ENTITY}?as_of=2026-06-30"), reg, None).await;
    assert_eq!(b["result"]["tier"], 1, "{b}");
    assert_eq!(b["objections"][0]["status"], "upheld", "{b}");
    assert_eq!(b["objections"][0]["decision_reason"], "confirmed by the county bureau", "{b}");
    let (_, b) = api.call(Method::GET, &format!("/audit?subject=objection/{id}"), reg, None).await;
    let actions: Vec<&str> = b.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["objection.file", "objection.decide"], "{b}");
}

/// An entity's agent is a principal of its own: it files objections to
/// its entity's records (201), not to another entity's (403), and decides
/// nothing (403).
#[tokio::test(flavor = "multi_thread")]
async fn an_entitys_agent_files_objections_for_its_own_entity_only() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let (s, t) = api
        .call(Method::POST, "/tokens", reg, Some(json!({ "role": "agent", "uscc": ENTITY, "label": "agent" })))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["principal"]["role"], "agent", "{t}");
    assert_eq!(t["principal"]["entity"], ENTITY, "{t}");
    let agent = t["token"].as_str().unwrap().to_string();
    // An agent token names its entity; no other token does.
    let (s, b) = api.call(Method::POST, "/tokens", reg, Some(json!({ "role": "agent" }))).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(b["details"]["field"], "uscc", "{b}");
    let (s, b) = api.call(Method::POST, "/tokens", reg, Some(json!({ "role": "auditor", "uscc": ENTITY }))).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    let body = json!({ "uscc": ENTITY, "record_id": RECORD, "reason": "paid in full", "filed_on": "2026-01-10" });
    let (s, b) = api.call(Method::POST, "/objections", Some(&agent), Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert!(b["filed_by"].as_str().unwrap().starts_with("agent:"), "{b}");
    let id = b["id"].as_i64().unwrap();

    let other = json!({ "uscc": "914403001922038216", "record_id": "X", "reason": "not ours" });
    let (s, b) = api.call(Method::POST, "/objections", Some(&agent), Some(other)).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    assert!(b["message"].as_str().unwrap().contains(ENTITY), "{b}");

    let decide = json!({ "outcome": "upheld", "reason": "mine", "decided_on": "2026-02-01" });
    let (s, b) = api.call(Method::POST, &format!("/objections/{id}/decide"), Some(&agent), Some(decide)).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    for p in ["/objections", "/runs", "/plans", &format!("/entities/{ENTITY}")] {
        let (s, b) = api.call(Method::GET, p, Some(&agent), None).await;
        assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    }
    let (_, b) = api.call(Method::GET, &format!("/objections/{id}"), reg, None).await;
    assert_eq!(b["status"], "open", "the agent's objection awaits a regulator: {b}");
}
