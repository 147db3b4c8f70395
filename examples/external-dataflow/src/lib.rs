//! A dataflow that lives outside chainflow: `full_blocks`, the blocks per chain and UTC hour
//! whose gas used is at least 90% of their gas limit (demand above what EIP-1559 targets).
//!
//! **Output** `full_block_hours` (chain_id, hour): blocks and full blocks of the hour.
//! **Reorgs**: a block of an orphaned branch leaves its hour's counts at the reorg's epoch.

use chainflow::engine::dataflow::{Dataflow, Inputs, Output, OutputDef, OutputSpec, Row};
use serde::{Deserialize, Serialize};

/// One chain's blocks in one UTC hour.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Row)]
#[row(position = time_bucket(hour, 3600))]
pub struct FullHour {
    /// Chain id.
    #[row(key)]
    pub chain_id: u64,
    /// Start of the UTC hour.
    #[row(key, timestamp)]
    pub hour: u64,
    /// Canonical blocks in the hour.
    pub blocks: u64,
    /// Those that used at least 90% of their gas limit.
    pub full_blocks: u64,
}

/// `full_block_hours`.
pub const HOURS: OutputDef<FullHour> = OutputDef::new(
    "full_block_hours",
    "blocks and full blocks per chain and UTC hour",
);

/// The `full_blocks` dataflow.
pub struct FullBlocks;

impl Dataflow for FullBlocks {
    fn name(&self) -> &'static str {
        "full_blocks"
    }
    fn doc(&self) -> &'static str {
        "blocks per chain and UTC hour that used at least 90% of their gas limit"
    }
    fn outputs(&self) -> Vec<OutputSpec> {
        vec![HOURS.spec()]
    }
    fn build<'s>(&self, inputs: &Inputs<'s>) -> Vec<Output<'s>> {
        let hours = inputs
            .blocks()
            .map(|b| {
                let full = u64::from(b.gas_used * 10 >= b.gas_limit * 9);
                ((b.chain_id, b.timestamp - b.timestamp % 3600), full)
            })
            .reduce_named("full_blocks::Hour", |_key, input, output| {
                let blocks: isize = input.iter().map(|(_, n)| *n).sum();
                let full: isize = input
                    .iter()
                    .filter(|(f, _)| **f == 1)
                    .map(|(_, n)| *n)
                    .sum();
                output.push(((blocks as u64, full as u64), 1));
            });
        vec![
            HOURS.mapped(hours, |((chain_id, hour), (blocks, full_blocks))| {
                FullHour {
                    chain_id,
                    hour,
                    blocks,
                    full_blocks,
                }
            }),
        ]
    }
}
