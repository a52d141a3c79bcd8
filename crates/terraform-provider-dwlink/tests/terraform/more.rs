//! Import, refusals, validation and installing from a local mirror.

use crate::harness::{link_hcl, outside_config, Workspace, CLIENT, FO, GATEWAY, TENANT};

#[test]
fn import_by_fo_url_fills_the_attributes_and_plans_nothing() {
    let Some(ws) = Workspace::start("scenario-1-same-organization.yaml") else {
        return;
    };
    let declared = format!(
        r#"resource "dwlink_dual_write_link" "uat" {{
  name                      = "contoso-uat"
  finance_operations_url    = "{FO}"
  environment_type          = "sandbox"
  dataverse_url             = "https://contoso-uat.crm.dynamics.com"
  dataverse_organization_id = "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10"
  protected                 = false
  reset_target              = "power-platform-link"
  legal_entities            = ["USMF", "DEMF"]
  dual_write_service_url    = "{GATEWAY}"
  dual_write_service_auth   = "client-credentials"

  reset {{
    when         = "on-mismatch"
    force        = false
    clear_tables = true
  }}
}}
"#
    );
    // Settle the world first (its fixture holds rows copied from another organization): an
    // import declares what a reset links to, so only a settled link imports to "No changes".
    ws.dwlink_apply(&crate::harness::outside_config("USMF, DEMF", "on-mismatch"));
    ws.write(&declared);
    let import = ws.import("dwlink_dual_write_link.uat", FO);
    assert_eq!(import.code, 0, "{}", import.all());
    assert!(
        import.stdout.contains("Import successful"),
        "{}",
        import.stdout
    );
    let state = ws.tf(&["state", "show", "-no-color", "dwlink_dual_write_link.uat"]);
    for want in [
        "dataverse_url             = \"https://contoso-uat.crm.dynamics.com\"",
        "dataverse_organization_id = \"4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10\"",
        "reset_target              = \"power-platform-link\"",
        "environment_type          = \"sandbox\"",
        "\"DEMF\"",
    ] {
        assert!(state.stdout.contains(want), "{want}:\n{}", state.stdout);
    }
    let plan = ws.plan();
    assert_eq!(plan.code, 0, "{}", plan.all());

    let bad = ws.import("dwlink_dual_write_link.other", "not a url");
    assert_ne!(bad.code, 0);
}

/// A saved plan for a link not yet in state: Terraform plans it again before applying and refuses
/// itself when the steps moved (the provider's own `stale_plan` refusal covers links in state, in
/// lifecycle.rs). Either way no step runs: the provider never started an apply.
#[test]
fn a_stale_saved_plan_for_a_new_link_runs_nothing() {
    let Some(ws) = Workspace::start("scenario-2-organization-mismatch.yaml") else {
        return;
    };
    ws.write(&link_hcl("contoso-uat", "\"USMF\"", false));
    let saved = ws.tf(&["plan", "-no-color", "-input=false", "-out=tfplan"]);
    assert_eq!(saved.code, 0, "{}", saved.all());
    assert!(
        saved.stdout.contains("reset-link: relink"),
        "{}",
        saved.stdout
    );
    // What a CI policy reads (README, "Using dwlink from Terraform"): the steps in the saved plan.
    let shown = ws.tf(&["show", "-json", "tfplan"]);
    assert_eq!(shown.code, 0, "{}", shown.all());
    let json: serde_json::Value = serde_json::from_str(&shown.stdout).expect("show -json");
    let after = &json["resource_changes"][0]["change"]["after"];
    assert_eq!(
        json["resource_changes"][0]["type"],
        "dwlink_dual_write_link"
    );
    let actions: Vec<&str> = after["planned_actions"]
        .as_array()
        .expect("planned_actions")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        actions
            .iter()
            .any(|a| a.starts_with("reset-link: relink") && a.ends_with("[destructive]")),
        "{actions:?}"
    );
    assert_eq!(after["name"], "contoso-uat");
    ws.dwlink_apply(&outside_config("USMF", "on-mismatch"));

    let stale = ws.tf(&["apply", "-no-color", "-input=false", "tfplan"]);
    assert_eq!(stale.code, 1, "{}", stale.all());
    assert!(
        stale.all().contains("inconsistent final plan") && stale.all().contains("planned_actions"),
        "{}",
        stale.all()
    );
    let state_dir = ws.path().join(".dwlink");
    for nothing in ["journal", "backups"] {
        let dir = state_dir.join(nothing);
        let entries = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(
            entries,
            0,
            "{} holds files: an apply started",
            dir.display()
        );
    }
    let state = ws.tf(&["state", "list"]);
    assert!(state.stdout.trim().is_empty(), "{}", state.all());

    // Planned again, the new link's steps are those of the live state now: none destructive.
    let again = ws.plan();
    assert_eq!(again.code, 2, "{}", again.all());
    assert!(!again.stdout.contains("[destructive]"), "{}", again.stdout);
    let apply = ws.apply();
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert_eq!(ws.plan().code, 0);
}

#[test]
fn protected_environment_fails_the_plan_with_the_protected_diagnostic() {
    let Some(ws) = Workspace::start("protected-production.yaml") else {
        return;
    };
    ws.write(&format!(
        r#"resource "dwlink_dual_write_link" "prod" {{
  name                      = "contoso-prod"
  finance_operations_url    = "https://contoso-prod.operations.dynamics.com"
  environment_type          = "production"
  dataverse_url             = "https://contoso-prod.crm.dynamics.com"
  dataverse_organization_id = "0c1d2e3f-4a5b-4c6d-9e8f-7a6b5c4d3e2f"
  reset_target              = "power-platform-link"
  legal_entities            = ["USMF", "DEMF", "GBSI"]
  dual_write_service_url    = "{GATEWAY}"
  dual_write_service_auth   = "client-credentials"
}}
"#
    ));
    let plan = ws.plan();
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.all().contains("[dwlink::plan::protected]"),
        "{}",
        plan.all()
    );
    assert!(plan.all().contains("Error:"), "{}", plan.all());
}

#[test]
fn invalid_attributes_fail_validate_with_dwlink_codes_at_the_attribute() {
    let Some(ws) = Workspace::start("scenario-1-same-organization.yaml") else {
        return;
    };
    ws.write(&format!(
        r#"resource "dwlink_dual_write_link" "uat" {{
  name                   = "contoso uat!"
  finance_operations_url = "http://contoso-uat.sandbox.operations.dynamics.com"
  environment_type       = "staging"
  dataverse_url          = "https://contoso-uat.crm.dynamics.com"
  legal_entities         = ["TOOLONG"]
  dual_write_service_url = "{GATEWAY}"
}}
"#
    ));
    let run = ws.tf(&["validate", "-no-color"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let all = run.all();
    assert!(all.contains("[dwlink::config::"), "{all}");
    assert!(
        all.contains("environment_type       = \"staging\""),
        "the caret is on the attribute:\n{all}"
    );
}

/// `terraform init -plugin-dir` from a local mirror, no dev_overrides, no network.
#[test]
fn installs_from_a_local_mirror_with_init_plugin_dir() {
    let Some(ws) = Workspace::start("scenario-1-same-organization.yaml") else {
        return;
    };
    let platform = format!(
        "{}_{}",
        std::env::consts::OS,
        match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        }
    );
    let version = env!("CARGO_PKG_VERSION");
    let dir = ws
        .path()
        .join("mirror/registry.terraform.io/dwlink/dwlink")
        .join(version)
        .join(platform);
    std::fs::create_dir_all(&dir).expect("mirror dir");
    std::fs::copy(
        env!("CARGO_BIN_EXE_terraform-provider-dwlink"),
        dir.join(format!("terraform-provider-dwlink_v{version}")),
    )
    .expect("copy provider");
    std::fs::write(ws.path().join("mirror.tfrc"), "").expect("empty cli config");
    ws.write(&format!(
        r#"data "dwlink_dual_write_status" "uat" {{
  name                   = "contoso-uat"
  finance_operations_url = "{FO}"
  environment_type       = "sandbox"
  dataverse_url          = "https://contoso-uat.crm.dynamics.com"
  dual_write_service_url = "{GATEWAY}"
  dual_write_service_auth = "client-credentials"
}}

output "scenario" {{
  value = data.dwlink_dual_write_status.uat.scenario
}}

output "live" {{
  value = data.dwlink_dual_write_status.uat.live_dataverse_url
}}
"#
    ));
    let init = ws.tf(&["init", "-no-color", "-input=false", "-plugin-dir=mirror"]);
    assert_eq!(init.code, 0, "{}", init.all());
    assert!(
        init.stdout
            .contains(&format!("Installed dwlink/dwlink v{version}")),
        "{}",
        init.stdout
    );
    let apply = ws.apply();
    assert_eq!(apply.code, 0, "{}", apply.all());
    let out = ws.tf(&["output", "-no-color", "-raw", "scenario"]);
    assert_eq!(out.stdout.trim(), "1", "{}", out.all());
    let out = ws.tf(&["output", "-no-color", "-raw", "live"]);
    assert_eq!(
        out.stdout.trim(),
        "https://contoso-uat.crm.dynamics.com",
        "{}",
        out.all()
    );
    let _ = (TENANT, CLIENT);
}

#[test]
fn restore_cleanup_runs_once_per_trigger_value() {
    let Some(ws) = Workspace::start("restore-cleanup-from-production.yaml") else {
        return;
    };
    let hcl = |trigger: &str| {
        format!(
            r#"resource "dwlink_restore_cleanup" "uat" {{
  name                      = "contoso-uat"
  finance_operations_url    = "{FO}"
  environment_type          = "sandbox"
  dataverse_url             = "https://contoso-uat.crm.dynamics.com"
  dataverse_organization_id = "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10"
  protected                 = false
  restored_from_url         = "https://contoso-prod.operations.dynamics.com"
  legal_entities            = ["USMF", "DEMF"]
  dual_write_service_url    = "{GATEWAY}"
  dual_write_service_auth   = "client-credentials"
  trigger                   = "{trigger}"

  reset {{
    force = true
  }}
  after_reset {{
    apply_solutions = ["Dual-write core solution"]
    start_maps      = ["Customers V3 (accounts)"]
  }}
}}
"#
        )
    };
    ws.write(&hcl("restore-2026-12-01"));
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(
        plan.stdout.contains("reset-link: relink to"),
        "{}",
        plan.stdout
    );
    let apply = ws.apply();
    assert_eq!(apply.code, 0, "{}", apply.all());
    // Same trigger: done once, nothing more.
    let again = ws.plan();
    assert_eq!(again.code, 0, "{}", again.all());
    // A new trigger value asks for one more cleanup.
    ws.write(&hcl("restore-2026-12-09"));
    let next = ws.plan();
    assert_eq!(next.code, 2, "{}", next.all());
    assert!(
        next.stdout.contains("# forces replacement"),
        "{}",
        next.stdout
    );
    let apply = ws.apply();
    assert_eq!(apply.code, 0, "{}", apply.all());
}

#[test]
fn without_a_cached_sign_in_the_plan_says_to_run_dwlink_login() {
    let Some(ws) = Workspace::start("scenario-1-same-organization.yaml") else {
        return;
    };
    ws.write(&format!(
        r#"resource "dwlink_dual_write_link" "uat" {{
  name                   = "contoso-uat"
  finance_operations_url = "{FO}"
  environment_type       = "sandbox"
  dataverse_url          = "https://contoso-uat.crm.dynamics.com"
  legal_entities         = ["USMF", "DEMF"]
  dual_write_service_url = "{GATEWAY}"
}}
"#
    ));
    let plan = ws.plan();
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(plan.all().contains("dwlink login"), "{}", plan.all());
    assert!(!plan.all().contains("emulator-secret"), "{}", plan.all());
}
