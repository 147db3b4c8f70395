//! What one block says about the Taiko protocol: the rows that derive from that block alone
//! (`l1_heads`, `batches`, `batch_blocks`, `batch_proofs`, `batch_verifications`,
//! `forced_inclusions`, `slashings`, `l1_costs`, `taiko_errors`).
//!
//! Pure functions over [`Block`]: logs are decoded by contract and topic0
//! ([`Contracts::decode`]) and grouped by transaction, so facts that span several logs of
//! one transaction (a Pacaya batch proposed through the `TaikoWrapper` with a forced
//! inclusion, a Shasta proof with the checkpoint its SignalService saved) are read without a
//! join. A log that does not decode becomes a [`DecodeErrorRow`], never a panic.
//!
//! **Inputs**: one canonical block of the L1 (of the L2 for [`protocol_facts`], where only
//! the anchor's errors matter). **Outputs and keys**: `l1_heads` (chain_id, block_number),
//! `batches` (chain_id, fork, batch_id), `batch_blocks` (chain_id, batch_id,
//! l2_block_number), `batch_proofs` (chain_id, l1_block_number, log_index, batch_id),
//! `batch_verifications`, `forced_inclusions`, `slashings` (chain_id, l1_block_number,
//! log_index), `l1_costs` (chain_id, tx_hash), `taiko_errors` (chain_id, block_number,
//! log_index). **Reorgs**: every row derives from its block alone, so an L1 reorg retracts
//! the orphaned blocks' rows and inserts the new branch's at the same epoch (a proposal that
//! moved to another block is a retraction and an insertion of the same key, written as one
//! change); an L2 reorg touches none of them but the L2's `taiko_errors`.

use std::collections::BTreeMap;

use alloy_primitives::B256;

use super::events::{Contracts, TaikoEvent};
use super::rows::{
    Batch, BatchBlock, BatchProof, BatchVerification, DecodeErrorRow, ForcedInclusionRow, L1Head,
    Slashing, TxCost,
};
use crate::model::fees::GAS_PER_BLOB;
use crate::model::{Address, Block, Wei};

/// Bytes of one blob (4096 field elements of 32 bytes).
pub const BLOB_BYTES: u64 = 131_072;
/// The most L2 blocks or batch ids one event may name before it is taken as garbage.
pub const MAX_IDS_PER_EVENT: u64 = 100_000;
/// Shasta bonds are in gwei.
const GWEI: Wei = 1_000_000_000;

/// The beacon chain timing of the L1, for the `slot` of `l1_heads`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotClock {
    /// Unix time of slot 0.
    pub genesis_time: u64,
    /// Seconds per slot.
    pub seconds_per_slot: u64,
}

impl SlotClock {
    /// The slot of a block at `timestamp` (0 before genesis).
    pub fn slot(&self, timestamp: u64) -> u64 {
        timestamp.saturating_sub(self.genesis_time) / self.seconds_per_slot.max(1)
    }
}

/// One row of any of the per-block outputs.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[allow(missing_docs)] // variants named after their row types
pub enum Fact {
    Head(L1Head),
    Batch(Batch),
    BatchBlock(BatchBlock),
    Proof(BatchProof),
    Verification(BatchVerification),
    Forced(ForcedInclusionRow),
    Slashing(Slashing),
    Cost(TxCost),
    Error(DecodeErrorRow),
    /// An L2 block's row (made by the dataflow beside the L2's facts, not here).
    L2Head(super::l2::L2Head),
}

impl Fact {
    /// How many kinds there are.
    pub const KINDS: u64 = 10;

    /// The kind, `0..KINDS`, in declaration order.
    pub fn kind(&self) -> u64 {
        match self {
            Fact::Head(_) => 0,
            Fact::Batch(_) => 1,
            Fact::BatchBlock(_) => 2,
            Fact::Proof(_) => 3,
            Fact::Verification(_) => 4,
            Fact::Forced(_) => 5,
            Fact::Slashing(_) => 6,
            Fact::Cost(_) => 7,
            Fact::Error(_) => 8,
            Fact::L2Head(_) => 9,
        }
    }
}

/// Every per-block row of L1 block `block`: its head, then the protocol facts of its logs.
pub fn l1_facts(block: &Block, contracts: &Contracts, clock: SlotClock) -> Vec<Fact> {
    let mut facts = vec![Fact::Head(L1Head {
        chain_id: block.chain_id,
        block_number: block.number,
        block_hash: block.hash,
        slot: clock.slot(block.timestamp),
        timestamp: block.timestamp,
    })];
    facts.extend(protocol_facts(block, contracts));
    facts
}

/// The rows of the protocol's events in `block` (any chain: on the L2 only the anchor is
/// configured, whose undecodable logs are errors).
pub fn protocol_facts(block: &Block, contracts: &Contracts) -> Vec<Fact> {
    // Decoded events per transaction (its hash, as the logs carry it), in log order.
    let mut by_tx: BTreeMap<u32, (B256, Vec<(u32, TaikoEvent)>)> = BTreeMap::new();
    let mut facts = Vec::new();
    for log in &block.logs {
        match contracts.decode(log) {
            Ok(Some(event)) => by_tx
                .entry(log.tx_index)
                .or_insert_with(|| (log.tx_hash, Vec::new()))
                .1
                .push((log.log_index, event)),
            Ok(None) => {}
            Err(err) => facts.push(Fact::Error(DecodeErrorRow {
                chain_id: block.chain_id,
                block_number: block.number,
                log_index: u64::from(log.log_index),
                tx_hash: log.tx_hash,
                address: err.address,
                event: err.event.to_string(),
                reason: err.reason,
            })),
        }
    }
    for (tx_index, (tx_hash, events)) in by_tx {
        let tx = block.transactions.iter().find(|t| t.index == tx_index);
        let at = Where {
            chain_id: block.chain_id,
            block_number: block.number,
            timestamp: block.timestamp,
            tx_hash,
        };
        let before = facts.len();
        tx_facts(&at, &events, &mut facts);
        if let Some(tx) = tx
            && let Some(cost) = tx_cost(block, tx, &facts[before..])
        {
            facts.push(Fact::Cost(cost));
        }
    }
    facts
}

/// Where the facts of one transaction sit.
struct Where {
    chain_id: u64,
    block_number: u64,
    timestamp: u64,
    tx_hash: B256,
}

fn tx_facts(at: &Where, events: &[(u32, TaikoEvent)], facts: &mut Vec<Fact>) {
    use TaikoEvent as E;
    let forced = events.iter().any(|(_, e)| {
        matches!(
            e,
            E::ForcedInclusionProcessed(_) | E::ForcedInclusionConsumed(_)
        )
    });
    // The checkpoint a Shasta proof saved in the same transaction.
    let checkpoint = events.iter().find_map(|(_, e)| match e {
        E::CheckpointSaved(c) => Some(c.blockHash),
        _ => None,
    });
    let fi = |kind: &str, fork: &str, log: u32, blob: B256, fee: u64, batch: u64| {
        Fact::Forced(ForcedInclusionRow {
            chain_id: at.chain_id,
            l1_block_number: at.block_number,
            log_index: u64::from(log),
            kind: kind.into(),
            fork: fork.into(),
            blob_hash: blob,
            fee_in_gwei: fee,
            created_at_batch_id: batch,
            l1_tx_hash: at.tx_hash,
            l1_timestamp: at.timestamp,
        })
    };
    let error = |log: u32, event: &str, address: Address, reason: String| {
        Fact::Error(DecodeErrorRow {
            chain_id: at.chain_id,
            block_number: at.block_number,
            log_index: u64::from(log),
            tx_hash: at.tx_hash,
            address,
            event: event.into(),
            reason,
        })
    };
    for (log, event) in events {
        let log = *log;
        match event {
            E::BatchProposed(p) => {
                let n = p.info.blocks.len() as u64;
                let last = p.info.lastBlockId;
                let batch_id = p.meta.batchId;
                if n > MAX_IDS_PER_EVENT || n > last.saturating_add(1) {
                    facts.push(error(
                        log,
                        "BatchProposed",
                        p.meta.proposer,
                        format!("batch {batch_id} claims {n} blocks ending at {last}"),
                    ));
                    continue;
                }
                facts.push(Fact::Batch(Batch {
                    chain_id: at.chain_id,
                    batch_id,
                    fork: "pacaya".into(),
                    l1_block_number: at.block_number,
                    l1_tx_hash: at.tx_hash,
                    l1_timestamp: at.timestamp,
                    proposer: p.meta.proposer,
                    block_count: n,
                    last_block_id: last,
                    blob_count: p.info.blobHashes.len() as u64,
                    blob_bytes: u64::from(p.info.blobByteSize),
                    forced_inclusion: u64::from(forced),
                }));
                // L2 blocks `last - n + 1 ..= last` (n <= last + 1 was checked: no wrap, even
                // at u64::MAX).
                let first = last.saturating_sub(n.saturating_sub(1));
                for l2 in (first..=last).take(n as usize) {
                    facts.push(Fact::BatchBlock(BatchBlock {
                        chain_id: at.chain_id,
                        batch_id,
                        l2_block_number: l2,
                        l1_block_number: at.block_number,
                    }));
                }
            }
            E::Proposed(p) => {
                let blobs: u64 = p
                    .sources
                    .iter()
                    .map(|s| s.blobSlice.blobHashes.len() as u64)
                    .sum();
                facts.push(Fact::Batch(Batch {
                    chain_id: at.chain_id,
                    batch_id: p.id.saturating_to::<u64>(),
                    fork: "shasta".into(),
                    l1_block_number: at.block_number,
                    l1_tx_hash: at.tx_hash,
                    l1_timestamp: at.timestamp,
                    proposer: p.proposer,
                    block_count: 0,
                    last_block_id: 0,
                    blob_count: blobs,
                    blob_bytes: blobs.saturating_mul(BLOB_BYTES),
                    forced_inclusion: u64::from(p.sources.iter().any(|s| s.isForcedInclusion)),
                }));
            }
            E::BatchesProved(p) => {
                for (i, batch_id) in p.batchIds.iter().enumerate() {
                    let t = p.transitions.get(i);
                    facts.push(Fact::Proof(BatchProof {
                        chain_id: at.chain_id,
                        l1_block_number: at.block_number,
                        log_index: u64::from(log),
                        batch_id: *batch_id,
                        fork: "pacaya".into(),
                        prover: p.verifier,
                        parent_hash: t.map_or(B256::ZERO, |t| t.parentHash),
                        block_hash: t.map_or(B256::ZERO, |t| t.blockHash),
                        state_root: t.map_or(B256::ZERO, |t| t.stateRoot),
                        l1_tx_hash: at.tx_hash,
                        l1_timestamp: at.timestamp,
                    }));
                }
            }
            E::Proved(p) => {
                let first = p.firstNewProposalId.saturating_to::<u64>();
                let last = p.lastProposalId.saturating_to::<u64>();
                if first > last || last - first >= MAX_IDS_PER_EVENT {
                    facts.push(error(
                        log,
                        "Proved",
                        p.actualProver,
                        format!("proposals {first}..={last} is not a range this indexer accepts"),
                    ));
                    continue;
                }
                for batch_id in first..=last {
                    facts.push(Fact::Proof(BatchProof {
                        chain_id: at.chain_id,
                        l1_block_number: at.block_number,
                        log_index: u64::from(log),
                        batch_id,
                        fork: "shasta".into(),
                        prover: p.actualProver,
                        parent_hash: B256::ZERO,
                        block_hash: B256::ZERO,
                        state_root: B256::ZERO,
                        l1_tx_hash: at.tx_hash,
                        l1_timestamp: at.timestamp,
                    }));
                }
                // Proving finalizes in Shasta.
                facts.push(Fact::Verification(BatchVerification {
                    chain_id: at.chain_id,
                    l1_block_number: at.block_number,
                    log_index: u64::from(log),
                    fork: "shasta".into(),
                    first_batch_id: first,
                    batch_id: last,
                    block_hash: checkpoint.unwrap_or(B256::ZERO),
                    l1_tx_hash: at.tx_hash,
                    l1_timestamp: at.timestamp,
                }));
            }
            E::BatchesVerified(v) => facts.push(Fact::Verification(BatchVerification {
                chain_id: at.chain_id,
                l1_block_number: at.block_number,
                log_index: u64::from(log),
                fork: "pacaya".into(),
                first_batch_id: 0,
                batch_id: v.batchId,
                block_hash: v.blockHash,
                l1_tx_hash: at.tx_hash,
                l1_timestamp: at.timestamp,
            })),
            E::ForcedInclusionStored(f) => facts.push(fi(
                "stored",
                "pacaya",
                log,
                f.forcedInclusion.blobHash,
                f.forcedInclusion.feeInGwei,
                f.forcedInclusion.createdAtBatchId,
            )),
            E::ForcedInclusionConsumed(f) => facts.push(fi(
                "consumed",
                "pacaya",
                log,
                f.forcedInclusion.blobHash,
                f.forcedInclusion.feeInGwei,
                f.forcedInclusion.createdAtBatchId,
            )),
            E::ForcedInclusionProcessed(f) => facts.push(fi(
                "processed",
                "pacaya",
                log,
                f.forcedInclusion.blobHash,
                f.forcedInclusion.feeInGwei,
                f.forcedInclusion.createdAtBatchId,
            )),
            E::ForcedInclusionSaved(f) => facts.push(fi(
                "saved",
                "shasta",
                log,
                f.forcedInclusion
                    .blobSlice
                    .blobHashes
                    .first()
                    .copied()
                    .unwrap_or(B256::ZERO),
                f.forcedInclusion.feeInGwei,
                0,
            )),
            E::Slashed(s) => facts.push(Fact::Slashing(Slashing {
                chain_id: at.chain_id,
                l1_block_number: at.block_number,
                log_index: u64::from(log),
                kind: "preconfirmation".into(),
                offender: s.committer,
                beneficiary: Address::ZERO,
                violation_type: u64::from(s.violationType),
                batch_id: s.commitmentPayload.batchId.saturating_to::<u64>(),
                amount: s.slashAmount.saturating_to::<u128>(),
                l1_tx_hash: at.tx_hash,
                l1_timestamp: at.timestamp,
            })),
            E::LivenessBondSettled(s) if s.slashed > 0 => facts.push(Fact::Slashing(Slashing {
                chain_id: at.chain_id,
                l1_block_number: at.block_number,
                log_index: u64::from(log),
                kind: "liveness_bond".into(),
                offender: s.payer,
                beneficiary: s.payee,
                violation_type: 0,
                batch_id: 0,
                amount: Wei::from(s.slashed).saturating_mul(GWEI),
                l1_tx_hash: at.tx_hash,
                l1_timestamp: at.timestamp,
            })),
            _ => {}
        }
    }
}

/// The cost row of a transaction that proposed, proved or verified batches (`facts` are its
/// facts), `None` for other transactions.
fn tx_cost(block: &Block, tx: &crate::model::Tx, facts: &[Fact]) -> Option<TxCost> {
    let mut kinds: Vec<&str> = Vec::new();
    let mut batch_id = None;
    for fact in facts {
        let (kind, id) = match fact {
            Fact::Batch(b) => ("propose", b.batch_id),
            Fact::Proof(p) => ("prove", p.batch_id),
            Fact::Verification(v) => ("verify", v.batch_id),
            _ => continue,
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
        batch_id = Some(batch_id.map_or(id, |b: u64| b.min(id)));
    }
    let batch_id = batch_id?;
    let execution_fee = Wei::from(tx.gas_used).saturating_mul(tx.effective_gas_price);
    let blob_fee =
        Wei::from(u64::from(tx.blob_count) * GAS_PER_BLOB).saturating_mul(block.blob_base_fee);
    Some(TxCost {
        chain_id: block.chain_id,
        l1_block_number: block.number,
        tx_hash: tx.hash,
        kind: kinds.join("+"),
        batch_id,
        sender: tx.from,
        gas_used: tx.gas_used,
        execution_fee,
        blob_count: u64::from(tx.blob_count),
        blob_fee,
        total_fee: execution_fee.saturating_add(blob_fee),
        l1_timestamp: block.timestamp,
    })
}

#[cfg(test)]
mod tests {
    use alloy_primitives::aliases::U48;
    use alloy_sol_types::SolEvent;

    use super::super::events::{pacaya, shasta};
    use super::*;
    use crate::model::{Log, testing};

    /// The rows of one kind of fact, in order.
    macro_rules! rows {
        ($facts:expr, $kind:ident) => {
            $facts
                .iter()
                .filter_map(|f| match f {
                    Fact::$kind(r) => Some(r),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
    }

    const INBOX: Address = Address::repeat_byte(0x11);
    const WRAPPER: Address = Address::repeat_byte(0x12);
    const STORE: Address = Address::repeat_byte(0x13);
    const SHASTA: Address = Address::repeat_byte(0x14);
    const SIGNALS: Address = Address::repeat_byte(0x15);

    fn contracts() -> Contracts {
        Contracts {
            pacaya_inbox: Some(INBOX),
            taiko_wrapper: Some(WRAPPER),
            forced_inclusion_store: Some(STORE),
            shasta_inbox: Some(SHASTA),
            signal_service: Some(SIGNALS),
            ..Contracts::default()
        }
    }

    fn log<E: SolEvent>(tx_index: u32, log_index: u32, address: Address, e: &E) -> Log {
        let data = e.encode_log_data();
        Log {
            tx_index,
            log_index,
            tx_hash: B256::repeat_byte(tx_index as u8 + 1),
            address,
            topics: data.topics().to_vec(),
            data: data.data.to_vec(),
        }
    }

    fn forced() -> pacaya::ForcedInclusion {
        pacaya::ForcedInclusion {
            blobHash: B256::repeat_byte(0xbb),
            feeInGwei: 7,
            createdAtBatchId: 40,
            blobByteOffset: 0,
            blobByteSize: 1000,
            blobCreatedIn: 5,
        }
    }

    fn proposal(batch_id: u64, last: u64, n: usize) -> pacaya::BatchProposed {
        pacaya::BatchProposed {
            info: pacaya::BatchInfo {
                blocks: vec![
                    pacaya::BlockParams {
                        numTransactions: 1,
                        timeShift: 0,
                        signalSlots: vec![]
                    };
                    n
                ],
                blobHashes: vec![B256::repeat_byte(1), B256::repeat_byte(2)],
                txsHash: B256::ZERO,
                extraData: B256::ZERO,
                coinbase: Address::ZERO,
                proposedIn: 0,
                blobCreatedIn: 0,
                blobByteOffset: 0,
                blobByteSize: 100_000,
                gasLimit: 0,
                lastBlockId: last,
                lastBlockTimestamp: 0,
                anchorBlockId: 0,
                anchorBlockHash: B256::ZERO,
                baseFeeConfig: pacaya::BaseFeeConfig {
                    adjustmentQuotient: 0,
                    sharingPctg: 0,
                    gasIssuancePerSecond: 0,
                    minGasExcess: 0,
                    maxGasIssuancePerBlock: 0,
                },
            },
            meta: pacaya::BatchMetadata {
                infoHash: B256::ZERO,
                proposer: Address::repeat_byte(0xaa),
                batchId: batch_id,
                proposedAt: 0,
            },
            txList: Default::default(),
        }
    }

    fn block(logs: Vec<Log>, txs: usize) -> Block {
        let mut b = testing::block(
            500,
            1_700_000_120,
            1_000_000_000,
            (0..txs as u32)
                .map(|i| crate::model::Tx {
                    hash: B256::repeat_byte(i as u8 + 1),
                    blob_count: if i == 0 { 2 } else { 0 },
                    ..testing::tx(i, 3_000_000_000, 100_000, 0)
                })
                .collect(),
        );
        b.logs = logs;
        b.blob_base_fee = 5;
        b
    }

    #[test]
    fn a_forced_pacaya_batch_through_the_wrapper_is_one_batch_with_its_blocks_and_cost() {
        let b = block(
            vec![
                log(
                    0,
                    0,
                    WRAPPER,
                    &pacaya::ForcedInclusionProcessed {
                        forcedInclusion: forced(),
                    },
                ),
                log(
                    0,
                    1,
                    STORE,
                    &pacaya::ForcedInclusionConsumed {
                        forcedInclusion: forced(),
                    },
                ),
                log(0, 2, INBOX, &proposal(41, 1_010, 3)),
            ],
            2,
        );
        let clock = SlotClock {
            genesis_time: 1_700_000_000,
            seconds_per_slot: 12,
        };
        let facts = l1_facts(&b, &contracts(), clock);
        let Fact::Head(head) = &facts[0] else {
            panic!("head first")
        };
        assert_eq!(head.slot, 10);
        let batches: Vec<&Batch> = rows!(facts, Batch);
        assert_eq!(batches.len(), 1);
        let batch = batches[0];
        assert_eq!(
            (
                batch.batch_id,
                batch.block_count,
                batch.last_block_id,
                batch.blob_count
            ),
            (41, 3, 1_010, 2)
        );
        assert_eq!((batch.blob_bytes, batch.forced_inclusion), (100_000, 1));
        let blocks: Vec<u64> = rows!(facts, BatchBlock)
            .into_iter()
            .map(|b| b.l2_block_number)
            .collect();
        assert_eq!(blocks, vec![1_008, 1_009, 1_010]);
        let kinds: Vec<String> = rows!(facts, Forced)
            .into_iter()
            .map(|f| f.kind.clone())
            .collect();
        assert_eq!(kinds, vec!["processed", "consumed"]);
        let cost = rows!(facts, Cost)[0];
        assert_eq!(cost.kind, "propose");
        assert_eq!(cost.execution_fee, 100_000 * 3_000_000_000);
        assert_eq!(cost.blob_fee, 2 * 131_072 * 5);
        assert_eq!(cost.total_fee, cost.execution_fee + cost.blob_fee);
    }

    #[test]
    fn a_shasta_proof_proves_and_finalizes_its_new_range_with_the_checkpoint() {
        let proved = shasta::Proved {
            firstProposalId: U48::from(8),
            firstNewProposalId: U48::from(10),
            lastProposalId: U48::from(12),
            actualProver: Address::repeat_byte(0xcc),
        };
        let saved = shasta::CheckpointSaved {
            blockNumber: U48::from(99),
            blockHash: B256::repeat_byte(0xdd),
            stateRoot: B256::ZERO,
        };
        let b = block(
            vec![log(1, 0, SHASTA, &proved), log(1, 1, SIGNALS, &saved)],
            2,
        );
        let facts = protocol_facts(&b, &contracts());
        let proofs: Vec<u64> = rows!(facts, Proof)
            .into_iter()
            .map(|p| p.batch_id)
            .collect();
        assert_eq!(proofs, vec![10, 11, 12]);
        let v = rows!(facts, Verification)[0];
        assert_eq!((v.first_batch_id, v.batch_id), (10, 12));
        assert_eq!(v.block_hash, B256::repeat_byte(0xdd));
        let cost = rows!(facts, Cost)[0];
        assert_eq!(
            (cost.kind.as_str(), cost.batch_id, cost.blob_fee),
            ("prove+verify", 10, 0)
        );
    }

    #[test]
    fn extreme_block_ids_neither_wrap_nor_panic() {
        let top = log(0, 0, INBOX, &proposal(1, u64::MAX, 2));
        let empty = log(1, 1, INBOX, &proposal(2, 0, 0));
        let facts = protocol_facts(&block(vec![top, empty], 2), &contracts());
        let blocks: Vec<u64> = rows!(facts, BatchBlock)
            .into_iter()
            .map(|b| b.l2_block_number)
            .collect();
        assert_eq!(blocks, vec![u64::MAX - 1, u64::MAX]);
        let batches = facts.iter().filter(|f| matches!(f, Fact::Batch(_))).count();
        assert_eq!(batches, 2, "a batch of no blocks is still a batch");
    }

    #[test]
    fn garbage_is_an_error_row_and_absurd_ranges_are_refused() {
        let mut bad = log(0, 0, INBOX, &proposal(1, 10, 2));
        bad.data.truncate(40);
        let absurd = log(1, 1, INBOX, &proposal(2, 3, 9));
        let facts = protocol_facts(&block(vec![bad, absurd], 2), &contracts());
        let errors: Vec<&DecodeErrorRow> = rows!(facts, Error);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].event, "BatchProposed");
        assert!(
            errors[1].reason.contains("claims 9 blocks"),
            "{}",
            errors[1].reason
        );
        assert!(
            !facts
                .iter()
                .any(|f| matches!(f, Fact::Batch(_) | Fact::Cost(_)))
        );
    }
}
