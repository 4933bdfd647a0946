//! Verification of a bundle: integrity, commitment, seed, and a full
//! re-derivation of the draw compared with the recorded result.

use std::fmt;

use sha2::{Digest, Sha256};

use super::assign::{Outcome, Visit};
use super::bundle::{RawBundle, SECTIONS};
use super::ticket::{Hash, Seed, check_commitment, derive_seed, sha256};
use super::{DrawError, draw_with_seed};

/// The verdict on a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Everything checks out and the re-derived draw is identical.
    Identical { visits: usize, staffed: usize, result_hash: Hash },
    /// The first difference found, in plain words, with its place in the
    /// bundle where there is one.
    Different { line: Option<usize>, column: Option<usize>, message: String },
}

impl Report {
    pub fn is_identical(&self) -> bool {
        matches!(self, Report::Identical { .. })
    }

    fn at(line: usize, message: impl Into<String>) -> Report {
        Report::Different { line: Some(line), column: None, message: message.into() }
    }

    fn plain(message: impl Into<String>) -> Report {
        Report::Different { line: None, column: None, message: message.into() }
    }
}

impl From<DrawError> for Report {
    fn from(e: DrawError) -> Report {
        match e {
            DrawError::Parse { line, column, message } => {
                Report::Different { line: Some(line), column: Some(column), message }
            }
            other => Report::plain(other.to_string()),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Identical { visits, staffed, result_hash } => {
                write!(f, "identical ({visits} visits, {staffed} staffed, result SHA-256 {})", hex::encode(result_hash))
            }
            Report::Different { line: Some(l), column: Some(c), message } => {
                write!(f, "line {l}, column {c}: {message}")
            }
            Report::Different { line: Some(l), column: None, message } => write!(f, "line {l}: {message}"),
            Report::Different { message, .. } => f.write_str(message),
        }
    }
}

/// Verifies a bundle and re-derives its draw. Never panics on bad input;
/// reports `Identical` or the first difference.
pub fn verify(text: &str) -> Report {
    match run(text) {
        Ok(r) | Err(r) => r,
    }
}

fn run(text: &str) -> Result<Report, Report> {
    let raw = RawBundle::split(text)?;
    let manifest = raw.manifest()?;
    // 1. Integrity of every section.
    for i in 1..SECTIONS.len() {
        let computed = sha256(raw.section_bytes(i));
        if computed != manifest[i - 1] {
            let first = raw.header_lines[i];
            let last = first + raw.sections[i].1.len();
            return Err(Report::at(
                first,
                format!(
                    "section [{}] (lines {first}-{last}): hash mismatch: its SHA-256 is {}, the manifest lists {}",
                    SECTIONS[i],
                    hex::encode(computed),
                    hex::encode(manifest[i - 1])
                ),
            ));
        }
    }
    let result_hash: Hash =
        Sha256::new().chain_update(raw.section_bytes(6)).chain_update(raw.section_bytes(7)).finalize().into();
    if result_hash != manifest[7] {
        return Err(Report::at(
            10,
            format!(
                "manifest result hash is {}, but [counts] and [visits] hash to {}",
                hex::encode(manifest[7]),
                hex::encode(result_hash)
            ),
        ));
    }
    // 2. Syntax and canonical form.
    let parsed = raw.parse()?;
    raw.check_canonical(&parsed)?;
    let b = &parsed.bundle;
    let seed_line = raw.header_lines[5];
    // 3. Commitment, frame hash, seed.
    check_commitment(&b.frame.plan().commitment, &b.secret).map_err(|e| Report::at(seed_line + 1, e.to_string()))?;
    let mut h = Sha256::new();
    for i in 1..=4 {
        h.update(raw.section_bytes(i));
    }
    let frame_hash: Hash = h.finalize().into();
    if frame_hash != parsed.frame_hash {
        return Err(Report::at(
            seed_line + 3,
            format!(
                "frame hash mismatch: [seed] lists {}, the frame sections hash to {}",
                hex::encode(parsed.frame_hash),
                hex::encode(frame_hash)
            ),
        ));
    }
    let seed = derive_seed(&frame_hash, &b.secret, &b.beacon);
    if seed.0 != parsed.seed {
        return Err(Report::at(
            seed_line + 4,
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
    let counts_line = raw.header_lines[6] + 2;
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
    let visits_line = raw.header_lines[7] + 2;
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
    Ok(Report::Identical { visits: n, staffed: redrawn.staffed(), result_hash })
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
