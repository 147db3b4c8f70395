//! Tables from output specs, on the real servers: ClickHouse 18.16 (`make services`) and
//! PostgreSQL with TimescaleDB preloaded, plain and TimescaleDB modes.
//!
//! Outputs defined only in the tests (`support::spec`: a column of every type with a key of
//! two columns positioned by block, and one output per kind of position) get their tables
//! from their specs after the numbered migrations; a second run creates nothing; the tables
//! of the numbered migrations are untouched; `check_schema` passes; rows written through the
//! real sinks (a change with a U256 above 2^128, a retraction) read back exactly. The DDL of
//! every spec on current ClickHouse is checked with chdb in `clickhouse_migrations`.

use std::collections::{BTreeMap, BTreeSet};

use chainflow::engine::dataflow::OutputSpec;
use chainflow::engine::sink::Sink;
use chainflow::sinks::clickhouse::ClickHouseSink;
use chainflow::sinks::clickhouse::migrate as chmigrate;
use chainflow::sinks::postgres::PostgresSink;
use chainflow::sinks::postgres::migrate::{self as pgmigrate, Mode, TimescaleSetting};
use chainflow::sinks::reconcile::StoredState;

use crate::support::clickhouse::{self as ch, current, query, stored};
use crate::support::postgres::{self as pg, rows};
use crate::support::spec::{ALL_TYPES, all_types_batches, big, registered, test_specs};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The registered outputs and the test outputs.
fn all_specs() -> Vec<OutputSpec> {
    let mut all = registered();
    all.extend(test_specs());
    all
}

/// The names of the tables and views of `database`.
fn ch_tables(database: &str) -> BTreeSet<String> {
    query(&format!(
        "SELECT name FROM system.tables WHERE database = '{database}' FORMAT TabSeparated"
    ))
    .lines()
    .map(str::to_string)
    .collect()
}

/// `SHOW CREATE TABLE` of `table` in `database`.
fn show_create(database: &str, table: &str) -> String {
    query(&format!(
        "SHOW CREATE TABLE {database}.{table} FORMAT TabSeparatedRaw"
    ))
}

#[test]
fn clickhouse_tables_come_from_the_spec_and_hold_every_type() {
    let config = ch::database("spec_tables");
    let db = config.database.clone();
    let client = config.client();
    let rt = runtime();
    let handwritten = [
        "gas_fees_blocks",
        "gas_fees_blocks_current",
        "l2_heads",
        "batches",
    ];
    let tables_before = ch_tables(&db);
    let shown_before: Vec<String> = handwritten.iter().map(|t| show_create(&db, t)).collect();

    let specs = all_specs();
    let created = rt
        .block_on(chmigrate::create_from_specs(&client, &db, &specs))
        .unwrap();
    let handwritten_tables = chmigrate::migration_tables();
    let expected: Vec<String> = all_specs()
        .iter()
        .filter(|s| !handwritten_tables.contains(s.name))
        .flat_map(|s| [s.name.to_string(), format!("{}_current", s.name)])
        .collect();
    assert_eq!(created, expected, "exactly the tables no migration creates");
    assert_eq!(
        rt.block_on(chmigrate::create_from_specs(&client, &db, &specs))
            .unwrap(),
        Vec::<String>::new(),
        "a second run creates nothing"
    );

    // The numbered migrations' tables are untouched: same list plus the new ones, same DDL.
    let mut tables_want = tables_before.clone();
    tables_want.extend(expected.iter().cloned());
    assert_eq!(ch_tables(&db), tables_want);
    let shown_after: Vec<String> = handwritten.iter().map(|t| show_create(&db, t)).collect();
    assert_eq!(shown_after, shown_before);

    rt.block_on(chmigrate::check_schema(&client, &db, &specs))
        .unwrap();
    let server = rt.block_on(chmigrate::server_version(&client)).unwrap();
    for spec in test_specs() {
        let shown = show_create(&db, spec.name);
        assert!(shown.contains("ReplacingMergeTree(version)"), "{shown}");
        assert!(
            shown.contains(&format!("ORDER BY ({})", spec.key.join(", "))),
            "{shown}"
        );
        match chmigrate::partition_by(&spec) {
            Some(p) => assert!(shown.contains(&format!("PARTITION BY {p}")), "{shown}"),
            None => assert!(!shown.contains("PARTITION BY"), "{shown}"),
        }
        // The DDL is the pure function's, for this server's version.
        let ddl = chmigrate::spec_ddl(&spec, server).unwrap();
        assert_eq!(ddl[0].0, spec.name);
    }
    assert!(show_create(&db, ALL_TYPES.name).contains("PARTITION BY intDiv(block_number, 216000)"));

    let (batches, want) = all_types_batches();
    let mut sink = ClickHouseSink::open(config.clone()).unwrap();
    for batch in &batches {
        sink.commit(batch).unwrap();
    }
    sink.flush().unwrap();
    assert_eq!(current(&config, &ALL_TYPES), want);
    assert_eq!(
        stored(&config, &ALL_TYPES),
        5,
        "3 rows, a changed row and a tombstone"
    );
    let supply = query(&format!(
        "SELECT toString(supply) FROM {db}.{}_current WHERE block_number = 1 FORMAT TabSeparated",
        ALL_TYPES.name
    ));
    assert_eq!(supply.trim(), big().to_string());
    // The sink reads its own rows back (the restart path) the same.
    let mut read: Vec<_> =
        StoredState::current(&mut sink, &ALL_TYPES, &BTreeMap::from([(1, 0)])).unwrap();
    read.sort();
    assert_eq!(read, want.keys().cloned().collect::<Vec<_>>());
}

/// Per table of `schema`: its columns `name type` in order.
fn pg_columns(client: &mut postgres::Client, schema: &str) -> BTreeMap<String, String> {
    client
        .query(
            "SELECT table_name::text, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
             FROM information_schema.columns WHERE table_schema = $1 GROUP BY table_name",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Per hypertable of `schema`: its partitioning column and chunk interval.
fn pg_dimensions(client: &mut postgres::Client, schema: &str) -> BTreeMap<String, String> {
    client
        .query(
            "SELECT hypertable_name::text,
                    column_name::text || ' ' || coalesce(time_interval::text, integer_interval::text)
             FROM timescaledb_information.dimensions WHERE hypertable_schema = $1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// The spec tables in `schema` (migrated with `setting`): created once, the migrations'
/// tables untouched, hypertables in TimescaleDB mode, rows through the sink read back.
fn postgres_tables_come_from_the_spec(test: &str, setting: TimescaleSetting) {
    let (config, mode) = pg::schema_with(test, setting);
    let timescale = setting == TimescaleSetting::Require;
    assert_eq!(mode.is_timescale(), timescale, "{mode}");
    let schema = config.schema.clone();
    let mut c = pg::client();
    let columns_before = pg_columns(&mut c, &schema);
    let dimensions_before = pg_dimensions(&mut c, &schema);

    let specs = all_specs();
    let created = pgmigrate::create_from_specs(&mut c, &schema, &mode, &specs).unwrap();
    let handwritten_tables = pgmigrate::migration_tables();
    let names: Vec<String> = all_specs()
        .iter()
        .filter(|s| !handwritten_tables.contains(s.name))
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(created, names, "exactly the tables no migration creates");
    assert_eq!(
        pgmigrate::create_from_specs(&mut c, &schema, &mode, &specs).unwrap(),
        Vec::<String>::new(),
        "a second run creates nothing"
    );

    let columns_after = pg_columns(&mut c, &schema);
    let dimensions_after = pg_dimensions(&mut c, &schema);
    for (table, columns) in &columns_before {
        assert_eq!(&columns_after[table], columns, "{table} is untouched");
    }
    let tables: BTreeSet<&String> = columns_after.keys().collect();
    let mut tables_want: BTreeSet<&String> = columns_before.keys().collect();
    tables_want.extend(names.iter());
    assert_eq!(tables, tables_want);
    for (table, dimension) in &dimensions_before {
        assert_eq!(&dimensions_after[table], dimension, "{table} is untouched");
    }
    assert_eq!(
        columns_after[ALL_TYPES.name],
        "chain_id bigint, block_number bigint, block_hash text, miner text, \
         mined_at timestamp with time zone, fee numeric, supply numeric, note text, \
         version bigint"
    );
    let test_names: Vec<String> = test_specs().iter().map(|s| s.name.to_string()).collect();
    let spec_dimensions: BTreeMap<&str, &str> = dimensions_after
        .iter()
        .filter(|(t, _)| test_names.contains(t))
        .map(|(t, d)| (t.as_str(), d.as_str()))
        .collect();
    let want_dimensions = if timescale {
        BTreeMap::from([
            ("spec_all_types", "block_number 216000"),
            ("spec_minutes", "minute 7 days"),
            ("spec_days", "day 31536000"),
        ])
    } else {
        BTreeMap::new()
    };
    assert_eq!(spec_dimensions, want_dimensions);
    let precision: Vec<(String, i32)> = c
        .query(
            "SELECT column_name::text, numeric_precision FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = $2 AND data_type = 'numeric'
             ORDER BY ordinal_position",
            &[&schema, &ALL_TYPES.name],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        precision,
        [("fee".to_string(), 39), ("supply".to_string(), 78)]
    );
    let primary_key: Vec<String> = c
        .query(
            "SELECT a.attname::text FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
             WHERE i.indrelid = ($1 || '.' || $2)::regclass AND i.indisprimary
             ORDER BY array_position(i.indkey, a.attnum)",
            &[&schema, &ALL_TYPES.name],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(primary_key, ["chain_id", "block_number"]);

    pgmigrate::check_schema(&mut c, &schema, &specs).unwrap();

    let (batches, want) = all_types_batches();
    let mut sink = PostgresSink::open(config.clone(), &[ALL_TYPES]).unwrap();
    assert_eq!(sink.mode().is_timescale(), timescale);
    for batch in &batches {
        sink.commit(batch).unwrap();
    }
    sink.flush().unwrap();
    assert_eq!(rows(&config, &ALL_TYPES), want);
    let mut read: Vec<_> =
        StoredState::current(&mut sink, &ALL_TYPES, &BTreeMap::from([(1, 0)])).unwrap();
    read.sort();
    assert_eq!(read, want.keys().cloned().collect::<Vec<_>>());
}

#[test]
fn postgres_tables_come_from_the_spec_as_plain_tables() {
    postgres_tables_come_from_the_spec("spec_tables_plain", TimescaleSetting::Off);
}

#[test]
fn postgres_tables_come_from_the_spec_as_hypertables() {
    postgres_tables_come_from_the_spec("spec_tables_timescale", TimescaleSetting::Require);
}

/// A spec table made while the schema had plain tables becomes a hypertable, rows kept, when
/// a later `migrate` finds TimescaleDB, and the sink goes on writing to it.
#[test]
fn a_plain_spec_table_becomes_a_hypertable_and_keeps_working() {
    let (config, mode) = pg::schema_with("spec_tables_converted", TimescaleSetting::Off);
    assert!(!mode.is_timescale());
    let schema = config.schema.clone();
    let mut c = pg::client();
    assert_eq!(
        pgmigrate::create_from_specs(&mut c, &schema, &mode, &[ALL_TYPES]).unwrap(),
        [ALL_TYPES.name]
    );
    let (batches, want) = all_types_batches();
    let mut sink = PostgresSink::open(config.clone(), &[ALL_TYPES]).unwrap();
    sink.commit(&batches[0]).unwrap();
    sink.flush().unwrap();
    drop(sink);
    let first = rows(&config, &ALL_TYPES);
    assert_eq!(first.len(), 3);
    assert!(pg_dimensions(&mut c, &schema).is_empty());

    let reconnect = || postgres::Client::connect(&pg::url(), postgres::NoTls);
    let (_, mode) =
        pgmigrate::migrate(&mut c, &reconnect, &schema, TimescaleSetting::Auto).unwrap();
    assert!(matches!(mode, Mode::Timescale { .. }), "{mode}");
    assert_eq!(
        pgmigrate::create_from_specs(&mut c, &schema, &mode, &[ALL_TYPES]).unwrap(),
        Vec::<String>::new(),
        "converted, not created"
    );
    assert_eq!(
        pg_dimensions(&mut c, &schema)
            .get(ALL_TYPES.name)
            .map(String::as_str),
        Some("block_number 216000")
    );
    assert_eq!(rows(&config, &ALL_TYPES), first, "rows kept");
    pgmigrate::check_schema(&mut c, &schema, &[ALL_TYPES]).unwrap();

    let config = chainflow::sinks::postgres::PostgresConfig {
        timescale: TimescaleSetting::Require,
        ..config
    };
    let mut sink = PostgresSink::open(config.clone(), &[ALL_TYPES]).unwrap();
    assert!(sink.mode().is_timescale());
    sink.commit(&batches[1]).unwrap();
    sink.flush().unwrap();
    assert_eq!(rows(&config, &ALL_TYPES), want);
}
