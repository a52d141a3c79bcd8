//! `-v`: one line per HTTP attempt (method, logical URL, status or failure, time) and per wait
//! before a retry (a 429's `Retry-After` included); `-vv` adds the request's and the reply's
//! headers (`>` sent, `<` received), scrubbed as
//! `--record` scrubs them. Kept apart from the client's retry and deadline logic: the client
//! only hands it what happened.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;

use dwlink_core::har::redact::{is_secret_header, REDACTED};

/// Where the lines go (the CLI's stderr) and whether headers are wanted.
#[derive(Clone)]
pub struct HttpLog {
    pub write: Arc<dyn Fn(&str) + Send + Sync>,
    pub headers: bool,
}

impl std::fmt::Debug for HttpLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpLog")
            .field("headers", &self.headers)
            .finish()
    }
}

fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

impl HttpLog {
    /// `http: GET https://host/data/Set?$top=1 → 200 in 42 ms (attempt 2)`.
    pub(crate) fn attempt(
        &self,
        method: &str,
        url: &str,
        outcome: &str,
        took: Duration,
        number: u32,
        (sent, received): (&[(String, String)], Option<&HeaderMap>),
    ) {
        let again = if number > 1 {
            format!(" (attempt {number})")
        } else {
            String::new()
        };
        (self.write)(&format!(
            "http: {method} {url} → {outcome} in {}{again}",
            millis(took)
        ));
        if !self.headers {
            return;
        }
        let shown = |name: &str, value: &str| {
            if is_secret_header(name) {
                REDACTED.to_string()
            } else {
                dwlink_core::har::redact::text(value)
            }
        };
        for (name, value) in sent {
            (self.write)(&format!("http:   > {name}: {}", shown(name, value)));
        }
        for (name, value) in received.into_iter().flatten() {
            let value = shown(name.as_str(), value.to_str().unwrap_or("<binary>"));
            (self.write)(&format!("http:   < {name}: {value}"));
        }
    }

    /// `http: waiting 1.2 s before attempt 3 (HTTP 429, Retry-After)`.
    pub(crate) fn wait(&self, delay: Duration, next: u32, why: &str) {
        (self.write)(&format!(
            "http: waiting {:.1} s before attempt {next} ({why})",
            delay.as_secs_f64()
        ));
    }
}
