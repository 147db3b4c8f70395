//! The contract of sinks: what the engine produces.
//!
//! The engine hands a sink one [`OutputBatch`] at a time: every update of one output whose
//! epoch lies in the closed range `[lower, upper)`, consolidated (no two updates share a row
//! and an epoch, no zero diffs). The sink applies the batch and records `upper` as committed
//! before [`Sink::commit`] returns; the engine never sends a range twice in one run and
//! sends the ranges of one output in increasing order. Per epoch and key the updates are an
//! insert, a delete or a change; updates that are not are in [`OutputBatch::errors`].
//!
//! Sinks live in `crate::sinks`; they depend on this module, never the reverse.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::dataflow::{OutputSpec, RowValues};
use super::keys::KeyError;
use crate::model::{ChainId, Diff, Epoch};

/// The consolidated updates of one output over the epochs `[lower, upper)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputBatch {
    /// The output the updates belong to.
    pub output: OutputSpec,
    /// First epoch of the range (inclusive).
    pub lower: Epoch,
    /// End of the range (exclusive): once committed, every epoch below it is final.
    pub upper: Epoch,
    /// `(row, epoch, diff)` sorted by epoch, then row; retractions come before insertions of
    /// the same epoch.
    pub updates: Vec<(RowValues, Epoch, Diff)>,
    /// Finalized height per chain when the range closed, never above the highest block fed
    /// by then: every block at or below it was fed at an epoch below `upper`.
    pub finalized: Arc<BTreeMap<ChainId, u64>>,
    /// Whether the source had caught up by the end of the range (see
    /// [`super::source::SourceEvent::caught_up`]).
    pub caught_up: bool,
    /// Updates that break the key contract (see [`crate::engine::keys`]): the error output
    /// of this range, reported by sinks and never applied.
    pub errors: Vec<KeyError>,
}

/// Errors of a sink.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Writing failed in a way a retry may fix (a timeout, a dropped connection).
    #[error("sink '{sink}' failed to write output '{output}' (retryable): {reason}")]
    Retryable {
        /// Sink name.
        sink: String,
        /// Output name.
        output: String,
        /// What went wrong.
        reason: String,
    },
    /// Writing failed for good; the pipeline stops.
    #[error("sink '{sink}' failed to write output '{output}': {reason}")]
    Fatal {
        /// Sink name.
        sink: String,
        /// Output name.
        output: String,
        /// What went wrong.
        reason: String,
    },
}

impl SinkError {
    /// Whether retrying the same batch may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SinkError::Retryable { .. })
    }
}

/// A result with a [`SinkError`].
pub type Result<T, E = SinkError> = std::result::Result<T, E>;

/// A destination of output updates.
pub trait Sink: Send {
    /// Sink name for logs and errors (`console`, `jsonl`, ...).
    fn name(&self) -> &str;
    /// Whether this sink takes the output named `output`.
    fn accepts(&self, output: &str) -> bool {
        let _ = output;
        true
    }
    /// Takes `batch`. A sink that writes as it goes makes it durable and records
    /// `batch.upper` before returning; a sink that batches (ClickHouse) buffers it and makes
    /// it durable, data first and progress after, at the next [`Sink::flush`].
    fn commit(&mut self, batch: &OutputBatch) -> Result<()>;
    /// Makes everything taken so far durable, with its progress.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    /// When the buffered data must be flushed at the latest (`None`: nothing buffered).
    fn flush_deadline(&self) -> Option<std::time::Instant> {
        None
    }
    /// Called once when the run ends, after the last batch and a final flush.
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}
