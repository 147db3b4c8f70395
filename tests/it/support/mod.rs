//! Test support: a real anvil node ([`anvil`]) and an independent oracle that reads the
//! node's canonical chain over plain JSON-RPC ([`node_oracle`]).

#![allow(dead_code)]

pub mod anvil;
pub mod clickhouse;
pub mod nats;
pub mod node_oracle;
pub mod postgres;
pub mod rows;
pub mod taiko_node;
