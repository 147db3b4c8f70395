//! Writers: each timely worker writes the keys that hash to it, with progress of its own.
//!
//! ```text
//!  release::<output> on worker w of n: rows whose key hashes to w (keys::writer_of)
//!     ▼ sink thread of worker w, its own sink instances
//!  chainflow_progress row "<output>"      (one writer: the plain name, as single-writer
//!                                          runs store it)
//!                         "<output>#w/n"  (writer w of n)
//! ```
//!
//! A writer commits its share of an epoch range with its own progress row, in the same
//! transaction (PostgreSQL) or after its data (ClickHouse). Everything below the lowest
//! upper of the `n` rows is committed by every writer: that is the output's progress.
//!
//! A restart resolves where each writer resumes ([`resume`]): with the writer count of the
//! run that wrote the rows, each writer resumes at its own row. With another count the keys
//! fall to other writers, so the run that wrote the rows must have stopped evenly (every row
//! at one epoch); then every new writer resumes there. An uneven stop under another count is
//! refused with the count to restart with.

use std::collections::BTreeMap;

use super::reconcile::Progress;
use crate::model::{ChainId, Epoch};

pub use crate::engine::writer::Writer;

/// A stored progress key split into `(output, writer)`; `None` for a malformed key.
pub fn parse_key(key: &str) -> Option<(&str, Writer)> {
    let Some((output, share)) = key.split_once('#') else {
        return Some((key, Writer::default()));
    };
    let (index, count) = share.split_once('/')?;
    let writer = Writer {
        index: index.parse().ok()?,
        count: count.parse().ok()?,
    };
    (writer.count > 1 && writer.index < writer.count).then_some((output, writer))
}

/// Where `writer` resumes `output`, given every stored progress row of it as `(writer,
/// upper)`: see the module doc. An error says why no resume point is safe.
pub fn resume(output: &str, rows: &[(Writer, Epoch)], writer: Writer) -> Result<Epoch, String> {
    let count = writer.count.max(1);
    let mine: BTreeMap<usize, Epoch> = rows
        .iter()
        .filter(|(w, _)| w.count.max(1) == count)
        .map(|(w, e)| (w.index, *e))
        .collect();
    let others: Vec<(Writer, Epoch)> = rows
        .iter()
        .filter(|(w, _)| w.count.max(1) != count)
        .copied()
        .collect();
    let own = mine.get(&writer.index).copied();
    if others.is_empty() {
        // Only this count wrote: a missing row is a writer that committed nothing yet.
        return Ok(own.unwrap_or(0));
    }
    // Rows of this count that cover every writer, above every other row: the other rows
    // are of an older run that stopped evenly before this count took over.
    let complete = mine.len() == count;
    let floor = mine.values().copied().min().unwrap_or(0);
    if complete && others.iter().all(|(_, e)| *e <= floor) {
        return Ok(own.unwrap_or(0));
    }
    // The newest of the other runs (those with a row at the highest epoch `at`) wrote
    // every writer's row and stopped evenly there; rows below it are of older runs that
    // stopped evenly before it took over. Rows of this count below `at` are older too;
    // rows at or above it are newer.
    let at = others.iter().map(|(_, e)| *e).max().unwrap_or(0);
    let mut runs: BTreeMap<usize, Vec<(usize, Epoch)>> = BTreeMap::new();
    for (w, e) in &others {
        runs.entry(w.count.max(1)).or_default().push((w.index, *e));
    }
    let newest_even = runs
        .iter()
        .filter(|(_, rows)| rows.iter().any(|(_, e)| *e == at))
        .all(|(n, rows)| {
            (0..*n).all(|i| rows.iter().any(|(index, _)| *index == i))
                && rows.iter().all(|(_, e)| *e == at)
        });
    if newest_even {
        if mine.values().all(|e| *e <= at) {
            return Ok(at);
        }
        if mine.values().all(|e| *e >= at) {
            return Ok(own.unwrap_or(at));
        }
    }
    let (last, _) = rows
        .iter()
        .max_by_key(|(w, e)| (*e, w.count))
        .copied()
        .unwrap_or_default();
    let described: Vec<String> = rows
        .iter()
        .map(|(w, e)| format!("writer {} of {} at epoch {e}", w.index, w.count.max(1)))
        .collect();
    Err(format!(
        "output '{output}' was written by another number of workers and they did not stop at one epoch ({}); restart with {} workers in all (timely -w/-n) so each resumes its own keys, then change the count",
        described.join(", "),
        last.count.max(1)
    ))
}

/// Finalized height per chain, as a progress row records it.
pub type Finalized = BTreeMap<ChainId, u64>;

/// Stored progress rows `(key, upper, finalized JSON)` resolved for `writer`: per output,
/// where it resumes (or, with [`Progress::uneven`] set, the lowest row and why it cannot
/// resume) and the lowest finalized height per chain over every row of the output (a
/// rebuild from there covers every writer). `table` names the rows in errors.
pub fn resolve(
    table: &str,
    rows: Vec<(String, Epoch, String)>,
    writer: Writer,
) -> Result<BTreeMap<String, Progress>, String> {
    let mut by_output: BTreeMap<String, Vec<(Writer, Epoch, Finalized)>> = BTreeMap::new();
    for (key, upper, text) in rows {
        let Some((output, w)) = parse_key(&key) else {
            return Err(format!("{table} has an unreadable key '{key}'"));
        };
        let finalized: Finalized = serde_json::from_str(&text).map_err(|e| {
            format!("progress of '{key}' has an unreadable finalized map '{text}': {e}")
        })?;
        by_output
            .entry(output.to_string())
            .or_default()
            .push((w, upper, finalized));
    }
    let mut out = BTreeMap::new();
    for (output, rows) in by_output {
        let uppers: Vec<(Writer, Epoch)> = rows.iter().map(|(w, e, _)| (*w, *e)).collect();
        let (upper_epoch, uneven) = match resume(&output, &uppers, writer) {
            Ok(at) => (at, None),
            Err(why) => (uppers.iter().map(|(_, e)| *e).min().unwrap_or(0), Some(why)),
        };
        let mut finalized: BTreeMap<ChainId, u64> = BTreeMap::new();
        for (_, _, f) in &rows {
            for (chain, height) in f {
                let low = finalized.entry(*chain).or_insert(*height);
                *low = (*low).min(*height);
            }
        }
        out.insert(
            output,
            Progress {
                upper_epoch,
                finalized,
                uneven,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(index: usize, count: usize) -> Writer {
        Writer { index, count }
    }

    #[test]
    fn keys_round_trip_and_one_writer_keeps_the_plain_name() {
        assert_eq!(Writer::default().progress_key("blocks"), "blocks");
        assert_eq!(w(1, 3).progress_key("blocks"), "blocks#1/3");
        assert_eq!(parse_key("blocks"), Some(("blocks", Writer::default())));
        assert_eq!(parse_key("blocks#1/3"), Some(("blocks", w(1, 3))));
        for bad in [
            "blocks#",
            "blocks#1",
            "blocks#3/3",
            "blocks#x/2",
            "blocks#0/1",
        ] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
        assert!(w(1, 2).owns(7) && !w(0, 2).owns(7) && Writer::default().owns(7));
    }

    #[test]
    fn the_same_count_resumes_each_writer_at_its_own_row() {
        let rows = [(w(0, 2), 10), (w(1, 2), 12)];
        assert_eq!(resume("o", &rows, w(0, 2)), Ok(10));
        assert_eq!(resume("o", &rows, w(1, 2)), Ok(12));
        // A writer that committed nothing yet starts at the beginning.
        assert_eq!(resume("o", &[(w(0, 2), 10)], w(1, 2)), Ok(0));
        assert_eq!(resume("o", &[], w(1, 2)), Ok(0));
        // A single writer: the plain row.
        assert_eq!(resume("o", &[(w(0, 1), 7)], w(0, 1)), Ok(7));
    }

    #[test]
    fn another_count_resumes_where_the_last_run_stopped_evenly() {
        // One writer stopped at 10; two take over.
        let rows = [(w(0, 1), 10)];
        assert_eq!(resume("o", &rows, w(0, 2)), Ok(10));
        assert_eq!(resume("o", &rows, w(1, 2)), Ok(10));
        // Two took over and one of them committed: the other still resumes at 10.
        let rows = [(w(0, 1), 10), (w(0, 2), 14)];
        assert_eq!(resume("o", &rows, w(0, 2)), Ok(14));
        assert_eq!(resume("o", &rows, w(1, 2)), Ok(10));
        // Both did: the old row is below both and ignored.
        let rows = [(w(0, 1), 10), (w(0, 2), 14), (w(1, 2), 12)];
        assert_eq!(resume("o", &rows, w(1, 2)), Ok(12));
        // Back to one after two stopped evenly at 20.
        let rows = [(w(0, 1), 10), (w(0, 2), 20), (w(1, 2), 20)];
        assert_eq!(resume("o", &rows, w(0, 1)), Ok(20));
        // Three after two stopped evenly.
        assert_eq!(resume("o", &rows, w(2, 3)), Ok(20));
    }

    #[test]
    fn resolved_progress_takes_the_writers_row_and_the_lowest_finalized_heights() {
        let f = |h: u64| BTreeMap::from([(1u64, h)]);
        let text = |h: u64| format!("{{\"1\":{h}}}");
        let rows = vec![
            ("blocks#0/2".to_string(), 10, text(100)),
            ("blocks#1/2".to_string(), 12, text(90)),
            ("days".to_string(), 5, text(80)),
        ];
        let got = resolve("chainflow_progress", rows.clone(), w(1, 2)).unwrap();
        assert_eq!(got["blocks"].upper_epoch, 12);
        assert_eq!(got["blocks"].finalized, f(90));
        // `days` was written by one writer: two resume where it stopped.
        assert_eq!(got["days"].upper_epoch, 5);
        assert_eq!(got["blocks"].uneven, None);
        // One writer after two uneven ones: the lowest row, and why.
        let one = resolve("chainflow_progress", rows.clone(), Writer::default()).unwrap();
        assert_eq!(one["blocks"].upper_epoch, 10);
        assert!(
            one["blocks"]
                .uneven
                .as_deref()
                .is_some_and(|w| w.contains("restart with 2"))
        );
        let mut bad = rows;
        bad.push(("blocks#9".to_string(), 1, text(1)));
        let err = resolve("chainflow_progress", bad, w(0, 2)).unwrap_err();
        assert!(err.contains("unreadable key 'blocks#9'"), "{err}");
    }

    #[test]
    fn an_uneven_stop_under_another_count_is_refused_with_the_count_to_use() {
        let rows = [(w(0, 2), 14), (w(1, 2), 12)];
        let err = resume("blocks", &rows, w(0, 1)).unwrap_err();
        assert!(
            err.contains("output 'blocks'") && err.contains("restart with 2 workers"),
            "{err}"
        );
        assert!(resume("blocks", &rows, w(0, 3)).is_err());
        // A run of two that never committed on one writer, under another count.
        let rows = [(w(0, 2), 14)];
        assert!(resume("blocks", &rows, w(0, 1)).is_err());
        // Old single-writer row, then two writers uneven: one writer is refused.
        let rows = [(w(0, 1), 10), (w(0, 2), 14), (w(1, 2), 12)];
        assert!(resume("blocks", &rows, w(0, 1)).is_err());
    }
}
