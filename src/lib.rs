//! credo: a rules engine for differentiated credit supervision.
//!
//! Regulators write Rhai rules that put every market entity into one of four
//! credit tiers and derive its inspection probability, tolerance period,
//! credit-repair state and blacklist status; credo then makes reproducible
//! "double random" inspection draws from those results.
//!
//! Layers depend one way: [`model`] (plain data) ← engine, draw, propagation
//! ← [`data`] (polars) and store (SQLite) ← api and [`cli`]; [`trust`]
//! (signatures) sits beside [`model`], below everything that signs.
//! See ARCHITECTURE.md for the code map and each module's invariants.

#![forbid(unsafe_code)]
// Errors carry positions, snippets and details for the user; they are rare,
// so their size on the error path matters less than keeping them whole.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod classify;
pub mod cli;
pub mod data;
pub mod draw;
pub mod engine;
pub mod i18n;
pub mod model;
pub mod ops;
pub mod plan;
pub mod propagate;
pub mod ruletest;
pub mod snapshot;
pub mod store;
pub mod trust;
pub mod web;

/// Test fixtures for unit tests of lower layers that need a realistic
/// snapshot: made by `data`'s generator and loader, as a user's dataset
/// is. Test builds only; no module uses it outside its tests (see the
/// layering in ARCHITECTURE.md).
#[cfg(test)]
pub(crate) mod fixtures {
    /// A generated dataset of `n` entities (CSV, seed `seed`), loaded.
    pub(crate) fn generated(n: u64, seed: u64) -> (tempfile::TempDir, crate::snapshot::Snapshot) {
        use crate::data::generate::{GenerateOptions, generate};
        let dir = tempfile::tempdir().expect("temp dir");
        let opts = GenerateOptions {
            entities: n,
            seed,
            out: dir.path().join("d"),
            format: crate::data::Format::Csv,
            until: GenerateOptions::default_until(),
            chunk: 1000,
        };
        generate(&opts, &|_| {}).expect("generated");
        let loaded = crate::data::load(&opts.out).expect("loads");
        (dir, loaded.snapshot)
    }
}
