//! The JSON-RPC source: follows one or more chains through their nodes.
//!
//! ```text
//!  per chain (thread + tokio runtime):
//!    heads task: ws `newHeads` subscription (http: polling `latest`), reconnect with backoff
//!                and jitter; after every (re)connect the latest head is announced first
//!         │ heads (coalesced: only the newest waiting head matters, parents fill gaps)
//!         ▼
//!    ChainTracker (tracker.rs) ── fetches blocks + receipts by hash through NodeClient ──► events
//!         │
//!  all chains ─► one bounded channel ─► RpcSource (an Iterator the engine reads: one epoch
//!                                       sequence for all chains)
//! ```
//!
//! A retryable failure (the node is down) is logged and the chain waits for the node to come
//! back; an inconsistent answer that stays inconsistent after retries, or a reorg deeper
//! than allowed, ends the run with an error naming the chain.

pub mod client;
pub mod convert;
pub mod tracker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use self::client::{ClientConfig, NodeClient, backoff, redact};
use self::tracker::{BlockFetcher, ChainTracker, DeepReorgPolicy, Head, TrackerConfig};
use super::{SourceError, SourceEvent};
use crate::model::fees::BlobParams;
use crate::model::{B256, Block};

/// One process's share of a replay across processes: the range `start_block..=end_block`
/// (all of it final) is cut into epochs of `blocks_per_epoch` blocks, epoch `k` at
/// `start_epoch + 2k` (the odd epochs between are seal slots, see `src/engine/seal.rs`), and
/// process `p` of `n` reads the epochs `k` with `k % n == p`. Every process sends the last
/// epoch (with its blocks, or with none), so all go on from the same epoch. Without
/// `follow` that epoch is marked caught up and the chain ends there; with it, every process
/// follows the chain on from `end_block + 1` (up to the head it finds, then live) and reads
/// every block, as a following cluster does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeShare {
    /// This process's index.
    pub process: usize,
    /// Number of processes.
    pub processes: usize,
    /// Blocks per epoch.
    pub blocks_per_epoch: u64,
    /// Epoch of the range's first blocks.
    pub start_epoch: crate::model::Epoch,
    /// Last block of the split part (final when the replay starts).
    pub end_block: u64,
    /// Whether this process follows the chain on from `end_block + 1` after the split part
    /// (process 0, which relays it to the others; see `sources::relay`).
    pub follow: bool,
}

/// One chain to follow (`[[chains]]` in the config).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// Name for logs.
    #[serde(default)]
    pub name: String,
    /// Expected chain id; the node's is checked against it when given.
    #[serde(default)]
    pub id: Option<u64>,
    /// Node URL: `ws(s)://` subscribes to heads, `http(s)://` polls.
    pub rpc: String,
    /// Blocks kept below the tip and the finality depth when the node reports no finalized
    /// block.
    #[serde(default = "default_window")]
    pub finality_depth: u64,
    /// `halt` (default) or `resync` on a reorg deeper than the window or below finality.
    #[serde(default)]
    pub on_deep_reorg: DeepReorgPolicy,
    /// First block to read; by default the run starts at the node's head.
    #[serde(default)]
    pub start_block: Option<u64>,
    /// Last block to read (a replay of a range): the chain ends there instead of following
    /// the head.
    #[serde(default)]
    pub end_block: Option<u64>,
    /// This process's share of a replay across processes (set by `chainflow replay`, never
    /// from the config): see [`RangeShare`].
    #[serde(skip)]
    pub share: Option<RangeShare>,
    /// Polling interval over HTTP, in milliseconds.
    #[serde(default = "default_poll")]
    pub poll_interval_ms: u64,
    /// Blob parameters by fork name (`cancun`, `prague`, `osaka`, `bpo1`, `bpo2`); by
    /// default the mainnet schedule by timestamp.
    #[serde(default)]
    pub blob_schedule: Option<String>,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
}

fn default_window() -> u64 {
    64
}
fn default_poll() -> u64 {
    250
}
fn default_concurrency() -> usize {
    16
}

impl ChainConfig {
    /// A chain followed through `rpc` with default settings.
    pub fn new(rpc: impl Into<String>) -> Self {
        ChainConfig {
            name: String::new(),
            id: None,
            rpc: rpc.into(),
            finality_depth: default_window(),
            on_deep_reorg: DeepReorgPolicy::Halt,
            start_block: None,
            end_block: None,
            share: None,
            poll_interval_ms: default_poll(),
            blob_schedule: None,
            max_concurrency: default_concurrency(),
        }
    }

    /// Checks the settings; the error names the key.
    pub fn validate(&self, index: usize) -> Result<(), (String, String)> {
        let key = |k: &str| format!("chains[{index}].{k}");
        if !["http://", "https://", "ws://", "wss://"]
            .iter()
            .any(|p| self.rpc.starts_with(p))
        {
            return Err((
                key("rpc"),
                format!("'{}' is not an http(s) or ws(s) URL", redact(&self.rpc)),
            ));
        }
        if let (Some(from), Some(to)) = (self.start_block, self.end_block)
            && to < from
        {
            return Err((
                key("end_block"),
                format!("{to} is below start_block {from}"),
            ));
        }
        if self.finality_depth == 0 {
            return Err((key("finality_depth"), "must be at least 1".into()));
        }
        if let Some(name) = &self.blob_schedule
            && BlobParams::from_name(name).is_none()
        {
            return Err((key("blob_schedule"), format!("unknown fork '{name}'")));
        }
        Ok(())
    }

    fn label(&self) -> String {
        if self.name.is_empty() {
            redact(&self.rpc)
        } else {
            self.name.clone()
        }
    }
}

/// Follows chains through their nodes; an iterator of [`SourceEvent`]s for the engine.
pub struct RpcSource {
    events: Receiver<Result<SourceEvent, SourceError>>,
    shutdown: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Chains still backfilling; the source has caught up when it reaches zero.
    behind: usize,
}

impl RpcSource {
    /// Starts following `chains`; stops when `shutdown` is set.
    pub fn start(chains: Vec<ChainConfig>, shutdown: Arc<AtomicBool>) -> Result<Self, SourceError> {
        Self::start_resumed(chains, BTreeMap::new(), shutdown)
    }

    /// Like [`RpcSource::start`], but a chain with blocks in `resume` continues after them
    /// (see [`ChainTracker::resume`]) instead of at `start_block` or the head: the extractor
    /// resumes from what it published.
    pub fn start_resumed(
        chains: Vec<ChainConfig>,
        mut resume: BTreeMap<crate::model::ChainId, Vec<Block>>,
        shutdown: Arc<AtomicBool>,
    ) -> Result<Self, SourceError> {
        let (tx, rx) = crossbeam_channel::bounded(256);
        let mut threads = Vec::new();
        let behind = chains.len();
        for chain in chains {
            let tx = tx.clone();
            let stop = Arc::clone(&shutdown);
            let name = format!("chainflow-rpc-{}", chain.label());
            let seed = chain.id.and_then(|id| resume.remove(&id)).or_else(|| {
                // Without a configured id, a single chain takes the single seed.
                (resume.len() == 1)
                    .then(|| resume.pop_first().map(|(_, b)| b))
                    .flatten()
            });
            let handle = std::thread::Builder::new()
                .name(name)
                .spawn(move || follow_chain(chain, seed, tx, stop))
                .map_err(|e| SourceError::Rpc {
                    chain_id: 0,
                    url: String::new(),
                    method: "spawn".into(),
                    reason: e.to_string(),
                    retryable: false,
                })?;
            threads.push(handle);
        }
        Ok(RpcSource {
            events: rx,
            shutdown,
            threads,
            behind,
        })
    }
}

impl Iterator for RpcSource {
    type Item = Result<SourceEvent, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.shutdown.load(Ordering::Relaxed) {
                return None;
            }
            match self.events.recv_timeout(Duration::from_millis(100)) {
                // A chain thread marks its own catch-up once; the source has caught up when
                // every chain has.
                Ok(Ok(mut item)) => {
                    if item.caught_up && self.behind > 0 {
                        self.behind -= 1;
                    }
                    item.caught_up = self.behind == 0;
                    return Some(Ok(item));
                }
                Ok(Err(e)) => return Some(Err(e)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

impl Drop for RpcSource {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A blocking look at one chain's node before a run starts: its chain id and block
/// timestamps, which a restart plan needs (see [`crate::sinks::reconcile::plan`]).
pub struct NodeProbe {
    rt: Runtime,
    client: NodeClient,
}

impl NodeProbe {
    /// Connects to `chain`'s node (one attempt with the client's retries) and checks its
    /// chain id against the config.
    pub fn connect(chain: &ChainConfig) -> Result<Self, SourceError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SourceError::Rpc {
                chain_id: 0,
                url: redact(&chain.rpc),
                method: "runtime".into(),
                reason: e.to_string(),
                retryable: false,
            })?;
        let stop = AtomicBool::new(false);
        let client = match rt.block_on(connect(chain, &stop)) {
            Some(r) => r?,
            None => {
                return Err(SourceError::Rpc {
                    chain_id: 0,
                    url: redact(&chain.rpc),
                    method: "connect".into(),
                    reason: "stopped".into(),
                    retryable: false,
                });
            }
        };
        Ok(NodeProbe { rt, client })
    }

    /// The node's chain id.
    pub fn chain_id(&self) -> crate::model::ChainId {
        self.client.chain_id()
    }

    /// The node's latest block number; `None` when it has no blocks.
    pub fn head(&self) -> Result<Option<u64>, SourceError> {
        Ok(self
            .rt
            .block_on(self.client.latest_head())?
            .map(|h| h.number))
    }

    /// The node's finalized block number; `None` when it reports none.
    pub fn finalized(&self) -> Result<Option<u64>, SourceError> {
        self.rt.block_on(self.client.finalized())
    }

    /// The timestamp of the canonical block `number`; `None` when the node has none.
    pub fn timestamp(&self, number: u64) -> Result<Option<u64>, SourceError> {
        Ok(self
            .rt
            .block_on(self.client.header_by_number(number))?
            .map(|h| h.timestamp))
    }
}

type Shared = Arc<Mutex<Arc<NodeClient>>>;

/// Reads this process's share of a final range (see [`RangeShare`]): each epoch's blocks
/// checked complete, linked to each other and to the canonical block before them.
fn read_share(
    fetch: &mut dyn BlockFetcher,
    chain_id: crate::model::ChainId,
    from: u64,
    share: RangeShare,
    out: &Sender<Result<SourceEvent, SourceError>>,
) -> Result<(), SourceError> {
    let end = share.end_block;
    let per = share.blocks_per_epoch.max(1);
    let processes = share.processes.max(1);
    let epochs = if end < from {
        0
    } else {
        (end - from) / per + 1
    };
    let invalid = |what: String, reason: String| SourceError::Invalid {
        chain_id,
        what,
        reason,
    };
    let mut read = 0u64;
    for k in (share.process as u64..epochs).step_by(processes) {
        let a = from + k * per;
        let b = (a + per - 1).min(end);
        let blocks = fetch.blocks_by_number(a, b)?;
        if blocks.len() as u64 != b - a + 1 {
            return Err(invalid(
                format!("blocks {a}..={b}"),
                format!("the node returned {} of {}", blocks.len(), b - a + 1),
            ));
        }
        let mut parent = match a.checked_sub(1) {
            Some(before) => fetch.canonical_hash(before)?,
            None => None,
        };
        for block in &blocks {
            if parent.is_some_and(|p| p != block.parent_hash) {
                return Err(invalid(
                    format!("block {}", block.number),
                    "not linked to the canonical block before it: the range is not final (replay across processes reads final history only)".into(),
                ));
            }
            parent = Some(block.hash);
        }
        read += blocks.len() as u64;
        let last = k + 1 == epochs;
        let item = SourceEvent {
            event: crate::model::ChainEvent::Committed { new: blocks },
            finalized: Some((chain_id, b)),
            caught_up: last && !share.follow,
            epoch: Some(share.start_epoch + 2 * k),
        };
        if out.send(Ok(item)).is_err() {
            return Ok(());
        }
    }
    // The last epoch is someone else's: send it here too, with no blocks (marked caught up
    // unless the chain is followed on).
    if epochs > 0 && (epochs - 1) % processes as u64 != share.process as u64 {
        let item = SourceEvent {
            event: crate::model::ChainEvent::Committed { new: Vec::new() },
            finalized: None,
            caught_up: !share.follow,
            epoch: Some(share.start_epoch + 2 * (epochs - 1)),
        };
        let _ = out.send(Ok(item));
    }
    tracing::info!(
        chain_id,
        from,
        end,
        process = share.process,
        processes,
        blocks = read,
        "range share read"
    );
    Ok(())
}

struct Fetcher<'a> {
    rt: &'a Runtime,
    client: Shared,
    /// The node's finalized height and when it was read: finality moves once per epoch
    /// (minutes on mainnet), so it is read at most once per `FINALITY_TTL`, not per head.
    finalized: Option<(Option<u64>, std::time::Instant)>,
}

const FINALITY_TTL: Duration = Duration::from_secs(1);

/// How often a websocket subscription is checked against the node's latest head.
const SUBSCRIPTION_CHECK: Duration = Duration::from_secs(2);

impl Fetcher<'_> {
    fn client(&self) -> Arc<NodeClient> {
        Arc::clone(&self.client.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl BlockFetcher for Fetcher<'_> {
    fn block_by_hash(&mut self, hash: B256) -> Result<Option<Block>, SourceError> {
        let c = self.client();
        self.rt.block_on(c.block_by_hash(hash))
    }
    fn block_by_number(&mut self, number: Option<u64>) -> Result<Option<Block>, SourceError> {
        let c = self.client();
        self.rt.block_on(c.block_by_number(number))
    }
    fn finalized(&mut self) -> Result<Option<u64>, SourceError> {
        if let Some((value, at)) = self.finalized
            && at.elapsed() < FINALITY_TTL
        {
            return Ok(value);
        }
        let c = self.client();
        let value = self.rt.block_on(c.finalized())?;
        self.finalized = Some((value, std::time::Instant::now()));
        Ok(value)
    }
    fn blocks_by_number(&mut self, from: u64, to: u64) -> Result<Vec<Block>, SourceError> {
        let c = self.client();
        self.rt.block_on(c.blocks_by_number(from, to))
    }
    fn canonical_hash(&mut self, number: u64) -> Result<Option<B256>, SourceError> {
        let c = self.client();
        self.rt
            .block_on(c.header_by_number(number))
            .map(|h| h.map(|h| h.hash))
    }
}

fn client_config(chain: &ChainConfig) -> ClientConfig {
    let mut c = ClientConfig::new(chain.rpc.clone());
    c.max_concurrency = chain.max_concurrency;
    c.blob_params = chain
        .blob_schedule
        .as_deref()
        .and_then(BlobParams::from_name);
    c
}

/// Connects, retrying with backoff until it works or `stop` is set.
async fn connect(
    chain: &ChainConfig,
    stop: &AtomicBool,
) -> Option<Result<NodeClient, SourceError>> {
    let mut attempt = 0;
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        attempt += 1;
        match NodeClient::connect(client_config(chain)).await {
            Ok(c) => {
                if let Some(id) = chain.id
                    && id != c.chain_id()
                {
                    return Some(Err(SourceError::Invalid {
                        chain_id: id,
                        what: format!("node {}", redact(&chain.rpc)),
                        reason: format!("it serves chain {}, the config says {id}", c.chain_id()),
                    }));
                }
                return Some(Ok(c));
            }
            Err(e) if !e.is_retryable() => return Some(Err(e)),
            Err(e) => {
                let delay = backoff(attempt, Duration::from_secs(10));
                tracing::warn!(chain = %chain.label(), attempt, error = %e, ?delay, "cannot connect, retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Announces heads: the latest first, then every new one; reconnects when the stream ends.
async fn announce_heads(
    chain: ChainConfig,
    shared: Shared,
    heads: mpsc::Sender<Head>,
    stop: Arc<AtomicBool>,
) {
    let poll = Duration::from_millis(chain.poll_interval_ms.max(10));
    let mut client = Arc::clone(&shared.lock().unwrap_or_else(PoisonError::into_inner));
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(Some(h)) = client.latest_head().await
            && heads.send(Head::of(&h)).await.is_err()
        {
            return;
        }
        match client.subscribe_heads().await {
            Ok(Some(mut stream)) => {
                // A subscription can die silently (the node restarted and the transport
                // reconnected without it): every CHECK the latest head is also read, announced
                // when it is news (the tracker ignores repeats), and a failed read reconnects.
                let mut check = tokio::time::interval(SUBSCRIPTION_CHECK);
                check.tick().await;
                let mut last = None;
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    tokio::select! {
                        next = stream.next() => {
                            let Some(h) = next else {
                                tracing::warn!(chain = %chain.label(), "head subscription ended, reconnecting");
                                break;
                            };
                            last = Some(h.hash);
                            if heads.send(Head::of(&h)).await.is_err() {
                                return;
                            }
                        }
                        _ = check.tick() => match client.latest_head().await {
                            Ok(Some(h)) if last != Some(h.hash) => {
                                last = Some(h.hash);
                                if heads.send(Head::of(&h)).await.is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(chain = %chain.label(), error = %e, "node unreachable while subscribed, reconnecting");
                                break;
                            }
                        },
                    }
                }
            }
            other => {
                if let Err(e) = other {
                    tracing::warn!(chain = %chain.label(), error = %e, "cannot subscribe to heads, polling instead");
                }
                // HTTP, or a websocket without subscriptions: poll the latest head.
                if poll_heads(&chain, &client, &heads, &stop, poll)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        match connect(&chain, &stop).await {
            Some(Ok(c)) => {
                client = Arc::new(c);
                *shared.lock().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&client);
                tracing::info!(chain = %chain.label(), "reconnected");
            }
            Some(Err(e)) => {
                tracing::error!(chain = %chain.label(), error = %e, "reconnect refused");
                return;
            }
            None => return,
        }
    }
}

/// Polls the latest head until polling fails (`Ok`) or nobody listens any more (`Err`).
async fn poll_heads(
    chain: &ChainConfig,
    client: &NodeClient,
    heads: &mpsc::Sender<Head>,
    stop: &AtomicBool,
    every: Duration,
) -> Result<(), ()> {
    let mut last = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(());
        }
        match client.latest_head().await {
            Ok(Some(h)) if last != Some(h.hash) => {
                last = Some(h.hash);
                heads.send(Head::of(&h)).await.map_err(|_| ())?;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(chain = %chain.label(), error = %e, "polling the head failed");
                return Ok(());
            }
        }
        tokio::time::sleep(every).await;
    }
}

fn follow_chain(
    chain: ChainConfig,
    seed: Option<Vec<Block>>,
    out: Sender<Result<SourceEvent, SourceError>>,
    stop: Arc<AtomicBool>,
) {
    let fail = |e: SourceError| {
        let _ = out.send(Err(e));
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(SourceError::Rpc {
                chain_id: 0,
                url: redact(&chain.rpc),
                method: "runtime".into(),
                reason: e.to_string(),
                retryable: false,
            });
        }
    };
    let client = match rt.block_on(connect(&chain, &stop)) {
        Some(Ok(c)) => c,
        Some(Err(e)) => return fail(e),
        None => return,
    };
    let chain_id = client.chain_id();
    tracing::info!(chain = %chain.label(), chain_id, url = %redact(&chain.rpc), ws = client.config().is_ws(), "following chain");
    let shared: Shared = Arc::new(Mutex::new(Arc::new(client)));
    let mut fetcher = Fetcher {
        rt: &rt,
        client: Arc::clone(&shared),
        finalized: None,
    };
    let tracker_config = TrackerConfig {
        chain_id,
        window: chain.finality_depth,
        on_deep_reorg: chain.on_deep_reorg,
    };
    let mut tracker = ChainTracker::new(tracker_config.clone());
    let resumed_at = match seed {
        Some(blocks) if blocks.first().is_some_and(|b| b.chain_id == chain_id) => {
            let next = blocks.last().map(|b| b.number + 1);
            if tracker.resume(blocks) { next } else { None }
        }
        Some(_) => {
            return fail(SourceError::Invalid {
                chain_id,
                what: "resume window".into(),
                reason: "the blocks to resume after belong to another chain".into(),
            });
        }
        None => None,
    };
    let start = match resumed_at.or(chain.start_block) {
        Some(n) => Ok(n),
        None => rt
            .block_on(fetcher.client().latest_head())
            .map(|h| h.map_or(0, |h| h.number)),
    };
    let start = match (chain.share, start) {
        (Some(share), Ok(from)) => {
            if let Err(e) = read_share(&mut fetcher, chain_id, from, share, &out) {
                return fail(e);
            }
            if !share.follow {
                return;
            }
            // Every process follows on from the split part's end, which is final: a fresh
            // tracker starts there (nothing below it can be reorged).
            tracker = ChainTracker::new(tracker_config);
            let next = from.max(share.end_block.saturating_add(1));
            tracing::info!(chain = %chain.label(), from = next, "split part read; following the chain on");
            Ok(next)
        }
        (_, start) => start,
    };
    let mut stopped = false;
    let mut marked = false;
    // The backfill's events go out one behind, so its last one can carry the mark.
    let mut held: Option<SourceEvent> = None;
    let first = start.and_then(|from| {
        tracker.read_range(
            &mut fetcher,
            from,
            chain.end_block,
            &mut |event, finalized| {
                let item = SourceEvent {
                    event,
                    finalized: Some((chain_id, finalized)),
                    caught_up: false,
                    epoch: None,
                };
                if let Some(prev) = held.replace(item) {
                    stopped = out.send(Ok(prev)).is_err();
                }
                !stopped
            },
        )
    });
    if let Err(e) = first {
        return fail(e);
    }
    if stopped {
        return;
    }
    if let Some(mut last) = held {
        last.caught_up = true;
        marked = true;
        if out.send(Ok(last)).is_err() {
            return;
        }
    }
    if chain.end_block.is_some() {
        tracing::info!(chain = %chain.label(), end_block = ?chain.end_block, tip = ?tracker.tip().map(|b| b.number), "range read");
        return;
    }

    // `caught_up` marks this chain's first event at or after the head found at start (the
    // last event of the backfill, or the first live one when the backfill had none); the
    // source turns the marks of all chains into its own flag.
    let mut send = |events: Vec<crate::model::ChainEvent>, tracker: &ChainTracker| -> bool {
        for event in events {
            let item = SourceEvent {
                event,
                finalized: Some((chain_id, tracker.finalized())),
                caught_up: !std::mem::replace(&mut marked, true),
                epoch: None,
            };
            if out.send(Ok(item)).is_err() {
                return false;
            }
        }
        true
    };

    let (head_tx, mut head_rx) = mpsc::channel::<Head>(1024);
    rt.spawn(announce_heads(
        chain.clone(),
        Arc::clone(&shared),
        head_tx,
        Arc::clone(&stop),
    ));
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let next = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(200), head_rx.recv()).await
        });
        let mut head = match next {
            Ok(Some(h)) => h,
            Ok(None) => return, // the head task ended for good
            Err(_) => continue,
        };
        // Only the newest waiting head matters: parents fill the gap.
        while let Ok(h) = head_rx.try_recv() {
            head = h;
        }
        match tracker.on_head(&mut fetcher, head) {
            Ok(events) => {
                if !send(events, &tracker) {
                    return;
                }
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(chain = %chain.label(), error = %e, "node unavailable; waiting for the next head");
            }
            Err(e) => return fail(e),
        }
    }
}
