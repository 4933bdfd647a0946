//! Everything credo knows about one entity, classified on its own
//! neighbourhood of the role graph (enough to reproduce a full run's
//! answer for it, in a fraction of the time).

use chrono::Datelike;
use serde::Serialize;

use super::{OpsError, Result};
use crate::classify;
use crate::engine::RuleSet;
use crate::i18n::Lang;
use crate::model::*;
use crate::snapshot::{EntityId, RoleGraph, Snapshot};
use crate::store::StoreError;
use crate::tr;

/// Everything credo knows about one entity as of a date: its tier over
/// time, its records and their status, tolerance, exemptions, commitments,
/// repairs, blacklist status and every propagation path that touches it.
#[derive(Debug, Serialize)]
pub struct Timeline {
    pub entity: MarketEntity,
    pub as_of: Date,
    pub points: Vec<TimelinePoint>,
    pub result: classify::EntityResult,
    /// The language of the names and the explanation below.
    pub lang: Lang,
    /// The plan's name of the tier as of the date (诚信守法 … 严重失信).
    pub tier_name: &'static str,
    pub risk_name: String,
    pub explanation: String,
    pub commitments: Vec<Commitment>,
    pub repairs: Vec<RepairApplication>,
    /// Objections to its records (异议申诉) filed by the date, as they
    /// stood then.
    pub objections: Vec<super::objections::ObjectionState>,
    /// Approvals revoked by its breached commitments by the date, from
    /// the store ([`super::add_revocations`]; empty until it is asked).
    pub revocations: Vec<crate::store::RevocationRecord>,
    /// Persons flagged because of this entity, and entities they reached.
    pub flagged_persons: Vec<crate::propagate::FlaggedPerson>,
    pub reached_from_here: Vec<crate::propagate::ReachedEntity>,
    /// Paths by which other blacklisted entities reach this one.
    pub reached_by: Vec<crate::propagate::ReachedEntity>,
}

/// The entity's answer on one date: from a stored run (`run`, the
/// server's timeline) or classified on the spot (`credo entity show`).
#[derive(Debug, Serialize)]
pub struct TimelinePoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<i64>,
    pub date: Date,
    pub tier: u8,
    pub tier_name: &'static str,
    pub risk: String,
    pub probability: f64,
    pub blacklisted: bool,
    pub key_attention: bool,
}

/// The entities within `hops` person links of an entity (itself included).
pub fn neighbourhood(s: &Snapshot, graph: &RoleGraph, e: EntityId, hops: u8) -> Vec<EntityId> {
    use rustc_hash::FxHashSet;
    let mut entities: FxHashSet<EntityId> = std::iter::once(e).collect();
    let mut frontier: Vec<EntityId> = vec![e];
    for _ in 0..hops {
        let mut next = Vec::new();
        for &f in &frontier {
            for r in s.roles.of(f) {
                for (other, _) in graph.of_person(s, r.person()) {
                    if entities.insert(other) {
                        next.push(other);
                    }
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    let mut out: Vec<EntityId> = entities.into_iter().collect();
    out.sort_unstable();
    out
}

/// The timeline of one entity. `s` holds the dataset with officers'
/// submitted results added; the entity is classified on its
/// neighbourhood only, not on the whole dataset.
pub fn entity_timeline(s: &Snapshot, rules: &RuleSet, uscc: Uscc, as_of: Date, lang: Lang) -> Result<Timeline> {
    let e = s
        .entities
        .find(&uscc)
        .ok_or_else(|| StoreError::NotFound(tr!("数据集中的主体 {uscc}", "entity {uscc} in the dataset")))?;
    let entity = s.entities.get(e);
    if entity.registered_on > as_of {
        let registered = entity.registered_on;
        return Err(OpsError::Rejected(tr!(
            "{uscc} 于 {registered} 登记，晚于 {as_of}",
            "{uscc} was registered on {registered}, after {as_of}"
        )));
    }
    let depth = crate::propagate::max_depth(rules);
    // Entities within depth+1 person links: enough for every path of
    // length `depth` that starts or ends at this entity.
    let graph = RoleGraph::new(s);
    let ids = neighbourhood(s, &graph, e, depth + 1);
    let mut sub = crate::data::snapshot_of(&s.subset(&ids)).map_err(|p| {
        OpsError::Rejected(crate::i18n::Text::new(
            format!("{uscc} 的关联范围：{}", p.render_in(5, Lang::Zh)),
            format!("the neighbourhood of {uscc}: {}", p.render(5)),
        ))
    })?;
    sub.objections = s.objections.clone();
    let mut dates: Vec<Date> = ((as_of.year() - 4)..as_of.year())
        .filter_map(|y| Date::from_ymd_opt(y, 12, 31))
        .filter(|d| *d >= entity.registered_on)
        .collect();
    dates.push(as_of);
    let mut points = Vec::new();
    let mut last = None;
    for d in dates {
        let (c, results) = classify::classify_all(&sub, rules, d)?;
        let r = results.into_iter().find(|r| r.uscc == uscc).expect("registered entity is classified");
        points.push(TimelinePoint {
            run: None,
            date: d,
            tier: r.tier,
            tier_name: crate::i18n::tier_name(r.tier, lang),
            risk: r.risk_code().to_string(),
            probability: r.probability(),
            blacklisted: r.blacklisted,
            key_attention: r.key_attention,
        });
        if d == as_of {
            last = Some((r, c.propagation));
        }
    }
    let (result, propagation) = last.expect("as-of point");
    Ok(Timeline {
        lang,
        tier_name: crate::i18n::tier_name(result.tier, lang),
        risk_name: crate::i18n::risk_name(result.risk_code(), lang).to_string(),
        explanation: result.explanation_in(lang),
        commitments: s.commitments_of(e).into_iter().filter(|c| c.made_on <= as_of).collect(),
        repairs: s.repairs_of(e).into_iter().filter(|r| r.applied_on <= as_of).collect(),
        objections: super::objections::objections_as_of(s, &uscc, as_of),
        revocations: Vec::new(),
        flagged_persons: propagation.persons.iter().filter(|p| p.source == uscc).cloned().collect(),
        reached_from_here: propagation.entities.iter().filter(|e| e.source == uscc).cloned().collect(),
        reached_by: propagation.entities.iter().filter(|e| e.uscc == uscc).cloned().collect(),
        entity,
        as_of,
        points,
        result,
    })
}
