//! `credo entity show`, `credo propagate`, `credo lists`, `credo draw result`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::classify::load_rules;
use super::{CliError, Outcome};
use crate::data;
use crate::model::{Date, Uscc};
use crate::ops;
use crate::propagate::Propagation;

#[derive(Subcommand)]
pub enum EntityCommand {
    /// Tier over time, records, tolerance, exemptions, commitments,
    /// repairs, blacklist status and propagation paths of one entity.
    Show {
        uscc: String,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        #[arg(long)]
        as_of: Date,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct PropagateArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "rules")]
    rules: PathBuf,
    #[arg(long)]
    as_of: Date,
    /// .json (everything) or .csv (one row per flagged person or reached entity).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ListKind {
    /// The key-attention list (repeated violations, flags from blacklisted entities).
    KeyAttention,
    /// The serious-dishonesty blacklist.
    Blacklist,
}

#[derive(Args)]
pub struct ListsArgs {
    #[arg(value_enum)]
    kind: ListKind,
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "rules")]
    rules: PathBuf,
    #[arg(long)]
    as_of: Date,
    /// Only entities with inspection items of this department (its risk warning).
    #[arg(long)]
    department: Option<String>,
}

/// The dataset with the officers' results submitted so far (from the
/// store, if there is one), as classification runs see it.
fn load_with_results(dir: &Path, store: &Path) -> Result<data::LoadedDataset, CliError> {
    let mut loaded = data::load(dir)?;
    if store.is_file() {
        let store = crate::store::Store::open(store)?;
        ops::add_submitted(&store, &mut loaded.snapshot).map_err(|e| CliError(e.to_string()))?;
    }
    Ok(loaded)
}

/// Classifies quietly, handing results to `sink`.
fn classify_with(
    loaded: &data::LoadedDataset,
    rules: &crate::engine::RuleSet,
    as_of: Date,
    sink: &mut dyn FnMut(Vec<crate::classify::EntityResult>),
) -> Result<crate::classify::Classification, CliError> {
    crate::classify::classify(&loaded.snapshot, rules, as_of, &Default::default(), &|_| {}, &mut |r| {
        sink(r);
        Ok(())
    })
    .map_err(|e| CliError(format!("classification stopped by a rule error:\n{e}")))
}

pub fn entity(cmd: EntityCommand, store: &Path) -> Result<Outcome, CliError> {
    match cmd {
        EntityCommand::Show { uscc, data: dir, rules, as_of, json } => {
            let uscc = Uscc::parse(&uscc).map_err(|e| CliError(format!("'{uscc}' is not a valid credit code: {e}")))?;
            let rules = load_rules(&rules)?;
            let loaded = load_with_results(&dir, store)?;
            let t = ops::entity_timeline(&loaded.snapshot, &rules, uscc, as_of).map_err(|e| CliError(e.to_string()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&t)?);
                return Ok(Outcome::Ok);
            }
            print!("{}", render_timeline(&t));
            Ok(Outcome::Ok)
        }
    }
}

/// The timeline as text.
pub fn render_timeline(t: &ops::Timeline) -> String {
    let mut s = String::new();
    let e = &t.entity;
    let d = crate::model::region::divisions();
    let w = &mut s;
    use std::fmt::Write as _;
    let _ = writeln!(w, "{} {}", e.uscc, e.name);
    let _ = writeln!(
        w,
        "{} · {} {} · industry {} · registered {} · {}",
        e.entity_type,
        d.name(d.city_of(e.region).unwrap_or(0)),
        d.name(e.region),
        e.industry,
        e.registered_on,
        e.status
    );
    if !e.key_fields.is_empty() {
        let _ = writeln!(w, "key special fields: {}", e.key_fields.to_list());
    }
    if let Some(n) = e.new_economy {
        let _ = writeln!(w, "new economy: {n}");
    }
    let _ = writeln!(w, "\ntier over time");
    for p in &t.points {
        let _ = writeln!(
            w,
            "  {}  tier {}  risk {:<9} p={:.4}{}{}",
            p.date,
            p.tier,
            p.risk,
            p.probability,
            if p.blacklisted { "  BLACKLISTED" } else { "" },
            if p.key_attention { "  key attention" } else { "" }
        );
    }
    let r = &t.result;
    let _ = writeln!(w, "\nas of {}", t.as_of);
    let _ = writeln!(w, "  tolerance until: {}", r.tolerance_until.map_or("none".into(), |d| d.to_string()));
    let _ =
        writeln!(w, "  exemptions: {}", if r.exemptions.is_empty() { "none".into() } else { r.exemptions.join(", ") });
    let _ = writeln!(w, "  accumulation: {}", r.accumulation);
    let _ = writeln!(
        w,
        "  blacklist: {}",
        if r.blacklisted {
            format!("listed until {}", r.blacklisted_until.map_or("?".into(), |d| d.to_string()))
        } else {
            "no".into()
        }
    );
    let _ = writeln!(w, "\nrecords");
    if r.records.is_empty() {
        let _ = writeln!(w, "  none");
    }
    for x in &r.records {
        let _ = writeln!(w, "  {}  {:<18} {:<28} {}", x.date, x.kind, x.id, x.status);
    }
    if !t.commitments.is_empty() {
        let _ = writeln!(w, "\ncommitments");
        for c in &t.commitments {
            let _ = writeln!(
                w,
                "  {}  {:<20} {:<16} {} {}",
                c.made_on,
                c.kind,
                c.commitment_id,
                c.status,
                c.checked_on.map_or(String::new(), |d| d.to_string())
            );
        }
    }
    if !t.repairs.is_empty() {
        let _ = writeln!(w, "\nrepair applications");
        for x in &t.repairs {
            let _ = writeln!(
                w,
                "  {}  {} for {}{}",
                x.applied_on,
                x.repair_id,
                x.record_id,
                x.commitment_id.as_ref().map_or(String::new(), |c| format!(" with commitment {c}"))
            );
        }
    }
    if !t.flagged_persons.is_empty() || !t.reached_from_here.is_empty() || !t.reached_by.is_empty() {
        let _ = writeln!(w, "\npropagation");
        for p in &t.flagged_persons {
            let _ = writeln!(w, "  flags {} until {} ({}): {}", p.path, p.until, p.measures.join(", "), p.reason);
        }
        for x in &t.reached_from_here {
            let _ = writeln!(w, "  reaches {} ({}): {}", x.path, x.effect, x.reason);
        }
        for x in &t.reached_by {
            let _ = writeln!(
                w,
                "  reached by {} ({}), source records {}: {}",
                x.path,
                x.effect,
                x.source_records.join(", "),
                x.reason
            );
        }
    }
    let _ = writeln!(w, "\nexplanation\n  {}", t.explanation);
    s
}

pub fn propagate(a: PropagateArgs, store: &Path) -> Result<Outcome, CliError> {
    let rules = load_rules(&a.rules)?;
    let loaded = load_with_results(&a.data, store)?;
    let c = classify_with(&loaded, &rules, a.as_of, &mut |_| {})?;
    write_propagation(&a.out, &c.propagation)?;
    let p = &c.propagation;
    println!("propagation as of {} over {} ({})", a.as_of, a.data.display(), loaded.hash);
    print!("{}", render_counts(p));
    println!("wrote {}", a.out.display());
    Ok(Outcome::Ok)
}

pub fn render_counts(p: &Propagation) -> String {
    let (by_role, by_effect) = crate::propagate::counts(p);
    let mut s = format!("blacklisted sources: {}\nflagged persons: {}\n", p.sources, p.persons.len());
    for (k, v) in by_role {
        s.push_str(&format!("  via {k:<22} {v:>8}\n"));
    }
    s.push_str(&format!("entities reached: {}\n", p.entities.len()));
    for (k, v) in by_effect {
        s.push_str(&format!("  {k:<26} {v:>8}\n"));
    }
    s
}

fn write_propagation(path: &Path, p: &Propagation) -> Result<(), CliError> {
    let err = |e: std::io::Error| CliError(format!("{}: {e}", path.display()));
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(err)?);
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::to_writer_pretty(&mut f, p)?,
        Some("csv") => {
            writeln!(f, "kind,id,role,effect_or_measures,until,depth,source,source_records,path").map_err(err)?;
            for x in &p.persons {
                writeln!(
                    f,
                    "person,{},{},{},{},{},{},{},{}",
                    x.person_id,
                    x.role,
                    x.measures.join(";"),
                    x.until,
                    x.depth,
                    x.source,
                    x.source_records.join(";"),
                    x.path
                )
                .map_err(err)?;
            }
            for x in &p.entities {
                writeln!(
                    f,
                    "entity,{},{},{},,{},{},{},{}",
                    x.uscc,
                    x.role,
                    x.effect,
                    x.depth,
                    x.source,
                    x.source_records.join(";"),
                    x.path
                )
                .map_err(err)?;
            }
        }
        _ => return Err(CliError(format!("{}: the output must end in .json or .csv", path.display()))),
    }
    f.flush().map_err(err)?;
    Ok(())
}

pub fn lists(a: ListsArgs, store: &Path) -> Result<Outcome, CliError> {
    let rules = load_rules(&a.rules)?;
    let loaded = load_with_results(&a.data, store)?;
    let mut listed = Vec::new();
    classify_with(&loaded, &rules, a.as_of, &mut |shard| {
        listed.extend(shard.into_iter().filter(|r| {
            let on = match a.kind {
                ListKind::KeyAttention => r.key_attention,
                ListKind::Blacklist => r.blacklisted,
            };
            on && a.department.as_ref().is_none_or(|d| r.departments.iter().any(|x| &**x == d))
        }))
    })?;
    // In dataset order.
    listed.sort_by_key(|r| r.row);
    let mut n = 0;
    for r in &listed {
        n += 1;
        let why: Vec<String> = r
            .decisions
            .iter()
            .filter(|d| match a.kind {
                ListKind::KeyAttention => {
                    matches!(d.stage, crate::engine::Stage::Accumulation | crate::engine::Stage::EntityLink)
                }
                ListKind::Blacklist => d.stage == crate::engine::Stage::Blacklist,
            })
            .map(|d| d.to_string())
            .collect();
        println!("{} {}\n  {}", r.uscc, r.name, why.join("\n  "));
    }
    println!(
        "{n} entities on the {} list as of {}{}",
        match a.kind {
            ListKind::KeyAttention => "key-attention",
            ListKind::Blacklist => "serious-dishonesty",
        },
        a.as_of,
        a.department.map(|d| format!(" with {d} inspection items")).unwrap_or_default()
    );
    Ok(Outcome::Ok)
}
