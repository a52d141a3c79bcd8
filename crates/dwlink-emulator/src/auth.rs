//! Entra ID stand-in: client credentials, device code (approved at once) and refresh tokens.
//! Tokens are random and live in memory; secrets are compared, never logged or echoed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use super::odata::error::Reply;
use dwlink_core::fixture::ClientFixture;

#[derive(Debug, Clone)]
struct Issued {
    client_id: String,
    expires: Instant,
}

#[derive(Default)]
pub(crate) struct Auth {
    access: Mutex<HashMap<String, Issued>>,
    refresh: Mutex<HashMap<String, String>>,
    device: Mutex<HashMap<String, String>>,
}

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

impl Auth {
    /// The client id of a valid bearer token, or the 401 to answer.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<String, Reply> {
        let unauthorized = |msg: &str| {
            Reply::error(StatusCode::UNAUTHORIZED, "Unauthorized", msg)
                .header("WWW-Authenticate", "Bearer error=\"invalid_token\"")
        };
        let value = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthorized("a bearer token is required"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        let map = self.access.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(token.trim()) {
            Some(i) if i.expires > Instant::now() => Ok(i.client_id.clone()),
            Some(_) => Err(unauthorized("the access token has expired")),
            None => Err(unauthorized("the access token is not valid")),
        }
    }

    fn issue(&self, client_id: &str, ttl: u64, with_refresh: bool) -> Reply {
        let token = random_token();
        self.access
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                token.clone(),
                Issued {
                    client_id: client_id.to_string(),
                    expires: Instant::now() + Duration::from_secs(ttl),
                },
            );
        let mut body = json!({"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl, "access_token": token});
        if with_refresh {
            let r = random_token();
            self.refresh
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(r.clone(), client_id.to_string());
            body["refresh_token"] = json!(r);
        }
        Reply::ok(body).header("Cache-Control", "no-store")
    }

    /// `POST /{tenant}/oauth2/v2.0/token`.
    pub(crate) fn token(
        &self,
        tenant: &str,
        form: &[u8],
        clients: &[ClientFixture],
        ttl: u64,
    ) -> Reply {
        let f: HashMap<String, String> = url::form_urlencoded::parse(form).into_owned().collect();
        let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
        let client_id = get("client_id");
        if client_id.is_empty() {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "client_id is required",
            );
        }
        match get("grant_type") {
            "client_credentials" => {
                let ok = clients.iter().any(|c| {
                    c.client_id.eq_ignore_ascii_case(client_id)
                        && c.secret == get("client_secret")
                        && (c.tenant_id.eq_ignore_ascii_case(tenant)
                            || matches!(tenant, "common" | "organizations"))
                });
                if ok {
                    self.issue(client_id, ttl, false)
                } else {
                    oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        "AADSTS7000215: Invalid client secret provided, or unknown client for this tenant.",
                    )
                }
            }
            "urn:ietf:params:oauth:grant-type:device_code" => {
                let code = get("device_code");
                let owner = self
                    .device
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(code);
                match owner {
                    Some(c) if c == client_id => self.issue(client_id, ttl, true),
                    _ => oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "AADSTS70000: the device code is not valid",
                    ),
                }
            }
            "refresh_token" => {
                let r = get("refresh_token");
                let owner = self
                    .refresh
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(r);
                match owner {
                    Some(c) if c == client_id => self.issue(client_id, ttl, true),
                    _ => oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "AADSTS70000: the refresh token is not valid",
                    ),
                }
            }
            other => oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant_type `{other}` is not supported"),
            ),
        }
    }

    /// `POST /{tenant}/oauth2/v2.0/devicecode`: the code is approved before anyone looks.
    pub(crate) fn device_code(&self, form: &[u8]) -> Reply {
        let f: HashMap<String, String> = url::form_urlencoded::parse(form).into_owned().collect();
        let Some(client_id) = f.get("client_id").filter(|c| !c.is_empty()) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "client_id is required",
            );
        };
        let code = random_token();
        let user_code: String = code
            .chars()
            .take(8)
            .collect::<String>()
            .to_ascii_uppercase();
        self.device
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(code.clone(), client_id.clone());
        Reply::ok(json!({
            "device_code": code,
            "user_code": user_code,
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900,
            "interval": 1,
            "message": format!("To sign in, use a web browser to open https://microsoft.com/devicelogin and enter the code {user_code} (the emulator has already approved it)."),
        }))
    }
}
