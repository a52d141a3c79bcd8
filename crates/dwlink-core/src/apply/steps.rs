//! Plan-level steps ("stop these maps", "clear this table") over a [`Link`]: turns them into
//! service requests (ids, request polling, key predicates) and waits for each request's true
//! outcome. The executor, verify and restore work through [`Steps`]; tests give it a FakeLink.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::config::raw::ResetTarget;
use crate::diag::Problem;
use crate::link::{DeleteReport, Link, ProviderError, RequestId, ResetOptions, Row, TableRef};
use crate::model::desired::Desired;
use crate::model::key_tables;
use crate::model::live::{LiveConnection, LiveState, Service};

/// Reports how many rows a long step has handled so far.
pub type Progress<'a> = &'a (dyn Fn(usize) + Send + Sync);

/// Microsoft's Dual-write-automations tool waits 300 s for a reset (`DWLibary/Engines/ResetLinkEngine.cs`).
const RESET_TIMEOUT: Duration = Duration::from_secs(300);
const MAP_TIMEOUT: Duration = Duration::from_secs(120);
/// Keys per progress report while deleting (the provider splits them into change sets).
const DELETE_SLICE: usize = 250;

pub struct Steps<L> {
    pub link: L,
    pub desired: Desired,
    /// The last live read without its keys; map ids, the connection and table names come from
    /// here. Cleared by steps that change them (reset, apply solution).
    last: Mutex<Option<LiveState>>,
    /// The last live read with its keys: what a plan made from it (or checked fresh against it)
    /// counted, so what a backup of the same apply must hold ([`super::backup_check`]).
    read: Mutex<Option<Arc<LiveState>>>,
}

pub(super) fn problem(e: ProviderError) -> Problem {
    e.to_problem()
}

impl<L: Link> Steps<L> {
    pub fn new(link: L, desired: Desired) -> Self {
        Steps {
            link,
            desired,
            last: Mutex::new(None),
            read: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<LiveState> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn forget(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    async fn state(&self) -> Result<LiveState, Problem> {
        match self.cached() {
            Some(s) => Ok(s),
            None => self.read_live().await,
        }
    }

    pub(super) async fn connection(&self) -> Result<LiveConnection, Problem> {
        self.state().await?.connection.ok_or_else(|| {
            Problem::error(
                "dwlink::apply::no_connection",
                "the dual-write service has no connection set for this environment",
            )
            .help("link the environment once in the dual-write workspace of F&O, then plan again")
        })
    }

    fn table_ref(&self, service: Service, entity_set: &str) -> TableRef {
        let table = self
            .cached()
            .and_then(|s| {
                s.key_tables
                    .iter()
                    .find(|t| t.service == service && t.entity_set == entity_set)
                    .map(|t| t.table.clone())
            })
            .or_else(|| key_tables::by_entity_set(service, entity_set).map(|t| t.table.to_string()))
            .unwrap_or_else(|| entity_set.to_string());
        TableRef {
            service,
            table,
            entity_set: entity_set.to_string(),
        }
    }

    pub(super) async fn wait_all(
        &self,
        requests: Vec<RequestId>,
        timeout: Duration,
        progress: Progress<'_>,
    ) -> Result<(), Problem> {
        // Every request is waited for, so one failure does not hide another's outcome.
        let mut first_error = None;
        progress(0);
        for (i, r) in requests.iter().enumerate() {
            if let Err(e) = self.link.wait_for_request(r, timeout).await {
                first_error.get_or_insert(problem(e));
            }
            progress(i + 1);
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn maps(
        &self,
        names: &[String],
        start: bool,
        progress: Progress<'_>,
    ) -> Result<(), Problem> {
        let conn = self.connection().await?;
        let mut requests = Vec::new();
        for name in names {
            let Some(m) = conn.maps.iter().find(|m| &m.name == name) else {
                return Err(Problem::error(
                    "dwlink::apply::unknown_map",
                    format!("the connection has no map named `{name}`"),
                )
                .help(format!(
                    "maps present: {}",
                    conn.maps
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let r = if start {
                self.link.start_map(&conn.id, &m.id, &m.name).await
            } else {
                self.link.stop_map(&conn.id, &m.id, &m.name).await
            };
            requests.push(r.map_err(problem)?);
        }
        let result = self.wait_all(requests, MAP_TIMEOUT, progress).await;
        self.forget();
        result
    }

    pub async fn read_live(&self) -> Result<LiveState, Problem> {
        let state = self.link.read(&self.desired).await.map_err(problem)?;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(state.without_keys());
        *self.read.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(state.clone()));
        Ok(state)
    }

    /// The last live read, keys included; `None` before the first.
    pub fn last_read(&self) -> Option<Arc<LiveState>> {
        self.read.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The connection set (from the last read) and its requests still in flight; `None` when
    /// the environment has no connection set.
    pub async fn requests_in_flight(
        &self,
    ) -> Result<Option<(LiveConnection, Vec<RequestId>)>, Problem> {
        let Some(conn) = self.state().await?.connection else {
            return Ok(None);
        };
        let requests = self.link.requests_in_flight(&conn).await.map_err(problem)?;
        Ok(Some((conn, requests)))
    }

    /// [`Steps::requests_in_flight`] as the last read saw them, when the link kept them; read
    /// afresh otherwise. For plans: they only foresee what apply checks again.
    pub async fn requests_seen_or_read(
        &self,
    ) -> Result<Option<(LiveConnection, Vec<RequestId>)>, Problem> {
        let Some(conn) = self.state().await?.connection else {
            return Ok(None);
        };
        if let Some(seen) = self.link.requests_seen_by_read(&conn) {
            return Ok(Some((conn, seen)));
        }
        let requests = self.link.requests_in_flight(&conn).await.map_err(problem)?;
        Ok(Some((conn, requests)))
    }

    pub async fn stop_maps(&self, maps: &[String], progress: Progress<'_>) -> Result<(), Problem> {
        self.maps(maps, false, progress).await
    }

    pub async fn read_rows(
        &self,
        service: Service,
        entity_set: &str,
        sink: &mut dyn FnMut(Value) -> std::io::Result<()>,
    ) -> Result<usize, Problem> {
        let table = self.table_ref(service, entity_set);
        // Page by page: each page is written to the backup and dropped while the next one is
        // on its way, so memory holds two pages at most whatever the table's size.
        let mut pages = self.link.read_pages(&table).map_err(problem)?;
        let mut n = 0;
        while let Some(rows) = pages.next_page().await.map_err(problem)? {
            n += rows.len();
            for row in rows {
                sink(Value::Object(row)).map_err(|e| {
                    Problem::error("dwlink::apply::backup", format!("{}: {e}", table.table))
                        .help("nothing was deleted; check the .dwlink directory and try again")
                })?;
            }
        }
        Ok(n)
    }

    /// The service's own count of a table's rows, `None` where it cannot say.
    pub async fn count_rows(
        &self,
        service: Service,
        entity_set: &str,
    ) -> Result<Option<usize>, Problem> {
        let table = self.table_ref(service, entity_set);
        self.link.count_rows(&table).await.map_err(problem)
    }

    /// The key predicate of a row as read by [`Steps::read_rows`].
    pub fn row_key(&self, service: Service, entity_set: &str, row: &Value) -> Option<String> {
        self.link
            .row_key(&self.table_ref(service, entity_set), row.as_object()?)
    }

    pub async fn delete_rows(
        &self,
        service: Service,
        entity_set: &str,
        keys: &[String],
        progress: Progress<'_>,
    ) -> Result<DeleteReport, Problem> {
        let table = self.table_ref(service, entity_set);
        // In slices, so the bar moves and an interruption loses at most one slice of progress.
        let mut total = DeleteReport::default();
        for slice in keys.chunks(DELETE_SLICE) {
            let report = self
                .link
                .delete_rows(&table, slice)
                .await
                .map_err(problem)?;
            total.deleted += report.deleted;
            total.already_gone += report.already_gone;
            progress(total.deleted + total.already_gone);
        }
        Ok(total)
    }

    pub async fn create_rows(
        &self,
        service: Service,
        entity_set: &str,
        rows: &[&Value],
        progress: Progress<'_>,
    ) -> Result<usize, Problem> {
        let table = self.table_ref(service, entity_set);
        let rows: Vec<&Row> = rows.iter().filter_map(|r| r.as_object()).collect();
        let n = self
            .link
            .create_rows(&table, &rows)
            .await
            .map_err(problem)?;
        progress(n);
        Ok(n)
    }

    /// The reset request also selects the legal entities: no other request can.
    pub async fn reset_link(
        &self,
        target: ResetTarget,
        force: bool,
        legal_entities: &[String],
    ) -> Result<(), Problem> {
        let conn = self.connection().await?;
        let options = ResetOptions {
            force,
            target,
            legal_entities: legal_entities.to_vec(),
        };
        let request = self.link.reset(&conn, &options).await.map_err(problem)?;
        let result = self.wait_all(vec![request], RESET_TIMEOUT, &|_| {}).await;
        self.forget();
        result
    }

    pub async fn apply_solutions(
        &self,
        solutions: &[String],
        progress: Progress<'_>,
    ) -> Result<(), Problem> {
        let conn = self.connection().await?;
        let mut requests = Vec::new();
        for s in solutions {
            requests.push(self.link.apply_solution(&conn, s).await.map_err(problem)?);
        }
        let result = self.wait_all(requests, RESET_TIMEOUT, progress).await;
        self.forget();
        result
    }

    pub async fn start_maps(&self, maps: &[String], progress: Progress<'_>) -> Result<(), Problem> {
        self.maps(maps, true, progress).await
    }
}
