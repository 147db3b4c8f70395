//! The `erc20` dataflow against a from-scratch recompute at every epoch of a devnet storm
//! (reorgs up to 64 deep, transfers above 2^128, truncated transfer logs), at 1 and 2
//! workers, with the library's oracle harness.

use std::collections::{BTreeMap, BTreeSet};

use alloy_sol_types::SolEvent;
use chainflow::dataflows::erc20::{self, Erc20, TokenHour, Transfer};
use chainflow::engine::dataflow::Row;
use chainflow::engine::decode::LogError;
use chainflow::model::{Address, Block, U256};
use chainflow::sources::SourceEvent;
use chainflow::sources::devnet::{Devnet, DevnetConfig, ERC20_TRANSFER};
use chainflow::testing::{Tables, check_every_epoch};

fn storm(seed: u64) -> Vec<SourceEvent> {
    let config = DevnetConfig {
        seed,
        block_time_ms: 0,
        max_blocks: Some(160),
        txs_per_block: 40,
        reorg_rate: 0.15,
        edge_reorg_share: 0.1,
        // A block a minute: hours change within the storm and reorgs cross them.
        slot_seconds: 60,
        ..DevnetConfig::default()
    };
    Devnet::new(config).unwrap().map(|e| e.unwrap()).collect()
}

/// The outputs of `erc20` over `chain`, computed directly from the logs' bytes.
fn recompute(chain: &[Block]) -> Tables {
    type Hour = (u64, Vec<(Address, Address, U256)>);
    let mut hours: BTreeMap<(u64, Address, u64), Hour> = BTreeMap::new();
    let mut errors = Vec::new();
    for block in chain {
        for log in &block.logs {
            if log.topics.len() != 3 || log.topics[0] != ERC20_TRANSFER {
                continue;
            }
            let hour = block.timestamp - block.timestamp % 3600;
            if log.data.len() < 32 {
                // The reason is the decoder's own words; the routing is what is checked.
                let reason = Transfer::decode_raw_log(log.topics.iter().copied(), &log.data)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                errors.push(LogError {
                    chain_id: block.chain_id,
                    block_number: block.number,
                    log_index: u64::from(log.log_index),
                    tx_hash: log.tx_hash,
                    address: log.address,
                    event: Transfer::SIGNATURE.to_string(),
                    reason,
                });
                continue;
            }
            let from = Address::from_slice(&log.topics[1][12..]);
            let to = Address::from_slice(&log.topics[2][12..]);
            let value = U256::from_be_slice(&log.data[..32]);
            let entry = hours
                .entry((block.chain_id, log.address, hour))
                .or_default();
            entry.0 += 1;
            entry.1.push((from, to, value));
        }
    }
    let rows: Vec<_> = hours
        .into_iter()
        .map(|((chain_id, token, hour), (transfers, list))| {
            let senders: BTreeSet<_> = list.iter().map(|t| t.0).collect();
            let receivers: BTreeSet<_> = list.iter().map(|t| t.1).collect();
            let volume = list.iter().fold(U256::ZERO, |v, t| v.saturating_add(t.2));
            TokenHour {
                chain_id,
                token,
                hour,
                transfers,
                volume,
                senders: senders.len() as u64,
                receivers: receivers.len() as u64,
            }
            .values()
        })
        .collect();
    Tables::from([
        (erc20::HOURS.spec().name, rows),
        (
            erc20::ERRORS.spec().name,
            errors.iter().map(Row::values).collect(),
        ),
    ])
}

#[test]
fn every_epoch_equals_the_recompute_through_reorgs_at_one_and_two_workers() {
    let events = storm(0xe20);
    let last = chainflow::testing::canonical_after_each(&events)
        .pop()
        .unwrap();
    let final_tables = recompute(&last);
    let hours = &final_tables["erc20_hours"];
    assert!(hours.len() > 20, "{} token hours", hours.len());
    let wide = hours
        .iter()
        .filter(|r| matches!(r[4], chainflow::engine::dataflow::Value::U256(v) if v > U256::from(u128::MAX)))
        .count();
    assert!(
        wide > 0,
        "no volume above 2^128: the exact 256-bit path is not exercised"
    );
    assert!(
        !final_tables["erc20_errors"].is_empty(),
        "no transfer log that fails to decode"
    );
    for workers in [1, 2] {
        let report = check_every_epoch(&Erc20, &events, workers, recompute);
        assert!(report.reorgs >= 10, "{} reorgs", report.reorgs);
        assert_eq!(report.outputs, 2);
        assert!(report.rows > 20);
    }
}
