//! A dataset in compact columns: what a province-sized classification keeps
//! in memory. Entities are numbered by their credit code's rank (so shards
//! of consecutive ids are credit-code ranges, and output sorted by id is
//! sorted by credit code); every other table is grouped by entity (CSR),
//! with text in shared buffers and repeated small strings interned.
//!
//! Invariants: plain data, no IO, built only by `data` (which validates it
//! first), so every reference inside it resolves. Memory per entity is
//! written down in ARCHITECTURE.md ("Memory").
//!
//! Long on purpose: the column primitives (texts, symbols, offsets,
//! tables) and the snapshot's own columns share private layout details.

mod graph;
mod names;
mod objections;
mod place;

use std::sync::Arc;

use crate::model::*;

pub use graph::RoleGraph;
pub use names::Names;
pub use objections::RecordObjections;

/// An entity's number in a snapshot: the rank of its credit code.
pub type EntityId = u32;

/// A string in a [`Texts`] buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Str {
    at: u32,
    len: u32,
}

/// Many strings in a few large blocks: no allocation per string, 8 bytes
/// per handle.
///
/// The blocks are never moved: one buffer grown by doubling copied every
/// byte at each growth and, for that moment, held the old buffer and the
/// new one. At 15M entities the record ids (about 350 MB) doubled from 248
/// to 496 MB while the last tables were read, the load's highest point.
/// The first block grows by doubling up to [`FIRST_BLOCK`] bytes (small
/// datasets stay small); every later block is reserved whole (its
/// untouched part is not resident). The first block once doubled up to the
/// whole block size: at 3M the load's thread copied 64 MiB of names and
/// again of record ids on the way, and touched twice the memory, while the
/// readers waited for it.
#[derive(Clone, Debug)]
pub struct Texts {
    /// Whole `&str`s one after another, so a handle slices out a `&str`
    /// checking only its two ends (never the UTF-8 of every byte again). A
    /// string never spans two blocks; one longer than a block has one of
    /// its own. The last block is the one being filled.
    blocks: Vec<String>,
    /// A handle's `at` is its block's number above these bits and its
    /// offset in the block below them.
    bits: u32,
}

/// Bits of a block's size: 64 MiB blocks, 64 of them in the 4 GiB a handle
/// addresses.
const BLOCK_BITS: u32 = 26;

/// Bytes the first block grows to, by doubling, before the next block is
/// reserved whole.
const FIRST_BLOCK: usize = 1 << 20;

impl Default for Texts {
    fn default() -> Self {
        Texts::with_block_bits(BLOCK_BITS)
    }
}

/// More text than one buffer addresses (4 GiB).
#[derive(Debug, thiserror::Error)]
#[error("more than 4 GiB of text in one column: split the dataset")]
pub struct TextOverflow;

impl Texts {
    fn with_block_bits(bits: u32) -> Texts {
        assert!((1..32).contains(&bits), "a block is addressed within a u32");
        Texts { blocks: Vec::new(), bits }
    }

    fn block_size(&self) -> usize {
        1 << self.bits
    }

    /// The handle of `len` bytes at `within` in block `block`, if it is
    /// addressed by a `u32`.
    fn handle(&self, block: usize, within: usize, len: usize) -> Result<Str, TextOverflow> {
        let at = u32::try_from(((block as u64) << self.bits) | within as u64).map_err(|_| TextOverflow)?;
        Ok(Str { at, len: u32::try_from(len).map_err(|_| TextOverflow)? })
    }

    pub fn push(&mut self, s: &str) -> Result<Str, TextOverflow> {
        if s.is_empty() {
            return Ok(Str::default());
        }
        let block = self.block_size();
        // The first block grows while it is small; a whole block never
        // grows (it was reserved whole, or holds one long string).
        let room = |b: &String| if self.blocks.len() == 1 { FIRST_BLOCK.max(b.capacity()).min(block) } else { block };
        let fits = self.blocks.last().is_some_and(|b| b.len() + s.len() <= room(b));
        if !fits {
            // A new block, checked to be addressable before it is made.
            self.handle(self.blocks.len(), 0, s.len())?;
            let first = self.blocks.is_empty() && s.len() <= block;
            self.blocks.push(if first { String::new() } else { String::with_capacity(block.max(s.len())) });
        }
        let n = self.blocks.len() - 1;
        let handle = self.handle(n, self.blocks[n].len(), s.len())?;
        self.blocks[n].push_str(s);
        Ok(handle)
    }

    /// The bytes of a string (valid UTF-8), without checking them again.
    pub fn get_bytes(&self, s: Str) -> &[u8] {
        self.get(s).as_bytes()
    }

    /// The string of a handle this buffer gave; an empty string for any
    /// other (out of range, or not on character boundaries).
    pub fn get(&self, s: Str) -> &str {
        let block = (s.at >> self.bits) as usize;
        let within = (s.at & ((1u32 << self.bits) - 1)) as usize;
        self.blocks.get(block).and_then(|b| b.get(within..within + s.len as usize)).unwrap_or_default()
    }

    pub fn bytes(&self) -> usize {
        self.blocks.iter().map(String::capacity).sum()
    }

    /// Gives back the last block's unused room.
    pub fn shrink(&mut self) {
        if let Some(last) = self.blocks.last_mut() {
            last.shrink_to_fit();
        }
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

/// Where each entity's rows start, in about two bytes per entity: a u32
/// base every [`Offsets::BLOCK`] entities and a u16 offset from it per
/// entity; plain u32 offsets when a block holds too many rows for that.
#[derive(Clone, Debug)]
enum Offsets {
    Packed { base: Vec<u32>, rel: Vec<u16> },
    Plain(Vec<u32>),
}

impl Offsets {
    const BLOCK: usize = 256;

    /// From plain offsets (`n + 1` of them, non-decreasing).
    fn new(plain: Vec<u32>) -> Offsets {
        let base: Vec<u32> = plain.iter().step_by(Self::BLOCK).copied().collect();
        let mut rel = Vec::with_capacity(plain.len());
        for (i, &o) in plain.iter().enumerate() {
            match u16::try_from(o - base[i / Self::BLOCK]) {
                Ok(r) => rel.push(r),
                Err(_) => return Offsets::Plain(plain),
            }
        }
        Offsets::Packed { base, rel }
    }

    fn get(&self, i: usize) -> u32 {
        match self {
            Offsets::Packed { base, rel } => base[i / Self::BLOCK] + u32::from(rel[i]),
            Offsets::Plain(v) => v[i],
        }
    }

    fn len(&self) -> usize {
        match self {
            Offsets::Packed { rel, .. } => rel.len(),
            Offsets::Plain(v) => v.len(),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Offsets::Packed { base, rel } => base.capacity() * 4 + rel.capacity() * 2,
            Offsets::Plain(v) => v.capacity() * 4,
        }
    }
}

/// Rows grouped by entity: the rows of entity `e` are
/// `rows[offsets[e]..offsets[e + 1]]`.
#[derive(Clone, Debug)]
pub struct Table<T> {
    offsets: Offsets,
    rows: Vec<T>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table { offsets: Offsets::Plain(vec![0]), rows: Vec::new() }
    }
}

impl<T> Table<T> {
    /// Groups rows by entity (`entity(row)`) for `entities` entities,
    /// keeping the order of rows within an entity: a counting sort on
    /// every core ([`place::counting_sort`]), each row written straight
    /// to its place (no order of row numbers first: 4 bytes a row more
    /// while the largest tables are grouped).
    pub fn group_by<R>(
        entities: usize,
        rows: &[R],
        entity: impl Fn(&R) -> EntityId + Sync,
        row: impl Fn(&R) -> T + Sync,
    ) -> Table<T>
    where
        R: Sync,
        T: Copy + Send + Sync,
    {
        let (offsets, rows) =
            place::counting_sort(place::parts(rows.len()), entities, rows, |r| entity(r) as usize, |_, r| row(r));
        Table { offsets: Offsets::new(offsets), rows }
    }

    /// Groups `(entity, row)` pairs for `entities` entities; the order of
    /// rows within an entity is kept.
    pub fn group(entities: usize, pairs: Vec<(EntityId, T)>) -> Table<T>
    where
        T: Copy + Send + Sync,
    {
        Table::group_by(entities, &pairs, |p| p.0, |p| p.1)
    }

    pub fn of(&self, e: EntityId) -> &[T] {
        let (a, b) = (self.offsets.get(e as usize) as usize, self.offsets.get(e as usize + 1) as usize);
        &self.rows[a..b]
    }

    /// Global index of the first row of `e`.
    pub fn start(&self, e: EntityId) -> usize {
        self.offsets.get(e as usize) as usize
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
        // The last entity whose rows start at or before `row`.
        let (mut lo, mut hi) = (0usize, self.offsets.len());
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if self.offsets.get(mid) as usize <= row {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo as EntityId
    }

    /// The same grouping with each row mapped.
    pub fn map<U: Send>(self, f: impl Fn(&T) -> U + Sync) -> Table<U>
    where
        T: Sync,
    {
        use rayon::prelude::*;
        let rows = self.rows.par_iter().map(&f).collect();
        Table { offsets: self.offsets, rows }
    }

    /// Adds rows (kept after the existing rows of their entity).
    pub fn extend(&mut self, entities: usize, more: Vec<(EntityId, T)>)
    where
        T: Copy + Send + Sync,
    {
        if more.is_empty() {
            return;
        }
        let old = std::mem::take(self);
        let mut pairs: Vec<(EntityId, T)> = Vec::with_capacity(old.rows.len() + more.len());
        let mut rows = old.rows.into_iter();
        for e in 0..entities {
            let n = (old.offsets.get(e + 1) - old.offsets.get(e)) as usize;
            pairs.extend(rows.by_ref().take(n).map(|r| (e as EntityId, r)));
        }
        pairs.extend(more);
        *self = Table::group(entities, pairs);
    }

    fn heap_bytes(&self) -> usize {
        self.offsets.heap_bytes() + self.rows.capacity() * std::mem::size_of::<T>()
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
    /// Names by id, compressed.
    pub names: Names,
}

impl Entities {
    pub fn len(&self) -> usize {
        self.uscc.len()
    }

    pub fn is_empty(&self) -> bool {
        self.uscc.is_empty()
    }

    /// One entity's name (decompresses its block: for many, use
    /// [`Names::many`]).
    pub fn name(&self, e: EntityId) -> String {
        self.names.get(e)
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
            name: self.name(e),
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
        n * (18 + 4 + 1 + 1 + 4 + 5 + 4 + 1 + 1) + self.names.heap_bytes()
    }
}

/// A role, in 12 bytes: the person's index and the role kind share a word
/// (a province has far fewer than 2^28 persons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleRow {
    person_role: u32,
    pub since: Date,
    pub until: Option<Date>,
}

/// More persons than a role row can address.
#[derive(Debug, thiserror::Error)]
#[error("more than {} persons: split the dataset", RoleRow::MAX_PERSONS)]
pub struct TooManyPersons;

impl RoleRow {
    pub const MAX_PERSONS: u32 = 1 << 28;

    pub fn new(person: u32, role: RoleKind, since: Date, until: Option<Date>) -> Result<RoleRow, TooManyPersons> {
        if person >= Self::MAX_PERSONS {
            return Err(TooManyPersons);
        }
        let kind = RoleKind::ALL.iter().position(|k| *k == role).unwrap_or(0) as u32;
        Ok(RoleRow { person_role: person << 4 | kind, since, until })
    }

    /// The person's index in [`Snapshot::persons`].
    pub fn person(&self) -> u32 {
        self.person_role >> 4
    }

    pub fn role(&self) -> RoleKind {
        RoleKind::ALL[(self.person_role & 15) as usize]
    }

    pub fn held_on(&self, d: Date) -> bool {
        self.since <= d && self.until.is_none_or(|u| u >= d)
    }
}

/// An evaluation in 12 bytes (sources and grades are few).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvaluationRow {
    pub kind: EvaluationKind,
    source: u16,
    grade: u16,
    pub evaluated_on: Date,
}

impl EvaluationRow {
    /// `None` when a symbol does not fit in 16 bits.
    pub fn new(kind: EvaluationKind, source: Sym, evaluated_on: Date, grade: Sym) -> Option<EvaluationRow> {
        Some(EvaluationRow {
            kind,
            source: u16::try_from(source.0).ok()?,
            grade: u16::try_from(grade.0).ok()?,
            evaluated_on,
        })
    }

    pub fn source(&self) -> Sym {
        Sym(u32::from(self.source))
    }

    pub fn grade(&self) -> Sym {
        Sym(u32::from(self.grade))
    }
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
    /// The department it was made to; `None`: unknown (any settles it).
    pub department: Option<Sym>,
    /// The approval it stands in for (告知承诺制 事项), if the dataset says.
    pub approval_item: Option<Str>,
}

impl CommitmentRow {
    /// Whether an officer's commitment-check verdict for `department`,
    /// inspected on `on`, settles this commitment: an approval-substitute
    /// commitment still pending, made by then, of that department (or of
    /// an unknown one).
    pub fn settled_by(&self, department: Sym, on: Date) -> bool {
        self.kind == CommitmentKind::ApprovalSubstitute
            && self.status == CommitmentStatus::Pending
            && self.made_on <= on
            && self.department.is_none_or(|d| d == department)
    }
}

/// A commitment an officer's result settled (see [`Snapshot::add_results`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// Index of the result in the slice given.
    pub result: usize,
    /// Global index of the commitment in [`Snapshot::commitments`].
    pub commitment: u32,
    pub status: CommitmentStatus,
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
    /// Objections filed in the store (none in a dataset's own files).
    pub objections: RecordObjections,
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

    /// Heap bytes by part, for memory reports.
    pub fn heap_report(&self) -> String {
        let mb = |b: usize| b / 1_000_000;
        format!(
            "entities {} (names {}), persons {}, roles {}, evaluations {}, records {}, texts {}",
            mb(self.entities.heap_bytes()),
            mb(self.entities.names.heap_bytes()),
            mb(self.persons.capacity() * 16),
            mb(self.roles.heap_bytes()),
            mb(self.evaluations.heap_bytes()),
            mb(self.penalties.heap_bytes()
                + self.listings.heap_bytes()
                + self.complaints.heap_bytes()
                + self.commitments.heap_bytes()
                + self.inspections.heap_bytes()
                + self.repairs.heap_bytes()),
            mb(self.texts.bytes()),
        )
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
                commitment_id: self.text(c.commitment_id).into(),
                uscc,
                kind: c.kind,
                made_on: c.made_on,
                subject: self.text(c.subject).into(),
                status: c.status,
                checked_on: c.checked_on,
                department: c.department.map(|d| self.sym(d).into()),
                approval_item: c.approval_item.map(|a| self.text(a).into()),
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
                repair_id: self.text(r.repair_id).into(),
                uscc,
                record_id: self.text(r.record_id).into(),
                applied_on: r.applied_on,
                commitment_id: r
                    .commitment
                    .map(|c| self.text(self.commitments.rows()[c as usize].commitment_id).into()),
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
                persons.push(self.person(r.person()));
                ds.roles.push(Role {
                    uscc,
                    person_id: self.person(r.person()),
                    role: r.role(),
                    since: r.since,
                    until: r.until,
                });
            }
            for v in self.evaluations.of(e) {
                ds.evaluations.push(CreditEvaluation {
                    uscc,
                    kind: v.kind,
                    source: self.sym(v.source()).into(),
                    evaluated_on: v.evaluated_on,
                    grade: self.sym(v.grade()).into(),
                });
            }
            for p in self.penalties.of(e) {
                ds.penalties.push(Penalty {
                    decision_no: self.text(p.decision_no).into(),
                    uscc,
                    department: self.sym(p.department).into(),
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
                    listing_id: self.text(a.listing_id).into(),
                    uscc,
                    department: self.sym(a.department).into(),
                    listed_on: a.listed_on,
                    reason: a.reason,
                    removed_on: a.removed_on,
                });
            }
            for c in self.complaints.of(e) {
                ds.complaints.push(Complaint {
                    complaint_id: self.text(c.complaint_id).into(),
                    uscc,
                    hotline: c.hotline,
                    department: self.sym(c.department).into(),
                    received_on: c.received_on,
                    status: c.status,
                    concluded_on: c.concluded_on,
                });
            }
            ds.commitments.extend(self.commitments_of(e));
            for x in self.inspections.of(e) {
                ds.inspections.push(InspectionRecord {
                    inspection_id: self.text(x.inspection_id).into(),
                    uscc,
                    department: self.sym(x.department).into(),
                    inspected_on: x.inspected_on,
                    kind: x.kind,
                    result: x.result,
                    officers: self.officers_of(x).map(Into::into).collect(),
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
    /// approval-substitute commitments of the result's department
    /// ([`CommitmentRow::settled_by`]; a breach then counts as dishonesty).
    pub fn add_results(&mut self, results: &[SubmittedResult]) -> Result<(), UnknownEntity> {
        self.add_results_settling(results).map(drop)
    }

    /// [`Snapshot::add_results`], answering which commitments each result
    /// settled, in the order of `results`.
    pub fn add_results_settling(&mut self, results: &[SubmittedResult]) -> Result<Vec<Settlement>, UnknownEntity> {
        let mut settled = Vec::new();
        let mut more = Vec::new();
        for (k, r) in results.iter().enumerate() {
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
                for (i, c) in self.commitments.rows_mut()[start..start + n].iter_mut().enumerate() {
                    if c.settled_by(department, r.inspected_on) {
                        c.status = status;
                        c.checked_on = Some(r.inspected_on);
                        settled.push(Settlement { result: k, commitment: (start + i) as u32, status });
                    }
                }
            }
        }
        let n = self.len();
        self.inspections.extend(n, more);
        Ok(settled)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// issue #13: only the commitment's own department (or any, when the
    /// dataset does not say) settles it, and only while pending.
    #[test]
    fn a_commitment_is_settled_by_its_own_department_only() {
        let on = Date::from_ymd_opt(2026, 7, 10).unwrap();
        let (mr, mpa) = (Sym(1), Sym(2));
        let c = CommitmentRow {
            commitment_id: Str::default(),
            kind: CommitmentKind::ApprovalSubstitute,
            made_on: Date::from_ymd_opt(2026, 6, 1).unwrap(),
            subject: Str::default(),
            status: CommitmentStatus::Pending,
            checked_on: None,
            department: Some(mpa),
            approval_item: None,
        };
        assert!(c.settled_by(mpa, on));
        assert!(!c.settled_by(mr, on), "another department's result");
        assert!(CommitmentRow { department: None, ..c }.settled_by(mr, on), "unknown department: any");
        assert!(!c.settled_by(mpa, Date::from_ymd_opt(2026, 5, 31).unwrap()), "inspected before it was made");
        assert!(!CommitmentRow { status: CommitmentStatus::Breached, ..c }.settled_by(mpa, on), "already settled");
        assert!(!CommitmentRow { kind: CommitmentKind::Public, ..c }.settled_by(mpa, on), "not an approval");
    }

    #[test]
    fn texts_give_back_what_was_pushed_and_nothing_for_a_foreign_handle() {
        let mut t = Texts::default();
        let a = t.push("甲乙").unwrap();
        let b = t.push("").unwrap();
        let c = t.push("x-1").unwrap();
        assert_eq!((t.get(a), t.get(b), t.get(c)), ("甲乙", "", "x-1"));
        assert_eq!(t.get_bytes(c), b"x-1");
        // Inside a character, or past the end: empty, never a panic.
        assert_eq!(t.get(Str { at: 1, len: 2 }), "");
        assert_eq!(t.get(Str { at: 7, len: 5 }), "");
        assert_eq!(t.get(Str { at: u32::MAX, len: u32::MAX }), "");
    }

    /// Strings across many small blocks, longer than a block, empty, and
    /// handles into blocks that do not exist.
    #[test]
    fn texts_in_blocks_give_back_what_was_pushed() {
        let mut t = Texts::with_block_bits(4);
        let words: Vec<String> = (0..300)
            .map(|i| ["甲x".repeat(i % 7), "y".repeat(i % 5), "z".repeat(if i % 41 == 0 { 40 } else { 0 })].concat())
            .collect();
        let handles: Vec<Str> = words.iter().map(|w| t.push(w).expect("fits")).collect();
        for (w, h) in words.iter().zip(&handles) {
            assert_eq!(t.get(*h), w.as_str());
        }
        // No string spans two blocks; one longer than a block is alone in its own.
        assert!(t.blocks.iter().all(|b| b.len() <= 16 || words.iter().any(|w| w.len() > 16 && w == b)));
        assert!(words.iter().any(|w| w.len() > 16));
        assert!(t.blocks.len() > 100, "{}", t.blocks.len());
        assert_eq!(t.get(Str { at: (t.blocks.len() as u32) << 4, len: 1 }), "");
        // The handle of a block past what a u32 addresses is refused.
        assert!(t.handle(1 << 28, 0, 1).is_err());
        assert!(t.handle((1 << 28) - 1, 15, 1).is_ok());
        // The default blocks: one block, grown as needed while small.
        let mut d = Texts::default();
        let a = d.push("abc").expect("fits");
        assert_eq!((d.get(a), d.blocks.len()), ("abc", 1));
        assert!(d.bytes() < 1024);
        // Past that, the first block is never copied to grow: the next is
        // reserved whole.
        let word = "甲".repeat(1000);
        let handles: Vec<Str> = (0..1000).map(|_| d.push(&word).expect("fits")).collect();
        assert_eq!(d.blocks.len(), 2, "3 MB of text in a small first block and a whole second one");
        assert!(d.blocks[0].capacity() <= 2 * FIRST_BLOCK, "{}", d.blocks[0].capacity());
        assert_eq!(d.blocks[1].capacity(), 1 << BLOCK_BITS);
        assert!(handles.iter().all(|h| d.get(*h) == word));
    }

    #[test]
    fn grouped_rows_are_found_by_entity_packed_or_plain() {
        // Entity 3 has 70,000 rows: too many for packed offsets in its block.
        for big in [10usize, 70_000] {
            let mut pairs: Vec<(EntityId, u32)> = Vec::new();
            for e in (0..600u32).rev() {
                let n = if e == 3 { big } else { (e % 4) as usize };
                pairs.extend((0..n).map(|k| (e, e * 100_000 + k as u32)));
            }
            let t = Table::group(600, pairs);
            assert_eq!(matches!(t.offsets, Offsets::Plain(_)), big > 65_535);
            for e in 0..600u32 {
                let n = if e == 3 { big } else { (e % 4) as usize };
                let rows = t.of(e);
                assert_eq!(rows.len(), n, "entity {e}");
                assert!(rows.iter().enumerate().all(|(k, r)| *r == e * 100_000 + k as u32), "order kept");
                if n > 0 {
                    assert_eq!(t.entity_of(t.start(e)), e);
                    assert_eq!(t.entity_of(t.start(e) + n - 1), e);
                }
            }
        }
    }
}
