//! `rules.toml`: the rule set's name and version, which function answers
//! which question, what each reads, and the figures (parameters) the
//! scripts use.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::RuleError;
use super::facts::{Field, FieldMask};
use crate::i18n::Text;
use crate::tr;

/// The questions a rule set answers, in the order a run asks them. A stage
/// may read what earlier stages decided, never later ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Tolerance period for new-economy entities (plan （四）).
    Tolerance,
    /// Which records count: first-minor exemption, expiry, repair (（四）（六）).
    RecordStatus,
    /// Repeated violations → reminder → key-attention list (（四）三).
    Accumulation,
    /// The four credit tiers (（一）).
    Tier,
    /// Serious-dishonesty blacklist (（六）二).
    Blacklist,
    /// Which roles a blacklist flag reaches, and for how long (（六）二).
    PersonLink,
    /// What a flagged person brings to their other entities (（六）二).
    EntityLink,
    /// Risk level and yearly inspection probability (（二）（五）).
    Supervision,
}

impl Stage {
    pub const ALL: &'static [Stage] = &[
        Stage::Tolerance,
        Stage::RecordStatus,
        Stage::Accumulation,
        Stage::Tier,
        Stage::Blacklist,
        Stage::PersonLink,
        Stage::EntityLink,
        Stage::Supervision,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Tolerance => "tolerance",
            Stage::RecordStatus => "record_status",
            Stage::Accumulation => "accumulation",
            Stage::Tier => "tier",
            Stage::Blacklist => "blacklist",
            Stage::PersonLink => "person_link",
            Stage::EntityLink => "entity_link",
            Stage::Supervision => "supervision",
        }
    }

    fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.iter().copied().find(|st| st.name() == s)
    }

    /// Stages every rule set must define.
    pub fn required(self) -> bool {
        !matches!(self, Stage::Blacklist | Stage::PersonLink | Stage::EntityLink)
    }

    /// Whether the stage is called per entity (the others per graph link).
    pub fn per_entity(self) -> bool {
        !matches!(self, Stage::PersonLink | Stage::EntityLink)
    }

    /// The field this stage's answer is stored in, for later stages.
    fn produces(self) -> Option<Field> {
        match self {
            Stage::Tolerance => Some(Field::Tolerance),
            Stage::Accumulation => Some(Field::Accumulation),
            Stage::Tier => Some(Field::Tier),
            Stage::Blacklist => Some(Field::Blacklist),
            Stage::EntityLink => Some(Field::Propagation),
            Stage::RecordStatus | Stage::PersonLink | Stage::Supervision => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    version: String,
    #[serde(default)]
    description: String,
    entries: BTreeMap<String, RawEntry>,
    #[serde(default)]
    params: toml::Table,
    #[serde(default)]
    draw: DrawDefaults,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    file: String,
    function: String,
    clause: String,
    #[serde(default)]
    reads: Vec<String>,
}

/// Draw defaults a rule set gives plans (every figure lives in rules/).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DrawDefaults {
    /// Dimensions of a stratum: any of tier, city, county, risk, entity_type, section.
    #[serde(default = "default_strata")]
    pub strata: Vec<crate::model::StratumDimension>,
    /// Minimum sampling ratio of a quota stratum.
    #[serde(default = "default_min_ratio")]
    pub min_ratio: f64,
    /// Years within which an officer who inspected an entity must not again.
    #[serde(default = "default_avoid_years")]
    pub avoid_recent_years: i32,
    #[serde(default = "default_officers")]
    pub officers_per_visit: u32,
    #[serde(default = "default_cap")]
    pub max_visits_per_officer: u32,
    /// Tiers that get at most one random inspection a calendar year (plan （二）二).
    #[serde(default = "default_once_a_year")]
    pub once_a_year_tiers: Vec<u8>,
    /// Key special fields whose entities stay under full, strict
    /// supervision (plan （五）): no once-a-year cap, whatever the tier.
    #[serde(default = "default_key_fields")]
    pub once_a_year_exempt_key_fields: Vec<String>,
    /// Quota mode: the share of each stratum drawn, by tier (1..4), when
    /// strata are split by tier (empty: the plan's one ratio).
    #[serde(default)]
    pub quota_ratio_by_tier: Vec<f64>,
    /// Quota mode: the minimum share, by tier (empty: `min_ratio`).
    #[serde(default)]
    pub quota_min_ratio_by_tier: Vec<f64>,
    /// Where an entity's inspectors must come from: its `city` (default)
    /// or its `county` (the roster's region must then be a county).
    #[serde(default)]
    pub officers_from: OfficerArea,
    /// Share of approvals granted on a commitment checked afterwards (plan （三）一).
    #[serde(default = "default_commitment_ratio")]
    pub commitment_check_ratio: f64,
    /// What "once a year" means for `once_a_year_tiers`: the calendar year
    /// of the as-of date (default) or the 12 months before it.
    #[serde(default)]
    pub once_a_year_window: YearWindow,
}

fn default_once_a_year() -> Vec<u8> {
    vec![2, 3]
}
pub(crate) fn default_key_fields() -> Vec<String> {
    ["vaccine", "drug", "special_equipment", "hazardous_chemicals"].iter().map(|s| s.to_string()).collect()
}
fn default_commitment_ratio() -> f64 {
    0.1
}

fn default_strata() -> Vec<crate::model::StratumDimension> {
    vec![crate::model::StratumDimension::Tier, crate::model::StratumDimension::City]
}
fn default_min_ratio() -> f64 {
    0.03
}
/// The longest look-back for officers' earlier visits (years).
pub const MAX_AVOID_RECENT_YEARS: i32 = 50;

/// Parameter: the lowest tier of an entity a propagated blacklist flag
/// reached (plan （六）二). Absent: the flag changes the risk or the
/// key-attention list only, as the entity_link rule says, not the tier.
pub const PROPAGATED_FLAG_MIN_TIER: &str = "propagated_flag_min_tier";

fn default_avoid_years() -> i32 {
    3
}
fn default_officers() -> u32 {
    2
}
fn default_cap() -> u32 {
    30
}

impl Default for DrawDefaults {
    fn default() -> Self {
        DrawDefaults {
            strata: default_strata(),
            min_ratio: default_min_ratio(),
            avoid_recent_years: default_avoid_years(),
            officers_per_visit: default_officers(),
            max_visits_per_officer: default_cap(),
            once_a_year_tiers: default_once_a_year(),
            once_a_year_exempt_key_fields: default_key_fields(),
            quota_ratio_by_tier: Vec::new(),
            quota_min_ratio_by_tier: Vec::new(),
            officers_from: OfficerArea::default(),
            commitment_check_ratio: default_commitment_ratio(),
            once_a_year_window: YearWindow::default(),
        }
    }
}

/// The period "at most once a year" counts over (plan （二）二).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum YearWindow {
    /// 1 January to the as-of date.
    #[default]
    Calendar,
    /// The 12 months up to the as-of date.
    Rolling,
}

impl YearWindow {
    pub fn is_calendar(&self) -> bool {
        *self == YearWindow::Calendar
    }

    /// The first day of the window ending on `as_of`.
    pub fn start(self, as_of: crate::model::Date) -> crate::model::Date {
        use chrono::Datelike;
        match self {
            YearWindow::Calendar => as_of.with_ordinal(1).unwrap_or(as_of),
            YearWindow::Rolling => {
                as_of.checked_sub_months(chrono::Months::new(12)).and_then(|d| d.succ_opt()).unwrap_or(as_of)
            }
        }
    }
}

/// The area inspectors of an entity must come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OfficerArea {
    #[default]
    City,
    County,
}

/// One entry point: the function answering a stage's question.
#[derive(Clone, Debug)]
pub struct Entry {
    pub stage: Stage,
    pub file: String,
    pub function: String,
    /// The plan's clause this entry implements, e.g. "（一）".
    pub clause: String,
    pub reads: FieldMask,
}

#[derive(Clone, Debug)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub description: String,
    pub entries: BTreeMap<Stage, Entry>,
    pub params: toml::Table,
    pub draw: DrawDefaults,
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, RuleError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unzip();
            RuleError::at("rules.toml", line, column, e.message().to_string())
        })?;
        let fail = |m: Text| Err(RuleError::said("rules.toml", None, None, m));
        let mut entries = BTreeMap::new();
        for (name, e) in raw.entries {
            let Some(stage) = Stage::parse(&name) else {
                let known: Vec<_> = Stage::ALL.iter().map(|s| s.name()).collect();
                let known = known.join(", ");
                return fail(tr!(
                    "未知的入口“{name}”；可用的入口有：{known}",
                    "unknown entry '{name}'; entries are: {known}"
                ));
            };
            let mut reads = FieldMask::default();
            for r in &e.reads {
                let Some(f) = Field::parse(r) else {
                    let known: Vec<_> = Field::ALL.iter().map(|(_, n)| *n).collect();
                    let known = known.join(", ");
                    return fail(tr!(
                        "entries.{name}.reads：未知字段“{r}”；可用的字段有：{known}",
                        "entries.{name}.reads: unknown field '{r}'; fields are: {known}"
                    ));
                };
                let producer = if f == Field::CurrentRecords {
                    Some(Stage::RecordStatus)
                } else {
                    Stage::ALL.iter().copied().find(|s| s.produces() == Some(f))
                };
                if let Some(producer) = producer
                    && producer >= stage
                {
                    let producer = producer.name();
                    return fail(tr!(
                        "entries.{name}.reads：“{r}”由 {producer} 阶段决定，而该阶段在 {name} 之后运行",
                        "entries.{name}.reads: '{r}' is decided by the {producer} stage, which runs after {name}"
                    ));
                }
                reads = reads.with(f);
            }
            if !e.file.ends_with(".rhai") || e.file.contains('/') || e.file.contains('\\') {
                let file = &e.file;
                return fail(tr!(
                    "entries.{name}.file：“{file}”须为规则目录中的 .rhai 文件",
                    "entries.{name}.file: '{file}' must be a .rhai file in the rule directory"
                ));
            }
            entries.insert(stage, Entry { stage, file: e.file, function: e.function, clause: e.clause, reads });
        }
        for s in Stage::ALL.iter().filter(|s| s.required()) {
            if !entries.contains_key(s) {
                let s = s.name();
                return fail(tr!("缺少入口 [entries.{s}]", "missing entry [entries.{s}]"));
            }
        }
        let has = |s: Stage| entries.contains_key(&s);
        if has(Stage::PersonLink) != has(Stage::EntityLink) || (has(Stage::PersonLink) && !has(Stage::Blacklist)) {
            return fail(tr!(
                "联合惩戒延伸需要同时给出 [entries.blacklist]、[entries.person_link] 和 [entries.entity_link]",
                "propagation needs all of [entries.blacklist], [entries.person_link] and [entries.entity_link]"
            ));
        }
        if !(0..=MAX_AVOID_RECENT_YEARS).contains(&raw.draw.avoid_recent_years) {
            let found = raw.draw.avoid_recent_years;
            return fail(tr!(
                "draw.avoid_recent_years 须在 0 到 {MAX_AVOID_RECENT_YEARS} 之间，实为 {found}",
                "draw.avoid_recent_years must be between 0 and {MAX_AVOID_RECENT_YEARS}, found {found}"
            ));
        }
        if !(0.0..=1.0).contains(&raw.draw.min_ratio) {
            let found = raw.draw.min_ratio;
            return fail(tr!(
                "draw.min_ratio 须在 0 到 1 之间，实为 {found}",
                "draw.min_ratio must be between 0 and 1, found {found}"
            ));
        }
        if !(0.0..=1.0).contains(&raw.draw.commitment_check_ratio) {
            let found = raw.draw.commitment_check_ratio;
            return fail(tr!(
                "draw.commitment_check_ratio 须在 0 到 1 之间，实为 {found}",
                "draw.commitment_check_ratio must be between 0 and 1, found {found}"
            ));
        }
        if let Some(v) = raw.params.get(PROPAGATED_FLAG_MIN_TIER)
            && !v.as_integer().is_some_and(|t| (1..=4).contains(&t))
        {
            return fail(tr!(
                "params.{PROPAGATED_FLAG_MIN_TIER} 须为 1 到 4 的信用等级，实为 {v}",
                "params.{PROPAGATED_FLAG_MIN_TIER} must be a tier 1 to 4, found {v}"
            ));
        }
        if raw.draw.officers_per_visit < 2 {
            return fail(tr!(
                "draw.officers_per_visit 至少为 2（每次检查两名执法人员）",
                "draw.officers_per_visit must be at least 2 (two officers per inspection)"
            ));
        }
        Ok(Manifest {
            name: raw.name,
            version: raw.version,
            description: raw.description,
            entries,
            params: raw.params,
            draw: raw.draw,
        })
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
