//! `apply` and `restore` end to end against a `dwlink emulator` process with a state file.

use std::path::Path;

use serde_json::Value;

use crate::support::{code, dwlink_live, root, scratch, stderr, stdout, Emulator, SECRET};

const NAME: &str = "restore-cleanup-from-production";

fn cfg() -> String {
    root()
        .join(format!("examples/{NAME}.yaml"))
        .display()
        .to_string()
}

fn fixture() -> std::path::PathBuf {
    root().join(format!("examples/fixtures/{NAME}.yaml"))
}

fn live(dir: &Path, args: &[&str]) -> std::process::Output {
    dwlink_live(dir, args)
}

fn status_json(dir: &Path, emu: &Emulator) -> Value {
    let out = live(
        dir,
        &["status", "--json", "-f", &cfg(), "--emulator-url", &emu.url],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn keys(status: &Value, table: &str) -> Vec<String> {
    status["live"]["key_tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .map(|t| {
            t["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn apply_backs_up_clears_relinks_verifies_and_restore_puts_rows_back() {
    let dir = scratch("apply-roundtrip");
    let emu = Emulator::start(&fixture(), &dir.join("world.json"));
    let before = status_json(&dir, &emu);
    let old_projects = keys(&before, "DualWriteProjectConfiguration");
    assert_eq!(old_projects.len(), 120);

    let out = live(
        &dir,
        &[
            "apply",
            "--no-color",
            "-f",
            &cfg(),
            "--emulator-url",
            &emu.url,
            "--auto-approve",
        ],
    );
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(code(&out), 0, "{all}");
    assert!(all.contains("Apply complete"), "{all}");
    assert!(all.contains("live state matches the declaration"), "{all}");

    // The backup holds every deleted row, is private, and names no client secret.
    let backups: Vec<_> = std::fs::read_dir(dir.join(".dwlink/backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1);
    let backup: Value =
        serde_json::from_str(&std::fs::read_to_string(&backups[0]).unwrap()).unwrap();
    let rows: usize = backup["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rows"].as_array().unwrap().len())
        .sum();
    assert_eq!(rows, 120 + 2400 + 30 + 12);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&backups[0]).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // The restored copy no longer points anywhere else.
    let settled = status_json(&dir, &emu);
    let codes: Vec<&str> = settled["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"scenario.same-organization"), "{settled}");
    assert!(
        !codes
            .iter()
            .any(|c| c.starts_with("restore.") || c.starts_with("secure-config.")),
        "{codes:?}"
    );

    // Restore puts the deleted rows back, and a second run finds nothing to do.
    let b = backups[0].display().to_string();
    let out = live(
        &dir,
        &[
            "restore",
            &b,
            "-f",
            &cfg(),
            "--emulator-url",
            &emu.url,
            "--auto-approve",
        ],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let after = status_json(&dir, &emu);
    let now = keys(&after, "DualWriteProjectConfiguration");
    assert!(
        old_projects.iter().all(|k| now.contains(k)),
        "every backed-up project row is back"
    );
    let out = live(
        &dir,
        &[
            "restore",
            &b,
            "-f",
            &cfg(),
            "--emulator-url",
            &emu.url,
            "--auto-approve",
        ],
    );
    assert_eq!(code(&out), 0);
    assert!(
        stderr(&out).contains("nothing to restore"),
        "{}",
        stderr(&out)
    );

    // No secret or token anywhere on disk or in output.
    for entry in walk(&dir.join(".dwlink")) {
        let text = std::fs::read_to_string(&entry).unwrap();
        assert!(
            !text.contains(SECRET),
            "{} holds the client secret",
            entry.display()
        );
        assert!(
            !text.contains("Bearer ") && !text.contains("access_token"),
            "{} holds a token",
            entry.display()
        );
    }
    assert!(!all.contains(SECRET));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn apply_refuses_without_confirmation_and_with_the_wrong_name() {
    let dir = scratch("apply-confirm");
    let fx = fixture().display().to_string();
    let out = live(&dir, &["apply", "-f", &cfg(), "--emulator", &fx]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("dwlink::apply::not_confirmed"));
    let out = live(
        &dir,
        &[
            "apply",
            "-f",
            &cfg(),
            "--emulator",
            &fx,
            "--confirm",
            "contoso-prod",
        ],
    );
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("dwlink::apply::confirm_mismatch"));
    assert!(
        !dir.join(".dwlink/backups").exists(),
        "nothing was backed up or deleted"
    );
}

#[test]
fn apply_refuses_a_protected_environment() {
    let dir = scratch("apply-protected");
    let fx = root()
        .join("examples/fixtures/protected-production.yaml")
        .display()
        .to_string();
    let c = root()
        .join("examples/protected-production.yaml")
        .display()
        .to_string();
    let out = live(
        &dir,
        &["apply", "-f", &c, "--emulator", &fx, "--auto-approve"],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("dwlink::apply::protected"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn apply_refuses_a_stale_plan() {
    let dir = scratch("apply-stale");
    let emu = Emulator::start(&fixture(), &dir.join("world.json"));
    let plan = dir.join("reset.plan").display().to_string();
    let out = live(
        &dir,
        &[
            "plan",
            "-f",
            &cfg(),
            "--emulator-url",
            &emu.url,
            "--out",
            &plan,
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Someone else applies first: the live state moves under the saved plan.
    let out = live(
        &dir,
        &[
            "apply",
            "-f",
            &cfg(),
            "--emulator-url",
            &emu.url,
            "--confirm",
            "contoso-uat",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = live(
        &dir,
        &["apply", &plan, "--emulator-url", &emu.url, "--auto-approve"],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("dwlink::apply::stale_plan"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn apply_of_a_fresh_saved_plan_runs_it() {
    let dir = scratch("apply-saved");
    let emu = Emulator::start(&fixture(), &dir.join("world.json"));
    let plan = dir.join("reset.plan").display().to_string();
    let out = live(
        &dir,
        &[
            "plan",
            "-f",
            &cfg(),
            "--emulator-url",
            &emu.url,
            "--out",
            &plan,
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = live(
        &dir,
        &[
            "apply",
            &plan,
            "--emulator-url",
            &emu.url,
            "--json",
            "--auto-approve",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let events: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events
        .iter()
        .any(|e| e["event"] == "done" && e["kind"] == "verify"));
}
