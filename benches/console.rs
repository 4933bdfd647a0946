//! The web console over a 1M-entity run (issue #14): server render time of
//! the dashboard (target ≤ 50 ms) and the weight of each page with charts,
//! with the stylesheet and script it loads (target ≤ 300 KB).
//!
//! Then an entity (issues #9 and #14): `credo serve` is started as its own
//! process over the same data directory, and `GET /entities/{uscc}` and
//! the console's entity page are timed over one keep-alive connection for
//! a spread of entities (p50/p99), with a name search, and the server's
//! resident memory after serving them. Both read the runs' results files
//! (a timeline with a point per run), never the dataset.
//!
//! `cargo bench --bench console` (`CREDO_BENCH_ENTITIES` to change the
//! size). The server's data directory (imported dataset, store, the runs
//! and a rules-impact job) is made once under the target directory and
//! reused.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
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

/// Two more runs in the store if it has fewer than three: one half a year
/// before the first run's date and one on it, so a timeline has two
/// points and its as-of result comes from a file with records and paths.
fn entity_runs(state: &Arc<AppState>) {
    let store = &state.store;
    if store.runs().unwrap().len() >= 3 {
        return;
    }
    let first = credo::data::table::parse_date(&store.run(1).unwrap().as_of).unwrap();
    let (_, rules) = state.active_rules().unwrap();
    let loaded = state.load_dataset().unwrap();
    for as_of in [first - chrono::Days::new(183), first] {
        eprintln!("a run as of {as_of} (once) ...");
        let t = Instant::now();
        let run = ops::begin_run(store, &loaded.hash, "bench", &rules, as_of, "bench").unwrap();
        let req = ops::RunRequest {
            run,
            snapshot: &loaded.snapshot,
            rules: &rules,
            as_of,
            actor: "bench",
            output: None,
            options: &credo::classify::Options::default(),
        };
        ops::execute_run(store, &req, &|_| {}, &mut |_| {}).unwrap();
        eprintln!("  {:.1} s", t.elapsed().as_secs_f64());
    }
}

/// One GET over a keep-alive connection: status and body length.
fn http_get(conn: &mut BufReader<TcpStream>, path: &str, header: &str) -> (u16, usize) {
    write!(conn.get_mut(), "GET {path} HTTP/1.1\r\nHost: bench\r\nAccept-Language: zh-CN\r\n{header}\r\n\r\n").unwrap();
    let mut line = String::new();
    conn.read_line(&mut line).unwrap();
    let status: u16 = line.get(9..12).and_then(|s| s.parse().ok()).expect("status");
    let mut len = 0usize;
    loop {
        line.clear();
        conn.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).unwrap();
    (status, len)
}

fn rss_of(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
    };
    format!("RSS {} MB (peak {} MB)", kb("VmRSS:").unwrap_or(0) / 1024, kb("VmHWM:").unwrap_or(0) / 1024)
}

/// The entity endpoint and page, served by `credo serve` in its own process.
fn entity_pages(state: &Arc<AppState>, opts: &ServeOptions, token: &str, n: u64) {
    entity_runs(state);
    let run = state.store.latest_run().unwrap().unwrap();
    // A spread of credit codes: one every n/200 entities.
    let every = (n as usize / 200).max(1);
    let (mut usccs, mut i) = (Vec::new(), 0usize);
    let reader = state.results(run.id).unwrap();
    let name = std::cell::RefCell::new(String::new());
    reader
        .scan_names(&mut |u, nm, _| {
            if i % every == 0 {
                usccs.push(u.to_string());
                *name.borrow_mut() = nm.to_string();
            }
            i += 1;
            true
        })
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_credo"))
        .args(["--lang", "en", "serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&opts.data_dir)
        .arg("--dataset")
        .arg(&opts.dataset)
        .arg("--rules")
        .arg(&opts.rules)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "credo serve stopped");
    }
    let pid = child.id();
    eprintln!("credo serve (pid {pid}) on port {port}, idle: {}", rss_of(pid));
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_nodelay(true).ok();
    let mut conn = BufReader::new(stream);
    let bearer = format!("Authorization: Bearer {token}");
    let cookie = format!("Cookie: credo_session={token}");
    let mut report = |label: &str, path: &dyn Fn(&str) -> String, header: &str| {
        let mut times = Vec::new();
        let mut bytes = 0;
        for round in 0..2 {
            for u in &usccs {
                let t = Instant::now();
                let (status, len) = http_get(&mut conn, &path(u), header);
                let took = t.elapsed();
                assert_eq!(status, 200, "{}", path(u));
                // The first round opens the runs' files; the second is
                // what a server in use serves.
                if round == 1 {
                    times.push(took);
                    bytes = bytes.max(len);
                }
            }
        }
        times.sort();
        let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
        println!(
            "{label} ({n} entities, {} runs, {} requests): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, largest {bytes} B",
            state.store.runs().unwrap().len(),
            times.len(),
            pct(0.5).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            times.last().unwrap().as_secs_f64() * 1e3,
        );
    };
    report("GET /entities/{uscc}", &|u| format!("/entities/{u}"), &bearer);
    report("console entity page", &|u| format!("/console/entities/{u}"), &cookie);
    // Name search: an entity's full name (found early or late in the
    // file), and a name no entity has (the whole file read).
    for q in [name.borrow().clone(), "不存在的名称".to_string()] {
        let path = format!("/console/entities?q={}", url_encode(&q));
        let t = Instant::now();
        let (status, _) = http_get(&mut conn, &path, &cookie);
        assert_eq!(status, 200);
        println!("console name search {q:?} ({n} entities): {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    println!("credo serve after serving them: {}", rss_of(pid));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average while measured: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    let _ = child.kill();
    let _ = child.wait();
}

fn url_encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
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
    entity_pages(&state, &opts, &token, n);
}
