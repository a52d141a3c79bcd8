//! Every forgery of the hostile review, refused by re-deriving the plan.

use serde_json::Value;

use super::super::tests::{desired, live, org, PROD, PROD_ID};
use super::*;
use crate::model::live::MapState;

/// A sandbox dual-write links to production's organization: the plan resets.
fn world() -> (Desired, LiveState) {
    let mut l = live();
    l.connection.as_mut().unwrap().organization = Some(org(PROD, PROD_ID));
    (desired(), l)
}

fn edited(plan: &Plan, edit: impl FnOnce(&mut Value)) -> Plan {
    let mut v = serde_json::to_value(plan).unwrap();
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

fn refused(saved: &Plan, d: &Desired, l: &LiveState) -> String {
    let p = rederive(saved, d, l).expect_err("a forged plan is refused");
    assert_eq!(p.code, TAMPERED);
    p.message
}

#[test]
fn the_plan_dwlink_made_is_accepted_and_the_fresh_plan_keeps_its_id() {
    let (d, l) = world();
    let saved = Plan::make(&d, &l);
    identifiers(&saved).unwrap();
    let fresh = rederive(&saved, &d, &l).unwrap();
    assert_eq!(fresh.plan_id, saved.plan_id);
    assert_eq!(
        serde_json::to_value(&fresh).unwrap(),
        serde_json::to_value(&saved).unwrap()
    );
}

#[test]
fn every_forged_action_list_is_refused() {
    let (d, l) = world();
    let saved = Plan::make(&d, &l);
    type Edit = Box<dyn Fn(&mut Value)>;
    let forgeries: Vec<(&str, Edit)> = vec![
        (
            "no backup",
            Box::new(|v| {
                let a = v["actions"].as_array_mut().unwrap();
                a.retain(|x| x["kind"] != "backup");
            }),
        ),
        (
            "not destructive",
            Box::new(|v| {
                for a in v["actions"].as_array_mut().unwrap() {
                    a["destructive"] = false.into();
                }
            }),
        ),
        (
            "another organization",
            Box::new(|v| {
                for a in v["actions"].as_array_mut().unwrap() {
                    if a["kind"] == "reset-link" {
                        a["organization_url"] = "https://evil.crm.dynamics.com".into();
                    }
                }
            }),
        ),
        (
            "reset twice",
            Box::new(|v| {
                let a = v["actions"].as_array_mut().unwrap();
                let i = a.iter().position(|x| x["kind"] == "reset-link").unwrap();
                let reset = a[i].clone();
                a.insert(i, reset);
            }),
        ),
        (
            "20,000 legal entities",
            Box::new(|v| {
                for a in v["actions"].as_array_mut().unwrap() {
                    if a["kind"] == "reset-link" {
                        a["legal_entities"] = (0..20_000)
                            .map(|i| Value::from(format!("L{i}")))
                            .collect::<Vec<_>>()
                            .into();
                    }
                }
            }),
        ),
        (
            "a stop-maps step",
            Box::new(|v| {
                let a = v["actions"].as_array_mut().unwrap();
                a.insert(
                    0,
                    serde_json::json!({"kind": "stop-maps", "maps": ["Customers V3 (accounts)"], "destructive": false}),
                );
            }),
        ),
        (
            "findings deleted",
            Box::new(|v| v["findings"] = Value::Array(Vec::new())),
        ),
        (
            "fewer rows",
            Box::new(|v| {
                for a in v["actions"].as_array_mut().unwrap() {
                    if a["kind"] == "clear-table" {
                        a["rows"] = 0.into();
                    }
                }
            }),
        ),
    ];
    for (what, edit) in forgeries {
        let forged = edited(&saved, edit);
        let message = refused(&forged, &d, &l);
        assert!(message.contains("nothing was changed"), "{what}: {message}");
    }
}

#[test]
fn a_declaration_edited_together_with_its_plan_is_refused_when_no_config_gives_it() {
    let (d, l) = world();
    let saved = Plan::make(&d, &l);
    for (what, name) in [
        ("a path", "../../../../x/N"),
        ("absolute", "/x/victim"),
        ("empty", ""),
    ] {
        let forged = edited(&saved, |v| {
            v["desired"]["name"] = name.into();
            v["environment"]["name"] = name.into();
        });
        let p = identifiers(&forged).expect_err(what);
        assert_eq!(p.code, TAMPERED, "{what}");
    }
    let lower = edited(&saved, |v| {
        v["desired"]["link"]["legal_entities"] = serde_json::json!(["usmf", "a-b-c-d-e"])
    });
    assert!(identifiers(&lower).is_err());
}

#[test]
fn a_plan_id_that_is_a_path_is_refused_before_any_file_is_named() {
    let (d, l) = world();
    let saved = Plan::make(&d, &l);
    for id in [
        "/x/victim",
        "../../victim",
        "A1B2C3D4-0000-4000-8000-000000000000",
        "",
    ] {
        let forged = edited(&saved, |v| v["plan_id"] = id.into());
        let p = identifiers(&forged).expect_err(id);
        assert_eq!(p.code, TAMPERED);
    }
}

#[test]
fn protection_dropped_in_the_file_changes_the_plan_dwlink_makes() {
    let (mut d, mut l) = world();
    d.protected = true;
    l.connection.as_mut().unwrap().maps[0].state = MapState::Running;
    let saved = Plan::make(&d, &l);
    assert!(saved.has_errors());
    let forged = edited(&saved, |v| {
        v["findings"] = Value::Array(Vec::new());
        v["summary"]["errors"] = 0.into();
    });
    refused(&forged, &d, &l);
}

#[test]
fn with_a_config_the_plan_must_come_from_it() {
    let (d, l) = world();
    let saved = Plan::make(&d, &l);
    same_declaration(&saved, &d).unwrap();
    let mut other = d.clone();
    other.link.legal_entities.push("GBSI".into());
    let p = same_declaration(&saved, &other).unwrap_err();
    assert!(p.message.contains("`link`"), "{}", p.message);
}

#[test]
fn every_example_declaration_survives_the_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let loaded = crate::config::load(&path);
        let d = loaded.desired.expect("examples validate");
        declaration(&d).unwrap_or_else(|p| panic!("{}: {}", path.display(), p.message));
    }
}
