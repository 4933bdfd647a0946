//! `credo draw create | reveal | cancel | list | show | export | verify | publish`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::classify::load_rules;
use super::{CliError, Outcome};
use crate::data;
use crate::model::Date;
use crate::ops;
use crate::plan::{PlanKind, PlanParams, SelectionMode};
use crate::store::Store;

#[derive(Subcommand)]
pub enum DrawCommand {
    /// Create a plan: classify, freeze the frame, record the commitment.
    Create(CreateArgs),
    /// Reveal the secret and draw (once): entities, then officers.
    Reveal {
        plan: i64,
        /// The secret (hex) whose SHA-256 the plan committed to.
        #[arg(long)]
        secret: String,
        /// The public randomness named by the plan, as hex (empty if none).
        #[arg(long, default_value = "")]
        beacon: String,
        /// Dataset, for entity names on visits.
        #[arg(long)]
        data: PathBuf,
    },
    /// Cancel a plan that has not been drawn (audited; re-rolling shows).
    Cancel {
        plan: i64,
        #[arg(long)]
        reason: String,
    },
    /// List plans.
    List,
    /// A plan, its frame counts, its draw and its audit trail.
    Show {
        plan: i64,
        /// Visits to list.
        #[arg(long, default_value_t = 20)]
        visits: usize,
    },
    /// Write the self-contained bundle an auditor checks without credo.
    Export {
        plan: i64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-derive a draw (from a bundle file or a stored plan): "identical" or the first difference.
    Verify {
        /// A bundle file.
        #[arg(long, conflicts_with = "plan")]
        bundle: Option<PathBuf>,
        /// A stored plan.
        #[arg(long)]
        plan: Option<i64>,
    },
    /// Record an inspection result for a visit (what an officer reports).
    Result {
        plan: i64,
        /// Visit number within the plan.
        visit: i64,
        #[arg(long)]
        officer: String,
        #[arg(long)]
        department: String,
        /// compliant, issues_corrected, violation or not_found.
        #[arg(long)]
        result: String,
        /// For commitment checks: fulfilled or breached.
        #[arg(long)]
        commitment: Option<String>,
        #[arg(long)]
        date: Date,
        #[arg(long, default_value = "")]
        notes: String,
    },
    /// Write the public disclosure (no personal data): the plan, and its
    /// results once released.
    Publish {
        plan: i64,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    Random,
    CommitmentCheck,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Probability,
    Quota,
}

#[derive(Args)]
pub struct CreateArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "rules")]
    rules: PathBuf,
    #[arg(long)]
    as_of: Date,
    /// Participating departments, comma-separated (a joint plan if several).
    #[arg(long, value_delimiter = ',', required = true)]
    departments: Vec<String>,
    #[arg(long, default_value = "random plan")]
    name: String,
    #[arg(long, value_enum, default_value = "random")]
    kind: KindArg,
    /// Defaults to probability for random plans, quota for commitment checks.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Quota share of each stratum (quota mode); defaults from the rule set.
    #[arg(long)]
    ratio: Option<f64>,
    /// When officers may see their assignments (RFC 3339).
    #[arg(long)]
    release_at: String,
    /// The public randomness to combine with the secret, named in advance.
    #[arg(long, default_value = "")]
    beacon_source: String,
    /// Commit to your own secret: give SHA-256(secret) as hex. Without it
    /// credo generates a secret and shows it once.
    #[arg(long)]
    commitment: Option<String>,
}

fn hex32(what: &str, s: &str) -> Result<[u8; 32], CliError> {
    let v = ops::parse_hex(what, s).map_err(|e| CliError(e.to_string()))?;
    v.try_into().map_err(|v: Vec<u8>| CliError(format!("{what} must be 32 bytes (64 hex digits), found {}", v.len())))
}

pub fn run(cmd: DrawCommand, store_path: &Path) -> Result<Outcome, CliError> {
    let store = Store::open(store_path)?;
    match cmd {
        DrawCommand::Create(a) => {
            let rules = load_rules(&a.rules)?;
            let mut loaded = data::load(&a.data)?;
            ops::add_submitted(&store, &mut loaded.snapshot).map_err(|e| CliError(e.to_string()))?;
            let kind = match a.kind {
                KindArg::Random => PlanKind::Random,
                KindArg::CommitmentCheck => PlanKind::CommitmentCheck,
            };
            let mut params = PlanParams::with_defaults(&a.name, kind, a.departments, a.as_of, &rules.manifest.draw);
            if let Some(m) = a.mode {
                params.mode = match m {
                    ModeArg::Probability => SelectionMode::Probability,
                    ModeArg::Quota => SelectionMode::Quota,
                };
            }
            if let Some(r) = a.ratio {
                params.ratio = r;
            }
            params.release_at = a.release_at;
            params.beacon_source = a.beacon_source;
            let commitment = a.commitment.as_deref().map(|c| hex32("--commitment", c)).transpose()?;
            let created =
                ops::create_plan(&store, &loaded, &a.data.display().to_string(), &rules, &params, commitment, "cli")
                    .map_err(|e| CliError(e.to_string()))?;
            println!("plan {} created (classification run {})", created.id, created.run_id);
            println!("frame      {}", created.frame_hash);
            println!("commitment {}", created.commitment);
            println!("entities   {} ({} eligible)", created.stats.entities, created.stats.eligible);
            for (why, n) in &created.stats.excluded {
                println!("  excluded {n:>8}: {why}");
            }
            if let Some(secret) = &created.secret {
                println!("\nsecret     {secret}");
                println!("Keep the secret safe and private until the reveal: credo does not store it.");
            }
            Ok(Outcome::Ok)
        }
        DrawCommand::Reveal { plan, secret, beacon, data: dir } => {
            let loaded = data::load(&dir)?;
            let secret = ops::parse_hex("--secret", &secret).map_err(|e| CliError(e.to_string()))?;
            let beacon = ops::parse_hex("--beacon", &beacon).map_err(|e| CliError(e.to_string()))?;
            let names = ops::name_lookup(&loaded.snapshot);
            let r =
                ops::reveal_plan(&store, &names, plan, &secret, &beacon, "cli").map_err(|e| CliError(e.to_string()))?;
            println!("plan {plan} drawn: {} visits, {} staffed, {} unstaffed", r.visits, r.staffed, r.unstaffed);
            println!("result {}", r.result_hash);
            Ok(Outcome::Ok)
        }
        DrawCommand::Cancel { plan, reason } => {
            store.cancel_plan(plan, "cli", &reason)?;
            println!("plan {plan} cancelled");
            Ok(Outcome::Ok)
        }
        DrawCommand::List => {
            for p in store.plans()? {
                println!("{:>4} {:<10} {:<17} {} {}", p.id, p.status, p.kind, p.created_at, p.name);
            }
            Ok(Outcome::Ok)
        }
        DrawCommand::Show { plan, visits } => {
            let p = store.plan(plan)?;
            println!("plan {} \"{}\" ({}) {}", p.id, p.name, p.kind, p.status);
            println!("created  {} by {}", p.created_at, p.created_by);
            println!("params   {}", p.params);
            println!(
                "dataset  {}\nrules    {}\nframe    {}\ncommit   {}",
                p.dataset_hash, p.rules_hash, p.frame_hash, p.commitment
            );
            println!(
                "release  {}\nbeacon   {}",
                p.release_at,
                if p.beacon_source.is_empty() { "(none)" } else { &p.beacon_source }
            );
            println!("frame    {}", p.frame_stats);
            if let Some(r) = &p.result_hash {
                println!("result   {r} (revealed {})", p.revealed_at.clone().unwrap_or_default());
            }
            let vs = store.visits(plan)?;
            if !vs.is_empty() {
                println!("\n{} visits, {} staffed", vs.len(), vs.iter().filter(|v| v.unstaffed.is_none()).count());
            }
            for v in vs.iter().take(visits) {
                let items: Vec<_> = v.items.iter().map(|(_, c)| c.as_str()).collect();
                match &v.unstaffed {
                    None => println!(
                        "{:>5} {} {} [{}] officers {}",
                        v.seq,
                        v.uscc,
                        v.name,
                        items.join(" "),
                        v.officers.join(", ")
                    ),
                    Some(why) => println!("{:>5} {} {} [{}] UNSTAFFED: {why}", v.seq, v.uscc, v.name, items.join(" ")),
                }
            }
            println!("\naudit trail");
            for e in store.read(|c| crate::store::audit::entries(c, Some(&format!("plan/{plan}"))))? {
                println!("  {:>5} {} {:<14} {}", e.seq, e.at, e.action, e.actor);
            }
            Ok(Outcome::Ok)
        }
        DrawCommand::Export { plan, out } => {
            let text = ops::export_bundle(&store, plan).map_err(|e| CliError(e.to_string()))?;
            std::fs::write(&out, &text).map_err(|e| CliError(format!("{}: {e}", out.display())))?;
            println!(
                "wrote {} ({} bytes); check it with `credo draw verify --bundle {}` or docs/verify_draw.py",
                out.display(),
                text.len(),
                out.display()
            );
            Ok(Outcome::Ok)
        }
        DrawCommand::Verify { bundle, plan } => {
            let report = match (bundle, plan) {
                (Some(path), _) => {
                    let bytes = std::fs::read(&path).map_err(|e| CliError(format!("{}: {e}", path.display())))?;
                    match String::from_utf8(bytes) {
                        Ok(text) => crate::draw::verify(&text),
                        Err(e) => crate::draw::Report::Different {
                            line: None,
                            column: None,
                            message: format!("the bundle is not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
                        },
                    }
                }
                (None, Some(id)) => ops::verify_plan(&store, id).map_err(|e| CliError(e.to_string()))?,
                (None, None) => return Err(CliError("give --bundle FILE or --plan ID".into())),
            };
            println!("{report}");
            Ok(if report.is_identical() { Outcome::Ok } else { Outcome::Findings })
        }
        DrawCommand::Result { plan, visit, officer, department, result, commitment, date, notes } => {
            let id = ops::submit_result(
                &store,
                plan,
                visit,
                &officer,
                &department,
                &result,
                commitment.as_deref(),
                date,
                &notes,
            )
            .map_err(|e| CliError(e.to_string()))?;
            println!("result {id} recorded for visit {visit} of plan {plan}; the next classification counts it");
            Ok(Outcome::Ok)
        }
        DrawCommand::Publish { plan, out } => {
            let now = chrono::Utc::now().fixed_offset();
            let d = ops::disclosure(&store, plan, now).map_err(|e| CliError(e.to_string()))?;
            let text = serde_json::to_string_pretty(&d)?;
            std::fs::write(&out, &text).map_err(|e| CliError(format!("{}: {e}", out.display())))?;
            let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
            store.mark_published(plan, "cli", &digest)?;
            let what =
                if d.draw.is_some() { "plan and results" } else { "plan only: results appear after the release time" };
            println!("wrote {} ({what}, sha256 {digest})", out.display());
            Ok(Outcome::Ok)
        }
    }
}
