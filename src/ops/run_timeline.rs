//! An entity's timeline from the runs in the store, not from the dataset:
//! what the server's entity endpoint and page show. The as-of result is a
//! point lookup in a finished run's results file (tier, explanation,
//! records with their status, exemptions, blacklist, propagation paths);
//! the tier over time is one point lookup per finished run up to that
//! date; objections come from the store. Nothing here loads a dataset, so
//! a page costs a few row groups, whatever the size of the run.
//!
//! What a run does not keep (the entity's registration details,
//! commitments, repair applications, inspections that found nothing) is
//! not shown here: `credo entity show` over the dataset has it
//! ([`super::entity_timeline`]).

use std::sync::Arc;

use serde::Serialize;

use super::TimelinePoint;
use super::objections::ObjectionState;
use super::{OpsError, Result};
use crate::classify::EntityResult;
use crate::data::results::{Reader, StoredPoint, StoredResult};
use crate::i18n::Lang;
use crate::model::*;
use crate::store::{RunRecord, Store, StoreError};
use crate::tr;

/// Finished runs whose points a timeline shows at most (the latest ones):
/// each is a row group read and checked, and an open results file (its
/// index and Parquet footer) kept by the server.
pub const MAX_POINTS: usize = 12;

/// An entity as a run stored it.
#[derive(Debug, Serialize)]
pub struct StoredEntity {
    pub uscc: Uscc,
    pub name: String,
    pub city: u32,
    /// County-level division code (GB/T 2260), as `MarketEntity::region`.
    pub region: u32,
}

/// An entity's timeline from stored runs: the fields of [`super::Timeline`]
/// that a run keeps, and the run they come from.
#[derive(Debug, Serialize)]
pub struct RunTimeline {
    pub entity: StoredEntity,
    pub as_of: Date,
    /// The finished run the as-of result comes from.
    pub run: i64,
    /// Its tier in every finished run up to the date (the latest run of
    /// each date, at most [`MAX_POINTS`]), oldest first.
    pub points: Vec<TimelinePoint>,
    /// The run's result, as the classification gave it (records without
    /// their statuses when the run's file predates them: `detail_stored`).
    pub result: EntityResult,
    pub lang: Lang,
    pub tier_name: &'static str,
    pub risk_name: String,
    pub explanation: String,
    /// Objections to its records filed by the date, as they stood then.
    pub objections: Vec<ObjectionState>,
    /// Approvals revoked by its breached commitments by the date (from
    /// the store).
    pub revocations: Vec<crate::store::RevocationRecord>,
    pub flagged_persons: Vec<crate::propagate::FlaggedPerson>,
    pub reached_from_here: Vec<crate::propagate::ReachedEntity>,
    pub reached_by: Vec<crate::propagate::ReachedEntity>,
    /// False for a run written by an older credo, whose results file keeps
    /// no records or propagation paths.
    pub detail_stored: bool,
}

fn date_of(run: &RunRecord) -> Result<Date> {
    crate::data::table::parse_date(&run.as_of).map_err(|e| {
        let (id, as_of, e) = (run.id, &run.as_of, &e.0);
        OpsError::Fault(tr!("内部错误：运行 {id}：as_of {as_of}：{e}", "run {id}: as_of {as_of}: {e}"))
    })
}

/// The latest finished run of each as-of date, oldest date first.
fn finished_by_date(store: &Store) -> Result<Vec<(Date, RunRecord)>> {
    let mut by: std::collections::BTreeMap<Date, RunRecord> = Default::default();
    for r in store.runs()? {
        if r.status == RunStatus::Done {
            // Ordered by id: a later run of a date replaces an earlier one.
            by.insert(date_of(&r)?, r);
        }
    }
    Ok(by.into_iter().collect())
}

/// The finished run an entity page shows: the latest one, or the latest
/// one as of `as_of`. A date no run covers is refused, naming the dates
/// that exist: classifying an entity on an arbitrary date needs the
/// dataset (start a run for the date, or `credo entity show`).
pub fn covering_run(store: &Store, as_of: Option<Date>) -> Result<RunRecord> {
    let Some(d) = as_of else {
        return store.latest_run()?.ok_or_else(|| {
            OpsError::Rejected(tr!("还没有已完成的运行；请先运行分级分类", "no finished run yet; start a run first"))
        });
    };
    let runs = finished_by_date(store)?;
    if let Some((_, r)) = runs.iter().find(|(at, _)| *at == d) {
        return Ok(r.clone());
    }
    let dates = runs.iter().map(|(at, _)| at.to_string()).collect::<Vec<_>>();
    let dates = if dates.is_empty() { "—".to_string() } else { dates.join(", ") };
    Err(OpsError::Field {
        field: "as_of".into(),
        reason: tr!(
            "{d} 没有已完成的运行（已有运行的日期：{dates}）；请为该日期启动一次运行，或用 credo entity show",
            "no finished run is as of {d} (runs exist as of: {dates}); start a run for that date, or use credo entity show"
        ),
    })
}

/// An entity's stored result in a run, by point lookup.
pub fn run_result(reader: &Reader, run: i64, uscc: &Uscc) -> Result<StoredResult> {
    reader
        .get(uscc.as_str())?
        .ok_or_else(|| StoreError::NotFound(tr!("运行 {run} 中的主体 {uscc}", "entity {uscc} in run {run}")).into())
}

/// The classification result a run stored, rebuilt (its explanation is
/// the one the run would have printed).
pub fn rebuild_result(s: &StoredResult) -> Result<(EntityResult, bool)> {
    let bad = |e: String| OpsError::Fault(tr!("内部错误：{} 存储的结果：{e}", "stored result of {}: {e}", s.uscc));
    let uscc = Uscc::parse(&s.uscc).map_err(|e| bad(e.to_string()))?;
    let decisions = s.decisions().map_err(|e| bad(e.to_string()))?;
    let detail = s.detail().map_err(|e| bad(e.to_string()))?;
    let stored = detail.is_some();
    let (records, exemptions, accumulation, blacklisted_until) = match detail {
        Some(d) => {
            let records = d
                .records
                .iter()
                .map(|r| r.line().ok_or_else(|| bad(format!("record {}: unknown kind or status", r.id))))
                .collect::<Result<Vec<_>>>()?;
            (records, d.exemptions, d.accumulation, d.blacklisted_until)
        }
        None => (Vec::new(), Vec::new(), AccumulationLevel::None, None),
    };
    let risk = match s.risk.as_str() {
        "" => None,
        r => Some(r.parse().map_err(|_| bad(format!("risk {r}")))?),
    };
    let tolerance_until = s
        .tolerance_until
        .as_deref()
        .map(crate::data::table::parse_date)
        .transpose()
        .map_err(|e| bad(format!("tolerance_until: {}", e.0)))?;
    let result = EntityResult {
        uscc,
        name: s.name.clone(),
        city: s.city,
        county: s.county,
        tier: s.tier,
        risk,
        probability_ppm: s.probability_ppm,
        tolerance_until,
        exemptions,
        accumulation,
        key_attention: s.key_attention,
        blacklisted: s.blacklisted,
        blacklisted_until,
        departments: s.departments.iter().map(|d| Arc::<str>::from(d.as_str())).collect(),
        decisions: decisions.into_iter().map(crate::engine::DecisionRef::own).collect(),
        records,
        row: 0,
    };
    Ok((result, stored))
}

/// The timeline of an entity whose result `stored` was read from `run`
/// (the caller has checked it may read it). `open` opens a finished run's
/// results file (checked against the store; callers cache them).
pub fn run_timeline(
    store: &Store,
    open: &dyn Fn(i64) -> Result<Arc<Reader>>,
    run: &RunRecord,
    stored: &StoredResult,
    lang: Lang,
) -> Result<RunTimeline> {
    let as_of = date_of(run)?;
    let (result, detail_stored) = rebuild_result(stored)?;
    let uscc = result.uscc;
    let mut runs: Vec<(Date, RunRecord)> = finished_by_date(store)?.into_iter().filter(|(d, _)| *d <= as_of).collect();
    // The run shown is the point of its date, even if a later run of the
    // same date exists.
    if let Some(last) = runs.last_mut().filter(|(d, _)| *d == as_of) {
        last.1 = run.clone();
    }
    let skip = runs.len().saturating_sub(MAX_POINTS);
    let mut points = Vec::new();
    for (date, r) in &runs[skip..] {
        let p = if r.id == run.id {
            // The as-of run's point is the result read above.
            StoredPoint {
                tier: stored.tier,
                risk: stored.risk.clone(),
                probability_ppm: stored.probability_ppm,
                key_attention: stored.key_attention,
                blacklisted: stored.blacklisted,
            }
        } else {
            // Not in that run: registered after its date.
            let Some(p) = open(r.id)?.point(uscc.as_str())? else { continue };
            p
        };
        points.push(TimelinePoint {
            run: Some(r.id),
            date: *date,
            tier: p.tier,
            tier_name: crate::i18n::tier_name(p.tier, lang),
            risk: p.risk,
            probability: f64::from(p.probability_ppm) / 1_000_000.0,
            blacklisted: p.blacklisted,
            key_attention: p.key_attention,
        });
    }
    let paths = open(run.id)?.paths_of(uscc.as_str())?;
    let detail_stored = detail_stored && paths.is_some();
    let paths = paths.unwrap_or_default();
    Ok(RunTimeline {
        entity: StoredEntity { uscc, name: stored.name.clone(), city: stored.city, region: stored.county },
        as_of,
        run: run.id,
        points,
        lang,
        tier_name: crate::i18n::tier_name(result.tier, lang),
        risk_name: crate::i18n::risk_name(result.risk_code(), lang).to_string(),
        explanation: result.explanation_in(lang),
        objections: super::objections::stored_objections_as_of(store, &uscc, as_of)?,
        revocations: super::revocations_of(store, &uscc, as_of)?,
        flagged_persons: paths.flagged_persons,
        reached_from_here: paths.reached_from_here,
        reached_by: paths.reached_by,
        detail_stored,
        result,
    })
}
