//! Taiko on real anvil nodes: the event emitters of `tests/it/fixtures/taiko/` (stand-ins
//! for the Taiko L1 contracts and the L2 anchor of both forks that emit the REAL events,
//! same canonical signatures and topic0 values as `docs/taiko-events.md`) deployed on an
//! L1 node ([`TaikoL1`]) and installed on an L2 node ([`TaikoL2`]), driven synchronously
//! over JSON-RPC with anvil's unlocked dev accounts.
//!
//! Every emitter has one function per event, `emit<Event>(<the event's parameters>)`, so the
//! selector is the first 4 bytes of `keccak256("emit" ++ Event::SIGNATURE)` and the calldata
//! is the ABI encoding of the event's parameters (all of them, indexed or not).
//!
//! The L1 senders only SEND (they return the transaction hash); the caller decides when to
//! mine. The argument values the contracts emit are built by the free functions of this
//! module ([`pacaya_batch`], [`pacaya_forced_inclusion`], [`pacaya_transition`],
//! [`pacaya_slashed`], [`shasta_proposal`], [`shasta_forced_inclusion`],
//! [`checkpoint_state_root`], [`anchored`]): deterministic in their arguments, so a test
//! can compare the decoded logs with them.
//!
//! Findings (anvil 1.7.1): anvil orders a block's transactions by effective tip, so the L2
//! anchor transaction is first when it pays the highest tip ([`ANCHOR_TIP`]).
//! `anvil_reorg` keeps the order in which the replacement transactions are listed for the
//! ones that land in one block (see the `taiko_contracts` test that checks it), so an
//! anchor request ([`TaikoL2::anchor_tx_request`]) listed first at each offset stays first.
//! It assigns the nonces itself and silently DROPS a request it cannot execute (e.g. a tip
//! above the fee cap): count the transactions of the new blocks. The parent hash of a
//! replacement block after the first is unknown before anvil builds it, so its anchor
//! cannot name the real parent hash.

use alloy_primitives::aliases::{U24, U48};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::abi::TokenSeq;
use alloy_sol_types::{SolCall, SolEvent, SolType, SolValue, sol, sol_data};
use chainflow::dataflows::taiko::events::{Contracts, TaikoEvent, pacaya, shasta};
use chainflow::model::Log;
use serde_json::{Value, json};

use super::anvil::{
    Anvil, DEV_ACCOUNTS, TxKind, ZERO_BLOB_VERSIONED_HASH, hex, hex_u64, hex_u128, hex128,
};

sol! {
    /// `Multicall.aggregate`: calls each target in order with its calldata.
    function aggregate(address[] targets, bytes[] calls);
}

/// Creation bytecode (hex, no `0x`) of each compiled contract, by name.
pub const CREATION_CODE: [(&str, &str); 9] = [
    (
        "PacayaInbox",
        include_str!("../fixtures/taiko/PacayaInbox.bin"),
    ),
    (
        "ForcedInclusionStore",
        include_str!("../fixtures/taiko/ForcedInclusionStore.bin"),
    ),
    (
        "TaikoWrapper",
        include_str!("../fixtures/taiko/TaikoWrapper.bin"),
    ),
    (
        "PreconfSlasher",
        include_str!("../fixtures/taiko/PreconfSlasher.bin"),
    ),
    (
        "ShastaInbox",
        include_str!("../fixtures/taiko/ShastaInbox.bin"),
    ),
    (
        "SignalService",
        include_str!("../fixtures/taiko/SignalService.bin"),
    ),
    (
        "BondManager",
        include_str!("../fixtures/taiko/BondManager.bin"),
    ),
    (
        "TaikoAnchor",
        include_str!("../fixtures/taiko/TaikoAnchor.bin"),
    ),
    ("Multicall", include_str!("../fixtures/taiko/Multicall.bin")),
];

/// Runtime bytecode (hex, no `0x`) of the L2 anchor emitter (both forks' `Anchored`).
pub const ANCHOR_RUNTIME: &str = include_str!("../fixtures/taiko/TaikoAnchor.runtime.bin");

/// Directory of the Solidity source and the committed artifacts.
pub const FIXTURES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/taiko");

/// Tip (wei per gas) of every L1 transaction the driver sends.
pub const L1_TIP: u128 = 1_000_000_000;

/// Tip of the L2 anchor transaction: above every tip [`TaikoL2::mine_block`] gives the
/// ordinary transactions, so anvil puts the anchor first.
pub const ANCHOR_TIP: u128 = 100_000_000_000;

/// Gas limit of the anchor transaction.
pub const ANCHOR_GAS: u64 = 200_000;

/// Mainnet `LibSharedData.BaseFeeConfig` (used in every [`pacaya_batch`]).
pub const PACAYA_BASE_FEE_CONFIG: (u8, u8, u32, u64, u32) =
    (8, 75, 5_000_000, 1_340_000_000, 600_000_000);

/// The fork whose events a block or transaction carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    /// Pacaya (Taiko Alethia).
    Pacaya,
    /// Shasta.
    Shasta,
}

/// Creation bytecode of contract `name` (panics for an unknown name).
pub fn creation_code(name: &str) -> &'static str {
    CREATION_CODE
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no compiled contract {name}"))
        .1
        .trim()
}

/// `keccak256` of `tag` followed by the big-endian words of `parts`: the driver's
/// deterministic hashes.
pub fn tagged_hash(tag: &str, parts: &[u64]) -> B256 {
    let mut buf = tag.as_bytes().to_vec();
    for p in parts {
        buf.extend_from_slice(&p.to_be_bytes());
    }
    keccak256(buf)
}

/// A hash shaped like an EIP-4844 versioned hash (`0x01` first byte), deterministic in
/// `tag` and `parts`.
pub fn fake_blob_hash(tag: &str, parts: &[u64]) -> B256 {
    let mut h = tagged_hash(tag, parts);
    h.0[0] = 0x01;
    h
}

/// [`ZERO_BLOB_VERSIONED_HASH`] as a `B256`: the versioned hash of every blob the driver
/// sends.
pub fn zero_blob_hash() -> B256 {
    ZERO_BLOB_VERSIONED_HASH.parse().unwrap()
}

/// Calldata of `emit<E>(params)`: the selector of `"emit" ++ E::SIGNATURE` and the ABI
/// encoding of all the event's parameters, given as `T` (a tuple of the parameter types).
pub fn emit_call<E: SolEvent, T: SolType>(params: &T::RustType) -> Bytes
where
    for<'a> T::Token<'a>: TokenSeq<'a>,
{
    let mut data = keccak256(format!("emit{}", E::SIGNATURE))[..4].to_vec();
    data.extend(T::abi_encode_params(params));
    data.into()
}

/// Calldata of `emit<E>` for an event without indexed parameters (its data is the
/// encoding of all its parameters).
pub fn emit_unindexed<E: SolEvent>(event: &E) -> Bytes {
    let mut data = keccak256(format!("emit{}", E::SIGNATURE))[..4].to_vec();
    data.extend(event.encode_data());
    data.into()
}

/// Calldata of `Multicall.aggregate(targets, calls)`.
pub fn aggregate_call(calls: &[(Address, Bytes)]) -> Bytes {
    aggregateCall {
        targets: calls.iter().map(|(a, _)| *a).collect(),
        calls: calls.iter().map(|(_, c)| c.clone()).collect(),
    }
    .abi_encode()
    .into()
}

/// Address of dev account `i` of `node`.
pub fn account(node: &Anvil, i: usize) -> Address {
    node.accounts()[i].parse().unwrap()
}

/// Generous gas for a call with `data`: calldata (including the Prague floor) plus
/// copying and logging it.
fn call_gas(data: &Bytes) -> u64 {
    150_000 + 64 * data.len() as u64
}

/// A type-2 call request from dev account `from` to `to` with `data` paying `tip`.
pub fn call_request(node: &Anvil, from: usize, to: Address, data: &Bytes, tip: u128) -> Value {
    json!({
        "from": node.accounts()[from], "to": to.to_string(), "gas": hex(call_gas(data)),
        "type": "0x2", "maxFeePerGas": hex128(node.head_base_fee() * 2 + tip),
        "maxPriorityFeePerGas": hex128(tip), "input": data.to_string(),
    })
}

/// A type-3 call request carrying `blobs` all-zero blobs (1..=6; versioned hashes
/// [`ZERO_BLOB_VERSIONED_HASH`]), sidecar flattened into the request as anvil wants.
pub fn blob_call_request(
    node: &Anvil,
    from: usize,
    to: Address,
    data: &Bytes,
    blobs: usize,
) -> Value {
    assert!(
        (1..=6).contains(&blobs),
        "1..=6 blobs per transaction, not {blobs}"
    );
    let mut tx = call_request(node, from, to, data, L1_TIP);
    let blob = format!("0x{}", "00".repeat(131_072));
    let point = format!("0xc0{}", "00".repeat(47));
    let blob_fee = hex_u128(&node.rpc("eth_blobBaseFee", json!([])));
    let o = tx.as_object_mut().unwrap();
    o.insert("type".into(), json!("0x3"));
    o.insert(
        "maxFeePerBlobGas".into(),
        json!(hex128(blob_fee * 4 + 1_000)),
    );
    o.insert(
        "blobVersionedHashes".into(),
        json!(vec![ZERO_BLOB_VERSIONED_HASH; blobs]),
    );
    o.insert("blobs".into(), json!(vec![blob; blobs]));
    o.insert("commitments".into(), json!(vec![point.clone(); blobs]));
    o.insert("proofs".into(), json!(vec![point; blobs]));
    tx
}

/// `eth_sendTransaction(tx)`; returns the hash.
pub fn send_request(node: &Anvil, tx: Value) -> String {
    node.rpc("eth_sendTransaction", json!([tx]))
        .as_str()
        .unwrap()
        .to_owned()
}

/// The receipt of a mined transaction (panics when it is not mined).
pub fn receipt(node: &Anvil, tx_hash: &str) -> Value {
    let r = node.rpc("eth_getTransactionReceipt", json!([tx_hash]));
    assert!(!r.is_null(), "no receipt for {tx_hash} (not mined?)");
    r
}

/// The logs of a mined transaction as [`chainflow::model::Log`]s (panics when it is not
/// mined or reverted).
pub fn tx_logs(node: &Anvil, tx_hash: &str) -> Vec<Log> {
    let r = receipt(node, tx_hash);
    assert_eq!(r["status"], json!("0x1"), "transaction {tx_hash} reverted");
    r["logs"].as_array().unwrap().iter().map(rpc_log).collect()
}

/// A JSON-RPC log object as a [`chainflow::model::Log`].
pub fn rpc_log(l: &Value) -> Log {
    Log {
        tx_index: u32::try_from(hex_u64(&l["transactionIndex"])).unwrap(),
        log_index: u32::try_from(hex_u64(&l["logIndex"])).unwrap(),
        tx_hash: l["transactionHash"].as_str().unwrap().parse().unwrap(),
        address: l["address"].as_str().unwrap().parse().unwrap(),
        topics: l["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().parse().unwrap())
            .collect(),
        data: alloy_primitives::hex::decode(l["data"].as_str().unwrap()).unwrap(),
    }
}

// ------------------------------------------------------------------ expected values

/// The `BatchProposed` that [`TaikoL1::propose_pacaya`] emits:
/// - `blocks`: `n_blocks` blocks, `numTransactions = 1 + i % 7`, `timeShift` 0 for the first
///   and 2 after, no signal slots; `lastBlockId = last_block_id`;
/// - `blobHashes`: `blob_count` hashes, [`ZERO_BLOB_VERSIONED_HASH`] when the transaction
///   carries the blobs (`blob_tx`), else [`fake_blob_hash`]`("pacaya-blob", [batch_id, i])`;
/// - `txList`: `blob_byte_size` bytes of calldata data when `blob_count == 0` (calldata DA),
///   else empty; `blobByteSize = blob_byte_size`;
/// - `coinbase` and `meta.proposer`: `proposer`; `meta.infoHash = keccak256(abi.encode(info))`;
/// - `proposedIn` and `blobCreatedIn` are 0 (read the L1 block from the log instead),
///   timestamps are `1_750_000_000 + 2 * last_block_id` (`lastBlockTimestamp`) and
///   `1_750_000_000 + 12 * batch_id` (`proposedAt`); mainnet base-fee config.
#[allow(clippy::too_many_arguments)]
pub fn pacaya_batch(
    proposer: Address,
    batch_id: u64,
    last_block_id: u64,
    n_blocks: u16,
    blob_count: usize,
    blob_byte_size: u32,
    blob_tx: bool,
) -> pacaya::BatchProposed {
    let (aq, pct, gips, mge, mgib) = PACAYA_BASE_FEE_CONFIG;
    let info = pacaya::BatchInfo {
        txsHash: tagged_hash("pacaya-txs", &[batch_id]),
        blocks: (0..n_blocks)
            .map(|i| pacaya::BlockParams {
                numTransactions: 1 + i % 7,
                timeShift: if i == 0 { 0 } else { 2 },
                signalSlots: vec![],
            })
            .collect(),
        blobHashes: (0..blob_count as u64)
            .map(|i| {
                if blob_tx {
                    zero_blob_hash()
                } else {
                    fake_blob_hash("pacaya-blob", &[batch_id, i])
                }
            })
            .collect(),
        extraData: B256::with_last_byte(pct),
        coinbase: proposer,
        proposedIn: 0,
        blobCreatedIn: 0,
        blobByteOffset: 0,
        blobByteSize: blob_byte_size,
        gasLimit: 240_000_000,
        lastBlockId: last_block_id,
        lastBlockTimestamp: 1_750_000_000 + 2 * last_block_id,
        anchorBlockId: batch_id,
        anchorBlockHash: tagged_hash("pacaya-anchor", &[batch_id]),
        baseFeeConfig: pacaya::BaseFeeConfig {
            adjustmentQuotient: aq,
            sharingPctg: pct,
            gasIssuancePerSecond: gips,
            minGasExcess: mge,
            maxGasIssuancePerBlock: mgib,
        },
    };
    let tx_list: Vec<u8> = if blob_count == 0 {
        (0..blob_byte_size).map(|i| (i % 251) as u8 + 1).collect()
    } else {
        vec![]
    };
    pacaya::BatchProposed {
        meta: pacaya::BatchMetadata {
            infoHash: keccak256(info.abi_encode()),
            proposer,
            batchId: batch_id,
            proposedAt: 1_750_000_000 + 12 * batch_id,
        },
        info,
        txList: tx_list.into(),
    }
}

/// The Pacaya forced inclusion that batch `batch_id` consumes
/// ([`TaikoL1::store_forced_inclusion_pacaya`] stores it, a forced
/// [`TaikoL1::propose_pacaya`] of `batch_id` consumes and processes it).
pub fn pacaya_forced_inclusion(batch_id: u64) -> pacaya::ForcedInclusion {
    pacaya::ForcedInclusion {
        blobHash: fake_blob_hash("pacaya-forced", &[batch_id]),
        feeInGwei: 10_000_000 + batch_id,
        createdAtBatchId: batch_id.saturating_sub(1),
        blobByteOffset: 0,
        blobByteSize: 4_096,
        blobCreatedIn: 21_000_000 + batch_id,
    }
}

/// The transition [`TaikoL1::prove_pacaya`] proves for batch `batch_id`: block hash
/// `tagged_hash("pacaya-block", [id])`, parent the block hash of `id - 1`.
pub fn pacaya_transition(batch_id: u64) -> pacaya::Transition {
    pacaya::Transition {
        parentHash: tagged_hash("pacaya-block", &[batch_id.saturating_sub(1)]),
        blockHash: tagged_hash("pacaya-block", &[batch_id]),
        stateRoot: tagged_hash("pacaya-state", &[batch_id]),
    }
}

/// The `Slashed` [`TaikoL1::slash_pacaya`] emits (commitment on chain 167000 for
/// `batch_id`, end of preconfirmation set for violation type 1).
pub fn pacaya_slashed(
    committer: Address,
    violation_type: u8,
    batch_id: u64,
    amount: U256,
) -> pacaya::Slashed {
    pacaya::Slashed {
        committer,
        violationType: violation_type,
        commitmentPayload: pacaya::CommitmentPayload {
            domainSeparator: tagged_hash("pacaya-domain", &[]),
            chainId: U256::from(167_000),
            preconferSlotTimestamp: U256::from(1_750_000_000 + 12 * batch_id),
            anchorId: U256::from(batch_id),
            anchorHash: tagged_hash("pacaya-anchor", &[batch_id]),
            batchId: U256::from(batch_id),
            blockHash: tagged_hash("pacaya-block", &[batch_id]),
            eop: violation_type == 1,
        },
        slashAmount: amount,
    }
}

/// The `Proposed` [`TaikoL1::propose_shasta`] emits: source `i` is `(forced, n)` with `n`
/// blob hashes, [`ZERO_BLOB_VERSIONED_HASH`] for non-forced sources of a blob transaction,
/// else [`fake_blob_hash`]`("shasta-blob", [id, i, j])`; offset `32 * i`; timestamps and
/// the parent hash derive from `id`; base-fee sharing 75 %.
pub fn shasta_proposal(
    id: u64,
    proposer: Address,
    sources: &[(bool, u32)],
    blob_tx: bool,
) -> shasta::Proposed {
    shasta::Proposed {
        id: U48::from(id),
        proposer,
        parentProposalHash: tagged_hash("shasta-proposal", &[id.saturating_sub(1)]),
        endOfSubmissionWindowTimestamp: U48::from(1_775_000_000 + 12 * id),
        basefeeSharingPctg: 75,
        sources: sources
            .iter()
            .enumerate()
            .map(|(i, &(forced, n))| shasta::DerivationSource {
                isForcedInclusion: forced,
                blobSlice: shasta::BlobSlice {
                    blobHashes: (0..u64::from(n))
                        .map(|j| {
                            if blob_tx && !forced {
                                zero_blob_hash()
                            } else {
                                fake_blob_hash("shasta-blob", &[id, i as u64, j])
                            }
                        })
                        .collect(),
                    offset: U24::from(32 * i as u64),
                    timestamp: U48::from(1_775_000_000 + 12 * id - if forced { 600 } else { 0 }),
                },
            })
            .collect(),
    }
}

/// The Shasta forced inclusion number `n` ([`TaikoL1::save_forced_inclusion_shasta`]).
pub fn shasta_forced_inclusion(n: u64) -> shasta::ForcedInclusion {
    shasta::ForcedInclusion {
        feeInGwei: 10_000_000 + n,
        blobSlice: shasta::BlobSlice {
            blobHashes: vec![fake_blob_hash("shasta-forced", &[n])],
            offset: U24::from(0),
            timestamp: U48::from(1_774_000_000 + n),
        },
    }
}

/// The state root [`TaikoL1::prove_shasta`]'s `CheckpointSaved` carries for `block_hash`.
pub fn checkpoint_state_root(block_hash: B256) -> B256 {
    keccak256([b"shasta-state".as_slice(), block_hash.as_slice()].concat())
}

/// The `Anchored` event the anchor transaction of L2 block `block_number` (parent hash
/// `parent_hash`) emits:
/// - Pacaya: `parentHash = parent_hash`, `parentGasExcess = 1_000 * block_number`;
/// - Shasta: `anchorBlockNumber = 1_000 + block_number / 4` (an L1 block every 4 L2
///   blocks), `prevAnchorBlockNumber` the same for `block_number - 1`,
///   `ancestorsHash = keccak256("ancestors" ++ parent_hash)`.
pub fn anchored(fork: Fork, block_number: u64, parent_hash: B256) -> TaikoEvent {
    match fork {
        Fork::Pacaya => TaikoEvent::PacayaAnchored(pacaya::Anchored {
            parentHash: parent_hash,
            parentGasExcess: 1_000 * block_number,
        }),
        Fork::Shasta => TaikoEvent::ShastaAnchored(shasta::Anchored {
            prevAnchorBlockNumber: U48::from(1_000 + block_number.saturating_sub(1) / 4),
            anchorBlockNumber: U48::from(1_000 + block_number / 4),
            ancestorsHash: keccak256([b"ancestors".as_slice(), parent_hash.as_slice()].concat()),
        }),
    }
}

/// Calldata of the anchor transaction that emits [`anchored`]`(fork, block_number,
/// parent_hash)`.
pub fn anchor_call(fork: Fork, block_number: u64, parent_hash: B256) -> Bytes {
    match anchored(fork, block_number, parent_hash) {
        TaikoEvent::PacayaAnchored(e) => emit_unindexed(&e),
        TaikoEvent::ShastaAnchored(e) => emit_unindexed(&e),
        _ => unreachable!(),
    }
}

// ------------------------------------------------------------------ L1

/// The L1 emitters deployed on a node, by role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaikoL1 {
    /// Pacaya TaikoInbox (`BatchProposed`, `BatchesProved`, `BatchesVerified`).
    pub pacaya_inbox: Address,
    /// Pacaya forced-inclusion store (`ForcedInclusionStored`, `ForcedInclusionConsumed`).
    pub forced_inclusion_store: Address,
    /// Pacaya TaikoWrapper (`ForcedInclusionProcessed`).
    pub taiko_wrapper: Address,
    /// Pacaya preconfirmation slasher (`Slashed`).
    pub preconf_slasher: Address,
    /// Shasta inbox (`Proposed`, `Proved`, `ForcedInclusionSaved`).
    pub shasta_inbox: Address,
    /// Shasta SignalService (`CheckpointSaved`).
    pub signal_service: Address,
    /// Shasta bond manager (`LivenessBondSettled`).
    pub bond_manager: Address,
    /// The multicall (several contracts' logs in one transaction).
    pub multicall: Address,
}

/// Dev account that deploys the L1 emitters (the tests' senders are `1..`).
pub const DEPLOYER: usize = 0;

impl TaikoL1 {
    /// Deploys every L1 emitter from dev account [`DEPLOYER`] and mines one block (any
    /// pending transactions of the pool are mined with it).
    pub fn deploy(l1: &Anvil) -> TaikoL1 {
        let names = [
            "PacayaInbox",
            "ForcedInclusionStore",
            "TaikoWrapper",
            "PreconfSlasher",
            "ShastaInbox",
            "SignalService",
            "BondManager",
            "Multicall",
        ];
        let hashes: Vec<String> = names
            .iter()
            .map(|name| {
                let code = creation_code(name);
                send_request(
                    l1,
                    json!({
                        "from": l1.accounts()[DEPLOYER], "gas": hex(2_000_000),
                        "type": "0x2", "maxFeePerGas": hex128(l1.head_base_fee() * 2 + L1_TIP),
                        "maxPriorityFeePerGas": hex128(L1_TIP), "input": format!("0x{code}"),
                    }),
                )
            })
            .collect();
        l1.mine(1);
        let addrs: Vec<Address> = hashes
            .iter()
            .zip(names)
            .map(|(h, name)| {
                let r = receipt(l1, h);
                assert_eq!(r["status"], json!("0x1"), "deploying {name} failed");
                r["contractAddress"].as_str().unwrap().parse().unwrap()
            })
            .collect();
        TaikoL1 {
            pacaya_inbox: addrs[0],
            forced_inclusion_store: addrs[1],
            taiko_wrapper: addrs[2],
            preconf_slasher: addrs[3],
            shasta_inbox: addrs[4],
            signal_service: addrs[5],
            bond_manager: addrs[6],
            multicall: addrs[7],
        }
    }

    /// The decoder configuration with every role at the deployed address and the L2
    /// anchor at `anchor`.
    pub fn contracts(&self, anchor: Address) -> Contracts {
        Contracts {
            pacaya_inbox: Some(self.pacaya_inbox),
            forced_inclusion_store: Some(self.forced_inclusion_store),
            taiko_wrapper: Some(self.taiko_wrapper),
            preconf_slasher: Some(self.preconf_slasher),
            shasta_inbox: Some(self.shasta_inbox),
            signal_service: Some(self.signal_service),
            bond_manager: Some(self.bond_manager),
            anchor: Some(anchor),
        }
    }

    /// Sends one call (type 2; type 3 with `blobs` zero blobs when `blobs > 0`).
    fn send_call(l1: &Anvil, from: usize, to: Address, data: &Bytes, blobs: usize) -> String {
        let tx = if blobs > 0 {
            blob_call_request(l1, from, to, data, blobs)
        } else {
            call_request(l1, from, to, data, L1_TIP)
        };
        send_request(l1, tx)
    }

    /// Sends several calls through the multicall in one transaction.
    fn send_multicall(
        l1: &Anvil,
        multicall: Address,
        from: usize,
        calls: &[(Address, Bytes)],
        blobs: usize,
    ) -> String {
        Self::send_call(l1, from, multicall, &aggregate_call(calls), blobs)
    }

    /// Sends a Pacaya batch proposal by dev account `from` emitting
    /// [`pacaya_batch`]`(from's address, batch_id, last_block_id, n_blocks, blob_count,
    /// blob_byte_size, blob_tx)`.
    ///
    /// `forced`: the transaction goes through the multicall and emits, in this order,
    /// `ForcedInclusionProcessed` (wrapper), `ForcedInclusionConsumed` (store), both of
    /// [`pacaya_forced_inclusion`]`(batch_id)`, then `BatchProposed` (inbox).
    /// `blob_tx`: a type-3 transaction carrying `blob_count` (1..=6) zero blobs, so it pays
    /// blob fees. Returns the transaction hash.
    #[allow(clippy::too_many_arguments)]
    pub fn propose_pacaya(
        &self,
        l1: &Anvil,
        from: usize,
        batch_id: u64,
        last_block_id: u64,
        n_blocks: u16,
        blob_count: usize,
        blob_byte_size: u32,
        forced: bool,
        blob_tx: bool,
    ) -> String {
        let batch = pacaya_batch(
            account(l1, from),
            batch_id,
            last_block_id,
            n_blocks,
            blob_count,
            blob_byte_size,
            blob_tx,
        );
        let propose = emit_unindexed(&batch);
        let blobs = if blob_tx { blob_count } else { 0 };
        if forced {
            let fi = pacaya_forced_inclusion(batch_id);
            let processed = pacaya::ForcedInclusionProcessed {
                forcedInclusion: fi.clone(),
            };
            let consumed = pacaya::ForcedInclusionConsumed {
                forcedInclusion: fi,
            };
            Self::send_multicall(
                l1,
                self.multicall,
                from,
                &[
                    (self.taiko_wrapper, emit_unindexed(&processed)),
                    (self.forced_inclusion_store, emit_unindexed(&consumed)),
                    (self.pacaya_inbox, propose),
                ],
                blobs,
            )
        } else {
            Self::send_call(l1, from, self.pacaya_inbox, &propose, blobs)
        }
    }

    /// Sends `BatchesProved(verifier, batch_ids, [pacaya_transition(id) for id])`.
    pub fn prove_pacaya(
        &self,
        l1: &Anvil,
        from: usize,
        verifier: Address,
        batch_ids: &[u64],
    ) -> String {
        let e = pacaya::BatchesProved {
            verifier,
            batchIds: batch_ids.to_vec(),
            transitions: batch_ids.iter().map(|&id| pacaya_transition(id)).collect(),
        };
        Self::send_call(l1, from, self.pacaya_inbox, &emit_unindexed(&e), 0)
    }

    /// Sends `BatchesVerified(batch_id, block_hash)`.
    pub fn verify_pacaya(
        &self,
        l1: &Anvil,
        from: usize,
        batch_id: u64,
        block_hash: B256,
    ) -> String {
        let e = pacaya::BatchesVerified {
            batchId: batch_id,
            blockHash: block_hash,
        };
        Self::send_call(l1, from, self.pacaya_inbox, &emit_unindexed(&e), 0)
    }

    /// Sends `ForcedInclusionStored(pacaya_forced_inclusion(batch_id))` (the inclusion batch
    /// `batch_id` will consume).
    pub fn store_forced_inclusion_pacaya(&self, l1: &Anvil, from: usize, batch_id: u64) -> String {
        let e = pacaya::ForcedInclusionStored {
            forcedInclusion: pacaya_forced_inclusion(batch_id),
        };
        Self::send_call(
            l1,
            from,
            self.forced_inclusion_store,
            &emit_unindexed(&e),
            0,
        )
    }

    /// Sends [`pacaya_slashed`]`(committer, violation_type, batch_id, amount)`
    /// (`violation_type` 0..=2, the `ViolationType` enum: more reverts).
    pub fn slash_pacaya(
        &self,
        l1: &Anvil,
        from: usize,
        committer: Address,
        violation_type: u8,
        batch_id: u64,
        amount: U256,
    ) -> String {
        let e = pacaya_slashed(committer, violation_type, batch_id, amount);
        type P = (
            sol_data::Address,
            sol_data::Uint<8>,
            pacaya::CommitmentPayload,
            sol_data::Uint<256>,
        );
        let data = emit_call::<pacaya::Slashed, P>(&(
            e.committer,
            e.violationType,
            e.commitmentPayload,
            e.slashAmount,
        ));
        Self::send_call(l1, from, self.preconf_slasher, &data, 0)
    }

    /// Sends [`shasta_proposal`]`(id, proposer, sources, blob_tx)`. `blob_tx`: a type-3
    /// transaction carrying one zero blob per blob hash of the non-forced sources (1..=6 in
    /// all).
    pub fn propose_shasta(
        &self,
        l1: &Anvil,
        from: usize,
        id: u64,
        proposer: Address,
        sources: &[(bool, u32)],
        blob_tx: bool,
    ) -> String {
        let e = shasta_proposal(id, proposer, sources, blob_tx);
        type P = (
            sol_data::Uint<48>,
            sol_data::Address,
            sol_data::FixedBytes<32>,
            sol_data::Uint<48>,
            sol_data::Uint<8>,
            sol_data::Array<shasta::DerivationSource>,
        );
        let data = emit_call::<shasta::Proposed, P>(&(
            e.id,
            e.proposer,
            e.parentProposalHash,
            e.endOfSubmissionWindowTimestamp,
            e.basefeeSharingPctg,
            e.sources,
        ));
        let blobs = if blob_tx {
            sources
                .iter()
                .filter(|(forced, _)| !forced)
                .map(|&(_, n)| n as usize)
                .sum()
        } else {
            0
        };
        Self::send_call(l1, from, self.shasta_inbox, &data, blobs)
    }

    /// Sends, in ONE transaction through the multicall, `CheckpointSaved(checkpoint_block,
    /// checkpoint_hash, checkpoint_state_root(checkpoint_hash))` (SignalService) then
    /// `Proved(first, first_new, last, prover)` (inbox), the order of Shasta's
    /// `Inbox.prove` (the checkpoint is synced before the event).
    #[allow(clippy::too_many_arguments)]
    pub fn prove_shasta(
        &self,
        l1: &Anvil,
        from: usize,
        first: u64,
        first_new: u64,
        last: u64,
        prover: Address,
        checkpoint_block: u64,
        checkpoint_hash: B256,
    ) -> String {
        type C = (
            sol_data::Uint<48>,
            sol_data::FixedBytes<32>,
            sol_data::FixedBytes<32>,
        );
        let checkpoint = emit_call::<shasta::CheckpointSaved, C>(&(
            U48::from(checkpoint_block),
            checkpoint_hash,
            checkpoint_state_root(checkpoint_hash),
        ));
        type P = (
            sol_data::Uint<48>,
            sol_data::Uint<48>,
            sol_data::Uint<48>,
            sol_data::Address,
        );
        let proved = emit_call::<shasta::Proved, P>(&(
            U48::from(first),
            U48::from(first_new),
            U48::from(last),
            prover,
        ));
        Self::send_multicall(
            l1,
            self.multicall,
            from,
            &[
                (self.signal_service, checkpoint),
                (self.shasta_inbox, proved),
            ],
            0,
        )
    }

    /// Sends `ForcedInclusionSaved(shasta_forced_inclusion(n))` (emitted by the inbox).
    pub fn save_forced_inclusion_shasta(&self, l1: &Anvil, from: usize, n: u64) -> String {
        let e = shasta::ForcedInclusionSaved {
            forcedInclusion: shasta_forced_inclusion(n),
        };
        Self::send_call(l1, from, self.shasta_inbox, &emit_unindexed(&e), 0)
    }

    /// Sends `LivenessBondSettled(payer, payee, bond, credited, slashed)`.
    #[allow(clippy::too_many_arguments)]
    pub fn settle_liveness_bond(
        &self,
        l1: &Anvil,
        from: usize,
        payer: Address,
        payee: Address,
        bond: u64,
        credited: u64,
        slashed: u64,
    ) -> String {
        type P = (
            sol_data::Address,
            sol_data::Address,
            sol_data::Uint<64>,
            sol_data::Uint<64>,
            sol_data::Uint<64>,
        );
        let data =
            emit_call::<shasta::LivenessBondSettled, P>(&(payer, payee, bond, credited, slashed));
        Self::send_call(l1, from, self.bond_manager, &data, 0)
    }
}

// ------------------------------------------------------------------ L2

/// The L2 side: the anchor emitter at the anchor address and the dev account that sends
/// the anchor transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaikoL2 {
    /// The anchor address (normally `chainflow::dataflows::taiko::events::L2_ANCHOR`).
    pub anchor: Address,
    /// Dev account that sends the anchor transactions (Taiko's "golden touch"): the last
    /// one; [`TaikoL2::mine_block`]'s transfers come from `1..anchor_sender`.
    pub anchor_sender: usize,
}

impl TaikoL2 {
    /// Puts the anchor emitter's runtime code at `anchor` (`anvil_setCode`, no block).
    pub fn install(l2: &Anvil, anchor: Address) -> TaikoL2 {
        l2.rpc(
            "anvil_setCode",
            json!([anchor.to_string(), format!("0x{}", ANCHOR_RUNTIME.trim())]),
        );
        TaikoL2 {
            anchor,
            anchor_sender: DEV_ACCOUNTS - 1,
        }
    }

    /// The anchor transaction request (type 2, from [`TaikoL2::anchor_sender`], tip
    /// [`ANCHOR_TIP`]) emitting [`anchored`]`(fork, block_number, parent_hash)`; also for
    /// `anvil_reorg` replacement lists (list it first among the transactions of its
    /// offset). No nonce: anvil assigns it.
    pub fn anchor_tx_request(
        &self,
        l2: &Anvil,
        fork: Fork,
        block_number: u64,
        parent_hash: B256,
    ) -> Value {
        let data = anchor_call(fork, block_number, parent_hash);
        let mut tx = call_request(l2, self.anchor_sender, self.anchor, &data, ANCHOR_TIP);
        tx["gas"] = json!(hex(ANCHOR_GAS));
        tx
    }

    /// Mines one L2 block: sends the anchor transaction of `fork` (parent hash: the head's
    /// hash, block number: head + 1), then `txs` (at most 1000) ordinary transfers from
    /// dev accounts `1..anchor_sender` in turn with tips from 1.01 gwei up to
    /// `1 + 0.01 * txs` gwei (decreasing in sending order, so no sender's later transaction
    /// outbids its earlier one), and mines. Checks that the block holds exactly these
    /// `txs + 1` transactions with the anchor first; returns the block number. Needs a node
    /// without interval mining (`AnvilOpts::block_time: None`) and an empty pool.
    pub fn mine_block(&self, l2: &Anvil, fork: Fork, txs: usize) -> u64 {
        assert!(txs <= 1_000, "at most 1000 transfers per block");
        let head = l2.head_number();
        let parent: B256 = l2.block_hash(head).parse().unwrap();
        let number = head + 1;
        let anchor_tx = send_request(l2, self.anchor_tx_request(l2, fork, number, parent));
        let senders = self.anchor_sender - 1;
        for i in 0..txs {
            let tip = 1_000_000_000 + (txs - i) as u128 * 10_000_000;
            l2.send(
                TxKind::DynamicFee,
                1 + i % senders,
                tip,
                number * 10_000 + i as u64,
            );
        }
        l2.mine(1);
        assert_eq!(l2.head_number(), number, "one block mined");
        let block = l2.block(number, true);
        let got = block["transactions"].as_array().unwrap();
        assert_eq!(
            got.len(),
            txs + 1,
            "block {number}: the anchor and {txs} transfers"
        );
        assert_eq!(
            got[0]["hash"].as_str().unwrap(),
            anchor_tx,
            "block {number}: anchor first"
        );
        assert_eq!(
            got[0]["to"].as_str().unwrap().parse::<Address>().unwrap(),
            self.anchor,
            "block {number}: first transaction goes to the anchor"
        );
        number
    }
}
