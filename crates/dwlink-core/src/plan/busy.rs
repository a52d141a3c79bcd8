//! The one refusal a plan cannot see in the live state it diffs: management requests of the
//! connection set still in flight (another apply, perhaps from another machine, or someone in the
//! dual-write workspace). `dwlink plan` asks for them after the diff, as apply does before its
//! first destructive step ([`crate::apply::executor`]), and foresees that refusal here.

use crate::apply::lock::{self, Holder};
use crate::apply::steps::Steps;
use crate::diag::{Problem, Severity};
use crate::link::Link;
use crate::model::desired::Desired;

use super::finding::{Finding, FindingCode};
use super::Action;
use super::Plan;

/// With requests in flight, a plan that would destroy gets the error finding apply's refusal
/// ("busy") would give, and withholds its actions.
pub fn foresee(plan: &mut Plan, connection_set: &str, requests: &[String]) {
    if requests.is_empty() || !plan.actions.iter().any(|a| a.destructive) {
        return;
    }
    let n = requests.len();
    plan.findings.insert(
        0,
        Finding::new(
            FindingCode::Busy,
            Severity::Error,
            format!(
                "{} is busy: the dual-write service shows {n} request{} of connection set {connection_set} still in flight: {}; apply would refuse, so dwlink plans no backup, delete or reset",
                plan.environment.name,
                if n == 1 { "" } else { "s" },
                requests.join(", ")
            ),
            "wait until those requests complete (`dwlink status` shows the maps), find out who started them, then plan again".into(),
        ),
    );
    withhold(plan);
}

/// Another dwlink of this machine holds the environment's lock: apply would be refused before it
/// reads anything ([`crate::apply::lock`]), so the plan says so as the same error.
pub fn foresee_lock(plan: &mut Plan, holder: &Holder, lock: &std::path::Path) {
    plan.findings.insert(
        0,
        Finding::new(
            FindingCode::Busy,
            Severity::Error,
            format!(
                "{} is busy: another dwlink holds its lock ({holder}; lock file {}): apply would refuse until it ends",
                plan.environment.name,
                lock.display()
            ),
            "wait for that dwlink to finish, then plan again (the lock is released when its process exits, even if it is killed)".into(),
        ),
    );
    withhold(plan);
}

/// A plan that gained an error finding after the diff plans nothing, as the diff's own errors do.
fn withhold(plan: &mut Plan) {
    if !plan.actions.is_empty() {
        let intended: Vec<Action> = plan.actions.drain(..).map(|a| a.action).collect();
        plan.findings.push(super::diff::withheld_finding(&intended));
        plan.withheld = intended;
    }
    plan.recount();
    plan.summary.errors = plan
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
}

/// `dwlink plan`'s read: live state, the diff, another local apply's lock, and (only when the
/// plan would destroy, as apply asks) the requests in flight foreseen: those the live read's own
/// replies list when the link kept them, else read again.
pub async fn read_and_plan<L: Link>(steps: &Steps<L>, desired: &Desired) -> Result<Plan, Problem> {
    let state = steps.read_live().await?;
    let mut plan = Plan::make(desired, &state);
    if let Some((holder, lock)) = lock::held_elsewhere(&desired.finance_operations.url) {
        foresee_lock(&mut plan, &holder, &lock);
        return Ok(plan);
    }
    if plan.actions.iter().any(|a| a.destructive) {
        if let Some((conn, requests)) = steps.requests_seen_or_read().await? {
            let shown: Vec<String> = requests
                .iter()
                .map(|r| format!("{} ({})", r.what, r.id))
                .collect();
            foresee(&mut plan, &conn.name, &shown);
        }
    }
    Ok(plan)
}
