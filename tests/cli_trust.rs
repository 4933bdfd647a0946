//! Issue #12 through the binary: each manipulation an auditor tried is now
//! detected and named: a beacon swapped, dropped or smuggled in; a result
//! row changed or deleted; a plan's result hash changed; a results file
//! changed; the audit log truncated or rewritten (against a checkpoint); a
//! bundle with a bad signature.

use crate::common::*;

struct Env(StoreDir);

impl std::ops::Deref for Env {
    type Target = StoreDir;
    fn deref(&self) -> &StoreDir {
        &self.0
    }
}

impl Env {
    fn new() -> Env {
        Env(StoreDir::new())
    }
    /// Creates a plan over MR; returns (id, secret).
    fn create(&self, extra: &[&str]) -> (String, String) {
        let (data, rules) = (sample(), root().join("rules"));
        let mut args = vec![
            "draw",
            "create",
            "--data",
            data.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--as-of",
            "2026-06-30",
            "--departments",
            "MR",
            "--release-at",
            "2026-07-01T09:00:00+08:00",
        ];
        args.extend_from_slice(extra);
        let out = self.ok(&args);
        let id = out.split_whitespace().nth(1).unwrap().to_string();
        let secret = out.lines().find(|l| l.starts_with("secret")).unwrap().split_whitespace().nth(1).unwrap();
        (id, secret.to_string())
    }
    fn reveal(&self, id: &str, secret: &str, beacon: Option<&str>) -> std::process::Output {
        let data = sample();
        let mut args = vec!["draw", "reveal", id, "--secret", secret, "--data", data.to_str().unwrap()];
        if let Some(b) = beacon {
            args.extend_from_slice(&["--beacon", b]);
        }
        self.run(&args)
    }
    fn public_key(&self) -> String {
        let out = self.ok(&["audit", "key"]);
        out.lines().find(|l| l.starts_with("public_key")).unwrap().split_whitespace().nth(1).unwrap().to_string()
    }
    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.store()).unwrap()
    }
}

fn findings(o: &std::process::Output) -> String {
    assert_eq!(o.status.code(), Some(1), "expected findings: {}{}", stdout(o), stderr(o));
    stdout(o)
}

fn refused(o: &std::process::Output) -> String {
    assert_eq!(o.status.code(), Some(2), "expected a refusal: {}{}", stdout(o), stderr(o));
    stderr(o)
}

fn python(args: &[&str]) -> (bool, String) {
    let o = std::process::Command::new("python3")
        .arg(root().join("docs/verify_draw.py"))
        .args(args)
        .output()
        .expect("python3 is required to run docs/verify_draw.py");
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn beacon_binding_end_to_end() {
    let env = Env::new();
    // A plan that names no beacon refuses one.
    let (none, secret) = env.create(&[]);
    let e = refused(&env.reveal(&none, &secret, Some("abc")));
    assert!(e.contains(&format!("plan {none}: beacon refused")) && e.contains("names no beacon"), "{e}");

    // A plan that names one: a lottery draw published shortly.
    let published = chrono::Utc::now() + chrono::Duration::seconds(20);
    let at = published.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (id, secret) = env.create(&[
        "--beacon-source",
        "China Welfare Lottery 3D, draw 2026185, www.cwl.gov.cn",
        "--beacon-rule",
        "digits",
        "--beacon-published-at",
        &at,
    ]);
    // Too early: nobody can know the value yet.
    let e = refused(&env.reveal(&id, &secret, Some("5 2 7")));
    assert!(e.contains("beacon refused") && e.contains("not published until"), "{e}");
    // The beacon dropped.
    let e = refused(&env.reveal(&id, &secret, None));
    assert!(e.contains("beacon refused") && e.contains("the beacon value is empty"), "{e}");
    let wait = published - chrono::Utc::now() + chrono::Duration::seconds(1);
    std::thread::sleep(wait.to_std().unwrap_or_default());
    env.ok(&["draw", "reveal", &id, "--secret", &secret, "--beacon", "5 2 7", "--data", sample().to_str().unwrap()]);
    let show = env.ok(&["draw", "show", &id]);
    assert!(show.contains("value '5 2 7' supplied"), "{show}");

    // The bundle: signed, bound to its beacon, checked by both verifiers.
    let bundle = env.path("plan.bundle");
    env.ok(&["draw", "export", &id, "--out", &bundle]);
    let key = env.public_key();
    let out = env.ok(&["draw", "verify", "--bundle", &bundle, "--public-key", &key, "--beacon-value", "5 2 7"]);
    assert!(out.starts_with("identical") && out.contains(&format!("signed by {key}")), "{out}");
    let (ok, out) = python(&["--public-key", &key, "--beacon-value", "5 2 7", &bundle]);
    assert!(ok && out.starts_with("identical (credo-draw-v2"), "{out}");
    // The auditor read another value at the source: a swap.
    let m = findings(&env.run(&["draw", "verify", "--bundle", &bundle, "--beacon-value", "1 2 3"]));
    assert!(m.contains("the beacon was swapped"), "{m}");
    let (ok, out) = python(&["--beacon-value", "1 2 3", &bundle]);
    assert!(!ok && out.contains("the beacon was swapped"), "{out}");
    // A key file works as well as hex.
    let key_file = env.path("store.pub");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    env.ok(&["draw", "verify", "--bundle", &bundle, "--public-key", &key_file]);
}

#[test]
fn bad_signatures_and_other_keys_are_named() {
    let env = Env::new();
    let (id, secret) = env.create(&[]);
    assert!(env.reveal(&id, &secret, None).status.success());
    let bundle = env.path("plan.bundle");
    env.ok(&["draw", "export", &id, "--out", &bundle]);
    let text = std::fs::read_to_string(&bundle).unwrap();
    // A flipped signature bit.
    let at = text.find("\nsignature=").unwrap() + 11;
    let mut bad = text.clone().into_bytes();
    bad[at] = if bad[at] == b'0' { b'1' } else { b'0' };
    let forged = env.path("forged.bundle");
    std::fs::write(&forged, &bad).unwrap();
    let m = findings(&env.run(&["draw", "verify", "--bundle", &forged]));
    assert!(m.contains("signature") && m.contains("not a valid signature"), "{m}");
    let (ok, out) = python(&[&forged]);
    assert!(!ok && out.contains("not a valid signature"), "{out}");
    // Another store's key.
    let other = Env::new();
    let m = findings(&env.run(&["draw", "verify", "--bundle", &bundle, "--public-key", &other.public_key()]));
    assert!(m.contains("not by the given key"), "{m}");
    // The disclosure matches the bundle; a disclosure of another plan does not.
    let disclosure = env.path("plan.json");
    env.ok(&["draw", "publish", &id, "--out", &disclosure]);
    let key = env.public_key();
    let out = env.ok(&["draw", "verify", "--bundle", &bundle, "--public-key", &key, "--disclosure", &disclosure]);
    assert!(out.contains("commitment and frame hash match") && out.contains("secret, beacon and result"), "{out}");
    let (ok, out) = python(&["--document", &disclosure, "--public-key", &key]);
    assert!(ok && out.contains("valid credo-disclosure-v2"), "{out}");
    let (id2, _) = env.create(&[]);
    let d2 = env.path("plan2.json");
    env.ok(&["draw", "publish", &id2, "--out", &d2]);
    let m = findings(&env.run(&["draw", "verify", "--bundle", &bundle, "--disclosure", &d2]));
    assert!(m.contains("plan id"), "{m}");
}

/// A staffed visit of a revealed plan: (visit, officer).
fn staffed_visit(env: &Env, id: &str) -> (String, String) {
    let show = env.ok(&["draw", "show", id, "--visits", "1000"]);
    let line = show.lines().find(|l| l.contains(" officers ")).expect("a staffed visit");
    let seq = line.split_whitespace().next().unwrap().to_string();
    let officer = line.rsplit("officers ").next().unwrap().split(", ").next().unwrap().to_string();
    (seq, officer)
}

#[test]
fn altered_tables_and_results_files_are_named() {
    let env = Env::new();
    let (id, secret) = env.create(&[]);
    assert!(env.reveal(&id, &secret, None).status.success());
    let (seq, officer) = staffed_visit(&env, &id);
    let data = sample();
    env.ok(&[
        "draw",
        "result",
        "--data",
        data.to_str().unwrap(),
        &id,
        &seq,
        "--officer",
        &officer,
        "--department",
        "MR",
        "--result",
        "violation",
        "--date",
        "2026-07-05",
    ]);
    let out = env.ok(&["audit", "verify"]);
    assert!(out.contains("tables     intact") && out.trim_end().ends_with("intact"), "{out}");

    // A result changed from violation to compliant, with the server stopped.
    let db = env.db();
    db.execute("UPDATE inspection_results SET result = 'compliant'", []).unwrap();
    let m = findings(&env.run(&["audit", "verify"]));
    assert!(m.contains("chain      intact"), "the chain alone does not see it: {m}");
    assert!(
        m.contains(&format!("inspection_results: plan {id} visit {seq} MR: result is 'compliant' in the table, the audit log recorded 'violation'")),
        "{m}"
    );
    // The row deleted.
    db.execute("DELETE FROM inspection_results", []).unwrap();
    let m = findings(&env.run(&["audit", "verify"]));
    assert!(
        m.contains(&format!("plan {id} visit {seq} MR: the result was submitted (audited) but is not in the table")),
        "{m}"
    );

    // The plan's result hash changed: both audit verify and draw verify.
    db.execute("UPDATE plans SET result_hash = '00' || substr(result_hash, 3)", []).unwrap();
    let m = findings(&env.run(&["audit", "verify"]));
    assert!(m.contains(&format!("plans: plan {id}: result_hash is '00")), "{m}");
    let m = findings(&env.run(&["draw", "verify", "--plan", &id]));
    assert!(m.contains("the plans table records result hash 00"), "{m}");

    // A visit's team changed.
    db.execute("UPDATE visits SET officers = '[\"MR-370100-0001\",\"MR-370100-0002\"]' WHERE seq = ?1", [&seq])
        .unwrap();
    let m = findings(&env.run(&["audit", "verify"]));
    assert!(m.contains(&format!("visits: plan {id}: the visits hash to")) && m.contains("a visit was changed"), "{m}");

    // A run's results file changed (one byte in the middle).
    let results = credo::store::results_dir(std::path::Path::new(&env.store())).join("run-1.parquet");
    let mut bytes = std::fs::read(&results).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&results, &bytes).unwrap();
    let m = findings(&env.run(&["audit", "verify"]));
    assert!(m.contains("results files: run 1: results file") && m.contains("was altered"), "{m}");
}

/// Rewrites the audit log from entry `from` on, re-hashing every entry so
/// that the chain verifies: what someone with write access to the store
/// could do.
fn rewrite_chain(db: &rusqlite::Connection, from: i64, payload: &str) {
    use credo::store::AuditEntry;
    let mut stmt = db
        .prepare("SELECT seq, at, actor, action, subject, payload, prev_hash, hash, format FROM audit_log ORDER BY seq")
        .unwrap();
    let entries: Vec<AuditEntry> = stmt
        .query_map([], |r| {
            Ok(AuditEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                subject: r.get(4)?,
                payload: r.get(5)?,
                prev_hash: r.get(6)?,
                hash: r.get(7)?,
                format: r.get(8)?,
            })
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut prev = entries[(from - 2) as usize].hash.clone();
    for mut e in entries.into_iter().filter(|e| e.seq >= from) {
        if e.seq == from {
            e.payload = payload.to_string();
        }
        e.prev_hash = prev.clone();
        e.hash = credo::store::audit::entry_hash_v2(&e);
        db.execute(
            "UPDATE audit_log SET payload = ?2, prev_hash = ?3, hash = ?4 WHERE seq = ?1",
            rusqlite::params![e.seq, e.payload, e.prev_hash, e.hash],
        )
        .unwrap();
        prev = e.hash;
    }
}

#[test]
fn checkpoints_catch_truncation_and_rewrites() {
    let env = Env::new();
    let (a, _) = env.create(&[]);
    let checkpoint = env.path("checkpoint.json");
    env.ok(&["audit", "checkpoint", "--out", &checkpoint]);
    let cp: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&checkpoint).unwrap()).unwrap();
    let pinned = cp["entries"].as_i64().unwrap();
    assert_eq!(cp["type"], "credo-checkpoint-v1");
    let (ok, out) = python(&["--document", &checkpoint, "--public-key", &env.public_key()]);
    assert!(ok && out.contains("valid credo-checkpoint-v1"), "{out}");
    // More work after the checkpoint: still consistent with it.
    env.ok(&["draw", "cancel", &a, "--reason", "wrong departments"]);
    let out = env.ok(&["audit", "verify", "--checkpoint", &checkpoint]);
    assert!(out.contains(&format!("checkpoint ok: entry {pinned}")), "{out}");

    // Rewritten from the plan's creation on, every hash recomputed: the
    // chain verifies, the checkpoint does not.
    let db = env.db();
    let create: i64 = db.query_row("SELECT seq FROM audit_log WHERE action = 'plan.create'", [], |r| r.get(0)).unwrap();
    let payload: String = db.query_row("SELECT payload FROM audit_log WHERE seq = ?1", [create], |r| r.get(0)).unwrap();
    rewrite_chain(&db, create, &payload.replace("\"name\":\"random plan\"", "\"name\":\"another plan\""));
    let m = findings(&env.run(&["audit", "verify", "--checkpoint", &checkpoint]));
    assert!(m.contains("chain      intact"), "{m}");
    assert!(m.contains(&format!("checkpoint FAILED: the log was rewritten: entry {pinned} hashes to")), "{m}");

    // Truncated back to before the checkpoint's head.
    let env = Env::new();
    env.create(&[]);
    env.ok(&["audit", "checkpoint", "--out", &checkpoint]);
    let db = env.db();
    let last: i64 = db.query_row("SELECT MAX(seq) FROM audit_log", [], |r| r.get(0)).unwrap();
    db.execute("DELETE FROM audit_log WHERE seq >= ?1", [last - 1]).unwrap();
    let m = findings(&env.run(&["audit", "verify", "--checkpoint", &checkpoint]));
    assert!(m.contains(&format!("the log was truncated: the checkpoint pins entry {last}")), "{m}");

    // A checkpoint altered, or of another store's key.
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    let altered = env.path("altered.json");
    std::fs::write(&altered, text.replace(&format!("\"entries\": {last}"), &format!("\"entries\": {}", last - 2)))
        .unwrap();
    let e = refused(&env.run(&["audit", "verify", "--checkpoint", &altered]));
    assert!(e.contains("signature is not valid"), "{e}");
    let other = Env::new();
    let e = refused(&env.run(&["audit", "verify", "--checkpoint", &checkpoint, "--public-key", &other.public_key()]));
    assert!(e.contains("signed by key"), "{e}");
}

#[test]
fn audit_entries_have_a_new_format_and_the_store_a_key() {
    let env = Env::new();
    env.create(&[]);
    let db = env.db();
    let formats: Vec<i64> = db
        .prepare("SELECT DISTINCT format FROM audit_log")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(formats, vec![2]);
    let key_file = env.dir.path().join("s.db.ed25519");
    assert!(key_file.exists(), "the private key lives next to the store");
    let private = std::fs::read_to_string(&key_file).unwrap();
    let out = env.ok(&["audit", "key"]);
    assert!(!out.contains(private.trim()), "the private key is never printed");
    // Plan ids are unique across stores.
    let other = Env::new();
    other.create(&[]);
    let id = |e: &Env| {
        let show = e.ok(&["draw", "show", "1"]);
        show.lines().find(|l| l.starts_with("id ")).unwrap().split_whitespace().nth(1).unwrap().to_string()
    };
    assert_ne!(id(&env), id(&other));
    assert!(id(&env).ends_with("/1"));
}
