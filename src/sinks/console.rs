//! The console sink: a live view of the outputs for a person at a terminal.
//!
//! Per committed batch it prints the block rows that entered (`+`) or left (`-`), the
//! minutes, hours and days that changed (`~`, their new state only), and a line per reorg
//! with its depth and the running count. Other outputs print generically. Lines per batch
//! are capped so a fast replay stays readable.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{OutputBatch, Result, Sink};
use crate::engine::IngestStats;
use crate::engine::dataflow::{OutputSpec, Value};

/// Formats `wei` as gwei with two decimals.
pub fn gwei(wei: u128) -> String {
    let hundredths = wei / 10_000_000;
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// Formats unix seconds as `YYYY-MM-DD HH:MM` (UTC).
pub fn utc_minute(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3_600,
        rem % 3_600 / 60
    )
}

fn column<'a>(spec: &OutputSpec, row: &'a [Value], name: &str) -> Option<&'a Value> {
    spec.columns
        .iter()
        .position(|c| c.name == name)
        .and_then(|i| row.get(i))
}

fn num(spec: &OutputSpec, row: &[Value], name: &str) -> u128 {
    match column(spec, row, name) {
        Some(Value::U64(v)) => u128::from(*v),
        Some(Value::Wei(v)) => *v,
        _ => 0,
    }
}

fn short_hash(spec: &OutputSpec, row: &[Value], name: &str) -> String {
    match column(spec, row, name) {
        Some(Value::Hash(h)) => {
            let s = h.to_string();
            format!("{}…{}", &s[..8], &s[s.len() - 4..])
        }
        _ => String::from("?"),
    }
}

/// Renders one update as a console line.
pub fn render(spec: &OutputSpec, row: &[Value], diff: isize) -> String {
    let sign = if diff > 0 { "+" } else { "-" };
    match spec.name {
        "gas_fees_blocks" => {
            let used = num(spec, row, "gas_used");
            let limit = num(spec, row, "gas_limit").max(1);
            format!(
                "{sign} block {:>8} {}  txs {:>4}  gas {:>5.1}M ({:>3}%)  base {:>7} gwei  tip p50 {} p90 {} gwei  blobs {}",
                num(spec, row, "block_number"),
                short_hash(spec, row, "block_hash"),
                num(spec, row, "tx_count"),
                used as f64 / 1e6,
                used * 100 / limit,
                gwei(num(spec, row, "base_fee_per_gas")),
                gwei(num(spec, row, "priority_fee_p50")),
                gwei(num(spec, row, "priority_fee_p90")),
                num(spec, row, "blob_count"),
            )
        }
        "gas_fees_minutes" => format!(
            "{} minute {}  blocks {:>2}  txs {:>5}  base {}..{} gwei  tip p50 {} p90 {} gwei  blobs {}",
            if diff > 0 { "~" } else { " " },
            utc_minute(num(spec, row, "minute") as u64),
            num(spec, row, "blocks"),
            num(spec, row, "tx_count"),
            gwei(num(spec, row, "base_fee_min")),
            gwei(num(spec, row, "base_fee_max")),
            gwei(num(spec, row, "priority_fee_p50")),
            gwei(num(spec, row, "priority_fee_p90")),
            num(spec, row, "blob_count"),
        ),
        "gas_fees_hours" | "gas_fees_days" => format!(
            "{} {} {}  blocks {:>5}  txs {:>7}  gas {:>8.1}M  base {}..{} avg {} gwei  blobs {}",
            if diff > 0 { "~" } else { " " },
            if spec.name == "gas_fees_hours" {
                "hour"
            } else {
                "day "
            },
            utc_minute(num(spec, row, "bucket_start") as u64),
            num(spec, row, "blocks"),
            num(spec, row, "tx_count"),
            num(spec, row, "gas_used") as f64 / 1e6,
            gwei(num(spec, row, "base_fee_min")),
            gwei(num(spec, row, "base_fee_max")),
            gwei(num(spec, row, "base_fee_avg")),
            num(spec, row, "blob_count"),
        ),
        _ => {
            let cols: Vec<String> = spec
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| format!("{}={}", c.name, super::jsonl::encode_value(v)))
                .collect();
            format!("{sign} {} {}", spec.name, cols.join(" "))
        }
    }
}

/// Prints a live view to standard output.
pub struct ConsoleSink {
    stats: Arc<IngestStats>,
    max_lines: usize,
    reorgs_seen: u64,
}

impl ConsoleSink {
    /// A console view that reads reorg counts from `stats` and prints at most `max_lines`
    /// update lines per batch.
    pub fn new(stats: Arc<IngestStats>, max_lines: usize) -> Self {
        ConsoleSink {
            stats,
            max_lines: max_lines.max(1),
            reorgs_seen: 0,
        }
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
        let mut out = io::stdout().lock();
        let mut lines: Vec<String> = batch
            .errors
            .iter()
            .map(|e| format!("! error: {e}"))
            .collect();
        let retracted = batch.updates.iter().filter(|u| u.2 < 0).count();
        if batch.output.name == "gas_fees_blocks" && retracted > 0 {
            let reorgs = self.stats.reorgs.load(Ordering::Relaxed);
            if reorgs != self.reorgs_seen {
                self.reorgs_seen = reorgs;
                lines.push(format!(
                    "! reorg: {retracted} block(s) retracted at epoch {}  (reorgs so far {reorgs}, deepest {})",
                    batch.upper - 1,
                    self.stats.max_reorg_depth.load(Ordering::Relaxed),
                ));
            }
        }
        // Minutes, hours and days: show only the new state of each changed bucket.
        let buckets = matches!(
            batch.output.name,
            "gas_fees_minutes" | "gas_fees_hours" | "gas_fees_days"
        );
        let shown: Vec<_> = batch
            .updates
            .iter()
            .filter(|u| !buckets || u.2 > 0)
            .collect();
        for (row, _epoch, diff) in shown.iter().take(self.max_lines) {
            lines.push(render(&batch.output, row, *diff));
        }
        if shown.len() > self.max_lines {
            lines.push(format!(
                "  … and {} more {} updates",
                shown.len() - self.max_lines,
                batch.output.name
            ));
        }
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

    #[test]
    fn formats_gwei_and_minutes() {
        assert_eq!(gwei(1_234_567_890), "1.23");
        assert_eq!(gwei(0), "0.00");
        assert_eq!(utc_minute(0), "1970-01-01 00:00");
        assert_eq!(utc_minute(1_767_225_600 + 61), "2026-01-01 00:01");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00");
    }

    #[test]
    fn renders_hours_and_days() {
        use crate::dataflows::gas_fees::{DayRow, GasFees, HourRow, Totals};
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
        assert_eq!(
            render(&specs[2], &hour.values(), 1),
            "~ hour 2026-01-01 01:00  blocks   300  txs   45000  gas   4500.0M  base 1.00..3.25 avg 2.00 gwei  blobs 12"
        );
        let day = DayRow::of(1, 1_767_225_600, &t);
        assert!(
            render(&specs[3], &day.values(), -1)
                .starts_with("  day  2026-01-01 00:00  blocks   300")
        );
    }
}
