//! Fee recurrences (placeholder until the real module lands).
#![allow(missing_docs)]
use serde::{Deserialize, Serialize};
pub const GAS_PER_BLOB: u64 = 131072;
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobParams {
    pub target_blobs: u64,
    pub max_blobs: u64,
    pub update_fraction: u128,
    pub eip7918: bool,
}
impl BlobParams {
    pub const PRAGUE: BlobParams = BlobParams {
        target_blobs: 6,
        max_blobs: 9,
        update_fraction: 5007716,
        eip7918: false,
    };
    pub fn target_blob_gas(&self) -> u64 {
        self.target_blobs * GAS_PER_BLOB
    }
    pub fn max_blob_gas(&self) -> u64 {
        self.max_blobs * GAS_PER_BLOB
    }
    pub fn from_name(n: &str) -> Option<BlobParams> {
        (n == "prague").then_some(Self::PRAGUE)
    }
}
pub fn next_base_fee(used: u64, limit: u64, base: u128) -> u128 {
    let target = (limit / 2) as u128;
    let used = used as u128;
    if target == 0 {
        return base;
    }
    if used == target {
        base
    } else if used > target {
        base + (base * (used - target) / target / 8).max(1)
    } else {
        base - base * (target - used) / target / 8
    }
}
pub fn fake_exponential(factor: u128, numerator: u128, denominator: u128) -> u128 {
    let mut i = 1u128;
    let mut output = 0u128;
    let mut acc = factor * denominator;
    while acc > 0 {
        output += acc;
        acc = acc * numerator / (denominator * i);
        i += 1;
    }
    output / denominator
}
pub fn blob_base_fee(excess: u64, p: &BlobParams) -> u128 {
    fake_exponential(1, excess as u128, p.update_fraction)
}
pub fn next_excess_blob_gas(pe: u64, pu: u64, _pb: u128, p: &BlobParams) -> u64 {
    (pe + pu).saturating_sub(p.target_blob_gas())
}
pub fn effective_tip(price: u128, base: u128) -> u128 {
    price.saturating_sub(base)
}
pub fn percentile(sorted: &[u128], p: u32) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len() as u64;
    let rank = ((p as u64 * n).div_ceil(100)).max(1);
    sorted[(rank - 1) as usize]
}
pub fn percentile_runs(runs: &[(u128, u64)], p: u32) -> u128 {
    let n: u64 = runs.iter().map(|r| r.1).sum();
    if n == 0 {
        return 0;
    }
    let rank = ((p as u64 * n).div_ceil(100)).max(1);
    let mut seen = 0;
    for (v, c) in runs {
        seen += c;
        if seen >= rank {
            return *v;
        }
    }
    0
}
