//! The per-block metrics of a Taiko L2 block (the `l2_heads` row), as rollup dashboards
//! define them (`docs/taiko-events.md`, "L2 block metrics", after taikoscope):
//!
//! - `sum_gas_used`: gas used by the block's transactions **excluding the anchor
//!   transaction** (the one sent to the anchor contract);
//! - `sum_tx`: transactions **including** the anchor transaction;
//! - `sum_priority_fee`: Σ (effective gas price − base fee) × gas used, anchor excluded,
//!   never negative per transaction;
//! - `sum_base_fee`: `sum_gas_used × base fee per gas`;
//! - `sequencer`: the header's beneficiary.
//!
//! Pure functions over [`Block`]; the dataflow keys rows by `(chain_id, block_number)`, so an
//! L2 reorg retracts the orphaned block's row and inserts the new branch's at the same epoch.

use serde::{Deserialize, Serialize};

use crate::engine::dataflow::Row;
use crate::model::{Address, B256, Block, Wei};

/// One row of `l2_heads`: the metrics of one canonical L2 block.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Row)]
#[row(position = block(block_number))]
pub struct L2Head {
    /// L2 chain id
    #[row(key)]
    pub chain_id: u64,
    /// L2 block height
    #[row(key)]
    pub block_number: u64,
    /// L2 block hash
    pub block_hash: B256,
    /// block time
    #[row(timestamp)]
    pub timestamp: u64,
    /// gas used, anchor transaction excluded
    pub sum_gas_used: u64,
    /// transactions, anchor transaction included
    pub sum_tx: u64,
    /// sum of effective tip x gas used, anchor transaction excluded
    pub sum_priority_fee: Wei,
    /// sum_gas_used x base fee per gas
    pub sum_base_fee: Wei,
    /// block beneficiary
    pub sequencer: Address,
}

impl L2Head {
    /// The metrics of `block`, whose anchor transactions are those sent to `anchor`.
    pub fn of(block: &Block, anchor: Address) -> Self {
        let mut sum_gas_used = 0u64;
        let mut sum_priority_fee: Wei = 0;
        for tx in block.transactions.iter().filter(|t| t.to != Some(anchor)) {
            sum_gas_used = sum_gas_used.saturating_add(tx.gas_used);
            sum_priority_fee = sum_priority_fee.saturating_add(
                tx.effective_tip(block.base_fee_per_gas)
                    .saturating_mul(Wei::from(tx.gas_used)),
            );
        }
        L2Head {
            chain_id: block.chain_id,
            block_number: block.number,
            block_hash: block.hash,
            timestamp: block.timestamp,
            sum_gas_used,
            sum_tx: block.transactions.len() as u64,
            sum_priority_fee,
            sum_base_fee: Wei::from(sum_gas_used).saturating_mul(block.base_fee_per_gas),
            sequencer: block.miner,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflows::taiko::events::L2_ANCHOR;
    use crate::model::testing;

    fn tx(index: u32, to: Option<Address>, price: Wei, gas_used: u64) -> crate::model::Tx {
        crate::model::Tx {
            to,
            ..testing::tx(index, price, gas_used, 0)
        }
    }

    fn block(transactions: Vec<crate::model::Tx>) -> Block {
        Block {
            chain_id: 167_000,
            miner: Address::repeat_byte(0x5e),
            ..testing::block(1_000, 1_775_000_000, 10_000_000, transactions)
        }
    }

    #[test]
    fn the_anchor_transaction_counts_in_sum_tx_only() {
        let other = Some(Address::repeat_byte(9));
        let b = block(vec![
            // The anchor: no tip, large gas; excluded from the sums.
            tx(0, Some(L2_ANCHOR), 10_000_000, 250_000),
            tx(1, other, 12_000_000, 21_000),
            tx(2, other, 10_500_000, 100_000),
            // Priced below the base fee (cannot happen on chain): a tip of 0, not negative.
            tx(3, None, 9_000_000, 50_000),
        ]);
        let row = L2Head::of(&b, L2_ANCHOR);
        assert_eq!(row.sum_tx, 4);
        assert_eq!(row.sum_gas_used, 21_000 + 100_000 + 50_000);
        assert_eq!(row.sum_priority_fee, 2_000_000 * 21_000 + 500_000 * 100_000);
        assert_eq!(row.sum_base_fee, 171_000 * 10_000_000);
        assert_eq!(row.sequencer, Address::repeat_byte(0x5e));
        assert_eq!(row.values().len(), L2Head::COLUMNS.len());
    }

    #[test]
    fn a_block_with_only_the_anchor_has_zero_sums() {
        let row = L2Head::of(
            &block(vec![tx(0, Some(L2_ANCHOR), 10_000_000, 250_000)]),
            L2_ANCHOR,
        );
        assert_eq!(
            (
                row.sum_tx,
                row.sum_gas_used,
                row.sum_priority_fee,
                row.sum_base_fee
            ),
            (1, 0, 0, 0)
        );
    }
}
