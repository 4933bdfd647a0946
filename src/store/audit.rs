//! The tamper-evident audit log: every entry holds the hash of the one
//! before it, so altering, inserting or removing an entry breaks the chain
//! at that point.
//!
//! Entry hash, format 1 (credo-audit-v1, entries written before format 2
//! existed) = SHA-256 over the UTF-8 text
//! `credo-audit-v1\n{seq}\n{at}\n{actor}\n{action}\n{subject}\n{payload}\n{prev_hash}`.
//! Joining with newlines is ambiguous (an actor may contain a newline), so
//! format 2 (credo-audit-v2, every new entry) length-prefixes each field:
//! SHA-256 over `credo-audit-v2` NUL, then for each of seq (decimal), at,
//! actor, action, subject, payload, prev_hash: its UTF-8 length as 8
//! big-endian bytes and its bytes. Hashes are lower-case hex; the first
//! entry's `prev_hash` is 64 zeros; formats never decrease along the chain
//! (so nobody can re-hash a new entry by the old, ambiguous rule).
//! Removing the newest entries, or rewriting the chain from some entry on,
//! cannot be seen from the chain alone: compare it with a signed checkpoint
//! ([`check_checkpoint`]) published earlier.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use super::{Result, now};
use crate::i18n::Text;
use crate::model::AuditAction;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The format every new entry is written in.
pub const CURRENT_FORMAT: i64 = 2;

#[derive(Clone, Debug, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    /// The action's code as stored and hashed (an [`AuditAction`] code
    /// unless the entry was altered or written by a newer credo).
    pub action: String,
    pub subject: String,
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
    /// 1 (credo-audit-v1) or 2 (credo-audit-v2, length-prefixed fields).
    pub format: i64,
}

impl AuditEntry {
    /// The entry's action, `None` when its text is no known code.
    pub fn action_kind(&self) -> Option<AuditAction> {
        self.action.parse().ok()
    }
}

/// Format 1 (credo-audit-v1): fields joined with newlines. Kept to verify
/// entries written before format 2.
pub fn entry_hash(seq: i64, at: &str, actor: &str, action: &str, subject: &str, payload: &str, prev: &str) -> String {
    let text = format!("credo-audit-v1\n{seq}\n{at}\n{actor}\n{action}\n{subject}\n{payload}\n{prev}");
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Format 2 (credo-audit-v2): every field length-prefixed, so no two
/// different entries have the same hash input.
pub fn entry_hash_v2(e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    h.update(b"credo-audit-v2\0");
    let seq = e.seq.to_string();
    for f in [&seq, &e.at, &e.actor, &e.action, &e.subject, &e.payload, &e.prev_hash] {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The hash of an entry by the rule of its format, or `None` for a format
/// this credo does not know.
pub fn hash_of(e: &AuditEntry) -> Option<String> {
    match e.format {
        1 => Some(entry_hash(e.seq, &e.at, &e.actor, &e.action, &e.subject, &e.payload, &e.prev_hash)),
        2 => Some(entry_hash_v2(e)),
        _ => None,
    }
}

/// Appends an entry inside the caller's transaction and returns its hash.
pub fn append(
    tx: &Transaction<'_>,
    actor: &str,
    action: AuditAction,
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
    let mut e = AuditEntry {
        seq,
        at: now(),
        actor: actor.to_string(),
        action: action.as_str().to_string(),
        subject: subject.to_string(),
        payload: payload.to_string(),
        prev_hash: prev,
        hash: String::new(),
        format: CURRENT_FORMAT,
    };
    e.hash = entry_hash_v2(&e);
    tx.execute(
        "INSERT INTO audit_log (seq, at, actor, action, subject, payload, prev_hash, hash, format)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![e.seq, e.at, e.actor, e.action, e.subject, e.payload, e.prev_hash, e.hash, e.format],
    )?;
    Ok(e.hash)
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
        format: r.get(8)?,
    })
}

/// Entries about `subject_prefix` (taken literally: `%`, `_` and backslash are
/// not wildcards) and its parts (`plan/3` and `plan/3/visit/1`), or all.
pub fn entries(conn: &Connection, subject_prefix: Option<&str>) -> Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, action, subject, payload, prev_hash, hash, format FROM audit_log
         WHERE ?1 IS NULL OR subject = ?1 OR subject LIKE ?2 ESCAPE '\\' ORDER BY seq",
    )?;
    let pattern = subject_prefix.map(|p| format!("{}/%", like_literal(p)));
    let out = stmt.query_map(rusqlite::params![subject_prefix, pattern], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(out)
}

/// `s` as a LIKE pattern that matches only itself (escape character: backslash).
pub fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
        reason: ChainBreak,
    },
}

/// Why the chain, or the log against a checkpoint, does not hold. Serialised
/// as its English sentence (the `reason` of `/audit/verify`); readers get
/// [`ChainBreak::text`] in their language.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {seq} is missing (the next entry is {next})")]
    Missing { seq: i64, next: i64 },
    #[error("entry {seq} does not follow entry {}: its prev_hash is not that entry's hash", seq - 1)]
    Unlinked { seq: i64 },
    #[error("entry {seq} is in audit format {format} after an entry in format {after}: formats never go back")]
    FormatBack { seq: i64, format: i64, after: i64 },
    #[error("entry {seq} has the unknown audit format {format}")]
    UnknownFormat { seq: i64, format: i64 },
    #[error("entry {seq} was altered: its content does not hash to its hash")]
    Altered { seq: i64 },
    #[error("the checkpoint pins no entry but the head hash {head}")]
    EmptyCheckpoint { head: String },
    #[error(
        "the log was truncated: the checkpoint pins entry {entries} with hash {head}, but the log ends at entry {last}"
    )]
    Truncated { entries: i64, head: String, last: i64 },
    #[error("the log was rewritten: entry {entries} hashes to {now} now, the checkpoint pinned {pinned}")]
    Rewritten { entries: i64, now: String, pinned: String },
    #[error("the checkpoint is of store {checkpoint}, this is store {store}")]
    OtherStore { checkpoint: String, store: String },
}

impl ChainBreak {
    /// The reason in both languages (hashes and numbers as they are).
    pub fn text(&self) -> Text {
        Text::new(self.zh(), self.to_string())
    }

    fn zh(&self) -> String {
        match self {
            ChainBreak::Missing { seq, next } => format!("第 {seq} 条缺失（下一条是第 {next} 条）"),
            ChainBreak::Unlinked { seq } => {
                format!("第 {seq} 条接不上第 {} 条：它的 prev_hash 不是那一条的哈希", seq - 1)
            }
            ChainBreak::FormatBack { seq, format, after } => {
                format!("第 {seq} 条的审计格式为 {format}，而此前已有格式 {after} 的条目：格式不能倒退")
            }
            ChainBreak::UnknownFormat { seq, format } => format!("第 {seq} 条的审计格式 {format} 未知"),
            ChainBreak::Altered { seq } => format!("第 {seq} 条已被改动：其内容的哈希与记录的哈希不符"),
            ChainBreak::EmptyCheckpoint { head } => format!("检查点未固定任何条目，却给出了链头哈希 {head}"),
            ChainBreak::Truncated { entries, head, last } => {
                format!("日志被截断：检查点固定了第 {entries} 条（哈希 {head}），但日志止于第 {last} 条")
            }
            ChainBreak::Rewritten { entries, now, pinned } => {
                format!("日志被改写：第 {entries} 条现在的哈希为 {now}，检查点固定的是 {pinned}")
            }
            ChainBreak::OtherStore { checkpoint, store } => {
                format!("检查点属于存储 {checkpoint}，而这是存储 {store}")
            }
        }
    }
}

impl serde::Serialize for ChainBreak {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The newest entry: (seq, hash), or (0, genesis) for an empty log.
pub fn head_entry(conn: &Connection) -> Result<(i64, String)> {
    Ok(conn
        .query_row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or_else(|| (0, GENESIS.to_string())))
}

/// One entry by number.
pub fn entry(conn: &Connection, seq: i64) -> Result<Option<AuditEntry>> {
    Ok(conn
        .query_row(
            "SELECT seq, at, actor, action, subject, payload, prev_hash, hash, format FROM audit_log WHERE seq = ?1",
            [seq],
            row,
        )
        .optional()?)
}

/// Compares the log with a checkpoint (an entry number and the hash the
/// entry had then): the entry must still exist with that hash. Run after
/// [`verify`], this shows truncation (the entry is gone) and rewrites from
/// any entry up to it (its hash changed, since every hash covers all
/// entries before it).
pub fn check_checkpoint(conn: &Connection, entries: i64, head: &str) -> Result<ChainReport> {
    let (last, last_hash) = head_entry(conn)?;
    if entries == 0 {
        return Ok(if head == GENESIS {
            ChainReport::Intact { entries: last, head: last_hash }
        } else {
            ChainReport::Broken { seq: 0, reason: ChainBreak::EmptyCheckpoint { head: head.to_string() } }
        });
    }
    match entry(conn, entries)? {
        None => Ok(ChainReport::Broken {
            seq: entries,
            reason: ChainBreak::Truncated { entries, head: head.to_string(), last },
        }),
        Some(e) if e.hash != head => Ok(ChainReport::Broken {
            seq: entries,
            reason: ChainBreak::Rewritten { entries, now: e.hash, pinned: head.to_string() },
        }),
        Some(_) => Ok(ChainReport::Intact { entries: last, head: last_hash }),
    }
}

pub fn verify(conn: &Connection) -> Result<ChainReport> {
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 1;
    let mut format = 1;
    for e in entries(conn, None)? {
        if e.seq != expected_seq {
            return Ok(ChainReport::Broken {
                seq: expected_seq,
                reason: ChainBreak::Missing { seq: expected_seq, next: e.seq },
            });
        }
        if e.prev_hash != prev {
            return Ok(ChainReport::Broken { seq: e.seq, reason: ChainBreak::Unlinked { seq: e.seq } });
        }
        if e.format < format {
            return Ok(ChainReport::Broken {
                seq: e.seq,
                reason: ChainBreak::FormatBack { seq: e.seq, format: e.format, after: format },
            });
        }
        format = e.format;
        let Some(h) = hash_of(&e) else {
            return Ok(ChainReport::Broken {
                seq: e.seq,
                reason: ChainBreak::UnknownFormat { seq: e.seq, format: e.format },
            });
        };
        if h != e.hash {
            return Ok(ChainReport::Broken { seq: e.seq, reason: ChainBreak::Altered { seq: e.seq } });
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

    /// A store with its identity entry (1) and `n - 1` more entries.
    fn store_with(n: usize) -> Store {
        let s = Store::in_memory().unwrap();
        for i in 1..n {
            s.write(|tx| {
                append(tx, "tester", AuditAction::DatasetImport, &format!("thing/{i}"), &serde_json::json!({ "i": i }))
            })
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
        assert_eq!(r, ChainReport::Broken { seq: 3, reason: ChainBreak::Altered { seq: 3 } });
        let ChainReport::Broken { reason, .. } = r else { unreachable!() };
        assert_eq!(reason.to_string(), "entry 3 was altered: its content does not hash to its hash");
        assert_eq!(reason.text().zh(), "第 3 条已被改动：其内容的哈希与记录的哈希不符");
        assert_eq!(serde_json::to_value(&reason).unwrap(), reason.to_string());
    }

    #[test]
    fn missing_entry_is_named() {
        let s = store_with(5);
        s.read(|c| Ok(c.execute("DELETE FROM audit_log WHERE seq = 2", [])?)).unwrap();
        let r = s.read(verify).unwrap();
        assert_eq!(r, ChainReport::Broken { seq: 2, reason: ChainBreak::Missing { seq: 2, next: 3 } });
        let ChainReport::Broken { reason, .. } = r else { unreachable!() };
        assert_eq!(reason.to_string(), "entry 2 is missing (the next entry is 3)");
    }

    #[test]
    fn rehashed_entry_breaks_the_next_link() {
        let s = store_with(4);
        s.read(|c| {
            let mut e = entries(c, None)?[1].clone();
            e.actor = "mallory".into();
            let h = entry_hash_v2(&e);
            Ok(c.execute("UPDATE audit_log SET actor = 'mallory', hash = ?1 WHERE seq = 2", [h])?)
        })
        .unwrap();
        let r = s.read(verify).unwrap();
        assert!(matches!(r, ChainReport::Broken { seq: 3, .. }), "{r:?}");
    }

    /// Regression: format 1 joined fields with newlines, so an actor with
    /// a newline could give another entry's hash input. Format 2 cannot.
    #[test]
    fn length_prefixed_fields_have_no_collisions() {
        let e = |actor: &str, action: &str| AuditEntry {
            seq: 1,
            at: "2026-01-01T00:00:00Z".into(),
            actor: actor.into(),
            action: action.into(),
            subject: "plan/1".into(),
            payload: "{}".into(),
            prev_hash: GENESIS.into(),
            hash: String::new(),
            format: 2,
        };
        let (a, b) = (e("regulator:x\nplan.cancel", "plan.create"), e("regulator:x", "plan.cancel\nplan.create"));
        assert_eq!(
            entry_hash(a.seq, &a.at, &a.actor, &a.action, &a.subject, &a.payload, &a.prev_hash),
            entry_hash(b.seq, &b.at, &b.actor, &b.action, &b.subject, &b.payload, &b.prev_hash),
            "format 1 is ambiguous"
        );
        assert_ne!(entry_hash_v2(&a), entry_hash_v2(&b));
    }

    #[test]
    fn old_format_entries_still_verify_and_formats_never_go_back() {
        let s = store_with(3);
        // Rewrite the chain as if entries 1-2 were written by an older credo.
        s.read(|c| {
            let mut prev = GENESIS.to_string();
            for mut e in entries(c, None)?.into_iter().take(2) {
                e.prev_hash = prev.clone();
                e.hash = entry_hash(e.seq, &e.at, &e.actor, &e.action, &e.subject, &e.payload, &e.prev_hash);
                c.execute(
                    "UPDATE audit_log SET format = 1, prev_hash = ?2, hash = ?3 WHERE seq = ?1",
                    params![e.seq, e.prev_hash, e.hash],
                )?;
                prev = e.hash;
            }
            let mut e = entries(c, None)?[2].clone();
            e.prev_hash = prev;
            e.hash = entry_hash_v2(&e);
            c.execute(
                "UPDATE audit_log SET prev_hash = ?2, hash = ?3 WHERE seq = ?1",
                params![e.seq, e.prev_hash, e.hash],
            )?;
            Ok(())
        })
        .unwrap();
        assert!(matches!(s.read(verify).unwrap(), ChainReport::Intact { entries: 3, .. }));
        s.write(|tx| append(tx, "tester", AuditAction::DatasetImport, "thing/x", &serde_json::json!({}))).unwrap();
        assert!(matches!(s.read(verify).unwrap(), ChainReport::Intact { entries: 4, .. }));
        // A new entry re-hashed by the old rule is refused.
        s.read(|c| {
            let e = entries(c, None)?[3].clone();
            let h = entry_hash(e.seq, &e.at, &e.actor, &e.action, &e.subject, &e.payload, &e.prev_hash);
            Ok(c.execute("UPDATE audit_log SET format = 1, hash = ?1 WHERE seq = 4", [h])?)
        })
        .unwrap();
        let r = s.read(verify).unwrap();
        assert!(
            matches!(&r, ChainReport::Broken { seq: 4, reason } if reason.to_string().contains("formats never go back")),
            "{r:?}"
        );
    }

    #[test]
    fn checkpoints_show_truncation_and_rewrites() {
        let s = store_with(5);
        let (n, head) = s.read(head_entry).unwrap();
        assert_eq!(n, 5);
        assert!(matches!(s.read(|c| check_checkpoint(c, n, &head)).unwrap(), ChainReport::Intact { .. }));
        s.read(|c| Ok(c.execute("DELETE FROM audit_log WHERE seq >= 4", [])?)).unwrap();
        assert!(
            matches!(s.read(verify).unwrap(), ChainReport::Intact { entries: 3, .. }),
            "truncation is invisible alone"
        );
        let r = s.read(|c| check_checkpoint(c, n, &head)).unwrap();
        assert!(matches!(&r, ChainReport::Broken { seq: 5, reason: ChainBreak::Truncated { last: 3, .. } }), "{r:?}");
    }
}
