"""The local Prefect server runs report to (tradeswarm/prefect_server.py), on the session's server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tradeswarm import prefect_server as ps

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tradeswarm", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=300)


def test_the_session_server_is_the_local_one_and_a_second_start_reuses_it(prefect_api):
    conn, state = prefect_api.connection, prefect_api.state_dir
    assert conn.source == "local" and conn.api_url == f"{conn.ui_url}/api" and ps.healthy(conn.api_url)
    ep = ps.running(state)
    assert ep is not None and ep.api_url == conn.api_url
    assert ps.start(state).pid == ep.pid  # no second server
    out = _cli("prefect", "status", "--state-dir", str(state), "--json")
    info = json.loads(out.stdout)
    assert out.returncode == 0 and info["running"] and info["url"] == conn.ui_url and info["pid"] == ep.pid
    assert info["home"] == str(state / "prefect" / "home")


def test_a_state_dir_without_a_server_says_so_and_exits_1(tmp_path):
    out = _cli("prefect", "status", "--state-dir", str(tmp_path), "--json")
    assert out.returncode == 1 and json.loads(out.stdout)["running"] is False
    stop = _cli("prefect", "stop", "--state-dir", str(tmp_path), "--json")
    assert stop.returncode == 0 and json.loads(stop.stdout) == {"stopped": False}


def test_a_users_prefect_api_url_is_honoured_and_nothing_is_started(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.delenv("PREFECT_UI_URL", raising=False)
    conn = ps.connect(tmp_path)
    assert conn == ps.Connection(api_url="http://127.0.0.1:9/api", ui_url="http://127.0.0.1:9", source="PREFECT_API_URL")
    assert not (tmp_path / "prefect").exists()


def test_concurrent_starts_make_one_server_and_another_version_is_replaced(prefect_api):
    state = prefect_api.state_dir
    first = ps.running(state)
    port = int(first.url.rsplit(":", 1)[1])
    assert ps.stop(state) and not ps.healthy(first.api_url, 1.0) and ps.running(state) is None
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(ps.start(state, port=port))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 2 and got[0] == got[1] and got[0].pid != first.pid and got[0].url == first.url
    # a server another Prefect version started is replaced (its API and schema may differ)
    endpoint = state / "prefect" / "endpoint.json"
    info = json.loads(endpoint.read_text())
    endpoint.write_text(json.dumps({**info, "prefect_version": "0.0.0"}))
    replaced = ps.start(state, port=port)
    assert replaced.pid != got[0].pid and replaced.prefect_version == ps._prefect_version()
    assert ps.healthy(replaced.api_url) and replaced.url == first.url  # the session goes on with it


def test_stop_never_signals_a_process_that_is_not_our_server(tmp_path):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        paths = ps.ServerPaths.of(tmp_path)
        paths.root.mkdir(parents=True)
        paths.pidfile.write_text(f"{stranger.pid}\n")
        assert ps.stop(tmp_path) is False and stranger.poll() is None and not paths.pidfile.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_a_flow_run_reports_to_the_server_and_knows_its_ui_page(prefect_api):
    from prefect import flow
    from prefect.client.orchestration import get_client

    assert ps.flow_run_url() is None  # outside a flow run

    @flow
    def probe() -> str:
        return ps.flow_run_url()

    url = probe()
    assert url.startswith(prefect_api.connection.ui_url + "/")
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(url.rsplit("/", 1)[1])
    assert run.state.is_completed()


def test_a_second_serve_on_a_held_state_dir_is_refused_by_name_not_a_type_error(tmp_path):
    """`AlreadyServing` was a frozen dataclass: raising it with its message was a TypeError."""
    from tradeswarm._proclock import flock

    paths = ps.ServerPaths.of(tmp_path)
    paths.root.mkdir(parents=True)
    with flock(paths.serve_lock, blocking=False):
        with pytest.raises(ps.AlreadyServing, match="another Prefect server already serves"):
            ps.serve(tmp_path)
