"""Network helpers of the sandbox tests: listeners on the host, and connects from inside a sandbox."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time

import psutil
from e2b import Sandbox

#: TEST-NET-2 (RFC 5737): a connect to it gets no EACCES unless a rule refused it
NOWHERE = "198.51.100.1"

_CONNECT = ("python3 -c 'import errno, socket\ntry:\n socket.create_connection((\"{host}\", {port}), {timeout}); "
            "print(\"open\")\nexcept OSError as e: print(errno.errorcode.get(e.errno, \"timeout\"))'")


def host_address() -> str:
    """A non-loopback IPv4 address of this host, on an interface that is up."""
    stats = psutil.net_if_stats()
    for name, addrs in psutil.net_if_addrs().items():
        for a in addrs:
            if a.family == socket.AF_INET and name in stats and stats[name].isup:
                ip = ipaddress.ip_address(a.address)
                if not (ip.is_loopback or ip.is_link_local):
                    return a.address
    raise AssertionError("this host has no non-loopback IPv4 address to test a sandbox's way out with")


class Listener:
    """A TCP server on the host that counts the connections it accepted."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def saw(self, n: int, within_s: float = 5.0) -> bool:
        """Whether it has accepted `n` connections (its thread accepts after the client's
        connect returned: waited for, up to `within_s`)."""
        deadline = time.monotonic() + within_s
        while self.accepted < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.accepted == n

    def close(self) -> None:
        self.sock.close()


def connect(sb: Sandbox, host: str, port: int, timeout: float = 2.0, user: str | None = None) -> str:
    """What a connect from inside the sandbox gives: "open", or the errno's name
    (EACCES: a rule refused it; ECONNREFUSED: nothing listens there; "timeout")."""
    return sb.commands.run(_CONNECT.format(host=host, port=port, timeout=timeout), user=user).stdout.strip()
