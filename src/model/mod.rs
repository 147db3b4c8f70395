//! Plain data: blocks, transactions with their receipt fields, logs, chain events and the
//! ingest epoch. No I/O lives here.
//!
//! A [`ChainEvent`] is what a source hands the engine. The engine applies every event at one
//! [`Epoch`]: the blocks an event removes leave the input collection with diff -1 and the
//! blocks it adds enter with +1, so a sink never sees half a reorg.

pub mod fees;
pub mod serde_fmt;
#[cfg(test)]
pub(crate) mod testing;

use serde::{Deserialize, Serialize};

pub use alloy_primitives::{Address, B256, U256};

/// The dataflow timestamp: an ingest epoch, strictly increasing across a run and across
/// restarts. It is not a block number: a block number can come back with another hash.
pub type Epoch = u64;

/// The multiplicity change of a record in a collection (`+1` enters, `-1` leaves).
pub type Diff = isize;

/// An EIP-155 chain id.
pub type ChainId = u64;

/// An amount of wei. Amounts and sums of amounts exceed `u64`, so they are exact `u128`.
pub type Wei = u128;

/// One block with its transactions (receipt fields included) and its logs.
///
/// Field order matters: the derived `Ord` compares the chain, number and hash first, which is
/// what the engine's consolidation sorts by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Block {
    /// Chain the block belongs to.
    pub chain_id: ChainId,
    /// Height of the block.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Hash of the parent block.
    pub parent_hash: B256,
    /// Unix timestamp in seconds.
    pub timestamp: u64,
    /// Fee recipient.
    pub miner: Address,
    /// Gas used by all transactions.
    pub gas_used: u64,
    /// Gas limit of the block.
    pub gas_limit: u64,
    /// EIP-1559 base fee per gas (0 before London).
    #[serde(with = "serde_fmt::wei")]
    pub base_fee_per_gas: Wei,
    /// EIP-4844 blob gas used (0 before Cancun).
    pub blob_gas_used: u64,
    /// EIP-4844 excess blob gas (0 before Cancun).
    pub excess_blob_gas: u64,
    /// Blob base fee per blob gas derived from `excess_blob_gas` with the chain's blob
    /// parameters (0 before Cancun). Headers do not carry it; the source computes it.
    #[serde(with = "serde_fmt::wei")]
    pub blob_base_fee: Wei,
    /// Transactions in block order.
    pub transactions: Vec<Tx>,
    /// Logs in block order.
    pub logs: Vec<Log>,
}

/// A transaction with the receipt fields the metrics need.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Tx {
    /// Transaction hash.
    pub hash: B256,
    /// Position in the block.
    pub index: u32,
    /// EIP-2718 type: 0 legacy, 1 access list, 2 dynamic fee, 3 blob, 4 set-code.
    pub tx_type: u8,
    /// Sender.
    pub from: Address,
    /// Recipient, `None` for contract creation.
    pub to: Option<Address>,
    /// Value transferred in wei.
    #[serde(with = "serde_fmt::wei")]
    pub value: Wei,
    /// Gas limit of the transaction.
    pub gas_limit: u64,
    /// Receipt: gas used by the transaction.
    pub gas_used: u64,
    /// Receipt: price per gas actually paid (base fee plus effective tip).
    #[serde(with = "serde_fmt::wei")]
    pub effective_gas_price: Wei,
    /// EIP-1559 fee cap (`None` for legacy and access-list transactions).
    #[serde(with = "serde_fmt::opt_wei")]
    pub max_fee_per_gas: Option<Wei>,
    /// EIP-1559 tip cap (`None` for legacy and access-list transactions).
    #[serde(with = "serde_fmt::opt_wei")]
    pub max_priority_fee_per_gas: Option<Wei>,
    /// EIP-4844 fee cap per blob gas (`None` unless a blob transaction).
    #[serde(with = "serde_fmt::opt_wei")]
    pub max_fee_per_blob_gas: Option<Wei>,
    /// Number of blobs carried (0 unless a blob transaction).
    pub blob_count: u32,
    /// Receipt status: `true` when the transaction succeeded.
    pub success: bool,
}

impl Tx {
    /// Effective tip per gas paid to the block producer: `effective_gas_price - base_fee`,
    /// never negative.
    pub fn effective_tip(&self, base_fee_per_gas: Wei) -> Wei {
        fees::effective_tip(self.effective_gas_price, base_fee_per_gas)
    }
}

/// An event log emitted by a transaction.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Log {
    /// Index of the emitting transaction in the block.
    pub tx_index: u32,
    /// Index of the log in the block.
    pub log_index: u32,
    /// Hash of the emitting transaction.
    pub tx_hash: B256,
    /// Emitting contract.
    pub address: Address,
    /// Indexed topics, topic0 first.
    pub topics: Vec<B256>,
    /// Unindexed data.
    #[serde(with = "serde_fmt::hex_bytes")]
    pub data: Vec<u8>,
}

/// A change of the canonical chain, in reth's words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainEvent {
    /// New blocks extend the canonical tip, oldest first.
    Committed {
        /// The added blocks.
        new: Vec<Block>,
    },
    /// The blocks `old` left the canonical chain and `new` replaced them, oldest first.
    Reorged {
        /// The orphaned blocks.
        old: Vec<Block>,
        /// The new branch.
        new: Vec<Block>,
    },
    /// The blocks `old` left the canonical chain with no replacement, oldest first.
    Reverted {
        /// The removed blocks.
        old: Vec<Block>,
    },
}

impl ChainEvent {
    /// Every block this event adds or removes with its diff: `-1` for removed blocks, `+1` for
    /// added ones.
    pub fn into_updates(self) -> impl Iterator<Item = (Block, Diff)> {
        let (old, new) = match self {
            ChainEvent::Committed { new } => (Vec::new(), new),
            ChainEvent::Reorged { old, new } => (old, new),
            ChainEvent::Reverted { old } => (old, Vec::new()),
        };
        old.into_iter()
            .map(|b| (b, -1))
            .chain(new.into_iter().map(|b| (b, 1)))
    }

    /// The blocks this event removes.
    pub fn old(&self) -> &[Block] {
        match self {
            ChainEvent::Committed { .. } => &[],
            ChainEvent::Reorged { old, .. } | ChainEvent::Reverted { old } => old,
        }
    }

    /// The blocks this event adds.
    pub fn new_blocks(&self) -> &[Block] {
        match self {
            ChainEvent::Committed { new } | ChainEvent::Reorged { new, .. } => new,
            ChainEvent::Reverted { .. } => &[],
        }
    }

    /// Reorg depth: how many canonical blocks this event removes (0 for a commit).
    pub fn depth(&self) -> usize {
        self.old().len()
    }

    /// Short kind name: `committed`, `reorged` or `reverted`.
    pub fn kind(&self) -> &'static str {
        match self {
            ChainEvent::Committed { .. } => "committed",
            ChainEvent::Reorged { .. } => "reorged",
            ChainEvent::Reverted { .. } => "reverted",
        }
    }
}

/// A reorg as the engine applied it: which chain, at which epoch, how deep, and the tips
/// before and after. A fact about ingestion (the blocks it names are gone), so dataflows that
/// record reorgs keep these rows forever ([`crate::engine::dataflow::Position::Log`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Reorg {
    /// Chain id.
    pub chain_id: ChainId,
    /// The epoch the reorg was applied at.
    pub epoch: Epoch,
    /// Canonical blocks removed.
    pub depth: u64,
    /// Height of the tip before.
    pub old_tip_number: u64,
    /// Hash of the tip before.
    pub old_tip_hash: B256,
    /// Beneficiary of the tip before.
    pub old_sequencer: Address,
    /// Height of the tip after.
    pub new_tip_number: u64,
    /// Hash of the tip after.
    pub new_tip_hash: B256,
    /// Beneficiary of the tip after (zero for a revert: the new tip is a block already held).
    pub new_sequencer: Address,
}

impl Reorg {
    /// The reorg `event` is, applied at `epoch`; `None` for a commit (or an empty event).
    pub fn of(event: &ChainEvent, epoch: Epoch) -> Option<Reorg> {
        let old = event.old();
        let (first, old_tip) = (old.first()?, old.last()?);
        let (new_tip_number, new_tip_hash, new_sequencer) = match event.new_blocks().last() {
            Some(tip) => (tip.number, tip.hash, tip.miner),
            // A revert: the new tip is the parent of the first removed block.
            None => (
                first.number.saturating_sub(1),
                first.parent_hash,
                Address::ZERO,
            ),
        };
        Some(Reorg {
            chain_id: old_tip.chain_id,
            epoch,
            depth: old.len() as u64,
            old_tip_number: old_tip.number,
            old_tip_hash: old_tip.hash,
            old_sequencer: old_tip.miner,
            new_tip_number,
            new_tip_hash,
            new_sequencer,
        })
    }
}
