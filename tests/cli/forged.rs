//! Saved plans that were edited by hand: every forgery of the hostile review is refused (exit 3)
//! with nothing changed in the emulator, because `apply PLAN` re-derives the plan instead of
//! obeying the file.

use std::path::Path;

use serde_json::Value;

use crate::harness::{all, backup_files, path, restore_cfg, run, start_emu, status, Emu, RESTORED};
use crate::support::{code, scratch, stderr};

/// `plan --out` of `cfg` against `emu`, as JSON.
fn saved(dir: &Path, cfg: &str, emu: &Emu) -> (String, Value) {
    let plan = dir.join("reset.plan").display().to_string();
    let out = run(
        dir,
        &[
            "plan",
            "-f",
            cfg,
            "--emulator-url",
            &emu.url,
            "--out",
            &plan,
        ],
        &[],
    );
    assert!(matches!(code(&out), 0 | 1), "{}", all(&out));
    let v = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    (plan, v)
}

fn write(plan: &str, v: &Value) {
    std::fs::write(plan, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

fn actions(v: &mut Value) -> &mut Vec<Value> {
    v["actions"].as_array_mut().unwrap()
}

/// What a forgery could have changed: the link, the maps and every key table's keys.
fn world(dir: &Path, cfg: &str, emu: &Emu) -> Value {
    let s = status(dir, cfg, emu);
    serde_json::json!({"connection": s["live"]["connection"], "tables": s["live"]["key_tables"]})
}

fn assert_refused(dir: &Path, what: &str, out: &std::process::Output, code_name: &str) {
    assert_eq!(code(out), 3, "{what}: {}", all(out));
    assert!(stderr(out).contains(code_name), "{what}: {}", stderr(out));
    assert!(backup_files(dir).is_empty(), "{what}: nothing backed up");
    assert!(
        !dir.join(".dwlink/journal").exists(),
        "{what}: no apply was journaled"
    );
}

#[test]
fn every_forged_plan_of_the_review_is_refused_with_nothing_changed() {
    let dir = scratch("forged-restore");
    let cfg = restore_cfg();
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let before = world(&dir, &cfg, &emu);
    let (plan, original) = saved(&dir, &cfg, &emu);
    type Edit = Box<dyn Fn(&mut Value)>;
    let forgeries: Vec<(&str, Edit)> = vec![
        (
            "backup step removed",
            Box::new(|v| actions(v).retain(|a| a["kind"] != "backup")),
        ),
        (
            "another organization_url",
            Box::new(|v| {
                for a in actions(v).iter_mut().filter(|a| a["kind"] == "reset-link") {
                    a["organization_url"] = "https://contoso-prod.crm.dynamics.com".into();
                }
            }),
        ),
        (
            "reset listed twice",
            Box::new(|v| {
                let a = actions(v);
                let i = a.iter().position(|x| x["kind"] == "reset-link").unwrap();
                let reset = a[i].clone();
                a.insert(i + 1, reset);
            }),
        ),
        (
            "20,000 invented legal entities",
            Box::new(|v| {
                let many: Vec<Value> = (0..20_000).map(|i| format!("Z{i}").into()).collect();
                for a in actions(v).iter_mut().filter(|a| a["kind"] == "reset-link") {
                    a["legal_entities"] = many.clone().into();
                }
            }),
        ),
        (
            "rows to delete lowered",
            Box::new(|v| {
                for a in actions(v).iter_mut().filter(|a| a["kind"] == "clear-table") {
                    a["rows"] = 1.into();
                }
            }),
        ),
    ];
    for (what, edit) in forgeries {
        let mut forged = original.clone();
        edit(&mut forged);
        write(&plan, &forged);
        let out = run(
            &dir,
            &["apply", &plan, "--emulator-url", &emu.url, "--auto-approve"],
            &[],
        );
        assert_refused(&dir, what, &out, "dwlink::plan::tampered");
        assert!(
            stderr(&out).contains("differs from dwlink's plan"),
            "{what}: a caret in the file: {}",
            stderr(&out)
        );
        assert_eq!(world(&dir, &cfg, &emu), before, "{what}: the world changed");
    }
    // Consistent in `desired` and in the reset, so re-deriving agrees: refused because no
    // config may declare that many (dwlink::config::too_many_legal_entities), checked when the
    // plan's declaration is validated again.
    let many: Vec<Value> = (0..20_000)
        .map(|i: u32| {
            let digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".as_bytes();
            let code: String = (0..4)
                .map(|k| digits[(i / 36u32.pow(k) % 36) as usize] as char)
                .collect();
            code.into()
        })
        .collect();
    let mut forged = original.clone();
    forged["desired"]["link"]["legal_entities"] = many.clone().into();
    for a in actions(&mut forged)
        .iter_mut()
        .filter(|a| a["kind"] == "reset-link")
    {
        a["legal_entities"] = many.clone().into();
    }
    write(&plan, &forged);
    let out = run(
        &dir,
        &["apply", &plan, "--emulator-url", &emu.url, "--auto-approve"],
        &[],
    );
    assert_refused(
        &dir,
        "20,000 consistent legal entities",
        &out,
        "dwlink::plan::tampered",
    );
    assert!(
        stderr(&out).contains("dwlink takes at most 1,000"),
        "{}",
        stderr(&out)
    );
    assert_eq!(world(&dir, &cfg, &emu), before, "the world changed");

    // The untouched file still applies.
    write(&plan, &original);
    let out = run(
        &dir,
        &["apply", &plan, "--emulator-url", &emu.url, "--auto-approve"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", all(&out));
}

#[test]
fn a_forged_plan_of_protected_production_is_refused_with_its_name_confirmed() {
    let dir = scratch("forged-prod");
    let cfg = path("examples/protected-production.yaml");
    let emu = start_emu(
        &path("examples/fixtures/protected-production.yaml"),
        &dir.join("world.json"),
        &[],
    );
    let before = world(&dir, &cfg, &emu);
    let (plan, mut v) = saved(&dir, &cfg, &emu);
    assert!(v["summary"]["errors"].as_u64().unwrap() > 0);
    v["findings"] = Value::Array(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] != "error")
            .cloned()
            .collect(),
    );
    v["summary"]["errors"] = 0.into();
    for a in actions(&mut v) {
        a["destructive"] = false.into();
    }
    actions(&mut v).insert(
        0,
        serde_json::json!({"kind": "stop-maps", "maps": ["Customers V3 (accounts)"], "destructive": false}),
    );
    write(&plan, &v);
    let out = run(
        &dir,
        &[
            "apply",
            &plan,
            "--emulator-url",
            &emu.url,
            "--confirm",
            "contoso-prod",
        ],
        &[],
    );
    assert_refused(&dir, "protected production", &out, "dwlink::plan::tampered");
    assert_eq!(world(&dir, &cfg, &emu), before, "production changed");
}

#[test]
fn a_plan_applied_with_another_config_than_its_own_is_refused() {
    let dir = scratch("forged-config");
    let cfg = restore_cfg();
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let (plan, _) = saved(&dir, &cfg, &emu);
    // Same environment, other legal entities: the declaration the plan carries is not this one.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[USMF, DEMF]", "[USMF, DEMF, GBSI]");
    assert!(
        text.contains("GBSI"),
        "the example lists its legal entities inline"
    );
    let other = dir.join("other.yaml");
    std::fs::write(&other, text).unwrap();
    let out = run(
        &dir,
        &[
            "apply",
            &plan,
            "-f",
            &other.display().to_string(),
            "--emulator-url",
            &emu.url,
            "--auto-approve",
        ],
        &[],
    );
    assert_refused(&dir, "other config", &out, "dwlink::apply::config_mismatch");
}

#[test]
fn identifiers_that_are_paths_are_refused_before_anything_is_written() {
    let dir = scratch("forged-paths");
    let cfg = restore_cfg();
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let (plan, original) = saved(&dir, &cfg, &emu);
    let victim = dir.join("x").join("victim");
    let forgeries: Vec<(&str, Value)> = vec![
        ("absolute plan_id", {
            let mut v = original.clone();
            v["plan_id"] = victim.display().to_string().into();
            v
        }),
        ("name that climbs out of .dwlink", {
            let mut v = original.clone();
            v["desired"]["name"] = "../../../../x/N".into();
            v["environment"]["name"] = "../../../../x/N".into();
            v
        }),
    ];
    for (what, forged) in forgeries {
        write(&plan, &forged);
        let out = run(
            &dir,
            &["apply", &plan, "--emulator-url", &emu.url, "--auto-approve"],
            &[],
        );
        assert_refused(&dir, what, &out, "dwlink::plan::tampered");
        assert!(!dir.join("x").exists(), "{what}: wrote outside .dwlink");
        assert!(!dir.join(".dwlink").exists(), "{what}: wrote state");
    }
}

#[test]
fn a_plan_without_its_config_is_protected_when_the_admin_api_lists_production() {
    let dir = scratch("forged-unprotected");
    let fx = path("examples/fixtures/protected-production.yaml");
    let emu = start_emu(&fx, &dir.join("world.json"), &[]);
    // The plan of a config that drops protection and forces the reset: a consistent file, which
    // dwlink re-derives exactly, but whose declaration is the file's word only.
    let text = std::fs::read_to_string(path("examples/protected-production.yaml"))
        .unwrap()
        .replace(
            "  name: contoso-prod\n",
            "  name: contoso-prod\n  protected: false\n",
        )
        .replace(
            "  when: on-mismatch\n",
            "  when: on-mismatch\n  force: true\n",
        );
    let cfg = dir.join("unprotected.yaml");
    std::fs::write(&cfg, text).unwrap();
    let cfg = cfg.display().to_string();
    let before = world(&dir, &cfg, &emu);
    let (plan, v) = saved(&dir, &cfg, &emu);
    assert_eq!(v["summary"]["errors"], 0, "{v}");
    let out = run(
        &dir,
        &[
            "apply",
            &plan,
            "--emulator-url",
            &emu.url,
            "--confirm",
            "contoso-prod",
        ],
        &[],
    );
    assert_refused(&dir, "production", &out, "dwlink::apply::protected");
    assert!(stderr(&out).contains("admin API lists it as a production environment"));
    assert_eq!(world(&dir, &cfg, &emu), before, "production changed");
}

/// Plan files decide what an apply may do: readable by their owner only, whatever the umask.
#[cfg(unix)]
#[test]
fn plan_files_are_written_0600_under_umask_000() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("forged-umask");
    let plan = dir.join("reset.plan");
    let out = std::process::Command::new("sh")
        .args(["-c", "umask 000; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_dwlink"))
        .args(["plan", "--no-color", "-f", &restore_cfg(), "--emulator"])
        .arg(path(RESTORED))
        .arg("--out")
        .arg(&plan)
        .current_dir(&dir)
        .env("DWLINK_CLIENT_SECRET", crate::support::SECRET)
        .env(crate::harness::LOCK_DIR_ENV, crate::harness::lock_dir(&dir))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", all(&out));
    let mode = std::fs::metadata(&plan).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn with_a_plan_key_only_the_unaltered_signed_file_applies() {
    const KEY: &str = "0123456789abcdef0123456789abcdef-ci-secret";
    let dir = scratch("forged-signed");
    let cfg = restore_cfg();
    let emu = start_emu(&path(RESTORED), &dir.join("world.json"), &[]);
    let plan_with = |file: &str, key: Option<&str>| {
        let env: Vec<(&str, &str)> = key.map(|k| ("DWLINK_PLAN_KEY", k)).into_iter().collect();
        let out = run(
            &dir,
            &[
                "plan",
                "-f",
                &cfg,
                "--emulator-url",
                &emu.url,
                "--out",
                file,
            ],
            &env,
        );
        assert_eq!(code(&out), 0, "{}", all(&out));
        std::fs::read_to_string(file).unwrap()
    };
    let apply_with = |file: &str, key: &str| {
        run(
            &dir,
            &["apply", file, "--emulator-url", &emu.url, "--auto-approve"],
            &[("DWLINK_PLAN_KEY", key)],
        )
    };
    let signed = dir.join("signed.plan").display().to_string();
    let unsigned = dir.join("unsigned.plan").display().to_string();
    let text = plan_with(&signed, Some(KEY));
    assert!(text.contains("\"signature\": \"hmac-sha256:"), "{text}");
    plan_with(&unsigned, None);

    let out = apply_with(&unsigned, KEY);
    assert_refused(&dir, "unsigned", &out, "dwlink::plan::unsigned");
    assert!(stderr(&out).contains("help"), "{}", stderr(&out));
    let out = apply_with(&signed, "another-key-another-key-another-key!!");
    assert_refused(&dir, "other key", &out, "dwlink::plan::signature");
    // An edit that changes nothing dwlink re-derives still breaks the signature.
    let altered = dir.join("altered.plan").display().to_string();
    std::fs::write(
        &altered,
        text.replacen("\"created_at\": \"", "\"created_at\": \"1", 1),
    )
    .unwrap();
    let out = apply_with(&altered, KEY);
    assert_refused(&dir, "altered", &out, "dwlink::plan::signature");
    let out = apply_with(&signed, "short");
    assert_eq!(code(&out), 1, "{}", all(&out));
    assert!(stderr(&out).contains("dwlink::plan::weak_key"));

    let out = apply_with(&signed, KEY);
    assert_eq!(code(&out), 0, "{}", all(&out));
}
