//! What the web console shows that no other front end asks for: the
//! dashboard of the latest run and the trend across runs, and the staffing
//! preview of a plan (expected visits per department against officers).
//! The console calls these like any other operation; the policy decides
//! first.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::policy::{self, Action, Resource};
use super::{OpsError, Result};
use crate::model::Officer;
use crate::model::access::Principal;
use crate::store::{RunRecord, Store};
use crate::tr;

/// The parts of a run's stored summary the dashboard shows.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunFigures {
    pub entities: usize,
    /// tier ("1".."4") → count.
    pub tiers: BTreeMap<String, usize>,
    /// city code → counts of tiers 1..=4.
    pub tiers_by_city: BTreeMap<u32, [usize; 4]>,
    pub expected_by_department: BTreeMap<String, f64>,
    pub expected_by_city: BTreeMap<u32, f64>,
    pub expected_total: f64,
    pub key_attention: usize,
    pub blacklisted: usize,
}

impl RunFigures {
    /// Count of tier 1..=4.
    pub fn tier(&self, tier: u8) -> usize {
        self.tiers.get(&tier.to_string()).copied().unwrap_or(0)
    }
}

/// The latest finished run and every finished run's figures, oldest first.
pub struct Dashboard {
    pub latest: Option<(RunRecord, RunFigures)>,
    pub trend: Vec<(RunRecord, RunFigures)>,
}

fn figures(run: &RunRecord) -> Result<RunFigures> {
    match &run.summary {
        Some(s) => serde_json::from_value(s.clone())
            .map_err(|e| OpsError::Rejected(tr!("运行 {}：{e}", "run {}: {e}", run.id))),
        None => Ok(RunFigures::default()),
    }
}

/// The dashboard, for a principal that may read runs.
pub fn dashboard(store: &Store, caller: &Principal) -> Result<Dashboard> {
    policy::decide(caller, Action::ReadRuns, Resource::Store)?;
    let mut trend = Vec::new();
    for run in store.runs()?.into_iter().filter(|r| r.status == crate::model::RunStatus::Done) {
        let f = figures(&run)?;
        trend.push((run, f));
    }
    trend.sort_by_key(|(r, _)| r.id);
    Ok(Dashboard { latest: trend.last().cloned(), trend })
}

/// A department's expected yearly visits against its active officers.
#[derive(Clone, Debug, PartialEq)]
pub struct Staffing {
    pub department: String,
    pub expected_visits: f64,
    pub officers: usize,
}

/// The staffing preview of a plan over `run`: for each department on the
/// roster or in the run, the expected visits and the active officers.
pub fn staffing(store: &Store, caller: &Principal, roster: &[Officer], run: i64) -> Result<Vec<Staffing>> {
    policy::decide(caller, Action::CreatePlan, Resource::Store)?;
    let f = figures(&store.run(run)?)?;
    let mut rows: BTreeMap<String, Staffing> = BTreeMap::new();
    for o in roster.iter().filter(|o| o.active) {
        rows.entry(o.department.clone())
            .or_insert_with(|| Staffing { department: o.department.clone(), expected_visits: 0.0, officers: 0 })
            .officers += 1;
    }
    for (d, v) in f.expected_by_department {
        rows.entry(d.clone())
            .or_insert_with(|| Staffing { department: d, expected_visits: 0.0, officers: 0 })
            .expected_visits = v;
    }
    Ok(rows.into_values().collect())
}
