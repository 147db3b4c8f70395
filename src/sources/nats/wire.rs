//! The ingress wire format: one chain event per NATS message, versioned by its
//! `Content-Type` header, in bincode 2 (compact, the default) or JSON (any language).
//!
//! ```text
//!  Content-Type: application/vnd.chainflow.chain-event.v1+bincode   (or +json)
//!  Nats-Msg-Id:  <chain_id>-<kind>-<keccak256 of the old and new block hashes>
//!  payload:      ChainEventV1 { version: 1, chain_id, kind, old: [Block], new: [Block],
//!                               finalized: height | null }
//! ```
//!
//! The JSON form is specified by `schemas/chain_event.v1.json`: hashes and addresses are
//! `0x`-hex strings, wei amounts decimal strings, log data `0x`-hex. A message without a
//! `Content-Type` is read as JSON when it starts with `{`, else as bincode. Decoding is pure
//! and never panics: a payload that does not decode, or decodes to an event that breaks the
//! rules in [`ChainEventV1::check`], is an [`WireError`] and goes to the dead-letter subject.

use serde::{Deserialize, Serialize};

use super::codec;
use crate::model::{Block, ChainEvent, ChainId};
pub use crate::nats::{CONTENT_TYPE_BINCODE, CONTENT_TYPE_CHANGE, CONTENT_TYPE_JSON};

/// The schema version this build writes and reads.
pub const VERSION: u32 = 1;

/// How chain events are encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// bincode 2, standard configuration (varint integers).
    #[default]
    Bincode,
    /// JSON as in `schemas/chain_event.v1.json`.
    Json,
}

impl Format {
    /// The `Content-Type` header of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Bincode => CONTENT_TYPE_BINCODE,
            Format::Json => CONTENT_TYPE_JSON,
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bincode" => Ok(Format::Bincode),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format '{other}' (bincode or json)")),
        }
    }
}

/// The kind of a chain event on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// New blocks extend the tip.
    Committed,
    /// `old` left the canonical chain, `new` replaced it.
    Reorged,
    /// `old` left the canonical chain with no replacement.
    Reverted,
}

impl Kind {
    /// `committed`, `reorged` or `reverted`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Committed => "committed",
            Kind::Reorged => "reorged",
            Kind::Reverted => "reverted",
        }
    }
}

/// One chain event as published: version 1 of the ingress schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainEventV1 {
    /// Schema version, always [`VERSION`].
    pub version: u32,
    /// Chain the blocks belong to.
    pub chain_id: ChainId,
    /// What changed.
    pub kind: Kind,
    /// Blocks that left the canonical chain, oldest first.
    #[serde(default)]
    pub old: Vec<Block>,
    /// Blocks that joined it, oldest first.
    #[serde(default)]
    pub new: Vec<Block>,
    /// The chain's finalized height when the event was read, when known.
    #[serde(default)]
    pub finalized: Option<u64>,
}

/// Why a message is not a valid chain event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The `Content-Type` names a format or version this build does not read.
    #[error("unsupported content type '{0}'")]
    ContentType(String),
    /// The payload does not decode.
    #[error("payload does not decode as {format:?}: {reason}")]
    Decode {
        /// Format tried.
        format: Format,
        /// Decoder's message.
        reason: String,
    },
    /// The payload decodes but breaks a rule of the schema.
    #[error("invalid chain event: {0}")]
    Invalid(String),
}

impl ChainEventV1 {
    /// The wire form of `event` on `chain_id`.
    pub fn from_event(chain_id: ChainId, event: ChainEvent, finalized: Option<u64>) -> Self {
        let (kind, old, new) = match event {
            ChainEvent::Committed { new } => (Kind::Committed, Vec::new(), new),
            ChainEvent::Reorged { old, new } => (Kind::Reorged, old, new),
            ChainEvent::Reverted { old } => (Kind::Reverted, old, Vec::new()),
        };
        ChainEventV1 {
            version: VERSION,
            chain_id,
            kind,
            old,
            new,
            finalized,
        }
    }

    /// The model event (after [`ChainEventV1::check`]).
    pub fn into_event(self) -> ChainEvent {
        match self.kind {
            Kind::Committed => ChainEvent::Committed { new: self.new },
            Kind::Reorged => ChainEvent::Reorged {
                old: self.old,
                new: self.new,
            },
            Kind::Reverted => ChainEvent::Reverted { old: self.old },
        }
    }

    /// Checks the rules a decoder cannot: the version, the blocks of the kind present, every
    /// block on `chain_id`, each list consecutive and linked by parent hash, and a reorg's
    /// new branch starting where its old one did or below.
    pub fn check(&self) -> Result<(), WireError> {
        let bad = |m: String| Err(WireError::Invalid(m));
        if self.version != VERSION {
            return bad(format!(
                "version {} (this build reads {VERSION})",
                self.version
            ));
        }
        match self.kind {
            Kind::Committed if self.new.is_empty() || !self.old.is_empty() => {
                return bad("committed needs new blocks and no old ones".into());
            }
            Kind::Reorged if self.new.is_empty() || self.old.is_empty() => {
                return bad("reorged needs old and new blocks".into());
            }
            Kind::Reverted if self.old.is_empty() || !self.new.is_empty() => {
                return bad("reverted needs old blocks and no new ones".into());
            }
            _ => {}
        }
        for (what, list) in [("old", &self.old), ("new", &self.new)] {
            for b in list {
                if b.chain_id != self.chain_id {
                    return bad(format!(
                        "{what} block {} is on chain {}, the event on {}",
                        b.number, b.chain_id, self.chain_id
                    ));
                }
            }
            for pair in list.windows(2) {
                if pair[1].number != pair[0].number + 1 || pair[1].parent_hash != pair[0].hash {
                    return bad(format!(
                        "{what} blocks {} and {} are not consecutive and linked",
                        pair[0].number, pair[1].number
                    ));
                }
            }
        }
        if let (Some(o), Some(n)) = (self.old.first(), self.new.first())
            && (n.number != o.number || n.parent_hash != o.parent_hash)
        {
            return bad(format!(
                "the new branch starts at {} on {}, the old one at {} on {}",
                n.number, n.parent_hash, o.number, o.parent_hash
            ));
        }
        Ok(())
    }

    /// The `Nats-Msg-Id`: chain, kind and a digest of every old and new block hash, so a
    /// republish of the same event is deduplicated by JetStream.
    pub fn msg_id(&self) -> String {
        let mut bytes = Vec::with_capacity(32 * (self.old.len() + self.new.len()) + 1);
        for b in &self.old {
            bytes.extend_from_slice(b.hash.as_slice());
        }
        bytes.push(b'|');
        for b in &self.new {
            bytes.extend_from_slice(b.hash.as_slice());
        }
        let kind = self.kind.name();
        format!(
            "{}-{kind}-{}",
            self.chain_id,
            alloy_primitives::keccak256(&bytes)
        )
    }

    /// Encodes the event in `format`.
    pub fn encode(&self, format: Format) -> Result<Vec<u8>, WireError> {
        match format {
            Format::Bincode => bincode::serde::encode_to_vec(self, bincode::config::standard())
                .map_err(|e| WireError::Decode {
                    format,
                    reason: e.to_string(),
                }),
            Format::Json => serde_json::to_vec(self).map_err(|e| WireError::Decode {
                format,
                reason: e.to_string(),
            }),
        }
    }

    /// The format of a payload whose `Content-Type` is `content_type`.
    fn format_of(content_type: Option<&str>, payload: &[u8]) -> Result<Format, WireError> {
        Ok(match content_type.map(str::trim) {
            Some(CONTENT_TYPE_BINCODE) => Format::Bincode,
            Some(CONTENT_TYPE_JSON) | Some("application/json") => Format::Json,
            Some(other) => return Err(WireError::ContentType(other.to_string())),
            None if payload.first() == Some(&b'{') => Format::Json,
            None => Format::Bincode,
        })
    }

    /// Like [`ChainEventV1::decode`], with the [`block_digest`] of every old and new block.
    /// A bincode payload is decoded block by block so each digest is taken over the block's
    /// bytes as received; a JSON one encodes each block to bincode first (the same bytes).
    pub fn decode_digested(
        content_type: Option<&str>,
        payload: &[u8],
    ) -> Result<Digested, WireError> {
        let digested = match Self::format_of(content_type, payload)? {
            Format::Bincode => decode_bincode(payload, true)?,
            Format::Json => {
                let event = Self::decode_as(Format::Json, payload)?;
                Digested {
                    old: event.old.iter().map(digest_of).collect(),
                    new: event.new.iter().map(digest_of).collect(),
                    event,
                }
            }
        };
        digested.event.check()?;
        Ok(digested)
    }

    /// Decodes and checks a payload whose `Content-Type` is `content_type`.
    pub fn decode(content_type: Option<&str>, payload: &[u8]) -> Result<Self, WireError> {
        let event = Self::decode_as(Self::format_of(content_type, payload)?, payload)?;
        event.check()?;
        Ok(event)
    }

    /// Decodes (without the checks) a payload in `format`.
    fn decode_as(format: Format, payload: &[u8]) -> Result<Self, WireError> {
        let event: ChainEventV1 = match format {
            Format::Bincode => decode_bincode(payload, false)?.event,
            Format::Json => serde_json::from_slice(payload).map_err(|e| WireError::Decode {
                format,
                reason: e.to_string(),
            })?,
        };
        Ok(event)
    }
}

/// A decoded event with a digest of each of its blocks ([`block_digest`] of the block's
/// bincode encoding), in the order of `event.old` and `event.new`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digested {
    /// The event, checked.
    pub event: ChainEventV1,
    /// Digests of `event.old`.
    pub old: Vec<u64>,
    /// Digests of `event.new`.
    pub new: Vec<u64>,
}

/// Decodes a bincode [`ChainEventV1`] field by field (bincode lays a struct out as its
/// fields in order, a `Vec` as its length then its elements), each block with the
/// hand-written [`codec`] reader; with `digest`, each block's bytes are digested as they
/// are read (the digest lists are empty without it).
fn decode_bincode(payload: &[u8], digest: bool) -> Result<Digested, WireError> {
    let mut at = 0usize;
    let version: u32 = part(payload, &mut at)?;
    let chain_id: ChainId = part(payload, &mut at)?;
    let kind: Kind = part(payload, &mut at)?;
    let (old, old_digests) = blocks(payload, &mut at, digest)?;
    let (new, new_digests) = blocks(payload, &mut at, digest)?;
    let finalized: Option<u64> = part(payload, &mut at)?;
    if at != payload.len() {
        return Err(WireError::Decode {
            format: Format::Bincode,
            reason: format!("{} bytes left over", payload.len() - at),
        });
    }
    Ok(Digested {
        event: ChainEventV1 {
            version,
            chain_id,
            kind,
            old,
            new,
            finalized,
        },
        old: old_digests,
        new: new_digests,
    })
}

/// Decodes one value at `*at` and moves `*at` past it.
fn part<T: serde::de::DeserializeOwned>(payload: &[u8], at: &mut usize) -> Result<T, WireError> {
    let rest = payload.get(*at..).unwrap_or_default();
    let (value, read) = bincode::serde::decode_from_slice(rest, bincode::config::standard())
        .map_err(|e| WireError::Decode {
            format: Format::Bincode,
            reason: e.to_string(),
        })?;
    *at += read;
    Ok(value)
}

/// Decodes a `Vec<Block>` at `*at`, with each block's digest when `digest`.
fn blocks(
    payload: &[u8],
    at: &mut usize,
    digest: bool,
) -> Result<(Vec<Block>, Vec<u64>), WireError> {
    let bad = |reason: String| WireError::Decode {
        format: Format::Bincode,
        reason,
    };
    // A count whose blocks cannot fit in what is left is garbage, not an allocation.
    let len = codec::block_count(payload, at).map_err(bad)?;
    let mut out = Vec::with_capacity(len);
    let mut digests = Vec::with_capacity(if digest { len } else { 0 });
    for _ in 0..len {
        let start = *at;
        out.push(codec::block(payload, at).map_err(bad)?);
        if digest {
            digests.push(block_digest(payload.get(start..*at).unwrap_or_default()));
        }
    }
    Ok((out, digests))
}

/// The digest of a block: [`block_digest`] of its bincode encoding (0 if it cannot be
/// encoded, which a [`Block`] always can).
pub fn digest_of(block: &Block) -> u64 {
    bincode::serde::encode_to_vec(block, bincode::config::standard())
        .map(|bytes| block_digest(&bytes))
        .unwrap_or(0)
}

/// A fast 64-bit digest of a block's canonical encoding: FxHash-style mixing of 8-byte
/// words in four independent lanes (the multiplications overlap), the length, and murmur3's
/// final avalanche. It only has to tell a retracted body from the applied one, not resist
/// chosen input.
pub fn block_digest(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut lanes = [0u64; 4];
    let mut round = |chunk: &[u8]| {
        for (lane, word) in lanes.iter_mut().zip(chunk.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            *lane = (lane.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
    };
    let mut chunks = bytes.chunks_exact(32);
    for chunk in &mut chunks {
        round(chunk);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 32];
        last[..rest.len()].copy_from_slice(rest);
        round(&last);
    }
    let [a, b, c, d] = lanes;
    let mut h = a ^ b.rotate_left(16) ^ c.rotate_left(32) ^ d.rotate_left(48);
    h = (h ^ bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, B256, Log, Tx};

    fn block(n: u64, parent: B256, salt: u8) -> Block {
        Block {
            chain_id: 7,
            number: n,
            hash: B256::with_last_byte(n as u8 ^ salt),
            parent_hash: parent,
            timestamp: 1_700_000_000 + n * 12,
            miner: Address::with_last_byte(9),
            gas_used: 21_000,
            gas_limit: 30_000_000,
            base_fee_per_gas: u128::from(u64::MAX) * 3,
            blob_gas_used: 131_072,
            excess_blob_gas: 0,
            blob_base_fee: 1,
            transactions: vec![Tx {
                hash: B256::with_last_byte(200),
                index: 0,
                tx_type: 2,
                from: Address::with_last_byte(1),
                to: None,
                value: u128::MAX,
                gas_limit: 21_000,
                gas_used: 21_000,
                effective_gas_price: 7,
                max_fee_per_gas: Some(10),
                max_priority_fee_per_gas: Some(2),
                max_fee_per_blob_gas: None,
                blob_count: 0,
                success: true,
            }],
            logs: vec![Log {
                tx_index: 0,
                log_index: 0,
                tx_hash: B256::with_last_byte(200),
                address: Address::with_last_byte(3),
                topics: vec![B256::with_last_byte(4)],
                data: vec![0xde, 0xad, 0x01],
            }],
        }
    }

    fn reorg() -> ChainEventV1 {
        let a = block(10, B256::with_last_byte(99), 0);
        let old = vec![
            block(11, a.hash, 0),
            block(12, block(11, a.hash, 0).hash, 0),
        ];
        let n11 = block(11, a.hash, 0x40);
        let new = vec![n11.clone(), block(12, n11.hash, 0x40)];
        ChainEventV1::from_event(7, ChainEvent::Reorged { old, new }, Some(3))
    }

    #[test]
    fn both_formats_round_trip_exactly() {
        let e = reorg();
        for format in [Format::Bincode, Format::Json] {
            let bytes = e.encode(format).unwrap();
            let back = ChainEventV1::decode(Some(format.content_type()), &bytes).unwrap();
            assert_eq!(back, e, "{format:?}");
            // Without a content type the first byte decides.
            assert_eq!(ChainEventV1::decode(None, &bytes).unwrap(), e);
        }
        let json = String::from_utf8(e.encode(Format::Json).unwrap()).unwrap();
        // Amounts above 2^53 are strings, bytes are hex.
        assert!(
            json.contains(&format!("\"value\":\"{}\"", u128::MAX)),
            "{json}"
        );
        assert!(json.contains("\"data\":\"0xdead01\""), "{json}");
        assert!(json.contains("\"kind\":\"reorged\""), "{json}");
        assert!(
            e.encode(Format::Bincode).unwrap().len() * 2 < json.len(),
            "bincode is compact"
        );
    }

    #[test]
    fn garbage_truncated_and_inconsistent_payloads_are_errors() {
        let bytes = reorg().encode(Format::Bincode).unwrap();
        for cut in [0, 1, 5, bytes.len() / 2, bytes.len() - 1] {
            let err = ChainEventV1::decode(Some(CONTENT_TYPE_BINCODE), &bytes[..cut]);
            assert!(
                matches!(err, Err(WireError::Decode { .. })),
                "cut {cut}: {err:?}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(ChainEventV1::decode(Some(CONTENT_TYPE_BINCODE), &longer).is_err());
        assert!(ChainEventV1::decode(Some(CONTENT_TYPE_JSON), b"{\"version\":1").is_err());
        assert!(matches!(
            ChainEventV1::decode(Some("text/plain"), b"hello"),
            Err(WireError::ContentType(_))
        ));
        let mut e = reorg();
        e.new.swap(0, 1);
        let bytes = e.encode(Format::Json).unwrap();
        assert!(matches!(
            ChainEventV1::decode(None, &bytes),
            Err(WireError::Invalid(_))
        ));
        let mut e = reorg();
        e.kind = Kind::Committed;
        assert!(e.check().is_err());
        let mut e = reorg();
        e.new[0].chain_id = 8;
        assert!(e.check().is_err());
        let mut e = reorg();
        e.version = 2;
        assert!(e.check().is_err());
    }

    #[test]
    fn digested_decoding_equals_decoding_and_digests_the_canonical_encoding() {
        let e = reorg();
        for format in [Format::Bincode, Format::Json] {
            let bytes = e.encode(format).unwrap();
            let d = ChainEventV1::decode_digested(Some(format.content_type()), &bytes).unwrap();
            assert_eq!(d.event, e, "{format:?}");
            // The same digests whichever format carried the blocks.
            let want_old: Vec<u64> = e.old.iter().map(digest_of).collect();
            let want_new: Vec<u64> = e.new.iter().map(digest_of).collect();
            assert_eq!((d.old, d.new), (want_old, want_new), "{format:?}");
        }
        // A retracted body that differs in one field has another digest.
        let mut other = e.old[0].clone();
        other.transactions[0].gas_used += 1;
        assert_ne!(digest_of(&other), digest_of(&e.old[0]));
        assert_ne!(block_digest(&[]), block_digest(&[0]));
        assert_ne!(block_digest(&[1, 0]), block_digest(&[0, 1]));
    }

    #[test]
    fn digested_decoding_refuses_what_decoding_refuses() {
        let bytes = reorg().encode(Format::Bincode).unwrap();
        for cut in 0..bytes.len() {
            let plain = ChainEventV1::decode(Some(CONTENT_TYPE_BINCODE), &bytes[..cut]);
            let digested = ChainEventV1::decode_digested(Some(CONTENT_TYPE_BINCODE), &bytes[..cut]);
            assert!(plain.is_err() && digested.is_err(), "cut {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(ChainEventV1::decode_digested(Some(CONTENT_TYPE_BINCODE), &longer).is_err());
        // A block count far beyond the payload is an error, not an allocation: version 1,
        // chain 7, kind 0, then u64::MAX blocks (varint marker 253 and eight bytes).
        let mut huge = vec![1, 7, 0, 253];
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        let err = ChainEventV1::decode_digested(Some(CONTENT_TYPE_BINCODE), &huge).unwrap_err();
        assert!(err.to_string().contains("blocks announced"), "{err}");
        let mut e = reorg();
        e.kind = Kind::Committed;
        let bytes = e.encode(Format::Bincode).unwrap();
        assert!(matches!(
            ChainEventV1::decode_digested(None, &bytes),
            Err(WireError::Invalid(_))
        ));
    }

    #[test]
    fn message_ids_depend_on_chain_kind_and_hashes() {
        let e = reorg();
        assert_eq!(e.msg_id(), reorg().msg_id());
        assert!(e.msg_id().starts_with("7-reorged-0x"));
        let mut other = reorg();
        other.new.pop();
        assert_ne!(other.msg_id(), e.msg_id());
        let mut other = reorg();
        other.chain_id = 8;
        assert_ne!(other.msg_id(), e.msg_id());
    }
}
