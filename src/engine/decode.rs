//! Decoding contract logs in a dataflow: logs are routed by topic0 (and, when given, the
//! emitting contract) to an alloy `sol!` event; a routed log that does not decode becomes a
//! row of an errors output instead of a panic or a silent drop.
//!
//! ```text
//!  (TxContext, Log) ─► topic0 == E::SIGNATURE_HASH && address in contracts?
//!        │ no: not this event (dropped)
//!        ▼ yes: E::decode_raw_log(topics, data)
//!     Ok(event) ─► f(ctx, log, event) ─► Decoded::events
//!     Err(why)  ─► LogError row      ─► Decoded::errors  (an output of its own: LOG_ERRORS)
//! ```
//!
//! Both collections follow the canonical chain like any other: a log of an orphaned block
//! leaves them at the epoch of the reorg.

use alloy_sol_types::SolEvent;
use serde::{Deserialize, Serialize};

use super::dataflow::{Collection, Row, TxContext};
use crate::model::{Address, B256, Log};

/// A routed log that does not decode as its event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = block(block_number))]
pub struct LogError {
    /// Chain id.
    #[row(key)]
    pub chain_id: u64,
    /// Block number.
    #[row(key)]
    pub block_number: u64,
    /// Index of the log in the block.
    #[row(key)]
    pub log_index: u64,
    /// Hash of the emitting transaction.
    pub tx_hash: B256,
    /// Emitting contract.
    pub address: Address,
    /// The event it was routed to (its Solidity signature).
    pub event: String,
    /// Why it does not decode.
    pub reason: String,
}

/// The decoded events of one kind and the logs that did not decode.
pub struct Decoded<'s, T: 'static> {
    /// What `f` made of each decoded event.
    pub events: Collection<'s, T>,
    /// The routed logs that do not decode.
    pub errors: Collection<'s, LogError>,
}

/// Decodes the logs of `logs` whose topic0 is event `E`'s (and, unless `contracts` is empty,
/// whose emitting contract is one of `contracts`) and maps each event with `f`.
///
/// `E` is an alloy `sol!` event; it need not be orderable or serializable, since only what
/// `f` makes of it enters the dataflow.
pub fn decode_logs<'s, E, T, F>(
    logs: Collection<'s, (TxContext, Log)>,
    contracts: &[Address],
    f: F,
) -> Decoded<'s, T>
where
    E: SolEvent + 'static,
    T: Clone + 'static,
    F: Fn(&TxContext, &Log, E) -> T + 'static,
{
    let contracts = contracts.to_vec();
    let routed = logs.flat_map(move |(ctx, log)| {
        let ours = log.topics.first() == Some(&E::SIGNATURE_HASH)
            && (contracts.is_empty() || contracts.contains(&log.address));
        ours.then(
            || match E::decode_raw_log(log.topics.iter().copied(), &log.data) {
                Ok(event) => Ok(f(&ctx, &log, event)),
                Err(e) => Err(Box::new(LogError {
                    chain_id: ctx.chain_id,
                    block_number: ctx.block_number,
                    log_index: u64::from(log.log_index),
                    tx_hash: log.tx_hash,
                    address: log.address,
                    event: E::SIGNATURE.to_string(),
                    reason: e.to_string(),
                })),
            },
        )
    });
    Decoded {
        events: routed.clone().flat_map(Result::ok),
        errors: routed.flat_map(|r| r.err().map(|e| *e)),
    }
}
