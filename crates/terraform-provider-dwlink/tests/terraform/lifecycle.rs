//! One link through its life: plan, apply, converge, change, drift, stale plan, replace, destroy.

use crate::harness::{link_hcl, outside_config, Workspace};

#[test]
fn scenario_2_plan_apply_converge_change_drift_stale_replace_destroy() {
    let Some(ws) = Workspace::start("scenario-2-organization-mismatch.yaml") else {
        return;
    };
    ws.write(&link_hcl("contoso-uat", "\"USMF\"", false));

    // The reset is in the plan, destructive steps tagged.
    let plan = ws.plan();
    eprintln!("{}", plan.all());
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("reset-link: relink to https://contoso-uat.crm.dynamics.com"), "{}", plan.stdout);
    assert!(plan.stdout.contains("[destructive]"), "{}", plan.stdout);
    assert!(plan.all().contains("target.irreversible"), "{}", plan.all());

    let apply = ws.apply();
    eprintln!("{}", apply.all());
    assert_eq!(apply.code, 0, "{}", apply.all());

    let again = ws.plan();
    eprintln!("{}", again.all());
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
}
