//! The JSONL sink: one line per update, `{"output", "epoch", "diff", "row"}`, and one line
//! per key-contract error, `{"output", "epoch", "error"}`.
//!
//! Encoding: `u64` and timestamp columns are JSON numbers; wei amounts are decimal strings
//! (they exceed what a JSON number holds exactly in most readers); hashes and addresses are
//! `0x`-hex strings. Each batch is written and flushed before [`Sink::commit`] returns.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use super::{OutputBatch, Result, Sink, SinkError};
use crate::engine::dataflow::{OutputSpec, Value};
use crate::model::{Diff, Epoch};

/// Encodes one column value as JSON.
pub fn encode_value(value: &Value) -> Json {
    match value {
        Value::U64(v) => Json::from(*v),
        Value::Wei(v) => Json::String(v.to_string()),
        Value::U256(v) => Json::String(v.to_string()),
        Value::Hash(h) => Json::String(h.to_string()),
        Value::Address(a) => Json::String(format!("{a:#x}")),
        Value::Text(s) => Json::String(s.clone()),
    }
}

/// Encodes a row as a JSON object keyed by column name.
pub fn encode_row(spec: &OutputSpec, row: &[Value]) -> Json {
    let mut obj = Map::with_capacity(row.len());
    for (column, value) in spec.columns.iter().zip(row) {
        obj.insert(column.name.to_string(), encode_value(value));
    }
    Json::Object(obj)
}

/// Encodes one update as a JSON line (without the newline).
pub fn encode_update(spec: &OutputSpec, row: &[Value], epoch: Epoch, diff: Diff) -> String {
    let mut obj = Map::with_capacity(4);
    obj.insert("output".into(), Json::String(spec.name.to_string()));
    obj.insert("epoch".into(), Json::from(epoch));
    obj.insert("diff".into(), Json::from(diff as i64));
    obj.insert("row".into(), encode_row(spec, row));
    Json::Object(obj).to_string()
}

/// Appends updates to a file, one JSON object per line.
pub struct JsonlSink {
    path: PathBuf,
    out: BufWriter<File>,
}

impl JsonlSink {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|e| SinkError::Fatal {
                sink: "jsonl".into(),
                output: "*".into(),
                reason: format!("cannot open '{}': {e}", path.display()),
            })?;
        Ok(JsonlSink {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        })
    }

    fn io_error(&self, output: &str, e: std::io::Error) -> SinkError {
        SinkError::Fatal {
            sink: "jsonl".into(),
            output: output.into(),
            reason: format!("cannot write '{}': {e}", self.path.display()),
        }
    }
}

impl Sink for JsonlSink {
    fn name(&self) -> &str {
        "jsonl"
    }

    fn commit(&mut self, batch: &OutputBatch) -> Result<()> {
        for (row, epoch, diff) in &batch.updates {
            let line = encode_update(&batch.output, row, *epoch, *diff);
            if let Err(e) = writeln!(self.out, "{line}") {
                return Err(self.io_error(batch.output.name, e));
            }
        }
        for error in &batch.errors {
            let line = serde_json::json!({ "output": batch.output.name, "epoch": error.epoch, "error": error.to_string() });
            if let Err(e) = writeln!(self.out, "{line}") {
                return Err(self.io_error(batch.output.name, e));
            }
        }
        self.out
            .flush()
            .map_err(|e| self.io_error(batch.output.name, e))
    }

    fn close(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| self.io_error("*", e))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(|e| self.io_error("*", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dataflow::{Column, ColumnType};
    use crate::model::B256;

    #[test]
    fn encodes_wei_as_string_and_hash_as_hex() {
        const COLS: &[Column] = &[
            Column::new("n", ColumnType::U64, ""),
            Column::new("fee", ColumnType::Wei, ""),
            Column::new("h", ColumnType::Hash, ""),
        ];
        let spec = OutputSpec {
            name: "t",
            doc: "",
            columns: COLS,
            key: &["n"],
            position: crate::engine::dataflow::Position::Block("n"),
        };
        let big: u128 = u128::from(u64::MAX) * 3;
        let line = encode_update(
            &spec,
            &[
                Value::U64(5),
                Value::Wei(big),
                Value::Hash(B256::with_last_byte(1)),
            ],
            9,
            -1,
        );
        let v: Json = serde_json::from_str(&line).unwrap();
        assert_eq!(v["output"], "t");
        assert_eq!(v["epoch"], 9);
        assert_eq!(v["diff"], -1);
        assert_eq!(v["row"]["n"], 5);
        assert_eq!(v["row"]["fee"], big.to_string());
        assert_eq!(v["row"]["h"], format!("0x{}01", "0".repeat(62)));
    }
}
