//! The [`FakeLink`]: one dual-write environment held in memory, behind the core's `Link` trait.
//!
//! The live state it reports is derived from its rows on every read, so a delete, a reset or a
//! restore shows up in the next read the way it would on the services. Asynchronous requests
//! take effect when they are waited for, ending as their [`RequestOutcome`] says.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use dwlink_core::link::{
    Api, BoxFut, DeleteReport, Link, MapRequest, ProviderError, RequestId, ResetOptions, Row,
    RowPages, Solution, TableRef,
};
use dwlink_core::model::desired::{Desired, EnvironmentType, ResetTarget};
use dwlink_core::model::identity::{same_host, same_organization};
use dwlink_core::model::key_tables::{
    KeyTableDef, KEY_TABLES, PROJECT_CONFIGURATION, RUNTIME_CONFIGURATION, RUNTIME_PRIMARY_ID,
};
use dwlink_core::model::live::{LiveConnection, LiveMap, LiveState, MapState, OrgRef};
use serde_json::json;
use url::Url;

use crate::keys;

#[path = "fake_maps.rs"]
mod maps;

/// Rows per key table, by table name (`DualWriteProjectConfiguration`, …), every column.
pub type Rows = BTreeMap<String, Vec<Row>>;

/// One call the engine made through the `Link` trait, with its key arguments. `row_key` is not
/// recorded: it is a pure function the backup calls once per row.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Read {
        environment: String,
    },
    StopMap {
        connection_id: String,
        map: String,
    },
    StartMap {
        connection_id: String,
        map: String,
    },
    WaitForRequest {
        request_id: String,
        /// `None` for an id this fake never issued.
        kind: Option<RequestKind>,
    },
    RequestsInFlight {
        connection_id: String,
    },
    ReadRows {
        table: String,
    },
    ReadPages {
        table: String,
    },
    /// Page `page` (from 0) of a [`Call::ReadPages`] read.
    NextPage {
        table: String,
        page: usize,
    },
    DeleteRows {
        table: String,
        keys: Vec<String>,
    },
    CreateRows {
        table: String,
        rows: Vec<Row>,
    },
    Reset {
        connection_id: String,
        force: bool,
        target: ResetTarget,
        legal_entities: Vec<String>,
    },
    ListSolutions {
        connection_id: String,
    },
    ApplySolution {
        connection_id: String,
        solution: String,
    },
    MapRequest {
        maps: Vec<String>,
        request: MapRequest,
    },
    SwitchMapVersion {
        map: String,
        version: String,
    },
    SetIntegrationKeys {
        map: String,
        keys: Vec<String>,
    },
    RefreshTables {
        map: String,
    },
}

/// [`Call`] without its arguments, to aim a [`Fault`] or filter a call log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallKind {
    Read,
    StopMap,
    StartMap,
    WaitForRequest,
    RequestsInFlight,
    ReadRows,
    ReadPages,
    NextPage,
    DeleteRows,
    CreateRows,
    Reset,
    ListSolutions,
    ApplySolution,
    MapRequest,
    SwitchMapVersion,
    SetIntegrationKeys,
    RefreshTables,
}

impl Call {
    pub fn kind(&self) -> CallKind {
        match self {
            Call::Read { .. } => CallKind::Read,
            Call::StopMap { .. } => CallKind::StopMap,
            Call::StartMap { .. } => CallKind::StartMap,
            Call::WaitForRequest { .. } => CallKind::WaitForRequest,
            Call::RequestsInFlight { .. } => CallKind::RequestsInFlight,
            Call::ReadRows { .. } => CallKind::ReadRows,
            Call::ReadPages { .. } => CallKind::ReadPages,
            Call::NextPage { .. } => CallKind::NextPage,
            Call::DeleteRows { .. } => CallKind::DeleteRows,
            Call::CreateRows { .. } => CallKind::CreateRows,
            Call::Reset { .. } => CallKind::Reset,
            Call::ListSolutions { .. } => CallKind::ListSolutions,
            Call::ApplySolution { .. } => CallKind::ApplySolution,
            Call::MapRequest { .. } => CallKind::MapRequest,
            Call::SwitchMapVersion { .. } => CallKind::SwitchMapVersion,
            Call::SetIntegrationKeys { .. } => CallKind::SetIntegrationKeys,
            Call::RefreshTables { .. } => CallKind::RefreshTables,
        }
    }

    /// The key table a row call is about.
    pub fn table(&self) -> Option<&str> {
        match self {
            Call::ReadRows { table }
            | Call::ReadPages { table }
            | Call::NextPage { table, .. }
            | Call::DeleteRows { table, .. }
            | Call::CreateRows { table, .. } => Some(table),
            _ => None,
        }
    }
}

/// The asynchronous management requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestKind {
    StopMap,
    StartMap,
    Reset,
    ApplySolution,
    /// Pause, resume or start with initial sync.
    MapRequest,
}

/// How an asynchronous request ends when it is waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Takes effect; the wait returns `Ok` (the default).
    Complete,
    /// Ends in Error without effect: [`ProviderError::RequestFailed`] with this message.
    Fail(String),
    /// Stays Waiting without effect: [`ProviderError::RequestTimedOut`].
    TimeOut,
    /// Takes effect, but only after the caller stopped waiting: the wait reports
    /// [`ProviderError::RequestTimedOut`] although the change happened.
    CompleteAfterTimeOut,
}

/// A change the fake's state actually underwent, in order: what a test checks to prove a
/// destructive change was not made twice (a refused call is in the call log, not here).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    MapStopped {
        map: String,
    },
    MapStarted {
        map: String,
    },
    /// Only the keys that were present: deleting a gone row changes nothing.
    RowsDeleted {
        table: String,
        keys: Vec<String>,
    },
    RowsCreated {
        table: String,
        keys: Vec<String>,
    },
    /// The connection was reset and now points at `organization`, syncing `legal_entities`
    /// (upper-case, sorted).
    Reset {
        organization: Option<Url>,
        legal_entities: Vec<String>,
    },
    SolutionApplied {
        solution: String,
    },
    MapPaused {
        map: String,
    },
    MapVersionSwitched {
        map: String,
        version: String,
    },
    IntegrationKeysSet {
        map: String,
        keys: Vec<String>,
    },
    TablesRefreshed {
        map: String,
    },
}

type Predicate = Box<dyn Fn(&Call) -> bool + Send + Sync>;
type Hook = Arc<dyn Fn(&Call) + Send + Sync>;
type PageHook = Arc<dyn Fn(&str, &mut Vec<Row>) + Send + Sync>;

enum Trigger {
    At(usize),
    Next(CallKind),
    On(Predicate),
}

/// A failure to inject: which call fails, with what error, and whether the call still took
/// effect (the service did the work but its reply was lost). Each fault fires once.
pub struct Fault {
    trigger: Trigger,
    error: ProviderError,
    after_effect: bool,
}

impl Fault {
    /// The `n`-th call overall (from 0: the index it gets in [`FakeLink::calls`]).
    pub fn at(n: usize, error: ProviderError) -> Self {
        Fault::new(Trigger::At(n), error)
    }

    /// The next call of this kind.
    pub fn next(kind: CallKind, error: ProviderError) -> Self {
        Fault::new(Trigger::Next(kind), error)
    }

    /// The next call `matches` accepts. It runs while the fake is locked: it may only look at
    /// the call.
    pub fn on(
        matches: impl Fn(&Call) -> bool + Send + Sync + 'static,
        error: ProviderError,
    ) -> Self {
        Fault::new(Trigger::On(Box::new(matches)), error)
    }

    /// The call takes effect before the error is returned. For a request, the request runs to
    /// its outcome as if waited for.
    pub fn after_effect(mut self) -> Self {
        self.after_effect = true;
        self
    }

    fn new(trigger: Trigger, error: ProviderError) -> Self {
        Fault {
            trigger,
            error,
            after_effect: false,
        }
    }

    fn fires(&self, index: usize, call: &Call) -> bool {
        match &self.trigger {
            Trigger::At(n) => *n == index,
            Trigger::Next(kind) => *kind == call.kind(),
            Trigger::On(matches) => matches(call),
        }
    }
}

/// Ready-made errors for faults.
pub mod errors {
    use super::*;

    /// The service could not be reached: the request had no effect (unless the fault is
    /// [`Fault::after_effect`]).
    pub fn unreachable() -> ProviderError {
        ProviderError::Transport {
            api: Api::DualWrite,
            url: "https://fake.dual-write.test/".into(),
            detail: "connection reset by peer (injected)".into(),
        }
    }

    pub(crate) fn status(status: u16, code: &str, message: impl Into<String>) -> ProviderError {
        ProviderError::Status {
            api: Api::DualWrite,
            method: "POST".into(),
            url: "https://fake.dual-write.test/".into(),
            status,
            code: Some(code.into()),
            message: message.into(),
        }
    }
}

#[derive(Clone)]
enum Work {
    SetMap {
        map_id: String,
        state: MapState,
    },
    Reset {
        relink_to: Option<OrgRef>,
        legal_entities: Vec<String>,
    },
    ApplySolution {
        solution: String,
    },
    SetMaps {
        map_ids: Vec<String>,
        state: MapState,
    },
}

enum Progress {
    Waiting,
    Completed,
    Failed(String),
}

struct Pending {
    kind: RequestKind,
    what: String,
    work: Work,
    outcome: RequestOutcome,
    progress: Progress,
}

pub(crate) struct State {
    live: LiveState,
    rows: Rows,
    solutions: Vec<Solution>,
    requests: BTreeMap<String, Pending>,
    /// Requests someone else started on this connection set, still Waiting.
    elsewhere: Vec<RequestId>,
    scripts: BTreeMap<RequestKind, VecDeque<RequestOutcome>>,
    faults: Vec<Fault>,
    calls: Vec<Call>,
    effects: Vec<Effect>,
    page_size: usize,
    issued: usize,
    /// What the service knows of each map whatever a reset removed: versions offered, table,
    /// prerequisites (taken from the maps the fake was given or edited to have).
    catalog: BTreeMap<String, LiveMap>,
    /// Map name → the version on which a start ends in Error.
    fails_on_version: BTreeMap<String, String>,
}

struct Inner {
    state: Mutex<State>,
    hooks: Mutex<Vec<Hook>>,
    page_hooks: Mutex<Vec<PageHook>>,
}

/// A scriptable `Link` over one in-memory environment. Clones share the same environment, so a
/// test keeps one clone to inspect while the engine owns another.
#[derive(Clone)]
pub struct FakeLink {
    inner: Arc<Inner>,
}

impl FakeLink {
    /// An environment with this live state and these rows. The state's key tables are ignored:
    /// reads derive them from the rows.
    pub fn new(live: LiveState, rows: Rows, solutions: Vec<Solution>) -> Self {
        let catalog = maps::catalog(&live, BTreeMap::new());
        FakeLink {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    live,
                    rows,
                    solutions,
                    requests: BTreeMap::new(),
                    elsewhere: Vec::new(),
                    scripts: BTreeMap::new(),
                    faults: Vec::new(),
                    calls: Vec::new(),
                    effects: Vec::new(),
                    page_size: 25,
                    issued: 0,
                    catalog,
                    fails_on_version: BTreeMap::new(),
                }),
                hooks: Mutex::new(Vec::new()),
                page_hooks: Mutex::new(Vec::new()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked in a hook must not hide its message behind a poisoned lock.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every call so far, in the order they arrived (a failed call is still a call).
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Every change the state underwent so far, in order.
    pub fn effects(&self) -> Vec<Effect> {
        self.lock().effects.clone()
    }

    /// What a read returns now.
    pub fn state(&self) -> LiveState {
        self.lock().live_state()
    }

    /// Every stored row of `table`, dual-write's or not.
    pub fn rows(&self, table: &str) -> Vec<Row> {
        self.lock().rows.get(table).cloned().unwrap_or_default()
    }

    /// The keys a read reports for `table`, sorted.
    pub fn keys(&self, table: &str) -> Vec<String> {
        self.state()
            .table(table)
            .map(|t| t.keys.clone())
            .unwrap_or_default()
    }

    /// Change the environment behind the engine's back (someone clicked in the portal). Key
    /// tables follow the rows: change those with [`FakeLink::insert_rows`].
    pub fn edit(&self, change: impl FnOnce(&mut LiveState)) {
        let mut s = self.lock();
        change(&mut s.live);
        let known = std::mem::take(&mut s.catalog);
        s.catalog = maps::catalog(&s.live, known);
    }

    /// Starting `map` on `version` ends in Error (a map version that does not run here).
    pub fn fail_start_on_version(&self, map: &str, version: &str) {
        self.lock()
            .fails_on_version
            .insert(map.to_string(), version.to_string());
    }

    /// Add rows to a table behind the engine's back.
    pub fn insert_rows(&self, table: &str, rows: Vec<Row>) {
        self.lock()
            .rows
            .entry(table.to_string())
            .or_default()
            .extend(rows);
    }

    /// Delete the first `n` rows of a table behind the engine's back (another admin, another
    /// tool), as if between the backup and the clear.
    pub fn remove_rows(&self, table: &str, n: usize) {
        if let Some(rows) = self.lock().rows.get_mut(table) {
            let n = n.min(rows.len());
            rows.drain(..n);
        }
    }

    /// Rows per page of [`Link::read_pages`] (default 25).
    pub fn set_page_size(&self, rows: usize) {
        self.lock().page_size = rows.max(1);
    }

    /// How the next request of `kind` ends (queued: the second call scripts the one after).
    pub fn script_request(&self, kind: RequestKind, outcome: RequestOutcome) {
        self.lock()
            .scripts
            .entry(kind)
            .or_default()
            .push_back(outcome);
    }

    /// Someone else (another machine's apply, a portal user) starts a request on this connection
    /// set; it stays in flight until [`FakeLink::finish_requests_elsewhere`].
    pub fn start_request_elsewhere(&self, what: &str) -> RequestId {
        let mut s = self.lock();
        s.issued += 1;
        let request = RequestId {
            id: format!("elsewhere-{}", s.issued),
            what: what.to_string(),
        };
        s.elsewhere.push(request.clone());
        request
    }

    /// The requests started elsewhere end (without effect on this fake's state).
    pub fn finish_requests_elsewhere(&self) {
        self.lock().elsewhere.clear();
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// The `n`-th call overall (from 0) fails with `error`, without effect.
    pub fn fail_at(&self, n: usize, error: ProviderError) {
        self.inject(Fault::at(n, error));
    }

    /// The next call of `kind` fails with `error`, without effect.
    pub fn fail_next(&self, kind: CallKind, error: ProviderError) {
        self.inject(Fault::next(kind, error));
    }

    /// The next call `matches` accepts fails with `error`, without effect.
    pub fn fail_on(
        &self,
        matches: impl Fn(&Call) -> bool + Send + Sync + 'static,
        error: ProviderError,
    ) {
        self.inject(Fault::on(matches, error));
    }

    /// Run `hook` on every call after it is recorded and before it is handled. The hook may use
    /// this fake (read its state, edit it, inject a fault for this very call).
    pub fn on_call(&self, hook: impl Fn(&Call) + Send + Sync + 'static) {
        self.inner
            .hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(hook));
    }

    /// Rewrite every page a [`Link::read_pages`] read returns (a short, empty or mistyped reply
    /// from a service or a proxy), given the table's name; the stored rows stay as they are.
    pub fn on_page(&self, hook: impl Fn(&str, &mut Vec<Row>) + Send + Sync + 'static) {
        self.inner
            .page_hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(hook));
    }

    /// Record `call`, run the hooks, then let `op` handle it unless a fault says otherwise.
    fn handle<T>(
        &self,
        call: Call,
        op: impl FnOnce(&mut State) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let index = {
            let mut s = self.lock();
            s.calls.push(call.clone());
            s.calls.len() - 1
        };
        let hooks: Vec<Hook> = self
            .inner
            .hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for hook in &hooks {
            hook(&call);
        }
        let mut s = self.lock();
        let fault = s
            .faults
            .iter()
            .position(|f| f.fires(index, &call))
            .map(|i| s.faults.remove(i));
        match fault {
            None => op(&mut s),
            Some(f) => {
                if f.after_effect {
                    let _ = op(&mut s);
                }
                Err(f.error)
            }
        }
    }
}

fn not_found(what: impl Into<String>) -> ProviderError {
    errors::status(404, "NotFound", what)
}

impl State {
    fn live_state(&self) -> LiveState {
        let mut live = self.live.clone();
        live.key_tables = KEY_TABLES
            .iter()
            .map(|def| keys::key_table(def, self.rows.get(def.table).map_or(&[], Vec::as_slice)))
            .collect();
        live
    }

    fn connection(&mut self, id: &str) -> Result<&mut LiveConnection, ProviderError> {
        match self.live.connection.as_mut() {
            Some(c) if c.id == id => Ok(c),
            _ => Err(not_found(format!("no connection set {id}"))),
        }
    }

    fn dual_write_rows(&self, def: &KeyTableDef) -> Vec<Row> {
        self.rows
            .get(def.table)
            .into_iter()
            .flatten()
            .filter(|r| keys::is_dual_write(def, r))
            .cloned()
            .collect()
    }

    fn request(&mut self, kind: RequestKind, what: String, work: Work) -> RequestId {
        self.issued += 1;
        let id = format!("req-{}", self.issued);
        let outcome = self
            .scripts
            .get_mut(&kind)
            .and_then(VecDeque::pop_front)
            .unwrap_or(RequestOutcome::Complete);
        self.requests.insert(
            id.clone(),
            Pending {
                kind,
                what: what.clone(),
                work,
                outcome,
                progress: Progress::Waiting,
            },
        );
        RequestId { id, what }
    }

    fn map_request(
        &mut self,
        connection_id: &str,
        map_id: &str,
        start: bool,
    ) -> Result<RequestId, ProviderError> {
        let conn = self.connection(connection_id)?;
        let Some(map) = conn.maps.iter().find(|m| m.id == map_id) else {
            return Err(not_found(format!("no map {map_id}")));
        };
        let (kind, verb, state) = if start {
            (RequestKind::StartMap, "start", MapState::Running)
        } else {
            (RequestKind::StopMap, "stop", MapState::Stopped)
        };
        let what = format!("{verb} map {}", map.name);
        let work = Work::SetMap {
            map_id: map_id.to_string(),
            state,
        };
        Ok(self.request(kind, what, work))
    }

    /// Wait for a request: it reaches its scripted outcome the first time it is waited for.
    fn wait(&mut self, id: &str, timeout: Duration) -> Result<(), ProviderError> {
        let Some(p) = self.requests.get(id) else {
            return Err(not_found(format!("no request {id}")));
        };
        let what = p.what.clone();
        let failed = |message: String| ProviderError::RequestFailed {
            request_id: id.to_string(),
            what: what.clone(),
            message,
        };
        let timed_out = || ProviderError::RequestTimedOut {
            request_id: id.to_string(),
            what: what.clone(),
            waited: timeout,
            state: "Waiting".into(),
        };
        match &p.progress {
            Progress::Completed => return Ok(()),
            Progress::Failed(m) => return Err(failed(m.clone())),
            Progress::Waiting => {}
        }
        let outcome = p.outcome.clone();
        let result = match &outcome {
            RequestOutcome::Fail(m) => Err(m.clone()),
            RequestOutcome::TimeOut => return Err(timed_out()),
            RequestOutcome::Complete | RequestOutcome::CompleteAfterTimeOut => self.complete(id),
        };
        let p = self.requests.get_mut(id).expect("looked up above");
        match result {
            Ok(()) => {
                p.progress = Progress::Completed;
                if outcome == RequestOutcome::CompleteAfterTimeOut {
                    Err(timed_out())
                } else {
                    Ok(())
                }
            }
            Err(m) => {
                p.progress = Progress::Failed(m.clone());
                Err(failed(m))
            }
        }
    }

    /// A request's effect, as the management service applies it when the request completes.
    fn complete(&mut self, id: &str) -> Result<(), String> {
        let work = self.requests[id].work.clone();
        let conn = self
            .live
            .connection
            .as_mut()
            .ok_or("the connection set is gone")?;
        match work {
            Work::SetMaps { map_ids, state } => {
                let effects = maps::set_states(conn, &map_ids, state, &self.fails_on_version)?;
                self.effects.extend(effects);
            }
            Work::SetMap { map_id, state } => {
                let map = conn
                    .maps
                    .iter_mut()
                    .find(|m| m.id == map_id)
                    .ok_or("the map was removed (reset?)")?;
                if state == MapState::Running
                    && map.version.is_some()
                    && self.fails_on_version.get(&map.name) == map.version.as_ref()
                {
                    map.state = MapState::Error;
                    return Err(format!("map {} failed to start on its version", map.name));
                }
                map.state = state;
                let map = map.name.clone();
                self.effects.push(if state == MapState::Running {
                    Effect::MapStarted { map }
                } else {
                    Effect::MapStopped { map }
                });
            }
            Work::Reset {
                relink_to,
                legal_entities,
            } => {
                if let Some(org) = relink_to {
                    conn.organization = Some(org);
                }
                conn.maps.clear();
                conn.legal_entities = legal_entities.clone();
                let organization = conn.organization.clone();
                // The reset clears F&O's dual-write rows, and the runtime configurations of the
                // organization it links to (this fake holds only the declared one's).
                let ours = self.our_organization();
                let clears_runtime = organization
                    .as_ref()
                    .is_some_and(|o| same_organization(o, &ours));
                for def in &KEY_TABLES {
                    if def.table == RUNTIME_CONFIGURATION && !clears_runtime {
                        continue;
                    }
                    if let Some(rows) = self.rows.get_mut(def.table) {
                        rows.retain(|r| !keys::is_dual_write(def, r));
                    }
                }
                self.effects.push(Effect::Reset {
                    organization: organization.map(|o| o.url),
                    legal_entities,
                });
            }
            Work::ApplySolution { solution } => self.apply_solution(&solution)?,
        }
        Ok(())
    }

    fn our_organization(&self) -> OrgRef {
        OrgRef {
            url: self.live.dataverse.url.clone(),
            organization_id: Some(self.live.dataverse.organization_id),
        }
    }

    /// Brings the solution's maps back (stopped) with their project configurations pointing at
    /// the linked organization, and their runtime configurations if that is the declared one.
    fn apply_solution(&mut self, name: &str) -> Result<(), String> {
        let solution = self
            .solutions
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .ok_or("the solution is gone")?;
        let ours = self.our_organization();
        let secure = self
            .live
            .dataverse
            .friendly_name
            .clone()
            .unwrap_or_else(|| ours.organization_id.unwrap_or_default().to_string());
        let conn = self.live.connection.as_mut().ok_or("no connection")?;
        let linked = conn
            .organization
            .clone()
            .ok_or("the connection is not linked")?;
        for map in &solution.maps {
            if !conn.maps.iter().any(|m| &m.name == map) {
                self.issued += 1;
                let fresh = LiveMap::new(
                    format!("map-{}", self.issued),
                    map.clone(),
                    MapState::Stopped,
                );
                conn.maps
                    .push(maps::as_solution_leaves(fresh, &self.catalog));
            }
        }
        conn.maps.sort_by(|a, b| a.name.cmp(&b.name));
        let projects = self.rows.entry(PROJECT_CONFIGURATION.into()).or_default();
        for map in &solution.maps {
            projects.retain(|r| r.get("ProjectName") != Some(&json!(map)));
            projects.push(crate::rows::project(map, linked.url.as_str()));
        }
        if same_organization(&linked, &ours) {
            let runtime = self.rows.entry(RUNTIME_CONFIGURATION.into()).or_default();
            for (i, map) in solution.maps.iter().enumerate() {
                let id = uuid::Uuid::from_u128(0xa000 + i as u128).to_string();
                if !runtime
                    .iter()
                    .any(|r| r.get(RUNTIME_PRIMARY_ID) == Some(&json!(id)))
                {
                    let mut row = crate::rows::runtime_with_id(&id, &secure);
                    row.insert("msdyn_name".into(), json!(map));
                    runtime.push(row);
                }
            }
        }
        self.effects.push(Effect::SolutionApplied {
            solution: name.to_string(),
        });
        Ok(())
    }
}

fn upper_sorted(legal_entities: &[String]) -> Vec<String> {
    let mut v: Vec<String> = legal_entities.iter().map(|l| l.to_uppercase()).collect();
    v.sort();
    v.dedup();
    v
}

fn unknown_table(table: &TableRef) -> ProviderError {
    not_found(format!(
        "no key table {} ({})",
        table.table, table.entity_set
    ))
}

impl Link for FakeLink {
    fn read<'a>(&'a self, desired: &'a Desired) -> BoxFut<'a, LiveState> {
        let call = Call::Read {
            environment: desired.name.clone(),
        };
        Box::pin(async move {
            self.handle(call, |s| {
                if !same_host(
                    &s.live.finance_operations.url,
                    &desired.finance_operations.url,
                ) {
                    return Err(not_found(format!(
                        "this fake holds {}, not {}",
                        s.live.finance_operations.url, desired.finance_operations.url
                    )));
                }
                Ok(s.live_state())
            })
        })
    }

    fn stop_map<'a>(
        &'a self,
        connection_id: &'a str,
        map_id: &'a str,
        map_name: &'a str,
    ) -> BoxFut<'a, RequestId> {
        let call = Call::StopMap {
            connection_id: connection_id.into(),
            map: map_name.into(),
        };
        Box::pin(async move { self.handle(call, |s| s.map_request(connection_id, map_id, false)) })
    }

    fn start_map<'a>(
        &'a self,
        connection_id: &'a str,
        map_id: &'a str,
        map_name: &'a str,
    ) -> BoxFut<'a, RequestId> {
        let call = Call::StartMap {
            connection_id: connection_id.into(),
            map: map_name.into(),
        };
        Box::pin(async move { self.handle(call, |s| s.map_request(connection_id, map_id, true)) })
    }

    fn wait_for_request<'a>(&'a self, request: &'a RequestId, timeout: Duration) -> BoxFut<'a, ()> {
        let kind = self.lock().requests.get(&request.id).map(|p| p.kind);
        let call = Call::WaitForRequest {
            request_id: request.id.clone(),
            kind,
        };
        Box::pin(async move { self.handle(call, |s| s.wait(&request.id, timeout)) })
    }

    /// Requests started elsewhere, and this fake's own requests scripted never to end
    /// ([`RequestOutcome::TimeOut`]) once issued. Its other requests end in time on their own
    /// (their effect is applied when they are waited for).
    fn requests_in_flight<'a>(
        &'a self,
        connection: &'a LiveConnection,
    ) -> BoxFut<'a, Vec<RequestId>> {
        let call = Call::RequestsInFlight {
            connection_id: connection.id.clone(),
        };
        Box::pin(async move {
            self.handle(call, |s| {
                s.connection(&connection.id)?;
                let own = s
                    .requests
                    .iter()
                    .filter(|(_, p)| {
                        p.outcome == RequestOutcome::TimeOut
                            && matches!(p.progress, Progress::Waiting)
                    })
                    .map(|(id, p)| RequestId {
                        id: id.clone(),
                        what: p.what.clone(),
                    });
                Ok(s.elsewhere.iter().cloned().chain(own).collect())
            })
        })
    }

    fn row_key(&self, table: &TableRef, row: &Row) -> Option<String> {
        keys::predicate(keys::def_of(table)?, row)
    }

    fn read_rows<'a>(&'a self, table: &'a TableRef) -> BoxFut<'a, Vec<Row>> {
        let call = Call::ReadRows {
            table: table.table.clone(),
        };
        Box::pin(async move {
            self.handle(call, |s| {
                let def = keys::def_of(table).ok_or_else(|| unknown_table(table))?;
                Ok(s.dual_write_rows(def))
            })
        })
    }

    fn read_pages<'a>(
        &'a self,
        table: &'a TableRef,
    ) -> Result<Box<dyn RowPages + 'a>, ProviderError> {
        let call = Call::ReadPages {
            table: table.table.clone(),
        };
        let (rows, page_size) = self.handle(call, |s| {
            let def = keys::def_of(table).ok_or_else(|| unknown_table(table))?;
            Ok((s.dual_write_rows(def), s.page_size))
        })?;
        Ok(Box::new(Pages {
            link: self,
            table: table.table.clone(),
            rows: rows.into(),
            page_size,
            page: 0,
        }))
    }

    fn count_rows<'a>(&'a self, table: &'a TableRef) -> BoxFut<'a, Option<usize>> {
        Box::pin(async move {
            let def = keys::def_of(table).ok_or_else(|| unknown_table(table))?;
            Ok(Some(self.lock().dual_write_rows(def).len()))
        })
    }

    fn delete_rows<'a>(
        &'a self,
        table: &'a TableRef,
        keys: &'a [String],
    ) -> BoxFut<'a, DeleteReport> {
        let call = Call::DeleteRows {
            table: table.table.clone(),
            keys: keys.to_vec(),
        };
        Box::pin(async move {
            self.handle(call, |s| {
                let def = keys::def_of(table).ok_or_else(|| unknown_table(table))?;
                let rows = s.rows.entry(def.table.to_string()).or_default();
                let mut report = DeleteReport::default();
                let mut deleted = Vec::new();
                for key in keys {
                    match rows
                        .iter()
                        .position(|r| keys::predicate(def, r).as_ref() == Some(key))
                    {
                        Some(i) => {
                            rows.remove(i);
                            deleted.push(key.clone());
                            report.deleted += 1;
                        }
                        None => report.already_gone += 1,
                    }
                }
                if !deleted.is_empty() {
                    s.effects.push(Effect::RowsDeleted {
                        table: def.table.to_string(),
                        keys: deleted,
                    });
                }
                Ok(report)
            })
        })
    }

    fn create_rows<'a>(&'a self, table: &'a TableRef, rows: &'a [&'a Row]) -> BoxFut<'a, usize> {
        let call = Call::CreateRows {
            table: table.table.clone(),
            rows: rows.iter().map(|r| (*r).clone()).collect(),
        };
        Box::pin(async move {
            self.handle(call, |s| {
                let def = keys::def_of(table).ok_or_else(|| unknown_table(table))?;
                let existing = s.rows.entry(def.table.to_string()).or_default();
                let mut created = Vec::new();
                for row in rows {
                    let key = keys::predicate(def, row).ok_or_else(|| {
                        errors::status(400, "BadRequest", format!("a {} row has no key", def.table))
                    })?;
                    // Change sets are atomic: one duplicate and nothing is created.
                    if created.contains(&key)
                        || existing
                            .iter()
                            .any(|r| keys::predicate(def, r).as_ref() == Some(&key))
                    {
                        return Err(errors::status(409, "Conflict", format!("{key} exists")));
                    }
                    created.push(key);
                }
                existing.extend(rows.iter().map(|r| (*r).clone()));
                s.effects.push(Effect::RowsCreated {
                    table: def.table.to_string(),
                    keys: created,
                });
                Ok(rows.len())
            })
        })
    }

    fn reset<'a>(
        &'a self,
        connection: &'a LiveConnection,
        options: &'a ResetOptions,
    ) -> BoxFut<'a, RequestId> {
        let call = Call::Reset {
            connection_id: connection.id.clone(),
            force: options.force,
            target: options.target,
            legal_entities: options.legal_entities.clone(),
        };
        Box::pin(async move {
            self.handle(call, |s| {
                let fo = s.live.finance_operations.clone();
                let conn = s.connection(&connection.id)?;
                let running: Vec<&str> = conn
                    .maps
                    .iter()
                    .filter(|m| m.state.is_active())
                    .map(|m| m.name.as_str())
                    .collect();
                if !running.is_empty() && !options.force {
                    return Err(errors::status(
                        409,
                        "MapsRunning",
                        format!(
                            "stop every map before a reset; running: {}",
                            running.join(", ")
                        ),
                    ));
                }
                let relink_to = match (fo.environment_type, options.target) {
                    (EnvironmentType::CloudHosted, _) | (_, ResetTarget::CurrentEnvironment) => {
                        if conn.organization.is_none() {
                            return Err(errors::status(
                                400,
                                "BadRequest",
                                "the connection set is not linked; there is nothing to refresh",
                            ));
                        }
                        None
                    }
                    (_, ResetTarget::PowerPlatformLink) => match fo.power_platform_link {
                        Some(pp) => Some(pp),
                        None => {
                            return Err(errors::status(
                                400,
                                "NoPowerPlatformLink",
                                "the environment has no Power Platform integration",
                            ))
                        }
                    },
                };
                let work = Work::Reset {
                    relink_to,
                    legal_entities: upper_sorted(&options.legal_entities),
                };
                Ok(s.request(RequestKind::Reset, "reset".into(), work))
            })
        })
    }

    fn list_solutions<'a>(&'a self, connection_id: &'a str) -> BoxFut<'a, Vec<Solution>> {
        let call = Call::ListSolutions {
            connection_id: connection_id.into(),
        };
        Box::pin(async move {
            self.handle(call, |s| {
                s.connection(connection_id)?;
                Ok(s.solutions.clone())
            })
        })
    }

    fn apply_solution<'a>(
        &'a self,
        connection: &'a LiveConnection,
        solution: &'a str,
    ) -> BoxFut<'a, RequestId> {
        let call = Call::ApplySolution {
            connection_id: connection.id.clone(),
            solution: solution.into(),
        };
        Box::pin(async move {
            self.handle(call, |s| {
                s.connection(&connection.id)?;
                if !s.solutions.iter().any(|x| x.name == solution) {
                    return Err(not_found(format!("no solution {solution}")));
                }
                let work = Work::ApplySolution {
                    solution: solution.into(),
                };
                Ok(s.request(
                    RequestKind::ApplySolution,
                    format!("apply solution {solution}"),
                    work,
                ))
            })
        })
    }

    fn map_request<'a>(
        &'a self,
        connection: &'a LiveConnection,
        maps: &'a [LiveMap],
        request: MapRequest,
    ) -> BoxFut<'a, RequestId> {
        let call = Call::MapRequest {
            maps: maps.iter().map(|m| m.name.clone()).collect(),
            request,
        };
        Box::pin(
            async move { self.handle(call, |s| s.maps_request(&connection.id, maps, request)) },
        )
    }

    fn switch_map_version<'a>(
        &'a self,
        connection: &'a LiveConnection,
        map: &'a LiveMap,
        version: &'a str,
    ) -> BoxFut<'a, ()> {
        let call = Call::SwitchMapVersion {
            map: map.name.clone(),
            version: version.into(),
        };
        Box::pin(
            async move { self.handle(call, |s| s.switch_version(&connection.id, map, version)) },
        )
    }

    fn set_integration_keys<'a>(
        &'a self,
        connection: &'a LiveConnection,
        map: &'a LiveMap,
        keys: &'a [String],
    ) -> BoxFut<'a, ()> {
        let call = Call::SetIntegrationKeys {
            map: map.name.clone(),
            keys: keys.to_vec(),
        };
        Box::pin(async move { self.handle(call, |s| s.set_keys(&connection.id, map, keys)) })
    }

    fn refresh_tables<'a>(
        &'a self,
        connection: &'a LiveConnection,
        map: &'a LiveMap,
    ) -> BoxFut<'a, ()> {
        let call = Call::RefreshTables {
            map: map.name.clone(),
        };
        Box::pin(async move { self.handle(call, |s| s.refresh(&connection.id, map)) })
    }
}

/// A paged read over the rows as they were when it began.
struct Pages<'a> {
    link: &'a FakeLink,
    table: String,
    rows: VecDeque<Row>,
    page_size: usize,
    page: usize,
}

impl RowPages for Pages<'_> {
    fn next_page(&mut self) -> BoxFut<'_, Option<Vec<Row>>> {
        let call = Call::NextPage {
            table: self.table.clone(),
            page: self.page,
        };
        Box::pin(async move {
            self.link.handle(call, |_| Ok(()))?;
            if self.rows.is_empty() {
                return Ok(None);
            }
            self.page += 1;
            let n = self.page_size.min(self.rows.len());
            let mut page: Vec<Row> = self.rows.drain(..n).collect();
            let hooks = self
                .link
                .inner
                .page_hooks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            hooks.iter().for_each(|h| h(&self.table, &mut page));
            Ok(Some(page))
        })
    }
}
