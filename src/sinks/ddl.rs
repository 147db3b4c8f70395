//! What the sinks' tables derived from an output's [`OutputSpec`] share: which specs a table
//! can be derived from, and which key column places a row on its chain.
//!
//! `chainflow migrate` creates the tables of every output that no numbered migration creates
//! from the output's spec (`clickhouse::migrate::create_from_specs`,
//! `postgres::migrate::create_from_specs`). Both sinks split a table by its position column
//! only when that column is part of the key: a key must never move to another partition or
//! chunk from one version to the next (ClickHouse collapses the versions of a key only inside
//! one partition; a hypertable's unique index must hold its partitioning column), and a
//! column outside the key, such as the L1 block of a transaction keyed by its hash, may
//! change in a reorg.

use crate::engine::dataflow::{Column, OutputSpec};

/// Whether `name` is a plain lowercase SQL identifier: `a-z`, `0-9` and `_`, not starting
/// with a digit, at most 63 bytes (PostgreSQL's limit). Such names need no quoting in either
/// sink's SQL.
pub fn plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// Checks that a table can be derived from `spec`: its name and every column name are plain
/// identifiers ([`plain_identifier`]), column names are distinct and none is one of
/// `reserved` (the columns the sink adds, such as `version`), and the key has at least one
/// column, each a column of the output named once. The error says what is wrong.
///
/// ```
/// use chainflow::engine::dataflow::{Column, ColumnType, OutputSpec, Position};
/// use chainflow::sinks::ddl::check_spec;
/// const COLUMNS: &[Column] = &[Column::new("chain_id", ColumnType::U64, "chain")];
/// let spec = OutputSpec {
///     name: "things",
///     doc: "",
///     columns: COLUMNS,
///     key: &["chain_id"],
///     position: Position::Whole,
/// };
/// assert!(check_spec(&spec, &["version"]).is_ok());
/// let keyless = OutputSpec { key: &[], ..spec };
/// assert_eq!(check_spec(&keyless, &[]).unwrap_err(), "the key has no column");
/// ```
pub fn check_spec(spec: &OutputSpec, reserved: &[&str]) -> Result<(), String> {
    if !plain_identifier(spec.name) {
        return Err(format!(
            "the output name '{}' is not a plain lowercase SQL identifier (a-z, 0-9, _)",
            spec.name
        ));
    }
    for (i, column) in spec.columns.iter().enumerate() {
        if !plain_identifier(column.name) {
            return Err(format!(
                "column '{}' is not a plain lowercase SQL identifier (a-z, 0-9, _)",
                column.name
            ));
        }
        if reserved.contains(&column.name) {
            return Err(format!(
                "column '{}' has the name of a column the sink adds",
                column.name
            ));
        }
        if spec.columns[..i].iter().any(|c| c.name == column.name) {
            return Err(format!("column '{}' appears twice", column.name));
        }
    }
    if spec.key.is_empty() {
        return Err("the key has no column".into());
    }
    for (i, key) in spec.key.iter().enumerate() {
        if !spec.columns.iter().any(|c| c.name == *key) {
            return Err(format!("key column '{key}' is not a column of the output"));
        }
        if spec.key[..i].contains(key) {
            return Err(format!("key column '{key}' appears twice"));
        }
    }
    Ok(())
}

/// The column of `spec`'s [`Position`](crate::engine::dataflow::Position) when it is a key
/// column, the only kind a sink may split a table by (see the module doc); `None` for
/// positions without a column or whose column is outside the key.
pub fn position_in_key(spec: &OutputSpec) -> Option<Column> {
    let name = spec.position.column()?;
    if !spec.key.contains(&name) {
        return None;
    }
    spec.columns.iter().find(|c| c.name == name).copied()
}

/// Whether `column` is a key column of `spec`.
pub fn in_key(spec: &OutputSpec, column: &str) -> bool {
    spec.key.contains(&column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dataflow::{ColumnType, Position};

    const COLUMNS: &[Column] = &[
        Column::new("chain_id", ColumnType::U64, ""),
        Column::new("block_number", ColumnType::U64, ""),
        Column::new("l1_block_number", ColumnType::U64, ""),
    ];

    fn spec(key: &'static [&'static str], position: Position) -> OutputSpec {
        OutputSpec {
            name: "things",
            doc: "",
            columns: COLUMNS,
            key,
            position,
        }
    }

    #[test]
    fn a_spec_needs_plain_names_and_a_key_of_its_columns() {
        let ok = spec(&["chain_id", "block_number"], Position::Whole);
        assert_eq!(check_spec(&ok, &["version", "deleted"]), Ok(()));
        let problems = [
            (
                OutputSpec {
                    name: "Things",
                    ..ok
                },
                "output name 'Things'",
            ),
            (OutputSpec { name: "1x", ..ok }, "output name '1x'"),
            (OutputSpec { key: &[], ..ok }, "the key has no column"),
            (
                OutputSpec {
                    key: &["nope"],
                    ..ok
                },
                "key column 'nope'",
            ),
            (
                OutputSpec {
                    key: &["chain_id", "chain_id"],
                    ..ok
                },
                "'chain_id' appears twice",
            ),
        ];
        for (bad, says) in problems {
            let err = check_spec(&bad, &[]).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
        let err = check_spec(&ok, &["block_number"]).unwrap_err();
        assert!(err.contains("a column the sink adds"), "{err}");
        const TWICE: &[Column] = &[
            Column::new("a", ColumnType::U64, ""),
            Column::new("a", ColumnType::Text, ""),
        ];
        let twice = OutputSpec {
            columns: TWICE,
            key: &["a"],
            ..ok
        };
        assert_eq!(
            check_spec(&twice, &[]).unwrap_err(),
            "column 'a' appears twice"
        );
        const QUOTED: &[Column] = &[Column::new("a b", ColumnType::U64, "")];
        let quoted = OutputSpec {
            columns: QUOTED,
            key: &["a b"],
            ..ok
        };
        assert!(check_spec(&quoted, &[]).unwrap_err().contains("'a b'"));
        assert!(!plain_identifier(&"x".repeat(64)) && plain_identifier(&"x".repeat(63)));
    }

    #[test]
    fn only_a_key_column_positions_a_table() {
        let key = &["chain_id", "block_number"];
        assert_eq!(
            position_in_key(&spec(key, Position::Block("block_number"))).map(|c| c.name),
            Some("block_number")
        );
        assert_eq!(
            position_in_key(&spec(key, Position::Block("l1_block_number"))),
            None
        );
        assert_eq!(position_in_key(&spec(key, Position::Whole)), None);
        assert_eq!(position_in_key(&spec(key, Position::Log)), None);
        assert!(in_key(&spec(key, Position::Log), "chain_id"));
    }
}
