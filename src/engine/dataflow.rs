//! The contract between analysts' dataflows and the engine.
//!
//! A [`Dataflow`] gets typed input collections ([`Inputs`]) and returns named output
//! collections ([`Output`]) whose rows implement [`Row`]: the row type knows its columns and
//! its key, which is all a sink needs to create and fill a table. Dataflows contain no I/O,
//! no clock and no reorg logic: an orphaned block arrives as a `-1` diff of the very record
//! that entered with `+1`.

pub use chainflow_macros::Row;
use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};

use crate::model::{Address, B256, Block, Diff, Epoch, Log, Reorg, Tx, U256};

/// A collection of the engine: records of type `D` at [`Epoch`]s with [`Diff`]s.
pub type Collection<'s, D> = VecCollection<'s, Epoch, D, Diff>;

/// The type of a column, as sinks map it to their own types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ColumnType {
    /// Unsigned 64-bit integer.
    U64,
    /// An amount of wei (unsigned, exact, up to 128 bits).
    Wei,
    /// An unsigned 256-bit integer, exact (a `uint256` of the EVM, such as a token amount).
    U256,
    /// A 32-byte hash, `0x`-hex in text formats.
    Hash,
    /// A 20-byte address, `0x`-hex in text formats.
    Address,
    /// Unix time in seconds (UTC).
    Timestamp,
    /// UTF-8 text.
    Text,
}

impl ColumnType {
    /// Lowercase name used by `chainflow list`.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::U64 => "u64",
            ColumnType::Wei => "wei(u128)",
            ColumnType::U256 => "u256",
            ColumnType::Hash => "hash",
            ColumnType::Address => "address",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Text => "text",
        }
    }
}

/// One column of an output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// Column name (snake_case, also the sink column name).
    pub name: &'static str,
    /// Column type.
    pub ty: ColumnType,
    /// One line saying what the column holds.
    pub doc: &'static str,
}

impl Column {
    /// A column description.
    pub const fn new(name: &'static str, ty: ColumnType, doc: &'static str) -> Self {
        Column { name, ty, doc }
    }
}

/// A value of a column, in the type-erased form sinks encode.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Value {
    /// A `U64` or `Timestamp` column.
    U64(u64),
    /// A `Wei` column.
    Wei(u128),
    /// A `U256` column.
    U256(U256),
    /// A `Hash` column.
    Hash(B256),
    /// An `Address` column.
    Address(Address),
    /// A `Text` column.
    Text(String),
}

/// Where the rows of an output sit on their chain: which blocks a row derives from. A restart
/// that rebuilds the dataflows from a block uses it to know which stored rows the rebuild
/// reproduces (see [`crate::sinks::reconcile`]). Rows of several chains are told apart by
/// their `chain_id` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// A row derives from the one block whose number is in the column.
    Block(&'static str),
    /// A row derives from the blocks whose timestamp falls in the bucket of `secs` seconds
    /// that starts at the column's value (unix seconds, a multiple of `secs`).
    TimeBucket(&'static str, u64),
    /// A row may derive from any block since the run began (a running total): a restart
    /// rebuilds it from the run's first block, so such a run needs `chains[].start_block`.
    Whole,
    /// A row records a fact about ingestion (such as a reorg seen, [`Inputs::reorgs`]): the
    /// output is append-only, a restart neither rebuilds nor removes its rows.
    Log,
}

impl Position {
    /// The column holding the position (`None` for [`Position::Whole`]).
    pub fn column(self) -> Option<&'static str> {
        match self {
            Position::Block(c) | Position::TimeBucket(c, _) => Some(c),
            Position::Whole | Position::Log => None,
        }
    }
}

/// A row of an output: its columns and key are known statically.
pub trait Row:
    Clone + Ord + std::fmt::Debug + Serialize + for<'de> Deserialize<'de> + Send + 'static
{
    /// The columns, in order.
    const COLUMNS: &'static [Column];
    /// The names of the key columns: at most one row per key is current at any epoch.
    const KEY: &'static [&'static str];
    /// Which blocks a row derives from.
    const POSITION: Position;
    /// The values of the columns, in the order of [`Row::COLUMNS`].
    fn values(&self) -> Vec<Value>;
}

/// The static description of an output: name, columns and key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// Output name, also the default table name.
    pub name: &'static str,
    /// One line saying what a row is.
    pub doc: &'static str,
    /// Columns in order.
    pub columns: &'static [Column],
    /// Key column names.
    pub key: &'static [&'static str],
    /// Which blocks a row derives from.
    pub position: Position,
}

impl OutputSpec {
    /// The spec of an output named `name` whose rows are `R`.
    pub const fn of<R: Row>(name: &'static str, doc: &'static str) -> Self {
        OutputSpec {
            name,
            doc,
            columns: R::COLUMNS,
            key: R::KEY,
            position: R::POSITION,
        }
    }
}

/// A row with its values in column order: what leaves a dataflow.
pub type RowValues = Vec<Value>;

/// An output of a dataflow, typed by its row: declared once (a `const`), listed by
/// [`Dataflow::outputs`] through [`OutputDef::spec`] and filled in [`Dataflow::build`]
/// through [`OutputDef::rows`], which takes only a collection of its row type.
///
/// ```
/// # use chainflow::engine::dataflow::{OutputDef, Row};
/// # use serde::{Deserialize, Serialize};
/// #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Row)]
/// #[row(position = block(block_number))]
/// pub struct Gas {
///     /// Chain id.
///     #[row(key)]
///     pub chain_id: u64,
///     /// Block number.
///     #[row(key)]
///     pub block_number: u64,
///     /// Gas used.
///     pub gas_used: u64,
/// }
/// pub const GAS: OutputDef<Gas> = OutputDef::new("gas", "gas used per block");
/// assert_eq!(GAS.spec().key, &["chain_id", "block_number"]);
/// ```
pub struct OutputDef<R> {
    spec: OutputSpec,
    row: std::marker::PhantomData<fn() -> R>,
}

impl<R: Row> OutputDef<R> {
    /// The output named `name` (also its table's name) whose rows are `R`; `doc` says what a
    /// row is.
    pub const fn new(name: &'static str, doc: &'static str) -> Self {
        OutputDef {
            spec: OutputSpec::of::<R>(name, doc),
            row: std::marker::PhantomData,
        }
    }

    /// The same output with another position than `R`'s (a row type shared by outputs of
    /// several bucket widths).
    pub const fn at(self, position: Position) -> Self {
        let mut spec = self.spec;
        spec.position = position;
        OutputDef {
            spec,
            row: std::marker::PhantomData,
        }
    }

    /// Its description, for [`Dataflow::outputs`].
    pub const fn spec(&self) -> OutputSpec {
        self.spec
    }

    /// The output whose rows are `rows`.
    pub fn rows<'s>(&self, rows: Collection<'s, R>) -> Output<'s> {
        Output::new(self.spec, rows)
    }

    /// The output whose rows are `row` of each record of `records`, in one operator.
    pub fn mapped<'s, D, F>(&self, records: Collection<'s, D>, row: F) -> Output<'s>
    where
        D: Clone + 'static,
        F: Fn(D) -> R + 'static,
    {
        Output::mapped(self.spec, records, row)
    }
}

impl<R> Clone for OutputDef<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for OutputDef<R> {}

/// A built output: its spec and the collection of its rows.
pub struct Output<'s> {
    /// What the output is.
    pub spec: OutputSpec,
    /// The rows, type-erased to their values.
    pub rows: Collection<'s, RowValues>,
    /// The columns of the row type the rows were made of (checked against `spec` when the
    /// dataflow is registered).
    pub row_columns: &'static [Column],
}

impl<'s> Output<'s> {
    /// Wraps a typed collection of rows as the output described by `spec`.
    pub fn new<R: Row>(spec: OutputSpec, rows: Collection<'s, R>) -> Self {
        Output {
            spec,
            rows: rows.map(|r| r.values()),
            row_columns: R::COLUMNS,
        }
    }

    /// The output described by `spec` whose rows are `row` of each record of `records`: the
    /// same as [`Output::new`] of `records.map(row)`, in one operator instead of two. Every
    /// operator costs a little at every epoch, which shows at one block per epoch.
    pub fn mapped<D, R, F>(spec: OutputSpec, records: Collection<'s, D>, row: F) -> Self
    where
        D: Clone + 'static,
        R: Row,
        F: Fn(D) -> R + 'static,
    {
        Output {
            spec,
            rows: records.map(move |d| row(d).values()),
            row_columns: R::COLUMNS,
        }
    }
}

/// The input collections a dataflow may use. Collections derived here are built only when a
/// dataflow asks for them.
pub struct Inputs<'s> {
    blocks: Collection<'s, Block>,
    seals: Collection<'s, super::seal::Seal>,
    reorgs: Collection<'s, Reorg>,
}

impl<'s> Inputs<'s> {
    /// Wraps the engine's block collection, its seals (see [`Inputs::sealed`]) and the
    /// reorgs applied (see [`Inputs::reorgs`]).
    pub fn new(
        blocks: Collection<'s, Block>,
        seals: Collection<'s, super::seal::Seal>,
        reorgs: Collection<'s, Reorg>,
    ) -> Self {
        Inputs {
            blocks,
            seals,
            reorgs,
        }
    }

    /// Every reorg (and revert) the engine applied, each entering once with `+1` at the epoch
    /// it was applied at and never retracted: facts about ingestion, for append-only outputs
    /// ([`Position::Log`]). A restart that rebuilds from the sinks' safe block applies no
    /// reorg; a deterministic replay (NATS) applies the same ones at the same epochs.
    pub fn reorgs(&self) -> Collection<'s, Reorg> {
        self.reorgs.clone()
    }

    /// `collection` with every item taken out of the dataflow once its chain's finalized
    /// head has a timestamp at or after the item's `at` time `(chain, unix seconds)`: the
    /// state it held is freed, and the changes this makes to outputs are not written (the
    /// sinks keep the rows). Give an `at` after which no output row the item contributes to
    /// can change, such as the end of the coarsest time bucket it counts in; see
    /// `src/engine/seal.rs`. Items never sealed keep their state for the whole run.
    pub fn sealed<D, F>(&self, collection: Collection<'s, D>, at: F) -> Collection<'s, D>
    where
        D: Clone + Ord + std::fmt::Debug + 'static,
        F: Fn(&D) -> (crate::model::ChainId, u64) + 'static,
    {
        super::seal::sealed(collection, self.seals.clone(), at)
    }

    /// Canonical blocks, each with its transactions and logs.
    pub fn blocks(&self) -> Collection<'s, Block> {
        self.blocks.clone()
    }

    /// Canonical transactions with the header facts they are usually read with.
    pub fn transactions(&self) -> Collection<'s, (TxContext, Tx)> {
        self.blocks.clone().flat_map(|b| {
            let ctx = TxContext::of(&b);
            b.transactions.into_iter().map(move |tx| (ctx, tx))
        })
    }

    /// Canonical logs with the header facts they are usually read with.
    pub fn logs(&self) -> Collection<'s, (TxContext, Log)> {
        self.blocks.clone().flat_map(|b| {
            let ctx = TxContext::of(&b);
            b.logs.into_iter().map(move |log| (ctx, log))
        })
    }
}

/// The header facts of the block a transaction or log belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxContext {
    /// Chain id.
    pub chain_id: u64,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Block timestamp (unix seconds).
    pub timestamp: u64,
    /// Base fee of the block.
    pub base_fee_per_gas: u128,
}

impl TxContext {
    /// The context of `block`.
    pub fn of(block: &Block) -> Self {
        TxContext {
            chain_id: block.chain_id,
            block_number: block.number,
            block_hash: block.hash,
            timestamp: block.timestamp,
            base_fee_per_gas: block.base_fee_per_gas,
        }
    }
}

/// A dataflow's own settings: the `[dataflows.<name>]` table of the config.
pub type Settings = toml::Table;

/// Errors of a dataflow's settings: the dotted key (below `dataflows.<name>`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key 'dataflows.{dataflow}{}': {reason}", if key.is_empty() { String::new() } else { format!(".{key}") })]
pub struct SettingsError {
    /// The dataflow's name.
    pub dataflow: String,
    /// The key below `[dataflows.<name>]` (empty: the table itself).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// Parses the settings of dataflow `dataflow` into `T` (a `serde` type with defaults),
/// naming the offending key on error.
///
/// ```
/// #[derive(serde::Deserialize, Default, Debug)]
/// #[serde(deny_unknown_fields, default)]
/// struct Mine { window: u64 }
/// let table: toml::Table = "window = 5".parse().unwrap();
/// let mine: Mine = chainflow::engine::dataflow::parse_settings("mine", &table).unwrap();
/// assert_eq!(mine.window, 5);
/// let bad: toml::Table = "windw = 5".parse().unwrap();
/// let err = chainflow::engine::dataflow::parse_settings::<Mine>("mine", &bad).unwrap_err();
/// assert!(err.to_string().contains("windw"));
/// ```
pub fn parse_settings<T: serde::de::DeserializeOwned>(
    dataflow: &str,
    settings: &Settings,
) -> Result<T, SettingsError> {
    serde_path_to_error::deserialize(toml::Value::Table(settings.clone())).map_err(|e| {
        SettingsError {
            dataflow: dataflow.to_string(),
            key: e.path().to_string().trim_start_matches('.').to_string(),
            reason: e.into_inner().message().to_string(),
        }
    })
}

/// An analyst's dataflow: pure functions from input collections to output collections.
///
/// Implementations live in `dataflows/` and are listed in its explicit registry. A dataflow
/// with settings parses its own `[dataflows.<name>]` table in [`Dataflow::configure`].
pub trait Dataflow: Send + Sync {
    /// The `snake_case` name, used for the file, metrics and default table prefix.
    fn name(&self) -> &'static str;
    /// One line saying what it computes.
    fn doc(&self) -> &'static str;
    /// The outputs [`Dataflow::build`] returns, in the same order.
    fn outputs(&self) -> Vec<OutputSpec>;
    /// Builds the dataflow on `inputs` and returns its outputs.
    fn build<'s>(&self, inputs: &Inputs<'s>) -> Vec<Output<'s>>;
    /// Whether a config without `[dataflows] enabled` runs it (dataflows of one protocol,
    /// such as `taiko`, are opt-in).
    fn enabled_by_default(&self) -> bool {
        true
    }
    /// This dataflow with `settings` (its `[dataflows.<name>]` table; empty when the config
    /// has none), or `None` to run the registered instance as it is. The default takes no
    /// settings and names the first key given.
    fn configure(&self, settings: &Settings) -> Result<Option<Box<dyn Dataflow>>, SettingsError> {
        match settings.keys().next() {
            None => Ok(None),
            Some(key) => Err(SettingsError {
                dataflow: self.name().to_string(),
                key: key.clone(),
                reason: "this dataflow takes no settings".into(),
            }),
        }
    }
}
