//! The tamper-evident audit log: every entry holds the hash of the one
//! before it, so altering, inserting or removing an entry breaks the chain
//! at that point.
//!
//! Entry hash (credo-audit-v1) = SHA-256 over the UTF-8 text
//! `credo-audit-v1\n{seq}\n{at}\n{actor}\n{action}\n{subject}\n{payload}\n{prev_hash}`
//! written as lower-case hex; the first entry's `prev_hash` is 64 zeros.
//! Removing the newest entries cannot be seen from the chain alone: publish
//! the head hash (draw disclosures carry it) and compare.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use super::{Result, now};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone, Debug, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

pub fn entry_hash(seq: i64, at: &str, actor: &str, action: &str, subject: &str, payload: &str, prev: &str) -> String {
    let text = format!("credo-audit-v1\n{seq}\n{at}\n{actor}\n{action}\n{subject}\n{payload}\n{prev}");
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Appends an entry inside the caller's transaction and returns its hash.
pub fn append(
    tx: &Transaction<'_>,
    actor: &str,
    action: &str,
    subject: &str,
    payload: &serde_json::Value,
) -> Result<String> {
    let last: Option<(i64, String)> = tx
        .query_row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let at = now();
    let payload = payload.to_string();
    let hash = entry_hash(seq, &at, actor, action, subject, &payload, &prev);
    tx.execute(
        "INSERT INTO audit_log (seq, at, actor, action, subject, payload, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![seq, at, actor, action, subject, payload, prev, hash],
    )?;
    Ok(hash)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        subject: r.get(4)?,
        payload: r.get(5)?,
        prev_hash: r.get(6)?,
        hash: r.get(7)?,
    })
}

pub fn entries(conn: &Connection, subject_prefix: Option<&str>) -> Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, action, subject, payload, prev_hash, hash FROM audit_log
         WHERE ?1 IS NULL OR subject = ?1 OR subject LIKE ?1 || '/%' ORDER BY seq",
    )?;
    let out = stmt.query_map([subject_prefix], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(out)
}

/// The newest entry's hash (the genesis value for an empty log).
pub fn head(conn: &Connection) -> Result<String> {
    Ok(conn
        .query_row("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string()))
}

/// The result of walking the chain.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum ChainReport {
    Intact {
        entries: i64,
        head: String,
    },
    /// The first entry that does not fit, and why.
    Broken {
        seq: i64,
        reason: String,
    },
}

pub fn verify(conn: &Connection) -> Result<ChainReport> {
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 1;
    for e in entries(conn, None)? {
        if e.seq != expected_seq {
            return Ok(ChainReport::Broken {
                seq: expected_seq,
                reason: format!("entry {expected_seq} is missing (the next entry is {})", e.seq),
            });
        }
        if e.prev_hash != prev {
            return Ok(ChainReport::Broken {
                seq: e.seq,
                reason: format!(
                    "entry {} does not follow entry {}: its prev_hash is not that entry's hash",
                    e.seq,
                    e.seq - 1
                ),
            });
        }
        let h = entry_hash(e.seq, &e.at, &e.actor, &e.action, &e.subject, &e.payload, &e.prev_hash);
        if h != e.hash {
            return Ok(ChainReport::Broken {
                seq: e.seq,
                reason: format!("entry {} was altered: its content does not hash to its hash", e.seq),
            });
        }
        prev = e.hash;
        expected_seq += 1;
    }
    Ok(ChainReport::Intact { entries: expected_seq - 1, head: prev })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn store_with(n: usize) -> Store {
        let s = Store::in_memory().unwrap();
        for i in 0..n {
            s.write(|tx| append(tx, "tester", "test.event", &format!("thing/{i}"), &serde_json::json!({ "i": i })))
                .unwrap();
        }
        s
    }

    #[test]
    fn intact_chain_verifies() {
        let s = store_with(5);
        let r = s.read(verify).unwrap();
        assert!(matches!(r, ChainReport::Intact { entries: 5, .. }), "{r:?}");
    }

    #[test]
    fn altered_entry_is_named() {
        let s = store_with(5);
        s.read(|c| Ok(c.execute("UPDATE audit_log SET payload = '{\"i\":99}' WHERE seq = 3", [])?)).unwrap();
        let r = s.read(verify).unwrap();
        assert_eq!(
            r,
            ChainReport::Broken { seq: 3, reason: "entry 3 was altered: its content does not hash to its hash".into() }
        );
    }

    #[test]
    fn missing_entry_is_named() {
        let s = store_with(5);
        s.read(|c| Ok(c.execute("DELETE FROM audit_log WHERE seq = 2", [])?)).unwrap();
        let r = s.read(verify).unwrap();
        assert_eq!(r, ChainReport::Broken { seq: 2, reason: "entry 2 is missing (the next entry is 3)".into() });
    }

    #[test]
    fn rehashed_entry_breaks_the_next_link() {
        let s = store_with(4);
        s.read(|c| {
            let e = &entries(c, None)?[1];
            let h = entry_hash(e.seq, &e.at, "mallory", &e.action, &e.subject, &e.payload, &e.prev_hash);
            Ok(c.execute("UPDATE audit_log SET actor = 'mallory', hash = ?1 WHERE seq = 2", [h])?)
        })
        .unwrap();
        let r = s.read(verify).unwrap();
        assert!(matches!(r, ChainReport::Broken { seq: 3, .. }), "{r:?}");
    }
}
