"""Faults injected on purpose during a stress run, and what each one cost.

Off by default. Each fault is written `kind=value[@at]` on the command line (or as
`{kind, params}` in the spec); `at` is the fraction of the tasks submitted before it fires:

| kind | value | effect |
|---|---|---|
| `kill-sandbox` | count | kill that many agent sandboxes (default at 0.3); the coordinator must re-dispatch and replace |
| `answer-fail` | fraction (or `N%`) | that share of agent answers fail (agent-side, from the start) |
| `latency` | `fraction:ms` | that share of all tasks is delayed: a signal task carries `delay_ms` (the agent sleeps before answering), a consensus round starts `ms` late (the coordinator's consensus call has no delay hook) |
| `create-fail` | count | sandboxd fails the next `count` creates |
| `rate-limit` | seconds | sandboxd answers 429 for that long |

The two sandbox-server faults (`SERVER_FAULTS`) fire mid-run by default (at 0.3), followed by
a scale-up by one agent, a create for them to hit; the fault is `recovered` when that agent
still came up. At `@0` ("the first n creations fail") they are armed before a stress swarm
deploys, so its initial provisioning must retry through them (`stress_swarm(faults=...)`);
on a swarm deployed without them they fire at the first task instead. Whether they bit is
read from sandboxd's `faults_injected` counter (its change goes into the fault's `detail`);
E2B's cloud has no such counter, and the detail says so. The real effects go through a
`FaultTarget` (the swarm adapter in `tradeswarm.stress.swarm`).

>>> parse_fault("kill-sandbox=2").params
{'count': 2, 'at': 0.3}
>>> parse_fault("latency=0.1:200").params
{'fraction': 0.1, 'ms': 200.0}
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Iterable, Protocol

from pydantic import BaseModel, ConfigDict

FAULT_KINDS = ("kill-sandbox", "answer-fail", "latency", "create-fail", "rate-limit")
_DEFAULT_AT = {"kill-sandbox": 0.3, "answer-fail": 0.0, "latency": 0.0, "create-fail": 0.3,
               "rate-limit": 0.3}
#: Faults that act on the sandbox server (one per run, shared by every shard's sub-swarm).
SERVER_FAULTS = ("create-fail", "rate-limit")
NOT_OBSERVABLE = "not observable: the provider has no fault counter (E2B's cloud has no admin endpoint)"


class FaultError(ValueError):
    """A fault that cannot be parsed or is unknown (the CLI exits 2 on it)."""


class Fault(BaseModel):
    """One fault: its kind and canonical parameters."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    params: dict[str, Any]


def _fraction(text: str, what: str) -> float:
    value = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    if not 0.0 <= value <= 1.0:
        raise FaultError(f"{what} must be a fraction in [0, 1] or a percentage, got {text!r}")
    return value


def _count(text: str, what: str) -> int:
    value = int(text)
    if value < 1:
        raise FaultError(f"{what} must be >= 1, got {text!r}")
    return value


def parse_fault(text: str) -> Fault:
    """Parse `kind=value[@at]`; raises `FaultError` naming the known kinds."""
    kind, sep, rest = text.strip().partition("=")
    if kind not in FAULT_KINDS:
        raise FaultError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
    if not sep or not rest:
        raise FaultError(f"fault {kind!r} needs a value, e.g. {kind}=1")
    value, _, at_text = rest.partition("@")
    try:
        at = _fraction(at_text, "@at") if at_text else _DEFAULT_AT[kind]
        if kind == "kill-sandbox":
            params = {"count": _count(value, "kill-sandbox count")}
        elif kind == "answer-fail":
            params = {"fraction": _fraction(value, "answer-fail")}
        elif kind == "latency":
            frac, _, ms = value.partition(":")
            params = {"fraction": _fraction(frac, "latency fraction"), "ms": float(ms or 100)}
            if params["ms"] <= 0:
                raise FaultError("latency ms must be > 0")
        elif kind == "create-fail":
            params = {"count": _count(value, "create-fail count")}
        else:
            params = {"seconds": float(value)}
            if params["seconds"] <= 0:
                raise FaultError("rate-limit seconds must be > 0")
    except ValueError as e:
        raise FaultError(f"bad fault {text!r}: {e}") from None
    if kind not in ("answer-fail", "latency"):
        params["at"] = at
    return Fault(kind=kind, params=params)


def as_faults(items: Iterable[Any] | None) -> list[Fault]:
    """Faults from CLI strings, `{kind, params}` dicts or `Fault`s, validated the same way."""
    out = []
    for item in items or ():
        if isinstance(item, Fault):
            out.append(item)
        elif isinstance(item, str):
            out.append(parse_fault(item))
        else:
            item = dict(item)
            params = dict(item.get("params") or {})
            kind = item.get("kind", "")
            value = {"kill-sandbox": "count", "answer-fail": "fraction", "create-fail": "count",
                     "rate-limit": "seconds"}.get(kind)
            if kind == "latency":
                text = f"latency={params.get('fraction', 0.1)}:{params.get('ms', 100)}"
            elif value is None:
                raise FaultError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
            else:
                text = f"{kind}={params.get(value, 1)}"
            if "at" in params:
                text += f"@{params['at']}"
            out.append(parse_fault(text))
    return out


def before_deploy(fault: Fault) -> bool:
    """True for a sandbox-server fault at `@0`: armed before the swarm's first creates."""
    return fault.kind in SERVER_FAULTS and fault.params["at"] == 0


def server_counter(before: int | None, after: int | None) -> dict:
    """The change of the sandbox server's `faults_injected` counter over a fault's window."""
    if before is None or after is None:
        return {"delta": None, "note": NOT_OBSERVABLE}
    return {"before": before, "after": after, "delta": after - before}


class FaultTarget(Protocol):
    """The real levers a fault pulls (implemented against the live swarm and sandboxd)."""

    async def kill_sandboxes(self, count: int) -> list[str]: ...
    async def set_answer_fail(self, fraction: float) -> None: ...
    async def fail_next_creates(self, count: int) -> None: ...
    async def rate_limit(self, seconds: float) -> None: ...
    async def add_agent(self) -> dict: ...
    async def wait_recovered(self, timeout_s: float) -> dict: ...
    async def server_faults_injected(self) -> int | None: ...


class FaultPlan:
    """Fires the configured faults at their point in the run and remembers when and what."""

    def __init__(self, faults: list[Fault], target: FaultTarget | None, n_tasks: int,
                 seed: int) -> None:
        if target is None and any(f.kind != "latency" for f in faults):
            raise FaultError("faults other than latency need a fault target (the live swarm)")
        self.faults = faults
        self.target = target
        self.n_tasks = n_tasks
        self.records: list[dict] = [{"kind": f.kind, "params": dict(f.params), "injected": False,
                                     "t_s": None, "detail": {}} for f in faults]
        self._pending = [i for i, f in enumerate(faults) if f.kind in
                         ("kill-sandbox", "create-fail", "rate-limit")]
        self._background: set[asyncio.Task] = set()
        latency = [f for f in faults if f.kind == "latency"]
        self._latency = latency[0].params if latency else None
        self._rng = random.Random(seed)
        self._t0 = time.monotonic()

    def delay_ms(self) -> float:
        """The injected delay for the next task, signal or consensus (0 for most), seeded."""
        if self._latency is None or self._rng.random() >= self._latency["fraction"]:
            return 0.0
        return self._latency["ms"]

    async def start(self) -> None:
        """Apply the faults that hold for the whole run (answer failures, latency) and take
        over the record of those the target armed before its swarm deployed."""
        self._t0 = time.monotonic()
        armed = list(getattr(self.target, "provisioned", None) or [])
        for i, (rec, f) in enumerate(zip(self.records, self.faults)):
            if f.kind == "answer-fail":
                await self.target.set_answer_fail(f.params["fraction"])
                self._mark(rec)
            elif f.kind == "latency":
                self._mark(rec)
            elif before_deploy(f):
                done = next((a for a in armed if (a["kind"], a["params"]) == (f.kind, f.params)), None)
                if done is not None:  # else: fires at the first task, like any mid-run fault
                    armed.remove(done)
                    self._pending.remove(i)
                    rec.update(injected=done["injected"], t_s=0.0, detail=dict(done["detail"]))

    def on_submitted(self, submitted: int) -> None:
        """Fire each mid-run fault once `at` of the tasks are submitted (in the background)."""
        for i in list(self._pending):
            if submitted >= self.faults[i].params["at"] * self.n_tasks:
                self._pending.remove(i)
                task = asyncio.create_task(self._fire(i))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _fire(self, i: int) -> None:
        f, rec = self.faults[i], self.records[i]
        rec["t_s"] = round(time.monotonic() - self._t0, 3)
        t = time.monotonic()
        try:
            if f.kind == "kill-sandbox":
                rec["detail"]["killed"] = await self.target.kill_sandboxes(f.params["count"])
                self._mark(rec)
                return
            before = await self._server_count()
            # stays "not observable" where the lever fails (E2B has neither lever nor counter)
            rec["detail"]["server_faults_injected"] = server_counter(before, None)
            if f.kind == "create-fail":
                await self.target.fail_next_creates(f.params["count"])
            else:
                await self.target.rate_limit(f.params["seconds"])
            # a create to hit mid-run: the fault is recovered when this agent comes up
            rec["detail"]["scale_up"] = await self.target.add_agent()
            rec["detail"]["scale_up_s"] = round(time.monotonic() - t, 3)
            counter = server_counter(before, await self._server_count())
            rec["detail"]["server_faults_injected"] = counter
            # armed is not injected: it counts once the server reports the fault biting
            # (where the server cannot tell, being applied is all there is to report)
            if counter["delta"] is None or counter["delta"] > 0:
                self._mark(rec)
        except Exception as e:  # the fault's own failure is evidence too
            rec["detail"]["error"] = f"{type(e).__name__}: {e}"

    async def _server_count(self) -> int | None:
        try:
            return await self.target.server_faults_injected()
        except Exception:  # an unreadable counter is "not observable", not a failed fault
            return None

    def _mark(self, rec: dict) -> None:
        rec["injected"] = True
        if rec["t_s"] is None:
            rec["t_s"] = round(time.monotonic() - self._t0, 3)

    def cancel(self) -> None:
        """Stop faults still firing (the run is being interrupted)."""
        for task in self._background:
            task.cancel()

    async def finish(self, recovery_timeout_s: float = 15.0) -> None:
        """Wait for faults still firing, lift the run-long ones, and (after kills) wait for
        the swarm to be back at strength: that is what `recovered` means for a kill."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        kills = [r for r in self.records if r["kind"] == "kill-sandbox" and r["injected"]]
        if kills:
            recovery = await self.target.wait_recovered(recovery_timeout_s)
            for rec in kills:
                rec["detail"]["recovery"] = recovery
        if any(f.kind == "answer-fail" for f in self.faults):
            await self.target.set_answer_fail(0.0)
