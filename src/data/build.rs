//! From parsed rows to a [`Snapshot`], checking every reference across
//! tables on the way: duplicate keys and references to entities, persons,
//! departments, items, officers and records that do not exist. Each problem
//! names the row that holds the bad key or reference.
//!
//! Rows arrive table by table, in batches (so no table is ever held as
//! row objects), in an order where every table a row may refer to is
//! complete before it: departments, items, entities, persons, officers,
//! relations, roles, evaluations, penalties, listings, complaints,
//! commitments, inspections, repairs.
//!
//! Long on purpose: one checker per table, in dependency order, each a few
//! dozen lines; they share the builder's indexes.

use rustc_hash::{FxHashMap, FxHashSet};

use super::problem::{Problem, Problems};
use super::table::TableRow;
use crate::model::*;
use crate::snapshot::*;

/// Which file each table came from, for problems.
#[derive(Clone, Debug)]
pub struct Files(pub FxHashMap<&'static str, String>);

impl Files {
    pub fn csv() -> Files {
        Files(super::table::TABLES.iter().map(|(t, _)| (*t, format!("{t}.csv"))).collect())
    }

    pub fn get(&self, table: &'static str) -> &str {
        self.0.get(table).map(String::as_str).unwrap_or(table)
    }
}

/// Rows of one table being collected: (entity, row number, row).
type Pending<T> = Vec<(EntityId, u32, T)>;

/// Builds a snapshot from rows, collecting every problem.
pub struct Builder {
    files: Files,
    pub problems: Problems,
    departments: Vec<Department>,
    /// Department codes, each with the row it first came on (duplicates
    /// are found across batches, not only within one).
    department_codes: FxHashMap<String, u32>,
    /// Inspection item codes, each with the row it first came on.
    item_rows: FxHashMap<String, u32>,
    items: Vec<InspectionItem>,
    item_department: FxHashMap<String, String>,
    officers: Vec<Officer>,
    officer_index: FxHashMap<String, u32>,
    officer_rows: Vec<u32>,
    relations: Vec<OfficerRelation>,
    relation_rows: Vec<(u32, OfficerRelation)>,
    /// Entities as read (row order), before ids are given, and their names
    /// by row.
    read: Vec<(Uscc, u32)>,
    names_by_row: Vec<Str>,
    name_text: Texts,
    entities: Entities,
    index: EntityIndex,
    person_rows: Vec<(PersonId, u32)>,
    persons: Vec<PersonId>,
    person_index: PersonIndex,
    roles: Pending<RoleRow>,
    evaluations: Pending<EvaluationRow>,
    penalties: Pending<PenaltyRow>,
    listings: Pending<ListingRow>,
    complaints: Pending<ComplaintRow>,
    commitments: Pending<CommitmentRow>,
    inspections: Pending<InspectionRow>,
    inspection_officers: Vec<u32>,
    repairs: Pending<(RepairRow, Option<Str>)>,
    /// Tables finished (checked and grouped) as soon as they are read, so
    /// their row-by-row form never waits beside the next table's.
    done_roles: Table<RoleRow>,
    done_evaluations: Table<EvaluationRow>,
    done_penalties: Table<PenaltyRow>,
    done_listings: Table<ListingRow>,
    done_complaints: Table<ComplaintRow>,
    done_inspections: Table<InspectionRow>,
    texts: Texts,
    symbols: Symbols,
    overflow: bool,
}

impl Builder {
    /// Reserves room for a table's rows before they arrive, so the largest
    /// tables (tens of millions of rows) never sit in memory twice while a
    /// growing vector is copied.
    pub fn expect(&mut self, table: &str, rows: usize) {
        use super::table::TableRow;
        use crate::model::*;
        match table {
            MarketEntity::TABLE => {
                self.read.reserve_exact(rows);
                self.names_by_row.reserve_exact(rows);
                let e = &mut self.entities;
                e.row.reserve_exact(rows);
                e.entity_type.reserve_exact(rows);
                e.status.reserve_exact(rows);
                e.region.reserve_exact(rows);
                e.industry.reserve_exact(rows);
                e.registered_on.reserve_exact(rows);
                e.key_fields.reserve_exact(rows);
                e.new_economy.reserve_exact(rows);
            }
            Person::TABLE => self.person_rows.reserve_exact(rows),
            Role::TABLE => self.roles.reserve_exact(rows),
            CreditEvaluation::TABLE => self.evaluations.reserve_exact(rows),
            Penalty::TABLE => self.penalties.reserve_exact(rows),
            AbnormalListing::TABLE => self.listings.reserve_exact(rows),
            Complaint::TABLE => self.complaints.reserve_exact(rows),
            Commitment::TABLE => self.commitments.reserve_exact(rows),
            InspectionRecord::TABLE => self.inspections.reserve_exact(rows),
            RepairApplication::TABLE => self.repairs.reserve_exact(rows),
            _ => {}
        }
    }

    pub fn new(files: Files) -> Builder {
        Builder {
            files,
            problems: Problems::default(),
            departments: Vec::new(),
            department_codes: FxHashMap::default(),
            item_rows: FxHashMap::default(),
            items: Vec::new(),
            item_department: FxHashMap::default(),
            officers: Vec::new(),
            officer_index: FxHashMap::default(),
            officer_rows: Vec::new(),
            relations: Vec::new(),
            relation_rows: Vec::new(),
            read: Vec::new(),
            names_by_row: Vec::new(),
            name_text: Texts::default(),
            entities: Entities::default(),
            index: EntityIndex::default(),
            person_rows: Vec::new(),
            persons: Vec::new(),
            person_index: PersonIndex::default(),
            roles: Vec::new(),
            evaluations: Vec::new(),
            penalties: Vec::new(),
            listings: Vec::new(),
            complaints: Vec::new(),
            commitments: Vec::new(),
            inspections: Vec::new(),
            inspection_officers: Vec::new(),
            repairs: Vec::new(),
            done_roles: Table::default(),
            done_evaluations: Table::default(),
            done_penalties: Table::default(),
            done_listings: Table::default(),
            done_complaints: Table::default(),
            done_inspections: Table::default(),
            texts: Texts::default(),
            symbols: Symbols::default(),
            overflow: false,
        }
    }

    /// A snapshot of rows already in memory (rule tests, tests), checked
    /// exactly as files are.
    pub fn from_dataset(ds: &Dataset) -> Result<Snapshot, Problems> {
        fn rows(n: usize) -> Vec<u32> {
            (1..=n as u32).collect()
        }
        let mut b = Builder::new(Files::csv());
        b.departments(&ds.departments, &rows(ds.departments.len()));
        b.items(&ds.inspection_items, &rows(ds.inspection_items.len()));
        b.entities(&ds.entities, &rows(ds.entities.len()));
        b.end_entities();
        b.persons(&ds.persons, &rows(ds.persons.len()));
        b.end_persons();
        b.officers(&ds.officers, &rows(ds.officers.len()));
        b.relations(&ds.officer_relations, &rows(ds.officer_relations.len()));
        b.roles(&ds.roles, &rows(ds.roles.len()));
        b.end_roles();
        b.evaluations(&ds.evaluations, &rows(ds.evaluations.len()));
        b.end_evaluations();
        b.penalties(&ds.penalties, &rows(ds.penalties.len()));
        b.end_penalties();
        b.listings(&ds.abnormal_listings, &rows(ds.abnormal_listings.len()));
        b.end_listings();
        b.complaints(&ds.complaints, &rows(ds.complaints.len()));
        b.end_complaints();
        b.commitments(&ds.commitments, &rows(ds.commitments.len()));
        b.inspections(&ds.inspections, &rows(ds.inspections.len()));
        b.end_inspections();
        b.repairs(&ds.repairs, &rows(ds.repairs.len()));
        b.finish()
    }

    fn cell(&mut self, table: &'static str, row: u32, column: &str, kind: &str, reason: String) {
        let file = self.files.get(table).to_string();
        self.problems.push(Problem::cell(&file, row as usize, column, kind, reason));
    }

    fn text(&mut self, s: &str) -> Str {
        match self.texts.push(s) {
            Ok(s) => s,
            Err(_) => {
                self.overflow = true;
                Str::default()
            }
        }
    }

    /// Entity ids of a batch's rows, looked up in parallel (see [`ids_of`]).
    fn resolve<T: Sync>(&self, rows: &[T], uscc: impl Fn(&T) -> Uscc + Sync) -> Vec<Option<EntityId>> {
        use rayon::prelude::*;
        let uscc = &uscc;
        let parts: Vec<Vec<Option<EntityId>>> = rows
            .par_chunks(8192)
            .map(|chunk| ids_of(&self.index, &self.entities.uscc, chunk.iter().map(uscc)))
            .collect();
        parts.concat()
    }

    /// Reports a row whose entity was not found.
    fn entity(&mut self, table: &'static str, row: u32, uscc: &Uscc, found: Option<EntityId>) -> Option<EntityId> {
        if found.is_none() {
            self.cell(table, row, "uscc", "dangling reference", format!("'{uscc}' is not in entities"));
        }
        found
    }

    fn person(&mut self, table: &'static str, row: u32, p: &PersonId) -> Option<u32> {
        let found = self.person_index.find(&self.persons, p);
        if found.is_none() {
            self.cell(table, row, "person_id", "dangling reference", format!("'{p}' is not in persons"));
        }
        found
    }

    fn department(&mut self, table: &'static str, row: u32, d: &str) -> Sym {
        if !self.department_codes.contains_key(d) {
            self.cell(table, row, "department", "dangling reference", format!("'{d}' is not in departments"));
        }
        self.symbols.intern(d)
    }

    pub fn departments(&mut self, rows: &[Department], nos: &[u32]) {
        for (d, &no) in rows.iter().zip(nos) {
            if let Some(&f) = self.department_codes.get(&d.code) {
                self.cell(Department::TABLE, no, "code", "duplicate key", format!("'{}' repeats row {f}", d.code));
                continue;
            }
            self.department_codes.insert(d.code.clone(), no);
        }
        self.departments.extend(rows.iter().cloned());
    }

    pub fn items(&mut self, rows: &[InspectionItem], nos: &[u32]) {
        for (i, &no) in rows.iter().zip(nos) {
            if let Some(&f) = self.item_rows.get(&i.item_code) {
                let reason = format!("'{}' repeats row {f}", i.item_code);
                self.cell(InspectionItem::TABLE, no, "item_code", "duplicate key", reason);
            } else {
                self.item_rows.insert(i.item_code.clone(), no);
            }
            self.department(InspectionItem::TABLE, no, &i.department);
            self.item_department.insert(i.item_code.clone(), i.department.clone());
        }
        self.items.extend(rows.iter().cloned());
    }

    pub fn entities(&mut self, rows: &[MarketEntity], nos: &[u32]) {
        let e = &mut self.entities;
        for (r, &no) in rows.iter().zip(nos) {
            self.read.push((r.uscc, no));
            e.row.push(no);
            e.entity_type.push(r.entity_type);
            e.status.push(r.status);
            e.region.push(r.region);
            e.industry.push(r.industry);
            e.registered_on.push(r.registered_on);
            e.key_fields.push(r.key_fields);
            e.new_economy.push(r.new_economy);
            // Names are addressed by source row, so rows with problems
            // (left out) still leave a slot.
            while self.names_by_row.len() + 1 < no as usize {
                self.names_by_row.push(Str::default());
            }
            match self.name_text.push(&r.name) {
                Ok(s) => self.names_by_row.push(s),
                Err(_) => {
                    self.overflow = true;
                    self.names_by_row.push(Str::default());
                }
            }
        }
    }

    /// Gives entities their ids (credit-code order) and reports repeats.
    pub fn end_entities(&mut self) {
        let t = std::time::Instant::now();
        // Read positions sorted by (code, position), in place of the codes'
        // row numbers (`entities.row` keeps those; rows grow with positions,
        // so the order is (code, row)). Codes compare as two big-endian
        // integers: the same order as their bytes, without a memcmp call.
        let mut order = std::mem::take(&mut self.read);
        for (i, r) in order.iter_mut().enumerate() {
            r.1 = i as u32;
        }
        {
            use rayon::prelude::*;
            order.par_sort_unstable_by(|a, b| uscc_key(&a.0).cmp(&uscc_key(&b.0)).then(a.1.cmp(&b.1)));
        }
        let e = std::mem::take(&mut self.entities);
        let mut keep: Vec<u32> = Vec::with_capacity(order.len());
        let mut uscc: Vec<Uscc> = Vec::with_capacity(order.len());
        let mut last: Option<(Uscc, u32)> = None;
        for &(u, i) in &order {
            match last {
                Some((l, f)) if l == u => {
                    let (no, f) = (e.row[i as usize], e.row[f as usize]);
                    self.cell(MarketEntity::TABLE, no, "uscc", "duplicate key", format!("'{u}' repeats row {f}"));
                }
                _ => {
                    keep.push(i);
                    uscc.push(u);
                    last = Some((u, i));
                }
            }
        }
        drop(order);
        let sorted = t.elapsed();
        let pick = |i: &u32| *i as usize;
        let names = {
            let (texts, by_row) = (&self.name_text, &self.names_by_row);
            let (keep, rows) = (&keep, &e.row);
            Names::from_fn(keep.len(), |k| {
                let row = rows[keep[k] as usize] as usize;
                by_row.get(row - 1).map_or(&[][..], |s| texts.get_bytes(*s))
            })
        };
        // Each column in credit-code order, gathered on every core.
        use rayon::prelude::*;
        let out = Entities {
            uscc,
            row: keep.par_iter().map(|i| e.row[pick(i)]).collect(),
            entity_type: keep.par_iter().map(|i| e.entity_type[pick(i)]).collect(),
            status: keep.par_iter().map(|i| e.status[pick(i)]).collect(),
            region: keep.par_iter().map(|i| e.region[pick(i)]).collect(),
            industry: keep.par_iter().map(|i| e.industry[pick(i)]).collect(),
            registered_on: keep.par_iter().map(|i| e.registered_on[pick(i)]).collect(),
            key_fields: keep.par_iter().map(|i| e.key_fields[pick(i)]).collect(),
            new_economy: keep.par_iter().map(|i| e.new_economy[pick(i)]).collect(),
            names,
        };
        self.names_by_row = Vec::new();
        self.name_text = Texts::default();
        let named = t.elapsed();
        self.index = EntityIndex::new(&out.uscc);
        self.entities = out;
        tracing::debug!(?sorted, ?named, indexed = ?t.elapsed(), "entities given ids");
    }

    pub fn persons(&mut self, rows: &[Person], nos: &[u32]) {
        self.person_rows.extend(rows.iter().zip(nos).map(|(p, &no)| (p.person_id, no)));
    }

    pub fn end_persons(&mut self) {
        let mut rows = std::mem::take(&mut self.person_rows);
        {
            // (id, row) order, ids compared as big-endian integers.
            use rayon::prelude::*;
            let key = |p: &PersonId| u128::from_be_bytes(p.0);
            rows.par_sort_unstable_by(|a, b| key(&a.0).cmp(&key(&b.0)).then(a.1.cmp(&b.1)));
        }
        let mut persons: Vec<PersonId> = Vec::with_capacity(rows.len());
        let mut first = 0u32;
        for (p, no) in rows {
            if persons.last() == Some(&p) {
                self.cell(Person::TABLE, no, "person_id", "duplicate key", format!("'{p}' repeats row {first}"));
            } else {
                persons.push(p);
                first = no;
            }
        }
        self.person_index = PersonIndex::new(&persons);
        self.persons = persons;
    }

    pub fn officers(&mut self, rows: &[Officer], nos: &[u32]) {
        for (o, &no) in rows.iter().zip(nos) {
            if let Some(&f) = self.officer_index.get(&o.officer_id) {
                let f = self.officers_row(f);
                let reason = format!("'{}' repeats row {f}", o.officer_id);
                self.cell(Officer::TABLE, no, "officer_id", "duplicate key", reason);
            } else {
                self.officer_index.insert(o.officer_id.clone(), self.officers.len() as u32);
            }
            self.department(Officer::TABLE, no, &o.department);
            self.person(Officer::TABLE, no, &o.person_id);
            for q in &o.qualifications {
                match self.item_department.get(q.as_str()) {
                    None => {
                        self.cell(
                            Officer::TABLE,
                            no,
                            "qualifications",
                            "dangling reference",
                            format!("'{q}' is not in inspection_items"),
                        );
                    }
                    Some(d) if *d != o.department => {
                        let reason =
                            format!("'{q}' is an item of {d}, not of the officer's department {}", o.department);
                        self.cell(Officer::TABLE, no, "qualifications", "foreign qualification", reason);
                    }
                    Some(_) => {}
                }
            }
            self.officers.push(o.clone());
            self.officer_rows.push(no);
        }
    }

    fn officers_row(&self, index: u32) -> u32 {
        self.officer_rows[index as usize]
    }

    pub fn relations(&mut self, rows: &[OfficerRelation], nos: &[u32]) {
        for (r, &no) in rows.iter().zip(nos) {
            let officer = self.officer_index.get(&r.officer_id).copied();
            if officer.is_none() {
                let reason = format!("'{}' is not in officers", r.officer_id);
                self.cell(OfficerRelation::TABLE, no, "officer_id", "dangling reference", reason);
            }
            self.person(OfficerRelation::TABLE, no, &r.person_id);
            self.relation_rows.push((no, r.clone()));
            self.relations.push(r.clone());
        }
    }

    pub fn roles(&mut self, rows: &[Role], nos: &[u32]) {
        use rayon::prelude::*;
        let ids = self.resolve(rows, |r| r.uscc);
        let persons: Vec<Option<u32>> = rows
            .par_chunks(8192)
            .map(|chunk| {
                let ids: Vec<PersonId> = chunk.iter().map(|r| r.person_id).collect();
                self.person_index.find_many(&self.persons, &ids)
            })
            .collect::<Vec<_>>()
            .concat();
        for (((r, &no), id), person) in rows.iter().zip(nos).zip(ids).zip(persons) {
            let e = self.entity(Role::TABLE, no, &r.uscc, id);
            if person.is_none() {
                self.cell(
                    Role::TABLE,
                    no,
                    "person_id",
                    "dangling reference",
                    format!("'{}' is not in persons", r.person_id),
                );
            }
            let p = person;
            if let (Some(e), Some(p)) = (e, p) {
                match RoleRow::new(p, r.role, r.since, r.until) {
                    Ok(row) => self.roles.push((e, no, row)),
                    Err(_) => self.overflow = true,
                }
            }
        }
    }

    pub fn evaluations(&mut self, rows: &[CreditEvaluation], nos: &[u32]) {
        use rayon::prelude::*;
        let ids = self.resolve(rows, |r| r.uscc);
        // Each row's source and grade as already interned, and whether its
        // source is a department where it must be, looked up on every core
        // (two or three string lookups a row had been this thread's alone):
        // the loop interns only what is new, in row order, so every text
        // gets the number it got before.
        let (symbols, departments) = (&self.symbols, &self.department_codes);
        let looked: Vec<(Option<Sym>, Option<Sym>, bool)> = rows
            .par_iter()
            .with_min_len(4096)
            .map(|r| {
                let known = r.kind != EvaluationKind::Industry || departments.contains_key(r.source.as_str());
                (symbols.find(&r.source), symbols.find(&r.grade), known)
            })
            .collect();
        for (((r, &no), id), (source, grade, known)) in rows.iter().zip(nos).zip(ids).zip(looked) {
            let e = self.entity(CreditEvaluation::TABLE, no, &r.uscc, id);
            if !known {
                let reason = format!("industry evaluation source '{}' is not in departments", r.source);
                self.cell(CreditEvaluation::TABLE, no, "source", "dangling reference", reason);
            }
            let source = source.unwrap_or_else(|| self.symbols.intern(&r.source));
            let grade = grade.unwrap_or_else(|| self.symbols.intern(&r.grade));
            let Some(row) = EvaluationRow::new(r.kind, source, r.evaluated_on, grade) else {
                self.overflow = true;
                continue;
            };
            if let Some(e) = e {
                self.evaluations.push((e, no, row));
            }
        }
    }

    pub fn penalties(&mut self, rows: &[Penalty], nos: &[u32]) {
        let ids = self.resolve(rows, |r| r.uscc);
        for ((r, &no), id) in rows.iter().zip(nos).zip(ids) {
            let e = self.entity(Penalty::TABLE, no, &r.uscc, id);
            let department = self.department(Penalty::TABLE, no, &r.department);
            let row = PenaltyRow {
                decision_no: self.text(&r.decision_no),
                department,
                decided_on: r.decided_on,
                severity: r.severity,
                intentional: r.intentional,
                harmful: r.harmful,
                disclosure_until: r.disclosure_until,
                fulfilled_on: r.fulfilled_on,
            };
            self.penalties.push((e.unwrap_or(NONE), no, row));
        }
    }

    pub fn listings(&mut self, rows: &[AbnormalListing], nos: &[u32]) {
        let ids = self.resolve(rows, |r| r.uscc);
        for ((r, &no), id) in rows.iter().zip(nos).zip(ids) {
            let e = self.entity(AbnormalListing::TABLE, no, &r.uscc, id);
            let department = self.department(AbnormalListing::TABLE, no, &r.department);
            let row = ListingRow {
                listing_id: self.text(&r.listing_id),
                department,
                listed_on: r.listed_on,
                reason: r.reason,
                removed_on: r.removed_on,
            };
            self.listings.push((e.unwrap_or(NONE), no, row));
        }
    }

    pub fn complaints(&mut self, rows: &[Complaint], nos: &[u32]) {
        let ids = self.resolve(rows, |r| r.uscc);
        for ((r, &no), id) in rows.iter().zip(nos).zip(ids) {
            let e = self.entity(Complaint::TABLE, no, &r.uscc, id);
            let department = self.department(Complaint::TABLE, no, &r.department);
            let row = ComplaintRow {
                complaint_id: self.text(&r.complaint_id),
                hotline: r.hotline,
                department,
                received_on: r.received_on,
                status: r.status,
                concluded_on: r.concluded_on,
            };
            self.complaints.push((e.unwrap_or(NONE), no, row));
        }
    }

    pub fn commitments(&mut self, rows: &[Commitment], nos: &[u32]) {
        let ids = self.resolve(rows, |r| r.uscc);
        for ((r, &no), id) in rows.iter().zip(nos).zip(ids) {
            let e = self.entity(Commitment::TABLE, no, &r.uscc, id);
            let department = r.department.as_deref().map(|d| self.department(Commitment::TABLE, no, d));
            let row = CommitmentRow {
                commitment_id: self.text(&r.commitment_id),
                kind: r.kind,
                made_on: r.made_on,
                subject: self.text(&r.subject),
                status: r.status,
                checked_on: r.checked_on,
                department,
                approval_item: r.approval_item.as_deref().map(|a| self.text(a)),
            };
            self.commitments.push((e.unwrap_or(NONE), no, row));
        }
    }

    pub fn inspections(&mut self, rows: &[InspectionRecord], nos: &[u32]) {
        let ids = self.resolve(rows, |r| r.uscc);
        for ((r, &no), id) in rows.iter().zip(nos).zip(ids) {
            let e = self.entity(InspectionRecord::TABLE, no, &r.uscc, id);
            let department = self.department(InspectionRecord::TABLE, no, &r.department);
            let officers_at = self.inspection_officers.len() as u32;
            for o in &r.officers {
                match self.officer_index.get(o.as_str()) {
                    Some(&i) => self.inspection_officers.push(i),
                    None => {
                        let reason = format!("'{o}' is not in officers");
                        self.cell(InspectionRecord::TABLE, no, "officers", "dangling reference", reason);
                    }
                }
            }
            let officers_len = (self.inspection_officers.len() as u32 - officers_at).min(u32::from(u16::MAX)) as u16;
            let row = InspectionRow {
                inspection_id: self.text(&r.inspection_id),
                department,
                inspected_on: r.inspected_on,
                kind: r.kind,
                result: r.result,
                officers_at,
                officers_len,
            };
            self.inspections.push((e.unwrap_or(NONE), no, row));
        }
    }

    pub fn repairs(&mut self, rows: &[RepairApplication], nos: &[u32]) {
        let ids = self.resolve(rows, |r| r.uscc);
        for ((r, &no), id) in rows.iter().zip(nos).zip(ids) {
            let e = self.entity(RepairApplication::TABLE, no, &r.uscc, id);
            let row = RepairRow {
                repair_id: self.text(&r.repair_id),
                record_id: self.text(&r.record_id),
                applied_on: r.applied_on,
                commitment: None,
            };
            let commitment = r.commitment_id.as_deref().map(|c| self.text(c));
            // Kept even without an entity, so the record and commitment
            // references are still checked.
            self.repairs.push((e.unwrap_or(NONE), no, (row, commitment)));
        }
    }

    /// Checks the keys and references that need whole tables, and builds
    /// the snapshot, or returns every problem found.
    pub fn finish(mut self) -> Result<Snapshot, Problems> {
        let n = self.entities.len();
        let keys: Vec<(u32, Str)> = self.commitments.iter().map(|(_, no, r)| (*no, r.commitment_id)).collect();
        self.unique_text(Commitment::TABLE, "commitment_id", keys);
        let keys: Vec<(u32, Str)> = self.repairs.iter().map(|(_, no, r)| (*no, r.0.repair_id)).collect();
        self.unique_text(RepairApplication::TABLE, "repair_id", keys);
        self.unique_relations();

        let commitments = group(n, std::mem::take(&mut self.commitments));
        self.check_repairs(&commitments);

        if self.overflow {
            self.problems.push(Problem::file(
                "dataset",
                "too large",
                "the dataset is larger than one snapshot addresses (4 GiB of text, 2^28 persons or 65,536 \
                 distinct evaluation sources and grades): split it, e.g. by city",
            ));
        }
        if !self.problems.is_empty() {
            self.problems.sort();
            return Err(self.problems);
        }
        let mut texts = self.texts;
        texts.shrink();
        Ok(Snapshot {
            entities: self.entities,
            persons: self.persons,
            roles: self.done_roles,
            evaluations: self.done_evaluations,
            penalties: self.done_penalties,
            listings: self.done_listings,
            complaints: self.done_complaints,
            commitments,
            inspections: self.done_inspections,
            repairs: group(n, self.repairs.into_iter().map(|(e, no, (r, _))| (e, no, r)).collect()),
            inspection_officers: self.inspection_officers,
            departments: self.departments,
            inspection_items: self.items,
            officers: self.officers,
            officer_relations: self.relations,
            texts,
            symbols: self.symbols,
            objections: Default::default(),
        })
    }

    /// Reports rows whose text key repeats an earlier row's.
    fn unique_text(&mut self, table: &'static str, column: &str, keys: Vec<(u32, Str)>) {
        let texts = &self.texts;
        use rayon::prelude::*;
        use std::hash::{Hash, Hasher};
        // Sorted by (hash of the key, row): repeats sit next to each other,
        // the first row of each first; only equal hashes compare text.
        let mut keyed: Vec<(u64, u32, Str)> = keys
            .into_par_iter()
            .map(|(no, s)| {
                let mut h = rustc_hash::FxHasher::default();
                texts.get(s).hash(&mut h);
                (h.finish(), no, s)
            })
            .collect();
        keyed.par_sort_unstable_by_key(|&(h, no, _)| (h, no));
        let mut found = Vec::new();
        let mut i = 0;
        while i < keyed.len() {
            let mut j = i + 1;
            while j < keyed.len() && keyed[j].0 == keyed[i].0 {
                j += 1;
            }
            // Within one hash, each row is a repeat of the first row with
            // the same text.
            for k in i + 1..j {
                let text = texts.get(keyed[k].2);
                if let Some(first) = keyed[i..k].iter().find(|x| texts.get(x.2) == text) {
                    found.push((keyed[k].1, format!("'{text}' repeats row {}", first.1)));
                }
            }
            i = j;
        }
        found.sort_unstable_by_key(|(no, _)| *no);
        drop(keyed);
        for (no, reason) in found {
            self.cell(table, no, column, "duplicate key", reason);
        }
    }

    /// Checks roles for repeats ((entity, person, role, since) twice) and
    /// groups them by entity.
    pub fn end_roles(&mut self) {
        let n = self.entities.len();
        let pending = std::mem::take(&mut self.roles);
        let (table, repeats) = group_unique(n, pending, |r| (r.person(), r.role(), r.since));
        for (e, no, first, r) in repeats {
            let reason = format!(
                "'{} {} {} since {}' repeats row {first}",
                self.entities.uscc[e as usize],
                self.persons[r.person() as usize],
                r.role(),
                r.since
            );
            self.cell(Role::TABLE, no, "role", "duplicate key", reason);
        }
        self.done_roles = table;
    }

    /// Checks evaluations for repeats ((entity, kind, source, date) twice)
    /// and groups them by entity.
    pub fn end_evaluations(&mut self) {
        let n = self.entities.len();
        let pending = std::mem::take(&mut self.evaluations);
        let (table, repeats) = group_unique(n, pending, |r| (r.kind, r.source(), r.evaluated_on));
        for (e, no, first, r) in repeats {
            let reason = format!(
                "'{} {} {} {}' repeats row {first}",
                self.entities.uscc[e as usize],
                r.kind,
                self.symbols.get(r.source()),
                r.evaluated_on
            );
            self.cell(CreditEvaluation::TABLE, no, "evaluated_on", "duplicate key", reason);
        }
        self.done_evaluations = table;
    }

    pub fn end_penalties(&mut self) {
        let keys: Vec<(u32, Str)> = self.penalties.iter().map(|(_, no, r)| (*no, r.decision_no)).collect();
        self.unique_text(Penalty::TABLE, "decision_no", keys);
        self.done_penalties = group(self.entities.len(), std::mem::take(&mut self.penalties));
    }

    pub fn end_listings(&mut self) {
        let keys: Vec<(u32, Str)> = self.listings.iter().map(|(_, no, r)| (*no, r.listing_id)).collect();
        self.unique_text(AbnormalListing::TABLE, "listing_id", keys);
        self.done_listings = group(self.entities.len(), std::mem::take(&mut self.listings));
    }

    pub fn end_complaints(&mut self) {
        let keys: Vec<(u32, Str)> = self.complaints.iter().map(|(_, no, r)| (*no, r.complaint_id)).collect();
        self.unique_text(Complaint::TABLE, "complaint_id", keys);
        self.done_complaints = group(self.entities.len(), std::mem::take(&mut self.complaints));
    }

    pub fn end_inspections(&mut self) {
        let keys: Vec<(u32, Str)> = self.inspections.iter().map(|(_, no, r)| (*no, r.inspection_id)).collect();
        self.unique_text(InspectionRecord::TABLE, "inspection_id", keys);
        self.done_inspections = group(self.entities.len(), std::mem::take(&mut self.inspections));
    }

    fn unique_relations(&mut self) {
        let rows = std::mem::take(&mut self.relation_rows);
        let mut first: FxHashMap<(&str, PersonId), u32> = FxHashMap::default();
        let mut found = Vec::new();
        for (no, r) in &rows {
            match first.get(&(r.officer_id.as_str(), r.person_id)) {
                Some(&f) => found.push((*no, format!("'{} {}' repeats row {f}", r.officer_id, r.person_id))),
                None => {
                    first.insert((r.officer_id.as_str(), r.person_id), *no);
                }
            }
        }
        for (no, reason) in found {
            self.cell(OfficerRelation::TABLE, no, "person_id", "duplicate key", reason);
        }
    }

    /// Repairs must name a record of their own entity and, if any, a
    /// repair commitment of their own entity.
    fn check_repairs(&mut self, commitments: &Table<CommitmentRow>) {
        let texts = std::mem::take(&mut self.texts);
        self.check_repairs_in(&texts, commitments);
        self.texts = texts;
    }

    fn check_repairs_in(&mut self, texts: &Texts, commitments: &Table<CommitmentRow>) {
        // Only the ids repairs name are looked up: far fewer than records.
        let wanted: FxHashSet<&str> = self.repairs.iter().map(|(_, _, (r, _))| texts.get(r.record_id)).collect();
        let wanted_commitments: FxHashSet<&str> =
            self.repairs.iter().filter_map(|(_, _, (_, c))| c.map(|c| texts.get(c))).collect();
        // Record id → entity of the record; later tables win, as the first
        // row wins within penalties (its ids are unique when valid).
        let mut records: FxHashMap<&str, EntityId> = FxHashMap::default();
        for (i, r) in self.done_penalties.rows().iter().enumerate() {
            let id = texts.get(r.decision_no);
            if wanted.contains(id) {
                records.entry(id).or_insert(self.done_penalties.entity_of(i));
            }
        }
        for (i, r) in self.done_listings.rows().iter().enumerate() {
            let id = texts.get(r.listing_id);
            if wanted.contains(id) {
                records.insert(id, self.done_listings.entity_of(i));
            }
        }
        for (i, r) in self.done_complaints.rows().iter().enumerate() {
            let id = texts.get(r.complaint_id);
            if wanted.contains(id) {
                records.insert(id, self.done_complaints.entity_of(i));
            }
        }
        let mut commitment_of: FxHashMap<&str, (EntityId, u32)> = FxHashMap::default();
        for (i, c) in commitments.rows().iter().enumerate() {
            let id = texts.get(c.commitment_id);
            if wanted_commitments.contains(id) {
                commitment_of.entry(id).or_insert((commitments.entity_of(i), i as u32));
            }
        }
        let mut found = Vec::new();
        let mut repairs = std::mem::take(&mut self.repairs);
        for (e, no, (row, commitment)) in &mut repairs {
            let uscc = |e: EntityId| self.entities.uscc.get(e as usize).map_or_else(String::new, Uscc::to_string);
            let own = if *e == NONE { None } else { Some(*e) };
            let record = texts.get(row.record_id);
            match records.get(record) {
                None => found.push((
                    *no,
                    "record_id",
                    "dangling reference",
                    format!("'{record}' is not a penalty, abnormal listing or complaint"),
                )),
                Some(&of) if Some(of) != own && own.is_some() && of != NONE => found.push((
                    *no,
                    "record_id",
                    "foreign record",
                    format!("'{record}' is a record of {}, not of {}", uscc(of), uscc(*e)),
                )),
                Some(_) => {}
            }
            if let Some(c) = commitment {
                let c_id = texts.get(*c);
                match commitment_of.get(c_id) {
                    None => found.push((
                        *no,
                        "commitment_id",
                        "dangling reference",
                        format!("'{c_id}' is not in commitments"),
                    )),
                    Some(&(of, i)) => {
                        let c = &commitments.rows()[i as usize];
                        if c.kind != CommitmentKind::Repair || (own.is_some() && Some(of) != own) {
                            found.push((
                                *no,
                                "commitment_id",
                                "foreign record",
                                format!(
                                    "'{c_id}' is a {} commitment of {}, not a repair commitment of {}",
                                    c.kind,
                                    uscc(of),
                                    uscc(*e)
                                ),
                            ));
                        } else {
                            row.commitment = Some(i);
                        }
                    }
                }
            }
        }
        self.repairs = repairs;
        for (no, column, kind, reason) in found {
            self.cell(RepairApplication::TABLE, no, column, kind, reason);
        }
    }
}

/// A row whose key repeats an earlier row's key within the same entity:
/// (entity, row, first row, the row).
type Repeat<T> = (EntityId, u32, u32, T);

/// Marks a row whose entity is missing (the dataset is refused then).
const NONE: EntityId = EntityId::MAX;

/// Groups rows by entity and finds rows whose key repeats an earlier row's
/// key within the same entity: (entity, row, first row, the row).
///
/// The rows go straight into the table; their row numbers are not copied
/// beside them (at 15M the evaluations' numbered copy was about 400 MB, by
/// the rows' sizes, while they were grouped). Repeats are rare, so only
/// the entities that have one are looked for again in `rows`, for their
/// numbers.
fn group_unique<T, K>(n: usize, rows: Pending<T>, key: impl Fn(&T) -> K + Sync) -> (Table<T>, Vec<Repeat<T>>)
where
    T: Copy + Send + Sync,
    K: Ord + Copy + Send + Sync,
{
    use rayon::prelude::*;
    let rows: Pending<T> = rows.into_iter().filter(|(e, ..)| *e != NONE).collect();
    let table = Table::group_by(n, &rows, |r| r.0, |r| r.2);
    let repeating: Vec<EntityId> = (0..n as EntityId)
        .into_par_iter()
        .with_min_len(4096)
        .filter(|&e| {
            let of = table.of(e);
            if of.len() < 2 {
                return false;
            }
            let mut keys: Vec<K> = of.iter().map(&key).collect();
            keys.sort_unstable();
            keys.windows(2).any(|w| w[0] == w[1])
        })
        .collect();
    if repeating.is_empty() {
        return (table, Vec::new());
    }
    // Their rows with numbers, in file order (the table's order).
    let mut numbered: FxHashMap<EntityId, Vec<(u32, T)>> = repeating.iter().map(|&e| (e, Vec::new())).collect();
    for (e, no, r) in &rows {
        if let Some(of) = numbered.get_mut(e) {
            of.push((*no, *r));
        }
    }
    drop(rows);
    let mut repeats = Vec::new();
    for e in repeating {
        let mut sorted: Vec<(K, u32, T)> =
            numbered.remove(&e).unwrap_or_default().into_iter().map(|(no, r)| (key(&r), no, r)).collect();
        sorted.sort_unstable_by_key(|(k, no, _)| (*k, *no));
        let Some(&(_, mut first, _)) = sorted.first() else { continue };
        for w in 1..sorted.len() {
            if sorted[w].0 == sorted[w - 1].0 {
                repeats.push((e, sorted[w].1, first, sorted[w].2));
            } else {
                first = sorted[w].1;
            }
        }
    }
    (table, repeats)
}

fn group<T: Copy + Send + Sync>(n: usize, rows: Pending<T>) -> Table<T> {
    // Rows of missing entities only exist in refused datasets.
    let rows: Pending<T> = if rows.iter().any(|(e, ..)| *e == NONE) {
        rows.into_iter().filter(|(e, ..)| *e != NONE).collect()
    } else {
        rows
    };
    Table::group_by(n, &rows, |r| r.0, |r| r.2)
}

/// A credit code as two big-endian integers: ordered as its bytes are.
fn uscc_key(u: &Uscc) -> (u128, u16) {
    let b = u.as_bytes();
    let (hi, lo) = b.split_at(16);
    (u128::from_be_bytes(hi.try_into().expect("16 bytes")), u16::from_be_bytes(lo.try_into().expect("2 bytes")))
}

/// Entity ids of rows given by their codes, in order. Rows of one entity
/// usually come together, so each run of one code is looked up once.
fn ids_of(index: &EntityIndex, uscc: &[Uscc], codes: impl Iterator<Item = Uscc>) -> Vec<Option<EntityId>> {
    let mut runs: Vec<(Uscc, u32)> = Vec::new();
    for u in codes {
        match runs.last_mut() {
            Some((l, n)) if *l == u => *n += 1,
            _ => runs.push((u, 1)),
        }
    }
    let codes: Vec<Uscc> = runs.iter().map(|r| r.0).collect();
    let ids = index.find_many(uscc, &codes);
    runs.iter().zip(ids).flat_map(|(&(_, n), id)| std::iter::repeat_n(id, n as usize)).collect()
}

/// Finds an entity's id by its credit code: an open-addressing table of
/// ids (linear probing, at most 80% full), comparing against the (sorted)
/// code column. Each slot holds `id + 1` in its low bits and, in the bits
/// the ids leave free, a tag from the code's hash, so a probe rarely reads
/// a code that is not the one sought. 4 bytes a slot: at 15M entities
/// 134 MB (a hashbrown table of ids took 168 MB, a map from code to id
/// 840 MB).
#[derive(Default)]
struct EntityIndex {
    /// 0: empty; else `tag << id_bits | (id + 1)`.
    slots: Vec<u32>,
    /// 64 - log2(slots), so a hash's top bits pick the first slot.
    shift: u32,
    id_bits: u32,
}

/// Codes looked up together: their first slots are read before any code
/// is compared, so the memory reads of a group overlap instead of waiting
/// one for another.
const LOOKUP_GROUP: usize = 32;

impl EntityIndex {
    fn new(uscc: &[Uscc]) -> EntityIndex {
        if uscc.is_empty() {
            return EntityIndex::default();
        }
        // At most 80% full, and never more slots than a hashbrown table.
        let size = (uscc.len() + uscc.len() / 4 + 1).next_power_of_two().max(16);
        let id_bits = (u64::BITS - (uscc.len() as u64).leading_zeros()).min(32);
        let mut index = EntityIndex { slots: vec![0; size], shift: u64::BITS - size.trailing_zeros(), id_bits };
        let mask = size - 1;
        for (id, u) in uscc.iter().enumerate() {
            let h = Self::hash(u);
            let mut at = index.first(h);
            while index.slots[at] != 0 {
                at = (at + 1) & mask;
            }
            index.slots[at] = index.tag(h) | (id as u32 + 1);
        }
        index
    }

    fn hash(u: &Uscc) -> u64 {
        use std::hash::BuildHasher;
        rustc_hash::FxBuildHasher.hash_one(u).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// The first slot to probe for a hash.
    fn first(&self, h: u64) -> usize {
        (h >> self.shift) as usize
    }

    /// The tag bits of a hash, in place (zero when ids use every bit).
    fn tag(&self, h: u64) -> u32 {
        // Bits of the product's middle: well mixed, and apart from the
        // top bits that pick the slot.
        ((h >> 24) as u32).checked_shl(self.id_bits).unwrap_or(0)
    }

    fn id_mask(&self) -> u32 {
        1u32.checked_shl(self.id_bits).map_or(u32::MAX, |b| b - 1)
    }

    /// The id a slot holds if its tag is the hash's.
    fn candidate(&self, slot: u32, h: u64) -> Option<EntityId> {
        let mask = self.id_mask();
        (slot != 0 && slot & !mask == self.tag(h)).then(|| (slot & mask) - 1)
    }

    fn find(&self, uscc: &[Uscc], u: &Uscc) -> Option<EntityId> {
        if self.slots.is_empty() {
            return None;
        }
        let h = Self::hash(u);
        let mask = self.slots.len() - 1;
        let mut at = self.first(h);
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return None;
            }
            if let Some(id) = self.candidate(slot, h)
                && uscc[id as usize] == *u
            {
                return Some(id);
            }
            at = (at + 1) & mask;
        }
    }

    /// [`EntityIndex::find`] of many codes, the same answers: a group's
    /// first slots are read together, then the codes they name, then any
    /// code not settled by its first slot is probed on its own.
    fn find_many(&self, uscc: &[Uscc], codes: &[Uscc]) -> Vec<Option<EntityId>> {
        if self.slots.is_empty() {
            return vec![None; codes.len()];
        }
        let mut out = Vec::with_capacity(codes.len());
        for group in codes.chunks(LOOKUP_GROUP) {
            let mut hashes = [0u64; LOOKUP_GROUP];
            let mut firsts = [0u32; LOOKUP_GROUP];
            for (k, u) in group.iter().enumerate() {
                hashes[k] = Self::hash(u);
            }
            for k in 0..group.len() {
                firsts[k] = self.slots[self.first(hashes[k])];
            }
            for (k, u) in group.iter().enumerate() {
                let hit = self.candidate(firsts[k], hashes[k]).filter(|&id| uscc[id as usize] == *u);
                out.push(match hit {
                    Some(id) => Some(id),
                    None if firsts[k] == 0 => None,
                    None => self.find(uscc, u),
                });
            }
        }
        out
    }
}

/// Where persons' ids start by their leading bits. Person ids are salted
/// hashes, spread evenly, so a directory of one slot per few persons finds
/// an id with two memory reads (the slot, then a handful of neighbours)
/// instead of a binary search over the whole array.
#[derive(Default)]
struct PersonIndex {
    /// `starts[b]`: the first person whose leading `bits` bits are >= b.
    starts: Vec<u32>,
    bits: u32,
}

impl PersonIndex {
    fn new(sorted: &[PersonId]) -> PersonIndex {
        let bits = (usize::BITS - sorted.len().leading_zeros()).saturating_sub(2).clamp(1, 30);
        let buckets = 1usize << bits;
        let mut starts = vec![0u32; buckets + 1];
        let mut at = 0usize;
        for (b, slot) in starts.iter_mut().enumerate() {
            while at < sorted.len() && Self::bucket(&sorted[at], bits) < b {
                at += 1;
            }
            *slot = at as u32;
        }
        PersonIndex { starts, bits }
    }

    fn bucket(p: &PersonId, bits: u32) -> usize {
        (u64::from_be_bytes(p.0[..8].try_into().expect("8 bytes")) >> (64 - bits)) as usize
    }

    fn find(&self, sorted: &[PersonId], p: &PersonId) -> Option<u32> {
        if self.starts.is_empty() {
            return None;
        }
        let b = Self::bucket(p, self.bits);
        let (lo, hi) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        sorted[lo..hi].iter().position(|x| x == p).map(|i| (lo + i) as u32)
    }

    /// [`PersonIndex::find`] of many ids, the same answers: a group's
    /// slots are read together, then the first person of each slot's run,
    /// so their memory reads overlap; then each run is searched.
    fn find_many(&self, sorted: &[PersonId], ids: &[PersonId]) -> Vec<Option<u32>> {
        if self.starts.is_empty() {
            return vec![None; ids.len()];
        }
        let mut out = Vec::with_capacity(ids.len());
        for group in ids.chunks(LOOKUP_GROUP) {
            let mut runs = [(0usize, 0usize); LOOKUP_GROUP];
            for (k, p) in group.iter().enumerate() {
                let b = Self::bucket(p, self.bits);
                runs[k] = (self.starts[b] as usize, self.starts[b + 1] as usize);
            }
            let mut touched = 0u8;
            for &(lo, _) in &runs[..group.len()] {
                touched ^= sorted.get(lo).map_or(0, |x| x.0[0]);
            }
            std::hint::black_box(touched);
            for (k, p) in group.iter().enumerate() {
                let (lo, hi) = runs[k];
                out.push(sorted[lo..hi].iter().position(|x| x == p).map(|i| (lo + i) as u32));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Grouping with repeats found, against the plain way: each entity's
    /// rows with their numbers, sorted by (key, row); a row is a repeat of
    /// the first row with its key.
    #[test]
    fn grouped_rows_and_their_repeats_match_the_plain_way() {
        let n = 50usize;
        let mut pending: Pending<(u8, u16)> = Vec::new();
        for no in 1..=2000u32 {
            let e = if no % 97 == 0 { NONE } else { (no * 7919 % n as u32) as EntityId };
            pending.push((e, no, ((no % 5) as u8, (no % 13) as u16)));
        }
        let key = |r: &(u8, u16)| r.0;
        let (table, repeats) = group_unique(n, pending.clone(), key);
        let mut want_repeats = Vec::new();
        for e in 0..n as EntityId {
            let of: Vec<(u32, (u8, u16))> =
                pending.iter().filter(|(x, ..)| *x == e).map(|(_, no, r)| (*no, *r)).collect();
            assert_eq!(table.of(e), of.iter().map(|(_, r)| *r).collect::<Vec<_>>().as_slice());
            let mut sorted: Vec<(u8, u32, (u8, u16))> = of.iter().map(|(no, r)| (key(r), *no, *r)).collect();
            sorted.sort();
            for w in 1..sorted.len() {
                if sorted[w].0 == sorted[w - 1].0 {
                    let first = sorted.iter().find(|x| x.0 == sorted[w].0).expect("first").1;
                    want_repeats.push((e, sorted[w].1, first, sorted[w].2));
                }
            }
        }
        assert!(want_repeats.len() > 100);
        assert_eq!(repeats, want_repeats);
        assert_eq!(table.len(), pending.iter().filter(|(e, ..)| *e != NONE).count());
        // Without repeats: none found, the same table.
        let unique: Pending<(u8, u16)> = (0..n as u32).map(|e| (e, e + 1, (0, e as u16))).collect();
        let (table, repeats) = group_unique(n, unique, key);
        assert!(repeats.is_empty());
        assert_eq!(table.of(7), &[(0, 7)]);
    }

    /// A batch is parsed and handed over in parts: a key repeated in a
    /// later part (or batch) is found as one repeated within a part.
    #[test]
    fn duplicate_keys_are_found_across_parts() {
        let mut b = Builder::new(Files::csv());
        let dept = |code: &str| Department { code: code.into(), name: "市场监管".into() };
        b.departments(&[dept("SC"), dept("HB")], &[2, 3]);
        b.departments(&[dept("GA"), dept("SC")], &[4, 5]);
        let item = |code: &str| InspectionItem {
            item_code: code.into(),
            department: "SC".into(),
            name: "抽查".into(),
            industries: vec!["*".into()],
            key_field: None,
        };
        b.items(&[item("I1")], &[2]);
        b.items(&[item("I2"), item("I1")], &[3, 4]);
        let problems: Vec<String> = b.problems.0.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("departments.csv") && problems[0].contains("'SC' repeats row 2"), "{problems:?}");
        assert!(
            problems[1].contains("inspection_items.csv") && problems[1].contains("'I1' repeats row 2"),
            "{problems:?}"
        );
    }

    #[test]
    fn finds_entities_by_code() {
        let mut codes: Vec<Uscc> = (0..3000u32)
            .map(|i| {
                let body: [u8; 8] = format!("{:08}", i * 7919).into_bytes().try_into().expect("8 digits");
                Uscc::assemble(b'9', b'1', 370102 + i % 50, body).expect("valid code")
            })
            .collect();
        codes.sort();
        codes.dedup();
        let index = EntityIndex::new(&codes);
        for (i, u) in codes.iter().enumerate() {
            assert_eq!(index.find(&codes, u), Some(i as EntityId));
        }
        let missing = codes.pop().expect("codes");
        let index = EntityIndex::new(&codes);
        assert_eq!(index.find(&codes, &missing), None);
        assert_eq!(EntityIndex::default().find(&[], &missing), None);
    }

    #[test]
    fn finds_entities_in_any_order_and_runs() {
        // Codes in generation order (not credit-code order), as tables
        // list them; ids are ranks in the sorted column.
        let read: Vec<Uscc> = (0..5000u32)
            .map(|i| {
                let body: [u8; 8] = format!("{:08}", (i * 7_654_321) % 100_000_000).into_bytes().try_into().expect("8");
                Uscc::assemble(b'9', b'1', 370102 + i % 7, body).expect("valid code")
            })
            .collect();
        let mut sorted = read.clone();
        sorted.sort();
        sorted.dedup();
        let index = EntityIndex::new(&sorted);
        let rank = |u: &Uscc| sorted.binary_search(u).ok().map(|i| i as EntityId);
        // Runs of one entity, entities out of order, an entity coming back
        // later, and codes that are not entities.
        let missing: Vec<Uscc> = (0..40u32)
            .map(|i| {
                let body: [u8; 8] = format!("{:08}", i * 3 + 1).into_bytes().try_into().expect("8");
                Uscc::assemble(b'9', b'2', 110101, body).expect("valid code")
            })
            .collect();
        let mut codes = Vec::new();
        for (k, u) in read.iter().enumerate().rev() {
            codes.extend(std::iter::repeat_n(*u, k % 4));
            if k % 97 == 0 {
                codes.push(missing[k % missing.len()]);
                codes.push(read[(k * 31) % read.len()]);
            }
        }
        let expected: Vec<Option<EntityId>> = codes.iter().map(rank).collect();
        assert!(expected.iter().any(Option::is_none) && expected.iter().filter(|e| e.is_some()).count() > 7000);
        assert_eq!(ids_of(&index, &sorted, codes.iter().copied()), expected);
        assert_eq!(index.find_many(&sorted, &codes), expected);
        assert_eq!(codes.iter().map(|u| index.find(&sorted, u)).collect::<Vec<_>>(), expected);
        // Every code found by itself, however full the probes.
        for (i, u) in sorted.iter().enumerate() {
            assert_eq!(index.find(&sorted, u), Some(i as EntityId));
        }
        assert_eq!(ids_of(&EntityIndex::default(), &[], codes.iter().copied().take(3)), vec![None; 3]);
        assert!(ids_of(&index, &sorted, std::iter::empty()).is_empty());
    }

    #[test]
    fn sorts_codes_as_bytes() {
        let mut codes: Vec<Uscc> = (0..500u32)
            .map(|i| {
                let body: [u8; 8] = format!("{:08}", (i * 7919) % 1000).into_bytes().try_into().expect("8");
                Uscc::assemble(if i % 2 == 0 { b'9' } else { b'1' }, b'1', 370102 + i % 3, body).expect("code")
            })
            .collect();
        let mut by_key = codes.clone();
        by_key.sort_by_key(uscc_key);
        codes.sort();
        assert_eq!(by_key, codes);
    }

    #[test]
    fn finds_persons_anywhere() {
        let mut ids: Vec<PersonId> = (0..5000u32)
            .map(|i| {
                let mut b = [0u8; 16];
                let h = (u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)).rotate_left(17);
                b[..8].copy_from_slice(&h.to_be_bytes());
                b[8..12].copy_from_slice(&i.to_be_bytes());
                PersonId(b)
            })
            .collect();
        // A skewed block, so the guess is often wrong.
        ids.extend((1..300u32).map(|i| {
            let mut b = [0u8; 16];
            b[12..].copy_from_slice(&i.to_be_bytes());
            PersonId(b)
        }));
        ids.sort();
        let index = PersonIndex::new(&ids);
        for (i, p) in ids.iter().enumerate() {
            assert_eq!(index.find(&ids, p), Some(i as u32));
        }
        assert_eq!(index.find(&ids, &PersonId([0xff; 16])), None);
        // Many at once, out of order, repeated and missing: the same answers.
        let mut wanted: Vec<PersonId> = ids.iter().rev().step_by(3).copied().collect();
        wanted.extend(ids.iter().step_by(7).copied());
        wanted.extend((0..50u8).map(|i| PersonId([i.wrapping_mul(37) | 1; 16])));
        let expected: Vec<Option<u32>> = wanted.iter().map(|p| ids.binary_search(p).ok().map(|i| i as u32)).collect();
        assert!(expected.iter().any(Option::is_none));
        assert_eq!(index.find_many(&ids, &wanted), expected);
        assert_eq!(PersonIndex::default().find_many(&[], &wanted[..3]), vec![None; 3]);
        assert_eq!(PersonIndex::new(&[]).find(&[], &PersonId([0; 16])), None);
    }
}
