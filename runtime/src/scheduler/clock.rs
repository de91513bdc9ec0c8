//! The scheduler's time, injected: a virtual clock that jumps from event to event (the
//! simulator), the same paced against the wall clock (`--speed`), or the wall clock itself
//! (real telephony). The scheduler asks how long until a moment and never branches on which.

use std::time::{Duration, Instant};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

pub trait Clock {
    /// The scheduler's present moment.
    fn now(&self) -> Millis;
    /// How much wall time must still pass before `t` may be handled (zero: now).
    fn until(&self, t: Millis) -> Duration;
    /// Moves the present to `t` once [`Clock::until`] says it is due (never backwards).
    fn reach(&mut self, t: Millis);
    /// A resumed campaign's stored clock: virtual time continues from it; the wall clock
    /// ignores it.
    fn resume_from(&mut self, stored: Millis);
}

/// Virtual time, as fast as possible: every moment is due at once.
#[derive(Clone, Debug)]
pub struct VirtualClock {
    now: Millis,
}

impl VirtualClock {
    pub fn new(start: Millis) -> VirtualClock {
        VirtualClock { now: start }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Millis {
        self.now
    }

    fn until(&self, _t: Millis) -> Duration {
        Duration::ZERO
    }

    fn reach(&mut self, t: Millis) {
        self.now = self.now.max(t);
    }

    fn resume_from(&mut self, stored: Millis) {
        self.now = stored;
    }
}

/// Virtual time advancing `speed` times faster than the wall clock.
#[derive(Clone, Debug)]
pub struct PacedClock {
    now: Millis,
    /// The virtual moment that corresponds to `wall_start`.
    origin: Millis,
    wall_start: Instant,
    speed: f64,
}

impl PacedClock {
    pub fn new(start: Millis, speed: f64) -> PacedClock {
        PacedClock { now: start, origin: start, wall_start: Instant::now(), speed: speed.max(f64::MIN_POSITIVE) }
    }
}

impl Clock for PacedClock {
    fn now(&self) -> Millis {
        self.now
    }

    fn until(&self, t: Millis) -> Duration {
        let due = Duration::from_secs_f64(((t - self.origin).max(0) as f64 / self.speed / 1000.0).min(1e9));
        due.saturating_sub(self.wall_start.elapsed())
    }

    fn reach(&mut self, t: Millis) {
        self.now = self.now.max(t);
    }

    fn resume_from(&mut self, stored: Millis) {
        self.now = stored;
        self.origin = stored;
        self.wall_start = Instant::now();
    }
}

/// The clock of a campaign that several workers share (CAMPAIGN.md §6): computed from an
/// epoch they agree on through the store and each machine's wall clock, so every worker reads
/// the same campaign time (to within the machines' clock skew). Speed 0 is the wall clock.
#[derive(Clone, Debug)]
pub struct SharedClock {
    pace: crate::store::queue::Pace,
}

impl SharedClock {
    pub fn new(pace: crate::store::queue::Pace) -> SharedClock {
        SharedClock { pace }
    }

    /// Campaign milliseconds per wall millisecond (0: the wall clock).
    pub fn speed(&self) -> f64 {
        self.pace.speed
    }

    /// The campaign time at wall time `wall_ms`.
    pub fn at(&self, wall_ms: Millis) -> Millis {
        let p = &self.pace;
        if p.speed <= 0.0 {
            return wall_ms;
        }
        p.epoch_clock_ms + ((wall_ms - p.epoch_wall_ms) as f64 * p.speed) as Millis
    }
}

impl Clock for SharedClock {
    fn now(&self) -> Millis {
        self.at(jiff::Timestamp::now().as_millisecond())
    }

    fn until(&self, t: Millis) -> Duration {
        let ahead = (t - self.now()).max(0) as f64;
        let speed = if self.pace.speed <= 0.0 { 1.0 } else { self.pace.speed };
        Duration::from_secs_f64((ahead / speed / 1000.0).min(1e9))
    }

    fn reach(&mut self, _t: Millis) {}

    fn resume_from(&mut self, _stored: Millis) {}
}

/// The wall clock (real networks): moments are due when they come.
#[derive(Clone, Debug, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Millis {
        jiff::Timestamp::now().as_millisecond()
    }

    fn until(&self, t: Millis) -> Duration {
        Duration::from_millis((t - self.now()).max(0) as u64)
    }

    fn reach(&mut self, _t: Millis) {}

    fn resume_from(&mut self, _stored: Millis) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_time_jumps_and_never_goes_back() {
        let mut c = VirtualClock::new(1_000);
        assert_eq!(c.until(1_000_000), Duration::ZERO);
        c.reach(5_000);
        c.reach(2_000);
        assert_eq!(c.now(), 5_000);
        c.resume_from(9_000);
        assert_eq!(c.now(), 9_000);
    }

    #[test]
    fn paced_time_waits_in_proportion() {
        let c = PacedClock::new(0, 1000.0);
        // 60 virtual seconds at 1000× are 60 ms of wall time.
        let wait = c.until(60_000);
        assert!(wait <= Duration::from_millis(60) && wait > Duration::from_millis(30), "{wait:?}");
        assert_eq!(c.until(-5), Duration::ZERO);
    }

    #[test]
    fn a_shared_clock_runs_from_its_epoch_at_its_speed() {
        let pace = crate::store::queue::Pace { epoch_wall_ms: 1_000, epoch_clock_ms: 50_000, speed: 60.0 };
        let c = SharedClock::new(pace);
        assert_eq!(c.at(1_000), 50_000);
        assert_eq!(c.at(2_000), 110_000, "a wall second is a minute");
        let wall = SharedClock::new(crate::store::queue::Pace { speed: 0.0, ..pace });
        assert_eq!(wall.at(123_456), 123_456, "speed 0 is the wall clock");
        let ahead = c.until(c.now() + 60_000);
        assert!(ahead <= Duration::from_secs(1) && ahead > Duration::from_millis(900), "{ahead:?}");
    }

    #[test]
    fn the_wall_clock_is_now() {
        let c = WallClock;
        let now = jiff::Timestamp::now().as_millisecond();
        assert!((c.now() - now).abs() < 1_000);
        assert_eq!(c.until(now - 10), Duration::ZERO);
        assert!(c.until(now + 60_000) > Duration::from_secs(50));
    }
}
