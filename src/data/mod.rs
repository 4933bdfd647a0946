//! Datasets on disk: loading and checking them with polars, generating
//! realistic ones, hashing their content, writing results.
//!
//! Invariants: only this module imports polars. Loading never drops or
//! coerces a row: a dataset with any problem is refused with every problem
//! named (file, row, column, reason). A loaded dataset always carries the
//! content hash of the files it came from.

mod build;
mod columns;
pub mod generate;
pub mod output;
pub mod problem;
pub mod read;
pub mod results;
pub mod rules;
pub mod summary;
pub mod table;
mod write;

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

pub use build::Builder;
pub use problem::{Problem, Problems};
pub use read::{Format, TableRows, table_rows};

use crate::model::*;
use crate::snapshot::Snapshot;
use read::{Batch, Scanned, locate, scan};
use table::{TABLES, TableRow};

/// CPU time of the calling thread so far, for the debug logs of threads
/// that share the cores with others (where wall time says little):
/// Linux's `/proc/thread-self/schedstat`, in nanoseconds; zero where it
/// cannot be read. The kernel brings it up to date at least every
/// scheduler tick, so one reading may lag by up to a tick (a few
/// milliseconds): figures summed over a run's shards, not one shard's.
fn thread_cpu() -> std::time::Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(std::time::Duration::ZERO, std::time::Duration::from_nanos)
}

/// [`thread_cpu`] where a debug log may show it, else zero: the writers
/// time their parts on every shard, and the file is not read for a log
/// nobody sees.
pub fn log_cpu() -> std::time::Duration {
    use tracing::level_filters::LevelFilter;
    if LevelFilter::current() < LevelFilter::DEBUG { std::time::Duration::ZERO } else { thread_cpu() }
}

/// A file credo read or wrote that failed: which, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}{}{reason}", path.display(), if reason.starts_with(' ') { "" } else { ": " })]
pub struct FileError {
    pub path: std::path::PathBuf,
    pub reason: String,
}

impl FileError {
    pub fn new(path: &Path, reason: impl std::fmt::Display) -> FileError {
        FileError { path: path.to_path_buf(), reason: reason.to_string() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("dataset {dir} has problems:\n{rendered}")]
    Invalid { dir: String, problems: Problems, rendered: String },
}

impl DataError {
    /// What the user reads, in both languages (problems as rendered for
    /// the error: at most 50 one by one, else grouped).
    pub fn text(&self) -> crate::i18n::Text {
        match self {
            DataError::Invalid { dir, problems, rendered } => crate::i18n::Text::new(
                format!("数据集 {dir} 有问题：\n{}", problems.render_in(50, crate::i18n::Lang::Zh)),
                format!("dataset {dir} has problems:\n{rendered}"),
            ),
        }
    }
}

/// A dataset that passed every check, with the hash of its files.
pub struct LoadedDataset {
    pub snapshot: Snapshot,
    /// `sha256:` + hex of the dataset content hash (see [`combine`]).
    pub hash: String,
    pub format: Format,
}

/// The outcome of checking a dataset directory.
pub struct CheckReport {
    pub problems: Problems,
    /// Each table as it was read, in the dataset hash's order.
    pub rows: Vec<TableRead>,
    /// Seconds spent checking references across tables.
    pub references_secs: f64,
    pub hash: Option<String>,
    pub snapshot: Option<Snapshot>,
    pub format: Format,
}

/// One table of a checked dataset as it was read.
#[derive(Clone, Copy, Debug)]
pub struct TableRead {
    pub table: &'static str,
    /// Rows read (including rows with problems).
    pub rows: usize,
    /// Seconds from the table's start to its end ([`read::Scanned::secs`]).
    pub secs: f64,
    /// Seconds of `secs` the reader waited for the builder to take its
    /// batches ([`read::Scanned::waited`]).
    pub waited: f64,
}

/// A snapshot of rows already in memory (rule tests, tests), checked as
/// files are.
pub fn snapshot_of(ds: &Dataset) -> Result<Snapshot, Problems> {
    Builder::from_dataset(ds)
}

/// Reads every table batch by batch, checks all of it, and returns the
/// report. The snapshot is present only when there are no problems.
/// `progress` is called with each table's name as it starts.
pub fn check(dir: &Path, progress: &dyn Fn(&str)) -> CheckReport {
    let mut files = build::Files::csv();
    for (table, _) in TABLES {
        if let Ok((path, _)) = locate(dir, table) {
            files.0.insert(table, path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        }
    }
    let mut b = Builder::new(files);
    // A reader thread reads and parses the tables one after another and
    // hands each batch (and each table's end) over as a step; this thread
    // applies the steps to the builder in the same order. So the next
    // batch, or the next table, is decoded and parsed while the builder
    // checks the last one or finishes a table (sorting, grouping, naming),
    // and the builder sees exactly the calls it saw when one thread did
    // both. At most [`BATCHES_AHEAD`] batches of rows are handed over and
    // not yet built (a table's start and end wait in the channel without
    // holding the reader back).
    //
    // A built batch's rows are freed on a thread of their own (their
    // texts were allocated by the reader's threads: a seventh to a sixth of this
    // thread's time in the load went to freeing them while the reader
    // waited for it), and only then is the batch no longer counted.
    let (tx, rx) = std::sync::mpsc::channel::<Step>();
    let (ahead, built) = std::sync::mpsc::sync_channel::<()>(BATCHES_AHEAD - 1);
    let (mut problems, scanned) = std::thread::scope(|scope| {
        let (tx_free, rx_free) = std::sync::mpsc::channel::<Built>();
        // `built` is owned by the freeing thread, which ends with this
        // thread's sender: a builder that panics lets a waiting reader go.
        scope.spawn(move || {
            for rows in rx_free {
                drop(rows);
                let _ = built.recv();
            }
        });
        let reader = scope.spawn(move || read_tables(dir, &tx, &ahead));
        for step in rx {
            match step {
                Step::Start(table) => progress(table),
                Step::Apply(apply) => apply(&mut b),
                Step::Rows(apply) => {
                    let rows = apply(&mut b);
                    let _ = tx_free.send(rows);
                }
            }
        }
        drop(tx_free);
        reader.join().unwrap_or_else(|_| {
            let mut problems = Problems::default();
            problems.push(Problem::file("dataset", "unreadable file", "the reader thread stopped"));
            (problems, Vec::new())
        })
    });
    progress("references");
    let t = std::time::Instant::now();
    let built = b.finish();
    let references_secs = t.elapsed().as_secs_f64();
    // In the fixed table order of the dataset hash.
    let by_table = |t: &str| scanned.iter().find(|s| s.file.starts_with(&format!("{t}.")));
    let rows: Vec<TableRead> = TABLES
        .iter()
        .map(|(t, _)| {
            let s = by_table(t);
            TableRead {
                table: t,
                rows: s.map_or(0, |s| s.rows),
                secs: s.map_or(0.0, |s| s.secs),
                waited: s.map_or(0.0, |s| s.waited),
            }
        })
        .collect();
    let format = by_table(MarketEntity::TABLE).map_or(Format::Csv, |s| s.format);
    let digests: Option<Vec<(String, u64, [u8; 32])>> = TABLES
        .iter()
        .map(|(t, _)| by_table(t).and_then(|s| s.digest.map(|(len, h)| (s.file.clone(), len, h))))
        .collect();
    let snapshot = match built {
        Ok(s) if problems.is_empty() => {
            tracing::debug!(mb = s.heap_bytes() / 1_000_000, "snapshot: {}", s.heap_report());
            Some(s)
        }
        Ok(_) => None,
        Err(p) => {
            problems.0.extend(p.0);
            None
        }
    };
    problems.sort();
    if !problems.is_empty() {
        return CheckReport { problems, rows, references_secs, hash: None, snapshot: None, format };
    }
    let hash = digests.map(|d| combine(&d));
    CheckReport { problems, rows, references_secs, hash, snapshot, format }
}

/// What the reader thread of [`check`] hands the builder: a table starts
/// (for progress), or a call to make on the builder.
enum Step {
    Start(&'static str),
    Apply(Box<dyn FnOnce(&mut Builder) + Send>),
    /// A batch of rows to build (counted against [`BATCHES_AHEAD`] until
    /// they are freed); gives back the rows, to be freed elsewhere.
    Rows(Box<dyn FnOnce(&mut Builder) -> Built + Send>),
}

/// The rows of a built batch, handed back to be freed.
type Built = Box<dyn Send>;

/// Batches of parsed rows handed over to the builder and not yet built,
/// counting the one the reader holds ready: one being built, one waiting
/// and one parsed, while the reader's decoder decodes ahead. With one
/// fewer (and the decoder one batch ahead, not two) the reader waited for
/// the builder 0.75 s in roles and 0.67 s in evaluations at 3M (`credo
/// datasets check`), against 0.44 and 0.31 s now: the load 0.24 s
/// shorter at 3M; at 15M the same load and peak (ARCHITECTURE.md, "Stop
/// 54").
const BATCHES_AHEAD: usize = 3;

/// Reads every table in an order where everything a row refers to is
/// complete before it, sending the builder's calls to `tx`: the problems
/// of the files and cells, and what was read of each file.
fn read_tables(
    dir: &Path,
    tx: &std::sync::mpsc::Sender<Step>,
    ahead: &std::sync::mpsc::SyncSender<()>,
) -> (Problems, Vec<Scanned>) {
    let mut problems = Problems::default();
    let mut scanned: Vec<Scanned> = Vec::new();
    // A closed channel means the builder's thread stopped; its error is
    // the one reported.
    let send = |step: Step| {
        if let Step::Rows(_) = step {
            // Waits while the builder has as many batches as it may.
            let _ = ahead.send(());
        }
        let _ = tx.send(step);
    };
    macro_rules! table {
        ($t:ty, $add:ident $(, $end:ident)?) => {{
            send(Step::Start(<$t>::TABLE));
            let s = scan::<$t>(dir, &mut problems, &mut |batch| {
                send(match batch {
                    Batch::Expect(n) => Step::Apply(Box::new(move |b: &mut Builder| b.expect(<$t>::TABLE, n))),
                    Batch::Rows(parts) => Step::Rows(Box::new(move |b: &mut Builder| -> Built {
                        for (rows, nos) in &parts {
                            b.$add(rows, nos)
                        }
                        Box::new(parts)
                    })),
                })
            });
            scanned.push(s);
            $(send(Step::Apply(Box::new(|b: &mut Builder| b.$end())));)?
        }};
    }
    table!(Department, departments);
    table!(InspectionItem, items);
    table!(MarketEntity, entities, end_entities);
    table!(Person, persons, end_persons);
    table!(Officer, officers);
    table!(OfficerRelation, relations);
    table!(Role, roles, end_roles);
    table!(CreditEvaluation, evaluations, end_evaluations);
    table!(Penalty, penalties, end_penalties);
    table!(AbnormalListing, listings, end_listings);
    table!(Complaint, complaints, end_complaints);
    table!(Commitment, commitments);
    table!(InspectionRecord, inspections, end_inspections);
    table!(RepairApplication, repairs);
    (problems, scanned)
}

/// The officer roster of a dataset alone (for token and result checks),
/// refused if the officers table has problems.
pub fn roster(dir: &Path) -> Result<Vec<crate::model::Officer>, DataError> {
    let mut problems = problem::Problems::default();
    let mut officers = Vec::new();
    read::scan::<crate::model::Officer>(dir, &mut problems, &mut |batch| {
        if let Batch::Rows(parts) = batch {
            officers.extend(parts.into_iter().flat_map(|(rows, _)| rows))
        }
    });
    if problems.0.is_empty() {
        Ok(officers)
    } else {
        Err(DataError::Invalid { dir: dir.display().to_string(), rendered: problems.render(50), problems })
    }
}

/// Loads a dataset for real work, refusing it if anything is wrong.
pub fn load(dir: &Path) -> Result<LoadedDataset, DataError> {
    load_with(dir, &|_| {})
}

/// [`load`], reporting each table as it starts.
pub fn load_with(dir: &Path, progress: &dyn Fn(&str)) -> Result<LoadedDataset, DataError> {
    let report = check(dir, progress);
    match (report.snapshot, report.hash) {
        (Some(snapshot), Some(hash)) => Ok(LoadedDataset { snapshot, hash, format: report.format }),
        _ => Err(DataError::Invalid {
            dir: dir.display().to_string(),
            rendered: report.problems.render(50),
            problems: report.problems,
        }),
    }
}

/// The content hash of a dataset (credo-dataset-v1): SHA-256 over the
/// UTF-8 text `credo-dataset-v1\n` followed by one line per table, in the
/// fixed order of [`TABLES`]: `{file name}\t{length in bytes}\t{SHA-256 of
/// the file, hex}\n`. Written `sha256:<hex>`. Renaming, editing, adding a
/// table format or reordering changes it; anyone can recompute it with
/// `sha256sum`.
pub fn combine(files: &[(String, u64, [u8; 32])]) -> String {
    let mut text = String::from("credo-dataset-v1\n");
    for (name, len, digest) in files {
        text.push_str(&format!("{name}\t{len}\t{}\n", hex::encode(digest)));
    }
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// The content hash of the dataset in `dir`, read from disk (see [`combine`]).
pub fn content_hash(dir: &Path) -> Result<String, FileError> {
    let mut files = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for (table, _) in TABLES {
        let (path, _) = locate(dir, table).map_err(|p| FileError::new(dir, p.reason))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut f = std::fs::File::open(&path).map_err(|e| FileError::new(&path, e))?;
        let mut h = Sha256::new();
        let mut len = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(|e| FileError::new(&path, e))?;
            if n == 0 {
                break;
            }
            len += n as u64;
            h.update(&buf[..n]);
        }
        files.push((name, len, h.finalize().into()));
    }
    Ok(combine(&files))
}

#[cfg(test)]
mod tests {
    /// The thread's CPU time grows while it works and not while it sleeps
    /// (on Linux, where the debug logs read it).
    #[cfg(target_os = "linux")]
    #[test]
    fn thread_cpu_counts_this_threads_work() {
        let ms = std::time::Duration::from_millis;
        let start = super::thread_cpu();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < ms(200) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let worked = super::thread_cpu() - start;
        std::thread::sleep(ms(200));
        let slept = super::thread_cpu() - start - worked;
        // A reading lags by up to a scheduler tick; other tests share the
        // cores, so the work may have had less than its wall time.
        assert!(worked >= ms(50), "worked {worked:?}");
        assert!(slept < ms(40), "slept {slept:?}");
    }
}
