//! Access tokens (only their SHA-256 is kept), rule-set versions with the
//! active one, imported datasets, and background jobs.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{Result, Store, StoreError, audit, now};

/// Who a token belongs to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Principal {
    /// regulator, auditor or officer.
    pub role: String,
    pub officer_id: Option<String>,
    pub label: String,
}

impl Principal {
    /// The name written into the audit log.
    pub fn actor(&self) -> String {
        match &self.officer_id {
            Some(o) => format!("officer:{o}"),
            None => format!("{}:{}", self.role, self.label),
        }
    }
}

pub const ROLES: &[&str] = &["regulator", "auditor", "officer"];

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A stored rule-set version.
#[derive(Clone, Debug, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct RuleVersion {
    pub id: i64,
    pub hash: String,
    pub label: String,
    pub created_at: String,
    pub created_by: String,
    pub active: bool,
}

/// A background job and, when done, its result.
#[derive(Clone, Debug, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub created_at: String,
    pub created_by: String,
    pub status: String,
    pub progress: String,
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
}

impl Store {
    /// Creates a token; returns the token text, shown once.
    pub fn create_token(&self, role: &str, officer_id: Option<&str>, label: &str, actor: &str) -> Result<String> {
        if !ROLES.contains(&role) {
            return Err(StoreError::Other(format!("role '{role}' is not one of {}", ROLES.join(", "))));
        }
        if (role == "officer") != officer_id.is_some() {
            return Err(StoreError::Other(
                "an officer token needs --officer-id, and only an officer token has one".into(),
            ));
        }
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| StoreError::Other(format!("no operating-system randomness: {e}")))?;
        let token = format!("credo_{}", hex::encode(raw));
        self.write(|tx| {
            tx.execute(
                "INSERT INTO tokens (hash, role, officer_id, label, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![token_hash(&token), role, officer_id, label, now(), actor],
            )?;
            audit::append(tx, actor, "token.create", &format!("token/{role}"), &serde_json::json!({ "role": role, "officer_id": officer_id, "label": label }))?;
            Ok(())
        })?;
        Ok(token)
    }

    pub fn principal(&self, token: &str) -> Result<Option<Principal>> {
        self.read(|c| {
            Ok(c.query_row("SELECT role, officer_id, label FROM tokens WHERE hash = ?1", [token_hash(token)], |r| {
                Ok(Principal { role: r.get(0)?, officer_id: r.get(1)?, label: r.get(2)? })
            })
            .optional()?)
        })
    }

    pub fn has_tokens(&self) -> Result<bool> {
        self.read(|c| Ok(c.query_row("SELECT EXISTS (SELECT 1 FROM tokens)", [], |r| r.get(0))?))
    }

    /// Stores a rule-set version (its files as JSON), audited. A version
    /// with the same hash already stored is returned instead.
    pub fn add_rule_version(
        &self,
        hash: &str,
        label: &str,
        files: &serde_json::Value,
        actor: &str,
    ) -> Result<(i64, bool)> {
        self.write(|tx| {
            if let Some(id) =
                tx.query_row("SELECT id FROM rule_versions WHERE hash = ?1", [hash], |r| r.get(0)).optional()?
            {
                return Ok((id, false));
            }
            tx.execute(
                "INSERT INTO rule_versions (hash, label, files, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash, label, files.to_string(), now(), actor],
            )?;
            let id = tx.last_insert_rowid();
            audit::append(
                tx,
                actor,
                "rules.add",
                &format!("rules/{id}"),
                &serde_json::json!({ "hash": hash, "label": label }),
            )?;
            Ok((id, true))
        })
    }

    pub fn rule_versions(&self) -> Result<Vec<RuleVersion>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT id, hash, label, created_at, created_by, active FROM rule_versions ORDER BY id")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(RuleVersion {
                        id: r.get(0)?,
                        hash: r.get(1)?,
                        label: r.get(2)?,
                        created_at: r.get(3)?,
                        created_by: r.get(4)?,
                        active: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// The files of a version, as stored.
    pub fn rule_files(&self, id: i64) -> Result<serde_json::Value> {
        self.read(|c| {
            let text: Option<String> =
                c.query_row("SELECT files FROM rule_versions WHERE id = ?1", [id], |r| r.get(0)).optional()?;
            let text = text.ok_or_else(|| StoreError::NotFound(format!("rule version {id}")))?;
            serde_json::from_str(&text).map_err(|e| StoreError::Other(e.to_string()))
        })
    }

    pub fn activate_rules(&self, id: i64, actor: &str) -> Result<()> {
        self.write(|tx| {
            let hash: Option<String> =
                tx.query_row("SELECT hash FROM rule_versions WHERE id = ?1", [id], |r| r.get(0)).optional()?;
            let hash = hash.ok_or_else(|| StoreError::NotFound(format!("rule version {id}")))?;
            tx.execute("UPDATE rule_versions SET active = (id = ?1)", [id])?;
            audit::append(tx, actor, "rules.activate", &format!("rules/{id}"), &serde_json::json!({ "hash": hash }))?;
            Ok(())
        })
    }

    pub fn active_rules(&self) -> Result<Option<i64>> {
        self.read(|c| Ok(c.query_row("SELECT id FROM rule_versions WHERE active = 1", [], |r| r.get(0)).optional()?))
    }

    pub fn add_dataset(&self, hash: &str, path: &str, entities: usize, actor: &str) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "INSERT OR IGNORE INTO datasets (hash, path, entities, imported_at) VALUES (?1, ?2, ?3, ?4)",
                params![hash, path, entities as i64, now()],
            )?;
            if n > 0 {
                audit::append(
                    tx,
                    actor,
                    "dataset.import",
                    &format!("dataset/{hash}"),
                    &serde_json::json!({ "path": path, "entities": entities }),
                )?;
            }
            Ok(())
        })
    }

    /// The most recently imported dataset: (hash, path).
    pub fn latest_dataset(&self) -> Result<Option<(String, String)>> {
        self.read(|c| {
            Ok(c.query_row("SELECT hash, path FROM datasets ORDER BY imported_at DESC, rowid DESC LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
        })
    }

    pub fn create_job(&self, kind: &str, actor: &str) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO jobs (kind, created_at, created_by, status, progress) VALUES (?1, ?2, ?3, 'running', 'queued')",
                params![kind, now(), actor],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    pub fn finish_job(&self, id: i64, result: std::result::Result<serde_json::Value, String>) -> Result<()> {
        self.write(|tx| {
            match result {
                Ok(v) => tx.execute(
                    "UPDATE jobs SET status = 'done', progress = 'done', result = ?2 WHERE id = ?1",
                    params![id, v.to_string()],
                )?,
                Err(e) => tx.execute(
                    "UPDATE jobs SET status = 'failed', progress = 'failed', error = ?2 WHERE id = ?1",
                    params![id, e],
                )?,
            };
            Ok(())
        })
    }

    pub fn job(&self, id: i64) -> Result<Job> {
        self.read(|c| {
            c.query_row(
                "SELECT id, kind, created_at, created_by, status, progress, result, error FROM jobs WHERE id = ?1",
                [id],
                |r| {
                    let result: Option<String> = r.get(6)?;
                    Ok(Job {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        created_at: r.get(2)?,
                        created_by: r.get(3)?,
                        status: r.get(4)?,
                        progress: r.get(5)?,
                        result: result.and_then(|s| serde_json::from_str(&s).ok()),
                        error: r.get(7)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("job {id}")))
        })
    }

    /// Runs left `running` by a process that stopped are marked failed on
    /// start, so nobody waits for them forever.
    pub fn fail_interrupted(&self) -> Result<usize> {
        self.write(|tx| {
            let ids: Vec<i64> = tx
                .prepare("SELECT id FROM runs WHERE status = 'running'")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for id in &ids {
                // Audited like any other failure, so the runs table keeps
                // matching the audit log.
                audit::append(
                    tx,
                    "system",
                    "run.fail",
                    &format!("run/{id}"),
                    &serde_json::json!({ "error": "interrupted by a restart" }),
                )?;
            }
            let runs = tx.execute("UPDATE runs SET status = 'failed', progress = 'failed', error = 'interrupted by a restart' WHERE status = 'running'", [])?;
            let jobs = tx.execute("UPDATE jobs SET status = 'failed', progress = 'failed', error = 'interrupted by a restart' WHERE status = 'running'", [])?;
            Ok(runs + jobs)
        })
    }
}
