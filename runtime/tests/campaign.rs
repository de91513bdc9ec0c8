//! Scheduler rules checked on the attempts export (CAMPAIGN.md §2–§3): random campaigns
//! (windows, zones, caps, concurrency, CPS) never break a rule.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use callscript_runtime::scheduler::{Plan, RunOptions, VirtualClock, run};
use callscript_runtime::store::{SqliteStore, Store};
use callscript_runtime::telephony::sim::SimTelephony;
use jiff::Timestamp;
use proptest::prelude::*;

#[path = "support/campaigns.rs"]
mod campaigns;

use campaigns::{Case, check_rules, plan};

fn run_case(case: &Case, store: &mut SqliteStore, stop_after: Option<usize>) -> Plan {
    let plan = plan(case);
    let mut tel = SimTelephony::new(plan.settings.sim.clone(), 30_000);
    let stop = Arc::new(AtomicBool::new(false));
    let start_ms = "2026-11-23T00:00:00Z".parse::<Timestamp>().unwrap().as_millisecond();
    let flag = Arc::clone(&stop);
    let mut count = 0usize;
    let mut on_progress = move |_: &callscript_runtime::scheduler::Progress| {
        count += 1;
        if stop_after.is_some_and(|n| count >= n) {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let mut clock = VirtualClock::new(start_ms);
    let opts = RunOptions { clock: &mut clock, stop, on_progress: Some(&mut on_progress) };
    run(&plan, store, &mut tel, false, opts).unwrap();
    plan
}

fn case_strategy() -> impl Strategy<Value = Case> {
    let all = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    (
        0u32..20 * 60,
        60u32..6 * 60,
        proptest::sample::subsequence(all.to_vec(), 1..=7),
        1u32..20,
        prop_oneof![Just(0.5), Just(1.0), Just(5.0), Just(20.0)],
        1u32..5,
        1u32..3,
        1u32..6,
        20usize..150,
        any::<u64>(),
    )
        .prop_map(|(start, len, days, max_concurrent, cps, max_attempts, per_day, per_week, customers, seed)| {
            Case {
                start,
                end: (start + len).min(24 * 60),
                days,
                max_concurrent,
                cps,
                max_attempts,
                per_day,
                per_week,
                customers,
                seed,
            }
        })
}

fn temp_store(name: &str) -> (SqliteStore, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("callscript-campaign-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.db", rand_suffix()));
    (SqliteStore::open(&path).unwrap(), path)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn random_campaigns_keep_every_rule(case in case_strategy()) {
        let (mut store, path) = temp_store("prop");
        let plan = run_case(&case, &mut store, None);
        let rows = store.attempt_rows("T").unwrap();
        check_rules(&plan, &rows);
        prop_assert!(!rows.is_empty());
        drop(store);
        let _ = std::fs::remove_file(path);
    }
}

#[test]
fn stopping_and_resuming_keeps_every_rule() {
    let case = Case {
        start: 9 * 60,
        end: 18 * 60,
        days: vec!["mon", "tue", "wed", "thu", "fri"],
        max_concurrent: 5,
        cps: 2.0,
        max_attempts: 3,
        per_day: 1,
        per_week: 3,
        customers: 300,
        seed: 7,
    };
    let (mut store, _) = temp_store("resume");
    for stop_after in [3, 10, 40] {
        run_case(&case, &mut store, Some(stop_after));
    }
    let plan = run_case(&case, &mut store, None);
    let rows = store.attempt_rows("T").unwrap();
    check_rules(&plan, &rows);
    // Everyone got at least one attempt.
    let customers: HashSet<&str> = rows.iter().map(|r| r.customer_id.as_str()).collect();
    assert_eq!(customers.len(), plan.customers.len());
}

#[test]
fn optout_is_honoured_by_later_campaigns() {
    let case = Case {
        start: 0,
        end: 24 * 60,
        days: vec!["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        max_concurrent: 50,
        cps: 20.0,
        max_attempts: 3,
        per_day: 3,
        per_week: 10,
        customers: 100,
        seed: 3,
    };
    let (mut store, _) = temp_store("dnc");
    store.dnc_add("+8613800000005", "import", 0).unwrap();
    let plan = run_case(&case, &mut store, None);
    let rows = store.attempt_rows("T").unwrap();
    assert!(rows.iter().all(|r| r.phone != "+8613800000005"), "a do-not-call number was dialled");
    check_rules(&plan, &rows);
}
