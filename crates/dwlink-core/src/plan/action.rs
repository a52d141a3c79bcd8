//! The closed set of plan actions (spec section 3). Their order is the only order they may run
//! in; each is safe to run twice.

use serde::{Deserialize, Serialize};

use crate::config::raw::ResetTarget;
use crate::model::live::Service;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// Stop the running maps (only with `reset.force`).
    StopMaps {
        maps: Vec<String>,
    },
    /// Write every row the following steps delete to a local file, before any delete.
    Backup {
        tables: Vec<TableRows>,
        rows: usize,
    },
    /// Delete the dual-write rows of one key table.
    ClearTable {
        service: Service,
        table: String,
        entity_set: String,
        rows: usize,
    },
    /// Reset the connection set and link it to `organization_url` with `legal_entities`. They
    /// belong to this step because the reset request is the only one that carries them.
    ResetLink {
        target: ResetTarget,
        organization_url: String,
        force: bool,
        legal_entities: Vec<String>,
        /// Key tables the service's reset clears whose rows dwlink cannot read (so it neither
        /// backs them up nor deletes them itself, and counts none of their rows).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unread_tables: Vec<UnreadTable>,
    },
    ApplySolutions {
        solutions: Vec<String>,
    },
    /// Put a declared map on another version (DWA `DWMapEngine.cs` `applyMapVersion`).
    SwitchMapVersion {
        map: String,
        from: Option<String>,
        to: String,
    },
    /// Set the integration keys of a declared map's Dataverse table.
    SetIntegrationKeys {
        map: String,
        table: String,
        from: Vec<String>,
        to: Vec<String>,
    },
    /// Refresh the tables of maps whose version or keys changed, as DWA does before a start.
    RefreshTables {
        maps: Vec<String>,
    },
    /// Resume paused maps (in one request).
    ResumeMaps {
        maps: Vec<String>,
    },
    /// Start maps, prerequisites first; those in `initial_sync` copy existing rows first.
    StartMaps {
        maps: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        initial_sync: Vec<String>,
    },
    /// Pause running maps (in one request); their queue is kept for a day at most.
    PauseMaps {
        maps: Vec<String>,
    },
    /// Re-read live state and check it matches the declaration.
    Verify,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    pub service: Service,
    pub table: String,
    pub rows: usize,
}

/// A key table whose rows cannot be read: `rows` is always `null` in a plan's JSON, so no
/// consumer takes an unknown count for 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadTable {
    pub service: Service,
    pub table: String,
    #[serde(default)]
    pub rows: Option<usize>,
    pub note: String,
}

/// Action kinds, in execution order; also the symbols the views print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    StopMaps,
    Backup,
    ClearTable,
    ResetLink,
    ApplySolutions,
    SwitchMapVersion,
    SetIntegrationKeys,
    RefreshTables,
    ResumeMaps,
    StartMaps,
    PauseMaps,
    Verify,
}

impl ActionKind {
    pub const ALL: [ActionKind; 12] = [
        ActionKind::StopMaps,
        ActionKind::Backup,
        ActionKind::ClearTable,
        ActionKind::ResetLink,
        ActionKind::ApplySolutions,
        ActionKind::SwitchMapVersion,
        ActionKind::SetIntegrationKeys,
        ActionKind::RefreshTables,
        ActionKind::ResumeMaps,
        ActionKind::StartMaps,
        ActionKind::PauseMaps,
        ActionKind::Verify,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ActionKind::StopMaps => "stop-maps",
            ActionKind::Backup => "backup",
            ActionKind::ClearTable => "clear-table",
            ActionKind::ResetLink => "reset-link",
            ActionKind::ApplySolutions => "apply-solutions",
            ActionKind::SwitchMapVersion => "switch-map-version",
            ActionKind::SetIntegrationKeys => "set-integration-keys",
            ActionKind::RefreshTables => "refresh-tables",
            ActionKind::ResumeMaps => "resume-maps",
            ActionKind::StartMaps => "start-maps",
            ActionKind::PauseMaps => "pause-maps",
            ActionKind::Verify => "verify",
        }
    }

    /// Terraform-style: `-` removes, `-/+` replaces, `~` changes in place, `+` adds.
    pub fn symbol(self) -> &'static str {
        match self {
            ActionKind::StopMaps => "■",
            ActionKind::Backup => "↓",
            ActionKind::ClearTable => "-",
            ActionKind::ResetLink => "-/+",
            ActionKind::ApplySolutions => "+",
            ActionKind::SwitchMapVersion => "~",
            ActionKind::SetIntegrationKeys => "~",
            ActionKind::RefreshTables => "↻",
            ActionKind::ResumeMaps => "▶",
            ActionKind::StartMaps => "▶",
            ActionKind::PauseMaps => "‖",
            ActionKind::Verify => "?",
        }
    }

    pub fn destructive(self) -> bool {
        matches!(
            self,
            ActionKind::StopMaps | ActionKind::ClearTable | ActionKind::ResetLink
        )
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::StopMaps { .. } => ActionKind::StopMaps,
            Action::Backup { .. } => ActionKind::Backup,
            Action::ClearTable { .. } => ActionKind::ClearTable,
            Action::ResetLink { .. } => ActionKind::ResetLink,
            Action::ApplySolutions { .. } => ActionKind::ApplySolutions,
            Action::SwitchMapVersion { .. } => ActionKind::SwitchMapVersion,
            Action::SetIntegrationKeys { .. } => ActionKind::SetIntegrationKeys,
            Action::RefreshTables { .. } => ActionKind::RefreshTables,
            Action::ResumeMaps { .. } => ActionKind::ResumeMaps,
            Action::StartMaps { .. } => ActionKind::StartMaps,
            Action::PauseMaps { .. } => ActionKind::PauseMaps,
            Action::Verify => ActionKind::Verify,
        }
    }

    pub fn destructive(&self) -> bool {
        self.kind().destructive()
    }
}

/// The JSON form of an action: its fields plus `destructive`, so consumers of `plan --json` need
/// not know which kinds destroy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAction {
    #[serde(flatten)]
    pub action: Action,
    pub destructive: bool,
}

impl From<Action> for PlannedAction {
    fn from(action: Action) -> Self {
        let destructive = action.destructive();
        PlannedAction {
            action,
            destructive,
        }
    }
}
