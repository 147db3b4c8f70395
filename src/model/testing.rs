//! Builders of model values for unit tests.

use super::{Address, B256, Block, Tx, Wei};

/// A type-2 (type-3 with blobs) transaction paying `price` per gas for `gas_used` gas.
pub(crate) fn tx(index: u32, price: Wei, gas_used: u64, blobs: u32) -> Tx {
    Tx {
        hash: B256::with_last_byte(index as u8),
        index,
        tx_type: if blobs > 0 { 3 } else { 2 },
        from: Address::ZERO,
        to: None,
        value: 0,
        gas_limit: gas_used,
        gas_used,
        effective_gas_price: price,
        max_fee_per_gas: None,
        max_priority_fee_per_gas: None,
        max_fee_per_blob_gas: None,
        blob_count: blobs,
        success: true,
    }
}

/// A block of chain 1 at `number` with `txs`, base fee `base`; hash from the height.
pub(crate) fn block(number: u64, timestamp: u64, base: Wei, txs: Vec<Tx>) -> Block {
    Block {
        chain_id: 1,
        number,
        hash: B256::with_last_byte(number as u8),
        parent_hash: B256::ZERO,
        timestamp,
        miner: Address::ZERO,
        gas_used: txs.iter().map(|t| t.gas_used).sum(),
        gas_limit: 30_000_000,
        base_fee_per_gas: base,
        blob_gas_used: 0,
        excess_blob_gas: 0,
        blob_base_fee: 1,
        transactions: txs,
        logs: vec![],
    }
}
