//! Time rules of CAMPAIGN.md §2–§3 in the customer's own time zone: the call window, days,
//! holidays, and the earliest moment a call may start.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

/// `HH:MM` → minutes after midnight.
pub fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

pub fn parse_weekday(text: &str) -> Option<Weekday> {
    Some(match text.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

/// The window a campaign may call in, applied in each customer's zone.
#[derive(Clone, Debug)]
pub struct Window {
    /// Minutes after local midnight; a call may start at `start <= t < end`.
    pub start: u32,
    pub end: u32,
    /// Allowed weekdays, indexed by `Weekday::to_monday_zero_offset`.
    pub days: [bool; 7],
    pub holidays: Vec<Date>,
}

impl Window {
    pub fn from_schedule(s: &super::Schedule) -> Window {
        let mut days = [false; 7];
        for d in s.days.iter().filter_map(|d| parse_weekday(d)) {
            days[d.to_monday_zero_offset() as usize] = true;
        }
        Window {
            start: parse_clock(&s.start_time).unwrap_or(9 * 60),
            end: parse_clock(&s.end_time).unwrap_or(18 * 60),
            days,
            holidays: s.holidays.iter().filter_map(|h| Date::strptime("%Y-%m-%d", h).ok()).collect(),
        }
    }

    fn day_allowed(&self, date: Date) -> bool {
        self.days[date.weekday().to_monday_zero_offset() as usize] && !self.holidays.contains(&date)
    }

    /// Whether a call may start at this local moment.
    pub fn allows(&self, local: &ZonedDateTime) -> bool {
        let minutes = local.hour() as u32 * 60 + local.minute() as u32;
        self.day_allowed(local.date()) && self.start <= minutes && minutes < self.end
    }

    /// The earliest moment at or after `at` when a call may start in `tz` (None: never, e.g.
    /// no day allowed within a year).
    pub fn next_start(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = at.to_zoned_datetime(tz.clone());
        if self.allows(&local) {
            return Some(at);
        }
        let start = Time::new((self.start / 60) as i8, (self.start % 60) as i8, 0, 0).ok()?;
        let mut date = local.date();
        for _ in 0..370 {
            if self.day_allowed(date) {
                let candidate = date.to_datetime(start).to_zoned_datetime(tz.clone()).ok()?.timestamp();
                if candidate >= at {
                    return Some(candidate);
                }
                // Today, but the window already started: if it is still open we returned above.
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
        Window::from_schedule(&super::super::Schedule {
            start_time: "09:00".into(),
            end_time: "18:00".into(),
            days: vec!["mon".into(), "tue".into(), "wed".into(), "thu".into(), "fri".into()],
            holidays: vec!["2026-11-27".into()],
            ..Default::default()
        })
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

    #[test]
    fn clock_parsing() {
        assert_eq!(parse_clock("09:30"), Some(570));
        assert_eq!(parse_clock("24:00"), Some(1440));
        assert_eq!(parse_clock("9am"), None);
        assert_eq!(parse_clock("12:60"), None);
    }
}
