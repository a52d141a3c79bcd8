//! `dwlink login` against a `dwlink emulator` process: the portal refresh token from stdin, the
//! device code, the sign-in later commands use, and every refusal as a diagnostic that says what
//! to do — with the token never in any output. Each test has a cache directory of its own
//! (XDG_CACHE_HOME), so nothing touches the user's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use crate::harness::{all, command, path, start_emu, Emu};
use crate::support::{scratch, stderr, stdout};

const PORTAL_TOKEN: &str = "portal-dev-refresh-token-0123456789";

/// The quickstart world with a signed-in user, plus `extra` fixture lines under `sign_in`.
fn fixture(dir: &Path, extra: &str) -> PathBuf {
    let base =
        std::fs::read_to_string(path("examples/fixtures/quickstart.yaml")).expect("quickstart");
    let f = dir.join("fixture.yaml");
    std::fs::write(
        &f,
        format!("{base}\nsign_in:\n  user: ada@contoso.example\n  portal_refresh_token: {PORTAL_TOKEN}\n{extra}"),
    )
    .expect("write fixture");
    f
}

/// scenario 2 as a user signs in to it: `dual_write_service.auth` left at `device-code`.
fn config(dir: &Path, extra_dws: &str) -> String {
    let text = std::fs::read_to_string(path("examples/scenario-2-organization-mismatch.yaml"))
        .expect("example");
    let text = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("auth: client-credentials"))
        .collect::<Vec<_>>()
        .join("\n");
    let text = text.replace(
        "  url: https://projectmanagementservice",
        &format!("{extra_dws}  url: https://projectmanagementservice"),
    );
    let f = dir.join("dwlink.yaml");
    std::fs::write(&f, text).expect("write config");
    f.display().to_string()
}

fn run_in(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let cache = dir.join("cache");
    let mut c = command(
        dir,
        args,
        &[
            ("XDG_CACHE_HOME", cache.to_str().expect("utf-8")),
            ("CI", "true"),
        ],
    );
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dwlink runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("dwlink ends")
}

fn login(dir: &Path, cfg: &str, emu: &Emu, stdin: Option<&str>) -> Output {
    let mut args = vec!["login", "--no-color", "-f", cfg, "--emulator-url", &emu.url];
    if stdin.is_some() {
        args.push("--refresh-token-stdin");
    }
    run_in(dir, &args, stdin.unwrap_or(""))
}

fn plan(dir: &Path, cfg: &str, emu: &Emu) -> Output {
    run_in(
        dir,
        &[
            "plan",
            "--no-color",
            "--input=false",
            "-f",
            cfg,
            "--emulator-url",
            &emu.url,
        ],
        "",
    )
}

fn cache_file(dir: &Path) -> PathBuf {
    dir.join("cache/dwlink/emulator-tokens.json")
}

/// Every token the cache holds, so a test can check none was printed.
fn cached_tokens(dir: &Path) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache_file(dir)).expect("cache")).expect("json");
    v["tokens"]
        .as_object()
        .expect("tokens")
        .values()
        .flat_map(|t| [t["access_token"].as_str(), t["refresh_token"].as_str()])
        .flatten()
        .map(str::to_string)
        .collect()
}

fn never_shown(o: &Output, secrets: &[String]) {
    let text = all(o);
    for s in secrets {
        assert!(!text.contains(s.as_str()), "a token was printed:\n{text}");
    }
}

#[test]
fn a_portal_refresh_token_signs_in_and_later_commands_use_it() {
    let dir = scratch("login-portal");
    let emu = start_emu(
        &fixture(&dir, "").display().to_string(),
        &dir.join("state.json"),
        &[],
    );
    let cfg = config(&dir, "");

    let o = plan(&dir, &cfg, &emu);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        stderr(&o).contains("dwlink::provider::sign_in_required"),
        "{}",
        all(&o)
    );
    assert!(stderr(&o).contains("dwlink login"), "{}", all(&o));

    let o = login(&dir, &cfg, &emu, Some(&format!("{PORTAL_TOKEN}\n")));
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let out = stdout(&o);
    assert!(out.contains("as ada@contoso.example"), "{out}");
    assert!(
        out.contains("tenant 72f988bf-0000-0000-0000-000000000000"),
        "{out}"
    );
    assert!(out.contains("expires at"), "{out}");
    assert!(out.contains("24 hours"), "{out}");
    let mut secrets = cached_tokens(&dir);
    secrets.push(PORTAL_TOKEN.into());
    never_shown(&o, &secrets);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&cache_file(&dir)), 0o600);
        assert_eq!(mode(&dir.join("cache/dwlink")), 0o700);
    }

    let o = plan(&dir, &cfg, &emu);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(stdout(&o).contains("reset-link"), "{}", all(&o));
    never_shown(&o, &secrets);
}

#[test]
fn the_portal_json_reply_is_accepted_too() {
    let dir = scratch("login-json");
    let emu = start_emu(
        &fixture(&dir, "").display().to_string(),
        &dir.join("state.json"),
        &[],
    );
    let cfg = config(&dir, "");
    let reply =
        format!(r#"{{"token_type":"Bearer","access_token":"x","refresh_token":"{PORTAL_TOKEN}"}}"#);
    let o = login(&dir, &cfg, &emu, Some(&reply));
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
}

#[test]
fn bad_refresh_tokens_are_diagnostics_that_never_echo_them() {
    let dir = scratch("login-bad");
    let emu = start_emu(
        &fixture(&dir, "").display().to_string(),
        &dir.join("state.json"),
        &[],
    );
    let cfg = config(&dir, "");
    let cases = [
        ("", "dwlink::login::no_refresh_token"),
        ("  \n", "dwlink::login::no_refresh_token"),
        (
            "two words-SECRETPART",
            "dwlink::login::malformed_refresh_token",
        ),
        (
            r#"{"access_token":"SECRETPART"}"#,
            "dwlink::login::malformed_refresh_token",
        ),
        (
            "not-the-portal-token-SECRETPART",
            "dwlink::auth::invalid_grant",
        ),
    ];
    for (stdin, want) in cases {
        let o = login(&dir, &cfg, &emu, Some(stdin));
        assert_eq!(o.status.code(), Some(1), "{stdin:?}: {}", all(&o));
        assert!(stderr(&o).contains(want), "{stdin:?}: {}", all(&o));
        assert!(stderr(&o).contains("help:"), "{stdin:?}: {}", all(&o));
        assert!(
            !all(&o).contains("SECRETPART"),
            "{stdin:?} was echoed: {}",
            all(&o)
        );
    }
}

#[test]
fn an_expired_portal_token_says_to_sign_in_again() {
    let dir = scratch("login-expired");
    let emu = start_emu(
        &fixture(&dir, "  spa_refresh_ttl_secs: 3\n")
            .display()
            .to_string(),
        &dir.join("state.json"),
        &["--token-ttl", "1"],
    );
    let cfg = config(&dir, "");
    let o = login(&dir, &cfg, &emu, Some(PORTAL_TOKEN));
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    std::thread::sleep(std::time::Duration::from_millis(3200));
    let o = plan(&dir, &cfg, &emu);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        stderr(&o).contains("dwlink::auth::refresh_token_expired"),
        "{}",
        all(&o)
    );
    assert!(stderr(&o).contains("AADSTS700084"), "{}", all(&o));
    assert!(stderr(&o).contains("dwlink login"), "{}", all(&o));
}

#[test]
fn device_code_signs_in_against_the_emulator() {
    let dir = scratch("login-device");
    let emu = start_emu(
        &fixture(&dir, "").display().to_string(),
        &dir.join("state.json"),
        &[],
    );
    let cfg = config(&dir, "");
    let o = login(&dir, &cfg, &emu, None);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(stderr(&o).contains("enter the code"), "{}", all(&o));
    assert!(stdout(&o).contains("as ada@contoso.example"), "{}", all(&o));
    assert!(
        !stdout(&o).contains("24 hours"),
        "not a portal token: {}",
        all(&o)
    );
    never_shown(&o, &cached_tokens(&dir));
    let o = plan(&dir, &cfg, &emu);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
}

#[test]
fn a_refused_device_code_points_at_the_portal_token() {
    let dir = scratch("login-refused");
    let emu = start_emu(
        &fixture(&dir, "  refuse_device_code: true\n")
            .display()
            .to_string(),
        &dir.join("state.json"),
        &[],
    );
    let cfg = config(&dir, "");
    let o = login(&dir, &cfg, &emu, None);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        stderr(&o).contains("dwlink::auth::public_client_refused"),
        "{}",
        all(&o)
    );
    assert!(stderr(&o).contains("AADSTS7000218"), "{}", all(&o));
    assert!(stderr(&o).contains("--refresh-token-stdin"), "{}", all(&o));

    // A client the tenant does not know (a mistyped `dual_write_service.client_id`).
    let cfg = config(&dir, "  client_id: 99999999-2222-3333-4444-555555555555\n");
    let o = login(&dir, &cfg, &emu, None);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        stderr(&o).contains("dwlink::auth::app_not_in_tenant"),
        "{}",
        all(&o)
    );
    assert!(
        stderr(&o).contains("dual_write_service.client_id"),
        "{}",
        all(&o)
    );
}

#[test]
fn login_refuses_what_it_cannot_do() {
    let dir = scratch("login-refuses");
    // No emulator, no terminal: a device code nobody can complete is not started.
    let cfg = config(&dir, "");
    let o = run_in(&dir, &["login", "--no-color", "-f", &cfg], "");
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        stderr(&o).contains("dwlink::login::needs_terminal"),
        "{}",
        all(&o)
    );
    assert!(stderr(&o).contains("--refresh-token-stdin"), "{}", all(&o));

    // Client credentials (emulator only) have no user to sign in.
    let cc = path("examples/scenario-2-organization-mismatch.yaml");
    let o = run_in(
        &dir,
        &["login", "--no-color", "-f", &cc, "--refresh-token-stdin"],
        PORTAL_TOKEN,
    );
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        stderr(&o).contains("dwlink::login::client_credentials"),
        "{}",
        all(&o)
    );
}

#[test]
fn a_recorded_sign_in_holds_no_token_or_code() {
    let dir = scratch("login-record");
    let emu = start_emu(
        &fixture(&dir, "").display().to_string(),
        &dir.join("state.json"),
        &[],
    );
    let cfg = config(&dir, "");
    let device = dir.join("device.har");
    let portal = dir.join("portal.har");
    let args = |har: &Path| {
        vec![
            "login".to_string(),
            "-f".into(),
            cfg.clone(),
            "--emulator-url".into(),
            emu.url.clone(),
            "--record".into(),
            har.display().to_string(),
        ]
    };
    let run = |har: &Path, extra: &[&str], stdin: &str| {
        let mut a = args(har);
        a.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run_in(&dir, &a, stdin)
    };
    let o = run(&device, &[], "");
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let mut secrets = cached_tokens(&dir);
    let o = run(
        &portal,
        &["--refresh-token-stdin"],
        &format!("{PORTAL_TOKEN}\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    secrets.extend(cached_tokens(&dir));
    secrets.push(PORTAL_TOKEN.into());
    for har in [&device, &portal] {
        crate::record::assert_no_secret(har);
        let text = std::fs::read_to_string(har).expect("har");
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a token is in {}",
                har.display()
            );
        }
    }
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&device).expect("har")).expect("json");
    let reply = v["log"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| {
            e["request"]["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("/devicecode"))
        })
        .map(|e| {
            e["response"]["content"]["text"]
                .as_str()
                .expect("text")
                .to_string()
        })
        .expect("the device-code request is recorded");
    let reply: serde_json::Value = serde_json::from_str(&reply).expect("json reply");
    assert_eq!(reply["device_code"], "[redacted]");
    assert!(
        reply["user_code"]
            .as_str()
            .is_some_and(|c| c != "[redacted]"),
        "{reply}"
    );
}
