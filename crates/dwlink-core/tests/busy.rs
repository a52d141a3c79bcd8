//! One apply per environment at a time (spec §4): the environment lock of this machine, and the
//! refusal to start destructive steps while the management service shows requests of the
//! connection set in flight (an apply from another machine).

mod support;

use std::sync::atomic::AtomicBool;

use dwlink_core::apply::executor::ApplyError;
use dwlink_core::apply::guard::Refusal;
use dwlink_core::apply::lock::{acquire_in, Holder, LockError};
use dwlink_testkit::{CallKind, World};
use support::*;
use url::Url;

fn fo(s: &str) -> Url {
    Url::parse(s).unwrap()
}

const UAT: &str = "https://contoso-uat.sandbox.operations.dynamics.com";

fn busy(r: Result<impl std::fmt::Debug, LockError>) -> (Option<Holder>, String) {
    match r {
        Err(LockError::Busy(Refusal::Busy { holder, lock, .. })) => (holder.map(|h| *h), lock),
        other => panic!("expected busy, got {other:?}"),
    }
}

#[test]
fn a_second_lock_of_the_same_environment_is_refused_naming_the_holder() {
    let dir = StateDir::new();
    let held = acquire_in(dir.path(), &fo(UAT), "contoso-uat", "apply").expect("the first wins");
    assert_eq!(held.holder().pid, std::process::id());

    // Another spelling of the same host is the same environment; `flock` locks are per open
    // file, so this process's second attempt is refused like another process's would be.
    let again = acquire_in(
        dir.path(),
        &fo("https://CONTOSO-UAT.sandbox.operations.dynamics.com.:443/"),
        "contoso-uat",
        "restore",
    );
    let (holder, lock) = busy(again);
    let holder = holder.expect("the holder's note is read");
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.command, "dwlink apply");
    assert!(!holder.host.is_empty() && !holder.started_at.is_empty());
    assert_eq!(lock, held.path().display().to_string());
    let problem = LockError::Busy(Refusal::Busy {
        environment: "contoso-uat".into(),
        holder: Some(Box::new(holder.clone())),
        lock,
    })
    .to_problem();
    assert_eq!(problem.code, "dwlink::apply::busy");
    for part in [
        format!("pid {}", holder.pid),
        format!("on host {}", holder.host),
        format!("since {}", holder.started_at),
    ] {
        assert!(problem.message.contains(&part), "{}", problem.message);
    }
    assert!(problem.help.is_some());

    // Other environments are not held up.
    acquire_in(
        dir.path(),
        &fo("https://contoso-dev.sandbox.operations.dynamics.com"),
        "contoso-dev",
        "apply",
    )
    .expect("another host has its own lock");

    // Released when dropped (as on exit, whatever the exit).
    drop(held);
    acquire_in(dir.path(), &fo(UAT), "contoso-uat", "apply").expect("free again");
}

#[test]
fn a_lock_left_by_a_dead_process_is_taken_over() {
    let dir = StateDir::new();
    // What a `kill -9` leaves: the lock file and the note of a process that is gone. The OS
    // released its lock with the process.
    let stem = "contoso-uat.sandbox.operations.dynamics.com";
    std::fs::write(dir.path().join(format!("{stem}.lock")), b"").unwrap();
    let dead = Holder {
        pid: u32::MAX - 1,
        host: "elsewhere".into(),
        started_at: "2020-01-01T00:00:00Z".into(),
        command: "dwlink apply".into(),
        environment: "contoso-uat".into(),
        working_dir: "/gone".into(),
    };
    std::fs::write(
        dir.path().join(format!("{stem}.holder")),
        serde_json::to_vec(&dead).unwrap(),
    )
    .unwrap();

    let held = acquire_in(dir.path(), &fo(UAT), "contoso-uat", "apply").expect("taken over");
    assert_eq!(held.holder().pid, std::process::id());
    // The note now names the new holder, so a refusal names it too.
    let (holder, _) = busy(acquire_in(dir.path(), &fo(UAT), "contoso-uat", "apply"));
    assert_eq!(holder.map(|h| h.pid), Some(std::process::id()));
}

#[test]
fn racing_threads_take_the_lock_exactly_once() {
    let dir = StateDir::new();
    let path = dir.path().to_path_buf();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (path, barrier) = (path.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let r = acquire_in(&path, &fo(UAT), "contoso-uat", "apply");
                // Hold a winner's lock until every thread has tried.
                barrier.wait();
                r.is_ok()
            })
        })
        .collect();
    let won = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|&w| w)
        .count();
    assert_eq!(won, 1);
}

#[tokio::test]
async fn a_request_in_flight_elsewhere_refuses_the_apply_before_anything_changes() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    let other = fake.start_request_elsewhere("stop map Customers V3 (accounts)");

    let (steps, plan) = plan(&fake, &world.desired).await;
    let calls = fake.calls().len();
    let result = execute(&steps, &plan, &dir, &AtomicBool::new(false), &|_| {}).await;

    let Err(ApplyError::Refused(refusal)) = result else {
        panic!("expected a refusal, got {result:?}");
    };
    assert_eq!(refusal.code(), "dwlink::apply::busy");
    let text = refusal.to_string();
    assert!(
        text.contains(&other.id) && text.contains("stop map Customers V3 (accounts)"),
        "{text}"
    );
    assert!(text.contains("contoso-uat connection set"), "{text}");
    // The one call was the question; nothing changed, nothing was journaled or backed up.
    let asked: Vec<CallKind> = fake.calls()[calls..].iter().map(|c| c.kind()).collect();
    assert_eq!(asked, [CallKind::RequestsInFlight]);
    assert!(fake.effects().is_empty());
    assert!(!dir.journal_dir().exists() && dir.backups().is_empty());

    // Once the other request ended, the same plan runs.
    fake.finish_requests_elsewhere();
    execute(&steps, &plan, &dir, &AtomicBool::new(false), &|_| {})
        .await
        .expect("applies once nothing is in flight");
}

#[tokio::test]
async fn a_plan_without_destructive_steps_does_not_ask() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    // Every planned step follows a reset, so a plan without destructive steps is what finishing
    // an apply leaves once its reset is done: here the solutions and maps are still owed.
    fake.fail_next(
        CallKind::ApplySolution,
        dwlink_testkit::errors::unreachable(),
    );
    assert!(apply(&fake, &world.desired, &dir).await.1.is_err());
    fake.start_request_elsewhere("start map Vendors V2 (msdyn_vendors)");
    let (plan, result) = resume(&fake, &world.desired, &dir).await.expect("resumes");
    assert!(!plan.actions.is_empty());
    assert!(plan.actions.iter().all(|a| !a.destructive));
    result.expect("a non-destructive plan is not held up");
}
