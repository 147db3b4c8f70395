//! An in-memory sink that keeps every batch, and the fold of updates into the rows they leave:
//! for tests and examples.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{OutputBatch, Result, Sink};
use crate::engine::dataflow::RowValues;
use crate::model::Diff;

/// Rows with their multiplicities: the state a collection of updates leaves.
pub type Rows = BTreeMap<RowValues, Diff>;

/// Adds `diff` to the multiplicity of `row` in `rows`; a row whose multiplicity reaches zero
/// leaves.
pub fn fold(rows: &mut Rows, row: &RowValues, diff: Diff) {
    let count = rows.entry(row.clone()).or_insert(0);
    *count += diff;
    if *count == 0 {
        rows.remove(row);
    }
}

/// The rows of output `output` after every update of `batches`: what a sink that applied
/// them holds.
pub fn current_rows(batches: &[OutputBatch], output: &str) -> Rows {
    let mut rows = Rows::new();
    for batch in batches.iter().filter(|b| b.output.name == output) {
        for (row, _, diff) in &batch.updates {
            fold(&mut rows, row, *diff);
        }
    }
    rows
}

/// Keeps every committed batch in a shared vector.
#[derive(Clone, Default)]
pub struct MemorySink {
    batches: Arc<Mutex<Vec<OutputBatch>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The rows of output `output` after the batches committed so far (see [`current_rows`]).
    pub fn current(&self, output: &str) -> Rows {
        current_rows(
            &self.batches.lock().unwrap_or_else(PoisonError::into_inner),
            output,
        )
    }

    /// A copy of the batches committed so far, in commit order.
    pub fn batches(&self) -> Vec<OutputBatch> {
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Sink for MemorySink {
    fn name(&self) -> &str {
        "memory"
    }

    fn commit(&mut self, batch: &OutputBatch) -> Result<()> {
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(batch.clone());
        Ok(())
    }
}
