//! `dwlink doctor`: every check ok against the emulator for every example; the expected non-ok
//! statuses for a never-linked environment, a declared organization that is another, a user
//! never signed in, a removed set and a disagreeing Power Platform link; and against a server
//! that only issues tokens (404, 401/403, HTML, garbage JSON, an endless nextLink, no answer at
//! all), exit 1 within bounded time with each check's status and the failed checks named.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fake_services::{Answer, Fake};
use crate::harness::{path, run};
use crate::support::{code, dwlink, root, scratch, snapshot, stderr, stdout, yaml_files};

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("doctor --json is JSON ({e}):\n{text}"))
}

/// `id -> status` of a JSON report.
fn statuses(report: &Value) -> BTreeMap<String, String> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().expect("id").to_string(),
                c["status"].as_str().expect("status").to_string(),
            )
        })
        .collect()
}

fn doctor_emulated(config: &str, fixture: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "doctor",
        "--input=false",
        "--json",
        "-f",
        config,
        "--emulator",
        fixture,
    ];
    args.extend(extra);
    let o = dwlink(&root(), &args);
    (code(&o), json(&stdout(&o)))
}

#[test]
fn every_check_is_ok_against_the_emulator_for_every_example() {
    for config in yaml_files(&root().join("examples")) {
        let fixture = root()
            .join("examples/fixtures")
            .join(config.file_name().expect("a file name"));
        let (code, report) = doctor_emulated(
            config.to_str().expect("utf-8"),
            fixture.to_str().expect("utf-8"),
            &[],
        );
        let st = statuses(&report);
        assert!(st.len() >= 10, "{}: {st:?}", config.display());
        assert!(
            st.values().all(|s| s == "ok"),
            "{}: {}",
            config.display(),
            serde_json::to_string_pretty(&report).unwrap()
        );
        assert_eq!(code, 0, "{}", config.display());
        assert_eq!(report["summary"]["ok"], st.len());
        assert_eq!(report["summary"]["total"], st.len());
    }
}

#[test]
fn the_json_report_has_a_stable_shape() {
    let (code, mut report) = doctor_emulated(
        &path("examples/scenario-1-same-organization.yaml"),
        &path("examples/fixtures/scenario-1-same-organization.yaml"),
        &[],
    );
    assert_eq!(code, 0);
    for c in report["checks"].as_array_mut().expect("checks") {
        assert!(c["duration_ms"].is_u64(), "{c}");
        c["duration_ms"] = Value::String("[ms]".into());
    }
    snapshot(
        "doctor__emulator-json",
        &serde_json::to_string_pretty(&report).expect("JSON"),
    );
}

#[test]
fn the_human_report_is_a_table_with_a_summary() {
    let o = dwlink(
        &root(),
        &[
            "doctor",
            "--input=false",
            "-f",
            &path("examples/scenario-2-organization-mismatch.yaml"),
            "--emulator",
            &path("examples/fixtures/scenario-2-organization-mismatch.yaml"),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    snapshot("doctor__emulator-human", &stdout(&o));
}

/// A copy of scenario 1's fixture changed by `edit`.
fn fixture(dir: &Path, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(path("examples/fixtures/scenario-1-same-organization.yaml"))
        .expect("fixture");
    let f = dir.join("fixture.yaml");
    std::fs::write(&f, edit(text)).expect("write fixture");
    f.display().to_string()
}

/// A copy of scenario 1's config changed by `edit`.
fn config(dir: &Path, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(path("examples/scenario-1-same-organization.yaml"))
        .expect("config");
    let f = dir.join("dwlink.yaml");
    std::fs::write(&f, edit(text)).expect("write config");
    f.display().to_string()
}

#[test]
fn a_never_linked_environment_leaves_the_connection_set_routes_unknown() {
    let dir = scratch("doctor-never-linked");
    let fx = fixture(&dir, |t| {
        let (from, to) = (
            t.find("    dual_write:").unwrap(),
            t.find("    key_tables:").unwrap(),
        );
        format!("{}{}", &t[..from], &t[to..])
    });
    let (code, report) = doctor_emulated(
        &path("examples/scenario-1-same-organization.yaml"),
        &fx,
        &[],
    );
    let st = statuses(&report);
    assert_eq!(st["dws.environments"], "ok");
    for id in ["dws.connection-set", "dws.maps", "dws.solutions"] {
        assert_eq!(st[id], "unknown", "{id}");
    }
    let set = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "dws.connection-set")
        .unwrap();
    assert!(
        set["seen"]
            .as_str()
            .unwrap()
            .contains("no connection set yet"),
        "{set}"
    );
    assert_eq!(report["summary"]["unknown"], 6);
    // Not confirmed is not ok: the exit says so.
    assert_eq!(code, 1);
}

#[test]
fn another_declared_organization_differs() {
    let dir = scratch("doctor-organization");
    let cfg = config(&dir, |t| {
        t.replace(
            "organization_id: 4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10",
            "organization_id: 00000000-1111-2222-3333-444444444444",
        )
    });
    let (code, report) = doctor_emulated(
        &cfg,
        &path("examples/fixtures/scenario-1-same-organization.yaml"),
        &[],
    );
    let st = statuses(&report);
    assert_eq!(st["dataverse.organization"], "differs");
    assert_eq!(st.values().filter(|s| *s != "ok").count(), 1, "{st:?}");
    assert_eq!(code, 1);
}

#[test]
fn a_user_never_signed_in_is_told_to_run_login_and_nothing_prompts() {
    let dir = scratch("doctor-no-login");
    let cfg = config(&dir, |t| {
        t.lines()
            .filter(|l| !l.trim_start().starts_with("auth: client-credentials"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let (code, report) = doctor_emulated(
        &cfg,
        &path("examples/fixtures/scenario-1-same-organization.yaml"),
        &[],
    );
    let st = statuses(&report);
    assert_eq!(st["signin.management-service"], "not-permitted");
    for id in [
        "dws.environments",
        "dws.connection-set",
        "dws.maps",
        "dws.solutions",
    ] {
        assert_eq!(st[id], "unknown", "{id}");
    }
    let signin = &report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "signin.management-service")
        .unwrap()
        .clone();
    let fix = signin["fix"].as_str().expect("a fix");
    assert!(fix.contains(&format!("dwlink login -f {cfg}")), "{fix}");
    assert_eq!(code, 1);
}

/// `doctor` as a process against the fake, with the failed checks' ids and the time it took.
fn doctor_against(fake: &Fake, name: &str) -> (i32, Value, String, Duration) {
    // A directory per test: `scratch` empties it, and tests run at once.
    let dir = scratch(&format!("doctor-fake-{name}"));
    let cfg = path("examples/scenario-1-same-organization.yaml");
    let mut args = vec![
        "doctor",
        "--no-color",
        "--input=false",
        "--timeout",
        "2",
        "-f",
        &cfg,
        "--emulator-url",
        &fake.url,
    ];
    let started = Instant::now();
    let human = run(&dir, &args, &[]);
    let took = started.elapsed();
    args.push("--json");
    let o = run(&dir, &args, &[]);
    assert_eq!(o.status.code(), human.status.code());
    (
        human.status.code().expect("an exit code"),
        json(&stdout(&o)),
        stdout(&human),
        took,
    )
}

/// The checks that send a request of their own (the rest wait on them or on a sign-in).
const FIRST: [&str; 6] = [
    "fo.metadata",
    "dataverse.runtime-table",
    "dataverse.organization",
    "dataverse.fo-integration",
    "admin.power-platform-link",
    "dws.environments",
];
const DEPENDENT: [&str; 8] = [
    "fo.set.project-configuration",
    "fo.set.field-configuration",
    "fo.set.business-events",
    "dataverse.runtime-attributes",
    "admin.cross-check",
    "dws.connection-set",
    "dws.maps",
    "dws.solutions",
];

#[test]
fn a_server_that_only_issues_tokens_fails_every_check_in_bounded_time() {
    for (answer, want, name) in [
        (Answer::NotFound, "differs", "404"),
        (Answer::Status(401), "not-permitted", "401"),
        (Answer::Status(403), "not-permitted", "403"),
        (Answer::Status(429), "unreachable", "429"),
        (Answer::Html, "differs", "html"),
        (Answer::GarbageJson, "differs", "garbage"),
        (Answer::EndlessNextLink, "differs", "nextlink"),
        (Answer::Hang, "unreachable", "hang"),
    ] {
        let fake = Fake::start(answer);
        let (code, report, human, took) = doctor_against(&fake, name);
        // Read-only: nothing but GETs besides the token requests.
        let sent = fake.seen.lock().unwrap().clone();
        assert!(!sent.is_empty(), "{name}");
        assert!(
            sent.iter().all(|r| r.starts_with("GET ")),
            "{name}: {sent:?}"
        );
        assert_eq!(code, 1, "{name}: {human}");
        assert!(took < Duration::from_secs(60), "{name}: took {took:?}");
        let st = statuses(&report);
        for id in [
            "signin.finance-operations",
            "signin.dataverse",
            "signin.admin-api",
            "signin.management-service",
        ] {
            assert_eq!(st[id], "ok", "{name}: {id}");
        }
        for id in FIRST {
            assert_eq!(st[id], want, "{name}: {id}\n{human}");
            // Named with its details below the table.
            assert!(
                human.contains(&format!("\n{id} {want}\n")),
                "{name}: {id}\n{human}"
            );
        }
        for id in DEPENDENT {
            assert_eq!(st[id], "unknown", "{name}: {id}");
        }
        for c in report["checks"].as_array().unwrap() {
            let seen = c["seen"].as_str().unwrap();
            assert!(!seen.contains("fake-access-token"), "{name}: {seen}");
            assert!(!seen.chars().any(char::is_control), "{name}: {seen:?}");
            if c["status"] == "not-permitted" {
                assert!(c["fix"].is_string(), "{name}: {c}");
            }
        }
        let summary = format!("4 ok, {} differs", if want == "differs" { 6 } else { 0 });
        assert!(human.contains(&summary), "{name}: {human}");
    }
}

const CSDL_WITHOUT_PROJECTS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>
<Schema Namespace="Microsoft.Dynamics.DataEntities" xmlns="http://docs.oasis-open.org/odata/ns/edm">
<EntityType Name="DualWriteProjectFieldConfiguration"><Key><PropertyRef Name="ProjectName"/><PropertyRef Name="InternalFieldName"/></Key>
<Property Name="ProjectName" Type="Edm.String"/><Property Name="InternalFieldName" Type="Edm.String"/></EntityType>
<EntityContainer Name="Container"><EntitySet Name="DualWriteProjectFieldConfigurations" EntityType="Microsoft.Dynamics.DataEntities.DualWriteProjectFieldConfiguration"/></EntityContainer>
</Schema></edmx:DataServices></edmx:Edmx>"#;

#[test]
fn a_removed_set_and_an_unexpected_one_differ() {
    let fake = Fake::start(Answer::Scripted(Arc::new(|_, path, _| {
        (path == "/data/$metadata")
            .then(|| (200, "application/xml", CSDL_WITHOUT_PROJECTS.to_string()))
    })));
    let (code, report, human, _) = doctor_against(&fake, "removed-set");
    let st = statuses(&report);
    assert_eq!(st["fo.metadata"], "ok", "{human}");
    assert_eq!(st["fo.set.project-configuration"], "differs");
    assert_eq!(st["fo.set.field-configuration"], "differs");
    assert_eq!(st["fo.set.business-events"], "ok");
    assert_eq!(code, 1);
}

#[test]
fn a_power_platform_link_dataverse_denies_differs() {
    let fake = Fake::start(Answer::Scripted(Arc::new(|host, path, _| {
        if host.starts_with("api.bap.microsoft.com") && path.ends_with("/environments") {
            return Some((200, "application/json", serde_json::json!({"value": [{
                "name": "env-1",
                "properties": {
                    "linkedAppMetadata": {"url": "https://contoso-uat.sandbox.operations.dynamics.com"},
                    "linkedEnvironmentMetadata": {"instanceUrl": "https://contoso-uat.crm.dynamics.com/"}
                }
            }]}).to_string()));
        }
        if path.ends_with("/RetrieveFinanceAndOperationsIntegrationDetails") {
            return Some((
                400,
                "application/json",
                r#"{"error":{"code":"0x80048d0b","message":"not linked"}}"#.to_string(),
            ));
        }
        None
    })));
    let (code, report, human, _) = doctor_against(&fake, "disagrees");
    let st = statuses(&report);
    assert_eq!(st["admin.power-platform-link"], "ok", "{human}");
    assert_eq!(st["dataverse.fo-integration"], "ok", "{human}");
    assert_eq!(st["admin.cross-check"], "differs", "{human}");
    assert!(
        human.contains("says it is integrated with no F&O environment"),
        "{human}"
    );
    assert_eq!(code, 1);
}

#[test]
fn a_timeout_of_zero_is_refused() {
    let o = dwlink(&root(), &["doctor", "--timeout", "0"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("--timeout"), "{}", stderr(&o));
}

#[test]
fn a_management_service_reply_of_another_shape_names_the_json_path() {
    let fake = Fake::start(Answer::Scripted(Arc::new(|_, path, _| {
        let json = |body: &str| Some((200, "application/json", body.to_string()));
        if path.ends_with("/Environments") {
            return json(r#"[{"cid": "c1", "cname": "set1"}]"#);
        }
        if path == "/api/ConnectionSet/set1" {
            return json(
                r#"{"id": "c1", "name": "set1", "environments": {"ax": {"targetType": 7}}}"#,
            );
        }
        if path.ends_with("/Entities") {
            return json(r#"[{"detail": {"tName": "Customers", "state": "9", "tid": "t1"}}]"#);
        }
        if path.ends_with("/SolutionAware/c1/Solutions/") {
            return json(r#"[{"name": "Dual-write core solution"}]"#);
        }
        None
    })));
    let (code, report, human, _) = doctor_against(&fake, "shapes");
    let seen = |id: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id}"))["seen"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let st = statuses(&report);
    assert_eq!(st["dws.environments"], "ok", "{human}");
    for id in ["dws.connection-set", "dws.maps", "dws.solutions"] {
        assert_eq!(st[id], "differs", "{id}: {human}");
    }
    assert!(
        seen("dws.connection-set").starts_with("at `environments.ax.targetType`"),
        "{human}"
    );
    assert!(
        seen("dws.maps").starts_with("at `[0].detail.state`"),
        "{human}"
    );
    assert!(
        seen("dws.solutions").contains("at `[0]`: missing field `uniquename`"),
        "{human}"
    );
    assert_eq!(code, 1);
}

#[test]
fn against_a_running_emulator_doctor_passes_once_a_user_signed_in() {
    let dir = scratch("doctor-signed-in");
    let emu = crate::harness::start_emu(
        &path("examples/fixtures/scenario-1-same-organization.yaml"),
        &dir.join("state.json"),
        &[],
    );
    let cfg = config(&dir, |t| {
        t.lines()
            .filter(|l| !l.trim_start().starts_with("auth: client-credentials"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let cache = dir.join("cache");
    let env = [
        ("XDG_CACHE_HOME", cache.to_str().expect("utf-8")),
        ("CI", "true"),
    ];
    let dwlink_in = |args: &[&str]| {
        crate::harness::command(&dir, args, &env)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("dwlink runs")
    };
    let doctor = [
        "doctor",
        "--no-color",
        "--input=false",
        "-f",
        &cfg,
        "--emulator-url",
        &emu.url,
    ];
    let before = dwlink_in(&doctor);
    assert_eq!(before.status.code(), Some(1), "{}", stdout(&before));
    assert!(
        stdout(&before).contains("\nsignin.management-service not-permitted\n"),
        "{}",
        stdout(&before)
    );
    assert!(stdout(&before).contains(&format!("`dwlink login -f {cfg}`")));

    let login = dwlink_in(&[
        "login",
        "--no-color",
        "-f",
        &cfg,
        "--emulator-url",
        &emu.url,
    ]);
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));

    let after = dwlink_in(&doctor);
    assert_eq!(after.status.code(), Some(0), "{}", stdout(&after));
    assert!(
        stdout(&after).contains("21 ok, 0 differs, 0 unreachable, 0 not-permitted, 0 unknown"),
        "{}",
        stdout(&after)
    );
}
