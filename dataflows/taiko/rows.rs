//! The row types of the `taiko` outputs other than `l2_heads` ([`super::l2::L2Head`]).
//!
//! Each row type is a struct deriving [`Row`]: its columns (name, type and doc), its key and
//! its position come from the struct, so the sink schema cannot drift from it.

use serde::{Deserialize, Serialize};

use crate::engine::dataflow::Row;
use crate::model::{Address, B256, Wei};

/// One row of `l1_heads`: a canonical L1 block.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = block(block_number))]
pub struct L1Head {
    /// L1 chain id
    #[row(key)]
    pub chain_id: u64,
    /// L1 block height
    #[row(key)]
    pub block_number: u64,
    /// L1 block hash
    pub block_hash: B256,
    /// beacon slot: (timestamp - genesis time) / slot seconds
    pub slot: u64,
    /// block time
    #[row(timestamp)]
    pub timestamp: u64,
}

/// One row of `batches`: a batch (Pacaya) or proposal (Shasta) proposed on L1.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = block(l1_block_number))]
pub struct Batch {
    /// L1 chain id
    #[row(key)]
    pub chain_id: u64,
    /// pacaya or shasta (each fork's inbox numbers its own batches)
    #[row(key)]
    pub fork: String,
    /// batch id (Pacaya) or proposal id (Shasta)
    #[row(key)]
    pub batch_id: u64,
    /// L1 block of the proposal
    pub l1_block_number: u64,
    /// proposing transaction
    pub l1_tx_hash: B256,
    /// L1 block time of the proposal
    #[row(timestamp)]
    pub l1_timestamp: u64,
    /// proposer
    pub proposer: Address,
    /// L2 blocks in the batch (0 for Shasta: derived on L2)
    pub block_count: u64,
    /// last L2 block of the batch (0 for Shasta)
    pub last_block_id: u64,
    /// blobs carrying the batch's data
    pub blob_count: u64,
    /// bytes of blob data (Pacaya blobByteSize; Shasta: blobs x 131072)
    pub blob_bytes: u64,
    /// 1 when the batch includes a forced inclusion
    pub forced_inclusion: u64,
}

/// One row of `batch_blocks`: an L2 block of a Pacaya batch.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = block(l1_block_number))]
pub struct BatchBlock {
    /// L1 chain id
    #[row(key)]
    pub chain_id: u64,
    /// batch id
    #[row(key)]
    pub batch_id: u64,
    /// L2 block height
    #[row(key)]
    pub l2_block_number: u64,
    /// L1 block of the proposal
    pub l1_block_number: u64,
}

/// One row of `batch_proofs`: a batch proved by one proof event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = block(l1_block_number))]
pub struct BatchProof {
    /// L1 chain id
    #[row(key)]
    pub chain_id: u64,
    /// L1 block of the proof
    #[row(key)]
    pub l1_block_number: u64,
    /// log of the proof event in its block
    #[row(key)]
    pub log_index: u64,
    /// batch or proposal id proved
    #[row(key)]
    pub batch_id: u64,
    /// pacaya or shasta
    pub fork: String,
    /// verifier (Pacaya) or actual prover (Shasta)
    pub prover: Address,
    /// transition parent hash (Pacaya; zero for Shasta)
    pub parent_hash: B256,
    /// transition block hash (Pacaya; zero for Shasta)
    pub block_hash: B256,
    /// transition state root (Pacaya; zero for Shasta)
    pub state_root: B256,
    /// proving transaction
    pub l1_tx_hash: B256,
    /// L1 block time of the proof
    #[row(timestamp)]
    pub l1_timestamp: u64,
}

/// One row of `batch_verifications`: batches verified (Pacaya `BatchesVerified`: every
/// batch up to `batch_id`) or finalized (Shasta `Proved`: `first_batch_id..=batch_id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = block(l1_block_number))]
pub struct BatchVerification {
    /// L1 chain id
    #[row(key)]
    pub chain_id: u64,
    /// L1 block of the verification
    #[row(key)]
    pub l1_block_number: u64,
    /// log of the event in its block
    #[row(key)]
    pub log_index: u64,
    /// pacaya or shasta
    pub fork: String,
    /// first batch newly verified (Shasta; 0 for Pacaya: every unverified batch up to batch_id)
    pub first_batch_id: u64,
    /// last batch verified
    pub batch_id: u64,
    /// verified L2 block hash (Pacaya) or the checkpoint saved in the same transaction (Shasta)
    pub block_hash: B256,
    /// verifying transaction
    pub l1_tx_hash: B256,
    /// L1 block time of the verification
    #[row(timestamp)]
    pub l1_timestamp: u64,
}

/// One row of `forced_inclusions`: a forced inclusion stored, consumed or processed
/// (Pacaya) or saved (Shasta).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = block(l1_block_number))]
pub struct ForcedInclusionRow {
    /// L1 chain id
    #[row(key)]
    pub chain_id: u64,
    /// L1 block of the event
    #[row(key)]
    pub l1_block_number: u64,
    /// log of the event in its block
    #[row(key)]
    pub log_index: u64,
    /// stored, consumed, processed (Pacaya) or saved (Shasta)
    pub kind: String,
    /// pacaya or shasta
    pub fork: String,
    /// first blob hash of the inclusion
    pub blob_hash: B256,
    /// fee paid, in gwei
    pub fee_in_gwei: u64,
    /// batch id when stored (Pacaya; 0 for Shasta)
    pub created_at_batch_id: u64,
    /// transaction
    pub l1_tx_hash: B256,
    /// L1 block time
    #[row(timestamp)]
    pub l1_timestamp: u64,
}

/// One row of `slashings`: a preconfirmer slashed (Pacaya `Slashed`) or a liveness bond
/// settled with a slashed amount (Shasta `LivenessBondSettled`, `slashed > 0`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = block(l1_block_number))]
pub struct Slashing {
    /// L1 chain id
    #[row(key)]
    pub chain_id: u64,
    /// L1 block of the event
    #[row(key)]
    pub l1_block_number: u64,
    /// log of the event in its block
    #[row(key)]
    pub log_index: u64,
    /// preconfirmation (Pacaya) or liveness_bond (Shasta)
    pub kind: String,
    /// committer (Pacaya) or payer (Shasta)
    pub offender: Address,
    /// payee (Shasta; zero for Pacaya)
    pub beneficiary: Address,
    /// Pacaya violation: 0 invalid preconfirmation, 1 invalid EOP, 2 missing EOP
    pub violation_type: u64,
    /// batch of the commitment (Pacaya; 0 for Shasta)
    pub batch_id: u64,
    /// amount slashed in wei (Shasta bonds are in gwei and converted)
    pub amount: Wei,
    /// transaction
    pub l1_tx_hash: B256,
    /// L1 block time
    #[row(timestamp)]
    pub l1_timestamp: u64,
}

/// One row of `l1_costs`: what an L1 transaction of the protocol (propose, prove, verify)
/// cost its sender.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = block(l1_block_number))]
pub struct TxCost {
    /// L1 chain id
    #[row(key)]
    pub chain_id: u64,
    /// L1 block
    pub l1_block_number: u64,
    /// transaction
    #[row(key)]
    pub tx_hash: B256,
    /// what the transaction did: propose, prove, verify joined by '+'
    pub kind: String,
    /// first batch the transaction proposed, proved or verified
    pub batch_id: u64,
    /// transaction sender
    pub sender: Address,
    /// gas used
    pub gas_used: u64,
    /// gas used x effective gas price, in wei
    pub execution_fee: Wei,
    /// blobs carried
    pub blob_count: u64,
    /// blobs x 131072 blob gas x blob base fee, in wei
    pub blob_fee: Wei,
    /// execution_fee + blob_fee
    pub total_fee: Wei,
    /// L1 block time
    #[row(timestamp)]
    pub l1_timestamp: u64,
}

/// One row of `batch_times`: when a canonical batch was proposed, first proved and
/// verified on L1, and the latencies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = whole)]
pub struct BatchTime {
    /// L1 chain id
    #[row(key)]
    pub chain_id: u64,
    /// pacaya or shasta
    #[row(key)]
    pub fork: String,
    /// batch or proposal id
    #[row(key)]
    pub batch_id: u64,
    /// L1 time of the proposal
    #[row(timestamp)]
    pub proposed_at: u64,
    /// L1 time of the first proof (unix seconds; 0 until proved)
    pub proved_at: u64,
    /// L1 time of the verification (unix seconds; 0 until verified)
    pub verified_at: u64,
    /// proved_at - proposed_at (0 until proved)
    pub prove_secs: u64,
    /// verified_at - proposed_at (0 until verified)
    pub verify_secs: u64,
}

/// One row of `batch_l2`: the L2 gas and fees of a Pacaya batch's blocks (`batch_blocks`
/// joined with `l2_heads`; a Shasta proposal names no L2 blocks on L1).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = whole)]
pub struct BatchL2 {
    /// L1 chain id
    #[row(key)]
    pub chain_id: u64,
    /// batch id
    #[row(key)]
    pub batch_id: u64,
    /// L2 blocks of the batch seen on the L2
    pub l2_blocks: u64,
    /// gas used, anchor transactions excluded
    pub sum_gas_used: u64,
    /// transactions, anchor transactions included
    pub sum_tx: u64,
    /// priority fees in wei, anchor transactions excluded
    pub sum_priority_fee: Wei,
    /// gas used x base fee, in wei
    pub sum_base_fee: Wei,
}

/// One row of `l2_hours` or `l2_days`: the canonical L2 blocks of a UTC hour or day.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = time_bucket(bucket_start, 3600))]
pub struct L2Rollup {
    /// L2 chain id
    #[row(key)]
    pub chain_id: u64,
    /// start of the UTC hour or day
    #[row(key, timestamp)]
    pub bucket_start: u64,
    /// canonical L2 blocks
    pub blocks: u64,
    /// gas used, anchor transactions excluded
    pub sum_gas_used: u64,
    /// transactions, anchor transactions included
    pub sum_tx: u64,
    /// priority fees in wei, anchor transactions excluded
    pub sum_priority_fee: Wei,
    /// gas used x base fee, in wei
    pub sum_base_fee: Wei,
}

/// One row of `batch_hours` or `batch_days`: the canonical batches proposed in a UTC hour
/// or day (by L1 time).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = time_bucket(bucket_start, 3600))]
pub struct BatchRollup {
    /// L1 chain id
    #[row(key)]
    pub chain_id: u64,
    /// start of the UTC hour or day
    #[row(key, timestamp)]
    pub bucket_start: u64,
    /// batches proposed
    pub batches: u64,
    /// L2 blocks in them (Pacaya)
    pub l2_blocks: u64,
    /// blobs
    pub blob_count: u64,
    /// blob bytes
    pub blob_bytes: u64,
    /// batches with a forced inclusion
    pub forced_inclusions: u64,
}

/// One row of `reorgs`: a reorg (or revert) the engine applied on the L1 or the L2.
/// Append-only by design: a reorg is a fact about ingestion, not about the canonical
/// chain, so no later event retracts it and a restart keeps the rows.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = log)]
pub struct ReorgRow {
    /// chain id
    #[row(key)]
    pub chain_id: u64,
    /// epoch the reorg was applied at
    #[row(key)]
    pub epoch: u64,
    /// tip before
    #[row(key)]
    pub old_tip_hash: B256,
    /// height of the tip before
    pub old_tip_number: u64,
    /// tip after
    pub new_tip_hash: B256,
    /// height of the tip after
    pub new_tip_number: u64,
    /// canonical blocks removed
    pub depth: u64,
    /// beneficiary of the tip before
    pub old_sequencer: Address,
    /// beneficiary of the tip after (zero for a revert)
    pub new_sequencer: Address,
}

/// One row of `taiko_errors`: a log of a configured Taiko contract with a known topic0
/// that does not decode (the engine's [`LogError`](crate::engine::decode::LogError), whose `event` is here the event's name).
pub type DecodeErrorRow = crate::engine::decode::LogError;

impl BatchTime {
    /// The times of batch `batch_id` of `fork` proposed at `proposed_at`, first proved at `proved_at`
    /// and verified at `verified_at` (0: not yet).
    pub fn new(
        chain_id: u64,
        fork: &str,
        batch_id: u64,
        proposed_at: u64,
        proved_at: u64,
        verified_at: u64,
    ) -> Self {
        let since = |t: u64| {
            if t == 0 {
                0
            } else {
                t.saturating_sub(proposed_at)
            }
        };
        BatchTime {
            chain_id,
            fork: fork.to_string(),
            batch_id,
            proposed_at,
            proved_at,
            verified_at,
            prove_secs: since(proved_at),
            verify_secs: since(verified_at),
        }
    }
}

impl BatchL2 {
    /// A batch with no L2 block seen yet.
    pub fn empty(chain_id: u64, batch_id: u64) -> Self {
        BatchL2 {
            chain_id,
            batch_id,
            l2_blocks: 0,
            sum_gas_used: 0,
            sum_tx: 0,
            sum_priority_fee: 0,
            sum_base_fee: 0,
        }
    }

    /// Counts L2 block `head` in the batch.
    pub fn add(&mut self, head: &super::l2::L2Head) {
        self.l2_blocks += 1;
        self.sum_gas_used = self.sum_gas_used.saturating_add(head.sum_gas_used);
        self.sum_tx = self.sum_tx.saturating_add(head.sum_tx);
        self.sum_priority_fee = self.sum_priority_fee.saturating_add(head.sum_priority_fee);
        self.sum_base_fee = self.sum_base_fee.saturating_add(head.sum_base_fee);
    }
}

impl L2Rollup {
    /// The bucket of `secs` seconds holding L2 block `head`, with that block alone.
    pub fn of(head: &super::l2::L2Head, secs: u64) -> Self {
        let secs = secs.max(1);
        L2Rollup {
            chain_id: head.chain_id,
            bucket_start: head.timestamp / secs * secs,
            blocks: 1,
            sum_gas_used: head.sum_gas_used,
            sum_tx: head.sum_tx,
            sum_priority_fee: head.sum_priority_fee,
            sum_base_fee: head.sum_base_fee,
        }
    }

    /// Adds the totals of `other` (same bucket) to these.
    pub fn merge(&mut self, other: &L2Rollup) {
        self.blocks += other.blocks;
        self.sum_gas_used = self.sum_gas_used.saturating_add(other.sum_gas_used);
        self.sum_tx = self.sum_tx.saturating_add(other.sum_tx);
        self.sum_priority_fee = self.sum_priority_fee.saturating_add(other.sum_priority_fee);
        self.sum_base_fee = self.sum_base_fee.saturating_add(other.sum_base_fee);
    }

    /// The same totals in the bucket of `secs` seconds holding this one.
    pub fn rebucket(&self, secs: u64) -> Self {
        let secs = secs.max(1);
        L2Rollup {
            bucket_start: self.bucket_start / secs * secs,
            ..self.clone()
        }
    }
}

impl BatchRollup {
    /// The bucket of `secs` seconds holding batch `batch` (by its L1 time), with it alone.
    pub fn of(batch: &Batch, secs: u64) -> Self {
        let secs = secs.max(1);
        BatchRollup {
            chain_id: batch.chain_id,
            bucket_start: batch.l1_timestamp / secs * secs,
            batches: 1,
            l2_blocks: batch.block_count,
            blob_count: batch.blob_count,
            blob_bytes: batch.blob_bytes,
            forced_inclusions: batch.forced_inclusion,
        }
    }

    /// Adds the totals of `other` (same bucket) to these.
    pub fn merge(&mut self, other: &BatchRollup) {
        self.batches += other.batches;
        self.l2_blocks = self.l2_blocks.saturating_add(other.l2_blocks);
        self.blob_count = self.blob_count.saturating_add(other.blob_count);
        self.blob_bytes = self.blob_bytes.saturating_add(other.blob_bytes);
        self.forced_inclusions += other.forced_inclusions;
    }

    /// The same totals in the bucket of `secs` seconds holding this one.
    pub fn rebucket(&self, secs: u64) -> Self {
        let secs = secs.max(1);
        BatchRollup {
            bucket_start: self.bucket_start / secs * secs,
            ..self.clone()
        }
    }
}

impl From<&crate::model::Reorg> for ReorgRow {
    fn from(r: &crate::model::Reorg) -> Self {
        ReorgRow {
            chain_id: r.chain_id,
            epoch: r.epoch,
            old_tip_hash: r.old_tip_hash,
            old_tip_number: r.old_tip_number,
            new_tip_hash: r.new_tip_hash,
            new_tip_number: r.new_tip_number,
            depth: r.depth,
            old_sequencer: r.old_sequencer,
            new_sequencer: r.new_sequencer,
        }
    }
}
