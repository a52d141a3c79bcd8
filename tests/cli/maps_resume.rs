//! An apply of declared maps killed at any step around the reset is finished by ONE more apply,
//! by either command (`apply -f CONFIG` or the same `apply PLAN`): every declared map ends at its
//! version, with its keys, in its state, and the plan right after is empty. Killed after the reset
//! and before the solutions, the maps are gone from live state; the re-plan applies the solutions
//! and takes the interrupted plan's map steps for them.

use std::path::Path;

use serde_json::Value;

use crate::harness::{all, apply, path, run, start_emu, status, Emu};
use crate::maps::assert_declared;
use crate::support::{code, scratch, stdout};

use crate::maps::CFG;
const RESTORED: &str = "tests/fixtures/maps/restored.yaml";

fn plan_is_empty(dir: &Path, cfg: &str, emu: &Emu) {
    let out = run(
        dir,
        &["plan", "--json", "-f", cfg, "--emulator-url", &emu.url],
        &[],
    );
    let plan: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|_| panic!("plan --json: {}", all(&out)));
    assert_eq!(plan["actions"], serde_json::json!([]), "{plan}");
    assert_eq!(plan["summary"]["errors"], 0, "{plan}");
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

/// Killed at `point`, then one more apply: with the config, or with the saved plan.
fn killed_then_one_more_apply(point: &str, saved: bool) {
    let dir = scratch(&format!(
        "maps-resume-{}-{}",
        point.replace([':', '#'], "-"),
        if saved { "plan" } else { "config" }
    ));
    let cfg = path(CFG);
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let crash = [("DWLINK_TEST_CRASH_AT", point)];
    let plan_file = dir.join("maps.plan").display().to_string();
    let out = if saved {
        let out = run(
            &dir,
            &[
                "plan",
                "-f",
                &cfg,
                "--emulator-url",
                &emu.url,
                "--out",
                &plan_file,
            ],
            &[],
        );
        assert_eq!(code(&out), 0, "{}", all(&out));
        apply_plan(&dir, &plan_file, &emu, &crash)
    } else {
        apply(&dir, &cfg, &emu, &crash)
    };
    assert_eq!(out.status.code(), None, "killed at {point}: {}", all(&out));

    let out = if saved {
        apply_plan(&dir, &plan_file, &emu, &[])
    } else {
        apply(&dir, &cfg, &emu, &[])
    };
    let text = all(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "one more apply after {point}: {text}"
    );
    assert!(text.contains("Found an unfinished apply"), "{text}");
    assert!(
        text.contains("live state matches the declaration"),
        "{text}"
    );
    assert_declared(&status(&dir, &cfg, &emu));
    plan_is_empty(&dir, &cfg, &emu);
}

macro_rules! killed_at {
    ($($name:ident => $point:literal, $saved:literal),* $(,)?) => {$(
        #[test]
        fn $name() {
            killed_then_one_more_apply($point, $saved);
        }
    )*};
}

killed_at! {
    config_killed_after_the_reset_took_effect => "effect:reset-link", false,
    config_killed_after_the_reset => "done:reset-link", false,
    config_killed_as_the_solutions_start => "start:apply-solutions", false,
    config_killed_after_the_solutions => "done:apply-solutions", false,
    config_killed_after_the_keys => "done:set-integration-keys", false,
    plan_killed_after_the_reset_took_effect => "effect:reset-link", true,
    plan_killed_after_the_reset => "done:reset-link", true,
    plan_killed_after_a_version_switch => "done:switch-map-version", true,
    plan_killed_before_the_pause => "start:pause-maps", true,
}
