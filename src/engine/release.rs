//! The release operator: the last stop of every output inside timely.
//!
//! ```text
//!  output rows ──probe──► exchange(by key hash to its writer,  ──► release::<output>
//!                          or all to worker 0 with one writer)
//!                                                        │ buffer (row, epoch, diff)
//!                                                        │ frontier passes epochs < upper
//!                                                        ▼ consolidate, one OutputBatch [lower, upper)
//!                                      bounded channel ──► the worker's sink thread
//! ```
//!
//! Updates wait in the operator until the input frontier has passed their epoch, so a sink
//! only ever sees closed epochs. With writers per worker (see [`crate::sinks::writers`]) each
//! worker releases the rows whose key hashes to it, to its own sink thread; with one writer
//! worker 0 releases everything. The channel to a sink thread is bounded: when a sink is
//! slow the send blocks, the worker stops stepping, the probe stops advancing and the workers
//! stop taking new epochs, so memory stays bounded.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Sender;
use differential_dataflow::consolidation::consolidate_updates;
use timely::dataflow::ProbeHandle;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;

use super::dataflow::{Output, RowValues};
use super::keys::check_keys;
use super::sink::OutputBatch;
use crate::model::{ChainId, Diff, Epoch};

/// What the feeder knew when it closed an epoch.
#[derive(Clone, Debug, Default)]
pub(crate) struct EpochMeta {
    /// Finalized height per chain, never above the highest block fed by then.
    pub finalized: Arc<BTreeMap<ChainId, u64>>,
    /// Whether the source had caught up (see [`crate::sources::SourceEvent::caught_up`]).
    pub caught_up: bool,
    /// A seal epoch: its output changes only forget closed buckets and are not written.
    pub seal: bool,
}

/// What every release operator of one worker shares.
pub(crate) struct ReleaseContext {
    /// Where this worker's batches go; `None` on a worker that writes nothing (every worker
    /// but 0 with one writer).
    pub batches: Option<Sender<OutputBatch>>,
    /// Rows go to the worker their key hashes to (writers per worker), else all to worker 0.
    pub by_key: bool,
    /// Set when the sink side is gone: stop sending and let the run end.
    pub stop: Arc<AtomicBool>,
    /// What the feeder knew per epoch taken by this worker and not yet released everywhere.
    pub meta: RefCell<BTreeMap<Epoch, EpochMeta>>,
    /// The lower bound of every release operator (by attach order), to prune `meta`.
    pub lowers: RefCell<Vec<Epoch>>,
    /// The first epoch of the run: the lower bound of the first batch.
    pub start: Epoch,
    /// The input's epoch when the worker closed it: the last range of a run ends there on
    /// every writer (even when a writer's share of it is empty), so writers stop evenly.
    pub end: std::cell::Cell<Option<Epoch>>,
    /// Every odd epoch from `start` is a seal slot (a partitioned source: see
    /// [`super::EngineSettings::partitioned`]); its updates are dropped wherever sealed.
    pub seal_slots: bool,
}

impl ReleaseContext {
    /// What was known at the last epoch below `upper`: a batch `[lower, upper)` carries it.
    fn meta_before(&self, upper: Epoch) -> EpochMeta {
        self.meta
            .borrow()
            .range(..upper)
            .next_back()
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Records that operator `slot` released everything below `lower`; forgets what no
    /// operator can ask for any more (keeping the newest entry below the lowest bound).
    fn released(&self, slot: usize, lower: Epoch) {
        let mut lowers = self.lowers.borrow_mut();
        if let Some(l) = lowers.get_mut(slot) {
            *l = lower;
        }
        let Some(min) = lowers.iter().copied().min() else {
            return;
        };
        let mut meta = self.meta.borrow_mut();
        let keep = meta.range(..min).next_back().map(|(e, _)| *e);
        if let Some(keep) = keep {
            let rest = meta.split_off(&keep);
            *meta = rest;
        }
    }
}

/// Attaches the release operator for `output`.
pub(crate) fn attach(
    dataflow: &'static str,
    output: Output<'_>,
    probe: &ProbeHandle<Epoch>,
    ctx: &Rc<ReleaseContext>,
) {
    let spec = output.spec;
    let ctx = Rc::clone(ctx);
    let mut pending: Vec<(RowValues, Epoch, Diff)> = Vec::new();
    let mut lower = ctx.start;
    let slot = {
        let mut lowers = ctx.lowers.borrow_mut();
        lowers.push(lower);
        lowers.len() - 1
    };
    let name = format!("release::{}", spec.name);
    let by_key = ctx.by_key;
    let positions = super::keys::key_positions(&spec);
    output.rows.probe_with(probe).inner.sink(
        Exchange::new(move |(row, _, _): &(RowValues, Epoch, Diff)| {
            if by_key {
                super::keys::key_hash(&positions, row)
            } else {
                0
            }
        }),
        &name,
        move |(input, frontier)| {
            input.for_each(|_cap, data| pending.append(data));
            let Some(tx) = ctx.batches.as_ref() else {
                pending.clear();
                return;
            };
            let (upper, ready) = match frontier.frontier().first().copied() {
                Some(upper) => {
                    if upper <= lower {
                        return;
                    }
                    let (ready, later): (Vec<_>, Vec<_>) =
                        pending.drain(..).partition(|(_, t, _)| *t < upper);
                    pending = later;
                    (upper, ready)
                }
                None => {
                    let ready = std::mem::take(&mut pending);
                    let upper = ready
                        .iter()
                        .map(|(_, t, _)| *t + 1)
                        .max()
                        .unwrap_or(lower)
                        .max(ctx.end.get().unwrap_or(lower));
                    if upper <= lower && ready.is_empty() {
                        return;
                    }
                    (upper.max(lower), ready)
                }
            };
            let mut updates = ready;
            {
                let meta = ctx.meta.borrow();
                let slot = |t: Epoch| ctx.seal_slots && t >= ctx.start && (t - ctx.start) % 2 == 1;
                updates.retain(|(_, t, _)| !slot(*t) && !meta.get(t).is_some_and(|m| m.seal));
            }
            consolidate_updates(&mut updates);
            // Sorted by epoch, then retractions before insertions within an epoch.
            let (updates, errors) = check_keys(dataflow, &spec, updates);
            for e in &errors {
                tracing::error!(error = %e, "output update breaks the key contract");
            }
            let meta = ctx.meta_before(upper);
            let batch = OutputBatch {
                output: spec,
                lower,
                upper,
                updates,
                errors,
                finalized: meta.finalized,
                caught_up: meta.caught_up,
            };
            lower = upper;
            ctx.released(slot, lower);
            if ctx.stop.load(Ordering::Relaxed) {
                return;
            }
            if tx.send(batch).is_err() {
                ctx.stop.store(true, Ordering::Relaxed);
            }
        },
    );
}
