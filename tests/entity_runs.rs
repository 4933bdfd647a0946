//! An entity's timeline on the server comes from the stored runs, not the
//! dataset (issues #9 and #14): it is served with the dataset gone, it is
//! what a full classification says, a changed results file or paths
//! sidecar is refused, and a date no run covers is refused naming the
//! dates that exist.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::api::{assert_error, setup};

/// The sample's blacklisted entity (严重失信), whose flag reaches others.
const BLACKLISTED: &str = "913706812026899267";

#[tokio::test(flavor = "multi_thread")]
async fn the_entity_endpoint_reads_the_runs_not_the_dataset() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    // A second run, earlier than the first (the sample's horizon).
    let (s, b) = api.call(Method::POST, "/runs", reg, Some(json!({ "as_of": "2025-12-31" }))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = b["id"].as_i64().unwrap();
    for _ in 0..300 {
        let (_, r) = api.call(Method::GET, &format!("/runs/{id}"), reg, None).await;
        if r["status"] != "running" {
            assert_eq!(r["status"], "done", "{r}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let first = api.state.store.run(1).unwrap().as_of;
    // The imported copy of the dataset is the only one the server reads.
    std::fs::remove_dir_all(&api.state.dataset.path).unwrap();

    // The latest run by default: its date only.
    let (s, t) = api.call(Method::GET, &format!("/entities/{BLACKLISTED}"), reg, None).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!((t["run"].as_i64(), t["as_of"].as_str()), (Some(id), Some("2025-12-31")), "{t}");
    assert_eq!(t["points"].as_array().unwrap().len(), 1, "{t}");

    // The first run's date: both points, oldest first, and its result.
    let (s, t) = api.call(Method::GET, &format!("/entities/{BLACKLISTED}?as_of={first}"), reg, None).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["run"], 1, "{t}");
    let points: Vec<(i64, &str)> = t["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["run"].as_i64().unwrap(), p["date"].as_str().unwrap()))
        .collect();
    assert_eq!(points, [(id, "2025-12-31"), (1, first.as_str())], "{t}");
    assert_eq!(t["result"]["tier"], 4, "{t}");
    assert_eq!(t["tier_name"], "严重失信", "{t}");
    assert!(t["explanation"].as_str().unwrap().contains("信用等级 4（严重失信）"), "{t}");
    assert!(!t["result"]["records"].as_array().unwrap().is_empty(), "{t}");
    assert!(t["result"]["records"][0]["status"].as_str().is_some_and(|s| !s.is_empty()), "{t}");
    assert_eq!(t["detail_stored"], true, "{t}");
    assert!(!t["flagged_persons"].as_array().unwrap().is_empty(), "{t}");
    // A reached entity shows the path that reached it.
    let reached = t["reached_from_here"][0]["uscc"].as_str().unwrap().to_string();
    let (s, r) = api.call(Method::GET, &format!("/entities/{reached}?as_of={first}"), reg, None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r["reached_by"].as_array().unwrap().iter().any(|p| p["source"] == BLACKLISTED), "{r}");

    // A date no run covers: refused, naming the dates that exist.
    let (s, b) = api.call(Method::GET, &format!("/entities/{BLACKLISTED}?as_of=2024-01-01"), reg, None).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(b["details"]["field"], "as_of", "{b}");
    let message = b["message"].as_str().unwrap();
    assert!(message.contains("2025-12-31") && message.contains(&first), "{b}");
}

/// What the run stored, rebuilt, is what classifying the dataset gives:
/// every entity's result (records and their statuses included) and its
/// explanation in both languages.
#[tokio::test(flavor = "multi_thread")]
async fn a_stored_timeline_is_what_the_classification_says() {
    let api = setup();
    let st = &api.state;
    let run = st.store.latest_run().unwrap().unwrap();
    let as_of = credo::data::table::parse_date(&run.as_of).unwrap();
    let (_, rules) = st.active_rules().unwrap();
    let loaded = st.load_dataset().unwrap();
    let (c, results) = credo::classify::classify_all(&loaded.snapshot, &rules, as_of).unwrap();
    let reader = st.results(run.id).unwrap();
    assert_eq!(reader.rows(), results.len());
    for want in &results {
        let stored = credo::ops::run_result(&reader, run.id, &want.uscc).unwrap();
        let (got, detail) = credo::ops::rebuild_result(&stored).unwrap();
        assert!(detail);
        assert_eq!(serde_json::to_value(&got).unwrap(), serde_json::to_value(want).unwrap(), "{}", want.uscc);
        for lang in [credo::i18n::Lang::Zh, credo::i18n::Lang::En] {
            assert_eq!(got.explanation_in(lang), want.explanation_in(lang), "{}", want.uscc);
        }
    }
    // Every path is kept once from its source and once at its end.
    let mut from = 0;
    let mut to = 0;
    let mut persons = 0;
    for want in &results {
        let p = reader.paths_of(want.uscc.as_str()).unwrap().unwrap();
        persons += p.flagged_persons.len();
        from += p.reached_from_here.len();
        to += p.reached_by.len();
    }
    assert!(!c.propagation.entities.is_empty());
    assert_eq!(
        (persons, from, to),
        (c.propagation.persons.len(), c.propagation.entities.len(), c.propagation.entities.len())
    );
}

/// A changed results file, or a changed paths sidecar, is refused on the
/// entity endpoint (409 altered), and named by the audit.
#[tokio::test(flavor = "multi_thread")]
async fn a_changed_results_file_is_refused_on_the_entity_endpoint() {
    let api = setup();
    let reg = Some(api.regulator.as_str());
    let auditor = api.token("auditor", None).await;
    let path = format!("/entities/{BLACKLISTED}");
    assert_eq!(api.call(Method::GET, &path, reg, None).await.0, StatusCode::OK);

    // The sidecar of paths: one byte of a reason.
    let sidecar = credo::store::results_dir(&api._dir.path().join("data/credo.db")).join("run-1.paths.jsonl");
    let text = std::fs::read_to_string(&sidecar).unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{{\"uscc\":\"{BLACKLISTED}\""))).unwrap();
    let at = text.find(line).unwrap() + line.find("\"reason\":\"").unwrap() + 10;
    let mut bytes = text.into_bytes();
    bytes[at] ^= 0x01;
    std::fs::write(&sidecar, &bytes).unwrap();
    let (s, b) = api.call(Method::GET, &path, reg, None).await;
    assert_error(s, &b, StatusCode::CONFLICT, "altered");
    assert!(
        b["message"].as_str().unwrap().contains("已被改动") && b["message"].to_string().contains("paths block"),
        "{b}"
    );
    // The audit names it, in Chinese by default (the block's detail is the
    // results module's, as written), in English on request.
    let (_, v) = api.call(Method::GET, "/audit/verify", Some(&auditor), None).await;
    assert_eq!(v["intact"], false, "{v}");
    let message = |v: &serde_json::Value| {
        let d = v["differences"].as_array().unwrap().iter().find(|d| d["table"] == "results_files").cloned();
        d.expect("a results file difference")["message"].as_str().unwrap().to_string()
    };
    let zh = message(&v);
    assert!(zh.starts_with("结果文件 ") && zh.contains(" 已被改动：paths block "), "{v}");
    let (_, v) = api.call_in("en", Method::GET, "/audit/verify", Some(&auditor), None).await;
    let en = message(&v);
    assert!(en.starts_with("results file ") && en.contains(" was altered: paths block "), "{v}");
    bytes[at] ^= 0x01;
    std::fs::write(&sidecar, &bytes).unwrap();
    assert_eq!(api.call(Method::GET, &path, reg, None).await.0, StatusCode::OK);

    // The results file: a byte of its (only) row group.
    let results = credo::store::results_dir(&api._dir.path().join("data/credo.db")).join("run-1.parquet");
    let mut bytes = std::fs::read(&results).unwrap();
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x55;
    std::fs::write(&results, &bytes).unwrap();
    let (s, b) = api.call(Method::GET, &path, reg, None).await;
    assert_error(s, &b, StatusCode::CONFLICT, "altered");
}

/// A restart of a server with a finished run reads only the officer
/// roster, not the dataset (#9: a province-sized server restarts in
/// seconds and stays small); dataset-wide work still reads the dataset
/// and names what is missing.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_reads_only_the_roster() {
    let api = setup();
    let dir = &api.state.dataset.path;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_str().unwrap().starts_with("officers.") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let opts = credo::api::ServeOptions {
        data_dir: api._dir.path().join("data"),
        listen: String::new(),
        dataset: crate::common::sample(),
        rules: crate::common::root().join("rules"),
        as_of: None,
    };
    let (state, token) = credo::api::prepare(&opts).expect("a restart needs only the roster");
    assert!(token.is_none(), "not a first start");
    assert_eq!(state.dataset.hash, api.state.dataset.hash);
    assert_eq!(state.dataset.officers.len(), api.state.dataset.officers.len());
    assert!(!state.dataset.officers.is_empty());
    let err = state.load_dataset().err().expect("the dataset is gone");
    assert_eq!((err.status, err.code), (StatusCode::CONFLICT, "dataset_unavailable"));
    let message = format!("{:?}", err.message);
    assert!(message.contains("entities"), "{message}");
}
