//! The `chainflow` command line: `run`, `publish-heads`, `migrate` and `list`.
//!
//! timely's own flags (`-w/--threads`, `-n/--processes`, `-p/--process`, `-h/--hostfile`)
//! are taken out of the arguments of `run` and handed to `timely::Config::from_args`, so the
//! worker count is set exactly as in any timely program: `chainflow run -w 2`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::config::{Config, JsonlConfig};
use crate::engine::dataflow::OutputSpec;
use crate::engine::{self, RunControl};
use crate::model::ChainId;
use crate::model::Epoch;
use crate::nats::egress::EgressSink;
use crate::nats::ingress::Ingress;
use crate::nats::publish::{self, PublishConfig, PublishStats};
use crate::sinks::Sink;
use crate::sinks::clickhouse::{ClickHouseSink, migrate};
use crate::sinks::console::ConsoleSink;
use crate::sinks::jsonl::JsonlSink;
use crate::sinks::postgres::PostgresSink;
use crate::sinks::postgres::migrate as pgmigrate;
use crate::sinks::reconcile::{self, ChainResume, PlanError, Reconcile, StoredState};
use crate::sinks::{Routed, Shared, SkipCommitted};
use crate::sources::devnet::Devnet;
use crate::sources::relay;
use crate::sources::rpc::{ChainConfig, NodeProbe, RpcSource};
use crate::sources::{SourceError, SourceEvent};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "chainflow",
    version,
    about = "Stream processing for blockchain data: a reorg is a retraction"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the dataflows over a source (default: the built-in devnet) until Ctrl-C.
    ///
    /// timely flags pass through: -w N (worker threads), -n N (processes), -p I (process index), -h FILE (hostfile).
    /// Across processes over --rpc process 0 reads the chain and relays its events to the
    /// others (at `[engine] relay`, default the port after the hostfile's highest).
    Run(RunArgs),
    /// List the dataflows, their outputs and columns.
    List,
    /// Apply pending ClickHouse migrations (idempotent) and check the tables.
    Migrate(MigrateArgs),
    /// Follow a chain over JSON-RPC and publish its events to NATS JetStream (resumes from
    /// what the stream holds).
    PublishHeads(PublishArgs),
    /// Replay the blocks FROM..=TO of a node through the dataflows into the configured sinks,
    /// in batches (one epoch per batch); resumable; --follow goes on with the live head.
    ///
    /// timely flags pass through as for `run`. Across processes (`-n`) each process fetches
    /// its share of the range, which must be final (--to at or below the finalized block);
    /// with --follow process 0 then follows the chain on from TO + 1 and relays it to the
    /// others (as for `run`).
    Replay(ReplayArgs),
}

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
    /// First token of the subject: events go to <prefix>.<chain_id>.events.
    #[arg(long, default_value = crate::nats::SUBJECT_PREFIX)]
    pub subject_prefix: String,
    /// Payload format: bincode (compact) or json (schemas/chain_event.v1.json).
    #[arg(long, default_value = "bincode")]
    pub format: crate::nats::wire::Format,
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

/// Arguments of `migrate`.
#[derive(Debug, Default, clap::Args)]
pub struct MigrateArgs {
    /// TOML config file (its `[sinks.clickhouse]` and `[sinks.postgres]` are used).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// ClickHouse HTTP URL (overrides the config).
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
    /// Database (overrides the config).
    #[arg(long)]
    pub database: Option<String>,
    /// PostgreSQL connection string: migrate it too (or only it, without --clickhouse).
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// PostgreSQL schema (overrides the config).
    #[arg(long)]
    pub schema: Option<String>,
}

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

const TIMELY_FLAGS: &[&str] = &[
    "-w",
    "--threads",
    "-n",
    "--processes",
    "-p",
    "--process",
    "-h",
    "--hostfile",
];

/// Splits timely's flags (with their values) out of `args`; returns `(ours, timely's)`.
pub fn split_timely_args(args: &[String]) -> (Vec<String>, Vec<String>) {
    let mut ours = Vec::with_capacity(args.len());
    let mut timely = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (arg.as_str(), None),
        };
        if TIMELY_FLAGS.contains(&flag)
            && (inline.is_some() || it.peek().is_some_and(|v| !v.starts_with('-')))
        {
            timely.push(flag.to_string());
            match inline {
                Some(v) => timely.push(v.to_string()),
                None => timely.extend(it.next().cloned()),
            }
        } else {
            ours.push(arg.clone());
        }
    }
    (ours, timely)
}

/// Runs the command line `args` (program name first).
pub fn main(args: Vec<String>) -> Result<()> {
    let is_run = args.get(1).is_some_and(|a| a == "run" || a == "replay");
    let (ours, timely_args) = if is_run {
        split_timely_args(&args)
    } else {
        (args, Vec::new())
    };
    let cli = match Cli::try_parse_from(&ours) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::List => {
            print!("{}", list());
            Ok(())
        }
        Command::Run(run_args) => run(run_args, timely_args),
        Command::Migrate(args) => migrate(args),
        Command::PublishHeads(args) => publish_heads(args),
        Command::Replay(args) => replay(args, timely_args),
    }
}

/// The text `chainflow list` prints.
pub fn list() -> String {
    let mut out = String::new();
    for df in crate::dataflows::registry() {
        out.push_str(&format!("{}  {}\n", df.name(), df.doc()));
        for spec in df.outputs() {
            out.push_str(&format!(
                "  output {}  key ({})  {}\n",
                spec.name,
                spec.key.join(", "),
                spec.doc
            ));
            for c in spec.columns {
                out.push_str(&format!(
                    "    {:<18} {:<10} {}\n",
                    c.name,
                    c.ty.name(),
                    c.doc
                ));
            }
        }
    }
    out
}

/// What `replay` adds to `run`.
struct ReplayPlan {
    from: u64,
    to: Option<u64>,
    follow: bool,
    blocks_per_epoch: usize,
    concurrency: usize,
}

fn replay(args: ReplayArgs, timely_args: Vec<String>) -> Result<()> {
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

fn run(args: RunArgs, timely_args: Vec<String>) -> Result<()> {
    run_with(args, timely_args, None)
}

fn run_with(args: RunArgs, timely_args: Vec<String>, replay: Option<ReplayPlan>) -> Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
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
        // The generated chains are the taiko dataflow's unless [taiko] says otherwise, and
        // a config that names no dataflow runs it.
        if config.taiko == crate::dataflows::taiko::TaikoConfig::default() {
            config.taiko.l1_chain_id = rollup.l1_chain_id;
            config.taiko.l2_chain_id = rollup.l2_chain_id;
            config.taiko.contracts = rollup.contracts.clone();
        }
        if config.dataflows == crate::config::DataflowsConfig::default() {
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
    let mut replay_end = None;
    if let Some(plan) = &replay {
        let end = match plan.to {
            Some(to) => to,
            None => {
                let chain = config.chains.first().context("replay needs a chain")?;
                let probe = NodeProbe::connect(chain)?;
                probe.head()?.context("the node has no blocks")?
            }
        };
        replay_end = Some(end);
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
    }
    config.validate()?;

    let timely_config =
        timely::Config::from_args(std::iter::once("chainflow".to_string()).chain(timely_args))
            .map_err(|e| anyhow::anyhow!("invalid timely flags: {e}"))?;
    // A replay across processes splits the range: each process reads its share (the range
    // must be final, so every process reads the same chain).
    // Across processes, also where process 0 relays the chain's events to the others.
    let (cluster, relay_address) = match &timely_config.communication {
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
    if let (Some(nats), Some((process, processes))) = (config.nats.as_mut(), cluster) {
        nats.consumer = format!("{}-p{process}of{processes}", nats.consumer);
        tracing::info!(consumer = %nats.consumer, "this process reads the stream through its own consumer");
    }
    // Every process splits the same range, which must be final: FROM..=TO (with --follow,
    // every process then follows the chain on from TO + 1, the rest to the head and live).
    let split = match (&replay, cluster) {
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

    let control = RunControl::default();
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

    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if config.sinks.console.enabled {
        sinks.push(Box::new(ConsoleSink::new(
            control.stats.clone(),
            config.sinks.console.max_lines_per_batch,
        )));
    }
    if let Some(jsonl) = &config.sinks.jsonl {
        sinks.push(Box::new(JsonlSink::create(&jsonl.path)?));
    }
    let mut dataflows = Vec::new();
    for name in &config.dataflows.enabled {
        match crate::dataflows::configured(name, &config) {
            Some(df) => dataflows.push(df),
            None => bail!("unknown dataflow '{name}'"),
        }
    }
    let mut settings = config.engine.clone();
    let all_specs: Vec<OutputSpec> = dataflows.iter().flat_map(|d| d.outputs()).collect();
    // The outputs a sink takes: `[outputs]` routes first, then the sink's own filter.
    let specs_for = |sink: &str, own: &[String]| -> Vec<OutputSpec> {
        all_specs
            .iter()
            .filter(|s| {
                config
                    .routes(s.name, sink)
                    .unwrap_or(own.is_empty() || own.iter().any(|o| o == s.name))
            })
            .copied()
            .collect()
    };
    // Restart plans need the nodes: one probe per chain, opened on first use.
    let mut probes: Vec<Option<NodeProbe>> = config.chains.iter().map(|_| None).collect();
    let mut starts: BTreeMap<usize, u64> = BTreeMap::new();
    // Each local worker writes the keys that hash to it, to sinks of its own (see
    // `sinks::writers`): one set of the stateful sinks per local worker.
    let local_writers = engine::local_writers(&timely_config);
    let mut stateful: Vec<Vec<Stateful>> = Vec::new();
    // With NATS ingress epochs are stream sequences: the run replays the stream from its
    // first message and every sink skips the epochs it holds.
    let ingress = config.nats.is_some();
    for (i, &writer) in local_writers.iter().enumerate() {
        // What holds for the whole database (its schema, the killed run's inserts, the
        // epochs already used) is checked once, on the first writer's sink.
        let first = i == 0;
        let mut set: Vec<Stateful> = Vec::new();
        if let Some(ch) = &config.sinks.clickhouse {
            let specs = specs_for("clickhouse", &ch.outputs);
            let mut ch = ch.clone();
            ch.writer = writer;
            if first {
                let client = ch.client();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime
                    .block_on(migrate::check_schema(&client, &ch.database, &specs))
                    .with_context(|| {
                        format!(
                            "ClickHouse at {} is not ready (run `chainflow migrate`)",
                            ch.url
                        )
                    })?;
            }
            let sink = ClickHouseSink::open(ch.clone())?;
            if first {
                // An insert of a killed run may still be landing: read only once it has.
                sink.settle(Duration::from_secs(30))?;
                settings.start_epoch = settings.start_epoch.max(sink.next_epoch(&specs)?);
                tracing::info!(url = %ch.url, database = %ch.database, writers = local_writers.len(), "writing to ClickHouse");
            }
            set.push(resumable(
                sink,
                specs,
                ingress,
                &config.chains,
                (&mut probes, &mut starts),
            )?);
        }
        if let Some(pg) = &config.sinks.postgres {
            let specs = specs_for("postgres", &pg.outputs);
            let mut pg = pg.clone();
            pg.writer = writer;
            let mut sink = PostgresSink::open(pg.clone(), &specs).with_context(|| {
                format!(
                    "PostgreSQL at {} is not ready (run `chainflow migrate --postgres ...`)",
                    pg.redacted()
                )
            })?;
            if first {
                settings.start_epoch = settings.start_epoch.max(sink.next_epoch()?);
            }
            set.push(resumable(
                sink,
                specs,
                ingress,
                &config.chains,
                (&mut probes, &mut starts),
            )?);
        }
        if let Some(egress) = &config.sinks.nats {
            let specs = specs_for("nats", &egress.outputs);
            let mut egress = egress.clone();
            egress.writer = writer;
            let sink = EgressSink::open(egress, &specs)?;
            // New epochs must not reuse a stored message id. (With NATS ingress the epochs are
            // the stream's and replay identically: the start is set from the stream below.)
            if let Some(last) = sink.last_epoch() {
                settings.start_epoch = settings.start_epoch.max(last + 1);
            }
            set.push((Box::new(sink), specs));
        }
        stateful.push(set);
    }
    // Every chain restarts at the earliest block any sink needs.
    for (i, from) in starts {
        if let Some(chain) = config.chains.get_mut(i) {
            chain.start_block = Some(from);
        }
    }
    // Console and JSONL take what `[outputs]` routes to them (everything by default); every
    // writer hands them its share.
    let mut shared: Vec<Shared> = Vec::new();
    for sink in sinks {
        let takes = all_specs
            .iter()
            .filter(|s| {
                config
                    .routes(s.name, sink.name())
                    .unwrap_or_else(|| sink.accepts(s.name))
            })
            .map(|s| s.name.to_string())
            .collect();
        shared.push(Shared::new(
            Box::new(Routed::new(sink, takes)),
            local_writers.len(),
        ));
    }
    let mut sets: Vec<Vec<Box<dyn Sink>>> = Vec::new();
    for set in stateful {
        let mut routed: Vec<Box<dyn Sink>> = shared
            .iter()
            .map(|s| Box::new(s.clone()) as Box<dyn Sink>)
            .collect();
        for (sink, specs) in set {
            routed.push(Box::new(Routed::new(
                sink,
                specs.iter().map(|s| s.name.to_string()).collect(),
            )));
        }
        sets.push(routed);
    }
    drop(shared);
    let mut nats_ingress = None;
    let source: Box<dyn Iterator<Item = Result<SourceEvent, SourceError>>> = if let Some(nats) =
        &config.nats
    {
        let (handle, source) = Ingress::start(
            nats,
            Arc::clone(&control.durable),
            Arc::clone(&control.shutdown),
        )?;
        settings.start_epoch = handle.first_epoch;
        nats_ingress = Some(handle);
        Box::new(source)
    } else if let (true, Some(rollup)) = (config.chains.is_empty(), &config.rollup_devnet) {
        tracing::info!(
            l1_chain_id = rollup.l1_chain_id,
            l2_chain_id = rollup.l2_chain_id,
            seed = rollup.seed,
            dataflows = ?config.dataflows.enabled,
            "running the rollup devnet"
        );
        Box::new(crate::sources::rollup_devnet::RollupDevnet::new(
            rollup.clone(),
        )?)
    } else if config.chains.is_empty() {
        tracing::info!(
            chain_id = config.devnet.chain_id,
            seed = config.devnet.seed,
            dataflows = ?config.dataflows.enabled,
            "running devnet"
        );
        Box::new(Devnet::new(config.devnet.clone())?)
    } else {
        if let (Some(((process, processes), end_block)), Some(plan)) = (split, &replay) {
            settings.partitioned = true;
            for chain in &mut config.chains {
                chain.share = Some(crate::sources::rpc::RangeShare {
                    process,
                    processes,
                    blocks_per_epoch: plan.blocks_per_epoch as u64,
                    start_epoch: settings.start_epoch,
                    end_block,
                    follow: plan.follow,
                });
            }
            tracing::info!(
                process,
                processes,
                end_block,
                follow = plan.follow,
                "replay across processes: this process reads every {processes}th epoch of the range's final part{}",
                if plan.follow {
                    ", then the chain is followed on from its end (by process 0, which relays it to the others)"
                } else {
                    ""
                }
            );
        }
        // Across processes, live following reads the chain once: process 0 follows it and
        // relays every whole-chain event to the others, so every process feeds the same
        // events at the same epochs (see `sources::relay`). A replay's split part is each
        // process's own.
        let follows = split.is_none() || replay.as_ref().is_some_and(|p| p.follow);
        let relay = match (cluster, &relay_address) {
            (Some((process, processes)), Some(address)) if follows => {
                Some((process, processes, address.clone()))
            }
            (Some(_), None) if follows => bail!(
                "no address for process 0 to relay the chain's events to the others at: set [engine] relay (host:port) or give the hostfile ports below 65535"
            ),
            _ => None,
        };
        tracing::info!(chains = config.chains.len(), dataflows = ?config.dataflows.enabled, "following chains over JSON-RPC");
        match relay {
            None => Box::new(RpcSource::start(
                config.chains.clone(),
                control.shutdown.clone(),
            )?),
            Some((0, processes, address)) => {
                let leader = relay::Leader::accept(&address, processes, &control.shutdown)?;
                tracing::info!(
                    processes,
                    "this process follows the chain and relays its events to the others"
                );
                Box::new(leader.relay(RpcSource::start(
                    config.chains.clone(),
                    control.shutdown.clone(),
                )?))
            }
            Some((process, processes, address)) => {
                let follower = relay::Follower::connect(
                    &address,
                    (process, processes),
                    control.shutdown.clone(),
                )?;
                tracing::info!(
                    process,
                    "this process takes the chain's events from process 0"
                );
                if split.is_some() {
                    // Its own share of the range first, then what process 0 relays.
                    let mut chains = config.chains.clone();
                    for chain in &mut chains {
                        if let Some(share) = chain.share.as_mut() {
                            share.follow = false;
                        }
                    }
                    // The share's source stops its threads with a flag of its own when it
                    // ends (dropped, it raises the flag it was given): not the run's.
                    let share_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                    Box::new(RpcSource::start(chains, share_stop)?.chain(follower))
                } else {
                    Box::new(follower)
                }
            }
        }
    };
    tracing::info!(
        start_epoch = settings.start_epoch,
        "epochs of this run start here"
    );
    let progress = match (&replay, replay_end) {
        (Some(plan), Some(end)) => Some(crate::progress::Progress::start(
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

/// A sink that keeps state (ClickHouse, PostgreSQL, NATS egress) and the outputs it takes.
type Stateful = (Box<dyn Sink>, Vec<OutputSpec>);

/// A stateful sink wrapped for where the run resumes: with NATS ingress (whose epochs replay
/// identically) it skips the epochs it holds; otherwise it rebuilds and reconciles from its
/// safe block ([`plan_restart`], which lowers `starts`).
fn resumable<S: StoredState + Sink + 'static>(
    mut sink: S,
    specs: Vec<OutputSpec>,
    ingress: bool,
    chains: &[ChainConfig],
    (probes, starts): (&mut [Option<NodeProbe>], &mut BTreeMap<usize, u64>),
) -> Result<Stateful> {
    if ingress {
        let committed = committed_epochs(&mut sink)?;
        return Ok((
            Box::new(SkipCommitted::new(Box::new(sink), committed)),
            specs,
        ));
    }
    let plans = plan_restart(&mut sink, &specs, chains, probes, starts)?;
    if plans.is_empty() {
        Ok((Box::new(sink), specs))
    } else {
        Ok((Box::new(Reconcile::new(sink, &plans)), specs))
    }
}

/// Plans the restart of every chain from what `sink` holds (see [`crate::sinks::reconcile`]);
/// lowers `starts[chain index]` to each plan's first block.
fn plan_restart<S: StoredState + Sink>(
    sink: &mut S,
    specs: &[OutputSpec],
    chains: &[ChainConfig],
    probes: &mut [Option<NodeProbe>],
    starts: &mut BTreeMap<usize, u64>,
) -> Result<BTreeMap<ChainId, ChainResume>> {
    let mut plans = BTreeMap::new();
    if chains.is_empty() {
        return Ok(plans);
    }
    let progress = sink.progress()?;
    let name = sink.name().to_string();
    for (i, chain) in chains.iter().enumerate() {
        let probe = match &mut probes[i] {
            Some(p) => p,
            slot => slot.insert(NodeProbe::connect(chain)?),
        };
        let id = probe.chain_id();
        let plan = reconcile::plan(
            id,
            specs,
            &progress,
            chain.start_block,
            &mut |spec| {
                sink.lowest(spec, id)
                    .map_err(|e| PlanError::Read(e.to_string()))
            },
            &mut |n| {
                probe
                    .timestamp(n)
                    .map_err(|e| PlanError::Read(e.to_string()))
            },
        )
        .with_context(|| format!("cannot plan the restart of chain {id} for {name}"))?;
        let Some(plan) = plan else {
            continue;
        };
        tracing::info!(
            sink = %name,
            chain_id = id,
            from_block = plan.from_block,
            configured_start = ?chain.start_block,
            "restart: rebuilding from the sink's safe block; writing only the difference"
        );
        let start = starts.entry(i).or_insert(plan.from_block);
        *start = (*start).min(plan.from_block);
        plans.insert(id, plan);
    }
    Ok(plans)
}

/// Per output, the committed upper epoch of a stateful sink.
fn committed_epochs<S: StoredState>(sink: &mut S) -> Result<BTreeMap<String, Epoch>> {
    let mut committed = BTreeMap::new();
    for (name, p) in sink.progress()? {
        // A replay that skips committed epochs needs each writer's own resume point.
        if let Some(why) = p.uneven {
            bail!("{why}");
        }
        committed.insert(name, p.upper_epoch);
    }
    Ok(committed)
}

fn publish_heads(args: PublishArgs) -> Result<()> {
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

fn migrate(args: MigrateArgs) -> Result<()> {
    let config = Config::load(args.config.as_deref())?;
    let specs: Vec<_> = crate::dataflows::registry()
        .iter()
        .flat_map(|d| d.outputs())
        .collect();
    let want_pg = args.postgres.is_some() || config.sinks.postgres.is_some();
    let want_ch = args.clickhouse.is_some() || config.sinks.clickhouse.is_some() || !want_pg;
    if want_ch {
        let mut ch = config.sinks.clickhouse.clone().unwrap_or_default();
        if let Some(url) = args.clickhouse {
            ch.url = url;
        }
        if let Some(db) = args.database {
            ch.database = db;
        }
        let client = ch.client();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let applied = runtime.block_on(migrate::migrate(&client, &ch.database))?;
        runtime.block_on(migrate::check_schema(&client, &ch.database, &specs))?;
        if applied.is_empty() {
            println!("clickhouse {} database {}: up to date", ch.url, ch.database);
        } else {
            println!(
                "clickhouse {} database {}: applied migrations {applied:?}",
                ch.url, ch.database
            );
        }
    }
    if want_pg {
        let mut pg = config.sinks.postgres.clone().unwrap_or_default();
        if let Some(url) = args.postgres {
            pg.url = url;
        }
        if let Some(schema) = args.schema {
            pg.schema = schema;
        }
        let mut client = pg
            .connect()
            .with_context(|| format!("cannot connect to PostgreSQL at {}", pg.redacted()))?;
        let reconnect = || pg.connect();
        let (applied, mode) =
            pgmigrate::migrate(&mut client, &reconnect, &pg.schema, pg.timescale)?;
        pgmigrate::check_schema(&mut client, &pg.schema, &specs)?;
        let what = if applied.is_empty() {
            "up to date".to_string()
        } else {
            format!("applied migrations {applied:?}")
        };
        println!(
            "postgres {} schema {}: {what}; {mode}",
            pg.redacted(),
            pg.schema
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn timely_flags_are_split_out() {
        let (ours, timely) = split_timely_args(&s(&[
            "chainflow",
            "run",
            "-w",
            "2",
            "--max-blocks",
            "5",
            "--process=1",
        ]));
        assert_eq!(ours, s(&["chainflow", "run", "--max-blocks", "5"]));
        assert_eq!(timely, s(&["-w", "2", "--process", "1"]));
    }

    #[test]
    fn list_names_outputs_and_columns() {
        let text = list();
        assert!(text.contains("gas_fees"));
        assert!(text.contains("output gas_fees_blocks  key (chain_id, block_number)"));
        assert!(text.contains("priority_fee_p90"));
        assert!(text.contains("output gas_fees_minutes  key (chain_id, minute)"));
    }
}
