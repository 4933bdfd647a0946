//! The impact of a rule change: how many entities move between tiers, how
//! expected inspections change per department and city, and sample
//! entities that moved with both explanations.

use std::collections::BTreeMap;
use std::fmt;

use super::summary::tenths;
use super::{ClassifyError, EntityResult, Options, classify};
use crate::engine::RuleSet;
use crate::i18n::Lang;
use crate::model::Date;
use crate::model::region;
use crate::snapshot::Snapshot;

pub struct RuleDiff {
    /// matrix[from - 1][to - 1]
    pub matrix: [[usize; 4]; 4],
    pub expected_by_department: BTreeMap<String, (f64, f64)>,
    pub expected_by_city: BTreeMap<u32, (f64, f64)>,
    pub probability_changed: usize,
    pub samples: Vec<(EntityResult, EntityResult)>,
}

/// Classifies the snapshot with both rule sets side by side (shard by
/// shard, so memory holds one shard of each) and compares every entity.
pub fn diff(
    s: &Snapshot,
    old: &RuleSet,
    new: &RuleSet,
    as_of: Date,
    options: &Options,
    samples_per_cell: usize,
) -> Result<RuleDiff, ClassifyError> {
    let mut d = RuleDiff {
        matrix: [[0; 4]; 4],
        expected_by_department: BTreeMap::new(),
        expected_by_city: BTreeMap::new(),
        probability_changed: 0,
        samples: Vec::new(),
    };
    // Per migration cell: the first entities in dataset order (row, before, after).
    type Cell = Vec<(u32, (EntityResult, EntityResult))>;
    let mut taken: [[Cell; 4]; 4] = Default::default();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<EntityResult>>(1);
    let (a, b) = std::thread::scope(|scope| {
        let first = scope.spawn(move || {
            classify(s, old, as_of, options, &|_| {}, &mut |shard| {
                tx.send(shard).map_err(|_| super::SinkError::from("the comparison stopped"))
            })
        });
        let second = classify(s, new, as_of, options, &|_| {}, &mut |shard| {
            let before = rx.recv().map_err(|_| super::SinkError::from("the first classification stopped"))?;
            // Both runs classify the same snapshot in the same order.
            for (x, y) in before.into_iter().zip(shard) {
                debug_assert_eq!(x.uscc, y.uscc);
                let (i, j) = (usize::from(x.tier.clamp(1, 4)) - 1, usize::from(y.tier.clamp(1, 4)) - 1);
                d.matrix[i][j] += 1;
                if x.probability_ppm != y.probability_ppm {
                    d.probability_changed += 1;
                }
                // The first entities of each cell in dataset order.
                if i != j && samples_per_cell > 0 {
                    let cell = &mut taken[i][j];
                    if cell.len() < samples_per_cell || cell.last().is_some_and(|(r, _)| *r > x.row) {
                        let at = cell.partition_point(|(r, _)| *r < x.row);
                        cell.insert(at, (x.row, (x, y)));
                        cell.truncate(samples_per_cell);
                    }
                }
            }
            Ok(())
        });
        drop(rx);
        (first.join().expect("classification thread"), second)
    });
    // The first run's own error is the cause when the second only saw it stop.
    let a = a?;
    let b = b?;
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
    // Samples in dataset order, as a reader expects.
    let mut samples: Vec<(u32, (EntityResult, EntityResult))> = taken.into_iter().flatten().flatten().collect();
    samples.sort_by_key(|(row, _)| *row);
    d.samples = samples.into_iter().map(|(_, pair)| pair).collect();
    Ok(d)
}

impl fmt::Display for RuleDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

impl RuleDiff {
    /// The report in words, in `lang` (the English form is its `Display`).
    pub fn render(&self, lang: Lang) -> String {
        use std::fmt::Write as _;
        let zh = lang == Lang::Zh;
        let mut f = String::new();
        let moved: usize = (0..4)
            .flat_map(|i| (0..4).map(move |j| (i, j)))
            .filter(|(i, j)| i != j)
            .map(|(i, j)| self.matrix[i][j])
            .sum();
        let _ = if zh {
            writeln!(f, "分级迁移（行：调整前，列：调整后）；{moved} 个主体等级变化")
        } else {
            writeln!(f, "tier migration (rows: before, columns: after); {moved} entities change tier")
        };
        let _ = writeln!(f, "{:>10} {:>9} {:>9} {:>9} {:>9}", "", "→1", "→2", "→3", "→4");
        for (i, row) in self.matrix.iter().enumerate() {
            let _ =
                writeln!(f, "{:>10} {:>9} {:>9} {:>9} {:>9}", format!("{}→", i + 1), row[0], row[1], row[2], row[3]);
        }
        let _ = if zh {
            writeln!(f, "\n抽查概率变化的主体：{}", self.probability_changed)
        } else {
            writeln!(f, "\nentities whose inspection probability changes: {}", self.probability_changed)
        };
        let _ = if zh {
            writeln!(f, "\n每年预计随机抽查次数，按部门")
        } else {
            writeln!(f, "\nexpected random inspections a year, by department")
        };
        for (k, (x, y)) in &self.expected_by_department {
            let _ = writeln!(f, "  {k:<10} {:>12} → {:>12}  ({})", tenths(*x), tenths(*y), signed_tenths(y - x));
        }
        let _ = writeln!(f, "{}", if zh { "\n按地市" } else { "\nby city" });
        let d = region::divisions();
        for (k, (x, y)) in &self.expected_by_city {
            let label = format!("{k} {}", d.name(*k));
            let _ = writeln!(
                f,
                "  {} {:>12} → {:>12}  ({})",
                crate::i18n::pad(&label, 16),
                tenths(*x),
                tenths(*y),
                signed_tenths(y - x)
            );
        }
        if !self.samples.is_empty() {
            let _ = writeln!(f, "{}", if zh { "\n等级变化的主体示例" } else { "\nsample entities that move" });
        }
        for (x, y) in &self.samples {
            let _ = if zh {
                writeln!(f, "\n{} {}：等级 {} → {}", x.uscc, x.name, x.tier, y.tier)
                    .and_then(|_| writeln!(f, "  调整前：{}", x.explanation_in(lang)))
                    .and_then(|_| writeln!(f, "  调整后：{}", y.explanation_in(lang)))
            } else {
                writeln!(f, "\n{} {}: tier {} → {}", x.uscc, x.name, x.tier, y.tier)
                    .and_then(|_| writeln!(f, "  before: {}", x.explanation()))
                    .and_then(|_| writeln!(f, "  after:  {}", y.explanation()))
            };
        }
        f
    }
}

fn signed_tenths(x: f64) -> String {
    if x < 0.0 { format!("-{}", tenths(-x)) } else { format!("+{}", tenths(x)) }
}
