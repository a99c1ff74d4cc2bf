"""sandboxd reaps the orphans it adopts, and never a child that asyncio waits for."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Run in a child interpreter: a subreaper test worker would adopt the orphans of every other test.
_SCRIPT = """
import json, os, subprocess, sys, time
from tradeswarm.sandbox.sandboxd._orphans import become_subreaper, reap_orphans
subreaper = become_subreaper() if sys.argv[1] == "subreaper" else False
# a command (session leader, as sandboxd starts them) that leaves an orphan behind and exits 7
leader = subprocess.Popen(["bash", "-c", "sleep 0.2 & exit 7"], start_new_session=True)
time.sleep(0.6)  # the leader and its orphan have both exited by now
reaped = reap_orphans()
print(json.dumps({"subreaper": subreaper, "reaped": reaped, "leader_exit": leader.wait(timeout=5)}))
"""


@pytest.mark.parametrize("mode", ["subreaper", "plain"])
def test_adopted_orphan_is_reaped_and_the_leader_left_to_its_waiter(mode):
    out = subprocess.run([sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, timeout=30,
                         check=True)
    res = json.loads(out.stdout)
    assert res["leader_exit"] == 7  # its exit status was not taken from the code that waits for it
    if mode == "subreaper":
        assert res["subreaper"] is True and res["reaped"] == 1
    else:  # the opposite case: an orphan that was never adopted is init's, not ours
        assert res["reaped"] == 0
