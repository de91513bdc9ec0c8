//! The generated collection script the compiler and LSP benchmarks measure (shared by
//! `compiler/benches/check.rs` and `benches/lsp.rs`).

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
