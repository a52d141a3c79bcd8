//! The human view of a restore's plan: per backed-up table, how many of its rows go back.

use dwlink_core::restore::RestorePlan;

use super::plan_view::thousands;

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
