//! What can stop SIP telephony from starting, and what makes a gateway's SDP answer unusable.
//! Each names the setting or the part of the message at fault; `reason` is the underlying
//! library's or the operating system's own message.

use std::net::SocketAddr;

/// The user agent could not start (or a dial could not be built) from the campaign's settings.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    #[error("kind = \"sip\" needs a gateway, e.g. gateway = \"sip:10.0.0.1:5060\"")]
    NoGateway,
    #[error("the environment variable `{var}` is not set: export it with the trunk's digest password")]
    PasswordUnset { var: String },
    #[error("auth_user and auth_password_env go together")]
    AuthPair,
    #[error("gateway `{gateway}` is not a SIP URI: {reason}")]
    GatewayUri { gateway: String, reason: String },
    #[error("gateway `{0}` must be a sip: URI")]
    GatewayScheme(String),
    #[error("gateway host `{0}` must be an IP address")]
    GatewayHost(String),
    #[error("local address `{0}` is not ip:port")]
    LocalAddress(String),
    #[error("from `{from}`: {reason}")]
    From { from: String, reason: String },
    #[error("cannot bind {local} for SIP: {reason}")]
    Bind { local: String, reason: String },
    #[error("cannot connect to the gateway {gateway} over TCP: {reason}")]
    TcpConnect { gateway: String, reason: String },
    #[error("no route to the gateway {gateway}: {reason}")]
    NoRoute { gateway: SocketAddr, reason: String },
    #[error("cannot start the SIP runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("the SIP stack failed to start: {0}")]
    Stack(String),
    #[error("`{phone}` does not make a SIP URI: {reason}")]
    Callee { phone: String, reason: String },
    #[error("REGISTER with {gateway} failed: {reason}")]
    Register { gateway: String, reason: String },
    #[error("cannot start the media plane: {0}")]
    Media(#[source] super::rtp::MediaError),
    #[error("REGISTER with {gateway} was refused: {status}")]
    RegisterRefused { gateway: String, status: String },
}

impl SipError {
    /// The `[telephony]` setting an error is about, so it can be shown where it is written.
    pub fn setting(&self) -> Option<&'static str> {
        Some(match self {
            SipError::NoGateway => "kind",
            SipError::PasswordUnset { .. } => "auth_password_env",
            SipError::AuthPair => "auth_user",
            SipError::GatewayUri { .. } | SipError::GatewayScheme(_) | SipError::GatewayHost(_) => "gateway",
            SipError::LocalAddress(_) | SipError::Bind { .. } => "local",
            SipError::From { .. } => "from",
            _ => return None,
        })
    }
}

/// Why an SDP answer (or a 183's early-media SDP) cannot carry the call's audio.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("the answer has no SDP body")]
    NoBody,
    #[error("bad SDP: {0}")]
    Malformed(String),
    #[error("the answer has no active audio stream")]
    NoAudio,
    #[error("the answer has no connection address (c=)")]
    NoAddress,
    #[error("the answer's address `{0}` is not an IP address")]
    AddressNotIp(String),
    #[error("the answer's audio port is out of range")]
    PortOutOfRange,
    #[error("the answer accepts neither PCMU nor PCMA")]
    NoCodec,
}
