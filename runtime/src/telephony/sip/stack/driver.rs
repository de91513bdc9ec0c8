//! Pumps the sans-IO [`Stack`] over one UDP socket or TCP stream: one task owns both, takes the calls'
//! commands from a channel and hands each call its events on a channel of its own. Datagrams
//! that arrive together are read before anything is sent, and everything the stack wants to
//! send leaves before the next wait.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::{Event, Key, Stack, StackError, Transmit};

/// A call's events, boxed so that a channel's first block (32 slots) stays small.
pub type Events = mpsc::UnboundedReceiver<Box<Event>>;

enum Command {
    Invite { key: Key, user: String, offer: Vec<u8>, events: mpsc::UnboundedSender<Box<Event>> },
    Register { key: Key, registrar: String, expires: u32, events: mpsc::UnboundedSender<Box<Event>> },
    Cancel(Key),
    Bye(Key),
    Refer { key: Key, target: String, referred_by: String },
    Release(Key),
}

/// The calls' side of the driver: cheap to clone, one per user agent.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    /// Our SIP address, as Via and Contact carry it.
    pub local: std::net::SocketAddr,
    call_ids: super::CallIds,
}

impl Handle {
    /// The Call-ID of the call with this key.
    pub fn call_id(&self, key: Key) -> String {
        self.call_ids.of(key).into()
    }

    /// Places a call; its events come on the returned channel until [`Handle::release`].
    pub fn invite(&self, key: Key, user: &str, offer: Vec<u8>) -> Result<Events, StackError> {
        if !super::valid_user(user) {
            return Err(StackError::Callee(user.into()));
        }
        let (events, rx) = mpsc::unbounded_channel();
        self.send(Command::Invite { key, user: user.into(), offer, events });
        Ok(rx)
    }

    pub fn register(&self, key: Key, registrar: &str, expires: u32) -> Events {
        let (events, rx) = mpsc::unbounded_channel();
        self.send(Command::Register { key, registrar: registrar.into(), expires, events });
        rx
    }

    pub fn cancel(&self, key: Key) {
        self.send(Command::Cancel(key));
    }

    pub fn bye(&self, key: Key) {
        self.send(Command::Bye(key));
    }

    pub fn refer(&self, key: Key, target: &str, referred_by: &str) {
        self.send(Command::Refer { key, target: target.into(), referred_by: referred_by.into() });
    }

    /// Done with the call (hangs up or cancels what is still up).
    pub fn release(&self, key: Key) {
        self.send(Command::Release(key));
    }

    fn send(&self, command: Command) {
        // The driver only stops when every handle is gone.
        let _ = self.commands.send(command);
    }
}

/// The connection to the gateway.
pub enum Wire {
    Udp {
        socket: UdpSocket,
        buffer: Vec<u8>,
    },
    /// One stream to the gateway; messages framed by Content-Length (RFC 3261 §18.3).
    Tcp {
        reader: OwnedReadHalf,
        writer: OwnedWriteHalf,
        peer: SocketAddr,
        pending: Vec<u8>,
        closed: bool,
    },
}

impl Wire {
    pub fn udp(socket: UdpSocket) -> Wire {
        Wire::Udp { socket, buffer: vec![0; 65_535] }
    }

    pub fn tcp(stream: TcpStream, peer: SocketAddr) -> Wire {
        let (reader, writer) = stream.into_split();
        Wire::Tcp { reader, writer, peer, pending: Vec::with_capacity(8192), closed: false }
    }

    /// Waits until something can be read.
    async fn ready(&mut self) {
        match self {
            Wire::Udp { socket, .. } => {
                let _ = socket.readable().await;
            }
            Wire::Tcp { closed: true, .. } => std::future::pending().await,
            Wire::Tcp { reader, pending, closed, .. } => match reader.read_buf(pending).await {
                Ok(0) | Err(_) => {
                    tracing::warn!("the gateway closed our SIP connection: calls in progress will time out");
                    *closed = true;
                }
                Ok(_) => {}
            },
        }
    }

    /// Hands everything that has arrived to the stack.
    fn take_in(&mut self, stack: &mut Stack) {
        let now = Instant::now();
        match self {
            Wire::Udp { socket, buffer } => {
                // A burst is read before anything is answered; bounded so timers still run.
                for _ in 0..64 {
                    match socket.try_recv_from(buffer) {
                        Ok((n, from)) => stack.receive(now, from, &buffer[..n]),
                        Err(_) => break,
                    }
                }
            }
            Wire::Tcp { pending, peer, .. } => {
                while let Some(frame) = super::wire::frame(pending) {
                    match frame {
                        Ok(len) => {
                            stack.receive(now, *peer, &pending[..len]);
                            pending.drain(..len);
                        }
                        Err(skip) => {
                            stack.dropped += 1;
                            pending.drain(..skip);
                        }
                    }
                }
            }
        }
    }

    async fn send(&mut self, transmit: &Transmit) {
        match self {
            Wire::Udp { socket, .. } => {
                // A full socket buffer waits; an error (no route, say) loses the datagram, as
                // the network could: retransmissions and timers cover it.
                if socket.try_send_to(&transmit.bytes, transmit.to).is_err() {
                    let _ = socket.send_to(&transmit.bytes, transmit.to).await;
                }
            }
            Wire::Tcp { writer, closed, .. } => {
                if !*closed && writer.write_all(&transmit.bytes).await.is_err() {
                    *closed = true;
                }
            }
        }
    }
}

/// Starts the driver task on the current runtime. It ends when every [`Handle`] is dropped.
pub fn start(wire: Wire, stack: Stack) -> Handle {
    let local = stack.config().local;
    let call_ids = stack.call_ids().clone();
    let (commands, rx) = mpsc::unbounded_channel();
    tokio::spawn(drive(wire, stack, rx));
    Handle { commands, local, call_ids }
}

async fn drive(mut wire: Wire, mut stack: Stack, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut sinks: HashMap<Key, mpsc::UnboundedSender<Box<Event>>> = HashMap::new();
    loop {
        let wake = stack.poll_timeout();
        let timer = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            command = commands.recv() => {
                let Some(command) = command else { break };
                let now = Instant::now();
                apply(&mut stack, &mut sinks, now, command);
                while let Ok(command) = commands.try_recv() {
                    apply(&mut stack, &mut sinks, now, command);
                }
            }
            () = wire.ready() => wire.take_in(&mut stack),
            () = timer => stack.on_time(Instant::now()),
        }
        while let Some(transmit) = stack.poll_transmit() {
            wire.send(&transmit).await;
        }
        while let Some((key, event)) = stack.poll_event() {
            if let Some(sink) = sinks.get(&key) {
                let _ = sink.send(Box::new(event));
            }
        }
    }
}

fn apply(
    stack: &mut Stack,
    sinks: &mut HashMap<Key, mpsc::UnboundedSender<Box<Event>>>,
    now: Instant,
    command: Command,
) {
    let refused = |sinks: &mut HashMap<Key, mpsc::UnboundedSender<Box<Event>>>, key: Key, e: StackError| {
        if let Some(sink) = sinks.get(&key) {
            let failure = super::Failure::Status { code: 0, reason: e.to_string() };
            let _ = sink.send(Box::new(Event::Failed(failure)));
        }
    };
    match command {
        Command::Invite { key, user, offer, events } => {
            sinks.insert(key, events);
            if let Err(e) = stack.invite(now, key, &user, offer) {
                refused(sinks, key, e);
            }
        }
        Command::Register { key, registrar, expires, events } => {
            sinks.insert(key, events);
            if let Err(e) = stack.register(now, key, &registrar, expires) {
                refused(sinks, key, e);
            }
        }
        Command::Cancel(key) => {
            let _ = stack.cancel(now, key);
        }
        Command::Bye(key) => {
            if let Err(e) = stack.bye(now, key)
                && let Some(sink) = sinks.get(&key)
            {
                let done = Event::Done { method: rsipstack::rsip::Method::Bye, status: None, reason: e.to_string() };
                let _ = sink.send(Box::new(done));
            }
        }
        Command::Refer { key, target, referred_by } => {
            if let Err(e) = stack.refer(now, key, &target, &referred_by)
                && let Some(sink) = sinks.get(&key)
            {
                let done = Event::Done { method: rsipstack::rsip::Method::Refer, status: None, reason: e.to_string() };
                let _ = sink.send(Box::new(done));
            }
        }
        Command::Release(key) => {
            sinks.remove(&key);
            stack.release(now, key);
        }
    }
}
