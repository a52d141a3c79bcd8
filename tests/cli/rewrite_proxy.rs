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

/// A proxy on 127.0.0.1 that hands every request to its handler; stopped when dropped.
pub(crate) struct Proxy {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// What a proxy does with one request: answer it itself, or pass it on with [`Upstream::send`].
pub(crate) type Handler = Arc<
    dyn Fn(Upstream, Method, Uri, HeaderMap, Bytes) -> futures::future::BoxFuture<'static, Response>
        + Send
        + Sync,
>;

/// The server a proxy stands in front of.
#[derive(Clone)]
pub(crate) struct Upstream {
    client: reqwest::Client,
    base: String,
}

/// Framing and compression are the proxy's own business: replies are passed on as plain bytes.
fn forwardable(name: &str) -> bool {
    !matches!(
        name,
        "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "accept-encoding"
    )
}

impl Upstream {
    /// Sends the request on; `Err` is the proxy's own 502 when the upstream cannot be reached.
    /// `Ok` is the reply's response head (its forwardable headers) and its body.
    pub(crate) async fn send(
        &self,
        method: Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<(axum::http::response::Builder, Bytes), Response> {
        let target = format!(
            "{}{}",
            self.base,
            uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
        );
        let mut req = self.client.request(method, target).body(body);
        for (k, v) in headers.iter().filter(|(k, _)| forwardable(k.as_str())) {
            req = req.header(k, v);
        }
        let Ok(resp) = req.send().await else {
            return Err(Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::empty())
                .unwrap());
        };
        let mut head = Response::builder().status(resp.status().as_u16());
        for (k, v) in resp
            .headers()
            .iter()
            .filter(|(k, _)| forwardable(k.as_str()))
        {
            head = head.header(k, v);
        }
        Ok((head, resp.bytes().await.unwrap_or_default()))
    }
}

impl Proxy {
    pub(crate) fn start(upstream: &str, handler: Handler) -> Proxy {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let base = upstream.trim_end_matches('/').to_string();
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
                let upstream = Upstream { client, base };
                let app = axum::Router::new().fallback(
                    move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                        handler(upstream.clone(), method, uri, headers, body)
                    },
                );
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = addr_rx.recv().expect("the proxy starts");
        Proxy {
            url: format!("http://{addr}"),
            stop: Some(stop),
        }
    }
}

/// A proxy whose replies to GETs `rewrite` may change.
pub(crate) struct RewriteProxy {
    pub url: String,
    /// `path?query` of every reply that was rewritten.
    rewritten: Arc<Mutex<Vec<String>>>,
    _proxy: Proxy,
}

impl RewriteProxy {
    pub(crate) fn start(upstream: &str, rewrite: Rewrite) -> RewriteProxy {
        let rewritten = Arc::new(Mutex::new(Vec::new()));
        let log = rewritten.clone();
        let handler: Handler = Arc::new(move |upstream, method, uri, headers, body| {
            let (rewrite, log) = (rewrite.clone(), log.clone());
            Box::pin(async move {
                let (head, bytes) = match upstream.send(method.clone(), &uri, &headers, body).await
                {
                    Ok(r) => r,
                    Err(bad_gateway) => return bad_gateway,
                };
                let (path, query) = (uri.path(), uri.query().unwrap_or(""));
                let mut bytes = bytes.to_vec();
                if method == Method::GET {
                    if let Ok(mut json) = serde_json::from_slice::<Value>(&bytes) {
                        if rewrite(path, query, &mut json) {
                            log.lock().unwrap().push(format!("{path}?{query}"));
                            bytes = serde_json::to_vec(&json).unwrap();
                        }
                    }
                }
                head.body(Body::from(bytes)).unwrap()
            })
        });
        let proxy = Proxy::start(upstream, handler);
        RewriteProxy {
            url: proxy.url.clone(),
            rewritten,
            _proxy: proxy,
        }
    }

    pub(crate) fn rewritten(&self) -> Vec<String> {
        self.rewritten.lock().unwrap().clone()
    }
}
