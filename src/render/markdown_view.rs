//! `--format markdown`: a plan (and an apply's results) as a report to paste into a change
//! ticket or a pull-request comment, or to append to `$GITHUB_STEP_SUMMARY`. Only what GitHub's
//! and Azure DevOps' Markdown both render: headings, pipe tables, bold, inline code and a fenced
//! `diff` block.

use std::fmt::Write;
use std::time::Duration;

use dwlink_core::apply::executor::Outcome;
use dwlink_core::plan::describe::{describe_in, thousands};
use dwlink_core::plan::{Action, Plan};

use super::apply_view::seconds;
use super::plan_view::{glyph, heading, link_lines, tally};

/// A cell of a pipe table: pipes escaped, line breaks as `<br>`, so no text breaks the table.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}

/// `just now`, `12 min`, `3 h 5 min`, `2 days`: how old a plan is, coarse enough to read at a
/// glance (a plan older than its live state is refused by apply anyway).
pub(crate) fn age(created_at: &str) -> String {
    let Ok(made) = created_at.parse::<jiff::Timestamp>() else {
        return "unknown age".into();
    };
    let secs = jiff::Timestamp::now().as_second() - made.as_second();
    match secs {
        s if s < 60 => "made less than a minute ago".into(),
        s if s < 3600 => format!("made {} min ago", s / 60),
        s if s < 86_400 => format!("made {} h {} min ago", s / 3600, (s % 3600) / 60),
        s => format!("made {} days ago", s / 86_400),
    }
}

/// The whole plan report. `emulator`: the emulator's address when live state came from one.
pub(crate) fn plan(plan: &Plan, emulator: Option<&str>, state_dir: &str) -> String {
    let mut out = String::new();
    let env = &plan.environment;
    let _ = writeln!(out, "### dwlink plan: {}\n", env.name);
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(
        out,
        "| Environment | `{}` ({}) · {} |",
        cell(&env.name),
        env.environment_type.name(),
        cell(&env.finance_operations_url)
    );
    let _ = writeln!(
        out,
        "| Plan | `{}` · created {} · {} · dwlink {} |",
        cell(&plan.plan_id),
        cell(&plan.created_at),
        age(&plan.created_at),
        cell(&plan.dwlink_version)
    );
    if let Some(url) = emulator {
        let _ = writeln!(
            out,
            "| Read against | the emulator at {}, not the real services |",
            cell(url)
        );
    }
    let _ = writeln!(out, "| Kind | {} |", cell(&heading(plan)));
    let _ = writeln!(out, "| Summary | {} |", cell(&tally(plan)));

    let _ = writeln!(out, "\n#### Link, live (-) vs declared (+)\n");
    let _ = writeln!(out, "```diff");
    for (sign, text) in link_lines(plan) {
        let _ = writeln!(out, "{sign} {text}");
    }
    let _ = writeln!(out, "```");

    let _ = writeln!(out, "\n#### Actions\n");
    if plan.actions.is_empty() {
        let _ = writeln!(out, "No changes.");
    } else {
        let _ = writeln!(
            out,
            "| # | Action | What | Rows | Destructive |\n|--:|---|---|--:|:-:|"
        );
        for (i, a) in plan.actions.iter().enumerate() {
            let rows = match &a.action {
                Action::ClearTable { rows, .. } | Action::Backup { rows, .. } => thousands(*rows),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {rows} | {} |",
                i + 1,
                a.action.kind().name(),
                cell(&describe_in(&a.action, state_dir)),
                if a.destructive { "yes" } else { "" }
            );
        }
        let s = &plan.summary;
        if !s.rows_by_table.is_empty() || !s.tables_not_counted.is_empty() {
            let _ = writeln!(out, "\n| Table | Rows to delete |\n|---|--:|");
            for (table, n) in &s.rows_by_table {
                let _ = writeln!(out, "| {} | {} |", cell(table), thousands(*n));
            }
            for table in &s.tables_not_counted {
                let _ = writeln!(
                    out,
                    "| {} | cleared by the reset (not readable here) |",
                    cell(table)
                );
            }
        }
    }

    if !plan.findings.is_empty() {
        let _ = writeln!(out, "\n#### Findings\n");
        let _ = writeln!(out, "| | Code | Finding | Help |\n|---|---|---|---|");
        for f in &plan.findings {
            let p = f.to_problem();
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |",
                glyph(p.severity).0,
                p.code,
                cell(&p.message),
                cell(p.help.as_deref().unwrap_or(""))
            );
        }
    }
    out
}

/// An apply's results: every step with what it did and how long it took, then the backup.
pub(crate) fn applied(outcome: &Outcome, took: &[Duration]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n#### Apply result\n\nApplied: {} steps in {}.\n",
        outcome.steps,
        seconds(outcome.elapsed)
    );
    let _ = writeln!(out, "| # | Step | Result | Time |\n|--:|---|---|--:|");
    for (i, c) in outcome.changes.iter().enumerate() {
        let time = took.get(i).map(|d| seconds(*d)).unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {time} |",
            i + 1,
            c.kind.name(),
            cell(&c.result.to_string())
        );
    }
    if let Some(b) = &outcome.backup {
        let _ = writeln!(
            out,
            "\n**Backup:** `{}` ({} rows; {} deleted, {} already gone). Put them back with `dwlink restore {}`.",
            b.display(),
            thousands(outcome.rows_backed_up),
            thousands(outcome.rows_deleted),
            thousands(outcome.rows_already_gone),
            b.display()
        );
    }
    let _ = writeln!(out, "\n**Journal:** `{}`", outcome.journal.display());
    out
}
