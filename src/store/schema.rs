//! The store's schema, as numbered migrations applied in order
//! (`PRAGMA user_version` holds how many have run).

use rusqlite::Connection;

use super::Result;

const MIGRATIONS: &[&str] = &[
    // 1: audit log and classification runs.
    "CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        dataset TEXT NOT NULL,
        dataset_hash TEXT NOT NULL,
        rules_hash TEXT NOT NULL,
        rules_label TEXT NOT NULL,
        as_of TEXT NOT NULL,
        status TEXT NOT NULL,
        progress TEXT NOT NULL,
        entities INTEGER NOT NULL,
        summary TEXT,
        output TEXT,
        error TEXT,
        results_hash TEXT
    );",
];

pub fn migrate(conn: &Connection) -> Result<()> {
    let done: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
