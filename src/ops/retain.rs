//! Freed memory kept for reuse while a run is well under its estimate.
//!
//! A run frees and takes again much of its memory: the load's decoding
//! buffers, each shard's facts, states and results. mimalloc hands freed
//! pages back to the system a second after they are freed (its purge
//! delay), and the next allocation then faults fresh pages in, each
//! zeroed by the kernel: at 3M about 900 huge pages (1.8 GB) for a peak
//! of 1.06 GB. Kept instead, they are reused: measured at 3M (three
//! alternating pairs), runs 14.57–15.25 s against 15.93–16.63 s, system
//! time 1.2–1.8 s against 1.9–2.5 s, for a peak 0.1 GB higher
//! (ARCHITECTURE.md, "Stop 55").
//!
//! Kept without a bound, freed memory would raise the province's peak
//! over its budget (15M: 4.24 GB against 3.78 GB, 4,138,700 against
//! 3,693,660 KiB). So a run keeps freed
//! memory only while the process's resident memory is under
//! [`KEEP_BELOW`] of the run's estimated peak (`ops::memory`); the first
//! time it reaches that, the allocator's own delay comes back and what
//! waits is handed back at once, for the rest of the run. A run whose
//! estimate is far above its need (3M: 1.41 GB estimated, 1.06 GB used
//! without keeping, 1.17 GB with) keeps freed memory throughout; the
//! province's (15M: 4.06 GB estimated, 3.78 GB used) keeps it only until
//! it nears its peak.
//!
//! The allocator is the binary's (`src/allocator.rs`, the one place with
//! foreign calls), registered with [`use_allocator`]; without one (tests,
//! other embedders) a run keeps nothing. One run at a time keeps memory
//! (the options are the process's); a second run at once runs as before.
//!
//! A server also asks it for small pages ([`small_pages`]).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What a run may ask of the process's allocator.
pub trait Allocator: Send + Sync {
    /// Freed memory goes back to the system `ms` milliseconds after it is
    /// freed.
    fn set_purge_delay(&self, ms: i64);
    /// The delay the process started with.
    fn purge_delay(&self) -> i64;
    /// Hands back at once every freed page waiting for its delay.
    fn purge_now(&self);
    /// From now on the process's memory is faulted in small pages, never
    /// as transparent huge pages: `false` where that is not offered.
    fn small_pages(&self) -> bool {
        false
    }
}

static ALLOCATOR: OnceLock<&'static dyn Allocator> = OnceLock::new();
/// A run is keeping memory now.
static KEEPING: AtomicBool = AtomicBool::new(false);

/// Registers the process's allocator (the binary does, once, at start).
pub fn use_allocator(a: &'static dyn Allocator) {
    let _ = ALLOCATOR.set(a);
}

/// A server's memory in small pages from now on (see
/// [`Allocator::small_pages`]); `false` without the binary's allocator or
/// where the system refuses.
///
/// An idle server's memory grows in its first requests (buffers,
/// caches, the allocator's pages), and a huge page taken then costs its
/// request the zeroing of 2 MB, several milliseconds on a virtual machine
/// whose host took the memory back. Measured at 15M
/// (`benches/entity_lookup.py`, `credo serve` restarted, 200 lookups a
/// round, three alternating pairs): the first round's p99 2.01–2.30 ms
/// against 6.10–11.17 ms with huge pages, the third 1.6–2.1 ms both. A
/// run the server starts takes small pages too: at 15M 66.0 and 67.5 s at
/// 3,839,852 and 3,709,052 KiB against 60.9 and 66.9 s at 3,883,240 and
/// 3,854,500 KiB (ARCHITECTURE.md, "Stop 57").
pub fn small_pages() -> bool {
    ALLOCATOR.get().is_some_and(|a| a.small_pages())
}

/// Freed memory waits this long before it goes back to the system while a
/// run keeps it: an hour, longer than any run, so what a run frees waits
/// for the bound or the run's end. Finite, not mimalloc's "never" (−1):
/// only pages scheduled to be handed back can be handed back at once
/// later. Measured at 3M (huge-page warm start): one run each, 3 s 15.55
/// s, 10 s 14.71 s, 30 s 15.48 s, never 14.61–15.06 s, the allocator's
/// 1 s 16.50–17.24 s; then an hour against 10 s, three alternating pairs,
/// 14.86, 15.60, 14.65 s against 17.93, 15.21, 14.95 s, system time
/// 0.70–0.79 s against 0.94–1.21 s, 524–535 huge-page faults against
/// 574–586.
pub const KEEP_MS: i64 = 3_600_000;

/// The share of the run's estimated peak under which freed memory is kept.
pub const KEEP_BELOW: f64 = 0.9;

/// How often the watcher reads the process's resident memory.
const WATCH_EVERY: Duration = Duration::from_millis(20);

/// Kept while a run keeps freed memory; dropping it ends the keeping and
/// hands back what waits.
pub struct Keeping {
    watcher: Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl Keeping {
    /// Keeps freed memory while the process's resident memory is under
    /// [`KEEP_BELOW`] of `estimated_peak` bytes.
    pub fn begin(estimated_peak: u64) -> Keeping {
        match ALLOCATOR.get() {
            // Unless the user chose the delay (mimalloc's name for it, or
            // its older one).
            Some(&a)
                if ["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"].iter().all(|v| std::env::var_os(v).is_none()) =>
            {
                Keeping::with(a, &KEEPING, (estimated_peak as f64 * KEEP_BELOW) as u64)
            }
            _ => Keeping { watcher: None },
        }
    }

    /// Keeps memory freed through `a` while resident memory is under
    /// `below` bytes, unless `keeping` says a run already does.
    fn with(a: &'static dyn Allocator, keeping: &'static AtomicBool, below: u64) -> Keeping {
        let inert = Keeping { watcher: None };
        if resident().is_none_or(|r| r >= below) || keeping.swap(true, Ordering::AcqRel) {
            return inert;
        }
        let normal = a.purge_delay();
        a.set_purge_delay(KEEP_MS);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new().name("credo-memory".into()).spawn(move || {
            let started = std::time::Instant::now();
            // Until the run ends (a message or a dropped sender).
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(WATCH_EVERY) {
                if resident().is_none_or(|r| r >= below) {
                    a.set_purge_delay(normal);
                    a.purge_now();
                    tracing::debug!(below, after = ?started.elapsed(), "freed memory no longer kept");
                    // Waits for the run's end.
                    let _ = stopped.recv();
                    break;
                }
            }
            // The delay the process started with, and nothing kept for an
            // idle server.
            a.set_purge_delay(normal);
            a.purge_now();
            keeping.store(false, Ordering::Release);
        });
        match spawned {
            Ok(handle) => {
                tracing::debug!(below, "freed memory kept for reuse");
                Keeping { watcher: Some((stop, handle)) }
            }
            Err(_) => {
                a.set_purge_delay(normal);
                keeping.store(false, Ordering::Release);
                inert
            }
        }
    }

    /// Is freed memory being kept (or was it, until the bound)?
    pub fn active(&self) -> bool {
        self.watcher.is_some()
    }
}

impl Drop for Keeping {
    fn drop(&mut self) {
        let Some((stop, handle)) = self.watcher.take() else { return };
        drop(stop);
        let _ = handle.join();
    }
}

/// The process's resident memory in bytes (`VmRSS`).
pub fn resident() -> Option<u64> {
    super::memory::kib_field(&std::fs::read_to_string("/proc/self/status").ok()?, "VmRSS:")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// An allocator that records what a run asked of it.
    struct Recorder {
        delay: Mutex<i64>,
        purges: Mutex<usize>,
    }

    impl Allocator for Recorder {
        fn set_purge_delay(&self, ms: i64) {
            *self.delay.lock().unwrap() = ms;
        }
        fn purge_delay(&self) -> i64 {
            *self.delay.lock().unwrap()
        }
        fn purge_now(&self) {
            *self.purges.lock().unwrap() += 1;
        }
    }

    fn recorder() -> &'static Recorder {
        Box::leak(Box::new(Recorder { delay: Mutex::new(1000), purges: Mutex::new(0) }))
    }

    #[test]
    fn a_run_keeps_freed_memory_and_ends_as_it_began() {
        static FLAG: AtomicBool = AtomicBool::new(false);
        let a = recorder();
        let now = resident().expect("VmRSS");
        let k = Keeping::with(a, &FLAG, now + (1 << 40));
        assert!(k.active());
        assert_eq!(a.purge_delay(), KEEP_MS);
        // One run at a time keeps memory.
        assert!(!Keeping::with(a, &FLAG, now + (1 << 40)).active());
        drop(k);
        assert_eq!((a.purge_delay(), *a.purges.lock().unwrap()), (1000, 1));
        assert!(Keeping::with(a, &FLAG, now + (1 << 40)).active(), "free again after the run");
    }

    #[test]
    fn a_run_already_over_its_bound_keeps_nothing() {
        static FLAG: AtomicBool = AtomicBool::new(false);
        let a = recorder();
        let k = Keeping::with(a, &FLAG, 1);
        assert!(!k.active());
        drop(k);
        assert_eq!((a.purge_delay(), *a.purges.lock().unwrap()), (1000, 0));
        assert!(!FLAG.load(Ordering::Acquire));
    }

    #[test]
    fn reaching_the_bound_gives_back_the_allocators_delay_at_once() {
        static FLAG: AtomicBool = AtomicBool::new(false);
        let a = recorder();
        let now = resident().expect("VmRSS");
        let k = Keeping::with(a, &FLAG, now + 50_000_000);
        assert!(k.active());
        // 300 MB touched: over the bound whatever other tests free meanwhile.
        let big = std::hint::black_box(vec![1u8; 300_000_000]);
        let t = std::time::Instant::now();
        while *a.purges.lock().unwrap() == 0 && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!((a.purge_delay(), *a.purges.lock().unwrap()), (1000, 1), "while the run goes on");
        assert!(FLAG.load(Ordering::Acquire), "still the run's until it ends");
        drop(big);
        drop(k);
        assert_eq!((a.purge_delay(), *a.purges.lock().unwrap()), (1000, 2));
        assert!(!FLAG.load(Ordering::Acquire));
    }
}
