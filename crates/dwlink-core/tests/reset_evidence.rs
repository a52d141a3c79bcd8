//! The plan's findings about the evidence a reset rests on, from live states a FakeLink serves:
//! a connection set with several Dataverse entries or with a `directUrl` its
//! `powerAppsEnvironment` contradicts is an error naming both, never a guess; a reset whose
//! request names another organization than the current one says that this rests on inference.

use dwlink_core::diag::Severity;
use dwlink_core::link::Link;
use dwlink_core::model::desired::ResetTarget;
use dwlink_core::model::live::ConnectionDoubt;
use dwlink_core::plan::{FindingCode, Plan};
use dwlink_testkit::{World, PROD, UAT};

async fn plan(w: &World) -> Plan {
    let live = w.link().read(&w.desired).await.expect("fake read");
    Plan::make(&w.desired, &live)
}

fn finding(p: &Plan, code: FindingCode) -> Option<&dwlink_core::plan::Finding> {
    p.findings.iter().find(|f| f.code == code)
}

#[tokio::test]
async fn several_dataverse_entries_are_an_error_naming_them() {
    let mut w = World::restored_from_production();
    let c = w.live.connection.as_mut().unwrap();
    c.organization = None;
    c.doubt = Some(ConnectionDoubt::SeveralDataverse {
        entries: vec![
            "contoso-prod.crm.dynamics.com".into(),
            "contoso-uat.crm.dynamics.com".into(),
        ],
    });
    let p = plan(&w).await;
    let f = finding(&p, FindingCode::ConnectionSeveralDataverse).expect("finding");
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.message
            .contains("contoso-prod.crm.dynamics.com, contoso-uat.crm.dynamics.com"),
        "{}",
        f.message
    );
    assert!(p.has_errors());
}

#[tokio::test]
async fn a_direct_url_its_environment_contradicts_is_an_error_naming_both() {
    let mut w = World::healthy();
    w.live.connection.as_mut().unwrap().doubt = Some(ConnectionDoubt::OrganizationDisagrees {
        direct_url: url::Url::parse(UAT).unwrap(),
        power_apps_environment: "0b8bab0f-7d42-4da1-9604-8e583eed782a".into(),
        environment_url: url::Url::parse(PROD).unwrap(),
    });
    let p = plan(&w).await;
    let f = finding(&p, FindingCode::ConnectionOrganizationDisagrees).expect("finding");
    assert_eq!(f.severity, Severity::Error);
    for both in [
        "contoso-uat.crm.dynamics.com",
        "contoso-prod.crm.dynamics.com",
        "0b8bab0f",
    ] {
        assert!(f.message.contains(both), "{both}: {}", f.message);
    }
}

#[tokio::test]
async fn a_reset_to_another_organization_than_the_current_says_it_rests_on_inference() {
    // Scenario 2 (dual-write on prod, the link uat), reset to the link.
    let w = World::restored_from_production();
    let p = plan(&w).await;
    let f = finding(&p, FindingCode::ResetBodyInferred).expect("finding");
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.message
            .contains("names the Power Platform link's environment https://contoso-uat"),
        "{}",
        f.message
    );
    assert!(f.message.contains("no public evidence"), "{}", f.message);
    // The current organization kept: the same inference, the other way round.
    let mut w = World::restored_from_production();
    w.desired.link.reset_target = ResetTarget::CurrentEnvironment;
    w.desired.dataverse.url = url::Url::parse(PROD).unwrap();
    let p = plan(&w).await;
    let f = finding(&p, FindingCode::ResetBodyInferred).expect("finding");
    assert!(
        f.message
            .contains("names the current environment https://contoso-prod"),
        "{}",
        f.message
    );
    // Scenario 1: the request is DWA's own, nothing inferred.
    let mut w = World::healthy();
    w.desired.reset.when = dwlink_core::model::desired::ResetWhen::Always;
    let p = plan(&w).await;
    assert!(
        finding(&p, FindingCode::ResetBodyInferred).is_none(),
        "{:?}",
        p.findings
    );
}
