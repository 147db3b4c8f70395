//! Opening what a run writes to: stateful sinks wrapped for where the run resumes (a
//! restart plan per chain, or the epochs to skip under NATS ingress).

use std::collections::BTreeMap;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::replay::ReplayPlan;
use super::run::Cluster;
use crate::config::Config;
use crate::engine::dataflow::Dataflow;
use crate::engine::source::{SourceError, SourceEvent};
use crate::engine::{self, EngineSettings, RunControl};
use crate::sinks::clickhouse::{ClickHouseSink, migrate};
use crate::sinks::console::ConsoleSink;
use crate::sinks::jsonl::JsonlSink;
use crate::sinks::nats::EgressSink;
use crate::sinks::postgres::PostgresSink;
use crate::sinks::{Routed, Shared};
use crate::sources::devnet::Devnet;
use crate::sources::nats::ingress::Ingress;
use crate::sources::relay;

use crate::engine::dataflow::OutputSpec;
use crate::engine::sink::Sink;
use crate::model::{ChainId, Epoch};
use crate::sinks::SkipCommitted;
use crate::sinks::reconcile::{self, ChainResume, PlanError, Reconcile, StoredState};
use crate::sources::rpc::{ChainConfig, NodeProbe, RpcSource};

/// Where the stateful sinks of a run resume: what [`resumable`] needs besides the sink.
pub struct Resume<'a> {
    /// NATS ingress: epochs replay identically, so a sink skips the ones it holds.
    pub ingress: bool,
    /// The chains followed over JSON-RPC (a restart plan per chain).
    pub chains: &'a [ChainConfig],
    /// A node probe per chain, opened on first use.
    pub probes: &'a mut [Option<NodeProbe>],
    /// Per chain index, the earliest block any sink's restart needs.
    pub starts: &'a mut BTreeMap<usize, u64>,
}

/// A sink that keeps state (ClickHouse, PostgreSQL, NATS egress) and the outputs it takes.
pub type Stateful = (Box<dyn Sink>, Vec<OutputSpec>);

/// A stateful sink wrapped for where the run resumes: with NATS ingress (whose epochs replay
/// identically) it skips the epochs it holds; otherwise it rebuilds and reconciles from its
/// safe block ([`plan_restart`], which lowers `starts`).
pub fn resumable<S: StoredState + Sink + 'static>(
    mut sink: S,
    specs: Vec<OutputSpec>,
    at: &mut Resume<'_>,
) -> Result<Stateful> {
    let Resume {
        ingress,
        chains,
        probes,
        starts,
    } = at;
    if *ingress {
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
pub fn plan_restart<S: StoredState + Sink>(
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
pub fn committed_epochs<S: StoredState>(sink: &mut S) -> Result<BTreeMap<String, Epoch>> {
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

/// Opens the sinks of every local writer: console and JSONL shared by all writers, and per
/// writer its own stateful sinks (ClickHouse, PostgreSQL, NATS egress) for the keys that hash
/// to it, each wrapped for where the run resumes. Raises `settings.start_epoch` above every
/// epoch a sink holds and moves each chain's start back to the block its restart needs.
pub fn sinks(
    config: &mut Config,
    dataflows: &[&'static dyn Dataflow],
    timely_config: &timely::Config,
    control: &RunControl,
    settings: &mut EngineSettings,
) -> Result<Vec<Vec<Box<dyn Sink>>>> {
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
    let local_writers = engine::local_writers(timely_config);
    let mut stateful: Vec<Vec<Stateful>> = Vec::new();
    // With NATS ingress epochs are stream sequences: the run replays the stream from its
    // first message and every sink skips the epochs it holds.
    let chains = config.chains.clone();
    let mut resume = Resume {
        ingress: config.nats.is_some(),
        chains: &chains,
        probes: &mut probes,
        starts: &mut starts,
    };
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
            set.push(resumable(sink, specs, &mut resume)?);
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
            set.push(resumable(sink, specs, &mut resume)?);
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
    Ok(sets)
}

/// The events a run reads.
pub(super) type Source = Box<dyn Iterator<Item = Result<SourceEvent, SourceError>>>;

/// The source of the run: NATS ingress, the rollup devnet, the devnet, or the configured
/// chains over JSON-RPC (split across processes for a replay, relayed by process 0 when
/// following live across processes). Returns the ingress handle to finish after the run.
pub fn source(
    config: &mut Config,
    settings: &mut EngineSettings,
    control: &RunControl,
    replay: Option<&ReplayPlan>,
    cluster: &Cluster,
) -> Result<(Source, Option<Ingress>)> {
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
        if let (Some(((process, processes), end_block)), Some(plan)) = (cluster.split, replay) {
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
        let follows = cluster.split.is_none() || replay.is_some_and(|p| p.follow);
        let relay = match (cluster.placement, &cluster.relay_address) {
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
                if cluster.split.is_some() {
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
    Ok((source, nats_ingress))
}
