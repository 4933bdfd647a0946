//! Blacklist propagation (plan （六）二): the flag of a blacklisted entity
//! reaches the persons behind it, and through them the other entities they
//! run, so dishonesty cannot simply reappear under another company.
//!
//! Invariants: no IO. Breadth-first by depth from the blacklisted entities
//! in credit-code order, persons and entities visited once per source, so
//! cycles end and the result is deterministic. Which roles carry the flag,
//! for how long and with what effect is asked of the rule set (one call per
//! distinct link). Every flagged person and reached entity carries the path
//! that reached it and the source records; when those stop counting (repair,
//! expiry) the blacklist goes and everything derived from it with it.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::engine::{Link, LinkAnswer, RuleError, RuleSet, Stage};
use crate::model::*;
use crate::snapshot::{EntityId, RoleGraph, RoleRow, Snapshot};

/// The rule set can set `propagate_max_depth`; it cannot exceed this.
pub const MAX_DEPTH: u8 = 5;

/// A person the flag reached.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FlaggedPerson {
    pub person_id: PersonId,
    /// The role through which the person was flagged.
    pub role: RoleKind,
    /// The entity whose flag reached the person (blacklisted at depth 1).
    pub via: Uscc,
    /// The blacklisted entity the chain started from.
    pub source: Uscc,
    pub source_records: Vec<String>,
    pub depth: u8,
    pub until: Date,
    pub measures: Vec<String>,
    pub reason: String,
    /// The rule's Chinese reason, when it gave both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_zh: Option<String>,
    pub path: String,
}

/// An entity the flag reached through a person.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReachedEntity {
    pub uscc: Uscc,
    pub effect: LinkEffect,
    pub person_id: PersonId,
    /// The person's role in this entity.
    pub role: RoleKind,
    pub source: Uscc,
    pub source_records: Vec<String>,
    pub depth: u8,
    pub reason: String,
    /// The rule's Chinese reason, when it gave both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_zh: Option<String>,
    pub path: String,
}

/// The whole result: persons sorted by (person, source), entities by
/// (entity, source).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Propagation {
    pub sources: usize,
    pub persons: Vec<FlaggedPerson>,
    pub entities: Vec<ReachedEntity>,
}

fn short(p: &PersonId) -> String {
    format!("person:{}", &p.to_string()[..12])
}

/// Runs propagation for a classification in progress: sources are the
/// entities the blacklist stage listed, as (credit code, source record ids,
/// date the flag starts). Does nothing when the rule set has no
/// person_link rule.
pub fn propagate(
    s: &Snapshot,
    graph: &RoleGraph,
    rules: &RuleSet,
    sources: &[(Uscc, Vec<String>, Date)],
    as_of: Date,
) -> Result<Propagation, RuleError> {
    if !rules.has(Stage::PersonLink) {
        return Ok(Propagation::default());
    }
    let mut sources = sources.to_vec();
    sources.sort_by_key(|a| a.0);
    run(s, graph, rules, &sources, as_of, max_depth(rules))
}

/// How many person hops a flag travels: the rule set's
/// `propagate_max_depth`, 1 by default, at most [`MAX_DEPTH`].
pub fn max_depth(rules: &RuleSet) -> u8 {
    rules.int_param("propagate_max_depth").map_or(1, |d| d.clamp(1, i64::from(MAX_DEPTH)) as u8)
}

/// Propagation from explicit sources (credit code, source record ids,
/// date the flag starts), breadth-first by level.
pub fn run(
    s: &Snapshot,
    graph: &RoleGraph,
    rules: &RuleSet,
    sources: &[(Uscc, Vec<String>, Date)],
    as_of: Date,
    max_depth: u8,
) -> Result<Propagation, RuleError> {
    let mut memo: FxHashMap<(Stage, Link), LinkAnswer> = FxHashMap::default();
    let mut ask = |stage: Stage, link: Link| -> Result<LinkAnswer, RuleError> {
        if let Some(a) = memo.get(&(stage, link)) {
            return Ok(a.clone());
        }
        let a = rules.eval_link(stage, link)?;
        memo.insert((stage, link), a.clone());
        Ok(a)
    };
    let blacklisted: FxHashSet<Uscc> = sources.iter().map(|s| s.0).collect();
    let mut persons: Vec<FlaggedPerson> = Vec::new();
    let mut entities: Vec<ReachedEntity> = Vec::new();

    /// A chain being followed: where it is, how it got there.
    struct Walk {
        source: usize,
        entity: EntityId,
        path: String,
        /// Roles in `entity` are read as held on this date: the source
        /// record's date for the blacklisted entity, the as-of date after.
        on: Date,
    }
    let mut frontier: Vec<Walk> = sources
        .iter()
        .enumerate()
        .filter_map(|(i, src)| {
            s.entities.find(&src.0).map(|e| Walk { source: i, entity: e, path: src.0.to_string(), on: src.2 })
        })
        .collect();
    // Visited per source, so cycles end and each source reaches a node once.
    let mut seen_persons: FxHashSet<(usize, u32)> = FxHashSet::default();
    let mut seen_entities: FxHashSet<(usize, EntityId)> = frontier.iter().map(|w| (w.source, w.entity)).collect();

    for depth in 1..=max_depth {
        if frontier.is_empty() {
            break;
        }
        // Entity → person links, in frontier order.
        let mut flagged: Vec<(usize, usize, u32)> = Vec::new(); // (walk, index in `persons`, person)
        for (wi, w) in frontier.iter().enumerate() {
            let (source, records, start) = &sources[w.source];
            let mut roles: Vec<&RoleRow> = s.roles.of(w.entity).iter().filter(|r| r.held_on(w.on)).collect();
            // Person indices follow person-id order.
            roles.sort_by_key(|a| (a.person(), a.role()));
            for role in roles {
                let answer = ask(Stage::PersonLink, Link { role: role.role(), person_role: None, depth })?;
                if !answer.applies || seen_persons.contains(&(w.source, role.person())) {
                    continue;
                }
                let until =
                    start.checked_add_months(chrono::Months::new(12 * answer.years.min(100) as u32)).unwrap_or(*start);
                if until <= as_of {
                    continue;
                }
                let person_id = s.person(role.person());
                seen_persons.insert((w.source, role.person()));
                flagged.push((wi, persons.len(), role.person()));
                persons.push(FlaggedPerson {
                    person_id,
                    role: role.role(),
                    via: s.entities.uscc[w.entity as usize],
                    source: *source,
                    source_records: records.clone(),
                    depth,
                    until,
                    measures: answer.measures.clone(),
                    reason: answer.decision.reason.clone(),
                    reason_zh: answer.decision.reason_zh.clone(),
                    path: format!("{} -{}-> {}", w.path, role.role(), short(&person_id)),
                });
            }
        }
        // Person → other entity links.
        let mut next = Vec::new();
        for &(wi, pi, person) in &flagged {
            let w = &frontier[wi];
            let p = &persons[pi];
            let mut other: Vec<(EntityId, &RoleRow)> =
                graph.of_person(s, person).filter(|(e, r)| r.held_on(as_of) && *e != w.entity).collect();
            // Entity ids follow credit-code order.
            other.sort_by_key(|(e, r)| (*e, r.role()));
            for (e2, r2) in other {
                let uscc2 = s.entities.uscc[e2 as usize];
                if blacklisted.contains(&uscc2) || seen_entities.contains(&(w.source, e2)) {
                    continue;
                }
                let a2 = ask(Stage::EntityLink, Link { role: r2.role(), person_role: Some(p.role), depth })?;
                // An applying entity_link answer always names its effect.
                let (true, Some(effect)) = (a2.applies, a2.effect) else { continue };
                seen_entities.insert((w.source, e2));
                let path = format!("{} -{}-> {}", p.path, r2.role(), uscc2);
                entities.push(ReachedEntity {
                    uscc: uscc2,
                    effect,
                    person_id: p.person_id,
                    role: r2.role(),
                    source: sources[w.source].0,
                    source_records: sources[w.source].1.clone(),
                    depth,
                    reason: a2.decision.reason.clone(),
                    reason_zh: a2.decision.reason_zh.clone(),
                    path: path.clone(),
                });
                next.push(Walk { source: w.source, entity: e2, path, on: as_of });
            }
        }
        frontier = next;
    }
    persons.sort_by_key(|a| (a.person_id, a.source));
    entities.sort_by_key(|a| (a.uscc, a.source));
    Ok(Propagation { sources: sources.len(), persons, entities })
}

/// Counts for reports: flagged persons by role, reached entities by effect.
pub fn counts(p: &Propagation) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let mut by_role = BTreeMap::new();
    for f in &p.persons {
        *by_role.entry(f.role.to_string()).or_default() += 1;
    }
    let mut by_effect = BTreeMap::new();
    for e in &p.entities {
        *by_effect.entry(e.effect.to_string()).or_default() += 1;
    }
    (by_role, by_effect)
}

#[cfg(test)]
mod tests {
    //! The depth rule: one hop unless the rules say more, never past
    //! [`MAX_DEPTH`], never less than one.
    use super::*;
    use crate::engine::RuleSource;

    fn rules(depth: Option<i64>) -> RuleSet {
        let mut src = RuleSource::default_rules();
        if let Some(d) = depth {
            let manifest = src.files.get_mut("rules.toml").unwrap();
            *manifest = manifest.replacen("[params]\n", &format!("[params]\npropagate_max_depth = {d}\n"), 1);
        }
        RuleSet::compile(&src).unwrap()
    }

    #[test]
    fn the_depth_is_one_hop_unless_the_rules_say_more_and_never_past_the_maximum() {
        assert_eq!(max_depth(&rules(None)), 1);
        assert_eq!(max_depth(&rules(Some(3))), 3);
        assert_eq!(max_depth(&rules(Some(99))), MAX_DEPTH);
        assert_eq!(max_depth(&rules(Some(0))), 1);
        assert_eq!(max_depth(&rules(Some(-4))), 1);
    }
}
