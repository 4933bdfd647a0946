//! The operations the CLI and the HTTP API share: run a classification into
//! the store, create, reveal, cancel, export, verify and publish plans,
//! entity timelines, the integrity of the store and signed checkpoints,
//! principals and tokens, and the access policy (`policy`). Each is one function over the library, so both front
//! ends behave the same and hold no business logic.

pub mod access;
mod audit;
pub mod console;
pub mod limits;
mod plans;
pub mod policy;
mod runs;
mod timeline;

use crate::classify::ClassifyError;
use crate::data::DataError;
use crate::data::output::OutputError;
use crate::data::results::ResultsError;
use crate::draw::DrawError;
use crate::engine::RuleError;
use crate::store::StoreError;

pub use audit::*;
pub use plans::*;
pub use runs::*;
pub use timeline::*;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Rule(#[from] RuleError),
    #[error("{0}")]
    Data(#[from] DataError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Draw(#[from] DrawError),
    #[error("{0}")]
    Results(#[from] ResultsError),
    #[error("{0}")]
    Output(#[from] OutputError),
    /// A beacon a plan's binding refuses (none named, empty, too early).
    #[error("plan {plan}: beacon refused: {message}")]
    Beacon { plan: i64, message: String },
    #[error("{0}")]
    Trust(#[from] crate::trust::TrustError),
    /// A request field out of bounds or malformed: which, and why.
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    /// The policy refused the action.
    #[error("{0}")]
    Denied(#[from] policy::Denied),
    /// The caller stopped waiting (a timed-out or closed request).
    #[error("cancelled: {0}")]
    Cancelled(String),
}

impl From<ClassifyError> for OpsError {
    fn from(e: ClassifyError) -> OpsError {
        match e {
            ClassifyError::Rule(r) => OpsError::Rule(r),
            other => OpsError::Invalid(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, OpsError>;
