//! What the executor, resume and verify tests share: a state directory per test, the CLI's
//! plan → execute and find → re-plan → merge → execute sequences, and readers for what an apply
//! leaves on disk.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use dwlink_core::apply::backup;
use dwlink_core::apply::executor::{ApplyError, Executor, Outcome, StepEvent};
use dwlink_core::apply::journal::{self, Entry, Event};
use dwlink_core::apply::resume;
use dwlink_core::apply::steps::Steps;
use dwlink_core::diag::Problem;
use dwlink_core::link::{Link, TableRef};
use dwlink_core::model::desired::Desired;
use dwlink_core::plan::{ActionKind, Plan};
use dwlink_testkit::{Call, Effect, FakeLink};

/// A state directory (`.dwlink`) of its own, removed when the test ends.
pub(crate) struct StateDir(PathBuf);

impl StateDir {
    pub(crate) fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("dwlink-core-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        StateDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn journal_dir(&self) -> PathBuf {
        self.0.join("journal")
    }

    /// Complete backups only: a `.partial` file is not a backup.
    pub(crate) fn backups(&self) -> Vec<PathBuf> {
        files(&self.0.join("backups"), ".json")
    }

    pub(crate) fn partial_backups(&self) -> Vec<PathBuf> {
        files(&self.0.join("backups"), ".partial")
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Read live state and plan from it through the steps the executor will use, as `dwlink apply`
/// does (the read also primes the steps' cache of connection and map ids).
pub(crate) async fn plan(fake: &FakeLink, desired: &Desired) -> (Steps<FakeLink>, Plan) {
    let steps = Steps::new(fake.clone(), desired.clone());
    let live = steps.read_live().await.expect("the fake reads");
    let plan = Plan::make(desired, &live);
    (steps, plan)
}

pub(crate) async fn execute(
    steps: &Steps<FakeLink>,
    plan: &Plan,
    dir: &StateDir,
    cancel: &AtomicBool,
    on_event: &(dyn Fn(StepEvent) + Send + Sync),
) -> Result<Outcome, ApplyError> {
    Executor {
        ops: steps,
        state_dir: dir.path(),
        cancel,
        on_event,
    }
    .run(plan)
    .await
}

/// Plan and execute without interruption.
pub(crate) async fn apply(
    fake: &FakeLink,
    desired: &Desired,
    dir: &StateDir,
) -> (Plan, Result<Outcome, ApplyError>) {
    apply_with(fake, desired, dir, &|_| {}).await
}

pub(crate) async fn apply_with(
    fake: &FakeLink,
    desired: &Desired,
    dir: &StateDir,
    on_event: &(dyn Fn(StepEvent) + Send + Sync),
) -> (Plan, Result<Outcome, ApplyError>) {
    let (steps, plan) = plan(fake, desired).await;
    let result = execute(&steps, &plan, dir, &AtomicBool::new(false), on_event).await;
    (plan, result)
}

/// The next `dwlink apply` after an unfinished one: a fresh plan from live state with the
/// unfinished apply's remaining intent merged in, then executed. `Err` when the merge refuses.
pub(crate) async fn resume(
    fake: &FakeLink,
    desired: &Desired,
    dir: &StateDir,
) -> Result<(Plan, Result<Outcome, ApplyError>), Problem> {
    let steps = Steps::new(fake.clone(), desired.clone());
    let live = steps.read_live().await.expect("the fake reads");
    let prepared = resume::prepare(desired, &live, &dir.journal_dir())?;
    let unfinished = prepared
        .unfinished
        .expect("the first apply left an unfinished journal");
    let fresh = prepared.plan;
    journal::supersede(&unfinished, &fresh.plan_id, "finished by this apply")
        .expect("journal appends");
    let result = execute(&steps, &fresh, dir, &AtomicBool::new(false), &|_| {}).await;
    Ok((fresh, result))
}

pub(crate) fn kinds(plan: &Plan) -> Vec<ActionKind> {
    plan.actions.iter().map(|a| a.action.kind()).collect()
}

/// Index of the first step of `kind`.
pub(crate) fn step_of(plan: &Plan, kind: ActionKind) -> usize {
    plan.actions
        .iter()
        .position(|a| a.action.kind() == kind)
        .unwrap_or_else(|| panic!("the plan has no {} step", kind.name()))
}

pub(crate) fn journal_of(result: &Result<Outcome, ApplyError>) -> Vec<Entry> {
    let path = match result {
        Ok(o) => &o.journal,
        Err(ApplyError::Failed { journal, .. } | ApplyError::Interrupted { journal, .. }) => {
            journal
        }
        Err(ApplyError::Io(p)) => panic!("no journal: {p:?}"),
        Err(ApplyError::Refused(r)) => panic!("refused before any journal: {r}"),
    };
    journal::read(path).expect("the journal reads")
}

/// `(event, step)` of each journal line, the shape the tests compare.
pub(crate) fn events(entries: &[Entry]) -> Vec<(Event, Option<usize>)> {
    entries.iter().map(|e| (e.event, e.step)).collect()
}

/// The step a failed apply stopped at.
pub(crate) fn failed_step(result: &Result<Outcome, ApplyError>) -> (usize, &Problem) {
    match result {
        Err(ApplyError::Failed { step, problem, .. }) => (*step, problem),
        other => panic!("expected a failed step, got {other:?}"),
    }
}

/// Keys per table the engine asked to delete, over every `DeleteRows` call, sorted.
pub(crate) fn delete_requests(calls: &[Call]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in calls {
        if let Call::DeleteRows { table, keys } = c {
            out.entry(table.clone())
                .or_default()
                .extend(keys.iter().cloned());
        }
    }
    out.values_mut().for_each(|keys| keys.sort());
    out
}

/// Keys per table that a delete actually removed, over every effect, sorted.
pub(crate) fn deleted(effects: &[Effect]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in effects {
        if let Effect::RowsDeleted { table, keys } = e {
            out.entry(table.clone())
                .or_default()
                .extend(keys.iter().cloned());
        }
    }
    out.values_mut().for_each(|keys| keys.sort());
    out
}

/// The effects with each delete's keys sorted, to compare with keys as a read reports them.
pub(crate) fn with_sorted_keys(effects: Vec<Effect>) -> Vec<Effect> {
    effects
        .into_iter()
        .map(|e| match e {
            Effect::RowsDeleted { table, keys } => Effect::RowsDeleted {
                table,
                keys: sorted(keys),
            },
            other => other,
        })
        .collect()
}

/// Dual-write keys of every key table, as a read reports them now.
pub(crate) fn all_keys(fake: &FakeLink) -> BTreeMap<String, Vec<String>> {
    fake.state()
        .key_tables
        .iter()
        .filter(|t| !t.keys.is_empty())
        .map(|t| (t.table.clone(), t.keys.clone()))
        .collect()
}

/// Keys per table held by a backup file, computed the way the executor computes them.
pub(crate) fn backup_keys(fake: &FakeLink, path: &Path) -> BTreeMap<String, Vec<String>> {
    let b = backup::read(path).expect("a complete backup");
    b.tables
        .iter()
        .map(|t| {
            let table = TableRef {
                service: t.service,
                table: t.table.clone(),
                entity_set: t.entity_set.clone(),
            };
            let mut keys: Vec<String> = t
                .rows
                .iter()
                .map(|r| {
                    fake.row_key(&table, r.as_object().expect("rows are objects"))
                        .expect("backed-up rows have keys")
                })
                .collect();
            keys.sort();
            (t.table.clone(), keys)
        })
        .collect()
}

pub(crate) fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}
