-- 0003: the outputs of the taiko dataflow other than l2_heads (0002): L1 heads, batches and
-- their L2 blocks, proofs, verifications, forced inclusions, slashings, L1 costs, batch times,
-- batch L2 sums, hourly and daily rollups of the L2 blocks and of the batches, reorgs and
-- decode errors. Conventions and sections as in 0001 (types, `version`, primary key = the
-- output's key).

CREATE TABLE IF NOT EXISTS l1_heads (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash TEXT NOT NULL,
    slot BIGINT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, block_number)
);

CREATE TABLE IF NOT EXISTS batches (
    chain_id BIGINT NOT NULL,
    fork TEXT NOT NULL,
    batch_id BIGINT NOT NULL,
    l1_block_number BIGINT NOT NULL,
    l1_tx_hash TEXT NOT NULL,
    l1_timestamp TIMESTAMPTZ NOT NULL,
    proposer TEXT NOT NULL,
    block_count BIGINT NOT NULL,
    last_block_id BIGINT NOT NULL,
    blob_count BIGINT NOT NULL,
    blob_bytes BIGINT NOT NULL,
    forced_inclusion BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, fork, batch_id)
);

CREATE TABLE IF NOT EXISTS batch_blocks (
    chain_id BIGINT NOT NULL,
    batch_id BIGINT NOT NULL,
    l2_block_number BIGINT NOT NULL,
    l1_block_number BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, batch_id, l2_block_number)
);

CREATE TABLE IF NOT EXISTS batch_proofs (
    chain_id BIGINT NOT NULL,
    l1_block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    batch_id BIGINT NOT NULL,
    fork TEXT NOT NULL,
    prover TEXT NOT NULL,
    parent_hash TEXT NOT NULL,
    block_hash TEXT NOT NULL,
    state_root TEXT NOT NULL,
    l1_tx_hash TEXT NOT NULL,
    l1_timestamp TIMESTAMPTZ NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, l1_block_number, log_index, batch_id)
);

CREATE TABLE IF NOT EXISTS batch_verifications (
    chain_id BIGINT NOT NULL,
    l1_block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    fork TEXT NOT NULL,
    first_batch_id BIGINT NOT NULL,
    batch_id BIGINT NOT NULL,
    block_hash TEXT NOT NULL,
    l1_tx_hash TEXT NOT NULL,
    l1_timestamp TIMESTAMPTZ NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, l1_block_number, log_index)
);

CREATE TABLE IF NOT EXISTS forced_inclusions (
    chain_id BIGINT NOT NULL,
    l1_block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    kind TEXT NOT NULL,
    fork TEXT NOT NULL,
    blob_hash TEXT NOT NULL,
    fee_in_gwei BIGINT NOT NULL,
    created_at_batch_id BIGINT NOT NULL,
    l1_tx_hash TEXT NOT NULL,
    l1_timestamp TIMESTAMPTZ NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, l1_block_number, log_index)
);

CREATE TABLE IF NOT EXISTS slashings (
    chain_id BIGINT NOT NULL,
    l1_block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    kind TEXT NOT NULL,
    offender TEXT NOT NULL,
    beneficiary TEXT NOT NULL,
    violation_type BIGINT NOT NULL,
    batch_id BIGINT NOT NULL,
    amount NUMERIC(39, 0) NOT NULL,
    l1_tx_hash TEXT NOT NULL,
    l1_timestamp TIMESTAMPTZ NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, l1_block_number, log_index)
);

CREATE TABLE IF NOT EXISTS l1_costs (
    chain_id BIGINT NOT NULL,
    l1_block_number BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    kind TEXT NOT NULL,
    batch_id BIGINT NOT NULL,
    sender TEXT NOT NULL,
    gas_used BIGINT NOT NULL,
    execution_fee NUMERIC(39, 0) NOT NULL,
    blob_count BIGINT NOT NULL,
    blob_fee NUMERIC(39, 0) NOT NULL,
    total_fee NUMERIC(39, 0) NOT NULL,
    l1_timestamp TIMESTAMPTZ NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, tx_hash)
);

CREATE TABLE IF NOT EXISTS batch_times (
    chain_id BIGINT NOT NULL,
    fork TEXT NOT NULL,
    batch_id BIGINT NOT NULL,
    proposed_at TIMESTAMPTZ NOT NULL,
    proved_at BIGINT NOT NULL,
    verified_at BIGINT NOT NULL,
    prove_secs BIGINT NOT NULL,
    verify_secs BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, fork, batch_id)
);

CREATE TABLE IF NOT EXISTS batch_l2 (
    chain_id BIGINT NOT NULL,
    batch_id BIGINT NOT NULL,
    l2_blocks BIGINT NOT NULL,
    sum_gas_used BIGINT NOT NULL,
    sum_tx BIGINT NOT NULL,
    sum_priority_fee NUMERIC(39, 0) NOT NULL,
    sum_base_fee NUMERIC(39, 0) NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, batch_id)
);

CREATE TABLE IF NOT EXISTS l2_hours (
    chain_id BIGINT NOT NULL,
    bucket_start TIMESTAMPTZ NOT NULL,
    blocks BIGINT NOT NULL,
    sum_gas_used BIGINT NOT NULL,
    sum_tx BIGINT NOT NULL,
    sum_priority_fee NUMERIC(39, 0) NOT NULL,
    sum_base_fee NUMERIC(39, 0) NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, bucket_start)
);

CREATE TABLE IF NOT EXISTS l2_days (
    chain_id BIGINT NOT NULL,
    bucket_start TIMESTAMPTZ NOT NULL,
    blocks BIGINT NOT NULL,
    sum_gas_used BIGINT NOT NULL,
    sum_tx BIGINT NOT NULL,
    sum_priority_fee NUMERIC(39, 0) NOT NULL,
    sum_base_fee NUMERIC(39, 0) NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, bucket_start)
);

CREATE TABLE IF NOT EXISTS batch_hours (
    chain_id BIGINT NOT NULL,
    bucket_start TIMESTAMPTZ NOT NULL,
    batches BIGINT NOT NULL,
    l2_blocks BIGINT NOT NULL,
    blob_count BIGINT NOT NULL,
    blob_bytes BIGINT NOT NULL,
    forced_inclusions BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, bucket_start)
);

CREATE TABLE IF NOT EXISTS batch_days (
    chain_id BIGINT NOT NULL,
    bucket_start TIMESTAMPTZ NOT NULL,
    batches BIGINT NOT NULL,
    l2_blocks BIGINT NOT NULL,
    blob_count BIGINT NOT NULL,
    blob_bytes BIGINT NOT NULL,
    forced_inclusions BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, bucket_start)
);

CREATE TABLE IF NOT EXISTS reorgs (
    chain_id BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    old_tip_hash TEXT NOT NULL,
    old_tip_number BIGINT NOT NULL,
    new_tip_hash TEXT NOT NULL,
    new_tip_number BIGINT NOT NULL,
    depth BIGINT NOT NULL,
    old_sequencer TEXT NOT NULL,
    new_sequencer TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, epoch, old_tip_hash)
);

CREATE TABLE IF NOT EXISTS taiko_errors (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    address TEXT NOT NULL,
    event TEXT NOT NULL,
    reason TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, block_number, log_index)
);

-- @timescale
-- Hypertables chunked by a key column (a reorg never moves a key to another chunk): about a
-- month of 12-second L1 blocks per chunk for the tables keyed by an L1 block, a year of them
-- for the rare events, about a month of batches (one per two L1 slots) for the tables keyed by
-- a batch id, and the time buckets by their start as gas_fees_hours and gas_fees_days.
-- Plain tables stay: l1_costs (keyed by a transaction hash: an L1 reorg may move the
-- transaction to another block, so its block cannot partition it), reorgs (append-only, rare,
-- keyed by an ingest epoch that is no chain height or time) and taiko_errors (rare, and its
-- block numbers are of the L1 or the L2, whose blocks span different times).
SELECT create_hypertable('l1_heads', 'block_number', chunk_time_interval => 216000, if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('batches', 'batch_id', chunk_time_interval => 100000, if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('batch_blocks', 'batch_id', chunk_time_interval => 100000, if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('batch_proofs', 'l1_block_number', chunk_time_interval => 216000, if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('batch_verifications', 'l1_block_number', chunk_time_interval => 216000, if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('forced_inclusions', 'l1_block_number', chunk_time_interval => 2628000, if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('slashings', 'l1_block_number', chunk_time_interval => 2628000, if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('batch_times', 'batch_id', chunk_time_interval => 100000, if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('batch_l2', 'batch_id', chunk_time_interval => 100000, if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('l2_hours', 'bucket_start', chunk_time_interval => INTERVAL '30 days', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('l2_days', 'bucket_start', chunk_time_interval => INTERVAL '365 days', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('batch_hours', 'bucket_start', chunk_time_interval => INTERVAL '30 days', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('batch_days', 'bucket_start', chunk_time_interval => INTERVAL '365 days', if_not_exists => TRUE, migrate_data => TRUE);
