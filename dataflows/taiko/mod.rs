//! The Taiko rollup (issue 8, in progress): so far the decoding of the protocol's L1 and L2
//! events of both forks ([`events`]) and the per-block L2 metrics ([`l2`], the `l2_heads`
//! row). The dataflows over L1 and L2 (heads, batches, proofs, verifications, forced
//! inclusions, costs, rollups, reorgs) build on them and are not registered yet.

pub mod events;
pub mod l2;
