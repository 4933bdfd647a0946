//! Objections to records (异议申诉), by entity: the store keeps them, a
//! classification reads their state as of its date. Few (filed one by
//! one), so a map by credit code is enough; an empty map costs nothing.

use rustc_hash::FxHashMap;

use crate::model::objection::{Objection, ObjectionStatus};
use crate::model::{Date, Uscc};

/// Every objection filed, by entity, in filing order.
#[derive(Clone, Debug, Default)]
pub struct RecordObjections(FxHashMap<Uscc, Vec<Objection>>);

impl RecordObjections {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn add(&mut self, o: Objection) {
        let list = self.0.entry(o.uscc).or_default();
        list.push(o);
        list.sort_by_key(|o| (o.filed_on, o.id));
    }

    /// An entity's objections, by filing date then id.
    pub fn of(&self, uscc: &Uscc) -> &[Objection] {
        self.0.get(uscc).map_or(&[], Vec::as_slice)
    }

    /// The status as of `d` of the latest objection to a record filed on
    /// or before `d`, if any.
    pub fn status(&self, uscc: &Uscc, record_id: &str, d: Date) -> Option<ObjectionStatus> {
        self.of(uscc).iter().rev().filter(|o| o.record_id == record_id).find_map(|o| o.status_on(d))
    }
}
