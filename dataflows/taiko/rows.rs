//! The row types of the `taiko` outputs other than `l2_heads` ([`super::l2::L2Head`]).
//!
//! Each row type is declared once with `taiko_row!`: the struct, its columns (name, type and
//! doc), its key and its position come from one place, so the sink schema cannot drift from
//! the struct.

use serde::{Deserialize, Serialize};

use crate::engine::dataflow::{Column, ColumnType, Position, Row, Value};
use crate::model::{Address, B256, Wei};

/// A field's value as a sink column value.
pub trait ToValue {
    /// The column value.
    fn to_value(&self) -> Value;
}

impl ToValue for u64 {
    fn to_value(&self) -> Value {
        Value::U64(*self)
    }
}

impl ToValue for Wei {
    fn to_value(&self) -> Value {
        Value::Wei(*self)
    }
}

impl ToValue for B256 {
    fn to_value(&self) -> Value {
        Value::Hash(*self)
    }
}

impl ToValue for Address {
    fn to_value(&self) -> Value {
        Value::Address(*self)
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

/// Declares a row struct and its [`Row`] impl: `field: Type => ColumnType "doc"` per column.
macro_rules! taiko_row {
    (
        $(#[doc = $sdoc:literal])*
        $name:ident {
            $( $field:ident : $ty:ty => $ct:ident $doc:literal ),* $(,)?
        }
        key: [$($key:literal),* $(,)?],
        position: $pos:expr $(,)?
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name {
            $( #[doc = $doc] pub $field: $ty, )*
        }

        impl Row for $name {
            const COLUMNS: &'static [Column] =
                &[$(Column::new(stringify!($field), ColumnType::$ct, $doc)),*];
            const KEY: &'static [&'static str] = &[$($key),*];
            const POSITION: Position = $pos;

            fn values(&self) -> Vec<Value> {
                vec![$(ToValue::to_value(&self.$field)),*]
            }
        }
    };
}

taiko_row! {
    /// One row of `l1_heads`: a canonical L1 block.
    L1Head {
        chain_id: u64 => U64 "L1 chain id",
        block_number: u64 => U64 "L1 block height",
        block_hash: B256 => Hash "L1 block hash",
        slot: u64 => U64 "beacon slot: (timestamp - genesis time) / slot seconds",
        timestamp: u64 => Timestamp "block time",
    }
    key: ["chain_id", "block_number"],
    position: Position::Block("block_number"),
}

taiko_row! {
    /// One row of `batches`: a batch (Pacaya) or proposal (Shasta) proposed on L1.
    Batch {
        chain_id: u64 => U64 "L1 chain id",
        fork: String => Text "pacaya or shasta (each fork's inbox numbers its own batches)",
        batch_id: u64 => U64 "batch id (Pacaya) or proposal id (Shasta)",
        l1_block_number: u64 => U64 "L1 block of the proposal",
        l1_tx_hash: B256 => Hash "proposing transaction",
        l1_timestamp: u64 => Timestamp "L1 block time of the proposal",
        proposer: Address => Address "proposer",
        block_count: u64 => U64 "L2 blocks in the batch (0 for Shasta: derived on L2)",
        last_block_id: u64 => U64 "last L2 block of the batch (0 for Shasta)",
        blob_count: u64 => U64 "blobs carrying the batch's data",
        blob_bytes: u64 => U64 "bytes of blob data (Pacaya blobByteSize; Shasta: blobs x 131072)",
        forced_inclusion: u64 => U64 "1 when the batch includes a forced inclusion",
    }
    key: ["chain_id", "fork", "batch_id"],
    position: Position::Block("l1_block_number"),
}

taiko_row! {
    /// One row of `batch_blocks`: an L2 block of a Pacaya batch.
    BatchBlock {
        chain_id: u64 => U64 "L1 chain id",
        batch_id: u64 => U64 "batch id",
        l2_block_number: u64 => U64 "L2 block height",
        l1_block_number: u64 => U64 "L1 block of the proposal",
    }
    key: ["chain_id", "batch_id", "l2_block_number"],
    position: Position::Block("l1_block_number"),
}

taiko_row! {
    /// One row of `batch_proofs`: a batch proved by one proof event.
    BatchProof {
        chain_id: u64 => U64 "L1 chain id",
        l1_block_number: u64 => U64 "L1 block of the proof",
        log_index: u64 => U64 "log of the proof event in its block",
        batch_id: u64 => U64 "batch or proposal id proved",
        fork: String => Text "pacaya or shasta",
        prover: Address => Address "verifier (Pacaya) or actual prover (Shasta)",
        parent_hash: B256 => Hash "transition parent hash (Pacaya; zero for Shasta)",
        block_hash: B256 => Hash "transition block hash (Pacaya; zero for Shasta)",
        state_root: B256 => Hash "transition state root (Pacaya; zero for Shasta)",
        l1_tx_hash: B256 => Hash "proving transaction",
        l1_timestamp: u64 => Timestamp "L1 block time of the proof",
    }
    key: ["chain_id", "l1_block_number", "log_index", "batch_id"],
    position: Position::Block("l1_block_number"),
}

taiko_row! {
    /// One row of `batch_verifications`: batches verified (Pacaya `BatchesVerified`: every
    /// batch up to `batch_id`) or finalized (Shasta `Proved`: `first_batch_id..=batch_id`).
    BatchVerification {
        chain_id: u64 => U64 "L1 chain id",
        l1_block_number: u64 => U64 "L1 block of the verification",
        log_index: u64 => U64 "log of the event in its block",
        fork: String => Text "pacaya or shasta",
        first_batch_id: u64 => U64 "first batch newly verified (Shasta; 0 for Pacaya: every unverified batch up to batch_id)",
        batch_id: u64 => U64 "last batch verified",
        block_hash: B256 => Hash "verified L2 block hash (Pacaya) or the checkpoint saved in the same transaction (Shasta)",
        l1_tx_hash: B256 => Hash "verifying transaction",
        l1_timestamp: u64 => Timestamp "L1 block time of the verification",
    }
    key: ["chain_id", "l1_block_number", "log_index"],
    position: Position::Block("l1_block_number"),
}

taiko_row! {
    /// One row of `forced_inclusions`: a forced inclusion stored, consumed or processed
    /// (Pacaya) or saved (Shasta).
    ForcedInclusionRow {
        chain_id: u64 => U64 "L1 chain id",
        l1_block_number: u64 => U64 "L1 block of the event",
        log_index: u64 => U64 "log of the event in its block",
        kind: String => Text "stored, consumed, processed (Pacaya) or saved (Shasta)",
        fork: String => Text "pacaya or shasta",
        blob_hash: B256 => Hash "first blob hash of the inclusion",
        fee_in_gwei: u64 => U64 "fee paid, in gwei",
        created_at_batch_id: u64 => U64 "batch id when stored (Pacaya; 0 for Shasta)",
        l1_tx_hash: B256 => Hash "transaction",
        l1_timestamp: u64 => Timestamp "L1 block time",
    }
    key: ["chain_id", "l1_block_number", "log_index"],
    position: Position::Block("l1_block_number"),
}

taiko_row! {
    /// One row of `slashings`: a preconfirmer slashed (Pacaya `Slashed`) or a liveness bond
    /// settled with a slashed amount (Shasta `LivenessBondSettled`, `slashed > 0`).
    Slashing {
        chain_id: u64 => U64 "L1 chain id",
        l1_block_number: u64 => U64 "L1 block of the event",
        log_index: u64 => U64 "log of the event in its block",
        kind: String => Text "preconfirmation (Pacaya) or liveness_bond (Shasta)",
        offender: Address => Address "committer (Pacaya) or payer (Shasta)",
        beneficiary: Address => Address "payee (Shasta; zero for Pacaya)",
        violation_type: u64 => U64 "Pacaya violation: 0 invalid preconfirmation, 1 invalid EOP, 2 missing EOP",
        batch_id: u64 => U64 "batch of the commitment (Pacaya; 0 for Shasta)",
        amount: Wei => Wei "amount slashed in wei (Shasta bonds are in gwei and converted)",
        l1_tx_hash: B256 => Hash "transaction",
        l1_timestamp: u64 => Timestamp "L1 block time",
    }
    key: ["chain_id", "l1_block_number", "log_index"],
    position: Position::Block("l1_block_number"),
}

taiko_row! {
    /// One row of `l1_costs`: what an L1 transaction of the protocol (propose, prove, verify)
    /// cost its sender.
    TxCost {
        chain_id: u64 => U64 "L1 chain id",
        l1_block_number: u64 => U64 "L1 block",
        tx_hash: B256 => Hash "transaction",
        kind: String => Text "what the transaction did: propose, prove, verify joined by '+'",
        batch_id: u64 => U64 "first batch the transaction proposed, proved or verified",
        sender: Address => Address "transaction sender",
        gas_used: u64 => U64 "gas used",
        execution_fee: Wei => Wei "gas used x effective gas price, in wei",
        blob_count: u64 => U64 "blobs carried",
        blob_fee: Wei => Wei "blobs x 131072 blob gas x blob base fee, in wei",
        total_fee: Wei => Wei "execution_fee + blob_fee",
        l1_timestamp: u64 => Timestamp "L1 block time",
    }
    key: ["chain_id", "tx_hash"],
    position: Position::Block("l1_block_number"),
}

taiko_row! {
    /// One row of `batch_times`: when a canonical batch was proposed, first proved and
    /// verified on L1, and the latencies.
    BatchTime {
        chain_id: u64 => U64 "L1 chain id",
        fork: String => Text "pacaya or shasta",
        batch_id: u64 => U64 "batch or proposal id",
        proposed_at: u64 => Timestamp "L1 time of the proposal",
        proved_at: u64 => U64 "L1 time of the first proof (unix seconds; 0 until proved)",
        verified_at: u64 => U64 "L1 time of the verification (unix seconds; 0 until verified)",
        prove_secs: u64 => U64 "proved_at - proposed_at (0 until proved)",
        verify_secs: u64 => U64 "verified_at - proposed_at (0 until verified)",
    }
    key: ["chain_id", "fork", "batch_id"],
    position: Position::Whole,
}

taiko_row! {
    /// One row of `batch_l2`: the L2 gas and fees of a Pacaya batch's blocks (`batch_blocks`
    /// joined with `l2_heads`; a Shasta proposal names no L2 blocks on L1).
    BatchL2 {
        chain_id: u64 => U64 "L1 chain id",
        batch_id: u64 => U64 "batch id",
        l2_blocks: u64 => U64 "L2 blocks of the batch seen on the L2",
        sum_gas_used: u64 => U64 "gas used, anchor transactions excluded",
        sum_tx: u64 => U64 "transactions, anchor transactions included",
        sum_priority_fee: Wei => Wei "priority fees in wei, anchor transactions excluded",
        sum_base_fee: Wei => Wei "gas used x base fee, in wei",
    }
    key: ["chain_id", "batch_id"],
    position: Position::Whole,
}

taiko_row! {
    /// One row of `l2_hours` or `l2_days`: the canonical L2 blocks of a UTC hour or day.
    L2Rollup {
        chain_id: u64 => U64 "L2 chain id",
        bucket_start: u64 => Timestamp "start of the UTC hour or day",
        blocks: u64 => U64 "canonical L2 blocks",
        sum_gas_used: u64 => U64 "gas used, anchor transactions excluded",
        sum_tx: u64 => U64 "transactions, anchor transactions included",
        sum_priority_fee: Wei => Wei "priority fees in wei, anchor transactions excluded",
        sum_base_fee: Wei => Wei "gas used x base fee, in wei",
    }
    key: ["chain_id", "bucket_start"],
    position: Position::TimeBucket("bucket_start", 3600),
}

taiko_row! {
    /// One row of `batch_hours` or `batch_days`: the canonical batches proposed in a UTC hour
    /// or day (by L1 time).
    BatchRollup {
        chain_id: u64 => U64 "L1 chain id",
        bucket_start: u64 => Timestamp "start of the UTC hour or day",
        batches: u64 => U64 "batches proposed",
        l2_blocks: u64 => U64 "L2 blocks in them (Pacaya)",
        blob_count: u64 => U64 "blobs",
        blob_bytes: u64 => U64 "blob bytes",
        forced_inclusions: u64 => U64 "batches with a forced inclusion",
    }
    key: ["chain_id", "bucket_start"],
    position: Position::TimeBucket("bucket_start", 3600),
}

taiko_row! {
    /// One row of `reorgs`: a reorg (or revert) the engine applied on the L1 or the L2.
    /// Append-only by design: a reorg is a fact about ingestion, not about the canonical
    /// chain, so no later event retracts it and a restart keeps the rows.
    ReorgRow {
        chain_id: u64 => U64 "chain id",
        epoch: u64 => U64 "epoch the reorg was applied at",
        old_tip_hash: B256 => Hash "tip before",
        old_tip_number: u64 => U64 "height of the tip before",
        new_tip_hash: B256 => Hash "tip after",
        new_tip_number: u64 => U64 "height of the tip after",
        depth: u64 => U64 "canonical blocks removed",
        old_sequencer: Address => Address "beneficiary of the tip before",
        new_sequencer: Address => Address "beneficiary of the tip after (zero for a revert)",
    }
    key: ["chain_id", "epoch", "old_tip_hash"],
    position: Position::Log,
}

taiko_row! {
    /// One row of `taiko_errors`: a log of a configured Taiko contract with a known topic0
    /// that does not decode.
    DecodeErrorRow {
        chain_id: u64 => U64 "chain id",
        block_number: u64 => U64 "block height",
        log_index: u64 => U64 "log in its block",
        tx_hash: B256 => Hash "transaction",
        address: Address => Address "emitting contract",
        event: String => Text "the event its topic0 names",
        reason: String => Text "why it does not decode",
    }
    key: ["chain_id", "block_number", "log_index"],
    position: Position::Block("block_number"),
}

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
