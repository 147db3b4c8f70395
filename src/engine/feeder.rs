//! The feeder: reads the source on the caller's thread, groups its events into epochs and
//! hands each epoch's blocks to the local workers they fall to.
//!
//! ```text
//!  source ─► Feeder::take(event) ─► open epoch (blocks -1 / +1, reorgs, finalized, fed)
//!                │ closes when full, at the end of a catch-up, for a numbered or a live event
//!                ▼
//!            Feeder::send(epoch) ─► one EpochBatch per local worker (bounded channels)
//!                │ then, when due, a seal epoch (see `seal.rs`)
//! ```
//!
//! # Invariants
//!
//! 1. **One event, one epoch.** Every block an event removes (`-1`) and adds (`+1`) enters at
//!    the same epoch, so no output ever shows half a reorg. An epoch may hold several events.
//! 2. **Epochs increase.** Each epoch sent is above the last. A source that numbers its
//!    events (NATS ingress: the stream sequence) has each numbered event applied alone at its
//!    number; a number below the next free epoch is an error. The events of a run either
//!    are numbered or are not; the feeder closes what is open before a numbered one.
//! 3. **Batching.** Up to `blocks_per_epoch` blocks share an epoch while the source
//!    backfills; the epoch that completes a catch-up closes at once (a restart reconciles
//!    there); once a source that backfilled is live, every event is its own epoch.
//! 4. **Finalized heights never pass what was fed.** The finalized height recorded with an
//!    epoch is at most the highest block fed on its chain by then, so a restart from a
//!    committed range's finalized height misses nothing.
//! 5. **Seal slots.** A seal (taking final state out of the dataflows) is an epoch of its
//!    own with no blocks. Without numbered events it follows the epoch that made it due. In
//!    a partitioned run (each process reads its own share) every epoch of this process is
//!    followed by one odd epoch that is its seal slot, sealed or not; the release drops the
//!    updates of odd epochs. A numbered, unpartitioned run leaves no epoch free and never
//!    seals.
//! 6. **Heights after a split part.** In a partitioned run the whole-chain events that follow
//!    the split part open their epoch at `base + EPOCHS_PER_HEIGHT * (tip - anchor)` (never
//!    below the next free epoch), where `(base, anchor)` are the epoch and lowest height of
//!    the first such event: every process puts a head at the same epoch however its polls
//!    grouped the heads before it.
//! 7. **Placement.** A block goes to worker `worker_of(block, peers)` of all processes and is
//!    sent only by the process that worker belongs to; a process's own share (a numbered
//!    event of a partitioned run) stays on its own workers. Reorgs enter once, at process
//!    0's first worker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender};

use super::source::{SourceError, SourceEvent};
use super::{EngineError, EngineSettings, EpochBatch, RunControl, release, seal, worker_of};
use crate::model::{Block, ChainEvent, ChainId, Diff, Epoch, Reorg};

/// Epochs per block height for the whole-chain events of a partitioned run (invariant 6):
/// even, so the seal slots stay odd, and room for a few reorgs at one height before the
/// epochs of two processes can differ (until the next height brings them together again).
const EPOCHS_PER_HEIGHT: u64 = 8;

/// Where the feeder sends: one bounded channel per local worker, this process's index and
/// the workers of all processes.
pub(super) struct Placement<'a> {
    pub senders: &'a [Sender<EpochBatch>],
    pub process: usize,
    pub peers: usize,
}

/// The feeder of one run (see the module doc for its invariants).
pub(super) struct Feeder<'a> {
    settings: &'a EngineSettings,
    to: Placement<'a>,
    stop: &'a AtomicBool,
    control: &'a RunControl,
    /// The open epoch.
    epoch: Epoch,
    /// Its blocks, `-1` removed and `+1` added.
    updates: Vec<(Block, Diff)>,
    /// Its reorgs.
    reorgs: Vec<Reorg>,
    /// Its blocks so far (an event counts at least once, so a revert alone closes it).
    blocks_in_epoch: usize,
    /// Whether its blocks are this process's own share of the input (invariant 7).
    own_share: bool,
    /// Finalized height per chain, as the source said.
    finalized: BTreeMap<ChainId, u64>,
    /// The highest block fed per chain (invariant 4).
    fed: BTreeMap<ChainId, u64>,
    /// Whether the source has caught up.
    caught_up: bool,
    /// Whether the last event arrived before the source caught up.
    behind: bool,
    /// Whether any did (the source backfilled a range).
    backfilled: bool,
    /// Whether the source numbers its events (invariant 2).
    numbered: bool,
    /// `(base, anchor)` of invariant 6.
    follow_base: Option<(Epoch, u64)>,
    /// Timestamps of fed blocks from the finalized height up, per chain: a seal needs the
    /// finalized head's time.
    times: BTreeMap<ChainId, BTreeMap<u64, u64>>,
    /// Per chain, the seal step (finalized timestamp / seal_every_secs) of the last seal.
    sealed_step: BTreeMap<ChainId, u64>,
    /// Epochs sent with blocks.
    sent: u64,
}

impl<'a> Feeder<'a> {
    pub(super) fn new(
        settings: &'a EngineSettings,
        to: Placement<'a>,
        stop: &'a AtomicBool,
        control: &'a RunControl,
    ) -> Self {
        Feeder {
            settings,
            to,
            stop,
            control,
            epoch: settings.start_epoch,
            updates: Vec::new(),
            reorgs: Vec::new(),
            blocks_in_epoch: 0,
            own_share: settings.partitioned,
            finalized: BTreeMap::new(),
            fed: BTreeMap::new(),
            caught_up: false,
            behind: false,
            backfilled: false,
            numbered: false,
            follow_base: None,
            times: BTreeMap::new(),
            sealed_step: BTreeMap::new(),
            sent: 0,
        }
    }

    /// Feeds every event of `source` until it ends, fails, or the run stops; returns the
    /// number of epochs sent with blocks.
    pub(super) fn run<I>(mut self, source: I) -> Result<u64, EngineError>
    where
        I: IntoIterator<Item = Result<SourceEvent, SourceError>>,
    {
        let started = Instant::now();
        for item in source {
            if self.control.shutdown.load(Ordering::Relaxed) || self.stop.load(Ordering::Relaxed) {
                break;
            }
            let item = match item {
                Ok(item) => item,
                Err(err) => {
                    tracing::error!(error = %err, "source failed; draining what was ingested");
                    if !self.updates.is_empty() {
                        self.send_open();
                    }
                    return Err(err.into());
                }
            };
            if !self.take(item)? {
                break;
            }
        }
        if !self.updates.is_empty() && self.send_open() {
            self.count_epoch();
        }
        tracing::debug!(epochs = self.sent, elapsed = ?started.elapsed(), "source done");
        Ok(self.sent)
    }

    /// Takes one event into the open epoch and closes it when it is due. `false` when the
    /// workers are gone or the run stops.
    fn take(&mut self, item: SourceEvent) -> Result<bool, EngineError> {
        // A numbered event: close what is open, then this event alone at its own epoch.
        if let Some(at) = item.epoch {
            if !self.updates.is_empty() {
                if !self.send_open() {
                    return Ok(false);
                }
                self.count_epoch();
                self.epoch += 1;
            }
            if at < self.epoch {
                return Err(EngineError::Source(SourceError::Invalid {
                    chain_id: item.finalized.map_or(0, |(c, _)| c),
                    what: format!("epoch {at}"),
                    reason: format!("epochs must increase; the next free one is {}", self.epoch),
                }));
            }
            self.epoch = at;
        }
        let explicit = item.epoch.is_some();
        self.numbered |= explicit;
        let partitioned = self.settings.partitioned;
        // An epoch never mixes the two: a numbered event is an epoch of its own.
        self.own_share = partitioned && explicit;
        if partitioned
            && !explicit
            && self.updates.is_empty()
            && let Some((low, tip)) = heights(&item.event)
        {
            let (base, anchor) = *self.follow_base.get_or_insert((self.epoch, low));
            self.epoch = self
                .epoch
                .max(base + EPOCHS_PER_HEIGHT * tip.saturating_sub(anchor));
        }
        self.control.stats.record(&item.event);
        if self.settings.seal_every_secs > 0 && (!self.numbered || partitioned) {
            self.remember_times(&item.event);
        }
        if let Some((chain, height)) = item.finalized {
            let entry = self.finalized.entry(chain).or_insert(height);
            *entry = (*entry).max(height);
        }
        for block in item.event.new_blocks() {
            let top = self.fed.entry(block.chain_id).or_insert(block.number);
            *top = (*top).max(block.number);
        }
        // The epoch that completes a catch-up closes at once: a restart reconciles there.
        // (A source that is caught up from its first event has no catch-up to end.)
        let catching_up_ends = item.caught_up
            && !self.caught_up
            && (self.behind || self.settings.batch_until_caught_up);
        self.caught_up |= item.caught_up;
        self.behind = !self.caught_up;
        self.backfilled |= self.behind;
        self.blocks_in_epoch += item.event.new_blocks().len().max(1);
        if let Some(r) = Reorg::of(&item.event, self.epoch) {
            self.reorgs.push(r);
        }
        self.updates.extend(item.event.into_updates());
        // Batches are for the backfill: once a source that backfilled follows the head live,
        // every event is its own epoch (a head waits for no other).
        let live = self.caught_up && (self.backfilled || self.settings.batch_until_caught_up);
        let full = self.blocks_in_epoch >= self.settings.blocks_per_epoch.max(1);
        if full || catching_up_ends || explicit || live {
            if !self.send_open() {
                return Ok(false);
            }
            self.count_epoch();
            self.epoch += 1;
            return Ok(self.seal_after_epoch());
        }
        Ok(true)
    }

    fn count_epoch(&mut self) {
        self.control.stats.epochs.fetch_add(1, Ordering::Relaxed);
        self.sent += 1;
        self.blocks_in_epoch = 0;
    }

    /// The seal epoch after an epoch, when one is due (invariant 5). `false` when the
    /// workers are gone or the run stops.
    fn seal_after_epoch(&mut self) -> bool {
        let every = self.settings.seal_every_secs;
        if self.settings.partitioned {
            // The odd epoch after each of this process's epochs is its seal slot (the
            // release drops every odd epoch's updates), sealed or not.
            let seals = if every > 0 {
                self.due_seals()
            } else {
                Vec::new()
            };
            self.control
                .stats
                .seals
                .fetch_add(u64::from(!seals.is_empty()), Ordering::Relaxed);
            if !self.send(self.epoch, Vec::new(), Vec::new(), seals) {
                return false;
            }
            self.epoch += 1;
        } else if every > 0 && !self.numbered {
            let seals = self.due_seals();
            if !seals.is_empty() {
                tracing::debug!(epoch = self.epoch, ?seals, "sealing");
                if !self.send(self.epoch, Vec::new(), Vec::new(), seals) {
                    return false;
                }
                self.control.stats.seals.fetch_add(1, Ordering::Relaxed);
                self.epoch += 1;
            }
        }
        true
    }

    /// Keeps the timestamps of the blocks an event adds and forgets those it removes.
    fn remember_times(&mut self, event: &ChainEvent) {
        for block in event.old() {
            if let Some(t) = self.times.get_mut(&block.chain_id) {
                t.remove(&block.number);
            }
        }
        for block in event.new_blocks() {
            self.times
                .entry(block.chain_id)
                .or_default()
                .insert(block.number, block.timestamp);
        }
    }

    /// The seals due after an epoch: per chain whose finalized head's timestamp reached a
    /// new multiple of `seal_every_secs`, `(chain, that timestamp)`. Forgets block times
    /// below the finalized heights.
    fn due_seals(&mut self) -> Vec<seal::Seal> {
        due_seals(
            self.settings.seal_every_secs,
            &self.finalized,
            &self.fed,
            &mut self.times,
            &mut self.sealed_step,
        )
    }

    /// Sends the open epoch's blocks and reorgs at its epoch.
    fn send_open(&mut self) -> bool {
        let updates = std::mem::take(&mut self.updates);
        let reorgs = std::mem::take(&mut self.reorgs);
        self.send(self.epoch, updates, reorgs, Vec::new())
    }

    /// Sends `epoch` to every local worker: the blocks that fall to it, the seals, and the
    /// reorgs to process 0's first worker (invariant 7). `false` when the workers are gone
    /// or the run stops while a channel is full.
    fn send(
        &self,
        epoch: Epoch,
        updates: Vec<(Block, Diff)>,
        reorgs: Vec<Reorg>,
        seals: Vec<seal::Seal>,
    ) -> bool {
        // Invariant 4: never above what was fed.
        let finalized = self
            .finalized
            .iter()
            .filter_map(|(chain, f)| self.fed.get(chain).map(|top| (*chain, (*f).min(*top))))
            .collect();
        let meta = release::EpochMeta {
            finalized: Arc::new(finalized),
            caught_up: self.caught_up,
            seal: !seals.is_empty(),
        };
        let Placement {
            senders,
            process,
            peers,
        } = self.to;
        let local = senders.len().max(1);
        let mut parts: Vec<Vec<(Block, Diff)>> = (0..local).map(|_| Vec::new()).collect();
        for (block, diff) in updates {
            let (worker, mine) = if self.own_share {
                // The source read only this process's share: all of it stays here.
                (worker_of(&block, local), true)
            } else {
                let worker = worker_of(&block, peers);
                (worker % local, worker / local == process)
            };
            if mine && let Some(part) = parts.get_mut(worker) {
                part.push((block, diff));
            }
        }
        let mut reorgs = (process == 0).then_some(reorgs);
        for (tx, updates) in senders.iter().zip(parts) {
            let mut item = EpochBatch {
                epoch,
                updates,
                seals: seals.clone(),
                reorgs: reorgs.take().unwrap_or_default(),
                meta: meta.clone(),
            };
            loop {
                match tx.send_timeout(item, Duration::from_millis(100)) {
                    Ok(()) => break,
                    Err(SendTimeoutError::Timeout(back)) => {
                        if self.stop.load(Ordering::Relaxed) {
                            return false;
                        }
                        item = back;
                    }
                    Err(SendTimeoutError::Disconnected(_)) => return false,
                }
            }
        }
        true
    }
}

/// The lowest height an event touches and the height of the tip it leaves (the block below
/// its old blocks for a revert); `None` for an event without blocks.
fn heights(event: &ChainEvent) -> Option<(u64, u64)> {
    let low = event
        .old()
        .iter()
        .chain(event.new_blocks())
        .map(|b| b.number)
        .min()?;
    let tip = match event.new_blocks().last() {
        Some(b) => b.number,
        None => low.saturating_sub(1),
    };
    Some((low, tip))
}

/// The seals due after an epoch: per chain whose finalized head's timestamp reached a new
/// multiple of `every` seconds, `(chain, that timestamp)`. Forgets block times below the
/// finalized heights.
fn due_seals(
    every: u64,
    finalized: &BTreeMap<ChainId, u64>,
    fed: &BTreeMap<ChainId, u64>,
    times: &mut BTreeMap<ChainId, BTreeMap<u64, u64>>,
    sealed_step: &mut BTreeMap<ChainId, u64>,
) -> Vec<seal::Seal> {
    let mut seals = Vec::new();
    for (chain, f) in finalized {
        let Some(top) = fed.get(chain) else { continue };
        let height = (*f).min(*top);
        let Some(chain_times) = times.get_mut(chain) else {
            continue;
        };
        let Some(&at) = chain_times.get(&height) else {
            continue;
        };
        let rest = chain_times.split_off(&height);
        *chain_times = rest;
        let step = at / every.max(1);
        if sealed_step.get(chain).is_none_or(|last| step > *last) {
            sealed_step.insert(*chain, step);
            seals.push((*chain, at));
        }
    }
    seals
}
