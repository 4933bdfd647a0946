//! `credo entity show`, `credo propagate`, `credo lists`, `credo draw result`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::classify::load_rules;
use super::{CliError, Outcome};
use crate::data;
use crate::i18n::Lang;
use crate::model::{Date, Uscc};
use crate::ops;
use crate::propagate::Propagation;
use crate::tr;

#[derive(Subcommand)]
pub enum EntityCommand {
    /// Tier over time, records, tolerance, exemptions, commitments,
    /// repairs, blacklist status and propagation paths of one entity.
    Show {
        uscc: String,
        #[command(flatten)]
        inputs: super::Inputs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct PropagateArgs {
    #[command(flatten)]
    inputs: super::Inputs,
    /// .json (everything) or .csv (one row per flagged person or reached entity).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ListKind {
    // Their meaning is in the help catalogue (`i18n::help`), in both languages.
    KeyAttention,
    Blacklist,
}

#[derive(Args)]
pub struct ListsArgs {
    #[arg(value_enum)]
    kind: ListKind,
    #[command(flatten)]
    inputs: super::Inputs,
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
        ops::add_submitted(&store, &mut loaded.snapshot).map_err(CliError::from)?;
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
    .map_err(|e| CliError::framed(tr!("分级分类因规则错误而停止：", "classification stopped by a rule error:"), e))
}

pub fn entity(cmd: EntityCommand, store: &Path, lang: Lang) -> Result<Outcome, CliError> {
    match cmd {
        EntityCommand::Show { uscc, inputs: super::Inputs { data: dir, rules, as_of }, json } => {
            let uscc = Uscc::parse(&uscc).map_err(|e| {
                CliError(e.text().map(|lang, e| match lang {
                    Lang::Zh => format!("“{uscc}”不是有效的统一社会信用代码：{e}"),
                    Lang::En => format!("'{uscc}' is not a valid credit code: {e}"),
                }))
            })?;
            let rules = load_rules(&rules)?;
            let loaded = load_with_results(&dir, store)?;
            let mut t = ops::entity_timeline(&loaded.snapshot, &rules, uscc, as_of, lang).map_err(CliError::from)?;
            if store.is_file() {
                ops::add_revocations(&crate::store::Store::open(store)?, &mut t).map_err(CliError::from)?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&t)?);
                return Ok(Outcome::Ok);
            }
            print!("{}", render_timeline(&t, lang));
            Ok(Outcome::Ok)
        }
    }
}

/// The timeline as text, in `lang`.
pub fn render_timeline(t: &ops::Timeline, lang: Lang) -> String {
    use crate::i18n::{Label as L, accumulation_name, record_kind_name, record_status_name, risk_name, tier_name};
    let zh = lang == Lang::Zh;
    let mut s = String::new();
    let e = &t.entity;
    let d = crate::model::region::divisions();
    let w = &mut s;
    use std::fmt::Write as _;
    let _ = writeln!(w, "{} {}", e.uscc, e.name);
    let _ = writeln!(
        w,
        "{} · {} {} · {} {} · {} {} · {}",
        e.entity_type,
        d.name(d.city_of(e.region).unwrap_or(0)),
        d.name(e.region),
        L::Industry.text(lang),
        e.industry,
        L::Registered.text(lang),
        e.registered_on,
        e.status
    );
    if !e.key_fields.is_empty() {
        let _ = writeln!(w, "{}: {}", L::KeySpecialFields.text(lang), e.key_fields.to_list());
    }
    if let Some(n) = e.new_economy {
        let _ = writeln!(w, "{}: {n}", L::NewEconomy.text(lang));
    }
    let _ = writeln!(w, "\n{}", L::TierOverTime.text(lang));
    for p in &t.points {
        let flags = format!(
            "{}{}",
            if p.blacklisted { format!("  {}", L::Blacklisted.text(lang)) } else { String::new() },
            if p.key_attention { format!("  {}", L::KeyAttention.text(lang)) } else { String::new() }
        );
        if zh {
            let _ = writeln!(
                w,
                "  {}  信用等级 {} {}  风险 {}  抽查概率 {:.4}{flags}",
                p.date,
                p.tier,
                tier_name(p.tier, lang),
                risk_name(&p.risk, lang),
                p.probability
            );
        } else {
            let _ = writeln!(w, "  {}  tier {}  risk {:<9} p={:.4}{flags}", p.date, p.tier, p.risk, p.probability);
        }
    }
    let r = &t.result;
    let none = L::None.text(lang);
    let _ = writeln!(w, "\n{} {}", L::AsOf.text(lang), t.as_of);
    if zh {
        let _ = writeln!(w, "  信用等级: {} {}", r.tier, tier_name(r.tier, lang));
    }
    let _ =
        writeln!(w, "  {}: {}", L::ToleranceUntil.text(lang), r.tolerance_until.map_or(none.into(), |d| d.to_string()));
    let _ = writeln!(
        w,
        "  {}: {}",
        L::Exemptions.text(lang),
        if r.exemptions.is_empty() { none.into() } else { r.exemptions.join(", ") }
    );
    let _ = writeln!(w, "  {}: {}", L::Accumulation.text(lang), accumulation_name(r.accumulation.as_str(), lang));
    let _ = writeln!(
        w,
        "  {}: {}",
        L::Blacklist.text(lang),
        if r.blacklisted {
            format!("{} {}", L::ListedUntil.text(lang), r.blacklisted_until.map_or("?".into(), |d| d.to_string()))
        } else {
            L::No.text(lang).into()
        }
    );
    let _ = writeln!(w, "\n{}", L::Records.text(lang));
    if r.records.is_empty() {
        let _ = writeln!(w, "  {none}");
    }
    for x in &r.records {
        let _ = writeln!(
            w,
            "  {}  {:<18} {:<28} {}",
            x.date,
            record_kind_name(x.kind, lang),
            x.id,
            record_status_name(x.status_code(), lang)
        );
    }
    if !t.commitments.is_empty() {
        let _ = writeln!(w, "\n{}", L::Commitments.text(lang));
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
    if !t.revocations.is_empty() {
        let _ = writeln!(w, "\n{}", L::RevokedApprovals.text(lang));
        for v in &t.revocations {
            let _ = if zh {
                writeln!(
                    w,
                    "  {}  {}  部门 {}  承诺 {}（计划 {} 任务 {}）",
                    v.revoked_on, v.approval_item, v.department, v.commitment_id, v.plan_id, v.seq
                )
            } else {
                writeln!(
                    w,
                    "  {}  {}  department {}  commitment {} (plan {} visit {})",
                    v.revoked_on, v.approval_item, v.department, v.commitment_id, v.plan_id, v.seq
                )
            };
        }
    }
    if !t.repairs.is_empty() {
        let _ = writeln!(w, "\n{}", L::RepairApplications.text(lang));
        for x in &t.repairs {
            let _ = writeln!(
                w,
                "  {}  {} {} {}{}",
                x.applied_on,
                x.repair_id,
                L::For.text(lang),
                x.record_id,
                x.commitment_id.as_ref().map_or(String::new(), |c| format!(" {} {c}", L::With.text(lang)))
            );
        }
    }
    if !t.objections.is_empty() {
        let _ = writeln!(w, "\n{}", L::Objections.text(lang));
        for o in &t.objections {
            let _ = writeln!(
                w,
                "  {}  #{} {} {:<24} {} ({})",
                o.filed_on,
                o.id,
                L::For.text(lang),
                o.record_id,
                crate::i18n::objection_status_name(o.status, lang),
                o.reason
            );
            if let (Some(on), Some(by)) = (o.decided_on, &o.decided_by) {
                let why = o.decision_reason.as_deref().unwrap_or("");
                let _ = writeln!(w, "  {on}  #{} {by}: {why}", o.id);
            }
        }
    }
    if !t.flagged_persons.is_empty() || !t.reached_from_here.is_empty() || !t.reached_by.is_empty() {
        let reason = |en: &str, zh_text: &Option<String>| -> String {
            if zh { zh_text.clone().unwrap_or_else(|| en.to_string()) } else { en.to_string() }
        };
        let _ = writeln!(w, "\n{}", L::Propagation.text(lang));
        for p in &t.flagged_persons {
            let _ = writeln!(
                w,
                "  {} {} {} {} ({}): {}",
                L::Flags.text(lang),
                p.path,
                L::Until.text(lang),
                p.until,
                p.measures.join(", "),
                reason(&p.reason, &p.reason_zh)
            );
        }
        for x in &t.reached_from_here {
            let _ = writeln!(
                w,
                "  {} {} ({}): {}",
                L::Reaches.text(lang),
                x.path,
                crate::i18n::link_effect_name(x.effect.as_str(), lang),
                reason(&x.reason, &x.reason_zh)
            );
        }
        for x in &t.reached_by {
            let _ = writeln!(
                w,
                "  {} {} ({}), {} {}: {}",
                L::ReachedBy.text(lang),
                x.path,
                crate::i18n::link_effect_name(x.effect.as_str(), lang),
                L::SourceRecords.text(lang),
                x.source_records.join(", "),
                reason(&x.reason, &x.reason_zh)
            );
        }
    }
    let _ = writeln!(w, "\n{}\n  {}", L::Explanation.text(lang), t.explanation);
    s
}

pub fn propagate(a: PropagateArgs, store: &Path, lang: Lang) -> Result<Outcome, CliError> {
    let rules = load_rules(&a.inputs.rules)?;
    let loaded = load_with_results(&a.inputs.data, store)?;
    let c = classify_with(&loaded, &rules, a.inputs.as_of, &mut |_| {})?;
    write_propagation(&a.out, &c.propagation)?;
    let p = &c.propagation;
    let (as_of, data, hash) = (a.inputs.as_of, a.inputs.data.display(), loaded.hash);
    say!(
        lang,
        "失信惩戒延伸，评价日期 {as_of}，数据 {data}（{hash}）",
        "propagation as of {as_of} over {data} ({hash})"
    );
    print!("{}", render_counts(p, lang));
    say!(lang, "已写入 {}", "wrote {}", a.out.display());
    Ok(Outcome::Ok)
}

pub fn render_counts(p: &Propagation, lang: Lang) -> String {
    let (by_role, by_effect) = crate::propagate::counts(p);
    let (sources, persons, entities) = (p.sources, p.persons.len(), p.entities.len());
    let mut s = match lang {
        Lang::Zh => format!("严重失信来源：{sources}\n波及人员：{persons}\n"),
        Lang::En => format!("blacklisted sources: {sources}\nflagged persons: {persons}\n"),
    };
    for (k, v) in by_role {
        s.push_str(&match lang {
            Lang::Zh => format!("  经由 {k:<22} {v:>8}\n"),
            Lang::En => format!("  via {k:<22} {v:>8}\n"),
        });
    }
    s.push_str(&match lang {
        Lang::Zh => format!("波及主体：{entities}\n"),
        Lang::En => format!("entities reached: {entities}\n"),
    });
    for (k, v) in by_effect {
        let name = crate::i18n::pad(crate::i18n::link_effect_name(&k, lang), 26);
        s.push_str(&format!("  {name} {v:>8}\n"));
    }
    s
}

fn write_propagation(path: &Path, p: &Propagation) -> Result<(), CliError> {
    let err = |e: std::io::Error| CliError::file(path.display(), e);
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
        _ => {
            return Err(CliError(tr!(
                "{}：输出文件须以 .json 或 .csv 结尾",
                "{}: the output must end in .json or .csv",
                path.display()
            )));
        }
    }
    f.flush().map_err(err)?;
    Ok(())
}

pub fn lists(a: ListsArgs, store: &Path, lang: Lang) -> Result<Outcome, CliError> {
    let rules = load_rules(&a.inputs.rules)?;
    let loaded = load_with_results(&a.inputs.data, store)?;
    let list = match a.kind {
        ListKind::KeyAttention => ops::lists::List::KeyAttention,
        ListKind::Blacklist => ops::lists::List::Blacklist,
    };
    let listed =
        ops::lists::list(&loaded.snapshot, &rules, a.inputs.as_of, list, a.department.as_deref()).map_err(|e| {
            CliError::framed(tr!("分级分类因规则错误而停止：", "classification stopped by a rule error:"), e)
        })?;
    let n = listed.len();
    for l in &listed {
        let r = &l.entity;
        let why: Vec<String> = l.reasons.iter().map(|d| d.render(lang)).collect();
        println!("{} {} [{}]\n  {}", r.uscc, r.name, crate::i18n::tier_name(r.tier, lang), why.join("\n  "));
    }
    match lang {
        Lang::En => println!(
            "{n} entities on the {} list as of {}{}",
            match a.kind {
                ListKind::KeyAttention => "key-attention",
                ListKind::Blacklist => "serious-dishonesty",
            },
            a.inputs.as_of,
            a.department.map(|d| format!(" with {d} inspection items")).unwrap_or_default()
        ),
        Lang::Zh => println!(
            "截至 {}，{}{} 户{}",
            a.inputs.as_of,
            a.department.map(|d| format!("有 {d} 检查事项的主体中 ")).unwrap_or_default(),
            n,
            match a.kind {
                ListKind::KeyAttention => "列入重点关注名单",
                ListKind::Blacklist => "列入严重失信名单",
            },
        ),
    }
    Ok(Outcome::Ok)
}
