//! What apply needs from the live services, as one trait: the executor is written against it and
//! the HTTP provider implements it (the same code serves the emulator and Microsoft's cloud).

use serde_json::Value;

use crate::config::raw::ResetTarget;
use crate::diag::Problem;
use crate::model::live::{LiveState, Service};

/// Reports how many rows a long step has handled so far.
pub type Progress<'a> = &'a (dyn Fn(usize) + Send + Sync);

#[allow(async_fn_in_trait)]
pub trait Operations {
    async fn read_live(&self) -> Result<LiveState, Problem>;

    /// Stop the maps and wait until the service reports each request's final state; `progress`
    /// counts the requests that reached one.
    async fn stop_maps(&self, maps: &[String], progress: Progress<'_>) -> Result<(), Problem>;

    /// Every column of the dual-write rows of one key table, page by page into `sink`.
    async fn read_rows(
        &self,
        service: Service,
        entity_set: &str,
        sink: &mut dyn FnMut(Value) -> std::io::Result<()>,
    ) -> Result<usize, Problem>;

    /// The OData key predicate of a row as read by [`Operations::read_rows`].
    fn row_key(&self, entity_set: &str, row: &Value) -> Option<String>;

    /// Delete rows by key (in `$batch` change sets). Rows already gone count as deleted.
    async fn delete_rows(
        &self,
        service: Service,
        entity_set: &str,
        keys: &[String],
        progress: Progress<'_>,
    ) -> Result<usize, Problem>;

    /// Create rows (restore); rows whose key already exists are skipped.
    async fn create_rows(
        &self,
        service: Service,
        entity_set: &str,
        rows: &[Value],
        progress: Progress<'_>,
    ) -> Result<usize, Problem>;

    /// Reset the connection set and wait for the final state.
    async fn reset_link(
        &self,
        target: ResetTarget,
        force: bool,
        legal_entities: &[String],
    ) -> Result<(), Problem>;

    async fn link_legal_entities(&self, legal_entities: &[String]) -> Result<(), Problem>;

    /// Apply the solutions and wait for each request's final state.
    async fn apply_solutions(
        &self,
        solutions: &[String],
        progress: Progress<'_>,
    ) -> Result<(), Problem>;

    /// Start the maps and wait for each request's final state.
    async fn start_maps(&self, maps: &[String], progress: Progress<'_>) -> Result<(), Problem>;
}
