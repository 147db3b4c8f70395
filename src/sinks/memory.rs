//! An in-memory sink that keeps every batch: for tests and examples.

use std::sync::{Arc, Mutex, PoisonError};

use super::{OutputBatch, Result, Sink};

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
