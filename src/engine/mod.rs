//! The engine: timely workers fed from bounded channels, outputs released to sinks when the
//! frontier passes an epoch.
//!
//! ```text
//!  source iterator ──► feeder (caller's thread): one epoch per event, or per
//!                      `blocks_per_epoch` blocks; -1 for removed blocks, +1 for added ones
//!        │ bounded channel per local worker: the epoch's blocks that fall to that worker
//!        ▼
//!  timely workers: each inserts the blocks whose hash falls to it, advances to epoch + 1
//!        │ dataflows/*.rs build outputs from the shared `Inputs`
//!        ▼ release operators: consolidated OutputBatch [lower, upper), on the worker each
//!          key hashes to (Writers::PerWorker) or all on worker 0 (Writers::One)
//!  bounded channel per writer ──► its sink thread: Sink::commit for every accepting sink,
//!                                 retries, stop on fatal; watermark = lowest over writers
//! ```
//!
//! Backpressure: every channel is bounded and a worker takes a new epoch only while fewer
//! than `max_inflight_epochs` epochs are unreleased, so a slow sink slows ingestion instead of
//! growing memory. The worker count comes from timely's own flags (`-w`, `-n`, `-p`, `-h`).

pub mod dataflow;
pub mod decode;
mod feeder;
pub mod keys;
mod release;
pub mod seal;
pub mod sink;
pub mod source;
pub mod writer;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use differential_dataflow::input::Input;
use serde::{Deserialize, Serialize};
use timely::dataflow::ProbeHandle;

use crate::model::{Block, ChainEvent, Diff, Epoch, Reorg};
use dataflow::{Dataflow, Inputs};
use sink::{OutputBatch, Sink, SinkError};
use source::{SourceError, SourceEvent};

/// Engine settings (`[engine]` in the config).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, smart_default::SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// Epochs a worker may run ahead of the released output before it stops taking input.
    #[default = 64]
    pub max_inflight_epochs: u64,
    /// Capacity, in epochs or batches, of the channels into and out of the workers.
    #[default = 64]
    pub channel_capacity: usize,
    /// Blocks put at one epoch: 1 for live following, more for replays (throughput).
    #[default = 1]
    pub blocks_per_epoch: usize,
    /// First epoch of the run.
    #[default = 1]
    pub start_epoch: Epoch,
    /// Batch `blocks_per_epoch` only until the source has caught up, then one epoch per
    /// event (a replay that follows the head on: a live head waits for no other).
    #[serde(skip)]
    pub batch_until_caught_up: bool,
    /// Seal (see `src/engine/seal.rs`) each time a chain's finalized head passes a multiple
    /// of this many seconds of chain time: state of closed buckets below finality leaves the
    /// dataflows, so memory stays bounded on long runs. 0 never seals.
    #[default = 3600]
    pub seal_every_secs: u64,
    /// Across processes, where process 0 relays the chain's events to the others
    /// (`host:port`; see `sources::relay`). Default: process 0's host at the port after the
    /// hostfile's highest.
    pub relay: Option<String>,
    /// Each process's source reads its own share of the input (a replay across processes,
    /// see `RangeShare`): every local worker takes the blocks of its process that fall to it
    /// among the local workers (the dataflows exchange by key), the source's epochs are the
    /// even ones from `start_epoch`, and every odd epoch is a seal slot. The whole-chain
    /// events after the split part (process 0 follows on and relays them, see
    /// `sources::relay`) take their epoch from the height they reach (see `feeder`, invariant 6).
    #[serde(skip)]
    pub partitioned: bool,
}

/// Errors that end a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The source failed for good.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A sink failed for good.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// A dataflow is inconsistent with what it declares.
    #[error("dataflow '{dataflow}' is invalid: {reason}")]
    Dataflow {
        /// Dataflow name.
        dataflow: String,
        /// What is wrong.
        reason: String,
    },
    /// timely could not start or a worker failed.
    #[error("timely runtime failed: {0}")]
    Runtime(String),
}

/// Counters of what the engine ingested, shared with sinks such as the console.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Epochs sent to the workers.
    pub epochs: AtomicU64,
    /// Blocks added (`+1`).
    pub blocks_added: AtomicU64,
    /// Blocks removed (`-1`).
    pub blocks_removed: AtomicU64,
    /// Reorgs and reverts seen.
    pub reorgs: AtomicU64,
    /// Depth of the deepest reorg.
    pub max_reorg_depth: AtomicU64,
    /// Depth of the latest reorg.
    pub last_reorg_depth: AtomicU64,
    /// Height of the latest canonical head.
    pub head: AtomicU64,
    /// Updates committed to the sinks (counted once per batch, not per sink).
    pub committed_updates: AtomicU64,
    /// Seal epochs put through the dataflows (see `src/engine/seal.rs`).
    pub seals: AtomicU64,
}

impl IngestStats {
    fn record(&self, event: &ChainEvent) {
        let removed = event.old().len() as u64;
        let added = event.new_blocks().len() as u64;
        self.blocks_added.fetch_add(added, Ordering::Relaxed);
        self.blocks_removed.fetch_add(removed, Ordering::Relaxed);
        if removed > 0 {
            self.reorgs.fetch_add(1, Ordering::Relaxed);
            self.max_reorg_depth.fetch_max(removed, Ordering::Relaxed);
            self.last_reorg_depth.store(removed, Ordering::Relaxed);
        }
        if let Some(last) = event.new_blocks().last() {
            self.head.store(last.number, Ordering::Relaxed);
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Epochs ingested.
    pub epochs: u64,
    /// Blocks added.
    pub blocks_added: u64,
    /// Blocks removed by reorgs.
    pub blocks_removed: u64,
    /// Reorgs seen.
    pub reorgs: u64,
    /// Batches committed to sinks.
    pub batches: u64,
    /// Updates committed to sinks (counted once per batch, not per sink).
    pub updates: u64,
}

/// Handles shared between the caller and a run.
#[derive(Clone, Debug, Default)]
pub struct RunControl {
    /// Set to stop: the source is no longer read, what was ingested is drained to the sinks.
    pub shutdown: Arc<AtomicBool>,
    /// Ingest counters.
    pub stats: Arc<IngestStats>,
    /// The committed watermark: every epoch below it is durable in every sink (each output
    /// handed up to it and nothing buffered). NATS ingress acknowledges messages by it.
    pub durable: Arc<AtomicU64>,
}

/// One epoch's worth of input for the workers.
struct EpochBatch {
    epoch: Epoch,
    updates: Vec<(Block, Diff)>,
    /// Seals of a seal epoch (which has no updates).
    seals: Vec<seal::Seal>,
    /// Reorgs applied at this epoch (to the first worker only: each enters once).
    reorgs: Vec<Reorg>,
    meta: release::EpochMeta,
}

/// The worker a block goes to: spreads blocks by hash so every worker gets a share.
fn worker_of(block: &Block, peers: usize) -> usize {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&block.hash.0[..8]);
    (u64::from_le_bytes(bytes) % peers.max(1) as u64) as usize
}

/// Number of worker threads in this process for `config`.
fn local_workers(config: &timely::Config) -> usize {
    use timely::CommunicationConfig as C;
    match &config.communication {
        C::Thread => 1,
        C::Process(n) | C::ProcessBinary(n) => *n,
        C::Cluster { threads, .. } => *threads,
    }
}

/// Where this process's workers sit among all: `(local workers, this process's index,
/// workers in all processes)`. timely numbers the workers of process `p` from `p * local`.
fn placement(config: &timely::Config) -> (usize, usize, usize) {
    use timely::CommunicationConfig as C;
    let local = local_workers(config).max(1);
    match &config.communication {
        C::Cluster {
            process, addresses, ..
        } => (local, *process, local * addresses.len().max(1)),
        _ => (local, 0, local),
    }
}

/// Who writes the outputs of a run.
pub enum Writers {
    /// Worker 0 releases every output to these sinks (one sink thread).
    One(Vec<Box<dyn Sink>>),
    /// Each local worker releases the rows whose key hashes to it to its own sinks (one set
    /// and one sink thread per local worker, by local index), opened for that worker's share
    /// (see [`crate::sinks::writers`]).
    PerWorker(Vec<Vec<Box<dyn Sink>>>),
}

/// The writers of this process's workers for `config`, by local index (see
/// [`crate::sinks::writers`]): worker `index` of all workers.
pub fn local_writers(config: &timely::Config) -> Vec<writer::Writer> {
    let (local, process, peers) = placement(config);
    (0..local)
        .map(|i| writer::Writer {
            index: process * local + i,
            count: peers,
        })
        .collect()
}

/// Runs `dataflows` over the events of `source` until the source ends or `control.shutdown`
/// is set, committing every output to every accepting sink (written by worker 0).
pub fn run<I>(
    settings: &EngineSettings,
    timely_config: timely::Config,
    dataflows: Vec<&'static dyn Dataflow>,
    source: I,
    sinks: Vec<Box<dyn Sink>>,
    control: &RunControl,
) -> Result<RunSummary, EngineError>
where
    I: IntoIterator<Item = Result<SourceEvent, SourceError>>,
{
    run_writers(
        settings,
        timely_config,
        dataflows,
        source,
        Writers::One(sinks),
        control,
    )
}

/// [`run`] with the writers chosen: with [`Writers::PerWorker`] every worker writes its
/// share of the keys, and the committed watermark is the lowest of all local writers.
pub fn run_writers<I>(
    settings: &EngineSettings,
    timely_config: timely::Config,
    dataflows: Vec<&'static dyn Dataflow>,
    source: I,
    writers: Writers,
    control: &RunControl,
) -> Result<RunSummary, EngineError>
where
    I: IntoIterator<Item = Result<SourceEvent, SourceError>>,
{
    check_dataflows(&dataflows)?;
    let (local, process, peers) = placement(&timely_config);
    let capacity = settings.channel_capacity.max(1);
    let stop = Arc::new(AtomicBool::new(false));

    let mut senders = Vec::with_capacity(local);
    let mut receivers = Vec::with_capacity(local);
    for _ in 0..local {
        let (tx, rx) = crossbeam_channel::bounded::<EpochBatch>(capacity);
        senders.push(tx);
        receivers.push(Some(rx));
    }
    let receivers = Arc::new(Mutex::new(receivers));

    let (by_key, sets) = match writers {
        Writers::One(sinks) => (false, vec![sinks]),
        Writers::PerWorker(sets) => {
            if sets.len() != local {
                return Err(EngineError::Runtime(format!(
                    "{} sink sets for {local} local workers: each worker needs its own",
                    sets.len()
                )));
            }
            (true, sets)
        }
    };
    // One sink thread per writer; the watermark is the lowest of theirs.
    let slots: Arc<Vec<AtomicU64>> = Arc::new(sets.iter().map(|_| AtomicU64::new(0)).collect());
    let mut batch_txs = Vec::with_capacity(sets.len());
    let mut sink_threads = Vec::with_capacity(sets.len());
    for (slot, sinks) in sets.into_iter().enumerate() {
        let (batch_tx, batch_rx) = crossbeam_channel::bounded::<OutputBatch>(capacity);
        batch_txs.push(batch_tx);
        let writer = SinkThread {
            sinks,
            batches: batch_rx,
            stop: Arc::clone(&stop),
            slot,
            slots: Arc::clone(&slots),
            durable: Arc::clone(&control.durable),
            stats: Arc::clone(&control.stats),
            handed: dataflows
                .iter()
                .flat_map(|d| d.outputs())
                .map(|s| (s.name, settings.start_epoch))
                .collect(),
        };
        let thread = thread::Builder::new()
            .name(format!("chainflow-sinks-{slot}"))
            .spawn(move || writer.run())
            .map_err(|e| EngineError::Runtime(format!("cannot start a sink thread: {e}")))?;
        sink_threads.push(thread);
    }
    let batch_txs = Arc::new(batch_txs);

    let max_inflight = settings.max_inflight_epochs.max(1);
    let start = settings.start_epoch;
    let partitioned = settings.partitioned;
    let worker_stop = Arc::clone(&stop);
    let guards = timely::execute(timely_config, move |worker| {
        let index = worker.index();
        if worker.peers() != peers || index / local != process {
            return Err(format!(
                "worker {index} of {} is not where the feeder expects it (process {process}, {local} workers per process, {peers} in all)",
                worker.peers()
            ));
        }
        let receiver = receivers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(index % local)
            .and_then(Option::take);
        let Some(receiver) = receiver else {
            return Err(format!("worker {index} found no input channel"));
        };
        let ctx = Rc::new(release::ReleaseContext {
            batches: if by_key {
                batch_txs.get(index % local).cloned()
            } else {
                (index == 0).then(|| batch_txs.first().cloned()).flatten()
            },
            by_key,
            stop: Arc::clone(&worker_stop),
            meta: RefCell::new(BTreeMap::new()),
            lowers: RefCell::new(Vec::new()),
            start,
            end: std::cell::Cell::new(None),
            seal_slots: partitioned,
        });
        let (mut input, mut seal_input, mut reorg_input, probe, mismatch) =
            worker.dataflow::<Epoch, _, _>(|scope| {
            let (input, blocks) = scope.new_collection::<Block, Diff>();
            let (seal_input, seals) = scope.new_collection::<seal::Seal, Diff>();
            let (reorg_input, reorgs) = scope.new_collection::<Reorg, Diff>();
            let inputs = Inputs::new(blocks, seals, reorgs);
            let probe = ProbeHandle::new();
            let mut mismatch = None;
            for df in &dataflows {
                let outputs = df.build(&inputs);
                if let Err(e) = check_built(*df, &outputs) {
                    mismatch = Some(e);
                }
                for output in outputs {
                    release::attach(df.name(), output, &probe, &ctx);
                }
            }
            (input, seal_input, reorg_input, probe, mismatch)
        });
        if let Some(e) = mismatch {
            return Err(e.to_string());
        }
        input.advance_to(start);
        input.flush();
        seal_input.advance_to(start);
        seal_input.flush();
        reorg_input.advance_to(start);
        reorg_input.flush();
        loop {
            let behind = probe.less_than(&input.time().saturating_sub(max_inflight));
            if !behind {
                match receiver.recv_timeout(Duration::from_millis(1)) {
                    Ok(batch) => {
                        let epoch = batch.epoch;
                        if ctx.batches.is_some() {
                            ctx.meta.borrow_mut().insert(epoch, batch.meta.clone());
                        }
                        input.advance_to(epoch);
                        seal_input.advance_to(epoch);
                        for s in &batch.seals {
                            seal_input.update(*s, 1);
                        }
                        seal_input.advance_to(epoch + 1);
                        seal_input.flush();
                        reorg_input.advance_to(epoch);
                        for r in batch.reorgs {
                            reorg_input.update(r, 1);
                        }
                        reorg_input.advance_to(epoch + 1);
                        reorg_input.flush();
                        // The feeder sent this worker only the blocks that fall to it.
                        for (block, diff) in batch.updates {
                            input.update(block, diff);
                        }
                        input.advance_to(epoch + 1);
                        input.flush();
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            worker.step();
        }
        ctx.end.set(Some(
            (*input.time())
                .max(*seal_input.time())
                .max(*reorg_input.time()),
        ));
        input.close();
        seal_input.close();
        reorg_input.close();
        // Drain: other processes may still be feeding, so wait for their progress parked
        // instead of spinning.
        while !probe.done() {
            worker.step_or_park(Some(Duration::from_millis(10)));
        }
        Ok(())
    })
    .map_err(EngineError::Runtime)?;

    // The feeder, on this thread.
    let feed = feeder::Feeder::new(
        settings,
        feeder::Placement {
            senders: &senders,
            process,
            peers,
        },
        &stop,
        control,
    )
    .run(source);
    drop(senders);

    let mut worker_error = None;
    for result in guards.join() {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => worker_error = Some(e),
        }
    }
    let (mut batches, mut updates) = (0u64, 0u64);
    let mut sink_error = None;
    for thread in sink_threads {
        match thread.join() {
            Ok(Ok((b, u))) => {
                batches += b;
                updates += u;
            }
            Ok(Err(e)) => sink_error = sink_error.or(Some(EngineError::Sink(e))),
            Err(_) => {
                sink_error = sink_error
                    .or_else(|| Some(EngineError::Runtime("a sink thread panicked".into())))
            }
        }
    }
    if let Some(e) = sink_error {
        return Err(e);
    }
    let epochs = feed?;
    if let Some(e) = worker_error {
        return Err(EngineError::Runtime(e));
    }
    let stats = &control.stats;
    Ok(RunSummary {
        epochs,
        blocks_added: stats.blocks_added.load(Ordering::Relaxed),
        blocks_removed: stats.blocks_removed.load(Ordering::Relaxed),
        reorgs: stats.reorgs.load(Ordering::Relaxed),
        batches,
        updates,
    })
}

/// The sink side of one writer: commits its batches in arrival order to its sinks,
/// retrying what may succeed later, flushing at deadlines, and publishing how far it is
/// durable.
struct SinkThread {
    sinks: Vec<Box<dyn Sink>>,
    batches: crossbeam_channel::Receiver<OutputBatch>,
    stop: Arc<AtomicBool>,
    /// This writer's entry in `slots`.
    slot: usize,
    /// Per writer of this process, the epoch below which it is durable.
    slots: Arc<Vec<AtomicU64>>,
    /// The run's committed watermark: the lowest of `slots`.
    durable: Arc<AtomicU64>,
    stats: Arc<IngestStats>,
    /// Per output, the upper of the last batch handed to the sinks.
    handed: BTreeMap<&'static str, Epoch>,
}

impl SinkThread {
    /// Runs until the workers drop their senders; returns (batches, updates) committed.
    fn run(mut self) -> Result<(u64, u64), SinkError> {
        let result = self.commit_all();
        if result.is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
        result
    }

    fn commit_all(&mut self) -> Result<(u64, u64), SinkError> {
        let mut batches = 0u64;
        let mut updates = 0u64;
        loop {
            let deadline = self.sinks.iter().filter_map(|s| s.flush_deadline()).min();
            let next = match deadline {
                Some(d) => self.batches.recv_deadline(d),
                None => self
                    .batches
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
            match next {
                Ok(batch) => {
                    for sink in self.sinks.iter_mut() {
                        if sink.accepts(batch.output.name) {
                            commit_with_retry(sink.as_mut(), &batch)?;
                        }
                    }
                    batches += 1;
                    updates += batch.updates.len() as u64;
                    self.stats
                        .committed_updates
                        .fetch_add(batch.updates.len() as u64, Ordering::Relaxed);
                    if let Some(h) = self.handed.get_mut(batch.output.name) {
                        *h = (*h).max(batch.upper);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            for sink in self.sinks.iter_mut() {
                if sink.flush_deadline().is_some_and(|d| d <= now) {
                    sink.flush()?;
                }
            }
            self.publish_durable();
        }
        for sink in self.sinks.iter_mut() {
            sink.flush()?;
        }
        for sink in self.sinks.iter_mut() {
            sink.close()?;
        }
        self.publish_durable();
        Ok((batches, updates))
    }

    /// Once nothing is buffered, every epoch below the lowest handed upper is durable here;
    /// the run's watermark is the lowest over the writers of this process.
    fn publish_durable(&self) {
        if !self.sinks.iter().all(|s| s.flush_deadline().is_none()) {
            return;
        }
        let Some(low) = self.handed.values().copied().min() else {
            return;
        };
        if let Some(slot) = self.slots.get(self.slot) {
            slot.fetch_max(low, Ordering::AcqRel);
        }
        if let Some(all) = self.slots.iter().map(|s| s.load(Ordering::Acquire)).min() {
            self.durable.fetch_max(all, Ordering::AcqRel);
        }
    }
}

/// Checks what `dataflows` declare and what they build, before a run: no output declared
/// twice, key columns that are columns, and a build (in a scratch worker, never run) that
/// returns exactly the declared outputs, each made of rows with the declared columns. The
/// error names the dataflow and the output.
pub fn check_dataflows(dataflows: &[&'static dyn Dataflow]) -> Result<(), EngineError> {
    check_declared(dataflows)?;
    let dataflows = dataflows.to_vec();
    timely::execute_directly(move |worker| {
        worker.dataflow::<Epoch, _, _>(|scope| {
            let (_blocks_in, blocks) = scope.new_collection::<Block, Diff>();
            let (_seals_in, seals) = scope.new_collection::<seal::Seal, Diff>();
            let (_reorgs_in, reorgs) = scope.new_collection::<Reorg, Diff>();
            let inputs = Inputs::new(blocks, seals, reorgs);
            dataflows
                .iter()
                .try_for_each(|df| check_built(*df, &df.build(&inputs)))
        })
    })
}

/// Whether `built` is exactly what `df` declares, by output name.
fn check_built(df: &dyn Dataflow, built: &[dataflow::Output<'_>]) -> Result<(), EngineError> {
    let invalid = |reason: String| EngineError::Dataflow {
        dataflow: df.name().into(),
        reason,
    };
    let declared = df.outputs();
    let mut seen = std::collections::BTreeSet::new();
    for output in built {
        let name = output.spec.name;
        if !seen.insert(name) {
            return Err(invalid(format!("build() returns output '{name}' twice")));
        }
        match declared.iter().find(|d| d.name == name) {
            None => {
                return Err(invalid(format!(
                    "build() returns output '{name}', which outputs() does not declare"
                )));
            }
            Some(d) if *d != output.spec => {
                return Err(invalid(format!(
                    "build() returns output '{name}' with another description than outputs() declares"
                )));
            }
            Some(_) if output.spec.columns != output.row_columns => {
                return Err(invalid(format!(
                    "output '{name}' declares other columns than its rows have"
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(missing) = declared.iter().find(|d| !seen.contains(d.name)) {
        return Err(invalid(format!(
            "outputs() declares '{}', which build() does not return",
            missing.name
        )));
    }
    Ok(())
}

fn check_declared(dataflows: &[&'static dyn Dataflow]) -> Result<(), EngineError> {
    let mut seen = BTreeMap::new();
    for df in dataflows {
        for spec in df.outputs() {
            if let Some(other) = seen.insert(spec.name, df.name()) {
                return Err(EngineError::Dataflow {
                    dataflow: df.name().into(),
                    reason: format!("output '{}' is also declared by '{other}'", spec.name),
                });
            }
            for key in spec.key {
                if !spec.columns.iter().any(|c| c.name == *key) {
                    return Err(EngineError::Dataflow {
                        dataflow: df.name().into(),
                        reason: format!(
                            "key column '{key}' of output '{}' is not a column",
                            spec.name
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Commits `batch` to `sink`, retrying retryable failures with exponential backoff.
fn commit_with_retry(sink: &mut dyn Sink, batch: &OutputBatch) -> Result<(), SinkError> {
    const ATTEMPTS: u32 = 8;
    let mut delay = Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        match sink.commit(batch) {
            Ok(()) => return Ok(()),
            Err(err) if err.is_retryable() && attempt < ATTEMPTS => {
                tracing::warn!(sink = sink.name(), output = batch.output.name, attempt, error = %err, "retrying commit");
                thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflows::gas_fees::{BLOCKS, GasFees};
    use crate::engine::dataflow::Value;
    use crate::model::testing::{block, tx};
    use crate::sinks::memory::MemorySink;

    /// Runs a partitioned run: block 1 as this process's numbered share (epoch 1), then
    /// `groups` of whole-chain blocks as the events a follower saw; returns the epoch at which
    /// each block's `gas_fees_blocks` row entered.
    fn row_epochs(groups: &[&[u64]]) -> BTreeMap<u64, Epoch> {
        let settings = EngineSettings {
            partitioned: true,
            blocks_per_epoch: 1,
            seal_every_secs: 0,
            ..EngineSettings::default()
        };
        let event = |numbers: &[u64], epoch| {
            Ok(SourceEvent {
                event: ChainEvent::Committed {
                    new: numbers
                        .iter()
                        .map(|n| block(*n, 1_000 + 12 * n, 7, vec![tx(0, 9, 21_000, 0)]))
                        .collect(),
                },
                finalized: None,
                caught_up: true,
                epoch,
            })
        };
        let events: Vec<Result<SourceEvent, SourceError>> = std::iter::once(event(&[1], Some(1)))
            .chain(groups.iter().map(|g| event(g, None)))
            .collect();
        let sink = MemorySink::new();
        run(
            &settings,
            timely::Config::thread(),
            vec![&GasFees],
            events,
            vec![Box::new(sink.clone())],
            &RunControl::default(),
        )
        .unwrap();
        let spec = GasFees.outputs()[0];
        let at = spec
            .columns
            .iter()
            .position(|c| c.name == "block_number")
            .unwrap();
        sink.batches()
            .iter()
            .filter(|b| b.output.name == BLOCKS)
            .flat_map(|b| b.updates.clone())
            .filter(|(_, _, diff)| *diff > 0)
            .map(|(row, epoch, _)| match row[at] {
                Value::U64(n) => (n, epoch),
                ref other => panic!("block_number is {other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_default_settings_follow_heads_live_and_seal_hourly() {
        let s = EngineSettings::default();
        assert_eq!(
            (
                s.max_inflight_epochs,
                s.channel_capacity,
                s.blocks_per_epoch
            ),
            (64, 64, 1)
        );
        assert_eq!((s.start_epoch, s.seal_every_secs), (1, 3600));
        assert!(!s.batch_until_caught_up && !s.partitioned && s.relay.is_none());
    }

    #[test]
    fn a_head_followed_after_a_split_part_enters_at_an_epoch_of_its_height() {
        // Two processes whose polls grouped the same heads differently put the last one at
        // the same epoch (an idle process would otherwise hold the other's outputs back).
        let one_by_one = row_epochs(&[&[2], &[3], &[4], &[5]]);
        let grouped = row_epochs(&[&[2, 3], &[4, 5]]);
        assert_eq!(one_by_one[&1], 1);
        assert_eq!(one_by_one[&5], grouped[&5], "{one_by_one:?} {grouped:?}");
        assert_eq!(one_by_one[&3], grouped[&3], "{one_by_one:?} {grouped:?}");
        // Epochs increase with the heights, even (the odd ones are seal slots).
        let epochs: Vec<Epoch> = one_by_one.values().copied().collect();
        assert!(epochs.windows(2).all(|w| w[0] < w[1]), "{epochs:?}");
        assert!(epochs.iter().all(|e| (e - 1) % 2 == 0), "{epochs:?}");
    }
}
