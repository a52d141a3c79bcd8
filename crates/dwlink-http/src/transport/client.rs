//! The one place requests are sent: routing, timeouts, the adaptive concurrency bound and
//! 429 pauses ([`crate::transport::throttle`]), retries with backoff, capped body reads, and turning every
//! failure into a [`ProviderError`].

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, CONTENT_TYPE, HOST, RETRY_AFTER};
use url::Url;

use crate::transport::reply::{error_message, Reply};
use crate::transport::request::{ApiRequest, Body};
use crate::transport::retry::{parse_retry_after, secs, Failure, RetryPolicy};
use crate::transport::route::Route;
use crate::transport::tape::Tape;
use crate::transport::throttle::Limiter;
use dwlink_core::har::writer::Recorder;
use dwlink_core::link::error::ProviderError;
use dwlink_core::link::secret::{redact_url, Secret};

/// A successful page of 5,000 wide rows is a few MiB; anything far beyond is not a reply we asked for.
pub const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;
/// Error bodies are only read for their message.
pub const MAX_ERROR_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub route: Route,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Requests in flight at most (the services allow 52 per user); the limiter lowers it while
    /// the service answers 429 and climbs back as requests succeed.
    pub max_concurrency: usize,
    pub retry: RetryPolicy,
    /// Extra roots, e.g. the CA of an emulator served with `--tls`.
    pub extra_root_pem: Option<Vec<u8>>,
    /// `--record FILE`: every attempt (retries, 429s and failures included) goes into it.
    pub recorder: Option<Arc<Recorder>>,
    /// `-v`: a line per attempt and per wait (see [`super::log`]).
    pub log: Option<super::log::HttpLog>,
}

/// Overrides the per-request limit (`RetryPolicy::max_total`, every attempt and wait of one
/// request from connecting to the last body byte) and caps each attempt at it: seconds, e.g. `1.5`.
/// For rehearsals against slow stand-ins and for tests of a stalling server.
pub const DEADLINE_ENV: &str = "DWLINK_REQUEST_DEADLINE_SECS";

impl Default for ClientSettings {
    fn default() -> Self {
        let mut s = ClientSettings {
            route: Route::Direct,
            request_timeout: Duration::from_secs(100),
            connect_timeout: Duration::from_secs(15),
            // Service protection's 52 at once per user and service, for all of them.
            max_concurrency: 52,
            retry: RetryPolicy::default(),
            extra_root_pem: None,
            recorder: None,
            log: None,
        };
        let from_env = std::env::var(DEADLINE_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v > 0.0)
            .map(Duration::from_secs_f64);
        if let Some(d) = from_env {
            s.retry.max_total = d;
            s.request_timeout = s.request_timeout.min(d);
            s.connect_timeout = s.connect_timeout.min(d);
        }
        s
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    settings: Arc<ClientSettings>,
    limiter: Arc<Limiter>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("route", &self.settings.route)
            .finish()
    }
}

pub(crate) enum Attempt {
    Done(Reply),
    Failed {
        failure: Failure,
        error: ProviderError,
        retry_after: Option<Duration>,
        sent_at: Instant,
    },
}

impl Client {
    pub fn new(settings: ClientSettings) -> Result<Self, ProviderError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("dwlink/", env!("CARGO_PKG_VERSION")))
            // A redirect could carry the bearer token to a host we never validated.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .use_rustls_tls();
        if let Some(pem) = &settings.extra_root_pem {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|e| ProviderError::Setup {
                message: format!("the emulator's CA certificate cannot be used: {e}"),
                help: "pass the ca.pem the emulator wrote to its state directory".into(),
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| ProviderError::Setup {
            message: format!("cannot build the HTTP client: {e}"),
            help: "this is a bug in dwlink".into(),
        })?;
        let limiter = Limiter::new(settings.max_concurrency);
        Ok(Client {
            http,
            settings: Arc::new(settings),
            limiter,
        })
    }

    pub fn route(&self) -> &Route {
        &self.settings.route
    }

    /// The shared request budget (for benchmarks and diagnostics).
    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }

    /// Sends `req` until it succeeds, fails for good, or the retry budget is spent. Non-2xx
    /// answers become [`ProviderError::Status`].
    pub async fn execute(
        &self,
        req: &ApiRequest,
        bearer: Option<&Secret>,
    ) -> Result<Reply, ProviderError> {
        let policy = &self.settings.retry;
        let started = Instant::now();
        // One deadline for the whole request, every attempt from connecting to its last body
        // byte: a server that trickles its reply cannot stretch a request past it. A request
        // that asks for a longer attempt of its own (a reset) gets that instead.
        let limit = policy.max_total.max(req.timeout.unwrap_or_default());
        // Set when the first attempt leaves: time queued for a slot of the limiter behind other
        // requests is not the server's stalling.
        let mut deadline = None;
        let mut attempt = 0u32;
        loop {
            let tried = Instant::now();
            let result = self
                .attempt(req, bearer, attempt + 1, &mut deadline, limit)
                .await;
            if let Some(log) = &self.settings.log {
                log_attempt(
                    log,
                    req,
                    bearer.is_some(),
                    &result,
                    tried.elapsed(),
                    attempt + 1,
                );
            }
            let (failure, error, retry_after, sent_at) = match result? {
                Attempt::Done(reply) => return Ok(reply),
                Attempt::Failed {
                    failure,
                    error,
                    retry_after,
                    sent_at,
                } => (failure, error, retry_after, sent_at),
            };
            attempt += 1;
            let delay = policy.delay(attempt - 1, retry_after, rand::random::<f64>());
            let too_long = retry_after.filter(|ra| *ra > policy.max_retry_after);
            if failure == Failure::Status(429) && too_long.is_none() {
                // The budget is shared: every request of this client waits, not only this one.
                // A wait past the cap is refused, and others asking again get refused promptly
                // too rather than after sitting out the cap.
                self.limiter.throttled(sent_at, delay);
            }
            if attempt >= policy.max_attempts || !policy.should_retry(failure, req.idempotent) {
                return Err(throttled_or(error, failure, req, started));
            }
            if let Some(asked) = too_long {
                return Err(explain_wait(
                    error,
                    format!(
                        "the service asked to wait {}, more than dwlink's {} cap on Retry-After",
                        secs(asked),
                        secs(policy.max_retry_after)
                    ),
                ));
            }
            if started.elapsed() + delay >= limit {
                if let Some(asked) = retry_after {
                    return Err(explain_wait(
                        error,
                        format!(
                            "the service asked to wait {} after {} already spent on this request; dwlink gives one request {} at most",
                            secs(asked),
                            secs(started.elapsed()),
                            secs(limit)
                        ),
                    ));
                }
                return Err(throttled_or(error, failure, req, started));
            }
            if let Some(log) = &self.settings.log {
                let why = match (failure, retry_after) {
                    (Failure::Status(429), Some(_)) => "HTTP 429, as Retry-After asks".to_string(),
                    (Failure::Status(s), _) => format!("HTTP {s}"),
                    (Failure::Connect, _) => "no connection".to_string(),
                    (Failure::Interrupted, _) => "interrupted".to_string(),
                };
                log.wait(delay, attempt + 1, &why);
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt within `left` of the request's `limit`: past it, the attempt is abandoned
    /// wherever it stands (connecting, waiting for headers, reading the body).
    async fn attempt(
        &self,
        req: &ApiRequest,
        bearer: Option<&Secret>,
        number: u32,
        deadline: &mut Option<Instant>,
        limit: Duration,
    ) -> Result<Attempt, ProviderError> {
        let shown = redact_url(&req.url);
        let ticket = self.limiter.acquire().await;
        let sent_at = ticket.sent_at;
        let left = deadline
            .get_or_insert(sent_at + limit)
            .saturating_duration_since(Instant::now());
        let cap = req
            .timeout
            .unwrap_or(self.settings.request_timeout)
            .min(left);
        match tokio::time::timeout(cap, self.attempt_within(req, bearer, number, ticket)).await {
            Ok(done) => done,
            Err(_) => {
                let whole = cap >= left;
                let detail = if whole {
                    format!(
                        "the service stalled: no complete answer within {}, dwlink's limit for one request (all attempts included)",
                        secs(limit)
                    )
                } else {
                    format!(
                        "the service stalled: no complete answer within {} (this attempt's limit)",
                        secs(cap)
                    )
                };
                let failed = Attempt::Failed {
                    failure: Failure::Interrupted,
                    error: ProviderError::Transport {
                        api: req.api,
                        url: shown,
                        detail,
                    },
                    retry_after: None,
                    sent_at,
                };
                if let Some(recorder) = self.settings.recorder.as_deref() {
                    let now = SystemTime::now();
                    Tape {
                        recorder,
                        req,
                        bearer: bearer.is_some(),
                        number,
                        started: now.checked_sub(sent_at.elapsed()).unwrap_or(now),
                        sent_at,
                        wait: Duration::ZERO,
                    }
                    .failed(&failed);
                }
                Ok(failed)
            }
        }
    }

    async fn attempt_within(
        &self,
        req: &ApiRequest,
        bearer: Option<&Secret>,
        number: u32,
        ticket: crate::transport::throttle::Ticket,
    ) -> Result<Attempt, ProviderError> {
        let shown = redact_url(&req.url);
        let (physical, host) = self.settings.route.physical(&req.url)?;
        let dialled = dialled(&physical, host.is_some());
        // No timeout of reqwest's own: [`Client::attempt`] bounds the whole attempt.
        let mut builder = self.http.request(req.method.clone(), physical);
        if let Some(host) = host {
            builder = builder.header(HOST, host);
        }
        for (name, value) in &req.headers {
            builder = builder.header(*name, value);
        }
        if let Some(token) = bearer {
            let mut value =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| ProviderError::Auth {
                        api: req.api,
                        url: shown.clone(),
                        detail: "the access token contains characters not allowed in a header"
                            .into(),
                    })?;
            value.set_sensitive(true);
            builder = builder.header(reqwest::header::AUTHORIZATION, value);
        }
        builder = match &req.body {
            Body::Empty => builder,
            Body::Json(v) => builder.json(v),
            Body::Form(fields) => {
                let pairs: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.expose())).collect();
                builder.form(&pairs)
            }
            Body::Raw {
                content_type,
                bytes,
            } => builder
                .header(CONTENT_TYPE, content_type.as_str())
                .body(bytes.clone()),
        };

        let sent_at = ticket.sent_at;
        let mut tape = self.settings.recorder.as_deref().map(|r| Tape {
            recorder: r,
            req,
            bearer: bearer.is_some(),
            number,
            started: SystemTime::now(),
            sent_at,
            wait: Duration::ZERO,
        });
        let mut resp = match builder.send().await {
            Ok(r) => r,
            Err(e) => {
                let failed = transport_failure(req, &shown, &dialled, &e, sent_at);
                if let Some(t) = &tape {
                    t.failed(&failed);
                }
                return Ok(failed);
            }
        };
        if let Some(t) = &mut tape {
            t.wait = sent_at.elapsed();
        }
        let status = resp.status().as_u16();
        if status != 429 {
            self.limiter.succeeded();
        }
        let headers = resp.headers().clone();
        if let Some(host) = no_such_host(&self.settings.route, &headers) {
            // The emulator stands in for DNS here: say what a real lookup failure says.
            return Err(ProviderError::Transport {
                api: req.api,
                url: shown,
                detail: format!(
                    "the host `{host}` does not resolve (no such host); check the URL in the config for a typo"
                ),
            });
        }
        let success = (200..300).contains(&status);
        let cap = if success {
            MAX_REPLY_BYTES
        } else {
            MAX_ERROR_BYTES
        };
        let (body, over_cap) = match read_capped(&mut resp, cap).await {
            Ok(b) => b,
            Err(e) => {
                let failed = transport_failure(req, &shown, &dialled, &e, sent_at);
                if let Some(t) = &tape {
                    t.failed(&failed);
                }
                return Ok(failed);
            }
        };
        if let Some(t) = &tape {
            t.reply(resp.status(), &headers, &body, over_cap);
        }
        drop(resp);
        drop(ticket);
        if success {
            if over_cap {
                return Err(ProviderError::bad_reply(
                    req.api,
                    shown,
                    format!(
                        "the reply is larger than {} MiB",
                        MAX_REPLY_BYTES / (1024 * 1024)
                    ),
                ));
            }
            return Ok(Attempt::Done(Reply {
                api: req.api,
                status,
                headers,
                body,
                url: req.url.clone(),
            }));
        }
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let (code, message) = error_message(&headers, &body, over_cap);
        Ok(Attempt::Failed {
            failure: Failure::Status(status),
            error: ProviderError::Status {
                api: req.api,
                method: req.method.to_string(),
                url: shown,
                status,
                code,
                message,
            },
            retry_after,
            sent_at,
        })
    }
}

/// One `-v` line for an attempt: its status, or what went wrong.
fn log_attempt(
    log: &super::log::HttpLog,
    req: &ApiRequest,
    bearer: bool,
    result: &Result<Attempt, ProviderError>,
    took: Duration,
    number: u32,
) {
    let url = redact_url(&req.url);
    let (outcome, headers) = match result {
        Ok(Attempt::Done(reply)) => (reply.status.to_string(), Some(&reply.headers)),
        Ok(Attempt::Failed {
            failure: Failure::Status(s),
            ..
        }) => (s.to_string(), None),
        Ok(Attempt::Failed { error, .. }) | Err(error) => (format!("failed: {error}"), None),
    };
    // What dwlink sent, as set here (reqwest adds only transport headers): the token by name.
    let mut sent: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    if bearer {
        sent.push(("Authorization".into(), "Bearer".into()));
    }
    let content_type = match &req.body {
        Body::Empty => None,
        Body::Json(_) => Some("application/json".to_string()),
        Body::Form(_) => Some("application/x-www-form-urlencoded".to_string()),
        Body::Raw { content_type, .. } => Some(content_type.clone()),
    };
    sent.extend(content_type.map(|c| ("Content-Type".to_string(), c)));
    log.attempt(
        req.method.as_str(),
        &url,
        &outcome,
        took,
        number,
        (&sent, headers),
    );
}

fn throttled_or(
    error: ProviderError,
    failure: Failure,
    req: &ApiRequest,
    started: Instant,
) -> ProviderError {
    match failure {
        Failure::Status(429) => ProviderError::Throttled {
            api: req.api,
            url: redact_url(&req.url),
            // Milliseconds: whole seconds showed a give-up within the first second as "0ns".
            waited: Duration::from_millis(started.elapsed().as_millis() as u64),
        },
        _ => error,
    }
}

/// A refused wait, said in the status error's message so the code and status stay the service's.
fn explain_wait(error: ProviderError, why: String) -> ProviderError {
    match error {
        ProviderError::Status {
            api,
            method,
            url,
            status,
            code,
            message,
        } => ProviderError::Status {
            api,
            method,
            url,
            status,
            code,
            message: format!("{why} (the service said: {message})"),
        },
        other => other,
    }
}

/// The address a connection goes to, as a connection error names it: `host:port`, and for the
/// emulator `the emulator at 127.0.0.1:9`, so a wrong `--emulator-url` is not blamed on a URL
/// of the config.
fn dialled(physical: &Url, emulator: bool) -> String {
    let addr = format!(
        "{}:{}",
        physical.host_str().unwrap_or_default(),
        physical.port_or_known_default().unwrap_or_default()
    );
    if emulator {
        format!("the emulator at {addr}")
    } else {
        addr
    }
}

fn transport_failure(
    req: &ApiRequest,
    shown: &str,
    dialled: &str,
    e: &reqwest::Error,
    sent_at: Instant,
) -> Attempt {
    let failure = if e.is_connect() {
        Failure::Connect
    } else {
        Failure::Interrupted
    };
    let detail = if e.is_timeout() {
        "no complete answer before the request timeout".to_string()
    } else if e.is_connect() {
        format!("connection to {dialled} failed ({})", root_cause(e))
    } else if e.is_body() || e.is_decode() {
        format!("the reply was cut off ({})", root_cause(e))
    } else {
        root_cause(e)
    };
    Attempt::Failed {
        failure,
        error: ProviderError::Transport {
            api: req.api,
            url: shown.to_string(),
            detail,
        },
        retry_after: None,
        sent_at,
    }
}

/// The host an emulator reply says no environment has (its `x-dwlink-emulator-no-such-host`
/// header, dwlink-emulator's `hosts::NO_SUCH_HOST`); only believed from an emulator.
fn no_such_host(route: &super::route::Route, headers: &HeaderMap) -> Option<String> {
    if !matches!(route, super::route::Route::Emulator { .. }) {
        return None;
    }
    headers
        .get("x-dwlink-emulator-no-such-host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// reqwest's own message repeats the physical URL; the innermost cause says what happened.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Reads at most `cap` bytes; the rest is never read (the connection is dropped with it).
async fn read_capped(
    resp: &mut reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    // Sized from Content-Length (within the cap) so a 1 MB page is not grown by doubling.
    let expected = resp.content_length().unwrap_or(0).min(cap as u64) as usize;
    let mut buf = Vec::with_capacity(expected);
    while let Some(chunk) = resp.chunk().await? {
        if buf.len() + chunk.len() > cap {
            buf.extend_from_slice(&chunk[..cap - buf.len()]);
            return Ok((buf, true));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf, false))
}

/// The logical URL joined with a relative path, for service modules.
pub fn join(base: &Url, path: &str) -> Result<Url, ProviderError> {
    base.join(path).map_err(|e| ProviderError::Setup {
        message: format!("cannot build a URL from {base} and {path}: {e}"),
        help: "check the URL in the config".into(),
    })
}

pub fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}
