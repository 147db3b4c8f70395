//! Progress of a long replay: blocks/s, rows written and ETA, as a bar redrawn in place on a
//! terminal, or a plain log line every 10 s otherwise.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::engine::IngestStats;

/// A running progress reporter over a block range.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// One progress line (pure; tested alone).
pub fn line(from: u64, to: u64, head: u64, rows: u64, elapsed: Duration, bar: bool) -> String {
    let total = to.saturating_sub(from) + 1;
    let done = head.saturating_sub(from).saturating_add(1).min(total);
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
    if bar {
        let width = 30usize;
        let filled = ((pct / 100.0) * width as f64) as usize;
        format!(
            "[{}{}] {done}/{total} blocks {pct:5.1}%  {rate:.0} blocks/s  {rows} rows  ETA {eta}",
            "=".repeat(filled.min(width)),
            " ".repeat(width - filled.min(width)),
        )
    } else {
        format!(
            "replay {done}/{total} blocks ({pct:.1}%), {rate:.0} blocks/s, {rows} rows written, ETA {eta}"
        )
    }
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
                let tty = std::io::stderr().is_terminal();
                let every = if tty {
                    Duration::from_millis(250)
                } else {
                    Duration::from_secs(10)
                };
                let mut last = Instant::now();
                let draw = |bar: bool| {
                    let head = stats.head.load(Ordering::Relaxed);
                    let rows = stats.committed_updates.load(Ordering::Relaxed);
                    line(
                        from,
                        to,
                        head.max(from.saturating_sub(1)),
                        rows,
                        started.elapsed(),
                        bar,
                    )
                };
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    if last.elapsed() < every {
                        continue;
                    }
                    last = Instant::now();
                    if tty {
                        let mut err = std::io::stderr().lock();
                        let _ = write!(err, "\r{}", draw(true));
                        let _ = err.flush();
                    } else {
                        tracing::info!("{}", draw(false));
                    }
                }
                if tty {
                    eprintln!("\r{}", draw(true));
                } else {
                    tracing::info!("{}", draw(false));
                }
            })
            .ok();
        Progress { stop, thread }
    }

    /// Prints the last line and stops.
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
        let l = line(100, 1099, 599, 1234, Duration::from_secs(10), false);
        assert_eq!(
            l,
            "replay 500/1000 blocks (50.0%), 50 blocks/s, 1234 rows written, ETA 10s"
        );
        let b = line(100, 1099, 1099, 9, Duration::from_secs(4), true);
        assert!(
            b.starts_with("[==============================] 1000/1000 blocks 100.0%"),
            "{b}"
        );
        assert!(b.ends_with("ETA 0s"), "{b}");
        // Nothing read yet: no division by zero, no ETA.
        let n = line(5, 4, 0, 0, Duration::ZERO, false);
        assert!(n.contains("1/1") || n.contains("0/"), "{n}");
    }
}
