//! What a first-time user captures and reads: results on stdout and progress on stderr, JSON a
//! program can follow (a few progress events per step, every refusal an error object), and a
//! plan screen whose actions come before the prose.

use serde_json::Value;

use crate::harness::{path, RESTORED};
use crate::support::{code, dwlink_live, root, scratch, stderr, stdout};

const CLEANUP: &str = "restore-cleanup-from-production";

fn example(name: &str) -> String {
    path(&format!("examples/{name}.yaml"))
}

fn fixture(name: &str) -> String {
    path(&format!("examples/fixtures/{name}.yaml"))
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[test]
fn apply_prints_results_on_stdout_and_progress_on_stderr() {
    let dir = scratch("first-apply-streams");
    let out = dwlink_live(
        &dir,
        &[
            "apply",
            "-f",
            &example(CLEANUP),
            "--emulator",
            &fixture(CLEANUP),
            "--auto-approve",
        ],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let (out_text, err_text) = (stdout(&out), stderr(&out));
    // `apply | tee apply.log` keeps the summary, each step's time and the backup's path.
    assert!(
        out_text.contains("Apply complete: 11 steps in "),
        "{out_text}"
    );
    assert!(
        out_text.contains("Backup: .dwlink/backups/contoso-uat-"),
        "{out_text}"
    );
    assert!(
        out_text.contains("`dwlink restore .dwlink/backups/"),
        "{out_text}"
    );
    let summary = &out_text[out_text.find("Apply complete").unwrap()..];
    let step_lines: Vec<&str> = summary.lines().skip(1).take(11).collect();
    assert!(
        step_lines
            .iter()
            .all(|l| l.contains(", after ") && l.ends_with(" s")),
        "{step_lines:#?}"
    );
    // Progress is for the person watching, and stays out of a captured log.
    assert!(err_text.contains("[1/11] stop-maps"), "{err_text}");
    assert!(err_text.contains("✓ 1 stopped, after "), "{err_text}");
    assert!(!err_text.contains("Apply complete"), "{err_text}");
}

#[test]
fn apply_json_is_one_object_per_step_and_a_few_progress_events() {
    let dir = scratch("first-apply-json");
    let out = dwlink_live(
        &dir,
        &[
            "apply",
            "--json",
            "-f",
            &example(CLEANUP),
            "--emulator",
            &path(RESTORED),
            "--auto-approve",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let events = json_lines(&stdout(&out));
    let dones: Vec<&Value> = events.iter().filter(|e| e["event"] == "done").collect();
    assert_eq!(dones.len(), 11, "{events:#?}");
    assert!(dones.iter().all(|d| d["elapsed_ms"].is_u64()), "{dones:#?}");
    let backup = dones.iter().find(|d| d["kind"] == "backup").unwrap();
    assert_eq!(backup["rows"], 606);
    // 600 rows used to be 600 events: now at most one per tenth of a step, plus its last.
    for step in 0..11 {
        let n = events
            .iter()
            .filter(|e| e["event"] == "progress" && e["step"] == step)
            .count();
        assert!(n <= 11, "step {step}: {n} progress events");
    }
    assert!(events
        .iter()
        .any(|e| e["event"] == "progress" && e["done"] == 600 && e["of"] == 600));
    assert_eq!(events.last().unwrap()["event"], "summary");
}

#[test]
fn every_refusal_under_json_is_an_error_object_on_stdout() {
    let dir = scratch("first-json-refusals");
    let missing = dir.join("missing.yaml").display().to_string();
    let cases: Vec<(Vec<String>, &str, i32)> = vec![
        (
            vec![
                "apply".into(),
                "--json".into(),
                "--input=false".into(),
                "-f".into(),
                example(CLEANUP),
                "--emulator".into(),
                fixture(CLEANUP),
            ],
            "dwlink::apply::not_confirmed",
            3,
        ),
        (
            vec![
                "apply".into(),
                "--json".into(),
                "-f".into(),
                example("protected-production"),
                "--emulator".into(),
                fixture("protected-production"),
                "--auto-approve".into(),
            ],
            "dwlink::apply::protected",
            3,
        ),
        (
            vec!["plan".into(), "--json".into(), "-f".into(), missing.clone()],
            "dwlink::config::not_found",
            1,
        ),
        (
            vec![
                "status".into(),
                "--json".into(),
                "-f".into(),
                missing.clone(),
            ],
            "dwlink::config::not_found",
            1,
        ),
        (
            vec![
                "doctor".into(),
                "--json".into(),
                "-f".into(),
                missing.clone(),
            ],
            "dwlink::config::not_found",
            1,
        ),
        (vec!["show".into(), "--json".into(), missing.clone()], "", 1),
        (
            vec![
                "restore".into(),
                "--json".into(),
                missing.clone(),
                "-f".into(),
                example(CLEANUP),
            ],
            "",
            1,
        ),
    ];
    for (args, want, exit) in cases {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = dwlink_live(&dir, &argv);
        assert_eq!(code(&out), exit, "{args:?}: {}", stderr(&out));
        let last = stdout(&out)
            .lines()
            .last()
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .unwrap_or_else(|| panic!("{args:?}: nothing on stdout; stderr: {}", stderr(&out)));
        let code_seen = last["error"]["code"].as_str().unwrap_or_default();
        assert!(code_seen.starts_with("dwlink::"), "{args:?}: {last}");
        if !want.is_empty() {
            assert_eq!(code_seen, want, "{args:?}");
        }
        assert!(last["error"]["message"].is_string(), "{last}");
    }
}

#[test]
fn restore_json_reports_what_it_would_put_back_and_what_it_did() {
    let dir = scratch("first-restore-json");
    let state = dir.join("world.json");
    let emu = crate::harness::start_emu(&fixture(CLEANUP), &state, &[]);
    let url = emu.url.clone();
    let args = ["-f", &example(CLEANUP), "--emulator-url", &url];
    let applied = dwlink_live(&dir, &[&["apply", "--auto-approve"][..], &args].concat());
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    let text = stdout(&applied);
    let backup = text
        .lines()
        .find_map(|l| l.strip_prefix("Backup: "))
        .and_then(|l| l.split(' ').next())
        .expect("a backup line on stdout")
        .to_string();
    let out = dwlink_live(
        &dir,
        &[
            &["restore", "--json", &backup, "--auto-approve"][..],
            // The restored sandbox's rows sync into production: the one host it must name.
            &["--allow-foreign", "contoso-prod.crm.dynamics.com"],
            &args,
        ]
        .concat(),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let events = json_lines(&stdout(&out));
    assert_eq!(events[0]["event"], "plan");
    assert_eq!(events[0]["rows"], 132);
    assert_eq!(events[1]["event"], "summary");
    assert_eq!(events[1]["restored"], 132);
}

fn plan_text(name: &str) -> String {
    let out = dwlink_live(
        &root(),
        &[
            "plan",
            "--no-color",
            "-f",
            &example(name),
            "--emulator",
            &fixture(name),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn the_restore_cleanup_plan_shows_its_actions_first_and_findings_compactly() {
    let text = plan_text(CLEANUP);
    let lines: Vec<&str> = text.lines().collect();
    let actions = lines
        .iter()
        .position(|l| l.starts_with("Actions"))
        .expect("an actions section");
    assert!(
        actions < 15,
        "actions start on line {}:\n{text}",
        actions + 1
    );
    let findings = lines.iter().position(|l| *l == "Findings:").unwrap();
    assert!(findings > actions, "{text}");
    assert!(
        lines[2].starts_with("RestoreCleanup after a database restore from https://contoso-prod")
    );
    assert!(lines[1].starts_with("Read against the emulator at http://127.0.0.1:"));
    // One block per finding: glyph, code and message on one line, help indented, a blank line.
    let blocks: Vec<&[&str]> = lines[findings + 1..]
        .split(|l| l.is_empty())
        .filter(|b| b.first().is_some_and(|l| l.starts_with('⚠')))
        .collect();
    assert_eq!(blocks.len(), 5, "{text}");
    for b in blocks {
        assert!(b[0].starts_with("⚠ dwlink::plan::"), "{b:?}");
        assert!(b.len() == 2 && b[1].starts_with("    help: "), "{b:?}");
    }
    // One order for legal entities, wherever they appear.
    assert!(!text.contains("USMF, DEMF"), "{text}");
    assert_eq!(text.matches("DEMF, USMF").count(), 2, "{text}");
}

#[test]
fn a_declared_link_plan_keeps_its_scenario_heading() {
    let text = plan_text("scenario-2-organization-mismatch");
    assert!(
        text.lines().nth(2).unwrap().starts_with("Scenario 2: "),
        "{text}"
    );
}

#[test]
fn a_host_typo_fails_as_a_lookup_would_instead_of_reaching_the_only_environment() {
    let dir = scratch("first-host-typo");
    let config = std::fs::read_to_string(example(CLEANUP))
        .unwrap()
        .replace("contoso-uat.sandbox", "contoso-uta.sandbox");
    let file = dir.join("typo.yaml");
    std::fs::write(&file, config).unwrap();
    let out = dwlink_live(
        &dir,
        &[
            "plan",
            "-f",
            file.to_str().unwrap(),
            "--emulator",
            &fixture(CLEANUP),
        ],
    );
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("dwlink::provider::unreachable"), "{err}");
    assert!(
        err.contains("`contoso-uta.sandbox.operations.dynamics.com` does not resolve"),
        "{err}"
    );
    assert!(
        !stdout(&out).contains("clear-table"),
        "no plan of the real rows"
    );
}

#[test]
fn backups_and_journals_go_to_the_state_dir_of_the_flag_or_the_environment() {
    use crate::harness::{run, start_emu};
    for by_env in [false, true] {
        let dir = scratch(&format!("first-state-dir-{by_env}"));
        let emu = start_emu(&fixture(CLEANUP), &dir.join("world.json"), &[]);
        let state = dir.join("kept-by-ci");
        let state_arg = state.display().to_string();
        let cfg = example(CLEANUP);
        let mut args = vec![
            "apply",
            "-f",
            &cfg,
            "--emulator-url",
            &emu.url,
            "--auto-approve",
        ];
        let env: Vec<(&str, &str)> = if by_env {
            vec![("DWLINK_STATE_DIR", state_arg.as_str())]
        } else {
            args.extend(["--state-dir", state_arg.as_str()]);
            vec![]
        };
        let out = run(&dir, &args, &env);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            !dir.join(".dwlink").exists(),
            "nothing in the default place"
        );
        let backups = std::fs::read_dir(state.join("backups")).unwrap().count();
        let journals = std::fs::read_dir(state.join("journal")).unwrap().count();
        assert_eq!((backups, journals), (1, 1));
        assert!(
            stdout(&out).contains(&format!("Backup: {state_arg}/backups/contoso-uat-")),
            "{}",
            stdout(&out)
        );
        // The plan shown before the prompt names the same folder.
        assert!(
            stdout(&out).contains(&format!("{state_arg}/backups/ (before any delete)")),
            "{}",
            stdout(&out)
        );
    }
}

#[test]
fn doctor_with_a_wrong_secret_points_at_the_secret_and_skips_the_rest_in_one_line_each() {
    use crate::harness::run;
    let dir = scratch("first-doctor-secret");
    let config = std::fs::read_to_string(example(CLEANUP)).unwrap().replace(
        "client_secret_env: DWLINK_CLIENT_SECRET",
        "client_secret_env: DWLINK_WRONG_SECRET",
    );
    let file = dir.join("wrong-secret.yaml");
    std::fs::write(&file, config).unwrap();
    let out = run(
        &dir,
        &[
            "doctor",
            "--no-color",
            "--input=false",
            "-f",
            file.to_str().unwrap(),
            "--emulator",
            &fixture(CLEANUP),
        ],
        &[("DWLINK_WRONG_SECRET", "not-the-secret")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let fo = text
        .split("\n\n")
        .find(|b| b.starts_with("signin.finance-operations not-permitted"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(fo.contains("AADSTS7000215"), "{fo}");
    assert!(
        fo.contains("fix:      the client secret is wrong or expired"),
        "{fo}"
    );
    assert!(!fo.contains("register the app"), "{fo}");
    // Every check that needed a sign-in is one line naming it, with no block of its own.
    let skipped: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("skipped: needs signin."))
        .collect();
    assert!(skipped.len() >= 10, "{text}");
    assert!(!text.contains("\nfo.metadata unknown"), "{text}");
    // What `ok` means is in the title: the field-configuration set is ok when it is absent.
    let out = dwlink_live(
        &dir,
        &[
            "doctor",
            "--input=false",
            "-f",
            &example(CLEANUP),
            "--emulator",
            &fixture(CLEANUP),
        ],
    );
    assert!(
        stdout(&out).contains("F&O lists no set DualWriteProjectFieldConfigurations"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_connection_error_names_the_emulator_address_dialled() {
    let dir = scratch("first-doctor-emulator-down");
    let out = dwlink_live(
        &dir,
        &[
            "doctor",
            "--json",
            "--input=false",
            "-f",
            &example(CLEANUP),
            "--emulator-url",
            "http://127.0.0.1:9",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let signin = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "signin.finance-operations")
        .unwrap();
    let seen = signin["seen"].as_str().unwrap();
    assert!(
        seen.contains("connection to the emulator at 127.0.0.1:9 failed"),
        "{seen}"
    );
    assert!(
        signin["fix"].as_str().unwrap().contains("--emulator-url"),
        "{signin}"
    );
}

#[test]
fn the_small_lies_are_gone() {
    let dir = scratch("first-small-lies");
    // A snapshot whose BusinessEventsDefinition is null does not claim its rows were copied.
    let out_file = dir.join("snap.yaml");
    let out = dwlink_live(
        &dir,
        &[
            "snapshot",
            "-f",
            &example(CLEANUP),
            "--emulator",
            &fixture(CLEANUP),
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let snap = std::fs::read_to_string(&out_file).unwrap();
    assert!(snap.contains("BusinessEventsDefinition: null"), "{snap}");
    assert!(
        !snap.contains("BusinessEventsDefinition rows are copied"),
        "{snap}"
    );

    // status made no plan: it does not say "this plan clears them".
    let out = dwlink_live(
        &dir,
        &[
            "status",
            "--no-color",
            "-f",
            &example(CLEANUP),
            "--emulator",
            &fixture(CLEANUP),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stdout(&out).contains("this plan"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("a plan of this config clears them"),
        "{}",
        stdout(&out)
    );

    // restore --help describes every flag.
    let help = stdout(&dwlink_live(&dir, &["restore", "--help"]));
    for flag in ["--auto-approve", "--confirm <NAME>", "--json"] {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(flag))
            .unwrap();
        let described = line.trim_start().len() > flag.len() + 2
            || help.split(flag).nth(1).is_some_and(|rest| {
                rest.lines()
                    .nth(1)
                    .is_some_and(|l| !l.trim().is_empty() && !l.trim_start().starts_with('-'))
            });
        assert!(described, "{flag} has no description:\n{help}");
    }

    // The man page has the sections a man page reader looks for.
    let man = stdout(&dwlink_live(&dir, &["man"]));
    for section in [
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
        "DWLINK_STATE_DIR",
    ] {
        assert!(man.contains(section), "{section}");
    }
}

/// Ten mistakes `validate` reports, one per value.
const BAD: &str = "apiVersion: dwlink/v1
kind: DualWriteLink
metadata:
  name: -bad name
finance_operations:
  url: http://contoso-uat.sandbox.operations.dynamics.com/data
  environment_type: sandbox
dataverse:
  url: https://contoso-uat.crm.dynamics.com/api
  organization_id: not-a-guid
link:
  legal_entities: [USMF, TOOLONG, 'D!']
reset:
  when: sometimes
auth:
  tenant_id: tenant
  client_id: '1234'
  client_secret_env: DWLINK_CLIENT_SECRET
dual_write_service:
  url: ftp://gateway.example.com
";

#[test]
fn the_published_schema_catches_what_validate_reports() {
    let dir = scratch("first-schema");
    let file = dir.join("bad.yaml");
    std::fs::write(&file, BAD).unwrap();
    let out = dwlink_live(&dir, &["validate", "--no-color", "-f", "bad.yaml"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    // Every URL problem, not only the first: plain http *and* a path.
    for c in [
        "insecure_url",
        "url_not_base",
        "invalid_url",
        "invalid_name",
        "invalid_guid",
    ] {
        assert!(err.contains(&format!("dwlink::config::{c}")), "{c}: {err}");
    }

    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/dwlink.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let doc: Value = serde_saphyr::from_str(BAD).unwrap();
    let errors: Vec<(String, String)> = validator
        .iter_errors(&doc)
        .map(|e| (e.instance_path().to_string(), e.to_string()))
        .collect();
    let mut places: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    places.sort();
    places.dedup();
    assert!(
        places.len() >= 9,
        "an editor sees {} of 10: {errors:#?}",
        places.len()
    );
    let when = errors.iter().find(|(p, _)| p == "/reset/when").unwrap();
    assert!(!when.1.contains("null"), "{when:?}");
}

#[test]
fn validate_takes_directories_and_stdin() {
    let out = dwlink_live(&root(), &["validate", "--no-color", "-f", "examples"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches(" is valid").count(),
        6,
        "{}",
        stderr(&out)
    );

    use std::io::Write;
    let dir = scratch("first-validate-stdin");
    for (text, want) in [
        (std::fs::read_to_string(example(CLEANUP)).unwrap(), 0),
        (BAD.to_string(), 1),
    ] {
        let mut child = crate::harness::command(&dir, &["validate", "--no-color", "-f", "-"], &[])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(want), "{}", stderr(&out));
        assert!(stderr(&out).contains("<stdin>"), "{}", stderr(&out));
    }
}

#[test]
fn verbose_shows_one_line_per_http_attempt_and_the_waits() {
    let dir = scratch("first-verbose");
    let emu = crate::harness::start_emu(
        &fixture(CLEANUP),
        &dir.join("world.json"),
        &["--rate-limit", "5/s"],
    );
    let out = crate::harness::run(
        &dir,
        &[
            "plan",
            "-v",
            "-f",
            &example(CLEANUP),
            "--emulator-url",
            &emu.url,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.lines().any(|l| l
            .starts_with("http: GET https://contoso-uat.sandbox.operations.dynamics.com/data/")
            && l.contains(" → 200 in ")),
        "{err}"
    );
    assert!(err.contains(" → 429 in "), "{err}");
    assert!(
        err.contains("http: waiting ") && err.contains("(HTTP 429"),
        "{err}"
    );
    assert!(!err.contains("http:   "), "headers only with -vv: {err}");

    let out = dwlink_live(
        &dir,
        &[
            "plan",
            "-vv",
            "-f",
            &example(CLEANUP),
            "--emulator",
            &fixture(CLEANUP),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("http:   < content-type: application/json"),
        "{err}"
    );
    // What was sent, too: the request's own headers and the token by name only.
    assert!(err.contains("http:   > Accept: application/json"), "{err}");
    assert!(err.contains("http:   > Authorization: [redacted]"), "{err}");
    assert!(!err.contains("Bearer ey"), "{err}");
    assert!(!err.contains(crate::support::SECRET));
}

#[test]
fn ctrl_c_while_reading_says_nothing_was_changed() {
    let dir = scratch("first-ctrl-c-reading");
    let emu = crate::harness::start_emu(
        &fixture(CLEANUP),
        &dir.join("world.json"),
        &["--latency-ms", "3000"],
    );
    let child = crate::harness::command(
        &dir,
        &["plan", "-f", &example(CLEANUP), "--emulator-url", &emu.url],
        &[],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // The first request waits 3 s at the emulator: well inside the reads.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Interrupted while reading live state: nothing was changed."),
        "{}",
        stderr(&out)
    );
}

#[test]
fn on_a_terminal_a_spinner_names_the_service_being_read() {
    let dir = scratch("first-spinner");
    let emu = crate::harness::start_emu(
        &fixture(CLEANUP),
        &dir.join("world.json"),
        &["--latency-ms", "200"],
    );
    let cfg = example(CLEANUP);
    let Some((rc, text)) =
        crate::harness::in_pty(&dir, &["plan", "-f", &cfg, "--emulator-url", &emu.url], "")
    else {
        eprintln!("no `script` to run a pseudo-terminal; skipped");
        return;
    };
    assert_eq!(rc, 0, "{text}");
    assert!(text.contains("reading contoso-uat."), "{text}");
    // Piped, there is no spinner.
    let out = crate::harness::run(&dir, &["plan", "-f", &cfg, "--emulator-url", &emu.url], &[]);
    assert!(
        !stderr(&out).contains("reading contoso-uat"),
        "{}",
        stderr(&out)
    );
}
