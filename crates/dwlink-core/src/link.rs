//! [`Link`]: the one trait through which plan, apply, restore, import, snapshot and status read
//! and change live state. `dwlink-http` implements it for the real services (and the emulator,
//! which speaks the same HTTP); `dwlink-testkit`'s `FakeLink` implements it for the engine's
//! unit tests.
//!
//! Methods return boxed futures so callers can hold a `&dyn Link`.

pub mod error;
pub mod secret;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::desired::{Desired, ResetTarget};
use crate::model::live::{KeyTable, LiveConnection, LiveMap, LiveState, Service};

pub use error::{Api, ProviderError};
pub use secret::Secret;

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T, ProviderError>> + Send + 'a>>;

/// One row as the service returns it (all columns, OData annotations included).
pub type Row = serde_json::Map<String, serde_json::Value>;

/// A key table to back up, clear or restore: the same names [`KeyTable`] carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRef {
    pub service: Service,
    pub table: String,
    pub entity_set: String,
}

impl From<&KeyTable> for TableRef {
    fn from(t: &KeyTable) -> Self {
        TableRef {
            service: t.service,
            table: t.table.clone(),
            entity_set: t.entity_set.clone(),
        }
    }
}

/// An asynchronous management-service request (map start/stop, reset, apply solution).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestId {
    pub id: String,
    /// What was asked, for messages ("stop map Customers V3 (accounts)").
    pub what: String,
}

/// A `Start` request that is not a plain start or stop (DWA `DWMapEngine.cs` `startStopMap`,
/// lines 1698–1760: actions `5` pause and `6` resume, several maps in one request; a start that
/// runs the initial sync sends `skipInitialSync: false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MapRequest {
    Pause,
    Resume,
    StartWithInitialSync,
}

impl MapRequest {
    pub fn verb(self) -> &'static str {
        match self {
            MapRequest::Pause => "pause",
            MapRequest::Resume => "resume",
            MapRequest::StartWithInitialSync => "start (initial sync)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetOptions {
    pub force: bool,
    pub target: ResetTarget,
    /// Upper-case company codes.
    pub legal_entities: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Solution {
    pub name: String,
    pub maps: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteReport {
    pub deleted: usize,
    /// Keys that were already gone (deleting is idempotent: a second run finds nothing to do).
    pub already_gone: usize,
}

/// A table read page by page, so a caller can stream rows (a backup writes each page to disk
/// and drops it) instead of holding the whole table.
pub trait RowPages: Send {
    /// The next page's rows; `None` after the last page.
    fn next_page(&mut self) -> BoxFut<'_, Option<Vec<Row>>>;
}

pub trait Link: Send + Sync {
    /// What the services say now about the environment `desired` names.
    fn read<'a>(&'a self, desired: &'a Desired) -> BoxFut<'a, LiveState>;
    fn stop_map<'a>(
        &'a self,
        connection_id: &'a str,
        map_id: &'a str,
        map_name: &'a str,
    ) -> BoxFut<'a, RequestId>;
    fn start_map<'a>(
        &'a self,
        connection_id: &'a str,
        map_id: &'a str,
        map_name: &'a str,
    ) -> BoxFut<'a, RequestId>;
    /// The management requests of this connection set that have not ended (Waiting), whoever
    /// started them: an apply refuses to start its destructive steps while there are any.
    fn requests_in_flight<'a>(
        &'a self,
        connection: &'a LiveConnection,
    ) -> BoxFut<'a, Vec<RequestId>>;
    /// The requests in flight that the last [`Link::read`] found in the very replies it read
    /// `connection` and its maps from; `None` when it has none to tell (then a plan asks
    /// [`Link::requests_in_flight`]). Only a plan takes this: an apply asks afresh.
    fn requests_seen_by_read(&self, _connection: &LiveConnection) -> Option<Vec<RequestId>> {
        None
    }
    /// Polls `Status/{id}` until the request is Completed (`Ok`), ended in Error
    /// ([`ProviderError::RequestFailed`]) or `timeout` passed ([`ProviderError::RequestTimedOut`]).
    fn wait_for_request<'a>(&'a self, request: &'a RequestId, timeout: Duration) -> BoxFut<'a, ()>;
    /// The key predicate that addresses `row` of `table` in [`Link::delete_rows`]; `None` when
    /// the row lacks a key column.
    fn row_key(&self, table: &TableRef, row: &Row) -> Option<String>;
    /// Every row of a key table, all columns (for backups). For `BusinessEventsDefinition` only
    /// the dual-write rows.
    fn read_rows<'a>(&'a self, table: &'a TableRef) -> BoxFut<'a, Vec<Row>>;
    /// The rows [`Link::read_rows`] returns, one page at a time.
    fn read_pages<'a>(
        &'a self,
        table: &'a TableRef,
    ) -> Result<Box<dyn RowPages + 'a>, ProviderError>;
    /// How many rows [`Link::read_pages`] would return now, as the service counts them
    /// (`$count`); `None` where it cannot say. A backup that holds rows the plan did not count
    /// (added since) is re-counted with it, so a read cut short among new rows is caught.
    fn count_rows<'a>(&'a self, _table: &'a TableRef) -> BoxFut<'a, Option<usize>> {
        Box::pin(async { Ok(None) })
    }
    /// Deletes rows by key predicate in `$batch` change sets; keys already gone count as done.
    fn delete_rows<'a>(
        &'a self,
        table: &'a TableRef,
        keys: &'a [String],
    ) -> BoxFut<'a, DeleteReport>;
    /// Creates rows (restore), in `$batch` change sets; returns how many were created.
    fn create_rows<'a>(&'a self, table: &'a TableRef, rows: &'a [&'a Row]) -> BoxFut<'a, usize>;
    /// Resets the connection set. The legal entities travel in this request: the management
    /// service has no call that sets them on their own (Microsoft's Dual-write-automations,
    /// `DWLibary/Engines/ResetLinkEngine.cs`).
    fn reset<'a>(
        &'a self,
        connection: &'a LiveConnection,
        options: &'a ResetOptions,
    ) -> BoxFut<'a, RequestId>;
    fn list_solutions<'a>(&'a self, connection_id: &'a str) -> BoxFut<'a, Vec<Solution>>;
    /// Takes the connection, not its id: the real service's effect is read back from the
    /// connection set, which is found by name.
    fn apply_solution<'a>(
        &'a self,
        connection: &'a LiveConnection,
        solution: &'a str,
    ) -> BoxFut<'a, RequestId>;
    /// One request that pauses, resumes or starts (with initial sync) `maps`; waited for with
    /// [`Link::wait_for_request`].
    fn map_request<'a>(
        &'a self,
        connection: &'a LiveConnection,
        maps: &'a [LiveMap],
        request: MapRequest,
    ) -> BoxFut<'a, RequestId>;
    /// Puts `map` on `version` (one of `map.versions`) and returns once a read shows it active.
    fn switch_map_version<'a>(
        &'a self,
        connection: &'a LiveConnection,
        map: &'a LiveMap,
        version: &'a str,
    ) -> BoxFut<'a, ()>;
    /// Sets the integration keys of `map`'s Dataverse table.
    fn set_integration_keys<'a>(
        &'a self,
        connection: &'a LiveConnection,
        map: &'a LiveMap,
        keys: &'a [String],
    ) -> BoxFut<'a, ()>;
    /// Refreshes the tables (schemas) of `map`'s project.
    fn refresh_tables<'a>(
        &'a self,
        connection: &'a LiveConnection,
        map: &'a LiveMap,
    ) -> BoxFut<'a, ()>;
}
