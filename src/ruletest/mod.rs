//! Rule tests (`rules/tests/*.toml`), run by `credo rules test` in the manner
//! of `opa test`: each case is a small dataset (one entity, or a few linked
//! by persons) and an as-of date, with the tier, probability, tolerance,
//! lists and explanation fragments it must produce.
//!
//! Cases run through the same facts, stages and propagation as a real
//! classification, so a passing case says what a real run would do.
//!
//! Slightly over 500 lines: the test-file format, the case dataset builder
//! and the expectations are one vocabulary.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Deserialize;

use crate::classify::{self, EntityResult};
use crate::engine::{RuleError, RuleSet};
use crate::i18n::{Lang, Text};
use crate::model::*;
use crate::tr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(rename = "case", default)]
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    as_of: Date,
    entity: CaseEntity,
    /// Other entities, for propagation cases.
    #[serde(default)]
    others: Vec<CaseEntity>,
    /// Roles linking persons (by label) to entities (by label; the main
    /// entity is "main").
    #[serde(default)]
    roles: Vec<CaseRole>,
    #[serde(default = "main_expect")]
    expect: Expect,
    #[serde(default)]
    expect_others: Vec<Expect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseEntity {
    #[serde(default = "main_label")]
    label: String,
    #[serde(default = "default_type")]
    entity_type: EntityType,
    #[serde(default = "default_industry")]
    industry: String,
    #[serde(default = "default_region")]
    region: u32,
    #[serde(default = "default_registered")]
    registered_on: Date,
    #[serde(default = "default_status")]
    status: EntityStatus,
    #[serde(default)]
    key_fields: Vec<KeyField>,
    #[serde(default)]
    new_economy: Option<NewEconomy>,
    #[serde(default)]
    composite_grade: Option<String>,
    #[serde(default)]
    industry_grades: BTreeMap<String, String>,
    #[serde(default)]
    market_rating: Option<String>,
    /// When the evaluations above were made (default: the as-of date);
    /// `composite_evaluated_on` overrides it for the composite grade.
    #[serde(default)]
    evaluated_on: Option<Date>,
    #[serde(default)]
    composite_evaluated_on: Option<Date>,
    #[serde(default)]
    penalties: Vec<CasePenalty>,
    #[serde(default)]
    abnormal_listings: Vec<CaseListing>,
    #[serde(default)]
    complaints: Vec<CaseComplaint>,
    #[serde(default)]
    commitments: Vec<CaseCommitment>,
    #[serde(default)]
    inspections: Vec<CaseInspection>,
    #[serde(default)]
    repairs: Vec<CaseRepair>,
    /// Objections to the entity's records (异议申诉), as the store would
    /// hold them.
    #[serde(default)]
    objections: Vec<CaseObjection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseObjection {
    /// The disputed record's id.
    record: String,
    filed_on: Date,
    /// With `outcome`: when a regulator decided it.
    #[serde(default)]
    decided_on: Option<Date>,
    /// `upheld` or `rejected`.
    #[serde(default)]
    outcome: Option<crate::model::objection::ObjectionOutcome>,
}

fn main_expect() -> Expect {
    Expect { label: main_label(), ..Expect::default() }
}
fn main_label() -> String {
    "main".into()
}
fn default_type() -> EntityType {
    EntityType::LimitedCompany
}
fn default_industry() -> String {
    "F5212".into()
}
fn default_region() -> u32 {
    370102
}
fn default_registered() -> Date {
    Date::from_ymd_opt(2015, 3, 1).expect("date")
}
fn default_status() -> EntityStatus {
    EntityStatus::Active
}
fn mr() -> String {
    "MR".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CasePenalty {
    id: String,
    decided_on: Date,
    severity: Severity,
    #[serde(default)]
    intentional: bool,
    #[serde(default)]
    harmful: bool,
    /// Defaults to 3 months / 1 year / 3 years after the decision.
    #[serde(default)]
    disclosure_until: Option<Date>,
    #[serde(default)]
    fulfilled_on: Option<Date>,
    #[serde(default = "mr")]
    department: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseListing {
    id: String,
    listed_on: Date,
    #[serde(default)]
    removed_on: Option<Date>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseComplaint {
    id: String,
    concluded_on: Date,
    #[serde(default = "verified")]
    status: ComplaintStatus,
}
fn verified() -> ComplaintStatus {
    ComplaintStatus::Verified
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseCommitment {
    id: String,
    kind: CommitmentKind,
    made_on: Date,
    status: CommitmentStatus,
    #[serde(default)]
    checked_on: Option<Date>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseInspection {
    id: String,
    inspected_on: Date,
    result: InspectionResult,
    /// random (default), reminder, ...
    #[serde(default = "random_inspection")]
    kind: InspectionKind,
}

fn random_inspection() -> InspectionKind {
    InspectionKind::Random
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseRepair {
    record: String,
    applied_on: Date,
    /// Id of a repair commitment among the entity's commitments.
    #[serde(default)]
    commitment: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseRole {
    entity: String,
    person: String,
    role: RoleKind,
    #[serde(default)]
    since: Option<Date>,
    #[serde(default)]
    until: Option<Date>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default = "main_label")]
    label: String,
    tier: Option<u8>,
    probability: Option<f64>,
    risk: Option<String>,
    /// A date, or "none".
    tolerance_until: Option<String>,
    exemptions: Option<Vec<String>>,
    accumulation: Option<String>,
    key_attention: Option<bool>,
    blacklisted: Option<bool>,
    /// Whether a random plan under the rule set's draw defaults caps the
    /// entity at one random inspection a year (（二）二, （五）).
    once_a_year_cap: Option<bool>,
    /// The share of its stratum a quota plan draws (strata by tier).
    quota_ratio: Option<f64>,
    /// The minimum share of its stratum in a quota plan.
    quota_min_ratio: Option<f64>,
    #[serde(default)]
    explanation_contains: Vec<String>,
}

/// The outcome of one case.
pub struct CaseOutcome {
    pub file: String,
    pub name: String,
    /// Empty when the case passed; each in both languages.
    pub failures: Vec<Text>,
    /// The (last failing, or first) entity's explanation, in both languages.
    pub explanation: Text,
}

/// Why the tests could not run at all.
#[derive(Debug)]
pub enum TestError {
    /// A test file is malformed: file (with line and column when known)
    /// and why, in both languages (a TOML parser's message as it is).
    File(String, Text),
    Rule(RuleError),
}

impl TestError {
    /// What the user reads, in both languages (`Display` is the English).
    pub fn text(&self) -> Text {
        match self {
            TestError::File(file, m) => m.map(|lang, m| match lang {
                Lang::Zh => format!("规则测试文件 {file}：{m}"),
                Lang::En => format!("{file}: {m}"),
            }),
            TestError::Rule(e) => e.text(),
        }
    }
}

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestError::File(file, m) => write!(f, "{file}: {}", m.en()),
            TestError::Rule(e) => write!(f, "{e}"),
        }
    }
}

fn uscc_for(n: u64) -> Uscc {
    let mut body = [b'0'; 8];
    let mut x = n + 1;
    for b in body.iter_mut().rev() {
        *b = crate::model::uscc::ALPHABET[(x % 31) as usize];
        x /= 31;
    }
    Uscc::assemble(b'9', b'1', 370102, body).expect("valid test code")
}

fn person_for(label: &str) -> PersonId {
    let h = <sha2::Sha256 as sha2::Digest>::digest(format!("credo-test-person:{label}").as_bytes());
    PersonId(h[..16].try_into().expect("16 bytes"))
}

fn add_entity(ds: &mut Dataset, e: &CaseEntity, uscc: Uscc, as_of: Date) -> Result<(), InvalidValue> {
    let industry = IndustryCode::parse(&e.industry)?;
    let mut key_fields = KeyFields::default();
    for k in &e.key_fields {
        key_fields.insert(*k);
    }
    ds.entities.push(MarketEntity {
        uscc,
        name: format!("test entity {}", e.label),
        entity_type: e.entity_type,
        region: e.region,
        industry,
        registered_on: e.registered_on,
        status: e.status,
        key_fields,
        new_economy: e.new_economy,
    });
    let eval = |kind, source: &str, grade: &str| CreditEvaluation {
        uscc,
        kind,
        source: source.into(),
        evaluated_on: e.evaluated_on.unwrap_or(as_of),
        grade: grade.into(),
    };
    if let Some(g) = &e.composite_grade {
        let mut ev = eval(EvaluationKind::Composite, "NPCIC", g);
        ev.evaluated_on = e.composite_evaluated_on.unwrap_or(ev.evaluated_on);
        ds.evaluations.push(ev);
    }
    for (d, g) in &e.industry_grades {
        ds.evaluations.push(eval(EvaluationKind::Industry, d, g));
    }
    if let Some(g) = &e.market_rating {
        ds.evaluations.push(eval(EvaluationKind::Market, "agency", g));
    }
    for p in &e.penalties {
        let months = match p.severity {
            Severity::Minor => 3,
            Severity::General => 12,
            Severity::Serious => 36,
        };
        ds.penalties.push(Penalty {
            decision_no: p.id.as_str().into(),
            uscc,
            department: p.department.as_str().into(),
            decided_on: p.decided_on,
            severity: p.severity,
            intentional: p.intentional,
            harmful: p.harmful,
            disclosure_until: p
                .disclosure_until
                .unwrap_or_else(|| p.decided_on.checked_add_months(chrono::Months::new(months)).expect("date")),
            fulfilled_on: p.fulfilled_on,
        });
    }
    for l in &e.abnormal_listings {
        ds.abnormal_listings.push(AbnormalListing {
            listing_id: l.id.as_str().into(),
            uscc,
            department: "MR".into(),
            listed_on: l.listed_on,
            reason: AbnormalReason::AnnualReportMissing,
            removed_on: l.removed_on,
        });
    }
    for c in &e.complaints {
        ds.complaints.push(Complaint {
            complaint_id: c.id.as_str().into(),
            uscc,
            hotline: Hotline::H12315,
            department: "MR".into(),
            received_on: c.concluded_on,
            status: c.status,
            concluded_on: Some(c.concluded_on),
        });
    }
    for c in &e.commitments {
        ds.commitments.push(Commitment {
            commitment_id: c.id.as_str().into(),
            uscc,
            kind: c.kind,
            made_on: c.made_on,
            subject: "test".into(),
            status: c.status,
            checked_on: c.checked_on,
            department: None,
            approval_item: None,
        });
    }
    for x in &e.inspections {
        ds.inspections.push(InspectionRecord {
            inspection_id: x.id.as_str().into(),
            uscc,
            department: "MR".into(),
            inspected_on: x.inspected_on,
            kind: x.kind,
            result: x.result,
            officers: Vec::new(),
        });
    }
    for (k, r) in e.repairs.iter().enumerate() {
        ds.repairs.push(RepairApplication {
            repair_id: format!("{}-repair-{k}", e.label).into(),
            uscc,
            record_id: r.record.as_str().into(),
            applied_on: r.applied_on,
            commitment_id: r.commitment.as_deref().map(Into::into),
        });
    }
    Ok(())
}

fn case_dataset(case: &Case) -> Result<(Dataset, BTreeMap<String, Uscc>), Text> {
    let mut ds = Dataset::default();
    let mut labels = BTreeMap::new();
    for (i, e) in std::iter::once(&case.entity).chain(&case.others).enumerate() {
        let u = uscc_for(i as u64);
        if labels.insert(e.label.clone(), u).is_some() {
            return Err(tr!("主体标签“{}”用了两次", "entity label '{}' is used twice", e.label));
        }
        add_entity(&mut ds, e, u, case.as_of)
            .map_err(|x| Text::new(format!("主体“{}”的行业代码无效：{}", e.label, x.0), x.0))?;
    }
    for r in &case.roles {
        let Some(u) = labels.get(&r.entity) else {
            return Err(tr!(
                "角色所指的主体“{}”在用例中未定义",
                "role names entity '{}', which the case does not define",
                r.entity
            ));
        };
        ds.roles.push(Role {
            uscc: *u,
            person_id: person_for(&r.person),
            role: r.role,
            since: r.since.unwrap_or_else(|| Date::from_ymd_opt(2000, 1, 1).expect("date")),
            until: r.until,
        });
    }
    // What the rows refer to: their persons and departments.
    ds.complete_references();
    Ok((ds, labels))
}

/// The case's objections, added to its snapshot as the store's would be.
fn add_objections(case: &Case, labels: &BTreeMap<String, Uscc>, s: &mut crate::snapshot::Snapshot) -> Result<(), Text> {
    use crate::model::objection::{Objection, ObjectionStatus};
    let mut id = 0;
    for e in std::iter::once(&case.entity).chain(&case.others) {
        for o in &e.objections {
            id += 1;
            let status = match (o.outcome, o.decided_on) {
                (None, None) => ObjectionStatus::Open,
                (Some(outcome), Some(_)) => outcome.status(),
                _ => {
                    return Err(tr!(
                        "对 {} 的异议：outcome 与 decided_on 须同时给出或都不给",
                        "objection to {}: give both outcome and decided_on, or neither",
                        o.record
                    ));
                }
            };
            s.objections.add(Objection {
                id,
                uscc: labels[&e.label],
                record_id: o.record.clone(),
                reason: "rule test".into(),
                filed_on: o.filed_on,
                filed_by: "test".into(),
                status,
                decided_on: o.decided_on,
                decision_reason: None,
                decided_by: None,
            });
        }
    }
    Ok(())
}

/// What a plan would do with an entity, under the rule set's draw defaults.
struct PlanView<'a> {
    random: crate::plan::PlanParams,
    quota: crate::plan::PlanParams,
    snapshot: &'a crate::snapshot::Snapshot,
}

fn check(expect: &Expect, r: &EntityResult, plan: &PlanView<'_>, failures: &mut Vec<Text>) {
    let mut diff = |what: &str, want: String, got: String| {
        if want != got {
            failures.push(tr!(
                "{what}\n      期望 {want}\n      实得 {got}",
                "{what}\n      expected {want}\n      got      {got}"
            ));
        }
    };
    if let Some(t) = expect.tier {
        diff("tier", t.to_string(), r.tier.to_string());
    }
    if let Some(p) = expect.probability {
        diff("probability", format!("{p:.6}"), format!("{:.6}", r.probability()));
    }
    if let Some(risk) = &expect.risk {
        diff("risk", risk.clone(), r.risk_code().to_string());
    }
    if let Some(t) = &expect.tolerance_until {
        diff("tolerance_until", t.clone(), r.tolerance_until.map_or("none".into(), |d| d.to_string()));
    }
    if let Some(x) = &expect.exemptions {
        diff("exemptions", format!("{x:?}"), format!("{:?}", r.exemptions));
    }
    if let Some(a) = &expect.accumulation {
        diff("accumulation", a.clone(), r.accumulation.to_string());
    }
    if let Some(k) = expect.key_attention {
        diff("key_attention", k.to_string(), r.key_attention.to_string());
    }
    if let Some(b) = expect.blacklisted {
        diff("blacklisted", b.to_string(), r.blacklisted.to_string());
    }
    if let Some(c) = expect.once_a_year_cap {
        let key_fields = plan
            .snapshot
            .entities
            .find(&r.uscc)
            .map(|e| plan.snapshot.entities.key_fields[e as usize])
            .unwrap_or_default();
        diff("once_a_year_cap", c.to_string(), plan.random.once_a_year_applies(r.tier, key_fields).to_string());
    }
    let by_tier = plan.quota.strata.contains(&crate::model::StratumDimension::Tier).then_some(r.tier);
    let (ratio, min_ratio) = plan.quota.quota_for(by_tier);
    if let Some(q) = expect.quota_ratio {
        diff("quota_ratio", format!("{q:.6}"), format!("{:.6}", f64::from(ratio) / 1e6));
    }
    if let Some(q) = expect.quota_min_ratio {
        diff("quota_min_ratio", format!("{q:.6}"), format!("{:.6}", f64::from(min_ratio) / 1e6));
    }
    // A fragment may be given in either language.
    let explanation = format!("{}\n{}", r.explanation_in(Lang::En), r.explanation_in(Lang::Zh));
    for frag in &expect.explanation_contains {
        if !explanation.contains(frag.as_str()) {
            failures.push(tr!("说明中没有 {frag:?}", "explanation does not contain {frag:?}"));
        }
    }
}

/// Runs every test file of the rule set (`tests/*.toml` in its source).
pub fn run(rules: &RuleSet) -> Result<Vec<CaseOutcome>, TestError> {
    let mut out = Vec::new();
    for (file, text) in rules.source().files.iter().filter(|(f, _)| f.starts_with("tests/")) {
        let parsed: TestFile = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| crate::engine::manifest::line_col(text, s.start));
            let loc = at.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default();
            TestError::File(format!("{file}{loc}"), tr!("格式错误：{}", "{}", e.message()))
        })?;
        for case in &parsed.cases {
            let bad = |m: Text| {
                let name = &case.name;
                TestError::File(
                    file.clone(),
                    m.map(|lang, m| match lang {
                        Lang::Zh => format!("用例“{name}”：{m}"),
                        Lang::En => format!("case '{name}': {m}"),
                    }),
                )
            };
            let (ds, labels) = case_dataset(case).map_err(bad)?;
            let mut snapshot = crate::data::snapshot_of(&ds)
                .map_err(|p| bad(Text::new(p.render_in(10, Lang::Zh), p.render_in(10, Lang::En))))?;
            add_objections(case, &labels, &mut snapshot).map_err(bad)?;
            let (_, results) = classify::classify_all(&snapshot, rules, case.as_of).map_err(|e| match e {
                classify::ClassifyError::Rule(r) => TestError::Rule(r),
                other => bad(other.text()),
            })?;
            let defaults = &rules.manifest.draw;
            let plan_params =
                |kind| crate::plan::PlanParams::with_defaults("rule test", kind, Vec::new(), case.as_of, defaults);
            let mut quota = plan_params(crate::plan::PlanKind::Random);
            quota.mode = crate::plan::SelectionMode::Quota;
            let plan = PlanView { random: plan_params(crate::plan::PlanKind::Random), quota, snapshot: &snapshot };
            let mut failures = Vec::new();
            let mut explanation: Option<Text> = None;
            for expect in std::iter::once(&case.expect).chain(&case.expect_others) {
                let Some(u) = labels.get(&expect.label) else {
                    failures.push(tr!(
                        "期望所指的主体“{}”在用例中未定义",
                        "expectation for unknown entity '{}'",
                        expect.label
                    ));
                    continue;
                };
                match results.iter().find(|r| r.uscc == *u) {
                    None => failures.push(tr!(
                        "主体“{}”未被分类（登记日期晚于评价日期？）",
                        "entity '{}' was not classified (registered after the as-of date?)",
                        expect.label
                    )),
                    Some(r) => {
                        let before = failures.len();
                        check(expect, r, &plan, &mut failures);
                        if expect.label != "main" {
                            for f in &mut failures[before..] {
                                *f = f.map(|_, f| format!("[{}] {f}", expect.label));
                            }
                        }
                        if explanation.is_none() || failures.len() > before {
                            let label = &expect.label;
                            explanation = Some(Text::new(
                                format!("[{label}] {}", r.explanation_in(Lang::Zh)),
                                format!("[{label}] {}", r.explanation_in(Lang::En)),
                            ));
                        }
                    }
                }
            }
            let explanation = explanation.unwrap_or_else(|| Text::same(""));
            out.push(CaseOutcome { file: file.clone(), name: case.name.clone(), failures, explanation });
        }
    }
    Ok(out)
}

/// Renders outcomes like `opa test -v`, in `lang`: failures with their diff.
pub fn render(outcomes: &[CaseOutcome], verbose: bool, lang: Lang) -> String {
    let (pass, fail, explanation) = match lang {
        Lang::Zh => ("通过", "失败", "说明："),
        Lang::En => ("PASS", "FAIL", "explanation: "),
    };
    let mut s = String::new();
    let mut current = "";
    for o in outcomes {
        let file_fails = outcomes.iter().any(|x| x.file == o.file && !x.failures.is_empty());
        if o.file != current && (verbose || file_fails) {
            let _ = writeln!(s, "{}:", o.file);
            current = &o.file;
        }
        if o.failures.is_empty() {
            if verbose {
                let _ = writeln!(s, "  {pass} {}", o.name);
            }
        } else {
            let _ = writeln!(s, "  {fail} {}", o.name);
            for f in &o.failures {
                let _ = writeln!(s, "    {}", f.get(lang));
            }
            let _ = writeln!(s, "    {explanation}{}", o.explanation.get(lang));
        }
    }
    let failed = outcomes.iter().filter(|o| !o.failures.is_empty()).count();
    let _ = writeln!(s, "{}", "-".repeat(72));
    match lang {
        Lang::Zh => {
            let _ = writeln!(s, "通过：{}/{}", outcomes.len() - failed, outcomes.len());
            if failed > 0 {
                let _ = writeln!(s, "失败：{failed}/{}", outcomes.len());
            }
        }
        Lang::En => {
            let _ = writeln!(s, "PASS: {}/{}", outcomes.len() - failed, outcomes.len());
            if failed > 0 {
                let _ = writeln!(s, "FAIL: {failed}/{}", outcomes.len());
            }
        }
    }
    s
}
