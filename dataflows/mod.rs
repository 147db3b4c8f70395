//! The analysts' dataflows and their explicit registry.
//!
//! Each module is one dataflow: pure functions from input collections to output
//! collections, no async, no clock, no I/O and no reorg logic. To add one, write
//! `dataflows/<name>.rs` implementing [`Dataflow`](crate::engine::dataflow::Dataflow) and add
//! it to [`registry`]. See `dataflows/README.md`.

pub mod gas_fees;
pub mod taiko;

use crate::engine::dataflow::Dataflow;

/// Every dataflow chainflow knows, in the order `chainflow list` shows them (those with
/// settings, such as `taiko`, with their defaults).
pub fn registry() -> Vec<&'static dyn Dataflow> {
    vec![&gas_fees::GasFees, &*taiko::DEFAULT]
}

/// The dataflow named `name` with the settings of `config` (`[taiko]` for `taiko`).
pub fn configured(name: &str, config: &crate::config::Config) -> Option<&'static dyn Dataflow> {
    match name {
        // One instance per run: leaked so the engine can hold it for the run's lifetime.
        "taiko" => Some(Box::leak(Box::new(taiko::Taiko::new(config.taiko.clone())))),
        _ => find(name),
    }
}

/// The registered dataflow named `name`.
pub fn find(name: &str) -> Option<&'static dyn Dataflow> {
    registry().into_iter().find(|d| d.name() == name)
}
