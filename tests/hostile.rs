//! Hostile input to the debug binary (the build a newcomer runs with `cargo run`): huge
//! tokens, deep nesting, long chains, bad bytes, imports of devices and pipes. Each must end
//! with exit 1 or 2 and a clear message, never an abort, a panic or a hang.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

mod support;
use support::{callscript, scratch};

/// What the user sees: findings go to standard output, errors to standard error.
fn shown(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A small valid script with `body` as its opening step.
fn script(body: &str) -> String {
    format!(
        "script demo \"示例\" {{\n  purpose service\n  outcomes {{ done }}\n  let a: bool = true\n  let x: int = 0\n  opening {{\n    say \"您好，本次通话将被录音。\"\n{body}\n    hangup done\n  }}\n}}\n"
    )
}

fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the case");
    path.to_string_lossy().into_owned()
}

/// Runs the binary and checks it ended by itself (no signal) with one of the given codes.
fn run(args: &[&str], codes: &[i32]) -> Output {
    let start = Instant::now();
    let out = callscript(args);
    assert!(start.elapsed() < Duration::from_secs(60), "{args:?} took {:?}", start.elapsed());
    let code = out.status.code();
    assert!(code.is_some_and(|c| codes.contains(&c)), "{args:?} ended with {:?}:\n{}", out.status, shown(&out));
    assert!(!shown(&out).contains("panicked"), "{args:?} panicked:\n{}", shown(&out));
    out
}

#[test]
fn a_200_kb_chinese_comment_checks() {
    let tmp = scratch("hostile-comment");
    let dir = tmp.path();
    let file = write(dir, "zh.call", format!("// {}\n{}", "中文注释".repeat(17_000), script("")));
    assert!(std::fs::metadata(&file).expect("written").len() > 200_000);
    run(&["check", &file], &[0]);
    run(&["fmt", "--check", &file], &[0, 1]);
}

#[test]
fn a_10_mb_string_checks() {
    let tmp = scratch("hostile-string");
    let dir = tmp.path();
    let file = write(dir, "long.call", script(&format!("    say \"{}\"", "长".repeat(3_500_000))));
    // CS008 finds the prompt far too long to say; the point is that it ends.
    run(&["check", &file], &[0, 1]);
}

#[test]
fn deep_nesting_is_one_e008() {
    let tmp = scratch("hostile-nesting");
    let dir = tmp.path();
    let blocks = write(dir, "blocks.call", script(&format!("    {}{}", "if a {".repeat(5_000), "}".repeat(5_000))));
    let parens =
        write(dir, "parens.call", script(&format!("    set x = {}1{}", "(".repeat(100_000), ")".repeat(100_000))));
    let asks = write(dir, "asks.call", script(&"    ask \"好吗？\" { on _ => ".repeat(2_000)));
    for file in [&blocks, &parens, &asks] {
        let out = run(&["check", file], &[1]);
        assert_eq!(shown(&out).matches("[E008]").count(), 1, "{}", shown(&out));
        let out = run(&["fmt", "--check", file], &[1]);
        assert!(shown(&out).contains("[E008]"), "{}", shown(&out));
    }
}

#[test]
fn long_chains_stay_linear() {
    let tmp = scratch("hostile-chains");
    let dir = tmp.path();
    let sum = write(dir, "sum.call", script(&format!("    set x = 1{}", " + 1".repeat(1_000_000))));
    let elifs = write(
        dir,
        "elif.call",
        script(&format!("    if a {{ hangup done }}{}", " else if a { hangup done }".repeat(1_000_000))),
    );
    for file in [&sum, &elifs] {
        let out = run(&["check", "--format", "json", file], &[1]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("\"E008\""));
    }
}

#[test]
fn invalid_utf8_names_line_and_column() {
    let tmp = scratch("hostile-utf8");
    let dir = tmp.path();
    let mut bytes = script("").into_bytes();
    let at = bytes.iter().position(|&b| b == b'\n').expect("a newline") + 1;
    // Line 2 starts with "  purpose": the bad byte is its third character.
    bytes[at + 2] = 0xff;
    let file = write(dir, "bad.call", &bytes);
    let out = run(&["check", &file], &[2]);
    assert!(shown(&out).contains(&format!("{file}:2:3: the file is not valid UTF-8 (byte 0xff)")), "{}", shown(&out));
    let out = run(&["fmt", "--check", &file], &[2]);
    assert!(shown(&out).contains(&format!("{file}:2:3:")), "{}", shown(&out));
}

#[test]
fn imports_of_devices_and_pipes_are_refused_at_once() {
    let tmp = scratch("hostile-imports");
    let dir = tmp.path();
    let fifo = dir.join("pipe.call");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let zero = write(dir, "zero.call", format!("use \"/dev/zero\"\n{}", script("")));
    let pipe = write(dir, "pipe_user.call", format!("use \"./pipe.call\"\n{}", script("")));
    for file in [&zero, &pipe] {
        let out = run(&["check", file], &[1]);
        assert!(shown(&out).contains("[E106]") && shown(&out).contains("not a regular file"), "{}", shown(&out));
    }
    // Named directly, a pipe is refused too.
    let out = run(&["check", &fifo.to_string_lossy()], &[2]);
    assert!(shown(&out).contains("not a regular file"), "{}", shown(&out));
}

#[test]
fn a_5_mb_line_is_not_echoed_whole() {
    let tmp = scratch("hostile-longline");
    let dir = tmp.path();
    let file = write(dir, "line.call", script(&format!("    say \"{}\" $ {}", "长".repeat(10), "x".repeat(5_000_000))));
    let out = run(&["check", &file], &[1]);
    assert!(out.stdout.len() + out.stderr.len() < 20_000, "{} bytes printed", out.stdout.len() + out.stderr.len());
    assert!(shown(&out).contains("[E003]"), "{}", shown(&out));
}

#[test]
fn a_full_standard_output_is_an_error() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("Linux has /dev/full");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callscript"))
        .args(["check", "examples"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(full)
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write the findings"));
}
