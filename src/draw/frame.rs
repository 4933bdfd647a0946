//! The frame: every recorded input of a draw, as plain data.
//!
//! Entities are stored column-wise: strata, items, exclusion reasons and
//! recent officer ids are interned into tables, and per-entity lists are
//! flat vectors indexed by offsets (CSR), so a 15-million-entity frame costs
//! no allocation per entity. A built frame is canonical: entities sorted by
//! USCC, officers by id, strata by key, every list sorted and deduplicated.
//!
//! Long on purpose: the frame's layout, its builder and its canonical
//! hash must agree byte for byte (docs/draw-spec.md §3).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::DrawError;
use super::text::code_problem;
use super::ticket::Hash;
use crate::model::{PersonId, Uscc};

/// Plan parameters, fixed when the plan is created (before the draw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub plan_id: String,
    /// Participating department codes ("MR", "MPA", ...). Sorted and
    /// deduplicated by the builder.
    pub departments: Vec<String>,
    /// Officers sent on each visit (at least 2).
    pub officers_per_visit: u32,
    /// Workload cap: visits one officer may be assigned in this draw.
    pub max_visits_per_officer: u32,
    /// SHA-256 of the secret, recorded at plan creation.
    pub commitment: Hash,
    /// Names the public randomness that will be used as the beacon (for
    /// example a lottery draw on a given date), or empty for none.
    pub beacon_source: String,
}

/// How a published beacon value becomes the beacon bytes (credo-draw-v2,
/// docs/draw-spec.md §4.2). Fixed when the plan is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BeaconRule {
    /// The plan has no beacon: the beacon bytes are empty.
    #[default]
    None,
    /// The value exactly as published, as UTF-8 (no leading or trailing
    /// white space).
    Text,
    /// The decimal digits of the value, in order, as ASCII; everything
    /// else is ignored (lottery numbers: "5 2 7" gives "527").
    Digits,
    /// The value is hexadecimal (either case); the bytes it encodes.
    Hex,
}

impl BeaconRule {
    pub const ALL: [BeaconRule; 4] = [BeaconRule::None, BeaconRule::Text, BeaconRule::Digits, BeaconRule::Hex];

    pub fn as_str(self) -> &'static str {
        match self {
            BeaconRule::None => "none",
            BeaconRule::Text => "text",
            BeaconRule::Digits => "digits",
            BeaconRule::Hex => "hex",
        }
    }

    /// The beacon bytes of a published value, or why the value does not fit
    /// the rule. An empty value is refused by every rule but `none`, and
    /// `none` refuses every value but the empty one.
    pub fn bytes(self, value: &str) -> Result<Vec<u8>, BeaconRefused> {
        let value_ = || value.to_string();
        match self {
            BeaconRule::None if value.is_empty() => Ok(Vec::new()),
            BeaconRule::None => Err(BeaconRefused::NoneNamed { value: value_() }),
            _ if value.is_empty() => Err(BeaconRefused::Empty),
            BeaconRule::Text => {
                if value.trim() != value {
                    return Err(BeaconRefused::Spaces);
                }
                Ok(value.as_bytes().to_vec())
            }
            BeaconRule::Digits => {
                let d: Vec<u8> = value.bytes().filter(u8::is_ascii_digit).collect();
                if d.is_empty() {
                    return Err(BeaconRefused::NoDigits { value: value_() });
                }
                Ok(d)
            }
            BeaconRule::Hex => hex::decode(value.to_ascii_lowercase())
                .map_err(|e| BeaconRefused::NotHex { value: value_(), reason: e.to_string() }),
        }
    }
}

impl std::fmt::Display for BeaconRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a published value cannot be a plan's beacon under its rule, or
/// (checking a bundle) why its beacon is not the one the plan named.
/// `Display` is the English; [`BeaconRefused::text`] gives both.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BeaconRefused {
    #[error("the plan names no beacon, but the beacon value '{value}' was given")]
    NoneNamed { value: String },
    #[error("the plan names a beacon, but the beacon value is empty")]
    Empty,
    #[error("rule text: the value may not start or end with white space")]
    Spaces,
    #[error("rule digits: the value '{value}' has no decimal digit")]
    NoDigits { value: String },
    /// `reason`: the decoder's message, as it is.
    #[error("rule hex: the value '{value}' is not hexadecimal: {reason}")]
    NotHex { value: String, reason: String },
    /// A bundle whose plan names no beacon used one.
    #[error(
        "beacon: the plan names no beacon (beacon_rule=none), but the draw used beacon value '{value}' (bytes {bytes})"
    )]
    UsedUnnamed { value: String, bytes: String },
    #[error("beacon: the plan names no beacon, but a time the beacon was supplied is recorded")]
    SuppliedUnnamed,
    #[error(
        "beacon: the plan names the beacon '{named}' (rule {rule}), but the draw used none: the beacon was dropped"
    )]
    Dropped { named: String, rule: BeaconRule },
    /// The recorded value does not fit the plan's rule.
    #[error("beacon: {0}")]
    Recorded(Box<BeaconRefused>),
    #[error("beacon: rule {rule} makes bytes {want} of the recorded value '{value}', but the draw used {used}")]
    OtherBytes { rule: BeaconRule, want: String, value: String, used: String },
    #[error("beacon: supplied at '{0}', not a UTC time YYYY-MM-DDTHH:MM:SSZ")]
    BadTime(String),
    #[error("beacon: supplied at {supplied}, before its announced publication at {published}")]
    Early { supplied: String, published: String },
    #[error(
        "beacon: the bundle records the value '{recorded}', but the value given as published is '{given}': the beacon was swapped"
    )]
    Swapped { recorded: String, given: String },
}

impl BeaconRefused {
    /// Why, in both languages (values, bytes and rule names as they are).
    pub fn text(&self) -> crate::i18n::Text {
        crate::i18n::Text::new(self.zh(), self.to_string())
    }

    fn zh(&self) -> String {
        match self {
            BeaconRefused::NoneNamed { value } => format!("计划未指定随机信标，却给出了信标值“{value}”"),
            BeaconRefused::Empty => "计划指定了随机信标，但信标值为空".to_string(),
            BeaconRefused::Spaces => "规则 text：信标值的开头和结尾不能有空白".to_string(),
            BeaconRefused::NoDigits { value } => format!("规则 digits：信标值“{value}”中没有十进制数字"),
            BeaconRefused::NotHex { value, reason } => {
                format!("规则 hex：信标值“{value}”不是十六进制：{reason}")
            }
            BeaconRefused::UsedUnnamed { value, bytes } => {
                format!("随机信标：计划未指定信标（beacon_rule=none），但抽取用了信标值“{value}”（字节 {bytes}）")
            }
            BeaconRefused::SuppliedUnnamed => "随机信标：计划未指定信标，却记录了信标的提供时间".to_string(),
            BeaconRefused::Dropped { named, rule } => {
                format!("随机信标：计划指定了信标“{named}”（规则 {rule}），但抽取没有使用：信标被丢弃了")
            }
            BeaconRefused::Recorded(inner) => format!("随机信标：{}", inner.zh()),
            BeaconRefused::OtherBytes { rule, want, value, used } => {
                format!("随机信标：按规则 {rule}，记录的信标值“{value}”得出字节 {want}，但抽取用的是 {used}")
            }
            BeaconRefused::BadTime(at) => format!("随机信标：提供时间“{at}”不是 UTC 时间 YYYY-MM-DDTHH:MM:SSZ"),
            BeaconRefused::Early { supplied, published } => {
                format!("随机信标：提供于 {supplied}，早于公告的公布时间 {published}")
            }
            BeaconRefused::Swapped { recorded, given } => {
                format!("随机信标：数据包记录的信标值为“{recorded}”，但给出的公布值为“{given}”：信标被调换了")
            }
        }
    }
}

/// A beacon rule credo does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("beacon rule '{0}' is not one of none, text, digits, hex")]
pub struct UnknownBeaconRule(pub String);

impl std::str::FromStr for BeaconRule {
    type Err = UnknownBeaconRule;
    fn from_str(s: &str) -> Result<Self, UnknownBeaconRule> {
        BeaconRule::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownBeaconRule(s.to_string()))
    }
}

/// Where a credo-draw-v2 plan comes from: fixed at creation, part of the
/// frame hash (docs/draw-spec.md §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The issuing store's identity (a code); plan ids are
    /// `{store_id}/{plan_number}`, unique across stores.
    pub store_id: String,
    pub plan_number: u64,
    /// `random` or `commitment_check` (a code).
    pub kind: String,
    /// The plan's name (text).
    pub name: String,
    /// When the plan was created, UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created_at: String,
    /// The classification date, `YYYY-MM-DD`.
    pub as_of: String,
    /// Content hashes of the dataset and the rule set (texts, `sha256:…`).
    pub dataset_hash: String,
    pub rules_hash: String,
    /// The classification run of the issuing store.
    pub run_id: u64,
    /// When assignments become visible (RFC 3339, as the plan gave it).
    pub release_at: String,
    /// Cancelled plans (ids) this plan replaces, sorted.
    pub replaces: Vec<String>,
    /// Earlier plans (ids) whose visits excluded entities of this frame, sorted.
    pub excluded_by: Vec<String>,
}

/// What a credo-draw-v2 frame adds to a v1 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Header {
    pub beacon_rule: BeaconRule,
    /// When the beacon value will be public, UTC `YYYY-MM-DDTHH:MM:SSZ`
    /// (empty for rule `none`).
    pub beacon_published_at: String,
    pub provenance: Provenance,
}

/// Whether `s` is a UTC time written `YYYY-MM-DDTHH:MM:SSZ`.
pub fn is_utc_time(s: &str) -> bool {
    s.len() == 20 && chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ").is_ok()
}

/// How a stratum is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StratumMode {
    /// Each eligible entity is selected with its own `probability_ppm`.
    Probability,
    /// A fixed number of entities: max(ceil(ratio·n), ceil(min_ratio·n)),
    /// n = number of eligible entities, ratios in parts per million.
    Quota { ratio_ppm: u32, min_ratio_ppm: u32 },
}

/// One row of the strata table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stratum {
    /// E.g. "tier=4|city=370100". Any non-empty text.
    pub key: String,
    pub mode: StratumMode,
}

/// An inspecting officer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Officer {
    pub officer_id: String,
    pub department: String,
    /// Six-digit administrative division code.
    pub city: u32,
    /// Item codes the officer is qualified to inspect (sorted by the builder).
    pub qualifications: Vec<String>,
    pub active: bool,
    /// The officer's own person id and declared relatives' (sorted by the
    /// builder).
    pub persons: Vec<PersonId>,
}

/// One entity as pushed into a [`FrameBuilder`]; borrows everything so that
/// pushing millions of rows allocates nothing per row.
#[derive(Debug, Clone, Copy)]
pub struct NewEntity<'a> {
    pub uscc: Uscc,
    /// Key of a stratum in the strata table.
    pub stratum: &'a str,
    /// Selection probability in parts per million (probability strata).
    pub probability_ppm: u32,
    /// `None` if eligible, otherwise why not (non-empty text).
    pub exclusion: Option<&'a str>,
    /// Six-digit administrative division code of the entity's city.
    pub city: u32,
    /// Applicable inspection items as (department, item code).
    pub items: &'a [(&'a str, &'a str)],
    /// Person ids of the entity's persons (legal representative etc.).
    pub persons: &'a [PersonId],
    /// Officer ids that inspected the entity within the avoidance window.
    pub recent_officers: &'a [&'a str],
}

const ELIGIBLE: u32 = u32::MAX;

/// Builds a [`Frame`] one entity at a time.
pub struct FrameBuilder {
    f: Frame,
    stratum_index: HashMap<String, u32>,
    item_index: Vec<HashMap<String, u32>>,
    exclusion_index: HashMap<String, u32>,
    recent_index: HashMap<String, u32>,
    scratch_u32: Vec<u32>,
    scratch_persons: Vec<PersonId>,
}

fn offset(n: usize, what: &str) -> Result<u32, DrawError> {
    u32::try_from(n).map_err(|_| DrawError::TooLarge(format!("more than 2^32-1 {what}")))
}

fn intern(map: &mut HashMap<String, u32>, table: &mut Vec<String>, s: &str) -> Result<u32, DrawError> {
    if let Some(&i) = map.get(s) {
        return Ok(i);
    }
    let i = offset(table.len(), "distinct strings")?;
    table.push(s.to_owned());
    map.insert(s.to_owned(), i);
    Ok(i)
}

fn sorted_dedup<T: Ord>(v: &mut Vec<T>) {
    v.sort_unstable();
    v.dedup();
}

impl FrameBuilder {
    /// Starts a credo-draw-v2 frame: a v1 frame plus its beacon rule and
    /// provenance, checked for consistency (the plan id is
    /// `{store_id}/{plan_number}`; a named beacon has a source and a
    /// publication time after the plan's creation; none has neither).
    pub fn new_v2(
        plan: Plan,
        mut header: V2Header,
        strata: Vec<Stratum>,
        officers: Vec<Officer>,
    ) -> Result<Self, DrawError> {
        let p = &mut header.provenance;
        let err = |m: String| Err(DrawError::Plan(m));
        if let Some(x) = code_problem(&p.store_id) {
            return err(format!("store id {x}"));
        }
        let id = format!("{}/{}", p.store_id, p.plan_number);
        if plan.plan_id != id {
            return err(format!("plan_id is '{}', but store and plan number make '{id}'", plan.plan_id));
        }
        if let Some(x) = code_problem(&p.kind) {
            return err(format!("kind {x}"));
        }
        if p.dataset_hash.is_empty() || p.rules_hash.is_empty() {
            return err("the dataset and rules hashes may not be empty".into());
        }
        if !is_utc_time(&p.created_at) {
            return err(format!("created_at '{}' is not a UTC time YYYY-MM-DDTHH:MM:SSZ", p.created_at));
        }
        if chrono::NaiveDate::parse_from_str(&p.as_of, "%Y-%m-%d").map(|d| d.to_string()).ok().as_deref()
            != Some(p.as_of.as_str())
        {
            return err(format!("as_of '{}' is not a date YYYY-MM-DD", p.as_of));
        }
        for list in [&mut p.replaces, &mut p.excluded_by] {
            for x in list.iter() {
                if let Some(m) = code_problem(x) {
                    return err(format!("plan id {m}"));
                }
            }
            sorted_dedup(list);
        }
        match header.beacon_rule {
            BeaconRule::None => {
                if !plan.beacon_source.is_empty() || !header.beacon_published_at.is_empty() {
                    return err("beacon rule none: the beacon source and publication time must be empty".into());
                }
            }
            _ => {
                if plan.beacon_source.is_empty() {
                    return err(format!("beacon rule {}: the beacon source is empty", header.beacon_rule));
                }
                if !is_utc_time(&header.beacon_published_at) {
                    return err(format!(
                        "beacon publication time '{}' is not a UTC time YYYY-MM-DDTHH:MM:SSZ",
                        header.beacon_published_at
                    ));
                }
                if header.beacon_published_at <= p.created_at {
                    return err(format!(
                        "the beacon is published at {}, not after the plan's creation at {}: it could be known before the commitment",
                        header.beacon_published_at, p.created_at
                    ));
                }
            }
        }
        let mut b = FrameBuilder::new(plan, strata, officers)?;
        b.f.v2 = Some(Box::new(header));
        Ok(b)
    }

    /// Starts a frame. Validates and normalises the plan, the strata table
    /// and the officers.
    pub fn new(mut plan: Plan, mut strata: Vec<Stratum>, mut officers: Vec<Officer>) -> Result<Self, DrawError> {
        if plan.plan_id.is_empty() {
            return Err(DrawError::Plan("plan_id is empty".into()));
        }
        sorted_dedup(&mut plan.departments);
        if plan.departments.is_empty() {
            return Err(DrawError::Plan("no participating department".into()));
        }
        for d in &plan.departments {
            if let Some(p) = code_problem(d) {
                return Err(DrawError::Plan(format!("department code {p}")));
            }
        }
        if plan.officers_per_visit < 2 {
            return Err(DrawError::Plan(format!(
                "officers_per_visit is {}; at least 2 are required",
                plan.officers_per_visit
            )));
        }
        if plan.max_visits_per_officer < 1 {
            return Err(DrawError::Plan("max_visits_per_officer must be at least 1".into()));
        }
        strata.sort_by(|a, b| a.key.cmp(&b.key));
        let mut stratum_index = HashMap::new();
        for (i, s) in strata.iter().enumerate() {
            let err = |m: &str| DrawError::Stratum { key: s.key.clone(), message: m.into() };
            if s.key.is_empty() {
                return Err(err("empty key"));
            }
            if let StratumMode::Quota { ratio_ppm, min_ratio_ppm } = s.mode
                && (ratio_ppm > 1_000_000 || min_ratio_ppm > 1_000_000)
            {
                return Err(err("ratios are parts per million and may not exceed 1000000"));
            }
            if stratum_index.insert(s.key.clone(), offset(i, "strata")?).is_some() {
                return Err(err("appears twice in the strata table"));
            }
        }
        officers.sort_by(|a, b| a.officer_id.cmp(&b.officer_id));
        for o in officers.iter_mut() {
            let err = |m: String| DrawError::Officer { id: o.officer_id.clone(), message: m };
            if let Some(p) = code_problem(&o.officer_id) {
                return Err(err(format!("officer id {p}")));
            }
            if let Some(p) = code_problem(&o.department) {
                return Err(err(format!("department {p}")));
            }
            if o.city > 999_999 {
                return Err(err(format!("city {} is not a six-digit division code", o.city)));
            }
            for q in &o.qualifications {
                if let Some(p) = code_problem(q) {
                    return Err(err(format!("qualification {p}")));
                }
            }
            sorted_dedup(&mut o.qualifications);
            sorted_dedup(&mut o.persons);
        }
        if let Some(w) = officers.windows(2).find(|w| w[0].officer_id == w[1].officer_id) {
            return Err(DrawError::Officer { id: w[0].officer_id.clone(), message: "appears more than once".into() });
        }
        offset(officers.len(), "officers")?;
        let item_index = plan.departments.iter().map(|_| HashMap::new()).collect();
        Ok(FrameBuilder {
            f: Frame {
                plan,
                strata,
                officers,
                items: Vec::new(),
                exclusions: Vec::new(),
                recent_names: Vec::new(),
                uscc: Vec::new(),
                stratum: Vec::new(),
                probability: Vec::new(),
                exclusion: Vec::new(),
                city: Vec::new(),
                item_start: vec![0],
                item_ids: Vec::new(),
                person_start: vec![0],
                person_ids: Vec::new(),
                recent_start: vec![0],
                recent_ids: Vec::new(),
                v2: None,
                hash: OnceLock::new(),
            },
            stratum_index,
            item_index,
            exclusion_index: HashMap::new(),
            recent_index: HashMap::new(),
            scratch_u32: Vec::new(),
            scratch_persons: Vec::new(),
        })
    }

    /// Reserves room for `n` more entities.
    pub fn reserve(&mut self, n: usize) {
        let f = &mut self.f;
        f.uscc.reserve(n);
        f.stratum.reserve(n);
        f.probability.reserve(n);
        f.exclusion.reserve(n);
        f.city.reserve(n);
        f.item_start.reserve(n);
        f.person_start.reserve(n);
        f.recent_start.reserve(n);
    }

    /// Adds one entity (in any order; `build` sorts by USCC).
    pub fn push(&mut self, e: NewEntity<'_>) -> Result<(), DrawError> {
        let err = |m: String| DrawError::Entity { uscc: e.uscc, message: m };
        let stratum = *self
            .stratum_index
            .get(e.stratum)
            .ok_or_else(|| err(format!("stratum '{}' is not in the strata table", e.stratum)))?;
        if e.probability_ppm > 1_000_000 {
            return Err(err(format!("probability_ppm {} exceeds 1000000", e.probability_ppm)));
        }
        if e.city > 999_999 {
            return Err(err(format!("city {} is not a six-digit division code", e.city)));
        }
        let exclusion = match e.exclusion {
            None if e.items.is_empty() => {
                return Err(err("eligible but has no applicable inspection item".into()));
            }
            None => ELIGIBLE,
            Some("") => return Err(err("excluded without a reason".into())),
            Some(r) => intern(&mut self.exclusion_index, &mut self.f.exclusions, r)?,
        };
        let f = &mut self.f;
        self.scratch_u32.clear();
        for &(d, code) in e.items {
            let di = f
                .plan
                .departments
                .binary_search_by(|x| x.as_str().cmp(d))
                .map_err(|_| err(format!("item {d}:{code}: department {d} does not take part in the plan")))?;
            if let Some(p) = code_problem(code) {
                return Err(err(format!("item code {p}")));
            }
            let map = &mut self.item_index[di];
            let id = match map.get(code) {
                Some(&i) => i,
                None => {
                    let i = offset(f.items.len(), "distinct items")?;
                    f.items.push((di as u32, code.to_owned()));
                    map.insert(code.to_owned(), i);
                    i
                }
            };
            self.scratch_u32.push(id);
        }
        sorted_dedup(&mut self.scratch_u32);
        f.item_ids.extend_from_slice(&self.scratch_u32);
        self.scratch_u32.clear();
        for &r in e.recent_officers {
            if let Some(p) = code_problem(r) {
                return Err(err(format!("recent officer id {p}")));
            }
            let id = intern(&mut self.recent_index, &mut f.recent_names, r)?;
            self.scratch_u32.push(id);
        }
        sorted_dedup(&mut self.scratch_u32);
        f.recent_ids.extend_from_slice(&self.scratch_u32);
        self.scratch_persons.clear();
        self.scratch_persons.extend_from_slice(e.persons);
        sorted_dedup(&mut self.scratch_persons);
        f.person_ids.extend_from_slice(&self.scratch_persons);
        f.item_start.push(offset(f.item_ids.len(), "entity items")?);
        f.recent_start.push(offset(f.recent_ids.len(), "recent officer entries")?);
        f.person_start.push(offset(f.person_ids.len(), "entity persons")?);
        offset(f.uscc.len() + 1, "entities")?;
        f.uscc.push(e.uscc);
        f.stratum.push(stratum);
        f.probability.push(e.probability_ppm);
        f.exclusion.push(exclusion);
        f.city.push(e.city);
        Ok(())
    }

    /// Finishes the frame: puts it in canonical order and checks that no
    /// USCC appears twice.
    pub fn build(self) -> Result<Frame, DrawError> {
        let mut f = self.f;
        // Item and recent-officer tables in canonical order, so that sorting
        // ids sorts the lists canonically.
        let item_remap = canonical_remap(&f.items);
        remap_lists(&mut f.items, &item_remap, &f.item_start, &mut f.item_ids);
        let recent_remap = canonical_remap(&f.recent_names);
        remap_lists(&mut f.recent_names, &recent_remap, &f.recent_start, &mut f.recent_ids);
        if !f.uscc.windows(2).all(|w| w[0] < w[1]) {
            let mut order: Vec<u32> = (0..f.uscc.len() as u32).collect();
            order.sort_unstable_by_key(|&i| f.uscc[i as usize]);
            if let Some(w) = order.windows(2).find(|w| f.uscc[w[0] as usize] == f.uscc[w[1] as usize]) {
                return Err(DrawError::DuplicateEntity(f.uscc[w[0] as usize]));
            }
            f.permute(&order);
        }
        Ok(f)
    }
}

/// old id -> new id such that new ids follow the table's sort order; the
/// table is sorted in place.
fn canonical_remap<T: Ord + Clone>(table: &[T]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..table.len() as u32).collect();
    order.sort_by(|&a, &b| table[a as usize].cmp(&table[b as usize]));
    let mut remap = vec![0u32; table.len()];
    for (new, &old) in order.iter().enumerate() {
        remap[old as usize] = new as u32;
    }
    remap
}

fn remap_lists<T: Ord>(table: &mut [T], remap: &[u32], start: &[u32], ids: &mut [u32]) {
    if remap.iter().enumerate().all(|(i, &r)| i as u32 == r) {
        return;
    }
    table.sort();
    for id in ids.iter_mut() {
        *id = remap[*id as usize];
    }
    for w in start.windows(2) {
        ids[w[0] as usize..w[1] as usize].sort_unstable();
    }
}

fn gather_csr<T: Copy>(start: &[u32], ids: &[T], order: &[u32]) -> (Vec<u32>, Vec<T>) {
    let mut new_start = Vec::with_capacity(start.len());
    let mut new_ids = Vec::with_capacity(ids.len());
    new_start.push(0);
    for &i in order {
        let i = i as usize;
        new_ids.extend_from_slice(&ids[start[i] as usize..start[i + 1] as usize]);
        new_start.push(new_ids.len() as u32);
    }
    (new_start, new_ids)
}

/// A built, canonical frame. Read it through the accessors.
#[derive(Debug, Clone)]
pub struct Frame {
    plan: Plan,
    strata: Vec<Stratum>,
    officers: Vec<Officer>,
    /// Interned items: (index into plan.departments, item code), sorted.
    items: Vec<(u32, String)>,
    exclusions: Vec<String>,
    /// Interned recent-officer ids, sorted.
    recent_names: Vec<String>,
    uscc: Vec<Uscc>,
    stratum: Vec<u32>,
    probability: Vec<u32>,
    exclusion: Vec<u32>,
    city: Vec<u32>,
    item_start: Vec<u32>,
    item_ids: Vec<u32>,
    person_start: Vec<u32>,
    person_ids: Vec<PersonId>,
    recent_start: Vec<u32>,
    recent_ids: Vec<u32>,
    /// Present in credo-draw-v2 frames.
    v2: Option<Box<V2Header>>,
    hash: OnceLock<Hash>,
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        self.plan == other.plan
            && self.v2 == other.v2
            && self.strata == other.strata
            && self.officers == other.officers
            && self.len() == other.len()
            && self.entities().zip(other.entities()).all(|(a, b)| a.same_as(&b))
    }
}

impl Frame {
    fn permute(&mut self, order: &[u32]) {
        let g = |v: &Vec<u32>| order.iter().map(|&i| v[i as usize]).collect::<Vec<u32>>();
        self.uscc = order.iter().map(|&i| self.uscc[i as usize]).collect();
        self.stratum = g(&self.stratum);
        self.probability = g(&self.probability);
        self.exclusion = g(&self.exclusion);
        self.city = g(&self.city);
        (self.item_start, self.item_ids) = gather_csr(&self.item_start, &self.item_ids, order);
        (self.person_start, self.person_ids) = gather_csr(&self.person_start, &self.person_ids, order);
        (self.recent_start, self.recent_ids) = gather_csr(&self.recent_start, &self.recent_ids, order);
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The algorithm version of this frame.
    pub fn spec(&self) -> super::Spec {
        if self.v2.is_some() { super::Spec::V2 } else { super::Spec::V1 }
    }

    /// Beacon rule and provenance of a credo-draw-v2 frame.
    pub fn v2(&self) -> Option<&V2Header> {
        self.v2.as_deref()
    }

    /// The strata table, sorted by key bytes.
    pub fn strata(&self) -> &[Stratum] {
        &self.strata
    }

    /// The officers, sorted by officer id bytes.
    pub fn officers(&self) -> &[Officer] {
        &self.officers
    }

    /// Number of entities (eligible or not).
    pub fn len(&self) -> usize {
        self.uscc.len()
    }

    pub fn is_empty(&self) -> bool {
        self.uscc.is_empty()
    }

    /// All USCCs, ascending.
    pub fn usccs(&self) -> &[Uscc] {
        &self.uscc
    }

    /// The entity in row `row` (rows are in USCC order).
    pub fn entity(&self, row: usize) -> EntityRef<'_> {
        EntityRef { frame: self, row }
    }

    pub fn entities(&self) -> impl ExactSizeIterator<Item = EntityRef<'_>> + '_ {
        (0..self.len()).map(move |row| EntityRef { frame: self, row })
    }

    /// The row of an entity, if present.
    pub fn find(&self, uscc: &Uscc) -> Option<usize> {
        self.uscc.binary_search(uscc).ok()
    }

    /// Eligible entities per stratum, in strata-table order. For the whole
    /// frame these are the populations; for a shard, sum them over shards.
    pub fn populations(&self) -> Vec<u64> {
        let mut p = vec![0u64; self.strata.len()];
        for (s, e) in self.stratum.iter().zip(&self.exclusion) {
            if *e == ELIGIBLE {
                p[*s as usize] += 1;
            }
        }
        p
    }

    /// SHA-256 of the canonical frame encoding (the `[plan]`, `[strata]`,
    /// `[frame]` and `[officers]` sections of a bundle). Computed once,
    /// streamed, never held in memory as a whole.
    pub fn hash(&self) -> Hash {
        *self.hash.get_or_init(|| super::bundle::frame_hash(self))
    }

    pub(crate) fn stratum_col(&self) -> &[u32] {
        &self.stratum
    }
    pub(crate) fn probability_col(&self) -> &[u32] {
        &self.probability
    }
    pub(crate) fn eligible_at(&self, row: usize) -> bool {
        self.exclusion[row] == ELIGIBLE
    }
    /// (index into plan.departments, code) of interned item `id`.
    pub(crate) fn item(&self, id: u32) -> (u32, &str) {
        let (d, c) = &self.items[id as usize];
        (*d, c)
    }
}

/// A view of one entity of a [`Frame`].
#[derive(Clone, Copy)]
pub struct EntityRef<'a> {
    frame: &'a Frame,
    row: usize,
}

impl<'a> EntityRef<'a> {
    pub fn row(&self) -> usize {
        self.row
    }
    pub fn uscc(&self) -> Uscc {
        self.frame.uscc[self.row]
    }
    pub fn stratum_index(&self) -> usize {
        self.frame.stratum[self.row] as usize
    }
    pub fn stratum(&self) -> &'a Stratum {
        &self.frame.strata[self.stratum_index()]
    }
    pub fn probability_ppm(&self) -> u32 {
        self.frame.probability[self.row]
    }
    pub fn is_eligible(&self) -> bool {
        self.frame.eligible_at(self.row)
    }
    /// Why the entity is not eligible; `None` if it is.
    pub fn exclusion(&self) -> Option<&'a str> {
        match self.frame.exclusion[self.row] {
            ELIGIBLE => None,
            i => Some(&self.frame.exclusions[i as usize]),
        }
    }
    pub fn city(&self) -> u32 {
        self.frame.city[self.row]
    }
    pub(crate) fn item_ids(&self) -> &'a [u32] {
        let f = self.frame;
        &f.item_ids[f.item_start[self.row] as usize..f.item_start[self.row + 1] as usize]
    }
    /// Applicable items as (department, item code), sorted.
    pub fn items(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + 'a {
        let f = self.frame;
        self.item_ids().iter().map(move |&i| {
            let (d, c) = f.item(i);
            (f.plan.departments[d as usize].as_str(), c)
        })
    }
    /// The entity's persons, sorted.
    pub fn persons(&self) -> &'a [PersonId] {
        let f = self.frame;
        &f.person_ids[f.person_start[self.row] as usize..f.person_start[self.row + 1] as usize]
    }
    /// Officer ids that inspected the entity recently, sorted.
    pub fn recent_officers(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        let f = self.frame;
        f.recent_ids[f.recent_start[self.row] as usize..f.recent_start[self.row + 1] as usize]
            .iter()
            .map(move |&i| f.recent_names[i as usize].as_str())
    }

    fn same_as(&self, o: &EntityRef<'_>) -> bool {
        self.uscc() == o.uscc()
            && self.stratum().key == o.stratum().key
            && self.probability_ppm() == o.probability_ppm()
            && self.exclusion() == o.exclusion()
            && self.city() == o.city()
            && self.items().eq(o.items())
            && self.persons() == o.persons()
            && self.recent_officers().eq(o.recent_officers())
    }
}

impl std::fmt::Debug for EntityRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entity")
            .field("uscc", &self.uscc())
            .field("stratum", &self.stratum().key)
            .field("probability_ppm", &self.probability_ppm())
            .field("exclusion", &self.exclusion())
            .field("city", &self.city())
            .field("items", &self.items().collect::<Vec<_>>())
            .field("persons", &self.persons())
            .field("recent_officers", &self.recent_officers().collect::<Vec<_>>())
            .finish()
    }
}
