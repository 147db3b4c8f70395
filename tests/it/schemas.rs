//! The NATS wire schemas in `schemas/`: chain events and output changes as chainflow encodes
//! them validate against `chain_event.v1.json` and `output_change.v1.json`, the schemas
//! reject what chainflow never sends, and the examples are exactly what chainflow emits.
//!
//! The files in `schemas/examples/` are generated here: `CHAINFLOW_WRITE_EXAMPLES=1 cargo
//! test --test it schemas::examples_are_what_chainflow_emits` rewrites them from the
//! encoders; without the variable that test checks the files still equal their output.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::keccak256;
use chainflow::dataflows::gas_fees::{BLOCKS, DAYS, GasFees, HOURS, MINUTES};
use chainflow::engine::{self, EngineSettings, RunControl};
use chainflow::model::{Address, B256, Block, ChainEvent, Log, Tx};
use chainflow::sinks::OutputBatch;
use chainflow::sinks::jsonl::encode_row;
use chainflow::sinks::memory::MemorySink;
use chainflow::sinks::nats::{changes, encode_change, msg_id};
use chainflow::sources::SourceEvent;
use chainflow::sources::devnet::{Devnet, DevnetConfig};
use chainflow::sources::nats::wire::{CONTENT_TYPE_JSON, ChainEventV1, Format};
use jsonschema::Validator;
use serde_json::{Value as Json, json};

/// Directory of the schemas.
const SCHEMAS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/");
const CHAIN_EVENT: &str = "chain_event.v1.json";
const OUTPUT_CHANGE: &str = "output_change.v1.json";
/// 2026-01-01 00:00:00 UTC.
const MIDNIGHT: u64 = 1_767_225_600;

fn read_json(path: &str) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The validator of schema `name`, after checking the schema against the 2020-12 meta-schema.
fn validator(name: &str) -> Validator {
    let schema = read_json(&format!("{SCHEMAS}{name}"));
    if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
        panic!("{name} is not a valid 2020-12 schema: {e}");
    }
    assert_eq!(
        schema["$id"],
        json!(format!("https://chainflow.dev/schemas/{name}")),
        "$id of {name}"
    );
    jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn errors(validator: &Validator, instance: &Json) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect()
}

fn assert_valid(validator: &Validator, instance: &Json, what: &str) {
    let errors = errors(validator, instance);
    assert!(
        errors.is_empty(),
        "{what} does not validate: {errors:#?}\n{instance}"
    );
}

fn parse(bytes: &[u8]) -> Json {
    serde_json::from_slice(bytes).unwrap()
}

// ---------------------------------------------------------------------------------------
// The examples: a mainnet-like block with one EIP-1559 USDC transfer and its Transfer log,
// committed, reorged to a sibling and reverted; the gas_fees_minutes changes they cause.

const EXAMPLE_NUMBER: u64 = 24_000_000;
/// 2026-01-01 00:00:11 UTC, a mainnet slot.
const EXAMPLE_TIMESTAMP: u64 = MIDNIGHT + 11;
const EXAMPLE_FINALIZED: u64 = EXAMPLE_NUMBER - 70;

fn address(hex: &str) -> Address {
    hex.parse().unwrap()
}

/// An address as a 32-byte log topic.
fn topic(a: Address) -> B256 {
    let mut bytes = [0u8; 32];
    bytes[12..].copy_from_slice(a.as_slice());
    B256::from(bytes)
}

/// Block `EXAMPLE_NUMBER` of branch `branch`: one USDC transfer of `amount` (6 decimals)
/// paying a tip of `tip` wei per gas.
fn example_block(branch: &str, miner: Address, tip: u128, amount: u128) -> Block {
    let base_fee: u128 = 2_381_514_712;
    let usdc = address("0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48");
    let from = address("0x4838b106fce9647bdf1e7877bf73ce8b0bad5f97");
    let to = address("0x28c6c06298d514db089934071355e5743bf21d60");
    let tx_hash = keccak256(format!("example transfer on branch {branch}"));
    let mut data = vec![0u8; 16];
    data.extend_from_slice(&amount.to_be_bytes());
    Block {
        chain_id: 1,
        number: EXAMPLE_NUMBER,
        hash: keccak256(format!("example block {EXAMPLE_NUMBER} on branch {branch}")),
        parent_hash: keccak256(format!("example block {}", EXAMPLE_NUMBER - 1)),
        timestamp: EXAMPLE_TIMESTAMP,
        miner,
        gas_used: 45_059,
        gas_limit: 45_000_000,
        base_fee_per_gas: base_fee,
        blob_gas_used: 0,
        excess_blob_gas: 0,
        blob_base_fee: 1,
        transactions: vec![Tx {
            hash: tx_hash,
            index: 0,
            tx_type: 2,
            from,
            to: Some(usdc),
            value: 0,
            gas_limit: 63_209,
            gas_used: 45_059,
            effective_gas_price: base_fee + tip,
            max_fee_per_gas: Some(2 * base_fee + tip),
            max_priority_fee_per_gas: Some(tip),
            max_fee_per_blob_gas: None,
            blob_count: 0,
            success: true,
        }],
        logs: vec![Log {
            tx_index: 0,
            log_index: 0,
            tx_hash,
            address: usdc,
            topics: vec![
                // keccak256("Transfer(address,address,uint256)")
                keccak256("Transfer(address,address,uint256)"),
                topic(from),
                topic(to),
            ],
            data,
        }],
    }
}

/// The three example events, in order: block A committed, A reorged to its sibling B, B
/// reverted.
fn example_events() -> Vec<(&'static str, ChainEventV1)> {
    let a = example_block(
        "a",
        address("0x95222290dd7278aa3ddd389cc1e1d165cc4bafe5"),
        1_000_000_000,
        1_500_000_000,
    );
    let b = example_block(
        "b",
        address("0x4675c7e5baafbffbca748158becba61ef3b0a263"),
        2_500_000_000,
        250_000_000,
    );
    let at = |event| ChainEventV1::from_event(1, event, Some(EXAMPLE_FINALIZED));
    vec![
        (
            "committed",
            at(ChainEvent::Committed {
                new: vec![a.clone()],
            }),
        ),
        (
            "reorged",
            at(ChainEvent::Reorged {
                old: vec![a],
                new: vec![b.clone()],
            }),
        ),
        ("reverted", at(ChainEvent::Reverted { old: vec![b] })),
    ]
}

/// The engine's output batches over `events`, one block per epoch from epoch 1.
fn run_engine(events: Vec<SourceEvent>) -> Vec<OutputBatch> {
    let memory = MemorySink::new();
    engine::run(
        &EngineSettings::default(),
        timely::Config::thread(),
        vec![&GasFees],
        events.into_iter().map(Ok),
        vec![Box::new(memory.clone())],
        &RunControl::default(),
    )
    .unwrap();
    memory.batches()
}

/// Every egress message of `batches`, as the egress sink encodes it. Their `Nats-Msg-Id`s are
/// unique: JetStream would drop a second message with the id of the first.
fn egress_messages(batches: &[OutputBatch]) -> Vec<Json> {
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    for batch in batches {
        for change in changes(batch) {
            let id = msg_id(&batch.output, &change);
            assert!(ids.insert(id.clone()), "two changes with message id {id}");
            let json = parse(&encode_change(&batch.output, &change, &batch.finalized));
            assert_eq!(json["output"], json!(batch.output.name));
            let epoch = json["epoch"].as_u64().unwrap();
            assert!(batch.lower <= epoch && epoch < batch.upper);
            out.push(json);
        }
    }
    out
}

/// What a change is: insert, update or delete.
fn change_kind(change: &Json) -> &'static str {
    match (change["old"].is_null(), change["new"].is_null()) {
        (true, false) => "insert",
        (false, false) => "update",
        (false, true) => "delete",
        (true, true) => "neither",
    }
}

/// Every example file by name, generated from the encoders.
fn examples() -> Vec<(String, Json)> {
    let events = example_events();
    let mut out: Vec<(String, Json)> = events
        .iter()
        .map(|(kind, e)| {
            (
                format!("chain_event.{kind}.json"),
                parse(&e.encode(Format::Json).unwrap()),
            )
        })
        .collect();
    let source = events
        .into_iter()
        .map(|(_, e)| SourceEvent {
            finalized: e.finalized.map(|f| (e.chain_id, f)),
            event: e.into_event(),
            caught_up: true,
            epoch: None,
        })
        .collect();
    let minutes: Vec<OutputBatch> = run_engine(source)
        .into_iter()
        .filter(|b| b.output.name == MINUTES)
        .collect();
    let messages = egress_messages(&minutes);
    let kinds: Vec<&str> = messages.iter().map(change_kind).collect();
    assert_eq!(kinds, ["insert", "update", "delete"]);
    for (kind, message) in kinds.into_iter().zip(messages) {
        out.push((format!("output_change.{kind}.json"), message));
    }
    out
}

#[test]
fn examples_are_what_chainflow_emits() {
    let dir = format!("{SCHEMAS}examples/");
    let write = std::env::var_os("CHAINFLOW_WRITE_EXAMPLES").is_some();
    let examples = examples();
    assert_eq!(examples.len(), 6);
    for (name, generated) in examples {
        let path = format!("{dir}{name}");
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
            std::fs::write(&path, text).unwrap();
        }
        assert_eq!(
            read_json(&path),
            generated,
            "{name} differs from what chainflow emits (CHAINFLOW_WRITE_EXAMPLES=1 rewrites it)"
        );
    }
}

#[test]
fn every_example_validates_against_its_schema() {
    let events = validator(CHAIN_EVENT);
    let changes = validator(OUTPUT_CHANGE);
    let dir = format!("{SCHEMAS}examples/");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let example = read_json(&format!("{dir}{name}"));
        let schema = if name.starts_with("chain_event.") {
            &events
        } else if name.starts_with("output_change.") {
            &changes
        } else {
            panic!("{name}: an example of no schema");
        };
        assert_valid(schema, &example, &name);
        // An example of one schema is not an instance of the other.
        let other = if std::ptr::eq(schema, &events) {
            &changes
        } else {
            &events
        };
        assert!(!other.is_valid(&example), "{name} validates against both");
        seen.push(name);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "chain_event.committed.json",
            "chain_event.reorged.json",
            "chain_event.reverted.json",
            "output_change.delete.json",
            "output_change.insert.json",
            "output_change.update.json",
        ]
    );
}

#[test]
fn the_decoder_accepts_every_chain_event_example() {
    let dir = format!("{SCHEMAS}examples/");
    for (kind, expected) in example_events() {
        let name = format!("chain_event.{kind}.json");
        let bytes = std::fs::read(format!("{dir}{name}")).unwrap();
        // The pretty-printed file, as a producer in another language would send it.
        let decoded = ChainEventV1::decode(Some(CONTENT_TYPE_JSON), &bytes)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded, expected, "{name}");
        assert_eq!(ChainEventV1::decode(None, &bytes).unwrap(), expected);
    }
}

// ---------------------------------------------------------------------------------------
// Devnet chains through the encoders.

/// The blocks canonical after `events`.
fn canonical(events: &[SourceEvent]) -> Vec<Block> {
    let mut chain: Vec<Block> = Vec::new();
    for e in events {
        let old = e.event.old();
        let tail = chain.split_off(chain.len() - old.len());
        assert_eq!(tail, old);
        chain.extend(e.event.new_blocks().iter().cloned());
    }
    chain
}

/// A 300-block devnet chain with frequent reorgs whose 3-minute slots run from 13:30 UTC to
/// past midnight, then a revert of every block of the new day: every output gets inserts,
/// updates (same key, new row) and deletes.
fn storm_events() -> Vec<SourceEvent> {
    let config = DevnetConfig {
        seed: 6,
        block_time_ms: 0,
        max_blocks: Some(300),
        txs_per_block: 12,
        reorg_rate: 0.12,
        edge_reorg_share: 0.1,
        slot_seconds: 180,
        genesis_timestamp: MIDNIGHT - 270 * 180,
        ..DevnetConfig::default()
    };
    let finality = config.finality_depth;
    let mut events: Vec<SourceEvent> = Devnet::new(config).unwrap().map(|e| e.unwrap()).collect();
    let chain = canonical(&events);
    let tip = chain.last().unwrap();
    let day = tip.timestamp / 86_400 * 86_400;
    let cut = chain.iter().position(|b| b.timestamp >= day).unwrap();
    assert!(
        cut > 0 && (chain.len() - cut) as u64 <= finality,
        "the revert stays above the finalized blocks: cut at {cut} of {}",
        chain.len()
    );
    let finalized = events.last().unwrap().finalized;
    events.push(SourceEvent {
        event: ChainEvent::Reverted {
            old: chain[cut..].to_vec(),
        },
        finalized,
        caught_up: true,
        epoch: None,
    });
    events
}

#[test]
fn devnet_chain_events_validate_and_round_trip() {
    let schema = validator(CHAIN_EVENT);
    let events = storm_events();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut creations, mut legacy, mut blob, mut logs, mut failed) = (0, 0, 0, 0, 0);
    for (i, e) in events.iter().enumerate() {
        let (chain, finalized) = e.finalized.unwrap();
        let wire = ChainEventV1::from_event(chain, e.event.clone(), Some(finalized));
        let bytes = wire.encode(Format::Json).unwrap();
        assert_valid(&schema, &parse(&bytes), &format!("event {i}"));
        assert_eq!(
            ChainEventV1::decode(Some(CONTENT_TYPE_JSON), &bytes).unwrap(),
            wire
        );
        *kinds.entry(e.event.kind()).or_default() += 1;
        for b in e.event.old().iter().chain(e.event.new_blocks()) {
            logs += b.logs.len();
            for tx in &b.transactions {
                creations += usize::from(tx.to.is_none());
                legacy += usize::from(tx.max_fee_per_gas.is_none());
                blob += usize::from(tx.max_fee_per_blob_gas.is_some());
                failed += usize::from(!tx.success);
            }
        }
    }
    assert!(kinds["committed"] > 200, "{kinds:?}");
    assert!(kinds["reorged"] > 10, "{kinds:?}");
    assert_eq!(kinds["reverted"], 1, "{kinds:?}");
    // Every optional branch of the schema is exercised.
    for (what, n) in [
        ("contract creations", creations),
        ("legacy transactions", legacy),
        ("blob transactions", blob),
        ("logs", logs),
        ("failed transactions", failed),
    ] {
        assert!(n > 0, "no {what}");
    }
}

/// A consumer's view of the egress: per output, per key (its JSON), the epoch of the last
/// change and the row after it (`None`: deleted; the tombstone keeps older duplicates out).
type View = BTreeMap<String, BTreeMap<String, (u64, Option<Json>)>>;

/// Folds `message` into `view` as `schemas/README.md` tells a consumer to.
fn fold(view: &mut View, message: &Json) {
    let output = message["output"].as_str().unwrap().to_string();
    let key = message["key"].to_string();
    let epoch = message["epoch"].as_u64().unwrap();
    let new = Some(message["new"].clone()).filter(|n| !n.is_null());
    match view.entry(output).or_default().entry(key) {
        Entry::Vacant(v) => {
            v.insert((epoch, new));
        }
        Entry::Occupied(mut o) => {
            if epoch >= o.get().0 {
                o.insert((epoch, new));
            }
        }
    }
}

/// The live rows of `view`.
fn live(view: &View) -> BTreeMap<String, BTreeMap<String, Json>> {
    view.iter()
        .map(|(output, keys)| {
            let rows = keys
                .iter()
                .filter_map(|(k, (_, row))| row.clone().map(|r| (k.clone(), r)))
                .collect();
            (output.clone(), rows)
        })
        .collect()
}

#[test]
fn engine_output_changes_validate_and_fold_to_the_outputs() {
    let schema = validator(OUTPUT_CHANGE);
    let batches = run_engine(storm_events());
    let messages = egress_messages(&batches);
    let mut kinds: BTreeMap<(String, &str), usize> = BTreeMap::new();
    let mut view = View::new();
    for (i, m) in messages.iter().enumerate() {
        assert_valid(&schema, m, &format!("change {i}"));
        let output = m["output"].as_str().unwrap().to_string();
        *kinds.entry((output.clone(), change_kind(m))).or_default() += 1;
        // The key is the key columns of the rows, and a change starts from the row the
        // previous change of its key left.
        for row in [&m["old"], &m["new"]].into_iter().filter(|r| !r.is_null()) {
            for (column, value) in m["key"].as_object().unwrap() {
                assert_eq!(&row[column], value, "change {i}: key column {column}");
            }
        }
        let before = view
            .get(&output)
            .and_then(|keys| keys.get(&m["key"].to_string()))
            .and_then(|(_, row)| row.clone())
            .unwrap_or(Json::Null);
        assert_eq!(m["old"], before, "change {i} starts from the previous row");
        fold(&mut view, m);
    }
    for output in [BLOCKS, MINUTES, HOURS, DAYS] {
        for kind in ["insert", "update", "delete"] {
            assert!(
                kinds.get(&(output.to_string(), kind)).copied().unwrap_or(0) > 0,
                "no {kind} of {output}: {kinds:?}"
            );
        }
    }

    // The fold equals the outputs as the engine left them.
    let mut state: BTreeMap<&str, BTreeMap<Vec<_>, isize>> = BTreeMap::new();
    let mut specs = BTreeMap::new();
    for b in &batches {
        specs.insert(b.output.name, b.output);
        for (row, _, d) in &b.updates {
            *state
                .entry(b.output.name)
                .or_default()
                .entry(row.clone())
                .or_default() += d;
        }
    }
    let mut expected: BTreeMap<String, BTreeMap<String, Json>> = BTreeMap::new();
    for (name, rows) in state {
        let spec = specs[name];
        let live_rows = expected.entry(name.to_string()).or_default();
        for (row, count) in rows {
            assert!(count == 0 || count == 1, "{name}: {row:?} counted {count}");
            if count == 1 {
                let json = encode_row(&spec, &row);
                let key: serde_json::Map<String, Json> = spec
                    .key
                    .iter()
                    .map(|k| ((*k).to_string(), json[*k].clone()))
                    .collect();
                live_rows.insert(Json::Object(key).to_string(), json);
            }
        }
    }
    let folded = live(&view);
    assert_same_rows(&folded, &expected);

    // Duplicates (a redelivery, a restart's republish) in any order change nothing.
    for m in messages.iter().rev() {
        fold(&mut view, m);
    }
    assert_same_rows(&live(&view), &folded);
}

/// Asserts two sets of live rows are equal, naming the first difference.
fn assert_same_rows(
    got: &BTreeMap<String, BTreeMap<String, Json>>,
    want: &BTreeMap<String, BTreeMap<String, Json>>,
) {
    let outputs =
        |m: &BTreeMap<String, BTreeMap<String, Json>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(outputs(got), outputs(want), "outputs");
    for (output, rows) in want {
        let got_rows = &got[output];
        for (key, row) in rows {
            assert_eq!(got_rows.get(key), Some(row), "{output} {key}");
        }
        for key in got_rows.keys() {
            assert!(rows.contains_key(key), "{output} {key}: a row too many");
        }
    }
}

// ---------------------------------------------------------------------------------------
// What the schemas reject.

/// A copy of `value` changed by `change`.
fn mutated(value: &Json, change: impl FnOnce(&mut Json)) -> Json {
    let mut value = value.clone();
    change(&mut value);
    value
}

/// Removes `field` from the object `value`.
fn remove(value: &mut Json, field: &str) {
    value.as_object_mut().unwrap().remove(field);
}

#[test]
fn the_chain_event_schema_rejects_what_chainflow_never_sends() {
    let schema = validator(CHAIN_EVENT);
    let [committed, reorged, reverted]: [Json; 3] = example_events()
        .into_iter()
        .map(|(_, e)| parse(&e.encode(Format::Json).unwrap()))
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    for e in [&committed, &reorged, &reverted] {
        assert_valid(&schema, e, "an example event");
    }
    let hash63 = format!("0x{}", "a".repeat(63));
    // (what, event, whether the decoder rejects it as well: where it does not, the decoder
    // is more lenient than the schema, which states what producers must send)
    let cases: Vec<(&str, Json, bool)> = vec![
        (
            "a wei amount as a JSON number above 2^53",
            mutated(&committed, |e| {
                e["new"][0]["base_fee_per_gas"] = json!(9_007_199_254_740_993u64)
            }),
            false,
        ),
        (
            "a wei amount as a small JSON number",
            mutated(&committed, |e| {
                e["new"][0]["transactions"][0]["value"] = json!(0)
            }),
            false,
        ),
        (
            "a wei amount above u64 as a JSON number",
            mutated(&committed, |e| {
                e["new"][0]["transactions"][0]["value"] = json!(1e20)
            }),
            true,
        ),
        (
            "a negative wei string",
            mutated(&committed, |e| e["new"][0]["blob_base_fee"] = json!("-1")),
            true,
        ),
        (
            "a wei string with leading zeros",
            mutated(&committed, |e| e["new"][0]["blob_base_fee"] = json!("007")),
            false,
        ),
        (
            "a wei string in hex",
            mutated(&committed, |e| e["new"][0]["blob_base_fee"] = json!("0x1")),
            true,
        ),
        (
            "an optional wei amount missing",
            mutated(&committed, |e| {
                remove(&mut e["new"][0]["transactions"][0], "max_fee_per_gas")
            }),
            true,
        ),
        (
            "a hash with 63 hex digits",
            mutated(&committed, |e| e["new"][0]["hash"] = json!(hash63)),
            true,
        ),
        (
            "a hash without 0x",
            mutated(&committed, |e| {
                let h = e["new"][0]["hash"].as_str().unwrap()[2..].to_string();
                e["new"][0]["hash"] = json!(h);
            }),
            false,
        ),
        (
            "an address with 39 hex digits",
            mutated(&committed, |e| {
                e["new"][0]["miner"] = json!(format!("0x{}", "1".repeat(39)))
            }),
            true,
        ),
        (
            "log data of odd length",
            mutated(&committed, |e| {
                e["new"][0]["logs"][0]["data"] = json!("0xabc")
            }),
            true,
        ),
        (
            "log data without 0x",
            mutated(&committed, |e| {
                e["new"][0]["logs"][0]["data"] = json!("dead")
            }),
            false,
        ),
        (
            "five log topics",
            mutated(&committed, |e| {
                let topics = e["new"][0]["logs"][0]["topics"].as_array_mut().unwrap();
                topics.extend([topics[0].clone(), topics[1].clone()]);
                assert_eq!(topics.len(), 5);
            }),
            false,
        ),
        (
            "a transaction type above 255",
            mutated(&committed, |e| {
                e["new"][0]["transactions"][0]["tx_type"] = json!(256)
            }),
            true,
        ),
        (
            "a missing block field",
            mutated(&committed, |e| remove(&mut e["new"][0], "timestamp")),
            true,
        ),
        (
            "an unknown block field",
            mutated(&committed, |e| e["new"][0]["withdrawals"] = json!([])),
            false,
        ),
        (
            "an unknown transaction field",
            mutated(&committed, |e| {
                e["new"][0]["transactions"][0]["nonce"] = json!(7)
            }),
            false,
        ),
        (
            "an unknown top-level field",
            mutated(&committed, |e| e["source"] = json!("rpc")),
            true,
        ),
        (
            "a missing version",
            mutated(&committed, |e| remove(e, "version")),
            true,
        ),
        (
            "version 2",
            mutated(&committed, |e| e["version"] = json!(2)),
            true,
        ),
        (
            "an unknown kind",
            mutated(&committed, |e| e["kind"] = json!("finalized")),
            true,
        ),
        (
            "a negative chain id",
            mutated(&committed, |e| e["chain_id"] = json!(-1)),
            true,
        ),
        (
            "a finalized height as a string",
            mutated(&committed, |e| e["finalized"] = json!("23999930")),
            true,
        ),
        (
            "committed with an empty new",
            mutated(&committed, |e| e["new"] = json!([])),
            true,
        ),
        (
            "committed without new",
            mutated(&committed, |e| remove(e, "new")),
            true,
        ),
        (
            "committed with old blocks",
            mutated(&committed, |e| e["old"] = e["new"].clone()),
            true,
        ),
        (
            "reorged with an empty old",
            mutated(&reorged, |e| e["old"] = json!([])),
            true,
        ),
        (
            "reorged without new",
            mutated(&reorged, |e| remove(e, "new")),
            true,
        ),
        (
            "reverted with new blocks",
            mutated(&reverted, |e| e["new"] = e["old"].clone()),
            true,
        ),
        (
            "reverted with an empty old",
            mutated(&reverted, |e| e["old"] = json!([])),
            true,
        ),
    ];
    for (what, event, decoder_rejects) in cases {
        assert!(
            !schema.is_valid(&event),
            "the schema accepts {what}: {event}"
        );
        let decoded = ChainEventV1::decode(Some(CONTENT_TYPE_JSON), event.to_string().as_bytes());
        assert_eq!(
            decoded.is_err(),
            decoder_rejects,
            "the decoder on {what}: {:?}",
            decoded.err()
        );
    }

    // What the schema allows beyond chainflow's own output, and the decoder reads.
    let accepted = [
        (
            "old, new and finalized absent where empty or unknown",
            mutated(&committed, |e| {
                remove(e, "old");
                remove(e, "finalized");
            }),
        ),
        (
            "reverted without new",
            mutated(&reverted, |e| remove(e, "new")),
        ),
        (
            "a null finalized height",
            mutated(&reorged, |e| e["finalized"] = Json::Null),
        ),
        (
            "an EIP-55 checksummed address",
            mutated(&committed, |e| {
                e["new"][0]["transactions"][0]["to"] =
                    json!("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")
            }),
        ),
        (
            "a contract creation",
            mutated(&committed, |e| {
                e["new"][0]["transactions"][0]["to"] = Json::Null
            }),
        ),
        (
            "empty log data",
            mutated(&committed, |e| e["new"][0]["logs"][0]["data"] = json!("0x")),
        ),
        (
            "the largest wei amount",
            mutated(&committed, |e| {
                e["new"][0]["transactions"][0]["value"] = json!(u128::MAX.to_string())
            }),
        ),
    ];
    for (what, event) in accepted {
        assert_valid(&schema, &event, what);
        let decoded = ChainEventV1::decode(Some(CONTENT_TYPE_JSON), event.to_string().as_bytes());
        assert!(decoded.is_ok(), "the decoder on {what}: {decoded:?}");
    }
}

#[test]
fn the_output_change_schema_rejects_what_chainflow_never_sends() {
    let schema = validator(OUTPUT_CHANGE);
    let update = read_json(&format!("{SCHEMAS}examples/output_change.update.json"));
    assert_valid(&schema, &update, "the update example");
    let cases: Vec<(&str, Json)> = vec![
        (
            "neither old nor new",
            mutated(&update, |c| {
                c["old"] = Json::Null;
                c["new"] = Json::Null;
            }),
        ),
        ("a missing old", mutated(&update, |c| remove(c, "old"))),
        ("a missing key", mutated(&update, |c| remove(c, "key"))),
        ("an empty key", mutated(&update, |c| c["key"] = json!({}))),
        (
            "an unknown field",
            mutated(&update, |c| c["diff"] = json!(1)),
        ),
        ("version 2", mutated(&update, |c| c["version"] = json!(2))),
        (
            "a negative epoch",
            mutated(&update, |c| c["epoch"] = json!(-1)),
        ),
        (
            "a fractional epoch",
            mutated(&update, |c| c["epoch"] = json!(1.5)),
        ),
        (
            "an epoch as a string",
            mutated(&update, |c| c["epoch"] = json!("1")),
        ),
        (
            "a chain name as a finalized key",
            mutated(&update, |c| c["finalized"] = json!({"mainnet": 5})),
        ),
        (
            "a chain id with a leading zero",
            mutated(&update, |c| c["finalized"] = json!({"01": 5})),
        ),
        (
            "a finalized height as a string",
            mutated(&update, |c| c["finalized"] = json!({"1": "5"})),
        ),
        (
            "a null row value",
            mutated(&update, |c| c["new"]["blocks"] = Json::Null),
        ),
        (
            "a fractional row value",
            mutated(&update, |c| c["new"]["blocks"] = json!(1.5)),
        ),
        (
            "a negative row value",
            mutated(&update, |c| c["new"]["blocks"] = json!(-1)),
        ),
        (
            "a boolean row value",
            mutated(&update, |c| c["new"]["blocks"] = json!(true)),
        ),
        ("an empty row", mutated(&update, |c| c["new"] = json!({}))),
        (
            "a row that is an array",
            mutated(&update, |c| c["old"] = json!([1, 2])),
        ),
        (
            "an output name with a dot (not a subject token)",
            mutated(&update, |c| c["output"] = json!("gas.fees")),
        ),
    ];
    for (what, change) in cases {
        assert!(
            !schema.is_valid(&change),
            "the schema accepts {what}: {change}"
        );
    }
    for (what, change) in [
        (
            "no finalized height yet",
            mutated(&update, |c| c["finalized"] = json!({})),
        ),
        (
            "several chains",
            mutated(&update, |c| c["finalized"] = json!({"1": 5, "8453": 7})),
        ),
        (
            "a text value",
            mutated(&update, |c| c["new"]["label"] = json!("any text")),
        ),
    ] {
        assert_valid(&schema, &change, what);
    }
}
