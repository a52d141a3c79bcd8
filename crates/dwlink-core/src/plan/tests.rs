//! Table-driven tests of the pure diff: every scenario and every finding.

use std::collections::BTreeMap;

use url::Url;
use uuid::Uuid;

use crate::config::raw::{EnvironmentType, Kind, ResetTarget, ResetWhen};
use crate::diag::Severity;
use crate::model::desired as d;
use crate::model::key_tables::KEY_TABLES;
use crate::model::live::*;

use super::diff::diff;
use super::{ActionKind, FindingCode as C, Plan, Scenario};

pub(super) const UAT: &str = "https://contoso-uat.crm.dynamics.com";
pub(super) const PROD: &str = "https://contoso-prod.crm.dynamics.com";
pub(super) const UAT_ID: &str = "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10";
pub(super) const PROD_ID: &str = "9b1d0c2a-1111-4a43-9a60-5a3c2c1d9b10";

pub(super) fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

pub(super) fn org(u: &str, id: &str) -> OrgRef {
    OrgRef {
        url: url(u),
        organization_id: Some(Uuid::parse_str(id).unwrap()),
    }
}

pub(super) fn desired() -> d::Desired {
    d::Desired {
        kind: Kind::DualWriteLink,
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
            legal_entities: vec!["USMF".into(), "DEMF".into()],
        },
        reset: d::Reset {
            when: ResetWhen::OnMismatch,
            force: false,
            clear_tables: true,
        },
        after_reset: d::AfterReset {
            apply_solutions: vec!["Dual-write core solution".into()],
            start_maps: vec!["Customers V3 (accounts)".into()],
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

fn table(t: usize, rows: usize, ext: Option<&str>, secure: Option<&str>) -> KeyTable {
    let d = &KEY_TABLES[t];
    let (service, table, set) = (d.service, d.table, d.entity_set);
    KeyTable {
        service,
        table: table.into(),
        entity_set: set.into(),
        keys: (0..rows).map(|i| format!("('{i}')")).collect(),
        external_urls: ext
            .map(|u| BTreeMap::from([(u.to_string(), rows)]))
            .unwrap_or_default(),
        secure_config_organizations: secure
            .map(|o| BTreeMap::from([(o.to_string(), rows)]))
            .unwrap_or_default(),
        fact_column: d.fact.map(str::to_string),
        unreadable: None,
    }
}

/// A sandbox linked to its own organization, healthy.
pub(super) fn live() -> LiveState {
    LiveState {
        finance_operations: LiveFinanceOperations {
            url: url("https://contoso-uat.sandbox.operations.dynamics.com"),
            environment_type: EnvironmentType::Sandbox,
            power_platform_link: Some(org(UAT, UAT_ID)),
        },
        connection: Some(LiveConnection {
            id: "c1".into(),
            name: "cs".into(),
            organization: Some(org(UAT, UAT_ID)),
            legal_entities: vec!["DEMF".into(), "USMF".into()],
            maps: vec![LiveMap::new(
                "m1",
                "Customers V3 (accounts)",
                MapState::Stopped,
            )],
            doubt: None,
        }),
        dataverse: LiveDataverse {
            url: url(UAT),
            organization_id: Uuid::parse_str(UAT_ID).unwrap(),
            unique_name: Some("org6459f7a8".into()),
            friendly_name: Some("ContosoUAT".into()),
            integration: Default::default(),
        },
        key_tables: vec![
            table(0, 3, Some(UAT), None),
            table(1, 10, None, None),
            table(2, 2, None, None),
            table(3, 3, None, Some("ContosoUAT")),
        ],
    }
}

fn codes(live: &LiveState, desired: &d::Desired) -> Vec<(C, Severity)> {
    diff(desired, live)
        .findings
        .iter()
        .map(|f| (f.code, f.severity))
        .collect()
}

fn kinds(live: &LiveState, desired: &d::Desired) -> Vec<ActionKind> {
    diff(desired, live)
        .actions
        .iter()
        .map(|a| a.kind())
        .collect()
}

#[test]
fn healthy_link_has_no_changes() {
    let dec = diff(&desired(), &live());
    assert_eq!(dec.scenario, Scenario::SameOrganization);
    assert!(dec.actions.is_empty(), "{:?}", dec.actions);
    assert_eq!(
        codes(&live(), &desired()),
        vec![(C::ScenarioSameOrganization, Severity::Info)]
    );
}

#[test]
fn scenarios_are_classified() {
    use super::diff::classify;
    let mut l = live();
    assert_eq!(classify(&l), Scenario::SameOrganization);
    l.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    assert_eq!(classify(&l), Scenario::OrganizationMismatch);
    l.connection.as_mut().unwrap().organization = None;
    assert_eq!(classify(&l), Scenario::OrganizationMismatch);
    l.finance_operations.power_platform_link = None;
    assert_eq!(classify(&l), Scenario::NoPowerPlatformLink);
    l.finance_operations.environment_type = EnvironmentType::CloudHosted;
    assert_eq!(classify(&l), Scenario::CloudHosted);
}

#[test]
fn scenario_2_realigns_to_power_platform_link_irreversibly() {
    let mut l = live();
    l.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    let c = codes(&l, &desired());
    assert!(c.contains(&(C::ScenarioOrganizationMismatch, Severity::Warning)));
    assert!(c.contains(&(C::TargetIrreversible, Severity::Warning)));
    assert_eq!(
        kinds(&l, &desired()),
        vec![
            ActionKind::Backup,
            ActionKind::ClearTable,
            ActionKind::ClearTable,
            ActionKind::ClearTable,
            ActionKind::ClearTable,
            ActionKind::ResetLink,
            ActionKind::ApplySolutions,
            ActionKind::StartMaps,
            ActionKind::Verify
        ]
    );
}

#[test]
fn scenario_2_with_current_environment_cannot_reach_declared_org() {
    let mut l = live();
    l.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    let mut want = desired();
    want.link.reset_target = ResetTarget::CurrentEnvironment;
    let c = codes(&l, &want);
    assert!(
        c.contains(&(C::TargetUnreachable, Severity::Error)),
        "{c:?}"
    );
    assert!(!c.iter().any(|(k, _)| *k == C::TargetIrreversible));
}

#[test]
fn scenario_3_blocks_a_reset_to_the_power_platform_link() {
    let mut l = live();
    l.finance_operations.power_platform_link = None;
    l.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    let c = codes(&l, &desired());
    assert!(
        c.contains(&(C::ScenarioNoPowerPlatformLink, Severity::Error)),
        "{c:?}"
    );
}

#[test]
fn scenario_4_refreshes_the_connection_as_it_is() {
    let mut l = live();
    l.finance_operations.environment_type = EnvironmentType::CloudHosted;
    l.finance_operations.power_platform_link = None;
    let mut want = desired();
    want.finance_operations.environment_type = EnvironmentType::CloudHosted;
    want.link.reset_target = ResetTarget::CurrentEnvironment;
    want.reset.when = ResetWhen::Always;
    let dec = diff(&want, &l);
    assert_eq!(dec.scenario, Scenario::CloudHosted);
    assert!(
        dec.findings.iter().all(|f| f.severity != Severity::Error),
        "{:?}",
        dec.findings
    );
    assert!(dec
        .actions
        .iter()
        .any(|a| a.kind() == ActionKind::ResetLink));
}

#[test]
fn running_maps_fail_the_plan_without_force() {
    let mut l = live();
    l.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    l.connection.as_mut().unwrap().maps[0].state = MapState::Running;
    let dec = diff(&desired(), &l);
    let f = dec
        .findings
        .iter()
        .find(|f| f.code == C::MapsRunning)
        .unwrap();
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("Customers V3 (accounts)"));
    assert!(!dec.actions.iter().any(|a| a.kind() == ActionKind::StopMaps));

    let mut forced = desired();
    forced.reset.force = true;
    let k = kinds(&l, &forced);
    assert_eq!(k[0], ActionKind::StopMaps);
    assert_eq!(k[1], ActionKind::Backup);
}

#[test]
fn stopped_maps_help_says_whether_start_maps_restarts_them() {
    let mut l = live();
    l.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    l.connection.as_mut().unwrap().maps[0].state = MapState::Running;
    let help = |d: &d::Desired, l: &LiveState| {
        diff(d, l)
            .findings
            .into_iter()
            .find(|f| f.code == C::MapsRunning)
            .unwrap()
            .help
    };
    let mut listed = desired();
    listed.reset.force = true;
    let h = help(&listed, &l);
    assert!(!h.contains("list them"), "{h}");
    assert!(h.contains("starts them again"), "{h}");

    let mut unlisted = listed.clone();
    unlisted.after_reset.start_maps.clear();
    let h = help(&unlisted, &l);
    assert!(h.contains("list them in `after_reset.start_maps`"), "{h}");

    l.connection
        .as_mut()
        .unwrap()
        .maps
        .push(LiveMap::new("m2", "Vendors V2", MapState::Running));
    let h = help(&listed, &l);
    assert!(
        h.contains("starts Customers V3 (accounts) again")
            && h.contains("Vendors V2 comes back stopped"),
        "{h}"
    );

    // A map declared running in `maps` is started again too, and the help says by what.
    let mut declared = unlisted.clone();
    declared.maps = vec![d::DesiredMap {
        name: "customers v3 (accounts)".into(),
        version: None,
        state: d::MapRunState::Running,
        integration_keys: None,
        initial_sync: false,
    }];
    let h = help(&declared, &l);
    assert!(
        h.starts_with("`maps` starts Customers V3 (accounts) again")
            && h.contains("Vendors V2 comes back stopped"),
        "{h}"
    );
}

#[test]
fn foreign_rows_after_a_restore_are_named_and_cleared() {
    let mut l = live();
    l.key_tables[0] = table(0, 120, Some(PROD), None);
    l.key_tables[3] = table(3, 12, None, Some("ContosoProd"));
    let dec = diff(&desired(), &l);
    let f = dec
        .findings
        .iter()
        .find(|f| f.code == C::RestoreForeignLink)
        .unwrap();
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("contoso-prod.crm.dynamics.com") && f.message.contains("120"));
    let s = dec
        .findings
        .iter()
        .find(|f| f.code == C::SecureConfigOrganizationMismatch)
        .unwrap();
    assert!(s.message.contains("ContosoProd") && s.message.contains("ContosoUAT"));
    let rows: usize = dec
        .actions
        .iter()
        .map(|a| match a {
            super::Action::ClearTable { rows, .. } => *rows,
            _ => 0,
        })
        .sum();
    assert_eq!(rows, 120 + 10 + 2 + 12);
}

#[test]
fn foreign_rows_are_an_error_when_nothing_clears_them() {
    let mut l = live();
    l.key_tables[0] = table(0, 5, Some(PROD), None);
    let mut want = desired();
    want.reset.when = ResetWhen::Never;
    let c = codes(&l, &want);
    assert!(c.contains(&(C::RestoreForeignLink, Severity::Error)));
    assert!(c.contains(&(C::ResetDisabled, Severity::Warning)));
    assert!(kinds(&l, &want).is_empty());
}

/// A RestoreCleanup as config validation resolves it: `reset.when: always`, tables cleared.
fn restore_cleanup() -> d::Desired {
    let mut want = desired();
    want.kind = Kind::RestoreCleanup;
    want.reset.when = ResetWhen::Always;
    want.restored_from = Some(url("https://contoso-prod.operations.dynamics.com"));
    want
}

#[test]
fn restore_cleanup_clears_and_relinks_while_evidence_of_the_restore_remains() {
    // Each kind of evidence alone: connected to production, F&O rows syncing there, runtime
    // rows made for production's organization.
    let mut connected = live();
    connected.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    let mut rows = live();
    rows.key_tables[0] = table(0, 5, Some(PROD), None);
    let mut runtime = live();
    runtime.key_tables[3] = table(3, 3, None, Some("ContosoProd"));
    for l in [connected, rows, runtime] {
        let k = kinds(&l, &restore_cleanup());
        assert!(
            k.contains(&ActionKind::Backup) && k.contains(&ActionKind::ResetLink),
            "{k:?}"
        );
        assert_eq!(k.last(), Some(&ActionKind::Verify));
    }
}

#[test]
fn a_completed_restore_cleanup_plans_nothing() {
    // live(): linked to its own organization, every row its own — what a cleanup leaves.
    let plan = Plan::make(&restore_cleanup(), &live());
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(!plan.has_changes());
    // `reset.when: always` on a DualWriteLink stays the explicit exception.
    let mut always = desired();
    always.reset.when = ResetWhen::Always;
    assert!(kinds(&live(), &always).contains(&ActionKind::ResetLink));
}

fn legal_entity_findings(live: &LiveState, desired: &d::Desired) -> Vec<super::Finding> {
    diff(desired, live)
        .findings
        .into_iter()
        .filter(|f| f.code == C::LegalEntitiesDiffer)
        .collect()
}

#[test]
fn a_legal_entity_difference_alone_is_a_warning_not_a_step() {
    let mut want = desired();
    want.link.legal_entities = vec!["USMF".into(), "GBSI".into()];
    let dec = diff(&want, &live());
    // No management-service call sets legal entities, and a reset is too much to pay for them.
    assert!(dec.actions.is_empty(), "{:?}", dec.actions);
    let found = legal_entity_findings(&live(), &want);
    assert_eq!(found.len(), 1);
    let f = &found[0];
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.message.starts_with(
            "dual-write syncs legal entities DEMF, USMF, the config declares GBSI, USMF"
        ),
        "{}",
        f.message
    );
    assert!(f.message.contains("without a reset"), "{}", f.message);
    assert!(f.message.contains("no public call"), "{}", f.message);
    assert!(
        f.help.contains("`link.legal_entities: [DEMF, USMF]`"),
        "{}",
        f.help
    );
    assert!(
        f.help.contains("add GBSI on the Dual-write page of F&O"),
        "{}",
        f.help
    );
    assert!(
        f.help.contains("`reset.when: always` for one apply"),
        "{}",
        f.help
    );
    let plan = Plan::make(&want, &live());
    assert!(!plan.has_changes() && !plan.has_errors());
    assert_eq!(plan.summary.warnings, 1);
}

#[test]
fn legal_entities_compare_as_sets_of_upper_case_codes() {
    let mut want = desired();
    want.link.legal_entities = vec!["usmf".into(), "DEMF".into(), "USMF".into()];
    assert!(legal_entity_findings(&live(), &want).is_empty());
}

#[test]
fn no_legal_entities_live_or_declared_reads_none() {
    let mut l = live();
    l.connection.as_mut().unwrap().legal_entities.clear();
    let f = &legal_entity_findings(&l, &desired())[0];
    assert!(
        f.message
            .starts_with("dual-write syncs legal entities none, the config declares DEMF, USMF"),
        "{}",
        f.message
    );
    let mut want = desired();
    want.link.legal_entities.clear();
    let f = &legal_entity_findings(&live(), &want)[0];
    assert!(
        f.message.contains("the config declares none"),
        "{}",
        f.message
    );
    // Nothing to add: only "declare the live ones" or a reset.
    assert!(!f.help.contains("add "), "{}", f.help);
}

#[test]
fn a_reset_carries_the_declared_legal_entities_and_needs_no_finding() {
    let mut l = live();
    l.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    l.connection.as_mut().unwrap().legal_entities = vec!["GBSI".into()];
    let dec = diff(&desired(), &l);
    let reset = dec
        .actions
        .iter()
        .find_map(|a| match a {
            super::Action::ResetLink { legal_entities, .. } => Some(legal_entities.clone()),
            _ => None,
        })
        .expect("a reset");
    assert_eq!(reset, vec!["USMF".to_string(), "DEMF".to_string()]);
    assert!(legal_entity_findings(&l, &desired()).is_empty());
    let relink = dec
        .actions
        .iter()
        .find(|a| a.kind() == ActionKind::ResetLink)
        .unwrap();
    let text = super::describe::describe(relink);
    // Described in the one order every view uses (sorted); the action keeps the declared one.
    assert!(text.ends_with("legal entities DEMF, USMF"), "{text}");
}

#[test]
fn reset_always_lets_the_reset_set_the_legal_entities() {
    let mut want = desired();
    want.link.legal_entities = vec!["GBSI".into()];
    want.reset.when = ResetWhen::Always;
    assert!(kinds(&live(), &want).contains(&ActionKind::ResetLink));
    assert!(legal_entity_findings(&live(), &want).is_empty());
}

#[test]
fn reset_never_reports_the_drift_and_the_legal_entities_apart() {
    let mut l = live();
    l.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    l.connection.as_mut().unwrap().legal_entities = vec!["USMF".into()];
    let mut want = desired();
    want.reset.when = ResetWhen::Never;
    assert!(kinds(&l, &want).is_empty());
    let c = codes(&l, &want);
    assert!(c.contains(&(C::ResetDisabled, Severity::Warning)), "{c:?}");
    assert!(
        c.contains(&(C::LegalEntitiesDiffer, Severity::Warning)),
        "{c:?}"
    );
    // A legal-entity difference alone is not drift a reset would be planned for.
    let mut l = live();
    l.connection.as_mut().unwrap().legal_entities = vec!["USMF".into()];
    let c = codes(&l, &want);
    assert!(!c.iter().any(|(k, _)| *k == C::ResetDisabled), "{c:?}");
}

#[test]
fn an_unlinked_connection_gets_its_legal_entities_from_the_reset() {
    let mut l = live();
    l.connection.as_mut().unwrap().organization = None;
    l.connection.as_mut().unwrap().legal_entities.clear();
    let mut want = desired();
    want.reset.when = ResetWhen::Never;
    assert!(legal_entity_findings(&l, &want).is_empty());
}

#[test]
fn a_completed_restore_cleanup_with_other_legal_entities_only_warns() {
    let mut l = live();
    l.connection.as_mut().unwrap().legal_entities = vec!["USMF".into()];
    let dec = diff(&restore_cleanup(), &l);
    assert!(dec.actions.is_empty(), "{:?}", dec.actions);
    let f = &legal_entity_findings(&l, &restore_cleanup())[0];
    assert!(f.help.contains("the next cleanup"), "{}", f.help);
    assert!(!f.help.contains("reset.when"), "{}", f.help);
}

#[test]
fn an_old_plan_with_a_legal_entity_step_is_refused_with_plan_again() {
    let mut l = live();
    l.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    let plan = Plan::make(&desired(), &l);
    let mut json = serde_json::to_value(&plan).unwrap();
    let actions = json["actions"].as_array_mut().unwrap();
    let at = actions
        .iter()
        .position(|a| a["kind"] == "apply-solutions")
        .unwrap();
    actions.insert(
        at,
        serde_json::json!({"kind": "link-legal-entities", "legal_entities": ["USMF"], "destructive": false}),
    );
    json["summary"]["actions"]["link-legal-entities"] = 1.into();
    let path = std::env::temp_dir().join(format!("dwlink-old-plan-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let problem = super::planfile::read(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(problem.code, "dwlink::plan::unknown_step");
    assert!(
        problem
            .message
            .contains("has a `link-legal-entities` step, which this dwlink does not plan or apply"),
        "{}",
        problem.message
    );
    assert!(
        problem.message.contains("only be set by a reset"),
        "{}",
        problem.message
    );
    let help = problem.help.as_deref().unwrap_or_default();
    assert!(help.starts_with("plan again"), "{help}");
}

#[test]
fn a_plan_with_an_unknown_step_is_refused_naming_it() {
    let plan = Plan::make(&desired(), &live());
    let mut json = serde_json::to_value(&plan).unwrap();
    json["actions"] = serde_json::json!([{"kind": "teleport", "destructive": false}, {"kind": "verify", "destructive": false}]);
    let path = std::env::temp_dir().join(format!("dwlink-odd-plan-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let problem = super::planfile::read(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(problem.code, "dwlink::plan::unknown_step");
    assert!(
        problem.message.contains("`teleport`"),
        "{}",
        problem.message
    );
    assert!(!problem.message.contains("legal"), "{}", problem.message);
}

#[test]
fn protected_environment_gets_an_error_for_destructive_plans() {
    let mut l = live();
    l.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    let mut want = desired();
    want.protected = true;
    assert!(codes(&l, &want).contains(&(C::Protected, Severity::Error)));
    assert!(!codes(&live(), &want)
        .iter()
        .any(|(c, _)| *c == C::Protected));
}

#[test]
fn declared_organization_id_must_match() {
    let mut want = desired();
    want.dataverse.organization_id = Some(Uuid::parse_str(PROD_ID).unwrap());
    assert!(codes(&live(), &want).contains(&(C::TargetOrganizationId, Severity::Error)));
}

#[test]
fn plan_summary_counts_rows_and_fingerprint_is_stable() {
    let mut l = live();
    l.connection.as_mut().unwrap().organization = None;
    let p = Plan::make(&desired(), &l);
    assert_eq!(p.summary.rows_to_delete, 3 + 10 + 2 + 3);
    assert_eq!(p.summary.destructive, 5);
    assert_eq!(p.live_fingerprint, l.fingerprint());
    assert_ne!(l.fingerprint(), live().fingerprint());
}

#[test]
fn every_step_has_a_description() {
    let mut l = live();
    l.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    l.connection.as_mut().unwrap().maps[0].state = MapState::Running;
    l.key_tables[0] = table(0, 120, Some(PROD), None);
    let mut want = desired();
    want.reset.force = true;
    let plan = Plan::make(&want, &l);
    assert_eq!(plan.actions.len(), 10);
    assert_eq!(plan.summary.destructive, 6);
    assert_eq!(plan.summary.rows_to_delete, 135);
    assert_eq!(plan.actions[0].action.kind().name(), "stop-maps");
    for a in &plan.actions {
        let text = super::describe::describe(&a.action);
        assert!(!text.is_empty() && !text.contains('\x1b'), "{text}");
    }
}

/// F&O as it really is (real-contract §4): no OData set for the field configurations and
/// business events.
fn without_fo_sets(mut l: LiveState) -> LiveState {
    use crate::model::live::Unreadable;
    for t in [1, 2] {
        let d = &KEY_TABLES[t];
        l.key_tables[t] = KeyTable::unreadable(d.service, d.table, Unreadable::NoODataSet);
    }
    l
}

#[test]
fn tables_without_a_set_are_left_to_the_reset_and_never_counted() {
    let mut l = without_fo_sets(live());
    l.key_tables[0] = table(0, 120, Some(PROD), None);
    assert_eq!(l.key_tables[1].count(), None);
    let dec = diff(&desired(), &l);
    let touched: Vec<&str> = dec
        .actions
        .iter()
        .flat_map(|a| match a {
            super::Action::ClearTable { table, .. } => vec![table.as_str()],
            super::Action::Backup { tables, .. } => {
                tables.iter().map(|t| t.table.as_str()).collect()
            }
            _ => vec![],
        })
        .collect();
    assert!(
        !touched
            .iter()
            .any(|t| *t == KEY_TABLES[1].table || *t == KEY_TABLES[2].table),
        "{touched:?}"
    );
    let unread = dec
        .actions
        .iter()
        .find_map(|a| match a {
            super::Action::ResetLink { unread_tables, .. } => Some(unread_tables.clone()),
            _ => None,
        })
        .unwrap();
    let names: Vec<&str> = unread.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(names, [KEY_TABLES[1].table, KEY_TABLES[2].table]);
    assert!(unread
        .iter()
        .all(|t| t.rows.is_none()
            && t.note == "cleared by the service's reset; rows not readable here"));
    let plan = super::Plan::make(&desired(), &l);
    assert_eq!(plan.summary.tables_not_counted, names);
    assert_eq!(plan.summary.rows_to_delete, 120 + 3);
    let json = serde_json::to_value(&plan).unwrap();
    let reset = json["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "reset-link")
        .unwrap();
    assert!(reset["unread_tables"][0]["rows"].is_null(), "{reset}");
}

#[test]
fn a_secure_config_mismatch_is_stated_only_with_evidence() {
    // No column names the organization: runtime rows alone say nothing.
    let mut no_column = live();
    no_column.key_tables[3] = table(3, 12, None, Some("ContosoProd"));
    no_column.key_tables[3].fact_column = None;
    assert!(!codes(&no_column, &desired())
        .iter()
        .any(|(c, _)| *c == C::SecureConfigOrganizationMismatch));
    assert!(kinds(&no_column, &desired()).is_empty());

    // Beside F&O rows syncing to production: a warning that names that evidence, never an error.
    let mut beside = no_column.clone();
    beside.key_tables[0] = table(0, 120, Some(PROD), None);
    let mut want = desired();
    want.reset.when = ResetWhen::Never;
    for want in [desired(), want] {
        let dec = diff(&want, &beside);
        let s = dec
            .findings
            .iter()
            .find(|f| f.code == C::SecureConfigOrganizationMismatch)
            .unwrap();
        assert_eq!(s.severity, Severity::Warning);
        assert!(
            s.message
                .contains("may have been made for https://contoso-prod.crm.dynamics.com")
                && s.message.contains("no column shows")
                && !s.message.contains("ContosoProd"),
            "{}",
            s.message
        );
    }

    // A column that says it: the finding names the column.
    let mut column = live();
    column.key_tables[3] = table(3, 12, None, Some("ContosoProd"));
    let s = diff(&desired(), &column)
        .findings
        .into_iter()
        .find(|f| f.code == C::SecureConfigOrganizationMismatch)
        .unwrap();
    assert!(
        s.message
            .contains("(column msdyn_secureconfigorganization)"),
        "{}",
        s.message
    );
}

#[test]
fn the_admin_api_and_dataverse_must_agree_on_the_power_platform_link() {
    let disagrees = |l: &LiveState| {
        diff(&desired(), l)
            .findings
            .into_iter()
            .find(|f| f.code == C::PowerPlatformLinkDisagrees)
    };
    let fo = url("https://contoso-uat.sandbox.operations.dynamics.com/");
    let mut l = live();
    // Not asked (fakes, snapshots): nothing to compare.
    assert!(disagrees(&l).is_none());
    l.dataverse.integration = FinanceOperationsIntegration::Linked { url: fo.clone() };
    assert!(disagrees(&l).is_none(), "both say UAT F&O ↔ UAT Dataverse");
    l.dataverse.integration = FinanceOperationsIntegration::NotLinked;
    let f = disagrees(&l).expect("the admin API links them, Dataverse says no");
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.message
            .contains("integrated with no finance and operations"),
        "{}",
        f.message
    );
    l.dataverse.integration = FinanceOperationsIntegration::Linked {
        url: url("https://contoso-prod.operations.dynamics.com/"),
    };
    assert!(disagrees(&l)
        .expect("linked to another F&O")
        .message
        .contains("contoso-prod"));
    // The admin API shows no link, but Dataverse points back here: also a disagreement.
    l.finance_operations.power_platform_link = None;
    l.dataverse.integration = FinanceOperationsIntegration::Linked { url: fo };
    assert!(disagrees(&l).is_some());
    l.dataverse.integration = FinanceOperationsIntegration::NotLinked;
    assert!(disagrees(&l).is_none(), "both say: no link (scenario 3)");
    // Cloud-hosted environments have no Power Platform link to compare.
    l.finance_operations.environment_type = EnvironmentType::CloudHosted;
    l.dataverse.integration = FinanceOperationsIntegration::Linked {
        url: url("https://contoso-uat.sandbox.operations.dynamics.com/"),
    };
    assert!(disagrees(&l).is_none());
}

/// A backup of more rows than `dwlink restore` reads back is said in the plan, before apply
/// writes it; one within the limit is not.
#[test]
fn a_backup_beyond_what_restore_reads_is_a_warning() {
    let mut l = live();
    l.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    l.key_tables[0] = table(0, 60_001, Some(PROD), None);
    let found = codes(&l, &desired());
    assert!(
        found.contains(&(C::BackupBeyondRestore, Severity::Warning)),
        "{found:?}"
    );
    let f = diff(&desired(), &l)
        .findings
        .into_iter()
        .find(|f| f.code == C::BackupBeyondRestore)
        .unwrap();
    assert!(f.message.contains("60,016 rows"), "{}", f.message);
    l.key_tables[0] = table(0, 50_000, Some(PROD), None);
    assert!(!codes(&l, &desired())
        .iter()
        .any(|(c, _)| *c == C::BackupBeyondRestore));
}
