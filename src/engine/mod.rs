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
//!
//! Here: compiling and checking a rule set, and running a stage over each
//! distinct input once. `host` is what Rhai sees, `facts` the entity view,
//! `answer` checks and decodes what a rule returns, `link` asks the
//! propagation rules, `memo` remembers recurring inputs across shards.

mod answer;
pub mod error;
pub mod facts;
mod host;
mod interned;
mod link;
pub mod manifest;
mod memo;
mod native;
pub(crate) mod probe;
mod reads;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;
use rhai::{AST, CallFnOptions, Dynamic, Engine, EvalAltResult, Map, Scope};
use sha2::{Digest, Sha256};

pub use error::RuleError;
pub use facts::{
    EntityFacts, EvaluationDates, Field, FieldMask, PropagatedFlag, RecordFacts, RecordKind, RecordPart, RecordParts,
    RepairFacts, StageFacts, Text,
};
pub use manifest::{DrawDefaults, Entry, Manifest, OfficerArea, Stage, YearWindow};

use crate::i18n::Lang;
use crate::model::{Date, RiskLevel};
use answer::{Answer, apply};
use host::EntityView;
pub use interned::{DecisionRef, MAX_INTERNED, OwnKind};
pub use link::{Link, LinkAnswer};
pub use memo::StageMemo;

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

    /// The repository's default rule set (`rules.toml` and the scripts,
    /// without rule tests), for unit tests below `data`.
    #[cfg(test)]
    pub(crate) fn default_rules() -> RuleSource {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let mut src = RuleSource::default();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name == "rules.toml" || name.ends_with(".rhai") {
                src.files.insert(name, std::fs::read_to_string(&path).unwrap());
            }
        }
        src
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
    /// Appends the decision as JSON: what `serde_json` writes for it,
    /// written directly (an entity's own decisions are written once each
    /// into a run's results file). Held to serde_json by `tests`.
    pub fn write_json(&self, out: &mut String) {
        use crate::model::json::{string, strings};
        json_head(self.stage, &self.rule, &self.clause, out);
        out.push_str(",\"reason\":");
        string(out, &self.reason);
        if let Some(zh) = &self.reason_zh {
            out.push_str(",\"reason_zh\":");
            string(out, zh);
        }
        out.push_str(",\"inputs\":");
        strings(out, self.inputs.iter().map(String::as_str));
        out.push('}');
    }

    /// The reason in `lang` (the rule's only text if it gave one).
    pub fn reason_in(&self, lang: Lang) -> &str {
        match (lang, &self.reason_zh) {
            (Lang::Zh, Some(zh)) => zh,
            _ => &self.reason,
        }
    }

    /// `reason [rule clause] (inputs)` in `lang`.
    pub fn render(&self, lang: Lang) -> String {
        let mut s = String::new();
        self.render_into(lang, &mut s);
        s
    }

    /// Appends [`Decision::render`]'s text to `out` (no text of its own is
    /// made: an entity's own decisions are rendered once per run, on the
    /// output writer's thread).
    pub fn render_into(&self, lang: Lang, out: &mut String) {
        out.push_str(self.reason_in(lang));
        interned::render_tail(&self.rule, &self.clause, self.inputs.iter().map(String::as_str), lang, out);
    }
}

/// `{"stage":…,"rule":…,"clause":…` — how a decision's JSON begins
/// (whole or compact: [`Decision::write_json`], `DecisionRef::write_json`).
fn json_head(stage: Stage, rule: &str, clause: &str, out: &mut String) {
    use crate::model::json::string;
    out.push_str("{\"stage\":");
    string(out, stage.name());
    out.push_str(",\"rule\":");
    string(out, rule);
    out.push_str(",\"clause\":");
    string(out, clause);
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
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

/// What a supervision stage decided, per entity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Supervision {
    /// `None` when the rule set has no supervision stage.
    pub risk: Option<RiskLevel>,
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
    pub decisions: Vec<DecisionRef>,
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

    /// The latest decision `stage` took for the entity.
    pub fn decision(&self, stage: Stage) -> Option<&DecisionRef> {
        self.decisions.iter().rev().find(|d| d.stage() == stage)
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
    /// `<function>(credo_arg)`: how a [`Runner`] calls the entry.
    driver: AST,
    /// What of a record the entry can read (`reads`): the record part of
    /// its key.
    record_parts: RecordParts,
    /// The entry in the subset `native` runs without Rhai, if it fits.
    native: Option<native::Program>,
    /// Set when the fast path ever answered other than Rhai on the probe
    /// entities: the entry then runs in Rhai alone.
    native_off: AtomicBool,
    /// Calls the fast path answered, and calls it handed to Rhai.
    native_calls: AtomicU64,
    native_bails: AtomicU64,
}

impl CompiledEntry {
    /// Where the driver calls the entry (in the driver's own text).
    fn driver_position(&self) -> rhai::Position {
        self.driver.statements().first().map_or(rhai::Position::NONE, |s| s.position())
    }
}

/// The scope variable a driver passes to its entry.
const DRIVER_ARG: &str = "credo_arg";

/// One worker's evaluator for one entry: Rhai's runtime state and its
/// function-resolution cache live across the worker's calls, so each
/// function a rule calls (getters, `param`, `within_years`, the script's
/// own functions) is resolved once per worker instead of once per call.
/// Each call starts with a fresh operation count; after an error the state
/// is made anew.
struct Runner<'a> {
    rules: &'a RuleSet,
    e: &'a CompiledEntry,
    global: rhai::GlobalRuntimeState,
    caches: rhai::Caches,
    scope: Scope<'static>,
}

impl<'a> Runner<'a> {
    fn new(rules: &'a RuleSet, e: &'a CompiledEntry) -> Runner<'a> {
        let mut scope = Scope::new();
        scope.push(DRIVER_ARG, Dynamic::UNIT);
        Runner { rules, e, global: Self::global(rules, e), caches: rhai::Caches::new(), scope }
    }

    fn global(rules: &RuleSet, e: &CompiledEntry) -> rhai::GlobalRuntimeState {
        let ast = &rules.asts[e.ast].1;
        let mut global = rules.engine.new_global_runtime_state();
        global.lib.push(ast.shared_lib().clone());
        global.source = ast.source().map(Into::into);
        global
    }

    /// Calls the entry with `arg`, as [`RuleSet::call`] does.
    fn call(&mut self, arg: Dynamic, entity: Option<&EntityFacts>) -> Result<Dynamic, RuleError> {
        self.global.num_operations = 0;
        self.scope.set_value(DRIVER_ARG, arg);
        #[allow(deprecated)]
        let out = self.rules.engine.eval_statements_raw(
            &mut self.global,
            &mut self.caches,
            &mut self.scope,
            self.e.driver.statements(),
        );
        self.scope.set_value(DRIVER_ARG, Dynamic::UNIT);
        out.map_err(|err| {
            self.global = Self::global(self.rules, self.e);
            self.caches = rhai::Caches::new();
            // The driver's own call frame, as `call_fn` leaves it out.
            let mut err = match *err {
                EvalAltResult::ErrorInFunctionCall(name, _, inner, _) if name == self.e.entry.function => *inner,
                other => other,
            };
            // Errors Rhai passes up unwrapped (too many operations, too
            // deep) get the driver's call position; `call_fn` leaves them
            // without one, so the error points at the entry function.
            if err.position() == self.e.driver_position() {
                err.set_position(rhai::Position::NONE);
            }
            self.rules.runtime_error(self.e, entity, err)
        })
    }

    #[cfg(test)]
    fn evaluate(&mut self, facts: &Arc<EntityFacts>) -> Result<(Answer, Decision), RuleError> {
        self.evaluate_seen(facts).map(|(a, d, _)| (a, d))
    }

    /// The answer, and the fields the call read: from the fast path when
    /// the entry and the call fit its subset, else from Rhai. The fast
    /// path's value is decoded as it is when `answer::decode_native` takes
    /// it, else made a Rhai value for `decode` (its answer or its error).
    fn evaluate_seen(&mut self, facts: &Arc<EntityFacts>) -> Result<(Answer, Decision, FieldMask), RuleError> {
        let e = self.e;
        if let Some(program) = e.native.as_ref().filter(|_| self.rules.native && !e.native_off.load(Ordering::Relaxed))
        {
            match program.call_value(facts, e.entry.reads) {
                Ok((value, seen)) => {
                    let fast = answer::decode_native(e, facts, &value);
                    if self.rules.checking.load(Ordering::Relaxed) && !self.agrees(facts, &value, seen, fast.as_ref()) {
                        e.native_off.store(true, Ordering::Relaxed);
                        tracing::warn!(
                            entry = e.entry.stage.name(),
                            "the compiled rule answered a probe entity other than Rhai: the entry runs in Rhai alone"
                        );
                        return self.evaluate_rhai(facts);
                    }
                    if let Some((answer, decision)) = fast {
                        e.native_calls.fetch_add(1, Ordering::Relaxed);
                        return Ok((answer, decision, seen));
                    }
                    if let Ok(value) = native::to_dynamic(&value, facts) {
                        e.native_calls.fetch_add(1, Ordering::Relaxed);
                        let (answer, decision) = self.rules.decode(e, facts, value)?;
                        return Ok((answer, decision, seen));
                    }
                    e.native_bails.fetch_add(1, Ordering::Relaxed);
                }
                Err(native::Bail) => {
                    e.native_bails.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.evaluate_rhai(facts)
    }

    /// Whether Rhai gives the fast path's `value` and reads `seen` for
    /// `facts`, and `decode` makes of it what `decode_native` did (`fast`)
    /// (checked on the probe entities at compile time).
    fn agrees(
        &mut self,
        facts: &Arc<EntityFacts>,
        value: &native::V,
        seen: FieldMask,
        fast: Option<&(Answer, Decision)>,
    ) -> bool {
        // A value with no Rhai form (the entity itself) is not used: the
        // call goes to Rhai.
        let Ok(value) = native::to_dynamic(value, facts) else { return true };
        let same_value = self.rhai_value(facts).is_ok_and(|(v, read)| native::same(&v, &value) && read == seen);
        same_value && fast.is_none_or(|fast| self.rules.decode(self.e, facts, value).is_ok_and(|d| d == *fast))
    }

    fn evaluate_rhai(&mut self, facts: &Arc<EntityFacts>) -> Result<(Answer, Decision, FieldMask), RuleError> {
        let (value, seen) = self.rhai_value(facts)?;
        let (answer, decision) = self.rules.decode(self.e, facts, value)?;
        Ok((answer, decision, seen))
    }

    /// What the entry returns in Rhai for `facts`, and the fields it read.
    fn rhai_value(&mut self, facts: &Arc<EntityFacts>) -> Result<(Dynamic, FieldMask), RuleError> {
        let view = EntityView::new(facts.clone(), self.e.entry.reads, self.e.entry.stage.name());
        let seen = view.seen.clone();
        let value = self.call(Dynamic::from(view), Some(facts))?;
        Ok((value, FieldMask(seen.load(Ordering::Relaxed))))
    }
}

/// Keys of a chunk of entities (one buffer, their ends and hashes) and the
/// answers already known by what an earlier call read.
struct KeyChunk<'m> {
    buf: Vec<u8>,
    ends: Vec<u32>,
    /// [`memo::key_hash`] of each key (0 for an entity answered by `hits`).
    hashes: Vec<u64>,
    hits: Vec<Option<&'m (Answer, DecisionRef)>>,
    /// Entities answered by each read set of `memo::Observed::masks`.
    mask_hits: Vec<u32>,
}

/// A call's answer and the fields it read.
type Called = (Answer, DecisionRef, FieldMask);

/// A compiled, checked rule set.
pub struct RuleSet {
    pub manifest: Manifest,
    source: RuleSource,
    hash: String,
    engine: Engine,
    asts: Vec<(String, AST)>,
    entries: BTreeMap<Stage, CompiledEntry>,
    /// Whether stages keep answers by what their calls read
    /// (`memo::Observed`); off only in tests comparing against whole keys.
    observe: bool,
    /// Whether entries in the fast path's subset run there (`native`);
    /// off to measure or compare against Rhai alone.
    native: bool,
    /// On while the probe entities are checked: every fast answer is
    /// compared with Rhai's.
    checking: AtomicBool,
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
        let params = Arc::new(params);
        let engine = host::new_engine(params.clone());

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
            let record_parts = reads::record_parts(text, &asts[ast].1, &entry.function, *stage);
            let mut driver_scope = Scope::new();
            driver_scope.push(DRIVER_ARG, Dynamic::UNIT);
            let driver = engine
                .compile_with_scope(&driver_scope, format!("{}({DRIVER_ARG})", entry.function))
                .map_err(|e| RuleError::at(&entry.file, Some(line), Some(column), e.to_string()))?;
            let native = if stage.per_entity() {
                native::Program::compile(&engine, text, &asts[ast].1, &entry.function, params.clone())
                    .map_err(|why| tracing::debug!(entry = stage.name(), why = why.0, "the entry runs in Rhai"))
                    .ok()
            } else {
                None
            };
            entries.insert(
                *stage,
                CompiledEntry {
                    entry: entry.clone(),
                    ast,
                    rule: format!("{}:{}", entry.file, entry.function).into(),
                    clause: entry.clause.as_str().into(),
                    line,
                    column,
                    driver,
                    record_parts,
                    native,
                    native_off: AtomicBool::new(false),
                    native_calls: AtomicU64::new(0),
                    native_bails: AtomicU64::new(0),
                },
            );
        }
        let rules = RuleSet {
            hash: source.hash(),
            source: source.clone(),
            manifest,
            engine,
            asts,
            entries,
            observe: true,
            native: true,
            checking: AtomicBool::new(true),
        };
        probe::check(&rules)?;
        rules.checking.store(false, Ordering::Relaxed);
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

    /// Runs every entry in Rhai alone (`false`), or lets entries in the
    /// fast path's subset run there (the default).
    pub fn set_native(&mut self, on: bool) {
        self.native = on;
    }

    /// Per-entity stages whose entry runs in the fast path, with the calls
    /// it answered and those it handed to Rhai so far.
    pub fn native_stages(&self) -> Vec<(Stage, u64, u64)> {
        self.entries
            .iter()
            .filter(|(_, e)| self.native && e.native.is_some() && !e.native_off.load(Ordering::Relaxed))
            .map(|(s, e)| (*s, e.native_calls.load(Ordering::Relaxed), e.native_bails.load(Ordering::Relaxed)))
            .collect()
    }

    /// A parameter of the rule set, if it is an integer.
    pub fn int_param(&self, name: &str) -> Option<i64> {
        self.manifest.params.get(name).and_then(toml::Value::as_integer)
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
        let reads = e.entry.reads;
        let t0 = std::time::Instant::now();
        // Entities whose answer is known by what an earlier call read
        // (`memo::Observed`) get it without their whole key; the keys of
        // the others go into one buffer (no allocation per entity), each
        // hashed once here, in parallel: the tables below only compare
        // bytes on equal hashes.
        let observed = &memo.observed;
        let tried: Vec<usize> = if self.observe { observed.worth_trying() } else { Vec::new() };
        let masks: Vec<FieldMask> = tried.iter().map(|&i| observed.masks[i]).collect();
        let masks = &masks[..];
        let parts: Vec<KeyChunk> = states
            .par_chunks(4096)
            .map(|chunk| {
                let mut c = KeyChunk {
                    buf: Vec::new(),
                    ends: Vec::with_capacity(chunk.len()),
                    hashes: Vec::with_capacity(chunk.len()),
                    hits: Vec::with_capacity(chunk.len()),
                    mask_hits: vec![0; masks.len()],
                };
                let mut k = Vec::new();
                for s in chunk {
                    let hit = masks.iter().enumerate().find_map(|(n, &m)| {
                        memo::Observed::key(&s.facts, m, e.record_parts, &mut k);
                        observed.get(&k).map(|a| (n, a))
                    });
                    let mut hash = 0;
                    if let Some((n, _)) = hit {
                        c.mask_hits[n] += 1;
                    } else {
                        let at = c.buf.len();
                        s.facts.append_key(reads, e.record_parts, &mut c.buf);
                        hash = memo::key_hash(&c.buf[at..]);
                    }
                    c.ends.push(c.buf.len() as u32);
                    c.hashes.push(hash);
                    c.hits.push(hit.map(|(_, a)| a));
                }
                c
            })
            .collect();
        let mut keys: Vec<&[u8]> = Vec::with_capacity(states.len());
        let mut hashes: Vec<u64> = Vec::with_capacity(states.len());
        let mut hits: Vec<Option<&(Answer, DecisionRef)>> = Vec::with_capacity(states.len());
        let mut mask_hits = vec![0u64; masks.len()];
        for c in &parts {
            let mut at = 0usize;
            for &end in &c.ends {
                keys.push(&c.buf[at..end as usize]);
                at = end as usize;
            }
            hashes.extend_from_slice(&c.hashes);
            hits.extend_from_slice(&c.hits);
            for (total, n) in mask_hits.iter_mut().zip(&c.mask_hits) {
                *total += u64::from(*n);
            }
        }
        let keyed = t0.elapsed();
        // Distinct keys; a slot is either a remembered answer or a new call.
        #[derive(Clone, Copy)]
        enum Slot<'m> {
            Known(usize),
            New(usize),
            Seen(&'m (Answer, DecisionRef)),
        }
        let mut known: Vec<&(Answer, DecisionRef)> = Vec::new();
        let mut reps: Vec<usize> = Vec::new();
        let mut slots: Vec<Slot> = Vec::with_capacity(states.len());
        // Each distinct key once, by the first entity with it, and its slot.
        let mut distinct: hashbrown::HashTable<(u32, Slot)> = hashbrown::HashTable::new();
        for (i, k) in keys.iter().enumerate() {
            if let Some(a) = hits[i] {
                slots.push(Slot::Seen(a));
                continue;
            }
            let hash = hashes[i];
            if let Some((_, slot)) =
                distinct.find(hash, |(j, _)| hashes[*j as usize] == hash && keys[*j as usize] == *k)
            {
                slots.push(*slot);
                continue;
            }
            let slot = match (k.len() <= StageMemo::MAX_KEY).then(|| memo.whole.get(hash, k)).flatten() {
                Some(a) => {
                    known.push(a);
                    Slot::Known(known.len() - 1)
                }
                None => {
                    reps.push(i);
                    Slot::New(reps.len() - 1)
                }
            };
            distinct.insert_unique(hash, (i as u32, slot), |(j, _)| hashes[*j as usize]);
            slots.push(slot);
        }
        drop(distinct);
        let deduped = t0.elapsed();
        // Collected in full first so the error reported is the first in
        // entity order, whatever the thread count.
        let answers: Vec<Result<Called, RuleError>> = reps
            .par_iter()
            .map_init(
                || Runner::new(self, e),
                |runner, &i| {
                    let f = &states[i].facts;
                    runner.evaluate_seen(f).map(|(a, d, m)| (a, DecisionRef::for_entity(d, f), m))
                },
            )
            .collect();
        let answers: Vec<(Answer, DecisionRef, FieldMask)> = answers.into_iter().collect::<Result<_, _>>()?;
        let called = t0.elapsed();
        // Answers whose call read fewer fields than the stage declares, by
        // what it read (keyed before `apply` changes the facts).
        let narrower: Vec<(FieldMask, Box<[u8]>, usize)> = answers
            .iter()
            .enumerate()
            .filter(|(_, (a, d, m))| {
                self.observe
                    && m.0 & !reads.0 == 0
                    && *m != reads
                    && !m.has(Field::Records)
                    && !m.has(Field::CurrentRecords)
                    && !d.names_records()
                    && !matches!(a, Answer::RecordStatus { .. })
            })
            .map(|(slot, (_, _, m))| {
                let mut k = Vec::new();
                memo::Observed::key(&states[reps[slot]].facts, *m, e.record_parts, &mut k);
                (*m, k.into_boxed_slice(), slot)
            })
            .collect();
        let known: Vec<(Answer, DecisionRef)> = known.into_iter().cloned().collect();
        let calls = reps.len();
        // Room for this and every later per-entity stage's decision at
        // once, not a doubling of the list on the way.
        let later = self.entries.keys().filter(|st| st.per_entity() && **st >= stage).count();
        // The new answers are remembered (one at a time, in entity order)
        // while the entities take theirs on the other workers: the memo's
        // whole-key part is apart from the answers the entities hold
        // (`known` is a copy; `Seen` points into `memo.observed`).
        let whole = &mut memo.whole;
        rayon::join(
            || {
                for (slot, &i) in reps.iter().enumerate() {
                    if keys[i].len() <= StageMemo::MAX_KEY {
                        let (a, d, _) = &answers[slot];
                        whole.insert(hashes[i], Box::from(keys[i]), (a.clone(), d.clone()));
                    }
                }
            },
            || {
                states.par_iter_mut().zip(slots.par_iter()).for_each(|(s, slot)| {
                    let (answer, decision) = match slot {
                        Slot::Known(j) => (&known[*j].0, &known[*j].1),
                        Slot::New(j) => (&answers[*j].0, &answers[*j].1),
                        Slot::Seen(a) => (&a.0, &a.1),
                    };
                    apply(answer, s);
                    if s.decisions.len() == s.decisions.capacity() {
                        s.decisions.reserve_exact(later);
                    }
                    s.decisions.push(answer.decision_for(decision, &s.facts));
                });
            },
        );
        drop(slots);
        drop(hits);
        if self.observe {
            memo.observed.count(&tried, &mask_hits, states.len() as u64);
        }
        for (mask, key, slot) in narrower {
            let (a, d, _) = &answers[slot];
            memo.observed.insert(mask, key, (a.clone(), d.clone()));
        }
        // Where a stage's time goes (RUST_LOG=credo::engine=debug): each
        // part's end, from the stage's start.
        tracing::debug!(stage = stage.name(), ?keyed, ?deduped, ?called, applied = ?t0.elapsed(), "stage parts");
        Ok(StageStats { entities: states.len(), calls })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(n: usize) -> (Answer, DecisionRef) {
        let d = Decision {
            stage: Stage::Tier,
            rule: "tier.rhai:tier".into(),
            clause: "(三)".into(),
            reason: format!("input {n}"),
            reason_zh: None,
            inputs: Vec::new(),
        };
        (Answer::Tier { tier: 1 }, DecisionRef::shared(d))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// A decision written directly is what serde_json writes.
        #[test]
        fn decision_json_is_what_serde_json_writes(
            stage in 0usize..8,
            texts in proptest::collection::vec("[a-z0-9:\"\\\\\\x00-\\x1f（）一济 -]{0,10}", 3),
            zh in proptest::option::of("[a-z\"\\\\\\n济：；]{0,10}"),
            inputs in proptest::collection::vec("[A-Z0-9\"\\\\-]{0,6}", 0..4),
        ) {
            let d = Decision {
                stage: Stage::ALL[stage],
                rule: texts[0].as_str().into(),
                clause: texts[1].as_str().into(),
                reason: texts[2].clone(),
                reason_zh: zh,
                inputs,
            };
            let mut out = String::new();
            d.write_json(&mut out);
            proptest::prop_assert_eq!(out, serde_json::to_string(&d).expect("serializes"));
        }
    }

    #[test]
    fn memo_is_bounded_and_keeps_the_newest() {
        let mut m = StageMemo::default();
        let total = 3 * StageMemo::MAX_ENTRIES + 7;
        let key = |n: usize| n.to_le_bytes();
        for n in 0..total {
            m.whole.insert(memo::key_hash(&key(n)), key(n).into(), answer(n));
            assert!(m.len() <= 2 * StageMemo::MAX_ENTRIES);
        }
        // The newest generation and the one before it are both found.
        for n in total - StageMemo::MAX_ENTRIES..total {
            let found = m.whole.get(memo::key_hash(&key(n)), &key(n));
            assert_eq!(found.map(|a| a.1.decision().reason.clone()), Some(format!("input {n}")));
        }
        assert!(m.whole.get(memo::key_hash(&key(0)), &key(0)).is_none(), "the oldest answers are forgotten");
    }
}

#[cfg(test)]
mod runner_tests {
    //! A worker's [`Runner`] keeps Rhai's state across calls: it must give
    //! exactly what a fresh `call_fn` gives, count operations per call and
    //! recover after an error.
    use super::*;
    use crate::model::NewEconomy;

    /// The default rules with a tolerance rule that spends a good share of
    /// the operation budget on every call and fails on one input.
    fn rules() -> RuleSet {
        let mut src = RuleSource::default_rules();
        let t = src.files.get_mut("tolerance.rhai").unwrap();
        *t = t.replacen(
            "fn tolerance(e) {",
            "fn deep(n) { deep(n + 1) }\nfn tolerance(e) {\n    let n = 0;\n    for i in 0..100000 { n += 1; }\n    \
             if e.new_economy == \"sharing_economy\" { let a = []; return a[3]; }\n    \
             if e.new_economy == \"platform_economy\" { while true { n += 1; } }\n    \
             if e.new_economy == \"digital_finance\" && e.industry == \"F5299\" { return deep(0); }",
            1,
        );
        RuleSet::compile(&src).unwrap()
    }

    fn fresh(rules: &RuleSet, e: &CompiledEntry, f: &Arc<EntityFacts>) -> Result<(Answer, Decision), RuleError> {
        let view = EntityView::new(f.clone(), e.entry.reads, e.entry.stage.name());
        let value = rules.call(e, Dynamic::from(view), Some(f))?;
        rules.decode(e, f, value)
    }

    #[test]
    fn a_runner_answers_as_a_fresh_call_counts_operations_per_call_and_recovers_from_errors() {
        let rules = rules();
        let e = &rules.entries[&Stage::Tolerance];
        let mut runner = Runner::new(&rules, e);
        // An index out of range, an endless loop, endless recursion.
        let bad: Vec<Arc<EntityFacts>> = [
            (NewEconomy::SharingEconomy, "F5212"),
            (NewEconomy::PlatformEconomy, "F5212"),
            (NewEconomy::DigitalFinance, "F5299"),
        ]
        .into_iter()
        .map(|(n, industry)| {
            let mut f = probe::probes()[0].clone();
            f.new_economy = Some(n);
            f.industry = crate::model::IndustryCode::parse(industry).unwrap();
            Arc::new(f)
        })
        .collect();
        // Every call spends over 100,000 of the 500,000 operations: more
        // than five calls would fail if the count carried over.
        for round in 0..3 {
            for f in probe::probes() {
                let f = Arc::new(f);
                let (a, d) = runner.evaluate(&f).unwrap_or_else(|err| panic!("round {round}: {err}"));
                let (fa, fd) = fresh(&rules, e, &f).unwrap();
                assert_eq!(format!("{a:?}"), format!("{fa:?}"));
                assert_eq!(d, fd);
            }
            for bad in &bad {
                let err = runner.evaluate(bad).unwrap_err();
                let fresh_err = fresh(&rules, e, bad).unwrap_err();
                assert_eq!(err.to_string(), fresh_err.to_string());
                assert_eq!((err.line, err.column), (fresh_err.line, fresh_err.column), "{err}");
                assert!(err.to_string().contains("tolerance.rhai:"), "{err}");
                assert_eq!(err.entity, fresh_err.entity);
            }
        }
    }
}

#[cfg(test)]
pub(super) mod projection_tests {
    //! Keys narrowed to the record parts a rule can read (`reads`) give
    //! exactly the answers and decisions of keys over whole records.
    use super::*;
    use crate::model::objection::ObjectionStatus;

    /// xorshift64*: a fixed, dependency-free stream (also `answer::tests`').
    pub(super) struct Rng(pub(super) u64);

    impl Rng {
        pub(super) fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
        }
    }

    /// Entities drawn from the probes with records from their pool, whose
    /// ids, departments, dates and objections vary over small sets: many
    /// entities share what a rule reads but not their ids.
    fn entities(n: usize) -> Vec<EntityFacts> {
        let probes = probe::probes();
        let pool: Vec<RecordFacts> = probes.iter().flat_map(|p| p.records.clone()).collect();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        (0..n)
            .map(|_| {
                let mut f = probes[rng.below(probes.len())].clone();
                let k = rng.below(5);
                f.records = (0..k)
                    .map(|j| {
                        let mut r = pool[rng.below(pool.len())].clone();
                        r.id = format!("{}-{}-{j}", r.kind.as_str(), rng.below(40)).into();
                        r.department = ["MR", "MPA", "HC"][rng.below(3)].into();
                        r.date = r.date - chrono::Days::new(rng.below(3) as u64 * 300);
                        r.objection = [None, None, None, Some(ObjectionStatus::Open), Some(ObjectionStatus::Upheld)]
                            [rng.below(5)];
                        r.intentional = rng.below(4) == 0;
                        r
                    })
                    .collect();
                f.records.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
                f
            })
            .collect()
    }

    /// Every per-entity stage over `n` entities in shards of 400 with
    /// memos kept across shards, as `classify` runs them.
    fn run(rules: &RuleSet, n: usize) -> (Vec<EntityState>, BTreeMap<Stage, usize>) {
        let mut all = Vec::new();
        let mut memos: BTreeMap<Stage, StageMemo> = BTreeMap::new();
        let mut calls: BTreeMap<Stage, usize> = BTreeMap::new();
        let facts = entities(n);
        for shard in facts.chunks(400) {
            let mut states: Vec<EntityState> = shard.iter().cloned().map(EntityState::new).collect();
            for stage in Stage::ALL.iter().filter(|s| s.per_entity()) {
                let st = rules.run_stage(*stage, &mut states, memos.entry(*stage).or_default()).unwrap();
                *calls.entry(*stage).or_default() += st.calls;
            }
            all.extend(states);
        }
        (all, calls)
    }

    /// The same answers, decisions, statuses and stage facts.
    fn assert_same(a: &[EntityState], b: &[EntityState]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            let statuses = |s: &EntityState| s.facts.records.iter().map(|r| r.status).collect::<Vec<_>>();
            assert_eq!(statuses(x), statuses(y));
            assert_eq!(x.facts.stages, y.facts.stages);
            assert_eq!(x.supervision, y.supervision);
            assert_eq!(x.blacklist, y.blacklist);
            let decisions = |s: &EntityState| s.decisions.iter().map(|d| d.decision().clone()).collect::<Vec<_>>();
            assert_eq!(decisions(x), decisions(y), "{:?}", x.facts.records);
        }
    }

    #[test]
    fn answers_kept_by_what_a_call_read_are_those_of_whole_keys() {
        let observed = RuleSet::compile(&RuleSource::default_rules()).unwrap();
        let mut plain = RuleSet::compile(&RuleSource::default_rules()).unwrap();
        plain.observe = false;
        let (a, calls_a) = run(&observed, 4000);
        let (b, calls_b) = run(&plain, 4000);
        // Tiers 1-3 answer the blacklist after reading the tier alone;
        // inactive entities answer supervision after reading their status.
        assert!(
            calls_a[&Stage::Blacklist] < calls_b[&Stage::Blacklist],
            "blacklist calls: {calls_a:?} against {calls_b:?}"
        );
        assert!(calls_a[&Stage::Supervision] <= calls_b[&Stage::Supervision], "{calls_a:?} against {calls_b:?}");
        assert_eq!(calls_a[&Stage::RecordStatus], calls_b[&Stage::RecordStatus]);
        assert_same(&a, &b);
        let tiers: std::collections::BTreeSet<_> = a.iter().map(|s| s.facts.stages.tier).collect();
        assert!(tiers.len() >= 3, "{tiers:?}");
    }

    #[test]
    fn the_fast_path_answers_as_rhai_over_generated_entities() {
        let fast = RuleSet::compile(&RuleSource::default_rules()).unwrap();
        let mut slow = RuleSet::compile(&RuleSource::default_rules()).unwrap();
        slow.set_native(false);
        assert!(slow.native_stages().is_empty());
        let (a, calls_a) = run(&fast, 4000);
        let (b, calls_b) = run(&slow, 4000);
        assert_eq!(calls_a, calls_b);
        assert_same(&a, &b);
        let stages = fast.native_stages();
        assert!(stages.iter().any(|(s, ..)| *s == Stage::RecordStatus), "{stages:?}");
        for (stage, calls, bails) in stages {
            assert!(calls > 0 && bails == 0, "{stage:?}: {calls} calls, {bails} handed to Rhai");
        }
    }

    #[test]
    fn narrowed_keys_answer_as_whole_records_do() {
        let narrowed = RuleSet::compile(&RuleSource::default_rules()).unwrap();
        let mut whole = RuleSet::compile(&RuleSource::default_rules()).unwrap();
        for e in whole.entries.values_mut() {
            e.record_parts = RecordParts::ALL;
        }
        let (a, calls_a) = run(&narrowed, 4000);
        let (b, calls_b) = run(&whole, 4000);
        assert!(
            calls_a[&Stage::RecordStatus] * 5 < calls_b[&Stage::RecordStatus] * 4,
            "record_status calls: {calls_a:?} against {calls_b:?}"
        );
        assert_same(&a, &b);
        let mut notes = 0;
        for x in &a {
            let d = x.decision(Stage::RecordStatus).unwrap().decision();
            if !d.inputs.is_empty() {
                notes += 1;
                for id in &d.inputs {
                    assert!(x.facts.records.iter().any(|r| r.id.as_str() == id) && d.reason.contains(id.as_str()));
                }
            }
        }
        assert!(notes > 100, "{notes} entities with notable statuses");
    }
}
