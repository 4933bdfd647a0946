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
    // 2: inspection plans, drawn visits, officer assignments and results.
    "CREATE TABLE plans (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        params TEXT NOT NULL,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        dataset_hash TEXT NOT NULL,
        rules_hash TEXT NOT NULL,
        frame_hash TEXT NOT NULL,
        frame_stats TEXT NOT NULL,
        commitment TEXT NOT NULL,
        beacon_source TEXT NOT NULL,
        release_at TEXT NOT NULL,
        status TEXT NOT NULL,
        secret TEXT,
        beacon TEXT,
        result_hash TEXT,
        revealed_at TEXT,
        cancelled_reason TEXT,
        published_at TEXT
    );
    CREATE TABLE visits (
        plan_id INTEGER NOT NULL REFERENCES plans(id),
        seq INTEGER NOT NULL,
        uscc TEXT NOT NULL,
        name TEXT NOT NULL,
        stratum TEXT NOT NULL,
        ticket TEXT NOT NULL,
        items TEXT NOT NULL,
        officers TEXT NOT NULL,
        unstaffed TEXT,
        PRIMARY KEY (plan_id, seq)
    );
    CREATE TABLE assignments (
        officer_id TEXT NOT NULL,
        plan_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (officer_id, plan_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE inspection_results (
        id INTEGER PRIMARY KEY,
        plan_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        uscc TEXT NOT NULL,
        officer_id TEXT NOT NULL,
        department TEXT NOT NULL,
        inspected_on TEXT NOT NULL,
        result TEXT NOT NULL,
        commitment_status TEXT,
        notes TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        UNIQUE (plan_id, seq, department)
    );",
    // 3: access tokens, rule-set versions, imported datasets, background jobs.
    "CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        officer_id TEXT,
        label TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    );
    CREATE TABLE rule_versions (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL,
        files TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE datasets (
        hash TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        entities INTEGER NOT NULL,
        imported_at TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        status TEXT NOT NULL,
        progress TEXT NOT NULL,
        result TEXT,
        error TEXT
    );",
    // 4: results files are Parquet with an index (credo-results-v1).
    "ALTER TABLE runs ADD COLUMN results_index_hash TEXT;",
    // 5: store identity and signing key, audit entry formats
    // (credo-audit-v2), credo-draw-v2 plans: beacon binding, provenance,
    // public cancellation.
    "CREATE TABLE store_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    ALTER TABLE audit_log ADD COLUMN format INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE plans ADD COLUMN spec TEXT NOT NULL DEFAULT 'credo-draw-v1';
    ALTER TABLE plans ADD COLUMN beacon_rule TEXT NOT NULL DEFAULT 'none';
    ALTER TABLE plans ADD COLUMN beacon_published_at TEXT NOT NULL DEFAULT '';
    ALTER TABLE plans ADD COLUMN beacon_value TEXT;
    ALTER TABLE plans ADD COLUMN beacon_supplied_at TEXT;
    ALTER TABLE plans ADD COLUMN cancelled_at TEXT;
    ALTER TABLE plans ADD COLUMN replaces TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE plans ADD COLUMN excluded_by TEXT NOT NULL DEFAULT '[]';",
    // 6: principals (stable ids, role, department, jurisdiction); tokens
    // belong to a principal, expire and can be revoked; plans record their
    // creating principal and jurisdiction. Each earlier token becomes its
    // own province-level principal (officers: the department their roster
    // id starts with).
    "CREATE TABLE principals (
        id INTEGER PRIMARY KEY,
        role TEXT NOT NULL,
        officer_id TEXT,
        department TEXT,
        jurisdiction INTEGER NOT NULL,
        label TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    );
    CREATE INDEX principals_officer ON principals (officer_id);
    INSERT INTO principals (id, role, officer_id, department, jurisdiction, label, created_at, created_by)
        SELECT rowid, role, officer_id,
               CASE WHEN officer_id IS NULL THEN NULL ELSE substr(officer_id, 1, instr(officer_id, '-') - 1) END,
               370000, label, created_at, created_by
        FROM tokens;
    CREATE TABLE tokens_v6 (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        principal_id INTEGER NOT NULL REFERENCES principals(id),
        label TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        expires_at TEXT,
        revoked_at TEXT,
        revoked_by TEXT
    );
    INSERT INTO tokens_v6 (id, hash, principal_id, label, created_at, created_by)
        SELECT rowid, hash, rowid, label, created_at, created_by FROM tokens;
    DROP TABLE tokens;
    ALTER TABLE tokens_v6 RENAME TO tokens;
    ALTER TABLE plans ADD COLUMN creator_principal INTEGER;
    ALTER TABLE plans ADD COLUMN jurisdiction INTEGER NOT NULL DEFAULT 370000;",
    // 7: objections to records (异议申诉): filed, then upheld or rejected.
    "CREATE TABLE objections (
        id INTEGER PRIMARY KEY,
        uscc TEXT NOT NULL,
        record_id TEXT NOT NULL,
        region INTEGER NOT NULL,
        reason TEXT NOT NULL,
        filed_on TEXT NOT NULL,
        filed_at TEXT NOT NULL,
        filed_by TEXT NOT NULL,
        status TEXT NOT NULL,
        decided_on TEXT,
        decision_reason TEXT,
        decided_at TEXT,
        decided_by TEXT
    );
    CREATE INDEX objections_record ON objections (uscc, record_id);",
    // 8: rule versions in force for a period (scheduled activation); which
    // version a run used, and why.
    "ALTER TABLE rule_versions ADD COLUMN effective_from TEXT;
    ALTER TABLE rule_versions ADD COLUMN effective_until TEXT;
    ALTER TABLE runs ADD COLUMN rule_version INTEGER;
    ALTER TABLE runs ADD COLUMN rule_choice TEXT;",
    // 9: an entity's agent is a principal acting for that entity (its
    // credit code); every other principal has none.
    "ALTER TABLE principals ADD COLUMN entity TEXT;",
    // 10: approvals revoked because the commitment that stood in for them
    // (告知承诺) was found breached by its department's officer; once per
    // commitment.
    "CREATE TABLE approval_revocations (
        id INTEGER PRIMARY KEY,
        uscc TEXT NOT NULL,
        commitment_id TEXT NOT NULL,
        approval_item TEXT NOT NULL,
        department TEXT NOT NULL,
        result_id INTEGER NOT NULL,
        plan_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        revoked_on TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        recorded_by TEXT NOT NULL,
        UNIQUE (uscc, commitment_id)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A store made before principals existed keeps its tokens: each
    /// becomes its own province-level principal (officers with the
    /// department their roster id starts with), and keeps working.
    #[test]
    fn migration_6_turns_tokens_into_principals() {
        let conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..5] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        conn.execute_batch(
            "INSERT INTO tokens VALUES ('h1', 'regulator', NULL, 'ops', '2026-01-01T00:00:00Z', 'system');
             INSERT INTO tokens VALUES ('h2', 'regulator', NULL, 'ops', '2026-01-02T00:00:00Z', 'system');
             INSERT INTO tokens VALUES ('h3', 'officer', 'MPA-370200-0001', '', '2026-01-03T00:00:00Z', 'cli');",
        )
        .unwrap();
        migrate(&conn).unwrap();
        let rows: Vec<(i64, String, i64, Option<String>, i64)> = conn
            .prepare(
                "SELECT t.id, t.hash, p.id, p.department, p.jurisdiction FROM tokens t
                 JOIN principals p ON p.id = t.principal_id ORDER BY t.id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(rows.len(), 3);
        assert_ne!(rows[0].2, rows[1].2, "same label, two principals");
        assert_eq!(rows[2].3.as_deref(), Some("MPA"));
        assert!(rows.iter().all(|r| r.4 == 370000));
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
    }
}
