//! No corrupted, short or empty backup read lets a delete or a reset happen, and a plan read of a
//! mistyped fact column is a bad reply, never "No changes": `dwlink apply` and `dwlink plan`
//! against the emulator through a proxy that rewrites the services' replies.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::rewrite_proxy::{Rewrite, RewriteProxy};
use crate::support::{code, dwlink_live, root, scratch, stderr, stdout, Emulator};

const NAME: &str = "restore-cleanup-from-production";
const PROJECTS: &str = "/data/DualWriteProjectConfigurations";

fn cfg() -> String {
    root()
        .join(format!("examples/{NAME}.yaml"))
        .display()
        .to_string()
}

fn status(dir: &Path, url: &str) -> Value {
    let out = dwlink_live(
        dir,
        &["status", "--json", "-f", &cfg(), "--emulator-url", url],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn rows(status: &Value) -> Vec<(String, usize)> {
    status["live"]["key_tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_string(),
                t["keys"].as_array().map_or(0, Vec::len),
            )
        })
        .collect()
}

/// Rewrites the rows of the backup read of the project configurations (the read without
/// `$select`; the plan's read selects its columns).
fn on_backup_read(
    change: impl Fn(&mut Vec<Value>, &mut serde_json::Map<String, Value>) + Send + Sync + 'static,
) -> Rewrite {
    Arc::new(move |path, query, json| {
        if !path.ends_with(PROJECTS) || query.contains("%24select") || query.contains("$select") {
            return false;
        }
        let Some(page) = json.as_object_mut() else {
            return false;
        };
        let mut rows = match page.remove("value") {
            Some(Value::Array(rows)) => rows,
            _ => return false,
        };
        change(&mut rows, page);
        page.insert("value".into(), Value::Array(rows));
        true
    })
}

/// The apply through the proxy stops at its backup, exit 1, with the numbers; the emulator's
/// tables and link are as they were.
fn apply_stops_at_the_backup(test: &str, rewrite: Rewrite, says: &[&str]) {
    let dir = scratch(test);
    let emu = Emulator::start(
        &root().join(format!("examples/fixtures/{NAME}.yaml")),
        &dir.join("world.json"),
    );
    let before = status(&dir, &emu.url);
    let proxy = RewriteProxy::start(&emu.url, rewrite);
    let out = dwlink_live(
        &dir,
        &[
            "apply",
            "--no-color",
            "-f",
            &cfg(),
            "--emulator-url",
            &proxy.url,
            "--auto-approve",
        ],
    );
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(code(&out), 1, "{all}");
    assert!(
        !proxy.rewritten().is_empty(),
        "the proxy rewrote the backup read"
    );
    for s in says {
        assert!(all.contains(s), "{s:?} not in:\n{all}");
    }
    let after = status(&dir, &emu.url);
    assert_eq!(rows(&after), rows(&before), "no row was deleted");
    // The map stop before the backup stands (it is the plan's first step); the link is as it was.
    for field in ["organization", "legal_entities", "id"] {
        assert_eq!(
            after["live"]["connection"][field], before["live"]["connection"][field],
            "the link was not reset"
        );
    }
}

#[test]
fn a_backup_read_of_numbers_for_project_names_deletes_nothing_and_does_not_reset() {
    apply_stops_at_the_backup(
        "backup-numbers",
        on_backup_read(|rows, _| {
            for (i, r) in rows.iter_mut().enumerate() {
                r["ProjectName"] = Value::from(i);
            }
        }),
        &["ProjectName is a number, but the service states it as a string"],
    );
}

#[test]
fn a_backup_read_of_half_the_rows_deletes_nothing_and_says_how_many() {
    apply_stops_at_the_backup(
        "backup-half",
        on_backup_read(|rows, _| {
            let half = rows.len() / 2;
            rows.truncate(half);
        }),
        &[
            "the backup read of DualWriteProjectConfiguration returned",
            "of the 120 the plan counted",
            "nothing was deleted and the link was not reset",
        ],
    );
}

#[test]
fn an_empty_backup_page_deletes_nothing() {
    apply_stops_at_the_backup(
        "backup-empty",
        on_backup_read(|rows, page| {
            rows.clear();
            page.remove("@odata.nextLink");
        }),
        &["returned no rows, but the plan counted 120"],
    );
}

#[test]
fn a_plan_read_of_an_object_for_the_external_url_is_a_bad_reply_not_no_changes() {
    let dir = scratch("plan-object-url");
    let emu = Emulator::start(
        &root().join("examples/fixtures/restore-cleanup-from-production.yaml"),
        &dir.join("world.json"),
    );
    let proxy = RewriteProxy::start(
        &emu.url,
        Arc::new(|path, _, json| {
            let Some(rows) = path
                .ends_with(PROJECTS)
                .then(|| json.get_mut("value").and_then(Value::as_array_mut))
                .flatten()
            else {
                return false;
            };
            for r in rows {
                r["ExternalEnvironmentUrl"] =
                    serde_json::json!({"url": "https://contoso-prod.crm.dynamics.com"});
            }
            true
        }),
    );
    let out = dwlink_live(
        &dir,
        &[
            "plan",
            "--no-color",
            "-f",
            &cfg(),
            "--emulator-url",
            &proxy.url,
        ],
    );
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(code(&out), 1, "{all}");
    assert!(!all.contains("No changes"), "{all}");
    assert!(
        all.contains(
            "ExternalEnvironmentUrl is an object or array, but the service states it as a string"
        ),
        "{all}"
    );
}

/// A saved plan with its backup step removed (and its summary left as it was) deletes nothing
/// and does not reset: the executor holds the backup rule itself. (With plan re-derivation the
/// edit is refused earlier still; either way nothing is destroyed.)
#[test]
fn a_saved_plan_without_its_backup_step_destroys_nothing() {
    let dir = scratch("backup-removed");
    let emu = Emulator::start(
        &root().join(format!("examples/fixtures/{NAME}.yaml")),
        &dir.join("world.json"),
    );
    let before = status(&dir, &emu.url);
    let file = dir.join("cleanup.plan");
    let file_arg = file.display().to_string();
    let out = dwlink_live(
        &dir,
        &[
            "plan",
            "-f",
            &cfg(),
            "--emulator-url",
            &emu.url,
            "--out",
            &file_arg,
        ],
    );
    assert!(file.exists(), "{}", stderr(&out));
    let mut plan: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    plan["actions"]
        .as_array_mut()
        .unwrap()
        .retain(|a| a["kind"] != "backup");
    std::fs::write(&file, serde_json::to_vec_pretty(&plan).unwrap()).unwrap();

    let out = dwlink_live(
        &dir,
        &[
            "apply",
            &file_arg,
            "--no-color",
            "--emulator-url",
            &emu.url,
            "--auto-approve",
        ],
    );
    let all = format!("{}{}", stdout(&out), stderr(&out));
    // The re-derivation of the saved plan refuses it before the executor's own "backup first"
    // rule (tested against the FakeLink in dwlink-core's executor tests) is reached.
    assert_eq!(code(&out), 3, "{all}");
    assert!(all.contains("dwlink::plan::tampered"), "{all}");
    let after = status(&dir, &emu.url);
    assert_eq!(rows(&after), rows(&before), "no row was deleted: {all}");
    for field in ["organization", "legal_entities", "id"] {
        assert_eq!(
            after["live"]["connection"][field], before["live"]["connection"][field],
            "the link was not reset: {all}"
        );
    }
}
