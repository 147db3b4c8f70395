use std::collections::BTreeSet;

use super::*;
use crate::abi::taiko::{Contracts, TaikoEvent};

fn config(seed: u64, max_l1_blocks: u64) -> RollupDevnetConfig {
    RollupDevnetConfig {
        seed,
        max_l1_blocks: Some(max_l1_blocks),
        ..RollupDevnetConfig::default()
    }
}

fn run(cfg: RollupDevnetConfig) -> Vec<SourceEvent> {
    RollupDevnet::new(cfg)
        .unwrap()
        .map(|e| e.unwrap())
        .collect()
}

/// The canonical chains after applying `events`, checking every event on the way.
#[derive(Default)]
struct Chains {
    l1: Vec<Block>,
    l2: Vec<Block>,
    l1_reorgs: usize,
    l2_reorgs: usize,
    /// L2 heights whose sequencer a reorg changed.
    sequencer_changes: usize,
}

fn apply(cfg: &RollupDevnetConfig, events: &[SourceEvent]) -> Chains {
    let mut chains = Chains::default();
    let mut finalized = BTreeMap::from([(cfg.l1_chain_id, 0u64), (cfg.l2_chain_id, 0u64)]);
    let mut last_time = 0;
    for e in events {
        assert!(e.caught_up);
        assert_eq!(e.epoch, None);
        let new = e.event.new_blocks();
        assert!(!new.is_empty());
        let chain_id = new[0].chain_id;
        let (chain, reorgs) = if chain_id == cfg.l1_chain_id {
            (&mut chains.l1, &mut chains.l1_reorgs)
        } else {
            assert_eq!(chain_id, cfg.l2_chain_id);
            (&mut chains.l2, &mut chains.l2_reorgs)
        };
        let old = e.event.old();
        if !old.is_empty() {
            *reorgs += 1;
            assert!(old[0].number > finalized[&chain_id], "reorg below finality");
            let tail = chain.split_off(chain.len() - old.len());
            assert_eq!(tail, old, "a reorg removes exactly the canonical tail");
            assert_eq!(new.len(), old.len() + 1);
            for (o, n) in old.iter().zip(new) {
                assert_eq!(o.number, n.number);
                assert_ne!(o.hash, n.hash, "a new branch has new hashes");
                if chain_id == cfg.l2_chain_id && o.miner != n.miner {
                    chains.sequencer_changes += 1;
                }
            }
        }
        if let Some(parent) = chain.last() {
            assert_eq!(new[0].parent_hash, parent.hash);
        }
        chain.extend(new.iter().cloned());
        let tip = chain.last().unwrap().number;
        assert_eq!(
            e.finalized,
            Some((chain_id, tip.saturating_sub(cfg.finality_depth)))
        );
        finalized.insert(chain_id, tip.saturating_sub(cfg.finality_depth));
        // Events come in timestamp order of the blocks that were due.
        let due = new.last().unwrap().timestamp;
        assert!(due >= last_time, "events out of timestamp order");
        last_time = due;
    }
    chains
}

fn check_links(chain: &[Block]) {
    assert_eq!(chain[0].number, 1);
    for w in chain.windows(2) {
        assert_eq!(w[1].number, w[0].number + 1);
        assert_eq!(w[1].parent_hash, w[0].hash);
        assert!(w[1].timestamp > w[0].timestamp);
    }
}

fn check_block(block: &Block) {
    assert_eq!(
        block.gas_used,
        block.transactions.iter().map(|t| t.gas_used).sum::<u64>()
    );
    assert!(block.gas_used <= block.gas_limit);
    for (i, tx) in block.transactions.iter().enumerate() {
        assert_eq!(tx.index as usize, i);
        assert!(tx.effective_gas_price >= block.base_fee_per_gas);
        assert_eq!(tx.blob_count > 0, tx.tx_type == 3);
    }
    assert_eq!(
        block.blob_gas_used,
        block
            .transactions
            .iter()
            .map(|t| u64::from(t.blob_count))
            .sum::<u64>()
            * GAS_PER_BLOB
    );
    for (i, log) in block.logs.iter().enumerate() {
        assert_eq!(log.log_index as usize, i);
        let tx = &block.transactions[log.tx_index as usize];
        assert_eq!(log.tx_hash, tx.hash);
        assert!(tx.success, "a failed transaction has no logs");
    }
    assert!(
        block
            .logs
            .windows(2)
            .all(|w| w[0].tx_index <= w[1].tx_index)
    );
}

fn all_blocks(events: &[SourceEvent]) -> impl Iterator<Item = &Block> {
    events
        .iter()
        .flat_map(|e| e.event.old().iter().chain(e.event.new_blocks()))
}

fn kind(e: &TaikoEvent) -> &'static str {
    match e {
        TaikoEvent::BatchProposed(_) => "BatchProposed",
        TaikoEvent::BatchesProved(_) => "BatchesProved",
        TaikoEvent::BatchesVerified(_) => "BatchesVerified",
        TaikoEvent::ForcedInclusionStored(_) => "ForcedInclusionStored",
        TaikoEvent::ForcedInclusionConsumed(_) => "ForcedInclusionConsumed",
        TaikoEvent::ForcedInclusionProcessed(_) => "ForcedInclusionProcessed",
        TaikoEvent::Slashed(_) => "Slashed",
        TaikoEvent::PacayaAnchored(_) => "PacayaAnchored",
        TaikoEvent::Proposed(_) => "Proposed",
        TaikoEvent::Proved(_) => "Proved",
        TaikoEvent::ForcedInclusionSaved(_) => "ForcedInclusionSaved",
        TaikoEvent::CheckpointSaved(_) => "CheckpointSaved",
        TaikoEvent::LivenessBondSettled(_) => "LivenessBondSettled",
        TaikoEvent::ShastaAnchored(_) => "ShastaAnchored",
    }
}

fn roles(c: &Contracts) -> BTreeSet<Address> {
    [
        c.pacaya_inbox,
        c.forced_inclusion_store,
        c.taiko_wrapper,
        c.preconf_slasher,
        c.shasta_inbox,
        c.signal_service,
        c.bond_manager,
        c.anchor,
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn same_seed_gives_same_events() {
    let a = run(config(7, 150));
    let b = run(config(7, 150));
    let c = run(config(8, 150));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn canonical_chains_link_and_both_reorg() {
    let cfg = config(3, 500);
    let events = run(cfg.clone());
    let chains = apply(&cfg, &events);
    assert!(chains.l1_reorgs >= 1, "no L1 reorg");
    assert!(chains.l2_reorgs >= 1, "no L2 reorg");
    assert!(
        chains.sequencer_changes >= 1,
        "no reorg changed a sequencer"
    );
    assert_eq!(chains.l1.len(), 500);
    check_links(&chains.l1);
    check_links(&chains.l2);
    // The L2 runs six times as fast and stops with the L1.
    assert_eq!(chains.l2.len() as u64, 500 * 6 + 5);
    for block in all_blocks(&events) {
        check_block(block);
    }
}

#[test]
fn every_protocol_log_decodes_except_the_garbage() {
    let cfg = RollupDevnetConfig {
        slashing_rate: 0.05,
        garbage_log_rate: 0.05,
        forced_inclusion_every: 5,
        ..config(5, 600)
    };
    let events = run(cfg.clone());
    let roles = roles(&cfg.contracts);
    let (mut garbage, mut kinds) = (0, BTreeSet::new());
    for block in all_blocks(&events) {
        for log in &block.logs {
            let tx = &block.transactions[log.tx_index as usize];
            let decoded = cfg.contracts.decode(log);
            if tx.from == GARBAGE_SENDER {
                assert!(decoded.is_err(), "garbage decoded: {log:?}");
                garbage += 1;
            } else if roles.contains(&log.address) {
                let event = decoded.unwrap().expect("a protocol log is a Taiko event");
                kinds.insert(kind(&event));
            } else {
                assert_eq!(decoded.unwrap(), None);
            }
        }
    }
    assert!(garbage > 0, "no garbage log");
    let expected: BTreeSet<&str> = [
        "BatchProposed",
        "BatchesProved",
        "BatchesVerified",
        "ForcedInclusionStored",
        "ForcedInclusionConsumed",
        "ForcedInclusionProcessed",
        "Slashed",
        "PacayaAnchored",
        "Proposed",
        "Proved",
        "ForcedInclusionSaved",
        "CheckpointSaved",
        "LivenessBondSettled",
        "ShastaAnchored",
    ]
    .into_iter()
    .collect();
    assert_eq!(kinds, expected);
}

#[test]
fn protocol_is_consistent_on_the_canonical_l1() {
    let cfg = RollupDevnetConfig {
        l1_reorg_rate: 0.1,
        forced_inclusion_every: 4,
        ..config(9, 600)
    };
    let events = run(cfg.clone());
    // Orphaned L1 blocks carried proposals: the new branches re-proposed them.
    let orphaned_proposals = events
        .iter()
        .flat_map(|e| e.event.old())
        .flat_map(|b| &b.logs)
        .filter(|l| {
            matches!(
                cfg.contracts.decode(l),
                Ok(Some(TaikoEvent::BatchProposed(_) | TaikoEvent::Proposed(_)))
            )
        })
        .count();
    assert!(orphaned_proposals > 0);
    let chains = apply(&cfg, &events);
    let l2_tip = chains.l2.last().unwrap().number;
    let c = &cfg.contracts;

    let (mut next_batch, mut next_l2, mut proved, mut verified) = (1u64, 1u64, 0u64, 0u64);
    let mut pacaya_stored = BTreeSet::new();
    let mut forced_batches = 0;
    let (mut next_proposal, mut shasta_proved) = (1u64, 0u64);
    let mut parent_proposal_hash = None;
    let mut shasta_saved = BTreeSet::new();
    let mut shasta_forced = 0;
    let mut shasta_checkpoints = 0;
    for block in &chains.l1 {
        for tx in &block.transactions {
            let logs: Vec<&Log> = block
                .logs
                .iter()
                .filter(|l| l.tx_index == tx.index)
                .collect();
            let decoded: Vec<TaikoEvent> = logs
                .iter()
                .filter_map(|l| c.decode(l).ok().flatten())
                .collect();
            let consumed = decoded
                .iter()
                .filter(|e| matches!(e, TaikoEvent::ForcedInclusionConsumed(_)))
                .count();
            let processed = decoded
                .iter()
                .filter(|e| matches!(e, TaikoEvent::ForcedInclusionProcessed(_)))
                .count();
            assert_eq!(consumed, processed);
            let mut batches_in_tx = Vec::new();
            for (i, event) in decoded.iter().enumerate() {
                match event {
                    TaikoEvent::BatchProposed(p) => {
                        assert_eq!(p.meta.batchId, next_batch, "batch ids are consecutive");
                        next_batch += 1;
                        let first = p.info.lastBlockId + 1 - p.info.blocks.len() as u64;
                        assert_eq!(first, next_l2, "batches cover the L2 blocks in order");
                        next_l2 = p.info.lastBlockId + 1;
                        assert!(p.info.lastBlockId <= l2_tip);
                        let last = &chains.l2[p.info.lastBlockId as usize - 1];
                        assert_eq!(last.number, p.info.lastBlockId);
                        assert_eq!(p.info.lastBlockTimestamp, last.timestamp);
                        assert!(last.timestamp < block.timestamp);
                        assert_eq!(p.meta.proposer, tx.from);
                        assert_eq!(p.info.proposedIn, block.number);
                        assert_eq!(p.meta.infoHash, keccak256(p.info.abi_encode()));
                        assert_eq!(tx.tx_type, 3);
                        assert!((1..=3).contains(&p.info.blobHashes.len()));
                        batches_in_tx.push(p);
                    }
                    TaikoEvent::ForcedInclusionStored(s) => {
                        pacaya_stored.insert(s.forcedInclusion.blobHash);
                    }
                    TaikoEvent::ForcedInclusionConsumed(f) => {
                        let fi = &f.forcedInclusion;
                        assert!(pacaya_stored.remove(&fi.blobHash), "consumed unstored");
                        // Consumed, the forced batch, processed, then the normal batch.
                        let Some(TaikoEvent::BatchProposed(forced)) = decoded.get(i + 1) else {
                            panic!("no forced batch after the consumption");
                        };
                        assert_eq!(forced.info.blobHashes, vec![fi.blobHash]);
                        assert!(matches!(
                            decoded.get(i + 2),
                            Some(TaikoEvent::ForcedInclusionProcessed(_))
                        ));
                        forced_batches += 1;
                    }
                    TaikoEvent::BatchesProved(p) => {
                        assert_eq!(p.batchIds.len(), p.transitions.len());
                        for id in &p.batchIds {
                            assert_eq!(*id, proved + 1, "proofs follow the proposals");
                            proved = *id;
                        }
                        assert!(proved < next_batch, "proof of an unproposed batch");
                    }
                    TaikoEvent::BatchesVerified(v) => {
                        assert!(v.batchId > verified && v.batchId <= proved);
                        verified = v.batchId;
                    }
                    TaikoEvent::Proposed(p) => {
                        assert_eq!(p.id, U48::from(next_proposal));
                        next_proposal += 1;
                        assert_eq!(p.proposer, tx.from);
                        assert_eq!(tx.tx_type, 3);
                        if let Some(h) = parent_proposal_hash {
                            assert_eq!(p.parentProposalHash, h);
                        }
                        parent_proposal_hash = Some(keccak256(&logs[i].data));
                        for s in &p.sources {
                            if s.isForcedInclusion {
                                let h = s.blobSlice.blobHashes[0];
                                assert!(shasta_saved.remove(&h), "forced source unsaved");
                                shasta_forced += 1;
                            }
                        }
                        let normal = p.sources.last().unwrap();
                        assert!(!normal.isForcedInclusion);
                        assert_eq!(tx.blob_count as usize, normal.blobSlice.blobHashes.len());
                    }
                    TaikoEvent::ForcedInclusionSaved(s) => {
                        shasta_saved.insert(s.forcedInclusion.blobSlice.blobHashes[0]);
                    }
                    TaikoEvent::Proved(p) => {
                        let first_new = p.firstNewProposalId.to::<u64>();
                        let first = p.firstProposalId.to::<u64>();
                        let last = p.lastProposalId.to::<u64>();
                        assert_eq!(first_new, shasta_proved + 1);
                        assert!(first == first_new || first + 1 == first_new);
                        assert!(last >= first_new && last < next_proposal);
                        shasta_proved = last;
                        assert_eq!(p.actualProver, tx.from);
                        assert!(
                            decoded
                                .iter()
                                .any(|e| matches!(e, TaikoEvent::CheckpointSaved(_))),
                            "Proved without CheckpointSaved in its transaction"
                        );
                        shasta_checkpoints += 1;
                    }
                    _ => {}
                }
            }
            if let Some(last) = batches_in_tx.last() {
                assert_eq!(tx.blob_count as usize, last.info.blobHashes.len());
            }
        }
    }
    assert!(
        next_batch > 10 && proved > 5 && verified > 2,
        "{next_batch} {proved} {verified}"
    );
    assert!(forced_batches > 0 && shasta_forced > 0);
    assert!(next_proposal > 10 && shasta_proved > 5 && shasta_checkpoints > 0);
}

#[test]
fn every_l2_block_starts_with_the_anchor() {
    let cfg = config(11, 300);
    let events = run(cfg.clone());
    let anchor = cfg.contracts.anchor.unwrap();
    let sequencers: BTreeSet<Address> = (0..SEQUENCERS)
        .map(|i| addr(cfg.seed, SEQUENCER, i))
        .collect();
    let (mut pacaya, mut shasta) = (0, 0);
    for block in all_blocks(&events).filter(|b| b.chain_id == cfg.l2_chain_id) {
        let first = &block.transactions[0];
        assert_eq!(first.to, Some(anchor));
        assert_eq!(first.from, GOLDEN_TOUCH);
        assert!(block.transactions[1..].iter().all(|t| t.to != Some(anchor)));
        assert!(
            block.transactions[1..]
                .iter()
                .all(|t| t.effective_gas_price > block.base_fee_per_gas)
        );
        assert!(sequencers.contains(&block.miner));
        let log = &block.logs[0];
        assert_eq!((log.tx_index, log.address), (0, anchor));
        match cfg.contracts.decode(log).unwrap() {
            Some(TaikoEvent::PacayaAnchored(a)) => {
                assert_eq!(a.parentHash, block.parent_hash);
                pacaya += 1;
            }
            Some(TaikoEvent::ShastaAnchored(a)) => {
                assert!(a.anchorBlockNumber >= a.prevAnchorBlockNumber);
                shasta += 1;
            }
            other => panic!("not an anchor: {other:?}"),
        }
    }
    assert!(pacaya > 0 && shasta > 0, "{pacaya} {shasta}");
}

#[test]
fn single_fork_profiles_emit_only_their_fork() {
    for (fork, foreign) in [
        (
            RollupFork::Pacaya,
            ["Proposed", "Proved", "CheckpointSaved", "ShastaAnchored"],
        ),
        (
            RollupFork::Shasta,
            [
                "BatchProposed",
                "BatchesProved",
                "BatchesVerified",
                "PacayaAnchored",
            ],
        ),
    ] {
        let cfg = RollupDevnetConfig {
            fork,
            ..config(13, 200)
        };
        let events = run(cfg.clone());
        let kinds: BTreeSet<&str> = all_blocks(&events)
            .flat_map(|b| &b.logs)
            .filter_map(|l| cfg.contracts.decode(l).ok().flatten())
            .map(|e| kind(&e))
            .collect();
        for k in foreign {
            assert!(!kinds.contains(k), "{fork:?} emitted {k}");
        }
        assert!(kinds.len() >= 4, "{fork:?}: {kinds:?}");
    }
}

#[test]
fn invalid_settings_name_the_key() {
    let cases = [
        (
            RollupDevnetConfig {
                l2_chain_id: 1,
                ..RollupDevnetConfig::default()
            },
            "rollup_devnet.l2_chain_id",
        ),
        (
            RollupDevnetConfig {
                l1_reorg_max_depth: 64,
                ..RollupDevnetConfig::default()
            },
            "rollup_devnet.finality_depth",
        ),
        (
            RollupDevnetConfig {
                blocks_per_batch: [8, 4],
                ..RollupDevnetConfig::default()
            },
            "rollup_devnet.blocks_per_batch",
        ),
        (
            RollupDevnetConfig {
                slashing_rate: 1.5,
                ..RollupDevnetConfig::default()
            },
            "rollup_devnet.slashing_rate",
        ),
        (
            RollupDevnetConfig {
                contracts: Contracts {
                    bond_manager: None,
                    ..default_contracts()
                },
                ..RollupDevnetConfig::default()
            },
            "rollup_devnet.contracts.bond_manager",
        ),
        (
            RollupDevnetConfig {
                contracts: Contracts {
                    taiko_wrapper: default_contracts().pacaya_inbox,
                    ..default_contracts()
                },
                ..RollupDevnetConfig::default()
            },
            "rollup_devnet.contracts.taiko_wrapper",
        ),
    ];
    for (cfg, key) in cases {
        let err = RollupDevnet::new(cfg).err().unwrap().to_string();
        assert!(err.contains(key), "{err}");
    }
    // A Pacaya-only profile needs no Shasta contracts.
    let cfg = RollupDevnetConfig {
        fork: RollupFork::Pacaya,
        contracts: Contracts {
            shasta_inbox: None,
            signal_service: None,
            bond_manager: None,
            ..default_contracts()
        },
        ..RollupDevnetConfig::default()
    };
    assert!(RollupDevnet::new(cfg).is_ok());
}
