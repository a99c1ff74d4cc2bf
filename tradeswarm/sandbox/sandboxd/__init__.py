"""sandboxd: the local, E2B-compatible sandbox server (the embedded default provider).

It speaks the subset of E2B's control-plane REST API and of the in-sandbox daemon's
(envd's) protocol that the official `e2b` SDK uses, on one loopback port, so the unmodified
SDK creates, lists, inspects, times out and kills sandboxes, runs commands and moves files:

```python
from e2b import Sandbox
params = {"api_key": token, "api_url": url, "sandbox_url": url}   # from <state>/sandboxd/
sb = Sandbox.create("trading", **params)
print(sb.commands.run("python -c 'import pandas; print(pandas.__version__)'").stdout)
sb.kill()
```

A sandbox is a workspace directory copied from a template, where commands run as real
subprocesses with a scrubbed environment, rlimits, a pids cgroup, per-command deadlines and a
lifetime; the server reaps the orphans they leave. Modules: `registry` (sandboxes, limits,
faults), `process_service` (commands), `workspace` (paths and files), `app` (HTTP routing, auth,
metrics), `templates`, `daemon`, `_limits` (containment), `_orphans` (reaping).

Per-sandbox resources: E2B's create call has none (its templates fix them), so a client asks
sandboxd for them through a reserved metadata key, `tradeswarm_resources`, whose value is JSON
`{"vcpus": 2, "memory_mb": 1024}` (either field may be left out: the server's default). The
server pins the sandbox to that many cores and sets its address-space limit to that memory,
reports both in `get_info` (`cpuCount`, `memoryMB`) and strips the key from the metadata; a
request above its caps (the host's cores, `--max-memory-mb`) or malformed is refused with 400.

Not a security boundary against a hostile sandbox: commands run as the server's user on the
host's filesystem (no chroot, no network namespace); the workspace is their HOME and cwd.
"""

#: The reserved metadata key a create carries its resource request in (see above).
RESOURCES_KEY = "tradeswarm_resources"
