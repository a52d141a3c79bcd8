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
    let reset = match (desired.kind, desired.reset.when) {
        // A RestoreCleanup resets while evidence of the restore remains — rows or a connection
        // for another organization, which is what drift finds (spec §3, "Convergence") — so a
        // completed cleanup plans nothing. Its implied `when: always` only means that no policy
        // may forbid that reset.
        (Kind::RestoreCleanup, _) => drift.any(),
        // The explicit exception: a DualWriteLink that asks for a reset every time.
        (_, ResetWhen::Always) => true,
        (_, ResetWhen::OnMismatch) => drift.any(),
        (_, ResetWhen::Never) => false,
    };
    ResetDecision {
        reset,
        clears: reset && desired.reset.clear_tables,
        landing,
    }
}
