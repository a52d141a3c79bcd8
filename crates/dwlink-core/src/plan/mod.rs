//! Plans: the versioned, self-describing result of diffing the declaration against live state.
//!
//! A plan carries what it was made from (environment, live fingerprint, dwlink version) so that
//! `apply PLAN` can refuse it when any of that moved.

pub mod action;
pub mod busy;
pub mod describe;
pub mod diff;
pub mod finding;
pub mod planfile;
pub mod signature;
pub mod verify_saved;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::raw::EnvironmentType;
use crate::diag::Severity;
use crate::model::desired::Desired;
use crate::model::live::LiveState;

pub use action::{Action, ActionKind, PlannedAction, UnreadTable};
pub use finding::{Finding, FindingCode};

pub const FORMAT_VERSION: &str = "1";
pub const DWLINK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The four reset scenarios of Microsoft's "Reset dual-write" page (`data-entities/dual-write/reset.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    SameOrganization,
    OrganizationMismatch,
    NoPowerPlatformLink,
    CloudHosted,
}

impl Scenario {
    pub fn number(self) -> u8 {
        match self {
            Scenario::SameOrganization => 1,
            Scenario::OrganizationMismatch => 2,
            Scenario::NoPowerPlatformLink => 3,
            Scenario::CloudHosted => 4,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Scenario::SameOrganization => "dual-write uses the Power Platform link's organization",
            Scenario::OrganizationMismatch => {
                "dual-write is connected to another organization than the Power Platform link"
            }
            Scenario::NoPowerPlatformLink => "the Power Platform link is blank",
            Scenario::CloudHosted => "cloud-hosted environment without Power Platform integration",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioView {
    pub id: Scenario,
    pub number: u8,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub name: String,
    pub finance_operations_url: String,
    pub environment_type: EnvironmentType,
    pub dataverse_url: String,
    pub protected: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of actions of each kind present in the plan.
    pub actions: BTreeMap<ActionKind, usize>,
    pub destructive: usize,
    pub rows_to_delete: usize,
    /// Rows to delete, by table.
    pub rows_by_table: BTreeMap<String, usize>,
    /// Tables the reset clears whose rows dwlink cannot read: in no count above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables_not_counted: Vec<String>,
    pub errors: usize,
    pub warnings: usize,
}

/// The link's fields as declared and as live, for the side-by-side diff in the human view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkComparison {
    pub declared: BTreeMap<String, String>,
    pub live: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: String,
    pub dwlink_version: String,
    pub plan_id: String,
    pub created_at: String,
    pub environment: Environment,
    pub live_fingerprint: String,
    pub scenario: ScenarioView,
    pub findings: Vec<Finding>,
    pub actions: Vec<PlannedAction>,
    pub summary: Summary,
    pub link: LinkComparison,
    /// The validated declaration the plan was made from (no secrets: only the variable name).
    pub desired: Desired,
    /// The actions error findings withheld; never written: a plan file carries what it plans.
    #[serde(skip)]
    pub withheld: Vec<Action>,
}

impl Plan {
    pub fn make(desired: &Desired, live: &LiveState) -> Plan {
        Plan::make_restoring(desired, live, None)
    }

    /// [`Plan::make`] for the re-plan of an unfinished apply whose reset is done and whose
    /// solutions are not ([`diff::Restoring`]).
    pub fn make_restoring(
        desired: &Desired,
        live: &LiveState,
        restoring: Option<&diff::Restoring>,
    ) -> Plan {
        let now = jiff::Timestamp::now();
        let mut decision = diff::diff_restoring(desired, live, restoring);
        // The one finding that needs a clock: kept out of the diff, which has none.
        diff::paused_too_long(&mut decision.findings, live, now);
        let actions: Vec<PlannedAction> = decision
            .actions
            .iter()
            .cloned()
            .map(PlannedAction::from)
            .collect();
        let mut counts = BTreeMap::new();
        for a in &decision.actions {
            *counts.entry(a.kind()).or_insert(0) += 1;
        }
        let mut rows_by_table = BTreeMap::new();
        for a in &decision.actions {
            if let Action::ClearTable { table, rows, .. } = a {
                rows_by_table.insert(table.clone(), *rows);
            }
        }
        let summary = Summary {
            actions: counts,
            destructive: decision.actions.iter().filter(|a| a.destructive()).count(),
            rows_to_delete: diff::rows_to_delete(&decision.actions),
            rows_by_table,
            tables_not_counted: not_counted(&decision.actions),
            errors: count(&decision.findings, Severity::Error),
            warnings: count(&decision.findings, Severity::Warning),
        };
        Plan {
            format_version: FORMAT_VERSION.into(),
            dwlink_version: DWLINK_VERSION.into(),
            plan_id: uuid::Uuid::new_v4().to_string(),
            created_at: now.to_string(),
            environment: Environment {
                name: desired.name.clone(),
                finance_operations_url: trim(desired.finance_operations.url.as_str()),
                environment_type: desired.finance_operations.environment_type,
                dataverse_url: trim(desired.dataverse.url.as_str()),
                protected: desired.protected,
            },
            live_fingerprint: live.fingerprint(),
            scenario: ScenarioView {
                id: decision.scenario,
                number: decision.scenario.number(),
                title: decision.scenario.title().into(),
            },
            findings: decision.findings,
            actions,
            summary,
            link: compare(desired, live),
            desired: desired.clone(),
            withheld: decision.withheld,
        }
    }

    /// Recompute the summary after the action list changed (resume).
    pub fn recount(&mut self) {
        let mut counts = BTreeMap::new();
        let mut rows_by_table = BTreeMap::new();
        for a in &self.actions {
            *counts.entry(a.action.kind()).or_insert(0) += 1;
            if let Action::ClearTable { table, rows, .. } = &a.action {
                rows_by_table.insert(table.clone(), *rows);
            }
        }
        self.summary.actions = counts;
        self.summary.destructive = self.actions.iter().filter(|a| a.destructive).count();
        self.summary.rows_to_delete = rows_by_table.values().sum();
        self.summary.rows_by_table = rows_by_table;
        let actions: Vec<Action> = self.actions.iter().map(|a| a.action.clone()).collect();
        self.summary.tables_not_counted = not_counted(&actions);
    }

    pub fn has_changes(&self) -> bool {
        !self.actions.is_empty()
    }

    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

fn not_counted(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .flat_map(|a| match a {
            Action::ResetLink { unread_tables, .. } => unread_tables.as_slice(),
            _ => &[],
        })
        .map(|t| t.table.clone())
        .collect()
}

fn count(findings: &[Finding], s: Severity) -> usize {
    findings.iter().filter(|f| f.severity == s).count()
}

fn trim(u: &str) -> String {
    u.trim_end_matches('/').to_string()
}

fn compare(desired: &Desired, live: &LiveState) -> LinkComparison {
    let mut declared = BTreeMap::new();
    declared.insert("dataverse".into(), trim(desired.dataverse.url.as_str()));
    declared.insert(
        "legal_entities".into(),
        sorted(&desired.link.legal_entities).join(", "),
    );
    declared.insert(
        "key_tables".into(),
        "only rows for the declared organization".into(),
    );
    let mut l = BTreeMap::new();
    let conn = live.connection.as_ref();
    l.insert(
        "dataverse".into(),
        conn.and_then(|c| c.organization.as_ref())
            .map_or("(unlinked)".into(), |o| trim(o.url.as_str())),
    );
    l.insert(
        "legal_entities".into(),
        conn.map(|c| describe::in_order(&c.legal_entities))
            .unwrap_or_default(),
    );
    let foreign: usize = live
        .table("DualWriteProjectConfiguration")
        .map(|t| {
            t.external_urls
                .iter()
                .filter(|(u, _)| {
                    url::Url::parse(u).map_or(true, |u| {
                        !crate::model::identity::same_host(&u, &desired.dataverse.url)
                    })
                })
                .map(|(_, n)| n)
                .sum()
        })
        .unwrap_or(0);
    l.insert(
        "key_tables".into(),
        if foreign == 0 {
            "only rows for the declared organization".into()
        } else {
            format!("{foreign} rows for another organization")
        },
    );
    LinkComparison { declared, live: l }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

#[cfg(test)]
mod tests;
