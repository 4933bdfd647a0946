//! What a rule returned, checked and decoded into a typed answer: every
//! stage's map shape, the closed vocabularies (statuses, levels, risks),
//! reasons in both languages and the records an answer names. A rule's
//! answer never reaches the rest of credo as an unchecked Rhai value.

use std::sync::Arc;

use rhai::{Dynamic, Map};

use super::host::RuleDate;
use super::interned::{Note, NoteRef};
use super::native::{self, V};
use super::{
    BlacklistStatus, CompiledEntry, Decision, DecisionRef, EntityFacts, EntityState, RuleError, RuleSet, Stage,
    Supervision,
};
use crate::model::{AccumulationLevel, Date, RecordStatus, RiskLevel};

/// What is wrong with the map a rule returned (the caller's `RuleError`
/// adds the file, line, rule and entity).
#[derive(Debug, thiserror::Error)]
pub(super) enum AnswerError {
    #[error("the map has no `{0}`")]
    Missing(String),
    #[error("`{key}` must be {expected}, found {found}")]
    WrongType { key: String, expected: &'static str, found: String },
    #[error("unknown key(s) {unknown} in the returned map (known: {known})")]
    UnknownKeys { unknown: String, known: String },
    #[error("`{key}` has an unknown language `{lang}`; expected #{{ zh: \"…\", en: \"…\" }}")]
    UnknownLanguage { key: String, lang: String },
    #[error("`{key}` {inner}")]
    Code { key: String, inner: crate::model::UnknownCode },
    #[error("`{key}`: {inner}")]
    In { key: String, inner: Box<AnswerError> },
}

pub(super) fn wrong_type(key: &str, expected: &'static str, found: impl std::fmt::Display) -> AnswerError {
    AnswerError::WrongType { key: key.to_string(), expected, found: found.to_string() }
}

/// Refuses keys a stage does not read: a misspelt `probabilty` must not
/// be silently ignored.
pub(super) fn known_keys(map: &Map, allowed: &[&str]) -> Result<(), AnswerError> {
    if map.keys().all(|k| allowed.contains(&k.as_str())) {
        return Ok(());
    }
    let mut unknown: Vec<&str> = map.keys().map(|k| k.as_str()).filter(|k| !allowed.contains(k)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    Err(AnswerError::UnknownKeys { unknown: unknown.join(", "), known: allowed.join(", ") })
}

/// A rule's reason: a text, or `#{ zh: "…", en: "…" }` (both required).
/// Returns the English (or only) form and the Chinese one.
pub(super) fn get_reason(map: &Map, key: &str) -> Result<(String, Option<String>), AnswerError> {
    reason_with(
        map,
        key,
        |v| (v.clone().into_string().unwrap_or_default(), None),
        |m| {
            let zh = get_string(m, "zh")?;
            let en = get_string(m, "en")?;
            Ok((en, Some(zh)))
        },
    )
}

/// Checks a reason as [`get_reason`] does, with the same errors, without
/// copying its text (a reason that is not kept).
pub(super) fn check_reason(map: &Map, key: &str) -> Result<(), AnswerError> {
    reason_with(
        map,
        key,
        |_| (),
        |m| {
            check_string(m, "zh")?;
            check_string(m, "en")
        },
    )
}

/// The shape of a reason, checked once for [`get_reason`] and
/// [`check_reason`]: `text` reads a plain string, `both` a
/// `#{ zh, en }` map (borrowed, not cloned) whose keys were checked.
fn reason_with<T>(
    map: &Map,
    key: &str,
    text: impl FnOnce(&Dynamic) -> T,
    both: impl FnOnce(&Map) -> Result<T, AnswerError>,
) -> Result<T, AnswerError> {
    match map.get(key) {
        None => Err(AnswerError::Missing(key.to_string())),
        Some(v) if v.is_string() => Ok(text(v)),
        Some(v) => {
            let Ok(m) = v.as_map_ref() else {
                return Err(wrong_type(key, "a string or #{ zh: \"…\", en: \"…\" }", v.type_name()));
            };
            for k in m.keys() {
                if k != "zh" && k != "en" {
                    return Err(AnswerError::UnknownLanguage { key: key.to_string(), lang: k.to_string() });
                }
            }
            both(&m).map_err(|e| AnswerError::In { key: key.to_string(), inner: Box::new(e) })
        }
    }
}

/// Checks a string as [`get_string`] does, without copying it.
fn check_string(map: &Map, key: &str) -> Result<(), AnswerError> {
    match map.get(key) {
        None => Err(AnswerError::Missing(key.to_string())),
        Some(v) if v.is_string() => Ok(()),
        Some(v) => v.clone().into_string().map(|_| ()).map_err(|t| wrong_type(key, "a string", t)),
    }
}

/// A notable record status (`RecordStatus::is_notable`) and the rule's
/// reason for it, by the record's position.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct StatusNote {
    index: usize,
    note: NoteRef,
}

impl StatusNote {
    fn new(index: usize, status: RecordStatus, reason: String, zh: Option<String>) -> StatusNote {
        StatusNote { index, note: NoteRef::new(Note::new(status, reason, zh)) }
    }
}

/// A stage's answer for one distinct input.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Answer {
    Tolerance {
        years: i64,
    },
    /// Statuses by record position. Names no record: the key of a
    /// `record_status` stage leaves out record ids its rule does not read
    /// (`engine::reads`), so one answer serves entities whose records
    /// differ in their ids, each getting its own decision.
    RecordStatus {
        statuses: Vec<RecordStatus>,
        notes: Arc<[StatusNote]>,
    },
    Accumulation {
        level: AccumulationLevel,
    },
    Tier {
        tier: u8,
    },
    Blacklist {
        listed: bool,
        until: Option<Date>,
    },
    Supervision {
        risk: RiskLevel,
        probability_ppm: u32,
    },
}

impl RuleSet {
    pub(super) fn decode(
        &self,
        e: &CompiledEntry,
        f: &EntityFacts,
        value: Dynamic,
    ) -> Result<(Answer, Decision), RuleError> {
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
        let type_name = value.type_name();
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
            for (i, item) in list.into_iter().enumerate() {
                let map = item
                    .try_cast::<Map>()
                    .ok_or_else(|| bad(format!("status {i} is not a map; expected {expected}")))?;
                known_keys(&map, &["status", "reason"]).map_err(|m| bad(format!("status {i}: {m}")))?;
                let status: RecordStatus = get_code(&map, "status").map_err(|m| bad(format!("status {i}: {m}")))?;
                // Only notable statuses keep their reason.
                if status.is_notable() {
                    let (reason, zh) = get_reason(&map, "reason").map_err(|m| bad(format!("status {i}: {m}")))?;
                    notes.push(StatusNote::new(i, status, reason, zh));
                } else {
                    check_reason(&map, "reason").map_err(|m| bad(format!("status {i}: {m}")))?;
                }
                statuses.push(status);
            }
            return Ok(record_status_answer(e, statuses, notes));
        }
        let Some(map) = value.try_cast::<Map>() else {
            return Err(bad(format!("`{}` returned {type_name}; expected {expected}", e.entry.function)));
        };
        let allowed = answer_keys(stage);
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
                let level = get_code(&map, "level").map_err(|m| bad(format!("{m}; expected {expected}")))?;
                Answer::Accumulation { level }
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
                let risk: RiskLevel = get_code(&map, "risk").map_err(|m| bad(format!("{m}; expected {expected}")))?;
                let p = match map.get("probability") {
                    Some(v) if v.is_float() => v.as_float().unwrap_or(f64::NAN),
                    Some(v) if v.is_int() => v.as_int().unwrap_or(-1) as f64,
                    _ => return Err(bad(format!("`probability` must be a number; expected {expected}"))),
                };
                if !(0.0..=1.0).contains(&p) {
                    return Err(bad(format!("`probability` must be between 0 and 1, found {p}")));
                }
                Answer::Supervision { risk, probability_ppm: (p * 1_000_000.0).round() as u32 }
            }
            Stage::RecordStatus | Stage::PersonLink | Stage::EntityLink => unreachable!(),
        };
        Ok((answer, Decision { stage, rule: e.rule.clone(), clause, reason, reason_zh, inputs }))
    }
}

/// The keys a stage's answer map may have.
fn answer_keys(stage: Stage) -> &'static [&'static str] {
    match stage {
        Stage::Tolerance => &["years", "reason", "clause", "inputs"],
        Stage::Accumulation => &["level", "reason", "clause", "inputs"],
        Stage::Tier => &["tier", "reason", "clause", "inputs"],
        Stage::Blacklist => &["listed", "ends_on", "reason", "clause", "inputs"],
        Stage::Supervision => &["risk", "probability", "reason", "clause", "inputs"],
        Stage::RecordStatus | Stage::PersonLink | Stage::EntityLink => &[],
    }
}

/// A record_status answer and its decision. Without notes the decision
/// names no record and is shared; with notes it is a template each entity
/// fills with its own record ids (`Answer::decision_for`).
fn record_status_answer(e: &CompiledEntry, statuses: Vec<RecordStatus>, notes: Vec<StatusNote>) -> (Answer, Decision) {
    let (reason, reason_zh) = if notes.is_empty() {
        ("every record counts".to_string(), Some("各项记录均计入".to_string()))
    } else {
        (String::new(), None)
    };
    let d = Decision {
        stage: Stage::RecordStatus,
        rule: e.rule.clone(),
        clause: e.clause.clone(),
        reason,
        reason_zh,
        inputs: Vec::new(),
    };
    (Answer::RecordStatus { statuses, notes: notes.into() }, d)
}

/// [`RuleSet::decode`] for a value of the compiled fast path, read as it
/// is instead of made a Rhai map first (most of a fast call's cost): the
/// same answer and decision for every value it takes, `None` for any value
/// `decode` would refuse or that is shaped unusually, which then goes
/// through `decode` for its answer or its error. So it only ever repeats
/// `decode`'s success path; the probe check compares the two on every
/// probe call and a property test over generated values holds them equal.
pub(super) fn decode_native(e: &CompiledEntry, f: &EntityFacts, value: &V) -> Option<(Answer, Decision)> {
    let stage = e.entry.stage;
    if stage == Stage::RecordStatus {
        let V::Array(list) = value else { return None };
        if list.len() != f.records.len() {
            return None;
        }
        let mut statuses = Vec::with_capacity(list.len());
        let mut notes = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let V::Map(m) = item else { return None };
            if !m.iter().all(|(k, _)| k == "status" || k == "reason") {
                return None;
            }
            let status: RecordStatus = native_code(m, "status")?;
            let reason = native::field(m, "reason")?;
            if status.is_notable() {
                let (reason, zh) = native_reason(reason)?;
                notes.push(StatusNote::new(i, status, reason, zh));
            } else if !native_reason_ok(reason) {
                return None;
            }
            statuses.push(status);
        }
        return Some(record_status_answer(e, statuses, notes));
    }
    let V::Map(m) = value else { return None };
    let allowed = answer_keys(stage);
    if !m.iter().all(|(k, _)| allowed.contains(&k.as_str())) {
        return None;
    }
    let (reason, reason_zh) = native_reason(native::field(m, "reason")?)?;
    let clause = match native::field(m, "clause") {
        None => e.clause.clone(),
        Some(c) => native::text_of(c)?.into(),
    };
    let mut inputs = Vec::new();
    match native::field(m, "inputs") {
        None => {}
        Some(V::Array(list)) => {
            for x in list.iter() {
                let id = native::text_of(x)?;
                if !f.records.iter().any(|r| r.id.as_str() == id) {
                    return None;
                }
                inputs.push(id.to_string());
            }
        }
        Some(_) => return None,
    }
    let answer = match stage {
        Stage::Tolerance => match native::field(m, "years")? {
            V::Int(years @ 0..=3) => Answer::Tolerance { years: *years },
            _ => return None,
        },
        Stage::Accumulation => Answer::Accumulation { level: native_code(m, "level")? },
        Stage::Tier => match native::field(m, "tier")? {
            V::Int(tier @ 1..=4) => Answer::Tier { tier: *tier as u8 },
            _ => return None,
        },
        Stage::Blacklist => {
            let V::Bool(listed) = native::field(m, "listed")? else { return None };
            let until = match native::field(m, "ends_on") {
                None | Some(V::Unit) => None,
                Some(V::Date(d)) => Some(*d),
                Some(_) => return None,
            };
            Answer::Blacklist { listed: *listed, until }
        }
        Stage::Supervision => {
            let risk: RiskLevel = native_code(m, "risk")?;
            let p = match native::field(m, "probability")? {
                V::Float(p) => *p,
                V::Int(i) => *i as f64,
                _ => return None,
            };
            if !(0.0..=1.0).contains(&p) {
                return None;
            }
            Answer::Supervision { risk, probability_ppm: (p * 1_000_000.0).round() as u32 }
        }
        Stage::RecordStatus | Stage::PersonLink | Stage::EntityLink => return None,
    };
    Some((answer, Decision { stage, rule: e.rule.clone(), clause, reason, reason_zh, inputs }))
}

/// A code of a closed vocabulary, as [`get_code`] reads it.
fn native_code<C: std::str::FromStr>(m: &[(native::Key, V)], key: &str) -> Option<C> {
    native::text_of(native::field(m, key)?)?.parse().ok()
}

/// A reason, as [`get_reason`] reads it.
fn native_reason(v: &V) -> Option<(String, Option<String>)> {
    match v {
        V::Str(_) | V::Code(_) => Some((native::text_of(v)?.to_string(), None)),
        V::Map(m) => {
            if !m.iter().all(|(k, _)| k == "zh" || k == "en") {
                return None;
            }
            let zh = native::text_of(native::field(m, "zh")?)?;
            let en = native::text_of(native::field(m, "en")?)?;
            Some((en.to_string(), Some(zh.to_string())))
        }
        _ => None,
    }
}

/// Whether [`check_reason`] accepts the reason, without copying it.
fn native_reason_ok(v: &V) -> bool {
    match v {
        V::Str(_) | V::Code(_) => true,
        V::Map(m) => {
            m.iter().all(|(k, _)| k == "zh" || k == "en")
                && matches!(native::field(m, "zh"), Some(V::Str(_) | V::Code(_)))
                && matches!(native::field(m, "en"), Some(V::Str(_) | V::Code(_)))
        }
        _ => false,
    }
}

impl Answer {
    /// The decision for entity `f`: `shared` itself, or for a record_status
    /// answer with notable statuses, the decision naming `f`'s own records
    /// (`shared` being its template).
    pub(super) fn decision_for(&self, shared: &DecisionRef, f: &EntityFacts) -> DecisionRef {
        let Answer::RecordStatus { notes, .. } = self else { return shared.clone() };
        if notes.is_empty() {
            return shared.clone();
        }
        let named: Vec<(usize, &NoteRef)> = notes.iter().map(|n| (n.index, &n.note)).collect();
        DecisionRef::with_notes(shared, &named, f)
    }
}

pub(super) fn apply(answer: &Answer, s: &mut EntityState) {
    match answer {
        Answer::Tolerance { years } => Arc::make_mut(&mut s.facts).set_tolerance(*years),
        Answer::RecordStatus { statuses, .. } => {
            let f = Arc::make_mut(&mut s.facts);
            for (r, st) in f.records.iter_mut().zip(statuses) {
                r.status = Some(*st);
            }
        }
        Answer::Accumulation { level } => Arc::make_mut(&mut s.facts).stages.accumulation = Some(*level),
        Answer::Tier { tier } => Arc::make_mut(&mut s.facts).stages.tier = Some(*tier),
        Answer::Blacklist { listed, until } => {
            Arc::make_mut(&mut s.facts).stages.blacklisted = *listed;
            s.blacklist = BlacklistStatus { listed: *listed, until: *until };
        }
        Answer::Supervision { risk, probability_ppm } => {
            s.supervision = Supervision { risk: Some(*risk), probability_ppm: *probability_ppm };
        }
    }
}

/// A code of a closed vocabulary (`"counted"`, `"key_attention"`, ...).
pub(super) fn get_code<C: std::str::FromStr<Err = crate::model::UnknownCode>>(
    map: &Map,
    key: &str,
) -> Result<C, AnswerError> {
    match map.get(key) {
        None => Err(AnswerError::Missing(key.to_string())),
        Some(v) => match v.read_lock::<rhai::ImmutableString>() {
            None => Err(wrong_type(key, "a string", v.type_name())),
            Some(s) => s.parse().map_err(|e| AnswerError::Code { key: key.to_string(), inner: e }),
        },
    }
}

pub(super) fn get_string(map: &Map, key: &str) -> Result<String, AnswerError> {
    match map.get(key) {
        None => Err(AnswerError::Missing(key.to_string())),
        Some(v) => v.clone().into_string().map_err(|t| wrong_type(key, "a string", t)),
    }
}

pub(super) fn get_int(map: &Map, key: &str) -> Result<i64, AnswerError> {
    match map.get(key) {
        None => Err(AnswerError::Missing(key.to_string())),
        Some(v) => v.as_int().map_err(|t| wrong_type(key, "an integer", t)),
    }
}

#[cfg(test)]
mod tests {
    //! `decode_native` against `decode` over generated answers, valid and
    //! not: it must take exactly the values `decode` accepts, with the
    //! same answer and decision.
    use super::super::probe::probes;
    use super::super::projection_tests::Rng;
    use super::super::{RuleSource, native};
    use super::*;
    use proptest::prelude::*;

    /// Answers generated from a seed.
    struct Gen(Rng);

    impl Gen {
        fn below(&mut self, n: usize) -> usize {
            self.0.below(n)
        }

        /// A code as a string or as the fast path's own code value.
        fn text(&mut self, good: &[&'static str]) -> V {
            match self.below(6) {
                0 => V::Str("bogus".into()),
                1 => V::Int(1),
                2 | 3 => V::Code(good[self.below(good.len())]),
                _ => V::Str(good[self.below(good.len())].into()),
            }
        }

        fn map(&mut self, items: Vec<(&str, V)>) -> V {
            let mut m: Vec<(native::Key, V)> =
                items.into_iter().map(|(k, v)| (native::Key::Text(k.into()), v)).collect();
            m.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            m.dedup_by(|a, b| a.0.as_str() == b.0.as_str());
            V::Map(m.into())
        }

        fn reason(&mut self) -> V {
            match self.below(8) {
                0 => V::Int(3),
                1 => self.map(vec![("zh", V::Str("中".into()))]),
                2 => self.map(vec![("zh", V::Str("中".into())), ("en", V::Str("en".into())), ("fr", V::Unit)]),
                3 => self.map(vec![("zh", V::Str("中".into())), ("en", V::Int(2))]),
                4 => self.map(vec![("zh", V::Str("中".into())), ("en", V::Str("en".into()))]),
                5 => self.map(vec![("zh", V::Code("中")), ("en", V::Code("en"))]),
                6 => V::Code("because"),
                _ => V::Str("because".into()),
            }
        }

        /// Each key at most once, most of them most of the time.
        fn answer(&mut self, stage: Stage, f: &EntityFacts) -> V {
            if stage == Stage::RecordStatus {
                if self.below(12) == 0 {
                    return V::Int(0);
                }
                let n = match self.below(10) {
                    0 => f.records.len() + 1,
                    1 if !f.records.is_empty() => f.records.len() - 1,
                    _ => f.records.len(),
                };
                let codes: Vec<&str> = RecordStatus::ALL.iter().map(|s| s.as_str()).collect();
                let items = (0..n)
                    .map(|_| {
                        if self.below(15) == 0 {
                            return V::Str("counted".into());
                        }
                        let mut kv = vec![("status", self.text(&codes))];
                        if self.below(12) != 0 {
                            kv.push(("reason", self.reason()));
                        }
                        if self.below(15) == 0 {
                            kv.push(("note", V::Unit));
                        }
                        self.map(kv)
                    })
                    .collect();
                return V::Array(Arc::new(items));
            }
            if self.below(15) == 0 {
                return V::Str("tier 1".into());
            }
            let mut kv: Vec<(&str, V)> = Vec::new();
            if self.below(10) != 0 {
                kv.push(("reason", self.reason()));
            }
            if self.below(4) == 0 {
                kv.push((
                    "clause",
                    match self.below(4) {
                        0 => V::Int(4),
                        1 => V::Code("（二）"),
                        _ => V::Str("（二）".into()),
                    },
                ));
            }
            if self.below(4) == 0 {
                let ids: Vec<V> = (0..self.below(3))
                    .map(|_| match (self.below(5), f.records.is_empty()) {
                        (0, _) | (_, true) => V::Str("not-a-record".into()),
                        (1, _) => V::Int(7),
                        _ => V::Str(f.records[self.below(f.records.len())].id.as_str().into()),
                    })
                    .collect();
                kv.push(("inputs", if self.below(8) == 0 { V::Str("x".into()) } else { V::Array(Arc::new(ids)) }));
            }
            if self.below(20) == 0 {
                kv.push(("bogus", V::Unit));
            }
            let number = |g: &mut Gen, lo: i64, hi: i64| match g.below(8) {
                0 => V::Float(1.0),
                1 => V::Str("2".into()),
                _ => V::Int(lo - 1 + g.below((hi - lo + 3) as usize) as i64),
            };
            if self.below(12) != 0 {
                match stage {
                    Stage::Tolerance => kv.push(("years", number(self, 0, 3))),
                    Stage::Tier => kv.push(("tier", number(self, 1, 4))),
                    Stage::Accumulation => {
                        let codes: Vec<&str> = AccumulationLevel::ALL.iter().map(|s| s.as_str()).collect();
                        kv.push(("level", self.text(&codes)));
                    }
                    Stage::Blacklist => {
                        kv.push(("listed", if self.below(6) == 0 { V::Int(1) } else { V::Bool(self.below(2) == 0) }));
                        match self.below(5) {
                            0 => {}
                            1 => kv.push(("ends_on", V::Unit)),
                            2 => kv.push(("ends_on", V::Str("2027-01-01".into()))),
                            _ => kv.push(("ends_on", V::Date(f.as_of))),
                        }
                    }
                    Stage::Supervision => {
                        let codes: Vec<&str> = RiskLevel::ALL.iter().map(|s| s.as_str()).collect();
                        kv.push(("risk", self.text(&codes)));
                        let p = match self.below(7) {
                            0 => V::Int(self.below(3) as i64),
                            1 => V::Float(-0.25),
                            2 => V::Float(f64::NAN),
                            3 => V::Str("0.5".into()),
                            _ => V::Float(self.below(1001) as f64 / 1000.0 + 0.0000004),
                        };
                        kv.push(("probability", p));
                    }
                    Stage::RecordStatus | Stage::PersonLink | Stage::EntityLink => {}
                }
            }
            self.map(kv)
        }
    }

    /// Every stage's entry decodes a generated answer for every probe
    /// entity both ways; returns how many were accepted and refused.
    fn compare(rules: &RuleSet, seed: u64) -> Result<(usize, usize), String> {
        let entities: Vec<Arc<EntityFacts>> = probes().into_iter().map(Arc::new).collect();
        let mut g = Gen(Rng(seed));
        let (mut taken, mut refused) = (0, 0);
        for (stage, e) in rules.entries.iter().filter(|(st, _)| st.per_entity()) {
            for f in &entities {
                let v = g.answer(*stage, f);
                let fast = decode_native(e, f, &v);
                let slow = rules.decode(e, f, native::to_dynamic(&v, f).map_err(|_| "not a value".to_string())?);
                match (fast, slow) {
                    (Some(fast), Ok(slow)) if fast == slow => taken += 1,
                    (None, Err(_)) => refused += 1,
                    (fast, slow) => return Err(format!("{stage:?} {v:?}: native {fast:?}, decode {slow:?}")),
                }
            }
        }
        Ok((taken, refused))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        #[test]
        fn native_decoding_takes_what_decode_takes_with_the_same_answer(seed in 1u64..u64::MAX) {
            let rules = RuleSet::compile(&RuleSource::default_rules()).unwrap();
            if let Err(e) = compare(&rules, seed) {
                prop_assert!(false, "{}", e);
            }
        }
    }

    #[test]
    fn generated_answers_are_often_taken_and_often_refused() {
        let rules = RuleSet::compile(&RuleSource::default_rules()).unwrap();
        let (mut taken, mut refused) = (0, 0);
        for seed in 1..100 {
            let (t, r) = compare(&rules, seed).unwrap();
            taken += t;
            refused += r;
        }
        // About a fifth are valid answers.
        assert!(taken * 6 > taken + refused && refused * 6 > taken + refused, "{taken} taken, {refused} refused");
    }
}
