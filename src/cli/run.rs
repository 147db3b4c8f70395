//! `chainflow run`: the dataflows over a source (the devnet, JSON-RPC nodes, NATS) into the
//! configured sinks until the source ends or Ctrl-C; `replay` runs through here too.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result, bail};

use super::open;
use super::replay::ReplayPlan;
use crate::config::{Config, JsonlConfig};
use crate::engine::{self, RunControl};
use crate::sources::relay;
use crate::sources::rpc::{ChainConfig, NodeProbe};

/// Arguments of `run`.
#[derive(Debug, Default, clap::Args)]
pub struct RunArgs {
    /// TOML config file (environment overrides: CHAINFLOW_<SECTION>__<KEY>).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Stop once the chain has N blocks (the devnet's `max_blocks`).
    #[arg(long, value_name = "N")]
    pub max_blocks: Option<u64>,
    /// Also write every update as a JSON line to PATH.
    #[arg(long, value_name = "PATH")]
    pub jsonl: Option<PathBuf>,
    /// Follow the chain served by this JSON-RPC node (ws:// subscribes, http:// polls)
    /// instead of the devnet.
    #[arg(long, value_name = "URL")]
    pub rpc: Option<String>,
    /// With --rpc: first block to read (default: the node's head).
    #[arg(long, value_name = "N")]
    pub start_block: Option<u64>,
    /// Also write the outputs to ClickHouse at this HTTP URL (run `chainflow migrate` first).
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
    /// Also write the outputs to PostgreSQL / TimescaleDB at this connection string (run
    /// `chainflow migrate --postgres URL` first).
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Read chain events from NATS JetStream at this URL (see `publish-heads`) instead of
    /// the chains or the devnet.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// Also publish every output change to NATS JetStream at this URL
    /// (subjects chainflow.out.<output>).
    #[arg(long, value_name = "URL")]
    pub egress: Option<String>,
    /// Devnet seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Generate devnet blocks as fast as possible instead of pacing them.
    #[arg(long)]
    pub fast: bool,
    /// Do not print the live console view.
    #[arg(long)]
    pub quiet: bool,
}

pub(super) fn run(args: RunArgs, timely_args: Vec<String>) -> Result<()> {
    run_with(args, timely_args, None)
}

/// A run: the config with the command line applied, the cluster this process is part of, the
/// sinks of every local writer and the source, then the engine until the source ends or
/// Ctrl-C. A `replay` plan bounds the range and batches it.
pub(super) fn run_with(
    args: RunArgs,
    timely_args: Vec<String>,
    replay: Option<ReplayPlan>,
) -> Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    apply_args(&mut config, args)?;
    let replay_end = match &replay {
        Some(plan) => Some(bound_replay(&mut config, plan)?),
        None => None,
    };
    config.validate()?;

    let timely_config =
        timely::Config::from_args(std::iter::once("chainflow".to_string()).chain(timely_args))
            .map_err(|e| anyhow::anyhow!("invalid timely flags: {e}"))?;
    let cluster = Cluster::of(&timely_config, &mut config, replay.as_ref())?;
    let control = RunControl::default();
    stop_on_ctrl_c(&control)?;

    let dataflows = config.dataflows.configured()?;
    let mut settings = config.engine.clone();
    let sets = open::sinks(
        &mut config,
        &dataflows,
        &timely_config,
        &control,
        &mut settings,
    )?;
    let (source, nats_ingress) = open::source(
        &mut config,
        &mut settings,
        &control,
        replay.as_ref(),
        &cluster,
    )?;
    tracing::info!(
        start_epoch = settings.start_epoch,
        "epochs of this run start here"
    );
    let progress = match (&replay, replay_end) {
        (Some(plan), Some(end)) => Some(super::progress::Progress::start(
            Arc::clone(&control.stats),
            plan.from,
            end,
        )),
        _ => None,
    };
    let summary = engine::run_writers(
        &settings,
        timely_config,
        dataflows,
        source,
        engine::Writers::PerWorker(sets),
        &control,
    );
    if let Some(progress) = progress {
        progress.finish();
    }
    if let Some(ingress) = nats_ingress {
        ingress.finish();
    }
    let summary = summary?;
    tracing::info!(
        epochs = summary.epochs,
        blocks_added = summary.blocks_added,
        blocks_removed = summary.blocks_removed,
        reorgs = summary.reorgs,
        batches = summary.batches,
        updates = summary.updates,
        seals = control.stats.seals.load(Ordering::Relaxed),
        "run finished"
    );
    Ok(())
}

/// Applies the command line's flags to `config`.
fn apply_args(config: &mut Config, args: RunArgs) -> Result<()> {
    if let Some(n) = args.max_blocks {
        config.devnet.max_blocks = Some(n);
    }
    if let Some(seed) = args.seed {
        config.devnet.seed = seed;
    }
    if args.fast {
        config.devnet.block_time_ms = 0;
    }
    if let Some(rollup) = config.rollup_devnet.as_mut() {
        if let Some(n) = args.max_blocks {
            rollup.max_l1_blocks = Some(n);
        }
        if let Some(seed) = args.seed {
            rollup.seed = seed;
        }
        if args.fast {
            rollup.block_time_ms = 0;
        }
        // The generated chains are the taiko dataflow's unless [dataflows.taiko] says
        // otherwise, and a config that names no dataflow runs it.
        if !config.dataflows.settings.contains_key("taiko") {
            let follow = crate::dataflows::taiko::TaikoConfig {
                l1_chain_id: rollup.l1_chain_id,
                l2_chain_id: rollup.l2_chain_id,
                contracts: rollup.contracts.clone(),
                ..Default::default()
            };
            let table = toml::Table::try_from(follow)
                .context("the rollup devnet's chains as taiko settings")?;
            config
                .dataflows
                .settings
                .insert("taiko".into(), toml::Value::Table(table));
        }
        if config.dataflows.enabled == crate::config::DataflowsConfig::default().enabled {
            config.dataflows.enabled.push("taiko".into());
        }
    }
    if let Some(path) = args.jsonl {
        config.sinks.jsonl = Some(JsonlConfig { path });
    }
    if args.quiet {
        config.sinks.console.enabled = false;
    }
    if let Some(url) = args.postgres {
        let mut pg = config.sinks.postgres.take().unwrap_or_default();
        pg.url = url;
        config.sinks.postgres = Some(pg);
    }
    if let Some(url) = args.clickhouse {
        let mut ch = config.sinks.clickhouse.take().unwrap_or_default();
        ch.url = url;
        config.sinks.clickhouse = Some(ch);
    }
    if let Some(url) = args.nats {
        let mut nats = config.nats.take().unwrap_or_default();
        nats.url = url;
        config.nats = Some(nats);
    }
    if let Some(url) = args.egress {
        let mut egress = config.sinks.nats.take().unwrap_or_default();
        egress.url = url;
        config.sinks.nats = Some(egress);
    }
    if let Some(url) = args.rpc {
        let mut chain = ChainConfig::new(url);
        chain.start_block = args.start_block;
        config.chains = vec![chain];
    } else if args.start_block.is_some() {
        bail!("--start-block needs --rpc");
    }
    // A replay: a bounded range (unless it follows on), read concurrently, in batches.
    Ok(())
}

/// Bounds the chains to the replay's range (unless it follows on) and batches its epochs;
/// returns the range's last block.
fn bound_replay(config: &mut Config, plan: &ReplayPlan) -> Result<u64> {
    let end = match plan.to {
        Some(to) => to,
        None => {
            let chain = config.chains.first().context("replay needs a chain")?;
            let probe = NodeProbe::connect(chain)?;
            probe.head()?.context("the node has no blocks")?
        }
    };
    for chain in &mut config.chains {
        chain.end_block = (!plan.follow).then_some(end);
        chain.max_concurrency = plan.concurrency;
    }
    config.engine.blocks_per_epoch = plan.blocks_per_epoch;
    config.engine.batch_until_caught_up = true;
    tracing::info!(
        from = plan.from,
        to = end,
        follow = plan.follow,
        blocks_per_epoch = plan.blocks_per_epoch,
        "replaying a range"
    );
    Ok(end)
}

/// Ctrl-C drains what was ingested; a second one aborts.
fn stop_on_ctrl_c(control: &RunControl) -> Result<()> {
    let shutdown = control.shutdown.clone();
    let mut interrupts = 0u32;
    ctrlc::set_handler(move || {
        interrupts += 1;
        if interrupts > 1 {
            std::process::exit(130);
        }
        eprintln!("stopping: draining what was ingested (Ctrl-C again to abort)");
        shutdown.store(true, Ordering::Relaxed);
    })
    .context("cannot install the Ctrl-C handler")?;

    Ok(())
}

/// Where this process runs: its place in a timely cluster, where process 0 relays the
/// chain's events to the others, and a replay's final range every process splits.
pub(super) struct Cluster {
    /// `(process, processes)` of a cluster of more than one process.
    pub placement: Option<(usize, usize)>,
    /// Where process 0 relays the chain's events to the others.
    pub relay_address: Option<String>,
    /// A replay across processes: the placement and the range's last block (final).
    pub split: Option<((usize, usize), u64)>,
}

impl Cluster {
    /// The cluster of `timely_config`; gives each process its own NATS consumer and checks
    /// that a replay across processes reads final history only.
    fn of(
        timely_config: &timely::Config,
        config: &mut Config,
        replay: Option<&ReplayPlan>,
    ) -> Result<Cluster> {
        // A replay across processes splits the range: each process reads its share (the range
        // must be final, so every process reads the same chain).
        // Across processes, also where process 0 relays the chain's events to the others.
        let (placement, relay_address) = match &timely_config.communication {
            timely::CommunicationConfig::Cluster {
                process, addresses, ..
            } if addresses.len() > 1 => (
                Some((*process, addresses.len())),
                config
                    .engine
                    .relay
                    .clone()
                    .or_else(|| relay::relay_address(addresses)),
            ),
            _ => (None, None),
        };
        // Each process of a cluster reads the whole event stream (its workers take their share
        // of the blocks): through a durable consumer of its own, acknowledged by its own
        // watermark. One shared consumer would hand each message to one process only.
        if let (Some(nats), Some((process, processes))) = (config.nats.as_mut(), placement) {
            nats.consumer = format!("{}-p{process}of{processes}", nats.consumer);
            tracing::info!(consumer = %nats.consumer, "this process reads the stream through its own consumer");
        }
        // Every process splits the same range, which must be final: FROM..=TO (with --follow,
        // every process then follows the chain on from TO + 1, the rest to the head and live).
        let split = match (replay, placement) {
            (Some(plan), Some(placement)) => {
                let to = plan.to.context(
                    "a replay across processes needs --to at or below the node's finalized block (every process must split the same range; with --follow they all go on from it)",
                )?;
                let chain = config.chains.first().context("replay needs a chain")?;
                let probe = NodeProbe::connect(chain)?;
                let finalized = probe.finalized()?.unwrap_or(0);
                if to > finalized {
                    bail!(
                        "a replay across processes reads final history only: --to {to} is above the node's finalized block {finalized} (replay up to {finalized} across processes, and add --follow to go on from there with every process)"
                    );
                }
                Some((placement, to))
            }
            _ => None,
        };
        Ok(Cluster {
            placement,
            relay_address,
            split,
        })
    }
}
