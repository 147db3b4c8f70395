//! NATS JetStream ingress and egress against a real server, each beside a standalone
//! async-nats loop over the same payloads in the same run, and the cost of message-id dedup.
//!
//! `cargo bench --bench nats` (`make bench` runs it after `postgres`). The server is
//! `CHAINFLOW_NATS_URL` from the environment or from `.services/env` (written by
//! `make services`), else `nats://127.0.0.1:4222`, with JetStream; when it cannot be reached
//! the run is skipped with a message. Environment: `BENCH_MESSAGES` (messages per path,
//! default 20000; 500 without `--bench`, as under `cargo test --all-targets`),
//! `BENCH_NATS_RUNS` (default 3; 1 without `--bench`), `BENCH_NATS_TXS` (mean transactions
//! per devnet block, default 200), `BENCH_NATS_REORG_DEPTH` (deepest devnet reorg, default 4:
//! a 64-deep reorg of 200-transaction blocks is a message of several MiB, above the server's
//! default `max_payload` of 1 MiB), `BENCH_NATS_ONLY` (`ingress`, `egress`, `dedup` or a
//! comma-separated list: run only those parts).
//!
//! Everything lives in streams of this run only, `BENCH_<pid>_*`, on subjects under
//! `bench.<pid>` (the `subject_prefix` of ingress and egress), so nothing overlaps the streams
//! of a deployment or of the tests (`chainflow.<id>.events`, `chainflow.out.>`,
//! `chainflow.deadletter.>`); they are deleted at the end, also when the bench panics.
//!
//! Payloads (generated, not timed): the first N events of the devnet (seed 2026, chain 1337,
//! `BENCH_NATS_TXS` transactions per block on average, 3% reorgs), as `ChainEventV1` in bincode
//! with their `Nats-Msg-Id` (`ChainEventV1::msg_id`) and `Content-Type`, as
//! `chainflow publish-heads` publishes them; for egress, N `gas_fees_blocks` rows of a devnet
//! chain without reorgs (`gas_fees::recompute`, one epoch per row, `OutputBatch`es of 1000
//! epochs as the engine's release operator hands them over): N inserts, so N changes and N
//! messages.
//!
//! Every timed path runs on a thread of its own (a plain loop with a tokio runtime of its
//! own), so none pays for the main thread's malloc arena, which holds the generated payloads
//! and makes small allocations there several times slower. The paths take turns,
//! `BENCH_NATS_RUNS` times; the fastest run of each is reported.
//!
//! Ingress. The events are published once to `BENCH_<pid>_EVENTS` (file storage, the
//! ingress's 120 s duplicate window; not timed). Every path then reads all N from the stream's
//! first message with a durable pull consumer of its own (ack wait 300 s, max ack pending
//! 100000: the ingress's settings; explicit acks unless said). The clock starts once the consumer exists
//! and stops when the N-th ack is written and flushed to the server; afterwards the consumer
//! must report nothing pending and nothing unacknowledged.
//! - `async-nats pull + ack` (the anchor): `consumer.messages()` on a multi-thread runtime,
//!   `message.ack()` of each. (On a current-thread runtime the same loop is several times
//!   slower.)
//! - `async-nats pull + bincode decode + ack`: the same with `ChainEventV1::decode` (bincode
//!   and the schema check) of each payload before its ack: what decoding costs.
//! - `async-nats pull + cumulative ack`: the anchor with `AckPolicy::All` and one ack per 500
//!   messages (and the last): what the ack policy alone is worth, since the ingress acks
//!   cumulatively (one ack per committed watermark, every 20 ms at most).
//! - `chainflow Ingress`: `Ingress::start` (connect, consumer; not timed), then the
//!   `NatsSource` iterator for N events, the durable watermark set to epoch + 1 after each, as
//!   the engine does once its sinks commit, so the acker acks as it goes. Decoding, the subject
//!   check, the `ChainView` check and the hand-over to the iterator included.
//! - `chainflow Ingress + engine`: the same source fed to `engine::run` with the `gas_fees`
//!   dataflow, one worker, and a sink that drops the batches: acks follow the engine's own
//!   watermark. For reference: at 200 transactions per block the dataflow is the bottleneck.
//!
//! Egress, into a fresh `BENCH_<pid>_OUT` per run (file storage, the sink's 600 s duplicate
//! window):
//! - `async-nats publish` (the anchor is the faster of two): the sink's own payloads and ids
//!   (`encode_change`, `msg_id`, encoded before timing), each published with
//!   `publish_with_headers` and the sink's three headers, every acknowledgement awaited after
//!   each 1000 (the sink's pattern for a batch); once on a multi-thread runtime, once on a
//!   current-thread runtime like the sink's.
//! - `chainflow EgressSink`: `EgressSink::open` (not timed), then `commit` of every batch:
//!   change extraction and JSON encoding included.
//! - `encode only`: `changes` + `change_headers` (with `msg_id`) + `encode_change` of every
//!   batch, no NATS: the CPU part of the sink's time.
//!
//! Dedup: the plain publish loop (multi-thread runtime, 1000 in flight) into a fresh
//! `BENCH_<pid>_DEDUP` per configuration, without and with a `Nats-Msg-Id` header back to back
//! (which goes first alternates between runs), and after the latter the same messages again
//! into the stream that holds them (all N dropped as duplicates); for the events and for the
//! changes. The cost of the id is, per run, the time with it over the time without, minus one:
//! the median over the runs is reported with its range (the rates are the fastest runs').
//!
//! Client CPU is this process's user + system time (`/proc/self/stat`, 10 ms ticks); the
//! server shares the machine and is not counted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;
use common::{NullSink, env_or};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures_util::StreamExt;

use chainflow::dataflows::gas_fees::{self, GasFees};
use chainflow::engine::dataflow::{Dataflow, OutputSpec, Row, RowValues, Value};
use chainflow::engine::{self, EngineSettings, RunControl};
use chainflow::model::Epoch;
use chainflow::nats as cfnats;
use chainflow::sinks::nats::{self as egress, EgressConfig, EgressSink};
use chainflow::sinks::{OutputBatch, Sink};
use chainflow::sources::devnet::{Devnet, DevnetConfig};
use chainflow::sources::nats::NatsConfig;
use chainflow::sources::nats::ingress::Ingress;
use chainflow::sources::nats::wire::{ChainEventV1, Format};

/// Chain of the devnet events.
const CHAIN: u64 = 1337;
/// Changes per `OutputBatch`, and publishes in flight in the anchor loops.
const COMMIT_CHANGES: usize = 1_000;

/// The server: `CHAINFLOW_NATS_URL`, `.services/env`, the default.
fn url() -> String {
    common::services::service_url(&["CHAINFLOW_NATS_URL"], "CHAINFLOW_NATS_URL", || {
        NatsConfig::default().url
    })
}

/// CPU time (user + system) of this process from `/proc/self/stat` (clock ticks, assumed 100
/// per second). `None` off Linux.
fn cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time (user + system) of the local `nats-server` process, when one runs on this
/// machine (the first `/proc/<pid>` whose `comm` is `nats-server`); `None` otherwise.
fn server_cpu() -> Option<Duration> {
    static PID: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    let pid = (*PID.get_or_init(|| {
        std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .find_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
                (comm.trim() == "nats-server").then_some(pid)
            })
    }))?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// One timed run: wall time, this process's CPU time during it and the local server's.
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Option<Duration>,
    server: Option<Duration>,
}

impl Run {
    fn start() -> (Instant, Option<Duration>, Option<Duration>) {
        (Instant::now(), cpu(), server_cpu())
    }

    fn since(
        (started, cpu_before, server_before): (Instant, Option<Duration>, Option<Duration>),
    ) -> Run {
        let wall = started.elapsed();
        Run {
            wall,
            cpu: cpu().zip(cpu_before).map(|(a, b)| a - b),
            server: server_cpu().zip(server_before).map(|(a, b)| a - b),
        }
    }

    fn faster(self, other: Run) -> Run {
        if other.wall < self.wall { other } else { self }
    }
}

fn best(runs: &[Run]) -> Run {
    runs.iter().copied().reduce(Run::faster).unwrap()
}

/// The names of this run: streams `BENCH_<pid>_*`, subjects under `bench.<pid>`.
struct Names {
    pid: u32,
}

impl Names {
    fn stream(&self, what: &str) -> String {
        format!("BENCH_{}_{what}", self.pid)
    }
    fn prefix(&self) -> String {
        format!("bench.{}", self.pid)
    }
}

/// Deletes every stream of this run when dropped (also on a panic).
struct Cleanup {
    url: String,
    prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(client) = async_nats::connect(&self.url).await else {
                return;
            };
            let js = jetstream::new(client);
            let names: Vec<String> = js
                .stream_names()
                .filter_map(|n| async move { n.ok() })
                .collect()
                .await;
            for name in names.iter().filter(|n| n.starts_with(&self.prefix)) {
                if let Err(e) = js.delete_stream(name).await {
                    println!("nats bench: cannot delete stream {name}: {e}");
                }
            }
        });
    }
}

/// Which tokio runtime a plain loop runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// `new_multi_thread()` with a worker per CPU, as `#[tokio::main]`.
    MultiThread,
    /// `new_current_thread()`, as the egress sink.
    CurrentThread,
}

fn runtime(flavor: Flavor) -> tokio::runtime::Runtime {
    match flavor {
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .unwrap()
}

/// Runs `f` on a new thread: every path starts with a thread of its own (and its own malloc
/// arena: the main thread's is full of the generated payloads, which slows small
/// allocations there several-fold).
fn on_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

async fn connect(url: &str) -> (async_nats::Client, jetstream::Context) {
    let client = cfnats::connect(url).await.unwrap();
    let js = jetstream::new(client.clone());
    (client, js)
}

/// A fresh stream `name` on `subjects` (file storage, limits retention), replacing any.
async fn fresh_stream(
    js: &jetstream::Context,
    name: &str,
    subjects: Vec<String>,
    duplicate_window: Duration,
) -> stream::Stream {
    let _ = js.delete_stream(name).await;
    js.create_stream(stream::Config {
        name: name.to_string(),
        subjects,
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        duplicate_window,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Messages of `name`.
async fn stream_messages(js: &jetstream::Context, name: &str) -> u64 {
    js.get_stream(name)
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap()
        .state
        .messages
}

/// One message to publish: headers and payload.
#[derive(Clone)]
struct Outgoing {
    headers: async_nats::HeaderMap,
    payload: Bytes,
}

/// What a publish loop got back.
#[derive(Debug, Default, PartialEq, Eq)]
struct Acked {
    stored: u64,
    duplicates: u64,
}

/// The anchor's publish loop: every message published asynchronously, the acknowledgements
/// of each `COMMIT_CHANGES` awaited before the next ones go out.
async fn publish_loop(js: &jetstream::Context, subject: &str, messages: &[Outgoing]) -> Acked {
    let subject = async_nats::Subject::from(subject);
    let mut acked = Acked::default();
    for chunk in messages.chunks(COMMIT_CHANGES) {
        let mut pending = Vec::with_capacity(chunk.len());
        for m in chunk {
            let ack = js
                .publish_with_headers(subject.clone(), m.headers.clone(), m.payload.clone())
                .await
                .unwrap();
            pending.push(ack);
        }
        for ack in pending {
            if ack.await.unwrap().duplicate {
                acked.duplicates += 1;
            } else {
                acked.stored += 1;
            }
        }
    }
    acked
}

// ---------------------------------------------------------------------------------------------
// Payloads.

/// The first `n` devnet events as published: bincode payload, message id.
fn event_messages(n: usize, txs: u32, reorg_depth: u64) -> Vec<(ChainEventV1, Outgoing)> {
    let config = DevnetConfig {
        seed: 2026,
        chain_id: CHAIN,
        block_time_ms: 0,
        txs_per_block: txs,
        reorg_max_depth: reorg_depth,
        ..DevnetConfig::default()
    };
    Devnet::new(config)
        .unwrap()
        .take(n)
        .map(|e| {
            let e = e.unwrap();
            let wire = ChainEventV1::from_event(CHAIN, e.event, e.finalized.map(|(_, f)| f));
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", wire.msg_id().as_str());
            headers.insert("Content-Type", Format::Bincode.content_type());
            let payload = Bytes::from(wire.encode(Format::Bincode).unwrap());
            (wire, Outgoing { headers, payload })
        })
        .collect()
}

fn u64_at(row: &[Value], i: usize) -> u64 {
    match &row[i] {
        Value::U64(v) => *v,
        v => panic!("not a u64: {v:?}"),
    }
}

/// `n` `gas_fees_blocks` rows of a devnet chain without reorgs, one epoch each from 1, in
/// batches of `COMMIT_CHANGES` epochs.
fn block_batches(spec: OutputSpec, n: usize) -> Vec<OutputBatch> {
    let chain = common::devnet_chain(n as u64, CHAIN);
    let rows: Vec<RowValues> = gas_fees::recompute(&chain)
        .blocks
        .iter()
        .map(Row::values)
        .take(n)
        .collect();
    assert_eq!(rows.len(), n);
    rows.chunks(COMMIT_CHANGES)
        .enumerate()
        .map(|(i, chunk)| {
            let lower = 1 + (i * COMMIT_CHANGES) as Epoch;
            let last = chunk.last().unwrap();
            OutputBatch {
                output: spec,
                lower,
                upper: lower + chunk.len() as Epoch,
                updates: chunk
                    .iter()
                    .enumerate()
                    .map(|(j, row)| (row.clone(), lower + j as Epoch, 1))
                    .collect(),
                finalized: Arc::new(BTreeMap::from([(
                    u64_at(last, 0),
                    u64_at(last, 1).saturating_sub(64),
                )])),
                caught_up: true,
                errors: Vec::new(),
            }
        })
        .collect()
}

/// The egress sink's messages for `batches`, as it builds them.
fn change_messages(spec: &OutputSpec, batches: &[OutputBatch]) -> Vec<Outgoing> {
    batches
        .iter()
        .flat_map(|b| {
            egress::changes(b).into_iter().map(|c| {
                let headers = egress::change_headers(spec, &c);
                let payload = Bytes::from(egress::encode_change(spec, &c, &b.finalized));
                Outgoing { headers, payload }
            })
        })
        .collect()
}

fn without_id(messages: &[Outgoing]) -> Vec<Outgoing> {
    messages
        .iter()
        .map(|m| {
            let mut headers = async_nats::HeaderMap::new();
            for (name, values) in m.headers.iter() {
                if AsRef::<str>::as_ref(name) != "Nats-Msg-Id" {
                    for v in values {
                        headers.append(name.clone(), v.clone());
                    }
                }
            }
            assert!(headers.get("Nats-Msg-Id").is_none());
            assert_eq!(headers.len() + 1, m.headers.len());
            Outgoing {
                headers,
                payload: m.payload.clone(),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Ingress.

/// How a raw loop acks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Acks {
    /// `AckPolicy::Explicit`, every message acked.
    Each,
    /// `AckPolicy::All`, one ack per `CUMULATIVE_EVERY` messages and one for the last: what
    /// the ingress's acker does with the committed watermark.
    Cumulative,
}

/// Messages per cumulative ack in the raw loop.
const CUMULATIVE_EVERY: u64 = 500;

/// The consumer settings of the raw loops (the ingress's, with the ack policy of `acks`).
fn consumer_config(name: &str, acks: Acks) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(name.to_string()),
        deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: 1 },
        ack_policy: match acks {
            Acks::Each => consumer::AckPolicy::Explicit,
            Acks::Cumulative => consumer::AckPolicy::All,
        },
        ack_wait: Duration::from_secs(300),
        max_ack_pending: 100_000,
        ..Default::default()
    }
}

/// Waits until `consumer` has delivered `n` messages and holds no unacknowledged one, then
/// deletes it.
async fn settle_consumer(js: &jetstream::Context, stream: &str, consumer: &str, n: u64) {
    let s = js.get_stream(stream).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = s.consumer_info(consumer).await.unwrap();
        if info.num_ack_pending == 0 && info.num_pending == 0 && info.delivered.stream_sequence >= n
        {
            assert_eq!(info.ack_floor.stream_sequence, n, "ack floor of {consumer}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "consumer {consumer}: {} unacknowledged, {} pending, delivered up to {}",
            info.num_ack_pending,
            info.num_pending,
            info.delivered.stream_sequence
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.delete_consumer(consumer).await.unwrap();
}

/// The anchor: a durable pull consumer, `messages()`, ack each or cumulatively (decoding
/// each first if asked), on a multi-thread runtime of its own.
fn raw_ingress(url: &str, stream: &str, name: &str, n: u64, decode: bool, acks: Acks) -> Run {
    on_thread(|| {
        runtime(Flavor::MultiThread).block_on(async {
            let (client, js) = connect(url).await;
            let s = js.get_stream(stream).await.unwrap();
            let _ = s.delete_consumer(name).await;
            let c: consumer::PullConsumer = s
                .create_consumer(consumer_config(name, acks))
                .await
                .unwrap();
            let started = Run::start();
            let mut messages = c.messages().await.unwrap();
            let mut got = 0u64;
            let mut blocks = 0usize;
            while got < n {
                let m = messages.next().await.unwrap().unwrap();
                if decode {
                    let ct = m
                        .headers
                        .as_ref()
                        .and_then(|h| h.get("Content-Type"))
                        .map(|v| v.as_str());
                    let event = ChainEventV1::decode(ct, &m.payload).unwrap();
                    blocks += event.new.len();
                }
                got += 1;
                if acks == Acks::Each || got.is_multiple_of(CUMULATIVE_EVERY) || got == n {
                    m.ack().await.unwrap();
                }
            }
            client.flush().await.unwrap();
            let run = Run::since(started);
            assert!(!decode || blocks > 0);
            drop(messages);
            settle_consumer(&js, stream, name, n).await;
            run
        })
    })
}

/// The chainflow ingress: `NatsSource` read to `n` events, acks after the watermark; with
/// `engine`, through `engine::run` and `gas_fees`.
fn chainflow_ingress(
    rt: &tokio::runtime::Runtime,
    config: &NatsConfig,
    n: u64,
    engine: bool,
) -> Run {
    let run = on_thread(|| chainflow_ingress_run(config, n, engine));
    rt.block_on(async {
        let (_, js) = connect(&config.url).await;
        settle_consumer(&js, &config.stream, &config.consumer, n).await;
    });
    run
}

fn chainflow_ingress_run(config: &NatsConfig, n: u64, engine: bool) -> Run {
    let durable = Arc::new(AtomicU64::new(0));
    let shutdown = Arc::new(AtomicBool::new(false));
    let (ingress, source) =
        Ingress::start(config, Arc::clone(&durable), Arc::clone(&shutdown)).unwrap();
    assert_eq!(ingress.first_epoch, 1);
    let started = Run::start();
    if engine {
        let settings = EngineSettings {
            start_epoch: ingress.first_epoch,
            ..EngineSettings::default()
        };
        let control = RunControl {
            durable: Arc::clone(&durable),
            ..RunControl::default()
        };
        let summary = engine::run(
            &settings,
            timely::Config::thread(),
            vec![&GasFees],
            source.take(n as usize),
            vec![Box::new(NullSink)],
            &control,
        )
        .unwrap();
        assert_eq!(summary.epochs, n);
    } else {
        for item in source.take(n as usize) {
            let epoch = item.unwrap().epoch.unwrap();
            durable.store(epoch + 1, Ordering::Release);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while ingress.stats.acked.load(Ordering::Relaxed) < n {
        assert!(
            Instant::now() < deadline,
            "chainflow ingress: {} of {n} acked (durable {})",
            ingress.stats.acked.load(Ordering::Relaxed),
            durable.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    let run = Run::since(started);
    assert_eq!(ingress.stats.events.load(Ordering::Relaxed), n);
    assert_eq!(ingress.stats.dead_letters.load(Ordering::Relaxed), 0);
    shutdown.store(true, Ordering::Relaxed);
    ingress.finish();
    run
}

// ---------------------------------------------------------------------------------------------
// Egress.

fn egress_config(url: &str, names: &Names) -> EgressConfig {
    EgressConfig {
        url: url.to_string(),
        stream: names.stream("OUT"),
        subject_prefix: names.prefix(),
        ..EgressConfig::default()
    }
}

/// The anchor: the sink's messages published by the plain loop into a fresh stream, on a
/// runtime of its own.
fn raw_egress(
    flavor: Flavor,
    config: &EgressConfig,
    spec: &OutputSpec,
    messages: &[Outgoing],
) -> Run {
    on_thread(|| {
        runtime(flavor).block_on(async {
            let (_, js) = connect(&config.url).await;
            fresh_stream(
                &js,
                &config.stream,
                vec![format!("{}.out.>", config.subject_prefix)],
                Duration::from_secs(config.duplicate_window_secs),
            )
            .await;
            let subject = cfnats::output_subject(&config.subject_prefix, spec.name);
            let started = Run::start();
            let acked = publish_loop(&js, &subject, messages).await;
            let run = Run::since(started);
            let n = messages.len() as u64;
            assert_eq!(
                acked,
                Acked {
                    stored: n,
                    duplicates: 0
                }
            );
            assert_eq!(stream_messages(&js, &config.stream).await, n);
            js.delete_stream(&config.stream).await.unwrap();
            run
        })
    })
}

/// The chainflow egress: every batch committed to a fresh `EgressSink`.
fn chainflow_egress(
    rt: &tokio::runtime::Runtime,
    config: &EgressConfig,
    specs: &[OutputSpec],
    batches: &[OutputBatch],
    n: u64,
) -> Run {
    rt.block_on(async {
        let (_, js) = connect(&config.url).await;
        let _ = js.delete_stream(&config.stream).await;
    });
    let run = on_thread(|| {
        let mut sink = EgressSink::open(config.clone(), specs).unwrap();
        assert!(sink.committed().is_empty());
        let started = Run::start();
        for b in batches {
            sink.commit(b).unwrap();
        }
        let run = Run::since(started);
        assert_eq!(sink.counts(), (n, 0));
        run
    });
    rt.block_on(async {
        let (_, js) = connect(&config.url).await;
        assert_eq!(stream_messages(&js, &config.stream).await, n);
        js.delete_stream(&config.stream).await.unwrap();
    });
    run
}

/// The CPU part of the sink: the messages of every batch built, not sent.
fn encode_only(spec: &OutputSpec, batches: &[OutputBatch]) -> Run {
    on_thread(|| {
        let started = Run::start();
        let messages = change_messages(spec, batches);
        let run = Run::since(started);
        assert!(!messages.is_empty());
        run
    })
}

// ---------------------------------------------------------------------------------------------
// Dedup.

/// Publish loops into a fresh stream: without ids, with ids, and the same ids again.
struct Dedup {
    without: Run,
    with: Run,
    duplicates: Run,
}

fn dedup(
    url: &str,
    names: &Names,
    duplicate_window: Duration,
    messages: &[Outgoing],
    with_first: bool,
) -> Dedup {
    let plain = without_id(messages);
    let n = messages.len() as u64;
    let stream = names.stream("DEDUP");
    let subject = format!("{}.dedup.messages", names.prefix());
    let subjects = vec![format!("{}.dedup.>", names.prefix())];
    on_thread(|| {
        runtime(Flavor::MultiThread).block_on(async {
            let (_, js) = connect(url).await;
            let mut without = None;
            let mut with = None;
            let mut duplicates = None;
            for ids in [with_first, !with_first] {
                fresh_stream(&js, &stream, subjects.clone(), duplicate_window).await;
                let started = Run::start();
                let acked = publish_loop(&js, &subject, if ids { messages } else { &plain }).await;
                let run = Run::since(started);
                assert_eq!(acked.stored, n);
                if !ids {
                    without = Some(run);
                    continue;
                }
                with = Some(run);
                // The same ids again: every one a duplicate.
                let started = Run::start();
                let acked = publish_loop(&js, &subject, messages).await;
                duplicates = Some(Run::since(started));
                assert_eq!(
                    acked,
                    Acked {
                        stored: 0,
                        duplicates: n
                    }
                );
                assert_eq!(stream_messages(&js, &stream).await, n);
            }
            js.delete_stream(&stream).await.unwrap();
            Dedup {
                without: without.unwrap(),
                with: with.unwrap(),
                duplicates: duplicates.unwrap(),
            }
        })
    })
}

// ---------------------------------------------------------------------------------------------

struct Measured {
    section: &'static str,
    path: String,
    messages: u64,
    bytes: u64,
    run: Run,
    /// Index of the anchor row of the section, for the ratio.
    anchor: Option<usize>,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let url = url();
    let rt = runtime(Flavor::MultiThread);
    let server = rt.block_on(async {
        let options = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(3));
        let client = options.connect(&url).await.map_err(|e| e.to_string())?;
        let info = client.server_info();
        if !info.jetstream {
            return Err("JetStream is off".to_string());
        }
        Ok::<_, String>((info.version, info.max_payload))
    });
    let (server, max_payload) = match server {
        Ok(v) => v,
        Err(e) => {
            println!(
                "nats bench: no NATS with JetStream at {url} ({e}) (make services sets it up); skipped"
            );
            return;
        }
    };
    let n = env_or("BENCH_MESSAGES", if full { 20_000 } else { 500 });
    let txs = env_or("BENCH_NATS_TXS", 200) as u32;
    let reorg_depth = env_or("BENCH_NATS_REORG_DEPTH", 4);
    let runs = env_or("BENCH_NATS_RUNS", if full { 3 } else { 1 }).max(1);
    let only = std::env::var("BENCH_NATS_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only.split(',').any(|p| p.trim() == name);
    assert!(n > 0, "BENCH_MESSAGES must be positive");

    let names = Names {
        pid: std::process::id(),
    };
    let _cleanup = Cleanup {
        url: url.clone(),
        prefix: names.stream(""),
    };
    let specs = GasFees.outputs();
    let spec = *specs
        .iter()
        .find(|s| s.name == gas_fees::BLOCKS)
        .expect("gas_fees_blocks");

    let gen_started = Instant::now();
    let events = event_messages(n as usize, txs, reorg_depth);
    let event_out: Vec<Outgoing> = events.iter().map(|(_, m)| m.clone()).collect();
    let event_bytes: u64 = event_out.iter().map(|m| m.payload.len() as u64).sum();
    let largest = event_out.iter().map(|m| m.payload.len()).max().unwrap_or(0);
    assert!(
        largest < max_payload,
        "nats bench: an event of {largest} bytes exceeds the server's max_payload ({max_payload}); lower BENCH_NATS_TXS or BENCH_NATS_REORG_DEPTH"
    );
    let event_blocks: usize = events.iter().map(|(e, _)| e.new.len()).sum();
    let event_txs: usize = events
        .iter()
        .flat_map(|(e, _)| &e.new)
        .map(|b| b.transactions.len())
        .sum();
    let reorgs = events.iter().filter(|(e, _)| !e.old.is_empty()).count();
    drop(events);
    let batches = block_batches(spec, n as usize);
    let changes = change_messages(&spec, &batches);
    let change_bytes: u64 = changes.iter().map(|m| m.payload.len() as u64).sum();
    println!(
        "nats bench: NATS {server} at {url}; streams BENCH_{}_*; {n} devnet events ({event_blocks} new blocks, {reorgs} reorgs, {:.0} transactions per new block, reorgs up to {reorg_depth} deep; bincode {:.1} KiB per message on average, the largest {:.0} KiB of the server's max_payload {:.0} KiB) and {n} gas_fees_blocks changes ({:.0} bytes of JSON each) generated in {:.1?} (not timed); best of {runs}",
        names.pid,
        event_txs as f64 / event_blocks.max(1) as f64,
        event_bytes as f64 / n as f64 / 1024.0,
        largest as f64 / 1024.0,
        max_payload as f64 / 1024.0,
        change_bytes as f64 / n as f64,
        gen_started.elapsed()
    );

    // The events stream, as publish-heads fills it (not timed).
    let ingress_config = NatsConfig {
        url: url.clone(),
        stream: names.stream("EVENTS"),
        consumer: String::new(),
        deadletter_stream: names.stream("DEADLETTER"),
        subject_prefix: names.prefix(),
        ..NatsConfig::default()
    };
    if part("ingress") {
        let setup = rt.block_on(async {
            let (_, js) = connect(&url).await;
            let subject = cfnats::events_subject(&ingress_config.subject_prefix, CHAIN);
            fresh_stream(
                &js,
                &ingress_config.stream,
                vec![subject.clone()],
                Duration::from_secs(ingress_config.duplicate_window_secs),
            )
            .await;
            let started = Instant::now();
            let acked = publish_loop(&js, &subject, &event_out).await;
            assert_eq!(acked.stored, n);
            started.elapsed()
        });
        println!(
            "events published to {} in {setup:.2?} ({:.0} messages/s; setup, not timed)",
            ingress_config.stream,
            n as f64 / setup.as_secs_f64()
        );
    }

    let mut measured: Vec<Measured> = Vec::new();
    let mut ratios: Vec<(&str, f64)> = Vec::new();
    if part("ingress") {
        let mut raw_in = Vec::new();
        let mut raw_decode = Vec::new();
        let mut raw_cumulative = Vec::new();
        let mut cf_in = Vec::new();
        let mut cf_engine = Vec::new();
        for run in 0..runs {
            raw_in.push(raw_ingress(
                &url,
                &ingress_config.stream,
                &format!("raw_{run}"),
                n,
                false,
                Acks::Each,
            ));
            raw_cumulative.push(raw_ingress(
                &url,
                &ingress_config.stream,
                &format!("raw_cumulative_{run}"),
                n,
                false,
                Acks::Cumulative,
            ));
            let consumer = NatsConfig {
                consumer: format!("chainflow_{run}"),
                ..ingress_config.clone()
            };
            cf_in.push(chainflow_ingress(&rt, &consumer, n, false));
            raw_decode.push(raw_ingress(
                &url,
                &ingress_config.stream,
                &format!("raw_decode_{run}"),
                n,
                true,
                Acks::Each,
            ));
            let consumer = NatsConfig {
                consumer: format!("engine_{run}"),
                ..ingress_config.clone()
            };
            cf_engine.push(chainflow_ingress(&rt, &consumer, n, true));
        }
        let anchor = measured.len();
        let row = |path: &str, runs: &[Run]| Measured {
            section: "ingress",
            path: path.to_string(),
            messages: n,
            bytes: event_bytes,
            run: best(runs),
            anchor: Some(anchor),
        };
        measured.push(row("async-nats pull + ack (anchor)", &raw_in));
        measured.push(row("async-nats pull + bincode decode + ack", &raw_decode));
        measured.push(row(
            "async-nats pull + cumulative ack (AckPolicy::All, 1 per 500)",
            &raw_cumulative,
        ));
        measured.push(row(
            "chainflow Ingress (NatsSource, cumulative acks by watermark)",
            &cf_in,
        ));
        measured.push(row(
            "chainflow Ingress + engine (gas_fees, null sink)",
            &cf_engine,
        ));
        let (raw, decoded, cumulative, cf) = (
            best(&raw_in).wall,
            best(&raw_decode).wall,
            best(&raw_cumulative).wall,
            best(&cf_in).wall,
        );
        ratios.push((
            "chainflow ingress / async-nats pull + ack",
            raw.as_secs_f64() / cf.as_secs_f64(),
        ));
        ratios.push((
            "chainflow ingress / async-nats pull + decode + ack",
            decoded.as_secs_f64() / cf.as_secs_f64(),
        ));
        ratios.push((
            "chainflow ingress / async-nats pull + cumulative ack",
            cumulative.as_secs_f64() / cf.as_secs_f64(),
        ));
    }

    let out_config = egress_config(&url, &names);
    if part("egress") {
        let mut raw_mt = Vec::new();
        let mut raw_ct = Vec::new();
        let mut cf_out = Vec::new();
        let mut encode = Vec::new();
        for _ in 0..runs {
            raw_mt.push(raw_egress(
                Flavor::MultiThread,
                &out_config,
                &spec,
                &changes,
            ));
            cf_out.push(chainflow_egress(&rt, &out_config, &specs, &batches, n));
            raw_ct.push(raw_egress(
                Flavor::CurrentThread,
                &out_config,
                &spec,
                &changes,
            ));
            encode.push(encode_only(&spec, &batches));
        }
        // The anchor is the faster of the two plain loops.
        let mt_first = best(&raw_mt).wall <= best(&raw_ct).wall;
        let anchor = measured.len() + usize::from(!mt_first);
        let row = |path: &str, runs: &[Run], anchor| Measured {
            section: "egress",
            path: path.to_string(),
            messages: n,
            bytes: change_bytes,
            run: best(runs),
            anchor,
        };
        let mark = |is: bool| if is { " (anchor)" } else { "" };
        measured.push(row(
            &format!(
                "async-nats publish, acks per 1000, multi-thread runtime{}",
                mark(mt_first)
            ),
            &raw_mt,
            Some(anchor),
        ));
        measured.push(row(
            &format!(
                "async-nats publish, acks per 1000, current-thread runtime{}",
                mark(!mt_first)
            ),
            &raw_ct,
            Some(anchor),
        ));
        measured.push(row(
            "chainflow EgressSink::commit, 1000 per batch",
            &cf_out,
            Some(anchor),
        ));
        measured.push(row(
            "encode only (changes, headers, encode_change)",
            &encode,
            None,
        ));
        ratios.push((
            "chainflow egress / async-nats publish",
            measured[anchor].run.wall.as_secs_f64() / best(&cf_out).wall.as_secs_f64(),
        ));
    }

    let mut event_dedup = Vec::new();
    let mut change_dedup = Vec::new();
    if part("dedup") {
        for run in 0..runs {
            event_dedup.push(dedup(
                &url,
                &names,
                Duration::from_secs(ingress_config.duplicate_window_secs),
                &event_out,
                run % 2 == 1,
            ));
            change_dedup.push(dedup(
                &url,
                &names,
                Duration::from_secs(out_config.duplicate_window_secs),
                &changes,
                run % 2 == 1,
            ));
        }
    }

    if !measured.is_empty() {
        print_table(&measured);
    }
    if !part("dedup") {
        print_ratios(&ratios, &[], runs);
        return;
    }
    println!();
    println!(
        "| payload | without Nats-Msg-Id | with Nats-Msg-Id | cost of the id: median (range) | republish, all duplicates |"
    );
    println!("|---|---:|---:|---:|---:|");
    let mut costs = Vec::new();
    for (what, runs) in [
        ("events, bincode", &event_dedup),
        ("changes, JSON", &change_dedup),
    ] {
        let without = best(&runs.iter().map(|d| d.without).collect::<Vec<_>>()).wall;
        let with = best(&runs.iter().map(|d| d.with).collect::<Vec<_>>()).wall;
        let dups = best(&runs.iter().map(|d| d.duplicates).collect::<Vec<_>>()).wall;
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        // Per run, with over without (measured back to back), so that drifting load cancels.
        let mut per_run: Vec<f64> = runs
            .iter()
            .map(|d| (d.with.wall.as_secs_f64() / d.without.wall.as_secs_f64() - 1.0) * 100.0)
            .collect();
        per_run.sort_by(f64::total_cmp);
        let cost = per_run[per_run.len() / 2];
        costs.push((what, cost));
        println!(
            "| {what} | {:.0} msgs/s | {:.0} msgs/s | {cost:+.1}% ({:+.1}% to {:+.1}%) | {:.0} msgs/s |",
            rate(without),
            rate(with),
            per_run[0],
            per_run[per_run.len() - 1],
            rate(dups)
        );
    }

    print_ratios(&ratios, &costs, runs);
}

fn print_ratios(ratios: &[(&str, f64)], costs: &[(&str, f64)], runs: u64) {
    println!();
    for (what, ratio) in ratios {
        println!("{what}: {ratio:.2}x  [goal >= 0.8x]");
    }
    for (what, cost) in costs {
        println!(
            "message-id dedup ({what}): {cost:+.1}% publish time (median of {runs} back-to-back pairs)"
        );
    }
}

fn print_table(measured: &[Measured]) {
    println!();
    println!(
        "| section | path | messages | MiB | wall | msgs/s | MiB/s | ratio to anchor | client CPU | CPU/msg | server CPU/msg |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in measured {
        let wall = m.run.wall.as_secs_f64();
        let ratio = m.anchor.map_or("-".into(), |a| {
            format!("{:.2}x", measured[a].run.wall.as_secs_f64() / wall)
        });
        let (cpu, per_msg) = match m.run.cpu {
            Some(c) => (
                format!("{c:.2?}"),
                format!("{:.1} µs", c.as_secs_f64() * 1e6 / m.messages as f64),
            ),
            None => ("-".into(), "-".into()),
        };
        let server = m.run.server.map_or("-".into(), |c| {
            format!("{:.1} µs", c.as_secs_f64() * 1e6 / m.messages as f64)
        });
        println!(
            "| {} | {} | {} | {:.1} | {:.2?} | {:.0} | {:.1} | {ratio} | {cpu} | {per_msg} | {server} |",
            m.section,
            m.path,
            m.messages,
            m.bytes as f64 / (1 << 20) as f64,
            m.run.wall,
            m.messages as f64 / wall,
            m.bytes as f64 / (1 << 20) as f64 / wall,
        );
    }
}
