//! Forward-only migrations for PostgreSQL and TimescaleDB (`migrations/timescale/`).
//!
//! Each migration runs in one transaction with its row in `chainflow_migrations`, under a
//! transaction-scoped advisory lock, inside the sink's schema (`search_path = schema,
//! <the extension's schema>, public`). The part of a file after `-- @timescale` runs only in
//! TimescaleDB mode. [`check_schema`] compares the tables with the outputs before anything
//! is written and names the table and column that differ.
//!
//! How the mode is chosen ([`detect`], before anything is written):
//!
//! | server | `auto` | `require` | `off` |
//! |---|---|---|---|
//! | extension created in the database (any schema) | TimescaleDB | TimescaleDB | plain |
//! | library preloaded, extension not yet created | creates it, TimescaleDB | same | plain |
//! | extension files installed, library not preloaded | plain, one warning saying how to preload | error | plain |
//! | no extension files | plain | error | plain |
//!
//! Whether the library is preloaded is read before `CREATE EXTENSION` is tried (TimescaleDB
//! answers a `CREATE EXTENSION` without the preload with a FATAL error that ends the
//! session); a session that still dies is reconnected. The extension is created where a plain
//! `CREATE EXTENSION` puts it (the first schema of the role's default search path, usually
//! `public`), never in a sink's schema, and its functions are found through the search path
//! wherever the operator installed it, so any number of chainflow schemas share one
//! database. A schema migrated with plain tables is converted (its migrations' TimescaleDB
//! parts run, `migrate_data` moving the rows) by the first `chainflow migrate` that finds the
//! extension usable, unless `timescale = "off"`.
//!
//! An output no numbered migration creates gets its table from its spec
//! ([`create_from_specs`], after the migrations): [`spec_ddl`] writes it with the conventions
//! of the migrations (the output's columns in order with [`ddl_type`], then `version`, the
//! key as primary key) and, in TimescaleDB mode, makes it a hypertable on its position column
//! when that is a key column ([`chunking`]); other tables stay plain. Nothing is recorded:
//! `CREATE TABLE IF NOT EXISTS` and `create_hypertable(.., if_not_exists => TRUE,
//! migrate_data => TRUE)` are idempotent, so a spec table made with plain tables becomes a
//! hypertable, rows kept, with the rest of the schema. The tables of the numbered migrations
//! ([`migration_tables`]) are left to them.

use std::collections::BTreeSet;

use postgres::Client;
use serde::{Deserialize, Serialize};

use super::encode::pg_type;
use crate::engine::dataflow::{ColumnType, OutputSpec, Position};
use crate::sinks::ddl;

/// Errors of migrating or checking a schema.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MigrateError(pub String);

fn describe(e: &postgres::Error) -> String {
    e.as_db_error()
        .map(|d| format!("{} ({})", d.message(), d.code().code()))
        .unwrap_or_else(|| e.to_string())
}

fn db_err(what: &str) -> impl Fn(postgres::Error) -> MigrateError + '_ {
    move |e| MigrateError(format!("{what}: {}", describe(&e)))
}

/// Opens a new session on the same server (after one was ended by the server).
pub type Reconnect<'a> = &'a dyn Fn() -> Result<Client, postgres::Error>;

/// Whether to use TimescaleDB (`[sinks.postgres] timescale`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimescaleSetting {
    /// Use it when created in the database or creatable (installed and preloaded); plain
    /// tables otherwise.
    #[default]
    Auto,
    /// Plain tables even when the extension is there.
    Off,
    /// Fail, before anything is written, when the extension cannot be used.
    Require,
}

/// Why a schema has plain tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlainReason {
    /// The server has no timescaledb extension files.
    NotInstalled,
    /// The extension files are there but the library is not in `shared_preload_libraries`.
    NotPreloaded,
    /// The extension could have been created but the attempt failed (the server's message).
    CreateFailed(String),
    /// `timescale = "off"`.
    Off,
    /// The schema was migrated with plain tables although the extension is usable now (a
    /// `chainflow migrate` converts it).
    MigratedPlain,
}

/// The mode the sink runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Hypertables with compression.
    Timescale {
        /// The extension's version.
        version: String,
        /// The schema holding the extension's functions.
        schema: String,
    },
    /// Plain PostgreSQL tables, and why.
    Plain(PlainReason),
}

impl Mode {
    /// Whether the tables are hypertables.
    pub fn is_timescale(&self) -> bool {
        matches!(self, Mode::Timescale { .. })
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Timescale { version, schema } => write!(
                f,
                "TimescaleDB {version} (hypertables, compression; extension in schema {schema})"
            ),
            Mode::Plain(why) => {
                let why = match why {
                    PlainReason::NotInstalled => "the server has no timescaledb extension".into(),
                    PlainReason::NotPreloaded => {
                        "timescaledb is installed but not in shared_preload_libraries".into()
                    }
                    PlainReason::CreateFailed(e) => {
                        format!("CREATE EXTENSION timescaledb failed: {e}")
                    }
                    PlainReason::Off => "timescale = \"off\"".into(),
                    PlainReason::MigratedPlain => {
                        "migrated without timescaledb; `chainflow migrate` converts the tables"
                            .into()
                    }
                };
                write!(f, "plain PostgreSQL tables ({why})")
            }
        }
    }
}

/// One migration file.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Its number.
    pub version: i32,
    /// Its file name.
    pub name: &'static str,
    /// Its text.
    pub sql: &'static str,
}

/// Every migration, in order.
pub fn migrations() -> Vec<Migration> {
    vec![
        Migration {
            version: 1,
            name: "0001_gas_fees.sql",
            sql: include_str!("../../../migrations/timescale/0001_gas_fees.sql"),
        },
        Migration {
            version: 2,
            name: "0002_taiko_l2_heads.sql",
            sql: include_str!("../../../migrations/timescale/0002_taiko_l2_heads.sql"),
        },
        Migration {
            version: 3,
            name: "0003_taiko_rollup.sql",
            sql: include_str!("../../../migrations/timescale/0003_taiko_rollup.sql"),
        },
        Migration {
            version: 4,
            name: "0004_policy_search_path.sql",
            sql: include_str!("../../../migrations/timescale/0004_policy_search_path.sql"),
        },
    ]
}

/// The tables the numbered [`migrations`] create: an output among them keeps its hand-written
/// table (and its TimescaleDB part), and [`create_from_specs`] leaves it alone.
pub fn migration_tables() -> BTreeSet<String> {
    migrations()
        .iter()
        .flat_map(|m| m.sql.lines())
        .filter_map(|line| {
            let rest = line
                .trim_start()
                .strip_prefix("CREATE TABLE IF NOT EXISTS ")?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// The PostgreSQL type of a column of type `ty` in DDL (see `migrations/timescale/0001`):
/// [`pg_type`] is the same type as `information_schema.columns` names it.
pub fn ddl_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::U64 => "BIGINT",
        ColumnType::Timestamp => "TIMESTAMPTZ",
        ColumnType::Wei => "NUMERIC(39, 0)",
        ColumnType::U256 => "NUMERIC(78, 0)",
        ColumnType::Hash | ColumnType::Address | ColumnType::Text => "TEXT",
    }
}

/// Block numbers per chunk of a hypertable positioned by block ([`Position::Block`]): about a
/// month of 12-second blocks, as the hand-written block tables.
pub const BLOCKS_PER_CHUNK: u64 = 216_000;

/// The hypertable of `spec`'s table in TimescaleDB mode: the partitioning column and its
/// `chunk_time_interval` (SQL), or `None` for a plain table. Only a key column partitions
/// (see [`crate::sinks::ddl`]):
///
/// | position | chunk interval |
/// |---|---|
/// | `Block(c)`, `c` a `U64` key column | `216000` blocks ([`BLOCKS_PER_CHUNK`]) |
/// | `TimeBucket(c, secs)`, `c` a key column | 7 days below an hour, 30 days below a day, 365 days from a day on (as `INTERVAL` for a `Timestamp` column, in seconds for a `U64` one) |
/// | anything else (`Whole`, `Log`, a position outside the key) | none: a plain table |
pub fn chunking(spec: &OutputSpec) -> Option<(&'static str, String)> {
    let column = ddl::position_in_key(spec)?;
    match (spec.position, column.ty) {
        (Position::Block(_), ColumnType::U64) => Some((column.name, BLOCKS_PER_CHUNK.to_string())),
        (Position::TimeBucket(_, secs), ty) => {
            let days: u64 = match secs {
                0..3_600 => 7,
                3_600..86_400 => 30,
                _ => 365,
            };
            match ty {
                ColumnType::Timestamp => Some((column.name, format!("INTERVAL '{days} days'"))),
                ColumnType::U64 => Some((column.name, (days * 86_400).to_string())),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The statements creating the table of `spec`, idempotent and with its name unqualified
/// (they run inside the sink's schema, as the migrations): `CREATE TABLE IF NOT EXISTS` with
/// the output's columns in order (each [`ddl_type`], `NOT NULL`), `version BIGINT NOT NULL`
/// and the key as primary key; with `timescale`, then `create_hypertable` of [`chunking`]
/// (`if_not_exists`, `migrate_data`) when the table has one. Fails when the spec cannot name
/// a table ([`ddl::check_spec`]).
///
/// ```
/// use chainflow::engine::dataflow::{Column, ColumnType, OutputSpec, Position};
/// use chainflow::sinks::postgres::migrate::spec_ddl;
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
/// let ddl = spec_ddl(&spec, true).unwrap();
/// assert!(ddl[0].contains("    supply NUMERIC(78, 0) NOT NULL,\n"));
/// assert!(ddl[0].ends_with("    PRIMARY KEY (chain_id, block_number)\n)"));
/// assert!(ddl[1].starts_with("SELECT create_hypertable('supplies', 'block_number', chunk_time_interval => 216000"));
/// assert_eq!(spec_ddl(&spec, false).unwrap().len(), 1);
/// ```
pub fn spec_ddl(spec: &OutputSpec, timescale: bool) -> Result<Vec<String>, MigrateError> {
    ddl::check_spec(spec, &["version", "cf_deleted"]).map_err(|reason| {
        MigrateError(format!(
            "failed to derive the table of output '{}' from its spec: {reason}",
            spec.name
        ))
    })?;
    let name = spec.name;
    let mut lines: Vec<String> = spec
        .columns
        .iter()
        .map(|c| format!("    {} {} NOT NULL", c.name, ddl_type(c.ty)))
        .collect();
    lines.push("    version BIGINT NOT NULL".into());
    lines.push(format!("    PRIMARY KEY ({})", spec.key.join(", ")));
    let mut out = vec![format!(
        "CREATE TABLE IF NOT EXISTS {name} (\n{}\n)",
        lines.join(",\n")
    )];
    if timescale && let Some((column, interval)) = chunking(spec) {
        out.push(format!(
            "SELECT create_hypertable('{name}', '{column}', chunk_time_interval => {interval}, if_not_exists => TRUE, migrate_data => TRUE)"
        ));
    }
    Ok(out)
}

/// Splits a migration into the part that always runs and the TimescaleDB part (from the
/// first line that is exactly `-- @timescale`).
pub fn split(sql: &str) -> (&str, &str) {
    let mut at = 0;
    for line in sql.split_inclusive('\n') {
        if line.trim_end() == "-- @timescale" {
            return (&sql[..at], &sql[at..]);
        }
        at += line.len();
    }
    (sql, "")
}

/// What the server offers of TimescaleDB, read without changing anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// The extension is created in this database.
    Created {
        /// Its version.
        version: String,
        /// The schema holding its functions.
        schema: String,
    },
    /// The extension files are installed and the library is preloaded: `CREATE EXTENSION`
    /// works.
    Creatable {
        /// The version `CREATE EXTENSION` would install.
        version: String,
    },
    /// The extension files are installed but the library is not preloaded: `CREATE
    /// EXTENSION` would end the session with a FATAL error.
    NotPreloaded {
        /// The installed version.
        version: String,
    },
    /// No extension files.
    NotInstalled,
}

/// How to enable a TimescaleDB that is installed but not preloaded.
pub const PRELOAD_HINT: &str = "add it to shared_preload_libraries (shared_preload_libraries = 'timescaledb' in postgresql.conf, or ALTER SYSTEM SET shared_preload_libraries = 'timescaledb'), restart PostgreSQL, then run `chainflow migrate` again";

/// Reads what the server offers of TimescaleDB (no writes).
pub fn probe(client: &mut Client) -> Result<Availability, MigrateError> {
    let created = client
        .query_opt(
            "SELECT e.extversion, n.nspname::text FROM pg_extension e
             JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'timescaledb'",
            &[],
        )
        .map_err(db_err("reading pg_extension"))?;
    if let Some(row) = created {
        return Ok(Availability::Created {
            version: row.get(0),
            schema: row.get(1),
        });
    }
    let available = client
        .query_opt(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'",
            &[],
        )
        .map_err(db_err("reading pg_available_extensions"))?;
    let Some(row) = available else {
        return Ok(Availability::NotInstalled);
    };
    let version: String = row.get(0);
    Ok(if preloaded(client)? {
        Availability::Creatable { version }
    } else {
        Availability::NotPreloaded { version }
    })
}

/// Whether the timescaledb library is in `shared_preload_libraries`. Reading that setting
/// needs superuser or `pg_read_all_settings`; without them, whether the loader defined its
/// own setting (`timescaledb.disable_load`, defined only when it is preloaded) answers.
fn preloaded(client: &mut Client) -> Result<bool, MigrateError> {
    match client.query_one("SELECT current_setting('shared_preload_libraries')", &[]) {
        Ok(row) => Ok(preload_list_has(&row.get::<_, String>(0), "timescaledb")),
        Err(e) if e.code().is_some_and(|c| c.code() == "42501") => {
            let row = client
                .query_one(
                    "SELECT current_setting('timescaledb.disable_load', true) IS NOT NULL",
                    &[],
                )
                .map_err(db_err("reading timescaledb.disable_load"))?;
            Ok(row.get(0))
        }
        Err(e) => Err(db_err("reading shared_preload_libraries")(e)),
    }
}

/// Whether a `shared_preload_libraries` value (comma-separated, items optionally quoted, a
/// path or a versioned file name allowed) names `library`.
pub fn preload_list_has(list: &str, library: &str) -> bool {
    list.split(',').any(|item| {
        let item = item.trim().trim_matches('"').trim();
        let file = item.rsplit('/').next().unwrap_or(item);
        let stem = file.strip_suffix(".so").unwrap_or(file);
        stem == library
            || stem
                .strip_prefix(library)
                .is_some_and(|rest| rest.starts_with('-'))
    })
}

/// Decides the mode for new migrations: uses the extension where it is created, creates it
/// when the library is preloaded, and otherwise falls back to plain tables (`auto`) or
/// stops with the reason (`require`). Nothing is written unless the extension is created.
/// When the session dies anyway, `reconnect` replaces it.
pub fn detect(
    client: &mut Client,
    reconnect: Reconnect<'_>,
    setting: TimescaleSetting,
) -> Result<Mode, MigrateError> {
    if setting == TimescaleSetting::Off {
        return Ok(Mode::Plain(PlainReason::Off));
    }
    let plain = |why: PlainReason, explain: String| -> Result<Mode, MigrateError> {
        if setting == TimescaleSetting::Require {
            Err(MigrateError(format!(
                "timescale = \"require\" but {explain}; nothing was written"
            )))
        } else {
            Ok(Mode::Plain(why))
        }
    };
    match probe(client)? {
        Availability::Created { version, schema } => Ok(Mode::Timescale { version, schema }),
        Availability::NotInstalled => plain(
            PlainReason::NotInstalled,
            "the server has no timescaledb extension (not in pg_available_extensions): install TimescaleDB for this PostgreSQL".into(),
        ),
        Availability::NotPreloaded { version } => {
            if setting == TimescaleSetting::Auto {
                tracing::warn!(
                    "timescaledb {version} is installed on the server but not preloaded, so the tables are plain PostgreSQL tables; to use hypertables {PRELOAD_HINT}"
                );
            }
            plain(
                PlainReason::NotPreloaded,
                format!(
                    "timescaledb {version} is installed on the server but not preloaded: {PRELOAD_HINT}"
                ),
            )
        }
        Availability::Creatable { .. } => {
            // Where a plain CREATE EXTENSION puts it: the role's default search path.
            let created = client.batch_execute(
                "RESET search_path; CREATE EXTENSION IF NOT EXISTS timescaledb",
            );
            if let Err(e) = created {
                let reason = describe(&e);
                if !alive(client) {
                    tracing::warn!(error = %reason, "the server ended the session at CREATE EXTENSION timescaledb; reconnecting");
                    *client = reconnect().map_err(db_err("reconnecting to PostgreSQL"))?;
                }
                // A concurrent migrator may have created it meanwhile.
                if let Availability::Created { version, schema } = probe(client)? {
                    return Ok(Mode::Timescale { version, schema });
                }
                if setting == TimescaleSetting::Auto {
                    tracing::warn!(error = %reason, "timescaledb is available but CREATE EXTENSION failed; the tables are plain PostgreSQL tables");
                }
                return plain(
                    PlainReason::CreateFailed(reason.clone()),
                    format!("CREATE EXTENSION timescaledb failed: {reason}"),
                );
            }
            match probe(client)? {
                Availability::Created { version, schema } => {
                    tracing::info!(%version, %schema, "created the timescaledb extension");
                    Ok(Mode::Timescale { version, schema })
                }
                other => Err(MigrateError(format!(
                    "CREATE EXTENSION timescaledb succeeded but pg_extension does not list it ({other:?})"
                ))),
            }
        }
    }
}

/// Whether the session still answers (after an error that may have ended it).
fn alive(client: &mut Client) -> bool {
    !client.is_closed() && client.is_valid(std::time::Duration::from_secs(5)).is_ok()
}

/// Quotes an identifier read from the catalog (it may need quoting).
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Sets the session's search path to `schema` (creating it), then `extension` (the schema
/// of timescaledb's functions, when it is in use), then `public`.
pub fn enter_schema(
    client: &mut Client,
    schema: &str,
    extension: Option<&str>,
) -> Result<(), MigrateError> {
    check_identifier(schema)?;
    let extension = extension
        .filter(|e| *e != schema && *e != "public")
        .map(|e| format!("{}, ", quote_ident(e)))
        .unwrap_or_default();
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}, {extension}public"
        ))
        .map_err(db_err(&format!("entering schema {schema}")))
}

/// Refuses names that would need quoting (they end up in SQL text).
pub fn check_identifier(name: &str) -> Result<(), MigrateError> {
    if ddl::plain_identifier(name) {
        Ok(())
    } else {
        Err(MigrateError(format!(
            "'{name}' is not a plain lowercase SQL identifier (a-z, 0-9, _)"
        )))
    }
}

/// Applies pending migrations in `schema`; returns the versions applied (or converted to
/// hypertables) and the schema's mode.
///
/// When the server ends the session midway (a FATAL error, a terminated backend, a restart),
/// `reconnect` replaces it and the migration starts over once: each migration is one
/// transaction with its record, so the second pass applies exactly what the first did not.
pub fn migrate(
    client: &mut Client,
    reconnect: Reconnect<'_>,
    schema: &str,
    setting: TimescaleSetting,
) -> Result<(Vec<i32>, Mode), MigrateError> {
    check_identifier(schema)?;
    match migrate_once(client, reconnect, schema, setting) {
        Err(e) if !alive(client) => {
            tracing::warn!(error = %e, "the PostgreSQL session ended during the migration; reconnecting and starting over");
            *client = reconnect().map_err(db_err("reconnecting to PostgreSQL"))?;
            migrate_once(client, reconnect, schema, setting)
        }
        other => other,
    }
}

fn migrate_once(
    client: &mut Client,
    reconnect: Reconnect<'_>,
    schema: &str,
    setting: TimescaleSetting,
) -> Result<(Vec<i32>, Mode), MigrateError> {
    // Before anything is written: `require` stops here when the extension is unusable.
    let detected = detect(client, reconnect, setting)?;
    let extension = match &detected {
        Mode::Timescale { schema, .. } => Some(schema.clone()),
        Mode::Plain(_) => None,
    };
    enter_schema(client, schema, extension.as_deref())?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS chainflow_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                timescale BOOLEAN NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .map_err(db_err("creating chainflow_migrations"))?;
    let ts = detected.is_timescale();
    let mut applied = Vec::new();
    for m in migrations() {
        let mut tx = client
            .transaction()
            .map_err(db_err("starting a transaction"))?;
        // One migrator at a time; a second waits, then finds the migration applied.
        tx.batch_execute("SELECT pg_advisory_xact_lock(7244417)")
            .map_err(db_err("taking the migration lock"))?;
        let done: Option<bool> = tx
            .query_opt(
                "SELECT timescale FROM chainflow_migrations WHERE version = $1",
                &[&m.version],
            )
            .map_err(db_err("reading chainflow_migrations"))?
            .map(|r| r.get(0));
        let (always, timescale) = split(m.sql);
        match done {
            // Applied, and as hypertables if it could be.
            Some(was_ts) if was_ts || !ts => continue,
            // Applied with plain tables and the extension is usable now: convert.
            Some(_) => {
                tracing::info!(
                    migration = m.name,
                    "converting the tables of a plain-table migration to hypertables"
                );
                if !timescale.is_empty() {
                    tx.batch_execute(timescale).map_err(db_err(&format!(
                        "migration {} (timescale part, converting plain tables)",
                        m.name
                    )))?;
                }
                tx.execute(
                    "UPDATE chainflow_migrations SET timescale = true WHERE version = $1",
                    &[&m.version],
                )
                .map_err(db_err("recording the migration"))?;
            }
            None => {
                tx.batch_execute(always)
                    .map_err(db_err(&format!("migration {}", m.name)))?;
                if ts && !timescale.is_empty() {
                    tx.batch_execute(timescale)
                        .map_err(db_err(&format!("migration {} (timescale part)", m.name)))?;
                }
                tx.execute(
                    "INSERT INTO chainflow_migrations (version, name, timescale) VALUES ($1, $2, $3)",
                    &[&m.version, &m.name, &ts],
                )
                .map_err(db_err("recording the migration"))?;
            }
        }
        tx.commit()
            .map_err(db_err(&format!("committing migration {}", m.name)))?;
        applied.push(m.version);
    }
    let mode = schema_mode(client, setting)?;
    Ok((applied, mode))
}

/// Creates, in `schema` (created when missing), the table of every output of `specs` that
/// lacks one, from [`spec_ddl`] for `mode` (the mode [`migrate`] returned); returns the names
/// created, in order, and logs each. In TimescaleDB mode every spec table with a
/// [`chunking`] is (or becomes, rows kept) a hypertable, so a schema converted from plain
/// tables converts these too. Outputs whose table a numbered migration creates
/// ([`migration_tables`]) are left to it; run it after [`migrate`] and before
/// [`check_schema`]. One transaction under the migrations' lock; every spec is checked before
/// anything is written; a second run creates nothing. The session is left in `schema`.
pub fn create_from_specs(
    client: &mut Client,
    schema: &str,
    mode: &Mode,
    specs: &[OutputSpec],
) -> Result<Vec<String>, MigrateError> {
    check_identifier(schema)?;
    let handwritten = migration_tables();
    let timescale = mode.is_timescale();
    let mut planned: Vec<(&OutputSpec, Vec<String>)> = Vec::new();
    for spec in specs {
        if handwritten.contains(spec.name) || planned.iter().any(|(s, _)| s.name == spec.name) {
            continue;
        }
        planned.push((spec, spec_ddl(spec, timescale)?));
    }
    if planned.is_empty() {
        return Ok(Vec::new());
    }
    let extension = match mode {
        Mode::Timescale { schema, .. } => Some(schema.as_str()),
        Mode::Plain(_) => None,
    };
    enter_schema(client, schema, extension)?;
    let mut tx = client
        .transaction()
        .map_err(db_err("starting a transaction"))?;
    tx.batch_execute("SELECT pg_advisory_xact_lock(7244417)")
        .map_err(db_err("taking the migration lock"))?;
    let mut created = Vec::new();
    let mut converted = Vec::new();
    for (spec, statements) in planned {
        let name = spec.name;
        let existed = tx
            .query_opt(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2",
                &[&schema, &name],
            )
            .map_err(db_err(&format!("reading whether table {schema}.{name} exists")))?
            .is_some();
        let hypertable_before = timescale
            && existed
            && tx
                .query_opt(
                    "SELECT 1 FROM timescaledb_information.hypertables
                     WHERE hypertable_schema = $1 AND hypertable_name = $2",
                    &[&schema, &name],
                )
                .map_err(db_err(&format!(
                    "reading whether {schema}.{name} is a hypertable"
                )))?
                .is_some();
        for statement in &statements {
            tx.batch_execute(statement).map_err(db_err(&format!(
                "creating table {schema}.{name} from the spec of output '{name}'"
            )))?;
        }
        if !existed {
            created.push(name.to_string());
        } else if timescale && !hypertable_before && statements.len() > 1 {
            converted.push(name.to_string());
        }
    }
    tx.commit()
        .map_err(db_err("committing the tables of the output specs"))?;
    for table in &created {
        tracing::info!(%schema, table = %table, %mode, "created postgres table from the output's spec");
    }
    for table in &converted {
        tracing::info!(%schema, table = %table, "converted a table of an output's spec to a hypertable");
    }
    Ok(created)
}

/// The mode of a migrated schema (the session must be in it): TimescaleDB when its latest
/// migration ran with the extension, otherwise plain tables and why.
pub fn schema_mode(client: &mut Client, setting: TimescaleSetting) -> Result<Mode, MigrateError> {
    let hypertables = client
        .query_opt(
            "SELECT timescale FROM chainflow_migrations ORDER BY version DESC LIMIT 1",
            &[],
        )
        .map_err(db_err("reading chainflow_migrations"))?
        .is_some_and(|r| r.get::<_, bool>(0));
    let found = probe(client)?;
    Ok(match (hypertables, found) {
        (true, Availability::Created { version, schema }) => Mode::Timescale { version, schema },
        (true, other) => {
            return Err(MigrateError(format!(
                "the schema's tables are hypertables but the timescaledb extension is not usable in this database ({other:?})"
            )));
        }
        (false, _) if setting == TimescaleSetting::Off => Mode::Plain(PlainReason::Off),
        (false, Availability::NotInstalled) => Mode::Plain(PlainReason::NotInstalled),
        (false, Availability::NotPreloaded { .. }) => Mode::Plain(PlainReason::NotPreloaded),
        (false, _) => Mode::Plain(PlainReason::MigratedPlain),
    })
}

/// Checks that every output in `specs` has a table in `schema` with its columns (same
/// names, order and types) plus `version`, and that the progress table exists.
pub fn check_schema(
    client: &mut Client,
    schema: &str,
    specs: &[OutputSpec],
) -> Result<(), MigrateError> {
    check_identifier(schema)?;
    let mut tables: Vec<(String, Vec<(String, String)>)> = specs
        .iter()
        .map(|s| {
            let mut cols: Vec<(String, String)> = s
                .columns
                .iter()
                .map(|c| (c.name.to_string(), pg_type(c.ty).to_string()))
                .collect();
            cols.push(("version".into(), "bigint".into()));
            (s.name.to_string(), cols)
        })
        .collect();
    tables.push((
        "chainflow_progress".into(),
        vec![
            ("output".into(), "text".into()),
            ("upper_epoch".into(), "bigint".into()),
            ("finalized".into(), "jsonb".into()),
            ("committed_at".into(), "timestamp with time zone".into()),
        ],
    ));
    for (table, want) in tables {
        let rows = client
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                 WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                &[&schema, &table],
            )
            .map_err(db_err("reading information_schema.columns"))?;
        let have: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        if have.is_empty() {
            return Err(MigrateError(format!(
                "table {schema}.{table} does not exist (run `chainflow migrate --postgres ...`)"
            )));
        }
        for (i, (name, ty)) in want.iter().enumerate() {
            match have.iter().position(|(n, _)| n == name) {
                None => {
                    return Err(MigrateError(format!(
                        "table {schema}.{table} has no column '{name}' ({ty} expected)"
                    )));
                }
                Some(j) if have[j].1 != *ty => {
                    return Err(MigrateError(format!(
                        "column {schema}.{table}.{name} is {} but {ty} is expected",
                        have[j].1
                    )));
                }
                Some(j) if j != i => {
                    return Err(MigrateError(format!(
                        "column {schema}.{table}.{name} is at position {} but {} is expected",
                        j + 1,
                        i + 1
                    )));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dataflow::{Column, Dataflow};

    #[test]
    fn the_timescale_part_is_split_off() {
        let (a, t) = split(
            "-- see `-- @timescale` below\nCREATE x;\n-- @timescale\nSELECT create_hypertable();\n",
        );
        assert_eq!(a, "-- see `-- @timescale` below\nCREATE x;\n");
        assert!(t.contains("create_hypertable"));
        for m in migrations() {
            let (always, ts) = split(m.sql);
            for function in [
                "create_hypertable",
                "add_compression_policy",
                "set_integer_now_func",
            ] {
                assert!(!always.contains(function), "{}: {function}", m.name);
            }
            assert!(!ts.is_empty(), "{}", m.name);
        }
    }

    #[test]
    fn the_preload_list_is_read_like_the_server_reads_it() {
        for yes in [
            "timescaledb",
            "pg_stat_statements, timescaledb",
            "\"timescaledb\"",
            "timescaledb-2.28.3",
            "/usr/lib/postgresql/15/lib/timescaledb.so",
        ] {
            assert!(preload_list_has(yes, "timescaledb"), "{yes}");
        }
        for no in ["", "pg_stat_statements", "timescaledb_toolkit", "timescale"] {
            assert!(!preload_list_has(no, "timescaledb"), "{no}");
        }
    }

    #[test]
    fn every_mode_names_itself() {
        let ts = Mode::Timescale {
            version: "2.28.3".into(),
            schema: "public".into(),
        };
        assert!(ts.to_string().contains("TimescaleDB 2.28.3"));
        assert!(ts.to_string().contains("schema public"));
        assert!(
            Mode::Plain(PlainReason::NotPreloaded)
                .to_string()
                .contains("not in shared_preload_libraries")
        );
        assert!(Mode::Plain(PlainReason::Off).to_string().contains("off"));
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

    /// `text` with every run of whitespace made one space.
    fn squeeze(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn a_spec_table_has_every_type_and_its_key_in_key_order() {
        let spec = test_spec(
            &["block_number", "chain_id"],
            Position::Block("block_number"),
        );
        let ddl = spec_ddl(&spec, false).unwrap();
        assert_eq!(
            ddl,
            [
                "CREATE TABLE IF NOT EXISTS things (\n    chain_id BIGINT NOT NULL,\n    \
              block_number BIGINT NOT NULL,\n    block_hash TEXT NOT NULL,\n    \
              miner TEXT NOT NULL,\n    at TIMESTAMPTZ NOT NULL,\n    day BIGINT NOT NULL,\n    \
              fee NUMERIC(39, 0) NOT NULL,\n    supply NUMERIC(78, 0) NOT NULL,\n    \
              note TEXT NOT NULL,\n    version BIGINT NOT NULL,\n    \
              PRIMARY KEY (block_number, chain_id)\n)"
            ]
        );
        let ts = spec_ddl(&spec, true).unwrap();
        assert_eq!(ts.len(), 2);
        assert_eq!(
            ts[1],
            "SELECT create_hypertable('things', 'block_number', chunk_time_interval => 216000, if_not_exists => TRUE, migrate_data => TRUE)"
        );
    }

    #[test]
    fn the_hypertable_follows_the_position_and_uses_key_columns_only() {
        /// Key, position, and the hypertable's column and chunk interval.
        type Case = (
            &'static [&'static str],
            Position,
            Option<(&'static str, &'static str)>,
        );
        let cases: [Case; 10] = [
            (
                &["chain_id", "block_number"],
                Position::Block("block_number"),
                Some(("block_number", "216000")),
            ),
            (
                &["chain_id", "block_hash"],
                Position::Block("block_number"),
                None,
            ),
            (&["chain_id", "note"], Position::Block("note"), None),
            (
                &["chain_id", "at"],
                Position::TimeBucket("at", 60),
                Some(("at", "INTERVAL '7 days'")),
            ),
            (
                &["chain_id", "at"],
                Position::TimeBucket("at", 3_600),
                Some(("at", "INTERVAL '30 days'")),
            ),
            (
                &["chain_id", "at"],
                Position::TimeBucket("at", 86_400),
                Some(("at", "INTERVAL '365 days'")),
            ),
            (
                &["chain_id", "day"],
                Position::TimeBucket("day", 86_400),
                Some(("day", "31536000")),
            ),
            (
                &["chain_id", "block_hash"],
                Position::TimeBucket("at", 60),
                None,
            ),
            (&["chain_id", "block_number"], Position::Whole, None),
            (&["chain_id", "block_number"], Position::Log, None),
        ];
        for (key, position, want) in cases {
            let spec = test_spec(key, position);
            let got = chunking(&spec);
            assert_eq!(
                got.as_ref().map(|(c, i)| (*c, i.as_str())),
                want,
                "{key:?} {position:?}"
            );
            assert_eq!(
                spec_ddl(&spec, true).unwrap().len(),
                1 + usize::from(want.is_some())
            );
        }
    }

    #[test]
    fn a_spec_without_a_table_is_refused_naming_the_output() {
        let spec = test_spec(&["nope"], Position::Whole);
        let err = spec_ddl(&spec, true).unwrap_err().to_string();
        assert_eq!(
            err,
            "failed to derive the table of output 'things' from its spec: key column 'nope' is not a column of the output"
        );
        const CLASH: &[Column] = &[Column::new("cf_deleted", ColumnType::U64, "")];
        let clash = OutputSpec {
            columns: CLASH,
            key: &["cf_deleted"],
            ..spec
        };
        assert!(
            spec_ddl(&clash, false)
                .unwrap_err()
                .to_string()
                .contains("'cf_deleted'")
        );
    }

    /// Every registered output, derived from its spec, is the very table of its migration;
    /// time-bucketed outputs get the chunks of their migration too.
    #[test]
    fn spec_tables_of_the_registered_outputs_match_the_migrations() {
        let owned = migration_tables();
        assert!(owned.contains("chainflow_progress"));
        let all: String = migrations().iter().map(|m| m.sql).collect();
        // The outputs a migration creates (the others' tables come from their specs only).
        for spec in crate::dataflows::registry()
            .iter()
            .flat_map(|d| d.outputs())
            .filter(|s| owned.contains(s.name))
        {
            let ddl = spec_ddl(&spec, true).unwrap();
            assert!(
                squeeze(&all).contains(&format!("{};", squeeze(&ddl[0]))),
                "{}: {}",
                spec.name,
                ddl[0]
            );
            if matches!(spec.position, Position::TimeBucket(..)) {
                assert!(all.contains(&format!("{};", ddl[1])), "{}", ddl[1]);
            }
        }
        // The gas_fees block table, too.
        let blocks = crate::dataflows::gas_fees::GasFees.outputs()[0];
        assert!(all.contains(&format!("{};", spec_ddl(&blocks, true).unwrap()[1])));
    }

    #[test]
    fn identifiers_are_plain() {
        assert!(check_identifier("cf_test_1").is_ok());
        for bad in ["", "A", "x;drop", "1x", "a-b"] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }
}
