//! `check` throughput on generated scripts of 2,000 and 20,000 steps (about 18k and 180k
//! lines), compared with parsing alone as the baseline measured in the same run. `check` is
//! the full check: names, types, flow, lowering and every compliance rule (CS001–CS008, cn
//! pack), so `check / parse` is the cost of the whole analysis relative to parsing and the
//! growth from 2,000 to 20,000 steps shows that the dataflow stays linear.
//!
//! `flows`: twelve nested flows, each calling the next twice, against the same script written
//! inline (4,095 copies of the deepest flow). The compliance graph has a summary per flow, so
//! checking the nested script costs the size of its code; `inline / nested` is the saving.

use callscript_compiler::check::check_source;

// mimalloc, the `callscript` binary's allocator (which asks it for plain blocks when it can,
// `src/allocator.rs`), so the figures are close to the command's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use callscript_compiler::span::SourceId;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[path = "support/generate.rs"]
mod support;
use support::generate;
#[path = "support/flows.rs"]
mod flows;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    for steps in [2_000usize, 20_000] {
        let src = generate(steps);
        let lines = src.lines().count() as u64;
        group.throughput(Throughput::Elements(lines));
        group.bench_with_input(BenchmarkId::new("parse", lines), &src, |b, src| {
            b.iter(|| callscript_compiler::syntax::parse(src, SourceId(0)))
        });
        group.bench_with_input(BenchmarkId::new("check", lines), &src, |b, src| {
            b.iter(|| {
                let checked = check_source("big.call", src);
                assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics.first());
                checked
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("flows");
    group.sample_size(10);
    for (name, src) in [("nested", flows::nested(12)), ("inline", flows::inlined(12))] {
        group.bench_with_input(BenchmarkId::new(name, 12), &src, |b, src| {
            b.iter(|| {
                let checked = check_source("flows.call", src);
                assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics.first());
                checked
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
