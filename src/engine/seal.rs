//! Sealing: what lies below finality and no open bucket needs any more leaves the dataflow,
//! while the sinks keep the rows it made.
//!
//! ```text
//!  feeder: finalized head's timestamp crossed a multiple of `seal_every_secs`
//!        │ a seal epoch of its own: no blocks, (chain, finalized timestamp) on `seals`
//!        ▼
//!  Inputs::sealed(collection, at): items whose `at` time is <= the finalized timestamp are
//!        │ retracted at the seal epoch (every worker its own share)
//!        ▼ downstream reduces forget them; their outputs change at the seal epoch only
//!  release: updates at a seal epoch are dropped (the sinks keep the history)
//! ```
//!
//! Why this is exact: a dataflow seals an item only at a time after which no output row it
//! contributes to can change (for `gas_fees`, the end of the UTC day of the block: the day is
//! the coarsest bucket). Once the finalized head is at or past that time, every block of those
//! buckets is final, so nothing can enter or leave them again; retracting all of them at one
//! epoch that carries no other input changes only rows of closed buckets, and exactly those
//! changes are dropped. The dataflow's state stays about one bucket of the coarsest kind per
//! chain, however long the run.
//!
//! Sources that number their own epochs (NATS ingress) have no free epoch for a seal, so
//! nothing is sealed there.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::operator::Operator;

use super::dataflow::Collection;
use crate::model::{ChainId, Diff, Epoch};

/// A seal: on `chain`, the finalized head's timestamp (unix seconds).
pub type Seal = (ChainId, u64);

/// `collection` with each item retracted at the first seal of its chain whose timestamp is
/// at least the item's `at` time.
pub(crate) fn sealed<'s, D, F>(
    collection: Collection<'s, D>,
    seals: Collection<'s, Seal>,
    at: F,
) -> Collection<'s, D>
where
    D: Clone + Ord + std::fmt::Debug + 'static,
    F: Fn(&D) -> Seal + 'static,
{
    type Out<D> = CapacityContainerBuilder<Vec<(D, Epoch, Diff)>>;
    let retractions = collection
        .inner
        .clone()
        .binary_frontier::<_, Out<D>, _, _, _, _>(
            seals.inner,
            Pipeline,
            Pipeline,
            "seal",
            |_capability, _info| {
                // Live items by (chain, seal time), with their accumulated multiplicity.
                let mut live: BTreeMap<Seal, BTreeMap<D, Diff>> = BTreeMap::new();
                // Seals waiting for every item before their epoch to arrive.
                let mut waiting: Vec<(Capability<Epoch>, Seal)> = Vec::new();
                move |(items, items_frontier), (seals, _), output| {
                    items.for_each(|_cap, data| {
                        for (item, _time, diff) in data.drain(..) {
                            let bucket = live.entry(at(&item)).or_default();
                            match bucket.entry(item) {
                                Entry::Vacant(v) => {
                                    v.insert(diff);
                                }
                                Entry::Occupied(mut o) => {
                                    *o.get_mut() += diff;
                                    if *o.get() == 0 {
                                        o.remove();
                                    }
                                }
                            }
                        }
                    });
                    seals.for_each(|cap, data| {
                        for (seal, time, diff) in data.drain(..) {
                            // The record's own time: a message's capability may be earlier.
                            if diff > 0 {
                                waiting.push((cap.delayed(&time, 0), seal));
                            }
                        }
                    });
                    waiting.retain(|(cap, (chain, finalized_at))| {
                        if items_frontier.less_equal(cap.time()) {
                            return true;
                        }
                        let keys: Vec<Seal> = live
                            .range((*chain, 0)..=(*chain, *finalized_at))
                            .map(|(key, _)| *key)
                            .collect();
                        let time = *cap.time();
                        let mut session = output.session(cap);
                        for key in keys {
                            for (item, count) in live.remove(&key).unwrap_or_default() {
                                session.give((item, time, -count));
                            }
                        }
                        false
                    });
                }
            },
        );
    collection.concat(Collection::new(retractions))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::mpsc;

    use differential_dataflow::input::Input;
    use timely::dataflow::operators::capture::{Capture, Extract};

    use super::*;

    /// Items `(chain, time, name)`, sealed at `time`: what is left after each epoch.
    #[test]
    fn items_leave_at_the_first_seal_at_or_after_their_time_and_only_on_their_chain() {
        type Item = (ChainId, u64, &'static str);
        let (tx, rx) = mpsc::channel();
        timely::execute_directly(move |worker| {
            let (mut items, mut seals) = worker.dataflow::<Epoch, _, _>(|scope| {
                let (items, item_stream) = scope.new_collection::<Item, Diff>();
                let (seals, seal_stream) = scope.new_collection::<Seal, Diff>();
                sealed(item_stream, seal_stream, |&(chain, at, _)| (chain, at))
                    .inner
                    .capture_into(tx.clone());
                (items, seals)
            });
            // epoch 1: three items on chain 1, one on chain 2.
            items.advance_to(1);
            seals.advance_to(1);
            for item in [(1, 100, "a"), (1, 200, "b"), (1, 300, "c"), (2, 100, "x")] {
                items.update(item, 1);
            }
            // epoch 2: "c" retracted by a reorg, "c2" in its place.
            items.advance_to(2);
            seals.advance_to(2);
            items.update((1, 300, "c"), -1);
            items.update((1, 300, "c2"), 1);
            // epoch 3: a seal of chain 1 at 200 (inclusive).
            items.advance_to(3);
            seals.advance_to(3);
            seals.update((1, 200), 1);
            // epoch 4: a seal of chain 1 at 1000.
            items.advance_to(4);
            seals.advance_to(4);
            seals.update((1, 1000), 1);
            items.advance_to(5);
            seals.advance_to(5);
        });
        let mut by_epoch: BTreeMap<Epoch, BTreeMap<Item, Diff>> = BTreeMap::new();
        for (_, data) in rx.extract() {
            for (item, t, d) in data {
                *by_epoch.entry(t).or_default().entry(item).or_insert(0) += d;
            }
        }
        let changes = |e: Epoch| -> Vec<(Item, Diff)> {
            by_epoch
                .get(&e)
                .map(|m| {
                    m.iter()
                        .filter(|(_, d)| **d != 0)
                        .map(|(i, d)| (*i, *d))
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(changes(1).len(), 4);
        assert_eq!(changes(2), vec![((1, 300, "c"), -1), ((1, 300, "c2"), 1)]);
        assert_eq!(
            changes(3),
            vec![((1, 100, "a"), -1), ((1, 200, "b"), -1)],
            "items at or before the seal leave, later ones and other chains stay"
        );
        assert_eq!(
            changes(4),
            vec![((1, 300, "c2"), -1)],
            "a retracted item is not retracted again"
        );
    }
}
