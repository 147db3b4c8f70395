//! The pure half of the ClickHouse sink: updates to RowBinary rows.
//!
//! Per epoch and key the engine hands an insert (`+new`), a delete (`-old`) or a change
//! (`-old +new`). ClickHouse keeps, per key, the row with the highest `version`, so:
//! - an insert or a change writes the new row with `version = epoch, deleted = 0`;
//! - a delete writes the old row with `version = epoch, deleted = 1` (a tombstone).
//!
//! A change writes one row, never a tombstone and a row with the same version (their order
//! would decide the winner). So a reorg of depth d writes at most one row per changed key.
//!
//! RowBinary per column type: `U64` → UInt64 LE; `Timestamp` → DateTime (UInt32 LE);
//! `Wei` → UInt128 (16 bytes LE) and `U256` → UInt256 (32 bytes LE) on servers that have
//! them, else a String of decimal digits
//! (see [`WeiEncoding`] and `migrations/clickhouse/`); `Hash`/`Address` → String with the
//! `0x`-hex text; `Text` → String. Then `version` (UInt64) and `deleted` (UInt8).

use std::collections::BTreeMap;

use crate::engine::dataflow::{ColumnType, OutputSpec, RowValues, Value};
use crate::engine::keys::key_positions;
use crate::model::{Diff, Epoch};

/// Errors of encoding (a value that does not fit its column).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("column '{column}' of '{output}': {reason}")]
pub struct EncodeError {
    /// Output.
    pub output: String,
    /// Column.
    pub column: String,
    /// Why.
    pub reason: String,
}

/// How wei columns are stored: the migrations pick the type by server version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeiEncoding {
    /// `UInt128` (ClickHouse 21.6 and later).
    UInt128,
    /// `String` of decimal digits (older servers, such as 18.16).
    Decimal,
}

fn varint(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends a RowBinary `String`: a varint length and the bytes.
pub fn string(s: &str, out: &mut Vec<u8>) {
    varint(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

/// Appends a RowBinary `String` of `0x` and the lowercase hex of `bytes`, without allocating.
fn hex_string(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    varint(2 + 2 * bytes.len(), out);
    out.extend_from_slice(b"0x");
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
    }
}

/// Appends a RowBinary `String` of the decimal digits of `v`, without allocating.
fn decimal(mut v: u128, out: &mut Vec<u8>) {
    let mut buf = [0u8; 39];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    varint(buf.len() - i, out);
    out.extend_from_slice(&buf[i..]);
}

/// Appends one value of `ty` in RowBinary.
pub fn encode_value(
    ty: ColumnType,
    value: &Value,
    wei: WeiEncoding,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    match (ty, value) {
        (ColumnType::U64, Value::U64(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (ColumnType::Timestamp, Value::U64(v)) => {
            let secs = u32::try_from(*v)
                .map_err(|_| format!("timestamp {v} is beyond DateTime's range"))?;
            out.extend_from_slice(&secs.to_le_bytes());
        }
        (ColumnType::Wei, Value::Wei(v)) => match wei {
            WeiEncoding::UInt128 => out.extend_from_slice(&v.to_le_bytes()),
            WeiEncoding::Decimal => decimal(*v, out),
        },
        (ColumnType::U256, Value::U256(v)) => match wei {
            WeiEncoding::UInt128 => out.extend_from_slice(&v.to_le_bytes::<32>()),
            WeiEncoding::Decimal => string(&v.to_string(), out),
        },
        (ColumnType::Hash, Value::Hash(h)) => hex_string(h.as_slice(), out),
        (ColumnType::Address, Value::Address(a)) => hex_string(a.as_slice(), out),
        (ColumnType::Text, Value::Text(s)) => string(s, out),
        (ty, v) => {
            return Err(format!(
                "value {v:?} does not match the column type {}",
                ty.name()
            ));
        }
    }
    Ok(())
}

/// Appends a row with its `version` and `deleted` flag.
pub fn encode_row(
    spec: &OutputSpec,
    row: &[Value],
    version: Epoch,
    deleted: bool,
    wei: WeiEncoding,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if row.len() != spec.columns.len() {
        return Err(EncodeError {
            output: spec.name.into(),
            column: "*".into(),
            reason: format!("{} values for {} columns", row.len(), spec.columns.len()),
        });
    }
    for (column, value) in spec.columns.iter().zip(row) {
        encode_value(column.ty, value, wei, out).map_err(|reason| EncodeError {
            output: spec.name.into(),
            column: column.name.into(),
            reason,
        })?;
    }
    out.extend_from_slice(&version.to_le_bytes());
    out.push(u8::from(deleted));
    Ok(())
}

/// Reads RowBinary rows of `spec`'s columns (no `version`/`deleted`), as the `_current`
/// views return them: the inverse of [`encode_value`] per column. Errors name the column.
pub fn decode_rows(
    spec: &OutputSpec,
    wei: WeiEncoding,
    mut bytes: &[u8],
) -> Result<Vec<RowValues>, EncodeError> {
    let err = |column: &str, reason: String| EncodeError {
        output: spec.name.into(),
        column: column.into(),
        reason,
    };
    let mut rows = Vec::new();
    while !bytes.is_empty() {
        let mut row = Vec::with_capacity(spec.columns.len());
        for column in spec.columns {
            let value =
                decode_value(column.ty, wei, &mut bytes).map_err(|r| err(column.name, r))?;
            row.push(value);
        }
        rows.push(row);
    }
    Ok(rows)
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if bytes.len() < n {
        return Err(format!("truncated: {n} bytes wanted, {} left", bytes.len()));
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn read_string(bytes: &mut &[u8]) -> Result<String, String> {
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = take(bytes, 1)?[0];
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 56 {
            return Err("string length varint too long".into());
        }
    }
    let raw = take(bytes, len)?;
    String::from_utf8(raw.to_vec()).map_err(|e| e.to_string())
}

fn decode_value(ty: ColumnType, wei: WeiEncoding, bytes: &mut &[u8]) -> Result<Value, String> {
    let mut fixed = |n: usize| -> Result<[u8; 16], String> {
        let mut buf = [0u8; 16];
        buf[..n].copy_from_slice(take(bytes, n)?);
        Ok(buf)
    };
    Ok(match ty {
        ColumnType::U64 => Value::U64(u128::from_le_bytes(fixed(8)?) as u64),
        ColumnType::Timestamp => Value::U64(u128::from_le_bytes(fixed(4)?) as u64),
        ColumnType::Wei => match wei {
            WeiEncoding::UInt128 => Value::Wei(u128::from_le_bytes(fixed(16)?)),
            WeiEncoding::Decimal => {
                let text = read_string(bytes)?;
                Value::Wei(
                    text.parse()
                        .map_err(|e| format!("wei '{text}' is not a decimal u128: {e}"))?,
                )
            }
        },
        ColumnType::U256 => match wei {
            WeiEncoding::UInt128 => {
                let raw: [u8; 32] = take(bytes, 32)?
                    .try_into()
                    .map_err(|_| "a UInt256 takes 32 bytes".to_string())?;
                Value::U256(crate::model::U256::from_le_bytes(raw))
            }
            WeiEncoding::Decimal => {
                let text = read_string(bytes)?;
                Value::U256(
                    crate::model::U256::from_str_radix(&text, 10)
                        .map_err(|e| format!("'{text}' is not a decimal u256: {e}"))?,
                )
            }
        },
        ColumnType::Hash => {
            let text = read_string(bytes)?;
            Value::Hash(text.parse().map_err(|e| format!("hash '{text}': {e}"))?)
        }
        ColumnType::Address => {
            let text = read_string(bytes)?;
            Value::Address(text.parse().map_err(|e| format!("address '{text}': {e}"))?)
        }
        ColumnType::Text => Value::Text(read_string(bytes)?),
    })
}

/// A row to write: the row, its version and whether it is a tombstone.
pub type RowToWrite<'a> = (&'a RowValues, Epoch, bool);

/// The old and new row of one key at one epoch.
type Slot<'a> = (Option<&'a RowValues>, Option<&'a RowValues>);

/// The rows to write for consolidated `updates`: per epoch and key, the new row, or a
/// tombstone of the old one.
pub fn rows_to_write<'a>(
    spec: &OutputSpec,
    updates: &'a [(RowValues, Epoch, Diff)],
) -> Vec<RowToWrite<'a>> {
    let positions = key_positions(spec);
    let mut per_key: BTreeMap<(Epoch, Vec<&Value>), Slot<'a>> = BTreeMap::new();
    for (row, epoch, diff) in updates {
        let key = positions.iter().filter_map(|&i| row.get(i)).collect();
        let slot = per_key.entry((*epoch, key)).or_default();
        if *diff > 0 {
            slot.1 = Some(row);
        } else {
            slot.0 = Some(row);
        }
    }
    per_key
        .into_iter()
        .filter_map(|((epoch, _), (old, new))| match (old, new) {
            (_, Some(new)) => Some((new, epoch, false)),
            (Some(old), None) => Some((old, epoch, true)),
            (None, None) => None,
        })
        .collect()
}

/// The column list of the table of `spec`, for `INSERT INTO t (...)`.
pub fn column_list(spec: &OutputSpec) -> String {
    let mut cols: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
    cols.extend(["version", "deleted"]);
    cols.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dataflow::{Column, Position};
    use crate::model::B256;
    use crate::sinks::testing::{COLUMNS, spec};

    /// Every column kind but text.
    const SPEC: OutputSpec = spec("t", COLUMNS.split_at(4).0, &["k"]);

    fn row(k: u64, fee: u128) -> RowValues {
        vec![
            Value::U64(k),
            Value::U64(60),
            Value::Wei(fee),
            Value::Hash(B256::ZERO),
        ]
    }

    #[test]
    fn rowbinary_layout() {
        let mut out = Vec::new();
        encode_row(&SPEC, &row(1, 258), 7, true, WeiEncoding::UInt128, &mut out).unwrap();
        let mut expected = Vec::new();
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.extend_from_slice(&60u32.to_le_bytes());
        expected.extend_from_slice(&258u128.to_le_bytes());
        expected.push(66);
        expected.extend_from_slice(format!("0x{}", "0".repeat(64)).as_bytes());
        expected.extend_from_slice(&7u64.to_le_bytes());
        expected.push(1);
        assert_eq!(out, expected);
        let mut decimal = Vec::new();
        encode_row(
            &SPEC,
            &row(1, 258),
            7,
            true,
            WeiEncoding::Decimal,
            &mut decimal,
        )
        .unwrap();
        assert_eq!(&decimal[12..16], &[3, b'2', b'5', b'8']);
    }

    #[test]
    fn out_of_range_values_name_the_column() {
        let mut out = Vec::new();
        let bad = vec![
            Value::U64(1),
            Value::U64(u64::MAX),
            Value::Wei(1),
            Value::Hash(B256::ZERO),
        ];
        let err = encode_row(&SPEC, &bad, 1, false, WeiEncoding::UInt128, &mut out).unwrap_err();
        assert_eq!(err.column, "at");
        let wrong = vec![
            Value::U64(1),
            Value::U64(1),
            Value::U64(1),
            Value::Hash(B256::ZERO),
        ];
        let err = encode_row(&SPEC, &wrong, 1, false, WeiEncoding::Decimal, &mut out).unwrap_err();
        assert_eq!(err.column, "fee");
    }

    #[test]
    fn a_change_writes_one_row_and_a_delete_a_tombstone() {
        let updates = vec![
            (row(1, 5), 3, -1),
            (row(1, 6), 3, 1),
            (row(2, 9), 3, -1),
            (row(3, 1), 4, 1),
        ];
        let rows = rows_to_write(&SPEC, &updates);
        assert_eq!(
            rows,
            vec![
                (&row(1, 6), 3, false),
                (&row(2, 9), 3, true),
                (&row(3, 1), 4, false)
            ]
        );
    }

    #[test]
    fn u256_values_round_trip_exactly_in_both_encodings() {
        static WIDE: OutputSpec = OutputSpec {
            name: "wide",
            doc: "",
            columns: &[Column::new("amount", ColumnType::U256, "")],
            key: &["amount"],
            position: Position::Whole,
        };
        let big = crate::model::U256::MAX - crate::model::U256::from(12_345u64);
        for wei in [WeiEncoding::UInt128, WeiEncoding::Decimal] {
            let rows = [
                vec![Value::U256(big)],
                vec![Value::U256(crate::model::U256::ZERO)],
            ];
            let mut bytes = Vec::new();
            for r in &rows {
                encode_row(&WIDE, r, 7, false, wei, &mut bytes).unwrap();
                bytes.truncate(bytes.len() - 9);
            }
            assert_eq!(decode_rows(&WIDE, wei, &bytes).unwrap(), rows.to_vec());
        }
        let mut out = Vec::new();
        encode_value(
            ColumnType::U256,
            &Value::U256(crate::model::U256::from(258u64)),
            WeiEncoding::UInt128,
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 32);
        assert_eq!(&out[..2], &[2, 1], "little-endian");
    }

    #[test]
    fn decoding_inverts_encoding() {
        for wei in [WeiEncoding::UInt128, WeiEncoding::Decimal] {
            let rows = [row(1, 258), row(u64::MAX, u128::MAX)];
            let mut bytes = Vec::new();
            for r in &rows {
                encode_row(&SPEC, r, 7, false, wei, &mut bytes).unwrap();
                // The views return the columns only: drop version and deleted.
                bytes.truncate(bytes.len() - 9);
            }
            assert_eq!(decode_rows(&SPEC, wei, &bytes).unwrap(), rows.to_vec());
            let err = decode_rows(&SPEC, wei, &bytes[..bytes.len() - 3]).unwrap_err();
            assert_eq!(err.column, "h");
        }
    }

    #[test]
    fn hex_and_decimal_match_the_text_forms() {
        let h = B256::repeat_byte(0x9c);
        let mut a = Vec::new();
        hex_string(h.as_slice(), &mut a);
        let mut b = Vec::new();
        string(&h.to_string(), &mut b);
        assert_eq!(a, b);
        let addr = crate::model::Address::repeat_byte(0x0f);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        hex_string(addr.as_slice(), &mut a);
        string(&format!("{addr:#x}"), &mut b);
        assert_eq!(a, b);
        for v in [0u128, 7, 10, 1_000_000_007, u128::MAX] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            decimal(v, &mut a);
            string(&v.to_string(), &mut b);
            assert_eq!(a, b, "{v}");
        }
    }

    #[test]
    fn varints() {
        let mut out = Vec::new();
        varint(300, &mut out);
        assert_eq!(out, vec![0xac, 0x02]);
    }
}
