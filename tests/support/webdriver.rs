//! Just enough of the WebDriver protocol (W3C) to drive headless Chromium through chromedriver
//! in the console's end-to-end test: a session, navigation, elements, keys, clicks, scripts.
//! One JSON request per connection over loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open whatever the request says: read by Content-Length.
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    let (head, body) = loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the connection closed before the answer's head".into());
        }
        bytes.extend_from_slice(&buf[..n]);
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..at]).into_owned();
            break (head, bytes[at + 4..].to_vec());
        }
    };
    let length = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .ok_or_else(|| format!("no Content-Length in {head}"))?;
    let mut body = body;
    while body.len() < length {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let body = body.as_str();
    let value: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
    if head.split(' ').nth(1) != Some("200") {
        return Err(format!("{method} {path}: {value}"));
    }
    Ok(value["value"].clone())
}

impl Browser {
    /// chromedriver on a free port, and a headless Chromium session that may play audio.
    pub fn start() -> Result<Browser, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("chromedriver: {e}"))?;
        let until = Instant::now() + Duration::from_secs(20);
        while request(port, "GET", "/status", None).is_err() {
            if Instant::now() > until {
                return Err("chromedriver did not start".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--autoplay-policy=no-user-gesture-required",
            "--window-size=1280,900",
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"args": args}}}});
        let mut browser = Browser { driver, port, session: String::new() };
        let created = request(port, "POST", "/session", Some(&caps))?;
        browser.session = created["sessionId"].as_str().ok_or("no session")?.to_string();
        Ok(browser)
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let path = format!("/session/{}{path}", self.session);
        request(self.port, method, &path, if method == "GET" { None } else { Some(&body) })
    }

    pub fn go(&self, url: &str) -> Result<(), String> {
        self.call("POST", "/url", json!({ "url": url })).map(|_| ())
    }

    pub fn find(&self, css: &str) -> Result<String, String> {
        let found = self.call("POST", "/element", json!({"using": "css selector", "value": css}))?;
        found[ELEMENT].as_str().map(str::to_string).ok_or_else(|| format!("no element {css}"))
    }

    pub fn type_into(&self, css: &str, text: &str) -> Result<(), String> {
        let el = self.find(css)?;
        self.call("POST", &format!("/element/{el}/value"), json!({ "text": text })).map(|_| ())
    }

    pub fn click(&self, css: &str) -> Result<(), String> {
        let el = self.find(css)?;
        self.call("POST", &format!("/element/{el}/click"), json!({})).map(|_| ())
    }

    /// Runs `script` (a function body; `return` gives the value).
    pub fn run(&self, script: &str) -> Result<Value, String> {
        self.call("POST", "/execute/sync", json!({"script": script, "args": []}))
    }

    /// Runs `script` until it returns true, for at most 10 s: a click that submits a form
    /// returns before the next page is there.
    pub fn wait_until(&self, script: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.run(script)? != Value::Bool(true) {
            if Instant::now() > deadline {
                return Err(format!("waited 10 s for `{script}`"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Runs `script` until it calls `arguments[arguments.length - 1](value)`.
    pub fn run_async(&self, script: &str) -> Result<Value, String> {
        self.call("POST", "/execute/async", json!({"script": script, "args": []}))
    }

    pub fn text(&self) -> Result<String, String> {
        self.run("return document.documentElement.outerHTML + '\\n' + document.body.innerText;")
            .map(|v| v.as_str().unwrap_or_default().to_string())
    }

    pub fn url(&self) -> Result<String, String> {
        self.call("GET", "/url", Value::Null).map(|v| v.as_str().unwrap_or_default().to_string())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = request(self.port, "DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
