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
