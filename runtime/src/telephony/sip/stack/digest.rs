//! Digest authentication (RFC 2617, RFC 7616's MD5) of an INVITE or REGISTER the gateway
//! challenged: the header line that sends it again. rsip computes the digest.

use rsipstack::rsip::headers::auth::{AuthQop, Qop};
use rsipstack::rsip::typed::{Authorization, WwwAuthenticate};
use rsipstack::rsip::{self, DigestGenerator, Header, HeadersExt};

/// The trunk's digest user and password.
#[derive(Clone, Debug)]
pub struct Credential {
    pub user: String,
    pub password: String,
}

/// `Authorization: Digest …` for a 401, `Proxy-Authorization: Digest …` for a 407 (RFC 3261
/// §22.2–22.3: the header is chosen by the status code, whichever challenge header came);
/// None when the challenge cannot be read.
pub fn answer(credential: &Credential, response: &rsip::Response, method: &rsip::Method, uri: &str) -> Option<String> {
    let proxy = response.status_code.code() == 407;
    let www = response.www_authenticate_header().map(|h| h.value().to_string());
    let proxy_challenge = response.headers.iter().find_map(|h| match h {
        Header::ProxyAuthenticate(p) => Some(p.value().to_string()),
        _ => None,
    });
    let text = if proxy { proxy_challenge.or(www) } else { www.or(proxy_challenge) }?;
    let challenge = WwwAuthenticate::parse(&text).ok()?;
    // Values we quote back: a quote, backslash or control character would break the header.
    let quotable = |v: &str| !v.bytes().any(|b| b.is_ascii_control() || b == b'"' || b == b'\\');
    let opaque_ok = challenge.opaque.as_deref().is_none_or(quotable);
    if !quotable(&challenge.realm) || !quotable(&challenge.nonce) || !opaque_ok {
        return None;
    }
    let uri = rsip::Uri::try_from(uri).ok()?;
    let cnonce = format!("{:016x}", cnonce_seed(&challenge.nonce));
    let qop = match challenge.qop {
        Some(Qop::Auth) => Some(AuthQop::Auth { cnonce, nc: 1 }),
        Some(Qop::AuthInt) => Some(AuthQop::AuthInt { cnonce, nc: 1 }),
        None => None,
    };
    let algorithm = challenge.algorithm.unwrap_or(rsip::headers::auth::Algorithm::Md5);
    let response = DigestGenerator {
        username: &credential.user,
        password: &credential.password,
        nonce: &challenge.nonce,
        uri: &uri,
        realm: &challenge.realm,
        method,
        qop: qop.as_ref(),
        algorithm,
    }
    .compute();
    let value = Authorization {
        scheme: challenge.scheme,
        username: credential.user.clone(),
        realm: challenge.realm,
        nonce: challenge.nonce,
        uri,
        response,
        algorithm: Some(algorithm),
        opaque: challenge.opaque,
        qop,
    };
    Some(format!("{}: {value}", if proxy { "Proxy-Authorization" } else { "Authorization" }))
}

/// A client nonce that differs per challenge and per process (it only has to be unpredictable
/// to an eavesdropper replaying answers, not secret).
fn cnonce_seed(nonce: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(nonce.as_bytes());
    hasher.finish()
}
