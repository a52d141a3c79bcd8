//! The pure half of import: what it declares for each live situation, and that its YAML is a
//! valid config whose plan against the same state is empty.

use std::collections::BTreeMap;

use url::Url;
use uuid::Uuid;

use super::*;
use crate::config::raw::DualWriteAuth;
use crate::diag::Source;
use crate::model::desired as d;
use crate::model::key_tables::KEY_TABLES;
use crate::model::live::*;
use crate::plan::Plan;

const UAT: &str = "https://contoso-uat.crm.dynamics.com";
const TEST: &str = "https://contoso-test.crm.dynamics.com";
const UAT_ID: &str = "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10";
const TEST_ID: &str = "9b3c1d2e-4f5a-4b6c-8d7e-0f1a2b3c4d5e";

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn org(u: &str, id: &str) -> OrgRef {
    OrgRef {
        url: url(u),
        organization_id: Some(Uuid::parse_str(id).unwrap()),
    }
}

fn connection_config() -> d::Desired {
    d::Desired {
        kind: Kind::RestoreCleanup,
        name: "contoso-uat".into(),
        protected: false,
        finance_operations: d::FinanceOperations {
            url: url("https://contoso-uat.sandbox.operations.dynamics.com"),
            environment_type: EnvironmentType::Sandbox,
        },
        dataverse: d::Dataverse {
            url: url(UAT),
            organization_id: None,
        },
        link: d::Link {
            reset_target: ResetTarget::PowerPlatformLink,
            legal_entities: vec![],
        },
        reset: d::Reset {
            when: ResetWhen::Always,
            force: true,
            clear_tables: true,
        },
        after_reset: d::AfterReset::default(),
        maps: Vec::new(),
        auth: d::Auth {
            tenant_id: Uuid::nil(),
            client_id: Uuid::nil(),
            client_secret_env: "DWLINK_CLIENT_SECRET".into(),
        },
        dual_write_service: Some(d::DualWriteService {
            url: url(
                "https://projectmanagementservice.weu-il107.gateway.prod.island.powerapps.com",
            ),
            auth: DualWriteAuth::ClientCredentials,
            client_id: d::DATA_INTEGRATION_CLIENT_ID,
        }),
        restored_from: None,
    }
}

fn table(t: usize, rows: usize, fact: Option<&str>) -> KeyTable {
    let d = &KEY_TABLES[t];
    let (service, table, set) = (d.service, d.table, d.entity_set);
    let counted = fact
        .map(|f| BTreeMap::from([(f.to_string(), rows)]))
        .unwrap_or_default();
    KeyTable {
        service,
        table: table.into(),
        entity_set: set.into(),
        keys: (0..rows).map(|i| format!("('{i}')")).collect(),
        external_urls: if t == 0 {
            counted.clone()
        } else {
            BTreeMap::new()
        },
        secure_config_organizations: if t == 3 { counted } else { BTreeMap::new() },
        fact_column: d.fact.map(str::to_string),
        unreadable: None,
    }
}

/// Scenario 2 as read after import re-read the connected organization (contoso-test).
fn mismatch() -> LiveState {
    LiveState {
        finance_operations: LiveFinanceOperations {
            url: url("https://contoso-uat.sandbox.operations.dynamics.com"),
            environment_type: EnvironmentType::Sandbox,
            power_platform_link: Some(org(UAT, UAT_ID)),
        },
        connection: Some(LiveConnection {
            id: "c1".into(),
            name: "cs".into(),
            organization: Some(org(TEST, TEST_ID)),
            legal_entities: vec!["USMF".into()],
            maps: vec![LiveMap::new(
                "m1",
                "Customers V3 (accounts)",
                MapState::Running,
            )],
            doubt: None,
        }),
        dataverse: LiveDataverse {
            url: url(TEST),
            organization_id: Uuid::parse_str(TEST_ID).unwrap(),
            unique_name: Some("org1a2b3c4d".into()),
            friendly_name: Some("ContosoTest".into()),
            integration: Default::default(),
        },
        key_tables: vec![
            table(0, 3, Some("https://contoso-test.crm.dynamics.com/")),
            table(1, 10, None),
            table(2, 2, None),
            table(3, 3, Some("ContosoTest")),
        ],
    }
}

/// The rendered YAML, loaded back as `dwlink validate` and `dwlink plan` load a file.
fn reload(text: &str) -> (crate::config::Loaded, d::Desired) {
    let loaded = crate::config::from_source(Source::new("imported.yaml", text.to_string()));
    assert!(
        !loaded.problems.has_errors(),
        "{:?}\n{text}",
        loaded.problems
    );
    let desired = loaded.desired.clone().expect("valid");
    (loaded, desired)
}

fn header() -> Header {
    Header {
        imported_at: "2025-01-01T00:00:00Z".into(),
        connection_config: "dwlink.yaml".into(),
    }
}

#[test]
fn declares_the_power_platform_link_and_says_what_live_showed_instead() {
    let mut live = mismatch();
    live.connection.as_mut().unwrap().maps.clear();
    // As `read` leaves it: the declared organization is the one read.
    live.dataverse.url = url(UAT);
    live.dataverse.organization_id = Uuid::parse_str(UAT_ID).unwrap();
    let imported = build(&connection_config(), &live);
    let c = &imported.config;
    assert_eq!(c.dataverse.url, UAT);
    assert_eq!(c.dataverse.organization_id.as_deref(), Some(UAT_ID));
    assert_eq!(
        c.link.as_ref().unwrap().reset_target,
        Some(ResetTarget::PowerPlatformLink)
    );
    assert_eq!(c.kind, Kind::DualWriteLink);
    assert_eq!(c.metadata.protected, Some(false));

    let text = render(&imported, &header()).unwrap();
    assert!(text.starts_with(SCHEMA_MODELINE), "{text}");
    assert!(
        text.contains(&format!(
            "# live: dual-write is connected to {TEST} now; this file declares {UAT}"
        )),
        "{text}"
    );
    // The plan of the imported file shows the realignment, never "No changes".
    let (_, desired) = reload(&text);
    let plan = Plan::make(&desired, &live);
    assert!(
        plan.has_changes() && !plan.has_errors(),
        "{:?}",
        plan.findings
    );
    assert!(plan
        .actions
        .iter()
        .any(|a| a.action.kind() == crate::plan::ActionKind::ResetLink));
}

#[test]
fn an_organization_already_on_the_power_platform_link_imports_to_no_changes() {
    let mut live = mismatch();
    live.connection.as_mut().unwrap().organization =
        live.finance_operations.power_platform_link.clone();
    live.dataverse.url = url(UAT);
    live.dataverse.organization_id = Uuid::parse_str(UAT_ID).unwrap();
    live.key_tables[0] = table(0, 3, Some("https://contoso-uat.crm.dynamics.com/"));
    live.key_tables[3] = table(3, 3, Some("ContosoUAT"));
    live.dataverse.friendly_name = Some("ContosoUAT".into());
    let imported = build(&connection_config(), &live);
    assert!(imported.notes.is_empty(), "{:?}", imported.notes);
    let (_, desired) = reload(&render(&imported, &header()).unwrap());
    let plan = Plan::make(&desired, &live);
    assert!(
        !plan.has_changes() && !plan.has_errors(),
        "{:?}",
        plan.actions
    );
}

#[test]
fn same_organization_keeps_the_power_platform_link_target() {
    let mut live = mismatch();
    let conn = live.connection.as_mut().unwrap();
    conn.organization = live.finance_operations.power_platform_link.clone();
    assert_eq!(reset_target(&live), ResetTarget::PowerPlatformLink);
    live.finance_operations.power_platform_link = None;
    assert_eq!(reset_target(&live), ResetTarget::CurrentEnvironment);
    live.connection = None;
    assert_eq!(reset_target(&live), ResetTarget::CurrentEnvironment);
    live.finance_operations.environment_type = EnvironmentType::CloudHosted;
    assert_eq!(reset_target(&live), ResetTarget::CurrentEnvironment);
}

#[test]
fn production_is_protected() {
    let mut live = mismatch();
    live.finance_operations.environment_type = EnvironmentType::Production;
    let imported = build(&connection_config(), &live);
    assert_eq!(imported.config.metadata.protected, Some(true));
    reload(&render(&imported, &header()).unwrap());
}

#[test]
fn drift_by_definition_is_noted_and_planned_as_a_reset() {
    let mut live = mismatch();
    live.key_tables[0] = table(0, 3, Some("https://contoso-prod.crm.dynamics.com/"));
    live.key_tables[3] = table(3, 3, Some("ContosoProd"));
    live.connection.as_mut().unwrap().maps.clear();
    // As `read` leaves it: the declared organization is the one read.
    live.dataverse.url = url(UAT);
    live.dataverse.organization_id = Uuid::parse_str(UAT_ID).unwrap();
    let imported = build(&connection_config(), &live);
    let text = render(&imported, &header()).unwrap();
    assert!(
        text.contains("# live state has rows syncing to another organization: a plan will reset"),
        "{text}"
    );
    assert!(text.contains("SecureConfig"), "{text}");
    let (_, desired) = reload(&text);
    let plan = Plan::make(&desired, &live);
    let kinds: Vec<&str> = plan
        .actions
        .iter()
        .map(|a| a.action.kind().name())
        .collect();
    assert!(
        kinds.contains(&"reset-link"),
        "{kinds:?} {:#?}",
        plan.findings
    );
    assert!(!plan.has_errors(), "{:#?}", plan.findings);
    assert!(!kinds.contains(&"apply-solutions"), "{kinds:?}");
}

#[test]
fn names_derive_from_the_host() {
    assert_eq!(
        derive_name(&url("https://Contoso-UAT.sandbox.operations.dynamics.com")),
        "contoso-uat"
    );
    assert_eq!(derive_name(&url("https://127.0.0.1:9")), "127");
    assert_eq!(url_text(&url("https://a.example/")), "https://a.example");
    assert_eq!(
        url_text(&url("https://a.example/x/")),
        "https://a.example/x/"
    );
}
