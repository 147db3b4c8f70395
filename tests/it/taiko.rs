//! The `taiko` dataflow through the engine: `l2_heads` under L2 reorgs, with L1 blocks of
//! another chain in the same run, equals the recompute over the final canonical L2 chain.

use std::collections::BTreeMap;

use chainflow::config::Config;
use chainflow::dataflows::taiko::events::L2_ANCHOR;
use chainflow::dataflows::taiko::l2::L2Head;
use chainflow::dataflows::taiko::{L2_HEADS, Taiko, TaikoConfig};
use chainflow::engine::dataflow::{Dataflow, Row, Value};
use chainflow::engine::{self, EngineSettings, RunControl};
use chainflow::model::{Block, ChainEvent};
use chainflow::sinks::Sink;
use chainflow::sinks::memory::MemorySink;
use chainflow::sources::SourceEvent;
use chainflow::sources::devnet::{Devnet, DevnetConfig};

const L2: u64 = 167_000;

/// The first transaction of every block goes to the anchor, as on Taiko.
fn with_anchor(mut block: Block) -> Block {
    if let Some(first) = block.transactions.first_mut() {
        first.to = Some(L2_ANCHOR);
    }
    block
}

fn chain_events(chain_id: u64, seed: u64, blocks: u64, anchor: bool) -> Vec<SourceEvent> {
    let config = DevnetConfig {
        seed,
        chain_id,
        block_time_ms: 0,
        max_blocks: Some(blocks),
        txs_per_block: 8,
        reorg_rate: 0.15,
        reorg_max_depth: 6,
        slot_seconds: 2,
        ..DevnetConfig::default()
    };
    let fix = |blocks: Vec<Block>| -> Vec<Block> {
        if anchor {
            blocks.into_iter().map(with_anchor).collect()
        } else {
            blocks
        }
    };
    Devnet::new(config)
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            e.event = match e.event {
                ChainEvent::Committed { new } => ChainEvent::Committed { new: fix(new) },
                ChainEvent::Reorged { old, new } => ChainEvent::Reorged {
                    old: fix(old),
                    new: fix(new),
                },
                ChainEvent::Reverted { old } => ChainEvent::Reverted { old: fix(old) },
            };
            e
        })
        .collect()
}

fn canonical(events: &[SourceEvent]) -> Vec<Block> {
    let mut chain: Vec<Block> = Vec::new();
    for e in events {
        let old = e.event.old().len();
        chain.truncate(chain.len() - old);
        chain.extend(e.event.new_blocks().iter().cloned());
    }
    chain
}

#[test]
fn l2_heads_equal_the_recompute_through_l2_reorgs_and_ignore_l1() {
    let l2 = chain_events(L2, 11, 300, true);
    let l1 = chain_events(1, 12, 60, false);
    let reorgs = l2.iter().filter(|e| e.event.depth() > 0).count();
    assert!(reorgs >= 10, "only {reorgs} L2 reorgs");
    // Interleave: five L2 events per L1 event.
    let mut events = Vec::new();
    let mut l1_iter = l1.iter().cloned();
    for (i, e) in l2.iter().cloned().enumerate() {
        events.push(e);
        if i % 5 == 4
            && let Some(e1) = l1_iter.next()
        {
            events.push(e1);
        }
    }
    events.extend(l1_iter);

    let taiko: &'static Taiko = Box::leak(Box::new(Taiko::new(TaikoConfig::default())));
    for workers in [1usize, 2] {
        let sink = MemorySink::new();
        let sinks: Vec<Box<dyn Sink>> = vec![Box::new(sink.clone())];
        let config = if workers == 1 {
            timely::Config::thread()
        } else {
            timely::Config::process(2)
        };
        engine::run(
            &EngineSettings::default(),
            config,
            vec![taiko],
            events.clone().into_iter().map(Ok),
            sinks,
            &RunControl::default(),
        )
        .unwrap();
        let mut state: BTreeMap<Vec<Value>, isize> = BTreeMap::new();
        for batch in sink.batches() {
            assert!(batch.errors.is_empty());
            for (row, _, d) in &batch.updates {
                *state.entry(row.clone()).or_insert(0) += d;
            }
        }
        state.retain(|_, d| *d != 0);
        let want: BTreeMap<Vec<Value>, isize> = canonical(&l2)
            .iter()
            .map(|b| (L2Head::of(b, L2_ANCHOR).values(), 1))
            .collect();
        assert_eq!(
            state.len(),
            want.len(),
            "{workers} workers: one row per L2 block"
        );
        assert_eq!(state, want, "{workers} workers");
        // The anchor transaction is out of the gas sums: every block has one.
        let canon = canonical(&l2);
        assert!(
            canon
                .iter()
                .any(|b| L2Head::of(b, L2_ANCHOR).sum_gas_used < b.gas_used)
        );
    }
    // Opt-in: a default config runs gas_fees only.
    assert_eq!(
        Config::default().dataflows.enabled,
        vec!["gas_fees".to_string()]
    );
    assert_eq!(taiko.outputs()[0].name, L2_HEADS);
}
