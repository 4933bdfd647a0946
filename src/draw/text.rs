//! The two kinds of strings in a frame and how they are written.
//!
//! *Codes* (department codes, item codes, officer ids) are written as they
//! are; they may not contain the bytes 0x00-0x20, 0x7F, ',', ':' or '%', so
//! they never need escaping and can be listed with ',' and paired with ':'.
//! *Texts* (plan id, beacon source, stratum keys, exclusion reasons,
//! unstaffed reasons) may contain anything; the bytes 0x00-0x1F, 0x7F and
//! '%' are written as '%' and two upper-case hex digits.

use std::borrow::Cow;

/// Why a code is not acceptable, or `None` if it is.
pub(crate) fn code_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("is empty".into());
    }
    s.bytes().find(|&b| b <= 0x20 || b == 0x7F || b == b',' || b == b':' || b == b'%').map(|b| {
        format!(
            "'{}' contains byte 0x{b:02X} (codes may not contain spaces, control characters, ',', ':' or '%')",
            s.escape_debug()
        )
    })
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == 0x7F || b == b'%'
}

/// Percent-escapes the bytes 0x00-0x1F, 0x7F and '%'.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_ascii() && needs_escape(c as u8) {
            out.push_str(&format!("%{:02X}", c as u8));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Reverses [`escape`], insisting on the canonical form. Errors give the
/// 0-based byte offset of the problem.
pub(crate) fn unescape(s: &str) -> Result<Cow<'_, str>, (usize, String)> {
    if let Some(pos) = s.bytes().position(|b| b < 0x20 || b == 0x7F) {
        return Err((pos, format!("raw control byte 0x{:02X} (must be written as %XX)", s.as_bytes()[pos])));
    }
    if !s.contains('%') {
        return Ok(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex_ok = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
            if i + 2 >= b.len() || !hex_ok(b[i + 1]) || !hex_ok(b[i + 2]) {
                return Err((i, "'%' must be followed by two upper-case hex digits".into()));
            }
            let v = u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex");
            if !needs_escape(v) {
                return Err((i, format!("%{v:02X} escapes a byte that must be written as itself")));
            }
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(Cow::Owned(String::from_utf8(out).expect("escapes only ASCII bytes in valid UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trip() {
        for s in ["", "plain", "tier 1: not disturbed", "a\tb\nc%d\u{7f}", "一级：非必要不打扰"] {
            let e = escape(s);
            assert!(!e.bytes().any(|b| b < 0x20 || b == 0x7F));
            assert_eq!(unescape(&e).unwrap(), s);
        }
        assert_eq!(escape("50%\t"), "50%25%09");
        assert!(unescape("%41").is_err());
        assert!(unescape("%0a").is_err());
        assert!(unescape("%0").is_err());
        assert!(unescape("%").is_err());
        assert!(unescape("a\tb").is_err());
    }

    #[test]
    fn codes() {
        assert!(code_problem("MPA-03").is_none());
        assert!(code_problem("执法01").is_none());
        for bad in ["", "a b", "a,b", "a:b", "a%b", "a\tb"] {
            assert!(code_problem(bad).is_some(), "{bad}");
        }
    }
}
