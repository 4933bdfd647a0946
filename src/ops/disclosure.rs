//! The public side of a plan: its disclosure (what was planned, from its
//! creation; what was found, after the release), signed with the store's
//! key, published with one digest whatever its layout, and checked
//! against a bundle.
//!
//! Never discloses personal data (person hashes, officer ids, names of
//! individual businesses) nor a draw before its release time.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{OpsError, Result, global_plan_id, load_frame, stored_result};
use crate::draw::Bundle;
use crate::i18n::Text;
use crate::model::PlanStatus;
use crate::plan::{self, PlanKind, PlanParams};
use crate::store::Store;
use crate::tr;

/// The document type of a disclosure.
pub const DISCLOSURE_TYPE: &str = "credo-disclosure-v2";

/// The public disclosure of a plan: what was planned (from the moment the
/// plan is created: its commitment and frame hash, published before the
/// reveal, are what make a re-roll impossible to hide), whether it was
/// cancelled and replaced, and, once drawn and released, what was found.
/// No personal data: no person hashes, no officer ids, and individual
/// businesses (whose names are often personal names) by code only.
#[derive(Debug, Serialize)]
pub struct Disclosure {
    /// `credo-disclosure-v2`.
    #[serde(rename = "type")]
    pub doc_type: &'static str,
    /// The language of the labels (zh-CN or en); machine fields do not
    /// depend on it.
    pub lang: &'static str,
    /// The number of the plan in its store.
    pub plan: i64,
    /// `{store_id}/{plan}`: unique across stores.
    pub plan_id: String,
    pub store_id: String,
    /// credo-draw-v1 or credo-draw-v2.
    pub spec: String,
    pub name: String,
    pub kind: PlanKind,
    pub departments: Vec<String>,
    pub items: Vec<(String, String)>,
    pub as_of: String,
    pub created_at: String,
    /// The classification run, and the hashes of what it classified.
    pub run_id: i64,
    pub dataset_hash: String,
    pub rules_hash: String,
    pub status: PlanStatus,
    pub frame_hash: String,
    pub commitment: String,
    pub beacon: DisclosedBeacon,
    pub release_at: String,
    pub cancelled_at: Option<String>,
    pub cancelled_reason: Option<String>,
    /// Cancelled plans this plan replaces, and the plans that replace it.
    pub replaces: Vec<String>,
    pub replaced_by: Vec<String>,
    /// Earlier plans whose visits excluded entities from this frame.
    pub excluded_by: Vec<String>,
    pub eligible: u64,
    /// Excluded entities by kind of reason (with its source).
    pub excluded: std::collections::BTreeMap<String, usize>,
    pub strata: Vec<DisclosedStratum>,
    /// Present once the plan is revealed and released.
    pub draw: Option<DisclosedDraw>,
    /// Head of the audit log when the disclosure was made.
    pub audit_head: String,
    pub audit_entries: i64,
}

/// The beacon a plan named in advance (or none), and once revealed the
/// value it was drawn with.
#[derive(Debug, Serialize)]
pub struct DisclosedBeacon {
    /// none, text, digits or hex (empty for a credo-draw-v1 plan).
    pub rule: String,
    pub source: String,
    pub published_at: String,
    pub value: Option<String>,
    pub supplied_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DisclosedStratum {
    /// The machine key of the frame (`tier=2|city=370100`).
    pub key: String,
    /// The key in words, in the disclosure's language (tiers by the
    /// plan's names: 诚信守法 … 严重失信).
    pub label: String,
    pub population: u64,
    pub selected: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct DisclosedDraw {
    pub secret: String,
    pub beacon: String,
    pub result_hash: String,
    pub visits: Vec<DisclosedVisit>,
}

#[derive(Debug, Serialize)]
pub struct DisclosedVisit {
    pub seq: i64,
    pub uscc: String,
    /// Omitted for individual businesses.
    pub name: Option<String>,
    pub items: Vec<String>,
    pub officers: usize,
    pub unstaffed: bool,
    /// Results submitted, by department: compliant, violation, ...
    pub results: Vec<(String, String)>,
}

/// Builds the disclosure. Visits are included only after the release time
/// (`now`, RFC 3339), so publishing cannot tip anyone off. The audit head
/// is the newest entry's hash; the whole chain is checked first and a
/// broken chain refuses the disclosure.
pub fn disclosure(
    store: &Store,
    id: i64,
    now: chrono::DateTime<chrono::FixedOffset>,
    lang: crate::i18n::Lang,
) -> Result<Disclosure> {
    disclosure_with(store, id, now, AuditHead::Verified, lang)
}

/// Which audit head a disclosure names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditHead {
    /// The head of a chain checked from its first entry (publishing).
    Verified,
    /// The newest entry as it stands (serving a page that is rebuilt
    /// often; `credo audit verify` checks the chain).
    Latest,
}

/// [`disclosure`] naming the audit head `head`.
pub fn disclosure_with(
    store: &Store,
    id: i64,
    now: chrono::DateTime<chrono::FixedOffset>,
    head: AuditHead,
    lang: crate::i18n::Lang,
) -> Result<Disclosure> {
    let plan = store.plan(id)?;
    let frame = load_frame(store, &plan)?;
    let params: PlanParams = serde_json::from_value(plan.params.clone())
        .map_err(OpsError::internal(tr!("计划 {id}：存储的参数", "plan {id}: stored parameters")))?;
    let stats: plan::FrameStats = serde_json::from_value(plan.frame_stats.clone())
        .map_err(OpsError::internal(tr!("计划 {id}：存储的抽查框统计", "plan {id}: stored frame statistics")))?;
    let populations = frame.populations();
    let released = chrono::DateTime::parse_from_rfc3339(&plan.release_at).map(|t| now >= t).unwrap_or(false);
    let drawn = plan.status == PlanStatus::Revealed;
    let result = if drawn { Some(stored_result(store, &frame, id)?) } else { None };
    let strata = frame
        .strata()
        .iter()
        .zip(&populations)
        .map(|(s, &population)| DisclosedStratum {
            label: crate::i18n::stratum_label(&s.key, lang),
            key: s.key.clone(),
            population,
            selected: result.as_ref().map(|r| r.visits.iter().filter(|v| v.stratum == s.key).count() as u64),
        })
        .collect();
    let mut items: BTreeSet<(String, String)> = BTreeSet::new();
    for e in frame.entities() {
        for (d, c) in e.items() {
            items.insert((d.to_string(), c.to_string()));
        }
    }
    let draw = if drawn && released {
        let results = store.results_of_plan(id)?;
        let visits = store
            .visits(id)?
            .into_iter()
            .map(|v| {
                let individual = v.uscc.as_bytes().get(1) == Some(&b'2');
                DisclosedVisit {
                    seq: v.seq,
                    name: (!individual).then(|| v.name.clone()),
                    items: v.items.iter().map(|(_, c)| c.clone()).collect(),
                    officers: v.officers.len(),
                    unstaffed: v.unstaffed.is_some(),
                    results: results
                        .iter()
                        .filter(|r| r.seq == v.seq)
                        .map(|r| (r.department.clone(), r.result.clone()))
                        .collect(),
                    uscc: v.uscc,
                }
            })
            .collect();
        Some(DisclosedDraw {
            secret: plan.secret.clone().unwrap_or_default(),
            beacon: plan.beacon.clone().unwrap_or_default(),
            result_hash: plan.result_hash.clone().unwrap_or_default(),
            visits,
        })
    } else {
        None
    };
    let (audit_entries, audit_head) = match head {
        AuditHead::Verified => match store.read_long(crate::store::audit::verify)? {
            crate::store::ChainReport::Intact { entries, head } => (entries, head),
            crate::store::ChainReport::Broken { seq, reason } => {
                return Err(OpsError::Fault(reason.text().map(|lang, reason| match lang {
                    crate::i18n::Lang::Zh => format!("审计日志在第 {seq} 条处断裂：{reason}；拒绝公布"),
                    crate::i18n::Lang::En => {
                        format!("the audit log is broken at entry {seq}: {reason}; refusing to publish")
                    }
                })));
            }
        },
        AuditHead::Latest => store.read(crate::store::audit::head_entry)?,
    };
    let plan_id = global_plan_id(store, id);
    let replaced_by = store
        .plans()?
        .into_iter()
        .filter(|p| p.replaces.contains(&plan_id))
        .map(|p| global_plan_id(store, p.id))
        .collect();
    let v2 = frame.v2();
    let revealed = drawn.then_some(());
    Ok(Disclosure {
        doc_type: DISCLOSURE_TYPE,
        lang: lang.tag(),
        plan: id,
        plan_id,
        store_id: store.identity().store_id.clone(),
        spec: plan.spec,
        name: plan.name,
        kind: plan.kind,
        departments: params.departments,
        items: items.into_iter().collect(),
        as_of: params.as_of.to_string(),
        created_at: plan.created_at,
        run_id: plan.run_id,
        dataset_hash: plan.dataset_hash,
        rules_hash: plan.rules_hash,
        status: plan.status,
        frame_hash: plan.frame_hash,
        commitment: plan.commitment,
        beacon: DisclosedBeacon {
            rule: v2.map(|h| h.beacon_rule.to_string()).unwrap_or_default(),
            source: plan.beacon_source,
            published_at: plan.beacon_published_at,
            value: revealed.and(plan.beacon_value),
            supplied_at: revealed.and(plan.beacon_supplied_at),
        },
        release_at: plan.release_at,
        cancelled_at: plan.cancelled_at,
        cancelled_reason: plan.cancelled_reason,
        replaces: plan.replaces,
        replaced_by,
        excluded_by: plan.excluded_by,
        eligible: populations.iter().sum(),
        excluded: stats.excluded,
        strata,
        draw,
        audit_head,
        audit_entries,
    })
}

/// How a signed document is laid out as text (its signature and digest
/// do not depend on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One line (served over HTTP).
    Compact,
    /// Indented (written to a file for people).
    Pretty,
}

/// The disclosure as signed JSON text (the store's key; see
/// docs/draw-spec.md §11) in a layout.
pub fn signed_disclosure(store: &Store, d: &Disclosure, layout: Layout) -> Result<String> {
    Ok(signed_disclosure_digest(store, d, layout)?.0)
}

/// The signed disclosure as text, and its digest: the SHA-256 (hex) of the
/// signed document's canonical JSON (`trust::canonical_json`), the same
/// whatever the layout.
fn signed_disclosure_digest(store: &Store, d: &Disclosure, layout: Layout) -> Result<(String, String)> {
    let value = serde_json::to_value(d).map_err(OpsError::internal(tr!("公示文件", "disclosure")))?;
    let signed = crate::trust::sign_document(store.identity().signing_key(), value)?;
    let canonical = crate::trust::canonical_json(&signed)?;
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(canonical.as_bytes()));
    let text = match layout {
        Layout::Compact => serde_json::to_string(&signed),
        Layout::Pretty => serde_json::to_string_pretty(&signed),
    };
    Ok((text.map_err(OpsError::internal(tr!("公示文件", "disclosure")))?, digest))
}

/// A disclosure just published.
#[derive(Debug)]
pub struct Published {
    pub disclosure: Disclosure,
    /// The signed document in the layout asked for.
    pub text: String,
    /// SHA-256 of the signed document's canonical JSON, as audited.
    pub digest: String,
}

/// Publishes a plan's disclosure: builds it over a verified audit chain,
/// signs it and records the publication (audited with the digest, which
/// is the same for either layout).
pub fn publish(
    store: &Store,
    id: i64,
    now: chrono::DateTime<chrono::FixedOffset>,
    lang: crate::i18n::Lang,
    layout: Layout,
    actor: &str,
) -> Result<Published> {
    let disclosure = disclosure(store, id, now, lang)?;
    let (text, digest) = signed_disclosure_digest(store, &disclosure, layout)?;
    store.mark_published(id, actor, &digest)?;
    Ok(Published { disclosure, text, digest })
}

/// Checks a public disclosure against a bundle: the disclosure's
/// signature (by `key`, or else by the key that signed the bundle), and
/// that both name the same plan, commitment and frame hash (and, once the
/// disclosure shows the draw, the same secret, beacon and result). Returns
/// a one-line summary in both languages, or the first difference as an
/// error.
pub fn check_disclosure(bundle: &str, disclosure: &str, key: Option<&crate::trust::PublicKey>) -> Result<Text> {
    let parsed = Bundle::parse_full(bundle)?;
    let key = key.copied().or(parsed.signature.as_ref().map(|s| s.public_key));
    let doc = crate::trust::verify_document(disclosure, key.as_ref())?;
    if doc.doc_type != DISCLOSURE_TYPE {
        let t = &doc.doc_type;
        return Err(OpsError::Rejected(tr!(
            "{t} 文档不是 {DISCLOSURE_TYPE}",
            "a {t} document is not a {DISCLOSURE_TYPE}"
        )));
    }
    let b = &parsed.bundle;
    let d = &doc.body;
    let differ = |what: &str, bundle: &str, disclosed: &serde_json::Value| {
        let what_zh = match what {
            "plan id" => "计划编号",
            "commitment" => "承诺值",
            "frame hash" => "抽查框哈希",
            "secret" => "秘密值",
            "beacon" => "信标",
            "result hash" => "结果哈希",
            other => other,
        };
        Err(OpsError::Rejected(tr!(
            "{what_zh}：数据包中为 {bundle}，公开信息中为 {disclosed}",
            "{what}: the bundle has {bundle}, the disclosure {disclosed}"
        )))
    };
    let frame_hash = hex::encode(b.frame.hash());
    let commitment = hex::encode(b.frame.plan().commitment);
    if d["plan_id"].as_str() != Some(b.frame.plan().plan_id.as_str()) {
        return differ("plan id", &b.frame.plan().plan_id, &d["plan_id"]);
    }
    if d["commitment"].as_str() != Some(commitment.as_str()) {
        return differ("commitment", &commitment, &d["commitment"]);
    }
    if d["frame_hash"].as_str() != Some(frame_hash.as_str()) {
        return differ("frame hash", &frame_hash, &d["frame_hash"]);
    }
    let (signer, plan) = (&doc.signer, &b.frame.plan().plan_id);
    let mut summary = tr!(
        "签名者 {signer}；计划 {plan}、承诺值和抽查框哈希一致",
        "signed by {signer}; plan {plan}, commitment and frame hash match"
    );
    if !d["draw"].is_null() {
        let result = hex::encode(b.result.hash());
        for (what, mine, theirs) in [
            ("secret", hex::encode(&b.secret), &d["draw"]["secret"]),
            ("beacon", hex::encode(&b.beacon), &d["draw"]["beacon"]),
            ("result hash", result, &d["draw"]["result_hash"]),
        ] {
            if theirs.as_str() != Some(mine.as_str()) {
                return differ(what, &mine, theirs);
            }
        }
        summary = summary.map(|lang, s| match lang {
            crate::i18n::Lang::Zh => format!("{s}，秘密值、信标和结果也一致"),
            crate::i18n::Lang::En => format!("{s}, and so do the secret, beacon and result"),
        });
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disclosure() -> Disclosure {
        Disclosure {
            doc_type: DISCLOSURE_TYPE,
            lang: "en",
            plan: 1,
            plan_id: "s/1".into(),
            store_id: "s".into(),
            spec: "credo-draw-v2".into(),
            name: "计划 one".into(),
            kind: PlanKind::Random,
            departments: vec!["MR".into()],
            items: vec![("MR".into(), "MR-01".into())],
            as_of: "2026-06-30".into(),
            created_at: "2026-06-30T00:00:00Z".into(),
            run_id: 1,
            dataset_hash: "d".into(),
            rules_hash: "r".into(),
            status: PlanStatus::Committed,
            frame_hash: "f".into(),
            commitment: "c".into(),
            beacon: DisclosedBeacon {
                rule: "none".into(),
                source: String::new(),
                published_at: String::new(),
                value: None,
                supplied_at: None,
            },
            release_at: "2026-07-01T09:00:00+08:00".into(),
            cancelled_at: None,
            cancelled_reason: None,
            replaces: Vec::new(),
            replaced_by: Vec::new(),
            excluded_by: Vec::new(),
            eligible: 3,
            excluded: Default::default(),
            strata: vec![DisclosedStratum {
                key: "tier=2".into(),
                label: "轻微失信".into(),
                population: 3,
                selected: None,
            }],
            draw: None,
            audit_head: "h".into(),
            audit_entries: 1,
        }
    }

    /// The audited digest names the signed document, not its layout: the
    /// API's compact page and the CLI's pretty file record the same one.
    #[test]
    fn a_disclosure_has_one_digest_whatever_its_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("credo.db")).unwrap();
        let d = disclosure();
        let (compact, a) = signed_disclosure_digest(&store, &d, Layout::Compact).unwrap();
        let (pretty, b) = signed_disclosure_digest(&store, &d, Layout::Pretty).unwrap();
        assert_ne!(compact, pretty);
        assert_eq!(a, b);
        let parsed: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        let canonical = crate::trust::canonical_json(&parsed).unwrap();
        assert_eq!(a, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(canonical.as_bytes())));
        // Both texts verify as the same signed document.
        let key = store.identity().public_key();
        assert_eq!(
            crate::trust::verify_document(&compact, Some(&key)).unwrap().body,
            crate::trust::verify_document(&pretty, Some(&key)).unwrap().body
        );
    }
}
