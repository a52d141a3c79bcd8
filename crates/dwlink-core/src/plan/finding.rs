//! Findings: diagnostics attached to a plan that explain *why* it does what it does.

use serde::{Deserialize, Serialize};

use crate::diag::{Problem, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FindingCode {
    #[serde(rename = "scenario.same-organization")]
    ScenarioSameOrganization,
    #[serde(rename = "scenario.organization-mismatch")]
    ScenarioOrganizationMismatch,
    #[serde(rename = "scenario.no-power-platform-link")]
    ScenarioNoPowerPlatformLink,
    #[serde(rename = "scenario.cloud-hosted")]
    ScenarioCloudHosted,
    #[serde(rename = "maps.running")]
    MapsRunning,
    #[serde(rename = "secure-config.organization-mismatch")]
    SecureConfigOrganizationMismatch,
    #[serde(rename = "restore.foreign-link")]
    RestoreForeignLink,
    #[serde(rename = "target.irreversible")]
    TargetIrreversible,
    /// The declared organization cannot be reached with the declared reset target.
    #[serde(rename = "target.unreachable")]
    TargetUnreachable,
    /// `dataverse.organization_id` names another organization than the one at `dataverse.url`.
    #[serde(rename = "target.organization-id")]
    TargetOrganizationId,
    /// The live state differs but `reset.when: never` forbids fixing it.
    #[serde(rename = "reset.disabled")]
    ResetDisabled,
    /// The connection syncs other legal entities than declared and no reset is planned that
    /// would set them.
    #[serde(rename = "legal-entities.differ")]
    LegalEntitiesDiffer,
    /// The admin API and Dataverse disagree on the Power Platform link.
    #[serde(rename = "power-platform-link.disagrees")]
    PowerPlatformLinkDisagrees,
    #[serde(rename = "protected")]
    Protected,
    /// The connection set lists several Dataverse environments.
    #[serde(rename = "connection.several-dataverse")]
    ConnectionSeveralDataverse,
    /// The connection set's `directUrl` and `powerAppsEnvironment` name two organizations.
    #[serde(rename = "connection.organization-disagrees")]
    ConnectionOrganizationDisagrees,
    /// The reset request's choice of target rests on dwlink's inference.
    #[serde(rename = "reset.body-inferred")]
    ResetBodyInferred,
    /// The dual-write service has no connection set for the environment: a reset cannot be sent.
    #[serde(rename = "connection.none")]
    ConnectionNone,
    /// Management requests of the connection set are still in flight.
    #[serde(rename = "busy")]
    Busy,
    /// A declared map the service does not offer.
    #[serde(rename = "maps.not-found")]
    MapsNotFound,
    /// A declared map version the service does not offer.
    #[serde(rename = "maps.version-unavailable")]
    MapsVersionUnavailable,
    /// A prerequisite of a declared running map is neither declared nor running.
    #[serde(rename = "maps.prerequisite-undeclared")]
    MapsPrerequisiteUndeclared,
    /// A map paused for longer than the service keeps its queue.
    #[serde(rename = "maps.paused-too-long")]
    MapsPausedTooLong,
    /// The connection set lists no finance and operations (AX) entry.
    #[serde(rename = "connection.no-finance-operations")]
    ConnectionNoFinanceOperations,
    /// A reset that keeps the current organization, while the set lists no Dataverse entry.
    #[serde(rename = "connection.no-dataverse")]
    ConnectionNoDataverse,
    /// The actions a plan with error findings would have planned, listed but not planned.
    #[serde(rename = "plan.withheld")]
    PlanWithheld,
    /// A declared map's integration keys cannot be read (it has no project yet), so no key step
    /// is planned that no read could confirm.
    #[serde(rename = "maps.keys-unreadable")]
    MapsKeysUnreadable,
    /// The backup would likely be larger than `dwlink restore` reads.
    #[serde(rename = "backup.beyond-restore")]
    BackupBeyondRestore,
}

impl FindingCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::ScenarioSameOrganization => "scenario.same-organization",
            FindingCode::ScenarioOrganizationMismatch => "scenario.organization-mismatch",
            FindingCode::ScenarioNoPowerPlatformLink => "scenario.no-power-platform-link",
            FindingCode::ScenarioCloudHosted => "scenario.cloud-hosted",
            FindingCode::MapsRunning => "maps.running",
            FindingCode::SecureConfigOrganizationMismatch => "secure-config.organization-mismatch",
            FindingCode::RestoreForeignLink => "restore.foreign-link",
            FindingCode::TargetIrreversible => "target.irreversible",
            FindingCode::TargetUnreachable => "target.unreachable",
            FindingCode::TargetOrganizationId => "target.organization-id",
            FindingCode::ResetDisabled => "reset.disabled",
            FindingCode::LegalEntitiesDiffer => "legal-entities.differ",
            FindingCode::PowerPlatformLinkDisagrees => "power-platform-link.disagrees",
            FindingCode::Protected => "protected",
            FindingCode::ConnectionSeveralDataverse => "connection.several-dataverse",
            FindingCode::ConnectionOrganizationDisagrees => "connection.organization-disagrees",
            FindingCode::ResetBodyInferred => "reset.body-inferred",
            FindingCode::ConnectionNone => "connection.none",
            FindingCode::Busy => "busy",
            FindingCode::MapsNotFound => "maps.not-found",
            FindingCode::MapsVersionUnavailable => "maps.version-unavailable",
            FindingCode::MapsPrerequisiteUndeclared => "maps.prerequisite-undeclared",
            FindingCode::MapsPausedTooLong => "maps.paused-too-long",
            FindingCode::PlanWithheld => "plan.withheld",
            FindingCode::ConnectionNoFinanceOperations => "connection.no-finance-operations",
            FindingCode::ConnectionNoDataverse => "connection.no-dataverse",
            FindingCode::MapsKeysUnreadable => "maps.keys-unreadable",
            FindingCode::BackupBeyondRestore => "backup.beyond-restore",
        }
    }

    /// miette codes are namespaced like every other dwlink diagnostic.
    fn diag_code(self) -> &'static str {
        match self {
            FindingCode::ScenarioSameOrganization => "dwlink::plan::scenario.same-organization",
            FindingCode::ScenarioOrganizationMismatch => {
                "dwlink::plan::scenario.organization-mismatch"
            }
            FindingCode::ScenarioNoPowerPlatformLink => {
                "dwlink::plan::scenario.no-power-platform-link"
            }
            FindingCode::ScenarioCloudHosted => "dwlink::plan::scenario.cloud-hosted",
            FindingCode::MapsRunning => "dwlink::plan::maps.running",
            FindingCode::SecureConfigOrganizationMismatch => {
                "dwlink::plan::secure-config.organization-mismatch"
            }
            FindingCode::RestoreForeignLink => "dwlink::plan::restore.foreign-link",
            FindingCode::TargetIrreversible => "dwlink::plan::target.irreversible",
            FindingCode::TargetUnreachable => "dwlink::plan::target.unreachable",
            FindingCode::TargetOrganizationId => "dwlink::plan::target.organization-id",
            FindingCode::ResetDisabled => "dwlink::plan::reset.disabled",
            FindingCode::LegalEntitiesDiffer => "dwlink::plan::legal-entities.differ",
            FindingCode::PowerPlatformLinkDisagrees => {
                "dwlink::plan::power-platform-link.disagrees"
            }
            FindingCode::Protected => "dwlink::plan::protected",
            FindingCode::ConnectionSeveralDataverse => "dwlink::plan::connection.several-dataverse",
            FindingCode::ConnectionOrganizationDisagrees => {
                "dwlink::plan::connection.organization-disagrees"
            }
            FindingCode::ResetBodyInferred => "dwlink::plan::reset.body-inferred",
            FindingCode::ConnectionNone => "dwlink::plan::connection.none",
            FindingCode::Busy => "dwlink::plan::busy",
            FindingCode::MapsNotFound => "dwlink::plan::maps.not-found",
            FindingCode::MapsVersionUnavailable => "dwlink::plan::maps.version-unavailable",
            FindingCode::MapsPrerequisiteUndeclared => "dwlink::plan::maps.prerequisite-undeclared",
            FindingCode::MapsPausedTooLong => "dwlink::plan::maps.paused-too-long",
            FindingCode::PlanWithheld => "dwlink::plan::plan.withheld",
            FindingCode::ConnectionNoFinanceOperations => {
                "dwlink::plan::connection.no-finance-operations"
            }
            FindingCode::ConnectionNoDataverse => "dwlink::plan::connection.no-dataverse",
            FindingCode::MapsKeysUnreadable => "dwlink::plan::maps.keys-unreadable",
            FindingCode::BackupBeyondRestore => "dwlink::plan::backup.beyond-restore",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: FindingCode,
    pub severity: Severity,
    pub message: String,
    pub help: String,
}

impl Finding {
    pub fn new(code: FindingCode, severity: Severity, message: String, help: String) -> Self {
        Finding {
            code,
            severity,
            message,
            help,
        }
    }

    pub fn to_problem(&self) -> Problem {
        let p = Problem::error(self.code.diag_code(), self.message.clone()).help(self.help.clone());
        Problem {
            severity: self.severity,
            ..p
        }
    }
}
