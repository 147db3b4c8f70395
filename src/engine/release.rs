//! The release operator: the last stop of every output inside timely.
//!
//! ```text
//!  output rows ──probe──► exchange(all to worker 0) ──► release::<output>
//!                                                        │ buffer (row, epoch, diff)
//!                                                        │ frontier passes epochs < upper
//!                                                        ▼ consolidate, one OutputBatch [lower, upper)
//!                                                   bounded channel ──► sink thread
//! ```
//!
//! Updates wait in the operator until the input frontier has passed their epoch, so a sink
//! only ever sees closed epochs. The channel to the sink thread is bounded: when a sink is
//! slow the send blocks, worker 0 stops stepping, the probe stops advancing and the workers
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
use crate::model::{ChainId, Diff, Epoch};
use crate::sinks::OutputBatch;

/// What every release operator of one worker shares.
pub(crate) struct ReleaseContext {
    /// Where batches go; `None` on workers other than 0.
    pub batches: Option<Sender<OutputBatch>>,
    /// Set when the sink side is gone: stop sending and let the run end.
    pub stop: Arc<AtomicBool>,
    /// Latest finalized height per chain seen by this worker.
    pub finalized: Rc<RefCell<Arc<BTreeMap<ChainId, u64>>>>,
    /// The first epoch of the run: the lower bound of the first batch.
    pub start: Epoch,
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
    let name = format!("release::{}", spec.name);
    output.rows.probe_with(probe).inner.sink(
        Exchange::new(|_| 0u64),
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
                    if pending.is_empty() {
                        return;
                    }
                    let ready = std::mem::take(&mut pending);
                    let upper = ready.iter().map(|(_, t, _)| *t + 1).max().unwrap_or(lower);
                    (upper.max(lower), ready)
                }
            };
            let mut updates = ready;
            consolidate_updates(&mut updates);
            // Sorted by epoch, then retractions before insertions within an epoch.
            let (updates, errors) = check_keys(dataflow, &spec, updates);
            for e in &errors {
                tracing::error!(error = %e, "output update breaks the key contract");
            }
            let batch = OutputBatch {
                output: spec,
                lower,
                upper,
                updates,
                errors,
                finalized: Arc::clone(&ctx.finalized.borrow()),
            };
            lower = upper;
            if ctx.stop.load(Ordering::Relaxed) {
                return;
            }
            if tx.send(batch).is_err() {
                ctx.stop.store(true, Ordering::Relaxed);
            }
        },
    );
}
