//! The pool parallel work runs on, set up once before any.
//!
//! By default it has one worker per core and the calling (main) thread as
//! one more member. The main thread does a run's sequential parts (the
//! loader's builder, each shard's bookkeeping) and starts its parallel
//! parts; as a member it takes its share of the work it starts at once,
//! instead of handing all of it to the pool and sleeping until woken.
//! When it waits outside the pool (the builder waiting for the reader's
//! next batch), a worker per core is still there. Measured at 3M, nine
//! alternating pairs: the run 0.6 s shorter on average (ARCHITECTURE.md,
//! "Stop 54"). Results do not depend on it.
//!
//! With a number of threads asked for, the pool has exactly that many
//! workers and the calling thread stays out of it, as before: the main
//! thread in the pool with a single worker beside it could leave the
//! reader's parsing to a thread that is waiting for the reader.

/// Sets up the global pool: `threads` workers when given, else one per
/// core plus the calling thread. An error when the pool was already set
/// up (or threads could not be started).
pub fn set_up_threads(threads: Option<usize>) -> Result<(), rayon::ThreadPoolBuildError> {
    let builder = rayon::ThreadPoolBuilder::new();
    match threads {
        Some(n) => builder.num_threads(n.max(1)).build_global(),
        None => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            builder.num_threads(cores + 1).use_current_thread().build_global()
        }
    }
}
