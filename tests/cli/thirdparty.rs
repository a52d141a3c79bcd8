//! Issue 13's done-when: a client written from Microsoft's code (not from dwlink's), run against
//! `dwlink emulator` as a user starts it — a process of its own on 127.0.0.1, not the in-process
//! server the emulator's own tests use.

use crate::support::{scratch, Emulator};

#[test]
fn microsofts_calls_work_against_a_dwlink_emulator_process_and_invented_routes_404() {
    let has = std::process::Command::new("python3")
        .args(["-c", "import requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        eprintln!("skip: python3 with `requests` is not installed (pip install requests)");
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = scratch("thirdparty-dws");
    let emu = Emulator::start(
        &std::path::Path::new(root).join("examples/fixtures/quickstart.yaml"),
        &dir.join("state.json"),
    );
    let script =
        std::path::Path::new(root).join("crates/dwlink-emulator/tests/thirdparty/dws_client.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&emu.url)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
