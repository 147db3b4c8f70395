-- 0003: the l2_heads output of the taiko dataflow (one row per canonical Taiko L2 block) and
-- its current-state view. Conventions as in 0001 (placeholders, version and deleted columns).

CREATE TABLE IF NOT EXISTS l2_heads
(
    chain_id UInt64,
    block_number UInt64 {codec:Delta, ZSTD},
    block_hash String {codec:ZSTD(3)},
    timestamp DateTime('UTC') {codec:Delta, ZSTD},
    sum_gas_used UInt64,
    sum_tx UInt64,
    sum_priority_fee {wei},
    sum_base_fee {wei},
    sequencer String {codec:ZSTD(3)},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- A key column only (see 0001): about a month of 2-second L2 blocks per partition.
PARTITION BY intDiv(block_number, 1296000)
ORDER BY (chain_id, block_number);

CREATE VIEW IF NOT EXISTS l2_heads_current AS
SELECT
    chain_id, block_number, block_hash, timestamp, sum_gas_used, sum_tx, sum_priority_fee,
    sum_base_fee, sequencer
FROM l2_heads FINAL
WHERE deleted = 0;
