//! What an apply reports as it goes, as data: which step starts, how far a long one got, what
//! each step did. Views turn these into lines, bars or JSON; the journal keeps
//! [`StepResult`]'s words.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::plan::describe::thousands;
use crate::plan::{Action, ActionKind};

#[derive(Debug, Clone)]
pub enum StepEvent {
    Start {
        step: usize,
        total: usize,
        action: Action,
    },
    Progress {
        step: usize,
        done: usize,
        of: usize,
        unit: Unit,
    },
    Done {
        step: usize,
        kind: ActionKind,
        result: StepResult,
    },
    Failed {
        step: usize,
        kind: ActionKind,
        message: String,
    },
    /// Ctrl-C: the apply stopped before step `next`; the same command finishes it.
    Interrupted { next: usize, total: usize },
}

/// What a progress count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Rows backed up or deleted.
    Rows,
    /// Asynchronous management requests that reached their final state.
    Requests,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    MapsStopped {
        count: usize,
    },
    BackedUp {
        rows: usize,
        path: PathBuf,
    },
    Cleared {
        table: String,
        deleted: usize,
        /// Keys that were already gone when their delete was sent.
        already_gone: usize,
    },
    Relinked {
        organization_url: String,
        legal_entities: Vec<String>,
    },
    SolutionsApplied {
        count: usize,
    },
    MapsStarted {
        count: usize,
    },
    /// A map step other than stop and start, in words (`version 1.0.0.3 active`).
    MapsChanged {
        done: String,
    },
    Verified,
}

impl fmt::Display for StepResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepResult::MapsStopped { count } => write!(f, "{count} stopped"),
            StepResult::BackedUp { rows, path } => {
                write!(f, "{} rows written to {}", thousands(*rows), path.display())
            }
            StepResult::Cleared {
                table,
                deleted,
                already_gone: 0,
            } => write!(f, "{} rows deleted from {table}", thousands(*deleted)),
            StepResult::Cleared {
                table,
                deleted,
                already_gone,
            } => write!(
                f,
                "{} rows deleted from {table}, {} already gone",
                thousands(*deleted),
                thousands(*already_gone)
            ),
            StepResult::Relinked {
                organization_url,
                legal_entities,
            } if legal_entities.is_empty() => write!(
                f,
                "connection reset and relinked to {organization_url}, no legal entities"
            ),
            StepResult::Relinked {
                organization_url,
                legal_entities,
            } => write!(
                f,
                "connection reset and relinked to {organization_url}, legal entities {}",
                crate::plan::describe::in_order(legal_entities)
            ),
            StepResult::SolutionsApplied { count } => write!(f, "{count} applied"),
            StepResult::MapsStarted { count } => write!(f, "{count} started"),
            StepResult::MapsChanged { done } => f.write_str(done),
            StepResult::Verified => f.write_str("live state matches the declaration"),
        }
    }
}

/// One line of the final summary: a step and what it did.
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: ActionKind,
    pub result: StepResult,
}
