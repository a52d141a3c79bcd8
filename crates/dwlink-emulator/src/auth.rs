//! Entra ID stand-in: client credentials, device code (approved at once) and refresh tokens.
//! Tokens are random and live in memory; secrets are compared, never logged or echoed.
//!
//! Every access token has an audience (the resource of the `scope` it was asked for), so the
//! management service takes only `https://IntegratorApp.com` tokens and F&O and Dataverse refuse
//! them. The user sign-in follows what is public about Entra (docs/http-contract.md):
//! - the Dynamics Data Integration app (`2e49aa60-…`) is a public client: no secret;
//! - refresh tokens of the Data Integrator portal are single-page-app tokens: redeemed only with
//!   an `Origin` header (AADSTS9002327 otherwise) and the portal's `redirect_uri`, and they end
//!   24 hours after the first one was issued, however often they are redeemed (AADSTS700084)
//!   — learn.microsoft.com/entra/identity-platform/refresh-tokens;
//! - a non-SPA refresh token sent cross-origin is refused (AADSTS9002326);
//! - the error body is `{error, error_description, error_codes, timestamp, trace_id,
//!   correlation_id}` with the description starting `AADSTSnnnn:` (reference-error-codes).
//!
//! Which redirect URI Entra checks for the portal's tokens, and whether it compares the Origin's
//! value, is not public: the emulator requires the portal's redirect URI and any Origin.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use super::odata::error::Reply;
use dwlink_core::fixture::{ClientFixture, SignInFixture};

/// The first-party Dynamics Data Integration app (MicrosoftDocs/power-platform
/// `power-platform/admin/apps-to-allow.md`; DWA `DWLibary/TokenRefresh.cs`).
pub(crate) const DATA_INTEGRATION_CLIENT_ID: &str = "2e49aa60-1bd3-43b6-8ab6-03ada3d9f08b";
/// The management service's resource (DWA TokenRefresh.cs scope).
pub(crate) const DWS_AUDIENCE: &str = "https://IntegratorApp.com";
const PORTAL_REDIRECT_URI: &str = "https://dataintegrator.trafficmanager.net/dualWrite";
const DEFAULT_USER: &str = "emulated.user@contoso.example";
const DEFAULT_TENANT: &str = "72f988bf-0000-0000-0000-000000000000";
const SPA_REFRESH_TTL: u64 = 24 * 3600;
const REFRESH_TTL: u64 = 90 * 24 * 3600;

/// Who a valid bearer token was issued to, and for which resource.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub client_id: String,
    pub audience: String,
}

#[derive(Debug, Clone)]
struct Issued {
    caller: Caller,
    expires: Instant,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    client_id: String,
    audience: String,
    /// Issued to a single-page app: cross-origin only, fixed lifetime.
    spa: bool,
    expires: Instant,
}

#[derive(Debug, Clone)]
struct DeviceGrant {
    client_id: String,
    scope: String,
}

pub(crate) struct Auth {
    access: Mutex<HashMap<String, Issued>>,
    refresh: Mutex<HashMap<String, RefreshGrant>>,
    device: Mutex<HashMap<String, DeviceGrant>>,
    user: String,
    tenant: String,
    spa_refresh_ttl: Duration,
    refresh_ttl: Duration,
    refuse_device_code: bool,
}

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Entra's error body: the AADSTS code leads the description and is repeated in `error_codes`.
fn oauth_error(status: StatusCode, error: &str, aadsts: u32, description: &str) -> Reply {
    let trace = uuid::Uuid::new_v4();
    Reply::json(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{aadsts}: {description} Trace ID: {trace} Correlation ID: {trace} Timestamp: emulated"),
            "error_codes": [aadsts],
            "trace_id": trace.to_string(),
            "correlation_id": trace.to_string(),
        }),
    )
}

/// The resource of a v2 scope list: the one `…/.default` item (`openid`, `profile` and
/// `offline_access` name no resource).
fn audience_of(scope: &str) -> Option<String> {
    scope
        .split_whitespace()
        .find_map(|s| s.strip_suffix("/.default"))
        .filter(|a| !a.is_empty())
        .map(str::to_string)
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

impl Auth {
    pub(crate) fn new(sign_in: Option<&SignInFixture>, clients: &[ClientFixture]) -> Auth {
        let s = sign_in.cloned().unwrap_or_default();
        let auth = Auth {
            access: Mutex::default(),
            refresh: Mutex::default(),
            device: Mutex::default(),
            user: s.user.clone().unwrap_or_else(|| DEFAULT_USER.into()),
            tenant: s
                .tenant_id
                .clone()
                .or_else(|| clients.first().map(|c| c.tenant_id.clone()))
                .unwrap_or_else(|| DEFAULT_TENANT.into()),
            spa_refresh_ttl: Duration::from_secs(s.spa_refresh_ttl_secs.unwrap_or(SPA_REFRESH_TTL)),
            refresh_ttl: Duration::from_secs(s.refresh_ttl_secs.unwrap_or(REFRESH_TTL)),
            refuse_device_code: s.refuse_device_code,
        };
        if let Some(t) = s.portal_refresh_token.filter(|t| !t.is_empty()) {
            auth.lock_refresh().insert(
                t,
                RefreshGrant {
                    client_id: DATA_INTEGRATION_CLIENT_ID.into(),
                    audience: DWS_AUDIENCE.into(),
                    spa: true,
                    expires: Instant::now() + auth.spa_refresh_ttl,
                },
            );
        }
        auth
    }

    fn lock_refresh(&self) -> std::sync::MutexGuard<'_, HashMap<String, RefreshGrant>> {
        self.refresh.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Who a valid bearer token belongs to, or the 401 to answer.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<Caller, Reply> {
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
            Some(i) if i.expires > Instant::now() => Ok(i.caller.clone()),
            Some(_) => Err(unauthorized("the access token has expired")),
            None => Err(unauthorized("the access token is not valid")),
        }
    }

    fn issue(
        &self,
        caller: Caller,
        ttl: u64,
        refresh: Option<(bool, Instant)>,
        openid: bool,
    ) -> Reply {
        let token = random_token();
        self.access
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                token.clone(),
                Issued {
                    caller: caller.clone(),
                    expires: Instant::now() + Duration::from_secs(ttl),
                },
            );
        let mut body = json!({"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl, "access_token": token});
        if let Some((spa, expires)) = refresh {
            let r = random_token();
            self.lock_refresh().insert(
                r.clone(),
                RefreshGrant {
                    client_id: caller.client_id.clone(),
                    audience: caller.audience.clone(),
                    spa,
                    expires,
                },
            );
            body["refresh_token"] = json!(r);
        }
        if openid {
            body["id_token"] = json!(self.id_token(&caller.client_id));
        }
        Reply::ok(body).header("Cache-Control", "no-store")
    }

    /// Unsigned (`alg: none`): the emulator's id tokens only tell the client who signed in.
    fn id_token(&self, client_id: &str) -> String {
        let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = json!({
            "aud": client_id,
            "iss": format!("https://login.microsoftonline.com/{}/v2.0", self.tenant),
            "tid": self.tenant,
            "preferred_username": self.user,
            "name": self.user,
            "ver": "2.0",
        });
        format!("{header}.{}.", b64url(claims.to_string().as_bytes()))
    }

    /// `POST /{tenant}/oauth2/v2.0/token`.
    pub(crate) fn token(
        &self,
        tenant: &str,
        headers: &HeaderMap,
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
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            );
        }
        let openid = get("scope").split_whitespace().any(|s| s == "openid");
        match get("grant_type") {
            "client_credentials" => {
                let ok = clients.iter().any(|c| {
                    c.client_id.eq_ignore_ascii_case(client_id)
                        && c.secret == get("client_secret")
                        && (c.tenant_id.eq_ignore_ascii_case(tenant)
                            || matches!(tenant, "common" | "organizations"))
                });
                if !ok {
                    return oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        7000215,
                        "Invalid client secret provided, or unknown client for this tenant.",
                    );
                }
                // Kept lenient for clients written before audiences (they sent no scope).
                let audience = audience_of(get("scope")).unwrap_or_default();
                self.issue(
                    Caller {
                        client_id: client_id.into(),
                        audience,
                    },
                    ttl,
                    None,
                    false,
                )
            }
            "urn:ietf:params:oauth:grant-type:device_code" => {
                let grant = self
                    .device
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(get("device_code"));
                match grant {
                    Some(g) if g.client_id.eq_ignore_ascii_case(client_id) => {
                        let openid = g.scope.split_whitespace().any(|s| s == "openid");
                        let refresh = g
                            .scope
                            .split_whitespace()
                            .any(|s| s == "offline_access")
                            .then(|| (false, Instant::now() + self.refresh_ttl));
                        self.issue(
                            Caller {
                                client_id: g.client_id,
                                audience: audience_of(&g.scope).unwrap_or_default(),
                            },
                            ttl,
                            refresh,
                            openid,
                        )
                    }
                    _ => oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        70000,
                        "The provided value for the input parameter 'device_code' is not valid.",
                    ),
                }
            }
            "refresh_token" => self.refresh(headers, &f, ttl, openid),
            other => oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            ),
        }
    }

    fn refresh(
        &self,
        headers: &HeaderMap,
        f: &HashMap<String, String>,
        ttl: u64,
        openid: bool,
    ) -> Reply {
        let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
        let origin = headers
            .get("origin")
            .and_then(|v| v.to_str().ok())
            .filter(|o| !o.is_empty());
        let mut map = self.lock_refresh();
        let Some(grant) = map.get(get("refresh_token")).cloned() else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid.",
            );
        };
        if !grant.client_id.eq_ignore_ascii_case(get("client_id")) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed: the refresh token was issued to another client.",
            );
        }
        if grant.spa && origin.is_none() {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                9002327,
                "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.",
            );
        }
        if grant.spa && get("redirect_uri") != PORTAL_REDIRECT_URI {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50011,
                "The redirect URI specified in the request does not match the redirect URIs configured for the application.",
            );
        }
        if !grant.spa && origin.is_some() {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                9002326,
                "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type.",
            );
        }
        if grant.expires <= Instant::now() {
            map.remove(get("refresh_token"));
            return if grant.spa {
                oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    700084,
                    "The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime, which cannot be extended. It is now expired and a new sign in request must be sent by the SPA to the sign in page.",
                )
            } else {
                oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    700082,
                    "The refresh token has expired due to inactivity.",
                )
            };
        }
        // Entra does not revoke a redeemed refresh token (refresh-tokens), so it stays valid.
        drop(map);
        // A SPA refresh token carries the first one's expiry; others start a new lifetime.
        let expires = if grant.spa {
            grant.expires
        } else {
            Instant::now() + self.refresh_ttl
        };
        let audience = audience_of(get("scope")).unwrap_or(grant.audience);
        self.issue(
            Caller {
                client_id: grant.client_id,
                audience,
            },
            ttl,
            Some((grant.spa, expires)),
            openid,
        )
    }

    /// `POST /{tenant}/oauth2/v2.0/devicecode`: the code is approved before anyone looks.
    pub(crate) fn device_code(&self, form: &[u8], clients: &[ClientFixture]) -> Reply {
        let f: HashMap<String, String> = url::form_urlencoded::parse(form).into_owned().collect();
        let Some(client_id) = f.get("client_id").filter(|c| !c.is_empty()) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            );
        };
        let data_integration = client_id.eq_ignore_ascii_case(DATA_INTEGRATION_CLIENT_ID);
        if !data_integration
            && !clients
                .iter()
                .any(|c| c.client_id.eq_ignore_ascii_case(client_id))
        {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700016,
                &format!(
                    "Application with identifier '{client_id}' was not found in the directory."
                ),
            );
        }
        if data_integration && self.refuse_device_code {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        }
        let scope = f.get("scope").cloned().unwrap_or_default();
        if audience_of(&scope).is_none() {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                70011,
                "The provided value for the input parameter 'scope' is not valid.",
            );
        }
        let code = random_token();
        let user_code: String = code
            .chars()
            .take(8)
            .collect::<String>()
            .to_ascii_uppercase();
        self.device
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                code.clone(),
                DeviceGrant {
                    client_id: client_id.clone(),
                    scope,
                },
            );
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

fn unauthorized(msg: &str) -> Reply {
    Reply::error(StatusCode::UNAUTHORIZED, "Unauthorized", msg)
        .header("WWW-Authenticate", "Bearer error=\"invalid_token\"")
}

/// The management service takes only tokens for its resource; F&O and Dataverse refuse those
/// (a user's management-service token is not valid elsewhere).
pub(crate) fn require_dws_audience(caller: &Caller) -> Result<(), Reply> {
    if caller.audience.eq_ignore_ascii_case(DWS_AUDIENCE) {
        Ok(())
    } else {
        Err(wrong_audience(&caller.audience, DWS_AUDIENCE))
    }
}

pub(crate) fn refuse_dws_audience(caller: &Caller) -> Result<(), Reply> {
    if caller.audience.eq_ignore_ascii_case(DWS_AUDIENCE) {
        Err(wrong_audience(&caller.audience, "this service"))
    } else {
        Ok(())
    }
}

fn wrong_audience(got: &str, want: &str) -> Reply {
    Reply::error(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        format!("the token's audience `{got}` is not valid for this service (expected {want})"),
    )
    .header(
        "WWW-Authenticate",
        "Bearer error=\"invalid_token\", error_description=\"The audience is invalid\"",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_has_no_padding() {
        assert_eq!(b64url(b"{}"), "e30");
        assert_eq!(b64url(b"abc"), "YWJj");
        assert_eq!(b64url(b"ab"), "YWI");
    }

    #[test]
    fn audience_is_the_default_scope_resource() {
        assert_eq!(
            audience_of("https://IntegratorApp.com/.default openid profile offline_access")
                .as_deref(),
            Some("https://IntegratorApp.com")
        );
        assert_eq!(audience_of("openid offline_access"), None);
    }
}
