//! Simulated calls per second through the whole runtime (scheduler, VM sessions with the
//! simulated customer, SQLite store), against the VM and simulated customer alone as the
//! baseline measured in the same run. Also prints the bytes a live session owns.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use callscript_compiler::check::check_source;
use callscript_runtime::campaign::list::CustomerList;
use callscript_runtime::campaign::parse_toml;
use callscript_runtime::scheduler::{Plan, RunOptions, Variant, VirtualClock, run};
use callscript_runtime::store::SqliteStore;
use callscript_runtime::telephony::sim::{Rng, SimTelephony, converse};
use callscript_runtime::vm::{CallContext, Executable, Session};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "../tests/support/scratch.rs"]
mod scratch;

const SCRIPT: &str = include_str!("../../examples/loan_reminder/loan_reminder.call");
const CUSTOMERS: usize = 20_000;

fn plan() -> Plan {
    let checked = check_source("loan_reminder.call", SCRIPT);
    let exec = Executable::new(callscript_compiler::lower::lower(&checked, checked.files[0].id)).unwrap();
    let mut csv = String::from("id,phone,customer_name,days_overdue,amount_due,account_tail\n");
    for i in 0..CUSTOMERS {
        csv.push_str(&format!(
            "c{i},{},客户{i},{},{}.50,{:04}\n",
            13_000_000_000u64 + i as u64,
            3 + i % 30,
            100 + i,
            i % 10_000
        ));
    }
    let customers = CustomerList::load_csv("c.csv", &csv, &exec.program.scripts[0], "cn").unwrap();
    let settings = parse_toml(
        "b.toml",
        "task_id = \"B\"\nscript = \"s.call\"\n[schedule]\nstart_time = \"00:00\"\nend_time = \"24:00\"\nmax_concurrent = 2000\ncalls_per_second = 1000\n[limits]\nper_customer_per_day = 3\nper_customer_per_7_days = 9\n",
    )
    .unwrap();
    Plan {
        campaign_id: "B".into(),
        settings,
        variants: vec![Variant::only(exec, "loan_reminder")],
        customers,
        allowed: "{}".into(),
        list: "customers.csv".into(),
    }
}

fn bench(c: &mut Criterion) {
    let plan = plan();
    let scratch = scratch::scratch("bench-campaign");
    let dir = scratch.path();
    let mut calls = 0u64;
    // How many calls one run places (every customer, plus retries).
    {
        let mut store = SqliteStore::open(&dir.join("probe.db")).unwrap();
        let mut tel = SimTelephony::new(plan.settings.sim.clone(), 30_000);
        let mut clock = VirtualClock::new(0);
        let opts = RunOptions { clock: &mut clock, stop: Arc::new(AtomicBool::new(false)), on_progress: None };
        calls += run(&plan, &mut store, &mut tel, false, opts).unwrap().progress.placed;
    }
    let mut group = c.benchmark_group("campaign");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(calls));
    let mut n = 0;
    group.bench_function("run_with_sqlite", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let path = dir.join(format!("run{n}.db"));
                let mut store = SqliteStore::open(&path).unwrap();
                let mut tel = SimTelephony::new(plan.settings.sim.clone(), 30_000);
                let mut clock = VirtualClock::new(0);
                let opts = RunOptions { clock: &mut clock, stop: Arc::new(AtomicBool::new(false)), on_progress: None };
                let started = Instant::now();
                run(&plan, &mut store, &mut tel, false, opts).unwrap();
                total += started.elapsed();
                drop(store);
                let _ = std::fs::remove_file(&path);
            }
            total
        })
    });
    // Baseline: the same number of calls, each a session with the simulated customer, and no
    // scheduler or store around it.
    let start = |i: usize| {
        let inputs = plan.customers.inputs(i % plan.customers.len());
        Session::start(Arc::clone(&plan.variants[0].exec), "loan_reminder", inputs, CallContext::default()).unwrap()
    };
    group.bench_function("sessions_only", |b| {
        b.iter(|| {
            let mut rng = Rng::new(1);
            for i in 0..calls as usize {
                std::hint::black_box(converse(start(i), &mut rng, None));
            }
        })
    });
    group.finish();
    let session = start(0);
    println!("calls per run: {calls}; a live session owns {} bytes (program shared)", session.owned_bytes());
}

criterion_group!(benches, bench);
criterion_main!(benches);
