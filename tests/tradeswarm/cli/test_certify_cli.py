"""`tradeswarm certify` as a user runs it: bad input, Ctrl-C in the middle, and --json."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from validation.spec import PROFILES_DIR

ROOT = Path(__file__).resolve().parents[3]


def _run(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    e = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "tradeswarm", *args], capture_output=True, text=True,
                          env=e, cwd=ROOT, timeout=timeout)


def _one_line_usage_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in r.stderr


def test_unknown_spec_file_and_bad_key_are_exit_2_naming_the_problem(tmp_path):
    _one_line_usage_error(_run("certify", "--spec", str(tmp_path / "nope.yaml")), "nope.yaml")
    spec = yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())
    spec["stress"]["taskz"] = 5
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec))
    _one_line_usage_error(_run("certify", "--spec", str(bad)), "stress.taskz")
    r = _run("certify", "--spec", str(bad), "--json")
    assert r.returncode == 2 and "stress.taskz" in json.loads(r.stdout)["error"]


def test_e2b_provider_without_a_key_and_a_bad_cron_are_exit_2():
    _one_line_usage_error(_run("certify", "--profile", "smoke", "--provider", "e2b", env={"E2B_API_KEY": ""}),
                          "E2B_API_KEY")
    _one_line_usage_error(_run("serve", "--cron", "every night"), "cron")
    _one_line_usage_error(_run("certify", "--profile", "weekly"), "weekly")


def test_the_provider_follows_the_environment_unless_named(tmp_path):
    """--provider wins, then a provider the spec names, else E2B_API_KEY decides."""
    from flows.runinfo import resolve_provider
    from tradeswarm.settings import Settings
    from validation import load_spec

    raw = yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())
    # the shipped profiles name no provider: E2B_API_KEY alone moves `make certify` to E2B
    for profile in PROFILES_DIR.glob("*.yaml"):
        assert "provider" not in yaml.safe_load(profile.read_text()), profile.name
    unnamed, named = load_spec(raw), load_spec({**raw, "provider": "local"})
    with_key, without = Settings(E2B_API_KEY="canary-e2b-key"), Settings(E2B_API_KEY="")
    assert resolve_provider(unnamed, None, with_key) == "e2b"
    assert resolve_provider(unnamed, None, without) == "local"
    assert resolve_provider(named, None, with_key) == "local"
    assert resolve_provider(named, "e2b", without) == "e2b"
    # a spec naming e2b without a key is bad input, before anything starts
    path = tmp_path / "e2b.yaml"
    path.write_text(yaml.safe_dump({**raw, "provider": "e2b"}))
    _one_line_usage_error(_run("certify", "--spec", str(path), env={"E2B_API_KEY": ""}), "E2B_API_KEY")


@pytest.mark.slow
@pytest.mark.parametrize("sig,code,said", [(signal.SIGINT, 130, "interrupted"),
                                           # how a scheduler, or Prefect cancelling a run, stops it
                                           (signal.SIGTERM, 143, "terminated")], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_mid_run_kills_every_sandbox_and_exits_130(sandboxd, prefect_api, tmp_path, sig, code, said):
    from e2b import Sandbox

    spec = yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())
    spec["stress"].update(tasks=5000, rate=100)  # long enough to be interrupted in the middle
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tradeswarm", "certify", "--spec", str(path),
                             "--out", str(tmp_path / "run")], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = []
    deadline = time.monotonic() + 240
    for line in proc.stderr:  # plain progress lines (not a TTY)
        seen.append(line)
        if "stress:" in line or time.monotonic() > deadline:
            break
    assert any("stress" in s for s in seen), "".join(seen)
    alive = Sandbox.list(**sandboxd.sdk_params).next_items()
    assert alive, "the run should hold sandboxes while stressing"
    children = psutil.Process(proc.pid).children(recursive=True)  # e.g. the data contract's helper
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    _, still = psutil.wait_procs(children, timeout=30)
    assert not still, f"processes left behind: {[p.cmdline()[:3] for p in still]}"
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err and err.strip().endswith(f"tradeswarm: error: {said}")
    assert Sandbox.list(**sandboxd.sdk_params).next_items() == [], f"{said}: sandboxes leaked"
