//! A dataset in compact columns: what a province-sized classification keeps
//! in memory. Entities are numbered by their credit code's rank (so shards
//! of consecutive ids are credit-code ranges, and output sorted by id is
//! sorted by credit code); every other table is grouped by entity (CSR),
//! with text in shared buffers and repeated small strings interned.
//!
//! Invariants: plain data, no IO, built only by `data` (which validates it
//! first), so every reference inside it resolves. Memory per entity is
//! written down in ARCHITECTURE.md ("Memory").

mod graph;

use std::sync::Arc;

use crate::model::*;

pub use graph::RoleGraph;

/// An entity's number in a snapshot: the rank of its credit code.
pub type EntityId = u32;

/// A string in a [`Texts`] buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Str {
    at: u32,
    len: u32,
}

/// Many strings in one buffer: no allocation per string, 8 bytes per handle.
#[derive(Clone, Debug, Default)]
pub struct Texts {
    bytes: Vec<u8>,
}

/// More text than one buffer addresses (4 GiB).
#[derive(Debug, thiserror::Error)]
#[error("more than 4 GiB of text in one column: split the dataset")]
pub struct TextOverflow;

impl Texts {
    pub fn push(&mut self, s: &str) -> Result<Str, TextOverflow> {
        let at = u32::try_from(self.bytes.len()).map_err(|_| TextOverflow)?;
        let len = u32::try_from(s.len()).map_err(|_| TextOverflow)?;
        if u32::try_from(self.bytes.len() + s.len()).is_err() {
            return Err(TextOverflow);
        }
        self.bytes.extend_from_slice(s.as_bytes());
        Ok(Str { at, len })
    }

    pub fn get(&self, s: Str) -> &str {
        let b = &self.bytes[s.at as usize..(s.at + s.len) as usize];
        // Only whole `&str`s are pushed, so every handle spans valid UTF-8.
        std::str::from_utf8(b).unwrap_or_default()
    }

    pub fn bytes(&self) -> usize {
        self.bytes.capacity()
    }

    pub fn shrink(&mut self) {
        self.bytes.shrink_to_fit();
    }
}

/// A small interned string (department, evaluation source, grade, officer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

/// Interned strings: each distinct value stored once, with a shared Rhai
/// string made once so rules read it without copying.
#[derive(Clone, Debug, Default)]
pub struct Symbols {
    names: Vec<Arc<str>>,
    index: rustc_hash::FxHashMap<Arc<str>, Sym>,
}

impl Symbols {
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&sym) = self.index.get(s) {
            return sym;
        }
        let sym = Sym(self.names.len() as u32);
        let name: Arc<str> = s.into();
        self.names.push(name.clone());
        self.index.insert(name, sym);
        sym
    }

    pub fn find(&self, s: &str) -> Option<Sym> {
        self.index.get(s).copied()
    }

    pub fn get(&self, s: Sym) -> &str {
        &self.names[s.0 as usize]
    }

    pub fn arc(&self, s: Sym) -> &Arc<str> {
        &self.names[s.0 as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Rows grouped by entity: the rows of entity `e` are
/// `rows[offsets[e]..offsets[e + 1]]`.
#[derive(Clone, Debug)]
pub struct Table<T> {
    offsets: Vec<u32>,
    rows: Vec<T>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table { offsets: vec![0], rows: Vec::new() }
    }
}

impl<T> Table<T> {
    /// Groups `(entity, row)` pairs for `entities` entities; the order of
    /// rows within an entity is kept.
    pub fn group(entities: usize, mut pairs: Vec<(EntityId, T)>) -> Table<T> {
        pairs.sort_by_key(|(e, _)| *e);
        let mut offsets = vec![0u32; entities + 1];
        for (e, _) in &pairs {
            offsets[*e as usize + 1] += 1;
        }
        for i in 0..entities {
            offsets[i + 1] += offsets[i];
        }
        let rows = pairs.into_iter().map(|(_, r)| r).collect();
        Table { offsets, rows }
    }

    pub fn of(&self, e: EntityId) -> &[T] {
        let (a, b) = (self.offsets[e as usize] as usize, self.offsets[e as usize + 1] as usize);
        &self.rows[a..b]
    }

    /// Global index of the first row of `e`.
    pub fn start(&self, e: EntityId) -> usize {
        self.offsets[e as usize] as usize
    }

    pub fn rows(&self) -> &[T] {
        &self.rows
    }

    pub fn rows_mut(&mut self) -> &mut [T] {
        &mut self.rows
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The entity a global row index belongs to.
    pub fn entity_of(&self, row: usize) -> EntityId {
        (self.offsets.partition_point(|&o| o as usize <= row) - 1) as EntityId
    }

    /// Adds rows (kept after the existing rows of their entity).
    pub fn extend(&mut self, entities: usize, more: Vec<(EntityId, T)>) {
        if more.is_empty() {
            return;
        }
        let old = std::mem::take(self);
        let mut pairs: Vec<(EntityId, T)> = Vec::with_capacity(old.rows.len() + more.len());
        let mut rows = old.rows.into_iter();
        for e in 0..entities {
            let n = (old.offsets[e + 1] - old.offsets[e]) as usize;
            pairs.extend(rows.by_ref().take(n).map(|r| (e as EntityId, r)));
        }
        pairs.extend(more);
        *self = Table::group(entities, pairs);
    }

    fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * 4 + self.rows.capacity() * std::mem::size_of::<T>()
    }
}

/// Entity attributes, by [`EntityId`] (credit-code order).
#[derive(Clone, Debug, Default)]
pub struct Entities {
    pub uscc: Vec<Uscc>,
    /// 1-based row of the entity in the source file (dataset order).
    pub row: Vec<u32>,
    pub entity_type: Vec<EntityType>,
    pub status: Vec<EntityStatus>,
    pub region: Vec<u32>,
    pub industry: Vec<IndustryCode>,
    pub registered_on: Vec<Date>,
    pub key_fields: Vec<KeyFields>,
    pub new_economy: Vec<Option<NewEconomy>>,
    /// Names by source row (`row - 1`), not by id: kept in file order so
    /// loading never copies them.
    pub names: Vec<Str>,
    pub name_text: Texts,
}

impl Entities {
    pub fn len(&self) -> usize {
        self.uscc.len()
    }

    pub fn is_empty(&self) -> bool {
        self.uscc.is_empty()
    }

    pub fn name(&self, e: EntityId) -> &str {
        self.name_text.get(self.names[self.row[e as usize] as usize - 1])
    }

    /// The id of a credit code, if the entity exists.
    pub fn find(&self, u: &Uscc) -> Option<EntityId> {
        self.uscc.binary_search(u).ok().map(|i| i as EntityId)
    }

    /// One entity as a model row.
    pub fn get(&self, e: EntityId) -> MarketEntity {
        let i = e as usize;
        MarketEntity {
            uscc: self.uscc[i],
            name: self.name(e).to_string(),
            entity_type: self.entity_type[i],
            region: self.region[i],
            industry: self.industry[i],
            registered_on: self.registered_on[i],
            status: self.status[i],
            key_fields: self.key_fields[i],
            new_economy: self.new_economy[i],
        }
    }

    fn heap_bytes(&self) -> usize {
        let n = self.uscc.capacity();
        n * (18 + 4 + 1 + 1 + 4 + 5 + 4 + 1 + 1) + self.names.capacity() * 8 + self.name_text.bytes()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleRow {
    pub person: u32,
    pub role: RoleKind,
    pub since: Date,
    pub until: Option<Date>,
}

impl RoleRow {
    pub fn held_on(&self, d: Date) -> bool {
        self.since <= d && self.until.is_none_or(|u| u >= d)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvaluationRow {
    pub kind: EvaluationKind,
    pub source: Sym,
    pub evaluated_on: Date,
    pub grade: Sym,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PenaltyRow {
    pub decision_no: Str,
    pub department: Sym,
    pub decided_on: Date,
    pub severity: Severity,
    pub intentional: bool,
    pub harmful: bool,
    pub disclosure_until: Date,
    pub fulfilled_on: Option<Date>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListingRow {
    pub listing_id: Str,
    pub department: Sym,
    pub listed_on: Date,
    pub reason: AbnormalReason,
    pub removed_on: Option<Date>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComplaintRow {
    pub complaint_id: Str,
    pub hotline: Hotline,
    pub department: Sym,
    pub received_on: Date,
    pub status: ComplaintStatus,
    pub concluded_on: Option<Date>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitmentRow {
    pub commitment_id: Str,
    pub kind: CommitmentKind,
    pub made_on: Date,
    pub subject: Str,
    pub status: CommitmentStatus,
    pub checked_on: Option<Date>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InspectionRow {
    pub inspection_id: Str,
    pub department: Sym,
    pub inspected_on: Date,
    pub kind: InspectionKind,
    pub result: InspectionResult,
    /// Officers, as a range of [`Snapshot::inspection_officers`].
    pub officers_at: u32,
    pub officers_len: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepairRow {
    pub repair_id: Str,
    /// Id of the penalty, listing or complaint (of the same entity).
    pub record_id: Str,
    pub applied_on: Date,
    /// Global index of the repair commitment in [`Snapshot::commitments`].
    pub commitment: Option<u32>,
}

/// Every table of a dataset, compact. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub entities: Entities,
    /// Person ids, sorted; roles refer to them by index.
    pub persons: Vec<PersonId>,
    pub roles: Table<RoleRow>,
    pub evaluations: Table<EvaluationRow>,
    pub penalties: Table<PenaltyRow>,
    pub listings: Table<ListingRow>,
    pub complaints: Table<ComplaintRow>,
    pub commitments: Table<CommitmentRow>,
    pub inspections: Table<InspectionRow>,
    pub repairs: Table<RepairRow>,
    /// Officer indices of inspections (see [`InspectionRow::officers_at`]).
    pub inspection_officers: Vec<u32>,
    pub departments: Vec<Department>,
    pub inspection_items: Vec<InspectionItem>,
    pub officers: Vec<Officer>,
    pub officer_relations: Vec<OfficerRelation>,
    /// Record ids, commitment subjects.
    pub texts: Texts,
    /// Departments, evaluation sources and grades.
    pub symbols: Symbols,
}

impl Snapshot {
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    pub fn text(&self, s: Str) -> &str {
        self.texts.get(s)
    }

    pub fn sym(&self, s: Sym) -> &str {
        self.symbols.get(s)
    }

    pub fn person(&self, i: u32) -> PersonId {
        self.persons[i as usize]
    }

    /// Index of a person id, if the person exists.
    pub fn find_person(&self, p: &PersonId) -> Option<u32> {
        self.persons.binary_search(p).ok().map(|i| i as u32)
    }

    /// Bytes held on the heap (an estimate from capacities, for reports).
    pub fn heap_bytes(&self) -> usize {
        self.entities.heap_bytes()
            + self.persons.capacity() * 16
            + self.roles.heap_bytes()
            + self.evaluations.heap_bytes()
            + self.penalties.heap_bytes()
            + self.listings.heap_bytes()
            + self.complaints.heap_bytes()
            + self.commitments.heap_bytes()
            + self.inspections.heap_bytes()
            + self.repairs.heap_bytes()
            + self.inspection_officers.capacity() * 4
            + self.texts.bytes()
    }

    /// The officer ids of an inspection.
    pub fn officers_of(&self, x: &InspectionRow) -> impl Iterator<Item = &str> {
        let a = x.officers_at as usize;
        self.inspection_officers[a..a + usize::from(x.officers_len)]
            .iter()
            .map(|&o| self.officers[o as usize].officer_id.as_str())
    }

    /// An entity's commitments as model rows.
    pub fn commitments_of(&self, e: EntityId) -> Vec<Commitment> {
        let uscc = self.entities.uscc[e as usize];
        self.commitments
            .of(e)
            .iter()
            .map(|c| Commitment {
                commitment_id: self.text(c.commitment_id).to_string(),
                uscc,
                kind: c.kind,
                made_on: c.made_on,
                subject: self.text(c.subject).to_string(),
                status: c.status,
                checked_on: c.checked_on,
            })
            .collect()
    }

    /// An entity's repair applications as model rows.
    pub fn repairs_of(&self, e: EntityId) -> Vec<RepairApplication> {
        let uscc = self.entities.uscc[e as usize];
        self.repairs
            .of(e)
            .iter()
            .map(|r| RepairApplication {
                repair_id: self.text(r.repair_id).to_string(),
                uscc,
                record_id: self.text(r.record_id).to_string(),
                applied_on: r.applied_on,
                commitment_id: r
                    .commitment
                    .map(|c| self.text(self.commitments.rows()[c as usize].commitment_id).to_string()),
            })
            .collect()
    }

    /// The given entities (and everything about them) as model rows, with
    /// every person, officer and department they refer to: a small dataset
    /// that classifies those entities as the whole one does.
    pub fn subset(&self, ids: &[EntityId]) -> Dataset {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut ds = Dataset {
            departments: self.departments.clone(),
            inspection_items: self.inspection_items.clone(),
            officers: self.officers.clone(),
            officer_relations: self.officer_relations.clone(),
            ..Dataset::default()
        };
        let mut persons: Vec<PersonId> = self.officers.iter().map(|o| o.person_id).collect();
        persons.extend(self.officer_relations.iter().map(|r| r.person_id));
        for &e in &ids {
            let uscc = self.entities.uscc[e as usize];
            ds.entities.push(self.entities.get(e));
            for r in self.roles.of(e) {
                persons.push(self.person(r.person));
                ds.roles.push(Role {
                    uscc,
                    person_id: self.person(r.person),
                    role: r.role,
                    since: r.since,
                    until: r.until,
                });
            }
            for v in self.evaluations.of(e) {
                ds.evaluations.push(CreditEvaluation {
                    uscc,
                    kind: v.kind,
                    source: self.sym(v.source).to_string(),
                    evaluated_on: v.evaluated_on,
                    grade: self.sym(v.grade).to_string(),
                });
            }
            for p in self.penalties.of(e) {
                ds.penalties.push(Penalty {
                    decision_no: self.text(p.decision_no).to_string(),
                    uscc,
                    department: self.sym(p.department).to_string(),
                    decided_on: p.decided_on,
                    severity: p.severity,
                    intentional: p.intentional,
                    harmful: p.harmful,
                    disclosure_until: p.disclosure_until,
                    fulfilled_on: p.fulfilled_on,
                });
            }
            for a in self.listings.of(e) {
                ds.abnormal_listings.push(AbnormalListing {
                    listing_id: self.text(a.listing_id).to_string(),
                    uscc,
                    department: self.sym(a.department).to_string(),
                    listed_on: a.listed_on,
                    reason: a.reason,
                    removed_on: a.removed_on,
                });
            }
            for c in self.complaints.of(e) {
                ds.complaints.push(Complaint {
                    complaint_id: self.text(c.complaint_id).to_string(),
                    uscc,
                    hotline: c.hotline,
                    department: self.sym(c.department).to_string(),
                    received_on: c.received_on,
                    status: c.status,
                    concluded_on: c.concluded_on,
                });
            }
            ds.commitments.extend(self.commitments_of(e));
            for x in self.inspections.of(e) {
                ds.inspections.push(InspectionRecord {
                    inspection_id: self.text(x.inspection_id).to_string(),
                    uscc,
                    department: self.sym(x.department).to_string(),
                    inspected_on: x.inspected_on,
                    kind: x.kind,
                    result: x.result,
                    officers: self.officers_of(x).map(str::to_string).collect(),
                });
            }
            ds.repairs.extend(self.repairs_of(e));
        }
        persons.sort_unstable();
        persons.dedup();
        // Regions of persons are not kept in a snapshot; any valid code does.
        let region = self.entities.region.first().copied().unwrap_or(370102);
        ds.persons = persons.into_iter().map(|person_id| Person { person_id, region }).collect();
        ds
    }

    /// The latest date any record or registration carries: a default as-of
    /// date that does not depend on the wall clock.
    pub fn horizon(&self) -> Date {
        let dates = self
            .penalties
            .rows()
            .iter()
            .map(|p| p.decided_on)
            .chain(self.listings.rows().iter().map(|a| a.listed_on))
            .chain(self.complaints.rows().iter().map(|c| c.received_on))
            .chain(self.commitments.rows().iter().map(|c| c.made_on))
            .chain(self.inspections.rows().iter().map(|i| i.inspected_on))
            .chain(self.entities.registered_on.iter().copied());
        dates.max().unwrap_or_else(|| Date::from_ymd_opt(2000, 1, 1).expect("date"))
    }

    /// Adds officers' submitted results as records, so the next
    /// classification sees them: each becomes an inspection record, and a
    /// commitment check's verdict settles the entity's pending
    /// approval-substitute commitments (a breach then counts as dishonesty).
    pub fn add_results(&mut self, results: &[SubmittedResult]) -> Result<(), UnknownEntity> {
        let mut more = Vec::new();
        for r in results {
            let e = self.entities.find(&r.uscc).ok_or(UnknownEntity(r.uscc))?;
            let id = self.texts.push(&r.inspection_id).map_err(|_| UnknownEntity(r.uscc))?;
            let department = self.symbols.intern(&r.department);
            let officers_at = self.inspection_officers.len() as u32;
            let mut officers_len = 0u16;
            if let Some(o) = self.officers.iter().position(|o| o.officer_id == r.officer_id) {
                self.inspection_officers.push(o as u32);
                officers_len = 1;
            }
            more.push((
                e,
                InspectionRow {
                    inspection_id: id,
                    department,
                    inspected_on: r.inspected_on,
                    kind: if r.commitment_status.is_some() {
                        InspectionKind::CommitmentCheck
                    } else {
                        InspectionKind::JointRandom
                    },
                    result: r.result,
                    officers_at,
                    officers_len,
                },
            ));
            if let Some(status) = r.commitment_status {
                let start = self.commitments.start(e);
                let n = self.commitments.of(e).len();
                for c in &mut self.commitments.rows_mut()[start..start + n] {
                    if c.kind == CommitmentKind::ApprovalSubstitute
                        && c.made_on <= r.inspected_on
                        && c.status == CommitmentStatus::Pending
                    {
                        c.status = status;
                        c.checked_on = Some(r.inspected_on);
                    }
                }
            }
        }
        let n = self.len();
        self.inspections.extend(n, more);
        Ok(())
    }
}

/// An officer's submitted result, as the classification sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct SubmittedResult {
    pub inspection_id: String,
    pub uscc: Uscc,
    pub department: String,
    pub officer_id: String,
    pub inspected_on: Date,
    pub result: InspectionResult,
    pub commitment_status: Option<CommitmentStatus>,
}

#[derive(Debug, thiserror::Error)]
#[error("entity {0} is not in the dataset")]
pub struct UnknownEntity(pub Uscc);
