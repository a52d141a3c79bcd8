//! When to try a request again, and how long to wait first.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// All attempts and waits of one request together; past it the last error stands.
    pub max_total: Duration,
    /// The longest `Retry-After` dwlink waits out. A service asking for more is not waited for:
    /// the request fails at once with the wait asked for and this cap in its message.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
            max_total: Duration::from_secs(180),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// What went wrong with one attempt, as far as retrying cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connection was never made: nothing reached the service.
    Connect,
    /// Reset, timeout or cut body: the service may have acted.
    Interrupted,
    Status(u16),
}

impl RetryPolicy {
    pub fn should_retry(&self, failure: Failure, idempotent: bool) -> bool {
        match failure {
            Failure::Connect => true,
            // 429 means the request was refused before it ran, whatever its method.
            Failure::Status(429) => true,
            Failure::Status(s) => idempotent && (500..600).contains(&s) && s != 501,
            Failure::Interrupted => idempotent,
        }
    }

    /// Full-jitter exponential backoff (`jitter` in 0..1), or the server's `Retry-After` when it
    /// gave one: it knows its budget better than we do.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        if let Some(ra) = retry_after {
            return ra;
        }
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(20)));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(jitter.clamp(0.0, 1.0))
            .max(Duration::from_millis(10))
    }
}

/// `Retry-After` as seconds or an HTTP date; a date in the past means "now". Not capped here:
/// the caller compares it with [`RetryPolicy::max_retry_after`] and names the value asked for.
pub(crate) fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    // Beyond any cap, and far from where Duration arithmetic overflows.
    const HUGE: u64 = 10 * 365 * 24 * 3600;
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(HUGE)));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(HUGE as f64)));
        }
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(HUGE)),
    )
}

/// A wait in whole seconds (at least 1 when not zero), as messages show it.
pub(crate) fn secs(d: Duration) -> String {
    let s = d.as_secs_f64().ceil() as u64;
    format!("{s} s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, None, 1.0), Duration::from_millis(250));
        assert_eq!(p.delay(2, None, 1.0), Duration::from_secs(1));
        assert_eq!(p.delay(30, None, 1.0), Duration::from_secs(20));
        assert_eq!(p.delay(2, None, 0.5), Duration::from_millis(500));
        assert_eq!(p.delay(2, None, 0.0), Duration::from_millis(10));
        assert_eq!(
            p.delay(9, Some(Duration::from_secs(3)), 0.1),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn what_is_retried() {
        let p = RetryPolicy::default();
        assert!(p.should_retry(Failure::Status(429), false));
        assert!(p.should_retry(Failure::Connect, false));
        assert!(p.should_retry(Failure::Status(503), true));
        assert!(!p.should_retry(Failure::Status(503), false));
        assert!(!p.should_retry(Failure::Status(404), true));
        assert!(!p.should_retry(Failure::Interrupted, false));
        assert!(p.should_retry(Failure::Interrupted, true));
    }

    #[test]
    fn retry_after_forms() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("soon", now), None);
        // Kept as asked, so a refusal can say what the service wanted.
        assert_eq!(
            parse_retry_after("3600", now),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(secs(Duration::from_millis(1500)), "2 s");
    }
}
