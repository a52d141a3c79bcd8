#!/usr/bin/env python3
"""The kill -9 battery: an apply killed at every step and at random moments is finished by the next
apply, loses no row, and every backup restores exactly what was deleted.

Not part of `cargo test` (a full run takes minutes); run it after changing the executor, the
journal, the backup or resume:

    cargo test --no-run --locked        # builds target/debug/dwlink with the crash hooks
    python3 tests/battery/kill9.py [--random N] [--seed S]

Kills come from two sources: the `DWLINK_TEST_CRASH_AT` hook (crates/dwlink-core/src/apply/crash.rs,
an abort at an exact point: before a step asks the service, after the service answered but before
the journal knows, after the journal knows, in the middle of the backup and of the deletes), and a
real SIGKILL at a random moment of an apply slowed by the emulator's latency. Each trial:

1. a fresh emulator world (tests/fixtures/worlds/restored-small.yaml) on a state file;
2. `apply` killed; the emulator restarted from its state file (the services outlive the client);
3. `apply` again until it succeeds (at most 3 times): *converged* when it then says the live link
   matches and `plan --detailed-exitcode` exits 0; *in one* when the first of them did it (what
   dwlink promises: one more apply finishes an interrupted one);
4. *lost* rows: keys present before the first apply and in no complete backup file;
5. every complete backup restored (`restore --auto-approve`, with `--allow-foreign` when the build
   has it): *exact* when the restored rows are exactly that backup's rows.

Prints one line per trial and the totals; exits 1 when any trial did not converge in one more apply, lost a row or
restored inexactly.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("DWLINK_BIN") or os.path.join(ROOT, "target", "debug", "dwlink")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "worlds", "restored-small.yaml")
CONFIG = os.path.join(ROOT, "examples", "restore-cleanup-from-production.yaml")
SECRET = "emulator-secret"
KINDS = ["stop-maps", "backup", "clear-table", "reset-link", "apply-solutions", "switch-map-version",
         "set-integration-keys", "refresh-tables", "start-maps", "verify"]


def env(extra=None):
    e = dict(os.environ)
    e.pop("DWLINK_TEST_CRASH_AT", None)
    e["DWLINK_CLIENT_SECRET"] = SECRET
    e["NO_COLOR"] = "1"
    e.update(extra or {})
    return e


class Emulator:
    def __init__(self, state, flags=()):
        self.proc = subprocess.Popen(
            [BIN, "emulator", "--listen", "127.0.0.1:0", "--fixture", FIXTURE, "--state", state, *flags],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        self.url = next(w for w in line.split() if w.startswith("http"))

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def run(d, args, extra=None, timeout=300):
    return subprocess.run([BIN, *args], cwd=d, env=env(extra), capture_output=True, text=True,
                          timeout=timeout)


def live_args(emu):
    return ["-f", CONFIG, "--emulator-url", emu.url]


def keys(d, emu):
    out = run(d, ["status", "--json", *live_args(emu)])
    if out.returncode != 0:
        raise RuntimeError("status failed: " + out.stderr[-2000:])
    status = json.loads(out.stdout)
    return {t["table"]: set(t["keys"]) for t in status["live"]["key_tables"]}


def row_key(table, row):
    if table == "DualWriteProjectConfiguration":
        return "('%s')" % row["ProjectName"]
    if table == "DualWriteProjectFieldConfiguration":
        return "(ProjectName='%s',InternalFieldName='%s')" % (row["ProjectName"], row["InternalFieldName"])
    if table == "BusinessEventsDefinition":
        return "('%s')" % row["BusinessEventId"]
    return "(%s)" % row["msdyn_dualwriteruntimeconfigid"]


def backups(d):
    folder = os.path.join(d, ".dwlink", "backups")
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".json"))


def backed_up(path):
    with open(path) as f:
        b = json.load(f)
    return {t["table"]: {row_key(t["table"], r) for r in t["rows"]} for t in b["tables"]}


def apply(d, emu, extra=None, popen=False):
    args = [BIN, "apply", "--no-color", *live_args(emu), "--auto-approve"]
    if popen:
        return subprocess.Popen(args, cwd=d, env=env(extra), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    return subprocess.run(args, cwd=d, env=env(extra), capture_output=True, text=True, timeout=300)


def restore_flags():
    text = run(ROOT, ["restore", "--help"]).stdout
    return ["--allow-foreign", "contoso-prod.crm.dynamics.com"] if "--allow-foreign" in text else []


def trial(name, kill, rng):
    d = tempfile.mkdtemp(prefix="dwlink-kill9-")
    state = os.path.join(d, "world.json")
    flags = ("--latency-ms", "15") if kill[0] == "sigkill" else ()
    emu = Emulator(state, flags)
    result = {"name": name, "converged": False, "lost": 0, "restores": 0, "exact": 0}
    try:
        before = keys(d, emu)
        if kill[0] == "hook":
            out = apply(d, emu, {"DWLINK_TEST_CRASH_AT": kill[1]})
            result["killed"] = out.returncode < 0 or out.returncode == 134
        else:
            p = apply(d, emu, popen=True)
            time.sleep(kill[1])
            p.send_signal(signal.SIGKILL)
            p.wait()
            result["killed"] = p.returncode == -signal.SIGKILL
        emu.stop()
        emu = Emulator(state, flags)
        for n in range(1, 4):
            out = apply(d, emu)
            result["applies"] = n
            if out.returncode == 0:
                break
        plan = run(d, ["plan", "--detailed-exitcode", "--no-color", *live_args(emu)])
        result["converged"] = out.returncode == 0 and plan.returncode == 0
        if not result["converged"]:
            result["why"] = (out.stderr + out.stdout)[-600:] + " | plan: " + plan.stdout[-400:]
        saved = {}
        files = backups(d)
        for f in files:
            for table, ks in backed_up(f).items():
                saved.setdefault(table, set()).update(ks)
        result["lost"] = sum(len(ks - saved.get(t, set())) for t, ks in before.items())
        for f in files:
            want = backed_up(f)
            now = keys(d, emu)
            out = run(d, ["restore", f, *live_args(emu), "--auto-approve", *restore_flags()])
            result["restores"] += 1
            after = keys(d, emu)
            exact = out.returncode == 0 and all(
                want.get(t, set()) <= after.get(t, set())
                and after.get(t, set()) - now.get(t, set()) <= want.get(t, set())
                for t in set(want) | set(after))
            result["exact"] += int(exact)
            if not exact:
                result["why_restore"] = (out.stderr + out.stdout)[-600:]
    finally:
        emu.stop()
        shutil.rmtree(d, ignore_errors=True)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--random", type=int, default=30, help="random SIGKILL trials")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default="", help="run only the kills whose name contains this")
    a = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit("build first: cargo test --no-run --locked (target/debug/dwlink with crash hooks)")
    rng = random.Random(a.seed)
    kills = [("hook", f"{ev}:{k}") for k in KINDS for ev in ("start", "effect", "done")]
    kills += [("hook", "backup-row#%d" % n) for n in (1, 300, 1200)]
    kills += [("hook", "delete-chunk#%d" % n) for n in (1, 2, 3)]
    kills += [("sigkill", round(rng.uniform(0.2, 6.0), 2)) for _ in range(a.random)]
    totals = {"trials": 0, "converged": 0, "one": 0, "lost": 0, "restores": 0, "exact": 0}
    for kill in kills:
        name = "%s %s" % kill
        if a.only not in name:
            continue
        r = trial(name, kill, rng)
        totals["trials"] += 1
        totals["converged"] += int(r["converged"])
        totals["one"] += int(r["converged"] and r.get("applies") == 1)
        for k in ("lost", "restores", "exact"):
            totals[k] += r[k]
        print("%-32s converged=%s applies=%s lost=%d restores=%d/%d %s" % (
            name, r["converged"], r.get("applies", "-"), r["lost"], r["exact"], r["restores"],
            r.get("why", "") + r.get("why_restore", "")), flush=True)
    print("\n%(converged)d/%(trials)d converged (%(one)d in one more apply), %(lost)d rows lost, "
          "%(exact)d/%(restores)d restores exact" % totals)
    bad = (totals["one"] < totals["trials"] or totals["lost"]
           or totals["exact"] < totals["restores"])
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
