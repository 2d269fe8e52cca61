//! One keep-alive HTTP/1.1 connection of the load generator, over hyper's connection API
//! (default) or reqwest.
//!
//! Why hyper by default: on a 2-core machine the load generator shares the CPU with the
//! server, so its own cost per request lowers the figure it measures. Measured against
//! `GET /healthz` (64 connections, 10 s, same machine and load; docs/BENCHMARKS.md), reqwest
//! spent about 47 µs of load-generator CPU per request and reached 9,200 req/s, a bare
//! `hyper::client::conn::http1` sender per connection about 21 µs and 13,800 req/s: reqwest's
//! pool, URL parsing and per-request machinery cost twice the CPU. A bare sender also makes
//! "N connections" exact: one TCP connection per task, reopened only after an error.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, Request, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::LoadtestError;
use super::options::ClientKind;
use super::requests::PreparedRequest;

/// Where the requests go.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:8080`.
    pub base: String,
    /// The resolved address.
    pub addr: SocketAddr,
    /// The `host` header.
    pub host: HeaderValue,
}

impl Target {
    /// Parses an `http://host:port` URL and resolves it once.
    pub async fn resolve(url: &str) -> Result<Self, LoadtestError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| LoadtestError::Usage(format!("--url {url}: {e}")))?;
        if parsed.scheme() != "http" {
            return Err(LoadtestError::Usage(format!(
                "--url {url}: only plain http:// is supported"
            )));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| LoadtestError::Usage(format!("--url {url}: no host")))?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| LoadtestError::Usage(format!("--url {url}: {e}")))?
            .next()
            .ok_or_else(|| LoadtestError::Usage(format!("--url {url}: no address")))?;
        let host_header = HeaderValue::from_str(&format!("{host}:{port}"))
            .map_err(|_| LoadtestError::Usage(format!("--url {url}: bad host")))?;
        Ok(Self {
            base: format!("http://{host}:{port}"),
            addr,
            host: host_header,
        })
    }
}

/// Why a request failed before an HTTP status came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The TCP connection could not be opened.
    Connect,
    /// The connection failed during the request or response.
    Connection,
    /// No complete answer within the timeout.
    Timeout,
}

impl Failure {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Connection => "connection",
            Failure::Timeout => "timeout",
        }
    }
}

/// A status and a whole body.
pub type Answer = (u16, Bytes);

/// One connection (hyper) or one single-connection client (reqwest).
pub enum Connection {
    /// A hyper HTTP/1.1 sender, opened on first use and after errors.
    Hyper(Option<SendRequest<Full<Bytes>>>),
    /// A reqwest client limited to one idle connection.
    Reqwest(reqwest::Client),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Connection::Hyper(_) => "Connection::Hyper",
            Connection::Reqwest(_) => "Connection::Reqwest",
        })
    }
}

impl Connection {
    /// A connection of this kind (not opened yet).
    pub fn new(kind: ClientKind) -> Result<Self, LoadtestError> {
        Ok(match kind {
            ClientKind::Hyper => Connection::Hyper(None),
            ClientKind::Reqwest => Connection::Reqwest(
                reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .tcp_nodelay(true)
                    .http1_only()
                    .build()
                    .map_err(|e| LoadtestError::Internal(format!("reqwest client: {e}")))?,
            ),
        })
    }

    /// Sends one request and reads the whole answer, within `timeout`.
    pub async fn send(
        &mut self,
        target: &Target,
        req: &PreparedRequest,
        timeout: Duration,
    ) -> Result<Answer, Failure> {
        let result = tokio::time::timeout(timeout, self.send_inner(target, req)).await;
        match result {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(f)) => {
                self.reset();
                Err(f)
            }
            Err(_) => {
                // The connection may still carry the late answer: never reuse it.
                self.reset();
                Err(Failure::Timeout)
            }
        }
    }

    fn reset(&mut self) {
        if let Connection::Hyper(sender) = self {
            *sender = None;
        }
    }

    async fn send_inner(
        &mut self,
        target: &Target,
        req: &PreparedRequest,
    ) -> Result<Answer, Failure> {
        match self {
            Connection::Hyper(slot) => {
                let sender = match slot {
                    Some(s) if !s.is_closed() => s,
                    _ => slot.insert(open(target.addr).await?),
                };
                sender.ready().await.map_err(|_| Failure::Connection)?;
                let mut builder = Request::builder()
                    .method(req.method.clone())
                    .uri(req.path.as_str())
                    .header(header::HOST, target.host.clone());
                for (k, v) in &req.headers {
                    builder = builder.header(k, v);
                }
                let request = builder
                    .body(Full::new(req.body.clone()))
                    .map_err(|_| Failure::Connection)?;
                let resp = sender
                    .send_request(request)
                    .await
                    .map_err(|_| Failure::Connection)?;
                let status = resp.status().as_u16();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|_| Failure::Connection)?
                    .to_bytes();
                Ok((status, body))
            }
            Connection::Reqwest(client) => {
                let url = format!("{}{}", target.base, req.path);
                let mut rb = client.request(req.method.clone(), url);
                for (k, v) in &req.headers {
                    rb = rb.header(k, v);
                }
                let resp = rb.body(req.body.clone()).send().await.map_err(|e| {
                    if e.is_connect() {
                        Failure::Connect
                    } else {
                        Failure::Connection
                    }
                })?;
                let status = resp.status().as_u16();
                let body = resp.bytes().await.map_err(|_| Failure::Connection)?;
                Ok((status, body))
            }
        }
    }
}

async fn open(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, Failure> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|_| Failure::Connect)?;
    // Small requests and answers: do not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| Failure::Connect)?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the peer closes; errors show up on the sender.
        let _ = conn.await;
    });
    Ok(sender)
}
