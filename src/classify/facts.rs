//! Entity facts as of a date: records grouped per entity and aggregated
//! evaluations, hiding everything that happened after the as-of date.

use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::engine::{EntityFacts, RecordFacts, RecordKind, RepairFacts, StageFacts, Text};
use crate::model::*;

/// (department, evaluated on, grade) of an industry evaluation.
type IndustryGrade<'a> = (&'a str, Date, &'a str);

/// Departments per (industry, licences), shared.
type DepartmentCache = std::sync::RwLock<FxHashMap<(IndustryCode, KeyFields), Arc<[Arc<str>]>>>;

pub struct Built {
    pub facts: Vec<EntityFacts>,
    /// Dataset row of each fact.
    pub rows: Vec<usize>,
    pub not_yet_registered: usize,
}

fn blank(kind: RecordKind, id: &str, date: Date, department: &str) -> RecordFacts {
    RecordFacts {
        kind,
        id: id.into(),
        date,
        department: department.into(),
        severity: None,
        intentional: false,
        harmful: false,
        disclosure_until: None,
        fulfilled_on: None,
        removed_on: None,
        detail: Text::from(""),
        repair: None,
        status: None,
    }
}

/// Entity row index by credit code.
pub fn entity_index(ds: &Dataset) -> FxHashMap<Uscc, usize> {
    let mut m = FxHashMap::default();
    m.reserve(ds.entities.len());
    for (i, e) in ds.entities.iter().enumerate() {
        m.insert(e.uscc, i);
    }
    m
}

pub fn build(ds: &Dataset, as_of: Date) -> Built {
    let index = entity_index(ds);
    let known = |d: Option<Date>| d.filter(|d| *d <= as_of);
    let mut records: Vec<Vec<RecordFacts>> = vec![Vec::new(); ds.entities.len()];

    // The latest repair application (as of the date) per record id, with
    // its commitment's status as known then.
    let commitments: FxHashMap<&str, &Commitment> =
        ds.commitments.iter().map(|c| (c.commitment_id.as_str(), c)).collect();
    let mut repairs: FxHashMap<&str, RepairFacts> = FxHashMap::default();
    for r in ds.repairs.iter().filter(|r| r.applied_on <= as_of) {
        let commitment = r.commitment_id.as_deref().and_then(|id| commitments.get(id)).map(|c| {
            if c.status != CommitmentStatus::Pending && known(c.checked_on).is_none() {
                CommitmentStatus::Pending
            } else {
                c.status
            }
        });
        let facts = RepairFacts { repair_id: r.repair_id.clone(), applied_on: r.applied_on, commitment };
        match repairs.get(r.record_id.as_str()) {
            Some(prev) if (prev.applied_on, &prev.repair_id) >= (r.applied_on, &r.repair_id) => {}
            _ => {
                repairs.insert(r.record_id.as_str(), facts);
            }
        }
    }

    for p in ds.penalties.iter().filter(|p| p.decided_on <= as_of) {
        let Some(&i) = index.get(&p.uscc) else { continue };
        let mut r = blank(RecordKind::Penalty, &p.decision_no, p.decided_on, &p.department);
        r.severity = Some(p.severity);
        r.intentional = p.intentional;
        r.harmful = p.harmful;
        r.disclosure_until = Some(p.disclosure_until);
        r.fulfilled_on = known(p.fulfilled_on);
        r.repair = repairs.get(p.decision_no.as_str()).cloned();
        records[i].push(r);
    }
    for a in ds.abnormal_listings.iter().filter(|a| a.listed_on <= as_of) {
        let Some(&i) = index.get(&a.uscc) else { continue };
        let mut r = blank(RecordKind::AbnormalListing, &a.listing_id, a.listed_on, &a.department);
        r.removed_on = known(a.removed_on);
        r.detail = a.reason.as_str().into();
        r.repair = repairs.get(a.listing_id.as_str()).cloned();
        records[i].push(r);
    }
    for c in &ds.complaints {
        let Some(concluded) = known(c.concluded_on) else { continue };
        if c.status != ComplaintStatus::Verified {
            continue;
        }
        let Some(&i) = index.get(&c.uscc) else { continue };
        let mut r = blank(RecordKind::Complaint, &c.complaint_id, concluded, &c.department);
        r.detail = c.hotline.as_str().into();
        r.repair = repairs.get(c.complaint_id.as_str()).cloned();
        records[i].push(r);
    }
    for c in &ds.commitments {
        let Some(checked) = known(c.checked_on) else { continue };
        if c.status != CommitmentStatus::Breached {
            continue;
        }
        let Some(&i) = index.get(&c.uscc) else { continue };
        let mut r = blank(RecordKind::CommitmentBreach, &c.commitment_id, checked, "");
        r.detail = c.kind.as_str().into();
        records[i].push(r);
    }
    for x in ds.inspections.iter().filter(|x| x.inspected_on <= as_of && x.result == InspectionResult::Violation) {
        let Some(&i) = index.get(&x.uscc) else { continue };
        let mut r = blank(RecordKind::Inspection, &x.inspection_id, x.inspected_on, &x.department);
        r.detail = x.result.as_str().into();
        records[i].push(r);
    }

    // Latest evaluations as of the date.
    let mut composite: Vec<Option<(Date, &str)>> = vec![None; ds.entities.len()];
    let mut market: Vec<Option<(Date, &str)>> = vec![None; ds.entities.len()];
    let mut industry: Vec<Vec<IndustryGrade<'_>>> = vec![Vec::new(); ds.entities.len()];
    for ev in ds.evaluations.iter().filter(|e| e.evaluated_on <= as_of) {
        let Some(&i) = index.get(&ev.uscc) else { continue };
        let newer = |cur: &Option<(Date, &str)>| cur.is_none_or(|(d, g)| (ev.evaluated_on, ev.grade.as_str()) > (d, g));
        match ev.kind {
            EvaluationKind::Composite if newer(&composite[i]) => composite[i] = Some((ev.evaluated_on, &ev.grade)),
            EvaluationKind::Market if newer(&market[i]) => market[i] = Some((ev.evaluated_on, &ev.grade)),
            EvaluationKind::Industry => {
                let list = &mut industry[i];
                match list.iter_mut().find(|(d, ..)| *d == ev.source) {
                    Some(slot) if (ev.evaluated_on, ev.grade.as_str()) > (slot.1, slot.2) => {
                        *slot = (&ev.source, ev.evaluated_on, &ev.grade)
                    }
                    Some(_) => {}
                    None => list.push((&ev.source, ev.evaluated_on, &ev.grade)),
                }
            }
            _ => {}
        }
    }

    let divisions = region::divisions();
    let rows: Vec<usize> = (0..ds.entities.len()).filter(|&i| ds.entities[i].registered_on <= as_of).collect();
    let not_yet_registered = ds.entities.len() - rows.len();
    let mut records = records;
    let taken: Vec<(Vec<RecordFacts>, Vec<IndustryGrade<'_>>)> =
        rows.iter().map(|&i| (std::mem::take(&mut records[i]), std::mem::take(&mut industry[i]))).collect();
    let facts = rows
        .par_iter()
        .zip(taken.into_par_iter())
        .map(|(&i, (mut recs, mut ind))| {
            let e = &ds.entities[i];
            recs.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
            ind.sort_by(|a, b| a.0.cmp(b.0));
            EntityFacts {
                uscc: e.uscc,
                entity_type: e.entity_type,
                status: e.status,
                region: e.region,
                city: divisions.city_of(e.region).unwrap_or(e.region),
                industry: e.industry,
                registered_on: e.registered_on,
                key_fields: e.key_fields,
                new_economy: e.new_economy,
                composite_grade: composite[i].map(|(_, g)| g.to_string()),
                industry_grades: ind.into_iter().map(|(d, _, g)| (d.to_string(), g.to_string())).collect(),
                market_rating: market[i].map(|(_, g)| g.to_string()),
                records: recs,
                as_of,
                stages: StageFacts::default(),
            }
        })
        .collect();
    Built { facts, rows, not_yet_registered }
}

/// Which departments have an applicable inspection item for an entity
/// (items are matched by industry prefix and key-field licence), computed
/// once per distinct (industry, licences) pair.
pub struct DepartmentIndex {
    items: Vec<(Arc<str>, InspectionItem)>,
    cache: DepartmentCache,
}

impl DepartmentIndex {
    pub fn new(ds: &Dataset) -> DepartmentIndex {
        DepartmentIndex {
            items: ds.inspection_items.iter().map(|i| (Arc::<str>::from(i.department.as_str()), i.clone())).collect(),
            cache: Default::default(),
        }
    }

    pub fn for_entity(&self, e: &MarketEntity) -> Arc<[Arc<str>]> {
        let key = (e.industry, e.key_fields);
        if let Some(v) = self.cache.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return v.clone();
        }
        let mut out: Vec<Arc<str>> = Vec::new();
        for (dept, item) in &self.items {
            if item.applies_to(&e.industry, e.key_fields) && !out.contains(dept) {
                out.push(dept.clone());
            }
        }
        out.sort();
        let v: Arc<[Arc<str>]> = out.into();
        self.cache.write().unwrap_or_else(|p| p.into_inner()).insert(key, v.clone());
        v
    }

    /// Applicable items of the given departments, as (department, item code).
    pub fn items_for<'a>(&'a self, e: &MarketEntity, departments: &[String]) -> Vec<(&'a str, &'a str)> {
        self.items
            .iter()
            .filter(|(d, item)| departments.iter().any(|x| x == &**d) && item.applies_to(&e.industry, e.key_fields))
            .map(|(d, item)| (&**d, item.item_code.as_str()))
            .collect()
    }
}
