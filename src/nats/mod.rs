//! NATS JetStream conventions shared by the ingress (a source, [`crate::sources::nats`]) and
//! the egress (a sink, [`crate::sinks::nats`]): stream names, subjects, headers, content
//! types, the connection and the publish with acknowledgement. No engine, source or sink
//! code: both sides depend on this, never on each other.
//!
//! ```text
//!  chainflow publish-heads ──► stream CHAINFLOW_EVENTS, subject chainflow.<chain_id>.events
//!    (tracker; Nats-Msg-Id per event,           │  (file storage, retention by age)
//!     publish acknowledged before the next)     ▼
//!  chainflow run --nats ── durable pull consumer: epoch = stream sequence ──► engine
//!        │  bad payload ─► chainflow.deadletter.events (reason + original bytes), then ack
//!        │  ack once every sink has committed the message's epoch
//!        ▼
//!  egress sink ──► stream CHAINFLOW_OUT, subject chainflow.out.<output>: one JSON message per
//!                  key change, Nats-Msg-Id = <output>:<epoch>:<key>
//! ```

use std::time::Duration;

use async_nats::jetstream::{self, stream};

/// Default JetStream stream of chain events.
pub const EVENTS_STREAM: &str = "CHAINFLOW_EVENTS";
/// Default JetStream stream of output changes.
pub const OUT_STREAM: &str = "CHAINFLOW_OUT";
/// Default JetStream stream of dead letters.
pub const DEADLETTER_STREAM: &str = "CHAINFLOW_DEADLETTER";
/// Default first token of every subject.
pub const SUBJECT_PREFIX: &str = "chainflow";

/// The subject of `chain_id`'s events: `<prefix>.<chain_id>.events`.
pub fn events_subject(prefix: &str, chain_id: u64) -> String {
    format!("{prefix}.{chain_id}.events")
}

/// The subject of `output`'s changes: `<prefix>.out.<output>`.
pub fn output_subject(prefix: &str, output: &str) -> String {
    format!("{prefix}.out.{output}")
}

/// The subject of dead-lettered ingress messages: `<prefix>.deadletter.events`.
pub fn deadletter_subject(prefix: &str) -> String {
    format!("{prefix}.deadletter.events")
}

/// `Content-Type` of a chain event in bincode (schemas/chain_event.v1.json describes the JSON).
pub const CONTENT_TYPE_BINCODE: &str = "application/vnd.chainflow.chain-event.v1+bincode";
/// `Content-Type` of a chain event in JSON.
pub const CONTENT_TYPE_JSON: &str = "application/vnd.chainflow.chain-event.v1+json";
/// `Content-Type` of an egress output change (schemas/output_change.v1.json).
pub const CONTENT_TYPE_CHANGE: &str = "application/vnd.chainflow.output-change.v1+json";

/// Header: the epoch of an egress message.
pub const HEADER_EPOCH: &str = "Chainflow-Epoch";
/// Header: why a message was dead-lettered.
pub const HEADER_REASON: &str = "Chainflow-Reason";
/// Header: the stream sequence of a dead-lettered message.
pub const HEADER_SEQUENCE: &str = "Chainflow-Stream-Sequence";
/// Header: the subject of a dead-lettered message.
pub const HEADER_SUBJECT: &str = "Chainflow-Subject";

/// Errors of the NATS parts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// The server cannot be reached or refused the connection.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// Server URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A JetStream request failed.
    #[error("NATS JetStream {what} failed: {reason}")]
    JetStream {
        /// What was being done.
        what: String,
        /// Why.
        reason: String,
    },
    /// What the server holds cannot be used as it is (an unreadable progress entry, a
    /// resume point that is not safe).
    #[error("{0}")]
    Invalid(String),
}

impl NatsError {
    /// A [`NatsError::JetStream`] of `what` failing for `reason`.
    pub fn js(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        NatsError::JetStream {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// Connects to `url` (retrying the first connection for up to 10 s).
pub async fn connect(url: &str) -> Result<async_nats::Client, NatsError> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let options = async_nats::ConnectOptions::new()
            .name("chainflow")
            .connection_timeout(Duration::from_secs(5));
        match options.connect(url).await {
            Ok(c) => return Ok(c),
            Err(e) if attempt < 10 => {
                tracing::warn!(url, attempt, error = %e, "cannot connect to NATS, retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(e) => {
                return Err(NatsError::Connect {
                    url: url.to_string(),
                    reason: e.to_string(),
                });
            }
        }
    }
}

/// Gets stream `name`, creating it with `subjects` (file storage) when missing and adding any
/// subject of `subjects` it lacks.
pub async fn ensure_stream(
    js: &jetstream::Context,
    name: &str,
    subjects: &[String],
    max_age: Duration,
    duplicate_window: Duration,
) -> Result<stream::Stream, NatsError> {
    match js.get_stream(name).await {
        Ok(mut s) => {
            let info = s
                .info()
                .await
                .map_err(|e| NatsError::js(format!("info of stream {name}"), e))?;
            let mut config = info.config.clone();
            let missing: Vec<&String> = subjects
                .iter()
                .filter(|s| !config.subjects.contains(s))
                .collect();
            if !missing.is_empty() {
                config.subjects.extend(missing.into_iter().cloned());
                js.update_stream(config)
                    .await
                    .map_err(|e| NatsError::js(format!("adding subjects to stream {name}"), e))?;
            }
            Ok(s)
        }
        Err(_) => js
            .get_or_create_stream(stream::Config {
                name: name.to_string(),
                subjects: subjects.to_vec(),
                storage: stream::StorageType::File,
                retention: stream::RetentionPolicy::Limits,
                max_age,
                duplicate_window,
                ..Default::default()
            })
            .await
            .map_err(|e| NatsError::js(format!("creating stream {name}"), e)),
    }
}

/// Publishes and waits for the acknowledgement, retrying with backoff (up to `attempts`;
/// the message id makes a retry of a message that did land a no-op). Returns the ack.
pub async fn publish_acked(
    js: &jetstream::Context,
    subject: &str,
    headers: async_nats::HeaderMap,
    payload: bytes::Bytes,
    attempts: u32,
) -> Result<jetstream::publish::PublishAck, NatsError> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = match js
            .publish_with_headers(subject.to_string(), headers.clone(), payload.clone())
            .await
        {
            Ok(ack) => ack.await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(ack) => return Ok(ack),
            Err(e) if attempt < attempts => {
                let delay = Duration::from_millis((50u64 << attempt.min(7)).min(5_000));
                tracing::warn!(subject, attempt, error = %e, ?delay, "publish not acknowledged, retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(NatsError::js(format!("publish to {subject}"), e)),
        }
    }
}
