//! The domain model: plain serde data, no IO.
//!
//! Everything another module needs to talk about the domain lives here:
//! market entities keyed by [`Uscc`], the persons behind them, their credit
//! evaluations and records, and the inspection side (departments, items,
//! officers). A [`Dataset`] holds one snapshot of all of it.

pub mod access;
mod codes;
pub mod industry;
pub mod json;
pub mod objection;
pub mod region;
pub mod uscc;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use codes::*;
pub use industry::IndustryCode;
pub use uscc::{Uscc, UsccError};

/// A value that is not what its field needs; the message names the value
/// and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// Why a text is not 32 bytes in hex.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// Not hexadecimal: the decoder's message, as it is.
    #[error("not hex: {0}")]
    NotHex(String),
    /// Hexadecimal, but this many bytes.
    #[error("must be 32 bytes (64 hex digits), found {0}")]
    Length(usize),
}

impl HexError {
    /// Why, in both languages (`Display` is the English).
    pub fn text(&self) -> crate::i18n::Text {
        match self {
            HexError::NotHex(e) => crate::tr!("不是十六进制：{e}", "not hex: {e}"),
            HexError::Length(n) => {
                crate::tr!(
                    "须为 32 字节（64 个十六进制数字），实为 {n} 字节",
                    "must be 32 bytes (64 hex digits), found {n}"
                )
            }
        }
    }
}

/// 32 bytes written as 64 hex digits (secrets, commitments, keys): the one
/// parser the front ends and the store share.
pub fn parse_hex32(s: &str) -> Result<[u8; 32], HexError> {
    let v = hex::decode(s).map_err(|e| HexError::NotHex(e.to_string()))?;
    let n = v.len();
    v.try_into().map_err(|_| HexError::Length(n))
}

/// Calendar dates everywhere; credo never reads the wall clock for a decision.
pub type Date = chrono::NaiveDate;

/// A natural person, identified only by a salted hash of their ID number
/// (128 bits, written as 32 lower-case hex digits). credo never sees or stores
/// the raw ID number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId(pub [u8; 16]);

impl PersonId {
    pub fn parse(s: &str) -> Result<PersonId, InvalidValue> {
        /// Value of each lower-case hex digit; 0xFF for any other byte.
        const NIBBLE: [u8; 256] = {
            let mut t = [0xFFu8; 256];
            let mut c = 0;
            while c < 16 {
                t[b"0123456789abcdef"[c] as usize] = c as u8;
                c += 1;
            }
            t
        };
        let b = s.as_bytes();
        if let Ok(b) = <&[u8; 32]>::try_from(b) {
            let mut out = [0u8; 16];
            // Any byte outside the table sets high bits here.
            let mut bad = 0u8;
            for (i, o) in out.iter_mut().enumerate() {
                let (h, l) = (NIBBLE[b[2 * i] as usize], NIBBLE[b[2 * i + 1] as usize]);
                bad |= h | l;
                *o = h << 4 | (l & 0x0F);
            }
            if bad & 0xF0 == 0 {
                return Ok(PersonId(out));
            }
        }
        Err(InvalidValue(format!("'{s}' is not a person hash (32 lower-case hex digits)")))
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonId({self})")
    }
}

impl Serialize for PersonId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PersonId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PersonId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A set of [`KeyField`]s as a bit set (bit i = `KeyField::ALL[i]`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug, PartialOrd, Ord)]
pub struct KeyFields(pub u8);

impl Serialize for KeyFields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for KeyFields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = Vec::<KeyField>::deserialize(d)?;
        let mut out = KeyFields::default();
        for f in list {
            out.insert(f);
        }
        Ok(out)
    }
}

impl KeyFields {
    pub fn contains(self, f: KeyField) -> bool {
        self.0 & (1 << f as u8) != 0
    }
    pub fn insert(&mut self, f: KeyField) {
        self.0 |= 1 << f as u8;
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = KeyField> {
        KeyField::ALL.iter().copied().filter(move |f| self.contains(*f))
    }
    /// `;`-separated codes, empty for none.
    pub fn to_list(self) -> String {
        self.iter().map(KeyField::as_str).collect::<Vec<_>>().join(";")
    }
    pub fn parse_list(s: &str) -> Result<KeyFields, UnknownCode> {
        let mut out = KeyFields::default();
        for part in s.split(';').filter(|p| !p.is_empty()) {
            out.insert(part.parse()?);
        }
        Ok(out)
    }
}

/// A market entity (company, branch, sole proprietor, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarketEntity {
    pub uscc: Uscc,
    pub name: String,
    pub entity_type: EntityType,
    /// County-level division code (GB/T 2260).
    pub region: u32,
    pub industry: IndustryCode,
    pub registered_on: Date,
    pub status: EntityStatus,
    /// Licences in key special fields.
    #[serde(default)]
    pub key_fields: KeyFields,
    #[serde(default)]
    pub new_economy: Option<NewEconomy>,
}

/// A natural person behind entities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub person_id: PersonId,
    /// Division code of the person's registered residence.
    pub region: u32,
}

/// A person's role in an entity over a period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub uscc: Uscc,
    pub person_id: PersonId,
    pub role: RoleKind,
    pub since: Date,
    #[serde(default)]
    pub until: Option<Date>,
}

/// A short text of a dataset row (an evaluation's source and grade, a
/// record's id and department, an inspection's officers), held inline up
/// to 24 bytes and on the heap beyond: read once per cell of the largest
/// tables, each had cost a heap allocation and a free as a `String`.
/// Serialised as the text it holds.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Short(compact_str::CompactString);

impl Short {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::ops::Deref for Short {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

/// As a `str` (its `Eq`, `Ord` and `Hash` are the text's).
impl std::borrow::Borrow<str> for Short {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for Short {
    fn from(s: &str) -> Short {
        Short(s.into())
    }
}

impl From<String> for Short {
    fn from(s: String) -> Short {
        Short(s.into())
    }
}

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Short {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

impl<'de> Deserialize<'de> for Short {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Short, D::Error> {
        String::deserialize(d).map(Short::from)
    }
}

/// A credit evaluation: the public composite grade (A–D), a department's
/// industry evaluation (A–D) or a market rating (AAA–C).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreditEvaluation {
    pub uscc: Uscc,
    pub kind: EvaluationKind,
    /// Who evaluated: `NPCIC` for the composite grade, a department code for
    /// industry evaluations, the agency for market ratings.
    pub source: Short,
    pub evaluated_on: Date,
    pub grade: Short,
}

/// Grades each evaluation kind may give, best first.
pub fn grade_scale(kind: EvaluationKind) -> &'static [&'static str] {
    match kind {
        EvaluationKind::Composite | EvaluationKind::Industry => &["A", "B", "C", "D"],
        EvaluationKind::Market => &["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"],
    }
}

/// An administrative penalty decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Penalty {
    pub decision_no: Short,
    pub uscc: Uscc,
    pub department: Short,
    pub decided_on: Date,
    pub severity: Severity,
    pub intentional: bool,
    pub harmful: bool,
    /// End of the public disclosure period.
    pub disclosure_until: Date,
    /// When the penalty was carried out (fine paid, order complied with).
    #[serde(default)]
    pub fulfilled_on: Option<Date>,
}

/// An abnormal-operation listing (经营异常名录).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AbnormalListing {
    pub listing_id: Short,
    pub uscc: Uscc,
    pub department: Short,
    pub listed_on: Date,
    pub reason: AbnormalReason,
    #[serde(default)]
    pub removed_on: Option<Date>,
}

/// A complaint from a hotline and its investigation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Complaint {
    pub complaint_id: Short,
    pub uscc: Uscc,
    pub hotline: Hotline,
    pub department: Short,
    pub received_on: Date,
    pub status: ComplaintStatus,
    /// When the investigation concluded (required unless pending).
    #[serde(default)]
    pub concluded_on: Option<Date>,
}

/// A credit commitment (信用承诺).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Commitment {
    pub commitment_id: Short,
    pub uscc: Uscc,
    pub kind: CommitmentKind,
    pub made_on: Date,
    /// What was promised: an approval number, a record being repaired, a
    /// public pledge's subject.
    pub subject: Short,
    pub status: CommitmentStatus,
    /// When the status was established (required unless pending).
    #[serde(default)]
    pub checked_on: Option<Date>,
    /// The department (a code of `departments`) the commitment was made
    /// to: only its officers' results settle it. `None` (a dataset without
    /// the column, or an empty cell) is unknown, and then any department's
    /// result settles it.
    #[serde(default)]
    pub department: Option<Short>,
    /// The approval or licence the commitment stands in for (告知承诺制
    /// 事项); a breach found on inspection revokes it.
    #[serde(default)]
    pub approval_item: Option<Short>,
}

/// A past inspection and its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InspectionRecord {
    pub inspection_id: Short,
    pub uscc: Uscc,
    pub department: Short,
    pub inspected_on: Date,
    pub kind: InspectionKind,
    pub result: InspectionResult,
    /// Officers who took part.
    #[serde(default)]
    pub officers: Vec<Short>,
}

/// An application for credit repair (信用修复) of one record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepairApplication {
    pub repair_id: Short,
    pub uscc: Uscc,
    /// The record to repair: a penalty decision number, listing id or
    /// complaint id of the same entity.
    pub record_id: Short,
    pub applied_on: Date,
    /// The repair commitment made with the application, if any.
    #[serde(default)]
    pub commitment_id: Option<Short>,
}

/// A regulating department.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Department {
    pub code: String,
    pub name: String,
}

/// One item of the inspection item catalogue (抽查事项清单).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InspectionItem {
    pub item_code: String,
    pub department: String,
    pub name: String,
    /// Industry prefixes the item applies to (`*` for all).
    pub industries: Vec<String>,
    /// The key special field the item belongs to, if any; such an item
    /// applies only to entities licensed in that field.
    #[serde(default)]
    pub key_field: Option<KeyField>,
}

impl InspectionItem {
    pub fn applies_to(&self, industry: &IndustryCode, key_fields: KeyFields) -> bool {
        if let Some(f) = self.key_field
            && !key_fields.contains(f)
        {
            return false;
        }
        self.industries.iter().any(|p| p == "*" || industry.matches(p))
    }
}

/// A law-enforcement officer on the roster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Officer {
    pub officer_id: String,
    pub department: String,
    /// Division code the officer serves: a city, or a county when the
    /// rules take officers from the entity's county (`officers_from`).
    pub region: u32,
    /// Item codes the officer is qualified for.
    pub qualifications: Vec<String>,
    pub active: bool,
    /// The officer as a person, for conflict-of-interest checks.
    pub person_id: PersonId,
}

/// A relation an officer declared, for avoidance (回避).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OfficerRelation {
    pub officer_id: String,
    pub person_id: PersonId,
    pub relation: Relation,
}

/// One snapshot of everything credo reads. Row order is the order of the
/// source files; no module may rely on it for a decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub entities: Vec<MarketEntity>,
    pub persons: Vec<Person>,
    pub roles: Vec<Role>,
    pub evaluations: Vec<CreditEvaluation>,
    pub penalties: Vec<Penalty>,
    pub abnormal_listings: Vec<AbnormalListing>,
    pub complaints: Vec<Complaint>,
    pub commitments: Vec<Commitment>,
    pub inspections: Vec<InspectionRecord>,
    pub repairs: Vec<RepairApplication>,
    pub departments: Vec<Department>,
    pub inspection_items: Vec<InspectionItem>,
    pub officers: Vec<Officer>,
    pub officer_relations: Vec<OfficerRelation>,
}

impl Dataset {
    /// Adds the persons and departments the rows refer to but the tables
    /// lack (persons with the region of their first entity, departments
    /// named by their code): hand-built datasets (rule tests, tests) then
    /// pass the checks every loaded dataset passes.
    pub fn complete_references(&mut self) {
        let known: std::collections::BTreeSet<PersonId> = self.persons.iter().map(|p| p.person_id).collect();
        let mut more: std::collections::BTreeMap<PersonId, u32> = std::collections::BTreeMap::new();
        let region_of = |u: &Uscc| self.entities.iter().find(|e| e.uscc == *u).map_or(370102, |e| e.region);
        for r in &self.roles {
            if !known.contains(&r.person_id) {
                more.entry(r.person_id).or_insert_with(|| region_of(&r.uscc));
            }
        }
        for p in self.officers.iter().map(|o| o.person_id).chain(self.officer_relations.iter().map(|r| r.person_id)) {
            if !known.contains(&p) {
                more.entry(p).or_insert(370100);
            }
        }
        self.persons.extend(more.into_iter().map(|(person_id, region)| Person { person_id, region }));
        let mut codes: std::collections::BTreeSet<String> = self
            .penalties
            .iter()
            .map(|p| p.department.to_string())
            .chain(self.abnormal_listings.iter().map(|a| a.department.to_string()))
            .chain(self.complaints.iter().map(|c| c.department.to_string()))
            .chain(self.inspections.iter().map(|i| i.department.to_string()))
            .chain(self.inspection_items.iter().map(|i| i.department.clone()))
            .chain(self.officers.iter().map(|o| o.department.clone()))
            .chain(self.evaluations.iter().filter(|e| e.kind == EvaluationKind::Industry).map(|e| e.source.to_string()))
            .collect();
        for d in &self.departments {
            codes.remove(&d.code);
        }
        self.departments.extend(codes.into_iter().map(|code| Department { name: code.clone(), code }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_id_round_trip() {
        let s = "00112233445566778899aabbccddeeff";
        assert_eq!(PersonId::parse(s).unwrap().to_string(), s);
        assert!(PersonId::parse("00112233445566778899AABBCCDDEEFF").is_err());
        assert!(PersonId::parse("0011").is_err());
        // Any byte that is not a lower-case hex digit, wherever it is.
        for bad in
            ["00112233445566778899aabbccddeefg", "g0112233445566778899aabbccddeeff", "0011223344556677889济abbccddeef"]
        {
            assert_eq!(bad.len(), 32);
            assert!(PersonId::parse(bad).is_err(), "{bad}");
        }
    }

    /// Short texts serialise as the texts they hold (inline or not, in a
    /// list, absent or present) and read back the same.
    #[test]
    fn short_texts_serialise_as_texts() {
        let long = "济南市市场监督管理局行政审批服务事项"; // past the inline 24 bytes
        let x = InspectionRecord {
            inspection_id: "JC-1".into(),
            uscc: "913706812026899267".parse().unwrap(),
            department: long.into(),
            inspected_on: Date::from_ymd_opt(2025, 12, 31).unwrap(),
            kind: InspectionKind::Random,
            result: InspectionResult::Compliant,
            officers: vec!["MR-0001".into(), long.into()],
        };
        let json = serde_json::to_value(&x).unwrap();
        assert_eq!(json["department"], long);
        assert_eq!(json["officers"], serde_json::json!(["MR-0001", long]));
        assert_eq!(serde_json::from_value::<InspectionRecord>(json).unwrap(), x);
        let r = RepairApplication {
            repair_id: "XF-1".into(),
            uscc: x.uscc,
            record_id: long.into(),
            applied_on: x.inspected_on,
            commitment_id: None,
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!((&json["record_id"], &json["commitment_id"]), (&serde_json::json!(long), &serde_json::Value::Null));
        assert_eq!(serde_json::from_value::<RepairApplication>(json).unwrap(), r);
        let with = RepairApplication { commitment_id: Some("CN-1".into()), ..r };
        assert_eq!(serde_json::from_str::<RepairApplication>(&serde_json::to_string(&with).unwrap()).unwrap(), with);
    }

    #[test]
    fn key_fields_list() {
        let k = KeyFields::parse_list("drug;vaccine").unwrap();
        assert_eq!(k.to_list(), "vaccine;drug");
        assert!(KeyFields::parse_list("drug;guns").is_err());
        assert!(KeyFields::parse_list("").unwrap().is_empty());
    }
}
