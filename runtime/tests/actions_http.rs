//! Actions over HTTP (CAMPAIGN.md §5) against a real test server on loopback: an answer with
//! every output is `ok`; a status, the timeout, a body that is not JSON, a missing and a
//! mistyped output are each `failed` with their cause; a chunked answer reads; the request
//! carries the contract's fields and the configured headers.

use std::time::Duration;

use callscript_compiler::bytecode::ActionCode;
use callscript_compiler::syntax::ast::Type;
use callscript_compiler::value::Value;
use callscript_runtime::actions::{Request, call};
use callscript_runtime::vm::ActionInput;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

fn action() -> ActionCode {
    ActionCode {
        name: "balance_lookup".into(),
        inputs: vec![("account_tail".into(), Type::Text)],
        outputs: vec![("balance".into(), Type::Money, 0), ("due".into(), Type::Date, 1)],
    }
}

/// Serves one connection with `answer` (after `delay`); gives back the request it read.
async fn serve(answer: &'static str, delay: Duration) -> (String, oneshot::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/balance", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Read the headers and the body its Content-Length announces.
        loop {
            let n = socket.read(&mut buf).await.unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if request.len() >= end + 4 + length || n == 0 {
                    break;
                }
            }
        }
        tokio::time::sleep(delay).await;
        let _ = socket.write_all(answer.as_bytes()).await;
        let _ = socket.shutdown().await;
        let _ = tx.send(String::from_utf8_lossy(&request).into_owned());
    });
    (url, rx)
}

async fn ask(answer: &'static str, delay: Duration) -> (Result<Vec<(String, Value)>, String>, String) {
    let (url, request) = serve(answer, delay).await;
    let action = action();
    let inputs = [ActionInput { name: "account_tail".into(), value: Value::Text("8831".into()), sensitive: true }];
    let request_of_call = Request {
        action: &action,
        campaign: "LOAN",
        customer_id: "C001",
        attempt: 2,
        call_id: "call-7",
        inputs: &inputs,
    };
    let headers = vec![("Authorization".to_string(), "Bearer t0k".to_string())];
    let result = call(&url, &headers, &request_of_call, Duration::from_millis(500)).await;
    let seen =
        tokio::time::timeout(Duration::from_secs(2), request).await.ok().and_then(Result::ok).unwrap_or_default();
    (result, seen)
}

fn json(body: &str) -> &'static str {
    Box::leak(
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
            .into_boxed_str(),
    )
}

#[tokio::test]
async fn an_answer_with_every_output_is_ok_and_the_request_follows_the_contract() {
    let (result, request) =
        ask(json(r#"{"balance": "1200.50", "due": "2026-12-01", "note": "x"}"#), Duration::ZERO).await;
    let outputs = result.expect("ok");
    assert_eq!(outputs[0].1.literal_text(), "1200.50");
    assert_eq!(outputs[1].1.literal_text(), "2026-12-01");
    assert!(request.starts_with("POST /balance HTTP/1.1\r\n"), "{request}");
    assert!(request.contains("Authorization: Bearer t0k\r\n"), "{request}");
    assert!(request.contains("Content-Type: application/json\r\n"), "{request}");
    let body: serde_json::Value = serde_json::from_str(&request[request.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"action": "balance_lookup", "campaign": "LOAN", "customer_id": "C001", "attempt": 2,
            "call_id": "call-7", "input": {"account_tail": "8831"}})
    );
}

#[tokio::test]
async fn a_chunked_answer_reads() {
    let answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"balance\": 300,\r\n15\r\n \"due\": \"2026-12-01\"}\r\n0\r\n\r\n";
    let (result, _) = ask(answer, Duration::ZERO).await;
    assert_eq!(result.expect("ok")[0].1.literal_text(), "300.00");
}

#[tokio::test]
async fn a_status_fails() {
    let (result, _) = ask("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", Duration::ZERO).await;
    assert_eq!(result.unwrap_err(), "HTTP status 503");
}

#[tokio::test]
async fn the_timeout_fails() {
    let (result, _) = ask(json(r#"{"balance": "1.00", "due": "2026-12-01"}"#), Duration::from_millis(1500)).await;
    assert_eq!(result.unwrap_err(), "no answer within 500 ms");
}

#[tokio::test]
async fn bad_json_fails() {
    let (result, _) = ask(json("<html>oops</html>"), Duration::ZERO).await;
    assert!(result.unwrap_err().starts_with("the answer is not JSON"));
}

#[tokio::test]
async fn a_missing_output_fails() {
    let (result, _) = ask(json(r#"{"balance": "1200.50"}"#), Duration::ZERO).await;
    assert_eq!(result.unwrap_err(), "the answer has no `due`");
}

#[tokio::test]
async fn a_mistyped_output_fails() {
    let (result, _) = ask(json(r#"{"balance": "1200.50", "due": 20261201}"#), Duration::ZERO).await;
    assert_eq!(result.unwrap_err(), "`due` is a number where a `date` is expected");
}

#[tokio::test]
async fn nobody_listening_fails() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/balance", listener.local_addr().unwrap());
    drop(listener);
    let action = action();
    let request = Request { action: &action, campaign: "L", customer_id: "C", attempt: 1, call_id: "c", inputs: &[] };
    let why = call(&url, &[], &request, Duration::from_millis(500)).await.unwrap_err();
    assert!(why.starts_with("cannot reach 127.0.0.1:"), "{why}");
}
