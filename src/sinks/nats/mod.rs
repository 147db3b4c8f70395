//! The NATS egress sink: one JSON message per key change of an output.
//!
//! ```text
//!  OutputBatch [lower, upper) ─► per epoch, per key: the -old / +new pair
//!    ─► subject chainflow.out.<output>, Nats-Msg-Id <output>:<epoch>:<key>,
//!       headers Content-Type (output-change v1), Chainflow-Epoch
//!       payload {"version":1,"output","key":{..},"old":{..}|null,"new":{..}|null,
//!                "epoch","finalized":{"<chain_id>":height}}    (schemas/output_change.v1.json)
//! ```
//!
//! A change is an insert (`old` null), a delete (`new` null) or an update. Every message of a
//! batch is published asynchronously and every acknowledgement awaited before
//! [`Sink::commit`] returns, so the engine acknowledges its ingress only after the changes
//! are stored. The progress of an output is, per writer (see [`crate::sinks::writers`]), the
//! epoch of its last stored message, kept in the key-value bucket `<stream>_progress` (key
//! `<output>.<writer>.<writers>`, value `<epoch>@<stream stamp>`, put after the batch's
//! acknowledgements; entries stamped for an earlier stream of the same name are ignored): a restart
//! publishes that epoch again, and JetStream drops the messages already stored by their id
//! (within the stream's duplicate window). A single writer's stream without progress entries
//! resumes at its last message's epoch. A consumer folds changes by key and keeps, per
//! key, the change with the highest epoch: that is idempotent, so a duplicate outside the
//! window is harmless too. Values are encoded as in the JSONL sink: wei amounts as decimal
//! strings, hashes and addresses as `0x`-hex.
//!
//! Exactly once holds end to end with NATS ingress, whose epochs replay identically. With an
//! RPC source a restart rebuilds from the sinks' safe block at new epochs: the egress then
//! republishes the rebuilt rows as inserts (a folding consumer ends with the right rows), but a
//! row that vanished while the engine was down is not retracted on the egress.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream;

pub mod encode;

pub use self::encode::{Change, change_headers, changes, encode_change, msg_id};
use crate::engine::dataflow::OutputSpec;
use crate::engine::sink::{OutputBatch, Result, Sink, SinkError};
use crate::engine::writer::Writer;
use crate::model::Epoch;
use crate::nats::{HEADER_EPOCH, NatsError, OUT_STREAM, output_subject};
use crate::sinks::writers;
use serde::{Deserialize, Serialize};

/// Egress settings (`[sinks.nats]`; `run --egress URL`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgressConfig {
    /// Server URL.
    pub url: String,
    /// Stream of output changes (created when missing, subjects `<prefix>.out.>`).
    pub stream: String,
    /// First token of the subjects: changes go to `<prefix>.out.<output>`.
    pub subject_prefix: String,
    /// Outputs to publish; empty: all.
    pub outputs: Vec<String>,
    /// Window in which JetStream drops a republished message id, in seconds.
    pub duplicate_window_secs: u64,
    /// Age after which the stream drops changes, in hours (0: never).
    pub max_age_hours: u64,
    /// The share of the keys this sink instance writes (set by the engine per worker).
    #[serde(skip)]
    pub writer: Writer,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            url: "nats://127.0.0.1:4222".into(),
            stream: OUT_STREAM.into(),
            subject_prefix: crate::nats::SUBJECT_PREFIX.into(),
            outputs: Vec::new(),
            duplicate_window_secs: 600,
            max_age_hours: 0,
            writer: Writer::default(),
        }
    }
}

/// The key of `writer`'s progress entry for `output` in the progress bucket.
fn progress_key(output: &str, writer: Writer) -> String {
    format!("{output}.{}.{}", writer.index, writer.count.max(1))
}

/// A progress entry `(output, writer, epoch, stream stamp)` from its key and value; `None`
/// when unreadable. The value is `<epoch>@<stamp>`, the stamp being the creation time of the
/// output stream it was written for (see [`stream_stamp`]); a bare `<epoch>` has no stamp.
fn progress_entry(
    key: &str,
    value: Option<&[u8]>,
) -> Option<(String, Writer, Epoch, Option<i128>)> {
    let mut parts = key.rsplitn(3, '.');
    let count: usize = parts.next()?.parse().ok()?;
    let index: usize = parts.next()?.parse().ok()?;
    let output = parts.next()?;
    let value = std::str::from_utf8(value?).ok()?;
    let (epoch, stamp) = match value.split_once('@') {
        Some((epoch, stamp)) => (epoch.parse().ok()?, Some(stamp.parse().ok()?)),
        None => (value.parse().ok()?, None),
    };
    (index < count.max(1)).then(|| (output.to_string(), Writer { index, count }, epoch, stamp))
}

/// The value of a progress entry: the epoch and the output stream's stamp.
fn progress_value(epoch: Epoch, stamp: i128) -> String {
    format!("{epoch}@{stamp}")
}

/// The stamp of an output stream: its creation time in nanoseconds. A stream deleted and
/// created again under the same name gets a new stamp, so the progress entries written for
/// the old one are told apart without deleting anything (two processes that opened their
/// sinks at once and deleted and created the bucket in a race left the server with a bucket
/// whose files were gone).
fn stream_stamp(info: &jetstream::stream::Info) -> i128 {
    info.created.unix_timestamp_nanos()
}

/// Whether a progress entry belongs to the output stream at hand: its stamp is the stream's,
/// or it has none (a bare epoch) and the stream holds messages.
fn entry_is_current(entry_stamp: Option<i128>, stamp: i128, stream_empty: bool) -> bool {
    match entry_stamp {
        Some(s) => s == stamp,
        None => !stream_empty,
    }
}

/// Opens (creating it when missing) the progress bucket and reads its entries.
async fn open_progress(
    js: &jetstream::Context,
    bucket: &str,
) -> Result<(jetstream::kv::Store, Vec<(String, Option<bytes::Bytes>)>), NatsError> {
    use futures_util::TryStreamExt;
    let store = match js.get_key_value(bucket).await {
        Ok(store) => store,
        Err(_) => {
            // The bucket's stream as `create_key_value` makes it, created directly: that
            // call first reads account limits in a form older servers (2.9) do not answer.
            js.get_or_create_stream(jetstream::stream::Config {
                name: format!("KV_{bucket}"),
                description: Some("chainflow egress progress per output and writer".into()),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                storage: jetstream::stream::StorageType::File,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: jetstream::stream::DiscardPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| NatsError::js(format!("creating bucket {bucket}"), e))?;
            js.get_key_value(bucket)
                .await
                .map_err(|e| NatsError::js(format!("opening bucket {bucket}"), e))?
        }
    };
    let keys: Vec<String> = store
        .keys()
        .await
        .map_err(|e| NatsError::js(format!("listing bucket {bucket}"), e))?
        .try_collect()
        .await
        .map_err(|e| NatsError::js(format!("listing bucket {bucket}"), e))?;
    let mut entries = Vec::with_capacity(keys.len());
    for key in keys {
        let value = store
            .get(key.as_str())
            .await
            .map_err(|e| NatsError::js(format!("reading {bucket}.{key}"), e))?;
        entries.push((key, value));
    }
    Ok((store, entries))
}

/// Publishes output changes to JetStream.
pub struct EgressSink {
    config: EgressConfig,
    rt: tokio::runtime::Runtime,
    js: jetstream::Context,
    /// Per output, the epoch of this writer's last stored message: epochs below it are
    /// skipped.
    committed: BTreeMap<String, Epoch>,
    /// The highest epoch of any stored message of any writer.
    last_epoch: Option<Epoch>,
    /// Per-writer progress.
    progress: jetstream::kv::Store,
    /// The output stream's stamp, written with every progress entry.
    stamp: i128,
    /// Messages published, duplicates dropped by JetStream counted apart.
    published: u64,
    duplicates: u64,
}

impl EgressSink {
    /// Connects, creates the stream and the progress bucket when missing and reads where
    /// this writer resumes each output.
    pub fn open(config: EgressConfig, specs: &[OutputSpec]) -> Result<Self, NatsError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| NatsError::js("runtime", e))?;
        let (js, progress, committed, last_epoch, stamp) = rt.block_on(async {
            let client = crate::nats::connect(&config.url).await?;
            let js = jetstream::new(client);
            let stream = crate::nats::ensure_stream(
                &js,
                &config.stream,
                &[format!("{}.out.>", config.subject_prefix)],
                Duration::from_secs(config.max_age_hours * 3600),
                Duration::from_secs(config.duplicate_window_secs.max(1)),
            )
            .await?;
            let bucket = format!("{}_progress", config.stream);
            // Progress left from an earlier stream of that name would skip changes: entries
            // carry the stamp of the stream they were written for and others are ignored.
            // Nothing is deleted, so processes that open their sinks at once cannot race.
            let mut stream = stream;
            let info = stream
                .info()
                .await
                .map_err(|e| NatsError::js(format!("info of stream {}", config.stream), e))?;
            let stamp = stream_stamp(info);
            let stream_empty = info.state.last_sequence == 0;
            let mut attempt = 0;
            let (progress, entries) = loop {
                attempt += 1;
                match open_progress(&js, &bucket).await {
                    Ok(opened) => break opened,
                    Err(e) if attempt >= 10 => return Err(e),
                    Err(e) => {
                        tracing::debug!(error = %e, attempt, "opening the progress bucket again");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            };
            let mut stored: BTreeMap<String, Vec<(Writer, Epoch)>> = BTreeMap::new();
            for (key, value) in entries {
                let parsed = progress_entry(&key, value.as_deref());
                let Some((output, writer, epoch, entry_stamp)) = parsed else {
                    return Err(NatsError::Invalid(format!(
                        "bucket {bucket} holds an unreadable progress entry '{key}'"
                    )));
                };
                if !entry_is_current(entry_stamp, stamp, stream_empty) {
                    tracing::debug!(%key, "progress entry of an earlier stream of that name, ignored");
                    continue;
                }
                stored.entry(output).or_default().push((writer, epoch));
            }
            let mut committed = BTreeMap::new();
            let mut last_epoch: Option<Epoch> = None;
            for spec in specs {
                let mut rows = stored.remove(spec.name).unwrap_or_default();
                if rows.is_empty() && config.writer.count <= 1 && !stream_empty {
                    // A stream with messages and no progress entry (a single writer's
                    // progress kept in the stream alone): its last message. (A writer of
                    // several always has entries, and the others may be publishing while it
                    // opens.)
                    match stream
                        .get_last_raw_message_by_subject(&output_subject(&config.subject_prefix, spec.name))
                        .await
                    {
                        Ok(m) => {
                            let epoch = m
                                .headers
                                .get(HEADER_EPOCH)
                                .and_then(|v| v.as_str().parse::<Epoch>().ok())
                                .unwrap_or(0);
                            rows.push((Writer::default(), epoch));
                        }
                        Err(e)
                            if e.kind()
                                == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound => {}
                        Err(e) => {
                            return Err(NatsError::js(
                                format!("reading the last change of {}", spec.name),
                                e,
                            ));
                        }
                    }
                }
                if let Some(top) = rows.iter().map(|(_, e)| *e).max() {
                    last_epoch = Some(last_epoch.map_or(top, |l| l.max(top)));
                    // Rows of another writer count that stopped unevenly: republish from
                    // the lowest (the ids drop what is stored; a folding consumer is
                    // idempotent).
                    let from = writers::resume(spec.name, &rows, config.writer).unwrap_or_else(
                        |why| {
                            tracing::warn!(output = spec.name, %why, "republishing from the lowest writer's progress");
                            rows.iter().map(|(_, e)| *e).min().unwrap_or(0)
                        },
                    );
                    committed.insert(spec.name.to_string(), from);
                }
            }
            Ok::<_, NatsError>((js, progress, committed, last_epoch, stamp))
        })?;
        tracing::info!(url = %config.url, stream = %config.stream, writer = ?config.writer, ?committed, "publishing output changes to NATS");
        Ok(EgressSink {
            config,
            rt,
            js,
            committed,
            last_epoch,
            progress,
            stamp,
            published: 0,
            duplicates: 0,
        })
    }

    /// The highest epoch of any stored change of any writer (new epochs of a run that does
    /// not replay must lie above it, so no message id is reused).
    pub fn last_epoch(&self) -> Option<Epoch> {
        self.last_epoch
    }

    /// Per output, the epoch of its last stored change (republished on restart).
    pub fn committed(&self) -> &BTreeMap<String, Epoch> {
        &self.committed
    }

    /// Messages stored and duplicates dropped by JetStream so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.published, self.duplicates)
    }
}

impl Sink for EgressSink {
    fn name(&self) -> &str {
        "nats"
    }

    fn accepts(&self, output: &str) -> bool {
        self.config.outputs.is_empty() || self.config.outputs.iter().any(|o| o == output)
    }

    fn commit(&mut self, batch: &OutputBatch) -> Result<()> {
        let from = self.committed.get(batch.output.name).copied().unwrap_or(0);
        let spec = batch.output;
        let subject =
            async_nats::Subject::from(output_subject(&self.config.subject_prefix, spec.name));
        let changes: Vec<Change> = changes(batch)
            .into_iter()
            .filter(|c| c.epoch >= from)
            .collect();
        let Some(last) = changes.last().map(|c| c.epoch) else {
            return Ok(());
        };
        let js = &self.js;
        let fail = |reason: String| SinkError::Retryable {
            sink: "nats".into(),
            output: spec.name.into(),
            reason,
        };
        let headers = |c: &Change| change_headers(&spec, c);
        let (stored, dups) = self.rt.block_on(async {
            // Encode and publish each change, then await every acknowledgement; a failure
            // retries that message alone (its id makes a landed retry a no-op).
            let mut pending = Vec::with_capacity(changes.len());
            for c in &changes {
                let payload = bytes::Bytes::from(encode_change(&spec, c, &batch.finalized));
                let ack = js
                    .publish_with_headers(subject.clone(), headers(c), payload.clone())
                    .await;
                pending.push((ack, c, payload));
            }
            let (mut stored, mut dups) = (0u64, 0u64);
            for (ack, c, payload) in pending {
                let result = match ack {
                    Ok(f) => f.await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                let ack = match result {
                    Ok(ack) => ack,
                    Err(_) => crate::nats::publish_acked(js, &subject, headers(c), payload, 8)
                        .await
                        .map_err(|e| fail(e.to_string()))?,
                };
                if ack.duplicate {
                    dups += 1;
                } else {
                    stored += 1;
                }
            }
            Ok::<_, SinkError>((stored, dups))
        })?;
        // Progress after every acknowledgement: a restart republishes from `last`.
        let key = progress_key(spec.name, self.config.writer);
        let value = bytes::Bytes::from(progress_value(last, self.stamp));
        self.rt
            .block_on(self.progress.put(key.as_str(), value))
            .map_err(|e| fail(format!("recording progress {key}: {e}")))?;
        self.published += stored;
        self.duplicates += dups;
        self.committed.insert(spec.name.to_string(), last);
        self.last_epoch = Some(self.last_epoch.map_or(last, |l| l.max(last)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::encode::*;
    use super::*;
    use crate::engine::dataflow::{RowValues, Value};
    use crate::engine::keys::key_positions;
    use crate::model::ChainId;

    #[test]
    fn progress_entries_round_trip_and_refuse_garbage() {
        let w = Writer { index: 1, count: 2 };
        let key = progress_key("gas_fees_blocks", w);
        assert_eq!(key, "gas_fees_blocks.1.2");
        let value = progress_value(42, -7_000_000_123);
        assert_eq!(
            progress_entry(&key, Some(value.as_bytes())),
            Some(("gas_fees_blocks".to_string(), w, 42, Some(-7_000_000_123)))
        );
        assert_eq!(
            progress_entry(&progress_key("a.b", Writer::default()), Some(b"7")),
            Some(("a.b".to_string(), Writer::default(), 7, None))
        );
        for (key, value) in [
            ("gas_fees_blocks.2.2", &b"1"[..]),
            ("gas_fees_blocks.1", b"1"),
            ("gas_fees_blocks.x.2", b"1"),
            ("gas_fees_blocks.1.2", b"-1"),
            ("gas_fees_blocks.1.2", b"\xff"),
            ("gas_fees_blocks.1.2", b"1@"),
            ("gas_fees_blocks.1.2", b"1@x"),
            ("gas_fees_blocks.1.2", b"@5"),
        ] {
            assert_eq!(progress_entry(key, Some(value)), None, "{key}");
        }
        assert_eq!(progress_entry("gas_fees_blocks.0.1", None), None);
    }

    #[test]
    fn only_progress_of_the_stream_at_hand_counts() {
        // Stamped for this stream: counts, empty or not.
        assert!(entry_is_current(Some(5), 5, true));
        assert!(entry_is_current(Some(5), 5, false));
        // Stamped for an earlier stream of the name: ignored.
        assert!(!entry_is_current(Some(4), 5, false));
        assert!(!entry_is_current(Some(4), 5, true));
        // Unstamped (older chainflow): counts only when the stream holds messages.
        assert!(entry_is_current(None, 5, false));
        assert!(!entry_is_current(None, 5, true));
    }
    use crate::sinks::jsonl::encode_value;
    use serde_json::Value as Json;
    use std::sync::Arc;

    fn spec() -> OutputSpec {
        crate::dataflows::registry()
            .iter()
            .flat_map(|d| d.outputs())
            .find(|s| s.name == "gas_fees_minutes")
            .unwrap()
    }

    fn row(spec: &OutputSpec, minute: u64, blocks: u64) -> RowValues {
        spec.columns
            .iter()
            .map(|c| match c.name {
                "chain_id" => Value::U64(1),
                "minute" => Value::U64(minute),
                "blocks" => Value::U64(blocks),
                _ => match c.ty {
                    crate::engine::dataflow::ColumnType::Wei => Value::Wei(u128::MAX),
                    _ => Value::U64(0),
                },
            })
            .collect()
    }

    /// The encoding `encode_change` replaced: a `serde_json::Value` built and printed.
    fn encode_change_via_value(
        spec: &OutputSpec,
        change: &Change,
        finalized: &BTreeMap<ChainId, u64>,
    ) -> Vec<u8> {
        use crate::sinks::jsonl::encode_row;
        use serde_json::Map;
        let mut key = Map::new();
        for (name, value) in spec.key.iter().zip(&change.key) {
            key.insert((*name).to_string(), encode_value(value));
        }
        let row = |r: &Option<RowValues>| r.as_ref().map_or(Json::Null, |r| encode_row(spec, r));
        let mut obj = Map::with_capacity(7);
        obj.insert("version".into(), Json::from(1));
        obj.insert("output".into(), Json::from(spec.name));
        obj.insert("key".into(), Json::Object(key));
        obj.insert("old".into(), row(&change.old));
        obj.insert("new".into(), row(&change.new));
        obj.insert("epoch".into(), Json::from(change.epoch));
        obj.insert(
            "finalized".into(),
            Json::Object(
                finalized
                    .iter()
                    .map(|(c, h)| (c.to_string(), Json::from(*h)))
                    .collect(),
            ),
        );
        Json::Object(obj).to_string().into_bytes()
    }

    #[test]
    fn changes_encode_to_the_bytes_of_a_json_value() {
        use crate::engine::dataflow::{Column, ColumnType, Position};
        use crate::model::{Address, B256};
        static COLUMNS: [Column; 6] = [
            Column {
                name: "chain_id",
                ty: ColumnType::U64,
                doc: "",
            },
            Column {
                name: "name",
                ty: ColumnType::Text,
                doc: "",
            },
            Column {
                name: "hash",
                ty: ColumnType::Hash,
                doc: "",
            },
            Column {
                name: "who",
                ty: ColumnType::Address,
                doc: "",
            },
            Column {
                name: "fee",
                ty: ColumnType::Wei,
                doc: "",
            },
            Column {
                name: "at",
                ty: ColumnType::Timestamp,
                doc: "",
            },
        ];
        let text = OutputSpec {
            name: "texts",
            doc: "",
            columns: &COLUMNS,
            key: &["chain_id", "name"],
            position: Position::Whole,
        };
        let text_row = |name: &str, fee: u128| -> RowValues {
            vec![
                Value::U64(u64::MAX),
                Value::Text(name.into()),
                Value::Hash(B256::with_last_byte(0xab)),
                Value::Address(Address::with_last_byte(0xcd)),
                Value::Wei(fee),
                Value::U64(1_700_000_000),
            ]
        };
        let finalized = BTreeMap::from([(1, 3), (8453, u64::MAX)]);
        let quoted = "a \"quoted\"\nname \u{1} é";
        let cases = [
            (Some(text_row(quoted, 0)), None),
            (None, Some(text_row(quoted, u128::MAX))),
            (Some(text_row("x", 1)), Some(text_row("x", 2))),
        ];
        for (old, new) in cases {
            let key = [Value::U64(u64::MAX), Value::Text(quoted.into())].to_vec();
            let change = Change {
                epoch: 42,
                key,
                old,
                new,
            };
            for (spec, fin) in [(&text, &finalized), (&text, &BTreeMap::new())] {
                assert_eq!(
                    String::from_utf8(encode_change(spec, &change, fin)).unwrap(),
                    String::from_utf8(encode_change_via_value(spec, &change, fin)).unwrap()
                );
            }
        }
        let s = spec();
        let change = Change {
            epoch: 7,
            key: vec![Value::U64(1), Value::U64(60)],
            old: Some(row(&s, 60, 1)),
            new: Some(row(&s, 60, 2)),
        };
        let fin = BTreeMap::from([(1, 3)]);
        assert_eq!(
            encode_change(&s, &change, &fin),
            encode_change_via_value(&s, &change, &fin)
        );
    }

    #[test]
    fn message_ids_are_the_key_values_as_their_json_text() {
        use crate::model::{Address, B256};
        // The construction `msg_id` replaced: each key value's JSON, strings unquoted.
        let via_value = |spec: &OutputSpec, change: &Change| {
            let mut id = format!("{}:{}", spec.name, change.epoch);
            for v in &change.key {
                id.push(':');
                match encode_value(v) {
                    Json::String(s) => id.push_str(&s),
                    other => id.push_str(&other.to_string()),
                }
            }
            id
        };
        let s = spec();
        let keys = [
            vec![Value::U64(0), Value::U64(u64::MAX)],
            vec![Value::Wei(u128::MAX), Value::Wei(0)],
            vec![
                Value::Hash(B256::repeat_byte(0xab)),
                Value::Hash(B256::ZERO),
            ],
            vec![Value::Address(Address::repeat_byte(0xcd))],
            vec![Value::Text("a:b \"c\"".into()), Value::Text(String::new())],
            vec![],
        ];
        for (epoch, key) in keys.into_iter().enumerate() {
            let change = Change {
                epoch: epoch as Epoch * 1_000_003,
                key,
                old: None,
                new: None,
            };
            assert_eq!(msg_id(&s, &change), via_value(&s, &change));
        }
    }

    #[test]
    fn changes_equal_a_map_by_epoch_and_key() {
        // The construction `changes` replaced: a map by (epoch, key), later rows winning.
        let via_map = |batch: &OutputBatch| {
            let positions = key_positions(&batch.output);
            let mut out: BTreeMap<(Epoch, Vec<Value>), Change> = BTreeMap::new();
            for (row, epoch, diff) in &batch.updates {
                let key: Vec<Value> = positions.iter().map(|&i| row[i].clone()).collect();
                let change = out.entry((*epoch, key.clone())).or_insert_with(|| Change {
                    epoch: *epoch,
                    key,
                    old: None,
                    new: None,
                });
                if *diff < 0 {
                    change.old = Some(row.clone());
                } else {
                    change.new = Some(row.clone());
                }
            }
            out.into_values().collect::<Vec<_>>()
        };
        let s = spec();
        // Epochs and keys out of order, keys repeated within an epoch with both signs and
        // twice with one sign.
        let mut updates = Vec::new();
        for i in 0..200u64 {
            let epoch = 10 + (i * 7) % 5;
            let minute = 60 * ((i * 13) % 9);
            let diff = if i % 3 == 0 { -1 } else { 1 };
            updates.push((row(&s, minute, i), epoch, diff));
        }
        let batch = OutputBatch {
            output: s,
            lower: 10,
            upper: 15,
            updates,
            finalized: Default::default(),
            caught_up: true,
            errors: Vec::new(),
        };
        let got = changes(&batch);
        assert!(got.len() < batch.updates.len());
        assert_eq!(got, via_map(&batch));
    }

    #[test]
    fn a_batch_becomes_inserts_changes_and_deletes_by_key() {
        let s = spec();
        let batch = OutputBatch {
            output: s,
            lower: 5,
            upper: 8,
            // As the engine orders them: per epoch, retractions before insertions.
            updates: vec![
                (row(&s, 60, 1), 5, 1),
                (row(&s, 120, 1), 5, 1),
                (row(&s, 60, 1), 6, -1),
                (row(&s, 120, 1), 6, -1),
                (row(&s, 60, 2), 6, 1),
                (row(&s, 120, 3), 6, 1),
                (row(&s, 120, 3), 7, -1),
            ],
            finalized: Arc::new(BTreeMap::from([(1, 3)])),
            caught_up: true,
            errors: Vec::new(),
        };
        let c = changes(&batch);
        assert_eq!(c.len(), 5);
        assert!(c[0].old.is_none() && c[0].new.is_some());
        assert_eq!(c[2].epoch, 6);
        assert_eq!(c[2].old, Some(row(&s, 60, 1)));
        assert_eq!(c[2].new, Some(row(&s, 60, 2)));
        assert_eq!(c[3].old, Some(row(&s, 120, 1)));
        assert_eq!(c[3].new, Some(row(&s, 120, 3)));
        assert!(c[4].new.is_none() && c[4].old.is_some());
        assert_eq!(msg_id(&s, &c[2]), "gas_fees_minutes:6:1:60");
        let json: Json =
            serde_json::from_slice(&encode_change(&s, &c[2], &batch.finalized)).unwrap();
        assert_eq!(json["key"]["minute"], 60);
        assert_eq!(json["old"]["blocks"], 1);
        assert_eq!(json["new"]["blocks"], 2);
        assert_eq!(json["finalized"]["1"], 3);
        assert_eq!(json["epoch"], 6);
        assert!(
            json["new"]
                .as_object()
                .unwrap()
                .values()
                .any(|v| v == &Json::String(u128::MAX.to_string()))
        );
    }
}
