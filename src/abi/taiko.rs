//! Decoding of the Taiko protocol's L1 and L2 events, both forks (Pacaya and Shasta), by
//! emitting contract **and** topic0 (several names collide across forks: `Anchored`,
//! `BondDeposited`, `ForcedInclusion*`). Signatures, topic0 values and mainnet addresses are
//! those of `docs/taiko-events.md`; the tests check every topic0 against it.
//!
//! This is the decoding layer of the Taiko dataflows: pure, no I/O. A log of a
//! configured contract with a known topic0 that does not decode is an error naming the
//! event and the reason ([`DecodeError`]), never a panic; the dataflows route those to their
//! error output. A log of another contract, or an unknown topic0, is not a Taiko event
//! (`Ok(None)`).

use alloy_primitives::{Address, B256, address};
use alloy_sol_types::{SolEvent, sol};
use serde::{Deserialize, Serialize};

use crate::model::Log;

/// Pacaya (Taiko Alethia, 2025-05-21 until the Shasta inbox activation).
pub mod pacaya {
    use super::sol;

    sol! {
        /// `LibSharedData.BaseFeeConfig`.
        #[derive(Debug, PartialEq, Eq)]
        struct BaseFeeConfig { uint8 adjustmentQuotient; uint8 sharingPctg; uint32 gasIssuancePerSecond; uint64 minGasExcess; uint32 maxGasIssuancePerBlock; }
        /// One L2 block of a batch.
        #[derive(Debug, PartialEq, Eq)]
        struct BlockParams { uint16 numTransactions; uint8 timeShift; bytes32[] signalSlots; }
        /// What a batch proposal carries.
        #[derive(Debug, PartialEq, Eq)]
        struct BatchInfo {
            bytes32 txsHash; BlockParams[] blocks; bytes32[] blobHashes; bytes32 extraData;
            address coinbase; uint64 proposedIn; uint64 blobCreatedIn; uint32 blobByteOffset;
            uint32 blobByteSize; uint32 gasLimit; uint64 lastBlockId; uint64 lastBlockTimestamp;
            uint64 anchorBlockId; bytes32 anchorBlockHash; BaseFeeConfig baseFeeConfig;
        }
        /// Who proposed which batch when.
        #[derive(Debug, PartialEq, Eq)]
        struct BatchMetadata { bytes32 infoHash; address proposer; uint64 batchId; uint64 proposedAt; }
        /// A proven state transition.
        #[derive(Debug, PartialEq, Eq)]
        struct Transition { bytes32 parentHash; bytes32 blockHash; bytes32 stateRoot; }
        /// A forced inclusion (IForcedInclusionStore).
        #[derive(Debug, PartialEq, Eq)]
        struct ForcedInclusion { bytes32 blobHash; uint64 feeInGwei; uint64 createdAtBatchId; uint32 blobByteOffset; uint32 blobByteSize; uint64 blobCreatedIn; }
        /// The preconfirmation commitment a slashing names.
        #[derive(Debug, PartialEq, Eq)]
        struct CommitmentPayload { bytes32 domainSeparator; uint256 chainId; uint256 preconferSlotTimestamp; uint256 anchorId; bytes32 anchorHash; uint256 batchId; bytes32 blockHash; bool eop; }

        /// TaikoInbox: a batch was proposed.
        #[derive(Debug, PartialEq, Eq)]
        event BatchProposed(BatchInfo info, BatchMetadata meta, bytes txList);
        /// TaikoInbox: batches were proved.
        #[derive(Debug, PartialEq, Eq)]
        event BatchesProved(address verifier, uint64[] batchIds, Transition[] transitions);
        /// TaikoInbox: batches up to `batchId` were verified.
        #[derive(Debug, PartialEq, Eq)]
        event BatchesVerified(uint64 batchId, bytes32 blockHash);
        /// IForcedInclusionStore: stored.
        #[derive(Debug, PartialEq, Eq)]
        event ForcedInclusionStored(ForcedInclusion forcedInclusion);
        /// IForcedInclusionStore: consumed.
        #[derive(Debug, PartialEq, Eq)]
        event ForcedInclusionConsumed(ForcedInclusion forcedInclusion);
        /// TaikoWrapper: processed.
        #[derive(Debug, PartialEq, Eq)]
        event ForcedInclusionProcessed(ForcedInclusion forcedInclusion);
        /// IPreconfSlasher: a preconfer was slashed (`violationType`: 0 invalid preconfirmation,
        /// 1 invalid end of preconfirmation, 2 missing end of preconfirmation).
        #[derive(Debug, PartialEq, Eq)]
        event Slashed(address indexed committer, uint8 indexed violationType, CommitmentPayload commitmentPayload, uint256 slashAmount);
        /// L2 TaikoAnchor (Pacaya): the anchor transaction ran.
        #[derive(Debug, PartialEq, Eq)]
        event Anchored(bytes32 parentHash, uint64 parentGasExcess);
    }
}

/// Shasta (the current protocol).
pub mod shasta {
    use super::sol;

    sol! {
        /// `LibBlobs.BlobSlice`.
        #[derive(Debug, PartialEq, Eq)]
        struct BlobSlice { bytes32[] blobHashes; uint24 offset; uint48 timestamp; }
        /// Where a proposal's data comes from.
        #[derive(Debug, PartialEq, Eq)]
        struct DerivationSource { bool isForcedInclusion; BlobSlice blobSlice; }
        /// A forced inclusion (Shasta IForcedInclusionStore).
        #[derive(Debug, PartialEq, Eq)]
        struct ForcedInclusion { uint64 feeInGwei; BlobSlice blobSlice; }

        /// Inbox: a proposal.
        #[derive(Debug, PartialEq, Eq)]
        event Proposed(uint48 indexed id, address indexed proposer, bytes32 parentProposalHash, uint48 endOfSubmissionWindowTimestamp, uint8 basefeeSharingPctg, DerivationSource[] sources);
        /// Inbox: proposals proved (proving finalizes).
        #[derive(Debug, PartialEq, Eq)]
        event Proved(uint48 firstProposalId, uint48 firstNewProposalId, uint48 lastProposalId, address indexed actualProver);
        /// Inbox: a forced inclusion was saved.
        #[derive(Debug, PartialEq, Eq)]
        event ForcedInclusionSaved(ForcedInclusion forcedInclusion);
        /// SignalService: the checkpoint of the last finalized L2 block.
        #[derive(Debug, PartialEq, Eq)]
        event CheckpointSaved(uint48 indexed blockNumber, bytes32 blockHash, bytes32 stateRoot);
        /// BondManager: a liveness bond settled (`slashed` is the slashing).
        #[derive(Debug, PartialEq, Eq)]
        event LivenessBondSettled(address indexed payer, address indexed payee, uint64 livenessBond, uint64 credited, uint64 slashed);
        /// L2 Anchor (Shasta): the anchor transaction ran.
        #[derive(Debug, PartialEq, Eq)]
        event Anchored(uint48 prevAnchorBlockNumber, uint48 anchorBlockNumber, bytes32 ancestorsHash);
    }
}

/// Mainnet Pacaya inbox (TaikoInbox).
pub const PACAYA_INBOX: Address = address!("06a9Ab27c7e2255df1815E6CC0168d7755Feb19a");
/// Mainnet Shasta inbox.
pub const SHASTA_INBOX: Address = address!("6f21C543a4aF5189eBdb0723827577e1EF57ef1f");
/// The L2 anchor contract (both forks).
pub const L2_ANCHOR: Address = address!("1670000000000000000000000000000000010001");

/// The contracts whose logs are Taiko events, by role (`[dataflows.taiko.contracts]` in the config). Roles
/// without an address are not decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Contracts {
    /// Pacaya TaikoInbox (L1).
    pub pacaya_inbox: Option<Address>,
    /// Pacaya forced-inclusion store (L1).
    pub forced_inclusion_store: Option<Address>,
    /// Pacaya TaikoWrapper (L1).
    pub taiko_wrapper: Option<Address>,
    /// Pacaya preconfirmation slasher (L1).
    pub preconf_slasher: Option<Address>,
    /// Shasta inbox (L1).
    pub shasta_inbox: Option<Address>,
    /// Shasta L1 SignalService (checkpoints).
    pub signal_service: Option<Address>,
    /// Shasta bond manager (L1).
    pub bond_manager: Option<Address>,
    /// The L2 anchor (both forks).
    pub anchor: Option<Address>,
}

impl Default for Contracts {
    /// Mainnet: the inboxes and the anchor (the other roles' full addresses are not in
    /// `docs/taiko-events.md`: configure them).
    fn default() -> Self {
        Contracts {
            pacaya_inbox: Some(PACAYA_INBOX),
            forced_inclusion_store: None,
            taiko_wrapper: None,
            preconf_slasher: None,
            shasta_inbox: Some(SHASTA_INBOX),
            signal_service: None,
            bond_manager: None,
            anchor: Some(L2_ANCHOR),
        }
    }
}

/// A decoded Taiko event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaikoEvent {
    /// Pacaya `BatchProposed`.
    BatchProposed(pacaya::BatchProposed),
    /// Pacaya `BatchesProved`.
    BatchesProved(pacaya::BatchesProved),
    /// Pacaya `BatchesVerified`.
    BatchesVerified(pacaya::BatchesVerified),
    /// Pacaya `ForcedInclusionStored`.
    ForcedInclusionStored(pacaya::ForcedInclusionStored),
    /// Pacaya `ForcedInclusionConsumed`.
    ForcedInclusionConsumed(pacaya::ForcedInclusionConsumed),
    /// Pacaya `ForcedInclusionProcessed`.
    ForcedInclusionProcessed(pacaya::ForcedInclusionProcessed),
    /// Pacaya preconfirmation `Slashed`.
    Slashed(pacaya::Slashed),
    /// Pacaya L2 `Anchored`.
    PacayaAnchored(pacaya::Anchored),
    /// Shasta `Proposed`.
    Proposed(shasta::Proposed),
    /// Shasta `Proved`.
    Proved(shasta::Proved),
    /// Shasta `ForcedInclusionSaved`.
    ForcedInclusionSaved(shasta::ForcedInclusionSaved),
    /// Shasta `CheckpointSaved`.
    CheckpointSaved(shasta::CheckpointSaved),
    /// Shasta `LivenessBondSettled`.
    LivenessBondSettled(shasta::LivenessBondSettled),
    /// Shasta L2 `Anchored`.
    ShastaAnchored(shasta::Anchored),
}

/// A log of a Taiko contract with a known topic0 that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{event} from {address} does not decode: {reason}")]
pub struct DecodeError {
    /// The event the topic0 names.
    pub event: &'static str,
    /// Emitting contract.
    pub address: Address,
    /// The decoder's message.
    pub reason: String,
}

fn decode_as<E: SolEvent>(log: &Log) -> Result<E, DecodeError> {
    E::decode_raw_log(log.topics.iter().copied(), &log.data).map_err(|e| DecodeError {
        event: E::SIGNATURE
            .split_once('(')
            .map_or(E::SIGNATURE, |(name, _)| name),
        address: log.address,
        reason: e.to_string(),
    })
}

impl Contracts {
    /// Decodes `log` when it is a Taiko event of a configured contract: `Ok(None)` for other
    /// contracts and unknown topic0s, an error when the topic0 is known and the log does not
    /// decode as its event.
    pub fn decode(&self, log: &Log) -> Result<Option<TaikoEvent>, DecodeError> {
        let Some(topic0) = log.topics.first().copied() else {
            return Ok(None);
        };
        let is = |role: Option<Address>| role == Some(log.address);
        let t = |hash: B256| topic0 == hash;
        use TaikoEvent as E;
        let event = if is(self.pacaya_inbox) {
            if t(pacaya::BatchProposed::SIGNATURE_HASH) {
                E::BatchProposed(decode_as(log)?)
            } else if t(pacaya::BatchesProved::SIGNATURE_HASH) {
                E::BatchesProved(decode_as(log)?)
            } else if t(pacaya::BatchesVerified::SIGNATURE_HASH) {
                E::BatchesVerified(decode_as(log)?)
            } else {
                return Ok(None);
            }
        } else if is(self.forced_inclusion_store) {
            if t(pacaya::ForcedInclusionStored::SIGNATURE_HASH) {
                E::ForcedInclusionStored(decode_as(log)?)
            } else if t(pacaya::ForcedInclusionConsumed::SIGNATURE_HASH) {
                E::ForcedInclusionConsumed(decode_as(log)?)
            } else {
                return Ok(None);
            }
        } else if is(self.taiko_wrapper) && t(pacaya::ForcedInclusionProcessed::SIGNATURE_HASH) {
            E::ForcedInclusionProcessed(decode_as(log)?)
        } else if is(self.preconf_slasher) && t(pacaya::Slashed::SIGNATURE_HASH) {
            E::Slashed(decode_as(log)?)
        } else if is(self.shasta_inbox) {
            if t(shasta::Proposed::SIGNATURE_HASH) {
                E::Proposed(decode_as(log)?)
            } else if t(shasta::Proved::SIGNATURE_HASH) {
                E::Proved(decode_as(log)?)
            } else if t(shasta::ForcedInclusionSaved::SIGNATURE_HASH) {
                E::ForcedInclusionSaved(decode_as(log)?)
            } else {
                return Ok(None);
            }
        } else if is(self.signal_service) && t(shasta::CheckpointSaved::SIGNATURE_HASH) {
            E::CheckpointSaved(decode_as(log)?)
        } else if is(self.bond_manager) && t(shasta::LivenessBondSettled::SIGNATURE_HASH) {
            E::LivenessBondSettled(decode_as(log)?)
        } else if is(self.anchor) {
            if t(pacaya::Anchored::SIGNATURE_HASH) {
                E::PacayaAnchored(decode_as(log)?)
            } else if t(shasta::Anchored::SIGNATURE_HASH) {
                E::ShastaAnchored(decode_as(log)?)
            } else {
                return Ok(None);
            }
        } else {
            return Ok(None);
        };
        Ok(Some(event))
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{U256, aliases::U48, b256, fixed_bytes};

    use super::*;

    /// The topic0 values of `docs/taiko-events.md`, each also found in that document.
    #[test]
    fn every_topic0_is_the_documented_one() {
        let documented = [
            (
                pacaya::BatchProposed::SIGNATURE_HASH,
                b256!("9eb7fc80523943f28950bbb71ed6d584effe3e1e02ca4ddc8c86e5ee1558c096"),
            ),
            (
                pacaya::BatchesProved::SIGNATURE_HASH,
                b256!("c99f03c7db71a9e8c78654b1d2f77378b413cc979a02fa22dc9d39702afa92bc"),
            ),
            (
                pacaya::BatchesVerified::SIGNATURE_HASH,
                b256!("d6b1adebb10d3d794bc13103c4e9a696e79b3ce83355d8bdd77237cb20b3a4a0"),
            ),
            (
                pacaya::ForcedInclusionStored::SIGNATURE_HASH,
                b256!("ae657aef29b5c692a97f741e24336b517560eaafaaf57dfafc0a24781b631ff1"),
            ),
            (
                pacaya::ForcedInclusionConsumed::SIGNATURE_HASH,
                b256!("f809dd2f6c75fbd4675267b566cae3fc3091966f0efbfca97341e5c7eb9a4fe4"),
            ),
            (
                pacaya::ForcedInclusionProcessed::SIGNATURE_HASH,
                b256!("0dfcd5ca69fd1388717b2c8957a5f27755c9f5255b01b4d48661eafcf91c146f"),
            ),
            (
                pacaya::Slashed::SIGNATURE_HASH,
                b256!("0fc44000cc8a9cb5430445b1c17bf9cf825b20ec99dc8785ae1db0fa174e4d9b"),
            ),
            (
                pacaya::Anchored::SIGNATURE_HASH,
                b256!("41c3f410f5c8ac36bb46b1dccef0de0f964087c9e688795fa02ecfa2c20b3fe4"),
            ),
            (
                shasta::Proposed::SIGNATURE_HASH,
                b256!("7c4c4523e17533e451df15762a093e0693a2cd8b279fe54c6cd3777ed5771213"),
            ),
            (
                shasta::Proved::SIGNATURE_HASH,
                b256!("a274dcaff3629ec7d69d144038e97732516ff306fcbf8a2bc9423d106779a2f0"),
            ),
            (
                shasta::ForcedInclusionSaved::SIGNATURE_HASH,
                b256!("18c4fc1e6ac628dbb537b0375bf0efabf1ff2528af1ec22faa74d2da95c29471"),
            ),
            (
                shasta::CheckpointSaved::SIGNATURE_HASH,
                b256!("f726c53cbb9e62552afc4a8f1bb1d01fa9272e526a7e3a69eba93b778b3f42a6"),
            ),
            (
                shasta::LivenessBondSettled::SIGNATURE_HASH,
                b256!("aa22f5157944b5fa6846460e159d57ea9c3878e71fda274af372fa2ccf285aa0"),
            ),
            (
                shasta::Anchored::SIGNATURE_HASH,
                b256!("7efb645089c13cff3d84f896f1bf50411e06ae8453a771bd7e3ea45ffb97ac38"),
            ),
        ];
        let text = include_str!("../../docs/taiko-events.md");
        for (i, (ours, doc)) in documented.iter().enumerate() {
            assert_eq!(ours, doc, "event {i}");
            assert!(
                text.contains(&doc.to_string()),
                "{doc} is not in docs/taiko-events.md"
            );
        }
    }

    fn log_of<E: SolEvent>(address: Address, event: &E) -> Log {
        let data = event.encode_log_data();
        Log {
            tx_index: 0,
            log_index: 0,
            tx_hash: B256::ZERO,
            address,
            topics: data.topics().to_vec(),
            data: data.data.to_vec(),
        }
    }

    fn proposal() -> shasta::Proposed {
        shasta::Proposed {
            id: U48::from(4_242),
            proposer: address!("00000000000000000000000000000000000000aa"),
            parentProposalHash: B256::repeat_byte(0x11),
            endOfSubmissionWindowTimestamp: U48::from(1_775_000_000u64),
            basefeeSharingPctg: 75,
            sources: vec![
                shasta::DerivationSource {
                    isForcedInclusion: false,
                    blobSlice: shasta::BlobSlice {
                        blobHashes: vec![B256::repeat_byte(1), B256::repeat_byte(2)],
                        offset: alloy_primitives::aliases::U24::from(96),
                        timestamp: U48::from(1_775_000_012u64),
                    },
                },
                shasta::DerivationSource {
                    isForcedInclusion: true,
                    blobSlice: shasta::BlobSlice {
                        blobHashes: vec![B256::repeat_byte(3)],
                        offset: alloy_primitives::aliases::U24::from(0),
                        timestamp: U48::from(1_774_999_000u64),
                    },
                },
            ],
        }
    }

    #[test]
    fn shasta_logs_decode_to_their_fields() {
        let contracts = Contracts {
            signal_service: Some(address!("00000000000000000000000000000000000000c1")),
            ..Contracts::default()
        };
        let p = proposal();
        let Some(TaikoEvent::Proposed(got)) = contracts.decode(&log_of(SHASTA_INBOX, &p)).unwrap()
        else {
            panic!("not a proposal");
        };
        assert_eq!(got.id, U48::from(4_242));
        assert_eq!(
            got.proposer,
            address!("00000000000000000000000000000000000000aa")
        );
        assert_eq!(got.sources.len(), 2);
        assert!(got.sources[1].isForcedInclusion);
        assert_eq!(got.sources[0].blobSlice.blobHashes.len(), 2);
        assert_eq!(got, p);

        let proved = shasta::Proved {
            firstProposalId: U48::from(10),
            firstNewProposalId: U48::from(12),
            lastProposalId: U48::from(20),
            actualProver: address!("00000000000000000000000000000000000000bb"),
        };
        assert_eq!(
            contracts.decode(&log_of(SHASTA_INBOX, &proved)).unwrap(),
            Some(TaikoEvent::Proved(proved))
        );
        let checkpoint = shasta::CheckpointSaved {
            blockNumber: U48::from(777),
            blockHash: B256::repeat_byte(7),
            stateRoot: B256::repeat_byte(8),
        };
        let service = address!("00000000000000000000000000000000000000c1");
        assert_eq!(
            contracts.decode(&log_of(service, &checkpoint)).unwrap(),
            Some(TaikoEvent::CheckpointSaved(checkpoint))
        );
        let anchored = shasta::Anchored {
            prevAnchorBlockNumber: U48::from(100),
            anchorBlockNumber: U48::from(101),
            ancestorsHash: B256::repeat_byte(9),
        };
        assert_eq!(
            contracts.decode(&log_of(L2_ANCHOR, &anchored)).unwrap(),
            Some(TaikoEvent::ShastaAnchored(anchored))
        );
    }

    #[test]
    fn pacaya_logs_decode_to_their_fields() {
        let contracts = Contracts::default();
        let proposed = pacaya::BatchProposed {
            info: pacaya::BatchInfo {
                txsHash: B256::repeat_byte(0xaa),
                blocks: vec![
                    pacaya::BlockParams {
                        numTransactions: 12,
                        timeShift: 0,
                        signalSlots: vec![],
                    },
                    pacaya::BlockParams {
                        numTransactions: 3,
                        timeShift: 2,
                        signalSlots: vec![B256::repeat_byte(5)],
                    },
                ],
                blobHashes: vec![B256::repeat_byte(0xb1)],
                extraData: fixed_bytes!(
                    "0000000000000000000000000000000000000000000000000000000000000032"
                ),
                coinbase: address!("00000000000000000000000000000000000000cc"),
                proposedIn: 22_000_000,
                blobCreatedIn: 22_000_000,
                blobByteOffset: 0,
                blobByteSize: 4_096,
                gasLimit: 240_000_000,
                lastBlockId: 1_000_001,
                lastBlockTimestamp: 1_750_000_000,
                anchorBlockId: 21_999_990,
                anchorBlockHash: B256::repeat_byte(0xa0),
                baseFeeConfig: pacaya::BaseFeeConfig {
                    adjustmentQuotient: 8,
                    sharingPctg: 75,
                    gasIssuancePerSecond: 5_000_000,
                    minGasExcess: 1_340_000_000,
                    maxGasIssuancePerBlock: 600_000_000,
                },
            },
            meta: pacaya::BatchMetadata {
                infoHash: B256::repeat_byte(0x1f),
                proposer: address!("00000000000000000000000000000000000000dd"),
                batchId: 1_234,
                proposedAt: 1_750_000_012,
            },
            txList: vec![1u8, 2, 3].into(),
        };
        let Some(TaikoEvent::BatchProposed(got)) =
            contracts.decode(&log_of(PACAYA_INBOX, &proposed)).unwrap()
        else {
            panic!("not a batch proposal");
        };
        assert_eq!(got.meta.batchId, 1_234);
        assert_eq!(got.info.lastBlockId, 1_000_001);
        assert_eq!(got.info.blocks.len(), 2);
        assert_eq!(got, proposed);

        let proved = pacaya::BatchesProved {
            verifier: address!("00000000000000000000000000000000000000ee"),
            batchIds: vec![1_230, 1_231],
            transitions: vec![
                pacaya::Transition {
                    parentHash: B256::repeat_byte(1),
                    blockHash: B256::repeat_byte(2),
                    stateRoot: B256::repeat_byte(3),
                },
                pacaya::Transition {
                    parentHash: B256::repeat_byte(2),
                    blockHash: B256::repeat_byte(4),
                    stateRoot: B256::repeat_byte(5),
                },
            ],
        };
        assert_eq!(
            contracts.decode(&log_of(PACAYA_INBOX, &proved)).unwrap(),
            Some(TaikoEvent::BatchesProved(proved))
        );
        let verified = pacaya::BatchesVerified {
            batchId: 1_229,
            blockHash: B256::repeat_byte(6),
        };
        assert_eq!(
            contracts.decode(&log_of(PACAYA_INBOX, &verified)).unwrap(),
            Some(TaikoEvent::BatchesVerified(verified))
        );
        let anchored = pacaya::Anchored {
            parentHash: B256::repeat_byte(7),
            parentGasExcess: 42,
        };
        assert_eq!(
            contracts.decode(&log_of(L2_ANCHOR, &anchored)).unwrap(),
            Some(TaikoEvent::PacayaAnchored(anchored))
        );
        let slasher = address!("00000000000000000000000000000000000000f1");
        let slashed = pacaya::Slashed {
            committer: address!("00000000000000000000000000000000000000f2"),
            violationType: 2,
            commitmentPayload: pacaya::CommitmentPayload {
                domainSeparator: B256::repeat_byte(1),
                chainId: U256::from(167_000),
                preconferSlotTimestamp: U256::from(1_750_000_000),
                anchorId: U256::from(21_999_990),
                anchorHash: B256::repeat_byte(2),
                batchId: U256::from(1_234),
                blockHash: B256::repeat_byte(3),
                eop: true,
            },
            slashAmount: U256::from(10u64.pow(18)),
        };
        let with_slasher = Contracts {
            preconf_slasher: Some(slasher),
            ..Contracts::default()
        };
        assert_eq!(
            with_slasher.decode(&log_of(slasher, &slashed)).unwrap(),
            Some(TaikoEvent::Slashed(slashed.clone()))
        );
        // Without the slasher configured the same log is not a Taiko event.
        assert_eq!(contracts.decode(&log_of(slasher, &slashed)).unwrap(), None);
    }

    #[test]
    fn undecodable_logs_are_errors_and_others_are_not_taiko_events() {
        let contracts = Contracts::default();
        let mut bad = log_of(SHASTA_INBOX, &proposal());
        bad.data.truncate(bad.data.len() / 2);
        let err = contracts.decode(&bad).unwrap_err();
        assert_eq!(err.event, "Proposed");
        assert_eq!(err.address, SHASTA_INBOX);
        // Garbage data under every known topic0 of the inbox: an error, never a panic.
        for topic0 in [
            pacaya::BatchProposed::SIGNATURE_HASH,
            pacaya::BatchesProved::SIGNATURE_HASH,
            pacaya::BatchesVerified::SIGNATURE_HASH,
        ] {
            let log = Log {
                topics: vec![topic0],
                data: vec![0xff; 7],
                ..log_of(
                    PACAYA_INBOX,
                    &pacaya::BatchesVerified {
                        batchId: 1,
                        blockHash: B256::ZERO,
                    },
                )
            };
            assert!(contracts.decode(&log).is_err(), "{topic0}");
        }
        // A Pacaya event on the Shasta inbox (wrong fork for the contract), an unknown
        // topic0, another contract, no topics: not Taiko events.
        let verified = pacaya::BatchesVerified {
            batchId: 1,
            blockHash: B256::ZERO,
        };
        assert_eq!(
            contracts.decode(&log_of(SHASTA_INBOX, &verified)).unwrap(),
            None
        );
        let other = address!("00000000000000000000000000000000000000ff");
        assert_eq!(contracts.decode(&log_of(other, &verified)).unwrap(), None);
        let mut no_topics = log_of(PACAYA_INBOX, &verified);
        no_topics.topics.clear();
        assert_eq!(contracts.decode(&no_topics).unwrap(), None);
        // A Proposed log missing its indexed topics.
        let mut short = log_of(SHASTA_INBOX, &proposal());
        short.topics.truncate(1);
        assert!(contracts.decode(&short).is_err());
    }
}
