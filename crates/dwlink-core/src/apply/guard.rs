//! The guards an apply passes before anything changes. Each refusal is a [`Refusal`] a caller
//! can match; [`Refusal::to_problem`] gives the diagnostic users see (exit 3 at the CLI).
//!
//! Order matters and is fixed here: a saved plan must be for this config's environment and made
//! by this dwlink; live state must not have moved since it was made; a protected environment
//! never gets destructive steps; a plan with error findings never runs.

use thiserror::Error;

use super::lock::Holder;
use crate::diag::{Problem, Severity};
use crate::model::desired::Desired;
use crate::model::live::LiveState;
use crate::plan::{Plan, DWLINK_VERSION};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    #[error("the plan is for {plan_environment} ({plan_url}), the config for {config_environment} ({config_url})")]
    EnvironmentMismatch {
        plan_environment: String,
        plan_url: String,
        config_environment: String,
        config_url: String,
    },
    #[error("the plan was made by dwlink {made_by}, this is dwlink {DWLINK_VERSION}")]
    Version { made_by: String },
    #[error("the saved plan is stale: the live state changed since it was made")]
    StalePlan,
    #[error("{environment} is protected; dwlink refuses its destructive steps")]
    Protected { environment: String },
    #[error("the plan has error findings ({}); nothing was applied", codes.join(", "))]
    ErrorFindings { codes: Vec<String> },
    #[error("--confirm names one environment, but several configs were given")]
    ConfirmFleet,
    /// Another dwlink of this machine holds the environment's lock ([`super::lock`]).
    #[error("{environment} is busy: another dwlink holds its lock ({}; lock file {lock}); nothing was changed", holder_text(holder))]
    Busy {
        environment: String,
        /// `None` when the holder has not written its note yet.
        holder: Option<Box<Holder>>,
        lock: String,
    },
    /// The management service shows requests of the connection set still in flight: another
    /// apply (perhaps from another machine) or someone in the dual-write workspace is at work.
    #[error("{environment} is busy: the dual-write service shows {} request{} of connection set {connection_set} still in flight: {}; nothing was changed", requests.len(), if requests.len() == 1 { "" } else { "s" }, requests.join(", "))]
    RequestsInFlight {
        environment: String,
        connection_set: String,
        /// `what (id)` of each.
        requests: Vec<String>,
    },
}

fn holder_text(holder: &Option<Box<Holder>>) -> String {
    match holder {
        Some(h) => h.to_string(),
        None => "it has not said who it is yet".into(),
    }
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::EnvironmentMismatch { .. } => "dwlink::apply::environment_mismatch",
            Refusal::Version { .. } => "dwlink::apply::version",
            Refusal::StalePlan => "dwlink::apply::stale_plan",
            Refusal::Protected { .. } => "dwlink::apply::protected",
            Refusal::ErrorFindings { .. } => "dwlink::apply::findings",
            Refusal::ConfirmFleet => "dwlink::apply::confirm_fleet",
            Refusal::Busy { .. } | Refusal::RequestsInFlight { .. } => "dwlink::apply::busy",
        }
    }

    fn help(&self) -> &'static str {
        match self {
            Refusal::EnvironmentMismatch { .. } => "apply a plan made from this config, or drop -f",
            Refusal::Version { .. } => "make a new plan with this dwlink: `dwlink plan --out PLAN`",
            Refusal::StalePlan => {
                "make a new plan (`dwlink plan --out PLAN`), review it, and apply that"
            }
            Refusal::Protected { .. } => {
                "set `metadata.protected: false` for the maintenance window, plan again, then apply"
            }
            Refusal::ErrorFindings { .. } => "fix what the findings say, then plan again",
            Refusal::ConfirmFleet => {
                "confirm each environment at its prompt, or use --auto-approve in CI"
            }
            Refusal::Busy { .. } => {
                "wait for that dwlink to finish, then run this command again (the lock is released when its process exits, even if it is killed); in CI, give each environment one concurrency group (README, \"One apply at a time\")"
            }
            Refusal::RequestsInFlight { .. } => {
                "wait until those requests complete (`dwlink status` shows the maps), find out who started them, then run the apply again"
            }
        }
    }

    pub fn to_problem(&self) -> Problem {
        Problem::error(self.code(), self.to_string()).help(self.help())
    }
}

/// A saved plan applied together with `-f CONFIG`: both must name the same environment. The
/// declaration the plan carries is applied, but protection switched on in the config since the
/// plan was made still protects.
pub fn saved_plan_with_config(plan: &Plan, config: &Desired) -> Result<Desired, Refusal> {
    if config.name != plan.environment.name
        || config.finance_operations.url != plan.desired.finance_operations.url
    {
        return Err(Refusal::EnvironmentMismatch {
            plan_environment: plan.environment.name.clone(),
            plan_url: plan.environment.finance_operations_url.clone(),
            config_environment: config.name.clone(),
            config_url: config
                .finance_operations
                .url
                .as_str()
                .trim_end_matches('/')
                .to_string(),
        });
    }
    let mut guarded = plan.desired.clone();
    guarded.protected |= config.protected;
    Ok(guarded)
}

/// A saved plan is only applied by the dwlink that made it: plan formats and fingerprints change
/// between versions.
pub fn made_by_this_version(plan: &Plan) -> Result<(), Refusal> {
    if plan.dwlink_version != DWLINK_VERSION {
        return Err(Refusal::Version {
            made_by: plan.dwlink_version.clone(),
        });
    }
    Ok(())
}

/// A saved plan is applied exactly as shown, so only while live state is what it was made from.
pub fn still_fresh(plan: &Plan, live: &LiveState) -> Result<(), Refusal> {
    if live.fingerprint() != plan.live_fingerprint {
        return Err(Refusal::StalePlan);
    }
    Ok(())
}

/// The last checks before confirmation: protection and error findings.
pub fn may_execute(desired: &Desired, plan: &Plan) -> Result<(), Refusal> {
    // A plan withholds the destructive steps protection refuses, and says so in a finding.
    let foreseen = plan
        .findings
        .iter()
        .any(|f| f.code == crate::plan::FindingCode::Protected);
    if desired.protected && (foreseen || plan.actions.iter().any(|a| a.destructive)) {
        return Err(Refusal::Protected {
            environment: desired.name.clone(),
        });
    }
    let codes: Vec<String> = plan
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.code.as_str().to_string())
        .collect();
    if !codes.is_empty() {
        return Err(Refusal::ErrorFindings { codes });
    }
    Ok(())
}
