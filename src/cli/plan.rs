//! `credo plan preview`: a draft plan's expected visits per county ×
//! department against the officers who may go, before anything is
//! committed (issue #13, item 9). Exit 1 when a cell cannot be staffed.

use clap::{Args, Subcommand};

use super::classify::load_rules;
use super::{CliError, Outcome};
use crate::data;
use crate::i18n::Lang;
use crate::i18n::capacity::{Cap, officer_area_text, shortfall_text};
use crate::model::access::Principal;
use crate::model::region::divisions;
use crate::ops;
use crate::ops::capacity::PlanPreview;
use crate::plan::{PlanKind, PlanParams, SelectionMode};
use crate::store::Store;

#[derive(Subcommand)]
pub enum PlanCommand {
    /// Expected visits per county × department against active qualified
    /// officers and their caps; flags what cannot be staffed (exit 1).
    Preview(PreviewArgs),
}

#[derive(Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    inputs: super::Inputs,
    /// Participating departments, comma-separated (a joint plan if several).
    #[arg(long, value_delimiter = ',', required = true)]
    departments: Vec<String>,
    #[arg(long, default_value = "random plan")]
    name: String,
    #[arg(long, value_enum, default_value = "random")]
    kind: super::draw::KindArg,
    /// Defaults to probability for random plans, quota for commitment checks.
    #[arg(long, value_enum)]
    mode: Option<super::draw::ModeArg>,
    /// Quota share of each stratum (quota mode); defaults from the rule set.
    #[arg(long)]
    ratio: Option<f64>,
    /// The release time the plan will have (RFC 3339; optional here: it
    /// does not change the frame).
    #[arg(long, default_value = "")]
    release_at: String,
    /// Print the preview as JSON (machine codes, no localised words).
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: PlanCommand, store_path: &std::path::Path, lang: Lang) -> Result<Outcome, CliError> {
    let PlanCommand::Preview(a) = cmd;
    let store = Store::open(store_path)?;
    let rules = load_rules(&a.inputs.rules)?;
    let mut loaded = data::load(&a.inputs.data)?;
    ops::add_submitted(&store, &mut loaded.snapshot).map_err(CliError::from)?;
    let kind = match a.kind {
        super::draw::KindArg::Random => PlanKind::Random,
        super::draw::KindArg::CommitmentCheck => PlanKind::CommitmentCheck,
    };
    let mut params = PlanParams::with_defaults(&a.name, kind, a.departments, a.inputs.as_of, &rules.manifest.draw);
    if let Some(m) = a.mode {
        params.mode = match m {
            super::draw::ModeArg::Probability => SelectionMode::Probability,
            super::draw::ModeArg::Quota => SelectionMode::Quota,
        };
    }
    if let Some(r) = a.ratio {
        // One share named for the plan replaces the rules' shares by tier.
        params.ratio = r;
        params.quota_ratio_by_tier.clear();
    }
    params.release_at = a.release_at;
    let preview = ops::capacity::preview_plan(&store, &loaded, &rules, &params, &Principal::operator("cli"))
        .map_err(CliError::from)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&preview).map_err(|e| CliError::same(e.to_string()))?);
    } else {
        print_preview(&preview, lang);
    }
    Ok(if preview.staffable() { Outcome::Ok } else { Outcome::Findings })
}

fn place(code: u32) -> String {
    format!("{code:06} {}", divisions().name(code))
}

fn print_preview(p: &PlanPreview, lang: Lang) {
    let t = |c: Cap| c.text(lang);
    println!("{} · {} {}", t(Cap::Title), crate::i18n::Label::AsOf.text(lang), p.as_of);
    println!(
        "{} {} ({} {}); {} {:.1}",
        t(Cap::Entities),
        p.stats.entities,
        t(Cap::Eligible),
        p.stats.eligible,
        t(Cap::ExpectedVisits),
        p.expected_visits
    );
    println!(
        "{} {} · {} {} · {} {}",
        t(Cap::PerVisit),
        p.officers_per_visit,
        t(Cap::CapPerOfficer),
        p.max_visits_per_officer,
        t(Cap::OfficersFrom),
        officer_area_text(p.officers_from == crate::engine::OfficerArea::County, lang)
    );
    println!();
    println!(
        "{} | {} | {} | {} | {} | {} | {} | {} | {} | {}",
        t(Cap::County),
        t(Cap::Area),
        t(Cap::Department),
        t(Cap::ExpectedVisits),
        t(Cap::Officers),
        t(Cap::Qualified),
        t(Cap::OfficerVisits),
        t(Cap::Capacity),
        t(Cap::WithoutTeam),
        t(Cap::Status)
    );
    for c in &p.cells {
        let status = c.shortfall.map_or(t(Cap::Staffable), |s| shortfall_text(s, lang));
        println!(
            "{} | {} | {} | {:.2} | {} | {} | {:.1} | {} | {:.2} | {}",
            place(c.county),
            place(c.area),
            c.department,
            c.expected_visits,
            c.officers,
            c.qualified,
            c.area_officer_visits,
            c.area_capacity,
            c.visits_without_team,
            status
        );
    }
    println!();
    let bad = p.unstaffable().count();
    if bad == 0 {
        println!("{}", t(Cap::AllStaffable));
    } else {
        println!("{}: {bad} / {} {}", t(Cap::Unstaffable), p.cells.len(), t(Cap::Cells));
    }
}
