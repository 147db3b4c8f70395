//! The binary itself: `make run`'s command with a block limit and a JSONL file.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chainflow"))
}

/// The standard error of the binary run with `args`, which must fail.
fn refused(args: &[&str]) -> String {
    let out = bin().args(args).output().unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Accumulates a JSONL file into the current rows of `output`, keyed by the JSON row text.
fn state(text: &str, output: &str) -> BTreeMap<String, i64> {
    let mut state = BTreeMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("each line is JSON");
        assert!(v["epoch"].as_u64().is_some());
        if v["output"] != output {
            continue;
        }
        let e = state.entry(v["row"].to_string()).or_insert(0);
        *e += v["diff"].as_i64().unwrap();
        if *e == 0 {
            state.remove(&v["row"].to_string());
        }
    }
    state
}

#[test]
fn run_with_max_blocks_writes_a_consistent_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let out = bin()
        .args([
            "run",
            "--max-blocks",
            "200",
            "--fast",
            "--seed",
            "3",
            "--jsonl",
        ])
        .arg(&path)
        .env("CHAINFLOW_DEVNET__REORG_RATE", "0.08")
        .output()
        .unwrap();
    crate::support::assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("+ gas_fees_blocks (1337, "),
        "the console shows blocks"
    );
    assert!(stdout.contains("! reorg"), "the console shows reorgs");
    assert!(
        stdout.contains("- gas_fees_blocks (1337, "),
        "the console shows a reorg's retracted blocks"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.lines().any(|l| l.contains("\"diff\":-1")),
        "reorgs retract rows"
    );

    let blocks = state(&text, "gas_fees_blocks");
    assert!(blocks.values().all(|&c| c == 1));
    let rows: Vec<Value> = blocks
        .keys()
        .map(|k| serde_json::from_str(k).unwrap())
        .collect();
    let mut by_number: Vec<&Value> = rows.iter().collect();
    by_number.sort_by_key(|r| r["block_number"].as_u64().unwrap());
    let numbers: Vec<u64> = by_number
        .iter()
        .map(|r| r["block_number"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        (1..=200).collect::<Vec<_>>(),
        "one row per canonical block"
    );
    for w in by_number.windows(2) {
        assert_eq!(
            w[1]["parent_hash"], w[0]["block_hash"],
            "the rows form one chain"
        );
    }
    let minutes = state(&text, "gas_fees_minutes");
    let minute_rows: Vec<Value> = minutes
        .keys()
        .map(|k| serde_json::from_str(k).unwrap())
        .collect();
    let sum =
        |rows: &[Value], col: &str| -> u64 { rows.iter().map(|r| r[col].as_u64().unwrap()).sum() };
    assert_eq!(sum(&minute_rows, "blocks"), 200);
    assert_eq!(sum(&minute_rows, "tx_count"), sum(&rows, "tx_count"));
    let fee = |rows: &[Value]| -> u128 {
        rows.iter()
            .map(|r| {
                r["priority_fee_sum"]
                    .as_str()
                    .unwrap()
                    .parse::<u128>()
                    .unwrap()
            })
            .sum()
    };
    assert_eq!(fee(&minute_rows), fee(&rows));
    // The hour and day rollups count every canonical block once, like the minutes.
    for output in ["gas_fees_hours", "gas_fees_days"] {
        let buckets: Vec<Value> = state(&text, output)
            .keys()
            .map(|k| serde_json::from_str(k).unwrap())
            .collect();
        assert!(!buckets.is_empty(), "{output}");
        assert_eq!(sum(&buckets, "blocks"), 200, "{output}");
        assert_eq!(
            sum(&buckets, "tx_count"),
            sum(&rows, "tx_count"),
            "{output}"
        );
        assert_eq!(
            sum(&buckets, "gas_used"),
            sum(&rows, "gas_used"),
            "{output}"
        );
        assert_eq!(fee(&buckets), fee(&rows), "{output}");
    }
}

#[test]
fn ctrl_c_stops_cleanly_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let mut child = bin()
        .args(["run", "--quiet", "--jsonl"])
        .arg(&path)
        .env("CHAINFLOW_DEVNET__BLOCK_TIME_MS", "20")
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.is_empty());
    assert!(text.ends_with('\n'), "the last line is complete");
    assert!(!state(&text, "gas_fees_blocks").is_empty());
}

#[test]
fn bad_config_is_reported_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[devnet]\nreorg_max_depth = 100\n").unwrap();
    let out = bin().args(["run", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("devnet.reorg_max_depth"), "{stderr}");
}

#[test]
fn list_prints_outputs_and_columns() {
    let out = bin().arg("list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("gas_fees_minutes"));
    assert!(text.contains("blob_base_fee"));
    assert!(text.contains("output gas_fees_hours  key (chain_id, bucket_start)"));
    assert!(text.contains("output gas_fees_days  key (chain_id, bucket_start)"));
    assert!(text.contains("base_fee_avg"));
}

#[test]
fn publish_heads_and_nats_ingress_refuse_bad_settings_clearly() {
    let err = refused(&["publish-heads", "--rpc", "localhost:8545"]);
    assert!(err.contains("not an http(s) or ws(s) URL"), "{err}");
    let err = refused(&[
        "publish-heads",
        "--rpc",
        "ws://127.0.0.1:1",
        "--format",
        "xml",
    ]);
    assert!(err.contains("unknown format 'xml'"), "{err}");
    // NATS ingress and [[chains]] are exclusive.
    let err = refused(&[
        "run",
        "--nats",
        "nats://127.0.0.1:4222",
        "--rpc",
        "ws://127.0.0.1:8545",
    ]);
    assert!(err.contains("exclusive"), "{err}");
}

#[test]
fn the_rollup_devnet_runs_the_taiko_dataflow_from_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let config = dir.path().join("rollup.toml");
    std::fs::write(&config, "[rollup_devnet]\nseed = 5\nl1_reorg_rate = 0.05\n").unwrap();
    let out = bin()
        .args([
            "run",
            "--quiet",
            "--fast",
            "--max-blocks",
            "150",
            "--config",
        ])
        .arg(&config)
        .arg("--jsonl")
        .arg(&path)
        .output()
        .unwrap();
    crate::support::assert_success(&out);
    let text = std::fs::read_to_string(&path).unwrap();
    // The taiko dataflow ran over both generated chains with the generated contracts.
    for output in ["l1_heads", "l2_heads", "batches", "batch_times", "reorgs"] {
        assert!(!state(&text, output).is_empty(), "no {output} rows");
    }
    assert_eq!(state(&text, "l1_heads").len(), 150, "one row per L1 block");
    // A bad rollup setting is named.
    std::fs::write(&config, "[rollup_devnet]\nl1_reorg_rate = 3.0\n").unwrap();
    let out = bin()
        .args(["run", "--quiet", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rollup_devnet.l1_reorg_rate"), "{err}");
}
