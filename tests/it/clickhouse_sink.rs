//! anvil -> chainflow -> ClickHouse: the `_current` views equal a recompute from the node's
//! canonical chain after reorgs and a storm; re-sent batches change nothing; a reorg writes
//! at most one row per changed key.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chainflow::dataflows::gas_fees::{self, GasFees};
use chainflow::engine::dataflow::{Dataflow, OutputSpec, Position, Value};
use chainflow::engine::keys::key_positions;
use chainflow::engine::{self, EngineSettings, RunControl};
use chainflow::sinks::clickhouse::{ClickHouseConfig, ClickHouseSink};
use chainflow::sinks::memory::MemorySink;
use chainflow::sinks::reconcile::{ChainResume, Reconcile};
use chainflow::sinks::{OutputBatch, Sink};
use chainflow::sources::devnet::{Devnet, DevnetConfig};
use chainflow::sources::rpc::tracker::DeepReorgPolicy;

use crate::rpc::{Follower, block_with_txs, replacements};
use crate::support::anvil::{Anvil, AnvilOpts, Rng};
use crate::support::clickhouse::{current, database, stored};
use crate::support::node_oracle::gas_fees_all_from_node;

fn specs() -> Vec<OutputSpec> {
    GasFees.outputs()
}

/// Waits until every `_current` view equals the node's recompute (30 s at most).
fn views_converge(config: &ClickHouseConfig, anvil: &Anvil, f: &Follower, what: &str) {
    views_converge_while(config, anvil, &|| !f.finished(), what)
}

/// Waits until every `_current` view equals the node's recompute (30 s at most) while
/// `running` says the writer is alive.
pub(crate) fn views_converge_while(
    config: &ClickHouseConfig,
    anvil: &Anvil,
    running: &dyn Fn() -> bool,
    what: &str,
) {
    outputs_converge(&|spec| current(config, spec), anvil, running, what)
}

/// Waits until every output read by `read` (blocks, minutes, hours, days) equals the node's
/// recompute (30 s at most) while `running` says the writer is alive.
pub(crate) fn outputs_converge(
    read: &dyn Fn(&OutputSpec) -> BTreeMap<Vec<Value>, isize>,
    anvil: &Anvil,
    running: &dyn Fn() -> bool,
    what: &str,
) {
    let started = Instant::now();
    loop {
        let want: BTreeMap<&str, BTreeMap<Vec<Value>, isize>> =
            gas_fees_all_from_node(&anvil.http_url(), 0)
                .values()
                .into_iter()
                .map(|(name, rows)| (name, rows.into_iter().map(|r| (r, 1)).collect()))
                .collect();
        let got: BTreeMap<&str, BTreeMap<Vec<Value>, isize>> =
            specs().iter().map(|s| (s.name, read(s))).collect();
        if got == want {
            return;
        }
        if started.elapsed() > Duration::from_secs(30) || !running() {
            assert!(running(), "{what}: the run ended early");
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>(),
                "the node oracle gives every output"
            );
            for (name, got) in &got {
                let want = &want[name];
                let extra: Vec<_> = got
                    .iter()
                    .filter(|(k, v)| want.get(*k) != Some(*v))
                    .take(3)
                    .collect();
                let missing: Vec<_> = want
                    .iter()
                    .filter(|(k, v)| got.get(*k) != Some(*v))
                    .take(3)
                    .collect();
                assert!(
                    extra.is_empty() && missing.is_empty(),
                    "{what}: {name} differs ({} rows, want {}): extra {extra:?}, missing {missing:?}",
                    got.len(),
                    want.len()
                );
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn clickhouse_current_views_equal_the_node_after_reorgs_and_a_storm() {
    let config = database("current_views_equal_the_node");
    let anvil = Anvil::with(AnvilOpts::default());
    anvil.ensure_log_contract();
    for i in 0..70 {
        if i % 3 == 0 {
            block_with_txs(&anvil, i, 5)
        } else {
            anvil.mine(1)
        }
    }
    let sink = ClickHouseSink::open(config.clone()).unwrap();
    let f = Follower::start_with(
        vec![anvil.ws_url()],
        64,
        DeepReorgPolicy::Halt,
        vec![Box::new(sink)],
    );
    f.converge(&anvil, "initial");
    views_converge(&config, &anvil, &f, "initial");
    for (i, depth) in [1u64, 2, 5, 20, 64].into_iter().enumerate() {
        anvil.reorg(depth, &replacements(&anvil, depth, 3_000 + i as u64));
        views_converge(
            &config,
            &anvil,
            &f,
            &format!("after a reorg of depth {depth}"),
        );
    }
    let mut rng = Rng(0xc1c1);
    let mut reorgs = 0;
    for step in 0..150u64 {
        match rng.below(10) {
            0..=6 => block_with_txs(&anvil, 9_000 + step, rng.below(4) as usize),
            _ => {
                let depth = 1 + rng.below(anvil.head_number().min(64) - 1);
                anvil.reorg(depth, &replacements(&anvil, depth, 20_000 + step));
                reorgs += 1;
            }
        }
    }
    assert!(reorgs >= 20, "{reorgs} reorgs");
    if !f.finished() {
        f.converge(&anvil, "after the storm (memory)");
    }
    views_converge(&config, &anvil, &f, "after the storm");
    f.stop().unwrap();
}

/// Devnet batches through the engine into memory.
pub(crate) fn devnet_batches(blocks: u64, seed: u64) -> Vec<OutputBatch> {
    devnet_batches_from(blocks, seed, EngineSettings::default().start_epoch)
}

/// Devnet batches whose epochs start at `start_epoch`.
pub(crate) fn devnet_batches_from(blocks: u64, seed: u64, start_epoch: u64) -> Vec<OutputBatch> {
    let devnet = DevnetConfig {
        seed,
        block_time_ms: 0,
        max_blocks: Some(blocks),
        txs_per_block: 10,
        reorg_rate: 0.15,
        ..DevnetConfig::default()
    };
    let events = Devnet::new(devnet).unwrap().map(|e| e.unwrap());
    let memory = MemorySink::new();
    engine::run(
        &EngineSettings {
            start_epoch,
            ..EngineSettings::default()
        },
        timely::Config::thread(),
        vec![&GasFees],
        events.map(Ok),
        vec![Box::new(memory.clone())],
        &RunControl::default(),
    )
    .unwrap();
    memory.batches()
}

/// What a sink that applied `batches` holds of `output`.
fn memory_state(batches: &[OutputBatch], output: &str) -> BTreeMap<Vec<Value>, isize> {
    chainflow::sinks::memory::current_rows(batches, output)
}

#[test]
fn writing_the_same_batches_twice_leaves_the_current_views_unchanged() {
    let config = database("same_batch_twice");
    let batches = devnet_batches(150, 4);
    let mut sink = ClickHouseSink::open(config.clone()).unwrap();
    for b in &batches {
        sink.commit(b).unwrap();
    }
    sink.flush().unwrap();
    let first: Vec<_> = specs().iter().map(|s| current(&config, s)).collect();
    for (spec, rows) in specs().iter().zip(&first) {
        assert_eq!(*rows, memory_state(&batches, spec.name), "{}", spec.name);
    }
    let rows_once = sink.written().0;
    for b in &batches {
        sink.commit(b).unwrap();
    }
    sink.flush().unwrap();
    let second: Vec<_> = specs().iter().map(|s| current(&config, s)).collect();
    assert_eq!(first, second);
    assert_eq!(
        sink.written().0,
        2 * rows_once,
        "the second pass did insert"
    );
    assert!(stored(&config, &specs()[0]) > 0);
}

/// Marks every batch as written before the source caught up, except each output's last.
fn catching_up(mut batches: Vec<OutputBatch>) -> Vec<OutputBatch> {
    let mut seen = BTreeSet::new();
    for b in batches.iter_mut().rev() {
        b.caught_up = seen.insert(b.output.name);
    }
    batches
}

#[test]
fn a_restart_writes_only_the_difference_between_the_rebuild_and_the_sink() {
    let config = database("reconcile_difference");
    let chain = DevnetConfig::default().chain_id;
    // The crashed run wrote one chain (seed 21), a rebuild sees another one (seed 22):
    // same heights, different blocks, so most keys change and some vanish or appear.
    let before = devnet_batches(120, 21);
    let mut sink = ClickHouseSink::open(config.clone()).unwrap();
    for b in &before {
        sink.commit(b).unwrap();
    }
    sink.flush().unwrap();
    let start = sink.next_epoch(&specs()).unwrap();
    let after = catching_up(devnet_batches_from(100, 22, start));
    let plans = [(
        chain,
        ChainResume {
            from_block: 0,
            covered: specs().iter().map(|s| (s.name, 0)).collect(),
        },
    )]
    .into();
    let mut wrapped = Reconcile::new(ClickHouseSink::open(config.clone()).unwrap(), &plans);
    for b in &after {
        wrapped.commit(b).unwrap();
    }
    wrapped.flush().unwrap();
    for spec in specs() {
        assert_eq!(
            current(&config, &spec),
            memory_state(&after, spec.name),
            "{}",
            spec.name
        );
    }
    // Exactly one row per differing key was written, nothing for equal ones.
    let mut differing = 0u64;
    for spec in specs() {
        let positions = key_positions(&spec);
        let by_key = |m: BTreeMap<Vec<Value>, isize>| -> BTreeMap<Vec<Value>, Vec<Value>> {
            m.into_keys()
                .map(|r| (positions.iter().map(|&i| r[i].clone()).collect(), r))
                .collect()
        };
        let old = by_key(memory_state(&before, spec.name));
        let new = by_key(memory_state(&after, spec.name));
        for k in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
            if old.get(k) != new.get(k) {
                differing += 1;
            }
        }
    }
    assert!(differing > 20, "the chains barely differ: {differing}");
    assert_eq!(wrapped.inner().written().0, differing);

    // A second rebuild of the same chain writes nothing at all.
    let start = wrapped.inner().next_epoch(&specs()).unwrap();
    let again = catching_up(devnet_batches_from(100, 22, start));
    let mut wrapped = Reconcile::new(ClickHouseSink::open(config.clone()).unwrap(), &plans);
    for b in &again {
        wrapped.commit(b).unwrap();
    }
    wrapped.flush().unwrap();
    assert_eq!(wrapped.inner().written().0, 0);
    assert_eq!(
        current(&config, &specs()[0]),
        memory_state(&after, gas_fees::BLOCKS)
    );
}

#[test]
fn two_writers_inserting_in_parallel_give_the_same_views() {
    let config = database("parallel_writers");
    let batches = devnet_batches(300, 31);
    // Each writer takes the keys of one parity (block number or bucket), as two workers
    // owning their share of the keys would, and both insert at the same time.
    let half = |parity: u64| -> Vec<OutputBatch> {
        batches
            .iter()
            .map(|b| {
                let mut b = b.clone();
                let width = match b.output.position {
                    Position::TimeBucket(_, secs) => secs,
                    _ => 1,
                };
                b.updates.retain(|(row, _, _)| match &row[1] {
                    Value::U64(n) => (n / width) % 2 == parity,
                    _ => true,
                });
                b
            })
            .collect()
    };
    let writers: Vec<_> = [0u64, 1]
        .into_iter()
        .map(|parity| {
            let mine = half(parity);
            let mut config = config.clone();
            config.delivery.batch_rows = 50;
            std::thread::spawn(move || {
                let mut sink = ClickHouseSink::open(config).unwrap();
                for b in &mine {
                    sink.commit(b).unwrap();
                }
                sink.flush().unwrap();
                sink.written()
            })
        })
        .collect();
    let mut inserts = 0;
    for w in writers {
        inserts += w.join().unwrap().1;
    }
    assert!(inserts >= 10, "{inserts} inserts");
    for spec in specs() {
        assert_eq!(
            current(&config, &spec),
            memory_state(&batches, spec.name),
            "{}",
            spec.name
        );
    }
}

#[test]
fn a_reorg_writes_at_most_one_row_per_changed_key() {
    let config = database("one_row_per_changed_key");
    let batches = devnet_batches(200, 9);
    let mut sink = ClickHouseSink::open(config.clone()).unwrap();
    let mut measured = 0;
    for b in &batches {
        let spec = b.output;
        let before = sink.written().0;
        sink.commit(b).unwrap();
        sink.flush().unwrap();
        let written = sink.written().0 - before;
        let positions = key_positions(&spec);
        let keys: BTreeSet<(u64, Vec<Value>)> = b
            .updates
            .iter()
            .map(|(row, t, _)| (*t, positions.iter().map(|&i| row[i].clone()).collect()))
            .collect();
        assert!(
            written <= keys.len() as u64,
            "{}: {written} rows for {} changed keys",
            spec.name,
            keys.len()
        );
        if b.updates.iter().any(|u| u.2 < 0) {
            measured += 1;
            assert_eq!(written, keys.len() as u64);
        }
    }
    assert!(measured >= 10, "reorg batches measured: {measured}");
    assert_eq!(
        current(&config, &specs()[0]),
        memory_state(&batches, gas_fees::BLOCKS)
    );
}

#[test]
fn the_binary_migrates_writes_and_restarts_with_increasing_epochs() {
    let db = "cf_binary_restart";
    crate::support::clickhouse::query(&format!("DROP DATABASE IF EXISTS {db}"));
    let url = format!("http://{}", crate::support::clickhouse::addr());
    let bin = env!("CARGO_BIN_EXE_chainflow");
    for _ in 0..2 {
        let out = std::process::Command::new(bin)
            .args(["migrate", "--clickhouse", &url, "--database", db])
            .output()
            .unwrap();
        crate::support::assert_success(&out);
    }
    let config = ClickHouseConfig {
        database: db.into(),
        ..ClickHouseConfig::default()
    };
    let max_version = || {
        crate::support::clickhouse::query(&format!("SELECT max(version) FROM {db}.gas_fees_blocks"))
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let mut last = 0;
    for blocks in ["50", "80"] {
        let out = crate::support::devnet_run(
            blocks.parse().unwrap(),
            &["--seed", "5", "--clickhouse", &url],
            &[("CHAINFLOW_SINKS__CLICKHOUSE__DATABASE", db)],
        );
        crate::support::assert_success(&out);
        let rows = current(&config, &specs()[0]);
        assert_eq!(
            rows.len(),
            blocks.parse::<usize>().unwrap(),
            "one current row per canonical block"
        );
        let v = max_version();
        assert!(
            v > last,
            "epochs keep increasing across runs: {v} after {last}"
        );
        last = v;
    }
}

/// A TCP forwarder to ClickHouse that a test can take down (closing every connection) and
/// bring back.
struct Proxy {
    url: String,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start() -> Proxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let (u, c) = (up.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !u.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(crate::support::clickhouse::addr())
                else {
                    continue;
                };
                c.lock()
                    .unwrap()
                    .extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { url, up, conns }
    }

    fn down(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    fn up(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn clickhouse_unreachable_at_start_is_a_clear_error_after_retries() {
    let proxy = Proxy::start();
    proxy.down();
    let mut config = ClickHouseConfig {
        url: proxy.url.clone(),
        ..ClickHouseConfig::default()
    };
    config.delivery.attempts = 3;
    let err = ClickHouseSink::open(config)
        .err()
        .expect("open fails")
        .to_string();
    assert!(
        err.contains(&format!(
            "cannot reach ClickHouse at {} after 3 attempts",
            proxy.url
        )),
        "{err}"
    );
}

#[test]
fn clickhouse_going_away_mid_run_loses_nothing_once_back_and_fails_clearly_if_not() {
    let db = database("going_away_mid_run");
    let proxy = Proxy::start();
    let mut config = ClickHouseConfig {
        url: proxy.url.clone(),
        ..db.clone()
    };
    config.delivery.attempts = 8;
    let batches = devnet_batches(120, 6);
    let half = batches.len() / 2;
    let (first, second) = (batches[..half].to_vec(), batches[half..].to_vec());
    let mut sink = ClickHouseSink::open(config).unwrap();
    for b in &first {
        sink.commit(b).unwrap();
    }
    sink.flush().unwrap();
    proxy.down();
    let writer = std::thread::spawn(move || {
        for b in &second {
            sink.commit(b).unwrap();
        }
        let flushed = sink.flush();
        (sink, flushed)
    });
    std::thread::sleep(Duration::from_millis(1500));
    proxy.up();
    let (mut sink, flushed) = writer.join().unwrap();
    flushed.expect("the insert is retried until the server is back");
    for spec in specs() {
        assert_eq!(
            current(&db, &spec),
            memory_state(&batches, spec.name),
            "{}: nothing lost",
            spec.name
        );
    }

    // Down for longer than the retries: a clear error, and the pipeline would stop.
    let mut short = ClickHouseConfig {
        url: proxy.url.clone(),
        ..db.clone()
    };
    short.delivery.attempts = 2;
    let mut short = ClickHouseSink::open(short).unwrap();
    proxy.down();
    short.commit(&batches[0]).unwrap();
    let err = short.flush().unwrap_err().to_string();
    assert!(err.contains("failed after 2 attempt(s)"), "{err}");
    drop(sink.flush());
}
