//! `credo serve` as a process: what it asks of the system (Linux's
//! `/proc`).

use crate::common::*;

/// A serving process takes its memory in small pages (no transparent huge
/// pages: `ops::retain::small_pages`), so no request waits for a huge
/// page to be zeroed; the kernel shows it in `/proc/PID/status`.
#[test]
fn a_server_takes_no_huge_pages() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut out) = spawn_serve("en", &dir.path().join("data"));
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(line.starts_with("credo listening on http://127.0.0.1:"), "{line}");
    let thp = status.lines().find_map(|l| l.strip_prefix("THP_enabled:")).map(str::trim);
    assert_eq!(thp, Some("0"), "{status}");
}
