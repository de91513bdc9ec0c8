//! Two reports side by side (`report A B`, or one A/B campaign's two scripts with `--by
//! variant`): both reports whole, and the differences of the figures a manager compares:
//! counts, rates, and every disposition, outcome, funnel step and tag as a share, so that two
//! campaigns of different sizes compare.

use std::collections::BTreeSet;

use serde::Serialize;

use super::model::{Report, ratio};

/// What a figure measures, for rendering its difference (`+2.3 pp` for a rate).
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Count,
    /// A share between 0 and 1; the difference is in percentage points.
    Rate,
    Seconds,
}

/// One figure of both reports: `change` is `b - a`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Difference {
    /// `connect_rate`, `dispositions.busy` (share of attempts), `outcomes.promised` (share of
    /// attempts), `funnel.verify` (share of connected calls reaching it), `tags.hardship_plan`
    /// (share of connected calls).
    pub metric: String,
    pub kind: Kind,
    pub a: f64,
    pub b: f64,
    pub change: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Comparison {
    pub a: Report,
    pub b: Report,
    pub differences: Vec<Difference>,
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Sets `a` and `b` side by side.
pub fn compare(a: Report, b: Report) -> Comparison {
    let mut differences = Vec::new();
    let mut add = |metric: String, kind: Kind, x: f64, y: f64| {
        differences.push(Difference { metric, kind, a: x, b: y, change: round(y - x) });
    };
    add("customers".into(), Kind::Count, a.customers as f64, b.customers as f64);
    add("attempts".into(), Kind::Count, a.attempts as f64, b.attempts as f64);
    add("answered".into(), Kind::Count, a.answered as f64, b.answered as f64);
    add("goals".into(), Kind::Count, a.goals as f64, b.goals as f64);
    add("connect_rate".into(), Kind::Rate, a.connect_rate, b.connect_rate);
    add("conversion_rate".into(), Kind::Rate, a.conversion_rate, b.conversion_rate);
    add("avg_talk_seconds".into(), Kind::Seconds, a.avg_talk_seconds, b.avg_talk_seconds);
    add("transfers.success_rate".into(), Kind::Rate, a.transfers.success_rate, b.transfers.success_rate);
    let union = |x: &mut dyn Iterator<Item = String>, y: &mut dyn Iterator<Item = String>| {
        x.chain(y).collect::<BTreeSet<String>>()
    };
    for d in union(&mut a.dispositions.keys().cloned(), &mut b.dispositions.keys().cloned()) {
        let share = |r: &Report| ratio(r.dispositions.get(&d).copied().unwrap_or(0), r.attempts);
        add(format!("dispositions.{d}"), Kind::Rate, share(&a), share(&b));
    }
    for o in union(&mut a.outcomes.keys().cloned(), &mut b.outcomes.keys().cloned()) {
        let share = |r: &Report| ratio(r.outcomes.get(&o).copied().unwrap_or(0), r.attempts);
        add(format!("outcomes.{o}"), Kind::Rate, share(&a), share(&b));
    }
    // The funnel in A's step order, then B's steps that A lacks.
    let mut steps: Vec<String> = a.funnel.iter().map(|f| f.step.clone()).collect();
    steps.extend(b.funnel.iter().map(|f| f.step.clone()).filter(|s| !a.funnel.iter().any(|f| f.step == *s)));
    for s in steps {
        let share = |r: &Report| ratio(r.funnel.iter().find(|f| f.step == s).map_or(0, |f| f.reached), r.answered);
        add(format!("funnel.{s}"), Kind::Rate, share(&a), share(&b));
    }
    for t in union(&mut a.tags.iter().map(|t| t.0.clone()), &mut b.tags.iter().map(|t| t.0.clone())) {
        let share = |r: &Report| ratio(r.tags.iter().find(|x| x.0 == t).map_or(0, |x| x.1), r.answered);
        add(format!("tags.{t}"), Kind::Rate, share(&a), share(&b));
    }
    Comparison { a, b, differences }
}
