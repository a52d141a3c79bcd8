//! The HTTP provider against real HTTP servers on 127.0.0.1: the emulator for behaviour, and
//! fakes that misbehave on purpose for every way a reply can be wrong.

#[path = "provider_support/emulated.rs"]
mod emulated;
mod provider_support;
#[path = "provider_support/reset_evidence.rs"]
mod reset_evidence;

use std::time::{Duration, Instant};

use dwlink_core::link::{Link, ProviderError};
use dwlink_core::model::desired::DualWriteAuth;
use dwlink_http::HttpProvider;
use provider_support::*;
use serde_json::json;

async fn read_err(addr: &str) -> ProviderError {
    let p = provider(addr);
    let e = p
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap_err();
    assert_no_secrets(&e, &e.to_string());
    assert_no_secrets(&e, &e.to_problem().help.unwrap_or_default());
    e
}

async fn read_ok(addr: &str) -> dwlink_core::model::live::LiveState {
    provider(addr)
        .read(&desired(DualWriteAuth::ClientCredentials))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_well_behaved_world_reads() {
    let (addr, fake) = serve_fake(3600, |_, _| None).await;
    let live = read_ok(&addr).await;
    assert!(live.connection.is_none());
    assert_eq!(live.dataverse.organization_id.to_string(), ORG);
    assert_eq!(live.dataverse.friendly_name.as_deref(), Some("ContosoUAT"));
    assert_eq!(live.key_tables.len(), 4);
    let reqs = fake.requests.lock().unwrap().clone();
    // Tokens are cached per resource: one per service (F&O, Dataverse, the management
    // service, the admin API), not one per request.
    assert_eq!(
        fake.tokens_issued.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "{reqs:#?}"
    );
    // `$metadata` lists only DualWriteProjectConfigurations: the other F&O tables are not asked
    // for, and are shown unreadable rather than empty.
    assert_eq!(
        reqs.iter().filter(|r| r.contains("$metadata")).count(),
        1,
        "{reqs:#?}"
    );
    assert!(
        !reqs
            .iter()
            .any(|r| r.contains("FieldConfigurations") || r.contains("BusinessEvents")),
        "{reqs:#?}"
    );
    assert!(live.key_tables[1].count().is_none() && live.key_tables[2].count().is_none());
    let pc = reqs
        .iter()
        .find(|r| r.contains("GET /data/DualWriteProjectConfigurations"))
        .unwrap();
    assert!(
        pc.contains("cross-company=true")
            && pc.contains("$select=ProjectName,ExternalEnvironmentUrl"),
        "{pc}"
    );
    // The runtime table's Attributes list no organization column, so none is selected.
    let rt = reqs
        .iter()
        .find(|r| r.contains("GET /api/data/v9.2/msdyn_dualwriteruntimeconfigs"))
        .unwrap();
    assert!(
        rt.contains("$select=msdyn_dualwriteruntimeconfigid?")
            || rt.ends_with("$select=msdyn_dualwriteruntimeconfigid"),
        "{rt}"
    );
    assert_eq!(live.key_tables[3].fact_column, None);
}

/// A fleet's plans share one read of the admin API's list and their tokens; a single plan reads
/// its own.
#[tokio::test]
async fn plans_of_a_fleet_share_one_read_of_the_admin_list_and_tokens() {
    let (addr, fake) = serve_fake(3600, |_, _| None).await;
    let mut s = settings(&addr);
    s.shared_admin_list = Some(dwlink_http::SharedAdminList::default());
    s.shared_auth = Some(dwlink_http::signin::auth::SharedAuth::default());
    let d = desired(DualWriteAuth::ClientCredentials);
    let (a, b) = (
        HttpProvider::new(&d, s.clone()).unwrap(),
        HttpProvider::new(&d, s).unwrap(),
    );
    let (ra, rb) = tokio::join!(a.read(&d), b.read(&d));
    ra.unwrap();
    rb.unwrap();
    let admin_reads = |fake: &Fake| {
        fake.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.contains("/scopes/admin/environments"))
            .count()
    };
    assert_eq!(admin_reads(&fake), 1);
    // Both environments are the same here, so every token is shared: one per resource.
    assert_eq!(
        fake.tokens_issued.load(std::sync::atomic::Ordering::SeqCst),
        4
    );
    provider(&addr).read(&d).await.unwrap();
    assert_eq!(admin_reads(&fake), 2);
    assert_eq!(
        fake.tokens_issued.load(std::sync::atomic::Ordering::SeqCst),
        8
    );
}

/// The project table is read while `$metadata` is on its way; those rows count only when
/// `$metadata` states the set as read. Otherwise the table is what `$metadata` says it is.
#[tokio::test]
async fn rows_read_before_metadata_count_only_when_metadata_agrees() {
    let rows = || {
        axum::response::IntoResponse::into_response(axum::Json(json!({"value": [
            {"ProjectName": "a", "ExternalEnvironmentUrl": "https://other.crm.dynamics.com"}
        ]})))
    };
    // Agrees: one read of the set, its rows and facts kept.
    let (addr, fake) = serve_fake(3600, move |r, _| {
        (r.path == "/data/DualWriteProjectConfigurations").then(rows)
    })
    .await;
    let live = read_ok(&addr).await;
    let reqs = fake.requests.lock().unwrap().clone();
    let reads = |reqs: &[String]| {
        reqs.iter()
            .filter(|r| r.starts_with("GET /data/DualWriteProjectConfigurations"))
            .count()
    };
    assert_eq!(reads(&reqs), 1, "{reqs:#?}");
    assert_eq!(live.key_tables[0].count(), Some(1));
    assert_eq!(live.key_tables[0].external_urls.len(), 1);

    // No such set: whatever the early read got is dropped, the table is unreadable.
    let no_set = METADATA.replace(
        "<EntitySet Name=\"DualWriteProjectConfigurations\" EntityType=\"Microsoft.Dynamics.DataEntities.DualWriteProjectConfiguration\"/>",
        "",
    );
    assert_ne!(no_set, METADATA);
    let (addr, _) = serve_fake(3600, move |r, _| match r.path.as_str() {
        "/data/$metadata" => Some(status(200, "application/xml", no_set.clone())),
        "/data/DualWriteProjectConfigurations" => Some(rows()),
        _ => None,
    })
    .await;
    let live = read_ok(&addr).await;
    assert_eq!(live.key_tables[0].count(), None);

    // No fact column: the early read (which asked for it) is dropped and the set read again
    // by its key alone, as `$metadata` states it.
    let no_fact = METADATA.replace(
        "<Property Name=\"ExternalEnvironmentUrl\" Type=\"Edm.String\"/>",
        "",
    );
    assert_ne!(no_fact, METADATA);
    let (addr, fake) = serve_fake(3600, move |r, _| match r.path.as_str() {
        "/data/$metadata" => Some(status(200, "application/xml", no_fact.clone())),
        "/data/DualWriteProjectConfigurations" if r.query.contains("ExternalEnvironmentUrl") => {
            Some(status(
                400,
                "application/json",
                r#"{"error":{"code":"","message":"no such property"}}"#,
            ))
        }
        "/data/DualWriteProjectConfigurations" => Some(rows()),
        _ => None,
    })
    .await;
    let live = read_ok(&addr).await;
    let reqs = fake.requests.lock().unwrap().clone();
    assert_eq!(live.key_tables[0].count(), Some(1), "{reqs:#?}");
    assert!(live.key_tables[0].external_urls.is_empty());
    assert_eq!(live.key_tables[0].fact_column, None);
    assert!(
        reqs.iter().any(
            |r| r.starts_with("GET /data/DualWriteProjectConfigurations")
                && r.contains("$select=ProjectName?")
                || r.ends_with("$select=ProjectName")
        ),
        "{reqs:#?}"
    );
}

#[tokio::test]
async fn an_html_page_is_a_bad_reply_naming_the_logical_url() {
    let (addr, _) = serve_fake(3600, |r, _| {
        (r.path == ORG_PATH).then(|| {
            status(
                200,
                "text/html",
                "<html><head><title>Sign in to your account</title></head></html>",
            )
        })
    })
    .await;
    let e = read_err(&addr).await;
    let shown = e.to_string();
    assert_eq!(e.code(), "dwlink::provider::bad_reply");
    assert!(
        shown.contains(
            "https://contoso-uat.crm.dynamics.com/api/data/v9.2/RetrieveCurrentOrganization"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("HTML") && shown.contains("Sign in"),
        "{shown}"
    );
    assert!(
        !shown.contains("127.0.0.1"),
        "the physical address leaks: {shown}"
    );
}

#[tokio::test]
async fn wrong_types_are_bad_replies() {
    let (addr, _) = serve_fake(3600, |r, _| {
        (r.path == "/data/DualWriteProjectConfigurations").then(|| {
            axum::response::IntoResponse::into_response(axum::Json(
                json!({"value": [{"ProjectName": "a"}, "x"]}),
            ))
        })
    })
    .await;
    let e = read_err(&addr).await;
    assert!(
        e.to_string()
            .contains("expected row 1 of `value` to be an object"),
        "{e}"
    );
}

/// A key or fact column of another type than stated is a bad reply, never a row counted around:
/// a number key names another row, an object URL would hide rows syncing elsewhere.
#[tokio::test]
async fn key_and_fact_cells_of_another_type_are_bad_replies() {
    for (row, says) in [
        (
            json!({"ProjectName": 7.5e300}),
            "row 0 of DualWriteProjectConfigurations: ProjectName is a number, but the service states it as a string",
        ),
        (
            json!({"ProjectName": "a", "ExternalEnvironmentUrl": {"url": "https://contoso-prod.crm.dynamics.com"}}),
            "row 0 of DualWriteProjectConfigurations: ExternalEnvironmentUrl is an object or array, but the service states it as a string",
        ),
    ] {
        let (addr, _) = serve_fake(3600, move |r, _| {
            (r.path == "/data/DualWriteProjectConfigurations").then(|| {
                axum::response::IntoResponse::into_response(axum::Json(
                    json!({ "value": [row.clone()] }),
                ))
            })
        })
        .await;
        let e = read_err(&addr).await;
        assert!(e.to_string().contains(says), "{e}");
    }
}

#[tokio::test]
async fn a_ten_megabyte_error_body_is_cut() {
    let (addr, _) = serve_fake(3600, |r, _| {
        (r.path == ORG_PATH).then(|| status(400, "text/plain", "x".repeat(10 * 1024 * 1024)))
    })
    .await;
    let started = Instant::now();
    let e = read_err(&addr).await;
    let shown = e.to_string();
    assert!(
        shown.contains("HTTP 400") && shown.contains("64 KiB"),
        "{shown}"
    );
    assert!(shown.len() < 1000, "error message of {} bytes", shown.len());
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn next_link_to_another_host_is_refused() {
    let (addr, fake) = serve_fake(3600, |r, _| {
        (r.path == "/data/DualWriteProjectConfigurations").then(|| {
            axum::response::IntoResponse::into_response(axum::Json(json!({"value": [{"ProjectName":"a"}],
                "@odata.nextLink": "https://evil.example.com/data/DualWriteProjectConfigurations?$skiptoken=2"})))
        })
    })
    .await;
    let e = read_err(&addr).await;
    assert!(
        e.to_string().contains("another host (evil.example.com)"),
        "{e}"
    );
    let reqs = fake.requests.lock().unwrap().clone();
    assert_eq!(
        reqs.iter()
            .filter(|r| r.contains("DualWriteProjectConfigurations"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_looping_next_link_is_refused() {
    let (addr, _) = serve_fake(3600, |r, _| {
        (r.path == "/data/DualWriteProjectConfigurations").then(|| {
            axum::response::IntoResponse::into_response(axum::Json(json!({"value": [],
                "@odata.nextLink": "http://contoso-uat.sandbox.operations.dynamics.com/data/DualWriteProjectConfigurations?$skiptoken=1"})))
        })
    })
    .await;
    let e = read_err(&addr).await;
    assert!(e.to_string().contains("repeats an earlier page"), "{e}");
}

#[tokio::test]
async fn throttling_honours_retry_after() {
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let (addr, _) = serve_fake(3600, move |r, _| {
        (r.path == ORG_PATH && h.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0).then(
            || {
                let mut resp = status(
                    429,
                    "application/json",
                    r#"{"error":{"code":"0x80072321","message":"Number of requests exceeded"}}"#,
                );
                resp.headers_mut()
                    .insert("retry-after", "1".parse().unwrap());
                resp
            },
        )
    })
    .await;
    let started = Instant::now();
    read_ok(&addr).await;
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_retry_after_past_the_cap_fails_at_once_saying_so() {
    let (addr, fake) = serve_fake(3600, |r, _| {
        (r.path == ORG_PATH).then(|| {
            let mut resp = status(
                429,
                "application/json",
                r#"{"error":{"code":"0x80072321","message":"Number of requests exceeded"}}"#,
            );
            resp.headers_mut()
                .insert("retry-after", "3600".parse().unwrap());
            resp
        })
    })
    .await;
    let started = Instant::now();
    let e = read_err(&addr).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let shown = e.to_string();
    assert!(
        shown.contains("asked to wait 3600 s, more than dwlink's 120 s cap"),
        "{shown}"
    );
    assert!(!shown.contains("0ns"), "{shown}");
    let n = fake
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.contains("RetrieveCurrentOrganization"))
        .count();
    assert_eq!(n, 1, "a wait past the cap is not sat out");
}

#[tokio::test]
async fn endless_5xx_gives_up_with_the_status() {
    let (addr, fake) = serve_fake(3600, |r, _| {
        (r.path == "/data/$metadata").then(|| {
            status(
                503,
                "application/json",
                r#"{"error":{"code":"x","message":"down"}}"#,
            )
        })
    })
    .await;
    let e = read_err(&addr).await;
    assert!(
        e.to_string().contains("HTTP 503") && e.to_string().contains("down"),
        "{e}"
    );
    let n = fake
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.contains("$metadata"))
        .count();
    assert_eq!(n, 6, "bounded attempts");
}

#[tokio::test]
async fn an_expired_token_is_renewed() {
    // Tokens live 1 s and the fake refuses them after that, as a real service does.
    let (addr, fake) = serve_fake(1, |r, f| {
        (!r.path.ends_with("/token") && !f.valid(r.bearer.as_deref(), Duration::from_secs(1))).then(
            || {
                status(
                    401,
                    "application/json",
                    r#"{"error":{"code":"401","message":"token expired"}}"#,
                )
            },
        )
    })
    .await;
    let p = provider(&addr);
    let d = desired(DualWriteAuth::ClientCredentials);
    p.read(&d).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    p.read(&d).await.unwrap();
    assert_eq!(
        fake.tokens_issued.load(std::sync::atomic::Ordering::SeqCst),
        8
    );
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    // The first token of each resource is refused (revoked, clock skew): one renewal, then success.
    let (addr, fake) = serve_fake(3600, |r, f| {
        let first_four = r
            .bearer
            .as_deref()
            .and_then(|b| b.strip_prefix(TOKEN_PREFIX))
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n <= 4);
        let _ = f;
        first_four.then(|| {
            status(
                401,
                "application/json",
                r#"{"error":{"code":"401","message":"revoked"}}"#,
            )
        })
    })
    .await;
    read_ok(&addr).await;
    assert_eq!(
        fake.tokens_issued.load(std::sync::atomic::Ordering::SeqCst),
        8
    );
}

#[tokio::test]
async fn a_refused_client_secret_is_an_auth_error_without_the_secret() {
    let (addr, _) = serve_fake(3600, |r, _| {
        r.path.ends_with("/token").then(|| {
            status(401, "application/json", r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#)
        })
    })
    .await;
    let e = read_err(&addr).await;
    assert_eq!(e.code(), "dwlink::provider::auth");
    assert!(
        e.to_string().contains("invalid_client") && e.to_string().contains("AADSTS7000215"),
        "{e}"
    );
}

#[tokio::test]
async fn a_truncated_body_is_an_error_not_a_hang() {
    let addr = serve_raw("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"value\":[").await;
    let e = read_err(&addr).await;
    assert!(
        e.to_string().contains("cut off") || e.to_string().contains("ends early"),
        "{e}"
    );
    // Complete as HTTP, cut as JSON: the first reply parsed is `$metadata`, which it is not.
    let addr = serve_raw("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"value\":[{\"a\":").await;
    let e = read_err(&addr).await;
    assert!(
        e.to_string().contains("ends early") || e.to_string().contains("not a CSDL document"),
        "{e}"
    );
}

#[tokio::test]
async fn a_missing_secret_variable_is_named() {
    let (addr, _) = serve_fake(3600, |_, _| None).await;
    let mut d = desired(DualWriteAuth::ClientCredentials);
    d.auth.client_secret_env = "DWLINK_TEST_UNSET_VARIABLE".into();
    let p = HttpProvider::new(&d, settings(&addr)).unwrap();
    let e = p.read(&d).await.unwrap_err();
    assert_eq!(e.code(), "dwlink::provider::setup");
    assert!(e.to_string().contains("DWLINK_TEST_UNSET_VARIABLE"), "{e}");
}

#[tokio::test]
async fn device_code_without_a_terminal_says_how_to_sign_in() {
    let (addr, _) = serve_fake(3600, |_, _| None).await;
    let d = desired(DualWriteAuth::DeviceCode);
    let p = HttpProvider::new(&d, settings(&addr)).unwrap();
    let e = p.read(&d).await.unwrap_err();
    assert_eq!(e.code(), "dwlink::provider::sign_in_required");
    let help = e.to_problem().help.unwrap();
    assert!(help.contains("dwlink login"), "{help}");
    assert!(help.contains("--refresh-token-stdin"), "{help}");
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let mut d = desired(DualWriteAuth::ClientCredentials);
    d.dataverse.url = url::Url::parse("http://contoso-uat.crm.dynamics.com").unwrap();
    let s = dwlink_http::ProviderSettings::direct(false, None);
    let e = HttpProvider::new(&d, s).unwrap_err();
    assert!(e.to_string().contains("only https"), "{e}");
}

#[tokio::test]
async fn a_failed_request_is_never_success() {
    let (addr, _) = serve_fake(3600, |r, _| {
        // `Status/{id}` answers the maps with their lastRequests (DWA `DWMapEngine.cs`).
        let body = match r.path.rsplit('/').next() {
            Some("failing") => {
                r#"[{"detail":{"tName":"m","state":"1","lastRequests":[{"requestId":"failing","state":"3","errorMessage":"Maps are still running"}]}}]"#
            }
            Some("odd") => {
                r#"[{"detail":{"tName":"m","state":"1","lastRequests":[{"requestId":"odd","state":"Succeeded?"}]}}]"#
            }
            _ => return None,
        };
        Some(status(200, "application/json", body))
    })
    .await;
    let p = provider(&addr);
    let req = |id: &str| dwlink_core::link::RequestId {
        id: id.into(),
        what: "reset".into(),
    };
    let e = p
        .wait_for_request(&req("failing"), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "dwlink::provider::request_failed");
    assert!(e.to_string().contains("Maps are still running"), "{e}");
    let e = p
        .wait_for_request(&req("odd"), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "dwlink::provider::bad_reply", "{e}");
}

#[tokio::test]
async fn a_failed_change_set_names_its_keys() {
    let (addr, _) = serve_fake(3600, |r, _| {
        (r.path == "/data/$batch").then(|| {
            let body = "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n\r\n\
                {\"error\":{\"code\":\"Forbidden\",\"message\":\"no delete right\"}}\r\n--b--\r\n";
            status(200, "multipart/mixed; boundary=b", body)
        })
    })
    .await;
    let p = provider(&addr);
    let table = dwlink_core::link::TableRef {
        service: dwlink_core::model::live::Service::FinanceOperations,
        table: "DualWriteProjectConfiguration".into(),
        entity_set: "DualWriteProjectConfigurations".into(),
    };
    let keys = vec!["('a')".to_string(), "('b')".to_string()];
    let e = p.delete_rows(&table, &keys).await.unwrap_err();
    let shown = e.to_string();
    assert_eq!(e.code(), "dwlink::provider::batch_failed");
    assert!(
        shown.contains("('a'), ('b')") && shown.contains("no delete right"),
        "{shown}"
    );
    assert_no_secrets(&e, &shown);
    assert_no_secrets(&p, "");
}

#[tokio::test]
async fn malformed_organization_metadata_and_integration_replies_are_bad_replies() {
    let json = |v: serde_json::Value| axum::response::IntoResponse::into_response(axum::Json(v));
    for (path, body, says) in [
        (ORG_PATH, json!({"OrganizationId": ORG}), "no Detail object"),
        (ORG_PATH, json!({"Detail": {"OrganizationId": "nope"}}), "no OrganizationId GUID"),
        ("/data/$metadata", json!({"value": []}), "not a CSDL document"),
        (
            "/api/data/v9.2/EntityDefinitions(LogicalName='msdyn_dualwriteruntimeconfig')/Attributes",
            json!({"value": [{"AttributeType": "String"}]}),
            "LogicalName",
        ),
    ] {
        let (addr, _) =
            serve_fake(3600, move |r, _| (r.path == path).then(|| json(body.clone()))).await;
        let e = read_err(&addr).await;
        assert!(e.to_string().contains(says), "{path}: {e}");
    }
    // A `$metadata` whose key for the set differs from the one dwlink deletes by is refused.
    let (addr, _) = serve_fake(3600, |r, _| {
        (r.path == "/data/$metadata").then(|| {
            status(
                200,
                "application/xml",
                METADATA.replace(
                    "PropertyRef Name=\"ProjectName\"",
                    "PropertyRef Name=\"RecId\"",
                ),
            )
        })
    })
    .await;
    let e = read_err(&addr).await;
    assert!(
        e.to_string()
            .contains("states the key of DualWriteProjectConfigurations as (RecId)"),
        "{e}"
    );

    let path = "/api/data/v9.2/RetrieveFinanceAndOperationsIntegrationDetails";
    for (reply, want) in [
        (
            status(
                400,
                "application/json",
                r#"{"error":{"code":"0x80048d0b","message":"not linked"}}"#,
            ),
            Ok(None),
        ),
        (
            status(
                404,
                "application/json",
                r#"{"error":{"code":"0x80048D0B","message":"not linked"}}"#,
            ),
            Ok(None),
        ),
        (
            json(json!({"Url": "not a url", "Id": "x"})),
            Err("no absolute Url"),
        ),
        (
            status(
                400,
                "application/json",
                r#"{"error":{"code":"0x80040220","message":"no privilege"}}"#,
            ),
            Err("0x80040220"),
        ),
    ] {
        let reply = std::sync::Mutex::new(Some(reply));
        let (addr, _) = serve_fake(3600, move |r, _| {
            (r.path == path)
                .then(|| reply.lock().unwrap().take())
                .flatten()
        })
        .await;
        let got = provider(&addr).fo_integration_details().await;
        match (got, want) {
            (Ok(v), Ok(w)) => assert_eq!(v, w),
            (Err(e), Err(says)) => assert!(e.to_string().contains(says), "{e}"),
            (got, want) => panic!("{got:?} is not {want:?}"),
        }
    }
    let (addr, _) = serve_fake(3600, move |r, _| {
        (r.path == path)
            .then(|| json(json!({"Url": "https://fo.example/", "TenantId": "bad", "Id": ""})))
    })
    .await;
    let got = provider(&addr)
        .fo_integration_details()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.url.as_str(), got.tenant_id, got.id),
        ("https://fo.example/", None, None)
    );
}

/// `--record`: one entry per attempt, 429s, 5xx and failures included, with the logical URL
/// and without the secret or any token the fake issued.
mod recording {
    use super::*;
    use dwlink_core::har::writer::Recorder;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn recorded(path: &std::path::Path) -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v["log"]["entries"].as_array().unwrap().clone()
    }

    fn har_path(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("dwlink-http-har-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[tokio::test]
    async fn every_attempt_is_an_entry() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let (addr, fake) = serve_fake(3600, move |r, _| {
            if r.path != ORG_PATH {
                return None;
            }
            match h.fetch_add(1, Ordering::SeqCst) {
                0 => {
                    let mut resp = status(
                        429,
                        "application/json",
                        r#"{"error":{"code":"0x80072321","message":"slow down"}}"#,
                    );
                    resp.headers_mut()
                        .insert("retry-after", "0".parse().unwrap());
                    Some(resp)
                }
                1 => Some(status(503, "text/plain", "busy")),
                _ => None,
            }
        })
        .await;
        let path = har_path("attempts.har");
        let mut s = settings(&addr);
        s.client.recorder = Some(Arc::new(Recorder::create(&path, "test").unwrap()));
        HttpProvider::new(&desired(DualWriteAuth::ClientCredentials), s)
            .unwrap()
            .read(&desired(DualWriteAuth::ClientCredentials))
            .await
            .unwrap();
        let entries = recorded(&path);
        let org: Vec<(u64, u64)> = entries
            .iter()
            .filter(|e| {
                e["request"]["url"]
                    .as_str()
                    .unwrap()
                    .contains("RetrieveCurrentOrganization")
            })
            .map(|e| {
                (
                    e["response"]["status"].as_u64().unwrap(),
                    e["_dwlink"]["attempt"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(org, [(429, 1), (503, 2), (200, 3)]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(SECRET), "the secret is in the HAR");
        assert!(!text.contains(TOKEN_PREFIX), "a token is in the HAR");
        assert!(
            !text.contains("127.0.0.1"),
            "the physical address is in the HAR"
        );
        assert!(fake.tokens_issued.load(Ordering::SeqCst) > 0);
    }

    #[tokio::test]
    async fn a_request_without_a_reply_is_status_zero_with_the_reason() {
        // A port nothing listens on: every attempt is refused.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let path = har_path("refused.har");
        let mut s = settings(&addr);
        s.client.recorder = Some(Arc::new(Recorder::create(&path, "test").unwrap()));
        let e = HttpProvider::new(&desired(DualWriteAuth::ClientCredentials), s)
            .unwrap()
            .read(&desired(DualWriteAuth::ClientCredentials))
            .await
            .unwrap_err();
        assert!(matches!(e, ProviderError::Transport { .. }), "{e}");
        let entries = recorded(&path);
        assert!(!entries.is_empty());
        for e in &entries {
            assert_eq!(e["response"]["status"], 0);
            assert!(
                e["_error"]
                    .as_str()
                    .unwrap()
                    .contains("connection to the emulator at 127.0.0.1:"),
                "{e}"
            );
            assert!(e["request"]["url"]
                .as_str()
                .unwrap()
                .starts_with("https://login.microsoftonline.com/"));
        }
    }
}
