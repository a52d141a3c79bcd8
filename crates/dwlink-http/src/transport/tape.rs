//! `--record`: one attempt of [`crate::transport::client::Client`] turned into a HAR entry, the request as
//! it left the process and the reply as it came back (the entry builder redacts both).

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::HeaderMap;

use crate::transport::client::Attempt;
use crate::transport::request::{ApiRequest, Body};
use dwlink_core::har::entry::{self as har, Exchange, Outcome, SentBody, SentRequest};
use dwlink_core::har::writer::Recorder;

/// One attempt on its way into the recording.
pub(crate) struct Tape<'a> {
    pub recorder: &'a Recorder,
    pub req: &'a ApiRequest,
    pub bearer: bool,
    pub number: u32,
    pub started: SystemTime,
    pub sent_at: Instant,
    /// Until the status line.
    pub wait: Duration,
}

impl Tape<'_> {
    fn write(&self, outcome: Outcome<'_>, wait: Duration, receive: Duration) {
        let req = self.req;
        let mut headers: Vec<(String, String)> = vec![(
            "User-Agent".into(),
            concat!("dwlink/", env!("CARGO_PKG_VERSION")).into(),
        )];
        headers.extend(
            req.headers
                .iter()
                .map(|(n, v)| ((*n).to_string(), v.clone())),
        );
        if self.bearer {
            // The value never reaches the recording: the entry builder redacts it by name.
            headers.push(("Authorization".into(), "Bearer".into()));
        }
        let json;
        let body = match &req.body {
            Body::Empty => SentBody::Empty,
            Body::Json(v) => {
                json = serde_json::to_vec(v).unwrap_or_default();
                headers.push(("Content-Type".into(), "application/json".into()));
                SentBody::Bytes {
                    mime: "application/json".into(),
                    bytes: &json,
                }
            }
            Body::Form(fields) => {
                headers.push((
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
                SentBody::Form(fields.iter().map(|(k, v)| (*k, v.expose())).collect())
            }
            Body::Raw {
                content_type,
                bytes,
            } => {
                headers.push(("Content-Type".into(), content_type.clone()));
                SentBody::Bytes {
                    mime: content_type.clone(),
                    bytes,
                }
            }
        };
        let entry = har::entry(&Exchange {
            started: self.started,
            wait,
            receive,
            api: req.api.id(),
            attempt: self.number,
            request: SentRequest {
                method: req.method.as_str(),
                url: &req.url,
                headers,
                body,
            },
            outcome,
        });
        self.recorder.record(&entry);
    }

    pub(crate) fn reply(
        &self,
        status: reqwest::StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        cut: bool,
    ) {
        let headers = headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let total = self.sent_at.elapsed();
        self.write(
            Outcome::Reply {
                status: status.as_u16(),
                status_text: status.canonical_reason().unwrap_or(""),
                headers,
                body,
                cut_by_client: cut,
            },
            self.wait,
            total.saturating_sub(self.wait),
        );
    }

    pub(crate) fn failed(&self, attempt: &Attempt) {
        let error = match attempt {
            Attempt::Failed { error, .. } => error.to_string(),
            Attempt::Done(_) => return,
        };
        let total = self.sent_at.elapsed();
        let wait = if self.wait.is_zero() {
            total
        } else {
            self.wait
        };
        self.write(Outcome::Failed { error }, wait, total.saturating_sub(wait));
    }
}
