//! Test support for dataflows, for chainflow's tests and for any crate's that adds its own:
//! the oracle check ([`check_every_epoch`]) and the output batch contract
//! ([`check_batches`]).
//!
//! The oracle check is the one test every dataflow should have: random chains with random
//! reorgs go through the engine, and at every epoch each output, folded from the updates the
//! sinks received, equals a from-scratch recompute over the canonical chain at that epoch.
//!
//! ```
//! use chainflow::dataflows::gas_fees::{self, GasFees};
//! use chainflow::engine::dataflow::Row;
//! use chainflow::sources::devnet::{Devnet, DevnetConfig};
//! use chainflow::testing::{Tables, check_every_epoch};
//!
//! let config = DevnetConfig { block_time_ms: 0, max_blocks: Some(40), reorg_rate: 0.2, ..DevnetConfig::default() };
//! let events: Vec<_> = Devnet::new(config).unwrap().map(Result::unwrap).collect();
//! let report = check_every_epoch(&GasFees, &events, 1, |chain| -> Tables {
//!     gas_fees::recompute(chain).values()
//! });
//! assert_eq!(report.epochs, events.len());
//! ```

use std::collections::BTreeMap;

use crate::engine::dataflow::{Dataflow, Position, RowValues, Value};
use crate::engine::keys::key_positions;
use crate::engine::sink::{OutputBatch, Sink};
use crate::engine::source::SourceEvent;
use crate::engine::{self, EngineSettings, RunControl};
use crate::model::{Block, ChainId, Diff, Epoch};
use crate::sinks::memory::MemorySink;

/// Rows per output name, as a recompute gives them.
pub type Tables = BTreeMap<&'static str, Vec<RowValues>>;

/// The current rows of an output with their multiplicity (a key twice would show as two
/// entries, a row twice as a count of 2).
pub type State = crate::sinks::memory::Rows;

/// What [`check_every_epoch`] checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Epochs compared (one per event).
    pub epochs: usize,
    /// Events that reorged or reverted a chain.
    pub reorgs: usize,
    /// Outputs compared at every epoch.
    pub outputs: usize,
    /// Rows of the compared outputs at the last epoch.
    pub rows: usize,
    /// Updates the sinks received.
    pub updates: usize,
}

pub use crate::sinks::memory::{current_rows as fold, fold as apply};

/// Checks the contract of output batches (see [`crate::engine::sink`]): per output, ranges
/// that follow one another; epochs inside their range; consolidated updates of `+1` or `-1`;
/// per epoch and key at most one insert and one delete. Panics naming what is broken.
pub fn check_batches(batches: &[OutputBatch]) {
    let mut uppers: BTreeMap<&str, Epoch> = BTreeMap::new();
    for b in batches {
        let name = b.output.name;
        if let Some(prev) = uppers.insert(name, b.upper) {
            assert_eq!(b.lower, prev, "ranges of '{name}' follow one another");
        }
        assert!(
            b.lower < b.upper,
            "'{name}': empty range [{}, {})",
            b.lower,
            b.upper
        );
        for w in b.updates.windows(2) {
            assert!(
                (w[0].1, &w[0].0) != (w[1].1, &w[1].0),
                "'{name}': updates are consolidated"
            );
        }
        let keys = key_positions(&b.output);
        let mut per_key: BTreeMap<(Epoch, Vec<&Value>), (usize, usize)> = BTreeMap::new();
        for (row, t, d) in &b.updates {
            assert!(
                *t >= b.lower && *t < b.upper,
                "'{name}': epoch {t} outside [{}, {})",
                b.lower,
                b.upper
            );
            assert!(*d == 1 || *d == -1, "'{name}': diff {d}");
            let key = keys.iter().filter_map(|&i| row.get(i)).collect();
            let e = per_key.entry((*t, key)).or_default();
            if *d > 0 {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        for ((t, key), (ins, del)) in per_key {
            assert!(
                ins <= 1 && del <= 1,
                "'{name}': key {key:?} at epoch {t}: {ins} inserts, {del} deletes"
            );
        }
    }
}

/// The canonical chains after each of `events`: one vector per chain, in chain id order,
/// concatenated. Panics when an event removes blocks that are not the chain's tip.
pub fn canonical_after_each(events: &[SourceEvent]) -> Vec<Vec<Block>> {
    let mut chains: BTreeMap<ChainId, Vec<Block>> = BTreeMap::new();
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let old = e.event.old();
        if let Some(first) = old.first() {
            let chain = chains.entry(first.chain_id).or_default();
            assert!(
                chain.len() >= old.len(),
                "an event removes more blocks than chain {} has",
                first.chain_id
            );
            let tail = chain.split_off(chain.len() - old.len());
            assert_eq!(tail, old, "an event removes blocks that are not the tip");
        }
        for b in e.event.new_blocks() {
            chains.entry(b.chain_id).or_default().push(b.clone());
        }
        out.push(chains.values().flatten().cloned().collect());
    }
    out
}

/// Runs `dataflow` over `events` (each at an epoch of its own, from epoch 1) on `workers`
/// worker threads and checks, at every epoch, that every output equals `recompute` of the
/// canonical chains at that epoch (see [`canonical_after_each`]). `recompute` gives the rows
/// of every output except those of [`Position::Log`] (facts about ingestion, not functions
/// of the chain), which are not compared. Also checks [`check_batches`]. Panics at the
/// first difference, naming the epoch, the output and a few differing rows.
pub fn check_every_epoch(
    dataflow: &'static dyn Dataflow,
    events: &[SourceEvent],
    workers: usize,
    recompute: impl Fn(&[Block]) -> Tables,
) -> Report {
    assert!(
        events.iter().all(|e| e.epoch.is_none()),
        "the oracle numbers the epochs itself"
    );
    let sink = MemorySink::new();
    let settings = EngineSettings {
        blocks_per_epoch: 1,
        max_inflight_epochs: 8,
        channel_capacity: 4,
        // One epoch per event, none in between.
        seal_every_secs: 0,
        start_epoch: 1,
        ..EngineSettings::default()
    };
    let timely_config = if workers <= 1 {
        timely::Config::thread()
    } else {
        timely::Config::process(workers)
    };
    let sinks: Vec<Box<dyn Sink>> = vec![Box::new(sink.clone())];
    let summary = engine::run(
        &settings,
        timely_config,
        vec![dataflow],
        events.iter().cloned().map(Ok),
        sinks,
        &RunControl::default(),
    )
    .unwrap_or_else(|e| panic!("the run of '{}' failed: {e}", dataflow.name()));
    assert_eq!(summary.epochs as usize, events.len(), "one epoch per event");
    let batches = sink.batches();
    check_batches(&batches);

    let compared: Vec<&'static str> = dataflow
        .outputs()
        .iter()
        .filter(|s| s.position != Position::Log)
        .map(|s| s.name)
        .collect();
    // Per output, its updates in epoch order.
    let mut updates: BTreeMap<&str, Vec<(&RowValues, Epoch, Diff)>> = BTreeMap::new();
    for b in &batches {
        updates
            .entry(b.output.name)
            .or_default()
            .extend(b.updates.iter().map(|(r, t, d)| (r, *t, *d)));
    }
    for list in updates.values_mut() {
        list.sort_by_key(|u| u.1);
    }
    let mut states: BTreeMap<&str, State> = BTreeMap::new();
    let mut next: BTreeMap<&str, usize> = BTreeMap::new();
    let chains = canonical_after_each(events);
    let mut report = Report {
        epochs: events.len(),
        reorgs: events.iter().filter(|e| !e.event.old().is_empty()).count(),
        outputs: compared.len(),
        updates: batches.iter().map(|b| b.updates.len()).sum(),
        ..Report::default()
    };
    for (i, chain) in chains.iter().enumerate() {
        let epoch = 1 + i as Epoch;
        let want = recompute(chain);
        for name in &compared {
            let state = states.entry(name).or_default();
            let at = next.entry(name).or_default();
            let list = updates.get(name).map(Vec::as_slice).unwrap_or(&[]);
            while let Some((row, t, d)) = list.get(*at).copied() {
                if t > epoch {
                    break;
                }
                apply(state, row, d);
                *at += 1;
            }
            let Some(rows) = want.get(name) else {
                panic!("the recompute gives no rows for output '{name}'");
            };
            let mut expected = State::new();
            for row in rows {
                apply(&mut expected, row, 1);
            }
            if *state != expected {
                let extra: Vec<_> = state
                    .iter()
                    .filter(|(r, c)| expected.get(*r) != Some(*c))
                    .take(3)
                    .collect();
                let missing: Vec<_> = expected
                    .iter()
                    .filter(|(r, c)| state.get(*r) != Some(*c))
                    .take(3)
                    .collect();
                panic!(
                    "'{}' at epoch {epoch} (event {i}, {} workers): output '{name}' has {} rows, the recompute {}; extra {extra:?}, missing {missing:?}",
                    dataflow.name(),
                    workers,
                    state.len(),
                    expected.len()
                );
            }
        }
    }
    report.rows = compared
        .iter()
        .map(|n| states.get(n).map_or(0, State::len))
        .sum();
    report
}
