//! Assembling blocks: the constants of the generated chains, deterministic hashes and
//! addresses, and a block from its header and transaction specs (receipts and logs
//! included).

use super::*;

/// Blob parameters of the L1.
pub(super) const BLOBS: BlobParams = BlobParams::PRAGUE;
/// Gas limit of L1 blocks.
pub(super) const L1_GAS_LIMIT: u64 = 36_000_000;
/// Gas limit of L2 blocks (Taiko: 240M plus 1M for the anchor).
pub(super) const L2_GAS_LIMIT: u64 = 241_000_000;
/// Gas limit of a batch (`BatchInfo.gasLimit`).
pub(super) const BATCH_GAS_LIMIT: u32 = 240_000_000;
/// The Taiko anchor transaction's sender ("golden touch").
pub(super) const GOLDEN_TOUCH: Address = Address::new([
    0x00, 0x00, 0x77, 0x77, 0x35, 0x36, 0x7b, 0x36, 0xbc, 0x9b, 0x61, 0xc5, 0x00, 0x22, 0xd9, 0xd0,
    0x70, 0x0d, 0xb4, 0xec,
]);
/// Sender of the transactions that carry an undecodable log.
pub(super) const GARBAGE_SENDER: Address = Address::repeat_byte(0xee);
/// How many sequencers (and provers) take turns.
pub(super) const SEQUENCERS: u64 = 3;
/// Proposals per L1 block at most.
pub(super) const MAX_PROPOSALS_PER_BLOCK: usize = 3;
/// Batches one proof covers at most.
pub(super) const MAX_BATCHES_PER_PROOF: usize = 10;
/// L2 block facts kept for the L1 side (proposals, proofs), by number.
pub(super) const L2_INFO_KEEP: u64 = 20_000;

// Address kinds for `addr`.
pub(super) const SEQUENCER: u64 = 1;
pub(super) const PROVER: u64 = 2;
pub(super) const USER: u64 = 3;
pub(super) const TOKEN: u64 = 4;
pub(super) const BUILDER: u64 = 5;
pub(super) const CHALLENGER: u64 = 6;

/// keccak256 of the numbers, big-endian, and the hashes.
pub(super) fn hash_of(parts: &[u64], hashes: &[B256]) -> B256 {
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
pub(super) fn addr(seed: u64, kind: u64, i: u64) -> Address {
    Address::from_word(hash_of(&[seed, 0xADD, kind, i], &[]))
}

/// An EIP-4844 versioned hash (first byte 1).
pub(super) fn versioned_hash(parts: &[u64]) -> B256 {
    let mut h = hash_of(parts, &[]);
    h.0[0] = 0x01;
    h
}

/// A transaction before it gets its position and hash.
pub(super) struct TxSpec {
    pub(super) tx_type: u8,
    pub(super) from: Address,
    pub(super) to: Option<Address>,
    pub(super) value: Wei,
    pub(super) gas_used: u64,
    /// Effective tip per gas (the price is base fee + tip).
    pub(super) tip: Wei,
    pub(super) blob_count: u32,
    pub(super) success: bool,
    pub(super) logs: Vec<(Address, LogData)>,
}

impl TxSpec {
    /// A successful protocol transaction.
    pub(super) fn call(from: Address, to: Address, gas_used: u64, tip: Wei) -> TxSpec {
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

    pub(super) fn log<E: SolEvent>(mut self, address: Address, event: &E) -> TxSpec {
        self.logs.push((address, event.encode_log_data()));
        self
    }
}

/// Header fields of a block under construction.
pub(super) struct Header {
    pub(super) chain_id: u64,
    pub(super) number: u64,
    pub(super) branch: u64,
    pub(super) parent_hash: B256,
    pub(super) timestamp: u64,
    pub(super) miner: Address,
    pub(super) gas_limit: u64,
    pub(super) base_fee: Wei,
    pub(super) excess_blob_gas: u64,
    pub(super) blob_base_fee: Wei,
}

/// Builds a block: positions, hashes, log indices, gas and blob gas sums.
pub(super) fn assemble(seed: u64, h: Header, specs: Vec<TxSpec>) -> Block {
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
