//! Checks across rows and tables: duplicate keys and references to
//! entities, persons, departments, items, officers and records that do not
//! exist. Each problem names the row that holds the bad reference.

use std::hash::Hash;

use rustc_hash::{FxHashMap, FxHashSet};

use super::problem::{Problem, Problems};
use super::read::Loaded;
use crate::model::*;

/// Reports rows whose key repeats an earlier row's; returns the set of keys.
fn unique<'a, T, K: Hash + Eq>(
    t: &'a Loaded<T>,
    column: &str,
    key: impl Fn(&'a T) -> K,
    show: impl Fn(&T) -> String,
    problems: &mut Problems,
) -> FxHashMap<K, u32> {
    let mut seen: FxHashMap<K, u32> = FxHashMap::default();
    seen.reserve(t.rows.len());
    for (row, &no) in t.rows.iter().zip(&t.row_no) {
        match seen.entry(key(row)) {
            std::collections::hash_map::Entry::Occupied(first) => problems.push(Problem::cell(
                &t.file,
                no as usize,
                column,
                "duplicate key",
                format!("'{}' repeats row {}", show(row), first.get()),
            )),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(no);
            }
        }
    }
    seen
}

/// Rows whose key is not in `known`, checked in parallel (reference checks
/// are most of the checking work on large datasets).
fn dangling<T: Sync, K: Hash + Eq + Sync + std::fmt::Display>(
    t: &Loaded<T>,
    column: &str,
    target: &str,
    known: &FxHashSet<K>,
    key: impl Fn(&T) -> K + Sync,
    problems: &mut Problems,
) {
    use rayon::prelude::*;
    let found: Vec<Problem> = t
        .rows
        .par_iter()
        .zip(t.row_no.par_iter())
        .filter_map(|(row, &no)| {
            let k = key(row);
            (!known.contains(&k)).then(|| {
                Problem::cell(&t.file, no as usize, column, "dangling reference", format!("'{k}' is not in {target}"))
            })
        })
        .collect();
    problems.0.extend(found);
}

fn refers_entity<T: Sync>(
    t: &Loaded<T>,
    entities: &FxHashSet<Uscc>,
    uscc: impl Fn(&T) -> Uscc + Sync,
    problems: &mut Problems,
) {
    dangling(t, "uscc", "entities", entities, uscc, problems);
}

fn refers_person<T: Sync>(
    t: &Loaded<T>,
    persons: &FxHashSet<PersonId>,
    person: impl Fn(&T) -> PersonId + Sync,
    problems: &mut Problems,
) {
    dangling(t, "person_id", "persons", persons, person, problems);
}

fn refers_department<T>(
    t: &Loaded<T>,
    departments: &FxHashSet<String>,
    dept: impl Fn(&T) -> &str,
    problems: &mut Problems,
) {
    for (row, &no) in t.rows.iter().zip(&t.row_no) {
        let d = dept(row);
        if !departments.contains(d) {
            problems.push(Problem::cell(
                &t.file,
                no as usize,
                "department",
                "dangling reference",
                format!("'{d}' is not in departments"),
            ));
        }
    }
}

/// All loaded tables, before they become a [`Dataset`].
pub struct Tables {
    pub entities: Loaded<MarketEntity>,
    pub persons: Loaded<Person>,
    pub roles: Loaded<Role>,
    pub evaluations: Loaded<CreditEvaluation>,
    pub penalties: Loaded<Penalty>,
    pub abnormal_listings: Loaded<AbnormalListing>,
    pub complaints: Loaded<Complaint>,
    pub commitments: Loaded<Commitment>,
    pub inspections: Loaded<InspectionRecord>,
    pub repairs: Loaded<RepairApplication>,
    pub departments: Loaded<Department>,
    pub inspection_items: Loaded<InspectionItem>,
    pub officers: Loaded<Officer>,
    pub officer_relations: Loaded<OfficerRelation>,
}

impl Tables {
    pub fn validate(&self, problems: &mut Problems) {
        let entities: FxHashSet<Uscc> =
            unique(&self.entities, "uscc", |e| e.uscc, |e| e.uscc.to_string(), problems).into_keys().collect();
        let persons: FxHashSet<PersonId> =
            unique(&self.persons, "person_id", |p| p.person_id, |p| p.person_id.to_string(), problems)
                .into_keys()
                .collect();
        let departments: FxHashSet<String> =
            unique(&self.departments, "code", |d| d.code.clone(), |d| d.code.clone(), problems).into_keys().collect();

        refers_entity(&self.roles, &entities, |r| r.uscc, problems);
        refers_person(&self.roles, &persons, |r| r.person_id, problems);
        unique(
            &self.roles,
            "role",
            |r| (r.uscc, r.person_id, r.role, r.since),
            |r| format!("{} {} {} since {}", r.uscc, r.person_id, r.role, r.since),
            problems,
        );

        refers_entity(&self.evaluations, &entities, |r| r.uscc, problems);
        for (row, &no) in self.evaluations.rows.iter().zip(&self.evaluations.row_no) {
            if row.kind == EvaluationKind::Industry && !departments.contains(&row.source) {
                problems.push(Problem::cell(
                    &self.evaluations.file,
                    no as usize,
                    "source",
                    "dangling reference",
                    format!("industry evaluation source '{}' is not in departments", row.source),
                ));
            }
        }
        unique(
            &self.evaluations,
            "evaluated_on",
            |r| (r.uscc, r.kind, r.source.as_str(), r.evaluated_on),
            |r| format!("{} {} {} {}", r.uscc, r.kind, r.source, r.evaluated_on),
            problems,
        );

        let mut record_ids: FxHashMap<String, Uscc> = FxHashMap::default();
        let ids =
            unique(&self.penalties, "decision_no", |r| r.decision_no.as_str(), |r| r.decision_no.clone(), problems);
        refers_entity(&self.penalties, &entities, |r| r.uscc, problems);
        refers_department(&self.penalties, &departments, |r| &r.department, problems);
        record_ids.extend(
            self.penalties
                .rows
                .iter()
                .filter(|r| ids.contains_key(r.decision_no.as_str()))
                .map(|r| (r.decision_no.clone(), r.uscc)),
        );

        unique(&self.abnormal_listings, "listing_id", |r| r.listing_id.as_str(), |r| r.listing_id.clone(), problems);
        refers_entity(&self.abnormal_listings, &entities, |r| r.uscc, problems);
        refers_department(&self.abnormal_listings, &departments, |r| &r.department, problems);
        record_ids.extend(self.abnormal_listings.rows.iter().map(|r| (r.listing_id.clone(), r.uscc)));

        unique(&self.complaints, "complaint_id", |r| r.complaint_id.as_str(), |r| r.complaint_id.clone(), problems);
        refers_entity(&self.complaints, &entities, |r| r.uscc, problems);
        refers_department(&self.complaints, &departments, |r| &r.department, problems);
        record_ids.extend(self.complaints.rows.iter().map(|r| (r.complaint_id.clone(), r.uscc)));

        let commitments = unique(
            &self.commitments,
            "commitment_id",
            |r| r.commitment_id.as_str(),
            |r| r.commitment_id.clone(),
            problems,
        );
        refers_entity(&self.commitments, &entities, |r| r.uscc, problems);
        let commitment_of: FxHashMap<&str, &Commitment> = self
            .commitments
            .rows
            .iter()
            .filter(|c| commitments.contains_key(c.commitment_id.as_str()))
            .map(|c| (c.commitment_id.as_str(), c))
            .collect();

        unique(&self.inspection_items, "item_code", |r| r.item_code.as_str(), |r| r.item_code.clone(), problems);
        refers_department(&self.inspection_items, &departments, |r| &r.department, problems);
        let item_dept: FxHashMap<&str, &str> =
            self.inspection_items.rows.iter().map(|i| (i.item_code.as_str(), i.department.as_str())).collect();

        let officers =
            unique(&self.officers, "officer_id", |r| r.officer_id.as_str(), |r| r.officer_id.clone(), problems);
        refers_department(&self.officers, &departments, |r| &r.department, problems);
        refers_person(&self.officers, &persons, |r| r.person_id, problems);
        for (row, &no) in self.officers.rows.iter().zip(&self.officers.row_no) {
            for q in &row.qualifications {
                match item_dept.get(q.as_str()) {
                    None => problems.push(Problem::cell(
                        &self.officers.file,
                        no as usize,
                        "qualifications",
                        "dangling reference",
                        format!("'{q}' is not in inspection_items"),
                    )),
                    Some(d) if *d != row.department => problems.push(Problem::cell(
                        &self.officers.file,
                        no as usize,
                        "qualifications",
                        "foreign qualification",
                        format!("'{q}' is an item of {d}, not of the officer's department {}", row.department),
                    )),
                    Some(_) => {}
                }
            }
        }

        unique(&self.inspections, "inspection_id", |r| r.inspection_id.as_str(), |r| r.inspection_id.clone(), problems);
        refers_entity(&self.inspections, &entities, |r| r.uscc, problems);
        refers_department(&self.inspections, &departments, |r| &r.department, problems);
        for (row, &no) in self.inspections.rows.iter().zip(&self.inspections.row_no) {
            for o in &row.officers {
                if !officers.contains_key(o.as_str()) {
                    problems.push(Problem::cell(
                        &self.inspections.file,
                        no as usize,
                        "officers",
                        "dangling reference",
                        format!("'{o}' is not in officers"),
                    ));
                }
            }
        }

        unique(&self.repairs, "repair_id", |r| r.repair_id.as_str(), |r| r.repair_id.clone(), problems);
        refers_entity(&self.repairs, &entities, |r| r.uscc, problems);
        for (row, &no) in self.repairs.rows.iter().zip(&self.repairs.row_no) {
            let file = &self.repairs.file;
            match record_ids.get(&row.record_id) {
                None => problems.push(Problem::cell(
                    file,
                    no as usize,
                    "record_id",
                    "dangling reference",
                    format!("'{}' is not a penalty, abnormal listing or complaint", row.record_id),
                )),
                Some(u) if *u != row.uscc => problems.push(Problem::cell(
                    file,
                    no as usize,
                    "record_id",
                    "foreign record",
                    format!("'{}' is a record of {u}, not of {}", row.record_id, row.uscc),
                )),
                Some(_) => {}
            }
            if let Some(c) = &row.commitment_id {
                match commitment_of.get(c.as_str()) {
                    None => problems.push(Problem::cell(
                        file,
                        no as usize,
                        "commitment_id",
                        "dangling reference",
                        format!("'{c}' is not in commitments"),
                    )),
                    Some(c) if c.kind != CommitmentKind::Repair || c.uscc != row.uscc => problems.push(Problem::cell(
                        file,
                        no as usize,
                        "commitment_id",
                        "foreign record",
                        format!(
                            "'{}' is a {} commitment of {}, not a repair commitment of {}",
                            c.commitment_id, c.kind, c.uscc, row.uscc
                        ),
                    )),
                    Some(_) => {}
                }
            }
        }

        for (row, &no) in self.officer_relations.rows.iter().zip(&self.officer_relations.row_no) {
            if !officers.contains_key(row.officer_id.as_str()) {
                problems.push(Problem::cell(
                    &self.officer_relations.file,
                    no as usize,
                    "officer_id",
                    "dangling reference",
                    format!("'{}' is not in officers", row.officer_id),
                ));
            }
        }
        refers_person(&self.officer_relations, &persons, |r| r.person_id, problems);
        unique(
            &self.officer_relations,
            "person_id",
            |r| (r.officer_id.as_str(), r.person_id),
            |r| format!("{} {}", r.officer_id, r.person_id),
            problems,
        );
    }

    /// (file, length, SHA-256) of every table in [`super::table::TABLES`]
    /// order, if every file was read.
    pub fn digests(&self) -> Option<Vec<(String, u64, [u8; 32])>> {
        fn d<T>(t: &Loaded<T>) -> Option<(String, u64, [u8; 32])> {
            t.digest.map(|(len, h)| (t.file.clone(), len, h))
        }
        Some(vec![
            d(&self.entities)?,
            d(&self.persons)?,
            d(&self.roles)?,
            d(&self.evaluations)?,
            d(&self.penalties)?,
            d(&self.abnormal_listings)?,
            d(&self.complaints)?,
            d(&self.commitments)?,
            d(&self.inspections)?,
            d(&self.repairs)?,
            d(&self.departments)?,
            d(&self.inspection_items)?,
            d(&self.officers)?,
            d(&self.officer_relations)?,
        ])
    }

    pub fn into_dataset(self) -> Dataset {
        Dataset {
            entities: self.entities.rows,
            persons: self.persons.rows,
            roles: self.roles.rows,
            evaluations: self.evaluations.rows,
            penalties: self.penalties.rows,
            abnormal_listings: self.abnormal_listings.rows,
            complaints: self.complaints.rows,
            commitments: self.commitments.rows,
            inspections: self.inspections.rows,
            repairs: self.repairs.rows,
            departments: self.departments.rows,
            inspection_items: self.inspection_items.rows,
            officers: self.officers.rows,
            officer_relations: self.officer_relations.rows,
        }
    }
}
