//! Entity facts as of a date, for one shard of entities: records gathered
//! from the snapshot's tables and aggregated evaluations, hiding everything
//! that happened after the as-of date. Only the parts the rules read are
//! built.

use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::engine::{
    EntityFacts, EvaluationDates, Field, FieldMask, RecordFacts, RecordKind, RepairFacts, StageFacts, Text,
};
use crate::model::*;
use crate::snapshot::{CommitmentRow, ComplaintRow, EntityId, InspectionRow, ListingRow, PenaltyRow, Snapshot, Sym};

/// Departments per (industry, licences), shared.
type DepartmentCache = std::sync::RwLock<FxHashMap<(IndustryCode, KeyFields), Arc<[Arc<str>]>>>;

/// Shared rule strings for the snapshot's interned values, made once per
/// run so each record costs a reference count, not an allocation.
pub struct SymbolTexts(Vec<Text>);

impl SymbolTexts {
    pub fn new(s: &Snapshot) -> SymbolTexts {
        SymbolTexts((0..s.symbols.len() as u32).map(|i| Text::from(s.symbols.get(Sym(i)))).collect())
    }

    fn get(&self, s: Sym) -> Text {
        self.0[s.0 as usize].clone()
    }
}

/// What facts to build: records and evaluations only when a stage reads them.
#[derive(Clone, Copy, Debug)]
pub struct Need {
    pub records: bool,
    pub evaluations: bool,
}

impl Need {
    pub fn of(mask: FieldMask) -> Need {
        Need {
            records: mask.has(Field::Records) || mask.has(Field::CurrentRecords),
            evaluations: mask.has(Field::CompositeGrade)
                || mask.has(Field::IndustryGrades)
                || mask.has(Field::MarketRating),
        }
    }
}

/// Facts of the given entities (all registered on or before `as_of`).
pub fn build(s: &Snapshot, texts: &SymbolTexts, ids: &[EntityId], as_of: Date, need: Need) -> Vec<EntityFacts> {
    ids.par_iter().map(|&e| entity(s, texts, e, as_of, need)).collect()
}

/// Facts of one entity (registered on or before `as_of`).
pub fn entity(s: &Snapshot, texts: &SymbolTexts, e: EntityId, as_of: Date, need: Need) -> EntityFacts {
    let i = e as usize;
    let region = s.entities.region[i];
    let mut f = EntityFacts {
        uscc: s.entities.uscc[i],
        entity_type: s.entities.entity_type[i],
        status: s.entities.status[i],
        region,
        city: region::divisions().city_of(region).unwrap_or(region),
        industry: s.entities.industry[i],
        registered_on: s.entities.registered_on[i],
        key_fields: s.entities.key_fields[i],
        new_economy: s.entities.new_economy[i],
        composite_grade: None,
        industry_grades: Vec::new(),
        market_rating: None,
        evaluation_dates: Default::default(),
        records: Vec::new(),
        as_of,
        stages: StageFacts::default(),
    };
    if need.records {
        f.records = records(s, texts, e, as_of);
    }
    if need.evaluations {
        evaluations(s, e, as_of, &mut f);
    }
    f
}

/// One of an entity's records as of a date, before its facts are built:
/// what orders the records and what results show of them.
#[derive(Clone, Copy, Debug)]
pub struct Listed<'s> {
    pub kind: RecordKind,
    pub id: &'s str,
    pub date: Date,
    row: Row<'s>,
}

/// The snapshot row a [`Listed`] record comes from.
#[derive(Clone, Copy, Debug)]
enum Row<'s> {
    Penalty(&'s PenaltyRow),
    Listing(&'s ListingRow),
    Complaint(&'s ComplaintRow),
    Commitment(&'s CommitmentRow),
    Inspection(&'s InspectionRow),
}

/// The entity's records as of the date, by date then id (the order of
/// [`records`]): cheap, no text is copied.
pub fn listed(s: &Snapshot, e: EntityId, as_of: Date) -> Vec<Listed<'_>> {
    let known = |d: Option<Date>| d.filter(|d| *d <= as_of);
    let mut out = Vec::new();
    for p in s.penalties.of(e).iter().filter(|p| p.decided_on <= as_of) {
        out.push(Listed {
            kind: RecordKind::Penalty,
            id: s.text(p.decision_no),
            date: p.decided_on,
            row: Row::Penalty(p),
        });
    }
    for a in s.listings.of(e).iter().filter(|a| a.listed_on <= as_of) {
        out.push(Listed {
            kind: RecordKind::AbnormalListing,
            id: s.text(a.listing_id),
            date: a.listed_on,
            row: Row::Listing(a),
        });
    }
    for c in s.complaints.of(e) {
        let Some(concluded) = known(c.concluded_on) else { continue };
        if c.status != ComplaintStatus::Verified {
            continue;
        }
        out.push(Listed {
            kind: RecordKind::Complaint,
            id: s.text(c.complaint_id),
            date: concluded,
            row: Row::Complaint(c),
        });
    }
    for c in s.commitments.of(e) {
        let Some(checked) = known(c.checked_on) else { continue };
        if c.status != CommitmentStatus::Breached {
            continue;
        }
        out.push(Listed {
            kind: RecordKind::CommitmentBreach,
            id: s.text(c.commitment_id),
            date: checked,
            row: Row::Commitment(c),
        });
    }
    for x in s.inspections.of(e).iter().filter(|x| x.inspected_on <= as_of) {
        let kind = if x.kind == InspectionKind::Reminder {
            RecordKind::Reminder
        } else if x.result == InspectionResult::Violation {
            RecordKind::Inspection
        } else {
            continue;
        };
        out.push(Listed { kind, id: s.text(x.inspection_id), date: x.inspected_on, row: Row::Inspection(x) });
    }
    // Stable: records of the same date and id keep the order above.
    out.sort_by(|a, b| (a.date, a.id).cmp(&(b.date, b.id)));
    out
}

/// The entity's records as of the date, by date then id.
pub fn records(s: &Snapshot, texts: &SymbolTexts, e: EntityId, as_of: Date) -> Vec<RecordFacts> {
    let known = |d: Option<Date>| d.filter(|d| *d <= as_of);
    let repair = |record: &str| -> Option<RepairFacts> {
        let mut best: Option<(Date, &str, RepairFacts)> = None;
        for r in s.repairs.of(e).iter().filter(|r| r.applied_on <= as_of && s.text(r.record_id) == record) {
            let repair_id = s.text(r.repair_id);
            if best.as_ref().is_some_and(|(d, id, _)| (*d, *id) >= (r.applied_on, repair_id)) {
                continue;
            }
            let commitment = r.commitment.map(|c| {
                let c = &s.commitments.rows()[c as usize];
                if c.status != CommitmentStatus::Pending && known(c.checked_on).is_none() {
                    CommitmentStatus::Pending
                } else {
                    c.status
                }
            });
            let facts = RepairFacts { repair_id: repair_id.to_string(), applied_on: r.applied_on, commitment };
            best = Some((r.applied_on, repair_id, facts));
        }
        best.map(|(.., f)| f)
    };
    let mut out: Vec<RecordFacts> = listed(s, e, as_of)
        .into_iter()
        .map(|l| match l.row {
            Row::Penalty(p) => {
                let mut r = RecordFacts::new(l.kind, l.id, l.date, texts.get(p.department));
                r.severity = Some(p.severity);
                r.intentional = p.intentional;
                r.harmful = p.harmful;
                r.disclosure_until = Some(p.disclosure_until);
                r.fulfilled_on = known(p.fulfilled_on);
                r.repair = repair(l.id);
                r
            }
            Row::Listing(a) => {
                let mut r = RecordFacts::new(l.kind, l.id, l.date, texts.get(a.department));
                r.removed_on = known(a.removed_on);
                r.detail = a.reason.as_str().into();
                r.repair = repair(l.id);
                r
            }
            Row::Complaint(c) => {
                let mut r = RecordFacts::new(l.kind, l.id, l.date, texts.get(c.department));
                r.detail = c.hotline.as_str().into();
                r.repair = repair(l.id);
                r
            }
            Row::Commitment(c) => {
                let mut r = RecordFacts::new(l.kind, l.id, l.date, Text::from(""));
                r.detail = c.kind.as_str().into();
                r
            }
            Row::Inspection(x) => {
                let mut r = RecordFacts::new(l.kind, l.id, l.date, texts.get(x.department));
                r.detail = x.result.as_str().into();
                r
            }
        })
        .collect();
    if !s.objections.is_empty() {
        let uscc = s.entities.uscc[e as usize];
        for r in &mut out {
            r.objection = s.objections.status(&uscc, &r.id, as_of);
        }
    }
    out
}

/// The latest evaluations as of the date: composite grade, market rating,
/// and each department's industry grade (sorted by department).
fn evaluations(s: &Snapshot, e: EntityId, as_of: Date, f: &mut EntityFacts) {
    let mut composite: Option<(Date, &str)> = None;
    let mut market: Option<(Date, &str)> = None;
    let mut industry: Vec<(&str, Date, &str)> = Vec::new();
    for ev in s.evaluations.of(e).iter().filter(|v| v.evaluated_on <= as_of) {
        let grade = s.sym(ev.grade());
        let newer = |cur: &Option<(Date, &str)>| cur.is_none_or(|(d, g)| (ev.evaluated_on, grade) > (d, g));
        match ev.kind {
            EvaluationKind::Composite if newer(&composite) => composite = Some((ev.evaluated_on, grade)),
            EvaluationKind::Market if newer(&market) => market = Some((ev.evaluated_on, grade)),
            EvaluationKind::Industry => {
                let source = s.sym(ev.source());
                match industry.iter_mut().find(|(d, ..)| *d == source) {
                    Some(slot) if (ev.evaluated_on, grade) > (slot.1, slot.2) => {
                        *slot = (source, ev.evaluated_on, grade)
                    }
                    Some(_) => {}
                    None => industry.push((source, ev.evaluated_on, grade)),
                }
            }
            _ => {}
        }
    }
    industry.sort_by(|a, b| a.0.cmp(b.0));
    f.composite_grade = composite.map(|(_, g)| g.to_string());
    f.market_rating = market.map(|(_, g)| g.to_string());
    f.evaluation_dates = EvaluationDates {
        composite: composite.map(|(d, _)| d),
        market: market.map(|(d, _)| d),
        industry: industry.iter().map(|(_, d, _)| *d).collect(),
    };
    f.industry_grades = industry.into_iter().map(|(d, _, g)| (d.to_string(), g.to_string())).collect();
}

/// Which departments have an applicable inspection item for an entity
/// (items are matched by industry prefix and key-field licence), computed
/// once per distinct (industry, licences) pair.
pub struct DepartmentIndex {
    items: Vec<(Arc<str>, InspectionItem)>,
    cache: DepartmentCache,
}

impl DepartmentIndex {
    pub fn new(items: &[InspectionItem]) -> DepartmentIndex {
        DepartmentIndex {
            items: items.iter().map(|i| (Arc::<str>::from(i.department.as_str()), i.clone())).collect(),
            cache: Default::default(),
        }
    }

    pub fn for_entity(&self, industry: IndustryCode, key_fields: KeyFields) -> Arc<[Arc<str>]> {
        let key = (industry, key_fields);
        if let Some(v) = self.cache.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return v.clone();
        }
        let mut out: Vec<Arc<str>> = Vec::new();
        for (dept, item) in &self.items {
            if item.applies_to(&industry, key_fields) && !out.contains(dept) {
                out.push(dept.clone());
            }
        }
        out.sort();
        let v: Arc<[Arc<str>]> = out.into();
        self.cache.write().unwrap_or_else(|p| p.into_inner()).insert(key, v.clone());
        v
    }

    /// Applicable items of the given departments, as (department, item code).
    pub fn items_for<'a>(
        &'a self,
        industry: IndustryCode,
        key_fields: KeyFields,
        departments: &[String],
    ) -> Vec<(&'a str, &'a str)> {
        self.items
            .iter()
            .filter(|(d, item)| departments.iter().any(|x| x == &**d) && item.applies_to(&industry, key_fields))
            .map(|(d, item)| (&**d, item.item_code.as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::generated;

    /// `listed` gives each entity's records in the order, and with the
    /// kind, id and date, of the facts the rules see (what lets the spill
    /// keep a record's status alone).
    #[test]
    fn listed_records_are_the_facts_records() {
        let (_dir, s) = generated(3000, 5);
        let texts = SymbolTexts::new(&s);
        let mut seen = 0;
        for as_of in [Date::from_ymd_opt(2024, 3, 1).expect("date"), Date::from_ymd_opt(2026, 6, 30).expect("date")] {
            for e in 0..s.len() as EntityId {
                let listed = listed(&s, e, as_of);
                let records = records(&s, &texts, e, as_of);
                let got: Vec<(RecordKind, &str, Date)> = listed.iter().map(|l| (l.kind, l.id, l.date)).collect();
                let want: Vec<(RecordKind, &str, Date)> =
                    records.iter().map(|r| (r.kind, r.id.as_str(), r.date)).collect();
                assert_eq!(got, want, "entity {e} as of {as_of}");
                seen += records.len();
            }
        }
        assert!(seen > 1000, "records of every kind: {seen}");
    }
}
