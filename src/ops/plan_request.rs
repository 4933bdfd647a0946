//! What a plan creation asks for, whichever front end it came through (the
//! API's JSON, the console's wizard): checked against the bounds first,
//! then assembled into `PlanParams` on the draw defaults of the rule
//! version the run was classified with. One place, so the same request
//! makes the same plan through either front end.
//!
//! Never falls back to built-in draw defaults: a run whose rules the store
//! does not hold is refused (`run_rule_version`).

use std::sync::Arc;

use super::limits;
use super::{OpsError, Result};
use crate::draw::BeaconRule;
use crate::engine::RuleSet;
use crate::plan::{PlanKind, PlanParams, SelectionMode};
use crate::store::Store;

/// A plan creation as a client sends it.
#[derive(Clone, Debug)]
pub struct PlanRequest {
    pub name: String,
    pub kind: PlanKind,
    pub departments: Vec<String>,
    /// The finished classification run the frame is built from.
    pub run: i64,
    pub mode: Option<SelectionMode>,
    /// One quota share for every stratum (replaces the rules' shares by tier).
    pub ratio: Option<f64>,
    /// When officers may see their assignments (RFC 3339).
    pub release_at: String,
    /// Empty: the plan explicitly has no beacon.
    pub beacon_source: String,
    /// `text`, `digits` or `hex`; required with a beacon source.
    pub beacon_rule: Option<String>,
    pub beacon_published_at: String,
    /// SHA-256 of the caller's own secret (hex); none: credo makes one.
    pub commitment: Option<String>,
}

/// A request within its bounds, its codes parsed.
#[derive(Clone, Debug)]
pub struct CheckedPlanRequest {
    request: PlanRequest,
    beacon_rule: BeaconRule,
    commitment: Option<[u8; 32]>,
}

impl PlanRequest {
    /// A request with only the fields the console's wizard asks for.
    pub fn basic(name: &str, kind: PlanKind, departments: Vec<String>, run: i64, release_at: &str) -> PlanRequest {
        PlanRequest {
            name: name.to_string(),
            kind,
            departments,
            run,
            mode: None,
            ratio: None,
            release_at: release_at.trim().to_string(),
            beacon_source: String::new(),
            beacon_rule: None,
            beacon_published_at: String::new(),
            commitment: None,
        }
    }

    /// Bounds and formats, before any work or any wait.
    pub fn check(self) -> Result<CheckedPlanRequest> {
        limits::required_text("name", &self.name, limits::NAME)?;
        limits::list("departments", &self.departments, limits::DEPARTMENTS, limits::CODE)?;
        let commitment = match &self.commitment {
            None => None,
            Some(c) => {
                limits::text("commitment", c, limits::HEX32)?;
                Some(crate::model::parse_hex32(c).map_err(|e| limits::field("commitment", e.text()))?)
            }
        };
        let beacon_rule = match self.beacon_rule.as_deref() {
            None if self.beacon_source.is_empty() => BeaconRule::None,
            None => {
                return Err(OpsError::Rejected(crate::tr!(
                    "给出了随机信标来源，须同时给出 beacon_rule：text、digits 或 hex",
                    "a beacon source needs beacon_rule: text, digits or hex"
                )));
            }
            Some(r) => r.parse().map_err(|e: crate::draw::UnknownBeaconRule| {
                OpsError::Rejected(crate::i18n::Text::new(
                    format!("随机信标规则“{}”不是 none、text、digits、hex 之一", e.0),
                    e.to_string(),
                ))
            })?,
        };
        Ok(CheckedPlanRequest { request: self, beacon_rule, commitment })
    }
}

impl CheckedPlanRequest {
    pub fn run(&self) -> i64 {
        self.request.run
    }

    /// The commitment the caller made, if any.
    pub fn commitment(&self) -> Option<[u8; 32]> {
        self.commitment
    }

    /// The plan's parameters: the draw defaults of the rule version `run`
    /// was classified with (compiled by `rules`, the caller's cache), as of
    /// the run's date, then what the request names.
    pub fn params<E: From<OpsError>>(
        &self,
        store: &Store,
        rules: impl FnOnce(i64) -> std::result::Result<Arc<RuleSet>, E>,
    ) -> std::result::Result<PlanParams, E> {
        let b = &self.request;
        let run = store.run(b.run).map_err(OpsError::from)?;
        let as_of = crate::data::table::parse_date(&run.as_of).map_err(OpsError::internal(crate::tr!(
            "分级分类运行 {} 的 as_of",
            "run {} as_of",
            run.id
        )))?;
        let defaults = rules(super::run_rule_version(store, &run)?)?.manifest.draw.clone();
        let mut params = PlanParams::with_defaults(&b.name, b.kind, b.departments.clone(), as_of, &defaults);
        if let Some(m) = b.mode {
            params.mode = m;
        }
        if let Some(r) = b.ratio {
            // One share named for the plan replaces the rules' shares by tier.
            params.ratio = r;
            params.quota_ratio_by_tier.clear();
        }
        params.release_at = b.release_at.clone();
        params.beacon_source = b.beacon_source.clone();
        params.beacon_rule = self.beacon_rule;
        params.beacon_published_at = b.beacon_published_at.clone();
        Ok(params)
    }
}
