//! The reset on evidence through the binary, against the in-process emulator: a connection set
//! that does not say which organization dual-write uses is a plan error naming what it shows
//! (exit 1, so apply refuses before anything is done), and a scenario-2 reset that names another
//! organization than the current one carries the info finding that this rests on inference.

use std::path::Path;

use crate::support::{code, dwlink_live, root, scratch, stdout};

const EXAMPLE: &str = "scenario-2-organization-mismatch";

/// The scenario-2 example's fixture with `lines` added to its connection set.
fn fixture_with(dir: &Path, lines: &str) -> String {
    let text = std::fs::read_to_string(root().join(format!("examples/fixtures/{EXAMPLE}.yaml")))
        .unwrap()
        .replace(
            "      legal_entities: [USMF]\n",
            &format!("      legal_entities: [USMF]\n{lines}"),
        );
    let f = dir.join("world.yaml");
    std::fs::write(&f, text).unwrap();
    f.to_string_lossy().into_owned()
}

fn plan(fixture: &str) -> (i32, String) {
    let config = root().join(format!("examples/{EXAMPLE}.yaml"));
    let out = dwlink_live(
        &root(),
        &[
            "plan",
            "--no-color",
            "--detailed-exitcode",
            "-f",
            config.to_str().unwrap(),
            "--emulator",
            fixture,
        ],
    );
    (code(&out), stdout(&out))
}

#[test]
fn several_dataverse_entries_fail_the_plan_naming_them() {
    let dir = scratch("reset-evidence-several");
    let (code, text) = plan(&fixture_with(
        &dir,
        "      extra_dataverse: [https://contoso-uat.crm.dynamics.com]\n",
    ));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("dwlink::plan::connection.several-dataverse"),
        "{text}"
    );
    assert!(
        text.contains("contoso-test.crm.dynamics.com, contoso-uat.crm.dynamics.com"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_direct_url_its_environment_contradicts_fails_the_plan_naming_both() {
    let dir = scratch("reset-evidence-disagrees");
    let (code, text) = plan(&fixture_with(
        &dir,
        "      power_apps_environment_of: https://contoso-uat.crm.dynamics.com\n",
    ));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("dwlink::plan::connection.organization-disagrees"),
        "{text}"
    );
    assert!(
        text.contains("names Dataverse https://contoso-test.crm.dynamics.com (directUrl)")
            && text.contains(
                "is https://contoso-uat.crm.dynamics.com in the Power Platform admin API"
            ),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reset_to_the_power_platform_link_says_its_request_rests_on_inference() {
    let fixture = root().join(format!("examples/fixtures/{EXAMPLE}.yaml"));
    let (code, text) = plan(fixture.to_str().unwrap());
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("dwlink::plan::reset.body-inferred"), "{text}");
    assert!(text.contains("no public evidence"), "{text}");
}

/// Issue 21: `reset_target: current-environment` while the current organization differs from
/// the Power Platform link stopped maps and deleted rows, then failed ("no public request does
/// that"). The reset request now names the current environment, as DWA's does, and the emulator
/// honours it: the apply finishes linked to the current organization.
#[test]
fn current_environment_in_scenario_2_keeps_the_current_organization_end_to_end() {
    use crate::harness::{all, apply, start_emu, status};
    let dir = scratch("reset-evidence-current");
    let cfg = std::fs::read_to_string(root().join(format!("examples/{EXAMPLE}.yaml")))
        .unwrap()
        .replace(
            "  url: https://contoso-uat.crm.dynamics.com\n  organization_id: 4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10\n",
            "  url: https://contoso-test.crm.dynamics.com\n  organization_id: 9b3c1d2e-4f5a-4b6c-8d7e-0f1a2b3c4d5e\n",
        )
        .replace("reset_target: power-platform-link", "reset_target: current-environment")
        .replace("when: on-mismatch", "when: always");
    assert!(cfg.contains("contoso-test") && cfg.contains("current-environment"));
    let cfg_path = dir.join("current.yaml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let cfg = cfg_path.to_string_lossy().into_owned();
    let fixture = root().join(format!("examples/fixtures/{EXAMPLE}.yaml"));
    let emu = start_emu(fixture.to_str().unwrap(), &dir.join("state.json"), &[]);
    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let s = status(&dir, &cfg, &emu);
    let linked = s["live"]["connection"]["organization"]["url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(linked, "https://contoso-test.crm.dynamics.com/", "{s}");
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}
