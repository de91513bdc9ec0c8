//! Calls per phone per local date, across campaigns (CAMPAIGN.md §3 caps), and the customers
//! waiting for a capped phone. Each phone keeps only the days a 7-day window can still see,
//! so a count is a walk over at most a few entries whatever the campaign's length; and a
//! capped phone's customers wait in one queue woken once a day, instead of every one of them
//! being re-admitted every day (which made phones shared by many customers quadratic).
//! Phones are looked up by the customer's index (a slot per distinct phone), not hashed.

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

/// The caps of a list's phones. Each customer points at its phone's slot (that of the first
/// customer with the phone), so a look-up is two array reads in about the order the list is
/// called in: a map keyed by phone cost a cache miss or two per look for a million phones,
/// and every waiting customer is looked at twice a day.
pub struct Caps {
    /// Per customer: the slot of its phone in `days`.
    slot_of: Vec<u32>,
    /// Per slot: the phone's calls by day (slots no customer points at stay empty).
    days: Vec<Days>,
    /// The list's phones with their slots, by phone: where calls from elsewhere (other
    /// campaigns in the store) are counted in.
    slots_by_phone: Vec<(Phone, u32)>,
}

impl Caps {
    /// Caps for the list whose customer `i` has phone `phones[i]`, nothing called yet.
    pub fn for_phones(phones: &[Phone]) -> Caps {
        let mut by_phone: Vec<(Phone, u32)> = phones.iter().enumerate().map(|(i, &p)| (p, i as u32)).collect();
        by_phone.sort_unstable();
        let mut slot_of = vec![0u32; phones.len()];
        let mut slots_by_phone = Vec::with_capacity(by_phone.len());
        for group in by_phone.chunk_by(|a, b| a.0 == b.0) {
            // Sorted by (phone, customer): the group's first is its lowest customer.
            let slot = group[0].1;
            for &(_, i) in group {
                slot_of[i as usize] = slot;
            }
            slots_by_phone.push((group[0].0, slot));
        }
        Caps { slot_of, days: vec![Days::new(); phones.len()], slots_by_phone }
    }

    /// Counts `n` calls to customer `i`'s phone on `date`.
    pub fn add(&mut self, i: usize, date: Date, n: u32) {
        let slot = self.slot_of[i] as usize;
        add_to(&mut self.days[slot], date, n);
    }

    /// Counts `n` calls to `phone` on `date` (made by another campaign, or before a resume);
    /// a phone not on the list is no customer's, so it is not kept.
    pub fn add_phone(&mut self, phone: Phone, date: Date, n: u32) {
        if let Ok(at) = self.slots_by_phone.binary_search_by_key(&phone, |&(p, _)| p) {
            let slot = self.slots_by_phone[at].1 as usize;
            add_to(&mut self.days[slot], date, n);
        }
    }

    fn days_of(&self, i: usize) -> &Days {
        &self.days[self.slot_of[i] as usize]
    }

    /// Calls to customer `i`'s phone on the `days_back` local days ending with `date`.
    pub fn count(&self, i: usize, date: Date, days_back: i32) -> u32 {
        let from = date.checked_sub(jiff::Span::new().days(days_back as i64 - 1)).unwrap_or(date);
        self.days_of(i).iter().filter(|(d, _)| (from..=date).contains(d)).map(|(_, c)| c).sum()
    }

    /// How many more calls customer `i`'s phone may take on `date` under both caps.
    pub fn room(&self, i: usize, date: Date, per_day: u32, per_7_days: u32) -> u32 {
        // One walk for both caps (what `count` over 1 and 7 days gives).
        let (mut day, mut week) = (0, 0);
        let mut from = None;
        for &(d, n) in self.days_of(i) {
            if d == date {
                day += n;
                week += n;
            } else if d < date
                && d >= *from.get_or_insert_with(|| date.checked_sub(jiff::Span::new().days(6)).unwrap_or(date))
            {
                week += n;
            }
        }
        room(day, week, per_day, per_7_days)
    }

    /// Days remembered for customer `i`'s phone (for tests: pruning keeps this small).
    pub fn days_kept(&self, i: usize) -> usize {
        self.days_of(i).len()
    }
}

fn add_to(days: &mut Days, date: Date, n: u32) {
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

    /// Customers 0 and 2 share phone p; customer 1 has q.
    fn caps() -> Caps {
        Caps::for_phones(&[p(), q(), p()])
    }

    #[test]
    fn counts_over_one_and_seven_days_and_forgets_old_days() {
        let mut caps = caps();
        for d in 0..100 {
            caps.add(0, day(d), 1);
        }
        assert_eq!(caps.count(0, day(99), 1), 1);
        assert_eq!(caps.count(2, day(99), 7), 7, "the customer sharing the phone sees its calls");
        assert_eq!(caps.count(1, day(99), 7), 0);
        assert!(caps.days_kept(0) <= KEEP_DAYS as usize + 1, "{}", caps.days_kept(0));
        // A customer of the same phone in a zone a day behind still counts right.
        caps.add(2, day(98), 1);
        assert_eq!(caps.count(0, day(98), 1), 2);
        assert_eq!(caps.room(0, day(99), 3, 10), 2);
        assert_eq!(caps.room(2, day(99), 3, 8), 0);
    }

    /// Calls from elsewhere count for every customer of their phone; a phone no customer has
    /// is not kept.
    #[test]
    fn calls_by_phone_count_for_its_customers() {
        let mut caps = caps();
        caps.add_phone(p(), day(3), 2);
        caps.add_phone(Phone::parse("+8613800000009").unwrap(), day(3), 5);
        assert_eq!(caps.count(0, day(3), 1), 2);
        assert_eq!(caps.count(2, day(3), 1), 2);
        assert_eq!(caps.count(1, day(3), 1), 0);
    }

    /// `room` walks a phone's days once for both caps: the same as counting each.
    #[test]
    fn room_is_both_counts_capped() {
        let mut caps = caps();
        for (d, n) in [(0, 2), (3, 1), (5, 1), (9, 3), (10, 1)] {
            caps.add(0, day(d), n);
        }
        for d in 0..14 {
            for (per_day, per_7) in [(1, 3), (3, 10), (5, 4), (2, 2)] {
                let expected = room(caps.count(0, day(d), 1), caps.count(0, day(d), 7), per_day, per_7);
                assert_eq!(caps.room(2, day(d), per_day, per_7), expected, "day {d}, caps {per_day}/{per_7}");
            }
        }
        assert_eq!(caps.room(1, day(3), 1, 3), 1);
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
