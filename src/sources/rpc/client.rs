//! A JSON-RPC node client over alloy's transports (HTTP or websocket): full blocks with
//! receipts, finality, and a stream of head announcements.
//!
//! Every request has a timeout and is retried with exponential backoff and jitter while the
//! failure may pass (transport errors, timeouts, HTTP 429/503, `Retry-After`); an answer that
//! cannot be decoded or is inconsistent (a block whose hash does not match its header, a
//! receipt count that does not match the transactions) is retried too, since a node behind a
//! load balancer may answer from a lagging replica, and then reported. "Not found" is an
//! answer, not an error: the tracker treats an unknown block as a reorg signal.

use std::sync::Arc;
use std::time::Duration;

use alloy_json_rpc::{RpcError, RpcRecv, RpcSend};
use alloy_rpc_client::{ClientBuilder, RpcClient};
use alloy_rpc_types_eth::{Block as RpcBlock, Header as RpcHeader, TransactionReceipt};
use alloy_transport::TransportErrorKind;
use futures_util::{StreamExt, stream};
use tokio::sync::Semaphore;

use super::convert::block_from_rpc;
use crate::model::fees::BlobParams;
use crate::model::{B256, Block, ChainId};
use crate::sources::SourceError;

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Node URL: `http(s)://` or `ws(s)://`.
    pub url: String,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Attempts per request before the error is reported.
    pub attempts: u32,
    /// Requests in flight at once (receipts fetched per transaction use this).
    pub max_concurrency: usize,
    /// Blob parameters used to derive the blob base fee from the excess blob gas: `None`
    /// follows the mainnet fork schedule by timestamp.
    pub blob_params: Option<BlobParams>,
    /// Check each block's hash against its header.
    pub verify_hashes: bool,
}

impl ClientConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            request_timeout: Duration::from_secs(10),
            attempts: 5,
            max_concurrency: 16,
            blob_params: None,
            verify_hashes: true,
        }
    }

    /// Whether the URL is a websocket one.
    pub fn is_ws(&self) -> bool {
        self.url.starts_with("ws://") || self.url.starts_with("wss://")
    }
}

/// A connected node.
pub struct NodeClient {
    client: RpcClient,
    config: ClientConfig,
    chain_id: ChainId,
    permits: Arc<Semaphore>,
}

pub use crate::telemetry::redact;

/// What a failed attempt means.
enum Failure {
    Retry(String, Option<Duration>),
    /// The node answered, but not with what was asked: retried, then fatal.
    Garbled(String),
    Fatal(String),
}

fn classify<E: std::fmt::Display>(err: RpcError<TransportErrorKind, E>) -> Failure {
    match &err {
        RpcError::Transport(kind) => {
            if let Some(after) = kind.retry_after() {
                return Failure::Retry(err.to_string(), Some(after));
            }
            match kind {
                TransportErrorKind::HttpError(h) if !(h.is_rate_limit_err() || h.status >= 500) => {
                    Failure::Fatal(err.to_string())
                }
                _ => Failure::Retry(err.to_string(), None),
            }
        }
        RpcError::ErrorResp(payload) => {
            // -32005 limit exceeded, -32603 internal, 429-like messages: try again later.
            let msg = payload.message.to_lowercase();
            if payload.code == -32005
                || payload.code == -32603
                || msg.contains("rate")
                || msg.contains("limit")
            {
                Failure::Retry(err.to_string(), None)
            } else {
                Failure::Fatal(err.to_string())
            }
        }
        RpcError::DeserError { .. } | RpcError::NullResp => Failure::Garbled(err.to_string()),
        _ => Failure::Fatal(err.to_string()),
    }
}

/// Backoff before attempt `attempt` (1-based): exponential from 100 ms, capped, with jitter.
pub fn backoff(attempt: u32, cap: Duration) -> Duration {
    let base = Duration::from_millis(100).saturating_mul(1u32 << attempt.min(10).saturating_sub(1));
    let base = base.min(cap);
    // Jitter from the clock's nanoseconds: spreads reconnect storms without a random crate.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    base + base.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

impl NodeClient {
    /// Connects to `config.url` and reads the chain id.
    pub async fn connect(config: ClientConfig) -> Result<Self, SourceError> {
        let url = redact(&config.url);
        let client = ClientBuilder::default()
            .connect(&config.url)
            .await
            .map_err(|e| SourceError::Rpc {
                chain_id: 0,
                url: url.clone(),
                method: "connect".into(),
                reason: e.to_string(),
                retryable: true,
            })?;
        let permits = Arc::new(Semaphore::new(config.max_concurrency.max(1)));
        let mut node = NodeClient {
            client,
            config,
            chain_id: 0,
            permits,
        };
        let id: alloy_primitives::U64 = node.call("eth_chainId", ()).await?;
        node.chain_id = id.to::<u64>();
        Ok(node)
    }

    /// The node's chain id.
    pub fn chain_id(&self) -> ChainId {
        self.chain_id
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    fn error(&self, method: &str, reason: String, retryable: bool) -> SourceError {
        SourceError::Rpc {
            chain_id: self.chain_id,
            url: redact(&self.config.url),
            method: method.into(),
            reason,
            retryable,
        }
    }

    /// One JSON-RPC call with timeout, retries, backoff and jitter.
    pub async fn call<P, R>(&self, method: &'static str, params: P) -> Result<R, SourceError>
    where
        P: RpcSend + Clone,
        R: RpcRecv,
    {
        let attempts = self.config.attempts.max(1);
        let mut last = String::new();
        let mut garbled = true;
        for attempt in 1..=attempts {
            let permit = self
                .permits
                .acquire()
                .await
                .map_err(|e| self.error(method, e.to_string(), false))?;
            let result = tokio::time::timeout(
                self.config.request_timeout,
                self.client.request::<P, R>(method, params.clone()),
            )
            .await;
            drop(permit);
            let wait = match result {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(err)) => match classify(err) {
                    Failure::Fatal(reason) => return Err(self.error(method, reason, false)),
                    Failure::Garbled(reason) => {
                        last = reason;
                        None
                    }
                    Failure::Retry(reason, after) => {
                        garbled = false;
                        last = reason;
                        after
                    }
                },
                Err(_) => {
                    garbled = false;
                    last = format!("no answer within {:?}", self.config.request_timeout);
                    None
                }
            };
            if attempt < attempts {
                let delay = wait.unwrap_or_else(|| backoff(attempt, Duration::from_secs(5)));
                tracing::debug!(method, attempt, error = %last, ?delay, "retrying rpc call");
                tokio::time::sleep(delay).await;
            }
        }
        if garbled {
            // The node answers every time, just not with JSON-RPC that decodes: retrying for
            // longer will not help and nothing it said can be used.
            return Err(self.error(
                method,
                format!("the node's answer cannot be decoded ({attempts} attempts): {last}"),
                false,
            ));
        }
        Err(self.error(
            method,
            format!("gave up after {attempts} attempts: {last}"),
            true,
        ))
    }

    /// The node's latest head (number and hash).
    pub async fn latest_head(&self) -> Result<Option<RpcHeader>, SourceError> {
        let block: Option<RpcBlock<serde_json::Value>> =
            self.call("eth_getBlockByNumber", ("latest", false)).await?;
        Ok(block.map(|b| b.header))
    }

    /// The header of the canonical block at `number`.
    pub async fn header_by_number(&self, number: u64) -> Result<Option<RpcHeader>, SourceError> {
        let block: Option<RpcBlock<serde_json::Value>> = self
            .call("eth_getBlockByNumber", (format!("0x{number:x}"), false))
            .await?;
        Ok(block.map(|b| b.header))
    }

    /// The node's finalized height; `None` when it has no finalized block.
    pub async fn finalized(&self) -> Result<Option<u64>, SourceError> {
        let block: Result<Option<RpcBlock<serde_json::Value>>, _> = self
            .call("eth_getBlockByNumber", ("finalized", false))
            .await;
        match block {
            Ok(b) => Ok(b.map(|b| b.header.number)),
            // Nodes without the tag answer with an error: fall back to the configured depth.
            Err(SourceError::Rpc {
                retryable: false, ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The full block with this hash, receipts included; `None` when the node does not know it.
    pub async fn block_by_hash(&self, hash: B256) -> Result<Option<Block>, SourceError> {
        self.full_block(
            "eth_getBlockByHash",
            serde_json::json!([hash, true]),
            Some(hash),
        )
        .await
    }

    /// The full canonical block at `number` (latest for `None`), receipts included.
    pub async fn block_by_number(&self, number: Option<u64>) -> Result<Option<Block>, SourceError> {
        let tag = match number {
            Some(n) => serde_json::Value::String(format!("0x{n:x}")),
            None => serde_json::Value::String("latest".into()),
        };
        self.full_block("eth_getBlockByNumber", serde_json::json!([tag, true]), None)
            .await
    }

    /// The canonical blocks `from..=to` in order, fetched `max_concurrency` at a time;
    /// stops before the first absent one.
    pub async fn blocks_by_number(&self, from: u64, to: u64) -> Result<Vec<Block>, SourceError> {
        let fetched: Vec<Result<Option<Block>, SourceError>> = stream::iter(from..=to)
            .map(|n| self.block_by_number(Some(n)))
            .buffered(self.config.max_concurrency.max(1))
            .collect()
            .await;
        let mut blocks = Vec::with_capacity(fetched.len());
        for (n, b) in (from..=to).zip(fetched) {
            match b? {
                // A node rewriting its chain may answer with another height: stop there too.
                Some(b) if b.number == n => blocks.push(b),
                _ => break,
            }
        }
        Ok(blocks)
    }

    async fn full_block(
        &self,
        method: &'static str,
        params: serde_json::Value,
        expect: Option<B256>,
    ) -> Result<Option<Block>, SourceError> {
        let attempts = self.config.attempts.max(1);
        let mut last = None;
        for attempt in 1..=attempts {
            let Some(block): Option<RpcBlock> = self.call(method, params.clone()).await? else {
                return Ok(None);
            };
            match self.complete(block, expect).await {
                Ok(b) => return Ok(b),
                Err(e @ SourceError::Rpc { .. }) => return Err(e),
                Err(e) => {
                    tracing::warn!(chain_id = self.chain_id, attempt, error = %e, "inconsistent block answer, retrying");
                    last = Some(e);
                    if attempt < attempts {
                        tokio::time::sleep(backoff(attempt, Duration::from_secs(2))).await;
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| self.error(method, "no block".into(), false)))
    }

    /// Adds receipts to `block`, converts it and checks it. `Ok(None)` when the block vanished
    /// between the two calls (reorged away).
    async fn complete(
        &self,
        block: RpcBlock,
        expect: Option<B256>,
    ) -> Result<Option<Block>, SourceError> {
        let hash = block.header.hash;
        let invalid = |reason: String| SourceError::Invalid {
            chain_id: self.chain_id,
            what: format!("block {} ({hash})", block.header.number),
            reason,
        };
        if let Some(expect) = expect
            && expect != hash
        {
            return Err(invalid(format!(
                "asked for {expect}, the node answered another block"
            )));
        }
        if self.config.verify_hashes && block.header.inner.hash_slow() != hash {
            return Err(invalid(format!(
                "block hash does not match its header (computed {})",
                block.header.inner.hash_slow()
            )));
        }
        let receipts = match self.receipts(&block).await? {
            Some(r) => r,
            None => return Ok(None),
        };
        let params = self
            .config
            .blob_params
            .or_else(|| BlobParams::mainnet_at(block.header.timestamp));
        block_from_rpc(self.chain_id, &block, Some(&receipts), params.as_ref()).map(Some)
    }

    /// Receipts of `block`: `eth_getBlockReceipts`, or one `eth_getTransactionReceipt` per
    /// transaction when the node lacks it.
    async fn receipts(
        &self,
        block: &RpcBlock,
    ) -> Result<Option<Vec<TransactionReceipt>>, SourceError> {
        let hash = block.header.hash;
        let tx_hashes: Vec<B256> = block.transactions.hashes().collect();
        if tx_hashes.is_empty() {
            return Ok(Some(Vec::new()));
        }
        match self
            .call::<_, Option<Vec<TransactionReceipt>>>("eth_getBlockReceipts", (hash,))
            .await
        {
            Ok(r) => return Ok(r),
            Err(SourceError::Rpc {
                retryable: false,
                reason,
                ..
            }) if is_unsupported(&reason) => {
                tracing::debug!(
                    chain_id = self.chain_id,
                    "eth_getBlockReceipts unsupported, fetching receipts per transaction"
                );
            }
            Err(e) => return Err(e),
        }
        let fetched: Vec<Result<Option<TransactionReceipt>, SourceError>> = stream::iter(tx_hashes)
            .map(|tx| async move { self.call("eth_getTransactionReceipt", (tx,)).await })
            .buffered(self.config.max_concurrency.max(1))
            .collect()
            .await;
        let mut receipts = Vec::with_capacity(fetched.len());
        for r in fetched {
            match r? {
                Some(r) => receipts.push(r),
                None => return Ok(None),
            }
        }
        Ok(Some(receipts))
    }

    /// Subscribes to new heads over a websocket; `None` when the transport has no pubsub.
    pub async fn subscribe_heads(
        &self,
    ) -> Result<Option<impl futures_util::Stream<Item = RpcHeader> + use<>>, SourceError> {
        if self.client.pubsub_frontend().is_none() {
            return Ok(None);
        }
        let id: B256 = self.call("eth_subscribe", ("newHeads",)).await?;
        let sub = self.client.get_subscription::<RpcHeader>(id).await;
        Ok(Some(sub.into_stream()))
    }
}

fn is_unsupported(reason: &str) -> bool {
    let r = reason.to_lowercase();
    r.contains("-32601")
        || r.contains("not found")
        || r.contains("not supported")
        || r.contains("unsupported")
        || r.contains("does not exist")
}
