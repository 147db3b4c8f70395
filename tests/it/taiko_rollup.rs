//! The `taiko` dataflow over two real nodes (anvil as the L1 with the protocol's contracts
//! compiled offline, anvil as the L2 with an anchor transaction first in every block), into
//! PostgreSQL and ClickHouse: after L1 reorgs that remove a proposal, a proof and a
//! verification, after L2 reorgs, and after a seeded storm on both chains, every output in
//! both databases equals the recompute (`taiko::plain`) from the two nodes' final canonical
//! chains.

use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chainflow::dataflows::taiko::events::L2_ANCHOR;
use chainflow::dataflows::taiko::{
    BATCH_BLOCKS, BATCH_L2, BATCH_PROOFS, BATCH_TIMES, BATCH_VERIFICATIONS, BATCHES, REORGS, Taiko,
    TaikoConfig, plain,
};
use chainflow::engine::dataflow::{Dataflow, OutputSpec, Value};
use chainflow::engine::{self, EngineError, EngineSettings, RunControl, RunSummary};
use chainflow::model::{Address, B256, Block};
use chainflow::sinks::Sink;
use chainflow::sinks::clickhouse::{ClickHouseConfig, ClickHouseSink};
use chainflow::sinks::postgres::{PostgresConfig, PostgresSink};
use chainflow::sources::rpc::client::{ClientConfig, NodeClient};
use chainflow::sources::rpc::{ChainConfig, RpcSource};

use crate::support::anvil::{Anvil, AnvilOpts, Rng, TxKind};
use crate::support::taiko_node::{Fork, TaikoL1, TaikoL2};
use crate::support::{clickhouse, postgres, wait_until};

const L2_CHAIN: u64 = 167_001;

/// The canonical chain of the node at `url`, from genesis to its head.
fn chain_of(url: &str) -> Vec<Block> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = NodeClient::connect(ClientConfig::new(url)).await.unwrap();
        let head = client.block_by_number(None).await.unwrap().unwrap().number;
        let blocks = client.blocks_by_number(0, head).await.unwrap();
        for pair in blocks.windows(2) {
            assert_eq!(
                pair[1].parent_hash, pair[0].hash,
                "the chain moved while read"
            );
        }
        blocks
    })
}

/// chainflow following the L1 and the L2 into PostgreSQL and ClickHouse.
struct Run {
    control: RunControl,
    handle: Option<JoinHandle<Result<RunSummary, EngineError>>>,
    /// The binary, for runs that are killed and restarted.
    child: Option<std::process::Child>,
    taiko: &'static Taiko,
    pg: PostgresConfig,
    ch: ClickHouseConfig,
}

impl Run {
    fn start(l1: &Anvil, l2: &Anvil, taiko: &'static Taiko, test: &str) -> Run {
        let pg = postgres::schema(test);
        let ch = clickhouse::database(test);
        let chains: Vec<ChainConfig> = [l1.ws_url(), l2.ws_url()]
            .into_iter()
            .map(|url| {
                let mut chain = ChainConfig::new(url);
                chain.start_block = Some(0);
                chain.finality_depth = 64;
                chain.blob_schedule = Some("prague".into());
                chain.poll_interval_ms = 50;
                chain
            })
            .collect();
        let control = RunControl::default();
        let specs = taiko.outputs();
        let (c, pgc, chc) = (control.clone(), pg.clone(), ch.clone());
        let handle = std::thread::spawn(move || {
            let source = RpcSource::start(chains, c.shutdown.clone())?;
            let sinks: Vec<Box<dyn Sink>> = vec![
                Box::new(PostgresSink::open(pgc, &specs).unwrap()),
                Box::new(ClickHouseSink::open(chc).unwrap()),
            ];
            let result = engine::run(
                &EngineSettings::default(),
                timely::Config::thread(),
                vec![taiko],
                source,
                sinks,
                &c,
            );
            if let Err(e) = &result {
                eprintln!("taiko run ended with an error: {e}");
            }
            result
        });
        Run {
            control,
            handle: Some(handle),
            child: None,
            taiko,
            pg,
            ch,
        }
    }

    /// The binary following `l1` and `l2` with `taiko`'s settings into the databases of
    /// `test` (created fresh when `fresh`, else as a previous run left them).
    fn binary(
        l1: &Anvil,
        l2: &Anvil,
        taiko: &'static Taiko,
        test: &str,
        fresh: bool,
        dir: &std::path::Path,
    ) -> Run {
        let (pg, ch) = if fresh {
            (postgres::schema(test), clickhouse::database(test))
        } else {
            let mut pg = PostgresConfig {
                url: postgres::url(),
                schema: format!("cf_{test}"),
                timescale: chainflow::sinks::postgres::migrate::TimescaleSetting::Off,
                ..PostgresConfig::default()
            };
            pg.delivery.batch_ms = 20;
            let mut ch = ClickHouseConfig {
                database: format!("cf_{test}"),
                ..ClickHouseConfig::default()
            };
            ch.delivery.batch_ms = 20;
            (pg, ch)
        };
        let c = &taiko.config().contracts;
        let role = |name: &str, a: Option<Address>| {
            a.map(|a| format!("{name} = \"{a}\"\n")).unwrap_or_default()
        };
        let config = format!(
            "[[chains]]\nrpc = \"{}\"\nstart_block = 0\npoll_interval_ms = 50\nblob_schedule = \"prague\"\n\
             [[chains]]\nrpc = \"{}\"\nstart_block = 0\npoll_interval_ms = 50\nblob_schedule = \"prague\"\n\
             [dataflows]\nenabled = [\"taiko\"]\n\
             [dataflows.taiko]\nl1_chain_id = {}\nl2_chain_id = {}\nl1_genesis_time = {}\n\
             [dataflows.taiko.contracts]\n{}{}{}{}{}{}{}{}\
             [sinks.console]\nenabled = false\n\
             [sinks.postgres]\nurl = \"{}\"\nschema = \"{}\"\ntimescale = \"off\"\nbatch_ms = 20\n\
             [sinks.clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\nbatch_ms = 20\n",
            l1.ws_url(),
            l2.ws_url(),
            taiko.config().l1_chain_id,
            taiko.config().l2_chain_id,
            taiko.config().l1_genesis_time,
            role("pacaya_inbox", c.pacaya_inbox),
            role("forced_inclusion_store", c.forced_inclusion_store),
            role("taiko_wrapper", c.taiko_wrapper),
            role("preconf_slasher", c.preconf_slasher),
            role("shasta_inbox", c.shasta_inbox),
            role("signal_service", c.signal_service),
            role("bond_manager", c.bond_manager),
            role("anchor", c.anchor),
            pg.url,
            pg.schema,
            ch.url,
            ch.database,
        );
        let path = dir.join("taiko.toml");
        std::fs::write(&path, config).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_chainflow"))
            .args(["run", "--quiet", "--config"])
            .arg(&path)
            .env("CHAINFLOW_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("run-{}.log", fresh))).unwrap())
            .spawn()
            .unwrap();
        Run {
            control: RunControl::default(),
            handle: None,
            child: Some(child),
            taiko,
            pg,
            ch,
        }
    }

    /// Whether the run is still going.
    fn alive(&mut self) -> bool {
        match (&self.handle, &mut self.child) {
            (Some(h), _) => !h.is_finished(),
            (None, Some(c)) => c.try_wait().unwrap().is_none(),
            (None, None) => false,
        }
    }

    /// `kill -9` of the binary.
    fn kill(mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// What each database holds of `spec`, as sorted rows (PostgreSQL, ClickHouse).
    fn stored(&self, spec: &OutputSpec) -> (Vec<Vec<Value>>, Vec<Vec<Value>>) {
        let rows = |m: BTreeMap<Vec<Value>, isize>| -> Vec<Vec<Value>> {
            for (row, n) in &m {
                assert_eq!(*n, 1, "{}: {row:?} stored {n} times", spec.name);
            }
            m.into_keys().collect()
        };
        (
            rows(postgres::rows(&self.pg, spec)),
            rows(clickhouse::current(&self.ch, spec)),
        )
    }

    /// Waits until both databases hold exactly the recompute of the nodes' chains for every
    /// output but `reorgs`; panics with the first difference after 60 s.
    fn converge(&mut self, l1: &Anvil, l2: &Anvil, what: &str) -> plain::Tables {
        let started = Instant::now();
        loop {
            let want = plain::recompute(
                self.taiko,
                &chain_of(&l1.http_url()),
                &chain_of(&l2.http_url()),
            );
            let mut diff = None;
            for spec in self.taiko.outputs() {
                if spec.name == REORGS {
                    continue;
                }
                let expected = want.get(spec.name).cloned().unwrap_or_default();
                let (pg, ch) = self.stored(&spec);
                for (db, got) in [("postgres", pg), ("clickhouse", ch)] {
                    if diff.is_none()
                        && let Some(d) = crate::support::rows::difference(&got, &expected)
                    {
                        diff = Some(format!("{db} {}: {d}", spec.name));
                    }
                }
            }
            let Some(diff) = diff else {
                return want;
            };
            assert!(self.alive(), "{what}: the run stopped; {diff}");
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: not converged after 60 s: {diff}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(mut self) -> RunSummary {
        self.control
            .shutdown
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap().unwrap()
    }
}

fn rows_of<'a>(tables: &'a plain::Tables, name: &str) -> &'a [Vec<Value>] {
    tables.get(name).map_or(&[], Vec::as_slice)
}

/// The `batch_times` row of batch `id` of `fork`, if any.
fn times_of(tables: &plain::Tables, fork: &str, id: u64) -> Option<Vec<Value>> {
    rows_of(tables, BATCH_TIMES)
        .iter()
        .find(|r| r[1] == Value::Text(fork.into()) && r[2] == Value::U64(id))
        .cloned()
}

fn plain_tx(node: &Anvil, salt: u64) -> (serde_json::Value, u64) {
    (
        node.tx_request(TxKind::DynamicFee, 3, 1_000_000 + u128::from(salt), salt),
        0,
    )
}

/// An L1 with the protocol's contracts, an L2 with the anchor, and the dataflow for them.
struct Nodes {
    l1: Anvil,
    l2: Anvil,
    inbox: TaikoL1,
    l2d: TaikoL2,
    taiko: &'static Taiko,
}

impl Nodes {
    fn start() -> Nodes {
        let l1 = Anvil::with(AnvilOpts::default());
        let l2 = Anvil::with(AnvilOpts {
            chain_id: L2_CHAIN,
            ..AnvilOpts::default()
        });
        let inbox = TaikoL1::deploy(&l1);
        let l2d = TaikoL2::install(&l2, L2_ANCHOR);
        let genesis = chain_of(&l1.http_url())[0].timestamp;
        let taiko: &'static Taiko = Box::leak(Box::new(Taiko::new(TaikoConfig {
            l1_chain_id: l1.chain_id(),
            l2_chain_id: l2.chain_id(),
            l1_genesis_time: genesis,
            l1_seconds_per_slot: 12,
            contracts: inbox.contracts(L2_ANCHOR),
        })));
        Nodes {
            l1,
            l2,
            inbox,
            l2d,
            taiko,
        }
    }
}

#[test]
fn taiko_outputs_follow_l1_and_l2_reorgs_into_postgres_and_clickhouse() {
    let Nodes {
        l1,
        l2,
        inbox,
        l2d,
        taiko,
    } = Nodes::start();
    for _ in 0..12 {
        l2d.mine_block(&l2, Fork::Pacaya, 2);
    }
    let mut run = Run::start(&l1, &l2, taiko, "taiko_rollup_reorgs");
    let proposer = 1;
    let prover = Address::repeat_byte(0x9e);

    // Batches 1 (L2 blocks 1..=4) and 2 (5..=8, forced, in a blob transaction), proved,
    // then batch 1 verified.
    inbox.propose_pacaya(&l1, proposer, 1, 4, 4, 1, 10_000, false, false);
    l1.mine(1);
    inbox.store_forced_inclusion_pacaya(&l1, 2, 2);
    inbox.propose_pacaya(&l1, proposer, 2, 8, 4, 2, 200_000, true, true);
    l1.mine(1);
    inbox.prove_pacaya(&l1, 2, prover, &[1, 2]);
    l1.mine(1);
    inbox.verify_pacaya(&l1, 2, 1, B256::repeat_byte(0x01));
    l1.mine(1);
    let t = run.converge(&l1, &l2, "two batches proved, one verified");
    assert_eq!(rows_of(&t, BATCHES).len(), 2);
    assert_eq!(rows_of(&t, BATCH_BLOCKS).len(), 8);
    assert_eq!(rows_of(&t, BATCH_L2).len(), 2);
    let one = times_of(&t, "pacaya", 1).unwrap();
    assert!(
        one[4] != Value::U64(0) && one[5] != Value::U64(0),
        "{one:?}"
    );

    // An L1 reorg of depth 2 takes the proof and the verification away.
    l1.reorg(2, &[plain_tx(&l1, 1)]);
    let t = run.converge(&l1, &l2, "proof and verification reorged out");
    assert!(rows_of(&t, BATCH_PROOFS).is_empty());
    assert!(rows_of(&t, BATCH_VERIFICATIONS).is_empty());
    let one = times_of(&t, "pacaya", 1).unwrap();
    assert_eq!((&one[4], &one[5]), (&Value::U64(0), &Value::U64(0)));

    // Batch 3 proposed, then reorged out of the L1: its rows and joins disappear.
    l2d.mine_block(&l2, Fork::Pacaya, 1);
    l2d.mine_block(&l2, Fork::Pacaya, 1);
    inbox.propose_pacaya(&l1, proposer, 3, 10, 2, 1, 5_000, false, false);
    l1.mine(1);
    let t = run.converge(&l1, &l2, "batch 3 proposed");
    assert!(times_of(&t, "pacaya", 3).is_some());
    l1.reorg(1, &[plain_tx(&l1, 2)]);
    let t = run.converge(&l1, &l2, "batch 3 reorged out");
    assert!(times_of(&t, "pacaya", 3).is_none());
    assert_eq!(rows_of(&t, BATCH_BLOCKS).len(), 8);

    // An L2 reorg of depth 3 (new blocks, an anchor first): l2_heads, the batch
    // sums and the rollups follow.
    let head = l2.head_number();
    let parent: B256 = l2.block_hash(head - 3).parse().unwrap();
    let mut txs = vec![(
        l2d.anchor_tx_request(&l2, Fork::Pacaya, head - 2, parent),
        0,
    )];
    txs.push((l2.tx_request(TxKind::DynamicFee, 4, 3_000_000_000, 77), 0));
    txs.push((l2.tx_request(TxKind::DynamicFee, 5, 2_000_000_000, 78), 1));
    l2.reorg(3, &txs);
    run.converge(&l1, &l2, "L2 reorg of depth 3");

    // Shasta: proposals, a forced inclusion, a proof with its checkpoint, a liveness-bond
    // slashing; then a seeded storm of both chains.
    inbox.save_forced_inclusion_shasta(&l1, 2, 1);
    inbox.propose_shasta(
        &l1,
        proposer,
        1,
        Address::repeat_byte(0xa1),
        &[(false, 2), (true, 1)],
        true,
    );
    l1.mine(1);
    inbox.propose_shasta(
        &l1,
        proposer,
        2,
        Address::repeat_byte(0xa1),
        &[(false, 1)],
        false,
    );
    l1.mine(1);
    inbox.prove_shasta(&l1, 2, 1, 1, 2, prover, 10, B256::repeat_byte(0x0a));
    inbox.settle_liveness_bond(&l1, 2, Address::repeat_byte(0xb1), prover, 1_000, 400, 600);
    l1.mine(1);
    let t = run.converge(&l1, &l2, "shasta proposals proved");
    let s1 = times_of(&t, "shasta", 1).unwrap();
    assert!(s1[5] != Value::U64(0), "a Shasta proof verifies: {s1:?}");

    let mut rng = Rng(0x7a1c0);
    let mut next_batch = 3;
    let mut made = 3;
    for step in 0..24u64 {
        match rng.below(6) {
            0 => {
                l2d.mine_block(&l2, Fork::Pacaya, 1 + rng.below(3) as usize);
            }
            1 => {
                let last = l2.head_number();
                let n = (last - 8).min(1 + rng.below(4)) as u16;
                inbox.propose_pacaya(
                    &l1,
                    proposer,
                    next_batch,
                    last,
                    n,
                    1,
                    1_000,
                    step % 3 == 0,
                    false,
                );
                next_batch += 1;
                l1.mine(1);
            }
            2 => {
                let ids: Vec<u64> = (1..next_batch).filter(|_| rng.below(2) == 0).collect();
                if !ids.is_empty() {
                    inbox.prove_pacaya(&l1, 2, prover, &ids);
                }
                inbox.verify_pacaya(&l1, 2, rng.below(next_batch), B256::repeat_byte(step as u8));
                l1.mine(1);
            }
            3 => {
                let depth = 1 + rng.below(2);
                l1.reorg(depth, &[plain_tx(&l1, 100 + step)]);
                made += 1;
            }
            4 => {
                let depth = 1 + rng.below(2);
                let head = l2.head_number();
                let parent: B256 = l2.block_hash(head - depth).parse().unwrap();
                let txs = vec![(
                    l2d.anchor_tx_request(&l2, Fork::Pacaya, head - depth + 1, parent),
                    0,
                )];
                l2.reorg(depth, &txs);
                made += 1;
            }
            _ => {
                inbox.slash_pacaya(
                    &l1,
                    2,
                    Address::repeat_byte(0xc1),
                    1,
                    next_batch - 1,
                    alloy_primitives::U256::from(5_000u64),
                );
                l1.mine(1);
            }
        }
    }
    let t = run.converge(&l1, &l2, "after the storm");
    assert!(rows_of(&t, BATCHES).len() >= 4);
    // The reorg log: at least one row per reorg made, never retracted, in both databases.
    let spec = taiko
        .outputs()
        .into_iter()
        .find(|s| s.name == REORGS)
        .unwrap();
    let (pg, ch) = run.stored(&spec);
    assert_eq!(pg, ch);
    // Reorgs made back to back (the storm does not wait between steps) may reach the tracker
    // as one: the log holds every reorg the engine applied, at least the three the test
    // waited for, on both chains.
    assert!(pg.len() >= 3, "{} reorg rows", pg.len());
    assert!(
        pg.len() <= made,
        "{} reorg rows for {made} reorgs made",
        pg.len()
    );
    let chains: std::collections::BTreeSet<&Value> = pg.iter().map(|r| &r[0]).collect();
    assert_eq!(chains.len(), 2, "reorgs of both chains recorded");
    let summary = run.stop();
    assert_eq!(summary.reorgs, pg.len() as u64, "{summary:?}");
}

#[test]
fn a_killed_taiko_run_restarts_exact_and_keeps_its_reorg_log() {
    let Nodes {
        l1,
        l2,
        inbox,
        l2d,
        taiko,
    } = Nodes::start();
    for _ in 0..10 {
        l2d.mine_block(&l2, Fork::Pacaya, 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let test = "taiko_rollup_restart";
    let mut run = Run::binary(&l1, &l2, taiko, test, true, dir.path());
    let prover = Address::repeat_byte(0x9e);
    inbox.propose_pacaya(&l1, 1, 1, 5, 5, 1, 1_000, false, false);
    l1.mine(1);
    inbox.propose_pacaya(&l1, 1, 2, 9, 4, 1, 1_000, false, false);
    l1.mine(1);
    inbox.prove_pacaya(&l1, 2, prover, &[1]);
    l1.mine(1);
    run.converge(&l1, &l2, "before the reorgs");
    l1.reorg(1, &[plain_tx(&l1, 9)]);
    let head = l2.head_number();
    let parent: B256 = l2.block_hash(head - 2).parse().unwrap();
    l2.reorg(
        2,
        &[(
            l2d.anchor_tx_request(&l2, Fork::Pacaya, head - 1, parent),
            0,
        )],
    );
    run.converge(&l1, &l2, "after a reorg on each chain");
    let spec = taiko
        .outputs()
        .into_iter()
        .find(|s| s.name == REORGS)
        .unwrap();
    let (before, _) = run.stored(&spec);
    assert!(before.len() >= 2, "{} reorg rows", before.len());
    run.kill();

    // While it is down: the proof comes back, batch 3 is proposed, and the L2 reorgs again.
    inbox.prove_pacaya(&l1, 2, prover, &[1, 2]);
    l1.mine(1);
    l2d.mine_block(&l2, Fork::Pacaya, 2);
    inbox.propose_pacaya(&l1, 1, 3, 11, 2, 1, 1_000, true, false);
    l1.mine(1);
    let head = l2.head_number();
    let parent: B256 = l2.block_hash(head - 1).parse().unwrap();
    l2.reorg(
        1,
        &[(l2d.anchor_tx_request(&l2, Fork::Pacaya, head, parent), 0)],
    );

    let mut run = Run::binary(&l1, &l2, taiko, test, false, dir.path());
    let t = run.converge(&l1, &l2, "after the restart");
    assert!(times_of(&t, "pacaya", 3).is_some());
    let two = times_of(&t, "pacaya", 2).unwrap();
    assert!(
        two[4] != Value::U64(0),
        "batch 2 proved while the run was down: {two:?}"
    );
    // The reorg log survived the restart: a restart applies no reorg and removes no row.
    let (pg, ch) = run.stored(&spec);
    assert_eq!(pg, ch);
    assert_eq!(pg, before, "the restart kept the reorg log as it was");
    // And a reorg after the restart is recorded.
    l1.reorg(1, &[plain_tx(&l1, 10)]);
    run.converge(&l1, &l2, "a reorg after the restart");
    wait_until(30, || {
        let (pg, _) = run.stored(&spec);
        if pg.len() > before.len() {
            assert!(before.iter().all(|r| pg.contains(r)));
            Ok(())
        } else {
            Err("no new reorg row".into())
        }
    });
    run.kill();
}
