//! Self-tests of the anvil harness (`support::anvil`) and of the node oracle
//! (`support::node_oracle`) against a real anvil.

use std::collections::BTreeSet;

use alloy_rpc_types_eth::{Block as RpcBlock, TransactionReceipt};
use chainflow::dataflows::gas_fees::recompute;
use chainflow::model::fees::blob_base_fee;
use chainflow::sources::rpc::convert::block_from_rpc;
use serde_json::{Value, json};

use crate::support::anvil::{Anvil, AnvilOpts, LOG_CONTRACT, LOG_TOPIC, TxKind, hex, hex_u64};
use crate::support::node_oracle::{gas_fees_all_from_node, gas_fees_from_node, node_blob_params};

fn receipts(a: &Anvil, n: u64) -> Vec<Value> {
    a.rpc("eth_getBlockReceipts", json!([hex(n)]))
        .as_array()
        .unwrap()
        .clone()
}

fn tx_hashes(a: &Anvil, n: u64) -> BTreeSet<String> {
    a.block(n, false)["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn anvil_tx_mix_lands_all_types_and_logs() {
    let a = Anvil::start();
    assert_eq!(a.head_number(), 0);
    let sent = a.send_mix(7, 24);
    assert_eq!(
        a.pool_len(),
        24,
        "--no-mining keeps every transaction in the pool"
    );
    assert_eq!(a.head_number(), 0);
    let mined = a.mine_until_empty(4);
    assert!(mined >= 1);

    let mut types = BTreeSet::new();
    let mut mined_hashes = BTreeSet::new();
    let mut logs = 0;
    let mut creations = 0;
    let mut blobs = 0;
    for n in 1..=a.head_number() {
        let b = a.block(n, true);
        for tx in b["transactions"].as_array().unwrap() {
            types.insert(hex_u64(&tx["type"]));
            mined_hashes.insert(tx["hash"].as_str().unwrap().to_owned());
            blobs += tx["blobVersionedHashes"].as_array().map_or(0, Vec::len);
        }
        for r in receipts(&a, n) {
            assert_eq!(r["status"], json!("0x1"), "receipt {r}");
            creations += usize::from(!r["contractAddress"].is_null());
            for log in r["logs"].as_array().unwrap() {
                assert_eq!(log["address"].as_str().unwrap(), LOG_CONTRACT);
                assert_eq!(log["topics"][0].as_str().unwrap(), LOG_TOPIC);
                logs += 1;
            }
        }
    }
    let want: BTreeSet<u64> = [0, 1, 2, 3].into();
    assert!(types.is_superset(&want), "types {types:?}");
    for (kind, hash) in &sent {
        assert!(mined_hashes.contains(hash), "{kind:?} {hash} not mined");
    }
    let log_calls = sent.iter().filter(|(k, _)| *k == TxKind::LogCall).count();
    assert!(log_calls >= 1);
    assert_eq!(logs, log_calls, "one LOG1 per call");
    let deploys = sent.iter().filter(|(k, _)| *k == TxKind::Deploy).count();
    assert!(deploys >= 1);
    assert_eq!(creations, deploys);
    let want_blobs: usize = sent
        .iter()
        .map(|(k, _)| match k {
            TxKind::Blob(n) => usize::from(*n),
            _ => 0,
        })
        .sum();
    assert!(want_blobs >= 1);
    assert_eq!(blobs, want_blobs);
}

#[test]
fn anvil_send_mix_is_deterministic() {
    let a = Anvil::start();
    let b = Anvil::start();
    let ka: Vec<TxKind> = a.send_mix(42, 9).into_iter().map(|(k, _)| k).collect();
    let kb: Vec<TxKind> = b.send_mix(42, 9).into_iter().map(|(k, _)| k).collect();
    assert_eq!(ka, kb);
    assert_ne!(a.port, b.port);
}

#[test]
fn anvil_reorg_depth_3_replaces_blocks_and_txs() {
    let a = Anvil::start();
    for round in 0..5u64 {
        a.send(
            TxKind::DynamicFee,
            1 + round as usize,
            1_000_000 * u128::from(round),
            round,
        );
        a.send(TxKind::Legacy, 6, 2_000_000, round);
        a.mine(1);
    }
    let head = a.head_number();
    assert_eq!(head, 5);
    let old_hashes: Vec<String> = (head - 2..=head).map(|n| a.block_hash(n)).collect();
    let old_txs: BTreeSet<String> = (head - 2..=head).flat_map(|n| tx_hashes(&a, n)).collect();
    assert_eq!(old_txs.len(), 6);
    let keep = a.block_hash(head - 3);

    // replacements from an account the old branch never used, with other values
    let replacements: Vec<(Value, u64)> = (0..3u64)
        .map(|off| {
            (
                a.tx_request(TxKind::DynamicFee, 19, 3_000_000, 100 + off),
                off,
            )
        })
        .collect();
    a.reorg(3, &replacements);

    assert_eq!(a.head_number(), head, "same height after the reorg");
    assert_eq!(a.block_hash(head - 3), keep, "the fork point stays");
    let new_hashes: Vec<String> = (head - 2..=head).map(|n| a.block_hash(n)).collect();
    for (old, new) in old_hashes.iter().zip(&new_hashes) {
        assert_ne!(old, new);
    }
    assert_eq!(
        a.block(head - 2, false)["parentHash"].as_str().unwrap(),
        keep,
        "the new branch links to the fork point"
    );
    let new_txs: BTreeSet<String> = (head - 2..=head).flat_map(|n| tx_hashes(&a, n)).collect();
    assert_eq!(new_txs.len(), 3, "one replacement per new block");
    assert!(old_txs.is_disjoint(&new_txs));
    for n in head - 2..=head {
        let txs = a.block(n, true)["transactions"].as_array().unwrap().clone();
        assert_eq!(txs.len(), 1, "block {n}");
        assert_eq!(txs[0]["from"].as_str().unwrap(), a.accounts()[19]);
    }
    // the oracle sees the new branch
    let (rows, _) = gas_fees_from_node(&a.http_url(), 0);
    assert_eq!(rows.len() as u64, head + 1);
    assert_eq!(
        format!("{:?}", rows[head as usize].block_hash),
        new_hashes[2]
    );
}

#[test]
fn anvil_snapshot_revert_drops_blocks() {
    let a = Anvil::start();
    a.mine(2);
    let id = a.snapshot();
    a.mine(3);
    assert_eq!(a.head_number(), 5);
    a.revert(id);
    assert_eq!(a.head_number(), 2);
}

#[test]
fn anvil_restart_preserves_chain() {
    let mut a = Anvil::with(AnvilOpts {
        persistent: true,
        ..AnvilOpts::default()
    });
    let port = a.port;
    a.send_mix(3, 8);
    a.mine_until_empty(3);
    a.mine(3);
    let head = a.head_number();
    let blocks: Vec<Value> = (0..=head).map(|n| a.block(n, true)).collect();
    let all_receipts: Vec<Vec<Value>> = (0..=head).map(|n| receipts(&a, n)).collect();
    let acct = a.accounts()[1].clone();
    let old_balance = a.rpc("eth_getBalance", json!([acct, hex(1)]));
    let head_balance = a.rpc("eth_getBalance", json!([acct, "latest"]));

    a.restart_same_port();

    assert_eq!(a.port, port);
    assert!(a.state_file().unwrap().exists());
    assert_eq!(a.head_number(), head);
    for n in 0..=head {
        assert_eq!(
            a.block(n, true),
            blocks[n as usize],
            "block {n} after restart"
        );
        assert_eq!(receipts(&a, n), all_receipts[n as usize], "receipts {n}");
    }
    assert_eq!(
        a.rpc("eth_getBalance", json!([acct, "latest"])),
        head_balance
    );
    // with --preserve-historical-states old states survive too
    assert_eq!(a.rpc("eth_getBalance", json!([acct, hex(1)])), old_balance);
    // and the chain goes on from the old head
    a.send(TxKind::DynamicFee, 2, 1, 1);
    a.mine(1);
    assert_eq!(a.head_number(), head + 1);
    assert_eq!(
        a.block(head + 1, false)["parentHash"],
        blocks[head as usize]["hash"]
    );
    assert_eq!(tx_hashes(&a, head + 1).len(), 1);
}

/// Converts the node's chain with chainflow's alloy conversion, for a cross-check only.
fn model_chain(a: &Anvil, from: u64) -> Vec<chainflow::model::Block> {
    let params = node_blob_params(&a.http_url());
    (from..=a.head_number())
        .map(|n| {
            let b: RpcBlock = serde_json::from_value(a.block(n, true)).unwrap();
            let r: Vec<TransactionReceipt> =
                serde_json::from_value(Value::Array(receipts(a, n))).unwrap();
            block_from_rpc(a.chain_id(), &b, Some(&r), params.as_ref()).unwrap()
        })
        .collect()
}

#[test]
fn anvil_node_oracle_rows_match_node_and_recompute() {
    let a = Anvil::with(AnvilOpts {
        chain_id: 4242,
        genesis_excess_blob_gas: Some(50_000_000),
        ..AnvilOpts::default()
    });
    for seed in 0..3 {
        a.send_mix(seed, 10);
        a.mine_until_empty(4);
        a.mine(2);
    }
    let head = a.head_number();

    let (blocks, minutes) = gas_fees_from_node(&a.http_url(), 0);
    assert_eq!(blocks.len() as u64, head + 1, "one row per block");
    assert!(blocks.iter().all(|r| r.chain_id == 4242));
    assert_eq!(minutes.iter().map(|m| m.blocks).sum::<u64>(), head + 1);
    assert!(minutes.len() >= 2, "12 s blocks span several minutes");
    let txs: u64 = blocks.iter().map(|r| r.tx_count).sum();
    assert_eq!(txs, 30);
    assert_eq!(minutes.iter().map(|m| m.tx_count).sum::<u64>(), txs);
    assert!(blocks.iter().any(|r| r.blob_count > 0));
    assert!(
        blocks
            .iter()
            .any(|r| r.priority_fee_p90 > r.priority_fee_p50)
    );
    assert!(
        blocks
            .iter()
            .all(|r| r.priority_fee_p90 >= r.priority_fee_p50)
    );
    assert!(
        blocks
            .iter()
            .all(|r| r.blob_gas_used == r.blob_count * 131_072)
    );

    // the blob base fee: the EIP-4844 formula with Prague's parameters is what anvil reports
    let params = node_blob_params(&a.http_url()).expect("prague has blobs");
    let head_row = blocks.last().unwrap();
    assert!(head_row.excess_blob_gas > 0);
    assert!(head_row.blob_base_fee > 1);
    assert_eq!(
        head_row.blob_base_fee,
        blob_base_fee(head_row.excess_blob_gas, &params)
    );
    let node_fee = a.rpc("eth_blobBaseFee", json!([]));
    assert_eq!(u128::from(hex_u64(&node_fee)), head_row.blob_base_fee);

    // a suffix read gives the suffix rows
    let (tail, _) = gas_fees_from_node(&a.http_url(), 5);
    assert_eq!(tail.as_slice(), &blocks[5..]);

    // cross-check against chainflow's conversion and recompute, hours and days included
    let want = recompute(&model_chain(&a, 0));
    assert_eq!(blocks, want.blocks);
    assert_eq!(minutes, want.minutes);
    let all = gas_fees_all_from_node(&a.http_url(), 0);
    assert_eq!(all.hours, want.hours);
    assert_eq!(all.days, want.days);
    assert_eq!(all.hours.iter().map(|h| h.blocks).sum::<u64>(), head + 1);
    assert_eq!(all.days.iter().map(|d| d.tx_count).sum::<u64>(), txs);
}
