//! Applying the same config twice leaves nothing to do the second time, a `RestoreCleanup`
//! included (spec §3, "Convergence").

use crate::harness::{all, apply, path, restore_cfg, run, start_emu, status};
use crate::support::{scratch, stderr};

#[test]
fn a_completed_restore_cleanup_converges() {
    let dir = scratch("converge-restore-cleanup");
    let cfg = restore_cfg();
    let emu = start_emu(
        &path("examples/fixtures/restore-cleanup-from-production.yaml"),
        &dir.join("world.json"),
        &[],
    );

    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(all(&out).contains("Apply complete"), "{}", all(&out));
    let settled = status(&dir, &cfg, &emu);

    // Applying it again finds nothing to do and changes nothing.
    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(all(&out).contains("Nothing to apply"), "{}", all(&out));
    assert!(!all(&out).contains("reset-link"), "{}", all(&out));
    let journals = std::fs::read_dir(dir.join(".dwlink/journal"))
        .unwrap()
        .count();
    let backups = std::fs::read_dir(dir.join(".dwlink/backups"))
        .unwrap()
        .count();
    assert_eq!((journals, backups), (1, 1), "only the first apply ran");
    assert_eq!(
        status(&dir, &cfg, &emu)["live"],
        settled["live"],
        "the second apply changed nothing"
    );

    // …and a CI check of it reports "no changes".
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
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn other_legal_entities_without_a_reset_are_a_warning_with_nothing_to_apply() {
    let dir = scratch("converge-legal-entities");
    let emu = start_emu(
        &path("examples/fixtures/restore-cleanup-from-production.yaml"),
        &dir.join("world.json"),
        &[],
    );
    let out = apply(&dir, &restore_cfg(), &emu, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));

    // The cleanup is done; the declaration now wants one more company.
    let text = std::fs::read_to_string(restore_cfg()).unwrap();
    let more = text.replace(
        "legal_entities: [USMF, DEMF]",
        "legal_entities: [USMF, DEMF, GBSI]",
    );
    assert_ne!(more, text);
    let cfg = dir.join("more-legal-entities.yaml");
    std::fs::write(&cfg, more).unwrap();
    let cfg = cfg.display().to_string();
    let plan = |extra: &[&str]| {
        let mut args = vec!["plan", "--no-color", "-f", &cfg, "--emulator-url", &emu.url];
        args.extend(extra);
        run(&dir, &args, &[])
    };

    // No step can change them, so there is nothing to apply: exit 0 even for a CI check.
    let out = plan(&["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let text = all(&out);
    assert!(text.contains("legal-entities.differ"), "{text}");
    assert!(
        text.contains(
            "dual-write syncs legal entities DEMF, USMF, the config declares DEMF, GBSI, USMF"
        ),
        "{text}"
    );
    assert!(text.contains("No changes dwlink can make"), "{text}");

    let out = plan(&["--json"]);
    let v: serde_json::Value = serde_json::from_str(&crate::support::stdout(&out)).unwrap();
    assert_eq!(v["actions"], serde_json::json!([]));
    let finding = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "legal-entities.differ")
        .expect("the finding");
    assert_eq!(finding["severity"], "warning");
    assert_eq!(v["summary"]["warnings"], 1);

    let out = apply(&dir, &cfg, &emu, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(all(&out).contains("Nothing to apply"), "{}", all(&out));
}

/// Every example, applied twice to its own fixture: the second plan right after is empty (or,
/// for the examples whose guard refuses them, both applies refuse and nothing changes).
#[test]
fn every_example_applied_twice_leaves_an_empty_plan() {
    let examples = crate::support::yaml_files(&crate::support::root().join("examples"));
    assert!(examples.len() >= 6);
    for config in examples {
        let name = config.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = scratch(&format!("converge-every-{name}"));
        let cfg = config.display().to_string();
        let emu = start_emu(
            &path(&format!("examples/fixtures/{name}.yaml")),
            &dir.join("world.json"),
            &[],
        );
        let first = apply(&dir, &cfg, &emu, &[]);
        let refused = first.status.code() == Some(3) || first.status.code() == Some(1);
        if !refused {
            assert_eq!(first.status.code(), Some(0), "{name}: {}", all(&first));
        }
        let before = status(&dir, &cfg, &emu);
        let second = apply(&dir, &cfg, &emu, &[]);
        assert_eq!(
            second.status.code(),
            first.status.code().map(|c| if refused { c } else { 0 }),
            "{name}: {}",
            all(&second)
        );
        assert_eq!(status(&dir, &cfg, &emu)["live"], before["live"], "{name}");
        if refused {
            continue;
        }
        assert!(
            all(&second).contains("Nothing to apply"),
            "{name}: {}",
            all(&second)
        );
        let plan = run(
            &dir,
            &[
                "plan",
                "--detailed-exitcode",
                "--no-color",
                "-f",
                &cfg,
                "--emulator-url",
                &emu.url,
            ],
            &[],
        );
        assert_eq!(plan.status.code(), Some(0), "{name}: {}", all(&plan));
        assert!(
            crate::support::stdout(&plan).contains("No changes."),
            "{name}: {}",
            all(&plan)
        );
    }
}
