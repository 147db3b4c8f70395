//! Serde helpers that keep one model for two encodings: human-readable formats (JSON) get
//! what a consumer in any language reads exactly (wei amounts as decimal strings, bytes as
//! `0x`-hex), binary formats (bincode) get the compact native form.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serializer};

/// A `u128` wei amount: a decimal string in JSON (a JSON number loses precision above 2^53 in
/// most readers), a native `u128` in bincode. JSON input may also be a number.
pub mod wei {
    use super::*;

    /// Serializes `v`.
    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(v)
        } else {
            s.serialize_u128(*v)
        }
    }

    /// Deserializes a wei amount.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        if d.is_human_readable() {
            d.deserialize_any(WeiVisitor)
        } else {
            u128::deserialize(d)
        }
    }

    struct WeiVisitor;

    impl Visitor<'_> for WeiVisitor {
        type Value = u128;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a wei amount: a decimal string or a non-negative integer")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u128, E> {
            v.parse()
                .map_err(|_| E::custom(format!("'{v}' is not a decimal wei amount")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u128, E> {
            Ok(v.into())
        }
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<u128, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u128, E> {
            u128::try_from(v).map_err(|_| E::custom("a wei amount cannot be negative"))
        }
    }
}

/// An optional wei amount: `null` or as [`wei`].
pub mod opt_wei {
    use super::*;

    /// Serializes `v`.
    pub fn serialize<S: Serializer>(v: &Option<u128>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) if s.is_human_readable() => s.collect_str(v),
            Some(v) => s.serialize_some(v),
            None => s.serialize_none(),
        }
    }

    /// Deserializes an optional wei amount.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u128>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "super::wei")] u128);
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}

/// Bytes: a `0x`-hex string in JSON, a byte sequence in bincode.
pub mod hex_bytes {
    use super::*;

    /// Serializes `v`.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            let mut out = String::with_capacity(2 + v.len() * 2);
            out.push_str("0x");
            for b in v {
                out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
                out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
            }
            s.serialize_str(&out)
        } else {
            s.serialize_bytes(v)
        }
    }

    /// Deserializes bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            decode(&text).map_err(de::Error::custom)
        } else {
            d.deserialize_byte_buf(BytesVisitor)
        }
    }

    fn decode(text: &str) -> Result<Vec<u8>, String> {
        let digits = text.strip_prefix("0x").unwrap_or(text).as_bytes();
        if !digits.len().is_multiple_of(2) {
            return Err(format!("hex data of odd length {}", digits.len()));
        }
        let nibble = |c: u8| -> Result<u8, String> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                b'A'..=b'F' => Ok(c - b'A' + 10),
                _ => Err(format!("'{}' is not a hex digit", char::from(c))),
            }
        };
        digits
            .chunks_exact(2)
            .map(|p| Ok(nibble(p[0])? << 4 | nibble(p[1])?))
            .collect()
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}
