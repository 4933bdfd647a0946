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
use crate::snapshot::{Snapshot, SubmittedResult};
use crate::store::{FinishedRun, NewRun, ResultRecord, Store};

/// Officers' submitted results as the classification sees them.
pub fn submitted(results: &[ResultRecord]) -> Result<Vec<SubmittedResult>> {
    results
        .iter()
        .map(|r| {
            let bad = |e: String| OpsError::Invalid(format!("stored result {}: {e}", r.id));
            Ok(SubmittedResult {
                inspection_id: format!("plan{}-visit{}-{}", r.plan_id, r.seq, r.department),
                uscc: Uscc::parse(&r.uscc).map_err(|e| bad(e.to_string()))?,
                department: r.department.clone(),
                officer_id: r.officer_id.clone(),
                inspected_on: crate::data::table::parse_date(&r.inspected_on).map_err(bad)?,
                result: r.result.parse().map_err(bad)?,
                commitment_status: r.commitment_status.as_deref().map(str::parse).transpose().map_err(bad)?,
            })
        })
        .collect()
}

/// Adds every result officers submitted so far to a snapshot, and every
/// objection filed (the rules see each one's state as of their date).
pub fn add_submitted(store: &Store, s: &mut Snapshot) -> Result<()> {
    let results = submitted(&store.all_results()?)?;
    s.add_results(&results).map_err(|e| OpsError::Invalid(e.to_string()))?;
    super::objections::add_objections(store, s)
}

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
        let mut output = req.output.map(|(path, lang)| OutputWriter::create(path, lang)).transpose()?;
        let mut stored = results::Writer::create(&store.results_path(req.run)?)?;
        let c = classify::classify(
            req.snapshot,
            req.rules,
            req.as_of,
            req.options,
            &|s| {
                progress(s);
                let _ = store.set_run_progress(req.run, s);
            },
            &mut |shard| {
                // The two files are written side by side.
                let (a, b) = rayon::join(
                    || output.as_mut().map_or(Ok(()), |o| o.write(&shard)).map_err(|e| e.to_string()),
                    || stored.write(&shard).map_err(|e| e.to_string()),
                );
                a?;
                b?;
                observe(&shard);
                Ok(())
            },
        )?;
        progress("store");
        if let Some(o) = output {
            o.finish()?;
        }
        Ok((c, stored.finish()?))
    })();
    let (c, sealed) = match outcome {
        Ok(done) => done,
        Err(e) => {
            store.fail_run(req.run, req.actor, &e.to_string())?;
            return Err(e);
        }
    };
    let summary = serde_json::to_value(&c.summary).map_err(|e| OpsError::Invalid(e.to_string()))?;
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
    run_results(store, run)?
        .get(uscc)?
        .ok_or_else(|| crate::store::StoreError::NotFound(format!("entity {uscc} in run {run}")).into())
}
