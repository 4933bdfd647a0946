//! A fast path for the common subset of Rhai: each per-entity entry whose
//! functions use only that subset is translated once, at compile time,
//! into a small typed tree (locals in numbered slots, getters and
//! built-ins resolved, parameters folded) that runs without Rhai's
//! dynamic dispatch. Rhai stays the language and the reference.
//!
//! Invariant: the fast path answers only what Rhai would answer. Anything
//! outside the subset is refused when the rule set is compiled (the entry
//! then always runs in Rhai), and anything unexpected while running (a type
//! the subset does not treat exactly as Rhai does, an index out of range,
//! a missing key or parameter, a field the entry does not declare, an
//! overflow, more than a small share of Rhai's operation, depth or size
//! limits) is a [`Bail`]: the caller runs the same call in Rhai, which
//! gives the answer or the error with its position. So every error message
//! still comes from Rhai, and a rule that would hit a sandbox limit in Rhai
//! bails out long before it here.
//!
//! The subset: `let`/`const`, assignment and `+=`-style updates of locals,
//! `if`/`else`, `for` over ranges and arrays, `while`/`loop`, `break`,
//! `continue`, `return`; integers, floats, booleans, strings, `()`, dates,
//! arrays and maps; arithmetic, comparisons, `&&`, `||`, `!`, `??`,
//! interpolated strings; the entity's and records' getters, indexing,
//! `len`, `contains`/`in`, `keys`, `is_empty`, `starts_with`, `push` on a
//! local, credo's date functions, `param`, `zh`, and the file's own functions.
//! `tests` at the end, and the differential property test among them,
//! compare it with Rhai.

use std::sync::Arc;

use chrono::Datelike;
use rhai::{ASTFlags, Dynamic, Engine, Expr, FnCallExpr, ImmutableString, Map, Scope, Stmt, StmtBlock};

use super::facts::{EntityFacts, Field, FieldMask};
use super::host::{self, RecordView, RuleDate};
use crate::model::{AccumulationLevel, Date};

/// Operations the fast path runs before it hands a call to Rhai: a fifth
/// of Rhai's limit, counted at least as finely as Rhai counts.
const MAX_OPS: u32 = (host::MAX_OPERATIONS / 5) as u32;
/// Call depth, array length and string length limits, well inside Rhai's.
const MAX_DEPTH: u32 = (host::MAX_CALL_LEVELS / 2) as u32;
const MAX_ARRAY: usize = host::MAX_ARRAY / 10;
const MAX_STRING: usize = host::MAX_STRING / 4;

/// The call leaves the subset: run it in Rhai.
#[derive(Debug, PartialEq, Eq)]
pub struct Bail;

/// A value of the subset. Arrays and maps have Rhai's value semantics
/// (copy on write); maps are sorted by key, as Rhai's are.
///
/// The program is shared by every thread that evaluates it, so a value
/// copied out of it must not be reference counted: two cores updating one
/// counter wait on each other (in a 3M profile, a quarter of the
/// evaluator's own time sat on such updates). The rules' string constants
/// and map keys are therefore held as static texts ([`static_text`]), and
/// constant maps and arrays are read where they are, not copied.
#[derive(Clone, Debug, Default)]
pub(super) enum V {
    #[default]
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(ImmutableString),
    /// A string held without a reference count: a code of a closed
    /// vocabulary (a record's kind, an entity's status) or a string
    /// constant of the rules. A string to Rhai, as [`V::Str`] is.
    Code(&'static str),
    Date(Date),
    /// The entity the entry was called with.
    Entity,
    /// A record of the entity, by position.
    Record(u32),
    Array(Arc<Vec<V>>),
    /// Never changed in place (the subset has no assignment to a key).
    Map(Arc<[(Key, V)]>),
}

/// A map's key: static for the keys the rules write (and the getters'
/// own), a string for keys taken from the data (department codes).
#[derive(Clone, Debug)]
pub(super) enum Key {
    Static(&'static str),
    Text(ImmutableString),
}

impl Key {
    pub(super) fn as_str(&self) -> &str {
        match self {
            Key::Static(s) => s,
            Key::Text(s) => s.as_str(),
        }
    }

    /// A key the rules name: static when [`static_text`] has room.
    fn named(name: &str) -> Key {
        static_text(name).map_or_else(|| Key::Text(name.into()), Key::Static)
    }

    /// The key as a value (what `keys()` gives).
    fn value(&self) -> V {
        match self {
            Key::Static(s) => V::Code(s),
            Key::Text(s) => V::Str(s.clone()),
        }
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// Most texts [`static_text`] keeps, and their most bytes in all.
const MAX_STATIC_TEXTS: usize = 1 << 16;
const MAX_STATIC_BYTES: usize = 4 << 20;

/// `text` kept for the life of the process, once per distinct text: the
/// string constants and map keys of compiled rule sets. A server that
/// compiles many versions of the rules keeps each distinct text once; past
/// [`MAX_STATIC_TEXTS`] texts or [`MAX_STATIC_BYTES`] bytes, `None` (the
/// caller holds the text counted instead: only speed differs).
fn static_text(text: &str) -> Option<&'static str> {
    use std::sync::{Mutex, OnceLock};
    static KEPT: OnceLock<Mutex<(rustc_hash::FxHashSet<&'static str>, usize)>> = OnceLock::new();
    let mut kept = KEPT.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = kept.0.get(text) {
        return Some(s);
    }
    if kept.0.len() >= MAX_STATIC_TEXTS || kept.1 + text.len() > MAX_STATIC_BYTES {
        return None;
    }
    let s: &'static str = Box::leak(text.into());
    kept.0.insert(s);
    kept.1 += s.len();
    Some(s)
}

/// A string constant of the rules, static where [`static_text`] has room.
fn constant_text(s: &ImmutableString) -> V {
    static_text(s.as_str()).map_or_else(|| V::Str(s.clone()), V::Code)
}

/// Control flow out of a statement.
enum Flow {
    Bail,
    Return(V),
    Break,
    Continue,
}

type R<T> = Result<T, Flow>;

fn bail<T>() -> R<T> {
    Err(Flow::Bail)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Rem,
            _ => return None,
        })
    }
}

/// Built-in functions of the subset (credo's own and Rhai's standard ones
/// the rules use), by arity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Builtin {
    Param,
    WithinYears,
    WithinMonths,
    WithinDays,
    AddDays,
    AddMonths,
    AddYears,
    DaysBetween,
    IsDate,
    Date,
    Len,
    Contains,
    Keys,
    IsEmpty,
    StartsWith,
    Zh,
}

impl Builtin {
    const ALL: &'static [(&'static str, usize, Builtin)] = &[
        ("param", 1, Builtin::Param),
        ("within_years", 3, Builtin::WithinYears),
        ("within_months", 3, Builtin::WithinMonths),
        ("within_days", 3, Builtin::WithinDays),
        ("add_days", 2, Builtin::AddDays),
        ("add_months", 2, Builtin::AddMonths),
        ("add_years", 2, Builtin::AddYears),
        ("days_between", 2, Builtin::DaysBetween),
        ("is_date", 1, Builtin::IsDate),
        ("date", 1, Builtin::Date),
        ("len", 1, Builtin::Len),
        ("contains", 2, Builtin::Contains),
        ("keys", 1, Builtin::Keys),
        ("is_empty", 1, Builtin::IsEmpty),
        ("starts_with", 2, Builtin::StartsWith),
        ("zh", 1, Builtin::Zh),
    ];

    fn find(name: &str, arity: usize) -> Option<Builtin> {
        Self::ALL.iter().find(|(n, a, _)| *n == name && *a == arity).map(|(_, _, b)| *b)
    }
}

// A built-in's arguments are evaluated into an array of three.
const _: () = {
    let mut i = 0;
    while i < Builtin::ALL.len() {
        assert!(Builtin::ALL[i].1 <= 3, "a built-in of more than three arguments");
        i += 1;
    }
};

/// An entity getter of `host::register_entity`, and the field it marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntityGet {
    AsOf,
    Uscc,
    EntityType,
    Status,
    County,
    City,
    Industry,
    IndustrySection,
    RegisteredOn,
    KeyFields,
    IsKeyField,
    NewEconomy,
    CompositeGrade,
    IndustryGrades,
    WorstIndustryGrade,
    MarketRating,
    CompositeGradeOn,
    MarketRatingOn,
    IndustryGradeDates,
    Records,
    CurrentRecords,
    ToleranceYears,
    ToleranceUntil,
    InTolerance,
    Accumulation,
    Tier,
    Blacklisted,
    Propagated,
}

impl EntityGet {
    const ALL: &'static [(&'static str, EntityGet, Option<Field>)] = &[
        ("as_of", EntityGet::AsOf, None),
        ("uscc", EntityGet::Uscc, Some(Field::Uscc)),
        ("entity_type", EntityGet::EntityType, Some(Field::EntityType)),
        ("status", EntityGet::Status, Some(Field::Status)),
        ("county", EntityGet::County, Some(Field::Region)),
        ("city", EntityGet::City, Some(Field::Region)),
        ("industry", EntityGet::Industry, Some(Field::Industry)),
        ("industry_section", EntityGet::IndustrySection, Some(Field::Industry)),
        ("registered_on", EntityGet::RegisteredOn, Some(Field::RegisteredOn)),
        ("key_fields", EntityGet::KeyFields, Some(Field::KeyFields)),
        ("is_key_field", EntityGet::IsKeyField, Some(Field::KeyFields)),
        ("new_economy", EntityGet::NewEconomy, Some(Field::NewEconomy)),
        ("composite_grade", EntityGet::CompositeGrade, Some(Field::CompositeGrade)),
        ("industry_grades", EntityGet::IndustryGrades, Some(Field::IndustryGrades)),
        ("worst_industry_grade", EntityGet::WorstIndustryGrade, Some(Field::IndustryGrades)),
        ("market_rating", EntityGet::MarketRating, Some(Field::MarketRating)),
        ("composite_grade_on", EntityGet::CompositeGradeOn, Some(Field::CompositeGrade)),
        ("market_rating_on", EntityGet::MarketRatingOn, Some(Field::MarketRating)),
        ("industry_grade_dates", EntityGet::IndustryGradeDates, Some(Field::IndustryGrades)),
        ("records", EntityGet::Records, Some(Field::Records)),
        ("current_records", EntityGet::CurrentRecords, Some(Field::CurrentRecords)),
        ("tolerance_years", EntityGet::ToleranceYears, Some(Field::Tolerance)),
        ("tolerance_until", EntityGet::ToleranceUntil, Some(Field::Tolerance)),
        ("in_tolerance", EntityGet::InTolerance, Some(Field::Tolerance)),
        ("accumulation", EntityGet::Accumulation, Some(Field::Accumulation)),
        ("tier", EntityGet::Tier, Some(Field::Tier)),
        ("blacklisted", EntityGet::Blacklisted, Some(Field::Blacklist)),
        ("propagated", EntityGet::Propagated, Some(Field::Propagation)),
    ];
}

/// A record getter of `host::register_record`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RecordGet {
    Kind,
    Id,
    Date,
    Department,
    Severity,
    Intentional,
    Harmful,
    DisclosureUntil,
    FulfilledOn,
    RemovedOn,
    Detail,
    RepairAppliedOn,
    RepairCommitment,
    Status,
    Disputed,
    Objection,
}

impl RecordGet {
    const ALL: &'static [(&'static str, RecordGet)] = &[
        ("kind", RecordGet::Kind),
        ("id", RecordGet::Id),
        ("date", RecordGet::Date),
        ("department", RecordGet::Department),
        ("severity", RecordGet::Severity),
        ("intentional", RecordGet::Intentional),
        ("harmful", RecordGet::Harmful),
        ("disclosure_until", RecordGet::DisclosureUntil),
        ("fulfilled_on", RecordGet::FulfilledOn),
        ("removed_on", RecordGet::RemovedOn),
        ("detail", RecordGet::Detail),
        ("repair_applied_on", RecordGet::RepairAppliedOn),
        ("repair_commitment", RecordGet::RepairCommitment),
        ("status", RecordGet::Status),
        ("disputed", RecordGet::Disputed),
        ("objection", RecordGet::Objection),
    ];
}

/// A property, resolved for every kind of value it may be read on.
#[derive(Debug)]
struct Prop {
    name: ImmutableString,
    entity: Option<(EntityGet, Option<Field>)>,
    record: Option<RecordGet>,
}

impl Prop {
    fn new(name: &str) -> Prop {
        Prop {
            name: name.into(),
            entity: EntityGet::ALL.iter().find(|(n, ..)| *n == name).map(|(_, g, f)| (*g, *f)),
            record: RecordGet::ALL.iter().find(|(n, _)| *n == name).map(|(_, g)| *g),
        }
    }
}

/// An expression of the subset.
#[derive(Debug)]
enum Ex {
    Const(V),
    Local(u16),
    Prop(Box<Ex>, Prop),
    Index(Box<Ex>, Box<Ex>),
    Call(usize, Vec<Ex>),
    Builtin(Builtin, Vec<Ex>),
    Bin(Op, Box<Ex>, Box<Ex>),
    Not(Box<Ex>),
    Neg(Box<Ex>),
    And(Vec<Ex>),
    Or(Vec<Ex>),
    Coalesce(Vec<Ex>),
    /// An interpolated string, and the room to reserve for it (its
    /// constant parts, and ten bytes for each other part: a date's length).
    Interp(Vec<Ex>, usize),
    Array(Vec<Ex>),
    Map(Vec<(Key, Ex)>),
    Block(Vec<St>),
    /// `local.push(value)`.
    Push(u16, Box<Ex>),
}

/// A statement of the subset; every statement has a value, as in Rhai.
#[derive(Debug)]
enum St {
    Let(u16, Ex),
    Set(u16, Ex),
    Update(u16, Op, Ex),
    Expr(Ex),
    If(Ex, Vec<St>, Vec<St>),
    ForRange(u16, Ex, Ex, Vec<St>),
    ForEach(u16, Ex, Vec<St>),
    While(Option<Ex>, Vec<St>),
    Return(Option<Ex>),
    Break,
    Continue,
}

#[derive(Debug)]
struct Func {
    params: usize,
    slots: usize,
    body: Vec<St>,
}

/// An entry translated to the subset.
#[derive(Debug)]
pub struct Program {
    /// The file's functions by position; `None` for those the entry cannot
    /// reach (they may use anything: they never run here).
    funcs: Vec<Option<Func>>,
    entry: usize,
    params: Arc<Map>,
}

/// Why an entry is outside the subset (shown in debug logs).
#[derive(Debug)]
pub struct Unsupported(pub String);

fn no<T>(what: impl Into<String>) -> Result<T, Unsupported> {
    Err(Unsupported(what.into()))
}

/// Names the subset treats itself: a script function of the same name
/// would shadow them, so such a file stays in Rhai.
fn reserved(name: &str) -> bool {
    Builtin::ALL.iter().any(|(n, ..)| *n == name) || matches!(name, "push")
}

struct FnCompiler<'a> {
    names: &'a [(ImmutableString, usize)],
    params: &'a Map,
    scopes: Vec<Vec<(ImmutableString, u16)>>,
    slots: usize,
    /// The file's functions this one calls, by position.
    calls: Vec<usize>,
}

impl Program {
    /// Translates `function` of the script `text` (compiled by `engine`
    /// into `ast`) and every function it may call; the file's other
    /// functions do not matter.
    pub fn compile(
        engine: &Engine,
        text: &str,
        ast: &rhai::AST,
        function: &str,
        params: Arc<Map>,
    ) -> Result<Program, Unsupported> {
        if !ast.statements().iter().all(|s| matches!(s, Stmt::Noop(_))) {
            return no("statements outside functions");
        }
        let defs: Vec<_> = ast.iter_fn_def().collect();
        // Each body below is parsed again alone, and Rhai optimises it as
        // it does inside the file, with one difference found: a call with
        // constant arguments indexed by a constant (`param("m")["k"]`) is
        // folded to `()` alone and to the element inside a function. A file
        // with one anywhere (as written, unoptimised) runs in Rhai.
        let mut parser = super::host::new_engine(params.clone());
        parser.set_optimization_level(rhai::OptimizationLevel::None);
        let written = parser.compile(text).map_err(|e| Unsupported(format!("parsing as written: {e}")))?;
        let mut folded_index = false;
        written.walk(&mut |path: &[rhai::ASTNode]| {
            if let Some(rhai::ASTNode::Expr(Expr::Index(x, ..))) = path.last()
                && let Expr::FnCall(f, _) = &x.lhs
                && f.args.iter().all(Expr::is_constant)
                && match &x.rhs {
                    Expr::Index(y, ..) | Expr::Dot(y, ..) => y.lhs.is_constant(),
                    rhs => rhs.is_constant(),
                }
            {
                folded_index = true;
            }
            !folded_index
        });
        if folded_index {
            return no("a call with constant arguments indexed by a constant");
        }
        let names: Vec<(ImmutableString, usize)> = defs.iter().map(|d| (d.name.clone(), d.params.len())).collect();
        if let Some((n, _)) = names.iter().find(|(n, _)| reserved(n)) {
            return no(format!("the file defines `{n}`"));
        }
        // Each function translated on its own, with the functions it calls.
        let translated: Vec<Result<(Func, Vec<usize>), Unsupported>> = defs
            .iter()
            .map(|def| {
                if def.this_type.is_some() || def.name.starts_with("anon$") {
                    return no(format!("{} is a method or closure", def.name));
                }
                let body = super::reads::body(text, def).ok_or_else(|| Unsupported("no body position".into()))?;
                // The body alone, with the file's functions beside it and
                // its parameters as variables.
                let mut scope = Scope::new();
                for p in &def.params {
                    scope.push(p.as_str(), Dynamic::UNIT);
                }
                let stmts = engine
                    .compile_with_scope(&scope, format!("{text}\n{body}"))
                    .map_err(|e| Unsupported(format!("re-parsing {}: {e}", def.name)))?;
                let mut c = FnCompiler {
                    names: &names,
                    params: &params,
                    scopes: vec![def.params.iter().enumerate().map(|(i, p)| (p.clone(), i as u16)).collect()],
                    slots: def.params.len(),
                    calls: Vec::new(),
                };
                let body = c.block(stmts.statements(), false)?;
                Ok((Func { params: def.params.len(), slots: c.slots, body }, c.calls))
            })
            .collect();
        let entry = names
            .iter()
            .position(|(n, a)| n == function && *a == 1)
            .ok_or_else(|| Unsupported(format!("no function {function}(e)")))?;
        // The entry and every function it can reach must be in the subset.
        let mut reached = vec![false; defs.len()];
        let mut todo = vec![entry];
        while let Some(f) = todo.pop() {
            if std::mem::replace(&mut reached[f], true) {
                continue;
            }
            match &translated[f] {
                Ok((_, calls)) => todo.extend(calls),
                Err(why) => return no(why.0.clone()),
            }
        }
        let funcs = translated.into_iter().zip(reached).map(|(t, r)| t.ok().filter(|_| r).map(|(f, _)| f)).collect();
        Ok(Program { funcs, entry, params })
    }
}

impl FnCompiler<'_> {
    fn local(&self, name: &str) -> Option<u16> {
        self.scopes.iter().rev().flat_map(|s| s.iter().rev()).find(|(n, _)| n == name).map(|(_, s)| *s)
    }

    fn declare(&mut self, name: &ImmutableString) -> Result<u16, Unsupported> {
        if self.slots >= u16::MAX as usize {
            return no("too many variables");
        }
        let slot = self.slots as u16;
        self.slots += 1;
        self.scopes.last_mut().expect("a scope").push((name.clone(), slot));
        Ok(slot)
    }

    /// Statements in a scope of their own (`scoped`) or the current one.
    fn block(&mut self, stmts: &[Stmt], scoped: bool) -> Result<Vec<St>, Unsupported> {
        if scoped {
            self.scopes.push(Vec::new());
        }
        let out = stmts.iter().map(|s| self.stmt(s)).collect::<Result<Vec<_>, _>>();
        if scoped {
            self.scopes.pop();
        }
        out
    }

    fn scoped(&mut self, b: &StmtBlock) -> Result<Vec<St>, Unsupported> {
        self.block(b.statements(), true)
    }

    fn stmt(&mut self, s: &Stmt) -> Result<St, Unsupported> {
        Ok(match s {
            Stmt::Noop(_) => St::Expr(Ex::Const(V::Unit)),
            Stmt::Var(x, flags, _) => {
                if flags.contains(ASTFlags::EXPORTED) {
                    return no("export");
                }
                let value = self.expr(&x.1)?;
                St::Let(self.declare(&x.0.name)?, value)
            }
            Stmt::Assignment(x) => {
                let (op, target) = (&x.0, &x.1);
                let Expr::Variable(v, ..) = &target.lhs else { return no("assignment to a property or index") };
                let Some(slot) = self.local(v.1.as_str()) else { return no(format!("unknown variable {}", v.1)) };
                let value = self.expr(&target.rhs)?;
                match op.get_op_assignment_info() {
                    None => St::Set(slot, value),
                    Some((.., syntax)) => match Op::parse(syntax) {
                        Some(op @ (Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Rem)) => St::Update(slot, op, value),
                        _ => return no(format!("`{syntax}=`")),
                    },
                }
            }
            Stmt::FnCall(f, _) => St::Expr(self.call(f)?),
            Stmt::Expr(e) => St::Expr(self.expr(e)?),
            Stmt::Block(b) => St::Expr(Ex::Block(self.scoped(b)?)),
            Stmt::If(x, _) => St::If(self.expr(&x.expr)?, self.scoped(&x.body)?, self.scoped(&x.branch)?),
            Stmt::While(x, _) => {
                let cond = match &x.expr {
                    Expr::Unit(_) | Expr::BoolConstant(true, _) => None,
                    e => Some(self.expr(e)?),
                };
                St::While(cond, self.scoped(&x.body)?)
            }
            Stmt::For(x, _) => {
                let (var, counter, flow) = (&x.0, &x.1, &x.2);
                if counter.is_some() {
                    return no("a for loop with a counter");
                }
                let range = match &flow.expr {
                    Expr::FnCall(f, _) if f.name == ".." && f.args.len() == 2 && f.is_operator_call() => {
                        Some((self.expr(&f.args[0])?, self.expr(&f.args[1])?))
                    }
                    // A range of constants, folded by Rhai.
                    Expr::DynamicConstant(d, _) => match d.clone().try_cast::<std::ops::Range<i64>>() {
                        Some(r) => Some((Ex::Const(V::Int(r.start)), Ex::Const(V::Int(r.end)))),
                        None => match d.clone().try_cast::<std::ops::RangeInclusive<i64>>() {
                            Some(r) if *r.end() < i64::MAX => {
                                Some((Ex::Const(V::Int(*r.start())), Ex::Const(V::Int(r.end() + 1))))
                            }
                            _ => None,
                        },
                    },
                    _ => None,
                };
                let over = if range.is_none() { Some(self.expr(&flow.expr)?) } else { None };
                self.scopes.push(Vec::new());
                let slot = self.declare(&var.name)?;
                let body = self.scoped(&flow.body)?;
                self.scopes.pop();
                match (range, over) {
                    (Some((from, to)), _) => St::ForRange(slot, from, to, body),
                    (None, Some(over)) => St::ForEach(slot, over, body),
                    (None, None) => unreachable!("a loop over a range or a value"),
                }
            }
            Stmt::BreakLoop(value, flags, _) => {
                if value.is_some() {
                    return no("break with a value");
                }
                if flags.contains(ASTFlags::BREAK) { St::Break } else { St::Continue }
            }
            Stmt::Return(value, flags, _) => {
                if flags.contains(ASTFlags::BREAK) {
                    return no("throw");
                }
                St::Return(value.as_deref().map(|e| self.expr(e)).transpose()?)
            }
            _ => return no(format!("statement {s:?}")),
        })
    }

    fn exprs(&mut self, es: &[Expr]) -> Result<Vec<Ex>, Unsupported> {
        es.iter().map(|e| self.expr(e)).collect()
    }

    fn expr(&mut self, e: &Expr) -> Result<Ex, Unsupported> {
        Ok(match e {
            Expr::DynamicConstant(d, _) => Ex::Const(constant(d)?),
            Expr::BoolConstant(b, _) => Ex::Const(V::Bool(*b)),
            Expr::IntegerConstant(i, _) => Ex::Const(V::Int(*i)),
            Expr::FloatConstant(f, _) => Ex::Const(V::Float(**f)),
            Expr::StringConstant(s, _) => Ex::Const(constant_text(s)),
            Expr::Unit(_) => Ex::Const(V::Unit),
            Expr::InterpolatedString(parts, _) => {
                let parts = self.exprs(parts)?;
                let room = parts
                    .iter()
                    .map(|p| match p {
                        Ex::Const(v) => text_of(v).map_or(10, str::len),
                        _ => 10,
                    })
                    .sum();
                Ex::Interp(parts, room)
            }
            Expr::Array(items, _) => Ex::Array(self.exprs(items)?),
            Expr::Map(x, _) => {
                let mut items: Vec<(Key, Ex)> = Vec::new();
                for (k, v) in &x.0 {
                    let v = self.expr(v)?;
                    items.retain(|(n, _)| n.as_str() != k.name.as_str());
                    items.push((Key::named(&k.name), v));
                }
                items.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
                Ex::Map(items)
            }
            Expr::Variable(v, ..) => {
                if !v.2.is_empty() {
                    return no("a module variable");
                }
                match self.local(v.1.as_str()) {
                    Some(slot) => Ex::Local(slot),
                    None => return no(format!("unknown variable {}", v.1)),
                }
            }
            Expr::Stmt(b) => Ex::Block(self.scoped(b)?),
            Expr::FnCall(f, _) => self.call(f)?,
            Expr::And(x, _) => Ex::And(self.exprs(x)?),
            Expr::Or(x, _) => Ex::Or(self.exprs(x)?),
            Expr::Coalesce(x, _) => Ex::Coalesce(self.exprs(x)?),
            Expr::Dot(x, ..) => {
                // `local.push(value)`: the one mutation through a chain.
                if let (Expr::Variable(v, ..), Expr::MethodCall(f, _)) = (&x.lhs, &x.rhs)
                    && f.name == "push"
                    && f.args.len() == 1
                    && v.2.is_empty()
                {
                    let Some(slot) = self.local(v.1.as_str()) else { return no("unknown variable") };
                    return Ok(Ex::Push(slot, Box::new(self.expr(&f.args[0])?)));
                }
                let root = self.expr(&x.lhs)?;
                self.chain(root, &x.rhs, false, ASTFlags::NONE)?
            }
            Expr::Index(x, flags, _) => {
                let root = self.expr(&x.lhs)?;
                self.chain(root, &x.rhs, true, *flags)?
            }
            _ => return no(format!("expression {e:?}")),
        })
    }

    /// The rest of a `.`/`[]` chain from `obj`, as Rhai evaluates it: under
    /// an index, `node` is the index (a chain's end, `BREAK`) or an index
    /// followed by more of the chain; under a dot, a property or method,
    /// possibly followed by more.
    fn chain(&mut self, obj: Ex, node: &Expr, index: bool, flags: ASTFlags) -> Result<Ex, Unsupported> {
        if index {
            if flags.contains(ASTFlags::BREAK) {
                return Ok(Ex::Index(Box::new(obj), Box::new(self.expr(node)?)));
            }
            return match node {
                Expr::Dot(x, f, _) => {
                    let at = Ex::Index(Box::new(obj), Box::new(self.expr(&x.lhs)?));
                    self.chain(at, &x.rhs, false, *f)
                }
                Expr::Index(x, f, _) => {
                    let at = Ex::Index(Box::new(obj), Box::new(self.expr(&x.lhs)?));
                    self.chain(at, &x.rhs, true, *f)
                }
                _ => no("an index chain"),
            };
        }
        match node {
            Expr::Property(p, _) => Ok(Ex::Prop(Box::new(obj), Prop::new(p.2.as_str()))),
            Expr::MethodCall(f, _) => self.method(obj, f),
            Expr::Dot(x, f, _) | Expr::Index(x, f, _) => {
                let here = match &x.lhs {
                    Expr::Property(p, _) => Ex::Prop(Box::new(obj), Prop::new(p.2.as_str())),
                    Expr::MethodCall(m, _) => self.method(obj, m)?,
                    _ => return no("a dot chain"),
                };
                self.chain(here, &x.rhs, matches!(node, Expr::Index(..)), *f)
            }
            _ => no("a dot chain"),
        }
    }

    fn method(&mut self, obj: Ex, f: &FnCallExpr) -> Result<Ex, Unsupported> {
        if !f.namespace.is_empty() {
            return no("a namespaced method");
        }
        let Some(b) = Builtin::find(f.name.as_str(), f.args.len() + 1) else {
            return no(format!("method {}", f.name));
        };
        if b == Builtin::Param {
            return no("param as a method");
        }
        let mut args = vec![obj];
        args.extend(self.exprs(&f.args)?);
        Ok(Ex::Builtin(b, args))
    }

    fn call(&mut self, f: &FnCallExpr) -> Result<Ex, Unsupported> {
        if !f.namespace.is_empty() || f.capture_parent_scope {
            return no(format!("call {}", f.name));
        }
        let name = f.name.as_str();
        let n = f.args.len();
        if f.is_operator_call() {
            return Ok(match (name, n) {
                ("!", 1) => Ex::Not(Box::new(self.expr(&f.args[0])?)),
                ("-", 1) => Ex::Neg(Box::new(self.expr(&f.args[0])?)),
                (_, 2) => match Op::parse(name) {
                    Some(op) => Ex::Bin(op, Box::new(self.expr(&f.args[0])?), Box::new(self.expr(&f.args[1])?)),
                    None => return no(format!("operator {name}")),
                },
                _ => return no(format!("operator {name}")),
            });
        }
        if let Some(i) = self.names.iter().position(|(fname, a)| fname == name && *a == n) {
            self.calls.push(i);
            return Ok(Ex::Call(i, self.exprs(&f.args)?));
        }
        let Some(b) = Builtin::find(name, n) else { return no(format!("function {name}/{n}")) };
        let args = self.exprs(&f.args)?;
        // A parameter named by a constant is read now.
        if b == Builtin::Param
            && let Ex::Const(c) = &args[0]
            && let Some(p) = text_of(c)
        {
            return match self.params.get(p) {
                Some(v) => Ok(Ex::Const(constant(v)?)),
                None => no(format!("no parameter {p}")),
            };
        }
        Ok(Ex::Builtin(b, args))
    }
}

/// A constant of the rule set (a parameter, a folded expression).
fn constant(d: &Dynamic) -> Result<V, Unsupported> {
    let d = d.flatten_clone();
    Ok(if d.is_unit() {
        V::Unit
    } else if let Ok(b) = d.as_bool() {
        V::Bool(b)
    } else if let Ok(i) = d.as_int() {
        V::Int(i)
    } else if let Ok(f) = d.as_float() {
        V::Float(f)
    } else if d.is_string() {
        constant_text(&d.into_immutable_string().expect("a string"))
    } else if let Some(date) = d.clone().try_cast::<RuleDate>() {
        V::Date(date.0)
    } else if d.is_array() {
        let a = d.into_array().expect("an array");
        V::Array(Arc::new(a.iter().map(constant).collect::<Result<_, _>>()?))
    } else if d.is_map() {
        let m = d.cast::<Map>();
        V::Map(m.iter().map(|(k, v)| Ok((Key::named(k.as_str()), constant(v)?))).collect::<Result<_, _>>()?)
    } else {
        return no(format!("a constant of type {}", d.type_name()));
    })
}

/// One call's state.
struct Ctx<'a> {
    program: &'a Program,
    facts: &'a Arc<EntityFacts>,
    reads: FieldMask,
    seen: u32,
    ops: u32,
    depth: u32,
    stack: Vec<V>,
    base: usize,
}

impl Program {
    /// The entry's answer for `facts` as Rhai would give it, and the
    /// fields it read; [`Bail`] when the call leaves the subset.
    #[cfg(test)]
    pub fn call(&self, facts: &Arc<EntityFacts>, reads: FieldMask) -> Result<(Dynamic, FieldMask), Bail> {
        let (out, seen) = self.call_value(facts, reads)?;
        Ok((to_dynamic(&out, facts)?, seen))
    }

    /// [`Program::call`]'s answer as the fast path's own value (decoded by
    /// `answer::decode_native`, or made a Rhai value by [`to_dynamic`]).
    pub(super) fn call_value(&self, facts: &Arc<EntityFacts>, reads: FieldMask) -> Result<(V, FieldMask), Bail> {
        let mut cx = Ctx { program: self, facts, reads, seen: 0, ops: 0, depth: 0, stack: Vec::new(), base: 0 };
        cx.stack.push(V::Entity);
        match cx.call(self.entry, 0) {
            Ok(v) => Ok((v, FieldMask(cx.seen))),
            Err(_) => Err(Bail),
        }
    }
}

/// A map's value by key (maps are sorted by key).
pub(super) fn field<'v>(m: &'v [(Key, V)], k: &str) -> Option<&'v V> {
    m.binary_search_by(|(n, _)| n.as_str().cmp(k)).ok().map(|at| &m[at].1)
}

/// The text of a string value (a string or a code).
pub(super) fn text_of(v: &V) -> Option<&str> {
    match v {
        V::Str(s) => Some(s.as_str()),
        V::Code(c) => Some(c),
        _ => None,
    }
}

/// The Rhai value of `v` (by reference: constants stay shared).
pub(super) fn to_dynamic(v: &V, facts: &Arc<EntityFacts>) -> Result<Dynamic, Bail> {
    Ok(match v {
        V::Unit => Dynamic::UNIT,
        V::Bool(b) => Dynamic::from(*b),
        V::Int(i) => Dynamic::from(*i),
        V::Float(f) => Dynamic::from(*f),
        V::Str(s) => Dynamic::from(s.clone()),
        V::Code(c) => Dynamic::from(host::interned(c)),
        V::Date(d) => Dynamic::from(RuleDate(*d)),
        V::Entity => return Err(Bail),
        V::Record(i) => Dynamic::from(RecordView::new(facts.clone(), *i as usize)),
        V::Array(a) => Dynamic::from_array(a.iter().map(|v| to_dynamic(v, facts)).collect::<Result<_, _>>()?),
        V::Map(m) => Dynamic::from_map(
            m.iter().map(|(k, v)| Ok((k.as_str().into(), to_dynamic(v, facts)?))).collect::<Result<Map, Bail>>()?,
        ),
    })
}

fn opt_date(d: Option<Date>) -> V {
    d.map_or(V::Unit, V::Date)
}

fn text(s: &'static str) -> V {
    V::Code(s)
}

fn truth(v: &V) -> R<bool> {
    match v {
        V::Bool(b) => Ok(*b),
        _ => bail(),
    }
}

fn int(v: &V) -> R<i64> {
    match v {
        V::Int(i) => Ok(*i),
        _ => bail(),
    }
}

fn date(v: &V) -> R<Date> {
    match v {
        V::Date(d) => Ok(*d),
        _ => bail(),
    }
}

fn add_months(d: Date, months: i64) -> R<Date> {
    let m = chrono::Months::new(months.unsigned_abs().min(u32::MAX as u64) as u32);
    let out = if months >= 0 { d.checked_add_months(m) } else { d.checked_sub_months(m) };
    out.ok_or(Flow::Bail)
}

/// A comparison or arithmetic as Rhai's built-in operators (and credo's
/// date operators) give it; anything else bails.
fn binary(op: Op, a: &V, b: &V) -> R<V> {
    use std::cmp::Ordering;
    let cmp = |o: Ordering| -> V {
        V::Bool(match op {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            _ => unreachable!("a comparison"),
        })
    };
    let comparison = matches!(op, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge);
    Ok(match (a, b) {
        (V::Int(x), V::Int(y)) => match op {
            Op::Add => V::Int(x.checked_add(*y).ok_or(Flow::Bail)?),
            Op::Sub => V::Int(x.checked_sub(*y).ok_or(Flow::Bail)?),
            Op::Mul => V::Int(x.checked_mul(*y).ok_or(Flow::Bail)?),
            Op::Div if *y != 0 => V::Int(x.checked_div(*y).ok_or(Flow::Bail)?),
            Op::Rem if *y != 0 => V::Int(x.checked_rem(*y).ok_or(Flow::Bail)?),
            Op::Div | Op::Rem => return bail(),
            _ => cmp(x.cmp(y)),
        },
        (V::Float(_) | V::Int(_), V::Float(_) | V::Int(_)) => {
            let f = |v: &V| match v {
                V::Float(f) => *f,
                V::Int(i) => *i as f64,
                _ => unreachable!("a number"),
            };
            let (x, y) = (f(a), f(b));
            match op {
                Op::Add => V::Float(x + y),
                Op::Sub => V::Float(x - y),
                Op::Mul => V::Float(x * y),
                Op::Div => V::Float(x / y),
                Op::Rem => V::Float(x % y),
                _ => match x.partial_cmp(&y) {
                    Some(o) => cmp(o),
                    None => return bail(),
                },
            }
        }
        (V::Str(_) | V::Code(_), V::Str(_) | V::Code(_)) if op == Op::Add => {
            let (x, y) = (text_of(a).unwrap_or_default(), text_of(b).unwrap_or_default());
            if x.len() + y.len() > MAX_STRING {
                return bail();
            }
            let mut s = match a {
                V::Str(x) => x.clone(),
                _ => ImmutableString::from(x),
            };
            s += y;
            V::Str(s)
        }
        // A code and a string are both strings to Rhai.
        (V::Str(_) | V::Code(_), V::Str(_) | V::Code(_)) if comparison => {
            cmp(text_of(a).unwrap_or_default().cmp(text_of(b).unwrap_or_default()))
        }
        (V::Date(x), V::Date(y)) if comparison => cmp(x.cmp(y)),
        (V::Bool(x), V::Bool(y)) if matches!(op, Op::Eq | Op::Ne) => cmp(x.cmp(y)),
        (V::Unit, V::Unit) if comparison => V::Bool(op == Op::Eq),
        // Different kinds of plain values: Rhai's default for operands
        // of different types (`!=` true, every other comparison false).
        (V::Unit | V::Bool(_) | V::Int(_) | V::Float(_) | V::Str(_) | V::Code(_) | V::Date(_), _)
            if comparison
                && matches!(
                    b,
                    V::Unit | V::Bool(_) | V::Int(_) | V::Float(_) | V::Str(_) | V::Code(_) | V::Date(_)
                )
                && std::mem::discriminant(a) != std::mem::discriminant(b) =>
        {
            V::Bool(op == Op::Ne)
        }
        _ => return bail(),
    })
}

/// `a == b` as an array's `contains` asks it.
fn equal(a: &V, b: &V) -> R<bool> {
    truth(&binary(Op::Eq, a, b)?)
}

impl Ctx<'_> {
    fn tick(&mut self) -> R<()> {
        self.ops += 1;
        if self.ops > MAX_OPS { bail() } else { Ok(()) }
    }

    /// Calls function `f` whose arguments are the stack's top from `base`.
    fn call(&mut self, f: usize, base: usize) -> R<V> {
        let func = self.program.funcs[f].as_ref().expect("a reachable function is translated");
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return bail();
        }
        debug_assert_eq!(self.stack.len() - base, func.params);
        self.stack.resize(base + func.slots, V::Unit);
        let outer = std::mem::replace(&mut self.base, base);
        let out = match self.block(&func.body) {
            Ok(v) => Ok(v),
            Err(Flow::Return(v)) => Ok(v),
            Err(_) => Err(Flow::Bail),
        };
        self.base = outer;
        self.stack.truncate(base);
        self.depth -= 1;
        out
    }

    fn slot(&mut self, s: u16) -> &mut V {
        &mut self.stack[self.base + s as usize]
    }

    fn block(&mut self, stmts: &[St]) -> R<V> {
        let mut last = V::Unit;
        for s in stmts {
            last = self.stmt(s)?;
        }
        Ok(last)
    }

    fn stmt(&mut self, s: &St) -> R<V> {
        self.tick()?;
        Ok(match s {
            St::Let(slot, e) | St::Set(slot, e) => {
                let v = self.eval(e)?;
                *self.slot(*slot) = v;
                V::Unit
            }
            St::Update(slot, op, e) => {
                let v = self.eval(e)?;
                let cur = std::mem::replace(self.slot(*slot), V::Unit);
                let new = match (cur, *op) {
                    // Rhai appends an array to an array in place.
                    (V::Array(mut a), Op::Add) => match v {
                        V::Array(b) => {
                            if a.len() + b.len() > MAX_ARRAY {
                                return bail();
                            }
                            Arc::make_mut(&mut a).extend(b.iter().cloned());
                            V::Array(a)
                        }
                        _ => return bail(),
                    },
                    (cur, op) => binary(op, &cur, &v)?,
                };
                *self.slot(*slot) = new;
                V::Unit
            }
            St::Expr(e) => self.eval(e)?,
            St::If(c, then, other) => {
                let c = self.eval(c)?;
                if truth(&c)? { self.block(then)? } else { self.block(other)? }
            }
            St::ForRange(slot, from, to, body) => {
                let (from, to) = (int(&self.eval(from)?)?, int(&self.eval(to)?)?);
                for i in from..to {
                    *self.slot(*slot) = V::Int(i);
                    if !self.iteration(body)? {
                        break;
                    }
                }
                V::Unit
            }
            St::ForEach(slot, over, body) => {
                let V::Array(items) = self.eval(over)? else { return bail() };
                for v in items.iter() {
                    *self.slot(*slot) = v.clone();
                    if !self.iteration(body)? {
                        break;
                    }
                }
                V::Unit
            }
            St::While(cond, body) => {
                loop {
                    if let Some(c) = cond {
                        let c = self.eval(c)?;
                        if !truth(&c)? {
                            break;
                        }
                    }
                    self.tick()?;
                    if !self.iteration(body)? {
                        break;
                    }
                }
                V::Unit
            }
            St::Return(e) => {
                let v = match e {
                    Some(e) => self.eval(e)?,
                    None => V::Unit,
                };
                return Err(Flow::Return(v));
            }
            St::Break => return Err(Flow::Break),
            St::Continue => return Err(Flow::Continue),
        })
    }

    /// One pass of a loop's body: `false` when it breaks.
    fn iteration(&mut self, body: &[St]) -> R<bool> {
        self.tick()?;
        match self.block(body) {
            Ok(_) | Err(Flow::Continue) => Ok(true),
            Err(Flow::Break) => Ok(false),
            Err(other) => Err(other),
        }
    }

    fn eval(&mut self, e: &Ex) -> R<V> {
        self.tick()?;
        Ok(match e {
            Ex::Const(v) => v.clone(),
            Ex::Local(s) => self.slot(*s).clone(),
            // A local's property or element is read in place: the local
            // is not copied (an array or map would cost two reference
            // count updates). The tick stands for evaluating the local.
            Ex::Prop(obj, p) => match **obj {
                Ex::Local(s) => {
                    self.tick()?;
                    match &self.stack[self.base + s as usize] {
                        V::Map(m) => lookup(m, &p.name)?,
                        v => {
                            let v = v.clone();
                            self.prop(&v, p)?
                        }
                    }
                }
                // A constant (a parameter's map) is read where it is:
                // copying it would update a count every thread shares.
                Ex::Const(ref c) => {
                    self.tick()?;
                    self.prop(c, p)?
                }
                _ => {
                    let obj = self.eval(obj)?;
                    self.prop(&obj, p)?
                }
            },
            Ex::Index(obj, at) => match (&**obj, &**at) {
                // The index cannot change the local (a constant or a local).
                (Ex::Local(s), Ex::Local(_) | Ex::Const(_)) => {
                    self.tick()?;
                    let at = self.eval(at)?;
                    index(&self.stack[self.base + *s as usize], &at)?
                }
                (Ex::Const(c), _) => {
                    self.tick()?;
                    let at = self.eval(at)?;
                    index(c, &at)?
                }
                _ => {
                    let obj = self.eval(obj)?;
                    let at = self.eval(at)?;
                    index(&obj, &at)?
                }
            },
            Ex::Call(f, args) => {
                // Arguments go on the stack's top as they are evaluated (a
                // call inside one leaves the stack as it found it).
                let base = self.stack.len();
                for a in args {
                    let v = self.eval(a)?;
                    self.stack.push(v);
                }
                self.call(*f, base)?
            }
            Ex::Builtin(b, args) => {
                // Arguments on the stack of this call, not in a new vector.
                let mut vals = [V::Unit, V::Unit, V::Unit];
                for (v, a) in vals.iter_mut().zip(args) {
                    *v = self.eval(a)?;
                }
                self.builtin(*b, &vals[..args.len()])?
            }
            Ex::Bin(op, a, b) => {
                let a = self.eval(a)?;
                match &**b {
                    // A constant is compared where it is, not copied.
                    Ex::Const(c) => {
                        self.tick()?;
                        binary(*op, &a, c)?
                    }
                    _ => {
                        let b = self.eval(b)?;
                        binary(*op, &a, &b)?
                    }
                }
            }
            Ex::Not(a) => V::Bool(!truth(&self.eval(a)?)?),
            Ex::Neg(a) => match self.eval(a)? {
                V::Int(i) => V::Int(i.checked_neg().ok_or(Flow::Bail)?),
                V::Float(f) => V::Float(-f),
                _ => return bail(),
            },
            Ex::And(items) => {
                for i in items {
                    if !truth(&self.eval(i)?)? {
                        return Ok(V::Bool(false));
                    }
                }
                V::Bool(true)
            }
            Ex::Or(items) => {
                for i in items {
                    if truth(&self.eval(i)?)? {
                        return Ok(V::Bool(true));
                    }
                }
                V::Bool(false)
            }
            Ex::Coalesce(items) => {
                let mut v = V::Unit;
                for i in items {
                    v = self.eval(i)?;
                    if !matches!(v, V::Unit) {
                        break;
                    }
                }
                v
            }
            Ex::Interp(parts, room) => {
                use std::fmt::Write;
                // Written in place: no growing, no string per part.
                let mut s = String::with_capacity((*room).min(MAX_STRING));
                for p in parts {
                    match self.eval(p)? {
                        V::Str(t) => s.push_str(&t),
                        V::Code(c) => s.push_str(c),
                        V::Int(i) => write!(s, "{i}").map_err(|_| Flow::Bail)?,
                        V::Date(d) => write!(s, "{d}").map_err(|_| Flow::Bail)?,
                        V::Bool(b) => s.push_str(if b { "true" } else { "false" }),
                        _ => return bail(),
                    }
                    if s.len() > MAX_STRING {
                        return bail();
                    }
                }
                V::Str(s.into())
            }
            Ex::Array(items) => V::Array(Arc::new(items.iter().map(|i| self.eval(i)).collect::<R<Vec<_>>>()?)),
            Ex::Map(items) => {
                // Values evaluated onto this call's stack first, so that
                // the map is one allocation of exactly its size.
                const SMALL: usize = 6;
                if items.len() <= SMALL {
                    let mut vals: [V; SMALL] = Default::default();
                    for (v, (_, e)) in vals.iter_mut().zip(items) {
                        *v = self.eval(e)?;
                    }
                    V::Map(items.iter().zip(vals).map(|((k, _), v)| (k.clone(), v)).collect())
                } else {
                    let m = items.iter().map(|(k, e)| Ok((k.clone(), self.eval(e)?))).collect::<R<Vec<_>>>()?;
                    V::Map(m.into())
                }
            }
            Ex::Block(stmts) => self.block(stmts)?,
            Ex::Push(slot, value) => {
                let v = self.eval(value)?;
                let V::Array(a) = self.slot(*slot) else { return bail() };
                if a.len() >= MAX_ARRAY {
                    return bail();
                }
                Arc::make_mut(a).push(v);
                V::Unit
            }
        })
    }

    fn builtin(&mut self, b: Builtin, args: &[V]) -> R<V> {
        Ok(match b {
            Builtin::Param => {
                let Some(name) = text_of(&args[0]) else { return bail() };
                match self.program.params.get(name) {
                    Some(v) => constant(v).map_err(|_| Flow::Bail)?,
                    None => return bail(),
                }
            }
            Builtin::WithinYears | Builtin::WithinMonths => {
                let (d, as_of, n) = (date(&args[0])?, date(&args[1])?, int(&args[2])?);
                let months = if b == Builtin::WithinYears { n.saturating_mul(12) } else { n };
                V::Bool(d <= as_of && d > add_months(as_of, months.checked_neg().ok_or(Flow::Bail)?)?)
            }
            Builtin::WithinDays => {
                let (d, as_of, n) = (date(&args[0])?, date(&args[1])?, int(&args[2])?);
                V::Bool(d <= as_of && (as_of - d).num_days() < n)
            }
            Builtin::AddDays => {
                let (d, n) = (date(&args[0])?, int(&args[1])?);
                let days = chrono::Duration::try_days(n).ok_or(Flow::Bail)?;
                V::Date(d.checked_add_signed(days).ok_or(Flow::Bail)?)
            }
            Builtin::AddMonths => V::Date(add_months(date(&args[0])?, int(&args[1])?)?),
            Builtin::AddYears => V::Date(add_months(date(&args[0])?, int(&args[1])?.saturating_mul(12))?),
            Builtin::DaysBetween => V::Int((date(&args[1])? - date(&args[0])?).num_days()),
            Builtin::IsDate => V::Bool(matches!(args[0], V::Date(_))),
            Builtin::Date => {
                let Some(s) = text_of(&args[0]) else { return bail() };
                V::Date(Date::parse_from_str(s, "%Y-%m-%d").map_err(|_| Flow::Bail)?)
            }
            Builtin::Len => match &args[0] {
                V::Array(a) => V::Int(a.len() as i64),
                V::Map(m) => V::Int(m.len() as i64),
                V::Str(_) | V::Code(_) => V::Int(text_of(&args[0]).unwrap_or_default().chars().count() as i64),
                _ => return bail(),
            },
            Builtin::IsEmpty => match &args[0] {
                V::Array(a) => V::Bool(a.is_empty()),
                V::Map(m) => V::Bool(m.is_empty()),
                V::Str(_) | V::Code(_) => V::Bool(text_of(&args[0]).unwrap_or_default().is_empty()),
                _ => return bail(),
            },
            Builtin::Contains => match (&args[0], &args[1]) {
                (V::Array(a), x) => {
                    let mut found = false;
                    for v in a.iter() {
                        self.tick()?;
                        if equal(v, x)? {
                            found = true;
                            break;
                        }
                    }
                    V::Bool(found)
                }
                (V::Map(m), k) => match text_of(k) {
                    Some(k) => V::Bool(m.iter().any(|(n, _)| n.as_str() == k)),
                    None => return bail(),
                },
                (s, t) => match (text_of(s), text_of(t)) {
                    (Some(s), Some(t)) => V::Bool(s.contains(t)),
                    _ => return bail(),
                },
            },
            Builtin::Keys => match &args[0] {
                V::Map(m) => V::Array(Arc::new(m.iter().map(|(k, _)| k.value()).collect())),
                _ => return bail(),
            },
            Builtin::StartsWith => match (text_of(&args[0]), text_of(&args[1])) {
                (Some(s), Some(t)) => V::Bool(s.starts_with(t)),
                _ => return bail(),
            },
            Builtin::Zh => match text_of(&args[0]) {
                Some(code) => V::Str(host::zh(code)),
                None => return bail(),
            },
        })
    }

    fn need(&mut self, f: Option<Field>) -> R<()> {
        if let Some(f) = f {
            if !self.reads.has(f) {
                return bail();
            }
            self.seen |= f.bit();
        }
        Ok(())
    }

    fn prop(&mut self, obj: &V, p: &Prop) -> R<V> {
        match obj {
            V::Entity => {
                let Some((g, field)) = p.entity else { return bail() };
                self.need(field)?;
                Ok(self.entity(g))
            }
            V::Record(i) => match p.record {
                Some(g) => Ok(self.record(*i as usize, g)),
                None => bail(),
            },
            V::Map(m) => lookup(m, &p.name),
            V::Date(d) => Ok(V::Int(i64::from(match p.name.as_str() {
                "year" => d.year(),
                "month" => d.month() as i32,
                "day" => d.day() as i32,
                _ => return bail(),
            }))),
            _ => bail(),
        }
    }

    fn entity(&self, g: EntityGet) -> V {
        let f = &**self.facts;
        let records = |current: bool| {
            V::Array(Arc::new(
                (0..f.records.len())
                    .filter(|&i| !current || f.records[i].is_current())
                    .map(|i| V::Record(i as u32))
                    .collect(),
            ))
        };
        // As Rhai's map of them: by department, the last one kept.
        let by_department = |items: &mut dyn Iterator<Item = (&String, V)>| {
            let mut m: Vec<(Key, V)> = Vec::with_capacity(f.industry_grades.len());
            for (d, v) in items {
                match m.binary_search_by(|(k, _)| k.as_str().cmp(d)) {
                    Ok(at) => m[at].1 = v,
                    Err(at) => m.insert(at, (Key::Text(d.as_str().into()), v)),
                }
            }
            V::Map(m.into())
        };
        match g {
            EntityGet::AsOf => V::Date(f.as_of),
            EntityGet::Uscc => V::Str(f.uscc.to_string().into()),
            EntityGet::EntityType => text(f.entity_type.as_str()),
            EntityGet::Status => text(f.status.as_str()),
            EntityGet::County => V::Int(i64::from(f.region)),
            EntityGet::City => V::Int(i64::from(f.city)),
            EntityGet::Industry => V::Str(f.industry.as_str().into()),
            EntityGet::IndustrySection => V::Str(f.industry.section().to_string().into()),
            EntityGet::RegisteredOn => V::Date(f.registered_on),
            EntityGet::KeyFields => {
                V::Array(Arc::new(f.key_fields.iter().map(|k| V::Str(k.as_str().into())).collect()))
            }
            EntityGet::IsKeyField => V::Bool(!f.key_fields.is_empty()),
            EntityGet::NewEconomy => text(f.new_economy.map_or("", |n| n.as_str())),
            EntityGet::CompositeGrade => V::Str(f.composite_grade.as_deref().unwrap_or_default().into()),
            EntityGet::IndustryGrades => {
                by_department(&mut f.industry_grades.iter().map(|(d, g)| (d, V::Str(g.as_str().into()))))
            }
            EntityGet::WorstIndustryGrade => {
                V::Str(f.industry_grades.iter().map(|(_, g)| g.as_str()).max().unwrap_or_default().into())
            }
            EntityGet::MarketRating => V::Str(f.market_rating.as_deref().unwrap_or_default().into()),
            EntityGet::CompositeGradeOn => opt_date(f.evaluation_dates.composite),
            EntityGet::MarketRatingOn => opt_date(f.evaluation_dates.market),
            EntityGet::IndustryGradeDates => by_department(
                &mut f.industry_grades.iter().zip(&f.evaluation_dates.industry).map(|((d, _), on)| (d, V::Date(*on))),
            ),
            EntityGet::Records => records(false),
            EntityGet::CurrentRecords => records(true),
            EntityGet::ToleranceYears => V::Int(f.stages.tolerance_years),
            EntityGet::ToleranceUntil => opt_date(f.stages.tolerance_until),
            EntityGet::InTolerance => V::Bool(f.in_tolerance()),
            EntityGet::Accumulation => text(f.stages.accumulation.unwrap_or(AccumulationLevel::None).as_str()),
            EntityGet::Tier => V::Int(i64::from(f.stages.tier.unwrap_or(0))),
            EntityGet::Blacklisted => V::Bool(f.stages.blacklisted),
            EntityGet::Propagated => V::Array(Arc::new(
                f.stages
                    .propagated
                    .iter()
                    .map(|p| {
                        V::Map(Arc::new([
                            (Key::Static("effect"), text(p.effect.as_str())),
                            (Key::Static("path"), V::Str(p.path.as_str().into())),
                            (Key::Static("source"), V::Str(p.source.to_string().into())),
                        ]))
                    })
                    .collect(),
            )),
        }
    }

    fn record(&self, i: usize, g: RecordGet) -> V {
        let r = &self.facts.records[i];
        match g {
            RecordGet::Kind => text(r.kind.as_str()),
            RecordGet::Id => V::Str(r.id.clone()),
            RecordGet::Date => V::Date(r.date),
            RecordGet::Department => V::Str(r.department.clone()),
            RecordGet::Severity => text(r.severity.map_or("", |s| s.as_str())),
            RecordGet::Intentional => V::Bool(r.intentional),
            RecordGet::Harmful => V::Bool(r.harmful),
            RecordGet::DisclosureUntil => opt_date(r.disclosure_until),
            RecordGet::FulfilledOn => opt_date(r.fulfilled_on),
            RecordGet::RemovedOn => opt_date(r.removed_on),
            RecordGet::Detail => V::Str(r.detail.clone()),
            RecordGet::RepairAppliedOn => opt_date(r.repair.as_ref().map(|x| x.applied_on)),
            RecordGet::RepairCommitment => {
                text(r.repair.as_ref().and_then(|x| x.commitment).map_or("", |c| c.as_str()))
            }
            RecordGet::Status => text(r.status.map_or("", |s| s.as_str())),
            RecordGet::Disputed => V::Bool(r.objection == Some(crate::model::objection::ObjectionStatus::Open)),
            RecordGet::Objection => text(r.objection.map_or("", |o| o.as_str())),
        }
    }
}

/// `obj[at]` for an array and an integer or a map and a string.
fn index(obj: &V, at: &V) -> R<V> {
    match (obj, at) {
        (V::Array(a), V::Int(i)) if *i >= 0 && (*i as usize) < a.len() => Ok(a[*i as usize].clone()),
        (V::Map(m), k @ (V::Str(_) | V::Code(_))) => lookup(m, text_of(k).unwrap_or_default()),
        _ => bail(),
    }
}

fn lookup(m: &[(Key, V)], k: &str) -> R<V> {
    match field(m, k) {
        Some(v) => Ok(v.clone()),
        None => bail(),
    }
}

/// Whether two Rhai values are the same value of the same type (what the
/// probe check and the tests compare; Rhai's own `==` differs by type).
pub fn same(a: &Dynamic, b: &Dynamic) -> bool {
    if a.type_id() != b.type_id() {
        return false;
    }
    if a.is_unit() {
        return true;
    }
    if let (Ok(x), Ok(y)) = (a.as_bool(), b.as_bool()) {
        return x == y;
    }
    if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
        return x == y;
    }
    if let (Ok(x), Ok(y)) = (a.as_float(), b.as_float()) {
        return x.to_bits() == y.to_bits();
    }
    if a.is_string() {
        return a.clone().into_immutable_string().ok() == b.clone().into_immutable_string().ok();
    }
    if let (Some(x), Some(y)) = (a.clone().try_cast::<RuleDate>(), b.clone().try_cast::<RuleDate>()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.clone().try_cast::<RecordView>(), b.clone().try_cast::<RecordView>()) {
        return x.index() == y.index();
    }
    if a.is_array() {
        let (x, y) = (a.clone().into_array().unwrap_or_default(), b.clone().into_array().unwrap_or_default());
        return x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| same(p, q));
    }
    if a.is_map() {
        let (x, y) = (a.clone().cast::<Map>(), b.clone().cast::<Map>());
        return x.len() == y.len() && x.iter().zip(&y).all(|((k, p), (l, q))| k == l && same(p, q));
    }
    false
}

#[cfg(test)]
mod tests {
    //! The fast path against Rhai: every getter, the default rules, and
    //! generated rules over the probe entities.
    use super::super::probe::probes;
    use super::super::{EntityView, RuleSet, RuleSource, Stage};
    use super::*;
    use proptest::prelude::*;

    fn params() -> Arc<Map> {
        let mut m = Map::new();
        m.insert("n".into(), Dynamic::from(2_i64));
        m.insert("grades".into(), Dynamic::from_array(vec!["C".into(), "D".into()]));
        let mut t = Map::new();
        t.insert("minor".into(), Dynamic::from(0_i64));
        t.insert("general".into(), Dynamic::from(3_i64));
        t.insert("serious".into(), Dynamic::from(12_i64));
        m.insert("months".into(), Dynamic::from_map(t));
        m.insert("factor".into(), Dynamic::from(0.5_f64));
        Arc::new(m)
    }

    /// Probe entities with every kind of fact an earlier stage leaves.
    fn entities() -> Vec<Arc<EntityFacts>> {
        let mut out: Vec<EntityFacts> = probes();
        let mut more = out.clone();
        for (i, f) in more.iter_mut().enumerate() {
            f.stages.tier = Some((i % 4) as u8 + 1);
            f.stages.tolerance_years = i as i64 % 3;
            f.stages.tolerance_until = f.as_of.checked_add_days(chrono::Days::new(30 * i as u64));
            f.stages.accumulation = Some([AccumulationLevel::Reminder, AccumulationLevel::KeyAttention][i % 2]);
            f.stages.blacklisted = i % 2 == 0;
            f.stages.propagated.push(crate::engine::PropagatedFlag {
                effect: crate::model::LinkEffect::KeyAttention,
                source: f.uscc,
                path: format!("p{i}"),
            });
            for (j, r) in f.records.iter_mut().enumerate() {
                r.status = Some(crate::model::RecordStatus::ALL[(i + j) % crate::model::RecordStatus::ALL.len()]);
            }
        }
        out.extend(more);
        out.into_iter().map(Arc::new).collect()
    }

    fn all_fields() -> FieldMask {
        FieldMask(Field::ALL.iter().fold(0, |m, (f, _)| m | f.bit()))
    }

    /// Rhai's answer and the fields it read, or `None` on an error.
    fn rhai(engine: &Engine, ast: &rhai::AST, f: &Arc<EntityFacts>, reads: FieldMask) -> Option<(Dynamic, FieldMask)> {
        let view = EntityView::new(f.clone(), reads, "test");
        let seen = view.seen.clone();
        let v: Dynamic = engine.call_fn(&mut Scope::new(), ast, "f", (Dynamic::from(view),)).ok()?;
        Some((v, FieldMask(seen.load(std::sync::atomic::Ordering::Relaxed))))
    }

    /// Compiles `text` both ways and compares them on every entity; the
    /// fast path must answer exactly when Rhai does. Returns how many
    /// calls both answered.
    fn compare(text: &str, reads: FieldMask) -> Result<usize, String> {
        let engine = host::new_engine(params());
        let ast = engine.compile(text).map_err(|e| format!("{e}: {text}"))?;
        let program = Program::compile(&engine, text, &ast, "f", params()).map_err(|u| format!("{u:?}: {text}"))?;
        let mut answered = 0;
        for f in entities() {
            let fast = program.call(&f, reads).ok();
            let slow = rhai(&engine, &ast, &f, reads);
            match (&fast, &slow) {
                (Some((a, m)), Some((b, n))) if same(a, b) && m == n => answered += 1,
                (None, None) => {}
                _ => return Err(format!("{text}\nfast: {fast:?}\nrhai: {slow:?}")),
            }
        }
        Ok(answered)
    }

    /// The rules' string constants and map keys come out of a call held
    /// without a reference count (nothing the threads share is counted),
    /// and read as Rhai reads them: compared, looked up, listed by
    /// `keys()`, joined, and a parameter's map indexed where it is.
    #[test]
    fn constants_are_static_and_answer_as_rhai() {
        let text = r#"fn f(e) {
            let m = #{ status: "counted", reason: #{ zh: "在公示期内", en: "within" } };
            let k = m.keys();
            let s = if m.status == "counted" { m.reason.en + "!" } else { "no" };
            let g = "general";
            [m, k, s, param("months")[g], param("months").serious, "counted" in k, e.status == "active"]
        }"#;
        assert_eq!(compare(text, all_fields()), Ok(entities().len()));
        let engine = host::new_engine(params());
        let ast = engine.compile(text).expect("compiles");
        let program = Program::compile(&engine, text, &ast, "f", params()).expect("in the subset");
        let (v, _) = program.call_value(&entities()[0], all_fields()).expect("answers");
        let V::Array(items) = &v else { panic!("an array: {v:?}") };
        let V::Map(m) = &items[0] else { panic!("a map: {:?}", items[0]) };
        assert!(m.iter().all(|(k, _)| matches!(k, Key::Static(_))), "literal keys are static: {m:?}");
        assert!(matches!(field(m, "status"), Some(V::Code("counted"))), "{m:?}");
        let Some(V::Map(reason)) = field(m, "reason") else { panic!("{m:?}") };
        assert!(matches!(field(reason, "zh"), Some(V::Code("在公示期内"))), "{reason:?}");
        let V::Array(keys) = &items[1] else { panic!("{:?}", items[1]) };
        assert!(keys.iter().all(|k| matches!(k, V::Code(_))), "{keys:?}");
        // Built at run time: counted, as before.
        assert!(matches!(&items[2], V::Str(s) if s.as_str() == "within!"), "{:?}", items[2]);
        assert!(matches!(items[3], V::Int(3)) && matches!(items[4], V::Int(12)), "{items:?}");
        // The same text twice is kept once.
        let (a, b) = (static_text("counted").expect("room"), static_text("counted").expect("room"));
        assert_eq!(a.as_ptr(), b.as_ptr());
    }

    #[test]
    fn every_getter_answers_as_rhai_and_marks_what_it_reads() {
        for (name, _, field) in EntityGet::ALL {
            let text = format!("fn f(e) {{ e.{name} }}");
            assert_eq!(compare(&text, all_fields()), Ok(entities().len()), "{name}");
            if let Some(field) = field {
                // A field the entry does not declare: Rhai's error, not an answer.
                let without = FieldMask(all_fields().0 & !field.bit());
                assert_eq!(compare(&text, without), Ok(0), "{name}");
            }
        }
        for (name, _) in RecordGet::ALL {
            let text = format!("fn f(e) {{ let out = []; for r in e.records {{ out.push(r.{name}); }} out }}");
            assert_eq!(compare(&text, all_fields()), Ok(entities().len()), "{name}");
        }
        let text = "fn f(e) { let d = e.as_of; [d.year, d.month, d.day, e.industry_grades.keys(), e.records] }";
        assert_eq!(compare(text, all_fields()), Ok(entities().len()));
    }

    /// `zh(code)` names a code in Chinese as Rhai's `zh` does, gives any
    /// other text back, and leaves a value that is not text to Rhai's error.
    #[test]
    fn zh_names_codes_as_rhai_does() {
        let text = r#"fn f(e) { [zh(e.status), zh(e.new_economy), zh("director"), zh("no such code"), zh("")] }"#;
        assert_eq!(compare(text, all_fields()), Ok(entities().len()));
        assert_eq!(compare("fn f(e) { zh(e.tier) }", all_fields()), Ok(0));
        let engine = host::new_engine(params());
        let named: rhai::Array = engine.eval(r#"[zh("deregistered"), zh("legal_representative"), zh("X1")]"#).unwrap();
        let named: Vec<String> = named.into_iter().map(|v| v.into_string().unwrap()).collect();
        assert_eq!(named, ["注销", "法定代表人", "X1"]);
    }

    /// The record getters here are `RecordPart::GETTERS` (which `reads`
    /// keys stages on and `host` registers), one value each.
    #[test]
    fn the_record_getters_are_those_the_keys_know() {
        let here: Vec<&str> = RecordGet::ALL.iter().map(|(n, _)| *n).collect();
        let keys: Vec<&str> = super::super::facts::RecordPart::GETTERS.iter().map(|(n, _)| *n).collect();
        assert_eq!(here, keys);
    }

    #[test]
    fn every_per_entity_entry_of_the_default_rules_runs_in_the_fast_path() {
        let rules = RuleSet::compile(&RuleSource::default_rules()).unwrap();
        let stages: Vec<Stage> = rules.native_stages().iter().map(|(s, ..)| *s).collect();
        let expected: Vec<Stage> = Stage::ALL.iter().copied().filter(|s| s.per_entity() && rules.has(*s)).collect();
        assert_eq!(stages, expected);
        // The probe check ran every one of them without a hand-over.
        for (stage, calls, bails) in rules.native_stages() {
            assert!(calls > 0 && bails == 0, "{stage:?}: {calls} calls, {bails} handed to Rhai");
        }
    }

    #[test]
    fn what_the_subset_leaves_out_is_refused_or_handed_to_rhai() {
        let engine = host::new_engine(params());
        for text in [
            "fn f(e) { switch e.tier { 1 => 2, _ => 3 } }",
            "fn f(e) { let g = |x| x + 1; g.call(2) }",
            "fn f(e) { try { e.tier / 0 } catch (x) { 2 } }",
            "fn f(e) { e.tier.to_float() }",
            "fn len(x) { 1 } fn f(e) { len(e.records) }",
            // Through the functions the entry calls.
            "fn h(e) { switch e.tier { 1 => 2, _ => 3 } } fn g(e) { h(e) } fn f(e) { g(e) + 1 }",
        ] {
            let ast = engine.compile(text).unwrap();
            assert!(Program::compile(&engine, text, &ast, "f", params()).is_err(), "{text}");
        }
        // A function the entry never reaches does not matter.
        let text = "fn h(e) { switch e.tier { 1 => 2, _ => 3 } } fn g(e) { e.tier * 2 } fn f(e) { g(e) + 1 }";
        assert_eq!(compare(text, all_fields()), Ok(entities().len()));
        // Rhai's errors (and what the subset does not show, such as an
        // entity as text) stay Rhai's: none of these answers in the fast path.
        for text in [
            "fn f(e) { let a = []; a[3] }",
            "fn f(e) { let n = 0; loop { n += 1; } }",
            "fn g(n) { g(n + 1) } fn f(e) { g(0) }",
            "fn f(e) { 9223372036854775807 + e.tier + 1 }",
            "fn f(e) { e.tier / 0 }",
            "fn f(e) { let m = #{ a: e.tier }; m.b }",
            "fn f(e) { param(e.status) }",
            "fn f(e) { if e.tier { 1 } }",
            "fn f(e) { e.records[0] == e.records[0] }",
            "fn f(e) { `${e}` }",
        ] {
            let ast = engine.compile(text).unwrap();
            let program = Program::compile(&engine, text, &ast, "f", params()).unwrap();
            for f in entities() {
                assert_eq!(program.call(&f, all_fields()).err(), Some(Bail), "{text}");
            }
        }
        // More operations than the fast path allows (fewer than Rhai's
        // limit): handed to Rhai, which answers.
        let text = "fn f(e) { let n = 0; for i in 0..60000 { n += i; } n }";
        let ast = engine.compile(text).unwrap();
        let program = Program::compile(&engine, text, &ast, "f", params()).unwrap();
        for f in entities() {
            assert_eq!(program.call(&f, all_fields()).err(), Some(Bail));
            assert!(rhai(&engine, &ast, &f, all_fields()).is_some());
        }
        assert_eq!(
            compare("fn f(e) { let n = 0; for i in 0..6000 { n += i; } n }", all_fields()),
            Ok(entities().len())
        );
    }

    /// A generated rule: integer, text and boolean expressions over the
    /// entity, its records and parameters, with the subset's statements.
    struct Gen {
        seed: u64,
        /// Whether `k` and `s` are defined where the expression goes.
        k: bool,
        s: bool,
    }

    impl Gen {
        fn pick(&mut self, n: usize) -> usize {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            (self.seed % n as u64) as usize
        }

        fn int(&mut self, depth: u32, r: bool) -> String {
            let leaves: &[&str] = if r {
                &["r.date.month", "r.date.day", "i"]
            } else {
                &["e.tier", "e.records.len()", "e.current_records.len()", "param(\"n\")", "e.tolerance_years", "k"]
            };
            // `k` (and `s` below) only where they are defined.
            let leaves = if r || self.k { leaves } else { &leaves[..leaves.len() - 1] };
            if depth == 0 || self.pick(3) == 0 {
                return match self.pick(3) {
                    0 => format!("{}", self.pick(12) as i64 - 3),
                    _ => leaves[self.pick(leaves.len())].to_string(),
                };
            }
            let op = ["+", "-", "*", "/", "%"][self.pick(5)];
            match self.pick(4) {
                0 => format!("(if {} {{ {} }} else {{ {} }})", self.bool(depth - 1, r), self.int(0, r), self.int(0, r)),
                1 => format!("-({})", self.int(depth - 1, r)),
                _ => format!("({} {op} {})", self.int(depth - 1, r), self.int(depth - 1, r)),
            }
        }

        fn text(&mut self, depth: u32, r: bool) -> String {
            let leaves: &[&str] = if r {
                &["r.kind", "r.severity", "r.status", "r.objection", "r.repair_commitment", "r.id"]
            } else {
                &["e.status", "e.composite_grade", "e.market_rating", "e.new_economy", "e.accumulation", "s"]
            };
            let leaves = if r || self.s { leaves } else { &leaves[..leaves.len() - 1] };
            if depth == 0 || self.pick(3) == 0 {
                return match self.pick(4) {
                    0 => ["\"penalty\"", "\"C\"", "\"\"", "\"counted\""][self.pick(4)].to_string(),
                    _ => leaves[self.pick(leaves.len())].to_string(),
                };
            }
            match self.pick(3) {
                0 => format!("`{}: ${{{}}} ${{{}}}`", self.pick(9), self.int(depth - 1, r), self.text(depth - 1, r)),
                1 => format!("({} + {})", self.text(depth - 1, r), self.text(depth - 1, r)),
                _ => {
                    format!("(if {} {{ {} }} else {{ {} }})", self.bool(depth - 1, r), self.text(0, r), self.text(0, r))
                }
            }
        }

        fn bool(&mut self, depth: u32, r: bool) -> String {
            if depth == 0 {
                return ["true", "false", "e.in_tolerance", "e.blacklisted"][self.pick(4)].to_string();
            }
            let cmp = ["==", "!=", "<", "<=", ">", ">="][self.pick(6)];
            let dates: &[&str] = if r {
                &["r.date", "r.disclosure_until", "r.fulfilled_on", "r.removed_on", "r.repair_applied_on", "e.as_of"]
            } else {
                &["e.as_of", "e.composite_grade_on", "e.market_rating_on", "e.tolerance_until", "()"]
            };
            match self.pick(9) {
                0 => format!("({} {cmp} {})", self.int(depth - 1, r), self.int(depth - 1, r)),
                1 => format!("({} {cmp} {})", self.text(depth - 1, r), self.text(depth - 1, r)),
                2 => format!("({} {cmp} {})", dates[self.pick(dates.len())], dates[self.pick(dates.len())]),
                3 => format!("({} && {})", self.bool(depth - 1, r), self.bool(depth - 1, r)),
                4 => format!("({} || {})", self.bool(depth - 1, r), self.bool(depth - 1, r)),
                5 => format!("!{}", self.bool(depth - 1, r)),
                6 => format!("param(\"grades\").contains({})", self.text(depth - 1, r)),
                7 if r => format!("within_years(r.date, e.as_of, {})", self.pick(4)),
                7 => format!("is_date({})", dates[self.pick(dates.len())]),
                _ => format!("({} {cmp} {})", self.text(0, r), self.int(0, r)),
            }
        }

        fn rule(&mut self) -> String {
            // `k` and `s` are not yet defined in their own definitions;
            // `g` has a `k` of its own and no `s`.
            (self.k, self.s) = (false, false);
            let (a, b) = (self.int(3, false), self.text(2, false));
            self.k = true;
            let (c, x0) = (self.bool(3, false), self.int(1, false));
            self.s = true;
            let (keep, note) = (self.bool(3, true), self.text(2, true));
            let (x, y) = (self.int(2, true), self.bool(2, false));
            format!(
                "fn g(e, k) {{ if {c} {{ return k + 1; }} {x0} }}\n\
                 fn f(e) {{\n  let k = {a};\n  let s = {b};\n  let out = [];\n  let i = 0;\n  \
                 for r in e.records {{\n    i += 1;\n    if {keep} {{ out.push({note}); }} else if {y} {{ continue; }}\n    \
                 if i > 3 {{ break; }}\n    k += {x};\n  }}\n  \
                 if {c} {{ #{{ k: k, s: s, out: out, g: g(e, k) }} }} else {{ [k, s, out.len(), {c}] }}\n}}",
            )
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
        #[test]
        fn generated_rules_answer_as_rhai_does(seed in 1u64..u64::MAX) {
            let text = Gen { seed, k: true, s: true }.rule();
            let answered = compare(&text, all_fields());
            prop_assert!(answered.is_ok(), "{}", answered.unwrap_err());
        }
    }

    #[test]
    fn most_generated_rules_are_answered_in_the_fast_path() {
        let (mut answered, mut total) = (0, 0);
        for seed in 1..200u64 {
            answered += compare(&Gen { seed: seed * 7919, k: true, s: true }.rule(), all_fields()).unwrap();
            total += entities().len();
        }
        assert!(answered * 2 > total, "{answered} of {total}");
    }
}
