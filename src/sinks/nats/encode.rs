//! The egress encoder: an [`OutputBatch`] into key changes and each change into its NATS
//! message (subject, `Nats-Msg-Id`, headers, JSON payload per `schemas/output_change.v1.json`).
//! Pure: no I/O; the writer is [`super::EgressSink`].

use serde::ser::{SerializeMap, SerializeStruct, Serializer};
use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::dataflow::{OutputSpec, RowValues, Value};
use crate::engine::keys::key_positions;
use crate::engine::sink::OutputBatch;
use crate::model::{ChainId, Epoch};
use crate::nats::{CONTENT_TYPE_CHANGE, HEADER_EPOCH};

/// One key change of an output at one epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Epoch of the change.
    pub epoch: Epoch,
    /// Key values, in the order of the output's key columns.
    pub key: Vec<Value>,
    /// The row before, `None` for an insert.
    pub old: Option<RowValues>,
    /// The row after, `None` for a delete.
    pub new: Option<RowValues>,
}

/// The key changes of `batch`, in epoch then key order. (A batch lists an epoch's
/// retractions before its insertions, so the two halves of a change are not adjacent.)
pub fn changes(batch: &OutputBatch) -> Vec<Change> {
    let positions = key_positions(&batch.output);
    let key_of = |row| key_values(&positions, row);
    // Update indexes by epoch, then key; the sort is stable, so of two updates of one key
    // and epoch with the same sign the later one wins, as it would in a map.
    let updates = &batch.updates;
    let mut order: Vec<usize> = (0..updates.len()).collect();
    order.sort_by(|&a, &b| {
        let ((ra, ea, _), (rb, eb, _)) = (&updates[a], &updates[b]);
        ea.cmp(eb).then_with(|| key_of(ra).cmp(key_of(rb)))
    });
    let mut out: Vec<Change> = Vec::with_capacity(order.len());
    for i in order {
        let (row, epoch, diff) = &updates[i];
        let same = out
            .last()
            .is_some_and(|c| c.epoch == *epoch && c.key.iter().eq(key_of(row)));
        if !same {
            out.push(Change {
                epoch: *epoch,
                key: key_of(row).cloned().collect(),
                old: None,
                new: None,
            });
        }
        if let Some(change) = out.last_mut() {
            if *diff < 0 {
                change.old = Some(row.clone());
            } else {
                change.new = Some(row.clone());
            }
        }
    }
    out
}

/// The values at `positions` of `row`.
fn key_values<'a>(positions: &'a [usize], row: &'a [Value]) -> impl Iterator<Item = &'a Value> {
    positions.iter().filter_map(|&i| row.get(i))
}

/// The `Nats-Msg-Id` of a change: output, epoch and key values.
pub fn msg_id(spec: &OutputSpec, change: &Change) -> String {
    let mut id = String::with_capacity(spec.name.len() + 21 + 67 * change.key.len());
    id.push_str(spec.name);
    id.push(':');
    id.push_str(itoa::Buffer::new().format(change.epoch));
    for v in &change.key {
        id.push(':');
        with_text(v, |t| id.push_str(t));
    }
    id
}

/// The headers of a change's message: `Nats-Msg-Id` ([`msg_id`]), `Content-Type` and the
/// epoch.
pub fn change_headers(spec: &OutputSpec, change: &Change) -> async_nats::HeaderMap {
    // Static names: no parse, check or copy of a name per message.
    use async_nats::header::HeaderName;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(HeaderName::from_static("Nats-Msg-Id"), msg_id(spec, change));
    headers.insert(HeaderName::from_static("Content-Type"), CONTENT_TYPE_CHANGE);
    headers.insert(
        HeaderName::from_static(HEADER_EPOCH),
        itoa::Buffer::new().format(change.epoch),
    );
    headers
}

/// The JSON payload of a change (`schemas/output_change.v1.json`).
pub fn encode_change(
    spec: &OutputSpec,
    change: &Change,
    finalized: &BTreeMap<ChainId, u64>,
) -> Vec<u8> {
    let message = ChangeJson {
        spec,
        change,
        finalized,
    };
    // Sized for a typical message, so the buffer does not grow step by step.
    let mut out = Vec::with_capacity(1024);
    // Cannot fail: every map key is a string or an integer.
    match serde_json::to_writer(&mut out, &message) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

/// A change as its JSON message, serialized straight from the rows: the bytes a
/// `serde_json::Value` of [`crate::sinks::jsonl::encode_row`]s and
/// [`crate::sinks::jsonl::encode_value`]s would give, without building one (that took a
/// third of the sink's time).
struct ChangeJson<'a> {
    spec: &'a OutputSpec,
    change: &'a Change,
    finalized: &'a BTreeMap<ChainId, u64>,
}

impl Serialize for ChangeJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (spec, change) = (self.spec, self.change);
        let mut m = s.serialize_struct("OutputChange", 7)?;
        m.serialize_field("version", &1)?;
        m.serialize_field("output", spec.name)?;
        m.serialize_field(
            "key",
            &ObjectJson(spec.key.iter().copied().zip(&change.key)),
        )?;
        m.serialize_field("old", &change.old.as_ref().map(|r| row_json(spec, r)))?;
        m.serialize_field("new", &change.new.as_ref().map(|r| row_json(spec, r)))?;
        m.serialize_field("epoch", &change.epoch)?;
        // Integer map keys are written as strings: {"1": 123}.
        m.serialize_field("finalized", self.finalized)?;
        m.end()
    }
}

/// Column names and values as a JSON object.
struct ObjectJson<I>(I);

fn row_json<'a>(
    spec: &'a OutputSpec,
    row: &'a [Value],
) -> ObjectJson<impl Iterator<Item = (&'a str, &'a Value)> + Clone> {
    ObjectJson(spec.columns.iter().map(|c| c.name).zip(row))
}

impl<'v, I> Serialize for ObjectJson<I>
where
    I: Iterator<Item = (&'v str, &'v Value)> + Clone,
{
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (name, value) in self.0.clone() {
            m.serialize_entry(name, &ValueJson(value))?;
        }
        m.end()
    }
}

/// A value as [`crate::sinks::jsonl::encode_value`] encodes it.
struct ValueJson<'a>(&'a Value);

impl Serialize for ValueJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Value::U64(v) => s.serialize_u64(*v),
            other => with_text(other, |t| s.serialize_str(t)),
        }
    }
}

/// Calls `f` with the text of `value` as [`crate::sinks::jsonl::encode_value`] writes it,
/// without JSON quotes: decimal numbers, `0x`-hex hashes and addresses, the text itself.
fn with_text<R>(value: &Value, f: impl FnOnce(&str) -> R) -> R {
    match value {
        Value::U64(v) => f(itoa::Buffer::new().format(*v)),
        Value::Wei(v) => f(itoa::Buffer::new().format(*v)),
        Value::U256(v) => f(&v.to_string()),
        Value::Hash(h) => f(hex(h.as_slice(), &mut [0; 66])),
        Value::Address(a) => f(hex(a.as_slice(), &mut [0; 42])),
        Value::Text(t) => f(t),
    }
}

/// `bytes` as `0x` and lowercase hex digits, written into `buf` (2 + 2 * `bytes.len()` long).
fn hex<'b>(bytes: &[u8], buf: &'b mut [u8]) -> &'b str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    buf[0] = b'0';
    buf[1] = b'x';
    for (pair, b) in buf[2..].chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
    std::str::from_utf8(buf).unwrap_or_default()
}
