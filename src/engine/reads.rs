//! Which parts of a record a stage's rule can read, so the stage's key
//! (`EntityFacts::key`) holds only those and entities whose records differ
//! in nothing the rule sees share one evaluation.
//!
//! Why this is sound. A record reaches a script only as a `Record` value
//! (`host::RecordView`), and the only functions credo registers on it are
//! its property getters (`host::register_record`; [`RecordPart::GETTERS`]
//! lists them all and a test checks the list against `host`). So a script
//! learns a record's field only by calling its getter, and:
//! - a getter is called through property syntax `r.name` (or `r?.name`,
//!   `this.name`), which names it literally in the function's text;
//!   `get$name(r)` does not parse (`$` is no identifier character) and
//!   `Fn("get$name")` is refused (not a valid function name);
//! - a record has no indexer, `r["name"]` fails (a test checks it), and
//!   Rhai never turns an index into a getter call;
//! - everything that takes a whole value (`to_string`, `to_debug`, `print`,
//!   `debug`, interpolation `${r}`, `type_of`, `==`, JSON of a map holding
//!   it) shows the type name `Record` and nothing of its fields: the type
//!   has no `Debug`, `Display` or serde of its own and none is registered
//!   (a test checks it); `==` between records is not registered;
//! - a script's functions live in its file (there is no module resolver
//!   and `eval` is off), so a stage can only call functions of its file.
//!
//! The derivation is conservative: it takes the text of the entry
//! function's body and of every function of the file it can reach (any
//! identifier or string in a reached body naming a function of the file;
//! any `Fn`, `call` or `curry` reaches all of them and the whole file), and
//! counts a part as read when any word of that text (identifier, string
//! content, comment) is the name of one of its getters. A closure is read
//! with the function whose text holds it. When in doubt
//! (a position Rhai does not give) every part counts.
//!
//! The record's id is also read by the engine itself for every stage but
//! `record_status`: `inputs` in an answer must name records of the entity.
//! `record_status` answers name no ids; the engine writes each entity's
//! own ids into its decision (`Answer::RecordStatus`), so its key leaves
//! the id out when the rule does not read it.

use rhai::AST;
use rustc_hash::FxHashSet;

use super::facts::{RecordPart, RecordParts};
use super::manifest::Stage;

/// Words that make a function's calls dynamic: every function is then
/// reachable.
const DYNAMIC: &[&str] = &["Fn", "call", "curry"];

/// Words of a text: maximal runs of ASCII letters, digits and `_`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty())
}

/// Byte offset of a Rhai position (1-based line and character column).
fn offset(text: &str, pos: rhai::Position) -> Option<usize> {
    let (line, col) = (pos.line()?, pos.position()?);
    let mut start = 0usize;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    text[start..].char_indices().nth(col - 1).map(|(i, _)| start + i)
}

/// The text of a function's body, `{` to `}`, or `None` if Rhai's
/// positions do not point at its braces.
pub(super) fn body<'a>(text: &'a str, def: &rhai::ScriptFuncDef) -> Option<&'a str> {
    let start = offset(text, def.body.start_position())?;
    let end = offset(text, def.body.end_position())?;
    let body = text.get(start..=end)?;
    (body.starts_with('{') && body.ends_with('}')).then_some(body)
}

/// The record parts the stage's entry `function` (of the script `text`
/// compiled to `ast`) can read; see the module comment.
pub(super) fn record_parts(text: &str, ast: &AST, function: &str, stage: Stage) -> RecordParts {
    let mut parts = read_by_script(text, ast, function);
    if stage != Stage::RecordStatus {
        parts = parts.with(RecordPart::Id);
    }
    parts
}

fn read_by_script(text: &str, ast: &AST, function: &str) -> RecordParts {
    let mut fns: Vec<(&str, FxHashSet<&str>)> = Vec::new();
    for (_, _, name, _, def) in ast.shared_lib().iter_script_fn_info() {
        // A closure's text lies inside the function that makes it, and it
        // runs only once that function has run: it is read with it.
        if name.starts_with("anon$") {
            continue;
        }
        let Some(body) = body(text, def) else { return RecordParts::ALL };
        fns.push((name, words(body).collect()));
    }
    let mut reached: Vec<bool> = fns.iter().map(|(name, _)| *name == function).collect();
    if !reached.iter().any(|r| *r) {
        return RecordParts::ALL;
    }
    loop {
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        for (i, (_, w)) in fns.iter().enumerate() {
            if reached[i] {
                seen.extend(w.iter().copied());
            }
        }
        if DYNAMIC.iter().any(|d| seen.contains(d)) {
            return parts_named(&words(text).collect());
        }
        let mut grew = false;
        for (i, (name, _)) in fns.iter().enumerate() {
            if !reached[i] && seen.contains(name) {
                reached[i] = true;
                grew = true;
            }
        }
        if !grew {
            return parts_named(&seen);
        }
    }
}

fn parts_named(words: &FxHashSet<&str>) -> RecordParts {
    let mut parts = RecordParts::NONE;
    for (name, part) in RecordPart::GETTERS {
        if words.contains(name) {
            parts = parts.with(*part);
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{RuleSet, RuleSource};

    fn compile(text: &str) -> AST {
        let engine = super::super::host::new_engine(Default::default());
        engine.compile(text).unwrap()
    }

    fn parts(text: &str, function: &str) -> Vec<&'static str> {
        read_by_script(text, &compile(text), function).names()
    }

    #[test]
    fn the_default_record_status_rule_does_not_read_ids_or_departments() {
        let rules = RuleSet::compile(&RuleSource::default_rules()).unwrap();
        let status = rules.entries[&Stage::RecordStatus].record_parts;
        assert!(!status.has(RecordPart::Id) && !status.has(RecordPart::Department));
        for p in
            [RecordPart::Kind, RecordPart::Date, RecordPart::Objection, RecordPart::Detail, RecordPart::Intentional]
        {
            assert!(status.has(p), "{p:?}");
        }
        // Later stages name their records in `inputs`.
        let tier = rules.entries[&Stage::Tier].record_parts;
        assert!(tier.has(RecordPart::Id) && tier.has(RecordPart::Status) && !tier.has(RecordPart::Department));
    }

    #[test]
    fn a_read_anywhere_the_entry_can_reach_counts() {
        let direct = "fn f(e) { let x = []; for r in e.records { x.push(r.kind); } x }";
        assert_eq!(parts(direct, "f"), ["kind"]);
        let id = "fn f(e) { for r in e.records { if r.id == \"\" { return 1; } } 0 }";
        assert_eq!(parts(id, "f"), ["id"]);
        // Through a helper, a method-style call, `this`, optional chaining, interpolation.
        let helper = "fn g(r) { r.department } fn f(e) { g(e.records[0]) }";
        assert_eq!(parts(helper, "f"), ["department"]);
        let method = "fn h() { this.detail } fn f(e) { e.records[0].h() }";
        assert_eq!(parts(method, "f"), ["detail"]);
        let optional = "fn f(e) { e.records[0]?.severity }";
        assert_eq!(parts(optional, "f"), ["severity"]);
        let interpolated = "fn f(e) { `${e.records[0].removed_on}` }";
        assert_eq!(parts(interpolated, "f"), ["removed_on"]);
        // A function named in a string (`Fn("g")`) is reached.
        let named = "fn g(r) { r.id } fn f(e) { let p = \"g\"; p }";
        assert_eq!(parts(named, "f"), ["id"]);
        // Dynamic calls reach the whole file, even text outside functions.
        let dynamic = "const N = \"id\"; fn g(r) { r.harmful } fn f(e) { call(Fn(\"g\"), e.records[0]) }";
        assert_eq!(parts(dynamic, "f"), ["id", "harmful"]);
        // A closure's body is inside its function's text.
        let closure = "fn f(e) { e.records.map(|r| r.id) }";
        assert_eq!(parts(closure, "f"), ["id"]);
        // Getter names anywhere in the text count, even in strings.
        let string = "fn f(e) { \"id\" }";
        assert_eq!(parts(string, "f"), ["id"]);
        // Functions the entry cannot reach do not.
        let unreached = "fn g(r) { r.id } fn f(e) { e.records.len() }";
        assert!(parts(unreached, "f").is_empty());
        // Multi-byte text before a body does not shift it.
        let wide = "// 记录\nfn g(r) { r.id }\nfn f(e) { let s = \"提醒约谈\"; e.records[0].kind }";
        assert_eq!(parts(wide, "f"), ["kind"]);
    }

    #[test]
    fn every_record_getter_is_in_the_table() {
        let host = include_str!("host.rs");
        let start = host.find("fn register_record(").unwrap();
        let end = start + host[start..].find("\n}\n").unwrap();
        let mut registered: Vec<&str> =
            host[start..end].split("register_get(\"").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
        registered.sort_unstable();
        let mut table: Vec<&str> = RecordPart::GETTERS.iter().map(|(n, _)| *n).collect();
        table.sort_unstable();
        assert_eq!(registered, table);
        assert!(!host[start..end].contains("register_fn"), "only getters may take a record");
        assert!(!host[start..end].contains("register_indexer"), "a record has no indexer");
    }
}
