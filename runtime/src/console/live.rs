//! The wallboard's numbers: the store's aggregates (`Store::board`) with the rates worked
//! out, computed at most once a second whatever the number of open wallboards.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::store::{BoardCounts, Store};

/// How long one computation serves every wallboard that asks.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// Calls per second are counted over this much campaign time before the latest start.
const RATE_WINDOW_MS: i64 = 10_000;

/// What the wallboard shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Board {
    pub campaign: String,
    /// Calls on now (every process on the store).
    pub live: u64,
    /// Lines of the campaign (`max_concurrent`) and the share in use, 0 to 1.
    pub lines: u64,
    pub lines_used: f64,
    /// Calls started per second over the last 10 s of the campaign's clock.
    pub calls_per_second: f64,
    pub attempts: u64,
    pub answered: u64,
    pub goals: u64,
    pub connect_rate: f64,
    pub conversion_rate: f64,
    /// The campaign's latest moment seen (its clock; the latest start).
    pub clock_ms: Option<i64>,
    pub by_hour: Vec<Hour>,
}

/// One local hour of the day so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Hour {
    pub hour: i64,
    pub attempts: u64,
    pub answered: u64,
    pub goals: u64,
    pub connect_rate: f64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The board of `campaign` from the store's aggregates.
pub fn compute(store: &mut dyn Store, campaign: &str, lines: u64) -> crate::store::Result<Board> {
    let c: BoardCounts = store.board(campaign, RATE_WINDOW_MS)?;
    Ok(Board {
        campaign: campaign.to_string(),
        live: c.live,
        lines,
        lines_used: ratio(c.live, lines),
        calls_per_second: c.recent_starts as f64 * 1000.0 / RATE_WINDOW_MS as f64,
        attempts: c.ended,
        answered: c.answered,
        goals: c.goals,
        connect_rate: ratio(c.answered, c.ended),
        conversion_rate: ratio(c.goals, c.answered),
        clock_ms: c.latest_start_ms,
        by_hour: c
            .by_hour
            .iter()
            .map(|h| Hour {
                hour: h.hour,
                attempts: h.attempts,
                answered: h.answered,
                goals: h.goals,
                connect_rate: ratio(h.answered, h.attempts),
            })
            .collect(),
    })
}

/// The last board and when it was made.
pub struct Cache {
    last: Mutex<Option<(Instant, Board)>>,
    fresh_for: Duration,
}

impl Default for Cache {
    fn default() -> Self {
        Cache { last: Mutex::new(None), fresh_for: FRESH_FOR }
    }
}

impl Cache {
    /// A cache that keeps nothing (every request computes: the benchmark's baseline).
    pub fn none() -> Cache {
        Cache { last: Mutex::new(None), fresh_for: Duration::ZERO }
    }

    /// The board, made again by `make` when the last one is older than a second. Callers
    /// meanwhile wait for the one being made rather than each making their own.
    pub fn get(&self, make: impl FnOnce() -> crate::store::Result<Board>) -> crate::store::Result<Board> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, board)) = last.as_ref()
            && at.elapsed() < self.fresh_for
        {
            return Ok(board.clone());
        }
        let board = make()?;
        *last = Some((Instant::now(), board.clone()));
        Ok(board)
    }
}
