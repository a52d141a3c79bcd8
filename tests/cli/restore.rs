//! `dwlink restore` against the emulator: every table it can is put back and each one's outcome
//! reported, and rows that sync into another organization go back only once its host is named.

use std::path::Path;

use serde_json::Value;

use crate::harness::{
    all, apply, backup_files, path, restore_cfg, run, start_emu, status, Emu, RESTORED,
};
use crate::support::{code, scratch, stdout};

const PROD_HOST: &str = "contoso-prod.crm.dynamics.com";

fn restore(dir: &Path, emu: &Emu, file: &str, extra: &[&str]) -> std::process::Output {
    let cfg = restore_cfg();
    let mut args = vec![
        "restore",
        file,
        "--no-color",
        "-f",
        &cfg,
        "--emulator-url",
        &emu.url,
        "--auto-approve",
    ];
    args.extend(extra);
    run(dir, &args, &[])
}

fn count(status: &Value, table: &str) -> usize {
    status["live"]["key_tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .and_then(|t| t["keys"].as_array())
        .map_or(0, Vec::len)
}

/// An emulator after a completed cleanup apply, and the backup that apply wrote.
fn cleaned(test: &str) -> (std::path::PathBuf, Emu, String) {
    let dir = scratch(test);
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let out = apply(&dir, &restore_cfg(), &emu, &[]);
    assert_eq!(code(&out), 0, "{}", all(&out));
    let file = backup_files(&dir)[0].display().to_string();
    (dir, emu, file)
}

#[test]
fn restoring_rows_that_sync_into_another_organization_needs_its_host() {
    let (dir, emu, file) = cleaned("restore-foreign");
    let projects = |d: &Path| {
        count(
            &status(d, &restore_cfg(), &emu),
            "DualWriteProjectConfiguration",
        )
    };
    let settled = projects(&dir);

    // --auto-approve names the environment, not where its data would flow.
    let out = restore(&dir, &emu, &file, &[]);
    let text = all(&out);
    assert_eq!(code(&out), 3, "{text}");
    assert!(
        text.contains(&format!(
            "sync into {PROD_HOST}, not into the declared contoso-uat.crm.dynamics.com"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("--allow-foreign {PROD_HOST}")),
        "{text}"
    );
    assert_eq!(projects(&dir), settled, "nothing was restored");

    let out = restore(
        &dir,
        &emu,
        &file,
        &["--allow-foreign", "other.crm.dynamics.com"],
    );
    assert_eq!(code(&out), 3, "another host does not do: {}", all(&out));

    let out = restore(
        &dir,
        &emu,
        &file,
        &["--allow-foreign", "Contoso-Prod.crm.dynamics.com"],
    );
    assert_eq!(code(&out), 0, "{}", all(&out));
    assert!(projects(&dir) > settled);
}

#[test]
fn a_failing_table_does_not_stop_the_others_and_each_outcome_is_reported() {
    let (dir, emu, file) = cleaned("restore-every-table");
    // A backup whose project rows cannot all go back: one row twice makes its change set fail
    // (409), as a mistyped backup did in the hostile test.
    let mut backup: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let tables = backup["tables"].as_array_mut().unwrap();
    let projects = tables
        .iter_mut()
        .find(|t| t["table"] == "DualWriteProjectConfiguration")
        .unwrap();
    let first = projects["rows"][0].clone();
    projects["rows"].as_array_mut().unwrap().push(first);
    let runtime_rows = tables
        .iter()
        .find(|t| t["table"] == "msdyn_dualwriteruntimeconfig")
        .map(|t| t["rows"].as_array().unwrap().len())
        .unwrap();
    assert!(runtime_rows > 0);
    std::fs::write(&file, serde_json::to_vec(&backup).unwrap()).unwrap();

    let before = status(&dir, &restore_cfg(), &emu);
    let out = restore(&dir, &emu, &file, &["--allow-foreign", PROD_HOST]);
    let text = all(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(
        stdout(&out).contains("✗ DualWriteProjectConfiguration"),
        "{text}"
    );
    assert!(
        stdout(&out).contains("✓ msdyn_dualwriteruntimeconfig"),
        "{text}"
    );
    assert!(text.contains("tables failed"), "{text}");
    let after = status(&dir, &restore_cfg(), &emu);
    assert_eq!(
        count(&after, "msdyn_dualwriteruntimeconfig"),
        count(&before, "msdyn_dualwriteruntimeconfig") + runtime_rows
    );
    assert_eq!(
        count(&after, "DualWriteProjectConfiguration"),
        count(&before, "DualWriteProjectConfiguration")
    );
}

/// At a terminal the host is typed after the environment's name; a wrong host restores nothing.
#[test]
fn at_a_terminal_the_foreign_host_is_typed() {
    let (dir, emu, file) = cleaned("restore-foreign-pty");
    let cfg = restore_cfg();
    let args = [
        "restore",
        file.as_str(),
        "--no-color",
        "-f",
        &cfg,
        "--emulator-url",
        &emu.url,
    ];
    let projects = |d: &Path| {
        count(
            &status(d, &restore_cfg(), &emu),
            "DualWriteProjectConfiguration",
        )
    };
    let settled = projects(&dir);
    let Some((rc, text)) =
        crate::harness::in_pty(&dir, &args, "contoso-uat\ncontoso-test.crm.dynamics.com\n")
    else {
        eprintln!("`script` is not installed: skipping the terminal test");
        return;
    };
    assert_eq!(rc, 3, "{text}");
    assert!(
        text.contains(&format!("Type the host ({PROD_HOST})")),
        "{text}"
    );
    assert_eq!(projects(&dir), settled, "nothing was restored");
    let (rc, text) =
        crate::harness::in_pty(&dir, &args, &format!("contoso-uat\n{PROD_HOST}\n")).unwrap();
    assert_eq!(rc, 0, "{text}");
    assert!(projects(&dir) > settled);
}
