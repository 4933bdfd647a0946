//! Access tokens (only their SHA-256 is kept), rule-set versions with the
//! active one, imported datasets, and background jobs.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{Result, Store, StoreError, audit, code, now};
use crate::model::access::{Jurisdiction, Principal, Role};
use crate::model::{AuditAction, JobKind, JobStatus};
use crate::tr;

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A principal to record.
pub struct NewPrincipal<'a> {
    pub role: Role,
    pub officer_id: Option<&'a str>,
    pub department: Option<&'a str>,
    pub jurisdiction: Jurisdiction,
    pub label: &'a str,
    /// Agents: the entity they act for (and only agents have one).
    pub entity: Option<&'a str>,
}

/// A token just made: its text is shown once, only its hash is kept.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// The token's id (for listing and revoking; not a secret).
    pub id: i64,
    pub token: String,
    #[schema(value_type = Object)]
    pub principal: Principal,
    pub expires_at: Option<String>,
}

/// A token as listed: never its text nor its hash.
#[derive(Clone, Debug, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    #[schema(value_type = Object)]
    pub principal: Principal,
    pub label: String,
    pub created_at: String,
    pub created_by: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
}

fn principal_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Principal> {
    let role: String = r.get(at + 1)?;
    let jurisdiction: u32 = r.get(at + 4)?;
    let bad = |m: String| rusqlite::Error::FromSqlConversionFailure(at, rusqlite::types::Type::Text, m.into());
    Ok(Principal {
        id: r.get(at)?,
        role: role.parse().map_err(|e: crate::model::access::UnknownRole| bad(e.to_string()))?,
        officer_id: r.get(at + 2)?,
        department: r.get(at + 3)?,
        jurisdiction: Jurisdiction::new(jurisdiction)
            .map_err(|e: crate::model::access::UnknownJurisdiction| bad(e.to_string()))?,
        label: r.get(at + 5)?,
        entity: r.get(at + 6)?,
    })
}

const PRINCIPAL_COLUMNS: &str = "p.id, p.role, p.officer_id, p.department, p.jurisdiction, p.label, p.entity";

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
    Ok(TokenInfo {
        id: r.get(0)?,
        label: r.get(1)?,
        created_at: r.get(2)?,
        created_by: r.get(3)?,
        expires_at: r.get(4)?,
        revoked_at: r.get(5)?,
        revoked_by: r.get(6)?,
        principal: principal_row(r, 7)?,
    })
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

/// How a background job ended: its result, or the message it failed with
/// (shown to whoever polls the job).
#[derive(Clone, Debug, PartialEq)]
pub enum JobOutcome {
    Done(serde_json::Value),
    Failed(String),
}

/// A background job and, when done, its result.
#[derive(Clone, Debug, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    #[schema(value_type = String)]
    pub kind: JobKind,
    pub created_at: String,
    pub created_by: String,
    #[schema(value_type = String)]
    pub status: JobStatus,
    pub progress: String,
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
}

impl Store {
    /// Records a principal (audited), or returns the officer's existing
    /// one: an officer is one principal whatever the number of tokens.
    pub fn create_principal(&self, p: &NewPrincipal<'_>, actor: &str) -> Result<Principal> {
        if (p.role == Role::Officer) != p.officer_id.is_some() {
            return Err(StoreError::Other(
                "an officer principal needs an officer id, and only an officer has one".into(),
            ));
        }
        if (p.role == Role::Agent) != p.entity.is_some() {
            return Err(StoreError::Other("an agent principal needs an entity, and only an agent has one".into()));
        }
        self.write(|tx| {
            if let Some(o) = p.officer_id {
                let found = tx
                    .query_row(
                        &format!(
                            "SELECT {PRINCIPAL_COLUMNS} FROM principals p WHERE p.officer_id = ?1 ORDER BY p.id LIMIT 1"
                        ),
                        [o],
                        |r| principal_row(r, 0),
                    )
                    .optional()?;
                if let Some(found) = found {
                    return Ok(found);
                }
            }
            tx.execute(
                "INSERT INTO principals (role, officer_id, department, jurisdiction, label, created_at, created_by, entity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    p.role.as_str(),
                    p.officer_id,
                    p.department,
                    p.jurisdiction.code(),
                    p.label,
                    now(),
                    actor,
                    p.entity
                ],
            )?;
            let id = tx.last_insert_rowid();
            audit::append(
                tx,
                actor,
                AuditAction::PrincipalCreate,
                &format!("principal/{id}"),
                &serde_json::json!({ "role": p.role, "officer_id": p.officer_id, "department": p.department,
                    "jurisdiction": p.jurisdiction.code(), "label": p.label, "entity": p.entity }),
            )?;
            Ok(Principal {
                id,
                role: p.role,
                officer_id: p.officer_id.map(str::to_string),
                department: p.department.map(str::to_string),
                jurisdiction: p.jurisdiction,
                label: p.label.to_string(),
                entity: p.entity.map(str::to_string),
            })
        })
    }

    pub fn principal_by_id(&self, id: i64) -> Result<Principal> {
        self.read(|c| {
            c.query_row(&format!("SELECT {PRINCIPAL_COLUMNS} FROM principals p WHERE p.id = ?1"), [id], |r| {
                principal_row(r, 0)
            })
            .optional()?
            .ok_or_else(|| StoreError::NotFound(tr!("主体 {id}", "principal {id}")))
        })
    }

    /// Issues a token for a principal (audited); `expires_at` is RFC 3339
    /// UTC (`%Y-%m-%dT%H:%M:%SZ`) or none.
    pub fn issue_token(
        &self,
        principal: &Principal,
        label: &str,
        expires_at: Option<&str>,
        actor: &str,
    ) -> Result<IssuedToken> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| StoreError::Other(format!("no operating-system randomness: {e}")))?;
        let token = format!("credo_{}", hex::encode(raw));
        let id = self.write(|tx| {
            tx.execute(
                "INSERT INTO tokens (hash, principal_id, label, created_at, created_by, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![token_hash(&token), principal.id, label, now(), actor, expires_at],
            )?;
            let id = tx.last_insert_rowid();
            audit::append(
                tx,
                actor,
                AuditAction::TokenCreate,
                &format!("token/{id}"),
                &serde_json::json!({ "principal": principal.id, "role": principal.role,
                    "officer_id": principal.officer_id, "label": label, "expires_at": expires_at }),
            )?;
            Ok(id)
        })?;
        Ok(IssuedToken { id, token, principal: principal.clone(), expires_at: expires_at.map(str::to_string) })
    }

    /// The principal of a token that is neither revoked nor expired at
    /// `now` (RFC 3339 UTC, the format of [`now`]).
    pub fn authenticate(&self, token: &str, now: &str) -> Result<Option<Principal>> {
        let hash = token_hash(token);
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {PRINCIPAL_COLUMNS} FROM tokens t JOIN principals p ON p.id = t.principal_id
                 WHERE t.hash = ?1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?2)"
            ))?;
            Ok(stmt.query_row(params![hash, now], |r| principal_row(r, 0)).optional()?)
        })
    }

    /// Every token, without secrets.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT t.id, t.label, t.created_at, t.created_by, t.expires_at, t.revoked_at, t.revoked_by, {PRINCIPAL_COLUMNS}
                 FROM tokens t JOIN principals p ON p.id = t.principal_id ORDER BY t.id"
            ))?;
            Ok(stmt.query_map([], token_row)?.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub fn token(&self, id: i64) -> Result<TokenInfo> {
        self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT t.id, t.label, t.created_at, t.created_by, t.expires_at, t.revoked_at, t.revoked_by, {PRINCIPAL_COLUMNS}
                     FROM tokens t JOIN principals p ON p.id = t.principal_id WHERE t.id = ?1"
                ),
                [id],
                token_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(tr!("令牌 {id}", "token {id}")))
        })
    }

    /// Revokes a token (audited); it is refused from the next request on.
    pub fn revoke_token(&self, id: i64, actor: &str) -> Result<()> {
        self.write(|tx| {
            let at = now();
            let n = tx.execute(
                "UPDATE tokens SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, at, actor],
            )?;
            if n == 0 {
                let exists: bool =
                    tx.query_row("SELECT EXISTS (SELECT 1 FROM tokens WHERE id = ?1)", [id], |r| r.get(0))?;
                return Err(if exists {
                    StoreError::Conflict(tr!("令牌 {id} 已被吊销", "token {id} is already revoked"))
                } else {
                    StoreError::NotFound(tr!("令牌 {id}", "token {id}"))
                });
            }
            audit::append(
                tx,
                actor,
                AuditAction::TokenRevoke,
                &format!("token/{id}"),
                &serde_json::json!({ "revoked_at": at }),
            )?;
            Ok(())
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
                AuditAction::RulesAdd,
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
            let text = text.ok_or_else(|| StoreError::NotFound(tr!("规则版本 {id}", "rule version {id}")))?;
            serde_json::from_str(&text).map_err(|e| StoreError::Other(e.to_string()))
        })
    }

    pub fn activate_rules(&self, id: i64, actor: &str) -> Result<()> {
        self.write(|tx| {
            let hash: Option<String> =
                tx.query_row("SELECT hash FROM rule_versions WHERE id = ?1", [id], |r| r.get(0)).optional()?;
            let hash = hash.ok_or_else(|| StoreError::NotFound(tr!("规则版本 {id}", "rule version {id}")))?;
            tx.execute("UPDATE rule_versions SET active = (id = ?1)", [id])?;
            audit::append(
                tx,
                actor,
                AuditAction::RulesActivate,
                &format!("rules/{id}"),
                &serde_json::json!({ "hash": hash }),
            )?;
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
                    AuditAction::DatasetImport,
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

    /// Records a background job (audited: who started what).
    pub fn create_job(&self, kind: JobKind, actor: &str, request: &serde_json::Value) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO jobs (kind, created_at, created_by, status, progress) VALUES (?1, ?2, ?3, 'running', 'queued')",
                params![kind.as_str(), now(), actor],
            )?;
            let id = tx.last_insert_rowid();
            audit::append(tx, actor, AuditAction::JobStart, &format!("job/{id}"), &serde_json::json!({ "kind": kind, "request": request }))?;
            Ok(id)
        })
    }

    /// Records how a job ended (audited; the result itself stays in the
    /// jobs table, the audit entry keeps its SHA-256).
    pub fn finish_job(&self, id: i64, actor: &str, outcome: &JobOutcome) -> Result<()> {
        self.write(|tx| {
            let payload = match outcome {
                JobOutcome::Done(v) => {
                    let text = v.to_string();
                    tx.execute(
                        "UPDATE jobs SET status = 'done', progress = 'done', result = ?2 WHERE id = ?1",
                        params![id, text],
                    )?;
                    serde_json::json!({ "status": "done", "result_sha256": hex::encode(Sha256::digest(text.as_bytes())) })
                }
                JobOutcome::Failed(e) => {
                    tx.execute(
                        "UPDATE jobs SET status = 'failed', progress = 'failed', error = ?2 WHERE id = ?1",
                        params![id, e],
                    )?;
                    serde_json::json!({ "status": "failed", "error": e })
                }
            };
            audit::append(tx, actor, AuditAction::JobFinish, &format!("job/{id}"), &payload)?;
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
                        kind: code(r, "kind")?,
                        created_at: r.get(2)?,
                        created_by: r.get(3)?,
                        status: code(r, "status")?,
                        progress: r.get(5)?,
                        result: result.and_then(|s| serde_json::from_str(&s).ok()),
                        error: r.get(7)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(tr!("作业 {id}", "job {id}")))
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
                    AuditAction::RunFail,
                    &format!("run/{id}"),
                    &serde_json::json!({ "error": "interrupted by a restart" }),
                )?;
            }
            let jobs: Vec<i64> = tx
                .prepare("SELECT id FROM jobs WHERE status = 'running'")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for id in &jobs {
                audit::append(
                    tx,
                    "system",
                    AuditAction::JobFinish,
                    &format!("job/{id}"),
                    &serde_json::json!({ "status": "failed", "error": "interrupted by a restart" }),
                )?;
            }
            let runs = tx.execute("UPDATE runs SET status = 'failed', progress = 'failed', error = 'interrupted by a restart' WHERE status = 'running'", [])?;
            let jobs = tx.execute("UPDATE jobs SET status = 'failed', progress = 'failed', error = 'interrupted by a restart' WHERE status = 'running'", [])?;
            Ok(runs + jobs)
        })
    }
}
