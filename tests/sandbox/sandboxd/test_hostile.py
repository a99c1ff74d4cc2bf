"""The hostile-agent matrix: a sandbox's code tries to escape, with a real sandboxd and real
processes. Every attempt must fail, and the host and a bystander sandbox stay unaffected; each
test also shows the opposite case (what the sandbox may do, it can)."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
from e2b import ALL_TRAFFIC, Sandbox
from e2b.exceptions import SandboxException
from e2b.sandbox.commands.command_handle import CommandExitException

from tests.sandbox._servers import host_pids, private_sandboxd
from tests.sandbox.sandboxd._net import Listener, connect, host_address
from tradeswarm.sandbox.sandboxd import RESOURCES_KEY, daemon

CANARY = "canary-hostile-4b1d"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A private sandboxd with secrets in its starting environment, and a bystander sandbox."""
    state = tmp_path_factory.mktemp("hostile")
    env = {"E2B_API_KEY": CANARY + "-e2b", "ALPACA_API_SECRET": CANARY + "-alpaca"}
    with private_sandboxd(state, "--max-processes", "32", env=env) as params:
        stats = httpx.get(f"{params['api_url']}/admin/stats", headers={"X-API-KEY": params["api_key"]}).json()
        if stats.get("isolation") != "namespaces":
            pytest.fail(f"isolation is off on this machine: {stats.get('isolation_unavailable')}")
        bystander = Sandbox.create("base", **params)
        bystander.files.write("mine.txt", "bystander")
        yield {"params": params, "state": state, "bystander": bystander,
               "pid": daemon.read_endpoint(state).pid, "token": (state / "sandboxd" / "token").read_text().strip()}
        bystander.kill()


@pytest.fixture
def box(server):
    sb = Sandbox.create("trading", **server["params"])
    yield sb
    sb.kill()


def sh(sb: Sandbox, cmd: str, timeout: float = 30) -> str:
    """stdout+stderr of a command that may fail (a refused attempt usually does)."""
    try:
        res = sb.commands.run(cmd, timeout=timeout)
        return res.stdout + res.stderr
    except CommandExitException as e:
        return e.stdout + e.stderr


def _unaffected(server) -> None:
    assert os.path.exists(f"/proc/{server['pid']}"), "sandboxd died"
    assert server["bystander"].commands.run("cat mine.txt").stdout == "bystander"


def test_reading_host_secrets_fails(server, box):
    state, token = server["state"], server["token"]
    out = sh(box, f"cat /etc/shadow; ls -la /root; cat /root/.bash_history; ls {state}; cat {state}/sandboxd/token; "
                  f"cat /proc/{server['pid']}/environ; grep -ra {CANARY} /proc/*/environ; ls {REPO}")
    assert token not in out and CANARY not in out
    assert "Permission denied" in out and "No such file or directory" in out
    assert box.commands.run("cat /home/user/data/manifest.json").stdout.startswith("{")  # the opposite case
    _unaffected(server)


def test_writing_outside_the_workspace_fails(server, box):
    targets = [REPO / "tradeswarm" / "pwned.py", Path(sys.prefix) / "pwned", Path("/etc/pwned"), Path("/usr/pwned"),
               server["state"] / "pwned"]
    out = sh(box, "; ".join(f"echo x > {t}" for t in targets) + "; echo x > /pwned")
    assert not any(t.exists() for t in targets) and not Path("/pwned").exists(), out
    with pytest.raises(SandboxException):
        box.files.write(str(Path(sys.prefix) / "pwned"), b"x")
    assert sh(box, "echo ok > /home/user/f && echo ok > /tmp/f && cat /home/user/f /tmp/f") == "ok\nok\n"
    _unaffected(server)


def test_host_processes_are_invisible_and_unkillable(server, box):
    listing = sh(box, "ps -eo pid,user,args")
    assert "sandboxd serve" not in listing and "pytest" not in listing and "templates" not in listing
    assert len(listing.strip().splitlines()) <= 4, listing  # header, its init, bash, ps
    out = sh(box, f"kill -9 {server['pid']}; kill -9 1; pkill -9 uvicorn; echo done")
    assert "done" in out and "No such process" in out and "not permitted" in out, out
    _unaffected(server)
    assert sh(box, "sleep 5 & kill $! && echo killed-own") == "killed-own\n"  # the opposite case


def test_cgroup_and_cpu_pinning_cannot_be_left_or_lifted(server, box):
    box.commands.run("sleep 91.25", background=True)
    out = sh(box, "echo $$ > /sys/fs/cgroup/pids/cgroup.procs; mount -t cgroup -o pids none /mnt; "
                  "for c in 0 1 2 3; do taskset -pc $c $$; done; unshare -U -r true; echo end")
    assert "end" in out
    [pid] = host_pids("sleep 91.25")
    groups = Path(f"/proc/{pid}/cgroup").read_text()
    assert all("/tradeswarm-jails-" in line for line in groups.splitlines() if line.split(":")[1] in
               ("pids", "memory", "cpu,cpuacct", "cpu", "cpuset")), groups
    own = box.commands.run("taskset -pc $$").stdout.split(":")[-1].strip()
    others = set(map(str, os.sched_getaffinity(0))) - {own}
    for core in others:  # another core than the one granted: refused by the sandbox's cpuset
        assert "failed" in sh(box, f"taskset -pc {core} $$")
    cpu_dir = next(Path("/sys/fs/cgroup/cpu").glob(f"tradeswarm-jails-{server['pid']}-*/*/cgroup.procs"))
    quotas = {p.parent.name: int((p.parent / "cpu.cfs_quota_us").read_text())
              for p in Path("/sys/fs/cgroup/cpu").glob(f"tradeswarm-jails-{server['pid']}-*/*/cgroup.procs")
              if str(pid) in p.read_text().split()}
    assert list(quotas.values()) == [100_000], (quotas, cpu_dir)  # 1 vCPU: one CPU-second per second


def test_memory_pids_and_disk_exhaustion_are_contained(server):
    sb = Sandbox.create("base", metadata={RESOURCES_KEY: json.dumps({"memory_mb": 256})}, **server["params"])
    try:
        # 4 processes of 100 MB each: each fits in 256 MB, their total does not
        box_hog = ("import os, time\nkids = []\nfor _ in range(3):\n    pid = os.fork()\n    if pid == 0:\n"
                   "        kids = None\n        break\n    kids.append(pid)\nx = bytearray(100 * 1024**2)\ntime.sleep(3)\n"
                   "if kids is None:\n    os._exit(0)\nprint('codes', [os.waitpid(k, 0)[1] for k in kids])\n")
        sb.files.write("hog.py", box_hog)
        out = sh(sb, "python3 hog.py; echo rc=$?", timeout=60)
        assert "codes [0, 0, 0]\nrc=0" not in out, out
        forks = sh(sb, "for i in $(seq 60); do sleep 30 & done 2>&1 | tail -1; jobs -r | wc -l", timeout=60)
        assert "retry" in forks or "Resource temporarily unavailable" in forks, forks
        sb.commands.run("pkill sleep; true")
    finally:
        sb.kill()
    # the disk (a tmpfs: memory too, so a sandbox fills it only as far as its memory allows)
    sb = Sandbox.create("base", **server["params"])
    try:
        disk = sh(sb, "dd if=/dev/zero of=/home/user/fill bs=1M count=1100 2>&1 | grep -c 'No space'; "
                      "df -m /home/user | tail -1", timeout=60)
        assert disk.startswith("1\n") and " 1024 " in disk, disk  # refused at the 1024 MB it reports
        sb.commands.run("rm -f /home/user/fill")
        assert sb.commands.run("python3 -c 'x = bytearray(50 * 1024**2); print(len(x))'").stdout.strip() == \
            str(50 * 1024**2)  # the opposite case: within its limits it runs, after all of that
    finally:
        sb.kill()
    _unaffected(server)


@pytest.fixture
def listeners():
    """Servers on the host's loopback and on one of its other addresses, and an abstract unix socket."""
    loopback, outside = Listener("127.0.0.1"), Listener(host_address())
    name = f"tradeswarm-hostile-{os.getpid()}"
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind("\0" + name)
    abstract.listen(4)
    yield loopback, outside, name
    for s in (loopback, outside, abstract):
        s.close()


def test_no_internet_means_no_outbound_connection(server, listeners):
    _, outside, _ = listeners
    off = Sandbox.create("base", allow_internet_access=False, **server["params"])
    on = Sandbox.create("base", **server["params"])
    try:
        assert connect(off, outside.host, outside.port) != "open" and outside.accepted == 0
        assert connect(on, outside.host, outside.port) == "open" and outside.saw(1)  # the opposite case
        on.update_network({"deny_out": [ALL_TRAFFIC]})  # its way out closed, then open again
        assert connect(on, outside.host, outside.port) != "open" and outside.saw(1)
        on.update_network({})
        assert connect(on, outside.host, outside.port) == "open" and outside.saw(2)
    finally:
        off.kill()
        on.kill()


def test_internet_does_not_reach_the_hosts_loopback_nor_its_abstract_sockets(server, listeners, box):
    """A sandbox with internet has a network namespace of its own: the host's 127.0.0.1 (sandboxd,
    a Prefect server...) is not its loopback, and slirp4netns's gateway refuses to lead there."""
    loopback, outside, abstract = listeners
    sandboxd_port = int(server["params"]["api_url"].rsplit(":", 1)[1])
    for host, port in (("127.0.0.1", loopback.port), ("127.0.0.1", sandboxd_port), ("10.0.2.2", loopback.port),
                       ("10.0.2.2", sandboxd_port), (outside.host, sandboxd_port)):
        assert connect(box, host, port) != "open", (host, port)
    assert loopback.accepted == 0
    out = sh(box, f"python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect(\"\\0{abstract}\")'")
    assert "Connection refused" in out, out
    with socket.socket(socket.AF_UNIX) as s:  # the opposite cases: the host reaches it, the sandbox its own way out
        s.connect("\0" + abstract)
    assert connect(box, outside.host, outside.port) == "open" and outside.saw(1)
    _unaffected(server)


def test_a_sandbox_cannot_reach_another_sandboxs_servers(server, box, listeners):
    """Each sandbox's loopback and addresses are its own: a server another sandbox runs on
    127.0.0.1 or on all addresses is out of reach (before, sandboxes with internet shared the
    host's namespace, and so each other's ports)."""
    _, outside, _ = listeners
    other = Sandbox.create("base", **server["params"])
    try:
        other.commands.run("python3 -m http.server 8011 --bind 127.0.0.1", background=True)
        other.commands.run("python3 -m http.server 8012", background=True)
        deadline = time.monotonic() + 20
        while not (connect(other, "127.0.0.1", 8011) == connect(other, "10.0.2.100", 8012) == "open"):
            assert time.monotonic() < deadline, "the other sandbox's servers never listened"  # the opposite case
            time.sleep(0.2)
        for host, port in (("127.0.0.1", 8011), ("127.0.0.1", 8012), ("10.0.2.100", 8012), (outside.host, 8012),
                           ("10.0.2.2", 8012)):
            assert connect(box, host, port) != "open", (host, port)
    finally:
        other.kill()
    _unaffected(server)


def test_the_sandboxs_root_cannot_change_its_network(server, box, listeners):
    _, outside, _ = listeners
    box.update_network({"deny_out": [outside.host]})
    out = sh(box, "ip rule add pref 1 lookup main; ip rule del pref 3000; ip route add 10.9.0.0/16 dev lo; "
                  "ip link set tap0 down; ip addr add 10.0.2.99/24 dev tap0; echo end", timeout=30)
    res = box.commands.run("id -u && " + "ip rule flush; ip link set tap0 down; echo end", user="root")
    assert res.stdout.startswith("0\n") and res.stdout.endswith("end\n")
    assert (out + res.stderr).count("Operation not permitted") >= 6, out + res.stderr
    assert connect(box, outside.host, outside.port, user="root") == "EACCES" and outside.accepted == 0
    box.update_network({})  # the opposite: the server changes it
    assert connect(box, outside.host, outside.port, user="root") == "open"
    _unaffected(server)


def test_files_api_symlinks_resolve_inside_the_sandbox_even_when_swapped_mid_request(server, box):
    host_shadow = Path("/etc/shadow").read_bytes()
    box.commands.run("ln -s / root_link; ln -s /etc/shadow shadow_link")
    with pytest.raises(SandboxException):
        box.files.read("shadow_link")
    assert box.files.read("root_link/etc/hostname") == "e2b\n"  # the sandbox's root, not the host's
    # a command swaps `swap` between a directory and a link to /etc as fast as it can
    box.commands.run("mkdir -p d; echo decoy > d/shadow; while true; do ln -sfn /etc swap; rm swap; "
                     "ln -sfn d swap; rm swap; done", background=True)
    answers = {"decoy": 0, "refused": 0, "missing": 0}
    for _ in range(150):
        try:
            data = box.files.read("swap/shadow", format="bytes")
            assert data != host_shadow
            answers["decoy"] += 1
        except SandboxException as e:
            kind = "refused" if "403" in str(e) or "denied" in str(e).lower() else "missing"
            assert "500" not in str(e), e
            answers[kind] += 1
    assert answers["decoy"] + answers["refused"] + answers["missing"] == 150, answers
    _unaffected(server)


def test_the_sandboxs_root_is_no_host_root(server, box):
    """`user="root"` (E2B's passwordless root) is uid 0 of the sandbox's user namespace: an
    unprivileged host uid, so root inside reaches nothing more of the host than `user` does."""
    assert box.commands.run("id -u", user="root").stdout == "0\n"  # the opposite case: it is root inside
    attempts = (f"cat /etc/shadow; echo x > /usr/pwned; echo x > {REPO}/pwned; kill -9 {server['pid']}; "
                "mount -o remount,rw /usr; echo x > /usr/pwned; echo end")
    res = box.commands.run(attempts, user="root")
    out = res.stdout + res.stderr
    assert "Permission denied" in out, out
    assert res.stdout.endswith("end\n") and not Path("/usr/pwned").exists() and not (REPO / "pwned").exists()
    _unaffected(server)


def test_sandboxd_serve_keeps_no_credentials_in_its_environment(server):
    environ = Path(f"/proc/{server['pid']}/environ").read_bytes()
    assert CANARY.encode() not in environ
    assert b"PATH=" in environ  # the opposite case: it is the environment, readable, just scrubbed


# -- agents started warm (sandboxd/_warm.py): the same confinement as a cold command ---------
# Everything that bounds what code in a process can reach: its namespaces, cgroups, limits,
# credentials and capabilities, seccomp/no_new_privs, root, cwd and open files.
_CONFINEMENT = ("for n in cgroup ipc mnt net pid user uts; do echo $n $(readlink /proc/{p}/ns/$n); done; "
                "cat /proc/{p}/cgroup /proc/{p}/limits; "
                "grep -E '^(Uid|Gid|Groups|Cap|NoNewPrivs|Seccomp)' /proc/{p}/status; "
                "readlink /proc/{p}/root /proc/{p}/cwd; ls /proc/{p}/fd | wc -l; cat /proc/{p}/oom_score_adj")


def _parent(pid: int) -> int | None:
    """The parent of a host process, None once it is gone (another test's exiting process)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _start_agent(sb: Sandbox, cmd: str):
    """Start the runner with `cmd`; (its handle, its handshake)."""
    sb.files.write("agents/w.json", json.dumps({"agent_id": "w", "type": "momentum", "symbols": ["SPX"],
                                                "heartbeat_s": 60}))
    handle = sb.commands.run(cmd, background=True, stdin=True, timeout=120)
    buf = ""
    for out, _err, _pty in handle:
        buf += out or ""
        if "\n" in buf:
            return handle, json.loads(buf.split("\n")[0])
    raise AssertionError(f"no handshake from {cmd!r}: {handle.stderr}")


@pytest.mark.parametrize("internet", [True, False])
def test_a_warm_agent_is_confined_exactly_as_a_cold_one(server, internet):
    sb = Sandbox.create("trading", allow_internet_access=internet, **server["params"])
    try:
        warm, hello = _start_agent(sb, "bin/agent --config agents/w.json")
        cold, hello_cold = _start_agent(sb, "bin/python -m tradeswarm.agents.runner --config agents/w.json")
        assert (hello["start"], hello_cold["start"]) == ("warm", "cold")
        assert hello["pid"] == warm.pid and hello["bars"] == hello_cold["bars"]  # its pid in the sandbox's namespace
        seen = {p: sb.commands.run(_CONFINEMENT.format(p=p)).stdout for p in (warm.pid, cold.pid)}
        assert seen[warm.pid] == seen[cold.pid]
        assert "CapEff:\t0000000000000000" in seen[warm.pid] and "Uid:\t1000\t1000\t1000\t1000" in seen[warm.pid]
        # the environment /proc shows of it is the command's, as after an exec (not the zygote's)
        environ = sb.commands.run(f"cat /proc/{warm.pid}/environ").stdout
        assert CANARY not in environ and f"E2B_SANDBOX_ID={sb.sandbox_id}" in environ and "ZYGOTE" not in environ
        # the opposite case: the zygote it was forked from is on the host, in none of the sandbox's namespaces
        [zygote] = [p for p in host_pids("sandboxd/_zygote.py") if _parent(p) == server["pid"]]  # not its forks
        for ns in ("ipc", "mnt", "pid", "user", "uts") + (() if internet else ("net",)):
            assert f"{ns} {os.readlink(f'/proc/{zygote}/ns/{ns}')}" not in seen[warm.pid]
        assert str(zygote) not in sb.commands.run("ls /proc").stdout.split()
        warm.kill()  # its command ends: so does the agent (nothing of it left in the sandbox)
        assert sb.commands.run(f"test -e /proc/{warm.pid} || echo gone").stdout == "gone\n"
    finally:
        sb.kill()
    _unaffected(server)


def test_a_replaced_bin_agent_is_the_users_own_command(server, box):
    assert _start_agent(box, "bin/agent --config agents/w.json")[1]["start"] == "warm"  # the opposite case
    box.files.write("bin/agent", "#!/bin/sh\necho mine $(id -u)\n")
    box.commands.run("chmod +x bin/agent")
    assert box.commands.run("bin/agent --config agents/w.json").stdout == "mine 1000\n"
