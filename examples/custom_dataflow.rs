//! Write a dataflow of your own and run it over the devnet, reorgs included.
//!
//! `cargo run --release --example custom_dataflow`
//!
//! The dataflow counts canonical transactions per chain and EIP-2718 type. It contains no
//! reorg logic: orphaned blocks arrive as retractions and the counts follow. At the end the
//! example checks the counts against a direct count over the final canonical chain.

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;

use anyhow::{Result, ensure};
use chainflow::engine::dataflow::{
    Column, ColumnType, Dataflow, Inputs, Output, OutputSpec, Position, Row, Value,
};
use chainflow::engine::{self, EngineSettings, RunControl};
use chainflow::model::Block;
use chainflow::sinks::memory::MemorySink;
use chainflow::sources::devnet::{Devnet, DevnetConfig};
use serde::{Deserialize, Serialize};

/// One row per chain and transaction type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct TypeCount {
    chain_id: u64,
    tx_type: u64,
    txs: u64,
}

impl Row for TypeCount {
    const COLUMNS: &'static [Column] = &[
        Column::new("chain_id", ColumnType::U64, "chain id"),
        Column::new("tx_type", ColumnType::U64, "EIP-2718 type"),
        Column::new(
            "txs",
            ColumnType::U64,
            "canonical transactions of that type",
        ),
    ];
    const KEY: &'static [&'static str] = &["chain_id", "tx_type"];
    // A running total over every block: a restart rebuilds it from the run's first block.
    const POSITION: Position = Position::Whole;
    fn values(&self) -> Vec<Value> {
        vec![
            Value::U64(self.chain_id),
            Value::U64(self.tx_type),
            Value::U64(self.txs),
        ]
    }
}

struct TxTypes;

impl Dataflow for TxTypes {
    fn name(&self) -> &'static str {
        "tx_types"
    }
    fn doc(&self) -> &'static str {
        "canonical transactions per chain and type"
    }
    fn outputs(&self) -> Vec<OutputSpec> {
        vec![OutputSpec::of::<TypeCount>(
            "tx_types",
            "one row per chain and type",
        )]
    }
    fn build<'s>(&self, inputs: &Inputs<'s>) -> Vec<Output<'s>> {
        let counts = inputs
            .transactions()
            .map(|(ctx, tx)| ((ctx.chain_id, u64::from(tx.tx_type)), ()))
            .reduce_named("tx_types::Count", |_key, input, output| {
                let n: isize = input.iter().map(|(_, c)| *c).sum();
                output.push((n as u64, 1));
            })
            .map(|((chain_id, tx_type), txs)| TypeCount {
                chain_id,
                tx_type,
                txs,
            });
        vec![Output::new(self.outputs()[0], counts)]
    }
}

fn main() -> Result<()> {
    let devnet = DevnetConfig {
        block_time_ms: 0,
        max_blocks: Some(500),
        reorg_rate: 0.1,
        ..DevnetConfig::default()
    };
    let events: Vec<_> = Devnet::new(devnet)?.collect::<Result<_, _>>()?;

    // The canonical chain at the end, for the check.
    let mut chain: Vec<Block> = Vec::new();
    for e in &events {
        chain.truncate(chain.len() - e.event.old().len());
        chain.extend(e.event.new_blocks().iter().cloned());
    }

    let sink = MemorySink::new();
    let summary = engine::run(
        &EngineSettings::default(),
        timely::Config::process(2),
        vec![&TxTypes],
        events.into_iter().map(Ok),
        vec![Box::new(sink.clone())],
        &RunControl::default(),
    )?;
    println!(
        "{} epochs, {} reorgs, {} blocks retracted",
        summary.epochs, summary.reorgs, summary.blocks_removed
    );

    let mut current: BTreeMap<Vec<Value>, isize> = BTreeMap::new();
    for batch in sink.batches() {
        for (row, _epoch, diff) in &batch.updates {
            *current.entry(row.clone()).or_default() += diff;
        }
    }
    current.retain(|_, c| *c != 0);
    let mut direct: BTreeMap<u64, u64> = BTreeMap::new();
    for tx in chain.iter().flat_map(|b| &b.transactions) {
        *direct.entry(u64::from(tx.tx_type)).or_default() += 1;
    }
    for row in current.keys() {
        println!("{row:?}");
        if let [Value::U64(_), Value::U64(ty), Value::U64(n)] = row.as_slice() {
            ensure!(
                direct.get(ty) == Some(n),
                "type {ty}: dataflow says {n}, direct count {:?}",
                direct.get(ty)
            );
        }
    }
    ensure!(current.len() == direct.len(), "one row per type");
    println!("counts equal a direct count over the final canonical chain");
    Ok(())
}
