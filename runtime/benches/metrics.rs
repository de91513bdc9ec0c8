//! The metrics a worker records for one call (placed, live, six VM turns, three store
//! operations, an action, the end), against the same loop recording nothing as the baseline
//! in the same run; and a scrape's render of them.

use std::hint::black_box;
use std::time::Duration;

use callscript_runtime::metrics::Metrics;
use criterion::{Criterion, criterion_group, criterion_main};

fn one_call(metrics: &Metrics, turn: Duration) {
    metrics.placed();
    metrics.set_live(12);
    metrics.store("claim", turn);
    for _ in 0..6 {
        metrics.vm_turn(turn);
    }
    metrics.action("balance", true, turn);
    metrics.store("heartbeat", turn);
    metrics.ended("answered", Some("promise_to_pay"), true);
    metrics.store("finish", turn);
    metrics.set_live(11);
    metrics.alive();
}

fn bench(c: &mut Criterion) {
    let metrics = Metrics::new("loan_reminder");
    let turn = Duration::from_micros(3);
    let mut group = c.benchmark_group("metrics");
    group.bench_function("empty", |b| b.iter(|| black_box((black_box(&metrics), black_box(turn)))));
    group.bench_function("one_call", |b| b.iter(|| one_call(black_box(&metrics), black_box(turn))));
    group.bench_function("render", |b| b.iter(|| black_box(metrics.render())));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
