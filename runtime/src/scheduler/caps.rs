//! Calls per phone per local date, across campaigns (CAMPAIGN.md §3 caps), and the customers
//! waiting for a capped phone. Each phone keeps only the days a 7-day window can still see,
//! so a count is a walk over at most a few entries whatever the campaign's length; and a
//! capped phone's customers wait in one queue woken once a day, instead of every one of them
//! being re-admitted every day (which made phones shared by many customers quadratic).

use std::collections::VecDeque;

use hashbrown::HashMap;

use jiff::civil::Date;
use smallvec::SmallVec;

use crate::campaign::list::Phone;

/// Days kept per phone: the 7-day window plus a day for zones on either side of UTC.
const KEEP_DAYS: i64 = 9;

/// A phone's calls by local date, oldest first; two days inline, since most phones of a
/// campaign are called on one or two days.
type Days = SmallVec<[(Date, u32); 2]>;

/// Bits of the phones' hashes kept in [`Caps::seen`]: 2 MiB, in cache where the map's
/// million entries are not.
const SEEN_BITS: u32 = 24;

#[derive(Default)]
pub struct Caps {
    days: HashMap<Phone, Days>,
    /// A bit per phone hash, set for every phone in `days` (entries are never removed): a clear
    /// bit says the phone was never called without a look in the map. Most customers of a
    /// large campaign wait for their first call, each looked at twice a day.
    seen: Vec<u64>,
}

fn seen_bit(phone: Phone) -> (usize, u64) {
    use std::hash::{Hash, Hasher};
    let mut hasher = rustc_hash::FxHasher::default();
    phone.hash(&mut hasher);
    let bit = (hasher.finish() >> (64 - SEEN_BITS)) as usize;
    (bit / 64, 1 << (bit % 64))
}

impl Caps {
    fn seen(&self, phone: Phone) -> bool {
        let (word, mask) = seen_bit(phone);
        self.seen.get(word).is_some_and(|w| w & mask != 0)
    }

    pub fn add(&mut self, phone: Phone, date: Date, n: u32) {
        if self.seen.is_empty() {
            self.seen = vec![0; (1 << SEEN_BITS) / 64];
        }
        let (word, mask) = seen_bit(phone);
        self.seen[word] |= mask;
        let days = self.days.entry(phone).or_default();
        match days.binary_search_by_key(&date, |(d, _)| *d) {
            Ok(at) => days[at].1 += n,
            Err(at) => days.insert(at, (date, n)),
        }
        // Forget what no window can see any more (relative to the newest day of the phone).
        if let Some(&(newest, _)) = days.last()
            && let Ok(horizon) = newest.checked_sub(jiff::Span::new().days(KEEP_DAYS))
        {
            let old = days.iter().take_while(|(d, _)| *d < horizon).count();
            days.drain(..old);
        }
    }

    /// Calls to `phone` on the `days_back` local days ending with `date`.
    pub fn count(&self, phone: Phone, date: Date, days_back: i32) -> u32 {
        let Some(days) = self.days.get(&phone) else { return 0 };
        let from = date.checked_sub(jiff::Span::new().days(days_back as i64 - 1)).unwrap_or(date);
        days.iter().filter(|(d, _)| (from..=date).contains(d)).map(|(_, c)| c).sum()
    }

    /// How many more calls `phone` may take on `date` under both caps.
    pub fn room(&self, phone: Phone, date: Date, per_day: u32, per_7_days: u32) -> u32 {
        // One look-up and one walk for both caps (what `count` over 1 and 7 days gives).
        let (mut day, mut week) = (0, 0);
        if let Some(days) = self.seen(phone).then(|| self.days.get(&phone)).flatten() {
            let mut from = None;
            for &(d, n) in days {
                if d == date {
                    day += n;
                    week += n;
                } else if d < date
                    && d >= *from.get_or_insert_with(|| date.checked_sub(jiff::Span::new().days(6)).unwrap_or(date))
                {
                    week += n;
                }
            }
        }
        room(day, week, per_day, per_7_days)
    }

    /// Days remembered for `phone` (for tests: pruning keeps this small).
    pub fn days_kept(&self, phone: Phone) -> usize {
        self.days.get(&phone).map_or(0, |d| d.len())
    }
}

/// How many more calls a phone may take on a day it had `day` calls, with `week` calls on the
/// 7 local days ending with it (CAMPAIGN.md §3: both caps, across campaigns).
pub fn room(day: u32, week: u32, per_day: u32, per_7_days: u32) -> u32 {
    per_day.saturating_sub(day).min(per_7_days.saturating_sub(week))
}

/// Customers waiting for a capped phone, first come first served.
#[derive(Default)]
pub struct Parked {
    by_phone: HashMap<Phone, VecDeque<usize>>,
}

impl Parked {
    /// Parks a customer; true when the phone had no one waiting (its wake-up must be set).
    pub fn park(&mut self, phone: Phone, customer: usize) -> bool {
        let queue = self.by_phone.entry(phone).or_default();
        queue.push_back(customer);
        queue.len() == 1
    }

    /// Takes up to `n` customers off the phone's queue; the first still waiting, if any.
    pub fn release(&mut self, phone: Phone, n: usize) -> (Vec<usize>, Option<usize>) {
        let Some(queue) = self.by_phone.get_mut(&phone) else { return (Vec::new(), None) };
        let out: Vec<usize> = queue.drain(..n.min(queue.len())).collect();
        let next = queue.front().copied();
        if next.is_none() {
            self.by_phone.remove(&phone);
        }
        (out, next)
    }

    pub fn clear(&mut self) {
        self.by_phone.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Phone {
        Phone::parse("+8613800000001").unwrap()
    }

    fn q() -> Phone {
        Phone::parse("+8613800000002").unwrap()
    }

    fn day(n: i64) -> Date {
        jiff::civil::date(2026, 11, 1).checked_add(jiff::Span::new().days(n)).unwrap()
    }

    #[test]
    fn counts_over_one_and_seven_days_and_forgets_old_days() {
        let mut caps = Caps::default();
        for d in 0..100 {
            caps.add(p(), day(d), 1);
        }
        assert_eq!(caps.count(p(), day(99), 1), 1);
        assert_eq!(caps.count(p(), day(99), 7), 7);
        assert_eq!(caps.count(q(), day(99), 7), 0);
        assert!(caps.days_kept(p()) <= KEEP_DAYS as usize + 1, "{}", caps.days_kept(p()));
        // A customer of the same phone in a zone a day behind still counts right.
        caps.add(p(), day(98), 1);
        assert_eq!(caps.count(p(), day(98), 1), 2);
        assert_eq!(caps.room(p(), day(99), 3, 10), 2);
        assert_eq!(caps.room(p(), day(99), 3, 8), 0);
    }

    /// `room` walks a phone's days once for both caps: the same as counting each.
    #[test]
    fn room_is_both_counts_capped() {
        let mut caps = Caps::default();
        for (d, n) in [(0, 2), (3, 1), (5, 1), (9, 3), (10, 1)] {
            caps.add(p(), day(d), n);
        }
        for d in 0..14 {
            for (per_day, per_7) in [(1, 3), (3, 10), (5, 4), (2, 2)] {
                let expected = room(caps.count(p(), day(d), 1), caps.count(p(), day(d), 7), per_day, per_7);
                assert_eq!(caps.room(p(), day(d), per_day, per_7), expected, "day {d}, caps {per_day}/{per_7}");
            }
        }
        assert_eq!(caps.room(q(), day(3), 1, 3), 1);
    }

    #[test]
    fn parked_customers_leave_in_order() {
        let mut parked = Parked::default();
        assert!(parked.park(p(), 1));
        assert!(!parked.park(p(), 2));
        assert!(!parked.park(p(), 3));
        assert_eq!(parked.release(p(), 2), (vec![1, 2], Some(3)));
        assert_eq!(parked.release(p(), 5), (vec![3], None));
        assert!(parked.park(p(), 4), "an emptied phone needs a new wake-up");
    }
}
