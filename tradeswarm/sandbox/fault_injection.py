"""Fault injection into a local sandboxd (for the stress test): failed creates and 429s.

```python
from tradeswarm.sandbox.fault_injection import inject_faults
inject_faults(settings, fail_next=3)        # the next 3 creates answer 500 "failed to place sandbox"
inject_faults(settings, throttle_s=2.0)     # every control-plane call answers 429 for 2 seconds
inject_faults(settings)                     # clears every fault
```

Each call changes only the faults it names: a throttle injected after failed creates leaves
the pending failures in place.
"""

from __future__ import annotations

import httpx

from tradeswarm.settings import Settings


def _endpoint(settings: Settings | None):
    from tradeswarm.sandbox.sandboxd.daemon import read_endpoint

    settings = settings or Settings()
    if settings.provider != "local":
        raise RuntimeError("fault injection needs the local sandboxd (E2B_API_KEY is set)")
    ep = read_endpoint(settings.state_dir)
    if ep is None:
        raise RuntimeError(f"no sandboxd is running for state dir {settings.state_dir}")
    return ep


def inject_faults(settings: Settings | None = None, fail_next: int | None = None, throttle_s: float | None = None,
                  message: str | None = None) -> dict:
    """Make the next `fail_next` creates fail with 500 and/or answer 429 for `throttle_s`.

    Returns the server's fault state; `inject_faults(settings)` clears every fault.
    """
    ep = _endpoint(settings)
    headers = {"X-API-KEY": ep.token}
    body = {k: v for k, v in (("fail_next", fail_next), ("throttle_s", throttle_s), ("message", message))
            if v is not None}
    if body:
        r = httpx.post(f"{ep.url}/admin/faults", json=body, headers=headers, timeout=5)
    else:
        r = httpx.delete(f"{ep.url}/admin/faults", headers=headers, timeout=5)
    r.raise_for_status()
    return r.json()


def fault_state(settings: Settings | None = None) -> dict:
    """`{fail_next, throttle_remaining_s, faults_injected}` as the server sees it."""
    ep = _endpoint(settings)
    r = httpx.get(f"{ep.url}/admin/faults", headers={"X-API-KEY": ep.token}, timeout=5)
    r.raise_for_status()
    return r.json()
