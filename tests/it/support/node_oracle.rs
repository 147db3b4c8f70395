//! An oracle for `gas_fees` over a real node: reads the node's current canonical chain with
//! plain JSON-RPC (`eth_getBlockByNumber(n, true)`, `eth_getBlockReceipts(n)`) and builds the
//! rows from the raw JSON, sharing no code with chainflow's alloy conversion or its
//! `recompute` (only `blob_base_fee`, the EIP-4844 formula, and the row types).

use std::collections::BTreeMap;

use chainflow::dataflows::gas_fees::{BlockRow, MinuteRow, Rollup};
use chainflow::model::B256;
use chainflow::model::fees::{BlobParams, blob_base_fee};
use serde_json::{Value, json};

use super::anvil::{hex, hex_u64, hex_u128, rpc_url};

/// Every `gas_fees` output of a node's canonical chain, as [`gas_fees_all_from_node`] reads
/// it (the same shape as the dataflow's own recompute, computed independently here).
pub type NodeRows = chainflow::dataflows::gas_fees::Recomputed;

/// The `gas_fees_blocks` and `gas_fees_minutes` rows of the node's canonical chain from
/// `from_block` to `latest` (see [`gas_fees_all_from_node`], which also gives the hours and
/// days).
pub fn gas_fees_from_node(
    anvil_http_url: &str,
    from_block: u64,
) -> (Vec<BlockRow>, Vec<MinuteRow>) {
    let rows = gas_fees_all_from_node(anvil_http_url, from_block);
    (rows.blocks, rows.minutes)
}

/// Every `gas_fees` output of the node's canonical chain from `from_block` to `latest`. The
/// hour and day rows are summed from the block rows read here (the first bucket counts only
/// the blocks from `from_block` on). Panics if the chain changes while it is read (the parent
/// hashes of consecutive blocks must link).
pub fn gas_fees_all_from_node(anvil_http_url: &str, from_block: u64) -> NodeRows {
    let call = |method: &str, params: Value| rpc_url(anvil_http_url, method, params);
    let chain_id = hex_u64(&call("eth_chainId", json!([])));
    let params = node_blob_params(anvil_http_url);
    let head = hex_u64(&call("eth_blockNumber", json!([])));

    let mut blocks: Vec<BlockRow> = Vec::new();
    let mut minute_tips: BTreeMap<u64, Vec<u128>> = BTreeMap::new();
    for n in from_block..=head {
        let b = call("eth_getBlockByNumber", json!([hex(n), true]));
        assert!(!b.is_null(), "block {n} vanished while reading");
        let receipts = call("eth_getBlockReceipts", json!([hex(n)]));
        let receipts = receipts.as_array().expect("receipts array");
        let txs = b["transactions"].as_array().expect("full transactions");
        assert_eq!(receipts.len(), txs.len(), "receipts of block {n}");

        let base = opt_u128(&b["baseFeePerGas"]);
        let mut tips = Vec::with_capacity(txs.len());
        let mut priority_fee_sum: u128 = 0;
        let mut blob_count = 0u64;
        for (tx, r) in txs.iter().zip(receipts) {
            assert_eq!(
                tx["hash"], r["transactionHash"],
                "receipt order in block {n}"
            );
            let tip = hex_u128(&r["effectiveGasPrice"]).saturating_sub(base);
            priority_fee_sum += tip * u128::from(hex_u64(&r["gasUsed"]));
            tips.push(tip);
            blob_count += tx["blobVersionedHashes"]
                .as_array()
                .map_or(0, |h| h.len() as u64);
        }
        tips.sort_unstable();
        let excess = opt_u64(&b["excessBlobGas"]);
        let row = BlockRow {
            chain_id,
            block_number: hex_u64(&b["number"]),
            block_hash: hash(&b["hash"]),
            parent_hash: hash(&b["parentHash"]),
            timestamp: hex_u64(&b["timestamp"]),
            gas_used: hex_u64(&b["gasUsed"]),
            gas_limit: hex_u64(&b["gasLimit"]),
            base_fee_per_gas: base,
            tx_count: txs.len() as u64,
            priority_fee_sum,
            priority_fee_p50: nearest_rank(&tips, 50),
            priority_fee_p90: nearest_rank(&tips, 90),
            blob_count,
            blob_gas_used: opt_u64(&b["blobGasUsed"]),
            excess_blob_gas: excess,
            blob_base_fee: match (&params, b.get("excessBlobGas")) {
                (Some(p), Some(_)) => blob_base_fee(excess, p),
                _ => 0,
            },
        };
        assert_eq!(row.block_number, n);
        if let Some(prev) = blocks.last() {
            assert_eq!(
                row.parent_hash, prev.block_hash,
                "chain changed while reading"
            );
        }
        minute_tips
            .entry(row.timestamp - row.timestamp % 60)
            .or_default()
            .extend_from_slice(&tips);
        blocks.push(row);
    }

    let mut minutes: BTreeMap<u64, (MinuteRow, u128)> = BTreeMap::new();
    for r in &blocks {
        let minute = r.timestamp - r.timestamp % 60;
        let (m, base_sum) = minutes.entry(minute).or_insert_with(|| {
            (
                MinuteRow {
                    chain_id,
                    minute,
                    blocks: 0,
                    tx_count: 0,
                    gas_used: 0,
                    gas_limit: 0,
                    priority_fee_sum: 0,
                    base_fee_min: u128::MAX,
                    base_fee_max: 0,
                    base_fee_avg: 0,
                    blob_count: 0,
                    blob_gas_used: 0,
                    priority_fee_p50: 0,
                    priority_fee_p90: 0,
                },
                0,
            )
        });
        m.blocks += 1;
        m.tx_count += r.tx_count;
        m.gas_used += r.gas_used;
        m.gas_limit += r.gas_limit;
        m.priority_fee_sum += r.priority_fee_sum;
        m.base_fee_min = m.base_fee_min.min(r.base_fee_per_gas);
        m.base_fee_max = m.base_fee_max.max(r.base_fee_per_gas);
        *base_sum += r.base_fee_per_gas;
        m.blob_count += r.blob_count;
        m.blob_gas_used += r.blob_gas_used;
    }
    let minutes = minutes
        .into_iter()
        .map(|(minute, (mut m, base_sum))| {
            m.base_fee_avg = base_sum / u128::from(m.blocks);
            let mut tips = minute_tips.remove(&minute).unwrap_or_default();
            tips.sort_unstable();
            m.priority_fee_p50 = nearest_rank(&tips, 50);
            m.priority_fee_p90 = nearest_rank(&tips, 90);
            m
        })
        .collect();
    NodeRows {
        hours: rollups(&blocks),
        days: rollups(&blocks),
        blocks,
        minutes,
    }
}

/// The rollup rows of `SECS`-second UTC buckets over `blocks` (one chain), in key order.
fn rollups<const SECS: u64>(blocks: &[BlockRow]) -> Vec<Rollup<SECS>> {
    let mut buckets: BTreeMap<(u64, u64), (Rollup<SECS>, u128)> = BTreeMap::new();
    for r in blocks {
        let start = r.timestamp - r.timestamp % SECS;
        let (b, base_sum) = buckets.entry((r.chain_id, start)).or_insert_with(|| {
            (
                Rollup {
                    chain_id: r.chain_id,
                    bucket_start: start,
                    blocks: 0,
                    tx_count: 0,
                    gas_used: 0,
                    gas_limit: 0,
                    priority_fee_sum: 0,
                    base_fee_min: u128::MAX,
                    base_fee_max: 0,
                    base_fee_avg: 0,
                    blob_count: 0,
                    blob_gas_used: 0,
                },
                0,
            )
        });
        b.blocks += 1;
        b.tx_count += r.tx_count;
        b.gas_used += r.gas_used;
        b.gas_limit += r.gas_limit;
        b.priority_fee_sum += r.priority_fee_sum;
        b.base_fee_min = b.base_fee_min.min(r.base_fee_per_gas);
        b.base_fee_max = b.base_fee_max.max(r.base_fee_per_gas);
        *base_sum += r.base_fee_per_gas;
        b.blob_count += r.blob_count;
        b.blob_gas_used += r.blob_gas_used;
    }
    buckets
        .into_values()
        .map(|(mut b, base_sum)| {
            b.base_fee_avg = base_sum / u128::from(b.blocks);
            b
        })
        .collect()
}

/// The blob parameters of the node's hardfork (`anvil_nodeInfo.hardFork`), `None` before
/// Cancun or for an unknown name.
pub fn node_blob_params(anvil_http_url: &str) -> Option<BlobParams> {
    let info = rpc_url(anvil_http_url, "anvil_nodeInfo", json!([]));
    let fork = info["hardFork"]
        .as_str()
        .expect("hardFork")
        .to_ascii_lowercase();
    BlobParams::from_name(&fork)
}

/// Nearest-rank percentile of an ascending list: the value at rank `ceil(p/100 * n)` (at
/// least 1); 0 for an empty list.
fn nearest_rank(sorted: &[u128], p: u64) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len() as u64;
    let rank = (p * n).div_ceil(100).max(1);
    sorted[(rank - 1) as usize]
}

fn hash(v: &Value) -> B256 {
    v.as_str()
        .expect("hash string")
        .parse()
        .expect("32-byte hash")
}

fn opt_u64(v: &Value) -> u64 {
    if v.is_null() { 0 } else { hex_u64(v) }
}

fn opt_u128(v: &Value) -> u128 {
    if v.is_null() { 0 } else { hex_u128(v) }
}
