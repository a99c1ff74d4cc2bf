"""sandboxd's ASGI application: E2B's control-plane REST, envd's HTTP + Connect RPC, admin.

One listener serves both planes, as E2B's `sandbox_url` override allows: the SDK names the
sandbox in the `E2b-Sandbox-Id` header of every envd request. Every request must carry a
credential: the server token as `X-API-KEY` (REST, admin), or the sandbox's envd access token
as `X-Access-Token` (envd). Errors are JSON `{"code", "message"}` bodies, as E2B answers.

`/admin/faults` injects faults (POST sets the ones given, DELETE clears them): failed creates
(500), and a throttle during which every control-plane call answers 429, as E2B's limiter does.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hmac
import json
import logging
import os
import secrets
import signal
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs

import psutil

from e2b.envd.filesystem.filesystem_connect import FilesystemASGIApplication
from e2b.envd.process.process_connect import ProcessASGIApplication

from tradeswarm.sandbox.sandboxd._orphans import become_subreaper, reap_orphans
from tradeswarm.sandbox.sandboxd.process_service import ProcessService
from tradeswarm.sandbox.sandboxd.registry import ApiError, Registry, SandboxRecord
from tradeswarm.sandbox.sandboxd.workspace import FilesystemService, read_file, resolve_path, write_file, write_info

log = logging.getLogger("tradeswarm.sandboxd")

REAP_INTERVAL_S = 0.2
_MAX_BODY = 512 * 1024 * 1024


class SandboxdApp:
    """The ASGI callable; `registry` holds the state, `token` authenticates REST calls.

    `on_shutdown` runs once the server has stopped serving (after the sandboxes are killed):
    uvicorn re-raises the SIGTERM it caught once it is done, so code after `serve()` never runs.
    """

    def __init__(self, registry: Registry, token: str, on_shutdown: Callable[[], None] | None = None) -> None:
        self.registry = registry
        self.token = token
        self.on_shutdown = on_shutdown
        self.process_app = ProcessASGIApplication(ProcessService(registry))
        self.fs_app = FilesystemASGIApplication(FilesystemService(registry))
        self._reaper: asyncio.Task | None = None
        self.subreaper = False
        self.started = time.time()

    # -- ASGI ---------------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self._ensure_reaper()
        path: str = scope["path"]
        if path.startswith("/process.Process/"):
            await self.process_app(scope, receive, send)
            return
        if path.startswith("/filesystem.Filesystem/"):
            await self.fs_app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            status, body, extra = await self._route(scope["method"], path, headers,
                                                    parse_qs(scope.get("query_string", b"").decode()), receive)
        except ApiError as e:
            status, body, extra = e.status, {"code": e.status, "message": e.message}, e.headers
        except Exception as e:  # a bug must still answer with a JSON body the SDK can read
            log.exception("internal error on %s %s", scope["method"], path)
            status, body, extra = 500, {"code": 500, "message": f"internal error: {type(e).__name__}"}, {}
        await _respond(send, status, body, extra)

    async def _lifespan(self, receive, send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                self._ensure_reaper()
                self.subreaper = become_subreaper()
                if self.subreaper:
                    asyncio.get_running_loop().add_signal_handler(signal.SIGCHLD, reap_orphans)
                await self.registry.start()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                if self._reaper is not None:
                    self._reaper.cancel()
                self.registry.close()
                if self.on_shutdown is not None:
                    self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _ensure_reaper(self) -> None:
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            try:
                for sid in self.registry.expire():
                    log.info("sandbox %s expired", sid)
            except Exception:  # the reaper must survive one bad sandbox
                log.exception("reaper failed")

    # -- routing ------------------------------------------------------------------------
    def _check_api_key(self, headers: dict[str, str]) -> None:
        given = headers.get("x-api-key", "")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise ApiError(401, "Invalid API key" if given else "Missing API key (X-API-KEY)")

    def _envd_sandbox(self, headers: dict[str, str]) -> SandboxRecord:
        rec = self.registry.sandboxes.get(headers.get("e2b-sandbox-id", ""))
        given = headers.get("x-access-token", "")
        if not given:
            raise ApiError(401, "Missing access token (X-Access-Token)")
        if rec is None:
            raise ApiError(404, f"sandbox {headers.get('e2b-sandbox-id', '')!r} not found")
        if not hmac.compare_digest(given.encode(), rec.envd_token.encode()):
            raise ApiError(401, "Invalid access token (X-Access-Token)")
        return rec

    async def _route(self, method: str, path: str, headers: dict, query: dict, receive):
        parts = [p for p in path.split("/") if p]
        if path == "/health":
            if headers.get("e2b-sandbox-id"):
                self._envd_sandbox(headers)
            else:
                self._check_api_key(headers)
            return 204, None, {}
        if path == "/files":
            rec = self._envd_sandbox(headers)
            return await self._files(method, rec, headers, query, receive)
        self._check_api_key(headers)
        reg = self.registry
        if parts and parts[0] == "v2":
            parts = parts[1:]
        if parts[:1] != ["admin"]:
            reg.check_throttle()
        match method, parts:
            case "POST", ["sandboxes"]:
                body = await _json_body(receive)
                rec = await reg.create(body.get("templateID") or "base", body.get("timeout"),
                                 body.get("metadata"), body.get("envVars"), headers.get("idempotency-key"),
                                 body.get("allow_internet_access"), body.get("network"))
                return 201, _create_response(reg, rec), {}
            case "GET", ["sandboxes"]:
                items = [reg.info(r) for r in reg.sandboxes.values() if _matches(r, query)]
                return 200, items, {}
            case "GET", ["sandboxes", sid]:
                return 200, reg.info(reg.get(sid), detail=True), {}
            case "DELETE", ["sandboxes", sid]:
                reg.kill(sid)
                return 204, None, {}
            case "POST", ["sandboxes", sid, "timeout"]:
                reg.set_timeout(sid, int((await _json_body(receive)).get("timeout", 0)))
                return 204, None, {}
            case "POST", ["sandboxes", sid, "refreshes"]:
                rec = reg.get(sid)
                reg.set_timeout(sid, int((await _json_body(receive)).get("duration") or rec.timeout_s))
                return 204, None, {}
            case "POST", ["sandboxes", sid, "connect"]:
                rec = reg.get(sid)
                timeout = (await _json_body(receive)).get("timeout")
                if timeout:
                    rec.end_at = max(rec.end_at, time.monotonic() + int(timeout))
                return 200, _create_response(reg, rec), {}
            case "PUT", ["sandboxes", sid, "network"]:
                body = await _json_body(receive)
                reg.update_network(sid, body.get("allow_internet_access"), body)
                return 204, None, {}
            case "GET", ["sandboxes", sid, "metrics"]:
                return 200, [_metrics(reg, reg.get(sid))], {}
            case "GET", ["admin", "faults"]:
                return 200, reg.fault_state(), {}
            case "POST", ["admin", "faults"]:  # only the faults given change
                body = await _json_body(receive)
                try:
                    return 200, reg.inject(body.get("fail_next"), body.get("throttle_s"), body.get("message")), {}
                except (TypeError, ValueError):
                    raise ApiError(400, "fail_next must be an integer and throttle_s a number") from None
            case "DELETE", ["admin", "faults"]:
                return 200, reg.clear_faults(), {}
            case "GET", ["admin", "stats"]:
                return 200, {"sandboxes": len(reg.sandboxes), "counters": reg.counters,
                             "max_sandboxes": reg.limits.max_sandboxes, "uptime_s": time.time() - self.started,
                             "pids_cgroup": reg.cgroups.available, "subreaper": self.subreaper,
                             **(reg.isolation.status() if reg.isolation else {"isolation": "off (--no-isolation)"})}, {}
        raise ApiError(404, f"no route {method} {path}")

    async def _files(self, method: str, rec: SandboxRecord, headers: dict, query: dict, receive):
        path = (query.get("path") or [""])[0]
        if method == "GET" and rec.jail is not None:
            return 200, await read_file(rec, path), {"content-type": "application/octet-stream"}
        if method == "GET":
            target = resolve_path(rec, path)
            if not target.is_file():
                raise ApiError(404, f"file {path!r} not found")
            return 200, target.read_bytes(), {"content-type": "application/octet-stream"}
        if method != "POST":
            raise ApiError(405, "method not allowed")
        raw = await _read_body(receive)
        ctype = headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
            uploads = [(part.get_filename() or path, part.get_payload(decode=True) or b"")
                       for part in msg.iter_parts()]
            if path and len(uploads) == 1:
                uploads = [(path, uploads[0][1])]
        else:
            if headers.get("content-encoding") == "gzip":
                import gzip

                raw = gzip.decompress(raw)
            uploads = [(path, raw)]
        written = []
        for name, data in uploads:
            if rec.jail is not None:
                written.append(await write_file(rec, name, data))
                continue
            target = resolve_path(rec, name)
            if target.is_dir():
                raise ApiError(400, f"path {name!r} is a directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            # Temp file + rename: a command reading the file sees the old or the new content.
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.upload")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            written.append(write_info(target))
        return 200, written, {}


def _create_response(reg: Registry, rec: SandboxRecord) -> dict:
    return {"templateID": rec.template, "alias": rec.template, "sandboxID": rec.id, "clientID": rec.client_id,
            "envdVersion": reg.info(rec)["envdVersion"], "envdAccessToken": rec.envd_token}


def _matches(rec: SandboxRecord, query: dict) -> bool:
    """The list filters the SDK sends: `state` and `metadata` (url-encoded k=v pairs)."""
    states = ",".join(query.get("state", [])).split(",")
    if states != [""] and "running" not in states:
        return False
    for raw in query.get("metadata", []):
        for k, v in parse_qs(raw).items():
            if rec.metadata.get(k) != v[0]:
                return False
    return True


def _metrics(reg: Registry, rec: SandboxRecord) -> dict:
    """Real CPU and memory of the sandbox's processes (its cgroup, else its process groups)."""
    if rec.jail is not None:
        pids = set(rec.jail.cgroups.pids(rec.jail.group)) - {rec.jail.proc.pid, rec.jail.init_pid}
    else:
        pids = set(reg.cgroups.pids(rec.cgroup)) or set(rec.procs)
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
            procs.extend(procs[-1].children(recursive=True))
        except psutil.Error:
            pass
    cpu_s = mem = 0.0
    for p in {p.pid: p for p in procs}.values():
        try:
            t = p.cpu_times()
            cpu_s += t.user + t.system
            mem += p.memory_info().rss
        except psutil.Error:
            pass
    now = time.monotonic()
    if rec.cpu_sample is not None:
        t0, c0 = rec.cpu_sample
    else:  # first sample: the average since the sandbox started
        t0, c0 = now - (datetime.now(timezone.utc) - rec.started_at).total_seconds(), 0.0
    # Processes that ended took their CPU time with them: a negative delta reads as idle.
    vcpus = len(rec.cores) or reg.limits.cpu_count
    pct = max(0.0, (cpu_s - c0) / max(now - t0, 1e-6) / vcpus * 100.0)
    rec.cpu_sample = (now, cpu_s)
    if rec.jail is not None:  # its tmpfs root, seen through its init
        st = os.statvfs(f"/proc/{rec.jail.init_pid}/root/home/user")
        disk, disk_total = (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_blocks * st.f_frsize
    else:
        disk, disk_total = sum(f.stat().st_size for f in Path(rec.workspace).rglob("*") if f.is_file()), 1024 ** 3
    ts = datetime.now(timezone.utc)
    return {"timestamp": ts.isoformat(), "timestampUnix": int(ts.timestamp()), "cpuCount": vcpus,
            "cpuUsedPct": round(pct, 3), "memUsed": int(mem), "memTotal": rec.limits.memory_mb * 1024 * 1024,
            "memCache": 0, "diskUsed": int(disk), "diskTotal": int(disk_total)}


async def _read_body(receive) -> bytes:
    chunks, size = [], 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            break
        body = msg.get("body", b"")
        size += len(body)
        if size > _MAX_BODY:
            raise ApiError(413, "request body too large")
        chunks.append(body)
        if not msg.get("more_body"):
            break
    return b"".join(chunks)


async def _json_body(receive) -> dict:
    raw = await _read_body(receive)
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


async def _respond(send, status: int, body, extra: dict[str, str]) -> None:
    if body is None:
        payload, ctype = b"", None
    elif isinstance(body, bytes):
        payload, ctype = body, extra.pop("content-type", "application/octet-stream")
    else:
        payload, ctype = json.dumps(body).encode(), "application/json"
    headers = [(b"content-length", str(len(payload)).encode())]
    if ctype:
        headers.append((b"content-type", ctype.encode()))
    headers.extend((k.lower().encode(), str(v).encode()) for k, v in extra.items())
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
