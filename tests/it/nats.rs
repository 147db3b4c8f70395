//! anvil -> `chainflow publish-heads` -> NATS JetStream -> `chainflow run --nats` -> sinks
//! (PostgreSQL, ClickHouse) and the NATS egress: exact under a reorg storm, under kill -9 of
//! either process at random points, and with garbage injected into the stream.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chainflow::dataflows::gas_fees::GasFees;
use chainflow::engine::dataflow::{Dataflow, OutputSpec, Value};
use chainflow::sinks::postgres::PostgresConfig;
use chainflow::sources::nats::wire::{
    CONTENT_TYPE_BINCODE, CONTENT_TYPE_JSON, ChainEventV1, Format,
};

use crate::clickhouse_crash::storm_step;
use crate::clickhouse_sink::outputs_converge;
use crate::rpc::{block_with_txs, node_with_blocks, replacements};
use crate::support::anvil::{Anvil, Rng};
use crate::support::nats::{self as sn, Names};
use crate::support::node_oracle::gas_fees_all_from_node;
use crate::support::postgres::{rows, schema, sink_toml};
use crate::support::{KillOnDrop, wait_until};

fn specs() -> Vec<OutputSpec> {
    GasFees.outputs()
}

/// Starts chainflow with `args`, its log at `log`; the process is killed when the handle
/// drops (a failed check leaves nothing running).
fn spawn(args: &[String], log: &Path) -> KillOnDrop {
    let log = std::fs::File::create(log).unwrap();
    KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_chainflow"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

fn engine_args(config: &Path) -> Vec<String> {
    vec![
        "run".into(),
        "--config".into(),
        config.display().to_string(),
    ]
}

fn write_config(dir: &Path, names: &Names, sinks: &str) -> PathBuf {
    let path = dir.join("chainflow.toml");
    let text = format!(
        "{}\n[sinks.console]\nenabled = false\n\n{sinks}\n",
        names.toml()
    );
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Runs `check`; when it fails, prints the last lines of each of `logs` before the panic goes
/// on, so a failure in CI shows what the processes said.
pub(crate) fn with_logs<T>(logs: &[&Path], check: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
        Ok(v) => v,
        Err(panic) => {
            for log in logs {
                let text = log_of(log);
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(60)..].join("\n");
                eprintln!("---- last lines of {} ----\n{tail}", log.display());
            }
            std::panic::resume_unwind(panic)
        }
    }
}

/// The node's recompute of every output, as the readers return them.
fn want(anvil: &Anvil) -> BTreeMap<&'static str, BTreeMap<Vec<Value>, isize>> {
    gas_fees_all_from_node(&anvil.http_url(), 0)
        .values()
        .into_iter()
        .map(|(name, rows)| (name, rows.into_iter().map(|r| (r, 1)).collect()))
        .collect()
}

/// Waits until folding the egress stream gives the node's state for every output.
fn egress_converges(names: &Names, anvil: &Anvil, what: &str) -> usize {
    let started = Instant::now();
    loop {
        let want = want(anvil);
        let mut total = 0;
        let mut diff = None;
        for spec in specs() {
            let (got, read) = sn::fold_egress(names, &spec);
            total += read;
            if got != want[spec.name] && diff.is_none() {
                let extra: Vec<_> = got
                    .iter()
                    .filter(|(k, _)| !want[spec.name].contains_key(*k))
                    .take(2)
                    .collect();
                let missing: Vec<_> = want[spec.name]
                    .iter()
                    .filter(|(k, _)| !got.contains_key(*k))
                    .take(2)
                    .collect();
                diff = Some(format!(
                    "{}: {} rows, want {}; extra {extra:?}; missing {missing:?}",
                    spec.name,
                    got.len(),
                    want[spec.name].len()
                ));
            }
        }
        match diff {
            None => return total,
            Some(d) if started.elapsed() > Duration::from_secs(30) => {
                panic!("{what}: the folded egress differs from the node: {d}")
            }
            Some(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Waits until the engine has acknowledged every message of the events stream.
fn all_acked(names: &Names, what: &str) {
    wait_until(20, || match sn::consumer_backlog(names) {
        (0, 0) => Ok(()),
        (pending, ack_pending) => Err(format!(
            "{what}: {pending} messages not delivered, {ack_pending} not acknowledged"
        )),
    });
}

fn dead_letters(names: &Names) -> Vec<(String, async_nats::HeaderMap, Vec<u8>)> {
    sn::messages(&names.dead)
}

/// A test's names, a schema `nats_<test>`, a node with `blocks` blocks (see
/// [`node_with_blocks`]), a temporary folder and the run's config in it.
fn pg_run(
    test: &str,
    blocks: u64,
    spread: u64,
) -> (Names, PostgresConfig, Anvil, tempfile::TempDir, PathBuf) {
    let names = sn::names(test);
    let pg = schema(&format!("nats_{test}"));
    let anvil = node_with_blocks(blocks, spread);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &names, &sink_toml(&pg));
    (names, pg, anvil, dir, config)
}

/// Stops the engine (see [`stop`]), then the extractor.
fn stop_with_publisher(engine: KillOnDrop, log: &Path, publisher: KillOnDrop) {
    stop(engine, log);
    end_publisher(publisher);
}

/// Kills the extractor, which must still be running.
fn end_publisher(mut publisher: KillOnDrop) {
    publisher.kill().unwrap();
    publisher.wait().unwrap();
}

fn stop(mut child: KillOnDrop, log: &Path) {
    let pid = child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", log_of(log));
}

#[test]
fn nats_ingress_and_egress_stay_exact_through_a_reorg_storm() {
    let names = sn::names("storm");
    let pg = schema("nats_storm");
    let ch = crate::support::clickhouse::database("nats_storm");
    let anvil = node_with_blocks(40, 4);
    let dir = tempfile::tempdir().unwrap();
    let sinks = format!(
        "{}\n[sinks.clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\nbatch_ms = 100\n",
        sink_toml(&pg),
        ch.url,
        ch.database
    );
    let config = write_config(dir.path(), &names, &sinks);
    // JSON on the wire for this run: the engine reads both formats.
    let mut publish = names.publish_args(&anvil.ws_url());
    publish.extend(["--format".to_string(), "json".to_string()]);
    let (plog, elog) = (
        dir.path().join("publish.log"),
        dir.path().join("engine.log"),
    );
    let publisher = spawn(&publish, &plog);
    let engine = std::sync::Mutex::new(spawn(&engine_args(&config), &elog));
    let running = || engine.lock().unwrap().try_wait().unwrap().is_none();

    let mut rng = Rng(0x6a75);
    let mut reorgs = 0;
    for step in 0..150 {
        reorgs += u64::from(storm_step(&anvil, &mut rng, 10_000 + step));
        std::thread::sleep(Duration::from_millis(rng.below(30)));
    }
    assert!(reorgs >= 20, "only {reorgs} reorgs");
    let changes = with_logs(&[&elog, &plog], || {
        outputs_converge(
            &|s| rows(&pg, s),
            &anvil,
            &running,
            "postgres after the storm",
        );
        outputs_converge(
            &|s| crate::support::clickhouse::current(&ch, s),
            &anvil,
            &running,
            "clickhouse after the storm",
        );
        let changes = egress_converges(&names, &anvil, "egress after the storm");
        all_acked(&names, "after the storm");
        changes
    });
    assert!(
        dead_letters(&names).is_empty(),
        "a consistent stream has no dead letters"
    );
    let events = sn::messages(&names.events);
    // Every event is JSON as asked, and reorgs were published as reorgs.
    assert!(
        events
            .iter()
            .all(|(_, h, _)| h.get("Content-Type").map(|v| v.as_str()) == Some(CONTENT_TYPE_JSON))
    );
    let reorged = events
        .iter()
        .filter(|(_, h, p)| {
            let ct = h.get("Content-Type").map(|v| v.as_str().to_string());
            !ChainEventV1::decode(ct.as_deref(), p)
                .unwrap()
                .old
                .is_empty()
        })
        .count();
    // Heads that arrive while the extractor is busy coalesce (the newest wins), so several
    // quick anvil reorgs can be one event: fewer reorg events than reorgs.
    assert!(reorged >= 5, "{reorged} reorg events in the stream");
    eprintln!(
        "nats storm: {reorgs} reorgs, {} events, {reorged} with retractions, {changes} egress changes, head {}",
        events.len(),
        anvil.head_number()
    );
    stop_with_publisher(engine.into_inner().unwrap(), &elog, publisher);
}

#[test]
fn kill_9_of_extractor_and_engine_loses_nothing_and_applies_nothing_twice() {
    let (names, pg, anvil, dir, config) = pg_run("kill9", 40, 4);
    let publish = names.publish_args(&anvil.ws_url());
    // Two workers: each writes its share of the keys with progress of its own, and each
    // restart resumes every writer at its own progress.
    let mut engine_cmd = engine_args(&config);
    engine_cmd.extend(["-w".to_string(), "2".to_string()]);
    let mut rng = Rng(0x9c1d);
    let (mut reorgs, mut salt) = (0u64, 200_000u64);
    const RUNS: usize = 4;
    let mut logs = Vec::new();
    for run in 0..RUNS {
        let plog = dir.path().join(format!("publish{run}.log"));
        let elog = dir.path().join(format!("engine{run}.log"));
        let mut publisher = Some(spawn(&publish, &plog));
        let mut engine = Some(spawn(&engine_cmd, &elog));
        // The storm runs; each process dies without warning at its own random point.
        let started = Instant::now();
        let kill_publisher = Duration::from_millis(300 + rng.below(2_500));
        let kill_engine = Duration::from_millis(300 + rng.below(2_500));
        let kill = |child: Option<KillOnDrop>, log: &Path| {
            if let Some(mut child) = child {
                assert!(child.try_wait().unwrap().is_none(), "{}", log_of(log));
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
            }
        };
        while publisher.is_some() || engine.is_some() {
            salt += 1;
            reorgs += u64::from(storm_step(&anvil, &mut rng, salt));
            std::thread::sleep(Duration::from_millis(rng.below(40)));
            if started.elapsed() > kill_publisher {
                kill(publisher.take(), &plog);
            }
            if started.elapsed() > kill_engine {
                kill(engine.take(), &elog);
            }
        }
        // The chain moves on (and sometimes shrinks) while both are down.
        if rng.below(3) == 0 {
            anvil.rpc("anvil_rollback", serde_json::json!([1 + rng.below(5)]));
        }
        for _ in 0..rng.below(6) {
            salt += 1;
            reorgs += u64::from(storm_step(&anvil, &mut rng, salt));
        }
        logs.push((plog, elog));
    }
    assert!(reorgs >= 10, "only {reorgs} reorgs");
    let (plog, elog) = (
        dir.path().join("publish.log"),
        dir.path().join("engine.log"),
    );
    let publisher = spawn(&publish, &plog);
    let engine = std::sync::Mutex::new(spawn(&engine_cmd, &elog));
    let running = || engine.lock().unwrap().try_wait().unwrap().is_none();
    // More blocks and a reorg after the restarts.
    for i in 0..5 {
        block_with_txs(&anvil, 900_000 + i, 2);
    }
    anvil.reorg(3, &replacements(&anvil, 3, 950_000));
    with_logs(&[&elog, &plog], || {
        outputs_converge(&|s| rows(&pg, s), &anvil, &running, "after the kills");
        egress_converges(&names, &anvil, "egress after the kills");
        all_acked(&names, "after the kills");
    });
    // No message lost or applied twice: every event of the stream fit the chain as applied
    // (a republished or missing event would not, and would be dead-lettered).
    assert!(
        dead_letters(&names).is_empty(),
        "dead letters: {:?}",
        dead_letters(&names)
            .iter()
            .map(|(_, h, _)| h.get("Chainflow-Reason").map(|v| v.to_string()))
            .collect::<Vec<_>>()
    );
    let keys = crate::support::postgres::progress(&pg);
    assert!(
        keys.contains_key("gas_fees_blocks#0/2") && keys.contains_key("gas_fees_blocks#1/2"),
        "progress per writer: {keys:?}"
    );
    let resumed = logs
        .iter()
        .skip(1)
        .filter(|(p, _)| log_of(p).contains("resuming after the last published event"))
        .count();
    assert!(resumed >= 1, "no extractor resumed from the stream");
    let events = sn::messages(&names.events).len();
    eprintln!(
        "nats kill -9: {RUNS} runs, {reorgs} reorgs, {events} events, {resumed} extractor resumes, head {}",
        anvil.head_number()
    );
    stop_with_publisher(engine.into_inner().unwrap(), &elog, publisher);
}

#[test]
fn garbage_and_truncated_messages_go_to_the_dead_letter_subject() {
    let (names, pg, anvil, dir, config) = pg_run("garbage", 20, 3);
    let (plog, elog) = (
        dir.path().join("publish.log"),
        dir.path().join("engine.log"),
    );
    let publisher = spawn(&names.publish_args(&anvil.ws_url()), &plog);
    let engine = std::sync::Mutex::new(spawn(&engine_args(&config), &elog));
    let running = || engine.lock().unwrap().try_wait().unwrap().is_none();
    with_logs(&[&elog, &plog], || {
        outputs_converge(&|s| rows(&pg, s), &anvil, &running, "before the garbage")
    });

    // A valid event to mutilate: the last one published.
    let chain = anvil.chain_id();
    let subject = format!("{}.{chain}.events", names.prefix);
    let events = sn::messages(&names.events);
    let (_, headers, last) = events.last().unwrap().clone();
    let ct = headers.get("Content-Type").unwrap().to_string();
    assert_eq!(ct, CONTENT_TYPE_BINCODE);
    let valid = ChainEventV1::decode(Some(&ct), &last).unwrap();
    // Decodes, but does not fit the chain as applied: a repeat of a committed block.
    let repeat = valid.encode(Format::Json).unwrap();
    // Decodes, but belongs to another chain than its subject says.
    let mut other = valid.clone();
    other.chain_id = chain + 1;
    for b in other.new.iter_mut().chain(other.old.iter_mut()) {
        b.chain_id = chain + 1;
    }
    let garbage: Vec<(&str, Vec<u8>)> = vec![
        (CONTENT_TYPE_BINCODE, b"\xff\xfe garbage \x00\x01".to_vec()),
        (CONTENT_TYPE_BINCODE, last[..last.len() / 2].to_vec()),
        (CONTENT_TYPE_JSON, b"{\"version\":1,\"chain_id\":".to_vec()),
        (CONTENT_TYPE_JSON, b"[1,2,3]".to_vec()),
        ("text/plain", b"hello".to_vec()),
        (CONTENT_TYPE_JSON, repeat),
        (CONTENT_TYPE_BINCODE, other.encode(Format::Bincode).unwrap()),
    ];
    sn::rt().block_on(async {
        let js = sn::js().await;
        for (i, (ct, payload)) in garbage.iter().enumerate() {
            let mut h = async_nats::HeaderMap::new();
            h.insert("Content-Type", *ct);
            h.insert("Nats-Msg-Id", format!("garbage-{i}").as_str());
            js.publish_with_headers(subject.clone(), h, payload.clone().into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    });
    // The chain goes on, with a reorg, and the engine keeps up.
    for i in 0..5 {
        block_with_txs(&anvil, 500 + i, 2);
    }
    anvil.reorg(2, &replacements(&anvil, 2, 600));
    with_logs(&[&elog, &plog], || {
        outputs_converge(&|s| rows(&pg, s), &anvil, &running, "after the garbage");
        all_acked(&names, "after the garbage");
    });
    let dead = dead_letters(&names);
    assert_eq!(dead.len(), garbage.len(), "one dead letter per bad message");
    for ((_, h, payload), (_, sent)) in dead.iter().zip(&garbage) {
        assert_eq!(payload, sent, "the dead letter keeps the original bytes");
        let reason = h.get("Chainflow-Reason").unwrap().to_string();
        assert!(!reason.is_empty());
        assert_eq!(h.get("Chainflow-Subject").unwrap().as_str(), subject);
        assert!(h.get("Chainflow-Stream-Sequence").is_some());
    }
    let reasons: Vec<String> = dead
        .iter()
        .map(|(_, h, _)| h.get("Chainflow-Reason").unwrap().to_string())
        .collect();
    assert!(reasons[4].contains("content type"), "{reasons:?}");
    assert!(reasons[5].contains("does not fit"), "{reasons:?}");
    assert!(reasons[6].contains("subject"), "{reasons:?}");
    let log = log_of(&elog);
    assert!(log.contains("dead-lettering"), "{log}");
    stop(engine.into_inner().unwrap(), &elog);
    let log = log_of(&elog);
    assert!(
        log.contains(&format!("dead_letters={}", garbage.len())),
        "{log}"
    );
    end_publisher(publisher);
}

/// Runs the engine over the whole events stream of `names` through NATS ingress and returns
/// every committed update as (output, row, epoch, diff), sorted.
fn replay_stream(
    names: &Names,
    expected_events: u64,
) -> Vec<(&'static str, Vec<Value>, u64, isize)> {
    use chainflow::engine::{self, EngineSettings, RunControl};
    use chainflow::sinks::memory::MemorySink;
    use chainflow::sources::nats::{NatsConfig, ingress::Ingress};
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    let control = RunControl::default();
    let config = NatsConfig {
        url: sn::url(),
        stream: names.events.clone(),
        consumer: names.consumer.clone(),
        deadletter_stream: names.dead.clone(),
        subject_prefix: names.prefix.clone(),
        ..NatsConfig::default()
    };
    let (ingress, source) = Ingress::start(
        &config,
        Arc::clone(&control.durable),
        Arc::clone(&control.shutdown),
    )
    .unwrap();
    let settings = EngineSettings {
        start_epoch: ingress.first_epoch,
        ..EngineSettings::default()
    };
    let sink = MemorySink::new();
    // Stop once every event was read and committed.
    let stats = Arc::clone(&ingress.stats);
    let (shutdown, durable) = (Arc::clone(&control.shutdown), Arc::clone(&control.durable));
    let watcher = std::thread::spawn(move || {
        wait_until(60, || {
            if stats.events.load(Ordering::Relaxed) < expected_events
                || durable.load(Ordering::Relaxed) <= expected_events
            {
                Err("replay stalled".into())
            } else {
                Ok(())
            }
        });
        shutdown.store(true, Ordering::Relaxed);
    });
    engine::run(
        &settings,
        timely::Config::thread(),
        vec![&GasFees],
        source,
        vec![Box::new(sink.clone())],
        &control,
    )
    .unwrap();
    watcher.join().unwrap();
    ingress.finish();
    let mut out: Vec<_> = sink
        .batches()
        .into_iter()
        .flat_map(|b| {
            let name = b.output.name;
            b.updates
                .into_iter()
                .map(move |(row, epoch, diff)| (name, row, epoch, diff))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn replaying_the_stream_reproduces_the_same_updates_at_the_same_epochs() {
    use chainflow::sources::devnet::{Devnet, DevnetConfig};

    let names = sn::names("replay");
    // Publish a devnet chain with reorgs, as publish-heads would.
    let events: Vec<_> = Devnet::new(DevnetConfig {
        seed: 11,
        block_time_ms: 0,
        max_blocks: Some(300),
        txs_per_block: 8,
        reorg_rate: 0.2,
        ..DevnetConfig::default()
    })
    .unwrap()
    .map(|e| e.unwrap())
    .collect();
    let chain = events[0].event.new_blocks()[0].chain_id;
    let subject = format!("{}.{chain}.events", names.prefix);
    sn::rt().block_on(async {
        let js = sn::js().await;
        chainflow::nats::ensure_stream(
            &js,
            &names.events,
            std::slice::from_ref(&subject),
            Duration::ZERO,
            Duration::from_secs(120),
        )
        .await
        .unwrap();
        for (i, e) in events.iter().enumerate() {
            let wire = ChainEventV1::from_event(chain, e.event.clone(), e.finalized.map(|f| f.1));
            // Alternate the formats: the engine reads both.
            let format = if i % 2 == 0 {
                Format::Bincode
            } else {
                Format::Json
            };
            let mut h = async_nats::HeaderMap::new();
            h.insert("Nats-Msg-Id", wire.msg_id().as_str());
            h.insert("Content-Type", format.content_type());
            js.publish_with_headers(subject.clone(), h, wire.encode(format).unwrap().into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    });
    let reorgs = events.iter().filter(|e| e.event.depth() > 0).count();
    assert!(reorgs >= 10, "{reorgs} reorgs");
    let n = events.len() as u64;
    let first = replay_stream(&names, n);
    let second = replay_stream(&names, n);
    assert!(!first.is_empty());
    assert_eq!(
        first, second,
        "a replay reproduces every update at its epoch"
    );
    // Epochs are the stream sequences: every message is one epoch.
    let epochs: std::collections::BTreeSet<u64> = first.iter().map(|u| u.2).collect();
    assert!(epochs.iter().all(|e| (1..=n).contains(e)));
    assert!(
        epochs.len() as u64 > n / 2,
        "{} epochs with updates",
        epochs.len()
    );
    // And the state equals the engine run straight over the same events.
    let direct = chainflow::sinks::memory::MemorySink::new();
    chainflow::engine::run(
        &chainflow::engine::EngineSettings::default(),
        timely::Config::thread(),
        vec![&GasFees],
        events.into_iter().map(Ok),
        vec![Box::new(direct.clone())],
        &chainflow::engine::RunControl::default(),
    )
    .unwrap();
    let fold = |updates: Vec<(&'static str, Vec<Value>, isize)>| {
        let mut m: BTreeMap<(&'static str, Vec<Value>), isize> = BTreeMap::new();
        for (o, r, d) in updates {
            *m.entry((o, r)).or_default() += d;
        }
        m.retain(|_, d| *d != 0);
        m
    };
    let direct = fold(
        direct
            .batches()
            .into_iter()
            .flat_map(|b| {
                let name = b.output.name;
                b.updates.into_iter().map(move |(r, _, d)| (name, r, d))
            })
            .collect(),
    );
    assert_eq!(
        fold(first.into_iter().map(|(o, r, _, d)| (o, r, d)).collect()),
        direct
    );
    assert!(dead_letters(&names).is_empty());
}

#[test]
fn egress_progress_is_kept_per_writer_and_goes_with_its_stream() {
    use chainflow::sinks::nats::{EgressConfig, EgressSink};
    use chainflow::sinks::writers::Writer;
    use chainflow::sinks::{OutputBatch, Sink};
    use std::sync::Arc;

    let names = sn::names("egress_writers");
    let spec = specs()
        .into_iter()
        .find(|s| s.name == "gas_fees_blocks")
        .unwrap();
    let rows: Vec<Vec<Value>> = chainflow::dataflows::gas_fees::recompute(
        &chainflow::sources::devnet::Devnet::new(chainflow::sources::devnet::DevnetConfig {
            max_blocks: Some(20),
            reorg_rate: 0.0,
            block_time_ms: 0,
            ..Default::default()
        })
        .unwrap()
        .flat_map(|e| e.unwrap().event.new_blocks().to_vec())
        .collect::<Vec<_>>(),
    )
    .blocks
    .iter()
    .map(chainflow::engine::dataflow::Row::values)
    .collect();
    // Row i inserted at epoch 1 + i.
    let batch = |from: usize, to: usize| OutputBatch {
        output: spec,
        lower: 1 + from as u64,
        upper: 1 + to as u64,
        updates: (from..to)
            .map(|i| (rows[i].clone(), 1 + i as u64, 1))
            .collect(),
        finalized: Arc::new(BTreeMap::new()),
        caught_up: true,
        errors: Vec::new(),
    };
    let config = |index, count| EgressConfig {
        url: sn::url(),
        stream: names.out.clone(),
        subject_prefix: names.prefix.clone(),
        writer: Writer { index, count },
        ..EgressConfig::default()
    };
    let specs = [spec];
    let open = |index, count| EgressSink::open(config(index, count), &specs).unwrap();
    // Two writers stop at different epochs: each resumes at its own last one.
    let (mut w0, mut w1) = (open(0, 2), open(1, 2));
    w0.commit(&batch(0, 5)).unwrap();
    w1.commit(&batch(5, 12)).unwrap();
    drop((w0, w1));
    let (w0, w1) = (open(0, 2), open(1, 2));
    assert_eq!(w0.committed().get(spec.name), Some(&5));
    assert_eq!(w1.committed().get(spec.name), Some(&12));
    assert_eq!(w0.last_epoch(), Some(12));
    // One writer after two that stopped unevenly republishes from the lowest.
    assert_eq!(open(0, 1).committed().get(spec.name), Some(&5));
    // A new stream of the same name starts with no progress.
    sn::rt().block_on(async {
        sn::js().await.delete_stream(&names.out).await.unwrap();
    });
    let mut fresh = open(0, 2);
    assert!(fresh.committed().is_empty(), "{:?}", fresh.committed());
    assert_eq!(fresh.last_epoch(), None);
    // Once the new stream holds messages, the other writer's entry of the old stream still
    // does not count (it is stamped for the old stream).
    fresh.commit(&batch(0, 3)).unwrap();
    let other = open(1, 2);
    assert_eq!(
        other.committed().get(spec.name).copied().unwrap_or(0),
        0,
        "writer 1 starts over on the new stream"
    );
    assert_eq!(other.last_epoch(), Some(3));
    drop((fresh, other));
    // Writers that open at the same moment on a new stream (processes of a cluster starting
    // together) all open and write: none deletes what another creates.
    for round in 0..5 {
        sn::rt().block_on(async {
            sn::js().await.delete_stream(&names.out).await.unwrap();
        });
        std::thread::scope(|s| {
            let writers: Vec<_> = (0..3)
                .map(|w| {
                    let open = &open;
                    let batch = &batch;
                    s.spawn(move || {
                        let mut sink = open(w, 3);
                        sink.commit(&batch(w * 4, w * 4 + 4))
                            .unwrap_or_else(|e| panic!("round {round}, writer {w}: {e}"));
                    })
                })
                .collect();
            for w in writers {
                w.join().unwrap();
            }
        });
        for w in 0..3 {
            assert_eq!(
                open(w, 3).committed().get(spec.name),
                Some(&(w as u64 * 4 + 4)),
                "round {round}, writer {w}"
            );
        }
    }
}

#[test]
fn a_replay_of_the_stream_under_another_worker_count_after_an_uneven_stop_is_refused() {
    let names = sn::names("uneven");
    let pg = schema("nats_uneven");
    // Two writers that stopped at different epochs, as a kill -9 leaves them.
    crate::support::postgres::client()
        .batch_execute(&format!(
            "INSERT INTO {}.chainflow_progress (output, upper_epoch, finalized) VALUES
             ('gas_fees_blocks#0/2', 14, '{{}}'), ('gas_fees_blocks#1/2', 12, '{{}}')",
            pg.schema
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &names, &sink_toml(&pg));
    let log = dir.path().join("engine.log");
    let mut args = engine_args(&config);
    args.extend(["-w".to_string(), "1".to_string()]);
    let mut engine = spawn(&args, &log);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = engine.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            engine.kill().unwrap();
            panic!("still running: {}", log_of(&log));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = log_of(&log);
    assert!(!status.success(), "{text}");
    assert!(
        text.contains("output 'gas_fees_blocks'") && text.contains("restart with 2 workers"),
        "{text}"
    );
}

#[test]
fn two_processes_follow_one_stream_and_each_writes_its_share() {
    let (names, pg, anvil, dir, config) = pg_run("procs", 30, 4);
    let plog = dir.path().join("publish.log");
    let publisher = spawn(&names.publish_args(&anvil.ws_url()), &plog);
    let hosts = dir.path().join("hosts");
    crate::support::loopback_hosts(&hosts, 2);
    let logs: Vec<PathBuf> = (0..2)
        .map(|p| dir.path().join(format!("engine{p}.log")))
        .collect();
    let engines: Vec<std::sync::Mutex<KillOnDrop>> = (0..2)
        .map(|p| {
            let mut args = engine_args(&config);
            args.extend(
                [
                    "-n",
                    "2",
                    "-p",
                    &p.to_string(),
                    "-h",
                    &hosts.display().to_string(),
                ]
                .map(String::from),
            );
            std::sync::Mutex::new(spawn(&args, &logs[p]))
        })
        .collect();
    let running = || {
        engines
            .iter()
            .all(|e| e.lock().unwrap().try_wait().unwrap().is_none())
    };
    let mut rng = Rng(0x2b0c);
    for step in 0..40 {
        storm_step(&anvil, &mut rng, 30_000 + step);
        std::thread::sleep(Duration::from_millis(rng.below(30)));
    }
    let all: Vec<&Path> = logs
        .iter()
        .map(|l| l.as_path())
        .chain([plog.as_path()])
        .collect();
    with_logs(&all, || {
        outputs_converge(&|s| rows(&pg, s), &anvil, &running, "two processes");
        egress_converges(&names, &anvil, "egress of two processes");
    });
    // Each process read the whole stream through a consumer of its own and wrote the keys
    // of its worker.
    let keys = crate::support::postgres::progress(&pg);
    for writer in ["0/2", "1/2"] {
        assert!(
            keys.contains_key(&format!("gas_fees_blocks#{writer}")),
            "{writer}: {keys:?}"
        );
    }
    // Both stop together: a process drains only once every process has closed its input.
    let engines: Vec<KillOnDrop> = engines
        .into_iter()
        .map(|e| e.into_inner().unwrap())
        .collect();
    for engine in &engines {
        let pid = engine.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
    }
    for (mut engine, log) in engines.into_iter().zip(&logs) {
        assert!(engine.wait().unwrap().success(), "{}", log_of(log));
    }
    end_publisher(publisher);
}
