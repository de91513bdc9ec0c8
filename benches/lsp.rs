//! Re-check latency of `callscript lsp` after a one-character edit of a 2,000-line script
//! (issue: goal under 16 ms), measured the way the server does it: the edited text replaces
//! the open document, the document is checked with the open-documents-first loader, and its
//! diagnostics are converted to LSP positions. Parsing the same text is the baseline measured
//! in the same run, so the ratio survives a faster or slower machine.

use callscript::lsp::{Documents, diagnostics};
use callscript_compiler::span::SourceId;
use criterion::{Criterion, criterion_group, criterion_main};

/// A collection script of `steps` core steps (about 9 lines each) with asks, interpolations,
/// guards, gotos and objection handlers, like `compiler/benches/check.rs` generates.
fn generate(steps: usize) -> String {
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
    let text = generate(220);
    let lines = text.lines().count();
    assert!((1_950..=2_100).contains(&lines), "{lines} lines");
    // The edit: one character of a prompt in the middle of the file, alternating so that every
    // iteration checks a text it has not seen.
    let at = text.find("第110步").expect("a middle step") + "第".len();
    let edited = [text.clone(), {
        let mut t = text.clone();
        t.replace_range(at..at + 1, "9");
        t
    }];
    let name = "/bench/big.call";
    let mut docs = Documents::default();
    let mut group = c.benchmark_group(format!("lsp_recheck_{lines}_lines"));
    group.sample_size(30);
    group.bench_function("parse", |b| b.iter(|| callscript_compiler::syntax::parse(&text, SourceId(0))));
    let mut n = 0usize;
    group.bench_function("recheck_after_edit", |b| {
        b.iter(|| {
            n += 1;
            docs.open(name.to_string(), None, edited[n % 2].clone());
            let checked = docs.check(name).expect("open");
            let diags = diagnostics(&docs, &checked, SourceId(0));
            assert!(diags.is_empty(), "{diags:?}");
            diags
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
