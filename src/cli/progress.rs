//! Progress of a long replay: blocks/s, rows written and ETA, as an `indicatif` bar redrawn
//! in place when standard error is a terminal, or a plain log line every 10 s otherwise (so
//! CI logs stay readable).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::engine::IngestStats;

/// How often the counters are read.
const POLL: Duration = Duration::from_millis(200);

/// How often a plain line is logged when standard error is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The bar's layout; `{rate}` is blocks per second, `{msg}` the rows written.
const TEMPLATE: &str = "[{bar:30}] {pos}/{len} blocks {percent:>3}%  {rate}  {msg} rows  ETA {eta}";

/// A running progress reporter over a block range.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Blocks of `from..=to` done when the head is at `head`, and the range's length.
fn done_of(from: u64, to: u64, head: u64) -> (u64, u64) {
    let total = to.saturating_sub(from) + 1;
    let done = head.saturating_sub(from).saturating_add(1).min(total);
    (done, total)
}

/// One plain progress line (pure; tested alone).
pub fn line(from: u64, to: u64, head: u64, rows: u64, elapsed: Duration) -> String {
    let (done, total) = done_of(from, to, head);
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = done as f64 / secs;
    let eta = if rate > 0.0 {
        (total - done) as f64 / rate
    } else {
        f64::INFINITY
    };
    let pct = done as f64 * 100.0 / total as f64;
    let eta = if eta.is_finite() {
        format!("{:.0}s", eta)
    } else {
        "?".to_string()
    };
    format!(
        "replay {done}/{total} blocks ({pct:.1}%), {rate:.0} blocks/s, {rows} rows written, ETA {eta}"
    )
}

/// The bar over `total` blocks, drawn on standard error (hidden when that is no terminal).
fn bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let rate = |state: &ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(w, "{:.0} blocks/s", state.per_sec());
    };
    // The template is a constant: a mistake in it shows in the unit test, not at run time.
    if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
        bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
    }
    bar
}

impl Progress {
    /// Reports the replay of `from..=to` from `stats` until [`Progress::finish`].
    pub fn start(stats: Arc<IngestStats>, from: u64, to: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("chainflow-progress".into())
            .spawn(move || {
                let started = Instant::now();
                let read = || {
                    let head = stats.head.load(Ordering::Relaxed);
                    let rows = stats.committed_updates.load(Ordering::Relaxed);
                    (head.max(from.saturating_sub(1)), rows)
                };
                let bar = bar(done_of(from, to, from).1);
                let plain = bar.is_hidden();
                let show = |last: bool| {
                    let (head, rows) = read();
                    if plain {
                        tracing::info!("{}", line(from, to, head, rows, started.elapsed()));
                    } else {
                        bar.set_position(done_of(from, to, head).0);
                        bar.set_message(rows.to_string());
                        if last {
                            bar.finish();
                        }
                    }
                };
                let mut logged = Instant::now();
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(POLL);
                    if !plain || logged.elapsed() >= LOG_EVERY {
                        logged = Instant::now();
                        show(false);
                    }
                }
                show(true);
            })
            .ok();
        Progress { stop, thread }
    }

    /// Shows the last state and stops.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_blocks_rate_rows_and_eta() {
        let l = line(100, 1099, 599, 1234, Duration::from_secs(10));
        assert_eq!(
            l,
            "replay 500/1000 blocks (50.0%), 50 blocks/s, 1234 rows written, ETA 10s"
        );
        let end = line(100, 1099, 1099, 9, Duration::from_secs(4));
        assert!(end.starts_with("replay 1000/1000 blocks (100.0%)"), "{end}");
        assert!(end.ends_with("ETA 0s"), "{end}");
        // Nothing read yet: no division by zero, no ETA.
        let n = line(5, 4, 0, 0, Duration::ZERO);
        assert!(n.contains("1/1") || n.contains("0/"), "{n}");
    }

    #[test]
    fn the_bar_template_parses_and_counts_the_range() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
        let bar = bar(done_of(100, 1099, 100).1);
        assert_eq!(bar.length(), Some(1000));
        bar.set_position(done_of(100, 1099, 599).0);
        assert_eq!(bar.position(), 500);
    }
}
