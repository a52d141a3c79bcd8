//! The invalid-config corpus: one rule per file, each announcing its code and caret position in
//! its first line (`# expect: <code> at <line>:<col>`), plus the hostile inputs that cannot be
//! committed.

use std::fs;

use crate::support::{code, dwlink, root, scratch, snapshot, stderr, yaml_files};

/// Codes that are warnings: the file is still valid, so validate exits 0.
const WARNINGS: &[&str] = &[
    "dwlink::config::production_unprotected",
    "dwlink::config::no_legal_entities",
    "dwlink::config::after_reset_unused",
    "dwlink::config::no_dual_write_service",
    "dwlink::config::unused_client_id",
];

fn expectation(bytes: &[u8]) -> (String, String) {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    let rest = first.strip_prefix("# expect: ").unwrap_or_else(|| {
        panic!("first line must be `# expect: <code> at <line>:<col>`, got {first:?}")
    });
    let (code, pos) = rest.split_once(" at ").expect("`<code> at <line>:<col>`");
    (code.trim().to_string(), pos.trim().to_string())
}

#[test]
fn every_invalid_fixture_reports_its_own_code_at_its_caret() {
    let dir = root().join("tests/fixtures/configs/invalid");
    let files = yaml_files(&dir);
    assert!(
        files.len() >= 30,
        "the corpus has {} files, want at least 30",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (want_code, want_pos) = expectation(&fs::read(path).unwrap());
        let out = dwlink(&dir, &["validate", "--no-color", "-f", &name]);
        let err = stderr(&out);
        let want_exit = if WARNINGS.contains(&want_code.as_str()) {
            0
        } else {
            1
        };
        let codes: Vec<&str> = err.lines().filter(|l| l.starts_with("dwlink::")).collect();
        let header = format!("[{name}:{want_pos}]");
        // The expected code's own diagnostic must carry the header: its block starts at the code
        // line and runs to the next code line.
        let block = err
            .split_inclusive('\n')
            .skip_while(|l| l.trim_end() != want_code)
            .take_while(|l| !l.starts_with("dwlink::") || l.trim_end() == want_code)
            .collect::<String>();
        if code(&out) != want_exit {
            failures.push(format!("{name}: exit {} (want {want_exit})", code(&out)));
        }
        if codes != [want_code.as_str()] {
            failures.push(format!("{name}: codes {codes:?} (want only {want_code})"));
        }
        if !block.contains(&header) {
            failures.push(format!("{name}: no {header} in the {want_code} diagnostic"));
        }
        snapshot(
            &format!("invalid__{}", name.trim_end_matches(".yaml")),
            &err,
        );
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

#[test]
fn every_code_the_config_check_can_emit_is_in_the_corpus() {
    let corpus: String = yaml_files(&root().join("tests/fixtures/configs/invalid"))
        .iter()
        .map(|p| {
            String::from_utf8_lossy(&fs::read(p).unwrap())
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
                + "\n"
        })
        .collect();
    // Not reachable from one file's content: the file system ones are tested below, the rest
    // guard against a schema/serde disagreement that would be our bug.
    let elsewhere = [
        "dwlink::config::not_found",
        "dwlink::config::not_a_file",
        "dwlink::config::too_large",
        "dwlink::config::unreadable",
        "dwlink::config::invalid",
        "dwlink::config::schema",
    ];
    let mut missing = Vec::new();
    for file in [
        "crates/dwlink-core/src/config/schema.rs",
        "crates/dwlink-core/src/config/validate.rs",
        "crates/dwlink-core/src/config/load.rs",
        "crates/dwlink-core/src/yaml.rs",
    ] {
        let src = fs::read_to_string(root().join(file)).unwrap();
        for piece in src.split('"').skip(1).step_by(2) {
            let is_code =
                piece.starts_with("dwlink::config::") || piece.starts_with("dwlink::yaml::");
            if is_code && !elsewhere.contains(&piece) && !corpus.contains(&format!(" {piece} at")) {
                missing.push(piece.to_string());
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "codes without an invalid fixture: {missing:?}"
    );
}

/// Inputs generated at run time; paths are relative to a scratch directory so the snapshot is
/// stable.
#[test]
fn hostile_files_get_a_diagnostic_not_a_panic() {
    let dir = scratch("hostile");
    fs::write(dir.join("empty.yaml"), "").unwrap();
    // Sparse: the size check must refuse it before anything is read.
    fs::File::create(dir.join("huge.yaml"))
        .unwrap()
        .set_len(50 * 1024 * 1024)
        .unwrap();
    fs::create_dir(dir.join("configs")).unwrap();
    let mut nested = String::from("a: ");
    nested.push_str(&"[".repeat(10_000));
    fs::write(dir.join("brackets.yaml"), nested).unwrap();
    let cases = [
        ("empty.yaml", "dwlink::config::empty"),
        ("huge.yaml", "dwlink::config::too_large"),
        // A directory is validated config by config, as plan takes it; this one holds none.
        ("configs", "dwlink::fleet::empty_directory"),
        ("missing.yaml", "dwlink::config::not_found"),
        ("brackets.yaml", "dwlink::yaml::too_deep"),
    ];
    let mut all = String::new();
    for (file, want) in cases {
        let out = dwlink(&dir, &["validate", "--no-color", "-f", file]);
        let err = stderr(&out);
        assert_eq!(code(&out), 1, "{file}: {err}");
        assert!(err.starts_with(want), "{file}: want {want}, got:\n{err}");
        assert!(!err.contains("panicked"), "{file} panicked:\n{err}");
        if file != "brackets.yaml" {
            all.push_str(&format!("$ dwlink validate --no-color -f {file}\n{err}\n"));
        }
    }
    #[cfg(unix)]
    {
        let out = dwlink(&dir, &["validate", "--no-color", "-f", "/dev/zero"]);
        assert_eq!(code(&out), 1);
        assert!(
            stderr(&out).starts_with("dwlink::config::not_a_file"),
            "{}",
            stderr(&out)
        );
    }
    snapshot("hostile_files", &all);
    let _ = fs::remove_dir_all(&dir);
}

/// Opening a FIFO for reading blocks until something writes to it: validate must refuse it from
/// its metadata at once instead of hanging.
#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_blocking() {
    use std::time::{Duration, Instant};
    let dir = scratch("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("dwlink.yaml"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dwlink"))
        .args(["validate", "--no-color", "-f", "dwlink.yaml"])
        .current_dir(&dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("validate of a FIFO still blocks after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.starts_with("dwlink::config::not_a_file"), "{err}");
    assert!(err.contains("named pipe"), "{err}");
    assert!(err.contains("regular YAML file"), "{err}");
    let _ = fs::remove_dir_all(&dir);
}

/// miette panics on columns past 65,535; a long line is shown in part instead, with the true
/// line and column in the header.
#[test]
fn an_error_far_along_a_long_line_is_shown_clipped() {
    let dir = scratch("long-line");
    let base = fs::read_to_string(root().join("tests/fixtures/configs/invalid/invalid-enum.yaml"))
        .unwrap();
    let line = format!(
        "finance_operations: {{url: https://contoso-uat.sandbox.operations.dynamics.com,{}environment_type: sandboxx}}",
        " ".repeat(70_000)
    );
    let text: String = base
        .lines()
        .filter(|l| {
            !l.starts_with("  url: https://contoso-uat.sandbox")
                && !l.starts_with("  environment_type:")
        })
        .map(|l| {
            if l == "finance_operations:" {
                line.clone()
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    let line_no = text.lines().position(|l| l == line).unwrap() + 1;
    let column = line.find("sandboxx").unwrap() + 1;
    fs::write(dir.join("long.yaml"), &text).unwrap();
    let out = dwlink(&dir, &["validate", "--no-color", "-f", "long.yaml"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("dwlink::config::invalid_value"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&format!("[long.yaml:{line_no}:{column}]")),
        "{err}"
    );
    assert!(err.contains("shown in part"), "{err}");
    assert!(err.len() < 2_000, "{} bytes:\n{err}", err.len());
    let _ = fs::remove_dir_all(&dir);
}

/// Generated files can hold 150,000 problems: the first 50 are drawn, the rest counted, and
/// finding them stays linear (a duplicate-key scan and the schema check's dedup were quadratic).
/// A fifth of the sizes keeps the debug-build test quick and would still take minutes
/// if either scan were quadratic again; the full sizes are timed on the release build (README).
#[test]
fn a_flood_of_problems_is_counted_not_drawn() {
    let dir = scratch("flood");
    let base = fs::read_to_string(root().join("tests/fixtures/configs/invalid/invalid-enum.yaml"))
        .unwrap()
        .replace("environment_type: sandbx", "environment_type: sandbox");
    // At the bound of 1,000 entries (beyond it one too_many_legal_entities says it all).
    let les = format!("[{}]", vec!["USMF"; 1_000].join(", "));
    fs::write(
        dir.join("duplicates.yaml"),
        base.replace("[USMF, DEMF]", &les),
    )
    .unwrap();
    let keys: String = (0..8_000)
        .map(|i| format!("unknown_key_{i}: 1\n"))
        .collect();
    fs::write(dir.join("unknown.yaml"), format!("{base}{keys}")).unwrap();
    for (file, code_line, more) in [
        (
            "duplicates.yaml",
            "dwlink::config::duplicate_legal_entity",
            "… and 949 more problems (949 errors, 0 warnings), not shown",
        ),
        (
            "unknown.yaml",
            "dwlink::config::unknown_key",
            "… and 7,950 more problems (7,950 errors, 0 warnings), not shown",
        ),
    ] {
        let out = dwlink(&dir, &["validate", "--no-color", "-f", file]);
        let err = stderr(&out);
        assert_eq!(code(&out), 1, "{file}");
        assert!(
            err.len() < 100_000,
            "{file}: {} bytes of diagnostics",
            err.len()
        );
        assert_eq!(
            err.lines().filter(|l| *l == code_line).count(),
            50,
            "{file}"
        );
        assert!(
            err.contains(more),
            "{file}: {}",
            &err[err.len().saturating_sub(400)..]
        );
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn all_problems_of_several_files_are_reported_in_one_run() {
    let dir = root().join("tests/fixtures/configs/invalid");
    let out = dwlink(
        &dir,
        &[
            "validate",
            "--no-color",
            "unknown-key.yaml",
            "invalid-legal-entity.yaml",
            "production-unprotected.yaml",
        ],
    );
    let err = stderr(&out);
    assert_eq!(code(&out), 1);
    for want in [
        "dwlink::config::unknown_key",
        "dwlink::config::invalid_legal_entity",
        "dwlink::config::production_unprotected",
    ] {
        assert!(err.contains(want), "missing {want} in:\n{err}");
    }
}

#[test]
fn no_color_env_means_no_escape_codes() {
    let dir = root().join("tests/fixtures/configs/invalid");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dwlink"))
        .args(["validate", "-f", "unknown-key.yaml"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert!(
        !out.stderr.contains(&0x1b),
        "escape codes with NO_COLOR:\n{}",
        stderr(&out)
    );
}
