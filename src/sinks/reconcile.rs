//! Restart after a crash: rebuild from a safe block, write only the difference.
//!
//! A sink that batches (ClickHouse) may die between writing data and writing progress, or in
//! the middle of an insert; the dataflows' state died with the process. On restart with a
//! JSON-RPC source the engine cannot replay the old epochs, so it rebuilds:
//!
//! ```text
//!  progress (per output: finalized F per chain, never above what was fed before the commit)
//!     │ plan(): S = F (or, without progress, the lowest stored position)
//!     │         B = the first block of the widest time bucket containing S (binary search
//!     │             over the node's timestamps); every row whose position is >= B's is
//!     │             "covered": a rebuild from B reproduces it exactly
//!     ▼
//!  source starts at B ──► engine ──► Reconcile<sink>: folds the covered rows of every batch
//!                                    into the rebuilt state, writes nothing ...
//!                                    ... until the first batch with `caught_up` (the source
//!                                    reached the head it found at start); then reads the
//!                                    sink's current covered rows and commits ONE batch
//!                                    with the difference (-stored +rebuilt per changed key,
//!                                    -stored for keys gone, +rebuilt for new keys) at the
//!                                    batch's last epoch; later batches pass through.
//! ```
//!
//! Why it is exact: blocks at or below F are final, so rows derived only from blocks below B
//! cannot have changed, and every row that may be stale (written from orphaned blocks, half an
//! insert, data without its progress) is covered and compared. Epochs of the new run lie above
//! every stored version, so the difference supersedes whatever the crashed run wrote. Nothing
//! is committed during the catch-up, so a crash there simply restarts it.
//!
//! [`StoredState`] is what a sink must answer for this; [`plan`] is pure and tested alone.

use std::collections::BTreeMap;

use super::{OutputBatch, Result, Sink, Wrapper};
use crate::engine::dataflow::{OutputSpec, Position, RowValues, Value};
use crate::engine::keys::{KeyError, key_positions};
use crate::model::{ChainId, Diff, Epoch};

/// The committed progress of one output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Every epoch below it is in the sink.
    pub upper_epoch: Epoch,
    /// Finalized height per chain recorded with it.
    pub finalized: BTreeMap<ChainId, u64>,
    /// Why this writer cannot resume at a committed epoch of its own (the rows were written
    /// by another number of writers that did not stop at one epoch; see
    /// [`super::writers::resume`]); `upper_epoch` is then the lowest row. A rebuild from the
    /// finalized heights does not need it; a replay that skips committed epochs does.
    pub uneven: Option<String>,
}

/// What a sink that supports restarts can read back.
pub trait StoredState {
    /// The latest committed progress per output name, for this sink's writer: where it
    /// resumes (see [`super::writers::resume`]), with the lowest finalized height per chain
    /// over every writer's row.
    fn progress(&mut self) -> Result<BTreeMap<String, Progress>>;
    /// The share of the keys this sink writes (its rows are the ones it reconciles).
    fn writer(&self) -> super::writers::Writer {
        super::writers::Writer::default()
    }
    /// The lowest position (see [`Position`]) of the current rows of `spec` on `chain`,
    /// `None` when there are none (or the output has no position column).
    fn lowest(&mut self, spec: &OutputSpec, chain: ChainId) -> Result<Option<u64>>;
    /// The current rows of `spec` whose position is at or above `from[chain]`, for every
    /// chain in `from` (all rows of those chains for [`Position::Whole`]).
    fn current(
        &mut self,
        spec: &OutputSpec,
        from: &BTreeMap<ChainId, u64>,
    ) -> Result<Vec<RowValues>>;
}

/// The SQL condition selecting `spec`'s rows at or above `from[chain]` for every chain in
/// `from` (by `chain_id` when the output has it). `time` turns unix seconds into the
/// dialect's timestamp (`toDateTime`, `to_timestamp`); `yes`/`no` are its boolean literals.
pub fn covered_sql(
    spec: &OutputSpec,
    from: &BTreeMap<ChainId, u64>,
    time: &str,
    yes: &str,
    no: &str,
) -> String {
    let has_chain = spec.columns.iter().any(|c| c.name == "chain_id");
    let column = spec.position.column();
    let timestamp = spec
        .columns
        .iter()
        .any(|c| Some(c.name) == column && c.ty == crate::engine::dataflow::ColumnType::Timestamp);
    let parts: Vec<String> = from
        .iter()
        .map(|(chain, at)| {
            let mut conds = Vec::new();
            if has_chain {
                conds.push(format!("chain_id = {chain}"));
            }
            match column {
                Some(col) if timestamp => conds.push(format!("{col} >= {time}({at})")),
                Some(col) => conds.push(format!("{col} >= {at}")),
                None => {}
            }
            if conds.is_empty() {
                yes.to_string()
            } else {
                format!("({})", conds.join(" AND "))
            }
        })
        .collect();
    if parts.is_empty() {
        no.into()
    } else {
        parts.join(" OR ")
    }
}

/// Where one chain restarts and which rows the rebuild covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainResume {
    /// The block the source starts at.
    pub from_block: u64,
    /// Per output, the lowest position the rebuild reproduces.
    pub covered: BTreeMap<&'static str, u64>,
}

/// Errors of planning a restart.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The node does not have a block the plan needs.
    #[error(
        "chain {chain}: the node has no block {number} (progress says it was final): is this the same chain?"
    )]
    MissingBlock {
        /// Chain.
        chain: ChainId,
        /// Block number.
        number: u64,
    },
    /// An output derives from the whole chain and the run's first block is unknown.
    #[error(
        "output '{output}' derives from every block since the run began: set chains[].start_block to the run's first block so a restart can rebuild it"
    )]
    NeedsStart {
        /// Output.
        output: &'static str,
    },
    /// Reading the node or the sink failed.
    #[error("{0}")]
    Read(String),
}

/// Plans the restart of `chain`: `None` when the sink holds nothing of it (a fresh start).
///
/// `progress` is the sink's committed progress, `lowest` answers [`StoredState::lowest`] and
/// `timestamp` gives a block's timestamp on the node (`None` when it has no such block).
/// `configured_start` is `chains[].start_block`, needed only by [`Position::Whole`] outputs.
pub fn plan(
    chain: ChainId,
    specs: &[OutputSpec],
    progress: &BTreeMap<String, Progress>,
    configured_start: Option<u64>,
    lowest: &mut dyn FnMut(&OutputSpec) -> Result<Option<u64>, PlanError>,
    timestamp: &mut dyn FnMut(u64) -> Result<Option<u64>, PlanError>,
) -> Result<Option<ChainResume>, PlanError> {
    let mut ts = |number: u64| -> Result<u64, PlanError> {
        timestamp(number)?.ok_or(PlanError::MissingBlock { chain, number })
    };
    // The safe block: the lowest finalized height any output recorded; without progress,
    // the lowest position stored (data written before the first progress row).
    let finalized = specs
        .iter()
        .filter_map(|s| progress.get(s.name)?.finalized.get(&chain).copied())
        .min();
    let safe = match finalized {
        Some(f) => Some(f),
        None => {
            let mut low: Option<u64> = None;
            for spec in specs {
                let Some(pos) = lowest(spec)? else { continue };
                let block = match spec.position {
                    Position::Block(_) => pos,
                    Position::TimeBucket(..) => first_at_or_after(pos, u64::MAX, &mut ts)?,
                    Position::Whole | Position::Log => continue,
                };
                low = Some(low.map_or(block, |l| l.min(block)));
            }
            low
        }
    };
    let Some(safe) = safe else {
        return Ok(None);
    };
    // Widen to the start of the widest bucket; whole-chain outputs go back to the start.
    let widest = specs
        .iter()
        .filter_map(|s| match s.position {
            Position::TimeBucket(_, secs) => Some(secs.max(1)),
            _ => None,
        })
        .max();
    let mut from = match widest {
        Some(secs) => {
            let bucket = ts(safe)? / secs * secs;
            first_at_or_after(bucket, safe, &mut ts)?
        }
        None => safe,
    };
    if let Some(spec) = specs.iter().find(|s| s.position == Position::Whole) {
        from = configured_start.ok_or(PlanError::NeedsStart { output: spec.name })?;
    }
    let from_ts = ts(from)?;
    // Append-only outputs are never rebuilt: not covered, their batches pass straight on.
    let covered = specs
        .iter()
        .filter_map(|s| {
            let at = match s.position {
                Position::Block(_) => from,
                Position::TimeBucket(_, secs) => from_ts / secs.max(1) * secs.max(1),
                Position::Whole => 0,
                Position::Log => return None,
            };
            Some((s.name, at))
        })
        .collect();
    Ok(Some(ChainResume {
        from_block: from,
        covered,
    }))
}

/// The first block in `[0, hi]` whose timestamp is at least `t` (timestamps never decrease
/// along a chain), or `hi` when none is below it; `hi = u64::MAX` searches up to the head.
fn first_at_or_after(
    t: u64,
    hi: u64,
    ts: &mut dyn FnMut(u64) -> Result<u64, PlanError>,
) -> Result<u64, PlanError> {
    let mut hi = hi;
    if hi == u64::MAX {
        // Find a block at or after `t` by doubling (the head may be far).
        let mut probe = 1u64;
        loop {
            match ts(probe) {
                Ok(x) if x >= t => break,
                Ok(_) => probe = probe.saturating_mul(2),
                Err(PlanError::MissingBlock { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        hi = probe;
    }
    let (mut lo, mut hi) = (0u64, hi);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match ts(mid) {
            Ok(x) if x >= t => hi = mid,
            Ok(_) => lo = mid + 1,
            Err(PlanError::MissingBlock { .. }) => hi = mid,
            Err(e) => return Err(e),
        }
    }
    Ok(lo)
}

/// The rebuilt rows of one output while the source catches up.
struct Folding {
    lower: Epoch,
    rows: BTreeMap<Vec<Value>, RowValues>,
    errors: Vec<KeyError>,
}

/// Wraps a sink during a restart: holds the rebuilt state of the covered outputs until the
/// source has caught up, then commits the difference from what the sink holds.
pub struct Reconcile<S> {
    inner: S,
    /// Per output, per chain, the lowest covered position; outputs leave it when reconciled.
    covered: BTreeMap<&'static str, BTreeMap<ChainId, u64>>,
    folding: BTreeMap<&'static str, Folding>,
}

impl<S: Sink + StoredState> Reconcile<S> {
    /// Wraps `inner`; `plans` are the chains' restart plans (chains without one start fresh).
    pub fn new(inner: S, plans: &BTreeMap<ChainId, ChainResume>) -> Self {
        let mut covered: BTreeMap<&'static str, BTreeMap<ChainId, u64>> = BTreeMap::new();
        for (chain, plan) in plans {
            for (output, at) in &plan.covered {
                covered.entry(output).or_default().insert(*chain, *at);
            }
        }
        Reconcile {
            inner,
            covered,
            folding: BTreeMap::new(),
        }
    }

    /// The wrapped sink.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn reconcile(&mut self, batch: &OutputBatch) -> Result<()> {
        let spec = batch.output;
        let Some(from) = self.covered.remove(spec.name) else {
            return Ok(());
        };
        let folding = self.folding.remove(spec.name).unwrap_or(Folding {
            lower: batch.lower,
            rows: BTreeMap::new(),
            errors: Vec::new(),
        });
        let keys = key_positions(&spec);
        let writer = self.inner.writer();
        // This writer rebuilt the keys that hash to it: it compares those stored rows only.
        let stored: BTreeMap<Vec<Value>, RowValues> = self
            .inner
            .current(&spec, &from)?
            .into_iter()
            .filter(|row| writer.owns(crate::engine::keys::key_hash(&keys, row)))
            .map(|row| (keys.iter().map(|&i| row[i].clone()).collect(), row))
            .collect();
        let epoch = batch.upper.saturating_sub(1).max(batch.lower);
        let mut retract: Vec<(RowValues, Epoch, Diff)> = Vec::new();
        let mut insert: Vec<(RowValues, Epoch, Diff)> = Vec::new();
        let (mut added, mut changed, mut removed) = (0u64, 0u64, 0u64);
        for (key, old) in &stored {
            match folding.rows.get(key) {
                Some(new) if new == old => {}
                Some(new) => {
                    retract.push((old.clone(), epoch, -1));
                    insert.push((new.clone(), epoch, 1));
                    changed += 1;
                }
                None => {
                    retract.push((old.clone(), epoch, -1));
                    removed += 1;
                }
            }
        }
        for (key, new) in folding.rows {
            if !stored.contains_key(&key) {
                insert.push((new, epoch, 1));
                added += 1;
            }
        }
        tracing::info!(
            sink = %self.inner.name(),
            output = spec.name,
            stored = stored.len(),
            added,
            changed,
            removed,
            "restart: reconciled the rebuilt state with the sink"
        );
        retract.sort();
        insert.sort();
        retract.extend(insert);
        let diff = OutputBatch {
            output: spec,
            lower: folding.lower,
            upper: batch.upper,
            updates: retract,
            finalized: batch.finalized.clone(),
            caught_up: true,
            errors: folding.errors,
        };
        self.inner.commit(&diff)
    }
}

impl<S: Sink + StoredState> Wrapper for Reconcile<S> {
    fn inner(&self) -> &dyn Sink {
        &self.inner
    }

    fn inner_mut(&mut self) -> &mut dyn Sink {
        &mut self.inner
    }

    fn commit_through(&mut self, batch: &OutputBatch) -> Result<()> {
        let spec = batch.output;
        if !self.covered.contains_key(spec.name) {
            return self.inner.commit(batch);
        }
        let keys = key_positions(&spec);
        // Rows below a chain's covered position are final and already in the sink (the
        // source may start earlier for another sink): they are not compared.
        let column =
            |name: Option<&str>| name.and_then(|n| spec.columns.iter().position(|c| c.name == n));
        let (chain_at, pos_at) = (column(Some("chain_id")), column(spec.position.column()));
        let bounds = self.covered.get(spec.name);
        let below = |row: &RowValues| -> bool {
            let (Some(ci), Some(pi), Some(bounds)) = (chain_at, pos_at, bounds) else {
                return false;
            };
            match (&row[ci], &row[pi]) {
                (Value::U64(chain), Value::U64(pos)) => bounds.get(chain).is_some_and(|b| pos < b),
                _ => false,
            }
        };
        let folding = self.folding.entry(spec.name).or_insert_with(|| Folding {
            lower: batch.lower,
            rows: BTreeMap::new(),
            errors: Vec::new(),
        });
        // Updates come sorted by epoch, retractions first: fold them in order.
        for (row, _, diff) in &batch.updates {
            if below(row) {
                continue;
            }
            let key: Vec<Value> = keys.iter().map(|&i| row[i].clone()).collect();
            if *diff > 0 {
                folding.rows.insert(key, row.clone());
            } else if folding.rows.get(&key) == Some(row) {
                folding.rows.remove(&key);
            }
        }
        folding.errors.extend(batch.errors.iter().cloned());
        if batch.caught_up {
            self.reconcile(batch)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflows::gas_fees::{BlockRow, MinuteRow};

    fn specs() -> Vec<OutputSpec> {
        vec![
            OutputSpec::of::<BlockRow>("blocks", ""),
            OutputSpec::of::<MinuteRow>("minutes", ""),
        ]
    }

    /// Block n has timestamp 1000 + 7n (so several blocks per minute); 200 blocks.
    fn clock(n: u64) -> Result<Option<u64>, PlanError> {
        Ok((n < 200).then_some(1000 + 7 * n))
    }

    fn progress(f: u64) -> BTreeMap<String, Progress> {
        ["blocks", "minutes"]
            .iter()
            .map(|o| {
                (
                    o.to_string(),
                    Progress {
                        upper_epoch: 9,
                        finalized: [(1, f)].into(),
                        uneven: None,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn restarts_at_the_first_block_of_the_finalized_blocks_minute() {
        let p = plan(
            1,
            &specs(),
            &progress(100),
            None,
            &mut |_| Ok(None),
            &mut clock,
        )
        .unwrap()
        .unwrap();
        // ts(100) = 1700, its minute starts at 1680; first block with ts >= 1680 is 98 (1686).
        assert_eq!(p.from_block, 98);
        assert_eq!(p.covered["blocks"], 98);
        assert_eq!(p.covered["minutes"], 1680);
        assert!(clock(97).unwrap().unwrap() < 1680);
    }

    #[test]
    fn takes_the_lowest_finalized_of_all_outputs() {
        let mut prog = progress(100);
        prog.get_mut("minutes").unwrap().finalized.insert(1, 50);
        let p = plan(1, &specs(), &prog, None, &mut |_| Ok(None), &mut clock)
            .unwrap()
            .unwrap();
        // ts(50) = 1350, minute 1320, first block >= 1320 is 46 (1322).
        assert_eq!(p.from_block, 46);
    }

    #[test]
    fn without_progress_starts_at_the_lowest_stored_row() {
        let mut lowest = |s: &OutputSpec| -> Result<Option<u64>, PlanError> {
            Ok(Some(if s.name == "blocks" { 120 } else { 1680 }))
        };
        let p = plan(1, &specs(), &BTreeMap::new(), None, &mut lowest, &mut clock)
            .unwrap()
            .unwrap();
        // minutes: first block >= 1680 is 98; widened to its minute: still 98.
        assert_eq!(p.from_block, 98);
        let none = plan(
            1,
            &specs(),
            &BTreeMap::new(),
            None,
            &mut |_| Ok(None),
            &mut clock,
        )
        .unwrap();
        assert_eq!(none, None, "nothing stored: a fresh start");
    }

    #[test]
    fn a_missing_final_block_is_a_clear_error() {
        let err = plan(
            1,
            &specs(),
            &progress(500),
            None,
            &mut |_| Ok(None),
            &mut clock,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no block 500"), "{err}");
    }

    #[test]
    fn whole_chain_outputs_need_the_runs_start() {
        let mut s = specs();
        s[1].position = Position::Whole;
        let err = plan(1, &s, &progress(100), None, &mut |_| Ok(None), &mut clock)
            .unwrap_err()
            .to_string();
        assert!(err.contains("start_block"), "{err}");
        let p = plan(
            1,
            &s,
            &progress(100),
            Some(3),
            &mut |_| Ok(None),
            &mut clock,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.from_block, 3);
    }
}
