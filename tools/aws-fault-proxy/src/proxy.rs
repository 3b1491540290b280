//! The proxy server: identify, decide, fault or forward, record.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::http::request;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::buckets::{bucket_for, TokenBucket};
use crate::errors::{error_reply, ErrorKind};
use crate::identify::{identify, Call};
use crate::prng::SplitMix64;
use crate::rules::{Decision, FaultKind, Rules};
use crate::stats::{Outcome, RecordEntry, Stats, Summary};

/// Path prefix of the control API. The AWS SDK only ever requests `/` (plus a query
/// string for some protocols), so nothing it sends can collide with this.
pub const ADMIN_PREFIX: &str = "/__proxy/";

/// Largest request or response body accepted. AWS API requests are a few KiB; the
/// limit only keeps a runaway client from exhausting memory.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Everything the proxy needs to start.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where calls are forwarded: `http://host:port` (moto). Plain HTTP only.
    pub upstream: String,
    /// The initial rules (replaceable at run time with `PUT /__proxy/rules`).
    pub rules: Rules,
    /// Seed of the fault PRNG.
    pub seed: u64,
    /// JSONL file every call is appended to (truncated at start and on reset).
    pub record_path: Option<PathBuf>,
}

/// A running proxy's shared state. Cheap to clone.
#[derive(Clone)]
pub struct Proxy {
    state: Arc<State>,
}

struct State {
    upstream_scheme: hyper::http::uri::Scheme,
    upstream_authority: hyper::http::uri::Authority,
    client: Client<HttpConnector, Full<Bytes>>,
    started: Instant,
    seed: u64,
    inner: Mutex<Inner>,
}

struct Inner {
    rules: Rules,
    buckets: BTreeMap<String, TokenBucket>,
    rng: SplitMix64,
    ids: SplitMix64,
    stats: Stats,
    record_file: Option<File>,
}

/// A poisoned lock only means another request panicked mid-update of counters; the
/// proxy is more useful carrying on than refusing every later call.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The request-id stream is separate from the fault stream, so error answers do not
/// shift which calls get faulted.
fn id_rng(seed: u64) -> SplitMix64 {
    SplitMix64::new(seed ^ 0x5EED_1D5E_ED1D_5EED)
}

fn build_buckets(rules: &Rules, now: Duration) -> BTreeMap<String, TokenBucket> {
    rules
        .bucket_specs()
        .into_iter()
        .map(|(name, spec)| (name, TokenBucket::new(spec, now)))
        .collect()
}

impl Proxy {
    /// Checks the configuration and opens (truncates) the record file.
    pub fn new(config: ProxyConfig) -> Result<Proxy, String> {
        config.rules.validate()?;
        let upstream: Uri = config
            .upstream
            .parse()
            .map_err(|e| format!("--upstream {:?}: {e}", config.upstream))?;
        let (Some(scheme), Some(authority)) = (upstream.scheme(), upstream.authority()) else {
            return Err(format!(
                "--upstream {:?}: expected http://host:port",
                config.upstream
            ));
        };
        if scheme.as_str() != "http" {
            return Err(format!(
                "--upstream {:?}: only plain http is supported (moto)",
                config.upstream
            ));
        }
        let record_file = match &config.record_path {
            Some(path) => Some(
                OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .open(path)
                    .map_err(|e| format!("--record {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let started = Instant::now();
        Ok(Proxy {
            state: Arc::new(State {
                upstream_scheme: scheme.clone(),
                upstream_authority: authority.clone(),
                client,
                started,
                seed: config.seed,
                inner: Mutex::new(Inner {
                    buckets: build_buckets(&config.rules, Duration::ZERO),
                    rules: config.rules,
                    rng: SplitMix64::new(config.seed),
                    ids: id_rng(config.seed),
                    stats: Stats::new(),
                    record_file,
                }),
            }),
        })
    }

    /// Accepts connections on `listener` until `shutdown` completes. Connections still
    /// open then are dropped with the runtime.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(serve_connection(self.state.clone(), stream));
                    }
                    Err(e) => {
                        // Typically EMFILE: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
    }

    /// The counters as of now.
    pub fn summary(&self) -> Summary {
        lock(&self.state.inner).stats.summary()
    }
}

/// What a request handler needs to reset its own connection.
struct ConnCtx {
    /// A second descriptor of the client socket: hyper owns the stream, so the handler
    /// sets SO_LINGER through this one. The socket only really closes once both are
    /// dropped, which happens when the connection task ends.
    socket: Option<socket2::Socket>,
    kill: Notify,
}

impl ConnCtx {
    /// Ends the connection with a TCP RST and never answers. SO_LINGER 0 makes the
    /// close a reset (the client sees ECONNRESET, as when a load balancer drops it)
    /// instead of an orderly FIN.
    async fn reset(&self) -> Result<Response<Full<Bytes>>, Infallible> {
        if let Some(socket) = &self.socket {
            if let Err(e) = socket.set_linger(Some(Duration::ZERO)) {
                tracing::warn!("cannot set SO_LINGER for a reset, closing normally: {e}");
            }
        }
        self.kill.notify_one();
        // The connection task drops this future together with the connection.
        std::future::pending().await
    }
}

async fn serve_connection(state: Arc<State>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let socket = match socket2::SockRef::from(&stream).try_clone() {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot duplicate the client socket; resets will be plain closes: {e}");
            None
        }
    };
    let ctx = Arc::new(ConnCtx {
        socket,
        kill: Notify::new(),
    });
    let service_ctx = ctx.clone();
    let service = service_fn(move |req| handle(state.clone(), service_ctx.clone(), req));
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        // Biased so a reset wins even when the connection future is ready too.
        biased;
        _ = ctx.kill.notified() => {}
        result = conn => {
            if let Err(e) = result {
                tracing::debug!("client connection: {e}");
            }
        }
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

async fn handle(
    state: Arc<State>,
    conn: Arc<ConnCtx>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path().starts_with(ADMIN_PREFIX) {
        return Ok(admin(&state, req).await);
    }
    let arrived = epoch_ms();
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return Ok(text(
                StatusCode::BAD_REQUEST,
                format!("aws-fault-proxy: reading the request body: {e}\n"),
            ))
        }
    };
    let call = identify(&parts.method, &parts.uri, &parts.headers, &body);
    let decision = state.decide(&call);
    let mut entry = RecordEntry {
        t_ms: arrived,
        service: call.service.name().to_string(),
        operation: call.operation.clone(),
        resource: call.resource.clone(),
        mutating: call.mutating,
        outcome: Outcome::Forwarded,
        upstream_status: None,
        detail: call.detail.clone(),
        latency_ms: decision.latency_ms,
    };
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }

    let injected = match decision.fault {
        Some(FaultKind::Throttle) => Some((ErrorKind::Throttling, Outcome::Throttled)),
        Some(FaultKind::Error500) => Some((ErrorKind::Internal, Outcome::Error500)),
        Some(FaultKind::Error503) => Some((ErrorKind::Unavailable, Outcome::Error503)),
        _ => None,
    };
    if let Some((kind, outcome)) = injected {
        entry.outcome = outcome;
        return Ok(state.error_answer(&call, kind, entry));
    }
    if decision.fault == Some(FaultKind::Reset) {
        entry.outcome = Outcome::Reset;
        tracing::info!(call = %call.key(), resource = call.resource.as_deref().unwrap_or("-"), "injected reset");
        state.finish(entry);
        return conn.reset().await;
    }
    // Faults that never reach AWS do not take a token; everything that would does.
    if !state.take_token(&call) {
        entry.outcome = Outcome::ThrottledBucket;
        return Ok(state.error_answer(&call, ErrorKind::Throttling, entry));
    }

    match state.forward(parts, body).await {
        Ok(response) => {
            entry.upstream_status = Some(response.status().as_u16());
            if decision.fault == Some(FaultKind::LostResponse) {
                entry.outcome = Outcome::LostResponse;
                tracing::info!(
                    call = %call.key(),
                    resource = call.resource.as_deref().unwrap_or("-"),
                    status = response.status().as_u16(),
                    "injected lost response"
                );
                state.finish(entry);
                return conn.reset().await;
            }
            tracing::debug!(call = %call.key(), status = response.status().as_u16(), "forwarded");
            state.finish(entry);
            Ok(response)
        }
        Err(e) => {
            tracing::warn!(call = %call.key(), "upstream failed: {e}");
            entry.outcome = Outcome::UpstreamError;
            state.finish(entry);
            Ok(text(
                StatusCode::BAD_GATEWAY,
                format!("aws-fault-proxy: upstream: {e}\n"),
            ))
        }
    }
}

/// Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection, not the message:
/// they are not passed on. `expect` too, since the body has already been read.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
    ] {
        headers.remove(name);
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_string_pretty(value) {
        Ok(mut body) => {
            body.push('\n');
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("aws-fault-proxy: serializing: {e}\n"),
        ),
    }
}

impl State {
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn decide(&self, call: &Call) -> Decision {
        let inner = &mut *lock(&self.inner);
        inner.rules.decide(call, &mut inner.rng)
    }

    fn take_token(&self, call: &Call) -> bool {
        let now = self.now();
        let inner = &mut *lock(&self.inner);
        if !inner.rules.enforce_aws_limits {
            return true;
        }
        let Some(name) = bucket_for(call.service, &call.operation) else {
            return true;
        };
        match inner.buckets.get_mut(name) {
            Some(bucket) => bucket.try_take(now),
            None => true,
        }
    }

    /// Answers `kind` in the call's service format, and records the call.
    fn error_answer(
        &self,
        call: &Call,
        kind: ErrorKind,
        entry: RecordEntry,
    ) -> Response<Full<Bytes>> {
        let request_id = lock(&self.inner).ids.uuid();
        tracing::info!(
            call = %call.key(),
            resource = call.resource.as_deref().unwrap_or("-"),
            outcome = entry.outcome.name(),
            "injected error"
        );
        self.finish(entry);
        let reply = error_reply(call.service, call.api_version.as_deref(), kind, &request_id);
        let mut response = Response::new(Full::new(Bytes::from(reply.body)));
        *response.status_mut() =
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in reply.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }

    /// Counts the call and appends its record line.
    fn finish(&self, entry: RecordEntry) {
        let inner = &mut *lock(&self.inner);
        if let Some(file) = &mut inner.record_file {
            let written = serde_json::to_string(&entry)
                .map_err(std::io::Error::other)
                .and_then(|mut line| {
                    line.push('\n');
                    // One write per line: a reader tailing the file sees whole lines.
                    file.write_all(line.as_bytes())
                });
            if let Err(e) = written {
                tracing::warn!("writing the record: {e}");
            }
        }
        inner.stats.add(entry);
    }

    async fn forward(
        &self,
        parts: request::Parts,
        body: Bytes,
    ) -> Result<Response<Full<Bytes>>, String> {
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri = Uri::builder()
            .scheme(self.upstream_scheme.clone())
            .authority(self.upstream_authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| e.to_string())?;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = parts.method;
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        // Host stays as the client sent it: it is part of the SigV4 signature.
        *request.headers_mut() = parts.headers;
        strip_hop_by_hop(request.headers_mut());
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("{e} ({e:?})"))?;
        let (mut head, body) = response.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        strip_hop_by_hop(&mut head.headers);
        head.version = Version::HTTP_11;
        Ok(Response::from_parts(head, Full::new(body)))
    }

    fn replace_rules(&self, rules: Rules) {
        let now = self.now();
        let inner = &mut *lock(&self.inner);
        inner.buckets = build_buckets(&rules, now);
        inner.rules = rules;
    }

    fn reset(&self) {
        let now = self.now();
        let inner = &mut *lock(&self.inner);
        inner.stats = Stats::new();
        inner.rng = SplitMix64::new(self.seed);
        inner.ids = id_rng(self.seed);
        inner.buckets = build_buckets(&inner.rules, now);
        if let Some(file) = &mut inner.record_file {
            // Opened without O_APPEND, so move back to the start as well.
            let truncated = file.set_len(0).and_then(|()| std::io::Seek::rewind(file));
            if let Err(e) = truncated {
                tracing::warn!("truncating the record: {e}");
            }
        }
    }
}

async fn admin(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req
        .uri()
        .path()
        .trim_start_matches(ADMIN_PREFIX)
        .to_string();
    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "summary") => json(StatusCode::OK, &lock(&state.inner).stats.summary()),
        (Method::GET, "rules") => json(StatusCode::OK, &lock(&state.inner).rules),
        (Method::PUT, "rules") => {
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
            };
            let parsed = std::str::from_utf8(&body)
                .map_err(|e| format!("rules: {e}"))
                .and_then(Rules::from_json);
            match parsed {
                Ok(rules) => {
                    tracing::info!(
                        faults = rules.faults.len(),
                        enforce_aws_limits = rules.enforce_aws_limits,
                        "rules replaced"
                    );
                    state.replace_rules(rules.clone());
                    json(StatusCode::OK, &rules)
                }
                Err(e) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
            }
        }
        (Method::POST, "reset") => {
            state.reset();
            json(StatusCode::OK, &serde_json::json!({"reset": true}))
        }
        (Method::GET, "record") => {
            let inner = lock(&state.inner);
            let mut out = String::new();
            for entry in inner.stats.record() {
                if let Ok(line) = serde_json::to_string(entry) {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            let mut response = Response::new(Full::new(Bytes::from(out)));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            );
            response
        }
        (_, "summary" | "rules" | "reset" | "record") => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "aws-fault-proxy: method not allowed\n".to_string(),
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            "aws-fault-proxy: GET summary | GET/PUT rules | POST reset | GET record\n".to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("host", HeaderValue::from_static("127.0.0.1:1"));
        h.insert("x-amz-target", HeaderValue::from_static("A.B"));
        strip_hop_by_hop(&mut h);
        let mut names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["host", "x-amz-target"]);
    }

    #[test]
    fn config_is_checked() {
        let config = |upstream: &str| ProxyConfig {
            upstream: upstream.to_string(),
            rules: Rules::default(),
            seed: 1,
            record_path: None,
        };
        assert!(Proxy::new(config("http://127.0.0.1:5000")).is_ok());
        for bad in ["127.0.0.1:5000", "https://127.0.0.1:5000", "not a uri"] {
            assert!(Proxy::new(config(bad)).is_err(), "{bad}");
        }
    }
}
