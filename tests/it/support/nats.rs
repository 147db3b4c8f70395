//! A real NATS JetStream: per-test streams and subject prefixes, and readers of what
//! chainflow stored there.

use std::collections::BTreeMap;

use async_nats::jetstream;
use chainflow::engine::dataflow::{ColumnType, OutputSpec, Value};
use chainflow::model::{Address, B256};

/// The server: `CHAINFLOW_TEST_NATS`, else what `make services` found
/// (`CHAINFLOW_NATS_URL` in `.services/env`), else the local default.
pub fn url() -> String {
    super::services::service_url(&["CHAINFLOW_TEST_NATS"], "CHAINFLOW_NATS_URL", || {
        "nats://127.0.0.1:4222".into()
    })
}

/// One test's names: streams, consumer and subject prefix, all derived from `test`.
pub struct Names {
    /// Subject prefix.
    pub prefix: String,
    /// Events stream.
    pub events: String,
    /// Egress stream.
    pub out: String,
    /// Dead-letter stream.
    pub dead: String,
    /// Engine consumer.
    pub consumer: String,
}

/// A runtime for the test's own NATS calls.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Fresh names for `test`: any stream left by an earlier run is deleted.
pub fn names(test: &str) -> Names {
    let up = test.to_ascii_uppercase();
    let n = Names {
        prefix: format!("cft_{test}"),
        events: format!("T_{up}_EVENTS"),
        out: format!("T_{up}_OUT"),
        dead: format!("T_{up}_DEAD"),
        consumer: format!("t-{test}"),
    };
    rt().block_on(async {
        let js = js().await;
        for s in [&n.events, &n.out, &n.dead] {
            let _ = js.delete_stream(s).await;
        }
    });
    n
}

/// A JetStream context on the test server.
pub async fn js() -> jetstream::Context {
    jetstream::new(async_nats::connect(url()).await.unwrap())
}

impl Names {
    /// The `[nats]` and `[sinks.nats]` sections for a run.
    pub fn toml(&self) -> String {
        format!(
            "[nats]\nurl = \"{url}\"\nstream = \"{ev}\"\nconsumer = \"{c}\"\ndeadletter_stream = \"{d}\"\nsubject_prefix = \"{p}\"\n\n[sinks.nats]\nurl = \"{url}\"\nstream = \"{o}\"\nsubject_prefix = \"{p}\"\n",
            url = url(),
            ev = self.events,
            c = self.consumer,
            d = self.dead,
            p = self.prefix,
            o = self.out,
        )
    }

    /// The arguments of `publish-heads` for `rpc`.
    pub fn publish_args(&self, rpc: &str) -> Vec<String> {
        [
            "publish-heads",
            "--rpc",
            rpc,
            "--nats",
            &url(),
            "--stream",
            &self.events,
            "--subject-prefix",
            &self.prefix,
            "--start-block",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

/// Every message of `stream` in order: (subject, headers, payload).
pub fn messages(stream: &str) -> Vec<(String, async_nats::HeaderMap, Vec<u8>)> {
    rt().block_on(async {
        let js = js().await;
        let Ok(mut s) = js.get_stream(stream).await else {
            return Vec::new();
        };
        let info = s.info().await.unwrap().clone();
        let mut out = Vec::new();
        if info.state.messages == 0 {
            return out;
        }
        for seq in info.state.first_sequence..=info.state.last_sequence {
            let m = s.get_raw_message(seq).await.unwrap();
            out.push((m.subject.to_string(), m.headers, m.payload.to_vec()));
        }
        out
    })
}

/// Decodes a JSON row of `spec` (as the egress writes it) into values.
pub fn decode_row(spec: &OutputSpec, row: &serde_json::Value) -> Vec<Value> {
    spec.columns
        .iter()
        .map(|c| {
            let v = &row[c.name];
            match c.ty {
                ColumnType::U64 | ColumnType::Timestamp => Value::U64(v.as_u64().unwrap()),
                ColumnType::Wei => Value::Wei(v.as_str().unwrap().parse().unwrap()),
                ColumnType::Hash => Value::Hash(v.as_str().unwrap().parse::<B256>().unwrap()),
                ColumnType::Address => {
                    Value::Address(v.as_str().unwrap().parse::<Address>().unwrap())
                }
                _ => Value::Text(v.as_str().unwrap().to_string()),
            }
        })
        .collect()
}

/// Folds the egress stream of `spec`: per key the change with the highest epoch wins; a
/// change without `new` deletes the key. Returns the current rows (each with count 1) and
/// the number of messages read.
pub fn fold_egress(names: &Names, spec: &OutputSpec) -> (BTreeMap<Vec<Value>, isize>, usize) {
    let subject = format!("{}.out.{}", names.prefix, spec.name);
    let mut state: BTreeMap<String, (u64, Option<Vec<Value>>)> = BTreeMap::new();
    let mut read = 0;
    for (subj, _headers, payload) in messages(&names.out) {
        if subj != subject {
            continue;
        }
        read += 1;
        let change: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        let key = change["key"].to_string();
        let epoch = change["epoch"].as_u64().unwrap();
        let new = (!change["new"].is_null()).then(|| decode_row(spec, &change["new"]));
        match state.get(&key) {
            Some((e, _)) if *e >= epoch => {}
            _ => {
                state.insert(key, (epoch, new));
            }
        }
    }
    let rows = state
        .into_values()
        .filter_map(|(_, row)| row)
        .map(|r| (r, 1))
        .collect();
    (rows, read)
}

/// The engine consumer's (pending, ack pending) counts.
pub fn consumer_backlog(names: &Names) -> (u64, usize) {
    rt().block_on(async {
        let js = js().await;
        let stream = js.get_stream(&names.events).await.unwrap();
        let mut c: jetstream::consumer::PullConsumer =
            stream.get_consumer(&names.consumer).await.unwrap();
        let info = c.info().await.unwrap();
        (info.num_pending, info.num_ack_pending)
    })
}
