//! The rollup devnet: a deterministic generator of two chains in one source, an Ethereum L1
//! and a Taiko L2, interleaved in timestamp order.
//!
//! - **L2** (default chain id 167000, a block every 2 s): every block starts with the anchor
//!   transaction (to [`Contracts::anchor`], emitting the fork's `Anchored` log), followed by
//!   ordinary transactions whose effective gas price is above the base fee. The fee recipient
//!   is a sequencer drawn from a small set, so a reorg can change it.
//! - **L1** (default chain id 1, a block every 12 s): a few ordinary transactions plus the
//!   protocol's transactions, their logs ABI-encoded with the `sol!` types of
//!   [`crate::abi::taiko`] and emitted by the configured [`Contracts`]: batch
//!   proposals (Pacaya `BatchProposed` in blob transactions, Shasta `Proposed`), proofs
//!   (`BatchesProved`; `Proved` with the signal service's `CheckpointSaved` in the same
//!   transaction), Pacaya verifications (`BatchesVerified`), forced inclusions (stored some
//!   blocks before they are consumed; a forced Pacaya batch's propose transaction also carries
//!   `ForcedInclusionConsumed` and `ForcedInclusionProcessed`; Shasta `ForcedInclusionSaved`
//!   then a source with `isForcedInclusion`), slashings (Pacaya `Slashed`, Shasta
//!   `LivenessBondSettled` with `slashed > 0`), and now and then a log of a configured contract
//!   with a known topic0 and truncated data, which does not decode.
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

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use alloy_primitives::aliases::{U24, U48};
use alloy_primitives::{Bytes, LogData, U256, keccak256};
use alloy_sol_types::{SolEvent, SolValue};
use serde::{Deserialize, Serialize};

use super::devnet::Rng;
use super::{SourceError, SourceEvent};
use crate::abi::taiko::{Contracts, pacaya, shasta};
use crate::model::fees::{self, BlobParams, GAS_PER_BLOB};
use crate::model::{Address, B256, Block, ChainEvent, Log, Tx, Wei};

/// The protocol fork(s) the rollup devnet emits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RollupFork {
    /// Pacaya only: `BatchProposed`, `BatchesProved`, `BatchesVerified`, Pacaya anchors.
    Pacaya,
    /// Shasta only: `Proposed`, `Proved` + `CheckpointSaved`, Shasta anchors.
    Shasta,
    /// Pacaya, then Shasta from [`RollupDevnetConfig::shasta_activation_l1_block`] (halfway by
    /// default). Pacaya batches proposed before the switch are still proved and verified.
    #[default]
    Both,
}

/// Rollup devnet settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RollupDevnetConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Chain id of the L1.
    pub l1_chain_id: u64,
    /// Chain id of the L2.
    pub l2_chain_id: u64,
    /// Seconds between consecutive L1 blocks.
    pub l1_slot_seconds: u64,
    /// Seconds between consecutive L2 blocks (at most 255: it is a batch's `timeShift`).
    pub l2_slot_seconds: u64,
    /// Timestamp of both genesis blocks (unix seconds).
    pub genesis_timestamp: u64,
    /// Stop once the canonical L1 chain has this many blocks above genesis.
    pub max_l1_blocks: Option<u64>,
    /// Mean number of ordinary transactions per L2 block (the anchor comes on top).
    pub l2_txs_per_block: u32,
    /// Mean number of ordinary transactions per L1 block (the protocol's come on top).
    pub l1_txs_per_block: u32,
    /// Which protocol fork(s) the L1 logs and L2 anchors follow.
    pub fork: RollupFork,
    /// With [`RollupFork::Both`]: the first L1 block of Shasta. `None`: halfway through
    /// `max_l1_blocks`, or block 1000 when unbounded. L2 blocks switch anchors at the same
    /// timestamp.
    pub shasta_activation_l1_block: Option<u64>,
    /// Probability that an L1 step reorgs the L1 tip instead of extending it.
    pub l1_reorg_rate: f64,
    /// Deepest L1 reorg (1 to 64, below `finality_depth`).
    pub l1_reorg_max_depth: u64,
    /// Probability that an L2 step reorgs the L2 tip instead of extending it.
    pub l2_reorg_rate: f64,
    /// Deepest L2 reorg (1 to 64, below `finality_depth`).
    pub l2_reorg_max_depth: u64,
    /// Blocks below each chain's tip that are final: nothing at or below
    /// `tip - finality_depth` is ever reorged.
    pub finality_depth: u64,
    /// Inclusive range of the number of L2 blocks per batch (proposal), drawn per batch.
    pub blocks_per_batch: [u64; 2],
    /// L1 blocks after its proposal before a batch may be proved.
    pub prove_delay_l1_blocks: u64,
    /// L1 blocks after its proof before a Pacaya batch may be verified.
    pub verify_delay_l1_blocks: u64,
    /// Every this many batches one is a forced inclusion (0: never).
    pub forced_inclusion_every: u64,
    /// Probability that an L1 block carries a slashing.
    pub slashing_rate: f64,
    /// Probability that an L1 block carries an undecodable log of a protocol contract.
    pub garbage_log_rate: f64,
    /// Wall-clock pause between events in milliseconds (0: as fast as possible).
    pub block_time_ms: u64,
    /// The protocol's contracts; every role the fork uses must be set (see
    /// [`default_contracts`]).
    pub contracts: Contracts,
}

/// The contracts of the rollup devnet: the mainnet inboxes and anchor
/// ([`Contracts::default`]) and `0xf1…f1` to `0xf5…f5` for the forced-inclusion store, the
/// TaikoWrapper, the preconfirmation slasher, the signal service and the bond manager.
pub fn default_contracts() -> Contracts {
    Contracts {
        forced_inclusion_store: Some(Address::repeat_byte(0xf1)),
        taiko_wrapper: Some(Address::repeat_byte(0xf2)),
        preconf_slasher: Some(Address::repeat_byte(0xf3)),
        signal_service: Some(Address::repeat_byte(0xf4)),
        bond_manager: Some(Address::repeat_byte(0xf5)),
        ..Contracts::default()
    }
}

impl Default for RollupDevnetConfig {
    fn default() -> Self {
        RollupDevnetConfig {
            seed: 42,
            l1_chain_id: 1,
            l2_chain_id: 167_000,
            l1_slot_seconds: 12,
            l2_slot_seconds: 2,
            genesis_timestamp: 1_767_225_600,
            max_l1_blocks: None,
            l2_txs_per_block: 12,
            l1_txs_per_block: 8,
            fork: RollupFork::Both,
            shasta_activation_l1_block: None,
            l1_reorg_rate: 0.02,
            l1_reorg_max_depth: 3,
            l2_reorg_rate: 0.01,
            l2_reorg_max_depth: 4,
            finality_depth: 64,
            blocks_per_batch: [6, 12],
            prove_delay_l1_blocks: 8,
            verify_delay_l1_blocks: 4,
            forced_inclusion_every: 10,
            slashing_rate: 0.01,
            garbage_log_rate: 0.005,
            block_time_ms: 0,
            contracts: default_contracts(),
        }
    }
}

impl RollupDevnetConfig {
    /// Checks the settings, naming the offending key (`rollup_devnet.<key>`) and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, reason: String| Err((format!("rollup_devnet.{key}"), reason));
        if self.l1_chain_id == self.l2_chain_id {
            return bad(
                "l2_chain_id",
                format!("must differ from l1_chain_id ({})", self.l1_chain_id),
            );
        }
        if self.l1_slot_seconds == 0 {
            return bad("l1_slot_seconds", "must be at least 1".into());
        }
        if !(1..=255).contains(&self.l2_slot_seconds) {
            return bad(
                "l2_slot_seconds",
                format!("must be 1 to 255, got {}", self.l2_slot_seconds),
            );
        }
        for (key, depth) in [
            ("l1_reorg_max_depth", self.l1_reorg_max_depth),
            ("l2_reorg_max_depth", self.l2_reorg_max_depth),
        ] {
            if !(1..=64).contains(&depth) {
                return bad(key, format!("must be 1 to 64, got {depth}"));
            }
            if self.finality_depth <= depth {
                return bad(
                    "finality_depth",
                    format!("must exceed {key} ({depth}), got {}", self.finality_depth),
                );
            }
        }
        for (key, v) in [
            ("l1_reorg_rate", self.l1_reorg_rate),
            ("l2_reorg_rate", self.l2_reorg_rate),
            ("slashing_rate", self.slashing_rate),
            ("garbage_log_rate", self.garbage_log_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(key, format!("must be between 0 and 1, got {v}"));
            }
        }
        let [lo, hi] = self.blocks_per_batch;
        if lo == 0 || lo > hi || hi > 1_000 {
            return bad(
                "blocks_per_batch",
                format!("must be [min, max] with 1 <= min <= max <= 1000, got [{lo}, {hi}]"),
            );
        }
        if self.l2_txs_per_block > 10_000 {
            return bad(
                "l2_txs_per_block",
                format!("must be at most 10000, got {}", self.l2_txs_per_block),
            );
        }
        if self.l1_txs_per_block > 1_000 {
            return bad(
                "l1_txs_per_block",
                format!("must be at most 1000, got {}", self.l1_txs_per_block),
            );
        }
        if self.shasta_activation_l1_block == Some(0) {
            return bad("shasta_activation_l1_block", "must be at least 1".into());
        }
        let c = &self.contracts;
        let mut roles = vec![("anchor", c.anchor)];
        if self.fork != RollupFork::Shasta {
            roles.extend([
                ("pacaya_inbox", c.pacaya_inbox),
                ("forced_inclusion_store", c.forced_inclusion_store),
                ("taiko_wrapper", c.taiko_wrapper),
                ("preconf_slasher", c.preconf_slasher),
            ]);
        }
        if self.fork != RollupFork::Pacaya {
            roles.extend([
                ("shasta_inbox", c.shasta_inbox),
                ("signal_service", c.signal_service),
                ("bond_manager", c.bond_manager),
            ]);
        }
        let mut seen: Vec<(&str, Address)> = Vec::new();
        for (role, address) in roles {
            let Some(address) = address else {
                return bad(
                    &format!("contracts.{role}"),
                    format!("must be set: the {:?} fork(s) emit its events", self.fork),
                );
            };
            if let Some((other, _)) = seen.iter().find(|(_, a)| *a == address) {
                return bad(
                    &format!("contracts.{role}"),
                    format!("{address} is also contracts.{other}: roles need distinct addresses"),
                );
            }
            seen.push((role, address));
        }
        Ok(())
    }

    /// The first L1 block whose protocol transactions are Shasta's (`u64::MAX`: never).
    fn activation(&self) -> u64 {
        match self.fork {
            RollupFork::Pacaya => u64::MAX,
            RollupFork::Shasta => 0,
            RollupFork::Both => self
                .shasta_activation_l1_block
                .or(self.max_l1_blocks.map(|m| (m / 2).max(1)))
                .unwrap_or(1_000),
        }
    }
}

/// The fork of one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fork {
    Pacaya,
    Shasta,
}

/// Blob parameters of the L1.
const BLOBS: BlobParams = BlobParams::PRAGUE;
/// Gas limit of L1 blocks.
const L1_GAS_LIMIT: u64 = 36_000_000;
/// Gas limit of L2 blocks (Taiko: 240M plus 1M for the anchor).
const L2_GAS_LIMIT: u64 = 241_000_000;
/// Gas limit of a batch (`BatchInfo.gasLimit`).
const BATCH_GAS_LIMIT: u32 = 240_000_000;
/// The Taiko anchor transaction's sender ("golden touch").
const GOLDEN_TOUCH: Address = Address::new([
    0x00, 0x00, 0x77, 0x77, 0x35, 0x36, 0x7b, 0x36, 0xbc, 0x9b, 0x61, 0xc5, 0x00, 0x22, 0xd9, 0xd0,
    0x70, 0x0d, 0xb4, 0xec,
]);
/// Sender of the transactions that carry an undecodable log.
const GARBAGE_SENDER: Address = Address::repeat_byte(0xee);
/// How many sequencers (and provers) take turns.
const SEQUENCERS: u64 = 3;
/// Proposals per L1 block at most.
const MAX_PROPOSALS_PER_BLOCK: usize = 3;
/// Batches one proof covers at most.
const MAX_BATCHES_PER_PROOF: usize = 10;
/// L2 block facts kept for the L1 side (proposals, proofs), by number.
const L2_INFO_KEEP: u64 = 20_000;

// Address kinds for `addr`.
const SEQUENCER: u64 = 1;
const PROVER: u64 = 2;
const USER: u64 = 3;
const TOKEN: u64 = 4;
const BUILDER: u64 = 5;
const CHALLENGER: u64 = 6;

/// keccak256 of the numbers, big-endian, and the hashes.
fn hash_of(parts: &[u64], hashes: &[B256]) -> B256 {
    let mut buf = Vec::with_capacity(parts.len() * 8 + hashes.len() * 32);
    for p in parts {
        buf.extend_from_slice(&p.to_be_bytes());
    }
    for h in hashes {
        buf.extend_from_slice(h.as_slice());
    }
    keccak256(buf)
}

/// A deterministic address of a kind.
fn addr(seed: u64, kind: u64, i: u64) -> Address {
    Address::from_word(hash_of(&[seed, 0xADD, kind, i], &[]))
}

/// An EIP-4844 versioned hash (first byte 1).
fn versioned_hash(parts: &[u64]) -> B256 {
    let mut h = hash_of(parts, &[]);
    h.0[0] = 0x01;
    h
}

/// A transaction before it gets its position and hash.
struct TxSpec {
    tx_type: u8,
    from: Address,
    to: Option<Address>,
    value: Wei,
    gas_used: u64,
    /// Effective tip per gas (the price is base fee + tip).
    tip: Wei,
    blob_count: u32,
    success: bool,
    logs: Vec<(Address, LogData)>,
}

impl TxSpec {
    /// A successful protocol transaction.
    fn call(from: Address, to: Address, gas_used: u64, tip: Wei) -> TxSpec {
        TxSpec {
            tx_type: 2,
            from,
            to: Some(to),
            value: 0,
            gas_used,
            tip,
            blob_count: 0,
            success: true,
            logs: Vec::new(),
        }
    }

    fn log<E: SolEvent>(mut self, address: Address, event: &E) -> TxSpec {
        self.logs.push((address, event.encode_log_data()));
        self
    }
}

/// Header fields of a block under construction.
struct Header {
    chain_id: u64,
    number: u64,
    branch: u64,
    parent_hash: B256,
    timestamp: u64,
    miner: Address,
    gas_limit: u64,
    base_fee: Wei,
    excess_blob_gas: u64,
    blob_base_fee: Wei,
}

/// Builds a block: positions, hashes, log indices, gas and blob gas sums.
fn assemble(seed: u64, h: Header, specs: Vec<TxSpec>) -> Block {
    let hash = hash_of(
        &[0xB10C, seed, h.chain_id, h.number, h.branch],
        &[h.parent_hash],
    );
    let mut transactions = Vec::with_capacity(specs.len());
    let mut logs = Vec::new();
    let (mut gas_used, mut blobs) = (0u64, 0u64);
    for (i, spec) in specs.into_iter().enumerate() {
        let index = i as u32;
        let tx_hash = hash_of(&[0x7, seed, h.chain_id, h.number, h.branch, i as u64], &[]);
        for (address, data) in spec.logs {
            logs.push(Log {
                tx_index: index,
                log_index: logs.len() as u32,
                tx_hash,
                address,
                topics: data.topics().to_vec(),
                data: data.data.to_vec(),
            });
        }
        let dynamic = spec.tx_type != 0;
        let max_fee = h.base_fee * 2 + spec.tip;
        transactions.push(Tx {
            hash: tx_hash,
            index,
            tx_type: spec.tx_type,
            from: spec.from,
            to: spec.to,
            value: spec.value,
            gas_limit: spec.gas_used + spec.gas_used / 4,
            gas_used: spec.gas_used,
            effective_gas_price: h.base_fee + spec.tip,
            max_fee_per_gas: dynamic.then_some(max_fee),
            max_priority_fee_per_gas: dynamic.then_some(spec.tip),
            max_fee_per_blob_gas: (spec.tx_type == 3).then_some(h.blob_base_fee * 2 + 1),
            blob_count: spec.blob_count,
            success: spec.success,
        });
        gas_used += spec.gas_used;
        blobs += u64::from(spec.blob_count);
    }
    Block {
        chain_id: h.chain_id,
        number: h.number,
        hash,
        parent_hash: h.parent_hash,
        timestamp: h.timestamp,
        miner: h.miner,
        gas_used,
        gas_limit: h.gas_limit,
        base_fee_per_gas: h.base_fee,
        blob_gas_used: blobs * GAS_PER_BLOB,
        excess_blob_gas: h.excess_blob_gas,
        blob_base_fee: h.blob_base_fee,
        transactions,
        logs,
    }
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

    /// A user transaction (legacy or dynamic-fee) with a lognormal tip; a share emit a token
    /// log, a few fail.
    fn ordinary_tx(&mut self, tip_median: f64, contract_logs: bool) -> TxSpec {
        let seed = self.config.seed;
        let rng = &mut self.rng;
        let gas_used = if rng.unit() < 0.4 {
            21_000
        } else {
            21_000 + (rng.lognormal(60_000.0, 1.0) as u64).min(1_500_000)
        };
        let tx_type = if rng.unit() < 0.2 { 0 } else { 2 };
        let tip = (rng.lognormal(tip_median, 1.2).min(1e14) as Wei).max(1);
        let success = rng.unit() < 0.97;
        let from = addr(seed, USER, rng.range(0, 1_999));
        let mut logs = Vec::new();
        let to = if contract_logs && success && rng.unit() < 0.4 {
            let token = addr(seed, TOKEN, rng.range(0, 49));
            let transfer = keccak256("Transfer(address,address,uint256)");
            logs.push((
                token,
                LogData::new_unchecked(
                    vec![
                        transfer,
                        from.into_word(),
                        addr(seed, USER, rng.range(0, 1_999)).into_word(),
                    ],
                    Bytes::from(U256::from(rng.next_u64()).to_be_bytes::<32>().to_vec()),
                ),
            ));
            token
        } else {
            addr(seed, USER, rng.range(0, 1_999))
        };
        TxSpec {
            tx_type,
            from,
            to: Some(to),
            value: Wei::from(rng.next_u64() % 2_000_000_000_000_000_000),
            gas_used,
            tip,
            blob_count: 0,
            success,
            logs,
        }
    }

    /// A new L2 block on top of the L2 tip.
    fn next_l2(&mut self) -> L2Entry {
        let cfg = &self.config;
        let (seed, chain_id, slot) = (cfg.seed, cfg.l2_chain_id, cfg.l2_slot_seconds);
        let (mean_txs, anchor) = (cfg.l2_txs_per_block, cfg.contracts.anchor);
        let parent = &self.l2[self.l2.len() - 1];
        let (parent_hash, parent_number, parent_ts, parent_miner, parent_fee, parent_excess) = (
            parent.block.hash,
            parent.block.number,
            parent.block.timestamp,
            parent.block.miner,
            parent.block.base_fee_per_gas,
            parent.gas_excess,
        );
        let number = parent_number + 1;
        let timestamp = parent_ts + slot;
        let rng = &mut self.rng;
        let miner = if parent_miner != Address::ZERO && rng.unit() < 0.9 {
            parent_miner
        } else {
            addr(seed, SEQUENCER, rng.range(0, SEQUENCERS - 1))
        };
        let base_fee = ((parent_fee as f64 * (0.05 * rng.normal()).exp()) as Wei)
            .clamp(1_000_000, 100_000_000);
        let gas_excess =
            (parent_excess as f64 * (0.01 * rng.normal()).exp()).clamp(1e8, 1e10) as u64;
        let anchor_gas = rng.range(120_000, 180_000);

        let anchor_address = anchor.unwrap_or(Address::ZERO);
        let anchor_tx = TxSpec::call(GOLDEN_TOUCH, anchor_address, anchor_gas, 0);
        let anchor_tx = match self.l2_fork(timestamp) {
            Fork::Pacaya => anchor_tx.log(
                anchor_address,
                &pacaya::Anchored {
                    parentHash: parent_hash,
                    parentGasExcess: parent_excess,
                },
            ),
            Fork::Shasta => {
                let prev = self.anchor_l1(parent_ts);
                let current = self.anchor_l1(timestamp);
                anchor_tx.log(
                    anchor_address,
                    &shasta::Anchored {
                        prevAnchorBlockNumber: U48::from(prev),
                        anchorBlockNumber: U48::from(current),
                        ancestorsHash: hash_of(&[0xA4C, seed, number], &[parent_hash]),
                    },
                )
            }
        };
        let count = if mean_txs == 0 {
            0
        } else {
            self.rng.range(0, 2 * u64::from(mean_txs))
        };
        let mut specs = Vec::with_capacity(count as usize + 1);
        specs.push(anchor_tx);
        for _ in 0..count {
            specs.push(self.ordinary_tx(1e7, true));
        }
        let block = assemble(
            seed,
            Header {
                chain_id,
                number,
                branch: self.l2_branch,
                parent_hash,
                timestamp,
                miner,
                gas_limit: L2_GAS_LIMIT,
                base_fee,
                excess_blob_gas: 0,
                blob_base_fee: 0,
            },
            specs,
        );
        L2Entry { block, gas_excess }
    }

    /// A new L1 block on top of the L1 tip, with the protocol's transactions.
    fn next_l1(&mut self) -> L1Entry {
        let cfg = self.config.clone();
        let c = &cfg.contracts;
        let seed = cfg.seed;
        let parent = &self.l1[self.l1.len() - 1];
        let mut st = parent.protocol.clone();
        let p = &parent.block;
        let (parent_hash, number, timestamp) =
            (p.hash, p.number + 1, p.timestamp + cfg.l1_slot_seconds);
        let excess = fees::next_excess_blob_gas(
            p.excess_blob_gas,
            p.blob_gas_used,
            p.base_fee_per_gas,
            &BLOBS,
        );
        let parent_fee = p.base_fee_per_gas;
        let blob_base_fee = fees::blob_base_fee(excess, &BLOBS);
        let base_fee = ((parent_fee as f64 * (0.04 * self.rng.normal()).exp()) as Wei)
            .clamp(100_000_000, 50_000_000_000);
        let fork = self.l1_fork(number);
        let mut blobs_left = BLOBS.max_blobs;
        let mut protocol: Vec<TxSpec> = Vec::new();
        let tip = |rng: &mut Rng| (rng.lognormal(1e9, 0.8).min(1e12) as Wei).max(1);
        let [lo, hi] = cfg.blocks_per_batch;
        let forced_every = cfg.forced_inclusion_every;

        // A user stores a forced inclusion some batches before it is due.
        let stored_pending = match fork {
            Fork::Pacaya => st.pacaya_forced.is_some(),
            Fork::Shasta => st.shasta_forced.is_some(),
        };
        if forced_every > 0 && !stored_pending && st.batches_since_forced + 3 >= forced_every {
            let user = addr(seed, USER, self.rng.range(0, 1_999));
            let blob_hash = versioned_hash(&[0xF0, seed, number, self.l1_branch]);
            let fee_in_gwei = self.rng.range(1_000_000, 5_000_000);
            let size = self.rng.range(1_000, 100_000) as u32;
            let mut tx = TxSpec {
                tx_type: 3,
                blob_count: 1,
                value: Wei::from(fee_in_gwei) * 1_000_000_000,
                ..TxSpec::call(
                    user,
                    Address::ZERO,
                    self.rng.range(60_000, 90_000),
                    tip(&mut self.rng),
                )
            };
            blobs_left -= 1;
            match fork {
                Fork::Pacaya => {
                    let store = c.forced_inclusion_store.unwrap_or_default();
                    let fi = pacaya::ForcedInclusion {
                        blobHash: blob_hash,
                        feeInGwei: fee_in_gwei,
                        createdAtBatchId: st.next_batch_id,
                        blobByteOffset: 0,
                        blobByteSize: size,
                        blobCreatedIn: number,
                    };
                    tx.to = Some(store);
                    tx = tx.log(
                        store,
                        &pacaya::ForcedInclusionStored {
                            forcedInclusion: fi.clone(),
                        },
                    );
                    st.pacaya_forced = Some((fi, number));
                }
                Fork::Shasta => {
                    let inbox = c.shasta_inbox.unwrap_or_default();
                    let fi = shasta::ForcedInclusion {
                        feeInGwei: fee_in_gwei,
                        blobSlice: shasta::BlobSlice {
                            blobHashes: vec![blob_hash],
                            offset: U24::ZERO,
                            timestamp: U48::from(timestamp),
                        },
                    };
                    tx.to = Some(inbox);
                    tx = tx.log(
                        inbox,
                        &shasta::ForcedInclusionSaved {
                            forcedInclusion: fi.clone(),
                        },
                    );
                    st.shasta_forced = Some((fi, number));
                }
            }
            protocol.push(tx);
        }

        // Proposals of the L2 blocks older than this block, batch by batch.
        let available = (timestamp - cfg.genesis_timestamp - 1) / cfg.l2_slot_seconds;
        let mut first_proposal_tx = None;
        if self.rng.unit() < 0.85 {
            let mut proposals = 0;
            while proposals < MAX_PROPOSALS_PER_BLOCK && blobs_left > 0 {
                let forced_due = forced_every > 0
                    && st.batches_since_forced + 1 >= forced_every
                    && match fork {
                        Fork::Pacaya => st.pacaya_forced.as_ref().is_some_and(|f| f.1 < number),
                        Fork::Shasta => st.shasta_forced.as_ref().is_some_and(|f| f.1 < number),
                    };
                let forced_blocks = u64::from(forced_due);
                if st.next_l2 + forced_blocks + st.next_batch_size - 1 > available {
                    break;
                }
                let n_blobs = self.rng.range(1, 3.min(blobs_left));
                blobs_left -= n_blobs;
                let tx = match fork {
                    Fork::Pacaya => {
                        self.propose_pacaya(&mut st, number, timestamp, forced_due, n_blobs)
                    }
                    Fork::Shasta => {
                        self.propose_shasta(&mut st, number, timestamp, forced_due, n_blobs)
                    }
                };
                if forced_due {
                    st.batches_since_forced = 0;
                } else {
                    st.batches_since_forced += 1;
                }
                st.next_batch_size = self.rng.range(lo, hi);
                first_proposal_tx.get_or_insert(protocol.len());
                protocol.push(tx);
                proposals += 1;
            }
        }

        // Proofs of the batches proposed long enough ago (not always at the first chance).
        let prover = addr(seed, PROVER, self.rng.range(0, SEQUENCERS - 1));
        let due = |at: u64| at + cfg.prove_delay_l1_blocks <= number;
        let mut proof_tx = None;
        if st.pacaya_unproved.front().is_some_and(|b| due(b.at)) && self.rng.unit() < 0.7 {
            let mut batches = Vec::new();
            while batches.len() < MAX_BATCHES_PER_PROOF
                && st.pacaya_unproved.front().is_some_and(|b| due(b.at))
            {
                if let Some(b) = st.pacaya_unproved.pop_front() {
                    batches.push(b);
                }
            }
            let inbox = c.pacaya_inbox.unwrap_or_default();
            let event = pacaya::BatchesProved {
                verifier: addr(seed, PROVER, 100),
                batchIds: batches.iter().map(|b| b.id).collect(),
                transitions: batches
                    .iter()
                    .map(|b| pacaya::Transition {
                        parentHash: self.l2_hash(b.first_block - 1),
                        blockHash: self.l2_hash(b.last_block),
                        stateRoot: hash_of(&[0x5700, seed, b.last_block], &[]),
                    })
                    .collect(),
            };
            let gas = 250_000 + 40_000 * batches.len() as u64;
            proof_tx = Some(protocol.len());
            protocol.push(TxSpec::call(prover, inbox, gas, tip(&mut self.rng)).log(inbox, &event));
            for mut b in batches {
                b.at = number;
                st.pacaya_unverified.push_back(b);
            }
        }
        if st
            .shasta_unproved
            .front()
            .is_some_and(|p| due(p.proposed_at))
            && self.rng.unit() < 0.7
        {
            let mut proposals = Vec::new();
            while proposals.len() < MAX_BATCHES_PER_PROOF
                && st
                    .shasta_unproved
                    .front()
                    .is_some_and(|p| due(p.proposed_at))
            {
                if let Some(p) = st.shasta_unproved.pop_front() {
                    proposals.push(p);
                }
            }
            if let (Some(first), Some(last)) = (proposals.first(), proposals.last()) {
                let inbox = c.shasta_inbox.unwrap_or_default();
                let signal = c.signal_service.unwrap_or_default();
                // Now and then a proof also covers the last already finalized proposal.
                let covered = if first.id > 1 && self.rng.unit() < 0.3 {
                    first.id - 1
                } else {
                    first.id
                };
                let checkpoint = shasta::CheckpointSaved {
                    blockNumber: U48::from(last.last_block),
                    blockHash: self.l2_hash(last.last_block),
                    stateRoot: hash_of(&[0x5700, seed, last.last_block], &[]),
                };
                let proved = shasta::Proved {
                    firstProposalId: U48::from(covered),
                    firstNewProposalId: U48::from(first.id),
                    lastProposalId: U48::from(last.id),
                    actualProver: prover,
                };
                let gas = 300_000 + 20_000 * proposals.len() as u64;
                protocol.push(
                    TxSpec::call(prover, inbox, gas, tip(&mut self.rng))
                        .log(signal, &checkpoint)
                        .log(inbox, &proved),
                );
            }
        }

        // Pacaya verification of the batches proved long enough ago, in a proposal or proof
        // transaction when this block has one.
        let verify_due = |at: u64| at + cfg.verify_delay_l1_blocks <= number;
        let mut verified = None;
        while st
            .pacaya_unverified
            .front()
            .is_some_and(|b| verify_due(b.at))
        {
            verified = st.pacaya_unverified.pop_front();
        }
        if let Some(b) = verified {
            let inbox = c.pacaya_inbox.unwrap_or_default();
            let event = pacaya::BatchesVerified {
                batchId: b.id,
                blockHash: self.l2_hash(b.last_block),
            };
            match first_proposal_tx
                .filter(|_| fork == Fork::Pacaya)
                .or(proof_tx)
            {
                Some(i) => protocol[i].logs.push((inbox, event.encode_log_data())),
                None => {
                    let from = addr(seed, SEQUENCER, self.rng.range(0, SEQUENCERS - 1));
                    protocol.push(
                        TxSpec::call(from, inbox, 120_000, tip(&mut self.rng)).log(inbox, &event),
                    );
                }
            }
        }

        // A slashing.
        if self.rng.unit() < cfg.slashing_rate {
            let from = addr(seed, CHALLENGER, self.rng.range(0, 9));
            let culprit = addr(seed, SEQUENCER, self.rng.range(0, SEQUENCERS - 1));
            match fork {
                Fork::Pacaya => {
                    let slasher = c.preconf_slasher.unwrap_or_default();
                    let l2_block = st.next_l2.saturating_sub(1);
                    let event = pacaya::Slashed {
                        committer: culprit,
                        violationType: self.rng.range(0, 2) as u8,
                        commitmentPayload: pacaya::CommitmentPayload {
                            domainSeparator: hash_of(&[0xD0, seed], &[]),
                            chainId: U256::from(cfg.l2_chain_id),
                            preconferSlotTimestamp: U256::from(timestamp - cfg.l1_slot_seconds),
                            anchorId: U256::from(number.saturating_sub(3)),
                            anchorHash: self.l1_hash(number.saturating_sub(3)).unwrap_or_default(),
                            batchId: U256::from(st.next_batch_id.saturating_sub(1)),
                            blockHash: self.l2_hash(l2_block),
                            eop: self.rng.unit() < 0.5,
                        },
                        slashAmount: U256::from(self.rng.range(1, 10))
                            * U256::from(100_000_000_000_000_000u64),
                    };
                    protocol.push(
                        TxSpec::call(from, slasher, 180_000, tip(&mut self.rng))
                            .log(slasher, &event),
                    );
                }
                Fork::Shasta => {
                    let bonds = c.bond_manager.unwrap_or_default();
                    let bond = 125_000_000_000u64;
                    let slashed = if self.rng.unit() < 0.5 {
                        bond
                    } else {
                        bond / 2
                    };
                    let event = shasta::LivenessBondSettled {
                        payer: culprit,
                        payee: prover,
                        livenessBond: bond,
                        credited: bond - slashed,
                        slashed,
                    };
                    protocol.push(
                        TxSpec::call(from, bonds, 90_000, tip(&mut self.rng)).log(bonds, &event),
                    );
                }
            }
        }

        // Now and then a protocol contract's log that does not decode (truncated data).
        if self.rng.unit() < cfg.garbage_log_rate {
            let (address, mut data) = match fork {
                Fork::Pacaya => {
                    let inbox = c.pacaya_inbox.unwrap_or_default();
                    let event = pacaya::BatchesVerified {
                        batchId: st.next_batch_id,
                        blockHash: B256::repeat_byte(0xee),
                    };
                    (inbox, event.encode_log_data())
                }
                Fork::Shasta => {
                    let inbox = c.shasta_inbox.unwrap_or_default();
                    let event = shasta::Proved {
                        firstProposalId: U48::from(st.next_proposal_id),
                        firstNewProposalId: U48::from(st.next_proposal_id),
                        lastProposalId: U48::from(st.next_proposal_id),
                        actualProver: prover,
                    };
                    (inbox, event.encode_log_data())
                }
            };
            let keep = self.rng.range(1, data.data.len() as u64 - 1) as usize;
            data.data = Bytes::from(data.data[..keep].to_vec());
            let mut tx = TxSpec::call(GARBAGE_SENDER, address, 50_000, tip(&mut self.rng));
            tx.logs.push((address, data));
            protocol.push(tx);
        }

        // Ordinary transactions around the protocol's.
        let mean = u64::from(cfg.l1_txs_per_block);
        let count = self.rng.range(mean / 2, mean + mean / 2);
        let mut specs = Vec::with_capacity(count as usize + protocol.len());
        for _ in 0..count {
            specs.push(self.ordinary_tx(1e9, true));
        }
        let at = self.rng.range(0, count) as usize;
        specs.splice(at..at, protocol);
        let miner = addr(seed, BUILDER, self.rng.range(0, 9));
        let block = assemble(
            seed,
            Header {
                chain_id: cfg.l1_chain_id,
                number,
                branch: self.l1_branch,
                parent_hash,
                timestamp,
                miner,
                gas_limit: L1_GAS_LIMIT,
                base_fee,
                excess_blob_gas: excess,
                blob_base_fee,
            },
            specs,
        );
        L1Entry {
            block,
            protocol: st,
        }
    }

    /// The blob hashes of a proposal.
    fn blob_hashes(&self, number: u64, id: u64, n: u64) -> Vec<B256> {
        (0..n)
            .map(|i| versioned_hash(&[0xB10B, self.config.seed, number, self.l1_branch, id, i]))
            .collect()
    }

    /// A Pacaya proposal transaction (through the TaikoWrapper): the forced batch first when
    /// one is due (`ForcedInclusionConsumed`, its `BatchProposed`, `ForcedInclusionProcessed`),
    /// then the normal batch.
    fn propose_pacaya(
        &mut self,
        st: &mut Protocol,
        number: u64,
        timestamp: u64,
        forced_due: bool,
        n_blobs: u64,
    ) -> TxSpec {
        let c = &self.config.contracts;
        let (inbox, wrapper, store) = (
            c.pacaya_inbox.unwrap_or_default(),
            c.taiko_wrapper.unwrap_or_default(),
            c.forced_inclusion_store.unwrap_or_default(),
        );
        let seed = self.config.seed;
        let last_normal = st.next_l2 + u64::from(forced_due) + st.next_batch_size - 1;
        let proposer = self
            .l2_info
            .get(&last_normal)
            .map_or_else(|| addr(seed, SEQUENCER, 0), |i| i.sequencer);
        let gas = 150_000 + 60_000 * st.next_batch_size + 40_000 * n_blobs;
        let mut tx = TxSpec {
            tx_type: 3,
            blob_count: n_blobs as u32,
            ..TxSpec::call(proposer, wrapper, gas, 0)
        };
        tx.tip = (self.rng.lognormal(1.5e9, 0.6).min(1e12) as Wei).max(1);
        if forced_due && let Some((fi, _)) = st.pacaya_forced.take() {
            tx.gas_used += 120_000;
            tx = tx.log(
                store,
                &pacaya::ForcedInclusionConsumed {
                    forcedInclusion: fi.clone(),
                },
            );
            let proposed = self.pacaya_batch(st, number, timestamp, 1, proposer, Some(&fi), 0);
            tx = tx.log(inbox, &proposed).log(
                wrapper,
                &pacaya::ForcedInclusionProcessed {
                    forcedInclusion: fi,
                },
            );
        }
        let size = st.next_batch_size;
        let proposed = self.pacaya_batch(st, number, timestamp, size, proposer, None, n_blobs);
        tx.log(inbox, &proposed)
    }

    /// One Pacaya `BatchProposed` of the next `size` L2 blocks; advances the state.
    #[allow(clippy::too_many_arguments)]
    fn pacaya_batch(
        &mut self,
        st: &mut Protocol,
        number: u64,
        timestamp: u64,
        size: u64,
        proposer: Address,
        forced: Option<&pacaya::ForcedInclusion>,
        n_blobs: u64,
    ) -> pacaya::BatchProposed {
        let seed = self.config.seed;
        let slot = self.config.l2_slot_seconds as u8;
        let (first, last) = (st.next_l2, st.next_l2 + size - 1);
        let id = st.next_batch_id;
        let blocks = (first..=last)
            .map(|m| {
                let txs = self.l2_info.get(&m).map_or(0, |i| i.txs);
                pacaya::BlockParams {
                    numTransactions: txs,
                    timeShift: if m == first { 0 } else { slot },
                    signalSlots: if self.rng.unit() < 0.03 {
                        vec![hash_of(&[0x5107, seed, m], &[])]
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect();
        let (blob_hashes, offset, size_bytes, created_in) = match forced {
            Some(fi) => (
                vec![fi.blobHash],
                fi.blobByteOffset,
                fi.blobByteSize,
                fi.blobCreatedIn,
            ),
            None => (
                self.blob_hashes(number, id, n_blobs),
                0,
                self.rng.range(10_000, n_blobs * 126_976) as u32,
                number,
            ),
        };
        let anchor_id = number.saturating_sub(self.rng.range(1, 4));
        let info = pacaya::BatchInfo {
            txsHash: hash_of(&[0x7A5, seed, number, self.l1_branch, id], &[]),
            blocks,
            blobHashes: blob_hashes,
            extraData: B256::with_last_byte(50),
            coinbase: proposer,
            proposedIn: number,
            blobCreatedIn: created_in,
            blobByteOffset: offset,
            blobByteSize: size_bytes,
            gasLimit: BATCH_GAS_LIMIT,
            lastBlockId: last,
            lastBlockTimestamp: self.l2_info.get(&last).map_or(0, |i| i.timestamp),
            anchorBlockId: anchor_id,
            anchorBlockHash: self.l1_hash(anchor_id).unwrap_or_default(),
            baseFeeConfig: pacaya::BaseFeeConfig {
                adjustmentQuotient: 8,
                sharingPctg: 75,
                gasIssuancePerSecond: 5_000_000,
                minGasExcess: 1_340_000_000,
                maxGasIssuancePerBlock: 600_000_000,
            },
        };
        let meta = pacaya::BatchMetadata {
            infoHash: keccak256(info.abi_encode()),
            proposer,
            batchId: id,
            proposedAt: timestamp,
        };
        st.pacaya_unproved.push_back(PacayaBatch {
            id,
            at: number,
            first_block: first,
            last_block: last,
        });
        st.next_batch_id += 1;
        st.next_l2 = last + 1;
        pacaya::BatchProposed {
            info,
            meta,
            txList: Bytes::new(),
        }
    }

    /// A Shasta proposal transaction to the inbox: one `Proposed` whose sources are the
    /// forced inclusion (when due) and the proposer's blobs.
    fn propose_shasta(
        &mut self,
        st: &mut Protocol,
        number: u64,
        timestamp: u64,
        forced_due: bool,
        n_blobs: u64,
    ) -> TxSpec {
        let seed = self.config.seed;
        let inbox = self.config.contracts.shasta_inbox.unwrap_or_default();
        let id = st.next_proposal_id;
        let last = st.next_l2 + u64::from(forced_due) + st.next_batch_size - 1;
        let proposer = self
            .l2_info
            .get(&last)
            .map_or_else(|| addr(seed, SEQUENCER, 0), |i| i.sequencer);
        let mut sources = Vec::new();
        if forced_due && let Some((fi, _)) = st.shasta_forced.take() {
            sources.push(shasta::DerivationSource {
                isForcedInclusion: true,
                blobSlice: fi.blobSlice,
            });
        }
        sources.push(shasta::DerivationSource {
            isForcedInclusion: false,
            blobSlice: shasta::BlobSlice {
                blobHashes: self.blob_hashes(number, id, n_blobs),
                offset: U24::from(self.rng.range(0, 4_096)),
                timestamp: U48::from(timestamp),
            },
        });
        let event = shasta::Proposed {
            id: U48::from(id),
            proposer,
            parentProposalHash: st.parent_proposal_hash,
            endOfSubmissionWindowTimestamp: U48::from(timestamp + 4 * self.config.l1_slot_seconds),
            basefeeSharingPctg: 75,
            sources,
        };
        let data = event.encode_log_data();
        st.parent_proposal_hash = keccak256(&data.data);
        st.shasta_unproved.push_back(ShastaProposal {
            id,
            proposed_at: number,
            last_block: last,
        });
        st.next_proposal_id += 1;
        st.next_l2 = last + 1;
        let gas = 120_000 + 30_000 * n_blobs + if forced_due { 80_000 } else { 0 };
        let mut tx = TxSpec {
            tx_type: 3,
            blob_count: n_blobs as u32,
            ..TxSpec::call(proposer, inbox, gas, 0)
        };
        tx.tip = (self.rng.lognormal(1.5e9, 0.6).min(1e12) as Wei).max(1);
        tx.logs.push((inbox, data));
        tx
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::abi::taiko::TaikoEvent;

    fn config(seed: u64, max_l1_blocks: u64) -> RollupDevnetConfig {
        RollupDevnetConfig {
            seed,
            max_l1_blocks: Some(max_l1_blocks),
            ..RollupDevnetConfig::default()
        }
    }

    fn run(cfg: RollupDevnetConfig) -> Vec<SourceEvent> {
        RollupDevnet::new(cfg)
            .unwrap()
            .map(|e| e.unwrap())
            .collect()
    }

    /// The canonical chains after applying `events`, checking every event on the way.
    #[derive(Default)]
    struct Chains {
        l1: Vec<Block>,
        l2: Vec<Block>,
        l1_reorgs: usize,
        l2_reorgs: usize,
        /// L2 heights whose sequencer a reorg changed.
        sequencer_changes: usize,
    }

    fn apply(cfg: &RollupDevnetConfig, events: &[SourceEvent]) -> Chains {
        let mut chains = Chains::default();
        let mut finalized = BTreeMap::from([(cfg.l1_chain_id, 0u64), (cfg.l2_chain_id, 0u64)]);
        let mut last_time = 0;
        for e in events {
            assert!(e.caught_up);
            assert_eq!(e.epoch, None);
            let new = e.event.new_blocks();
            assert!(!new.is_empty());
            let chain_id = new[0].chain_id;
            let (chain, reorgs) = if chain_id == cfg.l1_chain_id {
                (&mut chains.l1, &mut chains.l1_reorgs)
            } else {
                assert_eq!(chain_id, cfg.l2_chain_id);
                (&mut chains.l2, &mut chains.l2_reorgs)
            };
            let old = e.event.old();
            if !old.is_empty() {
                *reorgs += 1;
                assert!(old[0].number > finalized[&chain_id], "reorg below finality");
                let tail = chain.split_off(chain.len() - old.len());
                assert_eq!(tail, old, "a reorg removes exactly the canonical tail");
                assert_eq!(new.len(), old.len() + 1);
                for (o, n) in old.iter().zip(new) {
                    assert_eq!(o.number, n.number);
                    assert_ne!(o.hash, n.hash, "a new branch has new hashes");
                    if chain_id == cfg.l2_chain_id && o.miner != n.miner {
                        chains.sequencer_changes += 1;
                    }
                }
            }
            if let Some(parent) = chain.last() {
                assert_eq!(new[0].parent_hash, parent.hash);
            }
            chain.extend(new.iter().cloned());
            let tip = chain.last().unwrap().number;
            assert_eq!(
                e.finalized,
                Some((chain_id, tip.saturating_sub(cfg.finality_depth)))
            );
            finalized.insert(chain_id, tip.saturating_sub(cfg.finality_depth));
            // Events come in timestamp order of the blocks that were due.
            let due = new.last().unwrap().timestamp;
            assert!(due >= last_time, "events out of timestamp order");
            last_time = due;
        }
        chains
    }

    fn check_links(chain: &[Block]) {
        assert_eq!(chain[0].number, 1);
        for w in chain.windows(2) {
            assert_eq!(w[1].number, w[0].number + 1);
            assert_eq!(w[1].parent_hash, w[0].hash);
            assert!(w[1].timestamp > w[0].timestamp);
        }
    }

    fn check_block(block: &Block) {
        assert_eq!(
            block.gas_used,
            block.transactions.iter().map(|t| t.gas_used).sum::<u64>()
        );
        assert!(block.gas_used <= block.gas_limit);
        for (i, tx) in block.transactions.iter().enumerate() {
            assert_eq!(tx.index as usize, i);
            assert!(tx.effective_gas_price >= block.base_fee_per_gas);
            assert_eq!(tx.blob_count > 0, tx.tx_type == 3);
        }
        assert_eq!(
            block.blob_gas_used,
            block
                .transactions
                .iter()
                .map(|t| u64::from(t.blob_count))
                .sum::<u64>()
                * GAS_PER_BLOB
        );
        for (i, log) in block.logs.iter().enumerate() {
            assert_eq!(log.log_index as usize, i);
            let tx = &block.transactions[log.tx_index as usize];
            assert_eq!(log.tx_hash, tx.hash);
            assert!(tx.success, "a failed transaction has no logs");
        }
        assert!(
            block
                .logs
                .windows(2)
                .all(|w| w[0].tx_index <= w[1].tx_index)
        );
    }

    fn all_blocks(events: &[SourceEvent]) -> impl Iterator<Item = &Block> {
        events
            .iter()
            .flat_map(|e| e.event.old().iter().chain(e.event.new_blocks()))
    }

    fn kind(e: &TaikoEvent) -> &'static str {
        match e {
            TaikoEvent::BatchProposed(_) => "BatchProposed",
            TaikoEvent::BatchesProved(_) => "BatchesProved",
            TaikoEvent::BatchesVerified(_) => "BatchesVerified",
            TaikoEvent::ForcedInclusionStored(_) => "ForcedInclusionStored",
            TaikoEvent::ForcedInclusionConsumed(_) => "ForcedInclusionConsumed",
            TaikoEvent::ForcedInclusionProcessed(_) => "ForcedInclusionProcessed",
            TaikoEvent::Slashed(_) => "Slashed",
            TaikoEvent::PacayaAnchored(_) => "PacayaAnchored",
            TaikoEvent::Proposed(_) => "Proposed",
            TaikoEvent::Proved(_) => "Proved",
            TaikoEvent::ForcedInclusionSaved(_) => "ForcedInclusionSaved",
            TaikoEvent::CheckpointSaved(_) => "CheckpointSaved",
            TaikoEvent::LivenessBondSettled(_) => "LivenessBondSettled",
            TaikoEvent::ShastaAnchored(_) => "ShastaAnchored",
        }
    }

    fn roles(c: &Contracts) -> BTreeSet<Address> {
        [
            c.pacaya_inbox,
            c.forced_inclusion_store,
            c.taiko_wrapper,
            c.preconf_slasher,
            c.shasta_inbox,
            c.signal_service,
            c.bond_manager,
            c.anchor,
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    #[test]
    fn same_seed_gives_same_events() {
        let a = run(config(7, 150));
        let b = run(config(7, 150));
        let c = run(config(8, 150));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn canonical_chains_link_and_both_reorg() {
        let cfg = config(3, 500);
        let events = run(cfg.clone());
        let chains = apply(&cfg, &events);
        assert!(chains.l1_reorgs >= 1, "no L1 reorg");
        assert!(chains.l2_reorgs >= 1, "no L2 reorg");
        assert!(
            chains.sequencer_changes >= 1,
            "no reorg changed a sequencer"
        );
        assert_eq!(chains.l1.len(), 500);
        check_links(&chains.l1);
        check_links(&chains.l2);
        // The L2 runs six times as fast and stops with the L1.
        assert_eq!(chains.l2.len() as u64, 500 * 6 + 5);
        for block in all_blocks(&events) {
            check_block(block);
        }
    }

    #[test]
    fn every_protocol_log_decodes_except_the_garbage() {
        let cfg = RollupDevnetConfig {
            slashing_rate: 0.05,
            garbage_log_rate: 0.05,
            forced_inclusion_every: 5,
            ..config(5, 600)
        };
        let events = run(cfg.clone());
        let roles = roles(&cfg.contracts);
        let (mut garbage, mut kinds) = (0, BTreeSet::new());
        for block in all_blocks(&events) {
            for log in &block.logs {
                let tx = &block.transactions[log.tx_index as usize];
                let decoded = cfg.contracts.decode(log);
                if tx.from == GARBAGE_SENDER {
                    assert!(decoded.is_err(), "garbage decoded: {log:?}");
                    garbage += 1;
                } else if roles.contains(&log.address) {
                    let event = decoded.unwrap().expect("a protocol log is a Taiko event");
                    kinds.insert(kind(&event));
                } else {
                    assert_eq!(decoded.unwrap(), None);
                }
            }
        }
        assert!(garbage > 0, "no garbage log");
        let expected: BTreeSet<&str> = [
            "BatchProposed",
            "BatchesProved",
            "BatchesVerified",
            "ForcedInclusionStored",
            "ForcedInclusionConsumed",
            "ForcedInclusionProcessed",
            "Slashed",
            "PacayaAnchored",
            "Proposed",
            "Proved",
            "ForcedInclusionSaved",
            "CheckpointSaved",
            "LivenessBondSettled",
            "ShastaAnchored",
        ]
        .into_iter()
        .collect();
        assert_eq!(kinds, expected);
    }

    #[test]
    fn protocol_is_consistent_on_the_canonical_l1() {
        let cfg = RollupDevnetConfig {
            l1_reorg_rate: 0.1,
            forced_inclusion_every: 4,
            ..config(9, 600)
        };
        let events = run(cfg.clone());
        // Orphaned L1 blocks carried proposals: the new branches re-proposed them.
        let orphaned_proposals = events
            .iter()
            .flat_map(|e| e.event.old())
            .flat_map(|b| &b.logs)
            .filter(|l| {
                matches!(
                    cfg.contracts.decode(l),
                    Ok(Some(TaikoEvent::BatchProposed(_) | TaikoEvent::Proposed(_)))
                )
            })
            .count();
        assert!(orphaned_proposals > 0);
        let chains = apply(&cfg, &events);
        let l2_tip = chains.l2.last().unwrap().number;
        let c = &cfg.contracts;

        let (mut next_batch, mut next_l2, mut proved, mut verified) = (1u64, 1u64, 0u64, 0u64);
        let mut pacaya_stored = BTreeSet::new();
        let mut forced_batches = 0;
        let (mut next_proposal, mut shasta_proved) = (1u64, 0u64);
        let mut parent_proposal_hash = None;
        let mut shasta_saved = BTreeSet::new();
        let mut shasta_forced = 0;
        let mut shasta_checkpoints = 0;
        for block in &chains.l1 {
            for tx in &block.transactions {
                let logs: Vec<&Log> = block
                    .logs
                    .iter()
                    .filter(|l| l.tx_index == tx.index)
                    .collect();
                let decoded: Vec<TaikoEvent> = logs
                    .iter()
                    .filter_map(|l| c.decode(l).ok().flatten())
                    .collect();
                let consumed = decoded
                    .iter()
                    .filter(|e| matches!(e, TaikoEvent::ForcedInclusionConsumed(_)))
                    .count();
                let processed = decoded
                    .iter()
                    .filter(|e| matches!(e, TaikoEvent::ForcedInclusionProcessed(_)))
                    .count();
                assert_eq!(consumed, processed);
                let mut batches_in_tx = Vec::new();
                for (i, event) in decoded.iter().enumerate() {
                    match event {
                        TaikoEvent::BatchProposed(p) => {
                            assert_eq!(p.meta.batchId, next_batch, "batch ids are consecutive");
                            next_batch += 1;
                            let first = p.info.lastBlockId + 1 - p.info.blocks.len() as u64;
                            assert_eq!(first, next_l2, "batches cover the L2 blocks in order");
                            next_l2 = p.info.lastBlockId + 1;
                            assert!(p.info.lastBlockId <= l2_tip);
                            let last = &chains.l2[p.info.lastBlockId as usize - 1];
                            assert_eq!(last.number, p.info.lastBlockId);
                            assert_eq!(p.info.lastBlockTimestamp, last.timestamp);
                            assert!(last.timestamp < block.timestamp);
                            assert_eq!(p.meta.proposer, tx.from);
                            assert_eq!(p.info.proposedIn, block.number);
                            assert_eq!(p.meta.infoHash, keccak256(p.info.abi_encode()));
                            assert_eq!(tx.tx_type, 3);
                            assert!((1..=3).contains(&p.info.blobHashes.len()));
                            batches_in_tx.push(p);
                        }
                        TaikoEvent::ForcedInclusionStored(s) => {
                            pacaya_stored.insert(s.forcedInclusion.blobHash);
                        }
                        TaikoEvent::ForcedInclusionConsumed(f) => {
                            let fi = &f.forcedInclusion;
                            assert!(pacaya_stored.remove(&fi.blobHash), "consumed unstored");
                            // Consumed, the forced batch, processed, then the normal batch.
                            let Some(TaikoEvent::BatchProposed(forced)) = decoded.get(i + 1) else {
                                panic!("no forced batch after the consumption");
                            };
                            assert_eq!(forced.info.blobHashes, vec![fi.blobHash]);
                            assert!(matches!(
                                decoded.get(i + 2),
                                Some(TaikoEvent::ForcedInclusionProcessed(_))
                            ));
                            forced_batches += 1;
                        }
                        TaikoEvent::BatchesProved(p) => {
                            assert_eq!(p.batchIds.len(), p.transitions.len());
                            for id in &p.batchIds {
                                assert_eq!(*id, proved + 1, "proofs follow the proposals");
                                proved = *id;
                            }
                            assert!(proved < next_batch, "proof of an unproposed batch");
                        }
                        TaikoEvent::BatchesVerified(v) => {
                            assert!(v.batchId > verified && v.batchId <= proved);
                            verified = v.batchId;
                        }
                        TaikoEvent::Proposed(p) => {
                            assert_eq!(p.id, U48::from(next_proposal));
                            next_proposal += 1;
                            assert_eq!(p.proposer, tx.from);
                            assert_eq!(tx.tx_type, 3);
                            if let Some(h) = parent_proposal_hash {
                                assert_eq!(p.parentProposalHash, h);
                            }
                            parent_proposal_hash = Some(keccak256(&logs[i].data));
                            for s in &p.sources {
                                if s.isForcedInclusion {
                                    let h = s.blobSlice.blobHashes[0];
                                    assert!(shasta_saved.remove(&h), "forced source unsaved");
                                    shasta_forced += 1;
                                }
                            }
                            let normal = p.sources.last().unwrap();
                            assert!(!normal.isForcedInclusion);
                            assert_eq!(tx.blob_count as usize, normal.blobSlice.blobHashes.len());
                        }
                        TaikoEvent::ForcedInclusionSaved(s) => {
                            shasta_saved.insert(s.forcedInclusion.blobSlice.blobHashes[0]);
                        }
                        TaikoEvent::Proved(p) => {
                            let first_new = p.firstNewProposalId.to::<u64>();
                            let first = p.firstProposalId.to::<u64>();
                            let last = p.lastProposalId.to::<u64>();
                            assert_eq!(first_new, shasta_proved + 1);
                            assert!(first == first_new || first + 1 == first_new);
                            assert!(last >= first_new && last < next_proposal);
                            shasta_proved = last;
                            assert_eq!(p.actualProver, tx.from);
                            assert!(
                                decoded
                                    .iter()
                                    .any(|e| matches!(e, TaikoEvent::CheckpointSaved(_))),
                                "Proved without CheckpointSaved in its transaction"
                            );
                            shasta_checkpoints += 1;
                        }
                        _ => {}
                    }
                }
                if let Some(last) = batches_in_tx.last() {
                    assert_eq!(tx.blob_count as usize, last.info.blobHashes.len());
                }
            }
        }
        assert!(
            next_batch > 10 && proved > 5 && verified > 2,
            "{next_batch} {proved} {verified}"
        );
        assert!(forced_batches > 0 && shasta_forced > 0);
        assert!(next_proposal > 10 && shasta_proved > 5 && shasta_checkpoints > 0);
    }

    #[test]
    fn every_l2_block_starts_with_the_anchor() {
        let cfg = config(11, 300);
        let events = run(cfg.clone());
        let anchor = cfg.contracts.anchor.unwrap();
        let sequencers: BTreeSet<Address> = (0..SEQUENCERS)
            .map(|i| addr(cfg.seed, SEQUENCER, i))
            .collect();
        let (mut pacaya, mut shasta) = (0, 0);
        for block in all_blocks(&events).filter(|b| b.chain_id == cfg.l2_chain_id) {
            let first = &block.transactions[0];
            assert_eq!(first.to, Some(anchor));
            assert_eq!(first.from, GOLDEN_TOUCH);
            assert!(block.transactions[1..].iter().all(|t| t.to != Some(anchor)));
            assert!(
                block.transactions[1..]
                    .iter()
                    .all(|t| t.effective_gas_price > block.base_fee_per_gas)
            );
            assert!(sequencers.contains(&block.miner));
            let log = &block.logs[0];
            assert_eq!((log.tx_index, log.address), (0, anchor));
            match cfg.contracts.decode(log).unwrap() {
                Some(TaikoEvent::PacayaAnchored(a)) => {
                    assert_eq!(a.parentHash, block.parent_hash);
                    pacaya += 1;
                }
                Some(TaikoEvent::ShastaAnchored(a)) => {
                    assert!(a.anchorBlockNumber >= a.prevAnchorBlockNumber);
                    shasta += 1;
                }
                other => panic!("not an anchor: {other:?}"),
            }
        }
        assert!(pacaya > 0 && shasta > 0, "{pacaya} {shasta}");
    }

    #[test]
    fn single_fork_profiles_emit_only_their_fork() {
        for (fork, foreign) in [
            (
                RollupFork::Pacaya,
                ["Proposed", "Proved", "CheckpointSaved", "ShastaAnchored"],
            ),
            (
                RollupFork::Shasta,
                [
                    "BatchProposed",
                    "BatchesProved",
                    "BatchesVerified",
                    "PacayaAnchored",
                ],
            ),
        ] {
            let cfg = RollupDevnetConfig {
                fork,
                ..config(13, 200)
            };
            let events = run(cfg.clone());
            let kinds: BTreeSet<&str> = all_blocks(&events)
                .flat_map(|b| &b.logs)
                .filter_map(|l| cfg.contracts.decode(l).ok().flatten())
                .map(|e| kind(&e))
                .collect();
            for k in foreign {
                assert!(!kinds.contains(k), "{fork:?} emitted {k}");
            }
            assert!(kinds.len() >= 4, "{fork:?}: {kinds:?}");
        }
    }

    #[test]
    fn invalid_settings_name_the_key() {
        let cases = [
            (
                RollupDevnetConfig {
                    l2_chain_id: 1,
                    ..RollupDevnetConfig::default()
                },
                "rollup_devnet.l2_chain_id",
            ),
            (
                RollupDevnetConfig {
                    l1_reorg_max_depth: 64,
                    ..RollupDevnetConfig::default()
                },
                "rollup_devnet.finality_depth",
            ),
            (
                RollupDevnetConfig {
                    blocks_per_batch: [8, 4],
                    ..RollupDevnetConfig::default()
                },
                "rollup_devnet.blocks_per_batch",
            ),
            (
                RollupDevnetConfig {
                    slashing_rate: 1.5,
                    ..RollupDevnetConfig::default()
                },
                "rollup_devnet.slashing_rate",
            ),
            (
                RollupDevnetConfig {
                    contracts: Contracts {
                        bond_manager: None,
                        ..default_contracts()
                    },
                    ..RollupDevnetConfig::default()
                },
                "rollup_devnet.contracts.bond_manager",
            ),
            (
                RollupDevnetConfig {
                    contracts: Contracts {
                        taiko_wrapper: default_contracts().pacaya_inbox,
                        ..default_contracts()
                    },
                    ..RollupDevnetConfig::default()
                },
                "rollup_devnet.contracts.taiko_wrapper",
            ),
        ];
        for (cfg, key) in cases {
            let err = RollupDevnet::new(cfg).err().unwrap().to_string();
            assert!(err.contains(key), "{err}");
        }
        // A Pacaya-only profile needs no Shasta contracts.
        let cfg = RollupDevnetConfig {
            fork: RollupFork::Pacaya,
            contracts: Contracts {
                shasta_inbox: None,
                signal_service: None,
                bond_manager: None,
                ..default_contracts()
            },
            ..RollupDevnetConfig::default()
        };
        assert!(RollupDevnet::new(cfg).is_ok());
    }
}
