//! `chainflow replay`: a historical range from anvil through the dataflows into PostgreSQL
//! equals the node's recompute and a live run, with 1 and 2 worker threads; a killed replay
//! rerun gives the same tables; `--follow` goes on with the live head through a reorg at the
//! range's end.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chainflow::dataflows::gas_fees::GasFees;
use chainflow::engine::dataflow::{Dataflow, OutputSpec, Value};
use chainflow::sinks::postgres::PostgresConfig;

use crate::clickhouse_sink::outputs_converge;
use crate::rpc::{block_with_txs, replacements};
use crate::support::anvil::{Anvil, AnvilOpts};
use crate::support::postgres::{rows, schema};

fn specs() -> Vec<OutputSpec> {
    GasFees.outputs()
}

fn tables(pg: &PostgresConfig) -> BTreeMap<&'static str, BTreeMap<Vec<Value>, isize>> {
    specs().iter().map(|s| (s.name, rows(pg, s))).collect()
}

fn replay_cmd(rpc: &str, pg: &PostgresConfig, extra: &[&str], log: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chainflow"));
    c.args(["replay", "--rpc", rpc, "--postgres", &pg.url])
        .args(extra)
        .env("CHAINFLOW_SINKS__POSTGRES__SCHEMA", &pg.schema)
        .env("CHAINFLOW_SINKS__POSTGRES__BATCH_MS", "20")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    c
}

fn chain(anvil: &Anvil) {
    anvil.ensure_log_contract();
    for i in 0..60 {
        if i % 3 == 0 {
            block_with_txs(anvil, i, 1 + (i % 4) as usize);
        } else {
            anvil.mine(1);
        }
    }
}

#[test]
fn a_replayed_range_equals_the_node_and_a_live_run_at_one_and_two_workers() {
    let anvil = Anvil::with(AnvilOpts::default());
    chain(&anvil);
    let head = anvil.head_number().to_string();
    let dir = tempfile::tempdir().unwrap();
    let one = schema("replay_w1");
    let two = schema("replay_w2");
    for (pg, workers) in [(&one, "1"), (&two, "2")] {
        let log = dir.path().join(format!("w{workers}.log"));
        let status = replay_cmd(
            &anvil.http_url(),
            pg,
            &[
                "--from",
                "0",
                "--to",
                &head,
                "--blocks-per-epoch",
                "7",
                "-w",
                workers,
            ],
            &log,
        )
        .status()
        .unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(status.success(), "{text}");
        // Not a terminal: plain progress lines.
        assert!(
            text.contains(&format!(
                "replay {}/{} blocks",
                anvil.head_number() + 1,
                anvil.head_number() + 1
            )),
            "{text}"
        );
    }
    // Two processes on loopback (timely's -n 2 -p I): the same tables again.
    let procs = schema("replay_n2");
    let port = 2101 + (std::process::id() % 500) as u16 * 4;
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        format!("127.0.0.1:{port}\n127.0.0.1:{}\n", port + 1),
    )
    .unwrap();
    let children: Vec<_> = (0..2)
        .map(|p| {
            let log = dir.path().join(format!("n2p{p}.log"));
            let idx = p.to_string();
            let hostfile = hosts.display().to_string();
            replay_cmd(
                &anvil.http_url(),
                &procs,
                &[
                    "--from",
                    "0",
                    "--to",
                    &head,
                    "--blocks-per-epoch",
                    "7",
                    "-n",
                    "2",
                    "-p",
                    &idx,
                    "-h",
                    &hostfile,
                ],
                &log,
            )
            .spawn()
            .unwrap()
        })
        .collect();
    for (p, mut child) in children.into_iter().enumerate() {
        let status = child.wait().unwrap();
        let log = std::fs::read_to_string(dir.path().join(format!("n2p{p}.log"))).unwrap();
        assert!(status.success(), "process {p}: {log}");
    }
    // The range ended the run; the tables equal the node's recompute...
    outputs_converge(&|s| rows(&one, s), &anvil, &|| true, "replay -w 1");
    // ... and each other, at 1 and 2 workers.
    assert_eq!(tables(&one), tables(&two));
    assert_eq!(tables(&one), tables(&procs), "1 process and 2 processes");
    // A live run over the same blocks writes the same tables.
    let live = schema("replay_live");
    let log = dir.path().join("live.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chainflow"))
        .args([
            "run",
            "--quiet",
            "--rpc",
            &anvil.ws_url(),
            "--start-block",
            "0",
            "--postgres",
            &live.url,
        ])
        .env("CHAINFLOW_SINKS__POSTGRES__SCHEMA", &live.schema)
        .env("CHAINFLOW_SINKS__POSTGRES__BATCH_MS", "20")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while tables(&live) != tables(&one) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_replay_killed_midway_and_rerun_gives_the_same_tables() {
    let anvil = Anvil::with(AnvilOpts::default());
    chain(&anvil);
    anvil.mine(2_000);
    for i in 0..10 {
        block_with_txs(&anvil, 5_000 + i, 2);
    }
    let head = anvil.head_number().to_string();
    let dir = tempfile::tempdir().unwrap();
    let pg = schema("replay_killed");
    let args = ["--from", "0", "--to", &head, "--blocks-per-epoch", "5"];
    let log = dir.path().join("first.log");
    let mut child = replay_cmd(&anvil.http_url(), &pg, &args, &log)
        .spawn()
        .unwrap();
    // Kill it once some but not all of the range is in.
    let started = Instant::now();
    loop {
        let stored = rows(&pg, &specs()[0]).len();
        if stored > 50 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = rows(&pg, &specs()[0]).len() as u64;
    assert!(
        partial < anvil.head_number(),
        "the kill came after the end ({partial} rows)"
    );
    let log = dir.path().join("second.log");
    let status = replay_cmd(&anvil.http_url(), &pg, &args, &log)
        .status()
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{text}");
    assert!(
        text.contains("restart: rebuilding from the sink's safe block"),
        "{text}"
    );
    outputs_converge(&|s| rows(&pg, s), &anvil, &|| true, "the rerun");
}

#[test]
fn follow_goes_on_with_the_live_head_through_a_reorg_at_the_range_end() {
    let anvil = Anvil::with(AnvilOpts::default());
    chain(&anvil);
    let head = anvil.head_number().to_string();
    let dir = tempfile::tempdir().unwrap();
    let pg = schema("replay_follow");
    let log = dir.path().join("follow.log");
    // Live heads come over the websocket.
    let child = replay_cmd(
        &anvil.ws_url(),
        &pg,
        &["--from", "0", "--to", &head, "--follow"],
        &log,
    )
    .spawn()
    .unwrap();
    let child = std::sync::Mutex::new(child);
    let running = || child.lock().unwrap().try_wait().unwrap().is_none();
    outputs_converge(&|s| rows(&pg, s), &anvil, &running, "the range");
    // A reorg across the range's end, then new blocks.
    anvil.reorg(2, &replacements(&anvil, 2, 7_000));
    for i in 0..5 {
        block_with_txs(&anvil, 7_100 + i, 2);
    }
    outputs_converge(
        &|s| rows(&pg, s),
        &anvil,
        &running,
        "following after the range",
    );
    let mut child = child.into_inner().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}
