//! The extractor, `chainflow publish-heads`: follows chains with the tracker and publishes
//! every chain event to JetStream.
//!
//! ```text
//!  start: last message on chainflow.<id>.events ─► walk the stream back ─► the canonical
//!         window as published ─► tracker resumes there (a reorg while down is a Reorged
//!         whose old blocks are exactly the published ones)
//!  loop:  RpcSource event ─► ChainEventV1 (bincode | json) ─► publish with Nats-Msg-Id,
//!         wait for the ack, retry with backoff ─► next event
//! ```
//!
//! The stream is the extractor's only state: a crash between a publish and its ack is
//! covered by the message id (a retry is dropped as a duplicate) and by the resume (what the
//! stream holds is never published again).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};

use super::wire::{ChainEventV1, Format};
use crate::model::{Block, ChainEvent, ChainId};
use crate::nats::{NatsError, events_subject};
use crate::sources::rpc::{ChainConfig, NodeProbe, RpcSource};

/// Settings of `publish-heads`.
#[derive(Clone, Debug)]
pub struct PublishConfig {
    /// Server URL.
    pub url: String,
    /// Stream of chain events.
    pub stream: String,
    /// First token of the subject: events go to `<prefix>.<chain_id>.events`.
    pub subject_prefix: String,
    /// Payload format.
    pub format: Format,
    /// Age after which the stream drops messages (zero: never).
    pub max_age: Duration,
    /// JetStream's duplicate window.
    pub duplicate_window: Duration,
}

/// What a publish run did.
#[derive(Debug, Default)]
pub struct PublishStats {
    /// Events published and stored.
    pub published: AtomicU64,
    /// Publishes JetStream dropped as duplicates.
    pub duplicates: AtomicU64,
}

/// The canonical blocks at the top of `chain_id` as published: the newest message on the
/// chain's subject decides each height first, walking back until `depth` consecutive blocks
/// below the tip are known or the stream begins. Empty when nothing was published.
pub async fn published_window(
    stream: &stream::Stream,
    subject: &str,
    chain_id: ChainId,
    depth: u64,
) -> Result<Vec<Block>, NatsError> {
    let last = match stream.get_last_raw_message_by_subject(subject).await {
        Ok(m) => m,
        Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
            return Ok(Vec::new());
        }
        Err(e) => {
            return Err(NatsError::js(
                format!("reading the last message of {subject}"),
                e,
            ));
        }
    };
    // height -> the block canonical there (None: removed) as decided by the newest event.
    let mut decided: BTreeMap<u64, Option<Block>> = BTreeMap::new();
    let mut seq = last.sequence;
    let mut message = Some(last);
    loop {
        if let Some(m) = message.take()
            && m.subject.as_str() == subject
        {
            let content_type = m
                .headers
                .get("Content-Type")
                .map(|v| v.as_str().to_string());
            match ChainEventV1::decode(content_type.as_deref(), &m.payload) {
                Ok(e) if e.chain_id == chain_id => {
                    // New blocks first: a height a reorg replaced is decided by its new block.
                    for b in e.new {
                        decided.entry(b.number).or_insert(Some(b));
                    }
                    for b in e.old {
                        decided.entry(b.number).or_insert(None);
                    }
                }
                Ok(e) => {
                    tracing::warn!(
                        seq = m.sequence,
                        chain = e.chain_id,
                        "skipping another chain's event while resuming"
                    );
                }
                Err(err) => {
                    tracing::warn!(seq = m.sequence, error = %err, "skipping an undecodable message while resuming");
                }
            }
        }
        // Enough: `depth` consecutive blocks below the highest canonical one.
        let window = top_window(&decided, depth);
        if window.len() as u64 > depth || seq <= 1 {
            return Ok(window);
        }
        seq -= 1;
        match stream.get_raw_message(seq).await {
            Ok(m) => message = Some(m),
            Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => {
                // Deleted (retention) or never stored: the stream begins after it.
                let first = stream
                    .get_info()
                    .await
                    .map(|i| i.state.first_sequence)
                    .unwrap_or(seq);
                if seq < first {
                    return Ok(top_window(&decided, depth));
                }
            }
            Err(e) => return Err(NatsError::js(format!("reading message {seq}"), e)),
        }
    }
}

/// The consecutive, linked canonical blocks ending at the highest decided one, at most
/// `depth + 1` of them, oldest first.
fn top_window(decided: &BTreeMap<u64, Option<Block>>, depth: u64) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let Some(top) = decided.iter().rev().find_map(|(_, b)| b.as_ref()) else {
        return out;
    };
    out.push(top.clone());
    let mut n = top.number;
    while (out.len() as u64) <= depth && n > 0 {
        n -= 1;
        match decided.get(&n) {
            Some(Some(b)) if out.last().is_some_and(|c| c.parent_hash == b.hash) => {
                out.push(b.clone())
            }
            _ => break,
        }
    }
    out.reverse();
    out
}

/// Follows `chain` and publishes its events until `shutdown` is set. Resumes from what the
/// stream holds.
pub fn run(
    mut chain: ChainConfig,
    config: &PublishConfig,
    shutdown: Arc<AtomicBool>,
    stats: Arc<PublishStats>,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let chain_id = NodeProbe::connect(&chain)?.chain_id();
    let subject = events_subject(&config.subject_prefix, chain_id);
    let (js, window, max_payload) = rt.block_on(async {
        let client = crate::nats::connect(&config.url).await?;
        let max_payload = client.server_info().max_payload;
        let js = jetstream::new(client);
        let stream = crate::nats::ensure_stream(
            &js,
            &config.stream,
            std::slice::from_ref(&subject),
            config.max_age,
            config.duplicate_window,
        )
        .await?;
        let window = published_window(&stream, &subject, chain_id, chain.finality_depth).await?;
        Ok::<_, NatsError>((js, window, max_payload))
    })?;
    let mut resume = BTreeMap::new();
    if let Some(tip) = window.last() {
        tracing::info!(chain_id, tip = tip.number, hash = %tip.hash, blocks = window.len(), "resuming after the last published event");
        chain.start_block = None;
        resume.insert(chain_id, window);
    } else {
        tracing::info!(chain_id, start_block = ?chain.start_block, "nothing published yet for this chain");
    }
    let source = RpcSource::start_resumed(vec![chain], resume, Arc::clone(&shutdown))?;
    let mut last_log = Instant::now();
    for item in source {
        let item = item?;
        let finalized = item.finalized.map(|(_, f)| f);
        // A commit of many blocks (a backfill chunk) goes out one block per message: each
        // message stays small and has its own id; applying them in order is the same commit.
        let events = match item.event {
            ChainEvent::Committed { new } if new.len() > 1 => new
                .into_iter()
                .map(|b| ChainEvent::Committed { new: vec![b] })
                .collect(),
            other => vec![other],
        };
        for event in events {
            publish_one(
                &rt,
                &js,
                config,
                &subject,
                chain_id,
                event,
                finalized,
                max_payload,
                &stats,
                &mut last_log,
            )?;
        }
    }
    Ok(())
}

/// Publishes one event and waits for its acknowledgement.
#[allow(clippy::too_many_arguments)]
fn publish_one(
    rt: &tokio::runtime::Runtime,
    js: &jetstream::Context,
    config: &PublishConfig,
    subject: &str,
    chain_id: ChainId,
    event: ChainEvent,
    finalized: Option<u64>,
    max_payload: usize,
    stats: &PublishStats,
    last_log: &mut Instant,
) -> anyhow::Result<()> {
    {
        let wire = ChainEventV1::from_event(chain_id, event, finalized);
        let id = wire.msg_id();
        let payload = wire.encode(config.format)?;
        if max_payload > 0 && payload.len() + 512 > max_payload {
            anyhow::bail!(
                "a {} event of {} blocks is {} bytes, above the server's max_payload of {max_payload}: raise max_payload in the nats-server configuration (up to 64 MB){}",
                wire.kind.name(),
                wire.old.len() + wire.new.len(),
                payload.len(),
                if config.format == Format::Json {
                    " or publish bincode"
                } else {
                    ""
                }
            );
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.as_str());
        headers.insert("Content-Type", config.format.content_type());
        let ack = rt.block_on(crate::nats::publish_acked(
            js,
            subject,
            headers,
            payload.into(),
            u32::MAX,
        ))?;
        if ack.duplicate {
            stats.duplicates.fetch_add(1, Ordering::Relaxed);
        } else {
            stats.published.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(seq = ack.sequence, kind = ?wire.kind, id, "published");
        if last_log.elapsed() > Duration::from_secs(10) {
            *last_log = Instant::now();
            tracing::info!(
                chain_id,
                published = stats.published.load(Ordering::Relaxed),
                duplicates = stats.duplicates.load(Ordering::Relaxed),
                seq = ack.sequence,
                "publishing"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::B256;

    use crate::sources::nats::test_block as block;

    #[test]
    fn the_window_follows_the_newest_decision_per_height() {
        // Events, newest first as the walk sees them: a reorg of 3, then commits 1..=3.
        let b1 = block(1, B256::ZERO, 0);
        let b2 = block(2, b1.hash, 0);
        let b3 = block(3, b2.hash, 0);
        let x3 = block(3, b2.hash, 0x80);
        let mut decided = BTreeMap::new();
        // reorg: old b3, new x3
        decided.entry(3).or_insert(Some(x3.clone()));
        for b in [b3, b2.clone(), b1.clone()] {
            decided.entry(b.number).or_insert(Some(b));
        }
        let w = top_window(&decided, 64);
        assert_eq!(w, vec![b1.clone(), b2.clone(), x3.clone()]);
        assert_eq!(top_window(&decided, 1), vec![b2.clone(), x3.clone()]);
        // A revert above: heights decided None are not canonical.
        decided.insert(4, None);
        assert_eq!(top_window(&decided, 64).last(), Some(&x3));
    }
}
