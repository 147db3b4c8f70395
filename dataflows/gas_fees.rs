//! `gas_fees`: gas and fee metrics per block and per UTC minute.
//!
//! **Input**: canonical blocks with their transactions (receipt fields: gas used, effective
//! gas price, blob count).
//!
//! **Outputs**
//! - `gas_fees_blocks`, key `(chain_id, block_number)`: one row per canonical block.
//! - `gas_fees_minutes`, key `(chain_id, minute)`: one row per chain and UTC minute with at
//!   least one canonical block.
//!
//! **Definitions**: the effective tip of a transaction is `effective_gas_price -
//! base_fee_per_gas` (never negative); `priority_fee_sum` is the sum over transactions of
//! effective tip times gas used, in wei; p50/p90 are nearest-rank percentiles of the
//! effective tips of the block's (or minute's) transactions, unweighted, 0 when there are
//! none; `base_fee_avg` is the floor of the mean over the minute's blocks. All wei amounts
//! are exact `u128`.
//!
//! **Reorgs**: an orphaned block leaves with diff -1, so its `gas_fees_blocks` row is
//! deleted (or changed, when the new branch has a block at the same height) and every minute
//! it counted in is recomputed without it, at the same epoch as the new branch enters.
//!
//! **State**: each block is first reduced to a [`BlockSummary`] (tips as a run-length list);
//! only the per-minute reduce keeps state, one summary per canonical block.
//!
//! ```text
//! blocks ─map(summarize)─► summaries ─┬─map──────────────────────────────► gas_fees_blocks
//!                                     └─key by (chain, minute)─reduce────► gas_fees_minutes
//!                                        "gas_fees::PerMinute"
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::dataflow::{
    Column, ColumnType as T, Dataflow, Inputs, Output, OutputSpec, Position, Row, Value,
};
use crate::model::fees::{percentile, percentile_runs};
use crate::model::{B256, Block, Wei};

/// The `gas_fees` dataflow.
pub struct GasFees;

/// Name of the per-block output.
pub const BLOCKS: &str = "gas_fees_blocks";
/// Name of the per-minute output.
pub const MINUTES: &str = "gas_fees_minutes";

impl Dataflow for GasFees {
    fn name(&self) -> &'static str {
        "gas_fees"
    }

    fn doc(&self) -> &'static str {
        "gas, base fee, priority fee and blob metrics per block and per UTC minute"
    }

    fn outputs(&self) -> Vec<OutputSpec> {
        vec![
            OutputSpec::of::<BlockRow>(BLOCKS, "one row per canonical block"),
            OutputSpec::of::<MinuteRow>(MINUTES, "one row per chain and UTC minute"),
        ]
    }

    fn build<'s>(&self, inputs: &Inputs<'s>) -> Vec<Output<'s>> {
        let specs = self.outputs();
        let summaries = inputs.blocks().map(|b| BlockSummary::of(&b));
        let blocks = summaries.clone().map(|s| s.row());
        let minutes = summaries
            .map(|s| ((s.chain_id, minute_of(s.timestamp)), s))
            .reduce_named(
                "gas_fees::PerMinute",
                |&(chain_id, minute), input, output| {
                    output.push((MinuteRow::aggregate(chain_id, minute, input), 1));
                },
            )
            .map(|(_key, row)| row);
        vec![
            Output::new(specs[0], blocks),
            Output::new(specs[1], minutes),
        ]
    }
}

/// Start of the UTC minute containing `timestamp` (unix seconds).
pub fn minute_of(timestamp: u64) -> u64 {
    timestamp - timestamp % 60
}

/// A block reduced to what the metrics need; tips are kept as an ascending run-length list.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BlockSummary {
    /// Chain id.
    pub chain_id: u64,
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Parent hash.
    pub parent_hash: B256,
    /// Timestamp (unix seconds).
    pub timestamp: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Base fee per gas.
    pub base_fee_per_gas: Wei,
    /// Transactions.
    pub tx_count: u64,
    /// Sum of effective tip times gas used.
    pub priority_fee_sum: Wei,
    /// Effective tips as ascending `(tip, count)` runs, shared: the per-minute state keeps
    /// one summary per block and copies it on every merge, so a clone must be cheap.
    pub tips: Arc<Vec<(Wei, u64)>>,
    /// Blobs carried.
    pub blob_count: u64,
    /// Blob gas used.
    pub blob_gas_used: u64,
    /// Excess blob gas.
    pub excess_blob_gas: u64,
    /// Blob base fee.
    pub blob_base_fee: Wei,
}

impl BlockSummary {
    /// Summarizes `block`.
    pub fn of(block: &Block) -> Self {
        let base = block.base_fee_per_gas;
        let mut tips: Vec<Wei> = Vec::with_capacity(block.transactions.len());
        let mut priority_fee_sum: Wei = 0;
        let mut blob_count = 0u64;
        for tx in &block.transactions {
            let tip = tx.effective_tip(base);
            priority_fee_sum =
                priority_fee_sum.saturating_add(tip.saturating_mul(Wei::from(tx.gas_used)));
            blob_count += u64::from(tx.blob_count);
            tips.push(tip);
        }
        tips.sort_unstable();
        let mut runs: Vec<(Wei, u64)> = Vec::new();
        for tip in tips {
            match runs.last_mut() {
                Some((v, n)) if *v == tip => *n += 1,
                _ => runs.push((tip, 1)),
            }
        }
        BlockSummary {
            chain_id: block.chain_id,
            number: block.number,
            hash: block.hash,
            parent_hash: block.parent_hash,
            timestamp: block.timestamp,
            gas_used: block.gas_used,
            gas_limit: block.gas_limit,
            base_fee_per_gas: base,
            tx_count: block.transactions.len() as u64,
            priority_fee_sum,
            tips: Arc::new(runs),
            blob_count,
            blob_gas_used: block.blob_gas_used,
            excess_blob_gas: block.excess_blob_gas,
            blob_base_fee: block.blob_base_fee,
        }
    }

    /// The `gas_fees_blocks` row of this block.
    pub fn row(&self) -> BlockRow {
        BlockRow {
            chain_id: self.chain_id,
            block_number: self.number,
            block_hash: self.hash,
            parent_hash: self.parent_hash,
            timestamp: self.timestamp,
            gas_used: self.gas_used,
            gas_limit: self.gas_limit,
            base_fee_per_gas: self.base_fee_per_gas,
            tx_count: self.tx_count,
            priority_fee_sum: self.priority_fee_sum,
            priority_fee_p50: percentile_runs(&self.tips, 50),
            priority_fee_p90: percentile_runs(&self.tips, 90),
            blob_count: self.blob_count,
            blob_gas_used: self.blob_gas_used,
            excess_blob_gas: self.excess_blob_gas,
            blob_base_fee: self.blob_base_fee,
        }
    }
}

/// A row of `gas_fees_blocks`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BlockRow {
    /// Chain id.
    pub chain_id: u64,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Parent hash.
    pub parent_hash: B256,
    /// Timestamp (unix seconds).
    pub timestamp: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Base fee per gas in wei.
    pub base_fee_per_gas: Wei,
    /// Transactions in the block.
    pub tx_count: u64,
    /// Sum over transactions of effective tip times gas used, in wei.
    pub priority_fee_sum: Wei,
    /// Median effective tip per gas.
    pub priority_fee_p50: Wei,
    /// 90th percentile effective tip per gas.
    pub priority_fee_p90: Wei,
    /// Blobs carried.
    pub blob_count: u64,
    /// Blob gas used.
    pub blob_gas_used: u64,
    /// Excess blob gas.
    pub excess_blob_gas: u64,
    /// Blob base fee per blob gas in wei.
    pub blob_base_fee: Wei,
}

impl Row for BlockRow {
    const COLUMNS: &'static [Column] = &[
        Column::new("chain_id", T::U64, "chain id"),
        Column::new("block_number", T::U64, "block height"),
        Column::new("block_hash", T::Hash, "block hash"),
        Column::new("parent_hash", T::Hash, "parent block hash"),
        Column::new("timestamp", T::Timestamp, "block time"),
        Column::new("gas_used", T::U64, "gas used by the block"),
        Column::new("gas_limit", T::U64, "gas limit of the block"),
        Column::new("base_fee_per_gas", T::Wei, "EIP-1559 base fee per gas"),
        Column::new("tx_count", T::U64, "transactions in the block"),
        Column::new(
            "priority_fee_sum",
            T::Wei,
            "sum of effective tip x gas used",
        ),
        Column::new("priority_fee_p50", T::Wei, "median effective tip per gas"),
        Column::new(
            "priority_fee_p90",
            T::Wei,
            "90th percentile effective tip per gas",
        ),
        Column::new("blob_count", T::U64, "blobs carried"),
        Column::new("blob_gas_used", T::U64, "blob gas used"),
        Column::new("excess_blob_gas", T::U64, "EIP-4844 excess blob gas"),
        Column::new("blob_base_fee", T::Wei, "blob base fee per blob gas"),
    ];
    const KEY: &'static [&'static str] = &["chain_id", "block_number"];
    const POSITION: Position = Position::Block("block_number");

    fn values(&self) -> Vec<Value> {
        vec![
            Value::U64(self.chain_id),
            Value::U64(self.block_number),
            Value::Hash(self.block_hash),
            Value::Hash(self.parent_hash),
            Value::U64(self.timestamp),
            Value::U64(self.gas_used),
            Value::U64(self.gas_limit),
            Value::Wei(self.base_fee_per_gas),
            Value::U64(self.tx_count),
            Value::Wei(self.priority_fee_sum),
            Value::Wei(self.priority_fee_p50),
            Value::Wei(self.priority_fee_p90),
            Value::U64(self.blob_count),
            Value::U64(self.blob_gas_used),
            Value::U64(self.excess_blob_gas),
            Value::Wei(self.blob_base_fee),
        ]
    }
}

/// A row of `gas_fees_minutes`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MinuteRow {
    /// Chain id.
    pub chain_id: u64,
    /// Start of the UTC minute (unix seconds).
    pub minute: u64,
    /// Canonical blocks in the minute.
    pub blocks: u64,
    /// Transactions.
    pub tx_count: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Sum of gas limits.
    pub gas_limit: u64,
    /// Sum of effective tip times gas used, in wei.
    pub priority_fee_sum: Wei,
    /// Lowest base fee.
    pub base_fee_min: Wei,
    /// Highest base fee.
    pub base_fee_max: Wei,
    /// Mean base fee (floor).
    pub base_fee_avg: Wei,
    /// Blobs carried.
    pub blob_count: u64,
    /// Blob gas used.
    pub blob_gas_used: u64,
    /// Median effective tip per gas over the minute's transactions.
    pub priority_fee_p50: Wei,
    /// 90th percentile effective tip per gas over the minute's transactions.
    pub priority_fee_p90: Wei,
}

impl MinuteRow {
    /// Aggregates the summaries of one minute (each with its multiplicity, normally 1).
    pub fn aggregate(chain_id: u64, minute: u64, input: &[(&BlockSummary, isize)]) -> Self {
        let mut row = MinuteRow {
            chain_id,
            minute,
            blocks: 0,
            tx_count: 0,
            gas_used: 0,
            gas_limit: 0,
            priority_fee_sum: 0,
            base_fee_min: Wei::MAX,
            base_fee_max: 0,
            base_fee_avg: 0,
            blob_count: 0,
            blob_gas_used: 0,
            priority_fee_p50: 0,
            priority_fee_p90: 0,
        };
        let mut base_fee_sum: Wei = 0;
        let mut tips: BTreeMap<Wei, u64> = BTreeMap::new();
        for (s, count) in input {
            let n = (*count).max(0) as u64;
            row.blocks += n;
            row.tx_count += s.tx_count * n;
            row.gas_used += s.gas_used * n;
            row.gas_limit += s.gas_limit * n;
            row.priority_fee_sum += s.priority_fee_sum * Wei::from(n);
            row.base_fee_min = row.base_fee_min.min(s.base_fee_per_gas);
            row.base_fee_max = row.base_fee_max.max(s.base_fee_per_gas);
            base_fee_sum += s.base_fee_per_gas * Wei::from(n);
            row.blob_count += s.blob_count * n;
            row.blob_gas_used += s.blob_gas_used * n;
            for &(tip, c) in s.tips.iter() {
                *tips.entry(tip).or_default() += c * n;
            }
        }
        if row.blocks == 0 {
            row.base_fee_min = 0;
        } else {
            row.base_fee_avg = base_fee_sum / Wei::from(row.blocks);
        }
        let runs: Vec<(Wei, u64)> = tips.into_iter().collect();
        row.priority_fee_p50 = percentile_runs(&runs, 50);
        row.priority_fee_p90 = percentile_runs(&runs, 90);
        row
    }
}

impl Row for MinuteRow {
    const COLUMNS: &'static [Column] = &[
        Column::new("chain_id", T::U64, "chain id"),
        Column::new("minute", T::Timestamp, "start of the UTC minute"),
        Column::new("blocks", T::U64, "canonical blocks in the minute"),
        Column::new("tx_count", T::U64, "transactions"),
        Column::new("gas_used", T::U64, "gas used"),
        Column::new("gas_limit", T::U64, "sum of gas limits"),
        Column::new(
            "priority_fee_sum",
            T::Wei,
            "sum of effective tip x gas used",
        ),
        Column::new("base_fee_min", T::Wei, "lowest base fee"),
        Column::new("base_fee_max", T::Wei, "highest base fee"),
        Column::new("base_fee_avg", T::Wei, "mean base fee (floor)"),
        Column::new("blob_count", T::U64, "blobs carried"),
        Column::new("blob_gas_used", T::U64, "blob gas used"),
        Column::new("priority_fee_p50", T::Wei, "median effective tip per gas"),
        Column::new(
            "priority_fee_p90",
            T::Wei,
            "90th percentile effective tip per gas",
        ),
    ];
    const KEY: &'static [&'static str] = &["chain_id", "minute"];
    const POSITION: Position = Position::TimeBucket("minute", 60);

    fn values(&self) -> Vec<Value> {
        vec![
            Value::U64(self.chain_id),
            Value::U64(self.minute),
            Value::U64(self.blocks),
            Value::U64(self.tx_count),
            Value::U64(self.gas_used),
            Value::U64(self.gas_limit),
            Value::Wei(self.priority_fee_sum),
            Value::Wei(self.base_fee_min),
            Value::Wei(self.base_fee_max),
            Value::Wei(self.base_fee_avg),
            Value::U64(self.blob_count),
            Value::U64(self.blob_gas_used),
            Value::Wei(self.priority_fee_p50),
            Value::Wei(self.priority_fee_p90),
        ]
    }
}

/// Computes both outputs from scratch over a canonical chain with a plain loop: the oracle
/// of the tests and the anchor of the benchmark. It shares no code with the dataflow but the
/// nearest-rank [`percentile`].
pub fn recompute(canonical: &[Block]) -> (Vec<BlockRow>, Vec<MinuteRow>) {
    let mut blocks = Vec::with_capacity(canonical.len());
    struct Acc {
        row: MinuteRow,
        base_fee_sum: Wei,
        tips: Vec<Wei>,
    }
    let mut minutes: BTreeMap<(u64, u64), Acc> = BTreeMap::new();
    for b in canonical {
        let base = b.base_fee_per_gas;
        let mut tips: Vec<Wei> = b
            .transactions
            .iter()
            .map(|t| t.effective_gas_price.saturating_sub(base))
            .collect();
        let priority_fee_sum: Wei = b
            .transactions
            .iter()
            .map(|t| t.effective_gas_price.saturating_sub(base) * Wei::from(t.gas_used))
            .sum();
        let blob_count: u64 = b.transactions.iter().map(|t| u64::from(t.blob_count)).sum();
        let minute = b.timestamp / 60 * 60;
        let acc = minutes.entry((b.chain_id, minute)).or_insert_with(|| Acc {
            row: MinuteRow {
                chain_id: b.chain_id,
                minute,
                blocks: 0,
                tx_count: 0,
                gas_used: 0,
                gas_limit: 0,
                priority_fee_sum: 0,
                base_fee_min: base,
                base_fee_max: base,
                base_fee_avg: 0,
                blob_count: 0,
                blob_gas_used: 0,
                priority_fee_p50: 0,
                priority_fee_p90: 0,
            },
            base_fee_sum: 0,
            tips: Vec::new(),
        });
        let r = &mut acc.row;
        r.blocks += 1;
        r.tx_count += b.transactions.len() as u64;
        r.gas_used += b.gas_used;
        r.gas_limit += b.gas_limit;
        r.priority_fee_sum += priority_fee_sum;
        r.base_fee_min = r.base_fee_min.min(base);
        r.base_fee_max = r.base_fee_max.max(base);
        r.blob_count += blob_count;
        r.blob_gas_used += b.blob_gas_used;
        acc.base_fee_sum += base;
        acc.tips.extend_from_slice(&tips);
        tips.sort_unstable();
        blocks.push(BlockRow {
            chain_id: b.chain_id,
            block_number: b.number,
            block_hash: b.hash,
            parent_hash: b.parent_hash,
            timestamp: b.timestamp,
            gas_used: b.gas_used,
            gas_limit: b.gas_limit,
            base_fee_per_gas: base,
            tx_count: b.transactions.len() as u64,
            priority_fee_sum,
            priority_fee_p50: percentile(&tips, 50),
            priority_fee_p90: percentile(&tips, 90),
            blob_count,
            blob_gas_used: b.blob_gas_used,
            excess_blob_gas: b.excess_blob_gas,
            blob_base_fee: b.blob_base_fee,
        });
    }
    let minutes = minutes
        .into_values()
        .map(|mut acc| {
            acc.tips.sort_unstable();
            acc.row.base_fee_avg = acc.base_fee_sum / Wei::from(acc.row.blocks);
            acc.row.priority_fee_p50 = percentile(&acc.tips, 50);
            acc.row.priority_fee_p90 = percentile(&acc.tips, 90);
            acc.row
        })
        .collect();
    (blocks, minutes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, Tx};

    fn tx(index: u32, price: Wei, gas_used: u64, blobs: u32) -> Tx {
        Tx {
            hash: B256::with_last_byte(index as u8),
            index,
            tx_type: if blobs > 0 { 3 } else { 2 },
            from: Address::ZERO,
            to: None,
            value: 0,
            gas_limit: gas_used,
            gas_used,
            effective_gas_price: price,
            max_fee_per_gas: None,
            max_priority_fee_per_gas: None,
            max_fee_per_blob_gas: None,
            blob_count: blobs,
            success: true,
        }
    }

    fn block(number: u64, timestamp: u64, base: Wei, txs: Vec<Tx>) -> Block {
        Block {
            chain_id: 1,
            number,
            hash: B256::with_last_byte(number as u8),
            parent_hash: B256::ZERO,
            timestamp,
            miner: Address::ZERO,
            gas_used: txs.iter().map(|t| t.gas_used).sum(),
            gas_limit: 30_000_000,
            base_fee_per_gas: base,
            blob_gas_used: 0,
            excess_blob_gas: 0,
            blob_base_fee: 1,
            transactions: txs,
            logs: vec![],
        }
    }

    #[test]
    fn summary_row_matches_recompute() {
        let b = block(
            7,
            125,
            100,
            vec![
                tx(0, 150, 21_000, 0),
                tx(1, 90, 50_000, 0),
                tx(2, 400, 30_000, 2),
                tx(3, 150, 1, 0),
            ],
        );
        let row = BlockSummary::of(&b).row();
        let (rows, _) = recompute(std::slice::from_ref(&b));
        assert_eq!(row, rows[0]);
        // tips: 50, 0 (price below base), 300, 50 -> sorted 0, 50, 50, 300
        assert_eq!(row.priority_fee_sum, 50 * 21_000 + 300 * 30_000 + 50);
        assert_eq!(row.priority_fee_p50, 50);
        assert_eq!(row.priority_fee_p90, 300);
        assert_eq!(row.blob_count, 2);
    }

    #[test]
    fn minute_aggregate_matches_recompute() {
        let a = block(1, 120, 100, vec![tx(0, 150, 21_000, 0)]);
        let b = block(2, 132, 300, vec![tx(0, 310, 21_000, 1), tx(1, 500, 10, 0)]);
        let c = block(3, 181, 7, vec![]);
        let (sa, sb) = (BlockSummary::of(&a), BlockSummary::of(&b));
        let row = MinuteRow::aggregate(1, 120, &[(&sa, 1), (&sb, 1)]);
        let (_, minutes) = recompute(&[a, b, c]);
        assert_eq!(minutes.len(), 2);
        assert_eq!(row, minutes[0]);
        assert_eq!(row.base_fee_avg, 200);
        assert_eq!(minutes[1].priority_fee_p50, 0);
        assert_eq!(minute_of(181), 180);
    }
}
