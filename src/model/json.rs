//! JSON texts written directly, byte for byte as `serde_json` writes them,
//! for the few values written once per entity of a run (a results file's
//! detail, an entity's own decisions), where serde's per-byte escaping and
//! per-field calls showed in profiles. Held to serde_json by tests here and
//! where they are used.

/// Appends `s` as a JSON string.
pub fn string(out: &mut String, s: &str) {
    if is_plain(s) {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("a string serializes"));
    }
}

/// Whether `s` is written as a JSON string as it is, between quotes:
/// serde_json escapes only '"', '\\' and control characters. Checked over
/// the whole text without stopping early, so the loop vectorizes (texts
/// needing escapes are rare).
pub fn is_plain(s: &str) -> bool {
    !s.bytes().fold(false, |any, b| any | (b < 0x20) | (b == b'"') | (b == b'\\'))
}

/// Appends a JSON array of strings.
pub fn strings<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    out.push('[');
    for (i, x) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, x);
    }
    out.push(']');
}

/// Appends a date as chrono's serde writes it: its `Debug` form
/// (`2026-01-15`; a sign and at least five digits outside years 0–9999).
pub fn date(out: &mut String, d: chrono::NaiveDate) {
    use chrono::Datelike;
    let (y, m, day) = (d.year(), d.month(), d.day());
    if (0..=9999).contains(&y) {
        let y = y as u32;
        let digit = |n: u32| char::from(b'0' + (n % 10) as u8);
        out.push('"');
        for c in [digit(y / 1000), digit(y / 100), digit(y / 10), digit(y)] {
            out.push(c);
        }
        for c in ['-', digit(m / 10), digit(m), '-', digit(day / 10), digit(day), '"'] {
            out.push(c);
        }
    } else {
        out.push_str(&format!("\"{d:?}\""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]
        /// Any text and any date chrono holds, as serde_json writes them.
        #[test]
        fn as_serde_json_writes(s in "[a-zA-Z0-9\"\\\\\\x00-\\x1f\\x7f济é/ -]{0,12}", day in -400_000i32..4_000_000) {
            let mut out = String::new();
            string(&mut out, &s);
            proptest::prop_assert_eq!(&out, &serde_json::to_string(&s).expect("serializes"));
            let list = [s.as_str(), "", "济"];
            for n in 0..=list.len() {
                let mut out = String::new();
                strings(&mut out, list[..n].iter().copied());
                proptest::prop_assert_eq!(&out, &serde_json::to_string(&list[..n]).expect("serializes"));
            }
            let d = chrono::NaiveDate::from_num_days_from_ce_opt(day).expect("a date chrono holds");
            let mut out = String::new();
            date(&mut out, d);
            proptest::prop_assert_eq!(&out, &serde_json::to_string(&d).expect("serializes"));
        }
    }
}
