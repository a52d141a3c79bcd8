//! Fleets: a directory of configs planned in one run against one emulated world.

use crate::support::{code, dwlink_live, root, scratch, stderr, stdout};

const WORLD: &str = "tests/fixtures/fleet-world.yaml";
const DIR: &str = "tests/fixtures/fleet";
const NAMES: [&str; 3] = ["contoso-uat", "contoso-dev", "contoso-devbox"];

#[test]
fn a_directory_is_planned_per_environment_with_a_summary_and_the_worst_exit_code() {
    let out = dwlink_live(
        &root(),
        &[
            "plan",
            "--no-color",
            "-f",
            DIR,
            "--emulator",
            WORLD,
            "--parallelism",
            "2",
        ],
    );
    // contoso-dev cannot reset (blank Power Platform link): the worst result is an error.
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // The table is a result: on stdout, with the config file each row came from.
    let table = stdout(&out);
    assert!(
        table.contains("ENVIRONMENT") && table.contains("FILE") && table.contains("RESULT"),
        "{table}"
    );
    assert!(table.contains("scenario-4-cloud-hosted.yaml"), "{table}");
    for n in NAMES {
        assert!(table.contains(n), "{n} in the summary: {table}");
        assert!(
            stdout(&out).contains(&format!("── {n} (")),
            "{n} has its own plan"
        );
    }
    assert!(table.contains("1 error finding(s)") && table.contains("changes"));
}

#[test]
fn shards_split_the_directory_without_overlap() {
    let mut seen = Vec::new();
    for shard in ["1/2", "2/2"] {
        let out = dwlink_live(
            &root(),
            &[
                "plan",
                "--json",
                "-f",
                DIR,
                "--emulator",
                WORLD,
                "--shard",
                shard,
            ],
        );
        assert!(code(&out) == 0 || code(&out) == 1, "{}", stderr(&out));
        let plans: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap_or_default();
        seen.extend(
            plans
                .iter()
                .map(|p| p["environment"]["name"].as_str().unwrap().to_string()),
        );
    }
    seen.sort();
    let mut want: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(seen, want);
}

#[test]
fn one_broken_config_does_not_stop_the_others_and_out_writes_a_plan_each() {
    let dir = scratch("fleet-broken");
    for n in ["scenario-1-same-organization", "scenario-4-cloud-hosted"] {
        std::fs::copy(
            root().join(DIR).join(format!("{n}.yaml")),
            dir.join(format!("{n}.yaml")),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("broken.yaml"),
        "apiVersion: dwlink/v1\nkind: Nope\n",
    )
    .unwrap();
    let plans = dir.join("plans");
    let world = root().join(WORLD).display().to_string();
    let out = dwlink_live(
        &dir,
        &[
            "plan",
            "-f",
            ".",
            "--emulator",
            &world,
            "--out",
            plans.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("error: dwlink::fleet::invalid_config"),
        "{}",
        stdout(&out)
    );
    // Named after the config files, not the environments, so configs of one environment never
    // overwrite each other's plans.
    assert!(plans.join("scenario-1-same-organization.plan").is_file());
    assert!(plans.join("scenario-4-cloud-hosted.plan").is_file());
}

#[test]
fn a_bad_shard_is_a_usage_error() {
    let out = dwlink_live(&root(), &["plan", "-f", DIR, "--shard", "4/3"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("not a shard"), "{}", stderr(&out));
}

#[test]
fn a_fleet_applies_one_environment_after_another_and_reports_the_worst() {
    let dir = scratch("fleet-apply");
    let world = root().join(WORLD).display().to_string();
    let envs = root().join(DIR).display().to_string();
    let out = dwlink_live(
        &dir,
        &[
            "apply",
            "--no-color",
            "-f",
            &envs,
            "--emulator",
            &world,
            "--auto-approve",
        ],
    );
    // contoso-dev's plan has an error finding: refused (3) is the worst result.
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let results = stdout(&out);
    let result_of = |env: &str| {
        results
            .lines()
            .find(|l| l.starts_with(&format!("{env} ")))
            .map(|l| l.rsplit("  ").next().unwrap().to_string())
            .unwrap_or_else(|| panic!("no row for {env}: {results}"))
    };
    assert_eq!(result_of("contoso-dev"), "refused", "{results}");
    assert_eq!(result_of("contoso-uat"), "applied", "{results}");
    assert_eq!(result_of("contoso-devbox"), "applied", "{results}");
    let backups = std::fs::read_dir(dir.join(".dwlink/backups"))
        .unwrap()
        .count();
    assert_eq!(backups, 2, "one backup per applied environment");

    let out = dwlink_live(
        &dir,
        &[
            "apply",
            "-f",
            &envs,
            "--emulator",
            &world,
            "--confirm",
            "contoso-uat",
        ],
    );
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("dwlink::apply::confirm_fleet"));
}

/// Two configs of contoso-uat (the same F&O environment), side by side in one directory.
fn two_configs_of_one_environment(name: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    let envs = dir.join("envs");
    std::fs::create_dir_all(&envs).unwrap();
    let original = root().join(DIR).join("scenario-1-same-organization.yaml");
    std::fs::copy(&original, envs.join("uat.yaml")).unwrap();
    std::fs::copy(&original, envs.join("uat-alternative.yaml")).unwrap();
    dir
}

#[test]
fn configs_of_one_environment_each_keep_their_plan_file() {
    let dir = two_configs_of_one_environment("fleet-one-env-plan");
    let world = root().join(WORLD).display().to_string();
    let out = dwlink_live(
        &dir,
        &[
            "plan",
            "--no-color",
            "-f",
            "envs",
            "--emulator",
            &world,
            "--out",
            "plans",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(dir.join("plans/uat.plan").is_file());
    assert!(dir.join("plans/uat-alternative.plan").is_file());
    let table = stdout(&out);
    assert!(
        table.contains("envs/uat.yaml") && table.contains("envs/uat-alternative.yaml"),
        "{table}"
    );
}

#[test]
fn configs_that_would_share_a_plan_file_are_refused_before_anything_is_read() {
    let dir = scratch("fleet-plan-clash");
    let original = root().join(DIR).join("scenario-1-same-organization.yaml");
    for sub in ["a", "b"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        std::fs::copy(&original, dir.join(sub).join("uat.yaml")).unwrap();
    }
    // No emulator and no tenant: a read would fail differently.
    let out = dwlink_live(&dir, &["plan", "-f", "a", "-f", "b", "--out", "plans"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("dwlink::fleet::plan_file_clash"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("plans/uat.plan"), "{}", stderr(&out));
    assert!(!dir.join("plans").exists());
}

#[test]
fn a_fleet_apply_of_two_configs_of_one_environment_is_refused_before_anything_is_read() {
    let dir = two_configs_of_one_environment("fleet-one-env-apply");
    let world = root().join(WORLD).display().to_string();
    let out = dwlink_live(
        &dir,
        &[
            "apply",
            "-f",
            "envs",
            "--emulator",
            &world,
            "--auto-approve",
        ],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("dwlink::fleet::duplicate_environment"),
        "{err}"
    );
    assert!(
        err.contains("uat.yaml") && err.contains("uat-alternative.yaml"),
        "{err}"
    );
    assert!(!err.contains("Fleet overview"), "{err}");
    assert!(
        !dir.join(".dwlink").exists(),
        "nothing was backed up or journaled"
    );
}

/// A fleet apply's `--json` stdout is one JSON object per line, each naming the environment and
/// config file it belongs to, and ends with the fleet's results.
#[test]
fn a_fleet_apply_under_json_tags_every_line_with_its_environment() {
    let dir = scratch("fleet-apply-json");
    let world = root().join(WORLD).display().to_string();
    let configs = root().join(DIR).display().to_string();
    let out = dwlink_live(
        &dir,
        &[
            "apply",
            "--json",
            "-f",
            &configs,
            "--emulator",
            &world,
            "--auto-approve",
        ],
    );
    assert!(code(&out) == 1 || code(&out) == 3, "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let (last, events) = lines.split_last().expect("some lines");
    assert!(!events.is_empty());
    for e in events {
        let env = e["environment"].as_str().unwrap_or_else(|| panic!("{e}"));
        assert!(NAMES.contains(&env), "{e}");
        assert!(e["file"].as_str().unwrap().ends_with(".yaml"), "{e}");
    }
    assert_eq!(last["event"], "fleet", "{last}");
    let results = last["results"].as_array().unwrap();
    assert_eq!(results.len(), NAMES.len(), "{last}");
    assert!(results.iter().any(|r| r["result"] == "applied"), "{last}");
    assert!(
        events
            .iter()
            .any(|e| e["environment"] == "contoso-dev" && e.get("error").is_some()),
        "the refused environment's error carries its name"
    );
}
