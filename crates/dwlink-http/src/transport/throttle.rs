//! Client-side adaptation to the services' request budgets (service protection: 52 concurrent
//! requests, a request budget per window, `429` + `Retry-After` past it).
//!
//! One [`Limiter`] per [`crate::transport::client::Client`] decides when a request may leave:
//! - at most `limit` requests in flight, where `limit` moves AIMD-style between 1 and the
//!   configured maximum: `+1/limit` per success (one more slot per round of successes), halved on
//!   a 429;
//! - after a 429 nothing leaves until its `Retry-After` (or our backoff) has passed, so one
//!   refused request does not turn into a storm of them: the whole client waits, not just the
//!   refused request.
//!
//! The decision logic is [`Budget`], plain data over explicit instants so it is tested without
//! clocks; [`Limiter`] adds the waiting.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Multiplicative decrease on a 429.
const DECREASE: f64 = 0.5;

#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    limit: f64,
    max: f64,
    in_flight: usize,
    paused_until: Option<Instant>,
    /// When the limit was last cut. 429s for requests sent before it belong to the same
    /// congestion event (they were already in flight) and must not cut it again.
    last_decrease: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Send now; the caller holds one in-flight slot until [`Budget::release`].
    Go,
    /// The service asked us to wait: try again at this instant.
    PausedUntil(Instant),
    /// Every slot is taken: try again when one is released.
    Full,
}

impl Budget {
    /// Starts at the maximum: a service that has not refused anything gets our full concurrency.
    pub fn new(max_in_flight: usize) -> Self {
        let max = max_in_flight.max(1) as f64;
        Budget {
            limit: max,
            max,
            in_flight: 0,
            paused_until: None,
            last_decrease: None,
        }
    }

    /// Requests allowed in flight now.
    pub fn limit(&self) -> usize {
        self.limit.floor().max(1.0) as usize
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn admit(&mut self, now: Instant) -> Admit {
        if let Some(until) = self.paused_until {
            if now < until {
                return Admit::PausedUntil(until);
            }
            self.paused_until = None;
        }
        if self.in_flight >= self.limit() {
            return Admit::Full;
        }
        self.in_flight += 1;
        Admit::Go
    }

    pub fn release(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// A request got an answer that was not a 429: the budget had room.
    pub fn on_success(&mut self) {
        self.limit = (self.limit + 1.0 / self.limit).min(self.max);
    }

    /// A request sent at `sent_at` was refused with 429 at `now`; `pause` is its Retry-After (or
    /// our backoff when the service gave none).
    pub fn on_throttled(&mut self, now: Instant, sent_at: Instant, pause: Duration) {
        let until = now + pause;
        self.paused_until = Some(self.paused_until.map_or(until, |u| u.max(until)));
        let same_event = self.last_decrease.is_some_and(|d| sent_at < d);
        if !same_event {
            self.limit = (self.limit * DECREASE).max(1.0);
            self.last_decrease = Some(now);
        }
    }
}

/// [`Budget`] shared by every request of a client, with waiting.
#[derive(Debug)]
pub struct Limiter {
    budget: Mutex<Budget>,
    released: Notify,
}

/// One in-flight slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Ticket {
    limiter: Arc<Limiter>,
    pub sent_at: Instant,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.limiter.lock().release();
        self.limiter.released.notify_waiters();
    }
}

impl Limiter {
    pub fn new(max_in_flight: usize) -> Arc<Self> {
        Arc::new(Limiter {
            budget: Mutex::new(Budget::new(max_in_flight)),
            released: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the budget lets one more request leave.
    pub async fn acquire(self: &Arc<Self>) -> Ticket {
        loop {
            // Registered before looking, so a release between the look and the wait is not lost.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let now = Instant::now();
            let decision = self.lock().admit(now);
            match decision {
                Admit::Go => {
                    return Ticket {
                        limiter: self.clone(),
                        sent_at: now,
                    }
                }
                Admit::PausedUntil(until) => {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await
                }
                Admit::Full => released.await,
            }
        }
    }

    pub fn succeeded(&self) {
        self.lock().on_success();
    }

    pub fn throttled(&self, sent_at: Instant, pause: Duration) {
        self.lock().on_throttled(Instant::now(), sent_at, pause);
    }

    pub fn snapshot(&self) -> Budget {
        self.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn admits_up_to_the_limit_then_waits_for_a_slot() {
        let t = Instant::now();
        let mut b = Budget::new(3);
        assert_eq!(
            [b.admit(t), b.admit(t), b.admit(t), b.admit(t)],
            [Admit::Go, Admit::Go, Admit::Go, Admit::Full]
        );
        b.release();
        assert_eq!(b.admit(t), Admit::Go);
        assert_eq!(b.in_flight(), 3);
    }

    #[test]
    fn a_429_pauses_everyone_and_halves_the_limit_once_per_event() {
        let t = Instant::now();
        let mut b = Budget::new(16);
        for _ in 0..8 {
            assert_eq!(b.admit(t), Admit::Go);
        }
        // Eight requests were in flight; all come back 429 for the same exhausted window.
        b.on_throttled(at(t, 30), t, Duration::from_secs(1));
        for i in 0..7 {
            b.release();
            b.on_throttled(at(t, 31 + i), t, Duration::from_secs(1));
        }
        b.release();
        assert_eq!(b.limit(), 8, "one congestion event, one cut");
        assert_eq!(b.admit(at(t, 500)), Admit::PausedUntil(at(t, 1037)));
        assert_eq!(b.admit(at(t, 1037)), Admit::Go);
        // A request sent after the cut and refused again is a new event.
        b.on_throttled(at(t, 1100), at(t, 1037), Duration::from_secs(1));
        assert_eq!(b.limit(), 4);
    }

    #[test]
    fn recovers_gradually_to_the_maximum_and_never_below_one() {
        let t = Instant::now();
        let mut b = Budget::new(8);
        for i in 0..10 {
            b.on_throttled(at(t, 10 * i + 5), at(t, 10 * i + 1), Duration::ZERO);
        }
        assert_eq!(b.limit(), 1);
        // Additive increase: about one slot per round of `limit` successes.
        let mut successes = 0;
        while b.limit() < 8 {
            b.on_success();
            successes += 1;
        }
        assert!(
            (20..=40).contains(&successes),
            "1→8 took {successes} successes"
        );
        for _ in 0..100 {
            b.on_success();
        }
        assert_eq!(b.limit(), 8);
    }

    #[test]
    fn a_shorter_retry_after_does_not_shorten_a_pause() {
        let t = Instant::now();
        let mut b = Budget::new(4);
        b.on_throttled(t, t, Duration::from_secs(2));
        b.on_throttled(at(t, 10), t, Duration::from_millis(100));
        assert_eq!(b.admit(at(t, 1000)), Admit::PausedUntil(at(t, 2000)));
    }

    #[tokio::test]
    async fn a_released_ticket_wakes_a_waiter() {
        let l = Limiter::new(1);
        let first = l.acquire().await;
        let waiter = {
            let l = l.clone();
            tokio::spawn(async move { l.acquire().await.sent_at })
        };
        tokio::task::yield_now().await;
        assert_eq!(l.snapshot().in_flight(), 1);
        drop(first);
        waiter.await.unwrap();
        assert_eq!(l.snapshot().in_flight(), 0);
    }
}
