//! What can go wrong talking to the services, as values that name the service and the (logical,
//! redacted) URL, and turn into diagnostics at the CLI edge.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::diag::Problem;

/// Which remote party a request went to; errors name it the way an admin knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    FinanceOperations,
    Dataverse,
    DualWrite,
    /// The Power Platform admin API (`api.bap.microsoft.com`).
    PowerPlatformAdmin,
    Login,
}

impl Api {
    pub const ALL: [Api; 5] = [
        Api::FinanceOperations,
        Api::Dataverse,
        Api::DualWrite,
        Api::PowerPlatformAdmin,
        Api::Login,
    ];

    /// A stable name for files (a recording's `_dwlink.api`).
    pub fn id(self) -> &'static str {
        match self {
            Api::FinanceOperations => "finance-and-operations",
            Api::Dataverse => "dataverse",
            Api::DualWrite => "dual-write",
            Api::PowerPlatformAdmin => "power-platform-admin",
            Api::Login => "login",
        }
    }

    pub fn from_id(id: &str) -> Option<Api> {
        Api::ALL.into_iter().find(|a| a.id() == id)
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Api::FinanceOperations => "finance and operations",
            Api::Dataverse => "Dataverse",
            Api::DualWrite => "the dual-write management service",
            Api::PowerPlatformAdmin => "the Power Platform admin API",
            Api::Login => "Microsoft Entra ID",
        })
    }
}

#[derive(Debug, Error)]
pub enum ProviderError {
    /// The provider cannot even start: a missing env var, a refused URL, a missing setting.
    #[error("{message}")]
    Setup { message: String, help: String },

    #[error("{api} at {url} could not be reached: {detail}")]
    Transport {
        api: Api,
        url: String,
        detail: String,
    },

    #[error("{api} answered {method} {url} with HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        api: Api,
        method: String,
        url: String,
        status: u16,
        code: Option<String>,
        message: String,
    },

    #[error("{api} kept throttling {url} (HTTP 429) for {waited:?}; giving up")]
    Throttled {
        api: Api,
        url: String,
        waited: Duration,
    },

    #[error("{api} sent a reply dwlink cannot use for {url}: {detail}")]
    BadReply {
        api: Api,
        url: String,
        detail: String,
    },

    #[error("sign-in to {api} failed for {url}: {detail}")]
    Auth {
        api: Api,
        url: String,
        detail: String,
    },

    #[error(
        "no usable sign-in for {url}{}, and dwlink may not prompt (--input=false or no terminal)",
        reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
    )]
    SignInRequired { url: String, reason: Option<String> },

    /// Microsoft Entra ID refused a sign-in step, in its own words (AADSTS code and description,
    /// never the form that was sent), with what the user can do about it.
    #[error("Microsoft Entra ID refused {what}: {detail}")]
    SignInRefused {
        code: &'static str,
        what: String,
        detail: String,
        help: String,
    },

    #[error("token cache {path}: {detail}")]
    TokenCache { path: String, detail: String },

    #[error("{api} rejected a change set at {url} (HTTP {status}): {message}; rows: {}", keys.join(", "))]
    BatchFailed {
        api: Api,
        url: String,
        status: u16,
        message: String,
        keys: Vec<String>,
    },

    #[error("dual-write request {request_id} ({what}) ended in Error: {message}")]
    RequestFailed {
        request_id: String,
        what: String,
        message: String,
    },

    #[error("dual-write request {request_id} ({what}) did not finish within {waited:?} (last state: {state})")]
    RequestTimedOut {
        request_id: String,
        what: String,
        waited: Duration,
        state: String,
    },
}

impl ProviderError {
    pub fn bad_reply(api: Api, url: impl Into<String>, detail: impl Into<String>) -> Self {
        ProviderError::BadReply {
            api,
            url: url.into(),
            detail: detail.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ProviderError::Setup { .. } => "dwlink::provider::setup",
            ProviderError::Transport { .. } => "dwlink::provider::unreachable",
            ProviderError::Status { .. } => "dwlink::provider::http_status",
            ProviderError::Throttled { .. } => "dwlink::provider::throttled",
            ProviderError::BadReply { .. } => "dwlink::provider::bad_reply",
            ProviderError::Auth { .. } => "dwlink::provider::auth",
            ProviderError::SignInRequired { .. } => "dwlink::provider::sign_in_required",
            ProviderError::SignInRefused { code, .. } => code,
            ProviderError::TokenCache { .. } => "dwlink::provider::token_cache",
            ProviderError::BatchFailed { .. } => "dwlink::provider::batch_failed",
            ProviderError::RequestFailed { .. } => "dwlink::provider::request_failed",
            ProviderError::RequestTimedOut { .. } => "dwlink::provider::request_timeout",
        }
    }

    fn help(&self) -> Option<String> {
        Some(match self {
            ProviderError::Setup { help, .. } => help.clone(),
            ProviderError::Transport { .. } => {
                "check the URL in the config, the network, and proxies; idempotent requests were already retried".into()
            }
            ProviderError::Throttled { .. } => {
                "the service's request budget is exhausted; wait a few minutes and run again".into()
            }
            ProviderError::BadReply { .. } => {
                "the URL may point at something that is not this service (a proxy or sign-in page?); run with -v for details".into()
            }
            ProviderError::Auth { .. } => {
                "check auth.tenant_id, auth.client_id and the secret in the variable auth.client_secret_env names; the app needs access to this environment".into()
            }
            ProviderError::SignInRequired { .. } => {
                "run `dwlink login` in a terminal once (device code), or `dwlink login --refresh-token-stdin` with a refresh token from the Data Integrator portal; later runs use and refresh the cached token silently".into()
            }
            ProviderError::SignInRefused { help, .. } => help.clone(),
            ProviderError::TokenCache { .. } => {
                "delete the token cache file to sign in again".into()
            }
            ProviderError::BatchFailed { .. } => {
                "no row of that change set was changed (change sets are atomic); run again to retry".into()
            }
            ProviderError::RequestFailed { .. } | ProviderError::RequestTimedOut { .. } => {
                "check the dual-write page of the finance and operations environment; run again to resume".into()
            }
            ProviderError::Status { status: 401 | 403, .. } => {
                "the token was refused: the app or user lacks access to this environment".into()
            }
            ProviderError::Status { .. } => return None,
        })
    }

    pub fn to_problem(&self) -> Problem {
        let p = Problem::error(self.code(), self.to_string());
        match self.help() {
            Some(h) => p.help(h),
            None => p,
        }
    }
}

impl From<ProviderError> for Problem {
    fn from(e: ProviderError) -> Self {
        e.to_problem()
    }
}
