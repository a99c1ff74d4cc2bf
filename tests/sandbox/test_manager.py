"""SandboxManager against a real sandboxd: contract API, recording, retries, cleanup, pool."""

from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager

import pytest
from e2b import Sandbox as SdkSandbox

from tradeswarm.costmeter import CostMeter
from tradeswarm.latency import LatencyRecorder
from tradeswarm.sandbox import CommandTimeout, SandboxManager, SandboxNotFound
from tradeswarm.sandbox.fault_injection import inject_faults
from tradeswarm.settings import Settings

E2B_CANARY = "e2b_canary_0d5c9b27f1"


@contextmanager
def e2b_stand_in(tmp_path, monkeypatch):
    """A private sandboxd standing in for E2B's cloud: its token is the canary key, and the
    SDK reaches it through E2B_API_URL/E2B_SANDBOX_URL, so the E2B code path runs end to end."""
    from tests.sandbox._servers import private_sandboxd

    token = tmp_path / "canary-token"
    token.write_text(E2B_CANARY)
    token.chmod(0o600)
    with private_sandboxd(tmp_path / "state", "--token-file", str(token)) as params:
        monkeypatch.setenv("E2B_API_KEY", E2B_CANARY)
        monkeypatch.setenv("E2B_API_URL", params["api_url"])
        monkeypatch.setenv("E2B_SANDBOX_URL", params["sandbox_url"])
        yield params


def _alive(sandboxd, ids) -> set[str]:
    pager = SdkSandbox.list(**sandboxd.sdk_params)
    return {s.sandbox_id for s in pager.next_items()} & set(ids)


def test_contract_surface_and_latency_names(sandboxd):
    rec, meter = LatencyRecorder(), CostMeter()

    async def main():
        async with SandboxManager(recorder=rec, meter=meter) as mgr:
            sb = await mgr.create("trading", name="alpha", metadata={"role": "test"})
            res = await sb.run("echo hi; echo oops >&2; exit 3")
            assert (res.exit_code, res.stdout, res.stderr) == (3, "hi\n", "oops\n") and res.duration_ms > 0
            await sb.write("in/x.bin", b"\x00\x01\xff")
            assert await sb.read("in/x.bin") == b"\x00\x01\xff"
            st = await mgr.status(sb.id)
            assert st["id"] == sb.id and st["name"] == "alpha" and st["metadata"]["role"] == "test"
            assert sb.id in {s["id"] for s in await mgr.list()}
            with pytest.raises(CommandTimeout):
                await sb.run("sleep 10", timeout_s=0.5)
            assert await mgr.kill(sb.id) is True
            with pytest.raises(SandboxNotFound):
                await mgr.status(sb.id)
            return mgr

    mgr = asyncio.run(main())
    for op in ("sandbox_create", "sandbox_exec", "sandbox_status", "sandbox_kill", "sandbox_write", "sandbox_read"):
        assert rec.count(op) >= 1, op
    assert mgr.counters["created"] == 1 and mgr.counters["killed"] == 1
    snap = meter.snapshot()
    assert snap["sandboxes"] == 1 and snap["vcpu_seconds"] > 0


def test_background_process_streams_text_chunks_and_takes_stdin(sandboxd):
    async def main():
        async with SandboxManager() as mgr:
            sb = await mgr.create("trading")
            out: list[str] = []
            errs: list[str] = []
            proc = await sb.start("python -u -c 'import sys\nfor l in sys.stdin: print(l.strip().upper()); print(\"e\", file=sys.stderr)'",
                                  on_stdout=out.append, on_stderr=errs.append)
            for i in range(50):
                await proc.send_stdin(f"msg{i}\n")
            deadline = time.monotonic() + 10
            while "".join(out).count("\n") < 50 or "".join(errs).count("\n") < 50:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            assert "".join(out).split() == [f"MSG{i}" for i in range(50)]
            assert all(isinstance(c, str) for c in out) and "".join(errs).count("e") == 50
            assert await proc.kill() is True
            res = await proc.wait()
            assert res.exit_code != 0

    asyncio.run(main())


def test_every_sandbox_is_killed_when_the_block_raises(sandboxd):
    ids: list[str] = []

    async def main():
        async with SandboxManager() as mgr:
            for _ in range(3):
                ids.append((await mgr.create("base")).id)
            assert _alive(sandboxd, ids) == set(ids)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        asyncio.run(main())
    assert _alive(sandboxd, ids) == set()


def test_every_sandbox_is_killed_on_cancellation(sandboxd):
    ids: list[str] = []

    async def owner(ready: asyncio.Event):
        async with SandboxManager() as mgr:
            for _ in range(2):
                ids.append((await mgr.create("base")).id)
            ready.set()
            await asyncio.sleep(3600)

    async def main():
        ready = asyncio.Event()
        task = asyncio.create_task(owner(ready))
        await ready.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert len(ids) == 2 and _alive(sandboxd, ids) == set()


def test_leaked_reports_what_is_still_alive(sandboxd):
    async def main():
        mgr = SandboxManager()
        await mgr.__aenter__()
        sb = await mgr.create("base")
        assert await mgr.leaked() == [sb.id]
        await mgr.close()
        assert await mgr.leaked() == []
        assert mgr.counters == {"created": 1, "killed": 1, "create_failures": 0, "retries": 0}

    asyncio.run(main())


def test_transient_create_failures_are_retried(sandboxd):
    async def main():
        async with SandboxManager() as mgr:
            inject_faults(sandboxd.settings, fail_next=2)
            sb = await mgr.create("base")
            assert mgr.counters["retries"] == 2 and mgr.counters["create_failures"] == 0
            inject_faults(sandboxd.settings, fail_next=10)
            strict = SandboxManager(retry_attempts=2)
            async with strict:
                with pytest.raises(Exception, match="failed to place sandbox"):
                    await strict.create("base")
            assert strict.counters["create_failures"] == 1
            inject_faults(sandboxd.settings)
            return sb

    asyncio.run(main())


def test_secrets_are_refused_as_sandbox_envs(sandboxd):
    settings = Settings(ALPACA_API_KEY="canary-alpaca-key-1", ALPACA_API_SECRET="canary-alpaca-secret-2",
                        TRADESWARM_STATE_DIR=str(sandboxd.state_dir))

    async def main():
        async with SandboxManager(settings=settings) as mgr:
            with pytest.raises(ValueError, match="secret"):
                await mgr.create("base", envs={"X": "canary-alpaca-secret-2"})
            sb = await mgr.create("base", envs={"X": "harmless"})
            with pytest.raises(ValueError):
                await sb.run("env", envs={"K": "canary-alpaca-key-1"})
            assert "canary" not in (await sb.run("env")).stdout

    asyncio.run(main())


def test_client_rate_limit_spaces_creates(sandboxd):
    async def main():
        async with SandboxManager(rate_per_s=10) as mgr:
            t0 = time.monotonic()
            await asyncio.gather(*(mgr.create("base") for _ in range(4)))
            return time.monotonic() - t0

    assert asyncio.run(main()) >= 0.25  # burst of 1 then 10/s: 3 waits of 0.1 s


def test_warm_pool_hands_out_precreated_sandboxes(sandboxd):
    async def main():
        rec = LatencyRecorder()
        async with SandboxManager(recorder=rec, pool_size=2, pool_template="base") as mgr:
            assert mgr.counters["created"] == 2 and mgr.idle_count("base") == 2
            a = await mgr.acquire("base")
            assert mgr.counters["created"] == 2  # came from the pool, no create on the hot path
            for _ in range(100):
                if mgr.idle_count("base") == 2:
                    break
                await asyncio.sleep(0.02)
            assert mgr.idle_count("base") == 2 and mgr.counters["created"] == 3  # refilled in background
            await mgr.release(a)
            b = await mgr.acquire("base")
            assert b.id == a.id  # reuse of the released sandbox
            c = await mgr.acquire("trading")  # no pool for it: created on demand
            assert c.template == "trading"
            return mgr

    mgr = asyncio.run(main())
    assert mgr.counters["created"] == mgr.counters["killed"]


def test_idle_sandboxes_are_cleaned_up(sandboxd):
    async def main():
        async with SandboxManager(idle_timeout_s=0.2) as mgr:
            sb = await mgr.acquire("base")
            await mgr.release(sb)
            busy = await mgr.acquire("trading")  # held, never released: must survive
            await asyncio.sleep(0.8)
            assert _alive(sandboxd, [sb.id, busy.id]) == {busy.id}
            assert mgr.idle_count() == 0

    asyncio.run(main())


@pytest.mark.slow
def test_local_provider_starts_sandboxd_when_none_runs(tmp_path, monkeypatch):
    from tradeswarm.sandbox.sandboxd import daemon

    for k in ("E2B_API_KEY", "E2B_API_URL", "E2B_SANDBOX_URL"):
        monkeypatch.delenv(k, raising=False)
    settings = Settings(TRADESWARM_STATE_DIR=str(tmp_path))
    assert daemon.running(tmp_path) is None

    async def main():
        async with SandboxManager(settings=settings) as mgr:
            sb = await mgr.create("base")
            assert (await sb.run("echo up")).stdout == "up\n"

    try:
        asyncio.run(main())
        assert daemon.running(tmp_path) is not None
    finally:
        daemon.stop(tmp_path)


def test_a_sandbox_made_by_a_create_the_client_gave_up_on_is_swept_at_close(sandboxd):
    """The service made it, the client never learnt its id: the owner tag still finds it."""
    from e2b import AsyncSandbox

    from tradeswarm.sandbox.manager import OWNER_KEY

    async def main():
        async with SandboxManager() as mgr:
            orphan = await AsyncSandbox.create("base", metadata={OWNER_KEY: mgr.owner}, **sandboxd.sdk_params)
            mgr._created_blind = True  # what a create cancelled mid-flight leaves behind
            kept = await AsyncSandbox.create("base", **sandboxd.sdk_params)  # not ours: must survive
        return orphan.sandbox_id, kept.sandbox_id

    orphan, kept = asyncio.run(main())
    assert _alive(sandboxd, [orphan, kept]) == {kept}
    SdkSandbox.kill(kept, **sandboxd.sdk_params)




@pytest.mark.slow
def test_the_e2b_path_never_passes_the_key_into_a_sandbox(tmp_path, monkeypatch):
    """The E2B code path (key set, SDK routed by E2B_API_URL/E2B_SANDBOX_URL to a sandboxd
    whose token is the canary key): the key authenticates the client and nothing more."""
    with e2b_stand_in(tmp_path, monkeypatch) as params:
        settings = Settings()
        assert settings.provider == "e2b"

        async def main():
            async with SandboxManager(settings=settings) as mgr:
                sb = await mgr.create("trading")
                dump = (await sb.run("env; cat /proc/self/environ")).stdout
                with pytest.raises(ValueError):
                    await mgr.create("base", envs={"LEAK": E2B_CANARY})
                return dump, await mgr.leaked()

        dump, leaked_inside = asyncio.run(main())
    assert "PATH=" in dump and E2B_CANARY not in dump
    assert len(leaked_inside) == 1


def test_keepalive_extends_lifetimes_while_the_manager_is_open(sandboxd):
    async def hold(keepalive: bool) -> bool:
        async with SandboxManager(keepalive=keepalive) as mgr:
            sb = await mgr.create("base", timeout_s=2)
            await asyncio.sleep(3)
            try:
                await mgr.status(sb.id)
                return True
            except SandboxNotFound:
                return False

    async def main():
        return await asyncio.gather(hold(True), hold(False))

    kept, not_kept = asyncio.run(main())
    assert kept is True and not_kept is False


def test_resources_are_granted_reported_and_priced(sandboxd):
    import os

    from e2b.exceptions import SandboxException

    from tradeswarm.sandbox import Resources

    now = [0.0]
    meter = CostMeter(clock=lambda: now[0])
    want_vcpus = min(2, len(os.sched_getaffinity(0)))

    async def main():
        async with SandboxManager(meter=meter) as mgr:
            big = await mgr.create("base", resources=Resources(vcpus=want_vcpus, memory_mb=512), metadata={"k": "v"})
            st = await mgr.status(big.id)
            assert (st["cpu_count"], st["memory_mb"]) == (want_vcpus, 512) and st["metadata"]["k"] == "v"
            assert (await big.run("nproc")).stdout.split() == [str(want_vcpus)]
            # the memory granted is the sandbox's total (its cgroup): 600 MB do not fit in 512
            hog = await big.run("python3 -c 'x = bytearray(600 * 1024**2)' || echo refused")
            assert hog.stdout.strip() == "refused"
            plain = await mgr.create("base")  # the opposite case: the server's defaults
            st = await mgr.status(plain.id)
            assert (st["cpu_count"], st["memory_mb"]) == (1, 2048)
            now[0] = 10.0
            await mgr.kill(big.id)
            await mgr.kill(plain.id)
            for too_much in (Resources(vcpus=999), Resources(memory_mb=10**9)):
                with pytest.raises(SandboxException, match="400: .*outside this server's range"):
                    await mgr.create("base", resources=too_much)

    asyncio.run(main())
    snap = meter.snapshot()  # priced on what each sandbox was granted: 10 s each
    assert snap["vcpu_seconds"] == pytest.approx(10 * want_vcpus + 10 * 1)
    assert snap["gib_seconds"] == pytest.approx(10 * 512 / 1024 + 10 * 2048 / 1024)


def test_the_meter_counts_api_calls_and_stored_bytes(sandboxd):
    meter, rec = CostMeter(), LatencyRecorder()

    async def main():
        async with SandboxManager(meter=meter, recorder=rec, keepalive=False) as mgr:
            assert meter.snapshot()["api_calls_total"] == 0  # opened, nothing done: nothing counted
            sb = await mgr.create("base")
            await sb.run("true")
            await sb.write("a.bin", b"x" * 1000)
            await sb.write("b.txt", "héllo")
            assert await sb.read("a.bin") == b"x" * 1000
            await mgr.status(sb.id)
            await mgr.list()
            await mgr.connect(sb.id, template="base")
            await mgr.kill(sb.id)

    asyncio.run(main())
    snap = meter.snapshot()
    calls = snap["api_calls"]
    assert {k: calls.get(k) for k in ("create", "exec", "write", "read", "list", "connect", "kill")} == \
        {"create": 1, "exec": 1, "write": 2, "read": 1, "list": 1, "connect": 1, "kill": 1}
    assert calls["status"] == 2  # ours, and the meter's own look at the granted resources
    assert snap["api_calls_total"] == sum(calls.values()) and snap["stored_bytes"] == 1000 + len("héllo".encode())
    for op in ("sandbox_list", "sandbox_connect", "sandbox_write", "sandbox_read"):
        assert rec.count(op) >= 1, op


def test_control_plane_calls_ride_out_a_throttle(sandboxd):
    from e2b.exceptions import RateLimitException

    async def main():
        async with SandboxManager(retry_attempts=8, keepalive=False) as mgr:
            sb = await mgr.create("base")
            inject_faults(sandboxd.settings, throttle_s=1.0)  # longer than the SDK's own ~0.7 s of retries
            try:
                listed, st = await asyncio.gather(mgr.list(mine_only=True), mgr.status(sb.id))
                assert [i["id"] for i in listed] == [sb.id] and st["id"] == sb.id
                assert mgr.counters["retries"] >= 2
                inject_faults(sandboxd.settings, throttle_s=1.0)
                assert await mgr.kill(sb.id) is True
                strict = SandboxManager(retry_attempts=1)  # the opposite case: no retries of ours
                inject_faults(sandboxd.settings, throttle_s=3.0)
                with pytest.raises(RateLimitException):
                    await strict.list()
            finally:
                inject_faults(sandboxd.settings)

    asyncio.run(main())


def test_acquire_with_create_arguments_never_hands_out_a_pooled_sandbox(sandboxd):
    async def main():
        async with SandboxManager(pool_size=1, pool_template="base", keepalive=False) as mgr:
            pooled = mgr._idle["base"][0].id
            named = await mgr.acquire("base", name="fresh", metadata={"role": "x"}, envs={"A": "1"})
            assert named.id != pooled and mgr.idle_count("base") == 1
            st = await mgr.status(named.id)
            assert st["name"] == "fresh" and st["metadata"]["role"] == "x"
            assert (await named.run("echo $A")).stdout == "1\n"
            plain = await mgr.acquire("base")  # the opposite case: no arguments, the pooled one
            assert plain.id == pooled

    asyncio.run(main())


@pytest.mark.slow
def test_on_e2b_a_template_smaller_than_the_request_is_refused(tmp_path, monkeypatch):
    """E2B takes no per-create resources: the template's (1 vCPU, 2048 MB here) must suffice."""
    from tradeswarm.sandbox import Resources, ResourcesUnavailable

    with e2b_stand_in(tmp_path, monkeypatch) as params:

        async def main():
            async with SandboxManager(settings=Settings(), keepalive=False) as mgr:
                with pytest.raises(ResourcesUnavailable, match="gives 1 vCPUs and 2048 MB"):
                    await mgr.create("base", resources=Resources(memory_mb=4096))
                # the template's size was learnt from a sandbox, killed at once
                assert (mgr.counters["created"], mgr.counters["killed"]) == (1, 1) and await mgr.leaked() == []
                fits = await mgr.create("base", resources=Resources(vcpus=1, memory_mb=1024))  # the opposite case
                assert (await mgr.status(fits.id))["memory_mb"] == 2048
                with pytest.raises(ResourcesUnavailable):  # known now: refused without a create
                    await mgr.create("base", resources=Resources(vcpus=2))
                assert mgr.counters["created"] == 2
                assert await mgr.leaked() == [fits.id]  # the one that fell short was killed at once

        asyncio.run(main())
