//! The web console over a 1M-entity run (issue #14): server render time of
//! the dashboard (target ≤ 50 ms) and the weight of each page with charts,
//! with the stylesheet and script it loads (target ≤ 300 KB).
//!
//! `cargo bench --bench console` (`CREDO_BENCH_ENTITIES` to change the
//! size). The server's data directory (imported dataset, store, the run and
//! a rules-impact job) is made once under the target directory and reused.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use credo::api::{self, AppState, ServeOptions};
use credo::model::access::{Principal, Role};
use credo::model::{JobKind, JobStatus};
use credo::ops;
use tower::ServiceExt;

const RENDER_TARGET: Duration = Duration::from_millis(50);
const WEIGHT_TARGET: usize = 300 * 1024;

async fn get(state: &Arc<AppState>, path: &str, token: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .uri(path)
        .header("cookie", format!("credo_session={token}"))
        .header("accept-language", "zh-CN")
        .body(Body::empty())
        .unwrap();
    let resp = api::app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    (status, axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec())
}

/// A finished rules-impact job over the whole dataset (the active rules
/// against themselves: the page's size does not depend on what changed).
fn impact_job(state: &Arc<AppState>) -> i64 {
    let store = &state.store;
    let done = (1..=64)
        .filter_map(|id| store.job(id).ok())
        .find(|j| j.kind == JobKind::RulesDiff && j.status == JobStatus::Done && j.result.is_some());
    if let Some(j) = done {
        return j.id;
    }
    eprintln!("computing a rules impact over the dataset (once) ...");
    let t = Instant::now();
    let (id, rules) = state.active_rules().unwrap();
    let loaded = state.load_dataset().unwrap();
    let as_of = credo::data::table::parse_date(&store.latest_run().unwrap().unwrap().as_of).unwrap();
    let d = ops::rules::diff(&loaded.snapshot, &rules, &rules, as_of, &credo::classify::Options::default(), 2).unwrap();
    let job = store.create_job(JobKind::RulesDiff, "bench", &serde_json::json!({ "rules": id })).unwrap();
    store.finish_job(job, "bench", &credo::store::JobOutcome::Done(serde_json::to_value(d).unwrap())).unwrap();
    eprintln!("  {:.1} s", t.elapsed().as_secs_f64());
    job
}

fn main() {
    let n = common::entities(1_000_000);
    let data = common::dataset(n, credo::data::Format::Parquet);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-console/{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let t = Instant::now();
    let opts = ServeOptions {
        data_dir: dir.clone(),
        listen: String::new(),
        dataset: data,
        rules: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules"),
        as_of: None,
    };
    // The first start imports and classifies the dataset (minutes); later
    // ones reopen the store.
    let (state, _) = api::prepare(&opts).unwrap();
    eprintln!("server state for {n} entities ready in {:.1} s ({})", t.elapsed().as_secs_f64(), dir.display());
    let req = ops::access::TokenRequest {
        role: Role::Regulator,
        officer_id: None,
        jurisdiction: None,
        label: "bench".into(),
        expires_in_days: Some(1),
        principal: None,
    };
    let token = ops::access::create_token(&state.store, &state.dataset.officers, &Principal::operator("bench"), &req)
        .unwrap()
        .token;
    let job = impact_job(&state);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Server render of the dashboard: the whole request in process
        // (session lookup, the store's reads, the page), no socket.
        let (status, _) = get(&state, "/console/dashboard", &token).await;
        assert_eq!(status, StatusCode::OK);
        let mut times = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            let (status, body) = get(&state, "/console/dashboard", &token).await;
            times.push(t.elapsed());
            assert_eq!(status, StatusCode::OK);
            assert!(!body.is_empty());
        }
        times.sort();
        let (p50, max) = (times[times.len() / 2], times[times.len() - 1]);
        println!(
            "dashboard render ({n} entities): p50 {:.2} ms, max {:.2} ms (target ≤ {} ms)",
            p50.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            RENDER_TARGET.as_millis()
        );

        // Page weight: the page and every asset it loads (uncompressed;
        // the server gzips them for browsers that ask).
        let mut assets = 0;
        for a in ["/console/static/console.css", "/console/static/console.js"] {
            let (status, body) = get(&state, a, &token).await;
            assert_eq!(status, StatusCode::OK, "{a}");
            assets += body.len();
        }
        let mut weights = Vec::new();
        for page in ["/console/dashboard".to_string(), format!("/console/rules/jobs/{job}")] {
            let (status, body) = get(&state, &page, &token).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let html = String::from_utf8(body).unwrap();
            assert!(html.contains("<svg"), "{page} has a chart");
            let total = html.len() + assets;
            println!(
                "page weight {page}: {} B html + {assets} B assets = {:.1} KB (target ≤ 300 KB)",
                html.len(),
                total as f64 / 1024.0
            );
            weights.push((page, total));
        }
        assert!(p50 <= RENDER_TARGET, "dashboard render p50 {p50:?} over {RENDER_TARGET:?}");
        for (page, w) in weights {
            assert!(w <= WEIGHT_TARGET, "{page}: {w} B over {WEIGHT_TARGET} B");
        }
    });
}
