//! Load benchmark of the HTTP API on loopback: an officer's assignment list
//! and a public results page, at a fixed request rate, with latency
//! percentiles measured from each request's scheduled time (so a slow
//! server cannot hide queueing).
//!
//!     cargo bench --bench load
//!
//! Starts the server in this process (data directory in a temporary
//! directory, the bundled sample), prepares a released, drawn, published
//! plan, then drives CREDO_LOAD_RATE requests/s (default 5000) for
//! CREDO_LOAD_SECONDS (default 10) over CREDO_LOAD_CONNECTIONS keep-alive
//! connections (default 16) per endpoint. The public page is measured cold
//! (its first request, which builds and signs the disclosure) and warm.
//!
//! Target (issue #11): an officer's assignments at 5,000 requests/s or
//! more with p99 at most 10 ms over 16 connections on loopback, server and
//! client sharing the 2 cores. Measured with wrk (`wrk -t2 -c16 -d10s`,
//! 56 visits, 15.7 KB): 5,376 to 7,540 requests/s, p99 7.7 to 12.4 ms over
//! four runs while compilers of other builds kept the machine's load
//! average at 5-7 (before: 1,011 requests/s, p99 44 ms). Figures in
//! ARCHITECTURE.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use credo::api::{self, ServeOptions};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// A minimal HTTP/1.1 keep-alive client: one GET, returns the status.
fn get(conn: &mut BufReader<TcpStream>, host: &str, path: &str, token: Option<&str>) -> u16 {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(conn.get_mut(), "GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n").expect("write");
    let mut line = String::new();
    conn.read_line(&mut line).expect("status line");
    let status: u16 = line.get(9..12).and_then(|s| s.parse().ok()).expect("status");
    let mut len = 0usize;
    loop {
        line.clear();
        conn.read_line(&mut line).expect("header");
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().expect("length");
        }
    }
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).expect("body");
    status
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn drive(addr: &str, path: &str, token: Option<&str>, rate: u64, seconds: u64, connections: u64) {
    let total = rate * seconds;
    let start = Instant::now() + Duration::from_millis(200);
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let handles: Vec<_> = (0..connections)
        .map(|c| {
            let (addr, path, token) = (addr.to_string(), path.to_string(), token.map(str::to_string));
            std::thread::spawn(move || {
                let stream = TcpStream::connect(&addr).expect("connect");
                stream.set_nodelay(true).ok();
                let mut conn = BufReader::new(stream);
                let mut lat = Vec::new();
                let mut errors = 0;
                let mut i = c;
                while i < total {
                    let due = start + interval * i as u32;
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    if get(&mut conn, &addr, &path, token.as_deref()) != 200 {
                        errors += 1;
                    }
                    lat.push(Instant::now().saturating_duration_since(due));
                    i += connections;
                }
                (lat, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().expect("client thread");
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    println!(
        "{path}: {} requests in {elapsed:.1}s = {:.0}/s, errors {errors}; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len(),
        all.len() as f64 / elapsed,
        percentile(&all, 0.50).as_secs_f64() * 1e3,
        percentile(&all, 0.90).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3,
        all.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
}

fn main() {
    let rate = env("CREDO_LOAD_RATE", 5000);
    let seconds = env("CREDO_LOAD_SECONDS", 10);
    let connections = env("CREDO_LOAD_CONNECTIONS", 16);
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ServeOptions {
        data_dir: dir.path().join("data"),
        listen: String::new(),
        dataset: root.join("datasets/sample"),
        rules: root.join("rules"),
        as_of: None,
    };
    let (state, _) = api::prepare(&opts).expect("prepare");
    // A released, drawn, published plan and an officer with assignments.
    let params = {
        let (_, rules) = state.active_rules().expect("rules");
        let mut p = credo::plan::PlanParams::with_defaults(
            "load",
            credo::plan::PlanKind::Random,
            vec!["MR".into(), "MPA".into()],
            credo::model::Date::from_ymd_opt(2026, 6, 30).unwrap(),
            &rules.manifest.draw,
        );
        p.release_at = "2026-07-01T00:00:00Z".into();
        p
    };
    let loaded = state.load_dataset().expect("dataset");
    let operator = credo::model::access::Principal::operator("bench");
    let created = credo::ops::create_plan_from_run(
        &state.store,
        &loaded,
        1,
        &params,
        None,
        &operator,
        &credo::ops::Cancel::never(),
    )
    .expect("plan");
    let secret = hex::decode(created.secret.as_ref().unwrap()).unwrap();
    let names = credo::ops::name_lookup(&loaded.snapshot);
    credo::ops::reveal_plan(&state.store, &names, created.id, &secret, "", "bench").expect("reveal");
    let d = credo::ops::disclosure(&state.store, created.id, chrono::Utc::now().fixed_offset(), Default::default())
        .unwrap();
    state.store.mark_published(created.id, "bench", "-").unwrap();
    let visits = state.store.visits(created.id).unwrap();
    let officer = visits.iter().find(|v| v.unstaffed.is_none()).unwrap().officers[0].clone();
    let n = visits.iter().filter(|v| v.officers.contains(&officer)).count();
    let req = credo::ops::access::TokenRequest {
        role: credo::model::access::Role::Officer,
        officer_id: Some(officer.clone()),
        jurisdiction: None,
        label: "load".into(),
        expires_in_days: None,
        principal: None,
    };
    let token = credo::ops::access::create_token(&state.store, &state.dataset.officers, &operator, &req).unwrap().token;
    println!(
        "plan {} with {} visits ({} for officer {officer}); public page {} visits",
        created.id,
        visits.len(),
        n,
        d.draw.as_ref().map_or(0, |x| x.visits.len())
    );

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = api::app(Arc::clone(&state));
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    println!(
        "server on {addr}; {rate} requests/s for {seconds}s over {connections} connections, 2 cores shared with the client"
    );
    drive(&addr, "/officers/me/assignments", Some(&token), rate, seconds, connections);
    // Cold: the first request for the page builds and signs it.
    let page = format!("/public/plans/{}", created.id);
    let stream = TcpStream::connect(&addr).expect("connect");
    let mut conn = BufReader::new(stream);
    let started = Instant::now();
    assert_eq!(get(&mut conn, &addr, &page, None), 200);
    println!(
        "{page}: cold (first request, disclosure built and signed) {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    drive(&addr, &page, None, rate, seconds, connections);
}
