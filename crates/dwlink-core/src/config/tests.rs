//! Unit tests of the whole config pipeline: text in, problems and the desired model out.

use super::*;
use crate::diag::Source;
use crate::model::desired::{EnvironmentType, ResetTarget, ResetWhen};

const VALID: &str = "apiVersion: dwlink/v1
kind: DualWriteLink
metadata:
  name: contoso-prod
finance_operations:
  url: https://contoso-prod.operations.dynamics.com
  environment_type: production
dataverse:
  url: https://contoso-prod.crm.dynamics.com
link:
  legal_entities: [usmf]
auth:
  tenant_id: 72f988bf-0000-0000-0000-000000000000
  client_id: 11111111-2222-3333-4444-555555555555
  client_secret_env: DWLINK_CLIENT_SECRET
dual_write_service:
  url: https://projectmanagementservice.weu-il107.gateway.prod.island.powerapps.com
";

const DWS: &str = "dual_write_service:
  url: https://projectmanagementservice.weu-il107.gateway.prod.island.powerapps.com
";

fn load_text(text: &str) -> Loaded {
    from_source(Source::new("t.yaml", text.to_string()))
}

fn codes(l: &Loaded) -> Vec<&'static str> {
    l.problems.iter().map(|p| p.code).collect()
}

/// Line and column of the problem with `code`.
fn at(l: &Loaded, code: &str) -> (usize, usize) {
    l.problems
        .iter()
        .find(|p| p.code == code)
        .and_then(|p| p.line_col())
        .unwrap_or_else(|| panic!("no {code} in {:?}", codes(l)))
}

#[test]
fn defaults_resolve_for_production() {
    let l = load_text(VALID);
    assert!(l.problems.is_empty(), "{:?}", codes(&l));
    let d = l.desired.expect("valid");
    assert!(d.protected, "production defaults to protected");
    assert_eq!(d.link.reset_target, ResetTarget::PowerPlatformLink);
    assert_eq!(d.link.legal_entities, ["USMF"]);
    assert_eq!(d.reset.when, ResetWhen::OnMismatch);
    assert!(d.reset.clear_tables && !d.reset.force);
    assert_eq!(
        d.finance_operations.environment_type,
        EnvironmentType::Production
    );
}

#[test]
fn cloud_hosted_defaults_to_the_current_environment() {
    let text = VALID
        .replace(
            "environment_type: production",
            "environment_type: cloud-hosted",
        )
        .replace("operations.dynamics", "cloudax.dynamics");
    let d = load_text(&text).desired.expect("valid");
    assert_eq!(d.link.reset_target, ResetTarget::CurrentEnvironment);
    assert!(!d.protected);
}

#[test]
fn explicit_unprotected_production_is_a_warning_only() {
    let text = VALID.replace(
        "  name: contoso-prod\n",
        "  name: contoso-prod\n  protected: false\n",
    );
    let l = load_text(&text);
    assert_eq!(codes(&l), ["dwlink::config::production_unprotected"]);
    assert_eq!(at(&l, "dwlink::config::production_unprotected"), (5, 14));
    assert!(l.desired.is_some_and(|d| !d.protected));
}

#[test]
fn no_legal_entities_warning_only_when_none_are_declared() {
    let none = load_text(&VALID.replace("[usmf]", "[]"));
    assert_eq!(codes(&none), ["dwlink::config::no_legal_entities"]);
    assert_eq!(at(&none, "dwlink::config::no_legal_entities"), (11, 19));
    // A wrong type is one error, not an error plus a misleading warning.
    let wrong = load_text(&VALID.replace("link:\n  legal_entities: [usmf]\n", "link: 5\n"));
    assert_eq!(codes(&wrong), ["dwlink::config::wrong_type"]);
    let wrong_list = load_text(&VALID.replace("[usmf]", "usmf"));
    assert_eq!(codes(&wrong_list), ["dwlink::config::wrong_type"]);
    // No `link` at all: the caret goes to the top of the document, not to offset 0.
    let text = format!(
        "# comment\n{}",
        VALID.replace("link:\n  legal_entities: [usmf]\n", "")
    );
    let absent = load_text(&text);
    assert_eq!(at(&absent, "dwlink::config::no_legal_entities"), (2, 1));
}

#[test]
fn a_config_without_dual_write_service_is_valid_with_a_warning() {
    let l = load_text(&VALID.replace(DWS, ""));
    assert_eq!(codes(&l), ["dwlink::config::no_dual_write_service"]);
    assert_eq!(at(&l, "dwlink::config::no_dual_write_service"), (1, 1));
    let p = l.problems.iter().next().unwrap();
    assert!(!p.is_error());
    assert!(p
        .help
        .as_deref()
        .is_some_and(|h| h.contains("developer tools") && h.contains("projectmanagementservice")));
    assert!(l.desired.is_some(), "a warning leaves the config valid");
    // Written but empty: the caret goes to the key.
    let null = load_text(&VALID.replace(DWS, "dual_write_service:\n"));
    assert_eq!(at(&null, "dwlink::config::no_dual_write_service"), (16, 1));
}

#[test]
fn an_enum_given_a_mapping_is_reported_once() {
    let l = load_text(&VALID.replace("environment_type: production", "environment_type: {a: 1}"));
    assert_eq!(codes(&l), ["dwlink::config::wrong_type"]);
}

#[test]
fn missing_keys_point_at_the_mapping_that_lacks_them() {
    let l = load_text(&format!(
        "# comment\n{}",
        VALID.replace("kind: DualWriteLink\n", "")
    ));
    assert_eq!(at(&l, "dwlink::config::missing_key"), (2, 1));
    let l = load_text(&VALID.replace("  url: https://contoso-prod.operations.dynamics.com\n", ""));
    assert_eq!(at(&l, "dwlink::config::missing_key"), (5, 1));
}

#[test]
fn every_problem_is_reported_in_one_pass() {
    let text = VALID
        .replace("[usmf]", "[usmf, USMF, toolong]")
        .replace("72f988bf-0000", "72f988bf-000")
        .replace("environment_type: production", "environment_type: prod");
    let l = load_text(&text);
    let mut c = codes(&l);
    c.sort();
    assert_eq!(
        c,
        [
            "dwlink::config::duplicate_legal_entity",
            "dwlink::config::invalid_guid",
            "dwlink::config::invalid_legal_entity",
            "dwlink::config::invalid_value",
        ]
    );
    // The third legal entity, not the list.
    assert_eq!(at(&l, "dwlink::config::invalid_legal_entity"), (11, 32));
}

#[test]
fn crlf_and_bom_keep_carets_in_place() {
    let crlf = VALID.replace("[usmf]", "[usmf, x-y]").replace('\n', "\r\n");
    let l = load_text(&crlf);
    assert_eq!(at(&l, "dwlink::config::invalid_legal_entity"), (11, 26));
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(VALID.replace("[usmf]", "[usmf, x-y]").as_bytes());
    let source = load::source_from_bytes("t.yaml", bytes, load::CONFIG_LIMITS).unwrap();
    let l = from_source(source);
    assert_eq!(at(&l, "dwlink::config::invalid_legal_entity"), (11, 26));
}

#[test]
fn hostile_bytes_never_panic() {
    let mut inputs: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"[[[[[[[[[[".repeat(100),
        b"{{{{{{{{".repeat(100),
        b"- - - - - - - -".repeat(20),
        b"a: &a [*a]".to_vec(),
        b"*a".to_vec(),
        b"? ? ? ?".to_vec(),
        b"a: \"unterminated".to_vec(),
        b"a: |\n  block\n\tb: 1".to_vec(),
        b"--- 1\n--- 2\n".to_vec(),
        b"\xef\xbb\xbf".to_vec(),
        b"%YAML 1.2\n---\na: 1".to_vec(),
        b"!!binary aGVsbG8=".to_vec(),
        b"a: !custom 1".to_vec(),
        b"<<: {a: 1}".to_vec(),
        "é: ü\n".as_bytes().to_vec(),
        b"a:\x00".to_vec(),
        b"\xff\xfe".to_vec(),
    ];
    // A cheap deterministic byte soup built from YAML's own indicator characters.
    let alphabet = b"[]{}:,-?&*!|>'\"%@`#\n \tab1";
    let mut x: u32 = 12345;
    for len in [3usize, 17, 64, 300] {
        for _ in 0..50 {
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                v.push(alphabet[(x >> 16) as usize % alphabet.len()]);
            }
            inputs.push(v);
        }
    }
    for bytes in inputs {
        if let Ok(source) = load::source_from_bytes("t.yaml", bytes, load::CONFIG_LIMITS) {
            let l = from_source(source);
            assert!(l.desired.is_none() || l.problems.iter().all(|p| !p.is_error()));
            // Rendering must not panic either.
            for p in l.problems.iter() {
                let _ = render(p);
            }
        }
    }
}

#[test]
fn control_characters_are_refused_without_echoing_them() {
    let e = load::source_from_bytes("t.yaml", b"a: \x1b[31m\n".to_vec(), load::CONFIG_LIMITS)
        .unwrap_err();
    assert_eq!(e.code, "dwlink::config::control_character");
    let shown = render(&e);
    assert!(!shown.contains('\x1b'), "{shown}");
}

/// A problem as the CLI draws it (miette's graphical report, no colour).
fn render(p: &crate::diag::Problem) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
    let mut out = String::new();
    let _ = handler.render_report(&mut out, p);
    out
}

#[test]
fn the_management_service_client_defaults_to_the_data_integration_app() {
    use crate::model::desired::DATA_INTEGRATION_CLIENT_ID;
    let l = load_text(VALID);
    let d = l.desired.expect("valid");
    assert_eq!(d.dual_write_client_id(), DATA_INTEGRATION_CLIENT_ID);
    assert_eq!(
        DATA_INTEGRATION_CLIENT_ID.to_string(),
        "2e49aa60-1bd3-43b6-8ab6-03ada3d9f08b"
    );

    let own = format!("{DWS}  client_id: 99999999-2222-3333-4444-555555555555\n");
    let l = load_text(&VALID.replace(DWS, &own));
    assert_eq!(codes(&l), Vec::<&str>::new());
    assert_eq!(
        l.desired.expect("valid").dual_write_client_id().to_string(),
        "99999999-2222-3333-4444-555555555555"
    );

    let bad = format!("{DWS}  client_id: not-a-guid\n");
    let l = load_text(&VALID.replace(DWS, &bad));
    assert_eq!(codes(&l), ["dwlink::config::invalid_guid"]);
    assert_eq!(at(&l, "dwlink::config::invalid_guid"), (18, 14));

    let unused = format!(
        "{DWS}  auth: client-credentials\n  client_id: 99999999-2222-3333-4444-555555555555\n"
    );
    let l = load_text(&VALID.replace(DWS, &unused));
    assert_eq!(codes(&l), ["dwlink::config::unused_client_id"]);
    assert!(l.desired.is_some(), "a warning only");

    let typo = format!("{DWS}  clientid: 99999999-2222-3333-4444-555555555555\n");
    let l = load_text(&VALID.replace(DWS, &typo));
    assert!(
        codes(&l).iter().any(|c| c.contains("unknown")),
        "{:?}",
        codes(&l)
    );
}

#[test]
fn maps_resolve_with_defaults() {
    let text = format!(
        "{VALID}maps:\n  - name: Customers V3 (accounts)\n    version: 1.0.0.3\n    integration_keys: [accountnumber]\n    initial_sync: run\n  - name: Vendors V2 (msdyn_vendors)\n    version: latest\n    state: paused\n"
    );
    let l = load_text(&text);
    assert!(l.problems.is_empty(), "{:?}", codes(&l));
    let d = l.desired.expect("valid");
    use crate::model::desired::{MapRunState, MapVersion};
    assert_eq!(d.maps.len(), 2);
    assert_eq!(d.maps[0].version, Some(MapVersion::Exact("1.0.0.3".into())));
    assert_eq!(d.maps[0].state, MapRunState::Running);
    assert!(d.maps[0].initial_sync);
    assert_eq!(
        d.maps[0].integration_keys.as_deref(),
        Some(&["accountnumber".to_string()][..])
    );
    assert_eq!(d.maps[1].version, Some(MapVersion::Latest));
    assert_eq!(d.maps[1].state, MapRunState::Paused);
}

#[test]
fn map_mistakes_are_shown_at_their_value() {
    let text = format!(
        "{VALID}after_reset:\n  start_maps: [Vendors V2 (msdyn_vendors)]\nmaps:\n  - name: Customers V3 (accounts)\n    version: 1.0.3\n  - name: Customers V3 (accounts)\n    state: sleeping\n  - name: Vendors V2 (msdyn_vendors)\n"
    );
    let l = load_text(&text);
    assert!(l.desired.is_none());
    let c = codes(&l);
    assert!(c.contains(&"dwlink::config::map_version"), "{c:?}");
    assert!(c.contains(&"dwlink::config::map_declared_twice"), "{c:?}");
    assert!(c.contains(&"dwlink::config::map_in_start_maps"), "{c:?}");
    // The schema reports the unknown state.
    assert!(l.problems.0.len() >= 4, "{c:?}");
    let base = VALID.lines().count();
    assert_eq!(at(&l, "dwlink::config::map_version"), (base + 5, 14));
    assert_eq!(at(&l, "dwlink::config::map_declared_twice"), (base + 6, 11));
    assert_eq!(at(&l, "dwlink::config::map_in_start_maps"), (base + 2, 16));
    let help = l
        .problems
        .iter()
        .find(|p| p.code == "dwlink::config::map_in_start_maps")
        .and_then(|p| p.help.clone())
        .unwrap_or_default();
    assert!(help.contains("keep it in `maps`"), "{help}");
}

#[test]
fn legal_entities_and_maps_are_bounded_by_count_and_said_once() {
    let codes_list: Vec<String> = (0..validate::MAX_LEGAL_ENTITIES + 1)
        .map(|i| format!("L{i:03X}"))
        .collect();
    let l = load_text(&VALID.replace("[usmf]", &format!("[{}]", codes_list.join(", "))));
    assert_eq!(codes(&l), ["dwlink::config::too_many_legal_entities"]);
    assert_eq!(at(&l, "dwlink::config::too_many_legal_entities"), (11, 19));
    assert!(l.desired.is_none());

    let maps: String = (0..maps::MAX_MAPS + 1)
        .map(|i| format!("  - name: Map {i} (t{i})\n    version: latest\n    state: running\n"))
        .collect();
    let l = load_text(&format!("{VALID}maps:\n{maps}"));
    assert_eq!(codes(&l), ["dwlink::config::too_many_maps"]);
    assert!(l.desired.is_none());

    let at_limit: Vec<String> = codes_list[..validate::MAX_LEGAL_ENTITIES].to_vec();
    let l = load_text(&VALID.replace("[usmf]", &format!("[{}]", at_limit.join(", "))));
    assert!(l.desired.is_some(), "{:?}", codes(&l));
}
