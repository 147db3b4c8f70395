//! `chainflow publish-heads`: the extractor, a chain followed over JSON-RPC into NATS
//! JetStream (see [`crate::sources::nats::publish`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::sources::nats::publish::{self, PublishConfig, PublishStats};
use crate::sources::rpc::ChainConfig;

/// Arguments of `publish-heads`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// JSON-RPC node (ws:// subscribes to heads, http:// polls).
    #[arg(long, value_name = "URL")]
    pub rpc: String,
    /// NATS server.
    #[arg(long, value_name = "URL", default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
    /// JetStream stream of chain events (created when missing).
    #[arg(long, default_value = crate::nats::EVENTS_STREAM)]
    pub stream: String,
    /// First token of the subject: events go to `<prefix>.<chain_id>.events`.
    #[arg(long, default_value = crate::nats::SUBJECT_PREFIX)]
    pub subject_prefix: String,
    /// Payload format: bincode (compact) or json (schemas/chain_event.v1.json).
    #[arg(long, default_value = "bincode")]
    pub format: crate::sources::nats::wire::Format,
    /// First block to publish when the stream holds nothing of the chain (default: the head).
    #[arg(long, value_name = "N")]
    pub start_block: Option<u64>,
    /// Blocks kept below the tip; finality depth when the node reports none.
    #[arg(long, default_value_t = 64)]
    pub finality_depth: u64,
    /// Drop messages older than this many hours (0: keep everything). A restarted engine
    /// replays the stream, so keep what the widest rollup needs (a day).
    #[arg(long, default_value_t = 0)]
    pub max_age_hours: u64,
    /// JetStream duplicate window for message ids, in seconds.
    #[arg(long, default_value_t = 120)]
    pub duplicate_window_secs: u64,
}

pub(super) fn publish_heads(args: PublishArgs) -> Result<()> {
    let mut chain = ChainConfig::new(args.rpc);
    chain.start_block = args.start_block;
    chain.finality_depth = args.finality_depth;
    chain
        .validate(0)
        .map_err(|(key, reason)| anyhow::anyhow!("--rpc ({key}): {reason}"))?;
    let config = PublishConfig {
        url: args.nats,
        stream: args.stream,
        subject_prefix: args.subject_prefix,
        format: args.format,
        max_age: Duration::from_secs(args.max_age_hours * 3600),
        duplicate_window: Duration::from_secs(args.duplicate_window_secs.max(1)),
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&shutdown);
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .context("cannot install the Ctrl-C handler")?;
    let stats = Arc::new(PublishStats::default());
    publish::run(chain, &config, shutdown, Arc::clone(&stats))?;
    tracing::info!(
        published = stats.published.load(Ordering::Relaxed),
        duplicates = stats.duplicates.load(Ordering::Relaxed),
        "publish-heads stopped"
    );
    Ok(())
}
