//! `dwlink conformance`: each request of a recording sent again, in order, to an emulator, and
//! its reply compared with the recorded one ([`dwlink_core::har::shape`]). Requests go out like
//! the client's: the logical URL routed to the emulator's address with the logical `Host`.
//!
//! Recorded credentials are redacted, so the replayer signs in by itself: a recorded
//! client-credentials token request is sent again with the fixture's secret for that client,
//! and every other request carries a token the replayer asked the emulator for, for the scope
//! dwlink would use ([`crate::signin::session::scope_of`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST};
use serde_json::Value;
use url::Url;

use crate::signin::session::scope_of;
use crate::transport::client::MAX_REPLY_BYTES;
use crate::transport::route::Route;
use dwlink_core::har::redact::REDACTED;
use dwlink_core::har::shape::{self, Difference};
use dwlink_core::har::stream::HarFile;
use dwlink_core::har::{Entry, Har};
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::link::secret::{redact_url, Secret};

/// A confidential client the emulator accepts (a fixture's `clients:` item).
#[derive(Debug, Clone)]
pub struct Credential {
    pub tenant_id: String,
    pub client_id: String,
    pub secret: Secret,
}

/// One recorded request, replayed or not.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub method: String,
    /// The logical URL, redacted as in the recording.
    pub url: String,
    pub recorded_status: u16,
    /// `None` when skipped.
    pub emulator_status: Option<u16>,
    /// The first [`MAX_DIFFERENCES_PER_ENTRY`] differences.
    pub differences: Vec<Difference>,
    /// How many differences there are in all (more than `differences` holds when capped).
    pub total_differences: usize,
    /// Why it was not replayed (or compared only by status).
    pub note: Option<String>,
}

/// Headers the replayer sets itself, or that describe the recorded connection only.
const NOT_REPLAYED: [&str; 7] = [
    "authorization",
    "host",
    "content-length",
    "cookie",
    "user-agent",
    "connection",
    "accept-encoding",
];

/// The service of an entry: dwlink's own mark, or (for a browser's HAR) guessed from the URL.
fn api_of(entry: &Entry, url: &Url) -> Api {
    if let Some(api) = entry.dwlink.as_ref().and_then(|d| Api::from_id(&d.api)) {
        return api;
    }
    let host = url.host_str().unwrap_or_default();
    let path = url.path();
    if host.starts_with("login.") {
        Api::Login
    } else if host == "api.bap.microsoft.com" {
        Api::PowerPlatformAdmin
    } else if path.starts_with("/api/DualWrite") || path.starts_with("/api/ConnectionSet") {
        Api::DualWrite
    } else if path.starts_with("/api/data/") {
        Api::Dataverse
    } else {
        Api::FinanceOperations
    }
}

fn form(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

fn bad(message: String) -> ProviderError {
    ProviderError::Setup {
        message,
        help: "check that the emulator is running and seeded from the fixture the recording was made against".into(),
    }
}

/// Where a replay is in the recording's timeline: the last entry's recorded start and when it
/// was sent, and the pauses kept so far.
#[derive(Default)]
struct Pacing {
    last: Option<(jiff::Timestamp, std::time::Instant)>,
    paused: Duration,
}

/// The longest pause kept between two replayed requests: enough for the emulator's
/// asynchronous requests to complete as they did when recorded, short enough that a recording
/// of long polls against a real service does not replay for minutes.
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// The most a whole replay pauses unless asked to keep every recorded pause: 100,000 entries two
/// seconds apart would otherwise replay for 55 hours.
pub const MAX_TOTAL_PAUSE: Duration = Duration::from_secs(10);
/// Differences kept per entry; the rest are counted.
pub const MAX_DIFFERENCES_PER_ENTRY: usize = 20;

/// The pause before the next request: the recorded gap (at most [`MAX_PAUSE`]) less what the
/// last request already took, within what is left of [`MAX_TOTAL_PAUSE`] unless `keep` is set.
pub fn pause(gap: Duration, elapsed: Duration, paused: Duration, keep: bool) -> Duration {
    let wanted = gap.min(MAX_PAUSE).saturating_sub(elapsed);
    if keep {
        wanted
    } else {
        wanted.min(MAX_TOTAL_PAUSE.saturating_sub(paused))
    }
}

pub struct Replayer {
    http: reqwest::Client,
    route: Route,
    credentials: Vec<Credential>,
    tokens: HashMap<String, String>,
    /// Recorded id → the emulator's, from the replies so far.
    ids: BTreeMap<String, String>,
    /// `--keep-pauses`: no cap on the replay's total pause.
    keep_pauses: bool,
}

impl Replayer {
    pub fn new(emulator_url: &Url, credentials: Vec<Credential>) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(100))
            .build()
            .map_err(|e| bad(format!("cannot build the HTTP client: {e}")))?;
        Ok(Replayer {
            http,
            route: Route::emulator_url(emulator_url)?,
            credentials,
            tokens: HashMap::new(),
            ids: BTreeMap::new(),
            keep_pauses: false,
        })
    }

    /// Keep every recorded pause (each still at most [`MAX_PAUSE`]), however long they add up to.
    pub fn keep_pauses(mut self, keep: bool) -> Self {
        self.keep_pauses = keep;
        self
    }

    fn credential(&self, client_id: Option<&str>) -> Option<&Credential> {
        client_id
            .and_then(|id| {
                self.credentials
                    .iter()
                    .find(|c| c.client_id.eq_ignore_ascii_case(id))
            })
            .or(self.credentials.first())
    }

    async fn send(
        &self,
        method: &str,
        logical: &Url,
        headers: &[(String, String)],
        body: Option<String>,
        bearer: Option<&str>,
    ) -> Result<(u16, Vec<u8>), ProviderError> {
        let (physical, host) = self.route.physical(logical)?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| bad(format!("the recording has an unknown method {method}")))?;
        let mut b = self.http.request(method, physical);
        if let Some(h) = host {
            b = b.header(HOST, h);
        }
        for (n, v) in headers {
            if NOT_REPLAYED.iter().any(|x| n.eq_ignore_ascii_case(x)) {
                continue;
            }
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(n.as_str()), HeaderValue::try_from(v)) {
                b = b.header(n, v);
            }
        }
        if let Some(t) = bearer {
            let mut v = HeaderValue::try_from(format!("Bearer {t}")).map_err(|_| {
                bad("the emulator issued a token that is not a header value".into())
            })?;
            v.set_sensitive(true);
            b = b.header(AUTHORIZATION, v);
        }
        if let Some(body) = body {
            b = b.body(body);
        }
        let shown = redact_url(logical);
        let mut resp = b
            .send()
            .await
            .map_err(|e| bad(format!("{shown}: the emulator did not answer: {e}")))?;
        let status = resp.status().as_u16();
        let mut buf = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| bad(format!("{shown}: the reply was cut off: {e}")))?
        {
            if buf.len() + chunk.len() > MAX_REPLY_BYTES {
                break;
            }
            buf.extend_from_slice(&chunk);
        }
        Ok((status, buf))
    }

    /// A client-credentials token for `scope`, asked once per scope.
    async fn token(&mut self, scope: &str) -> Result<String, ProviderError> {
        if let Some(t) = self.tokens.get(scope) {
            return Ok(t.clone());
        }
        let c = self
            .credential(None)
            .ok_or_else(|| bad("the fixture lists no `clients:` to sign in with".into()))?
            .clone();
        let url = Url::parse(&format!(
            "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
            c.tenant_id
        ))
        .map_err(|e| bad(format!("the fixture's tenant id does not make a URL: {e}")))?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "client_credentials"),
                ("client_id", c.client_id.as_str()),
                ("client_secret", c.secret.expose()),
                ("scope", scope),
            ])
            .finish();
        let headers = [(
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        )];
        let (status, reply) = self.send("POST", &url, &headers, Some(body), None).await?;
        let token = serde_json::from_slice::<Value>(&reply)
            .ok()
            .and_then(|v| v["access_token"].as_str().map(str::to_string))
            .filter(|_| status == 200)
            .ok_or_else(|| {
                bad(format!(
                    "the emulator refused the fixture's client a token for {scope} (HTTP {status})"
                ))
            })?;
        self.tokens.insert(scope.to_string(), token.clone());
        Ok(token)
    }

    /// Replays every entry in order, keeping the recorded pauses between them (up to
    /// [`MAX_PAUSE`] each and [`MAX_TOTAL_PAUSE`] in all), so polls find the emulator's
    /// asynchronous requests as far along as the recorded ones were. An emulator that cannot be
    /// reached ends the run.
    pub async fn replay(&mut self, har: &Har) -> Result<Vec<Replayed>, ProviderError> {
        let mut out = Vec::with_capacity(har.log.entries.len());
        let mut pacing = Pacing::default();
        for entry in &har.log.entries {
            out.push(self.paced(entry, &mut pacing).await?);
        }
        Ok(out)
    }

    /// [`Replayer::replay`] of a file read one entry at a time on a thread of its own, a few
    /// entries ahead of the replay: the memory it takes is a few entries', not the file's.
    pub async fn replay_file(&mut self, har: &HarFile) -> Result<Vec<Replayed>, ProviderError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Entry>(4);
        let file = har.clone();
        let reader = std::thread::spawn(move || {
            file.for_each(|e| match tx.blocking_send(e) {
                Ok(()) => std::ops::ControlFlow::Continue(()),
                // The replay ended (on an error of its own): stop reading.
                Err(_) => std::ops::ControlFlow::Break(()),
            })
        });
        let mut out = Vec::with_capacity(har.entries());
        let mut pacing = Pacing::default();
        let mut failed = None;
        while let Some(entry) = rx.recv().await {
            match self.paced(&entry, &mut pacing).await {
                Ok(r) => out.push(r),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        drop(rx);
        let read = reader.join().unwrap_or_else(|_| {
            Err(dwlink_core::diag::Problem::error(
                "dwlink::har::changed",
                "the recording's reader stopped",
            ))
        });
        if let Some(e) = failed {
            return Err(e);
        }
        read.map_err(|p| bad(p.message))?;
        Ok(out)
    }

    /// One entry, after the recorded pause before it (see [`Replayer::replay`]).
    async fn paced(
        &mut self,
        entry: &Entry,
        pacing: &mut Pacing,
    ) -> Result<Replayed, ProviderError> {
        let started = entry.started_at();
        if let (Some(now), Some((before, sent))) = (started, pacing.last) {
            let gap = now.duration_since(before).unsigned_abs();
            let wait = pause(gap, sent.elapsed(), pacing.paused, self.keep_pauses);
            pacing.paused += wait;
            tokio::time::sleep(wait).await;
        }
        if let Some(s) = started {
            pacing.last = Some((s, std::time::Instant::now()));
        }
        self.one(entry).await
    }

    /// `text` with every recorded id the emulator knows by another id replaced.
    fn substitute(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (recorded, replayed) in &self.ids {
            if out.contains(recorded.as_str()) {
                out = out.replace(recorded.as_str(), replayed);
            }
        }
        out
    }

    async fn one(&mut self, entry: &Entry) -> Result<Replayed, ProviderError> {
        let mut r = Replayed {
            method: entry.request.method.clone(),
            url: entry.request.url.clone(),
            recorded_status: entry.response.status,
            emulator_status: None,
            differences: Vec::new(),
            total_differences: 0,
            note: None,
        };
        let Ok(url) = Url::parse(&self.substitute(&entry.request.url)) else {
            r.note = Some("not replayed: the URL does not parse".into());
            return Ok(r);
        };
        let skip = |r: &mut Replayed, why: &str| r.note = Some(format!("not replayed: {why}"));
        match entry.response.status {
            0 => {
                skip(&mut r, "no reply was recorded (transport failure)");
                return Ok(r);
            }
            429 => {
                skip(&mut r, "recorded as throttled (429): timing, not contract");
                return Ok(r);
            }
            _ => {}
        }
        let cut = |what: &str| {
            entry
                .comment()
                .is_some_and(|c| c.contains(&format!("{what} body cut")))
        };
        if cut("request") {
            skip(&mut r, "the recording kept only part of the request body");
            return Ok(r);
        }
        let headers: Vec<(String, String)> = entry
            .request
            .headers
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        let mut body = entry
            .request
            .post_data
            .as_ref()
            .and_then(|p| p.text.as_deref())
            .map(|t| self.substitute(t));
        let api = api_of(entry, &url);
        let bearer = if api == Api::Login {
            let fields = form(body.as_deref().unwrap_or(""));
            let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            if !url.path().ends_with("/oauth2/v2.0/token")
                || get("grant_type") != Some("client_credentials")
            {
                skip(
                    &mut r,
                    "a user sign-in (device code or refresh token): its one-time codes are not in the recording",
                );
                return Ok(r);
            }
            let Some(c) = self.credential(get("client_id")).cloned() else {
                skip(&mut r, "the fixture lists no `clients:` to sign in with");
                return Ok(r);
            };
            let replaced: Vec<(String, String)> = fields
                .iter()
                .map(|(k, v)| {
                    let v = if k == "client_secret" && v == REDACTED {
                        c.secret.expose().to_string()
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect();
            body = Some(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(replaced)
                    .finish(),
            );
            None
        } else {
            Some(self.token(&scope_of(api, &url)).await?)
        };
        let (status, reply) = self
            .send(
                &entry.request.method,
                &url,
                &headers,
                body,
                bearer.as_deref(),
            )
            .await?;
        r.emulator_status = Some(status);
        if status != r.recorded_status {
            r.differences.push(Difference {
                path: "status".into(),
                recorded: r.recorded_status.to_string(),
                emulator: status.to_string(),
            });
            r.total_differences += 1;
        }
        if cut("reply") {
            r.note =
                Some("compared by status only: the recording kept only part of the reply".into());
            return Ok(r);
        }
        let recorded: Option<Value> = entry
            .reply_text()
            .filter(|t| !t.is_empty())
            .map(|t| serde_json::from_str(t).ok())
            .unwrap_or(Some(Value::Null));
        let replied: Option<Value> = if reply.is_empty() {
            Some(Value::Null)
        } else {
            serde_json::from_slice(&reply).ok()
        };
        match (recorded, replied) {
            (Some(a), Some(b)) => {
                shape::generated_ids(&a, &b, &mut self.ids);
                let room = MAX_DIFFERENCES_PER_ENTRY - r.differences.len();
                let (found, total) = shape::compare_at_most(&a, &b, room);
                r.differences.extend(found);
                r.total_differences += total;
            }
            (None, None) => r.note = Some("compared by status only: neither reply is JSON".into()),
            (a, b) => {
                let kind = |v: &Option<Value>| if v.is_some() { "JSON" } else { "not JSON" };
                r.differences.push(Difference {
                    path: "$".into(),
                    recorded: kind(&a).into(),
                    emulator: kind(&b).into(),
                });
                r.total_differences += 1;
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod pause_tests {
    use super::*;

    /// The 100 entries two seconds apart (198 s): ten seconds in all, unless kept.
    #[test]
    fn recorded_pauses_are_capped_in_total_unless_kept() {
        let gap = Duration::from_secs(2);
        let total = |keep: bool| {
            (1..100).fold(Duration::ZERO, |paused, _| {
                paused + pause(gap, Duration::ZERO, paused, keep)
            })
        };
        assert_eq!(total(false), MAX_TOTAL_PAUSE);
        assert_eq!(total(true), Duration::from_secs(198));
        assert_eq!(
            pause(
                Duration::from_secs(3600),
                Duration::ZERO,
                Duration::ZERO,
                true
            ),
            MAX_PAUSE
        );
    }
}
