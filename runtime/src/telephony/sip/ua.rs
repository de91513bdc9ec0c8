//! The SIP user agent: our sans-IO stack (`stack/`) and its driver for the whole campaign,
//! optional REGISTER, and the trunk's own limits, applied before an INVITE leaves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::rsip::Uri;
use tokio::sync::Semaphore;

use super::rtp::MediaPlane;
use super::stack::{self, Event, Key, Stack, driver};
use super::{SipConfig, SipError};

/// The campaign's SIP side.
pub struct UserAgent {
    pub config: SipConfig,
    /// The stack's driver: calls send their requests through it and get their events.
    pub stack: driver::Handle,
    /// Every call's RTP.
    pub media: Arc<MediaPlane>,
    /// Our SIP address (what Contact and Via carry).
    pub local: SocketAddr,
    /// Where our RTP sockets bind and what the SDP offers: the bind address, or, when that is
    /// a wildcard, the address the gateway is reached from.
    pub media_ip: std::net::IpAddr,
    trunk: Trunk,
}

/// The trunk's limits: concurrent dialogs and INVITEs per second, never a burst.
struct Trunk {
    lines: Option<Arc<Semaphore>>,
    interval: Duration,
    next_invite: tokio::sync::Mutex<tokio::time::Instant>,
}

/// Held for a call's life: its line on the trunk.
pub struct Line(#[allow(dead_code)] Option<tokio::sync::OwnedSemaphorePermit>);

/// One call's leg in the stack, for as long as the call task holds it: its events, and the
/// requests it sends. Dropped (the call is over, or its task ended or was aborted), the stack
/// hangs up or cancels whatever is still up and forgets it.
pub struct CallLeg {
    pub key: Key,
    pub events: driver::Events,
    stack: driver::Handle,
}

impl CallLeg {
    pub fn cancel(&self) {
        self.stack.cancel(self.key);
    }

    /// Hangs up and waits for the BYE's answer, at most `within`: the call's end is reported
    /// only once the BYE has left (a campaign that ends with this call would otherwise stop the
    /// stack's driver before it sent it). The status, or None when none came (or the far end
    /// had already hung up).
    pub async fn bye(&mut self, within: Duration) -> Option<u16> {
        self.stack.bye(self.key);
        let answer = async {
            while let Some(event) = self.events.recv().await {
                if let Event::Done { method: rsipstack::rsip::Method::Bye, status, .. } = *event {
                    return status;
                }
            }
            None
        };
        tokio::time::timeout(within, answer).await.ok().flatten()
    }

    pub fn refer(&self, target: &str, referred_by: &str) {
        self.stack.refer(self.key, target, referred_by);
    }
}

impl Drop for CallLeg {
    fn drop(&mut self) {
        self.stack.release(self.key);
    }
}

/// The REGISTER's key: calls are keyed by their `CallId`s, which count up from 0.
const REGISTRATION: Key = u64::MAX;

impl UserAgent {
    /// Binds the transport and starts the stack's driver (on the current tokio runtime).
    pub async fn start(config: SipConfig) -> Result<Arc<UserAgent>, SipError> {
        let (gateway_uri, gateway_socket) = super::gateway_address(&config.gateway)?;
        let tcp = config.transport == "tcp";
        let local_bind: SocketAddr = config.local.parse().map_err(|_| SipError::LocalAddress(config.local.clone()))?;
        let (wire, local) = if tcp {
            // Our own stream, so TCP_NODELAY is set (SIP-NOTES: 11.8 ms median setup without it).
            let socket = if gateway_socket.is_ipv6() {
                tokio::net::TcpSocket::new_v6()
            } else {
                tokio::net::TcpSocket::new_v4()
            }
            .map_err(|e| bind_error(&config, e))?;
            socket.set_reuseaddr(true).ok();
            socket.bind(local_bind).map_err(|e| bind_error(&config, e))?;
            let stream = socket.connect(gateway_socket).await.map_err(|e| tcp_error(&config, e))?;
            stream.set_nodelay(true).map_err(|e| tcp_error(&config, e))?;
            let local = stream.local_addr().map_err(|e| tcp_error(&config, e))?;
            (driver::Wire::tcp(stream, gateway_socket), local)
        } else {
            let socket = udp_socket(local_bind).map_err(|e| bind_error(&config, e))?;
            let local = socket.local_addr().map_err(|e| bind_error(&config, e))?;
            (driver::Wire::udp(socket), local)
        };
        let media_ip = if local.ip().is_unspecified() { route_to(gateway_socket)? } else { local.ip() };
        // Bound to a wildcard: tell the peer the address it can reach us at.
        let reachable = SocketAddr::new(media_ip, local.port());
        Uri::try_from(config.from.as_str())
            .map_err(|e| SipError::From { from: config.from.clone(), reason: e.to_string() })?;
        let (t1, t2, linger) = stack::Config::timers(config.t1x64);
        let credential = match (&config.auth_user, &config.auth_password) {
            (Some(user), Some(password)) => {
                Some(stack::digest::Credential { user: user.clone(), password: password.clone() })
            }
            _ => None,
        };
        let stack_config = stack::Config {
            local: reachable,
            gateway: gateway_socket,
            reliable: tcp,
            from: config.from.clone(),
            contact: format!("sip:{}@{reachable}{}", config.contact_user(), if tcp { ";transport=tcp" } else { "" }),
            // Request URIs are `sip:PHONE@host[:port]` of the gateway.
            callee_host: gateway_uri.host_with_port.to_string(),
            invite_headers: config
                .asserted_identity
                .iter()
                .map(|pai| format!("P-Asserted-Identity: <{pai}>"))
                .collect(),
            user_agent: concat!("CallScript/", env!("CARGO_PKG_VERSION")).into(),
            credential,
            t1,
            t2,
            linger,
        };
        let stack = driver::start(wire, Stack::new(stack_config));
        let trunk = Trunk {
            lines: config.max_concurrent.map(|n| Arc::new(Semaphore::new(n as usize))),
            interval: config.calls_per_second.map(|cps| Duration::from_secs_f64(1.0 / cps)).unwrap_or(Duration::ZERO),
            next_invite: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        };
        let media =
            MediaPlane::start(media_ip, config.media_ports, MediaPlane::default_workers()).map_err(SipError::Media)?;
        let ua = Arc::new(UserAgent { config, stack, media, local, media_ip, trunk });
        if ua.config.register {
            ua.register().await?;
        }
        Ok(ua)
    }

    /// Waits for a line and an INVITE token of the trunk.
    pub async fn line(&self) -> Line {
        let permit = match &self.trunk.lines {
            Some(lines) => Arc::clone(lines).acquire_owned().await.ok(),
            None => None,
        };
        if !self.trunk.interval.is_zero() {
            let mut next = self.trunk.next_invite.lock().await;
            let now = tokio::time::Instant::now();
            let at = (*next).max(now);
            *next = at + self.trunk.interval;
            drop(next);
            tokio::time::sleep_until(at).await;
        }
        Line(permit)
    }

    /// INVITEs one customer with the offer; `key` names the call in the stack (its `CallId`).
    pub fn invite(&self, key: Key, phone: &str, offer: String) -> Result<CallLeg, SipError> {
        let events = self
            .stack
            .invite(key, phone, offer.into_bytes())
            .map_err(|e| SipError::Callee { phone: phone.into(), reason: e.to_string() })?;
        Ok(CallLeg { key, events, stack: self.stack.clone() })
    }

    /// REGISTER with the gateway (some trunks want it before they take INVITEs).
    async fn register(&self) -> Result<(), SipError> {
        let gateway = || self.config.gateway.clone();
        let mut events = self.stack.register(REGISTRATION, &self.config.gateway, self.config.register_expires);
        let answer = events.recv().await.map(|e| *e);
        self.stack.release(REGISTRATION);
        match answer {
            Some(Event::Done { status: Some(code), .. }) if (200..300).contains(&code) => Ok(()),
            Some(Event::Done { status: Some(code), reason, .. }) => {
                Err(SipError::RegisterRefused { gateway: gateway(), status: format!("{code} {reason}") })
            }
            Some(Event::Done { status: None, reason, .. }) => Err(SipError::Register { gateway: gateway(), reason }),
            other => Err(SipError::Register { gateway: gateway(), reason: format!("unexpected: {other:?}") }),
        }
    }
}

/// What the SIP socket asks the kernel to buffer each way. At the default (about 200 KB on
/// Linux) bursts of answers at a few thousand calls per second overflow the receive buffer
/// and every lost datagram costs a T1 retransmission; SIP-NOTES measured SIPp→SIPp at 2–3k
/// calls/s with default buffers and ≥ 20k with 4 MB. The kernel caps it at `net.core.rmem_max`
/// / `wmem_max` (raise those on a dialler host); a smaller grant is not an error.
const SIP_SOCKET_BUFFER: usize = 4 << 20;

/// Our UDP SIP socket, with large kernel buffers.
fn udp_socket(local: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if local.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(SIP_SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SIP_SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&local.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

/// The local address packets to `peer` leave from (no packet is sent).
fn route_to(peer: SocketAddr) -> Result<std::net::IpAddr, SipError> {
    let no_route = |e: std::io::Error| SipError::NoRoute { gateway: peer, reason: e.to_string() };
    let any = SocketAddr::new(
        if peer.is_ipv6() { std::net::Ipv6Addr::UNSPECIFIED.into() } else { std::net::Ipv4Addr::UNSPECIFIED.into() },
        0,
    );
    let probe = std::net::UdpSocket::bind(any).map_err(no_route)?;
    probe.connect(peer).map_err(no_route)?;
    Ok(probe.local_addr().map_err(no_route)?.ip())
}

fn bind_error(config: &SipConfig, e: impl std::fmt::Display) -> SipError {
    SipError::Bind { local: config.local.clone(), reason: e.to_string() }
}

fn tcp_error(config: &SipConfig, e: impl std::fmt::Display) -> SipError {
    SipError::TcpConnect { gateway: config.gateway.clone(), reason: e.to_string() }
}
