//! The JSON-RPC source against a real node: ingestion throughput beside a raw concurrent
//! fetch of the same blocks, and head-to-output latency while the node mines.
//!
//! `cargo bench --bench rpc` (`make bench` runs it after `gas_fees`). It starts its own anvil
//! (`$ANVIL` or `tools/bin/anvil`; `--no-mining --hardfork prague --accounts 20`, killed on
//! drop) on a free 127.0.0.1 port and fills `BENCH_RPC_BLOCKS` blocks (default 1000; 200
//! without `--bench`, as under `cargo test --all-targets`, where latency runs are shortened and
//! a missing anvil skips the run) with 20 type-2 transfers each: one `eth_sendTransaction`
//! per dev account per block (nonces from the node, tips varied by sender and block; a sender
//! never has two transactions pending, so its tips never increase), sent as one JSON-RPC
//! batch, then `anvil_mine(1, 12)`. Filling is not timed.
//!
//! Throughput, at C requests in flight (C = 16 and 4):
//! - `chainflow`: the real path. `RpcSource` (http, `start_block = 0`, `max_concurrency = C`)
//!   into `engine::run` with `GasFees` on one worker; a sink sets `shutdown` when the
//!   consolidated `gas_fees_blocks` state holds every block 0..=N. Wall time from
//!   `RpcSource::start` to that commit.
//! - `raw` (the anchor): `eth_getBlockByNumber(n, true)` and `eth_getBlockReceipts(n)` for
//!   every block, parsed as `serde_json::Value`, C requests in flight (`buffered(C)` over
//!   alloy's `RpcClient`, on a one-worker tokio runtime like the source's). The goal is
//!   chainflow / raw >= 0.8x.
//! - `chainflow replay`: the binary, `replay --rpc URL --from 0 --to N --concurrency C
//!   --jsonl FILE` (range reads, 100 blocks per epoch), wall time of the process from spawn to
//!   exit; its `gas_fees_blocks` rows are counted and their transactions checked against the
//!   raw fetch. Goal >= 0.8x of raw.
//! - `NodeClient` rows break the chainflow time down: the same client fetching, decoding,
//!   verifying and converting the blocks (`block_by_number`, C at a time) without the tracker
//!   and the engine, with and without `verify_hashes`.
//!
//! - `client CPU`: user + system CPU time of the bench process during the run (from
//!   `/proc/self/stat`, 10 ms ticks; anvil is another process): the client-side cost, which
//!   the wall-time ratio hides while the node is the bottleneck. anvil 1.7.1 takes ~7 ms to
//!   answer `eth_getBlockByNumber(n, true)` for a 20-transaction block (0.5 ms without the
//!   transactions), so on a small machine both paths wait on the node.
//!
//! Each configuration runs twice; the faster run is reported.
//!
//! Latency: a follower (ws, start at the head, engine + `GasFees`) whose sink records the
//! instant each block's `gas_fees_blocks` row is committed. Latency = that instant minus the
//! block's announcement:
//! - `1 block/s`: `evm_setIntervalMining(1)`, 20 transfers per block (sent when the previous
//!   head is announced); announcement = the instant the bench's own `newHeads` subscription,
//!   on a second websocket, delivers the head. Goal: p99 under 50 ms.
//! - `evm_mine loop`: `evm_mine` back to back from the bench thread (empty blocks, and with 20
//!   transfers sent before each); announcement = the instant `evm_mine` returns.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;
use common::{Anvil, anvil_bin, env_or, percentile};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use alloy_rpc_client::{ClientBuilder, RpcClient};
use chainflow::dataflows::gas_fees::{self, GasFees};
use chainflow::engine::dataflow::Value as Cell;
use chainflow::engine::{self, EngineSettings, RunControl};
use chainflow::model::fees::BlobParams;
use chainflow::sinks::{OutputBatch, Sink};
use chainflow::sources::rpc::client::{ClientConfig, NodeClient};
use chainflow::sources::rpc::{ChainConfig, RpcSource};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

/// Transfers per block (one per dev account).
const TXS_PER_BLOCK: usize = 20;
/// Receiver of every transfer (not a sender).
const SINK_ADDRESS: &str = "0x000000000000000000000000000000000000bEEF";

fn hex(n: u64) -> String {
    format!("0x{n:x}")
}

fn hex_u64(v: &Value) -> u64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a hex string: {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

/// Drives the node from the bench: an HTTP client (keep-alive) on the bench's runtime.
struct Driver {
    rt: Runtime,
    http: RpcClient,
    accounts: Arc<Vec<String>>,
}

impl Driver {
    fn connect(url: &str) -> Driver {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let http = rt.block_on(ClientBuilder::default().connect(url)).unwrap();
        let mut driver = Driver {
            rt,
            http,
            accounts: Arc::new(Vec::new()),
        };
        let accounts: Vec<String> =
            serde_json::from_value(driver.call("eth_accounts", json!([]))).expect("eth_accounts");
        assert_eq!(accounts.len(), TXS_PER_BLOCK, "dev accounts");
        driver.accounts = Arc::new(accounts);
        driver
    }

    fn call(&self, method: &'static str, params: Value) -> Value {
        self.rt
            .block_on(self.http.request::<_, Value>(method, params))
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn head(&self) -> u64 {
        hex_u64(&self.call("eth_blockNumber", json!([])))
    }

    fn send_txs(&self, salt: u64) {
        self.rt.block_on(send_txs(
            self.http.clone(),
            Arc::clone(&self.accounts),
            salt,
        ));
    }
}

/// One type-2 transfer from every dev account, in one JSON-RPC batch; tips vary by sender and
/// `salt` (1..=40 gwei).
async fn send_txs(client: RpcClient, accounts: Arc<Vec<String>>, salt: u64) {
    let mut batch = client.new_batch();
    let waiters: Vec<_> = accounts
        .iter()
        .enumerate()
        .map(|(i, from)| {
            let tip = (1 + (i as u64 * 7 + salt * 13) % 40) * 1_000_000_000;
            let tx = json!({
                "from": from,
                "to": SINK_ADDRESS,
                "value": "0x1",
                "gas": hex(21_000),
                "type": "0x2",
                "maxFeePerGas": hex(200_000_000_000),
                "maxPriorityFeePerGas": hex(tip),
            });
            batch
                .add_call::<_, B256>("eth_sendTransaction", &[tx])
                .unwrap()
        })
        .collect();
    batch.send().await.expect("send batch");
    for w in waiters {
        w.await.expect("eth_sendTransaction");
    }
}

/// Commits of `gas_fees_blocks`: sets `shutdown` once every block `0..=target` is in the
/// consolidated state.
struct DoneSink {
    target: u64,
    rows: i64,
    txs: i64,
    seen_target: bool,
    done: Arc<Mutex<Option<(Instant, u64)>>>,
    shutdown: Arc<AtomicBool>,
}

fn column(batch: &OutputBatch, name: &str) -> usize {
    batch
        .output
        .columns
        .iter()
        .position(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

fn u64_cell(v: &Cell) -> u64 {
    match v {
        Cell::U64(n) => *n,
        other => panic!("not a u64 cell: {other:?}"),
    }
}

impl Sink for DoneSink {
    fn name(&self) -> &str {
        "bench-done"
    }
    fn accepts(&self, output: &str) -> bool {
        output == gas_fees::BLOCKS
    }
    fn commit(&mut self, batch: &OutputBatch) -> chainflow::sinks::Result<()> {
        let (number, txs) = (column(batch, "block_number"), column(batch, "tx_count"));
        for (row, _, diff) in &batch.updates {
            let diff = *diff as i64;
            self.rows += diff;
            self.txs += diff * u64_cell(&row[txs]) as i64;
            if u64_cell(&row[number]) == self.target && diff > 0 {
                self.seen_target = true;
            }
        }
        let mut done = self.done.lock().unwrap();
        if done.is_none() && self.seen_target && self.rows > self.target as i64 {
            *done = Some((Instant::now(), self.txs as u64));
            self.shutdown.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Records the instant each block's row is first committed.
struct ArrivalSink {
    arrivals: Arc<Mutex<HashMap<u64, Instant>>>,
}

impl Sink for ArrivalSink {
    fn name(&self) -> &str {
        "bench-arrivals"
    }
    fn accepts(&self, output: &str) -> bool {
        output == gas_fees::BLOCKS
    }
    fn commit(&mut self, batch: &OutputBatch) -> chainflow::sinks::Result<()> {
        let now = Instant::now();
        let number = column(batch, "block_number");
        let mut arrivals = self.arrivals.lock().unwrap();
        for (row, _, diff) in &batch.updates {
            if *diff > 0 {
                arrivals.entry(u64_cell(&row[number])).or_insert(now);
            }
        }
        Ok(())
    }
}

/// Chainflow's real path over `0..=n`; wall time to the commit of the last block, and the
/// transactions counted by the output.
fn run_chainflow(url: &str, n: u64, concurrency: usize) -> (Duration, u64) {
    let control = RunControl::default();
    let done = Arc::new(Mutex::new(None));
    let sink = DoneSink {
        target: n,
        rows: 0,
        txs: 0,
        seen_target: false,
        done: Arc::clone(&done),
        shutdown: control.shutdown.clone(),
    };
    // Watchdog: a run that never reaches block n still ends.
    let watchdog_stop = control.shutdown.clone();
    let finished = Arc::new(AtomicBool::new(false));
    let watchdog_done = Arc::clone(&finished);
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline && !watchdog_done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        watchdog_stop.store(true, Ordering::Relaxed);
    });
    let chain = ChainConfig {
        start_block: Some(0),
        blob_schedule: Some("prague".into()),
        max_concurrency: concurrency,
        ..ChainConfig::new(url)
    };
    let started = Instant::now();
    let source = RpcSource::start(vec![chain], control.shutdown.clone()).unwrap();
    engine::run(
        &EngineSettings::default(),
        timely::Config::thread(),
        vec![&GasFees],
        source,
        vec![Box::new(sink)],
        &control,
    )
    .unwrap();
    finished.store(true, Ordering::Relaxed);
    watchdog.join().unwrap();
    let (at, txs) = done
        .lock()
        .unwrap()
        .unwrap_or_else(|| panic!("chainflow did not commit block {n} within 120 s"));
    (at - started, txs)
}

/// `chainflow replay --from 0 --to n` (the binary, a JSONL sink in a temporary file): wall
/// time of the process; the transactions are summed from the `gas_fees_blocks` rows written.
fn run_replay(url: &str, n: u64, concurrency: usize) -> (Duration, u64) {
    let dir = std::env::temp_dir().join(format!("chainflow-bench-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("replay.jsonl");
    let _ = std::fs::remove_file(&out);
    let started = Instant::now();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_chainflow"))
        .args([
            "replay",
            "--rpc",
            url,
            "--from",
            "0",
            "--to",
            &n.to_string(),
        ])
        .args(["--concurrency", &concurrency.to_string(), "--jsonl"])
        .arg(&out)
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    let wall = started.elapsed();
    assert!(status.success(), "chainflow replay failed: {status}");
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let mut blocks = 0u64;
    let mut txs = 0u64;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["output"] == "gas_fees_blocks" && v["diff"] == 1 {
            blocks += 1;
            txs += v["row"]["tx_count"].as_u64().unwrap();
        }
    }
    assert_eq!(blocks, n + 1, "blocks written by the replay");
    (wall, txs)
}

/// The runtime the source uses: one worker, driven by `block_on` from the calling thread.
fn source_like_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// The anchor: every block and its receipts as `serde_json::Value`, `concurrency` requests in
/// flight. Returns the wall time (connect included) and the transactions seen.
fn run_raw(url: &str, n: u64, concurrency: usize) -> (Duration, u64) {
    let rt = source_like_runtime();
    let started = Instant::now();
    let txs = rt.block_on(async {
        let client = ClientBuilder::default().connect(url).await.unwrap();
        let _: Value = client.request("eth_chainId", ()).await.unwrap();
        let client = &client;
        let calls = (0..=n).flat_map(|b| {
            [
                ("eth_getBlockByNumber", json!([hex(b), true])),
                ("eth_getBlockReceipts", json!([hex(b)])),
            ]
        });
        let answers: Vec<Value> = stream::iter(calls)
            .map(|(method, params)| async move {
                client
                    .request::<_, Value>(method, params)
                    .await
                    .unwrap_or_else(|e| panic!("{method}: {e}"))
            })
            .buffered(concurrency)
            .collect()
            .await;
        let mut txs = 0u64;
        for pair in answers.chunks(2) {
            let in_block = pair[0]["transactions"].as_array().expect("block").len();
            let receipts = pair[1].as_array().expect("receipts").len();
            assert_eq!(in_block, receipts, "receipts per block");
            txs += in_block as u64;
        }
        txs
    });
    (started.elapsed(), txs)
}

/// `NodeClient` alone: fetch, decode, verify and convert `0..=n`, `concurrency` at a time.
fn run_node_client(url: &str, n: u64, concurrency: usize, verify_hashes: bool) -> (Duration, u64) {
    let rt = source_like_runtime();
    let started = Instant::now();
    let txs = rt.block_on(async {
        let mut config = ClientConfig::new(url);
        config.max_concurrency = concurrency;
        config.blob_params = BlobParams::from_name("prague");
        config.verify_hashes = verify_hashes;
        let node = NodeClient::connect(config).await.unwrap();
        let node = &node;
        let blocks: Vec<_> = stream::iter(0..=n)
            .map(|b| async move { node.block_by_number(Some(b)).await.unwrap().unwrap() })
            .buffered(concurrency)
            .collect()
            .await;
        blocks
            .iter()
            .map(|b| b.transactions.len() as u64)
            .sum::<u64>()
    });
    (started.elapsed(), txs)
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat` (clock
/// ticks, assumed 100 per second; exited threads included). `None` off Linux.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// One measured configuration: wall time, transactions, and the bench process's CPU time
/// (the client side: anvil is another process).
struct Measured {
    wall: Duration,
    txs: u64,
    cpu: Option<Duration>,
}

/// Best of `runs` by wall time.
fn best(runs: usize, mut f: impl FnMut() -> (Duration, u64)) -> Measured {
    (0..runs)
        .map(|_| {
            let cpu = process_cpu();
            let (wall, txs) = f();
            let cpu = cpu.zip(process_cpu()).map(|(a, b)| b.saturating_sub(a));
            Measured { wall, txs, cpu }
        })
        .min_by_key(|m| m.wall)
        .unwrap()
}

/// A live follower: engine + `GasFees` over the websocket, from the node's head.
struct Follower {
    control: RunControl,
    arrivals: Arc<Mutex<HashMap<u64, Instant>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Follower {
    fn start(ws_url: &str) -> Follower {
        let control = RunControl::default();
        let arrivals = Arc::new(Mutex::new(HashMap::new()));
        let sink = ArrivalSink {
            arrivals: Arc::clone(&arrivals),
        };
        let chain = ChainConfig {
            blob_schedule: Some("prague".into()),
            ..ChainConfig::new(ws_url)
        };
        let source = RpcSource::start(vec![chain], control.shutdown.clone()).unwrap();
        let run_control = control.clone();
        let thread = std::thread::spawn(move || {
            engine::run(
                &EngineSettings::default(),
                timely::Config::thread(),
                vec![&GasFees],
                source,
                vec![Box::new(sink)],
                &run_control,
            )
            .unwrap();
        });
        Follower {
            control,
            arrivals,
            thread: Some(thread),
        }
    }

    /// Waits until block `n` has arrived (or `timeout` passed).
    fn wait_for(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.arrivals.lock().unwrap().contains_key(&n) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    fn arrival(&self, n: u64) -> Option<Instant> {
        self.arrivals.lock().unwrap().get(&n).copied()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.control.shutdown.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The bench's own `newHeads` subscription on a second websocket: the instant each head is
/// delivered; optionally sends the next block's transfers on every head.
struct HeadWatch {
    announced: Arc<Mutex<HashMap<u64, Instant>>>,
    send_on_head: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl HeadWatch {
    fn start(driver: &Driver, ws_url: &str) -> HeadWatch {
        let announced = Arc::new(Mutex::new(HashMap::new()));
        let send_on_head = Arc::new(AtomicBool::new(false));
        let ws = driver
            .rt
            .block_on(ClientBuilder::default().connect(ws_url))
            .unwrap();
        let id: B256 = driver
            .rt
            .block_on(ws.request("eth_subscribe", ("newHeads",)))
            .unwrap();
        let sub = driver.rt.block_on(ws.get_subscription::<Value>(id));
        let (seen, send) = (Arc::clone(&announced), Arc::clone(&send_on_head));
        let (http, accounts) = (driver.http.clone(), Arc::clone(&driver.accounts));
        let task = driver.rt.spawn(async move {
            let _ws = ws; // keep the connection open
            let mut heads = sub.into_stream();
            while let Some(head) = heads.next().await {
                let at = Instant::now();
                let number = hex_u64(&head["number"]);
                seen.lock().unwrap().insert(number, at);
                if send.load(Ordering::Relaxed) {
                    tokio::spawn(send_txs(http.clone(), Arc::clone(&accounts), number + 1));
                }
            }
        });
        HeadWatch {
            announced,
            send_on_head,
            task,
        }
    }

    fn count_after(&self, n: u64) -> usize {
        self.announced
            .lock()
            .unwrap()
            .keys()
            .filter(|&&k| k > n)
            .count()
    }
}

struct LatencyRow {
    mode: &'static str,
    announced_by: &'static str,
    txs_per_block: usize,
    blocks: usize,
    rate: f64,
    latencies: Vec<Duration>,
    missing: usize,
}

fn latency_row(
    mode: &'static str,
    announced_by: &'static str,
    txs_per_block: usize,
    announced: &[(u64, Instant)],
    elapsed: Duration,
    follower: &Follower,
) -> LatencyRow {
    if let Some(&(last, _)) = announced.iter().max_by_key(|a| a.0) {
        follower.wait_for(last, Duration::from_secs(10));
    }
    let mut latencies = Vec::new();
    let mut missing = 0;
    for &(n, at) in announced {
        match follower.arrival(n) {
            Some(arrived) => latencies.push(arrived.saturating_duration_since(at)),
            None => missing += 1,
        }
    }
    latencies.sort();
    LatencyRow {
        mode,
        announced_by,
        txs_per_block,
        blocks: announced.len(),
        rate: announced.len() as f64 / elapsed.as_secs_f64(),
        latencies,
        missing,
    }
}

/// `evm_mine` back to back, optionally with transfers sent before each; announcement = the
/// instant `evm_mine` returns.
fn mine_loop(driver: &Driver, blocks: u64, with_txs: bool) -> (Vec<(u64, Instant)>, Duration) {
    let head = driver.head();
    let mut announced = Vec::with_capacity(blocks as usize);
    let started = Instant::now();
    for i in 1..=blocks {
        if with_txs {
            driver.send_txs(head + i);
        }
        driver.call("evm_mine", json!([]));
        announced.push((head + i, Instant::now()));
    }
    let elapsed = started.elapsed();
    assert_eq!(driver.head(), head + blocks, "evm_mine loop");
    (announced, elapsed)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    if !full && !anvil_bin().exists() {
        println!(
            "rpc bench: {} not found (make services installs it); skipped",
            anvil_bin().display()
        );
        return;
    }
    let blocks = env_or("BENCH_RPC_BLOCKS", if full { 1_000 } else { 200 });
    let runs = if full { 2 } else { 1 };

    let anvil = Anvil::start(&["--accounts", "20", "--quiet"]);
    let driver = Driver::connect(&anvil.http_url());

    // Fill (not timed).
    let fill_started = Instant::now();
    for b in 1..=blocks {
        driver.send_txs(b);
        driver.call("anvil_mine", json!(["0x1", "0xc"]));
    }
    assert_eq!(driver.head(), blocks, "filled head");
    let fill = fill_started.elapsed();
    let url = anvil.http_url();

    let mut rows: Vec<(&str, usize, Measured)> = Vec::new();
    let mut ratios: Vec<(usize, f64)> = Vec::new();
    let mut replay_ratios: Vec<(usize, f64)> = Vec::new();
    for concurrency in [16usize, 4] {
        let raw = best(runs, || run_raw(&url, blocks, concurrency));
        let cf = best(runs, || run_chainflow(&url, blocks, concurrency));
        let replay = best(runs, || run_replay(&url, blocks, concurrency));
        let nc = best(runs, || run_node_client(&url, blocks, concurrency, true));
        let nc_fast = best(runs, || run_node_client(&url, blocks, concurrency, false));
        assert_eq!(
            cf.txs, raw.txs,
            "transactions counted by chainflow and by the raw fetch"
        );
        assert_eq!(replay.txs, raw.txs, "transactions replayed and fetched raw");
        ratios.push((concurrency, raw.wall.as_secs_f64() / cf.wall.as_secs_f64()));
        replay_ratios.push((
            concurrency,
            raw.wall.as_secs_f64() / replay.wall.as_secs_f64(),
        ));
        rows.push(("raw JSON-RPC (anchor)", concurrency, raw));
        rows.push(("chainflow (RpcSource + engine + GasFees)", concurrency, cf));
        rows.push(("chainflow replay (binary, JSONL sink)", concurrency, replay));
        rows.push(("NodeClient fetch+convert, no engine", concurrency, nc));
        rows.push(("NodeClient, verify_hashes off", concurrency, nc_fast));
    }
    let total_txs = rows[0].2.txs;
    println!(
        "rpc bench: anvil {}, {} blocks + genesis, {} txs ({} per block); filled in {:.1?} (not timed); best of {runs}",
        anvil_bin().display(),
        blocks,
        total_txs,
        TXS_PER_BLOCK,
        fill
    );
    println!();
    println!("| path | C | blocks/s | tx/s | ratio to raw | wall | client CPU | CPU/block |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (label, concurrency, m) in &rows {
        let anchor = rows
            .iter()
            .find(|r| r.1 == *concurrency)
            .map(|r| r.2.wall)
            .unwrap();
        let secs = m.wall.as_secs_f64();
        // The binary's CPU is another process's: not measured here.
        let cpu_of = if label.contains("binary") {
            None
        } else {
            m.cpu
        };
        let (cpu, per_block) = match cpu_of {
            Some(c) => (
                format!("{c:.2?}"),
                format!("{:.0?}", c / (blocks as u32 + 1)),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {label} | {concurrency} | {:.0} | {:.0} | {:.2}x | {:.2?} | {cpu} | {per_block} |",
            (blocks + 1) as f64 / secs,
            m.txs as f64 / secs,
            anchor.as_secs_f64() / secs,
            m.wall
        );
    }
    println!();
    for (concurrency, ratio) in &ratios {
        println!("chainflow / raw at C = {concurrency}: {ratio:.2}x  [goal >= 0.8x]");
    }
    for (concurrency, ratio) in &replay_ratios {
        println!(
            "chainflow replay / raw at C = {concurrency}: {ratio:.2}x  [goal >= 0.8x; the replay's wall includes process start and the JSONL writes]"
        );
    }

    // Latency: a follower at the head, then the node mines.
    let interval_blocks = if full { 30 } else { 5 };
    let loop_blocks = if full { 300 } else { 50 };
    let follower = Follower::start(&anvil.ws_url());
    let head = driver.head();
    assert!(
        follower.wait_for(head, Duration::from_secs(30)),
        "the follower did not reach the head {head}"
    );
    let watch = HeadWatch::start(&driver, &anvil.ws_url());

    let mut lat = Vec::new();
    // (a) one block per second, announced by our own newHeads subscription.
    let head = driver.head();
    watch.send_on_head.store(true, Ordering::Relaxed);
    driver.send_txs(head + 1);
    let started = Instant::now();
    driver.call("evm_setIntervalMining", json!([1]));
    while watch.count_after(head) < interval_blocks {
        if watch.count_after(head) + 1 >= interval_blocks {
            watch.send_on_head.store(false, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    driver.call("evm_setIntervalMining", json!([0]));
    let elapsed = started.elapsed();
    watch.send_on_head.store(false, Ordering::Relaxed);
    let announced: Vec<(u64, Instant)> = watch
        .announced
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, _)| **n > head)
        .map(|(n, at)| (*n, *at))
        .collect();
    lat.push(latency_row(
        "1 block/s (evm_setIntervalMining 1)",
        "own newHeads sub",
        TXS_PER_BLOCK,
        &announced,
        elapsed,
        &follower,
    ));
    // Let anything the interval miner still had in flight settle, then clear the pool.
    std::thread::sleep(Duration::from_millis(200));
    driver.call("evm_mine", json!([]));

    // (b) evm_mine back to back, empty blocks; (c) the same with 20 transfers per block.
    let (announced, elapsed) = mine_loop(&driver, loop_blocks, false);
    lat.push(latency_row(
        "evm_mine loop, empty blocks",
        "evm_mine returned",
        0,
        &announced,
        elapsed,
        &follower,
    ));
    let (announced, elapsed) = mine_loop(&driver, loop_blocks, true);
    lat.push(latency_row(
        "evm_mine loop, 20 transfers each",
        "evm_mine returned",
        TXS_PER_BLOCK,
        &announced,
        elapsed,
        &follower,
    ));
    watch.task.abort();
    drop(follower);

    println!();
    println!(
        "| latency mode | announcement | txs/block | blocks | node blocks/s | p50 | p99 | max | missing |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &lat {
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.1?} | {:.1?} | {:.1?} | {} |",
            r.mode,
            r.announced_by,
            r.txs_per_block,
            r.blocks,
            r.rate,
            percentile(&r.latencies, 50.0),
            percentile(&r.latencies, 99.0),
            r.latencies.last().copied().unwrap_or_default(),
            r.missing
        );
    }
    println!();
    println!(
        "latency at 1 block/s: p99 {:.1?}  [goal p99 < 50 ms]",
        percentile(&lat[0].latencies, 99.0)
    );
}
