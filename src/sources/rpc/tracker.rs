//! The chain tracker: the canonical chain of one chain id, by hash and parent hash, back to
//! the finalized block; turns announced heads into [`ChainEvent`]s.
//!
//! ```text
//!  head (number, hash) ─► known canonical hash? ── yes ─► nothing (a repeat or a stale head)
//!        │ no
//!        ▼ fetch the block by hash ── unknown ─► the head was reorged away: follow `latest`
//!        ▼ walk parents by hash until one is canonical in the window (the fork point)
//!  fork point = tip          ─► Committed { new }
//!  fork point below the tip  ─► Reorged { old: canonical blocks above the fork point, new }
//!  no fork point in window, or fork point below finality ─► DeepReorg error (or resync)
//! ```
//!
//! Hashes are compared, never numbers alone: a depth-1 reorg of the tip has the same parent
//! as the old tip and is found because the hash stored at that height differs; a fork that
//! lands higher is still a reorg. Every head is resolved against the window as applied, in
//! one step, so a second reorg seen before the first is emitted cannot shorten a rewind. A
//! head that would reorg the chain is followed only when the node confirms it as canonical at
//! its height: nodes keep orphaned blocks, and a late announcement of one (or a lagging node
//! behind a load balancer) is not a reorg. A repeated head is nothing.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::model::{B256, Block, ChainEvent, ChainId};
use crate::sources::SourceError;

/// What to do when a reorg reaches below the window or below finality.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeepReorgPolicy {
    /// Stop with an error naming the chain, the depth and the hashes.
    #[default]
    Halt,
    /// Retract every tracked block above the finalized one and re-read the node's chain from
    /// there.
    Resync,
}

/// Tracker settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerConfig {
    /// Chain id of the blocks.
    pub chain_id: ChainId,
    /// Blocks kept below the tip, and the finality depth used when the node reports none.
    pub window: u64,
    /// What a too-deep reorg does.
    pub on_deep_reorg: DeepReorgPolicy,
}

/// How the tracker reads the node. The RPC source implements it; tests use a scripted chain.
pub trait BlockFetcher {
    /// The full block (transactions, receipts, logs) with this hash; `None` when unknown.
    fn block_by_hash(&mut self, hash: B256) -> Result<Option<Block>, SourceError>;
    /// The full canonical block at `number`, or the latest one for `None`; `None` when absent.
    fn block_by_number(&mut self, number: Option<u64>) -> Result<Option<Block>, SourceError>;
    /// The node's finalized height, when it reports one.
    fn finalized(&mut self) -> Result<Option<u64>, SourceError>;
    /// The hash of the node's canonical block at `number` (a header read is enough).
    fn canonical_hash(&mut self, number: u64) -> Result<Option<B256>, SourceError> {
        Ok(self.block_by_number(Some(number))?.map(|b| b.hash))
    }
    /// The canonical blocks `from..=to` in order, stopping before the first absent one. A
    /// node client fetches them concurrently.
    fn blocks_by_number(&mut self, from: u64, to: u64) -> Result<Vec<Block>, SourceError> {
        let mut blocks = Vec::new();
        for n in from..=to {
            match self.block_by_number(Some(n))? {
                Some(b) => blocks.push(b),
                None => break,
            }
        }
        Ok(blocks)
    }
}

/// Blocks committed per event while backfilling a range.
pub const BACKFILL_CHUNK: u64 = 128;

/// A head announcement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Height.
    pub number: u64,
    /// Hash.
    pub hash: B256,
}

impl Head {
    /// The head announced by an RPC header.
    pub fn of(header: &alloy_rpc_types_eth::Header) -> Self {
        Head {
            number: header.number,
            hash: header.hash,
        }
    }
}

/// The canonical chain of one chain id and the events that change it.
pub struct ChainTracker {
    config: TrackerConfig,
    /// Canonical blocks, oldest first; consecutive numbers.
    window: VecDeque<Block>,
    /// Hash to number of every block in the window.
    index: HashMap<B256, u64>,
    /// The node's finalized height, when it reports one.
    finalized: Option<u64>,
}

impl ChainTracker {
    /// An empty tracker; the first head (or [`ChainTracker::start_at`]) anchors it.
    pub fn new(config: TrackerConfig) -> Self {
        ChainTracker {
            config,
            window: VecDeque::new(),
            index: HashMap::new(),
            finalized: None,
        }
    }

    /// The chain id tracked.
    pub fn chain_id(&self) -> ChainId {
        self.config.chain_id
    }

    /// The canonical tip, if any.
    pub fn tip(&self) -> Option<&Block> {
        self.window.back()
    }

    /// The finalized height: the node's when it reports one, else `tip - window`.
    pub fn finalized(&self) -> u64 {
        let by_depth = self
            .tip()
            .map_or(0, |t| t.number.saturating_sub(self.config.window));
        self.finalized.unwrap_or(by_depth)
    }

    /// The canonical hash at `number`, if it is in the window.
    pub fn hash_at(&self, number: u64) -> Option<B256> {
        let first = self.window.front()?.number;
        self.window
            .get(number.checked_sub(first)? as usize)
            .map(|b| b.hash)
    }

    /// Seeds the window with blocks already applied downstream (consecutive and linked,
    /// oldest first), as a restart that resumes from published events does: the next heads
    /// are resolved against them, so a reorg that happened meanwhile retracts exactly them.
    /// Returns `false` (and seeds nothing) when they are not consecutive and linked.
    pub fn resume(&mut self, blocks: Vec<Block>) -> bool {
        let linked = blocks
            .windows(2)
            .all(|p| p[1].number == p[0].number + 1 && p[1].parent_hash == p[0].hash);
        if !linked {
            return false;
        }
        self.window.clear();
        self.index.clear();
        for b in blocks {
            self.index.insert(b.hash, b.number);
            self.window.push_back(b);
        }
        true
    }

    /// Reads the node's canonical blocks from `from` up to its latest head and commits them,
    /// handing each event to `emit` as soon as its chunk is read (with the finalized height;
    /// `emit` returns `false` to stop): the start of a run that must cover a range (a backfill). A reorg during the read
    /// ends the consistent prefix; the latest head then walks back to it by hash.
    pub fn start_at(
        &mut self,
        fetch: &mut dyn BlockFetcher,
        from: u64,
        emit: &mut dyn FnMut(ChainEvent, u64) -> bool,
    ) -> Result<(), SourceError> {
        self.read_range(fetch, from, None, emit)
    }

    /// Like [`ChainTracker::start_at`], but reads no further than `to` when it is given (a
    /// replay of a historical range): the last step resolves the node's block at `to` by
    /// hash instead of its latest head.
    pub fn read_range(
        &mut self,
        fetch: &mut dyn BlockFetcher,
        from: u64,
        to: Option<u64>,
        emit: &mut dyn FnMut(ChainEvent, u64) -> bool,
    ) -> Result<(), SourceError> {
        // The node answers "none" for a block reorged away between its two reads (block, then
        // receipts): a head that moved, not an empty chain. Without this first block the
        // range has no end, and the next live head would anchor the tracker above `from`.
        let mut latest = self.read_block(fetch, None)?;
        if let Some(to) = to
            && to < latest.number
        {
            latest = self.read_block(fetch, Some(to))?;
        }
        self.refresh_finality(fetch)?;
        let mut next = from;
        let mut empty_reads = 0;
        while next <= latest.number {
            let to = (next + BACKFILL_CHUNK - 1).min(latest.number);
            let chunk = fetch.blocks_by_number(next, to)?;
            let complete = chunk.len() as u64 == to - next + 1;
            let mut new: Vec<Block> = Vec::with_capacity(chunk.len());
            let mut linked = true;
            for block in chunk {
                let parent = new.last().or(self.window.back());
                if parent.is_some_and(|p| p.hash != block.parent_hash) {
                    linked = false;
                    break;
                }
                new.push(block);
            }
            let read = new.len();
            for event in self.apply(Vec::new(), new) {
                if !emit(event, self.finalized()) {
                    return Ok(());
                }
            }
            if self.window.is_empty() && read == 0 {
                // Nothing read yet (the node was rewriting these heights): without a first
                // block there is nothing to walk back to, so read the chunk again.
                empty_reads += 1;
                if empty_reads > 20 {
                    return Err(SourceError::Invalid {
                        chain_id: self.config.chain_id,
                        what: format!("blocks {next}..={to}"),
                        reason: "the node returned none of them 20 times in a row".into(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
                continue;
            }
            if !(complete && linked) {
                break;
            }
            next = to + 1;
        }
        // Whatever changed during the read is reached from the latest head (or the range's
        // last block) by hash.
        let last = self.read_block(fetch, to.map(|to| to.min(latest.number)))?;
        for event in self.on_head(
            fetch,
            Head {
                number: last.number,
                hash: last.hash,
            },
        )? {
            if !emit(event, self.finalized()) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The node's block at `number` (the latest for `None`), read again while the node
    /// answers none (its chain is moving under the read); an error after 20 such answers.
    fn read_block(
        &self,
        fetch: &mut dyn BlockFetcher,
        number: Option<u64>,
    ) -> Result<Block, SourceError> {
        const ATTEMPTS: u32 = 20;
        for attempt in 1..=ATTEMPTS {
            if let Some(block) = fetch.block_by_number(number)? {
                return Ok(block);
            }
            if attempt < ATTEMPTS {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        Err(SourceError::Invalid {
            chain_id: self.config.chain_id,
            what: match number {
                Some(n) => format!("block {n}"),
                None => "the latest block".into(),
            },
            reason: format!("the node returned none {ATTEMPTS} times in a row"),
        })
    }

    /// Resolves an announced head into the events that bring the canonical chain to it.
    pub fn on_head(
        &mut self,
        fetch: &mut dyn BlockFetcher,
        head: Head,
    ) -> Result<Vec<ChainEvent>, SourceError> {
        if self.index.contains_key(&head.hash) {
            return Ok(Vec::new()); // a repeat, or a stale announcement of a canonical block
        }
        let Some(block) = fetch.block_by_hash(head.hash)? else {
            // Reorged away before we fetched it: a reorg signal. Follow the node's latest head.
            return self.follow_latest(fetch, Some(head.hash));
        };
        self.refresh_finality(fetch)?;
        let events = self.extend_to(fetch, block)?;
        if !events.is_empty() {
            // The new chain may now agree with the node where it did not before.
            self.refresh_finality(fetch)?;
        }
        Ok(events)
    }

    fn follow_latest(
        &mut self,
        fetch: &mut dyn BlockFetcher,
        gone: Option<B256>,
    ) -> Result<Vec<ChainEvent>, SourceError> {
        match fetch.block_by_number(None)? {
            Some(latest) if Some(latest.hash) != gone && !self.index.contains_key(&latest.hash) => {
                self.refresh_finality(fetch)?;
                self.extend_to(fetch, latest)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Takes the node's finalized height, but only where our own chain agrees with the node
    /// at that height: a tracker that lags behind the node may still hold blocks the node
    /// orphaned before it finalized their height, and those must remain retractable.
    fn refresh_finality(&mut self, fetch: &mut dyn BlockFetcher) -> Result<(), SourceError> {
        let Some(node) = fetch.finalized()? else {
            return Ok(());
        };
        let Some(tip) = self.window.back().map(|b| b.number) else {
            self.finalized = Some(node);
            return Ok(());
        };
        let candidate = node.min(tip);
        if self.finalized.is_some_and(|f| f >= candidate) {
            return Ok(());
        }
        match self.hash_at(candidate) {
            Some(ours) if fetch.canonical_hash(candidate)? == Some(ours) => {
                self.finalized = Some(candidate)
            }
            // Below the window: older than anything we can retract anyway.
            None if self.window.front().is_some_and(|b| candidate < b.number) => {
                self.finalized = Some(candidate)
            }
            _ => {}
        }
        Ok(())
    }

    /// Walks back from `block` by parent hash to the window and emits the change.
    fn extend_to(
        &mut self,
        fetch: &mut dyn BlockFetcher,
        block: Block,
    ) -> Result<Vec<ChainEvent>, SourceError> {
        let Some(oldest) = self.window.front().map(|b| b.number) else {
            return Ok(self.apply(Vec::new(), vec![block]));
        };
        // Missed heads (a burst, a reconnect): read the gap by number, concurrently, and take
        // it when it links the tip to the head; otherwise walk the parents by hash.
        if let Some(tip) = self.window.back()
            && block.number > tip.number + 1
        {
            let tip_hash = tip.hash;
            let mut gap = fetch.blocks_by_number(tip.number + 1, block.number - 1)?;
            let linked = gap.first().is_some_and(|g| g.parent_hash == tip_hash)
                && gap.windows(2).all(|w| w[1].parent_hash == w[0].hash)
                && gap.last().is_some_and(|g| g.hash == block.parent_hash)
                && gap.len() as u64 == block.number - tip.number - 1;
            if linked {
                gap.push(block);
                return Ok(self.apply(Vec::new(), gap));
            }
        }
        let mut branch = vec![block];
        loop {
            let cur = &branch[branch.len() - 1];
            if self.index.contains_key(&cur.parent_hash) {
                break;
            }
            if cur.number <= oldest {
                let chain_id = self.config.chain_id;
                let (tip_number, tip_hash) = self
                    .window
                    .back()
                    .map(|b| (b.number, b.hash))
                    .unwrap_or_default();
                let new_tip = &branch[0];
                let what = format!(
                    "reorg of depth at least {} on chain {chain_id} from tip {tip_number} ({tip_hash}) to {} ({}): no common ancestor within the {}-block window (block {} ({}) has unknown parent {})",
                    tip_number.saturating_sub(cur.number) + 1,
                    new_tip.number,
                    new_tip.hash,
                    self.window.len(),
                    cur.number,
                    cur.hash,
                    cur.parent_hash
                );
                return self.deep_reorg(fetch, branch, what);
            }
            let parent_hash = cur.parent_hash;
            match fetch.block_by_hash(parent_hash)? {
                Some(parent) => branch.push(parent),
                // The branch is being orphaned while we walk it: take the node's latest instead.
                None => return self.follow_latest(fetch, None),
            }
        }
        branch.reverse();
        let fork_parent = branch[0].parent_hash;
        let fork_number = self.index.get(&fork_parent).copied().unwrap_or(0);
        let tip_number = self.window.back().map(|b| b.number).unwrap_or(0);
        let depth = tip_number.saturating_sub(fork_number);
        if depth > 0 {
            // A reorg only when the node confirms the new tip as canonical: nodes keep
            // orphaned blocks, and a late or lagging announcement of one is not a reorg.
            let new_tip = &branch[branch.len() - 1];
            let canonical = fetch.block_by_number(Some(new_tip.number))?.map(|b| b.hash);
            if canonical != Some(new_tip.hash) {
                tracing::debug!(chain_id = self.config.chain_id, number = new_tip.number, hash = %new_tip.hash, "ignoring a head the node does not hold as canonical");
                return Ok(Vec::new());
            }
        }
        let finalized = self.finalized();
        if depth > 0 && (fork_number < finalized || depth > self.config.window) {
            let old_tip = self.window.back().map(|b| b.hash).unwrap_or_default();
            let new_tip = branch[branch.len() - 1].hash;
            let what = format!(
                "reorg of depth {depth} on chain {} from tip {old_tip} to {new_tip} forks at block {fork_number}, {}",
                self.config.chain_id,
                if fork_number < finalized {
                    format!("below the finalized block {finalized}")
                } else {
                    format!("deeper than the {}-block window", self.config.window)
                }
            );
            if fork_number < finalized || self.config.on_deep_reorg == DeepReorgPolicy::Halt {
                return self.deep_reorg(fetch, branch, what);
            }
            tracing::warn!(chain_id = self.config.chain_id, reason = %what, "deep reorg within the tracked blocks: applying it");
        }
        let keep = (fork_number + 1).saturating_sub(oldest) as usize;
        let old: Vec<Block> = self.window.drain(keep.min(self.window.len())..).collect();
        for b in &old {
            self.index.remove(&b.hash);
        }
        Ok(self.apply(old, branch))
    }

    fn deep_reorg(
        &mut self,
        fetch: &mut dyn BlockFetcher,
        _branch: Vec<Block>,
        what: String,
    ) -> Result<Vec<ChainEvent>, SourceError> {
        match self.config.on_deep_reorg {
            DeepReorgPolicy::Halt => Err(SourceError::DeepReorg {
                chain_id: self.config.chain_id,
                reason: what,
            }),
            DeepReorgPolicy::Resync => {
                tracing::warn!(chain_id = self.config.chain_id, reason = %what, "deep reorg: resynchronising from the finalized block");
                let from = self.finalized() + 1;
                let old: Vec<Block> = self.window.drain(..).filter(|b| b.number >= from).collect();
                self.index.clear();
                let mut new = Vec::new();
                let Some(latest) = fetch.block_by_number(None)? else {
                    return Ok(self.apply(old, new));
                };
                for n in from..=latest.number {
                    match fetch.block_by_number(Some(n))? {
                        Some(b) => {
                            if new.last().is_some_and(|p: &Block| p.hash != b.parent_hash) {
                                return Err(SourceError::DeepReorg {
                                    chain_id: self.config.chain_id,
                                    reason: format!(
                                        "{what}; the node changed again while resynchronising at block {n}"
                                    ),
                                });
                            }
                            new.push(b);
                        }
                        None => break,
                    }
                }
                Ok(self.apply(old, new))
            }
        }
    }

    /// Applies a change to the window and returns it as an event.
    fn apply(&mut self, old: Vec<Block>, new: Vec<Block>) -> Vec<ChainEvent> {
        for b in &new {
            self.index.insert(b.hash, b.number);
            self.window.push_back(b.clone());
        }
        // Keep `window` blocks below the tip (and everything above finality).
        if let Some(tip) = self.window.back().map(|b| b.number) {
            // Blocks above the node's finalized one stay even past the window, so a reorg
            // the node may still make can be retracted.
            let mut floor = tip.saturating_sub(self.config.window);
            if let Some(f) = self.finalized {
                floor = floor.min(f);
            }
            while self.window.len() > 1 && self.window.front().is_some_and(|b| b.number < floor) {
                if let Some(b) = self.window.pop_front() {
                    self.index.remove(&b.hash);
                }
            }
        }
        match (old.is_empty(), new.is_empty()) {
            (true, true) => Vec::new(),
            (true, false) => vec![ChainEvent::Committed { new }],
            (false, false) => vec![ChainEvent::Reorged { old, new }],
            (false, true) => vec![ChainEvent::Reverted { old }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Address;

    /// A scripted node: every block ever made, and the current canonical chain.
    #[derive(Default)]
    struct Node {
        all: HashMap<B256, Block>,
        canonical: Vec<B256>,
        finalized: Option<u64>,
        fetches: usize,
    }

    fn hash(branch: u64, number: u64) -> B256 {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&branch.to_be_bytes());
        b[8..16].copy_from_slice(&number.to_be_bytes());
        b[31] = 1;
        B256::from(b)
    }

    impl Node {
        fn new(len: u64) -> Self {
            let mut node = Node::default();
            node.push_branch(0, 0, len + 1);
            node
        }

        /// Replaces everything above `fork` with `len` blocks of `branch`.
        fn push_branch(&mut self, branch: u64, fork: u64, len: u64) {
            self.canonical
                .truncate(fork as usize + usize::from(!self.canonical.is_empty()));
            let start = self.canonical.len() as u64;
            for number in start..start + len {
                let parent_hash = if number == 0 {
                    B256::ZERO
                } else {
                    self.canonical[number as usize - 1]
                };
                let block = Block {
                    chain_id: 1,
                    number,
                    hash: hash(branch, number),
                    parent_hash,
                    timestamp: 1_000 + number * 12,
                    miner: Address::ZERO,
                    gas_used: 0,
                    gas_limit: 30_000_000,
                    base_fee_per_gas: 7,
                    blob_gas_used: 0,
                    excess_blob_gas: 0,
                    blob_base_fee: 1,
                    transactions: vec![],
                    logs: vec![],
                };
                self.canonical.push(block.hash);
                self.all.insert(block.hash, block);
            }
        }

        fn reorg(&mut self, branch: u64, depth: u64, len: u64) {
            let tip = self.canonical.len() as u64 - 1;
            self.push_branch(branch, tip - depth, len);
        }

        fn head(&self) -> Head {
            let hash = self.canonical[self.canonical.len() - 1];
            Head {
                number: self.all[&hash].number,
                hash,
            }
        }
    }

    impl BlockFetcher for Node {
        fn block_by_hash(&mut self, hash: B256) -> Result<Option<Block>, SourceError> {
            self.fetches += 1;
            Ok(self.all.get(&hash).cloned())
        }
        fn block_by_number(&mut self, number: Option<u64>) -> Result<Option<Block>, SourceError> {
            self.fetches += 1;
            let n = number.unwrap_or(self.canonical.len() as u64 - 1);
            Ok(self.canonical.get(n as usize).map(|h| self.all[h].clone()))
        }
        fn finalized(&mut self) -> Result<Option<u64>, SourceError> {
            Ok(self.finalized)
        }
    }

    /// A node whose first range reads and first latest-block reads come back empty (it is
    /// rewriting those heights).
    struct Flaky {
        node: Node,
        empty_reads: usize,
        empty_latest: usize,
    }

    impl BlockFetcher for Flaky {
        fn block_by_hash(&mut self, hash: B256) -> Result<Option<Block>, SourceError> {
            self.node.block_by_hash(hash)
        }
        fn block_by_number(&mut self, number: Option<u64>) -> Result<Option<Block>, SourceError> {
            if number.is_none() && self.empty_latest > 0 {
                self.empty_latest -= 1;
                return Ok(None);
            }
            self.node.block_by_number(number)
        }
        fn finalized(&mut self) -> Result<Option<u64>, SourceError> {
            self.node.finalized()
        }
        fn blocks_by_number(&mut self, from: u64, to: u64) -> Result<Vec<Block>, SourceError> {
            if self.empty_reads > 0 {
                self.empty_reads -= 1;
                return Ok(Vec::new());
            }
            self.node.blocks_by_number(from, to)
        }
    }

    impl Flaky {
        fn new(len: u64, empty_reads: usize, empty_latest: usize) -> Self {
            Flaky {
                node: Node::new(len),
                empty_reads,
                empty_latest,
            }
        }
    }

    /// The numbers of the blocks a backfill from `from` emits.
    fn backfilled(mut node: Flaky, from: u64) -> Vec<u64> {
        let mut t = tracker(64, DeepReorgPolicy::Halt);
        let mut numbers = Vec::new();
        t.start_at(&mut node, from, &mut |e, _| {
            numbers.extend(e.new_blocks().iter().map(|b| b.number));
            true
        })
        .unwrap();
        numbers
    }

    #[test]
    fn a_backfill_whose_first_read_is_empty_reads_again_instead_of_jumping_to_the_head() {
        let numbers = backfilled(Flaky::new(30, 2, 0), 5);
        assert_eq!(numbers, (5..=30).collect::<Vec<_>>());
    }

    #[test]
    fn a_backfill_whose_latest_block_vanishes_reads_it_again_instead_of_starting_at_the_head() {
        // Seen against anvil under load: the latest block was reorged away between its block
        // and receipt reads, the backfill ended with nothing read, and the next live head
        // anchored the tracker there: blocks below it were never emitted.
        let numbers = backfilled(Flaky::new(30, 0, 3), 0);
        assert_eq!(numbers, (0..=30).collect::<Vec<_>>());
    }

    #[test]
    fn a_node_that_never_answers_its_latest_block_is_a_clear_error() {
        let mut node = Flaky::new(3, 0, usize::MAX);
        let mut t = tracker(64, DeepReorgPolicy::Halt);
        let err = t.start_at(&mut node, 0, &mut |_, _| true).unwrap_err();
        assert!(err.to_string().contains("latest block"), "{err}");
        assert!(t.tip().is_none(), "nothing anchored");
    }

    fn tracker(window: u64, policy: DeepReorgPolicy) -> ChainTracker {
        ChainTracker::new(TrackerConfig {
            chain_id: 1,
            window,
            on_deep_reorg: policy,
        })
    }

    fn start(t: &mut ChainTracker, node: &mut Node) -> Vec<ChainEvent> {
        let mut events = Vec::new();
        t.start_at(node, 0, &mut |e, _| {
            events.push(e);
            true
        })
        .unwrap();
        events
    }

    fn numbers(blocks: &[Block]) -> Vec<u64> {
        blocks.iter().map(|b| b.number).collect()
    }

    /// Applies events to a chain and checks it equals the node's canonical chain.
    fn assert_follows(chain: &mut Vec<Block>, events: &[ChainEvent], node: &Node, from: u64) {
        for e in events {
            let old = e.old();
            let tail = chain.split_off(chain.len() - old.len());
            assert_eq!(tail, old, "old is exactly the canonical tail");
            chain.extend(e.new_blocks().iter().cloned());
        }
        let hashes: Vec<B256> = chain.iter().map(|b| b.hash).collect();
        assert_eq!(hashes, node.canonical[from as usize..].to_vec());
    }

    #[test]
    fn heads_commit_and_repeats_do_nothing() {
        let mut node = Node::new(10);
        let mut t = tracker(64, DeepReorgPolicy::Halt);
        let mut chain = Vec::new();
        let ev = start(&mut t, &mut node);
        assert_follows(&mut chain, &ev, &node, 0);
        node.push_branch(0, 10, 1);
        let ev = {
            let h = node.head();
            t.on_head(&mut node, h)
        }
        .unwrap();
        assert_eq!(ev.len(), 1);
        assert!(matches!(&ev[0], ChainEvent::Committed { new } if numbers(new) == vec![11]));
        assert_follows(&mut chain, &ev, &node, 0);
        assert!(
            {
                let h = node.head();
                t.on_head(&mut node, h)
            }
            .unwrap()
            .is_empty(),
            "a repeated head is nothing"
        );
    }

    #[test]
    fn depth_one_reorg_with_the_same_parent_is_detected_by_hash() {
        let mut node = Node::new(10);
        let mut t = tracker(64, DeepReorgPolicy::Halt);
        let mut chain = Vec::new();
        let ev = start(&mut t, &mut node);
        assert_follows(&mut chain, &ev, &node, 0);
        let old_tip = t.tip().unwrap().clone();
        node.reorg(1, 1, 1);
        let ev = {
            let h = node.head();
            t.on_head(&mut node, h)
        }
        .unwrap();
        match &ev[..] {
            [ChainEvent::Reorged { old, new }] => {
                assert_eq!(old, &vec![old_tip.clone()]);
                assert_eq!(numbers(new), vec![10]);
                assert_eq!(new[0].parent_hash, old_tip.parent_hash);
            }
            other => panic!("expected one reorg, got {other:?}"),
        }
        assert_follows(&mut chain, &ev, &node, 0);
    }

    #[test]
    fn fork_landing_higher_is_a_reorg_and_gaps_are_filled() {
        let mut node = Node::new(20);
        let mut t = tracker(64, DeepReorgPolicy::Halt);
        let mut chain = Vec::new();
        let ev = start(&mut t, &mut node);
        assert_follows(&mut chain, &ev, &node, 0);
        node.reorg(1, 3, 6);
        let ev = {
            let h = node.head();
            t.on_head(&mut node, h)
        }
        .unwrap();
        assert!(
            matches!(&ev[..], [ChainEvent::Reorged { old, new }] if old.len() == 3 && new.len() == 6)
        );
        assert_follows(&mut chain, &ev, &node, 0);
        node.push_branch(1, 23, 5); // five blocks whose heads we never saw
        let ev = {
            let h = node.head();
            t.on_head(&mut node, h)
        }
        .unwrap();
        assert!(matches!(&ev[..], [ChainEvent::Committed { new }] if new.len() == 5));
        assert_follows(&mut chain, &ev, &node, 0);
    }

    #[test]
    fn a_shallower_second_reorg_does_not_shorten_the_rewind() {
        let mut node = Node::new(30);
        let mut t = tracker(64, DeepReorgPolicy::Halt);
        let mut chain = Vec::new();
        let ev = start(&mut t, &mut node);
        assert_follows(&mut chain, &ev, &node, 0);
        let before = t.tip().unwrap().number;
        node.reorg(1, 5, 5);
        let first_head = node.head();
        node.reorg(2, 2, 2);
        // Only the second head is announced; the first branch's head is now orphaned too.
        let ev = {
            let h = node.head();
            t.on_head(&mut node, h)
        }
        .unwrap();
        assert!(
            matches!(&ev[..], [ChainEvent::Reorged { old, .. }] if old.len() == 5),
            "rewind of 5, got {ev:?}"
        );
        assert_follows(&mut chain, &ev, &node, 0);
        assert_eq!(t.tip().unwrap().number, before);
        // The late announcement of the orphaned first head changes nothing.
        assert!(t.on_head(&mut node, first_head).unwrap().is_empty());
        assert_follows(&mut chain, &[], &node, 0);
    }

    #[test]
    fn an_unknown_head_is_a_reorg_signal_followed_at_once() {
        let mut node = Node::new(10);
        let mut t = tracker(64, DeepReorgPolicy::Halt);
        let mut chain = Vec::new();
        let ev = start(&mut t, &mut node);
        assert_follows(&mut chain, &ev, &node, 0);
        node.reorg(1, 2, 3);
        let ghost = Head {
            number: 12,
            hash: hash(99, 12),
        };
        let ev = t.on_head(&mut node, ghost).unwrap();
        assert_follows(&mut chain, &ev, &node, 0);
        assert!(node.fetches < 40, "no retry loop: {} fetches", node.fetches);
    }

    #[test]
    fn a_lagging_head_below_the_tip_is_ignored() {
        let mut node = Node::new(10);
        let mut t = tracker(64, DeepReorgPolicy::Halt);
        let mut chain = Vec::new();
        let ev = start(&mut t, &mut node);
        assert_follows(&mut chain, &ev, &node, 0);
        // A fork block at height 8 that another node still announces; ours says 10 is latest.
        let mut stale = node.all[&node.canonical[8]].clone();
        stale.hash = hash(7, 8);
        node.all.insert(stale.hash, stale.clone());
        assert!(
            t.on_head(
                &mut node,
                Head {
                    number: 8,
                    hash: stale.hash
                }
            )
            .unwrap()
            .is_empty()
        );
        assert_follows(&mut chain, &[], &node, 0);
    }

    #[test]
    fn a_reorg_deeper_than_the_window_halts_with_names() {
        let mut node = Node::new(100);
        let mut t = tracker(16, DeepReorgPolicy::Halt);
        start(&mut t, &mut node);
        node.reorg(1, 40, 41);
        let err = {
            let h = node.head();
            t.on_head(&mut node, h)
        }
        .unwrap_err()
        .to_string();
        assert!(err.contains("deep reorg"), "{err}");
        assert!(err.contains("chain 1"), "{err}");
        assert!(
            err.contains(&format!("{}", hash(1, 100))) || err.contains("window"),
            "{err}"
        );
    }

    #[test]
    fn a_reorg_below_finality_halts_and_resync_recovers() {
        let mut node = Node::new(50);
        node.finalized = Some(45);
        let mut t = tracker(64, DeepReorgPolicy::Halt);
        start(&mut t, &mut node);
        node.reorg(1, 10, 10);
        let err = {
            let h = node.head();
            t.on_head(&mut node, h)
        }
        .unwrap_err()
        .to_string();
        assert!(err.contains("below the finalized block 45"), "{err}");

        let mut node = Node::new(50);
        node.finalized = Some(45);
        let mut t = tracker(64, DeepReorgPolicy::Resync);
        let mut chain = Vec::new();
        let ev = start(&mut t, &mut node);
        assert_follows(&mut chain, &ev, &node, 0);
        node.reorg(1, 10, 10);
        let ev = {
            let h = node.head();
            t.on_head(&mut node, h)
        }
        .unwrap();
        // Resync re-reads from the finalized block up; blocks at or below it are final.
        for e in &ev {
            chain.truncate(chain.len() - e.old().len());
            chain.extend(e.new_blocks().iter().cloned());
        }
        let hashes: Vec<B256> = chain.iter().map(|b| b.hash).collect();
        assert_eq!(hashes[46..], node.canonical[46..]);
        assert_eq!(
            hashes[41],
            hash(0, 41),
            "blocks at or below finality are not touched"
        );
    }

    #[test]
    fn resync_policy_applies_a_reorg_deeper_than_the_window_it_still_holds() {
        let mut node = Node::new(100);
        node.finalized = Some(10);
        let mut t = tracker(16, DeepReorgPolicy::Resync);
        let mut chain = Vec::new();
        let ev = start(&mut t, &mut node);
        assert_follows(&mut chain, &ev, &node, 0);
        node.reorg(1, 30, 31);
        let ev = {
            let h = node.head();
            t.on_head(&mut node, h)
        }
        .unwrap();
        assert!(matches!(&ev[..], [ChainEvent::Reorged { old, .. }] if old.len() == 30));
        assert_follows(&mut chain, &ev, &node, 0);
    }

    #[test]
    fn a_lagging_tracker_still_retracts_blocks_the_node_orphaned_before_finalizing() {
        let mut node = Node::new(30);
        let mut t = tracker(64, DeepReorgPolicy::Halt);
        let mut chain = Vec::new();
        let ev = start(&mut t, &mut node);
        assert_follows(&mut chain, &ev, &node, 0);
        // While we lag, the node reorgs from block 20, grows to 100 and finalizes 60.
        node.reorg(1, 10, 80);
        node.finalized = Some(60);
        let ev = {
            let h = node.head();
            t.on_head(&mut node, h).unwrap()
        };
        assert!(
            matches!(&ev[..], [ChainEvent::Reorged { old, .. }] if old.len() == 10),
            "{ev:?}"
        );
        assert_follows(&mut chain, &ev, &node, 0);
        assert_eq!(
            t.finalized(),
            60,
            "finality is taken once our chain agrees with the node's"
        );
    }
}
