//! `credo draw create | reveal | cancel | list | show | export | verify | publish`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::classify::load_rules;
use super::{CliError, Outcome};
use crate::data;
use crate::draw::BeaconRule;
use crate::i18n::Lang;
use crate::model::Date;
use crate::model::access::Principal;
use crate::ops;
use crate::plan::{PlanKind, PlanParams, SelectionMode};
use crate::store::Store;
use crate::tr;

#[derive(Subcommand)]
pub enum DrawCommand {
    /// Create a plan: classify, freeze the frame, record the commitment.
    Create(CreateArgs),
    /// Reveal the secret and draw (once): entities, then officers.
    Reveal(RevealArgs),
    /// Cancel a plan that has not been drawn (audited; re-rolling shows).
    Cancel(CancelArgs),
    /// List plans.
    List,
    /// A plan, its frame counts, its draw and its audit trail.
    Show(ShowArgs),
    /// Write the self-contained bundle an auditor checks without credo.
    Export(PlanOut),
    /// Re-derive a draw (from a bundle file or a stored plan): "identical" or the first difference.
    Verify(VerifyArgs),
    /// Record an inspection result for a visit (what an officer reports).
    Result(ResultArgs),
    /// Write the public disclosure (no personal data): the plan, and its
    /// results once released.
    Publish(PlanOut),
}

/// A stored plan and a file to write about it.
#[derive(Args)]
pub struct PlanOut {
    plan: i64,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub struct RevealArgs {
    plan: i64,
    /// The secret (hex) whose SHA-256 the plan committed to.
    #[arg(long)]
    secret: String,
    /// The beacon value exactly as its source published it (the plan's
    /// rule makes bytes of it); omit it for a plan that names no beacon.
    /// For a plan made by an older credo (credo-draw-v1): hex bytes.
    #[arg(long, default_value = "")]
    beacon: String,
    /// Dataset, for entity names on visits.
    #[arg(long)]
    data: PathBuf,
}

#[derive(Args)]
pub struct CancelArgs {
    plan: i64,
    #[arg(long)]
    reason: String,
}

#[derive(Args)]
pub struct ShowArgs {
    plan: i64,
    /// Visits to list.
    #[arg(long, default_value_t = 20)]
    visits: usize,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// A bundle file.
    #[arg(long, conflicts_with = "plan")]
    bundle: Option<PathBuf>,
    /// A stored plan.
    #[arg(long)]
    plan: Option<i64>,
    /// The issuing store's public key (hex, or a file holding it): the
    /// bundle must carry a valid signature of this key.
    #[arg(long)]
    public_key: Option<String>,
    /// The beacon value you read at the plan's beacon source: the
    /// bundle must have been drawn with exactly this value.
    #[arg(long)]
    beacon_value: Option<String>,
    /// The plan's public disclosure (signed JSON): its signature, plan
    /// id, commitment and frame hash must match the bundle.
    #[arg(long, requires = "bundle")]
    disclosure: Option<PathBuf>,
}

#[derive(Args)]
pub struct ResultArgs {
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
    /// The dataset whose officer roster names the officer's department,
    /// and whose commitments a breached commitment check settles (the
    /// plan's dataset; default: the dataset the store imported).
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    Random,
    CommitmentCheck,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BeaconRuleArg {
    Text,
    Digits,
    Hex,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Probability,
    Quota,
}

#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    inputs: super::Inputs,
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
    /// The public randomness to combine with the secret, named in advance
    /// (who publishes what, where), e.g. "China Welfare Lottery 3D draw
    /// 2026185, cwl.gov.cn". Without it the plan explicitly has no beacon.
    #[arg(long, default_value = "", requires_all = ["beacon_rule", "beacon_published_at"])]
    beacon_source: String,
    /// How the published value becomes beacon bytes: text (as published),
    /// digits (its decimal digits) or hex.
    #[arg(long, value_enum, requires = "beacon_source")]
    beacon_rule: Option<BeaconRuleArg>,
    /// When the beacon value will be published (RFC 3339); after now.
    #[arg(long, requires = "beacon_source")]
    beacon_published_at: Option<String>,
    /// Commit to your own secret: give SHA-256(secret) as hex. Without it
    /// credo generates a secret and shows it once.
    #[arg(long)]
    commitment: Option<String>,
}

/// A public key given as hex or as a file holding it.
pub(crate) fn read_public_key(arg: &str) -> Result<crate::trust::PublicKey, CliError> {
    let path = Path::new(arg);
    let text = if path.is_file() {
        std::fs::read_to_string(path).map_err(|e| CliError::file(path.display(), e))?
    } else {
        arg.to_string()
    };
    crate::trust::PublicKey::from_hex(&text).map_err(|e| {
        CliError(e.text().map(|lang, e| match lang {
            crate::i18n::Lang::Zh => format!("--public-key {arg}：{e}"),
            crate::i18n::Lang::En => format!("--public-key {arg}: {e}"),
        }))
    })
}

fn hex32(what: &str, s: &str) -> Result<[u8; 32], CliError> {
    crate::model::parse_hex32(s.trim()).map_err(|e| {
        CliError(e.text().map(|lang, e| match lang {
            crate::i18n::Lang::Zh => format!("{what} 的值无效：{e}"),
            crate::i18n::Lang::En => format!("{what}: {e}"),
        }))
    })
}

pub fn run(cmd: DrawCommand, store_path: &Path, lang: crate::i18n::Lang) -> Result<Outcome, CliError> {
    let store = Store::open(store_path)?;
    match cmd {
        DrawCommand::Create(a) => create(&store, a, lang),
        DrawCommand::Reveal(a) => reveal(&store, a, lang),
        DrawCommand::Cancel(a) => cancel(&store, a, lang),
        DrawCommand::List => list(&store, lang),
        DrawCommand::Show(a) => show(&store, a, lang),
        DrawCommand::Export(a) => export(&store, a, lang),
        DrawCommand::Verify(a) => verify(&store, a, lang),
        DrawCommand::Result(a) => result(&store, a, lang),
        DrawCommand::Publish(a) => publish(&store, a, lang),
    }
}

impl CreateArgs {
    /// The plan's parameters: the rules' draw defaults, then the flags.
    fn params(&self, rules: &crate::engine::RuleSet) -> PlanParams {
        let kind = match self.kind {
            KindArg::Random => PlanKind::Random,
            KindArg::CommitmentCheck => PlanKind::CommitmentCheck,
        };
        let mut params = PlanParams::with_defaults(
            &self.name,
            kind,
            self.departments.clone(),
            self.inputs.as_of,
            &rules.manifest.draw,
        );
        if let Some(m) = self.mode {
            params.mode = match m {
                ModeArg::Probability => SelectionMode::Probability,
                ModeArg::Quota => SelectionMode::Quota,
            };
        }
        if let Some(r) = self.ratio {
            // One share named for the plan replaces the rules' shares by tier.
            params.ratio = r;
            params.quota_ratio_by_tier.clear();
        }
        params.release_at = self.release_at.clone();
        params.beacon_source = self.beacon_source.clone();
        params.beacon_rule = match self.beacon_rule {
            None => BeaconRule::None,
            Some(BeaconRuleArg::Text) => BeaconRule::Text,
            Some(BeaconRuleArg::Digits) => BeaconRule::Digits,
            Some(BeaconRuleArg::Hex) => BeaconRule::Hex,
        };
        params.beacon_published_at = self.beacon_published_at.clone().unwrap_or_default();
        params
    }
}

fn create(store: &Store, a: CreateArgs, lang: Lang) -> Result<Outcome, CliError> {
    let rules = load_rules(&a.inputs.rules)?;
    let mut loaded = data::load(&a.inputs.data)?;
    ops::add_submitted(store, &mut loaded.snapshot).map_err(CliError::from)?;
    let params = a.params(&rules);
    let commitment = a.commitment.as_deref().map(|c| hex32("--commitment", c)).transpose()?;
    let created = ops::create_plan(
        store,
        &loaded,
        &a.inputs.data.display().to_string(),
        &rules,
        &params,
        commitment,
        &Principal::operator("cli"),
    )
    .map_err(CliError::from)?;
    print_created(&created, lang);
    Ok(Outcome::Ok)
}

fn print_created(created: &ops::CreatedPlan, lang: Lang) {
    let (id, run) = (created.id, created.run_id);
    say!(lang, "计划 {id} 已创建（分级分类运行 {run}）", "plan {id} created (classification run {run})");
    say!(lang, "计划编号   {}", "plan id    {}", created.plan_id);
    say!(lang, "抽查框     {}", "frame      {}", created.frame_hash);
    say!(lang, "承诺值     {}", "commitment {}", created.commitment);
    if !created.replaces.is_empty() {
        say!(lang, "替代       {}（已取消）", "replaces   {} (cancelled)", created.replaces.join(", "));
    }
    if !created.excluded_by.is_empty() {
        let by = created.excluded_by.join(", ");
        say!(lang, "历史       排除了 {by} 已检查过的主体", "history    entities excluded by visits of {by}");
    }
    let (n, eligible) = (created.stats.entities, created.stats.eligible);
    say!(lang, "主体       {n}（{eligible} 个纳入抽查框）", "entities   {n} ({eligible} eligible)");
    for (why, n) in &created.stats.excluded {
        let why = crate::i18n::exclusion_kind(why, lang);
        say!(lang, "  排除 {n:>8}：{why}", "  excluded {n:>8}: {why}");
    }
    if let Some(secret) = &created.secret {
        say!(lang, "\n秘密值     {secret}", "\nsecret     {secret}");
        say!(
            lang,
            "请妥善保管秘密值，揭示前不得公开：credo 不保存它。",
            "Keep the secret safe and private until the reveal: credo does not store it."
        );
    }
    say!(
        lang,
        "请立即公布承诺值和抽查框哈希（`credo draw publish {id}`）：在揭示前公布，重新抽取就无法隐瞒。",
        "Publish the commitment and frame hash now (`credo draw publish {id}`): published before the reveal, \
         they make a re-roll impossible to hide."
    );
}

fn reveal(store: &Store, a: RevealArgs, lang: Lang) -> Result<Outcome, CliError> {
    let RevealArgs { plan, secret, beacon, data: dir } = a;
    let loaded = data::load(&dir)?;
    let secret = ops::parse_hex("--secret", &secret).map_err(CliError::from)?;
    let names = ops::name_lookup(&loaded.snapshot);
    let r = ops::reveal_plan(store, &names, plan, &secret, &beacon, "cli").map_err(CliError::from)?;
    let (visits, staffed, unstaffed) = (r.visits, r.staffed, r.unstaffed);
    say!(
        lang,
        "计划 {plan} 已抽取：{visits} 次检查，{staffed} 次已配备执法人员，{unstaffed} 次无法配备",
        "plan {plan} drawn: {visits} visits, {staffed} staffed, {unstaffed} unstaffed"
    );
    say!(lang, "结果 {}", "result {}", r.result_hash);
    Ok(Outcome::Ok)
}

fn cancel(store: &Store, a: CancelArgs, lang: Lang) -> Result<Outcome, CliError> {
    let plan = a.plan;
    store.cancel_plan(plan, "cli", &a.reason)?;
    say!(
        lang,
        "计划 {plan} 已取消；它连同承诺值仍留在公开列表中，覆盖同一范围的新计划会注明替代了它",
        "plan {plan} cancelled; it stays in the public list with its commitment, and a new plan over the \
         same population names it as replaced"
    );
    Ok(Outcome::Ok)
}

fn list(store: &Store, lang: Lang) -> Result<Outcome, CliError> {
    for p in store.plans()? {
        let cancelled = p
            .cancelled_at
            .as_deref()
            .map(|t| match lang {
                Lang::Zh => format!("（已于 {t} 取消）"),
                Lang::En => format!(" (cancelled {t})"),
            })
            .unwrap_or_default();
        println!(
            "{:>4} {:<10} {:<17} {} {} {}{cancelled}",
            p.id,
            p.status.as_str(),
            p.kind.as_str(),
            p.created_at,
            ops::global_plan_id(store, p.id),
            p.name
        );
    }
    Ok(Outcome::Ok)
}

fn show(store: &Store, a: ShowArgs, lang: Lang) -> Result<Outcome, CliError> {
    let ShowArgs { plan, visits } = a;
    let p = store.plan(plan)?;
    print_plan(store, &p, lang);
    let vs = store.visits(plan)?;
    if !vs.is_empty() {
        let (n, staffed) = (vs.len(), vs.iter().filter(|v| v.unstaffed.is_none()).count());
        say!(lang, "\n{n} 次检查，{staffed} 次已配备执法人员", "\n{n} visits, {staffed} staffed");
    }
    for v in vs.iter().take(visits) {
        let items: Vec<_> = v.items.iter().map(|(_, c)| c.as_str()).collect();
        let (seq, uscc, name, items) = (v.seq, &v.uscc, &v.name, items.join(" "));
        match &v.unstaffed {
            None => {
                let officers = v.officers.join(", ");
                say!(
                    lang,
                    "{seq:>5} {uscc} {name} [{items}] 执法人员 {officers}",
                    "{seq:>5} {uscc} {name} [{items}] officers {officers}"
                )
            }
            Some(why) => {
                let why = crate::i18n::unstaffed_reason(why, lang);
                say!(
                    lang,
                    "{seq:>5} {uscc} {name} [{items}] 无法配备：{why}",
                    "{seq:>5} {uscc} {name} [{items}] UNSTAFFED: {why}"
                )
            }
        }
    }
    say!(lang, "\n审计记录", "\naudit trail");
    for e in store.read(|c| crate::store::audit::entries(c, Some(&format!("plan/{plan}"))))? {
        println!("  {:>5} {} {:<14} {}", e.seq, e.at, e.action, e.actor);
    }
    Ok(Outcome::Ok)
}

/// A plan's stored fields, as `draw show` prints them before its visits.
fn print_plan(store: &Store, p: &crate::store::PlanRecord, lang: Lang) {
    let (id, name, kind, status) = (p.id, &p.name, &p.kind, &p.status);
    say!(lang, "计划 {id} “{name}”（{kind}）{status}", "plan {id} \"{name}\" ({kind}) {status}");
    say!(lang, "编号     {}（{}）", "id       {} ({})", ops::global_plan_id(store, p.id), p.spec);
    say!(lang, "创建     {}，创建者 {}", "created  {} by {}", p.created_at, p.created_by);
    say!(lang, "参数     {}", "params   {}", p.params);
    say!(
        lang,
        "数据集   {}\n规则     {}\n抽查框   {}\n承诺值   {}",
        "dataset  {}\nrules    {}\nframe    {}\ncommit   {}",
        p.dataset_hash,
        p.rules_hash,
        p.frame_hash,
        p.commitment
    );
    say!(lang, "公布时间 {}", "release  {}", p.release_at);
    if p.beacon_source.is_empty() {
        say!(lang, "随机信标 无（计划未指定信标）", "beacon   none (the plan names no beacon)");
    } else {
        let (source, rule, published) = (&p.beacon_source, &p.beacon_rule, &p.beacon_published_at);
        say!(
            lang,
            "随机信标 {source}（规则 {rule}，发布于 {published}）",
            "beacon   {source} (rule {rule}, published {published})"
        );
    }
    if let Some(v) = &p.beacon_value
        && !v.is_empty()
    {
        let at = p.beacon_supplied_at.clone().unwrap_or_default();
        say!(lang, "         取值 '{v}'，提供于 {at}", "         value '{v}' supplied {at}");
    }
    if let Some(t) = &p.cancelled_at {
        let why = p.cancelled_reason.clone().unwrap_or_default();
        say!(lang, "已于 {t} 取消：{why}", "cancelled {t}: {why}");
    }
    if !p.replaces.is_empty() {
        say!(lang, "替代     {}", "replaces {}", p.replaces.join(", "));
    }
    if !p.excluded_by.is_empty() {
        let by = p.excluded_by.join(", ");
        say!(lang, "历史     排除了 {by} 已检查过的主体", "history  entities excluded by visits of {by}");
    }
    say!(lang, "抽查框   {}", "frame    {}", p.frame_stats);
    if let Some(r) = &p.result_hash {
        let at = p.revealed_at.clone().unwrap_or_default();
        say!(lang, "结果     {r}（揭示于 {at}）", "result   {r} (revealed {at})");
    }
}

fn export(store: &Store, a: PlanOut, lang: Lang) -> Result<Outcome, CliError> {
    let PlanOut { plan, out } = a;
    let text = ops::export_bundle(store, plan).map_err(CliError::from)?;
    std::fs::write(&out, &text).map_err(|e| CliError::file(out.display(), e))?;
    let (out, n) = (out.display(), text.len());
    say!(
        lang,
        "已写入 {out}（{n} 字节）；可用 `credo draw verify --bundle {out}` 或 docs/verify_draw.py 核验",
        "wrote {out} ({n} bytes); check it with `credo draw verify --bundle {out}` or docs/verify_draw.py"
    );
    Ok(Outcome::Ok)
}

fn verify(store: &Store, a: VerifyArgs, lang: Lang) -> Result<Outcome, CliError> {
    let VerifyArgs { bundle, plan, public_key, beacon_value, disclosure } = a;
    let public_key = public_key.as_deref().map(read_public_key).transpose()?;
    let options = crate::draw::VerifyOptions { public_key, beacon_value };
    let mut text = None;
    let report = match (bundle, plan) {
        (Some(path), _) => {
            let bytes = std::fs::read(&path).map_err(|e| CliError::file(path.display(), e))?;
            match String::from_utf8(bytes) {
                Ok(t) => {
                    let r = crate::draw::verify_with(&t, &options);
                    text = Some(t);
                    r
                }
                Err(e) => {
                    let at = e.utf8_error().valid_up_to();
                    crate::draw::Report::plain(tr!(
                        "数据包不是 UTF-8 文本（第 {at} 字节）",
                        "the bundle is not UTF-8 (byte {at})"
                    ))
                }
            }
        }
        (None, Some(id)) => ops::verify_plan(store, id).map_err(CliError::from)?,
        (None, None) => {
            return Err(CliError(tr!("请给出 --bundle 文件或 --plan ID", "give --bundle FILE or --plan ID")));
        }
    };
    println!("{}", report.text().get(lang));
    if !report.is_identical() {
        return Ok(Outcome::Findings);
    }
    if let (Some(path), Some(bundle)) = (disclosure, text) {
        let d = std::fs::read_to_string(&path).map_err(|e| CliError::file(path.display(), e))?;
        match ops::check_disclosure(&bundle, &d, options.public_key.as_ref()) {
            Ok(summary) => {
                let summary = summary.get(lang);
                say!(lang, "公示文件 {}：{summary}", "disclosure {}: {summary}", path.display())
            }
            Err(e) => {
                let e = e.text();
                let e = e.get(lang);
                say!(lang, "公示文件 {}：{e}", "disclosure {}: {e}", path.display());
                return Ok(Outcome::Findings);
            }
        }
    }
    Ok(Outcome::Ok)
}

fn result(store: &Store, a: ResultArgs, lang: Lang) -> Result<Outcome, CliError> {
    let ResultArgs { plan, visit, officer, department, result, commitment, date, notes, data: dir } = a;
    // The same checks as the API: the officer's department comes
    // from the roster, and the policy decides.
    let roster = match &dir {
        Some(d) => data::roster(d)?,
        None => ops::access::store_roster(store).map_err(|e| {
            CliError(e.text().map(|lang, e| match lang {
                crate::i18n::Lang::Zh => format!("{e}；请给出 --data（含检查人员名册的数据集）"),
                crate::i18n::Lang::En => format!("{e}; give --data (the dataset with the officer roster)"),
            }))
        })?,
    };
    let principal = ops::access::officer_principal(store, &roster, &officer).map_err(CliError::from)?;
    let new = ops::NewResult {
        plan,
        visit,
        department: &department,
        result: &result,
        commitment_status: commitment.as_deref(),
        inspected_on: date,
        notes: &notes,
    };
    let id =
        ops::submit_result(store, &principal, &new, ops::limits::today(), dir.as_deref()).map_err(CliError::from)?;
    say!(
        lang,
        "结果 {id} 已记录（计划 {plan} 的第 {visit} 次检查）；下次分级分类将计入",
        "result {id} recorded for visit {visit} of plan {plan}; the next classification counts it"
    );
    Ok(Outcome::Ok)
}

fn publish(store: &Store, a: PlanOut, lang: Lang) -> Result<Outcome, CliError> {
    let PlanOut { plan, out } = a;
    let now = chrono::Utc::now().fixed_offset();
    let p = ops::publish(store, plan, now, lang, ops::Layout::Pretty, "cli").map_err(CliError::from)?;
    std::fs::write(&out, &p.text).map_err(|e| CliError::file(out.display(), e))?;
    let digest = p.digest;
    let what = match (p.disclosure.draw.is_some(), lang) {
        (true, Lang::Zh) => "计划与结果",
        (true, Lang::En) => "plan and results",
        (false, Lang::Zh) => "仅计划：结果在公布时间之后出现",
        (false, Lang::En) => "plan only: results appear after the release time",
    };
    let (out, key) = (out.display(), store.identity().public_key());
    say!(
        lang,
        "已写入 {out}（{what}，sha256 {digest}，签名公钥 {key}）",
        "wrote {out} ({what}, sha256 {digest}, signed by {key})"
    );
    Ok(Outcome::Ok)
}
