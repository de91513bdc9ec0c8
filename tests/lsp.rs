//! `callscript lsp` driven like an editor drives it: the built binary, JSON-RPC with
//! Content-Length framing over its standard input and output. Every wait is bounded, so a
//! broken server fails a test instead of hanging it.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

struct Lsp {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    /// Notifications received while waiting for something else.
    pending: Vec<Value>,
    next_id: i64,
}

/// The built server, its standard input and output piped.
fn spawn_server(stderr: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_callscript"))
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("the server starts")
}

impl Lsp {
    fn start() -> Lsp {
        let mut child = spawn_server(Stdio::null());
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length: ") {
                        length = n.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("a Content-Length header")];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let value: Value = serde_json::from_slice(&body).expect("the body is JSON");
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        let mut lsp = Lsp { child, stdin, messages, pending: Vec::new(), next_id: 1 };
        let init = lsp.request("initialize", json!({ "processId": null, "rootUri": null, "capabilities": {} }));
        assert_eq!(init["capabilities"]["renameProvider"]["prepareProvider"], true, "{init}");
        lsp.notify("initialized", json!({}));
        lsp
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write to the server");
        self.stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    fn next(&mut self, deadline: Instant) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        self.messages.recv_timeout(left).expect("the server answers in time")
    }

    /// Sends a request and waits for its response; returns `result` (or the whole response
    /// when it is an error).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        let message = self.response(id, WAIT);
        if message.get("error").is_some() { message } else { message["result"].clone() }
    }

    /// Sends a request without waiting for its response; returns its id.
    fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        id
    }

    /// The whole response to request `id`, waited for at most `wait`.
    fn response(&mut self, id: i64, wait: Duration) -> Value {
        let is_it = |m: &Value| m["id"] == id && m.get("method").is_none();
        // Answers may come in any order: one that came while waiting for another is kept.
        if let Some(i) = self.pending.iter().position(is_it) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + wait;
        loop {
            let message = self.next(deadline);
            if is_it(&message) {
                return message;
            }
            self.pending.push(message);
        }
    }

    /// The next `publishDiagnostics` for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let is_it = |m: &Value| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri;
        if let Some(i) = self.pending.iter().position(is_it) {
            let m = self.pending.remove(i);
            return m["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let message = self.next(deadline);
            if is_it(&message) {
                return message["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
            }
            self.pending.push(message);
        }
    }

    fn open(&mut self, uri: &str, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "callscript", "version": 1, "text": text } }),
        );
        self.diagnostics(uri)
    }

    fn at(&mut self, method: &str, uri: &str, line: u32, character: u32, extra: Value) -> Value {
        let mut params =
            json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } });
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        self.request(method, params)
    }

    fn stop(mut self) {
        let result = self.request("shutdown", Value::Null);
        assert!(result.is_null(), "{result}");
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "{status}");
                return;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const URI: &str = "file:///tmp/callscript-lsp-test/loan.call";

/// Line 8 holds Chinese text before the error, so its columns count UTF-16 units.
const SCRIPT: &str = r#"use std.zh.common

script loan "提醒" {
  purpose service
  input { amount: money, name: text }
  outcomes { done goal, refused }
  opening {
    say "您好,本次通话将被录音。{{amount | money}}"; goto nowhere
    ask "请问是{{name}}本人吗?" {
      on yes => goto core.pay
      on no => hangup refused
      on _ => goto pay
    }
  }
  core {
    step pay { hangup done }
  }
}
"#;

fn line_col(text: &str, needle: &str) -> (u32, u32) {
    let at = text.find(needle).expect("needle");
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..line_start].matches('\n').count() as u32;
    let character = text[line_start..at].encode_utf16().count() as u32;
    (line, character)
}

#[test]
fn diagnostics_on_open_and_change() {
    let mut lsp = Lsp::start();
    let diags = lsp.open(URI, SCRIPT);
    let e100 = diags.iter().find(|d| d["code"] == "E100").unwrap_or_else(|| panic!("no E100 in {diags:?}"));
    let (line, character) = line_col(SCRIPT, "nowhere");
    assert_eq!(e100["range"]["start"], json!({ "line": line, "character": character }), "{e100}");
    assert_eq!(e100["range"]["end"]["character"], character + 7);
    assert_eq!(e100["severity"], 1);
    // Fix it: the diagnostics are published again, now without the error.
    let fixed = SCRIPT.replace("goto nowhere", "goto pay");
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 2 }, "contentChanges": [{ "text": fixed }] }),
    );
    let diags = lsp.diagnostics(URI);
    assert!(diags.iter().all(|d| d["code"] != "E100"), "{diags:?}");
    // An incremental change: break it again by typing after `goto `.
    let (line, character) = line_col(&fixed, "pay\n    ask");
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 3 }, "contentChanges": [{
            "range": { "start": { "line": line, "character": character }, "end": { "line": line, "character": character + 3 } },
            "text": "nowhere2"
        }] }),
    );
    let diags = lsp.diagnostics(URI);
    assert!(
        diags.iter().any(|d| d["code"] == "E100" && d["message"].as_str().unwrap().contains("nowhere2")),
        "{diags:?}"
    );
    lsp.stop();
}

#[test]
fn related_information_points_at_the_first_definition() {
    let mut lsp = Lsp::start();
    let text = SCRIPT.replace("step pay { hangup done }", "step pay { hangup done }\n    step pay { hangup done }");
    let diags = lsp.open(URI, &text);
    let e104 = diags.iter().find(|d| d["code"] == "E104").unwrap_or_else(|| panic!("no E104 in {diags:?}"));
    let related = &e104["relatedInformation"][0];
    assert_eq!(related["location"]["uri"], URI);
    assert_eq!(related["location"]["range"]["start"]["line"], line_col(&text, "pay {").0, "{e104}");
    lsp.stop();
}

#[test]
fn hover_definition_references_and_rename() {
    let mut lsp = Lsp::start();
    lsp.open(URI, SCRIPT);
    // Hover: an input's type, an intent's phrases, a filter's output, an outcome's kind.
    let (line, character) = line_col(SCRIPT, "name}}");
    let hover = lsp.at("textDocument/hover", URI, line, character + 1, json!({}));
    assert!(hover["contents"]["value"].as_str().unwrap().contains("input name: text"), "{hover}");
    let (line, character) = line_col(SCRIPT, "yes =>");
    let hover = lsp.at("textDocument/hover", URI, line, character, json!({}));
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(value.contains("phrases") && value.contains("std.zh.common"), "{hover}");
    let (line, character) = line_col(SCRIPT, "money}}");
    let hover = lsp.at("textDocument/hover", URI, line, character, json!({}));
    assert!(hover["contents"]["value"].as_str().unwrap().contains("1200.50` → 一千二百元五角"), "{hover}");
    let (line, character) = line_col(SCRIPT, "done }");
    let hover = lsp.at("textDocument/hover", URI, line, character, json!({}));
    assert!(hover["contents"]["value"].as_str().unwrap().contains("goal"), "{hover}");

    // Definition of `goto core.pay` is the step.
    let (line, character) = line_col(SCRIPT, "pay\n      on no");
    let def = lsp.at("textDocument/definition", URI, line, character, json!({}));
    assert_eq!(def["uri"], URI);
    assert_eq!(def["range"]["start"]["line"], line_col(SCRIPT, "pay {").0, "{def}");
    // Definition of an imported intent is in the stdlib: no file to show.
    let (line, character) = line_col(SCRIPT, "yes =>");
    assert!(lsp.at("textDocument/definition", URI, line, character, json!({})).is_null());

    // References: the step and both gotos.
    let refs = lsp.at(
        "textDocument/references",
        URI,
        line_col(SCRIPT, "pay {").0,
        9,
        json!({ "context": { "includeDeclaration": true } }),
    );
    assert_eq!(refs.as_array().map(Vec::len), Some(3), "{refs}");

    // Rename the step: three edits in this file.
    let (line, character) = line_col(SCRIPT, "pay {");
    let prepare = lsp.at("textDocument/prepareRename", URI, line, character, json!({}));
    assert_eq!(prepare["start"]["line"], line, "{prepare}");
    let edit = lsp.at("textDocument/rename", URI, line, character, json!({ "newName": "collect" }));
    let edits = edit["changes"][URI].as_array().unwrap_or_else(|| panic!("{edit}"));
    assert_eq!(edits.len(), 3);
    assert!(edits.iter().all(|e| e["newText"] == "collect"));
    // A reserved word is refused with an error.
    let refused = lsp.at("textDocument/rename", URI, line, character, json!({ "newName": "goto" }));
    assert!(refused["error"]["message"].as_str().unwrap().contains("reserved"), "{refused}");
    lsp.stop();
}

#[test]
fn completion_formatting_and_symbols() {
    let mut lsp = Lsp::start();
    let text = SCRIPT.replace("on _ => goto pay", "on _ => goto ");
    lsp.open(URI, &text);
    let (line, character) = line_col(&text, "goto \n");
    let items = lsp.at("textDocument/completion", URI, line, character + 5, json!({}));
    let labels: Vec<&str> = items.as_array().expect("a list").iter().filter_map(|i| i["label"].as_str()).collect();
    assert!(labels.contains(&"pay") && labels.contains(&"core.pay") && labels.contains(&"core"), "{labels:?}");
    assert!(!labels.contains(&"say"), "only targets after goto: {labels:?}");
    let (line, character) = line_col(&text, "| money");
    let items = lsp.at("textDocument/completion", URI, line, character + 2, json!({}));
    let labels: Vec<&str> = items.as_array().expect("a list").iter().filter_map(|i| i["label"].as_str()).collect();
    assert_eq!(labels, ["money", "digits", "number", "date", "mask"]);

    // Formatting a clean document: one edit with the canonical text.
    let messy = "script s{purpose service\nopening{say \"您好\";hangup done}   // 注释\n}\n";
    let uri2 = "file:///tmp/callscript-lsp-test/messy.call";
    lsp.open(uri2, messy);
    let edits = lsp.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri2 }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(
        edits[0]["newText"], "script s {\n  purpose service\n  opening { say \"您好\"; hangup done } // 注释\n}\n",
        "{edits}"
    );

    let symbols = lsp.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": URI } }));
    let script = &symbols[0];
    assert_eq!(script["name"], "loan");
    let sections: Vec<&str> =
        script["children"].as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(sections, ["opening", "core"]);
    assert_eq!(script["children"][1]["children"][0]["name"], "pay");
    lsp.stop();
}

#[test]
fn open_documents_are_imported_before_the_disk() {
    let mut lsp = Lsp::start();
    let shared = "file:///tmp/callscript-lsp-test/none/shared.call";
    let main = "file:///tmp/callscript-lsp-test/none/main.call";
    assert!(lsp.open(shared, "intent pay \"付款\" { phrases \"还了\" }\n").is_empty());
    let text =
        SCRIPT.replace("use std.zh.common", "use std.zh.common\nuse \"./shared.call\"").replace("on yes", "on pay");
    let diags = lsp.open(main, &text);
    assert!(diags.iter().all(|d| d["code"] != "E106" && d["code"] != "E101"), "{diags:?}");
    let (line, character) = line_col(&text, "pay =>");
    let def = lsp.at("textDocument/definition", main, line, character, json!({}));
    assert_eq!(def["uri"], shared, "{def}");
    // The import itself leads to the imported file.
    let (line, character) = line_col(&text, "./shared.call");
    let def = lsp.at("textDocument/definition", main, line, character + 2, json!({}));
    assert_eq!(def["uri"], shared, "{def}");
    // Renaming the intent changes both files.
    let (line, character) = line_col(&text, "pay =>");
    let edit = lsp.at("textDocument/rename", main, line, character, json!({ "newName": "repay" }));
    assert_eq!(edit["changes"][shared].as_array().map(Vec::len), Some(1), "{edit}");
    assert_eq!(edit["changes"][main].as_array().map(Vec::len), Some(1), "{edit}");
    lsp.stop();
}

/// Flows and a handler set (LANGUAGE.md §12), in the file and imported from another.
const FLOWS_FAQ: &str = r#"use std.zh.common

outcomes { booked goal }

flow book_or_give_up "预约或放弃" (reason: text) {
  say "因为{{reason}},我们需要和您约个时间。"
  hangup booked
}

handlers common_faq {
  on who limit 3 => { say "我们是星海银行信用卡中心。"; listen }
  on repeat => resume
}
"#;

const FLOWS_MAIN: &str = r#"use std.zh.common
use "./faq.call"

flow confirm_time "确认时间" (slot: time) {
  say "好的,{{slot}}再联系您。"
}

script reminder "提醒" {
  purpose service
  outcomes { done, refused }
  opening {
    say "您好,这里是星海银行,本次通话将被录音。"
    ask "请问您现在方便吗?" {
      on yes => { call confirm_time(15:30); hangup done }
      on busy => call book_or_give_up("您现在不方便")
      on _ => hangup refused
    }
  }
  objection {
    on emotion angry, complaint => transfer "senior"
    include common_faq
  }
}
"#;

#[test]
fn flows_and_handler_sets_across_files() {
    let mut lsp = Lsp::start();
    let faq = "file:///tmp/callscript-lsp-test/flows/faq.call";
    let main = "file:///tmp/callscript-lsp-test/flows/main.call";
    assert!(lsp.open(faq, FLOWS_FAQ).iter().all(|d| d["severity"] != 1), "the imported file is clean");
    let diags = lsp.open(main, FLOWS_MAIN);
    assert!(diags.iter().all(|d| d["severity"] != 1), "{diags:?}");

    // Hover on `call NAME` (imported) and on `include NAME`.
    let (line, character) = line_col(FLOWS_MAIN, "book_or_give_up(");
    let hover = lsp.at("textDocument/hover", main, line, character + 1, json!({}));
    let call_hover = hover["contents"]["value"].as_str().unwrap_or_else(|| panic!("{hover}")).to_string();
    let (line, character) = line_col(FLOWS_MAIN, "common_faq");
    let hover = lsp.at("textDocument/hover", main, line, character + 1, json!({}));
    let include_hover = hover["contents"]["value"].as_str().unwrap_or_else(|| panic!("{hover}")).to_string();
    insta::assert_snapshot!(format!(
        "## call book_or_give_up\n{call_hover}\n\n## include common_faq\n{include_hover}\n"
    ));

    // Definitions in the other file, and in this one.
    let (line, character) = line_col(FLOWS_MAIN, "book_or_give_up(");
    let def = lsp.at("textDocument/definition", main, line, character + 1, json!({}));
    assert_eq!(def["uri"], faq, "{def}");
    assert_eq!(def["range"]["start"]["line"], line_col(FLOWS_FAQ, "flow book_or_give_up").0, "{def}");
    let (line, character) = line_col(FLOWS_MAIN, "common_faq");
    let def = lsp.at("textDocument/definition", main, line, character + 1, json!({}));
    assert_eq!(def["uri"], faq, "{def}");
    assert_eq!(def["range"]["start"]["line"], line_col(FLOWS_FAQ, "handlers common_faq").0, "{def}");
    let (line, character) = line_col(FLOWS_MAIN, "confirm_time(15:30)");
    let def = lsp.at("textDocument/definition", main, line, character + 1, json!({}));
    assert_eq!(def["uri"], main, "{def}");
    assert_eq!(def["range"]["start"]["line"], line_col(FLOWS_MAIN, "flow confirm_time").0, "{def}");
    // A parameter used in its flow.
    let (line, character) = line_col(FLOWS_MAIN, "slot}}");
    let def = lsp.at("textDocument/definition", main, line, character + 1, json!({}));
    let (line, character) = line_col(FLOWS_MAIN, "slot: time");
    assert_eq!(def["range"]["start"], json!({ "line": line, "character": character }), "{def}");

    // References to a flow: its definition and its call.
    let (line, character) = line_col(FLOWS_MAIN, "confirm_time \"");
    let refs = lsp.at(
        "textDocument/references",
        main,
        line,
        character + 1,
        json!({ "context": { "includeDeclaration": true } }),
    );
    assert_eq!(refs.as_array().map(Vec::len), Some(2), "{refs}");

    // Renaming an imported flow changes its definition and the call.
    let (line, character) = line_col(FLOWS_MAIN, "book_or_give_up(");
    let edit = lsp.at("textDocument/rename", main, line, character + 1, json!({ "newName": "book_later" }));
    assert_eq!(edit["changes"][faq].as_array().map(Vec::len), Some(1), "{edit}");
    assert_eq!(edit["changes"][main].as_array().map(Vec::len), Some(1), "{edit}");

    // Completion: the visible flows after `call `, the sets after `include `.
    let text = FLOWS_MAIN.replace("on _ => hangup refused", "on _ => call ");
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main, "version": 2 }, "contentChanges": [{ "text": text }] }),
    );
    lsp.diagnostics(main);
    let (line, character) = line_col(&text, "call \n");
    let items = lsp.at("textDocument/completion", main, line, character + 5, json!({}));
    let found: Vec<(&str, &str)> = items
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| (i["label"].as_str().unwrap_or(""), i["detail"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        found,
        [
            ("book_or_give_up", "flow (reason: text) 预约或放弃, from /tmp/callscript-lsp-test/flows/faq.call"),
            ("confirm_time", "flow (slot: time) 确认时间")
        ],
        "{items}"
    );
    let text = FLOWS_MAIN.replace("    include common_faq", "    include ");
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main, "version": 3 }, "contentChanges": [{ "text": text }] }),
    );
    lsp.diagnostics(main);
    let (line, character) = line_col(&text, "include \n");
    let items = lsp.at("textDocument/completion", main, line, character + 8, json!({}));
    let labels: Vec<&str> = items.as_array().expect("a list").iter().filter_map(|i| i["label"].as_str()).collect();
    assert_eq!(labels, ["common_faq"], "{items}");

    // The outline lists the flow and the set.
    let symbols = lsp.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": faq } }));
    let names: Vec<(&str, u64)> = symbols
        .as_array()
        .expect("symbols")
        .iter()
        .map(|s| (s["name"].as_str().unwrap_or(""), s["kind"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(names, [("book_or_give_up", 12), ("common_faq", 23)], "{symbols}");
    lsp.stop();
}

/// An action (LANGUAGE.md §13) declared in another file, called, read and mocked here.
const ACTIONS_LOOKUP: &str = r#"action balance_lookup "查询欠款" {
  input { account_tail: text }
  output { balance: money, due: date }
}
"#;

const ACTIONS_MAIN: &str = r#"use std.zh.common
use "./lookup.call"

action send_link "发送还款链接" {
  input { phone_tail: text }
  output { link: text }
}

script remind "提醒" {
  purpose service
  input { account_tail: text }
  outcomes { done, refused }
  let due: date = today
  opening {
    say "您好,这里是星海银行,本次通话将被录音。"
    do balance_lookup(account_tail = account_tail) {
      on ok => {
        set due = balance_lookup.due
        do send_link(phone_tail = account_tail) {
          on ok => { sms "还款链接:{{send_link.link}}"; hangup done }
          on failed => hangup done
        }
      }
      on failed => hangup refused
    }
  }
}

test "looked up" for remind {
  input { account_tail: "8831" }
  mock balance_lookup ok { balance: 3500.00, due: 2026-12-01 }
  mock send_link failed
  expect hangup done
}
"#;

#[test]
fn actions_across_files() {
    let mut lsp = Lsp::start();
    let lookup = "file:///tmp/callscript-lsp-test/actions/lookup.call";
    let main = "file:///tmp/callscript-lsp-test/actions/main.call";
    assert!(lsp.open(lookup, ACTIONS_LOOKUP).iter().all(|d| d["severity"] != 1), "the imported file is clean");
    let diags = lsp.open(main, ACTIONS_MAIN);
    assert!(diags.iter().all(|d| d["severity"] != 1), "{diags:?}");

    // Hovers: the action of a `do`, an output read, an input given.
    let hover = |lsp: &mut Lsp, needle: &str, after: u32| {
        let (line, character) = line_col(ACTIONS_MAIN, needle);
        let hover = lsp.at("textDocument/hover", main, line, character + after, json!({}));
        hover["contents"]["value"].as_str().unwrap_or_else(|| panic!("{needle}: {hover}")).to_string()
    };
    let action = hover(&mut lsp, "balance_lookup(account_tail", 1);
    let output = hover(&mut lsp, "due\n", 1);
    let input = hover(&mut lsp, "account_tail = account_tail", 1);
    insta::assert_snapshot!(format!(
        "## do balance_lookup\n{action}\n\n## balance_lookup.due\n{output}\n\n## do balance_lookup(account_tail = …)\n{input}\n"
    ));

    // Definitions in the other file (the action, an output, an input) and in this one.
    for (needle, after, want) in [
        ("balance_lookup(account_tail", 1, "action balance_lookup"),
        ("balance_lookup.due", 1, "action balance_lookup"),
        ("balance_lookup ok", 1, "action balance_lookup"),
        ("due\n", 1, "due: date"),
        ("account_tail = account_tail", 1, "account_tail: text"),
    ] {
        let (line, character) = line_col(ACTIONS_MAIN, needle);
        let def = lsp.at("textDocument/definition", main, line, character + after, json!({}));
        assert_eq!(def["uri"], lookup, "{needle}: {def}");
        assert_eq!(def["range"]["start"]["line"], line_col(ACTIONS_LOOKUP, want).0, "{needle}: {def}");
    }
    let (line, character) = line_col(ACTIONS_MAIN, "send_link.link");
    let def = lsp.at("textDocument/definition", main, line, character + 1, json!({}));
    assert_eq!(def["uri"], main, "{def}");
    assert_eq!(def["range"]["start"], json!({ "line": 3, "character": 7 }), "{def}");

    // References to an action: its definition, the `do`, the read and the mock.
    let (line, character) = line_col(ACTIONS_MAIN, "send_link \"");
    let refs = lsp.at(
        "textDocument/references",
        main,
        line,
        character + 1,
        json!({ "context": { "includeDeclaration": true } }),
    );
    let lines: Vec<u64> =
        refs.as_array().expect("a list").iter().filter_map(|r| r["range"]["start"]["line"].as_u64()).collect();
    let want: Vec<u64> = ["send_link \"", "send_link(", "send_link.link", "send_link failed"]
        .iter()
        .map(|n| u64::from(line_col(ACTIONS_MAIN, n).0))
        .collect();
    assert_eq!(lines, want, "{refs}");

    // Renaming the imported action changes its definition, the `do`, the read and the mock.
    let (line, character) = line_col(ACTIONS_MAIN, "balance_lookup.due");
    let edit = lsp.at("textDocument/rename", main, line, character + 1, json!({ "newName": "lookup_balance" }));
    assert_eq!(edit["changes"][lookup].as_array().map(Vec::len), Some(1), "{edit}");
    assert_eq!(edit["changes"][main].as_array().map(Vec::len), Some(3), "{edit}");

    // Completion: the actions after `do `, the outputs after `NAME.`.
    let text = ACTIONS_MAIN
        .replace("        set due = balance_lookup.due\n", "        set due = balance_lookup.\n        do \n");
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main, "version": 2 }, "contentChanges": [{ "text": text }] }),
    );
    lsp.diagnostics(main);
    let items = |lsp: &mut Lsp, needle: &str, after: u32| -> Vec<(String, String, u64)> {
        let (line, character) = line_col(&text, needle);
        let items = lsp.at("textDocument/completion", main, line, character + after, json!({}));
        items
            .as_array()
            .expect("a list")
            .iter()
            .map(|i| {
                let text = |k: &str| i[k].as_str().unwrap_or("").to_string();
                (text("label"), text("detail"), i["kind"].as_u64().unwrap_or(0))
            })
            .collect()
    };
    let path = "/tmp/callscript-lsp-test/actions/lookup.call";
    assert_eq!(
        items(&mut lsp, "do \n", 3),
        [
            (
                "balance_lookup".to_string(),
                format!("action (account_tail: text) → balance: money, due: date 查询欠款, from {path}"),
                8
            ),
            ("send_link".to_string(), "action (phone_tail: text) → link: text 发送还款链接".to_string(), 8),
        ]
    );
    assert_eq!(
        items(&mut lsp, "balance_lookup.\n", 15),
        [
            ("balance".to_string(), "output: money, after `on ok`".to_string(), 5),
            ("due".to_string(), "output: date, after `on ok`".to_string(), 5),
        ]
    );

    // The outline lists the action.
    let symbols = lsp.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": lookup } }));
    let names: Vec<(&str, u64, &str)> = symbols
        .as_array()
        .expect("symbols")
        .iter()
        .map(|s| {
            (s["name"].as_str().unwrap_or(""), s["kind"].as_u64().unwrap_or(0), s["detail"].as_str().unwrap_or(""))
        })
        .collect();
    assert_eq!(
        names,
        [("balance_lookup", 11, "(account_tail: text) → balance: money, due: date 查询欠款")],
        "{symbols}"
    );
    lsp.stop();
}

/// A script that captures values (LANGUAGE.md §11), and a test of it.
const CAPTURE_SCRIPT: &str = r#"use std.zh.common

script promise "承诺还款" {
  purpose collection
  outcomes { promised goal, refused }
  digit_timeout 4s
  let pay_date: date = today
  let score: int min 1 max 5 = 0

  opening {
    say "您好,本次通话将被录音。"
    ask "请问您大概哪天能还款?" capture pay_date retries 1 {
      on captured if pay_date <= today + 7 => hangup promised
      on captured => retry "最晚能在一周内还款吗?"
      on _, exhausted => hangup refused
    }
  }
  objection {
    on optout => { optout; hangup refused }
    on emotion angry, complaint => transfer "senior"
  }
}

test "a date" for promise {
  today 2026-11-24
  reply "明天"
  expect value pay_date = 2026-11-25
}
"#;

#[test]
fn captured_values_hover_definition_and_completion() {
    let mut lsp = Lsp::start();
    let uri = "file:///tmp/callscript-lsp-test/promise.call";
    let diags = lsp.open(uri, CAPTURE_SCRIPT);
    assert!(diags.iter().all(|d| d["severity"] != 1), "{diags:?}");
    let let_line = line_col(CAPTURE_SCRIPT, "pay_date: date").0;
    // The name after `capture` and after `expect value` is the let.
    for needle in ["pay_date retries", "pay_date = 2026"] {
        let (line, character) = line_col(CAPTURE_SCRIPT, needle);
        let def = lsp.at("textDocument/definition", uri, line, character + 1, json!({}));
        assert_eq!(def["range"]["start"], json!({ "line": let_line, "character": 6 }), "{needle}: {def}");
    }
    let (line, character) = line_col(CAPTURE_SCRIPT, "pay_date retries");
    let refs =
        lsp.at("textDocument/references", uri, line, character, json!({ "context": { "includeDeclaration": true } }));
    let lines: Vec<Value> =
        refs.as_array().expect("a list").iter().map(|r| r["range"]["start"]["line"].clone()).collect();
    let expected: Vec<Value> = ["pay_date: date", "pay_date retries", "pay_date <=", "pay_date = 2026"]
        .iter()
        .map(|n| json!(line_col(CAPTURE_SCRIPT, n).0))
        .collect();
    assert_eq!(lines, expected, "{refs}");

    // Hover: a built-in, a bounded let, what `captured` matches.
    let hover = |lsp: &mut Lsp, needle: &str| {
        let (line, character) = line_col(CAPTURE_SCRIPT, needle);
        let hover = lsp.at("textDocument/hover", uri, line, character + 1, json!({}));
        hover["contents"]["value"].as_str().unwrap_or_else(|| panic!("{needle}: {hover}")).to_string()
    };
    let today = hover(&mut lsp, "today + 7");
    assert!(today.contains("today: date") && today.contains("the customer's local date"), "{today}");
    let score = hover(&mut lsp, "score: int");
    assert!(score.contains("let score: int min 1 max 5 = 0"), "{score}");
    let captured = hover(&mut lsp, "captured if");
    assert!(captured.contains("a date relative to `today`") && captured.contains("`capture pay_date`"), "{captured}");

    // Completion: the ask's options after its question, `captured` after `on`.
    let labels = |lsp: &mut Lsp, needle: &str, after: usize| -> Vec<String> {
        let (line, character) = line_col(CAPTURE_SCRIPT, needle);
        let items = lsp.at("textDocument/completion", uri, line, character + after as u32, json!({}));
        items.as_array().expect("a list").iter().filter_map(|i| i["label"].as_str().map(String::from)).collect()
    };
    let options = labels(&mut lsp, "capture pay_date", 0);
    assert_eq!(options, ["capture", "timeout", "retries", "bargein off"]);
    let patterns = labels(&mut lsp, "_, exhausted", 0);
    assert!(patterns.contains(&"captured".to_string()) && patterns.contains(&"yes".to_string()), "{patterns:?}");
    lsp.stop();
}

/// The inputs that once crashed or hung the front end (`tests/regressions/`: blocks, asks,
/// parentheses and interpolations nested to the limit, a 200 KB line, controls) neither
/// crash nor stall the server: each is checked, and requests about it are answered.
#[test]
fn regression_inputs_are_checked_and_answered() {
    let mut lsp = Lsp::start();
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut paths: Vec<_> =
        std::fs::read_dir(&folder).expect("tests/regressions").flatten().map(|e| e.path()).collect();
    paths.sort();
    assert!(paths.len() >= 5, "{paths:?}");
    for path in paths {
        let text = String::from_utf8_lossy(&std::fs::read(&path).expect("a regression input")).into_owned();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("case.call");
        let uri = format!("file:///tmp/callscript-lsp-test/regressions/{name}");
        lsp.open(&uri, &text);
        // The middle of the middle line: deep inside the nesting of the deep ones.
        let lines: Vec<&str> = text.lines().collect();
        let line = lines.len() / 2;
        let character = lines.get(line).map_or(0, |l| l.encode_utf16().count() / 2);
        for method in ["textDocument/hover", "textDocument/completion", "textDocument/definition"] {
            let answer = lsp.at(method, &uri, line as u32, character as u32, json!({}));
            assert!(answer.get("error").is_none(), "{name}: {method}: {answer}");
        }
        let symbols = lsp.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri } }));
        assert!(symbols.get("error").is_none(), "{name}: {symbols}");
        lsp.notify("textDocument/didClose", json!({ "textDocument": { "uri": uri } }));
    }
    lsp.stop();
}

#[test]
fn compliance_findings_carry_their_witness_path() {
    let mut lsp = Lsp::start();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/err/CS002_handler_from_unverified_ask.call"),
    )
    .expect("fixture");
    let uri = "file:///tmp/callscript-lsp-test/cs002.call";
    let diags = lsp.open(uri, &text);
    let cs002 = diags.iter().find(|d| d["code"] == "CS002").unwrap_or_else(|| panic!("no CS002 in {diags:?}"));
    assert_eq!(cs002["severity"], 1);
    let path = cs002["relatedInformation"].as_array().unwrap_or_else(|| panic!("no witness path: {cs002}"));
    assert!(path.len() >= 2, "{cs002}");
    assert!(path.iter().all(|r| r["location"]["uri"] == uri), "{cs002}");
    lsp.stop();
}

// ---- cancelled requests, and requests on a huge document ------------------------------

#[path = "../compiler/benches/support/generate.rs"]
mod support;

const HUGE_URI: &str = "file:///tmp/callscript-lsp-test/huge.call";

/// The server's budget per request (`REQUEST_BUDGET` in src/lsp.rs), as its messages say it.
const BUDGET_WORDS: &str = "budget of 2 s";

impl Lsp {
    /// Opens a script of 20,000 steps (about 7 MB) without waiting for its diagnostics:
    /// checking it takes seconds in a debug build and a fraction of one in release, so a
    /// request sent now waits for that check. Returns the text.
    fn open_huge(&mut self) -> String {
        let text = support::generate(20_000);
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": HUGE_URI, "languageId": "callscript", "version": 1, "text": text } }),
        );
        text
    }

    /// Sends the request again while the answer is RequestFailed for its budget (every try is
    /// answered: the document's check and name index, once done, are kept for the next one).
    fn request_until_done(&mut self, method: &str, params: Value) -> Value {
        for _ in 0..20 {
            let answer = self.request(method, params.clone());
            if answer.get("error").is_none() {
                return answer;
            }
            assert_eq!(answer["error"]["code"], -32803, "{method}: {answer}");
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("{method} never finished within its budget");
    }
}

/// A request the client cancels (`$/cancelRequest`) is answered with RequestCancelled
/// (-32800), or with its result if it finished first: here it is sent while the huge document
/// is still being checked, and the cancel right after it. The cancel ends the request, not the
/// document: its check goes on, its diagnostics are published, and the next request is
/// answered from it.
#[test]
fn a_cancelled_request_is_answered_with_request_cancelled() {
    let mut lsp = Lsp::start();
    let text = lsp.open_huge();
    let (line, character) = line_col(&text, "s19999\n");
    let params =
        json!({ "textDocument": { "uri": HUGE_URI }, "position": { "line": line, "character": character + 1 } });
    let id = lsp.send_request("textDocument/definition", params.clone());
    lsp.notify("$/cancelRequest", json!({ "id": id }));
    let answer = lsp.response(id, WAIT);
    match answer.get("error") {
        Some(error) => assert_eq!(error["code"], -32800, "{answer}"),
        None => assert_eq!(answer["result"]["uri"], HUGE_URI, "finished before the cancel: {answer}"),
    }
    eprintln!("the cancelled request's answer: {}", answer.get("error").unwrap_or(&answer["result"]));
    let diags = lsp.diagnostics(HUGE_URI);
    assert!(diags.iter().all(|d| d["severity"] != 1), "{diags:?}");
    let def = lsp.request_until_done("textDocument/definition", params);
    assert_eq!(def["range"]["start"]["line"], line_col(&text, "step s19999 {").0, "{def}");
    // Cancelling a request that was answered already changes nothing.
    lsp.notify("$/cancelRequest", json!({ "id": id }));
    let symbols = lsp.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": URI } }));
    assert!(symbols.is_null(), "not open: {symbols}");
    lsp.stop();
}

/// Every request about a huge document is answered: with its result, or once its budget (2 s,
/// `REQUEST_BUDGET`) is spent, with RequestFailed (-32803) and a message saying so, never
/// left waiting. The requests are sent together while the document is still being checked.
/// Timings are not asserted (these machines are noisy): only that each answer comes, well
/// before the test's patience (`WAIT`) runs out. Then the document is still there.
#[test]
fn requests_on_a_huge_document_are_answered_within_their_budget() {
    let mut lsp = Lsp::start();
    let text = lsp.open_huge();
    let (line, character) = line_col(&text, "s19999\n");
    let doc = json!({ "uri": HUGE_URI });
    let position = json!({ "line": line, "character": character + 1 });
    let requests = [
        ("textDocument/definition", json!({ "textDocument": doc, "position": position })),
        ("textDocument/hover", json!({ "textDocument": doc, "position": position })),
        ("textDocument/completion", json!({ "textDocument": doc, "position": position })),
        (
            "textDocument/references",
            json!({ "textDocument": doc, "position": position, "context": { "includeDeclaration": true } }),
        ),
        ("textDocument/documentSymbol", json!({ "textDocument": doc })),
        ("textDocument/formatting", json!({ "textDocument": doc, "options": { "tabSize": 2, "insertSpaces": true } })),
    ];
    let started = Instant::now();
    let ids: Vec<i64> = requests.iter().map(|(method, params)| lsp.send_request(method, params.clone())).collect();
    for (id, (method, _)) in ids.into_iter().zip(&requests) {
        let answer = lsp.response(id, WAIT);
        match answer.get("error") {
            Some(error) => {
                assert_eq!(error["code"], -32803, "{method}: {answer}");
                let message = error["message"].as_str().unwrap_or_default();
                assert!(message.starts_with(method) && message.contains(BUDGET_WORDS), "{method}: {message}");
                eprintln!("{method}: {message}");
            }
            None => eprintln!("{method}: answered with its result"),
        }
    }
    eprintln!("6 requests on {} MB answered in {:?}", text.len() >> 20, started.elapsed());
    // The document was kept, and its check too: asked again, the definition is found.
    assert!(lsp.diagnostics(HUGE_URI).iter().all(|d| d["severity"] != 1));
    let def = lsp.request_until_done("textDocument/definition", json!({ "textDocument": doc, "position": position }));
    assert_eq!(def["range"]["start"]["line"], line_col(&text, "step s19999 {").0, "{def}");
    // A change replaces it with a small script, which is answered at once.
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": HUGE_URI, "version": 2 }, "contentChanges": [{ "text": SCRIPT }] }),
    );
    let symbols = lsp.request("textDocument/documentSymbol", json!({ "textDocument": doc }));
    assert_eq!(symbols[0]["name"], "loan", "{symbols}");
    lsp.stop();
}

// ---- a long random session, and input that is not the protocol ------------------------

/// A seeded xorshift generator: the session is the same on every run, so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    /// A line or UTF-16 column: mostly inside a small document, sometimes past its end, now
    /// and then far past any end.
    fn place(&mut self, within: u64) -> u64 {
        match self.below(20) {
            0 => u64::from(u32::MAX),
            1 => within * 10 + self.below(1000),
            _ => self.below(within),
        }
    }
}

/// What the random edits type: pieces of the language, braces alone, strings cut open,
/// characters of one, two and four bytes (one astral, two UTF-16 units), line breaks.
const PIECES: &[&str] = &[
    "",
    "{",
    "}",
    "\n",
    "\r\n",
    " ",
    "\t",
    "\"",
    "{{",
    "}}",
    "say \"您好\"",
    "goto pay",
    "hangup done",
    "ask \"是吗?\" {\n on yes => hangup done\n}",
    "step x { hangup done }",
    "opening",
    "core {",
    "if x > 1 {",
    "} else if y {",
    "((((",
    "1 + ",
    "// 注释",
    "/* ",
    "é",
    "𝄞",
    "您",
    "\u{0}",
    "script s \"x\" {",
    "use \"./none.call\"",
    "=>",
    "on _ =>",
    "@allow(CS001)",
    "let z: int = ",
];

fn random_change(rng: &mut Rng) -> Value {
    let text: String = (0..rng.below(3)).map(|_| PIECES[rng.below(PIECES.len() as u64) as usize]).collect();
    let (start, end) = (
        json!({ "line": rng.place(30), "character": rng.place(60) }),
        json!({ "line": rng.place(30), "character": rng.place(60) }),
    );
    json!({ "range": { "start": start, "end": end }, "text": text })
}

/// The ISSUE's bar for the editor: a session of 10,000 random changes, with requests in
/// between, and every request answered (none by a caught panic).
#[test]
fn a_session_of_10000_random_changes_is_answered() {
    let mut lsp = Lsp::start();
    lsp.open(URI, SCRIPT);
    let mut rng = Rng(0x5eed_2026_1203);
    let started = Instant::now();
    let mut requests = 0;
    for version in 2..10_002u64 {
        // Now and then the whole text again, so the document stays a script of some size.
        let change = if version % 500 == 0 { json!({ "text": SCRIPT }) } else { random_change(&mut rng) };
        lsp.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": URI, "version": version }, "contentChanges": [change] }),
        );
        if version % 10 == 0 {
            let (line, character) = (rng.place(30), rng.place(60));
            let position = json!({ "line": line, "character": character });
            let doc = json!({ "uri": URI });
            let (method, params) = match rng.below(5) {
                0 => ("textDocument/documentSymbol", json!({ "textDocument": doc })),
                1 => ("textDocument/definition", json!({ "textDocument": doc, "position": position })),
                2 => (
                    "textDocument/formatting",
                    json!({ "textDocument": doc, "options": { "tabSize": 2, "insertSpaces": true } }),
                ),
                3 => ("textDocument/hover", json!({ "textDocument": doc, "position": position })),
                _ => ("textDocument/completion", json!({ "textDocument": doc, "position": position })),
            };
            let answer = lsp.request(method, params);
            assert!(answer.get("error").is_none(), "change {version}: {method} failed: {answer}");
            requests += 1;
            // The diagnostics published meanwhile are not looked at: only that the server answers.
            lsp.pending.clear();
        }
    }
    // The document is still there and still read: the last full text, edited, is outlined.
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 10_002 }, "contentChanges": [{ "text": SCRIPT }] }),
    );
    let symbols = lsp.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": URI } }));
    assert_eq!(symbols[0]["name"], "loan", "{symbols}");
    assert_eq!(requests, 1000);
    eprintln!("10,000 changes and {requests} requests in {:?}", started.elapsed());
    lsp.stop();
}

/// Runs the server on `input` (then the end of its input) and returns how it ended, what it
/// wrote to standard output and to standard error.
fn serve(input: &[u8]) -> (Option<i32>, String, String) {
    let mut child = spawn_server(Stdio::piped());
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    // A server that stops reading must not block the test: write from a thread of its own,
    // and read both outputs on threads too, so that neither pipe fills up.
    std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let drain = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = from.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not end on its own");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), stdout.join().expect("stdout"), stderr.join().expect("stderr"))
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

const INITIALIZE: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#;

#[test]
fn malformed_messages_end_the_server_with_a_clear_error() {
    let cases: [(&str, Vec<u8>); 10] = [
        ("not_json", framed(b"{\"jsonrpc\": \"2.0\", \"method\"")),
        ("not_json_rpc", framed(b"[1, 2, 3]")),
        ("wrong_id_type", framed(br#"{"jsonrpc":"2.0","id":1.5,"method":"shutdown"}"#)),
        ("body_not_utf8", framed(b"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\"}")),
        ("no_length", b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}".to_vec()),
        ("length_not_a_number", b"Content-Length: many\r\n\r\n{}".to_vec()),
        ("length_too_large", b"Content-Length: 99999999999999\r\n\r\n{}".to_vec()),
        ("not_a_header", b"hello\r\n\r\n".to_vec()),
        ("cut_in_the_body", b"Content-Length: 100\r\n\r\n{\"jsonrpc\"".to_vec()),
        ("header_line_without_end", vec![b'x'; 10_000]),
    ];
    for (name, bad) in cases {
        let mut input = framed(INITIALIZE);
        input.extend_from_slice(&bad);
        let (code, stdout, stderr) = serve(&input);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        // What came before the bad message was answered.
        assert!(stdout.contains("\"capabilities\""), "{name}: {stdout}");
        insta::assert_snapshot!(format!("malformed_{name}"), stderr);
    }
}

#[test]
fn exit_without_shutdown_or_the_end_of_the_input_is_exit_code_1() {
    // 0 needs `shutdown` answered before `exit` (what `Lsp::stop` checks in every test above).
    let exit = br#"{"jsonrpc":"2.0","method":"exit"}"#;
    let session = |parts: &[&[u8]]| parts.iter().flat_map(|p| framed(p)).collect::<Vec<u8>>();
    assert_eq!(serve(&session(&[INITIALIZE, exit])).0, Some(1));
    // The client went away without a word.
    assert_eq!(serve(&session(&[INITIALIZE])).0, Some(1));
    // Nothing after `exit` is read, so garbage there is no error.
    let mut after_exit = session(&[INITIALIZE, exit]);
    after_exit.extend_from_slice(b"garbage that is never read");
    let (code, _, stderr) = serve(&after_exit);
    assert_eq!(code, Some(1), "{stderr}");
}
