//! anvil -> chainflow -> PostgreSQL: tables equal a recompute from the node after reorgs, a
//! storm and kill -9 restarts; replays apply nothing twice; a schema that does not match is
//! refused naming table and column; ClickHouse and PostgreSQL agree at every committed epoch;
//! hypertables when TimescaleDB is present.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chainflow::dataflows::gas_fees::GasFees;
use chainflow::engine::dataflow::{Dataflow, OutputSpec, Value};
use chainflow::engine::{self, EngineSettings, RunControl};
use chainflow::sinks::clickhouse::ClickHouseSink;
use chainflow::sinks::postgres::migrate::{Mode, PlainReason, TimescaleSetting};
use chainflow::sinks::postgres::{PostgresConfig, PostgresSink};
use chainflow::sinks::{OutputBatch, Sink};
use chainflow::sources::devnet::{Devnet, DevnetConfig};
use chainflow::sources::rpc::tracker::DeepReorgPolicy;

use crate::clickhouse_crash::crash_storm;
use crate::clickhouse_sink::{devnet_batches, devnet_batches_from, outputs_converge};
use crate::rpc::{Follower, block_with_txs, replacements};
use crate::support::anvil::{Anvil, AnvilOpts, Rng};
use crate::support::postgres::{client, number, rows, schema, schema_with, sink_toml};

fn specs() -> Vec<OutputSpec> {
    GasFees.outputs()
}

fn devnet(blocks: u64, seed: u64) -> impl Iterator<Item = chainflow::sources::SourceEvent> {
    Devnet::new(DevnetConfig {
        seed,
        block_time_ms: 0,
        max_blocks: Some(blocks),
        txs_per_block: 10,
        reorg_rate: 0.15,
        ..DevnetConfig::default()
    })
    .unwrap()
    .map(|e| e.unwrap())
}

/// What a sink that applied `batches` holds of `output`.
fn memory_state(batches: &[OutputBatch], output: &str) -> BTreeMap<Vec<Value>, isize> {
    chainflow::sinks::memory::current_rows(batches, output)
}

#[test]
fn postgres_tables_equal_the_node_after_reorgs_and_a_storm() {
    let config = schema("pg_equal_the_node");
    let anvil = Anvil::with(AnvilOpts::default());
    anvil.ensure_log_contract();
    for i in 0..70 {
        block_with_txs(&anvil, i, (i % 3) as usize * 2);
    }
    let sink = PostgresSink::open(config.clone(), &specs()).unwrap();
    assert_eq!(sink.mode(), &Mode::Plain(PlainReason::Off));
    let f = Follower::start_with(
        vec![anvil.ws_url()],
        64,
        DeepReorgPolicy::Halt,
        vec![Box::new(sink)],
    );
    let read = |spec: &OutputSpec| rows(&config, spec);
    let running = || !f.finished();
    outputs_converge(&read, &anvil, &running, "initial");
    for (i, depth) in [1u64, 2, 5, 20, 64].into_iter().enumerate() {
        anvil.reorg(depth, &replacements(&anvil, depth, 3_000 + i as u64));
        outputs_converge(&read, &anvil, &running, &format!("reorg of depth {depth}"));
    }
    let mut rng = Rng(0x9e5);
    let mut reorgs = 0;
    for step in 0..150u64 {
        if rng.below(10) < 7 {
            block_with_txs(&anvil, 9_000 + step, rng.below(4) as usize);
        } else {
            let depth = 1 + rng.below(anvil.head_number().min(64) - 1);
            anvil.reorg(depth, &replacements(&anvil, depth, 20_000 + step));
            reorgs += 1;
        }
    }
    assert!(reorgs >= 20, "{reorgs} reorgs");
    outputs_converge(&read, &anvil, &running, "after the storm");
    f.stop().unwrap();
    // The progress row covers the data: every row's version is below the committed upper.
    versions_below_progress(&config);
}

/// Why the sink refuses to open on `config`'s schema.
fn open_error(config: &PostgresConfig) -> String {
    PostgresSink::open(config.clone(), &specs())
        .err()
        .unwrap()
        .to_string()
}

/// The progress row of each output covers its data: every row's version is below the
/// committed upper.
fn versions_below_progress(config: &PostgresConfig) {
    for spec in specs() {
        let upper = number(&format!(
            "SELECT upper_epoch FROM {}.chainflow_progress WHERE output = '{}'",
            config.schema, spec.name
        ));
        let max = number(&format!(
            "SELECT max(version) FROM {}.{}",
            config.schema, spec.name
        ));
        assert!(max < upper, "{}: version {max} >= upper {upper}", spec.name);
    }
}

#[test]
fn kill_9_at_random_points_then_restart_leaves_postgres_exact() {
    let config = schema("pg_crash_restart");
    let toml = sink_toml(&config);
    // A primary key per output: a key can never hold two rows.
    crash_storm(0x5eed_0007, 1, &toml, &|spec| rows(&config, spec), &|| 0);
    versions_below_progress(&config);
}

#[test]
fn committed_epochs_are_not_applied_twice() {
    let config = schema("pg_exactly_once");
    let batches = devnet_batches(150, 3);
    let mut sink = PostgresSink::open(config.clone(), &specs()).unwrap();
    // The first half, as a run that crashed after committing it.
    let half = batches.len() / 2;
    for b in &batches[..half] {
        sink.commit(b).unwrap();
    }
    sink.flush().unwrap();
    drop(sink);
    // A deterministic replay (NATS ingress) sends every batch again from the start.
    let mut sink = PostgresSink::open(config.clone(), &specs()).unwrap();
    for b in &batches {
        sink.commit(b).unwrap();
    }
    sink.flush().unwrap();
    let second = sink.written().0;
    for spec in specs() {
        assert_eq!(
            rows(&config, &spec),
            memory_state(&batches, spec.name),
            "{}",
            spec.name
        );
    }
    // Only the second half was written by the replay.
    let mut reopened = PostgresSink::open(config.clone(), &specs()).unwrap();
    for b in &batches {
        reopened.commit(b).unwrap();
    }
    reopened.flush().unwrap();
    assert_eq!(reopened.written().0, 0, "a full replay writes nothing");
    assert!(second > 0);
}

#[test]
fn a_schema_that_does_not_match_is_refused_naming_table_and_column() {
    let config = schema("pg_schema_mismatch");
    let mut c = client();
    c.batch_execute(&format!(
        "ALTER TABLE {}.gas_fees_minutes DROP COLUMN blob_count",
        config.schema
    ))
    .unwrap();
    let err = open_error(&config);
    assert!(
        err.contains("gas_fees_minutes") && err.contains("blob_count"),
        "{err}"
    );
    c.batch_execute(&format!(
        "ALTER TABLE {s}.gas_fees_minutes ADD COLUMN blob_count BIGINT;
         ALTER TABLE {s}.gas_fees_blocks ALTER COLUMN tx_count TYPE TEXT",
        s = config.schema
    ))
    .unwrap();
    let err = open_error(&config);
    assert!(
        err.contains("gas_fees_blocks.tx_count") && err.contains("text"),
        "{err}"
    );
    // The binary refuses to start and writes nothing.
    let out = crate::support::devnet_run(
        20,
        &["--postgres", &config.url],
        &[("CHAINFLOW_SINKS__POSTGRES__SCHEMA", &config.schema)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("gas_fees_blocks.tx_count"), "{stderr}");
    assert_eq!(
        number(&format!(
            "SELECT count(*) FROM {}.gas_fees_blocks",
            config.schema
        )),
        0
    );
}

#[test]
fn the_binary_migrates_postgres_idempotently_and_says_the_mode() {
    let name = "cf_pg_binary";
    client()
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
        .unwrap();
    let url = crate::support::postgres::url();
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_chainflow"))
            .args(["migrate", "--postgres", &url, "--schema", name])
            .output()
            .unwrap();
        crate::support::assert_success(&out);
        outputs.push(String::from_utf8_lossy(&out.stdout).to_string());
    }
    assert!(
        outputs[0].contains("applied migrations [1, 2, 3, 4]"),
        "{}",
        outputs[0]
    );
    assert!(outputs[1].contains("up to date"), "{}", outputs[1]);
    // `make services` preloads TimescaleDB on the machine's server: `auto` uses it.
    for out in &outputs {
        assert!(out.contains("TimescaleDB 2."), "{out}");
    }
    assert_eq!(
        number(&format!("SELECT count(*) FROM {name}.chainflow_migrations")),
        4
    );
    // Then a devnet run writes through it.
    let out = crate::support::devnet_run(
        60,
        &["--postgres", &url],
        &[("CHAINFLOW_SINKS__POSTGRES__SCHEMA", name)],
    );
    crate::support::assert_success(&out);
    assert_eq!(
        number(&format!("SELECT count(*) FROM {name}.gas_fees_blocks")),
        60
    );
}

/// Checks, after both sinks have committed a batch, that they hold the same state of its
/// output (it runs after them in the engine's sink order).
struct Agree {
    ch: chainflow::sinks::clickhouse::ClickHouseConfig,
    pg: PostgresConfig,
    checked: Arc<Mutex<u64>>,
}

impl Sink for Agree {
    fn name(&self) -> &str {
        "agree"
    }
    fn commit(&mut self, batch: &OutputBatch) -> chainflow::sinks::Result<()> {
        let spec = batch.output;
        let ch = crate::support::clickhouse::current(&self.ch, &spec);
        let pg = rows(&self.pg, &spec);
        assert_eq!(
            ch, pg,
            "{} differs between ClickHouse and PostgreSQL at epochs [{}, {})",
            spec.name, batch.lower, batch.upper
        );
        *self.checked.lock().unwrap() += 1;
        Ok(())
    }
}

#[test]
fn clickhouse_and_postgres_agree_at_every_committed_epoch() {
    let mut ch = crate::support::clickhouse::database("agree_with_postgres");
    ch.delivery.batch_rows = 1;
    let mut pg = schema("pg_agree_with_clickhouse");
    pg.delivery.batch_rows = 1;
    let checked = Arc::new(Mutex::new(0));
    let sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(ClickHouseSink::open(ch.clone()).unwrap()),
        Box::new(PostgresSink::open(pg.clone(), &specs()).unwrap()),
        Box::new(Agree {
            ch: ch.clone(),
            pg: pg.clone(),
            checked: Arc::clone(&checked),
        }),
    ];
    let summary = engine::run(
        &EngineSettings::default(),
        timely::Config::thread(),
        vec![&GasFees],
        devnet(120, 17).map(Ok),
        sinks,
        &RunControl::default(),
    )
    .unwrap();
    let checked = *checked.lock().unwrap();
    assert!(summary.reorgs >= 5, "{} reorgs", summary.reorgs);
    assert!(checked >= 100, "{checked} batches compared");
    assert!(!rows(&pg, &specs()[0]).is_empty());
}

#[test]
fn hypertables_when_timescaledb_is_present() {
    let (config, mode) = schema_with("pg_timescale", TimescaleSetting::Auto);
    assert!(
        mode.is_timescale(),
        "{mode}: `make services` preloads TimescaleDB on the machine's server"
    );
    for spec in specs() {
        let n = number(&format!(
            "SELECT count(*) FROM timescaledb_information.hypertables
             WHERE hypertable_schema = '{}' AND hypertable_name = '{}'",
            config.schema, spec.name
        ));
        assert_eq!(n, 1, "{} is not a hypertable", spec.name);
    }
    let mut sink = PostgresSink::open(config.clone(), &specs()).unwrap();
    assert!(sink.mode().is_timescale());
    let batches = devnet_batches(80, 5);
    for b in &batches {
        sink.commit(b).unwrap();
    }
    sink.flush().unwrap();
    for spec in specs() {
        assert_eq!(rows(&config, &spec), memory_state(&batches, spec.name));
    }
}

#[test]
fn inserts_of_keys_already_in_the_table_fall_back_to_staging() {
    let config = schema("pg_duplicate_fallback");
    let run = |start_epoch: u64| devnet_batches_from(60, 8, start_epoch);
    let first = run(1);
    let mut sink = PostgresSink::open(config.clone(), &specs()).unwrap();
    for b in &first {
        sink.commit(b).unwrap();
    }
    sink.flush().unwrap();
    // The same chain again at later epochs, as a fresh run over a table it did not write:
    // every insert meets a key that is already there.
    let next = sink.next_epoch().unwrap();
    let again = run(next);
    for b in &again {
        sink.commit(b).unwrap();
    }
    sink.flush().unwrap();
    for spec in specs() {
        assert_eq!(rows(&config, &spec), memory_state(&again, spec.name));
    }
}
