//! Findings: what a person must know about a plan before applying it — the scenario, a target
//! that cannot be reached or cannot be undone, rows copied from another environment, maps that
//! block or will be stopped, protection. Each says why and what to do.

use crate::config::raw::{Kind, ResetTarget};
use crate::diag::Severity;
use crate::model::desired::Desired;
use crate::model::identity::same_host;
use crate::model::live::{FinanceOperationsIntegration, LiveState, OrgRef};

use super::super::finding::{Finding, FindingCode as C};
use super::super::{Action, Scenario};
use super::drift::Drift;
use super::reset::ResetDecision;
use super::{host, plural};

/// The Power Platform link as the admin API shows it (F&O → Dataverse) and as the declared
/// organization shows it (`RetrieveFinanceAndOperationsIntegrationDetails`, Dataverse → F&O)
/// must tell the same story: the scenario is decided from the first, so a contradiction is an
/// error to resolve, not a guess to make.
pub(super) fn integration(findings: &mut Vec<Finding>, desired: &Desired, live: &LiveState) {
    let fo = &live.finance_operations;
    if fo.environment_type == crate::model::desired::EnvironmentType::CloudHosted {
        return;
    }
    let declared = &desired.dataverse.url;
    let admin_says = fo
        .power_platform_link
        .as_ref()
        .is_some_and(|p| same_host(&p.url, declared));
    let dataverse_says = match &live.dataverse.integration {
        FinanceOperationsIntegration::Unknown => return,
        FinanceOperationsIntegration::NotLinked => None,
        FinanceOperationsIntegration::Linked { url } => Some(url),
    };
    let back_here = dataverse_says.is_some_and(|u| same_host(u, &fo.url));
    if admin_says == back_here {
        return;
    }
    let admin = match &fo.power_platform_link {
        Some(p) => format!("links {} to {}", host(&fo.url), host(&p.url)),
        None => format!("shows no Power Platform link for {}", host(&fo.url)),
    };
    let dataverse = match dataverse_says {
        Some(u) => format!("says it is integrated with {}", host(u)),
        None => "says it is integrated with no finance and operations environment".into(),
    };
    findings.push(Finding::new(
        C::PowerPlatformLinkDisagrees,
        Severity::Error,
        format!(
            "the Power Platform admin API {admin}, but {} {dataverse} (RetrieveFinanceAndOperationsIntegrationDetails): dwlink cannot tell which reset scenario applies",
            host(declared)
        ),
        "check the environment's Power Platform integration in the Power Platform admin center (a link being changed, or a copied environment); plan again once both agree".into(),
    ));
}

/// `dataverse.organization_id` must name the organization at `dataverse.url`.
pub(super) fn organization_id(findings: &mut Vec<Finding>, desired: &Desired, live: &LiveState) {
    let declared = &desired.dataverse.url;
    if let Some(want) = desired.dataverse.organization_id {
        if live.dataverse.organization_id != want {
            findings.push(Finding::new(
                C::TargetOrganizationId,
                Severity::Error,
                format!(
                    "{} is organization {}, but the config declares organization {want}",
                    host(declared),
                    live.dataverse.organization_id
                ),
                "correct `dataverse.organization_id` or `dataverse.url`; they must name the same organization".into(),
            ));
        }
    }
}

/// Whether a reset lands on the declared organization, and whether it can be undone; or, when no
/// reset is allowed, that the drift stays.
pub(super) fn target(
    findings: &mut Vec<Finding>,
    desired: &Desired,
    live: &LiveState,
    scenario: Scenario,
    decision: &ResetDecision,
    drift: &Drift,
) {
    let declared = &desired.dataverse.url;
    let current = live
        .connection
        .as_ref()
        .and_then(|c| c.organization.clone());
    let pp = live.finance_operations.power_platform_link.clone();
    let landing = &decision.landing;
    if decision.reset {
        match &landing {
            Some(l) if same_host(&l.url, declared) => {}
            Some(l) => findings.push(Finding::new(
                C::TargetUnreachable,
                Severity::Error,
                format!(
                    "a reset to the {} would link dual-write to {}, not to the declared {}",
                    target_phrase(scenario, desired.link.reset_target),
                    host(&l.url),
                    host(declared)
                ),
                match desired.link.reset_target {
                    ResetTarget::PowerPlatformLink => "declare the Power Platform link's organization in `dataverse.url`, or change the environment's Power Platform integration first".into(),
                    ResetTarget::CurrentEnvironment => "declare the current organization in `dataverse.url`, or use `reset_target: power-platform-link`".into(),
                },
            )),
            None => {}
        }
        if scenario == Scenario::OrganizationMismatch
            && desired.link.reset_target == ResetTarget::PowerPlatformLink
        {
            if let (Some(c), Some(p)) = (&current, &pp) {
                findings.push(Finding::new(
                    C::TargetIrreversible,
                    Severity::Warning,
                    format!(
                        "the reset realigns dual-write from {} to the Power Platform link {}; there is no way back to {}",
                        host(&c.url),
                        host(&p.url),
                        host(&c.url)
                    ),
                    "to keep the current organization, use `reset_target: current-environment` (Microsoft support can change the Power Platform link)".into(),
                ));
            }
        }
    } else if drift.any() {
        findings.push(Finding::new(
            C::ResetDisabled,
            Severity::Warning,
            "the live link differs from the declaration, but `reset.when: never` forbids a reset"
                .into(),
            "set `reset.when: on-mismatch` to let dwlink plan the reset".into(),
        ));
    }
}

/// Legal entities that differ while no reset is planned. The reset request is the only one that
/// carries legal entities (Microsoft's Dual-write-automations: `ResetLinkEngine.cs`), so dwlink
/// says what differs and how to fix it instead of planning a step no public call can perform.
/// A warning: nothing is at risk, but the declaration does not hold.
pub(super) fn legal_entities(
    findings: &mut Vec<Finding>,
    desired: &Desired,
    drift: &Drift,
    reset: bool,
) {
    if reset {
        return;
    }
    let Some(le) = &drift.legal_entities else {
        return;
    };
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let missing: Vec<String> = le
        .declared
        .iter()
        .filter(|d| !le.live.contains(d))
        .cloned()
        .collect();
    let mut help = vec![format!(
        "declare the live ones (`link.legal_entities: [{}]`)",
        le.live.join(", ")
    )];
    if !missing.is_empty() {
        help.push(format!(
            "add {} on the Dual-write page of F&O (Data management › Dual-write)",
            missing.join(", ")
        ));
    }
    help.push(match desired.kind {
        Kind::DualWriteLink => "let a reset link exactly the declared ones: `reset.when: always` for one apply (a reset clears the key tables and brings the maps back stopped)".into(),
        Kind::RestoreCleanup => "let the reset of the next cleanup link exactly the declared ones".to_string(),
    });
    findings.push(Finding::new(
        C::LegalEntitiesDiffer,
        Severity::Warning,
        format!(
            "dual-write syncs legal entities {}, the config declares {} (live: the connection set's `legalEntityMappings`, from the dual-write service); dwlink cannot change them without a reset: the service has no public call that sets them, only the reset request carries them",
            list(&le.live),
            list(&le.declared)
        ),
        format!("{}; or {}", help[..help.len() - 1].join("; "), help[help.len() - 1]),
    ));
}

/// Whether the plan clears the copied rows: it does, it would but its errors withhold every
/// action, or nothing in it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cleanup {
    /// dwlink backs them up and deletes them before the reset.
    Planned,
    /// Only the reset clears them, server side (reset.md: it clears the key tables).
    ByReset,
    Withheld,
    None,
}

/// Rows a restore brought from elsewhere: F&O rows syncing to another organization and runtime
/// rows naming another SecureConfig organization.
pub(super) fn copied_rows(
    findings: &mut Vec<Finding>,
    desired: &Desired,
    live: &LiveState,
    drift: &Drift,
    cleanup: Cleanup,
) {
    let clears = cleanup != Cleanup::None;
    let deletes_help = match cleanup {
        Cleanup::Withheld => "the cleanup that deletes those rows is withheld until this plan's errors are fixed; fix them and plan again",
        Cleanup::ByReset => "the reset in this plan clears those rows (the service clears the key tables), after dwlink backs them up",
        _ => "this plan deletes those rows before relinking",
    };
    let declared = &desired.dataverse.url;
    for (url, rows) in &drift.foreign {
        let (severity, tail) = match cleanup {
            Cleanup::Planned => (
                Severity::Warning,
                "this plan clears them; until it is applied, data can flow there",
            ),
            Cleanup::ByReset => (
                Severity::Warning,
                "the reset in this plan clears them; until it is applied, data can flow there",
            ),
            Cleanup::Withheld => (
                Severity::Warning,
                "the cleanup that clears them is withheld until this plan's errors are fixed; until then, data can flow there",
            ),
            Cleanup::None => (Severity::Error, "nothing in this plan clears them"),
        };
        findings.push(Finding::new(
            C::RestoreForeignLink,
            severity,
            format!(
                "{} DualWriteProjectConfiguration row{} sync to {}, not to the declared {}: data written here flows into that organization; {tail}",
                crate::plan::describe::thousands(*rows),
                plural(*rows),
                url.trim_end_matches('/'),
                host(declared)
            ),
            if cleanup == Cleanup::Withheld {
                "fix this plan's errors, plan again, and apply it before starting any map".into()
            } else if clears {
                "review the plan and apply it before starting any map".into()
            } else {
                "use a RestoreCleanup manifest (or `reset.clear_tables: true` with `reset.when: on-mismatch`) to clear the copied rows".into()
            },
        ));
    }
    let actual = live
        .dataverse
        .friendly_name
        .clone()
        .or(live.dataverse.unique_name.clone())
        .unwrap_or_else(|| live.dataverse.organization_id.to_string());
    let column = drift.secure_column.as_deref().unwrap_or_default();
    for (org, rows) in &drift.secure_mismatch {
        findings.push(Finding::new(
            C::SecureConfigOrganizationMismatch,
            if clears { Severity::Warning } else { Severity::Error },
            format!(
                "{} runtime-configuration row{} name SecureConfig organization {org} (column {column}), but the actual organization is {actual}: dual-write fails with \"SecureConfig Organization ({org}) does not match actual CRM Organization ({actual})\"",
                crate::plan::describe::thousands(*rows),
                plural(*rows)
            ),
            if clears {
                deletes_help.into()
            } else {
                "delete all msdyn_dualwriteruntimeconfig rows: allow `reset.clear_tables: true`".into()
            },
        ));
    }
    // No column names a runtime row's organization (real-contract §3), so the only evidence is
    // F&O's: its rows sync to another organization, so these may have come with the same restore.
    if drift.runtime_beside_foreign > 0 {
        let rows = drift.runtime_beside_foreign;
        let elsewhere: Vec<&str> = drift
            .foreign
            .keys()
            .map(|u| u.trim_end_matches('/'))
            .collect();
        findings.push(Finding::new(
            C::SecureConfigOrganizationMismatch,
            Severity::Warning,
            format!(
                "{} runtime-configuration row{} in {actual} may have been made for {} (where this environment's DualWriteProjectConfiguration rows sync): no column shows which organization a row names, so dwlink cannot tell; rows made elsewhere make dual-write fail with \"SecureConfig Organization (…) does not match actual CRM Organization ({actual})\"",
                crate::plan::describe::thousands(rows),
                plural(rows),
                elsewhere.join(", ")
            ),
            if clears {
                deletes_help.into()
            } else {
                "if dual-write reports that error, delete all msdyn_dualwriteruntimeconfig rows: allow `reset.clear_tables: true`".into()
            },
        ));
    }
}

/// Running maps block a reset unless it may stop them (`force`).
pub(super) fn maps_running(findings: &mut Vec<Finding>, desired: &Desired, active: &[String]) {
    if active.is_empty() {
        return;
    }
    if desired.reset.force {
        findings.push(Finding::new(
            C::MapsRunning,
            Severity::Warning,
            format!(
                "{} map{} will be stopped: {}",
                active.len(),
                plural(active.len()),
                active.join(", ")
            ),
            stopped_maps_help(active, desired),
        ));
    } else {
        findings.push(Finding::new(
            C::MapsRunning,
            Severity::Error,
                    format!(
                        "{} map{} still running, so the reset cannot start: {}",
                        active.len(),
                        plural(active.len()),
                        active.join(", ")
                    ),
                    "stop them in the dual-write workspace, or set `reset.force: true` to let dwlink stop them (Force Reset)".into(),
                ));
    }
}

/// A protected environment's destructive steps will be refused at apply.
pub(super) fn protected(findings: &mut Vec<Finding>, desired: &Desired, destructive: bool) {
    if desired.protected && destructive {
        findings.push(Finding::new(
            C::Protected,
            Severity::Error,
            format!(
                "{} is protected: apply refuses destructive steps here, so dwlink plans none",
                desired.name
            ),
            "set `metadata.protected: false` for the maintenance window, plan again, review the steps, then apply".into(),
        ));
    }
}

pub(super) fn scenario_finding(
    findings: &mut Vec<Finding>,
    scenario: Scenario,
    desired: &Desired,
    reset: bool,
    current: &Option<OrgRef>,
    pp: &Option<OrgRef>,
) {
    let cur = current
        .as_ref()
        .map_or("no organization (unlinked)".to_string(), |c| host(&c.url));
    let f = match scenario {
        Scenario::SameOrganization => Finding::new(
            C::ScenarioSameOrganization,
            Severity::Info,
            format!("scenario 1: dual-write and the Power Platform link both use {cur}; a reset relinks to it"),
            "a plain reset; nothing to decide".into(),
        ),
        Scenario::OrganizationMismatch => Finding::new(
            C::ScenarioOrganizationMismatch,
            if reset { Severity::Warning } else { Severity::Info },
            format!(
                "scenario 2: dual-write is connected to {cur}, but the Power Platform link is {}",
                pp.as_ref().map_or("blank".into(), |p| host(&p.url))
            ),
            match desired.link.reset_target {
                ResetTarget::PowerPlatformLink => "the reset replaces the current organization with the Power Platform link's".into(),
                ResetTarget::CurrentEnvironment => "the reset keeps the current organization (`reset_target: current-environment`)".into(),
            },
        ),
        Scenario::NoPowerPlatformLink => {
            let blocked = reset && desired.link.reset_target == ResetTarget::PowerPlatformLink;
            Finding::new(
                C::ScenarioNoPowerPlatformLink,
                if blocked { Severity::Error } else { Severity::Info },
                format!("scenario 3: {} has no Power Platform link, so a reset to it cannot proceed", host(&desired.finance_operations.url)),
                "first set the environment's Power Platform integration to the current Dataverse environment (Lifecycle Services / admin center), then plan again".into(),
            )
        }
        Scenario::CloudHosted => Finding::new(
            C::ScenarioCloudHosted,
            Severity::Info,
            "scenario 4: a cloud-hosted environment has no Power Platform integration; a reset refreshes the connection as it is".into(),
            "linking a cloud-hosted environment to another organization needs a redeployment".into(),
        ),
    };
    findings.push(f);
}

fn target_phrase(scenario: Scenario, target: ResetTarget) -> &'static str {
    match (scenario, target) {
        (Scenario::CloudHosted, _) => "current environment (cloud-hosted)",
        (_, ResetTarget::CurrentEnvironment) => "current environment",
        (_, ResetTarget::PowerPlatformLink) => "Power Platform link",
    }
}

/// What becomes of maps a forced reset stops: the ones `after_reset.start_maps` lists are started
/// again, the others come back stopped.
fn stopped_maps_help(stopped: &[String], desired: &Desired) -> String {
    let short = |m: &String| {
        desired
            .after_reset
            .start_maps
            .iter()
            .any(|s| s.eq_ignore_ascii_case(m))
    };
    // Declared running or paused: the plan starts it again after the reset.
    let declared = |m: &String| {
        desired.maps.iter().any(|d| {
            d.name.eq_ignore_ascii_case(m) && d.state != crate::model::desired::MapRunState::Stopped
        })
    };
    let (restarted, left): (Vec<&String>, Vec<&String>) =
        stopped.iter().partition(|m| short(m) || declared(m));
    let source = match (
        restarted.iter().any(|m| short(m)),
        restarted.iter().any(|m| declared(m)),
    ) {
        (true, true) => "`maps` and `after_reset.start_maps`",
        (false, true) => "`maps`",
        _ => "`after_reset.start_maps`",
    };
    let names = |v: &[&String]| v.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
    match (restarted.is_empty(), left.is_empty()) {
        (true, _) => {
            "they come back stopped; list them in `after_reset.start_maps` to restart them".into()
        }
        (false, true) => format!("{source} starts them again after the reset"),
        (false, false) => format!(
            "{source} starts {} again after the reset; {} come{} back stopped: list {} there to restart {}",
            names(&restarted),
            names(&left),
            if left.len() == 1 { "s" } else { "" },
            if left.len() == 1 { "it" } else { "them" },
            if left.len() == 1 { "it" } else { "them" },
        ),
    }
}

/// Rows a backup can hold that `dwlink restore` still reads back: its 64 MiB
/// ([`crate::apply::backup::MAX_BACKUP_BYTES`]) at about 1 KiB a row, the key tables' rows as
/// the services return them (a 55,000-row backup of project configurations is 55 MB). An
/// estimate: a plan knows how many rows, not their bytes.
pub(super) const RESTORABLE_ROWS: usize = 60_000;

/// A backup that `dwlink restore` would likely refuse: the rows are still kept, complete, in
/// the file, but only other tools could put them back.
pub(super) fn backup_beyond_restore(findings: &mut Vec<Finding>, actions: &[Action]) {
    let Some(rows) = actions.iter().find_map(|a| match a {
        Action::Backup { rows, .. } => Some(*rows),
        _ => None,
    }) else {
        return;
    };
    if rows <= RESTORABLE_ROWS {
        return;
    }
    findings.push(Finding::new(
        C::BackupBeyondRestore,
        Severity::Warning,
        format!(
            "the backup will hold {} rows: at about 1 KiB a row that is more than the 64 MiB `dwlink restore` reads (about {} rows), so `dwlink restore` would likely refuse it; the file still holds every row, complete, as JSON",
            crate::plan::describe::thousands(rows),
            crate::plan::describe::thousands(RESTORABLE_ROWS)
        ),
        "if these rows may have to go back, plan to put them back from the backup file with your own tooling, or bring the tables under the limit before the apply".into(),
    ));
}
