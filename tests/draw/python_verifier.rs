//! The independent Python verifier (docs/verify_draw.py) agrees with credo.
use super::fixtures as common;

use std::process::Command;

use credo::draw::*;

/// The Python interpreter. Its absence fails the test: the independent
/// verifier is part of what credo promises auditors.
pub fn python() -> Option<&'static str> {
    let found = ["python3", "python"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success()));
    assert!(found.is_some(), "python3 is required to run the independent verifier (docs/verify_draw.py)");
    found
}

fn run(py: &str, path: &std::path::Path) -> (bool, String) {
    run_args(py, &[path.to_str().unwrap()])
}

/// Runs docs/verify_draw.py with `args`.
pub fn run_args(py: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(py)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/verify_draw.py"))
        .args(args)
        .output()
        .expect("run python");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + String::from_utf8_lossy(&out.stderr).as_ref();
    (out.status.success(), text)
}

#[test]
fn python_verifier_agrees() {
    let Some(py) = python() else { unreachable!() };
    let dir = std::env::temp_dir().join(format!("credo-draw-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (per_visit, cap) in [(2, 2), (3, 1), (2, 5)] {
        let frame = common::frame(per_visit, cap);
        let result = draw(&frame, &common::secret(), &common::beacon()).unwrap();
        let text = Bundle::render_parts(&frame, &common::secret(), &common::beacon(), &result);
        let path = dir.join(format!("bundle-{per_visit}-{cap}.txt"));
        std::fs::write(&path, &text).unwrap();
        let (ok, out) = run(py, &path);
        assert!(ok && out.trim_end() == "identical", "python verifier on a good bundle: {out}");

        // A consistent forgery: swap two officers' order of a staffed visit
        // and re-render (all hashes valid), so only re-derivation can tell.
        let mut forged = result.clone();
        let v = forged.visits.iter_mut().find(|v| matches!(v.outcome, Outcome::Staffed(_))).unwrap();
        if let Outcome::Staffed(t) = &mut v.outcome {
            t.swap(0, 1);
        }
        let path2 = dir.join(format!("forged-{per_visit}-{cap}.txt"));
        std::fs::write(&path2, Bundle::render_parts(&frame, &common::secret(), &common::beacon(), &forged)).unwrap();
        let (ok, out) = run(py, &path2);
        assert!(!ok && out.contains("visit") && !out.contains("identical"), "forged: {out}");

        // A single changed byte.
        let mut bytes = text.clone().into_bytes();
        let pos = text.find("[officers]").unwrap() + 40;
        bytes[pos] ^= 1;
        let path3 = dir.join(format!("tampered-{per_visit}-{cap}.txt"));
        std::fs::write(&path3, &bytes).unwrap();
        let (ok, out) = run(py, &path3);
        assert!(!ok && !out.contains("identical") && !out.is_empty(), "tampered: {out}");
    }
    // Escaped texts, an empty beacon, a probability stratum, shared
    // officers of a non-participating department.
    let mut plan = common::plan(2, 1);
    plan.plan_id = "plan\twith\ttabs\nand 100% newlines".into();
    plan.beacon_source = String::new();
    let strata = vec![
        Stratum { key: "all %\t".into(), mode: StratumMode::Probability },
        Stratum { key: "q".into(), mode: StratumMode::Quota { ratio_ppm: 1, min_ratio_ppm: 0 } },
    ];
    let mut officers = common::officers();
    officers.push(Officer {
        officer_id: "执法-TAX-1".into(),
        department: "TAX".into(),
        city: 370100,
        qualifications: vec!["MR-01".into()],
        active: true,
        persons: vec![],
    });
    let mut b = FrameBuilder::new(plan, strata, officers).unwrap();
    for n in 0..40u64 {
        let persons = [common::person(n as u32 % 4)];
        b.push(NewEntity {
            uscc: common::uscc(370102, n * 31 + 3),
            stratum: if n % 3 == 0 { "q" } else { "all %\t" },
            probability_ppm: 700_000,
            exclusion: (n % 7 == 0).then_some("一级：非必要不打扰\n(tier 1)"),
            city: 370100,
            items: &[("MR", "MR-01"), ("MPA", "MPA-03")][..1 + (n % 2) as usize],
            persons: &persons,
            recent_officers: if n % 5 == 0 { &["MR-JN-02", "gone-officer"] } else { &[] },
        })
        .unwrap();
    }
    let frame = b.build().unwrap();
    let result = draw(&frame, &common::secret(), &[]).unwrap();
    assert!(result.visits.len() > 10);
    let path = dir.join("escaped.txt");
    std::fs::write(&path, Bundle::render_parts(&frame, &common::secret(), &[], &result)).unwrap();
    let (ok, out) = run(py, &path);
    assert!(ok && out.trim_end() == "identical", "python verifier on the escaped bundle: {out}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Pseudo-random frames (varied caps, team sizes, conflicts, cities, quotas)
/// checked by both verifiers.
#[test]
fn python_verifier_agrees_on_varied_frames() {
    let Some(py) = python() else { unreachable!() };
    let dir = std::env::temp_dir().join(format!("credo-draw-vary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    const ITEMS: [(&str, &str); 6] =
        [("EM", "EM-01"), ("EM", "EM-02"), ("MPA", "MPA-03"), ("MPA", "MPA-05"), ("MR", "MR-01"), ("MR", "MR-02")];
    for case in 0..12u64 {
        let mut x = case.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let cities = [370100, 370200, 370300];
        let depts = ["EM", "MPA", "MR", "TAX"];
        let officers: Vec<Officer> = (0..20 + next(40))
            .map(|i| {
                let d = depts[next(4) as usize];
                Officer {
                    officer_id: format!("{}-{:04}-{}", d, i, "x".repeat(next(80) as usize)),
                    department: d.into(),
                    city: cities[next(3) as usize],
                    qualifications: ITEMS.iter().filter(|_| next(3) > 0).map(|i| i.1.to_string()).collect(),
                    active: next(10) > 0,
                    persons: (0..next(3)).map(|_| common::person(next(30) as u32)).collect(),
                }
            })
            .collect();
        let ids: Vec<String> = officers.iter().map(|o| o.officer_id.clone()).collect();
        let strata = vec![
            Stratum { key: "p".into(), mode: StratumMode::Probability },
            Stratum {
                key: "q1".into(),
                mode: StratumMode::Quota { ratio_ppm: next(1_000_001) as u32, min_ratio_ppm: next(300_000) as u32 },
            },
            Stratum { key: "q2".into(), mode: StratumMode::Quota { ratio_ppm: 0, min_ratio_ppm: 250_000 } },
        ];
        let mut b = FrameBuilder::new(common::plan(2 + next(2) as u32, 1 + next(3) as u32), strata, officers).unwrap();
        for n in 0..(30 + next(60)) {
            let items: Vec<(&str, &str)> = ITEMS.iter().copied().filter(|_| next(3) == 0).collect();
            let items = if items.is_empty() { vec![ITEMS[next(6) as usize]] } else { items };
            let persons: Vec<_> = (0..next(3)).map(|_| common::person(next(30) as u32)).collect();
            let recent: Vec<&str> = (0..next(2)).map(|_| ids[next(ids.len() as u64) as usize].as_str()).collect();
            b.push(NewEntity {
                uscc: common::uscc(370102, n * 97 + case),
                stratum: ["p", "q1", "q2"][next(3) as usize],
                probability_ppm: next(1_000_001) as u32,
                exclusion: (next(8) == 0).then_some("excluded"),
                city: cities[next(3) as usize],
                items: &items,
                persons: &persons,
                recent_officers: &recent,
            })
            .unwrap();
        }
        let frame = b.build().unwrap();
        let result = draw(&frame, &common::secret(), &case.to_be_bytes()).unwrap();
        let text = Bundle::render_parts(&frame, &common::secret(), &case.to_be_bytes(), &result);
        assert!(verify(&text).is_identical());
        let path = dir.join(format!("vary-{case}.txt"));
        std::fs::write(&path, &text).unwrap();
        let (ok, out) = run(py, &path);
        assert!(ok && out.trim_end() == "identical", "case {case}: {out}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// credo-draw-v2: the golden bundle, its signature against a given key,
/// the beacon checks, and signed documents.
#[test]
fn python_verifier_agrees_on_v2() {
    let Some(py) = python() else { unreachable!() };
    let dir = tempfile::tempdir().unwrap();
    let key = common::signing_key().public_key().to_hex();
    let path = dir.path().join("golden-v2.bundle");
    std::fs::write(&path, super::golden_v2::golden_v2()).unwrap();
    let p = path.to_str().unwrap();
    let (ok, out) = run_args(py, &["--public-key", &key, "--beacon-value", "5 2 7", p]);
    assert!(ok && out.trim_end() == format!("identical (credo-draw-v2, signed by {key})"), "{out}");
    let key_file = dir.path().join("store.pub");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let (ok, out) = run_args(py, &["--public-key", key_file.to_str().unwrap(), p]);
    assert!(ok, "{out}");
    let other = credo::trust::SigningKey::from_seed(&[9; 32]).public_key().to_hex();
    let (ok, out) = run_args(py, &["--public-key", &other, p]);
    assert!(!ok && out.contains("not by the given key"), "{out}");
    let (ok, out) = run_args(py, &["--beacon-value", "1 2 3", p]);
    assert!(!ok && out.contains("the beacon was swapped"), "{out}");
    // Forged bundles, each consistent and signed, each caught.
    let f = common::frame_v2(2, 2, BeaconRule::Digits);
    for (value, beacon, want) in
        [("", &b""[..], "the beacon was dropped"), ("5 2 7", &b"123"[..], "rule digits makes bytes 353237")]
    {
        let r = draw(&f, &common::secret(), beacon).unwrap();
        let reveal = BeaconReveal { value: value.into(), supplied_at: common::reveal().supplied_at };
        let text = Bundle::render_v2(&f, &common::secret(), beacon, &reveal, &r, Some(&common::signing_key())).unwrap();
        let path = dir.path().join("forged.bundle");
        std::fs::write(&path, &text).unwrap();
        let (ok, out) = run(py, &path);
        assert!(!ok && out.contains(want), "{want}: {out}");
    }
    let none = common::frame_v2(2, 2, BeaconRule::None);
    let r = draw(&none, &common::secret(), b"abc").unwrap();
    let reveal = BeaconReveal { value: "abc".into(), supplied_at: common::reveal().supplied_at };
    let text = Bundle::render_v2(&none, &common::secret(), b"abc", &reveal, &r, None).unwrap();
    std::fs::write(dir.path().join("none.bundle"), &text).unwrap();
    let (ok, out) = run(py, &dir.path().join("none.bundle"));
    assert!(!ok && out.contains("names no beacon"), "{out}");
    // A signature over a changed manifest.
    let mut text = super::golden_v2::golden_v2();
    let sig = text.split_off(text.find("[signature]").unwrap());
    let (beacon, mut r) = draw_v2(&f, &common::secret(), "5 2 7").unwrap();
    r.visits.swap(0, 1);
    let changed =
        Bundle::render_v2(&f, &common::secret(), &beacon, &common::reveal(), &r, None).unwrap() + sig.as_str();
    std::fs::write(dir.path().join("resigned.bundle"), &changed).unwrap();
    let (ok, out) = run(py, &dir.path().join("resigned.bundle"));
    assert!(!ok && out.contains("not a valid signature"), "{out}");
    // Signed documents (checkpoints, disclosures).
    let doc = credo::trust::sign_document(
        &common::signing_key(),
        serde_json::json!({ "type": "credo-checkpoint-v1", "store_id": common::STORE_ID, "entries": 42,
            "head": "ab".repeat(32), "at": "2026-03-02T00:00:00Z", "note": "Ünïcode \"quoted\"\n" }),
    )
    .unwrap();
    let doc_path = dir.path().join("checkpoint.json");
    std::fs::write(&doc_path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let d = doc_path.to_str().unwrap();
    let (ok, out) = run_args(py, &["--document", d, "--public-key", &key]);
    assert!(ok && out.contains("valid credo-checkpoint-v1"), "{out}");
    let (ok, out) = run_args(py, &["--document", d, "--public-key", &other]);
    assert!(!ok && out.contains("signed by key"), "{out}");
    let text = std::fs::read_to_string(&doc_path).unwrap().replace("\"entries\": 42", "\"entries\": 41");
    std::fs::write(&doc_path, text).unwrap();
    let (ok, out) = run_args(py, &["--document", d]);
    assert!(!ok && out.contains("changed after signing"), "{out}");
}
