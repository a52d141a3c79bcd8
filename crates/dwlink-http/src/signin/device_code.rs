//! A signed-in user's token for the dual-write management service, which takes no other: the
//! OAuth2 device-code flow, or a refresh token captured from the Data Integrator portal
//! (`dwlink login --refresh-token-stdin`). Tokens live in a 0600 file so a user signs in once
//! and later runs (including `--input=false` ones) refresh silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::signin::auth::{AuthSettings, Token, TokenReply, Via, LOGIN_BASE};
use crate::signin::entra::{self, Identity, Refusal, Step};
use crate::transport::client::{join, Client};
use crate::transport::request::ApiRequest;
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::link::secret::Secret;

/// Shows the sign-in instruction (URL and code) to the user; the library itself never prints.
pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Clone, Default)]
pub struct DeviceCodeSettings {
    /// `false` with `--input=false` or without a terminal: never start a sign-in.
    pub interactive: bool,
    /// `None`: keep tokens in memory only.
    pub cache_file: Option<PathBuf>,
    /// Prefixes the cache keys, so the tokens of different emulators (which live as long as
    /// their emulator) never meet each other or the real service's.
    pub cache_namespace: Option<String>,
    pub notify: Option<Notify>,
}

impl std::fmt::Debug for DeviceCodeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodeSettings")
            .field("interactive", &self.interactive)
            .field("cache_file", &self.cache_file)
            .finish_non_exhaustive()
    }
}

/// `$XDG_CACHE_HOME/dwlink/tokens.json`, else `~/.cache/dwlink/tokens.json`
/// (`%LOCALAPPDATA%\dwlink\tokens.json` on Windows).
pub fn default_cache_file() -> Option<PathBuf> {
    let from = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = from("XDG_CACHE_HOME")
        .or_else(|| from("LOCALAPPDATA"))
        .or_else(|| from("HOME").map(|h| h.join(".cache")))?;
    Some(base.join("dwlink").join("tokens.json"))
}

#[derive(Serialize, Deserialize, Default)]
struct CacheFile {
    tokens: BTreeMap<String, CachedToken>,
}

#[derive(Serialize, Deserialize)]
struct CachedToken {
    access_token: String,
    refresh_token: Option<String>,
    expires_at: u64,
    lifetime: u64,
    // Entries written before `dwlink login` lack these: device-code tokens of the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authority: Option<String>,
    #[serde(default)]
    spa: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
}

#[derive(Deserialize)]
struct DeviceCodeReply {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    interval: Option<u64>,
    #[serde(default)]
    message: Option<String>,
}

/// How `dwlink login` signs in.
pub enum LoginWith {
    /// The OAuth2 device-code flow with the management-service client.
    DeviceCode,
    /// A refresh token captured from the Data Integrator portal, redeemed as the portal does.
    PortalRefreshToken(Secret),
}

/// What `dwlink login` tells the user: never a token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: Option<String>,
    pub tenant: Option<String>,
    pub expires_at: SystemTime,
    /// A portal (single-page app) token: its refresh token ends 24 hours after the portal
    /// sign-in, however often it is refreshed (learn.microsoft.com refresh-tokens).
    pub spa: bool,
    pub cached_in: Option<PathBuf>,
}

fn cache_key(settings: &AuthSettings, scope: &str) -> String {
    let key = format!(
        "{}|{}|{}",
        settings.tenant_id, settings.dual_write_client_id, scope
    );
    match &settings.device_code.cache_namespace {
        Some(ns) => format!("{ns}|{key}"),
        None => key,
    }
}

/// Where `--emulator-url` runs keep their sign-ins: beside the real cache, never in it.
pub fn emulator_cache_file() -> Option<PathBuf> {
    default_cache_file().map(|f| f.with_file_name("emulator-tokens.json"))
}

fn token_url(authority: &str) -> Result<Url, ProviderError> {
    let base = Url::parse(LOGIN_BASE).map_err(|e| ProviderError::Setup {
        message: format!("bad login URL: {e}"),
        help: "this is a bug in dwlink".into(),
    })?;
    join(&base, &format!("{authority}/oauth2/v2.0/token"))
}

/// A user token for the management service: the cached one while fresh, else refreshed, else
/// (only when dwlink may prompt) a new device-code sign-in.
pub async fn token(
    client: &Client,
    settings: &AuthSettings,
    scope: &str,
    previous: Option<Token>,
) -> Result<Token, ProviderError> {
    let dc = &settings.device_code;
    let key = cache_key(settings, scope);
    let cached = match previous {
        Some(t) => Some(t),
        None => match &dc.cache_file {
            Some(path) => load(path, &key, settings),
            None => None,
        },
    };
    if let Some(t) = &cached {
        if t.fresh(SystemTime::now()) {
            return Ok(t.clone());
        }
    }
    let mut why = None;
    if let Some(t) = cached {
        if let (Some(refresh), Some(via)) = (t.refresh.clone(), t.via.clone()) {
            match redeem_refresh(client, settings, &via, refresh).await {
                Ok(t) => {
                    save(dc, &key, &t)?;
                    return Ok(t);
                }
                // Refused (expired, revoked): a new sign-in replaces it. A network failure is
                // not a reason to prompt.
                Err(e) => match Refusal::of(&e) {
                    Some(r) => {
                        if !dc.interactive {
                            return Err(SignInRequiredAfter(r, e).into());
                        }
                        why = Some(r.short());
                    }
                    None => return Err(e),
                },
            }
        }
    }
    if !dc.interactive {
        return Err(ProviderError::SignInRequired {
            url: "the dual-write management service".into(),
            reason: why.or_else(|| Some("no cached sign-in".into())),
        });
    }
    let t = sign_in(client, settings).await?;
    save(dc, &key, &t)?;
    Ok(t)
}

/// A refused silent refresh without a prompt to fall back on: the refusal's own advice when it
/// has one (MFA, consent, Conditional Access), else "run `dwlink login`".
struct SignInRequiredAfter(Refusal, ProviderError);

impl From<SignInRequiredAfter> for ProviderError {
    fn from(SignInRequiredAfter(r, e): SignInRequiredAfter) -> Self {
        match entra::explain(e, Step::CachedRefreshToken) {
            refused @ ProviderError::SignInRefused { code, .. }
                if code != "dwlink::auth::refused" && code != "dwlink::auth::invalid_grant" =>
            {
                refused
            }
            _ => ProviderError::SignInRequired {
                url: "the dual-write management service".into(),
                reason: Some(format!(
                    "the cached sign-in could not be refreshed: {}",
                    r.short()
                )),
            },
        }
    }
}

/// `dwlink login`.
pub async fn login(
    client: &Client,
    settings: &AuthSettings,
    scope: &str,
    with: LoginWith,
) -> Result<(Token, SignedIn), ProviderError> {
    let t = match with {
        LoginWith::DeviceCode => sign_in(client, settings).await?,
        LoginWith::PortalRefreshToken(refresh) => {
            let via = Via {
                authority: entra::PORTAL_AUTHORITY.into(),
                spa: true,
                identity: Identity::default(),
            };
            redeem_refresh(client, settings, &via, refresh)
                .await
                .map_err(|e| entra::explain(e, Step::GivenRefreshToken))?
        }
    };
    let dc = &settings.device_code;
    save(dc, &cache_key(settings, scope), &t)?;
    let via = t.via.clone().unwrap_or_else(|| Via {
        authority: settings.tenant_id.to_string(),
        spa: false,
        identity: Identity::default(),
    });
    let signed_in = SignedIn {
        user: via.identity.user,
        tenant: via.identity.tenant,
        expires_at: t.expires_at,
        spa: via.spa,
        cached_in: dc.cache_file.clone(),
    };
    Ok((t, signed_in))
}

/// `grant_type=refresh_token`; for a portal token in the portal's shape (`entra`: DWA
/// TokenRefresh.cs sends `scope`, `redirect_uri` and an `Origin` header).
async fn redeem_refresh(
    client: &Client,
    settings: &AuthSettings,
    via: &Via,
    refresh: Secret,
) -> Result<Token, ProviderError> {
    let url = token_url(&via.authority)?;
    let mut form = vec![
        (
            "client_id",
            Secret::new(settings.dual_write_client_id.to_string()),
        ),
        ("scope", Secret::new(entra::DWS_SCOPE)),
        ("grant_type", Secret::new("refresh_token")),
        ("refresh_token", refresh.clone()),
    ];
    let mut req = ApiRequest::post(Api::Login, url);
    if via.spa {
        form.insert(2, ("redirect_uri", Secret::new(entra::PORTAL_REDIRECT_URI)));
        req = req.header("Origin", entra::PORTAL_ORIGIN);
    }
    let req = req.form(form).idempotent(true);
    let reply = client.execute(&req, None).await?;
    let r: TokenReply = reply.json()?;
    let identity = r.identity();
    let mut t = r.into_token(SystemTime::now());
    // Entra rotates refresh tokens but an answer without one leaves the old one good.
    if t.refresh.is_none() {
        t.refresh = Some(refresh);
    }
    t.via = Some(Via {
        identity: identity.unwrap_or_else(|| via.identity.clone()),
        ..via.clone()
    });
    Ok(t)
}

async fn sign_in(client: &Client, settings: &AuthSettings) -> Result<Token, ProviderError> {
    // The tenant of the config, not `common`: a guest signs in to the tenant of the F&O
    // environment instead of their home tenant.
    let authority = settings.tenant_id.to_string();
    let token_url = token_url(&authority)?;
    let url = join(&token_url, "devicecode")?;
    let client_id = settings.dual_write_client_id.to_string();
    let req = ApiRequest::post(Api::Login, url.clone())
        .form(vec![
            ("client_id", Secret::new(client_id.clone())),
            ("scope", Secret::new(entra::DWS_SCOPE)),
        ])
        .idempotent(true);
    let reply = client
        .execute(&req, None)
        .await
        .map_err(|e| entra::explain(e, Step::DeviceCode))?;
    let code: DeviceCodeReply = reply.json()?;
    let message = code.message.clone().unwrap_or_else(|| {
        format!(
            "To sign in, open {} and enter the code {}",
            code.verification_uri, code.user_code
        )
    });
    if let Some(notify) = &settings.device_code.notify {
        notify(&message);
    }
    let deadline = Instant::now() + Duration::from_secs(code.expires_in.unwrap_or(900).min(3600));
    let mut interval = Duration::from_secs(code.interval.unwrap_or(5).clamp(1, 60));
    let device_code = Secret::held(code.device_code);
    loop {
        let req = ApiRequest::post(Api::Login, token_url.clone())
            .form(vec![
                (
                    "grant_type",
                    Secret::new("urn:ietf:params:oauth:grant-type:device_code"),
                ),
                ("client_id", Secret::new(client_id.clone())),
                ("device_code", device_code.clone()),
            ])
            .idempotent(true);
        match client.execute(&req, None).await {
            Ok(reply) => {
                let r: TokenReply = reply.json()?;
                let identity = r.identity().unwrap_or_default();
                let mut t = r.into_token(SystemTime::now());
                t.via = Some(Via {
                    authority,
                    spa: false,
                    identity,
                });
                return Ok(t);
            }
            Err(e) => match Refusal::of(&e) {
                Some(r) if r.is("authorization_pending") => {}
                Some(r) if r.is("slow_down") => interval += Duration::from_secs(5),
                _ => return Err(entra::explain(e, Step::DeviceCode)),
            },
        }
        if Instant::now() + interval > deadline {
            return Err(ProviderError::SignInRefused {
                code: "dwlink::auth::device_code_expired",
                what: "the device-code sign-in to the dual-write management service".into(),
                detail: "the code expired before the sign-in was completed".into(),
                help: "run `dwlink login` again and finish in the browser within the time it shows"
                    .into(),
            });
        }
        tokio::time::sleep(interval).await;
    }
}

fn cache_error(path: &Path, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::TokenCache {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// The largest token cache read: a few kilobytes per signed-in tenant and client; a larger file
/// is not one dwlink wrote and costs a new sign-in like a corrupt one.
pub const MAX_CACHE_BYTES: u64 = 1024 * 1024;

fn read_file(path: &Path) -> CacheFile {
    // A corrupt or foreign cache only costs a new sign-in; it must not stop the run.
    dwlink_core::fsutil::read_capped(path, MAX_CACHE_BYTES)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn load(path: &Path, key: &str, settings: &AuthSettings) -> Option<Token> {
    let file = read_file(path);
    file.tokens.get(key).map(|c| Token {
        access: Secret::held(c.access_token.clone()),
        refresh: c.refresh_token.clone().map(Secret::held),
        expires_at: UNIX_EPOCH + Duration::from_secs(c.expires_at),
        lifetime: Duration::from_secs(c.lifetime.max(1)),
        via: Some(Via {
            authority: c
                .authority
                .clone()
                .unwrap_or_else(|| settings.tenant_id.to_string()),
            spa: c.spa,
            identity: Identity {
                user: c.user.clone(),
                tenant: c.tenant.clone(),
            },
        }),
    })
}

fn save(dc: &DeviceCodeSettings, key: &str, t: &Token) -> Result<(), ProviderError> {
    let Some(path) = &dc.cache_file else {
        return Ok(());
    };
    let mut file = read_file(path);
    file.tokens.insert(
        key.to_string(),
        CachedToken {
            access_token: t.access.expose().to_string(),
            refresh_token: t.refresh.as_ref().map(|r| r.expose().to_string()),
            expires_at: t
                .expires_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            lifetime: t.lifetime.as_secs(),
            authority: t.via.as_ref().map(|v| v.authority.clone()),
            spa: t.via.as_ref().is_some_and(|v| v.spa),
            user: t.via.as_ref().and_then(|v| v.identity.user.clone()),
            tenant: t.via.as_ref().and_then(|v| v.identity.tenant.clone()),
        },
    );
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| cache_error(path, e))?;
    write_private(path, &bytes).map_err(|e| cache_error(path, e))
}

/// Created 0600 (from the first byte: the temporary file is made with that mode) in a 0700
/// directory, so the tokens are never readable by others, not even for an instant.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = dwlink_core::fsutil::parent_dir(path);
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    // The mode above is masked by the umask and ignored for a directory that already exists:
    // the cache's own directory is made 0700 whatever it was.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    dwlink_core::fsutil::write_atomic(path, bytes, dwlink_core::fsutil::Access::Private)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache over its limit is never read whole: it counts as no cache (a new sign-in).
    #[test]
    fn an_oversized_cache_is_not_read() {
        let dir = std::env::temp_dir().join(format!("dwlink-tc-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.json");
        let mut text = String::from("{\"tokens\":{\"k\":{\"access_token\":\"");
        text.push_str(&"a".repeat(MAX_CACHE_BYTES as usize));
        text.push_str("\",\"refresh_token\":null,\"expires_at\":1,\"lifetime\":1}}}");
        std::fs::write(&path, &text).unwrap();
        assert!(read_file(&path).tokens.is_empty());
        std::fs::write(
            &path,
            text.replace(&"a".repeat(MAX_CACHE_BYTES as usize), "a"),
        )
        .unwrap();
        assert_eq!(read_file(&path).tokens.len(), 1, "a small one is read");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn cache_round_trips_with_private_mode() {
        let dir = std::env::temp_dir().join(format!("dwlink-tc-{}", uuid::Uuid::new_v4()));
        let path = dir.join("sub").join("tokens.json");
        let dc = DeviceCodeSettings {
            interactive: false,
            cache_file: Some(path.clone()),
            cache_namespace: None,
            notify: None,
        };
        let t = Token {
            access: Secret::new("acc"),
            refresh: Some(Secret::new("ref")),
            expires_at: SystemTime::now() + Duration::from_secs(100),
            lifetime: Duration::from_secs(3600),
            via: Some(Via {
                authority: "common".into(),
                spa: true,
                identity: Identity {
                    user: Some("ada@contoso.com".into()),
                    tenant: None,
                },
            }),
        };
        save(&dc, "k", &t).unwrap();
        let settings = AuthSettings {
            tenant_id: uuid::Uuid::nil(),
            client_id: uuid::Uuid::nil(),
            dual_write_client_id: uuid::Uuid::nil(),
            client_secret_env: "X".into(),
            device_code: dc.clone(),
        };
        let back = load(&path, "k", &settings).unwrap();
        assert_eq!(back.refresh.unwrap().expose(), "ref");
        assert_eq!(back.via, t.via);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
