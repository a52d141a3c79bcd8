//! The human view of a plan: what will happen, in order, and why.

use std::fmt::Write;

use similar::{ChangeTag, TextDiff};

pub(crate) use dwlink_core::plan::describe::{describe_in, plural, thousands};
use dwlink_core::plan::diff::service_name;
use dwlink_core::plan::{Action, Plan};

use dwlink_core::diag::Severity;
use dwlink_core::model::desired::Kind;

use super::shell::{paint, Style};

/// Render the whole plan, the way a reviewer reads it: where it was read, the link diff and
/// the actions first, then the findings that explain them, one compact block each. `emulator`
/// is the emulator's address when the live state came from one; `color` switches ANSI styles;
/// backups go to `state_dir`.
pub(crate) fn render(plan: &Plan, color: bool, emulator: Option<&str>, state_dir: &str) -> String {
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
    if let Some(url) = emulator {
        let _ = writeln!(
            out,
            "{}",
            paint(
                color,
                Style::Warn,
                &format!("Read against the emulator at {url}, not the real services.")
            )
        );
    }
    let _ = writeln!(out, "{}", heading(plan));
    let _ = writeln!(out);
    let _ = writeln!(out, "Link, live (-) vs declared (+):");
    out.push_str(&link_diff(plan, color));
    let _ = writeln!(out);

    if plan.actions.is_empty() {
        // A plan can be empty while the link differs: legal entities without a reset, or drift
        // that `reset.when: never` leaves. Saying "matches" there would hide the findings.
        let (style, text) = if plan.has_errors() {
            (
                Style::Bad,
                "Nothing planned: apply refuses a plan with errors, so dwlink plans no step until the errors below are fixed.",
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
        let _ = writeln!(out);
        out.push_str(&findings(plan, color));
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
            describe_in(&a.action, state_dir)
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
    out.push_str(&findings(plan, color));
    let _ = writeln!(out, "{}", tally(plan));
    out
}

/// What kind of plan this is: a RestoreCleanup says so (and where the database came from)
/// before the reset scenario it follows.
pub(crate) fn heading(plan: &Plan) -> String {
    let scenario = format!("scenario {}: {}", plan.scenario.number, plan.scenario.title);
    match (&plan.desired.kind, &plan.desired.restored_from) {
        (Kind::RestoreCleanup, Some(from)) => format!(
            "RestoreCleanup after a database restore from {}; the reset follows {scenario}",
            from.as_str().trim_end_matches('/')
        ),
        (Kind::RestoreCleanup, None) => {
            format!("RestoreCleanup after a database restore; the reset follows {scenario}")
        }
        (Kind::DualWriteLink, _) => {
            format!("Scenario {}: {}", plan.scenario.number, plan.scenario.title)
        }
    }
}

/// The findings, one compact block each: glyph, code and message on one line, the help
/// indented under it, a blank line after.
pub(crate) fn findings(plan: &Plan, color: bool) -> String {
    findings_worded(plan, color, |t| t.to_string())
}

/// [`findings`] with each message and help passed through `words` (status shows no plan, so it
/// does not say "this plan").
pub(crate) fn findings_worded(plan: &Plan, color: bool, words: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    if plan.findings.is_empty() {
        return out;
    }
    let _ = writeln!(out, "Findings:");
    for f in &plan.findings {
        let problem = f.to_problem();
        let (glyph, style) = glyph(problem.severity);
        let _ = writeln!(
            out,
            "{} {}: {}",
            paint(color, style, glyph),
            paint(color, style, problem.code),
            words(&problem.message)
        );
        if let Some(help) = &problem.help {
            let _ = writeln!(out, "    help: {}", words(help));
        }
        let _ = writeln!(out);
    }
    out
}

/// The mark of a severity, as miette draws it.
pub(crate) fn glyph(severity: Severity) -> (&'static str, Style) {
    match severity {
        Severity::Error => ("✗", Style::Bad),
        Severity::Warning => ("⚠", Style::Warn),
        Severity::Info => ("ℹ", Style::Dim),
    }
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

/// The link diff as `(sign, line)` pairs: `-` live, `+` declared, ` ` the same on both sides.
pub(crate) fn link_lines(plan: &Plan) -> Vec<(char, String)> {
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
    diff.iter_all_changes()
        .map(|change| {
            let sign = match change.tag() {
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
                ChangeTag::Equal => ' ',
            };
            (sign, change.value().trim_end().to_string())
        })
        .collect()
}

fn link_diff(plan: &Plan, color: bool) -> String {
    let mut out = String::new();
    for (sign, value) in link_lines(plan) {
        let text = format!("  {sign} {value}");
        let style = match sign {
            '-' => Some(Style::Bad),
            '+' => Some(Style::Good),
            _ => None,
        };
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

/// A saved plan's identity for whoever approves it: its id, when it was made and how long ago.
pub(crate) fn provenance(plan: &Plan) -> String {
    format!(
        "Plan {}, created {} ({}) by dwlink {}",
        plan.plan_id,
        plan.created_at,
        super::markdown_view::age(&plan.created_at),
        plan.dwlink_version
    )
}
