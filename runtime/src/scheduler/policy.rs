//! The one next-attempt decision (CAMPAIGN.md §2): used when a call ends and when a resumed
//! run rebuilds its customers from the store, so both always agree.

use std::collections::HashSet;

use crate::campaign::Campaign;

/// The retry settings of a campaign, parsed once.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub retry_on: HashSet<String>,
    pub backoff_ms: i64,
}

impl RetryPolicy {
    pub fn from_campaign(c: &Campaign) -> RetryPolicy {
        RetryPolicy {
            max_attempts: c.retry.max_attempts,
            retry_on: c.retry.on.iter().cloned().collect(),
            backoff_ms: c.retry.backoff.as_millis() as i64,
        }
    }

    /// When a customer whose attempt number `attempts` ended at `ended_ms` with `disposition`
    /// (and maybe a callback the script asked for) may be called again; None when they are
    /// done. A callback uses one attempt and replaces the backoff; with none left it is
    /// recorded and dropped. An answered call is final.
    pub fn next_attempt(
        &self,
        attempts: u32,
        disposition: &str,
        callback_ms: Option<i64>,
        ended_ms: i64,
    ) -> Option<i64> {
        if attempts >= self.max_attempts {
            return None;
        }
        match callback_ms {
            Some(cb) => Some(ended_ms.saturating_add(cb.max(0))),
            None if disposition == "answered" => None,
            None if self.retry_on.contains(disposition) => Some(ended_ms.saturating_add(self.backoff_ms)),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DISPOSITIONS: &[&str] =
        &["answered", "no_answer", "busy", "invalid_number", "rejected", "failed", "customer_hangup"];

    fn policy(max_attempts: u32, on: &[&str]) -> RetryPolicy {
        RetryPolicy { max_attempts, retry_on: on.iter().map(|s| s.to_string()).collect(), backoff_ms: 1_800_000 }
    }

    #[test]
    fn the_campaign_rules() {
        let p = policy(3, &["busy", "no_answer"]);
        assert_eq!(p.next_attempt(1, "busy", None, 100), Some(1_800_100));
        assert_eq!(p.next_attempt(3, "busy", None, 100), None, "budget used");
        assert_eq!(p.next_attempt(1, "answered", None, 100), None);
        assert_eq!(p.next_attempt(1, "answered", Some(60_000), 100), Some(60_100), "a callback replaces the backoff");
        assert_eq!(p.next_attempt(3, "answered", Some(60_000), 100), None, "no attempt left for the callback");
        assert_eq!(p.next_attempt(1, "rejected", None, 100), None, "not in retry.on");
    }

    proptest! {
        #[test]
        fn never_past_the_budget_never_before_the_end_and_answered_is_final(
            max in 0u32..6,
            attempts in 0u32..8,
            d in 0usize..DISPOSITIONS.len(),
            on in proptest::collection::vec(0usize..DISPOSITIONS.len(), 0..4),
            callback in proptest::option::of(-10i64..10_000_000),
            ended in 0i64..4_000_000_000_000,
        ) {
            let on: Vec<&str> = on.into_iter().map(|i| DISPOSITIONS[i]).collect();
            let p = policy(max, &on);
            let disposition = DISPOSITIONS[d];
            let next = p.next_attempt(attempts, disposition, callback, ended);
            if attempts >= max {
                prop_assert_eq!(next, None);
            }
            if let Some(at) = next {
                prop_assert!(at >= ended);
                prop_assert!(callback.is_some() || on.contains(&disposition));
            }
            if disposition == "answered" && callback.is_none() {
                prop_assert_eq!(next, None);
            }
            if attempts < max && callback.is_some() {
                prop_assert!(next.is_some(), "a callback with budget left is always kept");
            }
        }
    }
}
