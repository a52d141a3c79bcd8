//! The OAuth2 device-code flow for the dual-write management service, which only accepts a
//! signed-in user's token. Tokens live in a 0600 file so a user signs in once and later runs
//! (including `--input=false` ones) refresh silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use url::Url;

use super::auth::{auth_error, AuthSettings, Token, TokenReply};
use super::client::{join, Client};
use super::request::ApiRequest;
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::link::secret::Secret;

/// Shows the sign-in instruction (URL and code) to the user; the library itself never prints.
pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Clone, Default)]
pub struct DeviceCodeSettings {
    /// `false` with `--input=false` or without a terminal: never start a sign-in.
    pub interactive: bool,
    /// `None`: keep tokens in memory only (emulator runs must not touch the user's cache).
    pub cache_file: Option<PathBuf>,
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

pub async fn token(
    client: &Client,
    settings: &AuthSettings,
    token_url: &Url,
    scope: &str,
    previous: Option<Token>,
) -> Result<Token, ProviderError> {
    let dc = &settings.device_code;
    let key = format!("{}|{}|{}", settings.tenant_id, settings.client_id, scope);
    let cached = match previous {
        Some(t) => Some(t),
        None => match &dc.cache_file {
            Some(path) => load(path, &key)?,
            None => None,
        },
    };
    if let Some(t) = &cached {
        if t.fresh(SystemTime::now()) {
            return Ok(t.clone());
        }
    }
    if let Some(refresh) = cached.and_then(|t| t.refresh) {
        // A refused refresh token (expired, revoked) falls through to a new sign-in.
        if let Ok(t) = redeem(
            client,
            token_url,
            settings,
            "refresh_token",
            ("refresh_token", refresh),
        )
        .await
        {
            save(dc, &key, &t)?;
            return Ok(t);
        }
    }
    if !dc.interactive {
        return Err(ProviderError::SignInRequired {
            url: scope.to_string(),
        });
    }
    let t = sign_in(client, settings, token_url, scope).await?;
    save(dc, &key, &t)?;
    Ok(t)
}

async fn redeem(
    client: &Client,
    token_url: &Url,
    settings: &AuthSettings,
    grant: &'static str,
    field: (&'static str, Secret),
) -> Result<Token, ProviderError> {
    let grant_type = match grant {
        "refresh_token" => "refresh_token",
        _ => "urn:ietf:params:oauth:grant-type:device_code",
    };
    let req = ApiRequest::post(Api::Login, token_url.clone())
        .form(vec![
            ("grant_type", Secret::new(grant_type)),
            ("client_id", Secret::new(settings.client_id.to_string())),
            field,
        ])
        .idempotent(true);
    let reply = client.execute(&req, None).await?;
    Ok(reply.json::<TokenReply>()?.into_token(SystemTime::now()))
}

async fn sign_in(
    client: &Client,
    settings: &AuthSettings,
    token_url: &Url,
    scope: &str,
) -> Result<Token, ProviderError> {
    let url = join(token_url, "devicecode")?;
    let req = ApiRequest::post(Api::Login, url.clone())
        .form(vec![
            ("client_id", Secret::new(settings.client_id.to_string())),
            ("scope", Secret::new(format!("{scope} offline_access"))),
        ])
        .idempotent(true);
    let reply = client
        .execute(&req, None)
        .await
        .map_err(|e| auth_error(e, &url, scope))?;
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
    let device_code = Secret::new(code.device_code);
    loop {
        match redeem(
            client,
            token_url,
            settings,
            "device_code",
            ("device_code", device_code.clone()),
        )
        .await
        {
            Ok(t) => return Ok(t),
            Err(ProviderError::Status { code: Some(c), .. }) if c == "authorization_pending" => {}
            Err(ProviderError::Status { code: Some(c), .. }) if c == "slow_down" => {
                interval += Duration::from_secs(5);
            }
            Err(e) => return Err(auth_error(e, token_url, scope)),
        }
        if Instant::now() + interval > deadline {
            return Err(ProviderError::Auth {
                api: Api::Login,
                url: token_url.to_string(),
                detail: "the device code expired before the sign-in was completed".into(),
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

fn read_file(path: &Path) -> CacheFile {
    // A corrupt or foreign cache only costs a new sign-in; it must not stop the run.
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn load(path: &Path, key: &str) -> Result<Option<Token>, ProviderError> {
    let file = read_file(path);
    Ok(file.tokens.get(key).map(|c| Token {
        access: Secret::new(c.access_token.clone()),
        refresh: c.refresh_token.clone().map(Secret::new),
        expires_at: UNIX_EPOCH + Duration::from_secs(c.expires_at),
        lifetime: Duration::from_secs(c.lifetime.max(1)),
    }))
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
    dwlink_core::fsutil::write_atomic(path, bytes, dwlink_core::fsutil::Access::Private)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trips_with_private_mode() {
        let dir = std::env::temp_dir().join(format!("dwlink-tc-{}", uuid::Uuid::new_v4()));
        let path = dir.join("sub").join("tokens.json");
        let dc = DeviceCodeSettings {
            interactive: false,
            cache_file: Some(path.clone()),
            notify: None,
        };
        let t = Token {
            access: Secret::new("acc"),
            refresh: Some(Secret::new("ref")),
            expires_at: SystemTime::now() + Duration::from_secs(100),
            lifetime: Duration::from_secs(3600),
        };
        save(&dc, "k", &t).unwrap();
        let back = load(&path, "k").unwrap().unwrap();
        assert_eq!(back.refresh.unwrap().expose(), "ref");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
