//! Classification runs into the store: the dataset plus officers'
//! submitted results, classified shard by shard, streamed to the output
//! file and to the run's results file, recorded with their hashes.

use std::path::Path;
use std::sync::Arc;

use super::{OpsError, Result};
use crate::classify::{self, Classification, EntityResult};
use crate::data::output::OutputWriter;
use crate::data::results::{self, Reader, StoredResult};
use crate::engine::RuleSet;
use crate::model::*;
use crate::snapshot::Snapshot;
use crate::store::{FinishedRun, NewRun, Store};
use crate::tr;

/// Records that a classification run starts (audited) and returns its id.
pub fn begin_run(
    store: &Store,
    dataset_hash: &str,
    dataset_label: &str,
    rules: &RuleSet,
    as_of: Date,
    actor: &str,
) -> Result<i64> {
    Ok(store.start_run(&NewRun {
        actor,
        dataset: dataset_label,
        dataset_hash,
        rules_hash: rules.hash(),
        rules_label: &rules.label(),
        as_of: &as_of.to_string(),
    })?)
}

/// A run to execute: what to classify and where the results go.
pub struct RunRequest<'a> {
    pub run: i64,
    /// The dataset with officers' submitted results already added.
    pub snapshot: &'a Snapshot,
    pub rules: &'a RuleSet,
    pub as_of: Date,
    pub actor: &'a str,
    /// A CSV or Parquet file for the user, besides the run's results
    /// file, with tier names and explanations in a language.
    pub output: Option<(&'a Path, crate::i18n::Lang)>,
    pub options: &'a classify::Options,
}

/// How often a run's progress is written to the store at most.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Lets a writer go of a shard of results, timing the freeing (CPU time)
/// for the debug log when this writer is the last to hold it (the results
/// were made on the pool's threads; freeing them here is part of a
/// writer's work).
fn dropped(shard: Arc<Vec<EntityResult>>, writer: &'static str) {
    if let Some(shard) = Arc::into_inner(shard) {
        let (cpu0, rows) = (crate::data::log_cpu(), shard.len());
        drop(shard);
        tracing::debug!(writer, rows, freed = ?crate::data::log_cpu().saturating_sub(cpu0), "shard freed");
    }
}

/// Writes the latest of the steps `steps` sends to the store, at most once
/// per [`PROGRESS_EVERY`], until the sender is dropped. Each write is a
/// committed transaction (an fsync, ~6 ms measured) and a run has a dozen
/// steps per shard (150 shards at 15M): on this thread, classification
/// does not wait for them, and a long step is shown within a second.
fn write_progress(store: &Store, run: i64, steps: std::sync::mpsc::Receiver<String>) {
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::Instant;
    let mut next = Instant::now();
    while let Ok(mut step) = steps.recv() {
        // Steps that come before the next write is due replace this one.
        loop {
            match steps.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Ok(later) => step = later,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let _ = store.set_run_progress(run, &step);
        next = Instant::now() + PROGRESS_EVERY;
    }
}

/// Runs a begun classification, streams each shard to the output file and
/// the run's results file, and records the results (or the failure) in
/// the store. `observe` sees every shard of results on the way.
pub fn execute_run(
    store: &Store,
    req: &RunRequest<'_>,
    progress: &(dyn Fn(&str) + Sync),
    observe: &mut dyn FnMut(&[EntityResult]),
) -> Result<Classification> {
    let outcome = (|| -> Result<(Classification, results::Sealed)> {
        let output = req.output.map(|(path, lang)| OutputWriter::create(path, lang)).transpose()?;
        let stored = results::Writer::create(&store.results_path(req.run)?)?;
        // Each file is written on its own thread while the next shard is
        // classified; a finished shard is handed over when its writer is
        // free (rendezvous channels: no shard waits in a queue, so the
        // results alive are the shard being written and the next one,
        // finished or being classified; writers, the slower side at
        // scale, never idle for it). Plain threads, not rayon
        // jobs: a job injected into the pool waits until classification
        // leaves the pool idle, so writing would not overlap it.
        let (tx_out, rx_out) = std::sync::mpsc::sync_channel::<Arc<Vec<EntityResult>>>(0);
        let (tx_stored, rx_stored) = std::sync::mpsc::sync_channel::<Arc<Vec<EntityResult>>>(0);
        std::thread::scope(|scope| {
            let output_writer = scope.spawn(move || -> Result<Option<OutputWriter>> {
                let mut output = output;
                for shard in rx_out {
                    if let Some(o) = output.as_mut() {
                        o.write(&shard)?;
                    }
                    dropped(shard, "output");
                }
                Ok(output)
            });
            let stored_writer = scope.spawn(move || -> Result<results::Writer> {
                let mut stored = stored;
                for shard in rx_stored {
                    stored.write(&shard)?;
                    dropped(shard, "results");
                }
                Ok(stored)
            });
            let (tx_progress, rx_progress) = std::sync::mpsc::channel::<String>();
            let run = req.run;
            scope.spawn(move || write_progress(store, run, rx_progress));
            let classified = classify::classify(
                req.snapshot,
                req.rules,
                req.as_of,
                req.options,
                &|s| {
                    progress(s);
                    // Fails only when the progress writer has stopped.
                    let _ = tx_progress.send(s.to_owned());
                },
                &mut |shard| {
                    observe(&shard);
                    let shard = Arc::new(shard);
                    // A send fails only when a writer stopped on an error,
                    // which is reported below.
                    let stopped = |_| classify::SinkError::from("the results writer stopped");
                    if req.output.is_some() {
                        tx_out.send(shard.clone()).map_err(stopped)?;
                    }
                    tx_stored.send(shard).map_err(stopped)
                },
            );
            drop((tx_out, tx_stored, tx_progress));
            let panicked = |_| OpsError::Fault(crate::tr!("内部错误：结果写入线程崩溃", "the results writer panicked"));
            let output = output_writer.join().map_err(panicked)?;
            let stored = stored_writer.join().map_err(panicked)?;
            // A writer's error explains a classification stopped by it.
            let (output, mut stored) = (output?, stored?);
            let c = classified?;
            progress("store");
            if let Some(o) = output {
                o.finish()?;
            }
            // The paths that touch each entity, for its timeline.
            stored.paths(&c.propagation)?;
            Ok((c, stored.finish()?))
        })
    })();
    let (c, sealed) = match outcome {
        Ok(done) => done,
        Err(e) => {
            store.fail_run(req.run, req.actor, &e.to_string())?;
            return Err(e);
        }
    };
    let summary = serde_json::to_value(&c.summary).map_err(OpsError::internal("run summary"))?;
    let output = req.output.map(|(p, _)| p.display().to_string());
    store.finish_run(
        req.run,
        req.actor,
        &FinishedRun {
            entities: sealed.rows,
            summary: &summary,
            output: output.as_deref(),
            results_hash: &sealed.file_hash,
            index_hash: &sealed.index_hash,
        },
    )?;
    Ok(c)
}

/// Opens a finished run's results file, checked against the store.
pub fn run_results(store: &Store, run: i64) -> Result<Reader> {
    let (path, index_hash) = store.results_file(run)?;
    Ok(Reader::open(&path, &index_hash)?)
}

/// One entity's result in a finished run.
pub fn run_entity(store: &Store, run: i64, uscc: &str) -> Result<StoredResult> {
    run_results(store, run)?.get(uscc)?.ok_or_else(|| {
        crate::store::StoreError::NotFound(tr!("运行 {run} 中的主体 {uscc}", "entity {uscc} in run {run}")).into()
    })
}
