//! Industry classification codes (GB/T 4754-2017): a section letter and a
//! four-digit class, e.g. `C2762` (vaccine manufacturing).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// GB/T 4754-2017 sections with the range of two-digit divisions each holds.
pub const SECTIONS: &[(char, u8, u8, &str)] = &[
    ('A', 1, 5, "农、林、牧、渔业"),
    ('B', 6, 12, "采矿业"),
    ('C', 13, 43, "制造业"),
    ('D', 44, 46, "电力、热力、燃气及水生产和供应业"),
    ('E', 47, 50, "建筑业"),
    ('F', 51, 52, "批发和零售业"),
    ('G', 53, 60, "交通运输、仓储和邮政业"),
    ('H', 61, 62, "住宿和餐饮业"),
    ('I', 63, 65, "信息传输、软件和信息技术服务业"),
    ('J', 66, 69, "金融业"),
    ('K', 70, 70, "房地产业"),
    ('L', 71, 72, "租赁和商务服务业"),
    ('M', 73, 75, "科学研究和技术服务业"),
    ('N', 76, 79, "水利、环境和公共设施管理业"),
    ('O', 80, 82, "居民服务、修理和其他服务业"),
    ('P', 83, 83, "教育"),
    ('Q', 84, 85, "卫生和社会工作"),
    ('R', 86, 90, "文化、体育和娱乐业"),
    ('S', 91, 96, "公共管理、社会保障和社会组织"),
    ('T', 97, 97, "国际组织"),
];

/// A valid industry class code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndustryCode([u8; 5]);

impl IndustryCode {
    pub fn parse(s: &str) -> Result<IndustryCode, super::InvalidValue> {
        let b = s.as_bytes();
        if b.len() != 5 || !b[0].is_ascii_uppercase() || !b[1..].iter().all(u8::is_ascii_digit) {
            return Err(super::InvalidValue(format!(
                "'{s}' is not a GB/T 4754 class code (a section letter and four digits, e.g. C2762)"
            )));
        }
        let division = (b[1] - b'0') * 10 + (b[2] - b'0');
        match SECTIONS.iter().find(|(letter, ..)| *letter as u8 == b[0]) {
            None => {
                Err(super::InvalidValue(format!("'{s}': section '{}' does not exist in GB/T 4754-2017", b[0] as char)))
            }
            Some((letter, lo, hi, _)) if division < *lo || division > *hi => Err(super::InvalidValue(format!(
                "'{s}': division {division:02} is not in section {letter} (divisions {lo:02}-{hi:02})"
            ))),
            Some(_) => Ok(IndustryCode(b.try_into().expect("5 bytes"))),
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("validated ascii")
    }

    pub fn section(&self) -> char {
        self.0[0] as char
    }

    /// Whether the code starts with `prefix` (a section letter, or a section
    /// letter and leading digits, e.g. `C27`).
    pub fn matches(&self, prefix: &str) -> bool {
        self.as_str().starts_with(prefix)
    }
}

/// The Chinese name of a section.
pub fn section_name(section: char) -> &'static str {
    SECTIONS.iter().find(|s| s.0 == section).map(|s| s.3).unwrap_or("?")
}

impl fmt::Display for IndustryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for IndustryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndustryCode({})", self.as_str())
    }
}

impl Serialize for IndustryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IndustryCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        IndustryCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_codes() {
        let c = IndustryCode::parse("C2762").unwrap();
        assert_eq!(c.section(), 'C');
        assert!(c.matches("C27") && !c.matches("C26"));
        assert!(IndustryCode::parse("F5261").is_ok());
        assert!(IndustryCode::parse("C0510").unwrap_err().0.contains("division 05"));
        assert!(IndustryCode::parse("Z1234").unwrap_err().0.contains("section 'Z'"));
        assert!(IndustryCode::parse("c2762").is_err());
        assert!(IndustryCode::parse("C276").is_err());
    }
}
