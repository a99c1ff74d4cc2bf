"""Faults injected on purpose during a stress run, and what each one cost.

Off by default. Each fault is written `kind=value[@at]` on the command line (or as
`{kind, params}` in the spec). Faults act only in the run's *chaos* phase (see
`tradeswarm.stress.engine`: steady state, then chaos, then recovery); `at` is the fraction of
the chaos phase's tasks submitted before an event fault fires:

| kind | value | effect |
|---|---|---|
| `kill-sandbox` | count | kill that many agent sandboxes, the busiest first (default at 0.3); the coordinator must re-dispatch their tasks and replace the agents |
| `answer-fail` | fraction (or `N%`) | that share of the chaos phase's signal tasks is answered with an injected error (the task carries `fail`; the consensus call has no fail hook) |
| `latency` | `fraction:ms` | that share of the chaos phase's tasks is delayed: a signal task carries `delay_ms` (the agent sleeps before answering), a consensus round starts `ms` late (the coordinator's consensus call has no delay hook) |
| `create-fail` | count | sandboxd fails the next `count` creates |
| `rate-limit` | seconds | sandboxd answers 429 for that long |

**Reproducible.** Whether a task gets a per-task fault (`answer-fail`, `latency`) is
`chosen(seed, task key, kind, fraction)`, a hash of the run's seed, the task's key (its number
in the run, `000042`, shard-prefixed in a sharded run; not the per-run id nonce) and the fault:
the same seed gives the same set of faulted tasks in every run, whatever order the tasks finish
in and whichever agent serves them. An event fault fires at a fixed task number (`at_task`).

The two sandbox-server faults (`SERVER_FAULTS`) fire mid-run by default (at 0.3), followed by
a scale-up by one agent, a create for them to hit; `detail.scale_up.ok` says whether that agent
still came up. At `@0` ("the first n creations fail") they are armed before a stress swarm
deploys, so its initial provisioning must retry through them (`stress_swarm(faults=...)`);
on a swarm deployed without them they fire at the first chaos task instead. Whether they bit
is read from sandboxd's `faults_injected` counter (its change goes into the fault's `detail`);
E2B's cloud has no such counter, and the detail says so. The real effects go through a
`FaultTarget` (the swarm adapter in `tradeswarm.stress.swarm`).

>>> parse_fault("kill-sandbox=2").params
{'count': 2, 'at': 0.3}
>>> parse_fault("latency=0.1:200").params
{'fraction': 0.1, 'ms': 200.0}
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Iterable, Protocol

from pydantic import BaseModel, ConfigDict

from tradeswarm.agents.runner import chosen
from tradeswarm.errors import describe

#: Faults that pick their tasks one by one (`chosen`); the others are events at a task number.
PER_TASK = ("answer-fail", "latency")
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

    async def kill_sandboxes(self, count: int) -> dict: ...
    async def fail_next_creates(self, count: int) -> None: ...
    async def rate_limit(self, seconds: float) -> None: ...
    async def add_agent(self) -> dict: ...
    async def wait_recovered(self, timeout_s: float) -> dict: ...
    async def server_faults_injected(self) -> int | None: ...


class FaultPlan:
    """Picks the faulted tasks of the chaos phase, fires its event faults at their task number
    and remembers when, what and on which tasks."""

    def __init__(self, faults: list[Fault], target: FaultTarget | None, n_tasks: int,
                 seed: int) -> None:
        if target is None and any(f.kind not in PER_TASK for f in faults):
            raise FaultError("faults other than latency and answer-fail need a fault target (the live swarm)")
        self.faults = faults
        self.target = target
        self.n_tasks = n_tasks
        self.seed = seed
        self.records: list[dict] = [{"kind": f.kind, "params": dict(f.params), "injected": False,
                                     "t_s": None, "detail": {},
                                     **({"tasks": []} if f.kind in PER_TASK else {"at_task": None})}
                                    for f in faults]
        self._pending = [i for i, f in enumerate(faults) if f.kind not in PER_TASK]
        self._background: set[asyncio.Task] = set()
        self._t0 = time.monotonic()

    def _hit(self, kind: str, key: str) -> dict | None:
        """The record of per-task fault `kind` if it picks task `key`, else None."""
        for rec, f in zip(self.records, self.faults):
            if f.kind == kind and chosen(self.seed, key, kind, f.params["fraction"]):
                return rec
        return None

    def delay_ms(self, key: str) -> float:
        """The injected delay of chaos task `key`, signal or consensus (0 for most)."""
        rec = self._hit("latency", key)
        if rec is None:
            return 0.0
        self._mark(rec)
        rec["tasks"].append(key)
        return rec["params"]["ms"]

    def fails(self, key: str) -> bool:
        """Whether chaos signal task `key` is answered with an injected error."""
        rec = self._hit("answer-fail", key)
        if rec is None:
            return False
        self._mark(rec)
        rec["tasks"].append(key)
        return True

    async def start(self) -> None:
        """Take over the record of the faults the target armed before its swarm deployed."""
        self._t0 = time.monotonic()
        armed = list(getattr(self.target, "provisioned", None) or [])
        for i, (rec, f) in enumerate(zip(self.records, self.faults)):
            if before_deploy(f):
                done = next((a for a in armed if (a["kind"], a["params"]) == (f.kind, f.params)), None)
                if done is not None:  # else: fires at the first task, like any mid-run fault
                    armed.remove(done)
                    self._pending.remove(i)
                    rec.update(injected=done["injected"], t_s=0.0, detail=dict(done["detail"]))

    def on_submitted(self, submitted: int, key: str) -> None:
        """Fire each event fault once `at` of the chaos tasks are submitted (in the background);
        `key` is the task that was just submitted."""
        for i in list(self._pending):
            if submitted >= self.faults[i].params["at"] * self.n_tasks:
                self._pending.remove(i)
                self.records[i]["at_task"] = key
                task = asyncio.create_task(self._fire(i))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _fire(self, i: int) -> None:
        f, rec = self.faults[i], self.records[i]
        rec["t_s"] = round(time.monotonic() - self._t0, 3)
        t = time.monotonic()
        try:
            if f.kind == "kill-sandbox":
                rec["detail"].update(await self.target.kill_sandboxes(f.params["count"]))
                if rec["detail"]["killed"]:
                    self._mark(rec)
                return
            before = await self._server_count()
            # stays "not observable" where the lever fails (E2B has neither lever nor counter)
            rec["detail"]["server_faults_injected"] = server_counter(before, None)
            if f.kind == "create-fail":
                await self.target.fail_next_creates(f.params["count"])
            else:
                await self.target.rate_limit(f.params["seconds"])
            # a create to hit mid-run: does an agent still come up through the fault?
            rec["detail"]["scale_up"] = await self.target.add_agent()
            rec["detail"]["scale_up_s"] = round(time.monotonic() - t, 3)
            counter = server_counter(before, await self._server_count())
            rec["detail"]["server_faults_injected"] = counter
            # armed is not injected: it counts once the server reports the fault biting
            # (where the server cannot tell, being applied is all there is to report)
            if counter["delta"] is None or counter["delta"] > 0:
                self._mark(rec)
        except Exception as e:  # the fault's own failure is evidence too
            rec["detail"]["error"] = describe(e)

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
        """Wait for faults still firing and (after kills) for the swarm to be back at strength:
        the fault has ended when this returns, and the recovery phase may start."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        kills = [r for r in self.records if r["kind"] == "kill-sandbox" and r["injected"]]
        if kills:
            try:
                recovery = await self.target.wait_recovered(recovery_timeout_s)
            except Exception as e:  # the provider itself is gone: not recovered, and why
                recovery = {"ok": False, "error": describe(e)}
            for rec in kills:
                rec["detail"]["recovery"] = recovery
