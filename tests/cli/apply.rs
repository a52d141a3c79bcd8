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

fn live(dir: &Path, args: &[&str]) -> crate::support::InProcess {
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
    // Only the sets F&O serves: the field configurations and business events are the reset's.
    assert_eq!(rows, 120 + 12);
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
            "--allow-foreign",
            "contoso-prod.crm.dynamics.com",
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
        stdout(&out).contains("nothing to restore"),
        "{}",
        stdout(&out)
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
    // The hint names this plan's file and this run's routes, not placeholders.
    assert!(
        stderr(&out).contains(&format!(
            "`dwlink plan --out {plan} --emulator-url {}",
            emu.url.trim_end_matches('/')
        )),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("PLAN`"), "{}", stderr(&out));
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

// ---------------------------------------------------------------------------------------------
// Guards, prompts, events, restore and faults (small worlds from tests/fixtures/worlds/).

use crate::harness::{
    all, apply, assert_all_backed_up, assert_no_secrets, assert_settled_on_uat, backed_up,
    backup_files, in_pty, journals, live_keys, path, restore_cfg, run, start_emu, Emu, RESTORED,
};

fn saved_plan(dir: &Path, emu: &Emu) -> String {
    let plan = dir.join("reset.plan").display().to_string();
    let out = run(
        dir,
        &[
            "plan",
            "-f",
            &restore_cfg(),
            "--emulator-url",
            &emu.url,
            "--out",
            &plan,
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    plan
}

#[test]
fn every_example_applies_end_to_end_or_is_refused_by_its_guard() {
    let cases = [
        (
            "scenario-1-same-organization",
            0,
            "live state matches the declaration",
        ),
        (
            "scenario-2-organization-mismatch",
            0,
            "live state matches the declaration",
        ),
        (
            "scenario-3-no-power-platform-link",
            3,
            "dwlink::apply::findings",
        ),
        (
            "scenario-4-cloud-hosted",
            0,
            "live state matches the declaration",
        ),
        ("protected-production", 3, "dwlink::apply::protected"),
        (
            "restore-cleanup-from-production",
            0,
            "live state matches the declaration",
        ),
    ];
    for (name, want, says) in cases {
        let dir = scratch(&format!("apply-example-{name}"));
        let cfg = path(&format!("examples/{name}.yaml"));
        let fx = path(&format!("examples/fixtures/{name}.yaml"));
        let out = run(
            &dir,
            &["apply", "-f", &cfg, "--emulator", &fx, "--auto-approve"],
            &[],
        );
        assert_eq!(code(&out), want, "{name}: {}", all(&out));
        assert!(all(&out).contains(says), "{name}: {}", all(&out));
        if want == 3 {
            assert!(
                backup_files(&dir).is_empty(),
                "{name}: refused before any backup"
            );
        }
    }
}

#[test]
fn a_plan_from_another_dwlink_version_is_refused() {
    let dir = scratch("apply-version");
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let plan = saved_plan(&dir, &emu);
    let mut p: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    p["dwlink_version"] = "0.0.1-older".into();
    std::fs::write(&plan, p.to_string()).unwrap();
    let out = run(
        &dir,
        &["apply", &plan, "--emulator-url", &emu.url, "--auto-approve"],
        &[],
    );
    assert_eq!(code(&out), 3, "{}", all(&out));
    assert!(
        stderr(&out).contains("dwlink::apply::version"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_plan_for_another_environment_is_refused() {
    let dir = scratch("apply-other-env");
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let plan = saved_plan(&dir, &emu);
    let other = path("examples/scenario-4-cloud-hosted.yaml");
    let out = run(
        &dir,
        &[
            "apply",
            &plan,
            "-f",
            &other,
            "--emulator-url",
            &emu.url,
            "--auto-approve",
        ],
        &[],
    );
    assert_eq!(code(&out), 3, "{}", all(&out));
    assert!(
        stderr(&out).contains("dwlink::apply::environment_mismatch"),
        "{}",
        stderr(&out)
    );
    assert!(backup_files(&dir).is_empty());
}

#[test]
fn typing_the_name_at_the_prompt_applies_and_anything_else_refuses() {
    let dir = scratch("apply-pty");
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let cfg = restore_cfg();
    let args = ["apply", "-f", &cfg, "--emulator-url", &emu.url];
    let Some((rc, text)) = in_pty(&dir, &args, "contoso-prod\n") else {
        eprintln!("util-linux `script` is not installed: prompt tests skipped");
        return;
    };
    assert_eq!(rc, 3, "{text}");
    assert!(
        text.contains("Type the environment name (contoso-uat)"),
        "{text}"
    );
    assert!(
        text.contains("Plan: "),
        "the prompt shows the summary: {text}"
    );
    // Once: the rendered plan ends with it, so the prompt does not repeat it.
    assert_eq!(text.matches("Plan: ").count(), 1, "{text}");
    assert!(text.contains("apply cancelled"), "{text}");
    assert!(backup_files(&dir).is_empty());

    // --input=false never prompts, even on a terminal.
    let mut quiet = vec!["--input=false"];
    quiet.extend(args);
    let (rc, text) = in_pty(&dir, &quiet, "contoso-uat\n").unwrap();
    assert_eq!(rc, 3, "{text}");
    assert!(!text.contains("Type the environment name"), "{text}");
    assert!(text.contains("dwlink::apply::not_confirmed"), "{text}");

    let (rc, text) = in_pty(&dir, &args, "contoso-uat\n").unwrap();
    assert_eq!(rc, 0, "{text}");
    assert!(text.contains("Apply complete"), "{text}");
    // On a terminal the waits for asynchronous requests show a live bar.
    assert!(text.contains("requests completed"), "{text}");
}

#[test]
fn without_a_terminal_there_are_no_bars_and_json_is_one_event_per_line() {
    let dir = scratch("apply-json");
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let out = apply(&dir, &restore_cfg(), &emu, &[]);
    assert_eq!(code(&out), 0, "{}", all(&out));
    assert!(!stderr(&out).contains('\r') && !stderr(&out).contains("requests completed"));

    let dir = scratch("apply-json-2");
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let cfg = restore_cfg();
    let out = run(
        &dir,
        &[
            "apply",
            "--json",
            "-f",
            &cfg,
            "--emulator-url",
            &emu.url,
            "--confirm",
            "contoso-uat",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let events: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let starts: Vec<&Value> = events.iter().filter(|e| e["event"] == "start").collect();
    let dones: Vec<&Value> = events.iter().filter(|e| e["event"] == "done").collect();
    assert_eq!(starts.len(), 11, "one start per step: {events:?}");
    assert_eq!(dones.len(), starts.len());
    assert!(events
        .iter()
        .any(|e| e["event"] == "progress" && e["unit"] == "rows" && e["of"] == 600));
    let last = events.last().unwrap();
    assert_eq!(last["event"], "summary");
    assert_eq!(last["rows_deleted"], 600 + 6);
    assert!(std::path::Path::new(&dir)
        .join(last["backup"].as_str().unwrap())
        .exists());
}

#[test]
fn restore_reproduces_the_deleted_rows_column_by_column() {
    let dir = scratch("apply-restore-exact");
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let cfg = restore_cfg();
    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(code(&out), 0, "{}", all(&out));
    let first = backed_up(&dir);
    let file = backup_files(&dir)[0].display().to_string();

    let out = run(
        &dir,
        &["restore", &file, "-f", &cfg, "--emulator-url", &emu.url],
        &[],
    );
    assert_eq!(
        code(&out),
        3,
        "restore asks for its own confirmation: {}",
        all(&out)
    );
    let out = run(
        &dir,
        &[
            "restore",
            &file,
            "-f",
            &cfg,
            "--emulator-url",
            &emu.url,
            "--confirm",
            "contoso-uat",
            "--allow-foreign",
            "contoso-prod.crm.dynamics.com",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", all(&out));
    assert!(
        stdout(&out).contains("rows to put back"),
        "restore shows its plan"
    );

    // Read the live rows back, every column, through a second backup (the restored rows are
    // production's again: evidence the RestoreCleanup clears) and compare them with the first.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(code(&out), 0, "{}", all(&out));
    let second = backup_files(&dir)[1].display().to_string();
    let again: Value = serde_json::from_str(&std::fs::read_to_string(&second).unwrap()).unwrap();
    let mut live = std::collections::BTreeMap::new();
    for t in again["tables"].as_array().unwrap() {
        for r in t["rows"].as_array().unwrap() {
            let table = t["table"].as_str().unwrap();
            live.insert(
                (table.to_string(), crate::harness::row_key(table, r)),
                r.clone(),
            );
        }
    }
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("@odata.etag");
        v
    };
    let mut compared = 0;
    for (table, rows) in &first {
        for (key, row) in rows {
            let back = live
                .get(&(table.clone(), key.clone()))
                .unwrap_or_else(|| panic!("{table} {key} was not restored"));
            assert_eq!(strip(back), strip(row), "{table} {key}");
            compared += 1;
        }
    }
    assert_eq!(compared, 600 + 6);
}

#[test]
fn no_secret_or_token_reaches_output_plan_journal_or_backup() {
    let dir = scratch("apply-secrets");
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let cfg = restore_cfg();
    let plan = saved_plan(&dir, &emu);
    let out = run(
        &dir,
        &[
            "-v",
            "apply",
            &plan,
            "--emulator-url",
            &emu.url,
            "--auto-approve",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", all(&out));
    let applied = all(&out);
    let out = run(
        &dir,
        &[
            "-v",
            "status",
            "--json",
            "-f",
            &cfg,
            "--emulator-url",
            &emu.url,
        ],
        &[],
    );
    let status = all(&out);
    // Live fingerprints are 64 hex digits like the emulator's tokens: name them as known.
    let plan_text = std::fs::read_to_string(&plan).unwrap();
    let mut fingerprints = Vec::new();
    for doc in [plan_text.as_str(), stdout(&out).as_str()] {
        let v: Value = serde_json::from_str(doc).unwrap();
        fingerprints.push(v["live_fingerprint"].as_str().unwrap().to_string());
    }
    // So are the plan digests the journal's `begin` lines record.
    for line in journals(&dir).lines() {
        if let Some(d) = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v["plan_digest"].as_str().map(str::to_string))
        {
            fingerprints.push(d);
        }
    }
    assert_no_secrets("apply output", &applied, &fingerprints);
    assert_no_secrets("status output", &status, &fingerprints);
    assert_no_secrets("the plan", &plan_text, &fingerprints);
    assert_no_secrets("the journal", &journals(&dir), &fingerprints);
    for b in backup_files(&dir) {
        let text = std::fs::read_to_string(&b).unwrap();
        assert!(!text.contains(crate::support::SECRET) && !text.contains("Bearer "));
        assert!(!text.contains("access_token") && !text.contains("refresh_token"));
    }
}

/// Faults: the apply either finishes (retries) or fails cleanly, and running it again finishes.
/// Exit 0 is only ever reported with a passing verify, which the live state confirms.
fn apply_through_faults(name: &str, faults: &[&str]) {
    let dir = scratch(name);
    let state = dir.join("world.json");
    let cfg = restore_cfg();
    let before = {
        let calm = start_emu(&path(RESTORED), &state, &[]);
        live_keys(&crate::harness::status(&dir, &cfg, &calm))
    };
    let emu = start_emu(&path(RESTORED), &state, faults);
    let mut attempts = Vec::new();
    for _ in 0..8 {
        let out = apply(&dir, &cfg, &emu, &[]);
        let text = all(&out);
        assert!(matches!(code(&out), 0 | 1), "{text}");
        attempts.push(code(&out));
        if code(&out) == 0 {
            assert!(
                text.contains("live state matches the declaration"),
                "{text}"
            );
            break;
        }
        assert!(
            text.contains("dwlink apply"),
            "a failure says how to finish: {text}"
        );
    }
    assert_eq!(
        attempts.last(),
        Some(&0),
        "finished within 8 runs: {attempts:?}"
    );
    drop(emu);
    let calm = start_emu(&path(RESTORED), &state, &[]);
    assert_settled_on_uat(&crate::harness::status(&dir, &cfg, &calm));
    assert_all_backed_up(&dir, &before);
}

#[test]
fn apply_survives_5xx_and_dropped_connections() {
    apply_through_faults(
        "apply-faults",
        &["--fail-rate", "0.2", "--drop-rate", "0.1", "--seed", "7"],
    );
}

#[test]
fn apply_survives_a_429_storm() {
    apply_through_faults("apply-429", &["--rate-limit", "20/s", "--seed", "3"]);
}

#[test]
fn a_request_that_ends_in_error_fails_its_step_and_the_apply() {
    let dir = scratch("apply-request-error");
    // The emulator makes the Start of this map end in `Error` (an initial sync that fails).
    let world = std::fs::read_to_string(path(RESTORED)).unwrap().replace(
        "      legal_entities: [USMF, DEMF]\n",
        "      legal_entities: [USMF, DEMF]\n      failing_maps: [Customers V3 (accounts)]\n",
    );
    let fixture = dir.join("failing.yaml");
    std::fs::write(&fixture, world).unwrap();
    let out = run(
        &dir,
        &[
            "apply",
            "--no-color",
            "-f",
            &restore_cfg(),
            "--emulator",
            fixture.to_str().unwrap(),
            "--auto-approve",
        ],
        &[],
    );
    let text = all(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(
        text.contains("initial sync of map Customers V3 (accounts) failed"),
        "{text}"
    );
    assert!(!text.contains("Apply complete"), "{text}");
    assert!(
        journals(&dir).contains("\"event\":\"failed\""),
        "{}",
        journals(&dir)
    );
}

/// The journal decides how an apply resumes and the backup holds connection strings: both stay
/// private under a permissive umask, and state directories left looser by an older dwlink are
/// tightened.
#[cfg(unix)]
#[test]
fn state_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = crate::support::scratch("apply-private");
    let state = dir.join(".dwlink");
    std::fs::create_dir_all(state.join("journal")).unwrap();
    for d in [&state, &state.join("journal")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let out = std::process::Command::new("sh")
        .args(["-c", "umask 000; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_dwlink"))
        .args(["apply", "--no-color", "-f", &restore_cfg(), "--emulator"])
        .arg(path(RESTORED))
        .arg("--auto-approve")
        .current_dir(&dir)
        .env_remove("NO_COLOR")
        .env("DWLINK_CLIENT_SECRET", SECRET)
        .env(crate::harness::LOCK_DIR_ENV, crate::harness::lock_dir(&dir))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", all(&out));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for d in ["", "journal", "backups"] {
        let d = state.join(d);
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    let files = walk(&state);
    assert!(files.len() >= 2, "a journal and a backup: {files:?}");
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
