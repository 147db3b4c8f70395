//! What every bench shares: environment knobs and a sink that drops everything. Included by
//! each bench with `#[path = "common/mod.rs"] mod common;` (each bench is its own crate, and
//! not every bench uses every piece).
#![allow(dead_code)]

use chainflow::sinks::{OutputBatch, Sink};

/// Where the services listen (shared with the tests).
#[path = "../../tests/it/support/services.rs"]
pub mod services;

/// The binary's allocator (see `src/main.rs`), so in-process runs measure what it does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The unsigned integer in environment variable `name`, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Drops every batch.
pub struct NullSink;

impl Sink for NullSink {
    fn name(&self) -> &str {
        "null"
    }
    fn commit(&mut self, _batch: &OutputBatch) -> chainflow::sinks::Result<()> {
        Ok(())
    }
}
