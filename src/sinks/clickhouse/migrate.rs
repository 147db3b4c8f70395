//! ClickHouse schema migrations: numbered, forward-only SQL files from `migrations/clickhouse/`,
//! embedded in the binary, rendered for the server's version and applied once each.
//!
//! A migration file is a list of statements, each ended by a `;` that is the last non-blank
//! character of a line; lines starting with `--` are comments and are never sent. Placeholders
//! let one file serve ClickHouse 18.16 and current releases (see [`render`]):
//!
//! | placeholder     | ClickHouse >= 19.1 / >= 21.6 | older servers (18.16)        |
//! |-----------------|------------------------------|------------------------------|
//! | `{codec:ARGS}`  | `CODEC(ARGS)` (19.1+)        | nothing: no per-column codec |
//! | `{wei}`         | `UInt128` (21.6+)            | `String` of decimal digits   |
//!
//! [`migrate`] creates the database and the `chainflow_migrations` ledger when missing,
//! applies the pending migrations in order and records each one after all its statements
//! succeeded. Statements are idempotent (`IF NOT EXISTS`), so a run interrupted inside a
//! migration re-applies it safely. [`check_schema`] compares the tables of the outputs with
//! their [`OutputSpec`]s through `system.columns`.
//!
//! An output no numbered migration creates gets its table and view from its spec
//! ([`create_from_specs`], after the migrations): [`spec_ddl`] writes them with the
//! conventions of the migrations (columns in order with [`column_type`], then `version` and
//! `deleted`; `ReplacingMergeTree(version)` ordered by the key; a partition of the key
//! ([`partition_by`]); codecs where the server has them; the `_current` view). Nothing is
//! recorded: the statements are `IF NOT EXISTS`, and the tables of the numbered migrations
//! ([`migration_tables`]) are left to them.
//!
//! The client is used with row validation off (`RowBinary`): ClickHouse 18.16 does not know
//! the `RowBinaryWithNamesAndTypes` format the validating mode needs.

use std::collections::BTreeSet;
use std::fmt;

use crate::engine::dataflow::{Column, ColumnType, OutputSpec, Position};
use crate::sinks::ddl;

/// One numbered migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    /// Version: the number the file name starts with; migrations apply in increasing order.
    pub version: u32,
    /// Name: the rest of the file name, without the extension.
    pub name: &'static str,
    /// The SQL text with placeholders, as in the file.
    pub sql: &'static str,
}

impl Migration {
    /// The file name of the migration, `NNNN_name.sql`.
    pub fn file_name(&self) -> String {
        format!("{:04}_{}.sql", self.version, self.name)
    }
}

/// The migrations, embedded, in increasing version order.
pub fn migrations() -> Vec<Migration> {
    let mut all = vec![
        Migration {
            version: 1,
            name: "gas_fees",
            sql: include_str!("../../../migrations/clickhouse/0001_gas_fees.sql"),
        },
        Migration {
            version: 2,
            name: "gas_fees_rollups",
            sql: include_str!("../../../migrations/clickhouse/0002_gas_fees_rollups.sql"),
        },
        Migration {
            version: 3,
            name: "taiko_l2_heads",
            sql: include_str!("../../../migrations/clickhouse/0003_taiko_l2_heads.sql"),
        },
        Migration {
            version: 4,
            name: "taiko_rollup",
            sql: include_str!("../../../migrations/clickhouse/0004_taiko_rollup.sql"),
        },
    ];
    all.sort_by_key(|m| m.version);
    all
}

/// Name of the table recording the applied migrations.
pub const MIGRATIONS_TABLE: &str = "chainflow_migrations";

/// Name of the table recording the committed upper epoch per output.
pub const PROGRESS_TABLE: &str = "chainflow_progress";

/// Suffix of the view giving the current state of an output table.
pub const CURRENT_VIEW_SUFFIX: &str = "_current";

/// The first release with per-column compression codecs (`CODEC(Delta, ZSTD)`): 19.1.
pub const CODECS_SINCE: ServerVersion = ServerVersion::new(19, 1);

/// The first release with the `UInt128` type, not experimental: 21.6.
pub const UINT128_SINCE: ServerVersion = ServerVersion::new(21, 6);

/// A ClickHouse server version, as far as the schema depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerVersion {
    /// Major version (the year for releases since 2018: 18, 19, ... 26).
    pub major: u32,
    /// Minor version (the release of the year).
    pub minor: u32,
}

impl ServerVersion {
    /// A version.
    pub const fn new(major: u32, minor: u32) -> Self {
        ServerVersion { major, minor }
    }

    /// Parses the text of `SELECT version()`, for example `18.16.1` or `26.9.2.1`: the first
    /// two dot-separated numbers; anything after them is ignored.
    pub fn parse(text: &str) -> Result<Self, MigrateError> {
        let bad = || MigrateError::Version {
            text: text.to_string(),
        };
        let mut parts = text.trim().split('.');
        let mut number = || -> Result<u32, MigrateError> {
            let part = parts.next().ok_or_else(bad)?;
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() || digits.len() != part.len() {
                return Err(bad());
            }
            digits.parse().map_err(|_| bad())
        };
        let major = number()?;
        let minor = number()?;
        Ok(ServerVersion { major, minor })
    }

    /// Whether the server has per-column compression codecs.
    pub fn has_codecs(self) -> bool {
        self >= CODECS_SINCE
    }

    /// Whether the server has the `UInt128` type.
    pub fn has_uint128(self) -> bool {
        self >= UINT128_SINCE
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The ClickHouse type of an exact wei amount (`u128`) on `server`: `UInt128` where it
/// exists, else `String` holding decimal digits (no integer or decimal type of 18.16 holds
/// every `u128`: `Decimal(38, 0)` stops at `10^38 - 1`).
pub fn wei_type(server: ServerVersion) -> &'static str {
    if server.has_uint128() {
        "UInt128"
    } else {
        "String"
    }
}

/// The ClickHouse type of a `U256` column on `server`: `UInt256` where `UInt128` exists (both
/// came with the wide integers), else `String` holding decimal digits.
pub fn u256_type(server: ServerVersion) -> &'static str {
    if server.has_uint128() {
        "UInt256"
    } else {
        "String"
    }
}

/// The ClickHouse type of a column of type `ty` on `server`, as `system.columns` spells it.
pub fn column_type(ty: ColumnType, server: ServerVersion) -> &'static str {
    match ty {
        ColumnType::U64 => "UInt64",
        ColumnType::Wei => wei_type(server),
        ColumnType::U256 => u256_type(server),
        ColumnType::Hash | ColumnType::Address | ColumnType::Text => "String",
        ColumnType::Timestamp => "DateTime('UTC')",
    }
}

/// The columns the sink adds after an output's own columns, with their types.
pub const SINK_COLUMNS: [(&str, &str); 2] = [("version", "UInt64"), ("deleted", "UInt8")];

/// The columns `(name, type)` of the table of `spec` on `server`: the output's columns in
/// order, then [`SINK_COLUMNS`].
pub fn table_columns(spec: &OutputSpec, server: ServerVersion) -> Vec<(String, String)> {
    spec.columns
        .iter()
        .map(|c| (c.name.to_string(), column_type(c.ty, server).to_string()))
        .chain(
            SINK_COLUMNS
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string())),
        )
        .collect()
}

/// The columns `(name, type)` of the `_current` view of `spec` on `server`: the output's
/// columns in order.
pub fn view_columns(spec: &OutputSpec, server: ServerVersion) -> Vec<(String, String)> {
    spec.columns
        .iter()
        .map(|c| (c.name.to_string(), column_type(c.ty, server).to_string()))
        .collect()
}

/// The columns `(name, type)` of [`PROGRESS_TABLE`].
pub const PROGRESS_COLUMNS: [(&str, &str); 4] = [
    ("output", "String"),
    ("upper_epoch", "UInt64"),
    ("finalized", "String"),
    ("committed_at", "DateTime('UTC')"),
];

/// Expands the placeholders of `sql` for `server`: `{codec:ARGS}` becomes `CODEC(ARGS)` when
/// the server has codecs and nothing otherwise; `{wei}` becomes [`wei_type`]. Any other text,
/// including braces that are no placeholder, is kept as it is.
pub fn render(sql: &str, server: ServerVersion) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &after[..close];
        if inner == "wei" {
            out.push_str(wei_type(server));
        } else if let Some(args) = inner.strip_prefix("codec:") {
            if server.has_codecs() {
                out.push_str("CODEC(");
                out.push_str(args.trim());
                out.push(')');
            }
        } else {
            out.push('{');
            out.push_str(inner);
            out.push('}');
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Splits migration SQL into statements: a statement ends with a line whose last non-blank
/// character is `;` (the `;` is dropped). Lines whose first non-blank characters are `--` are
/// comments and are left out; statements left empty are skipped.
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut flush = |current: &mut Vec<&str>| {
        let text = current.join("\n").trim().to_string();
        if !text.is_empty() {
            out.push(text);
        }
        current.clear();
    };
    for line in sql.lines() {
        let trimmed = line.trim_end();
        if trimmed.trim_start().starts_with("--") {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix(';') {
            current.push(body);
            flush(&mut current);
        } else {
            current.push(trimmed);
        }
    }
    flush(&mut current);
    out
}

/// The tables and views the numbered [`migrations`] create: an output among them keeps its
/// hand-written table, and [`create_from_specs`] leaves it alone.
pub fn migration_tables() -> BTreeSet<String> {
    migrations()
        .iter()
        .flat_map(|m| statements(m.sql))
        .filter_map(|statement| {
            let rest = statement
                .strip_prefix("CREATE TABLE IF NOT EXISTS ")
                .or_else(|| statement.strip_prefix("CREATE VIEW IF NOT EXISTS "))?;
            rest.split_whitespace().next().map(str::to_string)
        })
        .collect()
}

/// Block numbers per partition of a table positioned by block ([`Position::Block`]): about a
/// month of 12-second blocks, as the hand-written block tables (chains with faster blocks get
/// more, smaller partitions).
pub const BLOCKS_PER_PARTITION: u64 = 216_000;

/// Seconds in a day: time buckets of a day or longer are partitioned by year.
const DAY_SECS: u64 = 86_400;

/// The `PARTITION BY` expression of the table of `spec`, a function of key columns only (see
/// [`crate::sinks::ddl`]), or `None` for a table without partitions:
///
/// | position | expression |
/// |---|---|
/// | `Block(c)`, `c` a `U64` key column | `intDiv(c, 216000)` ([`BLOCKS_PER_PARTITION`]) |
/// | `TimeBucket(c, secs)`, `c` a key column, `secs` below a day | `toYYYYMM(c)` |
/// | `TimeBucket(c, secs)`, `c` a key column, `secs` a day or more | `toYear(c)` (at most 366 keys per chain a partition) |
/// | anything else (`Whole`, `Log`, a position outside the key) | `chain_id` when it is a key column, else none |
///
/// A `U64` time bucket column (unix seconds) is read as `toDateTime(c, 'UTC')`.
pub fn partition_by(spec: &OutputSpec) -> Option<String> {
    let by_position = match (spec.position, ddl::position_in_key(spec)) {
        (Position::Block(_), Some(c)) if c.ty == ColumnType::U64 => {
            Some(format!("intDiv({}, {BLOCKS_PER_PARTITION})", c.name))
        }
        (Position::TimeBucket(_, secs), Some(c)) => {
            let time = match c.ty {
                ColumnType::Timestamp => Some(c.name.to_string()),
                ColumnType::U64 => Some(format!("toDateTime({}, 'UTC')", c.name)),
                _ => None,
            };
            let unit = if secs < DAY_SECS {
                "toYYYYMM"
            } else {
                "toYear"
            };
            time.map(|t| format!("{unit}({t})"))
        }
        _ => None,
    };
    by_position.or_else(|| ddl::in_key(spec, "chain_id").then(|| "chain_id".to_string()))
}

/// The codec of `column` of `spec`, as the migrations choose them: `Delta, ZSTD` for
/// timestamps and the position column (values that grow row after row), `ZSTD(3)` for hashes
/// and addresses (hex text), none for the rest.
fn codec(spec: &OutputSpec, column: &Column) -> Option<&'static str> {
    match column.ty {
        ColumnType::Timestamp => Some("Delta, ZSTD"),
        ColumnType::Hash | ColumnType::Address => Some("ZSTD(3)"),
        ColumnType::U64 if spec.position.column() == Some(column.name) => Some("Delta, ZSTD"),
        _ => None,
    }
}

/// The statements creating the table of `spec` and its `_current` view on `server`, as
/// `(name, statement)` pairs in that order, idempotent (`IF NOT EXISTS`) and with names
/// unqualified (they run with the target database as the current one). They follow the
/// numbered migrations: the output's columns in order with their [`column_type`] and codec
/// (on servers with codecs), then [`SINK_COLUMNS`]; `ReplacingMergeTree(version)`;
/// `PARTITION BY` [`partition_by`]; `ORDER BY` the key in key order; the view selects the
/// output's columns `FINAL` without tombstones. Fails when the spec cannot name a table
/// ([`ddl::check_spec`]).
///
/// ```
/// use chainflow::engine::dataflow::{Column, ColumnType, OutputSpec, Position};
/// use chainflow::sinks::clickhouse::migrate::{ServerVersion, spec_ddl};
/// const COLUMNS: &[Column] = &[
///     Column::new("chain_id", ColumnType::U64, "chain"),
///     Column::new("block_number", ColumnType::U64, "height"),
///     Column::new("supply", ColumnType::U256, "a uint256"),
/// ];
/// let spec = OutputSpec {
///     name: "supplies",
///     doc: "one row per block",
///     columns: COLUMNS,
///     key: &["chain_id", "block_number"],
///     position: Position::Block("block_number"),
/// };
/// let ddl = spec_ddl(&spec, ServerVersion::new(18, 16)).unwrap();
/// assert_eq!(ddl[0].0, "supplies");
/// assert!(ddl[0].1.contains("supply String,"));
/// assert!(ddl[0].1.ends_with("PARTITION BY intDiv(block_number, 216000)\nORDER BY (chain_id, block_number)"));
/// assert_eq!(ddl[1].0, "supplies_current");
/// ```
pub fn spec_ddl(
    spec: &OutputSpec,
    server: ServerVersion,
) -> Result<Vec<(String, String)>, MigrateError> {
    let reserved: Vec<&str> = SINK_COLUMNS.iter().map(|(n, _)| *n).collect();
    ddl::check_spec(spec, &reserved).map_err(|reason| MigrateError::Spec {
        output: spec.name.to_string(),
        reason,
    })?;
    let name = spec.name;
    let mut columns: Vec<String> = spec
        .columns
        .iter()
        .map(|c| {
            let ty = column_type(c.ty, server);
            match codec(spec, c).filter(|_| server.has_codecs()) {
                Some(args) => format!("    {} {ty} CODEC({args})", c.name),
                None => format!("    {} {ty}", c.name),
            }
        })
        .collect();
    columns.extend(SINK_COLUMNS.iter().map(|(n, t)| format!("    {n} {t}")));
    let partition = partition_by(spec)
        .map(|p| format!("PARTITION BY {p}\n"))
        .unwrap_or_default();
    let table = format!(
        "CREATE TABLE IF NOT EXISTS {name}\n(\n{}\n)\nENGINE = ReplacingMergeTree(version)\n{partition}ORDER BY ({})",
        columns.join(",\n"),
        spec.key.join(", ")
    );
    let names: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
    let view_name = format!("{name}{CURRENT_VIEW_SUFFIX}");
    let view = format!(
        "CREATE VIEW IF NOT EXISTS {view_name} AS\nSELECT\n    {}\nFROM {name} FINAL\nWHERE deleted = 0",
        names.join(", ")
    );
    Ok(vec![(name.to_string(), table), (view_name, view)])
}

/// Errors of the migration runner and the schema check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// A query of the runner itself failed.
    #[error("failed to {what}: {source}")]
    Query {
        /// What was attempted.
        what: String,
        /// The client's error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// `SELECT version()` answered something that is not a version.
    #[error("failed to parse the clickhouse server version from {text:?}")]
    Version {
        /// The answer.
        text: String,
    },
    /// A statement of a migration failed; the migration is not recorded.
    #[error(
        "failed to apply migration {file}, statement {index} ({summary}) in database '{database}': {source}"
    )]
    Statement {
        /// The migration's file name.
        file: String,
        /// The statement's position in the file, from 1.
        index: usize,
        /// The statement's first line.
        summary: String,
        /// The target database.
        database: String,
        /// The client's error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// No table can be derived from an output's spec.
    #[error("failed to derive the table of output '{output}' from its spec: {reason}")]
    Spec {
        /// The output.
        output: String,
        /// What is wrong with the spec.
        reason: String,
    },
    /// A statement creating a table or view from an output's spec failed.
    #[error("failed to create '{database}.{table}' from the spec of output '{output}': {source}")]
    SpecStatement {
        /// The output.
        output: String,
        /// The table or view.
        table: String,
        /// The target database.
        database: String,
        /// The client's error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// A table or view the schema needs does not exist.
    #[error("schema check failed: table '{database}.{table}' is missing")]
    MissingTable {
        /// Database.
        database: String,
        /// Table or view.
        table: String,
    },
    /// A column the schema needs does not exist.
    #[error("schema check failed: column '{column}' of table '{database}.{table}' is missing")]
    MissingColumn {
        /// Database.
        database: String,
        /// Table or view.
        table: String,
        /// Column.
        column: String,
    },
    /// A column has another type than the schema needs.
    #[error(
        "schema check failed: column '{column}' of table '{database}.{table}' has type {found}, expected {expected}"
    )]
    WrongType {
        /// Database.
        database: String,
        /// Table or view.
        table: String,
        /// Column.
        column: String,
        /// The type the schema needs.
        expected: String,
        /// The type found.
        found: String,
    },
    /// The columns are there but in another order than the output's.
    #[error(
        "schema check failed: columns of table '{database}.{table}' are in the order [{found}], expected [{expected}]"
    )]
    ColumnOrder {
        /// Database.
        database: String,
        /// Table or view.
        table: String,
        /// The expected order, comma-separated.
        expected: String,
        /// The order found, comma-separated.
        found: String,
    },
}

/// Quotes an identifier for ClickHouse with backticks.
fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('`');
    for c in name.chars() {
        if c == '`' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('`');
    out
}

fn query_error(what: impl Into<String>) -> impl FnOnce(clickhouse::error::Error) -> MigrateError {
    let what = what.into();
    move |source| MigrateError::Query { what, source }
}

/// Reads the server's version with `SELECT version()`.
pub async fn server_version(client: &clickhouse::Client) -> Result<ServerVersion, MigrateError> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct VersionRow {
        version: String,
    }
    let row = client
        .clone()
        .with_validation(false)
        .query("SELECT version() AS version")
        .fetch_one::<VersionRow>()
        .await
        .map_err(query_error("read the clickhouse server version"))?;
    ServerVersion::parse(&row.version)
}

/// Applies the pending [`migrations`] to `database` (created when missing) and returns the
/// versions applied, in order: empty when the schema is up to date.
pub async fn migrate(
    client: &clickhouse::Client,
    database: &str,
) -> Result<Vec<u32>, MigrateError> {
    let server = server_version(client).await?;
    let root = client.clone().with_validation(false);
    root.query_raw(&format!(
        "CREATE DATABASE IF NOT EXISTS {}",
        quote_ident(database)
    ))
    .execute()
    .await
    .map_err(query_error(format!("create database '{database}'")))?;

    let db = root.with_database(database);
    db.query_raw(&format!(
        "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} \
         (version UInt32, name String, applied_at DateTime('UTC')) \
         ENGINE = MergeTree() ORDER BY version"
    ))
    .execute()
    .await
    .map_err(query_error(format!(
        "create table '{database}.{MIGRATIONS_TABLE}'"
    )))?;

    #[derive(clickhouse::Row, serde::Deserialize)]
    struct AppliedRow {
        version: u32,
    }
    let applied: Vec<u32> = db
        .query(&format!(
            "SELECT DISTINCT version FROM {MIGRATIONS_TABLE} ORDER BY version"
        ))
        .fetch_all::<AppliedRow>()
        .await
        .map_err(query_error(format!(
            "read the applied migrations from '{database}.{MIGRATIONS_TABLE}'"
        )))?
        .into_iter()
        .map(|r| r.version)
        .collect();

    let mut done = Vec::new();
    for migration in migrations() {
        if applied.contains(&migration.version) {
            continue;
        }
        let file = migration.file_name();
        for (i, statement) in statements(&render(migration.sql, server))
            .iter()
            .enumerate()
        {
            // Sent verbatim: `query` would take a `?` in the SQL for a bind placeholder.
            db.query_raw(statement)
                .execute()
                .await
                .map_err(|source| MigrateError::Statement {
                    file: file.clone(),
                    index: i + 1,
                    summary: statement.lines().next().unwrap_or_default().to_string(),
                    database: database.to_string(),
                    source,
                })?;
        }
        db.query(&format!(
            "INSERT INTO {MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, now())"
        ))
        .bind(migration.version)
        .bind(migration.name)
        .execute()
        .await
        .map_err(query_error(format!(
            "record migration {file} in '{database}.{MIGRATIONS_TABLE}'"
        )))?;
        tracing::info!(database, migration = %file, %server, "applied clickhouse migration");
        done.push(migration.version);
    }
    Ok(done)
}

/// Creates, in `database` (created when missing), the table and `_current` view of every
/// output of `specs` that lacks them, from [`spec_ddl`] for the server's version; returns the
/// names created, in order, and logs each. Outputs whose table a numbered migration creates
/// ([`migration_tables`]) are left to it, and so is anything already there: run it after
/// [`migrate`] and before [`check_schema`], which then verifies every output's columns. Every
/// spec is checked before anything is sent; a second run creates nothing.
pub async fn create_from_specs(
    client: &clickhouse::Client,
    database: &str,
    specs: &[OutputSpec],
) -> Result<Vec<String>, MigrateError> {
    let handwritten = migration_tables();
    let mut planned: Vec<(&OutputSpec, Vec<(String, String)>)> = Vec::new();
    let server = server_version(client).await?;
    for spec in specs {
        if handwritten.contains(spec.name) || planned.iter().any(|(s, _)| s.name == spec.name) {
            continue;
        }
        planned.push((spec, spec_ddl(spec, server)?));
    }
    if planned.is_empty() {
        return Ok(Vec::new());
    }
    let root = client.clone().with_validation(false);
    root.query_raw(&format!(
        "CREATE DATABASE IF NOT EXISTS {}",
        quote_ident(database)
    ))
    .execute()
    .await
    .map_err(query_error(format!("create database '{database}'")))?;

    #[derive(clickhouse::Row, serde::Deserialize)]
    struct NameRow {
        name: String,
    }
    let mut existing: BTreeSet<String> = root
        .query("SELECT name FROM system.tables WHERE database = ?")
        .bind(database)
        .fetch_all::<NameRow>()
        .await
        .map_err(query_error(format!(
            "read the tables of database '{database}' from system.tables"
        )))?
        .into_iter()
        .map(|r| r.name)
        .collect();

    let db = root.with_database(database);
    let mut created = Vec::new();
    for (spec, objects) in planned {
        for (table, statement) in objects {
            if existing.contains(&table) {
                continue;
            }
            // Sent verbatim, as the migrations: `query` would take a `?` for a bind mark.
            db.query_raw(&statement).execute().await.map_err(|source| {
                MigrateError::SpecStatement {
                    output: spec.name.to_string(),
                    table: table.clone(),
                    database: database.to_string(),
                    source,
                }
            })?;
            tracing::info!(database, output = spec.name, table = %table, %server, "created clickhouse table from the output's spec");
            existing.insert(table.clone());
            created.push(table);
        }
    }
    Ok(created)
}

/// Checks that `database` holds, for every output of `specs`, its table (the output's columns
/// in order with their types, then `version` and `deleted`) and its `_current` view (the
/// output's columns), and the progress table. Extra columns after the expected ones are
/// allowed. Reports the first problem, naming the table and column.
pub async fn check_schema(
    client: &clickhouse::Client,
    database: &str,
    specs: &[OutputSpec],
) -> Result<(), MigrateError> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct CountRow {
        n: u64,
    }
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct ColumnRow {
        table: String,
        name: String,
        #[serde(rename = "type")]
        ty: String,
    }
    let server = server_version(client).await?;
    let client = client.clone().with_validation(false);
    // `system.columns` has a `position` column only on newer servers (18.16 has none and
    // lists the columns in table order).
    let has_position = client
        .query(
            "SELECT count() AS n FROM system.columns \
             WHERE database = 'system' AND table = 'columns' AND name = 'position'",
        )
        .fetch_one::<CountRow>()
        .await
        .map_err(query_error("read the layout of system.columns"))?
        .n
        > 0;
    let order = if has_position {
        " ORDER BY table, position"
    } else {
        ""
    };
    let rows = client
        .query(&format!(
            "SELECT table, name, type FROM system.columns WHERE database = ?{order}"
        ))
        .bind(database)
        .fetch_all::<ColumnRow>()
        .await
        .map_err(query_error(format!(
            "read the columns of database '{database}' from system.columns"
        )))?;

    let check = |table: &str, expected: &[(String, String)]| -> Result<(), MigrateError> {
        let found: Vec<&ColumnRow> = rows.iter().filter(|r| r.table == table).collect();
        if found.is_empty() {
            return Err(MigrateError::MissingTable {
                database: database.to_string(),
                table: table.to_string(),
            });
        }
        for (name, ty) in expected {
            let Some(column) = found.iter().find(|r| &r.name == name) else {
                return Err(MigrateError::MissingColumn {
                    database: database.to_string(),
                    table: table.to_string(),
                    column: name.clone(),
                });
            };
            if &column.ty != ty {
                return Err(MigrateError::WrongType {
                    database: database.to_string(),
                    table: table.to_string(),
                    column: name.clone(),
                    expected: ty.clone(),
                    found: column.ty.clone(),
                });
            }
        }
        let expected_order: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
        let found_order: Vec<&str> = found
            .iter()
            .map(|r| r.name.as_str())
            .filter(|n| expected_order.contains(n))
            .collect();
        if found_order != expected_order {
            return Err(MigrateError::ColumnOrder {
                database: database.to_string(),
                table: table.to_string(),
                expected: expected_order.join(", "),
                found: found_order.join(", "),
            });
        }
        Ok(())
    };

    for spec in specs {
        check(spec.name, &table_columns(spec, server))?;
        check(
            &format!("{}{CURRENT_VIEW_SUFFIX}", spec.name),
            &view_columns(spec, server),
        )?;
    }
    let progress: Vec<(String, String)> = PROGRESS_COLUMNS
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    check(PROGRESS_TABLE, &progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflows::gas_fees::GasFees;
    use crate::engine::dataflow::Dataflow;

    const OLD: ServerVersion = ServerVersion::new(18, 16);
    const CURRENT: ServerVersion = ServerVersion::new(26, 9);

    #[test]
    fn server_version_parses_release_strings() {
        assert_eq!(ServerVersion::parse("18.16.1").ok(), Some(OLD));
        assert_eq!(ServerVersion::parse("26.9.2.1\n").ok(), Some(CURRENT));
        assert_eq!(
            ServerVersion::parse("21.8").ok(),
            Some(ServerVersion::new(21, 8))
        );
        for bad in ["", "18", "x.1", "18.x", "18.16beta.1", ".16", "-1.2"] {
            let err = ServerVersion::parse(bad).err();
            assert!(
                matches!(&err, Some(MigrateError::Version { text }) if text == bad),
                "{bad:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn server_version_orders_by_major_then_minor() {
        assert!(ServerVersion::new(19, 1) > ServerVersion::new(18, 16));
        assert!(ServerVersion::new(21, 10) > ServerVersion::new(21, 6));
        assert!(!OLD.has_codecs() && !OLD.has_uint128());
        assert!(ServerVersion::new(19, 1).has_codecs());
        assert!(!ServerVersion::new(21, 5).has_uint128());
        assert!(ServerVersion::new(21, 6).has_uint128() && CURRENT.has_uint128());
        assert_eq!(OLD.to_string(), "18.16");
    }

    #[test]
    fn render_expands_placeholders_per_version() {
        let sql = "a UInt64 {codec:Delta, ZSTD},\nw {wei},\nh String {codec: ZSTD(3) }";
        assert_eq!(render(sql, OLD), "a UInt64 ,\nw String,\nh String ");
        assert_eq!(
            render(sql, CURRENT),
            "a UInt64 CODEC(Delta, ZSTD),\nw UInt128,\nh String CODEC(ZSTD(3))"
        );
        assert_eq!(
            render("x {wei}", ServerVersion::new(19, 3)),
            "x String",
            "codecs but no UInt128"
        );
    }

    #[test]
    fn render_keeps_other_braces() {
        assert_eq!(render("{other} {wei", CURRENT), "{other} {wei");
        assert_eq!(render("'{}' {wei}{wei}", CURRENT), "'{}' UInt128UInt128");
        assert_eq!(render("no placeholders", OLD), "no placeholders");
    }

    #[test]
    fn statements_split_at_semicolons_ending_lines() {
        let sql = "-- header; not a statement;\nCREATE TABLE a\n(\n  x UInt8 -- c; d\n);\n\n  \
                   -- between;\nSELECT ';' , 1 ;  \nSELECT 2; SELECT 3\n;\n-- trailing\n";
        assert_eq!(
            statements(sql),
            vec![
                "CREATE TABLE a\n(\n  x UInt8 -- c; d\n)".to_string(),
                "SELECT ';' , 1".to_string(),
                "SELECT 2; SELECT 3".to_string(),
            ]
        );
        assert_eq!(statements("SELECT 1"), vec!["SELECT 1".to_string()]);
        assert!(statements("-- only;\n\n").is_empty());
    }

    #[test]
    fn migrations_are_numbered_and_embed_every_file() {
        let all = migrations();
        assert!(!all.is_empty());
        for (i, m) in all.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "versions are 1, 2, ... in order");
            assert!(!statements(m.sql).is_empty(), "{} has statements", m.name);
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/clickhouse");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<String> = all.iter().map(Migration::file_name).collect();
        assert_eq!(
            files, embedded,
            "every file is embedded under its own number"
        );
        for m in &all {
            let on_disk = std::fs::read_to_string(dir.join(m.file_name())).unwrap();
            assert_eq!(on_disk, m.sql);
        }
    }

    #[test]
    fn rendered_migrations_leave_no_placeholder_or_bind_mark() {
        for server in [OLD, ServerVersion::new(19, 1), CURRENT] {
            let mut codecs = 0;
            for m in migrations() {
                for s in statements(&render(m.sql, server)) {
                    assert!(!s.contains('{') && !s.contains('}'), "{server}: {s}");
                    assert!(!s.contains('?'), "{server}: {s}");
                    codecs += s.matches("CODEC(").count();
                }
            }
            assert_eq!(codecs > 0, server.has_codecs(), "{server}");
        }
    }

    /// The `(name, type)` columns of `CREATE TABLE IF NOT EXISTS <table>` in `sql`.
    fn created_columns(sql: &str, table: &str) -> Vec<(String, String)> {
        let head = format!("CREATE TABLE IF NOT EXISTS {table}\n");
        let statement = statements(sql)
            .into_iter()
            .find(|s| s.starts_with(&head))
            .unwrap_or_else(|| panic!("no CREATE TABLE {table}"));
        let body = &statement[statement.find('(').unwrap() + 1..statement.find("\n)").unwrap()];
        body.lines()
            .map(|l| l.trim().trim_end_matches(','))
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (name, ty) = l.split_once(' ').unwrap();
                let ty = ty.split(" CODEC(").next().unwrap().trim();
                (name.to_string(), ty.to_string())
            })
            .collect()
    }

    #[test]
    fn tables_match_the_gas_fees_outputs_on_every_server() {
        let sql: String = migrations()
            .iter()
            .map(|m| m.sql)
            .collect::<Vec<_>>()
            .join("\n");
        for server in [OLD, CURRENT] {
            let rendered = render(&sql, server);
            for spec in GasFees.outputs() {
                assert_eq!(
                    created_columns(&rendered, spec.name),
                    table_columns(&spec, server),
                    "{} on {server}",
                    spec.name
                );
                let order_by = format!("ORDER BY ({})", spec.key.join(", "));
                let create = statements(&rendered)
                    .into_iter()
                    .find(|s| s.contains(&format!("EXISTS {}\n", spec.name)))
                    .unwrap();
                assert!(create.contains(&order_by), "{create}");
                assert!(create.contains("ReplacingMergeTree(version)"), "{create}");
                // Partitioned by a function of the key: the position column, which is a key
                // column of every gas_fees output.
                let partition = create
                    .lines()
                    .find_map(|l| l.strip_prefix("PARTITION BY "))
                    .unwrap_or_else(|| panic!("{} has no PARTITION BY", spec.name));
                let column = spec.position.column().unwrap();
                assert!(spec.key.contains(&column), "{}", spec.name);
                assert!(partition.contains(column), "{}: {partition}", spec.name);
                let creates = statements(&rendered)
                    .iter()
                    .filter(|s| s.contains(&format!("EXISTS {}\n", spec.name)))
                    .count();
                assert_eq!(creates, 1, "{} is created once", spec.name);
                let view = format!("{}{CURRENT_VIEW_SUFFIX}", spec.name);
                let view_sql = statements(&rendered)
                    .into_iter()
                    .find(|s| s.contains(&format!("VIEW IF NOT EXISTS {view} ")))
                    .unwrap();
                let names: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
                let select = view_sql
                    .split("SELECT")
                    .nth(1)
                    .and_then(|s| s.split("FROM").next())
                    .unwrap();
                let selected: Vec<&str> = select.split(',').map(str::trim).collect();
                assert_eq!(selected, names, "{view}");
                assert!(
                    view_sql.ends_with(&format!("FROM {} FINAL\nWHERE deleted = 0", spec.name)),
                    "{view_sql}"
                );
            }
            let progress: Vec<(String, String)> = PROGRESS_COLUMNS
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect();
            assert_eq!(created_columns(&rendered, PROGRESS_TABLE), progress);
        }
    }

    /// `text` with every run of whitespace made one space, and none before a comma (an
    /// absent codec leaves one in a rendered migration).
    fn squeeze(text: &str) -> String {
        text.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace(" ,", ",")
    }

    /// The statement of the numbered migrations that creates `name` (rendered for `server`).
    fn handwritten(name: &str, server: ServerVersion) -> String {
        migrations()
            .iter()
            .flat_map(|m| statements(&render(m.sql, server)))
            .find(|s| {
                s.strip_prefix("CREATE TABLE IF NOT EXISTS ")
                    .or_else(|| s.strip_prefix("CREATE VIEW IF NOT EXISTS "))
                    .and_then(|rest| rest.split_whitespace().next())
                    == Some(name)
            })
            .unwrap_or_else(|| panic!("no migration creates {name}"))
    }

    const TEST_COLUMNS: &[Column] = &[
        Column::new("chain_id", ColumnType::U64, ""),
        Column::new("block_number", ColumnType::U64, ""),
        Column::new("block_hash", ColumnType::Hash, ""),
        Column::new("miner", ColumnType::Address, ""),
        Column::new("at", ColumnType::Timestamp, ""),
        Column::new("day", ColumnType::U64, ""),
        Column::new("fee", ColumnType::Wei, ""),
        Column::new("supply", ColumnType::U256, ""),
        Column::new("note", ColumnType::Text, ""),
    ];

    fn test_spec(key: &'static [&'static str], position: Position) -> OutputSpec {
        OutputSpec {
            name: "things",
            doc: "",
            columns: TEST_COLUMNS,
            key,
            position,
        }
    }

    #[test]
    fn the_partition_follows_the_position_and_uses_key_columns_only() {
        let cases: [(&'static [&'static str], Position, Option<&str>); 12] = [
            (
                &["chain_id", "block_number"],
                Position::Block("block_number"),
                Some("intDiv(block_number, 216000)"),
            ),
            (
                &["block_number"],
                Position::Block("block_number"),
                Some("intDiv(block_number, 216000)"),
            ),
            // A block outside the key may change in a reorg: by chain, or not at all.
            (
                &["chain_id", "block_hash"],
                Position::Block("block_number"),
                Some("chain_id"),
            ),
            (&["block_hash"], Position::Block("block_number"), None),
            (
                &["chain_id", "at"],
                Position::TimeBucket("at", 60),
                Some("toYYYYMM(at)"),
            ),
            (
                &["chain_id", "at"],
                Position::TimeBucket("at", 3_600),
                Some("toYYYYMM(at)"),
            ),
            (
                &["chain_id", "at"],
                Position::TimeBucket("at", 86_400),
                Some("toYear(at)"),
            ),
            (
                &["chain_id", "at"],
                Position::TimeBucket("at", 7 * 86_400),
                Some("toYear(at)"),
            ),
            (
                &["chain_id", "day"],
                Position::TimeBucket("day", 3_600),
                Some("toYYYYMM(toDateTime(day, 'UTC'))"),
            ),
            (&["chain_id", "note"], Position::Whole, Some("chain_id")),
            (&["chain_id", "block_hash"], Position::Log, Some("chain_id")),
            (&["block_hash"], Position::Log, None),
        ];
        for (key, position, want) in cases {
            let spec = test_spec(key, position);
            assert_eq!(partition_by(&spec).as_deref(), want, "{key:?} {position:?}");
            let table = &spec_ddl(&spec, CURRENT).unwrap()[0].1;
            match want {
                Some(p) => assert!(table.contains(&format!("\nPARTITION BY {p}\n")), "{table}"),
                None => assert!(!table.contains("PARTITION BY"), "{table}"),
            }
        }
        // A position column of a type that orders nothing in time partitions by chain.
        let spec = test_spec(&["chain_id", "note"], Position::Block("note"));
        assert_eq!(partition_by(&spec).as_deref(), Some("chain_id"));
    }

    #[test]
    fn the_order_is_the_key_in_key_order() {
        let spec = test_spec(
            &["block_number", "chain_id"],
            Position::Block("block_number"),
        );
        let table = &spec_ddl(&spec, CURRENT).unwrap()[0].1;
        assert!(
            table.ends_with("\nORDER BY (block_number, chain_id)"),
            "{table}"
        );
        let spec = test_spec(&["note"], Position::Whole);
        assert!(
            spec_ddl(&spec, OLD).unwrap()[0]
                .1
                .ends_with("\nORDER BY (note)")
        );
    }

    #[test]
    fn spec_tables_have_every_column_type_on_every_server() {
        let spec = test_spec(
            &["chain_id", "block_number"],
            Position::Block("block_number"),
        );
        for server in [OLD, ServerVersion::new(19, 1), CURRENT] {
            let ddl = spec_ddl(&spec, server).unwrap();
            assert_eq!(ddl.len(), 2);
            let (table, view) = (&ddl[0], &ddl[1]);
            assert_eq!(table.0, "things");
            assert_eq!(
                created_columns(&table.1, "things"),
                table_columns(&spec, server),
                "{server}"
            );
            assert_eq!(table.1.contains("CODEC("), server.has_codecs(), "{server}");
            assert!(table.1.contains("ENGINE = ReplacingMergeTree(version)\n"));
            assert!(
                !table.1.contains('{') && !table.1.contains('?'),
                "{}",
                table.1
            );
            assert_eq!(view.0, "things_current");
            assert_eq!(
                view.1,
                "CREATE VIEW IF NOT EXISTS things_current AS\nSELECT\n    chain_id, \
                 block_number, block_hash, miner, at, day, fee, supply, note\nFROM things \
                 FINAL\nWHERE deleted = 0"
            );
        }
        let old = spec_ddl(&spec, OLD).unwrap().remove(0).1;
        assert!(old.contains("\n    supply String,\n"), "{old}");
        assert!(old.contains("\n    fee String,\n"), "{old}");
        let current = spec_ddl(&spec, CURRENT).unwrap().remove(0).1;
        for line in [
            "    block_number UInt64 CODEC(Delta, ZSTD),",
            "    block_hash String CODEC(ZSTD(3)),",
            "    miner String CODEC(ZSTD(3)),",
            "    at DateTime('UTC') CODEC(Delta, ZSTD),",
            "    day UInt64,",
            "    fee UInt128,",
            "    supply UInt256,",
            "    note String,",
            "    version UInt64,",
            "    deleted UInt8",
        ] {
            assert!(current.lines().any(|l| l == line), "{line} in {current}");
        }
    }

    #[test]
    fn a_spec_without_a_table_is_refused_naming_the_output() {
        let keyless = OutputSpec {
            key: &[],
            ..test_spec(&[], Position::Whole)
        };
        let err = spec_ddl(&keyless, CURRENT).unwrap_err();
        assert!(matches!(&err, MigrateError::Spec { output, .. } if output == "things"));
        assert_eq!(
            err.to_string(),
            "failed to derive the table of output 'things' from its spec: the key has no column"
        );
        const CLASH: &[Column] = &[Column::new("deleted", ColumnType::U64, "")];
        let clash = OutputSpec {
            columns: CLASH,
            key: &["deleted"],
            ..keyless
        };
        let err = spec_ddl(&clash, CURRENT).unwrap_err().to_string();
        assert!(err.contains("'deleted'"), "{err}");
    }

    /// Every registered output, derived from its spec: the columns, order and view of its
    /// hand-written table; the same partition where the position is a time bucket; and for
    /// the `gas_fees` outputs the very statements of the migrations.
    #[test]
    fn spec_tables_of_the_registered_outputs_match_the_migrations() {
        let owned = migration_tables();
        // The outputs a migration creates (the others' tables come from their specs only).
        let registered: Vec<OutputSpec> = crate::dataflows::registry()
            .iter()
            .flat_map(|d| d.outputs())
            .filter(|s| owned.contains(s.name))
            .collect();
        assert!(
            registered.len() >= 20,
            "{} outputs with migrations",
            registered.len()
        );
        let gas_fees: Vec<&str> = GasFees.outputs().iter().map(|s| s.name).collect();
        for server in [OLD, CURRENT] {
            for spec in &registered {
                let ddl = spec_ddl(spec, server).unwrap();
                let table = &ddl[0].1;
                let hand = handwritten(spec.name, server);
                assert_eq!(
                    created_columns(table, spec.name),
                    created_columns(&hand, spec.name),
                    "{} on {server}",
                    spec.name
                );
                let line = |sql: &str, prefix: &str| {
                    sql.lines()
                        .find(|l| l.starts_with(prefix))
                        .map(str::to_string)
                };
                assert_eq!(
                    line(table, "ORDER BY"),
                    line(&hand, "ORDER BY"),
                    "{}",
                    spec.name
                );
                if matches!(spec.position, Position::TimeBucket(..)) {
                    assert_eq!(
                        line(table, "PARTITION BY"),
                        line(&hand, "PARTITION BY"),
                        "{}",
                        spec.name
                    );
                }
                let view = format!("{}{CURRENT_VIEW_SUFFIX}", spec.name);
                assert!(owned.contains(&view), "{view}");
                assert_eq!(ddl[1].0, view);
                assert_eq!(squeeze(&ddl[1].1), squeeze(&handwritten(&view, server)));
                if gas_fees.contains(&spec.name) {
                    assert_eq!(squeeze(table), squeeze(&hand), "{} on {server}", spec.name);
                }
            }
        }
        assert!(owned.contains(PROGRESS_TABLE));
    }

    #[test]
    fn wei_and_timestamps_map_to_exact_types() {
        assert_eq!(column_type(ColumnType::Wei, OLD), "String");
        assert_eq!(column_type(ColumnType::Wei, CURRENT), "UInt128");
        assert_eq!(column_type(ColumnType::Timestamp, OLD), "DateTime('UTC')");
        assert_eq!(column_type(ColumnType::Hash, CURRENT), "String");
        assert_eq!(quote_ident("a`b\\c"), "`a\\`b\\\\c`");
    }

    #[test]
    fn errors_name_what_failed() {
        let e = MigrateError::MissingColumn {
            database: "db".into(),
            table: "gas_fees_blocks".into(),
            column: "gas_used".into(),
        };
        assert_eq!(
            e.to_string(),
            "schema check failed: column 'gas_used' of table 'db.gas_fees_blocks' is missing"
        );
    }
}
