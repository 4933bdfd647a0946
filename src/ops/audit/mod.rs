//! The integrity of the whole store, not only of the audit log: the hash
//! chain; the tables (runs with their rule versions, plans, frames, visits,
//! assignments, inspection results, objections, approval revocations,
//! the store's identity)
//! rebuilt from the audit payloads (`expected`) and
//! compared row by row; every run's results file and index against the
//! hashes the store recorded; and the log against a signed checkpoint
//! published earlier (truncation and rewrites).
//!
//! Why: an audit chain that verifies proves nothing about tables that can
//! be edited beside it. Every audited write carries enough in its payload
//! to say what the row must be, so any later edit of a row shows as a
//! difference naming the table, the row and the audit entry.
//!
//! Long on purpose: one comparison per audited table, each naming its
//! columns; the rebuild from the payloads is in `expected`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

mod expected;
use expected::{Expected, ResultKey, Row, payload, text};

use super::{OpsError, Result};
use crate::i18n::Text;
use crate::store::{ChainBreak, ChainReport, Store, audit};
use crate::tr;
use crate::trust::PublicKey;

/// The document type of a checkpoint.
pub const CHECKPOINT_TYPE: &str = "credo-checkpoint-v1";

/// What a difference is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    StoreMeta,
    Runs,
    ResultsFiles,
    Plans,
    Frames,
    Visits,
    Assignments,
    InspectionResults,
    Objections,
    ApprovalRevocations,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Table::StoreMeta => "store_meta",
            Table::Runs => "runs",
            Table::ResultsFiles => "results files",
            Table::Plans => "plans",
            Table::Frames => "frames",
            Table::Visits => "visits",
            Table::Assignments => "assignments",
            Table::InspectionResults => "inspection_results",
            Table::Objections => "objections",
            Table::ApprovalRevocations => "approval_revocations",
        })
    }
}

/// One place where the store does not say what its audit log says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub table: Table,
    /// The row, e.g. `plan 3` or `plan 1 visit 4 MR`.
    pub row: String,
    /// What differs, in both languages; serialised in English (the API
    /// gives it in the request's language).
    #[serde(serialize_with = "english")]
    pub message: Text,
    /// The audit entry that says what the row must be, if any.
    pub entry: Option<i64>,
}

fn english<S: serde::Serializer>(t: &Text, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(t.en())
}

impl Table {
    /// The table's name in Chinese.
    pub fn name_zh(self) -> &'static str {
        match self {
            Table::StoreMeta => "存储元数据",
            Table::Runs => "分级分类运行",
            Table::ResultsFiles => "结果文件",
            Table::Plans => "计划",
            Table::Frames => "抽查框",
            Table::Visits => "检查任务",
            Table::Assignments => "人员分派",
            Table::InspectionResults => "检查结果",
            Table::Objections => "异议",
            Table::ApprovalRevocations => "审批撤销",
        }
    }
}

impl Difference {
    /// The difference in both languages: table, row, what differs and the
    /// audit entry.
    pub fn text(&self) -> Text {
        let row_zh: Vec<&str> = self
            .row
            .split(' ')
            .map(|w| match w {
                "store" => "存储",
                "run" => "运行",
                "plan" => "计划",
                "visit" => "检查任务",
                "objection" => "异议",
                "revocation" => "撤销",
                w => w,
            })
            .collect();
        let mut zh = format!("{}：{}：{}", self.table.name_zh(), row_zh.join(" "), self.message.zh());
        if let Some(e) = self.entry {
            zh.push_str(&format!("（审计条目 {e}）"));
        }
        Text::new(zh, self.to_string())
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.table, self.row, self.message.en())?;
        if let Some(e) = self.entry {
            write!(f, " (audit entry {e})")?;
        }
        Ok(())
    }
}

/// What `credo audit verify` finds.
#[derive(Debug, Clone, Serialize)]
pub struct IntegrityReport {
    pub chain: ChainReport,
    /// Present when a checkpoint was given.
    pub checkpoint: Option<ChainReport>,
    /// Every table difference, in table order, then by row.
    pub differences: Vec<Difference>,
    /// Rows and files compared, by what.
    pub checked: BTreeMap<String, usize>,
    pub intact: bool,
}

/// A signed checkpoint's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub store_id: String,
    /// The number of the newest entry (its `seq`).
    pub entries: i64,
    /// That entry's hash.
    pub head: String,
    /// When the checkpoint was made (UTC).
    pub at: String,
}

/// The current head of the audit log as a signed checkpoint (JSON text).
/// Refused when the chain is broken: a checkpoint vouches for it.
pub fn checkpoint(store: &Store) -> Result<String> {
    let (entries, head) = match store.read_long(audit::verify)? {
        ChainReport::Intact { entries, head } => (entries, head),
        ChainReport::Broken { seq, reason } => {
            return Err(OpsError::Fault(reason.text().map(|lang, reason| match lang {
                crate::i18n::Lang::Zh => format!("审计日志在第 {seq} 条处断裂：{reason}；拒绝签署检查点"),
                crate::i18n::Lang::En => {
                    format!("the audit log is broken at entry {seq}: {reason}; refusing to sign a checkpoint")
                }
            })));
        }
    };
    let doc = serde_json::json!({
        "type": CHECKPOINT_TYPE,
        "store_id": store.identity().store_id,
        "entries": entries,
        "head": head,
        "at": crate::store::now(),
    });
    let signed = crate::trust::sign_document(store.identity().signing_key(), doc)?;
    serde_json::to_string_pretty(&signed).map_err(OpsError::internal(tr!("检查点", "checkpoint")))
}

/// Reads a signed checkpoint, checking its signature against `key`.
pub fn read_checkpoint(text: &str, key: &PublicKey) -> Result<Checkpoint> {
    let doc = crate::trust::verify_document(text, Some(key))?;
    if doc.doc_type != CHECKPOINT_TYPE {
        let t = &doc.doc_type;
        return Err(OpsError::Rejected(crate::tr!("{t} 文档不是检查点", "a {t} document is not a checkpoint")));
    }
    serde_json::from_value(doc.body)
        .map_err(|e| OpsError::Rejected(crate::tr!("检查点内容无效：{e}", "checkpoint: {e}")))
}

/// Checks everything: the chain, the tables against the audit payloads,
/// the results files, and with `checkpoint` the log against it.
pub fn verify_store(store: &Store, checkpoint: Option<&Checkpoint>) -> Result<IntegrityReport> {
    let chain = store.read_long(audit::verify)?;
    let checkpoint = match checkpoint {
        None => None,
        Some(c) if c.store_id != store.identity().store_id => Some(ChainReport::Broken {
            seq: c.entries,
            reason: ChainBreak::OtherStore { checkpoint: c.store_id.clone(), store: store.identity().store_id.clone() },
        }),
        Some(c) => Some(store.read_long(|conn| audit::check_checkpoint(conn, c.entries, &c.head))?),
    };
    let mut v = Verifier { store, differences: Vec::new(), checked: BTreeMap::new() };
    let entries = store.read_long(|c| audit::entries(c, None))?;
    let want = Expected::from_log(&entries);
    v.identity(want.identity)?;
    v.runs(&want.runs)?;
    v.plans(&want.plans)?;
    v.results(&want.results)?;
    v.objections(&want.objections)?;
    v.revocations(&want.revocations)?;
    let intact = matches!(chain, ChainReport::Intact { .. })
        && !matches!(checkpoint, Some(ChainReport::Broken { .. }))
        && v.differences.is_empty();
    Ok(IntegrityReport { chain, checkpoint, differences: v.differences, checked: v.checked, intact })
}

struct Verifier<'a> {
    store: &'a Store,
    differences: Vec<Difference>,
    checked: BTreeMap<String, usize>,
}

fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

impl Verifier<'_> {
    fn differ(&mut self, table: Table, row: impl Into<String>, message: impl Into<Text>, entry: Option<i64>) {
        self.differences.push(Difference { table, row: row.into(), message: message.into(), entry });
    }

    fn count(&mut self, what: &str, n: usize) {
        *self.checked.entry(what.to_string()).or_default() += n;
    }

    /// Compares one field; `audited` `None` means the entry did not record it.
    fn field(&mut self, table: Table, row: &str, name: &str, stored: Option<String>, audited: Option<String>, e: i64) {
        if stored != audited {
            let show =
                |v: &Option<String>, none: &str| v.as_ref().map_or_else(|| none.to_string(), |s| format!("'{s}'"));
            let message = Text::new(
                format!("表中 {name} 为 {}，审计日志记录的是 {}", show(&stored, "空"), show(&audited, "空")),
                format!(
                    "{name} is {} in the table, the audit log recorded {}",
                    show(&stored, "nothing"),
                    show(&audited, "nothing")
                ),
            );
            self.differ(table, row, message, Some(e));
        }
    }

    /// Compares a row's columns with what the log recorded. A column no
    /// entry set is not compared, except those in `unset_is_empty`: they
    /// must then be empty.
    fn row<const N: usize>(
        &mut self,
        table: Table,
        row: &str,
        stored: [(&str, Option<String>); N],
        want: &Row,
        unset_is_empty: &[&str],
    ) {
        for (name, value) in stored {
            match (want.get(name), value) {
                (Some((audited, e)), value) => self.field(table, row, name, value, audited.clone(), *e),
                (None, Some(v)) if unset_is_empty.contains(&name) => self.differ(
                    table,
                    row,
                    tr!(
                        "表中 {name} 为 '{v}'，但没有审计条目记录它",
                        "{name} is '{v}' in the table, but no audit entry recorded it"
                    ),
                    None,
                ),
                (None, _) => {}
            }
        }
    }

    fn identity(&mut self, audited: Option<&crate::store::AuditEntry>) -> Result<()> {
        let recorded = self.store.read(crate::store::signing::recorded)?;
        match (recorded, audited) {
            (Some((id, key)), Some(e)) => {
                let p = payload(e);
                self.field(Table::StoreMeta, "store", "store_id", Some(id), text(&p["store_id"]), e.seq);
                self.field(Table::StoreMeta, "store", "public_key", Some(key), text(&p["public_key"]), e.seq);
            }
            (Some(_), None) => self.differ(
                Table::StoreMeta,
                "store",
                tr!("存储的身份没有审计条目", "the store's identity has no audit entry"),
                None,
            ),
            (None, _) => self.differ(Table::StoreMeta, "store", tr!("存储没有身份", "the store has no identity"), None),
        }
        self.count("store identity", 1);
        Ok(())
    }

    fn runs(&mut self, want: &BTreeMap<i64, Row>) -> Result<()> {
        let runs = self.store.runs()?;
        let mut seen = BTreeSet::new();
        for r in &runs {
            seen.insert(r.id);
            let row = format!("run {}", r.id);
            let Some(w) = want.get(&r.id) else {
                self.differ(
                    Table::Runs,
                    row,
                    tr!(
                        "该运行没有审计条目：它是在 credo 之外添加的",
                        "the run has no audit entry: it was added outside credo"
                    ),
                    None,
                );
                continue;
            };
            let (results_hash, index_hash) = self.store.read(|c| {
                Ok(c.query_row("SELECT results_hash, results_index_hash FROM runs WHERE id = ?1", [r.id], |x| {
                    Ok((x.get::<_, Option<String>>(0)?, x.get::<_, Option<String>>(1)?))
                })?)
            })?;
            let stored: [(&str, Option<String>); 10] = [
                ("dataset_hash", Some(r.dataset_hash.clone())),
                ("rules_hash", Some(r.rules_hash.clone())),
                ("as_of", Some(r.as_of.clone())),
                ("status", Some(r.status.to_string())),
                ("entities", Some(r.entities.to_string())),
                ("results_hash", results_hash.clone()),
                ("results_index_hash", index_hash.clone()),
                ("error", r.error.clone()),
                ("rule_version", r.rule_version.map(|v| v.to_string())),
                ("rule_choice", r.rule_choice.clone()),
            ];
            self.row(Table::Runs, &row, stored, w, &["rule_version", "rule_choice"]);
            if r.status == crate::model::RunStatus::Done
                && let (Some(file_hash), Some(index_hash)) = (results_hash, index_hash)
            {
                self.results_file(r.id, &file_hash, &index_hash)?;
            }
        }
        for (id, w) in want {
            if !seen.contains(id) {
                let e = w.values().map(|x| x.1).min();
                self.differ(
                    Table::Runs,
                    format!("run {id}"),
                    tr!("该运行在审计日志中，但不在表中", "the run is in the audit log but not in the table"),
                    e,
                );
            }
        }
        self.count("runs", runs.len());
        Ok(())
    }

    fn results_file(&mut self, run: i64, file_hash: &str, index_hash: &str) -> Result<()> {
        let path = self.store.results_path(run)?;
        let index = crate::data::results::index_path(&path);
        let row = format!("run {run}");
        for (what, what_zh, p, want) in
            [("results file", "结果文件", &path, file_hash), ("results index", "结果索引", &index, index_hash)]
        {
            let shown = p.display();
            match sha256_file(p) {
                Err(e) => {
                    self.differ(Table::ResultsFiles, &row, tr!("{what_zh} {shown}：{e}", "{what} {shown}: {e}"), None)
                }
                Ok(found) if found != want => self.differ(
                    Table::ResultsFiles,
                    &row,
                    tr!(
                        "{what_zh} {shown} 的哈希为 {found}，存储记录的是 {want}：文件已被改动",
                        "{what} {shown} hashes to {found}, the store recorded {want}: it was altered"
                    ),
                    None,
                ),
                Ok(_) => {}
            }
        }
        // The paths sidecar, block by block against the index (an index
        // that cannot be read was named above).
        if index.exists()
            && let Err(e) = crate::data::results::check_paths(&path)
        {
            self.differ(Table::ResultsFiles, &row, super::results_text(&e), None);
        }
        self.count("results files", 1);
        Ok(())
    }

    fn plans(&mut self, want: &BTreeMap<i64, Row>) -> Result<()> {
        let plans = self.store.plans()?;
        let assignments = self.store.assignments()?;
        let mut seen = BTreeSet::new();
        for plan in &plans {
            seen.insert(plan.id);
            let row = format!("plan {}", plan.id);
            let Some(w) = want.get(&plan.id).cloned() else {
                self.differ(
                    Table::Plans,
                    row,
                    tr!(
                        "该计划没有审计条目：它是在 credo 之外添加的",
                        "the plan has no audit entry: it was added outside credo"
                    ),
                    None,
                );
                continue;
            };
            let list = |v: &[String]| Some(serde_json::to_string(v).unwrap_or_default());
            let stored: Vec<(&str, Option<String>)> = vec![
                ("name", Some(plan.name.clone())),
                ("kind", Some(plan.kind.to_string())),
                ("dataset_hash", Some(plan.dataset_hash.clone())),
                ("rules_hash", Some(plan.rules_hash.clone())),
                ("frame_hash", Some(plan.frame_hash.clone())),
                ("commitment", Some(plan.commitment.clone())),
                ("beacon_source", Some(plan.beacon_source.clone())),
                ("release_at", Some(plan.release_at.clone())),
                ("run_id", Some(plan.run_id.to_string())),
                ("params", Some(plan.params.to_string())),
                ("status", Some(plan.status.to_string())),
                ("created_at", Some(plan.created_at.clone())),
                ("spec", Some(plan.spec.clone())),
                ("beacon_rule", Some(plan.beacon_rule.clone())),
                ("beacon_published_at", Some(plan.beacon_published_at.clone())),
                ("replaces", list(&plan.replaces)),
                ("excluded_by", list(&plan.excluded_by)),
                ("frame_stats", Some(plan.frame_stats.to_string())),
                ("secret", plan.secret.clone()),
                ("beacon", plan.beacon.clone()),
                ("result_hash", plan.result_hash.clone()),
                ("revealed_at", plan.revealed_at.clone()),
                ("beacon_value", plan.beacon_value.clone()),
                ("beacon_supplied_at", plan.beacon_supplied_at.clone()),
                ("cancelled_reason", plan.cancelled_reason.clone()),
                ("cancelled_at", plan.cancelled_at.clone()),
                ("published", plan.published_at.as_ref().map(|_| "yes".to_string())),
                ("published_at", plan.published_at.clone()),
            ];
            for (name, value) in stored {
                if let Some((audited, e)) = w.get(name) {
                    self.field(Table::Plans, &row, name, value, audited.clone(), *e);
                } else if name == "published" && value.is_some() {
                    self.differ(
                        Table::Plans,
                        &row,
                        tr!(
                            "已设置 published_at，但没有审计过的公布",
                            "published_at is set but no publication was audited"
                        ),
                        None,
                    );
                }
            }
            self.frame_and_visits(plan, &w, &assignments)?;
        }
        for (id, w) in want {
            if !seen.contains(id) {
                let e = w.values().map(|x| x.1).min();
                self.differ(
                    Table::Plans,
                    format!("plan {id}"),
                    tr!("该计划在审计日志中，但不在表中", "the plan is in the audit log but not in the table"),
                    e,
                );
            }
        }
        self.count("plans", plans.len());
        Ok(())
    }

    /// The frozen frame against the audited frame hash; the visits against
    /// the audited result hash and counts; assignments against the visits.
    fn frame_and_visits(
        &mut self,
        plan: &crate::store::PlanRecord,
        w: &Row,
        assignments: &[(String, i64, i64)],
    ) -> Result<()> {
        let row = format!("plan {}", plan.id);
        let Some((Some(frame_hash), create)) = w.get("frame_hash").cloned() else {
            return Ok(());
        };
        // Check the file against the audit log, not only the table.
        let mut audited = plan.clone();
        audited.frame_hash = frame_hash;
        let frame = match super::load_frame(self.store, &audited) {
            Ok(f) => f,
            Err(e) => {
                self.differ(Table::Frames, &row, e.text(), Some(create));
                return Ok(());
            }
        };
        self.count("frames", 1);
        let visits = self.store.visits(plan.id)?;
        let in_plan: BTreeSet<(String, i64)> =
            assignments.iter().filter(|a| a.1 == plan.id).map(|a| (a.0.clone(), a.2)).collect();
        let from_visits: BTreeSet<(String, i64)> =
            visits.iter().flat_map(|v| v.officers.iter().map(move |o| (o.clone(), v.seq))).collect();
        if let Some((o, seq)) = in_plan.symmetric_difference(&from_visits).next() {
            let msg = if in_plan.contains(&(o.clone(), *seq)) {
                tr!(
                    "执法人员 {o} 被分派到检查任务 {seq}，但该任务没有列出这名人员",
                    "officer {o} is assigned to visit {seq}, but the visit does not list the officer"
                )
            } else {
                tr!(
                    "检查任务 {seq} 列出了执法人员 {o}，但这名人员没有对应的分派",
                    "visit {seq} lists officer {o}, but the officer has no assignment to it"
                )
            };
            self.differ(Table::Assignments, &row, msg, None);
        }
        let Some((Some(result_hash), reveal)) = w.get("result_hash").cloned() else {
            if !visits.is_empty() {
                self.differ(
                    Table::Visits,
                    &row,
                    tr!("有 {} 个检查任务，但没有审计过的揭示", "{} visits, but no reveal was audited", visits.len()),
                    None,
                );
            }
            return Ok(());
        };
        self.count("visits", visits.len());
        if let Some((Some(n), _)) = w.get("visits")
            && *n != visits.len().to_string()
        {
            self.differ(
                Table::Visits,
                &row,
                tr!(
                    "表中有 {} 个检查任务，揭示记录的是 {n}：有任务被添加或删除",
                    "{} visits in the table, the reveal recorded {n}: visits were added or deleted",
                    visits.len()
                ),
                Some(reveal),
            );
            return Ok(());
        }
        let staffed = visits.iter().filter(|v| v.unstaffed.is_none()).count();
        if let Some((Some(n), _)) = w.get("staffed")
            && *n != staffed.to_string()
        {
            self.differ(
                Table::Visits,
                &row,
                tr!(
                    "表中有 {staffed} 个已配员的检查任务，揭示记录的是 {n}",
                    "{staffed} staffed visits in the table, the reveal recorded {n}"
                ),
                Some(reveal),
            );
        }
        match super::stored_result(self.store, &frame, plan.id) {
            Ok(r) => {
                let found = hex::encode(r.hash());
                if found != result_hash {
                    self.differ(
                        Table::Visits,
                        &row,
                        {
                            let first = first_changed_visit(self.store, &frame, plan, &visits);
                            let zh = first.map(|v| format!("（检查任务 {v} 与重新推导的抽取结果不同）"));
                            let en = first.map(|v| format!(" (visit {v} differs from the re-derived draw)"));
                            let (zh, en) = (zh.unwrap_or_default(), en.unwrap_or_default());
                            tr!(
                                "检查任务的哈希为 {found}，揭示记录的结果哈希为 {result_hash}：有任务被改动{zh}",
                                "the visits hash to {found}, the reveal recorded result hash {result_hash}: a visit was changed{en}"
                            )
                        },
                        Some(reveal),
                    );
                }
            }
            Err(e) => self.differ(Table::Visits, &row, e.text(), Some(reveal)),
        }
        Ok(())
    }

    fn results(&mut self, want: &BTreeMap<ResultKey, (serde_json::Value, &crate::store::AuditEntry)>) -> Result<()> {
        let rows = self.store.all_results()?;
        let mut seen = BTreeSet::new();
        for r in &rows {
            let key = (r.plan_id, r.seq, r.department.clone());
            let row = format!("plan {} visit {} {}", r.plan_id, r.seq, r.department);
            seen.insert(key.clone());
            let Some((p, e)) = want.get(&key) else {
                self.differ(
                    Table::InspectionResults,
                    row,
                    tr!(
                        "检查结果 {} 没有审计条目：它是在 credo 之外添加的",
                        "result {} has no audit entry: it was added outside credo",
                        r.id
                    ),
                    None,
                );
                continue;
            };
            let officer = e.actor.strip_prefix("officer:").map(str::to_string);
            let stored = [
                ("uscc", Some(r.uscc.clone())),
                ("result", Some(r.result.clone())),
                ("commitment_status", r.commitment_status.clone()),
                ("inspected_on", Some(r.inspected_on.clone())),
            ];
            for (name, value) in stored {
                self.field(Table::InspectionResults, &row, name, value, text(&p[name]), e.seq);
            }
            self.field(Table::InspectionResults, &row, "officer_id", Some(r.officer_id.clone()), officer, e.seq);
            // Recorded by newer entries only.
            for (name, value) in [
                ("id", Some(r.id.to_string())),
                ("notes", Some(r.notes.clone())),
                ("submitted_at", Some(r.submitted_at.clone())),
            ] {
                if p.get(name).is_some() {
                    self.field(Table::InspectionResults, &row, name, value, text(&p[name]), e.seq);
                }
            }
        }
        for (key, (_, e)) in want {
            if !seen.contains(key) {
                self.differ(
                    Table::InspectionResults,
                    format!("plan {} visit {} {}", key.0, key.1, key.2),
                    tr!(
                        "该结果已提交（有审计条目），但不在表中：已被删除",
                        "the result was submitted (audited) but is not in the table: it was deleted"
                    ),
                    Some(e.seq),
                );
            }
        }
        self.count("inspection results", rows.len());
        Ok(())
    }
    fn objections(&mut self, want: &BTreeMap<i64, Row>) -> Result<()> {
        let rows = self.store.objections(None, None)?;
        let mut seen = BTreeSet::new();
        for o in &rows {
            seen.insert(o.id);
            let row = format!("objection {}", o.id);
            let Some(w) = want.get(&o.id) else {
                self.differ(
                    Table::Objections,
                    row,
                    tr!(
                        "该异议没有审计条目：它是在 credo 之外添加的",
                        "the objection has no audit entry: it was added outside credo"
                    ),
                    None,
                );
                continue;
            };
            let stored = [
                ("uscc", Some(o.uscc.clone())),
                ("record_id", Some(o.record_id.clone())),
                ("region", Some(o.region.to_string())),
                ("reason", Some(o.reason.clone())),
                ("filed_on", Some(o.filed_on.clone())),
                ("filed_at", Some(o.filed_at.clone())),
                ("filed_by", Some(o.filed_by.clone())),
                ("status", Some(o.status.to_string())),
                ("decided_on", o.decided_on.clone()),
                ("decision_reason", o.decision_reason.clone()),
                ("decided_at", o.decided_at.clone()),
                ("decided_by", o.decided_by.clone()),
            ];
            let undecided = ["decided_on", "decision_reason", "decided_at", "decided_by"];
            self.row(Table::Objections, &row, stored, w, &undecided);
        }
        for (id, w) in want {
            if !seen.contains(id) {
                let e = w.values().map(|x| x.1).min();
                self.differ(
                    Table::Objections,
                    format!("objection {id}"),
                    tr!(
                        "该异议在审计日志中，但不在表中：已被删除",
                        "the objection is in the audit log but not in the table: it was deleted"
                    ),
                    e,
                );
            }
        }
        self.count("objections", rows.len());
        Ok(())
    }

    fn revocations(&mut self, want: &BTreeMap<i64, Row>) -> Result<()> {
        let rows = self.store.revocations(None)?;
        let mut seen = BTreeSet::new();
        for v in &rows {
            seen.insert(v.id);
            let row = format!("revocation {}", v.id);
            let Some(w) = want.get(&v.id) else {
                self.differ(
                    Table::ApprovalRevocations,
                    row,
                    tr!(
                        "该撤销没有审计条目：它是在 credo 之外添加的",
                        "the revocation has no audit entry: it was added outside credo"
                    ),
                    None,
                );
                continue;
            };
            let stored = [
                ("uscc", Some(v.uscc.clone())),
                ("commitment_id", Some(v.commitment_id.clone())),
                ("approval_item", Some(v.approval_item.clone())),
                ("department", Some(v.department.clone())),
                ("result_id", Some(v.result_id.to_string())),
                ("plan_id", Some(v.plan_id.to_string())),
                ("seq", Some(v.seq.to_string())),
                ("revoked_on", Some(v.revoked_on.clone())),
                ("recorded_at", Some(v.recorded_at.clone())),
                ("recorded_by", Some(v.recorded_by.clone())),
            ];
            self.row(Table::ApprovalRevocations, &row, stored, w, &[]);
        }
        for (id, w) in want {
            if !seen.contains(id) {
                let e = w.values().map(|x| x.1).min();
                self.differ(
                    Table::ApprovalRevocations,
                    format!("revocation {id}"),
                    tr!(
                        "该撤销在审计日志中，但不在表中：已被删除",
                        "the revocation is in the audit log but not in the table: it was deleted"
                    ),
                    e,
                );
            }
        }
        self.count("approval revocations", rows.len());
        Ok(())
    }
}

/// Re-derives the draw of a plan and names the first stored visit that
/// differs from it (best effort: needs the stored secret).
fn first_changed_visit(
    store: &Store,
    frame: &crate::draw::Frame,
    plan: &crate::store::PlanRecord,
    visits: &[crate::store::VisitRecord],
) -> Option<i64> {
    let (Some(secret), Some(beacon)) = (&plan.secret, &plan.beacon) else {
        return None;
    };
    let (Ok(secret), Ok(beacon)) = (hex::decode(secret), hex::decode(beacon)) else {
        return None;
    };
    let Ok(redrawn) = crate::draw::draw(frame, &secret, &beacon) else {
        return None;
    };
    let _ = store;
    for (v, r) in visits.iter().zip(&redrawn.visits) {
        let officers = match &r.outcome {
            crate::draw::Outcome::Staffed(o) => o.clone(),
            crate::draw::Outcome::Unstaffed(_) => Vec::new(),
        };
        if v.uscc != r.uscc.as_str() || v.officers != officers || v.ticket != r.ticket.to_string() {
            return Some(v.seq);
        }
    }
    None
}
