//! The human view of a restore's plan: per backed-up table, how many of its rows go back.

use dwlink_core::restore::RestorePlan;

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

/// `{"event":"summary","restored":N,"backup":"…"}`.
pub(crate) fn summary_json(restored: usize, backup: &std::path::Path) -> serde_json::Value {
    serde_json::json!({
        "event": "summary",
        "restored": restored,
        "backup": backup.display().to_string(),
    })
}
