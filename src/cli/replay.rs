//! `chainflow replay`: a range of a node's blocks through the dataflows in batches, then
//! optionally on with the live head; `run` with a [`ReplayPlan`].

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::run::{RunArgs, run_with};

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// JSON-RPC node.
    #[arg(long, value_name = "URL")]
    pub rpc: String,
    /// First block of the range.
    #[arg(long, value_name = "A")]
    pub from: u64,
    /// Last block of the range (default: the node's head at start).
    #[arg(long, value_name = "B")]
    pub to: Option<u64>,
    /// At the end of the range, follow the live head (no gap, no overlap).
    #[arg(long)]
    pub follow: bool,
    /// Blocks per epoch while replaying (live heads are one epoch each).
    #[arg(long, default_value_t = 100)]
    pub blocks_per_epoch: usize,
    /// Blocks fetched concurrently.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// TOML config file (sinks, dataflows).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write the outputs to ClickHouse at this HTTP URL.
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
    /// Write the outputs to PostgreSQL / TimescaleDB.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Publish the output changes to NATS JetStream.
    #[arg(long, value_name = "URL")]
    pub egress: Option<String>,
    /// Write every update as a JSON line to PATH.
    #[arg(long, value_name = "PATH")]
    pub jsonl: Option<PathBuf>,
}

/// What `replay` adds to `run`.
pub(super) struct ReplayPlan {
    pub(super) from: u64,
    pub(super) to: Option<u64>,
    pub(super) follow: bool,
    pub(super) blocks_per_epoch: usize,
    pub(super) concurrency: usize,
}

pub(super) fn replay(args: ReplayArgs, timely_args: Vec<String>) -> Result<()> {
    if let Some(to) = args.to
        && to < args.from
    {
        bail!("--to {to} is below --from {}", args.from);
    }
    let run_args = RunArgs {
        config: args.config,
        jsonl: args.jsonl,
        rpc: Some(args.rpc),
        start_block: Some(args.from),
        clickhouse: args.clickhouse,
        postgres: args.postgres,
        egress: args.egress,
        quiet: true,
        ..RunArgs::default()
    };
    let plan = ReplayPlan {
        from: args.from,
        to: args.to,
        follow: args.follow,
        blocks_per_epoch: args.blocks_per_epoch.max(1),
        concurrency: args.concurrency.max(1),
    };
    run_with(run_args, timely_args, Some(plan))
}
