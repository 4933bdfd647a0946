//! Rule sets in the store: a version is stored only once it compiles and
//! its own rule tests (`rules/tests/*.toml`) pass, whoever stores it (an
//! upload through the API, the server's first start); the impact of a
//! version against another (the classification diff) in one shape for
//! both front ends.
//!
//! Never activates a version that has not passed its tests, and never
//! formats for a front end (the diff's text is the library's own report).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{OpsError, Result};
use crate::classify;
use crate::engine::{RuleSet, RuleSource};
use crate::model::Date;
use crate::snapshot::Snapshot;
use crate::store::Store;

/// A rule test that failed: which case, and how (each failure in both
/// languages).
#[derive(Debug)]
pub struct FailedTest {
    pub file: String,
    pub case: String,
    pub failures: Vec<crate::i18n::Text>,
}

impl FailedTest {
    /// `{"file", "case", "failures"}`, the failures in `lang`.
    pub fn json(&self, lang: crate::i18n::Lang) -> serde_json::Value {
        serde_json::json!({
            "file": self.file,
            "case": self.case,
            "failures": self.failures.iter().map(|f| f.get(lang)).collect::<Vec<_>>(),
        })
    }
}

/// A rule test that passed.
#[derive(Debug, Serialize)]
pub struct PassedTest {
    pub file: String,
    pub case: String,
}

/// A rule version as stored.
#[derive(Debug)]
pub struct StoredRules {
    pub id: i64,
    /// false if an identical version was already stored.
    pub created: bool,
    pub tests_passed: usize,
    /// Every case, all passed.
    pub cases: Vec<PassedTest>,
}

/// The files an upload may hold: at most `limits::RULE_FILES`, each
/// `rules.toml`, a `.rhai` script or `tests/*.toml`, by a bounded path.
pub fn check_upload(files: &BTreeMap<String, String>) -> Result<()> {
    use super::limits;
    if files.len() > limits::RULE_FILES {
        let n = files.len();
        return Err(limits::field(
            "files",
            crate::tr!("{n} 个文件；至多 {}", "{n} files; at most {}", limits::RULE_FILES),
        ));
    }
    for path in files.keys() {
        limits::text("files", path, limits::RULE_PATH)?;
        let ok = path == "rules.toml"
            || (path.ends_with(".rhai") && !path.contains('/'))
            || (path.starts_with("tests/") && path.ends_with(".toml") && path.matches('/').count() == 1);
        if !ok || path.contains("..") || path.contains('\\') {
            return Err(OpsError::Rejected(crate::tr!(
                "“{path}”不是 rules.toml、.rhai 脚本或 tests/*.toml",
                "'{path}' is not rules.toml, a .rhai script or tests/*.toml"
            )));
        }
    }
    Ok(())
}

/// Runs a rule set's own tests: the number that passed, or every failure.
pub fn run_tests(rules: &RuleSet) -> Result<usize> {
    Ok(run_tests_listed(rules)?.len())
}

/// Runs a rule set's own tests: every case (all passed), or every failure.
pub fn run_tests_listed(rules: &RuleSet) -> Result<Vec<PassedTest>> {
    let outcomes = crate::ruletest::run(rules).map_err(|e| match e {
        crate::ruletest::TestError::Rule(r) => OpsError::Rule(r),
        crate::ruletest::TestError::File(file, message) => OpsError::RuleTestFile { file, message },
    })?;
    let failed: Vec<FailedTest> = outcomes
        .iter()
        .filter(|o| !o.failures.is_empty())
        .map(|o| FailedTest { file: o.file.clone(), case: o.name.clone(), failures: o.failures.clone() })
        .collect();
    if !failed.is_empty() {
        return Err(OpsError::RuleTests { total: outcomes.len(), failed });
    }
    Ok(outcomes.into_iter().map(|o| PassedTest { file: o.file, case: o.name }).collect())
}

/// Compiles a rule set, runs its tests and stores it as a version (not
/// yet active). Returns the compiled rules with the stored version.
pub fn add_rules(store: &Store, src: RuleSource, actor: &str) -> Result<(RuleSet, StoredRules)> {
    let rules = RuleSet::compile(&src)?;
    let cases = run_tests_listed(&rules)?;
    let files = serde_json::to_value(&src.files).map_err(OpsError::internal(crate::tr!("规则文件", "rule files")))?;
    let (id, created) = store.add_rule_version(rules.hash(), &rules.label(), &files, actor)?;
    Ok((rules, StoredRules { id, created, tests_passed: cases.len(), cases }))
}

/// An entity whose tier the new version changes.
#[derive(Debug, Serialize, Deserialize)]
pub struct Sample {
    pub uscc: String,
    pub name: String,
    pub tier_before: u8,
    pub tier_after: u8,
    pub before: String,
    pub after: String,
}

/// The impact of `to` against `from` over a dataset as of a date (read
/// back from a finished job's result by the console).
#[derive(Debug, Serialize, Deserialize)]
pub struct RulesDiff {
    pub from: String,
    pub from_hash: String,
    pub to: String,
    pub to_hash: String,
    pub as_of: Date,
    /// matrix[from tier - 1][to tier - 1]
    pub matrix: [[usize; 4]; 4],
    pub probability_changed: usize,
    pub expected_by_department: BTreeMap<String, (f64, f64)>,
    pub expected_by_city: BTreeMap<u32, (f64, f64)>,
    pub samples: Vec<Sample>,
    /// The report in words (what `credo rules diff --lang en` prints).
    pub text: String,
    /// The same report in Chinese (what `credo rules diff` prints by
    /// default); not part of the stored job result.
    #[serde(skip)]
    pub text_zh: String,
}

/// Classifies `s` with both rule sets side by side and compares them.
pub fn diff(
    s: &Snapshot,
    from: &RuleSet,
    to: &RuleSet,
    as_of: Date,
    options: &classify::Options,
    samples: usize,
) -> Result<RulesDiff> {
    let d = classify::diff::diff(s, from, to, as_of, options, samples)?;
    Ok(RulesDiff {
        from: from.label(),
        from_hash: from.hash().to_string(),
        to: to.label(),
        to_hash: to.hash().to_string(),
        as_of,
        text: d.render(crate::i18n::Lang::En),
        text_zh: d.render(crate::i18n::Lang::Zh),
        matrix: d.matrix,
        probability_changed: d.probability_changed,
        samples: d
            .samples
            .iter()
            .map(|(x, y)| Sample {
                uscc: x.uscc.to_string(),
                name: x.name.clone(),
                tier_before: x.tier,
                tier_after: y.tier,
                before: x.explanation(),
                after: y.explanation(),
            })
            .collect(),
        expected_by_department: d.expected_by_department,
        expected_by_city: d.expected_by_city,
    })
}
