//! Will a classification fit in memory? Checked before the dataset is
//! read, so a province too large for the machine gets a clear refusal
//! naming what it needs and what there is, not a kill by the kernel's
//! out-of-memory killer halfway through loading.
//!
//! The estimate follows how a run's peak grows (ARCHITECTURE.md,
//! "Performance"): a constant, plus the snapshot (it grows with the rows
//! of all tables), plus one shard's working set. What is available is the
//! tighter of the container's limit (cgroup v2) and the kernel's
//! `MemAvailable`, or a limit the user gives.

use std::path::Path;

use super::{OpsError, Result};
use crate::data::TableRows;
use crate::i18n::Text;
use crate::tr;

/// Peak bytes of a run besides its snapshot and shard: the rule engine,
/// polars' buffers, one decoded batch and one written shard in flight.
pub const BASE_BYTES: u64 = 700_000_000;
/// Snapshot and grouping bytes per dataset row (all tables): measured
/// peaks of 3M entities (22.0 M rows) 1.46 GB and of 15M (110.2 M rows)
/// 4.13 GB (10⁹ bytes; 1,430,132 and 4,029,048 KiB, with each results
/// file written on its own thread).
pub const BYTES_PER_ROW: u64 = 30;
/// A shard's working set per entity (facts, stage results, the spill's
/// encoding).
pub const BYTES_PER_SHARD_ENTITY: u64 = 1_000;

/// The memory a run may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemoryLimit {
    /// What the machine (or its container) has available now.
    #[default]
    Auto,
    /// No check.
    Off,
    /// At most this many bytes.
    Bytes(u64),
}

/// Why a `--max-memory` value is not a size; each names the value as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("'{value}': unknown unit '{unit}' (use K, M, G or T, or auto / off)")]
    Unit { value: String, unit: String },
    #[error("'{0}' is not a size (e.g. 4G, 512M, auto, off)")]
    NotASize(String),
    #[error("'{0}' is not a positive size")]
    NotPositive(String),
}

impl SizeError {
    /// Why, in both languages (`Display` is the English).
    pub fn text(&self) -> Text {
        match self {
            SizeError::Unit { value, unit } => tr!(
                "“{value}”：未知的单位“{unit}”（请用 K、M、G 或 T，或 auto / off）",
                "'{value}': unknown unit '{unit}' (use K, M, G or T, or auto / off)"
            ),
            SizeError::NotASize(v) => {
                tr!("“{v}”不是大小（例如 4G、512M、auto、off）", "'{v}' is not a size (e.g. 4G, 512M, auto, off)")
            }
            SizeError::NotPositive(v) => tr!("“{v}”不是正的大小", "'{v}' is not a positive size"),
        }
    }
}

impl std::str::FromStr for MemoryLimit {
    type Err = SizeError;

    /// `auto`, `off`, or a size: `4G`, `4GB`, `1.5G`, `512M`, `800MB`,
    /// `2000000000` (bytes). Units are decimal (1 G = 10⁹ bytes).
    fn from_str(s: &str) -> std::result::Result<Self, SizeError> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "auto" => return Ok(MemoryLimit::Auto),
            "off" => return Ok(MemoryLimit::Off),
            _ => {}
        }
        let t = t.strip_suffix('b').unwrap_or(&t);
        let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
            Some((i, _)) => (&t[..i], &t[i..]),
            None => (t, ""),
        };
        let scale: f64 = match unit {
            "" => 1.0,
            "k" => 1e3,
            "m" => 1e6,
            "g" => 1e9,
            "t" => 1e12,
            _ => return Err(SizeError::Unit { value: s.to_string(), unit: unit.to_string() }),
        };
        let n: f64 = number.trim().parse().map_err(|_| SizeError::NotASize(s.to_string()))?;
        if !n.is_finite() || n <= 0.0 || n * scale > u64::MAX as f64 {
            return Err(SizeError::NotPositive(s.to_string()));
        }
        Ok(MemoryLimit::Bytes((n * scale) as u64))
    }
}

/// Where a limit came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// The user's `--max-memory`.
    Given,
    /// The container's cgroup limit less what it already uses.
    Cgroup,
    /// The kernel's MemAvailable.
    MemAvailable,
}

/// What a run over a dataset is expected to need at its peak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Estimate {
    /// Rows of all tables.
    pub rows: u64,
    /// False when some table is CSV (its rows estimated from its size).
    pub exact: bool,
    pub entities: u64,
    pub peak_bytes: u64,
}

impl Estimate {
    /// From the tables' rows and the shard size.
    pub fn of(tables: &[TableRows], shard_size: usize) -> Estimate {
        let rows: u64 = tables.iter().map(|t| t.rows).sum();
        let entities = tables.iter().find(|t| t.table == "entities").map_or(0, |t| t.rows);
        let shard = entities.min(shard_size as u64);
        let peak_bytes = BASE_BYTES
            .saturating_add(rows.saturating_mul(BYTES_PER_ROW))
            .saturating_add(shard.saturating_mul(BYTES_PER_SHARD_ENTITY));
        Estimate { rows, exact: tables.iter().all(|t| t.exact), entities, peak_bytes }
    }

    /// For the dataset in `dir` (its tables' rows as [`crate::data::table_rows`]
    /// finds them), unchecked: what [`preflight`] checks.
    pub fn of_dataset(dir: &Path, shard_size: usize) -> Estimate {
        Estimate::of(&crate::data::table_rows(dir), shard_size)
    }
}

/// The check's outcome for a run that may go ahead.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Fits {
    pub estimate: Estimate,
    /// The limit it was checked against (none: not checked).
    pub limit: Option<(u64, LimitSource)>,
}

/// Checks that a run over the dataset in `dir` fits in `limit` before it
/// reads the dataset; refuses with what it needs and what there is.
pub fn preflight(dir: &Path, shard_size: usize, limit: MemoryLimit) -> Result<Fits> {
    let estimate = Estimate::of_dataset(dir, shard_size);
    let limit = match limit {
        MemoryLimit::Off => None,
        MemoryLimit::Bytes(b) => Some((b, LimitSource::Given)),
        MemoryLimit::Auto => available(),
    };
    check(estimate, limit)?;
    Ok(Fits { estimate, limit })
}

fn check(estimate: Estimate, limit: Option<(u64, LimitSource)>) -> Result<()> {
    let Some((bytes, source)) = limit else { return Ok(()) };
    if estimate.peak_bytes <= bytes {
        return Ok(());
    }
    let (need, have, rows, entities) = (size(estimate.peak_bytes), size(bytes), estimate.rows, estimate.entities);
    let (zh_rows, en_rows) = if estimate.exact {
        ("", "")
    } else {
        ("（CSV 行数按文件大小估计）", " (CSV rows estimated from file sizes)")
    };
    let (zh_src, en_src) = match source {
        LimitSource::Given => ("以 --max-memory 给定的上限", "the limit given by --max-memory"),
        LimitSource::Cgroup => ("容器的内存限额（cgroup）", "the container's memory limit (cgroup)"),
        LimitSource::MemAvailable => ("本机当前可用内存（MemAvailable）", "memory available now (MemAvailable)"),
    };
    Err(OpsError::Unavailable(tr!(
        "内存不足，未读取数据集：{entities} 个主体、{rows} 行数据{zh_rows}的运行峰值约需 {need}，而{zh_src}为 {have}。请在内存更大的机器上运行，或减小 --shard-size（每个主体约 1 KB），或用 --max-memory 指定上限（off 表示不检查）。",
        "not enough memory, the dataset was not read: a run over {entities} entities and {rows} rows{en_rows} needs about {need} at its peak, and {en_src} is {have}. Run it on a machine with more memory, lower --shard-size (about 1 KB per entity), or set --max-memory (off skips the check)."
    )))
}

/// `3.90 GB`, `812 MB`.
pub fn size(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.2} GB", bytes as f64 / 1e9)
    } else {
        format!("{} MB", bytes.div_ceil(1_000_000))
    }
}

/// The memory a run may take now: the tighter of the container's limit
/// (less its usage) and MemAvailable. `None` where neither is known.
pub fn available() -> Option<(u64, LimitSource)> {
    let cgroup = cgroup_room(
        std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().as_deref(),
        std::fs::read_to_string("/sys/fs/cgroup/memory.current").ok().as_deref(),
    )
    .map(|b| (b, LimitSource::Cgroup));
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| mem_available(&m))
        .map(|b| (b, LimitSource::MemAvailable));
    match (cgroup, meminfo) {
        (Some(c), Some(m)) => Some(if c.0 < m.0 { c } else { m }),
        (c, m) => c.or(m),
    }
}

/// Room under a cgroup v2 limit: `memory.max` less `memory.current`
/// (`max` means no limit).
fn cgroup_room(max: Option<&str>, current: Option<&str>) -> Option<u64> {
    let max: u64 = max?.trim().parse().ok()?;
    let current: u64 = current.and_then(|c| c.trim().parse().ok()).unwrap_or(0);
    Some(max.saturating_sub(current))
}

/// `MemAvailable` of /proc/meminfo, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    kib_field(meminfo, "MemAvailable:")
}

/// The field `key` (with its colon) of a /proc file whose lines read
/// `Key:   N kB` (`meminfo`, a process's `status`), in bytes.
pub(super) fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(entities: u64, total: u64) -> Vec<TableRows> {
        vec![
            TableRows { table: "entities", rows: entities, exact: true },
            TableRows { table: "roles", rows: total - entities, exact: true },
        ]
    }

    #[test]
    fn limits_parse_as_a_user_writes_them() {
        assert_eq!("auto".parse(), Ok(MemoryLimit::Auto));
        assert_eq!("OFF".parse(), Ok(MemoryLimit::Off));
        assert_eq!("4G".parse(), Ok(MemoryLimit::Bytes(4_000_000_000)));
        assert_eq!("4gb".parse(), Ok(MemoryLimit::Bytes(4_000_000_000)));
        assert_eq!("1.5G".parse(), Ok(MemoryLimit::Bytes(1_500_000_000)));
        assert_eq!("512M".parse(), Ok(MemoryLimit::Bytes(512_000_000)));
        assert_eq!("2000".parse(), Ok(MemoryLimit::Bytes(2000)));
        for bad in ["", "G", "-1G", "0", "4X", "four"] {
            assert!(bad.parse::<MemoryLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_estimate_follows_the_measured_runs() {
        // Measured (ARCHITECTURE.md), bytes: 3M entities, 22,042,438 rows:
        // 1.464e9; 15M, 110,211,134 rows: 4.126e9. Within 5%.
        for (entities, total, measured) in [(3_000_000u64, 22_042_438u64, 1.464e9), (15_000_000, 110_211_134, 4.126e9)]
        {
            let e = Estimate::of(&rows(entities, total), 100_000);
            let ratio = e.peak_bytes as f64 / measured;
            assert!((0.95..1.05).contains(&ratio), "{entities}: {} vs {measured}", e.peak_bytes);
        }
        // A single shard holds every entity's working set.
        let one = Estimate::of(&rows(1_000_000, 7_335_790), usize::MAX);
        let sharded = Estimate::of(&rows(1_000_000, 7_335_790), 100_000);
        assert_eq!(one.peak_bytes - sharded.peak_bytes, 900_000 * BYTES_PER_SHARD_ENTITY);
    }

    #[test]
    fn a_run_over_the_limit_is_refused_naming_need_and_limit() {
        let e = Estimate::of(&rows(15_000_000, 110_211_134), 100_000);
        assert!(check(e, None).is_ok());
        assert!(check(e, Some((e.peak_bytes, LimitSource::Given))).is_ok());
        let Err(OpsError::Unavailable(t)) = check(e, Some((2_000_000_000, LimitSource::MemAvailable))) else {
            panic!("not refused")
        };
        assert!(t.en().contains("15000000 entities") && t.en().contains("2.00 GB"), "{}", t.en());
        assert!(t.zh().contains("内存不足") && t.zh().contains("MemAvailable"), "{}", t.zh());
    }

    #[test]
    fn room_under_a_cgroup_and_in_meminfo() {
        assert_eq!(cgroup_room(Some("max\n"), Some("10")), None);
        assert_eq!(cgroup_room(Some("4000000000\n"), Some("1000000000\n")), Some(3_000_000_000));
        assert_eq!(cgroup_room(None, None), None);
        let m = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(mem_available(m), Some(20_000_000 * 1024));
        assert_eq!(mem_available("MemTotal: 1 kB\n"), None);
    }
}
