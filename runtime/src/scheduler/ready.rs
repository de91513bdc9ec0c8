//! The scheduler's ready queue: items due at a moment, taken earliest first and, at one
//! moment, in the order they were filed — the order of one binary heap keyed by (moment,
//! filing order), as the scheduler had it. Kept as a calendar instead: one FIFO bucket per
//! moment (virtual milliseconds) in an ordered map. A campaign files its items at few
//! distinct moments at once (a resume files a million customers at one moment, a window's
//! opening hundreds of thousands; a retry or a callback one each), so the map stays small and
//! filing or taking an item costs a walk of a small tree, not a million-entry heap's sift
//! with a cache miss per level.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, VecDeque};

use super::Millis;

/// Emptied buckets kept for reuse (a retry's moment takes a bucket and gives it back soon).
const SPARE: usize = 1_024;
/// Only buckets this small are kept (a window's bucket of a million items is let go).
const SPARE_CAPACITY: usize = 64;

pub(super) struct ReadyQueue<T> {
    /// Never an empty bucket.
    buckets: BTreeMap<Millis, VecDeque<T>>,
    spare: Vec<VecDeque<T>>,
}

impl<T> Default for ReadyQueue<T> {
    fn default() -> Self {
        ReadyQueue { buckets: BTreeMap::new(), spare: Vec::new() }
    }
}

impl<T> ReadyQueue<T> {
    /// Files `item`, due at `at`, after every item filed for that moment before it.
    pub fn push(&mut self, at: Millis, item: T) {
        match self.buckets.entry(at) {
            Entry::Occupied(mut bucket) => bucket.get_mut().push_back(item),
            Entry::Vacant(slot) => {
                let mut bucket = self.spare.pop().unwrap_or_default();
                bucket.push_back(item);
                slot.insert(bucket);
            }
        }
    }

    /// The earliest item and its moment.
    pub fn peek(&self) -> Option<(Millis, &T)> {
        let (&at, bucket) = self.buckets.first_key_value()?;
        bucket.front().map(|item| (at, item))
    }

    /// Takes the earliest item.
    pub fn pop(&mut self) -> Option<(Millis, T)> {
        let mut first = self.buckets.first_entry()?;
        let at = *first.key();
        let item = first.get_mut().pop_front();
        if first.get().is_empty() {
            let bucket = first.remove();
            if bucket.capacity() <= SPARE_CAPACITY && self.spare.len() < SPARE {
                self.spare.push(bucket);
            }
        }
        item.map(|item| (at, item))
    }

    pub fn clear(&mut self) {
        self.buckets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    proptest! {
        /// Any pushes and pops, in any mix: the same items in the same order as one binary heap
        /// keyed by (moment, filing order).
        #[test]
        fn takes_items_as_one_heap_by_moment_and_filing_order(
            ops in proptest::collection::vec(prop_oneof![
                3 => (0i64..50).prop_map(Some),
                1 => Just(None),
            ], 0..400),
            base_step in 0i64..3,
        ) {
            let mut queue = ReadyQueue::default();
            let mut heap = BinaryHeap::new();
            let (mut seq, mut now) = (0u64, 0i64);
            for op in ops {
                match op {
                    // Mostly later than the last, as the scheduler files them; sometimes not.
                    Some(d) => {
                        now += base_step;
                        let at = if d % 5 == 0 { now - d } else { now + d };
                        queue.push(at, seq);
                        heap.push(Reverse((at, seq, seq)));
                        seq += 1;
                    }
                    None => {
                        let expected = heap.peek().map(|Reverse((t, _, item))| (*t, *item));
                        prop_assert_eq!(queue.peek().map(|(t, item)| (t, *item)), expected);
                        prop_assert_eq!(queue.pop(), heap.pop().map(|Reverse((t, _, item))| (t, item)));
                    }
                }
            }
            while let Some(Reverse((t, _, item))) = heap.pop() {
                prop_assert_eq!(queue.pop(), Some((t, item)));
            }
            prop_assert_eq!(queue.pop(), None);
        }
    }

    #[test]
    fn items_of_one_moment_leave_in_filing_order() {
        let mut queue = ReadyQueue::default();
        for i in 0..10 {
            queue.push(5, i);
        }
        queue.push(1, 100);
        assert_eq!(queue.pop(), Some((1, 100)));
        assert_eq!((0..10).map(|_| queue.pop().unwrap().1).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
        queue.push(3, 7);
        queue.clear();
        assert_eq!(queue.peek(), None);
    }
}
