//! dwlink's engine as the provider drives it: the CLI's route to the services, planner, guards,
//! lock, journal, backup and executor — nothing of it written again here.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use url::Url;

use dwlink_core::apply::executor::{ApplyError, Executor};
use dwlink_core::apply::guard::{self, Refusal};
use dwlink_core::apply::lock::{self, LockError};
use dwlink_core::apply::{journal, resume, steps::Steps};
use dwlink_core::diag::Problem;
use dwlink_core::model::desired::Desired;
use dwlink_core::model::live::LiveState;
use dwlink_core::plan::describe::describe;
use dwlink_core::plan::Plan;
use dwlink_http::{HttpProvider, ProviderSettings};

use crate::document::Auth;

/// What the provider block configured.
#[derive(Debug, Clone)]
pub struct Settings {
    pub auth: Auth,
    /// Backups and journals, as `dwlink apply --state-dir`.
    pub state_dir: PathBuf,
    pub emulator_url: Option<Url>,
    /// The provider block's `dual_write_service_url` and `_auth`: the gateway an import by F&O
    /// URL reads through (no API tells it).
    pub import_gateway: Option<(String, Option<String>)>,
}

/// Set when Terraform is interrupted: an apply finishes the step it is in, then stops with its
/// journal, exactly as `dwlink apply` does on a first Ctrl-C.
pub static STOP: AtomicBool = AtomicBool::new(false);

impl Settings {
    /// The HTTP client for `desired`, routed as the CLI routes `--emulator-url` (or not).
    pub fn http(&self, desired: &Desired) -> Result<HttpProvider, Problem> {
        // Never interactive: a device-code prompt cannot reach a Terraform user, so a missing
        // sign-in fails with the advice to run `dwlink login`.
        let settings = match &self.emulator_url {
            Some(url) => ProviderSettings::running_emulator(url, false, None),
            None => Ok(ProviderSettings::direct(false, None)),
        }
        .map_err(|e| e.to_problem())?;
        HttpProvider::new(desired, settings).map_err(|e| e.to_problem())
    }

    fn steps(&self, desired: &Desired) -> Result<Steps<HttpProvider>, Problem> {
        Ok(Steps::new(self.http(desired)?, desired.clone()))
    }

    fn journal_dir(&self) -> PathBuf {
        self.state_dir.join("journal")
    }

    /// The live state and the plan `dwlink apply` would run now (an unfinished earlier apply
    /// folded in, as the CLI does).
    pub async fn plan(&self, desired: &Desired) -> Result<(Plan, LiveState), Problem> {
        let live = self.read_live(desired).await?;
        Ok((self.plan_from(desired, &live)?, live))
    }

    pub async fn read_live(&self, desired: &Desired) -> Result<LiveState, Problem> {
        self.steps(desired)?.read_live().await
    }

    /// The plan for `desired` against a live state read earlier.
    pub fn plan_from(&self, desired: &Desired, live: &LiveState) -> Result<Plan, Problem> {
        Ok(resume::prepare(desired, live, &self.journal_dir())?.plan)
    }

    /// Executes the plan Terraform showed: refused unless live state is still what it was made
    /// from (`fingerprint`) and the plan made now lists exactly `shown`.
    pub async fn apply(
        &self,
        desired: &Desired,
        fingerprint: &str,
        shown: &[String],
    ) -> Result<Applied, Problem> {
        // The executor's future holds the journal writer, which is not `Send`: it runs on a
        // thread of its own, driven by this runtime.
        let (this, desired, fingerprint, shown) = (
            self.clone(),
            desired.clone(),
            fingerprint.to_string(),
            shown.to_vec(),
        );
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            handle.block_on(this.apply_here(&desired, &fingerprint, &shown))
        })
        .await
        .unwrap_or_else(|e| {
            Err(Problem::error(
                "dwlink::internal::apply",
                format!("the apply task ended abnormally: {e}"),
            ))
        })
    }

    async fn apply_here(
        &self,
        desired: &Desired,
        fingerprint: &str,
        shown: &[String],
    ) -> Result<Applied, Problem> {
        let steps = self.steps(desired)?;
        let _lock = match lock::acquire(&desired.finance_operations.url, &desired.name, "apply") {
            Ok(l) => l,
            Err(LockError::Busy(r)) => return Err(r.to_problem()),
            Err(LockError::Unavailable(p)) => return Err(p),
        };
        let live = steps.read_live().await?;
        if live.fingerprint() != fingerprint {
            return Err(stale());
        }
        let prepared = resume::prepare(desired, &live, &self.journal_dir())?;
        let plan = prepared.plan;
        if actions(&plan) != shown {
            return Err(stale());
        }
        if !plan.has_changes() {
            if let Some(u) = &prepared.unfinished {
                let _ = journal::supersede(u, &plan.plan_id, "nothing was left to do");
            }
            return Ok(Applied { backup: None });
        }
        guard::may_execute(desired, &plan).map_err(|r| r.to_problem())?;
        if let Some(u) = &prepared.unfinished {
            let _ = journal::supersede(u, &plan.plan_id, "finished by this apply");
        }
        let on_event = |_| {};
        let executor = Executor {
            ops: &steps,
            state_dir: &self.state_dir,
            cancel: &STOP,
            on_event: &on_event,
        };
        match executor.run(&plan).await {
            Ok(outcome) => Ok(Applied {
                backup: outcome.backup,
            }),
            Err(ApplyError::Failed {
                step,
                problem,
                journal,
                ..
            }) => Err(Problem {
                message: format!(
                    "step {step} failed: {} (journal: {})",
                    problem.message,
                    journal.display()
                ),
                ..problem
            }),
            Err(ApplyError::Interrupted {
                completed, journal, ..
            }) => Err(Problem::error(
                "dwlink::apply::interrupted",
                format!(
                    "interrupted: {completed} step(s) finished, the rest did not run (journal: {})",
                    journal.display()
                ),
            )
            .help("run `terraform apply` again (or `dwlink apply`): it finishes from the journal")),
            Err(ApplyError::Io(p)) => Err(p),
            Err(ApplyError::Refused(r)) => Err(r.to_problem()),
        }
    }
}

fn stale() -> Problem {
    Problem::error(
        Refusal::StalePlan.code(),
        "the plan is stale: the live state changed since `terraform plan` made it; nothing was applied",
    )
    .help("run `terraform plan` again, review the new planned_actions, and apply that plan")
}

pub struct Applied {
    pub backup: Option<PathBuf>,
}

/// The plan's steps as `planned_actions` lists them: kind, dwlink's own words, and a
/// `[destructive]` tag on every step that removes something.
pub fn actions(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| {
            let line = format!("{}: {}", a.action.kind().name(), describe(&a.action));
            if a.destructive {
                format!("{line} [destructive]")
            } else {
                line
            }
        })
        .collect()
}
