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
//! The client is used with row validation off (`RowBinary`): ClickHouse 18.16 does not know
//! the `RowBinaryWithNamesAndTypes` format the validating mode needs.

use std::fmt;

use crate::engine::dataflow::{ColumnType, OutputSpec};

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
