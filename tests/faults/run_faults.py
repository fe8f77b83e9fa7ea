#!/usr/bin/env python3
"""Faults injected into lagoon jobs on a cluster of 3 hosts (scripts/cluster.sh), measured.

For each workload of fault_worker (publish, global, store, map, tasks) and each fault
(kill one rank, kill every process of one host, cut one host's link for good, cut it
for a short blip), this starts the job on 3 hosts with 2 ranks each, waits until the
workload runs, injects the fault into host lagoon-h2, and records:
  - the time from the fault until every process of the job is gone (mpirun, its
    daemons, the ranks), or, for the blip, until the job finished;
  - what the ranks and the launcher printed about it (lagoon's own lines first);
  - the files the job left in /dev/shm (and the huge-page directory, if lagoon used one).
It prints a Markdown table (and writes it to --report), and fails when a job hangs
(nothing ended within --give-up seconds), when a blip lost anything, or when a
partition ended without a message naming the lost node.

  run_faults.py --worker build/tests/faults/fault_worker --cluster scripts/cluster.sh
                [--timeout 10] [--modes publish,global,...] [--faults kill-rank,...]
Exit 77 when no cluster of 3 hosts is up.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time

HOST = "lagoon-h2"  # the host that fails (world ranks 4 and 5)
MODES = ["publish", "global", "store", "map", "tasks"]
FAULTS = ["kill-rank", "kill-host", "partition", "blip"]
BLIP_SECONDS = 3.0
BLIP_SLACK = 1.0  # a blip whose link stayed down longer than BLIP_SECONDS + this is not the case asked for
SHM_DIRS = ["/dev/shm", "/dev/hugepages"]


def sh(*args, check=False):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=check).stdout


def worker_pids(worker):
    """Every process of the job but mpirun: the ranks and Open MPI's daemons (orted)."""
    names = {os.path.basename(worker), "orted"}
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if os.path.basename(argv0) in names:
            pids.append(int(entry))
    return pids


def host_worker_pids(worker, host):
    """The ranks on `host`, oldest first."""
    inside = set(int(p) for p in sh("ip", "netns", "pids", host).split())
    ranks = []
    for p in worker_pids(worker):
        if p in inside:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if os.path.basename(f.read().split(b"\0")[0].decode()) == os.path.basename(worker):
                    ranks.append(p)
    return sorted(ranks)


def shm_files():
    files = set()
    for d in SHM_DIRS + [os.environ.get("LAGOON_SHM_DIR", "")]:
        if d and os.path.isdir(d):
            files.update(os.path.join(d, f) for f in os.listdir(d))
    return files


class Job:
    def __init__(self, cmd, env):
        self.lines = []
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, pattern, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if any(re.search(pattern, l) for _, l in self.lines):
                return True
            if self.proc.poll() is not None:
                time.sleep(0.2)
                return any(re.search(pattern, l) for _, l in self.lines)
            time.sleep(0.05)
        return False


def messages(lines):
    """What the job said about the failure: lagoon's lines, then the launcher's."""
    said = [l for _, l in lines if re.search(r"\blagoon: ", l)]
    launcher = [l for _, l in lines if re.search(r"mpirun|ORTE|orted|exited on signal|readv|connect|Connection|lost",
                                                 l) and l not in said]
    # The launcher's most telling line first: the one that names the rank and host.
    launcher.sort(key=lambda l: 0 if re.search(r"noticed that process rank", l) else 1)
    return said, launcher


def shorten(text, n=220):
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= n else text[: n - 1] + "…"


def blip(args):
    """Takes HOST's link down for BLIP_SECONDS; returns how long it really was down at most
    (from the start of `down` to the end of `up`). The injector runs at a real-time
    priority while it does: on a loaded machine a plain sleep(3) once returned after 7 s."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
        realtime = True
    except (AttributeError, OSError):
        realtime = False
    try:
        start = time.monotonic()
        sh("bash", args.cluster, "link", HOST, "down")
        time.sleep(max(0.0, BLIP_SECONDS - (time.monotonic() - start)))
        sh("bash", args.cluster, "link", HOST, "up")
        return time.monotonic() - start
    finally:
        if realtime:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def run_case(args, mode, fault):
    env = dict(os.environ, LAGOON_TIMEOUT=str(args.timeout))
    seconds = args.seconds if fault != "blip" else max(args.seconds, BLIP_SECONDS + 8)
    before = shm_files()
    cmd = ["bash", args.cluster, "run", "--hosts", "3", "-np", "6", "-npernode", "2", args.worker, mode,
           "--seconds", str(seconds)]
    job = Job(cmd, env)
    result = {"mode": mode, "fault": fault}
    if not job.wait_for(r"lagoon-fault: \w+ running", 90):
        result["error"] = "the workload did not start: " + shorten(" | ".join(l for _, l in job.lines[-5:]))
        cleanup(args, job)
        return result
    time.sleep(args.settle)  # in the middle of the workload
    if fault != "blip" and job.proc.poll() is not None:
        result["error"] = "the job ended before the fault"
        return result
    t0 = time.monotonic()
    if fault == "kill-rank":
        victims = host_worker_pids(args.worker, HOST)
        if victims:
            os.kill(victims[0], signal.SIGKILL)  # the host's first rank: its node leader, which runs the service
    elif fault == "kill-host":
        sh("bash", args.cluster, "kill", HOST)
    elif fault == "partition":
        sh("bash", args.cluster, "link", HOST, "down")
    elif fault == "blip":
        result["blip_seconds"] = blip(args)
    # Until every process of the job is gone.
    gone = None
    while time.monotonic() - t0 < args.give_up:
        if job.proc.poll() is not None and not worker_pids(args.worker):
            gone = time.monotonic() - t0
            break
        time.sleep(0.1)
    if gone is None:
        left = ["mpirun"] if job.proc.poll() is None else []
        for pid in worker_pids(args.worker):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    left.append("%d %s" % (pid, f.read().split(b"\0")[0].decode()))
            except OSError:
                pass
        result["error"] = "hung: after %d s, still running: %s" % (args.give_up, ", ".join(left))
    if fault == "partition":
        sh("bash", args.cluster, "link", HOST, "up")
    job.reader.join(timeout=5)
    result["seconds"] = gone
    result["exit"] = job.proc.poll()
    result["finished_ok"] = any("finished: OK" in l for _, l in job.lines)
    said, launcher = messages(job.lines)
    result["lagoon_said"] = said
    result["launcher_said"] = launcher
    time.sleep(0.5)
    left = sorted(shm_files() - before)
    result["left"] = left
    cleanup(args, job)
    return result


def cleanup(args, job):
    """Ends what is left of a job, removes what it left in shared memory, restores links."""
    if job.proc.poll() is None:
        os.killpg(job.proc.pid, signal.SIGKILL)
    for host in sh("bash", args.cluster, "hosts").split():
        sh("bash", args.cluster, "link", host, "up")
        sh("bash", args.cluster, "kill", host)
    for p in worker_pids(args.worker):
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.3)


def verdict(args, r):
    """(passed, why): a hang, a lost blip, or a partition nobody named fails the case."""
    if "error" in r and r.get("seconds", 0) is not None:
        return False, r["error"]
    if r["fault"] == "blip":
        if r["exit"] == 0 and r["finished_ok"]:
            return True, "survived, nothing lost"
        if r.get("blip_seconds", 0) > BLIP_SECONDS + BLIP_SLACK:
            return False, "the link was down %.1f s, not %.0f s (the injector was late)" % (r["blip_seconds"],
                                                                                          BLIP_SECONDS)
        return False, "the blip was not survived (exit %s)" % r["exit"]
    if r["seconds"] is None:
        return False, r.get("error", "hung")
    if r["fault"] == "partition" and not any(re.search(r"node 2|lagoon-h2|rank [45]", l) for l in r["lagoon_said"]):
        return False, "ended, but no rank named the lost node"
    return True, "ended"


def row(args, r):
    passed, why = verdict(args, r)
    limit = 30 if r["fault"].startswith("kill") else max(30, args.timeout + 10)
    if r["fault"] == "blip":
        t, target = ("ran to its end (exit %s), link down %.1f s" % (r.get("exit"), r.get("blip_seconds", 0))), ""
    elif r.get("seconds") is not None:
        t = "%.1f s" % r["seconds"]
        target = "met" if r["seconds"] <= limit else "not met (> %d s)" % limit
    else:
        t, target = "—", ""
    said = r.get("lagoon_said", [])
    first = shorten(said[0]) if said else ("(launcher) " + shorten(r["launcher_said"][0]) if r.get("launcher_said")
                                            else "—")
    left = r.get("left", [])
    return "| %s | %s | %s %s | %s | %d%s | %s |" % (r["mode"], r["fault"], t, target, first.replace("|", "/"),
                                                     len(left), (" (" + ", ".join(os.path.basename(f) for f in left[:3])
                                                                 + ")") if left else "",
                                                     ("ok: " if passed else "FAILED: ") + why)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--worker", required=True)
    p.add_argument("--cluster", required=True)
    p.add_argument("--timeout", type=int, default=10, help="LAGOON_TIMEOUT of the jobs")
    p.add_argument("--seconds", type=float, default=30, help="how long each workload runs")
    p.add_argument("--settle", type=float, default=2.0, help="seconds between 'running' and the fault")
    p.add_argument("--give-up", type=int, default=150, help="a job not gone this long after the fault hangs")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--faults", default=",".join(FAULTS))
    p.add_argument("--report")
    args = p.parse_args()
    hosts = sh("bash", args.cluster, "hosts").split()
    if len(hosts) < 3:
        print("run_faults.py: needs a cluster of 3 hosts (scripts/cluster.sh up 3); skipped")
        return 77
    rows = ["| workload | fault | time until every process is gone | first message | files left | verdict |",
            "|---|---|---|---|---|---|"]
    failed = 0
    for mode in args.modes.split(","):
        for fault in args.faults.split(","):
            r = run_case(args, mode, fault)
            for _ in range(2):  # a blip the injector made longer than asked is run again
                if verdict(args, r)[0] or r.get("blip_seconds", 0) <= BLIP_SECONDS + BLIP_SLACK:
                    break
                print(row(args, r) + " (run again)", flush=True)
                r = run_case(args, mode, fault)
            line = row(args, r)
            rows.append(line)
            print(line, flush=True)
            for l in r.get("lagoon_said", [])[:4] + r.get("launcher_said", [])[:2]:
                print("    said: " + shorten(l, 400), flush=True)
            failed += 0 if verdict(args, r)[0] else 1
    table = "\n".join(rows)
    print("\nLAGOON_TIMEOUT=%d s, fault injected into %s (world ranks 4, 5) %.0f s after the workload started\n"
          % (args.timeout, HOST, args.settle))
    print(table)
    if args.report:
        with open(args.report, "w") as f:
            f.write(table + "\n")
    print("\n%d of %d fault cases failed" % (failed, len(rows) - 2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
