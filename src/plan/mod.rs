//! Inspection plans: what a plan asks for, and the draw frame built for it
//! from a classification, the dataset and the inspection history.
//!
//! Invariants: no IO. Eligibility comes from the rule set (a probability of
//! zero means "not inspected at random") and from history (tiers the rules
//! name get at most one random inspection a calendar year); every entity of
//! the classification is in the frame, eligible or with the reason it is
//! not, and every reason names its source (the dataset, the rules, or the
//! earlier plan whose visit it was), so nothing drops out silently and the
//! frame can be rebuilt from public material. New frames are credo-draw-v2:
//! they carry the plan's beacon rule and provenance.
//!
//! Long on purpose: the frame's eligibility rules are read together
//! (the unit tests cover the parameters' invariants).

use std::collections::BTreeMap;

use chrono::Datelike;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::classify::facts::DepartmentIndex;
use crate::draw::{self, BeaconRule, Frame, FrameBuilder, NewEntity, Provenance, Stratum, StratumMode};
use crate::engine::DrawDefaults;
use crate::model::*;
use crate::snapshot::{EntityId, Snapshot};

/// Why a plan cannot be made as asked.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Parameters out of bounds or inconsistent with the dataset.
    #[error("{0}")]
    Invalid(crate::i18n::Text),
    /// The frame refused an entity or the plan (draw's own checks).
    #[error("{0}")]
    Draw(#[from] draw::DrawError),
}

/// What a plan draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// Random inspections by tier and risk (plan （二）).
    Random,
    /// Post-approval checks of approvals granted on a commitment (plan （三）一).
    CommitmentCheck,
}

impl PlanKind {
    pub const ALL: &'static [PlanKind] = &[PlanKind::Random, PlanKind::CommitmentCheck];

    /// The stable code (stored, audited, written into frames).
    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::Random => "random",
            PlanKind::CommitmentCheck => "commitment_check",
        }
    }
}

impl std::fmt::Display for PlanKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PlanKind {
    type Err = UnknownCode;
    fn from_str(s: &str) -> Result<PlanKind, UnknownCode> {
        PlanKind::ALL.iter().copied().find(|k| k.as_str() == s).ok_or_else(|| UnknownCode {
            value: s.to_string(),
            allowed: PlanKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
        })
    }
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
    pub strata: Vec<StratumDimension>,
    pub officers_per_visit: u32,
    pub max_visits_per_officer: u32,
    pub avoid_recent_years: i32,
    pub once_a_year_tiers: Vec<u8>,
    /// Key special fields exempt from the once-a-year cap (plan （五）).
    /// Plans made before this existed had none.
    #[serde(default)]
    pub once_a_year_exempt_key_fields: Vec<String>,
    /// Quota share and minimum by tier (1..4); empty: `ratio`, `min_ratio`.
    #[serde(default)]
    pub quota_ratio_by_tier: Vec<f64>,
    #[serde(default)]
    pub quota_min_ratio_by_tier: Vec<f64>,
    /// Where inspectors come from: the entity's city (as before) or county.
    #[serde(default)]
    pub officers_from: crate::engine::OfficerArea,
    /// The once-a-year window; plans made before it existed (and calendar
    /// ones, which keep their recorded bytes) do not write it.
    #[serde(default, skip_serializing_if = "crate::engine::YearWindow::is_calendar")]
    pub once_a_year_window: crate::engine::YearWindow,
    pub as_of: Date,
    /// When assignments become visible to officers (RFC 3339).
    pub release_at: String,
    /// The public randomness the plan will combine with its secret, named
    /// in advance (empty exactly when the rule is `none`).
    pub beacon_source: String,
    /// How the published beacon value becomes bytes; `none`: no beacon.
    #[serde(default)]
    pub beacon_rule: BeaconRule,
    /// When the beacon value will be published (RFC 3339; empty for none).
    #[serde(default)]
    pub beacon_published_at: String,
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
            once_a_year_exempt_key_fields: d.once_a_year_exempt_key_fields.clone(),
            quota_ratio_by_tier: if kind == PlanKind::CommitmentCheck {
                Vec::new()
            } else {
                d.quota_ratio_by_tier.clone()
            },
            quota_min_ratio_by_tier: if kind == PlanKind::CommitmentCheck {
                Vec::new()
            } else {
                d.quota_min_ratio_by_tier.clone()
            },
            officers_from: d.officers_from,
            once_a_year_window: d.once_a_year_window,
            as_of,
            release_at: String::new(),
            beacon_source: String::new(),
            beacon_rule: BeaconRule::None,
            beacon_published_at: String::new(),
        }
    }

    pub fn validate(&self, departments: &[Department]) -> Result<(), PlanError> {
        if self.departments.is_empty() {
            return Err(PlanError::Invalid(crate::tr!(
                "计划至少需要一个参与部门",
                "a plan needs at least one participating department"
            )));
        }
        for d in &self.departments {
            if !departments.iter().any(|x| &x.code == d) {
                let known = departments.iter().map(|x| x.code.as_str()).collect::<Vec<_>>().join(", ");
                return Err(PlanError::Invalid(crate::tr!(
                    "部门 '{d}' 不在数据集中（已有：{known}）",
                    "department '{d}' is not in the dataset ({known})"
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.ratio) || !(0.0..=1.0).contains(&self.min_ratio) {
            return Err(PlanError::Invalid(crate::tr!("抽查比例须在 0 到 1 之间", "ratios must be between 0 and 1")));
        }
        for (name, list) in [
            ("quota_ratio_by_tier", &self.quota_ratio_by_tier),
            ("quota_min_ratio_by_tier", &self.quota_min_ratio_by_tier),
        ] {
            if !list.is_empty() && list.len() != 4 {
                let n = list.len();
                return Err(PlanError::Invalid(crate::tr!(
                    "{name} 须为每个信用等级各给一个比例（4 个），实为 {n} 个",
                    "{name} needs one share per tier (4), found {n}"
                )));
            }
            if let Some(x) = list.iter().find(|x| !(0.0..=1.0).contains(*x)) {
                return Err(PlanError::Invalid(crate::tr!(
                    "{name}：{x} 不在 0 到 1 之间",
                    "{name}: {x} is not between 0 and 1"
                )));
            }
        }
        if !(0..=crate::engine::manifest::MAX_AVOID_RECENT_YEARS).contains(&self.avoid_recent_years) {
            let (max, found) = (crate::engine::manifest::MAX_AVOID_RECENT_YEARS, self.avoid_recent_years);
            return Err(PlanError::Invalid(crate::tr!(
                "avoid_recent_years 须在 0 到 {max} 之间，实为 {found}",
                "avoid_recent_years must be between 0 and {max}, found {found}"
            )));
        }
        if self.officers_per_visit < 2 {
            return Err(PlanError::Invalid(crate::tr!("每次检查至少两名执法人员", "at least two officers per visit")));
        }
        if chrono::DateTime::parse_from_rfc3339(&self.release_at).is_err() {
            let at = &self.release_at;
            return Err(PlanError::Invalid(crate::tr!(
                "公布时间 '{at}' 不是 RFC 3339 格式（例如 2026-07-01T09:00:00+08:00）",
                "release time '{at}' is not RFC 3339 (e.g. 2026-07-01T09:00:00+08:00)"
            )));
        }
        match self.beacon_rule {
            BeaconRule::None if !self.beacon_source.is_empty() || !self.beacon_published_at.is_empty() => {
                let source = &self.beacon_source;
                return Err(PlanError::Invalid(crate::tr!(
                    "指定了公开随机源 '{source}'，但没有给出其取值规则：请给出其值如何转为字节（text、digits 或 hex）以及公布时间",
                    "the beacon source '{source}' is named but no beacon rule: give how its value becomes bytes \
                     (text, digits or hex) and when it is published"
                )));
            }
            BeaconRule::None => {}
            rule => {
                if self.beacon_source.trim().is_empty() {
                    return Err(PlanError::Invalid(crate::tr!(
                        "公开随机源规则 {rule} 需要写明随机源（谁在何处公布什么）",
                        "beacon rule {rule} needs the beacon source (who publishes what, where)"
                    )));
                }
                if chrono::DateTime::parse_from_rfc3339(&self.beacon_published_at).is_err() {
                    let at = &self.beacon_published_at;
                    return Err(PlanError::Invalid(crate::tr!(
                        "随机源公布时间 '{at}' 不是 RFC 3339 格式（例如 2026-07-01T21:30:00+08:00）",
                        "beacon publication time '{at}' is not RFC 3339 (e.g. 2026-07-01T21:30:00+08:00)"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether the once-a-year cap applies to an entity of `tier` with
    /// these key special fields: tiers the rules name, except entities in
    /// an exempt key field, which stay under full supervision (（五）).
    pub fn once_a_year_applies(&self, tier: u8, key_fields: KeyFields) -> bool {
        self.once_a_year_tiers.contains(&tier)
            && !key_fields.iter().any(|k| self.once_a_year_exempt_key_fields.iter().any(|x| x == k.as_str()))
    }

    /// Quota share and minimum share of a stratum of `tier` (`None`: the
    /// strata are not split by tier), in parts per million.
    pub fn quota_for(&self, tier: Option<u8>) -> (u32, u32) {
        let pick = |list: &[f64], default: f64| {
            tier.and_then(|t| list.get(usize::from(t).wrapping_sub(1))).copied().unwrap_or(default)
        };
        (ppm(pick(&self.quota_ratio_by_tier, self.ratio)), ppm(pick(&self.quota_min_ratio_by_tier, self.min_ratio)))
    }

    /// The beacon publication time in UTC, `YYYY-MM-DDTHH:MM:SSZ` (empty
    /// without a beacon).
    pub fn beacon_published_utc(&self) -> String {
        chrono::DateTime::parse_from_rfc3339(&self.beacon_published_at)
            .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    }
}

/// What inspected an entity at random earlier in the year.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InspectedBy {
    /// An inspection recorded in the dataset.
    Dataset { inspection_id: String },
    /// A staffed visit of an earlier plan (global plan id).
    Plan { plan_id: String, visit: i64 },
}

impl std::fmt::Display for InspectedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InspectedBy::Dataset { inspection_id } => write!(f, "dataset, inspection {inspection_id}"),
            InspectedBy::Plan { plan_id, visit } => write!(f, "plan {plan_id}, visit {visit}"),
        }
    }
}

/// Random inspections already made or drawn, per entity, in a year.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Entity → what inspected it first.
    pub random_this_year: FxHashMap<Uscc, InspectedBy>,
}

impl History {
    /// Random inspections in the dataset from `from` to `as_of`, both
    /// included (the once-a-year window).
    pub fn from_snapshot(s: &Snapshot, from: Date, as_of: Date) -> History {
        let mut h = History::default();
        for e in 0..s.len() as EntityId {
            let first = s.inspections.of(e).iter().find(|x| {
                matches!(x.kind, InspectionKind::Random | InspectionKind::JointRandom)
                    && x.inspected_on >= from
                    && x.inspected_on <= as_of
            });
            if let Some(x) = first {
                h.random_this_year.insert(
                    s.entities.uscc[e as usize],
                    InspectedBy::Dataset { inspection_id: s.text(x.inspection_id).to_string() },
                );
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
    /// Kind of exclusion (with its source) → entities.
    pub excluded: BTreeMap<String, usize>,
}

/// Why an entity is in the frame but not eligible. Its text (Display) is
/// the exclusion reason written into the frame, ending with its source.
#[derive(Clone, Copy, Debug)]
enum Exclusion<'a> {
    NotActive(EntityStatus),
    NoItems { departments: &'a str },
    NoPendingApproval,
    NoRandomInspection { reason: &'a str },
    AlreadyInspected { tier: u8, window: Window, by: &'a InspectedBy },
}

/// The once-a-year window an earlier random inspection fell in.
#[derive(Clone, Copy, Debug)]
enum Window {
    /// The calendar year.
    Year(i32),
    /// The 12 months starting on this day.
    Since(Date),
}

impl Exclusion<'_> {
    /// The kind, for the frame's counts.
    fn kind(&self) -> String {
        match self {
            Exclusion::NotActive(_) => "not active (source: dataset)".into(),
            Exclusion::NoItems { .. } => "no applicable inspection item (source: dataset)".into(),
            Exclusion::NoPendingApproval => {
                "no approval granted on a commitment awaiting verification (source: dataset)".into()
            }
            Exclusion::NoRandomInspection { .. } => "no random inspection under the rules (source: rules)".into(),
            Exclusion::AlreadyInspected { tier, window, by } => {
                let source = match by {
                    InspectedBy::Dataset { .. } => "dataset",
                    InspectedBy::Plan { .. } => "earlier plans",
                };
                let when = match window {
                    Window::Year(_) => "this year",
                    Window::Since(_) => "within 12 months",
                };
                format!("tier {tier}: already randomly inspected {when} (source: {source})")
            }
        }
    }
}

impl std::fmt::Display for Exclusion<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exclusion::NotActive(status) => write!(f, "not active: {status} (source: dataset, entity status)"),
            Exclusion::NoItems { departments } => write!(
                f,
                "no applicable inspection item of {departments} (source: dataset, inspection items of the entity's industry)"
            ),
            Exclusion::NoPendingApproval => {
                f.write_str("no approval granted on a commitment awaiting verification (source: dataset, commitments)")
            }
            Exclusion::NoRandomInspection { reason } => {
                write!(f, "no random inspection under the rules: {reason} (source: rules, supervision stage)")
            }
            Exclusion::AlreadyInspected { tier, window: Window::Year(year), by } => {
                write!(f, "tier {tier}: already randomly inspected in {year} (source: {by})")
            }
            Exclusion::AlreadyInspected { tier, window: Window::Since(since), by } => {
                write!(f, "tier {tier}: already randomly inspected since {since} (source: {by})")
            }
        }
    }
}

/// What decides eligibility, besides the entity's own classification.
struct Eligibility<'a> {
    s: &'a Snapshot,
    params: &'a PlanParams,
    history: &'a History,
    /// The plan's departments, joined for reasons.
    departments: String,
}

impl Eligibility<'_> {
    /// An approval granted on a commitment that is awaiting verification
    /// and that one of the plan's departments may settle (its own, or any
    /// when the dataset does not say whose it is).
    fn pending_approval(&self, e: EntityId) -> bool {
        let as_of = self.params.as_of;
        self.s.commitments.of(e).iter().any(|c| {
            c.kind == CommitmentKind::ApprovalSubstitute
                && c.made_on <= as_of
                && (c.status == CommitmentStatus::Pending || c.checked_on.is_none_or(|d| d > as_of))
                && c.department.is_none_or(|d| self.params.departments.iter().any(|p| p == self.s.sym(d)))
        })
    }

    /// Why `r` (entity `e`) is not eligible, or `None`. The first reason
    /// in this order wins.
    fn exclusion<'b>(&'b self, r: &'b PlanEntity, e: EntityId, has_items: bool) -> Option<Exclusion<'b>> {
        let status = self.s.entities.status[e as usize];
        if status != EntityStatus::Active {
            Some(Exclusion::NotActive(status))
        } else if !has_items {
            Some(Exclusion::NoItems { departments: &self.departments })
        } else if self.params.kind == PlanKind::CommitmentCheck {
            (!self.pending_approval(e)).then_some(Exclusion::NoPendingApproval)
        } else if r.probability_ppm == 0 {
            Some(Exclusion::NoRandomInspection { reason: &r.supervision_reason })
        } else if self.params.once_a_year_applies(r.tier, self.s.entities.key_fields[e as usize])
            && let Some(by) = self.history.random_this_year.get(&r.uscc)
        {
            let (as_of, window) = (self.params.as_of, self.params.once_a_year_window);
            let window = match window {
                crate::engine::YearWindow::Calendar => Window::Year(as_of.year()),
                crate::engine::YearWindow::Rolling => Window::Since(window.start(as_of)),
            };
            Some(Exclusion::AlreadyInspected { tier: r.tier, window, by })
        } else {
            None
        }
    }
}

/// Who a new frame belongs to: its plan id and commitment, and for
/// credo-draw-v2 its provenance (its `excluded_by` is filled in here).
#[derive(Clone, Debug)]
pub struct FrameIdentity {
    pub plan_id: String,
    pub commitment: draw::Hash,
    /// `None` builds a credo-draw-v1 frame (kept for tests and old plans).
    pub provenance: Option<Provenance>,
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
            risk: r.risk_code().to_string(),
            probability_ppm: r.probability_ppm,
            city: r.city,
            county: r.county,
            supervision_reason: r
                .decisions
                .iter()
                .rev()
                .find(|d| d.stage() == crate::engine::Stage::Supervision)
                .map(|d| d.decision().reason.clone())
                .unwrap_or_default(),
        }
    }
}

fn stratum_key(
    dims: &[StratumDimension],
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
        let v = match d {
            StratumDimension::Tier if kind == PlanKind::CommitmentCheck => continue,
            StratumDimension::Tier => r.tier.to_string(),
            StratumDimension::City => r.city.to_string(),
            StratumDimension::County => r.county.to_string(),
            StratumDimension::Risk => r.risk.to_string(),
            StratumDimension::EntityType => entity_type.to_string(),
            StratumDimension::Section => industry.section().to_string(),
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
    identity: &FrameIdentity,
    history: &History,
) -> Result<(Frame, FrameStats), PlanError> {
    let as_of = params.as_of;
    let avoid_from = as_of
        .checked_sub_months(chrono::Months::new(12u32.saturating_mul(params.avoid_recent_years.max(0) as u32)))
        .unwrap_or(as_of);

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
    // The mode of a stratum: quota shares may differ by tier (the county
    // practice: B 5–20%, C 21–60%, D 61–100%).
    let by_tier = params.kind != PlanKind::CommitmentCheck && params.strata.contains(&StratumDimension::Tier);
    let mode_of = |key: &str| match params.mode {
        SelectionMode::Probability => StratumMode::Probability,
        SelectionMode::Quota => {
            let tier = by_tier
                .then(|| key.split('|').find_map(|p| p.strip_prefix("tier=")).and_then(|t| t.parse::<u8>().ok()))
                .flatten();
            let (ratio_ppm, min_ratio_ppm) = params.quota_for(tier);
            StratumMode::Quota { ratio_ppm, min_ratio_ppm }
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
    let strata: Vec<Stratum> = distinct.into_iter().map(|key| Stratum { mode: mode_of(&key), key }).collect();
    let plan = draw::Plan {
        plan_id: identity.plan_id.clone(),
        departments: params.departments.clone(),
        officers_per_visit: params.officers_per_visit,
        max_visits_per_officer: params.max_visits_per_officer,
        commitment: identity.commitment,
        beacon_source: params.beacon_source.clone(),
    };
    let ctx = Eligibility { s, params, history, departments: params.departments.join(", ") };
    let has_items = |e: EntityId| {
        let i = e as usize;
        !departments.items_for(s.entities.industry[i], s.entities.key_fields[i], &params.departments).is_empty()
    };
    let mut b = match &identity.provenance {
        None => FrameBuilder::new(plan, strata, officers),
        Some(p) => {
            // The earlier plans this frame depends on, named up front.
            let mut excluded_by: Vec<String> = Vec::new();
            for (r, id) in entities.iter().zip(&ids) {
                if !matches!(history.random_this_year.get(&r.uscc), Some(InspectedBy::Plan { .. })) {
                    continue;
                }
                if let Some(e) = *id
                    && let Some(Exclusion::AlreadyInspected { by: InspectedBy::Plan { plan_id, .. }, .. }) =
                        ctx.exclusion(r, e, has_items(e))
                    && !excluded_by.contains(plan_id)
                {
                    excluded_by.push(plan_id.clone());
                }
            }
            let mut provenance = p.clone();
            provenance.excluded_by = excluded_by;
            let header = draw::V2Header {
                beacon_rule: params.beacon_rule,
                beacon_published_at: params.beacon_published_utc(),
                provenance,
            };
            FrameBuilder::new_v2(plan, header, strata, officers)
        }
    }?;
    b.reserve(entities.len());
    let mut stats = FrameStats { entities: entities.len(), ..FrameStats::default() };
    let mut reason = String::new();
    for ((r, key), id) in entities.iter().zip(&keys).zip(&ids) {
        let Some(e) = *id else {
            let uscc = &r.uscc;
            return Err(PlanError::Invalid(crate::tr!(
                "分级结果中的主体 {uscc} 不在数据集中",
                "classified entity {uscc} is not in the dataset"
            )));
        };
        let i = e as usize;
        let items = departments.items_for(s.entities.industry[i], s.entities.key_fields[i], &params.departments);
        let exclusion = ctx.exclusion(r, e, !items.is_empty());
        match &exclusion {
            None => stats.eligible += 1,
            Some(x) => {
                *stats.excluded.entry(x.kind()).or_default() += 1;
                reason.clear();
                std::fmt::Write::write_fmt(&mut reason, format_args!("{x}")).expect("a String takes any text");
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
            exclusion: exclusion.is_some().then_some(reason.as_str()),
            // The area officers must share with the entity.
            city: match params.officers_from {
                crate::engine::OfficerArea::City => r.city,
                crate::engine::OfficerArea::County => r.county,
            },
            items: &items,
            persons: &ps,
            recent_officers: &rec,
        })?;
    }
    let frame = b.build()?;
    Ok((frame, stats))
}

/// Stores a frame as a bundle of its version without a result (a dummy
/// secret, no visits, no beacon value), so it is kept in the audited,
/// canonical format and read back with the bundle parser.
pub fn frame_file(frame: &Frame) -> String {
    let empty = draw::DrawResult { counts: Vec::new(), visits: Vec::new() };
    draw::Bundle::render_parts(frame, &[0u8; 32], &[], &empty)
}

pub fn read_frame_file(text: &str) -> Result<Frame, draw::DrawError> {
    draw::Bundle::parse(text).map(|b| b.frame)
}

#[cfg(test)]
mod tests {
    //! Invariants of plan parameters: codes, bounds, quota shares and the
    //! once-a-year cap.
    use super::*;

    fn params(kind: PlanKind) -> PlanParams {
        let as_of = Date::from_ymd_opt(2026, 6, 30).unwrap();
        let mut p = PlanParams::with_defaults("t", kind, vec!["MR".into()], as_of, &DrawDefaults::default());
        p.release_at = "2026-07-01T09:00:00+08:00".into();
        p
    }

    fn departments() -> Vec<Department> {
        vec![Department { code: "MR".into(), name: "Market regulation".into() }]
    }

    #[test]
    fn plan_kind_codes_are_their_serde_form_and_parse_back() {
        for &k in PlanKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(k.as_str().parse::<PlanKind>().unwrap(), k);
        }
        assert!("reminder".parse::<PlanKind>().is_err());
    }

    #[test]
    fn defaults_validate_and_bounds_are_refused() {
        let ok = params(PlanKind::Random);
        assert!(ok.validate(&departments()).is_ok());
        for (field, bad) in [
            ("avoid_recent_years", {
                let mut p = ok.clone();
                p.avoid_recent_years = -1;
                p
            }),
            ("avoid_recent_years", {
                let mut p = ok.clone();
                p.avoid_recent_years = i32::MAX;
                p
            }),
            ("ratios", {
                let mut p = ok.clone();
                p.ratio = 1.5;
                p
            }),
            ("department", {
                let mut p = ok.clone();
                p.departments = vec!["XX".into()];
                p
            }),
            ("officers", {
                let mut p = ok.clone();
                p.officers_per_visit = 1;
                p
            }),
        ] {
            let e = bad.validate(&departments()).expect_err(field).to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn quota_shares_by_tier_fall_back_to_the_plan_ratio() {
        let mut p = params(PlanKind::Random);
        p.ratio = 0.05;
        p.min_ratio = 0.01;
        p.quota_ratio_by_tier = vec![0.0, 0.1, 0.2, 0.3];
        p.quota_min_ratio_by_tier.clear();
        assert_eq!(p.quota_for(Some(3)), (200_000, 10_000));
        assert_eq!(p.quota_for(None), (50_000, 10_000));
        assert_eq!(p.quota_for(Some(9)), (50_000, 10_000), "a tier the list does not name takes the plan ratio");
    }

    #[test]
    fn the_once_a_year_window_is_the_calendar_year_or_twelve_months() {
        use crate::engine::YearWindow;
        let d = |y, m, day| Date::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(YearWindow::Calendar.start(d(2026, 6, 30)), d(2026, 1, 1));
        assert_eq!(YearWindow::Rolling.start(d(2026, 6, 30)), d(2025, 7, 1));
        assert_eq!(YearWindow::Rolling.start(d(2024, 2, 29)), d(2023, 3, 1));
        // A calendar plan's recorded parameters are the bytes they were
        // before the window existed; a rolling plan names its window.
        let mut p = params(PlanKind::Random);
        assert!(!serde_json::to_string(&p).unwrap().contains("once_a_year_window"));
        p.once_a_year_window = YearWindow::Rolling;
        let text = serde_json::to_string(&p).unwrap();
        assert!(text.contains(r#""once_a_year_window":"rolling""#), "{text}");
        assert_eq!(serde_json::from_str::<PlanParams>(&text).unwrap(), p);
    }

    #[test]
    fn the_once_a_year_cap_spares_exempt_key_fields() {
        let mut p = params(PlanKind::Random);
        p.once_a_year_tiers = vec![1];
        p.once_a_year_exempt_key_fields = vec!["drug".into()];
        let drug = KeyFields::parse_list("drug").unwrap();
        assert!(p.once_a_year_applies(1, KeyFields::default()));
        assert!(!p.once_a_year_applies(1, drug), "an exempt key field stays under full supervision");
        assert!(!p.once_a_year_applies(2, KeyFields::default()), "a tier the rules do not name");
    }
}
