//! Entity names by id, compressed in blocks: names are the largest part of
//! an entity's attributes (a province holds about half a gigabyte of them),
//! and they are read only when results are written, a shard at a time, in
//! id order. Each block of [`BLOCK`] names is zstd-compressed on its own,
//! so one name costs one small block to decompress, and a shard's names
//! each block once.

use super::EntityId;

/// Names per block.
const BLOCK: usize = 1024;

/// Compressed names, in id order.
#[derive(Clone, Debug, Default)]
pub struct Names {
    blocks: Vec<Vec<u8>>,
    len: usize,
}

/// Decompressed blocks that do not read back (the snapshot's memory was
/// damaged): never expected, reported rather than unwrapped.
#[derive(Debug, thiserror::Error)]
#[error("names block {0} does not decompress")]
pub struct NamesError(usize);

impl Names {
    /// Compresses names given in id order.
    pub fn new<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> Names {
        let len = names.len();
        let mut blocks = Vec::with_capacity(len.div_ceil(BLOCK));
        let mut raw: Vec<u8> = Vec::new();
        let mut n = 0;
        let mut compressor = Compressor::new();
        for name in names {
            let b = name.as_bytes();
            raw.extend_from_slice(&(b.len() as u32).to_le_bytes());
            raw.extend_from_slice(b);
            n += 1;
            if n == BLOCK {
                blocks.push(compressor.compress(&raw));
                raw.clear();
                n = 0;
            }
        }
        if n > 0 {
            blocks.push(compressor.compress(&raw));
        }
        Names { blocks, len }
    }

    /// [`Names::new`] for `len` names given by id, their blocks built and
    /// compressed in parallel: the same blocks, byte for byte (each block
    /// is compressed on its own either way). Each worker keeps one
    /// compression context and one block buffer for all its blocks.
    pub fn from_fn<'a>(len: usize, name: impl Fn(usize) -> &'a [u8] + Sync) -> Names {
        use rayon::prelude::*;
        let blocks = (0..len.div_ceil(BLOCK))
            .into_par_iter()
            .map_init(
                || (Compressor::new(), Vec::with_capacity(BLOCK * 64), Vec::with_capacity(BLOCK)),
                |(compressor, raw, names), b| {
                    // Names usually lie scattered in memory: all of a
                    // block's are found, and their first bytes read, before
                    // any is copied, so the reads overlap instead of
                    // waiting one for another.
                    names.clear();
                    names.extend((b * BLOCK..((b + 1) * BLOCK).min(len)).map(&name));
                    let first = names.iter().fold(0u8, |x, n| x ^ n.first().copied().unwrap_or(0));
                    std::hint::black_box(first);
                    raw.clear();
                    for n in names.iter() {
                        raw.extend_from_slice(&(n.len() as u32).to_le_bytes());
                        raw.extend_from_slice(n);
                    }
                    compressor.compress(raw)
                },
            )
            .collect();
        Names { blocks, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn heap_bytes(&self) -> usize {
        self.blocks.iter().map(Vec::capacity).sum::<usize>() + self.blocks.capacity() * 24
    }

    fn block(&self, b: usize, d: &mut Decompressor) -> Result<Vec<String>, NamesError> {
        let block = self.blocks.get(b).ok_or(NamesError(b))?;
        let raw = d.decompress(block).ok_or(NamesError(b))?;
        let mut out = Vec::with_capacity(BLOCK);
        let mut at = 0;
        while at < raw.len() {
            let n = u32::from_le_bytes(raw[at..at + 4].try_into().map_err(|_| NamesError(b))?) as usize;
            at += 4;
            let s = std::str::from_utf8(raw.get(at..at + n).ok_or(NamesError(b))?).map_err(|_| NamesError(b))?;
            out.push(s.to_string());
            at += n;
        }
        Ok(out)
    }

    /// One name.
    pub fn get(&self, e: EntityId) -> String {
        let e = e as usize;
        self.block(e / BLOCK, &mut Decompressor::new())
            .ok()
            .and_then(|mut b| (e % BLOCK < b.len()).then(|| b.swap_remove(e % BLOCK)))
            .unwrap_or_default()
    }

    /// The names of `ids`, in their order: each run of ids in one block
    /// decompresses that block once, and runs are decompressed on every
    /// core (a shard's names are asked for between two parallel steps,
    /// so a serial loop here left the other core idle).
    pub fn many(&self, ids: &[EntityId]) -> Vec<String> {
        use rayon::prelude::*;
        let runs: Vec<&[EntityId]> = ids.chunk_by(|a, b| *a as usize / BLOCK == *b as usize / BLOCK).collect();
        let named: Vec<Vec<String>> = runs
            .par_iter()
            .map_init(Decompressor::new, |d, run| {
                let mut names = self.block(run[0] as usize / BLOCK, d).unwrap_or_default();
                // Each id of the run asked for once (strictly increasing,
                // as callers give them): the decoded block's own strings
                // are handed over instead of copied.
                let once = run.windows(2).all(|w| w[0] < w[1]);
                run.iter()
                    .map(|&e| {
                        let name = names.get_mut(e as usize % BLOCK);
                        name.map(|n| if once { std::mem::take(n) } else { n.clone() }).unwrap_or_default()
                    })
                    .collect()
            })
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for run in named {
            out.extend(run);
        }
        out
    }
}

/// Decompresses blocks one after another in one zstd context, each into a
/// buffer of the size its frame records (every block is compressed in one
/// call, which records it). `zstd::bulk::decompress` set up a context per
/// block and reserved the whole bound it was given for each (64 MiB for
/// some 30 KB of names).
struct Decompressor(Option<zstd::bulk::Decompressor<'static>>);

/// The most a block of names decompresses to (never near: 1,024 names).
const MAX_RAW: u64 = 64 << 20;

impl Decompressor {
    fn new() -> Decompressor {
        Decompressor(zstd::bulk::Decompressor::new().ok())
    }

    /// The block's bytes; `None` when they do not decompress.
    fn decompress(&mut self, block: &[u8]) -> Option<Vec<u8>> {
        let size = zstd::zstd_safe::get_frame_content_size(block).ok()?.filter(|n| *n <= MAX_RAW)?;
        let mut raw = Vec::with_capacity(usize::try_from(size).ok()?);
        self.0.as_mut()?.decompress_to_buffer(block, &mut raw).ok()?;
        (raw.len() as u64 == size).then_some(raw)
    }
}

/// Level 3: about a quarter of the text, at hundreds of MB/s.
const LEVEL: i32 = 3;

/// Compresses blocks one after another in one zstd context: a context
/// costs far more to set up (and its tables to clear) than a block of
/// names to compress, and a block comes out the same either way (zstd's
/// output depends on the level and the input only; a test checks it).
struct Compressor(Option<zstd::bulk::Compressor<'static>>);

impl Compressor {
    fn new() -> Compressor {
        Compressor(zstd::bulk::Compressor::new(LEVEL).ok())
    }

    fn compress(&mut self, raw: &[u8]) -> Vec<u8> {
        let compressed = match &mut self.0 {
            Some(c) => c.compress(raw),
            None => zstd::bulk::compress(raw, LEVEL),
        };
        let mut out = compressed.unwrap_or_else(|_| raw.to_vec());
        out.shrink_to_fit();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_back_one_by_one_and_in_runs() {
        let names: Vec<String> = (0..3000).map(|i| format!("济南市第{i}号有限公司")).collect();
        let n = Names::new(names.iter().map(String::as_str));
        assert_eq!(n.len(), 3000);
        for i in [0u32, 1, 1023, 1024, 2999] {
            assert_eq!(n.get(i), names[i as usize]);
        }
        let ids: Vec<u32> = (1000..2100).step_by(3).collect();
        let got = n.many(&ids);
        assert!(ids.iter().zip(&got).all(|(i, g)| *g == names[*i as usize]));
        // Repeated and out of order: every one still named.
        let ids = [5u32, 5, 3, 5, 2000, 4, 2999, 2999];
        assert_eq!(n.many(&ids), ids.map(|i| names[i as usize].clone()));
        assert!(n.heap_bytes() < names.iter().map(String::len).sum::<usize>() / 2, "compressed");
        assert_eq!(Names::new(std::iter::empty()).get(0), "");
        let parallel = Names::from_fn(names.len(), |i| names[i].as_bytes());
        assert_eq!((parallel.blocks.clone(), parallel.len), (n.blocks.clone(), n.len), "same blocks");
        assert_eq!(Names::from_fn(0, |_| b"").len(), 0);
    }

    /// A block comes back in a buffer of its own size, from a context
    /// used for many blocks; a truncated or damaged block that does not
    /// decompress to its recorded size is refused.
    #[test]
    fn blocks_decompress_to_their_own_size() {
        let names: Vec<String> = (0..5000).map(|i| format!("青岛{}商贸有限公司", i * 7)).collect();
        let n = Names::new(names.iter().map(String::as_str));
        let mut d = Decompressor::new();
        for b in 0..n.blocks.len() {
            let raw = d.decompress(&n.blocks[b]).expect("decompresses");
            assert_eq!(raw.capacity(), raw.len(), "block {b}: sized by its frame");
            let fresh = zstd::bulk::decompress(&n.blocks[b], MAX_RAW as usize).expect("decompresses");
            assert_eq!(raw, fresh, "block {b}");
        }
        let mut damaged = n.clone();
        let last = damaged.blocks[1].len() - 1;
        damaged.blocks[1][last] ^= 0xff;
        damaged.blocks[2].truncate(3);
        assert!(damaged.block(1, &mut d).is_err() && damaged.block(2, &mut d).is_err());
        assert_eq!(damaged.block(0, &mut d).expect("intact"), names[..BLOCK]);
        // Every id of a shard, in runs across blocks, on every core.
        let ids: Vec<u32> = (0..5000).collect();
        assert_eq!(n.many(&ids), names);
    }

    #[test]
    fn a_reused_context_compresses_as_a_fresh_one() {
        // Blocks of different sizes and contents, one after another in one
        // context, each the bytes a context of its own makes.
        let mut c = Compressor::new();
        for i in 0..50usize {
            let raw: Vec<u8> = (0..(i * 997) % 60_000).map(|k| (k * (i + 1) % 251) as u8).collect();
            let fresh = zstd::bulk::compress(&raw, LEVEL).expect("compresses");
            assert_eq!(c.compress(&raw), fresh, "block {i}");
        }
    }
}
