//! `dwlink doctor`'s report: a table with the details of every check that is not ok, the
//! routes not checked and a summary line; or one JSON document (format in the README).

use serde_json::{json, Value};

use super::shell::{paint, Style};
use dwlink_http::doctor::{Report, Status};

fn style(s: Status) -> Style {
    match s {
        Status::Ok => Style::Good,
        Status::Differs | Status::Unknown => Style::Warn,
        Status::Unreachable | Status::NotPermitted => Style::Bad,
    }
}

/// `14 ok, 1 differs, 0 unreachable, 0 not-permitted, 0 unknown (15 checks)`.
pub(crate) fn summary_line(report: &Report) -> String {
    let counts: Vec<String> = Status::ALL
        .iter()
        .map(|s| format!("{} {}", report.count(*s), s.as_str()))
        .collect();
    format!("{} ({} checks)", counts.join(", "), report.checks.len())
}

pub(crate) fn human(report: &Report, color: bool) -> String {
    let id_w = report
        .checks
        .iter()
        .map(|c| c.id.len())
        .max()
        .unwrap_or(0)
        .max("CHECK".len());
    let status_w = Status::ALL
        .iter()
        .map(|s| s.as_str().len())
        .max()
        .unwrap_or(0);
    let mut out = format!("{:id_w$}  {:status_w$}  TITLE\n", "CHECK", "STATUS");
    for c in &report.checks {
        let status = format!("{:status_w$}", c.status.as_str());
        // A check that waited for a failed one is one line: which check it needs.
        let title = if skipped(c) {
            paint(color, Style::Dim, &c.seen)
        } else {
            c.title.clone()
        };
        out.push_str(&format!(
            "{:id_w$}  {}  {title}\n",
            c.id,
            paint(color, style(c.status), &status),
        ));
    }
    for c in report
        .checks
        .iter()
        .filter(|c| c.status != Status::Ok && !skipped(c))
    {
        out.push_str(&format!(
            "\n{} {}\n  expected: {}\n  seen:     {}\n",
            paint(color, Style::Bold, c.id),
            paint(color, style(c.status), c.status.as_str()),
            c.expected,
            c.seen
        ));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("  fix:      {fix}\n"));
        }
    }
    if !report.not_checked.is_empty() {
        out.push_str("\nNot checked (no read-only request reaches them):\n");
        for n in &report.not_checked {
            out.push_str(&format!("  {}: {}\n", n.route, n.why));
        }
    }
    out.push('\n');
    out.push_str(&summary_line(report));
    out
}

/// Not run because a check it depends on failed, with nothing more to say than which.
fn skipped(c: &dwlink_http::doctor::Check) -> bool {
    c.status == Status::Unknown && c.seen.starts_with("skipped: ") && c.fix.is_none()
}

pub(crate) fn json(report: &Report) -> String {
    let checks: Vec<Value> = report
        .checks
        .iter()
        .map(|c| {
            let mut v = json!({
                "id": c.id,
                "title": c.title,
                "status": c.status.as_str(),
                "expected": c.expected,
                "seen": c.seen,
                "duration_ms": c.duration.as_millis() as u64,
            });
            if let Some(fix) = &c.fix {
                v["fix"] = json!(fix);
            }
            v
        })
        .collect();
    let not_checked: Vec<Value> = report
        .not_checked
        .iter()
        .map(|n| json!({"route": n.route, "why": n.why}))
        .collect();
    let doc = json!({
        "checks": checks,
        "not_checked": not_checked,
        "summary": {
            "ok": report.count(Status::Ok),
            "differs": report.count(Status::Differs),
            "unreachable": report.count(Status::Unreachable),
            "not_permitted": report.count(Status::NotPermitted),
            "unknown": report.count(Status::Unknown),
            "total": report.checks.len(),
        },
    });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
