//! A real PostgreSQL: a fresh, migrated schema per test and its tables read back as values.

use std::collections::BTreeMap;

use chainflow::engine::dataflow::{OutputSpec, Value};
use chainflow::sinks::postgres::PostgresConfig;
use chainflow::sinks::postgres::encode::{decode_row, select_list};
use chainflow::sinks::postgres::migrate::{Mode, TimescaleSetting, migrate};

/// The server's connection string: `CHAINFLOW_TEST_POSTGRES`, else what `make services`
/// found (`CHAINFLOW_POSTGRES_URL` in `.services/env`), else the local default.
pub fn url() -> String {
    super::services::service_url(
        &["CHAINFLOW_TEST_POSTGRES"],
        "CHAINFLOW_POSTGRES_URL",
        || PostgresConfig::default().url,
    )
}

/// A client on the test server.
pub fn client() -> postgres::Client {
    postgres::Client::connect(&url(), postgres::NoTls).unwrap()
}

/// A fresh schema named after the test, migrated (plain tables unless `timescale`); a config
/// that flushes quickly.
pub fn schema(test: &str) -> PostgresConfig {
    schema_with(test, TimescaleSetting::Off).0
}

/// Like [`schema`] with a TimescaleDB setting; returns the mode the migration ran in.
pub fn schema_with(test: &str, timescale: TimescaleSetting) -> (PostgresConfig, Mode) {
    let name = format!("cf_{test}");
    let mut c = client();
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
        .unwrap();
    let reconnect = || postgres::Client::connect(&url(), postgres::NoTls);
    let (applied, mode) = migrate(&mut c, &reconnect, &name, timescale).unwrap();
    assert!(!applied.is_empty());
    let mut config = PostgresConfig {
        url: url(),
        schema: name,
        timescale,
        ..PostgresConfig::default()
    };
    config.delivery.batch_ms = 20;
    (config, mode)
}

/// The rows of `spec`'s table, as values (each with its count: a key twice would show).
pub fn rows(config: &PostgresConfig, spec: &OutputSpec) -> BTreeMap<Vec<Value>, isize> {
    let sql = format!(
        "SELECT {} FROM {}.{}",
        select_list(spec),
        config.schema,
        spec.name
    );
    let mut out = BTreeMap::new();
    let mut c = postgres::Client::connect(&config.url, postgres::NoTls).unwrap();
    for row in c.query(&sql, &[]).unwrap() {
        let texts: Vec<String> = (0..spec.columns.len()).map(|i| row.get(i)).collect();
        *out.entry(decode_row(spec, &texts).unwrap()).or_insert(0) += 1;
    }
    out
}

/// The `[sinks.postgres]` table of a run writing where `config` points, flushing every 50 ms.
pub fn sink_toml(config: &PostgresConfig) -> String {
    format!(
        "[sinks.postgres]\nurl = \"{}\"\nschema = \"{}\"\nbatch_ms = 50\n",
        config.url, config.schema
    )
}

/// One number from `sql`.
pub fn number(sql: &str) -> i64 {
    client().query_one(sql, &[]).unwrap().get(0)
}

/// The stored progress rows `(key, upper_epoch)` of the schema (keys `<output>` or
/// `<output>#<writer>/<writers>`).
pub fn progress(config: &PostgresConfig) -> BTreeMap<String, i64> {
    client()
        .query(
            &format!(
                "SELECT output, upper_epoch FROM {}.chainflow_progress",
                config.schema
            ),
            &[],
        )
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}
