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
use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::engine::{Decision, EntityState, Link, LinkAnswer, PropagatedFlag, RuleError, RuleSet, Stage};
use crate::model::*;

/// The rule set can set `propagate_max_depth`; it cannot exceed this.
pub const MAX_DEPTH: u8 = 5;

/// A person the flag reached.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
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
    pub path: String,
}

/// An entity the flag reached through a person.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ReachedEntity {
    pub uscc: Uscc,
    pub effect: String,
    pub person_id: PersonId,
    /// The person's role in this entity.
    pub role: RoleKind,
    pub source: Uscc,
    pub source_records: Vec<String>,
    pub depth: u8,
    pub reason: String,
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

fn held_on(r: &Role, d: Date) -> bool {
    r.since <= d && r.until.is_none_or(|u| u >= d)
}

/// Runs propagation for a classification in progress: sources are the
/// entities the blacklist stage listed; reached entities get a
/// [`PropagatedFlag`] and a decision before the supervision stage.
pub fn propagate(
    ds: &Dataset,
    rules: &RuleSet,
    states: &mut [EntityState],
    as_of: Date,
) -> Result<Propagation, RuleError> {
    if !rules.has(Stage::PersonLink) {
        return Ok(Propagation::default());
    }
    let mut sources: Vec<(Uscc, Vec<String>, Date)> = states
        .iter()
        .filter(|s| s.blacklist.listed)
        .map(|s| {
            let d = s.decision(Stage::Blacklist);
            let records: Vec<String> = d.map(|d| d.inputs.clone()).unwrap_or_default();
            // The flag dates from the latest source record.
            let start = s
                .facts
                .records
                .iter()
                .filter(|r| records.iter().any(|x| x.as_str() == r.id.as_str()))
                .map(|r| r.date)
                .max()
                .unwrap_or(as_of);
            (s.facts.uscc, records, start)
        })
        .collect();
    sources.sort_by_key(|a| a.0);
    let max_depth = rules.int_param("propagate_max_depth").map_or(1, |d| d.clamp(1, i64::from(MAX_DEPTH)) as u8);
    let result = run(ds, rules, &sources, as_of, max_depth)?;

    // Hand the reached entities' flags to the supervision stage.
    let mut reached: FxHashMap<Uscc, Vec<&ReachedEntity>> = FxHashMap::default();
    for r in &result.entities {
        reached.entry(r.uscc).or_default().push(r);
    }
    let rule = rules_rule(rules);
    states.par_iter_mut().for_each(|s| {
        let Some(list) = reached.get(&s.facts.uscc) else { return };
        for r in list {
            Arc::make_mut(&mut s.facts).stages.propagated.push(PropagatedFlag {
                effect: r.effect.clone(),
                source: r.source,
                path: r.path.clone(),
            });
            s.decisions.push(Arc::new(Decision {
                stage: Stage::EntityLink,
                rule: rule.clone(),
                clause: "（六）二".into(),
                reason: format!("{} via {}: {}", r.effect, r.path, r.reason),
                inputs: Vec::new(),
            }));
        }
    });
    Ok(result)
}

fn rules_rule(rules: &RuleSet) -> Arc<str> {
    let e = &rules.manifest.entries[&Stage::EntityLink];
    format!("{}:{}", e.file, e.function).into()
}

/// Propagation from explicit sources (credit code, source record ids,
/// date the flag starts), depth-first by level.
pub fn run(
    ds: &Dataset,
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
        entity: Uscc,
        path: String,
        /// Roles in `entity` are read as held on this date: the source
        /// record's date for the blacklisted entity, the as-of date after.
        on: Date,
    }
    let mut frontier: Vec<Walk> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| Walk { source: i, entity: s.0, path: s.0.to_string(), on: s.2 })
        .collect();
    // Visited per source, so cycles end and each source reaches a node once.
    let mut seen_persons: FxHashSet<(usize, PersonId)> = FxHashSet::default();
    let mut seen_entities: FxHashSet<(usize, Uscc)> = sources.iter().enumerate().map(|(i, s)| (i, s.0)).collect();

    for depth in 1..=max_depth {
        if frontier.is_empty() {
            break;
        }
        let wanted: FxHashSet<Uscc> = frontier.iter().map(|w| w.entity).collect();
        let entity_roles = roles_of(ds, &wanted, |r| r.uscc);
        // Entity → person links, in frontier order.
        let mut flagged: Vec<(usize, usize)> = Vec::new(); // (walk index, person index in `persons`)
        for (wi, w) in frontier.iter().enumerate() {
            let (source, records, start) = &sources[w.source];
            let mut roles: Vec<&Role> = entity_roles
                .get(&w.entity)
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .copied()
                .filter(|r| held_on(r, w.on))
                .collect();
            roles.sort_by_key(|a| (a.person_id, a.role));
            for role in roles {
                let answer = ask(Stage::PersonLink, Link { role: role.role, person_role: None, depth })?;
                if !answer.applies || seen_persons.contains(&(w.source, role.person_id)) {
                    continue;
                }
                let until =
                    start.checked_add_months(chrono::Months::new(12 * answer.years.min(100) as u32)).unwrap_or(*start);
                if until <= as_of {
                    continue;
                }
                seen_persons.insert((w.source, role.person_id));
                flagged.push((wi, persons.len()));
                persons.push(FlaggedPerson {
                    person_id: role.person_id,
                    role: role.role,
                    via: w.entity,
                    source: *source,
                    source_records: records.clone(),
                    depth,
                    until,
                    measures: answer.measures.clone(),
                    reason: answer.decision.reason.clone(),
                    path: format!("{} -{}-> {}", w.path, role.role, short(&role.person_id)),
                });
            }
        }
        // Person → other entity links.
        let wanted: FxHashSet<PersonId> = flagged.iter().map(|&(_, p)| persons[p].person_id).collect();
        let person_roles = roles_of(ds, &wanted, |r| r.person_id);
        let mut next = Vec::new();
        for &(wi, pi) in &flagged {
            let w = &frontier[wi];
            let p = &persons[pi];
            let mut other: Vec<&Role> = person_roles
                .get(&p.person_id)
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .copied()
                .filter(|r| held_on(r, as_of) && r.uscc != w.entity)
                .collect();
            other.sort_by_key(|a| (a.uscc, a.role));
            for r2 in other {
                if blacklisted.contains(&r2.uscc) || seen_entities.contains(&(w.source, r2.uscc)) {
                    continue;
                }
                let a2 = ask(Stage::EntityLink, Link { role: r2.role, person_role: Some(p.role), depth })?;
                if !a2.applies {
                    continue;
                }
                seen_entities.insert((w.source, r2.uscc));
                let path = format!("{} -{}-> {}", p.path, r2.role, r2.uscc);
                entities.push(ReachedEntity {
                    uscc: r2.uscc,
                    effect: a2.effect.clone(),
                    person_id: p.person_id,
                    role: r2.role,
                    source: sources[w.source].0,
                    source_records: sources[w.source].1.clone(),
                    depth,
                    reason: a2.decision.reason.clone(),
                    path: path.clone(),
                });
                next.push(Walk { source: w.source, entity: r2.uscc, path, on: as_of });
            }
        }
        frontier = next;
    }
    persons.sort_by_key(|a| (a.person_id, a.source));
    entities.sort_by_key(|a| (a.uscc, a.source));
    Ok(Propagation { sources: sources.len(), persons, entities })
}

/// Roles of the given entities (or persons), found in one parallel scan
/// of all roles: propagation touches a small part of the graph, so it never
/// indexes the whole of it.
fn roles_of<'a, K: std::hash::Hash + Eq + Copy + Send + Sync>(
    ds: &'a Dataset,
    wanted: &FxHashSet<K>,
    key: impl Fn(&Role) -> K + Sync,
) -> FxHashMap<K, Vec<&'a Role>> {
    if wanted.is_empty() {
        return FxHashMap::default();
    }
    let found: Vec<&'a Role> = ds.roles.par_iter().filter(|r| wanted.contains(&key(r))).collect();
    let mut out: FxHashMap<K, Vec<&'a Role>> = FxHashMap::default();
    for r in found {
        out.entry(key(r)).or_default().push(r);
    }
    out
}

/// Counts for reports: flagged persons by role, reached entities by effect.
pub fn counts(p: &Propagation) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let mut by_role = BTreeMap::new();
    for f in &p.persons {
        *by_role.entry(f.role.to_string()).or_default() += 1;
    }
    let mut by_effect = BTreeMap::new();
    for e in &p.entities {
        *by_effect.entry(e.effect.clone()).or_default() += 1;
    }
    (by_role, by_effect)
}
