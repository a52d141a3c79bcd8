//! Ctrl-C in Terraform's terminal reaches its whole process group, the provider included.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use crate::harness::{link_hcl, Workspace};

#[test]
fn ctrl_c_during_apply_finishes_the_step_and_the_next_apply_converges() {
    interrupt_apply(true);
}

/// Terraform alone interrupted (as a CI runner's cancel does): the provider only gets
/// StopProvider, finishes the step in flight, stops with its journal and is not killed under it.
#[test]
fn stop_provider_during_apply_never_kills_a_step() {
    interrupt_apply(false);
}

fn interrupt_apply(whole_group: bool) {
    // Management requests stay Waiting for a while, so the apply is mid-plan when interrupted.
    let options = dwlink_emulator::Options {
        async_ms: Some(1500),
        ..Default::default()
    };
    let Some(ws) = Workspace::start_with("scenario-2-organization-mismatch.yaml", options) else {
        return;
    };
    ws.write(&link_hcl("contoso-uat", "\"USMF\"", false));
    let mut apply = ws.command(&["apply", "-no-color", "-auto-approve", "-input=false"]);
    apply
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = apply.spawn().expect("terraform apply");
    // Wait (bounded) until the first step is journaled: the apply has started changing things.
    let journal = ws.path().join(".dwlink/journal");
    for _ in 0..600 {
        let started = std::fs::read_dir(&journal)
            .map(|d| d.flatten().next().is_some())
            .unwrap_or(false);
        if started {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // As a terminal's Ctrl-C does: SIGINT to every process of the group. Terraform alone gets
    // SIGTERM, as a CI runner's cancel ends with: Terraform before 1.1 ran its work in a child of
    // a panicwrap parent, which forwards SIGTERM but swallows a SIGINT sent to it alone
    // (hashicorp/terraform#10616, #29825); from 1.1 both signals interrupt alike.
    let (signal, target) = if whole_group {
        ("-INT", format!("-{}", child.id()))
    } else {
        ("-TERM", child.id().to_string())
    };
    let sent = std::process::Command::new("kill")
        .args([signal, "--", &target])
        .status()
        .expect("kill");
    assert!(sent.success());
    let out = child.wait_with_output().expect("terraform exits");
    let all = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The provider finished its step and answered; it was not killed under Terraform.
    for dead in [
        "plugin exited",
        "unexpected EOF",
        "connection is shut down",
        "Unavailable",
    ] {
        assert!(!all.contains(dead), "the provider died: {all}");
    }
    // The step in flight finished and the apply stopped there, with its journal, whether the
    // provider saw the SIGINT or only Terraform's StopProvider.
    assert!(all.contains("[dwlink::apply::interrupted]"), "{all}");
    assert!(!all.contains("Creation complete"), "{all}");
    // The next apply finishes from the journal; then nothing is left to do.
    let again = ws.apply();
    assert_eq!(again.code, 0, "{}", again.all());
    let plan = ws.plan();
    assert_eq!(plan.code, 0, "{}", plan.all());
}
