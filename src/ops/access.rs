//! Principals and their tokens: creation (roster and jurisdiction checked,
//! expiry set), listing without secrets, revocation. The API and the CLI
//! both come here, so `credo tokens create` makes the checks `POST /tokens`
//! makes.

use super::policy::{self, Action, PlanFacts, Resource};
use super::{OpsError, Result, limits};
use crate::model::access::{Jurisdiction, Principal, Role};
use crate::model::{AuditAction, Officer};
use crate::store::{IssuedToken, NewPrincipal, PlanRecord, Store, TokenInfo};
use crate::tr;

/// Days an officer's token lives unless the request says otherwise.
pub const OFFICER_TOKEN_DAYS: u32 = 90;
/// Days a regulator's or auditor's token lives unless the request says
/// otherwise.
pub const STAFF_TOKEN_DAYS: u32 = 365;

/// What a new token is for.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub role: Role,
    /// Officers: the roster id (department and jurisdiction come from the
    /// roster).
    pub officer_id: Option<String>,
    /// Regulators and auditors: province, city or county code (default:
    /// the creator's own).
    pub jurisdiction: Option<u32>,
    pub label: String,
    /// Lifetime in days (default 90 for officers, 365 otherwise).
    pub expires_in_days: Option<u32>,
    /// Another token for an existing principal (same id, same rights)
    /// instead of a new principal.
    pub principal: Option<i64>,
}

/// The principal a request names, checked against the roster and the
/// creator's jurisdiction, not yet stored.
fn resolve(
    req: &TokenRequest,
    roster: &[Officer],
    creator: &Principal,
) -> Result<(Role, Option<String>, Option<String>, Jurisdiction)> {
    limits::text("label", &req.label, limits::LABEL)?;
    match (req.role, &req.officer_id) {
        (Role::Officer, None) => {
            Err(limits::field("officer_id", tr!("检查人员令牌必须填写", "is required for an officer token")))
        }
        (Role::Officer, Some(o)) => {
            limits::text("officer_id", o, limits::CODE)?;
            let officer = roster.iter().find(|x| &x.officer_id == o).ok_or_else(|| {
                limits::field("officer_id", tr!("“{o}”不在检查人员名册上", "'{o}' is not on the roster"))
            })?;
            let j = Jurisdiction::new(officer.region).map_err(|e| limits::field("officer_id", e.text()))?;
            if let Some(asked) = req.jurisdiction
                && asked != j.code()
            {
                return Err(limits::field(
                    "jurisdiction",
                    tr!(
                        "检查人员 {o} 在名册上的辖区是 {j}，不是 {asked}",
                        "officer {o} serves {j} on the roster, not {asked}"
                    ),
                ));
            }
            Ok((Role::Officer, Some(o.clone()), Some(officer.department.clone()), j))
        }
        (_, Some(_)) => {
            Err(limits::field("officer_id", tr!("只有检查人员令牌才有此项", "only an officer token has one")))
        }
        (Role::Agent, None) => Err(limits::field(
            "uscc",
            tr!(
                "代理人令牌必须给出：代理人所代表的主体",
                "is required for an agent token: the entity the agent acts for"
            ),
        )),
        (role, None) => {
            let j = match req.jurisdiction {
                None => creator.jurisdiction,
                Some(code) => Jurisdiction::new(code).map_err(|e| limits::field("jurisdiction", e.text()))?,
            };
            Ok((role, None, None, j))
        }
    }
}

/// A token for an entity's agent: who may file objections to the
/// entity's own records and do nothing else.
#[derive(Clone, Debug)]
pub struct AgentTokenRequest {
    /// Must be `agent`: only an agent token names an entity.
    pub role: Role,
    /// The entity's credit code.
    pub uscc: String,
    pub label: String,
    pub expires_in_days: Option<u32>,
}

/// Creates an agent's principal and token. The agent's jurisdiction is the
/// division its entity's credit code was issued in (characters 3–8), so
/// only a regulator of that place may issue it.
pub fn create_agent_token(store: &Store, creator: &Principal, req: &AgentTokenRequest) -> Result<IssuedToken> {
    if req.role != Role::Agent {
        let role = req.role;
        return Err(limits::field(
            "uscc",
            tr!(
                "只有代理人令牌才指明主体，{role} 令牌不指明",
                "only an agent token names an entity, not a {role} token"
            ),
        ));
    }
    limits::text("label", &req.label, limits::LABEL)?;
    limits::text("uscc", &req.uscc, limits::CODE)?;
    let uscc = crate::model::Uscc::parse(req.uscc.trim()).map_err(|e| limits::field("uscc", e.text()))?;
    let jurisdiction = Jurisdiction::new(uscc.division()).map_err(|e| limits::field("uscc", e.text()))?;
    policy::decide(creator, Action::CreateToken, Resource::Principal { id: -1, jurisdiction })?;
    let principal = store.create_principal(
        &NewPrincipal {
            role: Role::Agent,
            officer_id: None,
            department: None,
            jurisdiction,
            label: &req.label,
            entity: Some(uscc.as_str()),
        },
        &creator.actor(),
    )?;
    let expires_at = expiry(Role::Agent, req.expires_in_days)?;
    Ok(store.issue_token(&principal, &req.label, Some(&expires_at), &creator.actor())?)
}

fn expiry(role: Role, days: Option<u32>) -> Result<String> {
    let days = days.unwrap_or(if role == Role::Officer { OFFICER_TOKEN_DAYS } else { STAFF_TOKEN_DAYS });
    if days == 0 || days > limits::TOKEN_DAYS {
        let max = limits::TOKEN_DAYS;
        return Err(limits::field(
            "expires_in_days",
            tr!("{days}；应在 1 至 {max} 天之间", "{days}; between 1 and {max} days"),
        ));
    }
    let at = chrono::Utc::now() + chrono::Duration::days(i64::from(days));
    Ok(at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Creates a token (and its principal, unless `req.principal` names an
/// existing one) for `creator`, after the policy's check.
pub fn create_token(store: &Store, roster: &[Officer], creator: &Principal, req: &TokenRequest) -> Result<IssuedToken> {
    let actor = creator.actor();
    let principal = match req.principal {
        Some(id) => {
            let p = store.principal_by_id(id)?;
            if p.role != req.role || (req.officer_id.is_some() && req.officer_id != p.officer_id) {
                return Err(limits::field(
                    "principal",
                    tr!(
                        "主体 {id} 是 {} ({})，与请求所述不符",
                        "principal {id} is a {} ({}), not what the request names",
                        p.role,
                        p.actor()
                    ),
                ));
            }
            limits::text("label", &req.label, limits::LABEL)?;
            policy::decide(
                creator,
                Action::CreateToken,
                Resource::Principal { id: p.id, jurisdiction: p.jurisdiction },
            )?;
            p
        }
        None => {
            let (role, officer_id, department, jurisdiction) = resolve(req, roster, creator)?;
            policy::decide(creator, Action::CreateToken, Resource::Principal { id: -1, jurisdiction })?;
            store.create_principal(
                &NewPrincipal {
                    role,
                    officer_id: officer_id.as_deref(),
                    department: department.as_deref(),
                    jurisdiction,
                    label: &req.label,
                    entity: None,
                },
                &actor,
            )?
        }
    };
    let expires_at = expiry(principal.role, req.expires_in_days)?;
    Ok(store.issue_token(&principal, &req.label, Some(&expires_at), &actor)?)
}

/// The first regulator of a new store: province level, created by the
/// system, with the staff lifetime.
pub fn first_regulator(store: &Store) -> Result<IssuedToken> {
    let system = Principal::operator("system");
    let req = TokenRequest {
        role: Role::Regulator,
        officer_id: None,
        jurisdiction: Some(crate::model::access::PROVINCE),
        label: "first regulator".into(),
        expires_in_days: None,
        principal: None,
    };
    create_token(store, &[], &system, &req)
}

/// Every token `caller` may see (those of principals in its
/// jurisdiction), without secrets.
pub fn list_tokens(store: &Store, caller: &Principal) -> Result<Vec<TokenInfo>> {
    policy::decide(caller, Action::ListTokens, Resource::Store)?;
    Ok(store.tokens()?.into_iter().filter(|t| caller.jurisdiction.contains(t.principal.jurisdiction)).collect())
}

/// Revokes a token: the token's own principal may, and so may a
/// regulator whose jurisdiction contains the principal's.
pub fn revoke_token(store: &Store, caller: &Principal, id: i64) -> Result<TokenInfo> {
    let t = store.token(id)?;
    policy::decide(
        caller,
        Action::RevokeToken,
        Resource::Principal { id: t.principal.id, jurisdiction: t.principal.jurisdiction },
    )?;
    store.revoke_token(id, &caller.actor())?;
    Ok(store.token(id)?)
}

/// The officer principal of a roster id, as the store knows it, or as the
/// roster describes it (not stored) for an officer without a token.
pub fn officer_principal(store: &Store, roster: &[Officer], officer_id: &str) -> Result<Principal> {
    if let Some(p) =
        store.tokens()?.into_iter().map(|t| t.principal).find(|p| p.officer_id.as_deref() == Some(officer_id))
    {
        return Ok(p);
    }
    let o = roster.iter().find(|x| x.officer_id == officer_id).ok_or_else(|| {
        limits::field("officer", tr!("“{officer_id}”不在检查人员名册上", "'{officer_id}' is not on the roster"))
    })?;
    Ok(Principal {
        id: 0,
        role: Role::Officer,
        officer_id: Some(o.officer_id.clone()),
        department: Some(o.department.clone()),
        jurisdiction: Jurisdiction::new(o.region).map_err(|e| limits::field("officer", e.text()))?,
        label: String::new(),
        entity: None,
    })
}

/// The roster of the store's most recently imported dataset.
pub fn store_roster(store: &Store) -> Result<Vec<Officer>> {
    let (_, path) = store.latest_dataset()?.ok_or_else(|| {
        OpsError::Rejected(tr!(
            "存储尚未导入数据集，因此没有检查人员名册",
            "the store has imported no dataset, so it has no officer roster"
        ))
    })?;
    Ok(crate::data::roster(std::path::Path::new(&path))?)
}

/// What the policy needs to know about a stored plan, at `now`.
pub fn plan_facts(plan: &PlanRecord, now: chrono::DateTime<chrono::FixedOffset>) -> PlanFacts {
    PlanFacts {
        creator: plan.creator_principal,
        jurisdiction: Jurisdiction::new(plan.jurisdiction).unwrap_or(Jurisdiction::PROVINCE),
        released: chrono::DateTime::parse_from_rfc3339(&plan.release_at).is_ok_and(|t| now >= t),
    }
}

/// A plan as `caller` may see it: the secret only when the policy allows
/// (before the release: the creator alone).
pub fn plan_view(caller: &Principal, mut plan: PlanRecord, now: chrono::DateTime<chrono::FixedOffset>) -> PlanRecord {
    let facts = plan_facts(&plan, now);
    if policy::decide(caller, Action::ReadPlanSecret, Resource::Plan(&facts)).is_err() {
        plan.secret = None;
    }
    plan
}

/// The audit log as `caller` may see it: the secret in a plan's reveal
/// entry is withheld (and the entry marked) unless the caller may read
/// that plan's secret now.
pub fn audit_view(
    store: &Store,
    caller: &Principal,
    entries: Vec<crate::store::AuditEntry>,
    now: chrono::DateTime<chrono::FixedOffset>,
) -> Result<Vec<crate::store::AuditEntry>> {
    let mut plans = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(entries.len());
    for mut e in entries {
        if e.action_kind() == Some(AuditAction::PlanReveal)
            && let Some(id) = e.subject.strip_prefix("plan/").and_then(|s| s.parse::<i64>().ok())
        {
            if let std::collections::hash_map::Entry::Vacant(v) = plans.entry(id) {
                v.insert(store.plan(id).ok().map(|p| plan_facts(&p, now)));
            }
            let allowed = match plans[&id] {
                Some(f) => policy::decide(caller, Action::ReadPlanSecret, Resource::Plan(&f)).is_ok(),
                None => false,
            };
            if !allowed && let Ok(mut payload) = serde_json::from_str::<serde_json::Value>(&e.payload) {
                payload["secret"] = serde_json::Value::String(WITHHELD.into());
                e.payload = payload.to_string();
            }
        }
        out.push(e);
    }
    Ok(out)
}

/// What replaces a secret in the audit log before the plan's release (the
/// entry keeps its hash, which reveals nothing of the secret).
pub const WITHHELD: &str = "withheld until the plan's release";
