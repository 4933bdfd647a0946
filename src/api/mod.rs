//! The HTTP API (axum) for regulators, auditors, inspection teams and the
//! public, over the embedded store.
//!
//! Invariants: handlers hold no business logic (they call `ops` and
//! `store`); what a caller may do is `ops::policy`'s answer, for the action
//! [`ROUTES`] names; every write is audited with the caller's principal;
//! every error is `{"code","message","details"}`; long work
//! (classification, rule diffs) runs in the background, bounded and
//! audited, and is polled; work that can wait (writes, long reads, rule
//! compilation, datasets) never runs on the async workers, whose only SQL
//! is single indexed reads on pooled read-only connections (the token, an
//! officer's assignment count); a request that ends cancels the plan
//! creation it started.

mod audit;
mod auth;
mod entities;
mod error;
mod handlers;
mod lang;
mod objections;
mod officers;
pub mod openapi;
mod plans;
mod public;
pub mod routes;
mod rule_versions;
mod rules;
mod runs;
mod tokens;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;

pub use error::{ApiError, ErrorBody};
pub use routes::ROUTES;
pub(crate) use rules::start_diff;

use crate::data::LoadedDataset;
use crate::engine::{RuleSet, RuleSource};
use crate::store::Store;
use crate::tr;

/// The dataset the server imported: where it is and what it hashes to.
/// The server never holds it; work that needs it reads it from disk.
pub struct DatasetRef {
    pub path: PathBuf,
    pub hash: String,
    pub label: String,
    /// The officer roster (small): ids, departments, regions, for token
    /// checks.
    pub officers: Vec<crate::model::Officer>,
}

/// How many pieces of dataset-wide work (runs, plans, diffs, timelines)
/// may wait for the one that runs: more is refused with 429.
pub const MAX_QUEUED_WORK: usize = 4;

/// Shared state of a running server.
pub struct AppState {
    pub store: Arc<Store>,
    pub dataset: DatasetRef,
    /// Dataset-wide work runs one at a time (each may need gigabytes).
    work: Arc<tokio::sync::Semaphore>,
    queued: std::sync::atomic::AtomicUsize,
    /// Open results files by run (checked when opened).
    results: Mutex<HashMap<i64, Arc<crate::data::results::Reader>>>,
    /// Compiled rule sets by version id.
    rules: Mutex<HashMap<i64, Arc<RuleSet>>>,
    /// Plan creation takes the next plan id into the frame: one at a time,
    /// held by the blocking work itself (not by the request).
    plan_lock: Arc<tokio::sync::Mutex<()>>,
    /// Public disclosures by plan, with the state they were built from
    /// (status, publication, release, results): rebuilt when that changes.
    disclosures: Mutex<HashMap<(i64, crate::i18n::Lang), CachedDisclosure>>,
    disclosure_build: Mutex<()>,
    /// Officers' encoded assignment lists, by officer.
    assignments: Mutex<HashMap<String, Arc<AssignmentList>>>,
}

/// An officer's encoded assignment list and what it depends on.
pub struct AssignmentList {
    /// [`Store::assignment_count`] when it was built.
    pub count: i64,
    /// The next release time of one of the officer's plans still in the
    /// future when it was built: the list changes then.
    pub valid_until: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub body: axum::body::Bytes,
}

/// Results files kept open: enough for the points of a timeline
/// (`ops::MAX_POINTS`) and a few more. Each holds its index and Parquet
/// footer in memory (the footer is 0.56 MB at 1M entities, so an
/// estimated 10-30 MB each at 15M: a bound on the server's memory).
const OPEN_RESULTS: usize = 16;

/// Officers whose lists are kept (the roster is small; a bound anyway).
const CACHED_LISTS: usize = 10_000;

/// What a cached disclosure depends on.
/// A signed disclosure and the state it was built from.
type CachedDisclosure = (DisclosureKey, Arc<String>);

pub type DisclosureKey = (String, Option<String>, bool, (i64, i64));

impl AppState {
    pub fn new(store: Arc<Store>, dataset: DatasetRef) -> Arc<AppState> {
        Arc::new(AppState {
            store,
            dataset,
            work: Arc::new(tokio::sync::Semaphore::new(1)),
            queued: std::sync::atomic::AtomicUsize::new(0),
            results: Mutex::new(HashMap::new()),
            rules: Mutex::new(HashMap::new()),
            plan_lock: Arc::new(tokio::sync::Mutex::new(())),
            disclosures: Mutex::new(HashMap::new()),
            disclosure_build: Mutex::new(()),
            assignments: Mutex::new(HashMap::new()),
        })
    }

    /// A stored rule version, compiled once.
    pub fn rules(&self, id: i64) -> Result<Arc<RuleSet>, ApiError> {
        if let Some(r) = self.rules.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(r.clone());
        }
        let files = self.store.rule_files(id)?;
        let files: std::collections::BTreeMap<String, String> =
            serde_json::from_value(files).map_err(|e| ApiError::internal(format!("rule version {id}: {e}")))?;
        let rules = Arc::new(RuleSet::compile(&RuleSource { files }).map_err(crate::ops::OpsError::from)?);
        self.rules.lock().unwrap_or_else(|p| p.into_inner()).insert(id, rules.clone());
        Ok(rules)
    }

    /// [`AppState::rules`] from async code: a cache miss compiles (with
    /// probe runs) on the blocking pool, never on an async worker.
    pub async fn rules_compiled(self: &Arc<Self>, id: i64) -> Result<Arc<RuleSet>, ApiError> {
        if let Some(r) = self.rules.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(r.clone());
        }
        let st = self.clone();
        tokio::task::spawn_blocking(move || st.rules(id)).await.map_err(ApiError::internal)?
    }

    /// The active rule version, compiled off the async workers.
    pub async fn active_rules_compiled(self: &Arc<Self>) -> Result<(i64, Arc<RuleSet>), ApiError> {
        let st = self.clone();
        tokio::task::spawn_blocking(move || st.active_rules()).await.map_err(ApiError::internal)?
    }

    /// The public disclosure of a plan, built once per state of the plan.
    pub fn disclosure(&self, id: i64, key: DisclosureKey, lang: crate::i18n::Lang) -> Result<Arc<String>, ApiError> {
        let cached = |key: &DisclosureKey| {
            self.disclosures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&(id, lang))
                .filter(|(k, _)| k == key)
                .map(|(_, t)| t.clone())
        };
        if let Some(text) = cached(&key) {
            return Ok(text);
        }
        // One build at a time: concurrent requests for a stale page wait
        // for it instead of all rebuilding it.
        let _building = self.disclosure_build.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(text) = cached(&key) {
            return Ok(text);
        }
        let now = chrono::Utc::now().fixed_offset();
        let d = crate::ops::disclosure_with(&self.store, id, now, crate::ops::AuditHead::Latest, lang)?;
        let text = Arc::new(crate::ops::signed_disclosure(&self.store, &d, crate::ops::Layout::Compact)?);
        self.disclosures.lock().unwrap_or_else(|p| p.into_inner()).insert((id, lang), (key, text.clone()));
        Ok(text)
    }

    /// Reads the imported dataset from disk, checks it is the one imported,
    /// and adds officers' submitted results. Call it inside
    /// [`AppState::dataset_work`].
    pub fn load_dataset(&self) -> Result<LoadedDataset, ApiError> {
        // The imported copy missing or changed on disk is the operator's to
        // repair, not a fault of the request: 409, naming what is wrong.
        let unavailable = |t: crate::i18n::Text| ApiError::new(StatusCode::CONFLICT, "dataset_unavailable", t);
        let mut loaded = crate::data::load(&self.dataset.path).map_err(|e| unavailable(e.text()))?;
        if loaded.hash != self.dataset.hash {
            let (path, found, imported) = (self.dataset.path.display(), &loaded.hash, &self.dataset.hash);
            return Err(unavailable(crate::tr!(
                "{path} 处的数据集哈希为 {found}，而导入时为 {imported}：磁盘上的数据集已被改动",
                "the dataset at {path} hashes to {found}, not the imported {imported}: it was changed on disk"
            )));
        }
        crate::ops::add_submitted(&self.store, &mut loaded.snapshot)?;
        Ok(loaded)
    }

    /// An officer's cached list, if it is still the list for `count`
    /// assignments at `now`.
    pub fn cached_assignments(
        &self,
        officer: &str,
        count: i64,
        now: chrono::DateTime<chrono::FixedOffset>,
    ) -> Option<Arc<AssignmentList>> {
        let lists = self.assignments.lock().unwrap_or_else(|p| p.into_inner());
        lists.get(officer).filter(|l| l.count == count && l.valid_until.is_none_or(|t| now < t)).cloned()
    }

    pub fn cache_assignments(&self, officer: &str, list: Arc<AssignmentList>) {
        let mut lists = self.assignments.lock().unwrap_or_else(|p| p.into_inner());
        if lists.len() >= CACHED_LISTS {
            lists.clear();
        }
        lists.insert(officer.to_string(), list);
    }

    /// A place in the queue of dataset-wide work, or 429 when too many
    /// are waiting.
    pub fn reserve_work(self: &Arc<Self>) -> Result<Turn, ApiError> {
        use std::sync::atomic::Ordering;
        if self.queued.fetch_add(1, Ordering::SeqCst) >= MAX_QUEUED_WORK {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "busy",
                tr!(
                    "已有 {MAX_QUEUED_WORK} 个全数据集任务在等待；请在其中一个完成后再试",
                    "{MAX_QUEUED_WORK} dataset-wide tasks are already waiting; try again when one has finished"
                ),
            ));
        }
        Ok(Turn(Some(self.clone())))
    }

    /// A finished run's results file, opened and checked once.
    pub fn results(&self, run: i64) -> Result<Arc<crate::data::results::Reader>, ApiError> {
        Ok(self.open_results(run)?)
    }

    /// [`AppState::results`] with the error of `ops` (for the functions of
    /// `ops` that open runs' files themselves, e.g. a timeline's points).
    pub fn open_results(&self, run: i64) -> crate::ops::Result<Arc<crate::data::results::Reader>> {
        if let Some(r) = self.results.lock().unwrap_or_else(|p| p.into_inner()).get(&run) {
            return Ok(r.clone());
        }
        let r = Arc::new(crate::ops::run_results(&self.store, run)?);
        let mut open = self.results.lock().unwrap_or_else(|p| p.into_inner());
        // An open file is its index and footer: a few hundred KB at 15M.
        if open.len() >= OPEN_RESULTS {
            open.clear();
        }
        open.insert(run, r.clone());
        Ok(r)
    }

    /// Opens and checks the results files of the latest finished runs
    /// (those an entity's timeline reads), and looks up each file's first
    /// entity, so the first lookups after a start do not pay for it: at
    /// 15M an open reads and hashes the file's index and footer. A file
    /// that does not open is logged here and reported again to the
    /// request that needs it.
    pub fn warm(&self) {
        let runs = match self.store.runs() {
            Ok(runs) => runs,
            Err(e) => return tracing::warn!("runs not listed to open their results: {e}"),
        };
        let done = runs.iter().rev().filter(|r| r.status == crate::model::RunStatus::Done);
        for run in done.take(OPEN_RESULTS / 2) {
            match self.open_results(run.id) {
                Ok(r) => {
                    if let Some(u) = r.first_uscc() {
                        let (found, paths) = (r.get(u), r.paths_of(u));
                        tracing::debug!(run = run.id, ok = found.is_ok() && paths.is_ok(), "results opened");
                    }
                }
                Err(e) => tracing::warn!(run = run.id, "results not opened: {e}"),
            }
        }
    }

    /// The turn to create a plan (the next plan id goes into the frame):
    /// one at a time; hold the guard until the creation's work ends.
    pub async fn plan_turn(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.plan_lock.clone().lock_owned().await
    }

    pub fn active_rules(&self) -> Result<(i64, Arc<RuleSet>), ApiError> {
        let id = self
            .store
            .active_rules()?
            .ok_or_else(|| ApiError::invalid(tr!("没有启用的规则版本", "no rule version is active")))?;
        Ok((id, self.rules(id)?))
    }
}

/// A place in the queue of dataset-wide work (given back when dropped).
pub struct Turn(Option<Arc<AppState>>);

impl Turn {
    /// Waits until it is this work's turn.
    pub async fn wait(mut self) -> WorkPermit {
        let state = self.0.take().expect("a turn is waited for once");
        let permit = state.work.clone().acquire_owned().await.ok();
        state.queued.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        WorkPermit(permit)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            state.queued.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// The turn of one piece of dataset-wide work; the next may start when it
/// is dropped.
pub struct WorkPermit(#[allow(dead_code)] Option<tokio::sync::OwnedSemaphorePermit>);

/// Request limits: bodies up to 2 MB (rule sets are small), 30 s per request.
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The router, without a socket (tests call it with `oneshot`).
pub fn app(state: Arc<AppState>) -> Router {
    // Every route from the one table the OpenAPI document is made of.
    let router = routes::ROUTES.iter().fold(Router::new(), |router, r| router.route(r.path, (r.handler)()));
    router
        .fallback(|| async {
            ApiError::not_found(tr!("没有该端点；见 /openapi.json", "no such endpoint; see /openapi.json"))
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                tr!("此处不允许该方法；见 /openapi.json", "method not allowed here; see /openapi.json"),
            )
        })
        .layer(axum::middleware::from_fn(lang::negotiate))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        // Every request and its answer (status, latency) at debug level:
        // `RUST_LOG=tower_http=debug credo serve …`.
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state.clone())
        .merge(crate::web::router(state))
}

/// How `credo serve` starts.
pub struct ServeOptions {
    pub data_dir: PathBuf,
    pub listen: String,
    /// Dataset imported (and classified) on first start.
    pub dataset: PathBuf,
    pub rules: PathBuf,
    /// As-of date of the first classification; defaults to the dataset's last date.
    pub as_of: Option<crate::model::Date>,
}

/// Why `credo serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Data(#[from] crate::data::DataError),
    #[error("{0}")]
    File(#[from] crate::data::FileError),
    #[error("{0}")]
    Ops(#[from] crate::ops::OpsError),
    #[error("rule set {dir}:\n{source}")]
    Rules { dir: String, source: crate::ops::OpsError },
    #[error("{0}")]
    Api(String),
}

impl From<ApiError> for PrepareError {
    fn from(e: ApiError) -> PrepareError {
        PrepareError::Api(e.message.to_string())
    }
}

/// Opens the store in `data_dir` (creating it), and on an empty store
/// imports the dataset and rules, classifies, and makes the first
/// regulator token. Returns the state and, on first start, the token.
pub fn prepare(opts: &ServeOptions) -> Result<(Arc<AppState>, Option<String>), PrepareError> {
    let store = Arc::new(Store::open(&opts.data_dir.join("credo.db"))?);
    let interrupted = store.fail_interrupted()?;
    if interrupted > 0 {
        tracing::warn!("{interrupted} run(s) or job(s) interrupted by the last stop were marked failed");
    }
    let (dataset_path, known_hash) = match store.latest_dataset()? {
        Some((hash, path)) => (PathBuf::from(path), Some(hash)),
        None => (import_dataset(&opts.dataset, &opts.data_dir)?, None),
    };
    let label = dataset_path.display().to_string();
    // A store with a finished run starts without reading the dataset: the
    // server needs only its recorded hash and the officer roster (every
    // dataset-wide task later reads it from disk and checks that hash).
    // At 15 million entities this keeps the idle server small and its
    // restart in seconds.
    let first_run = store.latest_run()?.is_none();
    // A start that loads the dataset keeps freed memory for reuse as any
    // run does (`ops::retain`), from the load to the end of the first run.
    let mut keeping = None;
    let (hash, officers, mut loaded) = match known_hash {
        Some(hash) if !first_run => (hash, crate::data::roster(&dataset_path)?, None),
        _ => {
            let estimate = crate::ops::memory::Estimate::of_dataset(&dataset_path, crate::classify::DEFAULT_SHARD_SIZE);
            keeping = Some(crate::ops::retain::Keeping::begin(estimate.peak_bytes));
            let loaded = crate::data::load(&dataset_path)?;
            if known_hash.is_none() {
                store.add_dataset(&loaded.hash, &label, loaded.snapshot.len(), "system")?;
            }
            (loaded.hash.clone(), loaded.snapshot.officers.clone(), Some(loaded))
        }
    };
    let dataset = DatasetRef { path: dataset_path.clone(), hash: hash.clone(), label: label.clone(), officers };
    let state = AppState::new(store.clone(), dataset);
    if store.active_rules()?.is_none() {
        // The first rule set passes its own tests before it is active, as
        // an uploaded one does.
        let src = crate::data::rules::read_rule_dir(&opts.rules)?;
        let (_, stored) = crate::ops::rules::add_rules(&store, src, "system")
            .map_err(|source| PrepareError::Rules { dir: opts.rules.display().to_string(), source })?;
        store.activate_rules(stored.id, "system")?;
    }
    if let Some(loaded) = loaded.as_mut() {
        let (_, rules) = state.active_rules()?;
        let as_of = opts.as_of.unwrap_or_else(|| loaded.snapshot.horizon());
        crate::ops::add_submitted(&store, &mut loaded.snapshot)?;
        let run = crate::ops::begin_run(&store, &hash, &label, &rules, as_of, "system")?;
        let req = crate::ops::RunRequest {
            run,
            snapshot: &loaded.snapshot,
            rules: &rules,
            as_of,
            actor: "system",
            output: None,
            options: &crate::classify::Options::default(),
        };
        crate::ops::execute_run(&store, &req, &|_| {}, &mut |_| {})?;
    }
    drop(loaded);
    drop(keeping);
    let token = if store.has_tokens()? { None } else { Some(crate::ops::access::first_regulator(&store)?.token) };
    Ok((state, token))
}

/// Copies a dataset into the data directory (so the server keeps working
/// on exactly what it imported).
fn import_dataset(from: &Path, data_dir: &Path) -> Result<PathBuf, crate::data::FileError> {
    let hash = crate::data::content_hash(from)?;
    let to = data_dir.join("datasets").join(&hash["sha256:".len()..][..16]);
    std::fs::create_dir_all(&to).map_err(|e| crate::data::FileError::new(&to, e))?;
    for (table, _) in crate::data::table::TABLES {
        let (path, _) = crate::data::read::locate(from, table).map_err(|p| crate::data::FileError::new(from, p))?;
        let name = path.file_name().ok_or_else(|| crate::data::FileError::new(&path, "no file name"))?;
        std::fs::copy(&path, to.join(name)).map_err(|e| crate::data::FileError::new(&path, e))?;
    }
    Ok(to)
}
