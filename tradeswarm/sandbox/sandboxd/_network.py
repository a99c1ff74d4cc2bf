"""A sandbox's network: a namespace of its own, a user-mode way out, and E2B's egress rules.

Every isolated sandbox's init starts in a network namespace that sandboxd makes as the host's
root (`unshare --net`), so it is owned by the host's user namespace: nothing in the sandbox,
not even its root (root only in the sandbox's own user namespace), may change its interfaces,
routes or rules. slirp4netns is its way out, without NAT rules or forwarding on the host: the
sandbox's connections become sockets of the slirp4netns process on the host, and those to the
host's loopback are refused (`--disable-host-loopback`). So sandboxd's API, a Prefect server or
anything else listening on the host's 127.0.0.1 is out of reach, while the host's other
addresses and the outside are not (docs/contracts.md, docs/known-issues.md).

E2B's egress policy (`allow_internet_access`, `network.allowOut/denyOut`) is a set of policy
routing rules in that namespace: every allowOut entry is looked up in the main table before any
denyOut entry is (E2B: an address in both lists is allowed), a denyOut entry is a `prohibit`
route (a connect fails at once with EACCES), and an address in neither list is allowed.
`allow_internet_access=False` is `denyOut: ["0.0.0.0/0"]` (E2B's definition). The rules hold
for every process of the sandbox, those already running included: all of them share the one
namespace. (Without slirp4netns, sandboxd says so at start; a sandbox with internet then shares
the host's namespace, one without starts its commands in a namespace with only a loopback.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import shutil
from dataclasses import dataclass

log = logging.getLogger("tradeswarm.sandboxd")

SLIRP = "slirp4netns"
MAX_ENTRIES = 1000  # per list: each entry is one rule the kernel walks on a new connection
UPLINK_TIMEOUT_S = 10.0
_ALLOW_PREF, _DENY_PREF, _HOLD_PREF = 1000, 3000, 10  # rule priorities: lower is looked up first
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def missing() -> str | None:
    """Why sandboxes cannot get a network namespace with a way out here (None: they can)."""
    absent = [tool for tool in (SLIRP, "unshare", "nsenter", "ip") if shutil.which(tool) is None]
    if absent:
        return (f"{', '.join(absent)} not installed (apt-get install slirp4netns iproute2 util-linux): a sandbox "
                "with internet access shares the host's network namespace and per-address rules are refused")
    return None


@dataclass(frozen=True)
class EgressPolicy:
    """Which destinations a sandbox's connections may reach (E2B's semantics, see the module)."""

    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, allow_internet: bool | None, network: dict | None) -> "EgressPolicy":
        """The policy of a create or `update_network` body; ValueError (one line) on bad input."""
        network = network or {}
        lists = {}
        for key in ("allowOut", "denyOut"):
            entries = network.get(key) or []
            if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
                raise ValueError(f"network.{key} must be a list of at most {MAX_ENTRIES} addresses or CIDR blocks")
            lists[key] = tuple(_network(key, e) for e in entries)
        deny = lists["denyOut"]
        if allow_internet is False and ipaddress.ip_network("0.0.0.0/0") not in deny:
            deny += (ipaddress.ip_network("0.0.0.0/0"),)
        return cls(allow=lists["allowOut"], deny=deny)

    @property
    def restricted(self) -> bool:
        return bool(self.allow or self.deny)

    @property
    def internet(self) -> bool:
        """Whether any address outside the sandbox may be reached."""
        return bool(self.allow) or not any(n.prefixlen == 0 and n.version == 4 for n in self.deny)

    def view(self) -> dict:
        """As E2B's sandbox info shows it."""
        return {"allowOut": [str(n) for n in self.allow], "denyOut": [str(n) for n in self.deny]}

    def batch(self, previous: "EgressPolicy") -> str:
        """`ip -4 -batch` lines replacing `previous`'s rules by these. While they are swapped a
        rule refuses everything, so no connection slips through a half-written policy.
        IPv6 entries need no rule: the namespace has no IPv6 route out (slirp4netns without -6)."""
        lines = [f"rule add pref {_HOLD_PREF} prohibit"]
        lines += [f"rule del pref {pref}" for pref in previous._prefs()]
        lines += [f"rule add pref {pref} to {net} {action}" for pref, net, action in self._rules()]
        lines.append(f"rule del pref {_HOLD_PREF}")
        return "\n".join(lines) + "\n"

    def _rules(self) -> list[tuple[int, Network, str]]:
        v4 = lambda nets: [n for n in nets if n.version == 4]  # noqa: E731
        return ([(_ALLOW_PREF + i, n, "lookup main") for i, n in enumerate(v4(self.allow))]
                + [(_DENY_PREF + i, n, "prohibit") for i, n in enumerate(v4(self.deny))])

    def _prefs(self) -> list[int]:
        return [pref for pref, _, _ in self._rules()]


def _network(key: str, entry) -> Network:
    try:
        return ipaddress.ip_network(str(entry).strip(), strict=False)
    except ValueError:
        raise ValueError(f"network.{key}: {entry!r} is not an IP address or CIDR block (sandboxd filters by "
                         "address only: domain names would need an HTTP/TLS-inspecting proxy)") from None


class Uplink:
    """slirp4netns attached to one sandbox's network namespace, and the egress rules in it.

    It exits when sandboxd closes its exit pipe: on `close`, and when sandboxd dies."""

    def __init__(self, proc: asyncio.subprocess.Process, netns_fd: int, exit_w: int) -> None:
        self.proc, self.netns_fd, self.exit_w = proc, netns_fd, exit_w
        self.policy = EgressPolicy()
        self._logger: asyncio.Task | None = None

    @classmethod
    async def start(cls, pid: int) -> "Uplink":
        """Give the network namespace of process `pid` (not the host's) a way out."""
        netns_fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if os.stat(netns_fd).st_ino == os.stat("/proc/self/ns/net").st_ino:
                # slirp4netns would add its device and a default route to the host's own namespace
                raise OSError(f"process {pid} is in the host's network namespace")
            ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
            exit_r, exit_w = os.pipe2(os.O_CLOEXEC)
        except BaseException:
            os.close(netns_fd)
            raise
        try:
            proc = await asyncio.create_subprocess_exec(
                SLIRP, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox",
                f"--ready-fd={ready_w}", f"--exit-fd={exit_r}", "--netns-type=path", f"/proc/self/fd/{netns_fd}",
                "tap0", pass_fds=(netns_fd, ready_w, exit_r), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)  # never taken for an adopted orphan (docs in _orphans.py)
        except BaseException:
            for fd in (netns_fd, exit_w):
                os.close(fd)
            raise
        finally:
            for fd in (ready_w, exit_r):
                os.close(fd)
        uplink = cls(proc, netns_fd, exit_w)
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        loop.add_reader(ready_r, lambda: ready.done() or ready.set_result(os.read(ready_r, 1)))
        try:
            async with asyncio.timeout(UPLINK_TIMEOUT_S):
                if await ready != b"1":  # it exited before its namespace was configured
                    err = (await proc.stderr.read()).decode(errors="replace").strip()
                    raise OSError(f"slirp4netns failed: {err[-300:] or f'exit code {await proc.wait()}'}")
        except BaseException:
            uplink.close()
            raise
        finally:
            loop.remove_reader(ready_r)
            os.close(ready_r)
        uplink._logger = loop.create_task(_log_lines(proc.stderr))
        return uplink

    async def apply(self, policy: EgressPolicy) -> None:
        """Replace the namespace's egress rules by `policy`'s; OSError when `ip` refuses them."""
        if policy == self.policy:
            return
        proc = await asyncio.create_subprocess_exec(
            "nsenter", f"--net=/proc/self/fd/{self.netns_fd}", "ip", "-4", "-batch", "-", pass_fds=(self.netns_fd,),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        _, err = await proc.communicate(policy.batch(self.policy).encode())
        if proc.returncode != 0:
            raise OSError(f"egress rules refused by ip: {err.decode(errors='replace').strip()[-300:]}")
        self.policy = policy

    def close(self) -> None:
        if self.exit_w >= 0:
            os.close(self.exit_w)
            os.close(self.netns_fd)
            self.exit_w = -1
        if self._logger is not None:
            self._logger.cancel()
        if self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass


async def _log_lines(stream: asyncio.StreamReader) -> None:
    """slirp4netns's later messages, logged (an unread pipe would block it once full)."""
    async for line in stream:
        log.info("slirp4netns: %s", line.decode(errors="replace").rstrip())
