//! The human view of a restore's plan: per backed-up table, how many of its rows go back.

use dwlink_core::restore::{RestorePlan, RestoreReport};

pub(crate) use super::plan_view::thousands;

pub(crate) fn render(plan: &RestorePlan<'_>) -> String {
    plan.tables
        .iter()
        .map(|m| {
            format!(
                "  + {:<36} {:>9} of {:>9} rows to put back\n",
                m.table.table,
                thousands(m.rows.len()),
                thousands(m.table.rows.len())
            )
        })
        .collect()
}

/// Each table's outcome after a restore: every table is tried, whatever another one did.
pub(crate) fn outcomes(report: &RestoreReport<'_>) -> String {
    report
        .tables
        .iter()
        .map(|t| match &t.problem {
            None => format!(
                "  ✓ {:<36} {:>9} rows put back\n",
                t.table.table,
                thousands(t.restored)
            ),
            // The reason follows as the table's own diagnostic: a failed change set's message
            // can be long, and this line is a summary.
            Some(p) => format!(
                "  ✗ {:<36} {:>9} rows not put back ({})\n",
                t.table.table,
                thousands(t.missing),
                p.code
            ),
        })
        .collect()
}

/// `{"event":"plan","tables":[{"table","rows","of"}],"rows":N}`: what a restore would put back.
pub(crate) fn plan_json(plan: &RestorePlan<'_>) -> serde_json::Value {
    serde_json::json!({
        "event": "plan",
        "tables": plan.tables.iter().map(|m| serde_json::json!({
            "table": m.table.table,
            "rows": m.rows.len(),
            "of": m.table.rows.len(),
        })).collect::<Vec<_>>(),
        "rows": plan.rows(),
    })
}

/// `{"event":"summary","restored":N,"failed":N,"tables":[…],"backup":"…"}`: every table is
/// tried, and each one's outcome is in the summary.
pub(crate) fn summary_json(
    report: &RestoreReport<'_>,
    backup: &std::path::Path,
) -> serde_json::Value {
    serde_json::json!({
        "event": "summary",
        "restored": report.restored(),
        "failed": report.failed(),
        "tables": report.tables.iter().map(|t| serde_json::json!({
            "table": t.table.table,
            "restored": t.restored,
            "missing": t.missing,
            "error": t.problem.as_ref().map(|p| p.code.to_string()),
        })).collect::<Vec<_>>(),
        "backup": backup.display().to_string(),
    })
}

/// The summary of a restore that found every backed-up row present.
pub(crate) fn nothing_json(backup: &std::path::Path) -> serde_json::Value {
    serde_json::json!({
        "event": "summary",
        "restored": 0,
        "failed": 0,
        "tables": [],
        "backup": backup.display().to_string(),
    })
}
