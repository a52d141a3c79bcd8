//! `examples/`: every config is valid for dwlink and for any JSON Schema validator, carries the
//! editor modeline, and has an emulator fixture of the spec-section-5 shape.

use std::fs;

use serde_json::Value;

use crate::support::{code, dwlink, root, stderr, yaml_files};

const MODELINE: &str = "# yaml-language-server: $schema=../schemas/dwlink.schema.json";

const SITUATIONS: &[&str] = &[
    "scenario-1-same-organization",
    "scenario-2-organization-mismatch",
    "scenario-3-no-power-platform-link",
    "scenario-4-cloud-hosted",
    "restore-cleanup-from-production",
    "protected-production",
];

fn examples() -> Vec<std::path::PathBuf> {
    yaml_files(&root().join("examples"))
}

#[test]
fn every_documented_situation_has_an_example_and_a_fixture() {
    for s in SITUATIONS {
        assert!(
            root().join(format!("examples/{s}.yaml")).is_file(),
            "examples/{s}.yaml"
        );
        assert!(
            root().join(format!("examples/fixtures/{s}.yaml")).is_file(),
            "examples/fixtures/{s}.yaml"
        );
    }
    for e in examples() {
        let name = e.file_name().unwrap();
        assert!(
            root().join("examples/fixtures").join(name).is_file(),
            "no fixture for {}",
            e.display()
        );
    }
}

#[test]
fn examples_pass_dwlink_validate_without_warnings() {
    for e in examples() {
        let text = fs::read_to_string(&e).unwrap();
        assert!(
            text.starts_with(MODELINE),
            "{} must start with `{MODELINE}`",
            e.display()
        );
        let rel = e
            .strip_prefix(root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let out = dwlink(&root(), &["validate", "--no-color", "-f", &rel]);
        let err = stderr(&out);
        assert_eq!(code(&out), 0, "{rel}:\n{err}");
        assert_eq!(
            err.trim(),
            format!("✓ {rel} is valid"),
            "{rel} has warnings:\n{err}"
        );
    }
}

#[test]
fn examples_match_the_committed_schema_with_a_json_schema_validator() {
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(root().join("schemas/dwlink.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for e in examples() {
        let doc: Value = serde_saphyr::from_str(&fs::read_to_string(&e).unwrap())
            .unwrap_or_else(|err| panic!("{}: {err}", e.display()));
        let errors: Vec<String> = validator.iter_errors(&doc).map(|v| v.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", e.display());
    }
}

/// Until the emulator loads fixtures itself, check they are YAML of the spec-section-5 shape.
#[test]
fn fixtures_have_the_emulator_shape() {
    for f in yaml_files(&root().join("examples/fixtures")) {
        let doc: Value = serde_saphyr::from_str(&fs::read_to_string(&f).unwrap())
            .unwrap_or_else(|err| panic!("{}: {err}", f.display()));
        let top: Vec<&str> = doc
            .as_object()
            .expect("a mapping")
            .keys()
            .map(String::as_str)
            .collect();
        for key in &top {
            assert!(
                ["finance_operations", "dataverse", "clients"].contains(key),
                "{}: unknown key {key}",
                f.display()
            );
        }
        for key in ["finance_operations", "dataverse", "clients"] {
            assert!(
                doc[key].as_array().is_some_and(|a| !a.is_empty()),
                "{}: `{key}` must be a non-empty list",
                f.display()
            );
        }
        for fo in doc["finance_operations"].as_array().unwrap() {
            for k in [
                "url",
                "environment_type",
                "power_platform_link",
                "dual_write",
                "key_tables",
            ] {
                assert!(
                    fo.get(k).is_some(),
                    "{}: finance_operations entry lacks {k}",
                    f.display()
                );
            }
        }
        let client = &doc["clients"][0];
        assert_eq!(client["secret"], "emulator-secret", "{}", f.display());
    }
}
