//! chainflow: stream processing for blockchain data on timely and differential dataflow.
//!
//! Chain events enter a timely dataflow in which **a reorg is a retraction**: the orphaned
//! blocks leave the input collection with diff -1 and the new branch enters with +1 at one
//! epoch, so every derived output is exactly right after any reorg. Outputs leave as
//! consolidated `(row, epoch, diff)` updates, released to sinks once the frontier has passed
//! their epoch.
//!
//! ```text
//!  source (devnet | rpc | nats | replay) ─► engine::run ─► dataflows/*.rs ─► sinks
//! ```
//!
//! - [`model`]: blocks, transactions, logs, chain events, epochs; fee recurrences.
//! - [`abi`]: protocol ABIs shared by the sources that emit events and the dataflows that decode them.
//! - [`engine`]: timely workers, inputs, release of closed epochs, the [`engine::dataflow`] API.
//! - [`dataflows`]: the analysts' modules and their registry.
//! - [`sources`]: the devnet generator and the RPC conversions.
//! - [`sinks`]: console, JSONL and in-memory sinks.
//! - [`nats`]: JetStream ingress (chain events) and egress (output changes).
//! - [`config`]: TOML with environment overrides.
//! - [`testing`]: the oracle check of a dataflow, for any crate's tests.

// `#[derive(Row)]` names `::chainflow`, here as in crates that depend on chainflow.
extern crate self as chainflow;

pub mod abi;
pub mod cli;
pub mod config;
#[path = "../dataflows/mod.rs"]
pub mod dataflows;
pub mod engine;
pub mod model;
pub mod nats;

pub mod sinks;
pub mod sources;
pub mod telemetry;
pub mod testing;
