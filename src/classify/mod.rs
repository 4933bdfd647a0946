//! A classification run: turns a snapshot into entity facts as of a date,
//! runs the rule set's stages over them (with blacklist propagation between
//! blacklist and supervision), and streams one result per entity to a sink.
//!
//! Entities are processed in shards of consecutive ids (credit-code ranges)
//! so memory follows the shard, not the province: the first half of the
//! stages runs shard by shard and leaves a compact state per entity plus a
//! spill per shard; propagation then runs once over the whole role graph;
//! the second half runs shard by shard again and hands finished results to
//! the sink in credit-code order.
//!
//! Invariants: no IO but the spill; only what was known on the as-of date
//! is shown to the rules (later records, repairs, removals and evaluations
//! are hidden); results are in credit-code order and identical whatever the
//! thread count or shard size.
//!
//! Just over 500 lines: the run's two halves share the compact per-entity
//! state and the shard loop, and read best in one place.

pub mod diff;
pub mod facts;
mod spill;
pub mod summary;

use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::engine::{
    DecisionRef, EntityState, Field, FieldMask, PropagatedFlag, RuleError, RuleSet, Stage, StageMemo, StageStats, Text,
};
use crate::i18n::Lang;
use crate::model::*;
use crate::propagate::{self, Propagation};
use crate::snapshot::{EntityId, RoleGraph, Snapshot};

pub use spill::SpillError;
pub use summary::Summary;

/// One entity's classification.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EntityResult {
    pub uscc: Uscc,
    pub name: String,
    pub city: u32,
    pub county: u32,
    pub tier: u8,
    /// `None` when the rule set has no supervision stage (written as "").
    #[serde(serialize_with = "code_or_empty")]
    pub risk: Option<RiskLevel>,
    /// Yearly probability of a random inspection, in parts per million.
    pub probability_ppm: u32,
    pub tolerance_until: Option<Date>,
    /// Ids of records not counted under the first-minor-violation exemption.
    pub exemptions: Vec<String>,
    pub accumulation: AccumulationLevel,
    pub key_attention: bool,
    pub blacklisted: bool,
    pub blacklisted_until: Option<Date>,
    /// Departments with at least one applicable inspection item.
    pub departments: Arc<[Arc<str>]>,
    pub decisions: Vec<DecisionRef>,
    /// The entity's records as of the date, with the status the rules gave.
    pub records: Vec<RecordLine>,
    /// The entity's row in the dataset's file (dataset order).
    #[serde(skip)]
    pub row: u32,
}

/// One record and its status, for timelines and appeals.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RecordLine {
    pub kind: &'static str,
    /// Shared with the run's other uses of the id (a reference count).
    #[serde(serialize_with = "text")]
    pub id: Text,
    pub date: Date,
    /// `None` when the rule set has no record_status stage (written as "").
    #[serde(serialize_with = "code_or_empty")]
    pub status: Option<RecordStatus>,
}

impl RecordLine {
    /// The status code, "" without a record_status stage.
    pub fn status_code(&self) -> &'static str {
        self.status.map_or("", RecordStatus::as_str)
    }
}

fn text<S: serde::Serializer>(t: &Text, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t)
}

fn code_or_empty<S: serde::Serializer, C: std::fmt::Display>(c: &Option<C>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.collect_str(c),
        None => s.serialize_str(""),
    }
}

impl EntityResult {
    /// The risk code, "" without a supervision stage.
    pub fn risk_code(&self) -> &'static str {
        self.risk.map_or("", RiskLevel::as_str)
    }

    pub fn probability(&self) -> f64 {
        f64::from(self.probability_ppm) / 1_000_000.0
    }

    /// One line a regulator or an appealing entity can read, in English
    /// (what results files keep).
    pub fn explanation(&self) -> String {
        self.explanation_in(Lang::En)
    }

    /// [`EntityResult::explanation`] in `lang`. Built only for entities
    /// whose explanation is printed or stored.
    pub fn explanation_in(&self, lang: Lang) -> String {
        let mut out = String::new();
        self.explanation_into(lang, &mut out, &mut |d, out| d.render_into(lang, out));
        out
    }

    /// Appends the explanation to `out`, each decision's own text appended
    /// by `render` (which may have it already).
    fn explanation_into(&self, lang: Lang, out: &mut String, render: &mut dyn FnMut(&DecisionRef, &mut String)) {
        use crate::i18n::Label;
        use std::fmt::Write as _;
        let mut first = true;
        for d in &self.decisions {
            match d.stage() {
                Stage::Tolerance if self.tolerance_until.is_none() => continue,
                Stage::RecordStatus if !d.names_records() => continue,
                Stage::Accumulation if self.accumulation == AccumulationLevel::None => continue,
                Stage::Blacklist if !self.blacklisted => continue,
                _ => {}
            }
            if !first {
                out.push_str(" | ");
            }
            first = false;
            // The label is written in place (writing to a `String` cannot
            // fail): this runs for every entity with a decision of its own.
            match d.stage() {
                Stage::Tolerance => out.push_str(Label::Tolerance.text(lang)),
                Stage::RecordStatus => out.push_str(Label::Records.text(lang)),
                Stage::Accumulation => {
                    out.push_str(Label::Accumulation.text(lang));
                    out.push(' ');
                    out.push_str(match lang {
                        Lang::En => self.accumulation.as_str(),
                        Lang::Zh => crate::i18n::accumulation_name(self.accumulation.as_str(), lang),
                    });
                }
                Stage::Tier => {
                    let _ = match lang {
                        Lang::En => write!(out, "tier {}", self.tier),
                        Lang::Zh => {
                            write!(out, "信用等级 {}（{}）", self.tier, crate::i18n::tier_name(self.tier, lang))
                        }
                    };
                }
                Stage::Blacklist => out.push_str(Label::Blacklist.text(lang)),
                Stage::PersonLink | Stage::EntityLink => out.push_str(Label::Propagation.text(lang)),
                Stage::Supervision => {
                    let _ = match lang {
                        Lang::En => write!(out, "risk {} p={:.4}", self.risk_code(), self.probability()),
                        Lang::Zh => write!(
                            out,
                            "风险 {} 抽查概率 {:.4}",
                            crate::i18n::risk_name(self.risk_code(), lang),
                            self.probability()
                        ),
                    };
                }
            }
            out.push_str(if lang == Lang::Zh { "：" } else { ": " });
            render(d, out);
        }
    }
}

/// The text forms of results, made once per distinct list of decisions
/// (most entities share theirs) instead of once per entity, and built from
/// each decision's text, made once per decision (an entity's own decision
/// makes its list distinct, the rest of the list is shared). Keys are the
/// decisions' addresses: a `Texts` is cleared before the results it saw
/// are dropped. A decision held by its entity alone
/// ([`DecisionRef::held_alone`]: it names the entity's records) is
/// rendered in place and its list is not kept: no other entity would find
/// either.
#[derive(Default)]
pub struct Texts {
    /// By whether the entity has a tolerance end, and language.
    explanations: FxHashMap<(bool, Lang), ByList>,
    /// The JSON array of the decisions naming no records
    /// ([`Texts::decisions_split`]), by their list.
    json: ByList,
    /// One decision's rendering, by language.
    rendered: FxHashMap<(usize, Lang), Box<str>>,
    /// One decision as JSON.
    decision_json: FxHashMap<usize, Box<str>>,
    /// The key being looked up (reused: no allocation per entity).
    key: Vec<usize>,
}

impl Texts {
    fn key(&mut self, r: &EntityResult) -> Vec<usize> {
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        key.extend(r.decisions.iter().map(DecisionRef::addr));
        key
    }

    /// [`EntityResult::explanation_in`], shared.
    pub fn explanation(&mut self, r: &EntityResult, lang: Lang) -> Arc<str> {
        if has_own(r) {
            let rendered = &mut self.rendered;
            let mut out = String::new();
            r.explanation_into(lang, &mut out, &mut |d, out| {
                if d.held_alone() {
                    d.render_into(lang, out);
                } else {
                    let text = rendered.entry((d.addr(), lang)).or_insert_with(|| d.render(lang).into_boxed_str());
                    out.push_str(text);
                }
            });
            return out.into();
        }
        let key = self.key(r);
        let map = self.explanations.entry((r.tolerance_until.is_none(), lang)).or_default();
        let text = match map.get(key.as_slice()) {
            Some(t) => t.clone(),
            None => {
                let rendered = &mut self.rendered;
                let mut out = String::new();
                r.explanation_into(lang, &mut out, &mut |d, out| {
                    let text = rendered.entry((d.addr(), lang)).or_insert_with(|| d.render(lang).into_boxed_str());
                    out.push_str(text);
                });
                let t: Arc<str> = out.into();
                map.insert(key.as_slice().into(), t.clone());
                t
            }
        };
        self.key = key;
        text
    }

    /// The decisions as a results file keeps them (credo-results-v3): those
    /// naming no records (shared by many entities) as a JSON array, made
    /// once per distinct list, returned; those naming the entity's records
    /// (its own) appended to `own` as `[[position,decision],...]`, each with
    /// its position in the whole list (nothing appended when there are
    /// none). Which side a decision takes follows from its content alone,
    /// so the file's bytes do not depend on what else the process holds.
    /// [`merge_decisions`] puts them back together.
    pub fn decisions_split(&mut self, r: &EntityResult, own: &mut String) -> Arc<str> {
        use std::fmt::Write as _;
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        let mut first = true;
        for (i, d) in r.decisions.iter().enumerate() {
            if d.names_records() {
                own.push_str(if first { "[[" } else { ",[" });
                first = false;
                let _ = write!(own, "{i},");
                d.write_json(own);
                own.push(']');
            } else {
                key.push(d.addr());
            }
        }
        if !first {
            own.push(']');
        }
        let text = match self.json.get(key.as_slice()) {
            Some(t) => t.clone(),
            None => {
                let mut out = String::from("[");
                for d in r.decisions.iter().filter(|d| !d.names_records()) {
                    if out.len() > 1 {
                        out.push(',');
                    }
                    let text = self.decision_json.entry(d.addr()).or_insert_with(|| {
                        let mut one = String::new();
                        d.write_json(&mut one);
                        one.into_boxed_str()
                    });
                    out.push_str(text);
                }
                out.push(']');
                let t: Arc<str> = out.into();
                self.json.insert(key.as_slice().into(), t.clone());
                t
            }
        };
        self.key = key;
        text
    }

    /// Forgets everything (between shards, so memory follows the shard).
    pub fn clear(&mut self) {
        self.explanations.clear();
        self.json.clear();
        self.rendered.clear();
        self.decision_json.clear();
    }
}

/// An entity's decisions as one JSON array, from a v3 file's two columns
/// ([`Texts::decisions_split`]): `shared`, the array of
/// those naming no records, and `own`, empty or `[[position,decision],...]`
/// with each of the others at its position in the whole list. The texts
/// are spliced, not rewritten: the array is the one v2 kept whole.
pub fn merge_decisions(shared: &str, own: &str) -> Result<String, serde_json::Error> {
    use serde::de::Error as _;
    use serde_json::value::RawValue;
    if own.is_empty() {
        return Ok(shared.to_string());
    }
    let shared: Vec<&RawValue> = serde_json::from_str(shared)?;
    let own: Vec<(usize, &RawValue)> = serde_json::from_str(own)?;
    let total = shared.len() + own.len();
    let mut out = String::with_capacity(
        2 + shared.iter().chain(own.iter().map(|o| &o.1)).map(|d| d.get().len() + 1).sum::<usize>(),
    );
    out.push('[');
    let (mut s, mut o) = (shared.iter(), own.iter().peekable());
    for i in 0..total {
        if i > 0 {
            out.push(',');
        }
        let d = match o.peek() {
            Some((at, d)) if *at == i => {
                o.next();
                *d
            }
            _ => *s.next().ok_or_else(|| serde_json::Error::custom(format!("no decision at position {i}")))?,
        };
        out.push_str(d.get());
    }
    if o.next().is_some() {
        return Err(serde_json::Error::custom("an own decision's position is out of order or past the list"));
    }
    out.push(']');
    Ok(out)
}

/// A text by the addresses of a list of decisions.
type ByList = FxHashMap<Box<[usize]>, Arc<str>>;

/// Whether a result has a decision of its own (held by it alone).
fn has_own(r: &EntityResult) -> bool {
    r.decisions.iter().any(DecisionRef::held_alone)
}

/// Entities per shard by default. A shard's working set is about 1 KB per
/// entity (facts, stage results, encoding for the spill), and up to three
/// shards are alive at once (one classified, two being written), so 50,000
/// keeps them near 150 MB while per-shard overhead stays negligible:
/// measured at 3M, 1,000,000 peaks at 2.17 GB, 250,000 at 1.52 GB, 100,000
/// at 1.29 GB and 50,000 at 1.17 GB; at 15M, 100,000 at 3,915,032 KiB and
/// 50,000 at 3,843,288 KiB, all in the same time (ARCHITECTURE.md,
/// "Performance").
pub const DEFAULT_SHARD_SIZE: usize = 50_000;

/// How a run is cut into shards.
#[derive(Clone, Debug)]
pub struct Options {
    /// Entities per shard.
    pub shard_size: usize,
    /// Where shards wait between the two halves of a run (default: the
    /// system's temporary directory).
    pub spill_dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options { shard_size: DEFAULT_SHARD_SIZE, spill_dir: None }
    }
}

/// A finished run (the results went to the sink).
pub struct Classification {
    pub as_of: Date,
    /// Entities classified.
    pub entities: usize,
    /// Entities registered after the as-of date: they did not exist yet.
    pub not_yet_registered: usize,
    pub stages: Vec<(Stage, StageStats)>,
    pub propagation: Propagation,
    pub summary: Summary,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("{0}")]
    Rule(#[from] RuleError),
    #[error("{0}")]
    Spill(#[from] SpillError),
    #[error("intermediate results: {0}")]
    Io(#[from] std::io::Error),
    /// The sink refused a shard of results (e.g. the output disk is full).
    #[error("{0}")]
    Sink(SinkError),
}

impl ClassifyError {
    /// What the user reads, in both languages (`Display` is the English);
    /// the system's and the sink's own messages as they are.
    pub fn text(&self) -> crate::i18n::Text {
        use spill::Damage as D;
        match self {
            ClassifyError::Rule(r) => r.text(),
            ClassifyError::Spill(SpillError(shard, damage)) => {
                let zh = match damage {
                    D::Truncated => "不完整".to_string(),
                    D::NotText(e) => format!("不是有效的 UTF-8 文本：{e}"),
                    D::BadStage => "阶段无效".into(),
                    D::BadRecordStatus => "记录状态无效".into(),
                    D::BadDecision => "决定无效".into(),
                    D::Mismatch => "与数据集不符".into(),
                    D::TrailingBytes => "末尾有多余字节".into(),
                };
                crate::i18n::Text::new(format!("第 {shard} 分片的中间结果已损坏：{zh}"), self.to_string())
            }
            ClassifyError::Io(e) => crate::tr!("中间结果读写失败：{e}", "intermediate results: {e}"),
            ClassifyError::Sink(e) => crate::tr!("结果写出失败：{e}", "{e}"),
        }
    }
}

/// Why a sink refused a shard of results: the sink's own error.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// What the first half of the stages decided, per entity (by position in
/// the run, credit-code order): a few bytes each.
struct Compact {
    tolerance_years: Vec<i8>,
    accumulation: Vec<Option<AccumulationLevel>>,
    tier: Vec<u8>,
    blacklisted: Vec<bool>,
    blacklisted_until: Vec<Option<Date>>,
}

const FIRST_HALF: [Stage; 5] =
    [Stage::Tolerance, Stage::RecordStatus, Stage::Accumulation, Stage::Tier, Stage::Blacklist];

/// Classifies every entity registered on or before `as_of`, handing the
/// results to `sink` shard by shard in credit-code order. `progress` is
/// called with a short label as each step starts.
pub fn classify(
    s: &Snapshot,
    rules: &RuleSet,
    as_of: Date,
    options: &Options,
    progress: &(dyn Fn(&str) + Sync),
    sink: &mut dyn FnMut(Vec<EntityResult>) -> Result<(), SinkError>,
) -> Result<Classification, ClassifyError> {
    let ids: Vec<EntityId> =
        (0..s.len() as EntityId).filter(|&e| s.entities.registered_on[e as usize] <= as_of).collect();
    let not_yet_registered = s.len() - ids.len();
    let shard_size = options.shard_size.max(1);
    let shards: Vec<&[EntityId]> = ids.chunks(shard_size).collect();
    let mut spill = spill::Spill::new(shards.len(), options.spill_dir.as_deref())?;
    let texts = facts::SymbolTexts::new(s);

    // First half, shard by shard.
    let mut reads = FieldMask::default();
    for stage in FIRST_HALF {
        if let Some(e) = rules.manifest.entries.get(&stage) {
            reads = FieldMask(reads.0 | e.reads.0);
        }
    }
    let mut memos: FxHashMap<Stage, StageMemo> = FxHashMap::default();
    let mut stats: FxHashMap<Stage, StageStats> = FxHashMap::default();
    let mut compact = Compact {
        tolerance_years: Vec::with_capacity(ids.len()),
        accumulation: Vec::with_capacity(ids.len()),
        tier: Vec::with_capacity(ids.len()),
        blacklisted: Vec::with_capacity(ids.len()),
        blacklisted_until: Vec::with_capacity(ids.len()),
    };
    let mut sources: Vec<(Uscc, Vec<String>, Date)> = Vec::new();
    let mut kept: Option<Vec<EntityState>> = None;
    for (k, shard) in shards.iter().enumerate() {
        progress(&format!("facts {}/{}", k + 1, shards.len()));
        let built = facts::build(s, &texts, shard, as_of, facts::Need::of(reads));
        let mut states: Vec<EntityState> = built.into_iter().map(EntityState::new).collect();
        for stage in FIRST_HALF {
            progress(stage.name());
            let st = rules.run_stage(stage, &mut states, memos.entry(stage).or_default())?;
            let t = stats.entry(stage).or_default();
            t.entities += st.entities;
            t.calls += st.calls;
        }
        progress(&format!("spill {}/{}", k + 1, shards.len()));
        for st in &states {
            let f = &st.facts;
            compact.tolerance_years.push(f.stages.tolerance_years.clamp(0, 127) as i8);
            compact.accumulation.push(f.stages.accumulation);
            compact.tier.push(f.stages.tier.unwrap_or(0));
            compact.blacklisted.push(st.blacklist.listed);
            compact.blacklisted_until.push(st.blacklist.until);
            if st.blacklist.listed {
                let records: Vec<String> = st
                    .decision(Stage::Blacklist)
                    .map(|d| d.inputs().into_iter().map(str::to_string).collect())
                    .unwrap_or_default();
                // The flag dates from the latest source record.
                let start = f
                    .records
                    .iter()
                    .filter(|r| records.iter().any(|x| x.as_str() == r.id.as_str()))
                    .map(|r| r.date)
                    .max()
                    .unwrap_or(as_of);
                sources.push((f.uscc, records, start));
            }
        }
        if shards.len() == 1 {
            // One shard: its states wait in memory as they are.
            kept = Some(states);
        } else {
            // The spill's round trip is timed for the debug log (each part
            // since the shard's spill began), as the stages' parts are.
            let t0 = std::time::Instant::now();
            let bytes = spill::encode(&states);
            let (encoded, len) = (t0.elapsed(), bytes.len());
            spill.put(k, bytes)?;
            let handed = t0.elapsed();
            // Freed on every core: a shard's states are many small allocations.
            states.into_par_iter().for_each(drop);
            tracing::debug!(shard = k, bytes = len, ?encoded, ?handed, freed = ?t0.elapsed(), "spill parts");
        }
    }

    // The first half's memos are done with (the decisions the spill names
    // by number are interned): freed before the role graph is built.
    drop(memos);

    progress("propagation");
    let graph = RoleGraph::new(s);
    let propagation = propagate::propagate(s, &graph, rules, &sources, as_of)?;
    drop(graph);
    let mut reached: FxHashMap<Uscc, Vec<&propagate::ReachedEntity>> = FxHashMap::default();
    for r in &propagation.entities {
        reached.entry(r.uscc).or_default().push(r);
    }
    let link_rule: Option<Arc<str>> =
        rules.manifest.entries.get(&Stage::EntityLink).map(|e| format!("{}:{}", e.file, e.function).into());
    // Checked 1..=4 when the rule set was compiled.
    let flag_min_tier =
        rules.int_param(crate::engine::manifest::PROPAGATED_FLAG_MIN_TIER).and_then(|t| u8::try_from(t).ok());

    // Second half, shard by shard.
    let supervision_reads = rules.manifest.entries.get(&Stage::Supervision).map_or(FieldMask::default(), |e| e.reads);
    let departments = facts::DepartmentIndex::new(&s.inspection_items);
    let mut summary = summary::Builder::new(not_yet_registered);
    let mut memo = StageMemo::default();
    let mut supervision = StageStats::default();
    let mut at = 0usize;
    for (k, shard) in shards.iter().enumerate() {
        let (mut states, lines) = match kept.take() {
            Some(states) => {
                let lines = states.iter().map(|st| record_lines(&st.facts.records)).collect();
                (states, lines)
            }
            None => {
                progress(&format!("unspill {}/{}", k + 1, shards.len()));
                let t0 = std::time::Instant::now();
                let bytes = spill.take(k)?;
                let taken = t0.elapsed();
                let spilled = spill::decode(k, &bytes)?;
                let decoded = t0.elapsed();
                let damaged = || SpillError(k, spill::Damage::Mismatch);
                if spilled.len() != shard.len() {
                    return Err(damaged().into());
                }
                let need = facts::Need::of(supervision_reads);
                // Facts, state and record lines in one pass.
                let (states, lines): (Vec<EntityState>, Vec<Option<Vec<RecordLine>>>) = shard
                    .par_iter()
                    .zip(spilled)
                    .enumerate()
                    .map(|(j, (&e, mut sp))| {
                        let i = at + j;
                        let mut f = facts::entity(s, &texts, e, as_of, need);
                        f.set_tolerance(i64::from(compact.tolerance_years[i]));
                        f.stages.accumulation = compact.accumulation[i];
                        f.stages.tier = Some(compact.tier[i]).filter(|t| *t != 0);
                        f.stages.blacklisted = compact.blacklisted[i];
                        for (r, status) in f.records.iter_mut().zip(sp.statuses()) {
                            r.status = status;
                        }
                        let listed = facts::listed(s, e, as_of);
                        let lines = spilled_lines(&listed, &sp, &f.records);
                        let decisions =
                            lines.as_ref().and_then(|lines| sp.decisions(|p| lines.get(p).map(|l| l.id.clone())));
                        let lines = lines.zip(decisions);
                        let mut st = EntityState::new(f);
                        st.blacklist = crate::engine::BlacklistStatus {
                            listed: compact.blacklisted[i],
                            until: compact.blacklisted_until[i],
                        };
                        let lines = lines.map(|(lines, decisions)| {
                            st.decisions = decisions;
                            lines
                        });
                        (st, lines)
                    })
                    .unzip();
                drop(bytes);
                tracing::debug!(shard = k, ?taken, ?decoded, rebuilt = ?t0.elapsed(), "unspill parts");
                let lines = lines.into_iter().collect::<Option<Vec<_>>>().ok_or_else(damaged)?;
                (states, lines)
            }
        };
        if let Some(rule) = &link_rule {
            for st in states.iter_mut() {
                let Some(list) = reached.get(&st.facts.uscc) else { continue };
                for r in list {
                    Arc::make_mut(&mut st.facts).stages.propagated.push(PropagatedFlag {
                        effect: r.effect,
                        source: r.source,
                        path: r.path.clone(),
                    });
                    st.decisions.push(DecisionRef::own(crate::engine::Decision {
                        stage: Stage::EntityLink,
                        rule: rule.clone(),
                        clause: "（六）二".into(),
                        reason: format!("{} via {}: {}", r.effect, r.path, r.reason),
                        reason_zh: Some(format!(
                            "{}，经 {}：{}",
                            crate::i18n::link_effect_name(r.effect.as_str(), crate::i18n::Lang::Zh),
                            r.path,
                            r.reason_zh.as_deref().unwrap_or(&r.reason)
                        )),
                        inputs: Vec::new(),
                    }));
                }
                if let Some(min) = flag_min_tier
                    && !list.is_empty()
                    && st.facts.stages.tier.is_some_and(|t| t < min)
                {
                    let from = st.facts.stages.tier.unwrap_or(0);
                    Arc::make_mut(&mut st.facts).stages.tier = Some(min);
                    st.decisions.push(DecisionRef::own(crate::engine::Decision {
                        stage: Stage::EntityLink,
                        rule: rule.clone(),
                        clause: "（六）二".into(),
                        reason: format!(
                            "tier {from} -> {min}: a blacklist flag reached it through a person ({})",
                            crate::engine::manifest::PROPAGATED_FLAG_MIN_TIER
                        ),
                        reason_zh: Some(format!(
                            "信用等级由 {from} 调整为 {min}：失信联合惩戒经相关人员延伸至本主体（{}）",
                            crate::engine::manifest::PROPAGATED_FLAG_MIN_TIER
                        )),
                        inputs: Vec::new(),
                    }));
                }
            }
        }
        progress(&format!("{} {}/{}", Stage::Supervision.name(), k + 1, shards.len()));
        let st = rules.run_stage(Stage::Supervision, &mut states, &mut memo)?;
        supervision.entities += st.entities;
        supervision.calls += st.calls;
        progress(&format!("results {}/{}", k + 1, shards.len()));
        let names = s.entities.names.many(shard);
        let results: Vec<EntityResult> = states
            .into_par_iter()
            .zip(lines.into_par_iter())
            .zip(shard.par_iter().zip(names.into_par_iter()))
            .map(|((st, lines), (&e, name))| result(s, &departments, e, name, st, lines))
            .collect();
        summary.add(&results);
        at += shard.len();
        progress(&format!("write {}/{}", k + 1, shards.len()));
        sink(results).map_err(ClassifyError::Sink)?;
    }

    let mut stages: Vec<(Stage, StageStats)> =
        FIRST_HALF.iter().filter(|st| rules.has(**st)).map(|st| (*st, stats.remove(st).unwrap_or_default())).collect();
    if rules.has(Stage::Supervision) {
        stages.push((Stage::Supervision, supervision));
    }
    let summary = summary.finish(&propagation);
    Ok(Classification { as_of, entities: ids.len(), not_yet_registered, stages, propagation, summary })
}

/// An entity's records as result lines, from the snapshot's list of them
/// and the status the spill kept of each (`None` when they are not as
/// many).
fn spilled_lines(
    listed: &[facts::Listed],
    sp: &spill::Spilled,
    records: &[crate::engine::RecordFacts],
) -> Option<Vec<RecordLine>> {
    let statuses = sp.statuses();
    if listed.len() != statuses.len() {
        return None;
    }
    Some(
        listed
            .iter()
            .zip(statuses)
            .enumerate()
            .map(|(i, (l, status))| {
                // The facts' copy of the id when they hold the records (the same order).
                let id =
                    records.get(i).filter(|r| r.id.as_str() == l.id).map_or_else(|| Text::from(l.id), |r| r.id.clone());
                RecordLine { kind: l.kind.as_str(), id, date: l.date, status }
            })
            .collect(),
    )
}

/// An entity's records as result lines.
fn record_lines(records: &[crate::engine::RecordFacts]) -> Vec<RecordLine> {
    records
        .iter()
        .map(|r| RecordLine { kind: r.kind.as_str(), id: r.id.clone(), date: r.date, status: r.status })
        .collect()
}

fn result(
    s: &Snapshot,
    departments: &facts::DepartmentIndex,
    e: EntityId,
    name: String,
    st: EntityState,
    records: Vec<RecordLine>,
) -> EntityResult {
    let i = e as usize;
    let f = &st.facts;
    EntityResult {
        uscc: f.uscc,
        name,
        city: f.city,
        county: f.region,
        tier: f.stages.tier.unwrap_or(0),
        risk: st.supervision.risk,
        probability_ppm: st.supervision.probability_ppm,
        tolerance_until: f.stages.tolerance_until,
        exemptions: records
            .iter()
            .filter(|r| r.status == Some(RecordStatus::Exempt))
            .map(|r| r.id.to_string())
            .collect(),
        accumulation: f.stages.accumulation.unwrap_or(AccumulationLevel::None),
        key_attention: f.stages.accumulation == Some(AccumulationLevel::KeyAttention)
            || f.stages.propagated.iter().any(|p| p.effect == LinkEffect::KeyAttention),
        blacklisted: st.blacklist.listed,
        blacklisted_until: st.blacklist.until,
        departments: departments.for_entity(s.entities.industry[i], s.entities.key_fields[i]),
        records,
        decisions: st.decisions,
        row: s.entities.row[i],
    }
}

/// [`classify`] collecting every result in memory, for small snapshots
/// (rule tests, entity timelines, tests).
pub fn classify_all(
    s: &Snapshot,
    rules: &RuleSet,
    as_of: Date,
) -> Result<(Classification, Vec<EntityResult>), ClassifyError> {
    let mut all = Vec::new();
    let c = classify(s, rules, as_of, &Options { shard_size: usize::MAX, spill_dir: None }, &|_| {}, &mut |r| {
        all.extend(r);
        Ok(())
    })?;
    Ok((c, all))
}

impl From<ClassifyError> for RuleError {
    fn from(e: ClassifyError) -> RuleError {
        match e {
            ClassifyError::Rule(r) => r,
            other => RuleError::at("classification", None, None, other.to_string()),
        }
    }
}

/// Whether a rule set's stages read a field (any stage).
pub fn reads(rules: &RuleSet, field: Field) -> bool {
    rules.manifest.entries.values().any(|e| e.reads.has(field))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Decision;

    fn decision(stage: Stage, reason: &str, inputs: &[&str]) -> DecisionRef {
        DecisionRef::shared(Decision {
            stage,
            rule: "r.rhai:f".into(),
            clause: "（一）".into(),
            reason: reason.into(),
            reason_zh: Some(format!("原因 \"{reason}\"")),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Entity `n`'s result; what its explanation shows besides the
    /// decisions follows from them (`k`), as in a run.
    fn result(n: u32, k: u32, decisions: Vec<DecisionRef>) -> EntityResult {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 15).expect("date");
        EntityResult {
            uscc: Uscc::assemble(b'9', b'1', 370102, *format!("{:08}", n + 1).as_bytes().first_chunk().expect("8"))
                .expect("a valid code"),
            name: format!("主体{n}"),
            city: 370100,
            county: 370102,
            tier: (k % 4) as u8 + 1,
            risk: Some(RiskLevel::ALL[k as usize % RiskLevel::ALL.len()]),
            probability_ppm: k * 37,
            tolerance_until: n.is_multiple_of(2).then_some(date),
            exemptions: Vec::new(),
            accumulation: AccumulationLevel::None,
            key_attention: false,
            blacklisted: k == 0,
            blacklisted_until: None,
            departments: Arc::from(Vec::new()),
            decisions,
            records: Vec::new(),
            row: n,
        }
    }

    /// A run cut into shards spilled to disk between its halves gives the
    /// results of a run in one shard, records and decisions included; a
    /// spill whose records are not the entity's is damage.
    #[test]
    fn spilled_shards_give_the_results_of_one() {
        let (_data, s) = crate::fixtures::generated(6000, 7);
        let rules = RuleSet::compile(&crate::engine::RuleSource::default_rules()).expect("rules");
        let as_of = chrono::NaiveDate::from_ymd_opt(2026, 6, 30).expect("date");
        let (_, one) = classify_all(&s, &rules, as_of).expect("classifies");
        assert!(one.iter().filter(|r| r.records.iter().any(|l| l.status.is_some())).count() > 100);
        let json = |r: &[EntityResult]| -> Vec<(u32, String)> {
            r.iter().map(|r| (r.row, serde_json::to_string(r).expect("json"))).collect()
        };
        // Shards within one spill chunk, and a shard of two chunks.
        let two_chunks = spill::CHUNK + 404;
        assert!(one.len() > two_chunks + 1);
        for shard_size in [700, two_chunks] {
            let dir = tempfile::tempdir().expect("temp dir");
            let options = Options { shard_size, spill_dir: Some(dir.path().to_path_buf()) };
            let mut many = Vec::new();
            classify(&s, &rules, as_of, &options, &|_| {}, &mut |r| {
                many.extend(r);
                Ok(())
            })
            .expect("classifies");
            assert_eq!(json(&many), json(&one), "shards of {shard_size}");
            assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "the spill is removed");
        }

        // Statuses spilled for one entity do not read back as another's
        // records when their numbers differ.
        let ids: Vec<EntityId> =
            (0..s.len() as EntityId).filter(|&e| s.entities.registered_on[e as usize] <= as_of).collect();
        let texts = facts::SymbolTexts::new(&s);
        let need = facts::Need { records: true, evaluations: false };
        let states: Vec<EntityState> =
            facts::build(&s, &texts, &ids, as_of, need).into_iter().map(EntityState::new).collect();
        let bytes = spill::encode(&states);
        let spilled = spill::decode(0, &bytes).expect("decodes");
        let (a, b) = (0..ids.len())
            .flat_map(|a| (0..ids.len()).map(move |b| (a, b)))
            .find(|&(a, b)| states[a].facts.records.len() != states[b].facts.records.len())
            .expect("two entities with different numbers of records");
        assert!(spilled_lines(&facts::listed(&s, ids[a], as_of), &spilled[a], &[]).is_some());
        assert!(spilled_lines(&facts::listed(&s, ids[b], as_of), &spilled[a], &[]).is_none());
    }

    proptest::proptest! {
        /// Any list of decisions, any of them own: the two columns merge
        /// back to the list as one array, byte for byte.
        #[test]
        fn split_decisions_merge_back(list in proptest::collection::vec((".{0,12}", proptest::bool::ANY), 0..9)) {
            let json = |t: &str| serde_json::json!({ "reason": t, "inputs": [t] }).to_string();
            let whole = format!("[{}]", list.iter().map(|(t, _)| json(t)).collect::<Vec<_>>().join(","));
            let shared = format!("[{}]", list.iter().filter(|l| !l.1).map(|(t, _)| json(t)).collect::<Vec<_>>().join(","));
            let own: Vec<String> =
                list.iter().enumerate().filter(|(_, l)| l.1).map(|(i, (t, _))| format!("[{i},{}]", json(t))).collect();
            let own = if own.is_empty() { String::new() } else { format!("[{}]", own.join(",")) };
            proptest::prop_assert_eq!(merge_decisions(&shared, &own).expect("merged"), whole);
        }
    }

    #[test]
    fn own_decisions_out_of_place_are_an_error() {
        let shared = r#"[{"a":1}]"#;
        assert_eq!(merge_decisions(shared, r#"[[0,{"b":2}]]"#).unwrap(), r#"[{"b":2},{"a":1}]"#);
        for own in [r#"[[2,{"b":2}]]"#, r#"[[1,{"b":2}],[0,{"c":3}]]"#, r#"[[0,{"b":2}"#, "[{}]"] {
            assert!(merge_decisions(shared, own).is_err(), "{own}");
        }
        assert!(merge_decisions("[{", "").is_ok(), "without own decisions the shared text is kept as read");
    }

    /// Shared and cached texts are what each result makes on its own,
    /// whether its decisions are shared with other results or its own.
    #[test]
    fn texts_are_each_results_own_texts() {
        let shared: Vec<DecisionRef> = Stage::ALL.iter().map(|s| decision(*s, &format!("{s:?}"), &[])).collect();
        // Held by several results without being interned.
        let counted = DecisionRef::own(decision(Stage::EntityLink, "counted", &[]).decision().clone());
        let results: Vec<EntityResult> = (0..40)
            .map(|n| {
                let mut d: Vec<DecisionRef> = shared.iter().step_by(1 + n as usize % 3).cloned().collect();
                if n % 5 == 2 {
                    d.push(counted.clone());
                }
                if n % 4 == 1 {
                    // An entity's own decision, naming its records.
                    d.insert(1, decision(Stage::RecordStatus, &format!("R{n} exempt"), &[&format!("R{n}")]));
                }
                let k = if n % 4 == 1 { n } else { n % 3 };
                result(n, k, d)
            })
            .collect();
        assert!(results.iter().any(has_own) && results.iter().any(|r| !has_own(r)));
        let mut texts = Texts::default();
        for _ in 0..2 {
            for r in &results {
                for lang in [Lang::En, Lang::Zh] {
                    assert_eq!(&*texts.explanation(r, lang), r.explanation_in(lang));
                }
                let mut own = String::new();
                let shared = texts.decisions_split(r, &mut own);
                assert_eq!(own.is_empty(), !r.decisions.iter().any(DecisionRef::names_records));
                assert_eq!(
                    merge_decisions(&shared, &own).expect("merged"),
                    serde_json::to_string(&r.decisions).expect("json")
                );
            }
        }
    }
}
