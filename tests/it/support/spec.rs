//! Outputs defined only in the tests, whose tables come from their specs: one with a column
//! of every type and one per kind of position, and batches of the first one that change and
//! delete keys.

use std::collections::BTreeMap;
use std::sync::Arc;

use chainflow::engine::dataflow::{Column, ColumnType as T, OutputSpec, Position, Value};
use chainflow::engine::sink::OutputBatch;
use chainflow::model::{Address, B256, U256};

const ALL_TYPES_COLUMNS: &[Column] = &[
    Column::new("chain_id", T::U64, "chain id"),
    Column::new("block_number", T::U64, "block height"),
    Column::new("block_hash", T::Hash, "block hash"),
    Column::new("miner", T::Address, "fee recipient"),
    Column::new("mined_at", T::Timestamp, "block time"),
    Column::new("fee", T::Wei, "an amount of wei"),
    Column::new("supply", T::U256, "a uint256"),
    Column::new("note", T::Text, "free text"),
];

/// A column of every type, a key of two columns, positioned by block.
pub const ALL_TYPES: OutputSpec = OutputSpec {
    name: "spec_all_types",
    doc: "one row per block, a column of every type",
    columns: ALL_TYPES_COLUMNS,
    key: &["chain_id", "block_number"],
    position: Position::Block("block_number"),
};

const MINUTES_COLUMNS: &[Column] = &[
    Column::new("chain_id", T::U64, "chain id"),
    Column::new("minute", T::Timestamp, "start of the UTC minute"),
    Column::new("total", T::Wei, "sum"),
];

/// Time buckets of a minute in a `Timestamp` column.
pub const MINUTES: OutputSpec = OutputSpec {
    name: "spec_minutes",
    doc: "per chain and minute",
    columns: MINUTES_COLUMNS,
    key: &["chain_id", "minute"],
    position: Position::TimeBucket("minute", 60),
};

const DAYS_COLUMNS: &[Column] = &[
    Column::new("chain_id", T::U64, "chain id"),
    Column::new("day", T::U64, "start of the UTC day, unix seconds"),
    Column::new("blocks", T::U64, "blocks"),
];

/// Time buckets of a day in a `U64` column (unix seconds).
pub const DAYS: OutputSpec = OutputSpec {
    name: "spec_days",
    doc: "per chain and day",
    columns: DAYS_COLUMNS,
    key: &["chain_id", "day"],
    position: Position::TimeBucket("day", 86_400),
};

const TOTALS_COLUMNS: &[Column] = &[
    Column::new("chain_id", T::U64, "chain id"),
    Column::new("holder", T::Address, "holder"),
    Column::new("balance", T::U256, "running balance"),
];

/// A running total: no position column.
pub const TOTALS: OutputSpec = OutputSpec {
    name: "spec_totals",
    doc: "per holder since the run began",
    columns: TOTALS_COLUMNS,
    key: &["chain_id", "holder"],
    position: Position::Whole,
};

const SEEN_COLUMNS: &[Column] = &[
    Column::new("seen", T::U64, "epoch"),
    Column::new("tip", T::Hash, "tip hash"),
];

/// An append-only log without a chain id.
pub const SEEN: OutputSpec = OutputSpec {
    name: "spec_seen",
    doc: "facts about ingestion",
    columns: SEEN_COLUMNS,
    key: &["seen", "tip"],
    position: Position::Log,
};

/// Every test output, [`ALL_TYPES`] first.
pub fn test_specs() -> Vec<OutputSpec> {
    vec![ALL_TYPES, MINUTES, DAYS, TOTALS, SEEN]
}

/// Every registered dataflow's outputs.
pub fn registered() -> Vec<OutputSpec> {
    chainflow::dataflows::registry()
        .iter()
        .flat_map(|d| d.outputs())
        .collect()
}

/// A U256 above 2^128 (no u128 holds it).
pub fn big() -> U256 {
    (U256::from(1u8) << 200) + U256::from(12_345u64)
}

/// A row of [`ALL_TYPES`] for block `n`.
pub fn all_types_row(n: u64, fee: u128, supply: U256, note: &str) -> Vec<Value> {
    vec![
        Value::U64(1),
        Value::U64(n),
        Value::Hash(B256::with_last_byte(n as u8)),
        Value::Address(Address::with_last_byte(0xa0 + n as u8)),
        Value::U64(1_700_000_000 + 12 * n),
        Value::Wei(fee),
        Value::U256(supply),
        Value::Text(note.to_string()),
    ]
}

fn batch(lower: u64, mut updates: Vec<(Vec<Value>, u64, isize)>) -> OutputBatch {
    // By epoch, retractions first, then by row.
    updates.sort_by(|a, b| (a.1, a.2, &a.0).cmp(&(b.1, b.2, &b.0)));
    OutputBatch {
        output: ALL_TYPES,
        lower,
        upper: lower + 1,
        updates,
        finalized: Arc::new(BTreeMap::from([(1, 0)])),
        caught_up: true,
        errors: Vec::new(),
    }
}

/// Two batches of [`ALL_TYPES`]: blocks 1, 2 and 3 at epoch 1; at epoch 2 block 1 changes
/// (its supply above 2^128) and block 2 is retracted. Returns them with the rows current
/// after both: blocks 1 (changed) and 3.
pub fn all_types_batches() -> (Vec<OutputBatch>, BTreeMap<Vec<Value>, isize>) {
    let one = all_types_row(1, 7, U256::from(5u8), "first");
    let two = all_types_row(2, u128::MAX, U256::MAX, "second, with a comma");
    let three = all_types_row(3, 0, U256::ZERO, "");
    let one_changed = all_types_row(1, 8, big(), "first, changed");
    let batches = vec![
        batch(
            1,
            vec![
                (one.clone(), 1, 1),
                (two.clone(), 1, 1),
                (three.clone(), 1, 1),
            ],
        ),
        batch(
            2,
            vec![(one, 2, -1), (one_changed.clone(), 2, 1), (two, 2, -1)],
        ),
    ];
    let current = BTreeMap::from([(one_changed, 1), (three, 1)]);
    (batches, current)
}
