//! Throughput of the `gas_fees` dataflow (all four outputs: blocks, minutes, hours, days) on
//! the devnet, side by side with a plain single-threaded loop computing the same final
//! aggregates (`gas_fees::recompute`) in the same run.
//!
//! `cargo bench --bench gas_fees` (or `make bench`). Environment: `BENCH_BLOCKS` (default
//! 100000), `BENCH_TXS` (mean transactions per block, default 200), `BENCH_WORKERS` (default
//! 1). Without `--bench` (as under `cargo test --all-targets`) it runs a small smoke size.
//!
//! Columns: blocks per epoch; transactions per second through the engine (devnet events
//! pre-generated, not timed); ratio to the loop; p50/p99 of the time between consecutive
//! epoch releases under saturation. A last line measures end-to-end latency at one block per
//! epoch with nothing else in flight (feed an epoch, wait for its release, repeat).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;
use common::{env_or, percentile};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chainflow::dataflows::gas_fees::{self, GasFees};
use chainflow::engine::{self, EngineSettings, RunControl};
use chainflow::model::{Block, Epoch};
use chainflow::sinks::{OutputBatch, Sink};
use chainflow::sources::SourceEvent;
use chainflow::sources::devnet::{Devnet, DevnetConfig};

fn generate(blocks: u64, txs: u32) -> Vec<SourceEvent> {
    let config = DevnetConfig {
        seed: 2026,
        block_time_ms: 0,
        max_blocks: Some(blocks),
        txs_per_block: txs,
        reorg_rate: 0.0,
        ..DevnetConfig::default()
    };
    Devnet::new(config).unwrap().map(|e| e.unwrap()).collect()
}

/// Records the instant each output batch is committed, by upper epoch.
#[derive(Clone, Default)]
struct TimingSink {
    releases: Arc<Mutex<Vec<(Epoch, Epoch, Instant)>>>,
}

impl Sink for TimingSink {
    fn name(&self) -> &str {
        "timing"
    }
    fn accepts(&self, output: &str) -> bool {
        output == gas_fees::MINUTES
    }
    fn commit(&mut self, batch: &OutputBatch) -> chainflow::sinks::Result<()> {
        self.releases
            .lock()
            .unwrap()
            .push((batch.lower, batch.upper, Instant::now()));
        Ok(())
    }
}

struct Row {
    label: String,
    txs: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

fn run_engine(
    events: Vec<SourceEvent>,
    per_epoch: usize,
    workers: usize,
    inflight: u64,
) -> (Duration, Vec<Duration>) {
    let sink = TimingSink::default();
    let settings = EngineSettings {
        blocks_per_epoch: per_epoch,
        max_inflight_epochs: inflight,
        channel_capacity: inflight.max(1) as usize,
        ..EngineSettings::default()
    };
    let config = common::workers_config(workers);
    let started = Instant::now();
    engine::run(
        &settings,
        config,
        vec![&GasFees],
        events.into_iter().map(Ok),
        vec![Box::new(sink.clone())],
        &RunControl::default(),
    )
    .unwrap();
    let elapsed = started.elapsed();
    let releases = sink.releases.lock().unwrap().clone();
    // Time between consecutive releases, spread over the epochs each release closed.
    let mut per_epoch_times = Vec::new();
    let mut last = started;
    for (lower, upper, at) in releases {
        let epochs = (upper - lower).max(1) as u32;
        let each = (at - last) / epochs;
        per_epoch_times.extend(std::iter::repeat_n(each, epochs as usize));
        last = at;
    }
    per_epoch_times.sort();
    (elapsed, per_epoch_times)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let blocks = env_or("BENCH_BLOCKS", if full { 100_000 } else { 2_000 });
    let txs = env_or("BENCH_TXS", 200) as u32;
    let workers = env_or("BENCH_WORKERS", 1) as usize;

    let gen_started = Instant::now();
    let events = generate(blocks, txs);
    let chain: Vec<Block> = events
        .iter()
        .flat_map(|e| e.event.new_blocks().iter().cloned())
        .collect();
    let total_txs: u64 = chain.iter().map(|b| b.transactions.len() as u64).sum();
    println!(
        "gas_fees bench: {} blocks, {} txs ({:.0} per block), {} worker(s); devnet generated in {:.1?} (not timed)",
        chain.len(),
        total_txs,
        total_txs as f64 / chain.len() as f64,
        workers,
        gen_started.elapsed()
    );

    // Anchor: the plain loop over the same blocks, best of three.
    let mut loop_best = Duration::MAX;
    let mut checksum = 0usize;
    for _ in 0..3 {
        let started = Instant::now();
        let all = gas_fees::recompute(&chain);
        loop_best = loop_best.min(started.elapsed());
        checksum += all.blocks.len() + all.minutes.len() + all.hours.len() + all.days.len();
    }
    drop(chain);
    let loop_tps = total_txs as f64 / loop_best.as_secs_f64();

    let mut rows = Vec::new();
    for per_epoch in [1usize, 100, 1_000] {
        let events = events.clone();
        let (elapsed, times) = run_engine(events, per_epoch, workers, 64);
        rows.push(Row {
            label: format!("{per_epoch}"),
            txs: total_txs,
            elapsed,
            p50: percentile(&times, 50.0),
            p99: percentile(&times, 99.0),
        });
    }

    println!();
    println!("| blocks/epoch | tx/s | ratio to loop | epoch p50 | epoch p99 | wall |");
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| loop (anchor) | {:.2}M | 1.00x | - | - | {:.2?} |",
        loop_tps / 1e6,
        loop_best
    );
    for r in &rows {
        let tps = r.txs as f64 / r.elapsed.as_secs_f64();
        println!(
            "| {} | {:.2}M | {:.2}x | {:.1?} | {:.1?} | {:.2?} |",
            r.label,
            tps / 1e6,
            tps / loop_tps,
            r.p50,
            r.p99,
            r.elapsed
        );
    }

    // End-to-end latency: one block per epoch, nothing else in flight.
    let latency_blocks = (blocks as usize).min(5_000);
    let events: Vec<SourceEvent> = events.into_iter().take(latency_blocks).collect();
    let (_, times) = run_engine(events, 1, workers, 1);
    println!();
    println!(
        "latency, 1 block/epoch, serial ({} epochs): p50 {:.1?}, p99 {:.1?}  [goal p99 <= 1 ms]",
        times.len(),
        percentile(&times, 50.0),
        percentile(&times, 99.0)
    );
    std::hint::black_box(checksum);
}
