//! What credo gives Rhai: the sandboxed engine, the entity and record views
//! with typed getters, dates on chrono, and `param`. Nothing here reads the
//! wall clock, files or the environment: a rule's answer is a pure function
//! of the entity, the rule set and the as-of date.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{Datelike, Months};
use rhai::packages::{Package, StandardPackage};
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Position};

use super::facts::{EntityFacts, Field, FieldMask};
use crate::model::{AccumulationLevel, Date};

type Res<T> = Result<T, Box<EvalAltResult>>;

fn fail<T>(msg: impl Into<String>) -> Res<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(Dynamic::from(msg.into()), Position::NONE)))
}

/// Sandbox limits: generous for real rules, fatal for runaway ones.
pub const MAX_OPERATIONS: u64 = 500_000;
pub const MAX_CALL_LEVELS: usize = 32;
pub const MAX_STRING: usize = 16 * 1024;
pub const MAX_ARRAY: usize = 10_000;
pub const MAX_MAP: usize = 1_000;

/// A date in a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleDate(pub Date);

/// The entity as a rule sees it: the facts plus which fields this rule
/// declared it reads, and which of them this call has read so far.
#[derive(Clone)]
pub struct EntityView {
    pub facts: Arc<EntityFacts>,
    pub reads: FieldMask,
    pub entry: &'static str,
    /// Fields read during this call (shared by every copy of the view the
    /// script makes): every getter of a field marks it before answering.
    pub seen: Arc<AtomicU32>,
}

impl EntityView {
    pub fn new(facts: Arc<EntityFacts>, reads: FieldMask, entry: &'static str) -> EntityView {
        EntityView { facts, reads, entry, seen: Arc::default() }
    }

    /// The fields read so far.
    #[cfg(test)]
    pub fn seen(&self) -> FieldMask {
        FieldMask(self.seen.load(Ordering::Relaxed))
    }

    fn need(&self, f: Field) -> Res<()> {
        if self.reads.has(f) {
            self.seen.fetch_or(f.bit(), Ordering::Relaxed);
            Ok(())
        } else {
            fail(format!(
                "rule `{}` reads `{}` but rules.toml does not list \"{}\" in entries.{}.reads",
                self.entry,
                f.name(),
                f.name(),
                self.entry
            ))
        }
    }
}

/// One record of the entity.
#[derive(Clone)]
pub struct RecordView {
    facts: Arc<EntityFacts>,
    index: usize,
}

impl RecordView {
    pub(super) fn new(facts: Arc<EntityFacts>, index: usize) -> RecordView {
        RecordView { facts, index }
    }

    /// Which record of the entity this is.
    pub(super) fn index(&self) -> usize {
        self.index
    }

    fn r(&self) -> &super::facts::RecordFacts {
        &self.facts.records[self.index]
    }
}

thread_local! {
    static INTERNED: std::cell::RefCell<rustc_hash::FxHashMap<(usize, usize), ImmutableString>> = Default::default();
}

/// A Rhai string for a static code (record kind, severity, ...), made once
/// per thread instead of once per read. Keyed by the static text's address
/// and length (no hashing of its bytes): equal codes at two addresses only
/// cost a second entry.
pub(super) fn interned(s: &'static str) -> ImmutableString {
    INTERNED.with(|c| c.borrow_mut().entry((s.as_ptr() as usize, s.len())).or_insert_with(|| s.into()).clone())
}

/// `zh(code)`: the Chinese name of a code (an entity's status, key
/// special field, new-economy category, a person's role, a flag's effect:
/// [`crate::i18n::code_name_zh`]), or the text itself, so that a rule's
/// Chinese reason reads 注销 where its English one reads `deregistered`.
pub(super) fn zh(code: &str) -> ImmutableString {
    match crate::i18n::code_name_zh(code) {
        Some(name) => interned(name),
        None => code.into(),
    }
}

fn opt_date(d: Option<Date>) -> Dynamic {
    d.map_or(Dynamic::UNIT, |d| Dynamic::from(RuleDate(d)))
}

fn add_months(d: Date, months: i64) -> Res<Date> {
    let m = Months::new(months.unsigned_abs().min(u32::MAX as u64) as u32);
    let out = if months >= 0 { d.checked_add_months(m) } else { d.checked_sub_months(m) };
    out.map_or_else(|| fail(format!("date out of range: {d} plus {months} months")), Ok)
}

/// Builds the sandboxed engine for a rule set with its parameters.
pub fn new_engine(params: Arc<Map>) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(StandardPackage::new().as_shared_module());
    // Folds `param("…")` and other pure calls with constant arguments at
    // compile time: a rule reading a figure costs nothing per entity.
    engine.set_optimization_level(rhai::OptimizationLevel::Full);
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(MAX_CALL_LEVELS);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(MAX_STRING);
    engine.set_max_array_size(MAX_ARRAY);
    engine.set_max_map_size(MAX_MAP);
    engine.set_max_variables(1_000);
    engine.set_max_functions(1_000);
    engine.set_strict_variables(true);
    engine.set_fail_on_invalid_map_property(true);
    engine.disable_symbol("eval");
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});

    register_dates(&mut engine);
    register_entity(&mut engine);
    register_record(&mut engine);
    engine.register_fn("zh", zh);

    // Shared values: `param` hands out a reference-counted handle, not a
    // deep copy of an array or map per call.
    let params: Map = params.iter().map(|(k, v)| (k.clone(), v.clone().into_shared())).collect();
    engine.register_fn("param", move |name: &str| -> Res<Dynamic> {
        match params.get(name) {
            Some(v) => Ok(v.clone()),
            None => {
                let mut known: Vec<_> = params.keys().map(|k| k.to_string()).collect();
                known.sort();
                fail(format!("no parameter '{name}' in rules.toml [params] (known: {})", known.join(", ")))
            }
        }
    });
    engine
}

fn register_dates(engine: &mut Engine) {
    engine.register_type_with_name::<RuleDate>("Date");
    engine.register_fn("date", |s: &str| -> Res<RuleDate> {
        Date::parse_from_str(s, "%Y-%m-%d").map(RuleDate).or_else(|_| fail(format!("'{s}' is not a date (YYYY-MM-DD)")))
    });
    engine.register_fn("to_string", |d: &mut RuleDate| d.0.to_string());
    engine.register_fn("to_debug", |d: &mut RuleDate| d.0.to_string());
    engine.register_fn("==", |a: RuleDate, b: RuleDate| a == b);
    engine.register_fn("!=", |a: RuleDate, b: RuleDate| a != b);
    engine.register_fn("<", |a: RuleDate, b: RuleDate| a < b);
    engine.register_fn("<=", |a: RuleDate, b: RuleDate| a <= b);
    engine.register_fn(">", |a: RuleDate, b: RuleDate| a > b);
    engine.register_fn(">=", |a: RuleDate, b: RuleDate| a >= b);
    engine.register_get("year", |d: &mut RuleDate| i64::from(d.0.year()));
    engine.register_get("month", |d: &mut RuleDate| i64::from(d.0.month()));
    engine.register_get("day", |d: &mut RuleDate| i64::from(d.0.day()));
    // `b - a` in days.
    engine.register_fn("days_between", |a: RuleDate, b: RuleDate| (b.0 - a.0).num_days());
    engine.register_fn("add_days", |d: RuleDate, n: i64| -> Res<RuleDate> {
        d.0.checked_add_signed(chrono::Duration::days(n)).map(RuleDate).map_or_else(|| fail("date out of range"), Ok)
    });
    engine.register_fn("add_months", |d: RuleDate, n: i64| add_months(d.0, n).map(RuleDate));
    engine.register_fn("add_years", |d: RuleDate, n: i64| add_months(d.0, n.saturating_mul(12)).map(RuleDate));
    // d in (as_of - n years, as_of]
    engine.register_fn("within_years", |d: RuleDate, as_of: RuleDate, n: i64| -> Res<bool> {
        Ok(d.0 <= as_of.0 && d.0 > add_months(as_of.0, -n.saturating_mul(12))?)
    });
    engine.register_fn("within_months", |d: RuleDate, as_of: RuleDate, n: i64| -> Res<bool> {
        Ok(d.0 <= as_of.0 && d.0 > add_months(as_of.0, -n)?)
    });
    engine.register_fn("within_days", |d: RuleDate, as_of: RuleDate, n: i64| {
        d.0 <= as_of.0 && (as_of.0 - d.0).num_days() < n
    });
    engine.register_fn("is_date", |d: Dynamic| d.is::<RuleDate>());
}

fn register_entity(engine: &mut Engine) {
    engine.register_type_with_name::<EntityView>("Entity");
    macro_rules! get {
        ($name:literal, $field:expr, |$f:ident| $body:expr) => {
            engine.register_get($name, |e: &mut EntityView| -> Res<Dynamic> {
                e.need($field)?;
                let $f = &*e.facts;
                Ok($body)
            });
        };
    }
    engine.register_get("as_of", |e: &mut EntityView| RuleDate(e.facts.as_of));
    get!("uscc", Field::Uscc, |f| Dynamic::from(f.uscc.to_string()));
    get!("entity_type", Field::EntityType, |f| Dynamic::from(interned(f.entity_type.as_str())));
    get!("status", Field::Status, |f| Dynamic::from(interned(f.status.as_str())));
    get!("county", Field::Region, |f| Dynamic::from(i64::from(f.region)));
    get!("city", Field::Region, |f| Dynamic::from(i64::from(f.city)));
    get!("industry", Field::Industry, |f| Dynamic::from(f.industry.as_str().to_string()));
    get!("industry_section", Field::Industry, |f| Dynamic::from(f.industry.section().to_string()));
    get!("registered_on", Field::RegisteredOn, |f| Dynamic::from(RuleDate(f.registered_on)));
    get!("key_fields", Field::KeyFields, |f| {
        Dynamic::from(f.key_fields.iter().map(|k| Dynamic::from(k.as_str())).collect::<Array>())
    });
    get!("is_key_field", Field::KeyFields, |f| Dynamic::from(!f.key_fields.is_empty()));
    get!("new_economy", Field::NewEconomy, |f| Dynamic::from(interned(f.new_economy.map_or("", |n| n.as_str()))));
    get!("composite_grade", Field::CompositeGrade, |f| Dynamic::from(f.composite_grade.clone().unwrap_or_default()));
    get!("industry_grades", Field::IndustryGrades, |f| {
        let mut m = Map::new();
        for (d, g) in &f.industry_grades {
            m.insert(d.as_str().into(), Dynamic::from(g.clone()));
        }
        Dynamic::from_map(m)
    });
    get!("worst_industry_grade", Field::IndustryGrades, |f| {
        Dynamic::from(f.industry_grades.iter().map(|(_, g)| g.clone()).max().unwrap_or_default())
    });
    get!("market_rating", Field::MarketRating, |f| Dynamic::from(f.market_rating.clone().unwrap_or_default()));
    // When each evaluation was made: rules decide how long one stays valid.
    get!("composite_grade_on", Field::CompositeGrade, |f| opt_date(f.evaluation_dates.composite));
    get!("market_rating_on", Field::MarketRating, |f| opt_date(f.evaluation_dates.market));
    get!("industry_grade_dates", Field::IndustryGrades, |f| {
        let mut m = Map::new();
        for ((d, _), on) in f.industry_grades.iter().zip(&f.evaluation_dates.industry) {
            m.insert(d.as_str().into(), Dynamic::from(RuleDate(*on)));
        }
        Dynamic::from_map(m)
    });
    engine.register_get("records", |e: &mut EntityView| -> Res<Array> {
        e.need(Field::Records)?;
        Ok((0..e.facts.records.len())
            .map(|index| Dynamic::from(RecordView { facts: e.facts.clone(), index }))
            .collect())
    });
    engine.register_get("current_records", |e: &mut EntityView| -> Res<Array> {
        e.need(Field::CurrentRecords)?;
        Ok((0..e.facts.records.len())
            .filter(|&i| e.facts.records[i].is_current())
            .map(|index| Dynamic::from(RecordView { facts: e.facts.clone(), index }))
            .collect())
    });
    get!("tolerance_years", Field::Tolerance, |f| Dynamic::from(f.stages.tolerance_years));
    get!("tolerance_until", Field::Tolerance, |f| opt_date(f.stages.tolerance_until));
    get!("in_tolerance", Field::Tolerance, |f| Dynamic::from(f.in_tolerance()));
    get!("accumulation", Field::Accumulation, |f| {
        Dynamic::from(interned(f.stages.accumulation.unwrap_or(AccumulationLevel::None).as_str()))
    });
    get!("tier", Field::Tier, |f| Dynamic::from(i64::from(f.stages.tier.unwrap_or(0))));
    get!("blacklisted", Field::Blacklist, |f| Dynamic::from(f.stages.blacklisted));
    get!("propagated", Field::Propagation, |f| {
        let list: Array = f
            .stages
            .propagated
            .iter()
            .map(|p| {
                let mut m = Map::new();
                m.insert("effect".into(), Dynamic::from(interned(p.effect.as_str())));
                m.insert("source".into(), Dynamic::from(p.source.to_string()));
                m.insert("path".into(), Dynamic::from(p.path.clone()));
                Dynamic::from_map(m)
            })
            .collect();
        Dynamic::from(list)
    });
}

fn register_record(engine: &mut Engine) {
    engine.register_type_with_name::<RecordView>("Record");
    engine.register_get("kind", |r: &mut RecordView| interned(r.r().kind.as_str()));
    engine.register_get("id", |r: &mut RecordView| r.r().id.clone());
    engine.register_get("date", |r: &mut RecordView| RuleDate(r.r().date));
    engine.register_get("department", |r: &mut RecordView| r.r().department.clone());
    engine.register_get("severity", |r: &mut RecordView| interned(r.r().severity.map_or("", |s| s.as_str())));
    engine.register_get("intentional", |r: &mut RecordView| r.r().intentional);
    engine.register_get("harmful", |r: &mut RecordView| r.r().harmful);
    engine.register_get("disclosure_until", |r: &mut RecordView| opt_date(r.r().disclosure_until));
    engine.register_get("fulfilled_on", |r: &mut RecordView| opt_date(r.r().fulfilled_on));
    engine.register_get("removed_on", |r: &mut RecordView| opt_date(r.r().removed_on));
    engine.register_get("detail", |r: &mut RecordView| r.r().detail.clone());
    engine
        .register_get("repair_applied_on", |r: &mut RecordView| opt_date(r.r().repair.as_ref().map(|x| x.applied_on)));
    engine.register_get("repair_commitment", |r: &mut RecordView| {
        interned(r.r().repair.as_ref().and_then(|x| x.commitment).map_or("", |c| c.as_str()))
    });
    engine.register_get("status", |r: &mut RecordView| interned(r.r().status.map_or("", |s| s.as_str())));
    // 异议申诉: an open objection makes the record disputed; `objection` is
    // the latest objection's status as of the date ("" when none).
    engine.register_get("disputed", |r: &mut RecordView| {
        r.r().objection == Some(crate::model::objection::ObjectionStatus::Open)
    });
    engine.register_get("objection", |r: &mut RecordView| interned(r.r().objection.map_or("", |o| o.as_str())));
}

#[cfg(test)]
mod tests {
    //! The sandbox: what a rule must never reach.
    use super::*;

    fn engine() -> Engine {
        new_engine(Arc::new(Map::new()))
    }

    fn refused(script: &str) -> String {
        match engine().eval::<Dynamic>(script) {
            Ok(v) => panic!("the sandbox ran `{script}` and gave {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_sandbox_runs_plain_rules() {
        assert_eq!(engine().eval::<i64>("let x = 40; x + 2").unwrap(), 42);
    }

    #[test]
    fn the_sandbox_refuses_eval() {
        let e = refused(r#"eval("40 + 2")"#);
        assert!(e.contains("eval"), "{e}");
    }

    #[test]
    fn the_sandbox_refuses_modules() {
        // No module resolver: an import never reaches the file system.
        refused(r#"import "rules/tier" as t; 1"#);
        refused(r#"import "/etc/passwd" as p; 1"#);
    }

    #[test]
    fn the_sandbox_has_no_clock() {
        // Rules see the evaluation's date only, never the wall clock.
        let e = refused("timestamp()");
        assert!(e.contains("timestamp"), "{e}");
        refused("let t = timestamp(); t.elapsed");
    }

    /// `engine::reads` keys a stage on the record getters its text names:
    /// a record must show nothing of its fields any other way.
    #[test]
    fn a_record_shows_its_fields_only_through_its_getters() {
        let engine = engine();
        let facts = Arc::new(super::super::probe::probes()[1].clone());
        let reads = FieldMask::default().with(Field::Records);
        let view = Dynamic::from(EntityView::new(facts.clone(), reads, "test"));
        let ast = engine
            .compile(
                r#"
                fn whole(e) {
                    let r = e.records[0];
                    [`${r}`, r.to_string(), r.to_debug(), type_of(r), `${e.records}`, e.records.to_debug(),
                     #{ r: r }.to_json(), `${#{ r: r }}`]
                }
                fn index(e) { e.records[0]["id"] }
                fn same(e) { e.records[0] == e.records[1] }
                "#,
            )
            .unwrap();
        let out: Array = engine.call_fn(&mut rhai::Scope::new(), &ast, "whole", (view.clone(),)).unwrap();
        for v in out {
            let s = v.to_string();
            for r in &facts.records {
                assert!(!s.contains(r.id.as_str()), "{s}");
                assert!(r.department.is_empty() || !s.contains(r.department.as_str()), "{s}");
                assert!(!s.contains(&r.date.to_string()), "{s}");
            }
        }
        assert!(engine.call_fn::<Dynamic>(&mut rhai::Scope::new(), &ast, "index", (view.clone(),)).is_err());
        // No `==` between records: comparing them is an error, not a test of their fields.
        assert!(engine.call_fn::<Dynamic>(&mut rhai::Scope::new(), &ast, "same", (view,)).is_err());
    }

    /// `memo::Observed` keeps answers by the fields a call read: every
    /// getter of an entity field marks that field, and the whole entity
    /// shows nothing of its fields (`as_of` alone is unmarked: it is the
    /// same for every entity of a run).
    #[test]
    fn every_entity_getter_marks_the_field_it_reads() {
        let host = include_str!("host.rs");
        let start = host.find("fn register_entity(").unwrap();
        let end = start + host[start..].find("\n}\n").unwrap();
        let body = &host[start..end];
        let mut direct: Vec<&str> = body.split("register_get(\"").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
        direct.sort_unstable();
        assert_eq!(direct, ["as_of", "current_records", "records"]);
        assert!(body.contains("e.need(Field::Records)?;") && body.contains("e.need(Field::CurrentRecords)?;"));
        let mac = &body[body.find("macro_rules! get").unwrap()..];
        assert!(mac[..mac.find("};").unwrap()].contains("e.need($field)?;"));
        let mut getters = vec![("records", Field::Records), ("current_records", Field::CurrentRecords)];
        for chunk in body.split("get!(\"").skip(1) {
            let name = &chunk[..chunk.find('"').unwrap()];
            let rest = &chunk[chunk.find("Field::").unwrap() + "Field::".len()..];
            let variant = &rest[..rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap()];
            let field = Field::ALL.iter().map(|(f, _)| *f).find(|f| format!("{f:?}") == variant).unwrap();
            getters.push((name, field));
        }
        assert!(getters.len() > 20, "{getters:?}");
        let engine = engine();
        let mut facts = super::super::probe::probes()[1].clone();
        facts.stages.propagated.push(crate::engine::PropagatedFlag {
            effect: crate::model::LinkEffect::KeyAttention,
            source: facts.uscc,
            path: "p".into(),
        });
        let facts = Arc::new(facts);
        let all = FieldMask(Field::ALL.iter().fold(0, |m, (f, _)| m | f.bit()));
        for (name, field) in getters {
            let ast = engine.compile(format!("fn f(e) {{ let x = e; x.{name} }}")).unwrap();
            let view = EntityView::new(facts.clone(), all, "test");
            let _: Dynamic =
                engine.call_fn(&mut rhai::Scope::new(), &ast, "f", (Dynamic::from(view.clone()),)).unwrap();
            assert_eq!(view.seen(), FieldMask(field.bit()), "{name}");
        }
        let ast = engine
            .compile("fn f(e) { [`${e}`, e.to_string(), e.to_debug(), type_of(e), #{ e: e }.to_json()] }")
            .unwrap();
        let view = EntityView::new(facts.clone(), all, "test");
        let out: Array = engine.call_fn(&mut rhai::Scope::new(), &ast, "f", (Dynamic::from(view.clone()),)).unwrap();
        for v in out {
            let s = v.to_string();
            assert!(!s.contains(&facts.uscc.to_string()) && !s.contains(facts.industry.as_str()), "{s}");
        }
        assert_eq!(view.seen(), FieldMask::default());
    }

    #[test]
    fn the_sandbox_bounds_work() {
        let e = refused("let n = 0; loop { n += 1; }");
        assert!(e.to_lowercase().contains("operations"), "{e}");
        refused("fn f(n) { f(n + 1) } f(0)");
    }
}
