//! Checks of the fee recurrences, of the RPC conversion and of the `gas_fees` hour and day
//! rollups against real mainnet data.
//!
//! The fixtures are real mainnet data kept beside the repository (see [`DATA`]).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::Read;

use alloy_rpc_types_eth::{Block as RpcBlock, TransactionReceipt};
use chainflow::dataflows::gas_fees::{DAYS, GasFees, HOURS, Rollup, recompute};
use chainflow::engine::dataflow::Row;
use chainflow::engine::{self, EngineSettings, RunControl};
use chainflow::model::fees::{
    BlobParams, GAS_PER_BLOB, blob_base_fee, next_base_fee, next_excess_blob_gas, percentile,
};
use chainflow::model::{Address, B256, Block, ChainEvent, Tx};
use chainflow::sinks::memory::MemorySink;
use chainflow::sources::rpc::convert::block_from_rpc;
use chainflow::sources::{SourceError, SourceEvent};
use serde_json::Value;

/// Directory of the fixtures: `shared/data` beside the repository, as README.md
/// ("Development") says; the only place the tests read outside the repository.
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/");

/// The value of a result, panicking with some context on an error.
fn ok<T, E: Display>(result: Result<T, E>, context: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{context}: {e}"),
    }
}

/// A value that must be present.
fn some<T>(option: Option<T>, context: &str) -> T {
    match option {
        Some(value) => value,
        None => panic!("{context}: missing"),
    }
}

/// The text of a fixture, decompressed when its name ends in `.gz`.
fn read(name: &str) -> String {
    let path = format!("{DATA}{name}");
    let bytes = ok(std::fs::read(&path), &path);
    let mut text = String::new();
    if name.ends_with(".gz") {
        let mut decoder = flate2::read::GzDecoder::new(bytes.as_slice());
        ok(decoder.read_to_string(&mut text), &path);
    } else {
        text = ok(String::from_utf8(bytes), &path);
    }
    text
}

/// The rows of a CSV fixture without quoted fields, each as column name to value.
fn csv_rows(name: &str) -> Vec<BTreeMap<String, String>> {
    let text = read(name);
    let mut lines = text.lines();
    let header: Vec<String> = some(lines.next(), name)
        .split(',')
        .map(str::to_owned)
        .collect();
    lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), header.len(), "{name}: row {line}");
            header
                .iter()
                .cloned()
                .zip(fields.into_iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// A decimal column of a CSV row.
fn col(row: &BTreeMap<String, String>, column: &str) -> u128 {
    let text = some(row.get(column), column);
    ok(text.parse::<u128>(), &format!("{column} = {text:?}"))
}

/// A decimal column that fits `u64`.
fn col64(row: &BTreeMap<String, String>, column: &str) -> u64 {
    ok(u64::try_from(col(row, column)), column)
}

/// A `0x` quantity of a JSON-RPC object.
fn hex(value: &Value, field: &str) -> u128 {
    let text = some(value.get(field).and_then(Value::as_str), field);
    let digits = some(text.strip_prefix("0x"), field);
    ok(
        u128::from_str_radix(digits, 16),
        &format!("{field} = {text}"),
    )
}

/// A `0x` quantity that fits `u64`.
fn hex64(value: &Value, field: &str) -> u64 {
    ok(u64::try_from(hex(value, field)), field)
}

/// One header of a base-fee source: (number, gas used, gas limit, base fee).
type FeeRow = (u64, u64, u64, u128);

/// Checks `next_base_fee` on every transition of consecutive headers, returns the count.
fn check_base_fee_transitions(name: &str, rows: &mut [FeeRow]) -> usize {
    rows.sort_unstable();
    let mut transitions = 0;
    for pair in rows.windows(2) {
        let [(n, used, limit, fee), (child, _, _, child_fee)] = *pair else {
            unreachable!("windows of 2")
        };
        assert_eq!(child, n + 1, "{name}: blocks not consecutive at {n}");
        assert_eq!(
            next_base_fee(used, limit, fee),
            child_fee,
            "{name}: base fee of block {child}"
        );
        transitions += 1;
    }
    transitions
}

#[test]
fn base_fee_recurrence_etl_csv_pre_merge() {
    let name = "eth_mainnet_15533942-15535581_etl_blocks.csv.gz";
    let mut rows: Vec<FeeRow> = csv_rows(name)
        .iter()
        .map(|r| {
            (
                col64(r, "number"),
                col64(r, "gas_used"),
                col64(r, "gas_limit"),
                col(r, "base_fee_per_gas"),
            )
        })
        .collect();
    assert_eq!(rows.len(), 1640);
    assert_eq!(check_base_fee_transitions(name, &mut rows), 1639);
}

#[test]
fn base_fee_recurrence_81_block_csv() {
    let name = "eth_mainnet_21540120-21540200_blocks.csv";
    let mut rows: Vec<FeeRow> = csv_rows(name)
        .iter()
        .map(|r| {
            (
                col64(r, "block_number"),
                col64(r, "gas_used"),
                col64(r, "gas_limit"),
                col(r, "base_fee_per_gas"),
            )
        })
        .collect();
    assert_eq!(rows.len(), 81);
    assert_eq!(check_base_fee_transitions(name, &mut rows), 80);
}

/// The fee-stats fixture: 1,000 consecutive blocks of January 2026.
fn fee_stats() -> Vec<Value> {
    let name = "eth_mainnet_24337593-24338592_fee_stats.json.gz";
    let value: Value = ok(serde_json::from_str(&read(name)), name);
    match value {
        Value::Array(rows) => rows,
        other => panic!("{name}: not an array but {other}"),
    }
}

/// An integer field of a fee-stats row.
fn field(row: &Value, name: &str) -> u64 {
    some(row.get(name).and_then(Value::as_u64), name)
}

#[test]
fn base_fee_recurrence_fee_stats_json() {
    let mut rows: Vec<FeeRow> = fee_stats()
        .iter()
        .map(|r| {
            (
                field(r, "number"),
                field(r, "gas_used"),
                field(r, "gas_limit"),
                u128::from(field(r, "base_fee_per_gas")),
            )
        })
        .collect();
    assert_eq!(rows.len(), 1000);
    assert_eq!(check_base_fee_transitions("fee_stats", &mut rows), 999);
}

/// One row of a blob file.
#[derive(Clone, Copy, Debug)]
struct BlobRow {
    number: u64,
    timestamp: u64,
    blob_count: u64,
    blob_gas_used: u64,
    excess_blob_gas: u64,
}

/// The rows of a daily blob file, checked contiguous and self-consistent.
fn blob_rows(day: &str) -> Vec<BlobRow> {
    let name = format!("eth_blobs/eth_blobs_{day}.csv.gz");
    let mut rows: Vec<BlobRow> = csv_rows(&name)
        .iter()
        .map(|r| BlobRow {
            number: col64(r, "block_number"),
            timestamp: col64(r, "timestamp_ms") / 1000,
            blob_count: col64(r, "blob_count"),
            blob_gas_used: col64(r, "blob_gas_used"),
            excess_blob_gas: col64(r, "excess_blob_gas"),
        })
        .collect();
    rows.sort_unstable_by_key(|r| r.number);
    for pair in rows.windows(2) {
        assert_eq!(pair[1].number, pair[0].number + 1, "{name}: gap");
    }
    for r in &rows {
        assert_eq!(
            r.blob_gas_used,
            r.blob_count * GAS_PER_BLOB,
            "{name}: {r:?}"
        );
        let params = some(
            BlobParams::mainnet_at(r.timestamp),
            &format!("{name}: {r:?}"),
        );
        assert!(
            r.blob_count <= params.max_blobs,
            "{name}: too many blobs {r:?}"
        );
    }
    rows
}

/// Checks `next_excess_blob_gas` with the child's mainnet parameters on every transition whose
/// parent base fee `base_fee` knows, returns the count of transitions checked.
fn check_excess_transitions(
    day: &str,
    rows: &[BlobRow],
    base_fee: impl Fn(u64) -> Option<u128>,
) -> usize {
    let mut checked = 0;
    for pair in rows.windows(2) {
        let (parent, child) = (pair[0], pair[1]);
        let Some(parent_base_fee) = base_fee(parent.number) else {
            continue;
        };
        let params = some(BlobParams::mainnet_at(child.timestamp), day);
        assert_eq!(
            next_excess_blob_gas(
                parent.excess_blob_gas,
                parent.blob_gas_used,
                parent_base_fee,
                &params
            ),
            child.excess_blob_gas,
            "{day}: excess blob gas of block {} with {params:?}",
            child.number
        );
        checked += 1;
    }
    checked
}

#[test]
fn excess_blob_gas_cancun_march_2024() {
    for (day, rows_expected) in [
        ("2024-03-13", 2969),
        ("2024-03-14", 7089),
        ("2024-03-27", 6921),
        ("2024-03-28", 7028),
    ] {
        let rows = blob_rows(day);
        assert_eq!(rows.len(), rows_expected, "{day}");
        for r in &rows {
            assert_eq!(
                BlobParams::mainnet_at(r.timestamp),
                Some(BlobParams::CANCUN)
            );
        }
        // the base fee is irrelevant before Osaka
        let checked = check_excess_transitions(day, &rows, |_| Some(u128::MAX));
        assert_eq!(checked, rows_expected - 1, "{day}");
    }
}

#[test]
fn cancun_activation_is_the_first_blob_block() {
    let rows = blob_rows("2024-03-13");
    let first = rows[0];
    assert_eq!(first.number, 19_426_587);
    assert_eq!(
        BlobParams::mainnet_at(first.timestamp),
        Some(BlobParams::CANCUN)
    );
    assert_eq!(BlobParams::mainnet_at(first.timestamp - 12), None);
}

#[test]
fn excess_blob_gas_pectra_switch_2025_05_07() {
    let rows = blob_rows("2025-05-07");
    assert_eq!(rows.len(), 7038);
    let first_prague = some(
        rows.iter()
            .find(|r| BlobParams::mainnet_at(r.timestamp) == Some(BlobParams::PRAGUE)),
        "first prague block",
    );
    assert_eq!(first_prague.number, 22_431_084);
    let before = rows
        .iter()
        .filter(|r| BlobParams::mainnet_at(r.timestamp) == Some(BlobParams::CANCUN))
        .count();
    assert_eq!(before, 22_431_084 - 22_428_092);
    assert_eq!(
        check_excess_transitions("2025-05-07", &rows, |_| Some(0)),
        7037
    );

    // the switch is visible in the data: Cancun's target does not explain the first Prague
    // block's excess
    let parent = some(rows.iter().find(|r| r.number == 22_431_083), "parent");
    assert_ne!(
        next_excess_blob_gas(
            parent.excess_blob_gas,
            parent.blob_gas_used,
            0,
            &BlobParams::CANCUN
        ),
        first_prague.excess_blob_gas
    );
}

#[test]
fn blob_counts_respect_bpo1_switch_2025_12_09() {
    let rows = blob_rows("2025-12-09");
    assert_eq!(rows.len(), 7122);
    let first_bpo1 = some(
        rows.iter()
            .find(|r| BlobParams::mainnet_at(r.timestamp) == Some(BlobParams::BPO1)),
        "first bpo1 block",
    );
    // by timestamp 1765290071 BPO1 starts at block 23,975,778; the first block above Osaka's
    // maximum of 9 blobs follows it
    assert_eq!(first_bpo1.number, 23_975_778);
    let first_over_9 = some(
        rows.iter().find(|r| r.blob_count > 9),
        "block with > 9 blobs",
    );
    assert_eq!(first_over_9.number, 23_975_784);
    // every transition fits one of the EIP-7918 outcomes under the child's parameters
    for pair in rows.windows(2) {
        let (parent, child) = (pair[0], pair[1]);
        let params = some(BlobParams::mainnet_at(child.timestamp), "params");
        assert!(params.eip7918);
        let low = next_excess_blob_gas(parent.excess_blob_gas, parent.blob_gas_used, 0, &params);
        let high = next_excess_blob_gas(
            parent.excess_blob_gas,
            parent.blob_gas_used,
            u128::MAX,
            &params,
        );
        assert!(
            child.excess_blob_gas == low || child.excess_blob_gas == high,
            "block {}: {} is neither {low} nor {high}",
            child.number,
            child.excess_blob_gas
        );
    }
}

#[test]
fn excess_blob_gas_bpo2_eip7918_2026_01_29() {
    let rows = blob_rows("2026-01-29");
    assert_eq!(rows.len(), 7170);
    let base_fees: BTreeMap<u64, u128> = fee_stats()
        .iter()
        .map(|r| (field(r, "number"), u128::from(field(r, "base_fee_per_gas"))))
        .collect();
    for r in &rows {
        assert_eq!(BlobParams::mainnet_at(r.timestamp), Some(BlobParams::BPO2));
    }
    let checked = check_excess_transitions("2026-01-29", &rows, |n| base_fees.get(&n).copied());
    assert_eq!(checked, 1000);

    // the reserve price binds for most of these blocks, so EIP-7918 is really exercised
    let reserve_bound = rows
        .windows(2)
        .filter(|pair| {
            let parent = pair[0];
            base_fees.get(&parent.number).is_some_and(|&fee| {
                parent.excess_blob_gas + parent.blob_gas_used >= BlobParams::BPO2.target_blob_gas()
                    && 8192 * fee
                        > u128::from(GAS_PER_BLOB)
                            * blob_base_fee(parent.excess_blob_gas, &BlobParams::BPO2)
            })
        })
        .count();
    assert_eq!(reserve_bound, 825);
}

/// The 1,000 fee-stats blocks of 2026-01-29 (02:42 to 06:03 UTC) as model blocks with their
/// real header fields (timestamp, gas used and limit, base fee) and blob gas joined from the
/// blob file of that day. The fixtures have no hashes or transactions: hashes are made from
/// the number, and a block with blobs gets one transaction carrying its blob count with no gas
/// and no tip.
fn real_fee_blocks() -> Vec<Block> {
    let blobs: BTreeMap<u64, BlobRow> = blob_rows("2026-01-29")
        .into_iter()
        .map(|r| (r.number, r))
        .collect();
    let mut rows = fee_stats();
    rows.sort_by_key(|r| field(r, "number"));
    let hash = |n: u64| {
        let mut bytes = [0u8; 32];
        bytes[24..].copy_from_slice(&n.to_be_bytes());
        B256::from(bytes)
    };
    rows.iter()
        .map(|r| {
            let number = field(r, "number");
            let blob = some(blobs.get(&number).copied(), &format!("blobs of {number}"));
            assert_eq!(blob.timestamp, field(r, "timestamp"), "block {number}");
            let base_fee = u128::from(field(r, "base_fee_per_gas"));
            let transactions = if blob.blob_count == 0 {
                vec![]
            } else {
                vec![Tx {
                    hash: hash(number),
                    index: 0,
                    tx_type: 3,
                    from: Address::ZERO,
                    to: None,
                    value: 0,
                    gas_limit: 0,
                    gas_used: 0,
                    effective_gas_price: base_fee,
                    max_fee_per_gas: None,
                    max_priority_fee_per_gas: None,
                    max_fee_per_blob_gas: None,
                    blob_count: ok(u32::try_from(blob.blob_count), "blob count"),
                    success: true,
                }]
            };
            Block {
                chain_id: 1,
                number,
                hash: hash(number),
                parent_hash: hash(number - 1),
                timestamp: blob.timestamp,
                miner: Address::ZERO,
                gas_used: field(r, "gas_used"),
                gas_limit: field(r, "gas_limit"),
                base_fee_per_gas: base_fee,
                blob_gas_used: blob.blob_gas_used,
                excess_blob_gas: blob.excess_blob_gas,
                blob_base_fee: blob_base_fee(blob.excess_blob_gas, &BlobParams::BPO2),
                transactions,
                logs: vec![],
            }
        })
        .collect()
}

#[test]
fn gas_fees_hours_and_days_of_real_mainnet_blocks_equal_sums_over_the_fixtures() {
    let chain = real_fee_blocks();
    assert_eq!(chain.len(), 1000);

    // Straight from the fixtures: per UTC hour and day, counts, sums, min, max, floor of mean.
    fn sums<const SECS: u64>(rows: &[Value], blobs: &BTreeMap<u64, BlobRow>) -> Vec<Rollup<SECS>> {
        let mut out: BTreeMap<u64, (Rollup<SECS>, u128)> = BTreeMap::new();
        for r in rows {
            let ts = field(r, "timestamp");
            let blob = blobs[&field(r, "number")];
            let base = u128::from(field(r, "base_fee_per_gas"));
            let start = ts / SECS * SECS;
            let (row, base_sum) = out.entry(start).or_insert((
                Rollup {
                    chain_id: 1,
                    bucket_start: start,
                    blocks: 0,
                    tx_count: 0,
                    gas_used: 0,
                    gas_limit: 0,
                    priority_fee_sum: 0,
                    base_fee_min: base,
                    base_fee_max: base,
                    base_fee_avg: 0,
                    blob_count: 0,
                    blob_gas_used: 0,
                },
                0,
            ));
            row.blocks += 1;
            row.tx_count += u64::from(blob.blob_count > 0);
            row.gas_used += field(r, "gas_used");
            row.gas_limit += field(r, "gas_limit");
            row.base_fee_min = row.base_fee_min.min(base);
            row.base_fee_max = row.base_fee_max.max(base);
            *base_sum += base;
            row.blob_count += blob.blob_count;
            row.blob_gas_used += blob.blob_gas_used;
        }
        out.into_values()
            .map(|(mut row, base_sum)| {
                row.base_fee_avg = base_sum / u128::from(row.blocks);
                row
            })
            .collect()
    }
    let blobs: BTreeMap<u64, BlobRow> = blob_rows("2026-01-29")
        .into_iter()
        .map(|r| (r.number, r))
        .collect();
    let rows = fee_stats();
    let hours = sums::<3600>(&rows, &blobs);
    let days = sums::<86400>(&rows, &blobs);
    let starts: Vec<u64> = hours.iter().map(|h| h.bucket_start).collect();
    // 02:00 .. 06:00 UTC on 2026-01-29
    let two_am = 1_769_644_800 + 2 * 3_600;
    assert_eq!(
        starts,
        (0..5).map(|i| two_am + i * 3_600).collect::<Vec<_>>()
    );
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].blocks, 1000);
    assert!(days[0].blob_count > 0 && days[0].base_fee_min < days[0].base_fee_max);

    let want = recompute(&chain);
    assert_eq!(want.hours, hours, "recompute equals the fixtures' sums");
    assert_eq!(want.days, days);

    // The dataflow, 7 blocks per epoch, 2 workers.
    let events = chain.iter().map(|b| {
        Ok(SourceEvent {
            event: ChainEvent::Committed {
                new: vec![b.clone()],
            },
            finalized: None,
            caught_up: true,
            epoch: None,
        })
    });
    let sink = MemorySink::new();
    ok(
        engine::run(
            &EngineSettings {
                blocks_per_epoch: 7,
                ..EngineSettings::default()
            },
            timely::Config::process(2),
            vec![&GasFees],
            events,
            vec![Box::new(sink.clone())],
            &RunControl::default(),
        ),
        "engine run",
    );
    let state = |output: &str| -> BTreeMap<Vec<chainflow::engine::dataflow::Value>, isize> {
        let batches = sink.batches();
        for b in batches.iter().filter(|b| b.output.name == output) {
            assert!(b.errors.is_empty(), "{output}: {:?}", b.errors);
        }
        chainflow::sinks::memory::current_rows(&batches, output)
    };
    let values = |rows: Vec<Vec<chainflow::engine::dataflow::Value>>| {
        rows.into_iter().map(|r| (r, 1)).collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        state(HOURS),
        values(hours.iter().map(Row::values).collect())
    );
    assert_eq!(state(DAYS), values(days.iter().map(Row::values).collect()));
}

/// The raw JSON-RPC block 23,724,257 (`result` of the envelope).
fn raw_block() -> Value {
    let name = "eth_mainnet_block_23724257_full_with_txs.json.gz";
    let envelope: Value = ok(serde_json::from_str(&read(name)), name);
    some(envelope.get("result").cloned(), "result")
}

/// Block 23,724,257 decoded by alloy.
fn rpc_block(raw: &Value) -> RpcBlock {
    ok(serde_json::from_value(raw.clone()), "decode block 23724257")
}

/// Nearest-rank percentile by its definition: the least value such that at least `p`% of the
/// values are at most it.
fn percentile_by_definition(values: &[u128], p: u128) -> u128 {
    let n = values.len() as u128;
    let mut candidates = values.to_vec();
    candidates.sort_unstable();
    candidates.dedup();
    some(
        candidates.into_iter().find(|&v| {
            let at_most = values.iter().filter(|&&x| x <= v).count() as u128;
            at_most * 100 >= p * n && at_most >= 1
        }),
        "percentile",
    )
}

#[test]
fn block_23724257_converts_from_rpc() {
    let raw = raw_block();
    let rpc = rpc_block(&raw);
    let timestamp = hex64(&raw, "timestamp");
    assert_eq!(timestamp, 1_762_238_771);
    let params = BlobParams::mainnet_at(timestamp);
    assert_eq!(params, Some(BlobParams::PRAGUE));
    let block = ok(
        block_from_rpc(1, &rpc, None, params.as_ref()),
        "convert block 23724257",
    );

    // header, computed from the raw JSON
    let base_fee = hex(&raw, "baseFeePerGas");
    assert_eq!(block.chain_id, 1);
    assert_eq!(block.number, hex64(&raw, "number"));
    assert_eq!(block.number, 23_724_257);
    assert_eq!(
        format!("{:#x}", block.hash),
        some(raw["hash"].as_str(), "hash")
    );
    assert_eq!(
        format!("{:#x}", block.parent_hash),
        some(raw["parentHash"].as_str(), "parentHash")
    );
    assert_eq!(
        format!("{:#x}", block.miner),
        some(raw["miner"].as_str(), "miner").to_lowercase()
    );
    assert_eq!(block.timestamp, timestamp);
    assert_eq!(block.gas_used, hex64(&raw, "gasUsed"));
    assert_eq!(block.gas_limit, hex64(&raw, "gasLimit"));
    assert_eq!(block.base_fee_per_gas, base_fee);
    assert_eq!(block.base_fee_per_gas, 993_378_387);
    assert_eq!(block.blob_gas_used, hex64(&raw, "blobGasUsed"));
    assert_eq!(block.blob_gas_used, 917_504);
    assert_eq!(block.excess_blob_gas, hex64(&raw, "excessBlobGas"));
    assert_eq!(block.excess_blob_gas, 4_980_736);
    assert_eq!(
        block.blob_base_fee,
        blob_base_fee(4_980_736, &BlobParams::PRAGUE)
    );
    assert!(block.logs.is_empty());

    // transactions, computed from the raw JSON
    let raw_txs = some(raw["transactions"].as_array(), "transactions");
    assert_eq!(raw_txs.len(), 187);
    assert_eq!(block.transactions.len(), 187);
    let mut by_type: BTreeMap<u8, usize> = BTreeMap::new();
    let mut blobs = 0u64;
    let mut raw_tips = Vec::new();
    for (i, (tx, raw_tx)) in block.transactions.iter().zip(raw_txs).enumerate() {
        let tx_type = ok(u8::try_from(hex(raw_tx, "type")), "type");
        *by_type.entry(tx_type).or_default() += 1;
        assert_eq!(tx.tx_type, tx_type, "tx {i}");
        assert_eq!(tx.index as usize, i);
        assert_eq!(u128::from(tx.index), hex(raw_tx, "transactionIndex"));
        assert_eq!(
            format!("{:#x}", tx.hash),
            some(raw_tx["hash"].as_str(), "hash")
        );
        assert_eq!(
            format!("{:#x}", tx.from),
            some(raw_tx["from"].as_str(), "from").to_lowercase()
        );
        assert_eq!(
            tx.to.map(|a| format!("{a:#x}")),
            raw_tx["to"].as_str().map(str::to_lowercase),
            "tx {i}"
        );
        assert_eq!(tx.value, hex(raw_tx, "value"), "tx {i}");
        assert_eq!(tx.gas_limit, hex64(raw_tx, "gas"), "tx {i}");
        let gas_price = hex(raw_tx, "gasPrice");
        assert_eq!(tx.effective_gas_price, gas_price, "tx {i}");
        let dynamic = tx_type >= 2;
        assert_eq!(
            tx.max_fee_per_gas,
            dynamic.then(|| hex(raw_tx, "maxFeePerGas")),
            "tx {i}"
        );
        assert_eq!(
            tx.max_priority_fee_per_gas,
            dynamic.then(|| hex(raw_tx, "maxPriorityFeePerGas")),
            "tx {i}"
        );
        let raw_blobs = raw_tx
            .get("blobVersionedHashes")
            .and_then(Value::as_array)
            .map_or(0, Vec::len) as u64;
        assert_eq!(u64::from(tx.blob_count), raw_blobs, "tx {i}");
        assert_eq!(
            tx.max_fee_per_blob_gas,
            (tx_type == 3).then(|| hex(raw_tx, "maxFeePerBlobGas")),
            "tx {i}"
        );
        blobs += raw_blobs;
        // no receipts: placeholders
        assert_eq!(tx.gas_used, 0);
        assert!(tx.success);
        raw_tips.push(gas_price.saturating_sub(base_fee));
    }
    assert_eq!(by_type, BTreeMap::from([(0, 46), (2, 136), (3, 3), (4, 2)]));
    assert_eq!(blobs, 7);
    assert_eq!(blobs * GAS_PER_BLOB, block.blob_gas_used);
    let model_blobs: u64 = block
        .transactions
        .iter()
        .map(|tx| u64::from(tx.blob_count))
        .sum();
    assert_eq!(model_blobs, 7);

    // effective tips
    raw_tips.sort_unstable();
    let mut tips: Vec<u128> = block
        .transactions
        .iter()
        .map(|tx| tx.effective_tip(block.base_fee_per_gas))
        .collect();
    tips.sort_unstable();
    assert_eq!(tips, raw_tips);
    assert_eq!(tips[0], 0);
    let p50 = percentile(&tips, 50);
    let p90 = percentile(&tips, 90);
    assert_eq!(p50, percentile_by_definition(&raw_tips, 50));
    assert_eq!(p90, percentile_by_definition(&raw_tips, 90));
    // README: median tip 0.1 gwei, maximum 85.6 gwei
    assert_eq!(p50, 100_000_000);
    assert_eq!(
        percentile(&tips, 100),
        some(raw_tips.last().copied(), "max")
    );
    assert_eq!(percentile(&tips, 100) / 100_000_000, 856);
}

/// A successful receipt for each transaction of the raw block, in order, with one log each.
fn receipts_for(raw: &Value) -> Vec<TransactionReceipt> {
    let block_hash = some(raw["hash"].as_str(), "hash");
    let block_number = some(raw["number"].as_str(), "number");
    let raw_txs = some(raw["transactions"].as_array(), "transactions");
    raw_txs
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            let json = serde_json::json!({
                "type": tx["type"],
                "status": if i % 10 == 3 { "0x0" } else { "0x1" },
                "cumulativeGasUsed": format!("{:#x}", 21_000 * (i + 1)),
                "logs": [{
                    "address": "0xdac17f958d2ee523a2206206994597c13d831ec7",
                    "topics": [format!("0x{:064x}", i)],
                    "data": "0x01ff",
                    "blockHash": block_hash,
                    "blockNumber": block_number,
                    "transactionHash": tx["hash"],
                    "transactionIndex": tx["transactionIndex"],
                    "logIndex": format!("{i:#x}"),
                    "removed": false
                }],
                "logsBloom": format!("0x{}", "0".repeat(512)),
                "transactionHash": tx["hash"],
                "transactionIndex": tx["transactionIndex"],
                "blockHash": block_hash,
                "blockNumber": block_number,
                "gasUsed": "0x5208",
                "effectiveGasPrice": tx["gasPrice"],
                "from": tx["from"],
                "to": tx["to"],
                "contractAddress": null
            });
            ok(serde_json::from_value(json), &format!("receipt {i}"))
        })
        .collect()
}

#[test]
fn block_23724257_converts_with_receipts() {
    let raw = raw_block();
    let rpc = rpc_block(&raw);
    let receipts = receipts_for(&raw);
    let block = ok(
        block_from_rpc(1, &rpc, Some(&receipts), Some(&BlobParams::PRAGUE)),
        "convert with receipts",
    );
    assert_eq!(block.transactions.len(), 187);
    assert_eq!(block.logs.len(), 187);
    for (i, (tx, log)) in block.transactions.iter().zip(&block.logs).enumerate() {
        assert_eq!(tx.gas_used, 21_000);
        assert_eq!(tx.success, i % 10 != 3, "tx {i}");
        assert_eq!(log.tx_index as usize, i);
        assert_eq!(log.log_index as usize, i);
        assert_eq!(log.tx_hash, tx.hash);
        assert_eq!(log.data, vec![0x01, 0xff]);
        assert_eq!(log.topics.len(), 1);
    }
}

#[test]
fn receipt_count_mismatch_is_an_error() {
    let raw = raw_block();
    let rpc = rpc_block(&raw);
    let mut receipts = receipts_for(&raw);
    receipts.pop();
    match block_from_rpc(1, &rpc, Some(&receipts), None) {
        Err(e @ SourceError::ReceiptMismatch { tx: None, .. }) => {
            let message = e.to_string();
            assert!(message.contains("23724257"), "{message}");
            assert!(
                message.contains("186 receipts for 187 transactions"),
                "{message}"
            );
        }
        other => panic!("expected a receipt count mismatch, got {other:?}"),
    }
    match block_from_rpc(1, &rpc, Some(&[]), None) {
        Err(SourceError::ReceiptMismatch { tx: None, .. }) => {}
        other => panic!("expected a receipt count mismatch, got {other:?}"),
    }
}

#[test]
fn receipt_for_another_transaction_is_an_error() {
    let raw = raw_block();
    let rpc = rpc_block(&raw);
    let mut receipts = receipts_for(&raw);
    receipts.swap(5, 6);
    let expected = rpc.transactions.hashes().nth(5);
    match block_from_rpc(1, &rpc, Some(&receipts), None) {
        Err(e @ SourceError::ReceiptMismatch { tx: Some(_), .. }) => {
            let SourceError::ReceiptMismatch { tx, .. } = &e else {
                unreachable!("matched above")
            };
            assert_eq!(*tx, expected);
            let message = e.to_string();
            assert!(message.contains("23724257"), "{message}");
            assert!(
                message.contains(&format!("{:#x}", some(expected, "tx 5"))),
                "{message}"
            );
        }
        other => panic!("expected a receipt hash mismatch, got {other:?}"),
    }
}

#[test]
fn hashes_only_block_is_an_error() {
    let mut raw = raw_block();
    let hashes: Vec<Value> = some(raw["transactions"].as_array(), "transactions")
        .iter()
        .map(|tx| tx["hash"].clone())
        .collect();
    raw["transactions"] = Value::Array(hashes);
    let rpc = rpc_block(&raw);
    match block_from_rpc(1, &rpc, None, None) {
        Err(e @ SourceError::Invalid { .. }) => {
            assert!(e.to_string().contains("full transactions"), "{e}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}
