//! Scripts of nested flows and the same scripts written inline, for `check`'s benchmark of
//! seeing through calls (the compliance graph has a summary per flow, so the nested script is
//! analysed in the size of its code, not of its inline form).

const OBJECTION: &str = "  objection {\n    on emotion angry, complaint => transfer \"senior\"\n    on who => { say \"我们是银行\"; listen }\n    on repeat => resume\n  }\n";

/// `depth` flows, each saying a line, calling the next twice and asking a question whose
/// answers return; the script calls the first.
pub fn nested(depth: usize) -> String {
    let mut src = String::from("use std.zh.common\n");
    for i in 0..depth {
        src.push_str(&format!("flow f{i} () {{\n  say \"第{i}层\"\n"));
        if i + 1 < depth {
            src.push_str(&format!("  call f{next}()\n  call f{next}()\n", next = i + 1));
        }
        src.push_str("  ask \"继续吗?\" {\n    on yes => return\n    on _ => return\n  }\n}\n");
    }
    src.push_str("script s {\n  purpose service\n  outcomes { done }\n  opening {\n    say \"您好,本次通话将被录音。\"\n    call f0()\n    hangup done\n  }\n");
    src.push_str(OBJECTION);
    src.push_str("}\n");
    src
}

/// What [`nested`] runs, written out: every call replaced by the flow's lines, each question a
/// step whose answers go on to the next (2^depth - 1 lines and as many questions).
pub fn inlined(depth: usize) -> String {
    // The lines in the order they run: Some(i) says flow i's line, None asks a question.
    fn run(i: usize, depth: usize, out: &mut Vec<Option<usize>>) {
        out.push(Some(i));
        if i + 1 < depth {
            run(i + 1, depth, out);
            run(i + 1, depth, out);
        }
        out.push(None);
    }
    let mut lines = Vec::new();
    run(0, depth, &mut lines);
    let mut src = String::from(
        "use std.zh.common\nscript s {\n  purpose service\n  outcomes { done }\n  opening {\n    say \"您好,本次通话将被录音。\"\n    goto core\n  }\n  core {\n    step k0 {\n",
    );
    let mut step = 0;
    for line in lines {
        match line {
            Some(i) => src.push_str(&format!("      say \"第{i}层\"\n")),
            None => {
                step += 1;
                src.push_str(&format!(
                    "      ask \"继续吗?\" {{\n        on yes => goto k{step}\n        on _ => goto k{step}\n      }}\n    }}\n    step k{step} {{\n"
                ));
            }
        }
    }
    src.push_str("      hangup done\n    }\n  }\n");
    src.push_str(OBJECTION);
    src.push_str("}\n");
    src
}
