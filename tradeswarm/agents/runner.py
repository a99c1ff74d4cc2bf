"""The agent runner: one trading agent as a long-running process that serves tasks over JSON lines.

It is uploaded into a sandbox with its config and started as a background command
(`bin/python runner.py --config cfg.json`, with the `trading` template's `lib/` on PYTHONPATH).
It needs only the standard library plus `tradeswarm.agents.strategies` and
`tradeswarm.marketdata`, which the template ships (sandboxd's, and on E2B the one built from
`deployments/e2b/e2b.Dockerfile`).

Protocol (one JSON object per line; stdout carries only protocol lines):

- out `{"kind": "ready", "agent": id, "pid": n, "type": t, "symbols": [...], "bars": {sym: n},
  "load_ms": ms, "start": "cold"|"warm"}` once, after importing and loading the data: the health handshake.
  A startup failure prints `{"kind": "fatal", "error": {...}}` and exits 1 instead.
- in  `{"id": "t1", "symbol": "SPX", "end": "2018-06-01", "window": 250, "delay_ms": 0,
  "fail": false}` (`end` null = the latest bar; `delay_ms` holds the answer back; `fail` forces
  an injected error answer).
- out `{"kind": "result", "id": "t1", "agent": id, "signal": {"action", "confidence", "bar",
  "veto"}, "compute_ms": ms}` or `{"kind": "result", "id": "t1", "agent": id, "error":
  {"class": name, "message": text}}`.
- out `{"kind": "hb", "agent": id, "seq": n, "served": n, "errors": n, "pending": n, "t": unix}`
  every `heartbeat_s`.
- in  `{"op": "set", "fail_rate": p}`: change the injected failure rate of a running agent.
- in  `{"op": "stop"}` (or end of stdin): answer what is pending, then exit 0.

Config: `agent_id`, `type`, `params`, `symbols`, `heartbeat_s` (1.0), `fail_rate` (0: the
fraction of answers that are injected errors; whether a task's answer fails is `chosen(fail_seed,
task id, "answer-fail", fail_rate)`, the same on every agent and in every run), `fail_seed` (0), `synthetic`
(`{"bars": 2000, "seed": 7}`: how `SYN*` symbols are generated).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import os
import sys
import threading
import time
from typing import Any, Callable

SYNTHETIC_DEFAULT = {"bars": 2000, "seed": 7}
#: How this agent's interpreter started, reported in its handshake: "cold" (a fresh one) or
#: "warm" (forked by sandboxd's zygote, `tradeswarm/sandbox/sandboxd/_zygote.py`).
START = "cold"


def warm_up() -> None:
    """Import what an agent needs and load the shipped data (the zygote does this once for
    every agent it forks; an agent still finds a frame in the cache only if its own copy of the
    file has the same path, size, mtime and manifest checksum: `marketdata.shipped.load_symbol`)."""
    import tradeswarm.agents.strategies  # noqa: F401 - numpy, pandas, pydantic and the strategies
    import tradeswarm.marketdata.synthetic  # noqa: F401
    from tradeswarm.marketdata import shipped

    for symbol in shipped.shipped_symbols():  # also the parquet reader's imports on first use
        shipped.load_symbol(symbol)


class InjectedFault(RuntimeError):
    """An error answer injected on purpose by the fault settings."""


def chosen(seed: int, key: str, kind: str, fraction: float) -> bool:
    """Whether fault `kind` hits the task `key` at rate `fraction`: a pure function of its
    arguments (a hash, not dice whose state depends on which agent saw which task first).

    >>> chosen(42, "000007", "latency", 1.0), chosen(42, "000007", "latency", 0.0)
    (True, False)
    >>> chosen(42, "000007", "latency", 0.5) == chosen(42, "000007", "latency", 0.5)
    True
    """
    digest = hashlib.sha256(f"{int(seed)}:{kind}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < fraction


def load_frame(symbol: str, synthetic: dict | None = None):
    """The full history of `symbol`: a shipped series, or a seeded synthetic one for `SYN*`."""
    if symbol.upper().startswith("SYN"):
        from tradeswarm.marketdata.synthetic import synthetic_frame

        syn = {**SYNTHETIC_DEFAULT, **(synthetic or {})}
        return synthetic_frame(symbol, bars=int(syn["bars"]), seed=int(syn["seed"]))
    from tradeswarm.marketdata.shipped import load_symbol

    return load_symbol(symbol)


def window_of(frame, end: str | None, window: int, stops: dict | None = None):
    """The last `window` bars at or before `end` (the whole history's tail when `end` is None)."""
    if end is None:
        stop = len(frame)
    elif stops is not None and end in stops:
        stop = stops[end]
    else:
        stop = len(frame.loc[:end])
        if stops is not None:
            stops[end] = stop
    if stop == 0:
        raise ValueError(f"no bar at or before {end}")
    return frame.iloc[max(0, stop - window):stop]


class _Out:
    """Thread-safe line writer: the task loop, the heartbeat and the delay timer all write."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, obj: dict) -> None:
        line = json.dumps(obj, separators=(",", ":")) + "\n"
        with self._lock:
            self._stream.write(line)
            self._stream.flush()


class _Delayed:
    """One thread that sends held-back answers when due (injected latency without a thread each)."""

    def __init__(self, send: Callable[[dict], None]) -> None:
        self._send = send
        self._heap: list[tuple[float, int, dict]] = []
        self._cv = threading.Condition()
        self._seq = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="delayed", daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        with self._cv:
            return len(self._heap)

    def put(self, due: float, obj: dict) -> None:
        with self._cv:
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, obj))
            self._cv.notify()

    def close(self) -> None:
        """Send everything still held (when due), then stop."""
        with self._cv:
            self._closing = True
            self._cv.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cv:
                while True:
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        obj = heapq.heappop(self._heap)[2]
                        break
                    if not self._heap and self._closing:
                        return
                    self._cv.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
            self._send(obj)


class Agent:
    """The state of one running agent: its config, data cache, counters and fault dice."""

    def __init__(self, cfg: dict, send: Callable[[dict], None]) -> None:
        from tradeswarm.agents.strategies import get_strategy

        self.id = str(cfg["agent_id"])
        self.type = str(cfg["type"])
        self.strategy = get_strategy(self.type)
        self.params = self.strategy.params(cfg.get("params") or {})
        self.symbols = [str(s) for s in cfg.get("symbols") or []]
        self.heartbeat_s = float(cfg.get("heartbeat_s", 1.0))
        self.fail_rate = float(cfg.get("fail_rate", 0.0))
        self.synthetic = cfg.get("synthetic") or {}
        self.fail_seed = int(cfg.get("fail_seed", 0))
        self._send = send
        self._frames: dict[str, Any] = {}
        self._stops: dict[str, dict] = {}
        self.served = 0
        self.errors = 0
        self._delayed = _Delayed(send)

    def frame(self, symbol: str):
        """The cached history of `symbol`, loaded on first use."""
        frame = self._frames.get(symbol)
        if frame is None:
            frame = self._frames[symbol] = load_frame(symbol, self.synthetic)
            self._stops[symbol] = {}
        return frame

    def ready(self, load_ms: float) -> dict:
        """The handshake line."""
        return {"kind": "ready", "agent": self.id, "pid": os.getpid(), "type": self.type,
                "symbols": self.symbols, "bars": {s: len(f) for s, f in self._frames.items()},
                "load_ms": round(load_ms, 3), "start": START}

    def answer(self, task: dict) -> dict:
        """Compute the answer line for one task (a signal, or an error: never raises)."""
        from tradeswarm.agents.strategies import latest_signal

        t0 = time.perf_counter()
        out: dict[str, Any] = {"kind": "result", "id": task.get("id"), "agent": self.id}
        try:
            rate = float(task.get("fail_rate", self.fail_rate))
            if task.get("fail") or chosen(self.fail_seed, str(task.get("id")), "answer-fail", rate):
                raise InjectedFault(f"injected failure (rate {rate})")
            symbol = str(task["symbol"])
            if self.symbols and symbol not in self.symbols:
                raise ValueError(f"agent {self.id} does not serve {symbol}")
            window = int(task.get("window") or 250)
            if window < 1:
                raise ValueError(f"window must be >= 1, got {window}")
            frame = window_of(self.frame(symbol), task.get("end"), window, self._stops[symbol])
            out["signal"] = latest_signal(self.type, frame, self.params)
            self.served += 1
        except Exception as e:  # an error answer is part of the protocol
            self.errors += 1
            out["error"] = {"class": type(e).__name__, "message": str(e)[:500]}
        out["compute_ms"] = round((time.perf_counter() - t0) * 1000.0, 3)
        return out

    def handle(self, task: dict) -> None:
        """Answer one task now, or when its `delay_ms` has passed."""
        out = self.answer(task)
        delay_ms = float(task.get("delay_ms") or 0)
        if delay_ms > 0:
            self._delayed.put(time.monotonic() + delay_ms / 1000.0, out)
        else:
            self._send(out)

    def heartbeat(self, seq: int) -> dict:
        """One heartbeat line with the counters."""
        return {"kind": "hb", "agent": self.id, "seq": seq, "served": self.served,
                "errors": self.errors, "pending": len(self._delayed), "t": time.time()}

    def close(self) -> None:
        self._delayed.close()


def _heartbeats(agent: Agent, send: Callable[[dict], None], stop: threading.Event) -> None:
    seq = 0
    while not stop.wait(agent.heartbeat_s):
        seq += 1
        send(agent.heartbeat(seq))


def serve(cfg: dict, stdin, stdout) -> int:
    """Run one agent on the given streams until `stop` or end of input; returns the exit code."""
    send = _Out(stdout)
    t0 = time.perf_counter()
    try:
        agent = Agent(cfg, send)
        for symbol in agent.symbols:
            agent.frame(symbol)
    except Exception as e:
        send({"kind": "fatal", "agent": cfg.get("agent_id"),
              "error": {"class": type(e).__name__, "message": str(e)[:500]}})
        return 1
    send(agent.ready((time.perf_counter() - t0) * 1000.0))
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeats, args=(agent, send, stop), name="heartbeat", daemon=True)
    beat.start()
    try:
        for raw in stdin:
            raw = raw.strip()
            if not raw:
                continue
            try:
                msg = json.loads(raw)
            except ValueError as e:
                agent.errors += 1
                send({"kind": "result", "id": None, "agent": agent.id,
                      "error": {"class": "BadRequest", "message": f"not JSON: {e}"}})
                continue
            op = msg.get("op")
            if op == "stop":
                break
            if op == "set":
                agent.fail_rate = float(msg.get("fail_rate", agent.fail_rate))
                continue
            agent.handle(msg)
    finally:
        agent.close()
        stop.set()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python runner.py --config cfg.json`."""
    parser = argparse.ArgumentParser(description="tradeswarm agent runner (JSON lines on stdin/stdout)")
    parser.add_argument("--config", required=True, help="path of the agent's JSON config")
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as fh:
        cfg = json.load(fh)
    return serve(cfg, sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
