//! Time rules of CAMPAIGN.md §2–§3 in the customer's own time zone: the call window, days,
//! holidays, and the earliest moment a call may start.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

/// The window a campaign may call in, applied in each customer's zone.
#[derive(Clone, Debug)]
pub struct Window {
    /// Local times of day; a call may start at `start <= t < end` (`24:00` is [`Time::MAX`]).
    pub start: Time,
    pub end: Time,
    /// Allowed weekdays, indexed by `Weekday::to_monday_zero_offset`.
    pub days: [bool; 7],
    pub holidays: Vec<Date>,
}

impl Window {
    pub fn from_schedule(s: &super::Schedule) -> Window {
        let mut days = [false; 7];
        for d in &s.days {
            days[d.to_monday_zero_offset() as usize] = true;
        }
        Window { start: s.start_time, end: s.end_time, days, holidays: s.holidays.clone() }
    }

    fn day_allowed(&self, date: Date) -> bool {
        self.days[date.weekday().to_monday_zero_offset() as usize] && !self.holidays.contains(&date)
    }

    /// Whether a call may start at this local moment.
    pub fn allows(&self, local: &ZonedDateTime) -> bool {
        self.allows_local(local.datetime())
    }

    /// [`Window::allows`] on the local date and time alone (no zone to carry).
    pub fn allows_local(&self, local: DateTime) -> bool {
        let time = local.time();
        self.start <= time && time < self.end && self.day_allowed(local.date())
    }

    /// The earliest moment at or after `at` when a call may start in `tz` (None: never, e.g.
    /// no day allowed within a year).
    pub fn next_start(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = at.to_zoned_datetime(tz.clone());
        if self.allows(&local) {
            return Some(at);
        }
        self.next_start_outside(local.date(), at, tz).map(|(start, _)| start)
    }

    /// [`Window::next_start`] from `at`, outside the window on its local `date`: the start,
    /// and the latest start of an allowed day it passed over (already before `at`). The same
    /// start holds for any moment of that date outside the window that is after the passed
    /// one and not after the start (the scheduler keeps it per zone and date).
    pub fn next_start_outside(
        &self,
        mut date: Date,
        at: Timestamp,
        tz: &TimeZone,
    ) -> Option<(Timestamp, Option<Timestamp>)> {
        let start = self.start;
        let mut passed: Option<Timestamp> = None;
        for _ in 0..370 {
            if self.day_allowed(date) {
                let candidate = date.to_datetime(start).to_zoned_datetime(tz.clone()).ok()?.timestamp();
                if candidate >= at {
                    return Some((candidate, passed));
                }
                // Today, but the window already started: if it is still open we returned above.
                passed = passed.max(Some(candidate));
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The start of the next allowed day after the local date of `at` (for caps reached today).
    pub fn next_day_start(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = at.to_zoned_datetime(tz.clone());
        let tomorrow =
            local.date().tomorrow().ok()?.to_datetime(Time::midnight()).to_zoned_datetime(tz.clone()).ok()?;
        self.next_start(tomorrow.timestamp(), tz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> Window {
        let mut schedule = callscript_compiler::campaign::defaults("t", "a.call").schedule;
        schedule.days.truncate(5);
        schedule.holidays = vec![jiff::civil::date(2026, 11, 27)];
        Window::from_schedule(&schedule)
    }

    proptest::proptest! {
        /// What the scheduler keeps per zone and date: a start found from one moment outside
        /// the window is the start from any other moment of that local date outside it that
        /// is after every start passed over and not after the found one (zones with and
        /// without daylight saving, windows of any hours).
        #[test]
        fn a_start_found_from_outside_the_window_holds_for_that_dates_moments(
            first in 0i64..400 * 86_400,
            delta in -86_400i64..86_400,
            zone in 0usize..4,
            start in 0i8..23,
            hours in 1i8..12,
        ) {
            let tz = TimeZone::get(["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Sydney"][zone]).unwrap();
            let mut w = window();
            w.start = Time::new(start, 30, 0, 0).unwrap();
            w.end = Time::new((start + hours).min(23), 45, 0, 0).unwrap();
            let base = "2026-01-01T00:00:00Z".parse::<Timestamp>().unwrap().as_second();
            let at0 = Timestamp::from_second(base + first).unwrap();
            let at1 = Timestamp::from_second(base + first + delta).unwrap();
            let (l0, l1) = (tz.to_datetime(at0), tz.to_datetime(at1));
            if !w.allows_local(l0)
                && !w.allows_local(l1)
                && l0.date() == l1.date()
                && let Some((found, passed)) = w.next_start_outside(l0.date(), at0, &tz)
            {
                proptest::prop_assert_eq!(w.next_start(at0, &tz), Some(found));
                if found >= at1 && passed.is_none_or(|p| p < at1) {
                    proptest::prop_assert_eq!(w.next_start(at1, &tz), Some(found));
                }
            }
        }
    }

    #[test]
    fn next_start_respects_window_days_and_holidays_in_local_time() {
        let tz = TimeZone::get("Asia/Shanghai").unwrap();
        let w = window();
        // Thu 2026-11-26 08:00 Shanghai → 09:00 the same day.
        let at: Timestamp = "2026-11-26T00:00:00Z".parse().unwrap();
        assert_eq!(w.next_start(at, &tz).unwrap().to_string(), "2026-11-26T01:00:00Z");
        // Thu 19:00 → Fri is a holiday, Sat/Sun not allowed → Mon 2026-11-30 09:00.
        let at: Timestamp = "2026-11-26T11:00:00Z".parse().unwrap();
        assert_eq!(w.next_start(at, &tz).unwrap().to_string(), "2026-11-30T01:00:00Z");
        // Inside the window: now.
        let at: Timestamp = "2026-11-26T05:00:00Z".parse().unwrap();
        assert_eq!(w.next_start(at, &tz), Some(at));
    }

    #[test]
    fn other_zones() {
        let ny = TimeZone::get("America/New_York").unwrap();
        let w = window();
        // 2026-11-26 12:00 UTC is 07:00 in New York → 09:00 local = 14:00 UTC.
        let at: Timestamp = "2026-11-26T12:00:00Z".parse().unwrap();
        assert_eq!(w.next_start(at, &ny).unwrap().to_string(), "2026-11-26T14:00:00Z");
    }
}
