//! The unified social credit code (统一社会信用代码, GB 32100-2015).
//!
//! Every record in credo is keyed by it, so a `Uscc` value is valid by
//! construction: the only ways to make one check both check characters.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The 31 characters GB 32100 allows, in the order that gives their values
/// 0..=30 (I, O, Z, S and V are excluded to avoid confusion with digits).
pub const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights 3^(i-1) mod 31 for positions 1..=17.
const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// GB 11714 weights for the eight body characters of the organisation code.
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// A valid 18-character unified social credit code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uscc([u8; 18]);

/// Why a string is not a valid unified social credit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    #[error("must be 18 characters, found {0}")]
    Length(usize),
    #[error("character {position} '{found}' is lower case; codes are upper case")]
    LowerCase { position: usize, found: char },
    #[error("character {position} '{found}' is not allowed (alphabet is 0-9 and A-Z without I, O, Z, S, V)")]
    Forbidden { position: usize, found: char },
    #[error("characters 3-8 must be an administrative division code (digits), found '{0}'")]
    Division(String),
    #[error("organisation code check (GB 11714, character 17) should be '{expected}', found '{found}'")]
    OrgCheck { expected: char, found: char },
    #[error("check character (GB 32100, character 18) should be '{expected}', found '{found}'")]
    Check { expected: char, found: char },
}

impl UsccError {
    /// Why, in both languages (`Display` is the English).
    pub fn text(&self) -> crate::i18n::Text {
        let zh = match self {
            UsccError::Length(n) => format!("必须是 18 个字符，实为 {n} 个"),
            UsccError::LowerCase { position, found } => {
                format!("第 {position} 个字符 '{found}' 是小写字母；代码应为大写")
            }
            UsccError::Forbidden { position, found } => {
                format!("第 {position} 个字符 '{found}' 不允许使用（可用 0-9 和除 I、O、Z、S、V 以外的 A-Z）")
            }
            UsccError::Division(d) => format!("第 3-8 位应为行政区划代码（数字），实为 '{d}'"),
            UsccError::OrgCheck { expected, found } => {
                format!("组织机构代码校验码（GB 11714，第 17 位）应为 '{expected}'，实为 '{found}'")
            }
            UsccError::Check { expected, found } => {
                format!("校验码（GB 32100，第 18 位）应为 '{expected}'，实为 '{found}'")
            }
        };
        crate::i18n::Text::new(zh, self.to_string())
    }
}

/// Value of each byte in [`ALPHABET`], or 255 for bytes outside it.
const VALUES: [u8; 256] = {
    let mut t = [255u8; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

fn value_of(c: u8) -> Option<u32> {
    match VALUES[c as usize] {
        255 => None,
        v => Some(u32::from(v)),
    }
}

/// The GB 32100 check character for the first 17 characters.
/// Every byte must already be in [`ALPHABET`].
pub fn check_char(body: &[u8; 17]) -> u8 {
    let sum: u32 = body.iter().zip(WEIGHTS).map(|(&c, w)| value_of(c).expect("body in alphabet") * w).sum();
    ALPHABET[((31 - sum % 31) % 31) as usize]
}

/// The GB 11714 check character for an eight-character organisation code
/// body (digits and upper-case letters; letters count 10..=35).
pub fn org_check_char(body: &[u8; 8]) -> u8 {
    let sum: u32 = body
        .iter()
        .zip(ORG_WEIGHTS)
        .map(|(&c, w)| {
            let v = if c.is_ascii_digit() { c - b'0' } else { c - b'A' + 10 };
            u32::from(v) * w
        })
        .sum();
    match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        d => b'0' + d as u8,
    }
}

impl Uscc {
    /// Parses and validates a code. Nothing is trimmed or upper-cased: a code
    /// that needs fixing is reported, not silently repaired.
    pub fn parse(s: &str) -> Result<Uscc, UsccError> {
        // The common case, a valid code, without allocating: 18 bytes of
        // the alphabet, digits for the division, both check characters.
        if let Ok(bytes) = <[u8; 18]>::try_from(s.as_bytes())
            && bytes.iter().all(|&b| VALUES[b as usize] != 255)
            && bytes[2..8].iter().all(u8::is_ascii_digit)
        {
            let org: &[u8; 8] = bytes[8..16].try_into().expect("8 bytes");
            let body: &[u8; 17] = bytes[..17].try_into().expect("17 bytes");
            if bytes[16] == org_check_char(org) && bytes[17] == check_char(body) {
                return Ok(Uscc(bytes));
            }
        }
        Uscc::parse_slow(s)
    }

    /// [`Uscc::parse`] character by character, naming what is wrong.
    fn parse_slow(s: &str) -> Result<Uscc, UsccError> {
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 18 {
            return Err(UsccError::Length(chars.len()));
        }
        let mut bytes = [0u8; 18];
        for (i, &c) in chars.iter().enumerate() {
            if c.is_ascii_lowercase() {
                return Err(UsccError::LowerCase { position: i + 1, found: c });
            }
            if !c.is_ascii() || value_of(c as u8).is_none() {
                return Err(UsccError::Forbidden { position: i + 1, found: c });
            }
            bytes[i] = c as u8;
        }
        if !bytes[2..8].iter().all(u8::is_ascii_digit) {
            return Err(UsccError::Division(s[2..8].to_string()));
        }
        let org: &[u8; 8] = bytes[8..16].try_into().expect("8 bytes");
        let expected_org = org_check_char(org);
        if bytes[16] != expected_org {
            return Err(UsccError::OrgCheck { expected: expected_org as char, found: bytes[16] as char });
        }
        let body: &[u8; 17] = bytes[..17].try_into().expect("17 bytes");
        let expected = check_char(body);
        if bytes[17] != expected {
            return Err(UsccError::Check { expected: expected as char, found: bytes[17] as char });
        }
        Ok(Uscc(bytes))
    }

    /// Builds a code from its parts, computing both check characters.
    /// `authority` and `category` are characters 1 and 2, `division` the
    /// six-digit division code, `org_body` the eight organisation-code
    /// characters before its check digit.
    pub fn assemble(authority: u8, category: u8, division: u32, org_body: [u8; 8]) -> Result<Uscc, UsccError> {
        let mut body = [0u8; 17];
        body[0] = authority;
        body[1] = category;
        body[2..8].copy_from_slice(format!("{division:06}").as_bytes());
        body[8..16].copy_from_slice(&org_body);
        body[16] = org_check_char(&org_body);
        let mut full = [0u8; 18];
        full[..17].copy_from_slice(&body);
        // A body outside the alphabet gets a placeholder so parse names the
        // offending character.
        full[17] = if body.iter().all(|&c| value_of(c).is_some()) { check_char(&body) } else { b'0' };
        Uscc::parse(std::str::from_utf8(&full).map_err(|_| UsccError::Length(0))?)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("validated ascii")
    }

    pub fn as_bytes(&self) -> &[u8; 18] {
        &self.0
    }

    /// Characters 3-8: the division code of the registering authority.
    pub fn division(&self) -> u32 {
        self.as_str()[2..8].parse().expect("validated digits")
    }
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uscc({})", self.as_str())
    }
}

impl FromStr for Uscc {
    type Err = UsccError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uscc::parse(s)
    }
}

impl Serialize for Uscc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Uscc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Uscc::parse(&s).map_err(|e| serde::de::Error::custom(format!("invalid credit code '{s}': {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes published on the national enterprise credit information
    /// publicity system for well-known companies.
    const PUBLISHED: &[&str] = &[
        "914403001922038216", // Huawei Technologies Co., Ltd.
        "9144030071526726XG", // Tencent Technology (Shenzhen) Co., Ltd.
        "91330100716105852F", // Alibaba (China) Co., Ltd.
        "91100000100003962T", // Industrial and Commercial Bank of China
        "91110000710925462X", // PetroChina Co., Ltd.
        "91110108551385082Q", // Xiaomi Technology Co., Ltd.
        "91370200163562681G", // Haier Group Corporation (Qingdao, Shandong)
    ];

    #[test]
    fn published_codes_are_valid() {
        for code in PUBLISHED {
            let u = Uscc::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(u.as_str(), *code);
        }
    }

    #[test]
    fn one_changed_character_is_caught() {
        for code in PUBLISHED {
            for pos in 0..18 {
                let original = code.as_bytes()[pos];
                for &c in ALPHABET {
                    if c == original {
                        continue;
                    }
                    let mut b = code.as_bytes().to_vec();
                    b[pos] = c;
                    let s = String::from_utf8(b).unwrap();
                    assert!(Uscc::parse(&s).is_err(), "{s} (from {code}, position {}) accepted", pos + 1);
                }
            }
        }
    }

    #[test]
    fn lower_case_is_rejected_not_fixed() {
        assert_eq!(Uscc::parse("9144030071526726xg"), Err(UsccError::LowerCase { position: 17, found: 'x' }));
    }

    #[test]
    fn wrong_length_is_rejected() {
        assert_eq!(Uscc::parse("91440300192203821"), Err(UsccError::Length(17)));
        assert_eq!(Uscc::parse("9144030019220382160"), Err(UsccError::Length(19)));
        assert_eq!(Uscc::parse(""), Err(UsccError::Length(0)));
    }

    #[test]
    fn forbidden_letters_are_rejected() {
        for bad in ['I', 'O', 'Z', 'S', 'V'] {
            let s = format!("91440300192203821{bad}");
            assert_eq!(Uscc::parse(&s), Err(UsccError::Forbidden { position: 18, found: bad }));
        }
        assert!(matches!(Uscc::parse("91440300192203821６"), Err(UsccError::Forbidden { .. })));
    }

    #[test]
    fn organisation_code_check_is_enforced() {
        // Body 19220382 has GB 11714 check digit 1; any other is wrong even
        // when the final check character is recomputed to match.
        let mut body: [u8; 17] = *b"91440300192203822";
        let last = check_char(&body);
        let mut s = body.to_vec();
        s.push(last);
        let s = String::from_utf8(s).unwrap();
        assert_eq!(Uscc::parse(&s), Err(UsccError::OrgCheck { expected: '1', found: '2' }));
        body[16] = b'1';
        assert_eq!(check_char(&body), b'6');
    }

    #[test]
    fn assemble_round_trips() {
        let u = Uscc::assemble(b'9', b'1', 370102, *b"MA3C4Y7K").unwrap();
        assert_eq!(Uscc::parse(u.as_str()).unwrap(), u);
        assert_eq!(u.division(), 370102);
        assert_eq!(&u.as_str()[..8], "91370102");
    }

    #[test]
    fn serde_rejects_invalid_codes() {
        let ok: Uscc = serde_json::from_str("\"914403001922038216\"").unwrap();
        assert_eq!(ok.as_str(), "914403001922038216");
        let err = serde_json::from_str::<Uscc>("\"914403001922038217\"").unwrap_err();
        assert!(err.to_string().contains("check character"), "{err}");
    }
}
