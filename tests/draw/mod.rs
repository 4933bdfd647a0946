//! The credo-draw-v1 and v2 algorithms: golden vectors, properties,
//! bundles, beacon binding and signatures, and the independent Python
//! verifier.

mod bundle;
mod fixtures;
mod golden;
mod golden_v2;
mod properties;
mod python_verifier;
mod trust;
