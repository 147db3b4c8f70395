//! Sinks: where consolidated output updates go.
//!
//! The engine hands a sink one [`OutputBatch`] at a time: every update of one output whose
//! epoch lies in the closed range `[lower, upper)`, consolidated (no two updates share a row
//! and an epoch, no zero diffs). The sink applies the batch and records `upper` as committed
//! before [`Sink::commit`] returns; the engine never sends a range twice in one run and
//! sends the ranges of one output in increasing order. Per epoch and key the updates are an
//! insert, a delete or a change; updates that are not are in [`OutputBatch::errors`].
//!
//! Each sink splits a pure encoder (tested alone) from a thin writer.

pub mod clickhouse;
pub mod console;
pub mod ddl;
pub mod delivery;
pub mod jsonl;
pub mod memory;
pub mod nats;
pub mod postgres;
pub mod reconcile;
pub mod writers;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::Epoch;

pub use crate::engine::sink::{OutputBatch, Result, Sink, SinkError};

/// Unix seconds as a UTC time, `None` beyond what the calendar holds.
pub fn utc(secs: u64) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(i64::try_from(secs).ok()?, 0)
}

/// A sink that wraps another and changes what it takes ([`Wrapper::takes`]) or how it
/// commits ([`Wrapper::commit_through`]); every other call of [`Sink`] (its name, flushes,
/// flush deadline and close) goes to the inner sink unchanged.
pub trait Wrapper: Send {
    /// The wrapped sink.
    fn inner(&self) -> &dyn Sink;
    /// The wrapped sink, to write to.
    fn inner_mut(&mut self) -> &mut dyn Sink;
    /// Whether the wrapper takes the output named `output`: by default, whether the inner
    /// sink does.
    fn takes(&self, output: &str) -> bool {
        self.inner().accepts(output)
    }
    /// Commits `batch`: by default, the inner sink commits it.
    fn commit_through(&mut self, batch: &OutputBatch) -> Result<()> {
        self.inner_mut().commit(batch)
    }
}

impl<W: Wrapper> Sink for W {
    fn name(&self) -> &str {
        self.inner().name()
    }
    fn accepts(&self, output: &str) -> bool {
        self.takes(output)
    }
    fn commit(&mut self, batch: &OutputBatch) -> Result<()> {
        self.commit_through(batch)
    }
    fn flush(&mut self) -> Result<()> {
        self.inner_mut().flush()
    }
    fn flush_deadline(&self) -> Option<std::time::Instant> {
        self.inner().flush_deadline()
    }
    fn close(&mut self) -> Result<()> {
        self.inner_mut().close()
    }
}

/// A sink restricted to a set of outputs (from `[outputs]` and the sink's own filter).
pub struct Routed {
    inner: Box<dyn Sink>,
    outputs: std::collections::BTreeSet<String>,
}

impl Routed {
    /// `inner`, taking only `outputs`.
    pub fn new(inner: Box<dyn Sink>, outputs: std::collections::BTreeSet<String>) -> Self {
        Routed { inner, outputs }
    }
}

impl Wrapper for Routed {
    fn inner(&self) -> &dyn Sink {
        self.inner.as_ref()
    }
    fn inner_mut(&mut self) -> &mut dyn Sink {
        self.inner.as_mut()
    }
    fn takes(&self, output: &str) -> bool {
        self.outputs.contains(output)
    }
}

/// A sink every writer of a run hands its share to (console, JSONL): clones share one inner
/// sink behind a lock; the inner sink is closed by the last of the `writers` closes.
#[derive(Clone)]
pub struct Shared {
    inner: Arc<std::sync::Mutex<Box<dyn Sink>>>,
    name: String,
    open: Arc<std::sync::atomic::AtomicUsize>,
}

impl Shared {
    /// `inner`, to be cloned into the sets of `writers` writers (each closes its clone once).
    pub fn new(inner: Box<dyn Sink>, writers: usize) -> Self {
        Shared {
            name: inner.name().to_string(),
            inner: Arc::new(std::sync::Mutex::new(inner)),
            open: Arc::new(std::sync::atomic::AtomicUsize::new(writers.max(1))),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut dyn Sink) -> T) -> T {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(inner.as_mut())
    }
}

impl Sink for Shared {
    fn name(&self) -> &str {
        &self.name
    }
    fn accepts(&self, output: &str) -> bool {
        self.with(|s| s.accepts(output))
    }
    fn commit(&mut self, batch: &OutputBatch) -> Result<()> {
        self.with(|s| s.commit(batch))
    }
    fn flush(&mut self) -> Result<()> {
        self.with(|s| s.flush())
    }
    fn flush_deadline(&self) -> Option<std::time::Instant> {
        self.with(|s| s.flush_deadline())
    }
    fn close(&mut self) -> Result<()> {
        let before = self.open.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        if before == 1 {
            return self.with(|s| s.close());
        }
        Ok(())
    }
}

/// Wraps a sink for a run whose epochs replay deterministically (NATS ingress): updates at
/// epochs the sink already committed are dropped, so the replay that rebuilds the dataflow
/// state writes nothing twice and the first new epoch continues exactly where the sink
/// stopped.
pub struct SkipCommitted {
    inner: Box<dyn Sink>,
    /// Per output, the committed upper epoch: updates below it are in the sink.
    committed: BTreeMap<String, Epoch>,
}

impl SkipCommitted {
    /// `inner`, which holds every epoch below `committed[output]` of each output.
    pub fn new(inner: Box<dyn Sink>, committed: BTreeMap<String, Epoch>) -> Self {
        SkipCommitted { inner, committed }
    }
}

impl Wrapper for SkipCommitted {
    fn inner(&self) -> &dyn Sink {
        self.inner.as_ref()
    }
    fn inner_mut(&mut self) -> &mut dyn Sink {
        self.inner.as_mut()
    }
    fn commit_through(&mut self, batch: &OutputBatch) -> Result<()> {
        let done = self.committed.get(batch.output.name).copied().unwrap_or(0);
        if batch.upper <= done {
            return Ok(());
        }
        if batch.lower >= done {
            return self.inner.commit(batch);
        }
        let mut rest = batch.clone();
        rest.lower = done;
        rest.updates.retain(|(_, epoch, _)| *epoch >= done);
        rest.errors.retain(|e| e.epoch >= done);
        self.inner.commit(&rest)
    }
}

/// Output specs for the sinks' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::engine::dataflow::{Column, ColumnType, OutputSpec, Position};

    /// A column of each kind the encoders treat apart: the key `k`, then a timestamp, an
    /// amount of wei, a hash and text.
    pub(crate) const COLUMNS: &[Column] = &[
        Column::new("k", ColumnType::U64, ""),
        Column::new("at", ColumnType::Timestamp, ""),
        Column::new("fee", ColumnType::Wei, ""),
        Column::new("h", ColumnType::Hash, ""),
        Column::new("t", ColumnType::Text, ""),
    ];

    /// An output `name` of `columns` keyed by `key`, placed by the last key column.
    pub(crate) const fn spec(
        name: &'static str,
        columns: &'static [Column],
        key: &'static [&'static str],
    ) -> OutputSpec {
        OutputSpec {
            name,
            doc: "",
            columns,
            key,
            position: Position::Block(key[key.len() - 1]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dataflow::OutputSpec;
    use crate::engine::dataflow::Value;

    /// The first output of the first registered dataflow.
    fn first_spec() -> OutputSpec {
        crate::dataflows::registry()
            .iter()
            .flat_map(|d| d.outputs())
            .next()
            .unwrap()
    }

    #[test]
    fn a_shared_sink_takes_every_writers_batches_and_closes_once_after_the_last() {
        struct Closes(memory::MemorySink, Arc<std::sync::atomic::AtomicUsize>);
        impl Sink for Closes {
            fn name(&self) -> &str {
                "closes"
            }
            fn commit(&mut self, batch: &OutputBatch) -> Result<()> {
                self.0.commit(batch)
            }
            fn close(&mut self) -> Result<()> {
                self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }
        }
        let spec = first_spec();
        let mem = memory::MemorySink::new();
        let closed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let shared = Shared::new(Box::new(Closes(mem.clone(), Arc::clone(&closed))), 2);
        let (mut a, mut b) = (shared.clone(), shared);
        let batch = |e: u64| OutputBatch {
            output: spec,
            lower: e,
            upper: e + 1,
            updates: vec![(vec![Value::U64(e)], e, 1)],
            finalized: Arc::new(BTreeMap::new()),
            caught_up: true,
            errors: Vec::new(),
        };
        a.commit(&batch(1)).unwrap();
        b.commit(&batch(2)).unwrap();
        assert_eq!(mem.batches().len(), 2);
        a.close().unwrap();
        assert_eq!(closed.load(std::sync::atomic::Ordering::SeqCst), 0);
        b.close().unwrap();
        assert_eq!(closed.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn skip_committed_drops_exactly_the_committed_epochs() {
        let spec = first_spec();
        let mem = memory::MemorySink::new();
        let seen = mem.clone();
        let mut sink =
            SkipCommitted::new(Box::new(mem), BTreeMap::from([(spec.name.to_string(), 10)]));
        let batch = |lower, upper| OutputBatch {
            output: spec,
            lower,
            upper,
            updates: (lower..upper)
                .map(|e| (vec![Value::U64(e)], e, 1))
                .collect(),
            finalized: Arc::new(BTreeMap::new()),
            caught_up: true,
            errors: Vec::new(),
        };
        sink.commit(&batch(1, 6)).unwrap();
        sink.commit(&batch(6, 12)).unwrap();
        sink.commit(&batch(12, 13)).unwrap();
        let epochs: Vec<Epoch> = seen
            .batches()
            .iter()
            .flat_map(|b| b.updates.iter().map(|u| u.1))
            .collect();
        assert_eq!(epochs, vec![10, 11, 12]);
        assert_eq!(seen.batches()[0].lower, 10);
    }
}
