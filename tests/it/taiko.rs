//! The `taiko` dataflow through the engine: `l2_heads` under L2 reorgs, with L1 blocks of
//! another chain in the same run, equals the recompute over the final canonical L2 chain.

use std::collections::BTreeMap;

use chainflow::config::Config;
use chainflow::dataflows::taiko::events::L2_ANCHOR;
use chainflow::dataflows::taiko::l2::L2Head;
use chainflow::dataflows::taiko::rows::ReorgRow;
use chainflow::dataflows::taiko::{
    BATCH_BLOCKS, BATCH_HOURS, BATCH_L2, BATCH_PROOFS, BATCH_TIMES, BATCH_VERIFICATIONS, BATCHES,
    FORCED_INCLUSIONS, L1_COSTS, L2_HEADS, L2_HOURS, REORGS, SLASHINGS, TAIKO_ERRORS, Taiko,
    TaikoConfig, plain,
};
use chainflow::engine::dataflow::{Dataflow, Row, Value};
use chainflow::engine::{self, EngineSettings, RunControl};
use chainflow::model::{Block, ChainEvent, Reorg};
use chainflow::sinks::Sink;
use chainflow::sinks::memory::MemorySink;
use chainflow::sources::SourceEvent;
use chainflow::sources::devnet::{Devnet, DevnetConfig};
use chainflow::sources::rollup_devnet::{RollupDevnet, RollupDevnetConfig};

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
        assert!(sink.batches().iter().all(|b| b.errors.is_empty()));
        let state = sink.current(L2_HEADS);
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
    assert!(taiko.outputs().iter().any(|o| o.name == L2_HEADS));
}

/// An update of some output: its name, the row and the diff.
type Update<'a> = (&'a str, &'a Vec<Value>, isize);

/// The rollup devnet with reorgs on both chains, both forks, forced inclusions, slashings
/// and garbage logs.
fn rollup_storm(seed: u64, l1_blocks: u64) -> (RollupDevnetConfig, Vec<SourceEvent>) {
    let config = RollupDevnetConfig {
        seed,
        max_l1_blocks: Some(l1_blocks),
        l1_reorg_rate: 0.08,
        l1_reorg_max_depth: 4,
        l2_reorg_rate: 0.05,
        l2_reorg_max_depth: 5,
        l2_txs_per_block: 4,
        l1_txs_per_block: 3,
        slashing_rate: 0.05,
        garbage_log_rate: 0.03,
        prove_delay_l1_blocks: 3,
        verify_delay_l1_blocks: 2,
        forced_inclusion_every: 4,
        // Two hours of chain time cross hour and (with the genesis at midnight) no day.
        genesis_timestamp: 1_767_225_600 - 3_600,
        ..RollupDevnetConfig::default()
    };
    let events = RollupDevnet::new(config.clone())
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    (config, events)
}

fn taiko_for(config: &RollupDevnetConfig) -> &'static Taiko {
    Box::leak(Box::new(Taiko::new(TaikoConfig {
        l1_chain_id: config.l1_chain_id,
        l2_chain_id: config.l2_chain_id,
        contracts: config.contracts.clone(),
        ..TaikoConfig::default()
    })))
}

/// The canonical chain of `chain` after the first `n` events.
fn canonical_of(events: &[SourceEvent], chain: u64, n: usize) -> Vec<Block> {
    let mine: Vec<SourceEvent> = events[..n]
        .iter()
        .filter(|e| {
            e.event
                .old()
                .iter()
                .chain(e.event.new_blocks())
                .any(|b| b.chain_id == chain)
        })
        .cloned()
        .collect();
    canonical(&mine)
}

#[test]
fn every_rollup_output_equals_the_recompute_at_every_epoch_through_reorgs_on_both_chains() {
    let (config, events) = rollup_storm(7, 420);
    let l1_reorgs = events
        .iter()
        .filter(|e| e.event.depth() > 0 && e.event.old()[0].chain_id == config.l1_chain_id)
        .count();
    let l2_reorgs = events
        .iter()
        .filter(|e| e.event.depth() > 0 && e.event.old()[0].chain_id == config.l2_chain_id)
        .count();
    assert!(
        l1_reorgs >= 10 && l2_reorgs >= 10,
        "reorgs: L1 {l1_reorgs}, L2 {l2_reorgs}"
    );
    let taiko = taiko_for(&config);
    let settings = EngineSettings {
        seal_every_secs: 0,
        ..EngineSettings::default()
    };
    for workers in [1usize, 2] {
        let sink = MemorySink::new();
        let config_t = if workers == 1 {
            timely::Config::thread()
        } else {
            timely::Config::process(2)
        };
        engine::run(
            &settings,
            config_t,
            vec![taiko],
            events.clone().into_iter().map(Ok),
            vec![Box::new(sink.clone()) as Box<dyn Sink>],
            &RunControl::default(),
        )
        .unwrap();
        let batches = sink.batches();
        // One epoch per event from the start epoch: fold the updates epoch by epoch and
        // compare with the recompute of the canonical chains after that many events.
        let start = settings.start_epoch;
        let mut updates: BTreeMap<u64, Vec<Update>> = BTreeMap::new();
        for b in &batches {
            assert!(b.errors.is_empty(), "{}: {:?}", b.output.name, b.errors);
            for (row, epoch, d) in &b.updates {
                updates
                    .entry(*epoch)
                    .or_default()
                    .push((b.output.name, row, *d));
            }
        }
        let mut state: BTreeMap<&str, BTreeMap<Vec<Value>, isize>> = BTreeMap::new();
        let mut checked = 0;
        for n in 1..=events.len() {
            let epoch = start + n as u64 - 1;
            for (output, row, d) in updates.remove(&epoch).unwrap_or_default() {
                chainflow::sinks::memory::fold(state.entry(output).or_default(), row, d);
            }
            if n % 37 != 0 && n != events.len() {
                continue;
            }
            checked += 1;
            let l1 = canonical_of(&events, config.l1_chain_id, n);
            let l2 = canonical_of(&events, config.l2_chain_id, n);
            let want = plain::recompute(taiko, &l1, &l2);
            for spec in taiko.outputs() {
                if spec.name == REORGS {
                    continue;
                }
                let got: Vec<Vec<Value>> = state
                    .get(spec.name)
                    .map(|rows| {
                        for (row, d) in rows {
                            assert_eq!(*d, 1, "{}: {row:?} x{d} after {n} events", spec.name);
                        }
                        rows.keys().cloned().collect()
                    })
                    .unwrap_or_default();
                let expected = want.get(spec.name).cloned().unwrap_or_default();
                if let Some(diff) = crate::support::rows::difference(&got, &expected) {
                    panic!("{workers} workers, {} after {n} events: {diff}", spec.name);
                }
            }
        }
        assert!(checked >= 10);
        // The reorg log: one row per reorg applied, at its epoch, never retracted.
        let want_reorgs: Vec<Vec<Value>> = {
            let mut v: Vec<Vec<Value>> = events
                .iter()
                .enumerate()
                .filter_map(|(i, e)| Reorg::of(&e.event, start + i as u64))
                .map(|r| ReorgRow::from(&r).values())
                .collect();
            v.sort();
            v
        };
        let got_reorgs: Vec<Vec<Value>> = state[REORGS].keys().cloned().collect();
        assert_eq!(got_reorgs, want_reorgs, "{workers} workers: reorgs");
        assert_eq!(want_reorgs.len(), l1_reorgs + l2_reorgs);
        // The storm exercised what it should: both forks, proofs, verifications, forced
        // inclusions, slashings, errors and the joins.
        let final_tables = plain::recompute(
            taiko,
            &canonical_of(&events, config.l1_chain_id, events.len()),
            &canonical_of(&events, config.l2_chain_id, events.len()),
        );
        for name in [
            BATCHES,
            BATCH_BLOCKS,
            BATCH_PROOFS,
            BATCH_VERIFICATIONS,
            FORCED_INCLUSIONS,
            SLASHINGS,
            L1_COSTS,
            BATCH_L2,
            TAIKO_ERRORS,
            L2_HOURS,
            BATCH_HOURS,
        ] {
            assert!(
                final_tables.get(name).is_some_and(|r| r.len() >= 2),
                "{name}: {:?}",
                final_tables.get(name).map(Vec::len)
            );
        }
        let forks: std::collections::BTreeSet<Value> =
            final_tables[BATCHES].iter().map(|r| r[1].clone()).collect();
        assert_eq!(forks.len(), 2, "both forks proposed: {forks:?}");
        let times = &final_tables[BATCH_TIMES];
        assert!(
            times.iter().any(|r| r[6] != Value::U64(0))
                && times.iter().any(|r| r[7] != Value::U64(0)),
            "some batches proved and verified"
        );
    }
}
