//! Closed vocabularies of the domain (entity types, roles, severities, ...).
//!
//! Each is an enum with a stable snake_case code used in datasets, rules and
//! the API; parsing an unknown code fails with the list of allowed ones.

/// A code that is not one of its vocabulary's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not one of: {allowed}")]
pub struct UnknownCode {
    pub value: String,
    /// The allowed codes, comma-separated.
    pub allowed: String,
}

impl UnknownCode {
    /// Why, in both languages (`Display` is the English).
    pub fn text(&self) -> crate::i18n::Text {
        let (value, allowed) = (&self.value, &self.allowed);
        crate::tr!("“{value}”不是以下之一：{allowed}", "'{value}' is not one of: {allowed}")
    }
}

/// Declares a closed vocabulary: the enum, its codes, `ALL`, `FromStr` and
/// serde as the code string.
macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// The allowed codes, for error messages.
            pub fn codes() -> String {
                [$($code),+].join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, UnknownCode> {
                match s {
                    $($code => Ok($name::$variant),)+
                    _ => Err(UnknownCode { value: s.to_string(), allowed: $name::codes() }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

code_enum!(
    /// Legal form of a market entity.
    EntityType {
        LimitedCompany = "limited_company",
        JointStockCompany = "joint_stock_company",
        Branch = "branch",
        SoleProprietorship = "sole_proprietorship",
        Partnership = "partnership",
        IndividualBusiness = "individual_business",
        FarmerCooperative = "farmer_cooperative",
        ForeignInvested = "foreign_invested",
    }
);

code_enum!(
    /// Registration status.
    EntityStatus {
        Active = "active",
        Revoked = "revoked",
        Deregistered = "deregistered",
        MovedOut = "moved_out",
    }
);

code_enum!(
    /// Key special fields under strict supervision whatever the tier (plan （五）).
    KeyField {
        Vaccine = "vaccine",
        Drug = "drug",
        SpecialEquipment = "special_equipment",
        HazardousChemicals = "hazardous_chemicals",
    }
);

code_enum!(
    /// New technologies, industries, business forms and models (plan （四）).
    NewEconomy {
        SharingEconomy = "sharing_economy",
        ArtificialIntelligence = "artificial_intelligence",
        IndustrialInternet = "industrial_internet",
        PlatformEconomy = "platform_economy",
        DigitalFinance = "digital_finance",
    }
);

code_enum!(
    /// A person's role in an entity (plan （六）: punishment extends to the
    /// legal representative, principal and directly responsible persons).
    RoleKind {
        LegalRepresentative = "legal_representative",
        Principal = "principal",
        DirectlyResponsible = "directly_responsible",
        Shareholder = "shareholder",
        Director = "director",
    }
);

code_enum!(
    /// Kind of credit evaluation (plan （一）: three dimensions).
    EvaluationKind {
        Composite = "composite",
        Industry = "industry",
        Market = "market",
    }
);

code_enum!(
    /// Severity of an administrative penalty.
    Severity {
        Minor = "minor",
        General = "general",
        Serious = "serious",
    }
);

code_enum!(
    /// A dimension a plan's strata are split by (rules.toml `[draw] strata`).
    StratumDimension {
        Tier = "tier",
        City = "city",
        County = "county",
        Risk = "risk",
        EntityType = "entity_type",
        /// The industry's GB/T 4754 section letter.
        Section = "section",
    }
);

code_enum!(
    /// What the `record_status` rule decided about one record as of the date.
    RecordStatus {
        /// Counts against the entity.
        Counted = "counted",
        /// Not counted: a first minor violation (plan （四）二). Still shows a pattern.
        Exempt = "exempt",
        /// Its disclosure or counting period has passed.
        Expired = "expired",
        /// Credit repair was granted (plan （六）一).
        Repaired = "repaired",
        /// Removed from the abnormal-operation list.
        Cleared = "cleared",
        /// Not a kind the rules count.
        Ignored = "ignored",
        /// An objection is under review (异议申诉).
        Disputed = "disputed",
        /// An upheld objection corrected it.
        Corrected = "corrected",
    }
);

impl RecordStatus {
    /// Still current: counted, or exempted (an exempt first violation still
    /// shows a pattern for accumulation).
    pub fn is_current(self) -> bool {
        matches!(self, RecordStatus::Counted | RecordStatus::Exempt)
    }

    /// Worth a line in an explanation: anything but plainly counted or ignored.
    pub fn is_notable(self) -> bool {
        !matches!(self, RecordStatus::Counted | RecordStatus::Ignored)
    }
}

code_enum!(
    /// Accumulation of repeated violations (plan （四）三), lowest first.
    AccumulationLevel {
        None = "none",
        /// A reminder and interview (提醒约谈) is due.
        Reminder = "reminder",
        /// Reminded, and no improvement: on the key-attention list.
        KeyAttention = "key_attention",
    }
);

code_enum!(
    /// Risk level a supervision rule answers, lowest first.
    RiskLevel {
        None = "none",
        Low = "low",
        Medium = "medium",
        High = "high",
        VeryHigh = "very_high",
    }
);

code_enum!(
    /// What a propagated blacklist flag does to another entity of a flagged
    /// person (plan （六）二).
    LinkEffect {
        RaiseRisk = "raise_risk",
        KeyAttention = "key_attention",
    }
);

code_enum!(
    /// Why an entity was put on the abnormal-operation list.
    AbnormalReason {
        AnnualReportMissing = "annual_report_missing",
        AddressUnreachable = "address_unreachable",
        FalseInformation = "false_information",
        DisclosureMissing = "disclosure_missing",
    }
);

code_enum!(
    /// Complaint hotline.
    Hotline {
        H12345 = "12345",
        H12315 = "12315",
    }
);

code_enum!(
    /// Outcome of a complaint's investigation; only verified complaints are
    /// dishonesty records (plan （九）).
    ComplaintStatus {
        Verified = "verified",
        Unfounded = "unfounded",
        Pending = "pending",
    }
);

code_enum!(
    /// Credit commitment kinds (plan （三）).
    CommitmentKind {
        ApprovalSubstitute = "approval_substitute",
        Public = "public",
        Industry = "industry",
        Repair = "repair",
    }
);

code_enum!(
    /// State of a commitment as last checked.
    CommitmentStatus {
        Pending = "pending",
        Fulfilled = "fulfilled",
        Breached = "breached",
    }
);

code_enum!(
    /// Why an inspection took place.
    InspectionKind {
        Random = "random",
        JointRandom = "joint_random",
        Targeted = "targeted",
        Complaint = "complaint",
        CommitmentCheck = "commitment_check",
        /// A reminder and interview after repeated violations (（四）三
        /// 提醒约谈): a record of its own, so "reminded, and no
        /// improvement" can be told from "many violations at once".
        Reminder = "reminder",
    }
);

code_enum!(
    /// What an inspection found.
    InspectionResult {
        Compliant = "compliant",
        IssuesCorrected = "issues_corrected",
        Violation = "violation",
        NotFound = "not_found",
    }
);

code_enum!(
    /// Relation an officer declared to a person (for avoidance, 回避).
    Relation {
        Spouse = "spouse",
        Parent = "parent",
        Child = "child",
        Sibling = "sibling",
        Other = "other",
    }
);

code_enum!(
    /// Where an inspection plan stands: committed to a secret at creation,
    /// then drawn once (revealed) or cancelled, never both.
    PlanStatus {
        Committed = "committed",
        Revealed = "revealed",
        Cancelled = "cancelled",
    }
);

code_enum!(
    /// Where an objection to a record stands (异议申诉).
    ObjectionStatus {
        /// Filed, not yet decided: the record is disputed.
        Open = "open",
        /// The objection was found right: the record stands corrected.
        Upheld = "upheld",
        /// The objection was found wrong: the record stands as it was.
        Rejected = "rejected",
    }
);

code_enum!(
    /// Where a classification run stands.
    RunStatus {
        Running = "running",
        Done = "done",
        Failed = "failed",
    }
);

code_enum!(
    /// Where a background job stands.
    JobStatus {
        Running = "running",
        Done = "done",
        Failed = "failed",
    }
);

code_enum!(
    /// What a background job computes.
    JobKind {
        /// The impact of a rule version against the active one.
        RulesDiff = "rules.diff",
    }
);

code_enum!(
    /// What an audit entry records: its `action`. The code is hashed into
    /// the chain, so a code is never renamed or reused.
    AuditAction {
        StoreIdentity = "store.identity",
        RunStart = "run.start",
        RunRules = "run.rules",
        RunFinish = "run.finish",
        RunFail = "run.fail",
        PlanCreate = "plan.create",
        PlanReveal = "plan.reveal",
        PlanCancel = "plan.cancel",
        PlanPublish = "plan.publish",
        ResultSubmit = "result.submit",
        ObjectionFile = "objection.file",
        ObjectionDecide = "objection.decide",
        /// An approval revoked by a breached commitment (issue #13).
        ApprovalRevoke = "approval.revoke",
        PrincipalCreate = "principal.create",
        TokenCreate = "token.create",
        TokenRevoke = "token.revoke",
        RulesAdd = "rules.add",
        RulesActivate = "rules.activate",
        RulesSchedule = "rules.schedule",
        DatasetImport = "dataset.import",
        JobStart = "job.start",
        JobFinish = "job.finish",
    }
);

code_enum!(
    /// Why a county × department cell of a draft plan cannot be staffed
    /// (capacity planning, issue #13 item 9), in the order they are checked.
    StaffingShortfall {
        /// No active officer of the department serves the area.
        NoOfficer = "no_officer",
        /// Active officers serve the area, but none is qualified for some
        /// expected visit's items of the department.
        NotQualified = "not_qualified",
        /// Fewer qualified officers can go than a visit needs.
        TooFewForTeam = "too_few_for_team",
        /// The expected officer-visits exceed the qualified officers' caps.
        OverCap = "over_cap",
    }
);
