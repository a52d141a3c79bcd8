//! The backup proves itself before anything is destroyed: a short, empty, mistyped or repeated
//! backup read, or a plan without its backup step, stops the apply before the first delete and
//! before the reset.

mod support;

use dwlink_core::apply::executor::ApplyError;
use dwlink_core::config::raw::ResetWhen;
use dwlink_core::model::key_tables::{PROJECT_CONFIGURATION, RUNTIME_CONFIGURATION};
use dwlink_core::plan::{Action, ActionKind as K};
use dwlink_testkit::{CallKind, FakeLink, World, PROD};
use serde_json::Value;
use support::*;

/// Nothing was deleted, nothing reset, no map stopped after the backup began.
fn nothing_removed(fake: &FakeLink) {
    let calls = fake.calls();
    assert!(
        !calls
            .iter()
            .any(|c| matches!(c.kind(), CallKind::DeleteRows | CallKind::Reset)),
        "{calls:#?}"
    );
}

fn backup_failure(result: &Result<dwlink_core::apply::executor::Outcome, ApplyError>) -> String {
    match result {
        Err(ApplyError::Failed { problem, .. }) => {
            assert_eq!(
                problem.code, "dwlink::apply::backup_unproven",
                "{problem:?}"
            );
            problem.message.clone()
        }
        other => panic!("expected a failed backup, got {other:?}"),
    }
}

#[tokio::test]
async fn a_backup_read_of_mistyped_keys_stops_before_any_delete_or_reset() {
    let world = World::restored_from_production();
    let fake = world.link();
    // A proxy turns every ProjectName into a number: other keys than the plan counted.
    let n = std::sync::atomic::AtomicU64::new(0);
    fake.on_page(move |table, rows| {
        if table == PROJECT_CONFIGURATION {
            for r in rows.iter_mut() {
                let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                r.insert("ProjectName".into(), Value::from(i));
            }
        }
    });
    let dir = StateDir::new();
    let (_, result) = apply(&fake, &world.desired, &dir).await;
    let message = backup_failure(&result);
    assert!(
        message.contains(PROJECT_CONFIGURATION) && message.contains("of the 30 the plan counted"),
        "{message}"
    );
    nothing_removed(&fake);
    assert!(dir.backups().is_empty(), "no file that looks like a backup");
}

#[tokio::test]
async fn a_backup_read_of_half_the_rows_stops_with_the_numbers() {
    let world = World::restored_from_production();
    let fake = world.link();
    fake.set_page_size(1000);
    fake.on_page(|table, rows| {
        if table == PROJECT_CONFIGURATION {
            rows.truncate(rows.len() / 2);
        }
    });
    let dir = StateDir::new();
    let (_, result) = apply(&fake, &world.desired, &dir).await;
    let message = backup_failure(&result);
    assert!(
        message.contains("returned 15 rows, but 15 of the 30 the plan counted"),
        "{message}"
    );
    assert!(message.contains("nothing was deleted and the link was not reset"));
    nothing_removed(&fake);
}

#[tokio::test]
async fn an_empty_backup_page_when_the_plan_saw_rows_stops() {
    let world = World::restored_from_production();
    let fake = world.link();
    fake.on_page(|table, rows| {
        if table == RUNTIME_CONFIGURATION {
            rows.clear();
        }
    });
    let dir = StateDir::new();
    let (_, result) = apply(&fake, &world.desired, &dir).await;
    let message = backup_failure(&result);
    assert!(
        message.contains("returned no rows, but the plan counted 6"),
        "{message}"
    );
    nothing_removed(&fake);
}

#[tokio::test]
async fn a_backup_read_repeating_rows_stops() {
    let world = World::restored_from_production();
    let fake = world.link();
    fake.on_page(|table, rows| {
        if table == PROJECT_CONFIGURATION && !rows.is_empty() {
            let first = rows[0].clone();
            rows.push(first);
        }
    });
    let dir = StateDir::new();
    let (_, result) = apply(&fake, &world.desired, &dir).await;
    let message = backup_failure(&result);
    assert!(message.contains("repeating a key"), "{message}");
    nothing_removed(&fake);
}

#[tokio::test]
async fn a_plan_with_its_backup_step_removed_deletes_nothing_and_does_not_reset() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    let (steps, mut plan) = plan(&fake, &world.desired).await;
    plan.actions.retain(|a| a.action.kind() != K::Backup);
    let result = execute(&steps, &plan, &dir, &Default::default(), &|_| {}).await;
    let (_, problem) = failed_step(&result);
    assert_eq!(problem.code, "dwlink::apply::no_backup");
    nothing_removed(&fake);

    // Without its clears too, the reset alone would wipe the rows: refused as well.
    let fake = world.link();
    let (steps, mut plan) = self::plan(&fake, &world.desired).await;
    plan.actions
        .retain(|a| !matches!(a.action.kind(), K::Backup | K::ClearTable));
    let result = execute(&steps, &plan, &dir, &Default::default(), &|_| {}).await;
    let (step, problem) = failed_step(&result);
    assert_eq!(problem.code, "dwlink::apply::no_backup");
    assert_eq!(plan.actions[step].action.kind(), K::ResetLink);
    nothing_removed(&fake);
}

#[tokio::test]
async fn a_backup_step_narrowed_by_the_plan_still_holds_every_row_the_reset_clears() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    let (steps, mut plan) = plan(&fake, &world.desired).await;
    // An edited plan: one table's clear kept, the others dropped.
    plan.actions.retain(|a| match &a.action {
        Action::ClearTable { table, .. } => table == PROJECT_CONFIGURATION,
        _ => true,
    });
    let before = all_keys(&fake);
    let result = execute(&steps, &plan, &dir, &Default::default(), &|_| {}).await;
    result.expect("the apply runs");
    let backup = &dir.backups()[0];
    assert_eq!(backup_keys(&fake, backup), before);
}

#[tokio::test]
async fn a_reset_without_clearing_tables_backs_them_up_first() {
    let mut world = World::restored_from_production();
    world.desired.reset.clear_tables = false;
    world.desired.reset.when = ResetWhen::Always;
    let fake = world.link();
    let before = all_keys(&fake);
    let dir = StateDir::new();
    let (plan, result) = apply(&fake, &world.desired, &dir).await;
    assert!(
        kinds(&plan).contains(&K::Backup),
        "{:?} {:#?}",
        kinds(&plan),
        plan.findings
    );
    assert!(!kinds(&plan).contains(&K::ClearTable));
    result.expect("the apply runs");
    assert_eq!(backup_keys(&fake, &dir.backups()[0]), before);
}

#[tokio::test]
async fn rows_added_since_the_plan_are_backed_up_and_recounted() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    let (steps, plan) = plan(&fake, &world.desired).await;
    fake.insert_rows(
        PROJECT_CONFIGURATION,
        vec![dwlink_testkit::rows::project("Added since", PROD)],
    );
    let result = execute(&steps, &plan, &dir, &Default::default(), &|_| {}).await;
    result.expect("a row added since is tolerated: backed up, and the count agrees");
    let backup = &dir.backups()[0];
    assert!(
        backup_keys(&fake, backup)[PROJECT_CONFIGURATION].contains(&"('Added since')".to_string())
    );
}

#[tokio::test]
async fn a_read_cut_short_among_rows_added_since_is_caught_by_the_recount() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    let (steps, plan) = plan(&fake, &world.desired).await;
    fake.insert_rows(
        PROJECT_CONFIGURATION,
        vec![
            dwlink_testkit::rows::project("Added one", PROD),
            dwlink_testkit::rows::project("Added two", PROD),
        ],
    );
    // Every planned row comes back, one of the new ones does not.
    fake.on_page(|table, rows| {
        if table == PROJECT_CONFIGURATION {
            rows.retain(|r| r["ProjectName"] != "Added two");
        }
    });
    let result = execute(&steps, &plan, &dir, &Default::default(), &|_| {}).await;
    let message = backup_failure(&result);
    assert!(
        message.contains(
            "returned 31 rows (1 of them added since the plan), but the service counts 32"
        ),
        "{message}"
    );
    nothing_removed(&fake);
}
