//! The key contract of outputs: at each epoch the consolidated updates of one key are an
//! insert (`+new`), a delete (`-old`) or a change (`-old +new`). Anything else (two rows
//! for one key, a multiplicity other than one) is a bug in the dataflow: those updates go to
//! the batch's error list with the dataflow, output and key named, and no sink writes them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::dataflow::{OutputSpec, RowValues, Value};
use crate::model::{Diff, Epoch};

/// Updates of one key at one epoch that break the key contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyError {
    /// Dataflow that produced them.
    pub dataflow: String,
    /// Output they belong to.
    pub output: String,
    /// Values of the key columns.
    pub key: Vec<Value>,
    /// Epoch of the updates.
    pub epoch: Epoch,
    /// The offending updates.
    pub updates: Vec<(RowValues, Diff)>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dataflow '{}' output '{}' key {:?} at epoch {}: {}",
            self.dataflow, self.output, self.key, self.epoch, self.reason
        )
    }
}

/// Positions of the key columns of `spec`.
pub fn key_positions(spec: &OutputSpec) -> Vec<usize> {
    spec.key
        .iter()
        .filter_map(|k| spec.columns.iter().position(|c| c.name == *k))
        .collect()
}

/// A hash of the key values of `row` (at `positions`) that is the same in every process and
/// every build: the release operators send a row to worker `hash % workers`, and a restart
/// that reconciles a writer's share selects its rows with it (see
/// [`crate::sinks::writers`]). FNV-1a over a tag and the bytes of each value, then a
/// splitmix64 finalizer so every bit counts for the modulo.
pub fn key_hash(positions: &[usize], row: &RowValues) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for &i in positions {
        match row.get(i) {
            Some(Value::U64(v)) => {
                eat(&[1]);
                eat(&v.to_le_bytes());
            }
            Some(Value::Wei(v)) => {
                eat(&[2]);
                eat(&v.to_le_bytes());
            }
            Some(Value::U256(v)) => {
                eat(&[6]);
                eat(&v.to_le_bytes::<32>());
            }
            Some(Value::Hash(v)) => {
                eat(&[3]);
                eat(v.as_slice());
            }
            Some(Value::Address(v)) => {
                eat(&[4]);
                eat(v.as_slice());
            }
            Some(Value::Text(v)) => {
                eat(&[5]);
                eat(&(v.len() as u64).to_le_bytes());
                eat(v.as_bytes());
            }
            None => eat(&[0]),
        }
    }
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Splits consolidated `updates` into those that keep the key contract and the errors.
pub fn check_keys(
    dataflow: &str,
    spec: &OutputSpec,
    updates: Vec<(RowValues, Epoch, Diff)>,
) -> (Vec<(RowValues, Epoch, Diff)>, Vec<KeyError>) {
    let positions = key_positions(spec);
    type Group = Vec<(RowValues, Diff)>;
    let mut groups: BTreeMap<(Epoch, Vec<Value>), Group> = BTreeMap::new();
    for (row, epoch, diff) in updates {
        let key = positions
            .iter()
            .filter_map(|&i| row.get(i).cloned())
            .collect();
        groups.entry((epoch, key)).or_default().push((row, diff));
    }
    let mut good = Vec::new();
    let mut errors = Vec::new();
    for ((epoch, key), group) in groups {
        let inserts = group.iter().filter(|(_, d)| *d > 0).count();
        let deletes = group.iter().filter(|(_, d)| *d < 0).count();
        let reason = if group.iter().any(|(_, d)| d.abs() != 1) {
            Some("a row with a multiplicity other than one".to_string())
        } else if inserts > 1 || deletes > 1 {
            Some(format!(
                "{inserts} insertions and {deletes} deletions of one key at one epoch"
            ))
        } else {
            None
        };
        match reason {
            None => good.extend(group.into_iter().map(|(row, diff)| (row, epoch, diff))),
            Some(reason) => errors.push(KeyError {
                dataflow: dataflow.to_string(),
                output: spec.name.to_string(),
                key,
                epoch,
                updates: group,
                reason,
            }),
        }
    }
    good.sort_by(|a, b| (a.1, a.2, &a.0).cmp(&(b.1, b.2, &b.0)));
    (good, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dataflow::{Column, ColumnType};

    const COLS: &[Column] = &[
        Column::new("k", ColumnType::U64, ""),
        Column::new("v", ColumnType::U64, ""),
    ];
    const SPEC: OutputSpec = OutputSpec {
        name: "t",
        doc: "",
        columns: COLS,
        key: &["k"],
        position: crate::engine::dataflow::Position::Block("k"),
    };

    fn row(k: u64, v: u64) -> RowValues {
        vec![Value::U64(k), Value::U64(v)]
    }

    #[test]
    fn key_hashes_are_fixed_values_that_spread_keys() {
        // Fixed values (checked against an independent FNV-1a + splitmix64 in Python):
        // every process and every build must send a key to the same worker.
        assert_eq!(key_hash(&[0], &row(1, 1)), key_hash(&[0], &row(1, 99)));
        assert_ne!(key_hash(&[0], &row(1, 1)), key_hash(&[0], &row(2, 1)));
        assert_eq!(key_hash(&[0], &row(1, 1)), 0x2854_78f2_ee18_debf);
        let text = vec![Value::Text("ab".into())];
        assert_ne!(
            key_hash(&[0], &text),
            key_hash(&[0], &vec![Value::Text("ba".into())])
        );
        // 1000 keys over 2 and 3 workers: every worker gets a fair share.
        for workers in [2u64, 3] {
            let mut counts = vec![0u32; workers as usize];
            for k in 0..1000 {
                counts[(key_hash(&[0], &row(k, 0)) % workers) as usize] += 1;
            }
            let fair = 1000 / workers as u32;
            assert!(
                counts.iter().all(|c| c.abs_diff(fair) < fair / 5),
                "{counts:?}"
            );
        }
    }

    #[test]
    fn inserts_deletes_and_changes_pass() {
        let updates = vec![
            (row(1, 1), 5, 1),
            (row(2, 1), 5, -1),
            (row(3, 1), 5, -1),
            (row(3, 2), 5, 1),
            (row(3, 2), 6, -1),
        ];
        let (good, errors) = check_keys("d", &SPEC, updates.clone());
        assert!(errors.is_empty());
        assert_eq!(good.len(), updates.len());
    }

    #[test]
    fn two_rows_for_one_key_go_to_the_errors_with_names() {
        let updates = vec![
            (row(1, 1), 5, 1),
            (row(1, 2), 5, 1),
            (row(2, 1), 5, 1),
            (row(4, 1), 5, 2),
        ];
        let (good, errors) = check_keys("dup", &SPEC, updates);
        assert_eq!(good, vec![(row(2, 1), 5, 1)]);
        assert_eq!(errors.len(), 2);
        let text = errors[0].to_string();
        for named in ["dataflow 'dup'", "output 't'", "U64(1)"] {
            assert!(text.contains(named), "{named} not in: {text}");
        }
        assert!(errors[1].reason.contains("multiplicity"));
    }
}
