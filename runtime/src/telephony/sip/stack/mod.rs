//! Our own SIP user agent client, sans-IO (issue 20): RFC 3261 client transactions (INVITE
//! with its ACKs and CANCEL, non-INVITE for BYE, REFER and REGISTER), the dialog each answered
//! INVITE makes, answers to the requests a far end sends inside it (BYE, INFO, NOTIFY, OPTIONS;
//! re-INVITE and UPDATE refused), and digest authentication. Like the VM it does no IO:
//! datagrams and the time go in ([`Stack::receive`], [`Stack::on_time`]), datagrams to send
//! and events for the calls come out ([`Stack::poll_transmit`], [`Stack::poll_event`]).
//! `driver.rs` pumps it over a socket.
//!
//! Why not rsipstack's dialog layer: it runs tasks and channels per transaction and per
//! dialog (about 23 KB a live dialog, 11 KB of it channels) and spends about as much CPU per
//! call as SIPp's whole UAC; here a call is one slot of plain data (under 1 KB once answered)
//! and every message is matched by a map lookup. rsip's parser still reads what comes in.
//!
//! Every request goes to the gateway (an outbound proxy, RFC 3261 §8.1.2): a bank's trunk or
//! SBC is the only peer we talk to. Responses to the far end's requests go back where the
//! request came from.

pub mod digest;
pub mod driver;
mod wire;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsipstack::rsip::{self, HeadersExt, SipMessage};

pub use wire::BRANCH_COOKIE;

/// The longest an INVITE may ring without a final response when the call never cancels it.
const RINGING_LIMIT: Duration = Duration::from_secs(181);

/// The caller's name for a call or a registration; its events come back with it.
pub type Key = u64;

/// What the stack needs to know about us and the trunk.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our SIP address, as Via and Contact carry it.
    pub local: SocketAddr,
    /// Where every request goes.
    pub gateway: SocketAddr,
    /// TCP: no retransmissions (RFC 3261 §17.1.1.2).
    pub reliable: bool,
    /// The caller id (From), a URI: `sip:95555@bank.example`.
    pub from: String,
    /// Our Contact URI.
    pub contact: String,
    /// `host[:port]` of request URIs: `sip:PHONE@host`.
    pub callee_host: String,
    /// Header lines added to every INVITE (`P-Asserted-Identity: <…>`).
    pub invite_headers: Vec<String>,
    pub user_agent: String,
    pub credential: Option<digest::Credential>,
    /// RFC 3261's T1 (500 ms) and T2 (4 s).
    pub t1: Duration,
    pub t2: Duration,
    /// How long a finished transaction absorbs retransmissions, and how long a CANCEL waits for
    /// the INVITE's final response: 64×T1.
    pub linger: Duration,
}

impl Config {
    /// The RFC's timers, with `linger` as given.
    pub fn timers(linger: Duration) -> (Duration, Duration, Duration) {
        (Duration::from_millis(500), Duration::from_secs(4), linger)
    }
}

/// A datagram (or a stream's message) to send.
#[derive(Debug)]
pub struct Transmit {
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// What happened to a call, for its task.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A provisional response to the INVITE: trying (100), ringing, or early media.
    Ringing(u16),
    /// A 2xx: the dialog is confirmed and ACKed; the body is the answer (SDP).
    Answered(Vec<u8>),
    /// The INVITE ended without a call.
    Failed(Failure),
    /// The far end hung up (its BYE, answered 200).
    HungUp,
    /// An INFO in the dialog, answered 200 (DTMF as `application/dtmf-relay`).
    Info { content_type: String, body: Vec<u8> },
    /// A NOTIFY in the dialog, answered 200: a transfer's progress (`message/sipfrag`).
    Notify { terminated: bool, body: Vec<u8> },
    /// The final answer to a BYE, REFER or REGISTER we sent; None: none came in 64×T1.
    Done { method: rsip::Method, status: Option<u16>, reason: String },
}

/// Why an INVITE made no call.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// A final response of 300 or more (after digest authentication, when it asked for it).
    Status { code: u16, reason: String },
    /// No final response within 64×T1 (Timer B).
    NoResponse,
    /// We cancelled and the gateway did not end the INVITE within 64×T1.
    CancelUnanswered,
    /// We cancelled, and a 2xx came anyway: it was ACKed and hung up at once.
    AnsweredAfterCancel,
}

/// A request we could not send.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StackError {
    #[error("`{0}` cannot be the user part of a SIP URI")]
    Callee(String),
    #[error("the call is not in a dialog")]
    NoDialog,
    #[error("no call is known by this key")]
    Unknown,
    #[error("a call with this key is already in progress")]
    KeyInUse,
}

/// The state of one call (or registration).
struct Leg {
    key: Key,
    generation: u32,
    call_id: Box<str>,
    local_tag: Box<str>,
    /// The To URI (the callee, or our own address of record for REGISTER).
    to: Box<str>,
    /// Where requests in the dialog go (Request-URI): the callee until a 2xx's Contact.
    target: Box<str>,
    remote_tag: Option<Box<str>>,
    /// The 2xx's Record-Route, reversed (RFC 3261 §12.1.2), as `Route` values.
    route: Box<[Box<str>]>,
    cseq: u32,
    phase: Phase,
    /// Client transactions, in progress or lingering.
    txs: Vec<ClientTx>,
    /// The INVITE's offer (or a REGISTER's expiry), kept until a final response: a digest
    /// challenge sends the request again.
    offer: Option<Box<[u8]>>,
    expires: u32,
    /// The ACK of the 2xx, sent again for each retransmitted 2xx until `ack_until`.
    ack: Option<(Box<[u8]>, Instant)>,
    cancel: Cancel,
    authorised: bool,
    /// The To tags of other branches' 2xx (a forking proxy), ACKed and hung up.
    forks: Vec<Box<str>>,
    /// The caller let go: no more events.
    released: bool,
    /// When this leg last asked to be woken (see [`Stack::schedule`]).
    wake: Option<Instant>,
}

impl Leg {
    /// The dialog a 2xx makes: the far end's tag, its Contact as the target (none usable: the
    /// callee's URI stays, which reaches the gateway like every request; RFC 3261 §12.1.2
    /// wants one) and the route.
    fn enter_dialog(&mut self, response: &rsip::Response) {
        self.remote_tag = wire::to_tag(response).map(Box::from);
        if let Some(contact) = wire::remote_target(response) {
            self.target = contact.into();
        }
        self.route = wire::route_set(response);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// INVITE sent, no provisional response yet.
    Calling,
    /// A provisional response came.
    Early,
    Confirmed,
    /// Failed, hung up or registered: only lingering transactions are left.
    Over,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cancel {
    No,
    /// Asked before any provisional response: sent when one comes (RFC 3261 §9.1).
    Wanted,
    /// Sent at this moment; the INVITE's final response is awaited until `+ linger`.
    Sent(Instant),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxState {
    /// Sent; retransmitted on UDP.
    Trying,
    /// A provisional response came (INVITE: no more retransmissions).
    Proceeding,
    /// A final response came; retransmissions of it are absorbed (an INVITE's answered with
    /// its ACK again) until `expires`.
    Completed,
}

struct ClientTx {
    method: rsip::Method,
    branch: Box<str>,
    cseq: u32,
    /// The request, for retransmissions; for a completed INVITE, its ACK.
    bytes: Box<[u8]>,
    state: TxState,
    interval: Duration,
    retransmit_at: Option<Instant>,
    /// Timer B or F while in progress, then the end of the lingering.
    expires: Instant,
    /// Ours alone, the call hears nothing of it: the BYE of another branch's dialog.
    quiet: bool,
}

/// A response we sent to a request that came in, sent again for its retransmissions.
struct Answered {
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// Slots from which an emptied table is compacted ([`Stack::compact`]).
const COMPACT_FROM: usize = 4_096;

/// The sans-IO user agent client. See the module's documentation.
pub struct Stack {
    config: Config,
    /// `SIP/2.0/UDP host:port`.
    via: String,
    legs: Vec<Option<Leg>>,
    free: Vec<u32>,
    generations: u32,
    by_call_id: HashMap<Box<str>, u32>,
    by_key: HashMap<Key, u32>,
    /// (when, slot, generation): a leg to look at; stale entries are skipped.
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// Our responses by the request's branch and method, until they expire (in that order).
    answered: HashMap<(Box<str>, rsip::Method), Answered>,
    answered_order: VecDeque<(Instant, Box<str>, rsip::Method)>,
    out: VecDeque<Transmit>,
    events: VecDeque<(Key, Event)>,
    ids: Ids,
    call_ids: CallIds,
    /// Messages dropped as unreadable or not ours, for the logs and tests.
    pub dropped: u64,
    /// Legs freed since the table was last compacted: it is looked at once per half a table
    /// of them, so compacting costs O(1) a leg however the live ones lie.
    freed_since_compact: usize,
}

/// Call-IDs, tags and branches: unique per process run (a counter) and across runs and hosts
/// (a random prefix).
struct Ids {
    prefix: u64,
    counter: u64,
}

impl Ids {
    fn seed() -> u64 {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        (nanos as u64) ^ ((std::process::id() as u64) << 32) ^ (&nanos as *const _ as u64)
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        splitmix(self.prefix ^ self.counter)
    }

    fn branch(&mut self) -> Box<str> {
        format!("{BRANCH_COOKIE}{:016x}", self.next()).into()
    }

    fn tag(&mut self) -> Box<str> {
        format!("{:012x}", self.next() >> 16).into()
    }
}

/// A call's Call-ID from its key: the process's random prefix, the key, our host. The call's
/// task can name it (to the bank's actions) before the stack has sent anything.
#[derive(Clone, Debug)]
pub struct CallIds {
    prefix: u64,
    host: String,
}

impl CallIds {
    pub fn of(&self, key: Key) -> Box<str> {
        format!("{:016x}-{key:x}@{}", self.prefix, self.host).into()
    }
}

/// The standard reason phrase of a status (rsip keeps the one on the wire only for codes it does
/// not know).
fn reason_phrase(status: &rsip::StatusCode) -> String {
    let text = status.to_string();
    text.split_once(' ').map_or(text.clone(), |(_, r)| r.to_string())
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A stack on loopback (us at 127.0.0.1:5070, the gateway at 127.0.0.1:5060) with the RFC's
/// timers and Call-IDs, tags and branches from `seed`: the fuzz target and its seeds share it,
/// so a seed can answer the target's INVITE.
pub fn loopback(seed: u64) -> Stack {
    let (t1, t2, linger) = Config::timers(Duration::from_secs(32));
    Stack::with_seed(
        Config {
            local: SocketAddr::from(([127, 0, 0, 1], 5070)),
            gateway: SocketAddr::from(([127, 0, 0, 1], 5060)),
            reliable: false,
            from: "sip:95555@bank.example".into(),
            contact: "sip:95555@127.0.0.1:5070".into(),
            callee_host: "127.0.0.1:5060".into(),
            invite_headers: vec![],
            user_agent: "CallScript/fuzz".into(),
            credential: Some(digest::Credential { user: "bank".into(), password: "secret".into() }),
            t1,
            t2,
            linger,
        },
        seed,
    )
}

/// The `sip_response` fuzz target's exchange, here so its findings replay as unit tests: a
/// call ringing on [`loopback`]`(7)`, then up to eight datagrams (NUL between them), each
/// followed by what a call might do (REFER, BYE) and a second of virtual time, then a release
/// and the end of every timer. Panics if the stack sends what rsip cannot read or holds a call
/// after its timers have run.
pub fn exchange(data: &[u8]) {
    let mut stack = loopback(7);
    let mut now = Instant::now();
    stack.invite(now, 1, "13800000001", b"v=0\r\n".to_vec()).expect("a valid callee");
    let check = |stack: &mut Stack| {
        while let Some(transmit) = stack.poll_transmit() {
            assert!(SipMessage::try_from(transmit.bytes.as_slice()).is_ok(), "we sent what rsip cannot read");
        }
        while stack.poll_event().is_some() {}
    };
    check(&mut stack);
    let gateway = stack.config.gateway;
    for datagram in data.split(|b| *b == 0).take(8) {
        stack.receive(now, gateway, datagram);
        let _ = stack.refer(now, 1, "sip:queue@127.0.0.1", "sip:callscript@localhost");
        let _ = stack.bye(now, 1);
        check(&mut stack);
        now += Duration::from_secs(1);
        stack.on_time(now);
        check(&mut stack);
    }
    let _ = stack.cancel(now, 1);
    stack.release(now, 1);
    now += Duration::from_secs(120);
    stack.on_time(now);
    check(&mut stack);
    assert_eq!(stack.legs(), 0, "everything is let go once its timers have run");
}

/// Characters a phone number may bring into a URI's user part unescaped (RFC 3261 §25.1:
/// unreserved and user-unreserved, without the ones that would end a header value).
fn valid_user(user: &str) -> bool {
    !user.is_empty() && user.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$/?#%".contains(&b))
}

impl Stack {
    pub fn new(config: Config) -> Stack {
        Stack::with_seed(config, Ids::seed())
    }

    /// A stack whose Call-IDs, tags and branches follow from `seed` (fuzzing, tests).
    pub fn with_seed(config: Config, seed: u64) -> Stack {
        let via = format!("SIP/2.0/{} {}", if config.reliable { "TCP" } else { "UDP" }, config.local);
        let ids = Ids { prefix: splitmix(seed), counter: 0 };
        let call_ids = CallIds { prefix: splitmix(ids.prefix), host: config.local.ip().to_string() };
        Stack {
            config,
            via,
            legs: Vec::new(),
            free: Vec::new(),
            generations: 0,
            by_call_id: HashMap::new(),
            by_key: HashMap::new(),
            timers: BinaryHeap::new(),
            answered: HashMap::new(),
            answered_order: VecDeque::new(),
            freed_since_compact: 0,
            out: VecDeque::new(),
            events: VecDeque::new(),
            ids,
            call_ids,
            dropped: 0,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How this stack names its calls' Call-IDs.
    pub fn call_ids(&self) -> &CallIds {
        &self.call_ids
    }

    /// Calls and registrations held (answered, ringing, or lingering to absorb retransmissions).
    pub fn legs(&self) -> usize {
        self.by_call_id.len()
    }

    /// Calls `user` (`sip:user@callee_host`) with the offer.
    pub fn invite(&mut self, now: Instant, key: Key, user: &str, offer: Vec<u8>) -> Result<(), StackError> {
        if !valid_user(user) {
            return Err(StackError::Callee(user.into()));
        }
        let to: Box<str> = format!("sip:{user}@{}", self.config.callee_host).into();
        let slot = self.add_leg(key, to.clone(), to)?;
        let leg = self.legs[slot as usize].as_mut().expect("just added");
        leg.offer = Some(offer.into_boxed_slice());
        self.send_initial(now, slot, None);
        Ok(())
    }

    /// REGISTERs our Contact with the gateway for `expires` seconds; `Event::Done` tells how it
    /// went.
    pub fn register(&mut self, now: Instant, key: Key, registrar: &str, expires: u32) -> Result<(), StackError> {
        let aor: Box<str> = self.config.from.clone().into();
        let slot = self.add_leg(key, aor, registrar.into())?;
        let leg = self.legs[slot as usize].as_mut().expect("just added");
        leg.expires = expires;
        self.send_initial(now, slot, None);
        Ok(())
    }

    /// Cancels a ringing call (now, or once it has rung: RFC 3261 §9.1). The INVITE then ends
    /// with `Failed`. Nothing happens once it is answered or over.
    pub fn cancel(&mut self, now: Instant, key: Key) -> Result<(), StackError> {
        let slot = self.slot(key)?;
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        match (leg.phase, leg.cancel) {
            (Phase::Calling, Cancel::No) => leg.cancel = Cancel::Wanted,
            (Phase::Early, Cancel::No | Cancel::Wanted) => self.send_cancel(now, slot),
            _ => {}
        }
        Ok(())
    }

    /// Hangs up an answered call (BYE); `Event::Done` brings its answer.
    pub fn bye(&mut self, now: Instant, key: Key) -> Result<(), StackError> {
        let slot = self.slot(key)?;
        let leg = self.legs[slot as usize].as_ref().expect("slot");
        if leg.phase != Phase::Confirmed {
            return Err(StackError::NoDialog);
        }
        self.send_in_dialog(now, slot, rsip::Method::Bye, &[], None);
        self.legs[slot as usize].as_mut().expect("slot").phase = Phase::Over;
        Ok(())
    }

    /// REFERs the far end to `target` (a URI, its headers already in it); the REFER's answer
    /// comes as `Event::Done`, the transfer's progress as `Event::Notify`.
    pub fn refer(&mut self, now: Instant, key: Key, target: &str, referred_by: &str) -> Result<(), StackError> {
        let slot = self.slot(key)?;
        if self.legs[slot as usize].as_ref().expect("slot").phase != Phase::Confirmed {
            return Err(StackError::NoDialog);
        }
        let headers = [format!("Refer-To: <{target}>"), format!("Referred-By: <{referred_by}>")];
        self.send_in_dialog(now, slot, rsip::Method::Refer, &headers, None);
        Ok(())
    }

    /// The caller is done with the call: no more events. A call still answered is hung up, a
    /// ringing one cancelled; the leg stays until its transactions have lingered.
    pub fn release(&mut self, now: Instant, key: Key) {
        let Ok(slot) = self.slot(key) else { return };
        let phase = self.legs[slot as usize].as_ref().expect("slot").phase;
        match phase {
            Phase::Confirmed => {
                let _ = self.bye(now, key);
            }
            Phase::Calling | Phase::Early => {
                let _ = self.cancel(now, key);
            }
            Phase::Over => {}
        }
        self.by_key.remove(&key);
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        leg.released = true;
        self.schedule(now, slot);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next event for a call.
    pub fn poll_event(&mut self) -> Option<(Key, Event)> {
        self.events.pop_front()
    }

    /// When [`Stack::on_time`] wants to be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let leg = self.timers.peek().map(|Reverse((at, _, _))| *at);
        let answer = self.answered_order.front().map(|(at, _, _)| *at);
        match (leg, answer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Retransmissions and timeouts due by `now`.
    pub fn on_time(&mut self, now: Instant) {
        while let Some((at, _, _)) = self.answered_order.front()
            && *at <= now
        {
            let (_, branch, method) = self.answered_order.pop_front().expect("peeked");
            self.answered.remove(&(branch, method));
        }
        while let Some(Reverse((at, slot, generation))) = self.timers.peek().copied()
            && at <= now
        {
            self.timers.pop();
            let live =
                self.legs.get(slot as usize).and_then(|l| l.as_ref()).is_some_and(|l| l.generation == generation);
            if live {
                self.legs[slot as usize].as_mut().expect("live").wake = None;
                self.leg_on_time(now, slot);
                self.schedule(now, slot);
            }
        }
    }

    /// A datagram (or one message of a stream) from `from`.
    pub fn receive(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        match SipMessage::try_from(bytes) {
            Ok(SipMessage::Response(response)) => self.on_response(now, response),
            Ok(SipMessage::Request(request)) => self.on_request(now, from, request),
            Err(_) => self.dropped += 1,
        }
    }

    // --- legs -----------------------------------------------------------------------------

    fn add_leg(&mut self, key: Key, to: Box<str>, target: Box<str>) -> Result<u32, StackError> {
        let call_id = self.call_ids.of(key);
        // A key used again while its earlier leg lingers would share its Call-ID.
        if self.by_key.contains_key(&key) || self.by_call_id.contains_key(&call_id) {
            return Err(StackError::KeyInUse);
        }
        self.generations = self.generations.wrapping_add(1);
        let leg = Leg {
            key,
            generation: self.generations,
            call_id,
            local_tag: self.ids.tag(),
            to,
            target,
            remote_tag: None,
            route: Box::new([]),
            cseq: 0,
            phase: Phase::Calling,
            txs: Vec::new(),
            offer: None,
            expires: 0,
            ack: None,
            cancel: Cancel::No,
            authorised: false,
            forks: Vec::new(),
            released: false,
            wake: None,
        };
        let call_id = leg.call_id.clone();
        let slot = match self.free.pop() {
            Some(slot) => {
                self.legs[slot as usize] = Some(leg);
                slot
            }
            None => {
                self.legs.push(Some(leg));
                (self.legs.len() - 1) as u32
            }
        };
        self.by_call_id.insert(call_id, slot);
        self.by_key.insert(key, slot);
        Ok(slot)
    }

    fn slot(&self, key: Key) -> Result<u32, StackError> {
        self.by_key.get(&key).copied().ok_or(StackError::Unknown)
    }

    fn emit(&mut self, slot: u32, event: Event) {
        let leg = self.legs[slot as usize].as_ref().expect("slot");
        if !leg.released {
            self.events.push_back((leg.key, event));
        }
    }

    /// Asks to be woken at the leg's next deadline, or frees the leg when nothing is left.
    fn schedule(&mut self, now: Instant, slot: u32) {
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        let mut next: Option<Instant> = None;
        let mut soonest = |at: Instant| next = Some(next.map_or(at, |n: Instant| n.min(at)));
        for tx in &leg.txs {
            soonest(tx.expires);
            if let Some(at) = tx.retransmit_at {
                soonest(at);
            }
        }
        if let Some((_, until)) = &leg.ack {
            soonest(*until);
        }
        if let Cancel::Sent(at) = leg.cancel
            && matches!(leg.phase, Phase::Calling | Phase::Early)
        {
            soonest(at + self.config.linger);
        }
        match next {
            None if leg.phase == Phase::Over || (leg.released && leg.phase != Phase::Confirmed) => {
                self.free_leg(slot);
            }
            None => {}
            // Only an earlier wake-up than the one asked for (or one already past) is queued.
            Some(at) if leg.wake.is_none_or(|w| at < w || w <= now) => {
                leg.wake = Some(at);
                self.timers.push(Reverse((at, slot, leg.generation)));
            }
            Some(_) => {}
        }
    }

    fn free_leg(&mut self, slot: u32) {
        if let Some(leg) = self.legs[slot as usize].take() {
            self.by_call_id.remove(&leg.call_id);
            if self.by_key.get(&leg.key) == Some(&slot) {
                self.by_key.remove(&leg.key);
            }
            self.free.push(slot);
            self.compact();
        }
    }

    /// Gives back what a peak left: once fewer than a quarter of the slots are in use (and
    /// there are thousands), trailing free slots are dropped and the maps sized to what is
    /// left; looked at once per half a table of legs freed, or when the last one goes. A peak
    /// of 10,000 dialogs kept 5.4 MB after they all ended.
    fn compact(&mut self) {
        self.freed_since_compact += 1;
        let live = self.by_call_id.len();
        let due = self.freed_since_compact * 2 >= self.legs.len() || live == 0;
        if self.legs.len() < COMPACT_FROM || live * 4 > self.legs.len() || !due {
            return;
        }
        self.freed_since_compact = 0;
        while self.legs.last().is_some_and(Option::is_none) {
            self.legs.pop();
        }
        let slots = self.legs.len() as u32;
        self.free.retain(|&slot| slot < slots);
        self.legs.shrink_to(live * 2);
        self.free.shrink_to(live * 2);
        self.by_call_id.shrink_to(live * 2);
        self.by_key.shrink_to(live * 2);
        self.timers.shrink_to(live * 4);
    }

    // --- sending --------------------------------------------------------------------------

    /// The INVITE or REGISTER, first or again with credentials.
    fn send_initial(&mut self, now: Instant, slot: u32, authorization: Option<String>) {
        let branch = self.ids.branch();
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        leg.cseq += 1;
        let register = leg.offer.is_none();
        let mut extra: Vec<String> = Vec::new();
        let method = if register {
            extra.push(format!("Expires: {}", leg.expires));
            rsip::Method::Register
        } else {
            extra.extend(self.config.invite_headers.iter().cloned());
            rsip::Method::Invite
        };
        extra.extend(authorization);
        let method_name = method.to_string();
        let leg = self.legs[slot as usize].as_ref().expect("slot");
        let bytes = wire::Request {
            contact: Some(&self.config.contact),
            extra: &extra,
            body: leg.offer.as_deref().map(|o| ("application/sdp", o)),
            ..self.request(leg, &method_name, &branch, leg.cseq)
        }
        .to_bytes();
        let cseq = leg.cseq;
        self.start_tx(now, slot, method, branch, cseq, bytes);
    }

    /// A request inside the dialog (BYE, REFER), a transaction of its own.
    fn send_in_dialog(
        &mut self,
        now: Instant,
        slot: u32,
        method: rsip::Method,
        extra: &[String],
        body: Option<(&str, &[u8])>,
    ) {
        let branch = self.ids.branch();
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        leg.cseq += 1;
        let method_name = method.to_string();
        let leg = self.legs[slot as usize].as_ref().expect("slot");
        let bytes = wire::Request {
            to_tag: leg.remote_tag.as_deref(),
            route: &leg.route,
            contact: (method == rsip::Method::Refer).then_some(self.config.contact.as_str()),
            extra,
            body,
            ..self.request(leg, &method_name, &branch, leg.cseq)
        }
        .to_bytes();
        let cseq = leg.cseq;
        self.start_tx(now, slot, method, branch, cseq, bytes);
    }

    /// A request of the leg's call with its usual headers; callers set the rest.
    fn request<'a>(&'a self, leg: &'a Leg, method: &'a str, branch: &'a str, cseq: u32) -> wire::Request<'a> {
        wire::Request {
            method,
            uri: &leg.target,
            via: &self.via,
            branch,
            from: &self.config.from,
            from_tag: &leg.local_tag,
            to: &leg.to,
            to_tag: None,
            call_id: &leg.call_id,
            cseq,
            route: &[],
            contact: None,
            extra: &[],
            user_agent: &self.config.user_agent,
            body: None,
        }
    }

    fn start_tx(&mut self, now: Instant, slot: u32, method: rsip::Method, branch: Box<str>, cseq: u32, bytes: Vec<u8>) {
        self.out.push_back(Transmit { to: self.config.gateway, bytes: bytes.clone() });
        let t1 = self.config.t1;
        let tx = ClientTx {
            method,
            branch,
            cseq,
            bytes: bytes.into_boxed_slice(),
            state: TxState::Trying,
            interval: t1,
            retransmit_at: (!self.config.reliable).then_some(now + t1),
            expires: now + self.config.linger,
            quiet: false,
        };
        self.legs[slot as usize].as_mut().expect("slot").txs.push(tx);
        self.schedule(now, slot);
    }

    /// CANCEL of the INVITE in progress: the INVITE's branch and CSeq number (RFC 3261 §9.1).
    fn send_cancel(&mut self, now: Instant, slot: u32) {
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        let Some(invite) = leg.txs.iter().find(|t| t.method == rsip::Method::Invite && t.state != TxState::Completed)
        else {
            return;
        };
        let (branch, cseq) = (invite.branch.clone(), invite.cseq);
        leg.cancel = Cancel::Sent(now);
        let leg = self.legs[slot as usize].as_ref().expect("slot");
        let bytes = self.request(leg, "CANCEL", &branch, cseq).to_bytes();
        self.start_tx(now, slot, rsip::Method::Cancel, branch, cseq, bytes);
    }

    /// The ACK of a final response: for a non-2xx the INVITE's branch and the response's To
    /// (§17.1.1.3); for a 2xx a new branch, to the remote target, through the route (§13.2.2.4).
    fn ack_bytes(&mut self, slot: u32, branch: Option<&str>, to_tag: Option<&str>, cseq: u32) -> Vec<u8> {
        let new_branch;
        let branch = match branch {
            Some(b) => b,
            None => {
                new_branch = self.ids.branch();
                &new_branch
            }
        };
        let leg = self.legs[slot as usize].as_ref().expect("slot");
        let two_xx = to_tag.is_none();
        wire::Request {
            to_tag: if two_xx { leg.remote_tag.as_deref() } else { to_tag },
            route: if two_xx { &leg.route } else { &[] },
            ..self.request(leg, "ACK", branch, cseq)
        }
        .to_bytes()
    }

    // --- time -----------------------------------------------------------------------------

    fn leg_on_time(&mut self, now: Instant, slot: u32) {
        let reliable = self.config.reliable;
        let t2 = self.config.t2;
        let gateway = self.config.gateway;
        let mut timed_out: Vec<rsip::Method> = Vec::new();
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        leg.txs.retain_mut(|tx| {
            if tx.expires <= now {
                if tx.state != TxState::Completed && !tx.quiet {
                    timed_out.push(tx.method);
                }
                return false;
            }
            if let Some(at) = tx.retransmit_at
                && at <= now
                && !reliable
            {
                self.out.push_back(Transmit { to: gateway, bytes: tx.bytes.to_vec() });
                // INVITE: T1, 2T1, 4T1… (Timer A); others capped at T2 (Timer E).
                tx.interval =
                    if tx.method == rsip::Method::Invite { tx.interval * 2 } else { (tx.interval * 2).min(t2) };
                tx.retransmit_at = Some(now + tx.interval);
            }
            true
        });
        if let Some((_, until)) = &leg.ack
            && *until <= now
        {
            leg.ack = None;
        }
        let cancel_expired = matches!(leg.cancel, Cancel::Sent(at) if at + self.config.linger <= now)
            && matches!(leg.phase, Phase::Calling | Phase::Early);
        if cancel_expired {
            leg.phase = Phase::Over;
            leg.txs.retain(|t| t.method != rsip::Method::Invite);
            self.emit(slot, Event::Failed(Failure::CancelUnanswered));
        }
        for method in timed_out {
            let leg = self.legs[slot as usize].as_mut().expect("slot");
            match method {
                rsip::Method::Invite if matches!(leg.phase, Phase::Calling | Phase::Early) => {
                    leg.phase = Phase::Over;
                    self.emit(slot, Event::Failed(Failure::NoResponse));
                }
                rsip::Method::Cancel | rsip::Method::Invite => {}
                method => {
                    if method == rsip::Method::Register {
                        leg.phase = Phase::Over;
                    }
                    self.emit(slot, Event::Done { method, status: None, reason: "no answer within 64×T1".into() });
                }
            }
        }
    }

    // --- what comes in --------------------------------------------------------------------

    fn on_response(&mut self, now: Instant, response: rsip::Response) {
        let Some(keys) = wire::keys(&response) else {
            self.dropped += 1;
            return;
        };
        let Some(&slot) = self.by_call_id.get(keys.call_id) else {
            self.dropped += 1;
            return;
        };
        let code = response.status_code.code();
        let leg = self.legs[slot as usize].as_mut().expect("mapped");
        let Some(index) = leg.txs.iter().position(|t| *t.branch == *keys.branch && t.method == keys.method) else {
            // A 2xx's retransmission after its transaction ended: the ACK again (§13.2.2.4).
            if keys.method == rsip::Method::Invite && (200..300).contains(&code) {
                self.late_2xx(now, slot, &response, keys.cseq);
            } else {
                self.dropped += 1;
            }
            return;
        };
        let tx = &mut leg.txs[index];
        let method = tx.method;
        if tx.state == TxState::Completed {
            // A retransmitted final response: an INVITE's gets its ACK again.
            if method == rsip::Method::Invite {
                let bytes = tx.bytes.to_vec();
                self.out.push_back(Transmit { to: self.config.gateway, bytes });
            }
            return;
        }
        if code < 200 {
            if method == rsip::Method::Invite {
                tx.state = TxState::Proceeding;
                tx.retransmit_at = None;
                // Timer B only runs until a provisional response (§17.1.1.2); the call's ring
                // timeout, then the CANCEL's own 64×T1, end a call that rings on. This is a
                // backstop past RFC 3261's Timer C (more than 3 minutes).
                tx.expires = now + RINGING_LIMIT;
                if leg.phase == Phase::Calling {
                    leg.phase = Phase::Early;
                }
                let wanted = leg.cancel == Cancel::Wanted;
                self.emit(slot, Event::Ringing(code));
                if wanted {
                    self.send_cancel(now, slot);
                }
            } else {
                tx.state = TxState::Proceeding;
            }
            self.schedule(now, slot);
            return;
        }
        match method {
            rsip::Method::Invite => self.invite_final(now, slot, index, &response, code),
            method => {
                let leg = self.legs[slot as usize].as_mut().expect("slot");
                let tx = &mut leg.txs[index];
                tx.state = TxState::Completed;
                tx.retransmit_at = None;
                tx.expires = now + if self.config.reliable { Duration::ZERO } else { self.config.t2 };
                if tx.quiet {
                    return;
                }
                let challenged = matches!(code, 401 | 407) && method == rsip::Method::Register;
                if challenged && self.retry_with_credentials(now, slot, &response) {
                    return;
                }
                let leg = self.legs[slot as usize].as_mut().expect("slot");
                if method == rsip::Method::Register {
                    leg.phase = Phase::Over;
                    leg.offer = None;
                }
                if method != rsip::Method::Cancel {
                    let reason = reason_phrase(&response.status_code);
                    self.emit(slot, Event::Done { method, status: Some(code), reason });
                }
                self.schedule(now, slot);
            }
        }
    }

    fn invite_final(&mut self, now: Instant, slot: u32, index: usize, response: &rsip::Response, code: u16) {
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        let cseq = leg.txs[index].cseq;
        if (200..300).contains(&code) {
            leg.txs.remove(index);
            leg.txs.retain(|t| t.method != rsip::Method::Cancel || t.state != TxState::Trying);
            leg.enter_dialog(response);
            leg.offer = None;
            let cancelled = leg.cancel != Cancel::No;
            let ack = self.ack_bytes(slot, None, None, cseq);
            self.out.push_back(Transmit { to: self.config.gateway, bytes: ack.clone() });
            let leg = self.legs[slot as usize].as_mut().expect("slot");
            leg.ack = (!self.config.reliable).then(|| (ack.into_boxed_slice(), now + self.config.linger));
            if cancelled || leg.released {
                self.send_in_dialog(now, slot, rsip::Method::Bye, &[], None);
                self.legs[slot as usize].as_mut().expect("slot").phase = Phase::Over;
                if cancelled {
                    self.emit(slot, Event::Failed(Failure::AnsweredAfterCancel));
                }
            } else {
                leg.phase = Phase::Confirmed;
                self.emit(slot, Event::Answered(response.body().clone()));
            }
            self.schedule(now, slot);
            return;
        }
        // 300–699: ACK on the INVITE's branch, kept to answer retransmissions (Timer D).
        let branch = leg.txs[index].branch.clone();
        let to_tag = wire::to_tag(response).unwrap_or("").to_string();
        let ack = self.ack_bytes(slot, Some(&branch), Some(&to_tag), cseq);
        self.out.push_back(Transmit { to: self.config.gateway, bytes: ack.clone() });
        let linger = if self.config.reliable { Duration::ZERO } else { self.config.linger };
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        let tx = &mut leg.txs[index];
        tx.state = TxState::Completed;
        tx.retransmit_at = None;
        tx.expires = now + linger;
        tx.bytes = ack.into_boxed_slice();
        leg.txs.retain(|t| t.method != rsip::Method::Cancel || t.state != TxState::Trying || t.cseq != cseq);
        let cancelled = leg.cancel != Cancel::No;
        if matches!(code, 401 | 407) && !cancelled && self.retry_with_credentials(now, slot, response) {
            return;
        }
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        leg.phase = Phase::Over;
        leg.offer = None;
        let reason = reason_phrase(&response.status_code);
        self.emit(slot, Event::Failed(Failure::Status { code, reason }));
        self.schedule(now, slot);
    }

    /// Sends the INVITE or REGISTER again with credentials for the challenge, once; false when
    /// there are none, or they were already refused.
    fn retry_with_credentials(&mut self, now: Instant, slot: u32, response: &rsip::Response) -> bool {
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        let Some(credential) = &self.config.credential else { return false };
        if leg.authorised {
            return false;
        }
        let method = if leg.offer.is_some() { rsip::Method::Invite } else { rsip::Method::Register };
        let Some(header) = digest::answer(credential, response, &method, &leg.target) else { return false };
        leg.authorised = true;
        self.send_initial(now, slot, Some(header));
        true
    }

    /// A 2xx to an INVITE whose transaction is gone: ACKed again while we hold the ACK; a
    /// 2xx from a leg we no longer want (after a Timer B) is ACKed and hung up.
    fn late_2xx(&mut self, now: Instant, slot: u32, response: &rsip::Response, cseq: u32) {
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        if let (Some(tag), Some(ours)) = (wire::to_tag(response), leg.remote_tag.as_deref())
            && tag != ours
        {
            let tag = tag.to_string();
            self.hang_up_fork(now, slot, response, cseq, &tag);
            return;
        }
        if let Some((ack, _)) = &leg.ack {
            let bytes = ack.to_vec();
            self.out.push_back(Transmit { to: self.config.gateway, bytes });
            return;
        }
        if leg.phase == Phase::Over && leg.remote_tag.is_none() {
            leg.enter_dialog(response);
            let ack = self.ack_bytes(slot, None, None, cseq);
            self.out.push_back(Transmit { to: self.config.gateway, bytes: ack });
            self.send_in_dialog(now, slot, rsip::Method::Bye, &[], None);
        } else {
            self.dropped += 1;
        }
    }

    /// Another branch answered too (a forking proxy): that dialog is ACKed and hung up at once
    /// (RFC 3261 §13.2.2.4) and the call keeps the first. A retransmission of its 2xx gets the
    /// ACK again, not another BYE.
    fn hang_up_fork(&mut self, now: Instant, slot: u32, response: &rsip::Response, cseq: u32, tag: &str) {
        let (ack_branch, bye_branch) = (self.ids.branch(), self.ids.branch());
        let leg = self.legs[slot as usize].as_ref().expect("slot");
        let known = leg.forks.iter().any(|fork| **fork == *tag);
        let target: Box<str> = wire::remote_target(response).map(Box::from).unwrap_or_else(|| leg.target.clone());
        let route = wire::route_set(response);
        let in_fork = |method: &'static str, branch: &str, cseq: u32| {
            wire::Request { uri: &target, to_tag: Some(tag), route: &route, ..self.request(leg, method, branch, cseq) }
                .to_bytes()
        };
        let ack = in_fork("ACK", &ack_branch, cseq);
        let bye_cseq = leg.cseq + 1;
        let bye = (!known).then(|| in_fork("BYE", &bye_branch, bye_cseq));
        self.out.push_back(Transmit { to: self.config.gateway, bytes: ack });
        let Some(bye) = bye else { return };
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        leg.forks.push(tag.into());
        leg.cseq = bye_cseq;
        self.start_tx(now, slot, rsip::Method::Bye, bye_branch, bye_cseq, bye);
        let leg = self.legs[slot as usize].as_mut().expect("slot");
        leg.txs.last_mut().expect("just started").quiet = true;
    }

    fn on_request(&mut self, now: Instant, from: SocketAddr, request: rsip::Request) {
        let Some(keys) = wire::keys(&request) else {
            self.dropped += 1;
            return;
        };
        if request.method == rsip::Method::Ack {
            // Our only INVITE server answers are 403s and 488s: their ACKs end nothing here.
            return;
        }
        let answer_key = (Box::<str>::from(keys.branch), request.method);
        if let Some(answered) = self.answered.get(&answer_key) {
            self.out.push_back(Transmit { to: answered.to, bytes: answered.bytes.clone() });
            return;
        }
        let to_tag = request.to_header().ok().and_then(|t| wire::param(t.value(), "tag")).map(str::to_string);
        let slot = self.by_call_id.get(keys.call_id).copied().filter(|&slot| {
            let leg = self.legs[slot as usize].as_ref().expect("mapped");
            to_tag.as_deref() == Some(&*leg.local_tag)
        });
        let (code, reason, event) = match (slot, &request.method) {
            // A BYE ends a confirmed dialog; before the 2xx there is none to end (the callee
            // may not BYE an early dialog, RFC 3261 §15), and the INVITE goes on.
            (Some(slot), rsip::Method::Bye) => {
                let leg = self.legs[slot as usize].as_mut().expect("slot");
                match leg.phase {
                    Phase::Confirmed => {
                        leg.phase = Phase::Over;
                        (200, "OK", Some(Event::HungUp))
                    }
                    Phase::Over => (200, "OK", None),
                    Phase::Calling | Phase::Early => (481, "Call/Transaction Does Not Exist", None),
                }
            }
            (Some(_), rsip::Method::Info) => {
                let content_type = wire::header(&request.headers, "content-type").unwrap_or_default();
                (200, "OK", Some(Event::Info { content_type, body: request.body().clone() }))
            }
            (Some(_), rsip::Method::Notify) => {
                let terminated = wire::header(&request.headers, "subscription-state")
                    .is_some_and(|s| s.trim().to_ascii_lowercase().starts_with("terminated"));
                (200, "OK", Some(Event::Notify { terminated, body: request.body().clone() }))
            }
            (_, rsip::Method::Options) => (200, "OK", None),
            // We keep the media as it is.
            (Some(_), rsip::Method::Invite | rsip::Method::Update) => (488, "Not Acceptable Here", None),
            (Some(_), _) => (501, "Not Implemented", None),
            // We only call out: an INVITE to us is refused, not answered.
            (None, rsip::Method::Invite) => (403, "Forbidden", None),
            (None, _) => (481, "Call/Transaction Does Not Exist", None),
        };
        let tag = match &slot {
            Some(slot) => self.legs[*slot as usize].as_ref().expect("slot").local_tag.to_string(),
            None => self.ids.tag().to_string(),
        };
        let bytes = wire::response(&request, code, reason, &tag);
        self.out.push_back(Transmit { to: from, bytes: bytes.clone() });
        let until = now + if self.config.reliable { Duration::ZERO } else { self.config.linger };
        if !self.config.reliable {
            self.answered_order.push_back((until, answer_key.0.clone(), answer_key.1));
            self.answered.insert(answer_key, Answered { to: from, bytes });
        }
        if let Some(slot) = slot {
            if let Some(event) = event {
                self.emit(slot, event);
            }
            self.schedule(now, slot);
        }
    }
}
