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
//! Transactions and logs, most of the bytes, take a hot path first (`fast_tx`,
//! `fast_log`): the usual layout read from a window of the bytes and written field by field
//! into the result, declining (for the careful `Reader`) near the end of the bytes or at
//! anything unusual.
//!
//! The tests check it against `bincode::serde` on whole devnet blocks and on every
//! truncation and a sweep of corrupted bytes, and the hot paths against the careful reader.

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

/// The value every decoded [`Tx`] starts from before its fields are read into it.
const EMPTY_TX: Tx = Tx {
    hash: B256::ZERO,
    index: 0,
    tx_type: 0,
    from: Address::ZERO,
    to: None,
    value: 0,
    gas_limit: 0,
    gas_used: 0,
    effective_gas_price: 0,
    max_fee_per_gas: None,
    max_priority_fee_per_gas: None,
    max_fee_per_blob_gas: None,
    blob_count: 0,
    success: false,
};

/// The most bytes a [`Tx`] takes when every length is one byte: hash 33, index 5, type 1,
/// from 21, to 22, value 17, gas limit and used 18, price 17, three fee caps 54, blob count
/// 5, success 1.
const MAX_TX: usize = 194;

/// The hot path of a [`Tx`]: with at least [`MAX_TX`] bytes left at `*at`, reads the usual
/// layout (fixed lengths of one byte) and writes each field straight into `tx`, then moves
/// `*at` past it and says `true`. Anything else, and too few bytes left, says `false` with
/// `*at` unmoved (`tx` partly written): [`Reader::tx`] then reads it or names the error, and
/// accepts exactly what this accepts.
///
/// A `Tx` built on the stack and then pushed is copied in 16-byte loads over fields stored in
/// narrower pieces, each load waiting for its stores (a store-forwarding stall), which
/// dominates a decode. Here every field is stored once, from the bytes, at its width.
#[inline(always)]
fn fast_tx(bytes: &[u8], at: &mut usize, tx: &mut Tx) -> bool {
    let Some(w) = bytes.get(*at..).and_then(|r| r.first_chunk::<MAX_TX>()) else {
        return false;
    };
    let mut i = 0usize;
    let ok = (|| {
        fixed_into(w, &mut i, &mut tx.hash.0)?;
        tx.index = var(w, &mut i, 252)? as u32;
        tx.tx_type = *w.get(i)?;
        i += 1;
        fixed_into(w, &mut i, &mut tx.from.0.0)?;
        tx.to = match flag(w, &mut i)? {
            false => None,
            true => {
                let mut to = Address::ZERO;
                fixed_into(w, &mut i, &mut to.0.0)?;
                Some(to)
            }
        };
        tx.value = var128(w, &mut i)?;
        tx.gas_limit = var(w, &mut i, 253)?;
        tx.gas_used = var(w, &mut i, 253)?;
        tx.effective_gas_price = var128(w, &mut i)?;
        tx.max_fee_per_gas = opt128(w, &mut i)?;
        tx.max_priority_fee_per_gas = opt128(w, &mut i)?;
        tx.max_fee_per_blob_gas = opt128(w, &mut i)?;
        tx.blob_count = var(w, &mut i, 252)? as u32;
        tx.success = flag(w, &mut i)?;
        Some(())
    })();
    if ok.is_some() {
        *at += i;
    }
    ok.is_some()
}

/// The value every decoded [`Log`] starts from before its fields are read into it.
const EMPTY_LOG: Log = Log {
    tx_index: 0,
    log_index: 0,
    tx_hash: B256::ZERO,
    address: Address::ZERO,
    topics: Vec::new(),
    data: Vec::new(),
};

/// The hot path of a [`Log`], as [`fast_tx`] is of a [`Tx`]: fields written in place, and
/// `false` (with `*at` unmoved) for anything [`Reader::log`] should read or refuse.
#[inline(always)]
fn fast_log(bytes: &[u8], at: &mut usize, log: &mut Log) -> bool {
    let Some(w) = bytes.get(*at..) else {
        return false;
    };
    let mut i = 0usize;
    let ok = (|| {
        log.tx_index = var(w, &mut i, 252)? as u32;
        log.log_index = var(w, &mut i, 252)? as u32;
        fixed_into(w, &mut i, &mut log.tx_hash.0)?;
        fixed_into(w, &mut i, &mut log.address.0.0)?;
        let n = usize::try_from(var(w, &mut i, 253)?).ok()?;
        if n.checked_mul(MIN_TOPIC)? > w.len().saturating_sub(i) {
            return None;
        }
        log.topics = Vec::with_capacity(n);
        for _ in 0..n {
            log.topics.push(B256::ZERO);
            fixed_into(w, &mut i, &mut log.topics.last_mut()?.0)?;
        }
        let len = usize::try_from(var(w, &mut i, 253)?).ok()?;
        log.data = w.get(i..i.checked_add(len)?)?.to_vec();
        i += len;
        Some(())
    })();
    if ok.is_some() {
        *at += i;
    }
    ok.is_some()
}

/// A one-byte length `N` and `N` bytes, copied into `out`.
#[inline(always)]
fn fixed_into<const N: usize>(w: &[u8], i: &mut usize, out: &mut [u8; N]) -> Option<()> {
    if usize::from(*w.get(*i)?) != N {
        return None;
    }
    *out = *w.get(*i + 1..)?.first_chunk::<N>()?;
    *i += 1 + N;
    Some(())
}

/// A varint of at most 64 bits whose marker is at most `widest`. These readers of the hot
/// paths are the careful [`Reader`]'s too; where they say `None` it names the error.
#[inline(always)]
fn var(w: &[u8], i: &mut usize, widest: u8) -> Option<u64> {
    let marker = *w.get(*i)?;
    let rest = w.get(*i + 1..)?;
    let (v, n) = match marker {
        0..=250 => (u64::from(marker), 0),
        m if m > widest => return None,
        251 => (u64::from(u16::from_le_bytes(*rest.first_chunk()?)), 2),
        252 => (u64::from(u32::from_le_bytes(*rest.first_chunk()?)), 4),
        _ => (u64::from_le_bytes(*rest.first_chunk()?), 8),
    };
    *i += 1 + n;
    Some(v)
}

/// A varint of a `u128`.
#[inline(always)]
fn var128(w: &[u8], i: &mut usize) -> Option<u128> {
    if *w.get(*i)? == 254 {
        let v = u128::from_le_bytes(*w.get(*i + 1..)?.first_chunk()?);
        *i += 17;
        return Some(v);
    }
    var(w, i, 253).map(u128::from)
}

/// A flag byte, 0 or 1.
#[inline(always)]
fn flag(w: &[u8], i: &mut usize) -> Option<bool> {
    let b = match *w.get(*i)? {
        0 => false,
        1 => true,
        _ => return None,
    };
    *i += 1;
    Some(b)
}

/// An `Option<u128>`.
#[inline(always)]
fn opt128(w: &[u8], i: &mut usize) -> Option<Option<u128>> {
    Some(match flag(w, i)? {
        false => None,
        true => Some(var128(w, i)?),
    })
}

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
        match var(self.bytes, &mut self.at, widest) {
            Some(v) => Ok(v),
            None => Err(self.varint_error(widest, what)),
        }
    }

    /// Why [`var`] refused the varint at `at`: no marker, a marker too wide, or too few
    /// bytes after it.
    #[cold]
    #[inline(never)]
    fn varint_error(&mut self, widest: u8, what: &'static str) -> Error {
        let at = self.at;
        match self.byte() {
            Err(e) => e,
            Ok(m) if m > widest => too_wide(m, at, what),
            Ok(251) => end(self, 2),
            Ok(252) => end(self, 4),
            Ok(_) => end(self, 8),
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
        if let Some(v) = var128(self.bytes, &mut self.at) {
            return Ok(v);
        }
        if self.bytes.get(self.at) == Some(&254) {
            self.at += 1;
            return Err(end(self, 16));
        }
        Ok(u128::from(self.varint64(253, "u128")?))
    }

    #[inline(always)]
    fn flag(&mut self, what: &'static str) -> Result<bool, Error> {
        if let Some(b) = flag(self.bytes, &mut self.at) {
            return Ok(b);
        }
        let at = self.at;
        Err(not_a_flag(self.byte()?, at, what))
    }

    /// Bytes with their varint length, `N` of them.
    #[inline(always)]
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let at = self.at;
        // The usual case: a one-byte length N, then the bytes.
        let mut out = [0u8; N];
        if fixed_into(self.bytes, &mut self.at, &mut out).is_some() {
            return Ok(out);
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

    /// `n` items, each read by the hot path `fast` into a pushed `blank` (in place, while its
    /// cache line is hot), or where it declines by the careful reader `slow`, which also
    /// names what is wrong.
    #[inline(always)]
    fn items<T: Clone>(
        &mut self,
        n: usize,
        blank: T,
        fast: impl Fn(&[u8], &mut usize, &mut T) -> bool,
        slow: impl Fn(&mut Self) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            let start = self.at;
            items.push(blank.clone());
            let Some(item) = items.last_mut() else {
                break;
            };
            if !fast(self.bytes, &mut self.at, item) {
                self.at = start;
                *item = slow(self)?;
            }
        }
        Ok(items)
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
        let transactions = self.items(n, EMPTY_TX, fast_tx, Self::tx)?;
        let n = self.count(MIN_LOG, "logs")?;
        let logs = self.items(n, EMPTY_LOG, fast_log, Self::log)?;
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
    fn the_hot_paths_read_what_the_careful_reader_reads() {
        let blocks = devnet_blocks();
        let config = bincode::config::standard();
        let txs = blocks.iter().flat_map(|b| &b.transactions);
        let logs = blocks.iter().flat_map(|b| &b.logs);
        let (mut fast_txs, mut fast_logs) = (0, 0);
        for t in txs {
            let mut bytes = bincode::serde::encode_to_vec(t, config).unwrap();
            let len = bytes.len();
            bytes.resize(len + MAX_TX, 0);
            let (mut at, mut read) = (0, EMPTY_TX);
            assert!(fast_tx(&bytes, &mut at, &mut read), "{t:?}");
            assert_eq!((&read, at), (t, len));
            // Without MAX_TX bytes left the hot path declines and moves nothing.
            let mut at = 0;
            assert!(!fast_tx(&bytes[..MAX_TX - 1], &mut at, &mut read));
            assert_eq!(at, 0);
            fast_txs += 1;
        }
        for l in logs {
            let bytes = bincode::serde::encode_to_vec(l, config).unwrap();
            let (mut at, mut read) = (0, EMPTY_LOG);
            assert!(fast_log(&bytes, &mut at, &mut read), "{l:?}");
            assert_eq!((&read, at), (l, bytes.len()));
            let mut at = 0;
            assert!(!fast_log(&bytes[..bytes.len() - 1], &mut at, &mut read));
            assert_eq!(at, 0);
            fast_logs += 1;
        }
        assert!(fast_txs > 100 && fast_logs > 10, "{fast_txs} {fast_logs}");
        // Wider encodings than bincode writes, which both decoders accept: the hot path
        // reads a wide varint itself and leaves a wide length marker to the careful reader.
        let mut b = blocks.iter().find(|b| !b.logs.is_empty()).unwrap().clone();
        b.transactions.truncate(2);
        b.transactions[0].index = 7;
        let bytes = encode(&b);
        let tx = bincode::serde::encode_to_vec(&b.transactions[0], config).unwrap();
        let at = bytes
            .windows(tx.len())
            .position(|w| w == tx.as_slice())
            .unwrap();
        let mut wide_index = bytes.clone();
        wide_index.splice(at + 33..at + 34, [252, 7, 0, 0, 0]);
        assert!(agree(&wide_index));
        let mut wide_hash = bytes.clone();
        wide_hash.splice(at..at + 1, [251, 32, 0]);
        assert!(agree(&wide_hash));
        let (mut i, mut read) = (at, EMPTY_TX);
        assert!(!fast_tx(&wide_hash, &mut i, &mut read));
        assert_eq!(i, at);
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
