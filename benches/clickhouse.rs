//! The ClickHouse sink against a real server: insert throughput beside `clickhouse-client`
//! inserting the same RowBinary bytes, and head-to-queryable latency of the `chainflow`
//! binary following anvil.
//!
//! `cargo bench --bench clickhouse` (`make bench` runs it after `gas_fees` and `rpc`). It needs
//! ClickHouse (`make services`: 18.16 on Debian) at `CHAINFLOW_CLICKHOUSE_URL` (default
//! `http://127.0.0.1:8123`), native port 9000 on 127.0.0.1 for `clickhouse-client`
//! (`$CLICKHOUSE_CLIENT`, else `clickhouse-client` on the `PATH`), and anvil (`$ANVIL` or
//! `tools/bin/anvil`). Without `--bench` (as under `cargo test --all-targets`) it runs a small
//! size (20,000 rows at 1,000 and 10,000 rows per insert, 5 latency blocks) and skips, with a
//! line saying so, whatever service is missing; with `--bench` a missing service is an error.
//!
//! Rows: `BENCH_CH_ROWS` (default 200,000; a multiple of 100,000) `gas_fees_blocks` rows from
//! the devnet (seed 2026, 20 transactions per block on average, no reorgs), computed by
//! `gas_fees::recompute`, one block per epoch (epoch = row index + 1), cut into
//! `OutputBatch`es of 1,000 rows as the engine's release operator would hand them over. Not
//! timed. Every run inserts all of them into a freshly dropped and migrated database
//! (`cf_bench`), so no run meets another's parts or merges.
//!
//! Throughput, at R = 1,000, 10,000 and 100,000 rows per insert (N / R inserts each):
//! - `chainflow`: the real path. `ClickHouseSink::open` with `batch_rows = R` (and `batch_ms`
//!   an hour, so only the row count flushes), then `commit` of every batch and a last `flush`.
//!   Each flush sends one `INSERT INTO cf_bench.gas_fees_blocks (...) FORMAT RowBinary` of
//!   exactly R rows (lz4-compressed HTTP body, keep-alive connection) followed by one
//!   one-row `chainflow_progress` insert, so the sink makes 2 N / R inserts. Timed from the
//!   first `commit` to the return of the last `flush`: encoding (`rows_to_write` +
//!   `encode_row`), compression and both inserts included.
//! - `clickhouse-client` (the anchor): the same rows encoded in advance (not timed) by the same
//!   `rows_to_write` + `encode_row`, with the wei encoding the sink picks for this server
//!   (`UInt128` from 21.6, else decimal strings: 18.16; the sink keeps its choice private, so
//!   the bench derives it from `migrate::server_version` as the sink does), one file per
//!   insert; then, one after another, `clickhouse-client --host 127.0.0.1 --port 9000 --query
//!   "INSERT INTO cf_bench.gas_fees_blocks (<encode::column_list>) FORMAT RowBinary" < file`.
//!   Timed from the first spawn to the last exit: every insert pays a process start (tens of
//!   milliseconds; `SELECT 1` through the client is timed and printed), which dominates at
//!   small R, and the client parses the RowBinary into native blocks itself. No progress
//!   inserts. The goal is chainflow / clickhouse-client >= 0.8x at every R.
//! - `HTTP POST`: the same in-memory bytes POSTed one insert at a time to `/?query=INSERT ...`
//!   (uncompressed, a fresh connection per insert, no progress): the server's own cost,
//!   without a process start or any client-side work.
//! - `HTTP POST + progress row`: the same, each data insert followed by a one-row insert into
//!   `chainflow_progress` as the sink writes it: what the sink's inserts cost without its
//!   encoding and compression. The difference to `HTTP POST` is the price of the progress
//!   insert (on 18.16 a one-row insert costs about as much as a 1,000-row one).
//! - `encode only`: `rows_to_write` + `encode_row` of all the rows into memory, the CPU part of
//!   the sink's time (measured while preparing the anchor's files). The sink encodes a whole
//!   batch before sending it, so this time adds to the insert's.
//!
//! Each configuration runs `BENCH_CH_RUNS` times (default 3; 1 without `--bench`), the paths
//! taking turns; the fastest run is reported. After every run the bench checks, right after
//! the inserts, that `count()`, `uniqExact(chain_id, block_number)` of
//! `cf_bench.gas_fees_blocks` and `sum(rows)` of its active parts in `system.parts` all equal
//! N (the keys are distinct, so a merge cannot lower them) and that
//! `sum(cityHash64(<every column>))` equals the first run's, so every path stored exactly the
//! same rows; for `chainflow` also that it made 2 N / R inserts and that `max(upper_epoch)` of
//! `chainflow_progress` is N + 1. `delayed` is the increase of the server's `DelayedInserts`
//! counter over all runs of a path: inserts ClickHouse slowed down for too many parts
//! (`parts_to_delay_insert`), which would skew small R; it should stay 0.
//!
//! Latency: anvil (`--no-mining --hardfork prague`, a free port), a fresh migrated database
//! `cf_bench_latency`, then the `chainflow` binary built with this bench
//! (`CARGO_BIN_EXE_chainflow`): `run --rpc ws://... --clickhouse URL --quiet`, database and
//! `batch_ms` from `CHAINFLOW_SINKS__CLICKHOUSE__*`, first at `batch_ms = 200`, then at the
//! default (1,000), each with its own anvil and database. Once block 0 is visible, the bench
//! mines `BENCH_CH_LATENCY_BLOCKS` (default 60; 5 without `--bench`) empty blocks with
//! `evm_mine`, one per second on a fixed schedule, and a second thread polls
//! `SELECT count() FROM cf_bench_latency.gas_fees_blocks_current WHERE block_number = n` every
//! 5 ms (a new connection per poll) for the next block not yet seen. Latency = the instant the
//! poll that first sees block n returns minus the instant `evm_mine` returned (an upper bound
//! by one poll, ~1-3 ms). The path: anvil's `newHeads` over ws, the block and its receipts
//! fetched from the node, the engine and `GasFees`, the sink's `batch_ms` wait (counted from
//! the first buffered batch), the `gas_fees_blocks` insert, the `FINAL` view. With 60 blocks
//! p99 is the largest. Runs at `batch_ms` 200 and at the default (500 ms): a block either
//! rides the pending flush of the previous one (tens of milliseconds) or waits the window, so
//! the figures can be bimodal; the max is the figure to read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;
use common::{Anvil, anvil_bin, env_or, percentile};

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chainflow::dataflows::gas_fees::{self, GasFees};
use chainflow::engine::dataflow::{Dataflow, OutputSpec, Row};
use chainflow::model::Block;
use chainflow::sinks::clickhouse::encode::{self, WeiEncoding};
use chainflow::sinks::clickhouse::{ClickHouseConfig, ClickHouseSink, migrate};
use chainflow::sinks::{OutputBatch, Sink};
use chainflow::sources::devnet::{Devnet, DevnetConfig};

/// Database of the throughput runs (dropped and migrated before each run).
const DB: &str = "cf_bench";
/// Database of the latency runs.
const LATENCY_DB: &str = "cf_bench_latency";
/// Rows per `OutputBatch` handed to the sink.
const COMMIT_ROWS: usize = 1_000;
/// Native port of the server, for `clickhouse-client`.
const NATIVE_PORT: &str = "9000";

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Plain HTTP (ClickHouse queries, the HTTP anchor, anvil's JSON-RPC): one connection per request.

fn dechunk(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let bad = || std::io::Error::other("malformed chunked body");
    let mut out = Vec::new();
    loop {
        let end = data.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        let size = std::str::from_utf8(&data[..end]).map_err(|_| bad())?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad())?;
        data = &data[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(bad());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// POSTs `body` to `http://{addr}{path}` on a fresh connection; the status code and the body.
fn http_post(
    addr: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    s.set_nodelay(true)?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if body.len() < 64 * 1024 {
        s.write_all(&[head.as_bytes(), body].concat())?;
    } else {
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
    }
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header in the answer"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body)?;
    }
    Ok((status, body))
}

fn ch_url() -> String {
    std::env::var("CHAINFLOW_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// `host:port` of the server's HTTP interface.
fn ch_addr() -> String {
    ch_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// Runs `sql`; the body, or the server's message.
fn try_query(sql: &str) -> Result<String, String> {
    match http_post(&ch_addr(), "/", "text/plain", sql.as_bytes()) {
        Ok((200, body)) => Ok(String::from_utf8_lossy(&body).into_owned()),
        Ok((status, body)) => Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body).trim()
        )),
        Err(e) => Err(format!("{}: {e}", ch_url())),
    }
}

/// Runs `sql`; panics with the server's message on an error.
fn query(sql: &str) -> String {
    try_query(sql).unwrap_or_else(|e| panic!("clickhouse: {sql}\n{e}"))
}

fn query_u64(sql: &str) -> u64 {
    let text = query(sql);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number from {sql}: {text:?}"))
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn config(database: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: ch_url(),
        database: database.into(),
        ..ClickHouseConfig::default()
    }
}

/// Drops `database` and migrates it afresh; waits until the server runs no merge.
fn fresh_database(database: &str) {
    query(&format!("DROP DATABASE IF EXISTS {database}"));
    let applied = runtime()
        .block_on(migrate::migrate(&config(database).client(), database))
        .unwrap();
    assert!(!applied.is_empty(), "migrations applied to {database}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while query_u64("SELECT count() FROM system.merges") > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The wei encoding the sink picks for this server (the sink keeps its choice private).
fn wei_encoding() -> WeiEncoding {
    let version = runtime()
        .block_on(migrate::server_version(&config(DB).client()))
        .unwrap();
    if version.has_uint128() {
        WeiEncoding::UInt128
    } else {
        WeiEncoding::Decimal
    }
}

/// The 1-minute load average (`/proc/loadavg`), to tell a quiet machine from a busy one.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "-".into())
}

fn delayed_inserts() -> u64 {
    query("SELECT sum(value) FROM system.events WHERE event = 'DelayedInserts'")
        .trim()
        .parse()
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Throughput.

/// `n` rows of `gas_fees_blocks` from the devnet, in `OutputBatch`es of `COMMIT_ROWS`.
fn devnet_batches(spec: OutputSpec, n: usize) -> Vec<OutputBatch> {
    let devnet = DevnetConfig {
        seed: 2026,
        block_time_ms: 0,
        max_blocks: Some(n as u64),
        txs_per_block: 20,
        reorg_rate: 0.0,
        ..DevnetConfig::default()
    };
    let chain_id = devnet.chain_id;
    let mut rows = Vec::with_capacity(n);
    let mut chunk: Vec<Block> = Vec::with_capacity(COMMIT_ROWS);
    for event in Devnet::new(devnet).unwrap() {
        chunk.extend(event.unwrap().event.new_blocks().iter().cloned());
        if chunk.len() >= COMMIT_ROWS {
            // Block rows depend on their block only: recompute a chunk at a time.
            rows.extend(
                gas_fees::recompute(&chunk)
                    .blocks
                    .iter()
                    .map(|r| r.values()),
            );
            chunk.clear();
        }
        if rows.len() >= n {
            break;
        }
    }
    rows.extend(
        gas_fees::recompute(&chunk)
            .blocks
            .iter()
            .map(|r| r.values()),
    );
    rows.truncate(n);
    assert_eq!(rows.len(), n, "devnet rows");
    let finalized = Arc::new(BTreeMap::from([(chain_id, 0u64)]));
    let mut batches = Vec::new();
    let mut epoch = 1;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let lower = epoch;
        let updates: Vec<_> = rows
            .by_ref()
            .take(COMMIT_ROWS)
            .map(|r| {
                epoch += 1;
                (r, epoch - 1, 1)
            })
            .collect();
        batches.push(OutputBatch {
            output: spec,
            lower,
            upper: epoch,
            updates,
            finalized: Arc::clone(&finalized),
            caught_up: true,
            errors: Vec::new(),
        });
    }
    batches
}

/// The RowBinary body of every insert of `per_insert` rows, as the sink encodes them.
fn encode_inserts(
    spec: &OutputSpec,
    batches: &[OutputBatch],
    per_insert: usize,
    wei: WeiEncoding,
) -> Vec<Vec<u8>> {
    batches
        .chunks(per_insert / COMMIT_ROWS)
        .map(|group| {
            let mut out = Vec::new();
            for b in group {
                for (row, version, deleted) in encode::rows_to_write(spec, &b.updates) {
                    encode::encode_row(spec, row, version, deleted, wei, &mut out).unwrap();
                }
            }
            out
        })
        .collect()
}

/// What a run stored, checked against the expected row count; the content checksum.
fn verify(spec: &OutputSpec, rows: u64, what: &str) -> u64 {
    let mut cols: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
    cols.extend(["version", "deleted"]);
    let text = query(&format!(
        "SELECT count(), uniqExact(chain_id, block_number), sum(cityHash64({})) FROM {DB}.{} FORMAT TabSeparated",
        cols.join(", "),
        spec.name
    ));
    let fields: Vec<u64> = text
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    let parts = query_u64(&format!(
        "SELECT sum(rows) FROM system.parts WHERE database = '{DB}' AND table = '{}' AND active",
        spec.name
    ));
    assert_eq!(
        (fields[0], fields[1], parts),
        (rows, rows, rows),
        "{what}: count(), distinct keys and rows of active parts"
    );
    fields[2]
}

fn client_bin() -> PathBuf {
    std::env::var_os("CLICKHOUSE_CLIENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("clickhouse-client"))
}

/// `clickhouse-client` running `sql` against the server's native port.
fn client_command(sql: &str) -> Command {
    let mut cmd = Command::new(client_bin());
    cmd.args(["--host", "127.0.0.1", "--port", NATIVE_PORT])
        .arg("--query")
        .arg(sql);
    cmd
}

fn client_works() -> bool {
    client_command("SELECT 1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Wall time of `clickhouse-client ... --query "SELECT 1"`: the floor of every anchor insert.
fn client_start_p50() -> Duration {
    let mut times: Vec<Duration> = (0..10)
        .map(|_| {
            let started = Instant::now();
            assert!(client_works(), "clickhouse-client SELECT 1");
            started.elapsed()
        })
        .collect();
    times.sort();
    percentile(&times, 50.0)
}

fn run_chainflow(spec: &OutputSpec, batches: &[OutputBatch], per_insert: usize) -> Duration {
    let rows = batches.iter().map(|b| b.updates.len()).sum::<usize>() as u64;
    let mut config = config(DB);
    config.delivery.batch_rows = per_insert;
    config.delivery.batch_ms = 3_600_000;
    let mut sink = ClickHouseSink::open(config).unwrap();
    let started = Instant::now();
    for b in batches {
        sink.commit(b).unwrap();
    }
    sink.flush().unwrap();
    let elapsed = started.elapsed();
    let inserts = rows / per_insert as u64;
    assert_eq!(
        sink.written(),
        (rows, 2 * inserts),
        "rows written, and one data and one progress insert per flush"
    );
    assert_eq!(
        query_u64(&format!(
            "SELECT max(upper_epoch) FROM {DB}.chainflow_progress WHERE output = '{}'",
            spec.name
        )),
        rows + 1,
        "committed progress"
    );
    elapsed
}

fn insert_sql(spec: &OutputSpec) -> String {
    format!(
        "INSERT INTO {DB}.{} ({}) FORMAT RowBinary",
        spec.name,
        encode::column_list(spec)
    )
}

fn run_client(spec: &OutputSpec, files: &[PathBuf]) -> Duration {
    let sql = insert_sql(spec);
    let started = Instant::now();
    for file in files {
        let out = client_command(&sql)
            .stdin(std::fs::File::open(file).unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "clickhouse-client < {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    started.elapsed()
}

/// POSTs every body; with `progress`, each is followed by a one-row insert into
/// `chainflow_progress` as the sink writes it (output, upper epoch, finalized JSON, time).
fn run_http(spec: &OutputSpec, bodies: &[Vec<u8>], progress: bool) -> Duration {
    let path = format!("/?query={}", url_encode(&insert_sql(spec)));
    let progress_path = format!(
        "/?query={}",
        url_encode(&format!(
            "INSERT INTO {DB}.chainflow_progress (output, upper_epoch, finalized, committed_at) FORMAT RowBinary"
        ))
    );
    let addr = ch_addr();
    let post = |path: &str, body: &[u8]| {
        let (status, answer) = http_post(&addr, path, "application/octet-stream", body).unwrap();
        assert_eq!(
            status,
            200,
            "HTTP insert: {}",
            String::from_utf8_lossy(&answer)
        );
    };
    let started = Instant::now();
    for (i, body) in bodies.iter().enumerate() {
        post(&path, body);
        if progress {
            let mut row = Vec::new();
            encode::string(spec.name, &mut row);
            row.extend_from_slice(&(i as u64 + 1).to_le_bytes());
            encode::string(r#"{"1":0}"#, &mut row);
            row.extend_from_slice(&1_800_000_000u32.to_le_bytes());
            post(&progress_path, &row);
        }
    }
    started.elapsed()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Client,
    Http,
    HttpProgress,
    Chainflow,
}

impl Route {
    fn label(self) -> &'static str {
        match self {
            Route::Client => "clickhouse-client (anchor)",
            Route::Http => "HTTP POST RowBinary",
            Route::HttpProgress => "HTTP POST + progress row",
            Route::Chainflow => "chainflow ClickHouseSink",
        }
    }
}

struct Measured {
    per_insert: usize,
    path: Route,
    wall: Duration,
    delayed: u64,
}

// ---------------------------------------------------------------------------------------------
// Latency.

impl Anvil {
    fn call(&self, method: &str, params: &str) -> serde_json::Value {
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
        let (status, answer) = http_post(
            &format!("127.0.0.1:{}", self.port),
            "/",
            "application/json",
            body.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{method}: {e}"));
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert!(
            status == 200 && answer.get("result").is_some(),
            "{method}: HTTP {status} {answer}"
        );
        answer["result"].clone()
    }

    fn head(&self) -> u64 {
        let v = self.call("eth_blockNumber", "[]");
        u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }
}

/// The `chainflow` binary following a node into ClickHouse; killed on drop.
struct Follower {
    child: Child,
    log: PathBuf,
}

impl Follower {
    fn start(ws_url: &str, batch_ms: Option<u64>, log: &Path) -> Follower {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chainflow"));
        cmd.args(["run", "--rpc", ws_url, "--clickhouse", &ch_url(), "--quiet"])
            .env("CHAINFLOW_SINKS__CLICKHOUSE__DATABASE", LATENCY_DB)
            .env_remove("CHAINFLOW_SINKS__CLICKHOUSE__BATCH_MS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap());
        if let Some(ms) = batch_ms {
            cmd.env("CHAINFLOW_SINKS__CLICKHOUSE__BATCH_MS", ms.to_string());
        }
        Follower {
            child: cmd.spawn().unwrap(),
            log: log.to_path_buf(),
        }
    }

    /// Panics with the log if the process has ended.
    fn check_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "chainflow exited ({status}):\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn visible(n: u64) -> bool {
    query_u64(&format!(
        "SELECT count() FROM {LATENCY_DB}.gas_fees_blocks_current WHERE block_number = {n}"
    )) > 0
}

struct LatencyRow {
    batch_ms: String,
    blocks: usize,
    latencies: Vec<Duration>,
    missing: usize,
}

fn run_latency(blocks: u64, batch_ms: Option<u64>, dir: &Path) -> LatencyRow {
    let anvil = Anvil::start(&["--quiet"]);
    fresh_database(LATENCY_DB);
    let label = batch_ms.map_or("default".to_string(), |ms| ms.to_string());
    let mut follower = Follower::start(
        &anvil.ws_url(),
        batch_ms,
        &dir.join(format!("chainflow-{label}.log")),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !visible(0) {
        follower.check_alive();
        assert!(Instant::now() < deadline, "block 0 not visible within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The poller: the next block not yet seen, every 5 ms.
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 1;
            while n <= blocks && !stop.load(Ordering::Relaxed) {
                if visible(n) {
                    seen.lock().unwrap().push(Instant::now());
                    n += 1;
                } else {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        })
    };
    let started = Instant::now();
    let mut mined = Vec::with_capacity(blocks as usize);
    for i in 0..blocks {
        let at = started + Duration::from_secs(i);
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        anvil.call("evm_mine", "[]");
        mined.push(Instant::now());
    }
    assert_eq!(anvil.head(), blocks, "blocks mined");
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().len() < blocks as usize && Instant::now() < deadline {
        follower.check_alive();
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    poller.join().unwrap();
    drop(follower);
    let seen = seen.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = mined
        .iter()
        .zip(&seen)
        .map(|(m, s)| s.saturating_duration_since(*m))
        .collect();
    latencies.sort();
    LatencyRow {
        batch_ms: batch_ms.map_or("500 (default)".into(), |ms| ms.to_string()),
        blocks: blocks as usize,
        missing: blocks as usize - seen.len(),
        latencies,
    }
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    if let Err(e) = try_query("SELECT 1") {
        assert!(
            !full,
            "clickhouse bench: no ClickHouse at {} ({e}); `make services` starts it",
            ch_url()
        );
        println!(
            "clickhouse bench: no ClickHouse at {} ({e}); skipped",
            ch_url()
        );
        return;
    }
    let rows = env_or("BENCH_CH_ROWS", if full { 200_000 } else { 20_000 }) as usize;
    let runs = env_or("BENCH_CH_RUNS", if full { 3 } else { 1 }).max(1);
    let sizes: Vec<usize> = [1_000, 10_000, 100_000]
        .into_iter()
        .filter(|&s| s <= rows)
        .collect();
    assert!(
        sizes.iter().all(|&s| rows.is_multiple_of(s)),
        "BENCH_CH_ROWS={rows} must be a multiple of every size in {sizes:?}"
    );
    let spec = GasFees
        .outputs()
        .into_iter()
        .find(|s| s.name == gas_fees::BLOCKS)
        .unwrap();
    let server = query("SELECT version()").trim().to_string();
    let has_client = client_works();
    assert!(
        has_client || !full,
        "clickhouse bench: `{} --port {NATIVE_PORT}` does not work (set CLICKHOUSE_CLIENT)",
        client_bin().display()
    );
    let wei = wei_encoding();

    let load_at_start = load_average();
    let gen_started = Instant::now();
    let batches = devnet_batches(spec, rows);
    let generated = gen_started.elapsed();
    let dir = tempfile::tempdir().unwrap();
    let client_start = has_client.then(client_start_p50);

    let mut measured: Vec<Measured> = Vec::new();
    let mut encode_times: Vec<(usize, Duration, usize)> = Vec::new();
    let mut checksum: Option<u64> = None;
    for &per_insert in &sizes {
        let encode_started = Instant::now();
        let bodies = encode_inserts(&spec, &batches, per_insert, wei);
        let encode_time = encode_started.elapsed();
        let bytes: usize = bodies.iter().map(Vec::len).sum();
        encode_times.push((per_insert, encode_time, bytes));
        let files: Vec<PathBuf> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let path = dir
                    .path()
                    .join(format!("insert-{per_insert}-{i}.rowbinary"));
                std::fs::write(&path, body).unwrap();
                path
            })
            .collect();
        let mut paths = vec![Route::Http, Route::HttpProgress, Route::Chainflow];
        if has_client {
            paths.insert(0, Route::Client);
        }
        // Runs interleave the paths, so a slow spell of the machine hits them all alike.
        let mut best: Vec<Measured> = Vec::new();
        for run in 0..runs {
            for &path in &paths {
                fresh_database(DB);
                let delayed_before = delayed_inserts();
                let wall = match path {
                    Route::Client => run_client(&spec, &files),
                    Route::Http => run_http(&spec, &bodies, false),
                    Route::HttpProgress => run_http(&spec, &bodies, true),
                    Route::Chainflow => run_chainflow(&spec, &batches, per_insert),
                };
                let delayed = delayed_inserts() - delayed_before;
                let what = format!("{} at {per_insert} rows/insert, run {run}", path.label());
                let sum = verify(&spec, rows as u64, &what);
                assert_eq!(
                    *checksum.get_or_insert(sum),
                    sum,
                    "{what}: stored rows differ from the first run's"
                );
                match best.iter_mut().find(|m| m.path == path) {
                    Some(b) => {
                        b.wall = b.wall.min(wall);
                        b.delayed += delayed;
                    }
                    None => best.push(Measured {
                        per_insert,
                        path,
                        wall,
                        delayed,
                    }),
                }
            }
        }
        measured.extend(best);
        for file in files {
            std::fs::remove_file(file).unwrap();
        }
    }
    query(&format!("DROP DATABASE IF EXISTS {DB}"));

    println!(
        "clickhouse bench: server {server} at {}, wei as {wei:?}; {} gas_fees_blocks rows from the devnet (generated in {generated:.1?}, not timed), {} rows per OutputBatch; best of {runs}",
        ch_url(),
        thousands(rows as u64),
        COMMIT_ROWS
    );
    println!(
        "load average (1 min) before / after the throughput runs: {load_at_start} / {} on {} CPUs",
        load_average(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    match client_start {
        Some(t) => {
            println!("clickhouse-client process start (`--query \"SELECT 1\"`, p50 of 10): {t:.1?}")
        }
        None => println!(
            "clickhouse-client: `{}` not usable; anchor skipped",
            client_bin().display()
        ),
    }
    println!();
    println!(
        "| rows/insert | inserts | path | rows/s | ratio to clickhouse-client | ratio to HTTP POST | wall | delayed |"
    );
    println!("|---:|---:|---|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for &per_insert in &sizes {
        let of = |p: Route| {
            measured
                .iter()
                .find(|m| m.per_insert == per_insert && m.path == p)
        };
        let inserts = rows / per_insert;
        let rate = |wall: Duration| rows as f64 / wall.as_secs_f64();
        let ratio = |wall: Duration, p: Route| {
            of(p).map_or("-".into(), |a| {
                format!("{:.2}x", a.wall.as_secs_f64() / wall.as_secs_f64())
            })
        };
        for m in measured.iter().filter(|m| m.per_insert == per_insert) {
            println!(
                "| {} | {} | {} | {} | {} | {} | {:.2?} | {} |",
                thousands(per_insert as u64),
                inserts,
                m.path.label(),
                thousands(rate(m.wall) as u64),
                ratio(m.wall, Route::Client),
                ratio(m.wall, Route::Http),
                m.wall,
                m.delayed
            );
        }
        let (_, encode_time, bytes) = encode_times
            .iter()
            .find(|e| e.0 == per_insert)
            .copied()
            .unwrap();
        println!(
            "| {} | {} | encode only ({:.0} bytes/row) | {} | - | - | {encode_time:.2?} | - |",
            thousands(per_insert as u64),
            inserts,
            bytes as f64 / rows as f64,
            thousands(rate(encode_time) as u64),
        );
        if let (Some(cf), Some(anchor)) = (of(Route::Chainflow), of(Route::Client)) {
            ratios.push((
                per_insert,
                anchor.wall.as_secs_f64() / cf.wall.as_secs_f64(),
            ));
        }
    }
    println!();
    for (per_insert, ratio) in &ratios {
        println!(
            "chainflow / clickhouse-client at {} rows/insert: {ratio:.2}x  [goal >= 0.8x]",
            thousands(*per_insert as u64)
        );
    }

    // Latency: the binary following anvil, at batch_ms 200 and the default.
    if !anvil_bin().exists() {
        assert!(!full, "{} not found (make services)", anvil_bin().display());
        println!();
        println!(
            "latency: {} not found (make services installs it); skipped",
            anvil_bin().display()
        );
        return;
    }
    let blocks = env_or("BENCH_CH_LATENCY_BLOCKS", if full { 60 } else { 5 });
    let lat: Vec<LatencyRow> = [Some(200), None]
        .into_iter()
        .map(|ms| run_latency(blocks, ms, dir.path()))
        .collect();
    query(&format!("DROP DATABASE IF EXISTS {LATENCY_DB}"));
    println!();
    println!(
        "| head-to-queryable, `chainflow run --rpc ws://` at 1 block/s | batch_ms | blocks | min | p50 | p99 | max | missing |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &lat {
        println!(
            "| evm_mine returned -> row in gas_fees_blocks_current | {} | {} | {:.1?} | {:.1?} | {:.1?} | {:.1?} | {} |",
            r.batch_ms,
            r.blocks,
            r.latencies.first().copied().unwrap_or_default(),
            percentile(&r.latencies, 50.0),
            percentile(&r.latencies, 99.0),
            r.latencies.last().copied().unwrap_or_default(),
            r.missing
        );
    }
    println!();
    println!(
        "load average (1 min) after the latency runs: {}",
        load_average()
    );
}
