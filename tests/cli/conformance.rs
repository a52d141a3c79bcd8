//! `dwlink conformance`: a recording replayed against the emulator, differences by JSON path;
//! and the recordings kept under tests/contract/ replay without a difference.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::harness::path;
use crate::record::record;
use crate::support::{code, dwlink, root, scratch, stderr, stdout};

const CONFIG: &str = "examples/restore-cleanup-from-production.yaml";
const FIXTURE: &str = "examples/fixtures/restore-cleanup-from-production.yaml";

fn conformance(har: &Path, fixture: &str, extra: &[&str]) -> crate::support::InProcess {
    let h = har.display().to_string();
    let mut args = vec!["conformance", &h, "--emulator", fixture];
    args.extend(extra);
    dwlink(&root(), &args)
}

/// A reply body of the recording, rewritten by `edit`.
fn edit_reply(har: &Path, url_part: &str, edit: impl Fn(&mut Value)) {
    let mut v: Value = serde_json::from_slice(&fs::read(har).unwrap()).unwrap();
    let e = v["log"]["entries"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["request"]["url"].as_str().unwrap().contains(url_part))
        .unwrap_or_else(|| panic!("no request to {url_part}"));
    let mut body: Value =
        serde_json::from_str(e["response"]["content"]["text"].as_str().unwrap()).unwrap();
    edit(&mut body);
    e["response"]["content"]["text"] = Value::String(body.to_string());
    fs::write(har, v.to_string()).unwrap();
}

#[test]
fn a_recording_replays_clean_and_a_changed_type_is_reported_by_path() {
    let dir = scratch("conformance-roundtrip");
    let har = dir.join("plan.har");
    record(
        &dir,
        &har,
        &["plan", "-f", &path(CONFIG), "--emulator", &path(FIXTURE)],
    );
    let o = conformance(&har, &path(FIXTURE), &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), "", "{}", stdout(&o));
    assert!(stderr(&o).contains("no difference"), "{}", stderr(&o));

    edit_reply(&har, "DualWriteProjectConfigurations", |b| {
        b["value"][0]["ProjectName"] = Value::from(7);
    });
    edit_reply(&har, "RetrieveCurrentOrganization", |b| {
        let detail = b["Detail"].take();
        b["Detail"] = Value::Array(vec![detail]);
    });
    let o = conformance(&har, &path(FIXTURE), &[]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(
            "GET contoso-uat.sandbox.operations.dynamics.com/data/DualWriteProjectConfigurations"
        ) && out.contains("$.value[].ProjectName: recorded number|string, emulator string"),
        "{out}"
    );
    assert!(
        out.contains("$.Detail: recorded array, emulator object"),
        "{out}"
    );

    let o = conformance(&har, &path(FIXTURE), &["--json"]);
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["summary"]["differences"], 2, "{v}");
    let paths: Vec<&str> = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"$.value[].ProjectName"), "{v}");
}

/// An apply's recording replays too: the ids the emulator generates (the management requests
/// it polls) are paired with the recorded ones, so no poll meets an unknown id. What may still
/// differ is timing: a poll that saw a request waiting can, on a loaded machine, see it done.
#[test]
fn an_apply_recording_replays_with_generated_ids_paired() {
    let dir = scratch("conformance-apply");
    let fx = path(crate::harness::RESTORED);
    let har = dir.join("apply.har");
    record(
        &dir,
        &har,
        &[
            "apply",
            "-f",
            &path(CONFIG),
            "--emulator",
            &fx,
            "--auto-approve",
        ],
    );
    let o = conformance(&har, &fx, &[]);
    let out = stdout(&o);
    for line in out.lines() {
        let polled_state = line.contains("/Status/") && line.contains(": recorded member");
        assert!(polled_state, "not a timing difference: {line}\n{out}");
    }
    assert!(stderr(&o).contains("0 skipped"), "{}", stderr(&o));
}

#[test]
fn a_bad_recording_is_a_diagnostic_with_the_file_and_position() {
    let dir = scratch("conformance-bad");
    let cases: [(&str, &str, &str); 4] = [
        ("garbage.har", "{\"log\": nope}", "dwlink::har::not_json"),
        (
            "cut.har",
            "{\"log\": {\"version\": \"1.2\", \"entries\": [{\"request\"",
            "dwlink::har::truncated",
        ),
        (
            "old.har",
            "{\"log\": {\"version\": \"1.1\", \"entries\": []}}",
            "dwlink::har::not_har",
        ),
        ("bare.har", "{\"entries\": []}", "dwlink::har::not_har"),
    ];
    for (name, text, want) in cases {
        let file = dir.join(name);
        fs::write(&file, text).unwrap();
        let o = conformance(&file, &path(FIXTURE), &[]);
        assert_eq!(code(&o), 1, "{name}");
        let err = stderr(&o);
        assert!(err.contains(want) && err.contains(name), "{name}: {err}");
        // The caret's place, as miette draws it: `[old.har:1:10]`.
        assert!(err.contains(&format!("{name}:1:")), "{name}: {err}");
    }
    // Refused from its size alone: the sparse file is never read.
    let big = dir.join("big.har");
    fs::File::create(&big)
        .unwrap()
        .set_len(dwlink_core::har::read::MAX_FILE_BYTES + 1)
        .unwrap();
    let o = conformance(&big, &path(FIXTURE), &[]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("dwlink::har::too_large"),
        "{}",
        stderr(&o)
    );
}

/// Every `NAME.har` under tests/contract/ replays against `NAME.fixture.yaml` beside it with no
/// difference: a recording from a real tenant, once the emulator answers like it, stays so.
#[test]
fn every_contract_recording_replays_without_a_difference() {
    let dir = root().join("tests/contract");
    let mut hars: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "har"))
        .collect();
    hars.sort();
    assert!(!hars.is_empty(), "no recording in {}", dir.display());
    for har in hars {
        let fixture = har.with_extension("fixture.yaml");
        let o = conformance(&har, &fixture.display().to_string(), &[]);
        assert_eq!(
            code(&o),
            0,
            "{}:\n{}{}",
            har.display(),
            stdout(&o),
            stderr(&o)
        );
    }
}

/// `doctor --record`: the preflight's own exchanges are recorded like any command's, nothing
/// secret in them, and they replay against the same fixture without a difference.
#[test]
fn a_doctor_recording_holds_no_secret_and_replays_clean() {
    let dir = scratch("record-doctor");
    let har = dir.join("doctor.har");
    let v = record(
        &dir,
        &har,
        &[
            "doctor",
            "-f",
            &path(CONFIG),
            "--emulator",
            &path(FIXTURE),
            "--input=false",
        ],
    );
    let urls: Vec<&str> = v["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request"]["url"].as_str().unwrap())
        .collect();
    for part in [
        "/data/$metadata",
        "RetrieveCurrentOrganization",
        "/scopes/admin/environments",
        "/api/ConnectionSet/",
        "Solutions/",
    ] {
        assert!(
            urls.iter().any(|u| u.contains(part)),
            "no {part}: {urls:#?}"
        );
    }
    let o = conformance(&har, &path(FIXTURE), &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}
