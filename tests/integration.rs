//! End-to-end tests at credo's boundaries: the CLI binary and (later) the
//! HTTP API. One test binary with modules builds faster than many.

mod api;
mod api_i18n;
mod capacity;
mod cli_classify;
mod cli_datasets;
mod cli_draw;
mod cli_entity;
mod cli_i18n;
mod cli_trust;
mod commitments;
mod common;

mod draw;
mod entity_runs;
mod objections;
mod propagation;
mod rule_versions;
mod security;
#[cfg(target_os = "linux")]
mod serve;
mod web;
