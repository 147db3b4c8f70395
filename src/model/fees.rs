//! Fee recurrences of the execution layer: the EIP-1559 base fee, the EIP-4844 blob fee market
//! (with the EIP-7691 and EIP-7892 parameter changes and the EIP-7918 reserve price), effective
//! tips and nearest-rank percentiles.
//!
//! Every function is pure, total and exact: wei amounts are `u128`, intermediate products that
//! could exceed it are computed in 256 bits, and nothing panics.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

use super::Wei;

/// EIP-1559 elasticity multiplier: the gas target is half the gas limit.
const ELASTICITY_MULTIPLIER: u64 = 2;

/// EIP-1559 base fee max change denominator: the base fee moves by at most 1/8 per block.
const BASE_FEE_MAX_CHANGE_DENOMINATOR: u64 = 8;

/// EIP-4844 minimum blob base fee per blob gas.
const MIN_BASE_FEE_PER_BLOB_GAS: u128 = 1;

/// EIP-7918 execution gas a blob is priced at, at least (`2^13`).
const BLOB_BASE_COST: u64 = 1 << 13;

/// Mainnet Cancun activation timestamp (block 19,426,587).
const MAINNET_CANCUN_TIME: u64 = 1_710_338_135;
/// Mainnet Prague activation timestamp (block 22,431,084).
const MAINNET_PRAGUE_TIME: u64 = 1_746_612_311;
/// Mainnet Osaka activation timestamp.
const MAINNET_OSAKA_TIME: u64 = 1_764_798_551;
/// Mainnet BPO1 activation timestamp (block 23,975,778).
const MAINNET_BPO1_TIME: u64 = 1_765_290_071;
/// Mainnet BPO2 activation timestamp.
const MAINNET_BPO2_TIME: u64 = 1_767_747_671;

/// Base fee of the child of a block with the given gas used, gas limit and base fee, per
/// EIP-1559 (elasticity 2, max change denominator 8), exactly as geth's `CalcBaseFee` for a
/// parent that is already past London.
///
/// Above the target the base fee rises by at least 1 wei. A gas limit below 2 (target 0) leaves
/// the base fee unchanged instead of dividing by zero; a result beyond `u128::MAX` saturates.
pub fn next_base_fee(parent_gas_used: u64, parent_gas_limit: u64, parent_base_fee: u128) -> u128 {
    let target = parent_gas_limit / ELASTICITY_MULTIPLIER;
    if target == 0 || parent_gas_used == target {
        return parent_base_fee;
    }
    let scaled = |delta: u64| -> u128 {
        let num = U256::from(parent_base_fee) * U256::from(delta)
            / U256::from(target)
            / U256::from(BASE_FEE_MAX_CHANGE_DENOMINATOR);
        // at most parent_base_fee * u64::MAX / 8 fits 256 bits; saturate instead of truncating
        num.saturating_to::<u128>()
    };
    if parent_gas_used > target {
        let delta = scaled(parent_gas_used - target).max(1);
        parent_base_fee.saturating_add(delta)
    } else {
        parent_base_fee.saturating_sub(scaled(target - parent_gas_used))
    }
}

/// Blob gas consumed by one blob (`2^17`).
pub const GAS_PER_BLOB: u64 = 131072;

/// The parameters of the blob fee market in force for a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobParams {
    /// Target number of blobs per block.
    pub target_blobs: u64,
    /// Maximum number of blobs per block.
    pub max_blobs: u64,
    /// Blob base fee update fraction (the denominator of the exponent).
    pub update_fraction: u128,
    /// Whether the EIP-7918 reserve price rule applies to the excess blob gas.
    pub eip7918: bool,
}

impl BlobParams {
    /// Cancun (EIP-4844): target 3, max 6.
    pub const CANCUN: BlobParams = BlobParams {
        target_blobs: 3,
        max_blobs: 6,
        update_fraction: 3_338_477,
        eip7918: false,
    };
    /// Prague (EIP-7691): target 6, max 9.
    pub const PRAGUE: BlobParams = BlobParams {
        target_blobs: 6,
        max_blobs: 9,
        update_fraction: 5_007_716,
        eip7918: false,
    };
    /// Osaka: Prague's counts with the EIP-7918 reserve price.
    pub const OSAKA: BlobParams = BlobParams {
        target_blobs: 6,
        max_blobs: 9,
        update_fraction: 5_007_716,
        eip7918: true,
    };
    /// First blob-parameter-only fork (EIP-7892): target 10, max 15.
    pub const BPO1: BlobParams = BlobParams {
        target_blobs: 10,
        max_blobs: 15,
        update_fraction: 8_346_193,
        eip7918: true,
    };
    /// Second blob-parameter-only fork (EIP-7892): target 14, max 21.
    pub const BPO2: BlobParams = BlobParams {
        target_blobs: 14,
        max_blobs: 21,
        update_fraction: 11_684_671,
        eip7918: true,
    };

    /// Target blob gas per block: `target_blobs * GAS_PER_BLOB` (saturating).
    pub fn target_blob_gas(&self) -> u64 {
        self.target_blobs.saturating_mul(GAS_PER_BLOB)
    }

    /// Maximum blob gas per block: `max_blobs * GAS_PER_BLOB` (saturating).
    pub fn max_blob_gas(&self) -> u64 {
        self.max_blobs.saturating_mul(GAS_PER_BLOB)
    }

    /// The blob parameters in force on Ethereum mainnet for a block with this timestamp, `None`
    /// before Cancun.
    pub fn mainnet_at(timestamp: u64) -> Option<BlobParams> {
        if timestamp >= MAINNET_BPO2_TIME {
            Some(Self::BPO2)
        } else if timestamp >= MAINNET_BPO1_TIME {
            Some(Self::BPO1)
        } else if timestamp >= MAINNET_OSAKA_TIME {
            Some(Self::OSAKA)
        } else if timestamp >= MAINNET_PRAGUE_TIME {
            Some(Self::PRAGUE)
        } else if timestamp >= MAINNET_CANCUN_TIME {
            Some(Self::CANCUN)
        } else {
            None
        }
    }

    /// The parameters of a fork by its lowercase name: `cancun`, `prague`, `osaka`, `bpo1` or
    /// `bpo2`.
    pub fn from_name(name: &str) -> Option<BlobParams> {
        match name {
            "cancun" => Some(Self::CANCUN),
            "prague" => Some(Self::PRAGUE),
            "osaka" => Some(Self::OSAKA),
            "bpo1" => Some(Self::BPO1),
            "bpo2" => Some(Self::BPO2),
            _ => None,
        }
    }
}

/// Approximates `factor * e ** (numerator / denominator)` by the Taylor expansion of EIP-4844's
/// `fake_exponential`, with the same integer rounding.
///
/// The series is summed in 256 bits. Should a term or the sum overflow 256 bits, or the result
/// exceed `u128::MAX`, the result saturates to `u128::MAX`. A zero `factor` gives 0; a zero
/// `denominator` (an infinite exponent) with a non-zero `factor` gives `u128::MAX`.
pub fn fake_exponential(factor: u128, numerator: u128, denominator: u128) -> u128 {
    if factor == 0 {
        return 0;
    }
    if denominator == 0 {
        return u128::MAX;
    }
    let numerator = U256::from(numerator);
    let denominator = U256::from(denominator);
    let mut output = U256::ZERO;
    let mut accum = U256::from(factor) * denominator;
    let mut i = U256::from(1u8);
    while !accum.is_zero() {
        let Some(sum) = output.checked_add(accum) else {
            return u128::MAX;
        };
        output = sum;
        let Some(product) = accum.checked_mul(numerator) else {
            return u128::MAX;
        };
        let Some(divisor) = denominator.checked_mul(i) else {
            return u128::MAX;
        };
        accum = product / divisor;
        i += U256::from(1u8);
    }
    (output / denominator).saturating_to::<u128>()
}

/// Blob base fee per blob gas of a block with this excess blob gas:
/// `fake_exponential(1, excess_blob_gas, update_fraction)` (`MIN_BASE_FEE_PER_BLOB_GAS` is 1).
pub fn blob_base_fee(excess_blob_gas: u64, params: &BlobParams) -> u128 {
    fake_exponential(
        MIN_BASE_FEE_PER_BLOB_GAS,
        u128::from(excess_blob_gas),
        params.update_fraction,
    )
}

/// Excess blob gas of the child of a block, exactly as geth's `calcExcessBlobGas`.
///
/// `params` are the parameters in force for the child block. Below the target the excess resets
/// to 0. With EIP-7918, when the reserve price `BLOB_BASE_COST * parent_base_fee` exceeds
/// `GAS_PER_BLOB * blob_base_fee(parent_excess_blob_gas)`, the excess grows by
/// `parent_blob_gas_used * (max - target) / max` and never shrinks; otherwise it is
/// `parent_excess_blob_gas + parent_blob_gas_used - target`. Sums saturate at `u64::MAX`.
pub fn next_excess_blob_gas(
    parent_excess_blob_gas: u64,
    parent_blob_gas_used: u64,
    parent_base_fee: u128,
    params: &BlobParams,
) -> u64 {
    let excess = parent_excess_blob_gas.saturating_add(parent_blob_gas_used);
    let target = params.target_blob_gas();
    if excess < target {
        return 0;
    }
    if params.eip7918 && params.max_blobs > 0 {
        let reserve_price = U256::from(BLOB_BASE_COST) * U256::from(parent_base_fee);
        let blob_price =
            U256::from(GAS_PER_BLOB) * U256::from(blob_base_fee(parent_excess_blob_gas, params));
        if reserve_price > blob_price {
            let scaled = u128::from(parent_blob_gas_used)
                * u128::from(params.max_blobs.saturating_sub(params.target_blobs))
                / u128::from(params.max_blobs);
            let scaled = u64::try_from(scaled).unwrap_or(u64::MAX);
            return parent_excess_blob_gas.saturating_add(scaled);
        }
    }
    excess - target
}

/// Tip per gas a transaction paid to the block producer: `effective_gas_price - base_fee`,
/// saturating at 0.
pub fn effective_tip(effective_gas_price: u128, base_fee: u128) -> u128 {
    effective_gas_price.saturating_sub(base_fee)
}

/// Nearest rank of percentile `p` among `n` values: `ceil(p * n / 100)`, at least 1, at most
/// `n`. `p` above 100 counts as 100. Computed as `p * (n / 100) + ceil(p * (n % 100) / 100)`,
/// which is exact and cannot overflow.
fn nearest_rank(n: u128, p: u32) -> u128 {
    let p = u128::from(p.min(100));
    let rank = p * (n / 100) + (p * (n % 100)).div_ceil(100);
    rank.clamp(1, n.max(1))
}

/// Nearest-rank percentile `p` (0..=100, larger counts as 100) of an ascending slice: the value
/// at rank `ceil(p / 100 * n)`, rank at least 1. An empty slice gives 0.
pub fn percentile(sorted: &[Wei], p: u32) -> Wei {
    if sorted.is_empty() {
        return 0;
    }
    let n = u128::try_from(sorted.len()).unwrap_or(u128::MAX);
    let rank = nearest_rank(n, p);
    usize::try_from(rank - 1)
        .ok()
        .and_then(|i| sorted.get(i))
        .copied()
        .unwrap_or(0)
}

/// [`percentile`] over a run-length encoded ascending list of `(value, count)` pairs: equal to
/// `percentile` of the list with every value repeated `count` times. Runs of count 0 are
/// skipped; an empty (or all-zero) list gives 0.
pub fn percentile_runs(runs: &[(Wei, u64)], p: u32) -> Wei {
    // a slice holds fewer than 2^64 runs of fewer than 2^64 each: the total fits u128
    let n = runs.iter().fold(0u128, |acc, &(_, count)| {
        acc.saturating_add(u128::from(count))
    });
    if n == 0 {
        return 0;
    }
    let rank = nearest_rank(n, p);
    let mut seen = 0u128;
    for &(value, count) in runs {
        seen = seen.saturating_add(u128::from(count));
        if seen >= rank {
            return value;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_fee_at_target_is_unchanged() {
        assert_eq!(
            next_base_fee(15_000_000, 30_000_000, 1_000_000_000),
            1_000_000_000
        );
    }

    #[test]
    fn base_fee_full_block_rises_an_eighth() {
        assert_eq!(
            next_base_fee(30_000_000, 30_000_000, 1_000_000_000),
            1_125_000_000
        );
    }

    #[test]
    fn base_fee_empty_block_falls_an_eighth() {
        assert_eq!(next_base_fee(0, 30_000_000, 1_000_000_000), 875_000_000);
    }

    #[test]
    fn base_fee_rises_at_least_one_wei() {
        assert_eq!(next_base_fee(15_000_001, 30_000_000, 7), 8);
        assert_eq!(next_base_fee(15_000_001, 30_000_000, 0), 1);
    }

    #[test]
    fn base_fee_never_panics_on_extremes() {
        assert_eq!(next_base_fee(5, 1, 100), 100);
        assert_eq!(next_base_fee(0, 0, 100), 100);
        assert_eq!(next_base_fee(u64::MAX, 2, u128::MAX), u128::MAX);
        assert_eq!(next_base_fee(0, u64::MAX, 0), 0);
        assert_eq!(
            next_base_fee(0, u64::MAX, u128::MAX),
            u128::MAX - u128::MAX / 8
        );
    }

    #[test]
    fn blob_params_gas() {
        assert_eq!(BlobParams::CANCUN.target_blob_gas(), 393_216);
        assert_eq!(BlobParams::CANCUN.max_blob_gas(), 786_432);
        assert_eq!(BlobParams::PRAGUE.target_blob_gas(), 786_432);
        assert_eq!(BlobParams::PRAGUE.max_blob_gas(), 1_179_648);
        assert_eq!(BlobParams::BPO2.max_blob_gas(), 21 * GAS_PER_BLOB);
    }

    #[test]
    fn blob_params_by_timestamp() {
        assert_eq!(BlobParams::mainnet_at(0), None);
        assert_eq!(BlobParams::mainnet_at(1_710_338_134), None);
        assert_eq!(
            BlobParams::mainnet_at(1_710_338_135),
            Some(BlobParams::CANCUN)
        );
        assert_eq!(
            BlobParams::mainnet_at(1_746_612_310),
            Some(BlobParams::CANCUN)
        );
        assert_eq!(
            BlobParams::mainnet_at(1_746_612_311),
            Some(BlobParams::PRAGUE)
        );
        assert_eq!(
            BlobParams::mainnet_at(1_764_798_551),
            Some(BlobParams::OSAKA)
        );
        assert_eq!(
            BlobParams::mainnet_at(1_765_290_071),
            Some(BlobParams::BPO1)
        );
        assert_eq!(
            BlobParams::mainnet_at(1_767_747_670),
            Some(BlobParams::BPO1)
        );
        assert_eq!(
            BlobParams::mainnet_at(1_767_747_671),
            Some(BlobParams::BPO2)
        );
        assert_eq!(BlobParams::mainnet_at(u64::MAX), Some(BlobParams::BPO2));
    }

    #[test]
    fn blob_params_by_name() {
        assert_eq!(BlobParams::from_name("cancun"), Some(BlobParams::CANCUN));
        assert_eq!(BlobParams::from_name("prague"), Some(BlobParams::PRAGUE));
        assert_eq!(BlobParams::from_name("osaka"), Some(BlobParams::OSAKA));
        assert_eq!(BlobParams::from_name("bpo1"), Some(BlobParams::BPO1));
        assert_eq!(BlobParams::from_name("bpo2"), Some(BlobParams::BPO2));
        assert_eq!(BlobParams::from_name("Cancun"), None);
        assert_eq!(BlobParams::from_name(""), None);
    }

    #[test]
    fn blob_params_serde_round_trip() {
        let json = match serde_json::to_string(&BlobParams::BPO1) {
            Ok(json) => json,
            Err(e) => panic!("serialize: {e}"),
        };
        match serde_json::from_str::<BlobParams>(&json) {
            Ok(back) => assert_eq!(back, BlobParams::BPO1),
            Err(e) => panic!("deserialize {json}: {e}"),
        }
    }

    #[test]
    fn fake_exponential_matches_eip4844_vectors() {
        // test vectors from the EIP-4844 reference tests
        let cases: [(u128, u128, u128, u128); 16] = [
            (1, 0, 1, 1),
            (38493, 0, 1000, 38493),
            (0, 1234, 2345, 0),
            (1, 2, 1, 6),
            (1, 4, 2, 6),
            (1, 3, 1, 16),
            (1, 6, 2, 18),
            (1, 4, 1, 49),
            (1, 8, 2, 50),
            (10, 8, 2, 542),
            (11, 8, 2, 596),
            (1, 5, 1, 136),
            (1, 5, 2, 11),
            (2, 5, 2, 23),
            (1, 50_000_000, 2_225_652, 5_709_098_764),
            (1, 380_928, 3_338_477, 1),
        ];
        for (factor, num, den, want) in cases {
            assert_eq!(
                fake_exponential(factor, num, den),
                want,
                "{factor} {num} {den}"
            );
        }
    }

    #[test]
    fn fake_exponential_saturates() {
        assert_eq!(fake_exponential(1, u128::MAX, 1), u128::MAX);
        assert_eq!(fake_exponential(u128::MAX, 1_000_000, 1), u128::MAX);
        assert_eq!(fake_exponential(5, 1, 0), u128::MAX);
        assert_eq!(fake_exponential(0, 1, 0), 0);
        assert_eq!(fake_exponential(u128::MAX, 0, u128::MAX), u128::MAX);
    }

    #[test]
    fn blob_base_fee_values() {
        assert_eq!(blob_base_fee(0, &BlobParams::CANCUN), 1);
        assert_eq!(blob_base_fee(10 * 1024 * 1024, &BlobParams::CANCUN), 23);
        assert_eq!(blob_base_fee(u64::MAX, &BlobParams::CANCUN), u128::MAX);
    }

    #[test]
    fn excess_blob_gas_cancun() {
        let p = BlobParams::CANCUN;
        assert_eq!(next_excess_blob_gas(0, 0, 0, &p), 0);
        assert_eq!(next_excess_blob_gas(0, 393_216, 0, &p), 0);
        assert_eq!(next_excess_blob_gas(0, 786_432, 0, &p), 393_216);
        assert_eq!(next_excess_blob_gas(100, 393_216, 0, &p), 100);
        assert_eq!(next_excess_blob_gas(393_216, 0, 0, &p), 0);
        assert_eq!(next_excess_blob_gas(393_215, 0, 0, &p), 0);
        // no reserve price before Osaka, however high the base fee
        assert_eq!(next_excess_blob_gas(1_000_000, 0, u128::MAX, &p), 606_784);
    }

    #[test]
    fn excess_blob_gas_eip7918_reserve_price() {
        let p = BlobParams::OSAKA;
        // blob base fee 1: the reserve price binds as soon as the base fee exceeds 16 wei
        let cheap = 1_000_000;
        assert_eq!(blob_base_fee(cheap, &p), 1);
        assert_eq!(next_excess_blob_gas(cheap, 0, 16, &p), cheap - 786_432);
        assert_eq!(next_excess_blob_gas(cheap, 0, 17, &p), cheap);
        assert_eq!(
            next_excess_blob_gas(cheap, 9 * GAS_PER_BLOB, 17, &p),
            cheap + 3 * GAS_PER_BLOB
        );
        // below the target the excess still resets
        assert_eq!(next_excess_blob_gas(0, GAS_PER_BLOB, u128::MAX, &p), 0);
    }

    #[test]
    fn excess_blob_gas_saturates() {
        let p = BlobParams::BPO2;
        // the blob price saturates too, so the reserve price does not bind here
        assert_eq!(
            next_excess_blob_gas(u64::MAX, u64::MAX, u128::MAX, &p),
            u64::MAX - p.target_blob_gas()
        );
        assert_eq!(
            next_excess_blob_gas(0, u64::MAX, u128::MAX, &p),
            u64::MAX / 3
        );
        let zero = BlobParams {
            target_blobs: 0,
            max_blobs: 0,
            update_fraction: 0,
            eip7918: true,
        };
        assert_eq!(next_excess_blob_gas(5, 6, 7, &zero), 11);
    }

    #[test]
    fn effective_tip_saturates() {
        assert_eq!(effective_tip(10, 3), 7);
        assert_eq!(effective_tip(3, 10), 0);
        assert_eq!(effective_tip(u128::MAX, 0), u128::MAX);
    }

    #[test]
    fn percentile_nearest_rank() {
        let v = [15, 20, 35, 40, 50];
        assert_eq!(percentile(&v, 0), 15);
        assert_eq!(percentile(&v, 5), 15);
        assert_eq!(percentile(&v, 30), 20);
        assert_eq!(percentile(&v, 40), 20);
        assert_eq!(percentile(&v, 50), 35);
        assert_eq!(percentile(&v, 100), 50);
        assert_eq!(percentile(&v, 250), 50);
        assert_eq!(percentile(&[], 50), 0);
        assert_eq!(percentile(&[7], 0), 7);
        assert_eq!(percentile(&[7], 100), 7);
    }

    #[test]
    fn percentile_runs_basics() {
        assert_eq!(percentile_runs(&[], 50), 0);
        assert_eq!(percentile_runs(&[(3, 0), (4, 0)], 50), 0);
        assert_eq!(percentile_runs(&[(1, 0), (2, 3), (9, 1)], 0), 2);
        assert_eq!(percentile_runs(&[(1, 0), (2, 3), (9, 1)], 75), 2);
        assert_eq!(percentile_runs(&[(1, 0), (2, 3), (9, 1)], 76), 9);
        assert_eq!(percentile_runs(&[(5, u64::MAX), (6, u64::MAX)], 100), 6);
    }

    /// xorshift64*: a small deterministic PRNG for property tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn percentile_runs_equals_percentile_on_expansion() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2_000 {
            let len = rng.below(12);
            let mut runs = Vec::new();
            let mut value: u128 = u128::from(rng.below(5));
            for _ in 0..len {
                value += u128::from(rng.below(4)) + 1;
                runs.push((value, rng.below(5)));
            }
            let expanded: Vec<u128> = runs
                .iter()
                .flat_map(|&(v, c)| std::iter::repeat_n(v, c as usize))
                .collect();
            for p in 0..=101 {
                assert_eq!(
                    percentile_runs(&runs, p),
                    percentile(&expanded, p),
                    "runs {runs:?} p {p}"
                );
            }
        }
    }
}
