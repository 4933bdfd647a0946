//! The summary a classification run ends with: tiers by city, expected
//! inspections per department, and counts of the special lists.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::EntityResult;
use crate::i18n::pad;
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

/// Sums a run's results shard by shard. Probabilities are summed as
/// integer parts per million, so the totals do not depend on the order.
pub struct Builder {
    s: Summary,
    risks: BTreeMap<&'static str, usize>,
    by_department: BTreeMap<Arc<str>, u64>,
    by_city: BTreeMap<u32, u64>,
    total: u64,
}

impl Builder {
    pub fn new(not_yet_registered: usize) -> Builder {
        Builder {
            s: Summary { not_yet_registered, ..Summary::default() },
            risks: BTreeMap::new(),
            by_department: BTreeMap::new(),
            by_city: BTreeMap::new(),
            total: 0,
        }
    }

    pub fn add(&mut self, results: &[EntityResult]) {
        let s = &mut self.s;
        s.entities += results.len();
        for r in results {
            *s.tiers.entry(r.tier).or_default() += 1;
            if (1..=4).contains(&r.tier) {
                s.tiers_by_city.entry(r.city).or_default()[usize::from(r.tier) - 1] += 1;
            }
            *self.risks.entry(r.risk_code()).or_default() += 1;
            let p = u64::from(r.probability_ppm);
            for d in r.departments.iter() {
                match self.by_department.get_mut(d) {
                    Some(n) => *n += p,
                    None => {
                        self.by_department.insert(d.clone(), p);
                    }
                }
            }
            *self.by_city.entry(r.city).or_default() += p;
            self.total += p;
            s.in_tolerance += usize::from(r.tolerance_until.is_some());
            s.exemptions += r.exemptions.len();
            s.reminders += usize::from(r.accumulation == crate::model::AccumulationLevel::Reminder);
            s.key_attention += usize::from(r.key_attention);
            s.blacklisted += usize::from(r.blacklisted);
        }
    }

    pub fn finish(self, propagation: &Propagation) -> Summary {
        let ppm = |v: u64| v as f64 / 1_000_000.0;
        let mut s = self.s;
        s.risks = self.risks.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        s.expected_by_department = self.by_department.into_iter().map(|(k, v)| (k.to_string(), ppm(v))).collect();
        s.expected_by_city = self.by_city.into_iter().map(|(k, v)| (k, ppm(v))).collect();
        s.expected_total = ppm(self.total);
        s.propagated_persons = propagation.persons.len();
        s.propagated_entities = propagation.entities.len();
        s
    }
}

/// A number of expected inspections with one decimal, rounded half up
/// from whole parts per million (so the text never depends on float
/// summation order).
pub fn tenths(x: f64) -> String {
    let ppm = (x * 1_000_000.0).round() as i128;
    let tenths = (ppm + 50_000).div_euclid(100_000);
    format!("{}.{}", tenths.div_euclid(10), tenths.rem_euclid(10))
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
            writeln!(f, "  {k:<12} {:>12}", tenths(*v))?;
        }
        writeln!(
            f,
            "  {:<12} {:>12} (one joint visit covers several departments)",
            "visits",
            tenths(self.expected_total)
        )?;
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
