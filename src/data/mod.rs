//! Datasets on disk: loading and checking them with polars, generating
//! realistic ones, hashing their content, writing results.
//!
//! Invariants: only this module imports polars. Loading never drops or
//! coerces a row: a dataset with any problem is refused with every problem
//! named (file, row, column, reason). A loaded dataset always carries the
//! content hash of the files it came from.

pub mod generate;
pub mod output;
pub mod problem;
pub mod read;
pub mod rules;
pub mod summary;
pub mod table;
mod validate;
mod write;

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

pub use problem::{Problem, Problems};
pub use read::Format;

use crate::model::*;
use read::{Loaded, load_table, locate};
use table::{TABLES, TableRow};
use validate::Tables;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("dataset {dir} has problems:\n{rendered}")]
    Invalid { dir: String, problems: Problems, rendered: String },
}

/// A dataset that passed every check, with the hash of its files.
pub struct LoadedDataset {
    pub dataset: Dataset,
    /// `sha256:` + hex of the dataset content hash (see [`content_hash`]).
    pub hash: String,
    pub format: Format,
}

/// The outcome of checking a dataset directory.
pub struct CheckReport {
    pub problems: Problems,
    /// Rows read per table (including rows with problems).
    pub rows: Vec<(&'static str, usize)>,
    pub hash: Option<String>,
    pub dataset: Option<Dataset>,
}

/// Loads every table, checks all of it, and returns the report. The
/// dataset is present only when there are no problems.
pub fn check(dir: &Path) -> CheckReport {
    let (tables, mut problems) = load_tables(dir);
    tables.validate(&mut problems);
    problems.sort();
    let rows = vec![
        ("entities", tables.entities.rows.len()),
        ("persons", tables.persons.rows.len()),
        ("roles", tables.roles.rows.len()),
        ("evaluations", tables.evaluations.rows.len()),
        ("penalties", tables.penalties.rows.len()),
        ("abnormal_listings", tables.abnormal_listings.rows.len()),
        ("complaints", tables.complaints.rows.len()),
        ("commitments", tables.commitments.rows.len()),
        ("inspections", tables.inspections.rows.len()),
        ("repairs", tables.repairs.rows.len()),
        ("departments", tables.departments.rows.len()),
        ("inspection_items", tables.inspection_items.rows.len()),
        ("officers", tables.officers.rows.len()),
        ("officer_relations", tables.officer_relations.rows.len()),
    ];
    if !problems.is_empty() {
        return CheckReport { problems, rows, hash: None, dataset: None };
    }
    let hash = tables.digests().map(|d| combine(&d));
    let dataset = problems.is_empty().then(|| tables.into_dataset());
    CheckReport { problems, rows, hash, dataset }
}

/// Loads a dataset for real work, refusing it if anything is wrong.
pub fn load(dir: &Path) -> Result<LoadedDataset, DataError> {
    let report = check(dir);
    match (report.dataset, report.hash) {
        (Some(dataset), Some(hash)) => {
            let format = locate(dir, MarketEntity::TABLE).map(|(_, f)| f).unwrap_or(Format::Csv);
            Ok(LoadedDataset { dataset, hash, format })
        }
        _ => Err(DataError::Invalid {
            dir: dir.display().to_string(),
            rendered: report.problems.render(50),
            problems: report.problems,
        }),
    }
}

fn load_tables(dir: &Path) -> (Tables, Problems) {
    // Each table keeps its own problems, merged after.
    fn one<T: TableRow>(dir: &Path) -> (Loaded<T>, Problems) {
        let mut p = Problems::default();
        let t = load_table::<T>(dir, &mut p);
        (t, p)
    }
    // One table at a time: parsing is parallel inside a table, and only one
    // table's raw bytes and text columns are alive at once (loading 15
    // million entities with tables in parallel peaked near 20 GB).
    let entities = one::<MarketEntity>(dir);
    let persons = one::<Person>(dir);
    let roles = one::<Role>(dir);
    let evaluations = one::<CreditEvaluation>(dir);
    let penalties = one::<Penalty>(dir);
    let abnormal = one::<AbnormalListing>(dir);
    let complaints = one::<Complaint>(dir);
    let commitments = one::<Commitment>(dir);
    let inspections = one::<InspectionRecord>(dir);
    let repairs = one::<RepairApplication>(dir);
    let departments = one::<Department>(dir);
    let items = one::<InspectionItem>(dir);
    let officers = one::<Officer>(dir);
    let relations = one::<OfficerRelation>(dir);
    let mut problems = Problems::default();
    let mut take = |p: Problems| problems.0.extend(p.0);
    take(entities.1);
    take(persons.1);
    take(roles.1);
    take(evaluations.1);
    take(penalties.1);
    take(abnormal.1);
    take(complaints.1);
    take(commitments.1);
    take(inspections.1);
    take(repairs.1);
    take(departments.1);
    take(items.1);
    take(officers.1);
    take(relations.1);
    let tables = Tables {
        entities: entities.0,
        persons: persons.0,
        roles: roles.0,
        evaluations: evaluations.0,
        penalties: penalties.0,
        abnormal_listings: abnormal.0,
        complaints: complaints.0,
        commitments: commitments.0,
        inspections: inspections.0,
        repairs: repairs.0,
        departments: departments.0,
        inspection_items: items.0,
        officers: officers.0,
        officer_relations: relations.0,
    };
    (tables, problems)
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
pub fn content_hash(dir: &Path) -> Result<String, String> {
    let mut files = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for (table, _) in TABLES {
        let (path, _) = locate(dir, table).map_err(|p| p.reason)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut h = Sha256::new();
        let mut len = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(|e| format!("{}: {e}", path.display()))?;
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
