//! Charts as inline SVG, drawn on the server: horizontal bars, bars
//! stacked by tier, and lines across runs. Colours come from the
//! stylesheet (classes `t1`..`t4`), so the pages need no inline style.
//! Knows nothing of where the numbers come from.

use maud::{Markup, html};

const W: f64 = 640.0;
const LABEL: f64 = 150.0;
const ROW: f64 = 26.0;

/// One bar a row: (label, value, class).
pub fn bars(title: &str, rows: &[(String, f64, &'static str)]) -> Markup {
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1.0);
    let h = ROW * rows.len() as f64 + 8.0;
    html! {
        svg.chart viewBox=(format!("0 0 {W} {h}")) role="img" aria-label=(title) {
            title { (title) }
            @for (i, (label, v, class)) in rows.iter().enumerate() {
                @let y = 4.0 + i as f64 * ROW;
                @let w = (W - LABEL - 70.0) * v / max;
                text.label x=(LABEL - 8.0) y=(y + 16.0) text-anchor="end" { (label) }
                rect class=(class) x=(LABEL) y=(y + 3.0) width=(format!("{w:.1}")) height=(ROW - 8.0) {}
                text.value x=(format!("{:.1}", LABEL + w + 6.0)) y=(y + 16.0) { (fmt_num(*v)) }
            }
        }
    }
}

/// One bar a row, split into four tier parts: (label, counts of tiers 1..=4).
pub fn stacked(title: &str, rows: &[(String, [usize; 4])]) -> Markup {
    let max = rows.iter().map(|r| r.1.iter().sum::<usize>()).max().unwrap_or(0).max(1) as f64;
    let h = ROW * rows.len() as f64 + 8.0;
    html! {
        svg.chart viewBox=(format!("0 0 {W} {h}")) role="img" aria-label=(title) {
            title { (title) }
            @for (i, (label, counts)) in rows.iter().enumerate() {
                @let y = 4.0 + i as f64 * ROW;
                @let total: usize = counts.iter().sum();
                text.label x=(LABEL - 8.0) y=(y + 16.0) text-anchor="end" { (label) }
                @let segs = segments(counts, max);
                @for (t, (x, w, c)) in segs.iter().enumerate() {
                    rect class=(format!("t{}", t + 1)) x=(format!("{x:.1}")) y=(y + 3.0) width=(format!("{w:.1}")) height=(ROW - 8.0) {
                        title { (c) }
                    }
                }
                @let x = segs.last().map_or(LABEL, |s| s.0 + s.1);
                text.value x=(format!("{:.1}", x + 6.0)) y=(y + 16.0) { (total) }
            }
        }
    }
}

/// Lines across runs: x labels, and series (class, values).
pub fn lines(title: &str, xs: &[String], series: &[(&'static str, Vec<usize>)]) -> Markup {
    let (h, left, bottom) = (220.0, 60.0, 30.0);
    let max = series.iter().flat_map(|s| s.1.iter()).copied().max().unwrap_or(0).max(1) as f64;
    let n = xs.len().max(2) as f64 - 1.0;
    let px = |i: usize| left + (W - left - 20.0) * i as f64 / n;
    let py = |v: usize| 10.0 + (h - bottom - 10.0) * (1.0 - v as f64 / max);
    html! {
        svg.chart viewBox=(format!("0 0 {W} {h}")) role="img" aria-label=(title) {
            title { (title) }
            line.axis x1=(left) y1=(h - bottom) x2=(W - 10.0) y2=(h - bottom) {}
            text.value x=(left - 6.0) y=(py(max as usize) + 4.0) text-anchor="end" { (max as usize) }
            text.value x=(left - 6.0) y=(h - bottom) text-anchor="end" { "0" }
            @for (i, x) in xs.iter().enumerate() {
                text.label x=(format!("{:.1}", px(i))) y=(h - 10.0) text-anchor="middle" { (x) }
            }
            @for (class, vs) in series {
                @let pts: Vec<String> = vs.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", px(i), py(*v))).collect();
                polyline class=(format!("line {class}")) points=(pts.join(" ")) {}
                @for (i, v) in vs.iter().enumerate() {
                    circle class=(class) cx=(format!("{:.1}", px(i))) cy=(format!("{:.1}", py(*v))) r="3" { title { (v) } }
                }
            }
        }
    }
}

/// (x, width, count) of each tier's part of a stacked bar.
fn segments(counts: &[usize; 4], max: f64) -> Vec<(f64, f64, usize)> {
    let mut x = LABEL;
    counts
        .iter()
        .map(|&c| {
            let w = (W - LABEL - 70.0) * c as f64 / max;
            let seg = (x, w, c);
            x += w;
            seg
        })
        .collect()
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}
