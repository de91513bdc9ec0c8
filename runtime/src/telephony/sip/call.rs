//! One outbound call: INVITE with our ring timer and CANCEL, the disposition from the final
//! response (CAMPAIGN.md §2), then the script's conversation over RTP — prompts out, the
//! customer's speech and keys in, barge-in, transfer by REFER, and BYE.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rsipstack::dialog::dialog::DialogState;
use rsipstack::dialog::invitation::{InviteAsyncResult, InviteOption};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::rsip::{self, Header, Request, StatusCode};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::rtp::{Frame, Inbound, OutStream, spawn_receiver};
use super::sdp;
use super::ua::{CallStates, UserAgent};
use callscript_compiler::bytecode::{Program, ScriptCode};
use callscript_compiler::value::Value;

use crate::actions::{Backends, Recipient};
use crate::call::{CallDriver, Command, Input};
use crate::campaign::Loaded;
use crate::telephony::asr::{FunAsrConfig, hotwords_from_intents};
use crate::telephony::emotion::{AngerWords, EmotionEar, EmotionThresholds};
use crate::telephony::media::dtmf;
use crate::telephony::media::g711::Codec;
use crate::telephony::media::vad::{Vad, VadConfig, VadEvent};
use crate::telephony::media::voice;
use crate::telephony::recording::{Recorder, RecordingWriter};
use crate::telephony::speech::{Speaker, SpeechError};
use crate::telephony::{CallId, CallResult, DialRequest, Disposition};
use crate::telephony::{Delivery, MASKED};
use crate::vm::SpeechPiece;

/// What every call of a campaign shares besides the user agent.
pub struct Services {
    pub speech: Arc<Speech>,
    /// The bank's systems: actions and the text-message gateway (CAMPAIGN.md §5).
    pub backends: Arc<Backends>,
    /// Records answered calls, encrypted, when `[recording]` is on.
    pub recorder: Option<Recorder>,
    /// A worker's metrics (`--metrics`): each turn of the VM is timed here, where it runs.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// How prompts are voiced and the customer's speech is understood on real calls.
pub struct Speech {
    pub tts: Tts,
    pub asr: Asr,
    pub vad: VadConfig,
    /// How much louder and higher than the customer's earlier speech is angry (§15).
    pub emotion: EmotionThresholds,
    /// The words that are angry whatever the voice (§15).
    pub anger_words: Arc<AngerWords>,
}

impl Default for Speech {
    fn default() -> Self {
        Speech {
            tts: Tts::Silence,
            asr: Asr::KeysOnly,
            vad: VadConfig::default(),
            emotion: EmotionThresholds::default(),
            anger_words: Arc::new(AngerWords::new(&[])),
        }
    }
}

/// Speech out.
pub enum Tts {
    /// No voice: silence for as long as the prompt would take to say (`tts = "text"`, for
    /// signalling tests; the timing of barge-in and hangups stays realistic).
    Silence,
    /// espeak-ng or recorded clips (`tts = "espeak"` / `"clips"`), static parts cached.
    Voice(Arc<Speaker>),
}

/// Speech in.
pub enum Asr {
    /// Only keys are understood; speech still interrupts prompts.
    KeysOnly,
    /// An external recogniser speaking the FunASR WebSocket protocol, with the script's
    /// intent phrases as hot words; its text goes through the built-in intent matcher.
    FunAsr(FunAsrConfig),
}

/// Silence (8 kHz) for as long as saying `text` would take.
fn silence_as_long_as(text: &str) -> Vec<i16> {
    vec![0; (crate::call::virtual_time::speak_ms(text) * 8) as usize]
}

impl Speech {
    async fn voice(&self, text: &str, pieces: &[SpeechPiece]) -> Result<Vec<i16>, String> {
        match &self.tts {
            Tts::Silence => Ok(silence_as_long_as(text)),
            Tts::Voice(speaker) => {
                // espeak-ng is a process: keep it off the runtime's workers.
                let speaker = Arc::clone(speaker);
                let pieces = pieces.to_vec();
                tokio::task::spawn_blocking(move || speaker.speak(&pieces))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Speech settings of a campaign; hot words come from the compiled program's intents.
    /// `scripts`: every script the campaign runs (two or more in an A/B campaign), each with
    /// its program; the recogniser's hotwords and the anger vocabulary come from all of them.
    pub fn from_campaign(loaded: &Loaded, scripts: &[(&Program, &ScriptCode)]) -> Result<Speech, SpeechError> {
        let campaign = &loaded.campaign;
        let intents: Vec<_> = scripts.iter().flat_map(|(program, _)| program.intents.iter().cloned()).collect();
        let asr = match &campaign.speech.asr {
            crate::campaign::Asr::FunAsr(url) => {
                Asr::FunAsr(FunAsrConfig::new(url).with_hotwords(hotwords_from_intents(&intents)))
            }
            crate::campaign::Asr::Text | crate::campaign::Asr::Dtmf => Asr::KeysOnly,
        };
        let tts = match campaign.speech.tts {
            crate::campaign::Tts::Text => Tts::Silence,
            crate::campaign::Tts::Espeak | crate::campaign::Tts::Clips => {
                let speaker = Speaker::new(loaded)?;
                // Static parts are rendered once, before the first call.
                for (program, script) in scripts {
                    speaker.prepare(program, script)?;
                }
                Tts::Voice(Arc::new(speaker))
            }
        };
        let vad = VadConfig {
            threshold_dbfs: campaign.speech.vad_threshold,
            hangover_ms: campaign.speech.vad_hangover.as_millis().clamp(0, u32::MAX as i128) as u32,
            ..VadConfig::default()
        };
        let emotion = EmotionThresholds {
            loudness_db: campaign.speech.emotion_loudness_db,
            pitch_ratio: campaign.speech.emotion_pitch_ratio,
        };
        let anger_words = Arc::new(AngerWords::new(&intents));
        Ok(Speech { tts, asr, vad, emotion, anger_words })
    }

    /// The customer's words in an utterance, if this deployment can hear them. A recogniser
    /// that fails leaves the turn unrecognised; the call goes on.
    async fn recognise(&self, pcm: &[i16], name: &str) -> Option<String> {
        match &self.asr {
            Asr::KeysOnly => None,
            Asr::FunAsr(config) => match crate::telephony::asr::recognise(config, pcm, name).await {
                Ok(r) => Some(r.text),
                Err(e) => {
                    tracing::warn!(utterance = name, "speech recognition failed: {e}");
                    None
                }
            },
        }
    }

    fn hears_speech(&self) -> bool {
        matches!(self.asr, Asr::FunAsr(_))
    }

    /// What an answered call's utterance says and how it sounds: the recogniser and the voice
    /// measurement run together, the measurement off the runtime's workers.
    async fn understand(&self, pcm: Vec<i16>, name: &str) -> (String, Option<voice::Voice>) {
        let pcm = Arc::new(pcm);
        let speech_dbfs = self.vad.threshold_dbfs;
        let measured = {
            let pcm = Arc::clone(&pcm);
            tokio::task::spawn_blocking(move || voice::analyse(&pcm, speech_dbfs))
        };
        let (text, measured) = tokio::join!(self.recognise(&pcm, name), measured);
        (text.unwrap_or_default(), measured.ok().flatten())
    }
}

/// Places the call and runs it to its end.
pub async fn run(ua: Arc<UserAgent>, services: Arc<Services>, call: CallId, request: DialRequest) -> CallResult {
    let _line = ua.line().await;
    match place(&ua, &services, call, request).await {
        Ok(result) => result,
        Err(cause) => CallResult { disposition: Disposition::Failed, cause: Some(cause), ..CallResult::default() },
    }
}

async fn place(
    ua: &Arc<UserAgent>,
    services: &Services,
    call: CallId,
    request: DialRequest,
) -> Result<CallResult, String> {
    let speech = &services.speech;
    let socket = UdpSocket::bind((ua.media_ip, 0)).await.map_err(|e| format!("no RTP port: {e}"))?;
    let socket = Arc::new(socket);
    let rtp_addr = socket.local_addr().map_err(|e| e.to_string())?;
    let offer = sdp::offer(rtp_addr, call ^ 0x5eed_0000);
    let (states, state_tx) = ua.call_states();
    let option = InviteOption {
        call_id: Some(states.call_id().to_string()),
        ..ua.invite(&request.phone, offer).map_err(|e| e.to_string())?
    };
    let (dialog, invite) = ua.dialogs.do_invite_async(option, state_tx).map_err(|e| format!("INVITE: {e}"))?;
    let recording = services.recorder.is_some();
    let out = OutStream::new(Arc::clone(&socket), (call as u32).wrapping_mul(2_654_435_761), recording);
    let event_pt = Arc::new(Mutex::new(None));
    let (inbound_tx, inbound) = mpsc::channel(64);
    let mut receiver =
        Some(Receiver { socket: Arc::clone(&socket), event_pt: Arc::clone(&event_pt), inbound: inbound_tx });
    if speech.hears_speech() {
        // Early media (a carrier announcement) is only listened to when a recogniser can hear it.
        receiver.take().expect("just made").spawn();
    }
    let mut channel =
        Channel { states, inbound, vad: Vad::new(speech.vad), hung_up: false, answers_in_flight: 0, tape: None };

    let rang = Instant::now();
    let answer = ring(ua, speech, &dialog, invite, &mut channel).await;
    let ring_ms = rang.elapsed().as_millis() as u64;
    let response = match answer {
        Ringing::Answered(response) => response,
        Ringing::Ended(disposition, cause) => {
            out.close();
            return Ok(CallResult { disposition, cause, ring_ms, ..CallResult::default() });
        }
    };
    let negotiated = match sdp::answer(response.body()) {
        Ok(n) => n,
        Err(e) => {
            let _ = dialog.bye().await;
            out.close();
            return Ok(CallResult {
                disposition: Disposition::Failed,
                cause: Some(format!("answered with unusable SDP: {e}")),
                ring_ms,
                ..CallResult::default()
            });
        }
    };
    let codec = Codec::from_payload_type(negotiated.payload_type).unwrap_or(Codec::Pcmu);
    *event_pt.lock().unwrap_or_else(|e| e.into_inner()) = negotiated.event_payload_type;
    out.connect(negotiated.remote, codec);
    let mut recording_error = None;
    if let Some(recorder) = &services.recorder {
        let started_ms = jiff::Timestamp::now().as_millisecond();
        match recorder.start(request.attempt_row, &request.customer_id, started_ms) {
            Ok(writer) => conversation_tape(&mut channel, writer, &out),
            // The call goes on unrecorded; the attempt's cause says why.
            Err(e) => recording_error = Some(format!("not recorded: {e}")),
        }
    }
    let talk_started = Instant::now();
    let media = Some(Media { receiver });
    let driver = CallDriver::new(request.session, request.max_duration_ms);
    let recipient = Arc::new(Recipient {
        phone: request.phone.clone(),
        customer_id: request.customer_id.clone(),
        attempt: request.attempt,
        call_id: dialog.id().call_id.clone(),
    });
    let mut conversation = Conversation {
        ua,
        speech,
        backends: &services.backends,
        recipient,
        dialog: &dialog,
        out: &out,
        channel,
        driver,
        call,
        media,
        acting: None,
        messages: Vec::new(),
        ear: EmotionEar::new(),
        metrics: services.metrics.as_deref(),
    };
    let mut result = conversation.run().await;
    out.close();
    if let Some(tape) = conversation.channel.tape.take() {
        match tape.finish().await {
            Ok(recorded) => result.recording = Some(recorded),
            Err(e) => recording_error = Some(format!("recording failed: {e}")),
        }
    }
    if let Some(e) = recording_error {
        result.cause = Some(match result.cause.take() {
            Some(c) => format!("{c}; {e}"),
            None => e,
        });
    }
    ua.dialogs.remove_dialog(&dialog.id());
    result.ring_ms = ring_ms;
    result.talk_ms = talk_started.elapsed().as_millis() as u64;
    Ok(result)
}

/// The call's RTP receiver, spawned when the call needs to hear (see [`Media`]).
struct Receiver {
    socket: Arc<UdpSocket>,
    event_pt: Arc<Mutex<Option<u8>>>,
    inbound: mpsc::Sender<Inbound>,
}

impl Receiver {
    fn spawn(self) {
        spawn_receiver(self.socket, self.event_pt, self.inbound);
    }
}

/// An answered call's media, started with the script's first prompt, listen or transfer: a
/// script that hangs up at once (a wrong number, a closed campaign) sends no RTP and runs no
/// receiver, which at thousands of calls a second is most of a short call's cost after the
/// stack's own.
struct Media {
    /// None when it already runs (from the ringing, with a recogniser).
    receiver: Option<Receiver>,
}

enum Ringing {
    Answered(rsip::Response),
    Ended(Disposition, Option<String>),
}

/// Waits for the final response, cancelling at our own ring timeout (the stack sends no
/// CANCEL by itself). With a recogniser, early media (183) is heard: a carrier announcement
/// (空号, 停机, 无法接通, 用户忙…) decides the disposition and the INVITE is cancelled.
async fn ring(
    ua: &UserAgent,
    speech: &Arc<Speech>,
    dialog: &InviteDialog,
    invite: tokio::task::JoinHandle<InviteAsyncResult>,
    channel: &mut Channel,
) -> Ringing {
    let ring_timer = tokio::time::sleep(ua.config.ring_timeout);
    tokio::pin!(ring_timer);
    tokio::pin!(invite);
    // Why we cancelled, if we did: the ring timeout or an announcement.
    let mut cancelled: Option<(Disposition, String)> = None;
    let ring_timeout = (Disposition::NoAnswer, format!("ring timeout ({} s)", ua.config.ring_timeout.as_secs()));
    let mut hearing: Option<tokio::task::JoinHandle<Option<String>>> = None;
    let mut provisional = false;
    let mut ring_expired = false;
    // A CANCEL's own timer (RFC 3261 §9.1: 64×T1 for the INVITE's final response): a gateway
    // that ignores our CANCEL would otherwise hold the line until Timer C (180 s).
    let cancel_timer = tokio::time::sleep(Duration::MAX);
    tokio::pin!(cancel_timer);
    let cancel = async |cancelled: &mut Option<(Disposition, String)>,
                        why: (Disposition, String),
                        timer: std::pin::Pin<&mut tokio::time::Sleep>| {
        *cancelled = Some(why);
        timer.reset(tokio::time::Instant::now() + ua.config.t1x64);
        let _ = dialog.cancel().await;
    };
    loop {
        tokio::select! {
            done = &mut invite => {
                return match (done, cancelled) {
                    (Ok(Ok((_, Some(response)))), Some((disposition, cause))) if response.status_code.code() >= 300 => {
                        Ringing::Ended(disposition, Some(cause))
                    }
                    // The stack answers its own Timer B with a 408 when the gateway never responded.
                    (Ok(Ok((_, Some(response)))), _) if !provisional && response.status_code.code() == 408 => {
                        Ringing::Ended(Disposition::Failed, Some("no response from the gateway (Timer B)".into()))
                    }
                    (Ok(Ok((_, Some(response)))), _) => classify(response),
                    (Ok(Ok((_, None))), _) => Ringing::Ended(Disposition::Failed, Some("no final response".into())),
                    (Ok(Err(e)), Some((disposition, cause))) => Ringing::Ended(disposition, Some(format!("{cause}; {e}"))),
                    (Ok(Err(e)), None) => Ringing::Ended(Disposition::Failed, Some(failure_cause(&e))),
                    (Err(e), _) => Ringing::Ended(Disposition::Failed, Some(format!("INVITE task: {e}"))),
                };
            }
            _ = &mut ring_timer, if cancelled.is_none() && !ring_expired => {
                ring_expired = true;
                // A CANCEL needs a provisional response first (RFC 3261 §9.1); a gateway that
                // sent none is left to Timer B, and the attempt fails.
                if provisional {
                    cancel(&mut cancelled, ring_timeout.clone(), cancel_timer.as_mut()).await;
                }
            }
            _ = &mut cancel_timer, if cancelled.is_some() => {
                // Given up: the stack's own clean-up (a CANCEL again, then a BYE should a 2xx
                // still come, both within 64×T1) runs when the INVITE's task ends.
                invite.abort();
                let (disposition, cause) = cancelled.take().expect("guarded");
                let waited = ua.config.t1x64.as_secs_f64();
                return Ringing::Ended(disposition, Some(format!("{cause}; the gateway did not answer our CANCEL within {waited} s")));
            }
            heard = async { hearing.as_mut().expect("guarded").await }, if hearing.is_some() => {
                hearing = None;
                let text = heard.ok().flatten().unwrap_or_default();
                if let Some(disposition) = announcement(&text)
                    && cancelled.is_none()
                {
                    cancel(&mut cancelled, (disposition, format!("carrier announcement: {text}")), cancel_timer.as_mut()).await;
                }
            }
            state = channel.states.recv() => {
                if matches!(state, Some(DialogState::Trying(_) | DialogState::Early(..))) {
                    provisional = true;
                    if ring_expired && cancelled.is_none() {
                        cancel(&mut cancelled, ring_timeout.clone(), cancel_timer.as_mut()).await;
                    }
                }
            }
            input = channel.inbound.recv() => {
                if let Some(Inbound::Audio(frame)) = input
                    && speech.hears_speech()
                    && hearing.is_none()
                    && let Some(Happening::Utterance(pcm)) = channel.hear(&frame)
                {
                    let speech = Arc::clone(speech);
                    hearing = Some(tokio::spawn(async move { speech.recognise(&pcm, "early-media").await }));
                }
            }
        }
    }
}

/// What a carrier's recorded announcement says about the number (the usual Mandarin wording).
pub fn announcement(text: &str) -> Option<Disposition> {
    const TABLE: &[(&[&str], Disposition)] = &[
        (&["空号", "不存在", "号码有误"], Disposition::InvalidNumber),
        (&["停机"], Disposition::InvalidNumber),
        (&["用户忙", "正在通话", "通话中"], Disposition::Busy),
        (&["无法接通", "不在服务区", "关机", "暂时无法"], Disposition::NoAnswer),
    ];
    TABLE.iter().find(|(words, _)| words.iter().any(|w| text.contains(w))).map(|(_, d)| *d)
}

/// CAMPAIGN.md §2: the disposition a final response means.
fn classify(response: rsip::Response) -> Ringing {
    let code = response.status_code.code();
    let cause = Some(format!("{} {}", code, reason(&response.status_code)));
    let disposition = match code {
        200..=299 => return Ringing::Answered(response),
        486 | 600 => Disposition::Busy,
        404 | 484 | 604 => Disposition::InvalidNumber,
        603 => Disposition::Rejected,
        // Only our own ring timer means no_answer; every other failure is `failed` with its code.
        _ => Disposition::Failed,
    };
    Ringing::Ended(disposition, cause)
}

fn reason(status: &StatusCode) -> String {
    let text = status.to_string();
    text.split_once(' ').map(|(_, r)| r.to_string()).unwrap_or(text)
}

fn failure_cause(e: &rsipstack::Error) -> String {
    let text = e.to_string();
    if text.to_ascii_lowercase().contains("timeout") {
        format!("no response from the gateway (Timer B): {text}")
    } else if text.contains("missing header: Contact") {
        // The stack cannot build a dialog without the remote target; the gateway is at fault.
        "the gateway answered without a Contact header (RFC 3261 §12.1.2 requires one); the call could not go on".into()
    } else {
        text
    }
}

/// Everything the call task waits on.
struct Channel {
    states: CallStates,
    inbound: mpsc::Receiver<Inbound>,
    vad: Vad,
    hung_up: bool,
    /// In-dialog requests we answered whose dialog has not yet reported Confirmed again: the
    /// stack handles each request in its own task, so a second NOTIFY's state can arrive before
    /// the first one's Confirmed, and only the count says when every answer has left.
    answers_in_flight: usize,
    /// The answered call's recording, fed as audio comes in.
    tape: Option<Tape>,
}

/// Starts recording: both directions go to a writer task off the runtime's workers.
fn conversation_tape(channel: &mut Channel, writer: RecordingWriter, out: &Arc<OutStream>) {
    let (tx, mut rx) = mpsc::channel::<(Vec<i16>, Vec<i16>)>(16);
    let task = tokio::task::spawn_blocking(move || {
        let mut writer = writer;
        while let Some((ours, theirs)) = rx.blocking_recv() {
            writer.write(&ours, &theirs)?;
        }
        let path = writer.path().display().to_string();
        let bytes = writer.finish()?;
        Ok((path, bytes))
    });
    let every = Duration::from_secs(1);
    let flush = tokio::time::interval_at(Instant::now() + every, every);
    channel.tape = Some(Tape { out: Arc::clone(out), theirs: Vec::new(), tx, task, flush });
}

/// Pairs what we sent (taken from the out stream) with what the customer sent, a second at a
/// time, so the stereo file keeps both sides in step.
struct Tape {
    out: Arc<OutStream>,
    theirs: Vec<i16>,
    tx: mpsc::Sender<(Vec<i16>, Vec<i16>)>,
    task: tokio::task::JoinHandle<Result<(String, u64), crate::telephony::recording::RecordingError>>,
    /// A second's clock for the hand-overs, kept across waits on the channel.
    flush: tokio::time::Interval,
}

impl Tape {
    fn hear(&mut self, frame: &Frame) {
        self.theirs.extend_from_slice(frame);
    }

    /// Hands the last second to the writer. The customer's side is cut or padded to our
    /// length: our packets leave on the pacer's clock, theirs arrive on the network's.
    async fn flush(&mut self) {
        let ours = self.out.take_sent();
        let n = ours.len().min(self.theirs.len());
        let mut theirs: Vec<i16> = self.theirs.drain(..n).collect();
        theirs.resize(ours.len(), 0);
        if !ours.is_empty() {
            let _ = self.tx.send((ours, theirs)).await;
        }
    }

    async fn finish(mut self) -> Result<(String, u64), String> {
        self.flush().await;
        let Tape { tx, task, .. } = self;
        drop(tx);
        task.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
    }
}

/// Something that happened on the call.
enum Happening {
    SpeechStarted,
    Utterance(Vec<i16>),
    Key(char),
    Hangup,
    /// A NOTIFY about our REFER: the sipfrag's status, and whether the subscription ended.
    TransferProgress(u16, bool),
    PlayDone,
    /// The running action answered (or failed).
    ActionAnswered(Result<Vec<(String, Value)>, String>),
    Deadline,
}

/// The running action's request, answered off the call's task (CAMPAIGN.md §5).
type Acting = tokio::task::JoinHandle<Result<Vec<(String, Value)>, String>>;

impl Channel {
    /// The next thing that happens, or `Deadline` at `until`.
    async fn next(
        &mut self,
        until: Option<Instant>,
        playing: Option<&mut oneshot::Receiver<()>>,
        mut acting: Option<&mut Acting>,
    ) -> Happening {
        if self.hung_up {
            return Happening::Hangup;
        }
        let sleep = tokio::time::sleep_until(until.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400)));
        tokio::pin!(sleep);
        let mut playing = playing;
        loop {
            tokio::select! {
                _ = &mut sleep => return Happening::Deadline,
                _ = async { self.tape.as_mut().expect("guarded").flush.tick().await }, if self.tape.is_some() => {
                    if let Some(tape) = self.tape.as_mut() {
                        tape.flush().await;
                    }
                }
                _ = async { playing.as_mut().expect("guarded").await }, if playing.is_some() => {
                    return Happening::PlayDone;
                }
                answered = async { acting.as_mut().expect("guarded").await }, if acting.is_some() => {
                    return Happening::ActionAnswered(answered.unwrap_or_else(|e| Err(format!("the action's task: {e}"))));
                }
                state = self.states.recv() => {
                    let Some(state) = state else {
                        self.hung_up = true;
                        return Happening::Hangup;
                    };
                    if let Some(h) = self.dialog_state(state).await {
                        return h;
                    }
                }
                input = self.inbound.recv() => {
                    match input {
                        Some(Inbound::Key(k)) => return Happening::Key(k),
                        Some(Inbound::Audio(frame)) => {
                            if let Some(tape) = self.tape.as_mut() {
                                tape.hear(&frame);
                            }
                            if let Some(h) = self.hear(&frame) {
                                return h;
                            }
                        }
                        None => {
                            self.hung_up = true;
                            return Happening::Hangup;
                        }
                    }
                }
            }
        }
    }

    /// Waits (briefly) until the dialog is back in Confirmed after every in-dialog request we
    /// answered: our answers have been sent.
    async fn settle(&mut self) {
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while self.answers_in_flight > 0 {
                let Some(state) = self.states.recv().await else { return };
                // dialog_state counts Confirmed down, and answers a request that comes in
                // meanwhile like any other; a hang-up ends the wait.
                if matches!(self.dialog_state(state).await, Some(Happening::Hangup)) {
                    return;
                }
            }
        })
        .await;
    }

    fn hear(&mut self, frame: &Frame) -> Option<Happening> {
        match self.vad.push(frame) {
            VadEvent::SpeechStarted => Some(Happening::SpeechStarted),
            VadEvent::UtteranceEnded { samples } => Some(Happening::Utterance(samples)),
            _ => None,
        }
    }

    async fn dialog_state(&mut self, state: DialogState) -> Option<Happening> {
        match state {
            DialogState::Terminated(_, reason) => {
                self.hung_up = true;
                let _ = reason;
                Some(Happening::Hangup)
            }
            DialogState::Confirmed(..) => {
                self.answers_in_flight = self.answers_in_flight.saturating_sub(1);
                None
            }
            DialogState::Info(_, request, handle) => {
                self.answers_in_flight += 1;
                let _ = handle.reply(StatusCode::OK).await;
                let content_type = header_value(&request, "content-type").unwrap_or_default();
                let body = String::from_utf8_lossy(request.body()).to_string();
                dtmf::parse_sip_info(&content_type, &body).and_then(|keys| keys.chars().next()).map(Happening::Key)
            }
            DialogState::Notify(_, request, handle) => {
                self.answers_in_flight += 1;
                let _ = handle.reply(StatusCode::OK).await;
                let body = String::from_utf8_lossy(request.body()).to_string();
                let status = body
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("SIP/2.0 "))
                    .and_then(|l| l.get(..3))
                    .and_then(|c| c.parse::<u16>().ok())?;
                let ended = header_value(&request, "subscription-state").is_some_and(|s| s.starts_with("terminated"));
                Some(Happening::TransferProgress(status, ended))
            }
            DialogState::Options(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
                None
            }
            DialogState::Updated(_, request, handle) => {
                // The stack reports Confirmed after an UPDATE, not after a re-INVITE.
                if request.method == rsip::Method::Update {
                    self.answers_in_flight += 1;
                }
                // A re-INVITE or UPDATE: we keep the media as it is.
                let _ = handle.reply(StatusCode::NotAcceptableHere).await;
                None
            }
            DialogState::Refer(_, _, handle) | DialogState::Message(_, _, handle) => {
                self.answers_in_flight += 1;
                let _ = handle.reply(StatusCode::NotImplemented).await;
                None
            }
            DialogState::Publish(_, _, handle) => {
                let _ = handle.reply(StatusCode::NotImplemented).await;
                None
            }
            _ => None,
        }
    }
}

fn header_value(request: &Request, name: &str) -> Option<String> {
    request.headers.iter().find_map(|h| {
        let text = h.to_string();
        let (key, value) = text.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_string())
    })
}

/// The script's side of an answered call: pumps the [`CallDriver`] with what happens on the line.
struct Conversation<'a> {
    ua: &'a UserAgent,
    speech: &'a Speech,
    backends: &'a Arc<Backends>,
    /// Who is called, for actions and text messages.
    recipient: Arc<Recipient>,
    dialog: &'a InviteDialog,
    out: &'a Arc<OutStream>,
    channel: Channel,
    driver: CallDriver,
    call: CallId,
    /// Not yet started (see [`Media`]).
    media: Option<Media>,
    /// The action being waited for, if any: the call goes on hearing meanwhile.
    acting: Option<Acting>,
    /// The text messages handed to the gateway, in the order the script sent them.
    messages: Vec<tokio::task::JoinHandle<Result<(), String>>>,
    /// The customer's earlier voice on this call, the baseline for emotion (§15).
    ear: EmotionEar,
    metrics: Option<&'a crate::metrics::Metrics>,
}

impl Conversation<'_> {
    async fn run(&mut self) -> CallResult {
        let answered = Instant::now();
        let elapsed = || answered.elapsed().as_millis() as u64;
        let mut playing: Option<oneshot::Receiver<()>> = None;
        let mut hangup_sent = false;
        self.driver.start(0);
        loop {
            while let Some(command) = self.driver.poll_command() {
                match command {
                    Command::Play { text, pieces, .. } => {
                        self.start_media();
                        let pcm = match self.speech.voice(&text, &pieces).await {
                            Ok(pcm) => pcm,
                            Err(e) => {
                                // The prompt is still logged; the customer hears its length in silence.
                                tracing::warn!(call = self.call, "could not voice a prompt: {e}");
                                silence_as_long_as(&text)
                            }
                        };
                        playing = Some(self.out.play(&pcm));
                    }
                    Command::StopPlaying => {
                        self.out.stop_playing();
                        playing = None;
                    }
                    Command::Listen { .. } => self.start_media(),
                    Command::CallAction { action, inputs, timeout_ms } => self.call_action(&action, inputs, timeout_ms),
                    Command::Sms { text, log_text } => {
                        tracing::info!(call = self.call, "sms: {}", log_text.as_deref().unwrap_or(&text));
                        let (backends, who) = (Arc::clone(self.backends), Arc::clone(&self.recipient));
                        self.messages.push(tokio::spawn(async move { backends.send_sms(&who, &text).await }));
                    }
                    Command::Transfer { queue, data } => {
                        self.start_media();
                        let transferred = self.transfer(&queue, &data).await;
                        self.driver.handle(elapsed(), Input::TransferResult(transferred));
                    }
                    Command::Hangup => hangup_sent = self.hang_up().await,
                }
            }
            if self.driver.is_over() {
                break;
            }
            let until = self.driver.next_timer().map(|ms| answered + Duration::from_millis(ms));
            let input = match self.channel.next(until, playing.as_mut(), self.acting.as_mut()).await {
                Happening::PlayDone => {
                    playing = None;
                    Input::PromptFinished
                }
                Happening::ActionAnswered(result) => {
                    self.acting = None;
                    Input::ActionResult(result)
                }
                Happening::SpeechStarted => Input::SpeechStarted,
                Happening::Utterance(pcm) if self.driver.hears_speech() => {
                    let (text, voice) = self.speech.understand(pcm, &format!("call-{}", self.call)).await;
                    let emotion = self.ear.hear(&self.speech.anger_words, self.speech.emotion, &text, voice);
                    // The words stay out of the log: the answer may hold a sensitive value.
                    let felt = emotion.as_ref().map(|e| e.emotion.name());
                    tracing::debug!(call = self.call, ?voice, ?felt, "an utterance was heard");
                    Input::Heard { text, emotion }
                }
                // Not heard (a disclosure plays on): the driver only learns the customer stopped.
                Happening::Utterance(_) => Input::Heard { text: String::new(), emotion: None },
                Happening::TransferProgress(..) => continue,
                Happening::Key(k) => Input::Key(k),
                Happening::Hangup => Input::CustomerHangup,
                Happening::Deadline => Input::Tick,
            };
            let turn = Instant::now();
            self.driver.handle(elapsed(), input);
            if let Some(metrics) = self.metrics {
                metrics.vm_turn(turn.elapsed());
            }
        }
        let mut result = self.driver.result();
        if !hangup_sent && !self.channel.hung_up && result.disposition != Disposition::CustomerHangup {
            self.hang_up().await;
        }
        if let Some(acting) = self.acting.take() {
            // The call ended first (a hang-up, `max_duration`): nobody waits for the answer.
            acting.abort();
        }
        // Each message's request is bounded by the gateway's timeout.
        for (message, sending) in result.messages.iter_mut().zip(self.messages.drain(..)) {
            message.delivery = match sending.await {
                Ok(Ok(())) => Delivery::Sent,
                Ok(Err(why)) => Delivery::Failed(why),
                Err(e) => Delivery::Failed(format!("the sending task: {e}")),
            };
        }
        if result.disposition == Disposition::CustomerHangup {
            result.cause = Some("BYE from the customer".into());
        }
        result
    }

    /// Starts sending (from the pacer, in the next phase) and hearing, once.
    fn start_media(&mut self) {
        if let Some(media) = self.media.take() {
            self.ua.pacer.add(self.out);
            if let Some(receiver) = media.receiver {
                receiver.spawn();
            }
        }
    }

    /// Asks the bank's system for the action's answer, off this task; the driver keeps the
    /// deadline, and the call goes on hearing the customer meanwhile.
    fn call_action(&mut self, action: &str, inputs: Vec<crate::vm::ActionInput>, timeout_ms: u64) {
        let code = self.driver.script().actions.iter().find(|a| a.name == action).cloned();
        let (backends, who) = (Arc::clone(self.backends), Arc::clone(&self.recipient));
        let action = action.to_string();
        self.acting = Some(tokio::spawn(async move {
            let Some(code) = code else { return Err(format!("the script has no action `{action}`")) };
            backends.call_action(&code, &who, &inputs, Duration::from_millis(timeout_ms)).await
        }));
    }

    /// REFER to the queue's URI, the transfer's data as `X-CallScript-KEY` headers of the
    /// target (LANGUAGE.md §13); Ok once a NOTIFY reports the transferee answered.
    async fn transfer(&mut self, queue: &str, data: &[crate::vm::Handover]) -> Result<(), String> {
        let Some(uri) = self.ua.config.transfer.get(queue) else {
            return Err(format!("no [transfer] entry for queue `{queue}`"));
        };
        let mut target = rsip::Uri::try_from(uri.as_str()).map_err(|e| format!("[transfer] {queue} = `{uri}`: {e}"))?;
        target.headers.extend(handover_headers(data));
        let dialog = self.dialog.clone();
        let referred = tokio::spawn(async move {
            let headers = vec![Header::Other("Referred-By".into(), "<sip:callscript@localhost>".into())];
            dialog.refer(target, Some(headers), None).await
        });
        // The REFER's own answer (202) comes first; then NOTIFYs with the transferee's progress.
        let answer = match referred.await {
            Ok(Ok(Some(response))) => response.status_code.code(),
            Ok(Ok(None)) => return Err("REFER got no answer".into()),
            Ok(Err(e)) => return Err(format!("REFER failed: {e}")),
            Err(e) => return Err(format!("REFER task: {e}")),
        };
        if !(200..300).contains(&answer) {
            return Err(format!("REFER refused: {answer}"));
        }
        let give_up = Instant::now() + Duration::from_secs(60);
        loop {
            match self.channel.next(Some(give_up), None, None).await {
                Happening::TransferProgress(code, ended) => {
                    if (200..300).contains(&code) {
                        // Our 200 to that NOTIFY leaves before the BYE that follows.
                        self.channel.settle().await;
                        return Ok(());
                    }
                    if code >= 300 || ended {
                        return Err(format!("transfer failed: the queue answered {code}"));
                    }
                }
                Happening::Hangup => return Ok(()),
                Happening::Deadline => return Err("transfer timed out waiting for NOTIFY".into()),
                _ => {}
            }
        }
    }

    /// Sends BYE; true when it went out (a failed BYE is logged in the cause by the caller).
    async fn hang_up(&mut self) -> bool {
        self.out.stop_playing();
        self.dialog.bye().await.is_ok()
    }
}

/// The data of `transfer … with { … }` as URI headers of the REFER's target: `X-CallScript-KEY`,
/// the value percent-encoded (RFC 3261 §19.1.1: only unreserved characters stay as they are),
/// a sensitive value masked.
pub fn handover_headers(data: &[crate::vm::Handover]) -> Vec<(String, String)> {
    const HVALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'!')
        .remove(b'~')
        .remove(b'*')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')');
    data.iter()
        .map(|h| {
            let value = if h.sensitive { MASKED } else { h.value.as_str() };
            (format!("X-CallScript-{}", h.key), percent_encoding::utf8_percent_encode(value, HVALUE).to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handover_values_are_url_encoded_and_sensitive_ones_masked() {
        let h =
            |key: &str, value: &str, sensitive| crate::vm::Handover { key: key.into(), value: value.into(), sensitive };
        let headers = handover_headers(&[h("reason", "客户要求 & 转接", false), h("tail", "8831", true)]);
        assert_eq!(
            headers,
            [
                (
                    "X-CallScript-reason".to_string(),
                    "%E5%AE%A2%E6%88%B7%E8%A6%81%E6%B1%82%20%26%20%E8%BD%AC%E6%8E%A5".to_string()
                ),
                ("X-CallScript-tail".to_string(), "****".to_string()),
            ]
        );
    }

    #[test]
    fn a_2xx_without_contact_is_explained() {
        let e = rsipstack::Error::Error("SIP message error: rsip error: missing header: Contact".into());
        assert!(failure_cause(&e).starts_with("the gateway answered without a Contact header"));
    }

    #[test]
    fn carrier_announcements_classify() {
        assert_eq!(announcement("您拨打的号码是空号,请查证后再拨"), Some(Disposition::InvalidNumber));
        assert_eq!(announcement("您拨打的电话已停机"), Some(Disposition::InvalidNumber));
        assert_eq!(announcement("您拨打的用户正在通话中,请稍后再拨"), Some(Disposition::Busy));
        assert_eq!(announcement("您拨打的电话暂时无法接通"), Some(Disposition::NoAnswer));
        assert_eq!(announcement("您拨打的电话已关机"), Some(Disposition::NoAnswer));
        assert_eq!(announcement("喂,你好"), None);
    }

    #[test]
    fn final_responses_classify_as_campaign_md_says() {
        let disposition = |code: u16| match classify(rsip::Response { status_code: code.into(), ..Default::default() })
        {
            Ringing::Answered(_) => Disposition::Answered,
            Ringing::Ended(d, _) => d,
        };
        assert_eq!(disposition(200), Disposition::Answered);
        for (codes, expected) in [
            (&[486, 600][..], Disposition::Busy),
            (&[404, 484, 604], Disposition::InvalidNumber),
            (&[603], Disposition::Rejected),
            (&[403, 408, 480, 500, 503], Disposition::Failed),
        ] {
            for code in codes {
                assert_eq!(disposition(*code), expected, "{code}");
            }
        }
    }
}
