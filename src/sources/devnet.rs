//! The built-in devnet: a deterministic chain generator, the embedded default source.
//!
//! From a seed it produces a chain whose base fee follows the EIP-1559 recurrence exactly and
//! whose excess blob gas and blob base fee follow EIP-4844 (with the blob parameters of a
//! named fork), filled with a mix of legacy, dynamic-fee and blob transactions whose tips
//! are lognormal. At a configurable rate it reorgs the tip: depth 1 to `reorg_max_depth`
//! (log-uniform), and a share of reorgs go to the deepest allowed depth, which at the default
//! settings is the finality edge (the first block above the finalized one).
//!
//! The same seed and settings give the same events, hashes included.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{SourceError, SourceEvent};
use crate::model::fees::{self, BlobParams, GAS_PER_BLOB};
use crate::model::{Address, B256, Block, ChainEvent, Log, Tx, Wei};

/// Devnet settings (`[devnet]` in the config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevnetConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Chain id of the generated chain.
    pub chain_id: u64,
    /// Wall-clock pause between events in milliseconds (0: as fast as possible).
    pub block_time_ms: u64,
    /// Seconds between consecutive block timestamps.
    pub slot_seconds: u64,
    /// Timestamp of the genesis block (unix seconds).
    pub genesis_timestamp: u64,
    /// Gas limit of every block.
    pub gas_limit: u64,
    /// Base fee of the genesis block in wei.
    pub genesis_base_fee: u64,
    /// Mean number of transactions per block (their gas follows the demand for gas).
    pub txs_per_block: u32,
    /// How strongly the demand for gas answers the base fee: a block asks for
    /// `target * demand * (genesis_base_fee / base_fee) ^ elasticity` gas (0: not at all, and
    /// the base fee follows the random demand alone).
    pub demand_elasticity: f64,
    /// Share of blob (type-3) transactions.
    pub blob_tx_share: f64,
    /// Share of legacy (type-0) transactions; the rest are dynamic-fee (type-2).
    pub legacy_tx_share: f64,
    /// Median tip in gwei (the tips are lognormal).
    pub tip_median_gwei: f64,
    /// Standard deviation of the tip's logarithm.
    pub tip_sigma: f64,
    /// Blob parameters by fork name: cancun, prague, osaka, bpo1 or bpo2.
    pub blob_schedule: String,
    /// Probability that a step reorgs the tip instead of extending it.
    pub reorg_rate: f64,
    /// Deepest reorg (1 to 64, at most `finality_depth`).
    pub reorg_max_depth: u64,
    /// Share of reorgs that go to the deepest allowed depth.
    pub edge_reorg_share: f64,
    /// Blocks below the tip that are final: nothing at or below `tip - finality_depth` is
    /// ever reorged.
    pub finality_depth: u64,
    /// Stop once the canonical chain has this many blocks above genesis.
    pub max_blocks: Option<u64>,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        DevnetConfig {
            seed: 42,
            chain_id: 1337,
            block_time_ms: 250,
            slot_seconds: 12,
            genesis_timestamp: 1_767_225_600,
            gas_limit: 36_000_000,
            genesis_base_fee: 1_000_000_000,
            txs_per_block: 200,
            demand_elasticity: 0.5,
            blob_tx_share: 0.015,
            legacy_tx_share: 0.2,
            tip_median_gwei: 0.2,
            tip_sigma: 1.3,
            blob_schedule: "prague".into(),
            reorg_rate: 0.03,
            reorg_max_depth: 64,
            edge_reorg_share: 0.05,
            finality_depth: 64,
            max_blocks: None,
        }
    }
}

impl DevnetConfig {
    /// Checks the settings, naming the offending key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, reason: String| Err((format!("devnet.{key}"), reason));
        if !(1..=64).contains(&self.reorg_max_depth) {
            return bad(
                "reorg_max_depth",
                format!("must be 1 to 64, got {}", self.reorg_max_depth),
            );
        }
        if self.finality_depth < self.reorg_max_depth {
            return bad(
                "finality_depth",
                format!(
                    "must be at least reorg_max_depth ({}), got {}",
                    self.reorg_max_depth, self.finality_depth
                ),
            );
        }
        for (key, v) in [
            ("reorg_rate", self.reorg_rate),
            ("edge_reorg_share", self.edge_reorg_share),
            ("blob_tx_share", self.blob_tx_share),
            ("legacy_tx_share", self.legacy_tx_share),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(key, format!("must be between 0 and 1, got {v}"));
            }
        }
        if self.blob_tx_share + self.legacy_tx_share > 1.0 {
            return bad(
                "legacy_tx_share",
                "blob_tx_share + legacy_tx_share must not exceed 1".into(),
            );
        }
        if !(self.tip_median_gwei.is_finite() && self.tip_median_gwei >= 0.0) {
            return bad(
                "tip_median_gwei",
                format!(
                    "must be a non-negative number, got {}",
                    self.tip_median_gwei
                ),
            );
        }
        if !(self.demand_elasticity.is_finite() && (0.0..=4.0).contains(&self.demand_elasticity)) {
            return Err((
                "demand_elasticity".into(),
                format!(
                    "must be a number from 0 to 4, got {}",
                    self.demand_elasticity
                ),
            ));
        }
        if !(self.tip_sigma.is_finite() && self.tip_sigma >= 0.0) {
            return bad(
                "tip_sigma",
                format!("must be a non-negative number, got {}", self.tip_sigma),
            );
        }
        if self.gas_limit < 21_000 {
            return bad(
                "gas_limit",
                format!("must be at least 21000, got {}", self.gas_limit),
            );
        }
        if self.slot_seconds == 0 {
            return bad("slot_seconds", "must be at least 1".into());
        }
        if BlobParams::from_name(&self.blob_schedule).is_none() {
            return bad(
                "blob_schedule",
                format!(
                    "unknown fork '{}', expected cancun, prague, osaka, bpo1 or bpo2",
                    self.blob_schedule
                ),
            );
        }
        Ok(())
    }
}

/// A small, fast, seedable generator (xoshiro256**): the devnet must not depend on a
/// random-number crate's version for its output.
#[derive(Clone, Debug)]
pub struct Rng([u64; 4]);

impl Rng {
    /// A generator seeded through splitmix64.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut s = [0u64; 4];
        for v in &mut s {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            *v = mix64(x);
        }
        Rng(s)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Lognormal with the given median and log standard deviation.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }
}

/// splitmix64's finalizer.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic 32-byte identifier from a few numbers.
fn digest(parts: &[u64]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut acc = 0x6A09_E667_F3BC_C908u64;
    for &p in parts {
        acc = mix64(acc ^ p).wrapping_add(0x9E37_79B9_7F4A_7C15);
    }
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        acc = mix64(acc.wrapping_add(i as u64 + 1));
        chunk.copy_from_slice(&acc.to_be_bytes());
    }
    out
}

fn address(id: u64) -> Address {
    let d = digest(&[0xADD, id]);
    let mut a = [0u8; 20];
    a.copy_from_slice(&d[..20]);
    Address::from(a)
}

/// topic0 of ERC-20 `Transfer(address indexed from, address indexed to, uint256 value)`.
pub const ERC20_TRANSFER: B256 =
    alloy_primitives::b256!("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");

/// The ERC-20 tokens of the devnet: their contract addresses.
pub fn erc20_tokens() -> impl Iterator<Item = Address> {
    (0..20).map(|i| address(9_100 + i))
}

/// An ERC-20 `Transfer` log `(contract, topics, data)` of one of [`erc20_tokens`] from
/// `from`: amounts mostly below 2^74, now and then above 2^128 (they need all 256 bits);
/// one in two hundred has truncated data, as a broken token would emit.
fn erc20_transfer(rng: &mut Rng, from: Address) -> (Address, Vec<B256>, Vec<u8>) {
    let token = address(9_100 + rng.range(0, 19));
    let to = address(rng.range(0, 5_000));
    let amount = if rng.unit() < 0.02 {
        alloy_primitives::U256::from(rng.next_u64()) << 160
    } else {
        alloy_primitives::U256::from(rng.next_u64())
            * alloy_primitives::U256::from(rng.range(1, 1_000))
    };
    let mut data = amount.to_be_bytes::<32>().to_vec();
    if rng.unit() < 0.005 {
        data.truncate(20);
    }
    (
        token,
        vec![ERC20_TRANSFER, from.into_word(), to.into_word()],
        data,
    )
}

/// The mean gas of a transaction as drawn: 40% transfers (21,000), 60% calls of 21,000 plus a
/// lognormal with median 70,000 and sigma 1 (mean 70,000 * e^0.5).
const MEAN_TX_GAS: f64 = 0.4 * 21_000.0 + 0.6 * (21_000.0 + 115_410.0);

/// The most gas one transaction uses (EIP-7825's cap).
const MAX_TX_GAS: u64 = 1 << 24;

/// The devnet chain generator: an iterator of [`SourceEvent`]s.
pub struct Devnet {
    config: DevnetConfig,
    params: BlobParams,
    rng: Rng,
    /// The canonical chain from the oldest block that can still be reorged (or genesis).
    window: Vec<Block>,
    /// Incremented at every reorg so the new branch gets new hashes.
    branch: u64,
    /// Demand multiplier, a slow random walk that moves the base fee.
    demand: f64,
    pause: Duration,
    started: bool,
}

impl Devnet {
    /// A generator for `config`; fails on invalid settings.
    pub fn new(config: DevnetConfig) -> Result<Self, SourceError> {
        config
            .validate()
            .map_err(|(key, reason)| SourceError::Invalid {
                chain_id: config.chain_id,
                what: format!("devnet setting '{key}'"),
                reason,
            })?;
        let params = BlobParams::from_name(&config.blob_schedule).unwrap_or(BlobParams::PRAGUE);
        let genesis = Block {
            chain_id: config.chain_id,
            number: 0,
            hash: B256::from(digest(&[config.seed, config.chain_id, 0, 0])),
            parent_hash: B256::ZERO,
            timestamp: config.genesis_timestamp,
            miner: Address::ZERO,
            gas_used: config.gas_limit / 2,
            gas_limit: config.gas_limit,
            base_fee_per_gas: Wei::from(config.genesis_base_fee),
            blob_gas_used: params.target_blob_gas(),
            excess_blob_gas: 0,
            blob_base_fee: fees::blob_base_fee(0, &params),
            transactions: Vec::new(),
            logs: Vec::new(),
        };
        Ok(Devnet {
            pause: Duration::from_millis(config.block_time_ms),
            rng: Rng::new(config.seed),
            params,
            window: vec![genesis],
            branch: 0,
            demand: 1.0,
            config,
            started: false,
        })
    }

    /// The canonical tip.
    pub fn tip(&self) -> &Block {
        // The window always holds at least the genesis block.
        &self.window[self.window.len() - 1]
    }

    /// The finalized height: `tip - finality_depth`.
    pub fn finalized(&self) -> u64 {
        self.tip().number.saturating_sub(self.config.finality_depth)
    }

    fn done(&self) -> bool {
        self.config
            .max_blocks
            .is_some_and(|max| self.tip().number >= max)
    }

    /// Produces the next event, or `None` once `max_blocks` is reached.
    pub fn step(&mut self) -> Option<ChainEvent> {
        if self.done() {
            return None;
        }
        let tip_number = self.tip().number;
        let reorgable = tip_number
            .saturating_sub(self.finalized())
            .min(self.window.len() as u64 - 1);
        let event = if reorgable > 0 && self.rng.unit() < self.config.reorg_rate {
            let depth = self.reorg_depth().min(reorgable);
            let old = self.window.split_off(self.window.len() - depth as usize);
            self.branch += 1;
            let mut len = depth + self.rng.range(0, 1);
            if let Some(max) = self.config.max_blocks {
                len = len.min(max.saturating_sub(self.tip().number)).max(1);
            }
            let mut new = Vec::with_capacity(len as usize);
            for _ in 0..len {
                let block = self.next_block();
                self.window.push(block.clone());
                new.push(block);
            }
            ChainEvent::Reorged { old, new }
        } else {
            let block = self.next_block();
            self.window.push(block.clone());
            ChainEvent::Committed { new: vec![block] }
        };
        let keep = self.config.finality_depth as usize + 1;
        if self.window.len() > keep {
            self.window.drain(..self.window.len() - keep);
        }
        Some(event)
    }

    /// Log-uniform in `1..=reorg_max_depth`, with a share at the maximum.
    fn reorg_depth(&mut self) -> u64 {
        let max = self.config.reorg_max_depth;
        if self.rng.unit() < self.config.edge_reorg_share {
            return max;
        }
        let d = ((max as f64 + 1.0).ln() * self.rng.unit()).exp().floor() as u64;
        d.clamp(1, max)
    }

    /// A new block on top of the current tip.
    fn next_block(&mut self) -> Block {
        let cfg = &self.config;
        // The parent's header fields only: a clone of the parent block would copy its
        // transactions and logs too, the bulk of the cost of a block.
        let parent = self.tip();
        let (number, parent_hash, parent_timestamp) =
            (parent.number + 1, parent.hash, parent.timestamp);
        let base_fee =
            fees::next_base_fee(parent.gas_used, parent.gas_limit, parent.base_fee_per_gas);
        let excess = fees::next_excess_blob_gas(
            parent.excess_blob_gas,
            parent.blob_gas_used,
            parent.base_fee_per_gas,
            &self.params,
        );
        let blob_base_fee = fees::blob_base_fee(excess, &self.params);
        let skip = if self.rng.unit() < 0.03 { 1 } else { 0 };
        let timestamp = parent_timestamp + cfg.slot_seconds * (1 + skip);

        // Demand wanders between a third and double of the mean, and answers the price: a
        // base fee below the reference (genesis) draws more gas, above it less. The base fee
        // thus settles where the gas asked for meets the target (half the limit), about
        // `genesis_base_fee * demand ^ (1 / elasticity)`, instead of drifting to its floor.
        self.demand = (self.demand * (0.08 * self.rng.normal()).exp()).clamp(0.35, 2.0);
        let wanted = (f64::from(cfg.txs_per_block) * (0.7 + 0.6 * self.rng.unit())).round() as u64;
        let price = (cfg.genesis_base_fee.max(1) as f64 / base_fee.max(1) as f64)
            .powf(cfg.demand_elasticity)
            .min(1e6);
        let gas_wanted = (cfg.gas_limit / 2) as f64 * self.demand * price;
        // Scales the gas of each transaction (drawn as below, MEAN_TX_GAS on average) so
        // that `wanted` transactions ask for `gas_wanted`.
        let gas_scale = (gas_wanted / (wanted.max(1) as f64 * MEAN_TX_GAS)).clamp(0.05, 50.0);
        let max_blobs = self.params.max_blobs;
        let tip_median = cfg.tip_median_gwei * 1e9;
        let seed = cfg.seed;
        let chain_id = cfg.chain_id;
        let (blob_share, legacy_share, sigma, gas_limit) = (
            cfg.blob_tx_share,
            cfg.legacy_tx_share,
            cfg.tip_sigma,
            cfg.gas_limit,
        );

        let mut gas_used = 0u64;
        let mut blobs = 0u64;
        let mut transactions = Vec::with_capacity(wanted as usize);
        let mut logs = Vec::new();
        let rng = &mut self.rng;
        for i in 0..wanted {
            let drawn = if rng.unit() < 0.4 {
                21_000
            } else {
                21_000 + (rng.lognormal(70_000.0, 1.0) as u64).min(2_000_000)
            };
            let gas = ((drawn as f64 * gas_scale) as u64).clamp(21_000, MAX_TX_GAS);
            if gas_used + gas > gas_limit {
                break;
            }
            let r = rng.unit();
            let (tx_type, blob_count) = if r < blob_share && blobs < max_blobs {
                let n = rng.range(1, (max_blobs - blobs).min(3));
                (3u8, n)
            } else if r < blob_share + legacy_share {
                (0u8, 0)
            } else {
                (2u8, 0)
            };
            let tip = rng.lognormal(tip_median, sigma).min(1e15) as Wei;
            let (effective_gas_price, max_fee, max_tip) = if tx_type == 0 {
                (base_fee + tip, None, None)
            } else {
                // One in ten caps its fee below base fee + tip: it pays a smaller tip.
                let max_fee = if rng.unit() < 0.1 {
                    base_fee + tip / 2
                } else {
                    base_fee * 2 + tip
                };
                ((base_fee + tip).min(max_fee), Some(max_fee), Some(tip))
            };
            let index = transactions.len() as u32;
            let hash = B256::from(digest(&[
                seed,
                chain_id,
                number,
                self.branch,
                1 + u64::from(index),
            ]));
            let from = address(rng.range(0, 5_000));
            let to = if rng.unit() < 0.02 {
                None
            } else {
                Some(address(rng.range(5_000, 9_000)))
            };
            if rng.unit() < 0.3 {
                let log_index = logs.len() as u32;
                let log = if rng.unit() < 0.5 {
                    erc20_transfer(rng, from)
                } else {
                    let contract = address(rng.range(9_000, 9_050));
                    (
                        contract,
                        vec![
                            B256::from(digest(&[0x70, contract.0[0] as u64])),
                            B256::from(digest(&[0x71, i])),
                        ],
                        (rng.next_u64() % 1_000_000).to_be_bytes().to_vec(),
                    )
                };
                logs.push(Log {
                    tx_index: index,
                    log_index,
                    tx_hash: hash,
                    address: log.0,
                    topics: log.1,
                    data: log.2,
                });
            }
            transactions.push(Tx {
                hash,
                index,
                tx_type,
                from,
                to,
                value: Wei::from(rng.next_u64() % 5_000_000_000_000_000_000),
                gas_limit: gas + gas / 5,
                gas_used: gas,
                effective_gas_price,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: max_tip,
                max_fee_per_blob_gas: (tx_type == 3).then_some(blob_base_fee * 2 + 1),
                blob_count: blob_count as u32,
                success: rng.unit() < 0.97,
            });
            gas_used += gas;
            blobs += blob_count;
        }
        Block {
            chain_id,
            number,
            hash: B256::from(digest(&[seed, chain_id, number, self.branch])),
            parent_hash,
            timestamp,
            miner: address(10_000 + rng.range(0, 20)),
            gas_used,
            gas_limit,
            base_fee_per_gas: base_fee,
            blob_gas_used: blobs * GAS_PER_BLOB,
            excess_blob_gas: excess,
            blob_base_fee,
            transactions,
            logs,
        }
    }
}

impl Iterator for Devnet {
    type Item = Result<SourceEvent, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.started && !self.pause.is_zero() {
            std::thread::sleep(self.pause);
        }
        self.started = true;
        let event = self.step()?;
        let finalized = Some((self.config.chain_id, self.finalized()));
        Some(Ok(SourceEvent {
            event,
            finalized,
            caught_up: true,
            epoch: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(seed: u64) -> DevnetConfig {
        DevnetConfig {
            seed,
            block_time_ms: 0,
            max_blocks: Some(300),
            reorg_rate: 0.1,
            ..DevnetConfig::default()
        }
    }

    #[test]
    fn the_base_fee_hovers_at_realistic_values_over_a_long_run() {
        let config = DevnetConfig {
            block_time_ms: 0,
            reorg_rate: 0.0,
            max_blocks: Some(10_000),
            ..DevnetConfig::default()
        };
        let mut devnet = Devnet::new(config).unwrap();
        let mut fees: Vec<f64> = Vec::new();
        let mut fullness = 0.0;
        while let Some(event) = devnet.step() {
            for b in event.new_blocks() {
                fees.push(b.base_fee_per_gas as f64 / 1e9);
                fullness += b.gas_used as f64 / b.gas_limit as f64;
            }
        }
        assert_eq!(fees.len(), 10_000);
        // After the first hour (the genesis fee is the reference) every block's base fee is
        // between 0.05 and a few gwei, and it moves: neither stuck nor at its floor.
        let settled = &fees[300..];
        let outside = settled
            .iter()
            .filter(|f| !(0.05..=5.0).contains(*f))
            .count();
        assert_eq!(outside, 0, "{outside} blocks outside 0.05..5 gwei");
        let mut sorted = settled.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (p5, p95) = (sorted[sorted.len() / 20], sorted[sorted.len() * 19 / 20]);
        assert!(
            p95 / p5 > 2.0,
            "the base fee barely moves: p5 {p5} p95 {p95} gwei"
        );
        // On average the blocks sit at the gas target (half full), as on mainnet.
        let mean = fullness / fees.len() as f64;
        assert!(
            (0.4..0.6).contains(&mean),
            "blocks are {mean:.2} full on average"
        );
    }

    #[test]
    fn same_seed_gives_same_events() {
        let a: Vec<_> = Devnet::new(fast(7)).unwrap().map(|e| e.unwrap()).collect();
        let b: Vec<_> = Devnet::new(fast(7)).unwrap().map(|e| e.unwrap()).collect();
        let c: Vec<_> = Devnet::new(fast(8)).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn chain_links_and_fee_recurrences_hold() {
        let mut devnet = Devnet::new(fast(3)).unwrap();
        let mut chain: Vec<Block> = Vec::new();
        let mut reorgs = 0;
        while let Some(event) = devnet.step() {
            let old = event.old().to_vec();
            if !old.is_empty() {
                reorgs += 1;
                let tail = chain.split_off(chain.len() - old.len());
                assert_eq!(tail, old, "a reorg removes exactly the canonical tail");
            }
            chain.extend(event.new_blocks().iter().cloned());
        }
        assert!(reorgs > 5, "expected reorgs, got {reorgs}");
        assert_eq!(chain.len(), 300);
        let params = BlobParams::PRAGUE;
        for w in chain.windows(2) {
            let (p, c) = (&w[0], &w[1]);
            assert_eq!(c.parent_hash, p.hash);
            assert_eq!(c.number, p.number + 1);
            assert_eq!(
                c.base_fee_per_gas,
                fees::next_base_fee(p.gas_used, p.gas_limit, p.base_fee_per_gas)
            );
            assert_eq!(
                c.excess_blob_gas,
                fees::next_excess_blob_gas(
                    p.excess_blob_gas,
                    p.blob_gas_used,
                    p.base_fee_per_gas,
                    &params
                )
            );
            assert!(c.gas_used <= c.gas_limit);
            assert_eq!(
                c.gas_used,
                c.transactions.iter().map(|t| t.gas_used).sum::<u64>()
            );
            assert!(c.blob_gas_used <= params.max_blob_gas());
        }
        let types: std::collections::BTreeSet<u8> = chain
            .iter()
            .flat_map(|b| b.transactions.iter().map(|t| t.tx_type))
            .collect();
        assert_eq!(types, [0u8, 2, 3].into_iter().collect());
    }

    #[test]
    fn reorgs_reach_the_finality_edge_and_never_below() {
        let cfg = DevnetConfig {
            max_blocks: Some(3_000),
            reorg_rate: 0.05,
            edge_reorg_share: 0.3,
            txs_per_block: 2,
            ..fast(11)
        };
        let mut devnet = Devnet::new(cfg).unwrap();
        let mut deepest = 0;
        let mut finalized = 0;
        while let Some(event) = devnet.step() {
            if let Some(first) = event.old().first() {
                assert!(first.number > finalized, "reorg below finality");
                deepest = deepest.max(event.depth());
            }
            finalized = devnet.finalized();
        }
        assert_eq!(deepest, 64);
    }

    #[test]
    fn invalid_settings_name_the_key() {
        let cfg = DevnetConfig {
            reorg_max_depth: 65,
            ..DevnetConfig::default()
        };
        let err = Devnet::new(cfg).err().unwrap().to_string();
        assert!(err.contains("devnet.reorg_max_depth"), "{err}");
    }
}
