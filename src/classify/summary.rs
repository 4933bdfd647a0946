//! The summary a classification run ends with: tiers by city, expected
//! inspections per department, and counts of the special lists.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::EntityResult;
use crate::i18n::{Lang, pad, pad_left};
use crate::model::region;
use crate::propagate::Propagation;

/// Expected inspections by shared list of departments (keyed by the
/// list's address: entities of an industry share one `Arc`).
type ByList<'a> = rustc_hash::FxHashMap<*const [Arc<str>], (&'a Arc<[Arc<str>]>, u64)>;

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
        // Probabilities summed by list of departments first (entities of an
        // industry share one list), then spread over the list's departments.
        let mut by_list: ByList<'_> = Default::default();
        for r in results {
            *s.tiers.entry(r.tier).or_default() += 1;
            if (1..=4).contains(&r.tier) {
                s.tiers_by_city.entry(r.city).or_default()[usize::from(r.tier) - 1] += 1;
            }
            *self.risks.entry(r.risk_code()).or_default() += 1;
            let p = u64::from(r.probability_ppm);
            by_list.entry(Arc::as_ptr(&r.departments)).or_insert((&r.departments, 0)).1 += p;
            *self.by_city.entry(r.city).or_default() += p;
            self.total += p;
            s.in_tolerance += usize::from(r.tolerance_until.is_some());
            s.exemptions += r.exemptions.len();
            s.reminders += usize::from(r.accumulation == crate::model::AccumulationLevel::Reminder);
            s.key_attention += usize::from(r.key_attention);
            s.blacklisted += usize::from(r.blacklisted);
        }
        for (list, p) in by_list.into_values() {
            for d in list.iter() {
                match self.by_department.get_mut(d) {
                    Some(n) => *n += p,
                    None => {
                        self.by_department.insert(d.clone(), p);
                    }
                }
            }
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
    /// In English (what the tests and the English CLI print).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

impl Summary {
    /// The run's figures as a text table in `lang`: entities, tiers by
    /// city, risk levels, expected inspections and the special lists.
    pub fn render(&self, lang: Lang) -> String {
        use std::fmt::Write;
        let zh = lang == Lang::Zh;
        let t = |z: &'static str, e: &'static str| if zh { z } else { e };
        let d = region::divisions();
        let mut f = String::new();
        let _ = writeln!(f, "{}{}", t("已分级分类主体：", "entities classified: "), self.entities);
        if self.not_yet_registered > 0 {
            let _ = writeln!(
                f,
                "{}{}",
                t("评价日期时尚未登记（未计入）：", "not yet registered on the as-of date (left out): "),
                self.not_yet_registered
            );
        }
        let _ = write!(f, "\n{}", pad(t("各市信用等级", "tiers by city"), 20));
        for h in ["1", "2", "3", "4", t("合计", "total")] {
            let _ = write!(f, " {}", pad_left(h, 9));
        }
        f.push('\n');
        let mut totals = [0usize; 4];
        for (city, counts) in &self.tiers_by_city {
            let label = format!("{city} {}", d.name(*city));
            f.push_str(&pad(&label, 20));
            for (i, c) in counts.iter().enumerate() {
                let _ = write!(f, " {c:>9}");
                totals[i] += c;
            }
            let _ = writeln!(f, " {:>9}", counts.iter().sum::<usize>());
        }
        f.push_str(&pad(t("合计", "total"), 20));
        for c in totals {
            let _ = write!(f, " {c:>9}");
        }
        let _ = writeln!(f, " {:>9}", totals.iter().sum::<usize>());

        let _ = writeln!(f, "\n{}", t("风险等级", "risk levels"));
        for (k, v) in &self.risks {
            let name = if zh { crate::i18n::risk_name(k, lang) } else { k.as_str() };
            let _ = writeln!(f, "  {} {v:>9}", pad(name, 12));
        }
        let _ = writeln!(f, "\n{}", t("预计每年随机抽查", "expected random inspections a year"));
        for (k, v) in &self.expected_by_department {
            let _ = writeln!(f, "  {k:<12} {:>12}", tenths(*v));
        }
        let _ = writeln!(
            f,
            "  {} {:>12} {}",
            pad(t("检查次数", "visits"), 12),
            tenths(self.expected_total),
            t("（一次联合检查覆盖多个部门）", "(one joint visit covers several departments)")
        );
        let _ = writeln!(f, "\n{}", t("名单", "lists"));
        let lists = [
            (t("处于包容期", "in tolerance period"), self.in_tolerance),
            (t("首次轻微违法免罚", "first-minor exemptions"), self.exemptions),
            (t("提醒约谈", "reminders"), self.reminders),
            (t("重点关注名单", "key-attention list"), self.key_attention),
            (t("严重失信名单", "blacklisted"), self.blacklisted),
            (t("联合惩戒涉及的人员", "flagged persons"), self.propagated_persons),
            (t("因关联而受影响的主体", "entities reached by flags"), self.propagated_entities),
        ];
        for (label, n) in lists {
            let _ = writeln!(f, "  {} {n:>9}", pad(label, 26));
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected inspections by department are the sum over each entity's
    /// departments, whether entities share their list or not.
    #[test]
    fn departments_sum_every_entitys_probability() {
        let a: Arc<str> = "市场监管".into();
        let b: Arc<str> = "消防".into();
        let shared: Arc<[Arc<str>]> = vec![a.clone(), b.clone()].into();
        let mut results: Vec<EntityResult> = Vec::new();
        for (n, list) in [shared.clone(), shared, vec![b.clone()].into(), Vec::new().into(), vec![a.clone()].into()]
            .into_iter()
            .enumerate()
        {
            results.push(EntityResult {
                uscc: crate::model::Uscc::assemble(b'9', b'1', 370102, *b"MA3C4Y7K").expect("a valid code"),
                name: String::new(),
                city: 370100,
                county: 370102,
                tier: 1,
                risk: None,
                probability_ppm: 100_000 * (n as u32 + 1),
                tolerance_until: None,
                exemptions: Vec::new(),
                accumulation: crate::model::AccumulationLevel::None,
                key_attention: false,
                blacklisted: false,
                blacklisted_until: None,
                departments: list,
                decisions: Vec::new(),
                records: Vec::new(),
                row: n as u32,
            });
        }
        let mut builder = Builder::new(0);
        builder.add(&results[..2]);
        builder.add(&results[2..]);
        let s = builder.finish(&Propagation::default());
        // a: 0.1 + 0.2 + 0.5; b: 0.1 + 0.2 + 0.3.
        let want: BTreeMap<String, f64> = [(a.to_string(), 0.8), (b.to_string(), 0.6)].into_iter().collect();
        assert_eq!(s.expected_by_department, want);
        assert_eq!(s.expected_total, 1.5);
    }
}
