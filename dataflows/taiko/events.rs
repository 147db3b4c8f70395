//! The Taiko protocol's events, as the taiko dataflows decode them: see
//! [`crate::abi::taiko`], where they live so that the rollup devnet can emit them too.

pub use crate::abi::taiko::*;
