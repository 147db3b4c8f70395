//! The L1 side: ordinary transactions around the protocol's (forced inclusions, proposals,
//! proofs, verifications, slashings, and now and then a log that does not decode).

use super::blocks::*;
use super::*;

/// An L1 block in progress: its header fields, the protocol state it builds on and the
/// protocol's transactions so far.
struct L1Build {
    st: Protocol,
    parent_hash: B256,
    number: u64,
    timestamp: u64,
    fork: Fork,
    excess: u64,
    blob_base_fee: Wei,
    base_fee: Wei,
    /// Blobs this block may still carry.
    blobs_left: u64,
    protocol: Vec<TxSpec>,
    /// The first proposal transaction (a Pacaya verification may ride in it).
    first_proposal_tx: Option<usize>,
    /// The Pacaya proof transaction (else the verification may ride in it).
    proof_tx: Option<usize>,
}

impl RollupDevnet {
    /// A new L1 block on top of the L1 tip, with the protocol's transactions: each step
    /// below adds its transactions to the block in progress, in this order (the random
    /// draws, and so the chain a seed gives, depend on it).
    pub(super) fn next_l1(&mut self) -> L1Entry {
        let mut nb = self.start_l1();
        self.store_forced_inclusion(&mut nb);
        self.propose_batches(&mut nb);
        let prover = addr(self.config.seed, PROVER, self.rng.range(0, SEQUENCERS - 1));
        self.prove_pacaya(&mut nb, prover);
        self.prove_shasta(&mut nb, prover);
        self.verify_pacaya(&mut nb);
        self.slash(&mut nb, prover);
        self.garbage_log(&mut nb, prover);
        self.finish_l1(nb)
    }

    /// The block in progress on top of the L1 tip: its header fields and the protocol state
    /// of its parent.
    fn start_l1(&mut self) -> L1Build {
        let cfg = &self.config;
        let parent = &self.l1[self.l1.len() - 1];
        let st = parent.protocol.clone();
        let p = &parent.block;
        let (parent_hash, number, timestamp) =
            (p.hash, p.number + 1, p.timestamp + cfg.l1_slot_seconds);
        let excess = fees::next_excess_blob_gas(
            p.excess_blob_gas,
            p.blob_gas_used,
            p.base_fee_per_gas,
            &BLOBS,
        );
        let parent_fee = p.base_fee_per_gas;
        let blob_base_fee = fees::blob_base_fee(excess, &BLOBS);
        let base_fee = ((parent_fee as f64 * (0.04 * self.rng.normal()).exp()) as Wei)
            .clamp(100_000_000, 50_000_000_000);
        L1Build {
            st,
            parent_hash,
            number,
            timestamp,
            fork: self.l1_fork(number),
            excess,
            blob_base_fee,
            base_fee,
            blobs_left: BLOBS.max_blobs,
            protocol: Vec::new(),
            first_proposal_tx: None,
            proof_tx: None,
        }
    }

    /// A user stores a forced inclusion some batches before it is due.
    fn store_forced_inclusion(&mut self, nb: &mut L1Build) {
        let cfg = self.config.clone();
        let c = &cfg.contracts;
        let seed = cfg.seed;
        // A user stores a forced inclusion some batches before it is due.
        let stored_pending = match nb.fork {
            Fork::Pacaya => nb.st.pacaya_forced.is_some(),
            Fork::Shasta => nb.st.shasta_forced.is_some(),
        };
        if cfg.forced_inclusion_every > 0
            && !stored_pending
            && nb.st.batches_since_forced + 3 >= cfg.forced_inclusion_every
        {
            let user = addr(seed, USER, self.rng.range(0, 1_999));
            let blob_hash = versioned_hash(&[0xF0, seed, nb.number, self.l1_branch]);
            let fee_in_gwei = self.rng.range(1_000_000, 5_000_000);
            let size = self.rng.range(1_000, 100_000) as u32;
            let mut tx = TxSpec {
                tx_type: 3,
                blob_count: 1,
                value: Wei::from(fee_in_gwei) * 1_000_000_000,
                ..TxSpec::call(
                    user,
                    Address::ZERO,
                    self.rng.range(60_000, 90_000),
                    tip(&mut self.rng),
                )
            };
            nb.blobs_left -= 1;
            match nb.fork {
                Fork::Pacaya => {
                    let store = c.forced_inclusion_store.unwrap_or_default();
                    let fi = pacaya::ForcedInclusion {
                        blobHash: blob_hash,
                        feeInGwei: fee_in_gwei,
                        createdAtBatchId: nb.st.next_batch_id,
                        blobByteOffset: 0,
                        blobByteSize: size,
                        blobCreatedIn: nb.number,
                    };
                    tx.to = Some(store);
                    tx = tx.log(
                        store,
                        &pacaya::ForcedInclusionStored {
                            forcedInclusion: fi.clone(),
                        },
                    );
                    nb.st.pacaya_forced = Some((fi, nb.number));
                }
                Fork::Shasta => {
                    let inbox = c.shasta_inbox.unwrap_or_default();
                    let fi = shasta::ForcedInclusion {
                        feeInGwei: fee_in_gwei,
                        blobSlice: shasta::BlobSlice {
                            blobHashes: vec![blob_hash],
                            offset: U24::ZERO,
                            timestamp: U48::from(nb.timestamp),
                        },
                    };
                    tx.to = Some(inbox);
                    tx = tx.log(
                        inbox,
                        &shasta::ForcedInclusionSaved {
                            forcedInclusion: fi.clone(),
                        },
                    );
                    nb.st.shasta_forced = Some((fi, nb.number));
                }
            }
            nb.protocol.push(tx);
        }
    }

    /// Proposals of the L2 blocks older than this block, batch by batch (a forced inclusion
    /// first when one is due).
    fn propose_batches(&mut self, nb: &mut L1Build) {
        let cfg = self.config.clone();
        // Proposals of the L2 blocks older than this block, batch by batch.
        let available = (nb.timestamp - cfg.genesis_timestamp - 1) / cfg.l2_slot_seconds;
        if self.rng.unit() < 0.85 {
            let mut proposals = 0;
            while proposals < MAX_PROPOSALS_PER_BLOCK && nb.blobs_left > 0 {
                let forced_due = cfg.forced_inclusion_every > 0
                    && nb.st.batches_since_forced + 1 >= cfg.forced_inclusion_every
                    && match nb.fork {
                        Fork::Pacaya => nb
                            .st
                            .pacaya_forced
                            .as_ref()
                            .is_some_and(|f| f.1 < nb.number),
                        Fork::Shasta => nb
                            .st
                            .shasta_forced
                            .as_ref()
                            .is_some_and(|f| f.1 < nb.number),
                    };
                let forced_blocks = u64::from(forced_due);
                if nb.st.next_l2 + forced_blocks + nb.st.next_batch_size - 1 > available {
                    break;
                }
                let n_blobs = self.rng.range(1, 3.min(nb.blobs_left));
                nb.blobs_left -= n_blobs;
                let tx = match nb.fork {
                    Fork::Pacaya => self.propose_pacaya(
                        &mut nb.st,
                        nb.number,
                        nb.timestamp,
                        forced_due,
                        n_blobs,
                    ),
                    Fork::Shasta => self.propose_shasta(
                        &mut nb.st,
                        nb.number,
                        nb.timestamp,
                        forced_due,
                        n_blobs,
                    ),
                };
                if forced_due {
                    nb.st.batches_since_forced = 0;
                } else {
                    nb.st.batches_since_forced += 1;
                }
                nb.st.next_batch_size = self
                    .rng
                    .range(cfg.blocks_per_batch[0], cfg.blocks_per_batch[1]);
                nb.first_proposal_tx.get_or_insert(nb.protocol.len());
                nb.protocol.push(tx);
                proposals += 1;
            }
        }
    }

    /// Pacaya proofs of the batches proposed long enough ago (not always at the first
    /// chance).
    fn prove_pacaya(&mut self, nb: &mut L1Build, prover: Address) {
        let cfg = self.config.clone();
        let c = &cfg.contracts;
        let seed = cfg.seed;
        // Proofs of the batches proposed long enough ago (not always at the first chance).
        let due = |at: u64| at + cfg.prove_delay_l1_blocks <= nb.number;
        if nb.st.pacaya_unproved.front().is_some_and(|b| due(b.at)) && self.rng.unit() < 0.7 {
            let mut batches = Vec::new();
            while batches.len() < MAX_BATCHES_PER_PROOF
                && nb.st.pacaya_unproved.front().is_some_and(|b| due(b.at))
            {
                if let Some(b) = nb.st.pacaya_unproved.pop_front() {
                    batches.push(b);
                }
            }
            let inbox = c.pacaya_inbox.unwrap_or_default();
            let event = pacaya::BatchesProved {
                verifier: addr(seed, PROVER, 100),
                batchIds: batches.iter().map(|b| b.id).collect(),
                transitions: batches
                    .iter()
                    .map(|b| pacaya::Transition {
                        parentHash: self.l2_hash(b.first_block - 1),
                        blockHash: self.l2_hash(b.last_block),
                        stateRoot: hash_of(&[0x5700, seed, b.last_block], &[]),
                    })
                    .collect(),
            };
            let gas = 250_000 + 40_000 * batches.len() as u64;
            nb.proof_tx = Some(nb.protocol.len());
            nb.protocol
                .push(TxSpec::call(prover, inbox, gas, tip(&mut self.rng)).log(inbox, &event));
            for mut b in batches {
                b.at = nb.number;
                nb.st.pacaya_unverified.push_back(b);
            }
        }
    }

    /// Shasta proofs of the proposals made long enough ago, with the signal service's
    /// checkpoint.
    fn prove_shasta(&mut self, nb: &mut L1Build, prover: Address) {
        let cfg = self.config.clone();
        let c = &cfg.contracts;
        let seed = cfg.seed;
        let due = |at: u64| at + cfg.prove_delay_l1_blocks <= nb.number;
        if nb
            .st
            .shasta_unproved
            .front()
            .is_some_and(|p| due(p.proposed_at))
            && self.rng.unit() < 0.7
        {
            let mut proposals = Vec::new();
            while proposals.len() < MAX_BATCHES_PER_PROOF
                && nb
                    .st
                    .shasta_unproved
                    .front()
                    .is_some_and(|p| due(p.proposed_at))
            {
                if let Some(p) = nb.st.shasta_unproved.pop_front() {
                    proposals.push(p);
                }
            }
            if let (Some(first), Some(last)) = (proposals.first(), proposals.last()) {
                let inbox = c.shasta_inbox.unwrap_or_default();
                let signal = c.signal_service.unwrap_or_default();
                // Now and then a proof also covers the last already finalized proposal.
                let covered = if first.id > 1 && self.rng.unit() < 0.3 {
                    first.id - 1
                } else {
                    first.id
                };
                let checkpoint = shasta::CheckpointSaved {
                    blockNumber: U48::from(last.last_block),
                    blockHash: self.l2_hash(last.last_block),
                    stateRoot: hash_of(&[0x5700, seed, last.last_block], &[]),
                };
                let proved = shasta::Proved {
                    firstProposalId: U48::from(covered),
                    firstNewProposalId: U48::from(first.id),
                    lastProposalId: U48::from(last.id),
                    actualProver: prover,
                };
                let gas = 300_000 + 20_000 * proposals.len() as u64;
                nb.protocol.push(
                    TxSpec::call(prover, inbox, gas, tip(&mut self.rng))
                        .log(signal, &checkpoint)
                        .log(inbox, &proved),
                );
            }
        }
    }

    /// Pacaya verification of the batches proved long enough ago, in a proposal or proof
    /// transaction of this block when it has one.
    fn verify_pacaya(&mut self, nb: &mut L1Build) {
        let cfg = self.config.clone();
        let c = &cfg.contracts;
        let seed = cfg.seed;
        // Pacaya verification of the batches proved long enough ago, in a proposal or proof
        // transaction when this block has one.
        let verify_due = |at: u64| at + cfg.verify_delay_l1_blocks <= nb.number;
        let mut verified = None;
        while nb
            .st
            .pacaya_unverified
            .front()
            .is_some_and(|b| verify_due(b.at))
        {
            verified = nb.st.pacaya_unverified.pop_front();
        }
        if let Some(b) = verified {
            let inbox = c.pacaya_inbox.unwrap_or_default();
            let event = pacaya::BatchesVerified {
                batchId: b.id,
                blockHash: self.l2_hash(b.last_block),
            };
            match nb
                .first_proposal_tx
                .filter(|_| nb.fork == Fork::Pacaya)
                .or(nb.proof_tx)
            {
                Some(i) => nb.protocol[i].logs.push((inbox, event.encode_log_data())),
                None => {
                    let from = addr(seed, SEQUENCER, self.rng.range(0, SEQUENCERS - 1));
                    nb.protocol.push(
                        TxSpec::call(from, inbox, 120_000, tip(&mut self.rng)).log(inbox, &event),
                    );
                }
            }
        }
    }

    /// Now and then a slashing.
    fn slash(&mut self, nb: &mut L1Build, prover: Address) {
        let cfg = self.config.clone();
        let c = &cfg.contracts;
        let seed = cfg.seed;
        // A slashing.
        if self.rng.unit() < cfg.slashing_rate {
            let from = addr(seed, CHALLENGER, self.rng.range(0, 9));
            let culprit = addr(seed, SEQUENCER, self.rng.range(0, SEQUENCERS - 1));
            match nb.fork {
                Fork::Pacaya => {
                    let slasher = c.preconf_slasher.unwrap_or_default();
                    let l2_block = nb.st.next_l2.saturating_sub(1);
                    let event = pacaya::Slashed {
                        committer: culprit,
                        violationType: self.rng.range(0, 2) as u8,
                        commitmentPayload: pacaya::CommitmentPayload {
                            domainSeparator: hash_of(&[0xD0, seed], &[]),
                            chainId: U256::from(cfg.l2_chain_id),
                            preconferSlotTimestamp: U256::from(nb.timestamp - cfg.l1_slot_seconds),
                            anchorId: U256::from(nb.number.saturating_sub(3)),
                            anchorHash: self
                                .l1_hash(nb.number.saturating_sub(3))
                                .unwrap_or_default(),
                            batchId: U256::from(nb.st.next_batch_id.saturating_sub(1)),
                            blockHash: self.l2_hash(l2_block),
                            eop: self.rng.unit() < 0.5,
                        },
                        slashAmount: U256::from(self.rng.range(1, 10))
                            * U256::from(100_000_000_000_000_000u64),
                    };
                    nb.protocol.push(
                        TxSpec::call(from, slasher, 180_000, tip(&mut self.rng))
                            .log(slasher, &event),
                    );
                }
                Fork::Shasta => {
                    let bonds = c.bond_manager.unwrap_or_default();
                    let bond = 125_000_000_000u64;
                    let slashed = if self.rng.unit() < 0.5 {
                        bond
                    } else {
                        bond / 2
                    };
                    let event = shasta::LivenessBondSettled {
                        payer: culprit,
                        payee: prover,
                        livenessBond: bond,
                        credited: bond - slashed,
                        slashed,
                    };
                    nb.protocol.push(
                        TxSpec::call(from, bonds, 90_000, tip(&mut self.rng)).log(bonds, &event),
                    );
                }
            }
        }
    }

    /// Now and then a protocol contract's log that does not decode (truncated data).
    fn garbage_log(&mut self, nb: &mut L1Build, prover: Address) {
        let cfg = self.config.clone();
        let c = &cfg.contracts;

        // Now and then a protocol contract's log that does not decode (truncated data).
        if self.rng.unit() < cfg.garbage_log_rate {
            let (address, mut data) = match nb.fork {
                Fork::Pacaya => {
                    let inbox = c.pacaya_inbox.unwrap_or_default();
                    let event = pacaya::BatchesVerified {
                        batchId: nb.st.next_batch_id,
                        blockHash: B256::repeat_byte(0xee),
                    };
                    (inbox, event.encode_log_data())
                }
                Fork::Shasta => {
                    let inbox = c.shasta_inbox.unwrap_or_default();
                    let event = shasta::Proved {
                        firstProposalId: U48::from(nb.st.next_proposal_id),
                        firstNewProposalId: U48::from(nb.st.next_proposal_id),
                        lastProposalId: U48::from(nb.st.next_proposal_id),
                        actualProver: prover,
                    };
                    (inbox, event.encode_log_data())
                }
            };
            let keep = self.rng.range(1, data.data.len() as u64 - 1) as usize;
            data.data = Bytes::from(data.data[..keep].to_vec());
            let mut tx = TxSpec::call(GARBAGE_SENDER, address, 50_000, tip(&mut self.rng));
            tx.logs.push((address, data));
            nb.protocol.push(tx);
        }
    }

    /// Ordinary transactions around the protocol's, and the block.
    fn finish_l1(&mut self, nb: L1Build) -> L1Entry {
        let seed = self.config.seed;
        let mean = u64::from(self.config.l1_txs_per_block);
        let count = self.rng.range(mean / 2, mean + mean / 2);
        let mut specs = Vec::with_capacity(count as usize + nb.protocol.len());
        for _ in 0..count {
            specs.push(self.ordinary_tx(1e9, true));
        }
        let at = self.rng.range(0, count) as usize;
        specs.splice(at..at, nb.protocol);
        let miner = addr(seed, BUILDER, self.rng.range(0, 9));
        let block = assemble(
            seed,
            Header {
                chain_id: self.config.l1_chain_id,
                number: nb.number,
                branch: self.l1_branch,
                parent_hash: nb.parent_hash,
                timestamp: nb.timestamp,
                miner,
                gas_limit: L1_GAS_LIMIT,
                base_fee: nb.base_fee,
                excess_blob_gas: nb.excess,
                blob_base_fee: nb.blob_base_fee,
            },
            specs,
        );
        L1Entry {
            block,
            protocol: nb.st,
        }
    }

    /// The blob hashes of a proposal.
    fn blob_hashes(&self, number: u64, id: u64, n: u64) -> Vec<B256> {
        (0..n)
            .map(|i| versioned_hash(&[0xB10B, self.config.seed, number, self.l1_branch, id, i]))
            .collect()
    }

    /// A Pacaya proposal transaction (through the TaikoWrapper): the forced batch first when
    /// one is due (`ForcedInclusionConsumed`, its `BatchProposed`, `ForcedInclusionProcessed`),
    /// then the normal batch.
    fn propose_pacaya(
        &mut self,
        st: &mut Protocol,
        number: u64,
        timestamp: u64,
        forced_due: bool,
        n_blobs: u64,
    ) -> TxSpec {
        let c = &self.config.contracts;
        let (inbox, wrapper, store) = (
            c.pacaya_inbox.unwrap_or_default(),
            c.taiko_wrapper.unwrap_or_default(),
            c.forced_inclusion_store.unwrap_or_default(),
        );
        let seed = self.config.seed;
        let last_normal = st.next_l2 + u64::from(forced_due) + st.next_batch_size - 1;
        let proposer = self
            .l2_info
            .get(&last_normal)
            .map_or_else(|| addr(seed, SEQUENCER, 0), |i| i.sequencer);
        let gas = 150_000 + 60_000 * st.next_batch_size + 40_000 * n_blobs;
        let mut tx = TxSpec {
            tx_type: 3,
            blob_count: n_blobs as u32,
            ..TxSpec::call(proposer, wrapper, gas, 0)
        };
        tx.tip = (self.rng.lognormal(1.5e9, 0.6).min(1e12) as Wei).max(1);
        if forced_due && let Some((fi, _)) = st.pacaya_forced.take() {
            tx.gas_used += 120_000;
            tx = tx.log(
                store,
                &pacaya::ForcedInclusionConsumed {
                    forcedInclusion: fi.clone(),
                },
            );
            let proposed = self.pacaya_batch(st, number, timestamp, 1, proposer, Some(&fi), 0);
            tx = tx.log(inbox, &proposed).log(
                wrapper,
                &pacaya::ForcedInclusionProcessed {
                    forcedInclusion: fi,
                },
            );
        }
        let size = st.next_batch_size;
        let proposed = self.pacaya_batch(st, number, timestamp, size, proposer, None, n_blobs);
        tx.log(inbox, &proposed)
    }

    /// One Pacaya `BatchProposed` of the next `size` L2 blocks; advances the state.
    #[allow(clippy::too_many_arguments)]
    fn pacaya_batch(
        &mut self,
        st: &mut Protocol,
        number: u64,
        timestamp: u64,
        size: u64,
        proposer: Address,
        forced: Option<&pacaya::ForcedInclusion>,
        n_blobs: u64,
    ) -> pacaya::BatchProposed {
        let seed = self.config.seed;
        let slot = self.config.l2_slot_seconds as u8;
        let (first, last) = (st.next_l2, st.next_l2 + size - 1);
        let id = st.next_batch_id;
        let blocks = (first..=last)
            .map(|m| {
                let txs = self.l2_info.get(&m).map_or(0, |i| i.txs);
                pacaya::BlockParams {
                    numTransactions: txs,
                    timeShift: if m == first { 0 } else { slot },
                    signalSlots: if self.rng.unit() < 0.03 {
                        vec![hash_of(&[0x5107, seed, m], &[])]
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect();
        let (blob_hashes, offset, size_bytes, created_in) = match forced {
            Some(fi) => (
                vec![fi.blobHash],
                fi.blobByteOffset,
                fi.blobByteSize,
                fi.blobCreatedIn,
            ),
            None => (
                self.blob_hashes(number, id, n_blobs),
                0,
                self.rng.range(10_000, n_blobs * 126_976) as u32,
                number,
            ),
        };
        let anchor_id = number.saturating_sub(self.rng.range(1, 4));
        let info = pacaya::BatchInfo {
            txsHash: hash_of(&[0x7A5, seed, number, self.l1_branch, id], &[]),
            blocks,
            blobHashes: blob_hashes,
            extraData: B256::with_last_byte(50),
            coinbase: proposer,
            proposedIn: number,
            blobCreatedIn: created_in,
            blobByteOffset: offset,
            blobByteSize: size_bytes,
            gasLimit: BATCH_GAS_LIMIT,
            lastBlockId: last,
            lastBlockTimestamp: self.l2_info.get(&last).map_or(0, |i| i.timestamp),
            anchorBlockId: anchor_id,
            anchorBlockHash: self.l1_hash(anchor_id).unwrap_or_default(),
            baseFeeConfig: pacaya::BaseFeeConfig {
                adjustmentQuotient: 8,
                sharingPctg: 75,
                gasIssuancePerSecond: 5_000_000,
                minGasExcess: 1_340_000_000,
                maxGasIssuancePerBlock: 600_000_000,
            },
        };
        let meta = pacaya::BatchMetadata {
            infoHash: keccak256(info.abi_encode()),
            proposer,
            batchId: id,
            proposedAt: timestamp,
        };
        st.pacaya_unproved.push_back(PacayaBatch {
            id,
            at: number,
            first_block: first,
            last_block: last,
        });
        st.next_batch_id += 1;
        st.next_l2 = last + 1;
        pacaya::BatchProposed {
            info,
            meta,
            txList: Bytes::new(),
        }
    }

    /// A Shasta proposal transaction to the inbox: one `Proposed` whose sources are the
    /// forced inclusion (when due) and the proposer's blobs.
    fn propose_shasta(
        &mut self,
        st: &mut Protocol,
        number: u64,
        timestamp: u64,
        forced_due: bool,
        n_blobs: u64,
    ) -> TxSpec {
        let seed = self.config.seed;
        let inbox = self.config.contracts.shasta_inbox.unwrap_or_default();
        let id = st.next_proposal_id;
        let last = st.next_l2 + u64::from(forced_due) + st.next_batch_size - 1;
        let proposer = self
            .l2_info
            .get(&last)
            .map_or_else(|| addr(seed, SEQUENCER, 0), |i| i.sequencer);
        let mut sources = Vec::new();
        if forced_due && let Some((fi, _)) = st.shasta_forced.take() {
            sources.push(shasta::DerivationSource {
                isForcedInclusion: true,
                blobSlice: fi.blobSlice,
            });
        }
        sources.push(shasta::DerivationSource {
            isForcedInclusion: false,
            blobSlice: shasta::BlobSlice {
                blobHashes: self.blob_hashes(number, id, n_blobs),
                offset: U24::from(self.rng.range(0, 4_096)),
                timestamp: U48::from(timestamp),
            },
        });
        let event = shasta::Proposed {
            id: U48::from(id),
            proposer,
            parentProposalHash: st.parent_proposal_hash,
            endOfSubmissionWindowTimestamp: U48::from(timestamp + 4 * self.config.l1_slot_seconds),
            basefeeSharingPctg: 75,
            sources,
        };
        let data = event.encode_log_data();
        st.parent_proposal_hash = keccak256(&data.data);
        st.shasta_unproved.push_back(ShastaProposal {
            id,
            proposed_at: number,
            last_block: last,
        });
        st.next_proposal_id += 1;
        st.next_l2 = last + 1;
        let gas = 120_000 + 30_000 * n_blobs + if forced_due { 80_000 } else { 0 };
        let mut tx = TxSpec {
            tx_type: 3,
            blob_count: n_blobs as u32,
            ..TxSpec::call(proposer, inbox, gas, 0)
        };
        tx.tip = (self.rng.lognormal(1.5e9, 0.6).min(1e12) as Wei).max(1);
        tx.logs.push((inbox, data));
        tx
    }
}

/// A lognormal priority fee around 1 gwei.
fn tip(rng: &mut Rng) -> Wei {
    (rng.lognormal(1e9, 0.8).min(1e12) as Wei).max(1)
}
