//! A request with the right bearer token: picks the grant and scope per service, and renews the
//! token once when the service says it is no longer good.

use std::sync::Arc;

use url::Url;

use crate::signin::auth::{Auth, Grant};
use crate::transport::client::Client;
use crate::transport::reply::Reply;
use crate::transport::request::ApiRequest;
use dwlink_core::link::error::{Api, ProviderError};

/// The management service's resource; also the key of its token in the caches.
pub(crate) const DUAL_WRITE_USER_SCOPE: &str = crate::signin::entra::DWS_RESOURCE_SCOPE;
/// The Power Platform admin API's resource (TFPP `internal/api/client.go`: the BAP token's
/// resource). Sign-in owns every scope, so the services depend on it and not the reverse.
pub(crate) const ADMIN_SCOPE: &str = "https://service.powerapps.com/.default";

/// Cheap to clone (shared client, limiter and token cache): a page fetched ahead runs as its
/// own task with its own handle.
#[derive(Debug, Clone)]
pub struct Session {
    pub client: Client,
    pub auth: Arc<Auth>,
    pub dual_write_grant: Grant,
}

/// The scope a request to `url` of `api` is sent with a token for.
pub(crate) fn scope_of(api: Api, url: &Url) -> String {
    match api {
        // Both grants ask for the IntegratorApp resource: the service takes tokens for that
        // audience only (the emulator checks it), not for the gateway's host name.
        Api::DualWrite => DUAL_WRITE_USER_SCOPE.to_string(),
        Api::PowerPlatformAdmin => ADMIN_SCOPE.to_string(),
        _ => format!("https://{}/.default", url.host_str().unwrap_or_default()),
    }
}

impl Session {
    pub fn scope_for(&self, api: Api, url: &Url) -> (String, Grant) {
        let grant = match api {
            Api::DualWrite => self.dual_write_grant,
            _ => Grant::ClientCredentials,
        };
        (scope_of(api, url), grant)
    }

    pub async fn send(&self, req: &ApiRequest) -> Result<Reply, ProviderError> {
        let (scope, grant) = self.scope_for(req.api, &req.url);
        let token = self.auth.token(&scope, grant).await?;
        match self.client.execute(req, Some(&token)).await {
            Err(ProviderError::Status { status: 401, .. }) => {
                self.auth.invalidate(&scope, &token).await;
                let token = self.auth.token(&scope, grant).await?;
                self.client.execute(req, Some(&token)).await
            }
            other => other,
        }
    }
}
