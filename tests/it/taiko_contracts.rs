//! The Taiko event emitters (`tests/it/fixtures/taiko/`) on real anvil nodes: every Pacaya
//! and Shasta event, sent with fixed argument values, comes back from the node's receipts
//! and decodes with `Contracts::decode` to exactly those values; the multicall puts several
//! contracts' logs in one transaction; every L2 block starts with the anchor transaction
//! (also after an `anvil_reorg`); the committed artifacts equal a fresh compile.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use alloy_primitives::aliases::U48;
use alloy_primitives::{Address, B256, U256, address, keccak256};
use alloy_sol_types::SolEvent;
use chainflow::dataflows::taiko::events::{Contracts, L2_ANCHOR, TaikoEvent, pacaya, shasta};
use serde_json::{Value, json};

use crate::support::anvil::{Anvil, AnvilOpts, TxKind, hex, hex_u64};
use crate::support::taiko_node::{
    FIXTURES_DIR, Fork, TaikoL1, TaikoL2, account, anchored, checkpoint_state_root, pacaya_batch,
    pacaya_forced_inclusion, pacaya_slashed, pacaya_transition, receipt, rpc_log,
    shasta_forced_inclusion, shasta_proposal, tx_logs, zero_blob_hash,
};

/// topic0 of every event the decoder knows, by canonical signature.
fn decoder_events() -> BTreeMap<&'static str, B256> {
    [
        (
            pacaya::BatchProposed::SIGNATURE,
            pacaya::BatchProposed::SIGNATURE_HASH,
        ),
        (
            pacaya::BatchesProved::SIGNATURE,
            pacaya::BatchesProved::SIGNATURE_HASH,
        ),
        (
            pacaya::BatchesVerified::SIGNATURE,
            pacaya::BatchesVerified::SIGNATURE_HASH,
        ),
        (
            pacaya::ForcedInclusionStored::SIGNATURE,
            pacaya::ForcedInclusionStored::SIGNATURE_HASH,
        ),
        (
            pacaya::ForcedInclusionConsumed::SIGNATURE,
            pacaya::ForcedInclusionConsumed::SIGNATURE_HASH,
        ),
        (
            pacaya::ForcedInclusionProcessed::SIGNATURE,
            pacaya::ForcedInclusionProcessed::SIGNATURE_HASH,
        ),
        (pacaya::Slashed::SIGNATURE, pacaya::Slashed::SIGNATURE_HASH),
        (
            pacaya::Anchored::SIGNATURE,
            pacaya::Anchored::SIGNATURE_HASH,
        ),
        (
            shasta::Proposed::SIGNATURE,
            shasta::Proposed::SIGNATURE_HASH,
        ),
        (shasta::Proved::SIGNATURE, shasta::Proved::SIGNATURE_HASH),
        (
            shasta::ForcedInclusionSaved::SIGNATURE,
            shasta::ForcedInclusionSaved::SIGNATURE_HASH,
        ),
        (
            shasta::CheckpointSaved::SIGNATURE,
            shasta::CheckpointSaved::SIGNATURE_HASH,
        ),
        (
            shasta::LivenessBondSettled::SIGNATURE,
            shasta::LivenessBondSettled::SIGNATURE_HASH,
        ),
        (
            shasta::Anchored::SIGNATURE,
            shasta::Anchored::SIGNATURE_HASH,
        ),
    ]
    .into_iter()
    .collect()
}

/// Canonical type of an ABI JSON parameter (`tuple` expanded to its components).
fn abi_type(p: &Value) -> String {
    let ty = p["type"].as_str().unwrap();
    match ty.strip_prefix("tuple") {
        Some(suffix) => {
            let inner: Vec<String> = p["components"]
                .as_array()
                .unwrap()
                .iter()
                .map(abi_type)
                .collect();
            format!("({}){suffix}", inner.join(","))
        }
        None => ty.to_owned(),
    }
}

fn abi_signature(item: &Value) -> String {
    let params: Vec<String> = item["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(abi_type)
        .collect();
    format!("{}({})", item["name"].as_str().unwrap(), params.join(","))
}

/// The compiled ABIs declare exactly the decoder's events (same canonical signature, so the
/// same topic0), each with its `emit<Event>` function.
#[test]
fn compiled_abis_declare_the_real_events() {
    let known = decoder_events();
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(FIXTURES_DIR).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(contract) = name.strip_suffix(".abi.json") else {
            continue;
        };
        let abi: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let items = abi.as_array().unwrap();
        let functions: BTreeSet<String> = items
            .iter()
            .filter(|i| i["type"] == "function")
            .map(abi_signature)
            .collect();
        for event in items.iter().filter(|i| i["type"] == "event") {
            let sig = abi_signature(event);
            let topic0 = known
                .get(sig.as_str())
                .unwrap_or_else(|| panic!("{contract}: event {sig} is not one the decoder knows"));
            assert_eq!(keccak256(&sig), *topic0, "{contract}: {sig}");
            assert!(
                functions.contains(&format!("emit{sig}")),
                "{contract}: no emit{sig}"
            );
            seen.insert(sig);
        }
    }
    let all: BTreeSet<String> = known.keys().map(|s| (*s).to_owned()).collect();
    assert_eq!(seen, all, "every decoder event has an emitter");
}

/// `solc` (solcjs, installed by scripts/services.sh) recompiles the source to exactly the
/// committed artifacts, and every committed artifact is one the script writes.
#[test]
fn committed_artifacts_equal_a_fresh_compile() {
    let root = env!("CARGO_MANIFEST_DIR");
    let solc = Path::new(root).join("tools/node_modules/solc/package.json");
    assert!(
        std::env::var_os("SOLCJS").is_some() || solc.exists(),
        "solcjs is not installed ({} missing): run scripts/services.sh",
        solc.display()
    );
    let out = tempfile::tempdir().unwrap();
    let run = Command::new("bash")
        .arg(Path::new(root).join("scripts/compile-taiko-contracts.sh"))
        .arg(out.path())
        .output()
        .expect("run scripts/compile-taiko-contracts.sh");
    assert!(
        run.status.success(),
        "compile-taiko-contracts.sh failed ({}): {}{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let list = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".bin") || n.ends_with(".abi.json"))
            .collect()
    };
    let fresh = list(out.path());
    let committed = list(Path::new(FIXTURES_DIR));
    assert_eq!(committed, fresh, "artifact files");
    assert_eq!(fresh.len(), 27, "9 contracts x (creation, runtime, ABI)");
    for name in &fresh {
        let a = std::fs::read_to_string(Path::new(FIXTURES_DIR).join(name)).unwrap();
        let b = std::fs::read_to_string(out.path().join(name)).unwrap();
        assert!(
            a == b,
            "{name} differs from a fresh compile: run scripts/compile-taiko-contracts.sh"
        );
    }
}

/// One sent transaction and the (emitter, event) pairs its receipt must hold, in order.
struct Sent {
    what: &'static str,
    hash: String,
    expected: Vec<(Address, TaikoEvent)>,
}

#[test]
fn pacaya_and_shasta_logs_from_a_real_node_decode_to_the_sent_values() {
    let l1 = Anvil::start();
    let node = TaikoL1::deploy(&l1);
    let contracts = node.contracts(L2_ANCHOR);
    for a in [
        node.pacaya_inbox,
        node.forced_inclusion_store,
        node.taiko_wrapper,
        node.preconf_slasher,
        node.shasta_inbox,
        node.signal_service,
        node.bond_manager,
        node.multicall,
    ] {
        let code = l1.rpc("eth_getCode", json!([a.to_string(), "latest"]));
        assert!(code.as_str().unwrap().len() > 2, "no code at {a}");
    }

    let verifier = address!("00000000000000000000000000000000000000ee");
    let committer = address!("00000000000000000000000000000000000000f2");
    let shasta_proposer = address!("00000000000000000000000000000000000000aa");
    let prover = address!("00000000000000000000000000000000000000bb");
    let (payer, payee) = (
        address!("00000000000000000000000000000000000000c1"),
        address!("00000000000000000000000000000000000000c2"),
    );
    let verified_hash = B256::repeat_byte(0x66);
    let checkpoint_hash = B256::repeat_byte(0x77);
    let one_eth = U256::from(10u64).pow(U256::from(18));

    let fi11 = pacaya_forced_inclusion(11);
    let calldata_batch = pacaya_batch(account(&l1, 2), 10, 100, 3, 0, 512, false);
    let blob_batch = pacaya_batch(account(&l1, 3), 11, 104, 4, 2, 200_000, true);
    let shasta_sources = [(true, 1), (false, 2)];
    let mut sent = vec![
        Sent {
            what: "ForcedInclusionStored",
            hash: node.store_forced_inclusion_pacaya(&l1, 1, 11),
            expected: vec![(
                node.forced_inclusion_store,
                TaikoEvent::ForcedInclusionStored(pacaya::ForcedInclusionStored {
                    forcedInclusion: fi11.clone(),
                }),
            )],
        },
        Sent {
            what: "BatchProposed (calldata)",
            hash: node.propose_pacaya(&l1, 2, 10, 100, 3, 0, 512, false, false),
            expected: vec![(
                node.pacaya_inbox,
                TaikoEvent::BatchProposed(calldata_batch.clone()),
            )],
        },
        Sent {
            what: "forced BatchProposed (blobs)",
            hash: node.propose_pacaya(&l1, 3, 11, 104, 4, 2, 200_000, true, true),
            expected: vec![
                (
                    node.taiko_wrapper,
                    TaikoEvent::ForcedInclusionProcessed(pacaya::ForcedInclusionProcessed {
                        forcedInclusion: fi11.clone(),
                    }),
                ),
                (
                    node.forced_inclusion_store,
                    TaikoEvent::ForcedInclusionConsumed(pacaya::ForcedInclusionConsumed {
                        forcedInclusion: fi11.clone(),
                    }),
                ),
                (
                    node.pacaya_inbox,
                    TaikoEvent::BatchProposed(blob_batch.clone()),
                ),
            ],
        },
        Sent {
            what: "BatchesProved",
            hash: node.prove_pacaya(&l1, 4, verifier, &[10, 11]),
            expected: vec![(
                node.pacaya_inbox,
                TaikoEvent::BatchesProved(pacaya::BatchesProved {
                    verifier,
                    batchIds: vec![10, 11],
                    transitions: vec![pacaya_transition(10), pacaya_transition(11)],
                }),
            )],
        },
        Sent {
            what: "BatchesVerified",
            hash: node.verify_pacaya(&l1, 5, 11, verified_hash),
            expected: vec![(
                node.pacaya_inbox,
                TaikoEvent::BatchesVerified(pacaya::BatchesVerified {
                    batchId: 11,
                    blockHash: verified_hash,
                }),
            )],
        },
        Sent {
            what: "Slashed",
            hash: node.slash_pacaya(&l1, 6, committer, 2, 11, one_eth),
            expected: vec![(
                node.preconf_slasher,
                TaikoEvent::Slashed(pacaya_slashed(committer, 2, 11, one_eth)),
            )],
        },
        Sent {
            what: "ForcedInclusionSaved",
            hash: node.save_forced_inclusion_shasta(&l1, 7, 1),
            expected: vec![(
                node.shasta_inbox,
                TaikoEvent::ForcedInclusionSaved(shasta::ForcedInclusionSaved {
                    forcedInclusion: shasta_forced_inclusion(1),
                }),
            )],
        },
        Sent {
            what: "Proposed (blobs)",
            hash: node.propose_shasta(&l1, 8, 1, shasta_proposer, &shasta_sources, true),
            expected: vec![(
                node.shasta_inbox,
                TaikoEvent::Proposed(shasta_proposal(1, shasta_proposer, &shasta_sources, true)),
            )],
        },
        Sent {
            what: "CheckpointSaved + Proved",
            hash: node.prove_shasta(&l1, 9, 1, 1, 1, prover, 150, checkpoint_hash),
            expected: vec![
                (
                    node.signal_service,
                    TaikoEvent::CheckpointSaved(shasta::CheckpointSaved {
                        blockNumber: U48::from(150),
                        blockHash: checkpoint_hash,
                        stateRoot: checkpoint_state_root(checkpoint_hash),
                    }),
                ),
                (
                    node.shasta_inbox,
                    TaikoEvent::Proved(shasta::Proved {
                        firstProposalId: U48::from(1),
                        firstNewProposalId: U48::from(1),
                        lastProposalId: U48::from(1),
                        actualProver: prover,
                    }),
                ),
            ],
        },
        Sent {
            what: "LivenessBondSettled",
            hash: node.settle_liveness_bond(&l1, 10, payer, payee, 125, 60, 65),
            expected: vec![(
                node.bond_manager,
                TaikoEvent::LivenessBondSettled(shasta::LivenessBondSettled {
                    payer,
                    payee,
                    livenessBond: 125,
                    credited: 60,
                    slashed: 65,
                }),
            )],
        },
    ];
    // The senders only send: nothing is mined until the test mines.
    assert_eq!(l1.pool_len(), sent.len() as u64);
    l1.mine(1);
    assert_eq!(l1.pool_len(), 0, "everything fits one block");
    let head = l1.head_number();

    let mut all_logs = Vec::new();
    for s in &mut sent {
        let logs = tx_logs(&l1, &s.hash);
        assert_eq!(
            hex_u64(&receipt(&l1, &s.hash)["blockNumber"]),
            head,
            "{}",
            s.what
        );
        assert_eq!(logs.len(), s.expected.len(), "{}: logs", s.what);
        for (log, (address, event)) in logs.iter().zip(&s.expected) {
            assert_eq!(log.address, *address, "{}: emitter", s.what);
            assert_eq!(log.tx_hash, s.hash.parse::<B256>().unwrap(), "{}", s.what);
            let decoded = contracts
                .decode(log)
                .unwrap_or_else(|e| panic!("{}: {e}", s.what));
            assert_eq!(decoded.as_ref(), Some(event), "{}: decoded", s.what);
        }
        // consecutive log indexes within the transaction, one transaction index
        for w in logs.windows(2) {
            assert_eq!(w[1].log_index, w[0].log_index + 1, "{}", s.what);
            assert_eq!(w[1].tx_index, w[0].tx_index, "{}", s.what);
        }
        all_logs.extend(logs);
    }

    // The same logs through eth_getLogs (the path a log indexer takes).
    let by_filter: Vec<_> = l1
        .rpc(
            "eth_getLogs",
            json!([{"fromBlock": hex(head), "toBlock": hex(head)}]),
        )
        .as_array()
        .unwrap()
        .iter()
        .map(rpc_log)
        .collect();
    let mut sorted = all_logs.clone();
    sorted.sort_by_key(|l| l.log_index);
    assert_eq!(by_filter, sorted, "eth_getLogs = the receipts' logs");
    assert_eq!(by_filter.len(), 13);

    // Spot checks against the literal values sent, not only against the builders.
    let decoded: Vec<TaikoEvent> = all_logs
        .iter()
        .map(|l| contracts.decode(l).unwrap().unwrap())
        .collect();
    let TaikoEvent::BatchProposed(b) = &decoded[1] else {
        panic!("not BatchProposed: {:?}", decoded[1]);
    };
    assert_eq!(
        (b.meta.batchId, b.info.lastBlockId, b.info.blocks.len()),
        (10, 100, 3)
    );
    assert_eq!(
        b.txList.len(),
        512,
        "calldata DA: the tx list is in the event"
    );
    assert!(b.info.blobHashes.is_empty());
    assert_eq!(b.meta.proposer, account(&l1, 2));
    let TaikoEvent::BatchProposed(b) = &decoded[4] else {
        panic!("not BatchProposed: {:?}", decoded[4]);
    };
    assert_eq!(
        (
            b.meta.batchId,
            b.info.lastBlockId,
            b.info.blocks.len(),
            b.info.blobByteSize
        ),
        (11, 104, 4, 200_000)
    );
    assert_eq!(b.info.blobHashes, vec![zero_blob_hash(); 2]);
    assert!(b.txList.is_empty());
    let TaikoEvent::ForcedInclusionProcessed(f) = &decoded[2] else {
        panic!("not ForcedInclusionProcessed: {:?}", decoded[2]);
    };
    assert_eq!(f.forcedInclusion.createdAtBatchId, 10);
    let TaikoEvent::BatchesProved(p) = &decoded[5] else {
        panic!("not BatchesProved: {:?}", decoded[5]);
    };
    assert_eq!((p.verifier, p.batchIds.clone()), (verifier, vec![10, 11]));
    assert_eq!(p.transitions[1].parentHash, p.transitions[0].blockHash);
    let TaikoEvent::Slashed(s) = &decoded[7] else {
        panic!("not Slashed: {:?}", decoded[7]);
    };
    assert_eq!(
        (s.committer, s.violationType, s.slashAmount),
        (committer, 2, one_eth)
    );
    assert_eq!(s.commitmentPayload.batchId, U256::from(11));
    let TaikoEvent::Proposed(p) = &decoded[9] else {
        panic!("not Proposed: {:?}", decoded[9]);
    };
    assert_eq!((p.id, p.proposer), (U48::from(1), shasta_proposer));
    assert_eq!(p.sources.len(), 2);
    assert!(p.sources[0].isForcedInclusion && !p.sources[1].isForcedInclusion);
    assert_eq!(p.sources[1].blobSlice.blobHashes, vec![zero_blob_hash(); 2]);
    let TaikoEvent::CheckpointSaved(c) = &decoded[10] else {
        panic!("not CheckpointSaved: {:?}", decoded[10]);
    };
    assert_eq!(
        (c.blockNumber, c.blockHash),
        (U48::from(150), checkpoint_hash)
    );
    let TaikoEvent::Proved(p) = &decoded[11] else {
        panic!("not Proved: {:?}", decoded[11]);
    };
    assert_eq!(p.actualProver, prover);

    // Multicall transactions: one transaction, logs of several contracts, sent to the
    // multicall.
    for (i, contracts_in_tx) in [(2, 3), (8, 2)] {
        let s = &sent[i];
        let emitters: BTreeSet<Address> = s.expected.iter().map(|(a, _)| *a).collect();
        assert_eq!(emitters.len(), contracts_in_tx, "{}", s.what);
        let tx = l1.rpc("eth_getTransactionByHash", json!([s.hash]));
        assert_eq!(
            tx["to"].as_str().unwrap().parse::<Address>().unwrap(),
            node.multicall
        );
    }

    // Blob transactions: type 3 carrying the blobs, paying blob gas.
    for (i, blobs) in [(2, 2u64), (7, 2)] {
        let s = &sent[i];
        let tx = l1.rpc("eth_getTransactionByHash", json!([s.hash]));
        assert_eq!(tx["type"], "0x3", "{}", s.what);
        assert_eq!(
            tx["blobVersionedHashes"].as_array().unwrap().len() as u64,
            blobs
        );
        let r = receipt(&l1, &s.hash);
        assert_eq!(hex_u64(&r["blobGasUsed"]), blobs * 131_072, "{}", s.what);
    }
    let tx = l1.rpc("eth_getTransactionByHash", json!([sent[1].hash]));
    assert_eq!(tx["type"], "0x2", "calldata proposal");
}

/// Every L2 block the driver mines starts with the anchor transaction, whose `Anchored`
/// log (either fork) decodes to the expected values; an `anvil_reorg` keeps the listed
/// order of the replacement transactions, so an anchor listed first stays first.
#[test]
fn l2_blocks_start_with_the_anchor_transaction() {
    let l2 = Anvil::with(AnvilOpts {
        chain_id: 167_000,
        ..AnvilOpts::default()
    });
    let taiko = TaikoL2::install(&l2, L2_ANCHOR);
    let contracts = Contracts::default();
    let plan = [
        (Fork::Pacaya, 0),
        (Fork::Pacaya, 3),
        (Fork::Shasta, 25),
        (Fork::Shasta, 1),
        (Fork::Shasta, 4),
    ];
    for (fork, txs) in plan {
        let n = taiko.mine_block(&l2, fork, txs);
        let block = l2.block(n, true);
        let parent: B256 = block["parentHash"].as_str().unwrap().parse().unwrap();
        let first = &block["transactions"][0];
        let logs = tx_logs(&l2, first["hash"].as_str().unwrap());
        assert_eq!(logs.len(), 1, "block {n}: one Anchored log");
        assert_eq!((logs[0].tx_index, logs[0].log_index), (0, 0));
        assert_eq!(
            contracts.decode(&logs[0]).unwrap(),
            Some(anchored(fork, n, parent)),
            "block {n}"
        );
        // the transfers pay the tips they were sent with, all below the anchor's
        let tips: Vec<u64> = block["transactions"].as_array().unwrap()[1..]
            .iter()
            .map(|t| hex_u64(&t["maxPriorityFeePerGas"]))
            .collect();
        let anchor_tip = hex_u64(&first["maxPriorityFeePerGas"]);
        assert!(tips.iter().all(|&t| t < anchor_tip), "block {n}");
        assert_eq!(
            tips.iter().collect::<BTreeSet<_>>().len(),
            txs,
            "varied tips"
        );
    }

    // Replace the last two blocks; each new block lists its anchor first.
    let head = l2.head_number();
    let fork_point: B256 = l2.block_hash(head - 2).parse().unwrap();
    let replacements = vec![
        (
            taiko.anchor_tx_request(&l2, Fork::Shasta, head - 1, fork_point),
            0,
        ),
        (
            l2.tx_request(TxKind::DynamicFee, 1, 5_000_000_000, 90_001),
            0,
        ),
        (
            l2.tx_request(TxKind::DynamicFee, 2, 7_000_000_000, 90_002),
            0,
        ),
        // the placeholder parent hash: the real one is not known before anvil builds it
        (
            taiko.anchor_tx_request(&l2, Fork::Shasta, head, B256::ZERO),
            1,
        ),
        (
            l2.tx_request(TxKind::DynamicFee, 3, 1_000_000_000, 90_003),
            1,
        ),
    ];
    l2.reorg(2, &replacements);
    assert_eq!(l2.head_number(), head);
    for (n, txs) in [(head - 1, 3), (head, 2)] {
        let block = l2.block(n, true);
        let all = block["transactions"].as_array().unwrap();
        assert_eq!(all.len(), txs, "block {n} after the reorg");
        assert_eq!(
            all[0]["to"].as_str().unwrap().parse::<Address>().unwrap(),
            L2_ANCHOR,
            "block {n}: anchor first after the reorg"
        );
        let logs = tx_logs(&l2, all[0]["hash"].as_str().unwrap());
        assert!(matches!(
            contracts.decode(&logs[0]).unwrap(),
            Some(TaikoEvent::ShastaAnchored(_))
        ));
    }
    let first_new = l2.block(head - 1, true);
    let logs = tx_logs(&l2, first_new["transactions"][0]["hash"].as_str().unwrap());
    assert_eq!(
        contracts.decode(&logs[0]).unwrap(),
        Some(anchored(Fork::Shasta, head - 1, fork_point))
    );
    // anvil_reorg does not sort by tip: the listed order stays (tip 7 gwei after 5 gwei)
    let tips: Vec<u64> = first_new["transactions"].as_array().unwrap()[1..]
        .iter()
        .map(|t| hex_u64(&t["maxPriorityFeePerGas"]))
        .collect();
    assert_eq!(tips, vec![5_000_000_000, 7_000_000_000]);
    // and the chain goes on with anchored blocks after the reorg
    let n = taiko.mine_block(&l2, Fork::Shasta, 2);
    assert_eq!(n, head + 1);
}
