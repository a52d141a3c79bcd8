//! The pure heart of dwlink: (desired, live) → scenario, findings and ordered actions.
//! No I/O, no clock: the same inputs always give the same plan. Split by concern: [`drift`]
//! (what differs), [`reset`] (whether and where to reset), [`findings`] (what to tell the user),
//! [`actions`] (what to do, in order).

mod actions;
mod drift;
mod evidence;
mod findings;
mod maps;
mod refusals;
pub(crate) use maps::paused_too_long;
pub(crate) use refusals::withheld_finding;
mod reset;
mod restoring;
pub use restoring::Restoring;

use url::Url;

use crate::config::raw::EnvironmentType;
use crate::model::desired::Desired;
use crate::model::live::{LiveState, Service};

use super::action::Action;
use super::finding::Finding;
use super::Scenario;
use crate::model::identity::same_organization;

/// What the diff decided, before it is wrapped into a versioned plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub scenario: Scenario,
    pub findings: Vec<Finding>,
    pub actions: Vec<Action>,
    /// What the plan would do without its error findings: said in `plan.withheld`, and what an
    /// unfinished apply's reset target is checked against.
    pub withheld: Vec<Action>,
}

fn host(u: &Url) -> String {
    u.as_str().trim_end_matches('/').to_string()
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
        Some(current) if same_organization(current, pp) => Scenario::SameOrganization,
        _ => Scenario::OrganizationMismatch,
    }
}

pub fn diff(desired: &Desired, live: &LiveState) -> Decision {
    diff_restoring(desired, live, None)
}

/// [`diff`] for the re-plan of an apply whose reset is done and whose solutions are not: the
/// solutions are applied again and the maps they bring back are planned as that apply planned
/// them (see [`restoring`]).
pub fn diff_restoring(
    desired: &Desired,
    live: &LiveState,
    restoring: Option<&Restoring>,
) -> Decision {
    // A reset planned now makes its own prediction of what the solutions leave.
    let scenario = classify(live);
    let drift = drift::drift(desired, live);
    let decision = reset::decide(desired, live, scenario, &drift);
    let restoring = restoring.filter(|_| !decision.reset);
    decide(desired, live, scenario, drift, decision, restoring)
}

fn decide(
    desired: &Desired,
    live: &LiveState,
    scenario: Scenario,
    drift: drift::Drift,
    decision: reset::ResetDecision,
    restoring: Option<&Restoring>,
) -> Decision {
    // Pushed in this order, then sorted by severity (stably), so plans list findings alike.
    let mut findings = Vec::new();
    findings::organization_id(&mut findings, desired, live);
    findings::integration(&mut findings, desired, live);
    evidence::connection_doubt(&mut findings, live);
    let current = live
        .connection
        .as_ref()
        .and_then(|c| c.organization.clone());
    let pp = live.finance_operations.power_platform_link.clone();
    findings::scenario_finding(
        &mut findings,
        scenario,
        desired,
        decision.reset,
        &current,
        &pp,
    );
    findings::target(&mut findings, desired, live, scenario, &decision, &drift);
    evidence::body_inferred(&mut findings, desired, live, scenario, decision.reset);
    let copied_at = findings.len();
    let cleanup = match (decision.clears, decision.reset) {
        (true, _) => findings::Cleanup::Planned,
        (false, true) => findings::Cleanup::ByReset,
        (false, false) => findings::Cleanup::None,
    };
    findings::copied_rows(&mut findings, desired, live, &drift, cleanup);
    let copied_end = findings.len();
    findings::legal_entities(&mut findings, desired, &drift, decision.reset);
    if decision.reset {
        findings::maps_running(&mut findings, desired, &actions::active_maps(live));
    }
    refusals::foreseen(&mut findings, desired, live, decision.reset);

    let map_plan = maps::plan(desired, live, decision.reset, restoring, &mut findings);
    // A step that cannot run is never preceded by steps that destroy.
    let unknowable = findings.iter().any(|f| {
        f.severity == crate::diag::Severity::Error && refusals::WITHHOLD.contains(&f.code)
    });
    let intended = match unknowable {
        true => Vec::new(),
        false => actions::ordered(desired, live, &decision, restoring, map_plan),
    };
    findings::protected(
        &mut findings,
        desired,
        intended.iter().any(Action::destructive),
    );
    findings::backup_beyond_restore(&mut findings, &intended);
    // Apply refuses any plan with an error finding, so such a plan plans nothing: it only says
    // what it would do, and the texts that spoke of "this plan's" cleanup say it is withheld.
    let blocked = findings
        .iter()
        .any(|f| f.severity == crate::diag::Severity::Error);
    let (actions, withheld) = if blocked && !intended.is_empty() {
        if decision.reset {
            let mut reworded = Vec::new();
            findings::copied_rows(
                &mut reworded,
                desired,
                live,
                &drift,
                findings::Cleanup::Withheld,
            );
            findings.splice(copied_at..copied_end, reworded);
        }
        refusals::withheld(&mut findings, &intended);
        (Vec::new(), intended)
    } else {
        (intended, Vec::new())
    };
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Decision {
        scenario,
        findings,
        actions,
        withheld,
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
