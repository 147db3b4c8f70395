//! The rollup devnet: a deterministic generator of two chains in one source, an Ethereum L1
//! and a Taiko L2, interleaved in timestamp order.
//!
//! - **L2** (default chain id 167000, a block every 2 s): every block starts with the anchor
//!   transaction (to [`Contracts::anchor`](crate::abi::taiko::Contracts::anchor), emitting
//!   the fork's `Anchored` log), followed by ordinary transactions whose effective gas price
//!   is above the base fee. The fee recipient is a sequencer drawn from a small set, so a
//!   reorg can change it.
//! - **L1** (default chain id 1, a block every 12 s): a few ordinary transactions plus the
//!   protocol's transactions, their logs ABI-encoded with the `sol!` types of
//!   [`crate::abi::taiko`] and emitted by the configured
//!   [`Contracts`](crate::abi::taiko::Contracts): batch proposals (Pacaya `BatchProposed` in
//!   blob transactions, Shasta `Proposed`), proofs (`BatchesProved`; `Proved` with the
//!   signal service's `CheckpointSaved` in the same transaction), Pacaya verifications
//!   (`BatchesVerified`), forced inclusions (stored some blocks before they are consumed; a
//!   forced Pacaya batch's propose transaction also carries `ForcedInclusionConsumed` and
//!   `ForcedInclusionProcessed`; Shasta `ForcedInclusionSaved` then a source with
//!   `isForcedInclusion`), slashings (Pacaya `Slashed`, Shasta `LivenessBondSettled` with
//!   `slashed > 0`), and now and then a log of a configured contract with a known topic0 and
//!   truncated data, which does not decode.
//!
//! Both chains reorg independently, never at or below their finalized height. An L1 reorg
//! regenerates the orphaned heights from the protocol state saved with the fork point, so the
//! canonical L1 chain always tells a consistent story: batch ids are consecutive, proofs and
//! verifications name batches proposed earlier on the canonical chain, while a proposal of an
//! orphaned block may land elsewhere in the new branch or later. An L2 reorg regenerates L2
//! blocks (perhaps with another sequencer); batches already proposed keep naming their L2
//! blocks by number, as on Taiko.
//!
//! The same seed and settings give the same events, hashes included.

mod blocks;
mod config;
mod l1;
mod l2;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use alloy_primitives::aliases::{U24, U48};
use alloy_primitives::{Bytes, LogData, U256, keccak256};
use alloy_sol_types::{SolEvent, SolValue};

use super::devnet::Rng;
use super::{SourceError, SourceEvent};
use crate::abi::taiko::{pacaya, shasta};
use crate::model::fees::{self, BlobParams, GAS_PER_BLOB};
use crate::model::{Address, B256, Block, ChainEvent, Log, Tx, Wei};

use self::blocks::*;
pub use self::config::{RollupDevnetConfig, RollupFork, default_contracts};

/// The fork of one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fork {
    Pacaya,
    Shasta,
}

/// A Pacaya batch awaiting its proof or verification.
#[derive(Clone, Debug)]
struct PacayaBatch {
    id: u64,
    /// L1 block of the proposal (then of the proof, once proved).
    at: u64,
    first_block: u64,
    last_block: u64,
}

/// A Shasta proposal awaiting its proof.
#[derive(Clone, Debug)]
struct ShastaProposal {
    id: u64,
    proposed_at: u64,
    last_block: u64,
}

/// The protocol's state after an L1 block: what the next L1 block builds on. A reorg restores
/// the state of the fork point.
#[derive(Clone, Debug)]
struct Protocol {
    /// First L2 block not proposed yet.
    next_l2: u64,
    /// L2 blocks of the next (normal) batch.
    next_batch_size: u64,
    /// Normal batches since the last forced one.
    batches_since_forced: u64,
    next_batch_id: u64,
    pacaya_unproved: VecDeque<PacayaBatch>,
    pacaya_unverified: VecDeque<PacayaBatch>,
    /// A stored forced inclusion and the L1 block that stored it.
    pacaya_forced: Option<(pacaya::ForcedInclusion, u64)>,
    next_proposal_id: u64,
    parent_proposal_hash: B256,
    shasta_unproved: VecDeque<ShastaProposal>,
    shasta_forced: Option<(shasta::ForcedInclusion, u64)>,
}

/// A canonical L1 block with the protocol state after it.
struct L1Entry {
    block: Block,
    protocol: Protocol,
}

/// A canonical L2 block with its anchor's gas excess.
struct L2Entry {
    block: Block,
    gas_excess: u64,
}

/// What the L1 side knows of a canonical L2 block.
#[derive(Clone, Copy, Debug)]
struct L2Info {
    hash: B256,
    /// Ordinary transactions (the anchor excluded).
    txs: u16,
    timestamp: u64,
    sequencer: Address,
}

/// Which chain an event is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    L1,
    L2,
}

/// The rollup devnet generator: an iterator of [`SourceEvent`]s of both chains.
pub struct RollupDevnet {
    config: RollupDevnetConfig,
    activation: u64,
    rng: Rng,
    /// Canonical L1 blocks from the oldest that can still be reorged (or genesis).
    l1: Vec<L1Entry>,
    /// Canonical L2 blocks from the oldest that can still be reorged (or genesis).
    l2: Vec<L2Entry>,
    /// Recent canonical L2 blocks by number.
    l2_info: BTreeMap<u64, L2Info>,
    l1_branch: u64,
    l2_branch: u64,
    pause: Duration,
    started: bool,
}

impl RollupDevnet {
    /// A generator for `config`; fails on invalid settings, naming the key.
    pub fn new(config: RollupDevnetConfig) -> Result<Self, SourceError> {
        config
            .validate()
            .map_err(|(key, reason)| SourceError::Invalid {
                chain_id: config.l1_chain_id,
                what: format!("rollup devnet setting '{key}'"),
                reason,
            })?;
        let genesis = |chain_id: u64, gas_limit: u64, base_fee: Wei| Block {
            chain_id,
            number: 0,
            hash: hash_of(&[0x6E5, config.seed, chain_id], &[]),
            parent_hash: B256::ZERO,
            timestamp: config.genesis_timestamp,
            miner: Address::ZERO,
            gas_used: 0,
            gas_limit,
            base_fee_per_gas: base_fee,
            blob_gas_used: 0,
            excess_blob_gas: 0,
            blob_base_fee: if chain_id == config.l1_chain_id {
                fees::blob_base_fee(0, &BLOBS)
            } else {
                0
            },
            transactions: Vec::new(),
            logs: Vec::new(),
        };
        let mut rng = Rng::new(config.seed ^ 0x0011_D2A0_1100_0001);
        let [lo, hi] = config.blocks_per_batch;
        let protocol = Protocol {
            next_l2: 1,
            next_batch_size: rng.range(lo, hi),
            batches_since_forced: 0,
            next_batch_id: 1,
            pacaya_unproved: VecDeque::new(),
            pacaya_unverified: VecDeque::new(),
            pacaya_forced: None,
            next_proposal_id: 1,
            parent_proposal_hash: hash_of(&[0x9A0, config.seed], &[]),
            shasta_unproved: VecDeque::new(),
            shasta_forced: None,
        };
        let l1_genesis = genesis(config.l1_chain_id, L1_GAS_LIMIT, 1_000_000_000);
        let l2_genesis = genesis(config.l2_chain_id, L2_GAS_LIMIT, 10_000_000);
        let mut l2_info = BTreeMap::new();
        l2_info.insert(
            0,
            L2Info {
                hash: l2_genesis.hash,
                txs: 0,
                timestamp: l2_genesis.timestamp,
                sequencer: Address::ZERO,
            },
        );
        Ok(RollupDevnet {
            activation: config.activation(),
            pause: Duration::from_millis(config.block_time_ms),
            rng,
            l1: vec![L1Entry {
                block: l1_genesis,
                protocol,
            }],
            l2: vec![L2Entry {
                block: l2_genesis,
                gas_excess: 1_340_000_000,
            }],
            l2_info,
            l1_branch: 0,
            l2_branch: 0,
            config,
            started: false,
        })
    }

    /// The settings.
    pub fn config(&self) -> &RollupDevnetConfig {
        &self.config
    }

    /// The canonical L1 tip.
    pub fn l1_tip(&self) -> &Block {
        // The window always holds at least the genesis block.
        &self.l1[self.l1.len() - 1].block
    }

    /// The canonical L2 tip.
    pub fn l2_tip(&self) -> &Block {
        &self.l2[self.l2.len() - 1].block
    }

    /// The finalized height of the L1: `tip - finality_depth`.
    pub fn l1_finalized(&self) -> u64 {
        self.l1_tip()
            .number
            .saturating_sub(self.config.finality_depth)
    }

    /// The finalized height of the L2: `tip - finality_depth`.
    pub fn l2_finalized(&self) -> u64 {
        self.l2_tip()
            .number
            .saturating_sub(self.config.finality_depth)
    }

    /// Produces the next event (of the chain whose next block is due first, the L1 on a
    /// tie), or `None` once `max_l1_blocks` is reached.
    pub fn step(&mut self) -> Option<SourceEvent> {
        let l1_next = self.l1_tip().timestamp + self.config.l1_slot_seconds;
        let l2_next = self.l2_tip().timestamp + self.config.l2_slot_seconds;
        let side = if l1_next <= l2_next {
            if self
                .config
                .max_l1_blocks
                .is_some_and(|max| self.l1_tip().number >= max)
            {
                return None;
            }
            Side::L1
        } else {
            Side::L2
        };
        let event = self.advance(side);
        let finalized = match side {
            Side::L1 => (self.config.l1_chain_id, self.l1_finalized()),
            Side::L2 => (self.config.l2_chain_id, self.l2_finalized()),
        };
        Some(SourceEvent {
            event,
            finalized: Some(finalized),
            caught_up: true,
            epoch: None,
        })
    }

    /// One block on `side`, or a reorg of its tip that also adds the block that was due.
    fn advance(&mut self, side: Side) -> ChainEvent {
        let (tip, len, rate, max_depth) = match side {
            Side::L1 => (
                self.l1_tip().number,
                self.l1.len(),
                self.config.l1_reorg_rate,
                self.config.l1_reorg_max_depth,
            ),
            Side::L2 => (
                self.l2_tip().number,
                self.l2.len(),
                self.config.l2_reorg_rate,
                self.config.l2_reorg_max_depth,
            ),
        };
        // The new branch is one block longer than the orphaned one, so the finalized height
        // after the event moves by one: `depth < finality_depth` keeps the orphaned blocks
        // above it (validated: `max_depth < finality_depth`).
        let reorgable = max_depth.min(tip).min(len as u64 - 1);
        let depth = if reorgable > 0 && self.rng.unit() < rate {
            self.rng.range(1, reorgable)
        } else {
            0
        };
        let keep = self.config.finality_depth as usize + 1;
        match side {
            Side::L1 => {
                let old: Vec<Block> = self
                    .l1
                    .split_off(self.l1.len() - depth as usize)
                    .into_iter()
                    .map(|e| e.block)
                    .collect();
                if depth > 0 {
                    self.l1_branch += 1;
                }
                let mut new = Vec::with_capacity(depth as usize + 1);
                for _ in 0..=depth {
                    let entry = self.next_l1();
                    new.push(entry.block.clone());
                    self.l1.push(entry);
                }
                if self.l1.len() > keep {
                    self.l1.drain(..self.l1.len() - keep);
                }
                event(old, new)
            }
            Side::L2 => {
                let old: Vec<Block> = self
                    .l2
                    .split_off(self.l2.len() - depth as usize)
                    .into_iter()
                    .map(|e| e.block)
                    .collect();
                if depth > 0 {
                    self.l2_branch += 1;
                }
                let mut new = Vec::with_capacity(depth as usize + 1);
                for _ in 0..=depth {
                    let entry = self.next_l2();
                    let b = &entry.block;
                    self.l2_info.insert(
                        b.number,
                        L2Info {
                            hash: b.hash,
                            txs: (b.transactions.len().saturating_sub(1)).min(65_535) as u16,
                            timestamp: b.timestamp,
                            sequencer: b.miner,
                        },
                    );
                    new.push(entry.block.clone());
                    self.l2.push(entry);
                }
                if self.l2.len() > keep {
                    self.l2.drain(..self.l2.len() - keep);
                }
                let tip = self.l2_tip().number;
                if tip > L2_INFO_KEEP {
                    self.l2_info = self.l2_info.split_off(&(tip - L2_INFO_KEEP));
                }
                event(old, new)
            }
        }
    }

    /// The fork of the L1 block `number`.
    fn l1_fork(&self, number: u64) -> Fork {
        if number >= self.activation {
            Fork::Shasta
        } else {
            Fork::Pacaya
        }
    }

    /// The fork of an L2 block by its timestamp: Shasta from the activation block's time.
    fn l2_fork(&self, timestamp: u64) -> Fork {
        let activation_time = self.activation.saturating_mul(self.config.l1_slot_seconds);
        if timestamp.saturating_sub(self.config.genesis_timestamp) >= activation_time {
            Fork::Shasta
        } else {
            Fork::Pacaya
        }
    }

    /// The L1 block a new L2 block at `timestamp` anchors to: two blocks behind the latest L1
    /// block at or before it.
    fn anchor_l1(&self, timestamp: u64) -> u64 {
        (timestamp.saturating_sub(self.config.genesis_timestamp) / self.config.l1_slot_seconds)
            .saturating_sub(2)
    }

    /// The hash of canonical L1 block `number` when still in the window.
    fn l1_hash(&self, number: u64) -> Option<B256> {
        let first = self.l1.first()?.block.number;
        let i = usize::try_from(number.checked_sub(first)?).ok()?;
        self.l1.get(i).map(|e| e.block.hash)
    }

    /// The hash of canonical L2 block `number` (a stand-in when no longer known).
    fn l2_hash(&self, number: u64) -> B256 {
        self.l2_info.get(&number).map_or_else(
            || hash_of(&[0x12B, self.config.seed, number], &[]),
            |i| i.hash,
        )
    }
}

/// `Committed` when nothing is orphaned, else `Reorged`.
fn event(old: Vec<Block>, new: Vec<Block>) -> ChainEvent {
    if old.is_empty() {
        ChainEvent::Committed { new }
    } else {
        ChainEvent::Reorged { old, new }
    }
}

impl Iterator for RollupDevnet {
    type Item = Result<SourceEvent, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.started && !self.pause.is_zero() {
            std::thread::sleep(self.pause);
        }
        self.started = true;
        self.step().map(Ok)
    }
}
