//! Objections (异议申诉): an entity, through a regulator or its agent,
//! disputes one of its records. While an objection is open the rules see
//! the record as `disputed` and decide its effect; a regulator upholds or
//! rejects it. Plain data: the store keeps objections, the classification
//! sees their state as of its date.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Date, Uscc};

/// Where an objection stands (a closed vocabulary, with the others in
/// `codes`).
pub use super::codes::ObjectionStatus;

/// A status or outcome name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("objection status '{0}' is not open, upheld or rejected")]
pub struct UnknownObjectionStatus(pub String);

impl UnknownObjectionStatus {
    /// Why, in both languages (`Display` is the English).
    pub fn text(&self) -> crate::i18n::Text {
        let s = &self.0;
        crate::tr!(
            "异议状态“{s}”不是 open、upheld 或 rejected",
            "objection status '{s}' is not open, upheld or rejected"
        )
    }
}

/// What a regulator decided about an objection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionOutcome {
    Upheld,
    Rejected,
}

impl ObjectionOutcome {
    pub fn status(self) -> ObjectionStatus {
        match self {
            ObjectionOutcome::Upheld => ObjectionStatus::Upheld,
            ObjectionOutcome::Rejected => ObjectionStatus::Rejected,
        }
    }
}

impl FromStr for ObjectionOutcome {
    type Err = UnknownObjectionStatus;
    fn from_str(s: &str) -> Result<ObjectionOutcome, UnknownObjectionStatus> {
        match s {
            "upheld" | "uphold" => Ok(ObjectionOutcome::Upheld),
            "rejected" | "reject" => Ok(ObjectionOutcome::Rejected),
            other => Err(UnknownObjectionStatus(other.chars().take(40).collect())),
        }
    }
}

/// One objection and its decision, if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objection {
    pub id: i64,
    pub uscc: Uscc,
    /// The disputed record: decision number, listing, complaint,
    /// commitment or inspection id.
    pub record_id: String,
    pub reason: String,
    /// The day it was filed: from then on the record is disputed.
    pub filed_on: Date,
    /// Who filed it (`role:id`).
    pub filed_by: String,
    /// The status now (for the status as of a date, see [`Objection::status_on`]).
    pub status: ObjectionStatus,
    pub decided_on: Option<Date>,
    pub decision_reason: Option<String>,
    pub decided_by: Option<String>,
}

impl Objection {
    /// The objection's status as of a date, or `None` before it was filed.
    pub fn status_on(&self, d: Date) -> Option<ObjectionStatus> {
        if self.filed_on > d {
            return None;
        }
        match self.decided_on {
            Some(on) if on <= d => Some(self.status),
            _ => Some(ObjectionStatus::Open),
        }
    }
}
