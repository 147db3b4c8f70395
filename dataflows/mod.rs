//! The analysts' dataflows and their explicit registry.
//!
//! Each module is one dataflow: pure functions from input collections to output
//! collections, no async, no clock, no I/O and no reorg logic. To add one, write
//! `dataflows/<name>.rs` implementing [`Dataflow`](crate::engine::dataflow::Dataflow) and add
//! it to [`registry`]. See `dataflows/README.md`. A crate outside chainflow adds its own
//! with [`crate::cli::main_with`], which puts them after these ([`extend`]).

pub mod erc20;
pub mod gas_fees;
pub mod taiko;

use crate::engine::dataflow::{Dataflow, Settings, SettingsError};

/// Every dataflow chainflow knows, in the order `chainflow list` shows them (those with
/// settings, such as `taiko`, with their defaults), then those of [`extend`].
pub fn registry() -> Vec<&'static dyn Dataflow> {
    let mut all: Vec<&'static dyn Dataflow> =
        vec![&gas_fees::GasFees, &*taiko::DEFAULT, &erc20::Erc20];
    all.extend(EXTRA.get().into_iter().flatten().copied());
    all
}

/// Dataflows of the program chainflow runs in (see [`crate::cli::main_with`]).
static EXTRA: std::sync::OnceLock<Vec<&'static dyn Dataflow>> = std::sync::OnceLock::new();

/// Adds `dataflows` to the [`registry`], once per process, before any command runs; an
/// error names a dataflow whose name is taken or a second call.
pub fn extend(dataflows: Vec<&'static dyn Dataflow>) -> Result<(), String> {
    let builtin = registry();
    for (i, df) in dataflows.iter().enumerate() {
        let name = df.name();
        if builtin.iter().any(|b| b.name() == name)
            || dataflows[..i].iter().any(|d| d.name() == name)
        {
            return Err(format!("a dataflow named '{name}' is already registered"));
        }
    }
    EXTRA
        .set(dataflows)
        .map_err(|_| "the registry was already extended".to_string())
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
