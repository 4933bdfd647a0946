//! Objections (异议申诉): a regulator files one for an entity, naming one
//! of its records and why; while it is open the rules see the record as
//! `disputed` and decide its effect (by default it does not count); a
//! regulator of the entity's jurisdiction upholds or rejects it, once.
//! Every step is audited; classifications see the states as of their date
//! (`add_objections`), and the entity's timeline lists them.

use serde::Serialize;

use super::{OpsError, Result, limits, policy};
use crate::model::access::Principal;
use crate::model::objection::{Objection, ObjectionOutcome, ObjectionStatus};
use crate::model::{Date, Uscc};
use crate::snapshot::Snapshot;
use crate::store::{NewObjection, ObjectionRecord, Store, StoreError};
use crate::tr;

/// An objection to file.
pub struct FileObjection<'a> {
    pub uscc: &'a str,
    pub record_id: &'a str,
    pub reason: &'a str,
    /// From when the record is disputed (default: today, China time).
    pub filed_on: Option<Date>,
}

/// A decision on an open objection.
pub struct DecideObjection<'a> {
    pub id: i64,
    pub outcome: ObjectionOutcome,
    pub reason: &'a str,
    /// Default: today, China time.
    pub decided_on: Option<Date>,
}

fn uscc(field: &str, text: &str) -> Result<Uscc> {
    limits::text(field, text, limits::CODE)?;
    Uscc::parse(text).map_err(|e| {
        limits::field(
            field,
            e.text().map(|lang, e| match lang {
                crate::i18n::Lang::Zh => format!("“{text}”不是有效的统一社会信用代码：{e}"),
                crate::i18n::Lang::En => format!("'{text}' is not a valid credit code: {e}"),
            }),
        )
    })
}

/// Files an objection. `s` is the dataset the record must be in (with
/// officers' results added: their findings can be disputed too).
pub fn file_objection(
    store: &Store,
    s: &Snapshot,
    by: &Principal,
    req: &FileObjection<'_>,
    today: Date,
) -> Result<ObjectionRecord> {
    let u = uscc("uscc", req.uscc)?;
    limits::required_text("record_id", req.record_id, limits::LABEL)?;
    limits::required_text("reason", req.reason, limits::REASON)?;
    let filed_on = req.filed_on.unwrap_or(today);
    limits::past_date("filed_on", filed_on, today)?;
    let e = s
        .entities
        .find(&u)
        .ok_or_else(|| StoreError::NotFound(tr!("数据集中的主体 {u}", "entity {u} in the dataset")))?;
    let region = s.entities.region[e as usize];
    policy::decide(by, policy::Action::FileObjection, policy::Resource::Entity { uscc: u.as_str(), place: region })?;
    let texts = crate::classify::facts::SymbolTexts::new(s);
    let records = crate::classify::facts::records(s, &texts, e, limits::latest_date());
    let record = records.iter().find(|r| &*r.id == req.record_id).ok_or_else(|| {
        limits::field(
            "record_id",
            tr!(
                "{u} 没有记录“{}”（行政处罚、经营异常名录、经核实的投诉、未履行的承诺、检查发现或提醒约谈）",
                "{u} has no record '{}' (a penalty, abnormal listing, verified complaint, breached commitment, \
                 inspection finding or reminder)",
                req.record_id
            ),
        )
    })?;
    if filed_on < record.date {
        return Err(limits::field(
            "filed_on",
            tr!(
                "{filed_on} 早于记录 {} 产生的日期（{}）",
                "{filed_on} is before record {} arose ({})",
                req.record_id,
                record.date
            ),
        ));
    }
    Ok(store.file_objection(&NewObjection {
        uscc: u.as_str(),
        record_id: req.record_id,
        region,
        reason: req.reason,
        filed_on: &filed_on.to_string(),
        filed_by: &by.actor(),
    })?)
}

/// Upholds or rejects an open objection.
pub fn decide_objection(
    store: &Store,
    by: &Principal,
    req: &DecideObjection<'_>,
    today: Date,
) -> Result<ObjectionRecord> {
    limits::required_text("reason", req.reason, limits::REASON)?;
    let decided_on = req.decided_on.unwrap_or(today);
    limits::past_date("decided_on", decided_on, today)?;
    let o = store.objection(req.id)?;
    policy::decide(by, policy::Action::DecideObjection, policy::Resource::Place(o.region))?;
    if decided_on.to_string() < o.filed_on {
        return Err(limits::field(
            "decided_on",
            tr!(
                "{decided_on} 早于异议 {} 的提起日期（{}）",
                "{decided_on} is before objection {} was filed ({})",
                o.id,
                o.filed_on
            ),
        ));
    }
    Ok(store.decide_objection(o.id, req.outcome.status(), &decided_on.to_string(), req.reason, &by.actor())?)
}

/// Objections the principal may read, optionally of one entity and in
/// one status, oldest first.
pub fn list_objections(
    store: &Store,
    by: &Principal,
    entity: Option<&str>,
    status: Option<ObjectionStatus>,
) -> Result<Vec<ObjectionRecord>> {
    let entity = entity.map(|t| uscc("uscc", t)).transpose()?;
    policy::decide(by, policy::Action::ReadObjections, policy::Resource::Place(by.jurisdiction.code()))?;
    let all = store.objections(entity.as_ref().map(|u| u.as_str()), status)?;
    Ok(all
        .into_iter()
        .filter(|o| policy::decide(by, policy::Action::ReadObjections, policy::Resource::Place(o.region)).is_ok())
        .collect())
}

/// One stored objection as the domain sees it.
pub fn objection_of(r: &ObjectionRecord) -> Result<Objection> {
    // What the store holds was checked when it was written: a fault here
    // is the server's, not the caller's.
    let bad = |e: String| OpsError::Fault(tr!("内部错误：存储的异议 {}：{e}", "stored objection {}: {e}", r.id));
    let date = |t: &str| crate::data::table::parse_date(t).map_err(|e| bad(e.0));
    Ok(Objection {
        id: r.id,
        uscc: Uscc::parse(&r.uscc).map_err(|e| bad(e.to_string()))?,
        record_id: r.record_id.clone(),
        reason: r.reason.clone(),
        filed_on: date(&r.filed_on)?,
        filed_by: r.filed_by.clone(),
        status: r.status,
        decided_on: r.decided_on.as_deref().map(date).transpose()?,
        decision_reason: r.decision_reason.clone(),
        decided_by: r.decided_by.clone(),
    })
}

/// Adds every objection filed so far to a snapshot: a classification then
/// sees each one's state as of its date.
pub fn add_objections(store: &Store, s: &mut Snapshot) -> Result<()> {
    for r in store.objections(None, None)? {
        s.objections.add(objection_of(&r)?);
    }
    Ok(())
}

/// An objection as it stood on a date (for timelines).
#[derive(Clone, Debug, Serialize)]
pub struct ObjectionState {
    pub id: i64,
    pub record_id: String,
    pub reason: String,
    pub filed_on: Date,
    pub filed_by: String,
    /// Its status on the date: open until decided.
    pub status: ObjectionStatus,
    pub decided_on: Option<Date>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
}

/// An entity's objections filed on or before `d`, as they stood on `d`.
pub fn objections_as_of(s: &Snapshot, uscc: &Uscc, d: Date) -> Vec<ObjectionState> {
    states_on(s.objections.of(uscc), d)
}

/// An entity's objections filed on or before `d`, as they stood on `d`,
/// read from the store (no dataset needed).
pub fn stored_objections_as_of(store: &Store, uscc: &Uscc, d: Date) -> Result<Vec<ObjectionState>> {
    let all = store.objections(Some(&uscc.to_string()), None)?.iter().map(objection_of).collect::<Result<Vec<_>>>()?;
    Ok(states_on(&all, d))
}

fn states_on(objections: &[Objection], d: Date) -> Vec<ObjectionState> {
    objections
        .iter()
        .filter_map(|o| {
            let status = o.status_on(d)?;
            let decided = status != ObjectionStatus::Open;
            Some(ObjectionState {
                id: o.id,
                record_id: o.record_id.clone(),
                reason: o.reason.clone(),
                filed_on: o.filed_on,
                filed_by: o.filed_by.clone(),
                status,
                decided_on: o.decided_on.filter(|_| decided),
                decided_by: o.decided_by.clone().filter(|_| decided),
                decision_reason: o.decision_reason.clone().filter(|_| decided),
            })
        })
        .collect()
}
