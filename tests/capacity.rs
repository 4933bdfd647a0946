//! Issue #13, item 9: capacity planning. `credo plan preview` and `POST
//! /plans/preview` show a draft plan's expected visits per county ×
//! department against the active qualified officers and their caps, and
//! flag what cannot be staffed, before anything is committed.

use serde_json::{Value, json};

use crate::api::{http, http_with, setup};
use crate::common::*;

const AS_OF: &str = "2026-06-30";

fn preview(s: &StoreDir, data: &str, rules: &str, extra: &[&str]) -> std::process::Output {
    preview_in(credo, s, data, rules, extra)
}

/// [`preview`] run by `credo` ([`credo`] in English, or
/// [`credo_default_lang`]).
fn preview_in(
    credo: fn(&[&str]) -> std::process::Output,
    s: &StoreDir,
    data: &str,
    rules: &str,
    extra: &[&str],
) -> std::process::Output {
    let store = s.store();
    let mut args = vec!["--store", &store, "plan", "preview", "--data", data, "--rules", rules, "--as-of", AS_OF];
    args.extend(extra);
    credo(&args)
}

/// The row of a county and department in the preview's table.
fn row<'a>(out: &'a str, county: &str, dept: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(county) && l.contains(&format!(" | {dept} | ")))
        .unwrap_or_else(|| panic!("no row {county} {dept}: {out}"))
}

#[test]
fn plan_preview_flags_unstaffable_cells_and_passes_a_staffable_plan() {
    let s = StoreDir::new();
    let (data, rules) = (sample(), root().join("rules"));
    let (data, rules) = (data.to_str().unwrap(), rules.to_str().unwrap());

    // Emergency management's plan can be staffed everywhere: exit 0, and
    // in Chinese by default.
    let zh = preview_in(credo_default_lang, &s, data, rules, &["--departments", "EM"]);
    assert_eq!(zh.status.code(), Some(0), "{}{}", stdout(&zh), stderr(&zh));
    let out = stdout(&zh);
    assert!(out.contains("计划人力预估（尚未提交）"), "{out}");
    assert!(out.contains("所有区县×部门均可配备执法人员"), "{out}");
    assert!(row(&out, "370102 历下区", "EM").ends_with("可配备"), "{out}");

    // Market regulation's officers in Jinan are not all qualified for
    // every item an expected visit of 历下区 needs: flagged, exit 1.
    let mr = preview(&s, data, rules, &["--departments", "MR"]);
    assert_eq!(mr.status.code(), Some(1), "{}{}", stdout(&mr), stderr(&mr));
    let out = stdout(&mr);
    assert!(
        row(&out, "370102", "MR").ends_with("not qualified: no active officer is qualified for the items"),
        "{out}"
    );
    assert!(out.contains("cannot be staffed: "), "{out}");

    // Caps: at most 2 visits per officer and plan leaves Jinan's EM
    // officers (6 × 2 = 12 officer-visits) short of what it needs.
    let tight = copy_dir(&root().join("rules"));
    let toml = tight.path().join("rules.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("max_visits_per_officer = 30"));
    std::fs::write(&toml, text.replace("max_visits_per_officer = 30", "max_visits_per_officer = 2")).unwrap();
    let capped = preview(&s, data, tight.path().to_str().unwrap(), &["--departments", "EM"]);
    assert_eq!(capped.status.code(), Some(1), "{}", stdout(&capped));
    let out = stdout(&capped);
    let jinan = row(&out, "370102", "EM");
    assert!(jinan.ends_with("over cap: the expected visits exceed the officers' per-plan caps"), "{jinan}");
    assert!(jinan.contains(" | 6 | 6 | ") && jinan.contains(" | 12 | "), "6 officers, capacity 6 × 2: {jinan}");

    // No officer: every EM officer of Jinan inactive.
    let dir = copy_dir(&sample());
    let officers = dir.path().join("officers.csv");
    let text: Vec<String> = std::fs::read_to_string(&officers)
        .unwrap()
        .lines()
        .map(|l| if l.starts_with("EM-370100-") { l.replace(",true,", ",false,") } else { l.to_string() })
        .collect();
    std::fs::write(&officers, text.join("\n") + "\n").unwrap();
    let none = preview(&s, dir.path().to_str().unwrap(), rules, &["--departments", "EM"]);
    assert_eq!(none.status.code(), Some(1), "{}", stdout(&none));
    let out = stdout(&none);
    let jinan = row(&out, "370102", "EM");
    assert!(jinan.ends_with("no officer: no active officer of the department serves the area"), "{jinan}");
    assert!(row(&out, "370202", "EM").ends_with("staffable"), "Qingdao keeps its officers: {out}");

    // JSON: machine codes, and nothing was committed or recorded.
    let json: Value = serde_json::from_str(&stdout(&preview(
        &s,
        dir.path().to_str().unwrap(),
        rules,
        &["--departments", "EM", "--json"],
    )))
    .unwrap();
    let cell = json["cells"].as_array().unwrap().iter().find(|c| c["county"] == 370102).unwrap();
    assert_eq!(cell["shortfall"], "no_officer", "{cell}");
    assert_eq!(cell["officers"], 0, "{cell}");
    assert_eq!(s.ok(&["draw", "list"]).trim(), "", "a preview creates no plan");

    // A bad request is refused with its reason.
    let bad = preview(&s, data, rules, &["--departments", "XX"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("department 'XX' is not in the dataset"), "{}", stderr(&bad));
    // In the regulators' language by default (#13).
    let zh = preview_in(credo_default_lang, &s, data, rules, &["--departments", "XX"]);
    assert_eq!(zh.status.code(), Some(2));
    assert!(stderr(&zh).contains("部门 'XX' 不在数据集中"), "{}", stderr(&zh));
    assert!(!stderr(&zh).contains("is not in the dataset"), "{}", stderr(&zh));
}

#[test]
fn plan_preview_over_a_real_server() {
    let api = setup();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = credo::api::app(api.state.clone());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let reg = Some(api.regulator.as_str());
    let body = |dept: &str| {
        json!({ "name": "draft", "kind": "random", "departments": [dept], "run": 1,
            "release_at": "2026-07-01T09:00:00+08:00" })
    };

    let (s, ok) = http(&addr, "POST", "/plans/preview", reg, Some(&body("EM")));
    assert_eq!(s, 200, "{ok}");
    assert_eq!(ok["staffable"], true, "{ok}");
    assert_eq!(ok["unstaffable"], 0, "{ok}");
    let cells = ok["cells"].as_array().unwrap();
    assert!(!cells.is_empty() && cells.iter().all(|c| c["shortfall"].is_null() && c["reason"].is_null()), "{ok}");
    assert!(ok["expected_visits"].as_f64().unwrap() > 0.0, "{ok}");

    let (s, bad) = http(&addr, "POST", "/plans/preview", reg, Some(&body("MR")));
    assert_eq!(s, 200, "{bad}");
    assert_eq!(bad["staffable"], false, "{bad}");
    let flagged: Vec<&Value> = bad["cells"].as_array().unwrap().iter().filter(|c| !c["shortfall"].is_null()).collect();
    assert_eq!(flagged.len() as u64, bad["unstaffable"].as_u64().unwrap(), "{bad}");
    let cell = flagged.iter().find(|c| c["shortfall"] == "not_qualified").expect("a cell nobody is qualified for");
    assert!(cell["reason"].as_str().unwrap().starts_with("无检查资格"), "zh-CN by default: {cell}");
    let (_, en) = http_with(&addr, "POST", "/plans/preview", reg, Some(&body("MR")), "Accept-Language: en\r\n");
    let cell = en["cells"].as_array().unwrap().iter().find(|c| c["shortfall"] == "not_qualified").unwrap();
    assert!(cell["reason"].as_str().unwrap().starts_with("not qualified"), "{cell}");

    // Regulators only; bad requests as for plan creation; nothing stored.
    let (s, t) = http(&addr, "POST", "/tokens", reg, Some(&json!({ "role": "auditor" })));
    assert_eq!(s, 201, "{t}");
    let (s, b) = http(&addr, "POST", "/plans/preview", t["token"].as_str(), Some(&body("EM")));
    assert_eq!(s, 403, "{b}");
    let (s, b) = http(&addr, "POST", "/plans/preview", reg, Some(&body("XX")));
    assert_eq!(s, 422, "{b}");
    let (s, b) = http(&addr, "POST", "/plans/preview", reg, Some(&json!({ "name": "x" })));
    assert_eq!(s, 422, "{b}");
    let (s, plans) = http(&addr, "GET", "/plans", reg, None);
    assert_eq!(s, 200);
    assert_eq!(plans.as_array().unwrap().len(), 0, "a preview creates no plan: {plans}");
}

/// Issue #13, item 5: `officers_from = "county"` in rules.toml (the
/// dataset check refused county regions for officers until this test). Officers
/// then come from the entity's county: a roster of city officers serves
/// no county, and Jinan's EM officers moved to 历下区 serve 历下区 only.
#[test]
fn officers_from_county_takes_officers_of_the_entitys_county() {
    let s = StoreDir::new();
    let rules = copy_dir(&root().join("rules"));
    let toml = rules.path().join("rules.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("officers_from = \"city\""));
    std::fs::write(&toml, text.replace("officers_from = \"city\"", "officers_from = \"county\"")).unwrap();
    let dir = copy_dir(&sample());
    let officers = dir.path().join("officers.csv");
    let text: Vec<String> = std::fs::read_to_string(&officers)
        .unwrap()
        .lines()
        .map(|l| if l.starts_with("EM-370100-") { l.replace(",370100,", ",370102,") } else { l.to_string() })
        .collect();
    std::fs::write(&officers, text.join("\n") + "\n").unwrap();
    let (data, rules) = (dir.path().to_str().unwrap(), rules.path().to_str().unwrap());

    let out = preview(&s, data, rules, &["--departments", "EM"]);
    let text = stdout(&out);
    assert!(text.contains("officers from the entity's county"), "{text}");
    let lixia = row(&text, "370102", "EM");
    assert!(lixia.starts_with("370102 历下区 | 370102 历下区 | EM"), "the area is the county: {lixia}");
    assert!(lixia.ends_with("staffable") && lixia.contains(" | 6 | 6 | "), "{lixia}");
    let shizhong = row(&text, "370103", "EM");
    assert!(shizhong.ends_with("no officer: no active officer of the department serves the area"), "{shizhong}");
    assert_eq!(out.status.code(), Some(1));

    // The same roster under the default (officers from the city): every
    // county of Jinan is served by the six officers, now registered in 历下区
    // rather than the city, so none is.
    let default = preview(&s, data, root().join("rules").to_str().unwrap(), &["--departments", "EM"]);
    let text = stdout(&default);
    assert!(row(&text, "370103", "EM").ends_with("no officer: no active officer of the department serves the area"));
    assert!(row(&text, "370102", "EM").starts_with("370102 历下区 | 370100 济南市 | EM"), "{text}");
}
