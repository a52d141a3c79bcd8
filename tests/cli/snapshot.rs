//! `dwlink snapshot`: a fixture of the live state that plans like the original, rehearses an
//! apply, and carries no secret.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{code, root, scratch, stderr, stdout, Emulator, SECRET};

const REHEARSAL: &str = "rehearsal-secret";

fn run(dir: &Path, secret: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dwlink"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env("DWLINK_CLIENT_SECRET", secret)
        .env(crate::harness::LOCK_DIR_ENV, crate::harness::lock_dir(dir))
        .output()
        .expect("the dwlink binary runs")
}

fn take(config: &str, source: &[&str], out: &Path) {
    let out_s = out.display().to_string();
    let mut args = vec!["snapshot", "-f", config, "--out", &out_s];
    args.extend(source);
    let o = run(&root(), SECRET, &args);
    assert_eq!(code(&o), 0, "snapshot {config}: {}", stderr(&o));
}

/// What must be equal between the plan on the original and the plan on the snapshot.
fn planned(secret: &str, config: &str, fixture: &Path) -> Value {
    let fixture = fixture.display().to_string();
    let o = run(
        &root(),
        secret,
        &["plan", "--json", "-f", config, "--emulator", &fixture],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    serde_json::json!({"actions": v["actions"], "summary": v["summary"], "scenario": v["scenario"], "findings": v["findings"]})
}

#[test]
fn a_snapshot_plans_exactly_like_the_original() {
    let dir = scratch("snapshot-plans");
    for name in [
        "scenario-1-same-organization",
        "scenario-2-organization-mismatch",
        "scenario-4-cloud-hosted",
        "restore-cleanup-from-production",
    ] {
        let config = format!("examples/{name}.yaml");
        let original: PathBuf = root().join(format!("examples/fixtures/{name}.yaml"));
        let copy = dir.join(format!("{name}.yaml"));
        take(
            &config,
            &["--emulator", &original.display().to_string()],
            &copy,
        );
        assert_eq!(
            planned(SECRET, &config, &original),
            planned(REHEARSAL, &config, &copy),
            "{name}"
        );
    }
}

#[test]
fn apply_rehearses_on_the_snapshot() {
    let dir = scratch("snapshot-apply");
    let name = "restore-cleanup-from-production";
    let copy = dir.join("rehearsal.yaml");
    take(
        &format!("examples/{name}.yaml"),
        &["--emulator", &format!("examples/fixtures/{name}.yaml")],
        &copy,
    );
    let config = root()
        .join(format!("examples/{name}.yaml"))
        .display()
        .to_string();
    let fixture = copy.display().to_string();
    let o = run(
        &dir,
        REHEARSAL,
        &[
            "apply",
            "--no-color",
            "-f",
            &config,
            "--emulator",
            &fixture,
            "--auto-approve",
        ],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("Apply complete") && stdout(&o).contains("132 deleted"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
}

#[test]
fn no_secret_reaches_the_snapshot() {
    let dir = scratch("snapshot-secrets");
    let copy = dir.join("drift.yaml");
    take(
        "examples/scenario-1-same-organization.yaml",
        &["--emulator", "tests/fixtures/import-drift.yaml"],
        &copy,
    );
    let text = fs::read_to_string(&copy).unwrap();
    for secret in [
        SECRET,
        "SharedAccessKey",
        "SharedAccessSignature",
        "sig=",
        "PRODSECRETKEY",
        "PRODSAS",
        "EMULATORFAKEKEY",
    ] {
        assert!(!text.contains(secret), "the snapshot holds `{secret}`");
    }
    assert!(text.contains("redacted-by-dwlink") && text.contains(REHEARSAL));
    assert!(text.contains("PROD-0000001"), "explicit rows are copied");
    assert!(
        text.contains("DWLINK_CLIENT_SECRET=rehearsal-secret"),
        "the header says how to run it"
    );
    // The user's own secret opens nothing in the copy.
    let fixture = copy.display().to_string();
    let o = run(
        &root(),
        SECRET,
        &[
            "plan",
            "-f",
            "examples/scenario-1-same-organization.yaml",
            "--emulator",
            &fixture,
        ],
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("invalid_client"), "{}", stderr(&o));
}

#[test]
fn a_running_emulator_can_be_snapshot_after_an_apply() {
    let dir = scratch("snapshot-url");
    let name = "scenario-1-same-organization";
    let emu = Emulator::start(
        &root().join(format!("examples/fixtures/{name}.yaml")),
        &dir.join("state.json"),
    );
    let config = root()
        .join(format!("examples/{name}.yaml"))
        .display()
        .to_string();
    let o = run(
        &dir,
        SECRET,
        &[
            "apply",
            "-f",
            &config,
            "--emulator-url",
            &emu.url,
            "--auto-approve",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let copy = dir.join("after.yaml");
    take(&config, &["--emulator-url", &emu.url], &copy);
    let doc: Value = serde_saphyr::from_str(&fs::read_to_string(&copy).unwrap()).unwrap();
    let maps = &doc["finance_operations"][0]["dual_write"]["maps"];
    assert!(
        maps.as_array().is_some_and(|m| m
            .iter()
            .any(|m| m["name"] == "Customers V3 (accounts)" && m["state"] == "running")),
        "{maps}"
    );
}
