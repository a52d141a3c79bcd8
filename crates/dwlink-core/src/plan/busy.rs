//! The one refusal a plan cannot see in the live state it diffs: management requests of the
//! connection set still in flight (another apply, perhaps from another machine, or someone in the
//! dual-write workspace). `dwlink plan` asks for them after the diff, as apply does before its
//! first destructive step ([`crate::apply::executor`]), and foresees that refusal here.

use crate::apply::steps::Steps;
use crate::diag::{Problem, Severity};
use crate::link::Link;
use crate::model::desired::Desired;

use super::finding::{Finding, FindingCode};
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
    plan.actions.clear();
    plan.recount();
    plan.summary.errors = plan
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
}

/// `dwlink plan`'s read: live state, the diff, and (only when the plan would destroy, as apply
/// asks) the requests in flight foreseen.
pub async fn read_and_plan<L: Link>(steps: &Steps<L>, desired: &Desired) -> Result<Plan, Problem> {
    let state = steps.read_live().await?;
    let mut plan = Plan::make(desired, &state);
    if plan.actions.iter().any(|a| a.destructive) {
        if let Some((conn, requests)) = steps.requests_in_flight().await? {
            let shown: Vec<String> = requests
                .iter()
                .map(|r| format!("{} ({})", r.what, r.id))
                .collect();
            foresee(&mut plan, &conn.name, &shown);
        }
    }
    Ok(plan)
}
