//! The last step of every apply: re-read live state and check that a fresh plan is empty.

use crate::config::raw::{Kind, ResetWhen};
use crate::diag::{Problem, Severity};
use crate::plan::{ActionKind, FindingCode, Plan};

use super::steps::Steps;
use crate::link::Link;

/// The declaration as it should hold once applied: a DualWriteLink's "reset always" would plan
/// another reset forever, so only the question "does the live link match?" is asked. A
/// RestoreCleanup needs no change: it plans a reset only while evidence of the restore remains.
pub fn settled(desired: &crate::model::desired::Desired) -> crate::model::desired::Desired {
    let mut settled = desired.clone();
    if settled.kind == Kind::DualWriteLink && settled.reset.when == ResetWhen::Always {
        settled.reset.when = ResetWhen::OnMismatch;
    }
    settled
}

pub async fn verify<L: Link>(ops: &Steps<L>, plan: &Plan) -> Result<String, Problem> {
    let reset = plan
        .actions
        .iter()
        .any(|a| a.action.kind() == ActionKind::ResetLink);
    let live = ops.read_live().await?;
    let fresh = Plan::make(&settled(&plan.desired), &live);
    let left: Vec<String> = fresh
        .actions
        .iter()
        .filter(|a| a.action.kind() != ActionKind::Verify)
        .map(|a| {
            format!(
                "{} {}",
                a.action.kind().name(),
                crate::plan::describe::describe(&a.action)
            )
        })
        .collect();
    // A verify follows a reset or map steps. A reset was asked for the declared legal entities:
    // a difference left is a reset the service did not fully honour, although a plan only warns
    // about it.
    let errors: Vec<String> = fresh
        .findings
        .iter()
        .filter(|f| {
            f.severity == Severity::Error || (reset && f.code == FindingCode::LegalEntitiesDiffer)
        })
        .map(|f| f.message.clone())
        .collect();
    if left.is_empty() && errors.is_empty() {
        Ok("live state matches the declaration".into())
    } else {
        Err(Problem::error(
            "dwlink::apply::verify",
            format!(
                "after applying, the live state still differs from the declaration: {}",
                left.into_iter()
                    .chain(errors)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
        .help("run `dwlink plan` to see what differs; the service may have ignored a request"))
    }
}
