//! The dataflow of a crate outside chainflow: the oracle check of chainflow's test support
//! at every epoch of a devnet storm, and the crate's binary running it through chainflow's
//! command line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use chainflow::engine::dataflow::Row;
use chainflow::model::Block;
use chainflow::sources::devnet::{Devnet, DevnetConfig};
use chainflow::testing::{Tables, check_every_epoch};
use chainflow_external_dataflow::{FullBlocks, FullHour, HOURS};

fn recompute(chain: &[Block]) -> Tables {
    let mut hours: BTreeMap<(u64, u64), (u64, u64)> = BTreeMap::new();
    for b in chain {
        let e = hours
            .entry((b.chain_id, b.timestamp / 3600 * 3600))
            .or_default();
        e.0 += 1;
        e.1 += u64::from(10 * b.gas_used >= 9 * b.gas_limit);
    }
    let rows = hours
        .into_iter()
        .map(|((chain_id, hour), (blocks, full_blocks))| {
            FullHour {
                chain_id,
                hour,
                blocks,
                full_blocks,
            }
            .values()
        })
        .collect();
    Tables::from([(HOURS.spec().name, rows)])
}

#[test]
fn every_epoch_equals_the_recompute() {
    let config = DevnetConfig {
        block_time_ms: 0,
        max_blocks: Some(400),
        txs_per_block: 20,
        reorg_rate: 0.1,
        slot_seconds: 30,
        ..DevnetConfig::default()
    };
    let events: Vec<_> = Devnet::new(config).unwrap().map(Result::unwrap).collect();
    let report = check_every_epoch(&FullBlocks, &events, 2, recompute);
    assert!(report.reorgs > 5 && report.rows > 2, "{report:?}");
}

#[test]
fn the_binary_is_chainflow_with_the_dataflow_added() {
    let bin = env!("CARGO_BIN_EXE_my-chainflow");
    let list = std::process::Command::new(bin)
        .arg("list")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("full_blocks") && text.contains("gas_fees"),
        "{text}"
    );
    let dir = std::env::temp_dir().join(format!("my-chainflow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.jsonl");
    let run = std::process::Command::new(bin)
        .args(["run", "--max-blocks", "120", "--fast", "--quiet", "--jsonl"])
        .arg(&out)
        .env("CHAINFLOW_DATAFLOWS__ENABLED", "[\"full_blocks\"]")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines = std::fs::read_to_string(&out).unwrap();
    assert!(
        lines
            .lines()
            .any(|l| l.contains("\"output\":\"full_block_hours\"")),
        "{lines}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
