//! `chainflow replay`: a historical range from anvil through the dataflows into PostgreSQL
//! equals the node's recompute and a live run, with 1 and 2 worker threads; a killed replay
//! rerun gives the same tables; `--follow` goes on with the live head through a reorg at the
//! range's end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chainflow::dataflows::gas_fees::GasFees;
use chainflow::engine::dataflow::{Dataflow, OutputSpec, Value};
use chainflow::sinks::postgres::PostgresConfig;

use crate::clickhouse_sink::outputs_converge;
use crate::rpc::{block_with_txs, replacements};
use crate::support::anvil::{Anvil, AnvilOpts};
use crate::support::postgres::{progress, rows, schema};
use crate::support::wait_until;

fn specs() -> Vec<OutputSpec> {
    GasFees.outputs()
}

fn tables(pg: &PostgresConfig) -> BTreeMap<&'static str, BTreeMap<Vec<Value>, isize>> {
    specs().iter().map(|s| (s.name, rows(pg, s))).collect()
}

fn replay_cmd(rpc: &str, pg: &PostgresConfig, extra: &[&str], log: &Path) -> Command {
    chainflow_cmd("replay", rpc, pg, extra, log)
}

/// `chainflow <command> --rpc RPC --postgres ...` with `extra` flags, its log at `log`.
fn chainflow_cmd(
    command: &str,
    rpc: &str,
    pg: &PostgresConfig,
    extra: &[&str],
    log: &Path,
) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chainflow"));
    c.args([command, "--rpc", rpc, "--postgres", &pg.url])
        .args(extra)
        .env("CHAINFLOW_SINKS__POSTGRES__SCHEMA", &pg.schema)
        .env("CHAINFLOW_SINKS__POSTGRES__BATCH_MS", "20")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    c
}

/// Runs `replay` to its end; fails with its log unless it succeeds; returns the log.
fn replay_ok(rpc: &str, pg: &PostgresConfig, extra: &[&str], log: &Path) -> String {
    let status = replay_cmd(rpc, pg, extra, log).status().unwrap();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(status.success(), "{text}");
    text
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
    // (Two processes: `a_final_range_is_split_across_two_processes_...` below.)
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
    // The range ended the run; the tables equal the node's recompute...
    outputs_converge(&|s| rows(&one, s), &anvil, &|| true, "replay -w 1");
    // ... and each other, at 1 and 2 workers.
    assert_eq!(tables(&one), tables(&two));
    // One worker wrote under the outputs' names; with two each worker wrote its share with
    // progress of its own, and both ended at the same epoch.
    let names: Vec<&str> = specs().iter().map(|s| s.name).collect();
    assert_eq!(
        progress(&one)
            .into_keys()
            .collect::<std::collections::BTreeSet<_>>(),
        names.iter().map(|n| n.to_string()).collect()
    );
    let per_writer = progress(&two);
    for name in &names {
        let (a, b) = (
            per_writer.get(&format!("{name}#0/2")),
            per_writer.get(&format!("{name}#1/2")),
        );
        assert!(a.is_some() && a == b, "{name}: {per_writer:?}");
    }
    assert_eq!(per_writer.len(), 2 * names.len(), "{per_writer:?}");
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
    wait_until(30, || {
        if tables(&live) == tables(&one) {
            Ok(())
        } else {
            Err(std::fs::read_to_string(&log).unwrap())
        }
    });
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
    // Two workers, each writing its share with progress of its own. One fetch at a time:
    // with 16, rows arrived 128 blocks at a time and a kill after the first 50 once came
    // after the last of 2,071.
    let args = [
        "--from",
        "0",
        "--to",
        &head,
        "--blocks-per-epoch",
        "5",
        "--concurrency",
        "1",
        "-w",
        "2",
    ];
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
    let text = replay_ok(&anvil.http_url(), &pg, &args, &log);
    assert!(
        text.contains("restart: rebuilding from the sink's safe block"),
        "{text}"
    );
    outputs_converge(&|s| rows(&pg, s), &anvil, &|| true, "the rerun");
    // The rerun ended evenly: one worker takes over for blocks mined since.
    for i in 0..5 {
        block_with_txs(&anvil, 6_000 + i, 2);
    }
    let head = anvil.head_number().to_string();
    let log = dir.path().join("third.log");
    replay_ok(
        &anvil.http_url(),
        &pg,
        &["--from", "0", "--to", &head, "--blocks-per-epoch", "5"],
        &log,
    );
    outputs_converge(&|s| rows(&pg, s), &anvil, &|| true, "one worker after two");
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
    let child = std::sync::Mutex::new(Killed(vec![child]));
    let running = || child.lock().unwrap().running();
    // A reorg across the range's end, then new blocks.
    converges_through_a_reorg_at_the_head(&pg, &anvil, &running, 7_100);
    drop(child);
}

/// Starts `chainflow <command>` as `processes` processes on loopback (`-n N -p I -h hosts`)
/// with `extra` flags, reading anvil over HTTP; returns each process's log file and child.
fn spawn_command_processes(
    command: &str,
    anvil: &Anvil,
    pg: &PostgresConfig,
    processes: usize,
    extra: &[&str],
    dir: &Path,
) -> Vec<(PathBuf, Child)> {
    let hosts = dir.join(format!("hosts-{}", pg.schema));
    crate::support::loopback_hosts(&hosts, processes);
    // Where process 0 relays the chain's events when the processes follow it: a free port
    // (the default after the hostfile's highest may be another test's).
    let relay = format!("127.0.0.1:{}", crate::support::free_port());
    let n = processes.to_string();
    let hostfile = hosts.display().to_string();
    (0..processes)
        .map(|p| {
            let log = dir.join(format!("{}-p{p}.log", pg.schema));
            let idx = p.to_string();
            let mut args: Vec<&str> = extra.to_vec();
            args.extend(["-n", &n, "-p", &idx, "-h", &hostfile]);
            (
                log.clone(),
                chainflow_cmd(command, &anvil.http_url(), pg, &args, &log)
                    .env("CHAINFLOW_ENGINE__RELAY", &relay)
                    .spawn()
                    .unwrap(),
            )
        })
        .collect()
}

/// Child processes, killed when dropped: also when a check fails, so none is left running.
struct Killed(Vec<Child>);

/// The log files of `children`, and the children killed when dropped.
fn guarded(children: Vec<(PathBuf, Child)>) -> (Vec<PathBuf>, std::sync::Mutex<Killed>) {
    let (logs, children) = children.into_iter().unzip();
    (logs, std::sync::Mutex::new(Killed(children)))
}

impl Killed {
    /// Whether every child is still running.
    fn running(&mut self) -> bool {
        self.0.iter_mut().all(|c| c.try_wait().unwrap().is_none())
    }
}

/// The tables equal the node after the range, then again after a depth-2 reorg at the head
/// and 5 new blocks (transaction seeds from `seed`).
fn converges_through_a_reorg_at_the_head(
    pg: &PostgresConfig,
    anvil: &Anvil,
    running: &dyn Fn() -> bool,
    seed: u64,
) {
    outputs_converge(&|s| rows(pg, s), anvil, running, "the range");
    anvil.reorg(2, &replacements(anvil, 2, 7_000));
    for i in 0..5 {
        block_with_txs(anvil, seed + i, 2);
    }
    outputs_converge(
        &|s| rows(pg, s),
        anvil,
        running,
        "following after the range",
    );
}

impl Drop for Killed {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `replay` as `processes` processes on loopback (see [`spawn_command_processes`]) to their end;
/// returns each process's exit status and log.
fn replay_processes(
    anvil: &Anvil,
    pg: &PostgresConfig,
    processes: usize,
    extra: &[&str],
    dir: &Path,
) -> Vec<(std::process::ExitStatus, String)> {
    spawn_command_processes("replay", anvil, pg, processes, extra, dir)
        .into_iter()
        .map(|(log, mut child)| {
            let status = child.wait().unwrap();
            (status, std::fs::read_to_string(log).unwrap())
        })
        .collect()
}

/// The `blocks=` field of a process's "range share read" log line.
fn share_read(log: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("range share read"))
        .unwrap_or_else(|| panic!("no share read in {log}"));
    let at = line.find("blocks=").unwrap() + "blocks=".len();
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_final_range_is_split_across_two_processes_and_gives_the_tables_of_one() {
    let anvil = Anvil::with(AnvilOpts::default());
    // Blocks half an hour apart across two UTC days first, so the range seals closed days.
    anvil.mine_with_interval(100, 1_800);
    chain(&anvil);
    let to = anvil.head_number();
    // anvil finalizes 64 blocks behind its head: push the range below finality.
    anvil.mine(70);
    let to_s = to.to_string();
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--from", "0", "--to", &to_s, "--blocks-per-epoch", "7"];
    let one = schema("replay_split_1");
    let log = dir.path().join("one.log");
    replay_ok(&anvil.http_url(), &one, &flags, &log);
    // Two processes of two workers each: every process reads every other epoch.
    let two = schema("replay_split_2");
    let mut with_workers = flags.to_vec();
    with_workers.extend(["-w", "2"]);
    let runs = replay_processes(&anvil, &two, 2, &with_workers, dir.path());
    let mut shares = Vec::new();
    for (p, (status, log)) in runs.iter().enumerate() {
        assert!(status.success(), "process {p}: {log}");
        shares.push(share_read(log));
    }
    assert!(
        shares.iter().all(|s| *s > 0),
        "both processes fetch: {shares:?}"
    );
    // Both processes sealed closed days in their slots (the release on process 0 drops the
    // slots of both).
    for (p, (_, log)) in runs.iter().enumerate() {
        let line = log.lines().find(|l| l.contains("run finished")).unwrap();
        assert!(
            !line.contains("seals=0"),
            "process {p} sealed nothing: {line}"
        );
    }
    assert_eq!(
        shares.iter().sum::<u64>(),
        to + 1,
        "the shares cover the range once: {shares:?}"
    );
    let tables_one = tables(&one);
    assert!(tables_one.values().any(|rows| rows.len() as u64 >= to));
    assert_eq!(tables_one, tables(&two), "1 process and 2 processes");
    // Each of the four workers (two per process) wrote its share, with progress of its own.
    let keys = progress(&two);
    for writer in 0..4 {
        assert!(
            keys.contains_key(&format!("gas_fees_blocks#{writer}/4")),
            "writer {writer}: {keys:?}"
        );
    }
    // A range that is not final yet is refused by every process, with the reason.
    let head = anvil.head_number().to_string();
    let refused = schema("replay_split_refused");
    let runs = replay_processes(
        &anvil,
        &refused,
        2,
        &["--from", "0", "--to", &head],
        dir.path(),
    );
    for (status, log) in runs {
        assert!(!status.success());
        assert!(log.contains("reads final history only"), "{log}");
    }
}

#[test]
fn a_followed_range_is_split_across_two_processes_up_to_finality_and_followed_on() {
    let anvil = Anvil::with(AnvilOpts::default());
    chain(&anvil);
    // anvil finalizes 64 blocks behind its head: the range's first blocks are final.
    anvil.mine(70);
    let finalized = crate::support::anvil::hex_u64(
        &anvil.rpc(
            "eth_getBlockByNumber",
            serde_json::json!(["finalized", false]),
        )["number"],
    );
    assert!(finalized > 14 && finalized < anvil.head_number());
    let dir = tempfile::tempdir().unwrap();
    let pg = schema("replay_split_follow");
    let children = spawn_command_processes(
        "replay",
        &anvil,
        &pg,
        2,
        &[
            "--from",
            "0",
            "--to",
            &finalized.to_string(),
            "--follow",
            "--blocks-per-epoch",
            "7",
        ],
        dir.path(),
    );
    let (logs, children) = guarded(children);
    let running = || children.lock().unwrap().running();
    let log_paths: Vec<&Path> = logs.iter().map(PathBuf::as_path).collect();
    // A reorg at the head, then new blocks: both processes follow them.
    crate::nats::with_logs(&log_paths, || {
        converges_through_a_reorg_at_the_head(&pg, &anvil, &running, 7_200)
    });
    drop(children);
    // The final part was read once, split between the processes, and followed on from its
    // end.
    let logs: Vec<String> = logs
        .iter()
        .map(|l| std::fs::read_to_string(l).unwrap())
        .collect();
    let shares: Vec<u64> = logs.iter().map(|l| share_read(l)).collect();
    assert!(
        shares.iter().all(|s| *s > 0),
        "both processes fetch: {shares:?}"
    );
    assert_eq!(
        shares.iter().sum::<u64>(),
        finalized + 1,
        "the shares cover the final part once: {shares:?}"
    );
    // Process 0 followed on and relayed the chain's events; process 1 took them.
    assert!(logs[0].contains("following the chain on"), "{}", logs[0]);
    assert_relayed(&logs);
}

/// Process 0's log says it relayed the chain's events, process 1's that it took them.
fn assert_relayed(logs: &[String]) {
    assert!(
        logs[0].contains("relays its events to the others"),
        "{}",
        logs[0]
    );
    assert!(
        logs[1].contains("takes the chain's events from process 0"),
        "{}",
        logs[1]
    );
}

#[test]
fn a_run_across_two_processes_over_rpc_follows_the_chain_through_reorgs() {
    let anvil = Anvil::with(AnvilOpts::default());
    chain(&anvil);
    let dir = tempfile::tempdir().unwrap();
    let pg = schema("run_procs");
    // Process 0 follows the chain from block 0 over HTTP polls and relays its events to
    // process 1; the workers of both take their share of the blocks.
    let children =
        spawn_command_processes("run", &anvil, &pg, 2, &["--start-block", "0"], dir.path());
    let (logs, children) = guarded(children);
    let running = || children.lock().unwrap().running();
    let log_paths: Vec<&Path> = logs.iter().map(PathBuf::as_path).collect();
    crate::nats::with_logs(&log_paths, || {
        converges_through_a_reorg_at_the_head(&pg, &anvil, &running, 7_300);
        // A storm of blocks and reorgs (of depth up to 64) while both follow.
        let mut rng = crate::support::anvil::Rng(0x51a7);
        for step in 0..30 {
            crate::clickhouse_crash::storm_step(&anvil, &mut rng, 7_400 + step);
            std::thread::sleep(Duration::from_millis(rng.below(40)));
        }
        outputs_converge(&|s| rows(&pg, s), &anvil, &running, "after the storm");
    });
    drop(children);
    // Each process's worker wrote its share, and both logged how the run was spread.
    let keys = progress(&pg);
    for writer in ["0/2", "1/2"] {
        assert!(
            keys.contains_key(&format!("gas_fees_blocks#{writer}")),
            "{writer}: {keys:?}"
        );
    }
    let texts: Vec<String> = logs
        .iter()
        .map(|l| std::fs::read_to_string(l).unwrap())
        .collect();
    assert_relayed(&texts);
}

/// Every row of every `gas_fees` table with the epoch that wrote it (`version`), as text.
fn versioned(pg: &PostgresConfig) -> BTreeMap<&'static str, Vec<String>> {
    specs()
        .iter()
        .map(|s| {
            let sql = format!(
                "SELECT t::text FROM {}.{} t ORDER BY t::text",
                pg.schema, s.name
            );
            let rows = crate::support::postgres::client()
                .query(&sql, &[])
                .unwrap()
                .into_iter()
                .map(|r| r.get::<_, String>(0))
                .collect();
            (s.name, rows)
        })
        .collect()
}

#[test]
fn a_range_rerun_with_a_new_dataflow_fills_its_outputs_and_leaves_the_others_untouched() {
    let anvil = Anvil::with(AnvilOpts::default());
    chain(&anvil);
    let head = anvil.head_number();
    let head_s = head.to_string();
    let dir = tempfile::tempdir().unwrap();
    let pg = schema("replay_added");
    let flags = ["--from", "0", "--to", &head_s, "--blocks-per-epoch", "7"];
    let log = dir.path().join("first.log");
    replay_ok(&anvil.http_url(), &pg, &flags, &log);
    let before = versioned(&pg);
    assert!(before["gas_fees_blocks"].len() as u64 > head);
    // The same range again with the taiko dataflow added (its L1 side reads this chain).
    let config = dir.path().join("added.toml");
    std::fs::write(
        &config,
        format!(
            "[dataflows]\nenabled = [\"gas_fees\", \"taiko\"]\n\n[dataflows.taiko]\nl1_chain_id = {}\nl2_chain_id = 167000\n",
            anvil.chain_id()
        ),
    )
    .unwrap();
    let mut with_taiko = flags.to_vec();
    let config_arg = config.display().to_string();
    with_taiko.extend(["--config", &config_arg]);
    let log = dir.path().join("second.log");
    let text = replay_ok(&anvil.http_url(), &pg, &with_taiko, &log);
    // The outputs already in the sink: not a row rewritten (the epochs that wrote them too).
    assert_eq!(versioned(&pg), before);
    // The new dataflow's outputs cover the range: a head per block, the node's hashes.
    let l1_heads = chainflow::dataflows::taiko::DEFAULT
        .outputs()
        .into_iter()
        .find(|s| s.name == "l1_heads")
        .unwrap();
    let heads: BTreeMap<u64, String> = rows(&pg, &l1_heads)
        .into_keys()
        .map(|row| match (&row[1], &row[2]) {
            (Value::U64(n), Value::Hash(h)) => (*n, h.to_string()),
            other => panic!("unexpected l1_heads row {other:?}"),
        })
        .collect();
    assert_eq!(heads.len() as u64, head + 1, "{text}");
    for (n, hash) in heads {
        assert_eq!(hash, anvil.block_hash(n), "block {n}");
    }
}
