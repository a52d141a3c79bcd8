//! What the apply and resume tests share: an emulator process that can be restarted on its state
//! file and given faults, runs of the binary with extra environment, a pseudo-terminal, and
//! checks of the settled world and of the backups.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::{root, stderr, stdout, SECRET};

pub(crate) const RESTORED: &str = "tests/fixtures/worlds/restored-small.yaml";
pub(crate) const MISMATCH: &str = "tests/fixtures/worlds/mismatch-small.yaml";

pub(crate) fn path(rel: &str) -> String {
    root().join(rel).display().to_string()
}

pub(crate) fn restore_cfg() -> String {
    path("examples/restore-cleanup-from-production.yaml")
}

/// A `dwlink emulator` process on a state file; dropping it kills it (like a host going away).
pub(crate) type Emu = crate::support::Emulator;

/// Start one from a fixture path relative to the repository, with fault flags.
pub(crate) fn start_emu(fixture: &str, state: &Path, faults: &[&str]) -> Emu {
    Emu::with_flags(Path::new(fixture), state, faults)
}

pub(crate) const LOCK_DIR_ENV: &str = "DWLINK_LOCK_DIR";

/// The environment locks of runs in `dir`: tests in different directories apply the same
/// environments (to different emulators) at the same time, so each keeps its own locks instead
/// of the user's state directory. A test of the lock itself gives its runs one directory.
pub(crate) fn lock_dir(dir: &Path) -> PathBuf {
    dir.join(".locks")
}

pub(crate) fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dwlink"));
    c.args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("DWLINK_TEST_CRASH_AT")
        .env_remove("DWLINK_STATE_DIR")
        .env("DWLINK_CLIENT_SECRET", SECRET)
        .env("COLUMNS", "100")
        .env(LOCK_DIR_ENV, lock_dir(dir));
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

pub(crate) fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args, env)
        .output()
        .expect("the dwlink binary runs")
}

pub(crate) fn all(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

pub(crate) fn apply(dir: &Path, cfg: &str, emu: &Emu, env: &[(&str, &str)]) -> Output {
    run(
        dir,
        &[
            "apply",
            "--no-color",
            "-f",
            cfg,
            "--emulator-url",
            &emu.url,
            "--auto-approve",
        ],
        env,
    )
}

pub(crate) fn status(dir: &Path, cfg: &str, emu: &Emu) -> Value {
    let out = run(
        dir,
        &["status", "--json", "-f", cfg, "--emulator-url", &emu.url],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("status --json is JSON")
}

/// Keys of every key table, as `status --json` lists them.
pub(crate) fn live_keys(status: &Value) -> BTreeMap<String, BTreeSet<String>> {
    status["live"]["key_tables"]
        .as_array()
        .expect("key_tables")
        .iter()
        .map(|t| {
            let keys = t["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .map(|k| k.as_str().expect("key").to_string())
                .collect();
            (t["table"].as_str().expect("table").to_string(), keys)
        })
        .collect()
}

/// The OData key predicate of a backed-up row, in the form `status --json` prints.
pub(crate) fn row_key(table: &str, row: &Value) -> String {
    let s = |c: &str| {
        row[c]
            .as_str()
            .unwrap_or_else(|| panic!("{table} row has no {c}"))
    };
    match table {
        "DualWriteProjectConfiguration" => format!("('{}')", s("ProjectName")),
        "DualWriteProjectFieldConfiguration" => format!(
            "(ProjectName='{}',InternalFieldName='{}')",
            s("ProjectName"),
            s("InternalFieldName")
        ),
        "BusinessEventsDefinition" => format!("('{}')", s("BusinessEventId")),
        _ => format!("({})", s("msdyn_dualwriteruntimeconfigid")),
    }
}

/// Complete backup files (`*.json`; a crash mid-backup leaves only a `.partial`).
pub(crate) fn backup_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join(".dwlink/backups")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// Every row of every complete backup, by table and key (later files win).
pub(crate) fn backed_up(dir: &Path) -> BTreeMap<String, BTreeMap<String, Value>> {
    let mut out: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for f in backup_files(dir) {
        let text = std::fs::read_to_string(&f).expect("read backup");
        let b: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not complete JSON: {e}", f.display()));
        for t in b["tables"].as_array().expect("tables") {
            let table = t["table"].as_str().expect("table");
            for row in t["rows"].as_array().expect("rows") {
                out.entry(table.to_string())
                    .or_default()
                    .insert(row_key(table, row), row.clone());
            }
        }
    }
    out
}

/// Every key of `before` is in some backup file.
pub(crate) fn assert_all_backed_up(dir: &Path, before: &BTreeMap<String, BTreeSet<String>>) {
    let saved = backed_up(dir);
    for (table, keys) in before {
        let missing: Vec<&String> = keys
            .iter()
            .filter(|k| !saved.get(table).is_some_and(|s| s.contains_key(*k)))
            .collect();
        assert!(
            missing.is_empty(),
            "{} {table} rows are in no backup, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(3)]
        );
    }
}

/// The restored copy of contoso-uat is linked to itself and nothing points elsewhere.
pub(crate) fn assert_settled_on_uat(status: &Value) {
    let org = status["live"]["connection"]["organization"]["url"]
        .as_str()
        .unwrap_or_default();
    assert!(org.contains("contoso-uat.crm"), "linked to {org}: {status}");
    for t in status["live"]["key_tables"].as_array().expect("key_tables") {
        for url in t["external_urls"].as_object().expect("urls").keys() {
            assert!(url.contains("contoso-uat.crm"), "foreign rows for {url}");
        }
        for o in t["secure_config_organizations"]
            .as_object()
            .expect("orgs")
            .keys()
        {
            assert_eq!(o, "ContosoUAT", "runtime rows made for {o}");
        }
    }
    for f in status["findings"].as_array().expect("findings") {
        assert_ne!(f["severity"], "error", "{f}");
    }
}

/// Lines of the journals, concatenated.
pub(crate) fn journals(dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir.join(".dwlink/journal")) else {
        return String::new();
    };
    entries
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("")
}

/// Wait until a journal line contains every one of `needles` (at most `secs` seconds).
pub(crate) fn wait_for_journal(dir: &Path, needles: &[&str], secs: u64) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        if journals(dir)
            .lines()
            .any(|l| needles.iter().all(|n| l.contains(n)))
        {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

/// Run `dwlink ARGS` on a pseudo-terminal (util-linux `script`) with `input` typed at it.
/// `None` when `script` is not installed.
pub(crate) fn in_pty(dir: &Path, args: &[&str], input: &str) -> Option<(i32, String)> {
    use std::io::Write;
    let line = std::iter::once(env!("CARGO_BIN_EXE_dwlink"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env("DWLINK_CLIENT_SECRET", SECRET)
        .env(LOCK_DIR_ENV, lock_dir(dir))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes());
    let out = child.wait_with_output().ok()?;
    Some((out.status.code().unwrap_or(-1), all(&out)))
}

/// Runs of 64 hex digits: the shape of the emulator's access and refresh tokens (and of live
/// fingerprints, which are listed in `allowed`).
pub(crate) fn token_like(text: &str, allowed: &[String]) -> Option<String> {
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            if run.len() >= 64 && !allowed.iter().any(|a| a.contains(run.as_str())) {
                return Some(run);
            }
            run.clear();
        }
    }
    None
}

/// No client secret, bearer header or token in `text`; `allowed` are known fingerprints.
pub(crate) fn assert_no_secrets(what: &str, text: &str, allowed: &[String]) {
    assert!(!text.contains(SECRET), "{what} holds the client secret");
    assert!(!text.contains("Bearer "), "{what} holds a bearer header");
    assert!(!text.contains("access_token"), "{what} holds a token");
    assert!(!text.contains("refresh_token"), "{what} holds a token");
    if let Some(t) = token_like(text, allowed) {
        panic!("{what} holds something shaped like a token: {t}");
    }
}
