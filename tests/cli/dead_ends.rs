//! No dead ends: the command that was interrupted finishes the work, `plan` and `status` say
//! when an apply is unfinished and how to finish or end it, `dwlink journal` lists and discards
//! journals, and every command dwlink tells the user to run runs as printed.

use std::path::Path;

use crate::harness::{
    all, apply, assert_all_backed_up, assert_settled_on_uat, backup_files, journals, live_keys,
    path, restore_cfg, run, start_emu, status, Emu, RESTORED,
};
use crate::support::{code, scratch, stderr};

fn save_plan(dir: &Path, emu: &Emu) -> (String, String) {
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
    assert_eq!(code(&out), 0, "{}", all(&out));
    (plan, all(&out))
}

fn apply_plan(dir: &Path, plan: &str, emu: &Emu, env: &[(&str, &str)]) -> std::process::Output {
    run(
        dir,
        &[
            "apply",
            "--no-color",
            plan,
            "--emulator-url",
            &emu.url,
            "--auto-approve",
        ],
        env,
    )
}

/// The text between the backticks that follow `after`.
fn quoted_command(text: &str, after: &str) -> Vec<String> {
    let rest = &text[text
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} in {text}"))..];
    let start = rest.find('`').expect("a command in backticks") + 1;
    let len = rest[start..].find('`').expect("closing backtick");
    rest[start..start + len]
        .split_whitespace()
        // A URL prints with its trailing slash; the emulator's address is given without.
        .map(|w| w.trim_matches('\'').trim_end_matches('/').to_string())
        .collect()
}

fn saved_plan_killed_then_finished_by_the_same_command(point: &str) {
    let dir = scratch(&format!("dead-ends-{}", point.replace([':', '#'], "-")));
    let state = dir.join("world.json");
    let emu = start_emu(&path(RESTORED), &state, &[]);
    let before = live_keys(&status(&dir, &restore_cfg(), &emu));
    let (plan, _) = save_plan(&dir, &emu);

    let out = apply_plan(&dir, &plan, &emu, &[("DWLINK_TEST_CRASH_AT", point)]);
    assert_eq!(out.status.code(), None, "killed at {point}: {}", all(&out));

    let out = apply_plan(&dir, &plan, &emu, &[]);
    let text = all(&out);
    assert_eq!(code(&out), 0, "the same command after {point}: {text}");
    assert!(text.contains("Found an unfinished apply"), "{text}");
    assert!(
        text.contains("live state matches the declaration"),
        "{text}"
    );
    assert_settled_on_uat(&status(&dir, &restore_cfg(), &emu));
    assert_all_backed_up(&dir, &before);
    // Once more: the plan is done, which is no reason to refuse.
    let out = apply_plan(&dir, &plan, &emu, &[]);
    assert_eq!(code(&out), 0, "a third run: {}", all(&out));
    assert!(all(&out).contains("applied already"), "{}", all(&out));
}

macro_rules! saved_plan_killed_at {
    ($($name:ident => $point:literal),* $(,)?) => {$(
        #[test]
        fn $name() {
            saved_plan_killed_then_finished_by_the_same_command($point);
        }
    )*};
}

saved_plan_killed_at! {
    saved_plan_killed_after_backup => "done:backup",
    saved_plan_killed_mid_clear => "delete-chunk#2",
    saved_plan_killed_after_the_reset_took_effect => "effect:reset-link",
    saved_plan_killed_after_apply_solutions => "done:apply-solutions",
}

#[test]
fn a_saved_plan_with_the_id_of_an_unfinished_apply_but_other_contents_is_refused() {
    let dir = scratch("dead-ends-other-contents");
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let (plan, _) = save_plan(&dir, &emu);
    let out = apply_plan(
        &dir,
        &plan,
        &emu,
        &[("DWLINK_TEST_CRASH_AT", "done:backup")],
    );
    assert_eq!(out.status.code(), None, "{}", all(&out));
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("\"DEMF\"", "\"GBSI\"");
    std::fs::write(&plan, text).unwrap();
    let out = apply_plan(&dir, &plan, &emu, &[]);
    assert_eq!(code(&out), 3, "{}", all(&out));
    assert!(
        stderr(&out).contains("dwlink::plan::tampered"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_apply_stuck_on_target_changed_is_named_by_plan_and_status_and_ends_with_journal_discard() {
    let dir = scratch("dead-ends-discard");
    let state = dir.join("world.json");
    let cfg = restore_cfg();
    let emu = start_emu(&path(RESTORED), &state, &[]);
    let out = apply(
        &dir,
        &cfg,
        &emu,
        &[("DWLINK_TEST_CRASH_AT", "start:reset-link")],
    );
    assert_eq!(out.status.code(), None, "{}", all(&out));
    drop(emu);
    // The reset never ran, and the Power Platform link was moved meanwhile: finishing the apply
    // would relink elsewhere than it meant to, so apply refuses until the journal is ended.
    let mut world: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let link = &mut world["world"]["fo"][0]["power_platform_link"];
    *link = link
        .as_str()
        .unwrap()
        .replace("contoso-uat", "contoso-prod")
        .into();
    std::fs::write(&state, world.to_string()).unwrap();
    let emu = start_emu(&path(RESTORED), &state, &[]);

    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(code(&out), 3, "{}", all(&out));
    assert!(stderr(&out).contains("dwlink::apply::target_changed"));
    assert!(
        stderr(&out).contains("dwlink journal discard"),
        "{}",
        stderr(&out)
    );

    for command in ["plan", "status"] {
        let out = run(
            &dir,
            &[command, "-f", &cfg, "--emulator-url", &emu.url],
            &[],
        );
        let text = all(&out);
        assert!(text.contains("did not finish"), "{command}: {text}");
        let finish = quoted_command(&text, "Finish it with");
        assert_eq!(
            finish,
            ["dwlink", "apply", "-f", &cfg, "--emulator-url", &emu.url],
            "{command}: {text}"
        );
        assert!(text.contains("dwlink journal discard"), "{command}: {text}");
    }

    // The same journal kept elsewhere (a CI artifact) is found through `--state-dir` or
    // DWLINK_STATE_DIR, and the commands printed keep it.
    let kept = dir.join("kept-by-ci");
    std::fs::rename(dir.join(".dwlink"), &kept).unwrap();
    let kept_arg = kept.display().to_string();
    for by_env in [false, true] {
        let mut args = vec!["plan", "-f", &cfg, "--emulator-url", &emu.url];
        let env: Vec<(&str, &str)> = if by_env {
            vec![("DWLINK_STATE_DIR", kept_arg.as_str())]
        } else {
            args.extend(["--state-dir", kept_arg.as_str()]);
            vec![]
        };
        let text = all(&run(&dir, &args, &env));
        let finish = quoted_command(&text, "Finish it with");
        assert!(
            finish.ends_with(&["--state-dir".to_string(), kept_arg.clone()]),
            "{text}"
        );
        assert!(
            text.contains(&format!("{kept_arg}/backups/ (before any delete)"))
                || text.contains("Nothing planned"),
            "{text}"
        );
    }
    let text = all(&run(
        &dir,
        &["plan", "-f", &cfg, "--emulator-url", &emu.url],
        &[],
    ));
    assert!(!text.contains("did not finish"), "{text}");
    std::fs::rename(&kept, dir.join(".dwlink")).unwrap();

    let out = run(&dir, &["journal", "list", "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", all(&out));
    let listed: serde_json::Value = serde_json::from_str(&crate::support::stdout(&out)).unwrap();
    let id = listed[0]["plan_id"].as_str().unwrap().to_string();
    assert_eq!(listed[0]["state"], "unfinished");
    assert_eq!(listed[0]["environment"], "contoso-uat");

    // No terminal and no flag, or the wrong name: refused, the journal stays.
    for extra in [&[][..], &["--confirm", "contoso-prod"][..]] {
        let mut args = vec!["journal", "discard", &id];
        args.extend_from_slice(extra);
        let out = run(&dir, &args, &[]);
        assert_eq!(code(&out), 3, "{extra:?}: {}", all(&out));
    }
    let out = run(&dir, &["journal", "discard", "../../x"], &[]);
    assert_eq!(code(&out), 1, "{}", all(&out));
    assert!(stderr(&out).contains("dwlink::journal::bad_id"));

    let out = run(
        &dir,
        &["journal", "discard", &id, "--confirm", "contoso-uat"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", all(&out));
    assert!(journals(&dir).contains("discarded"));
    let out = run(&dir, &["plan", "-f", &cfg, "--emulator-url", &emu.url], &[]);
    assert!(!all(&out).contains("did not finish"), "{}", all(&out));
    // The apply now plans from live state alone: what refuses it is that plan's own finding (the
    // declared organization is not the moved link's), no longer the journal.
    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(code(&out), 3, "{}", all(&out));
    assert!(
        stderr(&out).contains("dwlink::apply::findings"),
        "{}",
        all(&out)
    );
    assert!(!stderr(&out).contains("target_changed"), "{}", all(&out));
    // Once the link is back, the same command applies, with a backup of what is still there.
    drop(emu);
    let mut world: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let link = &mut world["world"]["fo"][0]["power_platform_link"];
    *link = link
        .as_str()
        .unwrap()
        .replace("contoso-prod", "contoso-uat")
        .into();
    std::fs::write(&state, world.to_string()).unwrap();
    let emu = start_emu(&path(RESTORED), &state, &[]);
    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(code(&out), 0, "{}", all(&out));
    assert!(
        !all(&out).contains("Found an unfinished apply"),
        "{}",
        all(&out)
    );
    assert!(!backup_files(&dir).is_empty());
}

#[test]
fn the_apply_command_plan_prints_runs_as_printed() {
    let dir = scratch("dead-ends-hint");
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let (_, text) = save_plan(&dir, &emu);
    let mut words = quoted_command(&text, "Apply exactly this plan with");
    assert_eq!(words[..2], ["dwlink", "apply"], "{text}");
    assert!(words.contains(&"--emulator-url".to_string()), "{text}");
    words.push("--auto-approve".into());
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let out = run(&dir, &args, &[]);
    assert_eq!(code(&out), 0, "{}", all(&out));
}

#[test]
fn a_failed_step_names_the_command_that_finishes_it_as_typed() {
    let dir = scratch("dead-ends-failed");
    let world = std::fs::read_to_string(path(RESTORED)).unwrap().replace(
        "      legal_entities: [USMF, DEMF]\n",
        "      legal_entities: [USMF, DEMF]\n      failing_maps: [Customers V3 (accounts)]\n",
    );
    let fixture = dir.join("failing.yaml");
    std::fs::write(&fixture, world).unwrap();
    let emu = start_emu(fixture.to_str().unwrap(), &dir.join("world.json"), &[]);
    let cfg = restore_cfg();
    let out = run(
        &dir,
        &[
            "apply",
            "--no-color",
            "-f",
            &cfg,
            "--emulator-url",
            &emu.url,
            "--auto-approve",
            "--record",
            "first.har",
        ],
        &[],
    );
    let text = all(&out);
    assert_eq!(code(&out), 1, "{text}");
    let again = quoted_command(&text, "failed. Journal");
    assert_eq!(
        again,
        [
            "dwlink",
            "apply",
            "-f",
            &cfg,
            "--emulator-url",
            &emu.url,
            "--auto-approve",
            "--record",
            "first.har"
        ],
        "{text}"
    );
    // Run as printed, it finishes from the journal (the map fails again: the service's doing).
    let args: Vec<&str> = again[1..].iter().map(String::as_str).collect();
    let out = run(&dir, &args, &[]);
    assert!(
        all(&out).contains("Found an unfinished apply"),
        "{}",
        all(&out)
    );
    assert!(dir.join("first.har").exists());
}
