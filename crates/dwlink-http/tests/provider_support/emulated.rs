//! The provider against the in-process emulator: the same client code as production, routed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::Method;

use dwlink_core::fixture;
use dwlink_core::link::{DeleteReport, Link, ProviderError, ResetOptions, TableRef};
use dwlink_core::model::desired::{DualWriteAuth, EnvironmentType, ResetTarget};
use dwlink_core::model::live::{MapState, Unreadable};
use dwlink_emulator::{self as emulator, FaultOptions, Options, RunningEmulator};
use dwlink_http::HttpProvider;

use super::proxy::{serve_proxy, Lose, Proxy, Rule};
use super::*;

async fn start(extra: &str, options: Options) -> RunningEmulator {
    let text = format!(
        "{}\n{extra}\n",
        fixture::QUICKSTART.replace("emulator-secret", SECRET)
    );
    let f = fixture::parse_str("test.yaml", &text).unwrap_or_else(|p| panic!("{:?}", p.0));
    emulator::spawn(f, options).await.unwrap()
}

fn emulated(emu: &RunningEmulator) -> HttpProvider {
    let mut s = settings(&emu.url());
    // Small pages so the 2,400 field configurations take several nextLinks.
    s.paging.page_size = 500;
    s.fo_batch_size = 50;
    HttpProvider::new(&desired(DualWriteAuth::ClientCredentials), s).unwrap()
}

#[tokio::test]
async fn reads_the_quickstart_world_across_pages() {
    let emu = start("async_ms: 20", Options::default()).await;
    let p = emulated(&emu);
    let d = desired(DualWriteAuth::ClientCredentials);
    let live = p.read(&d).await.unwrap();
    assert_eq!(
        live.finance_operations.environment_type,
        EnvironmentType::Sandbox
    );
    let ppl = live
        .finance_operations
        .power_platform_link
        .as_ref()
        .unwrap();
    assert_eq!(ppl.url.as_str(), "https://contoso-uat.crm.dynamics.com/");
    let c = live.connection.as_ref().unwrap();
    assert_eq!(
        c.organization.as_ref().unwrap().url.host_str(),
        Some("contoso-prod.crm.dynamics.com")
    );
    assert_eq!(c.legal_entities, ["DEMF", "USMF"]);
    let maps: Vec<(&str, MapState)> = c.maps.iter().map(|m| (m.name.as_str(), m.state)).collect();
    assert_eq!(maps[0], ("Customers V3 (accounts)", MapState::Running));
    assert_eq!(maps.len(), 3);
    // F&O's `$metadata` lists no set for the field configurations and business events: they are
    // not counted, not 0.
    let rows: Vec<Option<usize>> = live.key_tables.iter().map(|t| t.count()).collect();
    assert_eq!(rows, [Some(120), None, None, Some(12)]);
    assert_eq!(live.key_tables[1].unreadable, Some(Unreadable::NoODataSet));
    let projects = &live.key_tables[0];
    assert_eq!(
        projects
            .external_urls
            .get("https://contoso-prod.crm.dynamics.com/"),
        Some(&120)
    );
    // The emulator's Attributes list no column naming the organization: nothing is counted by one.
    assert!(live.key_tables[3].secure_config_organizations.is_empty());
    assert_eq!(live.key_tables[3].fact_column, None);
    assert_eq!(
        projects.fact_column.as_deref(),
        Some("ExternalEnvironmentUrl")
    );
    assert_eq!(
        live.key_tables[3].entity_set,
        "msdyn_dualwriteruntimeconfigs"
    );
    assert_eq!(live.dataverse.friendly_name.as_deref(), Some("ContosoUAT"));
    // Deterministic: a second read is the same state with the same fingerprint.
    assert_eq!(p.read(&d).await.unwrap().fingerprint(), live.fingerprint());
    emu.shutdown().await;
}

#[tokio::test]
async fn backs_up_deletes_and_restores_rows_in_batches() {
    let emu = start("async_ms: 20", Options::default()).await;
    let p = emulated(&emu);
    let d = desired(DualWriteAuth::ClientCredentials);
    let live = p.read(&d).await.unwrap();
    for t in [&live.key_tables[0], &live.key_tables[3]] {
        let table = TableRef::from(t);
        let backup = p.read_rows(&table).await.unwrap();
        assert_eq!(backup.len(), t.rows());
        let report = p.delete_rows(&table, &t.keys).await.unwrap();
        assert_eq!(report.deleted, t.rows());
        // A second run finds them gone and still succeeds.
        let again = p.delete_rows(&table, &t.keys[..3]).await.unwrap();
        assert_eq!(again.already_gone, 3);
        let rows: Vec<_> = backup.iter().collect();
        assert_eq!(p.create_rows(&table, &rows).await.unwrap(), t.rows());
    }
    let projects = p
        .read_rows(&TableRef::from(&live.key_tables[0]))
        .await
        .unwrap();
    assert!(
        projects[0].contains_key("ServiceBusConnectionString"),
        "backups keep every column"
    );
    assert_eq!(p.read(&d).await.unwrap().fingerprint(), live.fingerprint());
    emu.shutdown().await;
}

#[tokio::test]
async fn resets_and_brings_maps_back() {
    let emu = start("async_ms: 20", Options::default()).await;
    let p = emulated(&emu);
    let d = desired(DualWriteAuth::ClientCredentials);
    let c = p.read(&d).await.unwrap().connection.unwrap();
    let opts = ResetOptions {
        force: false,
        target: ResetTarget::PowerPlatformLink,
        legal_entities: vec!["USMF".into()],
    };
    let refused = p.reset(&c, &opts).await.unwrap_err();
    assert!(
        matches!(refused, ProviderError::Status { status: 409, .. }),
        "{refused}"
    );
    for m in c.maps.iter().filter(|m| m.state.is_active()) {
        let r = p.stop_map(&c.id, &m.id, &m.name).await.unwrap();
        p.wait_for_request(&r, Duration::from_secs(5))
            .await
            .unwrap();
    }
    let r = p.reset(&c, &opts).await.unwrap();
    p.wait_for_request(&r, Duration::from_secs(5))
        .await
        .unwrap();
    let live = p.read(&d).await.unwrap();
    let c = live.connection.unwrap();
    assert_eq!(
        c.organization.as_ref().unwrap().url.host_str(),
        Some("contoso-uat.crm.dynamics.com")
    );
    assert_eq!(c.legal_entities, ["USMF"]);
    assert!(live
        .key_tables
        .iter()
        .all(|t| t.rows() == 0 || t.table == "BusinessEventsDefinition"));
    let sols = p.list_solutions(&c.id).await.unwrap();
    let r = p.apply_solution(&c, &sols[0].name).await.unwrap();
    p.wait_for_request(&r, Duration::from_secs(5))
        .await
        .unwrap();
    let live = p.read(&d).await.unwrap();
    let c = live.connection.unwrap();
    // Only the reset sets legal entities; applying a solution keeps them.
    assert_eq!(c.legal_entities, ["USMF"]);
    assert!(!c.maps.is_empty() && c.maps.iter().all(|m| m.state == MapState::Stopped));
    let m = &c.maps[0];
    let r = p.start_map(&c.id, &m.id, &m.name).await.unwrap();
    p.wait_for_request(&r, Duration::from_secs(5))
        .await
        .unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn a_slow_request_times_out_instead_of_passing() {
    let emu = start("async_ms: 5000", Options::default()).await;
    let p = emulated(&emu);
    let c = p
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap()
        .connection
        .unwrap();
    let r = p
        .stop_map(&c.id, &c.maps[0].id, &c.maps[0].name)
        .await
        .unwrap();
    let e = p
        .wait_for_request(&r, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "dwlink::provider::request_timeout", "{e}");
    emu.shutdown().await;
}

#[tokio::test]
async fn rate_limits_and_short_tokens_are_survived() {
    let options = Options {
        faults: FaultOptions {
            rate_limit: Some(20),
            ..FaultOptions::default()
        },
        token_ttl_secs: Some(1),
        ..Options::default()
    };
    let emu = start("async_ms: 20", options).await;
    let p = emulated(&emu);
    let d = desired(DualWriteAuth::ClientCredentials);
    let live = p.read(&d).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(p.read(&d).await.unwrap(), live);
    emu.shutdown().await;
}

#[tokio::test]
async fn device_code_signs_in_once_then_uses_the_cache() {
    let emu = start("async_ms: 20", Options::default()).await;
    let dir = std::env::temp_dir().join(format!("dwlink-dc-{}", uuid::Uuid::new_v4()));
    let cache = dir.join("tokens.json");
    let shown: Arc<Mutex<Vec<String>>> = Arc::default();
    let d = desired(DualWriteAuth::DeviceCode);
    let mut s = settings(&emu.url());
    s.device_code.interactive = true;
    s.device_code.cache_file = Some(cache.clone());
    let sink = shown.clone();
    s.device_code.notify = Some(Arc::new(move |m: &str| {
        sink.lock().unwrap().push(m.to_string())
    }));
    HttpProvider::new(&d, s).unwrap().read(&d).await.unwrap();
    assert_eq!(shown.lock().unwrap().len(), 1);
    assert!(shown.lock().unwrap()[0].contains("devicelogin"));
    // Non-interactive now, from the cache (refreshing when needed), without a prompt.
    let mut s = settings(&emu.url());
    s.device_code.cache_file = Some(cache.clone());
    HttpProvider::new(&d, s).unwrap().read(&d).await.unwrap();
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(text.contains("refresh_token"));
    std::fs::remove_dir_all(dir).unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn reads_over_tls_with_the_emulator_ca() {
    let dir = std::env::temp_dir().join(format!("dwlink-tls-{}", uuid::Uuid::new_v4()));
    let options = Options {
        tls: true,
        tls_dir: Some(dir.clone()),
        ..Options::default()
    };
    let emu = start("async_ms: 20", options).await;
    assert!(emu.url().starts_with("https://"));
    let mut s = settings(&emu.url());
    s.client.extra_root_pem = emu.ca_pem().map(|p| p.as_bytes().to_vec());
    let d = desired(DualWriteAuth::ClientCredentials);
    let live = HttpProvider::new(&d, s).unwrap().read(&d).await.unwrap();
    assert_eq!(live.key_tables[0].rows(), 120);
    emu.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The quickstart world with `project_rows` project configurations, behind a counting proxy.
async fn start_behind_proxy(
    project_rows: usize,
    options: Options,
) -> (RunningEmulator, Proxy, HttpProvider) {
    let text = format!(
        "{}\nasync_ms: 20\n",
        fixture::QUICKSTART
            .replace("emulator-secret", SECRET)
            .replace(
                "DualWriteProjectConfiguration: {generate: 120}",
                &format!("DualWriteProjectConfiguration: {{generate: {project_rows}}}"),
            )
    );
    let f = fixture::parse_str("test.yaml", &text).unwrap_or_else(|p| panic!("{:?}", p.0));
    let emu = emulator::spawn(f, options).await.unwrap();
    let proxy = serve_proxy(emu.url()).await;
    let mut s = settings(&proxy.url);
    s.fo_batch_size = 1000;
    let p = HttpProvider::new(&desired(DualWriteAuth::ClientCredentials), s).unwrap();
    (emu, proxy, p)
}

/// Deletes 5,000 project rows after two near the start went already; the requests it took.
async fn clear_with_two_gone(strip_content_ids: bool) -> (DeleteReport, usize, Duration) {
    let options = Options {
        faults: FaultOptions {
            latency_ms: 5,
            ..FaultOptions::default()
        },
        ..Options::default()
    };
    let (emu, proxy, p) = start_behind_proxy(5000, options).await;
    let live = p
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap();
    let t = &live.key_tables[0];
    assert_eq!(t.rows(), 5000);
    let table = TableRef::from(t);
    // An earlier run was interrupted after these two went.
    let gone = [t.keys[1].clone(), t.keys[3].clone()];
    assert_eq!(p.delete_rows(&table, &gone).await.unwrap().deleted, 2);
    proxy.clear();
    proxy
        .strip_content_ids
        .store(strip_content_ids, std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    let report = p.delete_rows(&table, &t.keys).await.unwrap();
    let took = started.elapsed();
    let requests = proxy.count(&Method::POST, "/$batch").0 + proxy.count(&Method::DELETE, "").0;
    proxy
        .strip_content_ids
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(p.read_rows(&table).await.unwrap().is_empty());
    emu.shutdown().await;
    eprintln!(
        "5,000 rows, 2 gone, 5 ms latency, content ids {}: {requests} requests, {took:?}",
        if strip_content_ids {
            "stripped"
        } else {
            "kept"
        }
    );
    (report, requests, took)
}

#[tokio::test]
async fn gone_keys_in_a_change_set_are_rebatched_not_deleted_one_by_one() {
    let (report, requests, _) = clear_with_two_gone(false).await;
    assert_eq!(
        report,
        DeleteReport {
            deleted: 4998,
            already_gone: 2
        }
    );
    // Five change sets of 1,000, and one more for each gone key the answers named.
    assert_eq!(requests, 7);
}

#[tokio::test]
async fn gone_keys_are_found_by_halving_when_the_answer_names_no_request() {
    let (report, requests, _) = clear_with_two_gone(true).await;
    assert_eq!(
        report,
        DeleteReport {
            deleted: 4998,
            already_gone: 2
        }
    );
    // About 2 x log2(1,000) more than the five change sets, far from one per row.
    assert!((7..=40).contains(&requests), "{requests} requests");
}

fn lose(proxy: &Proxy, suffix: &str, lose: Lose) {
    proxy.lose(Rule {
        method: Method::POST,
        path_ends_with: suffix.into(),
        lose,
        times: 1,
    });
}

fn force_reset() -> ResetOptions {
    ResetOptions {
        force: true,
        target: ResetTarget::PowerPlatformLink,
        legal_entities: vec!["USMF".into()],
    }
}

/// The connection as a completed reset of the quickstart world leaves it.
async fn assert_reset(p: &HttpProvider) {
    let c = p
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap()
        .connection
        .unwrap();
    assert_eq!(
        c.organization.unwrap().url.host_str(),
        Some("contoso-uat.crm.dynamics.com")
    );
    assert_eq!(c.legal_entities, ["USMF"]);
    assert!(c.maps.is_empty(), "{:?}", c.maps);
}

#[tokio::test]
async fn a_reset_the_service_never_saw_is_sent_again() {
    let (emu, proxy, p) = start_behind_proxy(120, Options::default()).await;
    let d = desired(DualWriteAuth::ClientCredentials);
    let c = p.read(&d).await.unwrap().connection.unwrap();
    lose(&proxy, "/Reset", Lose::Before);
    let r = p.reset(&c, &force_reset()).await.unwrap();
    p.wait_for_request(&r, Duration::from_secs(5))
        .await
        .unwrap();
    // Sent twice, received once: one reset.
    assert_eq!(proxy.count(&Method::POST, "/Reset"), (2, 1));
    assert_reset(&p).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn a_reset_that_ran_though_its_reply_was_lost_is_not_sent_again() {
    let (emu, proxy, p) = start_behind_proxy(120, Options::default()).await;
    let d = desired(DualWriteAuth::ClientCredentials);
    let c = p.read(&d).await.unwrap().connection.unwrap();
    lose(&proxy, "/Reset", Lose::After);
    let r = p.reset(&c, &force_reset()).await.unwrap();
    p.wait_for_request(&r, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(proxy.count(&Method::POST, "/Reset"), (1, 1));
    assert_reset(&p).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn a_map_stop_that_ran_though_its_reply_was_lost_is_not_sent_again() {
    let (emu, proxy, p) = start_behind_proxy(120, Options::default()).await;
    let d = desired(DualWriteAuth::ClientCredentials);
    let c = p.read(&d).await.unwrap().connection.unwrap();
    let m = c
        .maps
        .iter()
        .find(|m| m.state == MapState::Running)
        .unwrap();
    lose(&proxy, "/Start", Lose::After);
    let r = p.stop_map(&c.id, &m.id, &m.name).await.unwrap();
    p.wait_for_request(&r, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(proxy.count(&Method::POST, "/Start"), (1, 1));
    let c = p.read(&d).await.unwrap().connection.unwrap();
    let after = c.maps.iter().find(|x| x.id == m.id).unwrap();
    assert_eq!(after.state, MapState::Stopped);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_map_start_the_service_never_saw_is_sent_again() {
    let (emu, proxy, p) = start_behind_proxy(120, Options::default()).await;
    let d = desired(DualWriteAuth::ClientCredentials);
    let c = p.read(&d).await.unwrap().connection.unwrap();
    let m = c
        .maps
        .iter()
        .find(|m| m.state == MapState::Stopped)
        .unwrap();
    lose(&proxy, "/Start", Lose::Before);
    let r = p.start_map(&c.id, &m.id, &m.name).await.unwrap();
    p.wait_for_request(&r, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(proxy.count(&Method::POST, "/Start"), (2, 1));
    let c = p.read(&d).await.unwrap().connection.unwrap();
    let after = c.maps.iter().find(|x| x.id == m.id).unwrap();
    assert_eq!(after.state, MapState::Running);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_solution_applied_though_its_reply_was_lost_is_not_applied_again() {
    let (emu, proxy, p) = start_behind_proxy(120, Options::default()).await;
    let d = desired(DualWriteAuth::ClientCredentials);
    let c = p.read(&d).await.unwrap().connection.unwrap();
    let r = p.reset(&c, &force_reset()).await.unwrap();
    p.wait_for_request(&r, Duration::from_secs(5))
        .await
        .unwrap();
    let sols = p.list_solutions(&c.id).await.unwrap();
    lose(&proxy, "/RestoreTemplates", Lose::After);
    let r = p.apply_solution(&c, &sols[0].name).await.unwrap();
    p.wait_for_request(&r, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(proxy.count(&Method::POST, "/RestoreTemplates"), (1, 1));
    let c = p.read(&d).await.unwrap().connection.unwrap();
    let names: Vec<&str> = c.maps.iter().map(|m| m.name.as_str()).collect();
    // The listing names no maps (real contract): applied once means each map once.
    let mut distinct = names.clone();
    distinct.dedup();
    assert!(!names.is_empty() && distinct == names, "{names:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_reset_whose_reply_is_lost_every_time_fails_after_three_sends() {
    let (emu, proxy, p) = start_behind_proxy(120, Options::default()).await;
    let d = desired(DualWriteAuth::ClientCredentials);
    let c = p.read(&d).await.unwrap().connection.unwrap();
    proxy.lose(Rule {
        method: Method::POST,
        path_ends_with: "/Reset".into(),
        lose: Lose::Before,
        times: 100,
    });
    let e = p.reset(&c, &force_reset()).await.unwrap_err();
    assert!(
        matches!(e, ProviderError::Status { status: 503, .. }),
        "{e}"
    );
    assert_eq!(proxy.count(&Method::POST, "/Reset"), (3, 0));
    emu.shutdown().await;
}

#[tokio::test]
async fn dataverse_names_the_fo_environment_it_is_integrated_with() {
    let emu = start("async_ms: 20", Options::default()).await;
    let p = emulated(&emu);
    let linked = p.fo_integration_details().await.unwrap().expect("linked");
    assert_eq!(
        linked.url.as_str(),
        "https://contoso-uat.sandbox.operations.dynamics.com/"
    );
    assert!(linked.tenant_id.is_some() && linked.id.is_some());
    emu.shutdown().await;
    // No F&O environment names this organization as its Power Platform link: 0x80048d0b.
    let text = fixture::QUICKSTART
        .replace("emulator-secret", SECRET)
        .replace(
            "power_platform_link: https://contoso-uat.crm.dynamics.com",
            "power_platform_link: null",
        );
    let f = fixture::parse_str("unlinked.yaml", &text).unwrap_or_else(|p| panic!("{:?}", p.0));
    let emu = emulator::spawn(f, Options::default()).await.unwrap();
    let p = emulated(&emu);
    assert_eq!(p.fo_integration_details().await.unwrap(), None);
    emu.shutdown().await;
}

/// `$count` counts what a backup read returns, for every readable key table: the re-count a
/// backup holding rows added since the plan relies on.
#[tokio::test]
async fn count_rows_agrees_with_the_rows_read() {
    let emu = start("", Options::default()).await;
    let p = emulated(&emu);
    let live = p
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap();
    let mut counted = 0;
    for t in live.key_tables.iter().filter(|t| t.unreadable.is_none()) {
        let table = TableRef::from(t);
        let rows = p.read_rows(&table).await.unwrap().len();
        assert_eq!(
            p.count_rows(&table).await.unwrap(),
            Some(rows),
            "{}",
            t.table
        );
        counted += 1;
    }
    assert!(counted > 0);
}

/// The live read's own replies (the map listing and the connection set) tell a plan which
/// requests are in flight, exactly as a second read of both would, so the plan asks no second time.
#[tokio::test]
async fn the_live_read_sees_the_requests_in_flight_a_second_read_would() {
    let emu = start("async_ms: 60000", Options::default()).await;
    let p = emulated(&emu);
    let d = desired(DualWriteAuth::ClientCredentials);
    let c = p.read(&d).await.unwrap().connection.unwrap();
    assert_eq!(p.requests_seen_by_read(&c), Some(Vec::new()));
    let m = c
        .maps
        .iter()
        .find(|m| m.state == MapState::Running)
        .unwrap();
    let r = p.stop_map(&c.id, &m.id, &m.name).await.unwrap();
    let c = p.read(&d).await.unwrap().connection.unwrap();
    let seen = p.requests_seen_by_read(&c).expect("seen by the read");
    assert_eq!(seen, p.requests_in_flight(&c).await.unwrap());
    assert_eq!(seen.iter().map(|s| &s.id).collect::<Vec<_>>(), [&r.id]);
    // Another connection set than the one read: nothing to tell.
    let mut other = c.clone();
    other.id = "another-set".into();
    assert_eq!(p.requests_seen_by_read(&other), None);
    emu.shutdown().await;
}
