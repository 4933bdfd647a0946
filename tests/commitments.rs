//! Issue #13 item 4: a commitment belongs to a department and an approval
//! item. Only that department's commitment-check result settles it, and a
//! breach revokes the approval it stood in for: recorded once, audited,
//! and shown in the entity's timeline. Through the API, on a copy of the
//! sample where every entity made a pending MPA commitment.

use axum::http::{Method, StatusCode};
use credo::api::{self, ServeOptions};
use serde_json::{Value, json};

use crate::api::Api;
use crate::common::*;

/// The sample with one more pending approval-substitute commitment per
/// entity, made to MPA for a drug licence: `CNMPA<uscc>`.
fn dataset_with_mpa_commitments() -> tempfile::TempDir {
    let dir = copy_dir(&sample());
    let entities = std::fs::read_to_string(dir.path().join("entities.csv")).unwrap();
    let path = dir.path().join("commitments.csv");
    let mut text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("commitment_id,uscc,kind,made_on,subject,status,checked_on,department,approval_item\n"));
    for line in entities.lines().skip(1) {
        let uscc = line.split(',').next().unwrap();
        text.push_str(&format!(
            "CNMPA{uscc},{uscc},approval_substitute,2026-06-01,药许〔2026〕1号,pending,,MPA,药品经营许可\n"
        ));
    }
    std::fs::write(&path, text).unwrap();
    dir
}

fn serve(dataset: &std::path::Path) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let opts = ServeOptions {
        data_dir: dir.path().join("data"),
        listen: String::new(),
        dataset: dataset.to_path_buf(),
        rules: root().join("rules"),
        as_of: None,
    };
    let (state, token) = api::prepare(&opts).unwrap();
    Api { _dir: dir, state, regulator: token.expect("first start makes a regulator token") }
}

/// The MPA commitment of `uscc` as of 2026-07-31 in the entity's full
/// timeline (what `credo entity show` prints: the dataset with officers'
/// results, and the store's revocations), and the revocations of that
/// commitment.
fn timeline(api: &Api, uscc: &str) -> (Value, Vec<Value>) {
    timeline_as_of(api, uscc, "2026-07-31")
}

fn timeline_as_of(api: &Api, uscc: &str, as_of: &str) -> (Value, Vec<Value>) {
    let loaded = api.state.load_dataset().map_err(|e| e.message.en().to_string()).unwrap();
    let (_, rules) = api.state.active_rules().map_err(|e| e.message.en().to_string()).unwrap();
    let (u, d) = (credo::model::Uscc::parse(uscc).unwrap(), as_of.parse().unwrap());
    let mut t = credo::ops::entity_timeline(&loaded.snapshot, &rules, u, d, credo::i18n::Lang::En)
        .map_err(|e| e.to_string())
        .unwrap();
    credo::ops::add_revocations(&api.state.store, &mut t).map_err(|e| e.to_string()).unwrap();
    let t = serde_json::to_value(&t).unwrap();
    let id = format!("CNMPA{uscc}");
    let c = t["commitments"].as_array().unwrap().iter().find(|c| c["commitment_id"] == id).expect("the commitment");
    let revoked = t["revocations"].as_array().unwrap().iter().filter(|r| r["commitment_id"] == id).cloned().collect();
    (c.clone(), revoked)
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_commitments_department_settles_it_and_a_breach_revokes_the_approval() {
    let data = dataset_with_mpa_commitments();
    let api = serve(data.path());
    let reg = Some(api.regulator.as_str());
    let (s, p) = api
        .call(
            Method::POST,
            "/plans",
            reg,
            Some(json!({ "name": "commitments", "kind": "commitment_check", "departments": ["MR", "MPA"], "run": 1,
                "release_at": "2026-07-01T09:00:00+08:00" })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let id = p["id"].as_i64().unwrap();
    let (s, b) =
        api.call(Method::POST, &format!("/plans/{id}/reveal"), reg, Some(json!({ "secret": p["secret"] }))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, visits) = api.call(Method::GET, &format!("/plans/{id}/visits"), reg, None).await;
    // A visit with both departments' items and officers.
    let visit = visits
        .as_array()
        .unwrap()
        .iter()
        .find(|v| {
            let (items, officers) = (v["items"].to_string(), v["officers"].to_string());
            v["unstaffed"].is_null()
                && items.contains("\"MR\"")
                && items.contains("\"MPA\"")
                && officers.contains("\"MR-")
                && officers.contains("\"MPA-")
        })
        .expect("a joint MR and MPA visit")
        .clone();
    let uscc = visit["uscc"].as_str().unwrap().to_string();
    let officer = |d: &str| {
        visit["officers"].as_array().unwrap().iter().map(|o| o.as_str().unwrap()).find(|o| o.starts_with(d)).unwrap()
    };
    let (mr, mpa) =
        (api.token("officer", Some(officer("MR-"))).await, api.token("officer", Some(officer("MPA-"))).await);
    let path = format!("/officers/me/assignments/{id}/{}/result", visit["seq"]);
    let breached = |d: &str| json!({ "department": d, "result": "violation", "commitment_status": "breached", "inspected_on": "2026-07-05" });
    let (c, revoked) = timeline(&api, &uscc);
    assert_eq!((c["status"].as_str(), c["department"].as_str()), (Some("pending"), Some("MPA")), "{c}");
    assert!(revoked.is_empty());

    // MR finds a breach: MPA's commitment is not MR's to settle.
    let (s, b) = api.call(Method::POST, &path, Some(&mr), Some(breached("MR"))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (c, revoked) = timeline(&api, &uscc);
    assert_eq!(c["status"], "pending", "settled by another department's result: {c}");
    assert!(revoked.is_empty(), "{revoked:?}");

    // MPA finds it breached: settled, and the drug licence is revoked.
    let (s, b) = api.call(Method::POST, &path, Some(&mpa), Some(breached("MPA"))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let result_id = b["id"].as_i64().unwrap();
    let (c, revoked) = timeline(&api, &uscc);
    assert_eq!((c["status"].as_str(), c["checked_on"].as_str()), (Some("breached"), Some("2026-07-05")), "{c}");
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    let r = &revoked[0];
    assert_eq!(r["approval_item"], "药品经营许可", "{r}");
    assert_eq!(r["department"], "MPA", "{r}");
    assert_eq!(
        (r["plan_id"].as_i64(), r["seq"].as_i64(), r["result_id"].as_i64()),
        (Some(id), visit["seq"].as_i64(), Some(result_id))
    );
    assert_eq!(r["revoked_on"], "2026-07-05");
    assert_eq!(r["recorded_by"], format!("officer:{}", officer("MPA-")));
    // Not yet revoked on an earlier date.
    assert!(timeline_as_of(&api, &uscc, "2026-07-04").1.is_empty());
    // The API's entity timeline (from the runs) shows it once a run covers
    // the date.
    let (s, b) = api.call(Method::POST, "/runs", reg, Some(json!({ "as_of": "2026-07-31" }))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let run = b["id"].as_i64().unwrap();
    for _ in 0..600 {
        let (_, r) = api.call(Method::GET, &format!("/runs/{run}"), reg, None).await;
        if r["status"] != "running" {
            assert_eq!(r["status"], "done", "{r}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (s, t) = api.call(Method::GET, &format!("/entities/{uscc}?as_of=2026-07-31"), reg, None).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    // Only this commitment's revocation: the drawn entity may have made
    // other MPA commitments in the sample, which the same breach settles.
    let mpa_id = format!("CNMPA{uscc}");
    let listed: Vec<&Value> =
        t["revocations"].as_array().unwrap().iter().filter(|r| r["commitment_id"] == mpa_id.as_str()).collect();
    assert_eq!(listed.len(), 1, "{t}");
    assert_eq!(listed[0]["approval_item"], "药品经营许可");

    // Filed again: refused, and nothing is revoked twice.
    let (s, b) = api.call(Method::POST, &path, Some(&mpa), Some(breached("MPA"))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(timeline(&api, &uscc).1.len(), 1);

    // Audited under the officer, and the store still verifies.
    let subject = format!("revocation/{}", r["id"]);
    let (_, log) = api.call(Method::GET, &format!("/audit?subject={subject}"), reg, None).await;
    let entries = log.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(entries[0]["action"], "approval.revoke");
    assert_eq!(entries[0]["actor"], format!("officer:{}", officer("MPA-")));
    let auditor = api.token("auditor", None).await;
    let (_, v) = api.call(Method::GET, "/audit/verify", Some(&auditor), None).await;
    assert_eq!(v["intact"], true, "{v}");
    assert!(v["checked"]["approval revocations"].as_u64() >= Some(1), "{v}");
}
