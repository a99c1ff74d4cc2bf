"""Errors that cross a process boundary (a Dask shard) unpickle whole.

Regression: a shard's `DeployError` could not be unpickled, so the report said
`TypeError: DeployError.__init__() missing … 'deployed'` and the cause was only in the worker's log.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

from tradeswarm.swarm.coordinator import DeployError


def test_deploy_error_unpickles_with_its_message():
    err = pickle.loads(pickle.dumps(DeployError("2 of 4 agents failed to deploy: sandbox cap 10 reached", [object])))
    assert isinstance(err, DeployError) and "sandbox cap 10" in str(err) and err.deployed == []


def test_the_opposite_without_reduce_the_default_pickle_fails():
    # in a fresh interpreter: distributed's tblib may have registered its own exception pickling here
    code = ("import pickle; from tradeswarm.swarm.coordinator import DeployError; del DeployError.__reduce__; "
            "pickle.loads(pickle.dumps(DeployError('boom', [])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "deployed" in out.stderr
