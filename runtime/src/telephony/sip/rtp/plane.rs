//! The media plane: every answered call's RTP, both ways, on one thread per core and no task
//! of its own. Each worker owns its streams, spread over the 20 one-millisecond phases of the
//! packet period (streams all in phase make every tick a burst: SIP-NOTES measured p99 7.7 ms
//! at 500 streams in phase, 2.1 ms at 2,250 spread ones). At each millisecond a worker, for
//! the streams of that phase, reads what came in (jitter buffer, keys), plays out one frame
//! (decode, VAD, the recording) and sends the next packet. The call's task hears only of what
//! matters to the script: a key, speech starting, an utterance. A frame handed to the call's
//! task every 20 ms was two task wake-ups per call per frame, most of media's cost at a few
//! thousand calls.
//!
//! Ports (`[telephony] media_ports`): a socket per call (the default: any far end, demuxed by
//! the port itself), or one shared socket per worker, read with `recvmmsg` and written with
//! `sendmmsg`, whose calls are told apart by the far end's address from the SDP answer. That
//! needs a gateway that gives each call its own media address, as trunks and SBCs do; two
//! live calls answered with one address on one socket cannot be told apart, and the second
//! is refused ([`MediaError::AddressInUse`]) rather than risk one customer hearing another.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use tokio::sync::{mpsc, oneshot};

use super::batch::{RecvBatch, SendBatch};
use super::{Frame, Inbound, LATENESS_BUCKETS, Listener, PERIOD_MS, PacerStats, RTP_HEADER};
use crate::telephony::media::FRAME_SAMPLES;
use crate::telephony::media::g711::Codec;
use crate::telephony::media::vad::{Vad, VadConfig, VadEvent};

/// How calls get their RTP ports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MediaPorts {
    /// A socket of its own per call.
    #[default]
    PerCall,
    /// One socket per worker, calls told apart by the far end's address.
    Shared,
}

/// Why a stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no RTP port on {ip}: {source}")]
    Bind { ip: IpAddr, source: std::io::Error },
    #[error(
        "the answer gave this call the media address {remote}, which another live call on the same shared RTP port \
         already has; the two could not be told apart (media_ports = \"per_call\" works with such gateways)"
    )]
    AddressInUse { remote: SocketAddr },
    #[error("cannot start a media worker thread: {0}")]
    Worker(#[source] std::io::Error),
}

/// Datagrams read per `recvmmsg`.
const RECV_BATCH: usize = 64;

/// Socket buffers of the shared sockets: a worker's tick of a few hundred packets and more.
const SHARED_SOCKET_BUFFER: usize = 4 << 20;

/// The media plane: its workers, and where new streams go.
pub struct MediaPlane {
    workers: Vec<Arc<Worker>>,
    next: AtomicUsize,
    ip: IpAddr,
    pub stats: Arc<PacerStats>,
}

struct Worker {
    /// Streams to schedule, taken by the worker at its next tick.
    arriving: Mutex<Vec<Arc<Stream>>>,
    /// The worker's shared socket and who is behind each far-end address (shared ports).
    shared: Option<SharedSocket>,
    stop: AtomicBool,
}

struct SharedSocket {
    socket: UdpSocket,
    local: SocketAddr,
    routes: Mutex<FxHashMap<SocketAddr, Weak<Stream>>>,
}

impl MediaPlane {
    /// Starts `workers` threads (at least one) binding RTP on `ip`. A worker sleeps to each
    /// millisecond on a thread of its own: on the calls' runtime its timer would wait behind
    /// ready tasks; the kernel wakes a sleeping thread on time.
    ///
    /// It turns transparent huge pages off for the process: a huge page faulted in on a
    /// worker is 2 MB zeroed (or memory compacted) while every call on that worker waits. With
    /// 2,000 callers talking, p99 packet lateness was 40-50 ms with them and under 5 ms without
    /// (docs/architecture.md, "Measured: real telephony"); Redis and databases advise the same.
    pub fn start(ip: IpAddr, ports: MediaPorts, workers: usize) -> Result<Arc<MediaPlane>, MediaError> {
        no_huge_pages();
        let stats = Arc::new(PacerStats { lateness: Mutex::new(vec![0; LATENESS_BUCKETS]), ..PacerStats::default() });
        // Built first, so a worker that cannot start stops those already running (its Drop).
        let mut plane = MediaPlane { workers: Vec::new(), next: AtomicUsize::new(0), ip, stats };
        for n in 0..workers.max(1) {
            let shared = match ports {
                MediaPorts::PerCall => None,
                MediaPorts::Shared => {
                    let (socket, local) = bind(ip, SHARED_SOCKET_BUFFER)?;
                    Some(SharedSocket { socket, local, routes: Mutex::new(FxHashMap::default()) })
                }
            };
            let worker = Arc::new(Worker { arriving: Mutex::new(Vec::new()), shared, stop: AtomicBool::new(false) });
            let (pacing, stats) = (Arc::clone(&worker), Arc::clone(&plane.stats));
            std::thread::Builder::new()
                .name(format!("callscript-rtp-{n}"))
                .spawn(move || pace(&pacing, &stats))
                .map_err(MediaError::Worker)?;
            plane.workers.push(worker);
        }
        Ok(Arc::new(plane))
    }

    /// Worker threads for this machine: one per core.
    pub fn default_workers() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// A call's stream, not yet sending or hearing: its local address goes in the SDP offer.
    /// `ssrc` names our side's packets.
    pub fn open(&self, ssrc: u32) -> Result<MediaStream, MediaError> {
        let worker = &self.workers[self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len()];
        let (socket, local) = match &worker.shared {
            Some(shared) => (None, shared.local),
            None => {
                // The kernel's default buffers: a call's socket holds at most a frame or two.
                let (socket, local) = bind(self.ip, 0)?;
                (Some(socket), local)
            }
        };
        Ok(MediaStream(Arc::new(Stream {
            socket,
            local,
            worker: Arc::clone(worker),
            state: Mutex::new(StreamState::new(ssrc)),
        })))
    }
}

impl Drop for MediaPlane {
    fn drop(&mut self) {
        for worker in &self.workers {
            worker.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Transparent huge pages off for this process (existing mappings too); a kernel without the
/// setting keeps them, and the plane works all the same.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with integer arguments only; it changes a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// A non-blocking UDP socket on a free port of `ip` (with `buffers` bytes each way, when not
/// 0), and the address it got.
fn bind(ip: IpAddr, buffers: usize) -> Result<(UdpSocket, SocketAddr), MediaError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let bound = || {
        let domain = if ip.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        if buffers > 0 {
            let _ = socket.set_recv_buffer_size(buffers);
            let _ = socket.set_send_buffer_size(buffers);
        }
        socket.set_nonblocking(true)?;
        socket.bind(&SocketAddr::new(ip, 0).into())?;
        let socket = UdpSocket::from(socket);
        let local = socket.local_addr()?;
        Ok((socket, local))
    };
    bound().map_err(|source| MediaError::Bind { ip, source })
}

/// One call's media, as the call's task holds it. Dropped (the call ended, or its task
/// failed), it stops: the worker forgets it at its next phase.
pub struct MediaStream(Arc<Stream>);

struct Stream {
    /// The call's own socket; None on a shared port.
    socket: Option<UdpSocket>,
    local: SocketAddr,
    worker: Arc<Worker>,
    state: Mutex<StreamState>,
}

struct StreamState {
    closed: bool,
    /// Given to the worker (it sends and hears from then on, as asked).
    scheduled: bool,
    sending: bool,
    remote: Option<SocketAddr>,
    codec: Codec,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    /// Prompt audio still to send.
    queue: VecDeque<Frame>,
    /// Told when the queue runs dry (a prompt finished playing, or was cut).
    drained: Option<oneshot::Sender<()>>,
    /// The negotiated telephone-event payload type (101, ours, until the answer says).
    events_pt: Option<u8>,
    hearing: Option<Hearing>,
    /// Both sides since the recording's last hand-over, when recording.
    recording: Option<Recorded>,
}

struct Hearing {
    listener: Listener,
    vad: Vad,
    inbound: mpsc::Sender<Inbound>,
}

#[derive(Default)]
struct Recorded {
    sent: Vec<i16>,
    heard: Vec<i16>,
}

impl StreamState {
    fn new(ssrc: u32) -> StreamState {
        StreamState {
            closed: false,
            scheduled: false,
            sending: false,
            remote: None,
            codec: Codec::Pcmu,
            seq: (ssrc >> 16) as u16,
            timestamp: ssrc.rotate_left(7),
            ssrc,
            queue: VecDeque::new(),
            drained: None,
            events_pt: None,
            hearing: None,
            recording: None,
        }
    }

    /// A datagram from the far end: into the jitter buffer, or a key to the call at once.
    fn take_datagram(&mut self, datagram: &[u8]) {
        let events = self.events_pt;
        let Some(hearing) = self.hearing.as_mut() else { return };
        if let Some(key) = hearing.listener.packet(datagram, events) {
            hearing.tell(Inbound::Key(key));
        }
    }

    /// This period's frame of the far end's audio: recorded, and through the VAD. Whether it
    /// was decoded from a packet.
    fn play_out(&mut self) -> bool {
        let Some(hearing) = self.hearing.as_mut() else { return false };
        if hearing.inbound.is_closed() {
            self.hearing = None;
            return false;
        }
        let decoded = hearing.listener.decoded;
        let Some(frame) = hearing.listener.frame() else { return false };
        let decoded = hearing.listener.decoded > decoded;
        if let Some(recorded) = self.recording.as_mut() {
            recorded.heard.extend_from_slice(&frame);
        }
        match hearing.vad.push(&frame) {
            VadEvent::SpeechStarted => hearing.tell(Inbound::SpeechStarted),
            VadEvent::UtteranceEnded { samples } => hearing.tell(Inbound::Utterance(samples)),
            _ => {}
        }
        decoded
    }

    /// Appends this period's packet to `packet`: queued prompt audio, else silence. Returns
    /// where it goes; None (nothing written) before the answer says, or when not sending.
    fn next_packet(&mut self, packet: &mut Vec<u8>) -> Option<SocketAddr> {
        let remote = self.remote.filter(|_| self.sending)?;
        let frame = self.queue.pop_front().unwrap_or([0; FRAME_SAMPLES]);
        if self.queue.is_empty()
            && let Some(tx) = self.drained.take()
        {
            let _ = tx.send(());
        }
        if let Some(recorded) = self.recording.as_mut() {
            recorded.sent.extend_from_slice(&frame);
        }
        // The 12-byte RTP header (version 2, no padding, extension or CSRCs), then the payload,
        // written into the caller's reused buffer: nothing allocated per packet.
        packet.extend_from_slice(&[0x80, self.codec.payload_type() & 0x7f]);
        packet.extend_from_slice(&self.seq.to_be_bytes());
        packet.extend_from_slice(&self.timestamp.to_be_bytes());
        packet.extend_from_slice(&self.ssrc.to_be_bytes());
        self.codec.encode(&frame, packet);
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        Some(remote)
    }
}

impl Hearing {
    /// A full channel (the call's task is far behind) loses the event rather than stall the
    /// worker and every other call on it.
    fn tell(&self, inbound: Inbound) {
        let _ = self.inbound.try_send(inbound);
    }
}

impl Stream {
    fn lock(&self) -> MutexGuard<'_, StreamState> {
        // A panic elsewhere never leaves this state half-written; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands the stream to its worker, once.
    fn schedule(self: &Arc<Self>, state: &mut StreamState) {
        if !state.scheduled && !state.closed {
            state.scheduled = true;
            self.worker.arriving.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::clone(self));
        }
    }
}

impl MediaStream {
    /// Where the far end sends: our SDP offer's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local
    }

    /// Whether the stream can hear before the answer (early media): on a port of its own.
    /// A shared port routes by the far end's address, which only the answer gives.
    pub fn hears_before_answer(&self) -> bool {
        self.0.socket.is_some()
    }

    /// Where to send and what, once the answer says. On a shared port this is also how the
    /// far end's packets find this call.
    pub fn connect(&self, remote: SocketAddr, codec: Codec, events_pt: Option<u8>) -> Result<(), MediaError> {
        if let Some(shared) = &self.0.worker.shared {
            let mut routes = shared.routes.lock().unwrap_or_else(|e| e.into_inner());
            let taken = routes
                .get(&remote)
                .and_then(Weak::upgrade)
                .is_some_and(|other| !Arc::ptr_eq(&other, &self.0) && !other.lock().closed);
            if taken {
                return Err(MediaError::AddressInUse { remote });
            }
            routes.insert(remote, Arc::downgrade(&self.0));
        }
        let mut state = self.0.lock();
        state.remote = Some(remote);
        state.codec = codec;
        state.events_pt = events_pt;
        Ok(())
    }

    /// Starts hearing the far end: keys, speech and utterances (by `vad`) come on `inbound`.
    pub fn hear(&self, vad: VadConfig, inbound: mpsc::Sender<Inbound>) {
        let mut state = self.0.lock();
        if state.hearing.is_none() {
            state.hearing = Some(Hearing { listener: Listener::new(), vad: Vad::new(vad), inbound });
        }
        self.0.schedule(&mut state);
    }

    /// Starts sending (silence until a prompt plays), in the worker's next free phase.
    pub fn send(&self) {
        let mut state = self.0.lock();
        state.sending = true;
        self.0.schedule(&mut state);
    }

    /// Queues a prompt's audio; the receiver fires when it has all been sent (or was cut).
    pub fn play(&self, pcm: &[i16]) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut state = self.0.lock();
        for chunk in pcm.chunks(FRAME_SAMPLES) {
            let mut frame = [0i16; FRAME_SAMPLES];
            frame[..chunk.len()].copy_from_slice(chunk);
            state.queue.push_back(frame);
        }
        if state.queue.is_empty() {
            let _ = tx.send(());
        } else {
            state.drained = Some(tx);
        }
        rx
    }

    /// Barge-in: drops what is left of the prompt.
    pub fn stop_playing(&self) {
        let mut state = self.0.lock();
        state.queue.clear();
        if let Some(tx) = state.drained.take() {
            let _ = tx.send(());
        }
    }

    /// Keeps both sides from now on, for the tape to take.
    pub fn start_recording(&self) -> RecordingTap {
        self.0.lock().recording.get_or_insert_with(Recorded::default);
        RecordingTap(Arc::clone(&self.0))
    }

    /// Stops sending and hearing; the worker forgets the stream at its next phase.
    pub fn close(&self) {
        let remote = {
            let mut state = self.0.lock();
            state.closed = true;
            state.hearing = None;
            if let Some(tx) = state.drained.take() {
                let _ = tx.send(());
            }
            state.remote
        };
        if let (Some(shared), Some(remote)) = (&self.0.worker.shared, remote) {
            let mut routes = shared.routes.lock().unwrap_or_else(|e| e.into_inner());
            if routes.get(&remote).is_some_and(|w| w.as_ptr() == Arc::as_ptr(&self.0)) {
                routes.remove(&remote);
            }
        }
    }
}

/// Where the recording takes a stream's audio from (it does not keep the stream running).
pub struct RecordingTap(Arc<Stream>);

impl RecordingTap {
    /// What was sent and heard since the last take (the recording's left and right channels).
    pub fn take(&self) -> (Vec<i16>, Vec<i16>) {
        match self.0.lock().recording.as_mut() {
            Some(r) => (std::mem::take(&mut r.sent), std::mem::take(&mut r.heard)),
            None => (Vec::new(), Vec::new()),
        }
    }
}

impl Drop for MediaStream {
    fn drop(&mut self) {
        self.close();
    }
}

/// A worker's loop: every millisecond, the streams of that phase of the 20 ms period.
fn pace(worker: &Worker, stats: &PacerStats) {
    let start = Instant::now();
    let mut phases: Vec<Vec<Arc<Stream>>> = vec![Vec::new(); PERIOD_MS];
    let mut next_phase = 0usize;
    let mut tick: u64 = 0;
    let mut received = RecvBatch::new(RECV_BATCH);
    let mut outgoing = SendBatch::default();
    let mut packet = Vec::with_capacity(RTP_HEADER + FRAME_SAMPLES);
    let mut lateness = [0u64; LATENESS_BUCKETS];
    while !worker.stop.load(Ordering::Relaxed) {
        tick += 1;
        let due = start + Duration::from_millis(tick);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for stream in worker.arriving.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            // Spread over the period: the next stream goes one millisecond later.
            phases[next_phase % PERIOD_MS].push(stream);
            next_phase += 1;
        }
        if let Some(shared) = &worker.shared {
            // Read every millisecond: a tick's worth from all the worker's far ends.
            route(shared, &mut received);
        }
        let phase = (tick % PERIOD_MS as u64) as usize;
        let (mut sent, mut decoded) = (0u64, 0u64);
        phases[phase].retain(|stream| {
            let mut state = stream.lock();
            if state.closed {
                return false;
            }
            if let Some(socket) = &stream.socket
                && state.hearing.is_some()
            {
                received.read_dry(socket, |datagrams| {
                    for (datagram, _) in datagrams.datagrams() {
                        state.take_datagram(datagram);
                    }
                });
            }
            decoded += u64::from(state.play_out());
            match &stream.socket {
                Some(own) => {
                    packet.clear();
                    if let Some(remote) = state.next_packet(&mut packet) {
                        drop(state);
                        // A full socket buffer drops this packet, as the network would.
                        let _ = own.send_to(&packet, remote);
                        sent += 1;
                        count_late(&mut lateness, due, 1);
                    }
                }
                // No socket of its own: the stream is on its worker's shared one.
                None => outgoing.push(|bytes| state.next_packet(bytes)),
            }
            true
        });
        if let Some(shared) = &worker.shared
            && !outgoing.is_empty()
        {
            let batch = outgoing.len() as u64;
            outgoing.send(&shared.socket);
            sent += batch;
            // Every packet of the batch left with the one system call: all as late as it.
            count_late(&mut lateness, due, batch);
        }
        stats.ticks.fetch_add(1, Ordering::Relaxed);
        stats.frames_decoded.fetch_add(decoded, Ordering::Relaxed);
        if sent > 0 {
            stats.packets.fetch_add(sent, Ordering::Relaxed);
            let mut h = stats.lateness.lock().unwrap_or_else(|e| e.into_inner());
            for (total, n) in h.iter_mut().zip(lateness.iter_mut()) {
                *total += std::mem::take(n);
            }
        }
    }
}

/// Counts `packets` that left now against `due` in the lateness histogram (0.1 ms buckets).
fn count_late(lateness: &mut [u64; LATENESS_BUCKETS], due: Instant, packets: u64) {
    let late = Instant::now().saturating_duration_since(due);
    lateness[((late.as_micros() / 100) as usize).min(LATENESS_BUCKETS - 1)] += packets;
}

/// Reads a shared socket dry, each datagram to the stream its source address belongs to.
/// Datagrams from addresses no live call has (a far end that already hung up, a stranger)
/// are dropped.
fn route(shared: &SharedSocket, received: &mut RecvBatch) {
    received.read_dry(&shared.socket, |datagrams| {
        let routes = shared.routes.lock().unwrap_or_else(|e| e.into_inner());
        for (datagram, source) in datagrams.datagrams() {
            if let Some(stream) = source.and_then(|s| routes.get(&s)).and_then(Weak::upgrade) {
                stream.lock().take_datagram(datagram);
            }
        }
    });
}

#[cfg(test)]
#[path = "plane_tests.rs"]
mod tests;
