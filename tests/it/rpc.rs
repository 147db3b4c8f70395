//! chainflow following a real node (anvil) that makes real reorgs: after every change, every
//! `gas_fees` output equals a recompute from the node's canonical chain, read by the test
//! itself through plain JSON-RPC (`support::node_oracle`).

use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chainflow::dataflows::gas_fees::{self, GasFees};
use chainflow::engine::dataflow::{Dataflow, Value};
use chainflow::engine::{self, EngineError, EngineSettings, RunControl, RunSummary};
use chainflow::sinks::Sink;
use chainflow::sinks::memory::MemorySink;
use chainflow::sources::rpc::tracker::DeepReorgPolicy;
use chainflow::sources::rpc::{ChainConfig, RpcSource};

use crate::support::anvil::{Anvil, AnvilOpts, Rng, TxKind};
use crate::support::node_oracle::gas_fees_all_from_node;
use crate::support::wait_until;

type State = BTreeMap<Vec<Value>, isize>;

/// chainflow running in the background over one node.
pub(crate) struct Follower {
    control: RunControl,
    sink: MemorySink,
    handle: Option<JoinHandle<Result<RunSummary, EngineError>>>,
}

impl Follower {
    fn start(url: String, window: u64, policy: DeepReorgPolicy) -> Self {
        Self::start_many(vec![url], window, policy)
    }

    fn start_many(urls: Vec<String>, window: u64, policy: DeepReorgPolicy) -> Self {
        Self::start_with(urls, window, policy, Vec::new())
    }

    /// Follows `urls` writing to a memory sink and to `extra` sinks.
    pub(crate) fn start_with(
        urls: Vec<String>,
        window: u64,
        policy: DeepReorgPolicy,
        extra: Vec<Box<dyn Sink>>,
    ) -> Self {
        let chains: Vec<ChainConfig> = urls
            .into_iter()
            .map(|url| {
                let mut chain = ChainConfig::new(url);
                chain.start_block = Some(0);
                chain.finality_depth = window;
                chain.on_deep_reorg = policy;
                chain.blob_schedule = Some("prague".into());
                chain.poll_interval_ms = 50;
                chain
            })
            .collect();
        let control = RunControl::default();
        let sink = MemorySink::new();
        let (c, s) = (control.clone(), sink.clone());
        let handle = std::thread::spawn(move || {
            let source = RpcSource::start(chains, c.shutdown.clone())?;
            let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(s)];
            sinks.extend(extra);
            let result = engine::run(
                &EngineSettings::default(),
                timely::Config::thread(),
                vec![&GasFees],
                source,
                sinks,
                &c,
            );
            if let Err(e) = &result {
                eprintln!("follower ended with an error: {e}");
            }
            result
        });
        Follower {
            control,
            sink,
            handle: Some(handle),
        }
    }

    /// Accumulated state of `output`; every row must have multiplicity 1.
    fn state(&self, output: &str) -> State {
        let state = self.sink.current(output);
        for (row, count) in &state {
            assert_eq!(*count, 1, "{output}: row {row:?} has multiplicity {count}");
        }
        state
    }

    pub(crate) fn finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Waits until every output equals the node's recompute; panics with the difference after
    /// 30 s. Returns how long it took.
    pub(crate) fn converge(&self, anvil: &Anvil, what: &str) -> Duration {
        self.converge_all(&[anvil], what)
    }

    /// As [`Follower::converge`] over several nodes (chains) at once.
    fn converge_all(&self, nodes: &[&Anvil], what: &str) -> Duration {
        let started = Instant::now();
        let names: Vec<&str> = GasFees.outputs().iter().map(|o| o.name).collect();
        loop {
            let mut want: BTreeMap<&str, State> = BTreeMap::new();
            for anvil in nodes {
                for (name, rows) in gas_fees_all_from_node(&anvil.http_url(), 0).values() {
                    want.entry(name)
                        .or_default()
                        .extend(rows.into_iter().map(|r| (r, 1)));
                }
            }
            let got: BTreeMap<&str, State> = names.iter().map(|&n| (n, self.state(n))).collect();
            assert_eq!(
                want.keys().collect::<Vec<_>>(),
                got.keys().collect::<Vec<_>>(),
                "the node oracle gives every output"
            );
            if got == want {
                return started.elapsed();
            }
            if started.elapsed() > Duration::from_secs(30) || self.finished() {
                assert_eq!(
                    got[gas_fees::BLOCKS].len(),
                    want[gas_fees::BLOCKS].len(),
                    "{what}: block row count"
                );
                for name in &names {
                    assert_eq!(got[name], want[name], "{what}: {name}");
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn stop(mut self) -> Result<RunSummary, EngineError> {
        self.control
            .shutdown
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }

    /// Waits for the run to end by itself (an error) for at most 30 s.
    fn wait_end(mut self) -> Result<RunSummary, EngineError> {
        wait_until(30, || {
            if self.finished() {
                Ok(())
            } else {
                Err("the run did not end".into())
            }
        });
        self.handle.take().unwrap().join().unwrap()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.control
            .shutdown
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Sends `count` mixed transactions and mines one block.
pub(crate) fn block_with_txs(anvil: &Anvil, seed: u64, count: usize) {
    anvil.send_mix(seed, count);
    anvil.mine(1);
}

/// A fresh anvil node with the log contract and `blocks` blocks, block `i` with `i % spread`
/// transactions.
pub(crate) fn node_with_blocks(blocks: u64, spread: u64) -> Anvil {
    let anvil = Anvil::with(AnvilOpts::default());
    anvil.ensure_log_contract();
    for i in 0..blocks {
        block_with_txs(&anvil, i, (i % spread) as usize);
    }
    anvil
}

/// Replacement transactions for a reorg: a few of each non-blob kind, spread over the new
/// blocks, from accounts the mixes do not use last.
pub(crate) fn replacements(anvil: &Anvil, depth: u64, salt: u64) -> Vec<(serde_json::Value, u64)> {
    let kinds = [
        TxKind::DynamicFee,
        TxKind::Legacy,
        TxKind::LogCall,
        TxKind::AccessList,
    ];
    (0..depth.min(4))
        .map(|i| {
            let kind = kinds[i as usize % kinds.len()];
            let tip = 100_000_000 * (i as u128 + 1) + u128::from(salt % 1_000);
            (anvil.tx_request(kind, 19, tip, salt + i), i)
        })
        .collect()
}

#[test]
fn reorgs_of_depth_1_2_5_20_64_are_retracted_exactly() {
    let anvil = Anvil::with(AnvilOpts::default());
    anvil.ensure_log_contract();
    for i in 0..70 {
        if i % 3 == 0 {
            block_with_txs(&anvil, i, 6);
        } else {
            anvil.mine(1);
        }
    }
    let f = Follower::start(anvil.ws_url(), 64, DeepReorgPolicy::Halt);
    f.converge(&anvil, "initial 70 blocks");
    for (i, depth) in [1u64, 2, 5, 20, 64].into_iter().enumerate() {
        let before = anvil.block_hash(anvil.head_number());
        anvil.reorg(depth, &replacements(&anvil, depth, 1_000 * i as u64));
        assert_ne!(
            anvil.block_hash(anvil.head_number()),
            before,
            "anvil_reorg({depth}) changed the tip"
        );
        f.converge(&anvil, &format!("after a reorg of depth {depth}"));
        block_with_txs(&anvil, 500 + i as u64, 4);
        f.converge(
            &anvil,
            &format!("after a block on top of the depth-{depth} reorg"),
        );
    }
    let summary = f.stop().unwrap();
    assert!(summary.reorgs >= 5, "{summary:?}");
    assert!(summary.blocks_removed >= 1 + 2 + 5 + 20 + 64, "{summary:?}");
}

#[test]
fn a_seeded_storm_of_blocks_txs_and_reorgs_ends_exact() {
    let anvil = Anvil::with(AnvilOpts::default());
    anvil.ensure_log_contract();
    anvil.mine(5);
    let f = Follower::start(anvil.http_url(), 64, DeepReorgPolicy::Halt);
    let mut rng = Rng(0x5eed);
    let (mut reorgs, mut txs) = (0, 0);
    for step in 0..300u64 {
        let height = anvil.head_number();
        match rng.below(100) {
            0..=59 => {
                let n = rng.below(5) as usize;
                if n > 0 {
                    anvil.send_mix(step, n);
                    txs += n;
                }
                anvil.mine(1);
            }
            60..=79 => anvil.mine(1 + rng.below(3)),
            _ if height > 2 => {
                let depth = 1 + rng.below(height.min(64) - 1);
                anvil.reorg(depth, &replacements(&anvil, depth, 10_000 + step));
                reorgs += 1;
            }
            _ => anvil.mine(1),
        }
        if step % 100 == 99 {
            f.converge(&anvil, &format!("storm step {step}"));
        }
    }
    f.converge(&anvil, "end of the storm");
    assert!(
        reorgs >= 30 && txs >= 200,
        "storm too small: {reorgs} reorgs, {txs} txs"
    );
    assert!(
        anvil.head_number() >= 200,
        "storm too short: {} blocks",
        anvil.head_number()
    );
    f.stop().unwrap();
}

#[test]
fn a_websocket_drop_and_node_restart_neither_misses_nor_duplicates() {
    let mut anvil = Anvil::with(AnvilOpts {
        persistent: true,
        ..AnvilOpts::default()
    });
    for i in 0..10 {
        block_with_txs(&anvil, i, 3);
    }
    let f = Follower::start(anvil.ws_url(), 64, DeepReorgPolicy::Halt);
    f.converge(&anvil, "before the restart");
    anvil.restart_same_port();
    for i in 10..20 {
        block_with_txs(&anvil, i, 3);
    }
    f.converge(&anvil, "after the restart");
    let blocks = f.state(gas_fees::BLOCKS);
    assert_eq!(
        blocks.len() as u64,
        anvil.head_number() + 1,
        "one row per block, none twice"
    );
    f.stop().unwrap();
}

#[test]
fn a_reorg_deeper_than_the_window_stops_with_the_defined_error() {
    let anvil = Anvil::with(AnvilOpts::default());
    anvil.mine(30);
    let f = Follower::start(anvil.ws_url(), 8, DeepReorgPolicy::Halt);
    f.converge(&anvil, "before the deep reorg");
    let old_tip = anvil.block_hash(anvil.head_number());
    anvil.reorg(12, &[(anvil.tx_request(TxKind::DynamicFee, 19, 7, 1), 0)]);
    let err = f.wait_end().unwrap_err().to_string();
    assert!(err.contains("deep reorg"), "{err}");
    assert!(err.contains("chain 31337"), "{err}");
    assert!(err.contains("depth 12"), "{err}");
    assert!(err.contains("8-block window"), "{err}");
    assert!(
        err.contains(&old_tip),
        "the orphaned tip {old_tip} is named: {err}"
    );
}

#[test]
fn resync_policy_recovers_from_a_reorg_deeper_than_the_window() {
    let anvil = Anvil::with(AnvilOpts::default());
    anvil.mine(30);
    let f = Follower::start(anvil.ws_url(), 8, DeepReorgPolicy::Resync);
    f.converge(&anvil, "before the deep reorg");
    // Deeper than the 8-block window, but the blocks are still held because anvil has not
    // finalized them: with `resync` the reorg is applied instead of halting.
    anvil.reorg(12, &[(anvil.tx_request(TxKind::DynamicFee, 19, 7, 2), 0)]);
    f.converge(&anvil, "after a reorg deeper than the window");
    anvil.mine(2);
    f.converge(&anvil, "after more blocks");
    f.stop().unwrap();
}

#[test]
fn two_chains_in_one_run_each_follow_their_node_with_their_reorgs() {
    let l1 = Anvil::with(AnvilOpts::default());
    let l2 = Anvil::with(AnvilOpts {
        chain_id: 4242,
        ..AnvilOpts::default()
    });
    for i in 0..8 {
        block_with_txs(&l1, i, 3);
        block_with_txs(&l2, 100 + i, 2);
    }
    let f = Follower::start_many(vec![l1.ws_url(), l2.http_url()], 64, DeepReorgPolicy::Halt);
    f.converge_all(&[&l1, &l2], "both chains");
    l1.reorg(2, &replacements(&l1, 2, 77));
    l2.reorg(3, &replacements(&l2, 3, 88));
    block_with_txs(&l2, 200, 2);
    f.converge_all(&[&l1, &l2], "after a reorg on each chain");
    let chains: std::collections::BTreeSet<Value> = f
        .state(gas_fees::BLOCKS)
        .keys()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(
        chains,
        [Value::U64(31337), Value::U64(4242)].into_iter().collect()
    );
    let summary = f.stop().unwrap();
    assert!(summary.reorgs >= 2, "{summary:?}");
}

#[test]
fn the_binary_follows_a_node_with_rpc_and_stops_on_ctrl_c() {
    let anvil = Anvil::with(AnvilOpts::default());
    for i in 0..5 {
        block_with_txs(&anvil, i, 2);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chainflow"))
        .args([
            "run",
            "--quiet",
            "--start-block",
            "0",
            "--rpc",
            &anvil.ws_url(),
            "--jsonl",
        ])
        .arg(&path)
        .env("CHAINFLOW_LOG", "")
        .spawn()
        .unwrap();
    let rows = |text: &str| {
        text.lines()
            .filter(|l| l.contains("\"gas_fees_blocks\"") && l.contains("\"diff\":1"))
            .count()
    };
    wait_until(30, || {
        match rows(&std::fs::read_to_string(&path).unwrap_or_default()) {
            6 => Ok(()),
            seen => Err(format!("rows seen: {seen}")),
        }
    });
    anvil.mine(1);
    wait_until(30, || {
        if rows(&std::fs::read_to_string(&path).unwrap()) < 7 {
            Err("the new head did not arrive".into())
        } else {
            Ok(())
        }
    });
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert!(child.wait().unwrap().success());
}
