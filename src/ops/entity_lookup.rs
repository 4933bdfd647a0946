//! Finding an entity by credit code or name in a finished run, for the
//! console's entity page (its timeline is `run_timeline`). Only what the
//! policy lets the caller read is returned.

use serde::Serialize;

use super::policy::{self, Action, Resource};
use crate::model::Uscc;
use crate::model::access::Principal;

/// An entity a search found.
#[derive(Clone, Debug, Serialize)]
pub struct FoundEntity {
    pub uscc: Uscc,
    pub name: String,
    /// County (or city) code of its registration.
    pub region: u32,
}

/// Entities of a finished run whose credit code is `query` or whose name
/// contains it, in credit-code order, at most `limit`, among those
/// `caller` may read. A credit code is a point lookup; a name is matched
/// by reading the results file's credit-code, name and county columns one
/// checked row group at a time, stopping at `limit` readable matches, so
/// memory follows the row group and the dataset is never read.
pub fn search_entities(
    reader: &crate::data::results::Reader,
    caller: &Principal,
    query: &str,
    limit: usize,
) -> super::Result<Vec<FoundEntity>> {
    let query = query.trim();
    if query.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let readable = |region: u32| policy::decide(caller, Action::ReadEntity, Resource::Place(region)).is_ok();
    if let Ok(u) = Uscc::parse(&query.to_ascii_uppercase()) {
        return Ok(match reader.get(u.as_str())? {
            Some(r) if readable(r.county) => vec![FoundEntity { uscc: u, name: r.name, region: r.county }],
            _ => Vec::new(),
        });
    }
    let mut found = Vec::new();
    reader.scan_names(&mut |uscc, name, region| {
        if name.contains(query)
            && readable(region)
            && let Ok(u) = Uscc::parse(uscc)
        {
            found.push(FoundEntity { uscc: u, name: name.to_string(), region });
        }
        found.len() < limit
    })?;
    Ok(found)
}
