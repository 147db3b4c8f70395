//! Integration tests: one binary, a module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod anvil_harness;
mod cli;
mod clickhouse_crash;
mod clickhouse_migrations;
mod clickhouse_sink;
mod config_example;
mod erc20;
mod layers;
mod nats;
mod oracle;
mod postgres_sink;
mod real_data;
mod replay;
mod rpc;
mod rpc_errors;
mod schemas;
mod spec_tables;
mod support;
mod taiko;
mod taiko_contracts;
mod taiko_rollup;
mod timescale;
