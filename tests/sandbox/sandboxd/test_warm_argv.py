"""Which commands sandboxd may start warm (sandboxd/_warm.py): only the agent entry point with
plain arguments -- a shell that would expand, redirect or chain anything starts cold."""

import pytest

from tradeswarm.sandbox.sandboxd._warm import warm_argv


@pytest.mark.parametrize("script, argv", [
    ("bin/agent --config agents/a1.json", ["bin/agent", "--config", "agents/a1.json"]),
    ("/home/user/bin/agent --config=agents/x.json", ["/home/user/bin/agent", "--config=agents/x.json"]),
    ("bin/agent --config agents/a1.json; rm -rf ~", None),
    ("bin/agent --config $HOME/a.json", None),
    ("bin/agent --config agents/*.json", None),
    ("bin/agent > out.txt", None),
    ("bin/agent --config 'a b.json'", None),
    ("bin/python agents/runner.py --config agents/a1.json", None),
    ("./bin/agent --config agents/a1.json", None),
    ("bin/agent 'unterminated", None),
])
def test_only_the_plain_entry_point_starts_warm(script, argv):
    assert warm_argv("/bin/bash", ["-l", "-c", script], shell=True) == argv


def test_a_direct_command_is_its_argv():
    assert warm_argv("bin/agent", ["--config", "agents/a1.json"], shell=False) == ["bin/agent", "--config",
                                                                                   "agents/a1.json"]
    assert warm_argv("/bin/sh", ["bin/agent"], shell=False) is None
