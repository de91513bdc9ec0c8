//! A small HTTP/1.1 client for actions and the SMS gateway (CAMPAIGN.md §5): one `POST` of a
//! JSON body per connection (`Connection: close`), the whole exchange bounded by a timeout,
//! answers with `Content-Length`, chunked or read-to-close bodies. Plain `http://` only for
//! now: `https://` needs a root store the tree does not carry yet (see docs/campaigns.md).
//! Async on tokio, so a call waiting for its action blocks no other call.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer read (headers and body): an action answers a small JSON object.
pub const MAX_ANSWER: usize = 1 << 20;

/// An answer: its status and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why a request got no answer; `Display` is the cause kept in transcripts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HttpError {
    #[error("`{0}` is not an http:// URL this client can call")]
    Url(String),
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("cannot reach {host}: {why}")]
    Connect { host: String, why: String },
    #[error("the connection failed: {0}")]
    Io(String),
    #[error("the answer is not HTTP: {0}")]
    Malformed(String),
    #[error("the answer is larger than {MAX_ANSWER} bytes")]
    TooLarge,
}

/// `http://host[:port]/path` split into the address to connect to, the Host header and the path.
fn split(url: &str) -> Result<(String, String, String), HttpError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| HttpError::Url(url.to_string()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(HttpError::Url(url.to_string()));
    }
    let address = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((address, authority.to_string(), path.to_string()))
}

/// POSTs `body` as JSON to `url` with `headers`, within `timeout`.
pub async fn post_json(
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<Answer, HttpError> {
    let ms = timeout.as_millis().min(u128::from(u64::MAX)) as u64;
    match tokio::time::timeout(timeout, exchange(url, headers, body)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::Timeout(ms)),
    }
}

async fn exchange(url: &str, headers: &[(String, String)], body: &[u8]) -> Result<Answer, HttpError> {
    let (address, host, path) = split(url)?;
    let mut stream = TcpStream::connect(&address)
        .await
        .map_err(|e| HttpError::Connect { host: host.clone(), why: e.to_string() })?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: callscript\r\n",
        body.len()
    );
    for (name, value) in headers {
        // A header cannot hold a line break (the campaign model took these values as written).
        if name.contains(['\r', '\n', ':']) || value.contains(['\r', '\n']) {
            continue;
        }
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let io = |e: std::io::Error| HttpError::Io(e.to_string());
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    stream.write_all(body).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut buf = Vec::with_capacity(4096);
    // Headers first.
    let (status, header_len, length, chunked) = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(HttpError::Malformed("the connection closed before the headers ended".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_ANSWER {
            return Err(HttpError::TooLarge);
        }
        let mut parsed = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut parsed);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = response.code.unwrap_or(0);
                let header = |name: &str| {
                    response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
                };
                let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
                let chunked = header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
                break (status, len, length, chunked);
            }
            Ok(httparse::Status::Partial) => continue,
            Err(e) => return Err(HttpError::Malformed(e.to_string())),
        }
    };
    let mut body = buf.split_off(header_len);
    loop {
        if let Some(len) = length.filter(|_| !chunked)
            && body.len() >= len
        {
            body.truncate(len);
            break;
        }
        if chunked && let Some(decoded) = dechunk(&body)? {
            body = decoded;
            break;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            if chunked || length.is_some_and(|len| body.len() < len) {
                return Err(HttpError::Malformed("the connection closed before the body ended".into()));
            }
            break;
        }
        body.extend_from_slice(&chunk[..n]);
        if body.len() > MAX_ANSWER {
            return Err(HttpError::TooLarge);
        }
    }
    Ok(Answer { status, body })
}

/// A chunked body once its last chunk is in; None while more is needed.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else { return Ok(None) };
        let line = std::str::from_utf8(&data[..end]).map_err(|_| HttpError::Malformed("a bad chunk size".into()))?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| HttpError::Malformed("a bad chunk size".into()))?;
        data = &data[end + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_host_and_path() {
        assert_eq!(
            split("http://127.0.0.1:9300/balance?x=1").unwrap(),
            ("127.0.0.1:9300".into(), "127.0.0.1:9300".into(), "/balance?x=1".into())
        );
        assert_eq!(
            split("http://bank.example").unwrap(),
            ("bank.example:80".into(), "bank.example".into(), "/".into())
        );
        assert!(split("https://bank.example/x").is_err());
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk(b"4\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n").unwrap(), Some(b"{\"a\": 1}".to_vec()));
        assert_eq!(dechunk(b"4\r\n{\"a").unwrap(), None);
    }
}
