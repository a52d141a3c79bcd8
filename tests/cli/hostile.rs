//! Hostile files (issue 22): generated here, never committed, each refused with a diagnostic in
//! bounded time, memory and output. Memory is bounded by design (the limits are checked while the
//! file is read); the tests check the refusal and the size of what is printed.

use std::fs;

use crate::support::{code, dwlink, root, scratch, stderr};

/// The most one command may print on stderr for any input.
const MAX_STDERR: usize = 100_000;

fn assert_refused(out: &impl crate::support::Ran, want: &str) -> String {
    let err = stderr(out);
    assert_eq!(code(out), 1, "{}", &err[..err.len().min(2_000)]);
    assert!(
        !err.contains("panicked"),
        "{}",
        &err[..err.len().min(2_000)]
    );
    assert!(
        err.len() < MAX_STDERR,
        "{} bytes on stderr:\n{}",
        err.len(),
        &err[..2_000]
    );
    assert!(
        err.contains(want),
        "want {want}:\n{}",
        &err[..err.len().min(4_000)]
    );
    err
}

/// The 800 KB config: a 500 KB value aliased 100,000 times (50 GB once copied out) was
/// counted as 100,001 values and allocated until the process aborted.
#[test]
fn a_long_value_aliased_many_times_is_refused_by_its_expanded_size() {
    let dir = scratch("alias-size");
    let aliases = vec!["*a"; 100_000].join(", ");
    let text = format!("big: &a \"{}\"\nmany: [{aliases}]\n", "x".repeat(500_000));
    assert!(text.len() < 1024 * 1024);
    fs::write(dir.join("dwlink.yaml"), text).unwrap();
    let out = dwlink(&dir, &["validate", "--no-color", "-f", "dwlink.yaml"]);
    let err = assert_refused(&out, "dwlink::yaml::too_large_expanded");
    assert!(err.contains("8 MiB"), "{err}");
    assert!(err.contains("help:"), "{err}");
    let _ = fs::remove_dir_all(&dir);
}

/// Long keys nested deep make every value's path long: without aliases, a 1 MiB file could
/// index gigabytes of paths.
#[test]
fn long_keys_over_many_values_are_refused_by_their_expanded_size() {
    let dir = scratch("path-size");
    let mut text = String::new();
    for depth in 0..60 {
        text.push_str(&" ".repeat(depth * 2));
        text.push_str(&format!("{}{depth}:\n", "k".repeat(250)));
    }
    let indent = " ".repeat(120);
    for i in 0..40_000 {
        text.push_str(&format!("{indent}v{i}: 1\n"));
    }
    assert!(text.len() < 1024 * 1024 * 6);
    fs::write(dir.join("dwlink.yaml"), &text).unwrap();
    let out = dwlink(&dir, &["validate", "--no-color", "-f", "dwlink.yaml"]);
    let err = stderr(&out);
    // Over the 1 MiB config limit it is refused for its size; the fixture loader (which allows
    // large files) must refuse it for its expansion.
    assert!(err.starts_with("dwlink::config::too_large"), "{err}");
    let fixture = dir.join("fixture.yaml");
    fs::write(&fixture, &text).unwrap();
    let problems = dwlink_core::fixture::load(&fixture).unwrap_err();
    assert_eq!(problems.0[0].code, "dwlink::yaml::too_large_expanded");
    let _ = fs::remove_dir_all(&dir);
}

/// The 1.9 MB fixture given to `--emulator`: refused before the emulator starts.
#[test]
fn a_fixture_alias_bomb_is_refused_by_plan_emulator() {
    let dir = scratch("fixture-bomb");
    let aliases = vec!["*a"; 350_000].join(", ");
    let text = format!(
        "clients: &a [{{client_id: \"{}\"}}]\ndataverse: [{aliases}]\n",
        "x".repeat(500_000)
    );
    assert!(text.len() > 1_800_000, "{}", text.len());
    fs::write(dir.join("fixture.yaml"), text).unwrap();
    let config = root().join("examples/scenario-1-same-organization.yaml");
    let out = dwlink(
        &dir,
        &[
            "plan",
            "--no-color",
            "-f",
            &config.display().to_string(),
            "--emulator",
            "fixture.yaml",
        ],
    );
    assert_refused(&out, "dwlink::yaml::too_large_expanded");
    let _ = fs::remove_dir_all(&dir);
}
