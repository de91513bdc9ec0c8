//! The scheduler with many customers sharing few phones (issue 13: 5 phones, 4,000 customers
//! took 2.8 s and 8,000 took 17 s, because every capped customer was re-admitted every day and
//! `Caps::count` scanned a phone's whole history). Each size runs a whole simulated campaign
//! (virtual clock, SQLite store, one call per phone per day); time per customer should stay
//! flat as the list grows. Compare with the base commit by running this bench there (see
//! docs/architecture.md, "Scheduler scale").

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use callscript_compiler::check::check_source;
use callscript_runtime::campaign::list::CustomerList;
use callscript_runtime::campaign::parse_toml;
use callscript_runtime::scheduler::{Plan, RunOptions, Variant, VirtualClock, run};
use callscript_runtime::store::SqliteStore;
use callscript_runtime::telephony::sim::SimTelephony;
use callscript_runtime::vm::Executable;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[path = "../tests/support/scratch.rs"]
mod scratch;

const SCRIPT: &str = include_str!("../../examples/loan_reminder/loan_reminder.call");
const PHONES: u64 = 5;

fn plan(n: usize) -> Plan {
    let checked = check_source("loan_reminder.call", SCRIPT);
    let exec = Executable::new(callscript_compiler::lower::lower(&checked, checked.files[0].id)).unwrap();
    let mut csv = String::from("id,phone,customer_name,days_overdue,amount_due,account_tail\n");
    for i in 0..n {
        let phone = 13_000_000_000u64 + i as u64 % PHONES;
        csv.push_str(&format!("c{i},{phone},客户{i},{},{}.50,{:04}\n", 3 + i % 30, 100 + i, i % 10_000));
    }
    let customers = CustomerList::load_csv("c.csv", &csv, &exec.program.scripts[0], "cn").unwrap();
    let settings = parse_toml(
        "b.toml",
        "task_id = \"S\"\nscript = \"s.call\"\n[schedule]\nstart_time = \"09:00\"\nend_time = \"18:00\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\nmax_concurrent = 50\ncalls_per_second = 10\n[retry]\nmax_attempts = 1\n[limits]\nper_customer_per_day = 1\nper_customer_per_7_days = 7\n",
    )
    .unwrap();
    Plan {
        campaign_id: "S".into(),
        settings,
        variants: vec![Variant::only(exec, "loan_reminder")],
        customers,
        allowed: "{}".into(),
        list: "customers.csv".into(),
    }
}

/// One whole campaign; returns the calls placed.
fn campaign(plan: &Plan, path: &std::path::Path) -> u64 {
    let mut store = SqliteStore::open(path).unwrap();
    let mut tel = SimTelephony::new(plan.settings.sim.clone(), 30_000);
    let mut clock = VirtualClock::new(1_795_000_000_000);
    let opts = RunOptions { clock: &mut clock, stop: Arc::new(AtomicBool::new(false)), on_progress: None };
    run(plan, &mut store, &mut tel, false, opts).unwrap().progress.placed
}

fn bench(c: &mut Criterion) {
    let scratch = scratch::scratch("scale");
    let dir = scratch.path();
    let mut group = c.benchmark_group("shared_phones");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    let mut n_run = 0;
    for n in [1_000usize, 2_000, 4_000, 8_000] {
        let plan = plan(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &plan, |b, plan| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n_run += 1;
                    let path = dir.join(format!("run{n_run}.db"));
                    let started = Instant::now();
                    let placed = campaign(plan, &path);
                    total += started.elapsed();
                    assert_eq!(placed, n as u64, "every customer is called once");
                    let _ = std::fs::remove_file(&path);
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
