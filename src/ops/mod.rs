//! The operations the CLI and the HTTP API share, one file per use case:
//! classification runs (`runs`), rule sets and their impact (`rules`),
//! creating plans (`plans`), their staffing before they are committed
//! (`capacity`), revealing, exporting and verifying them (`reveal`), their public disclosure (`disclosure`), officers' results
//! (`results`), entity timelines (`timeline`), the supervision lists
//! (`lists`), objections to records (`objections`), rule versions in force
//! by date (`rule_versions`), the store's integrity and signed checkpoints (`audit`),
//! principals and tokens (`access`), the access policy (`policy`) and
//! input bounds (`limits`). Each is a function over the library, so both
//! front ends behave the same and hold no business logic.
//!
//! Never formats for a front end and never reads the wall clock for a
//! decision (only for release checks and audit timestamps).

pub mod access;
mod audit;
pub mod capacity;
pub mod console;
mod disclosure;
mod entity_lookup;
pub mod limits;
pub mod lists;
pub mod objections;
mod plan_request;
mod plans;
pub mod policy;
mod results;
mod reveal;
pub mod rule_versions;
pub mod rules;
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
pub use disclosure::*;
pub use entity_lookup::*;
pub use plan_request::*;
pub use plans::*;
pub use results::*;
pub use reveal::*;
pub use runs::*;
pub use timeline::*;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The caller's mistake: a request that cannot be done as asked
    /// (API: 422).
    #[error("{0}")]
    Invalid(String),
    /// A fault on the server's side (a file it keeps unreadable, its
    /// randomness unavailable, its audit log broken): not the caller's
    /// doing (API: a logged 500, no details to the client).
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    Data(#[from] DataError),
    #[error("{0}")]
    Rule(#[from] RuleError),
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
    /// A rule test file is malformed.
    #[error("{file}: {message}")]
    RuleTestFile { file: String, message: String },
    /// A rule set fails its own tests, so it is not stored.
    #[error("{} of {total} rule tests fail", failed.len())]
    RuleTests { total: usize, failed: Vec<rules::FailedTest> },
    /// The caller stopped waiting (a timed-out or closed request).
    #[error("cancelled: {0}")]
    Cancelled(String),
}

impl From<crate::plan::PlanError> for OpsError {
    fn from(e: crate::plan::PlanError) -> OpsError {
        match e {
            crate::plan::PlanError::Invalid(m) => OpsError::Invalid(m),
            crate::plan::PlanError::Draw(d) => OpsError::Draw(d),
        }
    }
}

impl From<ClassifyError> for OpsError {
    fn from(e: ClassifyError) -> OpsError {
        match e {
            ClassifyError::Rule(r) => OpsError::Rule(r),
            // Spill files, intermediate results and the output sink are
            // the server's own files.
            other @ (ClassifyError::Spill(_) | ClassifyError::Io(_) | ClassifyError::Sink(_)) => {
                OpsError::Internal(other.to_string())
            }
        }
    }
}

pub type Result<T> = std::result::Result<T, OpsError>;

impl OpsError {
    /// An internal fault with what it concerned: `internal("frame file")(e)`.
    pub(crate) fn internal<E: std::fmt::Display>(what: impl std::fmt::Display) -> impl FnOnce(E) -> OpsError {
        move |e| OpsError::Internal(format!("{what}: {e}"))
    }
}
