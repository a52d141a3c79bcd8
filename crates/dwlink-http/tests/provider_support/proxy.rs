//! A proxy on 127.0.0.1 in front of the emulator that counts what the provider sends and loses
//! replies on purpose: a 503 instead of forwarding (the service never saw the request), or a
//! 503 instead of the service's answer (the service acted, the client cannot know).

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lose {
    /// Answer 503 without forwarding.
    Before,
    /// Forward, drop the service's answer, answer 503.
    After,
    /// Forward, and answer 504 after this long whatever the service does meanwhile (a gateway
    /// that gives up on a slow request the service goes on with).
    GatewayTimeout(std::time::Duration),
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub method: Method,
    pub path_ends_with: String,
    pub lose: Lose,
    /// How many matching requests still get this treatment.
    pub times: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: Method,
    pub path: String,
    /// Whether the request reached the emulator.
    pub forwarded: bool,
}

#[derive(Clone, Default)]
pub(crate) struct Proxy {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    rules: Arc<Mutex<Vec<Rule>>>,
    /// Remove `Content-ID` lines from `$batch` answers: a service that does not say which
    /// request of a failed change set failed.
    pub strip_content_ids: Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    pub(crate) fn lose(&self, rule: Rule) {
        self.rules.lock().unwrap().push(rule);
    }

    /// Requests of `method` whose path ends with `suffix`: (sent by the client, forwarded).
    pub(crate) fn count(&self, method: &Method, suffix: &str) -> (usize, usize) {
        let seen = self.seen.lock().unwrap();
        let matching: Vec<&Seen> = seen
            .iter()
            .filter(|s| s.method == *method && s.path.ends_with(suffix))
            .collect();
        (
            matching.len(),
            matching.iter().filter(|s| s.forwarded).count(),
        )
    }

    pub(crate) fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }

    fn rule_for(&self, method: &Method, path: &str) -> Option<Lose> {
        let mut rules = self.rules.lock().unwrap();
        let r = rules
            .iter_mut()
            .find(|r| r.times > 0 && r.method == *method && path.ends_with(&r.path_ends_with))?;
        r.times -= 1;
        Some(r.lose)
    }
}

fn gateway_timeout() -> Response {
    Response::builder()
        .status(StatusCode::GATEWAY_TIMEOUT)
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"error":{"code":"GatewayTimeout","message":"timed out by the test proxy"}}"#,
        ))
        .unwrap()
}

fn unavailable() -> Response {
    Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"error":{"code":"ServiceUnavailable","message":"lost by the test proxy"}}"#,
        ))
        .unwrap()
}

/// Hop-by-hop and framing headers: the forwarding client and server set their own.
fn forwardable(name: &str) -> bool {
    !matches!(
        name,
        "content-length" | "transfer-encoding" | "connection" | "keep-alive"
    )
}

pub(crate) async fn serve_proxy(upstream: String) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = Proxy {
        url: format!("http://{}", listener.local_addr().unwrap()),
        ..Proxy::default()
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let p = proxy.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (p, client, upstream) = (p.clone(), client.clone(), upstream.clone());
            async move {
                let path = uri.path().to_string();
                let lose = p.rule_for(&method, &path);
                p.seen.lock().unwrap().push(Seen {
                    method: method.clone(),
                    path: path.clone(),
                    forwarded: lose != Some(Lose::Before),
                });
                if lose == Some(Lose::Before) {
                    return unavailable();
                }
                let target = format!(
                    "{upstream}{}",
                    uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
                );
                let mut req = client.request(method, target).body(body);
                for (k, v) in headers.iter().filter(|(k, _)| forwardable(k.as_str())) {
                    req = req.header(k, v);
                }
                if let Some(Lose::GatewayTimeout(after)) = lose {
                    // The service goes on; only the gateway stops waiting.
                    tokio::spawn(async move {
                        if let Ok(r) = req.send().await {
                            let _ = r.bytes().await;
                        }
                    });
                    tokio::time::sleep(after).await;
                    return gateway_timeout();
                }
                let resp = req.send().await.unwrap();
                if lose == Some(Lose::After) {
                    // The emulator has acted; only its answer is lost.
                    let _ = resp.bytes().await;
                    return unavailable();
                }
                let mut out = Response::builder().status(resp.status().as_u16());
                for (k, v) in resp
                    .headers()
                    .iter()
                    .filter(|(k, _)| forwardable(k.as_str()))
                {
                    out = out.header(k, v);
                }
                let mut bytes = resp.bytes().await.unwrap().to_vec();
                if path.ends_with("/$batch")
                    && p.strip_content_ids
                        .load(std::sync::atomic::Ordering::SeqCst)
                {
                    let text = String::from_utf8(bytes).unwrap();
                    bytes = text
                        .split_inclusive('\n')
                        .filter(|l| !l.to_ascii_lowercase().starts_with("content-id:"))
                        .collect::<String>()
                        .into_bytes();
                }
                out.body(Body::from(bytes)).unwrap()
            }
        },
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    proxy
}
