//! Journals as the user sees them: `dwlink journal list` and `dwlink journal discard ID`, which
//! ends an unfinished apply that must not be finished (its intent was overtaken, or someone
//! changed the link on purpose). Discarding writes a `completed` line; it undoes nothing and
//! deletes no file, so the backups the apply wrote stay where they are.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::journal::{self, Event, Journal, Unfinished};
use crate::diag::Problem;

/// One journal of the state directory.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub plan_id: String,
    pub environment: String,
    pub began_at: String,
    /// `unfinished` or `completed`.
    pub state: &'static str,
    pub steps_done: usize,
    pub steps: usize,
    /// The last step that failed, or the step that started and never ended, when unfinished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    /// How it ended (`superseded by plan …`, `discarded …`), when completed that way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub backups: Vec<String>,
    pub path: PathBuf,
}

/// Every journal of `dir`, most recent first. A missing directory holds none.
pub fn list(dir: &Path) -> Vec<Listed> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Listed> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|p| listed(&p))
        .collect();
    out.sort_by(|a, b| b.began_at.cmp(&a.began_at));
    out
}

fn listed(path: &Path) -> Option<Listed> {
    let entries = journal::read(path).ok()?;
    let begin = entries.first().filter(|e| e.event == Event::Begin)?;
    let u = journal::unfinished(path.to_path_buf(), begin, &entries);
    let completed = entries.iter().rfind(|e| e.event == Event::Completed);
    let stopped_at = match completed {
        Some(_) => None,
        None => entries
            .iter()
            .rfind(|e| e.event == Event::Failed)
            .map(|e| {
                format!(
                    "step {} {} failed: {}",
                    e.step.map_or(0, |s| s + 1),
                    e.kind.map_or("?", |k| k.name()),
                    e.detail.as_deref().unwrap_or("")
                )
            })
            .or_else(|| {
                u.in_flight.map(|i| {
                    format!(
                        "step {} {} started and did not end",
                        i + 1,
                        u.actions.get(i).map_or("?", |a| a.kind().name())
                    )
                })
            }),
    };
    Some(Listed {
        plan_id: u.plan_id.clone(),
        environment: u.environment.clone(),
        began_at: u.began_at.clone(),
        state: if completed.is_some() {
            "completed"
        } else {
            "unfinished"
        },
        steps_done: u.done.len(),
        steps: u.actions.len(),
        stopped_at,
        detail: completed.and_then(|e| e.detail.clone()),
        backups: u.backups.clone(),
        path: path.to_path_buf(),
    })
}

/// The unfinished journal `id` of `dir`. `id` is checked to be a plan id before it names a file.
pub fn find(dir: &Path, id: &str) -> Result<Unfinished, Problem> {
    let canonical = uuid::Uuid::parse_str(id)
        .ok()
        .map(|u| u.hyphenated().to_string());
    let Some(id) = canonical else {
        return Err(Problem::error(
            "dwlink::journal::bad_id",
            format!("{id:?} is not a journal id (the plan id a journal is named by)"),
        )
        .help("`dwlink journal list` shows the ids"));
    };
    let path = dir.join(format!("{id}.jsonl"));
    let not_found = || {
        Problem::error(
            "dwlink::journal::not_found",
            format!("no journal {id} in {}", dir.display()),
        )
        .help("`dwlink journal list` shows the journals; pass the same --state-dir as the apply")
    };
    let entries = journal::read(&path).map_err(|_| not_found())?;
    let begin = entries
        .first()
        .filter(|e| e.event == Event::Begin)
        .ok_or_else(not_found)?;
    if let Some(done) = entries.iter().rfind(|e| e.event == Event::Completed) {
        return Err(Problem::error(
            "dwlink::journal::finished",
            format!(
                "journal {id} is not unfinished: {}",
                done.detail.as_deref().unwrap_or("every step ran")
            ),
        )
        .help(
            "only an unfinished journal can be discarded; `dwlink journal list` shows which are",
        ));
    }
    Ok(journal::unfinished(path, begin, &entries))
}

/// End `u` without finishing it: the next apply of its environment plans from live state alone.
pub fn discard(u: &Unfinished, why: &str) -> std::io::Result<()> {
    let dir = crate::fsutil::parent_dir(&u.path);
    let mut j = Journal::create(dir, &u.plan_id, &u.environment)?;
    let mut e = j.entry(Event::Completed);
    e.detail = Some(format!("discarded: {why}"));
    j.append(&e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;

    #[test]
    fn an_unfinished_journal_is_listed_discarded_once_and_then_completed() {
        let dir = std::env::temp_dir().join(format!("dwlink-jadmin-{}", uuid::Uuid::new_v4()));
        let id = uuid::Uuid::new_v4().to_string();
        let mut j = Journal::create(&dir, &id, "uat").unwrap();
        let mut begin = j.entry(Event::Begin);
        begin.actions = vec![Action::Verify];
        j.append(&begin).unwrap();
        let mut s = j.entry(Event::Start);
        s.step = Some(0);
        j.append(&s).unwrap();
        let all = list(&dir);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].state, "unfinished");
        assert!(all[0].stopped_at.as_deref().unwrap().contains("verify"));
        for bad in ["../x", "/x/victim", ""] {
            assert_eq!(find(&dir, bad).unwrap_err().code, "dwlink::journal::bad_id");
        }
        let u = find(&dir, &id).unwrap();
        discard(&u, "by test").unwrap();
        assert!(journal::find_unfinished(&dir, "uat").is_none());
        assert_eq!(list(&dir)[0].state, "completed");
        assert_eq!(
            find(&dir, &id).unwrap_err().code,
            "dwlink::journal::finished"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
