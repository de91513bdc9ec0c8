//! A call through 3 nested flows against the same script written inline (§12): lowering keeps
//! one copy of each flow and the session a return stack, so the goal is at most 1.2× the
//! inline call's time. Prints the ratio measured in this run.

use std::sync::Arc;
use std::time::Instant;

use callscript_compiler::check::{NoFiles, check};
use callscript_compiler::source::Source;
use callscript_compiler::value::Value;
use callscript_runtime::vm::Executable;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "support/call.rs"]
mod support;

const HEAD: &str = r#"use std.zh.common
"#;

const FLOWS: &str = r#"
flow outer (name: text, tries: int) {
  say "{{name}}您好,我们来核对一下信息。"
  call middle(name, tries + 1)
  say "核对完毕。"
}
flow middle (name: text, tries: int) {
  ask "{{name}},请问您是本人吗?" retries 1 {
    on yes => { verify; call inner(tries); return }
    on no, silence, unknown => retry
    on exhausted => return
  }
}
flow inner (tries: int) {
  let day: date = today
  ask "第{{tries}}次确认:您哪天能还款?" capture day retries 1 {
    on captured => { say "好的,{{day | date}}。"; return }
    on silence, unknown => retry
    on exhausted => return
  }
}
script s {
  purpose collection
  input { name: text }
  outcomes { done }
  opening {
    say "您好,本次通话将被录音。"
    call outer(name, 1)
    ask "还有别的问题吗?" {
      on _ => hangup done
    }
  }
  objection {
    on emotion angry, complaint => transfer "senior"
  }
}
"#;

const INLINE: &str = r#"
script s {
  purpose collection
  input { name: text }
  outcomes { done }
  let tries: int = 1
  let day: date = today
  opening {
    say "您好,本次通话将被录音。"
    say "{{name}}您好,我们来核对一下信息。"
    set tries = tries + 1
    ask "{{name}},请问您是本人吗?" retries 1 {
      on yes => { verify; goto core }
      on no, silence, unknown => retry
      on exhausted => goto closing
    }
  }
  core {
    ask "第{{tries}}次确认:您哪天能还款?" capture day retries 1 {
      on captured => { say "好的,{{day | date}}。"; goto closing }
      on silence, unknown => retry
      on exhausted => goto closing
    }
  }
  closing {
    say "核对完毕。"
    ask "还有别的问题吗?" {
      on _ => hangup done
    }
  }
  objection {
    on emotion angry, complaint => transfer "senior"
  }
}
"#;

const REPLIES: &[&str] = &["是我", "明天", "没有了"];

fn exec(body: &str) -> Arc<Executable> {
    let checked = check(vec![Source::new("s.call", format!("{HEAD}{body}"))], &mut NoFiles);
    assert_eq!(checked.error_count(), 0, "{:?}", checked.diagnostics);
    Executable::new(callscript_compiler::lower::lower(&checked, checked.files[0].id)).unwrap()
}

/// One call: start, then each reply is one turn; returns the number of turns.
fn call(exec: &Arc<Executable>) -> usize {
    support::call(exec, "s", vec![("name".to_string(), Value::Text("张三".into()))], REPLIES)
}

fn bench(c: &mut Criterion) {
    let flows = exec(FLOWS);
    let inline = exec(INLINE);
    assert_eq!(call(&flows), REPLIES.len());
    assert_eq!(call(&inline), REPLIES.len());
    let mut group = c.benchmark_group("flows");
    group.throughput(Throughput::Elements(REPLIES.len() as u64));
    group.bench_function("three_nested_flows", |b| b.iter(|| call(&flows)));
    group.bench_function("inline", |b| b.iter(|| call(&inline)));
    group.finish();

    // The ratio in this run, interleaved so that both see the same machine.
    let mut times = [0f64; 2];
    for _ in 0..20 {
        for (i, e) in [&flows, &inline].into_iter().enumerate() {
            let start = Instant::now();
            for _ in 0..2_000 {
                std::hint::black_box(call(e));
            }
            times[i] += start.elapsed().as_secs_f64();
        }
    }
    println!("3 nested flows / inline: {:.3}× (goal ≤ 1.2×)", times[0] / times[1]);
}

criterion_group!(benches, bench);
criterion_main!(benches);
