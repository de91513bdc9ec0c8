//! A readable listing of a program: every instruction with its operands spelled out and the
//! source line it came from.

use std::fmt::Write;

use crate::bytecode::*;
use crate::source::Source;

/// Renders the whole program.
pub fn disassemble(program: &Program) -> String {
    let sources: Vec<Source> = program.files.iter().map(|f| Source::new(f.name.clone(), f.text.clone())).collect();
    let mut out = String::new();
    for script in &program.scripts {
        script_listing(program, script, &sources, &mut out);
    }
    out
}

fn prompt_text(script: &ScriptCode, id: PromptId) -> String {
    let Some(p) = script.prompts.get(id as usize) else { return format!("p{id}?") };
    let mut s = String::from("\"");
    for seg in &p.segments {
        match seg {
            PromptSegment::Text(t) => s.push_str(t),
            PromptSegment::Value { expr, filter } => {
                let _ = write!(s, "{{{{e{expr}");
                if let Some(f) = filter {
                    let _ = write!(s, " | {}", f.name());
                }
                s.push_str("}}");
            }
        }
    }
    s.push('"');
    if p.no_bargein {
        s.push_str(" [no barge-in]");
    }
    s
}

fn expr_text(script: &ScriptCode, id: ExprId) -> String {
    let Some(e) = script.exprs.get(id as usize) else { return format!("e{id}?") };
    let ops: Vec<String> = e
        .ops
        .iter()
        .map(|op| match op {
            ExprOp::Const(v) => format!("{v:?}"),
            ExprOp::Load(slot) => script.slots.get(*slot as usize).map_or(format!("s{slot}"), |s| s.name.clone()),
            other => format!("{other:?}").to_lowercase(),
        })
        .collect();
    format!("e{id}[{}]", ops.join(" "))
}

fn pattern_text(program: &Program, p: &PatternCode) -> String {
    match p {
        PatternCode::Intent(i) => program.intents.get(*i as usize).map_or(format!("intent#{i}"), |t| t.name.clone()),
        PatternCode::Dtmf(d) => format!("dtmf \"{d}\""),
        PatternCode::Emotion(e) => format!("emotion {}", e.name()),
        PatternCode::Silence => "silence".into(),
        PatternCode::Unknown => "unknown".into(),
        PatternCode::Any => "_".into(),
        PatternCode::Exhausted => "exhausted".into(),
        PatternCode::Captured => "captured".into(),
    }
}

fn capture_kind_text(kind: CaptureKind) -> String {
    match kind {
        CaptureKind::Digits { min, max } if min == max => format!("digits {min}"),
        CaptureKind::Digits { min, max } => format!("digits {min}..{max}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn branch_text(program: &Program, script: &ScriptCode, b: &BranchCode) -> String {
    let pats: Vec<String> = b.patterns.iter().map(|p| pattern_text(program, p)).collect();
    let mut s = format!("on {}", pats.join(", "));
    if let Some(l) = b.limit {
        let _ = write!(s, " limit {l}");
    }
    if let Some(g) = b.guard {
        let _ = write!(s, " if {}", expr_text(script, g));
    }
    let _ = write!(s, " -> {:04}", b.pc);
    s
}

fn script_listing(program: &Program, script: &ScriptCode, sources: &[Source], out: &mut String) {
    let _ = write!(out, "script {}", script.name);
    if let Some(t) = &script.title {
        let _ = write!(out, " \"{t}\"");
    }
    let _ = writeln!(out, "  ({}, {}, listen {}ms)", script.purpose, script.locale, script.listen_timeout_ms);
    for (i, s) in script.slots.iter().enumerate() {
        let kind = if s.input {
            "input"
        } else if s.local {
            "local"
        } else if s.output {
            "output"
        } else {
            "let"
        };
        let sensitive = if s.sensitive { " sensitive" } else { "" };
        let init = s.init.map(|e| format!(" = {}", expr_text(script, e))).unwrap_or_default();
        let min = s.min.as_ref().map(|v| format!(" min {}", v.literal_text())).unwrap_or_default();
        let max = s.max.as_ref().map(|v| format!(" max {}", v.literal_text())).unwrap_or_default();
        let _ = writeln!(out, "  slot {i}: {kind} {}: {}{sensitive}{min}{max}{init}", s.name, s.ty.name());
    }
    let outcomes: Vec<String> =
        script.outcomes.iter().map(|o| if o.goal { format!("{} (goal)", o.name) } else { o.name.clone() }).collect();
    let _ = writeln!(out, "  outcomes: {}", outcomes.join(", "));
    let mut last_line = None;
    for (pc, instr) in script.code.iter().enumerate() {
        if let Some(flow) = script.flows.iter().find(|f| f.pc as usize == pc) {
            let _ = writeln!(out, "\n  flow {}:", flow.name);
        }
        if let Some(step) = script.steps.iter().find(|s| s.pc as usize == pc) {
            let _ = writeln!(out, "\n  step {}:", step.path());
        }
        let text = match *instr {
            Instruction::EnterStep(s) => {
                format!("enter      {}", script.steps.get(s as usize).map_or("?".into(), |s| s.path()))
            }
            Instruction::Say(p) => format!("say        {}", prompt_text(script, p)),
            Instruction::Ask(a) => {
                let Some(ask) = script.asks.get(a as usize) else { return };
                let mut s = format!(
                    "ask        a{a} {} timeout {}ms retries {}",
                    prompt_text(script, ask.prompt),
                    ask.timeout_ms,
                    ask.retries
                );
                if let Some(c) = ask.capture {
                    let name = script.slots.get(c.slot as usize).map_or("?", |s| s.name.as_str());
                    let _ = write!(s, " capture {name} ({})", capture_kind_text(c.kind));
                }
                for b in &ask.branches {
                    let _ = write!(s, "\n                   {}", branch_text(program, script, b));
                }
                s
            }
            Instruction::Retry(p) => match p {
                Some(p) => format!("retry      {}", prompt_text(script, p)),
                None => "retry".into(),
            },
            Instruction::Resume => "resume".into(),
            Instruction::Jump(t) => format!("jump       {t:04}"),
            Instruction::JumpUnless(e, t) => format!("jumpunless {} {t:04}", expr_text(script, e)),
            Instruction::Set(slot, e) => format!(
                "set        {} = {}",
                script.slots.get(slot as usize).map_or("?".into(), |s| s.name.clone()),
                expr_text(script, e)
            ),
            Instruction::Verify => "verify".into(),
            Instruction::Tag(t) => format!("tag        \"{}\"", script.texts.get(t as usize).map_or("?", |s| s)),
            Instruction::Callback(ms) => format!("callback   {ms}ms"),
            Instruction::Optout => "optout".into(),
            Instruction::Transfer(q, o) => format!(
                "transfer   \"{}\" outcome {}",
                script.texts.get(q as usize).map_or("?", |s| s),
                o.and_then(|o| script.outcomes.get(o as usize)).map_or("transferred", |o| &o.name)
            ),
            Instruction::Hangup(o) => {
                format!("hangup     {}", script.outcomes.get(o as usize).map_or("?", |o| &o.name))
            }
            Instruction::Call(f) => format!("call       {}", script.flows.get(f as usize).map_or("?", |f| &f.name)),
            Instruction::Return => "return".into(),
            Instruction::Listen(true) => "listen     (interrupted ask)".into(),
            Instruction::Listen(false) => "listen".into(),
            Instruction::CallbackAt(d, t) => {
                let mut s = "callback  ".to_string();
                if d != NO_EXPR {
                    let _ = write!(s, " on {}", expr_text(script, d));
                }
                if t != NO_EXPR {
                    let _ = write!(s, " at {}", expr_text(script, t));
                }
                s
            }
            Instruction::Do(d) => match script.dos.get(d as usize) {
                Some(d) => {
                    let name = script.actions.get(d.action as usize).map_or("?", |a| a.name.as_str());
                    let args: Vec<String> =
                        d.args.iter().map(|(k, e)| format!("{k} = {}", expr_text(script, *e))).collect();
                    format!(
                        "do         {name}({}) timeout {}ms ok {:04} failed {:04}",
                        args.join(", "),
                        d.timeout_ms,
                        d.ok,
                        d.failed
                    )
                }
                None => "do         ?".into(),
            },
            Instruction::Sms(p) => format!("sms        {}", prompt_text(script, p)),
            Instruction::Handover(h) => {
                let data: Vec<String> = script
                    .handovers
                    .get(h as usize)
                    .into_iter()
                    .flatten()
                    .map(|(k, e)| format!("{k}: {}", expr_text(script, *e)))
                    .collect();
                format!("handover   {{ {} }}", data.join(", "))
            }
        };
        let source = script.spans.get(pc).and_then(|span| {
            let src = sources.get(span.file.0 as usize)?;
            let line = src.line_col(span.span.start).line;
            if last_line == Some((span.file, line)) {
                return None;
            }
            last_line = Some((span.file, line));
            let start = src.line_start(line)?;
            let end = src.text[start..].find('\n').map_or(src.text.len(), |i| start + i);
            Some(format!("{}:{line}  {}", src.name, src.text[start..end].trim()))
        });
        let first_line = text.lines().next().unwrap_or("");
        let rest: Vec<&str> = text.lines().skip(1).collect();
        match source {
            Some(src) => {
                let _ = writeln!(out, "    {pc:04}  {first_line:<60} ; {src}");
            }
            None => {
                let _ = writeln!(out, "    {pc:04}  {first_line}");
            }
        }
        for line in rest {
            let _ = writeln!(out, "    {line}");
        }
    }
    if !script.handlers.is_empty() {
        let _ = writeln!(out, "\n  objection handlers:");
        for h in &script.handlers {
            let _ = writeln!(out, "    {}", branch_text(program, script, h));
        }
    }
    out.push('\n');
}
