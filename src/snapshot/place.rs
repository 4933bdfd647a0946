//! A counting sort that runs on every core with no memory beyond the
//! serial one's: rows grouped by a small integer key (an entity, a
//! person), keeping their order within a key.
//!
//! The keys are cut into one range per thread. Each thread reads every
//! row but counts, then places, only the rows whose key is in its range,
//! into its own slices of the offsets and of the output (`split_at_mut`
//! at the range's first offset), so no two threads write the same place
//! and no per-thread copy of the counts is made. Reading every row once
//! per thread is sequential and cheap; the cost of a counting sort is the
//! scattered writes, and those are divided. Ranges hold equal numbers of
//! keys, not of rows: balanced when rows spread over keys as they do over
//! entities and persons (and correct however they spread).
//!
//! The loader's tables (`Table::group_by`) and the role graph's person
//! side are grouped this way: at 15M the largest (roles, evaluations)
//! were one core's work of about 2 s each and the graph 3.8 s, with the
//! other core idle.

use rayon::prelude::*;

/// Fewer rows than this are grouped on one thread (the parts' start-up
/// is not worth it).
const PARALLEL_ROWS: usize = 1 << 16;

/// The parts to cut `rows` rows into: one per thread, or one for fewer
/// than [`PARALLEL_ROWS`].
pub(crate) fn parts(rows: usize) -> usize {
    if rows < PARALLEL_ROWS { 1 } else { rayon::current_num_threads().clamp(1, 16) }
}

/// Groups `rows` by `key(row)` (each `< keys`), keeping their order within
/// a key, in `parts` key ranges (each a task of its own; [`parts`] gives
/// one per thread): returns `keys + 1` offsets (the rows of key `k` are
/// `out[offsets[k]..offsets[k + 1]]`) and `value(index, row)` of every
/// row in that order.
pub(crate) fn counting_sort<R, T>(
    parts: usize,
    keys: usize,
    rows: &[R],
    key: impl Fn(&R) -> usize + Sync,
    value: impl Fn(usize, &R) -> T + Sync,
) -> (Vec<u32>, Vec<T>)
where
    R: Sync,
    T: Copy + Send + Sync,
{
    let parts = parts.max(1);
    // Key ranges: part `p` holds keys bounds[p]..bounds[p + 1].
    let bounds: Vec<usize> = (0..=parts).map(|p| keys * p / parts).collect();

    let mut offsets = vec![0u32; keys + 1];
    {
        // Counts of key k go to offsets[k + 1].
        let counts = split(&mut offsets[1..], &bounds);
        counts.into_par_iter().enumerate().for_each(|(p, counts)| {
            let lo = bounds[p];
            for r in rows {
                let k = key(r);
                if let Some(c) = k.checked_sub(lo).and_then(|i| counts.get_mut(i)) {
                    *c += 1;
                }
            }
        });
    }
    for i in 0..keys {
        offsets[i + 1] += offsets[i];
    }
    // A key out of range would be counted by no part.
    assert_eq!(offsets[keys] as usize, rows.len(), "every row's key is below {keys}");
    let Some(first) = rows.first() else { return (offsets, Vec::new()) };
    // Filled on every core (the pages are touched where they are written).
    let filler = value(0, first);
    let mut out: Vec<T> = (0..rows.len()).into_par_iter().map(|_| filler).collect();
    let mut fill: Vec<u32> = offsets[..keys].to_vec();
    {
        let starts: Vec<usize> = bounds.iter().map(|&b| offsets[b] as usize).collect();
        let outs = split(&mut out, &starts);
        let fills = split(&mut fill, &bounds);
        outs.into_par_iter().zip(fills).enumerate().for_each(|(p, (out, fill))| {
            let (lo, base) = (bounds[p], starts[p]);
            for (i, r) in rows.iter().enumerate() {
                let k = key(r);
                if let Some(slot) = k.checked_sub(lo).and_then(|j| fill.get_mut(j)) {
                    out[*slot as usize - base] = value(i, r);
                    *slot += 1;
                }
            }
        });
    }
    (offsets, out)
}

/// `v` cut at `at` (non-decreasing, `at[0] == 0`, the last `== v.len()`)
/// into `at.len() - 1` slices.
fn split<'a, T>(mut v: &'a mut [T], at: &[usize]) -> Vec<&'a mut [T]> {
    let mut parts = Vec::with_capacity(at.len().saturating_sub(1));
    for w in at.windows(2) {
        let (head, tail) = std::mem::take(&mut v).split_at_mut(w[1] - w[0]);
        parts.push(head);
        v = tail;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The plain serial counting sort.
    fn serial(keys: usize, rows: &[(usize, u32)]) -> (Vec<u32>, Vec<(usize, u32)>) {
        let mut offsets = vec![0u32; keys + 1];
        for r in rows {
            offsets[r.0 + 1] += 1;
        }
        for i in 0..keys {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets[..keys].to_vec();
        let mut out = vec![(0, 0); rows.len()];
        for (i, r) in rows.iter().enumerate() {
            out[fill[r.0] as usize] = (i, r.1);
            fill[r.0] += 1;
        }
        (offsets, out)
    }

    #[test]
    fn large_inputs_take_the_parallel_path_and_match() {
        let keys = 10_007;
        let rows: Vec<(usize, u32)> =
            (0..PARALLEL_ROWS as u32 * 3).map(|i| ((i as usize * 7_919) % keys, i.wrapping_mul(31))).collect();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        assert_eq!(pool.install(|| parts(rows.len())), 3);
        assert_eq!(pool.install(|| parts(PARALLEL_ROWS - 1)), 1);
        let got = pool.install(|| counting_sort(parts(rows.len()), keys, &rows, |r| r.0, |i, r| (i, r.1)));
        assert_eq!(got, serial(keys, &rows));
    }

    #[test]
    #[should_panic(expected = "below")]
    fn a_key_out_of_range_is_not_dropped() {
        counting_sort(2, 4, &[(1usize, 0u32), (4, 0)], |r| r.0, |i, r| (i, r.1));
    }

    #[test]
    fn no_rows_and_no_keys() {
        let (offsets, out) = counting_sort(1, 3, &[] as &[(usize, u32)], |r| r.0, |i, r| (i, r.1));
        assert_eq!((offsets, out), (vec![0, 0, 0, 0], vec![]));
        let (offsets, out) = counting_sort(1, 0, &[] as &[(usize, u32)], |r| r.0, |i, r| (i, r.1));
        assert_eq!((offsets, out), (vec![0], vec![]));
    }

    proptest! {
        /// Any keys, any number of threads: what the serial sort gives.
        #[test]
        fn matches_the_serial_sort(
            keys in 1usize..300,
            picks in proptest::collection::vec((any::<u32>(), any::<u32>()), 0..3000),
            threads in 1usize..6,
        ) {
            let rows: Vec<(usize, u32)> = picks.iter().map(|&(k, v)| (k as usize % keys, v)).collect();
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let parts = threads + keys % 3;
            let got = pool.install(|| counting_sort(parts, keys, &rows, |r| r.0, |i, r| (i, r.1)));
            prop_assert_eq!(got, serial(keys, &rows));
        }
    }
}
