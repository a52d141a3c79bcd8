//! Test support: a desired config for the Contoso example, fast provider settings, and fake
//! services on 127.0.0.1 that misbehave on purpose (a real HTTP server, and a raw TCP one for
//! replies no HTTP framework would send).

#![allow(dead_code)]

pub(crate) mod proxy;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use dwlink_core::model::desired::*;
use dwlink_http::{HttpProvider, ProviderSettings};
use serde_json::{json, Value};
use url::Url;
use uuid::Uuid;

pub(crate) const SECRET_ENV: &str = "DWLINK_TEST_CLIENT_SECRET";
pub(crate) const SECRET: &str = "super-secret-value-never-print";
pub(crate) const ORG: &str = "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10";
pub(crate) const TOKEN_PREFIX: &str = "tok-do-not-print-";

pub(crate) fn set_secret() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var(SECRET_ENV, SECRET));
}

pub(crate) fn desired(dws_auth: DualWriteAuth) -> Desired {
    set_secret();
    let u = |s: &str| Url::parse(s).unwrap();
    Desired {
        kind: Kind::DualWriteLink,
        name: "contoso-uat".into(),
        protected: false,
        finance_operations: FinanceOperations {
            url: u("https://contoso-uat.sandbox.operations.dynamics.com"),
            environment_type: EnvironmentType::Sandbox,
        },
        dataverse: Dataverse {
            url: u("https://contoso-uat.crm.dynamics.com"),
            organization_id: None,
        },
        link: Link {
            reset_target: ResetTarget::PowerPlatformLink,
            legal_entities: vec!["USMF".into()],
        },
        reset: Reset {
            when: ResetWhen::OnMismatch,
            force: false,
            clear_tables: true,
        },
        after_reset: AfterReset::default(),
        maps: Vec::new(),
        auth: Auth {
            tenant_id: Uuid::parse_str("72f988bf-0000-0000-0000-000000000000").unwrap(),
            client_id: Uuid::parse_str("11111111-2222-3333-4444-555555555555").unwrap(),
            client_secret_env: SECRET_ENV.into(),
        },
        dual_write_service: Some(DualWriteService {
            url: u("https://projectmanagementservice.weu-il107.gateway.prod.island.powerapps.com"),
            auth: dws_auth,
            client_id: dwlink_core::model::desired::DATA_INTEGRATION_CLIENT_ID,
        }),
        restored_from: None,
    }
}

/// Emulator routing with retries fast enough for tests.
pub(crate) fn settings(addr: &str) -> ProviderSettings {
    let mut s = ProviderSettings::emulator(&Url::parse(addr).unwrap(), false, None).unwrap();
    s.client.retry.base_delay = Duration::from_millis(5);
    s.client.retry.max_delay = Duration::from_millis(50);
    s.client.retry.max_total = Duration::from_secs(10);
    s.client.request_timeout = Duration::from_secs(5);
    // The emulator worlds of these tests complete requests after 20 ms.
    s.confirm_window = Duration::from_millis(500);
    s.solution_window = Duration::from_millis(500);
    s.reset_window = Duration::from_millis(500);
    s
}

pub(crate) fn provider(addr: &str) -> HttpProvider {
    HttpProvider::new(&desired(DualWriteAuth::ClientCredentials), settings(addr)).unwrap()
}

/// Every error must be free of the client secret and of every token the fake issued.
pub(crate) fn assert_no_secrets(e: &dyn std::fmt::Debug, shown: &str) {
    let all = format!("{e:?} {shown}");
    assert!(!all.contains(SECRET), "secret leaked: {all}");
    assert!(!all.contains(TOKEN_PREFIX), "token leaked: {all}");
}

pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub bearer: Option<String>,
}

/// Where dwlink asks who the organization is.
pub(crate) const ORG_PATH: &str = "/api/data/v9.2/RetrieveCurrentOrganization(AccessType=@p1)";

/// The smallest `$metadata` a real F&O environment could send for dwlink: its one key-table set.
pub(crate) const METADATA: &str = r#"<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices><Schema Namespace="Microsoft.Dynamics.DataEntities" xmlns="http://docs.oasis-open.org/odata/ns/edm"><EntityType Name="DualWriteProjectConfiguration"><Key><PropertyRef Name="ProjectName"/></Key><Property Name="ProjectName" Type="Edm.String" Nullable="false"/><Property Name="ExternalEnvironmentUrl" Type="Edm.String"/></EntityType><EntityContainer Name="Container"><EntitySet Name="DualWriteProjectConfigurations" EntityType="Microsoft.Dynamics.DataEntities.DualWriteProjectConfiguration"/></EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"#;

pub(crate) type Override = Arc<dyn Fn(&Req, &Fake) -> Option<Response> + Send + Sync>;

/// A small, well-behaved world (never linked, empty tables) unless `over` answers first.
#[derive(Clone)]
pub(crate) struct Fake {
    pub tokens_issued: Arc<AtomicUsize>,
    /// When each token (1-based) was issued.
    pub issued_at: Arc<Mutex<Vec<std::time::Instant>>>,
    pub requests: Arc<Mutex<Vec<String>>>,
    pub token_ttl: u64,
    over: Override,
}

impl Fake {
    pub(crate) fn token(&self, n: usize) -> String {
        format!("{TOKEN_PREFIX}{n}")
    }

    /// Whether `bearer` is a token this fake issued less than `ttl` ago.
    pub(crate) fn valid(&self, bearer: Option<&str>, ttl: Duration) -> bool {
        let Some(n) = bearer
            .and_then(|b| b.strip_prefix(TOKEN_PREFIX))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return false;
        };
        let at = self.issued_at.lock().unwrap();
        n >= 1 && at.get(n - 1).is_some_and(|t| t.elapsed() < ttl)
    }

    fn answer(&self, req: &Req) -> Response {
        self.requests
            .lock()
            .unwrap()
            .push(format!("{} {}?{}", req.method, req.path, req.query));
        if let Some(r) = (self.over)(req, self) {
            return r;
        }
        if req.path.ends_with("/oauth2/v2.0/token") {
            let mut at = self.issued_at.lock().unwrap();
            at.push(std::time::Instant::now());
            let n = at.len();
            self.tokens_issued.store(n, Ordering::SeqCst);
            drop(at);
            return axum::Json(json!({"token_type":"Bearer","expires_in":self.token_ttl,"access_token":self.token(n)}))
                .into_response();
        }
        let value = |v: Value| axum::Json(json!({ "value": v })).into_response();
        if req
            .path
            .starts_with("/api/data/v9.2/RetrieveCurrentOrganization(")
        {
            return axum::Json(json!({"Detail": {"OrganizationId": ORG, "FriendlyName": "ContosoUAT", "UniqueName": "org1"}}))
                .into_response();
        }
        if req.path.ends_with("/Attributes") {
            return value(
                json!([{"LogicalName": "msdyn_dualwriteruntimeconfigid", "AttributeType": "Uniqueidentifier"}]),
            );
        }
        match req.path.as_str() {
            "/data/$metadata" => status(200, "application/xml", METADATA),
            "/api/data/v9.2/EntityDefinitions" => {
                value(json!([{"LogicalName":"msdyn_dualwriteruntimeconfig",
                "EntitySetName":"msdyn_dualwriteruntimeconfigs","PrimaryIdAttribute":"msdyn_dualwriteruntimeconfigid"}]))
            }
            // Not integrated with F&O (powerapps-docs: error 0x80048d0b).
            "/api/data/v9.2/RetrieveFinanceAndOperationsIntegrationDetails" => (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": {"code": "0x80048d0b", "message": "not linked"}})),
            )
                .into_response(),
            // The management service answers bare arrays; an F&O environment it does not
            // know has no connection set.
            p if p.starts_with("/api/DualWriteManagement/1.0/") => {
                axum::Json(json!([])).into_response()
            }
            _ => value(json!([])),
        }
    }
}

pub(crate) async fn serve_fake(
    token_ttl: u64,
    over: impl Fn(&Req, &Fake) -> Option<Response> + Send + Sync + 'static,
) -> (String, Fake) {
    let fake = Fake {
        tokens_issued: Arc::default(),
        issued_at: Arc::default(),
        requests: Arc::default(),
        token_ttl,
        over: Arc::new(over),
    };
    let f = fake.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
        let f = f.clone();
        async move {
            let bearer = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_string);
            let req = Req {
                method,
                path: uri.path().to_string(),
                query: uri.query().unwrap_or("").to_string(),
                bearer,
            };
            f.answer(&req)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

pub(crate) fn status(code: u16, ct: &str, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .header("content-type", ct)
        .body(body.into())
        .unwrap()
}

/// A raw TCP server: token requests get a token; every other request gets `reply` verbatim
/// and the connection is closed (truncated bodies, broken framing).
pub(crate) async fn serve_raw(reply: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    let out = if text.contains("/oauth2/v2.0/token") {
                        let body =
                            format!(r#"{{"access_token":"{TOKEN_PREFIX}raw","expires_in":3600}}"#);
                        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    } else {
                        reply.to_string()
                    };
                    let _ = sock.write_all(out.as_bytes()).await;
                    let _ = sock.shutdown().await;
                    return;
                }
            });
        }
    });
    format!("http://{addr}")
}
