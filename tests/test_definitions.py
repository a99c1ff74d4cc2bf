"""Definitions load: every module imports, every deployment points at a flow, every command exists.

The cheap test that catches a broken import, a renamed flow or a command that fell off the CLI
before any slow test runs.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tradeswarm", "flows", "tasks", "validation", "reports")
# the commands README.md documents
COMMANDS = ("create", "list", "status", "destroy", "exec", "sandboxd", "deploy", "agents", "scale", "execute",
            "health", "monitor", "backtest", "stress", "certify", "report", "serve", "spec")


def _modules():
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        yield name
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{name}."):
            if not info.name.endswith("__main__"):
                yield info.name


@pytest.mark.parametrize("module", sorted(_modules()))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_every_deployment_entrypoint_is_a_flow():
    from prefect import Flow

    config = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    for dep in config["deployments"]:
        path, name = dep["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert isinstance(getattr(module, name), Flow), dep["entrypoint"]
        from validation import load_spec
        load_spec(dep["parameters"]["profile"])


def test_every_command_of_the_design_is_registered_and_documented():
    from tradeswarm.cli import cli

    for name in COMMANDS:
        assert name in cli.commands, name
        assert (cli.commands[name].help or "").strip(), f"{name} has no help text"
        assert any(p.name == "as_json" for p in cli.commands[name].params) or hasattr(cli.commands[name], "commands"), \
            f"{name} lacks --json"


def test_every_shipped_profile_loads():
    from validation import load_spec
    from validation.spec import profile_names

    assert {"smoke", "standard", "nightly"} <= set(profile_names())
    for name in profile_names():
        assert load_spec(name).name == name
