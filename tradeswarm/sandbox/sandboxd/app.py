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

from e2b.envd.filesystem.filesystem_connect import FilesystemASGIApplication
from e2b.envd.process.process_connect import ProcessASGIApplication

from tradeswarm.sandbox.sandboxd import _streams
from tradeswarm.sandbox.sandboxd._list import list_page
from tradeswarm.sandbox.sandboxd._metadata import file_metadata, set_metadata
from tradeswarm.sandbox.sandboxd._orphans import become_subreaper, reap_orphans
from tradeswarm.sandbox.sandboxd._prometheus import sandbox_usage
from tradeswarm.sandbox.sandboxd._signing import signed_sandbox
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
        self.requests = 0  # sandbox-facing requests (not admin): a test harness sees who called

    # -- ASGI ---------------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self._ensure_reaper()
        path: str = scope["path"]
        if not path.startswith("/admin/"):
            self.requests += 1
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rpc = self.process_app if path.startswith("/process.Process/") else (
            self.fs_app if path.startswith("/filesystem.Filesystem/") else None)
        if rpc is not None or (path in ("/files", "/health") and headers.get("e2b-sandbox-id")):
            gone = self._envd_gate(headers.get("e2b-sandbox-id", ""))
            if gone is not None:  # as E2B's edge answers for a sandbox that is not running
                await _respond(send, 502, gone, {})
                return
        if rpc is not None:
            guard = _streams.StreamGuard()
            token = _streams.current.set(guard)
            try:
                await rpc(scope, receive, guard.wrap(send))
            finally:
                _streams.current.reset(token)
            return
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

    def _envd_gate(self, sid: str) -> dict | None:
        """None when envd of sandbox `sid` may answer; else the 502 body E2B's edge gives.

        A paused sandbox created with auto-resume is resumed by the request, as on E2B."""
        rec = self.registry.sandboxes.get(sid)
        if rec is not None and rec.state == "paused" and rec.auto_resume:
            self.registry.resume(sid)
        if rec is None:
            return {"sandboxId": sid, "message": "The sandbox was not found", "code": 502}
        if rec.state == "paused":
            return {"sandboxId": sid, "message": "The sandbox is paused", "code": 502}
        return None

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
            if "signature" in query and not headers.get("x-access-token"):  # a signed URL
                sid = headers.get("e2b-sandbox-id")
                candidates = [self.registry.sandboxes[sid]] if sid in self.registry.sandboxes else (
                    [] if sid else [r for r in self.registry.sandboxes.values() if r.state == "running"])
                rec = signed_sandbox(candidates, query, "read" if method == "GET" else "write")
            else:
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
                resume = body.get("autoResume")
                rec = await reg.create(body.get("templateID") or "base", body.get("timeout"),
                                       body.get("metadata"), body.get("envVars"), headers.get("idempotency-key"),
                                       auto_pause=bool(body.get("autoPause")),
                                       auto_resume=bool(resume.get("enabled") if isinstance(resume, dict) else resume),
                                       allow_internet=body.get("allow_internet_access"), network=body.get("network"))
                return 201, _create_response(reg, rec), {}
            case "GET", ["sandboxes"]:
                items, next_token = list_page(list(reg.sandboxes.values()), query)
                return 200, [reg.info(r) for r in items], ({"x-next-token": next_token} if next_token else {})
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
                if reg.resume(sid, timeout):  # connecting to a paused sandbox resumes it (201)
                    await reg.signalled(sid)
                    return 201, _create_response(reg, rec), {}
                if timeout and rec.end_at < time.monotonic() + int(timeout):  # never shortens it
                    rec.set_lifetime(int(timeout))
                return 200, _create_response(reg, rec), {}
            case "POST", ["sandboxes", sid, "pause"]:
                reg.pause(sid)
                await reg.signalled(sid)
                return 204, None, {}
            case "POST", ["sandboxes", sid, "resume"]:
                if not reg.resume(sid, (await _json_body(receive)).get("timeout")):
                    raise ApiError(409, f"sandbox {sid} is already running")
                await reg.signalled(sid)
                return 201, _create_response(reg, reg.get(sid)), {}
            case "PUT", ["sandboxes", sid, "network"]:
                body = await _json_body(receive)
                await reg.update_network(sid, body.get("allow_internet_access"), body)
                return 204, None, {}
            case "GET", ["sandboxes", sid, "metrics"]:
                return 200, _metrics_range(reg, reg.get(sid), query), {}
            case "POST", ["sandboxes", sid, "snapshots"]:
                snap = await reg.snapshot(sid, (await _json_body(receive)).get("name"))
                return 201, snap.view(), {}
            case "GET", ["snapshots"]:
                one = {k: v[-1] for k, v in query.items() if v}
                return 200, [s.view() for s in reg.snapshots.listed(one.get("sandboxID"), one.get("name"))], {}
            case "DELETE", ["templates", template_id]:
                if reg.snapshots.delete(template_id):
                    return 204, None, {}
                if template_id in reg.templates:
                    raise ApiError(400, f"template '{template_id}' is built into sandboxd and cannot be deleted")
                raise ApiError(404, f"template '{template_id}' not found")
            case "POST", ["sandboxes", sid, "fork"]:
                body = await _json_body(receive)
                made = await reg.fork(sid, int(body.get("count") or 1), body.get("timeout"))
                return 201, [{"error": {"code": r.status, "message": r.message}} if isinstance(r, ApiError)
                             else {"sandbox": _create_response(reg, r)} for r in made], {}
            case "GET", ["templates", "aliases", alias]:
                if alias not in reg.templates:
                    raise ApiError(404, f"template alias '{alias}' not found")
                return 200, {"templateID": alias, "public": True}, {}
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
                             "requests": self.requests,
                             **(reg.isolation.status() if reg.isolation else {"isolation": "off (--no-isolation)"})}, {}
        if len(parts) >= 3 and parts[0] == "sandboxes" and parts[1] in reg.sandboxes:
            # Known to E2B, not to sandboxd: say so (a 404 reads as "sandbox not found" to the SDK).
            raise ApiError(501, f"sandboxd does not implement {method} /sandboxes/{{sandboxID}}/{'/'.join(parts[2:])}")
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
        metadata = file_metadata(headers)
        written = []
        for name, data in uploads:
            if rec.jail is not None:
                written.append(await write_file(rec, name, data, metadata))
                continue
            target = resolve_path(rec, name)
            if target.is_dir():
                raise ApiError(400, f"path {name!r} is a directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            # Temp file + rename: a command reading the file sees the old or the new content
            # (and the new file carries only the new metadata, as envd's write replaces it).
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.upload")
            tmp.write_bytes(data)
            set_metadata(tmp, metadata)
            os.replace(tmp, target)
            written.append(write_info(target, metadata))
        return 200, written, {}


def _create_response(reg: Registry, rec: SandboxRecord) -> dict:
    return {"templateID": rec.template, "alias": rec.template, "sandboxID": rec.id, "clientID": rec.client_id,
            "envdVersion": reg.info(rec)["envdVersion"], "envdAccessToken": rec.envd_token}


def _metrics_range(reg: Registry, rec: SandboxRecord, query: dict) -> list[dict]:
    """The samples taken so far with `start <= timestamp <= end` (unix seconds, inclusive).

    A sample is taken at each call (sandboxd has no collector): without a range the answer is
    that fresh sample; with one, every recorded sample in it, the fresh one included."""
    rec.samples.append(_metrics(reg, rec))
    del rec.samples[:-1000]
    try:
        start = int((query.get("start") or ["0"])[0])
        end = int((query.get("end") or [str(2 ** 62)])[0])
    except ValueError:
        raise ApiError(400, "start and end must be unix timestamps in seconds") from None
    if "start" not in query and "end" not in query:
        return rec.samples[-1:]
    return [m for m in rec.samples if start <= m["timestampUnix"] <= end]


def _metrics(reg: Registry, rec: SandboxRecord) -> dict:
    """Real CPU and memory of the sandbox's processes (its cgroup, else its process groups)."""
    cpu_s, mem = sandbox_usage(reg, rec)
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
