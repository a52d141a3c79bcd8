//! Injected trouble: latency, 5xx, dropped connections and a per-client request budget; and
//! the limits of service protection ([`super::protection`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::odata::error::Reply;
use super::protection::Protection;
use dwlink_core::fixture::{FaultsFixture, ServiceProtectionFixture};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultOptions {
    pub latency_ms: u64,
    /// Requests per second per client; `None`: unlimited.
    pub rate_limit: Option<u32>,
    pub fail_rate: f64,
    pub drop_rate: f64,
    pub seed: Option<u64>,
    pub protection: Protection,
    /// Set by `--execution-cost-ms`: wins over the fixture's `cost_ms`.
    pub cost_ms: Option<u64>,
}

impl FaultOptions {
    /// Flags win over the fixture's `faults:`.
    pub fn merged_over(&self, fixture: Option<&FaultsFixture>) -> FaultOptions {
        let f = fixture.cloned().unwrap_or_default();
        FaultOptions {
            latency_ms: if self.latency_ms > 0 {
                self.latency_ms
            } else {
                f.latency_ms.unwrap_or(0)
            },
            rate_limit: self.rate_limit.or(f.rate_limit),
            fail_rate: if self.fail_rate > 0.0 {
                self.fail_rate
            } else {
                f.fail_rate.unwrap_or(0.0)
            },
            drop_rate: if self.drop_rate > 0.0 {
                self.drop_rate
            } else {
                f.drop_rate.unwrap_or(0.0)
            },
            seed: self.seed.or(f.seed),
            protection: protection(self.protection, self.cost_ms, f.service_protection.as_ref()),
            cost_ms: self.cost_ms,
        }
    }
}

/// The fixture's members over the limits given (the documented ones unless a caller chose
/// others), and `--execution-cost-ms` over both.
fn protection(
    base: Protection,
    cost_ms: Option<u64>,
    f: Option<&ServiceProtectionFixture>,
) -> Protection {
    let f = f.cloned().unwrap_or_default();
    Protection {
        window: f.window_secs.map_or(base.window, Duration::from_secs),
        requests: f.requests.unwrap_or(base.requests),
        execution: f.execution_secs.map_or(base.execution, Duration::from_secs),
        concurrent: f.concurrent.unwrap_or(base.concurrent),
        cost: cost_ms
            .or(f.cost_ms)
            .map_or(base.cost, Duration::from_millis),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    Fail,
    Drop,
}

pub(crate) struct Faults {
    pub options: FaultOptions,
    rng: Mutex<StdRng>,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Faults {
    pub(crate) fn new(options: FaultOptions) -> Self {
        let rng = match options.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        Faults {
            options,
            rng: Mutex::new(rng),
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn latency(&self) -> Option<Duration> {
        (self.options.latency_ms > 0).then(|| Duration::from_millis(self.options.latency_ms))
    }

    /// One draw per request, so a seed replays the same sequence of faults.
    pub(crate) fn draw(&self) -> Fault {
        if self.options.fail_rate <= 0.0 && self.options.drop_rate <= 0.0 {
            return Fault::None;
        }
        let x: f64 = self.rng.lock().unwrap_or_else(|e| e.into_inner()).random();
        if x < self.options.drop_rate {
            Fault::Drop
        } else if x < self.options.drop_rate + self.options.fail_rate {
            Fault::Fail
        } else {
            Fault::None
        }
    }

    pub(crate) fn failure() -> Reply {
        Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "injected failure (--fail-rate)",
        )
    }

    /// Count a request against `client`'s budget for the current one-second window.
    pub(crate) fn admit(&self, client: &str) -> Result<(), Reply> {
        let Some(limit) = self.options.rate_limit else {
            return Ok(());
        };
        let now = Instant::now();
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let entry = w.entry(client.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(1) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > limit {
            return Err(Reply::error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                format!("more than {limit} requests per second for this client; retry after the delay in Retry-After"),
            )
            .header("Retry-After", "1"));
        }
        Ok(())
    }
}
