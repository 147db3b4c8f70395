//! Forward-only migrations for PostgreSQL and TimescaleDB (`migrations/timescale/`).
//!
//! Each migration runs in one transaction with its row in `chainflow_migrations`, under a
//! transaction-scoped advisory lock, inside the sink's schema (`search_path = schema,
//! public`). The part of a file after `-- @timescale` runs only in TimescaleDB mode: when
//! the `timescaledb` extension is installed in the database, or available and creatable
//! (unless `timescale = "off"`). [`check_schema`] compares the tables with the outputs before
//! anything is written and names the table and column that differ.

use postgres::Client;
use serde::{Deserialize, Serialize};

use super::encode::pg_type;
use crate::engine::dataflow::OutputSpec;

/// Errors of migrating or checking a schema.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MigrateError(pub String);

fn db_err(what: &str) -> impl Fn(postgres::Error) -> MigrateError + '_ {
    move |e| {
        let detail = e
            .as_db_error()
            .map(|d| format!("{} ({})", d.message(), d.code().code()))
            .unwrap_or_else(|| e.to_string());
        MigrateError(format!("{what}: {detail}"))
    }
}

/// Whether to use TimescaleDB (`[sinks.postgres] timescale`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimescaleSetting {
    /// Use it when installed or creatable; plain tables otherwise.
    #[default]
    Auto,
    /// Plain tables even when the extension is there.
    Off,
    /// Fail when the extension cannot be used.
    Require,
}

/// The mode the sink runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Hypertables with compression; the extension's version.
    Timescale(String),
    /// Plain PostgreSQL tables.
    Plain,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Timescale(v) => write!(f, "TimescaleDB {v} (hypertables, compression)"),
            Mode::Plain => write!(f, "plain PostgreSQL tables (no timescaledb extension)"),
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

/// Decides the mode: uses the installed extension, or creates it when available.
pub fn detect(client: &mut Client, setting: TimescaleSetting) -> Result<Mode, MigrateError> {
    if setting == TimescaleSetting::Off {
        return Ok(Mode::Plain);
    }
    let installed = client
        .query_opt(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
            &[],
        )
        .map_err(db_err("reading pg_extension"))?;
    if let Some(row) = installed {
        return Ok(Mode::Timescale(row.get(0)));
    }
    let available = client
        .query_opt(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'",
            &[],
        )
        .map_err(db_err("reading pg_available_extensions"))?;
    let created = match available {
        Some(_) => match client.batch_execute("CREATE EXTENSION IF NOT EXISTS timescaledb") {
            Ok(()) => client
                .query_opt(
                    "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
                    &[],
                )
                .map_err(db_err("reading pg_extension"))?
                .map(|r| r.get::<_, String>(0)),
            Err(e) => {
                tracing::warn!(error = %e, "timescaledb is available but cannot be created here");
                None
            }
        },
        None => None,
    };
    match (created, setting) {
        (Some(v), _) => Ok(Mode::Timescale(v)),
        (None, TimescaleSetting::Require) => Err(MigrateError(
            "timescale = \"require\" but the timescaledb extension is neither installed nor creatable in this database".into(),
        )),
        (None, _) => Ok(Mode::Plain),
    }
}

/// Sets the session's search path to `schema` (creating it) and then `public`.
pub fn enter_schema(client: &mut Client, schema: &str) -> Result<(), MigrateError> {
    check_identifier(schema)?;
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}, public"
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

/// Applies pending migrations in `schema`; returns the versions applied and the mode.
pub fn migrate(
    client: &mut Client,
    schema: &str,
    setting: TimescaleSetting,
) -> Result<(Vec<i32>, Mode), MigrateError> {
    enter_schema(client, schema)?;
    let mode = detect(client, setting)?;
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
    let mut applied = Vec::new();
    for m in migrations() {
        let mut tx = client
            .transaction()
            .map_err(db_err("starting a transaction"))?;
        // One migrator at a time; a second waits, then finds the migration applied.
        tx.batch_execute("SELECT pg_advisory_xact_lock(7244417)")
            .map_err(db_err("taking the migration lock"))?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM chainflow_migrations WHERE version = $1",
                &[&m.version],
            )
            .map_err(db_err("reading chainflow_migrations"))?;
        if done.is_some() {
            continue;
        }
        let (always, timescale) = split(m.sql);
        tx.batch_execute(always)
            .map_err(db_err(&format!("migration {}", m.name)))?;
        let ts = matches!(mode, Mode::Timescale(_));
        if ts && !timescale.is_empty() {
            tx.batch_execute(timescale)
                .map_err(db_err(&format!("migration {} (timescale part)", m.name)))?;
        }
        tx.execute(
            "INSERT INTO chainflow_migrations (version, name, timescale) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &ts],
        )
        .map_err(db_err("recording the migration"))?;
        tx.commit()
            .map_err(db_err(&format!("committing migration {}", m.name)))?;
        applied.push(m.version);
    }
    Ok((applied, mode))
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
            assert!(!always.contains("create_hypertable"), "{}", m.name);
            assert!(always.contains("CREATE TABLE"), "{}", m.name);
            assert!(ts.contains("create_hypertable"), "{}", m.name);
        }
    }

    #[test]
    fn identifiers_are_plain() {
        assert!(check_identifier("cf_test_1").is_ok());
        for bad in ["", "A", "x;drop", "1x", "a-b"] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }
}
