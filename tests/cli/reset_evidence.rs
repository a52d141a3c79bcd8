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
