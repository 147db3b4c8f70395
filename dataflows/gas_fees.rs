//! `gas_fees`: gas and fee metrics per block and per UTC minute, hour and day.
//!
//! **Input**: canonical blocks with their transactions (receipt fields: gas used, effective
//! gas price, blob count).
//!
//! **Outputs**
//! - `gas_fees_blocks`, key `(chain_id, block_number)`: one row per canonical block.
//! - `gas_fees_minutes`, key `(chain_id, minute)`: one row per chain and UTC minute with at
//!   least one canonical block.
//! - `gas_fees_hours` and `gas_fees_days`, key `(chain_id, bucket_start)`: one [`Rollup`] row
//!   ([`HourRow`], [`DayRow`]) per chain and UTC hour (day) with at least one canonical block:
//!   the sums, the base fee range and mean and the blob totals of the bucket's blocks.
//!
//! **Definitions**: the effective tip of a transaction is `effective_gas_price -
//! base_fee_per_gas` (never negative); `priority_fee_sum` is the sum over transactions of
//! effective tip times gas used, in wei; p50/p90 are nearest-rank percentiles of the
//! effective tips of the block's (or minute's) transactions, unweighted, 0 when there are
//! none; `base_fee_avg` is the floor of the mean over the minute's (hour's, day's) blocks,
//! from the exact sum and count (never a mean of means). All wei amounts are exact `u128`.
//!
//! **No percentiles in the rollups**: percentiles do not merge (the median of a day is not a
//! function of the medians of its hours), so an exact p50/p90 of a day would need every tip
//! of the day in one reduce, re-read whenever one of its blocks changes: millions of values
//! per key on mainnet. Sums, counts, minima and maxima do merge, so the rollups are exact.
//!
//! **Reorgs**: an orphaned block leaves with diff -1, so its `gas_fees_blocks` row is
//! deleted (or changed, when the new branch has a block at the same height) and every minute,
//! hour and day it counted in is recomputed without it (and with the new branch's blocks), at
//! the same epoch as the new branch enters: the row of such a bucket changes, or is deleted
//! when none of its blocks is canonical any more. Each output always equals a from-scratch
//! [`recompute`] over the canonical chain.
//!
//! **State**: each block is first reduced to a [`BlockSummary`] (tips as a run-length list);
//! the per-minute reduce keeps one summary per canonical block of the days not yet sealed:
//! once the finalized head is past the end of a block's UTC day, its summary is sealed out of
//! the dataflow (`Inputs::sealed`; the rows stay in the sinks), so state is about one day of
//! summaries per chain. The rollups are built
//! hierarchically so every reduce stays small: the per-minute reduce also hands out the
//! minute's [`Totals`] (counts, sums, min, max and the base-fee sum for the exact mean, from
//! the same pass over its summaries), merged per hour (at most 60 minute totals per key) and
//! the hour totals per day (at most 24 per key). A separate per-minute reduce for the totals
//! was measured: it costs more at every epoch than the few additions in the existing one.
//!
//! ```text
//! blocks ─map(summarize)─► summaries ─┬─map──────────────────────────────► gas_fees_blocks
//!                                     └─key by (chain, minute)─reduce
//!                                        "gas_fees::PerMinute"
//!                                           │ (minute row, minute totals)
//!                                           ├─map────────────────────────► gas_fees_minutes
//!                                           └─key by (chain, hour)─reduce
//!                                              "gas_fees::PerHour"
//!                                                 │ hour totals
//!                                                 ├─map──────────────────► gas_fees_hours
//!                                                 └─key by (chain, day)─reduce
//!                                                    "gas_fees::PerDay"
//!                                                       │ day totals
//!                                                       └─map────────────► gas_fees_days
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::dataflow::{Dataflow, Inputs, Output, OutputDef, OutputSpec, Row, Value};
use crate::model::fees::{percentile, percentile_runs};
use crate::model::{B256, Block, Wei};

/// The `gas_fees` dataflow.
pub struct GasFees;

/// Name of the per-block output.
pub const BLOCKS: &str = "gas_fees_blocks";
/// Name of the per-minute output.
pub const MINUTES: &str = "gas_fees_minutes";
/// Name of the per-hour rollup output ([`HourRow`]).
pub const HOURS: &str = "gas_fees_hours";
/// Name of the per-day rollup output ([`DayRow`]).
pub const DAYS: &str = "gas_fees_days";

/// The per-block output.
pub const BLOCKS_OUTPUT: OutputDef<BlockRow> =
    OutputDef::new(BLOCKS, "one row per canonical block");
/// The per-minute output.
pub const MINUTES_OUTPUT: OutputDef<MinuteRow> =
    OutputDef::new(MINUTES, "one row per chain and UTC minute");
/// The per-hour rollup.
pub const HOURS_OUTPUT: OutputDef<HourRow> =
    OutputDef::new(HOURS, "one row per chain and UTC hour");
/// The per-day rollup.
pub const DAYS_OUTPUT: OutputDef<DayRow> = OutputDef::new(DAYS, "one row per chain and UTC day");

impl Dataflow for GasFees {
    fn name(&self) -> &'static str {
        "gas_fees"
    }

    fn doc(&self) -> &'static str {
        "gas, base fee, priority fee and blob metrics per block and per UTC minute, hour and day"
    }

    fn outputs(&self) -> Vec<OutputSpec> {
        vec![
            BLOCKS_OUTPUT.spec(),
            MINUTES_OUTPUT.spec(),
            HOURS_OUTPUT.spec(),
            DAYS_OUTPUT.spec(),
        ]
    }

    fn build<'s>(&self, inputs: &Inputs<'s>) -> Vec<Output<'s>> {
        // A block's last bucket is its UTC day: once the finalized head is past the day's
        // end, no row it counts in can change and its summary leaves the dataflow.
        let summaries = inputs.sealed(inputs.blocks().map(|b| BlockSummary::of(&b)), |s| {
            (
                s.chain_id,
                DayRow::bucket_of(s.timestamp) + DayRow::BUCKET_SECS,
            )
        });
        let blocks = BLOCKS_OUTPUT.mapped(summaries.clone(), |s| s.row());
        // The minute reduce also hands out the minute's totals, from the same pass: a reduce
        // of its own for them would cost more at every epoch than the few additions here.
        let per_minute = summaries
            .map(|s| ((s.chain_id, minute_of(s.timestamp)), s))
            .reduce_named(
                "gas_fees::PerMinute",
                |&(chain_id, minute), input, output| {
                    output.push((MinuteRow::aggregate_with_totals(chain_id, minute, input), 1));
                },
            );
        let minutes = MINUTES_OUTPUT.mapped(per_minute.clone(), |(_key, (row, _))| row);
        let hour_totals = per_minute
            .map(|((chain_id, minute), (_row, t))| ((chain_id, HourRow::bucket_of(minute)), t))
            .reduce_named("gas_fees::PerHour", merge_totals);
        let hours = HOURS_OUTPUT.mapped(hour_totals.clone(), |((chain_id, hour), t)| {
            HourRow::of(chain_id, hour, &t)
        });
        let day_totals = hour_totals
            .map(|((chain_id, hour), t)| ((chain_id, DayRow::bucket_of(hour)), t))
            .reduce_named("gas_fees::PerDay", merge_totals);
        let days = DAYS_OUTPUT.mapped(day_totals, |((chain_id, day), t)| {
            DayRow::of(chain_id, day, &t)
        });
        vec![blocks, minutes, hours, days]
    }
}

/// The reduce logic of the totals: merges the totals of one key (a bucket of one chain).
fn merge_totals<K>(_key: &K, input: &[(&Totals, isize)], output: &mut Vec<(Totals, isize)>) {
    if let Some(t) = Totals::merge(input.iter().map(|&(t, n)| (t, n))) {
        output.push((t, 1));
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
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = block(block_number))]
pub struct BlockRow {
    /// Chain id.
    #[row(key)]
    pub chain_id: u64,
    /// Block number.
    #[row(key)]
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Parent hash.
    pub parent_hash: B256,
    /// Timestamp (unix seconds).
    #[row(timestamp)]
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

/// A row of `gas_fees_minutes`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = time_bucket(minute, 60))]
pub struct MinuteRow {
    /// Chain id.
    #[row(key)]
    pub chain_id: u64,
    /// Start of the UTC minute (unix seconds).
    #[row(key, timestamp)]
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
        Self::aggregate_with_totals(chain_id, minute, input).0
    }

    /// As [`MinuteRow::aggregate`], with the minute's [`Totals`] (which the hour and day
    /// rollups merge), taken from the same pass over the summaries.
    pub fn aggregate_with_totals(
        chain_id: u64,
        minute: u64,
        input: &[(&BlockSummary, isize)],
    ) -> (Self, Totals) {
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
        let totals = Totals {
            blocks: row.blocks,
            tx_count: row.tx_count,
            gas_used: row.gas_used,
            gas_limit: row.gas_limit,
            priority_fee_sum: row.priority_fee_sum,
            base_fee_min: row.base_fee_min,
            base_fee_max: row.base_fee_max,
            base_fee_sum,
            blob_count: row.blob_count,
            blob_gas_used: row.blob_gas_used,
        };
        (row, totals)
    }
}

/// Additive totals of a set of canonical blocks of one chain: what the hour and day rollups
/// are merged from. Every field is a count, a sum, a minimum or a maximum, so the totals of
/// disjoint sets of blocks merge exactly ([`Totals::merge`]), in any grouping.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Totals {
    /// Blocks.
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
    /// Sum of the base fees of the blocks (for the exact mean).
    pub base_fee_sum: Wei,
    /// Blobs carried.
    pub blob_count: u64,
    /// Blob gas used.
    pub blob_gas_used: u64,
}

impl Totals {
    /// The totals of the one block `s` summarizes.
    pub fn of(s: &BlockSummary) -> Self {
        Totals {
            blocks: 1,
            tx_count: s.tx_count,
            gas_used: s.gas_used,
            gas_limit: s.gas_limit,
            priority_fee_sum: s.priority_fee_sum,
            base_fee_min: s.base_fee_per_gas,
            base_fee_max: s.base_fee_per_gas,
            base_fee_sum: s.base_fee_per_gas,
            blob_count: s.blob_count,
            blob_gas_used: s.blob_gas_used,
        }
    }

    /// Merges the totals of disjoint sets of blocks, each with its multiplicity (a reduce's
    /// input: two minutes may have equal totals, so a multiplicity above 1 is normal and
    /// counts that many times; non-positive ones are skipped). `None` when no block is left.
    pub fn merge<'a>(parts: impl IntoIterator<Item = (&'a Totals, isize)>) -> Option<Totals> {
        let mut acc: Option<Totals> = None;
        for (t, count) in parts {
            let n = u64::try_from(count).unwrap_or(0);
            if n == 0 || t.blocks == 0 {
                continue;
            }
            let w = Wei::from(n);
            match &mut acc {
                None => {
                    acc = Some(Totals {
                        blocks: t.blocks * n,
                        tx_count: t.tx_count * n,
                        gas_used: t.gas_used * n,
                        gas_limit: t.gas_limit * n,
                        priority_fee_sum: t.priority_fee_sum * w,
                        base_fee_min: t.base_fee_min,
                        base_fee_max: t.base_fee_max,
                        base_fee_sum: t.base_fee_sum * w,
                        blob_count: t.blob_count * n,
                        blob_gas_used: t.blob_gas_used * n,
                    })
                }
                Some(a) => {
                    a.blocks += t.blocks * n;
                    a.tx_count += t.tx_count * n;
                    a.gas_used += t.gas_used * n;
                    a.gas_limit += t.gas_limit * n;
                    a.priority_fee_sum += t.priority_fee_sum * w;
                    a.base_fee_min = a.base_fee_min.min(t.base_fee_min);
                    a.base_fee_max = a.base_fee_max.max(t.base_fee_max);
                    a.base_fee_sum += t.base_fee_sum * w;
                    a.blob_count += t.blob_count * n;
                    a.blob_gas_used += t.blob_gas_used * n;
                }
            }
        }
        acc
    }
}

/// A row of a time-bucket rollup of `gas_fees`: the totals of one chain's canonical blocks
/// whose timestamp falls in the UTC bucket of `SECS` seconds starting at `bucket_start`.
///
/// The same columns as [`MinuteRow`] without the percentiles (see the module doc: exact
/// percentiles would need every tip of the bucket in one reduce), keyed by
/// `(chain_id, bucket_start)`. Used as [`HourRow`] (`gas_fees_hours`) and [`DayRow`]
/// (`gas_fees_days`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = time_bucket(bucket_start, SECS))]
pub struct Rollup<const SECS: u64> {
    /// Chain id.
    #[row(key)]
    pub chain_id: u64,
    /// Start of the UTC bucket (unix seconds, a multiple of `SECS`).
    #[row(key, timestamp)]
    pub bucket_start: u64,
    /// Canonical blocks in the bucket.
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
    /// Mean base fee over the bucket's blocks (floor).
    pub base_fee_avg: Wei,
    /// Blobs carried.
    pub blob_count: u64,
    /// Blob gas used.
    pub blob_gas_used: u64,
}

/// A row of `gas_fees_hours`: a [`Rollup`] over a UTC hour.
pub type HourRow = Rollup<3600>;
/// A row of `gas_fees_days`: a [`Rollup`] over a UTC day.
pub type DayRow = Rollup<86400>;

impl<const SECS: u64> Rollup<SECS> {
    /// The length of the bucket in seconds.
    pub const BUCKET_SECS: u64 = SECS;

    /// Start of the bucket containing `timestamp` (unix seconds).
    pub fn bucket_of(timestamp: u64) -> u64 {
        const { assert!(SECS > 0, "a rollup bucket is at least one second long") };
        timestamp - timestamp % SECS
    }

    /// The row of the bucket starting at `bucket_start` of chain `chain_id` whose blocks have
    /// the totals `t`.
    pub fn of(chain_id: u64, bucket_start: u64, t: &Totals) -> Self {
        Rollup {
            chain_id,
            bucket_start,
            blocks: t.blocks,
            tx_count: t.tx_count,
            gas_used: t.gas_used,
            gas_limit: t.gas_limit,
            priority_fee_sum: t.priority_fee_sum,
            base_fee_min: t.base_fee_min,
            base_fee_max: t.base_fee_max,
            base_fee_avg: t.base_fee_sum.checked_div(Wei::from(t.blocks)).unwrap_or(0),
            blob_count: t.blob_count,
            blob_gas_used: t.blob_gas_used,
        }
    }
}

/// Every output of `gas_fees`, as [`recompute`] computes it from scratch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recomputed {
    /// `gas_fees_blocks`, in the order of the chain given.
    pub blocks: Vec<BlockRow>,
    /// `gas_fees_minutes`, in `(chain_id, minute)` order.
    pub minutes: Vec<MinuteRow>,
    /// `gas_fees_hours`, in `(chain_id, bucket_start)` order.
    pub hours: Vec<HourRow>,
    /// `gas_fees_days`, in `(chain_id, bucket_start)` order.
    pub days: Vec<DayRow>,
}

impl Recomputed {
    /// The rows of every output as values, by output name: one entry per output of
    /// [`GasFees`], so an oracle comparing them all compares every output.
    pub fn values(&self) -> BTreeMap<&'static str, Vec<Vec<Value>>> {
        fn of<R: Row>(rows: &[R]) -> Vec<Vec<Value>> {
            rows.iter().map(Row::values).collect()
        }
        BTreeMap::from([
            (BLOCKS, of(&self.blocks)),
            (MINUTES, of(&self.minutes)),
            (HOURS, of(&self.hours)),
            (DAYS, of(&self.days)),
        ])
    }
}

/// Computes every output from scratch over a canonical chain with a plain loop: the oracle
/// of the tests and the anchor of the benchmark. It shares no code with the dataflow but the
/// nearest-rank [`percentile`]: the hours and days are summed from the blocks directly, not
/// from minutes.
pub fn recompute(canonical: &[Block]) -> Recomputed {
    let mut blocks = Vec::with_capacity(canonical.len());
    let mut hours: BTreeMap<(u64, u64), (HourRow, Wei)> = BTreeMap::new();
    let mut days: BTreeMap<(u64, u64), (DayRow, Wei)> = BTreeMap::new();
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
        let tx_count = b.transactions.len() as u64;
        add_to_rollup(&mut hours, b, tx_count, priority_fee_sum, blob_count);
        add_to_rollup(&mut days, b, tx_count, priority_fee_sum, blob_count);
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
    Recomputed {
        blocks,
        minutes,
        hours: finish_rollups(hours),
        days: finish_rollups(days),
    }
}

/// [`recompute`]'s accumulation of block `b` into the rollup row of its bucket, with the
/// bucket's base-fee sum beside it.
fn add_to_rollup<const SECS: u64>(
    acc: &mut BTreeMap<(u64, u64), (Rollup<SECS>, Wei)>,
    b: &Block,
    tx_count: u64,
    priority_fee_sum: Wei,
    blob_count: u64,
) {
    let start = b.timestamp / SECS * SECS;
    let base = b.base_fee_per_gas;
    let (r, base_fee_sum) = acc.entry((b.chain_id, start)).or_insert_with(|| {
        (
            Rollup {
                chain_id: b.chain_id,
                bucket_start: start,
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
            },
            0,
        )
    });
    r.blocks += 1;
    r.tx_count += tx_count;
    r.gas_used += b.gas_used;
    r.gas_limit += b.gas_limit;
    r.priority_fee_sum += priority_fee_sum;
    r.base_fee_min = r.base_fee_min.min(base);
    r.base_fee_max = r.base_fee_max.max(base);
    r.blob_count += blob_count;
    r.blob_gas_used += b.blob_gas_used;
    *base_fee_sum += base;
}

/// The rollup rows of [`recompute`] with their means, in key order.
fn finish_rollups<const SECS: u64>(
    acc: BTreeMap<(u64, u64), (Rollup<SECS>, Wei)>,
) -> Vec<Rollup<SECS>> {
    acc.into_values()
        .map(|(mut r, base_fee_sum)| {
            r.base_fee_avg = base_fee_sum / Wei::from(r.blocks);
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dataflow::{ColumnType as T, Position};
    use crate::model::testing::{block, tx};

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
        let rows = recompute(std::slice::from_ref(&b)).blocks;
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
        let minutes = recompute(&[a, b, c]).minutes;
        assert_eq!(minutes.len(), 2);
        assert_eq!(row, minutes[0]);
        assert_eq!(row.base_fee_avg, 200);
        assert_eq!(minutes[1].priority_fee_p50, 0);
        assert_eq!(minute_of(181), 180);
    }

    /// The minute, hour and day totals of `chain` merged hierarchically, as the dataflow does.
    fn rollups(chain: &[Block]) -> (Vec<HourRow>, Vec<DayRow>) {
        let mut minutes: BTreeMap<(u64, u64), Vec<BlockSummary>> = BTreeMap::new();
        for b in chain {
            let s = BlockSummary::of(b);
            minutes
                .entry((s.chain_id, minute_of(s.timestamp)))
                .or_default()
                .push(s);
        }
        let merge = |parts: &[Totals]| Totals::merge(parts.iter().map(|t| (t, 1))).unwrap();
        let mut hours: BTreeMap<(u64, u64), Vec<Totals>> = BTreeMap::new();
        for ((chain_id, minute), summaries) in minutes {
            let input: Vec<(&BlockSummary, isize)> = summaries.iter().map(|s| (s, 1)).collect();
            let (row, totals) = MinuteRow::aggregate_with_totals(chain_id, minute, &input);
            assert_eq!(row, MinuteRow::aggregate(chain_id, minute, &input));
            let per_block: Vec<Totals> = summaries.iter().map(Totals::of).collect();
            assert_eq!(
                totals,
                merge(&per_block),
                "the minute's totals are its blocks'"
            );
            hours
                .entry((chain_id, HourRow::bucket_of(minute)))
                .or_default()
                .push(totals);
        }
        let mut days: BTreeMap<(u64, u64), Vec<Totals>> = BTreeMap::new();
        let mut hour_rows = Vec::new();
        for ((chain_id, hour), parts) in hours {
            let t = merge(&parts);
            hour_rows.push(HourRow::of(chain_id, hour, &t));
            days.entry((chain_id, DayRow::bucket_of(hour)))
                .or_default()
                .push(t);
        }
        let day_rows = days
            .into_iter()
            .map(|((chain_id, day), parts)| DayRow::of(chain_id, day, &merge(&parts)))
            .collect();
        (hour_rows, day_rows)
    }

    #[test]
    fn hierarchical_rollups_match_recompute_across_hour_and_day_edges() {
        let day = 1_767_225_600; // 2026-01-01 00:00 UTC
        let chain = vec![
            block(1, day - 3_601, 10, vec![tx(0, 15, 21_000, 0)]),
            block(2, day - 3_600, 20, vec![tx(0, 50, 10, 1), tx(1, 5, 7, 0)]),
            block(3, day - 61, 35, vec![]),
            block(4, day - 1, 7, vec![tx(0, 9, 100, 3)]),
            block(5, day, 1_000, vec![tx(0, 1_100, 3, 0)]),
            block(6, day + 59, 3, vec![]),
            block(7, day + 3_599, 4, vec![tx(0, 4, 1, 0)]),
            block(8, day + 3_600, 11, vec![]),
        ];
        let want = recompute(&chain);
        let (hours, days) = rollups(&chain);
        assert_eq!(hours, want.hours);
        assert_eq!(days, want.days);
        let starts: Vec<u64> = hours.iter().map(|h| h.bucket_start).collect();
        assert_eq!(starts, vec![day - 7_200, day - 3_600, day, day + 3_600]);
        assert_eq!(days.len(), 2);
        assert_eq!((days[0].blocks, days[1].blocks), (4, 4));
        // floor((10 + 20 + 35 + 7) / 4) and floor((1000 + 3 + 4 + 11) / 4)
        assert_eq!((days[0].base_fee_avg, days[1].base_fee_avg), (18, 254));
        assert_eq!((days[1].base_fee_min, days[1].base_fee_max), (3, 1_000));
        assert_eq!(days[0].priority_fee_sum, 5 * 21_000 + 30 * 10 + 2 * 100);
        assert_eq!(days[0].blob_count, 4);
        assert_eq!(days[0].tx_count + days[1].tx_count, 6);
    }

    #[test]
    fn totals_count_multiplicities_and_skip_retractions() {
        let b = block(1, 60, 8, vec![tx(0, 10, 5, 1)]);
        let t = Totals::of(&BlockSummary::of(&b));
        let u = Totals {
            base_fee_min: 2,
            base_fee_max: 30,
            ..t.clone()
        };
        // Two minutes with equal totals arrive as one input with multiplicity 2.
        let m = Totals::merge([(&t, 2), (&u, 1), (&t, 0), (&u, -1)]).unwrap();
        assert_eq!(m.blocks, 3);
        assert_eq!(m.tx_count, 3);
        assert_eq!(m.priority_fee_sum, 3 * 2 * 5);
        assert_eq!(m.base_fee_sum, 3 * 8);
        assert_eq!((m.base_fee_min, m.base_fee_max), (2, 30));
        assert_eq!(m.blob_count, 3);
        assert_eq!(Totals::merge([(&t, 0), (&t, -1)]), None);
        assert_eq!(HourRow::of(1, 0, &m).base_fee_avg, 8);
    }

    #[test]
    fn rollup_rows_have_the_published_layout() {
        let names: Vec<&str> = HourRow::COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "chain_id",
                "bucket_start",
                "blocks",
                "tx_count",
                "gas_used",
                "gas_limit",
                "priority_fee_sum",
                "base_fee_min",
                "base_fee_max",
                "base_fee_avg",
                "blob_count",
                "blob_gas_used",
            ]
        );
        let types: Vec<T> = DayRow::COLUMNS.iter().map(|c| c.ty).collect();
        assert_eq!(
            types,
            [
                T::U64,
                T::Timestamp,
                T::U64,
                T::U64,
                T::U64,
                T::U64,
                T::Wei,
                T::Wei,
                T::Wei,
                T::Wei,
                T::U64,
                T::U64,
            ]
        );
        assert_eq!(HourRow::KEY, ["chain_id", "bucket_start"]);
        assert_eq!(
            HourRow::POSITION,
            Position::TimeBucket("bucket_start", 3_600)
        );
        assert_eq!(
            DayRow::POSITION,
            Position::TimeBucket("bucket_start", 86_400)
        );
        assert_eq!((HourRow::BUCKET_SECS, DayRow::BUCKET_SECS), (3_600, 86_400));
        assert_eq!(HourRow::bucket_of(7_199), 3_600);
        assert_eq!(DayRow::bucket_of(1_767_225_600 + 86_399), 1_767_225_600);
        let row = DayRow::of(
            1,
            0,
            &Totals::of(&BlockSummary::of(&block(1, 5, 9, vec![]))),
        );
        assert_eq!(row.values().len(), DayRow::COLUMNS.len());
        let outputs: Vec<&str> = GasFees.outputs().iter().map(|o| o.name).collect();
        assert_eq!(outputs, [BLOCKS, MINUTES, HOURS, DAYS]);
        let mut sorted = outputs.clone();
        sorted.sort_unstable();
        let recomputed = recompute(&[block(1, 5, 9, vec![])]).values();
        assert_eq!(recomputed.keys().copied().collect::<Vec<_>>(), sorted);
    }
}
