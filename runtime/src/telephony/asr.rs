//! Speech in: a client for an external recogniser speaking the FunASR runtime WebSocket
//! protocol (`funasr-wss-server` from the FunASR runtime SDK, and the Python
//! `funasr_wss_server.py`), and [`testing`], a small real server that plays FunASR in tests.
//!
//! # The protocol, as the FunASR servers implement it
//!
//! One utterance is:
//!
//! 1. a JSON text message that starts it: `mode` (`offline`, `online` or `2pass`), `wav_name`
//!    (echoed in every result), `wav_format` (`pcm`), `audio_fs` (the PCM sample rate; the
//!    server resamples 8 kHz to its 16 kHz models), `is_speaking: true`, `chunk_size`
//!    (`[5,10,5]`, streaming latency), `chunk_interval`, `itn` (inverse text normalisation,
//!    "三百块" → "300块"), and `hotwords`: a JSON *string* holding an object of word → weight
//!    (`"{\"还款\":20}"`). The C++ server parses that string and uses the weights only with
//!    its FST (n-gram LM) hot word decoder; a non-string `hotwords` breaks it;
//! 2. binary frames of raw little-endian 16-bit mono PCM (the reference client sends 60 ms
//!    per frame: `60 * chunk_size[1] / chunk_interval` ms);
//! 3. `{"is_speaking": false}`, after which the server decodes;
//! 4. JSON results: `mode`, `text`, `wav_name`, `is_final`, and with timestamp models
//!    `timestamp` (a string such as `"[[100,200],[200,500]]"`, ms) and `stamp_sents`.
//!
//! How a result ends the utterance depends on the mode:
//!
//! * `offline`: exactly one result, `mode: "offline"`, sent even when nothing was heard
//!   (`text: ""`). Its `is_final` is **false** (the C++ server hard-codes it), so the first
//!   `offline` result is the answer.
//! * `2pass`: `2pass-online` partials while audio streams, then a `2pass-offline` corrected
//!   text per VAD segment; the last one answers the end message with `is_final: true` (it may
//!   then carry no `mode` and an empty text). The answer is the `2pass-offline` segments
//!   joined; partials are ignored.
//! * `online`: `online` pieces to be joined, the last message carries `is_final: true`.
//!
//! The servers do not select a WebSocket subprotocol, so none is requested (the reference
//! Python client asks for `binary`, which the C++ server ignores; a strict client would then
//! fail the handshake).
//!
//! # Several utterances per connection
//!
//! The C++ offline server keeps one audio buffer per connection and hands it to the decoder
//! at each `is_speaking: false`, so a connection can carry utterance after utterance, one at
//! a time. Hot words are read from the *first* start message of a connection only. Results
//! carry `wav_name`, which is how a late result of an earlier utterance is told apart.
//! [`FunAsrConnection`] does this; [`recognise`] opens one connection per utterance, the
//! simplest use and the one every server version supports. The Python demo server serves one
//! client at a time and sends nothing for an empty offline result, so silence there ends in
//! a timeout: a reason to run the C++ server.
//!
//! # Not supported (yet)
//!
//! `wss://`: the runtime is built without TLS for WebSockets, and FunASR's bundled certificate
//! is self-signed; run the server with `--certfile 0` on a trusted network and use `ws://`.

use std::fmt;
use std::time::Duration;

use callscript_compiler::bytecode::IntentTable;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The weight given to hot words taken from a script's intents (FunASR's examples use 20–30;
/// the weight matters only to the FST hot word decoder).
pub const DEFAULT_HOTWORD_WEIGHT: u32 = 20;

/// At most this many hot words are sent: the server compiles them for every connection, and
/// past a few hundred the bias blurs into noise.
pub const MAX_HOTWORDS: usize = 200;

/// Phrases shorter than this (one character: 是, 对, 好) are left out of the hot words:
/// biasing the decoder towards single characters distorts everything else it hears.
const MIN_HOTWORD_CHARS: usize = 2;

/// Phrases longer than this are sentences, not words: left out of the hot words.
const MAX_HOTWORD_CHARS: usize = 16;

/// Audio per binary frame, as the reference client sends it (`60 * 10 / 10` ms).
const FRAME_MS: u32 = 60;

/// The streaming latency setting every reference client sends (600 ms chunks).
const CHUNK_SIZE: [u32; 3] = [5, 10, 5];
const CHUNK_INTERVAL: u32 = 10;

/// The sample rate of telephone audio (G.711), the default for [`FunAsrConfig`].
pub const TELEPHONE_SAMPLE_RATE: u32 = 8000;

/// How long a recognition may take by default, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How FunASR decodes an utterance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AsrMode {
    /// The whole utterance at once, one result: the most accurate, and all a turn-taking call
    /// needs.
    #[default]
    Offline,
    /// Streaming only.
    Online,
    /// Streaming partials, corrected by the offline model at each sentence end.
    TwoPass,
}

impl AsrMode {
    /// The name the protocol uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AsrMode::Offline => "offline",
            AsrMode::Online => "online",
            AsrMode::TwoPass => "2pass",
        }
    }
}

/// Where the recogniser is and how to use it.
#[derive(Clone, Debug, PartialEq)]
pub struct FunAsrConfig {
    /// `ws://host:port` (FunASR listens on 10095 by default).
    pub url: String,
    pub mode: AsrMode,
    /// Words to bias the decoder towards, with their weights.
    pub hotwords: Vec<(String, u32)>,
    /// The sample rate of the PCM handed to [`recognise`], sent as `audio_fs`.
    pub sample_rate: u32,
    /// The longest a recognition may take, from connecting to the result.
    pub timeout: Duration,
    /// Ask the server for inverse text normalisation (digits for spoken numbers).
    pub itn: bool,
}

impl FunAsrConfig {
    /// A recogniser at `url` with the defaults: offline mode, no hot words, 8 kHz audio,
    /// [`DEFAULT_TIMEOUT`], ITN on (the recogniser then writes amounts as digits, which the
    /// built-in recogniser's regexes expect).
    pub fn new(url: impl Into<String>) -> FunAsrConfig {
        FunAsrConfig {
            url: url.into(),
            mode: AsrMode::Offline,
            hotwords: Vec::new(),
            sample_rate: TELEPHONE_SAMPLE_RATE,
            timeout: DEFAULT_TIMEOUT,
            itn: true,
        }
    }

    /// Reads the campaign's `[speech] asr` setting: `"text"` and `"dtmf"` need no recogniser
    /// (`None`); an address `ws://host:port` is a FunASR server. Anything else is an error
    /// that says what is accepted.
    pub fn from_speech_setting(asr: &str) -> Result<Option<FunAsrConfig>, String> {
        // The campaign model reads the setting; one reader decides what is an address.
        Ok(match callscript_compiler::campaign::values::asr(asr)? {
            crate::campaign::Asr::FunAsr(url) => Some(FunAsrConfig::new(&url)),
            crate::campaign::Asr::Text | crate::campaign::Asr::Dtmf => None,
        })
    }

    /// The same recogniser with these hot words (see [`hotwords_from_intents`]).
    pub fn with_hotwords(mut self, hotwords: Vec<(String, u32)>) -> FunAsrConfig {
        self.hotwords = hotwords;
        self
    }
}

/// The hot words for a script: the literal phrases of its intents (`Program::intents`), in
/// declaration order, each once, weighted [`DEFAULT_HOTWORD_WEIGHT`], at most
/// [`MAX_HOTWORDS`]. Gapped forms (`就…还`) and regexes are not words and are left out, as are
/// single characters and sentence-long phrases. Alternatives were already expanded by the
/// compiler, so `(已|已经)还款` gives both forms.
pub fn hotwords_from_intents(intents: &[IntentTable]) -> Vec<(String, u32)> {
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::new();
    let literal_forms =
        intents.iter().flat_map(|table| table.forms.iter()).filter_map(|form| match form.parts.as_slice() {
            [only] => Some(only.trim()),
            _ => None,
        });
    for phrase in literal_forms {
        let chars = phrase.chars().count();
        if !(MIN_HOTWORD_CHARS..=MAX_HOTWORD_CHARS).contains(&chars) || phrase.chars().any(char::is_whitespace) {
            continue;
        }
        if seen.insert(phrase) {
            words.push((phrase.to_owned(), DEFAULT_HOTWORD_WEIGHT));
            if words.len() == MAX_HOTWORDS {
                break;
            }
        }
    }
    words
}

/// What the recogniser heard in one utterance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recognised {
    /// The text, trimmed; empty when nothing was recognised.
    pub text: String,
    /// The utterance's name, as sent and echoed.
    pub wav_name: String,
    /// Word timestamps in ms (`"[[100,200],[200,500]]"`), when the model produces them.
    pub timestamp: Option<String>,
}

impl Recognised {
    /// Whether nothing was recognised (the utterance counts as silence / unrecognised).
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// Why a recognition failed. Every message names the recogniser's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsrError {
    /// No WebSocket connection: refused, unreachable, bad address, or the HTTP upgrade failed.
    Connect { url: String, reason: String },
    /// No final result within the configured time.
    Timeout { url: String, waited: Duration },
    /// The server answered something that is not a FunASR result.
    Protocol { url: String, detail: String },
    /// The connection ended before the result.
    Closed { url: String, detail: String },
}

impl fmt::Display for AsrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsrError::Connect { url, reason } => {
                write!(f, "cannot connect to the FunASR recogniser at {url}: {reason}")
            }
            AsrError::Timeout { url, waited } => {
                write!(f, "the FunASR recogniser at {url} gave no result within {:.1} s", waited.as_secs_f64())
            }
            AsrError::Protocol { url, detail } => {
                write!(f, "the FunASR recogniser at {url} broke the protocol: {detail}")
            }
            AsrError::Closed { url, detail } => {
                write!(f, "the connection to the FunASR recogniser at {url} ended before the result: {detail}")
            }
        }
    }
}

impl std::error::Error for AsrError {}

/// Recognises one utterance over its own connection: connect, send the start message, the
/// PCM (16-bit mono at `config.sample_rate`), the end message, and wait for the result, all
/// within `config.timeout`. `wav_name` names the utterance in the server's logs (e.g.
/// `"attempt-42-turn-3"`).
pub async fn recognise(config: &FunAsrConfig, pcm: &[i16], wav_name: &str) -> Result<Recognised, AsrError> {
    let deadline = Instant::now() + config.timeout;
    let mut connection = FunAsrConnection::connect_by(config, deadline).await?;
    let result = connection.recognise_by(pcm, wav_name, deadline).await;
    connection.close().await;
    result
}

/// A connection that carries several utterances, one at a time (see the module docs: the
/// C++ server supports it; hot words are fixed by the first utterance).
pub struct FunAsrConnection {
    config: FunAsrConfig,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Set after any error: the server's state is then unknown, so the connection is not
    /// reused.
    broken: bool,
}

impl fmt::Debug for FunAsrConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunAsrConnection").field("url", &self.config.url).field("broken", &self.broken).finish()
    }
}

impl FunAsrConnection {
    /// Connects within `config.timeout`.
    pub async fn connect(config: &FunAsrConfig) -> Result<FunAsrConnection, AsrError> {
        Self::connect_by(config, Instant::now() + config.timeout).await
    }

    async fn connect_by(config: &FunAsrConfig, deadline: Instant) -> Result<FunAsrConnection, AsrError> {
        let url = config.url.clone();
        let connecting = tokio_tungstenite::connect_async(config.url.as_str());
        let (socket, _response) = match timeout_at(deadline, connecting).await {
            Err(_) => return Err(AsrError::Timeout { url, waited: config.timeout }),
            Ok(Err(e)) => return Err(AsrError::Connect { url, reason: describe_connect_error(&e) }),
            Ok(Ok(connected)) => connected,
        };
        Ok(FunAsrConnection { config: config.clone(), socket, broken: false })
    }

    /// Recognises one utterance on this connection within `config.timeout`. After an error
    /// the connection refuses further use: open a new one.
    pub async fn recognise(&mut self, pcm: &[i16], wav_name: &str) -> Result<Recognised, AsrError> {
        self.recognise_by(pcm, wav_name, Instant::now() + self.config.timeout).await
    }

    async fn recognise_by(&mut self, pcm: &[i16], wav_name: &str, deadline: Instant) -> Result<Recognised, AsrError> {
        if self.broken {
            return Err(self.closed("the connection is unusable after an earlier error"));
        }
        let outcome = match timeout_at(deadline, self.exchange(pcm, wav_name)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(AsrError::Timeout { url: self.config.url.clone(), waited: self.config.timeout }),
        };
        if outcome.is_err() {
            self.broken = true;
        }
        outcome
    }

    /// Sends one utterance and reads results until the one that ends it.
    async fn exchange(&mut self, pcm: &[i16], wav_name: &str) -> Result<Recognised, AsrError> {
        let start = start_message(&self.config, wav_name);
        self.send(Message::text(start)).await?;
        let frame_samples = (self.config.sample_rate.max(1) * FRAME_MS / 1000).max(1) as usize;
        for frame in pcm.chunks(frame_samples) {
            let bytes: Vec<u8> = frame.iter().flat_map(|sample| sample.to_le_bytes()).collect();
            self.send(Message::binary(bytes)).await?;
        }
        self.send(Message::text(json!({"is_speaking": false}).to_string())).await?;

        let mut collector = ResultCollector::new(self.config.mode, wav_name);
        loop {
            let message = match self.socket.next().await {
                None => return Err(self.closed("the server closed the connection")),
                Some(Err(e)) => return Err(self.closed(&e.to_string())),
                Some(Ok(message)) => message,
            };
            let text = match message {
                Message::Text(text) => text,
                Message::Close(frame) => {
                    let why = frame.map(|f| format!(" ({} {})", u16::from(f.code), f.reason)).unwrap_or_default();
                    return Err(self.closed(&format!("the server closed the connection{why}")));
                }
                Message::Binary(bytes) => {
                    return Err(self.protocol(format!(
                        "a binary message of {} bytes where a JSON result was expected",
                        bytes.len()
                    )));
                }
                // Keep-alives; tungstenite answers pings itself.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            match collector.take(text.as_str()) {
                Err(detail) => return Err(self.protocol(detail)),
                Ok(Some(done)) => return Ok(done),
                Ok(None) => {}
            }
        }
    }

    async fn send(&mut self, message: Message) -> Result<(), AsrError> {
        match self.socket.send(message).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.closed(&format!("sending failed: {e}"))),
        }
    }

    /// Ends the connection politely; errors no longer matter at this point.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    fn closed(&self, detail: &str) -> AsrError {
        AsrError::Closed { url: self.config.url.clone(), detail: detail.to_owned() }
    }

    fn protocol(&self, detail: String) -> AsrError {
        AsrError::Protocol { url: self.config.url.clone(), detail }
    }
}

/// The connect error without tungstenite's wording, which the user cannot act on.
fn describe_connect_error(error: &tungstenite::Error) -> String {
    match error {
        tungstenite::Error::Io(io) => io.to_string(),
        tungstenite::Error::Http(response) => {
            format!("the server refused the WebSocket upgrade (HTTP {})", response.status())
        }
        tungstenite::Error::Url(url) => format!("bad address: {url}"),
        other => other.to_string(),
    }
}

/// The JSON that starts an utterance.
fn start_message(config: &FunAsrConfig, wav_name: &str) -> String {
    let mut start = json!({
        "mode": config.mode.as_str(),
        "wav_name": wav_name,
        "wav_format": "pcm",
        "audio_fs": config.sample_rate,
        "is_speaking": true,
        "chunk_size": CHUNK_SIZE,
        "chunk_interval": CHUNK_INTERVAL,
        "itn": config.itn,
    });
    if !config.hotwords.is_empty() {
        start["hotwords"] = Value::String(hotwords_json(&config.hotwords));
    }
    start.to_string()
}

/// Hot words as FunASR wants them: a JSON object serialised into a string. A word given
/// twice keeps its first weight.
fn hotwords_json(hotwords: &[(String, u32)]) -> String {
    let mut object = Map::new();
    for (word, weight) in hotwords {
        object.entry(word.clone()).or_insert(Value::from(*weight));
    }
    Value::Object(object).to_string()
}

/// Reads results for one utterance and says when it is complete (see the module docs for
/// the rule per mode).
struct ResultCollector {
    mode: AsrMode,
    wav_name: String,
    text: String,
    timestamp: Option<String>,
}

impl ResultCollector {
    fn new(mode: AsrMode, wav_name: &str) -> ResultCollector {
        ResultCollector { mode, wav_name: wav_name.to_owned(), text: String::new(), timestamp: None }
    }

    /// Takes one result message: `Ok(Some(_))` when the utterance is complete, `Ok(None)` when
    /// more is to come, `Err` for a message that is not a FunASR result.
    fn take(&mut self, message: &str) -> Result<Option<Recognised>, String> {
        let value: Value =
            serde_json::from_str(message).map_err(|e| format!("a reply is not JSON ({e}): {}", excerpt(message)))?;
        let Value::Object(result) = value else {
            return Err(format!("a reply is not a JSON object: {}", excerpt(message)));
        };
        let field_str = |name: &str| -> Result<Option<&str>, String> {
            match result.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(other) => Err(format!("`{name}` is {other}, not a string, in {}", excerpt(message))),
            }
        };
        let mode = field_str("mode")?.unwrap_or("");
        let text = field_str("text")?.unwrap_or("");
        let is_final = match result.get("is_final") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(format!("`is_final` is {other}, not true or false")),
        };
        // A late result of an earlier utterance on the same connection.
        if let Some(name) = field_str("wav_name")?
            && name != self.wav_name
        {
            return Ok(None);
        }
        let timestamp = match result.get("timestamp") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };

        let (counts, ends) = match self.mode {
            AsrMode::Offline => (mode == "offline", mode == "offline" || is_final),
            AsrMode::TwoPass => (mode == "2pass-offline", is_final),
            AsrMode::Online => (mode == "online", is_final),
        };
        if counts {
            self.text.push_str(text);
            if timestamp.is_some() {
                self.timestamp = timestamp;
            }
        }
        if !ends {
            return Ok(None);
        }
        Ok(Some(Recognised {
            text: self.text.trim().to_owned(),
            wav_name: self.wav_name.clone(),
            timestamp: self.timestamp.take(),
        }))
    }
}

/// The start of a long message, for error texts.
fn excerpt(message: &str) -> String {
    const MAX_CHARS: usize = 120;
    if message.chars().count() <= MAX_CHARS {
        format!("{message:?}")
    } else {
        let head: String = message.chars().take(MAX_CHARS).collect();
        format!("{head:?}…")
    }
}

/// A test double: a real WebSocket server on 127.0.0.1 that checks what a FunASR client
/// sends, records it, and answers in FunASR's result format. For tests only (it keeps every
/// utterance in memory and answers scripted texts); any test in the workspace may use it.
pub mod testing {
    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex, PoisonError};

    use futures_util::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;

    /// What the mock does when an utterance ends, in order; once they run out it answers an
    /// empty text, as FunASR does when it heard nothing.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum MockReply {
        /// Answers this text in the format of the utterance's mode.
        Text(String),
        /// Never answers; the connection stays open.
        Silent,
        /// Sends this text frame as it is (e.g. malformed JSON).
        Raw(String),
        /// Closes the connection without answering.
        Close,
    }

    /// What the mock received for one utterance (start message to end message).
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct ReceivedSession {
        /// Which connection carried it, counting from 0 in accept order.
        pub connection: usize,
        /// The start message as sent.
        pub start: Value,
        /// The hot words decoded from the start message's `hotwords` string.
        pub hotwords: Vec<(String, u32)>,
        /// PCM bytes received in binary frames.
        pub audio_bytes: usize,
        /// Binary frames received.
        pub frames: usize,
        /// Whether the end message `{"is_speaking": false}` arrived.
        pub ended: bool,
        /// Protocol mistakes found; empty for a well-behaved client.
        pub problems: Vec<String>,
    }

    /// The utterances received so far, in the order they ended.
    pub type Received = Arc<Mutex<Vec<ReceivedSession>>>;

    /// What [`spawn_mock`] returns: the address to connect to (`ws://{address}`), the server
    /// task, and the log of received utterances.
    pub type Mock = (SocketAddr, JoinHandle<()>, Received);

    /// Starts a mock that answers `texts` in order, one per utterance.
    pub async fn spawn_mock(texts: Vec<String>) -> std::io::Result<Mock> {
        spawn_mock_with(texts.into_iter().map(MockReply::Text).collect()).await
    }

    /// Starts a mock that plays `replies` in order, one per utterance. Abort the handle to
    /// stop it (it also stops with the test's runtime).
    pub async fn spawn_mock_with(replies: Vec<MockReply>) -> std::io::Result<Mock> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let received: Received = Arc::default();
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        let log = received.clone();
        let server = tokio::spawn(async move {
            let mut connection = 0;
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, connection, replies.clone(), log.clone()));
                connection += 1;
            }
        });
        Ok((address, server, received))
    }

    /// One connection: utterance after utterance until the client goes away.
    async fn serve(stream: TcpStream, connection: usize, replies: Arc<Mutex<VecDeque<MockReply>>>, log: Received) {
        let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else { return };
        let mut current: Option<ReceivedSession> = None;
        while let Some(Ok(message)) = socket.next().await {
            match message {
                Message::Binary(bytes) => {
                    let session = current.get_or_insert_with(|| ReceivedSession {
                        connection,
                        problems: vec!["audio before the start message".into()],
                        ..ReceivedSession::default()
                    });
                    session.audio_bytes += bytes.len();
                    session.frames += 1;
                }
                Message::Text(text) => {
                    let value: Value = match serde_json::from_str(text.as_str()) {
                        Ok(value) => value,
                        Err(e) => {
                            let session =
                                current.get_or_insert_with(|| ReceivedSession { connection, ..Default::default() });
                            session.problems.push(format!("a text message is not JSON: {e}"));
                            continue;
                        }
                    };
                    if value.get("is_speaking") == Some(&Value::Bool(false)) {
                        let mut session = current.take().unwrap_or_else(|| ReceivedSession {
                            connection,
                            problems: vec!["an end message without a start message".into()],
                            ..ReceivedSession::default()
                        });
                        session.ended = true;
                        if !session.audio_bytes.is_multiple_of(2) {
                            session
                                .problems
                                .push(format!("{} PCM bytes: not whole 16-bit samples", session.audio_bytes));
                        }
                        let mode = session.start.get("mode").and_then(Value::as_str).unwrap_or("offline").to_owned();
                        let wav_name = session.start.get("wav_name").and_then(Value::as_str).unwrap_or("").to_owned();
                        lock(&log).push(session);
                        let reply = lock(&replies).pop_front().unwrap_or(MockReply::Text(String::new()));
                        if !answer(&mut socket, reply, &mode, &wav_name).await {
                            return;
                        }
                    } else {
                        if let Some(mut unfinished) = current.take() {
                            unfinished.problems.push("a new start message before the end message".into());
                            lock(&log).push(unfinished);
                        }
                        current = Some(check_start(connection, value));
                    }
                }
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
        if let Some(unfinished) = current {
            lock(&log).push(unfinished);
        }
    }

    /// Checks a start message against what the FunASR servers read.
    fn check_start(connection: usize, start: Value) -> ReceivedSession {
        let mut problems = Vec::new();
        match start.get("mode").and_then(Value::as_str) {
            Some("offline" | "online" | "2pass") => {}
            other => problems.push(format!("`mode` is {other:?}, not offline, online or 2pass")),
        }
        if start.get("wav_name").and_then(Value::as_str).is_none() {
            problems.push("no `wav_name` string".into());
        }
        if start.get("wav_format").and_then(Value::as_str) != Some("pcm") {
            problems.push("`wav_format` is not \"pcm\"".into());
        }
        if start.get("audio_fs").and_then(Value::as_u64).is_none_or(|fs| fs == 0) {
            problems.push("no `audio_fs` sample rate (needed for PCM)".into());
        }
        if start.get("is_speaking") != Some(&Value::Bool(true)) {
            problems.push("`is_speaking` is not true".into());
        }
        if let Some(itn) = start.get("itn")
            && !itn.is_boolean()
        {
            problems.push("`itn` is not true or false".into());
        }
        let mut hotwords = Vec::new();
        match start.get("hotwords") {
            None => {}
            Some(Value::String(text)) if text.is_empty() => {}
            Some(Value::String(text)) => match serde_json::from_str::<serde_json::Map<String, Value>>(text) {
                Ok(object) => {
                    for (word, weight) in object {
                        match weight.as_u64().and_then(|w| u32::try_from(w).ok()) {
                            Some(weight) => hotwords.push((word, weight)),
                            None => problems.push(format!("hot word {word:?} has weight {weight}, not an integer")),
                        }
                    }
                }
                Err(e) => problems.push(format!("`hotwords` is not a JSON object in a string: {e}")),
            },
            Some(other) => problems.push(format!("`hotwords` is {other}, not a string holding JSON")),
        }
        ReceivedSession { connection, start, hotwords, problems, ..ReceivedSession::default() }
    }

    /// Plays one reply; false when the connection is over.
    async fn answer(socket: &mut WebSocketStream<TcpStream>, reply: MockReply, mode: &str, wav_name: &str) -> bool {
        let messages = match reply {
            MockReply::Silent => return true,
            MockReply::Close => {
                let _ = socket.close(None).await;
                return false;
            }
            MockReply::Raw(text) => vec![text],
            MockReply::Text(text) => results(&text, mode, wav_name),
        };
        for message in messages {
            if socket.send(Message::text(message)).await.is_err() {
                return false;
            }
        }
        true
    }

    /// The results the C++ FunASR servers send for one utterance in `mode`.
    fn results(text: &str, mode: &str, wav_name: &str) -> Vec<String> {
        match mode {
            // A streaming partial (here: the first half), then the corrected text, final.
            "2pass" => {
                let half: String = text.chars().take(text.chars().count() / 2).collect();
                let mut sent = Vec::new();
                if !half.is_empty() {
                    sent.push(json!({"mode": "2pass-online", "text": half, "wav_name": wav_name, "is_final": false}));
                }
                sent.push(json!({"mode": "2pass-offline", "text": text, "wav_name": wav_name, "is_final": true}));
                sent.into_iter().map(|v| v.to_string()).collect()
            }
            // The streamed text, then an empty final message without a mode.
            "online" => vec![
                json!({"mode": "online", "text": text, "wav_name": wav_name, "is_final": false}).to_string(),
                json!({"text": "", "wav_name": wav_name, "is_final": true}).to_string(),
            ],
            // One result; the C++ server always sends is_final false here.
            _ => vec![json!({"mode": "offline", "text": text, "wav_name": wav_name, "is_final": false}).to_string()],
        }
    }

    /// The log stays readable even if a test panicked while holding it.
    fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callscript_compiler::pattern::Form;

    fn table(name: &str, forms: &[&[&str]], regexes: &[&str]) -> IntentTable {
        IntentTable {
            name: name.into(),
            forms: forms.iter().map(|parts| Form { parts: parts.iter().map(|p| p.to_string()).collect() }).collect(),
            dtmf: vec!["1".into()],
            regexes: regexes.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn hotwords_take_literal_phrases_once_in_order() {
        let intents = [
            table("paid", &[&["已经还款"], &["还了"], &["就", "还"], &["是"]], &["[0-9]{4}"]),
            table("later", &[&["下周"], &["还了"], &["这是一句非常非常长的话不是一个词语而是句子"]], &[]),
        ];
        let words = hotwords_from_intents(&intents);
        assert_eq!(
            words,
            vec![("已经还款".to_owned(), 20), ("还了".to_owned(), 20), ("下周".to_owned(), 20)],
            "gapped forms, regexes, one-character and sentence-long phrases are left out"
        );
    }

    #[test]
    fn hotwords_are_capped() {
        let phrases: Vec<String> = (0..500).map(|i| format!("词{i}")).collect();
        let forms: Vec<&[&str]> = Vec::new();
        let mut intent = table("many", &forms, &[]);
        intent.forms = phrases.iter().map(|p| Form { parts: vec![p.clone()] }).collect();
        assert_eq!(hotwords_from_intents(&[intent]).len(), MAX_HOTWORDS);
    }

    #[test]
    fn speech_setting_selects_the_recogniser() {
        assert_eq!(FunAsrConfig::from_speech_setting("text"), Ok(None));
        assert_eq!(FunAsrConfig::from_speech_setting("dtmf"), Ok(None));
        let config = FunAsrConfig::from_speech_setting("ws://10.0.0.5:10095").unwrap().unwrap();
        assert_eq!(config.url, "ws://10.0.0.5:10095");
        assert_eq!((config.mode, config.sample_rate, config.itn), (AsrMode::Offline, 8000, true));
        let wss = FunAsrConfig::from_speech_setting("wss://asr:10095").unwrap_err();
        assert!(wss.contains("--certfile 0"), "{wss}");
        for bad in ["http://asr:10095", "whisper", "ws://", "ws://:10095", "ws://a b"] {
            assert!(FunAsrConfig::from_speech_setting(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn start_message_has_the_fields_funasr_reads() {
        let config = FunAsrConfig::new("ws://x:1").with_hotwords(vec![("还款".into(), 20), ("逾期".into(), 30)]);
        let start: Value = serde_json::from_str(&start_message(&config, "call-1")).unwrap();
        assert_eq!(start["mode"], "offline");
        assert_eq!(start["wav_name"], "call-1");
        assert_eq!(start["wav_format"], "pcm");
        assert_eq!(start["audio_fs"], 8000);
        assert_eq!(start["is_speaking"], true);
        assert_eq!(start["itn"], true);
        assert_eq!(start["chunk_size"], json!([5, 10, 5]));
        let hotwords: Value = serde_json::from_str(start["hotwords"].as_str().unwrap()).unwrap();
        assert_eq!(hotwords, json!({"还款": 20, "逾期": 30}));
        let plain: Value = serde_json::from_str(&start_message(&FunAsrConfig::new("ws://x:1"), "n")).unwrap();
        assert!(plain.get("hotwords").is_none());
    }

    #[test]
    fn offline_ends_at_the_first_offline_result_though_is_final_is_false() {
        let mut collector = ResultCollector::new(AsrMode::Offline, "u1");
        let done = collector
            .take(r#"{"mode":"offline","text":" 好的 ","wav_name":"u1","is_final":false,"timestamp":"[[1,2]]"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(done, Recognised { text: "好的".into(), wav_name: "u1".into(), timestamp: Some("[[1,2]]".into()) });
    }

    #[test]
    fn two_pass_joins_corrected_segments_and_ignores_partials() {
        let mut collector = ResultCollector::new(AsrMode::TwoPass, "u1");
        assert_eq!(
            collector.take(r#"{"mode":"2pass-online","text":"我已","wav_name":"u1","is_final":false}"#),
            Ok(None)
        );
        assert_eq!(
            collector.take(r#"{"mode":"2pass-offline","text":"我已经还了，","wav_name":"u1","is_final":false}"#),
            Ok(None)
        );
        let done = collector.take(r#"{"mode":"2pass-offline","text":"谢谢。","wav_name":"u1","is_final":true}"#);
        assert_eq!(done.unwrap().unwrap().text, "我已经还了，谢谢。");
        let mut quiet = ResultCollector::new(AsrMode::TwoPass, "u2");
        assert_eq!(quiet.take(r#"{"text":"","wav_name":"u2","is_final":true}"#).unwrap().unwrap().text, "");
    }

    #[test]
    fn results_of_another_utterance_are_skipped() {
        let mut collector = ResultCollector::new(AsrMode::Offline, "u2");
        assert_eq!(collector.take(r#"{"mode":"offline","text":"旧的","wav_name":"u1","is_final":false}"#), Ok(None));
        assert_eq!(
            collector.take(r#"{"mode":"offline","text":"新的","wav_name":"u2"}"#).unwrap().unwrap().text,
            "新的"
        );
    }

    #[test]
    fn malformed_results_are_protocol_errors() {
        for bad in ["not json", "[1,2]", r#"{"mode":"offline","text":5}"#, r#"{"mode":"offline","is_final":"yes"}"#] {
            let mut collector = ResultCollector::new(AsrMode::Offline, "u");
            assert!(collector.take(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_address() {
        let url = "ws://asr.bank.internal:10095".to_owned();
        let errors = [
            AsrError::Connect { url: url.clone(), reason: "Connection refused".into() },
            AsrError::Timeout { url: url.clone(), waited: Duration::from_millis(2500) },
            AsrError::Protocol { url: url.clone(), detail: "x".into() },
            AsrError::Closed { url: url.clone(), detail: "x".into() },
        ];
        for error in errors {
            assert!(error.to_string().contains(&url), "{error}");
        }
        assert!(AsrError::Timeout { url, waited: Duration::from_millis(2500) }.to_string().contains("2.5 s"));
    }
}
