//! `check` throughput on generated scripts of 2,000 and 20,000 steps (about 18k and 180k
//! lines), compared with parsing alone as the baseline measured in the same run. `check` is
//! the full check: names, types, flow, lowering and every compliance rule (CS001–CS008, cn
//! pack), so `check / parse` is the cost of the whole analysis relative to parsing and the
//! growth from 2,000 to 20,000 steps shows that the dataflow stays linear.

use callscript_compiler::check::check_source;
use callscript_compiler::span::SourceId;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// A script with `steps` core steps, each an ask with branches, interpolations and gotos to
/// later steps (deep branching), plus objection handlers. About 9 lines per step.
pub fn generate(steps: usize) -> String {
    let mut s = String::from(
        "use std.zh.common\n\nscript big \"生成的脚本\" {\n  purpose collection\n  input {\n    customer_name: text\n    amount_due: money\n    account_tail: text sensitive\n  }\n  outcomes { done goal, refused }\n  opening {\n    say \"您好，本次通话将被录音。\"\n    ask \"请问您是{{customer_name}}本人吗？\" retries 1 {\n      on yes => { verify; goto core }\n      on silence, unknown => retry\n      on exhausted => goto closing.bye\n      on _ => goto closing.bye\n    }\n  }\n  core {\n",
    );
    for i in 0..steps {
        let next = if i + 1 < steps { format!("s{}", i + 1) } else { "closing.bye".into() };
        let far = if i + 7 < steps { format!("s{}", i + 7) } else { "closing.bye".into() };
        s.push_str(&format!(
            "    step s{i} {{\n      say \"第{i}步：您尾号{{{{account_tail | digits}}}}的欠款{{{{amount_due | money}}}}。\"\n      ask \"请问您今天能还款吗？\" retries 2 {{\n        on yes if attempt > 1 => {{ tag \"t{i}\"; goto {next} }}\n        on no => goto {far}\n        on silence, unknown => retry\n        on exhausted => goto closing.bye\n      }}\n    }}\n"
        ));
    }
    s.push_str("  }\n  objection {\n    on emotion angry, complaint => transfer \"senior\"\n    on busy limit 2 => { callback in 2h; hangup refused }\n  }\n  closing {\n    step bye { say \"再见。\"; hangup done }\n  }\n}\n");
    s
}

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
}

criterion_group!(benches, bench);
criterion_main!(benches);
