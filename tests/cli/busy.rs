//! One apply per environment at a time (spec §4), end to end against one `dwlink emulator`: two
//! applies of one environment started together from two directories, and an apply while a
//! request of the connection set is in flight (as from another machine).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{
    all, assert_settled_on_uat, backup_files, command, lock_dir, path, restore_cfg, start_emu,
    status, Emu, LOCK_DIR_ENV, RESTORED,
};

fn apply_args<'a>(cfg: &'a str, emu: &'a Emu) -> [&'a str; 7] {
    [
        "apply",
        "--no-color",
        "-f",
        cfg,
        "--emulator-url",
        &emu.url,
        "--auto-approve",
    ]
}

/// The management requests the emulator has accepted, by kind (`Reset`, `SetMapState`, …),
/// as its state file records them.
fn requests(state: &Path) -> Vec<(String, Value)> {
    let Ok(text) = std::fs::read_to_string(state) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        // Written by rename: a torn read is impossible, but be patient anyway.
        return Vec::new();
    };
    v["world"]["requests"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|r| {
                    let (kind, _) = r["action"].as_object()?.iter().next()?;
                    Some((kind.clone(), r["state"].clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn count(requests: &[(String, Value)], kind: &str) -> usize {
    requests.iter().filter(|(k, _)| k == kind).count()
}

#[test]
fn two_applies_of_one_environment_started_together_one_acts_the_other_exits_3() {
    let dir = crate::support::scratch("busy-two-applies");
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let state = dir.join("world.json");
    // Requests take 400 ms each, so the first apply holds its lock well over a second.
    let emu = start_emu(&path(RESTORED), &state, &["--async-ms", "400"]);
    let cfg = restore_cfg();
    // One user, one machine: both runs share the user's lock directory.
    let locks = lock_dir(&dir).display().to_string();
    let env = [(LOCK_DIR_ENV, locks.as_str())];

    let spawn = |wd: &Path| {
        command(wd, &apply_args(&cfg, &emu), &env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dwlink starts")
    };
    let (first, second) = (spawn(&a), spawn(&b));
    let pids = [first.id(), second.id()];
    let outs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
    let winner = codes.iter().position(|c| *c == Some(0)).unwrap_or_else(|| {
        panic!(
            "one apply succeeds: {codes:?}\n{}\n{}",
            all(&outs[0]),
            all(&outs[1])
        )
    });
    let loser = 1 - winner;
    assert_eq!(
        codes[loser],
        Some(3),
        "the other is refused: {}",
        all(&outs[loser])
    );

    // The refusal names the holder: the winning process, on this host, since when.
    let text = all(&outs[loser]);
    assert!(text.contains("dwlink::apply::busy"), "{text}");
    assert!(text.contains(&format!("pid {}", pids[winner])), "{text}");
    assert!(
        text.contains("on host ") && text.contains("since "),
        "{text}"
    );
    assert!(
        all(&outs[winner]).contains("Apply complete"),
        "{}",
        all(&outs[winner])
    );

    // The loser changed nothing: no journal, no backup; the service saw one apply's requests.
    let dirs = [&a, &b];
    assert!(
        !dirs[loser].join(".dwlink").exists(),
        "the refused apply left {:?}",
        std::fs::read_dir(dirs[loser].join(".dwlink")).map(|d| d.count())
    );
    assert_eq!(backup_files(dirs[winner]).len(), 1);
    let journals = std::fs::read_dir(dirs[winner].join(".dwlink/journal"))
        .unwrap()
        .count();
    assert_eq!(journals, 1);
    let seen = requests(&state);
    // A reset answers when done and leaves no request behind (the real contract): the one
    // apply solution and the two map requests show that one apply acted.
    assert_eq!(count(&seen, "ApplySolution"), 1, "{seen:?}");
    // One stop (the running map) and one start (Customers), not two of each.
    assert_eq!(count(&seen, "SetMapState"), 2, "{seen:?}");
    assert_settled_on_uat(&status(&dir, &cfg, &emu));

    // The lock went with the winner's process: the next apply runs (and finds nothing to do).
    let out = command(&b, &apply_args(&cfg, &emu), &env).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(all(&out).contains("Nothing to apply"), "{}", all(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_request_in_flight_from_another_machine_refuses_the_apply() {
    let dir = crate::support::scratch("busy-in-flight");
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let state = dir.join("world.json");
    // A minute per request: the first apply's Stop stays in flight while the second runs.
    let emu = start_emu(&path(RESTORED), &state, &["--async-ms", "60000"]);
    let cfg = restore_cfg();

    // "Another machine": its own working directory and its own lock directory.
    let mut elsewhere = command(&a, &apply_args(&cfg, &emu), &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dwlink starts");
    let until = Instant::now() + Duration::from_secs(60);
    while !requests(&state)
        .iter()
        .any(|(k, s)| k == "SetMapState" && s == "Waiting")
    {
        assert!(
            Instant::now() < until,
            "the first apply never sent its Stop"
        );
        assert!(
            elsewhere.try_wait().unwrap().is_none(),
            "the first apply ended early"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The plan foresees the refusal: an error finding, no action (exit 1).
    let planned = command(
        &b,
        &["plan", "--no-color", "-f", &cfg, "--emulator-url", &emu.url],
        &[],
    )
    .output()
    .unwrap();
    let text = all(&planned);
    assert_eq!(planned.status.code(), Some(1), "{text}");
    assert!(
        text.contains("dwlink::plan::busy") && text.contains("still in flight"),
        "{text}"
    );
    assert!(text.contains("Nothing planned"), "{text}");

    let out = command(&b, &apply_args(&cfg, &emu), &[]).output().unwrap();
    let _ = elsewhere.kill();
    let _ = elsewhere.wait();
    let text = all(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("dwlink::apply::busy"), "{text}");
    assert!(
        text.contains("still in flight") && text.contains("stop map Customers V3 (accounts)"),
        "{text}"
    );
    assert!(
        !b.join(".dwlink").exists(),
        "the refused apply wrote nothing"
    );
    let seen = requests(&state);
    assert_eq!(
        count(&seen, "SetMapState"),
        1,
        "only the first apply's stop: {seen:?}"
    );
    assert_eq!(count(&seen, "Reset"), 0, "{seen:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A plan while another dwlink of this machine applies the environment foresees apply's "busy"
/// refusal as an error finding naming the holder, and plans nothing; once it ends, the plan is
/// free again.
#[test]
fn a_plan_while_another_apply_holds_the_lock_is_a_busy_error() {
    let dir = crate::support::scratch("busy-plan-sees-lock");
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let state = dir.join("world.json");
    // Each management request takes 1.5 s: the apply holds its lock for several seconds.
    let emu = start_emu(&path(RESTORED), &state, &["--async-ms", "1500"]);
    let cfg = restore_cfg();
    let locks = lock_dir(&dir);
    let locks_text = locks.display().to_string();
    let env = [(LOCK_DIR_ENV, locks_text.as_str())];
    let applying = command(&a, &apply_args(&cfg, &emu), &env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dwlink starts");
    let began = Instant::now();
    let note = |d: &Path| {
        std::fs::read_dir(d)
            .map(|it| {
                it.filter_map(Result::ok)
                    .any(|e| e.path().extension().is_some_and(|x| x == "holder"))
            })
            .unwrap_or(false)
    };
    while !note(&locks) && began.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let plan_args = ["plan", "--no-color", "-f", &cfg, "--emulator-url", &emu.url];
    let out = command(&b, &plan_args, &env).output().unwrap();
    let text = all(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("dwlink::plan::busy"), "{text}");
    assert!(text.contains("another dwlink holds its lock"), "{text}");
    assert!(text.contains(&format!("pid {}", applying.id())), "{text}");
    assert!(text.contains("Nothing planned"), "{text}");

    let done = applying.wait_with_output().unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", all(&done));
    let out = command(&b, &plan_args, &env).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(!all(&out).contains("dwlink::plan::busy"), "{}", all(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
