//! TimescaleDB for real, in every mode a server can be in:
//!
//! - plain PostgreSQL without extension files (a private cluster of a mirrored installation
//!   without TimescaleDB's files);
//! - TimescaleDB installed but not preloaded (a private cluster without the preload): plain
//!   tables, one warning that says how to preload, `require` stops before writing anything,
//!   the server never ends a session; preloaded afterwards, `migrate` converts the tables;
//! - preloaded with the extension already created in another schema;
//! - preloaded with several chainflow schemas in one database (the policies' jobs run with
//!   the database's default search path, as TimescaleDB's background workers do).
//!
//! In each: `migrate` (the binary) is idempotent and names the mode, and `run` through a reorg
//! storm and kill -9 restarts ends equal to a recompute from the node, with the mode in its
//! log. Then hypertables under reorgs and restarts: upserts and deletes land exactly in
//! compressed chunks, and the shipped compression policies and an operator's retention
//! policies never touch the reorg window or the rows a restart rebuilds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chainflow::dataflows::gas_fees::GasFees;
use chainflow::engine::dataflow::{Dataflow, OutputSpec, Value};
use chainflow::sinks::postgres::PostgresConfig;
use chainflow::sinks::postgres::migrate::{Mode, TimescaleSetting, migrate};

use crate::clickhouse_crash::{crash_storm, spawn, write_config};
use crate::clickhouse_sink::outputs_converge;
use crate::rpc::{block_with_txs, node_with_blocks, replacements};
use crate::support::KillOnDrop;
use crate::support::anvil::{Anvil, AnvilOpts};
use crate::support::pg_cluster::{Cluster, Kind};
use crate::support::postgres::{rows, sink_toml, url};

/// The tables the TimescaleDB parts of the numbered migrations make hypertables: 4 of `gas_fees`, 14
/// of `taiko`.
const HYPERTABLES: usize = 18;

/// The hypertables of a schema `chainflow migrate` made: those of the migrations and those
/// made from the specs of the registered outputs no migration creates.
fn hypertables_after_migrate() -> usize {
    let handwritten = chainflow::sinks::postgres::migrate::migration_tables();
    HYPERTABLES
        + chainflow::dataflows::registry()
            .iter()
            .flat_map(|d| d.outputs())
            .filter(|s| !handwritten.contains(s.name))
            .filter(|s| chainflow::sinks::postgres::migrate::chunking(s).is_some())
            .count()
}

fn specs() -> Vec<OutputSpec> {
    GasFees.outputs()
}

/// `url` with its database replaced by `db`.
fn url_of_db(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{db}")
}

/// A fresh database `db` on the machine's server (dropped first); its URL.
fn fresh_database(db: &str) -> String {
    let mut c = postgres::Client::connect(&url(), postgres::NoTls).unwrap();
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .unwrap();
    c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
    url_of_db(&url(), db)
}

/// `chainflow migrate --postgres url --schema schema` with `timescale` from the environment.
fn migrate_binary(url: &str, schema: &str, timescale: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chainflow"))
        .args(["migrate", "--postgres", url, "--schema", schema])
        .env("CHAINFLOW_SINKS__POSTGRES__TIMESCALE", timescale)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Runs `migrate` twice with `auto`: the first applies every migration, the second nothing;
/// both name the mode, which must contain `mode`. Returns the first run's stderr.
fn migrate_twice_naming(url: &str, schema: &str, mode: &str) -> String {
    let first = migrate_binary(url, schema, "auto");
    assert!(first.status.success(), "{}", text(&first.stderr));
    let second = migrate_binary(url, schema, "auto");
    assert!(second.status.success(), "{}", text(&second.stderr));
    let (a, b) = (text(&first.stdout), text(&second.stdout));
    assert!(a.contains("applied migrations [1, 2, 3, 4]"), "{a}");
    assert!(b.contains("up to date"), "{b}");
    for out in [&a, &b] {
        assert!(
            out.contains(mode),
            "the mode '{mode}' is not named in: {out}"
        );
    }
    text(&first.stderr)
}

/// `timescale = "require"` stops before anything is written: the schema does not exist.
fn require_stops_before_writing(client: &mut postgres::Client, url: &str, why: &str) {
    let out = migrate_binary(url, "cf_required", "require");
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "require succeeded: {stderr}");
    assert!(stderr.contains("timescale = \"require\""), "{stderr}");
    assert!(stderr.contains(why), "'{why}' not in: {stderr}");
    let schemas: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'cf_required'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(schemas, 0, "require wrote a schema before stopping");
}

/// The number of `schema`'s tables that are hypertables.
fn hypertables(client: &mut postgres::Client, schema: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_schema = $1",
            &[&schema],
        )
        .unwrap()
        .get(0)
}

/// A reorg storm with kill -9 restarts of the binary writing to `schema` at `url`; the tables
/// end equal to the node. Returns the final run's log.
fn storm(seed: u64, url: &str, schema: &str) -> String {
    let config = PostgresConfig {
        url: url.to_string(),
        schema: schema.to_string(),
        ..PostgresConfig::default()
    };
    let toml = sink_toml(&config);
    let logs = crash_storm(seed, 1, &toml, &|spec| rows(&config, spec), &|| 0);
    logs.last().unwrap().clone()
}

#[test]
fn plain_postgres_without_extension_files() {
    let cluster = Cluster::start(Kind::NoExtensionFiles);
    let url = cluster.url("postgres");
    let mut c = cluster.client("postgres");
    let available: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_available_extensions WHERE name LIKE 'timescaledb%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        available, 0,
        "the private installation still has TimescaleDB's files"
    );
    require_stops_before_writing(&mut c, &url, "no timescaledb extension");
    let mode = "plain PostgreSQL tables (the server has no timescaledb extension)";
    migrate_twice_naming(&url, "cf_plain", mode);
    let log = storm(0x7001, &url, "cf_plain");
    assert!(
        log.contains(mode),
        "the run's log does not name the mode: {log}"
    );
}

#[test]
fn installed_but_not_preloaded_uses_plain_tables_and_says_how_to_preload() {
    let mut cluster = Some(Cluster::start(Kind::NotPreloaded));
    let url = cluster.as_ref().unwrap().url("postgres");
    let mut c = cluster.as_ref().unwrap().client("postgres");
    let available: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(available, 1, "the machine's TimescaleDB files are missing");
    require_stops_before_writing(&mut c, &url, "not preloaded");
    let mode =
        "plain PostgreSQL tables (timescaledb is installed but not in shared_preload_libraries)";
    let stderr = migrate_twice_naming(&url, "cf_not_preloaded", mode);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("not preloaded"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning line: {stderr}");
    assert!(
        warnings[0].contains("shared_preload_libraries = 'timescaledb'"),
        "the warning says how to preload: {}",
        warnings[0]
    );
    let log = storm(0x7002, &url, "cf_not_preloaded");
    assert!(
        log.contains(mode),
        "the run's log does not name the mode: {log}"
    );
    // No statement ever made the server end a session.
    let server_log = cluster.as_ref().unwrap().log();
    assert!(
        !server_log.contains("must be preloaded"),
        "CREATE EXTENSION was tried without the preload: {server_log}"
    );
    drop(c);

    // The operator follows the hint: the same data directory, now preloaded; `migrate`
    // converts the plain tables (rows kept) and `run` writes to hypertables.
    let before: BTreeMap<&str, BTreeMap<Vec<Value>, isize>> = {
        let config = PostgresConfig {
            url: url.clone(),
            schema: "cf_not_preloaded".into(),
            ..PostgresConfig::default()
        };
        specs().iter().map(|s| (s.name, rows(&config, s))).collect()
    };
    let cluster = {
        let mut old = cluster.take().unwrap();
        old.restart("timescaledb");
        old
    };
    let url = cluster.url("postgres");
    let out = migrate_binary(&url, "cf_not_preloaded", "auto");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("TimescaleDB 2."), "{stdout}");
    let mut c = cluster.client("postgres");
    assert_eq!(
        hypertables(&mut c, "cf_not_preloaded") as usize,
        hypertables_after_migrate()
    );
    let config = PostgresConfig {
        url: url.clone(),
        schema: "cf_not_preloaded".into(),
        ..PostgresConfig::default()
    };
    for spec in specs() {
        assert_eq!(
            rows(&config, &spec),
            before[spec.name],
            "{} changed in the conversion",
            spec.name
        );
    }
}

#[test]
fn preloaded_with_the_extension_created_in_another_schema() {
    let url = fresh_database("cf_ts_ext_elsewhere");
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute("CREATE SCHEMA tsdb; CREATE EXTENSION timescaledb SCHEMA tsdb")
        .unwrap();
    migrate_twice_naming(&url, "cf_sink", "extension in schema tsdb");
    assert_eq!(
        hypertables(&mut c, "cf_sink") as usize,
        hypertables_after_migrate()
    );
    let log = storm(0x7003, &url, "cf_sink");
    assert!(
        log.contains("TimescaleDB 2.") && log.contains("extension in schema tsdb"),
        "the run's log does not name the mode: {log}"
    );
}

/// Runs every policy job of `schema` (`CALL run_job`) in a session with the database's
/// default search path, as TimescaleDB's scheduler does; panics when one fails.
fn run_policy_jobs(url: &str, schema: &str) -> usize {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let jobs: Vec<(i32, String, String)> = c
        .query(
            "SELECT job_id, proc_name::text, hypertable_name::text FROM timescaledb_information.jobs
             WHERE hypertable_schema = $1 ORDER BY job_id",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    for (job, proc_name, table) in &jobs {
        c.batch_execute(&format!("CALL run_job({job})"))
            .unwrap_or_else(|e| {
                panic!("{proc_name} of {schema}.{table} (job {job}) failed: {e:?}")
            });
    }
    jobs.len()
}

#[test]
fn preloaded_with_several_chainflow_schemas_in_one_database() {
    let url = fresh_database("cf_ts_many_schemas");
    let mode = "TimescaleDB 2.";
    migrate_twice_naming(&url, "cf_one", mode);
    migrate_twice_naming(&url, "cf_two", mode);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    // The extension went where a plain CREATE EXTENSION puts it, not into a sink's schema.
    let ext_schema: String = c
        .query_one(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'timescaledb'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(ext_schema, "public");
    for schema in ["cf_one", "cf_two"] {
        assert_eq!(
            hypertables(&mut c, schema) as usize,
            hypertables_after_migrate()
        );
    }
    let log = storm(0x7004, &url, "cf_one");
    assert!(
        log.contains(mode),
        "the run's log does not name the mode: {log}"
    );
    let out = crate::support::devnet_run(
        60,
        &["--postgres", &url],
        &[("CHAINFLOW_SINKS__POSTGRES__SCHEMA", "cf_two")],
    );
    crate::support::assert_success(&out);
    let blocks: i64 = c
        .query_one("SELECT count(*) FROM cf_two.gas_fees_blocks", &[])
        .unwrap()
        .get(0);
    assert_eq!(blocks, 60);
    // Each schema's policy jobs read their own tables, whatever the session's search path.
    for schema in ["cf_one", "cf_two"] {
        assert!(
            run_policy_jobs(&url, schema) >= 4,
            "{schema} has no policies"
        );
    }
}

#[test]
fn a_session_the_server_ends_is_reconnected() {
    let url = fresh_database("cf_ts_reconnect");
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let mut other = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let ended: bool = other
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap()
        .get(0);
    assert!(ended);
    let reconnect = || postgres::Client::connect(&url, postgres::NoTls);
    let (applied, mode) = migrate(
        &mut client,
        &reconnect,
        "cf_reconnected",
        TimescaleSetting::Auto,
    )
    .unwrap();
    assert_eq!(applied, vec![1, 2, 3, 4]);
    assert!(mode.is_timescale(), "{mode}");
    assert_eq!(
        hypertables(&mut other, "cf_reconnected") as usize,
        HYPERTABLES
    );
}

/// Compresses every chunk of every hypertable of `schema`; returns how many are compressed.
fn compress_everything(c: &mut postgres::Client, schema: &str) -> i64 {
    c.batch_execute(&format!(
        "SELECT compress_chunk(format('%I.%I', chunk_schema, chunk_name)::regclass, true)
         FROM timescaledb_information.chunks WHERE hypertable_schema = '{schema}'"
    ))
    .unwrap();
    c.query_one(
        "SELECT count(*) FROM timescaledb_information.chunks
         WHERE hypertable_schema = $1 AND is_compressed",
        &[&schema],
    )
    .unwrap()
    .get(0)
}

/// A run of the binary on `anvil` writing to `config`'s schema: its folder, its config file
/// and the process (its log is `run0.log` in the folder).
fn start_run(anvil: &Anvil, config: &PostgresConfig) -> (tempfile::TempDir, PathBuf, KillOnDrop) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), anvil, &sink_toml(config));
    let child = KillOnDrop(spawn(&path, 1, &dir.path().join("run0.log")));
    (dir, path, child)
}

/// A fresh database `db` with `schema` migrated to hypertables: a sink config and a client.
fn hypertable_schema(db: &str, schema: &str) -> (PostgresConfig, postgres::Client) {
    let url = fresh_database(db);
    migrate_twice_naming(&url, schema, "TimescaleDB 2.");
    let config = PostgresConfig {
        url: url.clone(),
        schema: schema.into(),
        ..PostgresConfig::default()
    };
    let c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    (config, c)
}

#[test]
fn upserts_and_deletes_land_exactly_in_compressed_chunks() {
    let schema = "cf_compressed";
    let (config, mut c) = hypertable_schema("cf_ts_compressed", schema);
    let anvil = node_with_blocks(80, 3);
    let (dir, path, mut child) = start_run(&anvil, &config);
    let read = |spec: &OutputSpec| rows(&config, spec);
    {
        let running = || true;
        outputs_converge(&read, &anvil, &running, "initial");
        // Every row, the reorg window included, sits in a compressed chunk before each
        // reorg: the retractions and the new branch land there.
        for (i, depth) in [1u64, 5, 64].into_iter().enumerate() {
            assert!(compress_everything(&mut c, schema) >= 4);
            anvil.reorg(depth, &replacements(&anvil, depth, 70_000 + i as u64));
            outputs_converge(
                &read,
                &anvil,
                &running,
                &format!("compressed, reorg {depth}"),
            );
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // While it is down: rows in compressed chunks go wrong (changed, deleted, a stray row
    // above the head), and the chain reorgs. The restart's rebuild must rewrite them.
    assert!(compress_everything(&mut c, schema) >= 4);
    let head = anvil.head_number() as i64;
    c.batch_execute(&format!(
        "UPDATE {schema}.gas_fees_blocks SET gas_used = gas_used + 7 WHERE block_number % 5 = 0;
         DELETE FROM {schema}.gas_fees_blocks WHERE block_number % 7 = 3;
         INSERT INTO {schema}.gas_fees_blocks SELECT chain_id, {stray}, block_hash, parent_hash,
             timestamp, gas_used, gas_limit, base_fee_per_gas, tx_count, priority_fee_sum,
             priority_fee_p50, priority_fee_p90, blob_count, blob_gas_used, excess_blob_gas,
             blob_base_fee, version FROM {schema}.gas_fees_blocks WHERE block_number = {head};
         UPDATE {schema}.gas_fees_minutes SET tx_count = tx_count + 1;",
        stray = head + 3
    ))
    .unwrap();
    anvil.reorg(3, &replacements(&anvil, 3, 80_000));
    let log = dir.path().join("run1.log");
    let mut child = KillOnDrop(spawn(&path, 1, &log));
    let running = || true;
    outputs_converge(&read, &anvil, &running, "restart over compressed chunks");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("reconciled the rebuilt state"), "{text}");
    // Live again: another reorg into compressed chunks.
    assert!(compress_everything(&mut c, schema) >= 4);
    anvil.reorg(10, &replacements(&anvil, 10, 90_000));
    outputs_converge(&read, &anvil, &running, "live after the restart");
    child.kill().unwrap();
}

/// Seconds since the epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn policies_never_touch_the_reorg_window_or_the_rows_a_restart_rebuilds() {
    let schema = "cf_policies";
    let (config, mut c) = hypertable_schema("cf_ts_policies", schema);
    let url = config.url.clone();
    // Small chunks, so that a test chain spans many; the shipped policies are unchanged.
    c.batch_execute(&format!(
        "SELECT set_chunk_time_interval('{schema}.gas_fees_blocks', 100);
         SELECT set_chunk_time_interval('{schema}.gas_fees_minutes', INTERVAL '6 hours');
         SELECT set_chunk_time_interval('{schema}.gas_fees_hours', INTERVAL '1 day');
         SELECT set_chunk_time_interval('{schema}.gas_fees_days', INTERVAL '2 days');"
    ))
    .unwrap();
    // Ten days of 450-second blocks ending about an hour ago, then live blocks. (Fewer than
    // the 7200 blocks after which the shipped policy compresses gas_fees_blocks: the time
    // tables' policies compress here.)
    const BLOCKS: u64 = 2_000; // a multiple of 200
    const INTERVAL: u64 = 450;
    let anvil = Anvil::with(AnvilOpts {
        genesis_timestamp: Some(now() - BLOCKS * INTERVAL - 3_600),
        ..AnvilOpts::default()
    });
    for _ in 0..BLOCKS / 200 {
        anvil.mine_with_interval(200, INTERVAL);
    }
    anvil.ensure_log_contract();
    for i in 0..10 {
        block_with_txs(&anvil, i, 2);
    }
    let (dir, path, mut child) = start_run(&anvil, &config);
    let read = |spec: &OutputSpec| rows(&config, spec);
    let running = || true;
    outputs_converge(&read, &anvil, &running, "ten days of blocks");
    // An operator's retention: about four days of blocks and minutes.
    c.batch_execute(&format!(
        "SELECT add_retention_policy('{schema}.gas_fees_blocks', drop_after => 800::BIGINT);
         SELECT add_retention_policy('{schema}.gas_fees_minutes', drop_after => INTERVAL '4 days');"
    ))
    .unwrap();
    assert_eq!(run_policy_jobs(&url, schema), 6);
    let count = |sql: &str| -> i64 {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query_one(sql, &[])
            .unwrap()
            .get::<_, Option<i64>>(0)
            .unwrap_or(-1)
    };
    let compressed = count(&format!(
        "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = '{schema}' AND is_compressed"
    ));
    assert!(
        compressed >= 2,
        "the policies compressed {compressed} chunks"
    );
    let lowest_block = count(&format!(
        "SELECT min(block_number) FROM {schema}.gas_fees_blocks"
    ));
    assert!(lowest_block > 1_000, "retention kept block {lowest_block}");
    // No compressed chunk reaches into the reorg window (the 64 blocks below the head)...
    let head = anvil.head_number();
    let window_start = head - 64;
    let window_ts = crate::support::anvil::hex_u64(&anvil.block(window_start, false)["timestamp"]);
    let in_window = count(&format!(
        "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = '{schema}'
         AND is_compressed AND (range_end_integer > {window_start}
                                OR range_end > to_timestamp({window_ts}))"
    ));
    assert_eq!(
        in_window, 0,
        "a compressed chunk reaches into the reorg window"
    );
    // ... and retention kept every row a restart rebuilds: from the start of the UTC day of
    // the finalized block (the widest bucket, `gas_fees_days`) on.
    let day_start = window_ts - window_ts % 86_400;
    let first_of_day = count(&format!(
        "SELECT min(block_number) FROM {schema}.gas_fees_blocks WHERE timestamp >= to_timestamp({day_start})"
    ));
    let node_first_of_day = (0..=head)
        .rev()
        .take_while(|&n| {
            crate::support::anvil::hex_u64(&anvil.block(n, false)["timestamp"]) >= day_start
        })
        .last()
        .unwrap() as i64;
    assert_eq!(
        first_of_day, node_first_of_day,
        "retention dropped rows of the rebuild"
    );
    let lowest_minute = count(&format!(
        "SELECT extract(epoch FROM min(minute))::bigint FROM {schema}.gas_fees_minutes"
    ));
    assert!(
        lowest_minute <= day_start as i64,
        "retention dropped minutes of the rebuild"
    );

    // Reorgs, a kill -9 and a restart over the policies' work: the rows kept are exact, the
    // rows retention dropped stay dropped (the rebuild starts far above them).
    for (i, depth) in [2u64, 64].into_iter().enumerate() {
        anvil.reorg(depth, &replacements(&anvil, depth, 40_000 + i as u64));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    anvil.reorg(5, &replacements(&anvil, 5, 50_000));
    let log = dir.path().join("run1.log");
    let _child = KillOnDrop(spawn(&path, 1, &log));
    let kept = |spec: &OutputSpec| -> BTreeMap<Vec<Value>, isize> { rows(&config, spec) };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let want = crate::support::node_oracle::gas_fees_all_from_node(&anvil.http_url(), 0);
        let lowest_block = count(&format!(
            "SELECT min(block_number) FROM {schema}.gas_fees_blocks"
        ));
        let lowest_minute: i64 = count(&format!(
            "SELECT extract(epoch FROM min(minute))::bigint FROM {schema}.gas_fees_minutes"
        ));
        let mut differs = Vec::new();
        for (name, want_rows) in want.values() {
            let spec = specs().into_iter().find(|s| s.name == name).unwrap();
            // Only the range retention kept: from the lowest stored key on.
            let want_rows: BTreeMap<Vec<Value>, isize> = want_rows
                .into_iter()
                .filter(|r| match name {
                    "gas_fees_blocks" => r[1] >= Value::U64(lowest_block as u64),
                    "gas_fees_minutes" => r[1] >= Value::U64(lowest_minute as u64),
                    _ => true,
                })
                .map(|r| (r, 1))
                .collect();
            if kept(&spec) != want_rows {
                differs.push(name);
            }
        }
        if differs.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{differs:?} differ from the node after the restart: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        lowest_block > 1_000,
        "the restart brought dropped rows back"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("reconciled the rebuilt state"), "{text}");
}

#[test]
fn the_mode_of_a_schema_is_what_its_migrations_made() {
    // Off on a preloaded server: plain tables, and `run` says why.
    let url = fresh_database("cf_ts_off");
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let reconnect = || postgres::Client::connect(&url, postgres::NoTls);
    let (_, mode) = migrate(&mut c, &reconnect, "cf_off", TimescaleSetting::Off).unwrap();
    assert_eq!(
        mode,
        Mode::Plain(chainflow::sinks::postgres::migrate::PlainReason::Off)
    );
    let created: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(created, 0, "`off` created the extension");
    // `require` on a schema migrated with plain tables: `run` stops before writing.
    let out = crate::support::devnet_run(
        5,
        &["--postgres", &url],
        &[
            ("CHAINFLOW_SINKS__POSTGRES__SCHEMA", "cf_off"),
            ("CHAINFLOW_SINKS__POSTGRES__TIMESCALE", "require"),
        ],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("timescale = \"require\""), "{stderr}");
    let blocks: i64 = c
        .query_one("SELECT count(*) FROM cf_off.gas_fees_blocks", &[])
        .unwrap()
        .get(0);
    assert_eq!(blocks, 0);
}
