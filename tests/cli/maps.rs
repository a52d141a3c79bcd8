//! Declared maps against the emulator over HTTP: a declaration with other versions, keys and
//! states than live plans the map steps and one apply makes them so; a reset in the same apply
//! brings every declared map back; applying twice changes nothing.

use serde_json::Value;

use crate::harness::{all, apply, path, run, start_emu, status};
use crate::support::{scratch, stdout};

pub(crate) const CFG: &str = "tests/fixtures/maps/contoso-uat.yaml";

fn plan_json(dir: &std::path::Path, cfg: &str, url: &str) -> Value {
    let out = run(
        dir,
        &["plan", "--json", "-f", cfg, "--emulator-url", url],
        &[],
    );
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|_| panic!("plan --json: {}", all(&out)))
}

fn kinds(plan: &Value) -> Vec<String> {
    plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn live_map<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["live"]["connection"]["maps"]
        .as_array()
        .expect("maps")
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no map {name} in {status}"))
}

/// Each declared map as `maps` declares it.
pub(crate) fn assert_declared(status: &Value) {
    let c = live_map(status, "Customers V3 (accounts)");
    assert_eq!(
        (&c["state"], &c["version"]),
        (&Value::from("running"), &Value::from("1.0.0.3"))
    );
    assert_eq!(c["integration_keys"], serde_json::json!(["accountnumber"]));
    let l = live_map(status, "Legal entities (cdm_companies)");
    assert_eq!(
        (&l["state"], &l["version"]),
        (&Value::from("running"), &Value::from("1.0.0.4"))
    );
    assert_eq!(
        live_map(status, "Vendors V2 (msdyn_vendors)")["state"],
        "paused"
    );
}

#[test]
fn declared_maps_are_planned_in_the_services_order_and_one_apply_converges() {
    let dir = scratch("maps-declared");
    let cfg = path(CFG);
    let emu = start_emu(
        &path("tests/fixtures/maps/linked.yaml"),
        &dir.join("world.json"),
        &[],
    );

    let plan = plan_json(&dir, &cfg, &emu.url);
    assert_eq!(
        kinds(&plan),
        [
            "stop-maps",
            "switch-map-version",
            "switch-map-version",
            "set-integration-keys",
            "refresh-tables",
            "start-maps",
            "pause-maps",
            "verify"
        ],
        "{plan}"
    );
    let start = &plan["actions"][5]["maps"];
    // The prerequisite starts first.
    assert_eq!(
        start,
        &serde_json::json!([
            "Legal entities (cdm_companies)",
            "Customers V3 (accounts)",
            "Vendors V2 (msdyn_vendors)"
        ])
    );
    assert_eq!(plan["actions"][1]["from"], "1.0.0.1");
    assert_eq!(plan["actions"][1]["to"], "1.0.0.3");

    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let settled = status(&dir, &cfg, &emu);
    assert_declared(&settled);
    // `status --json` lists each map beside its declaration.
    let maps = settled["maps"].as_array().expect("maps[]");
    let customers = maps
        .iter()
        .find(|m| m["name"] == "Customers V3 (accounts)")
        .expect("Customers in maps[]");
    assert_eq!(customers["state"], "running");
    assert_eq!(customers["version"], "1.0.0.3");
    assert_eq!(
        customers["versions"],
        serde_json::json!(["1.0.0.1", "1.0.0.2", "1.0.0.3"])
    );
    assert_eq!(
        customers["integration_keys"],
        serde_json::json!(["accountnumber"])
    );
    assert_eq!(customers["declared"]["version"]["exact"], "1.0.0.3");
    let out = run(
        &dir,
        &[
            "status",
            "--no-color",
            "-f",
            &cfg,
            "--emulator-url",
            &emu.url,
        ],
        &[],
    );
    assert!(
        stdout(&out).contains("Running 1.0.0.3 keys [accountnumber]  (declared: running 1.0.0.3)"),
        "{}",
        all(&out)
    );

    // A plan right after is empty, and a second apply changes nothing.
    let out = run(
        &dir,
        &[
            "plan",
            "--detailed-exitcode",
            "-f",
            &cfg,
            "--emulator-url",
            &emu.url,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let out = apply(&dir, &cfg, &emu, &[]);
    assert!(all(&out).contains("Nothing to apply"), "{}", all(&out));
    assert_eq!(status(&dir, &cfg, &emu)["live"], settled["live"]);
}

#[test]
fn a_reset_and_declared_maps_in_one_apply_bring_every_map_back() {
    let dir = scratch("maps-reset");
    let cfg = path(CFG);
    let emu = start_emu(
        &path("tests/fixtures/maps/restored.yaml"),
        &dir.join("world.json"),
        &[],
    );

    let plan = plan_json(&dir, &cfg, &emu.url);
    let k = kinds(&plan);
    let reset = k.iter().position(|k| k == "reset-link").expect("a reset");
    assert_eq!(
        k[reset + 1..],
        [
            "apply-solutions",
            "switch-map-version",
            "switch-map-version",
            "set-integration-keys",
            "refresh-tables",
            "start-maps",
            "pause-maps",
            "verify"
        ],
        "{plan}"
    );
    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert_declared(&status(&dir, &cfg, &emu));
    let again = plan_json(&dir, &cfg, &emu.url);
    assert!(kinds(&again).is_empty(), "{again}");
}

#[test]
fn import_declares_every_map_exactly_and_a_plan_of_it_is_empty() {
    let dir = scratch("maps-import");
    let emu = start_emu(
        &path("tests/fixtures/maps/linked.yaml"),
        &dir.join("world.json"),
        &[],
    );
    // Keys set first, so the import has some to write.
    let out = apply(&dir, &path(CFG), &emu, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let imported = dir.join("imported.yaml");
    let out = run(
        &dir,
        &[
            "import",
            "-f",
            &path(CFG),
            "--emulator-url",
            &emu.url,
            "--out",
            &imported.display().to_string(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let text = std::fs::read_to_string(&imported).expect("the imported config");
    for needle in [
        "name: Customers V3 (accounts)",
        "version: \"1.0.0.3\"",
        "- accountnumber",
        "state: paused",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    let plan = plan_json(&dir, &imported.display().to_string(), &emu.url);
    assert!(kinds(&plan).is_empty(), "{plan}");
}
