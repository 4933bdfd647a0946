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

use crate::model::access::{Jurisdiction, Principal, Role};

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
pub struct Denied(pub String);

fn deny<T>(m: impl Into<String>) -> Result<T, Denied> {
    Err(Denied(m.into()))
}

fn roles(p: &Principal, allowed: &[Role], what: &str) -> Result<(), Denied> {
    if allowed.contains(&p.role) {
        Ok(())
    } else {
        let names: Vec<_> = allowed.iter().map(|r| r.as_str()).collect();
        deny(format!("{what} needs the role {}; the token is a {} token", names.join(" or "), p.role))
    }
}

fn province(p: &Principal, what: &str) -> Result<(), Denied> {
    if p.jurisdiction == Jurisdiction::PROVINCE {
        Ok(())
    } else {
        deny(format!("{what} is province-wide; the token's jurisdiction is {}", p.jurisdiction))
    }
}

fn within(p: &Principal, j: Jurisdiction, what: &str) -> Result<(), Denied> {
    if p.jurisdiction.contains(j) {
        Ok(())
    } else {
        deny(format!("{what} is in jurisdiction {j}, outside the token's jurisdiction {}", p.jurisdiction))
    }
}

fn within_code(p: &Principal, code: u32, what: &str) -> Result<(), Denied> {
    if p.jurisdiction.contains_code(code) {
        Ok(())
    } else {
        deny(format!("{what} is registered in {code}, outside the token's jurisdiction {}", p.jurisdiction))
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
            roles(p, &[Regulator], "creating tokens")?;
            within(p, jurisdiction, "the token's principal")
        }
        (ListTokens, Resource::Store) => roles(p, &[Regulator], "listing tokens"),
        (RevokeToken, Resource::Principal { id, jurisdiction }) => {
            if id == p.id && p.id != 0 {
                return Ok(()); // anyone may give up their own tokens
            }
            roles(p, &[Regulator], "revoking another principal's token")?;
            within(p, jurisdiction, "the token's principal")
        }
        (ReadRules | ReadRuns | ReadJob, Resource::Store) => {
            roles(p, &[Regulator, Auditor], "reading rules, runs and jobs")
        }
        (ChangeRules, Resource::Store) => {
            roles(p, &[Regulator], "changing rules")?;
            province(p, "the active rule set")
        }
        (StartRun, Resource::Store) => {
            roles(p, &[Regulator], "starting a classification")?;
            province(p, "a classification run")
        }
        (StartDiffJob, Resource::Store) => roles(p, &[Regulator], "starting a background diff job"),
        (ReadEntity, Resource::Place(code)) => {
            roles(p, &[Regulator, Auditor], "reading an entity")?;
            if p.jurisdiction.contains_code(code) {
                Ok(())
            } else {
                deny(format!("the entity is registered in {code}, outside the token's jurisdiction {}", p.jurisdiction))
            }
        }
        (CreatePlan, Resource::Store) => roles(p, &[Regulator], "creating a plan"),
        (ReadPlan, Resource::Plan(plan)) => {
            roles(p, &[Regulator, Auditor], "reading a plan")?;
            within(p, plan.jurisdiction, "the plan")
        }
        (ReadPlanSecret | ReadBundle, Resource::Plan(plan)) => {
            decide(p, ReadPlan, r)?;
            if plan.released || is_creator(p, plan) {
                Ok(())
            } else {
                deny(
                    "before its release time a plan's secret (and the bundle, which holds it) is visible only to the principal that created it",
                )
            }
        }
        (ReadVisits | VerifyPlan, Resource::Plan(plan)) => {
            decide(p, ReadPlan, r)?;
            if plan.released || creator_or_superior(p, plan) {
                Ok(())
            } else {
                deny(
                    "the plan is not released yet; before that only its creator and the creator's superiors see the assignments",
                )
            }
        }
        (RevealPlan | CancelPlan | PublishPlan, Resource::Plan(plan)) => {
            roles(p, &[Regulator], "revealing, cancelling or publishing a plan")?;
            within(p, plan.jurisdiction, "the plan")?;
            if creator_or_superior(p, plan) {
                Ok(())
            } else {
                deny("only the plan's creator or a regulator of a wider jurisdiction may reveal, cancel or publish it")
            }
        }
        (ReadOwnAssignments, Resource::Store) => roles(p, &[Officer], "reading one's assignments"),
        (SubmitResult, Resource::Visit { plan, team, items, department }) => {
            roles(p, &[Officer], "filing a result")?;
            let Some(me) = p.officer_id.as_deref() else { return deny("the officer token names no officer") };
            if !team.iter().any(|o| o == me) {
                return deny(format!("the visit is not assigned to {me}"));
            }
            if !plan.released {
                return deny("the plan is not released yet");
            }
            if p.department.as_deref() != Some(department) {
                return deny(format!(
                    "{me} is an officer of {}, and files results only for that department, not {department}",
                    p.department.as_deref().unwrap_or("no department")
                ));
            }
            if !items.iter().any(|(d, _)| d == department) {
                return deny(format!("the visit has no {department} items"));
            }
            Ok(())
        }
        (FileObjection, Resource::Entity { uscc, place }) => match p.role {
            Agent => match p.entity.as_deref() {
                Some(own) if own == uscc => Ok(()),
                Some(own) => deny(format!("the agent of {own} files objections for that entity only, not for {uscc}")),
                None => deny("the agent token names no entity"),
            },
            _ => {
                roles(p, &[Regulator, Agent], "filing an objection")?;
                within_code(p, place, "the entity")
            }
        },
        (DecideObjection, Resource::Place(code)) => {
            roles(p, &[Regulator], "filing or deciding an objection")?;
            within_code(p, code, "the entity")
        }
        (ReadObjections, Resource::Place(code)) => {
            roles(p, &[Regulator, Auditor], "reading objections")?;
            within_code(p, code, "the entity")
        }
        (ReadAudit | VerifyAudit, Resource::Store) => {
            roles(p, &[Regulator, Auditor], "reading the audit log")?;
            province(p, "the audit log")
        }
        (a, r) => deny(format!("{a:?} does not apply to {}", resource_kind(&r))),
    }
}

fn resource_kind(r: &Resource<'_>) -> &'static str {
    match r {
        Resource::Store => "the store",
        Resource::Place(_) => "a place",
        Resource::Entity { .. } => "an entity",
        Resource::Principal { .. } => "a principal",
        Resource::Plan(_) => "a plan",
        Resource::Visit { .. } => "a visit",
    }
}
