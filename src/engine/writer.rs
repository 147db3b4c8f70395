//! Writer placement: which share of an output's keys a sink instance writes.
//!
//! Each timely worker may write the keys that hash to it ([`super::keys::writer_of`]) to
//! sink instances of its own; how sinks store per-writer progress is theirs (see
//! `crate::sinks::writers`).

/// Which share of the keys a sink instance writes: worker `index` of `count` workers in all
/// processes. The default, 0 of 1, writes every key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Writer {
    /// The worker's index among all workers.
    pub index: usize,
    /// Workers in all processes.
    pub count: usize,
}

impl Default for Writer {
    fn default() -> Self {
        Writer { index: 0, count: 1 }
    }
}

impl Writer {
    /// The progress key of `output` for this writer: the output's name for a single writer,
    /// `<output>#<index>/<count>` otherwise.
    pub fn progress_key(&self, output: &str) -> String {
        if self.count <= 1 {
            output.to_string()
        } else {
            format!("{output}#{}/{}", self.index, self.count)
        }
    }

    /// Whether this writer writes the row whose key hash is `hash`.
    pub fn owns(&self, hash: u64) -> bool {
        self.count <= 1 || hash % self.count as u64 == self.index as u64
    }
}
