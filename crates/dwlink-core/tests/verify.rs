//! The last step of every apply: it passes when the live link is as declared, and fails naming
//! what differs when it is not.

mod support;

use dwlink_core::apply::executor::ApplyError;
use dwlink_core::apply::steps::Steps;
use dwlink_core::apply::verify::verify;
use dwlink_core::model::key_tables::{PROJECT_CONFIGURATION, RUNTIME_CONFIGURATION};
use dwlink_core::plan::ActionKind as K;
use dwlink_testkit::{org, rows, Call, FakeLink, World, PROD, PROD_ID};
use support::*;

/// An applied restored world, and the plan it was applied from.
async fn applied() -> (World, FakeLink, dwlink_core::plan::Plan, StateDir) {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    let (plan, result) = apply(&fake, &world.desired, &dir).await;
    result.expect("the apply succeeds");
    (world, fake, plan, dir)
}

#[tokio::test]
async fn verify_passes_after_a_successful_apply() {
    let (world, fake, plan, _dir) = applied().await;

    // Again, from a new process's steps (nothing cached): the live state itself matches.
    let steps = Steps::new(fake.clone(), world.desired.clone());
    verify(&steps, &plan)
        .await
        .expect("the link is as declared");
}

#[tokio::test]
async fn verify_names_what_differs_when_the_link_is_changed_after_apply() {
    type Tamper = fn(&FakeLink);
    // What the message must name: the steps a fresh plan would take, or for legal entities
    // (which no step can change without a reset) the live and declared ones.
    let cases: [(&str, Tamper, &[&str]); 4] = [
        (
            "dual-write relinked to production",
            |f| f.edit(|s| s.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID))),
            &[K::ResetLink.name()],
        ),
        (
            "a legal entity unlinked",
            |f| f.edit(|s| s.connection.as_mut().unwrap().legal_entities = vec!["USMF".into()]),
            &["legal entities USMF, the config declares DEMF, USMF"],
        ),
        (
            "a project configuration syncing to production",
            |f| f.insert_rows(PROJECT_CONFIGURATION, vec![rows::project("Copied", PROD)]),
            &[K::ClearTable.name(), K::ResetLink.name()],
        ),
        (
            "a runtime configuration naming production",
            |f| f.insert_rows(RUNTIME_CONFIGURATION, rows::runtime(1, "ContosoProd")),
            &[K::ClearTable.name(), K::ResetLink.name()],
        ),
    ];
    for (what, tamper, named) in cases {
        let (world, fake, plan, _dir) = applied().await;
        tamper(&fake);

        let steps = Steps::new(fake.clone(), world.desired.clone());
        let problem = verify(&steps, &plan).await.expect_err(what);

        assert_eq!(problem.code, "dwlink::apply::verify", "{what}");
        for text in named {
            assert!(
                problem.message.contains(text),
                "{what}: names {text}: {}",
                problem.message
            );
        }
    }
}

#[tokio::test]
async fn verify_fails_on_an_error_finding_even_with_no_action_left() {
    let (world, fake, mut plan, _dir) = applied().await;
    // The declaration now names another organization id than the one at the declared URL.
    plan.desired.dataverse.organization_id = Some(PROD_ID.parse().unwrap());

    let steps = Steps::new(fake.clone(), world.desired.clone());
    let problem = verify(&steps, &plan).await.expect_err("an error finding");

    assert_eq!(problem.code, "dwlink::apply::verify");
    assert!(problem.message.contains(PROD_ID), "{}", problem.message);
}

#[tokio::test]
async fn a_change_made_during_the_apply_fails_its_verify_step() {
    let world = World::restored_from_production();
    let fake = world.link();
    let dir = StateDir::new();
    // Someone unlinks a legal entity in the portal while the maps start.
    let portal = fake.clone();
    fake.on_call(move |call| {
        if matches!(call, Call::StartMap { .. }) {
            portal.edit(|s| s.connection.as_mut().unwrap().legal_entities = vec!["USMF".into()]);
        }
    });

    let (plan, result) = apply(&fake, &world.desired, &dir).await;

    let (step, problem) = failed_step(&result);
    assert_eq!(step, step_of(&plan, K::Verify));
    assert_eq!(problem.code, "dwlink::apply::verify");
    assert!(
        problem
            .message
            .contains("legal entities USMF, the config declares DEMF, USMF"),
        "{}",
        problem.message
    );
    assert!(matches!(
        result,
        Err(ApplyError::Failed {
            backup: Some(_),
            ..
        })
    ));
}
