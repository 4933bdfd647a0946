//! Who acts: principals with a stable id, a role, a department (officers)
//! and a jurisdiction (Shandong province, a city or a county, by GB/T 2260
//! code). Plain data; what a principal may do is decided in `ops::policy`.

use std::fmt;
use std::str::FromStr;

use super::region::divisions;

/// What a principal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Regulator,
    Auditor,
    Officer,
    /// An entity's agent (its representative): files objections to the
    /// entity's own records (异议申诉), nothing else.
    Agent,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Regulator, Role::Auditor, Role::Officer, Role::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Regulator => "regulator",
            Role::Auditor => "auditor",
            Role::Officer => "officer",
            Role::Agent => "agent",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role '{0}' is not regulator, auditor, officer or agent")]
pub struct UnknownRole(pub String);

impl UnknownRole {
    /// Why, in both languages (`Display` is the English).
    pub fn text(&self) -> crate::i18n::Text {
        let r = &self.0;
        crate::tr!(
            "角色“{r}”不是 regulator、auditor、officer 或 agent",
            "role '{r}' is not regulator, auditor, officer or agent"
        )
    }
}

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        match s {
            "regulator" => Ok(Role::Regulator),
            "auditor" => Ok(Role::Auditor),
            "officer" => Ok(Role::Officer),
            "agent" => Ok(Role::Agent),
            other => Err(UnknownRole(other.chars().take(40).collect())),
        }
    }
}

/// The province's code: the jurisdiction that contains every other.
pub const PROVINCE: u32 = 370000;

/// How wide a jurisdiction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Province,
    City,
    County,
}

/// A province, city or county code known to the division table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Jurisdiction(u32);

/// A code that is not Shandong's, nor one of its cities or counties.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("jurisdiction {0} is not Shandong (370000), one of its cities or one of its counties")]
pub struct UnknownJurisdiction(pub u32);

impl UnknownJurisdiction {
    /// Why, in both languages (`Display` is the English).
    pub fn text(&self) -> crate::i18n::Text {
        let c = self.0;
        crate::tr!(
            "管辖区域 {c} 不是山东省（370000）、其下的市或县（区）",
            "jurisdiction {c} is not Shandong (370000), one of its cities or one of its counties"
        )
    }
}

impl Jurisdiction {
    pub const PROVINCE: Jurisdiction = Jurisdiction(PROVINCE);

    pub fn new(code: u32) -> Result<Jurisdiction, UnknownJurisdiction> {
        if code == PROVINCE || divisions().get(code).is_some() {
            Ok(Jurisdiction(code))
        } else {
            Err(UnknownJurisdiction(code))
        }
    }

    pub fn code(self) -> u32 {
        self.0
    }

    pub fn level(self) -> Level {
        match divisions().get(self.0) {
            None => Level::Province,
            Some(d) if d.is_city => Level::City,
            Some(_) => Level::County,
        }
    }

    /// Whether a place (a division code: a county, or a city for entities
    /// registered at city level) lies in this jurisdiction.
    pub fn contains_code(self, code: u32) -> bool {
        match self.level() {
            Level::Province => code == PROVINCE || divisions().get(code).is_some(),
            Level::City => code == self.0 || divisions().city_of(code) == Some(self.0),
            Level::County => code == self.0,
        }
    }

    pub fn contains(self, other: Jurisdiction) -> bool {
        self.contains_code(other.0)
    }

    /// Contains `other` and is wider than it (a superior's jurisdiction).
    pub fn strictly_contains(self, other: Jurisdiction) -> bool {
        self != other && self.contains(other)
    }
}

impl fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Who a token belongs to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Principal {
    /// Stable across the principal's tokens.
    pub id: i64,
    pub role: Role,
    /// Officers: the roster id.
    pub officer_id: Option<String>,
    /// Officers: the department on the roster.
    pub department: Option<String>,
    pub jurisdiction: Jurisdiction,
    pub label: String,
    /// Agents: the credit code of the entity they act for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
}

impl Principal {
    /// The operator of the store itself (the CLI, the server's first
    /// start): a province-level regulator with id 0.
    pub fn operator(label: &str) -> Principal {
        Principal {
            id: 0,
            role: Role::Regulator,
            officer_id: None,
            department: None,
            jurisdiction: Jurisdiction::PROVINCE,
            label: label.to_string(),
            entity: None,
        }
    }

    /// The name written into the audit log: the principal's stable id
    /// (officers: their roster id, which names them across tokens).
    pub fn actor(&self) -> String {
        match (&self.officer_id, self.id) {
            (Some(o), _) => format!("officer:{o}"),
            (None, 0) => self.label.clone(),
            (None, id) => format!("{}:{id}", self.role),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jurisdictions_nest() {
        let p = Jurisdiction::PROVINCE;
        let jinan = Jurisdiction::new(370100).unwrap();
        let lixia = Jurisdiction::new(370102).unwrap();
        let qingdao = Jurisdiction::new(370200).unwrap();
        assert_eq!((p.level(), jinan.level(), lixia.level()), (Level::Province, Level::City, Level::County));
        assert!(p.strictly_contains(jinan) && jinan.strictly_contains(lixia) && p.contains(lixia));
        assert!(!lixia.contains(jinan) && !qingdao.contains(lixia) && !jinan.strictly_contains(jinan));
        assert!(lixia.contains_code(370102) && !lixia.contains_code(370103));
        assert!(Jurisdiction::new(110000).is_err() && Jurisdiction::new(0).is_err());
    }

    #[test]
    fn actors_name_principals_not_labels() {
        let mut a = Principal::operator("x");
        a.id = 3;
        let mut b = a.clone();
        b.id = 4;
        assert_ne!(a.actor(), b.actor());
        assert_eq!(a.actor(), "regulator:3");
    }
}
