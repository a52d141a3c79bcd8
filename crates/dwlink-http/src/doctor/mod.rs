//! `dwlink doctor`: one read-only check per assumption dwlink makes about the services, each
//! classified (`ok`, `differs`, `unreachable`, `not-permitted`, `unknown`) with what was
//! expected, what was seen and, when access is missing, what to grant. Probing and
//! classification live here, one file per service; the CLI only renders the [`Report`].
//!
//! Every check has its own time limit and a failure of one never stops another; checks that
//! need an earlier one's answer (a token, the connection set) are `unknown` when it failed.
//! Only GETs are sent, plus the token requests.

mod admin;
mod classify;
mod dataverse;
mod dws;
mod dws_maps;
mod fo;
mod signin;

use std::future::Future;
use std::time::{Duration, Instant};

use super::{Endpoints, HttpProvider, ProviderSettings};
use dwlink_core::model::desired::Desired;

pub use classify::Service;

/// How a check ended, in the order the summary counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    /// The service answered, but not what dwlink expects (status, shape, names).
    Differs,
    /// No answer: connection refused, DNS, timeout, throttled past the limit.
    Unreachable,
    /// The sign-in or the request was refused: a role or permission is missing.
    NotPermitted,
    /// Not checked, because a check it depends on failed.
    Unknown,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Ok,
        Status::Differs,
        Status::Unreachable,
        Status::NotPermitted,
        Status::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Differs => "differs",
            Status::Unreachable => "unreachable",
            Status::NotPermitted => "not-permitted",
            Status::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    /// Stable: scripts and the README's table key on it.
    pub id: &'static str,
    pub title: String,
    pub status: Status,
    pub expected: String,
    pub seen: String,
    /// For `not-permitted` (and some `differs`): what to grant or change.
    pub fix: Option<String>,
    pub duration: Duration,
}

/// A route dwlink calls that doctor does not, because no read-only request reaches it.
#[derive(Debug, Clone)]
pub struct NotChecked {
    pub route: &'static str,
    pub why: &'static str,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub checks: Vec<Check>,
    pub not_checked: Vec<NotChecked>,
}

impl Report {
    /// Checks per status, in [`Status::ALL`] order.
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// Exit 0 only then: an `unknown` check (a never-linked environment's connection-set
    /// routes included) was not confirmed, so it counts against.
    pub fn all_ok(&self) -> bool {
        self.checks.iter().all(|c| c.status == Status::Ok)
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Each check's limit, sign-in included (a device-code sign-in a user must complete gets
    /// [`DEVICE_CODE_LIMIT`] instead).
    pub timeout: Duration,
    /// How the user signs in to the management service, for the fix line:
    /// `dwlink login -f FILE`.
    pub login_command: String,
}

/// Time for a person to open the sign-in page and type the code.
pub const DEVICE_CODE_LIMIT: Duration = Duration::from_secs(300);

/// Short retries for a preflight: at most two attempts, no long `Retry-After` waits, nothing
/// longer than one check's limit. A slow or broken service is the finding, not something to
/// sit out.
pub fn tune(settings: &mut ProviderSettings, timeout: Duration) {
    let c = &mut settings.client;
    c.request_timeout = timeout;
    c.connect_timeout = c.connect_timeout.min(timeout);
    c.retry.max_attempts = 2;
    c.retry.max_total = timeout;
    c.retry.max_delay = c.retry.max_delay.min(Duration::from_secs(1));
    c.retry.max_retry_after = Duration::from_secs(5).min(timeout);
}

/// Routes with no read-only request, listed so the report says what it did not vouch for.
const NOT_CHECKED: [NotChecked; 9] = [
    NotChecked {
        route: "POST {api}Start",
        why: "starts or stops maps: no read-only form",
    },
    NotChecked {
        route: "POST {api}SolutionAware/{cid}/SwitchActive/{templateId}",
        why: "switches a map's version: no read-only form",
    },
    NotChecked {
        route: "POST {gateway}api/dataset/{dataset}/IntegrationKeys",
        why: "sets integration keys: no read-only form",
    },
    NotChecked {
        route: "POST {gateway}api/Project/{name}/Refresh",
        why: "refreshes a map's tables: no read-only form",
    },
    NotChecked {
        route: "POST {gateway}api/ConnectionSet/{cid}/Reset",
        why: "resets the link: no read-only form",
    },
    // docs/http-contract.md, "The reset": the body's meaning is dwlink's inference.
    NotChecked {
        route: "the Reset body's target (powerAppsEnvironmentName, its CRM entry)",
        why: "that naming the Power Platform link's environment relinks there, and naming the current one keeps it, is inferred (Microsoft's own code always names the current one); apply reads the connection set back after a reset",
    },
    NotChecked {
        route: "POST {api}SolutionAware/{cid}/RestoreTemplates",
        why: "applies a solution: no read-only form",
    },
    NotChecked {
        route: "GET {api}Status/{id}",
        why: "needs the id of a map request in flight",
    },
    NotChecked {
        route: "GET {api}SolutionAware/{cid}/Status/{id}",
        why: "needs the id of a solution request in flight",
    },
];

/// What a probe found when it passed: the line for "seen" and what later checks need.
pub(crate) struct Found<T> {
    pub seen: String,
    pub value: T,
}

impl Found<()> {
    pub(crate) fn seen(seen: impl Into<String>) -> Self {
        Found {
            seen: seen.into(),
            value: (),
        }
    }
}

/// Why a probe did not pass.
#[derive(Debug, Clone)]
pub(crate) struct Failed {
    pub status: Status,
    pub seen: String,
    pub fix: Option<String>,
}

impl Failed {
    pub(crate) fn differs(seen: impl Into<String>) -> Self {
        Failed {
            status: Status::Differs,
            seen: seen.into(),
            fix: None,
        }
    }

    pub(crate) fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// A check before it runs: its id, title and what dwlink expects.
pub(crate) struct Spec {
    pub id: &'static str,
    pub title: String,
    pub expected: String,
}

impl Spec {
    pub(crate) fn new(
        id: &'static str,
        title: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Spec {
            id,
            title: title.into(),
            expected: expected.into(),
        }
    }

    /// The check this spec ends in.
    pub(crate) fn ended(
        self,
        status: Status,
        seen: String,
        fix: Option<String>,
        duration: Duration,
    ) -> Check {
        Check {
            id: self.id,
            title: self.title,
            status,
            expected: self.expected,
            seen,
            fix,
            duration,
        }
    }

    /// Not run, because `why` (a failed dependency: `needs signin.dataverse`).
    pub(crate) fn skipped(self, why: &str) -> Check {
        self.ended(
            Status::Unknown,
            format!("skipped: {why}"),
            None,
            Duration::ZERO,
        )
    }
}

/// A second past a check's limit before it is cut: the request's own timeout (the same limit)
/// ends it first and says which step hung; this bounds a sign-in and a request together.
const GRACE: Duration = Duration::from_secs(1);

/// Runs one probe within `limit` (plus [`GRACE`]); past it the check is `unreachable`.
pub(crate) async fn run<T>(
    spec: Spec,
    limit: Duration,
    probe: impl Future<Output = Result<Found<T>, Failed>>,
) -> (Check, Option<T>) {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(limit + GRACE, probe).await {
        Ok(o) => o,
        Err(_) => Err(Failed {
            status: Status::Unreachable,
            seen: format!(
                "no complete answer within {} s",
                (limit + GRACE).as_secs_f64().ceil()
            ),
            fix: Some(classify::SLOW.into()),
        }),
    };
    let duration = started.elapsed();
    let (status, seen, fix, value) = match outcome {
        Ok(f) => (Status::Ok, f.seen, None, Some(f.value)),
        Err(f) => (f.status, f.seen, f.fix, None),
    };
    (spec.ended(status, seen, fix, duration), value)
}

/// What every probe needs.
pub(crate) struct Ctx<'a> {
    pub provider: &'a HttpProvider,
    pub desired: &'a Desired,
    pub endpoints: &'a Endpoints,
    pub options: &'a Options,
}

impl HttpProvider {
    /// Every check, concurrently where independent. Never fails: every failure is a check's
    /// status.
    pub async fn doctor(&self, desired: &Desired, options: &Options) -> Report {
        let ctx = Ctx {
            provider: self,
            desired,
            endpoints: &self.endpoints,
            options,
        };
        let (fo, dv, ad, ds) = tokio::join!(
            fo::checks(&ctx),
            dataverse::checks(&ctx),
            admin::link(&ctx),
            dws::checks(&ctx),
        );
        let (dv_checks, integration) = dv;
        let (admin_checks, link) = ad;
        let cross = admin::cross_check(&ctx, link, integration);
        let mut checks = Vec::new();
        checks.extend(fo);
        checks.extend(dv_checks);
        checks.extend(admin_checks);
        checks.push(cross);
        checks.extend(ds);
        // Sign-ins first, as a person reads them: the rest depends on them.
        checks.sort_by_key(|c| !c.id.starts_with("signin."));
        Report {
            checks,
            not_checked: NOT_CHECKED.to_vec(),
        }
    }
}
