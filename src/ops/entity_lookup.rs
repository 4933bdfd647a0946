//! Finding an entity by credit code or name, and the inspections on its
//! record, for the console's entity page (its timeline is
//! `entity_timeline`). Only what the policy lets the caller read is
//! returned.

use serde::Serialize;

use super::policy::{self, Action, Resource};
use crate::model::access::Principal;
use crate::model::{Date, InspectionRecord, Uscc};
use crate::snapshot::Snapshot;

/// An entity a search found.
#[derive(Clone, Debug, Serialize)]
pub struct FoundEntity {
    pub uscc: Uscc,
    pub name: String,
    /// County (or city) code of its registration.
    pub region: u32,
}

/// Entities whose credit code is `query` or whose name contains it, in
/// credit-code order, at most `limit`, among those `caller` may read.
pub fn search_entities(s: &Snapshot, caller: &Principal, query: &str, limit: usize) -> Vec<FoundEntity> {
    let query = query.trim();
    if query.is_empty() {
        return Vec::new();
    }
    let readable = |e: usize| policy::decide(caller, Action::ReadEntity, Resource::Place(s.entities.region[e])).is_ok();
    if let Ok(u) = Uscc::parse(&query.to_ascii_uppercase())
        && let Some(e) = s.entities.find(&u)
    {
        let e = e as usize;
        return if readable(e) {
            vec![FoundEntity { uscc: u, name: s.entities.name(e as _), region: s.entities.region[e] }]
        } else {
            Vec::new()
        };
    }
    let mut found = Vec::new();
    for e in 0..s.entities.len() {
        if found.len() >= limit {
            break;
        }
        let name = s.entities.name(e as _);
        if name.contains(query) && readable(e) {
            found.push(FoundEntity { uscc: s.entities.uscc[e], name, region: s.entities.region[e] });
        }
    }
    found
}

/// The inspections of an entity up to `as_of`, oldest first.
pub fn inspections_as_of(s: &Snapshot, uscc: &Uscc, as_of: Date) -> Vec<InspectionRecord> {
    let Some(e) = s.entities.find(uscc) else {
        return Vec::new();
    };
    let mut out: Vec<InspectionRecord> = s
        .inspections
        .of(e)
        .iter()
        .filter(|x| x.inspected_on <= as_of)
        .map(|x| InspectionRecord {
            inspection_id: s.text(x.inspection_id).to_string(),
            uscc: *uscc,
            department: s.sym(x.department).to_string(),
            inspected_on: x.inspected_on,
            kind: x.kind,
            result: x.result,
            officers: s.officers_of(x).map(str::to_string).collect(),
        })
        .collect();
    out.sort_by(|a, b| a.inspected_on.cmp(&b.inspected_on).then_with(|| a.inspection_id.cmp(&b.inspection_id)));
    out
}
