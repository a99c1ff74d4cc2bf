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

A sandbox is a copy of a template at `/home/user`, where commands run as real subprocesses
with a scrubbed environment, cgroup limits, per-command deadlines and a lifetime. Modules: `registry` (sandboxes, limits,
faults), `process_service` (commands), `workspace` (paths and files), `app` (HTTP routing, auth,
metrics), `templates`, `daemon`, `_limits` (containment), `_orphans` (reaping).

Per-sandbox resources: E2B's create call has none (its templates fix them), so a client asks
sandboxd for them through a reserved metadata key, `tradeswarm_resources`, whose value is JSON
`{"vcpus": 2, "memory_mb": 1024}` (either field may be left out: the server's default). The
server gives the sandbox that many cores (cpuset and CPU quota) and that much memory in total,
reports both in `get_info` (`cpuCount`, `memoryMB`) and strips the key from the metadata; a
request above its caps (the host's cores, `--max-memory-mb`) or malformed is refused with 400.

Isolation (`_namespace`, `_nsinit`, `_jailpool`, `_cgroups`, `_network`): each sandbox has its
own user, mount, pid, ipc, uts and network namespaces (the network one owned by the host's
root, with a slirp4netns way out that never leads to the host's loopback, and E2B's
allowOut/denyOut as routing rules in it), a read-only root with `/home/user` and `/tmp` on a size-limited tmpfs, and cgroup
limits; commands are forked by the sandbox's init. Where that is unavailable (not root),
sandboxd says so at start and in `status`, and runs commands as host processes in a workspace
directory (docs/known-issues.md).
"""

#: The reserved metadata key a create carries its resource request in (see above).
RESOURCES_KEY = "tradeswarm_resources"

__all__ = ["RESOURCES_KEY"]
