//! The reset on evidence, against the emulator over HTTP: the body names the declared target and
//! the emulator relinks there; a reset is sent once, read back for its whole window after a lost
//! reply, and sent again only when a read proves it did not run. Windows are scaled down (a
//! reset of "60 s" takes 600 ms here, its "300 s" window 3 s): no test waits like the service.

use std::time::Duration;

use axum::http::Method;

use dwlink_core::fixture;
use dwlink_core::link::{Link, ProviderError, ResetOptions};
use dwlink_core::model::desired::{DualWriteAuth, ResetTarget};
use dwlink_core::model::live::{ConnectionDoubt, MapState};
use dwlink_emulator::{self as emulator, Options, RunningEmulator};
use dwlink_http::HttpProvider;

use crate::provider_support::proxy::{serve_proxy, Lose, Proxy, Rule};
use crate::provider_support::*;

/// The quickstart world (scenario 2: dual-write on contoso-prod, the Power Platform link
/// contoso-uat) with `extra` fixture lines, behind a counting proxy; the provider's reset window
/// is `window`.
async fn world(extra: &str, window: Duration) -> (RunningEmulator, Proxy, HttpProvider) {
    let text = format!(
        "{}\n{extra}\n",
        fixture::QUICKSTART.replace("emulator-secret", SECRET)
    );
    let f = fixture::parse_str("test.yaml", &text).unwrap_or_else(|p| panic!("{:?}", p.0));
    let emu = emulator::spawn(f, Options::default()).await.unwrap();
    let proxy = serve_proxy(emu.url()).await;
    let mut s = settings(&proxy.url);
    s.reset_window = window;
    s.poll_interval = Duration::from_millis(20);
    let p = HttpProvider::new(&desired(DualWriteAuth::ClientCredentials), s).unwrap();
    (emu, proxy, p)
}

fn reset_to(target: ResetTarget) -> ResetOptions {
    ResetOptions {
        force: true,
        target,
        legal_entities: vec!["USMF".into()],
    }
}

fn lose_reset(proxy: &Proxy, lose: Lose, times: usize) {
    proxy.lose(Rule {
        method: Method::POST,
        path_ends_with: "/Reset".into(),
        lose,
        times,
    });
}

async fn linked_host(p: &HttpProvider) -> String {
    let c = p
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap()
        .connection
        .unwrap();
    assert!(c.maps.is_empty(), "a reset removes every map: {:?}", c.maps);
    assert_eq!(c.legal_entities, ["USMF"]);
    c.organization.unwrap().url.host_str().unwrap().to_string()
}

/// The done-when of issue 21: a 504 on a reset that takes 60 s leads to exactly one reset POST.
#[tokio::test]
async fn a_504_on_a_reset_that_takes_60_s_leads_to_exactly_one_reset_post() {
    // Whether the reset's effect shows at once or only when it is done, dwlink reads until it
    // sees it, within the reset's window, and never sends a second reset.
    for effect in ["start", "end"] {
        let extra = format!("async_ms: 20\nreset_ms: 600\nreset_effect: {effect}");
        let (emu, proxy, p) = world(&extra, Duration::from_secs(3)).await;
        let c = p
            .read(&desired(DualWriteAuth::ClientCredentials))
            .await
            .unwrap()
            .connection
            .unwrap();
        lose_reset(&proxy, Lose::GatewayTimeout(Duration::from_millis(50)), 1);
        p.reset(&c, &reset_to(ResetTarget::PowerPlatformLink))
            .await
            .unwrap_or_else(|e| panic!("{effect}: {e}"));
        assert_eq!(
            proxy.count(&Method::POST, "/Reset"),
            (1, 1),
            "effect at the {effect}"
        );
        assert_eq!(linked_host(&p).await, "contoso-uat.crm.dynamics.com");
        emu.shutdown().await;
    }
}

#[tokio::test]
async fn the_power_platform_link_target_relinks_to_the_link() {
    let (emu, proxy, p) = world("async_ms: 20", Duration::from_secs(3)).await;
    let c = p
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap()
        .connection
        .unwrap();
    p.reset(&c, &reset_to(ResetTarget::PowerPlatformLink))
        .await
        .unwrap();
    assert_eq!(proxy.count(&Method::POST, "/Reset"), (1, 1));
    assert_eq!(linked_host(&p).await, "contoso-uat.crm.dynamics.com");
    emu.shutdown().await;
}

/// Scenario 2 with `reset_target: current-environment`: DWA's own body (the current CRM entry),
/// which the emulator honours by keeping the current organization.
#[tokio::test]
async fn the_current_environment_target_keeps_the_current_organization() {
    let (emu, _proxy, p) = world("async_ms: 20", Duration::from_secs(3)).await;
    let c = p
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap()
        .connection
        .unwrap();
    p.reset(&c, &reset_to(ResetTarget::CurrentEnvironment))
        .await
        .unwrap();
    assert_eq!(linked_host(&p).await, "contoso-prod.crm.dynamics.com");
    emu.shutdown().await;
}

/// A 503 before the service saw the reset: after the whole window, the maps the reset would
/// have removed are still listed with their projects, which proves it did not run; only then
/// is it sent again.
#[tokio::test]
async fn a_reset_is_sent_again_only_when_a_read_proves_it_did_not_run() {
    let (emu, proxy, p) = world("async_ms: 20", Duration::from_millis(300)).await;
    let c = p
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap()
        .connection
        .unwrap();
    lose_reset(&proxy, Lose::Before, 1);
    p.reset(&c, &reset_to(ResetTarget::PowerPlatformLink))
        .await
        .unwrap();
    assert_eq!(proxy.count(&Method::POST, "/Reset"), (2, 1));
    assert_eq!(linked_host(&p).await, "contoso-uat.crm.dynamics.com");
    emu.shutdown().await;
}

/// A connection set with no map: a reset that ran and one that did not look alike to every read
/// except the one that shows the outcome, so a lost reply is never followed by a second reset.
#[tokio::test]
async fn a_lost_reset_that_no_read_can_prove_unrun_is_not_sent_again() {
    let text = "async_ms: 20";
    let (emu, proxy, _) = world(text, Duration::from_millis(300)).await;
    emu.shutdown().await;
    drop(proxy);
    let no_maps = fixture::QUICKSTART
        .replace("emulator-secret", SECRET)
        .replace(
            "        - {name: Customers V3 (accounts), state: running}\n",
            "",
        )
        .replace(
            "        - {name: Vendors V2 (msdyn_vendors), state: running}\n",
            "",
        )
        .replace(
            "        - {name: Released products V2 (msdyn_sharedproductdetails), state: stopped}\n",
            "",
        )
        .replace("      maps:\n", "      maps: []\n");
    let f = fixture::parse_str("no-maps.yaml", &format!("{no_maps}\n{text}\n"))
        .unwrap_or_else(|p| panic!("{:?}", p.0));
    let emu = emulator::spawn(f, Options::default()).await.unwrap();
    let proxy = serve_proxy(emu.url()).await;
    let mut s = settings(&proxy.url);
    s.reset_window = Duration::from_millis(300);
    let p = HttpProvider::new(&desired(DualWriteAuth::ClientCredentials), s).unwrap();
    let c = p
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap()
        .connection
        .unwrap();
    assert!(c.maps.is_empty());
    lose_reset(&proxy, Lose::Before, 5);
    let e = p
        .reset(&c, &reset_to(ResetTarget::PowerPlatformLink))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::RequestTimedOut { .. }), "{e}");
    let shown = e.to_string();
    assert!(
        shown.contains("HTTP 503") && shown.contains("does not send it again"),
        "{shown}"
    );
    assert_eq!(proxy.count(&Method::POST, "/Reset"), (1, 0));
    emu.shutdown().await;
}

/// The quickstart world with lines added to its connection set (`dual_write`) and to its F&O
/// environment, served directly.
async fn shaped(dual_write: &str, fo: &str) -> (RunningEmulator, HttpProvider) {
    let text = fixture::QUICKSTART
        .replace("emulator-secret", SECRET)
        .replace(
            "      legal_entities: [USMF, DEMF]\n",
            &format!("      legal_entities: [USMF, DEMF]\n{dual_write}"),
        )
        .replace(
            "    power_platform_link: https://contoso-uat.crm.dynamics.com\n",
            &format!("    power_platform_link: https://contoso-uat.crm.dynamics.com\n{fo}"),
        );
    let f = fixture::parse_str("shaped.yaml", &format!("{text}\nasync_ms: 20\n"))
        .unwrap_or_else(|p| panic!("{:?}", p.0));
    let emu = emulator::spawn(f, Options::default()).await.unwrap();
    let mut s = settings(&emu.url());
    s.reset_window = Duration::from_secs(3);
    let p = HttpProvider::new(&desired(DualWriteAuth::ClientCredentials), s).unwrap();
    (emu, p)
}

#[tokio::test]
async fn several_dataverse_entries_are_read_as_a_doubt_and_never_reset_by_guess() {
    let (emu, p) = shaped(
        "      extra_dataverse: [https://contoso-uat.crm.dynamics.com]\n",
        "",
    )
    .await;
    let c = p
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap()
        .connection
        .unwrap();
    assert_eq!(c.organization, None);
    assert_eq!(
        c.doubt,
        Some(ConnectionDoubt::SeveralDataverse {
            entries: vec![
                "contoso-prod.crm.dynamics.com".into(),
                "contoso-uat.crm.dynamics.com".into()
            ]
        })
    );
    let e = p
        .reset(&c, &reset_to(ResetTarget::CurrentEnvironment))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("does not guess"), "{e}");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_direct_url_its_power_apps_environment_contradicts_is_read_as_a_doubt() {
    // Connected to contoso-prod by `directUrl`, the entry's environment is contoso-uat's.
    let (emu, p) = shaped(
        "      power_apps_environment_of: https://contoso-uat.crm.dynamics.com\n",
        "",
    )
    .await;
    let c = p
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap()
        .connection
        .unwrap();
    match c.doubt {
        Some(ConnectionDoubt::OrganizationDisagrees {
            direct_url,
            environment_url,
            ..
        }) => {
            assert_eq!(direct_url.host_str(), Some("contoso-prod.crm.dynamics.com"));
            assert_eq!(
                environment_url.host_str(),
                Some("contoso-uat.crm.dynamics.com")
            );
        }
        other => panic!("{other:?}"),
    }
    emu.shutdown().await;
}

/// A set without its AX entry is a doubt the plan reports (and withholds its steps for), and
/// the reset is refused before anything is sent.
#[tokio::test]
async fn a_connection_set_without_its_finance_and_operations_entry_is_read_as_a_doubt() {
    let (emu, p) = shaped("      without_finance_operations_entry: true\n", "").await;
    let d = desired(DualWriteAuth::ClientCredentials);
    let live = p.read(&d).await.unwrap();
    let c = live.connection.clone().unwrap();
    assert_eq!(c.doubt, Some(ConnectionDoubt::NoFinanceOperations));
    let plan = dwlink_core::plan::Plan::make(&d, &live);
    assert!(
        plan.findings
            .iter()
            .any(|f| f.code == dwlink_core::plan::FindingCode::ConnectionNoFinanceOperations),
        "{:?}",
        plan.findings
    );
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    let e = p
        .reset(&c, &reset_to(ResetTarget::CurrentEnvironment))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no finance and operations (AX) environment"),
        "{e}"
    );
    emu.shutdown().await;
}

/// Every F&O environment's initial Power Platform environment is linked to it without a
/// Dataverse: scenario 3, not a bad reply.
#[tokio::test]
async fn a_linked_environment_without_dataverse_is_scenario_3() {
    let text = fixture::QUICKSTART
        .replace("emulator-secret", SECRET)
        .replace(
            "    power_platform_link: https://contoso-uat.crm.dynamics.com\n",
            "    power_platform_link: null\n    initial_power_platform_environment: true\n",
        );
    let f = fixture::parse_str("initial.yaml", &format!("{text}\nasync_ms: 20\n"))
        .unwrap_or_else(|p| panic!("{:?}", p.0));
    let emu = emulator::spawn(f, Options::default()).await.unwrap();
    let p = HttpProvider::new(
        &desired(DualWriteAuth::ClientCredentials),
        settings(&emu.url()),
    )
    .unwrap();
    let d = desired(DualWriteAuth::ClientCredentials);
    let live = p.read(&d).await.unwrap();
    assert_eq!(live.finance_operations.power_platform_link, None);
    let plan = dwlink_core::plan::Plan::make(&d, &live);
    assert_eq!(plan.scenario.number, 3, "{:?}", plan.findings);
    emu.shutdown().await;
}

/// The set prints another `name` than the lookup's `cname`: every read of it, the reset's
/// included, goes by `cname`, as DWA's do.
#[tokio::test]
async fn the_connection_set_is_read_by_the_lookups_cname() {
    let (emu, p) = shaped("      set_name: Contoso UAT dual-write\n", "").await;
    let c = p
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap()
        .connection
        .unwrap();
    assert_eq!(c.name, "dw-contoso-uat");
    p.reset(&c, &reset_to(ResetTarget::PowerPlatformLink))
        .await
        .unwrap();
    assert_eq!(linked_host(&p).await, "contoso-uat.crm.dynamics.com");
    emu.shutdown().await;
}

#[tokio::test]
async fn null_and_numeric_map_states_are_read_as_dwa_reads_them() {
    for (shape, want) in [
        (
            "number",
            [MapState::Running, MapState::Stopped, MapState::Running],
        ),
        ("json-null", [MapState::NotRunning; 3]),
    ] {
        let (emu, p) = shaped(&format!("      map_state_shape: {shape}\n"), "").await;
        let c = p
            .read(&desired(DualWriteAuth::ClientCredentials))
            .await
            .unwrap()
            .connection
            .unwrap();
        let states: Vec<MapState> = c.maps.iter().map(|m| m.state).collect();
        assert_eq!(states, want, "{shape}: {:?}", c.maps);
        emu.shutdown().await;
    }
}
