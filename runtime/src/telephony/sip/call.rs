//! One outbound call: INVITE with our ring timer and CANCEL, the disposition from the final
//! response (CAMPAIGN.md §2), then the script's conversation over RTP — prompts out, the
//! customer's speech and keys in, barge-in, transfer by REFER, and BYE.

use std::sync::Arc;
use std::time::Duration;

use rsipstack::rsip;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::rtp::{Inbound, MediaStream, RecordingTap};
use super::sdp;
use super::stack::{Event, Failure};
use super::ua::{CallLeg, UserAgent};
use callscript_compiler::bytecode::{Program, ScriptCode};
use callscript_compiler::value::Value;

use crate::actions::{Backends, Recipient};
use crate::call::{CallDriver, Command, Input};
use crate::campaign::Loaded;
use crate::telephony::asr::{FunAsrConfig, hotwords_from_intents};
use crate::telephony::emotion::{AngerWords, EmotionEar, EmotionThresholds};
use crate::telephony::media::dtmf;
use crate::telephony::media::g711::Codec;
use crate::telephony::media::vad::VadConfig;
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
    let out = ua.media.open((call as u32).wrapping_mul(2_654_435_761)).map_err(|e| e.to_string())?;
    let offer = sdp::offer(out.local_addr(), call ^ 0x5eed_0000);
    let leg = ua.invite(call, &request.phone, offer).map_err(|e| e.to_string())?;
    let call_id = ua.stack.call_id(call);
    let (inbound_tx, inbound) = mpsc::channel(64);
    let mut hearing = Some(inbound_tx);
    if speech.hears_speech() && out.hears_before_answer() {
        // Early media (a carrier announcement) is only listened to when a recogniser can hear
        // it, and on a port of the call's own (a shared one routes by the answer's address).
        out.hear(speech.vad, hearing.take().expect("just made"));
    }
    let mut channel = Channel { leg, inbound, hung_up: false, tape: None };

    let rang = Instant::now();
    let answer = ring(ua, speech, &mut channel).await;
    let ring_ms = rang.elapsed().as_millis() as u64;
    let response = match answer {
        Ringing::Answered(body) => body,
        // The stream stops as `out` drops, on every way out of here.
        Ringing::Ended(disposition, cause) => {
            return Ok(CallResult { disposition, cause, ring_ms, ..CallResult::default() });
        }
    };
    let negotiated = match sdp::answer(&response) {
        Ok(n) => n,
        Err(e) => {
            channel.leg.bye(ua.config.t1x64).await;
            return Ok(CallResult {
                disposition: Disposition::Failed,
                cause: Some(format!("answered with unusable SDP: {e}")),
                ring_ms,
                ..CallResult::default()
            });
        }
    };
    let codec = Codec::from_payload_type(negotiated.payload_type).unwrap_or(Codec::Pcmu);
    if let Err(e) = out.connect(negotiated.remote, codec, negotiated.event_payload_type) {
        channel.leg.bye(ua.config.t1x64).await;
        return Ok(CallResult {
            disposition: Disposition::Failed,
            cause: Some(e.to_string()),
            ring_ms,
            ..CallResult::default()
        });
    }
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
    let media = Some(Media { hearing });
    let driver = CallDriver::new(request.session, request.max_duration_ms);
    let recipient = Arc::new(Recipient {
        phone: request.phone.clone(),
        customer_id: request.customer_id.clone(),
        attempt: request.attempt,
        call_id,
    });
    let mut conversation = Conversation {
        ua,
        speech,
        backends: &services.backends,
        recipient,
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
    // Stopped before the tape takes its last second.
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
    result.ring_ms = ring_ms;
    result.talk_ms = talk_started.elapsed().as_millis() as u64;
    Ok(result)
}

/// An answered call's media, started with the script's first prompt, listen or transfer: a
/// script that hangs up at once (a wrong number, a closed campaign) sends no RTP and runs no
/// receiver, which at thousands of calls a second is most of a short call's cost after the
/// stack's own.
struct Media {
    /// Where the stream tells what it hears; None when it already hears (from the ringing,
    /// with a recogniser).
    hearing: Option<mpsc::Sender<Inbound>>,
}

enum Ringing {
    /// With the answer's body (SDP).
    Answered(Vec<u8>),
    Ended(Disposition, Option<String>),
}

/// Waits for the final response, cancelling at our own ring timeout (after a provisional
/// response: RFC 3261 §9.1; a gateway that sent none is left to Timer B, and the attempt
/// fails). The stack gives up on a CANCEL the gateway ignores after 64×T1. With a recogniser,
/// early media (183) is heard: a carrier announcement (空号, 停机, 无法接通, 用户忙…) decides
/// the disposition and the INVITE is cancelled.
async fn ring(ua: &UserAgent, speech: &Arc<Speech>, channel: &mut Channel) -> Ringing {
    let ring_timer = tokio::time::sleep(ua.config.ring_timeout);
    tokio::pin!(ring_timer);
    // Why we cancelled, if we did: the ring timeout or an announcement.
    let mut cancelled: Option<(Disposition, String)> = None;
    let ring_timeout = (Disposition::NoAnswer, format!("ring timeout ({} s)", ua.config.ring_timeout.as_secs()));
    let mut hearing: Option<tokio::task::JoinHandle<Option<String>>> = None;
    let mut provisional = false;
    let mut ring_expired = false;
    let cancel = |cancelled: &mut Option<(Disposition, String)>, why: (Disposition, String), leg: &CallLeg| {
        *cancelled = Some(why);
        leg.cancel();
    };
    loop {
        tokio::select! {
            event = channel.leg.events.recv() => {
                let Some(event) = event else {
                    return Ringing::Ended(Disposition::Failed, Some("the SIP stack stopped".into()));
                };
                match *event {
                    Event::Ringing(_) => {
                        provisional = true;
                        if ring_expired && cancelled.is_none() {
                            cancel(&mut cancelled, ring_timeout.clone(), &channel.leg);
                        }
                    }
                    Event::Answered(body) => {
                        // Answered as our CANCEL left: the call is not wanted any more.
                        if let Some((disposition, cause)) = cancelled {
                            channel.leg.bye(ua.config.t1x64).await;
                            return Ringing::Ended(disposition, Some(cause));
                        }
                        return Ringing::Answered(body);
                    }
                    Event::Failed(failure) => return ended(failure, cancelled, ua.config.t1x64),
                    _ => {}
                }
            }
            _ = &mut ring_timer, if cancelled.is_none() && !ring_expired => {
                ring_expired = true;
                if provisional {
                    cancel(&mut cancelled, ring_timeout.clone(), &channel.leg);
                }
            }
            heard = async { hearing.as_mut().expect("guarded").await }, if hearing.is_some() => {
                hearing = None;
                let text = heard.ok().flatten().unwrap_or_default();
                if let Some(disposition) = announcement(&text)
                    && cancelled.is_none()
                {
                    cancel(&mut cancelled, (disposition, format!("carrier announcement: {text}")), &channel.leg);
                }
            }
            input = channel.inbound.recv() => {
                if let Some(Inbound::Utterance(utterance)) = input
                    && speech.hears_speech()
                    && hearing.is_none()
                {
                    let (speech, pcm) = (Arc::clone(speech), utterance.into_samples());
                    hearing = Some(tokio::spawn(async move { speech.recognise(&pcm, "early-media").await }));
                }
            }
        }
    }
}

/// How a call that was not answered ended: what we cancelled for, or what the gateway said.
fn ended(failure: Failure, cancelled: Option<(Disposition, String)>, t1x64: Duration) -> Ringing {
    match (failure, cancelled) {
        (Failure::CancelUnanswered, Some((disposition, cause))) => {
            let waited = t1x64.as_secs_f64();
            Ringing::Ended(
                disposition,
                Some(format!("{cause}; the gateway did not answer our CANCEL within {waited} s")),
            )
        }
        (_, Some((disposition, cause))) => Ringing::Ended(disposition, Some(cause)),
        (Failure::Status { code, reason }, None) => {
            let (disposition, cause) = refusal(code, &reason);
            Ringing::Ended(disposition, Some(cause))
        }
        (Failure::NoResponse, None) => {
            Ringing::Ended(Disposition::Failed, Some("no response from the gateway (Timer B)".into()))
        }
        (other, None) => Ringing::Ended(Disposition::Failed, Some(format!("{other:?}"))),
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

/// CAMPAIGN.md §2: the disposition a final response of 300 or more means, and its cause.
fn refusal(code: u16, reason: &str) -> (Disposition, String) {
    let disposition = match code {
        486 | 600 => Disposition::Busy,
        404 | 484 | 604 => Disposition::InvalidNumber,
        603 => Disposition::Rejected,
        // Only our own ring timer means no_answer; every other failure is `failed` with its code.
        _ => Disposition::Failed,
    };
    (disposition, format!("{code} {reason}"))
}

/// Everything the call task waits on.
struct Channel {
    /// The call in the stack: its events, and where BYE, CANCEL and REFER go.
    leg: CallLeg,
    inbound: mpsc::Receiver<Inbound>,
    hung_up: bool,
    /// The answered call's recording, fed as audio comes in.
    tape: Option<Tape>,
}

/// Starts recording: both directions go to a writer task off the runtime's workers.
fn conversation_tape(channel: &mut Channel, writer: RecordingWriter, out: &MediaStream) {
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
    channel.tape = Some(Tape { tap: out.start_recording(), theirs: Vec::new(), tx, task, flush });
}

/// Pairs what we sent (taken from the out stream) with what the customer sent, a second at a
/// time, so the stereo file keeps both sides in step.
struct Tape {
    tap: RecordingTap,
    theirs: Vec<i16>,
    tx: mpsc::Sender<(Vec<i16>, Vec<i16>)>,
    task: tokio::task::JoinHandle<Result<(String, u64), crate::telephony::recording::RecordingError>>,
    /// A second's clock for the hand-overs, kept across waits on the channel.
    flush: tokio::time::Interval,
}

impl Tape {
    /// Hands the last second to the writer. The customer's side is cut or padded to our
    /// length: the plane plays theirs out only once their audio has begun (and while hearing),
    /// ours from the first packet sent.
    async fn flush(&mut self) {
        let (ours, heard) = self.tap.take();
        self.theirs.extend_from_slice(&heard);
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
    /// The REFER's own answer (None: none came), and its reason.
    ReferAnswered(Option<u16>, String),
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
                event = self.leg.events.recv() => {
                    let Some(event) = event else {
                        self.hung_up = true;
                        return Happening::Hangup;
                    };
                    if let Some(h) = self.on_event(*event) {
                        return h;
                    }
                }
                input = self.inbound.recv() => {
                    match input {
                        Some(Inbound::Key(k)) => return Happening::Key(k),
                        Some(Inbound::SpeechStarted) => return Happening::SpeechStarted,
                        Some(Inbound::Utterance(utterance)) => return Happening::Utterance(utterance.into_samples()),
                        None => {
                            self.hung_up = true;
                            return Happening::Hangup;
                        }
                    }
                }
            }
        }
    }

    /// What an event of the stack means to the call. The stack has already answered the
    /// request that brought it (INFO, NOTIFY, BYE), before anything the call sends next.
    fn on_event(&mut self, event: Event) -> Option<Happening> {
        match event {
            Event::HungUp => {
                self.hung_up = true;
                Some(Happening::Hangup)
            }
            Event::Info { content_type, body } => {
                let body = String::from_utf8_lossy(&body);
                dtmf::parse_sip_info(&content_type, &body).and_then(|keys| keys.chars().next()).map(Happening::Key)
            }
            Event::Notify { terminated, body } => {
                let body = String::from_utf8_lossy(&body);
                let status = body
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("SIP/2.0 "))
                    .and_then(|l| l.get(..3))
                    .and_then(|c| c.parse::<u16>().ok())?;
                Some(Happening::TransferProgress(status, terminated))
            }
            Event::Done { method: rsip::Method::Refer, status, reason } => {
                Some(Happening::ReferAnswered(status, reason))
            }
            _ => None,
        }
    }
}

/// The script's side of an answered call: pumps the [`CallDriver`] with what happens on the line.
struct Conversation<'a> {
    ua: &'a UserAgent,
    speech: &'a Speech,
    backends: &'a Arc<Backends>,
    /// Who is called, for actions and text messages.
    recipient: Arc<Recipient>,
    out: &'a MediaStream,
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
                    Command::Hangup => {
                        self.hang_up().await;
                        hangup_sent = true;
                    }
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
                Happening::TransferProgress(..) | Happening::ReferAnswered(..) => continue,
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

    /// Starts sending (from the media plane, in its next free phase) and hearing, once.
    fn start_media(&mut self) {
        if let Some(media) = self.media.take() {
            self.out.send();
            if let Some(hearing) = media.hearing {
                self.out.hear(self.speech.vad, hearing);
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
        self.channel.leg.refer(&target.to_string(), "sip:callscript@localhost");
        // The REFER's own answer (202) comes first, then NOTIFYs with the transferee's
        // progress; one that overtakes the answer is kept for after it.
        let give_up = Instant::now() + Duration::from_secs(60);
        let mut early = Vec::new();
        let answer = loop {
            match self.channel.next(Some(give_up), None, None).await {
                Happening::ReferAnswered(Some(code), _) => break code,
                Happening::ReferAnswered(None, reason) => return Err(format!("REFER got no answer: {reason}")),
                Happening::TransferProgress(code, ended) => early.push((code, ended)),
                Happening::Hangup => return Ok(()),
                Happening::Deadline => return Err("REFER got no answer".into()),
                _ => {}
            }
        };
        if !(200..300).contains(&answer) {
            return Err(format!("REFER refused: {answer}"));
        }
        let mut progress = early.into_iter();
        loop {
            let happening = match progress.next() {
                Some((code, ended)) => Happening::TransferProgress(code, ended),
                None => self.channel.next(Some(give_up), None, None).await,
            };
            match happening {
                Happening::TransferProgress(code, ended) => {
                    if (200..300).contains(&code) {
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

    /// Sends BYE and waits for its answer (64×T1 at most).
    async fn hang_up(&mut self) {
        self.out.stop_playing();
        self.channel.leg.bye(self.ua.config.t1x64).await;
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
        let disposition = |code: u16| refusal(code, "Whatever").0;
        assert_eq!(refusal(486, "Busy Here").1, "486 Busy Here");
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
