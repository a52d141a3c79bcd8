//! A stand-in for every service that issues tokens and answers everything else one bad way (or
//! from a script), on 127.0.0.1: what `dwlink doctor` must classify without hanging or panicking.
//! Reached with `--emulator-url`, so requests carry the logical host in `Host`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::Response;

/// `(status, content type, body)` for a request's host, path and query; `None`: 404.
pub(crate) type Script =
    Arc<dyn Fn(&str, &str, &str) -> Option<(u16, &'static str, String)> + Send + Sync>;

#[derive(Clone)]
pub(crate) enum Answer {
    NotFound,
    Status(u16),
    Html,
    GarbageJson,
    /// `{"value": [], "@odata.nextLink": …, "nextLink": …}`, each page pointing at another.
    EndlessNextLink,
    /// Accepts the request and never answers.
    Hang,
    Scripted(Script),
}

pub(crate) struct Fake {
    pub url: String,
    /// `METHOD host path` of every request but the token requests, in arrival order.
    pub seen: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn reply(status: u16, content_type: &str, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .expect("a response")
}

async fn answer(
    answer: Arc<Answer>,
    pages: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<String>>>,
    req: Request,
) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    if path.ends_with("/oauth2/v2.0/token") {
        return reply(
            200,
            "application/json",
            r#"{"token_type":"Bearer","expires_in":3600,"access_token":"fake-access-token"}"#,
        );
    }
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(format!("{} {host} {path}", req.method()));
    match &*answer {
        Answer::NotFound => reply(404, "text/plain", ""),
        Answer::Status(s) => {
            let mut r = reply(
                *s,
                "application/json",
                format!(r#"{{"error":{{"code":"Refused{s}","message":"the fake refuses this"}}}}"#),
            );
            // An hour: far past any wait a preflight sits out.
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("3600"));
            r
        }
        Answer::Html => reply(
            200,
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>\u{1b}[31m</body></html>",
        ),
        Answer::GarbageJson => reply(200, "application/json", "{\"value\": [tru\u{0}e, {\"@odata"),
        Answer::EndlessNextLink => {
            let n = pages.fetch_add(1, Ordering::Relaxed);
            let next = format!("https://{host}{path}?page={}", n + 1);
            reply(
                200,
                "application/json",
                serde_json::json!({"value": [], "@odata.nextLink": next, "nextLink": next}).to_string(),
            )
        }
        Answer::Hang => std::future::pending().await,
        Answer::Scripted(script) => match script(&host, &path, &query) {
            Some((s, ct, body)) => reply(s, ct, body),
            None => reply(404, "text/plain", ""),
        },
    }
}

impl Fake {
    pub(crate) fn start(a: Answer) -> Fake {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the fake");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1");
                addr_tx
                    .send(listener.local_addr().expect("an address"))
                    .expect("hand the address over");
                let (a, pages) = (Arc::new(a), Arc::new(AtomicU64::new(0)));
                let app = axum::Router::new().fallback(move |req: Request| {
                    answer(a.clone(), pages.clone(), log.clone(), req)
                });
                // Dropping the runtime when told to stop ends the hanging requests too.
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = addr_rx.recv().expect("the fake starts");
        Fake {
            url: format!("http://{addr}"),
            seen,
            stop: Some(stop),
        }
    }
}
