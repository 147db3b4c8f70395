//! Conversion of alloy RPC types into the model.
//!
//! [`block_from_rpc`] turns an `eth_getBlockByNumber(…, true)` answer, optionally with the
//! block's `eth_getBlockReceipts` answer, into a [`Block`]. It validates what it relies on and
//! returns a [`SourceError`] instead of panicking on anything a node may send.

use alloy_consensus::{Transaction as _, Typed2718 as _};
use alloy_primitives::U256;
use alloy_rpc_types_eth::{
    Block as RpcBlock, BlockTransactions, Transaction as RpcTransaction, TransactionReceipt,
};

use crate::model::fees::{BlobParams, blob_base_fee};
use crate::model::{Block, Log, Tx, Wei};
use crate::sources::SourceError;

/// Converts an RPC block with full transaction objects into the model.
///
/// `receipts`, when given, must be the block's receipts in transaction order (one per
/// transaction, each naming the transaction at its position); they supply every transaction's
/// `gas_used`, `success` and `effective_gas_price`, and the block's logs. Without receipts the
/// receipt fields are placeholders: `gas_used` is 0, `success` is `true`, the block has no logs,
/// and `effective_gas_price` comes from the transaction object's `gasPrice` (which nodes set to
/// the effective gas price for mined transactions) or, when absent, is computed as
/// `min(max_fee_per_gas, base_fee + max_priority_fee_per_gas)`.
///
/// `blob_params` are the blob parameters in force for this block (for Ethereum mainnet
/// [`BlobParams::mainnet_at`] of its timestamp); the block's `blob_base_fee` is 0 when they are
/// `None` or the header has no `excessBlobGas`.
///
/// Errors: a zero block hash, a hashes-only or uncle transaction list, a transaction whose
/// index, block hash or value is inconsistent or out of range, receipts whose count or
/// transaction hashes differ from the block's transactions, and log indices out of range.
pub fn block_from_rpc(
    chain_id: u64,
    block: &RpcBlock,
    receipts: Option<&[TransactionReceipt]>,
    blob_params: Option<&BlobParams>,
) -> Result<Block, SourceError> {
    let header = &block.header.inner;
    let hash = block.header.hash;
    let number = header.number;
    let what = || format!("block {number} ({hash})");
    let invalid = |reason: String| SourceError::Invalid {
        chain_id,
        what: what(),
        reason,
    };

    if hash.is_zero() {
        return Err(invalid("block hash is missing".to_owned()));
    }

    let rpc_txs: &[RpcTransaction] = match &block.transactions {
        BlockTransactions::Full(txs) => txs,
        BlockTransactions::Hashes(hashes) if hashes.is_empty() => &[],
        BlockTransactions::Hashes(hashes) => {
            return Err(invalid(format!(
                "block has {} transaction hashes only, full transactions are required",
                hashes.len()
            )));
        }
        BlockTransactions::Uncle => {
            return Err(invalid(
                "uncle block has no transactions, full transactions are required".to_owned(),
            ));
        }
    };

    if let Some(receipts) = receipts
        && receipts.len() != rpc_txs.len()
    {
        return Err(SourceError::ReceiptMismatch {
            chain_id,
            number,
            hash,
            tx: None,
            reason: format!(
                "{} receipts for {} transactions",
                receipts.len(),
                rpc_txs.len()
            ),
        });
    }

    let base_fee: Wei = header.base_fee_per_gas.map(Wei::from).unwrap_or(0);
    let mut transactions = Vec::with_capacity(rpc_txs.len());
    let mut logs = Vec::new();

    for (position, rpc_tx) in rpc_txs.iter().enumerate() {
        let envelope = rpc_tx.inner.inner();
        let tx_hash = *envelope.tx_hash();
        let index = u32::try_from(position).map_err(|_| {
            invalid(format!(
                "transaction {tx_hash}: index {position} exceeds u32"
            ))
        })?;
        if let Some(declared) = rpc_tx.transaction_index
            && declared != u64::from(index)
        {
            return Err(invalid(format!(
                "transaction {tx_hash} declares index {declared} but is at position {index}"
            )));
        }
        if let Some(declared) = rpc_tx.block_hash
            && declared != hash
        {
            return Err(invalid(format!(
                "transaction {tx_hash} declares block hash {declared}"
            )));
        }

        let value = wei_from_u256(envelope.value())
            .ok_or_else(|| invalid(format!("transaction {tx_hash}: value exceeds u128")))?;
        let (max_fee_per_gas, max_priority_fee_per_gas) = if envelope.is_dynamic_fee() {
            (
                Some(envelope.max_fee_per_gas()),
                envelope.max_priority_fee_per_gas(),
            )
        } else {
            (None, None)
        };
        let blob_count = envelope
            .blob_versioned_hashes()
            .map(|hashes| u32::try_from(hashes.len()))
            .transpose()
            .map_err(|_| invalid(format!("transaction {tx_hash}: blob count exceeds u32")))?
            .unwrap_or(0);

        let receipt = match receipts.and_then(|receipts| receipts.get(position)) {
            Some(receipt) if receipt.transaction_hash != tx_hash => {
                return Err(SourceError::ReceiptMismatch {
                    chain_id,
                    number,
                    hash,
                    tx: Some(tx_hash),
                    reason: format!(
                        "receipt {position} is for transaction {} but transaction {position} is {tx_hash}",
                        receipt.transaction_hash
                    ),
                });
            }
            other => other,
        };

        let computed_price = || match max_fee_per_gas {
            Some(max_fee) => {
                max_fee.min(base_fee.saturating_add(max_priority_fee_per_gas.unwrap_or(0)))
            }
            None => envelope.gas_price().unwrap_or(0),
        };
        let (effective_gas_price, gas_used, success) = match receipt {
            Some(receipt) => (
                receipt.effective_gas_price,
                receipt.gas_used,
                receipt.status(),
            ),
            None => (
                rpc_tx.effective_gas_price.unwrap_or_else(computed_price),
                0,
                true,
            ),
        };

        if let Some(receipt) = receipt {
            for rpc_log in receipt.logs() {
                let log_index = match rpc_log.log_index {
                    Some(declared) => u32::try_from(declared).map_err(|_| {
                        invalid(format!(
                            "transaction {tx_hash}: log index {declared} exceeds u32"
                        ))
                    })?,
                    None => u32::try_from(logs.len()).map_err(|_| {
                        invalid(format!("transaction {tx_hash}: more than u32::MAX logs"))
                    })?,
                };
                logs.push(Log {
                    tx_index: index,
                    log_index,
                    tx_hash,
                    address: rpc_log.inner.address,
                    topics: rpc_log.inner.data.topics().to_vec(),
                    data: rpc_log.inner.data.data.to_vec(),
                });
            }
        }

        transactions.push(Tx {
            hash: tx_hash,
            index,
            tx_type: envelope.ty(),
            from: rpc_tx.inner.signer(),
            to: envelope.to(),
            value,
            gas_limit: envelope.gas_limit(),
            gas_used,
            effective_gas_price,
            max_fee_per_gas,
            max_priority_fee_per_gas,
            max_fee_per_blob_gas: envelope.max_fee_per_blob_gas(),
            blob_count,
            success,
        });
    }

    let excess_blob_gas = header.excess_blob_gas.unwrap_or(0);
    let blob_base_fee = match (blob_params, header.excess_blob_gas) {
        (Some(params), Some(excess)) => blob_base_fee(excess, params),
        _ => 0,
    };

    Ok(Block {
        chain_id,
        number,
        hash,
        parent_hash: header.parent_hash,
        timestamp: header.timestamp,
        miner: header.beneficiary,
        gas_used: header.gas_used,
        gas_limit: header.gas_limit,
        base_fee_per_gas: base_fee,
        blob_gas_used: header.blob_gas_used.unwrap_or(0),
        excess_blob_gas,
        blob_base_fee,
        transactions,
        logs,
    })
}

/// A `U256` amount as wei, `None` when it does not fit `u128`.
fn wei_from_u256(amount: U256) -> Option<Wei> {
    u128::try_from(amount).ok()
}
