//! The summary a classification run ends with: tiers by city, expected
//! inspections per department, and counts of the special lists.

use std::collections::BTreeMap;
use std::fmt;

use super::EntityResult;
use crate::data::summary::pad;
use crate::model::region;
use crate::propagate::Propagation;

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    pub entities: usize,
    pub not_yet_registered: usize,
    /// tier (1..=4) → count.
    pub tiers: BTreeMap<u8, usize>,
    /// city code → counts of tiers 1..=4.
    pub tiers_by_city: BTreeMap<u32, [usize; 4]>,
    pub risks: BTreeMap<String, usize>,
    /// department → expected random inspections a year (sum of probabilities
    /// of entities with an applicable item of that department).
    pub expected_by_department: BTreeMap<String, f64>,
    /// city code → expected random inspections a year.
    pub expected_by_city: BTreeMap<u32, f64>,
    pub expected_total: f64,
    pub in_tolerance: usize,
    pub exemptions: usize,
    pub reminders: usize,
    pub key_attention: usize,
    pub blacklisted: usize,
    pub propagated_persons: usize,
    pub propagated_entities: usize,
}

impl Summary {
    pub fn of(results: &[EntityResult], propagation: &Propagation, not_yet_registered: usize) -> Summary {
        let mut s = Summary { entities: results.len(), not_yet_registered, ..Summary::default() };
        // Counted under borrowed keys first; strings are made once per key.
        let mut risks: BTreeMap<&str, usize> = BTreeMap::new();
        let mut by_department: BTreeMap<&str, f64> = BTreeMap::new();
        for r in results {
            *s.tiers.entry(r.tier).or_default() += 1;
            if (1..=4).contains(&r.tier) {
                s.tiers_by_city.entry(r.city).or_default()[usize::from(r.tier) - 1] += 1;
            }
            *risks.entry(&r.risk).or_default() += 1;
            let p = r.probability();
            for d in r.departments.iter() {
                *by_department.entry(d).or_default() += p;
            }
            *s.expected_by_city.entry(r.city).or_default() += p;
            s.expected_total += p;
            s.in_tolerance += usize::from(r.tolerance_until.is_some());
            s.exemptions += r.exemptions.len();
            s.reminders += usize::from(&*r.accumulation == "reminder");
            s.key_attention += usize::from(r.key_attention);
            s.blacklisted += usize::from(r.blacklisted);
        }
        s.risks = risks.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        s.expected_by_department = by_department.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        s.propagated_persons = propagation.persons.len();
        s.propagated_entities = propagation.entities.len();
        s
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = region::divisions();
        writeln!(f, "entities classified: {}", self.entities)?;
        if self.not_yet_registered > 0 {
            writeln!(f, "not yet registered on the as-of date (left out): {}", self.not_yet_registered)?;
        }
        writeln!(f, "\ntiers by city        {:>9} {:>9} {:>9} {:>9} {:>9}", "1", "2", "3", "4", "total")?;
        let mut totals = [0usize; 4];
        for (city, counts) in &self.tiers_by_city {
            let label = format!("{city} {}", d.name(*city));
            write!(f, "{}", pad(&label, 20))?;
            for (i, c) in counts.iter().enumerate() {
                write!(f, " {c:>9}")?;
                totals[i] += c;
            }
            writeln!(f, " {:>9}", counts.iter().sum::<usize>())?;
        }
        write!(f, "{}", pad("total", 20))?;
        for c in totals {
            write!(f, " {c:>9}")?;
        }
        writeln!(f, " {:>9}", totals.iter().sum::<usize>())?;

        writeln!(f, "\nrisk levels")?;
        for (k, v) in &self.risks {
            writeln!(f, "  {k:<12} {v:>9}")?;
        }
        writeln!(f, "\nexpected random inspections a year")?;
        for (k, v) in &self.expected_by_department {
            writeln!(f, "  {k:<12} {v:>12.1}")?;
        }
        writeln!(f, "  {:<12} {:>12.1} (one joint visit covers several departments)", "visits", self.expected_total)?;
        writeln!(f, "\nlists")?;
        writeln!(f, "  in tolerance period        {:>9}", self.in_tolerance)?;
        writeln!(f, "  first-minor exemptions     {:>9}", self.exemptions)?;
        writeln!(f, "  reminders                  {:>9}", self.reminders)?;
        writeln!(f, "  key-attention list         {:>9}", self.key_attention)?;
        writeln!(f, "  blacklisted                {:>9}", self.blacklisted)?;
        writeln!(f, "  flagged persons            {:>9}", self.propagated_persons)?;
        writeln!(f, "  entities reached by flags  {:>9}", self.propagated_entities)?;
        Ok(())
    }
}
