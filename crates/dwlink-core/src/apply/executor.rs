//! Runs a confirmed plan, one action at a time, journaling each step before and after.
//!
//! Invariants, whatever the plan says: no delete and no reset (which clears every key table) is
//! sent before a backup of this apply is on disk, holding every row the plan's live read counted
//! (checked key by key: [`super::backup_check`]); only backed-up keys are deleted; a failed
//! asynchronous request is a failed step; Ctrl-C stops between steps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::diag::Problem;
use crate::model::live::{LiveState, Service};
use crate::plan::{Action, ActionKind, Plan};

use super::backup::{self, BackupHeader, BackupWriter, BACKUP_FORMAT};
use super::backup_check::{self, TableCheck};
use super::crash;
use super::guard::Refusal;
use super::journal::{Event, Journal};
use super::steps::Steps;
use crate::link::Link;

pub use super::event::{Change, StepEvent, StepResult, Unit};

#[derive(Debug)]
pub struct Outcome {
    pub backup: Option<PathBuf>,
    pub rows_backed_up: usize,
    pub rows_deleted: usize,
    /// Backed-up rows that were already gone when their delete was sent (someone else, or an
    /// earlier run, deleted them): reported apart so counts stay honest.
    pub rows_already_gone: usize,
    pub steps: usize,
    pub journal: PathBuf,
    pub elapsed: std::time::Duration,
    /// What each step did, in order, for the final summary.
    pub changes: Vec<Change>,
}

#[derive(Debug)]
pub enum ApplyError {
    /// A step failed; earlier steps stand and are journaled.
    Failed {
        step: usize,
        problem: Problem,
        journal: PathBuf,
        backup: Option<PathBuf>,
    },
    /// Ctrl-C between steps.
    Interrupted {
        completed: usize,
        journal: PathBuf,
        backup: Option<PathBuf>,
    },
    /// The journal or backup could not be written, or the service could not say whether it is
    /// busy: nothing further was attempted.
    Io(Problem),
    /// A guard refused before anything was journaled or changed (exit 3): the management service
    /// shows requests of the connection set still in flight.
    Refused(Refusal),
}

pub struct Executor<'a, L: Link> {
    pub ops: &'a Steps<L>,
    pub state_dir: &'a Path,
    pub cancel: &'a AtomicBool,
    pub on_event: &'a (dyn Fn(StepEvent) + Send + Sync),
}

fn io_problem(what: &str, e: std::io::Error) -> Problem {
    Problem::error("dwlink::apply::io", format!("{what}: {e}")).help(
        "check free space and permissions of the .dwlink directory; nothing further was changed",
    )
}

impl<'a, L: Link> Executor<'a, L> {
    pub async fn run(&self, plan: &Plan) -> Result<Outcome, ApplyError> {
        let started = Instant::now();
        if plan.actions.iter().any(|a| a.destructive) {
            self.not_busy(plan).await?;
        }
        // What a backup must hold comes from the live read the plan was made from (or checked
        // fresh against), never from the plan's own words.
        let removes = plan.actions.iter().any(|a| {
            matches!(
                a.action.kind(),
                ActionKind::ClearTable | ActionKind::ResetLink
            )
        });
        let read = match removes {
            true => Some(self.planned_read(plan).await?),
            false => None,
        };
        let mut journal = Journal::create(
            &self.state_dir.join("journal"),
            &plan.plan_id,
            &plan.environment.name,
        )
        .map_err(|e| ApplyError::Io(io_problem("cannot create the journal", e)))?;
        let mut begin = journal.entry(Event::Begin);
        begin.actions = plan.actions.iter().map(|a| a.action.clone()).collect();
        begin.detail = Some(plan.live_fingerprint.clone());
        begin.plan_digest = Some(crate::plan::verify_saved::digest(plan));
        journal
            .append(&begin)
            .map_err(|e| ApplyError::Io(io_problem("cannot write the journal", e)))?;

        let total = plan.actions.len();
        let mut backed_up: BTreeMap<(Service, String), Vec<String>> = BTreeMap::new();
        let mut backup_path: Option<PathBuf> = None;
        let mut rows_backed_up = 0;
        let mut rows_deleted = 0;
        let mut rows_already_gone = 0;
        let mut changes = Vec::new();

        let mut i = 0;
        while i < total {
            if self.cancel.load(Ordering::SeqCst) {
                let mut e = journal.entry(Event::Interrupted);
                e.step = Some(i);
                let _ = journal.append(&e);
                (self.on_event)(StepEvent::Interrupted { next: i, total });
                return Err(ApplyError::Interrupted {
                    completed: i,
                    journal: journal.path().to_path_buf(),
                    backup: backup_path,
                });
            }
            let action = &plan.actions[i].action;
            let kind = action.kind();
            if kind == ActionKind::ClearTable {
                // The key tables do not depend on each other: clear F&O's and Dataverse's
                // at once. Each step is still journaled on its own, before and after.
                let end = (i..total)
                    .find(|&j| plan.actions[j].action.kind() != ActionKind::ClearTable)
                    .unwrap_or(total);
                if backup_path.is_none() {
                    self.begin(&mut journal, i, total, action)?;
                    let rows = match action {
                        Action::ClearTable { rows, .. } => *rows,
                        _ => 0,
                    };
                    let no_backup = backup_check::missing_backup(
                        &format!("clearing {}", table_name(action)),
                        rows,
                    );
                    // A failed step always ends the apply here; the clears are skipped either way.
                    self.record(&mut journal, i, kind, Err(no_backup), &None, &mut changes)?;
                    i = end;
                    continue;
                }
                for j in i..end {
                    self.begin(&mut journal, j, total, &plan.actions[j].action)?;
                }
                let clears = (i..end).map(|j| self.clear(j, &plan.actions[j].action, &backed_up));
                let results = futures::future::join_all(clears).await;
                let mut first_failure = None;
                for (j, result) in (i..end).zip(results) {
                    let result = result.inspect(|r| {
                        if let StepResult::Cleared {
                            deleted,
                            already_gone,
                            ..
                        } = r
                        {
                            rows_deleted += deleted;
                            rows_already_gone += already_gone;
                        }
                    });
                    if let Err(e) =
                        self.record(&mut journal, j, kind, result, &backup_path, &mut changes)
                    {
                        first_failure.get_or_insert(e);
                    }
                }
                if let Some(failure) = first_failure {
                    return Err(failure);
                }
                i = end;
                continue;
            }
            self.begin(&mut journal, i, total, action)?;

            let result: Result<StepResult, Problem> = match action {
                Action::StopMaps { maps } => self
                    .ops
                    .stop_maps(maps, &self.requests(i, maps.len()))
                    .await
                    .map(|_| StepResult::MapsStopped { count: maps.len() }),
                Action::Backup { .. } => {
                    match self.backup(plan, i, read.as_deref(), &mut backed_up).await {
                        Ok((path, rows)) => {
                            rows_backed_up = rows;
                            backup_path = Some(path.clone());
                            Ok(StepResult::BackedUp { rows, path })
                        }
                        Err(p) => Err(p),
                    }
                }
                // Handled above, several at once.
                Action::ClearTable { .. } => Err(Problem::error(
                    "dwlink::internal::executor",
                    "clear-table outside its group",
                )),
                // Its `unread_tables` need nothing from dwlink: the service's reset clears them.
                Action::ResetLink {
                    target,
                    force,
                    organization_url,
                    legal_entities,
                    ..
                } => match (backup_path.is_some(), readable_rows(read.as_deref())) {
                    // The reset clears every key table: rows it would take need a backup of
                    // this apply first.
                    (false, rows) if rows > 0 => {
                        Err(backup_check::missing_backup("the reset", rows))
                    }
                    _ => self
                        .ops
                        .reset_link(*target, *force, legal_entities)
                        .await
                        .map(|_| StepResult::Relinked {
                            organization_url: organization_url.clone(),
                            legal_entities: legal_entities.clone(),
                        }),
                },
                Action::ApplySolutions { solutions } => self
                    .ops
                    .apply_solutions(solutions, &self.requests(i, solutions.len()))
                    .await
                    .map(|_| StepResult::SolutionsApplied {
                        count: solutions.len(),
                    }),
                Action::StartMaps { maps, .. } if plan.desired.maps.is_empty() => self
                    .ops
                    .start_maps(maps, &self.requests(i, maps.len()))
                    .await
                    .map(|_| StepResult::MapsStarted { count: maps.len() }),
                Action::StartMaps { maps, initial_sync } => {
                    let switched = super::map_steps::switched(plan);
                    self.ops
                        .start_declared(
                            maps,
                            initial_sync,
                            &switched,
                            &self.requests(i, maps.len()),
                        )
                        .await
                        .map(|_| StepResult::MapsStarted { count: maps.len() })
                }
                Action::SwitchMapVersion { map, to, .. } => self
                    .ops
                    .switch_map_version(map, to)
                    .await
                    .map(|_| StepResult::MapsChanged {
                        done: format!("version {to} active"),
                    }),
                Action::SetIntegrationKeys { map, to, .. } => self
                    .ops
                    .set_integration_keys(map, to)
                    .await
                    .map(|_| StepResult::MapsChanged {
                        done: format!("keys [{}] set", to.join(", ")),
                    }),
                Action::RefreshTables { maps } => self
                    .ops
                    .refresh_tables(maps, &self.requests(i, maps.len()))
                    .await
                    .map(|_| StepResult::MapsChanged {
                        done: format!("{} refreshed", maps.len()),
                    }),
                Action::ResumeMaps { maps } => self
                    .ops
                    .pause_resume(
                        maps,
                        crate::link::MapRequest::Resume,
                        &self.requests(i, maps.len()),
                    )
                    .await
                    .map(|_| StepResult::MapsChanged {
                        done: format!("{} resumed", maps.len()),
                    }),
                Action::PauseMaps { maps } => self
                    .ops
                    .pause_resume(
                        maps,
                        crate::link::MapRequest::Pause,
                        &self.requests(i, maps.len()),
                    )
                    .await
                    .map(|_| StepResult::MapsChanged {
                        done: format!("{} paused", maps.len()),
                    }),
                Action::Verify => super::verify::verify(self.ops, plan)
                    .await
                    .map(|_| StepResult::Verified),
            };

            self.record(&mut journal, i, kind, result, &backup_path, &mut changes)?;
            i += 1;
        }
        let _ = journal.append(&journal.entry(Event::Completed));
        Ok(Outcome {
            backup: backup_path,
            rows_backed_up,
            rows_deleted,
            rows_already_gone,
            steps: total,
            journal: journal.path().to_path_buf(),
            elapsed: started.elapsed(),
            changes,
        })
    }

    /// The live read this plan was made from, keys included: the steps' last read when its
    /// fingerprint is the plan's, else a new read that must have it (before the journal, so a
    /// stale plan leaves no trace).
    #[allow(clippy::result_large_err)]
    async fn planned_read(&self, plan: &Plan) -> Result<Arc<LiveState>, ApplyError> {
        if let Some(read) = self.ops.last_read() {
            if read.fingerprint() == plan.live_fingerprint {
                return Ok(read);
            }
        }
        let read = self.ops.read_live().await.map_err(ApplyError::Io)?;
        if read.fingerprint() != plan.live_fingerprint {
            return Err(ApplyError::Refused(Refusal::StalePlan));
        }
        Ok(Arc::new(read))
    }

    /// Before the first destructive step (and before the journal, so a refusal leaves no trace):
    /// no request of this connection set may still be in flight. The environment lock keeps out
    /// applies of this machine; this catches one from another machine, or a portal user.
    #[allow(clippy::result_large_err)]
    async fn not_busy(&self, plan: &Plan) -> Result<(), ApplyError> {
        match self.ops.requests_in_flight().await {
            Ok(None) => Ok(()),
            Ok(Some((_, requests))) if requests.is_empty() => Ok(()),
            Ok(Some((conn, requests))) => Err(ApplyError::Refused(Refusal::RequestsInFlight {
                environment: plan.environment.name.clone(),
                connection_set: conn.name,
                requests: requests
                    .iter()
                    .map(|r| format!("{} ({})", r.what, r.id))
                    .collect(),
            })),
            Err(p) => Err(ApplyError::Io(Problem {
                message: format!(
                    "cannot tell whether another apply is at work, so nothing was changed: {}",
                    p.message
                ),
                ..p
            })),
        }
    }

    /// Journal a step's start (durably, before any effect) and tell the view.
    #[allow(clippy::result_large_err)]
    fn begin(
        &self,
        journal: &mut Journal,
        step: usize,
        total: usize,
        action: &Action,
    ) -> Result<(), ApplyError> {
        let kind = action.kind();
        let mut start = journal.entry(Event::Start);
        start.step = Some(step);
        start.kind = Some(kind);
        journal
            .append(&start)
            .map_err(|e| ApplyError::Io(io_problem("cannot write the journal", e)))?;
        crash::step("start", kind);
        (self.on_event)(StepEvent::Start {
            step,
            total,
            action: action.clone(),
        });
        Ok(())
    }

    /// Delete exactly the backed-up rows of one key table.
    async fn clear(
        &self,
        step: usize,
        action: &Action,
        backed_up: &BTreeMap<(Service, String), Vec<String>>,
    ) -> Result<StepResult, Problem> {
        let Action::ClearTable {
            service,
            table,
            entity_set,
            ..
        } = action
        else {
            return Err(Problem::error(
                "dwlink::internal::executor",
                "not a clear-table step",
            ));
        };
        // Only what the backup holds of this very table (service and set, as the live read named
        // them) may be deleted; rows that appeared since are left for the reset, which clears the
        // tables itself (after the backup of this apply holds them).
        let keys = backed_up
            .get(&(*service, entity_set.clone()))
            .cloned()
            .unwrap_or_default();
        let of = keys.len();
        let progress = |done: usize| {
            crash::point("delete-chunk");
            (self.on_event)(StepEvent::Progress {
                step,
                done,
                of,
                unit: Unit::Rows,
            })
        };
        let report = self
            .ops
            .delete_rows(*service, entity_set, &keys, &progress)
            .await?;
        Ok(StepResult::Cleared {
            table: table.clone(),
            deleted: report.deleted,
            already_gone: report.already_gone,
        })
    }

    /// Journal a step's outcome and tell the view; a failure becomes the apply's error.
    // The error ends the apply and is built at most once per run: its size does not matter.
    #[allow(clippy::result_large_err)]
    fn record(
        &self,
        journal: &mut Journal,
        step: usize,
        kind: ActionKind,
        result: Result<StepResult, Problem>,
        backup_path: &Option<PathBuf>,
        changes: &mut Vec<Change>,
    ) -> Result<(), ApplyError> {
        match result {
            Ok(result) => {
                crash::step("effect", kind);
                // The journal keeps the outcome in words; views get it as data.
                let detail = result.to_string();
                let mut done = journal.entry(Event::Done);
                done.step = Some(step);
                done.kind = Some(kind);
                done.detail = Some(detail.clone());
                if kind == ActionKind::Backup {
                    done.backup = backup_path.as_ref().map(|p| p.display().to_string());
                }
                journal
                    .append(&done)
                    .map_err(|e| ApplyError::Io(io_problem("cannot write the journal", e)))?;
                crash::step("done", kind);
                changes.push(Change {
                    kind,
                    result: result.clone(),
                });
                (self.on_event)(StepEvent::Done { step, kind, result });
                Ok(())
            }
            Err(problem) => {
                let mut failed = journal.entry(Event::Failed);
                failed.step = Some(step);
                failed.kind = Some(kind);
                failed.detail = Some(problem.message.clone());
                let _ = journal.append(&failed);
                (self.on_event)(StepEvent::Failed {
                    step,
                    kind,
                    message: problem.message.clone(),
                });
                Err(ApplyError::Failed {
                    step,
                    problem,
                    journal: journal.path().to_path_buf(),
                    backup: backup_path.clone(),
                })
            }
        }
    }

    /// Reports asynchronous requests that reached their final state.
    fn requests(&self, step: usize, of: usize) -> impl Fn(usize) + Send + Sync + 'a {
        let on_event = self.on_event;
        move |done| {
            on_event(StepEvent::Progress {
                step,
                done,
                of,
                unit: Unit::Requests,
            })
        }
    }

    /// Stream every row of the key tables the plan's read counted into one backup file, each
    /// table checked against that read ([`backup_check`]) before the file is made durable.
    async fn backup(
        &self,
        plan: &Plan,
        step: usize,
        read: Option<&LiveState>,
        keys: &mut BTreeMap<(Service, String), Vec<String>>,
    ) -> Result<(PathBuf, usize), Problem> {
        let now = jiff::Timestamp::now();
        let header = BackupHeader {
            format_version: BACKUP_FORMAT.into(),
            dwlink_version: crate::plan::DWLINK_VERSION.into(),
            plan_id: plan.plan_id.clone(),
            created_at: now.to_string(),
            environment: plan.environment.name.clone(),
            finance_operations_url: plan.environment.finance_operations_url.clone(),
            dataverse_url: plan.environment.dataverse_url.clone(),
            note: "Rows deleted by dwlink apply, every column as read, connection strings included: keep this file private (mode 0600). Put rows back with `dwlink restore FILE`.".into(),
        };
        // The tables come from the read, not from the plan's list: a plan cannot narrow them.
        let tables: Vec<_> = read
            .map(|r| r.key_tables.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|t| t.count().is_some_and(|n| n > 0))
            .collect();
        let dir = self.state_dir.join("backups");
        let name = backup::file_name(&plan.environment.name, &now);
        let mut writer = BackupWriter::create(&dir, &name, &header)
            .map_err(|e| io_problem("cannot create the backup file", e))?;
        let of: usize = tables.iter().map(|t| t.rows()).sum();
        let mut done = 0usize;
        for t in tables {
            let (service, entity_set) = (t.service, t.entity_set.as_str());
            writer
                .begin_table(service, &t.table, entity_set)
                .map_err(|e| io_problem("cannot write the backup", e))?;
            let mut check = TableCheck::new(&t.table, t.keys.clone());
            let mut table_keys = Vec::new();
            let mut sink = |row: serde_json::Value| -> std::io::Result<()> {
                match self.ops.row_key(service, entity_set, &row) {
                    Some(k) => {
                        check.key(&k);
                        table_keys.push(k);
                    }
                    None => {
                        return Err(std::io::Error::other(format!(
                            "a {entity_set} row has no key; refusing to continue"
                        )))
                    }
                }
                writer.row(&row)?;
                crash::point("backup-row");
                done += 1;
                (self.on_event)(StepEvent::Progress {
                    step,
                    done,
                    of: of.max(done),
                    unit: Unit::Rows,
                });
                Ok(())
            };
            self.ops.read_rows(service, entity_set, &mut sink).await?;
            let verdict = check.verdict()?;
            if verdict.added_since > 0 {
                let counted = self.ops.count_rows(service, entity_set).await?;
                backup_check::recount(&t.table, &verdict, counted)?;
            }
            keys.insert((service, entity_set.to_string()), table_keys);
        }
        writer
            .finish()
            .map_err(|e| io_problem("cannot make the backup durable", e))
    }
}

/// Rows of readable key tables in a live read: what a reset would clear that a backup can hold.
fn readable_rows(read: Option<&LiveState>) -> usize {
    read.map_or(0, |r| r.key_tables.iter().filter_map(|t| t.count()).sum())
}

fn table_name(action: &Action) -> &str {
    match action {
        Action::ClearTable { table, .. } => table,
        _ => "a table",
    }
}
