//! Findings about the evidence the reset rests on: a connection set that does not say which
//! organization dual-write uses now, and a reset body whose meaning is dwlink's inference.

use crate::config::raw::ResetTarget;
use crate::diag::Severity;
use crate::model::desired::Desired;
use crate::model::identity::same_organization;
use crate::model::live::{ConnectionDoubt, LiveState};

use super::super::finding::{Finding, FindingCode as C};
use super::super::Scenario;
use super::host;

/// The connection set's word for the current organization, when it does not add up: several
/// Dataverse entries (no guess between them), or `directUrl` and `powerAppsEnvironment` naming
/// two organizations. Either way no scenario can be told, so the plan stops here.
pub(super) fn connection_doubt(findings: &mut Vec<Finding>, live: &LiveState) {
    let Some(c) = &live.connection else {
        return;
    };
    match &c.doubt {
        None => {}
        Some(ConnectionDoubt::SeveralDataverse { entries }) => findings.push(Finding::new(
            C::ConnectionSeveralDataverse,
            Severity::Error,
            format!(
                "connection set {} has {} Dataverse environments ({}): dwlink cannot tell which one dual-write uses now, and does not guess",
                c.name,
                entries.len(),
                entries.join(", ")
            ),
            "check the connection set on the dual-write page of the finance and operations environment (Data management › Dual-write); plan again once it names one Dataverse environment".into(),
        )),
        Some(ConnectionDoubt::OrganizationDisagrees {
            direct_url,
            power_apps_environment,
            environment_url,
        }) => findings.push(Finding::new(
            C::ConnectionOrganizationDisagrees,
            Severity::Error,
            format!(
                "connection set {} names Dataverse {} (directUrl), but its Power Platform environment {power_apps_environment} (powerAppsEnvironment) is {} in the Power Platform admin API: dwlink cannot tell which organization dual-write uses now",
                c.name,
                host(direct_url),
                host(environment_url)
            ),
            "check the environment in the Power Platform admin center and the connection set on the dual-write page; plan again once both name the same organization".into(),
        )),
        Some(ConnectionDoubt::NoFinanceOperations) => findings.push(Finding::new(
            C::ConnectionNoFinanceOperations,
            Severity::Error,
            format!(
                "connection set {} lists no finance and operations (AX) environment: a reset request names it (Microsoft's Dual-write-automations, ResetLinkEngine.cs), so none can be sent",
                c.name
            ),
            "check the connection set on the dual-write page of the finance and operations environment (Data management › Dual-write); plan again once it lists this environment".into(),
        )),
    }
}

/// A reset whose target is not simply "the organization dual-write uses now, which is also the
/// Power Platform link": the body dwlink sends then rests on an inference (docs/http-contract.md,
/// "The reset"), which the plan says before anything is done.
pub(super) fn body_inferred(
    findings: &mut Vec<Finding>,
    desired: &Desired,
    live: &LiveState,
    scenario: Scenario,
    reset: bool,
) {
    if !reset || scenario == Scenario::CloudHosted {
        return;
    }
    let current = live
        .connection
        .as_ref()
        .and_then(|c| c.organization.as_ref());
    let Some(pp) = &live.finance_operations.power_platform_link else {
        return;
    };
    if current.is_some_and(|c| same_organization(c, pp)) {
        return;
    }
    let now = current.map_or("no organization".to_string(), |c| host(&c.url));
    let message = match desired.link.reset_target {
        ResetTarget::PowerPlatformLink => format!(
            "the reset request names the Power Platform link's environment {}, not the current {now}: Microsoft's own automation always names the current one, so that the request chooses the Power Platform link this way is dwlink's inference from the reset page's two targets (no public evidence)",
            host(&pp.url)
        ),
        ResetTarget::CurrentEnvironment => format!(
            "the reset request names the current environment {now}, as Microsoft's own automation does; that the service then keeps {now} rather than relinking to the Power Platform link {} is dwlink's inference from the reset page's two targets (no public evidence)",
            host(&pp.url)
        ),
    };
    findings.push(Finding::new(
        C::ResetBodyInferred,
        Severity::Info,
        message,
        "apply reads the connection set back after the reset and fails the step, naming what it shows, if dual-write is not linked to the organization planned here".into(),
    ));
}
