-- 0002: the l2_heads output of the taiko dataflow (one row per canonical Taiko L2 block).
-- Conventions and sections as in 0001.

CREATE TABLE IF NOT EXISTS l2_heads (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash TEXT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    sum_gas_used BIGINT NOT NULL,
    sum_tx BIGINT NOT NULL,
    sum_priority_fee NUMERIC(39, 0) NOT NULL,
    sum_base_fee NUMERIC(39, 0) NOT NULL,
    sequencer TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (chain_id, block_number)
);

-- @timescale
-- A hypertable chunked by block number (a key column, as gas_fees_blocks), about a month of
-- 2-second L2 blocks per chunk.
SELECT create_hypertable('l2_heads', 'block_number', chunk_time_interval => 1296000, if_not_exists => TRUE, migrate_data => TRUE);
