//! Officer assignment: for each visit, in processing order, the best-ranked
//! eligible officers, one per department with items first.
//!
//! Officer tickets depend only on (seed, USCC, officer id), so the static
//! part (who could go at all, and their tickets) is computed in parallel
//! for a chunk of visits; the workload caps are then applied sequentially,
//! in processing order.

use std::collections::HashMap;

use rayon::prelude::*;

use super::frame::{EntityRef, Frame, Officer};
use super::select::Selection;
use super::ticket::{OfficerTail, Seed, VisitTicketer};
use super::{DrawError, DrawResult};
use crate::model::{PersonId, Uscc};

/// An inspection item of a visit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Item {
    pub department: String,
    pub code: String,
}

/// Whether a visit got its officers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Officer ids in rank order (ascending officer ticket, then id bytes).
    Staffed(Vec<String>),
    /// Why no team could be formed (exact wording: see docs/draw-spec.md).
    Unstaffed(String),
}

/// One visit: a selected entity, all its items, its team or why none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub uscc: Uscc,
    pub stratum: String,
    pub ticket: u64,
    pub items: Vec<Item>,
    pub outcome: Outcome,
}

/// Visits whose static candidates are computed together in parallel.
const CHUNK: usize = 2048;

struct Officers<'a> {
    officers: &'a [Officer],
    /// Index into plan.departments, or u32::MAX if not participating.
    dept: Vec<u32>,
    /// Qualification code -> bit.
    codes: HashMap<&'a str, u32>,
    words: usize,
    quals: Vec<u64>,
    /// (city, department) -> all officers / active officers, ascending index.
    all: HashMap<(u32, u32), Vec<u32>>,
    active: HashMap<(u32, u32), Vec<u32>>,
    by_person: HashMap<PersonId, Vec<u32>>,
    tails: Vec<OfficerTail>,
}

impl<'a> Officers<'a> {
    fn new(frame: &'a Frame) -> Self {
        let officers = frame.officers();
        let deps = &frame.plan().departments;
        let dept: Vec<u32> =
            officers.iter().map(|o| deps.binary_search(&o.department).map_or(u32::MAX, |d| d as u32)).collect();
        let mut codes: HashMap<&str, u32> = HashMap::new();
        for o in officers {
            for q in &o.qualifications {
                let n = codes.len() as u32;
                codes.entry(q.as_str()).or_insert(n);
            }
        }
        let words = codes.len().div_ceil(64).max(1);
        let mut quals = vec![0u64; words * officers.len()];
        let mut all: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
        let mut active: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
        let mut by_person: HashMap<PersonId, Vec<u32>> = HashMap::new();
        for (i, o) in officers.iter().enumerate() {
            for q in &o.qualifications {
                let b = codes[q.as_str()] as usize;
                quals[i * words + b / 64] |= 1 << (b % 64);
            }
            for p in &o.persons {
                by_person.entry(*p).or_default().push(i as u32);
            }
            if dept[i] == u32::MAX {
                continue;
            }
            all.entry((o.city, dept[i])).or_default().push(i as u32);
            if o.active {
                active.entry((o.city, dept[i])).or_default().push(i as u32);
            }
        }
        let tails = officers.iter().map(|o| OfficerTail::new(&o.officer_id)).collect();
        Officers { officers, dept, codes, words, quals, all, active, by_person, tails }
    }

    fn qualified(&self, o: u32, bits: &[u32]) -> bool {
        let q = &self.quals[o as usize * self.words..(o as usize + 1) * self.words];
        bits.iter().all(|&b| q[b as usize / 64] & (1 << (b % 64)) != 0)
    }

    /// Officers barred from this entity: shared persons or recent visits.
    fn barred(&self, e: &EntityRef<'_>) -> Vec<u32> {
        let mut v: Vec<u32> = e.persons().iter().filter_map(|p| self.by_person.get(p)).flatten().copied().collect();
        for r in e.recent_officers() {
            if let Ok(i) = self.officers.binary_search_by(|o| o.officer_id.as_str().cmp(r)) {
                v.push(i as u32);
            }
        }
        v
    }
}

/// The departments with items in a visit (plan indices, ascending) and,
/// per department, the qualification bits its items need (`None` if some
/// item is in no officer's qualifications).
fn visit_departments(off: &Officers<'_>, frame: &Frame, e: &EntityRef<'_>) -> Vec<(u32, Option<Vec<u32>>)> {
    let mut out: Vec<(u32, Option<Vec<u32>>)> = Vec::new();
    for &id in e.item_ids() {
        let (d, code) = frame.item(id);
        if out.last().is_none_or(|x| x.0 != d) {
            out.push((d, Some(Vec::new())));
        }
        let slot = &mut out.last_mut().expect("pushed").1;
        match (off.codes.get(code), slot.as_mut()) {
            (Some(&b), Some(bits)) => bits.push(b),
            _ => *slot = None,
        }
    }
    out
}

/// Every officer that passes the load-independent constraints, with its
/// ticket for this visit. Officers already at the cap (`load` is a snapshot
/// taken before the chunk; loads only grow) are skipped without hashing.
fn static_candidates(
    off: &Officers<'_>,
    frame: &Frame,
    seed: &Seed,
    e: &EntityRef<'_>,
    load: &[u32],
    cap: u32,
) -> Vec<(u64, u32)> {
    let barred = off.barred(e);
    let mut vt = VisitTicketer::new(seed, &e.uscc());
    let mut out = Vec::new();
    for (d, bits) in visit_departments(off, frame, e) {
        let (Some(bits), Some(list)) = (bits, off.active.get(&(e.city(), d))) else {
            continue;
        };
        for &o in list {
            if load[o as usize] < cap && off.qualified(o, &bits) && !barred.contains(&o) {
                out.push((vt.ticket(&off.tails[o as usize], &off.officers[o as usize].officer_id), o));
            }
        }
    }
    out
}

/// Assigns officers to the selected entities. `frames[p.shard]` holds each
/// pick's entity; all frames must share the plan and officers (the first
/// frame's are used).
pub fn assign(selection: &Selection, frames: &[&Frame], seed: &Seed) -> Result<DrawResult, DrawError> {
    let Some(first) = frames.first() else {
        return Err(DrawError::Shards("no frame given".into()));
    };
    for (i, f) in frames.iter().enumerate().skip(1) {
        if f.plan() != first.plan() || f.officers() != first.officers() || f.strata() != first.strata() {
            return Err(DrawError::Shards(format!("frame {i} has a different plan, strata or officers than frame 0")));
        }
    }
    if let Some(p) = selection
        .picks
        .iter()
        .find(|p| frames.get(p.shard as usize).is_none_or(|f| f.usccs().get(p.row as usize) != Some(&p.uscc)))
    {
        return Err(DrawError::Shards(format!("pick {} does not match shard {} row {}", p.uscc, p.shard, p.row)));
    }
    let plan = first.plan();
    let off = Officers::new(first);
    let cap = plan.max_visits_per_officer;
    let per_visit = plan.officers_per_visit as usize;
    let mut load = vec![0u32; off.officers.len()];
    let mut visits = Vec::with_capacity(selection.picks.len());
    for chunk in selection.picks.chunks(CHUNK) {
        let statics: Vec<Vec<(u64, u32)>> = chunk
            .par_iter()
            .map(|p| {
                let f = frames[p.shard as usize];
                static_candidates(&off, f, seed, &f.entity(p.row as usize), &load, cap)
            })
            .collect();
        for (p, cands) in chunk.iter().zip(statics) {
            let frame = frames[p.shard as usize];
            let e = frame.entity(p.row as usize);
            let depts = visit_departments(&off, frame, &e);
            let outcome = choose(&off, &depts, &cands, &mut load, cap, per_visit)
                .map_err(|why| match why {
                    Shortfall::Department(k) => department_reason(&off, frame, &e, &depts[k], &load, cap),
                    Shortfall::Total(counts) => total_reason(frame, &depts, &counts, per_visit),
                })
                .map_or_else(Outcome::Unstaffed, Outcome::Staffed);
            visits.push(Visit {
                uscc: p.uscc,
                stratum: selection.strata[p.stratum as usize].key.clone(),
                ticket: p.ticket,
                items: e.items().map(|(d, c)| Item { department: d.to_owned(), code: c.to_owned() }).collect(),
                outcome,
            });
        }
    }
    Ok(DrawResult { counts: selection.counts.clone(), visits })
}

enum Shortfall {
    /// Index (into the visit's departments) of the first with no candidate.
    Department(usize),
    /// Candidates per department; fewer than needed in total.
    Total(Vec<usize>),
}

fn choose(
    off: &Officers<'_>,
    depts: &[(u32, Option<Vec<u32>>)],
    cands: &[(u64, u32)],
    load: &mut [u32],
    cap: u32,
    per_visit: usize,
) -> Result<Vec<String>, Shortfall> {
    let mut best: Vec<Option<(u64, u32)>> = vec![None; depts.len()];
    let mut counts = vec![0usize; depts.len()];
    for &c in cands {
        if load[c.1 as usize] >= cap {
            continue;
        }
        let k = depts.iter().position(|d| d.0 == off.dept[c.1 as usize]).expect("candidate of a visit department");
        counts[k] += 1;
        if best[k].is_none_or(|b| c < b) {
            best[k] = Some(c);
        }
    }
    if let Some(k) = best.iter().position(Option::is_none) {
        return Err(Shortfall::Department(k));
    }
    let mut team: Vec<(u64, u32)> = best.into_iter().flatten().collect();
    let need = per_visit.saturating_sub(team.len());
    if need > 0 {
        let mut rest: Vec<(u64, u32)> =
            cands.iter().copied().filter(|c| load[c.1 as usize] < cap && !team.contains(c)).collect();
        if rest.len() < need {
            return Err(Shortfall::Total(counts));
        }
        if rest.len() > need {
            rest.select_nth_unstable(need - 1);
        }
        team.extend_from_slice(&rest[..need]);
    }
    team.sort_unstable();
    Ok(team
        .into_iter()
        .map(|(_, o)| {
            load[o as usize] += 1;
            off.officers[o as usize].officer_id.clone()
        })
        .collect())
}

/// "MPA: no officer can go (12 of MPA in 370100, 11 active, 4 qualified for
/// MPA-03, 4 without conflict of interest, 3 not recently at this entity,
/// 0 under the workload cap of 5)": how many officers of the department
/// pass each constraint in turn.
fn department_reason(
    off: &Officers<'_>,
    frame: &Frame,
    e: &EntityRef<'_>,
    (d, bits): &(u32, Option<Vec<u32>>),
    load: &[u32],
    cap: u32,
) -> String {
    let dept = &frame.plan().departments[*d as usize];
    let codes: Vec<&str> = e.item_ids().iter().map(|&i| frame.item(i)).filter(|x| x.0 == *d).map(|x| x.1).collect();
    let conflicted: Vec<u32> = e.persons().iter().filter_map(|p| off.by_person.get(p)).flatten().copied().collect();
    let recent: Vec<u32> = e
        .recent_officers()
        .filter_map(|r| off.officers.binary_search_by(|o| o.officer_id.as_str().cmp(r)).ok())
        .map(|i| i as u32)
        .collect();
    let mut n = [0usize; 6];
    for &o in off.all.get(&(e.city(), *d)).map_or(&[][..], Vec::as_slice) {
        let stages = [
            true,
            off.officers[o as usize].active,
            bits.as_ref().is_some_and(|b| off.qualified(o, b)),
            !conflicted.contains(&o),
            !recent.contains(&o),
            load[o as usize] < cap,
        ];
        for (k, _) in stages.iter().enumerate().take_while(|(_, ok)| **ok) {
            n[k] += 1;
        }
    }
    format!(
        "{dept}: no officer can go ({} of {dept} in {:06}, {} active, {} qualified for {}, {} without conflict of interest, {} not recently at this entity, {} under the workload cap of {cap})",
        n[0],
        e.city(),
        n[1],
        n[2],
        codes.join(","),
        n[3],
        n[4],
        n[5]
    )
}

/// "only 1 officer can go, 2 needed (MPA 1)".
fn total_reason(frame: &Frame, depts: &[(u32, Option<Vec<u32>>)], counts: &[usize], per_visit: usize) -> String {
    let total: usize = counts.iter().sum();
    let parts: Vec<String> =
        depts.iter().zip(counts).map(|(d, c)| format!("{} {c}", frame.plan().departments[d.0 as usize])).collect();
    let noun = if total == 1 { "officer" } else { "officers" };
    format!("only {total} {noun} can go, {per_visit} needed ({})", parts.join(", "))
}
