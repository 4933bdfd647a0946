//! The rules engine: compiles a rule set (rules.toml + Rhai scripts) once,
//! checks every entry point before any data is touched, and evaluates the
//! stages of a classification over entity facts in parallel, evaluating
//! each distinct input of a stage only once.
//!
//! Invariants: the engine does no IO (rule files arrive as a
//! [`RuleSource`]); scripts run sandboxed (no files, modules, wall clock or
//! eval; bounded operations, depth and sizes); every answer is a pure
//! function of (entity facts, rule set, as-of date); every failure is a
//! [`RuleError`] naming file, line, column, rule and entity.

pub mod error;
pub mod facts;
mod host;
pub mod manifest;
mod probe;

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;
use rhai::{AST, CallFnOptions, Dynamic, Engine, EvalAltResult, Map, Scope};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

pub use error::RuleError;
pub use facts::{
    EntityFacts, EvaluationDates, Field, FieldMask, PropagatedFlag, RecordFacts, RecordKind, RepairFacts, StageFacts,
    Text,
};
pub use manifest::{DrawDefaults, Entry, Manifest, OfficerArea, Stage};

use crate::i18n::Lang;
use crate::model::Date;
use host::{EntityView, RuleDate};

/// The files of a rule set: `rules.toml`, the `.rhai` scripts and the rule
/// tests (`tests/*.toml`), by relative path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSource {
    pub files: BTreeMap<String, String>,
}

impl RuleSource {
    /// SHA-256 over every file in path order: the path (UTF-8), a zero byte,
    /// the content length as 8 bytes little-endian, the content. `sha256:<hex>`.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for (path, text) in &self.files {
            h.update(path.as_bytes());
            h.update([0u8]);
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    }
}

/// Why a decision was taken: the rule, the plan's clause, the records that
/// mattered and a short reason. Every stage answer carries one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub stage: Stage,
    /// `file:function`, e.g. `tier.rhai:tier`.
    pub rule: Arc<str>,
    pub clause: Arc<str>,
    /// The reason as the rule gave it: its only text, or the `en` form of
    /// `#{ zh: …, en: … }`. Frames and English output use it.
    pub reason: String,
    /// The `zh` form, when the rule gave both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_zh: Option<String>,
    /// Ids of the records the rule named.
    pub inputs: Vec<String>,
}

impl Decision {
    /// The reason in `lang` (the rule's only text if it gave one).
    pub fn reason_in(&self, lang: Lang) -> &str {
        match (lang, &self.reason_zh) {
            (Lang::Zh, Some(zh)) => zh,
            _ => &self.reason,
        }
    }

    /// `reason [rule clause] (inputs)` in `lang`.
    pub fn render(&self, lang: Lang) -> String {
        let mut s = format!("{} [{} {}]", self.reason_in(lang), self.rule, self.clause);
        if !self.inputs.is_empty() {
            let sep = if lang == Lang::Zh { "、" } else { ", " };
            s.push_str(&format!(" ({})", self.inputs.join(sep)));
        }
        s
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

/// What is wrong with the map a rule returned (the caller's `RuleError`
/// adds the file, line, rule and entity).
#[derive(Debug, thiserror::Error)]
enum AnswerError {
    #[error("the map has no `{0}`")]
    Missing(String),
    #[error("`{key}` must be {expected}, found {found}")]
    WrongType { key: String, expected: &'static str, found: String },
    #[error("unknown key(s) {unknown} in the returned map (known: {known})")]
    UnknownKeys { unknown: String, known: String },
    #[error("`{key}` has an unknown language `{lang}`; expected #{{ zh: \"…\", en: \"…\" }}")]
    UnknownLanguage { key: String, lang: String },
    #[error("`{key}`: {inner}")]
    In { key: String, inner: Box<AnswerError> },
}

fn wrong_type(key: &str, expected: &'static str, found: impl std::fmt::Display) -> AnswerError {
    AnswerError::WrongType { key: key.to_string(), expected, found: found.to_string() }
}

/// Refuses keys a stage does not read: a misspelt `probabilty` must not
/// be silently ignored.
fn known_keys(map: &Map, allowed: &[&str]) -> Result<(), AnswerError> {
    let mut unknown: Vec<&str> = map.keys().map(|k| k.as_str()).filter(|k| !allowed.contains(k)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    Err(AnswerError::UnknownKeys { unknown: unknown.join(", "), known: allowed.join(", ") })
}

/// Statements outside functions never run: a rule file may hold only
/// function definitions and constants. Returns the line and column of
/// the first other statement, and what it is.
fn top_level_statement(text: &str) -> Option<(usize, usize, &'static str)> {
    use rhai::{ASTFlags, Stmt};
    // Parsed without optimisation, so nothing is folded away.
    let mut engine = Engine::new_raw();
    engine.set_optimization_level(rhai::OptimizationLevel::None);
    let ast = engine.compile(text).ok()?;
    for stmt in ast.statements() {
        let what = match stmt {
            Stmt::Noop(_) => continue,
            Stmt::Var(_, flags, _) if flags.contains(ASTFlags::CONSTANT) => continue,
            Stmt::Var(..) => {
                "`let` outside a function (it is never seen by a rule; use `const`, or a parameter in rules.toml)"
            }
            _ => "a statement outside a function (it never runs; only `fn` definitions and `const` are allowed here)",
        };
        let pos = stmt.position();
        return Some((pos.line().unwrap_or(1), pos.position().unwrap_or(1), what));
    }
    None
}

/// A rule's reason: a text, or `#{ zh: "…", en: "…" }` (both required).
/// Returns the English (or only) form and the Chinese one.
fn get_reason(map: &Map, key: &str) -> Result<(String, Option<String>), AnswerError> {
    match map.get(key) {
        None => Err(AnswerError::Missing(key.to_string())),
        Some(v) if v.is_string() => Ok((v.clone().into_string().unwrap_or_default(), None)),
        Some(v) => {
            let Some(m) = v.clone().try_cast::<Map>() else {
                return Err(wrong_type(key, "a string or #{ zh: \"…\", en: \"…\" }", v.type_name()));
            };
            for k in m.keys() {
                if k != "zh" && k != "en" {
                    return Err(AnswerError::UnknownLanguage { key: key.to_string(), lang: k.to_string() });
                }
            }
            let within = |e| AnswerError::In { key: key.to_string(), inner: Box::new(e) };
            let zh = get_string(&m, "zh").map_err(within)?;
            let en = get_string(&m, "en").map_err(within)?;
            Ok((en, Some(zh)))
        }
    }
}

/// A stage's answer for one distinct input.
#[derive(Clone, Debug)]
enum Answer {
    Tolerance { years: i64 },
    RecordStatus { statuses: Vec<Text> },
    Accumulation { level: Text },
    Tier { tier: u8 },
    Blacklist { listed: bool, until: Option<Date> },
    Supervision { risk: Arc<str>, probability_ppm: u32 },
}

/// Risk levels a supervision rule may answer, lowest first.
pub const RISK_LEVELS: &[&str] = &["none", "low", "medium", "high", "very_high"];
/// Record statuses a record_status rule may answer.
pub const RECORD_STATUSES: &[&str] =
    &["counted", "exempt", "expired", "repaired", "cleared", "ignored", "disputed", "corrected"];
/// Accumulation levels.
pub const ACCUMULATION_LEVELS: &[&str] = &["none", "reminder", "key_attention"];

/// What a supervision stage decided, per entity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Supervision {
    pub risk: Arc<str>,
    pub probability_ppm: u32,
}

/// A blacklist answer, per entity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlacklistStatus {
    pub listed: bool,
    pub until: Option<Date>,
}

/// Per-entity state of a run: facts (with earlier stages' answers) and the
/// decisions so far.
#[derive(Clone, Debug)]
pub struct EntityState {
    pub facts: Arc<EntityFacts>,
    pub decisions: Vec<Arc<Decision>>,
    pub supervision: Supervision,
    pub blacklist: BlacklistStatus,
}

impl EntityState {
    pub fn new(facts: EntityFacts) -> EntityState {
        EntityState {
            facts: Arc::new(facts),
            decisions: Vec::new(),
            supervision: Supervision::default(),
            blacklist: BlacklistStatus::default(),
        }
    }

    pub fn decision(&self, stage: Stage) -> Option<&Decision> {
        self.decisions.iter().rev().find(|d| d.stage == stage).map(|d| &**d)
    }
}

/// How much work a stage did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StageStats {
    pub entities: usize,
    /// Distinct inputs, each evaluated once.
    pub calls: usize,
}

struct CompiledEntry {
    entry: Entry,
    ast: usize,
    rule: Arc<str>,
    clause: Arc<str>,
    /// Position of `fn <name>` in its file, for errors about what it returns.
    line: usize,
    column: usize,
}

/// A compiled, checked rule set.
pub struct RuleSet {
    pub manifest: Manifest,
    source: RuleSource,
    hash: String,
    engine: Engine,
    asts: Vec<(String, AST)>,
    entries: BTreeMap<Stage, CompiledEntry>,
}

fn toml_to_dynamic(v: &toml::Value) -> Dynamic {
    match v {
        toml::Value::String(s) => Dynamic::from(s.clone()),
        toml::Value::Integer(i) => Dynamic::from(*i),
        toml::Value::Float(f) => Dynamic::from(*f),
        toml::Value::Boolean(b) => Dynamic::from(*b),
        toml::Value::Datetime(d) => Dynamic::from(d.to_string()),
        toml::Value::Array(a) => Dynamic::from(a.iter().map(toml_to_dynamic).collect::<rhai::Array>()),
        toml::Value::Table(t) => {
            Dynamic::from_map(t.iter().map(|(k, v)| (k.as_str().into(), toml_to_dynamic(v))).collect::<Map>())
        }
    }
}

/// Finds `fn name(` in a script, for positions of whole-function errors.
fn fn_position(text: &str, name: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let rest = t.strip_prefix("private ").unwrap_or(t);
        if let Some(after) = rest.strip_prefix("fn ")
            && after.trim_start().strip_prefix(name).is_some_and(|r| r.trim_start().starts_with('('))
        {
            return (i + 1, line.len() - t.len() + 1);
        }
    }
    (1, 1)
}

impl RuleSet {
    /// Compiles and checks a rule set: the manifest, every script, every
    /// entry point's existence and arity, and a run of every stage over
    /// built-in probe entities so wrong return types or missing fields
    /// surface before any data is touched.
    pub fn compile(source: &RuleSource) -> Result<RuleSet, RuleError> {
        let manifest_text = source
            .files
            .get("rules.toml")
            .ok_or_else(|| RuleError::at("rules.toml", None, None, "missing rules.toml".into()))?;
        let manifest = Manifest::parse(manifest_text).map_err(|e| e.with_source(manifest_text))?;
        let params: Map = manifest.params.iter().map(|(k, v)| (k.as_str().into(), toml_to_dynamic(v))).collect();
        let engine = host::new_engine(Arc::new(params));

        let mut asts: Vec<(String, AST)> = Vec::new();
        let mut entries = BTreeMap::new();
        for (stage, entry) in &manifest.entries {
            let text = source.files.get(&entry.file).ok_or_else(|| {
                RuleError::at(
                    "rules.toml",
                    None,
                    None,
                    format!("entries.{}: file '{}' not found", stage.name(), entry.file),
                )
            })?;
            let ast = match asts.iter().position(|(f, _)| *f == entry.file) {
                Some(i) => i,
                None => {
                    let mut ast = engine.compile(text).map_err(|e| {
                        let pos = e.position();
                        RuleError::at(&entry.file, pos.line(), pos.position(), e.err_type().to_string())
                            .with_source(text)
                    })?;
                    ast.set_source(entry.file.as_str());
                    if let Some((line, column, what)) = top_level_statement(text) {
                        return Err(RuleError::at(&entry.file, Some(line), Some(column), format!("refused: {what}"))
                            .with_source(text));
                    }
                    asts.push((entry.file.clone(), ast));
                    asts.len() - 1
                }
            };
            let found: Vec<String> =
                asts[ast].1.iter_functions().map(|f| format!("{}({})", f.name, f.params.join(", "))).collect();
            if !asts[ast].1.iter_functions().any(|f| f.name == entry.function && f.params.len() == 1) {
                return Err(RuleError::at(
                    &entry.file,
                    None,
                    None,
                    format!(
                        "entries.{} names function `{}` with one parameter, but {} defines: {}",
                        stage.name(),
                        entry.function,
                        entry.file,
                        if found.is_empty() { "no functions".into() } else { found.join(", ") }
                    ),
                ));
            }
            let (line, column) = fn_position(text, &entry.function);
            entries.insert(
                *stage,
                CompiledEntry {
                    entry: entry.clone(),
                    ast,
                    rule: format!("{}:{}", entry.file, entry.function).into(),
                    clause: entry.clause.as_str().into(),
                    line,
                    column,
                },
            );
        }
        let rules = RuleSet { hash: source.hash(), source: source.clone(), manifest, engine, asts, entries };
        probe::check(&rules)?;
        Ok(rules)
    }

    /// `sha256:…` of all the rule set's files.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn source(&self) -> &RuleSource {
        &self.source
    }

    pub fn has(&self, stage: Stage) -> bool {
        self.entries.contains_key(&stage)
    }

    pub fn label(&self) -> String {
        format!("{} {}", self.manifest.name, self.manifest.version)
    }

    fn runtime_error(&self, e: &CompiledEntry, entity: Option<&EntityFacts>, err: EvalAltResult) -> RuleError {
        let inner = err.unwrap_inner();
        let pos = inner.position();
        let text = inner.to_string();
        let suffix = format!(" ({pos})");
        let plain = text.strip_suffix(&suffix).unwrap_or(&text);
        let mut message = match inner {
            EvalAltResult::ErrorTooManyOperations(..) => {
                format!("the rule ran more than {} operations (an endless loop?) and was stopped", host::MAX_OPERATIONS)
            }
            EvalAltResult::ErrorStackOverflow(..) => {
                format!(
                    "the rule called functions more than {} deep (endless recursion?) and was stopped",
                    host::MAX_CALL_LEVELS
                )
            }
            _ => plain.to_string(),
        };
        // Calls leading to the error, outermost first.
        let mut chain = Vec::new();
        let mut cur = &err;
        while let EvalAltResult::ErrorInFunctionCall(name, _, next, _) = cur {
            chain.push(name.clone());
            cur = next;
        }
        if chain.len() > 1 {
            message.push_str(&format!(" (in {})", chain.join(" → ")));
        }
        let text = self.source.files.get(&e.entry.file).map(String::as_str).unwrap_or("");
        let (line, column) = if pos.is_none() { (Some(e.line), Some(e.column)) } else { (pos.line(), pos.position()) };
        let mut out = RuleError::at(&e.entry.file, line, column, message).with_source(text);
        out.entry = Some(e.entry.stage.name().into());
        out.entity = entity.map(|f| f.uscc.to_string());
        out
    }

    /// An error about what a rule returned, pointing at the function.
    fn shape_error(&self, e: &CompiledEntry, entity: &EntityFacts, message: String) -> RuleError {
        let text = self.source.files.get(&e.entry.file).map(String::as_str).unwrap_or("");
        let mut out = RuleError::at(&e.entry.file, Some(e.line), Some(e.column), message).with_source(text);
        out.entry = Some(e.entry.stage.name().into());
        out.entity = Some(entity.uscc.to_string());
        out
    }

    fn call(&self, e: &CompiledEntry, arg: Dynamic, entity: Option<&EntityFacts>) -> Result<Dynamic, RuleError> {
        let mut scope = Scope::new();
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(false);
        self.engine
            .call_fn_with_options::<Dynamic>(options, &mut scope, &self.asts[e.ast].1, &e.entry.function, (arg,))
            .map_err(|err| self.runtime_error(e, entity, *err))
    }

    fn evaluate(&self, e: &CompiledEntry, facts: &Arc<EntityFacts>) -> Result<(Answer, Decision), RuleError> {
        let view = EntityView { facts: facts.clone(), reads: e.entry.reads, entry: e.entry.stage.name() };
        let value = self.call(e, Dynamic::from(view), Some(facts))?;
        self.decode(e, facts, value)
    }

    fn decode(&self, e: &CompiledEntry, f: &EntityFacts, value: Dynamic) -> Result<(Answer, Decision), RuleError> {
        let stage = e.entry.stage;
        let bad = |m: String| self.shape_error(e, f, m);
        let expected = match stage {
            Stage::Tolerance => "#{ years: 0..=3, reason: \"…\" }",
            Stage::RecordStatus => "an array with one #{ status: \"counted\"|…, reason: \"…\" } per record",
            Stage::Accumulation => "#{ level: \"none\"|\"reminder\"|\"key_attention\", reason: \"…\" }",
            Stage::Tier => "#{ tier: 1..=4, reason: \"…\" }",
            Stage::Blacklist => "#{ listed: true|false, ends_on: Date|(), reason: \"…\" }",
            Stage::Supervision => "#{ risk: \"low\"|…, probability: 0.0..=1.0, reason: \"…\" }",
            Stage::PersonLink | Stage::EntityLink => unreachable!("link stages are not per entity"),
        };
        let type_name = value.type_name().to_string();
        if stage == Stage::RecordStatus {
            let Some(list) = value.try_cast::<rhai::Array>() else {
                return Err(bad(format!("`{}` returned {type_name}; expected {expected}", e.entry.function)));
            };
            if list.len() != f.records.len() {
                return Err(bad(format!(
                    "`{}` returned {} statuses for {} records; expected {expected}",
                    e.entry.function,
                    list.len(),
                    f.records.len()
                )));
            }
            let mut statuses = Vec::with_capacity(list.len());
            let mut notes = Vec::new();
            let mut notes_zh = Vec::new();
            let mut any_zh = false;
            let mut inputs = Vec::new();
            for (i, item) in list.into_iter().enumerate() {
                let map = item
                    .try_cast::<Map>()
                    .ok_or_else(|| bad(format!("status {i} is not a map; expected {expected}")))?;
                known_keys(&map, &["status", "reason"]).map_err(|m| bad(format!("status {i}: {m}")))?;
                let status = get_text(&map, "status").map_err(|m| bad(format!("status {i}: {m}")))?;
                if !RECORD_STATUSES.contains(&status.as_str()) {
                    return Err(bad(format!("status {i}: '{status}' is not one of {}", RECORD_STATUSES.join(", "))));
                }
                let (reason, zh) = get_reason(&map, "reason").map_err(|m| bad(format!("status {i}: {m}")))?;
                if status != "counted" && status != "ignored" {
                    let id = &f.records[i].id;
                    notes.push(format!("{id} {status}: {reason}"));
                    any_zh |= zh.is_some();
                    let zh_status = crate::i18n::record_status_name(&status, Lang::Zh);
                    notes_zh.push(format!("{id} {zh_status}：{}", zh.as_deref().unwrap_or(&reason)));
                    inputs.push(id.to_string());
                }
                statuses.push(status);
            }
            let (reason, reason_zh) = if notes.is_empty() {
                ("every record counts".to_string(), Some("各项记录均计入".to_string()))
            } else {
                (notes.join("; "), any_zh.then(|| notes_zh.join("；")))
            };
            let d = Decision { stage, rule: e.rule.clone(), clause: e.clause.clone(), reason, reason_zh, inputs };
            return Ok((Answer::RecordStatus { statuses }, d));
        }
        let Some(map) = value.try_cast::<Map>() else {
            return Err(bad(format!("`{}` returned {type_name}; expected {expected}", e.entry.function)));
        };
        let allowed: &[&str] = match stage {
            Stage::Tolerance => &["years", "reason", "clause", "inputs"],
            Stage::Accumulation => &["level", "reason", "clause", "inputs"],
            Stage::Tier => &["tier", "reason", "clause", "inputs"],
            Stage::Blacklist => &["listed", "ends_on", "reason", "clause", "inputs"],
            Stage::Supervision => &["risk", "probability", "reason", "clause", "inputs"],
            Stage::RecordStatus | Stage::PersonLink | Stage::EntityLink => &[],
        };
        known_keys(&map, allowed).map_err(|m| bad(format!("{m}; expected {expected}")))?;
        let (reason, reason_zh) = get_reason(&map, "reason").map_err(|m| bad(format!("{m}; expected {expected}")))?;
        let clause = match map.get("clause") {
            None => e.clause.clone(),
            Some(c) => {
                c.clone().into_string().map_err(|t| bad(format!("`clause` must be a string, found {t}")))?.into()
            }
        };
        let mut inputs = Vec::new();
        if let Some(list) = map.get("inputs") {
            let list = list
                .clone()
                .try_cast::<rhai::Array>()
                .ok_or_else(|| bad("`inputs` must be an array of record ids".into()))?;
            for x in list {
                let id =
                    x.into_string().map_err(|t| bad(format!("`inputs` must hold record ids (strings), found {t}")))?;
                if !f.records.iter().any(|r| r.id.as_str() == id) {
                    return Err(bad(format!("`inputs` names '{id}', which is not a record of this entity")));
                }
                inputs.push(id);
            }
        }
        let answer = match stage {
            Stage::Tolerance => {
                let years = get_int(&map, "years").map_err(|m| bad(format!("{m}; expected {expected}")))?;
                if !(0..=3).contains(&years) {
                    return Err(bad(format!("`years` must be 0 to 3 (plan （四）: 1-3 years), found {years}")));
                }
                Answer::Tolerance { years }
            }
            Stage::Accumulation => {
                let level = get_string(&map, "level").map_err(|m| bad(format!("{m}; expected {expected}")))?;
                if !ACCUMULATION_LEVELS.contains(&level.as_str()) {
                    return Err(bad(format!("`level` '{level}' is not one of {}", ACCUMULATION_LEVELS.join(", "))));
                }
                Answer::Accumulation { level: level.into() }
            }
            Stage::Tier => {
                let tier = get_int(&map, "tier").map_err(|m| bad(format!("{m}; expected {expected}")))?;
                if !(1..=4).contains(&tier) {
                    return Err(bad(format!("`tier` must be 1 to 4, found {tier}")));
                }
                Answer::Tier { tier: tier as u8 }
            }
            Stage::Blacklist => {
                let listed = map
                    .get("listed")
                    .and_then(|v| v.as_bool().ok())
                    .ok_or_else(|| bad(format!("`listed` must be true or false; expected {expected}")))?;
                let until = match map.get("ends_on") {
                    None => None,
                    Some(v) if v.is_unit() => None,
                    Some(v) => Some(
                        v.clone().try_cast::<RuleDate>().ok_or_else(|| bad("`ends_on` must be a Date or ()".into()))?.0,
                    ),
                };
                Answer::Blacklist { listed, until }
            }
            Stage::Supervision => {
                let risk = get_string(&map, "risk").map_err(|m| bad(format!("{m}; expected {expected}")))?;
                if !RISK_LEVELS.contains(&risk.as_str()) {
                    return Err(bad(format!("`risk` '{risk}' is not one of {}", RISK_LEVELS.join(", "))));
                }
                let p = match map.get("probability") {
                    Some(v) if v.is_float() => v.as_float().unwrap_or(f64::NAN),
                    Some(v) if v.is_int() => v.as_int().unwrap_or(-1) as f64,
                    _ => return Err(bad(format!("`probability` must be a number; expected {expected}"))),
                };
                if !(0.0..=1.0).contains(&p) {
                    return Err(bad(format!("`probability` must be between 0 and 1, found {p}")));
                }
                Answer::Supervision { risk: risk.into(), probability_ppm: (p * 1_000_000.0).round() as u32 }
            }
            Stage::RecordStatus | Stage::PersonLink | Stage::EntityLink => unreachable!(),
        };
        Ok((answer, Decision { stage, rule: e.rule.clone(), clause, reason, reason_zh, inputs }))
    }

    /// Runs one per-entity stage over all entities: each distinct input
    /// (the fields the entry reads) is evaluated once, in parallel; answers
    /// are applied to every entity with that input. Small inputs are
    /// remembered in `memo` across calls (shards of one run). Fails with
    /// the first error in entity order.
    pub fn run_stage(
        &self,
        stage: Stage,
        states: &mut [EntityState],
        memo: &mut StageMemo,
    ) -> Result<StageStats, RuleError> {
        let Some(e) = self.entries.get(&stage) else { return Ok(StageStats::default()) };
        assert!(stage.per_entity(), "run_stage takes per-entity stages");
        // Keys of all entities in one buffer: no allocation per entity.
        let parts: Vec<(Vec<u8>, Vec<u32>)> = states
            .par_chunks(4096)
            .map(|chunk| {
                let mut buf = Vec::new();
                let mut ends = Vec::with_capacity(chunk.len());
                let mut k = Vec::new();
                for s in chunk {
                    s.facts.key(e.entry.reads, &mut k);
                    buf.extend_from_slice(&k);
                    ends.push(buf.len() as u32);
                }
                (buf, ends)
            })
            .collect();
        let mut keys: Vec<&[u8]> = Vec::with_capacity(states.len());
        for (buf, ends) in &parts {
            let mut at = 0usize;
            for &end in ends {
                keys.push(&buf[at..end as usize]);
                at = end as usize;
            }
        }
        // Distinct keys; a slot is either a remembered answer or a new call.
        enum Slot {
            Known(usize),
            New(usize),
        }
        let mut known: Vec<&(Answer, Arc<Decision>)> = Vec::new();
        let mut distinct: FxHashMap<&[u8], u32> = FxHashMap::default();
        let mut reps: Vec<usize> = Vec::new();
        let mut slots: Vec<Slot> = Vec::with_capacity(states.len());
        let mut known_at: FxHashMap<&[u8], usize> = FxHashMap::default();
        for (i, k) in keys.iter().enumerate() {
            if let Some(&j) = distinct.get(k) {
                slots.push(Slot::New(j as usize));
            } else if let Some(&j) = known_at.get(k) {
                slots.push(Slot::Known(j));
            } else if let Some(a) = memo.get(k) {
                known.push(a);
                known_at.insert(k, known.len() - 1);
                slots.push(Slot::Known(known.len() - 1));
            } else {
                reps.push(i);
                distinct.insert(k, (reps.len() - 1) as u32);
                slots.push(Slot::New(reps.len() - 1));
            }
        }
        // Collected in full first so the error reported is the first in
        // entity order, whatever the thread count.
        let answers: Vec<Result<(Answer, Arc<Decision>), RuleError>> =
            reps.par_iter().map(|&i| self.evaluate(e, &states[i].facts).map(|(a, d)| (a, Arc::new(d)))).collect();
        let answers: Vec<(Answer, Arc<Decision>)> = answers.into_iter().collect::<Result<_, _>>()?;
        let known: Vec<(Answer, Arc<Decision>)> = known.into_iter().cloned().collect();
        let calls = reps.len();
        let remember: Vec<(Box<[u8]>, usize)> = reps
            .iter()
            .enumerate()
            .filter(|(_, i)| keys[**i].len() <= StageMemo::MAX_KEY)
            .map(|(slot, &i)| (Box::from(keys[i]), slot))
            .collect();
        states.par_iter_mut().zip(slots.par_iter()).for_each(|(s, slot)| {
            let (answer, decision) = match slot {
                Slot::Known(j) => &known[*j],
                Slot::New(j) => &answers[*j],
            };
            apply(answer, s);
            s.decisions.push(decision.clone());
        });
        for (key, slot) in remember {
            memo.insert(key, answers[slot].clone());
        }
        Ok(StageStats { entities: states.len(), calls })
    }
}

/// Answers to small inputs of a stage, kept across the shards of a run so
/// common inputs (an entity with no records, a tier and a risk) are
/// evaluated once per run, not once per shard. Inputs that name records
/// are unique to their entity and are not kept.
///
/// Memory is bounded: two generations of at most [`StageMemo::MAX_ENTRIES`]
/// each; when the newer one is full it becomes the older one and the older
/// one is dropped. Inputs that keep coming back stay, rare ones are
/// evaluated again if they return (rules are pure functions of their
/// inputs, so results never depend on what is remembered). Unbounded, the
/// memos of a 15M run held 5.7 million answers.
#[derive(Default)]
pub struct StageMemo {
    newer: FxHashMap<Box<[u8]>, (Answer, Arc<Decision>)>,
    older: FxHashMap<Box<[u8]>, (Answer, Arc<Decision>)>,
}

impl StageMemo {
    /// Longest input kept, in bytes of its key.
    const MAX_KEY: usize = 96;
    /// Answers per generation. Measured at 3M entities: unbounded, 2^17 and
    /// 2^15 give the same calls within 0.001% (inputs that recur are few
    /// and stay; the rest are unique to their entity) and peak memory falls
    /// from 1.29 to 1.15 GB with 2^15.
    const MAX_ENTRIES: usize = 1 << 15;

    fn get(&self, k: &[u8]) -> Option<&(Answer, Arc<Decision>)> {
        self.newer.get(k).or_else(|| self.older.get(k))
    }

    fn insert(&mut self, k: Box<[u8]>, v: (Answer, Arc<Decision>)) {
        if self.newer.len() >= Self::MAX_ENTRIES {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(k, v);
    }

    /// Answers remembered.
    pub fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn apply(answer: &Answer, s: &mut EntityState) {
    match answer {
        Answer::Tolerance { years } => Arc::make_mut(&mut s.facts).set_tolerance(*years),
        Answer::RecordStatus { statuses } => {
            let f = Arc::make_mut(&mut s.facts);
            for (r, st) in f.records.iter_mut().zip(statuses) {
                r.status = Some(st.clone());
            }
        }
        Answer::Accumulation { level } => Arc::make_mut(&mut s.facts).stages.accumulation = Some(level.clone()),
        Answer::Tier { tier } => Arc::make_mut(&mut s.facts).stages.tier = Some(*tier),
        Answer::Blacklist { listed, until } => {
            Arc::make_mut(&mut s.facts).stages.blacklisted = *listed;
            s.blacklist = BlacklistStatus { listed: *listed, until: *until };
        }
        Answer::Supervision { risk, probability_ppm } => {
            s.supervision = Supervision { risk: risk.clone(), probability_ppm: *probability_ppm };
        }
    }
}

/// A string value of a map, shared (no copy).
fn get_text(map: &Map, key: &str) -> Result<Text, AnswerError> {
    match map.get(key) {
        None => Err(AnswerError::Missing(key.to_string())),
        Some(v) => v.clone().into_immutable_string().map_err(|t| wrong_type(key, "a string", t)),
    }
}

fn get_string(map: &Map, key: &str) -> Result<String, AnswerError> {
    match map.get(key) {
        None => Err(AnswerError::Missing(key.to_string())),
        Some(v) => v.clone().into_string().map_err(|t| wrong_type(key, "a string", t)),
    }
}

fn get_int(map: &Map, key: &str) -> Result<i64, AnswerError> {
    match map.get(key) {
        None => Err(AnswerError::Missing(key.to_string())),
        Some(v) => v.as_int().map_err(|t| wrong_type(key, "an integer", t)),
    }
}

/// A link of the entity–person graph a propagation rule is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Link {
    /// The role on this link (entity→person: the person's role in the
    /// flagged entity; person→entity: the person's role in the other entity).
    pub role: crate::model::RoleKind,
    /// For person→entity links: the role through which the person was flagged.
    pub person_role: Option<crate::model::RoleKind>,
    /// 1 for the persons of a blacklisted entity and their other entities,
    /// 2 for the next hop, ...
    pub depth: u8,
}

/// What a propagation rule answered for a link.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkAnswer {
    pub applies: bool,
    /// person_link: how long the person stays flagged.
    pub years: i64,
    /// person_link: measures applied to the person.
    pub measures: Vec<String>,
    /// entity_link: `raise_risk` or `key_attention`.
    pub effect: String,
    pub decision: Arc<Decision>,
}

/// Effects an entity_link rule may answer.
pub const LINK_EFFECTS: &[&str] = &["raise_risk", "key_attention"];

impl RuleSet {
    /// Asks the person_link or entity_link rule about one link.
    pub fn eval_link(&self, stage: Stage, link: Link) -> Result<LinkAnswer, RuleError> {
        let e = self.entries.get(&stage).expect("link stage present");
        let mut m = Map::new();
        m.insert("role".into(), Dynamic::from(link.role.as_str()));
        m.insert("person_role".into(), Dynamic::from(link.person_role.map_or("", |r| r.as_str())));
        m.insert("depth".into(), Dynamic::from(i64::from(link.depth)));
        let value = self.call(e, Dynamic::from_map(m), None)?;
        let text = self.source.files.get(&e.entry.file).map(String::as_str).unwrap_or("");
        let bad = |msg: String| {
            let mut out = RuleError::at(&e.entry.file, Some(e.line), Some(e.column), msg).with_source(text);
            out.entry = Some(stage.name().into());
            out
        };
        let expected = if stage == Stage::PersonLink {
            "#{ applies: bool, years: int, measures: [..], reason: \"…\" }"
        } else {
            "#{ applies: bool, effect: \"raise_risk\"|\"key_attention\", reason: \"…\" }"
        };
        let map =
            value.try_cast::<Map>().ok_or_else(|| bad(format!("`{}` must return {expected}", e.entry.function)))?;
        let allowed: &[&str] = if stage == Stage::PersonLink {
            &["applies", "years", "measures", "reason"]
        } else {
            &["applies", "effect", "reason"]
        };
        known_keys(&map, allowed).map_err(|m| bad(format!("{m}; expected {expected}")))?;
        let applies = map
            .get("applies")
            .and_then(|v| v.as_bool().ok())
            .ok_or_else(|| bad(format!("`applies` must be true or false; expected {expected}")))?;
        let (reason, reason_zh) = get_reason(&map, "reason").map_err(|m| bad(format!("{m}; expected {expected}")))?;
        let mut answer = LinkAnswer {
            applies,
            years: 0,
            measures: Vec::new(),
            effect: String::new(),
            decision: Arc::new(Decision {
                stage,
                rule: e.rule.clone(),
                clause: e.clause.clone(),
                reason,
                reason_zh,
                inputs: Vec::new(),
            }),
        };
        if applies && stage == Stage::PersonLink {
            answer.years = get_int(&map, "years").map_err(|m| bad(format!("{m}; expected {expected}")))?;
            if answer.years <= 0 {
                return Err(bad(format!("`years` must be positive, found {}", answer.years)));
            }
            if let Some(list) = map.get("measures") {
                let list = list
                    .clone()
                    .try_cast::<rhai::Array>()
                    .ok_or_else(|| bad("`measures` must be an array of strings".into()))?;
                for m in list {
                    answer
                        .measures
                        .push(m.into_string().map_err(|t| bad(format!("`measures` must hold strings, found {t}")))?);
                }
            }
        }
        if applies && stage == Stage::EntityLink {
            answer.effect = get_string(&map, "effect").map_err(|m| bad(format!("{m}; expected {expected}")))?;
            if !LINK_EFFECTS.contains(&answer.effect.as_str()) {
                return Err(bad(format!("`effect` '{}' is not one of {}", answer.effect, LINK_EFFECTS.join(", "))));
            }
        }
        Ok(answer)
    }

    /// A parameter of the rule set, if it is an integer.
    pub fn int_param(&self, name: &str) -> Option<i64> {
        self.manifest.params.get(name).and_then(toml::Value::as_integer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(n: usize) -> (Answer, Arc<Decision>) {
        let d = Decision {
            stage: Stage::Tier,
            rule: "tier.rhai:tier".into(),
            clause: "(三)".into(),
            reason: format!("input {n}"),
            reason_zh: None,
            inputs: Vec::new(),
        };
        (Answer::Tier { tier: 1 }, Arc::new(d))
    }

    #[test]
    fn memo_is_bounded_and_keeps_the_newest() {
        let mut m = StageMemo::default();
        let total = 3 * StageMemo::MAX_ENTRIES + 7;
        for n in 0..total {
            m.insert(n.to_le_bytes().into(), answer(n));
            assert!(m.len() <= 2 * StageMemo::MAX_ENTRIES);
        }
        // The newest generation and the one before it are both found.
        for n in total - StageMemo::MAX_ENTRIES..total {
            assert_eq!(m.get(&n.to_le_bytes()).map(|a| a.1.reason.clone()), Some(format!("input {n}")));
        }
        assert!(m.get(&0usize.to_le_bytes()).is_none(), "the oldest answers are forgotten");
    }
}
