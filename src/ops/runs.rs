//! Classification runs into the store: the dataset plus officers'
//! submitted results, classified shard by shard, streamed to the output
//! file and to the run's results file, recorded with their hashes.

use std::path::Path;

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
        // Shards are written on their own thread while the next shard is
        // classified (one shard waits at most); the two files of a shard
        // are written side by side.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<EntityResult>>(1);
        std::thread::scope(|scope| {
            let writer = scope.spawn(move || -> Result<(Option<OutputWriter>, results::Writer)> {
                let (mut output, mut stored) = (output, stored);
                for shard in rx {
                    let (a, b) =
                        rayon::join(|| output.as_mut().map_or(Ok(()), |o| o.write(&shard)), || stored.write(&shard));
                    a?;
                    b?;
                }
                Ok((output, stored))
            });
            let classified = classify::classify(
                req.snapshot,
                req.rules,
                req.as_of,
                req.options,
                &|s| {
                    progress(s);
                    let _ = store.set_run_progress(req.run, s);
                },
                &mut |shard| {
                    observe(&shard);
                    // A send fails only when the writer stopped on an error,
                    // which is reported below.
                    tx.send(shard).map_err(|_| classify::SinkError::from("the results writer stopped"))
                },
            );
            drop(tx);
            let written = writer.join().map_err(|_| OpsError::Internal("the results writer panicked".into()))?;
            // A writer's error explains a classification stopped by it.
            let (output, mut stored) = written?;
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
