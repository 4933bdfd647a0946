//! Shandong's administrative divisions (GB/T 2260): the 16 prefecture cities
//! and their counties, embedded from `datasets/reference/shandong-divisions.csv`.

use std::collections::HashMap;
use std::sync::OnceLock;

const DIVISIONS_CSV: &str = include_str!("../../datasets/reference/shandong-divisions.csv");

/// One city or county.
#[derive(Debug, Clone, PartialEq)]
pub struct Division {
    pub code: u32,
    pub name: &'static str,
    /// The prefecture city: itself for a city.
    pub city: u32,
    pub is_city: bool,
    pub longitude: f64,
    pub latitude: f64,
}

/// All cities and counties, in file order.
pub struct Divisions {
    pub all: Vec<Division>,
    by_code: HashMap<u32, usize>,
}

impl Divisions {
    pub fn get(&self, code: u32) -> Option<&Division> {
        self.by_code.get(&code).map(|&i| &self.all[i])
    }

    pub fn cities(&self) -> impl Iterator<Item = &Division> {
        self.all.iter().filter(|d| d.is_city)
    }

    pub fn counties_of(&self, city: u32) -> impl Iterator<Item = &Division> {
        self.all.iter().filter(move |d| !d.is_city && d.city == city)
    }

    /// The city a county or city code belongs to, if the code is known.
    pub fn city_of(&self, code: u32) -> Option<u32> {
        self.get(code).map(|d| d.city)
    }

    pub fn name(&self, code: u32) -> &'static str {
        self.get(code).map(|d| d.name).unwrap_or("?")
    }
}

/// The embedded table, parsed once.
pub fn divisions() -> &'static Divisions {
    static TABLE: OnceLock<Divisions> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut all = Vec::new();
        for line in DIVISIONS_CSV.lines().skip(1).filter(|l| !l.is_empty()) {
            let f: Vec<&'static str> = line.split(',').collect();
            let level = f[2];
            if level == "province" {
                continue;
            }
            let code: u32 = f[0].parse().expect("embedded division code");
            let parent: u32 = f[3].parse().expect("embedded parent code");
            all.push(Division {
                code,
                name: f[1],
                city: if level == "city" { code } else { parent },
                is_city: level == "city",
                longitude: f[4].parse().expect("embedded longitude"),
                latitude: f[5].parse().expect("embedded latitude"),
            });
        }
        let by_code = all.iter().enumerate().map(|(i, d)| (d.code, i)).collect();
        Divisions { all, by_code }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_cities_each_with_counties() {
        let d = divisions();
        assert_eq!(d.cities().count(), 16);
        for city in d.cities() {
            assert!(d.counties_of(city.code).count() > 0, "{} has no counties", city.name);
        }
        assert_eq!(d.city_of(370102), Some(370100));
        assert_eq!(d.name(370200), "青岛市");
        assert!(d.get(110000).is_none());
    }
}
