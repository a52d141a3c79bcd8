//! The map steps of a plan over a [`Link`]: switch a version, set keys, refresh tables, pause,
//! resume and start (with initial sync). Each reads the map first and skips what is already
//! done, so a step repeated after an interruption changes nothing twice.

use std::time::Duration;

use crate::diag::Problem;
use crate::link::{Link, MapRequest};
use crate::model::live::{LiveConnection, LiveMap, MapState};

use super::steps::{problem, Progress, Steps};

const MAP_TIMEOUT: Duration = Duration::from_secs(120);

/// A version switch planned in the same plan: (map, version before, version after).
pub struct Switched<'a> {
    pub map: &'a str,
    pub from: Option<&'a str>,
    pub to: &'a str,
}

/// The version switches of `plan`, for a start to undo.
pub(super) fn switched(plan: &crate::plan::Plan) -> Vec<Switched<'_>> {
    plan.actions
        .iter()
        .filter_map(|a| match &a.action {
            crate::plan::Action::SwitchMapVersion { map, from, to } => Some(Switched {
                map,
                from: from.as_deref(),
                to,
            }),
            _ => None,
        })
        .collect()
}

impl<L: Link> Steps<L> {
    async fn map_named(&self, name: &str) -> Result<(LiveConnection, LiveMap), Problem> {
        let conn = self.connection().await?;
        let m = conn
            .maps
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
            .cloned()
            .ok_or_else(|| {
                Problem::error(
                    "dwlink::apply::unknown_map",
                    format!("the connection has no map named `{name}`"),
                )
                .help("apply the solution that holds it, then plan again")
            })?;
        Ok((conn, m))
    }

    pub async fn switch_map_version(&self, map: &str, to: &str) -> Result<(), Problem> {
        self.forget();
        let (conn, m) = self.map_named(map).await?;
        if m.version.as_deref() == Some(to) {
            return Ok(());
        }
        let result = self.link.switch_map_version(&conn, &m, to).await;
        self.forget();
        result.map_err(problem)
    }

    pub async fn set_integration_keys(&self, map: &str, keys: &[String]) -> Result<(), Problem> {
        let (conn, m) = self.map_named(map).await?;
        let result = self.link.set_integration_keys(&conn, &m, keys).await;
        self.forget();
        result.map_err(problem)
    }

    pub async fn refresh_tables(
        &self,
        maps: &[String],
        progress: Progress<'_>,
    ) -> Result<(), Problem> {
        progress(0);
        for (i, name) in maps.iter().enumerate() {
            let (conn, m) = self.map_named(name).await?;
            self.link.refresh_tables(&conn, &m).await.map_err(problem)?;
            progress(i + 1);
        }
        Ok(())
    }

    /// Pause or resume `maps` in one request, leaving out those already there.
    pub async fn pause_resume(
        &self,
        maps: &[String],
        request: MapRequest,
        progress: Progress<'_>,
    ) -> Result<(), Problem> {
        self.forget();
        let conn = self.connection().await?;
        let mut todo = Vec::new();
        for name in maps {
            let (_, m) = self.map_named(name).await?;
            let done = match request {
                MapRequest::Pause => m.state == MapState::Paused,
                _ => m.state.is_active(),
            };
            if !done {
                todo.push(m);
            }
        }
        if todo.is_empty() {
            progress(maps.len());
            return Ok(());
        }
        let r = self
            .link
            .map_request(&conn, &todo, request)
            .await
            .map_err(problem)?;
        let result = self.wait_all(vec![r], MAP_TIMEOUT, &|_| {}).await;
        progress(maps.len());
        self.forget();
        result
    }

    /// Starts `maps` in order (those in `initial_sync` with an initial sync). A map that does
    /// not start on a version this plan switched it to is put back on its previous version, as
    /// Microsoft's automation does (`DWMapEngine.cs` `startStopMapRetry`, lines 1635–1690), and
    /// the step fails naming both.
    pub async fn start_declared(
        &self,
        maps: &[String],
        initial_sync: &[String],
        switched: &[Switched<'_>],
        progress: Progress<'_>,
    ) -> Result<(), Problem> {
        self.forget();
        let conn = self.connection().await?;
        let mut failures = Vec::new();
        progress(0);
        for (i, name) in maps.iter().enumerate() {
            let (_, m) = self.map_named(name).await?;
            if m.state.is_active() {
                progress(i + 1);
                continue;
            }
            let request = if initial_sync.contains(name) {
                self.link
                    .map_request(
                        &conn,
                        std::slice::from_ref(&m),
                        MapRequest::StartWithInitialSync,
                    )
                    .await
            } else {
                self.link.start_map(&conn.id, &m.id, &m.name).await
            };
            // Prerequisites start first and are waited for before their dependants.
            let waited = match request {
                Ok(r) => self.link.wait_for_request(&r, MAP_TIMEOUT).await,
                Err(e) => Err(e),
            };
            if let Err(e) = waited {
                failures.push((name.clone(), problem(e)));
            }
            progress(i + 1);
        }
        self.forget();
        let Some((name, first)) = failures.into_iter().next() else {
            return Ok(());
        };
        let Some(s) = switched.iter().find(|s| s.map.eq_ignore_ascii_case(&name)) else {
            return Err(first);
        };
        let Some(from) = s.from else {
            return Err(first);
        };
        let back = self.switch_map_version(&name, from).await;
        let outcome = match back {
            Ok(()) => format!("put back on version {from}"),
            Err(e) => format!(
                "putting it back on version {from} failed too: {}",
                e.message
            ),
        };
        Err(Problem::error(
            "dwlink::apply::map_version_failed",
            format!(
                "map `{name}` did not start on version {} ({}); {outcome}",
                s.to, first.message
            ),
        )
        .help(format!(
            "version {} of `{name}` does not run here: declare version {from} (or fix what the error names) and apply again",
            s.to
        )))
    }
}
