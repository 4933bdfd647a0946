//! What the web console shows that no other front end asks for: the
//! dashboard of the latest run and the trend across runs (its plan
//! wizard's staffing preview is `ops::capacity`, as for the CLI and the
//! API). The console calls these like any other operation; the policy
//! decides first.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::policy::{self, Action, Resource};
use super::{OpsError, Result};
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
