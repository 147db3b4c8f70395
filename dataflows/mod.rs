//! The analysts' dataflows and their explicit registry.
//!
//! Each module is one dataflow: pure functions from input collections to output
//! collections, no async, no clock, no I/O and no reorg logic. To add one, write
//! `dataflows/<name>.rs` implementing [`Dataflow`](crate::engine::dataflow::Dataflow) and add
//! it to [`registry`]. See `dataflows/README.md`.

pub mod gas_fees;
pub mod taiko;

use crate::engine::dataflow::{Dataflow, Settings, SettingsError};

/// Every dataflow chainflow knows, in the order `chainflow list` shows them (those with
/// settings, such as `taiko`, with their defaults).
pub fn registry() -> Vec<&'static dyn Dataflow> {
    vec![&gas_fees::GasFees, &*taiko::DEFAULT]
}

/// The registered dataflow named `name` with its `settings` (`[dataflows.<name>]`); `None`
/// when no dataflow has that name.
pub fn configured(
    name: &str,
    settings: &Settings,
) -> Option<Result<&'static dyn Dataflow, SettingsError>> {
    let registered = find(name)?;
    Some(
        registered
            .configure(settings)
            .map(|configured| match configured {
                // One instance per run: leaked so the engine can hold it for the run's lifetime.
                Some(own) => &*Box::leak(own),
                None => registered,
            }),
    )
}

/// The registered dataflow named `name`.
pub fn find(name: &str) -> Option<&'static dyn Dataflow> {
    registry().into_iter().find(|d| d.name() == name)
}
