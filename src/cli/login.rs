use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::SystemTime;

use crate::render::shell::Shell;
use dwlink_core::diag::Problem;
use dwlink_core::link::secret::Secret;
use dwlink_core::model::desired::{DualWriteAuth, DATA_INTEGRATION_CLIENT_ID};
use dwlink_http::signin::device_code::{LoginWith, SignedIn};
use dwlink_http::HttpProvider;

use super::live::{self, LiveArgs};
use super::{fail, Exit};

const LONG_ABOUT: &str = "Sign in to the dual-write management service as a user and cache the token.

The management service takes only a signed-in user's token for the first-party \"Dynamics Data \
Integration\" app (2e49aa60-1bd3-43b6-8ab6-03ada3d9f08b; `dual_write_service.client_id` overrides \
it). dwlink caches the token and its refresh token in a 0600 file under your cache directory \
($XDG_CACHE_HOME/dwlink/tokens.json or ~/.cache/dwlink/tokens.json); plan, apply and the other \
commands then use and refresh it silently, also with --input=false.

Examples (the two ways to sign in):
  dwlink login -f dwlink.yaml                                   device code: open the URL it prints, enter the code
  dwlink login -f dwlink.yaml --refresh-token-stdin < token.txt  a refresh token from the Data Integrator portal

Whether Entra allows device code for this app is not publicly documented. If it refuses, sign in to \
https://dataintegrator.trafficmanager.net/dualWrite in a browser, copy the `refresh_token` of the \
portal's call to login.microsoftonline.com (developer tools, Network tab), and pipe it in. Such a \
token is a single-page-app token: Entra ends it 24 hours after the portal sign-in, however often \
dwlink refreshes it.";

/// Sign in to the dual-write management service and cache the token (0600).
///
/// Example: `pbpaste | dwlink login -f dwlink.yaml --refresh-token-stdin`
#[derive(Debug, clap::Args)]
#[command(long_about = LONG_ABOUT)]
pub struct Args {
    /// The config naming the tenant (`auth.tenant_id`) and the client (default: dwlink.yaml).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Read a refresh token captured from the Data Integrator portal from stdin (the token alone,
    /// or the portal's whole JSON token reply) instead of signing in with a device code.
    #[arg(long)]
    refresh_token_stdin: bool,
    #[command(flatten)]
    live: LiveArgs,
}

/// A refresh token is a few kilobytes at most; more is not one.
const MAX_STDIN: u64 = 64 * 1024;

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    let Some(desired) = live::load_config(args.file.as_deref(), ui) else {
        return Exit::Error;
    };
    if desired
        .dual_write_service
        .as_ref()
        .is_some_and(|s| s.auth == DualWriteAuth::ClientCredentials)
    {
        return fail(
            ui,
            &Problem::error(
                "dwlink::login::client_credentials",
                "this config reaches the management service with client credentials (`dual_write_service.auth: client-credentials`), so there is no user to sign in",
            )
            .help("client credentials work with the emulator only; remove `auth: client-credentials` from `dual_write_service` to sign in as a user against the real service"),
        );
    }
    let with = if args.refresh_token_stdin {
        match read_refresh_token(ui) {
            Ok(t) => LoginWith::PortalRefreshToken(t),
            Err(p) => return fail(ui, &p),
        }
    } else {
        // The emulator approves the code itself; the real service needs a person at a browser.
        if !ui.settings().interactive && !args.live.emulated() {
            return fail(
                ui,
                &Problem::error(
                    "dwlink::login::needs_terminal",
                    "a device-code sign-in needs a person to open the URL and enter the code, and dwlink may not prompt here (--input=false, CI or no terminal)",
                )
                .help("run `dwlink login` in a terminal once (the cached token then serves CI runs on this machine), or pipe a refresh token captured from the Data Integrator portal into `dwlink login --refresh-token-stdin`"),
            );
        }
        LoginWith::DeviceCode
    };
    let emulated = args.live.emulated();
    let result = live::block_on(async {
        let mut route = live::route(&args.live, ui).await?;
        // `login` is the explicit request to sign in, so the device-code flow may start.
        route.settings.device_code.interactive = true;
        let provider =
            HttpProvider::new(&desired, route.settings.clone()).map_err(|e| e.to_problem())?;
        provider.login(with).await.map_err(|e| e.to_problem())
    });
    match result {
        Ok(signed_in) => {
            report(ui, &signed_in, &desired, emulated);
            Exit::Ok
        }
        Err(p) => fail(ui, &p),
    }
}

/// The token from stdin: trimmed, or the `refresh_token` of a pasted JSON token reply. Never
/// echoed, not even in part, whatever is wrong with it.
fn read_refresh_token(ui: &Shell) -> Result<Secret, Problem> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        ui.status("Paste the refresh token, then press Enter and Ctrl-D (Ctrl-Z on Windows).");
    }
    let mut raw = Vec::new();
    stdin
        .lock()
        .take(MAX_STDIN + 1)
        .read_to_end(&mut raw)
        .map_err(|e| {
            Problem::error(
                "dwlink::login::stdin",
                format!("cannot read the refresh token from stdin: {e}"),
            )
            .help("pipe the token in: `dwlink login --refresh-token-stdin < token.txt`")
        })?;
    if raw.len() as u64 > MAX_STDIN {
        return Err(Problem::error(
            "dwlink::login::malformed_refresh_token",
            "stdin holds more than 64 KiB, which is not a refresh token",
        )
        .help("pipe in only the `refresh_token` value (or the portal's JSON token reply)"));
    }
    let text = String::from_utf8(raw).map_err(|_| malformed("it is not UTF-8 text"))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(Problem::error(
            "dwlink::login::no_refresh_token",
            "no refresh token on stdin",
        )
        .help("pipe the token in, e.g. `dwlink login --refresh-token-stdin < token.txt`; copy it from the `refresh_token` of the Data Integrator portal's call to login.microsoftonline.com (browser developer tools, Network tab)"));
    }
    let token = if text.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|_| malformed("it starts with `{` but is not JSON"))?;
        v.get("refresh_token")
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| malformed("the JSON has no string `refresh_token`"))?
    } else {
        text.to_string()
    };
    let token = token.trim();
    // Entra's refresh tokens are one word of URL-safe and base64 characters.
    if token.is_empty()
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~+/=*".contains(&b))
    {
        return Err(malformed(
            "it holds spaces, quotes or other characters no refresh token has",
        ));
    }
    Ok(Secret::new(token))
}

fn malformed(why: &str) -> Problem {
    Problem::error(
        "dwlink::login::malformed_refresh_token",
        format!("stdin does not hold a refresh token: {why}"),
    )
    .help("pipe in only the `refresh_token` value, or the portal's whole JSON token reply; the token is never shown")
}

fn when(t: SystemTime) -> String {
    let left = t
        .duration_since(SystemTime::now())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let at = jiff::Timestamp::try_from(t)
        .map(|ts| ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| "an unknown time".into());
    format!("{at} (in {} min)", left.div_ceil(60))
}

fn report(
    ui: &Shell,
    s: &SignedIn,
    desired: &dwlink_core::model::desired::Desired,
    emulated: bool,
) {
    let who = s.user.as_deref().unwrap_or("a user Entra did not name");
    let tenant = s.tenant.as_deref().unwrap_or("not named in the reply");
    let client = desired.dual_write_client_id();
    let app = if client == DATA_INTEGRATION_CLIENT_ID {
        "the Dynamics Data Integration app".to_string()
    } else {
        format!("client {client}")
    };
    ui.out(&format!(
        "Signed in to the dual-write management service as {who} (tenant {tenant}) with {app}.\nThe access token expires at {}; dwlink refreshes it silently.",
        when(s.expires_at)
    ));
    if let Some(t) = &s.tenant {
        if !t.eq_ignore_ascii_case(&desired.auth.tenant_id.to_string()) {
            ui.err_line(&format!(
                "warning: the sign-in is for tenant {t}, but auth.tenant_id is {}; the management service may refuse this environment",
                desired.auth.tenant_id
            ));
        }
    }
    if s.spa {
        ui.out("This is a Data Integrator portal token: Entra ends it 24 hours after the portal sign-in, however often it is refreshed. Then capture a new one and run `dwlink login --refresh-token-stdin` again.");
    }
    match &s.cached_in {
        Some(path) => ui.status(&format!("Cached in {} (readable by you only).", path.display())),
        None if emulated => ui.status("Not cached: the in-process emulator ends with this command. Start `dwlink emulator` and use --emulator-url to keep a sign-in for later commands."),
        None => ui.status("Not cached: no cache directory (set XDG_CACHE_HOME or HOME); later commands will ask again."),
    }
}
