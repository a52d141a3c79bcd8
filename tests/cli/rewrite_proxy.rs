//! A corrupting proxy on 127.0.0.1 in front of the emulator: it forwards every request (the
//! logical host travels in `Host`, as `--emulator-url` sends it) and lets a test rewrite the JSON
//! of chosen replies (a key of another type, half a page, an empty page), as a faulty service or
//! a hostile middlebox would.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;

/// Rewrites the JSON reply to a GET of `path?query`; returns whether it changed anything.
pub(crate) type Rewrite = Arc<dyn Fn(&str, &str, &mut Value) -> bool + Send + Sync>;

pub(crate) struct RewriteProxy {
    pub url: String,
    /// `path?query` of every reply that was rewritten.
    pub rewritten: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for RewriteProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Framing and compression are the proxy's own business: the reply is rewritten as plain JSON.
fn forwardable(name: &str) -> bool {
    !matches!(
        name,
        "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "accept-encoding"
    )
}

impl RewriteProxy {
    pub(crate) fn start(upstream: &str, rewrite: Rewrite) -> RewriteProxy {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let rewritten = Arc::new(Mutex::new(Vec::new()));
        let log = rewritten.clone();
        let upstream = upstream.trim_end_matches('/').to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the proxy");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1");
                addr_tx
                    .send(listener.local_addr().expect("an address"))
                    .expect("hand the address over");
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .expect("a client");
                let app = axum::Router::new().fallback(
                    move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                        let (client, upstream, rewrite, log) = (
                            client.clone(),
                            upstream.clone(),
                            rewrite.clone(),
                            log.clone(),
                        );
                        async move {
                            forward(client, &upstream, rewrite, log, method, uri, headers, body)
                                .await
                        }
                    },
                );
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = addr_rx.recv().expect("the proxy starts");
        RewriteProxy {
            url: format!("http://{addr}"),
            rewritten,
            stop: Some(stop),
        }
    }

    pub(crate) fn rewritten(&self) -> Vec<String> {
        self.rewritten.lock().unwrap().clone()
    }
}

#[allow(clippy::too_many_arguments)]
async fn forward(
    client: reqwest::Client,
    upstream: &str,
    rewrite: Rewrite,
    log: Arc<Mutex<Vec<String>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let target = format!(
        "{upstream}{}",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut req = client.request(method.clone(), target).body(body);
    for (k, v) in headers.iter().filter(|(k, _)| forwardable(k.as_str())) {
        req = req.header(k, v);
    }
    let Ok(resp) = req.send().await else {
        return Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::empty())
            .unwrap();
    };
    let mut out = Response::builder().status(resp.status().as_u16());
    for (k, v) in resp
        .headers()
        .iter()
        .filter(|(k, _)| forwardable(k.as_str()))
    {
        out = out.header(k, v);
    }
    let mut bytes = resp.bytes().await.unwrap_or_default().to_vec();
    if method == Method::GET {
        if let Ok(mut json) = serde_json::from_slice::<Value>(&bytes) {
            if rewrite(&path, &query, &mut json) {
                log.lock().unwrap().push(format!("{path}?{query}"));
                bytes = serde_json::to_vec(&json).unwrap();
            }
        }
    }
    out.body(Body::from(bytes)).unwrap()
}
