//! The SIP user agent: one rsipstack endpoint and dialog layer for the whole campaign, the
//! loop that routes in-dialog requests (BYE, INFO, NOTIFY) to their calls, optional
//! REGISTER, and the trunk's own limits, applied before an INVITE leaves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{Dialog, DialogState, DialogStateSender};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::rsip::{self, Header, Uri};
use rsipstack::transaction::endpoint::EndpointOption;
use rsipstack::transport::{SipAddr, TransportLayer, udp::UdpConnection};
use rsipstack::{EndpointBuilder, transport::tcp::TcpConnection};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::rtp::Pacer;
use super::{SipConfig, SipError};

/// The campaign's SIP side.
pub struct UserAgent {
    pub config: SipConfig,
    pub dialogs: Arc<DialogLayer>,
    pub pacer: Arc<Pacer>,
    /// Our SIP address (what Contact and Via carry).
    pub local: SocketAddr,
    /// Where our RTP sockets bind and what the SDP offers: the bind address, or, when that is
    /// a wildcard, the address the gateway is reached from.
    pub media_ip: std::net::IpAddr,
    gateway: SipAddr,
    contact: Uri,
    /// From, parsed once.
    caller: Uri,
    /// The host part of request URIs (`sip:PHONE@host`).
    callee_host: String,
    trunk: Trunk,
    /// Where every dialog reports its states (see [`Router`]).
    states: DialogStateSender,
    router: Arc<Router>,
    cancel: CancellationToken,
}

/// Every dialog's states come in on one channel and go to their call by Call-ID. A channel of
/// rsipstack's own per dialog would cost 9.7 KB from the start (a tokio channel allocates its
/// first block of 32 slots when made, and a `DialogState` is 304 bytes); a call's own channel
/// of boxed states costs 256 bytes.
#[derive(Default)]
struct Router {
    calls: std::sync::Mutex<HashMap<String, tokio::sync::mpsc::UnboundedSender<Box<DialogState>>>>,
}

impl Router {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, tokio::sync::mpsc::UnboundedSender<Box<DialogState>>>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn route_states(router: Arc<Router>, mut states: tokio::sync::mpsc::UnboundedReceiver<DialogState>) {
    while let Some(state) = states.recv().await {
        let call = router.lock().get(&state.id().call_id).cloned();
        if let Some(call) = call {
            let _ = call.send(Box::new(state));
        }
    }
}

/// One call's dialog states (its Call-ID's), for as long as it lives.
pub struct CallStates {
    call_id: String,
    states: tokio::sync::mpsc::UnboundedReceiver<Box<DialogState>>,
    router: Arc<Router>,
}

impl CallStates {
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The next state; None once the user agent is gone.
    pub async fn recv(&mut self) -> Option<DialogState> {
        self.states.recv().await.map(|s| *s)
    }

    /// A state that already came, if any.
    pub fn try_recv(&mut self) -> Option<DialogState> {
        self.states.try_recv().ok().map(|s| *s)
    }
}

impl Drop for CallStates {
    fn drop(&mut self) {
        self.router.lock().remove(&self.call_id);
    }
}

impl Drop for UserAgent {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The trunk's limits: concurrent dialogs and INVITEs per second, never a burst.
struct Trunk {
    lines: Option<Arc<Semaphore>>,
    interval: Duration,
    next_invite: tokio::sync::Mutex<tokio::time::Instant>,
}

/// Held for a call's life: its line on the trunk.
pub struct Line(#[allow(dead_code)] Option<tokio::sync::OwnedSemaphorePermit>);

impl UserAgent {
    /// Binds the transport and starts the endpoint (on the current tokio runtime).
    pub async fn start(config: SipConfig) -> Result<Arc<UserAgent>, SipError> {
        let cancel = CancellationToken::new();
        let transport = TransportLayer::new(cancel.clone());
        let (gateway_uri, gateway_socket) = super::gateway_address(&config.gateway)?;
        let tcp = config.transport == "tcp";
        let local_bind: SocketAddr = config.local.parse().map_err(|_| SipError::LocalAddress(config.local.clone()))?;
        let local = if tcp {
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
            let addr = SipAddr { r#type: Some(rsip::transport::Transport::Tcp), addr: local.into() };
            let connection = TcpConnection::from_stream(stream, addr, Some(cancel.child_token()))
                .map_err(|e| tcp_error(&config, e))?;
            transport.add_connection(connection.into());
            local
        } else {
            let socket = udp_socket(local_bind).map_err(|e| bind_error(&config, e))?;
            let connection = UdpConnection::from_socket(Arc::new(socket), None, Some(cancel.child_token()))
                .await
                .map_err(|e| bind_error(&config, e))?;
            let local = connection.get_addr().get_socketaddr().map_err(|e| bind_error(&config, e))?;
            transport.add_transport(connection.into());
            local
        };
        let option = EndpointOption {
            // Transactions of ended calls are kept 64×T1; 32 s at T1 = 500 ms holds memory for
            // nothing on a loopback trunk. T1 stays the RFC default.
            t1x64: config.t1x64,
            callid_suffix: Some("callscript".into()),
            ..EndpointOption::default()
        };
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport)
            .with_user_agent(concat!("CallScript/", env!("CARGO_PKG_VERSION")))
            .with_option(option)
            .with_inspector(Box::new(super::screen::Screen))
            .build();
        let incoming = endpoint.incoming_transactions().map_err(|e| SipError::Stack(e.to_string()))?;
        let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let serve = endpoint.inner.clone();
        tokio::spawn(async move {
            let _ = serve.serve().await;
        });
        tokio::spawn(route_incoming(Arc::clone(&dialogs), incoming));
        let media_ip = if local.ip().is_unspecified() { route_to(gateway_socket)? } else { local.ip() };
        let router = Arc::new(Router::default());
        let (states, all_states) = dialogs.new_dialog_state_channel();
        tokio::spawn(route_states(Arc::clone(&router), all_states));
        let transport_param = if tcp { vec![rsip::Param::Transport(rsip::transport::Transport::Tcp)] } else { vec![] };
        let contact = Uri {
            scheme: Some(rsip::Scheme::Sip),
            auth: Some(rsip::Auth { user: config.contact_user(), password: None }),
            // Bound to a wildcard: tell the peer the address it can reach us at.
            host_with_port: SocketAddr::new(media_ip, local.port()).into(),
            params: transport_param,
            headers: vec![],
        };
        let gateway = SipAddr {
            r#type: Some(if tcp { rsip::transport::Transport::Tcp } else { rsip::transport::Transport::Udp }),
            addr: gateway_socket.into(),
        };
        let trunk = Trunk {
            lines: config.max_concurrent.map(|n| Arc::new(Semaphore::new(n as usize))),
            interval: config.calls_per_second.map(|cps| Duration::from_secs_f64(1.0 / cps)).unwrap_or(Duration::ZERO),
            next_invite: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        };
        let caller = Uri::try_from(config.from.as_str())
            .map_err(|e| SipError::From { from: config.from.clone(), reason: e.to_string() })?;
        // Request URIs are `sip:PHONE@host[:port]` of the gateway.
        let callee_host = gateway_uri.host_with_port.to_string();
        let ua = Arc::new(UserAgent {
            config,
            dialogs,
            pacer: Pacer::start(),
            local,
            media_ip,
            gateway,
            contact,
            caller,
            callee_host,
            trunk,
            states,
            router,
            cancel,
        });
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

    /// A new call's Call-ID and the channel of its dialog's states, routed before the INVITE
    /// leaves; pass the sender with [`UserAgent::invite`]'s option to `do_invite_async`.
    pub fn call_states(&self) -> (CallStates, DialogStateSender) {
        let call_id = rsipstack::transaction::make_call_id(Some("callscript"), Default::default()).value().to_string();
        let (tx, states) = tokio::sync::mpsc::unbounded_channel();
        self.router.lock().insert(call_id.clone(), tx);
        (CallStates { call_id, states, router: Arc::clone(&self.router) }, self.states.clone())
    }

    /// The INVITE for one customer.
    pub fn invite(&self, phone: &str, offer: String) -> Result<InviteOption, SipError> {
        let callee = Uri::try_from(format!("sip:{phone}@{}", self.callee_host).as_str())
            .map_err(|e| SipError::Callee { phone: phone.into(), reason: e.to_string() })?;
        let caller = self.caller.clone();
        let mut headers = Vec::new();
        if let Some(pai) = &self.config.asserted_identity {
            headers.push(Header::Other("P-Asserted-Identity".into(), format!("<{pai}>")));
        }
        Ok(InviteOption {
            caller,
            callee,
            destination: Some(self.gateway.clone()),
            content_type: Some("application/sdp".into()),
            offer: Some(offer.into_bytes()),
            contact: self.contact.clone(),
            credential: self.credential(),
            headers: (!headers.is_empty()).then_some(headers),
            ..InviteOption::default()
        })
    }

    fn credential(&self) -> Option<Credential> {
        let (user, password) = (self.config.auth_user.clone()?, self.config.auth_password.clone()?);
        Some(Credential { username: user, password, realm: None, auth_username: None })
    }

    /// REGISTER with the gateway (some trunks want it before they take INVITEs).
    async fn register(&self) -> Result<(), SipError> {
        let mut registration =
            rsipstack::dialog::registration::Registration::new(self.dialogs.endpoint.clone(), self.credential());
        let gateway = || self.config.gateway.clone();
        let server = Uri::try_from(self.config.gateway.as_str())
            .map_err(|e| SipError::GatewayUri { gateway: gateway(), reason: e.to_string() })?;
        let response = registration
            .register(server, Some(self.config.register_expires))
            .await
            .map_err(|e| SipError::Register { gateway: gateway(), reason: e.to_string() })?;
        let code = response.status_code.code();
        if !(200..300).contains(&code) {
            return Err(SipError::RegisterRefused {
                gateway: gateway(),
                status: format!("{code} {}", response.status_code),
            });
        }
        Ok(())
    }
}

/// Routes requests inside our dialogs to them (their states reach each call's channel);
/// anything else is not ours.
async fn route_incoming(dialogs: Arc<DialogLayer>, mut incoming: rsipstack::transaction::TransactionReceiver) {
    while let Some(mut tx) = incoming.recv().await {
        match dialogs.match_dialog(&tx) {
            Some(mut dialog @ Dialog::Invite(_)) => {
                tokio::spawn(async move {
                    let _ = dialog.handle(&mut tx).await;
                });
            }
            _ => {
                let status = match tx.original.method {
                    rsip::Method::Ack => continue,
                    rsip::Method::Options => rsip::StatusCode::OK,
                    // We only call out: an INVITE to us is refused, not answered.
                    rsip::Method::Invite => rsip::StatusCode::Forbidden,
                    _ => rsip::StatusCode::CallTransactionDoesNotExist,
                };
                tokio::spawn(async move {
                    let _ = tx.reply(status).await;
                });
            }
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
