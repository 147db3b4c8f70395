//! The Taiko rollup (issue 8, in progress): so far the decoding of the protocol's L1 and L2
//! events of both forks ([`events`]). The dataflows over L1 and L2 (heads, batches, proofs,
//! verifications, forced inclusions, costs, rollups, reorgs) build on it and are not
//! registered yet.

pub mod events;
