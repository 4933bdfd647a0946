//! The binary's allocator, mimalloc, and the few of its options a run may
//! set (`ops::retain`), and a server's page size. Included by `main.rs`
//! and by the classify benchmark (which runs a classification as the
//! binary does); the library has no foreign calls
//! (`#![forbid(unsafe_code)]`).

use std::ffi::{c_int, c_long};

// Parsing, rule evaluation and result building allocate many small values;
// mimalloc handles that far better than the system allocator (measured:
// see ARCHITECTURE.md, "Performance").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` of mimalloc v3's `mi_option_t` (`mimalloc.h`):
/// the sixteenth option, counted from zero.
const PURGE_DELAY: c_int = 15;

/// `PR_SET_THP_DISABLE` of Linux's `prctl` (`linux/prctl.h`).
#[cfg(target_os = "linux")]
const PR_SET_THP_DISABLE: c_int = 41;

unsafe extern "C" {
    fn mi_option_get(option: c_int) -> c_long;
    fn mi_option_set(option: c_int, value: c_long);
    fn mi_collect(force: bool);
    #[cfg(target_os = "linux")]
    fn prctl(
        option: c_int,
        arg2: std::ffi::c_ulong,
        arg3: std::ffi::c_ulong,
        arg4: std::ffi::c_ulong,
        arg5: std::ffi::c_ulong,
    ) -> c_int;
}

struct Mimalloc;

impl credo::ops::retain::Allocator for Mimalloc {
    fn set_purge_delay(&self, ms: i64) {
        // SAFETY: setting an option is a store to mimalloc's option table,
        // safe from any thread at any time.
        unsafe { mi_option_set(PURGE_DELAY, ms as c_long) }
    }

    // `c_long` is `i64` here, narrower on other targets.
    #[allow(clippy::useless_conversion)]
    fn purge_delay(&self) -> i64 {
        // SAFETY: a read of mimalloc's option table.
        i64::from(unsafe { mi_option_get(PURGE_DELAY) })
    }

    fn purge_now(&self) {
        // SAFETY: collects this thread's heap and purges the arenas' freed
        // pages; safe from any thread.
        unsafe { mi_collect(true) }
    }

    #[cfg(target_os = "linux")]
    fn small_pages(&self) -> bool {
        // SAFETY: sets a flag of this process (no memory is passed); the
        // kernel then faults no transparent huge page for it, mimalloc's
        // regions included.
        unsafe { prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0 }
    }
}

/// Registers mimalloc's options for runs to use.
pub fn register() {
    credo::ops::retain::use_allocator(&Mimalloc);
}
