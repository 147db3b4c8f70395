//! `taiko`: a Taiko rollup metrics indexer (the ClickHouse dashboard backend rollup operators
//! use), exact under L1 and L2 reorgs. Opt-in: add it to `[dataflows] enabled`.
//!
//! **Inputs**: canonical blocks of the L1 (`[dataflows.taiko] l1_chain_id`, default 1) and of
//! the L2 (`l2_chain_id`, default 167000) in one run, each chain with its own tracker; the
//! protocol's contracts (`[dataflows.taiko.contracts]`: inboxes of both forks, forced-inclusion store,
//! wrapper, preconfirmation slasher, SignalService, bond manager, L2 anchor), whose logs are
//! decoded by address and topic0 ([`events`]); the reorgs the engine applied
//! ([`Inputs::reorgs`]).
//!
//! **Outputs** (key; what an L1 reorg / an L2 reorg does). Per-block rows ([`l1`]) derive
//! from one block and are retracted with it; derived rows follow their inputs.
//!
//! | output | key | L1 reorg | L2 reorg |
//! |---|---|---|---|
//! | `l1_heads` | chain_id, block_number | orphaned heads out, new branch in | - |
//! | `l2_heads` | chain_id, block_number | - | orphaned heads out, new branch in |
//! | `batches` | chain_id, fork, batch_id | a proposal in an orphaned block leaves (or moves to its new block) | - |
//! | `batch_blocks` | chain_id, batch_id, l2_block_number | with its proposal | - (L2 numbers, not hashes) |
//! | `batch_proofs` | chain_id, l1_block_number, log_index, batch_id | with the proof's block | - |
//! | `batch_verifications` | chain_id, l1_block_number, log_index | with the verification's block | - |
//! | `forced_inclusions`, `slashings`, `l1_costs` | chain_id, l1_block_number, log_index (costs: tx_hash) | with their block | - |
//! | `batch_times` | chain_id, fork, batch_id | prove and verify times recomputed from the canonical proposal, first proof and first verification reaching the batch | - |
//! | `batch_l2` (Pacaya) | chain_id, batch_id | with `batch_blocks` | the batch's sums follow `l2_heads` |
//! | `l2_hours`, `l2_days` | chain_id, bucket_start | - | the bucket's totals are corrected |
//! | `batch_hours`, `batch_days` | chain_id, bucket_start | the bucket's totals are corrected | - |
//! | `reorgs` | chain_id, epoch, old_tip_hash | a row added, never retracted | a row added, never retracted |
//! | `taiko_errors` | chain_id, block_number, log_index | with its block | with its block |
//!
//! `reorgs` is **append-only by design**: a reorg is a fact about ingestion (what the engine
//! saw and undid), not about the canonical chain, so nothing retracts it and a restart keeps
//! its rows ([`Position::Log`]). `batch_times` and
//! `batch_l2` join rows of any age, so a restart rebuilds them from `chains[].start_block`
//! ([`Position::Whole`]).
//!
//! **State**: the per-block rows are maps (no state). `batch_times` keeps the canonical
//! proposals, proofs and verifications (one reduce per L1 chain and fork finds, for each batch,
//! the first verification reaching it: its work at an epoch that changes proposals or
//! verifications grows with the batches held), `batch_l2` the batch blocks and L2 heads, the
//! rollups the L2 heads and batches of their hour and one total per hour for the day. None of
//! it is sealed yet: a run holds every batch and L2 head since its start (about 45k L2 heads a
//! day at 2 s blocks).
//!
//! ```text
//! blocks ─┬─ l1 chain ─ flat_map(l1::l1_facts) ─┬─ l1_heads, batches, batch_blocks, batch_proofs,
//!         │                                    │  batch_verifications, forced_inclusions,
//!         │                                    │  slashings, l1_costs, taiko_errors
//!         │                                    ├─ batches+proofs+verifications ─► "taiko::Verified"
//!         │                                    │        ─► "taiko::BatchTimes" ─► batch_times
//!         │                                    └─ batches ─► "taiko::BatchesPerHour" ─► "…PerDay"
//!         └─ l2 chain ─ map(L2Head::of) ─► l2_heads ─┬─ join batch_blocks ─► "taiko::BatchL2"
//!                                                  └─ "taiko::L2PerHour" ─► "taiko::L2PerDay"
//! reorgs ─ filter(l1, l2) ─► reorgs
//! ```

pub mod events;
pub mod l1;
pub mod l2;
pub mod plain;
pub mod rows;

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use differential_dataflow::AsCollection;
use timely::dataflow::operators::vec::Partition;

use crate::engine::dataflow::{
    Collection, Dataflow, Inputs, Output, OutputDef, OutputSpec, Position, Settings, SettingsError,
    parse_settings,
};
use crate::model::Address;
use l1::{Fact, SlotClock};
use l2::L2Head;
use rows::{
    Batch, BatchBlock, BatchL2, BatchProof, BatchRollup, BatchTime, BatchVerification,
    DecodeErrorRow, ForcedInclusionRow, L1Head, L2Rollup, ReorgRow, Slashing, TxCost,
};

/// `l1_heads`: one row per canonical L1 block.
pub const L1_HEADS: &str = "l1_heads";
/// `l2_heads`: one row per canonical L2 block.
pub const L2_HEADS: &str = "l2_heads";
/// `batches`: one row per canonical batch proposal.
pub const BATCHES: &str = "batches";
/// `batch_blocks`: one row per L2 block of a canonical Pacaya batch.
pub const BATCH_BLOCKS: &str = "batch_blocks";
/// `batch_proofs`: one row per batch of a canonical proof event.
pub const BATCH_PROOFS: &str = "batch_proofs";
/// `batch_verifications`: one row per canonical verification event.
pub const BATCH_VERIFICATIONS: &str = "batch_verifications";
/// `forced_inclusions`: one row per canonical forced-inclusion event.
pub const FORCED_INCLUSIONS: &str = "forced_inclusions";
/// `slashings`: one row per canonical slashing.
pub const SLASHINGS: &str = "slashings";
/// `l1_costs`: one row per canonical propose, prove or verify transaction.
pub const L1_COSTS: &str = "l1_costs";
/// `batch_times`: prove and verify times per canonical batch.
pub const BATCH_TIMES: &str = "batch_times";
/// `batch_l2`: L2 gas and fees per canonical batch.
pub const BATCH_L2: &str = "batch_l2";
/// `l2_hours`: L2 totals per UTC hour.
pub const L2_HOURS: &str = "l2_hours";
/// `l2_days`: L2 totals per UTC day.
pub const L2_DAYS: &str = "l2_days";
/// `batch_hours`: batch totals per UTC hour.
pub const BATCH_HOURS: &str = "batch_hours";
/// `batch_days`: batch totals per UTC day.
pub const BATCH_DAYS: &str = "batch_days";
/// `reorgs`: one row per reorg applied on either chain (append-only).
pub const REORGS: &str = "reorgs";
/// `taiko_errors`: one row per undecodable protocol log.
pub const TAIKO_ERRORS: &str = "taiko_errors";

// The outputs, in the order `outputs()` lists them.
/// The [`L1_HEADS`] output.
pub const L1_HEADS_OUT: OutputDef<L1Head> =
    OutputDef::new(L1_HEADS, "one row per canonical L1 block");
/// The [`L2_HEADS`] output.
pub const L2_HEADS_OUT: OutputDef<L2Head> =
    OutputDef::new(L2_HEADS, "one row per canonical Taiko L2 block");
/// The [`BATCHES`] output.
pub const BATCHES_OUT: OutputDef<Batch> = OutputDef::new(
    BATCHES,
    "one row per canonical batch (Pacaya) or proposal (Shasta)",
);
/// The [`BATCH_BLOCKS`] output.
pub const BATCH_BLOCKS_OUT: OutputDef<BatchBlock> = OutputDef::new(
    BATCH_BLOCKS,
    "one row per L2 block of a canonical Pacaya batch",
);
/// The [`BATCH_PROOFS`] output.
pub const BATCH_PROOFS_OUT: OutputDef<BatchProof> =
    OutputDef::new(BATCH_PROOFS, "one row per batch of a canonical proof event");
/// The [`BATCH_VERIFICATIONS`] output.
pub const BATCH_VERIFICATIONS_OUT: OutputDef<BatchVerification> = OutputDef::new(
    BATCH_VERIFICATIONS,
    "one row per canonical verification (Pacaya) or finalizing proof (Shasta)",
);
/// The [`FORCED_INCLUSIONS`] output.
pub const FORCED_INCLUSIONS_OUT: OutputDef<ForcedInclusionRow> = OutputDef::new(
    FORCED_INCLUSIONS,
    "one row per canonical forced-inclusion event",
);
/// The [`SLASHINGS`] output.
pub const SLASHINGS_OUT: OutputDef<Slashing> =
    OutputDef::new(SLASHINGS, "one row per canonical slashing");
/// The [`L1_COSTS`] output.
pub const L1_COSTS_OUT: OutputDef<TxCost> = OutputDef::new(
    L1_COSTS,
    "one row per canonical propose, prove or verify transaction with its L1 cost",
);
/// The [`BATCH_TIMES`] output.
pub const BATCH_TIMES_OUT: OutputDef<BatchTime> = OutputDef::new(
    BATCH_TIMES,
    "per canonical batch: L1 times of proposal, first proof and verification",
);
/// The [`BATCH_L2`] output.
pub const BATCH_L2_OUT: OutputDef<BatchL2> = OutputDef::new(
    BATCH_L2,
    "per canonical batch: gas and fees of its canonical L2 blocks",
);
/// The [`L2_HOURS`] output.
pub const L2_HOURS_OUT: OutputDef<L2Rollup> =
    OutputDef::new(L2_HOURS, "per UTC hour: canonical L2 block totals");
/// The [`L2_DAYS`] output.
pub const L2_DAYS_OUT: OutputDef<L2Rollup> =
    OutputDef::new(L2_DAYS, "per UTC day: canonical L2 block totals")
        .at(Position::TimeBucket("bucket_start", DAY));
/// The [`BATCH_HOURS`] output.
pub const BATCH_HOURS_OUT: OutputDef<BatchRollup> =
    OutputDef::new(BATCH_HOURS, "per UTC hour: canonical batch totals");
/// The [`BATCH_DAYS`] output.
pub const BATCH_DAYS_OUT: OutputDef<BatchRollup> =
    OutputDef::new(BATCH_DAYS, "per UTC day: canonical batch totals")
        .at(Position::TimeBucket("bucket_start", DAY));
/// The [`REORGS`] output.
pub const REORGS_OUT: OutputDef<ReorgRow> = OutputDef::new(
    REORGS,
    "one row per reorg applied on the L1 or the L2 (append-only)",
);
/// The [`TAIKO_ERRORS`] output.
pub const TAIKO_ERRORS_OUT: OutputDef<DecodeErrorRow> = OutputDef::new(
    TAIKO_ERRORS,
    "one row per protocol log that does not decode",
);

/// Seconds of an hour bucket.
pub const HOUR: u64 = 3_600;
/// Seconds of a day bucket.
pub const DAY: u64 = 86_400;

/// `[dataflows.taiko]`: which chains are the L1 and the L2, the beacon clock and the
/// protocol's contracts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaikoConfig {
    /// Chain id of the L1 (1 on mainnet).
    pub l1_chain_id: u64,
    /// Chain id of the Taiko L2 (167000 on mainnet).
    pub l2_chain_id: u64,
    /// Unix time of the L1's beacon slot 0 (mainnet 1606824023), for `l1_heads.slot`.
    pub l1_genesis_time: u64,
    /// Seconds per L1 beacon slot (12).
    pub l1_seconds_per_slot: u64,
    /// The protocol's contracts (mainnet inboxes and anchor by default).
    pub contracts: events::Contracts,
}

impl Default for TaikoConfig {
    fn default() -> Self {
        TaikoConfig {
            l1_chain_id: 1,
            l2_chain_id: 167_000,
            l1_genesis_time: 1_606_824_023,
            l1_seconds_per_slot: 12,
            contracts: events::Contracts::default(),
        }
    }
}

/// The `taiko` dataflow with its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taiko {
    config: TaikoConfig,
}

impl Taiko {
    /// The dataflow for `config`.
    pub fn new(config: TaikoConfig) -> Self {
        Taiko { config }
    }

    /// Its settings.
    pub fn config(&self) -> &TaikoConfig {
        &self.config
    }

    /// The L1 beacon clock.
    pub fn clock(&self) -> SlotClock {
        SlotClock {
            genesis_time: self.config.l1_genesis_time,
            seconds_per_slot: self.config.l1_seconds_per_slot,
        }
    }

    /// The L2 anchor contract.
    pub fn anchor(&self) -> Address {
        self.config.contracts.anchor.unwrap_or(events::L2_ANCHOR)
    }
}

/// The registry's instance: mainnet settings.
pub static DEFAULT: LazyLock<Taiko> = LazyLock::new(|| Taiko::new(TaikoConfig::default()));

/// What the `taiko::BatchTimes` reduce reads per batch: its proposal time, its proofs
/// (first by L1 position) and the time it was verified.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Stage {
    Proposed(u64),
    Proved { block: u64, log: u64, at: u64 },
    Verified(u64),
}

/// What the `taiko::Verified` reduce reads per L1 chain: batch ids proposed and
/// verifications in L1 order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Reach {
    Batch(u64),
    Verification {
        block: u64,
        log: u64,
        up_to: u64,
        at: u64,
    },
}

/// For each proposed batch, the time of the first verification (in L1 order) whose
/// `up_to` reaches it: Pacaya `BatchesVerified(id)` verifies every batch up to `id`, a Shasta
/// `Proved` finalizes up to its last proposal. `input` is sorted: batches, then
/// verifications by position.
fn verified_times(input: &[(&Reach, isize)], output: &mut Vec<((u64, u64), isize)>) {
    // (highest batch verified so far, when it was reached), increasing.
    let mut steps: Vec<(u64, u64)> = Vec::new();
    for (r, n) in input {
        if *n <= 0 {
            continue;
        }
        if let Reach::Verification { up_to, at, .. } = r
            && steps.last().is_none_or(|(top, _)| *up_to > *top)
        {
            steps.push((*up_to, *at));
        }
    }
    for (r, n) in input {
        if let (Reach::Batch(b), true) = (r, *n > 0) {
            let i = steps.partition_point(|(top, _)| top < b);
            if let Some((_, at)) = steps.get(i) {
                output.push(((*b, *at), 1));
            }
        }
    }
}

/// Sums rollups of one bucket, each counted with its multiplicity.
fn merge_rollups<K, R: Clone + Merge>(
    _key: &K,
    input: &[(&R, isize)],
    output: &mut Vec<(R, isize)>,
) {
    let mut acc: Option<R> = None;
    for (r, n) in input {
        for _ in 0..(*n).max(0) {
            match acc.as_mut() {
                Some(a) => a.merge_from(r),
                None => acc = Some((*r).clone()),
            }
        }
    }
    if let Some(a) = acc {
        output.push((a, 1));
    }
}

/// Totals that merge.
trait Merge {
    fn merge_from(&mut self, other: &Self);
}

impl Merge for L2Rollup {
    fn merge_from(&mut self, other: &Self) {
        self.merge(other);
    }
}

impl Merge for BatchRollup {
    fn merge_from(&mut self, other: &Self) {
        self.merge(other);
    }
}

impl Dataflow for Taiko {
    fn name(&self) -> &'static str {
        "taiko"
    }

    fn doc(&self) -> &'static str {
        "Taiko rollup metrics over an L1 and an L2: heads, batches, proofs, verifications, forced inclusions, slashings, costs, prove/verify times, batch L2 sums, rollups, reorgs"
    }

    fn configure(&self, settings: &Settings) -> Result<Option<Box<dyn Dataflow>>, SettingsError> {
        let config: TaikoConfig = parse_settings(self.name(), settings)?;
        Ok(Some(Box::new(Taiko::new(config))))
    }

    fn outputs(&self) -> Vec<OutputSpec> {
        vec![
            L1_HEADS_OUT.spec(),
            L2_HEADS_OUT.spec(),
            BATCHES_OUT.spec(),
            BATCH_BLOCKS_OUT.spec(),
            BATCH_PROOFS_OUT.spec(),
            BATCH_VERIFICATIONS_OUT.spec(),
            FORCED_INCLUSIONS_OUT.spec(),
            SLASHINGS_OUT.spec(),
            L1_COSTS_OUT.spec(),
            BATCH_TIMES_OUT.spec(),
            BATCH_L2_OUT.spec(),
            L2_HOURS_OUT.spec(),
            L2_DAYS_OUT.spec(),
            BATCH_HOURS_OUT.spec(),
            BATCH_DAYS_OUT.spec(),
            REORGS_OUT.spec(),
            TAIKO_ERRORS_OUT.spec(),
        ]
    }

    fn build<'s>(&self, inputs: &Inputs<'s>) -> Vec<Output<'s>> {
        let (l1, l2) = (self.config.l1_chain_id, self.config.l2_chain_id);
        let contracts = self.config.contracts.clone();
        let clock = self.clock();
        let anchor = self.anchor();
        // One pass over the blocks: every per-block row, L2 heads included, as a fact; the
        // facts are then routed by kind (each to one stream, no copies).
        let facts = inputs.blocks().flat_map(move |b| {
            if b.chain_id == l1 {
                l1::l1_facts(&b, &contracts, clock)
            } else if b.chain_id == l2 {
                // On the L2 only the anchor's logs are the protocol's: their errors count.
                let mut f = l1::protocol_facts(&b, &contracts);
                f.retain(|f| matches!(f, Fact::Error(_)));
                f.push(Fact::L2Head(L2Head::of(&b, anchor)));
                f
            } else {
                Vec::new()
            }
        });
        let parts: Vec<Collection<'s, Fact>> = facts
            .inner
            .partition(Fact::KINDS, |(f, t, d)| (f.kind(), (f, t, d)))
            .into_iter()
            .map(|s| s.as_collection())
            .collect();
        // One stream per kind, in kind order (the engine names a dataflow that returns no
        // outputs, should timely ever hand back another count).
        let Ok::<[_; Fact::KINDS as usize], _>(parts) = parts.try_into() else {
            return Vec::new();
        };
        let [
            head_facts,
            batch_facts,
            batch_block_facts,
            proof_facts,
            verification_facts,
            forced_facts,
            slashing_facts,
            cost_facts,
            error_facts,
            l2_head_facts,
        ] = parts;
        let l1_heads = head_facts.flat_map(|f| match f {
            Fact::Head(r) => Some(r),
            _ => None,
        });
        let batches = batch_facts.flat_map(|f| match f {
            Fact::Batch(r) => Some(r),
            _ => None,
        });
        let batch_blocks = batch_block_facts.flat_map(|f| match f {
            Fact::BatchBlock(r) => Some(r),
            _ => None,
        });
        let proofs = proof_facts.flat_map(|f| match f {
            Fact::Proof(r) => Some(r),
            _ => None,
        });
        let verifications = verification_facts.flat_map(|f| match f {
            Fact::Verification(r) => Some(r),
            _ => None,
        });
        let forced = forced_facts.flat_map(|f| match f {
            Fact::Forced(r) => Some(r),
            _ => None,
        });
        let slashings = slashing_facts.flat_map(|f| match f {
            Fact::Slashing(r) => Some(r),
            _ => None,
        });
        let costs = cost_facts.flat_map(|f| match f {
            Fact::Cost(r) => Some(r),
            _ => None,
        });
        let errors = error_facts.flat_map(|f| match f {
            Fact::Error(r) => Some(r),
            _ => None,
        });
        let heads = l2_head_facts.flat_map(|f| match f {
            Fact::L2Head(r) => Some(r),
            _ => None,
        });

        // Prove and verify times, per fork (each fork's inbox numbers its own batches).
        let verified = batches
            .clone()
            .map(|b| ((b.chain_id, b.fork), Reach::Batch(b.batch_id)))
            .concat(verifications.clone().map(|v| {
                (
                    (v.chain_id, v.fork),
                    Reach::Verification {
                        block: v.l1_block_number,
                        log: v.log_index,
                        up_to: v.batch_id,
                        at: v.l1_timestamp,
                    },
                )
            }))
            .reduce_named("taiko::Verified", |_chain_fork, input, output| {
                verified_times(input, output)
            })
            .map(|((chain, fork), (batch, at))| ((chain, fork, batch), Stage::Verified(at)));
        let times = batches
            .clone()
            .map(|b| {
                (
                    (b.chain_id, b.fork, b.batch_id),
                    Stage::Proposed(b.l1_timestamp),
                )
            })
            .concat(proofs.clone().map(|p| {
                (
                    (p.chain_id, p.fork, p.batch_id),
                    Stage::Proved {
                        block: p.l1_block_number,
                        log: p.log_index,
                        at: p.l1_timestamp,
                    },
                )
            }))
            .concat(verified)
            .reduce_named(
                "taiko::BatchTimes",
                |(chain, fork, batch), input, output| {
                    let mut proposed = None;
                    let (mut proved, mut verified) = (0, 0);
                    for (stage, _) in input {
                        match stage {
                            Stage::Proposed(t) => {
                                proposed.get_or_insert(*t);
                            }
                            // Sorted by L1 position: the first is the first proof.
                            Stage::Proved { at, .. } if proved == 0 => proved = *at,
                            Stage::Proved { .. } => {}
                            Stage::Verified(t) => verified = *t,
                        }
                    }
                    if let Some(p) = proposed {
                        output.push((BatchTime::new(*chain, fork, *batch, p, proved, verified), 1));
                    }
                },
            )
            .map(|(_, row)| row);

        // The L2 sums of each batch.
        let batch_l2 = batch_blocks
            .clone()
            .map(|bb| (bb.l2_block_number, (bb.chain_id, bb.batch_id)))
            .join_map(
                heads.clone().map(|h| (h.block_number, h)),
                |_, key, head| (*key, head.clone()),
            )
            .reduce_named("taiko::BatchL2", |&(chain, batch), input, output| {
                let mut row = BatchL2::empty(chain, batch);
                for (head, n) in input {
                    for _ in 0..(*n).max(0) {
                        row.add(head);
                    }
                }
                output.push((row, 1));
            })
            .map(|(_, row)| row);

        // Rollups: hour from blocks, day from hours.
        let l2_hours = heads
            .clone()
            .map(|h| {
                let r = L2Rollup::of(&h, HOUR);
                ((r.chain_id, r.bucket_start), r)
            })
            .reduce_named("taiko::L2PerHour", merge_rollups);
        let l2_days = l2_hours
            .clone()
            .map(|(_, r)| {
                let r = r.rebucket(DAY);
                ((r.chain_id, r.bucket_start), r)
            })
            .reduce_named("taiko::L2PerDay", merge_rollups);
        let batch_hours = batches
            .clone()
            .map(|b| {
                let r = BatchRollup::of(&b, HOUR);
                ((r.chain_id, r.bucket_start), r)
            })
            .reduce_named("taiko::BatchesPerHour", merge_rollups);
        let batch_days = batch_hours
            .clone()
            .map(|(_, r)| {
                let r = r.rebucket(DAY);
                ((r.chain_id, r.bucket_start), r)
            })
            .reduce_named("taiko::BatchesPerDay", merge_rollups);

        let reorgs = inputs
            .reorgs()
            .filter(move |r| r.chain_id == l1 || r.chain_id == l2)
            .map(|r| ReorgRow::from(&r));

        vec![
            L1_HEADS_OUT.rows(l1_heads),
            L2_HEADS_OUT.rows(heads),
            BATCHES_OUT.rows(batches),
            BATCH_BLOCKS_OUT.rows(batch_blocks),
            BATCH_PROOFS_OUT.rows(proofs),
            BATCH_VERIFICATIONS_OUT.rows(verifications),
            FORCED_INCLUSIONS_OUT.rows(forced),
            SLASHINGS_OUT.rows(slashings),
            L1_COSTS_OUT.rows(costs),
            BATCH_TIMES_OUT.rows(times),
            BATCH_L2_OUT.rows(batch_l2),
            L2_HOURS_OUT.mapped(l2_hours, |(_, r)| r),
            L2_DAYS_OUT.mapped(l2_days, |(_, r)| r),
            BATCH_HOURS_OUT.mapped(batch_hours, |(_, r)| r),
            BATCH_DAYS_OUT.mapped(batch_days, |(_, r)| r),
            REORGS_OUT.rows(reorgs),
            TAIKO_ERRORS_OUT.rows(errors),
        ]
    }

    fn enabled_by_default(&self) -> bool {
        false
    }
}
