//! The human view of a plan: what will happen, in order, and why.

use std::fmt::Write;

use similar::{ChangeTag, TextDiff};

pub(crate) use dwlink_core::plan::describe::{describe, plural, thousands};
use dwlink_core::plan::diff::service_name;
use dwlink_core::plan::{Action, Plan};

use super::shell::{paint, render_problem, Style};

/// Render the whole plan. Findings are drawn as miette reports; `color` switches ANSI styles.
pub(crate) fn render(plan: &Plan, color: bool) -> String {
    let mut out = String::new();
    let env = &plan.environment;
    let _ = writeln!(
        out,
        "{} {} ({}) · {}",
        paint(color, Style::Bold, "dwlink plan for"),
        paint(color, Style::Bold, &env.name),
        plan.environment.environment_type.name(),
        env.finance_operations_url
    );
    let _ = writeln!(
        out,
        "Scenario {}: {}",
        plan.scenario.number, plan.scenario.title
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Link, live (-) vs declared (+):");
    out.push_str(&link_diff(plan, color));
    let _ = writeln!(out);

    if !plan.findings.is_empty() {
        let _ = writeln!(out, "Findings:");
        for f in &plan.findings {
            out.push_str(&render_problem(&f.to_problem(), color));
        }
        let _ = writeln!(out);
    }

    if plan.actions.is_empty() {
        // A plan can be empty while the link differs: legal entities without a reset, or drift
        // that `reset.when: never` leaves. Saying "matches" there would hide the findings.
        let (style, text) = if plan.has_errors() {
            (
                Style::Bad,
                "Nothing planned: resolve the error findings above, then plan again.",
            )
        } else if plan.link.live == plan.link.declared {
            (
                Style::Good,
                "No changes. The live link matches the declaration.",
            )
        } else {
            (
                Style::Warn,
                "No changes dwlink can make. The live link differs from the declaration: see the findings.",
            )
        };
        let _ = writeln!(out, "{}", paint(color, style, text));
        return out;
    }
    let _ = writeln!(out, "Actions, in the order they run:");
    for (i, a) in plan.actions.iter().enumerate() {
        let kind = a.action.kind();
        let line = format!(
            "{:>3}. {:<3} {:<20} {}",
            i + 1,
            kind.symbol(),
            kind.name(),
            describe(&a.action)
        );
        let styled = if a.destructive {
            paint(color, Style::Bad, &format!("{line}  [destructive]"))
        } else {
            line
        };
        let _ = writeln!(out, "{styled}");
        if let Action::ResetLink { unread_tables, .. } = &a.action {
            for t in unread_tables {
                let _ = writeln!(
                    out,
                    "{:9}{} {}: {}",
                    "",
                    service_name(t.service),
                    t.table,
                    t.note
                );
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", tally(plan));
    out
}

/// One line: `Plan: 7 actions, 3 destructive, 2,560 rows to delete (…). 0 errors, 2 warnings.`
pub(crate) fn tally(plan: &Plan) -> String {
    let s = &plan.summary;
    let tables = s
        .rows_by_table
        .iter()
        .map(|(t, n)| format!("{t} {}", thousands(*n)))
        .collect::<Vec<_>>()
        .join(", ");
    let mut line = format!(
        "Plan: {} action{}, {} destructive, {} row{} to delete",
        plan.actions.len(),
        plural(plan.actions.len()),
        s.destructive,
        thousands(s.rows_to_delete),
        plural(s.rows_to_delete)
    );
    if !tables.is_empty() {
        let _ = write!(line, " ({tables})");
    }
    // Counted apart, never as 0: dwlink cannot read these tables, the reset clears them.
    if !s.tables_not_counted.is_empty() {
        let _ = write!(
            line,
            ", and the reset clears {} (rows not readable here)",
            s.tables_not_counted.join(", ")
        );
    }
    let _ = write!(
        line,
        "; {} error{}, {} warning{}.",
        s.errors,
        plural(s.errors),
        s.warnings,
        plural(s.warnings)
    );
    line
}

fn link_diff(plan: &Plan, color: bool) -> String {
    let lines = |m: &std::collections::BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect::<String>()
    };
    // Terraform's and kubectl's reading: `-` is what goes away (live now), `+` what the
    // declaration brings.
    let old = lines(&plan.link.live);
    let new = lines(&plan.link.declared);
    let diff = TextDiff::from_lines(&old, &new);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let (sign, style) = match change.tag() {
            ChangeTag::Delete => ("-", Some(Style::Bad)),
            ChangeTag::Insert => ("+", Some(Style::Good)),
            ChangeTag::Equal => (" ", None),
        };
        let text = format!("  {sign} {}", change.value().trim_end());
        let _ = writeln!(
            out,
            "{}",
            match style {
                Some(s) => paint(color, s, &text),
                None => text,
            }
        );
    }
    out
}
