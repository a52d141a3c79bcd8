//! The executor against a FakeLink: the order of effects, the backup-before-delete rule, failed
//! and interrupted steps, and what the journal says about each.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use dwlink_core::apply::backup;
use dwlink_core::apply::executor::{ApplyError, StepEvent};
use dwlink_core::apply::journal::{self, Event};
use dwlink_core::model::key_tables::{
    BUSINESS_EVENTS, FIELD_CONFIGURATION, PROJECT_CONFIGURATION, RUNTIME_CONFIGURATION,
};
use dwlink_core::plan::{Action, ActionKind as K, Plan};
use dwlink_testkit::{
    errors, rows, Call, CallKind, Effect, Fault, RequestKind, RequestOutcome, World, CORE_SOLUTION,
    CUSTOMERS, PROD, UAT,
};
use support::*;

const ROWS: usize = 30 + 60 + 8 + 6;

#[tokio::test]
async fn the_restored_world_is_applied_step_by_step_in_plan_order() {
    let world = World::restored_from_production();
    let fake = world.link();
    let before = all_keys(&fake);
    let dir = StateDir::new();

    let (plan, result) = apply(&fake, &world.desired, &dir).await;

    assert_eq!(
        kinds(&plan),
        [
            K::StopMaps,
            K::Backup,
            K::ClearTable,
            K::ClearTable,
            K::ClearTable,
            K::ClearTable,
            K::ResetLink,
            K::ApplySolutions,
            K::StartMaps,
            K::Verify
        ]
    );
    let outcome = result.expect("the apply succeeds");
    assert_eq!(outcome.steps, 10);
    assert_eq!((outcome.rows_backed_up, outcome.rows_deleted), (ROWS, ROWS));
    let deleted = |table: &str| Effect::RowsDeleted {
        table: table.into(),
        keys: before[table].clone(),
    };
    assert_eq!(
        with_sorted_keys(fake.effects()),
        [
            Effect::MapStopped {
                map: CUSTOMERS.into()
            },
            deleted(PROJECT_CONFIGURATION),
            deleted(FIELD_CONFIGURATION),
            deleted(BUSINESS_EVENTS),
            deleted(RUNTIME_CONFIGURATION),
            // The reset itself links the declared legal entities: there is no other call for it.
            Effect::Reset {
                organization: Some(UAT.parse().unwrap()),
                legal_entities: vec!["DEMF".into(), "USMF".into()]
            },
            Effect::SolutionApplied {
                solution: CORE_SOLUTION.into()
            },
            Effect::MapStarted {
                map: CUSTOMERS.into()
            },
        ]
    );
    // The last call is verify's read: nothing is changed after the check.
    assert_eq!(fake.calls().last().map(Call::kind), Some(CallKind::Read));
}

#[tokio::test]
async fn no_delete_is_sent_before_the_backup_of_those_rows_is_complete_on_disk() {
    let world = World::restored_from_production();
    let fake = world.link();
    let to_delete = all_keys(&fake);
    let dir = StateDir::new();
    let backups = dir.path().join("backups");
    let checked = Arc::new(AtomicBool::new(false));

    let (inspect, seen, expected) = (fake.clone(), checked.clone(), to_delete.clone());
    fake.on_call(move |call| {
        if call.kind() != CallKind::DeleteRows || seen.swap(true, Ordering::SeqCst) {
            return;
        }
        // At the moment the first delete arrives: one finished backup, nothing half-written.
        let complete: Vec<_> = std::fs::read_dir(&backups)
            .expect("the backup directory exists before any delete")
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(
            complete.len(),
            1,
            "exactly one file, no .partial: {complete:?}"
        );
        let path = &complete[0];
        assert!(path.extension().is_some_and(|x| x == "json"), "{path:?}");
        assert_eq!(backup_keys(&inspect, path), expected);
        // Every column as read, secrets included: restore must be exact.
        let b = backup::read(path).unwrap();
        let runtime = b
            .tables
            .iter()
            .find(|t| t.table == RUNTIME_CONFIGURATION)
            .unwrap();
        assert!(runtime
            .rows
            .iter()
            .all(|r| r["msdyn_secureconfig"].is_string()));
    });

    let (_, result) = apply(&fake, &world.desired, &dir).await;

    let outcome = result.expect("the apply succeeds");
    assert!(checked.load(Ordering::SeqCst), "the hook saw a delete");
    assert_eq!(
        outcome.backup.as_deref(),
        dir.backups().first().map(|p| p.as_path())
    );
    assert_eq!(delete_requests(&fake.calls()), to_delete);
}

#[tokio::test]
async fn rows_that_appear_after_the_backup_are_left_to_the_reset() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    let late = "('Late project')";

    let writer = fake.clone();
    let once = AtomicBool::new(false);
    fake.on_call(move |call| {
        if call.kind() == CallKind::DeleteRows && !once.swap(true, Ordering::SeqCst) {
            writer.insert_rows(
                PROJECT_CONFIGURATION,
                vec![rows::project("Late project", PROD)],
            );
        }
    });

    let (_, result) = apply(&fake, &world.desired, &dir).await;

    result.expect("the apply succeeds");
    let asked = delete_requests(&fake.calls());
    assert!(!asked[PROJECT_CONFIGURATION].iter().any(|k| k == late));
    let backed_up = backup_keys(&fake, &dir.backups()[0]);
    assert_eq!(asked, backed_up, "only backed-up keys are deleted");
    assert!(!fake.keys(PROJECT_CONFIGURATION).iter().any(|k| k == late));
}

#[tokio::test]
async fn a_backup_that_fails_halfway_deletes_nothing_and_leaves_no_backup() {
    let world = World::restored_from_production();
    let fake = world.link();
    let before = all_keys(&fake);
    let dir = StateDir::new();
    fake.set_page_size(25);
    fake.fail_on(
        |c| matches!(c, Call::NextPage { table, page: 1 } if table == FIELD_CONFIGURATION),
        errors::unreachable(),
    );

    let (plan, result) = apply(&fake, &world.desired, &dir).await;

    let (step, problem) = failed_step(&result);
    assert_eq!(step, step_of(&plan, K::Backup));
    assert_eq!(problem.code, "dwlink::provider::unreachable");
    assert!(!fake
        .calls()
        .iter()
        .any(|c| c.kind() == CallKind::DeleteRows));
    assert_eq!(all_keys(&fake), before);
    assert!(dir.backups().is_empty(), "{:?}", dir.backups());
}

#[tokio::test]
async fn a_row_without_a_key_stops_the_backup_before_any_delete() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    let (steps, plan) = plan(&fake, &world.desired).await;
    // A row that cannot be named could be neither restored by key nor deleted exactly.
    let mut keyless = rows::project("Keyless", PROD);
    keyless.remove("ProjectName");
    fake.insert_rows(PROJECT_CONFIGURATION, vec![keyless]);

    let result = execute(&steps, &plan, &dir, &AtomicBool::new(false), &|_| {}).await;

    let (step, problem) = failed_step(&result);
    assert_eq!(step, step_of(&plan, K::Backup));
    assert_eq!(problem.code, "dwlink::apply::backup");
    assert!(!fake
        .calls()
        .iter()
        .any(|c| c.kind() == CallKind::DeleteRows));
    assert!(dir.backups().is_empty());
}

#[tokio::test]
async fn a_failed_request_is_a_failed_step_and_later_steps_do_not_run() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    fake.script_request(
        RequestKind::Reset,
        RequestOutcome::Fail("the service gave up".into()),
    );

    let (plan, result) = apply(&fake, &world.desired, &dir).await;

    let (step, problem) = failed_step(&result);
    assert_eq!(step, step_of(&plan, K::ResetLink));
    assert_eq!(problem.code, "dwlink::provider::request_failed");
    assert!(
        matches!(
            fake.calls().last(),
            Some(Call::WaitForRequest {
                kind: Some(RequestKind::Reset),
                ..
            })
        ),
        "nothing after the failed wait"
    );
    assert!(!fake
        .effects()
        .iter()
        .any(|e| matches!(e, Effect::Reset { .. })));
    let journal = journal_of(&result);
    assert_eq!(events(&journal).last(), Some(&(Event::Failed, Some(step))));
}

#[tokio::test]
async fn a_request_that_times_out_is_a_failed_step() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    fake.script_request(RequestKind::StartMap, RequestOutcome::TimeOut);

    let (plan, result) = apply(&fake, &world.desired, &dir).await;

    let (step, problem) = failed_step(&result);
    assert_eq!(step, step_of(&plan, K::StartMaps));
    assert_eq!(problem.code, "dwlink::provider::request_timeout");
    // Verify never read: the wait for the start is the last call.
    assert_eq!(
        fake.calls().last().map(Call::kind),
        Some(CallKind::WaitForRequest)
    );
    assert!(!fake
        .effects()
        .iter()
        .any(|e| matches!(e, Effect::MapStarted { .. })));
}

#[tokio::test]
async fn a_failed_delete_fails_its_step_while_the_other_tables_finish() {
    let world = World::restored_from_production();
    let fake = world.link();
    let before = all_keys(&fake);
    let dir = StateDir::new();
    fake.inject(Fault::on(
        |c| matches!(c, Call::DeleteRows { table, .. } if table == FIELD_CONFIGURATION),
        errors::unreachable(),
    ));

    let (plan, result) = apply(&fake, &world.desired, &dir).await;

    let (step, _) = failed_step(&result);
    let fields = plan
        .actions
        .iter()
        .position(|a| matches!(&a.action, Action::ClearTable { table, .. } if table == FIELD_CONFIGURATION))
        .unwrap();
    assert_eq!(step, fields);
    let mut expected = before.clone();
    expected.remove(FIELD_CONFIGURATION);
    assert_eq!(deleted(&fake.effects()), expected);
    assert!(!fake.calls().iter().any(|c| c.kind() == CallKind::Reset));
    // The clears ran together; each is journaled on its own.
    let done: Vec<usize> = journal_of(&result)
        .iter()
        .filter(|e| e.event == Event::Done && e.kind == Some(K::ClearTable))
        .filter_map(|e| e.step)
        .collect();
    assert_eq!(done.len(), 3);
    assert!(!done.contains(&fields));
}

#[tokio::test]
async fn ctrl_c_during_a_step_stops_after_that_step() {
    let world = World::restored_from_production();
    let steps_in_plan = plan(&world.link(), &world.desired).await.1.actions.len();
    for k in 0..steps_in_plan {
        let fake = world.link();
        let dir = StateDir::new();
        let (steps, plan) = plan(&fake, &world.desired).await;
        let cancel = AtomicBool::new(false);
        let calls_at_last_done = AtomicUsize::new(0);
        let on_event = |e: StepEvent| match e {
            StepEvent::Start { step, .. } if step == k => cancel.store(true, Ordering::SeqCst),
            StepEvent::Done { .. } => {
                calls_at_last_done.store(fake.calls().len(), Ordering::SeqCst)
            }
            _ => {}
        };

        let result = execute(&steps, &plan, &dir, &cancel, &on_event).await;

        // The clear-table steps run as one group, so Ctrl-C in any of them stops after all.
        let last_clear = plan
            .actions
            .iter()
            .rposition(|a| a.action.kind() == K::ClearTable)
            .unwrap();
        let completed = if plan.actions[k].action.kind() == K::ClearTable {
            last_clear + 1
        } else {
            k + 1
        };
        if completed == steps_in_plan {
            assert!(
                result.is_ok(),
                "step {k}: nothing was left to stop: {result:?}"
            );
            continue;
        }
        match &result {
            Err(ApplyError::Interrupted { completed: c, .. }) => {
                assert_eq!(*c, completed, "cancelled in step {k}")
            }
            other => panic!("step {k}: expected an interruption, got {other:?}"),
        }
        assert_eq!(
            fake.calls().len(),
            calls_at_last_done.load(Ordering::SeqCst),
            "step {k}: no call after the step that was running"
        );
        assert_eq!(
            events(&journal_of(&result)).last(),
            Some(&(Event::Interrupted, Some(completed)))
        );
    }
}

#[tokio::test]
async fn applying_the_same_config_twice_leaves_nothing_to_do() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();

    let (_, result) = apply(&fake, &world.desired, &dir).await;
    result.expect("the first apply succeeds");

    let again = Plan::make(&world.desired, &fake.state());
    assert!(!again.has_changes(), "{:?}", kinds(&again));
    assert!(!again.has_errors(), "{:?}", again.findings);
    // A healthy world starts out that way.
    let healthy = World::healthy();
    assert!(!Plan::make(&healthy.desired, &healthy.link().state()).has_changes());
}

#[tokio::test]
async fn the_journal_has_begin_a_start_and_done_per_step_and_completed() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();

    let (plan, result) = apply(&fake, &world.desired, &dir).await;

    let journal = journal_of(&result);
    let begin = &journal[0];
    assert_eq!(begin.event, Event::Begin);
    assert_eq!(begin.plan_id, plan.plan_id);
    assert_eq!(
        begin.detail.as_deref(),
        Some(plan.live_fingerprint.as_str())
    );
    let planned: Vec<_> = plan.actions.iter().map(|a| a.action.clone()).collect();
    assert_eq!(begin.actions, planned);
    let one = |i| [(Event::Start, Some(i)), (Event::Done, Some(i))];
    let mut expected = vec![(Event::Begin, None)];
    expected.extend(one(0));
    expected.extend(one(1));
    // The four clears start together, then finish.
    expected.extend((2..6).map(|i| (Event::Start, Some(i))));
    expected.extend((2..6).map(|i| (Event::Done, Some(i))));
    (6..10).for_each(|i| expected.extend(one(i)));
    expected.push((Event::Completed, None));
    assert_eq!(events(&journal), expected);
    assert!(journal.iter().all(|e| e.plan_id == plan.plan_id));
    let backup_line = journal
        .iter()
        .find(|e| e.kind == Some(K::Backup) && e.event == Event::Done);
    assert_eq!(
        backup_line.and_then(|e| e.backup.clone()),
        dir.backups().first().map(|p| p.display().to_string())
    );
    assert!(journal::find_unfinished(&dir.journal_dir(), &world.desired.name).is_none());
}

#[tokio::test]
async fn a_failed_step_leaves_an_unfinished_journal_naming_what_was_done() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    fake.fail_next(CallKind::ApplySolution, errors::unreachable());

    let (plan, result) = apply(&fake, &world.desired, &dir).await;

    let (step, _) = failed_step(&result);
    assert_eq!(step, step_of(&plan, K::ApplySolutions));
    let u = journal::find_unfinished(&dir.journal_dir(), &world.desired.name)
        .expect("an unfinished journal");
    assert_eq!(u.plan_id, plan.plan_id);
    assert_eq!(u.done, (0..step).collect::<Vec<_>>());
    assert_eq!(u.in_flight, Some(step));
    assert_eq!(u.backups, vec![dir.backups()[0].display().to_string()]);
}

#[tokio::test]
async fn rows_gone_before_their_delete_are_counted_apart_from_deleted_ones() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    let (steps, plan) = plan(&fake, &world.desired).await;
    let removed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (hook_fake, hook_removed) = (fake.clone(), removed.clone());
    // Someone deletes two field rows after the backup, before the clear reaches them.
    fake.on_call(move |call| {
        if matches!(call, Call::DeleteRows { .. }) && !hook_removed.swap(true, Ordering::SeqCst) {
            hook_fake.remove_rows(FIELD_CONFIGURATION, 2);
        }
    });
    let events = std::sync::Mutex::new(Vec::new());
    let on_event = |e: StepEvent| events.lock().unwrap().push(e);
    let outcome = execute(&steps, &plan, &dir, &AtomicBool::new(false), &on_event)
        .await
        .expect("the apply succeeds");

    assert_eq!(outcome.rows_already_gone, 2);
    assert_eq!(outcome.rows_deleted + 2, outcome.rows_backed_up);
    let cleared: Vec<(String, usize, usize)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            StepEvent::Done {
                result:
                    dwlink_core::apply::executor::StepResult::Cleared {
                        table,
                        deleted,
                        already_gone,
                    },
                ..
            } => Some((table.clone(), *deleted, *already_gone)),
            _ => None,
        })
        .collect();
    assert!(
        cleared.contains(&(FIELD_CONFIGURATION.to_string(), 58, 2)),
        "{cleared:?}"
    );
    // The journal says it in words too.
    let detail = journal_of(&Ok(outcome))
        .into_iter()
        .filter_map(|e| e.detail)
        .find(|d| d.contains(FIELD_CONFIGURATION))
        .unwrap();
    assert_eq!(
        detail,
        format!("58 rows deleted from {FIELD_CONFIGURATION}, 2 already gone")
    );
}
