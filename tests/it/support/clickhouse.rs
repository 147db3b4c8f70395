//! A plain HTTP client for the ClickHouse the tests use, and a database per test.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use chainflow::engine::dataflow::{ColumnType, OutputSpec, Value};
use chainflow::sinks::clickhouse::ClickHouseConfig;

/// The server's `host:port`.
pub fn addr() -> String {
    let url = std::env::var("CHAINFLOW_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// Runs `sql`; returns the body, panics with the server's message on an error.
pub fn query(sql: &str) -> String {
    let addr = addr();
    let mut s = TcpStream::connect(&addr).expect("clickhouse reachable (make services)");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        sql.len()
    )
    .unwrap();
    s.write_all(sql.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = super::anvil::dechunk(&body).unwrap();
    }
    let body = String::from_utf8_lossy(&body).to_string();
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "clickhouse: {sql}\n{body}"
    );
    body
}

/// A fresh, migrated database named after the test; a config that flushes quickly.
pub fn database(test: &str) -> ClickHouseConfig {
    let name = format!("cf_{test}");
    query(&format!("DROP DATABASE IF EXISTS {name}"));
    let mut config = ClickHouseConfig {
        database: name.clone(),
        ..ClickHouseConfig::default()
    };
    config.delivery.batch_ms = 20;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let applied = rt
        .block_on(chainflow::sinks::clickhouse::migrate::migrate(
            &config.client(),
            &name,
        ))
        .unwrap();
    assert!(!applied.is_empty());
    config
}

/// The current rows of `spec`'s `_current` view, as values.
pub fn current(config: &ClickHouseConfig, spec: &OutputSpec) -> BTreeMap<Vec<Value>, isize> {
    let cols: Vec<String> = spec
        .columns
        .iter()
        .map(|c| match c.ty {
            ColumnType::Timestamp => format!("toUnixTimestamp({})", c.name),
            ColumnType::Wei | ColumnType::U256 => format!("toString({})", c.name),
            _ => c.name.to_string(),
        })
        .collect();
    let text = query(&format!(
        "SELECT {} FROM {}.{}_current FORMAT TabSeparated",
        cols.join(", "),
        config.database,
        spec.name
    ));
    let mut rows = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let row: Vec<Value> = spec
            .columns
            .iter()
            .zip(line.split('\t'))
            .map(|(c, v)| match c.ty {
                ColumnType::U64 | ColumnType::Timestamp => Value::U64(v.parse().unwrap()),
                ColumnType::Wei => Value::Wei(v.parse().unwrap()),
                ColumnType::U256 => {
                    Value::U256(chainflow::model::U256::from_str_radix(v, 10).unwrap())
                }
                ColumnType::Hash => Value::Hash(v.parse().unwrap()),
                ColumnType::Address => Value::Address(v.parse().unwrap()),
                _ => Value::Text(v.to_string()),
            })
            .collect();
        *rows.entry(row).or_insert(0) += 1;
    }
    rows
}

/// Rows stored in the table of `spec` (all versions).
pub fn stored(config: &ClickHouseConfig, spec: &OutputSpec) -> u64 {
    query(&format!(
        "SELECT count() FROM {}.{}",
        config.database, spec.name
    ))
    .trim()
    .parse()
    .unwrap()
}
