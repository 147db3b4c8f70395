//! `[rollup_devnet]`: the settings of the generated chains and the protocol's schedule.

use serde::{Deserialize, Serialize};

use crate::abi::taiko::Contracts;
use crate::model::Address;

/// The protocol fork(s) the rollup devnet emits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RollupFork {
    /// Pacaya only: `BatchProposed`, `BatchesProved`, `BatchesVerified`, Pacaya anchors.
    Pacaya,
    /// Shasta only: `Proposed`, `Proved` + `CheckpointSaved`, Shasta anchors.
    Shasta,
    /// Pacaya, then Shasta from [`RollupDevnetConfig::shasta_activation_l1_block`] (halfway by
    /// default). Pacaya batches proposed before the switch are still proved and verified.
    #[default]
    Both,
}

/// Rollup devnet settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RollupDevnetConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Chain id of the L1.
    pub l1_chain_id: u64,
    /// Chain id of the L2.
    pub l2_chain_id: u64,
    /// Seconds between consecutive L1 blocks.
    pub l1_slot_seconds: u64,
    /// Seconds between consecutive L2 blocks (at most 255: it is a batch's `timeShift`).
    pub l2_slot_seconds: u64,
    /// Timestamp of both genesis blocks (unix seconds).
    pub genesis_timestamp: u64,
    /// Stop once the canonical L1 chain has this many blocks above genesis.
    pub max_l1_blocks: Option<u64>,
    /// Mean number of ordinary transactions per L2 block (the anchor comes on top).
    pub l2_txs_per_block: u32,
    /// Mean number of ordinary transactions per L1 block (the protocol's come on top).
    pub l1_txs_per_block: u32,
    /// Which protocol fork(s) the L1 logs and L2 anchors follow.
    pub fork: RollupFork,
    /// With [`RollupFork::Both`]: the first L1 block of Shasta. `None`: halfway through
    /// `max_l1_blocks`, or block 1000 when unbounded. L2 blocks switch anchors at the same
    /// timestamp.
    pub shasta_activation_l1_block: Option<u64>,
    /// Probability that an L1 step reorgs the L1 tip instead of extending it.
    pub l1_reorg_rate: f64,
    /// Deepest L1 reorg (1 to 64, below `finality_depth`).
    pub l1_reorg_max_depth: u64,
    /// Probability that an L2 step reorgs the L2 tip instead of extending it.
    pub l2_reorg_rate: f64,
    /// Deepest L2 reorg (1 to 64, below `finality_depth`).
    pub l2_reorg_max_depth: u64,
    /// Blocks below each chain's tip that are final: nothing at or below
    /// `tip - finality_depth` is ever reorged.
    pub finality_depth: u64,
    /// Inclusive range of the number of L2 blocks per batch (proposal), drawn per batch.
    pub blocks_per_batch: [u64; 2],
    /// L1 blocks after its proposal before a batch may be proved.
    pub prove_delay_l1_blocks: u64,
    /// L1 blocks after its proof before a Pacaya batch may be verified.
    pub verify_delay_l1_blocks: u64,
    /// Every this many batches one is a forced inclusion (0: never).
    pub forced_inclusion_every: u64,
    /// Probability that an L1 block carries a slashing.
    pub slashing_rate: f64,
    /// Probability that an L1 block carries an undecodable log of a protocol contract.
    pub garbage_log_rate: f64,
    /// Wall-clock pause between events in milliseconds (0: as fast as possible).
    pub block_time_ms: u64,
    /// The protocol's contracts; every role the fork uses must be set (see
    /// [`default_contracts`]).
    pub contracts: Contracts,
}

/// The contracts of the rollup devnet: the mainnet inboxes and anchor
/// ([`Contracts::default`]) and `0xf1…f1` to `0xf5…f5` for the forced-inclusion store, the
/// TaikoWrapper, the preconfirmation slasher, the signal service and the bond manager.
pub fn default_contracts() -> Contracts {
    Contracts {
        forced_inclusion_store: Some(Address::repeat_byte(0xf1)),
        taiko_wrapper: Some(Address::repeat_byte(0xf2)),
        preconf_slasher: Some(Address::repeat_byte(0xf3)),
        signal_service: Some(Address::repeat_byte(0xf4)),
        bond_manager: Some(Address::repeat_byte(0xf5)),
        ..Contracts::default()
    }
}

impl Default for RollupDevnetConfig {
    fn default() -> Self {
        RollupDevnetConfig {
            seed: 42,
            l1_chain_id: 1,
            l2_chain_id: 167_000,
            l1_slot_seconds: 12,
            l2_slot_seconds: 2,
            genesis_timestamp: 1_767_225_600,
            max_l1_blocks: None,
            l2_txs_per_block: 12,
            l1_txs_per_block: 8,
            fork: RollupFork::Both,
            shasta_activation_l1_block: None,
            l1_reorg_rate: 0.02,
            l1_reorg_max_depth: 3,
            l2_reorg_rate: 0.01,
            l2_reorg_max_depth: 4,
            finality_depth: 64,
            blocks_per_batch: [6, 12],
            prove_delay_l1_blocks: 8,
            verify_delay_l1_blocks: 4,
            forced_inclusion_every: 10,
            slashing_rate: 0.01,
            garbage_log_rate: 0.005,
            block_time_ms: 0,
            contracts: default_contracts(),
        }
    }
}

impl RollupDevnetConfig {
    /// Checks the settings, naming the offending key (`rollup_devnet.<key>`) and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, reason: String| Err((format!("rollup_devnet.{key}"), reason));
        if self.l1_chain_id == self.l2_chain_id {
            return bad(
                "l2_chain_id",
                format!("must differ from l1_chain_id ({})", self.l1_chain_id),
            );
        }
        if self.l1_slot_seconds == 0 {
            return bad("l1_slot_seconds", "must be at least 1".into());
        }
        if !(1..=255).contains(&self.l2_slot_seconds) {
            return bad(
                "l2_slot_seconds",
                format!("must be 1 to 255, got {}", self.l2_slot_seconds),
            );
        }
        for (key, depth) in [
            ("l1_reorg_max_depth", self.l1_reorg_max_depth),
            ("l2_reorg_max_depth", self.l2_reorg_max_depth),
        ] {
            if !(1..=64).contains(&depth) {
                return bad(key, format!("must be 1 to 64, got {depth}"));
            }
            if self.finality_depth <= depth {
                return bad(
                    "finality_depth",
                    format!("must exceed {key} ({depth}), got {}", self.finality_depth),
                );
            }
        }
        for (key, v) in [
            ("l1_reorg_rate", self.l1_reorg_rate),
            ("l2_reorg_rate", self.l2_reorg_rate),
            ("slashing_rate", self.slashing_rate),
            ("garbage_log_rate", self.garbage_log_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(key, format!("must be between 0 and 1, got {v}"));
            }
        }
        let [lo, hi] = self.blocks_per_batch;
        if lo == 0 || lo > hi || hi > 1_000 {
            return bad(
                "blocks_per_batch",
                format!("must be [min, max] with 1 <= min <= max <= 1000, got [{lo}, {hi}]"),
            );
        }
        if self.l2_txs_per_block > 10_000 {
            return bad(
                "l2_txs_per_block",
                format!("must be at most 10000, got {}", self.l2_txs_per_block),
            );
        }
        if self.l1_txs_per_block > 1_000 {
            return bad(
                "l1_txs_per_block",
                format!("must be at most 1000, got {}", self.l1_txs_per_block),
            );
        }
        if self.shasta_activation_l1_block == Some(0) {
            return bad("shasta_activation_l1_block", "must be at least 1".into());
        }
        let c = &self.contracts;
        let mut roles = vec![("anchor", c.anchor)];
        if self.fork != RollupFork::Shasta {
            roles.extend([
                ("pacaya_inbox", c.pacaya_inbox),
                ("forced_inclusion_store", c.forced_inclusion_store),
                ("taiko_wrapper", c.taiko_wrapper),
                ("preconf_slasher", c.preconf_slasher),
            ]);
        }
        if self.fork != RollupFork::Pacaya {
            roles.extend([
                ("shasta_inbox", c.shasta_inbox),
                ("signal_service", c.signal_service),
                ("bond_manager", c.bond_manager),
            ]);
        }
        let mut seen: Vec<(&str, Address)> = Vec::new();
        for (role, address) in roles {
            let Some(address) = address else {
                return bad(
                    &format!("contracts.{role}"),
                    format!("must be set: the {:?} fork(s) emit its events", self.fork),
                );
            };
            if let Some((other, _)) = seen.iter().find(|(_, a)| *a == address) {
                return bad(
                    &format!("contracts.{role}"),
                    format!("{address} is also contracts.{other}: roles need distinct addresses"),
                );
            }
            seen.push((role, address));
        }
        Ok(())
    }

    /// The first L1 block whose protocol transactions are Shasta's (`u64::MAX`: never).
    pub(super) fn activation(&self) -> u64 {
        match self.fork {
            RollupFork::Pacaya => u64::MAX,
            RollupFork::Shasta => 0,
            RollupFork::Both => self
                .shasta_activation_l1_block
                .or(self.max_l1_blocks.map(|m| (m / 2).max(1)))
                .unwrap_or(1_000),
        }
    }
}
