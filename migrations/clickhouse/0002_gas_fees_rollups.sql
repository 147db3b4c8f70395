-- 0002: tables and current-state views of the hourly and daily rollups of the gas_fees
-- dataflow (gas_fees_hours, gas_fees_days).
--
-- Forward-only and idempotent (IF NOT EXISTS), with the conventions and placeholders
-- ({codec:ARGS}, {wei}) described in the header of 0001_gas_fees.sql. As there, every table
-- holds the output's columns in the dataflow's order (Row::COLUMNS), then `version` (the epoch
-- of the update, ReplacingMergeTree keeps the highest per key) and `deleted` (1 for a
-- tombstone); a retraction is an insert, never an ALTER; timestamps are DateTime in UTC.
--
-- Both outputs have the columns of gas_fees_minutes without the percentiles, keyed by
-- (chain_id, bucket_start): the start of the UTC hour or day. PARTITION BY uses the key only,
-- so every version of a key falls in the partition of its first version.

CREATE TABLE IF NOT EXISTS gas_fees_hours
(
    chain_id UInt64,
    bucket_start DateTime('UTC') {codec:Delta, ZSTD},
    blocks UInt64,
    tx_count UInt64,
    gas_used UInt64,
    gas_limit UInt64,
    priority_fee_sum {wei},
    base_fee_min {wei},
    base_fee_max {wei},
    base_fee_avg {wei},
    blob_count UInt64,
    blob_gas_used UInt64,
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- The hour is part of the key, so every version of a key falls in the same month.
PARTITION BY toYYYYMM(bucket_start)
ORDER BY (chain_id, bucket_start);

CREATE TABLE IF NOT EXISTS gas_fees_days
(
    chain_id UInt64,
    bucket_start DateTime('UTC') {codec:Delta, ZSTD},
    blocks UInt64,
    tx_count UInt64,
    gas_used UInt64,
    gas_limit UInt64,
    priority_fee_sum {wei},
    base_fee_min {wei},
    base_fee_max {wei},
    base_fee_avg {wei},
    blob_count UInt64,
    blob_gas_used UInt64,
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- A year per partition: at most 366 keys per chain, so monthly partitions would only make
-- many tiny parts. The day is part of the key, so every version of a key falls in one year.
PARTITION BY toYear(bucket_start)
ORDER BY (chain_id, bucket_start);

-- Exactly the current state: FINAL keeps the newest version of each key (also before merges),
-- then tombstones are dropped.
CREATE VIEW IF NOT EXISTS gas_fees_hours_current AS
SELECT
    chain_id, bucket_start, blocks, tx_count, gas_used, gas_limit, priority_fee_sum,
    base_fee_min, base_fee_max, base_fee_avg, blob_count, blob_gas_used
FROM gas_fees_hours FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS gas_fees_days_current AS
SELECT
    chain_id, bucket_start, blocks, tx_count, gas_used, gas_limit, priority_fee_sum,
    base_fee_min, base_fee_max, base_fee_avg, blob_count, blob_gas_used
FROM gas_fees_days FINAL
WHERE deleted = 0;
