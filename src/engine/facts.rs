//! What a rule sees of one entity: its attributes, aggregated credit
//! evaluations, its records as of the evaluation date, and what earlier
//! stages of the same run decided. Built by `classify`; read by rules
//! through typed getters.

use crate::model::objection::ObjectionStatus;
use crate::model::*;

/// Shared, cheaply cloned text (what Rhai strings are made of): a rule
/// reading `r.id` a million times must not copy it a million times.
pub type Text = rhai::ImmutableString;

/// Kinds of records rules see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    Penalty,
    AbnormalListing,
    /// A verified complaint.
    Complaint,
    /// A commitment found breached or false.
    CommitmentBreach,
    /// An inspection that found a violation.
    Inspection,
    /// A reminder and interview (提醒约谈) for repeated violations.
    Reminder,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Penalty => "penalty",
            RecordKind::AbnormalListing => "abnormal_listing",
            RecordKind::Complaint => "complaint",
            RecordKind::CommitmentBreach => "commitment_breach",
            RecordKind::Inspection => "inspection",
            RecordKind::Reminder => "reminder",
        }
    }
}

/// One record, flattened so every kind answers the same getters (fields a
/// kind does not have are absent).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecordFacts {
    pub kind: RecordKind,
    /// Decision number, listing, complaint, commitment or inspection id.
    pub id: Text,
    /// The date the record arose: decision, listing, conclusion of the
    /// complaint, check of the commitment, inspection.
    pub date: Date,
    pub department: Text,
    pub severity: Option<Severity>,
    pub intentional: bool,
    pub harmful: bool,
    pub disclosure_until: Option<Date>,
    pub fulfilled_on: Option<Date>,
    /// Abnormal listings: removal date.
    pub removed_on: Option<Date>,
    /// Abnormal listing reason, commitment kind, complaint hotline or
    /// inspection result.
    pub detail: Text,
    /// The latest repair application for this record, if any.
    pub repair: Option<RepairFacts>,
    /// Set by the `record_status` stage.
    pub status: Option<RecordStatus>,
    /// The latest objection to this record as of the date, if any: `Open`
    /// while it is disputed (异议申诉), then upheld or rejected.
    pub objection: Option<ObjectionStatus>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RepairFacts {
    pub repair_id: String,
    pub applied_on: Date,
    /// Status of the repair commitment made with the application
    /// (`pending`, `fulfilled`, `breached`), or `None` if none was made.
    pub commitment: Option<CommitmentStatus>,
}

/// How a propagated flag reached an entity (filled by propagation).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PropagatedFlag {
    pub effect: LinkEffect,
    /// The blacklisted entity the flag started from.
    pub source: Uscc,
    /// e.g. `9137… -legal_representative-> p:ab12… -director-> 9137…`.
    pub path: String,
}

/// Everything the rules may read about one entity as of `as_of`.
#[derive(Clone, Debug)]
pub struct EntityFacts {
    pub uscc: Uscc,
    pub entity_type: EntityType,
    pub status: EntityStatus,
    pub region: u32,
    pub city: u32,
    pub industry: IndustryCode,
    pub registered_on: Date,
    pub key_fields: KeyFields,
    pub new_economy: Option<NewEconomy>,
    /// Latest composite grade on or before `as_of`.
    pub composite_grade: Option<String>,
    /// Latest industry grade per department, sorted by department.
    pub industry_grades: Vec<(String, String)>,
    /// Latest market rating.
    pub market_rating: Option<String>,
    /// When each of those evaluations was made (rules decide how long one
    /// stays valid).
    pub evaluation_dates: EvaluationDates,
    /// Records dated on or before `as_of`, by date then id.
    pub records: Vec<RecordFacts>,
    pub as_of: Date,
    pub stages: StageFacts,
}

/// The dates of an entity's latest evaluations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct EvaluationDates {
    pub composite: Option<Date>,
    pub market: Option<Date>,
    /// One per entry of `industry_grades`, in the same order.
    pub industry: Vec<Date>,
}

/// Outputs of earlier stages, readable by later ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StageFacts {
    pub tolerance_years: i64,
    pub tolerance_until: Option<Date>,
    pub accumulation: Option<AccumulationLevel>,
    pub tier: Option<u8>,
    pub blacklisted: bool,
    pub propagated: Vec<PropagatedFlag>,
}

/// A field a rule may declare in `reads` (rules.toml). Reading an
/// undeclared field is an error, so the engine knows exactly what each
/// decision depends on and can evaluate each distinct input once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Uscc,
    EntityType,
    Status,
    Region,
    Industry,
    RegisteredOn,
    KeyFields,
    NewEconomy,
    CompositeGrade,
    IndustryGrades,
    MarketRating,
    Records,
    /// Records still current after the record_status stage (status
    /// `counted` or `exempt`): what later stages usually need, and far
    /// fewer distinct inputs than all records.
    CurrentRecords,
    Tolerance,
    Accumulation,
    Tier,
    Blacklist,
    Propagation,
}

impl Field {
    pub const ALL: &'static [(Field, &'static str)] = &[
        (Field::Uscc, "uscc"),
        (Field::EntityType, "entity_type"),
        (Field::Status, "status"),
        (Field::Region, "region"),
        (Field::Industry, "industry"),
        (Field::RegisteredOn, "registered_on"),
        (Field::KeyFields, "key_fields"),
        (Field::NewEconomy, "new_economy"),
        (Field::CompositeGrade, "composite_grade"),
        (Field::IndustryGrades, "industry_grades"),
        (Field::MarketRating, "market_rating"),
        (Field::Records, "records"),
        (Field::CurrentRecords, "current_records"),
        (Field::Tolerance, "tolerance"),
        (Field::Accumulation, "accumulation"),
        (Field::Tier, "tier"),
        (Field::Blacklist, "blacklist"),
        (Field::Propagation, "propagation"),
    ];

    pub fn parse(s: &str) -> Option<Field> {
        Field::ALL.iter().find(|(_, n)| *n == s).map(|(f, _)| *f)
    }

    pub fn name(self) -> &'static str {
        Field::ALL.iter().find(|(f, _)| *f == self).map(|(_, n)| *n).unwrap_or("?")
    }

    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of [`Field`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldMask(pub u32);

impl FieldMask {
    pub fn has(self, f: Field) -> bool {
        self.0 & f.bit() != 0
    }
    pub fn with(self, f: Field) -> FieldMask {
        FieldMask(self.0 | f.bit())
    }
    pub fn names(self) -> Vec<&'static str> {
        Field::ALL.iter().filter(|(f, _)| self.has(*f)).map(|(_, n)| *n).collect()
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_date(out: &mut Vec<u8>, d: Option<Date>) {
    let v = d.map(|d| chrono::Datelike::num_days_from_ce(&d)).unwrap_or(i32::MIN);
    out.extend_from_slice(&v.to_le_bytes());
}

/// What a rule can read of a record: one part per record getter, or
/// group of getters reading the same fact (`disputed` and `objection` both
/// read the objection; `repair_applied_on` the repair's date and presence,
/// `repair_commitment` its commitment). A stage's key holds only the parts
/// its functions can read (`engine::reads`), so two entities whose records
/// differ only in, say, their ids share one evaluation when the rule never
/// reads `r.id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordPart {
    Kind,
    Id,
    Date,
    Department,
    Severity,
    Intentional,
    Harmful,
    DisclosureUntil,
    FulfilledOn,
    RemovedOn,
    Detail,
    RepairAppliedOn,
    RepairCommitment,
    Status,
    Objection,
}

impl RecordPart {
    /// Every getter `host` registers on a record, and the part it reads.
    /// A test checks this table against `host::register_record`.
    pub const GETTERS: &'static [(&'static str, RecordPart)] = &[
        ("kind", RecordPart::Kind),
        ("id", RecordPart::Id),
        ("date", RecordPart::Date),
        ("department", RecordPart::Department),
        ("severity", RecordPart::Severity),
        ("intentional", RecordPart::Intentional),
        ("harmful", RecordPart::Harmful),
        ("disclosure_until", RecordPart::DisclosureUntil),
        ("fulfilled_on", RecordPart::FulfilledOn),
        ("removed_on", RecordPart::RemovedOn),
        ("detail", RecordPart::Detail),
        ("repair_applied_on", RecordPart::RepairAppliedOn),
        ("repair_commitment", RecordPart::RepairCommitment),
        ("status", RecordPart::Status),
        ("disputed", RecordPart::Objection),
        ("objection", RecordPart::Objection),
    ];

    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of [`RecordPart`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordParts(pub u32);

impl RecordParts {
    /// Every part: the key of a stage whose reads cannot be narrowed.
    pub const ALL: RecordParts = RecordParts(u32::MAX);
    pub const NONE: RecordParts = RecordParts(0);

    pub fn has(self, p: RecordPart) -> bool {
        self.0 & p.bit() != 0
    }
    pub fn with(self, p: RecordPart) -> RecordParts {
        RecordParts(self.0 | p.bit())
    }
    /// Names of the getters reading these parts.
    pub fn names(self) -> Vec<&'static str> {
        RecordPart::GETTERS.iter().filter(|(_, p)| self.has(*p)).map(|(n, _)| *n).collect()
    }
}

fn put_records<'a>(out: &mut Vec<u8>, records: impl Iterator<Item = &'a RecordFacts>, parts: RecordParts) {
    use RecordPart as P;
    let at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut n = 0u32;
    // Every part is fixed-size or length-prefixed and the parts written are
    // the same for every record of a stage: keys stay unambiguous.
    for r in records {
        n += 1;
        if parts.has(P::Kind) {
            out.push(r.kind as u8);
        }
        if parts.has(P::Id) {
            put_str(out, &r.id);
        }
        if parts.has(P::Date) {
            put_date(out, Some(r.date));
        }
        if parts.has(P::Department) {
            put_str(out, &r.department);
        }
        if parts.has(P::Severity) {
            out.push(r.severity.map_or(255, |s| s as u8));
        }
        if parts.has(P::Intentional) {
            out.push(u8::from(r.intentional));
        }
        if parts.has(P::Harmful) {
            out.push(u8::from(r.harmful));
        }
        if parts.has(P::DisclosureUntil) {
            put_date(out, r.disclosure_until);
        }
        if parts.has(P::FulfilledOn) {
            put_date(out, r.fulfilled_on);
        }
        if parts.has(P::RemovedOn) {
            put_date(out, r.removed_on);
        }
        if parts.has(P::Detail) {
            put_str(out, &r.detail);
        }
        if parts.has(P::RepairAppliedOn) {
            put_date(out, r.repair.as_ref().map(|x| x.applied_on));
        }
        if parts.has(P::RepairCommitment) {
            out.push(r.repair.as_ref().and_then(|x| x.commitment).map_or(255, |c| c as u8));
        }
        if parts.has(P::Status) {
            out.push(r.status.map_or(255, |s| s as u8));
        }
        if parts.has(P::Objection) {
            out.push(r.objection.map_or(255, |o| o as u8));
        }
    }
    out[at..at + 4].copy_from_slice(&n.to_le_bytes());
}

impl RecordFacts {
    /// A record of `kind` with only what every kind has; the builder fills
    /// the fields its kind has.
    pub fn new(kind: RecordKind, id: &str, date: Date, department: Text) -> RecordFacts {
        RecordFacts {
            kind,
            id: id.into(),
            date,
            department,
            severity: None,
            intentional: false,
            harmful: false,
            disclosure_until: None,
            fulfilled_on: None,
            removed_on: None,
            detail: Text::from(""),
            repair: None,
            status: None,
            objection: None,
        }
    }

    /// Still current: the record_status stage counted or exempted it.
    pub fn is_current(&self) -> bool {
        self.status.is_some_and(RecordStatus::is_current)
    }
}

impl EntityFacts {
    /// The bytes of the fields in `mask`, and of records only the `parts`
    /// a rule can read: two entities with equal keys get the same answer
    /// from a rule that reads only those.
    pub fn key(&self, mask: FieldMask, parts: RecordParts, out: &mut Vec<u8>) {
        out.clear();
        self.append_key(mask, parts, out);
    }

    /// [`EntityFacts::key`] appended to `out`.
    pub fn append_key(&self, mask: FieldMask, parts: RecordParts, out: &mut Vec<u8>) {
        // Only the fields in the mask, lowest bit first: `Field::ALL` is in
        // bit order (`fields_are_listed_in_bit_order`), so the bytes are
        // those of a walk over every field that skips the others.
        let mut bits = mask.0;
        while bits != 0 {
            let Some((f, _)) = Field::ALL.get(bits.trailing_zeros() as usize) else { break };
            bits &= bits - 1;
            out.push(*f as u8);
            match f {
                Field::Uscc => out.extend_from_slice(self.uscc.as_bytes()),
                Field::EntityType => out.push(self.entity_type as u8),
                Field::Status => out.push(self.status as u8),
                Field::Region => out.extend_from_slice(&self.region.to_le_bytes()),
                Field::Industry => put_str(out, self.industry.as_str()),
                Field::RegisteredOn => put_date(out, Some(self.registered_on)),
                Field::KeyFields => out.push(self.key_fields.0),
                Field::NewEconomy => out.push(self.new_economy.map_or(255, |n| n as u8)),
                Field::CompositeGrade => {
                    put_str(out, self.composite_grade.as_deref().unwrap_or(""));
                    put_date(out, self.evaluation_dates.composite);
                }
                Field::IndustryGrades => {
                    out.extend_from_slice(&(self.industry_grades.len() as u32).to_le_bytes());
                    for (i, (d, g)) in self.industry_grades.iter().enumerate() {
                        put_str(out, d);
                        put_str(out, g);
                        put_date(out, self.evaluation_dates.industry.get(i).copied());
                    }
                }
                Field::MarketRating => {
                    put_str(out, self.market_rating.as_deref().unwrap_or(""));
                    put_date(out, self.evaluation_dates.market);
                }
                Field::Records => put_records(out, self.records.iter(), parts),
                Field::CurrentRecords => put_records(out, self.records.iter().filter(|r| r.is_current()), parts),
                Field::Tolerance => {
                    out.extend_from_slice(&self.stages.tolerance_years.to_le_bytes());
                    put_date(out, self.stages.tolerance_until);
                }
                Field::Accumulation => out.push(self.stages.accumulation.map_or(255, |a| a as u8)),
                Field::Tier => out.push(self.stages.tier.unwrap_or(0)),
                Field::Blacklist => out.push(u8::from(self.stages.blacklisted)),
                Field::Propagation => {
                    out.extend_from_slice(&(self.stages.propagated.len() as u32).to_le_bytes());
                    for p in &self.stages.propagated {
                        out.push(p.effect as u8);
                        out.extend_from_slice(p.source.as_bytes());
                        put_str(out, &p.path);
                    }
                }
            }
        }
    }

    /// Sets the tolerance stage's answer: `years` from registration.
    pub fn set_tolerance(&mut self, years: i64) {
        self.stages.tolerance_years = years;
        self.stages.tolerance_until = (years > 0)
            .then(|| self.registered_on.checked_add_months(chrono::Months::new(12 * years as u32)))
            .flatten();
    }

    /// Whether the entity is inside its tolerance period on `as_of`.
    pub fn in_tolerance(&self) -> bool {
        self.stages.tolerance_until.is_some_and(|u| self.as_of < u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `append_key` finds a field by its bit's position in `Field::ALL`.
    #[test]
    fn fields_are_listed_in_bit_order() {
        for (i, (f, _)) in Field::ALL.iter().enumerate() {
            assert_eq!(f.bit(), 1 << i, "{f:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        /// The key of a set of fields is each field's own key, in the order
        /// of `Field::ALL`, whatever the mask (bits past the last field
        /// name nothing) and the record parts.
        #[test]
        fn a_key_is_its_fields_keys_in_order(mask in proptest::prelude::any::<u32>(), parts in proptest::prelude::any::<u32>()) {
            let parts = RecordParts(parts);
            let mut with_stages = crate::engine::probe::probes();
            // Stage results, so that the stage fields have bytes of their own.
            for (i, f) in with_stages.iter_mut().enumerate() {
                f.set_tolerance(i as i64 % 4);
                f.stages.tier = Some((i % 4) as u8 + 1);
                f.stages.accumulation = Some(AccumulationLevel::KeyAttention);
                f.stages.blacklisted = i % 2 == 0;
                for r in &mut f.records {
                    r.status = Some(RecordStatus::ALL[i % RecordStatus::ALL.len()]);
                }
            }
            for f in &with_stages {
                let mut key = Vec::new();
                f.append_key(FieldMask(mask), parts, &mut key);
                let mut expected = Vec::new();
                for (field, _) in Field::ALL {
                    if FieldMask(mask).has(*field) {
                        f.append_key(FieldMask(field.bit()), parts, &mut expected);
                    }
                }
                proptest::prop_assert_eq!(&key, &expected);
                // Every named field leaves its tag.
                let tags = Field::ALL.iter().filter(|(field, _)| FieldMask(mask).has(*field)).count();
                proptest::prop_assert!(key.len() >= tags);
            }
        }
    }
}
