//! A readable summary of a dataset: rows per table and entities by city,
//! type and industry section.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;

use crate::i18n::{Lang, pad};
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

impl DatasetSummary {
    /// The summary as text in `lang` (the English form is also its
    /// `Display`). Counts and codes are the same in both.
    pub fn render(&self, lang: Lang) -> String {
        let zh = lang == Lang::Zh;
        let pct = |n: usize| if self.entities == 0 { 0.0 } else { 100.0 * n as f64 / self.entities as f64 };
        let mut f = String::new();
        if zh {
            let _ = writeln!(f, "市场主体：{}（存续 {}）", self.entities, self.active);
        } else {
            let _ = writeln!(f, "entities: {} ({} active)", self.entities, self.active);
        }
        let table = |f: &mut String, title: &str, m: &BTreeMap<String, usize>, name: &dyn Fn(&str) -> String| {
            let _ = writeln!(f, "\n{title}");
            for (k, v) in m {
                let _ = writeln!(f, "  {} {v:>10} {:>6.1}%", pad(&name(k), 36), pct(*v));
            }
        };
        let same = |k: &str| k.to_string();
        let (city, kind, section, key) = if zh {
            ("按地市", "按主体类型", "按行业门类", "重点领域")
        } else {
            ("by city", "by entity type", "by industry section", "key special fields")
        };
        table(&mut f, city, &self.by_city, &same);
        if zh {
            table(&mut f, kind, &self.by_type, &|k| format!("{} {k}", crate::i18n::entity_type_zh(k).unwrap_or(k)));
            table(&mut f, section, &self.by_section, &same);
            table(&mut f, key, &self.key_fields, &|k| format!("{} {k}", crate::i18n::key_field_zh(k).unwrap_or(k)));
            let _ = writeln!(f, "\n新业态主体：{}", self.new_economy);
            let _ = writeln!(
                f,
                "自然人：{}（{} 人关联多个主体，每人至多 {} 个主体）",
                self.persons, self.persons_in_several_entities, self.max_entities_per_person
            );
            let _ = writeln!(f, "执法检查人员：{}", self.officers);
            let _ = writeln!(f, "\n信用记录");
        } else {
            table(&mut f, kind, &self.by_type, &same);
            table(&mut f, section, &self.by_section, &same);
            table(&mut f, key, &self.key_fields, &same);
            let _ = writeln!(f, "\nnew-economy entities: {}", self.new_economy);
            let _ = writeln!(
                f,
                "persons: {} ({} in several entities, at most {} entities each)",
                self.persons, self.persons_in_several_entities, self.max_entities_per_person
            );
            let _ = writeln!(f, "officers: {}", self.officers);
            let _ = writeln!(f, "\nrecords");
        }
        for (k, v) in &self.records {
            let name = if zh { format!("{} {k}", record_table_zh(k)) } else { k.clone() };
            let _ = writeln!(f, "  {} {v:>10}", pad(&name, 36));
        }
        f
    }
}

/// A record table of the summary in Chinese.
fn record_table_zh(table: &str) -> &str {
    match table {
        "penalties" => "行政处罚",
        "abnormal_listings" => "经营异常名录",
        "complaints" => "投诉举报",
        "commitments" => "信用承诺",
        "inspections" => "检查结果",
        "repairs" => "信用修复",
        "evaluations" => "信用评价",
        other => other,
    }
}

impl fmt::Display for DatasetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}
