//! The PostgreSQL sink against a real server: insert-heavy throughput beside `psql \copy` of
//! the same rows, and the cost of a reorg.
//!
//! `cargo bench --bench postgres` (`make bench` runs it after `rpc`). The server is
//! `CHAINFLOW_TEST_POSTGRES`, else `CHAINFLOW_POSTGRES_URL` from the environment or from
//! `.services/env` (written by `make services`), else the sink's default URL; `psql` must be
//! on the `PATH`. When either is missing the run is skipped with a message. Environment:
//! `BENCH_PG_ROWS` (rows per configuration, default 200000; 4000 without `--bench`, as under
//! `cargo test --all-targets`, where the transaction sizes are 1000 and 2000 rows instead of
//! 10000 and 100000), `BENCH_PG_REORG_BLOCKS` (default 10000; 1000 without `--bench`).
//!
//! Rows: real `gas_fees_blocks` rows, from `gas_fees::recompute` over a devnet chain without
//! reorgs (seed 2026, 20 transactions per block; generated, not timed), one epoch per block,
//! handed over as `OutputBatch`es of 1000 epochs (100 without `--bench`) like the engine's
//! release operator makes them. Every row is a new key (insert-heavy). Every configuration
//! starts from a fresh schema (`DROP SCHEMA ... CASCADE`, then `migrate` with
//! `TimescaleSetting::Off`: plain tables with their primary keys) and a `CHECKPOINT`.
//!
//! Throughput, per transaction size S (rows per transaction):
//! - `chainflow`: the real path. `PostgresSink::open` (not timed) with `batch_rows = S` and
//!   `batch_ms` an hour, then `commit` of every batch and a final `flush`; the sink flushes
//!   every S rows, so each transaction carries S rows: COPY text into the session's staging
//!   table, `DELETE ... USING` the staged keys, `INSERT ... SELECT`, the progress row, COMMIT.
//!   Timed from the first `commit` to the end of the last `flush`, so the sink's encoding,
//!   its per-key buffer and the encode check in `commit` are included. One connection.
//! - `psql \copy` (the anchor): the identical rows (the sink's own `encode_row`, version =
//!   epoch) written to one COPY text file per transaction before timing, then
//!   `psql -X -q -v ON_ERROR_STOP=1 <url> -c "\copy <schema>.gas_fees_blocks (cols..., version)
//!   FROM '<file>'"` per file, one after another. The timing includes each psql process start
//!   and its connection (about 50 ms per file on a small machine: see the `psql process start`
//!   line), which flatters chainflow at small S. Each `\copy` is one transaction.
//!
//!   Both tables are checked afterwards: the row count, and that they hold identical rows
//!   (`EXCEPT` both ways). Each configuration runs twice, alternating the paths; the faster
//!   run is reported. The goal is chainflow / psql >= 0.8x.
//!
//!   `psql process start` (median of 9 runs of `psql -c "SELECT 1"`, 3 without `--bench`) is
//!   what each file adds to the anchor; the ratio is also shown against the anchor minus it.
//!   `client CPU`: user + system CPU during the run (`/proc/self/stat`, 10 ms ticks): the bench
//!   process's own for chainflow, its waited-for psql children's for the anchor; the server's
//!   CPU is not counted (the server shares the machine).
//! - `commit() only`: the CPU part of the sink alone: the same batches `commit`ted to a sink
//!   with `batch_rows` larger than the run (nothing is flushed or written): the
//!   retraction/insertion pairing, the encode check and the per-key `BTreeMap`.
//!
//! Reorg: `BENCH_PG_REORG_BLOCKS` blocks loaded through the sink (10000-row transactions), then
//! per repetition one `OutputBatch` at a fresh epoch above every loaded one that replaces the
//! last D blocks: for each of the last D current rows a retraction `(old, e, -1)` and a changed
//! row `(new, e, +1)` (another block hash, parent hashes chained through the new branch, gas
//! used + 1 + repetition), sorted as the engine sorts (retractions first, then by row), then
//! `flush`. Reported: the rows the sink wrote (`written()` delta: one per changed key) and the
//! milliseconds of `commit` + `flush` (median, min and max of 9 repetitions; 3 without
//! `--bench`), for D = 64 (the finality window) and D = 1 (the fixed cost of a transaction:
//! BEGIN, COPY, DELETE, INSERT, the progress upsert, and a COMMIT that waits for the WAL
//! flush under the server's `synchronous_commit`).
//! Afterwards the table must hold exactly the last repetition's rows.
//!
//! Tables: every measurement runs on plain tables and, when the server has TimescaleDB
//! preloaded (`make services` sets it up), on the hypertables of the same migrations
//! (`TimescaleSetting::Require`), in the same run: the sink and the `psql \copy` anchor into
//! hypertables, and the reorgs on hypertables twice, once as loaded and once with every chunk
//! compressed before each repetition (`compress_chunk`, not timed), so the retracted rows and
//! the new branch land in a compressed chunk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;
use common::env_or;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chainflow::dataflows::gas_fees::{self, GasFees};
use chainflow::engine::dataflow::{Dataflow, OutputSpec, Row, RowValues, Value};
use chainflow::model::{B256, Epoch};
use chainflow::sinks::postgres::encode::{column_list, decode_row, encode_row, select_list};
use chainflow::sinks::postgres::migrate::{TimescaleSetting, migrate};
use chainflow::sinks::postgres::{PostgresConfig, PostgresSink};
use chainflow::sinks::{OutputBatch, Sink};
use chainflow::sources::devnet::DevnetConfig;

const SINK_SCHEMA: &str = "cf_bench_sink";
const COPY_SCHEMA: &str = "cf_bench_copy";
const REORG_SCHEMA: &str = "cf_bench_reorg";

/// What the tables of a measurement are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tables {
    /// Plain PostgreSQL tables.
    Plain,
    /// TimescaleDB hypertables, chunks as written.
    Hypertable,
    /// Hypertables whose chunks are all compressed before each timed step.
    Compressed,
}

impl Tables {
    fn setting(self) -> TimescaleSetting {
        match self {
            Tables::Plain => TimescaleSetting::Off,
            Tables::Hypertable | Tables::Compressed => TimescaleSetting::Require,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tables::Plain => "plain",
            Tables::Hypertable => "hypertable",
            Tables::Compressed => "hypertable, compressed",
        }
    }
}

/// Why hypertables cannot be measured here, if they cannot.
fn missing_timescale(url: &str) -> Option<String> {
    let mut c = client(url);
    match chainflow::sinks::postgres::migrate::probe(&mut c) {
        Ok(
            chainflow::sinks::postgres::migrate::Availability::Created { .. }
            | chainflow::sinks::postgres::migrate::Availability::Creatable { .. },
        ) => None,
        Ok(other) => Some(format!("TimescaleDB is not usable: {other:?}")),
        Err(e) => Some(e.to_string()),
    }
}

/// Compresses every chunk of `schema`'s hypertables (recompressing partly compressed ones).
fn compress_all(url: &str, schema: &str) {
    client(url)
        .batch_execute(&format!(
            "SELECT compress_chunk(format('%I.%I', chunk_schema, chunk_name)::regclass, true)
             FROM timescaledb_information.chunks WHERE hypertable_schema = '{schema}'"
        ))
        .unwrap();
}

/// The server: `CHAINFLOW_TEST_POSTGRES`, `CHAINFLOW_POSTGRES_URL`, `.services/env`, default.
fn url() -> String {
    common::services::service_url(
        &["CHAINFLOW_TEST_POSTGRES", "CHAINFLOW_POSTGRES_URL"],
        "CHAINFLOW_POSTGRES_URL",
        || PostgresConfig::default().url,
    )
}

/// Why the bench cannot run here, if it cannot.
fn missing_service(url: &str) -> Option<String> {
    let mut config: postgres::Config = match url.parse() {
        Ok(c) => c,
        Err(e) => return Some(format!("bad PostgreSQL URL {url}: {e}")),
    };
    config.connect_timeout(Duration::from_secs(3));
    if let Err(e) = config.connect(postgres::NoTls) {
        return Some(format!("PostgreSQL at {url} not reachable ({e})"));
    }
    match Command::new("psql").arg("--version").output() {
        Ok(out) if out.status.success() => None,
        _ => Some("psql not found on the PATH".into()),
    }
}

fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// Drops and migrates `schema` (plain tables or hypertables), then checkpoints so that every
/// timed run starts with a clean WAL (best effort: `CHECKPOINT` needs a privileged role).
fn fresh_schema(url: &str, schema: &str, tables: Tables) {
    let mut c = client(url);
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    let reconnect = || postgres::Client::connect(url, postgres::NoTls);
    let (_, mode) = migrate(&mut c, &reconnect, schema, tables.setting()).unwrap();
    assert_eq!(mode.is_timescale(), tables != Tables::Plain, "{mode}");
    let _ = c.batch_execute("CHECKPOINT");
}

fn count(url: &str, schema: &str) -> i64 {
    client(url)
        .query_one(
            &format!("SELECT count(*) FROM {schema}.gas_fees_blocks"),
            &[],
        )
        .unwrap()
        .get(0)
}

/// CPU time (user + system) from `/proc/self/stat` (clock ticks, assumed 100 per second):
/// this process's own, or that of its waited-for children (the psql processes). `None` off
/// Linux.
fn cpu(children: bool) -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let at = if children { 13 } else { 11 };
    let ticks: u64 =
        fields.get(at)?.parse::<u64>().ok()? + fields.get(at + 1)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// One timed run: wall time and the client side's CPU time during it.
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Option<Duration>,
}

impl Run {
    fn timed(children: bool, f: impl FnOnce()) -> Run {
        let cpu_before = cpu(children);
        let started = Instant::now();
        f();
        let wall = started.elapsed();
        let cpu = cpu(children).zip(cpu_before).map(|(a, b)| a - b);
        Run { wall, cpu }
    }

    fn faster(self, other: Run) -> Run {
        if other.wall < self.wall { other } else { self }
    }
}

/// `gas_fees_blocks` rows of a devnet chain without reorgs.
fn block_rows(blocks: u64) -> Vec<RowValues> {
    let chain = common::devnet_chain(blocks, DevnetConfig::default().chain_id);
    let rows = gas_fees::recompute(&chain).blocks;
    rows.iter().map(Row::values).collect()
}

fn finalized(chain: u64, height: u64) -> Arc<BTreeMap<u64, u64>> {
    Arc::new(BTreeMap::from([(chain, height.saturating_sub(64))]))
}

fn u64_at(row: &[Value], i: usize) -> u64 {
    match &row[i] {
        Value::U64(v) => *v,
        v => panic!("not a u64: {v:?}"),
    }
}

/// Insertions of `rows`, one epoch per row from `first_epoch`, `per_batch` epochs a batch.
fn insert_batches(
    spec: OutputSpec,
    rows: &[RowValues],
    first_epoch: Epoch,
    per_batch: usize,
) -> Vec<OutputBatch> {
    rows.chunks(per_batch)
        .enumerate()
        .map(|(i, chunk)| {
            let lower = first_epoch + (i * per_batch) as Epoch;
            let updates: Vec<(RowValues, Epoch, isize)> = chunk
                .iter()
                .enumerate()
                .map(|(j, row)| (row.clone(), lower + j as Epoch, 1))
                .collect();
            let last = chunk.last().unwrap();
            OutputBatch {
                output: spec,
                lower,
                upper: lower + chunk.len() as Epoch,
                updates,
                finalized: finalized(u64_at(last, 0), u64_at(last, 1)),
                caught_up: true,
                errors: Vec::new(),
            }
        })
        .collect()
}

fn sink_config(url: &str, schema: &str, batch_rows: usize, tables: Tables) -> PostgresConfig {
    let mut config = PostgresConfig {
        url: url.to_string(),
        schema: schema.to_string(),
        timescale: tables.setting(),
        ..PostgresConfig::default()
    };
    config.delivery.batch_rows = batch_rows;
    config.delivery.batch_ms = 3_600_000;
    config
}

/// The chainflow path: every batch through a fresh sink flushing every `per_txn` rows.
fn run_sink(
    url: &str,
    specs: &[OutputSpec],
    batches: &[OutputBatch],
    per_txn: usize,
    total: usize,
    tables: Tables,
) -> Run {
    fresh_schema(url, SINK_SCHEMA, tables);
    let mut sink =
        PostgresSink::open(sink_config(url, SINK_SCHEMA, per_txn, tables), specs).unwrap();
    let run = Run::timed(false, || {
        for b in batches {
            sink.commit(b).unwrap();
        }
        sink.flush().unwrap();
    });
    assert_eq!(
        sink.written(),
        (total as u64, (total / per_txn) as u64),
        "rows and transactions written by the sink"
    );
    assert_eq!(
        count(url, SINK_SCHEMA),
        total as i64,
        "rows in {SINK_SCHEMA}"
    );
    run
}

/// The anchor: one `psql \copy` process per file, sequentially.
fn run_psql(url: &str, files: &[PathBuf], list: &str, total: usize, tables: Tables) -> Run {
    fresh_schema(url, COPY_SCHEMA, tables);
    let run = Run::timed(true, || {
        for file in files {
            psql(
                url,
                &format!(
                    "\\copy {COPY_SCHEMA}.gas_fees_blocks ({list}, version) FROM '{}'",
                    file.display()
                ),
            );
        }
    });
    assert_eq!(
        count(url, COPY_SCHEMA),
        total as i64,
        "rows in {COPY_SCHEMA}"
    );
    run
}

/// Runs one psql process with `command`; panics when it fails.
fn psql(url: &str, command: &str) {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", command])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql -c {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Both schemas hold the same rows.
fn assert_same_rows(url: &str) {
    let differ = |a: &str, b: &str| -> i64 {
        client(url)
            .query_one(
                &format!(
                    "SELECT count(*) FROM (SELECT * FROM {a}.gas_fees_blocks
                     EXCEPT ALL SELECT * FROM {b}.gas_fees_blocks) d"
                ),
                &[],
            )
            .unwrap()
            .get(0)
    };
    assert_eq!(
        differ(SINK_SCHEMA, COPY_SCHEMA),
        0,
        "rows only chainflow wrote"
    );
    assert_eq!(differ(COPY_SCHEMA, SINK_SCHEMA), 0, "rows only psql wrote");
}

/// The CPU part of `commit`: buffering into a sink that never flushes.
fn run_commit_only(url: &str, specs: &[OutputSpec], batches: &[OutputBatch]) -> Run {
    fresh_schema(url, SINK_SCHEMA, Tables::Plain);
    let mut sink = PostgresSink::open(
        sink_config(url, SINK_SCHEMA, usize::MAX, Tables::Plain),
        specs,
    )
    .unwrap();
    let run = Run::timed(false, || {
        for b in batches {
            sink.commit(b).unwrap();
        }
    });
    assert_eq!(sink.written(), (0, 0));
    run
}

/// `row` on another branch: a new hash, `parent` as parent hash, more gas used.
fn reorged(row: &RowValues, spec: &OutputSpec, parent: Option<B256>, salt: u64) -> RowValues {
    let col = |name: &str| spec.columns.iter().position(|c| c.name == name).unwrap();
    let mut new = row.clone();
    let Value::Hash(hash) = row[col("block_hash")] else {
        panic!("block_hash is not a hash")
    };
    let mut bytes = hash.0;
    for (i, b) in salt.to_be_bytes().iter().enumerate() {
        bytes[i] ^= b ^ 0x5a;
    }
    new[col("block_hash")] = Value::Hash(B256::from(bytes));
    if let Some(p) = parent {
        new[col("parent_hash")] = Value::Hash(p);
    }
    let gas = col("gas_used");
    new[gas] = Value::U64(u64_at(row, gas) + 1 + salt);
    new
}

struct Reorg {
    tables: Tables,
    depth: usize,
    written: u64,
    txns: u64,
    times: Vec<Duration>,
}

fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

/// Loads `rows` through the sink, then replaces the last `depth` rows `reps` times.
fn run_reorg(
    url: &str,
    specs: &[OutputSpec],
    rows: &[RowValues],
    depth: usize,
    reps: u64,
    tables: Tables,
) -> Reorg {
    let spec = specs[0];
    fresh_schema(url, REORG_SCHEMA, tables);
    let load = rows.len().min(10_000);
    let mut sink = PostgresSink::open(sink_config(url, REORG_SCHEMA, load, tables), specs).unwrap();
    for b in insert_batches(spec, rows, 1, 1_000) {
        sink.commit(&b).unwrap();
    }
    sink.flush().unwrap();
    let mut current: Vec<RowValues> = rows[rows.len() - depth..].to_vec();
    let before = sink.written();
    let mut times = Vec::new();
    for rep in 0..reps {
        // Fresh epochs above every loaded one.
        let epoch = rows.len() as Epoch + 1 + rep;
        let hash_col = spec.columns.iter().position(|c| c.name == "block_hash");
        let mut parent = None;
        let new: Vec<RowValues> = current
            .iter()
            .map(|old| {
                let row = reorged(old, &spec, parent, rep);
                if let Some(Value::Hash(h)) = hash_col.map(|i| &row[i]) {
                    parent = Some(*h);
                }
                row
            })
            .collect();
        let mut updates: Vec<(RowValues, Epoch, isize)> = current
            .iter()
            .map(|r| (r.clone(), epoch, -1))
            .chain(new.iter().map(|r| (r.clone(), epoch, 1)))
            .collect();
        updates.sort_by(|a, b| (a.1, a.2, &a.0).cmp(&(b.1, b.2, &b.0)));
        let last = new.last().unwrap();
        let batch = OutputBatch {
            output: spec,
            lower: epoch,
            upper: epoch + 1,
            updates,
            finalized: finalized(u64_at(last, 0), u64_at(last, 1)),
            caught_up: true,
            errors: Vec::new(),
        };
        if tables == Tables::Compressed {
            compress_all(url, REORG_SCHEMA);
        }
        let started = Instant::now();
        sink.commit(&batch).unwrap();
        sink.flush().unwrap();
        times.push(started.elapsed());
        current = new;
    }
    let after = sink.written();
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (depth as u64 * reps, reps),
        "one row per changed key and one transaction per reorg"
    );
    // The table holds the loaded rows with the last `depth` replaced by the last repetition.
    assert_eq!(count(url, REORG_SCHEMA), rows.len() as i64);
    let first = u64_at(&current[0], 1) as i64;
    let mut stored: Vec<RowValues> = client(url)
        .query(
            &format!(
                "SELECT {} FROM {REORG_SCHEMA}.gas_fees_blocks WHERE block_number >= $1",
                select_list(&spec)
            ),
            &[&first],
        )
        .unwrap()
        .iter()
        .map(|r| {
            let texts: Vec<String> = (0..spec.columns.len()).map(|i| r.get(i)).collect();
            decode_row(&spec, &texts).unwrap()
        })
        .collect();
    stored.sort_by_key(|r| (u64_at(r, 0), u64_at(r, 1)));
    let differ = stored.iter().zip(&current).filter(|(a, b)| a != b).count();
    assert!(
        stored.len() == current.len() && differ == 0,
        "{REORG_SCHEMA} holds {} rows from block {first}, {differ} differ from the last reorg's {}",
        stored.len(),
        current.len()
    );
    assert_ne!(
        current[0],
        rows[rows.len() - depth],
        "the rows were replaced"
    );
    times.sort();
    Reorg {
        tables,
        depth,
        written: after.0 - before.0,
        txns: after.1 - before.1,
        times,
    }
}

struct Measured {
    path: &'static str,
    tables: Tables,
    per_txn: usize,
    rows: usize,
    run: Run,
    /// Whether the rows reached the table (not for `commit() only`).
    flushes: bool,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let url = url();
    if let Some(reason) = missing_service(&url) {
        println!("postgres bench: {reason} (make services sets it up); skipped");
        return;
    }
    let total = env_or("BENCH_PG_ROWS", if full { 200_000 } else { 4_000 }) as usize;
    let reorg_blocks = env_or("BENCH_PG_REORG_BLOCKS", if full { 10_000 } else { 1_000 }) as usize;
    let sizes: &[usize] = if full {
        &[10_000, 100_000]
    } else {
        &[1_000, 2_000]
    };
    let per_batch = if full { 1_000 } else { 100 };
    let runs = if full { 2 } else { 1 };
    let reorg_reps = if full { 9 } else { 3 };

    let specs = GasFees.outputs();
    let spec = *specs
        .iter()
        .find(|s| s.name == gas_fees::BLOCKS)
        .expect("gas_fees_blocks");
    let list = column_list(&spec);

    let gen_started = Instant::now();
    let all_rows = block_rows(total.max(reorg_blocks) as u64);
    let server: String = client(&url)
        .query_one("SHOW server_version", &[])
        .unwrap()
        .get(0);
    println!(
        "postgres bench: PostgreSQL {server} at {url}; {} gas_fees_blocks rows generated in {:.1?} (not timed); best of {runs}",
        all_rows.len(),
        gen_started.elapsed()
    );

    // What one psql process costs beyond its \copy: start, connect, a trivial statement.
    let mut starts: Vec<Duration> = (0..if full { 9 } else { 3 })
        .map(|_| Run::timed(true, || psql(&url, "SELECT 1")).wall)
        .collect();
    starts.sort();
    let psql_start = median(&starts);

    let hyper = match missing_timescale(&url) {
        None => true,
        Some(reason) => {
            println!("postgres bench: hypertables not measured: {reason}");
            false
        }
    };
    let kinds: Vec<Tables> = if hyper {
        vec![Tables::Plain, Tables::Hypertable]
    } else {
        vec![Tables::Plain]
    };

    let dir = tempfile::tempdir().unwrap();
    let mut measured = Vec::new();
    let mut ratios = Vec::new();
    for &per_txn in sizes {
        let n = total / per_txn * per_txn;
        assert!(n > 0, "BENCH_PG_ROWS={total} is below {per_txn} rows");
        let rows = &all_rows[..n];
        let batches = insert_batches(spec, rows, 1, per_batch.min(per_txn));
        // The anchor's files: the same rows and versions, one file per transaction.
        let mut files = Vec::new();
        for (i, chunk) in rows.chunks(per_txn).enumerate() {
            let mut text = String::with_capacity(chunk.len() * 400);
            for (j, row) in chunk.iter().enumerate() {
                let version = 1 + (i * per_txn + j) as Epoch;
                encode_row(&spec, row, version, &mut text).unwrap();
            }
            let path = dir.path().join(format!("rows_{per_txn}_{i}.tsv"));
            std::fs::write(&path, text).unwrap();
            files.push(path);
        }
        for &tables in &kinds {
            let mut best_psql = run_psql(&url, &files, &list, n, tables);
            let mut best_sink = run_sink(&url, &specs, &batches, per_txn, n, tables);
            for _ in 1..runs {
                best_psql = best_psql.faster(run_psql(&url, &files, &list, n, tables));
                best_sink = best_sink.faster(run_sink(&url, &specs, &batches, per_txn, n, tables));
            }
            assert_same_rows(&url);
            ratios.push((
                per_txn,
                tables,
                best_psql.wall.as_secs_f64() / best_sink.wall.as_secs_f64(),
            ));
            measured.push(Measured {
                path: "psql \\copy (anchor)",
                tables,
                per_txn,
                rows: n,
                run: best_psql,
                flushes: true,
            });
            measured.push(Measured {
                path: "chainflow PostgresSink",
                tables,
                per_txn,
                rows: n,
                run: best_sink,
                flushes: true,
            });
        }
        let commit_only = run_commit_only(&url, &specs, &batches);
        measured.push(Measured {
            path: "chainflow commit() only, no flush",
            tables: Tables::Plain,
            per_txn,
            rows: n,
            run: commit_only,
            flushes: false,
        });
        for f in files {
            std::fs::remove_file(f).unwrap();
        }
    }

    let reorg_rows = &all_rows[..reorg_blocks];
    let mut reorg_kinds = kinds.clone();
    if hyper {
        reorg_kinds.push(Tables::Compressed);
    }
    let mut reorgs: Vec<Reorg> = Vec::new();
    for depth in [64usize, 1] {
        for &tables in &reorg_kinds {
            reorgs.push(run_reorg(
                &url, &specs, reorg_rows, depth, reorg_reps, tables,
            ));
        }
    }
    for schema in [SINK_SCHEMA, COPY_SCHEMA, REORG_SCHEMA] {
        client(&url)
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap();
    }

    println!();
    println!(
        "| path | tables | rows/txn | txns | rows | wall | rows/s | ratio to psql | client CPU | CPU/row |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in &measured {
        let anchor = measured
            .iter()
            .find(|a| a.per_txn == m.per_txn && a.tables == m.tables)
            .map(|a| a.run.wall)
            .unwrap();
        let wall = m.run.wall;
        let (txns, ratio) = if m.flushes {
            (
                (m.rows / m.per_txn).to_string(),
                format!("{:.2}x", anchor.as_secs_f64() / wall.as_secs_f64()),
            )
        } else {
            ("0".into(), "-".into())
        };
        let (cpu, per_row) = match m.run.cpu {
            Some(c) => (
                format!("{c:.2?}"),
                format!("{:.2} µs", c.as_secs_f64() * 1e6 / m.rows as f64),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {} | {} | {txns} | {} | {wall:.2?} | {:.0} | {ratio} | {cpu} | {per_row} |",
            m.path,
            m.tables.label(),
            m.per_txn,
            m.rows,
            m.rows as f64 / wall.as_secs_f64(),
        );
    }
    println!();
    println!(
        "psql process start + connect + SELECT 1: median {psql_start:.1?} (once per file in the psql rows)"
    );
    for (per_txn, tables, ratio) in &ratios {
        let files = (total / per_txn) as u32;
        let find = |path: &str| {
            measured
                .iter()
                .find(|m| m.per_txn == *per_txn && m.tables == *tables && m.path.starts_with(path))
                .unwrap()
                .run
                .wall
        };
        let (psql, sink) = (find("psql"), find("chainflow PostgresSink"));
        let without_starts = psql.saturating_sub(psql_start * files);
        println!(
            "chainflow / psql \\copy at {per_txn} rows per transaction, {}: {ratio:.2}x  [goal >= 0.8x]; {:.2}x against psql without its {files} process starts",
            tables.label(),
            without_starts.as_secs_f64() / sink.as_secs_f64()
        );
    }
    if hyper {
        for &per_txn in sizes {
            let sink = |tables: Tables| {
                measured
                    .iter()
                    .find(|m| {
                        m.per_txn == per_txn
                            && m.tables == tables
                            && m.path.starts_with("chainflow PostgresSink")
                    })
                    .unwrap()
                    .run
                    .wall
            };
            println!(
                "chainflow into hypertables / into plain tables at {per_txn} rows per transaction: {:.2}x of the plain throughput",
                sink(Tables::Plain).as_secs_f64() / sink(Tables::Hypertable).as_secs_f64()
            );
        }
    }
    println!();
    println!(
        "| reorg depth | tables | table rows | reps | rows written per reorg | txns per reorg | median | min | max |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &reorgs {
        let reps = r.times.len() as u64;
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms |",
            r.depth,
            r.tables.label(),
            reorg_blocks,
            reps,
            r.written / reps,
            r.txns / reps,
            median(&r.times).as_secs_f64() * 1e3,
            r.times[0].as_secs_f64() * 1e3,
            r.times[r.times.len() - 1].as_secs_f64() * 1e3
        );
    }
}
