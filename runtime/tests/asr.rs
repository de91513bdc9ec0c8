//! The FunASR client against the mock FunASR server (real WebSocket connections on
//! 127.0.0.1): what is sent, what comes back, and each way it can fail.

use std::time::Duration;

use callscript_compiler::check::check_source;
use callscript_runtime::telephony::asr::testing::{MockReply, spawn_mock, spawn_mock_with};
use callscript_runtime::telephony::asr::{
    AsrError, AsrMode, FunAsrConfig, FunAsrConnection, MAX_HOTWORDS, hotwords_from_intents, recognise,
};
use serde_json::json;

/// One second of a 440 Hz tone at 8 kHz: 8000 samples.
fn tone() -> Vec<i16> {
    (0..8000).map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 8000.0) as i16).collect()
}

fn config_for(address: std::net::SocketAddr) -> FunAsrConfig {
    let mut config = FunAsrConfig::new(format!("ws://{address}"));
    config.timeout = Duration::from_secs(5);
    config
}

#[tokio::test]
async fn recognises_and_speaks_the_protocol() {
    let (address, server, received) = spawn_mock(vec!["我已经还款了".into()]).await.unwrap();
    let config = config_for(address).with_hotwords(vec![("还款".into(), 20), ("逾期".into(), 30)]);
    let pcm = tone();

    let heard = recognise(&config, &pcm, "attempt-1-turn-1").await.unwrap();
    assert_eq!(heard.text, "我已经还款了");
    assert_eq!(heard.wav_name, "attempt-1-turn-1");

    let sessions = received.lock().unwrap().clone();
    assert_eq!(sessions.len(), 1);
    let session = &sessions[0];
    assert!(session.problems.is_empty(), "{:?}", session.problems);
    assert!(session.ended);
    assert_eq!(session.audio_bytes, pcm.len() * 2, "every sample arrives, as 16-bit PCM");
    assert_eq!(session.frames, 17, "60 ms frames: 480 samples each, the last one short");
    assert_eq!(session.start["mode"], "offline");
    assert_eq!(session.start["wav_format"], "pcm");
    assert_eq!(session.start["audio_fs"], 8000);
    assert_eq!(session.start["is_speaking"], true);
    assert_eq!(session.start["itn"], true);
    assert_eq!(session.start["wav_name"], "attempt-1-turn-1");
    assert!(session.start["hotwords"].is_string(), "FunASR wants the hot words as a JSON string");
    let mut hotwords = session.hotwords.clone();
    hotwords.sort();
    assert_eq!(hotwords, vec![("还款".to_owned(), 20), ("逾期".to_owned(), 30)]);
    server.abort();
}

#[tokio::test]
async fn the_samples_arrive_little_endian() {
    let (address, server, received) = spawn_mock(vec![String::new()]).await.unwrap();
    let heard = recognise(&config_for(address), &[1, -2, 300], "bytes").await.unwrap();
    assert!(heard.is_empty(), "an empty result means nothing was recognised");
    let session = received.lock().unwrap()[0].clone();
    assert_eq!((session.audio_bytes, session.frames), (6, 1));
    assert!(session.problems.is_empty(), "{:?}", session.problems);
    server.abort();
}

#[tokio::test]
async fn silence_is_an_empty_text_not_an_error() {
    let (address, server, received) = spawn_mock(vec![]).await.unwrap();
    let heard = recognise(&config_for(address), &[], "silence").await.unwrap();
    assert_eq!(heard.text, "");
    assert_eq!(received.lock().unwrap()[0].audio_bytes, 0);
    server.abort();
}

#[tokio::test]
async fn two_pass_returns_the_corrected_text() {
    let (address, server, received) = spawn_mock(vec!["下周三还".into()]).await.unwrap();
    let mut config = config_for(address);
    config.mode = AsrMode::TwoPass;
    let heard = recognise(&config, &tone(), "2pass").await.unwrap();
    assert_eq!(heard.text, "下周三还", "the 2pass-online partial is not the answer");
    assert_eq!(received.lock().unwrap()[0].start["mode"], "2pass");
    server.abort();
}

#[tokio::test]
async fn online_joins_the_streamed_pieces() {
    let (address, server, _received) = spawn_mock(vec!["好的".into()]).await.unwrap();
    let mut config = config_for(address);
    config.mode = AsrMode::Online;
    assert_eq!(recognise(&config, &tone(), "online").await.unwrap().text, "好的");
    server.abort();
}

#[tokio::test]
async fn one_connection_carries_several_utterances() {
    let (address, server, received) = spawn_mock(vec!["你好".into(), "不需要".into()]).await.unwrap();
    let config = config_for(address).with_hotwords(vec![("还款".into(), 20)]);
    let mut connection = FunAsrConnection::connect(&config).await.unwrap();
    assert_eq!(connection.recognise(&tone(), "turn-1").await.unwrap().text, "你好");
    assert_eq!(connection.recognise(&tone()[..800], "turn-2").await.unwrap().text, "不需要");
    connection.close().await;
    let sessions = received.lock().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    assert_eq!((sessions[0].connection, sessions[1].connection), (0, 0));
    assert_eq!(sessions[1].audio_bytes, 1600);
    assert!(sessions.iter().all(|s| s.problems.is_empty()));
    server.abort();
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let (address, server, _received) = spawn_mock_with(vec![MockReply::Silent]).await.unwrap();
    let mut config = config_for(address);
    config.timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let error = recognise(&config, &tone(), "slow").await.unwrap_err();
    assert!(matches!(error, AsrError::Timeout { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let message = error.to_string();
    assert!(message.contains(&config.url) && message.contains("0.3 s"), "{message}");
    server.abort();
}

#[tokio::test]
async fn a_refused_connection_names_the_address() {
    // A port that was just free: nothing listens there any more.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let config = config_for(address);
    let error = recognise(&config, &tone(), "refused").await.unwrap_err();
    assert!(matches!(error, AsrError::Connect { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&format!("ws://{address}")), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[tokio::test]
async fn a_malformed_reply_is_a_protocol_error() {
    let (address, server, _received) =
        spawn_mock_with(vec![MockReply::Raw("{\"mode\": offline".into())]).await.unwrap();
    let config = config_for(address);
    let error = recognise(&config, &tone(), "bad").await.unwrap_err();
    assert!(matches!(error, AsrError::Protocol { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&config.url) && message.contains("not JSON"), "{message}");
    server.abort();
}

#[tokio::test]
async fn a_server_that_hangs_up_is_reported() {
    let (address, server, _received) = spawn_mock_with(vec![MockReply::Close]).await.unwrap();
    let config = config_for(address);
    let error = recognise(&config, &tone(), "gone").await.unwrap_err();
    assert!(matches!(error, AsrError::Closed { .. }), "{error:?}");
    assert!(error.to_string().contains(&config.url));
    server.abort();
}

#[tokio::test]
async fn a_broken_connection_is_not_reused() {
    let (address, server, _received) =
        spawn_mock_with(vec![MockReply::Raw("[]".into()), MockReply::Text("好".into())]).await.unwrap();
    let mut connection = FunAsrConnection::connect(&config_for(address)).await.unwrap();
    assert!(matches!(connection.recognise(&tone(), "a").await, Err(AsrError::Protocol { .. })));
    assert!(matches!(connection.recognise(&tone(), "b").await, Err(AsrError::Closed { .. })));
    server.abort();
}

#[tokio::test]
async fn the_mock_flags_a_client_that_breaks_the_protocol() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let (address, server, received) = spawn_mock(vec![]).await.unwrap();
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}")).await.unwrap();
    let start = json!({"mode": "fast", "wav_name": "x", "is_speaking": true, "hotwords": {"还款": 20}});
    socket.send(Message::text(start.to_string())).await.unwrap();
    socket.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    socket.send(Message::text(json!({"is_speaking": false}).to_string())).await.unwrap();
    socket.close(None).await.unwrap();
    // The mock logs the utterance before it answers; wait for the log.
    for _ in 0..100 {
        if !received.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let problems = received.lock().unwrap()[0].problems.join("\n");
    for expected in ["`mode`", "wav_format", "audio_fs", "`hotwords`", "16-bit"] {
        assert!(problems.contains(expected), "{expected} not in:\n{problems}");
    }
    server.abort();
}

#[test]
fn hot_words_come_from_the_scripts_intents() {
    let source = include_str!("../../examples/loan_reminder/loan_reminder.call");
    let checked = check_source("loan_reminder.call", source);
    assert_eq!(checked.error_count(), 0);
    let program = callscript_compiler::lower::lower(&checked, checked.files[0].id);
    let words = hotwords_from_intents(&program.intents);
    assert!(!words.is_empty() && words.len() <= MAX_HOTWORDS);
    let mut distinct: Vec<&str> = words.iter().map(|(w, _)| w.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), words.len(), "each hot word once");
    assert!(words.iter().all(|(w, weight)| w.chars().count() >= 2 && *weight == 20));
}
