//! A test hook, compiled only into debug builds (those the tests run; a release build, which
//! `cargo install` makes, never has it) and then off unless `DWLINK_TEST_CRASH_AT` is set: abort the process at a named point of
//! an apply, so the resume tests can "kill -9" it at exact places instead of racing a timer.
//!
//! Format: `POINT` or `POINT#N` (abort at the Nth time the point is reached; default 1). Points:
//! - `start:KIND`  after a step's `start` was journaled, before the service is asked anything;
//! - `effect:KIND` after the service call succeeded, before `done` was journaled (the step took
//!   effect, the journal does not know it);
//! - `done:KIND`   after `done` was journaled;
//! - `backup-row`  after a row was handed to the backup file (which is not yet complete);
//! - `delete-chunk` after a chunk of deletes was confirmed by the service.
//!
//! `KIND` is an action kind as plans print it (`stop-maps`, `clear-table`, `reset-link`, …).
//! `panic:POINT` panics there instead, with `DWLINK_TEST_PANIC_PAYLOAD` in the message: how the
//! CLI tests prove that a panic's text passes the scrubber ([`crate::panic_report`]).
//! `std::process::abort` skips destructors and buffered writes, like a crash or `kill -9`.

#[cfg(debug_assertions)]
mod hook {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;

    pub(super) const ENV: &str = "DWLINK_TEST_CRASH_AT";

    struct Target {
        point: String,
        panic: bool,
        nth: usize,
        seen: AtomicUsize,
    }

    fn target() -> Option<&'static Target> {
        static TARGET: OnceLock<Option<Target>> = OnceLock::new();
        TARGET
            .get_or_init(|| {
                let spec = std::env::var(ENV).ok()?;
                let (point, nth) = match spec.rsplit_once('#') {
                    Some((p, n)) => (p.to_string(), n.parse().ok()?),
                    None => (spec, 1),
                };
                let (point, panic) = match point.strip_prefix("panic:") {
                    Some(p) => (p.to_string(), true),
                    None => (point, false),
                };
                Some(Target {
                    point,
                    panic,
                    nth,
                    seen: AtomicUsize::new(0),
                })
            })
            .as_ref()
    }

    /// Abort here if the hook names this point and this is the awaited occurrence.
    pub fn point(name: &str) {
        let Some(t) = target() else { return };
        if t.point == name && t.seen.fetch_add(1, Ordering::SeqCst) + 1 == t.nth {
            if t.panic {
                let payload = std::env::var("DWLINK_TEST_PANIC_PAYLOAD").unwrap_or_default();
                panic!("test panic at {name}: {payload}");
            }
            std::process::abort();
        }
    }

    /// `point` for a step event: `"{event}:{kind}"`.
    pub fn step(event: &str, kind: crate::plan::ActionKind) {
        if target().is_some() {
            point(&format!("{event}:{}", kind.name()));
        }
    }
}

#[cfg(debug_assertions)]
pub use hook::{point, step};

/// In a release build the hook does not exist: nothing reads the environment, nothing aborts.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn point(_name: &str) {}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn step(_event: &str, _kind: crate::plan::ActionKind) {}
