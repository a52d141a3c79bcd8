//! `dwlink schema` and the committed `schemas/dwlink.schema.json` never drift apart.

use crate::support::{code, dwlink, root};

#[test]
fn committed_schema_is_what_dwlink_schema_prints() {
    let out = dwlink(&root(), &["schema"]);
    assert_eq!(code(&out), 0);
    let printed = crate::support::stdout(&out);
    let path = root().join("schemas/dwlink.schema.json");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &printed).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == printed,
        "schemas/dwlink.schema.json differs from `dwlink schema`; regenerate it with `UPDATE_SCHEMA=1 cargo test --test cli schema` and commit it"
    );
}
