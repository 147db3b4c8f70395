//! The pure half of the PostgreSQL sink: values to `COPY ... FROM STDIN` text and back.
//!
//! Column types (see `migrations/timescale/`): `U64` → `BIGINT` (a value above `i64::MAX`
//! is refused, naming the column), `Timestamp` → `TIMESTAMPTZ` written as
//! `YYYY-MM-DD HH:MM:SS+00`, `Wei` → `NUMERIC(39, 0)` and `U256` → `NUMERIC(78, 0)` in decimal digits, `Hash`/`Address` →
//! `TEXT` `0x`-hex, `Text` → `TEXT` with COPY's backslash escapes. Every row ends with its
//! `version` (the epoch).

use crate::engine::dataflow::{ColumnType, OutputSpec, RowValues, Value};
use crate::model::Epoch;

/// The PostgreSQL type of a column (as `information_schema.columns.data_type` names it).
pub fn pg_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::U64 => "bigint",
        ColumnType::Timestamp => "timestamp with time zone",
        ColumnType::Wei | ColumnType::U256 => "numeric",
        ColumnType::Hash | ColumnType::Address | ColumnType::Text => "text",
    }
}

/// `YYYY-MM-DD HH:MM:SS+00` of unix seconds (proleptic Gregorian, UTC); the caller keeps
/// `secs` within year 9999 (`encode_value` refuses later ones).
pub fn timestamp_text(secs: u64) -> String {
    crate::sinks::utc(secs).map_or_else(
        || secs.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S+00").to_string(),
    )
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Appends one value of `ty` in COPY text format.
pub fn encode_value(ty: ColumnType, value: &Value, out: &mut String) -> Result<(), String> {
    use std::fmt::Write;
    match (ty, value) {
        (ColumnType::U64, Value::U64(v)) => {
            if i64::try_from(*v).is_err() {
                return Err(format!("{v} does not fit BIGINT"));
            }
            let _ = write!(out, "{v}");
        }
        (ColumnType::Timestamp, Value::U64(v)) => {
            if *v > 253_402_300_799 {
                return Err(format!("timestamp {v} is beyond year 9999"));
            }
            out.push_str(&timestamp_text(*v));
        }
        (ColumnType::Wei, Value::Wei(v)) => {
            let _ = write!(out, "{v}");
        }
        (ColumnType::U256, Value::U256(v)) => {
            let _ = write!(out, "{v}");
        }
        (ColumnType::Hash, Value::Hash(h)) => {
            let _ = write!(out, "{h}");
        }
        (ColumnType::Address, Value::Address(a)) => {
            let _ = write!(out, "{a:#x}");
        }
        (ColumnType::Text, Value::Text(s)) => escape(s, out),
        (ty, v) => {
            return Err(format!(
                "value {v:?} does not match the column type {}",
                ty.name()
            ));
        }
    }
    Ok(())
}

/// Appends a row and its `version` as one COPY text line.
pub fn encode_row(
    spec: &OutputSpec,
    row: &[Value],
    version: Epoch,
    out: &mut String,
) -> Result<(), crate::sinks::clickhouse::encode::EncodeError> {
    let err = |column: &str, reason: String| crate::sinks::clickhouse::encode::EncodeError {
        output: spec.name.into(),
        column: column.into(),
        reason,
    };
    if row.len() != spec.columns.len() {
        return Err(err(
            "*",
            format!("{} values for {} columns", row.len(), spec.columns.len()),
        ));
    }
    for (column, value) in spec.columns.iter().zip(row) {
        encode_value(column.ty, value, out).map_err(|r| err(column.name, r))?;
        out.push('\t');
    }
    if i64::try_from(version).is_err() {
        return Err(err(
            "version",
            format!("epoch {version} does not fit BIGINT"),
        ));
    }
    out.push_str(&version.to_string());
    out.push('\n');
    Ok(())
}

/// The `SELECT` expression reading column `name` of `ty` back as text that
/// [`decode_value`] parses.
pub fn select_expr(name: &str, ty: ColumnType) -> String {
    match ty {
        ColumnType::Timestamp => format!("extract(epoch from {name})::bigint::text"),
        _ => format!("{name}::text"),
    }
}

/// The `SELECT` list reading every column of `spec` back as text (see [`select_expr`]).
pub fn select_list(spec: &OutputSpec) -> String {
    let exprs: Vec<String> = spec
        .columns
        .iter()
        .map(|c| select_expr(c.name, c.ty))
        .collect();
    exprs.join(", ")
}

/// The column list of `spec`'s table, for `COPY t (...)`.
pub fn column_list(spec: &OutputSpec) -> String {
    let names: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
    names.join(", ")
}

/// Parses a value of `ty` from the text [`select_expr`] reads.
pub fn decode_value(ty: ColumnType, text: &str) -> Result<Value, String> {
    let bad = |e: &dyn std::fmt::Display| format!("'{text}' is not a {}: {e}", ty.name());
    Ok(match ty {
        ColumnType::U64 | ColumnType::Timestamp => Value::U64(text.parse().map_err(|e| bad(&e))?),
        ColumnType::Wei => Value::Wei(text.parse().map_err(|e| bad(&e))?),
        ColumnType::U256 => {
            Value::U256(crate::model::U256::from_str_radix(text, 10).map_err(|e| bad(&e))?)
        }
        ColumnType::Hash => Value::Hash(text.parse().map_err(|e| bad(&e))?),
        ColumnType::Address => Value::Address(text.parse().map_err(|e| bad(&e))?),
        ColumnType::Text => Value::Text(text.to_string()),
    })
}

/// Parses a row of `spec` from its columns' texts.
pub fn decode_row(spec: &OutputSpec, texts: &[String]) -> Result<RowValues, String> {
    spec.columns
        .iter()
        .zip(texts)
        .map(|(c, t)| decode_value(c.ty, t).map_err(|e| format!("column '{}': {e}", c.name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::B256;
    use crate::sinks::testing::{COLUMNS, spec};

    const SPEC: OutputSpec = spec("t", COLUMNS, &["k"]);

    #[test]
    fn u256_values_are_decimal_digits_both_ways() {
        let big = crate::model::U256::MAX;
        let mut out = String::new();
        encode_value(ColumnType::U256, &Value::U256(big), &mut out).unwrap();
        assert_eq!(out, big.to_string());
        assert_eq!(out.len(), 78);
        assert_eq!(
            decode_value(ColumnType::U256, &out).unwrap(),
            Value::U256(big)
        );
        assert!(decode_value(ColumnType::U256, "-1").is_err());
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp_text(0), "1970-01-01 00:00:00+00");
        assert_eq!(timestamp_text(951_782_400), "2000-02-29 00:00:00+00");
        assert_eq!(timestamp_text(1_710_338_483), "2024-03-13 14:01:23+00");
        assert_eq!(timestamp_text(253_402_300_799), "9999-12-31 23:59:59+00");
    }

    #[test]
    fn rows_are_copy_text_lines_and_read_back() {
        let row = vec![
            Value::U64(7),
            Value::U64(60),
            Value::Wei(u128::MAX),
            Value::Hash(B256::repeat_byte(0xab)),
            Value::Text("a\tb\\c\nd".into()),
        ];
        let mut out = String::new();
        encode_row(&SPEC, &row, 9, &mut out).unwrap();
        assert_eq!(
            out,
            format!(
                "7\t1970-01-01 00:01:00+00\t{}\t0x{}\ta\\tb\\\\c\\nd\t9\n",
                u128::MAX,
                "ab".repeat(32)
            )
        );
        let texts: Vec<String> = vec![
            "7".into(),
            "60".into(),
            u128::MAX.to_string(),
            format!("0x{}", "ab".repeat(32)),
            "a\tb\\c\nd".into(),
        ];
        assert_eq!(decode_row(&SPEC, &texts).unwrap(), row);
    }

    #[test]
    fn values_that_do_not_fit_name_the_column() {
        let row = vec![
            Value::U64(u64::MAX),
            Value::U64(60),
            Value::Wei(1),
            Value::Hash(B256::ZERO),
            Value::Text(String::new()),
        ];
        let err = encode_row(&SPEC, &row, 1, &mut String::new()).unwrap_err();
        assert_eq!(err.column, "k");
        let err = decode_row(&SPEC, &["x".into()]).unwrap_err();
        assert!(err.contains("column 'k'"), "{err}");
    }
}
