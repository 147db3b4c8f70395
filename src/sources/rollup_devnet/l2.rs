//! The L2 side: blocks that start with the anchor transaction, then ordinary transactions.

use super::blocks::*;
use super::*;

impl RollupDevnet {
    /// A user transaction (legacy or dynamic-fee) with a lognormal tip; a share emit a token
    /// log, a few fail.
    pub(super) fn ordinary_tx(&mut self, tip_median: f64, contract_logs: bool) -> TxSpec {
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
    pub(super) fn next_l2(&mut self) -> L2Entry {
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
}
