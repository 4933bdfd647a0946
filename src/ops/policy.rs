//! Least privilege, decided in one place: may principal P do action A on
//! resource R? The API and the CLI ask here before any work; nothing else
//! compares roles, jurisdictions, departments or release times.
//!
//! The rules, in short:
//! - regulators manage within their jurisdiction (province, city,
//!   county); rules and classification runs are province-wide, so only a
//!   province-level regulator changes them;
//! - auditors read and verify within their jurisdiction and change
//!   nothing (no background jobs either);
//! - officers see their own released assignments and file results only
//!   for their own department's items on visits they are on;
//! - before a plan's release its secret (and the bundle, which holds it)
//!   is the creating principal's alone; its visits are also visible to
//!   the creator's superiors (regulators of a wider jurisdiction);
//! - the audit log spans every jurisdiction: province-level readers only;
//! - an entity's agent files objections to its own entity's records and
//!   does nothing else.

use crate::i18n::Text;
use crate::model::access::{Jurisdiction, Principal, Role};
use crate::tr;

/// Everything a front end can ask to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    CreateToken,
    ListTokens,
    RevokeToken,
    ReadRules,
    ChangeRules,
    StartDiffJob,
    ReadJob,
    ReadRuns,
    StartRun,
    ReadEntity,
    CreatePlan,
    ReadPlan,
    ReadPlanSecret,
    RevealPlan,
    CancelPlan,
    PublishPlan,
    ReadVisits,
    ReadBundle,
    VerifyPlan,
    ReadOwnAssignments,
    SubmitResult,
    ReadAudit,
    VerifyAudit,
    ReadPublic,
    /// 异议申诉: file an objection to an entity's record.
    FileObjection,
    /// Uphold or reject an open objection.
    DecideObjection,
    ReadObjections,
}

/// What the policy needs to know about a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanFacts {
    /// The creating principal (none for plans made before principals
    /// existed, or by the store's operator).
    pub creator: Option<i64>,
    /// The creator's jurisdiction, which the plan covers.
    pub jurisdiction: Jurisdiction,
    /// Whether the release time has passed.
    pub released: bool,
}

/// What an action is about.
#[derive(Clone, Copy, Debug)]
pub enum Resource<'a> {
    /// The store as a whole (lists, rules, runs, the audit log).
    Store,
    /// A place: an entity's county (or city) code.
    Place(u32),
    /// An entity: its credit code and where it is registered.
    Entity {
        uscc: &'a str,
        place: u32,
    },
    /// A principal (for tokens): its id and jurisdiction.
    Principal {
        id: i64,
        jurisdiction: Jurisdiction,
    },
    Plan(&'a PlanFacts),
    /// A drawn visit: its plan, team and (department, item) pairs, and the
    /// department a result is filed for.
    Visit {
        plan: &'a PlanFacts,
        team: &'a [String],
        items: &'a [(String, String)],
        department: &'a str,
    },
}

/// Why not: always names the rule that refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub Text);

fn deny<T>(m: Text) -> Result<T, Denied> {
    Err(Denied(m))
}

/// What is asked for or about, in both languages: `[zh, en]`.
type What = [&'static str; 2];

fn roles(p: &Principal, allowed: &[Role], [zh, en]: What) -> Result<(), Denied> {
    if allowed.contains(&p.role) {
        Ok(())
    } else {
        let names: Vec<_> = allowed.iter().map(|r| r.as_str()).collect();
        let (zh_names, en_names, role) = (names.join(" 或 "), names.join(" or "), p.role);
        deny(tr!(
            "{zh}需要 {zh_names} 角色；该令牌是 {role} 令牌",
            "{en} needs the role {en_names}; the token is a {role} token"
        ))
    }
}

fn province(p: &Principal, [zh, en]: What) -> Result<(), Denied> {
    if p.jurisdiction == Jurisdiction::PROVINCE {
        Ok(())
    } else {
        let j = p.jurisdiction;
        deny(tr!("{zh}为全省范围；该令牌的辖区是 {j}", "{en} is province-wide; the token's jurisdiction is {j}"))
    }
}

fn within(p: &Principal, j: Jurisdiction, [zh, en]: What) -> Result<(), Denied> {
    if p.jurisdiction.contains(j) {
        Ok(())
    } else {
        let mine = p.jurisdiction;
        deny(tr!(
            "{zh}属于辖区 {j}，在该令牌的辖区 {mine} 之外",
            "{en} is in jurisdiction {j}, outside the token's jurisdiction {mine}"
        ))
    }
}

fn within_code(p: &Principal, code: u32, [zh, en]: What) -> Result<(), Denied> {
    if p.jurisdiction.contains_code(code) {
        Ok(())
    } else {
        let mine = p.jurisdiction;
        deny(tr!(
            "{zh}登记于 {code}，在该令牌的辖区 {mine} 之外",
            "{en} is registered in {code}, outside the token's jurisdiction {mine}"
        ))
    }
}

fn is_creator(p: &Principal, plan: &PlanFacts) -> bool {
    plan.creator.is_some_and(|c| c == p.id && p.id != 0) || (plan.creator.is_none() && p.id == 0)
}

/// The creator or a regulator of a wider jurisdiction than the plan's.
fn creator_or_superior(p: &Principal, plan: &PlanFacts) -> bool {
    is_creator(p, plan)
        || (p.role == Role::Regulator && p.jurisdiction.strictly_contains(plan.jurisdiction))
        || (plan.creator.is_none() && p.role == Role::Regulator && p.jurisdiction == Jurisdiction::PROVINCE)
}

/// May `p` do `a` on `r`? `Ok` or the reason it may not.
pub fn decide(p: &Principal, a: Action, r: Resource<'_>) -> Result<(), Denied> {
    use Action::*;
    use Role::*;
    match (a, r) {
        (ReadPublic, _) => Ok(()),
        (CreateToken, Resource::Principal { jurisdiction, .. }) => {
            roles(p, &[Regulator], ["创建令牌", "creating tokens"])?;
            within(p, jurisdiction, ["令牌的主体", "the token's principal"])
        }
        (ListTokens, Resource::Store) => roles(p, &[Regulator], ["列出令牌", "listing tokens"]),
        (RevokeToken, Resource::Principal { id, jurisdiction }) => {
            if id == p.id && p.id != 0 {
                return Ok(()); // anyone may give up their own tokens
            }
            roles(p, &[Regulator], ["吊销他人的令牌", "revoking another principal's token"])?;
            within(p, jurisdiction, ["令牌的主体", "the token's principal"])
        }
        (ReadRules | ReadRuns | ReadJob, Resource::Store) => {
            roles(p, &[Regulator, Auditor], ["读取规则、运行和作业", "reading rules, runs and jobs"])
        }
        (ChangeRules, Resource::Store) => {
            roles(p, &[Regulator], ["修改规则", "changing rules"])?;
            province(p, ["启用的规则集", "the active rule set"])
        }
        (StartRun, Resource::Store) => {
            roles(p, &[Regulator], ["启动分级分类", "starting a classification"])?;
            province(p, ["分级分类运行", "a classification run"])
        }
        (StartDiffJob, Resource::Store) => {
            roles(p, &[Regulator], ["启动后台比较作业", "starting a background diff job"])
        }
        (ReadEntity, Resource::Place(code)) => {
            roles(p, &[Regulator, Auditor], ["读取主体", "reading an entity"])?;
            if p.jurisdiction.contains_code(code) { Ok(()) } else { within_code(p, code, ["该主体", "the entity"]) }
        }
        (CreatePlan, Resource::Store) => roles(p, &[Regulator], ["创建计划", "creating a plan"]),
        (ReadPlan, Resource::Plan(plan)) => {
            roles(p, &[Regulator, Auditor], ["读取计划", "reading a plan"])?;
            within(p, plan.jurisdiction, ["该计划", "the plan"])
        }
        (ReadPlanSecret | ReadBundle, Resource::Plan(plan)) => {
            decide(p, ReadPlan, r)?;
            if plan.released || is_creator(p, plan) {
                Ok(())
            } else {
                deny(tr!(
                    "发布时间之前，计划的秘密值（以及包含它的数据包）只有创建该计划的主体可见",
                    "before its release time a plan's secret (and the bundle, which holds it) is visible only to the principal that created it"
                ))
            }
        }
        (ReadVisits | VerifyPlan, Resource::Plan(plan)) => {
            decide(p, ReadPlan, r)?;
            if plan.released || creator_or_superior(p, plan) {
                Ok(())
            } else {
                deny(tr!(
                    "计划尚未发布；发布之前只有创建者及其上级可以看到任务分配",
                    "the plan is not released yet; before that only its creator and the creator's superiors see the assignments"
                ))
            }
        }
        (RevealPlan | CancelPlan | PublishPlan, Resource::Plan(plan)) => {
            roles(p, &[Regulator], ["公开抽取、取消或发布计划", "revealing, cancelling or publishing a plan"])?;
            within(p, plan.jurisdiction, ["该计划", "the plan"])?;
            if creator_or_superior(p, plan) {
                Ok(())
            } else {
                deny(tr!(
                    "只有计划的创建者或更大辖区的监管人员可以公开抽取、取消或发布该计划",
                    "only the plan's creator or a regulator of a wider jurisdiction may reveal, cancel or publish it"
                ))
            }
        }
        (ReadOwnAssignments, Resource::Store) => roles(p, &[Officer], ["读取本人任务", "reading one's assignments"]),
        (SubmitResult, Resource::Visit { plan, team, items, department }) => {
            roles(p, &[Officer], ["提交检查结果", "filing a result"])?;
            let Some(me) = p.officer_id.as_deref() else {
                return deny(tr!("该检查人员令牌未指明检查人员", "the officer token names no officer"));
            };
            if !team.iter().any(|o| o == me) {
                return deny(tr!("该检查任务未分配给 {me}", "the visit is not assigned to {me}"));
            }
            if !plan.released {
                return deny(tr!("计划尚未发布", "the plan is not released yet"));
            }
            if p.department.as_deref() != Some(department) {
                let (zh_own, en_own) = match p.department.as_deref() {
                    Some(d) => (d, d),
                    None => ("无部门", "no department"),
                };
                return deny(tr!(
                    "{me} 是 {zh_own} 的检查人员，只能为本部门提交结果，不能为 {department} 提交",
                    "{me} is an officer of {en_own}, and files results only for that department, not {department}"
                ));
            }
            if !items.iter().any(|(d, _)| d == department) {
                return deny(tr!("该检查任务没有 {department} 的检查事项", "the visit has no {department} items"));
            }
            Ok(())
        }
        (FileObjection, Resource::Entity { uscc, place }) => match p.role {
            Agent => match p.entity.as_deref() {
                Some(own) if own == uscc => Ok(()),
                Some(own) => deny(tr!(
                    "{own} 的代理人只能为该主体提起异议，不能为 {uscc} 提起",
                    "the agent of {own} files objections for that entity only, not for {uscc}"
                )),
                None => deny(tr!("该代理人令牌未指明主体", "the agent token names no entity")),
            },
            _ => {
                roles(p, &[Regulator, Agent], ["提起异议", "filing an objection"])?;
                within_code(p, place, ["该主体", "the entity"])
            }
        },
        (DecideObjection, Resource::Place(code)) => {
            roles(p, &[Regulator], ["提起或处理异议", "filing or deciding an objection"])?;
            within_code(p, code, ["该主体", "the entity"])
        }
        (ReadObjections, Resource::Place(code)) => {
            roles(p, &[Regulator, Auditor], ["读取异议", "reading objections"])?;
            within_code(p, code, ["该主体", "the entity"])
        }
        (ReadAudit | VerifyAudit, Resource::Store) => {
            roles(p, &[Regulator, Auditor], ["读取审计日志", "reading the audit log"])?;
            province(p, ["审计日志", "the audit log"])
        }
        (a, r) => {
            let [zh, en] = resource_kind(&r);
            deny(tr!("{a:?} 不适用于{zh}", "{a:?} does not apply to {en}"))
        }
    }
}

fn resource_kind(r: &Resource<'_>) -> What {
    match r {
        Resource::Store => ["存储", "the store"],
        Resource::Place(_) => ["地区", "a place"],
        Resource::Entity { .. } => ["市场主体", "an entity"],
        Resource::Principal { .. } => ["主体", "a principal"],
        Resource::Plan(_) => ["计划", "a plan"],
        Resource::Visit { .. } => ["检查任务", "a visit"],
    }
}
