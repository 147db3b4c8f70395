-- 0004: the outputs of the taiko dataflow other than l2_heads (0003), and their current-state
-- views: L1 heads, batches and their L2 blocks, proofs, verifications, forced inclusions,
-- slashings, L1 costs, batch times, batch L2 sums, hourly and daily rollups of the L2 blocks
-- and of the batches, reorgs and decode errors.
--
-- Forward-only and idempotent (IF NOT EXISTS), with the conventions and placeholders
-- ({codec:ARGS}, {wei}) described in the header of 0001_gas_fees.sql. As there, every table
-- holds the output's columns in the dataflow's order (Row::COLUMNS), then `version` (the epoch
-- of the update, ReplacingMergeTree keeps the highest per key) and `deleted` (1 for a
-- tombstone), is ordered by the output's key, and is partitioned by key columns only: a key
-- must never move between partitions from one version to the next, so a column that a reorg
-- may change (a timestamp, the L1 block of a transaction keyed by its hash) is never used.
--
-- Partition sizes: about a month of rows for the tables that grow with every L1 block
-- (216000 12-second L1 blocks) or every batch (100000 batches: one batch per two L1 slots),
-- a year for the rare events (2628000 L1 blocks) and the daily rollups, and the chain alone
-- where the key has no column ordered in time.

CREATE TABLE IF NOT EXISTS l1_heads
(
    chain_id UInt64,
    block_number UInt64 {codec:Delta, ZSTD},
    block_hash String {codec:ZSTD(3)},
    slot UInt64 {codec:Delta, ZSTD},
    timestamp DateTime('UTC') {codec:Delta, ZSTD},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- As gas_fees_blocks: about a month of 12-second L1 blocks per partition.
PARTITION BY intDiv(block_number, 216000)
ORDER BY (chain_id, block_number);

CREATE TABLE IF NOT EXISTS batches
(
    chain_id UInt64,
    fork String,
    batch_id UInt64 {codec:Delta, ZSTD},
    l1_block_number UInt64 {codec:Delta, ZSTD},
    l1_tx_hash String {codec:ZSTD(3)},
    l1_timestamp DateTime('UTC') {codec:Delta, ZSTD},
    proposer String {codec:ZSTD(3)},
    block_count UInt64,
    last_block_id UInt64 {codec:Delta, ZSTD},
    blob_count UInt64,
    blob_bytes UInt64,
    forced_inclusion UInt64,
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- Not by l1_block_number: an L1 reorg may include the same batch id in another block. About
-- a month of batches (one per two L1 slots) per partition; each fork numbers its own batches,
-- so a partition may hold the batches of both.
PARTITION BY intDiv(batch_id, 100000)
ORDER BY (chain_id, fork, batch_id);

CREATE TABLE IF NOT EXISTS batch_blocks
(
    chain_id UInt64,
    batch_id UInt64 {codec:Delta, ZSTD},
    l2_block_number UInt64 {codec:Delta, ZSTD},
    l1_block_number UInt64 {codec:Delta, ZSTD},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- The partitions of batches: the L2 blocks of a batch stay with it.
PARTITION BY intDiv(batch_id, 100000)
ORDER BY (chain_id, batch_id, l2_block_number);

CREATE TABLE IF NOT EXISTS batch_proofs
(
    chain_id UInt64,
    l1_block_number UInt64 {codec:Delta, ZSTD},
    log_index UInt64,
    batch_id UInt64 {codec:Delta, ZSTD},
    fork String,
    prover String {codec:ZSTD(3)},
    parent_hash String {codec:ZSTD(3)},
    block_hash String {codec:ZSTD(3)},
    state_root String {codec:ZSTD(3)},
    l1_tx_hash String {codec:ZSTD(3)},
    l1_timestamp DateTime('UTC') {codec:Delta, ZSTD},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- The L1 block is part of the key: about a month of L1 blocks per partition.
PARTITION BY intDiv(l1_block_number, 216000)
ORDER BY (chain_id, l1_block_number, log_index, batch_id);

CREATE TABLE IF NOT EXISTS batch_verifications
(
    chain_id UInt64,
    l1_block_number UInt64 {codec:Delta, ZSTD},
    log_index UInt64,
    fork String,
    first_batch_id UInt64 {codec:Delta, ZSTD},
    batch_id UInt64 {codec:Delta, ZSTD},
    block_hash String {codec:ZSTD(3)},
    l1_tx_hash String {codec:ZSTD(3)},
    l1_timestamp DateTime('UTC') {codec:Delta, ZSTD},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- The L1 block is part of the key: about a month of L1 blocks per partition.
PARTITION BY intDiv(l1_block_number, 216000)
ORDER BY (chain_id, l1_block_number, log_index);

CREATE TABLE IF NOT EXISTS forced_inclusions
(
    chain_id UInt64,
    l1_block_number UInt64 {codec:Delta, ZSTD},
    log_index UInt64,
    kind String,
    fork String,
    blob_hash String {codec:ZSTD(3)},
    fee_in_gwei UInt64,
    created_at_batch_id UInt64,
    l1_tx_hash String {codec:ZSTD(3)},
    l1_timestamp DateTime('UTC') {codec:Delta, ZSTD},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- Rare events: a year of L1 blocks per partition, as monthly ones would only make tiny parts.
PARTITION BY intDiv(l1_block_number, 2628000)
ORDER BY (chain_id, l1_block_number, log_index);

CREATE TABLE IF NOT EXISTS slashings
(
    chain_id UInt64,
    l1_block_number UInt64 {codec:Delta, ZSTD},
    log_index UInt64,
    kind String,
    offender String {codec:ZSTD(3)},
    beneficiary String {codec:ZSTD(3)},
    violation_type UInt64,
    batch_id UInt64,
    amount {wei},
    l1_tx_hash String {codec:ZSTD(3)},
    l1_timestamp DateTime('UTC') {codec:Delta, ZSTD},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- Rare events: a year of L1 blocks per partition.
PARTITION BY intDiv(l1_block_number, 2628000)
ORDER BY (chain_id, l1_block_number, log_index);

CREATE TABLE IF NOT EXISTS l1_costs
(
    chain_id UInt64,
    l1_block_number UInt64,
    tx_hash String {codec:ZSTD(3)},
    kind String,
    batch_id UInt64,
    sender String {codec:ZSTD(3)},
    gas_used UInt64,
    execution_fee {wei},
    blob_count UInt64,
    blob_fee {wei},
    total_fee {wei},
    l1_timestamp DateTime('UTC'),
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- Keyed by the transaction hash alone: an L1 reorg may include the same transaction in
-- another block (and month), so neither l1_block_number nor l1_timestamp may partition it,
-- and a hash orders nothing in time. One partition per chain.
PARTITION BY chain_id
ORDER BY (chain_id, tx_hash);

CREATE TABLE IF NOT EXISTS batch_times
(
    chain_id UInt64,
    fork String,
    batch_id UInt64 {codec:Delta, ZSTD},
    proposed_at DateTime('UTC') {codec:Delta, ZSTD},
    proved_at UInt64,
    verified_at UInt64,
    prove_secs UInt64,
    verify_secs UInt64,
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- The partitions of batches.
PARTITION BY intDiv(batch_id, 100000)
ORDER BY (chain_id, fork, batch_id);

CREATE TABLE IF NOT EXISTS batch_l2
(
    chain_id UInt64,
    batch_id UInt64 {codec:Delta, ZSTD},
    l2_blocks UInt64,
    sum_gas_used UInt64,
    sum_tx UInt64,
    sum_priority_fee {wei},
    sum_base_fee {wei},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- The partitions of batches.
PARTITION BY intDiv(batch_id, 100000)
ORDER BY (chain_id, batch_id);

CREATE TABLE IF NOT EXISTS l2_hours
(
    chain_id UInt64,
    bucket_start DateTime('UTC') {codec:Delta, ZSTD},
    blocks UInt64,
    sum_gas_used UInt64,
    sum_tx UInt64,
    sum_priority_fee {wei},
    sum_base_fee {wei},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- The hour is part of the key, so every version of a key falls in the same month.
PARTITION BY toYYYYMM(bucket_start)
ORDER BY (chain_id, bucket_start);

CREATE TABLE IF NOT EXISTS l2_days
(
    chain_id UInt64,
    bucket_start DateTime('UTC') {codec:Delta, ZSTD},
    blocks UInt64,
    sum_gas_used UInt64,
    sum_tx UInt64,
    sum_priority_fee {wei},
    sum_base_fee {wei},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- As gas_fees_days: a year per partition (at most 366 keys per chain).
PARTITION BY toYear(bucket_start)
ORDER BY (chain_id, bucket_start);

CREATE TABLE IF NOT EXISTS batch_hours
(
    chain_id UInt64,
    bucket_start DateTime('UTC') {codec:Delta, ZSTD},
    batches UInt64,
    l2_blocks UInt64,
    blob_count UInt64,
    blob_bytes UInt64,
    forced_inclusions UInt64,
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- The hour is part of the key, so every version of a key falls in the same month.
PARTITION BY toYYYYMM(bucket_start)
ORDER BY (chain_id, bucket_start);

CREATE TABLE IF NOT EXISTS batch_days
(
    chain_id UInt64,
    bucket_start DateTime('UTC') {codec:Delta, ZSTD},
    batches UInt64,
    l2_blocks UInt64,
    blob_count UInt64,
    blob_bytes UInt64,
    forced_inclusions UInt64,
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- A year per partition (at most 366 keys per chain).
PARTITION BY toYear(bucket_start)
ORDER BY (chain_id, bucket_start);

CREATE TABLE IF NOT EXISTS reorgs
(
    chain_id UInt64,
    epoch UInt64 {codec:Delta, ZSTD},
    old_tip_hash String {codec:ZSTD(3)},
    old_tip_number UInt64,
    new_tip_hash String {codec:ZSTD(3)},
    new_tip_number UInt64,
    depth UInt64,
    old_sequencer String {codec:ZSTD(3)},
    new_sequencer String {codec:ZSTD(3)},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- Append-only and rare; the epoch is an ingest counter, not a chain height or a time. One
-- partition per chain.
PARTITION BY chain_id
ORDER BY (chain_id, epoch, old_tip_hash);

CREATE TABLE IF NOT EXISTS taiko_errors
(
    chain_id UInt64,
    block_number UInt64 {codec:Delta, ZSTD},
    log_index UInt64,
    tx_hash String {codec:ZSTD(3)},
    address String {codec:ZSTD(3)},
    event String,
    reason String {codec:ZSTD(3)},
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
-- Rare: a year of L1 blocks (about two months of 2-second L2 blocks) per partition.
PARTITION BY intDiv(block_number, 2628000)
ORDER BY (chain_id, block_number, log_index);

-- Exactly the current state: FINAL keeps the newest version of each key (also before merges),
-- then tombstones are dropped.
CREATE VIEW IF NOT EXISTS l1_heads_current AS
SELECT
    chain_id, block_number, block_hash, slot, timestamp
FROM l1_heads FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS batches_current AS
SELECT
    chain_id, fork, batch_id, l1_block_number, l1_tx_hash, l1_timestamp, proposer,
    block_count, last_block_id, blob_count, blob_bytes, forced_inclusion
FROM batches FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS batch_blocks_current AS
SELECT
    chain_id, batch_id, l2_block_number, l1_block_number
FROM batch_blocks FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS batch_proofs_current AS
SELECT
    chain_id, l1_block_number, log_index, batch_id, fork, prover, parent_hash, block_hash,
    state_root, l1_tx_hash, l1_timestamp
FROM batch_proofs FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS batch_verifications_current AS
SELECT
    chain_id, l1_block_number, log_index, fork, first_batch_id, batch_id, block_hash,
    l1_tx_hash, l1_timestamp
FROM batch_verifications FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS forced_inclusions_current AS
SELECT
    chain_id, l1_block_number, log_index, kind, fork, blob_hash, fee_in_gwei,
    created_at_batch_id, l1_tx_hash, l1_timestamp
FROM forced_inclusions FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS slashings_current AS
SELECT
    chain_id, l1_block_number, log_index, kind, offender, beneficiary, violation_type,
    batch_id, amount, l1_tx_hash, l1_timestamp
FROM slashings FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS l1_costs_current AS
SELECT
    chain_id, l1_block_number, tx_hash, kind, batch_id, sender, gas_used, execution_fee,
    blob_count, blob_fee, total_fee, l1_timestamp
FROM l1_costs FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS batch_times_current AS
SELECT
    chain_id, fork, batch_id, proposed_at, proved_at, verified_at, prove_secs, verify_secs
FROM batch_times FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS batch_l2_current AS
SELECT
    chain_id, batch_id, l2_blocks, sum_gas_used, sum_tx, sum_priority_fee, sum_base_fee
FROM batch_l2 FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS l2_hours_current AS
SELECT
    chain_id, bucket_start, blocks, sum_gas_used, sum_tx, sum_priority_fee, sum_base_fee
FROM l2_hours FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS l2_days_current AS
SELECT
    chain_id, bucket_start, blocks, sum_gas_used, sum_tx, sum_priority_fee, sum_base_fee
FROM l2_days FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS batch_hours_current AS
SELECT
    chain_id, bucket_start, batches, l2_blocks, blob_count, blob_bytes, forced_inclusions
FROM batch_hours FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS batch_days_current AS
SELECT
    chain_id, bucket_start, batches, l2_blocks, blob_count, blob_bytes, forced_inclusions
FROM batch_days FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS reorgs_current AS
SELECT
    chain_id, epoch, old_tip_hash, old_tip_number, new_tip_hash, new_tip_number, depth,
    old_sequencer, new_sequencer
FROM reorgs FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS taiko_errors_current AS
SELECT
    chain_id, block_number, log_index, tx_hash, address, event, reason
FROM taiko_errors FINAL
WHERE deleted = 0;
