//! The embedded store (SQLite in WAL mode): classification runs and their
//! results, rule-set versions, inspection plans, assignments and results,
//! approvals revoked by breached commitments, objections to records,
//! access tokens, and the tamper-evident audit log.
//!
//! Invariants: only this module contains SQL. Every write that matters to
//! an auditor appends an audit entry in the same transaction, so either
//! both land or neither does. The audit log is a hash chain (see
//! [`audit`]); nothing here ever updates or deletes an audit entry.

pub mod access;
pub mod audit;
pub mod objections;
pub mod plans;
pub mod revocations;
pub mod rule_versions;
mod schema;
pub mod signing;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction, params};

pub use crate::model::access::Principal;
use crate::model::{AuditAction, RunStatus};
use crate::tr;
pub use access::{IssuedToken, Job, JobOutcome, NewPrincipal, RuleVersion, TokenInfo};
pub use audit::{AuditEntry, ChainBreak, ChainReport};
pub use objections::{NewObjection, ObjectionRecord};
pub use plans::{DrawnVisit, NewPlan, OfficerVisit, PlanRecord, ResultRecord, Reveal, VisitRecord};
pub use revocations::{NewRevocation, RevocationRecord};
pub use rule_versions::ScheduledRules;
pub use signing::Identity;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("store: {0}")]
    Other(String),
    /// What was looked for, e.g. `plan 3`.
    #[error("{0} not found")]
    NotFound(crate::i18n::Text),
    /// A row in another state than the request needs.
    #[error("{0}")]
    Conflict(crate::i18n::Text),
}

impl StoreError {
    /// What the user reads, in both languages (`Sql` and `Other` are the
    /// store's own faults: shown as they are).
    pub fn text(&self) -> crate::i18n::Text {
        match self {
            StoreError::NotFound(t) => t.map(|lang, what| match lang {
                crate::i18n::Lang::Zh => format!("未找到{what}"),
                crate::i18n::Lang::En => format!("{what} not found"),
            }),
            StoreError::Conflict(t) => t.clone(),
            other => crate::i18n::Text::same(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A column holding a closed vocabulary's code (a kind, a status), parsed:
/// a code the program does not know fails the read instead of passing on
/// as text.
pub(crate) fn code<T>(r: &rusqlite::Row<'_>, column: &str) -> rusqlite::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text: String = r.get(column)?;
    text.parse().map_err(|e: T::Err| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.to_string().into())
    })
}

/// The store: one writer connection (SQLite serialises writers anyway,
/// and every write here is short) and a pool of read-only connections, so
/// reads never wait for each other nor for a writer (WAL). Long reads
/// (audit verification) take a connection of their own.
pub struct Store {
    writer: Mutex<Connection>,
    /// Read connections of a file store; `None` in memory (reads then use
    /// the writer's connection, the only one that sees the database).
    readers: Option<ReadPool>,
    /// Directory for bulk per-run files ([`results_dir`]); `None` in memory.
    dir: Option<std::path::PathBuf>,
    /// The store id and signing key, made on first open.
    identity: Identity,
}

/// Idle read-only connections, opened on demand and kept up to a bound.
struct ReadPool {
    path: std::path::PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// How many idle read connections are kept (more may be open at once).
const IDLE_READERS: usize = 16;

impl ReadPool {
    fn open(&self) -> Result<Connection> {
        use rusqlite::OpenFlags;
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    fn take(&self) -> Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(c) => Ok(c),
            None => self.open(),
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// The current time for audit entries (RFC 3339, UTC, seconds). Decisions
/// never depend on it.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The directory holding a store's results files: `<store file>.results`
/// beside it (`credo.db` → `credo.db.results/`), so that two stores in one
/// directory never share, or overwrite, each other's results.
pub fn results_dir(store: &Path) -> PathBuf {
    let mut name = store.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".results");
    store.with_file_name(name)
}

impl Store {
    /// Opens (creating if needed) the store at `path`, in WAL mode with
    /// synchronous=FULL so a committed transaction survives a crash.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Other(format!("{}: {e}", dir.display())))?;
        }
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        schema::migrate(&conn)?;
        let identity = signing::open(&mut conn, Some(&signing::key_path(path)))?;
        let dir = Some(results_dir(path));
        let readers = ReadPool { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) };
        Ok(Store { writer: Mutex::new(conn), readers: Some(readers), dir, identity })
    }

    /// An in-memory store (with an ephemeral signing key), for tests.
    pub fn in_memory() -> Result<Store> {
        let mut conn = Connection::open_in_memory()?;
        schema::migrate(&conn)?;
        let identity = signing::open(&mut conn, None)?;
        Ok(Store { writer: Mutex::new(conn), readers: None, dir: None, identity })
    }

    /// The store's id and public key.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Where a run's results live: `run-{id}.parquet` in the store's
    /// [`results_dir`] (with its index beside it). A run recorded by a
    /// credo that kept results in `results/` next to the store is still
    /// found there (its hash is checked whenever it is opened).
    pub fn results_path(&self, run: i64) -> Result<std::path::PathBuf> {
        let dir = self.dir.as_ref().ok_or_else(|| StoreError::Other("an in-memory store keeps no results".into()))?;
        let name = format!("run-{run}.parquet");
        let path = dir.join(&name);
        if !path.exists()
            && let Some(legacy) = dir.parent().map(|d| d.join("results").join(&name)).filter(|p| p.exists())
        {
            return Ok(legacy);
        }
        Ok(path)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (the
        // transaction rolls back), so a poisoned lock is safe to reuse.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in a transaction on the writer and commits it.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on a pooled read-only connection (a consistent snapshot
    /// for each statement; WAL lets it run beside the writer).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        match &self.readers {
            Some(pool) => {
                let conn = pool.take()?;
                let out = f(&conn);
                pool.give_back(conn);
                out
            }
            None => f(&self.lock()),
        }
    }

    /// Runs a long read (walking the whole audit log) on a connection of
    /// its own, inside one read transaction, so it sees one state of the
    /// store and takes nothing from other readers.
    pub fn read_long<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        match &self.readers {
            Some(pool) => {
                let conn = pool.open()?;
                conn.execute_batch("BEGIN DEFERRED")?;
                let out = f(&conn);
                let _ = conn.execute_batch("COMMIT");
                out
            }
            None => f(&self.lock()),
        }
    }
}

// ---------------------------------------------------------------------------
// Classification runs.

/// A classification run as recorded.
#[derive(Clone, Debug, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct RunRecord {
    pub id: i64,
    pub created_at: String,
    pub actor: String,
    pub dataset: String,
    pub dataset_hash: String,
    pub rules_hash: String,
    pub rules_label: String,
    pub as_of: String,
    /// `running`, `done` or `failed`.
    #[schema(value_type = String)]
    pub status: RunStatus,
    pub progress: String,
    pub entities: i64,
    #[schema(value_type = Option<Object>)]
    pub summary: Option<serde_json::Value>,
    pub output: Option<String>,
    pub error: Option<String>,
    /// The stored rule version the run used (none: a rule directory).
    pub rule_version: Option<i64>,
    /// Why that version: named, in force on the as-of date, or the active
    /// one (none scheduled for the date).
    pub rule_choice: Option<String>,
}

/// What a run starts from.
pub struct NewRun<'a> {
    pub actor: &'a str,
    pub dataset: &'a str,
    pub dataset_hash: &'a str,
    pub rules_hash: &'a str,
    pub rules_label: &'a str,
    pub as_of: &'a str,
}

/// What a finished run's results file is, as written.
pub struct FinishedRun<'a> {
    pub entities: usize,
    pub summary: &'a serde_json::Value,
    pub output: Option<&'a str>,
    /// `sha256:` of the results file and of its index.
    pub results_hash: &'a str,
    pub index_hash: &'a str,
}

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let summary: Option<String> = r.get("summary")?;
    Ok(RunRecord {
        id: r.get("id")?,
        created_at: r.get("created_at")?,
        actor: r.get("actor")?,
        dataset: r.get("dataset")?,
        dataset_hash: r.get("dataset_hash")?,
        rules_hash: r.get("rules_hash")?,
        rules_label: r.get("rules_label")?,
        as_of: r.get("as_of")?,
        status: code(r, "status")?,
        progress: r.get("progress")?,
        entities: r.get("entities")?,
        summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
        output: r.get("output")?,
        error: r.get("error")?,
        rule_version: r.get("rule_version")?,
        rule_choice: r.get("rule_choice")?,
    })
}

impl Store {
    /// Records that a run started (audited).
    pub fn start_run(&self, run: &NewRun<'_>) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO runs (created_at, actor, dataset, dataset_hash, rules_hash, rules_label, as_of, status, progress, entities)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', 'queued', 0)",
                params![now(), run.actor, run.dataset, run.dataset_hash, run.rules_hash, run.rules_label, run.as_of],
            )?;
            let id = tx.last_insert_rowid();
            audit::append(
                tx,
                run.actor,
                AuditAction::RunStart,
                &format!("run/{id}"),
                &serde_json::json!({
                    "dataset_hash": run.dataset_hash, "rules_hash": run.rules_hash, "as_of": run.as_of,
                }),
            )?;
            Ok(id)
        })
    }

    pub fn set_run_progress(&self, id: i64, progress: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("UPDATE runs SET progress = ?2 WHERE id = ?1", params![id, progress])?;
            Ok(())
        })
    }

    /// Records a finished run (audited): its summary, and the hashes of
    /// its results file and index (written by the caller to
    /// [`Store::results_path`]).
    pub fn finish_run(&self, id: i64, actor: &str, run: &FinishedRun<'_>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE runs SET status = 'done', progress = 'done', entities = ?2, summary = ?3, output = ?4,
                 results_hash = ?5, results_index_hash = ?6
                 WHERE id = ?1",
                params![id, run.entities as i64, run.summary.to_string(), run.output, run.results_hash, run.index_hash],
            )?;
            audit::append(
                tx,
                actor,
                AuditAction::RunFinish,
                &format!("run/{id}"),
                &serde_json::json!({
                    "entities": run.entities, "tiers": run.summary.get("tiers"),
                    "results_hash": run.results_hash, "results_index_hash": run.index_hash,
                }),
            )?;
            Ok(())
        })
    }

    pub fn fail_run(&self, id: i64, actor: &str, error: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE runs SET status = 'failed', progress = 'failed', error = ?2 WHERE id = ?1",
                params![id, error],
            )?;
            audit::append(
                tx,
                actor,
                AuditAction::RunFail,
                &format!("run/{id}"),
                &serde_json::json!({ "error": error }),
            )?;
            Ok(())
        })
    }

    pub fn run(&self, id: i64) -> Result<RunRecord> {
        self.read(|c| {
            c.query_row("SELECT * FROM runs WHERE id = ?1", [id], run_from_row)
                .optional()?
                .ok_or_else(|| StoreError::NotFound(tr!("运行 {id}", "run {id}")))
        })
    }

    pub fn runs(&self) -> Result<Vec<RunRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT * FROM runs ORDER BY id")?;
            let rows = stmt.query_map([], run_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// The newest finished run.
    pub fn latest_run(&self) -> Result<Option<RunRecord>> {
        self.read(|c| {
            Ok(c.query_row("SELECT * FROM runs WHERE status = 'done' ORDER BY id DESC LIMIT 1", [], run_from_row)
                .optional()?)
        })
    }

    /// A finished run's results file and the hash of its index, as
    /// recorded when the run finished.
    pub fn results_file(&self, run: i64) -> Result<(std::path::PathBuf, String)> {
        let r = self.run(run)?;
        if r.status != RunStatus::Done {
            let status = &r.status;
            return Err(StoreError::Conflict(tr!(
                "运行 {run} 的状态为 {status}；只有已完成的运行才有结果",
                "run {run} is {status}; only a finished run has results"
            )));
        }
        let hash: Option<String> =
            self.read(|c| Ok(c.query_row("SELECT results_index_hash FROM runs WHERE id = ?1", [run], |r| r.get(0))?))?;
        let hash = hash.ok_or_else(|| {
            StoreError::NotFound(tr!(
                "运行 {run} 的结果（由旧版 credo 生成）",
                "results of run {run} (made by an older credo)"
            ))
        })?;
        Ok((self.results_path(run)?, hash))
    }
}
