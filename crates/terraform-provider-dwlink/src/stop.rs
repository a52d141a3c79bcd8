//! Terraform's StopProvider, seen by the engine.
//!
//! When Terraform alone is interrupted (a CI runner cancels the job), the provider receives no
//! signal, only the StopProvider call. The protocol library answers that call itself and gives
//! the provider no hook; it only closes its server once the call in flight ends, which would let
//! an apply run all its remaining steps. The library does trace every gRPC request it receives
//! (tower-http's `TraceLayer`: a span named `request` with the request's `uri`), so a tracing
//! subscriber that watches those spans sees StopProvider arrive while the apply is in flight and
//! sets the same flag a Ctrl-C sets: the apply finishes the step it is in and stops with its
//! journal.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// The protocol method whose arrival stops an apply after its current step.
const STOP_METHOD: &str = "/tfplugin6.Provider/StopProvider";

/// Watches the protocol library's request spans and nothing else.
struct StopWatch {
    next_id: AtomicU64,
}

/// Installs the watcher as the process's tracing subscriber. Not when `PLUGIN_LOG_FILE` is set:
/// the protocol library then installs its own log subscriber, which must be the only one (and
/// StopProvider falls back to the library's behaviour: the apply in flight runs to its end).
pub fn watch() {
    if std::env::var_os("PLUGIN_LOG_FILE").is_some() {
        return;
    }
    let watcher = StopWatch {
        next_id: AtomicU64::new(1),
    };
    // Fails only if a subscriber is already set, which nothing in this binary does.
    let _ = tracing::subscriber::set_global_default(watcher);
}

fn is_request_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.name() == "request" && meta.target().starts_with("tower_http::trace")
}

/// True for the uri of a StopProvider request, whatever scheme and authority precede the path.
fn names_stop(uri: &str) -> bool {
    uri.ends_with(STOP_METHOD)
}

struct UriVisitor {
    stop: bool,
}

impl Visit for UriVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "uri" {
            // `uri = %…` arrives here as a Display wrapper whose Debug prints the uri.
            self.stop |= names_stop(&format!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "uri" {
            self.stop |= names_stop(value);
        }
    }
}

impl Subscriber for StopWatch {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if is_request_span(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        is_request_span(meta)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut visitor = UriVisitor { stop: false };
        span.record(&mut visitor);
        if visitor.stop {
            crate::engine::STOP.store(true, Ordering::SeqCst);
        }
        // Ids only need to be non-zero; nothing is kept per span.
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed).max(1))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, _event: &Event<'_>) {}

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_provider_uri_is_recognised_with_or_without_its_authority() {
        assert!(names_stop("/tfplugin6.Provider/StopProvider"));
        assert!(names_stop(
            "http://127.0.0.1:41234/tfplugin6.Provider/StopProvider"
        ));
        assert!(!names_stop("/tfplugin6.Provider/ApplyResourceChange"));
        assert!(!names_stop("/tfplugin6.Provider/StopProviderX"));
    }

    #[test]
    fn a_request_span_carrying_stop_provider_sets_the_stop_flag() {
        let watcher = StopWatch {
            next_id: AtomicU64::new(1),
        };
        tracing::subscriber::with_default(watcher, || {
            // The shape tower-http's DefaultMakeSpan gives, under its target.
            let other = "/tfplugin6.Provider/PlanResourceChange";
            let _a = tracing::span!(target: "tower_http::trace::make_span", tracing::Level::DEBUG, "request", uri = %other);
            assert!(!crate::engine::STOP.load(Ordering::SeqCst));
            let _b = tracing::span!(target: "tower_http::trace::make_span", tracing::Level::DEBUG, "request", uri = %STOP_METHOD);
            assert!(crate::engine::STOP.load(Ordering::SeqCst));
        });
        crate::engine::STOP.store(false, Ordering::SeqCst);
    }
}
