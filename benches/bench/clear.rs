//! Clearing key tables against the in-process emulator with injected latency and a request
//! budget: dwlink's `$batch` deletes, a naive one-DELETE-per-row client, and the lower bound.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;

use dwlink_core::fixture;
use dwlink_core::link::{Api, Link, TableRef};
use dwlink_core::model::desired::Desired;
use dwlink_core::model::live::{KeyTable, Service};
use dwlink_emulator::{self as emulator, FaultOptions, Options, RunningEmulator};
use dwlink_http::services::fo;
use dwlink_http::services::odata::{entity_path, url_with_query};
use dwlink_http::signin::auth::{Auth, AuthSettings, Grant};
use dwlink_http::transport::client::Client;
use dwlink_http::transport::request::ApiRequest;
use dwlink_http::{HttpProvider, ProviderSettings};

/// The service's most requests per `$batch` (Dataverse and our emulator: 1,000).
pub(crate) const MAX_PER_BATCH: usize = 1000;
/// Service protection: concurrent requests per user.
pub(crate) const MAX_IN_FLIGHT: usize = 52;

#[derive(Debug, Clone, Copy)]
pub(crate) struct World {
    pub fo_rows: usize,
    pub dv_rows: usize,
    pub latency_ms: u64,
    /// Requests per second per client (the emulator's fixed one-second window); 0: none.
    pub rate: u32,
    /// Service protection's execution time per operation (0: none).
    pub cost_ms: u64,
}

impl World {
    /// Round trips the clear needs at least: every table in change sets of at most 1,000.
    pub(crate) fn requests(&self, per_request: usize) -> usize {
        self.fo_rows.div_ceil(per_request) + self.dv_rows.div_ceil(per_request)
    }

    /// No client that respects the service's limits can finish sooner:
    /// - budget: the emulator admits `rate` requests per window, a window lasts 1 s from its
    ///   first admitted request, so R requests need ceil(R/rate) windows and the last window
    ///   opens at least (ceil(R/rate) − 1) s after the first admission, which itself comes one
    ///   latency after the first request leaves (latency is injected before admission);
    /// - concurrency: at most 52 requests in flight, each lasting at least one latency, so
    ///   ceil(R/52) latencies.
    ///
    /// Emulator CPU time (parsing 1,000-part change sets) is counted as 0: the bound is what
    /// latency and budget alone impose.
    pub(crate) fn bound(&self, per_request: usize) -> Duration {
        if self.rate == 0 {
            return self.protection_bound(per_request);
        }
        let r = self.requests(per_request) as u32;
        let latency = Duration::from_millis(self.latency_ms);
        let by_budget = latency + Duration::from_secs((r.div_ceil(self.rate) - 1) as u64);
        let by_concurrency = latency * r.div_ceil(MAX_IN_FLIGHT as u32);
        by_budget.max(by_concurrency)
    }

    /// Under service protection alone (`crate::protection` in the emulator: per user and
    /// service, 52 at once, execution time `cost_ms` per operation, which each request takes):
    /// each service's change sets run at most 52 at a time, each lasting one latency plus its
    /// operations' cost; the execution-time budget (1,200 s per 300 s) adds the time until
    /// enough of the window has passed when a service's total exceeds it. The slower service
    /// is the bound.
    pub(crate) fn protection_bound(&self, per_request: usize) -> Duration {
        let latency = Duration::from_millis(self.latency_ms);
        let cost = Duration::from_millis(self.cost_ms);
        let service = |rows: usize| {
            let sets = rows.div_ceil(per_request);
            if sets == 0 {
                return Duration::ZERO;
            }
            let waves = sets.div_ceil(MAX_IN_FLIGHT) as u32;
            let longest = latency + cost * per_request.min(rows) as u32;
            let spent = cost * rows as u32;
            let budget = Duration::from_secs(1200);
            let over = if spent > budget {
                Duration::from_secs(300)
            } else {
                Duration::ZERO
            };
            longest * waves + over
        };
        service(self.fo_rows).max(service(self.dv_rows))
    }

    async fn spawn(&self) -> RunningEmulator {
        let text = super::fixture_yaml(10, self.fo_rows, 0, self.dv_rows);
        let f = fixture::parse_str("bench.yaml", &text).unwrap_or_else(|p| panic!("{:?}", p.0));
        let options = Options {
            faults: FaultOptions {
                latency_ms: self.latency_ms,
                rate_limit: (self.rate > 0).then_some(self.rate),
                cost_ms: (self.cost_ms > 0).then_some(self.cost_ms),
                ..FaultOptions::default()
            },
            ..Options::default()
        };
        emulator::spawn(f, options).await.expect("emulator")
    }
}

fn settings(emu: &RunningEmulator) -> ProviderSettings {
    let url = url::Url::parse(&emu.url()).expect("url");
    ProviderSettings::emulator(&url, false, None).expect("settings")
}

/// The two tables the clear empties, with their keys as the plan read them.
async fn keys(provider: &HttpProvider, desired: &Desired) -> Vec<KeyTable> {
    let live = provider.read(desired).await.expect("read");
    live.key_tables
        .into_iter()
        .filter(|t| {
            // The F&O table with an OData set ($metadata); the field configurations have none.
            t.table == "DualWriteProjectConfiguration" || t.service == Service::Dataverse
        })
        .collect()
}

/// Lets the emulator's budget window that the key read used run out before timing starts.
async fn fresh_window() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

/// dwlink's clear: both tables at once, each in `$batch` change sets, several in flight.
pub(crate) async fn dwlink(world: World, desired: &Desired) -> Duration {
    let emu = world.spawn().await;
    let provider = HttpProvider::new(desired, settings(&emu)).expect("provider");
    let tables = keys(&provider, desired).await;
    fresh_window().await;
    let refs: Vec<TableRef> = tables.iter().map(TableRef::from).collect();
    let start = Instant::now();
    let deletes = tables
        .iter()
        .zip(&refs)
        .map(|(t, r)| provider.delete_rows(r, &t.keys));
    let reports = futures::future::join_all(deletes).await;
    let wall = start.elapsed();
    for (t, r) in tables.iter().zip(reports) {
        let r = r.expect("delete");
        assert_eq!(r.deleted + r.already_gone, t.keys.len(), "{}", t.table);
    }
    emu.shutdown().await;
    wall
}

/// The naive baseline: one DELETE request per row, through the same client (same limiter,
/// retries and concurrency bound `in_flight`).
pub(crate) async fn naive(world: World, desired: &Desired, in_flight: usize) -> Duration {
    let emu = world.spawn().await;
    let s = settings(&emu);
    let provider = HttpProvider::new(desired, s.clone()).expect("provider");
    let tables = keys(&provider, desired).await;
    let client = Client::new(s.client.clone()).expect("client");
    let auth = Auth::new(
        client.clone(),
        AuthSettings {
            tenant_id: desired.auth.tenant_id,
            client_id: desired.auth.client_id,
            dual_write_client_id: desired.dual_write_client_id(),
            client_secret_env: desired.auth.client_secret_env.clone(),
            device_code: s.device_code.clone(),
        },
    );
    let ep = provider.endpoints();
    let mut requests = Vec::new();
    for t in &tables {
        for k in &t.keys {
            let (api, url) = match t.service {
                Service::FinanceOperations => (
                    Api::FinanceOperations,
                    fo::entity_url(&ep.fo_data, &t.entity_set, k).expect("url"),
                ),
                Service::Dataverse => (
                    Api::Dataverse,
                    url_with_query(&ep.dataverse_api, &entity_path(&t.entity_set, k), &[])
                        .expect("url"),
                ),
            };
            requests.push(
                ApiRequest::new(api, Method::DELETE, url)
                    .odata()
                    .header("If-Match", "*"),
            );
        }
    }
    let scope = |api: Api| match api {
        Api::FinanceOperations => format!("https://{}/.default", ep.fo.host_str().unwrap_or("")),
        _ => format!("https://{}/.default", ep.dataverse.host_str().unwrap_or("")),
    };
    let fo_token = auth
        .token(&scope(Api::FinanceOperations), Grant::ClientCredentials)
        .await
        .expect("token");
    let dv_token = auth
        .token(&scope(Api::Dataverse), Grant::ClientCredentials)
        .await
        .expect("token");
    fresh_window().await;
    let start = Instant::now();
    let mut sent = futures::stream::iter(requests.iter().map(|r| {
        let token = if r.api == Api::Dataverse {
            &dv_token
        } else {
            &fo_token
        };
        client.execute(r, Some(token))
    }))
    .buffer_unordered(in_flight);
    while let Some(r) = sent.next().await {
        r.expect("delete");
    }
    let wall = start.elapsed();
    emu.shutdown().await;
    wall
}
