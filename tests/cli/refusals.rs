//! A refusal apply would hit after it had begun is an error finding of the plan first: against
//! the emulator, a never-linked environment plans nothing destructive (exit 1), and apply
//! refuses before anything changes.

use serde_json::Value;

use crate::support::{code, dwlink_live, root, scratch, stderr, stdout, Emulator};

const NEVER_LINKED: &str = "tests/fixtures/worlds/never-linked.yaml";

fn cfg() -> String {
    root()
        .join("examples/restore-cleanup-from-production.yaml")
        .display()
        .to_string()
}

fn row_counts(dir: &std::path::Path, url: &str) -> Vec<usize> {
    let out = dwlink_live(
        dir,
        &["status", "--json", "-f", &cfg(), "--emulator-url", url],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["live"]["key_tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["keys"].as_array().map_or(0, Vec::len))
        .collect()
}

#[test]
fn a_never_linked_environment_is_an_error_finding_and_apply_deletes_nothing() {
    let dir = scratch("refusal-never-linked");
    let emu = Emulator::start(&root().join(NEVER_LINKED), &dir.join("world.json"));
    let before = row_counts(&dir, &emu.url);
    assert!(before.iter().sum::<usize>() > 0, "{before:?}");

    let out = dwlink_live(
        &dir,
        &[
            "plan",
            "--no-color",
            "--json",
            "-f",
            &cfg(),
            "--emulator-url",
            &emu.url,
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let plan: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let finding = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "connection.none")
        .unwrap_or_else(|| panic!("{plan}"));
    assert_eq!(finding["severity"], "error");
    assert!(finding["message"]
        .as_str()
        .unwrap()
        .contains("the dual-write service has no connection set"));
    assert_eq!(plan["actions"], serde_json::json!([]), "{plan}");

    let out = dwlink_live(
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
    assert_ne!(code(&out), 0, "{all}");
    assert!(
        all.contains("connection.none") || all.contains("no connection set"),
        "{all}"
    );
    assert_eq!(row_counts(&dir, &emu.url), before, "nothing was deleted");
    assert!(
        !dir.join(".dwlink/backups").exists()
            || std::fs::read_dir(dir.join(".dwlink/backups"))
                .unwrap()
                .next()
                .is_none(),
        "no backup was even needed"
    );
}
