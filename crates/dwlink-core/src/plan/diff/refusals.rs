//! Refusals apply or one of its steps would hit, foreseen by the plan: each is an error finding
//! (plan exits 1), and a plan with one of these plans no destructive action, so nothing is backed
//! up, stopped or deleted before a step that cannot run. `tests/refusals.rs` pairs every refusal
//! of `apply/guard.rs`, the steps and the HTTP link with the finding that foresees it.

use crate::config::raw::{EnvironmentType, ResetTarget};
use crate::diag::Severity;
use crate::model::desired::Desired;
use crate::model::live::LiveState;
use crate::plan::action::Action;
use crate::plan::describe::{describe, plural};

use super::super::finding::{Finding, FindingCode as C};
use super::host;

/// The finding codes after which a plan withholds its destructive actions.
/// Several Dataverse entries or a `directUrl` its own environment contradicts leave the current
/// organization unknown: the reset's body cannot be built without a guess (dwlink-http
/// `services/dws/reset_body.rs`), so nothing is planned that would lead up to it.
pub(super) const WITHHOLD: [C; 3] = [
    C::ConnectionNone,
    C::ConnectionSeveralDataverse,
    C::ConnectionOrganizationDisagrees,
];

pub(super) fn foreseen(
    findings: &mut Vec<Finding>,
    desired: &Desired,
    live: &LiveState,
    reset: bool,
) {
    if !reset {
        return;
    }
    // Steps `reset_link`, `stop_maps`, `apply_solutions`: "the dual-write service has no
    // connection set for this environment".
    if live.connection.is_none() {
        findings.push(Finding::new(
            C::ConnectionNone,
            Severity::Error,
            format!(
                "the dual-write service has no connection set for {}: it was never linked, so there is nothing to reset; dwlink plans no backup, delete or reset",
                host(&desired.finance_operations.url)
            ),
            "link the environment once in the dual-write workspace of F&O (Data management › Dual-write), then plan again".into(),
        ));
    }
    // The reset body of `current-environment` repeats the set's Dataverse entry ("the
    // connection set has no Dataverse (CRM) environment to keep").
    let keeps_current = desired.link.reset_target == ResetTarget::CurrentEnvironment
        || desired.finance_operations.environment_type == EnvironmentType::CloudHosted;
    if let Some(c) = &live.connection {
        if keeps_current && c.organization.is_none() && c.doubt.is_none() {
            findings.push(Finding::new(
                C::ConnectionNoDataverse,
                Severity::Error,
                format!(
                    "connection set {} lists no Dataverse environment, so a reset that keeps the current organization has none to keep; dwlink plans no backup, delete or reset",
                    c.name
                ),
                "link a Dataverse environment on the dual-write page of F&O first, or use `reset_target: power-platform-link`".into(),
            ));
        }
    }
}

/// Steps named in the withheld finding; the rest are counted.
const SHOWN: usize = 12;

/// What a plan with error findings would have done, said instead of planned: apply would refuse
/// it whole, and a reviewer still sees what fixing the errors leads to.
pub(super) fn withheld(findings: &mut Vec<Finding>, intended: &[Action]) {
    findings.push(withheld_finding(intended));
}

/// The `plan.withheld` finding for `intended`.
pub(crate) fn withheld_finding(intended: &[Action]) -> Finding {
    let destructive = intended.iter().filter(|a| a.destructive()).count();
    let steps: Vec<String> = intended
        .iter()
        .filter(|a| !matches!(a, Action::Verify))
        .map(|a| format!("{} {}", a.kind().name(), describe(a)))
        .collect();
    let total = steps.len();
    let mut shown: Vec<String> = steps.into_iter().take(SHOWN).collect();
    if total > SHOWN {
        shown.push(format!("and {} more", total - SHOWN));
    }
    Finding::new(
        C::PlanWithheld,
        Severity::Info,
        format!(
            "dwlink plans no action while this plan has errors; without them it would plan {} step{} ({destructive} destructive): {}",
            total,
            plural(total),
            shown.join("; ")
        ),
        "fix the errors above and plan again: that plan lists these steps for review".into(),
    )
}
