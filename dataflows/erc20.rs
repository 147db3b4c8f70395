//! `erc20`: ERC-20 transfer volume per token per UTC hour (opt-in).
//!
//! **Input**: canonical logs whose topic0 is `Transfer(address,address,uint256)` with three
//! topics (ERC-721 transfers share the topic0 but index a fourth), of any contract.
//!
//! **Outputs**:
//! - `erc20_hours` (chain_id, token, hour): transfers, exact `uint256` volume, distinct
//!   senders and receivers of the token in the hour.
//! - `erc20_errors` (chain_id, block_number, log_index): transfer logs that do not decode.
//!
//! **Reorgs**: a transfer of an orphaned block leaves its hour at the epoch of the reorg
//! (the hour is recounted from the transfers left), and its error row, if any, goes too.

use alloy_sol_types::sol;
use serde::{Deserialize, Serialize};

use crate::engine::dataflow::{Dataflow, Inputs, Output, OutputDef, OutputSpec, Row};
use crate::engine::decode::{LogError, decode_logs};
use crate::model::{Address, U256};

sol! {
    /// ERC-20 `Transfer`.
    event Transfer(address indexed from, address indexed to, uint256 value);
}

/// One token's transfers in one UTC hour.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Row)]
#[row(position = time_bucket(hour, 3600))]
pub struct TokenHour {
    /// Chain id.
    #[row(key)]
    pub chain_id: u64,
    /// The token contract.
    #[row(key)]
    pub token: Address,
    /// Start of the UTC hour.
    #[row(key, timestamp)]
    pub hour: u64,
    /// Transfers.
    pub transfers: u64,
    /// Sum of the amounts, exact (saturating at 2^256 - 1, which only a broken token reaches).
    pub volume: U256,
    /// Distinct senders.
    pub senders: u64,
    /// Distinct receivers.
    pub receivers: u64,
}

/// `erc20_hours`.
pub const HOURS: OutputDef<TokenHour> = OutputDef::new(
    "erc20_hours",
    "one row per token and UTC hour with transfers",
);
/// `erc20_errors`.
pub const ERRORS: OutputDef<LogError> = OutputDef::new(
    "erc20_errors",
    "one row per transfer log that does not decode",
);

/// The `erc20` dataflow.
pub struct Erc20;

impl Dataflow for Erc20 {
    fn name(&self) -> &'static str {
        "erc20"
    }
    fn doc(&self) -> &'static str {
        "ERC-20 transfers per token per UTC hour: count, exact volume, distinct senders and receivers"
    }
    fn enabled_by_default(&self) -> bool {
        false
    }
    fn outputs(&self) -> Vec<OutputSpec> {
        vec![HOURS.spec(), ERRORS.spec()]
    }
    fn build<'s>(&self, inputs: &Inputs<'s>) -> Vec<Output<'s>> {
        let logs = inputs.logs().filter(|(_, log)| log.topics.len() == 3);
        let transfers = decode_logs(logs, &[], |ctx, log, t: Transfer| {
            let hour = ctx.timestamp - ctx.timestamp % 3600;
            ((ctx.chain_id, log.address, hour), (t.from, t.to, t.value))
        });
        let hours = transfers
            .events
            .reduce_named("erc20::Hour", |_key, input, output| {
                let (mut n, mut volume) = (0u64, U256::ZERO);
                let (mut senders, mut receivers) = (Vec::new(), Vec::new());
                for ((from, to, value), count) in input {
                    n += *count as u64;
                    volume = volume.saturating_add(value.saturating_mul(U256::from(*count as u64)));
                    senders.push(*from);
                    receivers.push(*to);
                }
                senders.sort_unstable();
                senders.dedup();
                receivers.sort_unstable();
                receivers.dedup();
                output.push(((n, volume, senders.len() as u64, receivers.len() as u64), 1));
            });
        let rows = hours.map(
            |((chain_id, token, hour), (transfers, volume, senders, receivers))| TokenHour {
                chain_id,
                token,
                hour,
                transfers,
                volume,
                senders,
                receivers,
            },
        );
        vec![HOURS.rows(rows), ERRORS.rows(transfers.errors)]
    }
}
