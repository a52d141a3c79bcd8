//! The pure heart of dwlink: (desired, live) → scenario, findings and ordered actions.
//! No I/O, no clock: the same inputs always give the same plan.

use std::collections::BTreeMap;

use url::Url;

use crate::config::raw::{EnvironmentType, Kind, ResetTarget, ResetWhen};
use crate::diag::Severity;
use crate::model::desired::Desired;
use crate::model::live::{LiveState, OrgRef, Service};

use super::action::{Action, TableRows};
use super::finding::{Finding, FindingCode as C};
use super::Scenario;

/// What the diff decided, before it is wrapped into a versioned plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub scenario: Scenario,
    pub findings: Vec<Finding>,
    pub actions: Vec<Action>,
}

pub fn same_host(a: &Url, b: &Url) -> bool {
    a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

fn same_host_str(a: &Url, b: &str) -> bool {
    Url::parse(b.trim()).is_ok_and(|b| same_host(a, &b))
}

fn host(u: &Url) -> String {
    u.as_str().trim_end_matches('/').to_string()
}

fn org_matches(a: &OrgRef, b: &OrgRef) -> bool {
    match (a.organization_id, b.organization_id) {
        (Some(x), Some(y)) => x == y,
        _ => same_host(&a.url, &b.url),
    }
}

pub fn classify(live: &LiveState) -> Scenario {
    let fo = &live.finance_operations;
    if fo.environment_type == EnvironmentType::CloudHosted {
        return Scenario::CloudHosted;
    }
    let Some(pp) = &fo.power_platform_link else {
        return Scenario::NoPowerPlatformLink;
    };
    match live
        .connection
        .as_ref()
        .and_then(|c| c.organization.as_ref())
    {
        Some(current) if org_matches(current, pp) => Scenario::SameOrganization,
        _ => Scenario::OrganizationMismatch,
    }
}

pub fn diff(desired: &Desired, live: &LiveState) -> Decision {
    let mut findings = Vec::new();
    let scenario = classify(live);
    let declared = &desired.dataverse.url;
    let current = live
        .connection
        .as_ref()
        .and_then(|c| c.organization.clone());
    let pp = live.finance_operations.power_platform_link.clone();

    // Where a reset would leave the connection: the Power Platform link, or the current
    // organization (current-environment target, and always on cloud-hosted).
    let landing = match (scenario, desired.link.reset_target) {
        (Scenario::CloudHosted, _) | (_, ResetTarget::CurrentEnvironment) => current.clone(),
        (_, ResetTarget::PowerPlatformLink) => pp.clone(),
    };

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

    // Drift: what makes the live link differ from the declaration.
    let linked_elsewhere = match &current {
        Some(c) => !same_host(&c.url, declared),
        None => true,
    };
    let project = live.table("DualWriteProjectConfiguration");
    let foreign: BTreeMap<String, usize> = project
        .map(|t| {
            t.external_urls
                .iter()
                .filter(|(u, _)| !same_host_str(declared, u))
                .map(|(u, n)| (u.clone(), *n))
                .collect()
        })
        .unwrap_or_default();
    let runtime = live.table("msdyn_dualwriteruntimeconfig");
    let org_names: Vec<String> = [
        live.dataverse.unique_name.clone(),
        live.dataverse.friendly_name.clone(),
        Some(live.dataverse.organization_id.to_string()),
    ]
    .into_iter()
    .flatten()
    .map(|s| s.to_lowercase())
    .collect();
    let secure_mismatch: BTreeMap<String, usize> = runtime
        .map(|t| {
            t.secure_config_organizations
                .iter()
                .filter(|(o, _)| !org_names.contains(&o.to_lowercase()))
                .map(|(o, n)| (o.clone(), *n))
                .collect()
        })
        .unwrap_or_default();
    let drift = linked_elsewhere || !foreign.is_empty() || !secure_mismatch.is_empty();

    let reset = match desired.reset.when {
        ResetWhen::Always => true,
        ResetWhen::OnMismatch => drift,
        ResetWhen::Never => false,
    } || desired.kind == Kind::RestoreCleanup;
    let clears = reset && desired.reset.clear_tables;

    scenario_finding(&mut findings, scenario, desired, reset, &current, &pp);

    if reset {
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
    } else if drift {
        findings.push(Finding::new(
            C::ResetDisabled,
            Severity::Warning,
            "the live link differs from the declaration, but `reset.when: never` forbids a reset"
                .into(),
            "set `reset.when: on-mismatch` to let dwlink plan the reset".into(),
        ));
    }

    for (url, rows) in &foreign {
        let (severity, tail) = if clears {
            (
                Severity::Warning,
                "this plan clears them; until it is applied, data can flow there",
            )
        } else {
            (Severity::Error, "nothing in this plan clears them")
        };
        findings.push(Finding::new(
            C::RestoreForeignLink,
            severity,
            format!(
                "{rows} DualWriteProjectConfiguration row{} sync to {}, not to the declared {}: data written here flows into that organization; {tail}",
                plural(*rows),
                url.trim_end_matches('/'),
                host(declared)
            ),
            if clears {
                "review the plan and apply it before starting any map".into()
            } else {
                "use a RestoreCleanup manifest (or `reset.clear_tables: true` with `reset.when: on-mismatch`) to clear the copied rows".into()
            },
        ));
    }
    for (org, rows) in &secure_mismatch {
        let actual = live
            .dataverse
            .friendly_name
            .clone()
            .or(live.dataverse.unique_name.clone())
            .unwrap_or_else(|| live.dataverse.organization_id.to_string());
        findings.push(Finding::new(
            C::SecureConfigOrganizationMismatch,
            if clears { Severity::Warning } else { Severity::Error },
            format!(
                "{rows} runtime-configuration row{} name SecureConfig organization {org}, but the actual organization is {actual}: dual-write fails with \"SecureConfig Organization ({org}) does not match actual CRM Organization ({actual})\"",
                plural(*rows)
            ),
            if clears {
                "this plan deletes those rows before relinking".into()
            } else {
                "delete all msdyn_dualwriteruntimeconfig rows: allow `reset.clear_tables: true`".into()
            },
        ));
    }

    let mut actions = Vec::new();
    if reset {
        let active: Vec<String> = live
            .connection
            .iter()
            .flat_map(|c| c.maps.iter())
            .filter(|m| m.state.is_active())
            .map(|m| m.name.clone())
            .collect();
        if !active.is_empty() {
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
                    stopped_maps_help(&active, &desired.after_reset.start_maps),
                ));
                actions.push(Action::StopMaps { maps: active });
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
        if clears {
            let tables: Vec<TableRows> = live
                .key_tables
                .iter()
                .filter(|t| t.rows() > 0)
                .map(|t| TableRows {
                    service: t.service,
                    table: t.table.clone(),
                    rows: t.rows(),
                })
                .collect();
            let rows = tables.iter().map(|t| t.rows).sum();
            if rows > 0 {
                actions.push(Action::Backup {
                    tables: tables.clone(),
                    rows,
                });
                for t in live.key_tables.iter().filter(|t| t.rows() > 0) {
                    actions.push(Action::ClearTable {
                        service: t.service,
                        table: t.table.clone(),
                        entity_set: t.entity_set.clone(),
                        rows: t.rows(),
                    });
                }
            }
        }
        actions.push(Action::ResetLink {
            target: desired.link.reset_target,
            organization_url: landing
                .as_ref()
                .map_or_else(|| host(declared), |l| host(&l.url)),
            force: desired.reset.force,
        });
        if !desired.link.legal_entities.is_empty() {
            actions.push(Action::LinkLegalEntities {
                legal_entities: desired.link.legal_entities.clone(),
            });
        }
        if !desired.after_reset.apply_solutions.is_empty() {
            actions.push(Action::ApplySolutions {
                solutions: desired.after_reset.apply_solutions.clone(),
            });
        }
        if !desired.after_reset.start_maps.is_empty() {
            actions.push(Action::StartMaps {
                maps: desired.after_reset.start_maps.clone(),
            });
        }
    } else if let Some(c) = &live.connection {
        let mut want = desired.link.legal_entities.clone();
        want.sort();
        if c.organization.is_some() && want != c.legal_entities {
            actions.push(Action::LinkLegalEntities {
                legal_entities: desired.link.legal_entities.clone(),
            });
        }
    }
    if !actions.is_empty() {
        actions.push(Action::Verify);
    }

    if desired.protected && actions.iter().any(Action::destructive) {
        findings.push(Finding::new(
            C::Protected,
            Severity::Error,
            format!(
                "{} is protected: the destructive steps of this plan will be refused",
                desired.name
            ),
            "set `metadata.protected: false` for the maintenance window, review the plan, then apply".into(),
        ));
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Decision {
        scenario,
        findings,
        actions,
    }
}

fn scenario_finding(
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

/// What happens to the maps a forced reset stops: `after_reset.start_maps` restarts the ones it
/// names (matched exactly, as the start-maps step matches them), the rest stay stopped.
fn stopped_maps_help(stopped: &[String], start_maps: &[String]) -> String {
    let (restarted, left): (Vec<&String>, Vec<&String>) =
        stopped.iter().partition(|m| start_maps.contains(m));
    let names = |v: &[&String]| v.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
    match (restarted.is_empty(), left.is_empty()) {
        (true, _) => {
            "they come back stopped; list them in `after_reset.start_maps` to restart them".into()
        }
        (false, true) => {
            "`after_reset.start_maps` starts them again after the reset".into()
        }
        (false, false) => format!(
            "`after_reset.start_maps` starts {} again after the reset; {} come{} back stopped: list {} there to restart {}",
            names(&restarted),
            names(&left),
            if left.len() == 1 { "s" } else { "" },
            if left.len() == 1 { "it" } else { "them" },
            if left.len() == 1 { "it" } else { "them" },
        ),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Rows the plan deletes, by table, for summaries and backups.
pub fn rows_to_delete(actions: &[Action]) -> usize {
    actions
        .iter()
        .map(|a| match a {
            Action::ClearTable { rows, .. } => *rows,
            _ => 0,
        })
        .sum()
}

/// Which service a table lives in, as plans print it.
pub fn service_name(s: Service) -> &'static str {
    match s {
        Service::FinanceOperations => "finance-operations",
        Service::Dataverse => "dataverse",
    }
}
