//! Service protection as Dataverse documents it (powerapps-docs
//! `developer/data-platform/api-limits.md`; F&O's OData is described with the same figures, see
//! docs/http-contract.md): per user and per service, over a sliding window of 300 s, at most
//! 6,000 requests, 1,200 s of combined execution time and 52 requests at once; beyond any of
//! them `429 Too Many Requests` with `Retry-After`. The error codes Dataverse puts in the body
//! are not modelled (the emulator says which limit in the message).
//!
//! Execution time is the emulator's knob `cost_ms` per operation (a `$batch` counts each of
//! its requests): the request takes that long, and it counts against the window.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::odata::error::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protection {
    pub window: Duration,
    pub requests: u32,
    pub execution: Duration,
    pub concurrent: u32,
    /// Execution time of one operation.
    pub cost: Duration,
}

impl Default for Protection {
    /// The documented limits; no execution cost.
    fn default() -> Self {
        Protection {
            window: Duration::from_secs(300),
            requests: 6000,
            execution: Duration::from_secs(1200),
            concurrent: 52,
            cost: Duration::ZERO,
        }
    }
}

#[derive(Default)]
struct Usage {
    /// Admitted requests and their execution time, oldest first.
    recent: VecDeque<(Instant, Duration)>,
    spent: Duration,
    in_flight: u32,
}

impl Usage {
    fn prune(&mut self, now: Instant, window: Duration) {
        while let Some(&(at, cost)) = self.recent.front() {
            if now.duration_since(at) < window {
                break;
            }
            self.recent.pop_front();
            self.spent = self.spent.saturating_sub(cost);
        }
    }

    /// When enough of the window has passed for one more request.
    fn wait(&self, now: Instant, window: Duration) -> Duration {
        self.recent
            .front()
            .map_or(Duration::from_secs(1), |&(at, _)| {
                window.saturating_sub(now.duration_since(at))
            })
    }
}

pub(crate) struct Limiter {
    pub limits: Protection,
    usage: Mutex<HashMap<String, Usage>>,
}

/// Held while a request runs: it counts as in flight until dropped.
pub(crate) struct Admitted {
    limiter: Arc<Limiter>,
    key: String,
    /// The execution time to spend before answering.
    pub cost: Duration,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut u = self.limiter.usage.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(x) = u.get_mut(&self.key) {
            x.in_flight = x.in_flight.saturating_sub(1);
        }
    }
}

fn too_many(limit: &str, wait: Duration) -> Reply {
    // Whole seconds, rounded up: a client that waits what it is told is admitted.
    let secs = wait.as_millis().div_ceil(1000).max(1);
    Reply::error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        format!(
            "service protection: {limit} in the last 300 s for this user; retry after {secs} s"
        ),
    )
    .header("Retry-After", secs.to_string())
}

impl Limiter {
    pub(crate) fn new(limits: Protection) -> Arc<Self> {
        Arc::new(Limiter {
            limits,
            usage: Mutex::new(HashMap::new()),
        })
    }

    /// Admits one request of `operations` operations for `key` (user and service), or says
    /// which limit it is over.
    pub(crate) fn admit(self: &Arc<Self>, key: &str, operations: u32) -> Result<Admitted, Reply> {
        let l = self.limits;
        let now = Instant::now();
        let cost = l.cost * operations.max(1);
        let mut all = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let u = all.entry(key.to_string()).or_default();
        u.prune(now, l.window);
        if u.in_flight >= l.concurrent {
            return Err(too_many(
                &format!("more than {} concurrent requests", l.concurrent),
                Duration::from_secs(1),
            ));
        }
        if u.recent.len() >= l.requests as usize {
            return Err(too_many(
                &format!("more than {} requests", l.requests),
                u.wait(now, l.window),
            ));
        }
        if u.spent >= l.execution {
            return Err(too_many(
                &format!("more than {} s of execution time", l.execution.as_secs()),
                u.wait(now, l.window),
            ));
        }
        u.recent.push_back((now, cost));
        u.spent += cost;
        u.in_flight += 1;
        Ok(Admitted {
            limiter: self.clone(),
            key: key.to_string(),
            cost,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(requests: u32, execution_ms: u64, concurrent: u32, cost_ms: u64) -> Arc<Limiter> {
        Limiter::new(Protection {
            window: Duration::from_millis(200),
            requests,
            execution: Duration::from_millis(execution_ms),
            concurrent,
            cost: Duration::from_millis(cost_ms),
        })
    }

    #[test]
    fn each_limit_answers_429_with_retry_after_and_the_window_slides() {
        let l = limiter(2, 10_000, 10, 0);
        drop(l.admit("u", 1).unwrap());
        drop(l.admit("u", 1).unwrap());
        let r = l.admit("u", 1).err().unwrap();
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "Retry-After" && v == "1"));
        assert!(l.admit("other", 1).is_ok(), "per user");
        std::thread::sleep(Duration::from_millis(220));
        assert!(l.admit("u", 1).is_ok(), "the window slid");

        let l = limiter(100, 50, 10, 30);
        let a = l.admit("u", 1).unwrap();
        assert_eq!(a.cost, Duration::from_millis(30));
        drop(a);
        drop(l.admit("u", 1).unwrap());
        assert!(l.admit("u", 1).is_err(), "60 ms spent of 50");

        let l = limiter(100, 10_000, 2, 0);
        let (a, b) = (l.admit("u", 1).unwrap(), l.admit("u", 1).unwrap());
        assert!(l.admit("u", 1).is_err(), "two at once");
        drop((a, b));
        assert!(l.admit("u", 1).is_ok());
        assert_eq!(
            limiter(9, 9, 9, 5).admit("u", 4).unwrap().cost,
            Duration::from_millis(20)
        );
    }
}
