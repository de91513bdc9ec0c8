//! Several workers on one campaign (CAMPAIGN.md §6) against a real PostgreSQL: workers (threads
//! here, each with its own connection and simulator; `tests/workers.rs` runs processes and
//! kills them) keep every rule of §3 together, give the same calls as one process on SQLite,
//! take over a dead worker's live calls once its lease ran out, and drain when asked to stop.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use callscript_runtime::scheduler::worker::{WorkerOptions, work};
use callscript_runtime::scheduler::{Plan, RunOptions, Summary, VirtualClock, assign, run};
use callscript_runtime::store::queue::{
    Candidate, ClaimLimits, Claimant, Ending, Joining, Local, Pace, Rules, SharedQueue, Verdict, WorkerId,
};
use callscript_runtime::store::{AttemptRow, Finished, PostgresStore, SqliteStore, Store, StoreError};
use callscript_runtime::telephony::sim::SimTelephony;
use jiff::Timestamp;

#[path = "support/postgres_server.rs"]
mod postgres_server;

#[path = "support/campaigns.rs"]
mod campaigns;
#[path = "support/scratch.rs"]
mod scratch;

use campaigns::{Case, ab_plan, check_rules, plan};
use postgres_server::database;
use scratch::scratch;

const START: &str = "2026-11-23T00:00:00Z";

fn start_ms() -> i64 {
    START.parse::<Timestamp>().unwrap().as_millisecond()
}

fn case(customers: usize, seed: u64) -> Case {
    Case {
        start: 9 * 60,
        end: 18 * 60,
        days: vec!["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        max_concurrent: 12,
        cps: 4.0,
        max_attempts: 3,
        per_day: 1,
        per_week: 3,
        customers,
        seed,
    }
}

/// One worker of `plan` on `url`, at `speed` virtual ms per wall ms, until the campaign is done
/// (or `stop` is set).
fn worker(plan: &Plan, url: &str, speed: f64, stop: Arc<AtomicBool>) -> Summary {
    let mut store = PostgresStore::connect(url).unwrap();
    let mut tel = SimTelephony::new(plan.settings.sim.clone(), 30_000);
    let opts = WorkerOptions {
        pace: Pace { epoch_wall_ms: Timestamp::now().as_millisecond(), epoch_clock_ms: start_ms(), speed },
        lease_ms: 5_000,
        stop,
        idle_exit: true,
        accept_new_script: false,
        on_progress: None,
        metrics: None,
    };
    work(plan, &mut store, &mut tel, opts).unwrap()
}

/// `n` workers at once on one campaign.
fn workers(plan: &Plan, url: &str, n: usize, speed: f64) -> Vec<Summary> {
    std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..n).map(|_| s.spawn(|| worker(plan, url, speed, Arc::new(AtomicBool::new(false))))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Each customer's attempts: (attempt, disposition, outcome).
fn calls_by_customer(rows: &[AttemptRow]) -> BTreeMap<String, Vec<(u32, String, Option<String>)>> {
    let mut by = BTreeMap::<String, Vec<_>>::new();
    for r in rows {
        by.entry(r.customer_id.clone()).or_default().push((r.attempt, r.disposition.clone(), r.outcome.clone()));
    }
    for calls in by.values_mut() {
        calls.sort();
    }
    by
}

fn single_process(plan: &Plan, name: &str) -> Vec<AttemptRow> {
    let dir = scratch(&format!("workers-{name}"));
    let mut store = SqliteStore::open(&dir.path().join("c.db")).unwrap();
    let mut tel = SimTelephony::new(plan.settings.sim.clone(), 30_000);
    let mut clock = VirtualClock::new(start_ms());
    let opts = RunOptions { clock: &mut clock, stop: Arc::new(AtomicBool::new(false)), on_progress: None };
    run(plan, &mut store, &mut tel, false, opts).unwrap();
    store.attempt_rows(&plan.campaign_id).unwrap()
}

#[test]
fn three_workers_keep_every_rule_and_place_the_calls_of_one_process() {
    let Some(url) = database("three") else { return };
    let plan = plan(&case(240, 11));
    let summaries = workers(&plan, &url, 3, 50_000.0);
    assert!(summaries.iter().all(|s| s.finished), "every worker saw the campaign done");
    assert!(summaries.iter().filter(|s| s.progress.placed > 0).count() >= 2, "the work was shared: {summaries:?}");
    let store = PostgresStore::connect(&url).unwrap();
    let rows = store.attempt_rows("T").unwrap();
    // At most once per (customer, attempt); window, caps, budget, CPS and lines campaign-wide.
    check_rules(&plan, &rows);
    assert_eq!(summaries.iter().map(|s| s.progress.placed).sum::<u64>(), rows.len() as u64);
    // Each attempt keeps where it came from, as on SQLite.
    let by_id: std::collections::HashMap<&str, _> =
        (0..plan.customers.len()).map(|i| (plan.customers.id(i), plan.customers.timezone(i))).collect();
    for r in &rows {
        assert_eq!(r.zone.as_deref(), by_id[r.customer_id.as_str()], "{}", r.customer_id);
        assert_eq!((r.list.as_deref(), r.variant.as_deref()), (Some("customers.csv"), Some("loan_reminder")));
    }
    // Each call plays out from (seed, customer, attempt): the same calls as one process.
    let alone = single_process(&plan, "three");
    assert_eq!(calls_by_customer(&rows), calls_by_customer(&alone));
}

#[test]
fn caps_and_do_not_call_hold_across_campaigns_run_by_different_workers() {
    let Some(url) = database("caps") else { return };
    let mut first = plan(&case(40, 3));
    let mut second = plan(&case(40, 3));
    first.campaign_id = "A".into();
    second.campaign_id = "B".into();
    // Both lists call the same phones; one phone is on the do-not-call list.
    let blocked = first.customers.phone(0).to_string();
    let mut store = PostgresStore::connect(&url).unwrap();
    store.dnc_add(&blocked, "import", 0).unwrap();
    std::thread::scope(|s| {
        for p in [&first, &second, &first, &second] {
            let url = &url;
            s.spawn(move || worker(p, url, 50_000.0, Arc::new(AtomicBool::new(false))));
        }
    });
    let mut rows = store.attempt_rows("A").unwrap();
    rows.extend(store.attempt_rows("B").unwrap());
    assert!(rows.iter().all(|r| r.phone != blocked), "a do-not-call phone was dialled");
    let mut per_phone_day = std::collections::HashMap::new();
    for r in &rows {
        let day = &r.local_time[..10];
        *per_phone_day.entry((r.phone.clone(), day.to_string())).or_insert(0) += 1;
    }
    for ((phone, day), n) in per_phone_day {
        assert!(n <= 1, "{phone} was called {n} times on {day} across the two campaigns");
    }
}

/// Rules that allow everything, for driving the queue by hand.
struct Open;

impl Rules for Open {
    fn window(&self, _: &Candidate, _: i64) -> Verdict {
        Verdict::Call(Local { time: "2026-11-23T10:00:00+08:00".into(), date: "2026-11-23".parse().unwrap(), hour: 10 })
    }
    fn caps_allow(&self, _: jiff::civil::Date, _: &dyn Fn(jiff::civil::Date) -> u32) -> bool {
        true
    }
    fn next_day(&self, _: &Candidate, _: i64) -> Option<i64> {
        None
    }
}

/// An A/B campaign on three workers (issue 18): each claimed attempt stores the script its
/// customer is assigned (`assign`, the scheduler's function) and that script's own hash, and
/// the calls are those of one process on SQLite, scripts included.
#[test]
fn three_workers_give_each_customer_its_script_as_one_process_does() {
    let Some(url) = database("ab") else { return };
    let plan = ab_plan(&case(120, 13), 30);
    let summaries = workers(&plan, &url, 3, 50_000.0);
    assert!(summaries.iter().all(|s| s.finished), "every worker saw the campaign done");
    let store = PostgresStore::connect(&url).unwrap();
    let rows = store.attempt_rows("T").unwrap();
    check_rules(&plan, &rows);
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let stored =
        db.query("SELECT customer_id, variant, script_sha256 FROM attempts WHERE campaign = 'T'", &[]).unwrap();
    assert_eq!(stored.len(), rows.len());
    for r in &stored {
        let (customer, variant, sha): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        let expected = &plan.variants[assign("T", &customer, &[30, 70])];
        assert_eq!((variant.as_str(), sha.as_str()), (expected.script.as_str(), expected.script_sha256.as_str()));
    }
    let scripts = |rows: &[AttemptRow]| -> BTreeMap<String, Option<String>> {
        rows.iter().map(|r| (r.customer_id.clone(), r.variant.clone())).collect()
    };
    let alone = single_process(&plan, "ab");
    assert_eq!(calls_by_customer(&rows), calls_by_customer(&alone));
    assert_eq!(scripts(&rows), scripts(&alone));
    assert_eq!(scripts(&rows).values().flatten().collect::<HashSet<_>>().len(), 2, "both scripts ran");
}

fn limits() -> ClaimLimits {
    ClaimLimits { max_concurrent: 100, interval_ms: 10, horizon_ms: 1_000, batch: 5, max_attempts: 3 }
}

#[test]
fn a_dead_workers_live_calls_are_taken_over_once_its_lease_ran_out() {
    let Some(url) = database("takeover") else { return };
    let plan = plan(&case(10, 5));
    let now = Timestamp::now().as_millisecond();
    let joining = |wall_ms: i64| Joining {
        campaign: "T",
        script_sha256: &plan.variants[0].script_sha256,
        script: "loan_reminder",
        settings: "{}",
        customers: &plan.customers,
        list: "customers.csv",
        pace: Pace { epoch_wall_ms: wall_ms, epoch_clock_ms: start_ms(), speed: 0.0 },
        accept_new_script: false,
        wall_ms,
        lease_ms: 5_000,
    };
    // A worker on another host that joined a minute ago and claimed five customers, then
    // stopped beating (a lost machine): its lease ran out 55 s ago.
    let mut gone = PostgresStore::connect(&url).unwrap();
    let lost = WorkerId { token: "lost-host:4242:1".into(), host: "lost-host".into(), pid: 4242 };
    gone.join(&lost, &joining(now - 60_000)).unwrap();
    let by = Claimant { me: &lost, campaign: "T", allowed: "{}", zone: "Asia/Shanghai", scripts: &plan };
    let claimed = gone.claim(&by, now, &limits(), &Open).unwrap();
    assert_eq!(claimed.len(), 5);
    let mut alive = PostgresStore::connect(&url).unwrap();
    let me = WorkerId::this_process(now);
    alive.join(&me, &joining(now)).unwrap();
    let retry = |attempts: u32, at: i64| (attempts < 3).then_some(at + 1_800_000);
    // A worker whose lease still stands is not taken over.
    let beating = WorkerId { token: "busy-host:1:1".into(), host: "busy-host".into(), pid: 1 };
    alive.join(&beating, &joining(now)).unwrap();
    assert_eq!(alive.take_over(&me, "T", now, now, &retry).unwrap(), 5, "only the lost worker's five calls");
    assert_eq!(alive.take_over(&me, "T", now, now, &retry).unwrap(), 0, "taken over once");
    let rows = alive.attempt_rows("T").unwrap();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r.disposition == "failed" && r.cause.as_deref() == Some("interrupted")), "{rows:?}");
    // Its customers are open again, due after the retry backoff; nobody else's are touched.
    let state = alive.queue_state("T").unwrap();
    assert_eq!((state.open, state.live), (10, 0));
    // The lost worker, back: its lease is gone, it may neither store a result nor claim.
    let result = Finished { disposition: "answered".into(), ended_ms: now, ..Finished::default() };
    let ending = Ending { result: &result, next_due_ms: None, opted_out: false, recording: None };
    assert_eq!(
        gone.finish(&lost, "T", &[(&claimed[0], ending)]).unwrap(),
        [false],
        "a taken-over result is not stored"
    );
    assert!(matches!(gone.heartbeat(&lost, "T", now, 5_000, now), Err(StoreError::LeaseLostDatabase { .. })));
    assert!(matches!(gone.claim(&by, now, &limits(), &Open), Err(StoreError::LeaseLostDatabase { .. })));
    // The same (customer, attempt) is never claimed twice: the next claim is attempt 2.
    let by_me = Claimant { me: &me, ..by };
    let again = alive.claim(&by_me, now + 1_800_000, &limits(), &Open).unwrap();
    let first: HashSet<&str> = claimed.iter().map(|c| c.customer_id.as_str()).collect();
    for c in &again {
        assert_eq!(c.attempt, if first.contains(c.customer_id.as_str()) { 2 } else { 1 }, "{c:?}");
    }
}

#[test]
fn max_concurrent_and_dial_tokens_are_campaign_wide() {
    let Some(url) = database("lines") else { return };
    let plan = plan(&case(30, 9));
    let now = Timestamp::now().as_millisecond();
    let join = |store: &mut PostgresStore, me: &WorkerId| {
        let joining = Joining {
            campaign: "T",
            script_sha256: &plan.variants[0].script_sha256,
            script: "loan_reminder",
            settings: "{}",
            customers: &plan.customers,
            list: "customers.csv",
            pace: Pace { epoch_wall_ms: now, epoch_clock_ms: now, speed: 0.0 },
            accept_new_script: false,
            wall_ms: now,
            lease_ms: 5_000,
        };
        store.join(me, &joining).unwrap();
    };
    let (a, b) = (WorkerId::this_process(now), WorkerId { token: "b:2:2".into(), host: "b".into(), pid: 2 });
    let (mut sa, mut sb) = (PostgresStore::connect(&url).unwrap(), PostgresStore::connect(&url).unwrap());
    join(&mut sa, &a);
    join(&mut sb, &b);
    let lines = ClaimLimits { max_concurrent: 7, batch: 5, ..limits() };
    let claim = |s: &mut PostgresStore, me: &WorkerId, at: i64| {
        let by = Claimant { me, campaign: "T", allowed: "{}", zone: "Asia/Shanghai", scripts: &plan };
        s.claim(&by, at, &lines, &Open).unwrap()
    };
    let first = claim(&mut sa, &a, now);
    let second = claim(&mut sb, &b, now);
    assert_eq!((first.len(), second.len()), (5, 2), "seven lines for the campaign, not per worker");
    assert!(claim(&mut sb, &b, now + 5_000).is_empty(), "no line is free");
    // One dial token per interval across both workers: the reserved moments never collide.
    let mut moments: Vec<i64> = first.iter().chain(&second).map(|c| c.dial_at_ms).collect();
    moments.sort_unstable();
    assert!(moments.windows(2).all(|w| w[1] - w[0] >= lines.interval_ms), "{moments:?}");
    // A call ends: one line frees.
    let result = Finished { disposition: "busy".into(), ended_ms: now + 100, ..Finished::default() };
    let ending = Ending { result: &result, next_due_ms: Some(now + 3_600_000), opted_out: false, recording: None };
    assert_eq!(sa.finish(&a, "T", &[(&first[0], ending)]).unwrap(), [true]);
    assert_eq!(claim(&mut sb, &b, now + 6_000).len(), 1);
}

#[test]
fn a_stopped_worker_drains_and_another_finishes_the_campaign() {
    let Some(url) = database("drain") else { return };
    let plan = plan(&case(60, 21));
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let summary = std::thread::scope(|s| {
        let h = s.spawn(|| worker(&plan, &url, 5_000.0, stop));
        std::thread::sleep(std::time::Duration::from_millis(400));
        flag.store(true, Ordering::Relaxed);
        h.join().unwrap()
    });
    assert!(summary.stopped && !summary.finished, "{summary:?}");
    let mut store = PostgresStore::connect(&url).unwrap();
    let state = store.queue_state("T").unwrap();
    assert_eq!(state.live, 0, "its live calls finished before it left");
    assert!(state.open > 0, "stopped before the end: {state:?}");
    let rest = worker(&plan, &url, 50_000.0, Arc::new(AtomicBool::new(false)));
    assert!(rest.finished);
    check_rules(&plan, &store.attempt_rows("T").unwrap());
}

#[test]
fn a_worker_at_another_speed_than_the_running_ones_is_refused() {
    let Some(url) = database("speed") else { return };
    let plan = plan(&case(5, 1));
    let now = Timestamp::now().as_millisecond();
    let mut running = PostgresStore::connect(&url).unwrap();
    let joining = Joining {
        campaign: "T",
        script_sha256: &plan.variants[0].script_sha256,
        script: "loan_reminder",
        settings: "{}",
        customers: &plan.customers,
        list: "customers.csv",
        pace: Pace { epoch_wall_ms: now, epoch_clock_ms: start_ms(), speed: 600.0 },
        accept_new_script: false,
        wall_ms: now,
        lease_ms: 30_000,
    };
    running.join(&WorkerId::this_process(now), &joining).unwrap();
    let mut store = PostgresStore::connect(&url).unwrap();
    let mut tel = SimTelephony::new(plan.settings.sim.clone(), 30_000);
    let opts = WorkerOptions {
        pace: Pace { epoch_wall_ms: now, epoch_clock_ms: start_ms(), speed: 60.0 },
        lease_ms: 30_000,
        stop: Arc::new(AtomicBool::new(false)),
        idle_exit: true,
        accept_new_script: false,
        on_progress: None,
        metrics: None,
    };
    let refused = work(&plan, &mut store, &mut tel, opts).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "the campaign's clock runs at speed 600 (set by the workers running it); start this worker with --speed 600, not 60"
    );
    assert_eq!(store.queue_state("T").unwrap().live, 0, "it placed nothing");
}

#[test]
fn a_worker_rides_out_lost_connections_to_the_store_and_loses_no_result() {
    let Some(url) = database("outage") else { return };
    let plan = plan(&case(200, 13));
    let done = AtomicBool::new(false);
    let summary = std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let summary = worker(&plan, &url, 50_000.0, Arc::new(AtomicBool::new(false)));
            done.store(true, Ordering::Relaxed);
            summary
        });
        // Cut every connection of the worker to the server, a few times, while it calls.
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut cuts = 0;
        while !done.load(Ordering::Relaxed) && cuts < 5 {
            std::thread::sleep(std::time::Duration::from_millis(700));
            let cut: i64 = admin
                .query_one(
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    &[],
                )
                .unwrap()
                .get(0);
            cuts += cut;
        }
        assert!(cuts >= 2, "the connection was cut {cuts} times");
        worker.join().unwrap()
    });
    assert!(summary.finished, "{summary:?}");
    let store = PostgresStore::connect(&url).unwrap();
    let rows = store.attempt_rows("T").unwrap();
    check_rules(&plan, &rows);
    // Every call placed was stored, and but for claims whose answer was lost with the
    // connection (recorded interrupted), they are the calls of one process.
    assert_eq!(
        rows.len() as u64,
        summary.progress.placed + rows.iter().filter(|r| r.cause.as_deref() == Some("interrupted")).count() as u64
    );
    let alone = calls_by_customer(&single_process(&plan, "outage"));
    for (customer, calls) in calls_by_customer(&rows) {
        if calls.iter().all(|c| c.1 != "failed") {
            assert_eq!(Some(&calls), alone.get(&customer), "{customer}");
        }
    }
}
