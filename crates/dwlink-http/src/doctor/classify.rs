//! A failed request as a check's status: no answer is `unreachable`, a refusal is
//! `not-permitted` with the access to grant, any other answer dwlink cannot use is `differs`.

use serde::de::DeserializeOwned;

use super::{Failed, Status};
use crate::signin::entra::Refusal;
use crate::transport::reply::Reply;
use dwlink_core::link::error::ProviderError;

/// What to do about a service that did not answer in time.
pub(crate) const SLOW: &str =
    "check the network path to the service; run again with a larger --timeout if it is only slow";

/// The four audiences dwlink signs in to; each names what a refusal needs granted (README
/// "Permissions a real tenant needs").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    FinanceOperations,
    Dataverse,
    Admin,
    ManagementService,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::FinanceOperations => "finance and operations",
            Service::Dataverse => "Dataverse",
            Service::Admin => "the Power Platform admin API",
            Service::ManagementService => "the dual-write management service",
        }
    }

    /// What to grant when this service refuses dwlink.
    pub(crate) fn grant(self, client_id: &str, login: &str) -> String {
        match self {
            Service::FinanceOperations => format!(
                "register the app {client_id} in F&O (System administration > Setup > Microsoft Entra applications) with a user that may read and delete the dual-write tables"
            ),
            Service::Dataverse => format!(
                "add the app {client_id} to the Dataverse environment as an application user whose security role reads the organization and reads and deletes msdyn_dualwriteruntimeconfig rows"
            ),
            Service::Admin => format!(
                "have a tenant administrator register the app {client_id} as a Power Platform management application (`pac admin application register --application-id {client_id}`, or New-PowerAppManagementApp)"
            ),
            Service::ManagementService => format!(
                "sign in as a user who may open F&O's dual-write page (System administrator in F&O and in Dataverse): `{login}`"
            ),
        }
    }
}

/// `e`, from a request to `service`, as a check's outcome.
pub(crate) fn failed(e: &ProviderError, service: Service, client_id: &str, login: &str) -> Failed {
    let grant = || service.grant(client_id, login);
    let refused = |seen: String| Failed {
        status: Status::NotPermitted,
        seen,
        fix: Some(grant()),
    };
    if let Some(r) = Refusal::of(e) {
        // Entra refused the token: its code names the cause, which is never the service's
        // registration of the app (that refusal comes later, from the service).
        return Failed {
            status: Status::NotPermitted,
            seen: format!("{}: {}", r.short(), r.description),
            fix: Some(r.aadsts.map_or_else(grant, |c| sign_in_fix(c, client_id))),
        };
    }
    if let ProviderError::Auth { detail, .. } = e {
        if let Some(code) = aadsts_in(detail) {
            return Failed {
                status: Status::NotPermitted,
                seen: detail.clone(),
                fix: Some(sign_in_fix(code, client_id)),
            };
        }
    }
    match e {
        ProviderError::Transport { detail, .. } => Failed {
            status: Status::Unreachable,
            seen: detail.clone(),
            fix: Some(if detail.contains("timeout") {
                SLOW.into()
            } else if detail.contains("the emulator at") {
                "start the emulator (`dwlink emulator --fixture FILE`) and pass the address it prints to --emulator-url".into()
            } else {
                "check the URL in the config, the network, proxies and firewalls".into()
            }),
        },
        ProviderError::Throttled { waited, .. } => Failed {
            status: Status::Unreachable,
            seen: format!("throttled (HTTP 429) for {} ms", waited.as_millis()),
            fix: Some("the service's request budget is spent; run again in a few minutes".into()),
        },
        // A refused wait (Retry-After past doctor's cap) is the service's budget, not its shape.
        ProviderError::Status {
            status: 429,
            message,
            ..
        } => Failed {
            status: Status::Unreachable,
            seen: format!("throttled (HTTP 429): {message}"),
            fix: Some("the service's request budget is spent; run again in a few minutes".into()),
        },
        ProviderError::Status {
            status: s @ (401 | 403),
            code,
            message,
            ..
        } => refused(status_line(*s, code.as_deref(), message)),
        ProviderError::Status {
            status,
            code,
            message,
            ..
        } => Failed::differs(status_line(*status, code.as_deref(), message)),
        ProviderError::BadReply { detail, .. } => Failed::differs(detail.clone()),
        ProviderError::Auth { detail, .. } => refused(detail.clone()),
        ProviderError::SignInRequired { reason, .. } => Failed {
            status: Status::NotPermitted,
            seen: format!(
                "{}; doctor may not prompt",
                reason.as_deref().unwrap_or("no cached sign-in")
            ),
            fix: Some(format!("run `{login}` in a terminal once (device code), or `{login} --refresh-token-stdin` with a refresh token from the Data Integrator portal")),
        },
        ProviderError::SignInRefused { what, detail, help, .. } => Failed {
            status: Status::NotPermitted,
            seen: format!("Microsoft Entra ID refused {what}: {detail}"),
            fix: Some(help.clone()),
        },
        ProviderError::TokenCache { path, detail } => Failed {
            status: Status::NotPermitted,
            seen: format!("token cache {path}: {detail}"),
            fix: Some(format!("delete the token cache file and run `{login}`")),
        },
        ProviderError::Setup { message, help } => Failed {
            status: Status::NotPermitted,
            seen: message.clone(),
            fix: Some(help.clone()),
        },
        other => Failed::differs(other.to_string()),
    }
}

/// What to fix when Entra refuses the app's client-credentials sign-in, by the AADSTS code
/// (learn.microsoft.com/entra/identity-platform/reference-error-codes): the secret, consent,
/// the app's registration or the tenant.
fn sign_in_fix(code: u32, client_id: &str) -> String {
    match code {
        // InvalidClientSecretProvided / InvalidClientSecretExpiredKeysProvided.
        7000215 | 7000222 => format!(
            "the client secret is wrong or expired (AADSTS{code}): create a new client secret for the app {client_id} (Entra admin center > App registrations > Certificates & secrets) and put its value in the variable that auth.client_secret_env names"
        ),
        // DelegationDoesNotExist / UserDeclinedConsent / consent not granted for the tenant.
        65001 | 65004 | 650056 | 650057 => format!(
            "the app {client_id} lacks consent (AADSTS{code}): a tenant administrator grants admin consent to its API permissions (Entra admin center > App registrations > API permissions > Grant admin consent)"
        ),
        // UnauthorizedClient_DoesNotMatchRequest / application not found in the directory.
        700016 | 7000229 => format!(
            "no app {client_id} is registered in this tenant (AADSTS{code}): check auth.client_id, and that the app registration belongs to the tenant in auth.tenant_id"
        ),
        // InvalidTenantName / InvalidTenantIdentifier / tenant not found.
        90002 | 900023 | 90072 | 500011 => format!(
            "the tenant is wrong (AADSTS{code}): check auth.tenant_id (Entra admin center > Overview > Tenant ID)"
        ),
        _ => format!(
            "Entra refused the sign-in (AADSTS{code}): look the code up at https://login.microsoftonline.com/error?code={code}"
        ),
    }
}

/// The first `AADSTSnnnn` code in a refusal's text.
fn aadsts_in(text: &str) -> Option<u32> {
    let rest = &text[text.find("AADSTS")? + "AADSTS".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn status_line(status: u16, code: Option<&str>, message: &str) -> String {
    match code {
        Some(c) => format!("HTTP {status} ({c}): {message}"),
        None => format!("HTTP {status}: {message}"),
    }
}

/// The reply as `T`, or `differs` with the JSON path serde stopped at (`[0].cid: missing
/// field`), so a real tenant's shape names the member to fix.
pub(crate) fn shaped<T: DeserializeOwned>(reply: &Reply) -> Result<T, Failed> {
    let value = reply.json_value().map_err(|e| match e {
        ProviderError::BadReply { detail, .. } => Failed::differs(detail),
        other => Failed::differs(other.to_string()),
    })?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        Failed::differs(format!("at `{path}`: {}", e.inner()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dwlink_core::link::error::Api;

    fn status(status: u16) -> ProviderError {
        ProviderError::Status {
            api: Api::Dataverse,
            method: "GET".into(),
            url: "https://org.example/api/data/v9.2/x".into(),
            status,
            code: None,
            message: "m".into(),
        }
    }

    #[test]
    fn each_failure_has_its_status_and_refusals_say_what_to_grant() {
        let f =
            |e: &ProviderError| failed(e, Service::Dataverse, "app-1", "dwlink login -f x.yaml");
        for s in [401, 403] {
            let out = f(&status(s));
            assert_eq!(out.status, Status::NotPermitted);
            assert!(out.fix.unwrap().contains("application user"));
        }
        assert_eq!(f(&status(404)).status, Status::Differs);
        assert_eq!(f(&status(500)).status, Status::Differs);
        assert_eq!(f(&status(429)).status, Status::Unreachable);
        let down = ProviderError::Transport {
            api: Api::Dataverse,
            url: "u".into(),
            detail: "connection failed (refused)".into(),
        };
        assert_eq!(f(&down).status, Status::Unreachable);
        let login = f(&ProviderError::SignInRequired {
            url: "u".into(),
            reason: None,
        });
        assert_eq!(login.status, Status::NotPermitted);
        assert!(login.fix.unwrap().contains("`dwlink login -f x.yaml`"));
        let odd = ProviderError::bad_reply(Api::Dataverse, "u", "an HTML page instead of JSON");
        assert_eq!(f(&odd).seen, "an HTML page instead of JSON");
    }

    #[test]
    fn every_service_names_the_app_it_needs_access_for() {
        for s in [
            Service::FinanceOperations,
            Service::Dataverse,
            Service::Admin,
        ] {
            assert!(s.grant("app-1", "l").contains("app-1"), "{s:?}");
        }
        assert!(Service::ManagementService
            .grant("a", "dwlink login")
            .contains("`dwlink login`"));
    }
}
