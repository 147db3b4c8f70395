//! JSON-RPC source.
pub mod convert;
