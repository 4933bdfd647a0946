//! Verification of a bundle: integrity, signature (v2), beacon binding
//! (v2), commitment, seed, and a full re-derivation of the draw compared
//! with the recorded result.

use std::fmt;

use sha2::{Digest, Sha256};

use super::assign::{Outcome, Visit};
use super::bundle::{RawBundle, SIGNATURE_TYPE};
use super::frame::{BeaconRefused, BeaconRule, is_utc_time};
use super::ticket::{Hash, Seed, check_commitment, sha256};
use super::{DrawError, Spec, draw_with_seed};
use crate::i18n::{Lang, Text};
use crate::trust::PublicKey;

/// What a verifier is told besides the bundle.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The issuing store's public key, from a source the auditor trusts:
    /// the bundle must be signed with it.
    pub public_key: Option<PublicKey>,
    /// The beacon value the auditor read at the plan's beacon source: the
    /// bundle must record exactly this value.
    pub beacon_value: Option<String>,
}

/// The verdict on a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Everything checks out and the re-derived draw is identical.
    Identical {
        visits: usize,
        staffed: usize,
        result_hash: Hash,
        spec: Spec,
        /// The key whose valid signature the bundle carries (v2).
        signer: Option<PublicKey>,
    },
    /// The first difference found, in plain words, with its place in the
    /// bundle where there is one. Differences credo words in both languages
    /// (a refused beacon) carry both; the checker's other findings are in
    /// English in both forms, as the Python verifier words them.
    Different { line: Option<usize>, column: Option<usize>, message: Text },
}

impl Report {
    pub fn is_identical(&self) -> bool {
        matches!(self, Report::Identical { .. })
    }

    fn at(line: usize, message: impl Into<Text>) -> Report {
        Report::Different { line: Some(line), column: None, message: message.into() }
    }

    /// A difference with no place in the bundle.
    pub fn plain(message: impl Into<Text>) -> Report {
        Report::Different { line: None, column: None, message: message.into() }
    }
}

impl From<DrawError> for Report {
    fn from(e: DrawError) -> Report {
        match e {
            DrawError::Parse { line, column, message } => {
                Report::Different { line: Some(line), column: Some(column), message: message.into() }
            }
            other => Report::plain(other.text()),
        }
    }
}

impl Report {
    /// The verdict in both languages (`Display` is the English). The
    /// difference itself is the checker's message, as written.
    pub fn text(&self) -> crate::i18n::Text {
        use crate::tr;
        match self {
            Report::Identical { visits, staffed, result_hash, spec, signer } => {
                let hash = hex::encode(result_hash);
                let head = tr!(
                    "一致（{visits} 次检查，{staffed} 次已配备执法人员，结果 SHA-256 {hash}）",
                    "identical ({visits} visits, {staffed} staffed, result SHA-256 {hash})"
                );
                let tail = match (spec, signer) {
                    (Spec::V1, _) => crate::i18n::Text::same(""),
                    (Spec::V2, Some(k)) => tr!("；{spec}，签名密钥 {k}", "; {spec}, signed by {k}"),
                    (Spec::V2, None) => tr!("；{spec}，未签名", "; {spec}, not signed"),
                };
                crate::i18n::Text::new(format!("{}{}", head.zh(), tail.zh()), format!("{}{}", head.en(), tail.en()))
            }
            Report::Different { line: Some(l), column: Some(c), message } => message.map(|lang, m| match lang {
                Lang::Zh => format!("不一致：第 {l} 行第 {c} 列：{m}"),
                Lang::En => format!("line {l}, column {c}: {m}"),
            }),
            Report::Different { line: Some(l), column: None, message } => message.map(|lang, m| match lang {
                Lang::Zh => format!("不一致：第 {l} 行：{m}"),
                Lang::En => format!("line {l}: {m}"),
            }),
            Report::Different { message, .. } => message.map(|lang, m| match lang {
                Lang::Zh => format!("不一致：{m}"),
                Lang::En => m.to_string(),
            }),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Identical { visits, staffed, result_hash, spec, signer } => {
                write!(
                    f,
                    "identical ({visits} visits, {staffed} staffed, result SHA-256 {})",
                    hex::encode(result_hash)
                )?;
                match (spec, signer) {
                    (Spec::V1, _) => Ok(()),
                    (Spec::V2, Some(k)) => write!(f, "; {spec}, signed by {k}"),
                    (Spec::V2, None) => write!(f, "; {spec}, not signed"),
                }
            }
            Report::Different { line: Some(l), column: Some(c), message } => {
                write!(f, "line {l}, column {c}: {message}")
            }
            Report::Different { line: Some(l), column: None, message } => write!(f, "line {l}: {message}"),
            Report::Different { message, .. } => f.write_str(message.en()),
        }
    }
}

/// Verifies a bundle and re-derives its draw. Never panics on bad input;
/// reports `Identical` or the first difference.
pub fn verify(text: &str) -> Report {
    verify_with(text, &VerifyOptions::default())
}

/// [`verify`], also checking the signer against a trusted key and the
/// beacon value against the one the auditor read at its source.
pub fn verify_with(text: &str, options: &VerifyOptions) -> Report {
    match run(text, options) {
        Ok(r) | Err(r) => r,
    }
}

fn run(text: &str, options: &VerifyOptions) -> Result<Report, Report> {
    let raw = RawBundle::split(text)?;
    let manifest = raw.manifest()?;
    let names = raw.layout.sections;
    let n = names.len();
    // 1. Integrity of every section.
    for i in 1..n {
        let computed = sha256(raw.section_bytes(i));
        if computed != manifest[i - 1] {
            let first = raw.header_lines[i];
            let last = first + raw.sections[i].1.len();
            return Err(Report::at(
                first,
                format!(
                    "section [{}] (lines {first}-{last}): hash mismatch: its SHA-256 is {}, the manifest lists {}",
                    names[i],
                    hex::encode(computed),
                    hex::encode(manifest[i - 1])
                ),
            ));
        }
    }
    let result_hash: Hash =
        Sha256::new().chain_update(raw.section_bytes(n - 2)).chain_update(raw.section_bytes(n - 1)).finalize().into();
    if result_hash != manifest[n - 1] {
        return Err(Report::at(
            n + 2,
            format!(
                "manifest result hash is {}, but [counts] and [visits] hash to {}",
                hex::encode(manifest[n - 1]),
                hex::encode(result_hash)
            ),
        ));
    }
    // 2. The signature over the manifest (which holds every section's hash).
    let spec = raw.layout.spec;
    let signature = raw.signature()?;
    let signer = match (&signature, &options.public_key) {
        (Some(sig), expected) => {
            let at = raw.signature.as_ref().map_or(1, |s| s.0);
            if let Some(k) = expected
                && *k != sig.public_key
            {
                return Err(Report::at(
                    at + 2,
                    format!("signature: the bundle is signed by key {}, not by the given key {k}", sig.public_key),
                ));
            }
            sig.public_key.verify(SIGNATURE_TYPE, raw.signed_bytes(), &sig.signature, "the bundle").map_err(|_| {
                Report::at(
                    at + 3,
                    format!(
                        "signature: not a valid signature of key {} over lines 1-{}: the manifest was changed after signing",
                        sig.public_key,
                        raw.header_lines[1] - 1
                    ),
                )
            })?;
            Some(sig.public_key)
        }
        (None, Some(k)) if spec == Spec::V2 => {
            return Err(Report::plain(format!(
                "signature: the bundle is not signed, but key {k} was given to check it"
            )));
        }
        (None, Some(_)) => {
            return Err(Report::plain(
                "signature: a credo-draw-v1 bundle carries no signature; it cannot be checked against a key",
            ));
        }
        (None, None) => None,
    };
    // 3. Syntax and canonical form.
    let parsed = raw.parse()?;
    raw.check_canonical(&parsed)?;
    let b = &parsed.bundle;
    let seed_line = raw.header_lines[raw.idx("seed")];
    // 4. The beacon binding (v2): the plan named its beacon, or none.
    let (v2_shift, beacon_line) = if spec == Spec::V2 { (2, seed_line + 2) } else { (0, seed_line + 2) };
    if let (Some(h), Some(r)) = (b.frame.v2(), &parsed.reveal) {
        check_beacon(h, &b.frame.plan().beacon_source, r, &b.beacon, options)
            .map_err(|m| Report::at(beacon_line, m.text()))?;
    }
    // 5. Commitment, frame hash, seed.
    check_commitment(&b.frame.plan().commitment, &b.secret).map_err(|e| Report::at(seed_line + 1, e.to_string()))?;
    let mut h = Sha256::new();
    for i in 1..=raw.layout.frame_sections {
        h.update(raw.section_bytes(i));
    }
    let frame_hash: Hash = h.finalize().into();
    if frame_hash != parsed.frame_hash {
        return Err(Report::at(
            seed_line + 3 + v2_shift,
            format!(
                "frame hash mismatch: [seed] lists {}, the frame sections hash to {}",
                hex::encode(parsed.frame_hash),
                hex::encode(frame_hash)
            ),
        ));
    }
    let seed = spec.derive_seed(&frame_hash, &b.secret, &b.beacon);
    if seed.0 != parsed.seed {
        return Err(Report::at(
            seed_line + 4 + v2_shift,
            format!(
                "seed mismatch: [seed] lists {}, re-derivation gives {}",
                hex::encode(parsed.seed),
                hex::encode(seed.0)
            ),
        ));
    }
    // 4. The draw itself.
    let redrawn =
        draw_with_seed(&b.frame, &Seed(seed.0)).map_err(|e| Report::plain(format!("re-derivation failed: {e}")))?;
    let counts_line = raw.header_lines[n - 2] + 2;
    for (i, (got, want)) in b.result.counts.iter().zip(&redrawn.counts).enumerate() {
        if got != want {
            return Err(Report::at(
                counts_line + i,
                format!(
                    "counts of stratum '{}': bundle lists population {} selected {}, re-derivation gives stratum '{}' population {} selected {}",
                    got.key, got.population, got.selected, want.key, want.population, want.selected
                ),
            ));
        }
    }
    if b.result.counts.len() != redrawn.counts.len() {
        return Err(Report::at(
            counts_line,
            format!(
                "bundle lists counts for {} strata, re-derivation gives {}",
                b.result.counts.len(),
                redrawn.counts.len()
            ),
        ));
    }
    let visits_line = raw.header_lines[n - 1] + 2;
    for (i, (got, want)) in b.result.visits.iter().zip(&redrawn.visits).enumerate() {
        if let Some(d) = visit_difference(got, want) {
            return Err(Report::at(visits_line + i, format!("visit {} (uscc {}): {d}", i + 1, got.uscc)));
        }
    }
    let (n, m) = (b.result.visits.len(), redrawn.visits.len());
    if n != m {
        let msg = if n < m {
            format!(
                "bundle lists {n} visits, re-derivation gives {m}; the first missing is entity {}",
                redrawn.visits[n].uscc
            )
        } else {
            format!(
                "bundle lists {n} visits, re-derivation gives {m}; visit {} (uscc {}) is extra",
                m + 1,
                b.result.visits[m].uscc
            )
        };
        return Err(Report::at(visits_line + n.min(m), msg));
    }
    Ok(Report::Identical { visits: n, staffed: redrawn.staffed(), result_hash, spec, signer })
}

/// The v2 beacon rules (docs/draw-spec.md §4.2): a plan without a beacon
/// uses none; a plan with one uses exactly what its rule makes of the
/// recorded value, supplied after the announced publication time.
fn check_beacon(
    h: &super::V2Header,
    source: &str,
    r: &super::BeaconReveal,
    beacon: &[u8],
    options: &VerifyOptions,
) -> Result<(), BeaconRefused> {
    let rule = h.beacon_rule;
    if rule == BeaconRule::None {
        if !beacon.is_empty() || !r.value.is_empty() {
            return Err(BeaconRefused::UsedUnnamed { value: r.value.clone(), bytes: hex::encode(beacon) });
        }
        if !r.supplied_at.is_empty() {
            return Err(BeaconRefused::SuppliedUnnamed);
        }
    } else {
        if r.value.is_empty() {
            return Err(BeaconRefused::Dropped { named: source.to_string(), rule });
        }
        let want = rule.bytes(&r.value).map_err(|m| BeaconRefused::Recorded(Box::new(m)))?;
        if want != beacon {
            return Err(BeaconRefused::OtherBytes {
                rule,
                want: hex::encode(&want),
                value: r.value.clone(),
                used: hex::encode(beacon),
            });
        }
        if !is_utc_time(&r.supplied_at) {
            return Err(BeaconRefused::BadTime(r.supplied_at.clone()));
        }
        if r.supplied_at < h.beacon_published_at {
            return Err(BeaconRefused::Early {
                supplied: r.supplied_at.clone(),
                published: h.beacon_published_at.clone(),
            });
        }
    }
    if let Some(v) = &options.beacon_value
        && *v != r.value
    {
        return Err(BeaconRefused::Swapped { recorded: r.value.clone(), given: v.clone() });
    }
    Ok(())
}

fn list(v: &[String]) -> String {
    format!("[{}]", v.join(","))
}

fn visit_difference(got: &Visit, want: &Visit) -> Option<String> {
    if got.uscc != want.uscc {
        return Some(format!("bundle lists entity {}, re-derivation gives entity {}", got.uscc, want.uscc));
    }
    if got.stratum != want.stratum {
        return Some(format!("bundle lists stratum '{}', re-derivation gives '{}'", got.stratum, want.stratum));
    }
    if got.ticket != want.ticket {
        return Some(format!("bundle lists ticket {:016x}, re-derivation gives {:016x}", got.ticket, want.ticket));
    }
    if got.items != want.items {
        let f = |v: &Visit| v.items.iter().map(|i| format!("{}:{}", i.department, i.code)).collect::<Vec<_>>();
        return Some(format!("bundle lists items {}, re-derivation gives {}", list(&f(got)), list(&f(want))));
    }
    match (&got.outcome, &want.outcome) {
        (a, b) if a == b => None,
        (Outcome::Staffed(a), Outcome::Staffed(b)) => {
            Some(format!("bundle lists officers {}, re-derivation gives {}", list(a), list(b)))
        }
        (Outcome::Staffed(a), Outcome::Unstaffed(r)) => {
            Some(format!("bundle lists officers {}, re-derivation gives unstaffed: {r}", list(a)))
        }
        (Outcome::Unstaffed(r), Outcome::Staffed(b)) => {
            Some(format!("bundle says unstaffed ({r}), re-derivation gives officers {}", list(b)))
        }
        (Outcome::Unstaffed(a), Outcome::Unstaffed(b)) => {
            Some(format!("bundle gives the unstaffed reason '{a}', re-derivation gives '{b}'"))
        }
    }
}
