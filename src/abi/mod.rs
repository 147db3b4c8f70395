//! Contract ABIs of the protocols chainflow knows: event signatures (alloy `sol!`), topic0
//! values, well-known addresses and the decoding of logs into typed events.
//!
//! They sit below the sources and the dataflows because both use them: a generator (the
//! rollup devnet) emits the events a dataflow (`taiko`) decodes. Pure: no I/O.

pub mod taiko;
