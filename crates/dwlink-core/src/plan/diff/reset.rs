//! The reset decision: whether this plan resets the link, whether it clears the key tables
//! first, and where a reset would leave the connection.

use crate::config::raw::{Kind, ResetTarget, ResetWhen};
use crate::model::desired::Desired;
use crate::model::live::{LiveState, OrgRef};

use super::super::Scenario;
use super::drift::Drift;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ResetDecision {
    pub reset: bool,
    /// Back up and clear the key tables before the reset.
    pub clears: bool,
    /// Where a reset would leave the connection: the Power Platform link, or the current
    /// organization (current-environment target, and always on cloud-hosted). `None` when that
    /// is unknown (no link, unlinked).
    pub landing: Option<OrgRef>,
}

pub(super) fn decide(
    desired: &Desired,
    live: &LiveState,
    scenario: Scenario,
    drift: &Drift,
) -> ResetDecision {
    let current = live
        .connection
        .as_ref()
        .and_then(|c| c.organization.clone());
    let pp = live.finance_operations.power_platform_link.clone();
    let landing = match (scenario, desired.link.reset_target) {
        (Scenario::CloudHosted, _) | (_, ResetTarget::CurrentEnvironment) => current,
        (_, ResetTarget::PowerPlatformLink) => pp,
    };
    let reset = match desired.reset.when {
        ResetWhen::Always => true,
        ResetWhen::OnMismatch => drift.any(),
        ResetWhen::Never => false,
    } || desired.kind == Kind::RestoreCleanup;
    ResetDecision {
        reset,
        clears: reset && desired.reset.clear_tables,
        landing,
    }
}
