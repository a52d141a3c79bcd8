//! Small worlds for the documented scenarios: a declaration, the live state the services report
//! and the rows behind it. Tests change the public fields to make a variant.

use dwlink_core::config::raw::{EnvironmentType, Kind, ResetTarget, ResetWhen};
use dwlink_core::link::Solution;
use dwlink_core::model::desired as d;
use dwlink_core::model::key_tables::{
    BUSINESS_EVENTS, FIELD_CONFIGURATION, PROJECT_CONFIGURATION, RUNTIME_CONFIGURATION,
};
use dwlink_core::model::live::{
    LiveConnection, LiveDataverse, LiveFinanceOperations, LiveMap, LiveState, MapState, OrgRef,
};
use url::Url;
use uuid::Uuid;

use crate::fake::{FakeLink, Rows};

pub const FO_UAT: &str = "https://contoso-uat.sandbox.operations.dynamics.com";
pub const UAT: &str = "https://contoso-uat.crm.dynamics.com";
pub const PROD: &str = "https://contoso-prod.crm.dynamics.com";
pub const UAT_ID: &str = "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10";
pub const PROD_ID: &str = "0c1d2e3f-4a5b-4c6d-9e8f-7a6b5c4d3e2f";
pub const CUSTOMERS: &str = "Customers V3 (accounts)";
pub const VENDORS: &str = "Vendors V2 (msdyn_vendors)";
pub const CORE_SOLUTION: &str = "Dual-write core solution";

fn url(s: &str) -> Url {
    Url::parse(s).expect("a constant URL")
}

/// An organization reference with its id, as the management service reports it.
pub fn org(u: &str, id: &str) -> OrgRef {
    OrgRef {
        url: url(u),
        organization_id: Some(Uuid::parse_str(id).expect("a constant GUID")),
    }
}

pub struct World {
    pub desired: d::Desired,
    pub live: LiveState,
    pub rows: Rows,
    /// What Apply Solution can bring back.
    pub solutions: Vec<Solution>,
}

impl World {
    /// Scenario 1, settled: contoso-uat linked to its own organization, its rows pointing there,
    /// one map running. A plan of its declaration is empty.
    pub fn healthy() -> World {
        World {
            desired: desired(),
            live: live(org(UAT, UAT_ID), MapState::Running, MapState::Stopped),
            rows: Rows::from([
                (PROJECT_CONFIGURATION.into(), rows::projects(4, UAT)),
                (FIELD_CONFIGURATION.into(), rows::fields(12)),
                (BUSINESS_EVENTS.into(), rows::business_events(3, 2)),
                (RUNTIME_CONFIGURATION.into(), rows::runtime(4, "ContosoUAT")),
            ]),
            solutions: core_solution(),
        }
    }

    /// Scenario 2 after a database restore: contoso-uat still connected to contoso-prod, its key
    /// tables production's (rows syncing to prod, runtime configurations naming ContosoProd),
    /// a map running. Its plan has every kind of step: stop-maps, backup, clear-table ×4,
    /// reset-link (with the legal entities), apply-solutions, start-maps, verify.
    pub fn restored_from_production() -> World {
        World {
            desired: desired(),
            live: live(org(PROD, PROD_ID), MapState::Running, MapState::Error),
            rows: Rows::from([
                (PROJECT_CONFIGURATION.into(), rows::projects(30, PROD)),
                (FIELD_CONFIGURATION.into(), rows::fields(60)),
                (BUSINESS_EVENTS.into(), rows::business_events(8, 2)),
                (
                    RUNTIME_CONFIGURATION.into(),
                    rows::runtime(6, "ContosoProd"),
                ),
            ]),
            solutions: core_solution(),
        }
    }

    /// A fake serving this world.
    pub fn link(&self) -> FakeLink {
        FakeLink::new(self.live.clone(), self.rows.clone(), self.solutions.clone())
    }
}

fn core_solution() -> Vec<Solution> {
    vec![Solution {
        name: CORE_SOLUTION.into(),
        maps: vec![CUSTOMERS.into(), VENDORS.into()],
    }]
}

/// contoso-uat's declaration: linked to its own organization through the Power Platform link,
/// allowed to stop maps and clear tables, restarting Customers after a reset.
fn desired() -> d::Desired {
    d::Desired {
        kind: Kind::DualWriteLink,
        name: "contoso-uat".into(),
        protected: false,
        finance_operations: d::FinanceOperations {
            url: url(FO_UAT),
            environment_type: EnvironmentType::Sandbox,
        },
        dataverse: d::Dataverse {
            url: url(UAT),
            organization_id: None,
        },
        link: d::Link {
            reset_target: ResetTarget::PowerPlatformLink,
            legal_entities: vec!["USMF".into(), "DEMF".into()],
        },
        reset: d::Reset {
            when: ResetWhen::OnMismatch,
            force: true,
            clear_tables: true,
        },
        after_reset: d::AfterReset {
            apply_solutions: vec![CORE_SOLUTION.into()],
            start_maps: vec![CUSTOMERS.into()],
        },
        maps: Vec::new(),
        auth: d::Auth {
            tenant_id: Uuid::nil(),
            client_id: Uuid::nil(),
            client_secret_env: "DWLINK_CLIENT_SECRET".into(),
        },
        dual_write_service: None,
        restored_from: None,
    }
}

fn live(connected_to: OrgRef, customers: MapState, vendors: MapState) -> LiveState {
    LiveState {
        finance_operations: LiveFinanceOperations {
            url: url(FO_UAT),
            environment_type: EnvironmentType::Sandbox,
            power_platform_link: Some(org(UAT, UAT_ID)),
        },
        connection: Some(LiveConnection {
            id: "conn-1".into(),
            name: "contoso-uat connection set".into(),
            organization: Some(connected_to),
            legal_entities: vec!["DEMF".into(), "USMF".into()],
            maps: vec![
                LiveMap::new("map-customers", CUSTOMERS, customers),
                LiveMap::new("map-vendors", VENDORS, vendors),
            ],
            doubt: None,
        }),
        dataverse: LiveDataverse {
            url: url(UAT),
            organization_id: Uuid::parse_str(UAT_ID).expect("a constant GUID"),
            unique_name: Some("org6459f7a8".into()),
            friendly_name: Some("ContosoUAT".into()),
            integration: Default::default(),
        },
        // Derived from the rows by the fake.
        key_tables: Vec::new(),
    }
}

/// Rows of the key tables, with the columns the services return (secrets included).
pub mod rows {
    use dwlink_core::link::Row;
    use dwlink_core::model::key_tables::{
        EXTERNAL_ENVIRONMENT_URL, RUNTIME_PRIMARY_ID, SECURE_CONFIG_ORGANIZATION,
    };
    use serde_json::json;

    fn row(value: serde_json::Value) -> Row {
        match value {
            serde_json::Value::Object(m) => m,
            _ => unreachable!("rows are built from object literals"),
        }
    }

    /// A project configuration syncing to `dataverse_url`.
    pub fn project(name: &str, dataverse_url: &str) -> Row {
        let (fo, dv) = match name.rsplit_once(" (") {
            Some((fo, dv)) => (fo, dv.trim_end_matches(')')),
            None => (name, name),
        };
        row(json!({
            "@odata.etag": "W/\"1\"",
            "ProjectName": name,
            "InternalEntityName": fo,
            "ExternalEntityName": dv,
            EXTERNAL_ENVIRONMENT_URL: dataverse_url,
            "Status": 1,
        }))
    }

    /// `n` project configurations syncing to `dataverse_url`, the first two the standard maps'.
    pub fn projects(n: usize, dataverse_url: &str) -> Vec<Row> {
        (0..n)
            .map(|i| match i {
                0 => project(super::CUSTOMERS, dataverse_url),
                1 => project(super::VENDORS, dataverse_url),
                _ => project(&format!("Project {i:03}"), dataverse_url),
            })
            .collect()
    }

    /// `n` field configurations (two key columns), one of them with a quote in its key.
    pub fn fields(n: usize) -> Vec<Row> {
        (0..n)
            .map(|i| {
                let field = if i == 0 {
                    "Customer's name".to_string()
                } else {
                    format!("Field{i:04}")
                };
                row(json!({
                    "ProjectName": format!("Project {:03}", i % 7),
                    "InternalFieldName": field,
                    "ExternalFieldName": format!("msdyn_field{i}"),
                }))
            })
            .collect()
    }

    /// `dual_write` business events of dual-write and `other` that are not.
    pub fn business_events(dual_write: usize, other: usize) -> Vec<Row> {
        let dw = (0..dual_write).map(|i| (format!("DualWriteEvent{i:02}"), true));
        let others = (0..other).map(|i| (format!("OtherEvent{i:02}"), false));
        dw.chain(others)
            .map(|(id, is_dw)| row(json!({"BusinessEventId": id, "IsDualWrite": is_dw})))
            .collect()
    }

    /// A runtime configuration naming `organization` in its SecureConfig.
    pub fn runtime_with_id(id: &str, organization: &str) -> Row {
        row(json!({
            RUNTIME_PRIMARY_ID: id,
            SECURE_CONFIG_ORGANIZATION: organization,
            "msdyn_secureconfig": format!("AuthorizationKey=secret-{id}"),
            "statecode": 0,
        }))
    }

    pub fn runtime(n: usize, organization: &str) -> Vec<Row> {
        (0..n)
            .map(|i| {
                let id = uuid::Uuid::from_u128(0x1000 + i as u128).to_string();
                runtime_with_id(&id, organization)
            })
            .collect()
    }
}
