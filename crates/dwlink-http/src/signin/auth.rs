//! Bearer tokens per resource: client credentials (the config's app registration) for F&O and
//! Dataverse (and the emulator's management service), a signed-in user's token for the real
//! management service ([`crate::signin::device_code`]). Tokens are cached in memory and renewed before
//! they expire; a 401 drops the cached one (see `crate::signin::session`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use url::Url;
use uuid::Uuid;

use crate::signin::device_code::{self, DeviceCodeSettings};
use crate::transport::client::{join, Client};
use crate::transport::request::ApiRequest;
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::link::secret::{redact_url, Secret};

pub const LOGIN_BASE: &str = "https://login.microsoftonline.com/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    ClientCredentials,
    DeviceCode,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub access: Secret,
    pub refresh: Option<Secret>,
    pub expires_at: SystemTime,
    pub lifetime: Duration,
    /// How a user token was obtained, so its refresh is sent the same way; `None` for client
    /// credentials.
    pub via: Option<Via>,
}

/// Where a user token's refresh goes and in which shape, and whom it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The authority path segment: the tenant id (device code) or `common` (portal tokens).
    pub authority: String,
    /// Issued to the Data Integrator portal, a single-page app: refreshed cross-origin, with
    /// the portal's `Origin` and `redirect_uri` (`crate::signin::entra`).
    pub spa: bool,
    pub identity: crate::signin::entra::Identity,
}

impl Token {
    /// Renew a little before expiry so a token never dies mid-request: 5 minutes for real
    /// (hour-long) tokens, a fifth of the lifetime for short ones (the emulator's).
    pub fn fresh(&self, now: SystemTime) -> bool {
        let margin = (self.lifetime / 5).min(Duration::from_secs(300));
        now + margin < self.expires_at
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenReply {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    expires_in: Option<u64>,
    /// Returned with the `openid` scope; read only for who signed in.
    #[serde(default)]
    id_token: Option<String>,
}

impl TokenReply {
    pub(crate) fn into_token(self, now: SystemTime) -> Token {
        let lifetime = Duration::from_secs(self.expires_in.unwrap_or(3600).max(1));
        Token {
            access: Secret::held(self.access_token),
            refresh: self.refresh_token.map(Secret::held),
            expires_at: now + lifetime,
            lifetime,
            via: None,
        }
    }

    pub(crate) fn identity(&self) -> Option<crate::signin::entra::Identity> {
        self.id_token.as_deref().map(crate::signin::entra::identity)
    }
}

// Entra's v1 endpoint sent `expires_in` as a string; accept both rather than fail a sign-in.
fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    })
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub tenant_id: Uuid,
    pub client_id: Uuid,
    /// The public client users sign in to the management service with
    /// (`dual_write_service.client_id`, default the Dynamics Data Integration app).
    pub dual_write_client_id: Uuid,
    /// The name of the variable holding the client secret (never the secret).
    pub client_secret_env: String,
    pub device_code: DeviceCodeSettings,
}

type Slot = Arc<tokio::sync::Mutex<Option<Token>>>;

pub struct Auth {
    client: Client,
    settings: AuthSettings,
    slots: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Sign-ins shared by the plans of a fleet: environments signed in with one app registration
/// (and one management-service user) use one [`Auth`], so a token for a resource they share (the
/// management service, the admin API) is fetched once for the run, not once per environment.
#[derive(Debug, Clone, Default)]
pub struct SharedAuth(Arc<Mutex<HashMap<AuthKey, Arc<Auth>>>>);

/// Tenant, app registration, management-service app and the secret's variable: what makes two
/// environments sign in alike.
type AuthKey = (Uuid, Uuid, Uuid, String);

impl SharedAuth {
    /// The run's `Auth` for these settings, made with `client` the first time.
    pub(crate) fn get(&self, client: &Client, settings: AuthSettings) -> Arc<Auth> {
        let key = (
            settings.tenant_id,
            settings.client_id,
            settings.dual_write_client_id,
            settings.client_secret_env.clone(),
        );
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(key)
            .or_insert_with(|| Arc::new(Auth::new(client.clone(), settings)))
            .clone()
    }
}

impl Auth {
    pub fn new(client: Client, settings: AuthSettings) -> Self {
        Auth {
            client,
            settings,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, scope: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(scope.to_string()).or_default().clone()
    }

    pub fn token_url(&self) -> Result<Url, ProviderError> {
        let base = Url::parse(LOGIN_BASE).map_err(|e| ProviderError::Setup {
            message: format!("bad login URL: {e}"),
            help: "this is a bug in dwlink".into(),
        })?;
        join(
            &base,
            &format!("{}/oauth2/v2.0/token", self.settings.tenant_id),
        )
    }

    /// A valid access token for `scope`, from the cache when it is still fresh.
    pub async fn token(&self, scope: &str, grant: Grant) -> Result<Secret, ProviderError> {
        let slot = self.slot(scope);
        // One fetch per scope at a time: concurrent readers wait for it instead of each signing in.
        let mut guard = slot.lock().await;
        if let Some(t) = guard.as_ref().filter(|t| t.fresh(SystemTime::now())) {
            return Ok(t.access.clone());
        }
        let token = match grant {
            Grant::ClientCredentials => self.client_credentials(scope).await?,
            Grant::DeviceCode => {
                device_code::token(&self.client, &self.settings, scope, guard.take()).await?
            }
        };
        let access = token.access.clone();
        *guard = Some(token);
        Ok(access)
    }

    /// `dwlink login`: a new management-service sign-in, cached for later runs.
    pub async fn login(
        &self,
        with: device_code::LoginWith,
    ) -> Result<device_code::SignedIn, ProviderError> {
        let slot = self.slot(crate::signin::session::DUAL_WRITE_USER_SCOPE);
        let mut guard = slot.lock().await;
        let (token, signed_in) = device_code::login(
            &self.client,
            &self.settings,
            crate::signin::session::DUAL_WRITE_USER_SCOPE,
            with,
        )
        .await?;
        *guard = Some(token);
        Ok(signed_in)
    }

    /// The service refused `refused` (revoked, clock skew): forget it so the next call renews —
    /// unless a concurrent request already replaced it.
    pub async fn invalidate(&self, scope: &str, refused: &Secret) {
        let slot = self.slot(scope);
        let mut guard = slot.lock().await;
        if let Some(t) = guard.as_mut().filter(|t| &t.access == refused) {
            t.expires_at = SystemTime::UNIX_EPOCH;
        }
    }

    fn client_secret(&self) -> Result<Secret, ProviderError> {
        let name = &self.settings.client_secret_env;
        match std::env::var(name) {
            Ok(v) if !v.is_empty() => Ok(Secret::held(v)),
            _ => Err(ProviderError::Setup {
                message: format!(
                    "the environment variable {name} (named by auth.client_secret_env) is not set or empty"
                ),
                help: format!("export {name}=<the app registration's client secret> before running dwlink"),
            }),
        }
    }

    async fn client_credentials(&self, scope: &str) -> Result<Token, ProviderError> {
        let secret = self.client_secret()?;
        let url = self.token_url()?;
        let req = ApiRequest::post(Api::Login, url.clone())
            .form(vec![
                ("grant_type", Secret::new("client_credentials")),
                (
                    "client_id",
                    Secret::new(self.settings.client_id.to_string()),
                ),
                ("client_secret", secret),
                ("scope", Secret::new(scope)),
            ])
            // A token request has no side effect: retry it like a read.
            .idempotent(true);
        let reply = self
            .client
            .execute(&req, None)
            .await
            .map_err(|e| auth_error(e, &url, scope))?;
        Ok(reply.json::<TokenReply>()?.into_token(SystemTime::now()))
    }
}

/// A refused token request says which scope and why, in Entra's words, never with the form.
pub(crate) fn auth_error(e: ProviderError, url: &Url, scope: &str) -> ProviderError {
    match e {
        ProviderError::Status {
            status,
            code,
            message,
            ..
        } => ProviderError::Auth {
            api: Api::Login,
            url: redact_url(url),
            detail: format!(
                "token for {scope} refused (HTTP {status}{}): {message}",
                code.map(|c| format!(", {c}")).unwrap_or_default()
            ),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_renew_before_expiry() {
        let now = SystemTime::now();
        let t = |life: u64, left: u64| Token {
            access: Secret::new("a"),
            refresh: None,
            expires_at: now + Duration::from_secs(left),
            lifetime: Duration::from_secs(life),
            via: None,
        };
        assert!(t(3600, 3000).fresh(now));
        assert!(!t(3600, 200).fresh(now));
        assert!(t(10, 9).fresh(now));
        assert!(!t(10, 1).fresh(now));
    }

    #[test]
    fn token_reply_accepts_string_lifetimes() {
        let r: TokenReply =
            serde_json::from_str(r#"{"access_token":"x","expires_in":"60","token_type":"Bearer"}"#)
                .unwrap();
        assert_eq!(
            r.into_token(SystemTime::now()).lifetime,
            Duration::from_secs(60)
        );
    }
}
