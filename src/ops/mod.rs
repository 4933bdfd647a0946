//! The operations the CLI and the HTTP API share, one file per use case:
//! classification runs (`runs`), rule sets and their impact (`rules`),
//! creating plans (`plans`), their staffing before they are committed
//! (`capacity`), revealing, exporting and verifying them (`reveal`), their public disclosure (`disclosure`), officers' results
//! (`results`), entity timelines (`timeline`), the supervision lists
//! (`lists`), objections to records (`objections`), rule versions in force
//! by date (`rule_versions`), the pool parallel work runs on (`threads`), the store's integrity and signed checkpoints (`audit`),
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
pub mod memory;
pub mod objections;
mod plan_request;
mod plans;
pub mod policy;
mod results;
pub mod retain;
mod reveal;
pub mod rule_versions;
pub mod rules;
mod run_timeline;
mod runs;
mod threads;
mod timeline;

use crate::classify::ClassifyError;
use crate::data::DataError;
use crate::data::output::OutputError;
use crate::data::results::ResultsError;
use crate::draw::DrawError;
use crate::engine::RuleError;
use crate::i18n::Text;
use crate::store::StoreError;

pub use audit::*;
pub use disclosure::*;
pub use entity_lookup::*;
pub use plan_request::*;
pub use plans::*;
pub use results::*;
pub use reveal::*;
pub use run_timeline::*;
pub use runs::*;
pub use threads::*;
pub use timeline::*;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The caller's mistake: a request that cannot be done as asked, in
    /// both languages (API: 422).
    #[error("{0}")]
    Rejected(Text),
    /// A fault on the server's side: not the caller's doing (API: a
    /// logged 500, no details to the client). Its message names what it
    /// concerned, in English only (the CLI frames it in Chinese); credo's
    /// own faults use [`OpsError::Fault`] or [`OpsError::internal`].
    #[error("{0}")]
    Internal(String),
    /// The same, with its message in both languages (a file it keeps
    /// unreadable or altered, its randomness unavailable, a
    /// classification's own files failing, the audit log broken).
    #[error("{0}")]
    Fault(Text),
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
    Beacon { plan: i64, message: Text },
    #[error("{0}")]
    Trust(#[from] crate::trust::TrustError),
    /// A request field out of bounds or malformed: which, and why.
    #[error("{field}: {reason}")]
    Field { field: String, reason: Text },
    /// The policy refused the action.
    #[error("{0}")]
    Denied(#[from] policy::Denied),
    /// A rule test file is malformed: where, and why in both languages.
    #[error("{file}: {message}")]
    RuleTestFile { file: String, message: Text },
    /// A rule set fails its own tests, so it is not stored.
    #[error("{} of {total} rule tests fail", failed.len())]
    RuleTests { total: usize, failed: Vec<rules::FailedTest> },
    /// The caller stopped waiting (a timed-out or closed request).
    #[error("cancelled: {0}")]
    Cancelled(Text),
    /// The machine cannot do it now (a run that would not fit in memory):
    /// not the caller's mistake, and not a fault (API: 503).
    #[error("{0}")]
    Unavailable(Text),
}

impl From<crate::plan::PlanError> for OpsError {
    fn from(e: crate::plan::PlanError) -> OpsError {
        match e {
            crate::plan::PlanError::Invalid(t) => OpsError::Rejected(t),
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
                OpsError::Fault(other.text())
            }
        }
    }
}

pub type Result<T> = std::result::Result<T, OpsError>;

impl OpsError {
    /// What the user reads, in both languages. Machine fields (a field's
    /// name, a file, a plan id) keep their form; texts from outside credo
    /// (a parser's or the system's message) and those of modules not
    /// translated yet are shown as they are.
    pub fn text(&self) -> Text {
        match self {
            OpsError::Internal(m) => crate::tr!("内部错误：{m}", "{m}"),
            OpsError::Rejected(t) | OpsError::Unavailable(t) | OpsError::Fault(t) => t.clone(),
            OpsError::Data(d) => d.text(),
            OpsError::Rule(r) => r.text().map(|lang, r| match lang {
                crate::i18n::Lang::Zh => format!("规则错误：{r}"),
                crate::i18n::Lang::En => r.to_string(),
            }),
            OpsError::Store(s) => s.text(),
            OpsError::Draw(d) => d.text(),
            OpsError::Results(r) => results_text(r),
            OpsError::Output(o) => crate::tr!("写出结果失败：{o}", "{o}"),
            OpsError::Beacon { plan, message } => message.map(|lang, m| match lang {
                crate::i18n::Lang::Zh => format!("计划 {plan}：随机信标被拒绝：{m}"),
                crate::i18n::Lang::En => format!("plan {plan}: beacon refused: {m}"),
            }),
            OpsError::Trust(t) => t.text(),
            OpsError::Field { field, reason } => reason.map(|lang, r| match lang {
                crate::i18n::Lang::Zh => format!("{field}：{r}"),
                crate::i18n::Lang::En => format!("{field}: {r}"),
            }),
            OpsError::Denied(d) => d.0.clone(),
            OpsError::RuleTestFile { file, message } => message.map(|lang, m| match lang {
                crate::i18n::Lang::Zh => format!("规则测试文件 {file}：{m}"),
                crate::i18n::Lang::En => format!("{file}: {m}"),
            }),
            OpsError::RuleTests { total, failed } => {
                let n = failed.len();
                crate::tr!("{total} 条规则测试中有 {n} 条未通过", "{n} of {total} rule tests fail")
            }
            OpsError::Cancelled(m) => m.map(|lang, m| match lang {
                crate::i18n::Lang::Zh => format!("已取消：{m}"),
                crate::i18n::Lang::En => format!("cancelled: {m}"),
            }),
        }
    }
}

/// A results file's error in both languages (what differs, and the
/// system's message, as they are).
fn results_text(r: &ResultsError) -> Text {
    match r {
        ResultsError::Io { path, message } => {
            crate::tr!("结果文件 {path}：{message}", "results file {path}: {message}")
        }
        ResultsError::Altered { path, what } => {
            crate::tr!("结果文件 {path} 已被改动：{what}", "results file {path} was altered: {what}")
        }
    }
}

impl OpsError {
    /// An internal fault with what it concerned, in both languages, and
    /// the underlying message as it is: `internal(tr!("抽查框文件", "frame file"))(e)`.
    pub(crate) fn internal<E: std::fmt::Display>(what: impl Into<Text>) -> impl FnOnce(E) -> OpsError {
        move |e| {
            OpsError::Fault(what.into().map(|lang, what| match lang {
                crate::i18n::Lang::Zh => format!("内部错误：{what}：{e}"),
                crate::i18n::Lang::En => format!("{what}: {e}"),
            }))
        }
    }
}
