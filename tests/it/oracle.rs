//! Oracle tests: random chains with random reorgs (depth 1..64) through the engine; at every
//! epoch every accumulated output (blocks, minutes, hours, days) equals a from-scratch
//! recompute over the canonical chain.

use std::collections::BTreeMap;

use chainflow::dataflows::gas_fees::{self, GasFees};
use chainflow::engine::dataflow::{Dataflow, Row, Value};
use chainflow::engine::{self, EngineSettings, RunControl};
use chainflow::model::{Block, Epoch};
use chainflow::sinks::memory::MemorySink;
use chainflow::sinks::{OutputBatch, Sink};
use chainflow::sources::SourceEvent;
use chainflow::sources::devnet::{Devnet, DevnetConfig};

fn storm(seed: u64, blocks: u64) -> DevnetConfig {
    DevnetConfig {
        seed,
        block_time_ms: 0,
        max_blocks: Some(blocks),
        txs_per_block: 12,
        reorg_rate: 0.12,
        edge_reorg_share: 0.1,
        reorg_max_depth: 64,
        finality_depth: 64,
        // Short slots put many blocks in a minute and make minutes straddle reorgs.
        slot_seconds: 5,
        ..DevnetConfig::default()
    }
}

/// A storm whose blocks cross hours and a UTC day: 500 slots of 3 minutes from 15:00 on
/// 2025-12-31 (about 25 hours), so reorgs change hour and day rows and the blocks of one
/// reorg straddle hour edges and midnight.
fn long_storm(seed: u64, blocks: u64) -> DevnetConfig {
    DevnetConfig {
        slot_seconds: 180,
        genesis_timestamp: 1_767_225_600 - 9 * 3_600,
        ..storm(seed, blocks)
    }
}

fn events(config: DevnetConfig) -> Vec<SourceEvent> {
    Devnet::new(config).unwrap().map(|e| e.unwrap()).collect()
}

fn timely_config(workers: usize) -> timely::Config {
    if workers == 1 {
        timely::Config::thread()
    } else {
        timely::Config::process(workers)
    }
}

fn run(events: Vec<SourceEvent>, workers: usize, blocks_per_epoch: usize) -> Vec<OutputBatch> {
    run_sealing(events, workers, blocks_per_epoch, 0).0
}

/// A run sealing every `seal_every_secs` (0: never): the batches and the seal epochs.
fn run_sealing(
    events: Vec<SourceEvent>,
    workers: usize,
    blocks_per_epoch: usize,
    seal_every_secs: u64,
) -> (Vec<OutputBatch>, u64) {
    let sink = MemorySink::new();
    let settings = EngineSettings {
        blocks_per_epoch,
        max_inflight_epochs: 8,
        channel_capacity: 4,
        // The oracle maps epoch i to event i: no seal epochs in between unless asked
        // (sealing has its own test below).
        seal_every_secs,
        ..EngineSettings::default()
    };
    let sinks: Vec<Box<dyn Sink>> = vec![Box::new(sink.clone())];
    let control = RunControl::default();
    let summary = engine::run(
        &settings,
        timely_config(workers),
        vec![&GasFees],
        events.into_iter().map(Ok),
        sinks,
        &control,
    )
    .unwrap();
    assert!(summary.epochs > 0);
    let seals = control
        .stats
        .seals
        .load(std::sync::atomic::Ordering::Relaxed);
    (sink.batches(), seals)
}

/// A run with a writer per worker (`engine::Writers::PerWorker`): each worker's batches, in
/// the order its sink took them. Every writer's ranges are contiguous and hold only the keys
/// that hash to it.
fn run_per_worker(events: Vec<SourceEvent>, workers: usize) -> Vec<Vec<OutputBatch>> {
    let sinks: Vec<MemorySink> = (0..workers).map(|_| MemorySink::new()).collect();
    let settings = EngineSettings {
        max_inflight_epochs: 8,
        channel_capacity: 4,
        seal_every_secs: 0,
        ..EngineSettings::default()
    };
    let sets = sinks
        .iter()
        .map(|s| vec![Box::new(s.clone()) as Box<dyn Sink>])
        .collect();
    let summary = engine::run_writers(
        &settings,
        timely_config(workers),
        vec![&GasFees],
        events.into_iter().map(Ok),
        engine::Writers::PerWorker(sets),
        &RunControl::default(),
    )
    .unwrap();
    assert!(summary.epochs > 0);
    let per_writer: Vec<Vec<OutputBatch>> = sinks.iter().map(|s| s.batches()).collect();
    for (index, batches) in per_writer.iter().enumerate() {
        check_batches(batches);
        let mut updates = 0;
        for b in batches {
            let keys = chainflow::engine::keys::key_positions(&b.output);
            for (row, _, _) in &b.updates {
                let hash = chainflow::engine::keys::key_hash(&keys, row);
                assert_eq!(
                    hash % workers as u64,
                    index as u64,
                    "{}: writer {index} got a key of another writer",
                    b.output.name
                );
                updates += 1;
            }
        }
        assert!(updates > 0, "writer {index} wrote nothing");
    }
    per_writer
}

/// Canonical chain after each event (the epoch of event `i` is `1 + i` at one block per epoch).
fn canonical_after_each(events: &[SourceEvent]) -> Vec<Vec<Block>> {
    let mut chain: Vec<Block> = Vec::new();
    let mut out = Vec::new();
    for e in events {
        let old = e.event.old();
        if !old.is_empty() {
            let tail = chain.split_off(chain.len() - old.len());
            assert_eq!(tail, old);
        }
        chain.extend(e.event.new_blocks().iter().cloned());
        out.push(chain.clone());
    }
    out
}

type State = BTreeMap<Vec<Value>, isize>;

/// The expected state of every output (by name) over `chain`.
fn expected(chain: &[Block]) -> BTreeMap<&'static str, State> {
    gas_fees::recompute(chain)
        .values()
        .into_iter()
        .map(|(name, rows)| (name, rows.into_iter().map(|r| (r, 1)).collect()))
        .collect()
}

/// The names of every output of `gas_fees`: the oracle compares each of them.
fn output_names() -> Vec<&'static str> {
    GasFees.outputs().iter().map(|o| o.name).collect()
}

/// Checks the batch contract: contiguous ranges per output, epochs inside their range,
/// consolidated updates, and insert/delete/change per key and epoch.
fn check_batches(batches: &[OutputBatch]) {
    let mut uppers: BTreeMap<&str, Epoch> = BTreeMap::new();
    for b in batches {
        let prev = uppers.insert(b.output.name, b.upper);
        if let Some(prev) = prev {
            assert_eq!(
                b.lower, prev,
                "ranges of '{}' are contiguous",
                b.output.name
            );
        }
        assert!(b.lower < b.upper);
        let mut per_key: BTreeMap<(Epoch, Vec<Value>), (usize, usize)> = BTreeMap::new();
        let key_idx: Vec<usize> = b
            .output
            .key
            .iter()
            .map(|k| b.output.columns.iter().position(|c| c.name == *k).unwrap())
            .collect();
        for w in b.updates.windows(2) {
            assert!(
                (w[0].1, &w[0].0) != (w[1].1, &w[1].0),
                "updates are consolidated"
            );
        }
        for (row, t, d) in &b.updates {
            assert!(
                *t >= b.lower && *t < b.upper,
                "epoch {t} outside [{}, {})",
                b.lower,
                b.upper
            );
            assert!(*d == 1 || *d == -1, "diff {d}");
            let key = key_idx.iter().map(|&i| row[i].clone()).collect();
            let e = per_key.entry((*t, key)).or_default();
            if *d > 0 { e.0 += 1 } else { e.1 += 1 }
        }
        for ((t, key), (ins, del)) in per_key {
            assert!(
                ins <= 1 && del <= 1,
                "key {key:?} at epoch {t}: {ins} inserts, {del} deletes"
            );
        }
    }
}

fn updates_of<'a>(batches: &'a [OutputBatch], output: &str) -> Vec<&'a (Vec<Value>, Epoch, isize)> {
    let mut all: Vec<_> = batches
        .iter()
        .filter(|b| b.output.name == output)
        .flat_map(|b| b.updates.iter())
        .collect();
    all.sort_by_key(|u| u.1);
    all
}

fn apply(state: &mut State, row: &[Value], diff: isize) {
    let e = state.entry(row.to_vec()).or_insert(0);
    *e += diff;
    if *e == 0 {
        state.remove(row);
    }
}

/// How the outputs of a run are written.
#[derive(Clone, Copy, Debug)]
enum Writing {
    /// Worker 0 writes everything.
    One,
    /// Each worker writes the keys that hash to it.
    PerWorker,
}

fn every_epoch_equals_recompute(config: DevnetConfig, workers: usize) {
    every_epoch_equals_recompute_written(config, workers, Writing::One)
}

fn every_epoch_equals_recompute_written(config: DevnetConfig, workers: usize, writing: Writing) {
    let seed = config.seed;
    let events = events(config);
    let reorg_depths: Vec<usize> = events
        .iter()
        .map(|e| e.event.depth())
        .filter(|d| *d > 0)
        .collect();
    assert!(
        reorg_depths.len() >= 20,
        "seed {seed}: only {} reorgs",
        reorg_depths.len()
    );
    let canon = canonical_after_each(&events);
    let batches = match writing {
        Writing::One => {
            let batches = run(events, workers, 1);
            check_batches(&batches);
            batches
        }
        Writing::PerWorker => run_per_worker(events, workers).concat(),
    };
    assert!(
        batches.iter().all(|b| b.errors.is_empty()),
        "gas_fees keeps the key contract"
    );
    let names = output_names();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(
        expected(&[]).keys().copied().collect::<Vec<_>>(),
        sorted,
        "recompute covers every output"
    );
    let updates: Vec<Vec<&(Vec<Value>, Epoch, isize)>> =
        names.iter().map(|n| updates_of(&batches, n)).collect();
    for (name, u) in names.iter().zip(&updates) {
        assert!(!u.is_empty(), "{name} has updates");
    }
    let mut states = vec![State::new(); names.len()];
    let mut next = vec![0usize; names.len()];
    for (i, chain) in canon.iter().enumerate() {
        let epoch = 1 + i as Epoch;
        let want = expected(chain);
        for (o, name) in names.iter().enumerate() {
            let (u, at) = (&updates[o], &mut next[o]);
            while *at < u.len() && u[*at].1 == epoch {
                apply(&mut states[o], &u[*at].0, u[*at].2);
                *at += 1;
            }
            assert_eq!(
                states[o], want[name],
                "seed {seed}, {workers} worker(s) {writing:?}: {name} differs at epoch {epoch}"
            );
        }
    }
    for (o, name) in names.iter().enumerate() {
        assert_eq!(
            next[o],
            updates[o].len(),
            "{name}: no updates after the last epoch"
        );
    }
}

/// How many distinct hours and days the final chain of `config` spans.
fn buckets_spanned(config: DevnetConfig) -> (usize, usize) {
    let events = events(config);
    let canon = canonical_after_each(&events);
    let last = gas_fees::recompute(canon.last().unwrap());
    (last.hours.len(), last.days.len())
}

#[test]
fn gas_fees_equals_recompute_at_every_epoch_one_worker() {
    for seed in [1, 2, 3] {
        every_epoch_equals_recompute(storm(seed, 500), 1);
    }
}

#[test]
fn gas_fees_equals_recompute_at_every_epoch_two_workers() {
    for seed in [4, 5] {
        every_epoch_equals_recompute(storm(seed, 500), 2);
    }
}

#[test]
fn gas_fees_equals_recompute_at_every_epoch_with_a_writer_per_worker() {
    for (seed, workers) in [(10, 2), (11, 3)] {
        every_epoch_equals_recompute_written(storm(seed, 500), workers, Writing::PerWorker);
    }
}

#[test]
fn hour_and_day_rollups_equal_recompute_at_every_epoch_across_midnight() {
    let (hours, days) = buckets_spanned(long_storm(7, 500));
    assert!(hours >= 20 && days == 2, "{hours} hours, {days} days");
    every_epoch_equals_recompute(long_storm(7, 500), 1);
    every_epoch_equals_recompute(long_storm(8, 500), 2);
}

#[test]
fn reorg_at_the_finality_edge_is_retracted() {
    let config = DevnetConfig {
        reorg_rate: 0.05,
        edge_reorg_share: 1.0,
        ..storm(9, 300)
    };
    let events = events(config);
    assert!(
        events.iter().any(|e| e.event.depth() == 64),
        "a depth-64 reorg happened"
    );
    let canon = canonical_after_each(&events);
    let batches = run(events, 2, 1);
    let want = expected(canon.last().unwrap());
    for name in output_names() {
        let mut state = State::new();
        for u in updates_of(&batches, name) {
            apply(&mut state, &u.0, u.2);
        }
        assert_eq!(state, want[name], "{name}");
    }
}

#[test]
fn batched_epochs_reach_the_same_final_state() {
    for config in [storm(6, 400), long_storm(6, 400)] {
        batched_epochs_reach_the_final_state(config);
    }
}

fn batched_epochs_reach_the_final_state(config: DevnetConfig) {
    let events = events(config);
    let canon = canonical_after_each(&events);
    for (workers, per_epoch) in [(1, 50), (2, 7)] {
        let batches = run(events.clone(), workers, per_epoch);
        check_batches(&batches);
        let want = expected(canon.last().unwrap());
        for name in output_names() {
            let mut state = State::new();
            for u in updates_of(&batches, name) {
                apply(&mut state, &u.0, u.2);
            }
            if name == gas_fees::BLOCKS {
                assert_eq!(state.len(), 400);
            }
            assert_eq!(
                state, want[name],
                "{name}: {workers} workers, {per_epoch} blocks per epoch"
            );
        }
    }
}

/// A dataflow whose output key is too coarse: every block of a chain has the same key.
struct BadKeys;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
struct ChainBlock {
    chain_id: u64,
    number: u64,
}

impl Row for ChainBlock {
    const COLUMNS: &'static [chainflow::engine::dataflow::Column] = &[
        chainflow::engine::dataflow::Column::new(
            "chain_id",
            chainflow::engine::dataflow::ColumnType::U64,
            "",
        ),
        chainflow::engine::dataflow::Column::new(
            "number",
            chainflow::engine::dataflow::ColumnType::U64,
            "",
        ),
    ];
    const KEY: &'static [&'static str] = &["chain_id"];
    const POSITION: chainflow::engine::dataflow::Position =
        chainflow::engine::dataflow::Position::Block("number");
    fn values(&self) -> Vec<Value> {
        vec![Value::U64(self.chain_id), Value::U64(self.number)]
    }
}

impl chainflow::engine::dataflow::Dataflow for BadKeys {
    fn name(&self) -> &'static str {
        "bad_keys"
    }
    fn doc(&self) -> &'static str {
        "breaks the key contract on purpose"
    }
    fn outputs(&self) -> Vec<chainflow::engine::dataflow::OutputSpec> {
        vec![chainflow::engine::dataflow::OutputSpec::of::<ChainBlock>(
            "bad_rows", "",
        )]
    }
    fn build<'s>(
        &self,
        inputs: &chainflow::engine::dataflow::Inputs<'s>,
    ) -> Vec<chainflow::engine::dataflow::Output<'s>> {
        let rows = inputs.blocks().map(|b| ChainBlock {
            chain_id: b.chain_id,
            number: b.number,
        });
        vec![chainflow::engine::dataflow::Output::new(
            self.outputs()[0],
            rows,
        )]
    }
}

#[test]
fn updates_breaking_the_key_contract_go_to_the_errors_named() {
    let events = events(DevnetConfig {
        reorg_rate: 0.0,
        ..storm(12, 40)
    });
    let sink = MemorySink::new();
    let settings = EngineSettings {
        blocks_per_epoch: 5,
        ..EngineSettings::default()
    };
    engine::run(
        &settings,
        timely::Config::thread(),
        vec![&BadKeys, &GasFees],
        events.into_iter().map(Ok),
        vec![Box::new(sink.clone())],
        &RunControl::default(),
    )
    .unwrap();
    let batches = sink.batches();
    let bad: Vec<_> = batches
        .iter()
        .filter(|b| b.output.name == "bad_rows")
        .collect();
    let errors: Vec<_> = bad.iter().flat_map(|b| b.errors.iter()).collect();
    assert_eq!(errors.len(), 8, "one error per epoch of five blocks");
    assert!(
        bad.iter().all(|b| b.updates.is_empty()),
        "nothing that breaks the contract is written"
    );
    let text = errors[0].to_string();
    assert!(
        text.contains("dataflow 'bad_keys'")
            && text.contains("output 'bad_rows'")
            && text.contains("U64(1337)"),
        "{text}"
    );
    assert_eq!(errors[0].updates.len(), 5);
    // The well-keyed dataflow in the same run is untouched.
    assert!(
        batches
            .iter()
            .filter(|b| b.output.name == gas_fees::BLOCKS)
            .all(|b| b.errors.is_empty())
    );
    check_batches(&batches);
}

/// The updates of every output grouped by epoch, in epoch order, without the epoch numbers:
/// what a sink sees, up to the numbering of the epochs.
/// An epoch's updates of one output, without the epoch: `(row, diff)` sorted.
type Group = Vec<(Vec<Value>, isize)>;

fn written(batches: &[OutputBatch]) -> BTreeMap<&'static str, Vec<Group>> {
    let mut out = BTreeMap::new();
    for name in output_names() {
        let mut by_epoch: BTreeMap<Epoch, Group> = BTreeMap::new();
        for (row, t, d) in updates_of(batches, name) {
            by_epoch.entry(*t).or_default().push((row.clone(), *d));
        }
        let groups: Vec<_> = by_epoch
            .into_values()
            .map(|mut g| {
                g.sort();
                g
            })
            .collect();
        out.insert(name, groups);
    }
    out
}

#[test]
fn sealing_frees_closed_days_and_writes_exactly_what_an_unsealed_run_writes() {
    // 400 slots of 30 minutes: about 8 UTC days, the finalized head 64 blocks (32 hours)
    // behind the tip, reorgs up to 64 deep; a seal at every hour of finalized chain time.
    let config = DevnetConfig {
        slot_seconds: 1_800,
        ..storm(23, 400)
    };
    let events = events(config);
    let canon = canonical_after_each(&events);
    let unsealed = run(events.clone(), 1, 1);
    let want = written(&unsealed);
    for workers in [1, 2] {
        let (sealed, seals) = run_sealing(events.clone(), workers, 1, 3_600);
        assert!(seals >= 100, "{workers} workers: only {seals} seal epochs");
        check_batches(&sealed);
        assert!(sealed.iter().all(|b| b.errors.is_empty()));
        let got = written(&sealed);
        for name in output_names() {
            assert_eq!(
                got[name].len(),
                want[name].len(),
                "{workers} workers, {name}: epochs with updates"
            );
            assert_eq!(
                got[name], want[name],
                "{workers} workers, {name}: the updates"
            );
        }
        // And the final state is the recompute over the final canonical chain.
        let expect = expected(canon.last().unwrap());
        for name in output_names() {
            let mut state = State::new();
            for (row, _, d) in updates_of(&sealed, name) {
                apply(&mut state, row, *d);
            }
            assert_eq!(
                state, expect[name],
                "{workers} workers, {name}: final state"
            );
        }
    }
}

#[test]
fn a_partitioned_source_seals_in_its_slots_and_writes_what_an_unsealed_run_writes() {
    // A final chain (no reorgs) of about 8 UTC days, fed as a process of a replay across
    // processes feeds its share: explicit even epochs, the finalized height its own last
    // block; every odd epoch is a seal slot.
    let config = DevnetConfig {
        reorg_rate: 0.0,
        slot_seconds: 1_800,
        ..storm(29, 400)
    };
    let events = events(config);
    assert!(events.iter().all(|e| e.event.depth() == 0));
    let want = written(&run(events.clone(), 1, 1));
    let shared: Vec<SourceEvent> = events
        .into_iter()
        .enumerate()
        .map(|(i, mut e)| {
            let last = e.event.new_blocks().last().map(|b| (b.chain_id, b.number));
            e.epoch = Some(1 + 2 * i as u64);
            e.finalized = last;
            e
        })
        .collect();
    for workers in [1, 2] {
        let sink = MemorySink::new();
        let settings = EngineSettings {
            max_inflight_epochs: 8,
            channel_capacity: 4,
            partitioned: true,
            ..EngineSettings::default()
        };
        let control = RunControl::default();
        engine::run(
            &settings,
            timely_config(workers),
            vec![&GasFees],
            shared.clone().into_iter().map(Ok),
            vec![Box::new(sink.clone())],
            &control,
        )
        .unwrap();
        let seals = control
            .stats
            .seals
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(seals >= 100, "{workers} workers: only {seals} seals");
        let batches = sink.batches();
        check_batches(&batches);
        assert_eq!(written(&batches), want, "{workers} workers");
    }
}
