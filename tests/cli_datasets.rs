//! `credo datasets generate | check | summary` through the real binary.

use crate::common::*;

fn generate(entities: &str, seed: &str, out: &std::path::Path, format: &str) {
    let o = credo(&[
        "datasets",
        "generate",
        "--entities",
        entities,
        "--seed",
        seed,
        "--out",
        out.to_str().unwrap(),
        "--format",
        format,
    ]);
    assert!(o.status.success(), "generate failed: {}", stderr(&o));
}

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn generate_is_deterministic_per_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    generate("3000", "7", &a, "csv");
    generate("3000", "7", &b, "csv");
    generate("3000", "8", &c, "csv");
    let (fa, fb, fc) = (files(&a), files(&b), files(&c));
    assert_eq!(fa.len(), 14);
    assert!(fa == fb, "same seed must give byte-identical files");
    for ((name, x), (_, y)) in fa.iter().zip(&fc) {
        if name.starts_with("entities") || name.starts_with("roles") || name.starts_with("penalties") {
            assert_ne!(x, y, "{name} should differ between seeds");
        }
    }
}

#[test]
fn parquet_output_is_deterministic_and_checks_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    generate("2000", "3", &a, "parquet");
    generate("2000", "3", &b, "parquet");
    assert!(files(&a) == files(&b));
    assert!(files(&a).iter().all(|(n, _)| n.ends_with(".parquet")));
    let o = credo(&["datasets", "check", a.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn parquet_and_csv_load_to_the_same_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    generate("1500", "5", &a, "parquet");
    generate("1500", "5", &b, "csv");
    let sa = stdout(&credo(&["datasets", "summary", a.to_str().unwrap()]));
    let sb = stdout(&credo(&["datasets", "summary", b.to_str().unwrap()]));
    let strip = |s: &str| s.lines().filter(|l| !l.starts_with("dataset hash")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&sa), strip(&sb));
}

#[test]
fn bundled_sample_checks_clean() {
    let o = credo(&["datasets", "check", sample().to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("ok: "));
    assert!(stdout(&o).contains("sha256:"));
    // Every table's line: rows, its time, and the part of it spent waiting
    // for the builder, never more than the whole.
    let tables: Vec<(f64, f64)> = stdout(&o)
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once(" rows ")?;
            let (secs, waited) = rest.trim().split_once("s (")?;
            let waited = waited.strip_suffix("s of it waiting for the builder)")?;
            Some((secs.trim().parse().ok()?, waited.parse().ok()?))
        })
        .collect();
    assert_eq!(tables.len(), 14, "{}", stdout(&o));
    assert!(tables.iter().all(|(secs, waited)| waited <= secs), "{tables:?}");
}

#[test]
fn sample_is_what_the_generator_makes() {
    // datasets/sample is committed output of this exact command; if the
    // generator changes, regenerate it (see datasets/README.md).
    let tmp = tempfile::tempdir().unwrap();
    generate("10000", "20260630", tmp.path(), "csv");
    let ours = files(tmp.path());
    let committed: Vec<_> = files(&sample()).into_iter().filter(|(n, _)| n.ends_with(".csv")).collect();
    assert_eq!(ours.len(), committed.len());
    for ((n1, a), (n2, b)) in ours.iter().zip(&committed) {
        assert_eq!(n1, n2);
        assert!(a == b, "{n1} differs from the generator's output");
    }
}

#[test]
fn corrupted_copies_name_every_bad_row() {
    let dir = copy_dir(&sample());
    let d = dir.path();
    // 1. a corrupted credit code (one character changed) on data row 5
    edit_line(&d.join("entities.csv"), 6, |l| {
        let mut chars: Vec<char> = l.chars().collect();
        chars[10] = if chars[10] == '7' { '8' } else { '7' };
        chars.into_iter().collect()
    });
    // 2. a role naming a valid but missing entity, on data row 3
    edit_line(&d.join("roles.csv"), 4, |l| format!("91370200163562681G{}", &l[18..]));
    // 3. an impossible date in penalties, data row 2
    let pen = line(&d.join("penalties.csv"), 3);
    let fields: Vec<&str> = pen.split(',').collect();
    edit_line(&d.join("penalties.csv"), 3, |l| l.replacen(fields[3], "2024-02-30", 1));
    // 4. a duplicate key: penalty row 1 appended again
    let first = line(&d.join("penalties.csv"), 2);
    append_line(&d.join("penalties.csv"), &first);
    let penalty_rows = std::fs::read_to_string(d.join("penalties.csv")).unwrap().lines().count() - 1;
    // 5. an industry evaluation by a department that is not in departments,
    // data row 4 (an industry evaluation in the sample)
    assert!(line(&d.join("evaluations.csv"), 5).contains(",industry,MPA,"));
    edit_line(&d.join("evaluations.csv"), 5, |l| l.replacen(",industry,MPA,", ",industry,NOSUCH,", 1));

    let o = credo(&["datasets", "check", d.to_str().unwrap(), "--all"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("entities.csv row 5 (line 6) column uscc: invalid credit code"), "{out}");
    assert!(out.contains("roles.csv row 3 (line 4) column uscc: '91370200163562681G' is not in entities"), "{out}");
    assert!(out.contains("penalties.csv row 2 (line 3) column decided_on: '2024-02-30' is not a valid date"), "{out}");
    assert!(
        out.contains(&format!("penalties.csv row {penalty_rows} (line {}) column decision_no: '", penalty_rows + 1)),
        "{out}"
    );
    assert!(out.contains("repeats row 1"), "{out}");
    assert!(
        out.contains(
            "evaluations.csv row 4 (line 5) column source: industry evaluation source 'NOSUCH' is not in departments"
        ),
        "{out}"
    );

    // Loading for real work refuses the dataset and names the problems.
    let o = credo(&["datasets", "summary", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("has problems"), "{}", stderr(&o));
}

#[test]
fn structural_problems_are_reported_not_skipped() {
    let dir = copy_dir(&sample());
    let d = dir.path();
    // A short row, a blank line, an unknown column in another file.
    edit_line(&d.join("complaints.csv"), 4, |l| l.rsplit_once(',').unwrap().0.to_string());
    edit_line(&d.join("commitments.csv"), 5, |_| String::new());
    edit_line(&d.join("departments.csv"), 1, |l| l.replace("name", "nmae"));
    std::fs::remove_file(d.join("officer_relations.csv")).unwrap();
    let o = credo(&["datasets", "check", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("complaints.csv row 3 (line 4): has 6 fields, the header has 7"), "{out}");
    assert!(out.contains("commitments.csv: line 5 is blank"), "{out}");
    assert!(out.contains("departments.csv: unknown column 'nmae'"), "{out}");
    assert!(out.contains("required column 'name' is missing"), "{out}");
    assert!(out.contains("no officer_relations.csv or officer_relations.parquet"), "{out}");
}

#[test]
fn sample_summary_snapshot() {
    let o = credo(&["datasets", "summary", sample().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    snapshot_settings().bind(|| insta::assert_snapshot!("sample_summary", stdout(&o)));
}

#[test]
fn dataset_hash_can_be_recomputed_without_credo() {
    // credo-dataset-v1: SHA-256 of "credo-dataset-v1\n" and one
    // "{file}\t{length}\t{sha256 hex}\n" line per table in fixed order.
    use sha2::{Digest, Sha256};
    let order = [
        "entities",
        "persons",
        "roles",
        "evaluations",
        "penalties",
        "abnormal_listings",
        "complaints",
        "commitments",
        "inspections",
        "repairs",
        "departments",
        "inspection_items",
        "officers",
        "officer_relations",
    ];
    let mut text = String::from("credo-dataset-v1\n");
    for t in order {
        let bytes = std::fs::read(sample().join(format!("{t}.csv"))).unwrap();
        text.push_str(&format!("{t}.csv\t{}\t{}\n", bytes.len(), hex::encode(Sha256::digest(&bytes))));
    }
    let expected = format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())));
    let o = credo(&["datasets", "check", sample().to_str().unwrap()]);
    assert!(stdout(&o).contains(&expected), "{} vs {expected}", stdout(&o));
}
