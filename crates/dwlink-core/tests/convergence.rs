//! Applying the same config twice leaves nothing to do the second time (spec §3,
//! "Convergence"), a RestoreCleanup included: it resets only while evidence of the restore
//! remains.

mod support;

use dwlink_core::config::raw::{Kind, ResetWhen};
use dwlink_core::model::key_tables::PROJECT_CONFIGURATION;
use dwlink_core::plan::{ActionKind as K, Plan};
use dwlink_testkit::{rows, CallKind, Effect, World, PROD};
use support::*;
use url::Url;

/// The restored world's declaration as a `kind: RestoreCleanup` manifest resolves it.
fn restore_cleanup(world: &World) -> dwlink_core::model::desired::Desired {
    let mut desired = world.desired.clone();
    desired.kind = Kind::RestoreCleanup;
    desired.reset.when = ResetWhen::Always;
    desired.restored_from =
        Some(Url::parse("https://contoso-prod.operations.dynamics.com").unwrap());
    desired
}

#[tokio::test]
async fn a_completed_restore_cleanup_plans_nothing_and_a_second_apply_changes_nothing() {
    let world = World::restored_from_production();
    let fake = world.link();
    let desired = restore_cleanup(&world);
    let dir = StateDir::new();

    let (first, result) = apply(&fake, &desired, &dir).await;
    result.expect("the cleanup applies");
    assert!(kinds(&first).contains(&K::ResetLink));
    let resets = |fake: &dwlink_testkit::FakeLink| {
        fake.effects()
            .iter()
            .filter(|e| matches!(e, Effect::Reset { .. }))
            .count()
    };
    assert_eq!(resets(&fake), 1);

    // Plan again from live state: the restore's evidence is gone, so is the reset.
    let (_, again) = plan(&fake, &desired).await;
    assert!(
        again.actions.is_empty(),
        "a completed cleanup plans {:?}",
        kinds(&again)
    );

    // And applying it (the CLI would print "Nothing to apply.") touches nothing.
    let effects = fake.effects().len();
    let calls = fake.calls().len();
    let (_, result) = apply(&fake, &desired, &dir).await;
    result.expect("an empty plan runs");
    assert_eq!(
        fake.effects().len(),
        effects,
        "{:?}",
        &fake.effects()[effects..]
    );
    assert!(fake.calls()[calls..]
        .iter()
        .all(|c| c.kind() == CallKind::Read));
    assert_eq!(resets(&fake), 1);
}

#[tokio::test]
async fn a_restore_cleanup_plans_again_when_evidence_of_a_restore_comes_back() {
    let world = World::restored_from_production();
    let fake = world.link();
    let desired = restore_cleanup(&world);
    let dir = StateDir::new();
    apply(&fake, &desired, &dir)
        .await
        .1
        .expect("the cleanup applies");

    // Another restore from production brings a row syncing there.
    fake.insert_rows(PROJECT_CONFIGURATION, vec![rows::project("Copied", PROD)]);
    let live = fake.state();
    let plan = Plan::make(&desired, &live);
    let k = kinds(&plan);
    assert!(
        k.contains(&K::ClearTable) && k.contains(&K::ResetLink),
        "{k:?}"
    );
}
