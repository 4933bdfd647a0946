//! Capacity planning (issue #13, item 9): before a plan is committed, the
//! expected visits of its frame per county × department against the
//! active, qualified officers who may go there and their per-plan caps,
//! with every cell the plan cannot staff flagged and why.
//!
//! The frame is built exactly as plan creation builds it (same
//! eligibility, strata and quota shares, same officer roster), but nothing
//! is stored, committed or drawn. The expected visits of an eligible
//! entity are its probability (probability strata) or its stratum's quota
//! target over the stratum's population (quota strata, `draw::quota_target`).
//!
//! Officers serve an area (the entity's city or county, `officers_from`);
//! a city's officers serve all its counties, so the cap is checked per
//! area × department and every county cell of an area over its cap is
//! flagged. A visit needs at least one officer of each department whose
//! items it has and `officers_per_visit` in all: a department's share of a
//! visit is `max(1, officers_per_visit / departments of the visit)`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::Result;
use super::plans::{Cancel, check_plan_request, classified_from_run, in_jurisdiction, plan_history};
use crate::classify;
use crate::data::LoadedDataset;
use crate::draw::{self, Frame, StratumMode};
use crate::engine::{OfficerArea, RuleSet};
use crate::model::access::Principal;
use crate::model::{Date, StaffingShortfall, Uscc};
use crate::plan::{self, FrameIdentity, FrameStats, PlanEntity, PlanKind, PlanParams, SelectionMode};
use crate::snapshot::Snapshot;
use crate::store::Store;

/// One county × department of a draft plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CapacityCell {
    /// The entities' county (division code).
    pub county: u32,
    /// The area its officers come from: the county's city, or the county
    /// itself when the rules say `officers_from = "county"`.
    pub area: u32,
    pub department: String,
    /// Expected visits with items of the department.
    pub expected_visits: f64,
    /// Active officers of the department serving the area.
    pub officers: usize,
    /// Of them, qualified for at least one of the area's expected visits
    /// of the department.
    pub qualified: usize,
    /// Visits an officer may make in one plan.
    pub cap: u32,
    /// Expected officer-visits of the department in the whole area (all
    /// its counties), for visits that can be staffed at all.
    pub area_officer_visits: f64,
    /// What the area's qualified officers can make: qualified × cap.
    pub area_capacity: u64,
    /// Expected visits of this cell no team can be formed for (no officer,
    /// none qualified, too few for a team).
    pub visits_without_team: f64,
    /// Why the cell cannot be staffed (the first reason found, in the
    /// order of `StaffingShortfall`), or none.
    pub shortfall: Option<StaffingShortfall>,
}

/// A draft plan's frame counts and staffing, before it is committed.
#[derive(Clone, Debug, Serialize)]
pub struct PlanPreview {
    pub as_of: Date,
    pub kind: PlanKind,
    pub mode: SelectionMode,
    pub departments: Vec<String>,
    pub officers_per_visit: u32,
    pub max_visits_per_officer: u32,
    pub officers_from: OfficerArea,
    pub stats: FrameStats,
    /// Expected visits of the plan in all.
    pub expected_visits: f64,
    /// County × department, ascending.
    pub cells: Vec<CapacityCell>,
}

impl PlanPreview {
    /// Cells the plan cannot staff.
    pub fn unstaffable(&self) -> impl Iterator<Item = &CapacityCell> {
        self.cells.iter().filter(|c| c.shortfall.is_some())
    }

    pub fn staffable(&self) -> bool {
        self.unstaffable().next().is_none()
    }
}

/// The preview of a plan over a fresh classification of `loaded` (held in
/// memory: no run is recorded, nothing is committed).
pub fn preview_plan(
    store: &Store,
    loaded: &LoadedDataset,
    rules: &RuleSet,
    params: &PlanParams,
    caller: &Principal,
) -> Result<PlanPreview> {
    let params = checked(caller, params, &loaded.snapshot)?;
    let mut entities: Vec<PlanEntity> = Vec::new();
    classify::classify(&loaded.snapshot, rules, params.as_of, &classify::Options::default(), &|_| {}, &mut |shard| {
        entities.extend(shard.iter().map(PlanEntity::from_result));
        Ok(())
    })?;
    preview_with(store, &loaded.snapshot, &entities, &params, caller)
}

/// The preview of a plan over a finished run in the store (what `POST
/// /plans` would build from it).
pub fn preview_plan_from_run(
    store: &Store,
    loaded: &LoadedDataset,
    run_id: i64,
    params: &PlanParams,
    caller: &Principal,
    cancel: &Cancel,
) -> Result<PlanPreview> {
    let params = checked(caller, params, &loaded.snapshot)?;
    let entities = classified_from_run(store, loaded, run_id, &params)?;
    cancel.check()?;
    preview_with(store, &loaded.snapshot, &entities, &params, caller)
}

/// The plan request's checks, as for creation. The release time and the
/// beacon do not change the frame: a preview may leave them out (empty).
fn checked(caller: &Principal, params: &PlanParams, s: &Snapshot) -> Result<PlanParams> {
    let mut p = params.clone();
    if p.release_at.is_empty() {
        p.release_at = format!("{}T00:00:00+08:00", p.as_of);
    }
    check_plan_request(caller, &p)?;
    p.validate(&s.departments)?;
    Ok(p)
}

fn preview_with(
    store: &Store,
    s: &Snapshot,
    entities: &[PlanEntity],
    params: &PlanParams,
    caller: &Principal,
) -> Result<PlanPreview> {
    let local = in_jurisdiction(entities, caller.jurisdiction);
    let entities = local.as_deref().unwrap_or(entities);
    let history = plan_history(store, s, params)?;
    // Never committed: a frame of the v1 layout with no commitment is
    // enough (eligibility, strata and officers are the same).
    let identity = FrameIdentity { plan_id: "preview".into(), commitment: [0u8; 32], provenance: None };
    let (frame, stats) = plan::build_frame(s, entities, params, &identity, &history)?;
    let county: FxHashMap<Uscc, u32> = entities.iter().map(|e| (e.uscc, e.county)).collect();
    let cells = capacity(&frame, &|u| county.get(u).copied());
    let expected_visits = expected_per_row(&frame).iter().sum();
    Ok(PlanPreview {
        as_of: params.as_of,
        kind: params.kind,
        mode: params.mode,
        departments: params.departments.clone(),
        officers_per_visit: params.officers_per_visit,
        max_visits_per_officer: params.max_visits_per_officer,
        officers_from: params.officers_from,
        stats,
        expected_visits,
        cells,
    })
}

/// Each frame row's chance of being drawn: 0 when not eligible.
fn expected_per_row(frame: &Frame) -> Vec<f64> {
    let populations = frame.populations();
    let share: Vec<Option<f64>> = frame
        .strata()
        .iter()
        .zip(&populations)
        .map(|(s, &n)| match s.mode {
            StratumMode::Probability => None,
            StratumMode::Quota { ratio_ppm, min_ratio_ppm } => {
                Some(if n == 0 { 0.0 } else { draw::quota_target(n, ratio_ppm, min_ratio_ppm) as f64 / n as f64 })
            }
        })
        .collect();
    frame
        .entities()
        .map(|e| match (e.is_eligible(), share[e.stratum_index()]) {
            (false, _) => 0.0,
            (true, Some(q)) => q,
            (true, None) => f64::from(e.probability_ppm()) / 1e6,
        })
        .collect()
}

#[derive(Default)]
struct CellSum {
    area: u32,
    expected: f64,
    no_officer: f64,
    not_qualified: f64,
    too_few: f64,
}

#[derive(Default)]
struct AreaSum {
    officer_visits: f64,
    qualified: BTreeSet<usize>,
    active: usize,
}

/// The expected visits of a built frame per county × department against
/// its officers (`county_of`: an entity's county; the area code when
/// unknown).
pub fn capacity(frame: &Frame, county_of: &dyn Fn(&Uscc) -> Option<u32>) -> Vec<CapacityCell> {
    let plan = frame.plan();
    let (cap, per_visit) = (plan.max_visits_per_officer, plan.officers_per_visit as usize);
    let officers = frame.officers();
    let mut active: HashMap<(u32, &str), Vec<usize>> = HashMap::new();
    for (i, o) in officers.iter().enumerate() {
        if o.active && plan.departments.iter().any(|d| d == &o.department) {
            active.entry((o.city, o.department.as_str())).or_default().push(i);
        }
    }
    let mut qualified_memo: HashMap<(u32, String), Vec<usize>> = HashMap::new();
    let mut cells: BTreeMap<(u32, String), CellSum> = BTreeMap::new();
    let mut areas: BTreeMap<(u32, String), AreaSum> = BTreeMap::new();
    let expected = expected_per_row(frame);
    for e in frame.entities() {
        let p = expected[e.row()];
        if p <= 0.0 {
            continue;
        }
        let area = e.city();
        let county = county_of(&e.uscc()).unwrap_or(area);
        let mut by_dept: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (d, code) in e.items() {
            by_dept.entry(d).or_default().push(code);
        }
        let mut qualified: Vec<(&str, Vec<usize>)> = Vec::with_capacity(by_dept.len());
        for (d, codes) in &by_dept {
            let key = (area, format!("{d}\u{1f}{}", codes.join("\u{1f}")));
            let q = qualified_memo
                .entry(key)
                .or_insert_with(|| {
                    active
                        .get(&(area, *d))
                        .into_iter()
                        .flatten()
                        .copied()
                        .filter(|&i| codes.iter().all(|c| officers[i].qualifications.iter().any(|q| q == c)))
                        .collect()
                })
                .clone();
            qualified.push((d, q));
        }
        let team: usize = qualified.iter().map(|(_, q)| q.len()).sum();
        let share = (per_visit as f64 / by_dept.len().max(1) as f64).max(1.0);
        for (d, q) in qualified {
            let cell = cells.entry((county, d.to_string())).or_default();
            cell.area = area;
            cell.expected += p;
            let a = areas.entry((area, d.to_string())).or_default();
            a.active = active.get(&(area, d)).map_or(0, Vec::len);
            if a.active == 0 {
                cell.no_officer += p;
            } else if q.is_empty() {
                cell.not_qualified += p;
            } else if team < per_visit {
                cell.too_few += p;
            } else {
                a.officer_visits += p * share;
                a.qualified.extend(q);
            }
        }
    }
    cells
        .into_iter()
        .map(|((county, department), c)| {
            let a = &areas[&(c.area, department.clone())];
            let area_capacity = a.qualified.len() as u64 * u64::from(cap);
            // Rounding of sums of probabilities must not flag an exact fit.
            let over_cap = a.officer_visits > area_capacity as f64 + 1e-6;
            let shortfall = if c.no_officer > 0.0 {
                Some(StaffingShortfall::NoOfficer)
            } else if c.not_qualified > 0.0 {
                Some(StaffingShortfall::NotQualified)
            } else if c.too_few > 0.0 {
                Some(StaffingShortfall::TooFewForTeam)
            } else if over_cap {
                Some(StaffingShortfall::OverCap)
            } else {
                None
            };
            CapacityCell {
                county,
                area: c.area,
                department,
                expected_visits: c.expected,
                officers: a.active,
                qualified: a.qualified.len(),
                cap,
                area_officer_visits: a.officer_visits,
                area_capacity,
                visits_without_team: c.no_officer + c.not_qualified + c.too_few,
                shortfall,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! The computation over small hand-built frames.
    use super::*;
    use crate::draw::{FrameBuilder, NewEntity, Officer, Plan, Stratum};

    const JINAN: u32 = 370100;

    fn officer(id: &str, dept: &str, quals: &[&str], active: bool) -> Officer {
        Officer {
            officer_id: id.into(),
            department: dept.into(),
            city: JINAN,
            qualifications: quals.iter().map(|q| q.to_string()).collect(),
            active,
            persons: Vec::new(),
        }
    }

    /// `n` entities of Jinan (county 370102), each drawn with probability
    /// `ppm` and with the items given, under a plan of MR and MPA.
    fn frame(officers: Vec<Officer>, n: usize, ppm: u32, items: &[(&str, &str)], cap: u32) -> Frame {
        let plan = Plan {
            plan_id: "t".into(),
            departments: vec!["MPA".into(), "MR".into()],
            officers_per_visit: 2,
            max_visits_per_officer: cap,
            commitment: [0; 32],
            beacon_source: String::new(),
        };
        let strata = vec![Stratum { key: "all".into(), mode: StratumMode::Probability }];
        let mut b = FrameBuilder::new(plan, strata, officers).unwrap();
        let mut usccs: Vec<Uscc> = (0..n as u64).map(uscc).collect();
        usccs.sort();
        for u in usccs {
            b.push(NewEntity {
                uscc: u,
                stratum: "all",
                probability_ppm: ppm,
                exclusion: None,
                city: JINAN,
                items,
                persons: &[],
                recent_officers: &[],
            })
            .unwrap();
        }
        b.build().unwrap()
    }

    fn uscc(n: u64) -> Uscc {
        let mut body = [b'0'; 8];
        for (i, c) in format!("{:08}", n + 1).bytes().enumerate() {
            body[i] = c;
        }
        Uscc::assemble(b'9', b'1', 370102, body).expect("a valid code")
    }

    fn cells(f: &Frame) -> Vec<CapacityCell> {
        capacity(f, &|_| Some(370102))
    }

    #[test]
    fn a_staffable_plan_flags_nothing_and_counts_expected_visits() {
        let f = frame(
            vec![officer("MR-1", "MR", &["MR-01"], true), officer("MR-2", "MR", &["MR-01"], true)],
            10,
            500_000,
            &[("MR", "MR-01")],
            5,
        );
        let c = cells(&f);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!((c[0].county, c[0].area, c[0].department.as_str()), (370102, JINAN, "MR"));
        assert!((c[0].expected_visits - 5.0).abs() < 1e-9, "{c:?}");
        // 5 visits × 2 officers = 10 officer-visits, 2 officers × cap 5.
        assert!((c[0].area_officer_visits - 10.0).abs() < 1e-9, "{c:?}");
        assert_eq!((c[0].officers, c[0].qualified, c[0].area_capacity), (2, 2, 10));
        assert_eq!(c[0].shortfall, None);
    }

    #[test]
    fn over_cap_no_officer_and_not_qualified_are_flagged() {
        let roster = vec![
            officer("MR-1", "MR", &["MR-01"], true),
            officer("MR-2", "MR", &["MR-01"], true),
            officer("MR-3", "MR", &["MR-01"], false),
        ];
        // 12 visits need 24 officer-visits; 2 active officers × 5 = 10.
        let c = cells(&frame(roster.clone(), 12, 1_000_000, &[("MR", "MR-01")], 5));
        assert_eq!(c[0].shortfall, Some(StaffingShortfall::OverCap), "{c:?}");
        assert_eq!(c[0].officers, 2, "the inactive officer does not count");
        // MPA has no officer in Jinan at all.
        let c = cells(&frame(roster.clone(), 2, 1_000_000, &[("MPA", "MPA-01")], 5));
        assert_eq!(c[0].shortfall, Some(StaffingShortfall::NoOfficer), "{c:?}");
        assert!((c[0].visits_without_team - 2.0).abs() < 1e-9);
        // MR officers exist, none qualified for MR-05.
        let c = cells(&frame(roster, 2, 1_000_000, &[("MR", "MR-05")], 5));
        assert_eq!(c[0].shortfall, Some(StaffingShortfall::NotQualified), "{c:?}");
        // One qualified officer cannot form a team of two.
        let c = cells(&frame(
            vec![officer("MR-1", "MR", &["MR-01"], true), officer("MR-2", "MR", &["MR-02"], true)],
            1,
            1_000_000,
            &[("MR", "MR-01")],
            5,
        ));
        assert_eq!(c[0].shortfall, Some(StaffingShortfall::TooFewForTeam), "{c:?}");
    }

    #[test]
    fn excluded_entities_and_zero_probabilities_expect_no_visit() {
        let f = frame(vec![], 3, 0, &[("MR", "MR-01")], 5);
        assert!(cells(&f).is_empty());
    }
}
