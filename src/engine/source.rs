//! The contract of sources: what the engine consumes.
//!
//! A source is an iterator of `Result<SourceEvent, SourceError>`: chain events with what the
//! source knows about finality and catching up. Sources live in `crate::sources`; they
//! depend on this module, never the reverse.

use crate::model::{B256, ChainEvent, ChainId, Epoch};

/// A chain event with what the source knows about finality when it emitted it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceEvent {
    /// The change of the canonical chain.
    pub event: ChainEvent,
    /// The finalized height of the event's chain, when known.
    pub finalized: Option<(ChainId, u64)>,
    /// Whether the source has caught up once this event is applied: every chain it follows
    /// has been read up to the head it found at start (the end of a backfill), and every
    /// later event is live. Sources that do not backfill (the devnet) say `true` throughout.
    /// A restart reconciles the sinks at the first epoch that has it (see
    /// `crate::sinks::reconcile`).
    pub caught_up: bool,
    /// The epoch the event must be applied at, for sources whose epochs are part of their
    /// data (NATS ingress: the stream sequence, so a replay reproduces them). `None`: the
    /// engine numbers epochs itself.
    pub epoch: Option<Epoch>,
}

/// Errors of a source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// A node's answer could not be turned into the model.
    #[error("invalid {what} from chain {chain_id}: {reason}")]
    Invalid {
        /// Chain the answer came from.
        chain_id: u64,
        /// What was being decoded (`block 0x…`, `receipt 0x…`).
        what: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The receipts handed with a block do not belong to its transactions: their count differs
    /// or a receipt names another transaction than the one at its position.
    #[error("receipts do not match block {number} ({hash}) of chain {chain_id}: {reason}")]
    ReceiptMismatch {
        /// Chain the block belongs to.
        chain_id: u64,
        /// Height of the block.
        number: u64,
        /// Hash of the block.
        hash: B256,
        /// Transaction whose receipt is wrong, `None` when the counts differ.
        tx: Option<B256>,
        /// What does not match.
        reason: String,
    },
    /// A reorg reaches below the window or below finality.
    #[error("deep reorg: {reason}")]
    DeepReorg {
        /// Chain that reorged.
        chain_id: u64,
        /// Depth, hashes and limits.
        reason: String,
    },
    /// A node request failed.
    #[error("rpc {method} to {url} for chain {chain_id} failed: {reason}")]
    Rpc {
        /// Chain the node serves.
        chain_id: u64,
        /// Node URL (without credentials).
        url: String,
        /// JSON-RPC method.
        method: String,
        /// What went wrong.
        reason: String,
        /// Whether a retry may succeed.
        retryable: bool,
    },
    /// The relay of chain events between the processes of a cluster failed (see
    /// `crate::sources::relay`).
    #[error("relay of chain events between processes: {reason}")]
    Relay {
        /// What went wrong.
        reason: String,
    },
}

impl SourceError {
    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SourceError::Rpc {
                retryable: true,
                ..
            }
        )
    }
}
