//! Throughput of several workers on one campaign (CAMPAIGN.md §6), and what each call costs the
//! shared store in round trips. One simulated campaign (the loan reminder, `CUSTOMERS`
//! customers, lines and dial tokens far above what the machine can place, so the workers and
//! PostgreSQL are the limit) is run to its end by 1, 2 and 3 workers (threads, each with its
//! own connection) on a fresh database of a real server, and, as the baseline in the same run,
//! by the single-process scheduler on SQLite in virtual time. Each figure is the median of
//! `ROUNDS` runs; ratios compare figures of the same run only (the machine is shared).
//!
//! `cargo bench -p callscript-runtime --bench workers` (needs PostgreSQL's `initdb`, as the
//! tests; `CALLSCRIPT_TEST_POSTGRES_URL` points at a server instead).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use callscript_runtime::scheduler::worker::{WorkerOptions, work};
use callscript_runtime::scheduler::{Plan, RunOptions, VirtualClock, run};
use callscript_runtime::store::queue::Pace;
use callscript_runtime::store::{PostgresStore, SqliteStore, Store};
use callscript_runtime::telephony::sim::SimTelephony;
use jiff::Timestamp;

#[path = "../tests/support/postgres_server.rs"]
mod postgres_server;

#[path = "../tests/support/campaigns.rs"]
#[allow(dead_code)]
mod campaigns;

#[path = "../tests/support/scratch.rs"]
mod scratch;

const CUSTOMERS: usize = 4_000;
const ROUNDS: usize = 3;
const START: &str = "2026-11-23T00:00:00Z";

fn start_ms() -> i64 {
    START.parse::<Timestamp>().unwrap().as_millisecond()
}

fn plan() -> Plan {
    campaigns::plan(&campaigns::Case {
        start: 0,
        end: 24 * 60,
        days: vec!["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        max_concurrent: 2_000,
        cps: 1_000.0,
        max_attempts: 2,
        per_day: 5,
        per_week: 10,
        customers: CUSTOMERS,
        seed: 7,
    })
}

/// Calls placed per wall second, and round trips per call, with `workers` workers.
fn shared(plan: &Plan, workers: usize, round: usize) -> (f64, f64) {
    let url = postgres_server::database(&format!("bench_{workers}_{round}")).expect("PostgreSQL is needed");
    let started = Instant::now();
    let results: Vec<(u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let url = &url;
                s.spawn(move || {
                    let mut store = PostgresStore::connect(url).unwrap();
                    let mut tel = SimTelephony::new(plan.settings.sim.clone(), 30_000);
                    let opts = WorkerOptions {
                        // Virtual time far faster than the calls can be placed.
                        pace: Pace {
                            epoch_wall_ms: Timestamp::now().as_millisecond(),
                            epoch_clock_ms: start_ms(),
                            speed: 100_000.0,
                        },
                        lease_ms: 30_000,
                        stop: Arc::new(AtomicBool::new(false)),
                        idle_exit: true,
                        accept_new_script: false,
                        on_progress: None,
                        metrics: None,
                    };
                    let summary = work(plan, &mut store, &mut tel, opts).unwrap();
                    (summary.progress.placed, store.round_trips())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let placed: u64 = results.iter().map(|r| r.0).sum();
    let trips: u64 = results.iter().map(|r| r.1).sum();
    (placed as f64 / seconds, trips as f64 / placed as f64)
}

/// The single-process scheduler on SQLite, virtual time: calls per wall second.
fn alone(plan: &Plan, round: usize) -> f64 {
    let dir = scratch::scratch(&format!("bench-workers-{round}"));
    let mut store = SqliteStore::open(&dir.path().join("c.db")).unwrap();
    let mut tel = SimTelephony::new(plan.settings.sim.clone(), 30_000);
    let mut clock = VirtualClock::new(start_ms());
    let started = Instant::now();
    let opts = RunOptions { clock: &mut clock, stop: Arc::new(AtomicBool::new(false)), on_progress: None };
    let summary = run(plan, &mut store, &mut tel, false, opts).unwrap();
    let rate = summary.progress.placed as f64 / started.elapsed().as_secs_f64();
    let _ = store.attempt_rows(&plan.campaign_id);
    rate
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    // `cargo test --benches` runs each bench binary once with --bench absent: stay quick there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let plan = plan();
    let base = median((0..ROUNDS).map(|r| alone(&plan, r)).collect());
    println!("{CUSTOMERS} customers, median of {ROUNDS} runs");
    println!("single process, SQLite, virtual time: {base:>8.0} calls/s (baseline)");
    let mut one = 0.0;
    for workers in 1..=3 {
        let runs: Vec<(f64, f64)> = (0..ROUNDS).map(|r| shared(&plan, workers, r)).collect();
        let rate = median(runs.iter().map(|r| r.0).collect());
        let trips = median(runs.iter().map(|r| r.1).collect());
        if workers == 1 {
            one = rate;
        }
        println!(
            "{workers} worker(s), PostgreSQL:         {rate:>8.0} calls/s ({:.2}× one worker, {:.3}× the baseline), {trips:.1} round trips per call",
            rate / one,
            rate / base
        );
    }
}
