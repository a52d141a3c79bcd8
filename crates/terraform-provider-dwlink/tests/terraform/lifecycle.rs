//! One link through its life: plan, apply, converge, change, drift, stale plan, replace, destroy.

use crate::harness::{link_hcl, outside_config, Workspace};

#[test]
fn scenario_2_plan_apply_converge_change_drift_stale_replace_destroy() {
    let Some(ws) = Workspace::start("scenario-2-organization-mismatch.yaml") else {
        return;
    };
    ws.write(&link_hcl("contoso-uat", "\"USMF\"", false));

    // The reset is in the plan, destructive steps tagged, findings as warnings with their code.
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(
        plan.stdout.contains(
            "\"reset-link: relink to https://contoso-uat.crm.dynamics.com (Power Platform link, force), legal entities USMF [destructive]\""
        ),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("\"backup: 60 rows from 1 table"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("scenario                  = \"2\""),
        "{}",
        plan.stdout
    );
    assert!(
        plan.all().contains("[dwlink::plan::target.irreversible]"),
        "{}",
        plan.all()
    );

    let apply = ws.apply();
    assert_eq!(apply.code, 0, "{}", apply.all());
    let state = ws.tf(&["state", "show", "-no-color", "dwlink_dual_write_link.uat"]);
    assert!(
        state.stdout.contains(".dwlink/backups/"),
        "last_backup: {}",
        state.stdout
    );
    assert!(
        state
            .stdout
            .contains("live_dataverse_url        = \"https://contoso-uat.crm.dynamics.com\""),
        "{}",
        state.stdout
    );

    // Converged: applying the same declaration again leaves nothing to do.
    let again = ws.plan();
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);

    // Legal entities change in place: dwlink cannot set them without a reset, and says so.
    ws.write(&link_hcl("contoso-uat", "\"USMF\", \"DEMF\"", false));
    let change = ws.plan();
    assert_eq!(change.code, 2, "{}", change.all());
    assert!(
        change.stdout.contains("~ update in-place"),
        "{}",
        change.stdout
    );
    assert!(
        change
            .stdout
            .contains("0 to add, 1 to change, 0 to destroy"),
        "{}",
        change.stdout
    );
    assert!(
        change
            .all()
            .contains("[dwlink::plan::legal-entities.differ]"),
        "{}",
        change.all()
    );
    let apply = ws.apply();
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert_eq!(ws.plan().code, 0);

    // Drift made by dwlink outside Terraform (a reset that links DEMF too) shows in the next
    // plan: the finding it settled is gone.
    ws.dwlink_apply(&outside_config("USMF, DEMF", "always"));
    let drift = ws.plan();
    assert_eq!(drift.code, 2, "{}", drift.all());
    assert!(
        drift
            .stdout
            .contains("- code     = \"legal-entities.differ\""),
        "{}",
        drift.stdout
    );
    let apply = ws.apply();
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert_eq!(ws.plan().code, 0);

    // A saved plan is refused once live state moved after it was made.
    ws.write(&link_hcl(
        "contoso-uat",
        "\"USMF\", \"DEMF\", \"FRRT\"",
        false,
    ));
    let saved = ws.tf(&["plan", "-no-color", "-input=false", "-out=tfplan"]);
    assert_eq!(saved.code, 0, "{}", saved.all());
    ws.dwlink_apply(&outside_config("USMF", "always"));
    let stale = ws.tf(&["apply", "-no-color", "-input=false", "tfplan"]);
    assert_eq!(stale.code, 1, "{}", stale.all());
    assert!(
        stale.all().contains("[dwlink::apply::stale_plan]"),
        "{}",
        stale.all()
    );
    assert!(
        stale.all().contains("run `terraform plan` again"),
        "{}",
        stale.all()
    );
    let apply = ws.apply();
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert_eq!(ws.plan().code, 0);

    // A new name replaces the resource; the old one is forgotten with a warning.
    ws.write(&link_hcl(
        "contoso-uat2",
        "\"USMF\", \"DEMF\", \"FRRT\"",
        false,
    ));
    let replace = ws.plan();
    assert_eq!(replace.code, 2, "{}", replace.all());
    assert!(
        replace.stdout.contains("must be replaced"),
        "{}",
        replace.stdout
    );
    assert!(
        replace.stdout.contains("# forces replacement"),
        "{}",
        replace.stdout
    );
    let apply = ws.apply();
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(
        apply.all().contains("nothing is changed in the services"),
        "{}",
        apply.all()
    );
    assert_eq!(ws.plan().code, 0);

    let destroy = ws.tf(&["destroy", "-no-color", "-auto-approve", "-input=false"]);
    assert_eq!(destroy.code, 0, "{}", destroy.all());
    assert!(
        destroy
            .all()
            .contains("destroying forgets the link; nothing is changed in the services"),
        "{}",
        destroy.all()
    );
    assert!(destroy.stdout.contains("1 destroyed"), "{}", destroy.stdout);
}
