//! Declared maps against a FakeLink: the plan's map steps and their order, the findings, a reset
//! that brings every declared map back, convergence, and a new version that fails to start.

mod support;

use dwlink_core::model::desired::{DesiredMap, MapRunState, MapVersion};
use dwlink_core::model::live::{LiveMap, MapState};
use dwlink_core::plan::{Action, ActionKind as K, FindingCode, Plan};
use dwlink_testkit::{Effect, FakeLink, World, CUSTOMERS, VENDORS};
use support::*;

const LEGAL: &str = "Legal entities (cdm_companies)";

fn declared(
    name: &str,
    version: Option<&str>,
    state: MapRunState,
    keys: Option<&[&str]>,
) -> DesiredMap {
    DesiredMap {
        name: name.into(),
        version: version.map(|v| {
            if v == "latest" {
                MapVersion::Latest
            } else {
                MapVersion::Exact(v.into())
            }
        }),
        state,
        integration_keys: keys.map(|k| k.iter().map(|s| s.to_string()).collect()),
        initial_sync: false,
    }
}

/// Customers and Vendors offered at three versions, Customers needing Legal entities first.
fn versioned(world: &mut World) {
    let conn = world.live.connection.as_mut().unwrap();
    conn.maps
        .push(LiveMap::new("map-legal", LEGAL, MapState::Stopped));
    for m in &mut conn.maps {
        m.versions = vec!["1.0.0.1".into(), "1.0.0.2".into(), "1.0.0.3".into()];
        m.version = Some("1.0.0.1".into());
        m.integration_keys = Some(Vec::new());
        m.table = Some(
            m.name
                .rsplit_once(" (")
                .unwrap()
                .1
                .trim_end_matches(')')
                .into(),
        );
        m.prerequisites = Some(if m.name == CUSTOMERS {
            vec![LEGAL.into()]
        } else {
            Vec::new()
        });
    }
    world.desired.after_reset.start_maps.clear();
    world.solutions[0].maps.push(LEGAL.into());
}

fn healthy_versioned() -> World {
    let mut w = World::healthy();
    versioned(&mut w);
    w
}

fn map(fake: &FakeLink, name: &str) -> LiveMap {
    fake.state()
        .connection
        .unwrap()
        .maps
        .into_iter()
        .find(|m| m.name == name)
        .unwrap()
}

/// Other versions, keys and states than [`healthy_versioned`] runs: every kind of map step.
fn drifted_declaration() -> Vec<DesiredMap> {
    vec![
        declared(
            CUSTOMERS,
            Some("1.0.0.3"),
            MapRunState::Running,
            Some(&["accountnumber"]),
        ),
        declared(LEGAL, Some("latest"), MapRunState::Running, None),
        declared(VENDORS, None, MapRunState::Paused, None),
    ]
}

#[tokio::test]
async fn declared_drift_plans_the_services_order_and_one_apply_converges() {
    let mut world = healthy_versioned();
    world.desired.maps = drifted_declaration();
    let fake = world.link();
    let dir = StateDir::new();
    let (plan, result) = apply(&fake, &world.desired, &dir).await;
    assert_eq!(
        kinds(&plan),
        [
            K::StopMaps,
            K::SwitchMapVersion,
            K::SwitchMapVersion,
            K::SetIntegrationKeys,
            K::RefreshTables,
            K::StartMaps,
            K::PauseMaps,
            K::Verify
        ]
    );
    // Customers runs (live), so it stops before its version changes.
    assert_eq!(
        plan.actions[0].action,
        Action::StopMaps {
            maps: vec![CUSTOMERS.into()]
        }
    );
    // Legal entities is Customers' prerequisite: started first.
    let Action::StartMaps { maps, .. } = &plan.actions[5].action else {
        panic!("start-maps")
    };
    assert_eq!(maps, &[LEGAL.to_string(), CUSTOMERS.into(), VENDORS.into()]);
    result.expect("the apply succeeds");
    let c = map(&fake, CUSTOMERS);
    assert_eq!(
        (c.state, c.version.as_deref()),
        (MapState::Running, Some("1.0.0.3"))
    );
    assert_eq!(c.integration_keys, Some(vec!["accountnumber".to_string()]));
    assert_eq!(map(&fake, LEGAL).version.as_deref(), Some("1.0.0.3"));
    assert_eq!(map(&fake, VENDORS).state, MapState::Paused);

    // Applying twice changes nothing.
    let effects = fake.effects().len();
    let (again, result) = apply(&fake, &world.desired, &dir).await;
    assert!(again.actions.is_empty(), "{:?}", kinds(&again));
    result.expect("an empty apply succeeds");
    assert_eq!(fake.effects().len(), effects);
}

#[tokio::test]
async fn a_reset_in_the_same_plan_brings_every_declared_map_back() {
    let mut world = World::restored_from_production();
    versioned(&mut world);
    world.desired.maps = vec![
        declared(
            CUSTOMERS,
            Some("1.0.0.2"),
            MapRunState::Running,
            Some(&["accountnumber"]),
        ),
        declared(LEGAL, Some("1.0.0.1"), MapRunState::Running, None),
    ];
    let fake = world.link();
    let dir = StateDir::new();
    let (plan, result) = apply(&fake, &world.desired, &dir).await;
    let k = kinds(&plan);
    let reset = k.iter().position(|k| *k == K::ResetLink).unwrap();
    // Planned against what the reset leaves: oldest version (1.0.0.1), no keys, stopped.
    assert_eq!(
        k[reset + 1..],
        [
            K::ApplySolutions,
            K::SwitchMapVersion,
            K::SetIntegrationKeys,
            K::RefreshTables,
            K::StartMaps,
            K::Verify
        ]
    );
    result.expect("the apply succeeds");
    let c = map(&fake, CUSTOMERS);
    assert_eq!(
        (c.state, c.version.as_deref()),
        (MapState::Running, Some("1.0.0.2"))
    );
    assert_eq!(c.integration_keys, Some(vec!["accountnumber".to_string()]));
    assert_eq!(map(&fake, LEGAL).state, MapState::Running);
    let (after, _) = plan_only(&fake, &world).await;
    assert!(after.actions.is_empty(), "{:?}", kinds(&after));
}

async fn plan_only(fake: &FakeLink, world: &World) -> (Plan, ()) {
    let (_, plan) = plan(fake, &dwlink_core::apply::verify::settled(&world.desired)).await;
    (plan, ())
}

#[tokio::test]
async fn unknown_maps_versions_and_undeclared_prerequisites_are_findings() {
    let mut world = healthy_versioned();
    world.desired.maps = vec![
        declared("Nope (none)", None, MapRunState::Running, None),
        declared(VENDORS, Some("9.0.0.0"), MapRunState::Running, None),
        declared(CUSTOMERS, None, MapRunState::Running, None),
    ];
    let fake = world.link();
    let (_, plan) = plan(&fake, &world.desired).await;
    let codes: Vec<FindingCode> = plan.findings.iter().map(|f| f.code).collect();
    assert!(codes.contains(&FindingCode::MapsNotFound), "{codes:?}");
    assert!(
        codes.contains(&FindingCode::MapsVersionUnavailable),
        "{codes:?}"
    );
    assert!(
        codes.contains(&FindingCode::MapsPrerequisiteUndeclared),
        "{codes:?}"
    );
    let unavailable = plan
        .findings
        .iter()
        .find(|f| f.code == FindingCode::MapsVersionUnavailable)
        .unwrap();
    assert!(
        unavailable.help.contains("1.0.0.1, 1.0.0.2, 1.0.0.3"),
        "{}",
        unavailable.help
    );
}

#[tokio::test]
async fn a_version_that_fails_to_start_is_put_back_and_the_step_names_both() {
    let mut world = healthy_versioned();
    world.desired.maps = vec![declared(
        VENDORS,
        Some("1.0.0.3"),
        MapRunState::Running,
        None,
    )];
    let fake = world.link();
    fake.fail_start_on_version(VENDORS, "1.0.0.3");
    let dir = StateDir::new();
    let (_, result) = apply(&fake, &world.desired, &dir).await;
    let err = format!("{:?}", result.expect_err("the start fails"));
    assert!(
        err.contains("1.0.0.3") && err.contains("put back on version 1.0.0.1"),
        "{err}"
    );
    assert_eq!(map(&fake, VENDORS).version.as_deref(), Some("1.0.0.1"));
    assert!(fake.effects().contains(&Effect::MapVersionSwitched {
        map: VENDORS.into(),
        version: "1.0.0.1".into()
    }));
}

#[tokio::test]
async fn paused_maps_resume_and_stopped_declarations_stop() {
    let mut world = healthy_versioned();
    world.live.connection.as_mut().unwrap().maps[1].state = MapState::Paused;
    world.desired.maps = vec![
        declared(CUSTOMERS, None, MapRunState::Stopped, None),
        declared(VENDORS, None, MapRunState::Running, None),
    ];
    let fake = world.link();
    let dir = StateDir::new();
    let (plan, result) = apply(&fake, &world.desired, &dir).await;
    assert_eq!(kinds(&plan), [K::StopMaps, K::ResumeMaps, K::Verify]);
    result.expect("the apply succeeds");
    assert_eq!(map(&fake, CUSTOMERS).state, MapState::Stopped);
    assert_eq!(map(&fake, VENDORS).state, MapState::Running);
}

#[tokio::test]
async fn an_apply_interrupted_at_any_map_step_is_finished_by_the_next_one() {
    use dwlink_testkit::{errors, CallKind, Fault};
    for kind in [
        CallKind::StopMap,
        CallKind::SwitchMapVersion,
        CallKind::SetIntegrationKeys,
        CallKind::RefreshTables,
        CallKind::StartMap,
        CallKind::MapRequest,
    ] {
        let mut world = healthy_versioned();
        world.desired.maps = drifted_declaration();
        let fake = world.link();
        // The request reached the service, but its reply was lost.
        fake.inject(Fault::next(kind, errors::unreachable()).after_effect());
        let dir = StateDir::new();
        let (_, first) = apply(&fake, &world.desired, &dir).await;
        assert!(first.is_err(), "{kind:?}: the first apply fails");
        let (_, second) = resume(&fake, &world.desired, &dir)
            .await
            .unwrap_or_else(|p| panic!("{kind:?}: {}", p.message));
        second.unwrap_or_else(|e| panic!("{kind:?}: {e:?}"));
        let c = map(&fake, CUSTOMERS);
        assert_eq!(
            (c.state, c.version.as_deref()),
            (MapState::Running, Some("1.0.0.3")),
            "{kind:?}"
        );
        assert_eq!(map(&fake, LEGAL).state, MapState::Running, "{kind:?}");
        assert_eq!(map(&fake, VENDORS).state, MapState::Paused, "{kind:?}");
        let (_, after) = plan(&fake, &world.desired).await;
        assert!(after.actions.is_empty(), "{kind:?}: {:?}", kinds(&after));
    }
}

#[tokio::test]
async fn a_map_paused_over_a_day_is_a_warning() {
    let mut world = healthy_versioned();
    let day_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(30);
    let hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let maps = &mut world.live.connection.as_mut().unwrap().maps;
    maps[0].state = MapState::Paused;
    maps[0].paused_since = Some(day_ago.to_string());
    maps[1].state = MapState::Paused;
    maps[1].paused_since = Some(hour_ago.to_string());
    let fake = world.link();
    let (_, plan) = plan(&fake, &world.desired).await;
    let long: Vec<&str> = plan
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::MapsPausedTooLong)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(long.len(), 1, "{long:?}");
    assert!(long[0].contains("30 hours"), "{long:?}");
}

#[tokio::test]
async fn map_steps_without_a_reset_verify_despite_other_legal_entities() {
    let mut world = healthy_versioned();
    // Other legal entities alone are a warning: no reset, so verify must not fail on them.
    world.desired.link.legal_entities = vec!["USMF".into()];
    world.desired.maps = vec![declared(VENDORS, None, MapRunState::Running, None)];
    let fake = world.link();
    let dir = StateDir::new();
    let (plan, result) = apply(&fake, &world.desired, &dir).await;
    assert_eq!(kinds(&plan), [K::StartMaps, K::Verify]);
    result.expect("the map steps verify");
}

#[tokio::test]
async fn an_apply_interrupted_after_the_reset_converges_in_one_more_apply() {
    use dwlink_testkit::{errors, CallKind, Fault};
    let mut world = World::restored_from_production();
    versioned(&mut world);
    world.desired.maps = vec![
        declared(
            CUSTOMERS,
            Some("1.0.0.2"),
            MapRunState::Running,
            Some(&["accountnumber"]),
        ),
        declared(LEGAL, Some("1.0.0.1"), MapRunState::Running, None),
        declared(VENDORS, Some("1.0.0.3"), MapRunState::Paused, None),
    ];
    let fake = world.link();
    fake.inject(Fault::next(CallKind::ApplySolution, errors::unreachable()));
    let dir = StateDir::new();
    let (_, first) = apply(&fake, &world.desired, &dir).await;
    assert!(first.is_err(), "interrupted before the solutions");

    // The maps are gone: the re-plan applies the solutions and takes the interrupted plan's map
    // steps, in its order, with a warning per map instead of an error.
    let (fresh, second) = resume(&fake, &world.desired, &dir).await.expect("resumes");
    assert_eq!(
        kinds(&fresh),
        [
            K::ApplySolutions,
            K::SwitchMapVersion,
            K::SwitchMapVersion,
            K::SetIntegrationKeys,
            K::RefreshTables,
            K::StartMaps,
            K::PauseMaps,
            K::Verify
        ]
    );
    assert!(!fresh.has_errors(), "{:?}", fresh.findings);
    let start = fresh
        .actions
        .iter()
        .find_map(|a| match &a.action {
            Action::StartMaps { maps, .. } => Some(maps.clone()),
            _ => None,
        })
        .unwrap();
    let legal = start.iter().position(|m| m == LEGAL).unwrap();
    let customers = start.iter().position(|m| m == CUSTOMERS).unwrap();
    assert!(legal < customers, "prerequisites first: {start:?}");
    second.expect("one more apply converges");

    let c = map(&fake, CUSTOMERS);
    assert_eq!(
        (c.state, c.version.as_deref()),
        (MapState::Running, Some("1.0.0.2"))
    );
    assert_eq!(c.integration_keys, Some(vec!["accountnumber".to_string()]));
    let v = map(&fake, VENDORS);
    assert_eq!(
        (v.state, v.version.as_deref()),
        (MapState::Paused, Some("1.0.0.3"))
    );
    let (_, after) = plan(&fake, &world.desired).await;
    assert!(after.actions.is_empty(), "{:?}", kinds(&after));
}

#[tokio::test]
async fn keys_of_a_map_without_a_project_are_a_warning_and_no_step_that_never_converges() {
    let mut world = healthy_versioned();
    // No project (`pid`): its keys read as unknown.
    for m in &mut world.live.connection.as_mut().unwrap().maps {
        if m.name == LEGAL {
            m.integration_keys = None;
        }
    }
    world.desired.maps = vec![declared(
        LEGAL,
        Some("1.0.0.1"),
        MapRunState::Running,
        Some(&["cdm_companycode"]),
    )];
    let fake = world.link();
    let dir = StateDir::new();
    let (plan, result) = apply(&fake, &world.desired, &dir).await;
    assert_eq!(kinds(&plan), [K::StartMaps, K::Verify]);
    let f = plan
        .findings
        .iter()
        .find(|f| f.code == FindingCode::MapsKeysUnreadable)
        .expect("a keys-unreadable finding");
    assert_eq!(f.severity, dwlink_core::diag::Severity::Warning);
    assert!(f.message.contains(LEGAL), "{}", f.message);
    result.expect("the start verifies");
    let (after, _) = plan_only(&fake, &world).await;
    assert!(after.actions.is_empty(), "{:?}", kinds(&after));
}
