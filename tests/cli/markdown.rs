//! `--format markdown` of plan, show and apply: a report for a change ticket, a pull request or
//! `$GITHUB_STEP_SUMMARY`, in tables GitHub and Azure DevOps both render.

use crate::harness::path;
use crate::support::{code, dwlink_live, scratch, snapshot, stderr, stdout};

const CLEANUP: &str = "restore-cleanup-from-production";

fn live_args(name: &str) -> [String; 4] {
    [
        "-f".into(),
        path(&format!("examples/{name}.yaml")),
        "--emulator".into(),
        path(&format!("examples/fixtures/{name}.yaml")),
    ]
}

fn run(dir: &std::path::Path, head: &[&str], name: &str) -> crate::support::InProcess {
    let live = live_args(name);
    let args: Vec<&str> = head
        .iter()
        .copied()
        .chain(live.iter().map(String::as_str))
        .collect();
    dwlink_live(dir, &args)
}

/// Plan ids, creation times and durations differ per run.
fn stable(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with("| Plan | ") {
                "| Plan | <plan id> · created <time> · <age> · dwlink <version> |".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every pipe table has a delimiter row and as many cells on each row as in its header (an
/// escaped `\|` is text), the rule both GitHub's and Azure DevOps' renderers apply.
fn assert_tables_render(text: &str) {
    let cells = |l: &str| l.replace("\\|", "").matches('|').count();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let mut tables = 0;
    while i < lines.len() {
        if lines[i].starts_with('|') {
            let header = cells(lines[i]);
            let delimiter = lines.get(i + 1).copied().unwrap_or_default();
            assert!(
                delimiter.starts_with("|-")
                    || delimiter.starts_with("|--:")
                    || delimiter.starts_with("|:"),
                "no delimiter row under {:?}",
                lines[i]
            );
            while i < lines.len() && lines[i].starts_with('|') {
                assert_eq!(cells(lines[i]), header, "{:?}", lines[i]);
                i += 1;
            }
            tables += 1;
            assert!(
                lines.get(i).is_none_or(|l| l.is_empty()),
                "a blank line must follow a table"
            );
        }
        i += 1;
    }
    assert!(tables > 0, "no table in {text}");
}

#[test]
fn plan_as_markdown_is_a_ticket_ready_report() {
    let out = run(
        &scratch("md-plan"),
        &["plan", "--format", "markdown"],
        CLEANUP,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert_tables_render(&text);
    assert!(text.contains("| Plan | `"), "{text}");
    assert!(text.contains("made less than a minute ago"), "{text}");
    snapshot("markdown__plan-restore-cleanup", &stable(&text));
}

#[test]
fn show_names_the_plan_its_creation_time_and_age_in_every_format() {
    let dir = scratch("md-show");
    let file = dir.join("reset.plan").display().to_string();
    let out = run(&dir, &["plan", "--out", &file], CLEANUP);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan: serde_json::Value =
        serde_json::from_str(&stdout(&dwlink_live(&dir, &["show", "--json", &file]))).unwrap();
    let (id, created) = (
        plan["plan_id"].as_str().unwrap(),
        plan["created_at"].as_str().unwrap(),
    );
    let human = stdout(&dwlink_live(&dir, &["show", &file]));
    let second = human.lines().nth(1).unwrap();
    assert!(
        second.starts_with(&format!("Plan {id}, created {created} (made ")),
        "{human}"
    );
    let md = stdout(&dwlink_live(&dir, &["show", "--format", "markdown", &file]));
    assert_tables_render(&md);
    assert!(
        md.contains(&format!("| Plan | `{id}` · created {created} · made ")),
        "{md}"
    );
    // A saved plan was read once, by `plan`: show says nothing of an emulator.
    assert!(!md.contains("emulator"), "{md}");
}

#[test]
fn apply_as_markdown_adds_step_results_durations_and_the_backup() {
    let dir = scratch("md-apply");
    let out = run(
        &dir,
        &["apply", "--format", "markdown", "--auto-approve"],
        CLEANUP,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert_tables_render(&text);
    let result = &text[text.find("#### Apply result").expect("a result section")..];
    let steps: Vec<&str> = result
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
        .collect();
    assert_eq!(steps.len(), 11, "{result}");
    assert!(steps.iter().all(|l| l.ends_with(" s |")), "{steps:#?}");
    assert!(
        result.contains("**Backup:** `.dwlink/backups/contoso-uat-"),
        "{result}"
    );
    assert!(
        result.contains("`dwlink restore .dwlink/backups/"),
        "{result}"
    );
    // Progress stays on stderr, out of the report.
    assert!(stderr(&out).contains("[1/11]"), "{}", stderr(&out));
}
