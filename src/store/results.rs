//! A run's per-entity results, in a SQLite file of their own. They are
//! derived data (a run can be repeated byte for byte), so the file is
//! written without a journal into a temporary name and renamed into place
//! only when complete; its SHA-256 is recorded in the store.

use std::io::Read;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{Result, StoreError, StoredResult};

const COLUMNS: &str = "uscc, name, city, county, tier, risk, probability_ppm, tolerance_until, key_attention, blacklisted, departments, explanation";

pub fn write(path: &Path, rows: &[StoredResult]) -> Result<()> {
    let dir = path.parent().ok_or_else(|| StoreError::Other(format!("{}: no directory", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Other(format!("{}: {e}", dir.display())))?;
    let tmp = path.with_extension("sqlite.partial");
    let _ = std::fs::remove_file(&tmp);
    {
        let mut conn = Connection::open(&tmp)?;
        conn.pragma_update(None, "journal_mode", "OFF")?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        conn.execute_batch(
            "CREATE TABLE results (
                uscc TEXT PRIMARY KEY, name TEXT NOT NULL, city INTEGER NOT NULL, county INTEGER NOT NULL,
                tier INTEGER NOT NULL, risk TEXT NOT NULL, probability_ppm INTEGER NOT NULL, tolerance_until TEXT,
                key_attention INTEGER NOT NULL, blacklisted INTEGER NOT NULL, departments TEXT NOT NULL,
                explanation TEXT NOT NULL
            ) WITHOUT ROWID;",
        )?;
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare(&format!(
                "INSERT INTO results ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))?;
            // Sorted by key so the B-tree is built by appending.
            let mut order: Vec<&StoredResult> = rows.iter().collect();
            order.sort_by(|a, b| a.uscc.cmp(&b.uscc));
            for r in order {
                stmt.execute(params![
                    r.uscc,
                    r.name,
                    r.city,
                    r.county,
                    r.tier,
                    r.risk,
                    r.probability_ppm,
                    r.tolerance_until,
                    r.key_attention,
                    r.blacklisted,
                    r.departments.join(";"),
                    r.explanation.get()
                ])?;
            }
        }
        tx.commit()?;
    }
    std::fs::rename(&tmp, path).map_err(|e| StoreError::Other(format!("{}: {e}", path.display())))?;
    Ok(())
}

pub fn file_hash(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| StoreError::Other(format!("{}: {e}", path.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| StoreError::Other(format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

fn open(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(StoreError::NotFound(format!("results file {}", path.display())));
    }
    Ok(Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredResult> {
    let departments: String = r.get(10)?;
    let explanation: String = r.get(11)?;
    Ok(StoredResult {
        uscc: r.get(0)?,
        name: r.get(1)?,
        city: r.get(2)?,
        county: r.get(3)?,
        tier: r.get(4)?,
        risk: r.get(5)?,
        probability_ppm: r.get(6)?,
        tolerance_until: r.get(7)?,
        key_attention: r.get(8)?,
        blacklisted: r.get(9)?,
        departments: departments.split(';').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        explanation: serde_json::value::RawValue::from_string(explanation)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(11, rusqlite::types::Type::Text, Box::new(e)))?,
    })
}

pub fn one(path: &Path, uscc: &str) -> Result<Option<StoredResult>> {
    let conn = open(path)?;
    Ok(conn.query_row(&format!("SELECT {COLUMNS} FROM results WHERE uscc = ?1"), [uscc], row).optional()?)
}

pub fn all(path: &Path) -> Result<Vec<StoredResult>> {
    let conn = open(path)?;
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM results ORDER BY uscc"))?;
    let rows = stmt.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
