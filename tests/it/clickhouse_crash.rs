//! kill -9 of the `chainflow` binary at random points of a reorg storm, restarts, and the
//! `_current` views still equal a recompute from the node's final canonical chain, with
//! exactly one current row per key (see `src/sinks/reconcile.rs` for the mechanism).

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chainflow::sinks::clickhouse::ClickHouseConfig;

use std::collections::BTreeMap;

use chainflow::engine::dataflow::Value;

use crate::clickhouse_sink::outputs_converge;
use crate::rpc::{block_with_txs, node_with_blocks, replacements};
use crate::support::anvil::{Anvil, Rng};
use crate::support::clickhouse::{database, query};

pub(crate) fn write_config(dir: &Path, anvil: &Anvil, sink_toml: &str) -> std::path::PathBuf {
    let path = dir.join("chainflow.toml");
    let text = format!(
        r#"
[[chains]]
rpc = "{rpc}"
start_block = 0
blob_schedule = "prague"

[sinks.console]
enabled = false

{sink_toml}
"#,
        rpc = anvil.ws_url(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The `[sinks.clickhouse]` section for `ch`.
fn clickhouse_toml(ch: &ClickHouseConfig) -> String {
    format!(
        "[sinks.clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\nbatch_ms = 100\n",
        ch.url, ch.database
    )
}

pub(crate) fn spawn(config: &Path, workers: usize, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_chainflow"))
        .args(["run", "--config"])
        .arg(config)
        .args(["-w", &workers.to_string()])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// One step of the storm: a block with a few transactions, or a reorg of depth 1..=64.
pub(crate) fn storm_step(anvil: &Anvil, rng: &mut Rng, salt: u64) -> bool {
    if rng.below(10) < 7 {
        block_with_txs(anvil, salt, rng.below(4) as usize);
        false
    } else {
        let depth = 1 + rng.below(anvil.head_number().min(64) - 1);
        anvil.reorg(depth, &replacements(anvil, depth, salt));
        true
    }
}

fn keys_with_more_than_one_row(db: &str) -> u64 {
    let q = |table: &str, key: &str| -> u64 {
        query(&format!(
            "SELECT count() FROM (SELECT {key}, count() AS c FROM {db}.{table}_current GROUP BY {key} HAVING c > 1)"
        ))
        .trim()
        .parse()
        .unwrap()
    };
    q("gas_fees_blocks", "chain_id, block_number")
        + q("gas_fees_minutes", "chain_id, minute")
        + q("gas_fees_hours", "chain_id, bucket_start")
        + q("gas_fees_days", "chain_id, bucket_start")
}

#[test]
fn kill_9_at_random_points_of_a_storm_then_restart_leaves_the_views_exact() {
    let ch = database("crash_restart");
    // Two workers: each writes its share of the keys with progress of its own, and each
    // restart reconciles every worker's share.
    crash_storm(
        0x4b119,
        2,
        &clickhouse_toml(&ch),
        &|spec| crate::support::clickhouse::current(&ch, spec),
        &|| keys_with_more_than_one_row(&ch.database),
    );
    let keys = query(&format!(
        "SELECT DISTINCT output FROM {}.chainflow_progress ORDER BY output",
        ch.database
    ));
    for output in ["gas_fees_blocks", "gas_fees_days"] {
        for writer in ["0/2", "1/2"] {
            assert!(
                keys.lines().any(|k| k == format!("{output}#{writer}")),
                "{output}#{writer} in {keys}"
            );
        }
    }
}

/// Kills the binary (configured with `sink_toml`, run with `workers` worker threads) five
/// times at random points of a reorg storm, restarts it, and checks the outputs read by
/// `read` against the node; `duplicates` counts keys with more than one current row.
/// Returns the logs (stderr) of every run, the final one last.
pub(crate) fn crash_storm(
    seed: u64,
    workers: usize,
    sink_toml: &str,
    read: &dyn Fn(&chainflow::engine::dataflow::OutputSpec) -> BTreeMap<Vec<Value>, isize>,
    duplicates: &dyn Fn() -> u64,
) -> Vec<String> {
    let anvil = node_with_blocks(70, 4);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &anvil, sink_toml);
    let mut rng = Rng(seed);
    let (mut reorgs, mut salt) = (0u64, 100_000u64);
    const KILLS: usize = 5;
    let mut logs = Vec::new();
    for run in 0..KILLS {
        let log = dir.path().join(format!("run{run}.log"));
        let mut child = spawn(&config, workers, &log);
        // The storm runs for a random time, then the process dies without warning.
        let until = Instant::now() + Duration::from_millis(200 + rng.below(2_500));
        while Instant::now() < until {
            salt += 1;
            reorgs += u64::from(storm_step(&anvil, &mut rng, salt));
            std::thread::sleep(Duration::from_millis(rng.below(40)));
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "run {run} ended by itself: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Sometimes the chain moves on (and reorgs, or shrinks) while chainflow is down.
        if rng.below(3) == 0 {
            anvil.rpc("anvil_rollback", serde_json::json!([1 + rng.below(5)]));
        }
        for _ in 0..rng.below(6) {
            salt += 1;
            reorgs += u64::from(storm_step(&anvil, &mut rng, salt));
        }
        logs.push(log);
    }
    assert!(reorgs >= 10, "only {reorgs} reorgs in the storm");
    // While it is down the chain also gets shorter: rows above the new head must vanish.
    let before = anvil.head_number();
    anvil.rpc("anvil_rollback", serde_json::json!([6]));
    assert_eq!(anvil.head_number(), before - 6);

    // The last run restarts, catches up and must match the node exactly.
    let log = dir.path().join("final.log");
    let child = std::sync::Mutex::new(spawn(&config, workers, &log));
    let running = || child.lock().unwrap().try_wait().unwrap().is_none();
    outputs_converge(read, &anvil, &running, "after the kills");
    assert_eq!(duplicates(), 0);
    // It keeps following: more blocks and a reorg after the restart.
    for i in 0..5 {
        block_with_txs(&anvil, 900_000 + i, 2);
    }
    anvil.reorg(3, &replacements(&anvil, 3, 950_000));
    outputs_converge(read, &anvil, &running, "live after the restart");
    assert_eq!(duplicates(), 0);

    // Every restart planned from the stored progress and reconciled.
    let mut child = child.into_inner().unwrap();
    let pid = child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    let mut last = String::new();
    std::fs::File::open(&log)
        .unwrap()
        .read_to_string(&mut last)
        .unwrap();
    assert!(status.success(), "final run: {last}");
    logs.push(log);
    let restarts = logs[1..]
        .iter()
        .filter(|l| {
            std::fs::read_to_string(l)
                .unwrap_or_default()
                .contains("reconciled the rebuilt state")
        })
        .count();
    // A run killed before it caught up never reconciles (and commits nothing): the next
    // one plans from the same progress. The final run must have.
    assert!(
        last.contains("reconciled the rebuilt state"),
        "the final run did not reconcile: {last}"
    );
    assert!(
        restarts >= 2,
        "only {restarts} of {KILLS} restarts reconciled"
    );
    eprintln!(
        "crash test: {KILLS} kills, {reorgs} reorgs, head {}, {restarts} reconciliations",
        anvil.head_number()
    );
    logs.iter()
        .map(|l| std::fs::read_to_string(l).unwrap_or_default())
        .collect()
}
