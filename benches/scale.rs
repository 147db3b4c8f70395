//! Scale-out and memory: compute scaling of the engine over worker threads and
//! processes on the devnet source, and resident memory over a long devnet run.
//!
//! `cargo bench --bench scale` (`make bench` runs it). Environment: `BENCH_SCALE_BLOCKS`
//! (blocks for the scaling runs, default 20000; 2000 without `--bench`), `BENCH_TXS` (mean
//! transactions per block, default 200), `BENCH_MEM_BLOCKS` (blocks of the long run, default
//! 1000000; 20000 without `--bench`), `BENCH_SCALE_ONLY` (`workers`, `processes` or `memory`).
//!
//! - **workers**: `engine::run_writers` with `gas_fees` over pre-generated devnet events (not
//!   timed) and, as `run` and `replay` write, a sink per worker that drops its share of the
//!   batches, on 1 and 2 worker threads, at 100 and 1000 blocks per epoch. Every run is a
//!   fresh process of this bench (`BENCH_SCALE_CHILD`) that generates the events itself, so
//!   no run inherits another's heap (in one process, runs over clones of the same events
//!   varied by up to 40% with the state of the allocator); 1 and 2 workers take turns,
//!   `BENCH_SCALE_ROUNDS` times (default 3; 1 without `--bench`), and the best of each is
//!   reported with every run's time. The 1-worker run is the anchor; the goal for 2 is at
//!   least 1.8x. The feeder and the sink threads share the machine's cores with the workers.
//!   A second table repeats it with `MIMALLOC_PURGE_DELAY=-1`: blocks are allocated by the
//!   feeder and freed by the workers, and pages mimalloc returns to the OS (after 1 s by
//!   default) fault back in when reused; that costs 2 workers more than 1.
//! - **processes**: the binary, `chainflow run --fast --quiet --max-blocks N
//!   --blocks-per-epoch 100`, as one process and as two (`-n 2 -p I -h hosts`, loopback), wall
//!   time from spawn to the last exit. Every process generates the whole devnet itself.
//! - **memory**: the binary, `chainflow run --fast --quiet --max-blocks N` (devnet, 12 s
//!   slots, finality 64 blocks behind, sealing every hour of chain time: the default), its
//!   `VmRSS` sampled every 250 ms. Reported at fractions of the run's wall time (the rate is
//!   steady), the peak, and the growth from a quarter of the run to its end scaled to a
//!   million blocks. The anchor: the same run with sealing off
//!   (`CHAINFLOW_ENGINE__SEAL_EVERY_SECS=0`) over at most 100000 blocks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;
use common::{NullSink, env_or};

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chainflow::dataflows::gas_fees::GasFees;
use chainflow::engine::{self, EngineSettings, RunControl};
use chainflow::sources::SourceEvent;
use chainflow::sources::devnet::{Devnet, DevnetConfig};

fn generate(blocks: u64, txs: u32) -> Vec<SourceEvent> {
    let config = DevnetConfig {
        block_time_ms: 0,
        max_blocks: Some(blocks),
        txs_per_block: txs,
        ..DevnetConfig::default()
    };
    Devnet::new(config).unwrap().map(|e| e.unwrap()).collect()
}

fn run_workers(events: Vec<SourceEvent>, workers: usize, per_epoch: usize) -> Duration {
    let settings = EngineSettings {
        blocks_per_epoch: per_epoch,
        ..EngineSettings::default()
    };
    let config = common::workers_config(workers);
    let started = Instant::now();
    let sinks = (0..workers)
        .map(|_| vec![Box::new(NullSink) as Box<dyn chainflow::sinks::Sink>])
        .collect();
    engine::run_writers(
        &settings,
        config,
        vec![&GasFees],
        events.into_iter().map(Ok),
        engine::Writers::PerWorker(sinks),
        &RunControl::default(),
    )
    .unwrap();
    started.elapsed()
}

/// The child's side of a workers measurement (`BENCH_SCALE_CHILD=<workers>,<blocks per
/// epoch>`): generates the devnet events (not timed), runs them once and prints the wall time
/// in nanoseconds, the number of events and of transactions.
fn workers_child(spec: &str, blocks: u64, txs: u32) {
    let mut parts = spec.split(',').map(|p| p.parse::<usize>().unwrap());
    let (workers, per_epoch) = (parts.next().unwrap(), parts.next().unwrap());
    let events = generate(blocks, txs);
    let total_txs: usize = events
        .iter()
        .flat_map(|e| e.event.new_blocks())
        .map(|b| b.transactions.len())
        .sum();
    let n_events = events.len();
    let wall = run_workers(events, workers, per_epoch);
    println!("{} {n_events} {total_txs}", wall.as_nanos());
}

/// What one measurement reports: wall time, devnet events and their transactions.
type Measured = (Duration, usize, usize);

/// One workers measurement in a fresh process of this bench (see [`workers_child`]).
fn workers_run(
    blocks: u64,
    txs: u32,
    (workers, per_epoch): (usize, usize),
    purge_delay: Option<&str>,
) -> Measured {
    let mut command = Command::new(std::env::current_exe().unwrap());
    if let Some(delay) = purge_delay {
        command.env("MIMALLOC_PURGE_DELAY", delay);
    }
    let out = command
        .arg("--bench")
        .env("BENCH_SCALE_CHILD", format!("{workers},{per_epoch}"))
        .env("BENCH_SCALE_BLOCKS", blocks.to_string())
        .env("BENCH_TXS", txs.to_string())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "a workers run failed: {}", out.status);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().unwrap());
    let mut next = || fields.next().unwrap();
    (
        Duration::from_nanos(next()),
        next() as usize,
        next() as usize,
    )
}

fn workers_section(blocks: u64, txs: u32, rounds: u64) {
    // The allocator as the binary has it (mimalloc's default purge delay of 1 s, unless the
    // environment sets one), then with freed memory never returned to the OS.
    workers_table(blocks, txs, rounds, None);
    workers_table(blocks, txs, rounds, Some("-1"));
}

fn workers_table(blocks: u64, txs: u32, rounds: u64, purge_delay: Option<&str>) {
    let mut tables = Vec::new();
    // Every child generates the same events: the counts of the last one.
    let (mut n_events, mut total_txs) = (0, 0);
    for per_epoch in [100usize, 1_000] {
        let mut walls: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..rounds {
            for (i, workers) in [1usize, 2].into_iter().enumerate() {
                let (wall, events, txs_seen) =
                    workers_run(blocks, txs, (workers, per_epoch), purge_delay);
                walls[i].push(wall);
                (n_events, total_txs) = (events, txs_seen);
            }
        }
        tables.push((per_epoch, walls));
    }
    println!(
        "scale bench, workers: {n_events} devnet events, {total_txs} transactions (generated in each run's own process, not timed); 1 and 2 workers take turns, best of {rounds}; MIMALLOC_PURGE_DELAY={}",
        purge_delay.map_or_else(
            || std::env::var("MIMALLOC_PURGE_DELAY").unwrap_or_else(|_| "(unset: 1000 ms)".into()),
            str::to_string
        )
    );
    println!();
    println!("| blocks/epoch | workers | wall (best) | all runs | tx/s | speed-up over 1 worker |");
    println!("|---:|---:|---:|---|---:|---:|");
    for (per_epoch, walls) in tables {
        let best = |w: &[Duration]| w.iter().copied().min().unwrap();
        let base = best(&walls[0]);
        for (i, workers) in [1usize, 2].into_iter().enumerate() {
            let wall = best(&walls[i]);
            let all: Vec<String> = walls[i]
                .iter()
                .map(|w| format!("{:.0}", w.as_secs_f64() * 1e3))
                .collect();
            println!(
                "| {per_epoch} | {workers} | {wall:.2?} | {} ms | {:.2}M | {:.2}x{} |",
                all.join(", "),
                total_txs as f64 / wall.as_secs_f64() / 1e6,
                base.as_secs_f64() / wall.as_secs_f64(),
                if workers == 2 { "  [goal >= 1.8x]" } else { "" }
            );
        }
    }
    println!();
}

fn binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chainflow"));
    c.env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn devnet_run(blocks: u64, txs: u32) -> Command {
    let mut c = binary();
    c.args([
        "run",
        "--fast",
        "--quiet",
        "--max-blocks",
        &blocks.to_string(),
    ])
    .env("CHAINFLOW_DEVNET__TXS_PER_BLOCK", txs.to_string());
    c
}

fn wait_ok(mut child: Child, what: &str) {
    let status = child.wait().unwrap();
    assert!(status.success(), "{what} failed: {status}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn processes_section(blocks: u64, txs: u32) {
    let mut one = Duration::MAX;
    let mut two = Duration::MAX;
    for _ in 0..2 {
        let started = Instant::now();
        let mut c = devnet_run(blocks, txs);
        c.env("CHAINFLOW_ENGINE__BLOCKS_PER_EPOCH", "100");
        wait_ok(c.spawn().unwrap(), "one process");
        one = one.min(started.elapsed());

        let dir = std::env::temp_dir().join(format!("chainflow-scale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hosts = dir.join("hosts.txt");
        std::fs::write(
            &hosts,
            format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
        )
        .unwrap();
        let started = Instant::now();
        let children: Vec<Child> = (0..2)
            .map(|p| {
                let mut c = devnet_run(blocks, txs);
                c.env("CHAINFLOW_ENGINE__BLOCKS_PER_EPOCH", "100")
                    .args(["-n", "2", "-p", &p.to_string(), "-h"])
                    .arg(&hosts);
                c.spawn().unwrap()
            })
            .collect();
        for child in children {
            wait_ok(child, "a process of two");
        }
        two = two.min(started.elapsed());
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "scale bench, processes: the binary over {blocks} devnet blocks, 100 blocks per epoch; best of 2"
    );
    println!();
    println!("| processes | wall | blocks/s | speed-up over 1 process |");
    println!("|---:|---:|---:|---:|");
    for (n, wall) in [(1, one), (2, two)] {
        println!(
            "| {n} | {wall:.2?} | {:.0} | {:.2}x |",
            blocks as f64 / wall.as_secs_f64(),
            one.as_secs_f64() / wall.as_secs_f64()
        );
    }
    println!();
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Runs `command` to its end, sampling its resident memory: (wall, samples in KiB).
fn sampled(mut command: Command) -> (Duration, Vec<(Duration, u64)>) {
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    let pid = child.id();
    let mut samples = Vec::new();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the long run failed: {status}");
            break;
        }
        if let Some(kib) = rss_kib(pid) {
            samples.push((started.elapsed(), kib));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    (started.elapsed(), samples)
}

fn at_fraction(samples: &[(Duration, u64)], wall: Duration, f: f64) -> u64 {
    let t = wall.mul_f64(f);
    samples
        .iter()
        .take_while(|(at, _)| *at <= t)
        .last()
        .or(samples.first())
        .map_or(0, |(_, kib)| *kib)
}

fn memory_section(blocks: u64, txs: u32) {
    let anchor_blocks = blocks.min(100_000);
    let mut unsealed = devnet_run(anchor_blocks, txs);
    unsealed.env("CHAINFLOW_ENGINE__SEAL_EVERY_SECS", "0");
    let runs = [
        ("sealing off (anchor)", anchor_blocks, sampled(unsealed)),
        (
            "sealing every hour (default)",
            blocks,
            sampled(devnet_run(blocks, txs)),
        ),
    ];
    println!(
        "scale bench, memory: the binary over devnet blocks ({txs} transactions per block on average, 12 s slots), VmRSS every 250 ms"
    );
    println!();
    println!(
        "| run | blocks | wall | RSS at 10% | 25% | 50% | 75% | end | peak | growth per million blocks (25% to end) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (label, n, (wall, samples)) in &runs {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let at = |f| at_fraction(samples, *wall, f);
        let peak = samples.iter().map(|(_, k)| *k).max().unwrap_or(0);
        let end = samples.last().map_or(0, |(_, k)| *k);
        let growth = (end as f64 - at(0.25) as f64) / (0.75 * *n as f64) * 1e6;
        println!(
            "| {label} | {n} | {wall:.1?} | {:.0} MiB | {:.0} MiB | {:.0} MiB | {:.0} MiB | {:.0} MiB | {:.0} MiB | {:.0} MiB |",
            mib(at(0.10)),
            mib(at(0.25)),
            mib(at(0.50)),
            mib(at(0.75)),
            mib(end),
            mib(peak),
            growth / 1024.0
        );
    }
    println!();
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let blocks = env_or("BENCH_SCALE_BLOCKS", if full { 20_000 } else { 2_000 });
    let mem_blocks = env_or("BENCH_MEM_BLOCKS", if full { 1_000_000 } else { 20_000 });
    let txs = env_or("BENCH_TXS", 200) as u32;
    if let Ok(spec) = std::env::var("BENCH_SCALE_CHILD") {
        return workers_child(&spec, blocks, txs);
    }
    let rounds = env_or("BENCH_SCALE_ROUNDS", if full { 3 } else { 1 });
    let only = std::env::var("BENCH_SCALE_ONLY").unwrap_or_default();
    if only.is_empty() || only == "workers" {
        workers_section(blocks, txs, rounds);
    }
    if only.is_empty() || only == "processes" {
        processes_section(blocks, txs);
    }
    if only.is_empty() || only == "memory" {
        memory_section(mem_blocks, txs);
    }
}
