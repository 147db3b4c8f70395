//! NATS JetStream ingress: chain events in, as a source of the engine.
//!
//! - [`wire`]: the chain event on the wire (bincode or JSON, versioned by `Content-Type`).
//! - [`codec`]: the hand-written bincode reader of a block behind `wire`'s fast decode.
//! - [`publish`]: the extractor (`chainflow publish-heads`), resumable from the stream itself.
//! - [`ingress`]: the engine's source: deterministic epochs, acks after commit, dead letters.
//! - [`handoff`]: the bounded queue that hands decoded events to the engine without spinning.
//!
//! Streams, subjects and headers: [`crate::nats`].

pub mod codec;
pub mod handoff;
pub mod ingress;
pub mod publish;
pub mod wire;

use serde::{Deserialize, Serialize};

use crate::nats::{DEADLETTER_STREAM, EVENTS_STREAM, SUBJECT_PREFIX};

fn default_prefix() -> String {
    SUBJECT_PREFIX.to_string()
}

/// NATS ingress settings (`[nats]` in the config; `run --nats URL`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Server URL, `nats://host:4222`.
    pub url: String,
    /// Stream of chain events.
    pub stream: String,
    /// Durable consumer name of the engine.
    pub consumer: String,
    /// First token of the subjects (`chainflow`): `<prefix>.<chain_id>.events`,
    /// `<prefix>.deadletter.events`.
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
    /// Stream of dead letters (created when missing).
    pub deadletter_stream: String,
    /// Age after which the events stream drops messages, in hours (0: never). A restart
    /// replays the stream from its first message, so keep what the widest rollup needs.
    pub max_age_hours: u64,
    /// Window in which JetStream drops a republished message id, in seconds.
    pub duplicate_window_secs: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            stream: EVENTS_STREAM.into(),
            consumer: "chainflow-engine".into(),
            subject_prefix: default_prefix(),
            deadletter_stream: DEADLETTER_STREAM.into(),
            max_age_hours: 0,
            duplicate_window_secs: 120,
        }
    }
}

/// A bare block for unit tests: chain 1, hash from the height and `salt`.
#[cfg(test)]
pub(crate) fn test_block(n: u64, parent: crate::model::B256, salt: u8) -> crate::model::Block {
    crate::model::Block {
        chain_id: 1,
        number: n,
        hash: crate::model::B256::with_last_byte(n as u8 ^ salt),
        parent_hash: parent,
        timestamp: n,
        miner: crate::model::Address::ZERO,
        gas_used: 0,
        gas_limit: 0,
        base_fee_per_gas: 0,
        blob_gas_used: 0,
        excess_blob_gas: 0,
        blob_base_fee: 0,
        transactions: Vec::new(),
        logs: Vec::new(),
    }
}
