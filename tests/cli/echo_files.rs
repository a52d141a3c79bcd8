//! Every file dwlink writes passes the one scrubber, by value: a world whose names carry the
//! client secret and the caller's live token (filled in by a proxy in front of the emulator, as a
//! server echoing them would), and a step that fails with both in its error text. After `plan
//! --out`, `apply`, `snapshot --out` and `import --out`, neither is in any file of the state
//! directory, the plan, the snapshot or the imported config, nor on stdout or stderr.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;

use crate::rewrite_proxy::{Handler, Proxy, Upstream};
use crate::support::{root, scratch, stderr, stdout, Emulator, SECRET};

/// Where the proxy writes the caller's bearer token into a reply.
const MARK: &str = "@@TOKEN@@";

struct EchoProxy {
    url: String,
    /// Every bearer token dwlink sent.
    tokens: Arc<Mutex<Vec<String>>>,
    _proxy: Proxy,
}

impl EchoProxy {
    fn start(upstream: &str) -> EchoProxy {
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let seen = tokens.clone();
        let handler: Handler = Arc::new(move |upstream, method, uri, headers, body| {
            let seen = seen.clone();
            Box::pin(async move { echo(upstream, seen, method, uri, headers, body).await })
        });
        let proxy = Proxy::start(upstream, handler);
        EchoProxy {
            url: proxy.url.clone(),
            tokens,
            _proxy: proxy,
        }
    }
}

async fn echo(
    upstream: Upstream,
    seen: Arc<Mutex<Vec<String>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string();
    if !token.is_empty() {
        let mut seen = seen.lock().unwrap();
        if !seen.contains(&token) {
            seen.push(token.clone());
        }
    }
    let form: String = url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
    let said = format!(
        "secret {SECRET} form {form} token {token} access_token={token} Bearer:{token} at https://h/{form}/x?t={token}"
    );
    // A step the apply reaches after its backup, deletes and reset: its failure is journaled.
    if method != Method::GET && uri.path().contains("Solution") {
        let body =
            serde_json::json!({"error": {"code": "Echo", "message": format!("refused: {said}")}});
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .header("content-type", "application/json")
            .header("x-echo", &said)
            .body(Body::from(body.to_string()))
            .unwrap();
    }
    let (head, bytes) = match upstream.send(method, &uri, &headers, body).await {
        Ok(r) => r,
        Err(bad_gateway) => return bad_gateway,
    };
    let text = String::from_utf8_lossy(&bytes).replace(MARK, &token);
    head.body(Body::from(text)).unwrap()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn encodings(v: &str) -> Vec<String> {
    let form: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
    let json = serde_json::Value::String(v.into()).to_string();
    vec![v.to_string(), form, json[1..json.len() - 1].to_string()]
}

#[test]
fn secrets_echoed_by_the_services_reach_no_file_dwlink_writes() {
    let dir = scratch("echo-files");
    let emu_dir = dir.join("emulator");
    let work = dir.join("work");
    std::fs::create_dir_all(&emu_dir).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    // The Dataverse organization's name carries the secret and the caller's token: plans,
    // findings, snapshots and imported configs quote it.
    let fixture = std::fs::read_to_string(
        root().join("examples/fixtures/restore-cleanup-from-production.yaml"),
    )
    .unwrap()
    .replace(
        "friendly_name: ContosoUAT",
        &format!("friendly_name: \"ContosoUAT {SECRET} {MARK}\""),
    )
    // A running map's name: the apply's journal lists it in the actions it begins with.
    .replace(
        "{name: Vendors V2 (msdyn_vendors), state: error}",
        &format!("{{name: \"Vendors {SECRET} {MARK}\", state: running}}"),
    );
    assert_eq!(fixture.matches(MARK).count(), 2);
    std::fs::write(emu_dir.join("world.yaml"), fixture).unwrap();
    let emu = Emulator::start(&emu_dir.join("world.yaml"), &emu_dir.join("world.json"));
    let proxy = EchoProxy::start(&emu.url);
    let cfg = root()
        .join("examples/restore-cleanup-from-production.yaml")
        .display()
        .to_string();
    let url = proxy.url.clone();
    let runs: [&[&str]; 4] = [
        &["plan", "--out", "reset.plan"],
        // From the config, not the saved plan: each run is given its own token, so the plan's
        // live state (which quotes it) is stale for the next run.
        &["apply", "--auto-approve"],
        &["snapshot", "--out", "snapshot.yaml"],
        &["import", "--out", "imported.yaml"],
    ];
    let mut texts = Vec::new();
    for args in runs {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--no-color", "-f", &cfg, "--emulator-url", &url]);
        let out = crate::harness::run(&work, &all, &[]);
        texts.push((format!("{} stdout", args[0]), stdout(&out)));
        texts.push((format!("{} stderr", args[0]), stderr(&out)));
    }
    let mut files = Vec::new();
    files_under(&work, &mut files);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(&work).unwrap().display().to_string())
        .collect();
    for want in ["reset.plan", "snapshot.yaml", "imported.yaml"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    for want in ["journal", "backups"] {
        assert!(
            names.iter().any(|n| n.contains(want)),
            "a {want} file in {names:?}: {texts:#?}"
        );
    }
    for f in &files {
        texts.push((
            f.strip_prefix(&work).unwrap().display().to_string(),
            String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned(),
        ));
    }
    let tokens = proxy.tokens.lock().unwrap().clone();
    assert!(!tokens.is_empty(), "dwlink sent tokens");
    let mut planted: Vec<String> = encodings(SECRET);
    for t in &tokens {
        planted.extend(encodings(t));
    }
    let mut leaks = Vec::new();
    for (name, text) in &texts {
        for p in &planted {
            if text.contains(p.as_str()) {
                leaks.push(format!("{name}: {p}"));
            }
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
    // The planted values did reach dwlink: the plan quotes the organization's name.
    let plan = &texts.iter().find(|(n, _)| n == "reset.plan").unwrap().1;
    assert!(plan.contains("ContosoUAT [redacted]"), "{plan}");
    drop(proxy);
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A panic prints a short message through the scrubber, never the raw payload, even with
/// `RUST_BACKTRACE` set: the test hook panics mid-apply with the client secret and a token in its
/// message.
#[test]
fn a_panic_prints_its_message_scrubbed() {
    let dir = scratch("panic-scrubbed");
    let emu = Emulator::start(
        &root().join("examples/fixtures/restore-cleanup-from-production.yaml"),
        &dir.join("world.json"),
    );
    let cfg = crate::harness::restore_cfg();
    let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    let payload = format!("unwrap on a reply echoing {SECRET} and access_token={jwt}");
    for backtrace in ["0", "1"] {
        let out = crate::harness::apply(
            &dir,
            &cfg,
            &emu,
            &[
                ("DWLINK_TEST_CRASH_AT", "panic:start:stop-maps"),
                ("DWLINK_TEST_PANIC_PAYLOAD", &payload),
                ("RUST_BACKTRACE", backtrace),
            ],
        );
        let err = stderr(&out);
        assert!(
            err.contains("dwlink crashed: this is a bug in dwlink")
                && err.contains(
                    "test panic at start:stop-maps: unwrap on a reply echoing [redacted]"
                ),
            "{err}"
        );
        assert_ne!(crate::support::code(&out), 0, "{err}");
        for leak in [SECRET, jwt, "panicked at"] {
            assert!(!err.contains(leak), "{leak} in {err}");
        }
        assert_eq!(err.contains("backtrace:"), backtrace == "1", "{err}");
    }
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}
