//! Selection of entities per stratum, whole or in shards.
//!
//! A shard is a [`Frame`] holding some of the entities (same plan, strata
//! and officers). Because tickets depend only on (seed, USCC), and a quota
//! stratum keeps the k smallest (ticket, USCC) pairs, each shard can keep
//! its own k smallest and [`merge`] keeps the k smallest of the union: the
//! result equals drawing the whole frame.

use std::cmp::Ordering;

use rayon::prelude::*;

use super::DrawError;
use super::frame::{Frame, Stratum, StratumMode};
use super::ticket::{EntityTicketer, Seed, probability_threshold, quota_target};
use crate::model::Uscc;

/// An entity kept by a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub ticket: u64,
    pub uscc: Uscc,
    /// Index into the strata table.
    pub stratum: u32,
    /// Row of the entity in its shard's frame.
    pub row: u32,
}

/// Per-stratum counts of a draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StratumCount {
    pub key: String,
    /// Eligible entities in the stratum (whole frame).
    pub population: u64,
    pub selected: u64,
}

/// What one shard contributes: its candidates, sorted by (ticket, USCC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSelection {
    pub strata: Vec<Stratum>,
    /// Whole-frame populations the shard was drawn with.
    pub populations: Vec<u64>,
    pub candidates: Vec<Candidate>,
}

/// A selected entity: where it lives (shard, row) and its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub ticket: u64,
    pub uscc: Uscc,
    pub stratum: u32,
    /// Index of the shard in the slice given to [`merge`].
    pub shard: u32,
    pub row: u32,
}

/// The merged selection: picks in processing order, ascending (ticket, USCC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub strata: Vec<Stratum>,
    pub counts: Vec<StratumCount>,
    pub picks: Vec<Pick>,
}

fn by_ticket(a: &(u64, Uscc), b: &(u64, Uscc)) -> Ordering {
    a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1))
}

/// Computes the tickets of the shard's eligible entities (in parallel) and
/// selects. `populations` are the whole frame's eligible counts per stratum
/// (for an unsharded frame, [`Frame::populations`]).
pub fn select_shard(frame: &Frame, seed: &Seed, populations: &[u64]) -> Result<ShardSelection, DrawError> {
    select(frame, &frame_tickets(frame, seed), populations)
}

/// The ticket of every eligible entity, indexed by row (0 for ineligible
/// rows, which are never read), computed in parallel.
pub fn frame_tickets(frame: &Frame, seed: &Seed) -> Vec<u64> {
    let t = EntityTicketer::new(seed);
    frame
        .usccs()
        .par_iter()
        .enumerate()
        .with_min_len(4096)
        .map(|(row, u)| if frame.eligible_at(row) { t.ticket(u) } else { 0 })
        .collect()
}

/// Selection given precomputed tickets (`tickets[row]`, only read for
/// eligible rows).
pub fn select(frame: &Frame, tickets: &[u64], populations: &[u64]) -> Result<ShardSelection, DrawError> {
    let strata = frame.strata();
    if populations.len() != strata.len() || tickets.len() != frame.len() {
        return Err(DrawError::Shards(format!(
            "{} populations and {} tickets for {} strata and {} entities",
            populations.len(),
            tickets.len(),
            strata.len(),
            frame.len()
        )));
    }
    let local = frame.populations();
    for (i, s) in strata.iter().enumerate() {
        if local[i] > populations[i] {
            return Err(DrawError::Shards(format!(
                "stratum '{}': the shard has {} eligible entities but the population is {}",
                s.key, local[i], populations[i]
            )));
        }
    }
    let mut quota: Vec<Vec<(u64, u32)>> = strata.iter().map(|_| Vec::new()).collect();
    let mut candidates = Vec::new();
    let usccs = frame.usccs();
    let (stratum_col, prob_col) = (frame.stratum_col(), frame.probability_col());
    for row in 0..frame.len() {
        if !frame.eligible_at(row) {
            continue;
        }
        let s = stratum_col[row];
        match strata[s as usize].mode {
            StratumMode::Probability => {
                if u128::from(tickets[row]) < probability_threshold(prob_col[row]) {
                    candidates.push(Candidate { ticket: tickets[row], uscc: usccs[row], stratum: s, row: row as u32 });
                }
            }
            StratumMode::Quota { .. } => quota[s as usize].push((tickets[row], row as u32)),
        }
    }
    for (s, mut v) in quota.into_iter().enumerate() {
        let StratumMode::Quota { ratio_ppm, min_ratio_ppm } = strata[s].mode else {
            continue;
        };
        let k = quota_target(populations[s], ratio_ppm, min_ratio_ppm) as usize;
        let key = |&(t, r): &(u64, u32)| (t, usccs[r as usize]);
        if k == 0 {
            continue;
        }
        if v.len() > k {
            v.select_nth_unstable_by(k - 1, |a, b| by_ticket(&key(a), &key(b)));
            v.truncate(k);
        }
        candidates.extend(v.into_iter().map(|(ticket, row)| Candidate {
            ticket,
            uscc: usccs[row as usize],
            stratum: s as u32,
            row,
        }));
    }
    candidates.sort_unstable_by(|a, b| by_ticket(&(a.ticket, a.uscc), &(b.ticket, b.uscc)));
    Ok(ShardSelection { strata: strata.to_vec(), populations: populations.to_vec(), candidates })
}

/// Merges shard selections into the selection of the whole frame. The
/// shards must share the strata table and populations and hold disjoint
/// entities.
pub fn merge(shards: &[ShardSelection]) -> Result<Selection, DrawError> {
    let Some(first) = shards.first() else {
        return Err(DrawError::Shards("no shard to merge".into()));
    };
    for (i, s) in shards.iter().enumerate().skip(1) {
        if s.strata != first.strata || s.populations != first.populations {
            return Err(DrawError::Shards(format!(
                "shard {i} has a different strata table or populations than shard 0"
            )));
        }
    }
    let strata = &first.strata;
    let mut picks: Vec<Pick> = shards
        .iter()
        .enumerate()
        .flat_map(|(shard, s)| {
            s.candidates.iter().map(move |c| Pick {
                ticket: c.ticket,
                uscc: c.uscc,
                stratum: c.stratum,
                shard: shard as u32,
                row: c.row,
            })
        })
        .collect();
    picks.sort_unstable_by(|a, b| by_ticket(&(a.ticket, a.uscc), &(b.ticket, b.uscc)));
    if let Some(w) = picks.windows(2).find(|w| w[0].uscc == w[1].uscc) {
        return Err(DrawError::Shards(format!("entity {} is in more than one shard", w[0].uscc)));
    }
    // Picks are in ascending (ticket, USCC) order, so the first k of each
    // quota stratum are its k smallest.
    let targets: Vec<Option<u64>> = strata
        .iter()
        .zip(&first.populations)
        .map(|(s, &n)| match s.mode {
            StratumMode::Probability => None,
            StratumMode::Quota { ratio_ppm, min_ratio_ppm } => Some(quota_target(n, ratio_ppm, min_ratio_ppm)),
        })
        .collect();
    let mut selected = vec![0u64; strata.len()];
    picks.retain(|p| {
        let s = p.stratum as usize;
        if targets[s].is_some_and(|k| selected[s] >= k) {
            return false;
        }
        selected[s] += 1;
        true
    });
    for (i, s) in strata.iter().enumerate() {
        if let Some(k) = targets[i]
            && selected[i] < k
        {
            return Err(DrawError::Shards(format!(
                "stratum '{}' needs {k} entities but the shards hold only {}: a shard is missing or the populations are wrong",
                s.key, selected[i]
            )));
        }
    }
    let counts = strata
        .iter()
        .zip(&first.populations)
        .zip(&selected)
        .map(|((s, &population), &selected)| StratumCount { key: s.key.clone(), population, selected })
        .collect();
    Ok(Selection { strata: strata.clone(), counts, picks })
}
