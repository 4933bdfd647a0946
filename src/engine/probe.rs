//! Built-in probe entities every rule set is run over when it is loaded, so
//! a rule that reads a missing field, returns the wrong shape or fails on an
//! ordinary case is rejected before it touches real data.

use super::facts::*;
use super::{EntityState, RuleError, RuleSet, Stage};
use crate::model::*;

fn date(s: &str) -> Date {
    Date::parse_from_str(s, "%Y-%m-%d").expect("probe date")
}

fn record(kind: RecordKind, id: &str, on: &str) -> RecordFacts {
    RecordFacts::new(kind, id, date(on), "MR".into())
}

/// Probe entities covering every record kind and the usual attributes.
pub fn probes() -> Vec<EntityFacts> {
    let base = EntityFacts {
        uscc: Uscc::parse("91370200163562681G").expect("probe code"),
        entity_type: EntityType::LimitedCompany,
        status: EntityStatus::Active,
        region: 370202,
        city: 370200,
        industry: IndustryCode::parse("F5212").expect("probe industry"),
        registered_on: date("2010-05-04"),
        key_fields: KeyFields::default(),
        new_economy: None,
        composite_grade: Some("A".into()),
        industry_grades: Vec::new(),
        market_rating: None,
        evaluation_dates: EvaluationDates { composite: Some(date("2025-12-31")), ..Default::default() },
        records: Vec::new(),
        as_of: date("2026-06-30"),
        stages: StageFacts::default(),
    };
    let mut troubled = base.clone();
    troubled.uscc = Uscc::parse("914403001922038216").expect("probe code");
    troubled.entity_type = EntityType::IndividualBusiness;
    troubled.composite_grade = Some("C".into());
    troubled.industry_grades = vec![("MPA".into(), "D".into())];
    troubled.market_rating = Some("CCC".into());
    troubled.evaluation_dates = EvaluationDates {
        composite: Some(date("2020-12-31")),
        market: Some(date("2026-01-15")),
        industry: vec![date("2025-06-30")],
    };
    let mut minor = record(RecordKind::Penalty, "probe-minor", "2025-03-01");
    minor.severity = Some(Severity::Minor);
    minor.disclosure_until = Some(date("2025-06-01"));
    minor.fulfilled_on = Some(date("2025-03-20"));
    let mut general = record(RecordKind::Penalty, "probe-general", "2025-09-01");
    general.severity = Some(Severity::General);
    general.intentional = true;
    general.disclosure_until = Some(date("2026-09-01"));
    let mut serious = record(RecordKind::Penalty, "probe-serious", "2024-01-10");
    serious.severity = Some(Severity::Serious);
    serious.intentional = true;
    serious.harmful = true;
    serious.disclosure_until = Some(date("2027-01-10"));
    serious.fulfilled_on = Some(date("2024-02-01"));
    serious.repair = Some(RepairFacts {
        repair_id: "probe-repair".into(),
        applied_on: date("2025-02-01"),
        commitment: Some(CommitmentStatus::Fulfilled),
    });
    let mut listing = record(RecordKind::AbnormalListing, "probe-listing", "2024-07-01");
    listing.detail = "annual_report_missing".into();
    listing.removed_on = Some(date("2024-09-01"));
    let mut complaint = record(RecordKind::Complaint, "probe-complaint", "2026-01-15");
    complaint.detail = "12315".into();
    let mut breach = record(RecordKind::CommitmentBreach, "probe-breach", "2025-11-01");
    breach.detail = "approval_substitute".into();
    let mut inspection = record(RecordKind::Inspection, "probe-inspection", "2026-02-01");
    inspection.detail = "violation".into();
    troubled.records = vec![serious, listing, minor, general, breach, complaint, inspection];
    troubled.records.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));

    let mut startup = base.clone();
    startup.uscc = Uscc::parse("91330100716105852F").expect("probe code");
    startup.industry = IndustryCode::parse("I6513").expect("probe industry");
    startup.registered_on = date("2025-01-01");
    startup.new_economy = Some(NewEconomy::ArtificialIntelligence);
    startup.key_fields.insert(KeyField::Drug);
    startup.composite_grade = None;

    let mut red_line = startup.clone();
    red_line.uscc = Uscc::parse("9144030071526726XG").expect("probe code");
    red_line.industry = IndustryCode::parse("J6637").expect("probe industry");
    red_line.new_economy = Some(NewEconomy::DigitalFinance);

    let mut gone = base.clone();
    gone.uscc = Uscc::parse("91110000710925462X").expect("probe code");
    gone.status = EntityStatus::Deregistered;
    gone.composite_grade = None;
    vec![base, troubled, startup, red_line, gone]
}

/// Runs every per-entity stage over the probes.
pub fn check(rules: &RuleSet) -> Result<(), RuleError> {
    let mut states: Vec<EntityState> = probes().into_iter().map(EntityState::new).collect();
    for stage in Stage::ALL.iter().filter(|s| s.per_entity()) {
        rules.run_stage(*stage, &mut states, &mut super::StageMemo::default()).map_err(|mut e| {
            e.message = format!("{} (while checking the rule set on built-in probe entities)", e.message);
            e
        })?;
    }
    if rules.has(Stage::PersonLink) {
        for role in RoleKind::ALL {
            for depth in 1..=2 {
                rules.eval_link(Stage::PersonLink, super::Link { role: *role, person_role: None, depth })?;
                for via in RoleKind::ALL {
                    rules.eval_link(Stage::EntityLink, super::Link { role: *role, person_role: Some(*via), depth })?;
                }
            }
        }
    }
    Ok(())
}
