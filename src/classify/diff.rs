//! The impact of a rule change: how many entities move between tiers, how
//! expected inspections change per department and city, and sample
//! entities that moved with both explanations.

use std::collections::BTreeMap;
use std::fmt;

use super::{Classification, EntityResult};
use crate::model::region;

pub struct RuleDiff {
    /// matrix[from - 1][to - 1]
    pub matrix: [[usize; 4]; 4],
    pub expected_by_department: BTreeMap<String, (f64, f64)>,
    pub expected_by_city: BTreeMap<u32, (f64, f64)>,
    pub probability_changed: usize,
    pub samples: Vec<(EntityResult, EntityResult)>,
}

pub fn diff(a: &Classification, b: &Classification, samples_per_cell: usize) -> RuleDiff {
    let mut d = RuleDiff {
        matrix: [[0; 4]; 4],
        expected_by_department: BTreeMap::new(),
        expected_by_city: BTreeMap::new(),
        probability_changed: 0,
        samples: Vec::new(),
    };
    let mut taken = [[0usize; 4]; 4];
    // Both runs classify the same dataset in the same order.
    for (x, y) in a.results.iter().zip(&b.results) {
        debug_assert_eq!(x.uscc, y.uscc);
        let (i, j) = (usize::from(x.tier.clamp(1, 4)) - 1, usize::from(y.tier.clamp(1, 4)) - 1);
        d.matrix[i][j] += 1;
        if x.probability_ppm != y.probability_ppm {
            d.probability_changed += 1;
        }
        if i != j && taken[i][j] < samples_per_cell {
            taken[i][j] += 1;
            d.samples.push((x.clone(), y.clone()));
        }
    }
    for (k, v) in &a.summary.expected_by_department {
        d.expected_by_department.entry(k.clone()).or_default().0 = *v;
    }
    for (k, v) in &b.summary.expected_by_department {
        d.expected_by_department.entry(k.clone()).or_default().1 = *v;
    }
    for (k, v) in &a.summary.expected_by_city {
        d.expected_by_city.entry(*k).or_default().0 = *v;
    }
    for (k, v) in &b.summary.expected_by_city {
        d.expected_by_city.entry(*k).or_default().1 = *v;
    }
    d
}

impl fmt::Display for RuleDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let moved: usize = (0..4)
            .flat_map(|i| (0..4).map(move |j| (i, j)))
            .filter(|(i, j)| i != j)
            .map(|(i, j)| self.matrix[i][j])
            .sum();
        writeln!(f, "tier migration (rows: before, columns: after); {moved} entities change tier")?;
        writeln!(f, "{:>10} {:>9} {:>9} {:>9} {:>9}", "", "→1", "→2", "→3", "→4")?;
        for (i, row) in self.matrix.iter().enumerate() {
            writeln!(f, "{:>10} {:>9} {:>9} {:>9} {:>9}", format!("{}→", i + 1), row[0], row[1], row[2], row[3])?;
        }
        writeln!(f, "\nentities whose inspection probability changes: {}", self.probability_changed)?;
        writeln!(f, "\nexpected random inspections a year, by department")?;
        for (k, (x, y)) in &self.expected_by_department {
            writeln!(f, "  {k:<10} {x:>12.1} → {y:>12.1}  ({:+.1})", y - x)?;
        }
        writeln!(f, "\nby city")?;
        let d = region::divisions();
        for (k, (x, y)) in &self.expected_by_city {
            let label = format!("{k} {}", d.name(*k));
            writeln!(f, "  {} {x:>12.1} → {y:>12.1}  ({:+.1})", crate::data::summary::pad(&label, 16), y - x)?;
        }
        if !self.samples.is_empty() {
            writeln!(f, "\nsample entities that move")?;
        }
        for (x, y) in &self.samples {
            writeln!(f, "\n{} {}: tier {} → {}", x.uscc, x.name, x.tier, y.tier)?;
            writeln!(f, "  before: {}", x.explanation())?;
            writeln!(f, "  after:  {}", y.explanation())?;
        }
        Ok(())
    }
}
