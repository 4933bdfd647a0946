//! `credo entity show`, `credo lists`, and the commitment lifecycle:
//! approvals granted on a commitment are sampled, a breach found on
//! inspection becomes a dishonesty record and moves the tier.

use crate::common::*;

fn run(store: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--store", store.to_str().unwrap()];
    all.extend_from_slice(args);
    credo(&all)
}

#[test]
fn entity_timeline_snapshot() {
    // A blacklisted entity of the sample with records, a repair and paths.
    let o = credo(&[
        "entity",
        "show",
        "913706812026899267",
        "--data",
        sample().to_str().unwrap(),
        "--rules",
        root().join("rules").to_str().unwrap(),
        "--as-of",
        "2026-06-30",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("BLACKLISTED") && out.contains("repaired") && out.contains("flags "), "{out}");
    snapshot_settings().bind(|| insta::assert_snapshot!("entity_timeline_blacklisted", out));
    let o =
        credo(&["entity", "show", "913706812026899268", "--data", sample().to_str().unwrap(), "--as-of", "2026-06-30"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a valid credit code"), "{}", stderr(&o));
}

/// issue #13: `credo entity show` speaks the plan's language by default;
/// the explanation of a tier-4 (严重失信) entity is pinned in Chinese.
#[test]
fn a_tier_4_entity_is_explained_in_chinese_by_default() {
    let (data, rules) = (sample(), root().join("rules"));
    let args = [
        "entity",
        "show",
        "913706812026899267",
        "--data",
        data.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--as-of",
        "2026-06-30",
    ];
    let o = credo_default_lang(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("信用等级 4 严重失信"), "{out}");
    let explanation = out.split("\n依据\n").nth(1).expect("an explanation section").trim().to_string();
    assert!(explanation.starts_with("记录") || explanation.contains("信用等级 4（严重失信）"), "{explanation}");
    snapshot_settings().bind(|| insta::assert_snapshot!("explanation_tier_4_zh", explanation));
    let mut en = vec!["--lang", "en"];
    en.extend_from_slice(&args);
    let out = stdout(&credo_default_lang(&en));
    assert!(out.contains("\nexplanation\n") && out.contains("tier 4: "), "{out}");
}

#[test]
fn key_attention_list_per_department() {
    let o = credo(&[
        "lists",
        "key-attention",
        "--data",
        sample().to_str().unwrap(),
        "--rules",
        root().join("rules").to_str().unwrap(),
        "--as-of",
        "2026-06-30",
        "--department",
        "MPA",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.trim_end().ends_with("on the key-attention list as of 2026-06-30 with MPA inspection items"), "{out}");
    let all = stdout(&credo(&[
        "lists",
        "key-attention",
        "--data",
        sample().to_str().unwrap(),
        "--rules",
        root().join("rules").to_str().unwrap(),
        "--as-of",
        "2026-06-30",
    ]));
    let count = |s: &str| s.lines().last().unwrap().split_whitespace().next().unwrap().parse::<usize>().unwrap();
    assert!(count(&all) > count(&out), "{all}");
    assert!(all.contains("（四）三") && all.contains("（六）二"), "reasons name the clauses:\n{all}");
}

#[test]
fn a_breached_commitment_found_on_inspection_moves_the_tier() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("s.db");
    let data = sample();
    let rules = root().join("rules");
    let o = run(
        &store,
        &[
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
            "--kind",
            "commitment-check",
            "--release-at",
            "2026-07-01T09:00:00+08:00",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("no approval granted on a commitment awaiting verification"), "{out}");
    let secret = out.lines().find(|l| l.starts_with("secret")).unwrap().split_whitespace().nth(1).unwrap().to_string();
    assert!(
        run(&store, &["draw", "reveal", "1", "--secret", &secret, "--data", data.to_str().unwrap()]).status.success()
    );
    // The first staffed visit: an officer reports the commitment breached.
    let show = stdout(&run(&store, &["draw", "show", "1", "--visits", "1000"]));
    let line = show.lines().find(|l| l.contains(" officers ")).expect("a staffed visit");
    let seq = line.split_whitespace().next().unwrap().to_string();
    let uscc = line.split_whitespace().nth(1).unwrap().to_string();
    let officer = line.rsplit("officers ").next().unwrap().split(", ").next().unwrap().to_string();

    let before = stdout(&credo(&["entity", "show", &uscc, "--data", data.to_str().unwrap(), "--as-of", "2026-09-30"]));
    // Only the assigned officer, for a department with items, after release.
    let wrong = run(
        &store,
        &[
            "draw",
            "result",
            "--data",
            data.to_str().unwrap(),
            "1",
            &seq,
            "--officer",
            "MR-370100-9999",
            "--department",
            "MR",
            "--result",
            "violation",
            "--commitment",
            "breached",
            "--date",
            "2026-07-10",
        ],
    );
    assert_eq!(wrong.status.code(), Some(2));
    // The CLI checks the roster as the API does.
    assert!(stderr(&wrong).contains("is not on the roster"), "{}", stderr(&wrong));
    let early = run(
        &store,
        &[
            "draw",
            "result",
            "--data",
            data.to_str().unwrap(),
            "1",
            &seq,
            "--officer",
            &officer,
            "--department",
            "MR",
            "--result",
            "violation",
            "--commitment",
            "breached",
            "--date",
            "2026-06-20",
        ],
    );
    assert_eq!(early.status.code(), Some(2));
    let o = run(
        &store,
        &[
            "draw",
            "result",
            "--data",
            data.to_str().unwrap(),
            "1",
            &seq,
            "--officer",
            &officer,
            "--department",
            "MR",
            "--result",
            "violation",
            "--commitment",
            "breached",
            "--date",
            "2026-07-10",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let again = run(
        &store,
        &[
            "draw",
            "result",
            "--data",
            data.to_str().unwrap(),
            "1",
            &seq,
            "--officer",
            &officer,
            "--department",
            "MR",
            "--result",
            "compliant",
            "--commitment",
            "fulfilled",
            "--date",
            "2026-07-11",
        ],
    );
    assert_eq!(again.status.code(), Some(2), "one result per department and visit");

    // The next classification (with the store) counts the breach.
    let out = tmp.path().join("c.csv");
    let o = classify(&store, &data, "2026-09-30", &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let row = std::fs::read_to_string(&out).unwrap().lines().find(|l| l.starts_with(&uscc)).unwrap().to_string();
    let tier: u8 = row.split(',').nth(4).unwrap().parse().unwrap();
    assert!(tier >= 3, "a breached approval commitment is at least general dishonesty: {row}\nbefore:\n{before}");
    assert!(row.contains("breached or false credit commitment"), "{row}");
    // The result is in the audit trail under the officer's name.
    let log = stdout(&run(&store, &["audit", "log", "--subject", "plan/1"]));
    assert!(log.contains(&format!("officer:{officer}")) && log.contains("result.submit"), "{log}");

    // issue #13: the breach revoked the MR approval the commitment stood in
    // for, shown in the entity's timeline and audited.
    let show = |lang: &str| {
        let args = ["--lang", lang, "entity", "show", &uscc, "--data", data.to_str().unwrap(), "--as-of", "2026-09-30"];
        stdout(&run(&store, &args))
    };
    let en = show("en");
    assert!(en.contains("approvals revoked for a breached commitment"), "{en}");
    assert!(en.contains("2026-07-10  食品经营许可  department MR"), "{en}");
    assert!(show("zh-CN").contains("因承诺未履行被撤销的审批"));
    let log = stdout(&run(&store, &["audit", "log"]));
    assert!(log.contains("approval.revoke"), "{log}");
    assert!(stdout(&run(&store, &["audit", "verify"])).contains("approval revocations"));
}
