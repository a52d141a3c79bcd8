//! `dwlink import` against the emulator over HTTP: the imported config is valid (for dwlink and
//! for a JSON Schema validator) and planning it against the same live state gives an empty plan,
//! or, when the live state drifts by definition, only the reset that fixes it.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::{
    code, dwlink, dwlink_live, root, scratch, snapshot, stderr, stdout, Emulator,
};

/// Every example whose dual-write is connected where a reset would link it: each round-trips to
/// an empty plan.
const EXAMPLES: &[&str] = &[
    "scenario-1-same-organization",
    "scenario-3-no-power-platform-link",
    "scenario-4-cloud-hosted",
];

/// Examples connected elsewhere than the Power Platform link: the imported file declares the
/// link's organization, says what live showed instead, and its plan shows the cleanup.
/// `(example, connected to, declared)`.
const CONNECTED_ELSEWHERE: &[(&str, &str, &str)] = &[
    (
        "scenario-2-organization-mismatch",
        "https://contoso-test.crm.dynamics.com",
        "https://contoso-uat.crm.dynamics.com",
    ),
    (
        "restore-cleanup-from-production",
        "https://contoso-prod.crm.dynamics.com",
        "https://contoso-uat.crm.dynamics.com",
    ),
    (
        "protected-production",
        "https://contoso-uat.crm.dynamics.com",
        "https://contoso-prod.crm.dynamics.com",
    ),
];

const DRIFT_FIXTURE: &str = "tests/fixtures/import-drift.yaml";

fn import(config: &str, fixture: &str, out: &Path) {
    let o = dwlink_live(
        &root(),
        &[
            "import",
            "-f",
            config,
            "--emulator",
            fixture,
            "--out",
            &out.display().to_string(),
        ],
    );
    assert_eq!(code(&o), 0, "import {config}: {}", stderr(&o));
}

fn plan(config: &Path, fixture: &str, json: bool) -> crate::support::InProcess {
    let config = config.display().to_string();
    let mut args = vec![
        "plan",
        "--no-color",
        "--detailed-exitcode",
        "-f",
        &config,
        "--emulator",
        fixture,
    ];
    if json {
        args.push("--json");
    }
    dwlink_live(&root(), &args)
}

fn assert_valid(file: &Path) {
    let o = dwlink(
        &root(),
        &["validate", "--no-color", &file.display().to_string()],
    );
    assert_eq!(code(&o), 0, "{}: {}", file.display(), stderr(&o));
    assert!(
        !stderr(&o).contains("warning"),
        "{}: {}",
        file.display(),
        stderr(&o)
    );
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(root().join("schemas/dwlink.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let doc: Value = serde_saphyr::from_str(&fs::read_to_string(file).unwrap()).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{}: {errors:?}", file.display());
}

#[test]
fn every_example_imports_to_a_valid_config_with_an_empty_plan() {
    let dir = scratch("import-examples");
    for name in EXAMPLES {
        let out = dir.join(format!("{name}.yaml"));
        let fixture = format!("examples/fixtures/{name}.yaml");
        import(&format!("examples/{name}.yaml"), &fixture, &out);
        let text = fs::read_to_string(&out).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema="),
            "{name}: {text}"
        );
        assert!(text.contains("# Imported by dwlink"), "{name}");
        assert_valid(&out);
        let o = plan(&out, &fixture, false);
        // A world with rows that sync elsewhere cannot be declared as it is: the import says
        // so, and the plan of it resets (the examples' fixtures of scenarios 1, 3 and 4 are such
        // worlds, so that applying the example changes something once and then nothing).
        let drift = text.contains("rows syncing to another organization: a plan will reset");
        assert_eq!(
            code(&o) != 0,
            drift,
            "{name}: the plan is not as the import says:\n{}{}",
            stdout(&o),
            stderr(&o)
        );
    }
}

#[test]
fn an_example_connected_elsewhere_imports_to_the_cleanup_not_to_no_changes() {
    let dir = scratch("import-elsewhere");
    for (name, connected, declared) in CONNECTED_ELSEWHERE {
        let out = dir.join(format!("{name}.yaml"));
        let fixture = format!("examples/fixtures/{name}.yaml");
        import(&format!("examples/{name}.yaml"), &fixture, &out);
        let text = fs::read_to_string(&out).unwrap();
        assert!(
            text.contains(&format!(
                "# live: dual-write is connected to {connected} now; this file declares {declared}"
            )),
            "{name}: {text}"
        );
        assert_valid(&out);
        let o = plan(&out, &fixture, true);
        assert_ne!(code(&o), 0, "{name}: {}", stderr(&o));
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
        let kinds: Vec<&str> = v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap())
            .collect();
        // A plan with errors (a running map without `force`) plans nothing but names the
        // cleanup it withholds.
        let withheld = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "plan.withheld")
            .map(|f| f["message"].as_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            (kinds.contains(&"backup") && kinds.contains(&"reset-link"))
                || (kinds.is_empty()
                    && withheld.contains("backup ")
                    && withheld.contains("reset-link ")),
            "{name}: {kinds:?} {withheld}"
        );
    }
}

#[test]
fn import_declares_the_power_platform_link_and_protects_production() {
    let dir = scratch("import-declares");
    let out = dir.join("mismatch.yaml");
    import(
        "examples/scenario-2-organization-mismatch.yaml",
        "examples/fixtures/scenario-2-organization-mismatch.yaml",
        &out,
    );
    let doc: Value = serde_saphyr::from_str(&fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        doc["dataverse"]["url"],
        "https://contoso-uat.crm.dynamics.com"
    );
    assert_eq!(
        doc["dataverse"]["organization_id"],
        "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10"
    );
    assert_eq!(doc["link"]["reset_target"], "power-platform-link");
    assert_eq!(
        doc["reset"],
        serde_json::json!({"when": "on-mismatch", "force": false, "clear_tables": true})
    );
    assert_eq!(doc["auth"]["client_secret_env"], "DWLINK_CLIENT_SECRET");

    let out = dir.join("prod.yaml");
    import(
        "examples/protected-production.yaml",
        "examples/fixtures/protected-production.yaml",
        &out,
    );
    let doc: Value = serde_saphyr::from_str(&fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["metadata"]["protected"], true);
    assert_eq!(
        doc["link"]["legal_entities"],
        serde_json::json!(["DEMF", "GBSI", "USMF"])
    );
}

#[test]
fn drift_by_definition_is_noted_and_planned_as_only_the_reset() {
    let dir = scratch("import-drift");
    let out = dir.join("drift.yaml");
    import(
        "examples/scenario-1-same-organization.yaml",
        DRIFT_FIXTURE,
        &out,
    );
    let text = fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("# live state has rows syncing to another organization: a plan will reset"),
        "{text}"
    );
    assert!(text.contains("SecureConfig"), "{text}");
    assert_valid(&out);
    let o = plan(&out, DRIFT_FIXTURE, true);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let kinds: Vec<&str> = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "backup",
            "clear-table",
            "clear-table",
            "reset-link",
            "verify"
        ]
    );
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] != "error"),
        "{v}"
    );
}

#[test]
fn imported_yaml_is_stable() {
    let name = "scenario-2-organization-mismatch";
    let o = dwlink_live(
        &root(),
        &[
            "import",
            "-f",
            &format!("examples/{name}.yaml"),
            "--emulator",
            &format!("examples/fixtures/{name}.yaml"),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The version and the time of the import change; nothing else may.
    let text: String = stdout(&o)
        .lines()
        .map(|l| {
            if l.starts_with("# Imported by dwlink ") {
                "# Imported by dwlink <version> at <timestamp>"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    snapshot(&format!("import__{name}"), &text);
}

#[test]
fn import_reads_a_running_emulator() {
    // A settled world (the example applied once): its import declares the live state as it is,
    // so planning the import finds nothing to do. An unsettled world's import declares what a
    // reset would link to and plans the cleanup (the tests above).
    let dir = scratch("import-url");
    let emu = Emulator::start(
        &root().join("examples/fixtures/scenario-1-same-organization.yaml"),
        &dir.join("state.json"),
    );
    let o = dwlink_live(
        &dir,
        &[
            "apply",
            "-f",
            &root()
                .join("examples/scenario-1-same-organization.yaml")
                .display()
                .to_string(),
            "--emulator-url",
            &emu.url,
            "--auto-approve",
        ],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = dir.join("imported.yaml");
    let o = dwlink_live(
        &root(),
        &[
            "import",
            "-f",
            "examples/scenario-1-same-organization.yaml",
            "--emulator-url",
            &emu.url,
            "--out",
            &out.display().to_string(),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "--out writes the file, not stdout");
    let config = out.display().to_string();
    let o = dwlink_live(
        &root(),
        &[
            "plan",
            "--detailed-exitcode",
            "-f",
            &config,
            "--emulator-url",
            &emu.url,
        ],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}
