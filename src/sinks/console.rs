//! The console sink: a live view of the outputs for a person at a terminal.
//!
//! Every output renders from its [`OutputSpec`] alone, so a new dataflow shows without
//! touching this file. Each new highest epoch opens with a header line giving the run's
//! counters (from [`IngestStats`]); under it each update is one line of at most [`WIDTH`]
//! characters: a mark, the output, its key, then the value columns in the spec's order as
//! far as they fit (hashes and addresses after the first come last, since the key and the
//! first already say which row it is). Amounts of wei read as wei, gwei or ETH, timestamps
//! as UTC time, hashes and addresses shortened:
//!
//! ```text
//! ── epoch 23  head 22  blocks +24 -2  reorgs 1 (deepest 2)  rows 184 ─────────────────────
//! ! reorg: 2 row(s) of gas_fees_blocks left at epoch 23  (reorgs so far 1, deepest 2)
//! - gas_fees_blocks (1337, 21)  block_hash 0x18d8e5…9f86  timestamp 2026-01-01 00:04:12 ...
//! + gas_fees_blocks (1337, 21)  block_hash 0x86965f…474c  timestamp 2026-01-01 00:04:12 ...
//! ~ gas_fees_minutes (1337, 2026-01-01 00:04:00)  blocks 3  tx_count 681  gas_used ...
//! ```
//!
//! Marks, per epoch and key: `+` a row that entered, `-` a row that left (a reorg's
//! retracted rows), `~` the new state of a row changed in place. A key whose hash or address
//! columns changed holds another thing (the block of the new branch at the same height): its
//! old row shows as `-` and the new one as `+`. Lines per batch are capped so a fast replay
//! stays readable.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{OutputBatch, Result, Sink};
use crate::engine::IngestStats;
use crate::engine::dataflow::{ColumnType, OutputSpec, Value};
use crate::engine::keys::key_positions;
use crate::model::{Diff, Epoch};

/// The width of a console line, in characters.
pub const WIDTH: usize = 100;

/// Text values longer than this are cut (with `…`).
const TEXT_CHARS: usize = 24;

/// Formats an amount of wei in a unit that keeps it short: wei below 0.01 gwei, gwei with
/// two decimals below 0.001 ETH, ETH with four decimals above (truncated, not rounded).
///
/// ```
/// use chainflow::sinks::console::wei_text;
/// assert_eq!(wei_text(1_234_567_890), "1.23 gwei");
/// assert_eq!(wei_text(3_500_000_000_000_000), "0.0035 ETH");
/// ```
pub fn wei_text(wei: u128) -> String {
    const GWEI_HUNDREDTH: u128 = 10_000_000;
    const ETH_TEN_THOUSANDTH: u128 = 100_000_000_000_000;
    if wei < GWEI_HUNDREDTH {
        format!("{wei} wei")
    } else if wei < 10 * ETH_TEN_THOUSANDTH {
        let hundredths = wei / GWEI_HUNDREDTH;
        format!("{}.{:02} gwei", hundredths / 100, hundredths % 100)
    } else {
        let parts = wei / ETH_TEN_THOUSANDTH;
        format!("{}.{:04} ETH", parts / 10_000, parts % 10_000)
    }
}

/// Formats unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn utc_text(secs: u64) -> String {
    super::utc(secs).map_or_else(
        || format!("{secs} s"),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// Shortens `0x`-hex to its first six and last four digits.
fn short_hex(hex: &str) -> String {
    match (hex.get(..8), hex.get(hex.len().saturating_sub(4)..)) {
        (Some(head), Some(tail)) if hex.len() > 14 => format!("{head}…{tail}"),
        _ => hex.to_string(),
    }
}

/// The console text of one value of a column of type `ty`.
pub fn value_text(ty: ColumnType, value: &Value) -> String {
    match value {
        Value::U64(v) if ty == ColumnType::Timestamp => utc_text(*v),
        Value::U64(v) => v.to_string(),
        Value::Wei(v) => wei_text(*v),
        Value::U256(v) => {
            let digits = v.to_string();
            if digits.len() <= 20 {
                digits
            } else {
                format!("{}.{}e{}", &digits[..1], &digits[1..3], digits.len() - 1)
            }
        }
        Value::Hash(h) => short_hex(&h.to_string()),
        Value::Address(a) => short_hex(&format!("{a:#x}")),
        Value::Text(s) if s.chars().count() > TEXT_CHARS => {
            let cut: String = s.chars().take(TEXT_CHARS - 1).collect();
            format!("{cut}…")
        }
        Value::Text(s) => s.clone(),
    }
}

/// What an update line says about its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// The row entered.
    Added,
    /// The row left.
    Removed,
    /// The row is the new state of a key whose row changed in place.
    Changed,
}

impl Mark {
    fn symbol(self) -> char {
        match self {
            Mark::Added => '+',
            Mark::Removed => '-',
            Mark::Changed => '~',
        }
    }
}

fn identifies(ty: ColumnType) -> bool {
    matches!(ty, ColumnType::Hash | ColumnType::Address)
}

/// The lines of `updates` (of `spec`, sorted by epoch) in order: per epoch and key a row
/// that entered, one that left, or the new state of a changed one (see the module doc).
pub fn marks<'a>(
    spec: &OutputSpec,
    updates: &'a [(Vec<Value>, Epoch, Diff)],
) -> Vec<(Mark, &'a [Value])> {
    let keys = key_positions(spec);
    type Change<'a> = (Option<&'a [Value]>, Option<&'a [Value]>);
    let mut order: Vec<(Epoch, Vec<Value>)> = Vec::new();
    let mut changes: BTreeMap<(Epoch, Vec<Value>), Change<'a>> = BTreeMap::new();
    for (row, epoch, diff) in updates {
        let key = (
            *epoch,
            keys.iter().filter_map(|&i| row.get(i).cloned()).collect(),
        );
        let change = changes.entry(key).or_insert_with_key(|k| {
            order.push(k.clone());
            (None, None)
        });
        if *diff < 0 {
            change.0 = Some(row);
        } else {
            change.1 = Some(row);
        }
    }
    let same_identity = |old: &[Value], new: &[Value]| {
        spec.columns
            .iter()
            .zip(old.iter().zip(new))
            .all(|(c, (o, n))| !identifies(c.ty) || o == n)
    };
    let mut lines = Vec::with_capacity(updates.len());
    for key in &order {
        match changes.get(key).copied().unwrap_or_default() {
            (None, Some(new)) => lines.push((Mark::Added, new)),
            (Some(old), None) => lines.push((Mark::Removed, old)),
            (Some(old), Some(new)) if same_identity(old, new) => lines.push((Mark::Changed, new)),
            (Some(old), Some(new)) => {
                lines.push((Mark::Removed, old));
                lines.push((Mark::Added, new));
            }
            (None, None) => {}
        }
    }
    lines
}

/// Renders one row of `spec` as a line of at most `width` characters: mark, output and key,
/// then the value columns that fit (see the module doc).
pub fn render(spec: &OutputSpec, mark: Mark, row: &[Value], width: usize) -> String {
    let keys = key_positions(spec);
    let text = |i: usize| match (spec.columns.get(i), row.get(i)) {
        (Some(c), Some(v)) => value_text(c.ty, v),
        _ => String::from("?"),
    };
    let key: Vec<String> = keys.iter().map(|&i| text(i)).collect();
    let mut line = format!("{} {} ({})", mark.symbol(), spec.name, key.join(", "));
    let mut used = line.chars().count();
    let first_id =
        (0..spec.columns.len()).find(|&i| identifies(spec.columns[i].ty) && !keys.contains(&i));
    let (front, back): (Vec<usize>, Vec<usize>) = (0..spec.columns.len())
        .filter(|i| !keys.contains(i))
        .partition(|&i| !identifies(spec.columns[i].ty) || Some(i) == first_id);
    for i in front.into_iter().chain(back) {
        let cell = format!("  {} {}", spec.columns[i].name, text(i));
        let chars = cell.chars().count();
        if used + chars <= width {
            line.push_str(&cell);
            used += chars;
        }
    }
    line
}

/// The header line of `epoch`: the run's counters as they stand.
pub fn header(stats: &IngestStats, epoch: Epoch, width: usize) -> String {
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let mut line = format!(
        "── epoch {epoch}  head {}  blocks +{} -{}  reorgs {} (deepest {})  rows {}",
        get(&stats.head),
        get(&stats.blocks_added),
        get(&stats.blocks_removed),
        get(&stats.reorgs),
        get(&stats.max_reorg_depth),
        get(&stats.committed_updates),
    );
    let seals = get(&stats.seals);
    if seals > 0 {
        line.push_str(&format!("  seals {seals}"));
    }
    let rest = width.saturating_sub(line.chars().count() + 1);
    if rest > 0 {
        line.push(' ');
        line.push_str(&"─".repeat(rest));
    }
    line
}

/// Prints a live view to standard output.
pub struct ConsoleSink {
    stats: Arc<IngestStats>,
    max_lines: usize,
    reorgs_seen: u64,
    /// The highest epoch whose header is printed: outputs further down a dataflow commit an
    /// epoch later than those above them, and their lines go under the header already there.
    headed: Option<Epoch>,
}

impl ConsoleSink {
    /// A console view that reads the run's counters from `stats` and prints at most
    /// `max_lines` update lines per batch.
    pub fn new(stats: Arc<IngestStats>, max_lines: usize) -> Self {
        ConsoleSink {
            stats,
            max_lines: max_lines.max(1),
            reorgs_seen: 0,
            headed: None,
        }
    }

    /// The lines `batch` prints.
    fn lines(&mut self, batch: &OutputBatch) -> Vec<String> {
        let epoch = batch.upper.saturating_sub(1);
        let mut lines = Vec::new();
        if self.headed < Some(epoch) {
            self.headed = Some(epoch);
            lines.push(header(&self.stats, epoch, WIDTH));
        }
        lines.extend(batch.errors.iter().map(|e| format!("! error: {e}")));
        let marked = marks(&batch.output, &batch.updates);
        let removed = marked.iter().filter(|(m, _)| *m == Mark::Removed).count();
        let reorgs = self.stats.reorgs.load(Ordering::Relaxed);
        if removed > 0 && reorgs != self.reorgs_seen {
            self.reorgs_seen = reorgs;
            lines.push(format!(
                "! reorg: {removed} row(s) of {} left at epoch {epoch}  (reorgs so far {reorgs}, deepest {})",
                batch.output.name,
                self.stats.max_reorg_depth.load(Ordering::Relaxed),
            ));
        }
        for (mark, row) in marked.iter().take(self.max_lines) {
            lines.push(render(&batch.output, *mark, row, WIDTH));
        }
        if marked.len() > self.max_lines {
            lines.push(format!(
                "  … and {} more {} updates",
                marked.len() - self.max_lines,
                batch.output.name
            ));
        }
        lines
    }
}

impl Sink for ConsoleSink {
    fn name(&self) -> &str {
        "console"
    }

    fn commit(&mut self, batch: &OutputBatch) -> Result<()> {
        if batch.updates.is_empty() && batch.errors.is_empty() {
            return Ok(());
        }
        let lines = self.lines(batch);
        let mut out = io::stdout().lock();
        for line in lines {
            // A closed stdout (a pipe to `head`) is not a reason to stop the pipeline.
            if writeln!(out, "{line}").is_err() {
                break;
            }
        }
        let _ = out.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dataflow::Column;
    use alloy_primitives::{Address, B256, U256};

    const COLUMNS: &[Column] = &[
        Column::new("chain_id", ColumnType::U64, ""),
        Column::new("height", ColumnType::U64, ""),
        Column::new("hash", ColumnType::Hash, ""),
        Column::new("parent", ColumnType::Hash, ""),
        Column::new("at", ColumnType::Timestamp, ""),
        Column::new("fee", ColumnType::Wei, ""),
        Column::new("miner", ColumnType::Address, ""),
        Column::new("supply", ColumnType::U256, ""),
        Column::new("note", ColumnType::Text, ""),
    ];

    const SPEC: OutputSpec = crate::sinks::testing::spec("heads", COLUMNS, &["chain_id", "height"]);

    fn row(height: u64, hash: u8, fee: u128) -> Vec<Value> {
        vec![
            Value::U64(7),
            Value::U64(height),
            Value::Hash(B256::repeat_byte(hash)),
            Value::Hash(B256::repeat_byte(0xee)),
            Value::U64(1_767_225_600 + 61),
            Value::Wei(fee),
            Value::Address(Address::repeat_byte(0xab)),
            Value::U256(U256::from(10u64).pow(U256::from(30u64))),
            Value::Text("a note".into()),
        ]
    }

    #[test]
    fn formats_wei_in_a_readable_unit() {
        assert_eq!(wei_text(0), "0 wei");
        assert_eq!(wei_text(9_999_999), "9999999 wei");
        assert_eq!(wei_text(1_234_567_890), "1.23 gwei");
        assert_eq!(wei_text(999_999_999_999_999), "999999.99 gwei");
        assert_eq!(wei_text(3_500_000_000_000_000), "0.0035 ETH");
        assert_eq!(wei_text(12 * 10u128.pow(18)), "12.0000 ETH");
    }

    #[test]
    fn formats_timestamps_as_utc_time() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00");
        assert_eq!(utc_text(1_767_225_600 + 61), "2026-01-01 00:01:01");
        assert_eq!(utc_text(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc_text(u64::MAX), format!("{} s", u64::MAX));
    }

    #[test]
    fn renders_key_then_values_with_secondary_hashes_last() {
        let line = render(&SPEC, Mark::Added, &row(21, 0x11, 1_000_000_000), 200);
        assert_eq!(
            line,
            "+ heads (7, 21)  hash 0x111111…1111  at 2026-01-01 00:01:01  fee 1.00 gwei  \
             supply 1.00e30  note a note  parent 0xeeeeee…eeee  miner 0xababab…abab"
        );
    }

    #[test]
    fn a_narrow_line_keeps_the_columns_that_fit() {
        let line = render(&SPEC, Mark::Removed, &row(21, 0x11, 5), 50);
        assert!(line.chars().count() <= 50, "{line}");
        // The timestamp is too wide for what is left; the fee after it is not.
        assert_eq!(line, "- heads (7, 21)  hash 0x111111…1111  fee 5 wei");
    }

    #[test]
    fn a_replaced_row_shows_as_removed_and_added_a_changed_one_as_changed() {
        let updates = vec![
            (row(21, 0x11, 1), 5, -1),
            (row(22, 0x22, 1), 5, -1),
            (row(23, 0x33, 1), 5, -1),
            (row(21, 0x11, 2), 5, 1),
            (row(22, 0x44, 1), 5, 1),
            (row(24, 0x55, 1), 5, 1),
        ];
        let got: Vec<(Mark, u64)> = marks(&SPEC, &updates)
            .into_iter()
            .map(|(m, r)| match r[1] {
                Value::U64(h) => (m, h),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Mark::Changed, 21),
                (Mark::Removed, 22),
                (Mark::Added, 22),
                (Mark::Removed, 23),
                (Mark::Added, 24),
            ]
        );
    }

    #[test]
    fn a_batch_prints_a_header_a_reorg_line_and_capped_updates() {
        let stats = Arc::new(IngestStats::default());
        stats.head.store(24, Ordering::Relaxed);
        stats.reorgs.store(1, Ordering::Relaxed);
        stats.max_reorg_depth.store(2, Ordering::Relaxed);
        let mut sink = ConsoleSink::new(Arc::clone(&stats), 2);
        let batch = OutputBatch {
            output: SPEC,
            lower: 5,
            upper: 6,
            updates: vec![
                (row(22, 0x22, 1), 5, -1),
                (row(22, 0x44, 1), 5, 1),
                (row(23, 0x55, 1), 5, 1),
            ],
            finalized: Arc::new(BTreeMap::new()),
            caught_up: true,
            errors: Vec::new(),
        };
        let lines = sink.lines(&batch);
        assert!(
            lines[0]
                .starts_with("── epoch 5  head 24  blocks +0 -0  reorgs 1 (deepest 2)  rows 0 ─"),
            "{}",
            lines[0]
        );
        assert_eq!(lines[0].chars().count(), WIDTH);
        assert_eq!(
            lines[1],
            "! reorg: 1 row(s) of heads left at epoch 5  (reorgs so far 1, deepest 2)"
        );
        assert!(lines[2].starts_with("- heads (7, 22)  hash 0x222222…2222"));
        assert!(lines[3].starts_with("+ heads (7, 22)  hash 0x444444…4444"));
        assert_eq!(lines[4], "  … and 1 more heads updates");
        assert_eq!(lines.len(), 5);
        // The same epoch again, or an earlier one (an output further down the dataflow): no
        // second header, and the reorg was told already.
        let again = sink.lines(&batch);
        assert!(again[0].starts_with("- heads"), "{}", again[0]);
        let earlier = OutputBatch {
            lower: 4,
            upper: 5,
            ..batch.clone()
        };
        assert!(sink.lines(&earlier)[0].starts_with("- heads"));
        let later = OutputBatch {
            lower: 6,
            upper: 7,
            ..batch
        };
        assert!(sink.lines(&later)[0].starts_with("── epoch 6"));
    }

    #[test]
    fn renders_gas_fees_rows_within_the_width() {
        use crate::dataflows::gas_fees::{GasFees, HourRow, Totals};
        use crate::engine::dataflow::{Dataflow, Row};
        let t = Totals {
            blocks: 300,
            tx_count: 45_000,
            gas_used: 4_500_000_000,
            gas_limit: 9_000_000_000,
            priority_fee_sum: 1,
            base_fee_min: 1_000_000_000,
            base_fee_max: 3_250_000_000,
            base_fee_sum: 300 * 2_000_000_000,
            blob_count: 12,
            blob_gas_used: 12 * 131_072,
        };
        let specs = GasFees.outputs();
        let hour = HourRow::of(1, 1_767_225_600 + 3_600, &t);
        let line = render(&specs[2], Mark::Changed, &hour.values(), WIDTH);
        assert!(line.chars().count() <= WIDTH, "{line}");
        assert!(
            line.starts_with(
                "~ gas_fees_hours (1, 2026-01-01 01:00:00)  blocks 300  tx_count 45000  gas_used 4500000000"
            ),
            "{line}"
        );
    }
}
