//! Every file dwlink reads has a byte limit (and, where parsing costs more than the bytes, a
//! value limit), refused with a diagnostic before the file is parsed: here `restore` with a
//! backup grown past its size and one of two million tiny values (`[[[…]]]` rows cost sixty times
//! their bytes once parsed; before the limit, 64 MiB of them took 4.5 GiB).

use crate::support::{code, dwlink, scratch, stderr};

const HEAD: &str = r#"{"format_version":"1","dwlink_version":"0","plan_id":"p","created_at":"t","environment":"uat","finance_operations_url":"https://fo","dataverse_url":"https://dv","note":"n","tables":[{"service":"dataverse","table":"T","entity_set":"Ts","rows":["#;

fn refused(dir: &std::path::Path, file: &str, says: &str) {
    let out = dwlink(dir, &["restore", file, "--no-color"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("dwlink::backup::too_large"), "{err}");
    assert!(err.contains(says), "{says:?} in {err}");
    assert!(
        err.contains("help: pass a backup written by `dwlink apply`"),
        "{err}"
    );
    assert!(err.len() < 2000, "{err}");
}

#[test]
fn restore_refuses_a_backup_over_its_size_before_reading_it() {
    let dir = scratch("backup-too-large");
    // Sparse: the size is the file's, the disk holds nothing.
    let f = std::fs::File::create(dir.join("big.json")).unwrap();
    f.set_len(64 * 1024 * 1024 + 1).unwrap();
    refused(
        &dir,
        "big.json",
        "is larger than 64 MiB, the most `restore` reads",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn restore_refuses_a_backup_of_too_many_values_before_parsing_it() {
    let dir = scratch("backup-too-many-values");
    let row = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let rows = vec![row; 20_000].join(",");
    std::fs::write(dir.join("nested.json"), format!("{HEAD}{rows}]}}]}}")).unwrap();
    refused(&dir, "nested.json", "holds about 2020015 JSON values");
    let _ = std::fs::remove_dir_all(&dir);
}
