"""The host-load sampler: who kept the machine busy while a block ran (tradeswarm/hostload.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from tradeswarm.hostload import HostLoad, run_groups, tree_cpu_s

SPIN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass"
SLEEP = "import time; time.sleep(60)"


def test_a_busy_tree_is_counted_in_its_group_and_an_idle_one_is_not():
    # the spinner is a child of the group's root, which reaps it and stays (as sandboxd does with a sandbox)
    root = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time\n"
                             f"subprocess.run([sys.executable, '-c', {SPIN.format(s=1.0)!r}])\n"
                             "print('done', flush=True)\ntime.sleep(60)"], stdout=subprocess.PIPE, text=True)
    sleeper = subprocess.Popen([sys.executable, "-c", SLEEP])
    try:
        with HostLoad({"spinner": root.pid, "sleeper": sleeper.pid}, interval_s=0.1) as load:
            assert root.stdout.readline() == "done\n"
    finally:
        for p in (root, sleeper):
            p.kill()
            p.wait()
    s = load.summary
    # 1 s of CPU (plus the interpreter's start) over the block's wall time on every core
    assert s["groups_pct"]["spinner"] >= 100.0 / s["cores"] / s["seconds"] * 0.9, s
    assert s["groups_pct"]["sleeper"] < 1.0, s
    assert s["busy_pct"] + 1.0 >= s["groups_pct"]["spinner"], s  # the machine spent at least what the tree did
    assert s["peak_busy_pct"] >= s["busy_pct"] and s["samples"] >= 1
    assert s["end"] - s["start"] >= s["seconds"] - 0.05 and set(s["load_avg_1m"]) == {"start", "end"}
    assert s["others_pct"] == round(max(s["busy_pct"] - sum(s["groups_pct"].values()), 0.0), 1)


def test_a_tree_keeps_the_cpu_of_the_children_it_reaped():
    before = tree_cpu_s(os.getpid())
    subprocess.run([sys.executable, "-c", SPIN.format(s=0.5)], check=True)
    assert tree_cpu_s(os.getpid()) - before >= 0.5


def test_a_tree_that_is_gone_counts_nothing():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert tree_cpu_s(proc.pid) == 0.0


def test_the_run_groups_name_the_local_sandboxd_only_for_the_local_provider(sandboxd):
    from tradeswarm.sandbox.sandboxd.daemon import read_endpoint

    local = run_groups("local", sandboxd.state_dir)
    assert local == {"certifier": os.getpid(), "sandboxd": read_endpoint(sandboxd.state_dir).pid}
    assert run_groups("e2b", sandboxd.state_dir) == {"certifier": os.getpid()}
