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

use postgres::Client;
use serde::{Deserialize, Serialize};

use super::encode::pg_type;
use crate::engine::dataflow::OutputSpec;

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
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
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

    #[test]
    fn identifiers_are_plain() {
        assert!(check_identifier("cf_test_1").is_ok());
        for bad in ["", "A", "x;drop", "1x", "a-b"] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }
}
