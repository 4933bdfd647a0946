//! A readable summary of a dataset: rows per table and entities by city,
//! type and industry section.

use std::collections::BTreeMap;
use std::fmt;

use crate::i18n::pad;
use crate::model::*;
use crate::snapshot::{RoleGraph, Snapshot};

#[derive(Debug, Clone, serde::Serialize)]
pub struct DatasetSummary {
    pub entities: usize,
    pub active: usize,
    pub by_city: BTreeMap<String, usize>,
    pub by_type: BTreeMap<String, usize>,
    pub by_section: BTreeMap<String, usize>,
    pub key_fields: BTreeMap<String, usize>,
    pub new_economy: usize,
    pub persons: usize,
    /// Persons holding a role in more than one entity.
    pub persons_in_several_entities: usize,
    pub max_entities_per_person: usize,
    pub records: BTreeMap<String, usize>,
    pub officers: usize,
}

pub fn summarize(ds: &Snapshot) -> DatasetSummary {
    let d = region::divisions();
    let e = &ds.entities;
    let mut s = DatasetSummary {
        entities: e.len(),
        active: e.status.iter().filter(|s| **s == EntityStatus::Active).count(),
        by_city: BTreeMap::new(),
        by_type: BTreeMap::new(),
        by_section: BTreeMap::new(),
        key_fields: BTreeMap::new(),
        new_economy: e.new_economy.iter().filter(|n| n.is_some()).count(),
        persons: ds.persons.len(),
        persons_in_several_entities: 0,
        max_entities_per_person: 0,
        records: BTreeMap::new(),
        officers: ds.officers.len(),
    };
    for i in 0..e.len() {
        let city = d.city_of(e.region[i]).unwrap_or(0);
        *s.by_city.entry(format!("{city} {}", d.name(city))).or_default() += 1;
        *s.by_type.entry(e.entity_type[i].to_string()).or_default() += 1;
        let sec = e.industry[i].section();
        *s.by_section.entry(format!("{sec} {}", industry::section_name(sec))).or_default() += 1;
        for f in e.key_fields[i].iter() {
            *s.key_fields.entry(f.to_string()).or_default() += 1;
        }
    }
    // Distinct entities per person, from the person side of the graph.
    let graph = RoleGraph::new(ds);
    for p in 0..ds.persons.len() as u32 {
        let mut last = None;
        let mut n = 0usize;
        for (entity, _) in graph.of_person(ds, p) {
            if last != Some(entity) {
                n += 1;
                last = Some(entity);
            }
        }
        s.persons_in_several_entities += usize::from(n > 1);
        s.max_entities_per_person = s.max_entities_per_person.max(n);
    }
    s.records.insert("penalties".into(), ds.penalties.len());
    s.records.insert("abnormal_listings".into(), ds.listings.len());
    s.records.insert("complaints".into(), ds.complaints.len());
    s.records.insert("commitments".into(), ds.commitments.len());
    s.records.insert("inspections".into(), ds.inspections.len());
    s.records.insert("repairs".into(), ds.repairs.len());
    s.records.insert("evaluations".into(), ds.evaluations.len());
    s
}

impl fmt::Display for DatasetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |n: usize| if self.entities == 0 { 0.0 } else { 100.0 * n as f64 / self.entities as f64 };
        writeln!(f, "entities: {} ({} active)", self.entities, self.active)?;
        let table = |f: &mut fmt::Formatter<'_>, title: &str, m: &BTreeMap<String, usize>| -> fmt::Result {
            writeln!(f, "\n{title}")?;
            for (k, v) in m {
                writeln!(f, "  {} {v:>10} {:>6.1}%", pad(k, 36), pct(*v))?;
            }
            Ok(())
        };
        table(f, "by city", &self.by_city)?;
        table(f, "by entity type", &self.by_type)?;
        table(f, "by industry section", &self.by_section)?;
        table(f, "key special fields", &self.key_fields)?;
        writeln!(f, "\nnew-economy entities: {}", self.new_economy)?;
        writeln!(
            f,
            "persons: {} ({} in several entities, at most {} entities each)",
            self.persons, self.persons_in_several_entities, self.max_entities_per_person
        )?;
        writeln!(f, "officers: {}", self.officers)?;
        writeln!(f, "\nrecords")?;
        for (k, v) in &self.records {
            writeln!(f, "  {} {v:>10}", pad(k, 36))?;
        }
        Ok(())
    }
}
