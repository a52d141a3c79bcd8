//! The human view of a restore's plan: per backed-up table, how many of its rows go back.

use dwlink_core::restore::{RestorePlan, RestoreReport};

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
