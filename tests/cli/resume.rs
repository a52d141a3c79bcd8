//! An apply killed at any point is finished by running it again, with the emulator restarted
//! from its `--state` file in between, and every row it deleted is in some backup.
//!
//! Kill points are exact thanks to the `DWLINK_TEST_CRASH_AT` hook (src/apply/crash.rs), which
//! aborts the process like `kill -9`; one test also kills with a real SIGKILL.

use std::path::Path;

use crate::harness::{
    all, apply, assert_all_backed_up, assert_settled_on_uat, backup_files, journals, live_keys,
    path, restore_cfg, start_emu, status, wait_for_journal, Emu, MISMATCH, RESTORED,
};
use crate::support::{scratch, stderr};

fn crash_then_resume(point: &str) -> std::path::PathBuf {
    let dir = scratch(&format!("resume-{}", point.replace([':', '#'], "-")));
    let state = dir.join("world.json");
    let cfg = restore_cfg();
    let emu = start_emu(&path(RESTORED), &state, &[]);
    let before = live_keys(&status(&dir, &cfg, &emu));

    let out = apply(&dir, &cfg, &emu, &[("DWLINK_TEST_CRASH_AT", point)]);
    assert_eq!(
        out.status.code(),
        None,
        "the hook at {point} aborts the process: {}",
        all(&out)
    );
    assert!(!all(&out).contains("Apply complete"));

    // The services outlive the client, but prove the state file carries them over too.
    drop(emu);
    let emu = start_emu(&path(RESTORED), &state, &[]);
    let out = apply(&dir, &cfg, &emu, &[]);
    let text = all(&out);
    assert_eq!(out.status.code(), Some(0), "resume after {point}: {text}");
    assert!(text.contains("Found an unfinished apply"), "{text}");
    assert!(
        text.contains("live state matches the declaration"),
        "{text}"
    );

    assert_settled_on_uat(&status(&dir, &cfg, &emu));
    assert_all_backed_up(&dir, &before);
    dir
}

macro_rules! killed_at {
    ($($name:ident => $point:literal),* $(,)?) => {$(
        #[test]
        fn $name() {
            crash_then_resume($point);
        }
    )*};
}

killed_at! {
    killed_after_stop_maps => "done:stop-maps",
    killed_after_backup => "done:backup",
    killed_after_clearing_before_journaling => "effect:clear-table#2",
    killed_as_the_reset_starts => "start:reset-link",
    killed_after_reset_before_journaling => "effect:reset-link",
    killed_after_apply_solutions => "done:apply-solutions",
    killed_before_verify => "start:verify",
}

#[test]
fn killed_mid_backup_leaves_only_a_partial_file_and_resume_backs_up_again() {
    let dir = crash_then_resume("backup-row#100");
    let partial: Vec<_> = std::fs::read_dir(dir.join(".dwlink/backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "partial"))
        .collect();
    assert_eq!(partial.len(), 1, "the interrupted backup stays .partial");
    assert_eq!(
        backup_files(&dir).len(),
        1,
        "one complete backup: the resumed one"
    );
}

#[test]
fn killed_mid_clear_backs_up_the_remaining_rows_in_a_new_file() {
    // Slices 1 and 2 are the first 500 of the 600 project rows; the rest and the runtime rows
    // are left for the resumed apply.
    let dir = crash_then_resume("delete-chunk#2");
    assert_eq!(
        backup_files(&dir).len(),
        2,
        "a second backup of what was left"
    );
}

#[test]
fn killed_after_the_reset_took_effect_the_steps_after_it_are_carried_over() {
    // on-mismatch: once relinked, a fresh plan has no reset, so only the journal knows that
    // legal entities, solutions and maps are still to do.
    let dir = scratch("resume-carry");
    let state = dir.join("world.json");
    let cfg = path("examples/scenario-2-organization-mismatch.yaml");
    let emu = start_emu(&path(MISMATCH), &state, &[]);
    let before = live_keys(&status(&dir, &cfg, &emu));
    let out = apply(
        &dir,
        &cfg,
        &emu,
        &[("DWLINK_TEST_CRASH_AT", "effect:reset-link")],
    );
    assert_eq!(out.status.code(), None, "{}", all(&out));

    let out = apply(&dir, &cfg, &emu, &[]);
    let text = all(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("reset-link"), "no second reset: {text}");
    for step in ["apply-solutions", "start-maps"] {
        assert!(
            text.contains(&format!("carried over from the unfinished apply: {step}")),
            "{step}: {text}"
        );
    }
    let settled = status(&dir, &cfg, &emu);
    let maps = settled["live"]["connection"]["maps"].as_array().unwrap();
    assert!(
        maps.iter()
            .any(|m| m["name"] == "Customers V3 (accounts)" && m["state"] == "running"),
        "{maps:?}"
    );
    assert_all_backed_up(&dir, &before);
    assert!(journals(&dir).contains("superseded by plan"));
}

#[test]
fn resume_refuses_when_the_reset_target_moved() {
    let dir = scratch("resume-target");
    let state = dir.join("world.json");
    let cfg = restore_cfg();
    let emu = start_emu(&path(RESTORED), &state, &[]);
    let out = apply(
        &dir,
        &cfg,
        &emu,
        &[("DWLINK_TEST_CRASH_AT", "done:stop-maps")],
    );
    assert_eq!(out.status.code(), None, "{}", all(&out));
    drop(emu);

    // Meanwhile someone points the Power Platform link at production.
    let mut world: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let link = &mut world["world"]["fo"][0]["power_platform_link"];
    let moved = link
        .as_str()
        .unwrap()
        .replace("contoso-uat", "contoso-prod");
    *link = moved.into();
    std::fs::write(&state, world.to_string()).unwrap();

    let emu = start_emu(&path(RESTORED), &state, &[]);
    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", all(&out));
    assert!(
        stderr(&out).contains("dwlink::apply::target_changed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        backup_files(&dir).len(),
        0,
        "nothing was backed up or deleted"
    );
}

fn spawn_apply(dir: &Path, emu: &Emu) -> std::process::Child {
    crate::harness::command(
        dir,
        &[
            "apply",
            "--no-color",
            "-f",
            &restore_cfg(),
            "--emulator-url",
            &emu.url,
            "--auto-approve",
        ],
        &[],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("spawn apply")
}

#[test]
fn a_real_sigkill_mid_clear_is_finished_by_the_next_apply() {
    let dir = scratch("resume-sigkill");
    let state = dir.join("world.json");
    let cfg = restore_cfg();
    // Slow requests so the kill lands while the tables are being cleared.
    let emu = start_emu(&path(RESTORED), &state, &["--latency-ms", "40"]);
    let before = live_keys(&status(&dir, &cfg, &emu));
    let mut child = spawn_apply(&dir, &emu);
    let reached = wait_for_journal(&dir, &["\"start\"", "clear-table"], 30);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(reached, "the apply reached clear-table");

    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert_settled_on_uat(&status(&dir, &cfg, &emu));
    assert_all_backed_up(&dir, &before);
}

#[test]
fn ctrl_c_stops_after_the_current_step_and_says_how_to_resume() {
    let dir = scratch("resume-ctrl-c");
    let state = dir.join("world.json");
    let cfg = restore_cfg();
    let emu = start_emu(&path(RESTORED), &state, &["--latency-ms", "40"]);
    let before = live_keys(&status(&dir, &cfg, &emu));
    let child = spawn_apply(&dir, &emu);
    assert!(wait_for_journal(&dir, &["\"start\"", "backup"], 30));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let text = all(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("stopping after the current step"), "{text}");
    // The hint is the command as it was typed.
    assert!(
        text.contains(&format!(
            "Run `dwlink apply -f {} --emulator-url {}/ --auto-approve` again to finish",
            restore_cfg(),
            emu.url.trim_end_matches('/')
        )),
        "{text}"
    );
    assert!(journals(&dir).contains("\"event\":\"interrupted\""));
    // The step under way (the backup) finished before stopping.
    assert_eq!(backup_files(&dir).len(), 1);

    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert_settled_on_uat(&status(&dir, &cfg, &emu));
    assert_all_backed_up(&dir, &before);
}
