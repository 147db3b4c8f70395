//! Write a dataflow of your own and run it over the devnet, reorgs included.
//!
//! `cargo run --release --example custom_dataflow`
//!
//! The dataflow counts canonical transactions per chain and EIP-2718 type. It contains no
//! reorg logic: orphaned blocks arrive as retractions and the counts follow. The example then
//! checks it with chainflow's oracle: at every epoch of the run the counts equal a direct
//! count over the canonical chain at that epoch.

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;

use anyhow::Result;
use chainflow::engine::dataflow::{Dataflow, Inputs, Output, OutputDef, OutputSpec, Row};
use chainflow::model::Block;
use chainflow::sources::devnet::{Devnet, DevnetConfig};
use chainflow::testing::{Tables, check_every_epoch};
use serde::{Deserialize, Serialize};

/// One row per chain and transaction type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Row)]
#[row(position = whole)] // a running total: a restart rebuilds it from the first block
struct TypeCount {
    /// Chain id.
    #[row(key)]
    chain_id: u64,
    /// EIP-2718 type.
    #[row(key)]
    tx_type: u8,
    /// Canonical transactions of that type.
    txs: u64,
}

const TX_TYPES: OutputDef<TypeCount> = OutputDef::new("tx_types", "one row per chain and type");

struct TxTypes;

impl Dataflow for TxTypes {
    fn name(&self) -> &'static str {
        "tx_types"
    }
    fn doc(&self) -> &'static str {
        "canonical transactions per chain and type"
    }
    fn outputs(&self) -> Vec<OutputSpec> {
        vec![TX_TYPES.spec()]
    }
    fn build<'s>(&self, inputs: &Inputs<'s>) -> Vec<Output<'s>> {
        let counts = inputs
            .transactions()
            .map(|(ctx, tx)| ((ctx.chain_id, tx.tx_type), ()))
            .reduce_named("tx_types::Count", |_key, input, output| {
                output.push((input[0].1 as u64, 1));
            });
        vec![
            TX_TYPES.mapped(counts, |((chain_id, tx_type), txs)| TypeCount {
                chain_id,
                tx_type,
                txs,
            }),
        ]
    }
}

/// The same counts, straight from a canonical chain.
fn direct(chain: &[Block]) -> Tables {
    let mut counts: BTreeMap<(u64, u8), u64> = BTreeMap::new();
    for b in chain {
        for tx in &b.transactions {
            *counts.entry((b.chain_id, tx.tx_type)).or_default() += 1;
        }
    }
    let rows = counts
        .into_iter()
        .map(|((chain_id, tx_type), txs)| {
            TypeCount {
                chain_id,
                tx_type,
                txs,
            }
            .values()
        })
        .collect();
    Tables::from([("tx_types", rows)])
}

fn main() -> Result<()> {
    let devnet = DevnetConfig {
        block_time_ms: 0,
        max_blocks: Some(300),
        reorg_rate: 0.1,
        ..DevnetConfig::default()
    };
    let events: Vec<_> = Devnet::new(devnet)?.collect::<Result<_, _>>()?;
    let report = check_every_epoch(&TxTypes, &events, 2, direct);
    println!(
        "{} epochs ({} reorgs) at 2 workers: every epoch's counts equal a direct count over the canonical chain ({} rows at the end)",
        report.epochs, report.reorgs, report.rows
    );
    Ok(())
}
