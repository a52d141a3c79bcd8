//! `--record FILE`: a HAR 1.2 of every exchange, with the logical URLs and nothing secret.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::{path, token_like, RESTORED};
use crate::support::{code, dwlink_live, scratch, stderr, SECRET};

const CONFIG: &str = "examples/restore-cleanup-from-production.yaml";
const FIXTURE: &str = "examples/fixtures/restore-cleanup-from-production.yaml";
const DRIFT_FIXTURE: &str = "tests/fixtures/import-drift.yaml";

/// The hosts of the real services the examples name.
const LOGICAL_HOSTS: [&str; 4] = [
    ".operations.dynamics.com",
    ".crm.dynamics.com",
    "login.microsoftonline.com",
    "api.bap.microsoft.com",
];

pub(crate) fn record(dir: &Path, har: &Path, args: &[&str]) -> Value {
    let har_s = har.display().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--record", &har_s]);
    let o = dwlink_live(dir, &all);
    assert!(
        [0, 2].contains(&code(&o)),
        "{all:?} exits {}: {}",
        code(&o),
        stderr(&o)
    );
    assert!(stderr(&o).contains("HTTP exchanges to"), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&fs::read(har).unwrap()).expect("the HAR is JSON");
    assert_no_secret(har);
    v
}

/// No client secret, bearer token (the emulator's are 64 hex digits), cookie or connection
/// string anywhere in the file.
pub(crate) fn assert_no_secret(har: &Path) {
    let text = fs::read_to_string(har).unwrap();
    assert!(
        !text.contains(SECRET),
        "the client secret is in {}",
        har.display()
    );
    assert!(!text.contains("Bearer "), "a bearer header is in the HAR");
    if let Some(t) = token_like(&text, &[]) {
        panic!("something shaped like a token is in the HAR: {t}");
    }
    for s in ["PRODSECRETKEY", "PRODSAS", "127.0.0.1"] {
        assert!(!text.contains(s), "{s} is in the HAR");
    }
    let v: Value = serde_json::from_str(&text).unwrap();
    for e in v["log"]["entries"].as_array().unwrap() {
        for side in ["request", "response"] {
            let texts = [&e[side]["postData"]["text"], &e[side]["content"]["text"]];
            for t in texts.into_iter().filter_map(Value::as_str) {
                for marker in ["SharedAccessKey=", "sig=", "SharedAccessSignature="] {
                    for (i, _) in t.match_indices(marker) {
                        let after = &t[i + marker.len()..];
                        assert!(
                            after.starts_with("[redacted]") || after.starts_with("sv="),
                            "{marker} with a value in {}",
                            &t[i..(i + 60).min(t.len())]
                        );
                    }
                }
            }
        }
        for h in e["request"]["headers"].as_array().unwrap() {
            if h["name"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("authorization")
            {
                assert_eq!(h["value"], "[redacted]");
            }
        }
    }
}

fn entries(v: &Value) -> &Vec<Value> {
    v["log"]["entries"].as_array().expect("log.entries")
}

fn fresh(name: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let har = dir.join("out.har");
    (dir, har)
}

#[test]
fn plan_records_a_har_of_logical_urls_private_to_the_user() {
    let (dir, har) = fresh("record-plan");
    let v = record(
        &dir,
        &har,
        &["plan", "-f", &path(CONFIG), "--emulator", &path(FIXTURE)],
    );
    assert_eq!(v["log"]["version"], "1.2");
    assert_eq!(v["log"]["creator"]["name"], "dwlink");
    assert_eq!(v["log"]["creator"]["version"], env!("CARGO_PKG_VERSION"));
    let list = entries(&v);
    assert!(list.len() >= 10, "{} entries", list.len());
    for e in list {
        let url = url::Url::parse(e["request"]["url"].as_str().unwrap()).unwrap();
        let host = url.host_str().unwrap();
        assert!(
            LOGICAL_HOSTS.iter().any(|h| host.ends_with(h)) || host.contains(".powerapps.com"),
            "{url}"
        );
        assert_eq!(url.scheme(), "https", "{url}");
        for key in ["startedDateTime", "time", "cache", "timings"] {
            assert!(!e[key].is_null(), "{key} missing in {e}");
        }
        for key in [
            "method",
            "url",
            "httpVersion",
            "headers",
            "queryString",
            "cookies",
            "headersSize",
            "bodySize",
        ] {
            assert!(!e["request"][key].is_null(), "request.{key} missing");
        }
        for key in [
            "status",
            "statusText",
            "httpVersion",
            "headers",
            "cookies",
            "content",
            "redirectURL",
            "headersSize",
            "bodySize",
        ] {
            assert!(!e["response"][key].is_null(), "response.{key} missing");
        }
    }
    let hosts: Vec<&str> = list
        .iter()
        .map(|e| e["request"]["url"].as_str().unwrap())
        .collect();
    for h in LOGICAL_HOSTS {
        assert!(hosts.iter().any(|u| u.contains(h)), "no request to {h}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&har).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn a_snapshot_recording_holds_no_connection_string() {
    let (dir, har) = fresh("record-snapshot");
    let out = dir.join("snap.yaml").display().to_string();
    let v = record(
        &dir,
        &har,
        &[
            "snapshot",
            "-f",
            &path("examples/scenario-1-same-organization.yaml"),
            "--emulator",
            &path(DRIFT_FIXTURE),
            "--out",
            &out,
        ],
    );
    // The rows with the connection strings were read, and their values redacted.
    let text = v.to_string();
    assert!(
        text.contains("ServiceBusConnectionString"),
        "no project rows read"
    );
    assert!(text.contains("StorageAccountSASConnectionString"));
}

#[test]
fn apply_records_its_delete_batches() {
    let (dir, har) = fresh("record-apply");
    let v = record(
        &dir,
        &har,
        &[
            "apply",
            "-f",
            &path("examples/restore-cleanup-from-production.yaml"),
            "--emulator",
            &path(RESTORED),
            "--auto-approve",
        ],
    );
    let batches = entries(&v)
        .iter()
        .filter(|e| {
            e["request"]["method"] == "POST"
                && e["request"]["url"].as_str().unwrap().ends_with("/$batch")
        })
        .count();
    assert!(batches >= 2, "{batches} $batch requests recorded");
}

#[test]
fn a_command_that_sends_nothing_says_so_and_writes_no_file() {
    let (dir, har) = fresh("record-nothing");
    let h = har.display().to_string();
    let o = dwlink_live(&dir, &["validate", &path(CONFIG), "--record", &h]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("Nothing recorded to"), "{}", stderr(&o));
    assert!(!har.exists());
}

#[test]
fn an_unusable_record_path_stops_the_command_before_any_request() {
    let dir = scratch("record-bad-path");
    let cases = [
        (dir.clone(), "dwlink::record::is_directory"),
        (dir.join("missing/out.har"), "dwlink::record::unwritable"),
    ];
    for (target, want) in cases {
        let t = target.display().to_string();
        let o = dwlink_live(
            &dir,
            &[
                "status",
                "-f",
                &path(CONFIG),
                "--emulator",
                &path(FIXTURE),
                "--record",
                &t,
            ],
        );
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
    }
}

#[test]
fn a_run_killed_mid_way_leaves_a_har_that_opens() {
    let dir = scratch("record-killed");
    let har = dir.join("killed.har");
    let emu = crate::support::Emulator::with_flags(
        &crate::support::root().join(FIXTURE),
        &dir.join("world.json"),
        &["--latency-ms", "150"],
    );
    let har_s = har.display().to_string();
    let mut child = crate::harness::command(
        &dir,
        &[
            "plan",
            "-f",
            &path(CONFIG),
            "--emulator-url",
            &emu.url,
            "--record",
            &har_s,
        ],
        &[],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("start dwlink");
    let recorded = |n: usize| {
        fs::read(&har)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|v| v["log"]["entries"].as_array().is_some_and(|e| e.len() >= n))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !recorded(3) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SIGKILL: nothing of dwlink runs after it.
    child.kill().expect("kill dwlink");
    let status = child.wait().unwrap();
    assert!(!status.success(), "the plan finished before it was killed");
    let v: Value =
        serde_json::from_slice(&fs::read(&har).unwrap()).expect("still one JSON document");
    assert_eq!(v["log"]["version"], "1.2");
    assert!(entries(&v).len() >= 3, "{} entries", entries(&v).len());
    assert_no_secret(&har);
}

/// A fleet plan (`plan -f DIR`) reaches every environment through one route: one recording
/// holds all of them.
#[test]
fn a_fleet_plan_records_every_environment() {
    let (dir, har) = fresh("record-fleet");
    let h = har.display().to_string();
    let o = dwlink_live(
        &dir,
        &[
            "plan",
            "-f",
            &path("tests/fixtures/fleet"),
            "--emulator",
            &path("tests/fixtures/fleet-world.yaml"),
            "--record",
            &h,
        ],
    );
    assert!(stderr(&o).contains("HTTP exchanges to"), "{}", stderr(&o));
    assert_no_secret(&har);
    let v: Value = serde_json::from_slice(&fs::read(&har).unwrap()).unwrap();
    let hosts: std::collections::BTreeSet<String> = entries(&v)
        .iter()
        .filter_map(|e| url::Url::parse(e["request"]["url"].as_str()?).ok())
        .filter_map(|u| u.host_str().map(str::to_string))
        .filter(|h| h.ends_with(".operations.dynamics.com") || h.ends_with(".cloudax.dynamics.com"))
        .collect();
    assert!(hosts.len() >= 2, "{hosts:?}");
}
