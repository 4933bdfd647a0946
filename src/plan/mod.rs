//! Inspection plans: what a plan asks for, and the draw frame built for it
//! from a classification, the dataset and the inspection history.
//!
//! Invariants: no IO. Eligibility comes from the rule set (a probability of
//! zero means "not inspected at random") and from history (tiers the rules
//! name get at most one random inspection a calendar year); every entity of
//! the classification is in the frame, eligible or with the reason it is
//! not, so nothing drops out silently.

use std::collections::BTreeMap;

use chrono::Datelike;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::classify::facts::DepartmentIndex;
use crate::draw::{self, Frame, FrameBuilder, NewEntity, Stratum, StratumMode};
use crate::engine::DrawDefaults;
use crate::model::*;
use crate::snapshot::{EntityId, Snapshot};

/// What a plan draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// Random inspections by tier and risk (plan （二）).
    Random,
    /// Post-approval checks of approvals granted on a commitment (plan （三）一).
    CommitmentCheck,
}

/// How strata are sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SelectionMode {
    /// Each entity with its own yearly probability from the rules.
    Probability,
    /// A share of each stratum (at least the rules' minimum ratio).
    Quota,
}

/// Everything fixed when a plan is created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanParams {
    pub name: String,
    pub kind: PlanKind,
    pub departments: Vec<String>,
    pub mode: SelectionMode,
    /// Quota share (quota mode).
    pub ratio: f64,
    pub min_ratio: f64,
    pub strata: Vec<String>,
    pub officers_per_visit: u32,
    pub max_visits_per_officer: u32,
    pub avoid_recent_years: i32,
    pub once_a_year_tiers: Vec<u8>,
    pub as_of: Date,
    /// When assignments become visible to officers (RFC 3339).
    pub release_at: String,
    /// The public randomness the plan will combine with its secret, named
    /// in advance (may be empty).
    pub beacon_source: String,
}

impl PlanParams {
    /// Parameters with the rule set's draw defaults.
    pub fn with_defaults(
        name: &str,
        kind: PlanKind,
        departments: Vec<String>,
        as_of: Date,
        d: &DrawDefaults,
    ) -> PlanParams {
        PlanParams {
            name: name.to_string(),
            kind,
            departments,
            mode: if kind == PlanKind::CommitmentCheck { SelectionMode::Quota } else { SelectionMode::Probability },
            ratio: if kind == PlanKind::CommitmentCheck { d.commitment_check_ratio } else { d.min_ratio },
            min_ratio: d.min_ratio,
            strata: d.strata.clone(),
            officers_per_visit: d.officers_per_visit,
            max_visits_per_officer: d.max_visits_per_officer,
            avoid_recent_years: d.avoid_recent_years,
            once_a_year_tiers: d.once_a_year_tiers.clone(),
            as_of,
            release_at: String::new(),
            beacon_source: String::new(),
        }
    }

    pub fn validate(&self, departments: &[Department]) -> Result<(), String> {
        if self.departments.is_empty() {
            return Err("a plan needs at least one participating department".into());
        }
        for d in &self.departments {
            if !departments.iter().any(|x| &x.code == d) {
                let known: Vec<_> = departments.iter().map(|x| x.code.as_str()).collect();
                return Err(format!("department '{d}' is not in the dataset ({})", known.join(", ")));
            }
        }
        if !(0.0..=1.0).contains(&self.ratio) || !(0.0..=1.0).contains(&self.min_ratio) {
            return Err("ratios must be between 0 and 1".into());
        }
        if self.officers_per_visit < 2 {
            return Err("at least two officers per visit".into());
        }
        if chrono::DateTime::parse_from_rfc3339(&self.release_at).is_err() {
            return Err(format!("release time '{}' is not RFC 3339 (e.g. 2026-07-01T09:00:00+08:00)", self.release_at));
        }
        Ok(())
    }
}

/// Random inspections already made or drawn, per entity, in a year.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Entity → what inspected it (inspection or visit id).
    pub random_this_year: FxHashMap<Uscc, String>,
}

impl History {
    /// Random inspections in the dataset in the as-of year, on or before it.
    pub fn from_snapshot(s: &Snapshot, as_of: Date) -> History {
        let mut h = History::default();
        for e in 0..s.len() as EntityId {
            let first = s.inspections.of(e).iter().find(|x| {
                matches!(x.kind, InspectionKind::Random | InspectionKind::JointRandom)
                    && x.inspected_on.year() == as_of.year()
                    && x.inspected_on <= as_of
            });
            if let Some(x) = first {
                h.random_this_year.insert(s.entities.uscc[e as usize], s.text(x.inspection_id).to_string());
            }
        }
        h
    }
}

/// Counts of a built frame, for the creator and the disclosure.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FrameStats {
    pub entities: usize,
    pub eligible: usize,
    /// Exclusion reason (its first clause) → entities.
    pub excluded: BTreeMap<String, usize>,
}

/// What a frame needs of an entity's classification: from a run in
/// memory, or from a stored run's results.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanEntity {
    pub uscc: Uscc,
    pub tier: u8,
    pub risk: String,
    pub probability_ppm: u32,
    pub city: u32,
    pub county: u32,
    /// Why the supervision rule gave this probability.
    pub supervision_reason: String,
}

impl PlanEntity {
    pub fn from_result(r: &crate::classify::EntityResult) -> PlanEntity {
        PlanEntity {
            uscc: r.uscc,
            tier: r.tier,
            risk: r.risk.to_string(),
            probability_ppm: r.probability_ppm,
            city: r.city,
            county: r.county,
            supervision_reason: r
                .decisions
                .iter()
                .rev()
                .find(|d| d.stage == crate::engine::Stage::Supervision)
                .map(|d| d.reason.clone())
                .unwrap_or_default(),
        }
    }

    pub fn from_stored(r: &crate::data::results::StoredResult) -> Result<PlanEntity, String> {
        Ok(PlanEntity {
            uscc: Uscc::parse(&r.uscc).map_err(|e| format!("stored result {}: {e}", r.uscc))?,
            tier: r.tier,
            risk: r.risk.clone(),
            probability_ppm: r.probability_ppm,
            city: r.city,
            county: r.county,
            supervision_reason: r.supervision_reason.clone(),
        })
    }
}

fn stratum_key(
    dims: &[String],
    r: &PlanEntity,
    entity_type: EntityType,
    industry: IndustryCode,
    kind: PlanKind,
) -> String {
    let mut parts = Vec::new();
    if kind == PlanKind::CommitmentCheck {
        parts.push("kind=commitment_check".to_string());
    }
    for d in dims {
        let v = match d.as_str() {
            "tier" if kind == PlanKind::CommitmentCheck => continue,
            "tier" => r.tier.to_string(),
            "city" => r.city.to_string(),
            "county" => r.county.to_string(),
            "risk" => r.risk.to_string(),
            "entity_type" => entity_type.to_string(),
            "section" => industry.section().to_string(),
            _ => continue,
        };
        parts.push(format!("{d}={v}"));
    }
    if parts.is_empty() { "all".into() } else { parts.join("|") }
}

fn ppm(x: f64) -> u32 {
    (x * 1_000_000.0).round().clamp(0.0, 1_000_000.0) as u32
}

/// Builds the frame of a plan from the classified entities.
pub fn build_frame(
    s: &Snapshot,
    entities: &[PlanEntity],
    params: &PlanParams,
    plan_id: &str,
    commitment: draw::Hash,
    history: &History,
) -> Result<(Frame, FrameStats), String> {
    let as_of = params.as_of;
    let avoid_from =
        as_of.checked_sub_months(chrono::Months::new(12 * params.avoid_recent_years.max(0) as u32)).unwrap_or(as_of);
    let pending_approval = |e: EntityId| {
        s.commitments.of(e).iter().any(|c| {
            c.kind == CommitmentKind::ApprovalSubstitute
                && c.made_on <= as_of
                && (c.status == CommitmentStatus::Pending || c.checked_on.is_none_or(|d| d > as_of))
        })
    };

    let mut relations: FxHashMap<&str, Vec<PersonId>> = FxHashMap::default();
    for r in &s.officer_relations {
        relations.entry(r.officer_id.as_str()).or_default().push(r.person_id);
    }
    let officers: Vec<draw::Officer> = s
        .officers
        .iter()
        .map(|o| {
            let mut persons = vec![o.person_id];
            persons.extend(relations.get(o.officer_id.as_str()).into_iter().flatten().copied());
            draw::Officer {
                officer_id: o.officer_id.clone(),
                department: o.department.clone(),
                city: o.region,
                qualifications: o.qualifications.clone(),
                active: o.active,
                persons,
            }
        })
        .collect();

    let departments = DepartmentIndex::new(&s.inspection_items);
    let mode = match params.mode {
        SelectionMode::Probability => StratumMode::Probability,
        SelectionMode::Quota => {
            StratumMode::Quota { ratio_ppm: ppm(params.ratio), min_ratio_ppm: ppm(params.min_ratio) }
        }
    };
    let ids: Vec<Option<EntityId>> = entities.iter().map(|r| s.entities.find(&r.uscc)).collect();
    // Strata, one per key, all in the plan's mode.
    let keys: Vec<String> = entities
        .iter()
        .zip(&ids)
        .map(|(r, id)| {
            id.map_or_else(String::new, |e| {
                let i = e as usize;
                stratum_key(&params.strata, r, s.entities.entity_type[i], s.entities.industry[i], params.kind)
            })
        })
        .collect();
    let mut distinct: Vec<String> = keys.clone();
    distinct.sort();
    distinct.dedup();
    let strata: Vec<Stratum> = distinct.into_iter().map(|key| Stratum { key, mode }).collect();
    let plan = draw::Plan {
        plan_id: plan_id.to_string(),
        departments: params.departments.clone(),
        officers_per_visit: params.officers_per_visit,
        max_visits_per_officer: params.max_visits_per_officer,
        commitment,
        beacon_source: params.beacon_source.clone(),
    };
    let mut b = FrameBuilder::new(plan, strata, officers).map_err(|e| e.to_string())?;
    b.reserve(entities.len());
    let mut stats = FrameStats { entities: entities.len(), ..FrameStats::default() };
    let year = as_of.year();
    let depts = params.departments.join(", ");
    for ((r, key), id) in entities.iter().zip(&keys).zip(&ids) {
        let Some(e) = *id else {
            return Err(format!("classified entity {} is not in the dataset", r.uscc));
        };
        let i = e as usize;
        let items = departments.items_for(s.entities.industry[i], s.entities.key_fields[i], &params.departments);
        let supervision_reason = &r.supervision_reason;
        let status = s.entities.status[i];
        let exclusion: Option<String> = if status != EntityStatus::Active {
            Some(format!("not active: {status}"))
        } else if items.is_empty() {
            Some(format!("no applicable inspection item of {depts}"))
        } else if params.kind == PlanKind::CommitmentCheck {
            (!pending_approval(e)).then(|| "no approval granted on a commitment awaiting verification".into())
        } else if r.probability_ppm == 0 {
            Some(format!("no random inspection under the rules: {supervision_reason}"))
        } else if params.once_a_year_tiers.contains(&r.tier)
            && let Some(by) = history.random_this_year.get(&r.uscc)
        {
            Some(format!("tier {}: already randomly inspected in {year} ({by})", r.tier))
        } else {
            None
        };
        match &exclusion {
            None => stats.eligible += 1,
            Some(reason) => {
                let head = reason.split(':').next().unwrap_or(reason).to_string();
                *stats.excluded.entry(head).or_default() += 1;
            }
        }
        let ps: Vec<PersonId> =
            s.roles.of(e).iter().filter(|r| r.held_on(as_of)).map(|r| s.person(r.person())).collect();
        let rec: Vec<&str> = s
            .inspections
            .of(e)
            .iter()
            .filter(|x| x.inspected_on > avoid_from && x.inspected_on <= as_of)
            .flat_map(|x| s.officers_of(x))
            .collect();
        b.push(NewEntity {
            uscc: r.uscc,
            stratum: key,
            probability_ppm: r.probability_ppm,
            exclusion: exclusion.as_deref(),
            city: r.city,
            items: &items,
            persons: &ps,
            recent_officers: &rec,
        })
        .map_err(|e| e.to_string())?;
    }
    let frame = b.build().map_err(|e| e.to_string())?;
    Ok((frame, stats))
}

/// Stores a frame as a credo-draw-v1 bundle without a result (a dummy
/// secret, no visits), so it is kept in the audited, canonical format and
/// read back with the bundle parser.
pub fn frame_file(frame: &Frame) -> String {
    let empty = draw::DrawResult { counts: Vec::new(), visits: Vec::new() };
    draw::Bundle::render_parts(frame, &[0u8; 32], &[], &empty)
}

pub fn read_frame_file(text: &str) -> Result<Frame, String> {
    draw::Bundle::parse(text).map(|b| b.frame).map_err(|e| format!("stored frame: {e}"))
}
