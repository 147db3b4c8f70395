-- 0001: tables and current-state views of the gas_fees dataflow, and the sink's progress table.
--
-- Forward-only: a shipped migration is never edited; a change is a new numbered file. Every
-- statement is idempotent (IF NOT EXISTS), so re-running a migration that failed half-way is
-- safe: the runner records a migration only after all its statements succeeded.
--
-- Conventions read by the runner (src/sinks/clickhouse/migrate.rs):
--   * a statement ends with `;` as the last non-blank character of a line; lines starting with
--     `--` are comments and are not sent (so a `;` in a comment line never ends a statement,
--     but a line ending with `;` after a trailing `--` comment does: avoid those);
--   * statements run with the target database as the current one: names are unqualified;
--   * placeholders, expanded for the server's version before anything is sent:
--       {codec:ARGS}  -> `CODEC(ARGS)` on ClickHouse >= 19.1 (per-column codecs, Delta and
--                        ZSTD arrived in 19.1.6), nothing on older servers such as 18.16;
--       {wei}         -> the type of an exact u128 amount of wei: `UInt128` on ClickHouse
--                        >= 21.6 (UInt128 arrived with production-ready big integers,
--                        ClickHouse PR #23631), `String` holding decimal digits (no sign, no
--                        leading zeros) on older servers.
--                        18.16 has no 128-bit integer at all, and its widest Decimal(38, 0)
--                        stops at 10^38 - 1, below u128::MAX (about 3.4 * 10^38, 39 digits).
--
-- Every output table holds the dataflow's columns in the dataflow's order (Row::COLUMNS), then
--   version UInt64  the epoch of the update: ReplacingMergeTree keeps the highest per key;
--   deleted UInt8   1 for a tombstone (the key was deleted at that epoch), else 0.
-- A retraction is an insert of a tombstone, never an ALTER mutation. Timestamps are DateTime
-- in UTC, hashes `0x`-hex strings (66 characters).
--
-- PARTITION BY uses key columns only: ReplacingMergeTree collapses the versions of a key only
-- inside one partition, so a key must never move between partitions from one version to the
-- next (see the comment on each table).

CREATE TABLE IF NOT EXISTS gas_fees_blocks
(
    chain_id UInt64,
    block_number UInt64 {codec:Delta, ZSTD},
    block_hash String {codec:ZSTD(3)},
    parent_hash String {codec:ZSTD(3)},
    timestamp DateTime('UTC') {codec:Delta, ZSTD},
    gas_used UInt64,
    gas_limit UInt64,
    base_fee_per_gas {wei},
    tx_count UInt64,
    priority_fee_sum {wei},
    priority_fee_p50 {wei},
    priority_fee_p90 {wei},
    blob_count UInt64,
    blob_gas_used UInt64,
    excess_blob_gas UInt64,
    blob_base_fee {wei},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- Not toYYYYMM(timestamp): a reorg may replace a block by one with another timestamp, possibly
-- in the next month, and its new version would land in another partition than the old one and
-- never replace it. intDiv(block_number, 216000) is a month of 12-second blocks and depends on
-- the key only. Chains with faster blocks get more, smaller partitions.
PARTITION BY intDiv(block_number, 216000)
ORDER BY (chain_id, block_number);

CREATE TABLE IF NOT EXISTS gas_fees_minutes
(
    chain_id UInt64,
    minute DateTime('UTC') {codec:Delta, ZSTD},
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
    priority_fee_p50 {wei},
    priority_fee_p90 {wei},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- The minute is part of the key, so every version of a key falls in the same month.
PARTITION BY toYYYYMM(minute)
ORDER BY (chain_id, minute);

-- Exactly the current state: FINAL keeps the newest version of each key (also before merges),
-- then tombstones are dropped.
CREATE VIEW IF NOT EXISTS gas_fees_blocks_current AS
SELECT
    chain_id, block_number, block_hash, parent_hash, timestamp, gas_used, gas_limit,
    base_fee_per_gas, tx_count, priority_fee_sum, priority_fee_p50, priority_fee_p90,
    blob_count, blob_gas_used, excess_blob_gas, blob_base_fee
FROM gas_fees_blocks FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS gas_fees_minutes_current AS
SELECT
    chain_id, minute, blocks, tx_count, gas_used, gas_limit, priority_fee_sum, base_fee_min,
    base_fee_max, base_fee_avg, blob_count, blob_gas_used, priority_fee_p50, priority_fee_p90
FROM gas_fees_minutes FINAL
WHERE deleted = 0;

-- The committed upper epoch per output, written by the sink after the batch's data: every
-- epoch below upper_epoch is in the output's table. finalized is a JSON object mapping each
-- chain id (a string) to its finalized height when the range closed. Read it with FINAL.
CREATE TABLE IF NOT EXISTS chainflow_progress
(
    output String,
    upper_epoch UInt64,
    finalized String,
    committed_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(upper_epoch)
ORDER BY output;
