//! A hand-written reader of the bincode 2 layout (standard configuration) of a [`Block`]: the
//! ingress's hot path. It reads the very bytes `bincode::serde` writes and accepts and refuses
//! what `bincode::serde` decoding does; it is several times faster because it reads fixed
//! hashes and addresses straight into their arrays and takes no detour through serde's
//! visitors.
//!
//! ```text
//!  integer  u8: one byte; u16..u128: varint (< 251 itself; 251/252/253/254 then 2/4/8/16
//!           little-endian bytes; a marker too wide for the type is an error)
//!  bool     one byte, 0 or 1        Option<T>  one byte 0 (None) or 1 then T
//!  B256     varint 32, 32 bytes     Address    varint 20, 20 bytes
//!  Vec<T>   varint length, items    Vec<u8>    varint length, bytes
//!  struct   its fields in declaration order
//! ```
//!
//! The tests check it against `bincode::serde` on whole devnet blocks and on every
//! truncation and a sweep of corrupted bytes.

use crate::model::{Address, B256, Block, Log, Tx};

/// Why bytes are not a bincode [`Block`]: a message naming the byte offset.
pub type Error = String;

/// Reads one [`Block`] from `bytes` at `*at` and moves `*at` past it.
pub fn block(bytes: &[u8], at: &mut usize) -> Result<Block, Error> {
    let mut r = Reader { bytes, at: *at };
    let block = r.block()?;
    *at = r.at;
    Ok(block)
}

/// Reads the length of a `Vec<Block>` at `*at` and moves `*at` past it; a count whose
/// blocks cannot fit in the bytes left is an error.
pub fn block_count(bytes: &[u8], at: &mut usize) -> Result<usize, Error> {
    let mut r = Reader { bytes, at: *at };
    let n = r.count(MIN_BLOCK, "blocks")?;
    *at = r.at;
    Ok(n)
}

/// The least number of bytes a [`Block`]: chain and number 2, two hashes 66, timestamp 1,
/// miner 21, six amounts 6, transaction and log counts 2.
const MIN_BLOCK: usize = 98;
/// The least number of bytes a [`Tx`]: hash 33, index 1, type 1, from 21, to 1, value 1, gas
/// limit and used 2, price 1, three fee caps 3, blob count 1, success 1.
const MIN_TX: usize = 66;
/// The least number of bytes a [`Log`]: indexes 2, tx hash 33, address 21, topics 1, data 1.
const MIN_LOG: usize = 58;
/// The least number of bytes a topic.
const MIN_TOPIC: usize = 33;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// The error of a read that ran past the end (cold: kept out of the readers' inlined code).
#[cold]
#[inline(never)]
fn end(r: &Reader<'_>, wanted: usize) -> Error {
    format!(
        "unexpected end at byte {}: {wanted} more wanted, {} left",
        r.at,
        r.bytes.len().saturating_sub(r.at)
    )
}

/// The error of a varint marker wider than its type.
#[cold]
#[inline(never)]
fn too_wide(marker: u8, at: usize, what: &str) -> Error {
    format!("varint marker {marker} at byte {at} is too wide for a {what}")
}

/// The error of a flag byte that is neither 0 nor 1.
#[cold]
#[inline(never)]
fn not_a_flag(byte: u8, at: usize, what: &str) -> Error {
    format!("{what} byte {byte} at byte {at} is not 0 or 1")
}

/// The error of fixed bytes of the wrong length.
#[cold]
#[inline(never)]
fn wrong_length(len: u64, at: usize, wanted: usize) -> Error {
    format!("{len} bytes at byte {at} where {wanted} are wanted")
}

impl<'a> Reader<'a> {
    #[inline(always)]
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        match self
            .at
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.at..end))
        {
            Some(s) => {
                self.at += n;
                Ok(s)
            }
            None => Err(end(self, n)),
        }
    }

    #[inline(always)]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        match self
            .bytes
            .get(self.at..)
            .and_then(|rest| rest.first_chunk::<N>())
        {
            Some(a) => {
                self.at += N;
                Ok(*a)
            }
            None => Err(end(self, N)),
        }
    }

    #[inline(always)]
    fn byte(&mut self) -> Result<u8, Error> {
        match self.bytes.get(self.at) {
            Some(&b) => {
                self.at += 1;
                Ok(b)
            }
            None => Err(end(self, 1)),
        }
    }

    /// A varint of at most 64 bits whose marker is at most `widest` (251 u16, 252 u32, 253
    /// u64).
    #[inline(always)]
    fn varint64(&mut self, widest: u8, what: &'static str) -> Result<u64, Error> {
        let at = self.at;
        let marker = self.byte()?;
        match marker {
            0..=250 => Ok(u64::from(marker)),
            m if m > widest => Err(too_wide(m, at, what)),
            251 => Ok(u64::from(u16::from_le_bytes(self.array()?))),
            252 => Ok(u64::from(u32::from_le_bytes(self.array()?))),
            _ => Ok(u64::from_le_bytes(self.array()?)),
        }
    }

    #[inline(always)]
    fn u32(&mut self) -> Result<u32, Error> {
        // A 252 marker carries four bytes: the value fits.
        Ok(self.varint64(252, "u32")? as u32)
    }

    #[inline(always)]
    fn u64(&mut self) -> Result<u64, Error> {
        self.varint64(253, "u64")
    }

    #[inline(always)]
    fn u128(&mut self) -> Result<u128, Error> {
        let at = self.at;
        match self.bytes.get(at) {
            Some(254) => {
                self.at += 1;
                Ok(u128::from_le_bytes(self.array()?))
            }
            _ => Ok(u128::from(self.varint64(253, "u128")?)),
        }
    }

    #[inline(always)]
    fn flag(&mut self, what: &'static str) -> Result<bool, Error> {
        let at = self.at;
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(not_a_flag(other, at, what)),
        }
    }

    /// Bytes with their varint length, `N` of them.
    #[inline(always)]
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let at = self.at;
        // The usual case: a one-byte length N, then the bytes.
        if let Some((&len, rest)) = self.bytes.get(at..).and_then(|r| r.split_first())
            && usize::from(len) == N
            && let Some(a) = rest.first_chunk::<N>()
        {
            self.at += 1 + N;
            return Ok(*a);
        }
        let len = self.u64()?;
        if len != N as u64 {
            return Err(wrong_length(len, at, N));
        }
        self.array()
    }

    /// A varint item count, refused when `min` bytes an item cannot fit in what is left (so
    /// a garbage count is an error, not an allocation).
    fn count(&mut self, min: usize, what: &str) -> Result<usize, Error> {
        let at = self.at;
        let n = self.u64()?;
        let left = self.bytes.len().saturating_sub(self.at) as u64;
        if n.saturating_mul(min as u64) > left {
            return Err(format!("{n} {what} announced at byte {at} in {left} bytes"));
        }
        Ok(n as usize)
    }

    fn block(&mut self) -> Result<Block, Error> {
        let chain_id = self.u64()?;
        let number = self.u64()?;
        let hash = B256::from(self.fixed::<32>()?);
        let parent_hash = B256::from(self.fixed::<32>()?);
        let timestamp = self.u64()?;
        let miner = Address::from(self.fixed::<20>()?);
        let gas_used = self.u64()?;
        let gas_limit = self.u64()?;
        let base_fee_per_gas = self.u128()?;
        let blob_gas_used = self.u64()?;
        let excess_blob_gas = self.u64()?;
        let blob_base_fee = self.u128()?;
        let n = self.count(MIN_TX, "transactions")?;
        let mut transactions = Vec::with_capacity(n);
        for _ in 0..n {
            transactions.push(self.tx()?);
        }
        let n = self.count(MIN_LOG, "logs")?;
        let mut logs = Vec::with_capacity(n);
        for _ in 0..n {
            logs.push(self.log()?);
        }
        Ok(Block {
            chain_id,
            number,
            hash,
            parent_hash,
            timestamp,
            miner,
            gas_used,
            gas_limit,
            base_fee_per_gas,
            blob_gas_used,
            excess_blob_gas,
            blob_base_fee,
            transactions,
            logs,
        })
    }

    fn opt_wei(&mut self) -> Result<Option<u128>, Error> {
        Ok(if self.flag("Option")? {
            Some(self.u128()?)
        } else {
            None
        })
    }

    fn tx(&mut self) -> Result<Tx, Error> {
        Ok(Tx {
            hash: B256::from(self.fixed::<32>()?),
            index: self.u32()?,
            tx_type: self.byte()?,
            from: Address::from(self.fixed::<20>()?),
            to: if self.flag("Option")? {
                Some(Address::from(self.fixed::<20>()?))
            } else {
                None
            },
            value: self.u128()?,
            gas_limit: self.u64()?,
            gas_used: self.u64()?,
            effective_gas_price: self.u128()?,
            max_fee_per_gas: self.opt_wei()?,
            max_priority_fee_per_gas: self.opt_wei()?,
            max_fee_per_blob_gas: self.opt_wei()?,
            blob_count: self.u32()?,
            success: self.flag("bool")?,
        })
    }

    fn log(&mut self) -> Result<Log, Error> {
        let tx_index = self.u32()?;
        let log_index = self.u32()?;
        let tx_hash = B256::from(self.fixed::<32>()?);
        let address = Address::from(self.fixed::<20>()?);
        let n = self.count(MIN_TOPIC, "topics")?;
        let mut topics = Vec::with_capacity(n);
        for _ in 0..n {
            topics.push(B256::from(self.fixed::<32>()?));
        }
        let len = self.count(1, "data bytes")?;
        let data = self.take(len)?.to_vec();
        Ok(Log {
            tx_index,
            log_index,
            tx_hash,
            address,
            topics,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::devnet::{Devnet, DevnetConfig};

    /// The reference: `bincode::serde` with a 1 MiB limit. Without a limit it allocates a
    /// log's announced data length before reading it, so a corrupted length panics or
    /// aborts the process; the limit makes that an error.
    fn serde_block(bytes: &[u8]) -> Result<(Block, usize), String> {
        let config = bincode::config::standard().with_limit::<{ 1 << 20 }>();
        bincode::serde::decode_from_slice::<Block, _>(bytes, config).map_err(|e| e.to_string())
    }

    fn devnet_blocks() -> Vec<Block> {
        let config = DevnetConfig {
            seed: 11,
            chain_id: 5,
            block_time_ms: 0,
            txs_per_block: 40,
            ..DevnetConfig::default()
        };
        Devnet::new(config)
            .unwrap()
            .take(20)
            .flat_map(|e| e.unwrap().event.new_blocks().to_vec())
            .collect()
    }

    /// Reads with both decoders: both fail, or both give the same block and length.
    fn agree(bytes: &[u8]) -> bool {
        let mut at = 0;
        let ours = block(bytes, &mut at).map(|b| (b, at));
        match (ours, serde_block(bytes)) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b);
                true
            }
            (Err(_), Err(_)) => false,
            (a, b) => panic!("the decoders disagree: ours {a:?}, bincode::serde {b:?}"),
        }
    }

    fn encode(b: &Block) -> Vec<u8> {
        bincode::serde::encode_to_vec(b, bincode::config::standard()).unwrap()
    }

    #[test]
    fn reads_what_bincode_serde_writes() {
        let blocks = devnet_blocks();
        assert!(blocks.iter().any(|b| !b.logs.is_empty()));
        assert!(
            blocks
                .iter()
                .any(|b| b.transactions.iter().any(|t| t.to.is_none()))
        );
        for b in &blocks {
            let bytes = encode(b);
            let mut at = 0;
            assert_eq!(&block(&bytes, &mut at).unwrap(), b);
            assert_eq!(at, bytes.len());
        }
        // Extremes of every width: u128::MAX amounts, u64::MAX heights, u32::MAX indexes.
        let mut b = blocks[0].clone();
        b.number = u64::MAX;
        b.base_fee_per_gas = u128::MAX;
        b.blob_base_fee = u128::from(u64::MAX) + 1;
        b.transactions[0].index = u32::MAX;
        b.transactions[0].value = 251;
        b.transactions[0].max_fee_per_blob_gas = Some(65_536);
        b.transactions[0].blob_count = 250;
        b.logs.push(Log {
            tx_index: 70_000,
            log_index: u32::MAX,
            tx_hash: B256::repeat_byte(7),
            address: Address::repeat_byte(8),
            topics: vec![],
            data: vec![1; 300],
        });
        assert!(agree(&encode(&b)));
    }

    #[test]
    fn refuses_what_bincode_serde_refuses() {
        let blocks = devnet_blocks();
        let bytes = encode(blocks.iter().find(|b| !b.logs.is_empty()).unwrap());
        for cut in 0..bytes.len() {
            assert!(!agree(&bytes[..cut]), "cut {cut}");
        }
        // Every byte of the first 400 set to each of the values that mean something to a
        // varint, a flag or a length; beyond those every 7th byte.
        let positions = (0..bytes.len()).filter(|&i| i < 400 || i % 7 == 0);
        let mut accepted = 0;
        for i in positions {
            for v in [
                0u8, 1, 2, 19, 20, 21, 31, 32, 33, 250, 251, 252, 253, 254, 255,
            ] {
                let mut m = bytes.clone();
                m[i] = v;
                accepted += usize::from(agree(&m));
            }
        }
        assert!(accepted > 0, "some corruptions are still blocks");
        // A transaction count far beyond the bytes: chain 5, block 1, two zero hashes,
        // timestamp 1, a zero miner, six zero amounts, then u64::MAX transactions.
        let mut huge = vec![5, 1, 32];
        huge.extend([0; 32]);
        huge.push(32);
        huge.extend([0; 32]);
        huge.extend([1, 20]);
        huge.extend([0; 20]);
        huge.extend([0, 0, 0, 0, 0, 0, 253]);
        huge.extend(u64::MAX.to_le_bytes());
        let mut at = 0;
        let err = block(&huge, &mut at).unwrap_err();
        assert!(err.contains("transactions announced"), "{err}");
        assert!(serde_block(&huge).is_err());
        // A log whose data length is 2^40: an error, not a terabyte allocation (which
        // `bincode::serde` without a limit attempts).
        let mut b = blocks.iter().find(|b| !b.logs.is_empty()).unwrap().clone();
        b.logs.truncate(1);
        b.logs[0].data = vec![0xab; 8];
        let mut bytes = encode(&b);
        let data = bytes.len() - 9;
        assert_eq!(
            bytes[data..],
            [8, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab]
        );
        bytes.truncate(data);
        bytes.push(253);
        bytes.extend((1u64 << 40).to_le_bytes());
        let mut at = 0;
        let err = block(&bytes, &mut at).unwrap_err();
        assert!(err.contains("data bytes announced"), "{err}");
    }
}
