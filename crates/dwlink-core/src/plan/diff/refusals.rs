//! Refusals apply or one of its steps would hit, foreseen by the plan: each is an error finding
//! (plan exits 1), and a plan with one of these plans no destructive action, so nothing is backed
//! up, stopped or deleted before a step that cannot run. `tests/refusals.rs` pairs every refusal
//! of `apply/guard.rs`, the steps and the HTTP link with the finding that foresees it.

use crate::diag::Severity;
use crate::model::desired::Desired;
use crate::model::live::LiveState;

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
}
