//! Real telephony: SIP over UDP or TCP (rsipstack), G.711 RTP, DTMF, speech in and out,
//! transfer by REFER and encrypted recordings. The scheduler drives it through the same
//! [`Telephony`] trait and VM as the simulator; calls run as tasks on a tokio runtime of
//! their own, and their results come back over a channel.

pub mod call;
pub mod error;
pub mod rtp;
pub mod sdp;
pub mod stack;
pub mod ua;

pub use error::{SdpError, SipError};

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use crate::campaign::Campaign;
use crate::telephony::{CallId, CallResult, DialRequest, Telephony};

/// The `[telephony]` settings of a `kind = "sip"` campaign, resolved.
#[derive(Clone, Debug)]
pub struct SipConfig {
    /// `sip:host:port` of the trunk, SBC or outbound proxy that takes our INVITEs.
    pub gateway: String,
    /// The caller id (From).
    pub from: String,
    /// P-Asserted-Identity, when the trunk wants the caller id asserted.
    pub asserted_identity: Option<String>,
    pub local: String,
    /// "udp" or "tcp".
    pub transport: String,
    pub ring_timeout: Duration,
    pub auth_user: Option<String>,
    pub auth_password: Option<String>,
    pub register: bool,
    pub register_expires: u32,
    /// The trunk's own limits (the schedule's apply too).
    pub calls_per_second: Option<f64>,
    pub max_concurrent: Option<u32>,
    /// How long finished transactions are kept (64×T1).
    pub t1x64: Duration,
    /// Queue name → SIP URI for `transfer "queue"`.
    pub transfer: BTreeMap<String, String>,
    /// A socket per call, or shared per media worker (`media_ports`).
    pub media_ports: rtp::MediaPorts,
}

impl SipConfig {
    /// Resolves a campaign's settings; the digest password comes from the environment. An
    /// error names the setting it is about, so it can be shown where it is written.
    pub fn from_campaign(c: &Campaign) -> Result<SipConfig, SipError> {
        let t = &c.telephony;
        let gateway = t.gateway.as_ref().map(|g| g.uri.clone()).ok_or(SipError::NoGateway)?;
        let auth_password = match &t.auth_password_env {
            Some(var) => Some(std::env::var(var).map_err(|_| SipError::PasswordUnset { var: var.clone() })?),
            None => None,
        };
        if t.auth_user.is_some() != auth_password.is_some() {
            return Err(SipError::AuthPair);
        }
        Ok(SipConfig {
            gateway,
            from: t.from.clone().unwrap_or_else(|| "sip:callscript@localhost".into()),
            asserted_identity: t.asserted_identity.clone(),
            local: t.local.map_or_else(|| "127.0.0.1:0".into(), |l| l.to_string()),
            transport: t.transport.name().into(),
            ring_timeout: t.ring_timeout.unsigned_abs(),
            auth_user: t.auth_user.clone(),
            auth_password,
            register: t.register,
            register_expires: 3600,
            calls_per_second: t.calls_per_second,
            max_concurrent: t.max_concurrent,
            t1x64: Duration::from_secs(4),
            transfer: c.transfer.clone(),
            media_ports: match t.media_ports {
                callscript_compiler::campaign::MediaPorts::PerCall => rtp::MediaPorts::PerCall,
                callscript_compiler::campaign::MediaPorts::Shared => rtp::MediaPorts::Shared,
            },
        })
    }

    /// The user part of our Contact: the caller id's.
    pub fn contact_user(&self) -> String {
        let rest = self.from.trim_start_matches("sips:").trim_start_matches("sip:");
        rest.split_once('@').map(|(u, _)| u.to_string()).unwrap_or_else(|| "callscript".into())
    }
}

/// A gateway setting, parsed as the user agent uses it: a `sip:` URI whose host is a literal
/// IP (DNS is the trunk operator's business), port 5060 unless given. `campaign` checks
/// settings with it, so what passes `check` is what the user agent can dial.
pub fn gateway_address(gateway: &str) -> Result<(rsipstack::rsip::Uri, SocketAddr), SipError> {
    use rsipstack::rsip::{Scheme, Uri};
    let uri =
        Uri::try_from(gateway).map_err(|e| SipError::GatewayUri { gateway: gateway.into(), reason: e.to_string() })?;
    if uri.scheme != Some(Scheme::Sip) {
        return Err(SipError::GatewayScheme(gateway.into()));
    }
    let host = uri.host_with_port.host.to_string();
    let port = uri.host_with_port.port.as_ref().map(|p| p.value()).unwrap_or(5060);
    let ip: std::net::IpAddr =
        host.trim_matches(|c| c == '[' || c == ']').parse().map_err(|_| SipError::GatewayHost(host.clone()))?;
    Ok((uri, SocketAddr::new(ip, port)))
}

/// What happened to calls, in the order they ended.
type Ended = (CallId, CallResult);

/// [`Telephony`] over SIP: each dial is a task; ends come back over a channel.
pub struct SipTelephony {
    runtime: tokio::runtime::Runtime,
    ua: Arc<ua::UserAgent>,
    services: Arc<call::Services>,
    ends_tx: mpsc::Sender<Ended>,
    ends_rx: mpsc::Receiver<Ended>,
    ended: VecDeque<(i64, CallId, CallResult)>,
    live: usize,
}

impl SipTelephony {
    /// Starts the user agent on a runtime of its own (two workers: signalling and media).
    pub fn start(config: SipConfig, services: call::Services) -> Result<SipTelephony, SipError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("callscript-sip")
            .enable_all()
            .build()
            .map_err(SipError::Runtime)?;
        let ua = runtime.block_on(ua::UserAgent::start(config))?;
        let (ends_tx, ends_rx) = mpsc::channel();
        Ok(SipTelephony {
            runtime,
            ua,
            services: Arc::new(services),
            ends_tx,
            ends_rx,
            ended: VecDeque::new(),
            live: 0,
        })
    }

    /// Where our SIP endpoint listens.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.ua.local
    }

    fn take(&mut self, first: Ended) {
        let now = jiff::Timestamp::now().as_millisecond();
        self.ended.push_back((now, first.0, first.1));
        while let Ok((call, result)) = self.ends_rx.try_recv() {
            self.ended.push_back((now, call, result));
        }
    }
}

impl Telephony for SipTelephony {
    fn needs_durable_dial(&self) -> bool {
        true
    }

    fn dial(&mut self, _now_ms: i64, call: CallId, request: DialRequest) {
        self.live += 1;
        let ua = Arc::clone(&self.ua);
        let services = Arc::clone(&self.services);
        let ends = self.ends_tx.clone();
        self.runtime.spawn(async move {
            let result = call::run(ua, services, call, request).await;
            let _ = ends.send((call, result));
        });
    }

    fn next_end(&self) -> Option<i64> {
        self.ended.front().map(|(t, _, _)| *t)
    }

    fn pop_end(&mut self) -> Option<(i64, CallId, CallResult)> {
        if self.ended.is_empty()
            && let Ok(first) = self.ends_rx.try_recv()
        {
            self.take(first);
        }
        let end = self.ended.pop_front()?;
        self.live -= 1;
        Some(end)
    }

    fn realtime(&self) -> bool {
        true
    }

    fn live(&self) -> usize {
        self.live
    }

    fn wait(&mut self, timeout: Duration) {
        if !self.ended.is_empty() {
            return;
        }
        if let Ok(first) = self.ends_rx.recv_timeout(timeout) {
            self.take(first);
        }
    }
}
