//! The bundle: one canonical, line-oriented UTF-8 text holding everything
//! needed to re-derive a draw (format: docs/draw-spec.md §8), in layout v1
//! or v2 (v2 adds `[provenance]`, the beacon binding and an optional
//! trailing `[signature]`).
//!
//! Long on purpose: the writer and the parser of the one canonical format
//! sit together (with its error positions), so a change to one is seen
//! beside the other; the format itself is frozen by golden vectors.

use std::fmt::Write;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::assign::{Item, Outcome, Visit};
use super::frame::{
    BeaconRule, Frame, FrameBuilder, NewEntity, Officer, Plan, Provenance, Stratum, StratumMode, V2Header,
};
use super::select::StratumCount;
use super::text::{code_problem, escape, unescape};
use super::ticket::{Hash, sha256};
use super::{DrawError, DrawResult, Spec};
use crate::model::{PersonId, Uscc};
use crate::trust::{PublicKey, SigningKey};

/// First line of every v1 bundle.
pub const MAGIC: &str = "#credo-draw-bundle v1";

/// First line of every v2 bundle.
pub const MAGIC_V2: &str = "#credo-draw-bundle v2";

/// The document type a v2 bundle's signature is made for.
pub const SIGNATURE_TYPE: &str = "credo-draw-bundle-v2";

/// Section names in the order they appear (v1).
pub(crate) const SECTIONS: [&str; 8] = ["manifest", "plan", "strata", "frame", "officers", "seed", "counts", "visits"];

/// Section names in the order they appear (v2), before the optional
/// `[signature]`.
pub(crate) const SECTIONS_V2: [&str; 9] =
    ["manifest", "plan", "provenance", "strata", "frame", "officers", "seed", "counts", "visits"];

/// The sections of one bundle version.
pub(crate) struct Layout {
    pub spec: Spec,
    pub magic: &'static str,
    pub sections: &'static [&'static str],
    /// The sections the frame hash covers (every section before `[seed]`).
    pub frame_sections: usize,
}

pub(crate) const V1: Layout = Layout { spec: Spec::V1, magic: MAGIC, sections: &SECTIONS, frame_sections: 4 };
pub(crate) const V2: Layout = Layout { spec: Spec::V2, magic: MAGIC_V2, sections: &SECTIONS_V2, frame_sections: 5 };

impl Layout {
    /// Index of a section by name.
    pub(crate) fn idx(&self, name: &str) -> usize {
        self.sections.iter().position(|s| *s == name).expect("a section of this layout")
    }
}

/// What a v2 bundle records about the beacon at the reveal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BeaconReveal {
    /// The value as published by the beacon source (empty if the plan has
    /// no beacon).
    pub value: String,
    /// When credo received it, UTC `YYYY-MM-DDTHH:MM:SSZ` (empty if none).
    pub supplied_at: String,
}

/// The `[signature]` of a v2 bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSignature {
    pub public_key: PublicKey,
    pub signature: [u8; 64],
}

/// A parsed bundle with what v2 adds to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedBundle {
    pub bundle: Bundle,
    pub spec: Spec,
    /// v2 only.
    pub reveal: Option<BeaconReveal>,
    /// v2 only, when signed.
    pub signature: Option<BundleSignature>,
}

pub(crate) const STRATA_HEADER: &str = "#key\tmode\tratio_ppm\tmin_ratio_ppm";
pub(crate) const FRAME_HEADER: &str =
    "#uscc\tstratum\tprobability_ppm\teligible\texclusion\tcity\titems\tpersons\trecent_officers";
pub(crate) const OFFICERS_HEADER: &str = "#officer_id\tdepartment\tcity\tactive\tqualifications\tpersons";
pub(crate) const COUNTS_HEADER: &str = "#stratum\tpopulation\tselected";
pub(crate) const VISITS_HEADER: &str = "#visit\tuscc\tstratum\tticket\titems\tofficers\tunstaffed";

/// Everything a bundle holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub frame: Frame,
    pub secret: Vec<u8>,
    pub beacon: Vec<u8>,
    pub result: DrawResult,
}

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn join_persons(w: &mut impl Write, persons: &[PersonId]) {
    for (i, p) in persons.iter().enumerate() {
        if i > 0 {
            w.write_char(',').unwrap();
        }
        let mut buf = [0u8; 32];
        hex::encode_to_slice(p.0, &mut buf).expect("32 hex digits");
        w.write_str(std::str::from_utf8(&buf).expect("hex is ASCII")).unwrap();
    }
}

pub(crate) fn render_plan(w: &mut impl Write, p: &Plan) {
    writeln!(w, "[plan]").unwrap();
    writeln!(w, "plan_id={}", escape(&p.plan_id)).unwrap();
    writeln!(w, "departments={}", p.departments.join(",")).unwrap();
    writeln!(w, "officers_per_visit={}", p.officers_per_visit).unwrap();
    writeln!(w, "max_visits_per_officer={}", p.max_visits_per_officer).unwrap();
    writeln!(w, "commitment={}", hex::encode(p.commitment)).unwrap();
    writeln!(w, "beacon_source={}", escape(&p.beacon_source)).unwrap();
}

pub(crate) fn render_plan_v2(w: &mut impl Write, p: &Plan, h: &V2Header) {
    writeln!(w, "[plan]").unwrap();
    writeln!(w, "plan_id={}", escape(&p.plan_id)).unwrap();
    writeln!(w, "departments={}", p.departments.join(",")).unwrap();
    writeln!(w, "officers_per_visit={}", p.officers_per_visit).unwrap();
    writeln!(w, "max_visits_per_officer={}", p.max_visits_per_officer).unwrap();
    writeln!(w, "commitment={}", hex::encode(p.commitment)).unwrap();
    writeln!(w, "beacon_rule={}", h.beacon_rule).unwrap();
    writeln!(w, "beacon_source={}", escape(&p.beacon_source)).unwrap();
    writeln!(w, "beacon_published_at={}", escape(&h.beacon_published_at)).unwrap();
}

pub(crate) fn render_provenance(w: &mut impl Write, p: &Provenance) {
    writeln!(w, "[provenance]").unwrap();
    writeln!(w, "store_id={}", p.store_id).unwrap();
    writeln!(w, "plan_number={}", p.plan_number).unwrap();
    writeln!(w, "kind={}", p.kind).unwrap();
    writeln!(w, "name={}", escape(&p.name)).unwrap();
    writeln!(w, "created_at={}", escape(&p.created_at)).unwrap();
    writeln!(w, "as_of={}", escape(&p.as_of)).unwrap();
    writeln!(w, "dataset_hash={}", escape(&p.dataset_hash)).unwrap();
    writeln!(w, "rules_hash={}", escape(&p.rules_hash)).unwrap();
    writeln!(w, "run_id={}", p.run_id).unwrap();
    writeln!(w, "release_at={}", escape(&p.release_at)).unwrap();
    writeln!(w, "replaces={}", p.replaces.join(",")).unwrap();
    writeln!(w, "excluded_by={}", p.excluded_by.join(",")).unwrap();
}

/// The sections before `[strata]`: `[plan]`, and for v2 `[provenance]`.
fn render_head(w: &mut impl Write, f: &Frame) {
    match f.v2() {
        None => render_plan(w, f.plan()),
        Some(h) => {
            render_plan_v2(w, f.plan(), h);
            render_provenance(w, &h.provenance);
        }
    }
}

pub(crate) fn render_strata(w: &mut impl Write, strata: &[Stratum]) {
    writeln!(w, "[strata]\n{STRATA_HEADER}").unwrap();
    for s in strata {
        match s.mode {
            StratumMode::Probability => writeln!(w, "{}\tprobability\t\t", escape(&s.key)).unwrap(),
            StratumMode::Quota { ratio_ppm, min_ratio_ppm } => {
                writeln!(w, "{}\tquota\t{ratio_ppm}\t{min_ratio_ppm}", escape(&s.key)).unwrap()
            }
        }
    }
}

pub(crate) fn render_entity_line(w: &mut impl Write, e: &super::frame::EntityRef<'_>) {
    write!(
        w,
        "{}\t{}\t{}\t{}\t{}\t{:06}\t",
        e.uscc(),
        escape(&e.stratum().key),
        e.probability_ppm(),
        yes_no(e.is_eligible()),
        escape(e.exclusion().unwrap_or("")),
        e.city()
    )
    .unwrap();
    for (i, (d, c)) in e.items().enumerate() {
        write!(w, "{}{d}:{c}", if i > 0 { "," } else { "" }).unwrap();
    }
    w.write_char('\t').unwrap();
    join_persons(w, e.persons());
    w.write_char('\t').unwrap();
    for (i, r) in e.recent_officers().enumerate() {
        write!(w, "{}{r}", if i > 0 { "," } else { "" }).unwrap();
    }
    w.write_char('\n').unwrap();
}

pub(crate) fn render_frame(w: &mut impl Write, f: &Frame) {
    writeln!(w, "[frame]\n{FRAME_HEADER}").unwrap();
    for e in f.entities() {
        render_entity_line(w, &e);
    }
}

pub(crate) fn render_officers(w: &mut impl Write, officers: &[Officer]) {
    writeln!(w, "[officers]\n{OFFICERS_HEADER}").unwrap();
    for o in officers {
        write!(
            w,
            "{}\t{}\t{:06}\t{}\t{}\t",
            o.officer_id,
            o.department,
            o.city,
            yes_no(o.active),
            o.qualifications.join(",")
        )
        .unwrap();
        join_persons(w, &o.persons);
        w.write_char('\n').unwrap();
    }
}

pub(crate) struct SeedLines<'a> {
    secret: &'a [u8],
    beacon: &'a [u8],
    /// v2 only.
    reveal: Option<&'a BeaconReveal>,
    frame_hash: &'a Hash,
    seed: &'a Hash,
}

pub(crate) fn render_seed(w: &mut impl Write, s: &SeedLines<'_>) {
    writeln!(w, "[seed]").unwrap();
    writeln!(w, "secret={}", hex::encode(s.secret)).unwrap();
    if let Some(r) = s.reveal {
        writeln!(w, "beacon_value={}", escape(&r.value)).unwrap();
    }
    writeln!(w, "beacon={}", hex::encode(s.beacon)).unwrap();
    if let Some(r) = s.reveal {
        writeln!(w, "beacon_supplied_at={}", escape(&r.supplied_at)).unwrap();
    }
    writeln!(w, "frame_hash={}", hex::encode(s.frame_hash)).unwrap();
    writeln!(w, "seed={}", hex::encode(s.seed)).unwrap();
}

pub(crate) fn render_signature(w: &mut impl Write, s: &BundleSignature) {
    writeln!(w, "[signature]").unwrap();
    writeln!(w, "algorithm={}", crate::trust::ALGORITHM).unwrap();
    writeln!(w, "public_key={}", s.public_key).unwrap();
    writeln!(w, "signature={}", hex::encode(s.signature)).unwrap();
}

pub(crate) fn render_counts(w: &mut impl Write, counts: &[StratumCount]) {
    writeln!(w, "[counts]\n{COUNTS_HEADER}").unwrap();
    for c in counts {
        writeln!(w, "{}\t{}\t{}", escape(&c.key), c.population, c.selected).unwrap();
    }
}

pub(crate) fn render_visit_line(w: &mut impl Write, n: usize, v: &Visit) {
    write!(w, "{n}\t{}\t{}\t{:016x}\t", v.uscc, escape(&v.stratum), v.ticket).unwrap();
    for (i, it) in v.items.iter().enumerate() {
        write!(w, "{}{}:{}", if i > 0 { "," } else { "" }, it.department, it.code).unwrap();
    }
    match &v.outcome {
        Outcome::Staffed(o) => writeln!(w, "\t{}\t", o.join(",")).unwrap(),
        Outcome::Unstaffed(r) => writeln!(w, "\t\t{}", escape(r)).unwrap(),
    }
}

pub(crate) fn render_visits(w: &mut impl Write, visits: &[Visit]) {
    writeln!(w, "[visits]\n{VISITS_HEADER}").unwrap();
    for (i, v) in visits.iter().enumerate() {
        render_visit_line(w, i + 1, v);
    }
}

/// SHA-256 of the canonical frame encoding, streamed.
/// Entity lines are rendered in parallel, a batch at a time, and hashed in
/// order.
pub(crate) fn frame_hash(f: &Frame) -> Hash {
    const BATCH: usize = 1 << 18;
    const PIECE: usize = 1 << 13;
    let mut h = HashWriter(Sha256::new());
    render_head(&mut h, f);
    render_strata(&mut h, f.strata());
    writeln!(h, "[frame]\n{FRAME_HEADER}").unwrap();
    for start in (0..f.len()).step_by(BATCH) {
        let end = (start + BATCH).min(f.len());
        let pieces: Vec<String> = (start..end)
            .step_by(PIECE)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|p| {
                let mut s = String::with_capacity(PIECE * 200);
                for row in p..(p + PIECE).min(end) {
                    render_entity_line(&mut s, &f.entity(row));
                }
                s
            })
            .collect();
        for p in &pieces {
            h.0.update(p.as_bytes());
        }
    }
    render_officers(&mut h, f.officers());
    h.0.finalize().into()
}

impl Bundle {
    /// Renders the canonical bundle text (a v2 frame without beacon value
    /// and unsigned: see [`Bundle::render_v2`]).
    pub fn render(&self) -> String {
        Bundle::render_parts(&self.frame, &self.secret, &self.beacon, &self.result)
    }

    /// Renders a bundle without taking ownership of its parts (what credo
    /// calls to export from its store). A v2 frame is rendered with an
    /// empty beacon reveal and no signature.
    pub fn render_parts(frame: &Frame, secret: &[u8], beacon: &[u8], result: &DrawResult) -> String {
        let reveal = frame.v2().map(|_| BeaconReveal::default());
        render_bundle(frame, secret, beacon, reveal.as_ref(), result, None)
    }

    /// Renders a credo-draw-v2 bundle with the beacon as revealed and,
    /// with `key`, signed. `beacon` is recorded as given (a verifier checks
    /// it is what the plan's rule makes of `reveal.value`).
    pub fn render_v2(
        frame: &Frame,
        secret: &[u8],
        beacon: &[u8],
        reveal: &BeaconReveal,
        result: &DrawResult,
        key: Option<&SigningKey>,
    ) -> Result<String, DrawError> {
        if frame.v2().is_none() {
            return Err(DrawError::Plan("a credo-draw-v1 frame has no v2 bundle".into()));
        }
        Ok(render_bundle(frame, secret, beacon, Some(reveal), result, key))
    }

    /// Parses a bundle (syntax, structure and canonical form). It does not
    /// check hashes, the commitment, the signature or the draw: that is
    /// [`super::verify`].
    pub fn parse(text: &str) -> Result<Bundle, DrawError> {
        Bundle::parse_full(text).map(|p| p.bundle)
    }

    /// [`Bundle::parse`] with what a v2 bundle adds.
    pub fn parse_full(text: &str) -> Result<ParsedBundle, DrawError> {
        let raw = RawBundle::split(text)?;
        let parsed = raw.parse()?;
        raw.check_canonical(&parsed)?;
        Ok(ParsedBundle {
            spec: raw.layout.spec,
            bundle: parsed.bundle,
            reveal: parsed.reveal,
            signature: parsed.signature,
        })
    }
}

fn render_bundle(
    frame: &Frame,
    secret: &[u8],
    beacon: &[u8],
    reveal: Option<&BeaconReveal>,
    result: &DrawResult,
    key: Option<&SigningKey>,
) -> String {
    let layout = match frame.spec() {
        Spec::V1 => &V1,
        Spec::V2 => &V2,
    };
    let frame_hash = frame.hash();
    let seed = layout.spec.derive_seed(&frame_hash, secret, beacon);
    let mut sections: Vec<String> = Vec::with_capacity(layout.sections.len() - 1);
    let mut s = String::new();
    match frame.v2() {
        None => render_plan(&mut s, frame.plan()),
        Some(h) => {
            render_plan_v2(&mut s, frame.plan(), h);
            sections.push(std::mem::take(&mut s));
            render_provenance(&mut s, &h.provenance);
        }
    }
    sections.push(std::mem::take(&mut s));
    render_strata(&mut s, frame.strata());
    sections.push(std::mem::take(&mut s));
    let mut s = String::with_capacity(frame.len() * 160);
    render_frame(&mut s, frame);
    sections.push(s);
    let mut s = String::new();
    render_officers(&mut s, frame.officers());
    sections.push(std::mem::take(&mut s));
    render_seed(&mut s, &SeedLines { secret, beacon, reveal, frame_hash: &frame_hash, seed: &seed.0 });
    sections.push(std::mem::take(&mut s));
    render_counts(&mut s, &result.counts);
    sections.push(std::mem::take(&mut s));
    render_visits(&mut s, &result.visits);
    sections.push(std::mem::take(&mut s));
    let mut out = String::with_capacity(sections.iter().map(String::len).sum::<usize>() + 1024);
    writeln!(out, "{}\n[manifest]\nspec={}", layout.magic, layout.spec).unwrap();
    for (name, text) in layout.sections[1..].iter().zip(&sections) {
        writeln!(out, "{name}={}", hex::encode(sha256(text.as_bytes()))).unwrap();
    }
    let n = sections.len();
    let mut h = Sha256::new();
    h.update(sections[n - 2].as_bytes());
    h.update(sections[n - 1].as_bytes());
    writeln!(out, "result={}", hex::encode(h.finalize())).unwrap();
    let signature =
        key.map(|k| BundleSignature { public_key: k.public_key(), signature: k.sign(SIGNATURE_TYPE, out.as_bytes()) });
    for s in &sections {
        out.push_str(s);
    }
    if let Some(sig) = &signature {
        render_signature(&mut out, sig);
    }
    out
}

// ---------------------------------------------------------------- parsing

/// A line of the bundle with its 1-based number.
#[derive(Clone, Copy)]
pub(crate) struct Line<'a> {
    pub no: usize,
    pub text: &'a str,
}

pub(crate) fn perr(line: usize, column: usize, message: impl Into<String>) -> DrawError {
    DrawError::Parse { line, column, message: message.into() }
}

impl<'a> Line<'a> {
    /// Error at byte offset `at` of this line (reported as a 1-based
    /// character column).
    fn err(&self, at: usize, message: impl Into<String>) -> DrawError {
        let at = at.min(self.text.len());
        let col = self.text.get(..at).map_or(at, |p| p.chars().count()) + 1;
        perr(self.no, col, message)
    }

    /// Splits into exactly `n` tab-separated fields, each with its byte offset.
    fn fields(&self, n: usize, what: &str) -> Result<Vec<Field<'a>>, DrawError> {
        let mut out = Vec::with_capacity(n);
        let mut at = 0;
        for f in self.text.split('\t') {
            out.push(Field { line: *self, at, s: f });
            at += f.len() + 1;
        }
        if out.len() != n {
            return Err(self.err(0, format!("{what} line must have {n} tab-separated fields, found {}", out.len())));
        }
        Ok(out)
    }

    /// The value of a `key=value` line with the given key.
    fn value(&self, key: &str) -> Result<Field<'a>, DrawError> {
        match self.text.split_once('=') {
            Some((k, v)) if k == key => Ok(Field { line: *self, at: k.len() + 1, s: v }),
            _ => Err(self.err(0, format!("expected '{key}=...'"))),
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Field<'a> {
    line: Line<'a>,
    at: usize,
    s: &'a str,
}

impl<'a> Field<'a> {
    fn err(&self, message: impl Into<String>) -> DrawError {
        self.line.err(self.at, message)
    }
    fn err_at(&self, off: usize, message: impl Into<String>) -> DrawError {
        self.line.err(self.at + off, message)
    }
    fn number(&self, what: &str) -> Result<u64, DrawError> {
        let s = self.s;
        let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
        if !ok {
            return Err(self.err(format!("{what} must be a decimal number without leading zeros, found '{s}'")));
        }
        s.parse().map_err(|_| self.err(format!("{what} is too large")))
    }
    fn u32(&self, what: &str) -> Result<u32, DrawError> {
        u32::try_from(self.number(what)?).map_err(|_| self.err(format!("{what} is too large")))
    }
    fn city(&self) -> Result<u32, DrawError> {
        if self.s.len() != 6 || !self.s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.err(format!("city must be six digits, found '{}'", self.s)));
        }
        Ok(self.s.parse().expect("digits"))
    }
    fn yes_no(&self, what: &str) -> Result<bool, DrawError> {
        match self.s {
            "yes" => Ok(true),
            "no" => Ok(false),
            s => Err(self.err(format!("{what} must be 'yes' or 'no', found '{s}'"))),
        }
    }
    fn hex(&self, what: &str) -> Result<Vec<u8>, DrawError> {
        if let Some(p) = self.s.bytes().position(|b| !(b.is_ascii_digit() || (b'a'..=b'f').contains(&b))) {
            return Err(self.err_at(p, format!("{what} must be lower-case hex")));
        }
        if !self.s.len().is_multiple_of(2) {
            return Err(self.err(format!("{what} has an odd number of hex digits")));
        }
        Ok(hex::decode(self.s).expect("checked hex"))
    }
    fn hash(&self, what: &str) -> Result<Hash, DrawError> {
        let v = self.hex(what)?;
        v.try_into().map_err(|_| self.err(format!("{what} must be 64 hex digits")))
    }
    fn text(&self) -> Result<String, DrawError> {
        unescape(self.s).map(|c| c.into_owned()).map_err(|(at, m)| self.err_at(at, m))
    }
    fn code(&self, what: &str) -> Result<&'a str, DrawError> {
        match code_problem(self.s) {
            None => Ok(self.s),
            Some(p) => Err(self.err(format!("{what} {p}"))),
        }
    }
    /// Comma-separated codes; an empty field is an empty list.
    fn codes(&self, what: &str) -> Result<Vec<Field<'a>>, DrawError> {
        if self.s.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut at = self.at;
        for part in self.s.split(',') {
            let f = Field { line: self.line, at, s: part };
            f.code(what)?;
            out.push(f);
            at += part.len() + 1;
        }
        Ok(out)
    }
    fn persons(&self) -> Result<Vec<PersonId>, DrawError> {
        if self.s.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut at = 0;
        for part in self.s.split(',') {
            out.push(PersonId::parse(part).map_err(|m| self.err_at(at, m.0))?);
            at += part.len() + 1;
        }
        Ok(out)
    }
    fn items(&self) -> Result<Vec<(&'a str, &'a str)>, DrawError> {
        let mut out = Vec::new();
        for f in self.codes_raw()? {
            let Some((d, c)) = f.s.split_once(':') else {
                return Err(f.err("an item must be written department:code"));
            };
            for (x, what) in [(d, "department"), (c, "item code")] {
                if let Some(p) = code_problem(x) {
                    return Err(f.err(format!("{what} {p}")));
                }
            }
            out.push((d, c));
        }
        Ok(out)
    }
    fn codes_raw(&self) -> Result<Vec<Field<'a>>, DrawError> {
        if self.s.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut at = self.at;
        for part in self.s.split(',') {
            if part.is_empty() {
                return Err(self.line.err(at, "empty list element"));
            }
            out.push(Field { line: self.line, at, s: part });
            at += part.len() + 1;
        }
        Ok(out)
    }
}

/// A bundle split into sections, not yet interpreted.
pub(crate) struct RawBundle<'a> {
    pub text: &'a str,
    pub layout: &'static Layout,
    /// Per section (in layout order): byte range in `text` (header line
    /// included) and the lines after the header.
    pub sections: Vec<(std::ops::Range<usize>, Vec<Line<'a>>)>,
    /// First line number of each section header.
    pub header_lines: Vec<usize>,
    /// The trailing `[signature]` of a v2 bundle: its header line and lines.
    pub signature: Option<(usize, Vec<Line<'a>>)>,
}

pub(crate) struct Parsed {
    pub bundle: Bundle,
    pub frame_hash: Hash,
    pub seed: Hash,
    pub reveal: Option<BeaconReveal>,
    pub signature: Option<BundleSignature>,
}

impl<'a> RawBundle<'a> {
    pub(crate) fn split(text: &'a str) -> Result<RawBundle<'a>, DrawError> {
        if text.is_empty() {
            return Err(perr(1, 1, "the bundle is empty"));
        }
        let Some(body) = text.strip_suffix('\n') else {
            let no = text.split('\n').count();
            return Err(perr(
                no,
                text.rsplit('\n').next().unwrap_or("").chars().count() + 1,
                "the last line must end with a newline",
            ));
        };
        let mut offset = 0;
        let mut lines = body.split('\n').enumerate().map(|(i, t)| {
            let start = offset;
            offset += t.len() + 1;
            (start, Line { no: i + 1, text: t })
        });
        let (_, first) = lines.next().expect("at least one line");
        let layout = match first.text {
            MAGIC => &V1,
            MAGIC_V2 => &V2,
            _ if first.text.starts_with("#credo-draw-bundle v") => {
                return Err(perr(1, 1, format!("the first line must be '{MAGIC}' or '{MAGIC_V2}'")));
            }
            _ => return Err(perr(1, 1, format!("the first line must be '{MAGIC}'"))),
        };
        let names = layout.sections;
        let mut sections: Vec<(std::ops::Range<usize>, Vec<Line<'a>>)> = Vec::new();
        let mut header_lines = Vec::new();
        let mut signature: Option<(usize, Vec<Line<'a>>)> = None;
        for (start, line) in lines {
            if let Some((_, sig)) = signature.as_mut() {
                sig.push(line);
                continue;
            }
            let next = names.get(sections.len());
            let header = line.text.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
            if next.is_some_and(|n| header == Some(*n)) {
                if let Some(last) = sections.last_mut() {
                    last.0.end = start;
                }
                sections.push((start..text.len(), Vec::new()));
                header_lines.push(line.no);
                continue;
            }
            if layout.spec == Spec::V2 && next.is_none() && header == Some("signature") {
                if let Some(last) = sections.last_mut() {
                    last.0.end = start;
                }
                signature = Some((line.no, Vec::new()));
                continue;
            }
            match sections.last_mut() {
                None => return Err(perr(line.no, 1, "expected section [manifest]")),
                Some(s) => s.1.push(line),
            }
        }
        if sections.len() < names.len() {
            let no = text.matches('\n').count();
            return Err(perr(
                no,
                1,
                format!(
                    "section [{}] is missing (sections must appear in the order {})",
                    names[sections.len()],
                    names.iter().map(|s| format!("[{s}]")).collect::<Vec<_>>().join(" ")
                ),
            ));
        }
        Ok(RawBundle { text, layout, sections, header_lines, signature })
    }

    pub(crate) fn section_bytes(&self, i: usize) -> &'a [u8] {
        &self.text.as_bytes()[self.sections[i].0.clone()]
    }

    /// The bytes a v2 signature covers: the magic line and `[manifest]`.
    pub(crate) fn signed_bytes(&self) -> &'a [u8] {
        &self.text.as_bytes()[..self.sections[0].0.end]
    }

    pub(crate) fn idx(&self, name: &str) -> usize {
        self.layout.idx(name)
    }

    fn name(&self, i: usize) -> &'static str {
        self.layout.sections[i]
    }

    fn lines(&self, i: usize) -> &[Line<'a>] {
        &self.sections[i].1
    }

    /// Section `i`'s lines after its column-header line.
    fn table(&self, i: usize, header: &str) -> Result<&[Line<'a>], DrawError> {
        let lines = self.lines(i);
        match lines.first() {
            Some(l) if l.text == header => Ok(&lines[1..]),
            Some(l) => Err(l.err(0, format!("expected the column header line '{}'", header.replace('\t', "<TAB>")))),
            None => Err(perr(self.header_lines[i], 1, format!("section [{}] has no column header line", self.name(i)))),
        }
    }

    /// The `key=value` lines of section `i`, exactly `keys` in order.
    fn key_values(&self, i: usize, keys: &[&str]) -> Result<Vec<Field<'a>>, DrawError> {
        key_values(self.lines(i), self.header_lines[i], self.name(i), keys)
    }

    pub(crate) fn manifest(&self) -> Result<Vec<Hash>, DrawError> {
        let mut keys = vec!["spec"];
        keys.extend_from_slice(&self.layout.sections[1..]);
        keys.push("result");
        let kv = self.key_values(0, &keys)?;
        let spec = self.layout.spec.as_str();
        if kv[0].s != spec {
            return Err(
                kv[0].err(format!("unsupported spec '{}', this verifier knows {spec} for this layout", kv[0].s))
            );
        }
        kv[1..].iter().map(|f| f.hash("section hash")).collect()
    }

    /// Parses the `[signature]` section, if there is one.
    pub(crate) fn signature(&self) -> Result<Option<BundleSignature>, DrawError> {
        let Some((header, lines)) = &self.signature else {
            return Ok(None);
        };
        let kv = key_values(lines, *header, "signature", &["algorithm", "public_key", "signature"])?;
        if kv[0].s != crate::trust::ALGORITHM {
            return Err(kv[0].err(format!("algorithm must be {}, found '{}'", crate::trust::ALGORITHM, kv[0].s)));
        }
        let key: Hash = kv[1].hash("public_key")?;
        let public_key = PublicKey::from_hex(&hex::encode(key)).map_err(|e| kv[1].err(e.to_string()))?;
        let sig = kv[2].hex("signature")?;
        let signature: [u8; 64] = sig.try_into().map_err(|_| kv[2].err("signature must be 128 hex digits"))?;
        Ok(Some(BundleSignature { public_key, signature }))
    }

    pub(crate) fn parse(&self) -> Result<Parsed, DrawError> {
        self.manifest()?;
        let v2 = self.layout.spec == Spec::V2;
        // [plan]
        let ip = self.idx("plan");
        let plan_keys: &[&str] = if v2 {
            &[
                "plan_id",
                "departments",
                "officers_per_visit",
                "max_visits_per_officer",
                "commitment",
                "beacon_rule",
                "beacon_source",
                "beacon_published_at",
            ]
        } else {
            &["plan_id", "departments", "officers_per_visit", "max_visits_per_officer", "commitment", "beacon_source"]
        };
        let kv = self.key_values(ip, plan_keys)?;
        let plan = Plan {
            plan_id: kv[0].text()?,
            departments: kv[1].codes("department")?.iter().map(|f| f.s.to_owned()).collect(),
            officers_per_visit: kv[2].u32("officers_per_visit")?,
            max_visits_per_officer: kv[3].u32("max_visits_per_officer")?,
            commitment: kv[4].hash("commitment")?,
            beacon_source: kv[if v2 { 6 } else { 5 }].text()?,
        };
        let header = if v2 {
            let rule: BeaconRule =
                kv[5].s.parse().map_err(|m: super::frame::UnknownBeaconRule| kv[5].err(m.to_string()))?;
            let published_at = kv[7].text()?;
            Some(V2Header { beacon_rule: rule, beacon_published_at: published_at, provenance: self.provenance()? })
        } else {
            None
        };
        // [strata]
        let mut strata = Vec::new();
        for l in self.table(self.idx("strata"), STRATA_HEADER)? {
            let f = l.fields(4, "stratum")?;
            let mode = match f[1].s {
                "probability" => {
                    for x in &f[2..] {
                        if !x.s.is_empty() {
                            return Err(x.err("a probability stratum has empty ratio fields"));
                        }
                    }
                    StratumMode::Probability
                }
                "quota" => {
                    StratumMode::Quota { ratio_ppm: f[2].u32("ratio_ppm")?, min_ratio_ppm: f[3].u32("min_ratio_ppm")? }
                }
                m => {
                    return Err(f[1].err(format!("mode must be 'probability' or 'quota', found '{m}'")));
                }
            };
            strata.push(Stratum { key: f[0].text()?, mode });
        }
        // [officers] (needed by the builder before entities)
        let mut officers = Vec::new();
        let mut prev: Option<&str> = None;
        for l in self.table(self.idx("officers"), OFFICERS_HEADER)? {
            let f = l.fields(6, "officer")?;
            let id = f[0].code("officer id")?;
            if prev.is_some_and(|p| p >= id) {
                return Err(f[0].err("officers must be in ascending officer id order, without repeats"));
            }
            prev = Some(id);
            officers.push(Officer {
                officer_id: id.to_owned(),
                department: f[1].code("department")?.to_owned(),
                city: f[2].city()?,
                active: f[3].yes_no("active")?,
                qualifications: f[4].codes("qualification")?.iter().map(|q| q.s.to_owned()).collect(),
                persons: f[5].persons()?,
            });
        }
        let line_err = |l: &Line<'_>, e: DrawError| match e {
            DrawError::Parse { .. } => e,
            other => l.err(0, other.to_string()),
        };
        let head_line = self.header_lines[ip];
        let mut b = match header {
            None => FrameBuilder::new(plan, strata, officers),
            Some(h) => FrameBuilder::new_v2(plan, h, strata, officers),
        }
        .map_err(|e| perr(head_line, 1, e.to_string()))?;
        // [frame]
        let iframe = self.idx("frame");
        let rows = self.table(iframe, FRAME_HEADER)?;
        b.reserve(rows.len());
        let mut prev: Option<Uscc> = None;
        for l in rows {
            let f = l.fields(9, "entity")?;
            let uscc = Uscc::parse(f[0].s).map_err(|e| f[0].err(format!("invalid credit code: {e}")))?;
            if prev.is_some_and(|p| p >= uscc) {
                return Err(f[0].err("entities must be in ascending USCC order, without repeats"));
            }
            prev = Some(uscc);
            let stratum = f[1].text()?;
            let eligible = f[3].yes_no("eligible")?;
            let exclusion = f[4].text()?;
            if eligible != exclusion.is_empty() {
                return Err(f[4].err("the exclusion reason must be empty exactly when the entity is eligible"));
            }
            let items = f[6].items()?;
            let persons = f[7].persons()?;
            let recent: Vec<&str> = f[8].codes("recent officer id")?.iter().map(|x| x.s).collect();
            b.push(NewEntity {
                uscc,
                stratum: &stratum,
                probability_ppm: f[2].u32("probability_ppm")?,
                exclusion: (!eligible).then_some(exclusion.as_str()),
                city: f[5].city()?,
                items: &items,
                persons: &persons,
                recent_officers: &recent,
            })
            .map_err(|e| line_err(l, e))?;
        }
        let frame = b.build().map_err(|e| perr(self.header_lines[iframe], 1, e.to_string()))?;
        // [seed]
        let iseed = self.idx("seed");
        let (secret, beacon, reveal, frame_hash, seed) = if v2 {
            let kv = self
                .key_values(iseed, &["secret", "beacon_value", "beacon", "beacon_supplied_at", "frame_hash", "seed"])?;
            let reveal = BeaconReveal { value: kv[1].text()?, supplied_at: kv[3].text()? };
            (kv[0].hex("secret")?, kv[2].hex("beacon")?, Some(reveal), kv[4].hash("frame_hash")?, kv[5].hash("seed")?)
        } else {
            let kv = self.key_values(iseed, &["secret", "beacon", "frame_hash", "seed"])?;
            (kv[0].hex("secret")?, kv[1].hex("beacon")?, None, kv[2].hash("frame_hash")?, kv[3].hash("seed")?)
        };
        // [counts]
        let mut counts = Vec::new();
        for l in self.table(self.idx("counts"), COUNTS_HEADER)? {
            let f = l.fields(3, "count")?;
            counts.push(StratumCount {
                key: f[0].text()?,
                population: f[1].number("population")?,
                selected: f[2].number("selected")?,
            });
        }
        // [visits]
        let mut visits = Vec::new();
        for l in self.table(self.idx("visits"), VISITS_HEADER)? {
            let f = l.fields(7, "visit")?;
            let n = f[0].number("visit number")?;
            if n != visits.len() as u64 + 1 {
                return Err(f[0].err(format!("visits must be numbered 1, 2, ...; expected {}", visits.len() + 1)));
            }
            let uscc = Uscc::parse(f[1].s).map_err(|e| f[1].err(format!("invalid credit code: {e}")))?;
            let t = f[3].s;
            if t.len() != 16 || !t.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return Err(f[3].err("ticket must be 16 lower-case hex digits"));
            }
            let officers: Vec<String> = f[5].codes("officer id")?.iter().map(|x| x.s.to_owned()).collect();
            let reason = f[6].text()?;
            let outcome = match (officers.is_empty(), reason.is_empty()) {
                (false, true) => Outcome::Staffed(officers),
                (true, false) => Outcome::Unstaffed(reason),
                _ => return Err(f[5].err("a visit lists either officers or an unstaffed reason, not both or neither")),
            };
            visits.push(Visit {
                uscc,
                stratum: f[2].text()?,
                ticket: u64::from_str_radix(t, 16).expect("hex"),
                items: f[4].items()?.into_iter().map(|(d, c)| Item { department: d.into(), code: c.into() }).collect(),
                outcome,
            });
        }
        let signature = self.signature()?;
        Ok(Parsed {
            bundle: Bundle { frame, secret, beacon, result: DrawResult { counts, visits } },
            frame_hash,
            seed,
            reveal,
            signature,
        })
    }

    fn provenance(&self) -> Result<Provenance, DrawError> {
        let kv = self.key_values(
            self.idx("provenance"),
            &[
                "store_id",
                "plan_number",
                "kind",
                "name",
                "created_at",
                "as_of",
                "dataset_hash",
                "rules_hash",
                "run_id",
                "release_at",
                "replaces",
                "excluded_by",
            ],
        )?;
        let ids = |f: &Field<'a>| -> Result<Vec<String>, DrawError> {
            Ok(f.codes("plan id")?.iter().map(|x| x.s.to_owned()).collect())
        };
        Ok(Provenance {
            store_id: kv[0].code("store id")?.to_owned(),
            plan_number: kv[1].number("plan_number")?,
            kind: kv[2].code("kind")?.to_owned(),
            name: kv[3].text()?,
            created_at: kv[4].text()?,
            as_of: kv[5].text()?,
            dataset_hash: kv[6].text()?,
            rules_hash: kv[7].text()?,
            run_id: kv[8].number("run_id")?,
            release_at: kv[9].text()?,
            replaces: ids(&kv[10])?,
            excluded_by: ids(&kv[11])?,
        })
    }

    /// Re-renders every parsed section and reports the first line that is
    /// not byte-identical (non-canonical spelling, order or duplicates).
    pub(crate) fn check_canonical(&self, p: &Parsed) -> Result<(), DrawError> {
        let b = &p.bundle;
        let mut s = String::new();
        match b.frame.v2() {
            None => render_plan(&mut s, b.frame.plan()),
            Some(h) => {
                render_plan_v2(&mut s, b.frame.plan(), h);
                self.compare(self.idx("plan"), &s)?;
                s.clear();
                render_provenance(&mut s, &h.provenance);
                self.compare(self.idx("provenance"), &s)?;
                s.clear();
            }
        }
        if b.frame.v2().is_none() {
            self.compare(self.idx("plan"), &s)?;
            s.clear();
        }
        render_strata(&mut s, b.frame.strata());
        self.compare(self.idx("strata"), &s)?;
        // [frame], line by line (can be very large).
        let iframe = self.idx("frame");
        let lines = self.lines(iframe);
        if lines.len() != b.frame.len() + 1 {
            return Err(perr(
                self.header_lines[iframe],
                1,
                "section [frame]: the number of lines changed when re-encoded",
            ));
        }
        for (e, l) in b.frame.entities().zip(&lines[1..]) {
            s.clear();
            render_entity_line(&mut s, &e);
            if s.strip_suffix('\n') != Some(l.text) {
                return Err(not_canonical(l, s.trim_end_matches('\n')));
            }
        }
        s.clear();
        render_officers(&mut s, b.frame.officers());
        self.compare(self.idx("officers"), &s)?;
        if let Some(r) = &p.reveal {
            // The seed section's texts must be canonically escaped too.
            s.clear();
            let seed_lines = SeedLines {
                secret: &b.secret,
                beacon: &b.beacon,
                reveal: Some(r),
                frame_hash: &p.frame_hash,
                seed: &p.seed,
            };
            render_seed(&mut s, &seed_lines);
            self.compare(self.idx("seed"), &s)?;
        }
        s.clear();
        render_counts(&mut s, &b.result.counts);
        self.compare(self.idx("counts"), &s)?;
        s.clear();
        render_visits(&mut s, &b.result.visits);
        self.compare(self.idx("visits"), &s)?;
        if let (Some((header, lines)), Some(sig)) = (&self.signature, &p.signature) {
            s.clear();
            render_signature(&mut s, sig);
            compare_lines(lines, *header, "signature", &s)?;
        }
        Ok(())
    }

    fn compare(&self, i: usize, rendered: &str) -> Result<(), DrawError> {
        compare_lines(self.lines(i), self.header_lines[i], self.name(i), rendered)
    }
}

/// The `key=value` lines of a section, exactly `keys` in order.
fn key_values<'a>(lines: &[Line<'a>], header: usize, name: &str, keys: &[&str]) -> Result<Vec<Field<'a>>, DrawError> {
    let mut out = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let Some(l) = lines.get(k) else {
            return Err(perr(header + k, 1, format!("section [{name}] ends before '{key}='")));
        };
        out.push(l.value(key)?);
    }
    if let Some(l) = lines.get(keys.len()) {
        return Err(l.err(0, format!("unexpected line in section [{name}]")));
    }
    Ok(out)
}

fn compare_lines(lines: &[Line<'_>], header: usize, name: &str, rendered: &str) -> Result<(), DrawError> {
    let mut want = rendered.lines().skip(1);
    for l in lines {
        match want.next() {
            Some(w) if w == l.text => {}
            Some(w) => return Err(not_canonical(l, w)),
            None => {
                return Err(l.err(0, format!("unexpected line in section [{name}]")));
            }
        }
    }
    match want.next() {
        None => Ok(()),
        Some(w) => Err(perr(header + lines.len(), 1, format!("section [{name}] ends early; expected '{w}'"))),
    }
}

fn not_canonical(l: &Line<'_>, want: &str) -> DrawError {
    let at = l.text.bytes().zip(want.bytes()).position(|(a, b)| a != b).unwrap_or(l.text.len().min(want.len()));
    l.err(at, format!("not in canonical form; the canonical line is '{}'", want.replace('\t', "<TAB>")))
}
