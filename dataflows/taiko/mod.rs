//! `taiko`: the Taiko rollup (issue 8, in progress). Opt-in: add it to `[dataflows] enabled`.
//!
//! **Inputs**: canonical blocks of every chain of the run; the L2 is the chain
//! `[taiko] l2_chain_id` (default 167000, Taiko mainnet), its anchor contract
//! `[taiko.contracts] anchor`.
//!
//! **Outputs**
//! - `l2_heads`, key `(chain_id, block_number)`: one [`l2::L2Head`] per canonical L2 block
//!   (gas and priority fees without the anchor transaction, transactions with it, base fee,
//!   sequencer).
//!
//! **Reorgs**: an L2 reorg retracts the orphaned blocks' rows and inserts the new branch's at
//! the same epoch (a row depends on its block only). L1 reorgs do not touch `l2_heads`.
//!
//! **State**: none (a map per block).
//!
//! Building blocks for the rest of issue 8 (batches, proofs, verifications, forced
//! inclusions, costs, rollups, reorgs): [`events`] decodes the protocol's events of both
//! forks.
//!
//! ```text
//! blocks ─filter(chain == l2)─map(L2Head::of)─► l2_heads
//! ```

pub mod events;
pub mod l2;

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::engine::dataflow::{Dataflow, Inputs, Output, OutputSpec};

/// Name of the per-L2-block output.
pub const L2_HEADS: &str = "l2_heads";

/// `[taiko]`: which chain is the L2 and the protocol's contracts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaikoConfig {
    /// Chain id of the Taiko L2 (167000 on mainnet).
    pub l2_chain_id: u64,
    /// The protocol's contracts (mainnet inboxes and anchor by default).
    pub contracts: events::Contracts,
}

impl Default for TaikoConfig {
    fn default() -> Self {
        TaikoConfig {
            l2_chain_id: 167_000,
            contracts: events::Contracts::default(),
        }
    }
}

/// The `taiko` dataflow with its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taiko {
    config: TaikoConfig,
}

impl Taiko {
    /// The dataflow for `config`.
    pub fn new(config: TaikoConfig) -> Self {
        Taiko { config }
    }
}

/// The registry's instance: mainnet settings.
pub static DEFAULT: LazyLock<Taiko> = LazyLock::new(|| Taiko::new(TaikoConfig::default()));

impl Dataflow for Taiko {
    fn name(&self) -> &'static str {
        "taiko"
    }

    fn doc(&self) -> &'static str {
        "Taiko rollup metrics (issue 8, in progress): per L2 block gas, fees and sequencer"
    }

    fn outputs(&self) -> Vec<OutputSpec> {
        vec![OutputSpec::of::<l2::L2Head>(
            L2_HEADS,
            "one row per canonical Taiko L2 block",
        )]
    }

    fn build<'s>(&self, inputs: &Inputs<'s>) -> Vec<Output<'s>> {
        let l2 = self.config.l2_chain_id;
        let anchor = self.config.contracts.anchor.unwrap_or(events::L2_ANCHOR);
        let heads = inputs
            .blocks()
            .filter(move |b| b.chain_id == l2)
            .map(move |b| l2::L2Head::of(&b, anchor));
        vec![Output::new(self.outputs()[0], heads)]
    }

    fn enabled_by_default(&self) -> bool {
        false
    }
}
