-- 0001: tables of the gas_fees dataflow (blocks, minutes, hourly and daily rollups) and the
-- sink's progress table, for PostgreSQL 13+ with or without TimescaleDB.
--
-- Forward-only: a shipped migration is never edited; a change is a new numbered file. The
-- runner (src/sinks/postgres/migrate.rs) applies each migration in one transaction together
-- with its row in chainflow_migrations, inside the sink's schema (search_path = schema,
-- public), so names are unqualified.
--
-- Sections: everything before the first `-- @timescale` line runs always. Lines after it run
-- only when the timescaledb extension is in use (detected, or created when allowed); on plain
-- PostgreSQL they are skipped and the tables stay plain tables.
--
-- Types: u64 -> BIGINT (values above 2^63 - 1 are refused by the encoder, naming the column),
-- timestamps -> TIMESTAMPTZ (UTC), wei -> NUMERIC(39, 0) (exact u128), hashes and addresses ->
-- TEXT `0x`-hex. Every table holds the dataflow's columns in the dataflow's order, then
--   version BIGINT  the epoch of the update that wrote the row.
-- The primary key is the output's key: the sink deletes the keys of a batch and inserts their
-- new rows in one transaction with the progress row.

CREATE TABLE IF NOT EXISTS gas_fees_blocks (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash TEXT NOT NULL,
    parent_hash TEXT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    gas_used BIGINT NOT NULL,
    gas_limit BIGINT NOT NULL,
    base_fee_per_gas NUMERIC(39, 0) NOT NULL,
    tx_count BIGINT NOT NULL,
    priority_fee_sum NUMERIC(39, 0) NOT NULL,
    priority_fee_p50 NUMERIC(39, 0) NOT NULL,
    priority_fee_p90 NUMERIC(39, 0) NOT NULL,
    blob_count BIGINT NOT NULL,
    blob_gas_used BIGINT NOT NULL,
    excess_blob_gas BIGINT NOT NULL,
    blob_base_fee NUMERIC(39, 0) NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, block_number)
);

CREATE TABLE IF NOT EXISTS gas_fees_minutes (
    chain_id BIGINT NOT NULL,
    minute TIMESTAMPTZ NOT NULL,
    blocks BIGINT NOT NULL,
    tx_count BIGINT NOT NULL,
    gas_used BIGINT NOT NULL,
    gas_limit BIGINT NOT NULL,
    priority_fee_sum NUMERIC(39, 0) NOT NULL,
    base_fee_min NUMERIC(39, 0) NOT NULL,
    base_fee_max NUMERIC(39, 0) NOT NULL,
    base_fee_avg NUMERIC(39, 0) NOT NULL,
    blob_count BIGINT NOT NULL,
    blob_gas_used BIGINT NOT NULL,
    priority_fee_p50 NUMERIC(39, 0) NOT NULL,
    priority_fee_p90 NUMERIC(39, 0) NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, minute)
);

CREATE TABLE IF NOT EXISTS gas_fees_hours (
    chain_id BIGINT NOT NULL,
    bucket_start TIMESTAMPTZ NOT NULL,
    blocks BIGINT NOT NULL,
    tx_count BIGINT NOT NULL,
    gas_used BIGINT NOT NULL,
    gas_limit BIGINT NOT NULL,
    priority_fee_sum NUMERIC(39, 0) NOT NULL,
    base_fee_min NUMERIC(39, 0) NOT NULL,
    base_fee_max NUMERIC(39, 0) NOT NULL,
    base_fee_avg NUMERIC(39, 0) NOT NULL,
    blob_count BIGINT NOT NULL,
    blob_gas_used BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, bucket_start)
);

CREATE TABLE IF NOT EXISTS gas_fees_days (
    chain_id BIGINT NOT NULL,
    bucket_start TIMESTAMPTZ NOT NULL,
    blocks BIGINT NOT NULL,
    tx_count BIGINT NOT NULL,
    gas_used BIGINT NOT NULL,
    gas_limit BIGINT NOT NULL,
    priority_fee_sum NUMERIC(39, 0) NOT NULL,
    base_fee_min NUMERIC(39, 0) NOT NULL,
    base_fee_max NUMERIC(39, 0) NOT NULL,
    base_fee_avg NUMERIC(39, 0) NOT NULL,
    blob_count BIGINT NOT NULL,
    blob_gas_used BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, bucket_start)
);

-- One row per output: every update below upper_epoch is in the tables; written in the same
-- transaction as the data it covers.
CREATE TABLE IF NOT EXISTS chainflow_progress (
    output TEXT PRIMARY KEY,
    upper_epoch BIGINT NOT NULL,
    finalized JSONB NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- @timescale
-- Hypertables. Blocks are chunked by block number (a key column: a reorg that changes a
-- block's timestamp never moves its key to another chunk), about a month of 12-second blocks
-- per chunk; the time buckets by their start. migrate_data converts tables that already hold
-- rows.
SELECT create_hypertable('gas_fees_blocks', 'block_number', chunk_time_interval => 216000, if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('gas_fees_minutes', 'minute', chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('gas_fees_hours', 'bucket_start', chunk_time_interval => INTERVAL '30 days', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('gas_fees_days', 'bucket_start', chunk_time_interval => INTERVAL '365 days', if_not_exists => TRUE, migrate_data => TRUE);
-- An integer hypertable's "now" for the compression policy: the highest block stored.
CREATE OR REPLACE FUNCTION chainflow_blocks_now() RETURNS BIGINT LANGUAGE SQL STABLE AS $$ SELECT COALESCE(max(block_number), 0) FROM gas_fees_blocks $$;
SELECT set_integer_now_func('gas_fees_blocks', 'chainflow_blocks_now', replace_if_exists => TRUE);
-- Compression of chunks older than finality (a day of blocks; finality is minutes on
-- mainnet). Compressed chunks still accept the rare late correction (TimescaleDB 2.11+).
ALTER TABLE gas_fees_blocks SET (timescaledb.compress, timescaledb.compress_segmentby = 'chain_id', timescaledb.compress_orderby = 'block_number');
ALTER TABLE gas_fees_minutes SET (timescaledb.compress, timescaledb.compress_segmentby = 'chain_id', timescaledb.compress_orderby = 'minute');
ALTER TABLE gas_fees_hours SET (timescaledb.compress, timescaledb.compress_segmentby = 'chain_id', timescaledb.compress_orderby = 'bucket_start');
ALTER TABLE gas_fees_days SET (timescaledb.compress, timescaledb.compress_segmentby = 'chain_id', timescaledb.compress_orderby = 'bucket_start');
SELECT add_compression_policy('gas_fees_blocks', compress_after => 7200::BIGINT, if_not_exists => TRUE);
SELECT add_compression_policy('gas_fees_minutes', compress_after => INTERVAL '1 day', if_not_exists => TRUE);
SELECT add_compression_policy('gas_fees_hours', compress_after => INTERVAL '7 days', if_not_exists => TRUE);
SELECT add_compression_policy('gas_fees_days', compress_after => INTERVAL '60 days', if_not_exists => TRUE);
