//! The web console in a real browser: Debian's chromium, headless, driven
//! over WebDriver (chromium-driver) against a real server on loopback.
//! A regulator signs in with the printed sign-in link and sees the four
//! tiers, creates, reveals and publishes a plan, uploads a rule version
//! (refused while a rule test fails) and sees its impact as a migration
//! matrix, finds an entity and reads its timeline; an officer on a phone
//! screen sees only released assignments and files a result; an auditor
//! verifies the plan and an uploaded bundle (and a tampered one); the public page shows it without personal data; a
//! signed-out request is sent to sign-in and a POST without its CSRF
//! token is refused. Screenshots of every page go to
//! `$CARGO_TARGET_DIR/screenshots` (or `target/screenshots`).
//!
//! Fails (never skips) when chromium or chromium-driver is missing:
//! `.ci/run` installs them.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use credo::model::access::{Principal, Role};
use credo::ops;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::common::root;

/// chromedriver, ended with the test.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/lib/chromium")]) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn screenshots() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let dir = dir.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts chromium-driver and a headless chromium session.
async fn browser(profile: &std::path::Path) -> (Driver, Client) {
    let driver = find_program(&["chromedriver"]).expect(
        "chromium-driver is not installed (apt-get install chromium chromium-driver): the browser tests need it",
    );
    let chromium = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| find_program(&["chromium", "chromium-browser"]))
        .expect("chromium is not installed (apt-get install chromium chromium-driver): the browser tests need it");
    let port = free_port();
    let child = Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=zh-CN",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => return (driver, c),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no WebDriver session from {}: {last:?}", driver_name(&driver));
}

fn driver_name(_: &Driver) -> &'static str {
    "chromedriver"
}

struct Page<'a> {
    c: &'a Client,
    base: String,
    shots: PathBuf,
}

impl Page<'_> {
    async fn go(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }
    async fn path(&self) -> String {
        self.c.current_url().await.unwrap().path().to_string()
    }
    async fn wait(&self, css: &str) -> Element {
        match self.c.wait().at_most(Duration::from_secs(60)).for_element(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!("{css} never appeared on {}: {e}\n{}", self.path().await, self.c.source().await.unwrap()),
        }
    }
    async fn text(&self, css: &str) -> String {
        self.wait(css).await.text().await.unwrap()
    }
    async fn click(&self, css: &str) {
        self.wait(css).await.click().await.unwrap();
    }
    async fn fill(&self, css: &str, value: &str) {
        let e = self.wait(css).await;
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }
    async fn body(&self) -> String {
        self.text("body").await
    }
    async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }
    /// Runs `fetch` in the page and returns what the callback got.
    async fn script(&self, body: &str) -> Value {
        self.c.execute_async(&format!("const done = arguments[arguments.length - 1]; {body}"), vec![]).await.unwrap()
    }
    /// Waits until the browser has left `path`.
    async fn left(&self, path: &str) {
        for _ in 0..300 {
            if self.path().await != path {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("still on {path}:\n{}", self.body().await);
    }
    /// Waits until the text of `css` is no longer `old`.
    async fn changed(&self, css: &str, old: &str) -> String {
        for _ in 0..300 {
            if let Ok(e) = self.c.find(Locator::Css(css)).await
                && let Ok(t) = e.text().await
                && t != old
            {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} still reads {old}");
    }
    async fn sign_in(&self, token: &str) {
        self.go("/console/signin").await;
        self.fill("#token", token).await;
        self.click("#signin button").await;
        self.left("/console/signin").await;
        self.wait("main h1").await;
    }
    async fn sign_out(&self) {
        self.click("#signout").await;
        self.wait("#signin").await;
    }
    /// Creates a plan through the wizard; returns its number.
    async fn create_plan(&self, name: &str, release_at: Option<&str>) -> i64 {
        self.go("/console/plans/new").await;
        self.fill("#name", name).await;
        if let Some(r) = release_at {
            self.fill("#release_at", r).await;
        }
        self.shot("plan-wizard").await;
        self.click("#preview").await;
        self.wait("#staffing").await;
        // The capacity preview: county × department with a status.
        let table = self.text("#staffing").await;
        assert!(table.contains("区县") && table.contains("状态"), "{table}");
        assert!(table.contains("可配备") || table.contains("无执法人员") || table.contains("超出上限"), "{table}");
        assert!(!self.text("#expected-visits").await.is_empty());
        self.shot("plan-preview").await;
        self.click("#create").await;
        self.wait("#plan-id").await;
        self.shot("plan-created").await;
        let id: i64 = self.text("#plan-id").await.rsplit('/').next().unwrap().parse().unwrap();
        self.click("#reveal button").await;
        self.wait("#status").await;
        assert_eq!(self.path().await, format!("/console/plans/{id}"));
        assert_eq!(self.text("#status").await, "已抽取", "{}", self.body().await);
        id
    }
}

/// Uploads the default rules under `version` through the rules page's
/// form, with one rule test that fails when `failing`. The directory lives
/// as long as the answer.
async fn rule_upload(p: &Page<'_>, version: &str, failing: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    let (mut files, mut tests) = (Vec::new(), Vec::new());
    for sub in ["", "tests"] {
        for e in std::fs::read_dir(root().join("rules").join(sub)).unwrap() {
            let from = e.unwrap().path();
            if !from.is_file() {
                continue;
            }
            let to = dir.path().join(sub).join(from.file_name().unwrap());
            let mut text = std::fs::read_to_string(&from).unwrap();
            if to.ends_with("rules.toml") {
                text = crate::common::relabel_rules(&text, version);
            }
            if failing && to.ends_with("tiers.toml") {
                text.push_str("\n[[case]]\nname = \"web test: a wrong expectation\"\nas_of = \"2026-06-30\"\nentity = { composite_grade = \"A\" }\nexpect = { tier = 4 }\n");
            }
            std::fs::write(&to, text).unwrap();
            let list = if sub.is_empty() { &mut files } else { &mut tests };
            list.push(to.display().to_string());
        }
    }
    p.go("/console/rules").await;
    p.wait("#rule-files").await.send_keys(&files.join("\n")).await.unwrap();
    p.wait("#rule-test-files").await.send_keys(&tests.join("\n")).await.unwrap();
    p.click("#rules-upload button").await;
    dir
}

fn token(store: &credo::store::Store, roster: &[credo::model::Officer], role: Role, officer: Option<&str>) -> String {
    let req = ops::access::TokenRequest {
        role,
        officer_id: officer.map(str::to_string),
        jurisdiction: None,
        label: "web test".into(),
        expires_in_days: None,
        principal: None,
    };
    ops::access::create_token(store, roster, &Principal::operator("test"), &req).unwrap().token
}

#[test]
fn web_console_in_a_real_browser() {
    let api = crate::api::setup();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = credo::api::app(api.state.clone());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let profile = tempfile::tempdir().unwrap();
    let store = api.state.store.clone();
    let roster = api.state.dataset.officers.clone();
    rt.block_on(async {
        let (_driver, c) = browser(profile.path()).await;
        let p = Page { c: &c, base: base.clone(), shots: screenshots() };

        // Signed out: a regulator page sends the browser to sign-in.
        p.go("/console/dashboard").await;
        p.wait("#signin").await;
        assert_eq!(p.path().await, "/console/signin");
        p.shot("signin").await;

        // Chinese by default; this browser asks for English, so choose.
        p.go("/console/public?lang=zh-CN").await;
        p.wait("#public-plans").await;
        // The sign-in link `credo serve` prints: the token is in the
        // fragment, the page's script fills the form and submits it.
        p.go(&format!("/console/signin#token={}", api.regulator)).await;
        p.left("/console/signin").await;
        p.wait("#entities").await;
        assert_eq!(p.path().await, "/console/dashboard");
        let tiers = p.c.find_all(Locator::Css(".card.tier")).await.unwrap();
        assert_eq!(tiers.len(), 4);
        let body = p.body().await;
        for name in ["诚信守法", "轻微失信", "一般失信", "严重失信", "严重失信名单", "重点关注"] {
            assert!(body.contains(name), "{name} not on the dashboard:\n{body}");
        }
        assert!(!c.find_all(Locator::Css("svg.chart")).await.unwrap().is_empty());
        p.shot("dashboard").await;
        // The session cookie is HttpOnly: scripts cannot read it.
        let cookies = p.script("done(document.cookie);").await;
        assert!(!cookies.as_str().unwrap_or("").contains("credo_session"), "{cookies}");
        // Pages send a strict CSP.
        let csp = p.script("fetch('/console/dashboard').then(r => done(r.headers.get('content-security-policy')));").await;
        assert!(csp.as_str().unwrap().contains("script-src 'self'"), "{csp}");
        // English with the switch, and back.
        p.click("#lang-switch").await;
        p.wait("#entities").await;
        let body = p.body().await;
        assert!(body.contains("trustworthy") && body.contains("serious dishonesty"), "{body}");
        p.shot("dashboard-en").await;
        p.click("#lang-switch").await;
        p.wait("#entities").await;
        assert!(p.body().await.contains("诚信守法"));

        // A plan released now, created, revealed and published; and one
        // released next year.
        let released = p.create_plan("网页双随机抽查", None).await;
        p.click("#publish button").await;
        p.changed("#published", "未公示").await;
        p.wait("#visits").await;
        p.shot("plan").await;
        let next_year = (chrono::Utc::now() + chrono::Duration::days(300)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let later = p.create_plan("下一年的计划", Some(&next_year)).await;
        p.go("/console/plans").await;
        p.wait("#plans").await;
        p.shot("plans").await;

        // A POST without its CSRF token is refused, even with the session.
        let status = p
            .script(&format!(
                "fetch('/console/plans/{later}/publish', {{method: 'POST', headers: {{'content-type': 'application/x-www-form-urlencoded'}}, body: 'x=1'}}).then(r => done(r.status));"
            ))
            .await;
        assert_eq!(status, json!(403));
        let status = p
            .script(&format!(
                "fetch('/console/plans/{later}/publish', {{method: 'POST', headers: {{'content-type': 'application/x-www-form-urlencoded'}}, body: 'authenticity_token=forged'}}).then(r => done(r.status));"
            ))
            .await;
        assert_eq!(status, json!(403));
        assert!(store.plan(later).unwrap().published_at.is_none());

        // Rules: the active version and its parameters; an upload whose
        // rule test fails is refused case by case; the default rules under
        // another version name are stored with every case passed, and their
        // impact against the active version is a migration matrix with
        // every entity on its diagonal (same rules, same tiers).
        p.go("/console/rules").await;
        p.wait("#active-rules").await;
        assert!(!c.find_all(Locator::Css("#params tbody tr")).await.unwrap().is_empty());
        p.shot("rules").await;
        let upload = rule_upload(&p, "2026.1-web", true).await;
        p.wait("#rules-failed").await;
        assert_eq!(c.find_all(Locator::Css("#rule-tests tr.failed")).await.unwrap().len(), 1, "{}", p.body().await);
        p.shot("rules-failed").await;
        drop(upload);
        let _upload = rule_upload(&p, "2026.1-web", false).await;
        p.wait("#rules-stored").await;
        let passed = c.find_all(Locator::Css("#rule-tests tr.passed")).await.unwrap().len();
        assert!(passed > 10, "{passed} cases listed:\n{}", p.body().await);
        p.shot("rules-uploaded").await;
        p.click("form.diff button").await;
        p.wait("#migration").await;
        let mut entities = 0;
        for cell in c.find_all(Locator::Css("#migration td")).await.unwrap() {
            let n: usize = cell.text().await.unwrap().parse().unwrap();
            let (from, to) = (cell.attr("data-from").await.unwrap(), cell.attr("data-to").await.unwrap());
            assert!(from == to || n == 0, "the same rules moved {n} entities from tier {from:?} to {to:?}");
            entities += n;
        }
        assert!(entities > 0, "an empty migration matrix");
        assert!(!c.find_all(Locator::Css("#expected-by-department tbody tr")).await.unwrap().is_empty());
        assert!(!c.find_all(Locator::Css("#expected-by-city tbody tr")).await.unwrap().is_empty());
        p.shot("rules-impact").await;

        // An entity: by name (a visited entity), then its timeline; by
        // credit code straight to it.
        let visit = &store.visits(released).unwrap()[0];
        p.go("/console/entities").await;
        p.fill("#q", &visit.name).await;
        p.click("#entity-search button").await;
        p.wait("#matches a").await;
        p.shot("entity-search").await;
        p.click("#matches a").await;
        p.wait("#timeline").await;
        let tier = p.text("#tier").await;
        assert!(["诚信守法", "轻微失信", "一般失信", "严重失信"].contains(&tier.as_str()), "{tier}");
        assert!(!p.text("#explanation").await.is_empty());
        assert!(!c.find_all(Locator::Css("#timeline tbody tr")).await.unwrap().is_empty());
        p.shot("entity").await;
        p.go(&format!("/console/entities?q={}", visit.uscc)).await;
        p.wait("#timeline").await;
        assert_eq!(p.path().await, format!("/console/entities/{}", visit.uscc));
        assert_eq!(p.text("#uscc").await, visit.uscc.to_string());

        // An officer on both plans if there is one (else on the first).
        let first = store.visits(released).unwrap();
        let second = store.visits(later).unwrap();
        let on = |vs: &[credo::store::VisitRecord], o: &str| vs.iter().any(|v| v.officers.iter().any(|x| x == o));
        let staffed: Vec<&String> = first.iter().flat_map(|v| v.officers.iter()).collect();
        assert!(!staffed.is_empty(), "the draw staffed no visit");
        let officer = staffed.iter().find(|o| on(&second, o)).unwrap_or(&staffed[0]).to_string();
        let mine = first.iter().filter(|v| v.officers.contains(&officer)).count();
        let officer_token = token(&store, &roster, Role::Officer, Some(&officer));
        p.sign_out().await;

        // The officer, on a 390 × 844 phone screen.
        c.set_window_size(390, 844).await.unwrap();
        p.sign_in(&officer_token).await;
        assert_eq!(p.path().await, "/console/assignments");
        let cards = c.find_all(Locator::Css(".visit-card")).await.unwrap();
        assert_eq!(cards.len(), mine, "only the released plan's visits");
        for card in &cards {
            assert_eq!(card.attr("data-plan").await.unwrap(), Some(released.to_string()));
        }
        let width = p.script("done([window.innerWidth, document.documentElement.scrollWidth]);").await;
        assert!(width[0].as_i64().unwrap() <= 390 && width[1].as_i64() <= width[0].as_i64(), "{width}");
        p.shot("officer-assignments").await;
        p.click(".visit-card a").await;
        p.wait("#result-form").await;
        p.shot("officer-visit").await;
        // A date before the plan's release: refused with a clear message.
        p.script("document.getElementById('inspected_on').value = '2020-01-01'; done(1);").await;
        p.click("#submit-result").await;
        let error = p.text("#form-error").await;
        // In the page's language (zh-CN), from the same texts the API uses.
        assert!(error.contains("检查日期 2020-01-01 早于计划的发布时间"), "{error}");
        p.shot("officer-error").await;
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        p.script(&format!("document.getElementById('inspected_on').value = '{today}'; done(1);")).await;
        p.fill("#notes", "门店证照齐全").await;
        p.click("#submit-result").await;
        p.wait("#saved").await;
        let width = p.script("done([window.innerWidth, document.documentElement.scrollWidth]);").await;
        assert!(width[1].as_i64() <= width[0].as_i64(), "no sideways scrolling on a phone: {width}");
        p.shot("officer-saved").await;
        assert_eq!(store.results_of_plan(released).unwrap().len(), 1);
        // An unreleased visit is not found, even by its address.
        if let Some(v) = second.iter().find(|v| v.officers.contains(&officer)) {
            p.go(&format!("/console/assignments/{later}/{}", v.seq)).await;
            assert!(c.find_all(Locator::Css("#result-form")).await.unwrap().is_empty());
        }
        p.sign_out().await;

        // The auditor verifies the plan.
        c.set_window_size(1280, 900).await.unwrap();
        let auditor = token(&store, &roster, Role::Auditor, None);
        p.sign_in(&auditor).await;
        p.go("/console/audit").await;
        p.wait("#audit").await;
        p.shot("audit").await;
        p.fill("#plan", &released.to_string()).await;
        p.click("#verify-plan button").await;
        let verdict = p.wait("#verdict").await;
        assert_eq!(verdict.attr("data-identical").await.unwrap().as_deref(), Some("true"), "{}", p.body().await);
        p.shot("audit-verified").await;
        // An uploaded bundle: identical as exported, a difference once
        // one character is changed.
        let bundle = ops::export_bundle(&store, released).unwrap();
        let files = tempfile::tempdir().unwrap();
        let good = files.path().join("plan.bundle");
        std::fs::write(&good, &bundle).unwrap();
        let mut tampered = bundle.into_bytes();
        let at = (tampered.len() / 2..tampered.len()).find(|&i| tampered[i].is_ascii_digit()).unwrap();
        tampered[at] = if tampered[at] == b'1' { b'2' } else { b'1' };
        let bad = files.path().join("tampered.bundle");
        std::fs::write(&bad, &tampered).unwrap();
        for (file, identical, shot) in [(&good, "true", "audit-bundle"), (&bad, "false", "audit-bundle-tampered")] {
            p.go("/console/audit").await;
            p.wait("#bundle").await.send_keys(&file.display().to_string()).await.unwrap();
            p.click("#verify-bundle button").await;
            let verdict = p.wait("#verdict").await;
            assert_eq!(verdict.attr("data-identical").await.unwrap().as_deref(), Some(identical), "{}", p.body().await);
            p.shot(shot).await;
        }
        p.sign_out().await;

        // The public, signed out, on a phone: the plan, no personal data.
        c.set_window_size(390, 844).await.unwrap();
        p.go("/console/public").await;
        p.wait("#public-plans").await;
        assert!(p.body().await.contains("网页双随机抽查"));
        p.shot("public").await;
        p.go(&format!("/console/public/{released}")).await;
        p.wait("#public-visits").await;
        let html = c.source().await.unwrap();
        for v in &first {
            for o in &v.officers {
                assert!(!html.contains(o.as_str()), "officer {o} on the public page");
            }
        }
        p.shot("public-plan").await;

        c.close().await.unwrap();
    });
}
