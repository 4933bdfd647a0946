//! A classification run: turns a dataset into entity facts as of a date,
//! runs the rule set's stages over them (with blacklist propagation between
//! blacklist and supervision), and sums up the result.
//!
//! Invariants: no IO; only what was known on the as-of date is shown to the
//! rules (later records, repairs, removals and evaluations are hidden); the
//! result is in dataset row order and identical whatever the thread count.

pub mod diff;
pub mod facts;
pub mod summary;

use std::sync::Arc;

use crate::engine::{EntityState, RuleError, RuleSet, Stage, StageStats};
use crate::model::*;
use crate::propagate::{self, Propagation};

pub use summary::Summary;

/// One entity's classification.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EntityResult {
    pub uscc: Uscc,
    pub name: String,
    pub city: u32,
    pub county: u32,
    pub tier: u8,
    pub risk: Arc<str>,
    /// Yearly probability of a random inspection, in parts per million.
    pub probability_ppm: u32,
    pub tolerance_until: Option<Date>,
    /// Ids of records not counted under the first-minor-violation exemption.
    pub exemptions: Vec<String>,
    pub accumulation: Arc<str>,
    pub key_attention: bool,
    pub blacklisted: bool,
    pub blacklisted_until: Option<Date>,
    /// Departments with at least one applicable inspection item.
    pub departments: Arc<[Arc<str>]>,
    pub decisions: Vec<Arc<crate::engine::Decision>>,
    /// The entity's records as of the date, with the status the rules gave.
    pub records: Vec<RecordLine>,
}

/// One record and its status, for timelines and appeals.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RecordLine {
    pub kind: &'static str,
    pub id: String,
    pub date: Date,
    pub status: String,
}

impl EntityResult {
    pub fn probability(&self) -> f64 {
        f64::from(self.probability_ppm) / 1_000_000.0
    }

    /// One line a regulator or an appealing entity can read.
    pub fn explanation(&self) -> String {
        let mut parts = Vec::new();
        for d in &self.decisions {
            let label = match d.stage {
                Stage::Tolerance if self.tolerance_until.is_none() => continue,
                Stage::RecordStatus if d.inputs.is_empty() => continue,
                Stage::Accumulation if &*self.accumulation == "none" => continue,
                Stage::Blacklist if !self.blacklisted => continue,
                Stage::Tolerance => "tolerance".to_string(),
                Stage::RecordStatus => "records".to_string(),
                Stage::Accumulation => format!("accumulation {}", self.accumulation),
                Stage::Tier => format!("tier {}", self.tier),
                Stage::Blacklist => "blacklist".to_string(),
                Stage::PersonLink | Stage::EntityLink => "propagation".to_string(),
                Stage::Supervision => format!("risk {} p={:.4}", self.risk, self.probability()),
            };
            parts.push(format!("{label}: {d}"));
        }
        parts.join(" | ")
    }
}

/// A finished run.
pub struct Classification {
    pub as_of: Date,
    pub results: Vec<EntityResult>,
    /// Entities registered after the as-of date: they did not exist yet.
    pub not_yet_registered: usize,
    pub stages: Vec<(Stage, StageStats)>,
    pub propagation: Propagation,
    pub summary: Summary,
}

/// Classifies every entity registered on or before `as_of`.
/// `progress` is called with a short label as each stage starts.
pub fn classify(
    ds: &Dataset,
    rules: &RuleSet,
    as_of: Date,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Classification, RuleError> {
    progress("building facts");
    let built = facts::build(ds, as_of);
    let mut states: Vec<EntityState> = built.facts.into_iter().map(EntityState::new).collect();
    let mut stages = Vec::new();
    for stage in [Stage::Tolerance, Stage::RecordStatus, Stage::Accumulation, Stage::Tier, Stage::Blacklist] {
        progress(stage.name());
        stages.push((stage, rules.run_stage(stage, &mut states)?));
    }
    progress("propagation");
    let propagation = propagate::propagate(ds, rules, &mut states, as_of)?;
    progress(Stage::Supervision.name());
    stages.push((Stage::Supervision, rules.run_stage(Stage::Supervision, &mut states)?));

    progress("summary");
    let departments = facts::DepartmentIndex::new(ds);
    let results: Vec<EntityResult> = {
        use rayon::prelude::*;
        states
            .into_par_iter()
            .zip(built.rows.into_par_iter())
            .map(|(s, row)| {
                let e = &ds.entities[row];
                let f = &s.facts;
                EntityResult {
                    uscc: f.uscc,
                    name: e.name.clone(),
                    city: f.city,
                    county: f.region,
                    tier: f.stages.tier.unwrap_or(0),
                    risk: s.supervision.risk.clone(),
                    probability_ppm: s.supervision.probability_ppm,
                    tolerance_until: f.stages.tolerance_until,
                    exemptions: f
                        .records
                        .iter()
                        .filter(|r| r.status.as_deref() == Some("exempt"))
                        .map(|r| r.id.to_string())
                        .collect(),
                    accumulation: f.stages.accumulation.as_deref().unwrap_or("none").into(),
                    key_attention: f.stages.accumulation.as_deref() == Some("key_attention")
                        || f.stages.propagated.iter().any(|p| p.effect == "key_attention"),
                    blacklisted: s.blacklist.listed,
                    blacklisted_until: s.blacklist.until,
                    departments: departments.for_entity(e),
                    records: f
                        .records
                        .iter()
                        .map(|r| RecordLine {
                            kind: r.kind.as_str(),
                            id: r.id.to_string(),
                            date: r.date,
                            status: r.status.as_deref().unwrap_or("").to_string(),
                        })
                        .collect(),
                    decisions: s.decisions,
                }
            })
            .collect()
    };
    let summary = Summary::of(&results, &propagation, built.not_yet_registered);
    Ok(Classification { as_of, results, not_yet_registered: built.not_yet_registered, stages, propagation, summary })
}
