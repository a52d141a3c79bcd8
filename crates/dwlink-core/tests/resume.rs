//! Finishing an unfinished apply the way `dwlink apply` does (find the journal, re-plan from
//! live state, merge, execute): it completes, and it never repeats a destructive change that
//! already happened.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use dwlink_core::apply::executor::{ApplyError, StepEvent};
use dwlink_core::apply::journal;
use dwlink_core::config::raw::ResetWhen;
use dwlink_core::plan::{Action, ActionKind as K, Plan};
use dwlink_testkit::{
    errors, org, Call, CallKind, Effect, Fault, RequestKind, RequestOutcome, World,
};
use support::*;

/// A fault aimed at the call that carries `action`'s effect.
fn fault_for(action: &Action, after_effect: bool) -> Fault {
    let error = errors::unreachable();
    let fault = match action {
        Action::StopMaps { .. }
        | Action::ResetLink { .. }
        | Action::ApplySolutions { .. }
        | Action::StartMaps { .. }
        | Action::PauseMaps { .. }
        | Action::ResumeMaps { .. } => Fault::next(CallKind::WaitForRequest, error),
        Action::SwitchMapVersion { .. } => Fault::next(CallKind::SwitchMapVersion, error),
        Action::SetIntegrationKeys { .. } => Fault::next(CallKind::SetIntegrationKeys, error),
        Action::RefreshTables { .. } => Fault::next(CallKind::RefreshTables, error),
        Action::Backup { .. } => Fault::next(CallKind::NextPage, error),
        Action::ClearTable { table, .. } => {
            let wanted = table.clone();
            Fault::on(
                move |c| matches!(c, Call::DeleteRows { table, .. } if *table == wanted),
                error,
            )
        }
        Action::Verify => Fault::next(CallKind::Read, error),
    };
    if after_effect {
        fault.after_effect()
    } else {
        fault
    }
}

fn count(effects: &[Effect], which: fn(&Effect) -> bool) -> usize {
    effects.iter().filter(|e| which(e)).count()
}

/// For every step of the big plan: fail it, resume, and check the two runs together.
async fn fail_each_step_then_resume(after_effect: bool) {
    let world = World::restored_from_production();
    let total = plan(&world.link(), &world.desired).await.1.actions.len();
    for k in 0..total {
        let fake = world.link();
        let original = all_keys(&fake);
        let dir = StateDir::new();
        let (steps, first) = plan(&fake, &world.desired).await;
        let action = first.actions[k].action.clone();
        let name = action.kind().name();
        // Aimed when step k starts, because earlier steps make calls of the same kinds.
        let aim = fake.clone();
        let on_event = move |e: StepEvent| {
            if matches!(e, StepEvent::Start { step, .. } if step == k) {
                aim.inject(fault_for(&action, after_effect));
            }
        };
        let result = execute(&steps, &first, &dir, &AtomicBool::new(false), &on_event).await;
        assert_eq!(
            failed_step(&result).0,
            k,
            "the fault fails step {k} ({name})"
        );
        let (calls_in_first, effects_in_first) = (fake.calls().len(), fake.effects().len());
        if after_effect {
            // The case under test: the destructive step did take effect before it "failed".
            let effects = fake.effects();
            let took_effect = match &first.actions[k].action {
                Action::StopMaps { .. } => effects
                    .iter()
                    .any(|e| matches!(e, Effect::MapStopped { .. })),
                Action::ClearTable { table, .. } => deleted(&effects).contains_key(table),
                Action::ResetLink { .. } => {
                    effects.iter().any(|e| matches!(e, Effect::Reset { .. }))
                }
                _ => true,
            };
            assert!(took_effect, "step {k} ({name}) took effect");
        }

        let (_, second) = resume(&fake, &world.desired, &dir)
            .await
            .unwrap_or_else(|p| panic!("step {k} ({name}): resume refused: {p:?}"));
        second.unwrap_or_else(|e| panic!("step {k} ({name}): resume failed: {e:?}"));

        let (calls, effects) = (fake.calls(), fake.effects());
        let (second_calls, first_effects) =
            (&calls[calls_in_first..], &effects[..effects_in_first]);
        assert!(
            !Plan::make(&world.desired, &fake.state()).has_changes(),
            "step {k} ({name}): the link is as declared"
        );
        assert!(journal::find_unfinished(&dir.journal_dir(), &world.desired.name).is_none());

        // Every row was deleted exactly once over both runs, and only after it was backed up.
        assert_eq!(deleted(&effects), original, "step {k} ({name})");
        let mut backed_up: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for b in dir.backups() {
            for (t, keys) in backup_keys(&fake, &b) {
                backed_up.entry(t).or_default().extend(keys);
            }
        }
        for (t, keys) in &original {
            assert!(
                keys.iter().all(|key| backed_up[t].contains(key)),
                "step {k}: {t}"
            );
        }

        // What took effect in the first run is not asked for again.
        let asked_again = delete_requests(second_calls);
        for (t, keys) in deleted(first_effects) {
            let again = asked_again.get(&t).cloned().unwrap_or_default();
            assert!(
                keys.iter().all(|key| !again.contains(key)),
                "step {k} ({name}): {t} rows deleted in the first run were deleted again"
            );
        }
        let reset_done = |e: &Effect| matches!(e, Effect::Reset { .. });
        let stopped = |e: &Effect| matches!(e, Effect::MapStopped { .. });
        assert_eq!(
            count(&effects, reset_done),
            1,
            "step {k} ({name}): one reset"
        );
        assert_eq!(count(&effects, stopped), 1, "step {k} ({name}): one stop");
        if count(first_effects, reset_done) == 1 {
            assert!(
                !second_calls.iter().any(|c| c.kind() == CallKind::Reset),
                "step {k}"
            );
        }
        if count(first_effects, stopped) == 1 {
            assert!(
                !second_calls.iter().any(|c| c.kind() == CallKind::StopMap),
                "step {k}"
            );
        }
    }
}

#[tokio::test]
async fn a_refused_call_at_any_step_is_finished_by_the_next_apply() {
    fail_each_step_then_resume(false).await;
}

#[tokio::test]
async fn a_lost_reply_at_any_step_is_finished_without_repeating_what_took_effect() {
    fail_each_step_then_resume(true).await;
}

#[tokio::test]
async fn a_reset_that_would_now_land_elsewhere_is_refused() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    fake.script_request(RequestKind::Reset, RequestOutcome::Fail("busy".into()));
    let (plan, result) = apply(&fake, &world.desired, &dir).await;
    assert_eq!(failed_step(&result).0, step_of(&plan, K::ResetLink));

    // Meanwhile the environment's Power Platform link was pointed at another organization.
    fake.edit(|s| {
        s.finance_operations.power_platform_link = Some(org(
            "https://contoso-uat2.crm.dynamics.com",
            "7e57c0de-0000-4000-8000-000000000002",
        ))
    });
    let calls_before = fake.calls().len();

    let refused = resume(&fake, &world.desired, &dir)
        .await
        .expect_err("the journaled reset went elsewhere");

    assert_eq!(refused.code, "dwlink::apply::target_changed");
    let kinds: Vec<_> = fake.calls()[calls_before..]
        .iter()
        .map(Call::kind)
        .collect();
    assert_eq!(
        kinds,
        [CallKind::Read],
        "only the read that showed the move"
    );
    assert!(journal::find_unfinished(&dir.journal_dir(), &world.desired.name).is_some());
}

#[tokio::test]
async fn a_reset_journaled_as_done_is_not_repeated_under_reset_always() {
    let mut world = World::restored_from_production();
    world.desired.reset.when = ResetWhen::Always;
    let fake = world.link();
    let dir = StateDir::new();
    fake.script_request(
        RequestKind::ApplySolution,
        RequestOutcome::Fail("busy".into()),
    );
    let (plan, result) = apply(&fake, &world.desired, &dir).await;
    assert_eq!(failed_step(&result).0, step_of(&plan, K::ApplySolutions));
    // Planned from the declaration as written, "always" would reset again and undo the reset.
    assert!(kinds(&Plan::make(&world.desired, &fake.state())).contains(&K::ResetLink));
    let calls_before = fake.calls().len();

    let (resumed, result) = resume(&fake, &world.desired, &dir).await.expect("resumes");

    result.expect("the resumed apply succeeds");
    assert_eq!(
        kinds(&resumed),
        [K::ApplySolutions, K::StartMaps, K::Verify]
    );
    let destructive = [CallKind::StopMap, CallKind::DeleteRows, CallKind::Reset];
    assert!(!fake.calls()[calls_before..]
        .iter()
        .any(|c| destructive.contains(&c.kind())));
}

#[tokio::test]
async fn an_apply_stopped_by_ctrl_c_is_finished_without_a_second_reset() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    let (steps, first) = plan(&fake, &world.desired).await;
    let reset = step_of(&first, K::ResetLink);
    let cancel = AtomicBool::new(false);
    let on_event = |e: StepEvent| {
        if matches!(e, StepEvent::Start { step, .. } if step == reset) {
            cancel.store(true, Ordering::SeqCst);
        }
    };
    let result = execute(&steps, &first, &dir, &cancel, &on_event).await;
    assert!(
        matches!(result, Err(ApplyError::Interrupted { completed, .. }) if completed == reset + 1)
    );
    let calls_before = fake.calls().len();

    let (resumed, result) = resume(&fake, &world.desired, &dir).await.expect("resumes");

    result.expect("the resumed apply succeeds");
    assert_eq!(
        kinds(&resumed),
        [K::ApplySolutions, K::StartMaps, K::Verify]
    );
    assert!(!fake.calls()[calls_before..]
        .iter()
        .any(|c| c.kind() == CallKind::Reset));
    let resets = fake
        .effects()
        .iter()
        .filter(|e| matches!(e, Effect::Reset { .. }))
        .count();
    assert_eq!(resets, 1);
}
