//! Revealing a plan and what follows from the draw: the frozen frame read
//! back and checked against its hash, the secret checked against the
//! commitment, the beacon against the plan's rule and publication time,
//! the draw stored once; the bundle exported (signed for v2) and a stored
//! draw re-derived and compared with the store and the audit log.
//!
//! Never draws from anything but the frozen frame file, and never changes
//! a plan that is not committed.

use serde::Serialize;

use super::{OpsError, Result, parse_hex};
use crate::draw::{self, BeaconReveal, Bundle, DrawResult, Outcome, Spec, Visit};
use crate::i18n::Text;
use crate::model::*;
use crate::plan;
use crate::snapshot::Snapshot;
use crate::store::{PlanRecord, Store, StoreError, VisitRecord};
use crate::tr;

/// Reads a plan's frozen frame and checks it is the one committed to.
pub fn load_frame(store: &Store, plan: &PlanRecord) -> Result<draw::Frame> {
    let path = store.frame_path(plan.id)?;
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(OpsError::internal(shown.clone()))?;
    let frame = plan::read_frame_file(&text).map_err(OpsError::internal(shown))?;
    let hash = hex::encode(frame.hash());
    if hash != plan.frame_hash {
        let (id, committed) = (plan.id, &plan.frame_hash);
        return Err(OpsError::Fault(tr!(
            "计划 {id} 存储的抽查框哈希为 {hash}，但计划承诺的是 {committed}：抽查框文件已被改动",
            "the stored frame of plan {id} hashes to {hash}, but the plan committed to {committed}: the frame file was altered"
        )));
    }
    Ok(frame)
}

/// The summary of a revealed draw.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revealed {
    pub plan: i64,
    pub visits: usize,
    pub staffed: usize,
    pub unstaffed: usize,
    pub result_hash: String,
}

/// Reveals the secret and draws: checks it against the commitment, runs
/// the draw over the frozen frame, stores visits and assignments.
///
/// `beacon` is the value the plan's beacon source published, as published
/// (credo-draw-v2: the plan's rule makes bytes of it; a value is refused
/// when the plan named no beacon, an empty one when it named one, and any
/// before the announced publication time). For a plan made by an older
/// credo (credo-draw-v1) it is the beacon bytes in hex, as before.
pub fn reveal_plan(
    store: &Store,
    names: &dyn Fn(&Uscc) -> String,
    id: i64,
    secret: &[u8],
    beacon: &str,
    actor: &str,
) -> Result<Revealed> {
    let plan = store.plan(id)?;
    if plan.status != PlanStatus::Committed {
        let status = &plan.status;
        return Err(StoreError::Conflict(tr!(
            "计划 {id} 的状态为 {status}；只有已承诺的计划可以公开抽取，且只能一次",
            "plan {id} is {status}; only a committed plan can be revealed, once"
        ))
        .into());
    }
    let frame = load_frame(store, &plan)?;
    let value = beacon.trim();
    let (beacon, result, reveal) = match frame.v2() {
        None => {
            let bytes = parse_hex("the beacon (hex, for a credo-draw-v1 plan)", value)?;
            let result = draw::draw(&frame, secret, &bytes)?;
            (bytes, result, None)
        }
        Some(h) => {
            let now = crate::store::now();
            if h.beacon_rule != draw::BeaconRule::None && !value.is_empty() && now < h.beacon_published_at {
                let at = &h.beacon_published_at;
                return Err(OpsError::Beacon {
                    plan: id,
                    message: tr!(
                        "随机信标要到 {at} 才公布（现在是 {now}）；此前给出的值不可能是公布的值",
                        "the beacon is not published until {at} (now {now}); a value given earlier cannot be the published one"
                    ),
                });
            }
            let (bytes, result) = draw::draw_v2(&frame, secret, value).map_err(|e| match e {
                draw::DrawError::Beacon(refused) => OpsError::Beacon { plan: id, message: refused.text() },
                other => other.into(),
            })?;
            let supplied_at = if h.beacon_rule == draw::BeaconRule::None { String::new() } else { now };
            (bytes, result, Some(BeaconReveal { value: value.to_string(), supplied_at }))
        }
    };
    let visits: Vec<VisitRecord> = result
        .visits
        .iter()
        .enumerate()
        .map(|(i, v)| VisitRecord {
            plan_id: id,
            seq: i as i64 + 1,
            uscc: v.uscc.to_string(),
            name: names(&v.uscc),
            stratum: v.stratum.clone(),
            ticket: v.ticket.to_string(),
            items: v.items.iter().map(|x| (x.department.clone(), x.code.clone())).collect(),
            officers: match &v.outcome {
                Outcome::Staffed(o) => o.clone(),
                Outcome::Unstaffed(_) => Vec::new(),
            },
            unstaffed: match &v.outcome {
                Outcome::Unstaffed(r) => Some(r.clone()),
                Outcome::Staffed(_) => None,
            },
        })
        .collect();
    let result_hash = hex::encode(result.hash());
    let (secret_hex, beacon_hex) = (hex::encode(secret), hex::encode(&beacon));
    store.reveal_plan(&crate::store::Reveal {
        plan: id,
        actor,
        secret: &secret_hex,
        beacon: &beacon_hex,
        beacon_value: reveal.as_ref().map(|r| r.value.as_str()),
        beacon_supplied_at: reveal.as_ref().map(|r| r.supplied_at.as_str()),
        result_hash: &result_hash,
        visits: &visits,
    })?;
    let staffed = result.staffed();
    Ok(Revealed { plan: id, visits: visits.len(), staffed, unstaffed: visits.len() - staffed, result_hash })
}

/// A stored visit row as the [`Visit`] it records, or why it records none.
/// A row lists officers or an unstaffed reason, exactly one of them, as
/// the reveal stored it; anything else was written outside credo.
fn stored_visit(v: &VisitRecord) -> std::result::Result<Visit, Text> {
    let seq = v.seq;
    let uscc = Uscc::parse(&v.uscc).map_err(|e| {
        tr!("存储的检查任务 {seq}：统一社会信用代码无效：{e}", "stored visit {seq}: invalid credit code: {e}")
    })?;
    let ticket =
        v.ticket.parse().map_err(|_| tr!("存储的检查任务 {seq}：抽签号无效", "stored visit {seq}: bad ticket"))?;
    let outcome = match (&v.unstaffed, v.officers.is_empty()) {
        (None, false) => Outcome::Staffed(v.officers.clone()),
        (Some(r), true) if !r.is_empty() => Outcome::Unstaffed(r.clone()),
        (Some(_), false) => {
            return Err(tr!(
                "存储的检查任务 {seq} 同时列有检查人员和未配员原因：存储的抽取结果在 credo 之外被改动",
                "stored visit {seq} lists both officers and an unstaffed reason: the stored draw was changed outside credo"
            ));
        }
        (_, true) => {
            return Err(tr!(
                "存储的检查任务 {seq} 既没有检查人员也没有未配员原因：存储的抽取结果在 credo 之外被改动",
                "stored visit {seq} lists neither officers nor an unstaffed reason: the stored draw was changed outside credo"
            ));
        }
    };
    Ok(Visit {
        uscc,
        stratum: v.stratum.clone(),
        ticket,
        items: v.items.iter().map(|(d, c)| draw::Item { department: d.clone(), code: c.clone() }).collect(),
        outcome,
    })
}

/// The stored draw as a [`DrawResult`] (what the store says happened).
/// A row that records no well-formed visit is a fault ([`stored_visit`]).
pub(crate) fn stored_result(store: &Store, frame: &draw::Frame, id: i64) -> Result<DrawResult> {
    result_of(frame, &store.visits(id)?).map_err(OpsError::Fault)
}

/// The draw result a plan's stored visits record, or what makes a visit
/// row not one (see [`stored_visit`]).
fn result_of(frame: &draw::Frame, visits: &[VisitRecord]) -> std::result::Result<DrawResult, Text> {
    let out = visits.iter().map(stored_visit).collect::<std::result::Result<Vec<_>, _>>()?;
    let populations = frame.populations();
    let counts = frame
        .strata()
        .iter()
        .zip(populations)
        .map(|(s, population)| draw::StratumCount {
            key: s.key.clone(),
            population,
            selected: out.iter().filter(|v| v.stratum == s.key).count() as u64,
        })
        .collect();
    Ok(DrawResult { counts, visits: out })
}

/// The self-contained bundle of a revealed plan, from what the store holds;
/// a credo-draw-v2 bundle is signed with the store's key.
pub fn export_bundle(store: &Store, id: i64) -> Result<String> {
    let plan = revealed_plan(store, id)?;
    let frame = load_frame(store, &plan)?;
    let result = stored_result(store, &frame, id)?;
    bundle_text(store, &plan, &frame, &result)
}

/// A plan that has been revealed (only such a plan has a draw).
fn revealed_plan(store: &Store, id: i64) -> Result<PlanRecord> {
    let plan = store.plan(id)?;
    if plan.status != PlanStatus::Revealed {
        let status = &plan.status;
        return Err(StoreError::Conflict(tr!(
            "计划 {id} 的状态为 {status}；只有已公开抽取的计划才有可导出的抽取结果",
            "plan {id} is {status}; only a revealed plan has a draw to export"
        ))
        .into());
    }
    Ok(plan)
}

/// The bundle of a revealed plan from its checked frame and stored result.
fn bundle_text(store: &Store, plan: &PlanRecord, frame: &draw::Frame, result: &DrawResult) -> Result<String> {
    let id = plan.id;
    let stored = |what: Text, s: Option<&str>| {
        let what = what.map(|lang, w| match lang {
            crate::i18n::Lang::Zh => format!("计划 {id}：{w}"),
            crate::i18n::Lang::En => format!("plan {id}: {w}"),
        });
        hex::decode(s.unwrap_or("").trim()).map_err(OpsError::internal(what))
    };
    let secret = stored(tr!("存储的秘密值", "the stored secret"), plan.secret.as_deref())?;
    let beacon = stored(tr!("存储的随机信标", "the stored beacon"), plan.beacon.as_deref())?;
    match frame.spec() {
        Spec::V1 => Ok(Bundle::render_parts(frame, &secret, &beacon, result)),
        Spec::V2 => {
            let reveal = BeaconReveal {
                value: plan.beacon_value.clone().unwrap_or_default(),
                supplied_at: plan.beacon_supplied_at.clone().unwrap_or_default(),
            };
            let key = store.identity().signing_key();
            Ok(Bundle::render_v2(frame, &secret, &beacon, &reveal, result, Some(key))?)
        }
    }
}

/// Re-derives a plan's draw from its stored frame and secret and compares
/// it with the stored visits, and the stored result hash with both the
/// visits and the audit log (so a changed visit or result hash shows).
pub fn verify_plan(store: &Store, id: i64) -> Result<draw::Report> {
    let plan = revealed_plan(store, id)?;
    // A frame file that is missing, unreadable or not the one committed
    // to, or a stored row that records no well-formed visit, is a
    // difference the auditor is told of, like a changed visit (not a
    // fault of the tool), as `audit verify` counts it.
    let frame = match load_frame(store, &plan) {
        Ok(f) => f,
        Err(OpsError::Store(e)) => return Err(e.into()),
        Err(e) => return Ok(draw::Report::plain(e.text())),
    };
    let result = match result_of(&frame, &store.visits(id)?) {
        Ok(r) => r,
        Err(why) => return Ok(draw::Report::plain(why)),
    };
    let text = bundle_text(store, &plan, &frame, &result)?;
    let key = store.identity().public_key();
    let spec_v2 = text.starts_with(draw::MAGIC_V2);
    let options = draw::VerifyOptions { public_key: spec_v2.then_some(key), beacon_value: None };
    let report = draw::verify_with(&text, &options);
    let draw::Report::Identical { result_hash, .. } = &report else {
        return Ok(report);
    };
    let computed = hex::encode(result_hash);
    let stored = plan.result_hash.clone().unwrap_or_default();
    if stored != computed {
        return Ok(draw::Report::plain(tr!(
            "计划 {id}：计划表记录的结果哈希为 {stored}，但存储的检查任务的哈希为 {computed}",
            "plan {id}: the plans table records result hash {stored}, but the stored visits hash to {computed}"
        )));
    }
    let audited = store
        .read(|c| crate::store::audit::entries(c, Some(&format!("plan/{id}"))))?
        .into_iter()
        .rev()
        .find(|e| e.action_kind() == Some(AuditAction::PlanReveal))
        .and_then(|e| serde_json::from_str::<serde_json::Value>(&e.payload).ok())
        .and_then(|p| p["result_hash"].as_str().map(str::to_string));
    match audited {
        Some(a) if a == computed => Ok(report),
        Some(a) => Ok(draw::Report::plain(tr!(
            "计划 {id}：审计日志在揭晓时记录的结果哈希为 {a}，但存储的检查任务的哈希为 {computed}",
            "plan {id}: the audit log recorded result hash {a} at the reveal, but the stored visits hash to {computed}"
        ))),
        None => Ok(draw::Report::plain(tr!(
            "计划 {id}：审计日志中没有该计划的揭晓条目",
            "plan {id}: the audit log has no reveal entry for this plan"
        ))),
    }
}

/// Verifies a bundle an auditor uploaded, byte for byte as `credo draw
/// verify --bundle` reads a file: integrity and re-derivation, and for a
/// credo-draw-v2 bundle the signature of this store's key. Text that is not
/// UTF-8 is a difference at its first bad byte, not an error.
pub fn verify_uploaded_bundle(store: &Store, bytes: &[u8]) -> draw::Report {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.valid_up_to();
            return draw::Report::plain(tr!(
                "数据包不是 UTF-8 文本（第 {at} 字节）",
                "the bundle is not UTF-8 (byte {at})"
            ));
        }
    };
    let spec_v2 = text.starts_with(draw::MAGIC_V2);
    let options =
        draw::VerifyOptions { public_key: spec_v2.then(|| store.identity().public_key()), beacon_value: None };
    draw::verify_with(text, &options)
}

/// Entity names by credit code, for visits.
pub fn name_lookup(s: &Snapshot) -> impl Fn(&Uscc) -> String + '_ {
    move |u| s.entities.find(u).map(|e| s.entities.name(e).to_string()).unwrap_or_default()
}
