//! The `taiko` outputs computed from scratch by plain loops over two final canonical chains:
//! the reference the dataflow is tested against (it must equal this after any sequence of
//! reorgs), and the anchor of the rollup benchmark.
//!
//! Per-block rows come from the same pure functions as the dataflow ([`super::l1`],
//! [`super::l2`]); everything that spans blocks (prove and verify times, the batch joins,
//! the rollups) is computed here independently, with maps and sorted vectors instead of
//! differential operators. `reorgs` is not derivable from a canonical chain and is left out.

use std::collections::BTreeMap;

use super::l1::{Fact, l1_facts, protocol_facts};
use super::l2::L2Head;
use super::rows::{BatchL2, BatchRollup, BatchTime, L2Rollup};
use super::{DAY, HOUR, Taiko};
use crate::engine::dataflow::{Row, RowValues};
use crate::model::Block;

/// Rows per output name, each output's rows sorted.
pub type Tables = BTreeMap<&'static str, Vec<RowValues>>;

/// Every output of `taiko` but `reorgs` over the canonical chains `l1` and `l2` (blocks of
/// each in chain order).
pub fn recompute(taiko: &Taiko, l1: &[Block], l2: &[Block]) -> Tables {
    let config = taiko.config();
    let contracts = &config.contracts;
    let mut facts = Vec::new();
    for b in l1 {
        facts.extend(l1_facts(b, contracts, taiko.clock()));
    }
    for b in l2 {
        facts.extend(
            protocol_facts(b, contracts)
                .into_iter()
                .filter(|f| matches!(f, Fact::Error(_))),
        );
    }
    let anchor = taiko.anchor();
    let heads: Vec<L2Head> = l2.iter().map(|b| L2Head::of(b, anchor)).collect();

    let mut tables: Tables = BTreeMap::new();
    let mut put = |name: &'static str, row: RowValues| tables.entry(name).or_default().push(row);
    for h in &heads {
        put(super::L2_HEADS, h.values());
    }
    let mut batches = Vec::new();
    let mut batch_blocks = Vec::new();
    let mut proofs = Vec::new();
    let mut verifications = Vec::new();
    for f in &facts {
        match f {
            Fact::Head(r) => put(super::L1_HEADS, r.values()),
            Fact::Batch(r) => {
                put(super::BATCHES, r.values());
                batches.push(r.clone());
            }
            Fact::BatchBlock(r) => {
                put(super::BATCH_BLOCKS, r.values());
                batch_blocks.push(r.clone());
            }
            Fact::Proof(r) => {
                put(super::BATCH_PROOFS, r.values());
                proofs.push(r.clone());
            }
            Fact::Verification(r) => {
                put(super::BATCH_VERIFICATIONS, r.values());
                verifications.push(r.clone());
            }
            Fact::Forced(r) => put(super::FORCED_INCLUSIONS, r.values()),
            Fact::Slashing(r) => put(super::SLASHINGS, r.values()),
            Fact::Cost(r) => put(super::L1_COSTS, r.values()),
            Fact::Error(r) => put(super::TAIKO_ERRORS, r.values()),
            // The L2 heads are computed above, from the L2 chain.
            Fact::L2Head(_) => {}
        }
    }

    // Prove and verify times. Facts are in chain order, so the first proof seen is the
    // first; a batch is verified by the first verification (in chain order) reaching it.
    let mut first_proof: BTreeMap<(u64, &str, u64), u64> = BTreeMap::new();
    for p in &proofs {
        first_proof
            .entry((p.chain_id, p.fork.as_str(), p.batch_id))
            .or_insert(p.l1_timestamp);
    }
    // Per chain and fork: (running highest batch verified, time it was reached), in chain
    // order.
    let mut reached: BTreeMap<(u64, &str), Vec<(u64, u64)>> = BTreeMap::new();
    for v in &verifications {
        let steps = reached.entry((v.chain_id, v.fork.as_str())).or_default();
        if steps.last().is_none_or(|(top, _)| v.batch_id > *top) {
            steps.push((v.batch_id, v.l1_timestamp));
        }
    }
    for b in &batches {
        let proved_at = first_proof
            .get(&(b.chain_id, b.fork.as_str(), b.batch_id))
            .copied()
            .unwrap_or(0);
        let verified_at = reached
            .get(&(b.chain_id, b.fork.as_str()))
            .map_or(0, |steps| {
                let i = steps.partition_point(|(top, _)| *top < b.batch_id);
                steps.get(i).map_or(0, |(_, t)| *t)
            });
        put(
            super::BATCH_TIMES,
            BatchTime::new(
                b.chain_id,
                &b.fork,
                b.batch_id,
                b.l1_timestamp,
                proved_at,
                verified_at,
            )
            .values(),
        );
    }

    // Batches joined with their L2 blocks.
    let by_number: BTreeMap<u64, &L2Head> = heads.iter().map(|h| (h.block_number, h)).collect();
    let mut per_batch: BTreeMap<(u64, u64), BatchL2> = BTreeMap::new();
    for bb in &batch_blocks {
        let Some(h) = by_number.get(&bb.l2_block_number) else {
            continue;
        };
        let row = per_batch
            .entry((bb.chain_id, bb.batch_id))
            .or_insert_with(|| BatchL2::empty(bb.chain_id, bb.batch_id));
        row.add(h);
    }
    for row in per_batch.values() {
        put(super::BATCH_L2, row.values());
    }

    // Rollups.
    for (name, secs) in [(super::L2_HOURS, HOUR), (super::L2_DAYS, DAY)] {
        let mut buckets: BTreeMap<(u64, u64), L2Rollup> = BTreeMap::new();
        for h in &heads {
            let start = h.timestamp / secs * secs;
            let r = L2Rollup::of(h, secs);
            buckets
                .entry((h.chain_id, start))
                .and_modify(|acc| acc.merge(&r))
                .or_insert(r);
        }
        for r in buckets.values() {
            put(name, r.values());
        }
    }
    for (name, secs) in [(super::BATCH_HOURS, HOUR), (super::BATCH_DAYS, DAY)] {
        let mut buckets: BTreeMap<(u64, u64), BatchRollup> = BTreeMap::new();
        for b in &batches {
            let r = BatchRollup::of(b, secs);
            buckets
                .entry((b.chain_id, r.bucket_start))
                .and_modify(|acc| acc.merge(&r))
                .or_insert(r);
        }
        for r in buckets.values() {
            put(name, r.values());
        }
    }
    for rows in tables.values_mut() {
        rows.sort();
    }
    tables
}
