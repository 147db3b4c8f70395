//! Sources of chain events: pure iterators of [`SourceEvent`]s; the timely wiring lives in
//! the engine.

pub mod devnet;
pub mod nats;
pub mod relay;
pub mod rollup_devnet;
pub mod rpc;

pub use crate::engine::source::{SourceError, SourceEvent};
