//! The apply journal: one JSON line per step event, fsynced, so an apply killed at any point can
//! be finished by the next `dwlink apply` without repeating what already happened.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::{Action, ActionKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// First line: the plan being applied.
    Begin,
    Start,
    Done,
    Failed,
    /// Ctrl-C: stopped between steps.
    Interrupted,
    /// Last line of an apply that ran every step.
    Completed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub at: String,
    pub plan_id: String,
    pub environment: String,
    pub event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ActionKind>,
    /// With `begin`: every action of the plan, so a resume knows what was intended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// With `begin`: the digest of the plan applied ([`crate::plan::verify_saved::digest`]), so
    /// `apply PLAN` can tell that a file is the one whose apply this journal holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
}

pub struct Journal {
    file: File,
    path: PathBuf,
    plan_id: String,
    environment: String,
}

impl Journal {
    pub fn create(dir: &Path, plan_id: &str, environment: &str) -> std::io::Result<Self> {
        private_dir(dir)?;
        let path = dir.join(format!("{plan_id}.jsonl"));
        let mut opts = OpenOptions::new();
        opts.create(true).append(true).read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&path)?;
        private_file(&file)?;
        // A crash can leave a torn last line; start ours on a fresh one.
        if ends_mid_line(&path)? {
            file.write_all(b"\n")?;
        }
        crate::fsutil::sync_dir(dir)?;
        Ok(Journal {
            file,
            path,
            plan_id: plan_id.into(),
            environment: environment.into(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entry(&self, event: Event) -> Entry {
        Entry {
            at: jiff::Timestamp::now().to_string(),
            plan_id: self.plan_id.clone(),
            environment: self.environment.clone(),
            event,
            step: None,
            kind: None,
            actions: Vec::new(),
            detail: None,
            backup: None,
            plan_digest: None,
        }
    }

    /// Append and fsync: once this returns, the event survives a crash.
    pub fn append(&mut self, entry: &Entry) -> std::io::Result<()> {
        // A failed step's detail is the service's error text, which may echo a secret.
        let text = serde_json::to_string(entry)?;
        let mut line = crate::scrub::json_text(&text).into_owned().into_bytes();
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }
}

/// Create `dir` (a `journal` or `backups` directory inside the state directory) and the state
/// directory itself as 0700, and tighten them when they already exist with looser modes: the
/// journal decides how an apply resumes and backups hold connection strings, so neither may be
/// readable, or replaceable, by other users, whatever the umask was when they were made.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let state_dir = dir.parent().filter(|p| !p.as_os_str().is_empty());
        for d in std::iter::once(dir).chain(state_dir) {
            let mode = fs::metadata(d)?.permissions().mode();
            // A sticky directory is a shared one such as /tmp given as `--state-dir`: it is not
            // ours to lock down, and the 0700 directories inside it protect the files anyway.
            if mode & 0o077 != 0 && mode & 0o1000 == 0 {
                fs::set_permissions(d, fs::Permissions::from_mode(0o700))?;
            }
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir)
    }
}

/// 0600 on an open state file: the creation mode is masked by the umask and a file left by an
/// older dwlink may be looser.
pub fn private_file(file: &File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o777 != 0o600 {
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

fn ends_mid_line(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// The largest journal read: an apply writes its plan's actions once and a few short lines per
/// step (kilobytes); a larger file was not written by an apply.
pub const MAX_JOURNAL_BYTES: u64 = 16 * 1024 * 1024;

/// Read a journal, ignoring a torn last line (the crash happened while writing it, so the event
/// it describes did not complete).
pub fn read(path: &Path) -> std::io::Result<Vec<Entry>> {
    let bytes = crate::fsutil::read_capped(path, MAX_JOURNAL_BYTES)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(e) => out.push(e),
            Err(_) => continue,
        }
    }
    Ok(out)
}

/// What an unfinished apply left behind.
#[derive(Debug, Clone)]
pub struct Unfinished {
    pub path: PathBuf,
    pub plan_id: String,
    pub actions: Vec<Action>,
    /// Steps (indexes into `actions`) whose `done` was journaled.
    pub done: Vec<usize>,
    /// A step that started but has no `done`: it may or may not have taken effect.
    pub in_flight: Option<usize>,
    pub backups: Vec<String>,
    /// The environment, the begin time and the digest of the plan, from the `begin` line.
    pub environment: String,
    pub began_at: String,
    pub plan_digest: Option<String>,
}

/// The most recent journal of `environment` that has no `completed` line.
pub fn find_unfinished(dir: &Path, environment: &str) -> Option<Unfinished> {
    let mut candidates: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    candidates.sort();
    for (_, path) in candidates.into_iter().rev() {
        let Ok(entries) = read(&path) else { continue };
        let Some(begin) = entries.first().filter(|e| e.event == Event::Begin) else {
            continue;
        };
        if begin.environment != environment {
            continue;
        }
        if entries.iter().any(|e| e.event == Event::Completed) {
            return None;
        }
        return Some(unfinished(path, begin, &entries));
    }
    None
}

/// What the journal at `path` (first line `begin`, no `completed`) still owes.
pub fn unfinished(path: PathBuf, begin: &Entry, entries: &[Entry]) -> Unfinished {
    let done: Vec<usize> = entries
        .iter()
        .filter(|e| e.event == Event::Done)
        .filter_map(|e| e.step)
        .collect();
    let in_flight = entries
        .iter()
        .filter(|e| e.event == Event::Start)
        .filter_map(|e| e.step)
        .rfind(|s| !done.contains(s));
    Unfinished {
        path,
        plan_id: begin.plan_id.clone(),
        actions: begin.actions.clone(),
        done,
        in_flight,
        backups: entries.iter().filter_map(|e| e.backup.clone()).collect(),
        environment: begin.environment.clone(),
        began_at: begin.at.clone(),
        plan_digest: begin.plan_digest.clone(),
    }
}

/// Close an unfinished journal: its remaining intent now lives in `new_plan`, so a later apply
/// must not find it again.
pub fn supersede(u: &Unfinished, new_plan: &str, why: &str) -> std::io::Result<()> {
    let dir = crate::fsutil::parent_dir(&u.path);
    let mut j = Journal::create(dir, &u.plan_id, "")?;
    let mut e = j.entry(Event::Completed);
    e.detail = Some(format!("superseded by plan {new_plan}: {why}"));
    j.append(&e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_over_its_limit_is_not_read() {
        let dir = std::env::temp_dir().join(format!("dwlink-jbig-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.jsonl");
        File::create(&path)
            .unwrap()
            .set_len(MAX_JOURNAL_BYTES + 1)
            .unwrap();
        let e = read(&path).unwrap_err();
        assert!(crate::fsutil::is_too_large(&e), "{e}");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn unfinished_journal_is_found_and_torn_lines_ignored() {
        let dir = std::env::temp_dir().join(format!("dwlink-journal-{}", uuid::Uuid::new_v4()));
        let mut j = Journal::create(&dir, "p1", "uat").unwrap();
        let mut begin = j.entry(Event::Begin);
        begin.actions = vec![Action::Verify, Action::Verify];
        j.append(&begin).unwrap();
        let mut s = j.entry(Event::Start);
        s.step = Some(0);
        j.append(&s).unwrap();
        let mut d = j.entry(Event::Done);
        d.step = Some(0);
        j.append(&d).unwrap();
        s.step = Some(1);
        j.append(&s).unwrap();
        let path = j.path().to_path_buf();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"at\":\"to").unwrap();
        let u = find_unfinished(&dir, "uat").unwrap();
        assert_eq!(u.done, vec![0]);
        assert_eq!(u.in_flight, Some(1));
        assert!(find_unfinished(&dir, "prod").is_none());
        let mut j = Journal::create(&dir, "p1", "uat").unwrap();
        j.append(&j.entry(Event::Completed)).unwrap();
        assert!(find_unfinished(&dir, "uat").is_none());
        let _ = fs::remove_dir_all(dir);
    }
}
