//! `credo draw ...` through the binary: plan lifecycle, commitment, bundle,
//! independent verification, disclosure, the audit trail, and the
//! once-a-year rule across plans.

use std::collections::HashMap;

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
    /// Creates a plan and returns (id, secret).
    fn create(&self, extra: &[&str]) -> (String, String) {
        self.create_with(&root().join("rules"), extra)
    }
    /// [`Env::create`] under the rule set in `rules`.
    fn create_with(&self, rules: &std::path::Path, extra: &[&str]) -> (String, String) {
        let data = sample();
        let mut args = vec![
            "draw",
            "create",
            "--data",
            data.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--as-of",
            "2026-06-30",
            "--release-at",
            "2026-07-01T09:00:00+08:00",
        ];
        args.extend_from_slice(extra);
        let o = self.run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        let id = out.split_whitespace().nth(1).unwrap().to_string();
        let secret =
            out.lines().find(|l| l.starts_with("secret")).map(|l| l.split_whitespace().nth(1).unwrap().to_string());
        (id, secret.unwrap_or_default())
    }
    fn reveal(&self, id: &str, secret: &str) -> std::process::Output {
        self.run(&["draw", "reveal", id, "--secret", secret, "--data", sample().to_str().unwrap()])
    }
}

#[test]
fn plan_lifecycle_bundle_and_independent_verifier() {
    let env = Env::new();
    let (id, secret) = env.create(&["--departments", "MR,MPA", "--name", "joint check"]);
    assert_eq!(secret.len(), 64);

    // A wrong secret is refused and nothing is drawn.
    let o = env.reveal(&id, &"00".repeat(32));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("commitment does not match secret"), "{}", stderr(&o));

    let o = env.reveal(&id, &secret);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("staffed"), "{}", stdout(&o));
    // Drawn once: a second reveal is refused.
    let o = env.reveal(&id, &secret);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("only a committed plan can be revealed, once"), "{}", stderr(&o));

    let bundle = env.dir.path().join("bundle.txt");
    assert!(env.run(&["draw", "export", &id, "--out", bundle.to_str().unwrap()]).status.success());
    let o = env.run(&["draw", "verify", "--bundle", bundle.to_str().unwrap()]);
    assert!(o.status.success() && stdout(&o).starts_with("identical"), "{}", stdout(&o));
    let o = env.run(&["draw", "verify", "--plan", &id]);
    assert!(o.status.success() && stdout(&o).starts_with("identical"), "{}", stdout(&o));

    // The auditor's own tool, written from docs/draw-spec.md alone (python3
    // is required: its absence fails the test).
    let py = std::process::Command::new("python3")
        .arg(root().join("docs/verify_draw.py"))
        .arg(&bundle)
        .output()
        .expect("python3 is required to run docs/verify_draw.py");
    assert!(py.status.success(), "{}{}", String::from_utf8_lossy(&py.stdout), String::from_utf8_lossy(&py.stderr));
    assert!(String::from_utf8_lossy(&py.stdout).contains("identical"));

    // Changing one byte of the bundle makes verify name the difference.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let at = text.find("\n[visits]").unwrap() + 200;
    bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
    let tampered = env.dir.path().join("tampered.txt");
    std::fs::write(&tampered, &bytes).unwrap();
    let o = env.run(&["draw", "verify", "--bundle", tampered.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(!stdout(&o).contains("identical"), "{}", stdout(&o));

    // Tampering with the stored draw is caught by verify --plan. The draw
    // differs on every run (the secret is random), so the tampering is
    // chosen from what was drawn: the first staffed visit, and the first
    // unstaffed one if this draw has any.
    let conn = rusqlite::Connection::open(env.store()).unwrap();
    // The first visit staffed (or not): its seq, officers and reason.
    let first = |unstaffed: bool| -> Option<(i64, String, Option<String>)> {
        let sql = format!(
            "SELECT seq, officers, unstaffed FROM visits WHERE unstaffed IS {} NULL ORDER BY seq LIMIT 1",
            if unstaffed { "NOT" } else { "" }
        );
        conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).ok()
    };
    let set = |seq: i64, officers: &str, unstaffed: Option<&str>| {
        let sql = "UPDATE visits SET officers = ?1, unstaffed = ?2 WHERE seq = ?3";
        assert_eq!(conn.execute(sql, rusqlite::params![officers, unstaffed, seq]).unwrap(), 1);
    };
    let verify = |want: Option<i32>, says: &str| {
        let o = env.run(&["draw", "verify", "--plan", &id]);
        assert_eq!(o.status.code(), want, "{}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains(says), "wanted '{says}' in: {}", stdout(&o));
    };
    let (seq, officers, _) = first(false).expect("a staffed visit");
    let list: Vec<String> = serde_json::from_str(&officers).unwrap();
    // Another staffing of the same visit: its officers in another order,
    // or another officer when it has one.
    let other =
        if list.len() > 1 { list.iter().rev().cloned().collect::<Vec<_>>() } else { vec![format!("{}9", list[0])] };
    set(seq, &serde_json::to_string(&other).unwrap(), None);
    verify(Some(1), &format!("visit {seq} (uscc "));
    // The same visit also marked unstaffed: named, not read as either.
    set(seq, &officers, Some("no officer available"));
    verify(Some(1), &format!("stored visit {seq} lists both officers and an unstaffed reason"));
    set(seq, "[]", None);
    verify(Some(1), &format!("stored visit {seq} lists neither officers nor an unstaffed reason"));
    set(seq, "not json", None);
    let o = env.run(&["draw", "verify", "--plan", &id]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&format!("plan {id} visit {seq}: column officers is not the JSON it should be")),
        "{}",
        stderr(&o)
    );
    set(seq, &officers, None);
    verify(Some(0), "identical");
    if let Some((seq, officers, reason)) = first(true) {
        // Officers added to an unstaffed visit (the reason kept).
        set(seq, "[\"MR-370100-0001\"]", reason.as_deref());
        verify(Some(1), &format!("stored visit {seq} lists both officers and an unstaffed reason"));
        set(seq, &officers, reason.as_deref());
        verify(Some(0), "identical");
    }
    // A plan's JSON columns are read strictly too: not as empty lists.
    conn.execute("UPDATE plans SET replaces = '3' WHERE id = ?1", [&id]).unwrap();
    let o = env.run(&["draw", "verify", "--plan", &id]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains(&format!("plan {id}: column replaces is not the JSON it should be")), "{}", stderr(&o));
    // Listing the plans names the damaged one.
    let o = env.run(&["draw", "list"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains(&format!("plan {id}: column replaces")), "{}", stderr(&o));
    conn.execute("UPDATE plans SET replaces = '[]' WHERE id = ?1", [&id]).unwrap();
    verify(Some(0), "identical");
    // The frozen frame file changed, or gone, is a difference too (exit 1,
    // as `audit verify` counts it), not a fault of the tool.
    let frame = credo::store::results_dir(std::path::Path::new(&env.store())).join(format!("frames/plan-{id}.bundle"));
    let kept = std::fs::read_to_string(&frame).unwrap();
    // The plan's name in the frame's provenance: the file still reads, but
    // is not the frame committed to.
    assert!(kept.contains("\nname="), "no name line in the frame file");
    std::fs::write(&frame, kept.replacen("\nname=", "\nname=x", 1)).unwrap();
    verify(Some(1), "the frame file was altered");
    std::fs::remove_file(&frame).unwrap();
    verify(Some(1), &frame.display().to_string());
    std::fs::write(&frame, &kept).unwrap();
    verify(Some(0), "identical");
    // Editing an audit entry is caught by the audit chain.
    conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE action = 'plan.create'", []).unwrap();
    let o = env.run(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("was altered"), "{}", stdout(&o));
}

#[test]
fn disclosure_has_no_personal_data() {
    let env = Env::new();
    let (id, secret) = env.create(&["--departments", "MR"]);
    let before = env.dir.path().join("before.json");
    assert!(env.run(&["draw", "publish", &id, "--out", before.to_str().unwrap()]).status.success());
    let text = std::fs::read_to_string(&before).unwrap();
    assert!(text.contains("\"draw\": null"), "results must not be published before the draw");
    assert!(env.reveal(&id, &secret).status.success());
    let after = env.dir.path().join("after.json");
    let o = env.run(&["draw", "publish", &id, "--out", after.to_str().unwrap()]);
    assert!(stdout(&o).contains("plan and results"), "{}", stdout(&o));
    let text = std::fs::read_to_string(&after).unwrap();
    // Frame statistics that are not what credo stored are an error naming
    // them, not published as zeros.
    let conn = rusqlite::Connection::open(env.store()).unwrap();
    conn.execute("UPDATE plans SET frame_stats = '[]' WHERE id = ?1", [&id]).unwrap();
    let o = env.run(&["draw", "publish", &id, "--out", after.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("stored frame statistics"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&after).unwrap(), text, "a refused disclosure leaves the file as it was");
    let persons = std::fs::read_to_string(sample().join("persons.csv")).unwrap();
    for p in persons.lines().skip(1).take(2000) {
        let id = p.split(',').next().unwrap();
        assert!(!text.contains(id), "person hash {id} in the disclosure");
    }
    assert!(!text.contains("MR-370"), "officer ids must not be published");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for v in json["draw"]["visits"].as_array().unwrap() {
        let uscc = v["uscc"].as_str().unwrap();
        if uscc.as_bytes()[1] == b'2' {
            assert!(v["name"].is_null(), "individual business {uscc} published with a name");
        }
    }
}

#[test]
fn rerolling_shows_in_the_log() {
    let env = Env::new();
    let (a, _) = env.create(&["--departments", "MR"]);
    assert!(env.run(&["draw", "cancel", &a, "--reason", "wrong release date"]).status.success());
    let (b, _) = env.create(&["--departments", "MR"]);
    assert_ne!(a, b);
    let log = stdout(&env.run(&["audit", "log"]));
    let cancel = log.lines().find(|l| l.contains("plan.cancel")).unwrap_or_else(|| panic!("no cancel entry:\n{log}"));
    assert!(cancel.contains(&format!("plan/{a} ")) && cancel.contains("wrong release date"), "{cancel}");
    assert_eq!(log.matches("plan.create").count(), 2, "{log}");
    // The new plan over the same population names the cancelled one, and
    // both disclosures say so, the cancelled one with its time.
    let show = stdout(&env.run(&["draw", "show", &b]));
    let replaces = show.lines().find(|l| l.starts_with("replaces")).unwrap_or_else(|| panic!("{show}"));
    assert!(replaces.ends_with(&format!("/{a}")), "{replaces}");
    let out = env.dir.path().join("a.json");
    assert!(env.run(&["draw", "publish", &a, "--out", out.to_str().unwrap()]).status.success());
    let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(d["status"], "cancelled");
    assert!(d["cancelled_at"].is_string() && d["commitment"].is_string() && d["frame_hash"].is_string(), "{d}");
    assert!(d["replaced_by"][0].as_str().unwrap().ends_with(&format!("/{b}")), "{d}");
    // A cancelled plan cannot be drawn.
    let o = env.reveal(&a, &"11".repeat(32));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn own_commitment_is_accepted_and_checked() {
    use sha2::{Digest, Sha256};
    let env = Env::new();
    let secret = "a1".repeat(32);
    let commitment = hex::encode(Sha256::digest(hex::decode(&secret).unwrap()));
    let (id, shown) = env.create(&["--departments", "MR", "--commitment", &commitment]);
    assert!(shown.is_empty(), "credo must not print a secret it did not make");
    assert!(env.reveal(&id, &secret).status.success());
}

/// Staffed visits per entity, across plans.
fn staffed(env: &Env, id: &str) -> Vec<String> {
    let out = stdout(&env.run(&["draw", "show", id, "--visits", "100000"]));
    out.lines().filter(|l| l.contains(" officers ")).map(|l| l.split_whitespace().nth(1).unwrap().to_string()).collect()
}

#[test]
fn tiers_two_and_three_get_at_most_one_random_inspection_a_year() {
    let env = Env::new();
    // Tier of each entity, from a classification with the same inputs.
    let out = env.dir.path().join("c.csv");
    let o = classify(std::path::Path::new(&env.store()), &sample(), "2026-06-30", &out, &[]);
    assert!(o.status.success());
    let tiers: HashMap<String, String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[4].to_string())
        })
        .collect();
    // Random inspections already in the data for 2026.
    let mut count: HashMap<String, usize> = HashMap::new();
    for l in std::fs::read_to_string(sample().join("inspections.csv")).unwrap().lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if (f[4] == "random" || f[4] == "joint_random") && f[3].starts_with("2026") && f[3] <= "2026-06-30" {
            *count.entry(f[1].to_string()).or_default() += 1;
        }
    }
    // Three plans in the same year, each drawn.
    for _ in 0..3 {
        let (id, secret) = env.create(&["--departments", "MR", "--mode", "quota", "--ratio", "0.2"]);
        assert!(env.reveal(&id, &secret).status.success());
        for u in staffed(&env, &id) {
            *count.entry(u).or_default() += 1;
        }
    }
    // Key special fields stay under full supervision (（五）): no cap.
    let key_field: std::collections::HashSet<String> = std::fs::read_to_string(sample().join("entities.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.split(',').nth(7).unwrap_or("").is_empty())
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    let mut checked = 0;
    for (u, n) in &count {
        if matches!(tiers.get(u).map(String::as_str), Some("2" | "3")) && !key_field.contains(u) {
            checked += 1;
            assert!(*n <= 1, "{u} (tier {}) got {n} random inspections in 2026", tiers[u]);
        }
    }
    assert!(checked > 20, "the test must cover tier 2/3 entities ({checked})");
}

/// The excluded count of a frame-stats line of `draw create`'s output.
fn excluded(out: &str, why: &str) -> usize {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("excluded"))
        .filter_map(|l| l.split_once(':'))
        .filter(|(_, w)| w.trim().starts_with(why))
        .map(|(n, _)| n.trim().parse::<usize>().unwrap())
        .sum()
}

/// Issue #13, item 5: "once a year" is the calendar year by default, or the
/// 12 months before the as-of date with `once_a_year_window = "rolling"`
/// in rules.toml's [draw]: random inspections of the second half of 2025
/// then count too, so at least as many entities are spared.
#[test]
fn the_once_a_year_window_is_a_rules_parameter() {
    let env = Env::new();
    let data = sample();
    let create = |rules: &std::path::Path| {
        env.run(&[
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
        ])
    };
    let run = |rules: &std::path::Path| {
        let o = create(rules);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let calendar = run(&root().join("rules"));
    let year = excluded(&calendar, "tier 2: already randomly inspected this year")
        + excluded(&calendar, "tier 3: already randomly inspected this year");
    assert!(year > 0, "{calendar}");
    assert_eq!(excluded(&calendar, "tier 2: already randomly inspected within 12 months"), 0);

    let rules = copy_dir(&root().join("rules"));
    let toml = rules.path().join("rules.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let text = text.replace("[draw]\n", "[draw]\nonce_a_year_window = \"rolling\"\n");
    std::fs::write(&toml, text).unwrap();
    let rolling = run(rules.path());
    let twelve = excluded(&rolling, "tier 2: already randomly inspected within 12 months")
        + excluded(&rolling, "tier 3: already randomly inspected within 12 months");
    assert_eq!(excluded(&rolling, "tier 2: already randomly inspected this year"), 0, "{rolling}");
    assert!(twelve > year, "rolling {twelve} vs calendar {year}: {rolling}");

    // A plan drawn under the rolling window spares, in the next plan, the
    // entities it inspected, named as the earlier plan's doing.
    let (id, secret) = env.create_with(rules.path(), &["--departments", "MR", "--mode", "quota", "--ratio", "0.2"]);
    assert!(env.reveal(&id, &secret).status.success());
    let after = run(rules.path());
    let by_plans = excluded(&after, "tier 2: already randomly inspected within 12 months (source: earlier plans)")
        + excluded(&after, "tier 3: already randomly inspected within 12 months (source: earlier plans)");
    assert!(by_plans > 0, "{after}");

    // An unknown window is refused with the rules file named.
    let bad = copy_dir(&root().join("rules"));
    let toml = bad.path().join("rules.toml");
    let text = std::fs::read_to_string(&toml).unwrap().replace("[draw]\n", "[draw]\nonce_a_year_window = \"fiscal\"\n");
    std::fs::write(&toml, text).unwrap();
    let o = create(bad.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("rules.toml"), "{}", stderr(&o));
}
