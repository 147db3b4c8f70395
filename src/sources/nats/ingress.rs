//! NATS ingress: the engine's source when it reads chain events from JetStream.
//!
//! ```text
//!  stream CHAINFLOW_EVENTS ─► durable pull consumer (recreated at start from the stream's
//!        │                    first message: the dataflow state is rebuilt by replay)
//!        ▼ puller thread: stream order, redeliveries recognised by sequence, pending (unacked),
//!        │   then decode (wire.rs) ─► ChainView::check ─► SourceEvent, epoch = seq
//!        │   └─ bad ─► chainflow.deadletter.events (reason, original bytes), acked after
//!        ▼ bounded hand-off queue (handoff.rs) ─► NatsSource (the iterator the engine reads)
//!  acker thread: one cumulative ack (AckPolicy::All) for the oldest run of messages whose
//!                epoch the sinks have committed (RunControl::durable) or that are dead letters
//! ```
//!
//! **Deterministic epochs.** A message's epoch is its stream sequence, so a restart that
//! replays the stream puts the same blocks at the same epochs and the dataflows produce the
//! same updates at the same epochs; sinks skip what they already hold
//! ([`crate::sinks::SkipCommitted`]). Gaps (dead letters, other subjects) are harmless: epochs
//! only need to increase.
//!
//! **Acks.** A message is acknowledged only after every sink has committed its epoch (the
//! engine publishes that watermark in [`crate::engine::RunControl::durable`]); a dead letter
//! once the dead-letter stream has acknowledged it and everything before it is acked. The
//! consumer acks cumulatively (`AckPolicy::All`): the acker acks the newest message of the
//! oldest ackable run, which acknowledges the whole run with one message to the server
//! instead of one per event. A redelivery (ack wait passed) is recognized by its sequence
//! and never applied twice.
//!
//! **Validation.** Beyond the schema ([`super::wire::ChainEventV1::check`]) every event must
//! fit the chain as applied so far ([`ChainView`]): a commit extends the tip, a reorg or
//! revert retracts exactly the blocks at the top (same hashes, same bodies). An event that
//! does not is dead-lettered: applying it would corrupt every derived output.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use futures_util::{FutureExt, StreamExt};

use super::NatsConfig;
use super::handoff;
use super::wire::{ChainEventV1, digest_of};
use crate::engine::source::{SourceError, SourceEvent};
use crate::model::{B256, ChainEvent, ChainId, Epoch};
use crate::nats::{HEADER_REASON, HEADER_SEQUENCE, HEADER_SUBJECT, NatsError};

/// Blocks per chain the view keeps below the tip.
const VIEW_DEPTH: u64 = 4096;

/// The canonical chain as applied by the engine, per chain: hash and body digest by height.
#[derive(Debug, Default)]
pub struct ChainView {
    chains: BTreeMap<ChainId, BTreeMap<u64, (B256, u64)>>,
}

impl ChainView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tip of `chain` as applied.
    pub fn tip(&self, chain: ChainId) -> Option<(u64, B256)> {
        self.chains
            .get(&chain)?
            .last_key_value()
            .map(|(n, (h, _))| (*n, *h))
    }

    /// Checks that `event` fits the chain as applied and applies it, or says why not. Heights
    /// the view does not know (below what it has seen) are not checked.
    pub fn apply(&mut self, chain: ChainId, event: &ChainEvent) -> Result<(), String> {
        let old: Vec<u64> = event.old().iter().map(digest_of).collect();
        let new: Vec<u64> = event.new_blocks().iter().map(digest_of).collect();
        self.apply_digested(chain, event, &old, &new)
    }

    /// [`ChainView::apply`] with the digests of the event's old and new blocks already taken
    /// ([`ChainEventV1::decode_digested`]: from the bytes as received).
    pub fn apply_digested(
        &mut self,
        chain: ChainId,
        event: &ChainEvent,
        old_digests: &[u64],
        new_digests: &[u64],
    ) -> Result<(), String> {
        let known = self.chains.entry(chain).or_default();
        let old = event.old();
        let new = event.new_blocks();
        if old.len() != old_digests.len() || new.len() != new_digests.len() {
            return Err("a digest per block is needed".into());
        }
        // Retracted blocks must be the top of the chain, exactly.
        if let Some(first) = old.first() {
            let tip = known.last_key_value().map(|(n, _)| *n);
            let last = old.last().map_or(first.number, |b| b.number);
            if let Some(tip) = tip
                && tip != last
            {
                return Err(format!(
                    "it retracts blocks {}..={last} but the applied tip is {tip}",
                    first.number
                ));
            }
            for (b, digest) in old.iter().zip(old_digests) {
                if let Some((hash, d)) = known.get(&b.number)
                    && (*hash != b.hash || d != digest)
                {
                    return Err(format!(
                        "it retracts block {} {} but {} was applied there",
                        b.number, b.hash, hash
                    ));
                }
            }
        }
        // Added blocks must extend what remains.
        if let Some(first) = new.first() {
            let below = first.number.checked_sub(1);
            let parent = below.and_then(|n| known.get(&n));
            let top = match old.first() {
                Some(o) => o.number.checked_sub(1),
                None => known.last_key_value().map(|(n, _)| *n),
            };
            if let Some(top) = top
                && known.contains_key(&top)
                && below != Some(top)
            {
                return Err(format!(
                    "its first block {} does not follow the applied tip {top}",
                    first.number
                ));
            }
            if let Some((hash, _)) = parent
                && *hash != first.parent_hash
            {
                return Err(format!(
                    "block {} names parent {} but {} is applied below it",
                    first.number, first.parent_hash, hash
                ));
            }
        }
        for b in old {
            known.remove(&b.number);
        }
        for (b, digest) in new.iter().zip(new_digests) {
            known.insert(b.number, (b.hash, *digest));
        }
        if let Some((&tip, _)) = known.last_key_value() {
            let keep = known.split_off(&tip.saturating_sub(VIEW_DEPTH));
            *known = keep;
        }
        Ok(())
    }
}

/// Where a message taken off the consumer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Being decoded or dead-lettered: nothing at or after it may be acked.
    InFlight,
    /// Decoded into the epoch of its sequence: ackable once the sinks have committed it.
    Epoch,
    /// Stored in the dead-letter stream: ackable once everything before it is.
    DeadLettered,
}

/// A message taken off the consumer and not acknowledged yet.
#[derive(Debug)]
struct Slot {
    /// Where the ack goes (the newest delivery's reply subject).
    reply: async_nats::Subject,
    /// Whether it may be acked.
    state: State,
}

/// The messages taken and not acknowledged yet, by stream sequence.
type Pending = Arc<Mutex<BTreeMap<u64, Slot>>>;

/// Sets the state of pending message `seq` (a message no longer pending is left alone).
fn mark(pending: &Pending, seq: u64, state: State) {
    if let Some(slot) = pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_mut(&seq)
    {
        slot.state = state;
    }
}

/// Counters of the ingress.
#[derive(Debug, Default)]
pub struct IngressStats {
    /// Messages turned into epochs.
    pub events: AtomicU64,
    /// Messages sent to the dead-letter subject.
    pub dead_letters: AtomicU64,
    /// Messages acknowledged.
    pub acked: AtomicU64,
    /// Redeliveries ignored (already taken).
    pub redelivered: AtomicU64,
}

/// The engine's source over JetStream: an iterator of [`SourceEvent`]s whose epoch is the
/// stream sequence.
pub struct NatsSource {
    events: handoff::Receiver<Result<SourceEvent, SourceError>>,
    /// Events taken off the queue and not handed out yet.
    ready: VecDeque<Result<SourceEvent, SourceError>>,
    shutdown: Arc<AtomicBool>,
}

impl Iterator for NatsSource {
    type Item = Result<SourceEvent, SourceError>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.shutdown.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            match self
                .events
                .recv_all(&mut self.ready, Duration::from_millis(100))
            {
                Ok(()) | Err(handoff::RecvError::Timeout) => {}
                Err(handoff::RecvError::Closed) => return None,
            }
        }
    }
}

/// Owns the puller and acker threads; [`Ingress::finish`] acks what the sinks committed
/// last and stops them.
pub struct Ingress {
    rt: Arc<tokio::runtime::Runtime>,
    client: async_nats::Client,
    pending: Pending,
    durable: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Counters.
    pub stats: Arc<IngressStats>,
    /// The first epoch the source produces (the stream's first sequence).
    pub first_epoch: Epoch,
}

impl Ingress {
    /// Connects, waits for the events stream, recreates the durable consumer at the stream's
    /// first message and starts reading. `durable` is the engine's committed watermark
    /// (epochs below it are in every sink); `shutdown` stops the source.
    pub fn start(
        config: &NatsConfig,
        durable: Arc<AtomicU64>,
        shutdown: Arc<AtomicBool>,
    ) -> Result<(Self, NatsSource), NatsError> {
        let rt = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .map_err(|e| NatsError::js("runtime", e))?,
        );
        let (client, js, consumer, first) = rt.block_on(open(config, &shutdown))?;
        let stats = Arc::new(IngressStats::default());
        let pending: Pending = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = handoff::bounded(256);
        let puller = {
            let ctx = PullCtx {
                consumer,
                decoder: Decoder {
                    prefix: config.subject_prefix.clone(),
                    rt: Arc::clone(&rt),
                    js,
                    pending: Arc::clone(&pending),
                    stats: Arc::clone(&stats),
                    stop: Arc::clone(&stop),
                    shutdown: Arc::clone(&shutdown),
                    view: ChainView::new(),
                    out: tx,
                },
            };
            std::thread::Builder::new()
                .name("chainflow-nats-in".into())
                .spawn(move || pull(ctx))
                .map_err(|e| NatsError::js("spawn", e))?
        };
        let acker = {
            let rt = Arc::clone(&rt);
            let client = client.clone();
            let pending = Arc::clone(&pending);
            let durable = Arc::clone(&durable);
            let stats = Arc::clone(&stats);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("chainflow-nats-ack".into())
                .spawn(move || {
                    let mut logged = (Instant::now(), 0u64);
                    while !stop.load(Ordering::Relaxed) {
                        ack_committed(&rt, &client, &pending, &durable, &stats);
                        std::thread::sleep(Duration::from_millis(20));
                        // The counters, every 10 s while something moves.
                        let events = stats.events.load(Ordering::Relaxed);
                        if logged.0.elapsed() > Duration::from_secs(10) && events != logged.1 {
                            logged = (Instant::now(), events);
                            tracing::info!(
                                events,
                                acked = stats.acked.load(Ordering::Relaxed),
                                dead_letters = stats.dead_letters.load(Ordering::Relaxed),
                                redelivered = stats.redelivered.load(Ordering::Relaxed),
                                committed_below = durable.load(Ordering::Relaxed),
                                "NATS ingress"
                            );
                        }
                    }
                })
                .map_err(|e| NatsError::js("spawn", e))?
        };
        tracing::info!(url = %config.url, stream = %config.stream, consumer = %config.consumer, first_epoch = first, "reading chain events from NATS");
        Ok((
            Ingress {
                rt,
                client,
                pending,
                durable,
                stop,
                threads: vec![puller, acker],
                stats,
                first_epoch: first,
            },
            NatsSource {
                events: rx,
                ready: VecDeque::new(),
                shutdown,
            },
        ))
    }

    /// Acks what the sinks committed last, stops the threads and flushes the connection.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        ack_committed(
            &self.rt,
            &self.client,
            &self.pending,
            &self.durable,
            &self.stats,
        );
        let _ = self.rt.block_on(self.client.flush());
        tracing::info!(
            events = self.stats.events.load(Ordering::Relaxed),
            acked = self.stats.acked.load(Ordering::Relaxed),
            dead_letters = self.stats.dead_letters.load(Ordering::Relaxed),
            unacked = self
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len(),
            "NATS ingress stopped"
        );
    }
}

async fn open(
    config: &NatsConfig,
    shutdown: &AtomicBool,
) -> Result<
    (
        async_nats::Client,
        jetstream::Context,
        consumer::PullConsumer,
        u64,
    ),
    NatsError,
> {
    let client = crate::nats::connect(&config.url).await?;
    let js = jetstream::new(client.clone());
    let mut waited = 0u32;
    let mut stream = loop {
        match js.get_stream(&config.stream).await {
            Ok(s) => break s,
            Err(e) => {
                if shutdown.load(Ordering::Relaxed) {
                    return Err(NatsError::js(
                        format!("waiting for stream {}", config.stream),
                        e,
                    ));
                }
                if waited.is_multiple_of(50) {
                    tracing::warn!(stream = %config.stream, error = %e, "events stream not there yet (start `chainflow publish-heads`); waiting");
                }
                waited += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    crate::nats::ensure_stream(
        &js,
        &config.deadletter_stream,
        &[format!("{}.deadletter.>", config.subject_prefix)],
        Duration::ZERO,
        Duration::from_secs(config.duplicate_window_secs.max(1)),
    )
    .await?;
    let info = stream
        .info()
        .await
        .map_err(|e| NatsError::js(format!("info of stream {}", config.stream), e))?;
    let first = info.state.first_sequence.max(1);
    if first > 1 {
        tracing::warn!(stream = %config.stream, first_sequence = first, "the stream no longer holds its first messages (retention): rows of time buckets that began before them are rebuilt from what remains");
    }
    // The consumer starts where the rebuild must: the stream's first message.
    let _ = stream.delete_consumer(&config.consumer).await;
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some(config.consumer.clone()),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: first,
            },
            // One ack per committed watermark acknowledges every message up to it.
            ack_policy: consumer::AckPolicy::All,
            ack_wait: Duration::from_secs(300),
            max_ack_pending: 100_000,
            ..Default::default()
        })
        .await
        .map_err(|e| NatsError::js(format!("creating consumer {}", config.consumer), e))?;
    Ok((client, js, consumer, first))
}

/// The puller's state: the consumer, and the decoder that owns everything else it uses.
struct PullCtx {
    consumer: consumer::PullConsumer,
    decoder: Decoder,
}

/// Decodes and validates each pulled message in stream order, on the puller's thread (the
/// bytes are still in its cache, and no hand-over between threads costs a wake-up per
/// message); a good one becomes a [`SourceEvent`] (and ready to ack once committed), a bad
/// one a dead letter.
struct Decoder {
    prefix: String,
    rt: Arc<tokio::runtime::Runtime>,
    js: jetstream::Context,
    pending: Pending,
    stats: Arc<IngressStats>,
    stop: Arc<AtomicBool>,
    shutdown: Arc<AtomicBool>,
    view: ChainView,
    out: handoff::Sender<Result<SourceEvent, SourceError>>,
}

/// Sends `item`, waiting while the receiver is full; `false` when stopped or disconnected.
fn send<T>(
    out: &handoff::Sender<T>,
    mut item: T,
    stop: &AtomicBool,
    shutdown: &AtomicBool,
) -> bool {
    loop {
        match out.send_timeout(item, Duration::from_millis(100)) {
            Ok(()) => return true,
            Err(handoff::SendError::Full(back)) => {
                if stop.load(Ordering::Relaxed) || shutdown.load(Ordering::Relaxed) {
                    return false;
                }
                item = back;
            }
            Err(handoff::SendError::Closed(_)) => return false,
        }
    }
}

/// The puller: takes messages off the consumer in stream order, registers each one as
/// pending (not yet ready to ack) and decodes it. Redeliveries are recognised here by
/// sequence.
fn pull(mut ctx: PullCtx) {
    let mut messages = match ctx.decoder.rt.block_on(ctx.consumer.messages()) {
        Ok(m) => m,
        Err(e) => return ctx.decoder.fail(format!("cannot pull messages: {e}")),
    };
    let mut taken = 0u64;
    loop {
        if ctx.decoder.stop.load(Ordering::Relaxed) || ctx.decoder.shutdown.load(Ordering::Relaxed)
        {
            return;
        }
        // A message already pulled is taken without a timer or a trip through the runtime's
        // scheduler; only an empty queue waits (at most 200 ms, to look at the flags).
        let ready = {
            let _runtime = ctx.decoder.rt.enter();
            messages.next().now_or_never()
        };
        let next = match ready {
            Some(next) => Ok(next),
            None => ctx.decoder.rt.block_on(async {
                tokio::time::timeout(Duration::from_millis(200), messages.next()).await
            }),
        };
        let message = match next {
            Err(_) => continue,
            Ok(None) => {
                return ctx
                    .decoder
                    .fail("the consumer's message stream ended".into());
            }
            Ok(Some(Err(e))) => {
                tracing::warn!(error = %e, "pulling from NATS failed; retrying");
                continue;
            }
            Ok(Some(Ok(m))) => m,
        };
        let seq = match message.info() {
            Ok(info) => info.stream_sequence,
            Err(e) => {
                tracing::warn!(error = %e, "a message without JetStream metadata; ignored");
                continue;
            }
        };
        let Some(reply) = message.reply.clone() else {
            continue;
        };
        if seq <= taken {
            // Redelivered after the ack wait: the newest reply subject acks it.
            ctx.decoder
                .stats
                .redelivered
                .fetch_add(1, Ordering::Relaxed);
            let waiting = {
                let mut p = ctx
                    .decoder
                    .pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                p.get_mut(&seq).map(|slot| slot.reply = reply).is_some()
            };
            if !waiting {
                // Committed (or dead-lettered) and acked, but the ack was lost: ack again.
                let _ = ctx.decoder.rt.block_on(message.ack());
            }
            continue;
        }
        taken = seq;
        ctx.decoder
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                seq,
                Slot {
                    reply,
                    state: State::InFlight,
                },
            );
        let content_type = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Content-Type"))
            .map(|v| v.as_str());
        if !ctx
            .decoder
            .take(seq, &message.subject, content_type, &message.payload)
        {
            return;
        }
    }
}

impl Decoder {
    /// Ends the source with `reason`.
    fn fail(&self, reason: String) {
        let _ = self.out.send(Err(SourceError::Rpc {
            chain_id: 0,
            url: "nats".into(),
            method: "consume".into(),
            reason,
            retryable: false,
        }));
    }

    /// Decodes message `seq` and hands the event on, or dead-letters it; `false` when the
    /// source is stopped or failed.
    fn take(
        &mut self,
        seq: u64,
        subject: &str,
        content_type: Option<&str>,
        payload: &bytes::Bytes,
    ) -> bool {
        let decoded = ChainEventV1::decode_digested(content_type, payload)
            .map_err(|e| e.to_string())
            .and_then(|d| {
                let expected = crate::nats::events_subject(&self.prefix, d.event.chain_id);
                if subject != expected {
                    return Err(format!(
                        "an event of chain {} on subject {subject} (expected {expected})",
                        d.event.chain_id
                    ));
                }
                Ok(d)
            });
        let view = &mut self.view;
        let event = decoded.and_then(|d| {
            let chain = d.event.chain_id;
            let finalized = d.event.finalized;
            let event = d.event.into_event();
            view.apply_digested(chain, &event, &d.old, &d.new)
                .map_err(|why| format!("the event does not fit chain {chain} as applied: {why}"))?;
            Ok((chain, finalized, event))
        });
        match event {
            Ok((chain, finalized, event)) => {
                mark(&self.pending, seq, State::Epoch);
                self.stats.events.fetch_add(1, Ordering::Relaxed);
                let item = Ok(SourceEvent {
                    event,
                    finalized: finalized.map(|f| (chain, f)),
                    caught_up: true,
                    epoch: Some(seq),
                });
                send(&self.out, item, &self.stop, &self.shutdown)
            }
            Err(reason) => {
                tracing::warn!(seq, %subject, %reason, "dead-lettering an ingress message");
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(
                    "Nats-Msg-Id",
                    format!("deadletter-{subject}-{seq}").as_str(),
                );
                headers.insert(HEADER_REASON, one_line(&reason).as_str());
                headers.insert(HEADER_SEQUENCE, seq.to_string().as_str());
                headers.insert(HEADER_SUBJECT, subject);
                if let Some(ct) = content_type {
                    headers.insert("Content-Type", ct);
                }
                let published = self.rt.block_on(crate::nats::publish_acked(
                    &self.js,
                    &crate::nats::deadletter_subject(&self.prefix),
                    headers,
                    payload.clone(),
                    20,
                ));
                if let Err(e) = published {
                    self.fail(format!("cannot dead-letter message {seq} ({reason}): {e}"));
                    return false;
                }
                self.stats.dead_letters.fetch_add(1, Ordering::Relaxed);
                // The acker acks it in stream order: a cumulative ack of it now would
                // also ack the epochs before it that the sinks have not committed yet.
                mark(&self.pending, seq, State::DeadLettered);
                true
            }
        }
    }
}

/// Header values are one line of printable ASCII.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(1000)
        .collect()
}

/// Takes the longest run of pending messages, from the oldest, that may be acked: epochs
/// below `committed_below` and dead letters. Returns how many and the newest one's reply
/// subject, whose ack acknowledges them all (`AckPolicy::All`).
fn ackable(
    pending: &mut BTreeMap<u64, Slot>,
    committed_below: u64,
) -> Option<(u64, async_nats::Subject)> {
    let mut last = None;
    let mut n = 0u64;
    while let Some(entry) = pending.first_entry() {
        let ok = match entry.get().state {
            State::Epoch => *entry.key() < committed_below,
            State::DeadLettered => true,
            State::InFlight => false,
        };
        if !ok {
            break;
        }
        last = Some(entry.remove().reply);
        n += 1;
    }
    last.map(|reply| (n, reply))
}

/// Acks, with one cumulative ack, every message [`ackable`] now.
fn ack_committed(
    rt: &tokio::runtime::Runtime,
    client: &async_nats::Client,
    pending: &Pending,
    durable: &AtomicU64,
    stats: &IngressStats,
) {
    let below = durable.load(Ordering::Acquire);
    let taken = ackable(
        &mut pending.lock().unwrap_or_else(PoisonError::into_inner),
        below,
    );
    let Some((n, reply)) = taken else {
        return;
    };
    rt.block_on(async {
        if let Err(e) = client
            .publish(reply, bytes::Bytes::from_static(b"+ACK"))
            .await
        {
            tracing::warn!(error = %e, "cannot ack; the messages are redelivered and skipped");
        }
        let _ = client.flush().await;
    });
    stats.acked.fetch_add(n, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, Block};

    use crate::sources::nats::test_block as block;

    #[test]
    fn the_body_digest_sees_every_part_of_a_block() {
        use crate::sources::devnet::{Devnet, DevnetConfig};
        let config = DevnetConfig {
            block_time_ms: 0,
            max_blocks: Some(3),
            txs_per_block: 50,
            reorg_rate: 0.0,
            ..DevnetConfig::default()
        };
        let b = Devnet::new(config)
            .unwrap()
            .flat_map(|e| e.unwrap().event.new_blocks().to_vec())
            .find(|b| b.transactions.len() > 2 && !b.logs.is_empty())
            .unwrap();
        assert_eq!(digest_of(&b), digest_of(&b.clone()));
        let edits: [fn(&mut Block); 10] = [
            |b| b.gas_used += 1,
            |b| b.base_fee_per_gas ^= 1 << 100,
            |b| b.transactions[1].value += 1,
            |b| b.transactions[1].to = None,
            |b| b.transactions[2].success ^= true,
            |b| b.transactions.swap(0, 1),
            |b| {
                b.transactions.pop();
            },
            |b| b.logs[0].data.push(0),
            |b| b.logs[0].topics.push(B256::ZERO),
            |b| b.logs[0].address = Address::with_last_byte(1),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut other = b.clone();
            edit(&mut other);
            assert_ne!(digest_of(&other), digest_of(&b), "edit {i}");
        }
    }

    #[test]
    fn the_view_takes_consistent_events_and_names_what_does_not_fit() {
        let mut v = ChainView::new();
        let b1 = block(1, B256::ZERO, 0);
        let b2 = block(2, b1.hash, 0);
        let b3 = block(3, b2.hash, 0);
        v.apply(
            1,
            &ChainEvent::Committed {
                new: vec![b1.clone(), b2.clone()],
            },
        )
        .unwrap();
        // A gap, a wrong parent and a repeat do not fit.
        assert!(
            v.apply(
                1,
                &ChainEvent::Committed {
                    new: vec![block(4, b3.hash, 0)]
                }
            )
            .is_err()
        );
        assert!(
            v.apply(
                1,
                &ChainEvent::Committed {
                    new: vec![block(3, B256::ZERO, 0)]
                }
            )
            .is_err()
        );
        assert!(
            v.apply(
                1,
                &ChainEvent::Committed {
                    new: vec![b2.clone()]
                }
            )
            .is_err()
        );
        v.apply(
            1,
            &ChainEvent::Committed {
                new: vec![b3.clone()],
            },
        )
        .unwrap();
        // A reorg must retract the top, with the applied bodies.
        let x3 = block(3, b2.hash, 0x80);
        assert!(
            v.apply(
                1,
                &ChainEvent::Reorged {
                    old: vec![b2.clone()],
                    new: vec![block(2, b1.hash, 0x80)]
                }
            )
            .is_err()
        );
        let mut fake = b3.clone();
        fake.gas_used = 5;
        assert!(
            v.apply(
                1,
                &ChainEvent::Reorged {
                    old: vec![fake],
                    new: vec![x3.clone()]
                }
            )
            .is_err()
        );
        v.apply(
            1,
            &ChainEvent::Reorged {
                old: vec![b3],
                new: vec![x3.clone()],
            },
        )
        .unwrap();
        assert_eq!(v.tip(1), Some((3, x3.hash)));
        v.apply(1, &ChainEvent::Reverted { old: vec![x3] }).unwrap();
        assert_eq!(v.tip(1), Some((2, b2.hash)));
        // Another chain starts empty.
        v.apply(
            2,
            &ChainEvent::Committed {
                new: vec![block(100, B256::ZERO, 1)],
            },
        )
        .unwrap();
    }

    #[test]
    fn one_cumulative_ack_covers_the_oldest_run_of_committed_epochs_and_dead_letters() {
        let slot = |seq: u64, state| {
            let reply = async_nats::Subject::from(format!("$JS.ACK.s.c.1.{seq}.{seq}.0.0"));
            (seq, Slot { reply, state })
        };
        let mut pending: BTreeMap<u64, Slot> = [
            slot(3, State::Epoch),
            slot(4, State::DeadLettered),
            slot(5, State::Epoch),
            slot(6, State::InFlight),
            slot(7, State::Epoch),
        ]
        .into_iter()
        .collect();
        // Nothing committed: the oldest is an epoch the sinks do not hold yet.
        assert!(ackable(&mut pending, 3).is_none());
        assert_eq!(pending.len(), 5);
        // Epoch 3 committed, 5 not: 3 and the dead letter after it.
        let (n, reply) = ackable(&mut pending, 5).unwrap();
        assert_eq!((n, reply.as_str()), (2, "$JS.ACK.s.c.1.4.4.0.0"));
        // Everything committed: 5, then the message in flight stops the run, so 7 waits
        // although its epoch is committed (a cumulative ack of it would ack 6).
        let (n, reply) = ackable(&mut pending, 100).unwrap();
        assert_eq!((n, reply.as_str()), (1, "$JS.ACK.s.c.1.5.5.0.0"));
        assert_eq!(pending.keys().copied().collect::<Vec<_>>(), [6, 7]);
        assert!(ackable(&mut pending, 100).is_none());
        pending.get_mut(&6).unwrap().state = State::DeadLettered;
        let (n, reply) = ackable(&mut pending, 100).unwrap();
        assert_eq!((n, reply.as_str()), (2, "$JS.ACK.s.c.1.7.7.0.0"));
        assert!(pending.is_empty());
    }
}
