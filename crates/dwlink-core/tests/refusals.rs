//! Every refusal apply or a step can hit, paired with the plan finding that foresees it: a plan
//! exits 1 wherever apply would refuse after a delete. The table is checked both ways: every
//! `Refusal` variant (an exhaustive match) and every `dwlink::apply::` code the apply sources
//! raise has an entry, and each entry's world shows its finding as an error.

mod support;

use dwlink_core::apply::guard::{self, Refusal};
use dwlink_core::diag::Severity;
use dwlink_core::model::desired::Desired;
use dwlink_core::model::live::ConnectionDoubt;
use dwlink_core::plan::{FindingCode, Plan};
use dwlink_testkit::World;

use support::plan;

/// What foresees a refusal: a plan finding, or why no plan of live state can (it concerns a
/// saved file, a flag, another process, or a reply that lies, and is checked before anything
/// changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Foresight {
    Finding(FindingCode),
    /// Any error finding: the refusal is the findings themselves.
    AnyErrorFinding,
    BeforeAnyChange(&'static str),
}
use Foresight::*;

/// Exhaustive: a new refusal does not compile until it says what foresees it.
fn guard_refusal(r: &Refusal) -> Foresight {
    match r {
        Refusal::EnvironmentMismatch { .. } => {
            BeforeAnyChange("a saved plan against another config")
        }
        Refusal::Version { .. } => BeforeAnyChange("a saved plan of another dwlink"),
        Refusal::StalePlan => BeforeAnyChange("a saved plan whose live state moved"),
        Refusal::Protected { .. } => Finding(FindingCode::Protected),
        Refusal::ErrorFindings { .. } => AnyErrorFinding,
        Refusal::ConfirmFleet => BeforeAnyChange("a flag"),
        // `dwlink plan` peeks at the lock of this machine (`plan::busy::foresee_lock`; CLI test
        // `busy::a_plan_while_another_apply_holds_the_lock_is_a_busy_error`).
        Refusal::Busy { .. } => Finding(FindingCode::Busy),
        Refusal::RequestsInFlight { .. } => Finding(FindingCode::Busy),
    }
}

/// The refusals raised by the apply's steps and executor, by code or message, and what
/// foresees each.
const STEP_REFUSALS: &[(&str, Foresight)] = &[
    (
        "dwlink::apply::no_connection",
        Finding(FindingCode::ConnectionNone),
    ),
    ("dwlink::apply::unknown_map", BeforeAnyChange("")),
    ("dwlink::apply::backup_unproven", BeforeAnyChange("")),
    ("dwlink::apply::no_backup", BeforeAnyChange("")),
    ("dwlink::apply::io", BeforeAnyChange("")),
    ("dwlink::apply::backup", BeforeAnyChange("")),
    ("dwlink::internal::executor", BeforeAnyChange("")),
    // The HTTP link's reset (`dwlink-http` link/write.rs) and the services' own refusals.
    // The reset's body (dwlink-http `services/dws/reset_body.rs`) cannot be built without a guess.
    (
        "several Dataverse environments",
        Finding(FindingCode::ConnectionSeveralDataverse),
    ),
    (
        "no Power Platform integration",
        Finding(FindingCode::ScenarioNoPowerPlatformLink),
    ),
    (
        "no finance and operations (AX) environment",
        Finding(FindingCode::ConnectionNoFinanceOperations),
    ),
    (
        "no Dataverse (CRM) environment to keep",
        Finding(FindingCode::ConnectionNoDataverse),
    ),
    ("MapsRunning", Finding(FindingCode::MapsRunning)),
];

/// Why the steps' refusals without a finding cannot be foreseen from live state.
fn why_not_foreseen(code: &str) -> &'static str {
    match code {
        // Maps appear with the solutions applied after the reset: a name the plan cannot see
        // yet may be right. Stop-maps names only maps the plan read.
        "dwlink::apply::unknown_map" => "after_reset.start_maps names maps the solutions bring",
        "dwlink::apply::backup_unproven" => "a short, empty or mistyped reply at apply time",
        "dwlink::apply::no_backup" => "a plan edited to drop its backup",
        "dwlink::apply::io" | "dwlink::apply::backup" => "the local disk",
        "dwlink::internal::executor" => "a plan edited out of order",
        _ => "",
    }
}

#[test]
fn every_refusal_code_of_the_apply_sources_is_paired() {
    let sources = [
        include_str!("../src/apply/guard.rs"),
        include_str!("../src/apply/steps.rs"),
        include_str!("../src/apply/executor.rs"),
        include_str!("../src/apply/backup_check.rs"),
    ];
    for src in sources {
        for part in src.split('"').skip(1).step_by(2) {
            if part.starts_with("dwlink::apply::") || part.starts_with("dwlink::internal::") {
                let guard_code = [
                    "environment_mismatch",
                    "version",
                    "stale_plan",
                    "protected",
                    "findings",
                    "confirm_fleet",
                    "busy",
                ]
                .iter()
                .any(|c| part == format!("dwlink::apply::{c}"));
                let paired = STEP_REFUSALS.iter().any(|(c, _)| *c == part);
                assert!(guard_code || paired, "{part} has no entry in STEP_REFUSALS");
            }
        }
    }
    // The HTTP link's own refusals of a reset, by message.
    let http = [
        include_str!("../../dwlink-http/src/link/write.rs"),
        include_str!("../../dwlink-http/src/services/dws/reset_body.rs"),
    ]
    .concat();
    for message in [
        "several Dataverse environments",
        "no Power Platform integration",
        "no finance and operations (AX) environment",
        "no Dataverse (CRM) environment to keep",
    ] {
        assert!(
            http.contains(message),
            "the HTTP reset no longer refuses with {message:?}: update STEP_REFUSALS"
        );
    }
    for (code, f) in STEP_REFUSALS {
        if *f == BeforeAnyChange("") {
            assert!(!why_not_foreseen(code).is_empty(), "{code} says why not");
        }
    }
}

/// The plan of `desired` against `world`'s fake, with `edit` applied to the live state first.
async fn planned(
    world: &World,
    desired: &Desired,
    edit: impl FnOnce(&mut dwlink_core::model::live::LiveState),
) -> Plan {
    let fake = world.link();
    fake.edit(edit);
    plan(&fake, desired).await.1
}

fn error(plan: &Plan, code: FindingCode) -> bool {
    plan.findings
        .iter()
        .any(|f| f.code == code && f.severity == Severity::Error)
}

/// A plan with an error finding plans nothing and says what it would have done.
fn withheld_with_reset(plan: &Plan) {
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(plan.summary.destructive, 0);
    let w = plan
        .findings
        .iter()
        .find(|f| f.code == FindingCode::PlanWithheld)
        .expect("a plan.withheld finding");
    assert!(
        w.message.contains("reset-link") && w.message.contains("clear-table"),
        "{}",
        w.message
    );
}

fn no_destructive_action(plan: &Plan) {
    assert!(
        plan.actions.iter().all(|a| !a.destructive),
        "{:?}",
        plan.actions
    );
}

#[tokio::test]
async fn each_foreseeable_refusal_is_an_error_finding_of_the_plan() {
    let world = World::restored_from_production();

    // Never linked: the steps would refuse "no connection set" after the backup and deletes.
    let p = planned(&world, &world.desired, |l| l.connection = None).await;
    assert!(error(&p, FindingCode::ConnectionNone), "{:?}", p.findings);
    assert!(p.actions.is_empty(), "{:?}", p.actions);

    // Several Dataverse entries: the reset's body cannot be built without a guess.
    let p = planned(&world, &world.desired, |l| {
        if let Some(c) = l.connection.as_mut() {
            c.organization = None;
            c.doubt = Some(ConnectionDoubt::SeveralDataverse {
                entries: vec!["CRM".into(), "CDS".into()],
            });
        }
    })
    .await;
    assert!(
        error(&p, FindingCode::ConnectionSeveralDataverse),
        "{:?}",
        p.findings
    );
    assert!(p.actions.is_empty(), "{:?}", p.actions);

    // No AX entry: no reset body names this environment.
    let p = planned(&world, &world.desired, |l| {
        if let Some(c) = l.connection.as_mut() {
            c.doubt = Some(ConnectionDoubt::NoFinanceOperations);
        }
    })
    .await;
    assert!(
        error(&p, FindingCode::ConnectionNoFinanceOperations),
        "{:?}",
        p.findings
    );
    assert!(p.actions.is_empty(), "{:?}", p.actions);

    // Keeping the current organization while the set lists none.
    let mut keep = world.desired.clone();
    keep.link.reset_target = dwlink_core::config::raw::ResetTarget::CurrentEnvironment;
    let p = planned(&world, &keep, |l| {
        if let Some(c) = l.connection.as_mut() {
            c.organization = None;
        }
    })
    .await;
    assert!(
        error(&p, FindingCode::ConnectionNoDataverse),
        "{:?}",
        p.findings
    );
    assert!(p.actions.is_empty(), "{:?}", p.actions);

    // Running maps without force: the service refuses the reset.
    let mut no_force = world.desired.clone();
    no_force.reset.force = false;
    let p = planned(&world, &no_force, |_| {}).await;
    assert!(error(&p, FindingCode::MapsRunning), "{:?}", p.findings);
    withheld_with_reset(&p);

    // No Power Platform link, reset to it.
    let p = planned(&world, &world.desired, |l| {
        l.finance_operations.power_platform_link = None
    })
    .await;
    assert!(
        error(&p, FindingCode::ScenarioNoPowerPlatformLink),
        "{:?}",
        p.findings
    );
    assert!(p.actions.is_empty(), "{:?}", p.actions);

    // Protected.
    let mut protected = world.desired.clone();
    protected.protected = true;
    let p = planned(&world, &protected, |_| {}).await;
    assert!(error(&p, FindingCode::Protected), "{:?}", p.findings);
    withheld_with_reset(&p);
    assert_eq!(
        guard_refusal(&guard::may_execute(&protected, &p).unwrap_err()),
        Finding(FindingCode::Protected)
    );
    // A plan edited to carry the destructive steps back is refused by protection itself.
    let mut edited = p.clone();
    edited.actions = planned(&world, &world.desired, |_| {}).await.actions;
    assert_eq!(
        guard_refusal(&guard::may_execute(&protected, &edited).unwrap_err()),
        Finding(FindingCode::Protected)
    );

    // Every plan above is refused by apply before anything runs.
    for (d, edit) in [(&no_force, false), (&world.desired, true)] {
        let p = if edit {
            planned(&world, d, |l| l.connection = None).await
        } else {
            planned(&world, d, |_| {}).await
        };
        let r = guard::may_execute(d, &p).unwrap_err();
        assert_eq!(guard_refusal(&r), AnyErrorFinding, "{r:?}");
    }
}

#[tokio::test]
async fn a_never_linked_environment_plans_no_backup_delete_or_reset() {
    let world = World::restored_from_production();
    let p = planned(&world, &world.desired, |l| l.connection = None).await;
    no_destructive_action(&p);
    assert!(p.has_errors());
    let f = p
        .findings
        .iter()
        .find(|f| f.code == FindingCode::ConnectionNone)
        .unwrap();
    assert!(
        f.message
            .contains("the dual-write service has no connection set"),
        "{}",
        f.message
    );
}

#[tokio::test]
async fn requests_in_flight_are_a_busy_finding_and_the_plan_withholds_its_actions() {
    let world = World::restored_from_production();
    let fake = world.link();
    fake.start_request_elsewhere("stop map Customers V3 (accounts)");
    let (steps, mut p) = plan(&fake, &world.desired).await;
    assert!(p.actions.iter().any(|a| a.destructive));
    let (conn, requests) = steps.requests_in_flight().await.unwrap().unwrap();
    let shown: Vec<String> = requests.iter().map(|r| r.what.clone()).collect();
    dwlink_core::plan::busy::foresee(&mut p, &conn.name, &shown);
    assert!(error(&p, FindingCode::Busy), "{:?}", p.findings);
    assert!(p.actions.is_empty() && p.summary.destructive == 0);
    assert_eq!(
        guard_refusal(&guard::may_execute(&world.desired, &p).unwrap_err()),
        AnyErrorFinding
    );
}
