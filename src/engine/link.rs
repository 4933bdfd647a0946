//! The propagation rules' questions: one link of the entity–person graph
//! in, whether the blacklist flag passes, for how long and with what
//! effect out (plan （六）二).

use std::sync::Arc;

use rhai::{Dynamic, Map};

use super::answer::{get_code, get_int, get_reason, known_keys};
use super::{Decision, RuleError, RuleSet, Stage};
use crate::model::LinkEffect;

/// A link of the entity–person graph a propagation rule is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Link {
    /// The role on this link (entity→person: the person's role in the
    /// flagged entity; person→entity: the person's role in the other entity).
    pub role: crate::model::RoleKind,
    /// For person→entity links: the role through which the person was flagged.
    pub person_role: Option<crate::model::RoleKind>,
    /// 1 for the persons of a blacklisted entity and their other entities,
    /// 2 for the next hop, ...
    pub depth: u8,
}

/// What a propagation rule answered for a link.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkAnswer {
    pub applies: bool,
    /// person_link: how long the person stays flagged.
    pub years: i64,
    /// person_link: measures applied to the person.
    pub measures: Vec<String>,
    /// entity_link: what the flag does to the other entity (`None` when
    /// the link does not apply).
    pub effect: Option<LinkEffect>,
    pub decision: Arc<Decision>,
}

impl RuleSet {
    /// Asks the person_link or entity_link rule about one link.
    pub fn eval_link(&self, stage: Stage, link: Link) -> Result<LinkAnswer, RuleError> {
        let e = self.entries.get(&stage).expect("link stage present");
        let mut m = Map::new();
        m.insert("role".into(), Dynamic::from(link.role.as_str()));
        m.insert("person_role".into(), Dynamic::from(link.person_role.map_or("", |r| r.as_str())));
        m.insert("depth".into(), Dynamic::from(i64::from(link.depth)));
        let value = self.call(e, Dynamic::from_map(m), None)?;
        let text = self.source.files.get(&e.entry.file).map(String::as_str).unwrap_or("");
        let bad = |msg: String| {
            let mut out = RuleError::at(&e.entry.file, Some(e.line), Some(e.column), msg).with_source(text);
            out.entry = Some(stage.name().into());
            out
        };
        let expected = if stage == Stage::PersonLink {
            "#{ applies: bool, years: int, measures: [..], reason: \"…\" }"
        } else {
            "#{ applies: bool, effect: \"raise_risk\"|\"key_attention\", reason: \"…\" }"
        };
        let map =
            value.try_cast::<Map>().ok_or_else(|| bad(format!("`{}` must return {expected}", e.entry.function)))?;
        let allowed: &[&str] = if stage == Stage::PersonLink {
            &["applies", "years", "measures", "reason"]
        } else {
            &["applies", "effect", "reason"]
        };
        known_keys(&map, allowed).map_err(|m| bad(format!("{m}; expected {expected}")))?;
        let applies = map
            .get("applies")
            .and_then(|v| v.as_bool().ok())
            .ok_or_else(|| bad(format!("`applies` must be true or false; expected {expected}")))?;
        let (reason, reason_zh) = get_reason(&map, "reason").map_err(|m| bad(format!("{m}; expected {expected}")))?;
        let mut answer = LinkAnswer {
            applies,
            years: 0,
            measures: Vec::new(),
            effect: None,
            decision: Arc::new(Decision {
                stage,
                rule: e.rule.clone(),
                clause: e.clause.clone(),
                reason,
                reason_zh,
                inputs: Vec::new(),
            }),
        };
        if applies && stage == Stage::PersonLink {
            answer.years = get_int(&map, "years").map_err(|m| bad(format!("{m}; expected {expected}")))?;
            if answer.years <= 0 {
                return Err(bad(format!("`years` must be positive, found {}", answer.years)));
            }
            if let Some(list) = map.get("measures") {
                let list = list
                    .clone()
                    .try_cast::<rhai::Array>()
                    .ok_or_else(|| bad("`measures` must be an array of strings".into()))?;
                for m in list {
                    answer
                        .measures
                        .push(m.into_string().map_err(|t| bad(format!("`measures` must hold strings, found {t}")))?);
                }
            }
        }
        if applies && stage == Stage::EntityLink {
            answer.effect = Some(get_code(&map, "effect").map_err(|m| bad(format!("{m}; expected {expected}")))?);
        }
        Ok(answer)
    }
}
