//! `plan`, `show` and `status` of every example against the in-process emulator, over HTTP.

use serde_json::Value;

use crate::support::{code, dwlink_live, root, scratch, snapshot, stderr, stdout, SECRET};

/// Every example, and the exit code `plan --detailed-exitcode` must give for it.
const EXPECTED: &[(&str, i32)] = &[
    ("scenario-1-same-organization", 2),
    ("scenario-2-organization-mismatch", 2),
    ("scenario-3-no-power-platform-link", 1),
    ("scenario-4-cloud-hosted", 2),
    ("restore-cleanup-from-production", 2),
    ("protected-production", 1),
];

fn plan_args(name: &str) -> Vec<String> {
    vec![
        "plan".into(),
        "--no-color".into(),
        "-f".into(),
        format!("examples/{name}.yaml"),
        "--emulator".into(),
        format!("examples/fixtures/{name}.yaml"),
    ]
}

fn run(args: &[String]) -> crate::support::InProcess {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    dwlink_live(&root(), &args)
}

/// Plan ids and times differ per run; everything else must not.
fn stable_json(text: &str) -> String {
    let mut v: Value = serde_json::from_str(text).expect("plan --json prints JSON");
    v["plan_id"] = Value::from("<plan-id>");
    v["created_at"] = Value::from("<created-at>");
    serde_json::to_string_pretty(&v).expect("re-serialize")
}

#[test]
fn every_example_plans_against_the_emulator() {
    for (name, expected) in EXPECTED {
        let mut args = plan_args(name);
        args.push("--detailed-exitcode".into());
        let out = run(&args);
        assert_eq!(
            code(&out),
            *expected,
            "{name}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        snapshot(&format!("plan__{name}"), &stdout(&out));

        let mut args = plan_args(name);
        args.push("--json".into());
        let out = run(&args);
        snapshot(&format!("plan_json__{name}"), &stable_json(&stdout(&out)));
    }
}

#[test]
fn plain_exit_code_is_zero_for_changes_without_detailed_exitcode() {
    let out = run(&plan_args("scenario-2-organization-mismatch"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn json_plan_has_the_contract_fields() {
    let mut args = plan_args("restore-cleanup-from-production");
    args.push("--json".into());
    let v: Value = serde_json::from_str(&stdout(&run(&args))).unwrap();
    assert_eq!(v["format_version"], "1");
    for key in [
        "dwlink_version",
        "environment",
        "live_fingerprint",
        "scenario",
        "findings",
        "actions",
        "summary",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let actions = v["actions"].as_array().unwrap();
    assert!(actions
        .iter()
        .all(|a| a["kind"].is_string() && a["destructive"].is_boolean()));
    let codes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"restore.foreign-link"), "{codes:?}");
    assert!(
        codes.contains(&"secure-config.organization-mismatch"),
        "{codes:?}"
    );
    assert!(v["summary"]["rows_to_delete"].as_u64().unwrap() > 0);
}

/// Terraform's and kubectl's convention: `-` is what is live now, `+` what the config declares.
#[test]
fn the_link_diff_marks_live_minus_and_declared_plus() {
    let out = run(&plan_args("scenario-2-organization-mismatch"));
    let text = stdout(&out);
    assert!(text.contains("Link, live (-) vs declared (+):"), "{text}");
    assert!(
        text.contains("  - dataverse: https://contoso-test.crm.dynamics.com"),
        "{text}"
    );
    assert!(
        text.contains("  + dataverse: https://contoso-uat.crm.dynamics.com"),
        "{text}"
    );
}

#[test]
fn saved_plan_is_shown_as_planned() {
    let dir = scratch("show");
    let file = dir.join("reset.plan");
    let mut args = plan_args("scenario-2-organization-mismatch");
    args.extend(["--out".into(), file.display().to_string()]);
    let planned = run(&args);
    assert_eq!(code(&planned), 0, "{}", stderr(&planned));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(SECRET), "the plan file holds no secret");
    let shown = run(&[
        "show".into(),
        "--no-color".into(),
        file.display().to_string(),
    ]);
    assert_eq!(code(&shown), 0);
    // The same plan, less where it was read (a saved plan was read once, by `plan`).
    let planned: String = stdout(&planned)
        .lines()
        .filter(|l| !l.starts_with("Read against the emulator"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(stdout(&shown).ends_with(&planned[planned.find('\n').unwrap()..]));
    let json = run(&["show".into(), "--json".into(), file.display().to_string()]);
    let v: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v["environment"]["name"], "contoso-uat");
}

#[test]
fn a_plan_with_the_old_legal_entity_step_is_refused_asking_to_plan_again() {
    let dir = scratch("old-legal-entity-step");
    let file = dir.join("old.plan");
    let mut args = plan_args("scenario-2-organization-mismatch");
    args.extend(["--out".into(), file.display().to_string()]);
    assert_eq!(code(&run(&args)), 0);
    // What an earlier dwlink wrote: a step after the reset that called a route which does not
    // exist.
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let actions = v["actions"].as_array_mut().unwrap();
    let at = actions
        .iter()
        .position(|a| a["kind"] == "apply-solutions")
        .unwrap();
    actions.insert(
        at,
        serde_json::json!({"kind": "link-legal-entities", "legal_entities": ["USMF"], "destructive": false}),
    );
    v["summary"]["actions"]["link-legal-entities"] = 1.into();
    std::fs::write(&file, serde_json::to_vec_pretty(&v).unwrap()).unwrap();

    let fixture = root().join("examples/fixtures/scenario-2-organization-mismatch.yaml");
    let plan = file.display().to_string();
    let fixture = fixture.display().to_string();
    for args in [
        vec!["show", "--no-color", &plan],
        vec![
            "apply",
            "--no-color",
            &plan,
            "--emulator",
            &fixture,
            "--auto-approve",
        ],
    ] {
        let out = dwlink_live(&dir, &args);
        let err = stderr(&out);
        assert_eq!(code(&out), 1, "{args:?}: {err}");
        assert!(err.contains("dwlink::plan::unknown_step"), "{err}");
        assert!(err.contains("`link-legal-entities` step"), "{err}");
        assert!(err.contains("only be set by a reset"), "{err}");
        assert!(err.contains("plan again"), "{err}");
    }
    assert!(!dir.join(".dwlink").exists(), "nothing was applied");
}

#[test]
fn show_refuses_what_is_not_a_plan() {
    let dir = scratch("show-bad");
    for (name, body) in [
        ("garbage.plan", "not json"),
        ("v9.plan", r#"{"format_version":"9"}"#),
        ("empty.plan", ""),
    ] {
        let f = dir.join(name);
        std::fs::write(&f, body).unwrap();
        let out = run(&["show".into(), f.display().to_string()]);
        assert_eq!(code(&out), 1, "{name}");
        assert!(
            stderr(&out).contains("dwlink::plan::"),
            "{name}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn status_reads_live_state_read_only() {
    let name = "restore-cleanup-from-production";
    let out = run(&[
        "status".into(),
        "--no-color".into(),
        "-f".into(),
        format!("examples/{name}.yaml"),
        "--emulator".into(),
        format!("examples/fixtures/{name}.yaml"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    snapshot("status__restore-cleanup-from-production", &stdout(&out));
    let out = run(&[
        "status".into(),
        "--json".into(),
        "-f".into(),
        format!("examples/{name}.yaml"),
        "--emulator".into(),
        format!("examples/fixtures/{name}.yaml"),
    ]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(v["live_fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
}

#[test]
fn a_missing_secret_variable_is_named_not_guessed() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dwlink"))
        .args(plan_args("scenario-1-same-organization"))
        .current_dir(root())
        .env_remove("DWLINK_CLIENT_SECRET")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("DWLINK_CLIENT_SECRET"),
        "{}",
        stderr(&out)
    );
}

/// One environment, however its F&O URL is spelt: case, the trailing dot of a fully qualified
/// name and the default port do not make another host (for the connection-set lookup, the
/// emulator's routing and nextLinks alike), so the plan is the same actions over the same rows.
#[test]
fn another_spelling_of_the_environment_url_plans_the_same() {
    let name = "restore-cleanup-from-production";
    let dir = scratch("plan-url-spelling");
    let text = std::fs::read_to_string(root().join(format!("examples/{name}.yaml"))).unwrap();
    let plain = "url: https://contoso-uat.sandbox.operations.dynamics.com\n";
    assert!(text.contains(plain));
    let spelt = dir.join("spelt.yaml");
    std::fs::write(
        &spelt,
        text.replace(
            plain,
            "url: https://CONTOSO-UAT.sandbox.operations.dynamics.com.:443\n",
        ),
    )
    .unwrap();
    let fixture = root().join(format!("examples/fixtures/{name}.yaml"));
    let plan = |cfg: &str| {
        let args = [
            "plan".to_string(),
            "--json".into(),
            "-f".into(),
            cfg.into(),
            "--emulator".into(),
            fixture.display().to_string(),
        ];
        let out = run(&args);
        assert_eq!(code(&out), 0, "{cfg}: {}", stderr(&out));
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        (v["actions"].clone(), v["summary"].clone())
    };
    let want = plan(
        &root()
            .join(format!("examples/{name}.yaml"))
            .display()
            .to_string(),
    );
    assert!(want.0.as_array().is_some_and(|a| a.len() > 3), "{want:?}");
    assert_eq!(plan(&spelt.display().to_string()), want);
}
