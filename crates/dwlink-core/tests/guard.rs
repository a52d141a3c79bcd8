//! The guards an apply passes before anything changes, each against a FakeLink world: stale,
//! version, environment, protected and error-finding refusals, and that a refused apply makes no
//! change.

mod support;

use dwlink_core::apply::guard::{self, Refusal};
use dwlink_core::diag::Severity;
use dwlink_core::plan::finding::{Finding, FindingCode};
use dwlink_testkit::{Call, World};

use support::plan;

#[tokio::test]
async fn a_saved_plan_is_refused_once_live_state_moved() {
    let world = World::restored_from_production();
    let fake = world.link();
    let (steps, saved) = plan(&fake, &world.desired).await;
    let now = steps.read_live().await.unwrap();
    assert_eq!(guard::still_fresh(&saved, &now), Ok(()));

    // Someone else relinks in the meantime: the plan no longer describes what is there.
    let mut moved = now.clone();
    moved
        .connection
        .as_mut()
        .unwrap()
        .legal_entities
        .push("DEMF".into());
    let refusal = guard::still_fresh(&saved, &moved).unwrap_err();
    assert_eq!(refusal, Refusal::StalePlan);
    assert_eq!(refusal.to_problem().code, "dwlink::apply::stale_plan");
}

#[tokio::test]
async fn a_plan_of_another_dwlink_version_is_refused() {
    let world = World::restored_from_production();
    let (_, mut saved) = plan(&world.link(), &world.desired).await;
    assert_eq!(guard::made_by_this_version(&saved), Ok(()));
    saved.dwlink_version = "0.0.1".into();
    let refusal = guard::made_by_this_version(&saved).unwrap_err();
    assert!(matches!(&refusal, Refusal::Version { made_by } if made_by == "0.0.1"));
    assert_eq!(refusal.to_problem().code, "dwlink::apply::version");
}

#[tokio::test]
async fn a_plan_is_refused_with_the_config_of_another_environment() {
    let world = World::restored_from_production();
    let (_, saved) = plan(&world.link(), &world.desired).await;
    let mut other = world.desired.clone();
    other.name = "contoso-test".into();
    let refusal = guard::saved_plan_with_config(&saved, &other).unwrap_err();
    assert!(matches!(refusal, Refusal::EnvironmentMismatch { .. }));
    assert_eq!(
        refusal.to_problem().code,
        "dwlink::apply::environment_mismatch"
    );

    let mut elsewhere = world.desired.clone();
    elsewhere.finance_operations.url = "https://contoso-test.sandbox.operations.dynamics.com"
        .parse()
        .unwrap();
    assert!(guard::saved_plan_with_config(&saved, &elsewhere).is_err());
}

#[tokio::test]
async fn protection_switched_on_after_planning_still_protects() {
    let world = World::restored_from_production();
    let (_, saved) = plan(&world.link(), &world.desired).await;
    let mut config = world.desired.clone();
    config.protected = true;
    let guarded = guard::saved_plan_with_config(&saved, &config).unwrap();
    assert!(guarded.protected);
    let refusal = guard::may_execute(&guarded, &saved).unwrap_err();
    assert_eq!(
        refusal,
        Refusal::Protected {
            environment: world.desired.name.clone()
        }
    );
}

#[tokio::test]
async fn a_protected_environment_gets_no_destructive_step_but_may_have_none() {
    let restored = World::restored_from_production();
    let mut protected = restored.desired.clone();
    protected.protected = true;
    let (_, destructive) = plan(&restored.link(), &restored.desired).await;
    assert!(destructive.actions.iter().any(|a| a.destructive));
    assert!(matches!(
        guard::may_execute(&protected, &destructive),
        Err(Refusal::Protected { .. })
    ));

    let healthy = World::healthy();
    let mut protected = healthy.desired.clone();
    protected.protected = true;
    let (_, empty) = plan(&healthy.link(), &healthy.desired).await;
    assert_eq!(guard::may_execute(&protected, &empty), Ok(()));
}

#[tokio::test]
async fn a_plan_with_an_error_finding_is_refused_naming_it() {
    let world = World::restored_from_production();
    let (_, mut p) = plan(&world.link(), &world.desired).await;
    assert_eq!(guard::may_execute(&world.desired, &p), Ok(()));
    p.findings.push(Finding::new(
        FindingCode::TargetUnreachable,
        Severity::Error,
        "the declared organization cannot be reached".into(),
        "declare the Power Platform link's organization".into(),
    ));
    let refusal = guard::may_execute(&world.desired, &p).unwrap_err();
    assert_eq!(
        refusal,
        Refusal::ErrorFindings {
            codes: vec!["target.unreachable".into()]
        }
    );
    let problem = refusal.to_problem();
    assert_eq!(problem.code, "dwlink::apply::findings");
    assert!(
        problem.message.contains("target.unreachable"),
        "{}",
        problem.message
    );
}

#[tokio::test]
async fn guards_only_read() {
    let world = World::restored_from_production();
    let fake = world.link();
    let (steps, saved) = plan(&fake, &world.desired).await;
    let now = steps.read_live().await.unwrap();
    let mut protected = world.desired.clone();
    protected.protected = true;
    let _ = guard::still_fresh(&saved, &now);
    let _ = guard::may_execute(&protected, &saved);
    assert!(
        fake.calls().iter().all(|c| matches!(c, Call::Read { .. })),
        "{:?}",
        fake.calls()
    );
}
