//! Refusals apply or one of its steps would hit, foreseen by the plan: each is an error finding
//! (plan exits 1), and a plan with one of these plans no destructive action, so nothing is backed
//! up, stopped or deleted before a step that cannot run. `tests/refusals.rs` pairs every refusal
//! of `apply/guard.rs`, the steps and the HTTP link with the finding that foresees it.

use crate::config::raw::ResetTarget;
use crate::diag::Severity;
use crate::model::desired::Desired;
use crate::model::live::LiveState;

use super::super::finding::{Finding, FindingCode as C};
use super::super::Scenario;
use super::host;

/// The finding codes after which a plan withholds its destructive actions.
pub(super) const WITHHOLD: [C; 2] = [C::ConnectionNone, C::TargetInexpressible];

pub(super) fn foreseen(
    findings: &mut Vec<Finding>,
    desired: &Desired,
    live: &LiveState,
    scenario: Scenario,
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
    // The HTTP link's reset: keeping the current organization while the Power Platform link
    // names another is no request the management service offers (reset.md, scenario 2).
    if scenario == Scenario::OrganizationMismatch
        && desired.link.reset_target == ResetTarget::CurrentEnvironment
    {
        if let Some(pp) = &live.finance_operations.power_platform_link {
            let current = live
                .connection
                .as_ref()
                .and_then(|c| c.organization.as_ref())
                .map_or("no organization".to_string(), |o| host(&o.url));
            findings.push(Finding::new(
                C::TargetInexpressible,
                Severity::Error,
                format!(
                    "`reset_target: current-environment` keeps {current}, but the Power Platform link is {}: no public request does that, so dwlink plans no backup, delete or reset",
                    host(&pp.url)
                ),
                "Microsoft support changes the Power Platform link (Reset dual-write, scenario 2); or use `reset_target: power-platform-link`".into(),
            ));
        }
    }
}
