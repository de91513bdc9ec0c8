//! Scheduler rules checked on the attempts export (CAMPAIGN.md §2–§3): random campaigns
//! (windows, zones, caps, concurrency, CPS) never break a rule.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use callscript_compiler::check::check_source;
use callscript_runtime::campaign::customers::{self, Customer};
use callscript_runtime::campaign::schedule::Window;
use callscript_runtime::campaign::{Campaign, parse_toml};
use callscript_runtime::scheduler::{Plan, RunOptions, VirtualClock, run};
use callscript_runtime::store::{AttemptRow, SqliteStore, Store};
use callscript_runtime::telephony::sim::SimTelephony;
use callscript_runtime::vm::Executable;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use proptest::prelude::*;

const SCRIPT: &str = include_str!("../../examples/loan_reminder/loan_reminder.call");
const ZONES: &[&str] = &["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata"];

fn exec() -> Arc<Executable> {
    let checked = check_source("loan_reminder.call", SCRIPT);
    assert_eq!(checked.error_count(), 0);
    Executable::new(callscript_compiler::lower::lower(&checked, checked.files[0].id)).unwrap()
}

fn customers(exec: &Executable, n: usize, seed: u64) -> Vec<Customer> {
    let mut csv = String::from("id,phone,customer_name,days_overdue,amount_due,account_tail,timezone\n");
    for i in 0..n {
        // Some customers share a phone: caps and the do-not-call list are per phone.
        let phone = 13_800_000_000u64 + (i as u64 * 7 + seed) % (n as u64 * 9 / 10 + 1);
        let zone = ZONES[(i + seed as usize) % ZONES.len()];
        csv.push_str(&format!("c{i},{phone},客户{i},{},{}.50,{:04},{zone}\n", 3 + i % 30, 100 + i, i % 10_000));
    }
    customers::load("c.csv", &csv, &exec.program.scripts[0], "cn").unwrap()
}

#[derive(Clone, Debug)]
struct Case {
    start: u32,
    end: u32,
    days: Vec<&'static str>,
    max_concurrent: u32,
    cps: f64,
    max_attempts: u32,
    per_day: u32,
    per_week: u32,
    customers: usize,
    seed: u64,
}

fn campaign(case: &Case) -> Campaign {
    let days = case.days.iter().map(|d| format!("\"{d}\"")).collect::<Vec<_>>().join(", ");
    let text = format!(
        "task_id = \"T\"\nscript = \"s.call\"\n[schedule]\nstart_time = \"{:02}:{:02}\"\nend_time = \"{:02}:{:02}\"\ndays = [{days}]\nholidays = [\"2026-11-25\"]\nmax_concurrent = {}\ncalls_per_second = {}\n[retry]\nmax_attempts = {}\non = [\"busy\", \"no_answer\", \"failed\"]\nbackoff = \"20m\"\n[limits]\nper_customer_per_day = {}\nper_customer_per_7_days = {}\n[sim]\nseed = {}\n",
        case.start / 60,
        case.start % 60,
        case.end / 60,
        case.end % 60,
        case.max_concurrent,
        case.cps,
        case.max_attempts,
        case.per_day,
        case.per_week,
        case.seed
    );
    parse_toml("t.toml", &text).unwrap()
}

fn run_case(case: &Case, store: &mut SqliteStore, stop_after: Option<usize>) -> Plan {
    let exec = exec();
    let settings = campaign(case);
    let plan = Plan {
        campaign_id: "T".into(),
        customers: customers(&exec, case.customers, case.seed),
        settings,
        script: "loan_reminder".into(),
        script_sha256: exec.program.sources_sha256(),
        exec,
        allowed: "{}".into(),
    };
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

/// Every rule, checked on the stored attempts.
fn check_rules(plan: &Plan, rows: &[AttemptRow]) {
    let c = &plan.settings;
    let window = Window::from_schedule(&c.schedule);
    let by_id: HashMap<&str, &Customer> = plan.customers.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut seen = HashSet::new();
    let mut per_customer: HashMap<&str, u32> = HashMap::new();
    let mut per_phone_day: HashMap<(&str, String), u32> = HashMap::new();
    let mut starts: Vec<i64> = Vec::new();
    let mut intervals: Vec<(i64, i64)> = Vec::new();
    for r in rows {
        assert!(seen.insert((r.customer_id.as_str(), r.attempt)), "({}, {}) twice", r.customer_id, r.attempt);
        *per_customer.entry(&r.customer_id).or_insert(0) += 1;
        let cust = by_id[r.customer_id.as_str()];
        let tz = TimeZone::get(cust.timezone.as_deref().unwrap_or("Asia/Shanghai")).unwrap();
        let local = Timestamp::from_millisecond(r.started_ms).unwrap().to_zoned_datetime(tz);
        assert!(window.allows(&local), "{} attempt {} at {local} is outside the window", r.customer_id, r.attempt);
        *per_phone_day.entry((r.phone.as_str(), local.date().to_string())).or_insert(0) += 1;
        starts.push(r.started_ms);
    }
    for (id, n) in &per_customer {
        assert!(*n <= c.retry.max_attempts, "{id} has {n} attempts");
    }
    for ((phone, day), n) in &per_phone_day {
        assert!(*n <= c.limits.per_customer_per_day, "{phone} called {n} times on {day}");
    }
    // Rolling 7 local days per phone.
    let mut days_of: HashMap<&str, Vec<(jiff::civil::Date, u32)>> = HashMap::new();
    for ((phone, day), n) in &per_phone_day {
        days_of.entry(phone).or_default().push((day.parse().unwrap(), *n));
    }
    for (phone, days) in &days_of {
        for (d, _) in days {
            let from = d.checked_sub(jiff::Span::new().days(6)).unwrap();
            let total: u32 = days.iter().filter(|(x, _)| *x >= from && x <= d).map(|(_, n)| n).sum();
            assert!(total <= c.limits.per_customer_per_7_days, "{phone}: {total} calls in the 7 days to {d}");
        }
    }
    // calls_per_second: consecutive placements are at least one interval apart.
    starts.sort_unstable();
    let interval = (1000.0 / c.schedule.calls_per_second).ceil() as i64;
    for w in starts.windows(2) {
        assert!(w[1] - w[0] >= interval, "two calls {} ms apart", w[1] - w[0]);
    }
    // max_concurrent: sweep over starts and ends (an end frees its line before a start at the
    // same instant).
    for r in rows {
        intervals.push((r.started_ms, 1));
        intervals.push((r.ended_ms, -1));
    }
    intervals.sort_unstable();
    let mut live = 0i64;
    for (_, delta) in &intervals {
        live += delta;
        assert!(live <= c.schedule.max_concurrent as i64, "{live} calls live at once");
    }
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
