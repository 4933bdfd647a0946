//! The credo-draw-v1 algorithm: golden vectors, properties, bundles and the
//! independent Python verifier.

mod bundle;
mod fixtures;
mod golden;
mod properties;
mod python_verifier;
