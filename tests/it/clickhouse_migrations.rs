//! ClickHouse migrations against a real server (`CHAINFLOW_CLICKHOUSE_URL`, default
//! http://127.0.0.1:8123, started by `make services`) and against chdb (current ClickHouse
//! in-process, through `python3` and `tests/it/chdb_migrations.py`). Each server test works in
//! its own database, named after the test and dropped first.

use std::collections::BTreeMap;
use std::process::Command;

use chainflow::dataflows::gas_fees::{BLOCKS, DAYS, HOURS, MINUTES};
use chainflow::engine::dataflow::{ColumnType, OutputSpec};
use chainflow::sinks::clickhouse::migrate::{
    self, CURRENT_VIEW_SUFFIX, MIGRATIONS_TABLE, MigrateError, PROGRESS_COLUMNS, PROGRESS_TABLE,
    ServerVersion,
};

fn url() -> String {
    std::env::var("CHAINFLOW_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// A client without a database, validation off (ClickHouse 18.16 needs it).
fn client() -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(url())
        .with_user("default")
        .with_validation(false)
}

/// Drops and returns the database of a test.
async fn fresh_database(client: &clickhouse::Client, name: &str) -> String {
    let db = format!("chainflow_it_{name}");
    client
        .query_raw(&format!("DROP DATABASE IF EXISTS {db}"))
        .execute()
        .await
        .unwrap_or_else(|e| panic!("dropping {db} on {} (make services?): {e}", url()));
    db
}

/// Every registered dataflow's outputs: the migrations create a table (and view) for each.
/// The registered outputs whose tables the numbered migrations create (the others' come
/// from their specs: `spec_tables.rs`).
fn specs() -> Vec<OutputSpec> {
    let handwritten = migrate::migration_tables();
    chainflow::dataflows::registry()
        .iter()
        .flat_map(|d| d.outputs())
        .filter(|s| handwritten.contains(s.name))
        .collect()
}

#[derive(clickhouse::Row, serde::Deserialize, Debug)]
struct TableRow {
    name: String,
    engine: String,
}

#[derive(clickhouse::Row, serde::Deserialize, Debug)]
struct ColumnRow {
    table: String,
    name: String,
    #[serde(rename = "type")]
    ty: String,
}

/// `(name, type)` of the columns of every table of `db`, in table order (18.16's
/// `system.columns` has no `position` and lists columns in table order).
async fn columns(client: &clickhouse::Client, db: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for r in client
        .query("SELECT table, name, type FROM system.columns WHERE database = ?")
        .bind(db)
        .fetch_all::<ColumnRow>()
        .await
        .unwrap()
    {
        out.entry(r.table).or_default().push((r.name, r.ty));
    }
    out
}

fn pairs(columns: &[(&str, &str)]) -> Vec<(String, String)> {
    columns
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

#[tokio::test]
async fn migrations_create_the_output_schema_once() {
    let client = client();
    let db = fresh_database(&client, "migrations_create_the_output_schema_once").await;
    let server = migrate::server_version(&client).await.unwrap();

    let applied = migrate::migrate(&client, &db).await.unwrap();
    let all: Vec<u32> = migrate::migrations().iter().map(|m| m.version).collect();
    assert_eq!(applied, all);
    assert!(applied.contains(&1));

    let tables: BTreeMap<String, String> = client
        .query("SELECT name, engine FROM system.tables WHERE database = ?")
        .bind(db.as_str())
        .fetch_all::<TableRow>()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.engine))
        .collect();
    let mut expected = BTreeMap::from([
        (MIGRATIONS_TABLE.to_string(), "MergeTree".to_string()),
        (PROGRESS_TABLE.to_string(), "ReplacingMergeTree".to_string()),
    ]);
    for spec in specs() {
        expected.insert(spec.name.to_string(), "ReplacingMergeTree".into());
        expected.insert(format!("{}{CURRENT_VIEW_SUFFIX}", spec.name), "View".into());
    }
    assert_eq!(tables, expected);

    let found = columns(&client, &db).await;
    for spec in specs() {
        let names: Vec<&str> = found[spec.name].iter().map(|(n, _)| n.as_str()).collect();
        let mut want: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
        let view_names: Vec<&str> = found[&format!("{}{CURRENT_VIEW_SUFFIX}", spec.name)]
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(view_names, want, "view of {}", spec.name);
        want.extend(["version", "deleted"]);
        assert_eq!(names, want, "{}", spec.name);
        assert_eq!(found[spec.name], migrate::table_columns(&spec, server));
        for (column, (_, ty)) in spec.columns.iter().zip(&found[spec.name]) {
            let expected = match column.ty {
                ColumnType::U64 => "UInt64",
                ColumnType::Timestamp => "DateTime('UTC')",
                ColumnType::Hash | ColumnType::Address | ColumnType::Text => "String",
                ColumnType::Wei if server.has_uint128() => "UInt128",
                ColumnType::Wei => "String",
                other => panic!("no output has a {other:?} column yet"),
            };
            assert_eq!(ty, expected, "{}.{}", spec.name, column.name);
        }
    }
    assert_eq!(found[PROGRESS_TABLE], pairs(&PROGRESS_COLUMNS));

    assert_eq!(
        migrate::migrate(&client, &db).await.unwrap(),
        Vec::<u32>::new()
    );
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Count {
        n: u64,
    }
    let recorded = client
        .query(&format!("SELECT count() AS n FROM {db}.{MIGRATIONS_TABLE}"))
        .fetch_one::<Count>()
        .await
        .unwrap();
    assert_eq!(recorded.n, all.len() as u64, "each migration recorded once");
    migrate::check_schema(&client, &db, &specs()).await.unwrap();
}

#[tokio::test]
async fn check_schema_names_a_dropped_or_retyped_column() {
    let client = client();
    let db = fresh_database(&client, "check_schema_names_a_dropped_or_retyped_column").await;
    migrate::migrate(&client, &db).await.unwrap();
    migrate::check_schema(&client, &db, &specs()).await.unwrap();

    client
        .query_raw(&format!(
            "ALTER TABLE {db}.{MINUTES} DROP COLUMN blob_count"
        ))
        .execute()
        .await
        .unwrap();
    let err = migrate::check_schema(&client, &db, &specs())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MigrateError::MissingColumn { table, column, .. }
            if table == MINUTES && column == "blob_count"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("'blob_count'") && text.contains(MINUTES),
        "{text}"
    );

    client
        .query_raw(&format!(
            "ALTER TABLE {db}.{MINUTES} ADD COLUMN blob_count UInt64 AFTER blocks"
        ))
        .execute()
        .await
        .unwrap();
    let err = migrate::check_schema(&client, &db, &specs())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MigrateError::ColumnOrder { table, .. } if table == MINUTES),
        "{err:?}"
    );

    client
        .query_raw(&format!(
            "ALTER TABLE {db}.{BLOCKS} MODIFY COLUMN gas_used UInt32"
        ))
        .execute()
        .await
        .unwrap();
    let err = migrate::check_schema(&client, &db, &[specs()[0]])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MigrateError::WrongType { table, column, expected, found, .. }
            if table == BLOCKS && column == "gas_used" && expected == "UInt64" && found == "UInt32"),
        "{err:?}"
    );

    client
        .query_raw(&format!("DROP TABLE {db}.{BLOCKS}{CURRENT_VIEW_SUFFIX}"))
        .execute()
        .await
        .unwrap();
    client
        .query_raw(&format!(
            "ALTER TABLE {db}.{BLOCKS} MODIFY COLUMN gas_used UInt64"
        ))
        .execute()
        .await
        .unwrap();
    let err = migrate::check_schema(&client, &db, &[specs()[0]])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MigrateError::MissingTable { table, .. }
            if *table == format!("{BLOCKS}{CURRENT_VIEW_SUFFIX}")),
        "{err:?}"
    );
}

/// A wei literal for `INSERT ... VALUES` on `server` (quoted where wei is a `String`).
fn wei(server: ServerVersion, v: u128) -> String {
    if server.has_uint128() {
        v.to_string()
    } else {
        format!("'{v}'")
    }
}

/// One `gas_fees_blocks` row: number, gas used, priority fee sum, version, deleted.
fn block_row(
    server: ServerVersion,
    number: u64,
    gas: u64,
    fee: u128,
    version: u64,
    deleted: u8,
) -> String {
    let w = |v| wei(server, v);
    format!(
        "(1, {number}, '0x{number:064x}', '0x{:064x}', {}, {gas}, 30000000, {}, 3, {}, {}, {}, 0, 0, 0, {}, {version}, {deleted})",
        number.saturating_sub(1),
        1_700_000_000 + number * 12,
        w(7),
        w(fee),
        w(1),
        w(2),
        w(1),
    )
}

#[tokio::test]
async fn current_views_show_exactly_the_current_state() {
    let client = client();
    let db = fresh_database(&client, "current_views_show_exactly_the_current_state").await;
    migrate::migrate(&client, &db).await.unwrap();
    let server = migrate::server_version(&client).await.unwrap();
    let s = server;

    // Every insert is its own part: nothing is merged, FINAL alone gives the current state.
    for rows in [
        // key 100: inserted, then changed at epoch 2 (with the largest u128).
        vec![block_row(s, 100, 10, 5, 1, 0)],
        vec![block_row(s, 100, 20, u128::MAX, 2, 0)],
        // key 101: inserted, then deleted at epoch 3 (a tombstone).
        vec![block_row(s, 101, 11, 6, 1, 0)],
        vec![block_row(s, 101, 11, 6, 3, 1)],
        // key 102: the newer version arrives first and still wins.
        vec![block_row(s, 102, 42, 9, 5, 0)],
        vec![block_row(s, 102, 41, 8, 4, 0)],
        // key 103: deleted at epoch 2, inserted again at epoch 4.
        vec![block_row(s, 103, 1, 1, 1, 0), block_row(s, 103, 1, 1, 2, 1)],
        vec![block_row(s, 103, 33, 3, 4, 0)],
    ] {
        client
            .query_raw(&format!(
                "INSERT INTO {db}.{BLOCKS} VALUES {}",
                rows.join(", ")
            ))
            .execute()
            .await
            .unwrap();
    }

    #[derive(clickhouse::Row, serde::Deserialize, Debug, PartialEq)]
    struct Current {
        block_number: u64,
        gas_used: u64,
        fee: String,
        block_hash: String,
        ts: u32,
    }
    let current = client
        .query(&format!(
            "SELECT block_number, gas_used, toString(priority_fee_sum) AS fee, block_hash, \
             toUInt32(timestamp) AS ts FROM {db}.{BLOCKS}{CURRENT_VIEW_SUFFIX} ORDER BY block_number"
        ))
        .fetch_all::<Current>()
        .await
        .unwrap();
    let want = |n: u64, gas: u64, fee: u128| Current {
        block_number: n,
        gas_used: gas,
        fee: fee.to_string(),
        block_hash: format!("0x{n:064x}"),
        ts: (1_700_000_000 + n * 12) as u32,
    };
    assert_eq!(
        current,
        vec![want(100, 20, u128::MAX), want(102, 42, 9), want(103, 33, 3)]
    );

    // Minutes: a change and a tombstone, in separate inserts.
    let minute = |m: u64, blocks: u64, version: u64, deleted: u8| {
        let w = |v| wei(s, v);
        format!(
            "(1, {m}, {blocks}, 0, 0, 0, {}, {}, {}, {}, 0, 0, {}, {}, {version}, {deleted})",
            w(0),
            w(1),
            w(2),
            w(1),
            w(0),
            w(0)
        )
    };
    for row in [
        minute(1_700_000_040, 1, 1, 0),
        minute(1_700_000_040, 5, 2, 0),
        minute(1_700_000_100, 2, 1, 0),
        minute(1_700_000_100, 2, 2, 1),
    ] {
        client
            .query_raw(&format!("INSERT INTO {db}.{MINUTES} VALUES {row}"))
            .execute()
            .await
            .unwrap();
    }
    #[derive(clickhouse::Row, serde::Deserialize, Debug, PartialEq)]
    struct MinuteNow {
        minute: u32,
        blocks: u64,
    }
    let minutes = client
        .query(&format!(
            "SELECT toUInt32(minute) AS minute, blocks FROM {db}.{MINUTES}{CURRENT_VIEW_SUFFIX} \
             ORDER BY minute"
        ))
        .fetch_all::<MinuteNow>()
        .await
        .unwrap();
    assert_eq!(
        minutes,
        vec![MinuteNow {
            minute: 1_700_000_040,
            blocks: 5
        }]
    );

    // Hours and days: a change (with the largest u128 average), a tombstone and a key deleted
    // then inserted again, each version its own insert; buckets across a month and a year.
    let bucket = |start: u64, blocks: u64, avg: u128, version: u64, deleted: u8| {
        let w = |v| wei(s, v);
        format!(
            "(1, {start}, {blocks}, 2, 3, 4, {}, {}, {}, {}, 5, 6, {version}, {deleted})",
            w(10),
            w(1),
            w(u128::MAX),
            w(avg),
        )
    };
    let (hour, next_year) = (1_767_222_000, 1_767_225_600); // 2025-12-31 23:00, 2026-01-01
    for (table, start) in [
        (HOURS, hour),
        (HOURS, next_year),
        (DAYS, next_year - 86_400),
    ] {
        for row in [
            bucket(start, 1, 7, 1, 0),
            bucket(start, 300, u128::MAX, 3, 0),
            bucket(start, 300, u128::MAX, 2, 0),
        ] {
            client
                .query_raw(&format!("INSERT INTO {db}.{table} VALUES {row}"))
                .execute()
                .await
                .unwrap();
        }
    }
    for row in [
        bucket(next_year, 9, 9, 1, 0),
        bucket(next_year, 9, 9, 2, 1),
        bucket(next_year + 86_400, 4, 4, 1, 0),
        bucket(next_year + 86_400, 4, 4, 2, 1),
        bucket(next_year + 86_400, 5, 5, 3, 0),
    ] {
        client
            .query_raw(&format!("INSERT INTO {db}.{DAYS} VALUES {row}"))
            .execute()
            .await
            .unwrap();
    }
    #[derive(clickhouse::Row, serde::Deserialize, Debug, PartialEq)]
    struct BucketNow {
        start: u32,
        blocks: u64,
        avg: String,
    }
    let now = |table: &'static str| {
        client
            .query(&format!(
                "SELECT toUInt32(bucket_start) AS start, blocks, toString(base_fee_avg) AS avg \
                 FROM {db}.{table}{CURRENT_VIEW_SUFFIX} ORDER BY start"
            ))
            .fetch_all::<BucketNow>()
    };
    let want = |start: u64, blocks: u64, avg: u128| BucketNow {
        start: start as u32,
        blocks,
        avg: avg.to_string(),
    };
    assert_eq!(
        now(HOURS).await.unwrap(),
        vec![want(hour, 300, u128::MAX), want(next_year, 300, u128::MAX)]
    );
    assert_eq!(
        now(DAYS).await.unwrap(),
        vec![
            want(next_year - 86_400, 300, u128::MAX),
            want(next_year + 86_400, 5, 5)
        ]
    );
}

/// Runs the chdb helper; fails the test when python3 or chdb is missing.
fn chdb(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/chdb_migrations.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("python3 is required for the chdb test (make services): {e}"));
    assert!(
        out.status.success(),
        "chdb helper {args:?} failed (python3 with chdb is required: make services):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What chdb holds after [`chdb_apply`]: per table its engine, its partition and sorting
/// keys and its columns `(name, type, codec)`.
#[derive(serde::Deserialize)]
struct ChdbSchema {
    tables: BTreeMap<String, String>,
    keys: BTreeMap<String, (String, String)>,
    columns: BTreeMap<String, Vec<(String, String, String)>>,
}

impl ChdbSchema {
    /// `(name, type)` of the columns of `table`, in order.
    fn name_type(&self, table: &str) -> Vec<(String, String)> {
        self.columns[table]
            .iter()
            .map(|(n, t, _)| (n.clone(), t.clone()))
            .collect()
    }
}

/// Runs `statements` in order in a fresh chdb session; the schema they leave.
fn chdb_apply(statements: &[String]) -> ChdbSchema {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("statements.json");
    std::fs::write(&file, serde_json::to_string(statements).unwrap()).unwrap();
    let session = dir.path().join("session");
    let out = chdb(&["apply", file.to_str().unwrap(), session.to_str().unwrap()]);
    serde_json::from_str(&out).unwrap()
}

#[test]
fn chdb_applies_every_migration_rendered_for_current_clickhouse() {
    let version_text = chdb(&["version"]);
    let server = ServerVersion::parse(&version_text).unwrap();
    assert!(
        server.has_codecs() && server.has_uint128(),
        "chdb runs a current ClickHouse, got {version_text}"
    );

    let statements: Vec<String> = migrate::migrations()
        .iter()
        .flat_map(|m| migrate::statements(&migrate::render(m.sql, server)))
        .collect();
    let schema = chdb_apply(&statements);
    let name_type = |table: &str| schema.name_type(table);
    for spec in specs() {
        assert_eq!(schema.tables[spec.name], "ReplacingMergeTree");
        assert_eq!(name_type(spec.name), migrate::table_columns(&spec, server));
        let view = format!("{}{CURRENT_VIEW_SUFFIX}", spec.name);
        assert_eq!(schema.tables[&view], "View");
        assert_eq!(name_type(&view), migrate::view_columns(&spec, server));
        let wei_columns = spec
            .columns
            .iter()
            .filter(|c| c.ty == ColumnType::Wei)
            .count();
        let uint128 = name_type(spec.name)
            .iter()
            .filter(|(_, t)| t == "UInt128")
            .count();
        assert_eq!(uint128, wei_columns, "{}", spec.name);
    }
    let codec = |table: &str, column: &str| -> String {
        schema.columns[table]
            .iter()
            .find(|(n, _, _)| n == column)
            .map(|(_, _, c)| c.clone())
            .unwrap()
    };
    assert!(
        codec(BLOCKS, "block_number").contains("Delta"),
        "codecs rendered"
    );
    assert!(codec(BLOCKS, "block_hash").contains("ZSTD(3)"));
    for table in [MINUTES, HOURS, DAYS] {
        let column = if table == MINUTES {
            "minute"
        } else {
            "bucket_start"
        };
        assert!(codec(table, column).contains("Delta"), "{table}.{column}");
    }
    assert_eq!(schema.tables[PROGRESS_TABLE], "ReplacingMergeTree");
    assert_eq!(name_type(PROGRESS_TABLE), pairs(&PROGRESS_COLUMNS));
}

/// The tables of output specs run on current ClickHouse too: the DDL of every registered
/// output (which the numbered migrations create on a real database, so it is applied here
/// alone) and of the test outputs (a column of every type, U256 included, and every kind of
/// position), in a fresh chdb session.
#[test]
fn chdb_applies_the_ddl_of_every_output_spec() {
    let server = ServerVersion::parse(&chdb(&["version"])).unwrap();
    assert!(server.has_codecs() && server.has_uint128());
    let mut all = specs();
    all.extend(crate::support::spec::test_specs());
    let statements: Vec<String> = all
        .iter()
        .flat_map(|spec| migrate::spec_ddl(spec, server).unwrap())
        .map(|(_, statement)| statement)
        .collect();
    let schema = chdb_apply(&statements);
    for spec in &all {
        assert_eq!(
            schema.tables[spec.name], "ReplacingMergeTree",
            "{}",
            spec.name
        );
        assert_eq!(
            schema.name_type(spec.name),
            migrate::table_columns(spec, server),
            "{}",
            spec.name
        );
        let (partition, sorting) = &schema.keys[spec.name];
        assert_eq!(
            *partition,
            migrate::partition_by(spec).unwrap_or_default(),
            "{}",
            spec.name
        );
        assert_eq!(*sorting, spec.key.join(", "), "{}", spec.name);
        let view = format!("{}{CURRENT_VIEW_SUFFIX}", spec.name);
        assert_eq!(schema.tables[&view], "View");
        assert_eq!(schema.name_type(&view), migrate::view_columns(spec, server));
    }
    let all_types = crate::support::spec::ALL_TYPES;
    let types: Vec<String> = schema
        .name_type(all_types.name)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        types,
        [
            "UInt64",
            "UInt64",
            "String",
            "String",
            "DateTime('UTC')",
            "UInt128",
            "UInt256",
            "String",
            "UInt64",
            "UInt8"
        ]
    );
    let codecs: Vec<&str> = schema.columns[all_types.name]
        .iter()
        .map(|(_, _, c)| c.as_str())
        .collect();
    assert!(codecs[1].contains("Delta"), "the block number: {codecs:?}");
    assert!(codecs[2].contains("ZSTD(3)"), "the hash: {codecs:?}");
}
