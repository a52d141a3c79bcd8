//! What Microsoft Entra ID's sign-in for the dual-write management service looks like, with the
//! source of every value, and its refusals turned into diagnostics that say what to do.
//!
//! Sources (see also docs/http-contract.md, "Auth (Entra ID)"):
//! - DWA = microsoft/Dual-write-automations, `DWLibary/TokenRefresh.cs` (client id, scope,
//!   authority, the refresh's `redirect_uri` and `Origin`).
//! - refresh-tokens = learn.microsoft.com/entra/identity-platform/refresh-tokens (SPA refresh
//!   tokens live 24 h, not extended by redeeming them).
//! - error-codes = learn.microsoft.com/entra/identity-platform/reference-error-codes (AADSTS).
//! - device-code = learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code (the
//!   `authorization_pending`, `slow_down`, `authorization_declined`, `expired_token` errors).

use dwlink_core::link::error::{Api, ProviderError};

/// Requested for the management service by the Data Integrator portal and DWA (TokenRefresh.cs).
/// `offline_access` is what makes Entra return a refresh token.
pub const DWS_SCOPE: &str = "https://IntegratorApp.com/.default openid profile offline_access";

/// The resource alone: what client credentials ask for (emulator only: no public evidence that
/// any service principal is accepted by the real service, real-contract §1).
pub const DWS_RESOURCE_SCOPE: &str = "https://IntegratorApp.com/.default";

/// DWA refreshes at the multi-tenant authority (TokenRefresh.cs), so a refresh token captured
/// from the portal, whose issuing tenant dwlink cannot know, is redeemed there too.
pub const PORTAL_AUTHORITY: &str = "common";

/// The portal's redirect URI, sent with its refresh tokens (TokenRefresh.cs: the Data Integrator
/// URL with path `dualWrite`).
pub const PORTAL_REDIRECT_URI: &str = "https://dataintegrator.trafficmanager.net/dualWrite";

/// The `Origin` DWA sends with the refresh: `dataintegratorURL.AbsoluteUri`, which .NET writes
/// with the trailing slash (TokenRefresh.cs; DWHttp.cs sends the same to the gateway). A
/// browser would send it without the slash; Entra accepts DWA's form, so dwlink sends that.
pub const PORTAL_ORIGIN: &str = "https://dataintegrator.trafficmanager.net/";

/// Entra's own words for a refused token request: the OAuth `error`, the first AADSTS code
/// (from `error_codes`, which `crate::transport::reply` keeps at the start of the description) and the
/// description without its trace, correlation id and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: Option<String>,
    pub aadsts: Option<u32>,
    pub description: String,
    pub status: u16,
}

impl Refusal {
    /// `None` when `e` is not an answer of the token endpoint (a network failure, a bad reply).
    pub fn of(e: &ProviderError) -> Option<Refusal> {
        let ProviderError::Status {
            api: Api::Login,
            status,
            code,
            message,
            ..
        } = e
        else {
            return None;
        };
        Some(Refusal {
            error: code.clone(),
            aadsts: aadsts_code(message),
            description: strip_ids(message),
            status: *status,
        })
    }

    pub fn is(&self, error: &str) -> bool {
        self.error.as_deref() == Some(error)
    }

    /// One line for a "why" clause: `AADSTS700084 (invalid_grant)` or the OAuth error alone.
    pub fn short(&self) -> String {
        match (self.aadsts, &self.error) {
            (Some(n), Some(e)) => format!("Entra answered AADSTS{n} ({e})"),
            (Some(n), None) => format!("Entra answered AADSTS{n}"),
            (None, Some(e)) => format!("Entra answered {e}"),
            (None, None) => format!("Entra answered HTTP {}", self.status),
        }
    }
}

fn aadsts_code(message: &str) -> Option<u32> {
    let rest = message.trim_start().strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Entra ends descriptions with "Trace ID: … Correlation ID: … Timestamp: …": request ids a
/// support case needs, noise in a diagnostic.
fn strip_ids(message: &str) -> String {
    let cut = ["Trace ID:", "Correlation ID:", "Timestamp:"]
        .iter()
        .filter_map(|m| message.find(m))
        .min()
        .unwrap_or(message.len());
    message[..cut].trim().to_string()
}

/// Which step of a sign-in was refused: the same AADSTS code means different advice for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `POST …/devicecode` or polling its token: the first interactive sign-in.
    DeviceCode,
    /// Redeeming a refresh token the user gave (`--refresh-token-stdin`).
    GivenRefreshToken,
    /// Silently refreshing the cached token.
    CachedRefreshToken,
}

/// There is no public evidence that the Dynamics Data Integration app allows device code
/// (real-contract §1), so every device-code refusal that could mean "not for this client"
/// points at the alternative that is known to work.
const PORTAL_ALTERNATIVE: &str = "sign in to https://dataintegrator.trafficmanager.net/dualWrite in a browser, copy the refresh_token of the portal's call to login.microsoftonline.com (developer tools, Network tab) and pipe it to `dwlink login --refresh-token-stdin`";

/// `e` as a diagnostic for `step`, when it is a refusal of the token endpoint; anything else
/// (network, bad reply) is returned as it is.
pub fn explain(e: ProviderError, step: Step) -> ProviderError {
    let Some(r) = Refusal::of(&e) else {
        return e;
    };
    let (code, help) = advice(&r, step);
    let what = match step {
        Step::DeviceCode => "the device-code sign-in to the dual-write management service",
        Step::GivenRefreshToken => "the refresh token given on stdin",
        Step::CachedRefreshToken => "the refresh of the cached management-service sign-in",
    };
    let detail = match &r.error {
        Some(err) if !r.description.is_empty() => format!("{err}: {}", r.description),
        Some(err) => err.clone(),
        None => r.description.clone(),
    };
    ProviderError::SignInRefused {
        code,
        what: what.into(),
        detail,
        help,
    }
}

fn again(step: Step) -> &'static str {
    match step {
        Step::GivenRefreshToken => "capture a new refresh token from the portal and run `dwlink login --refresh-token-stdin` again",
        _ => "run `dwlink login` again",
    }
}

fn advice(r: &Refusal, step: Step) -> (&'static str, String) {
    let with_alternative = |s: &str| {
        if step == Step::DeviceCode {
            format!("{s}; if device code cannot work for this app, {PORTAL_ALTERNATIVE}")
        } else {
            s.to_string()
        }
    };
    match r.aadsts {
        // error-codes: UserStrongAuthRequired / UserStrongAuthEnrollmentRequired.
        Some(50076 | 50079) => (
            "dwlink::auth::mfa_required",
            match step {
                Step::DeviceCode => "your tenant requires multi-factor authentication: complete it in the browser window of the device-code sign-in, then run `dwlink login` again".into(),
                _ => "your tenant requires multi-factor authentication, which a refresh cannot satisfy: run `dwlink login` in a terminal and complete MFA in the browser".into(),
            },
        ),
        // error-codes: DelegationDoesNotExist.
        Some(65001) => (
            "dwlink::auth::consent_required",
            "the app has not been consented to for this user or tenant: open the dual-write page of the F&O environment (or https://dataintegrator.trafficmanager.net/dualWrite) once as this user and accept, or ask a tenant admin to grant consent to \"Dynamics Data Integration\" (2e49aa60-1bd3-43b6-8ab6-03ada3d9f08b)".into(),
        ),
        // error-codes: UnauthorizedClient_DoesNotMatchRequest (application not found in the
        // directory).
        Some(700016) => (
            "dwlink::auth::app_not_in_tenant",
            with_alternative("the client is not known in this tenant: check `auth.tenant_id`, remove a mistyped `dual_write_service.client_id` (the default is the Dynamics Data Integration app, 2e49aa60-1bd3-43b6-8ab6-03ada3d9f08b), or ask an admin whether the tenant blocks that app"),
        ),
        // error-codes: InvalidClient ("must contain client_assertion or client_secret") — the
        // client is not enabled for public-client flows such as device code.
        Some(7000218) => (
            "dwlink::auth::public_client_refused",
            format!("this client does not accept a public (device-code) sign-in, and there is no public evidence that the Dynamics Data Integration app does; {PORTAL_ALTERNATIVE}"),
        ),
        // error-codes: BadTokenDueToSignInFrequency, ExpiredOrRevokedGrantInactiveToken, the
        // SPA refresh token's fixed lifetime (refresh-tokens: 24 h), and a revoked grant.
        Some(70043 | 700082 | 700084 | 50173 | 70008) => (
            "dwlink::auth::refresh_token_expired",
            format!(
                "the refresh token has expired or was revoked (a portal refresh token lives 24 hours from the portal sign-in; Conditional Access sign-in frequency can end any sooner): {}",
                again(step)
            ),
        ),
        // error-codes: tokens issued to a single-page app may only be redeemed cross-origin.
        Some(9002327) => (
            "dwlink::auth::spa_token",
            "this refresh token was issued to a single-page app (the Data Integrator portal) and Entra only redeems it with the portal's Origin and redirect URI: import it with `dwlink login --refresh-token-stdin`, which redeems it the way the portal does".into(),
        ),
        // error-codes: cross-origin redemption is only for the single-page-app client type.
        Some(9002326) => (
            "dwlink::auth::not_spa_token",
            "this refresh token was not issued to the Data Integrator portal (a single-page app), so it cannot be redeemed as the portal does: sign in with `dwlink login` (device code) instead".into(),
        ),
        // error-codes: UserUnauthorized / the external account is not in the tenant.
        Some(50020 | 90072) => (
            "dwlink::auth::user_not_in_tenant",
            "the account you signed in with is not a member or guest of this tenant: sign in with an account of the tenant in `auth.tenant_id`, or ask its admin to invite yours".into(),
        ),
        // error-codes: BlockedByConditionalAccess.
        Some(53003) => (
            "dwlink::auth::conditional_access",
            "a Conditional Access policy of your tenant blocks this sign-in (device, location or app rules): ask your Entra admin; the Entra sign-in logs name the policy".into(),
        ),
        // error-codes: AuthorizationPending — only reaches here when polling ended with it.
        Some(70016) => (
            "dwlink::auth::sign_in_not_completed",
            "the sign-in in the browser was not completed: run `dwlink login` again and finish it before the code expires".into(),
        ),
        // error-codes: CodeExpired / device-code: `expired_token`.
        Some(70019 | 70020) => (
            "dwlink::auth::device_code_expired",
            "the code expired before the sign-in was completed: run `dwlink login` again and finish in the browser within the time it shows".into(),
        ),
        // The device-code flow's own errors (device-code), when no AADSTS code says more.
        _ if r.is("expired_token") => (
            "dwlink::auth::device_code_expired",
            "the code expired before the sign-in was completed: run `dwlink login` again and finish in the browser within the time it shows".into(),
        ),
        _ if r.is("authorization_declined") || r.is("access_denied") => (
            "dwlink::auth::declined",
            "the sign-in was declined in the browser: run `dwlink login` again and accept".into(),
        ),
        _ if r.is("unauthorized_client") || r.is("invalid_client") => (
            "dwlink::auth::client_refused",
            with_alternative("Entra does not let this client sign in this way: check `dual_write_service.client_id` (default: the Dynamics Data Integration app)"),
        ),
        _ if r.is("invalid_grant") => (
            "dwlink::auth::invalid_grant",
            format!("the refresh token is not valid (mistyped, cut, revoked or expired): {}", again(step)),
        ),
        _ => (
            "dwlink::auth::refused",
            with_alternative(&match r.aadsts {
                Some(n) => format!("look the code up at https://login.microsoftonline.com/error?code={n}, then {}", again(step)),
                None => format!("check the tenant and the account, then {}", again(step)),
            }),
        ),
    }
}

/// Who signed in and where, from the id token's claims (`preferred_username`, `name`, `tid`).
/// Only shown to the user: the token came over TLS straight from Entra, and nothing is
/// authorized on it, so its signature is not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub user: Option<String>,
    pub tenant: Option<String>,
}

pub fn identity(id_token: &str) -> Identity {
    let claims = id_token
        .split('.')
        .nth(1)
        .and_then(base64url_decode)
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let Some(c) = claims else {
        return Identity::default();
    };
    let text = |k: &str| {
        c.get(k)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().filter(|c| !c.is_control()).take(200).collect())
    };
    Identity {
        user: text("preferred_username")
            .or_else(|| text("upn"))
            .or_else(|| text("name")),
        tenant: text("tid"),
    }
}

fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: &str, message: &str) -> ProviderError {
        ProviderError::Status {
            api: Api::Login,
            method: "POST".into(),
            url: "https://login.microsoftonline.com/common/oauth2/v2.0/token".into(),
            status: 400,
            code: Some(code.into()),
            message: message.into(),
        }
    }

    #[test]
    fn refusals_keep_the_code_and_drop_request_ids() {
        let e = status(
            "invalid_grant",
            "AADSTS700084: The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00. Trace ID: 1 Correlation ID: 2 Timestamp: 2026-01-01",
        );
        let r = Refusal::of(&e).unwrap();
        assert_eq!(r.aadsts, Some(700084));
        assert!(r.description.ends_with("1.00:00:00."), "{}", r.description);
        match explain(e, Step::CachedRefreshToken) {
            ProviderError::SignInRefused { code, help, .. } => {
                assert_eq!(code, "dwlink::auth::refresh_token_expired");
                assert!(help.contains("dwlink login"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_likely_code_has_its_own_advice() {
        let cases = [
            ("AADSTS50076: MFA", "dwlink::auth::mfa_required"),
            ("AADSTS50079: enroll", "dwlink::auth::mfa_required"),
            ("AADSTS65001: consent", "dwlink::auth::consent_required"),
            ("AADSTS700016: not found", "dwlink::auth::app_not_in_tenant"),
            (
                "AADSTS7000218: secret",
                "dwlink::auth::public_client_refused",
            ),
            (
                "AADSTS70043: frequency",
                "dwlink::auth::refresh_token_expired",
            ),
            (
                "AADSTS700082: inactive",
                "dwlink::auth::refresh_token_expired",
            ),
            ("AADSTS9002327: spa", "dwlink::auth::spa_token"),
            ("AADSTS9002326: cors", "dwlink::auth::not_spa_token"),
            ("AADSTS50020: guest", "dwlink::auth::user_not_in_tenant"),
            ("AADSTS90072: external", "dwlink::auth::user_not_in_tenant"),
            ("AADSTS53003: blocked", "dwlink::auth::conditional_access"),
            (
                "AADSTS70016: pending",
                "dwlink::auth::sign_in_not_completed",
            ),
            ("AADSTS70019: expired", "dwlink::auth::device_code_expired"),
        ];
        for (msg, want) in cases {
            let got = explain(status("invalid_grant", msg), Step::DeviceCode);
            assert_eq!(got.code(), want, "{msg}");
        }
        assert_eq!(
            explain(status("invalid_grant", "AADSTS1: new"), Step::DeviceCode).code(),
            "dwlink::auth::invalid_grant"
        );
        let other = explain(status("invalid_request", "AADSTS1: new"), Step::DeviceCode);
        assert_eq!(other.code(), "dwlink::auth::refused");
        assert!(other
            .to_problem()
            .help
            .unwrap()
            .contains("login.microsoftonline.com/error?code=1"));
        assert_eq!(
            explain(status("expired_token", "gone"), Step::DeviceCode).code(),
            "dwlink::auth::device_code_expired"
        );
        assert_eq!(
            explain(status("authorization_declined", "no"), Step::DeviceCode).code(),
            "dwlink::auth::declined"
        );
    }

    #[test]
    fn device_code_refusals_point_at_the_portal_token() {
        let e = explain(
            status("invalid_client", "AADSTS7000218: client_assertion"),
            Step::DeviceCode,
        );
        assert!(e
            .to_problem()
            .help
            .unwrap()
            .contains("--refresh-token-stdin"));
        let e = explain(
            status("unauthorized_client", "AADSTS700016: app"),
            Step::DeviceCode,
        );
        assert!(e
            .to_problem()
            .help
            .unwrap()
            .contains("--refresh-token-stdin"));
    }

    #[test]
    fn other_errors_pass_through() {
        let e = ProviderError::Transport {
            api: Api::Login,
            url: "u".into(),
            detail: "refused".into(),
        };
        assert_eq!(
            explain(e, Step::DeviceCode).code(),
            "dwlink::provider::unreachable"
        );
    }

    #[test]
    fn identity_comes_from_the_id_token_claims() {
        // {"alg":"none"} . {"preferred_username":"ada@contoso.com","tid":"t-1"}
        let tok = "eyJhbGciOiJub25lIn0.eyJwcmVmZXJyZWRfdXNlcm5hbWUiOiJhZGFAY29udG9zby5jb20iLCJ0aWQiOiJ0LTEifQ.";
        let id = identity(tok);
        assert_eq!(id.user.as_deref(), Some("ada@contoso.com"));
        assert_eq!(id.tenant.as_deref(), Some("t-1"));
        assert_eq!(identity("garbage"), Identity::default());
    }
}
